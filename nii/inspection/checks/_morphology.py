"""Fast morphology on boolean masks with rectangular structuring elements (separable filters).

Masks in the checks are sparse: a few objects in a large image. Both operations are
exact on any mask and skip the empty space: an opening keeps only pixels of rectangles
lying wholly inside the mask, so bands of rows (or columns) separated by an empty row
(column), and bands thinner than the rectangle, are handled apart or dropped; a closing
only adds pixels within the rectangle's reach of the mask, so bands far apart are
closed apart.
"""

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


def _runs(hits: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """Runs ``[start, stop)`` of sorted indices whose neighbours are at most ``max_gap`` apart."""
    if hits.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hits) > max_gap)
    starts = np.concatenate(([hits[0]], hits[breaks + 1]))
    stops = np.concatenate((hits[breaks] + 1, [hits[-1] + 1]))
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _open_filtered(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    values = mask.astype(np.uint8)
    eroded = ndimage.minimum_filter(values, size=(rows, cols), mode="constant", cval=0)
    # The dilation uses the reflected rectangle: for even sizes its origin moves by one.
    origin = (-1 if rows % 2 == 0 else 0, -1 if cols % 2 == 0 else 0)
    opened = ndimage.maximum_filter(eroded, size=(rows, cols), mode="constant", cval=0, origin=origin)
    return opened.astype(bool) & mask


def open_rect(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Binary opening of ``mask`` by a ``rows × cols`` rectangle.

    Removes every structure thinner than the rectangle in either direction (thin
    residue: straps, bars, boards edge-on, isolated noisy pixels) and keeps the rest
    with its shape.
    """
    if rows <= 1 and cols <= 1:
        return mask.astype(bool, copy=True)
    mask = np.asarray(mask, bool)
    opened = np.zeros_like(mask)
    # A rectangle needs ``rows`` consecutive non-empty rows and ``cols`` consecutive
    # non-empty columns: shorter runs are dropped, runs apart are opened apart.
    row_runs = [run for run in _runs(np.flatnonzero(mask.any(axis=1)), 1) if run[1] - run[0] >= rows]
    for r0, r1 in row_runs:
        band = mask[r0:r1]
        col_runs = [run for run in _runs(np.flatnonzero(band.any(axis=0)), 1) if run[1] - run[0] >= cols]
        for c0, c1 in col_runs:
            block = band[:, c0:c1]
            if len(row_runs) == 1 and len(col_runs) == 1 and block.shape == mask.shape:
                opened[:] = _open_filtered(block, rows, cols)
            else:
                opened[r0:r1, c0:c1] = open_rect(block, rows, cols)
    return opened


def _close_filtered(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    values = mask.astype(np.uint8)
    dilated = ndimage.maximum_filter(values, size=(rows, cols), mode="constant", cval=0)
    origin = (-1 if rows % 2 == 0 else 0, -1 if cols % 2 == 0 else 0)
    closed = ndimage.minimum_filter(dilated, size=(rows, cols), mode="constant", cval=1, origin=origin)
    return closed.astype(bool) | mask


def close_rect(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Binary closing of ``mask`` by a ``rows × cols`` rectangle.

    Fills gaps narrower than the rectangle (a speckled region where noise leaves some
    pixels just above a threshold) without growing the region's outer boundary.
    """
    if rows <= 1 and cols <= 1:
        return mask.astype(bool, copy=True)
    mask = np.asarray(mask, bool)
    # Bands of rows (columns) more than four rectangles apart are closed apart, each in a
    # window reaching two rectangles beyond it; only the band and one rectangle around
    # it can change (farther pixels see no mask within reach).
    row_runs = _runs(np.flatnonzero(mask.any(axis=1)), 4 * rows)
    col_runs = _runs(np.flatnonzero(mask.any(axis=0)), 4 * cols)
    if len(row_runs) <= 1 and len(col_runs) <= 1:
        return _close_filtered(mask, rows, cols)
    closed = mask.copy()
    n_rows, n_cols = mask.shape
    for r0, r1 in row_runs:
        w0, w1 = max(r0 - 2 * rows, 0), min(r1 + 2 * rows, n_rows)
        band = mask[w0:w1]
        for c0, c1 in _runs(np.flatnonzero(band.any(axis=0)), 4 * cols):
            v0, v1 = max(c0 - 2 * cols, 0), min(c1 + 2 * cols, n_cols)
            part = _close_filtered(band[:, v0:v1], rows, cols)
            k0, k1 = max(r0 - rows, 0) - w0, min(r1 + rows, n_rows) - w0
            h0, h1 = max(c0 - cols, 0) - v0, min(c1 + cols, n_cols) - v0
            closed[w0 + k0:w0 + k1, v0 + h0:v0 + h1] |= part[k0:k1, h0:h1]
    return closed
