"""The analysed image grid, shared by the correction chain and the simulator's ground truth.

The analysed image has one row per detector channel (top-down) and one column per
high-energy object pulse, resampled onto a uniform grid of conveyance positions.
Verdict boxes (``regions[].bbox``), ``MAP.npz`` and rendering index this grid, so it is
defined once, here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["analysis_grid", "row_height_mm"]


def analysis_grid(position_mm_high: np.ndarray) -> np.ndarray:
    """Return the uniform conveyance positions of the analysed image's columns.

    Parameters
    ----------
    position_mm_high : numpy.ndarray
        Conveyance position (mm) of every high-energy object pulse, in acquisition order.
        Non-finite entries are ignored.

    Returns
    -------
    numpy.ndarray of float64
        ``n`` equally spaced positions (mm) from the smallest to the largest finite
        input position, ``n`` being the number of high-energy object pulses.

    Examples
    --------
    >>> analysis_grid(np.array([0.0, 1.1, 1.9, 3.0]))
    array([0., 1., 2., 3.])
    """
    positions = np.asarray(position_mm_high, dtype=np.float64)
    finite = positions[np.isfinite(positions)]
    count = positions.size
    if count == 0 or finite.size == 0:
        return np.empty(0, dtype=np.float64)
    if count == 1:
        return finite[:1].copy()
    return np.linspace(finite.min(), finite.max(), count)


def row_height_mm(pitch_mm: float, source_to_object_mm: float, source_to_detector_mm: float) -> float:
    """Return the height (mm) of one image row at the scan plane.

    The detector pitch is demagnified by the fan-beam geometry:
    ``pitch × SOD / SDD`` (contract: ``bbox_mm`` z coordinates use the same factor).

    Examples
    --------
    >>> row_height_mm(5.0, 7500.0, 10000.0)
    3.75
    """
    if not (pitch_mm > 0 and source_to_object_mm > 0 and source_to_detector_mm > 0):
        raise ValueError("pitch and distances must be positive")
    return pitch_mm * source_to_object_mm / source_to_detector_mm
