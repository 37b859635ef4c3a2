"""Fast morphology on boolean masks with rectangular structuring elements (separable filters)."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["open_rect", "close_rect", "box_pixels"]


def box_pixels(size_mm: float, pitch_mm: float) -> int:
    """Number of pixels (at least 1) spanning ``size_mm`` at a pixel pitch of ``pitch_mm`` (mm)."""
    if not (pitch_mm > 0 and math.isfinite(size_mm)):
        return 1
    return max(1, int(round(size_mm / pitch_mm)))


def open_rect(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Binary opening of ``mask`` by a ``rows × cols`` rectangle.

    Removes every structure thinner than the rectangle in either direction (thin
    residue: straps, bars, boards edge-on, isolated noisy pixels) and keeps the rest
    with its shape.
    """
    if rows <= 1 and cols <= 1:
        return mask.astype(bool, copy=True)
    mask = np.asarray(mask, bool)
    hit_rows = np.flatnonzero(mask.any(axis=1))
    if hit_rows.size == 0:
        return np.zeros_like(mask)
    hit_cols = np.flatnonzero(mask.any(axis=0))
    # The opening lies inside the mask: filter its bounding box only.
    r0, r1, c0, c1 = hit_rows[0], hit_rows[-1] + 1, hit_cols[0], hit_cols[-1] + 1
    if (r1 - r0) * (c1 - c0) < mask.size:
        opened = np.zeros_like(mask)
        opened[r0:r1, c0:c1] = open_rect(mask[r0:r1, c0:c1], rows, cols) if (r1 - r0, c1 - c0) != mask.shape else False
        return opened
    values = mask.astype(np.uint8)
    eroded = ndimage.minimum_filter(values, size=(rows, cols), mode="constant", cval=0)
    # The dilation uses the reflected rectangle: for even sizes its origin moves by one.
    origin = (-1 if rows % 2 == 0 else 0, -1 if cols % 2 == 0 else 0)
    opened = ndimage.maximum_filter(eroded, size=(rows, cols), mode="constant", cval=0, origin=origin)
    return opened.astype(bool) & mask


def close_rect(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Binary closing of ``mask`` by a ``rows × cols`` rectangle.

    Fills gaps narrower than the rectangle (a speckled region where noise leaves some
    pixels just above a threshold) without growing the region's outer boundary.
    """
    if rows <= 1 and cols <= 1:
        return mask.astype(bool, copy=True)
    values = mask.astype(np.uint8)
    dilated = ndimage.maximum_filter(values, size=(rows, cols), mode="constant", cval=0)
    origin = (-1 if rows % 2 == 0 else 0, -1 if cols % 2 == 0 else 0)
    closed = ndimage.minimum_filter(dilated, size=(rows, cols), mode="constant", cval=1, origin=origin)
    return closed.astype(bool) | mask
