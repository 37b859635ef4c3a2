"""Material classes of the inspection contract: codes, names, effective-Z bands.

The bands are those of ``spec/inspection-contract.md`` and are the same everywhere
(maps, reports, rendering, ground truth).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "NONE",
    "ORGANIC",
    "INORGANIC",
    "METAL",
    "HIGH_Z",
    "IMPENETRABLE",
    "CLASS_NAMES",
    "CLASS_CODES",
    "ZEFF_BANDS",
    "class_of_zeff",
]

NONE = 0
ORGANIC = 1
INORGANIC = 2
METAL = 3
HIGH_Z = 4
IMPENETRABLE = 5

CLASS_NAMES: dict[int, str] = {
    NONE: "none",
    ORGANIC: "organic",
    INORGANIC: "inorganic",
    METAL: "metal",
    HIGH_Z: "high_z",
    IMPENETRABLE: "impenetrable",
}
CLASS_CODES: dict[str, int] = {name: code for code, name in CLASS_NAMES.items()}

#: Lower effective-Z edge of each band that is defined by Z (organic starts at 0).
ZEFF_BANDS: dict[int, tuple[float, float]] = {
    ORGANIC: (0.0, 10.0),
    INORGANIC: (10.0, 19.0),
    METAL: (19.0, 57.0),
    HIGH_Z: (57.0, float("inf")),
}


def class_of_zeff(zeff):
    """Return the class code (1–4) of effective atomic number(s).

    Parameters
    ----------
    zeff : float or array_like
        Effective atomic number(s). NaN maps to ``NONE`` (0).

    Returns
    -------
    int or numpy.ndarray of uint8
        ``ORGANIC`` below 10, ``INORGANIC`` in [10, 19), ``METAL`` in [19, 57),
        ``HIGH_Z`` from 57 up.

    Examples
    --------
    >>> int(class_of_zeff(26.0))
    3
    """
    z = np.asarray(zeff, dtype=np.float64)
    codes = np.digitize(z, [10.0, 19.0, 57.0]).astype(np.uint8) + ORGANIC
    codes = np.where(np.isnan(z), NONE, codes).astype(np.uint8)
    return codes if codes.ndim else int(codes)
