"""Cargo seen through the structure: which pixels hold cargo and its material classes.

The cargo's mass is :mod:`._mass_estimate`'s.
"""

from __future__ import annotations

import numpy as np

from nii.classes import CLASS_NAMES, IMPENETRABLE, NONE
from nii.inspection.checks._context import CheckInput

__all__ = ["cargo_mask", "material_fractions"]


def cargo_mask(inp: CheckInput, min_residual_g_cm2: float, min_sigma: float) -> np.ndarray:
    """Pixels of the cargo space whose areal density exceeds the structure's significantly.

    Parameters
    ----------
    inp : CheckInput
    min_residual_g_cm2 : float
        Smallest excess over the structure profile counted as cargo (g/cm²).
    min_sigma : float
        And at least this many noise standard deviations.

    Returns
    -------
    numpy.ndarray of bool
        Rows × columns; False outside the container's interior (goods stand on the floor
        boards: the floor and roof bands hold structure only).
    """
    mask = np.zeros(inp.areal_g_cm2.shape, bool)
    if not inp.structure.found:
        return mask
    rows, cols = inp.structure.interior()
    residual = inp.structure.residual_g_cm2[rows, cols]
    mask[rows, cols] = residual > np.maximum(min_residual_g_cm2, min_sigma * inp.sigma_g_cm2[rows, cols])
    return mask


def material_fractions(inp: CheckInput, mask: np.ndarray) -> dict[str, float]:
    """Share of the cargo mass by material class over ``mask``, weighted by the excess areal density.

    Returns
    -------
    dict of str to float
        Class name → share (0..1), classes with no share left out; ``none`` pixels are
        not counted (too little material to tell).
    """
    if not mask.any():
        return {}
    weights = np.clip(inp.structure.residual_g_cm2[mask], 0.0, None).astype(np.float64)
    classes = inp.classes[mask]
    totals = np.bincount(classes, weights=weights, minlength=IMPENETRABLE + 1)
    totals[NONE] = 0.0
    total = float(totals.sum())
    if total <= 0:
        return {}
    return {CLASS_NAMES[code]: float(totals[code] / total) for code in range(1, IMPENETRABLE + 1) if totals[code] > 0}
