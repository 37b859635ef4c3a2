"""CONCEALMENT_ANOMALY: a region whose goods depart significantly from the cargo of its own stack.

**What is measured.** Goods are loaded as stacks (pallet columns) of layers: along x
inside one stack a detector row crosses the same layer of the same goods, whatever the
stacks beside it hold. The cargo model (:func:`stack_segments`, :func:`stack_row_background`)
is, per stack, the stack's shape along x (flat for cartons, a dome for reels) times each
row's level. Each pixel is compared with it in two channels of its own measurement (not
the material map, which reads each homogeneous region from its mean): the attenuation
α_H converted to areal density (g/cm², by the scan's areal density per unit α), and the
ratio α_L / α_H, which the material's Z sets (without the low energy: the map's Z, whose
uncertainty is already a region mean's). Pixels within ``edge_blur_mm`` of an edge of the
cargo (a stack's sides or top, a gap, an unreadable patch) mix the goods with what lies
beyond in the scanner's blur and are not compared.

**The test.** Regions of each size of ``region_sizes_mm`` are placed on a grid of half their
size inside every stack (:func:`region_tests`). A region's departure is the mean of the
medians of its four cells (half its size each way: a thin edge or slit in one cell does not
move it). Null hypothesis: *the region is cargo like the rest of its stack*: its departure
is distributed as those of the other regions of the same size in the same stack and layer,
centred on the model. That spread is measured in the scan: robustly (``spread_quantile``
of the absolute departures, 0.5: 1.4826 × the MAD) in the region's band of rows (its layer)
and over the stack, the layer's shrunk towards the stack's (``prior_regions``, within
``max_layer_ratio``); it holds the texture of the goods (carton to carton, gaps, what the
container model left) as well as the pixel noise, and the noise model's spread of a
region mean is its floor. Its departure in spreads has Student's t tail with the degrees of
freedom of that spread (the stack's independent regions × 0.37, the MAD's efficiency), in
each direction (denser or lighter; higher or lower ratio).

**The decision.** Every region of every size, in both channels and both directions, is one
test. A region is reported when its number of false alarms, NFA = number of tests × tail
probability, is below ``nfa_epsilon``: the expected number of reports on a clean scan
(a-contrario detection; :func:`significance_threshold`). Significant regions that overlap
are one finding; its extent is where the departure averaged over the cell of its most
significant region is at least half that region's; the finding with the smallest NFA is
the reason, the others its regions.

**What is looked for** (not a statistical setting): a density finding must add or
displace at least ``min_mass_kg`` (the smallest load worth hiding); the material channel
tests regions of at least ``material_min_region_mm`` each way, as the ratio shifts by
partial volume and beam hardening over a few centimetres at the edges of packing units.

Declared-empty containers are the empty check's; rows of a stack with too little cargo
give no model (an object alone in an empty part of the box is cargo, not a concealment).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special, stats

from nii.classes import HIGH_Z
from nii.inspection.checks._cargo import cargo_mask
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels
from nii.inspection.verdict import Reason

__all__ = ["CODE", "RegionTests", "check_concealment", "local_background", "log_tail", "region_tests",
           "significance_threshold", "stack_row_background", "stack_segments"]

CODE = "CONCEALMENT_ANOMALY"
#: Half-distance (pixels) across which a step between two pallets is measured (edge blur).
_EDGE_LAG = 2
#: Rows: steps at one column closer than this are one band; shorter bands are noise.
_BAND_GAP = 3
#: Samples per median of the stack model (rows or columns are subsampled above this).
_MEDIAN_SAMPLES = 64
_MAX_REGIONS = 5
#: Asymptotic efficiency of the median absolute deviation at the normal distribution.
_MAD_EFFICIENCY = 0.37
#: Pixels per cell side a cell's median is taken from (evenly subsampled).
_CELL_SAMPLES = 8


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """``numpy.nanmedian`` along ``axis`` by one sort (NaN sorts last): far faster on many short lines."""
    ordered = np.sort(values, axis=axis)
    count = np.isfinite(ordered).sum(axis=axis, keepdims=True)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0), axis=axis)
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0), axis=axis)
    median = np.where(count > 0, 0.5 * (low + high), np.nan)
    return np.squeeze(median, axis=axis)


def _nanquantile(values: np.ndarray, quantile: float, axis: int) -> np.ndarray:
    """``numpy.nanquantile`` (linear) along ``axis`` by one sort (NaN sorts last); NaN where none is finite."""
    ordered = np.sort(values, axis=axis)
    count = np.isfinite(ordered).sum(axis=axis, keepdims=True)
    position = quantile * np.maximum(count - 1, 0)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    frac = position - low
    a = np.take_along_axis(ordered, low, axis=axis)
    b = np.take_along_axis(ordered, high, axis=axis)
    out = np.where(count > 0, a + frac * (b - a), np.nan)
    return np.squeeze(out, axis=axis)


def _block_stat(values: np.ndarray, valid: np.ndarray, block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``values`` over ``valid`` pixels and the valid share, per block."""
    rows, cols = values.shape
    br, bc = block
    nr, nc = -(-rows // br), -(-cols // bc)
    padded = np.full((nr * br, nc * bc), np.nan, np.float32)
    padded[:rows, :cols] = np.where(valid, values, np.nan)
    # Subsample inside blocks for speed: medians of a few hundred pixels are as robust.
    sr, sc = max(1, br // 12), max(1, bc // 12)
    tiles = padded.reshape(nr, br, nc, bc)[:, ::sr, :, ::sc].transpose(0, 2, 1, 3).reshape(nr, nc, -1)
    share = np.isfinite(tiles).mean(axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(tiles, axis=2)
    return median.astype(np.float32), share


def _nan_window(grid: np.ndarray, size: int, function) -> np.ndarray:
    """Apply a NaN-aware reduction over a square window of blocks."""
    half = size // 2
    padded = np.pad(grid, half, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(windows.reshape(*grid.shape, -1), axis=2)


def local_background(values: np.ndarray, valid: np.ndarray, block: tuple[int, int], window: int,
                     min_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Robust local background and spread of ``values`` over ``valid`` pixels.

    Parameters
    ----------
    values : numpy.ndarray
        Rows × columns (e.g. excess areal density, g/cm²).
    valid : numpy.ndarray of bool
        Pixels that belong to the background population (cargo).
    block : tuple of int
        Block size (rows, columns) in pixels.
    window : int
        Neighbourhood size in blocks (odd).
    min_share : float
        Blocks with a smaller share of valid pixels give no background.

    Returns
    -------
    background, spread : numpy.ndarray
        Per pixel (float32), NaN where no background exists: the window's median of
        block medians, and 1.4826 × their median absolute deviation.
    """
    medians, share = _block_stat(values, valid, block)
    medians[share < min_share] = np.nan
    background = _nan_window(medians, window, np.nanmedian)
    deviation = np.abs(medians - background)
    spread = 1.4826 * _nan_window(deviation, window, np.nanmedian)
    rows, cols = values.shape
    up = lambda grid: np.repeat(np.repeat(grid, block[0], axis=0), block[1], axis=1)[:rows, :cols]  # noqa: E731
    return up(background.astype(np.float32)), up(spread.astype(np.float32))


def stack_segments(values: np.ndarray, cargo: np.ndarray, min_width_px: int, gap_fraction: float,
                   step_fraction: float = 0.0, edge_fraction: float = 1.0, edge_step: float = 0.05,
                   noise: np.ndarray | float | None = None, through_fraction: float = 1.0,
                   through_sigma: float = 5.0, band_gap_px: int = _BAND_GAP) -> list[tuple[int, int]]:
    """Column ranges of the stacks (pallet columns) of a load, split at the gaps between them.

    Parameters
    ----------
    values : numpy.ndarray
        Excess areal density of the interior (rows × columns, g/cm²).
    cargo : numpy.ndarray of bool
        Cargo pixels of the interior.
    min_width_px : int
        Narrower runs of columns are not a stack of their own (pixels).
    gap_fraction : float
        A column whose mean excess areal density is at most this fraction of the median
        over the ``min_width_px`` columns around it is a gap between stacks (the gap
        between two pallets holds only the container's walls, a blurred column or two).
    step_fraction : float
        Two stacks that abut without a gap: a run is split where the column mean
        changes by more than this fraction over ``min_width_px / 2`` on either side.
    edge_fraction, edge_step : float
        Two pallets of different layering side by side: a run is also split at the
        column where at least ``edge_fraction`` of the cargo rows step by more than
        ``edge_step`` of their value (1.0: never), in at least two separate bands of
        rows (layers), or else in its upper and in its lower half alike (halves of the
        rows the load fills). A pallet edge runs through the stack; the side of one
        object, however tall, steps in the one band of rows it fills.
    noise : numpy.ndarray or float, optional
        Pixel noise of ``values`` (g/cm²); with ``through_fraction`` below 1, a run is
        also split at a column where at least ``through_fraction`` of the cargo rows step
        by more than ``through_sigma`` times it, however little relative to their value
        (the mean of a few centimetres on either side, beyond the edge blur). Two pallets
        of slightly different layers side by side differ in every layer; an object, a
        carton's slit or a layer's edge changes some rows only.
    through_fraction, through_sigma : float
        See ``noise`` (1.0: never).
    band_gap_px : int
        Bands of stepping rows closer than this (rows) are one band: the side of one
        object crosses the goods' layers inside it, whose steps come and go by a few
        rows; two layers of a pallet edge that step are a layer or more apart.

    Returns
    -------
    list of (col0, col1)
        Half-open column ranges, left to right.
    """
    if values.size == 0:
        return []
    profile = np.where(cargo, values, 0.0).mean(axis=0)
    edges = None
    if edge_fraction < 1.0 and values.shape[1] > 2 * _EDGE_LAG:
        # Share of the cargo rows whose value steps across each column by more than
        # ``edge_step`` of itself (pallets of different layers side by side).
        lag = _EDGE_LAG
        left, right = values[:, :-2 * lag], values[:, 2 * lag:]
        both = cargo[:, :-2 * lag] & cargo[:, 2 * lag:]
        step = np.abs(left - right) > edge_step * np.maximum(np.maximum(left, right), 1e-6)
        # A pallet edge runs through the stack: its steps are found in several layers
        # (bands of rows apart) or in its upper and in its lower half alike. The side of
        # one object, however tall, steps in the one band of rows it fills.
        stepping = step & both
        share = stepping.sum(axis=0) / np.maximum(both.sum(axis=0), 1)
        bands = _open_rows(_close_rows(stepping, max(int(band_gap_px), _BAND_GAP)), _BAND_GAP)
        n_bands = bands[0].astype(int) + (bands[1:] & ~bands[:-1]).sum(axis=0)
        filled_rows = np.flatnonzero(cargo.any(axis=1))
        middle = (int(filled_rows[0]) + int(filled_rows[-1]) + 1) // 2 if filled_rows.size else 0
        halves = np.minimum(*[(stepping[half].sum(axis=0) / np.maximum(both[half].sum(axis=0), 1))
                              for half in (slice(None, middle), slice(middle, None))])
        score = np.where(n_bands >= 2, share, halves)
        score = np.where(both.sum(axis=0) >= 0.3 * cargo.shape[0], score, 0.0)
        edges = np.zeros(values.shape[1])
        edges[lag:-lag] = score
        if noise is not None and through_fraction < 1.0:
            edges = np.maximum(edges, edge_fraction * _through_steps(values, cargo, noise, int(min_width_px),
                                                                     through_fraction, through_sigma))
    local = ndimage.median_filter(profile, size=max(int(min_width_px), 3), mode="nearest")
    filled = (profile > gap_fraction * local) & cargo.any(axis=0)
    segments = []
    start = None
    for col, full in enumerate(np.append(filled, False)):
        if full and start is None:
            start = col
        elif not full and start is not None:
            if col - start >= min_width_px:
                segments.extend(_split_at_steps(profile, start, col, int(min_width_px), step_fraction, edges, edge_fraction))
            start = None
    return segments


def _close_rows(mask: np.ndarray, length: int) -> np.ndarray:
    """Binary closing along the rows (axis 0) by ``length`` (running max then min: linear time)."""
    grown = ndimage.maximum_filter1d(mask.view(np.uint8), length, axis=0, mode="constant", cval=0)
    return ndimage.minimum_filter1d(grown, length, axis=0, mode="constant", cval=1).astype(bool)


def _open_rows(mask: np.ndarray, length: int) -> np.ndarray:
    """Binary opening along the rows (axis 0) by ``length``."""
    shrunk = ndimage.minimum_filter1d(mask.view(np.uint8), length, axis=0, mode="constant", cval=0)
    return ndimage.maximum_filter1d(shrunk, length, axis=0, mode="constant", cval=0).astype(bool)


def _through_steps(values: np.ndarray, cargo: np.ndarray, noise: np.ndarray | float, min_width: int,
                   through_fraction: float, through_sigma: float) -> np.ndarray:
    """Columns (1 to 2, else 0) where nearly every cargo row steps significantly: a pallet edge.

    Each row's mean over ``min_width / 4`` columns on either side of a column, beyond
    :data:`_EDGE_LAG` columns of edge blur (a carton's slit of a few columns hardly moves
    it), is compared; a row steps when the two differ by more than ``through_sigma``
    times the pixel noise.
    """
    # A share of the rows: every few rows suffice (subsampled for speed).
    row_step = max(1, values.shape[0] // (2 * _MEDIAN_SAMPLES))
    values, cargo = values[::row_step], cargo[::row_step]
    if np.ndim(noise):
        noise = np.asarray(noise)[::row_step]
    rows, cols = values.shape
    width = max(min_width // 4, 3)
    lag = _EDGE_LAG
    through = np.zeros(cols)
    if cols <= 2 * (lag + width):
        return through
    filled = np.where(cargo, values, 0.0).astype(np.float32)
    # Running means of the cargo (and of the cargo's share) over ``width`` columns.
    total = np.cumsum(np.pad(filled, ((0, 0), (1, 0))), axis=1, dtype=np.float64)
    count = np.cumsum(np.pad(cargo.astype(np.float32), ((0, 0), (1, 0))), axis=1, dtype=np.float64)
    sums, counts = total[:, width:] - total[:, :-width], count[:, width:] - count[:, :-width]
    left_end = np.arange(lag + width, cols - lag - width + 1)          # column c: window [c-lag-width, c-lag)
    left = slice(left_end[0] - lag - width, left_end[-1] - lag - width + 1)
    right = slice(left_end[0] + lag, left_end[-1] + lag + 1)
    full = (counts[:, left] >= width) & (counts[:, right] >= width)
    mean_left = sums[:, left] / np.maximum(counts[:, left], 1)
    mean_right = sums[:, right] / np.maximum(counts[:, right], 1)
    sigma = np.broadcast_to(np.asarray(noise, np.float32), values.shape)[:, left_end]
    stepping = full & (np.abs(mean_left - mean_right) > through_sigma * sigma)
    n_rows = full.sum(axis=0)
    share = stepping.sum(axis=0) / np.maximum(n_rows, 1)
    # Judged over most of the stack's height only (not at its ragged top or at a short object).
    tall = n_rows >= 0.5 * cargo.any(axis=1).sum()
    # Where it is flagged, the score peaks where the windows on either side are purest
    # (the edge itself): 1 plus up to 1 by the mean step across the rows.
    magnitude = np.where(full, np.abs(mean_left - mean_right), 0.0).sum(axis=0) / np.maximum(n_rows, 1)
    flagged = tall & (share >= through_fraction)
    if flagged.any():
        through[left_end] = np.where(flagged, 1.0 + magnitude / max(float(magnitude[flagged].max()), 1e-9), 0.0)
    return through


def _split_at_steps(profile: np.ndarray, col0: int, col1: int, min_width: int, step_fraction: float,
                    edges: np.ndarray | None = None, edge_fraction: float = 1.0) -> list[tuple[int, int]]:
    """Split a run of columns where two stacks of different loads abut without a gap."""
    if col1 - col0 < 2 * min_width or step_fraction <= 0:
        return [(col0, col1)]
    if edges is not None:
        # Two pallets side by side: many rows step at the same column.
        score = edges[col0 + min_width:col1 - min_width]
        if score.size and float(score.max()) >= edge_fraction:
            cut = col0 + min_width + int(np.argmax(score))
            return (_split_at_steps(profile, col0, cut, min_width, step_fraction, edges, edge_fraction)
                    + _split_at_steps(profile, cut, col1, min_width, step_fraction, edges, edge_fraction))
    part = profile[col0:col1]
    half = max(min_width // 2, 1)
    best, where = 0.0, -1
    for cut in range(min_width, part.size - min_width + 1, max(half // 4, 1)):
        left = float(np.median(part[cut - half:cut]))
        right = float(np.median(part[cut:cut + half]))
        step = abs(left - right) / max(left, right, 1e-6)
        if step > best:
            best, where = step, cut
    if best < step_fraction:
        return [(col0, col1)]
    return (_split_at_steps(profile, col0, col0 + where, min_width, step_fraction, edges, edge_fraction)
            + _split_at_steps(profile, col0 + where, col1, min_width, step_fraction, edges, edge_fraction))


def stack_row_background(values: np.ndarray, valid: np.ndarray, segments: list[tuple[int, int]],
                         min_pixels: int, bands: int = 1, band_min_cols: int = 1,
                         band_tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The cargo of each row of each stack: its median along x and its spread.

    Goods are loaded as stacks of cartons, bags or pallets, one layer on another: along x
    inside one stack a row crosses the same layer of the same goods, whatever the heights
    and densities of the stacks beside it. A concealment replaces part of a layer.

    Parameters
    ----------
    values : numpy.ndarray
        Rows × columns (e.g. excess areal density, g/cm²).
    valid : numpy.ndarray of bool
        Cargo pixels.
    segments : list of (col0, col1)
        The stacks (:func:`stack_segments`).
    min_pixels : int
        A row of a stack with fewer cargo pixels gives no background.
    bands : int
        The shape along x is the same in every layer: it is measured in this many bands
        of the stack's rows (top to bottom) and, column by column, the band's value
        closest to flat (1) is kept (:func:`_common_shape`). With one band, an object
        filling more than half of the stack's rows over some columns becomes the stack's
        shape there and departs from nothing; with several, the bands it leaves out
        show the goods' own shape.

    Returns
    -------
    background, spread : numpy.ndarray
        Per pixel (float32), NaN where no background exists: the stack's shape along x
        (the median over its rows of each column relative to its row's median: flat for
        cartons, a dome for reels) times the row's level relative to that shape (the
        median of the row divided by the shape), and 1.4826 × the
        median absolute deviation from that model along the row (capped at twice the
        stack's median spread: an object inflates its own rows').
    """
    background = np.full(values.shape, np.nan, np.float32)
    spread = np.full(values.shape, np.nan, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for col0, col1 in segments:
            block = np.where(valid[:, col0:col1], values[:, col0:col1], np.nan).astype(np.float32)
            counts = np.isfinite(block).sum(axis=1)
            enough = counts >= min_pixels
            # Medians of a few dozen samples are as robust: subsample for speed.
            step_c = max(1, (col1 - col0) // _MEDIAN_SAMPLES)
            level = _nanmedian(block[:, ::step_c], axis=1)
            level[~enough] = np.nan
            # The shape of the stack along x, the same in every layer (1 for cartons;
            # a dome for reels or drums standing on end), from the median over its rows.
            usable = np.flatnonzero(enough & (level > 0))
            if usable.size >= 3:
                usable = usable[::max(1, usable.size // _MEDIAN_SAMPLES)]
                shape = _common_shape(block[usable] / level[usable, None], bands, band_min_cols, band_tolerance)
            else:
                shape = np.ones(col1 - col0)
            if usable.size >= 3:
                # The row's level relative to that shape: the raw median of a row across
                # a dome is not its level when the dome's flat top (or a plateau clipped
                # at the beam's floor) is narrower in that layer.
                relative = _nanmedian(block[:, ::step_c] / shape[None, ::step_c], axis=1)
                level = np.where(enough & np.isfinite(relative), relative, level)
            model = level[:, None] * shape[None, :]
            mad = 1.4826 * _nanmedian(np.abs(block[:, ::step_c] - model[:, ::step_c]), axis=1)
            mad[~enough] = np.nan
            if np.isfinite(mad).any():
                mad = np.minimum(mad, 2.0 * float(np.nanmedian(mad)))
            background[:, col0:col1] = model
            spread[:, col0:col1] = mad[:, None]
    return background, spread


def _common_shape(relative: np.ndarray, bands: int, min_cols: int = 1, tolerance: float = 0.0) -> np.ndarray:
    """The stack's shape along x common to all its layers.

    Parameters
    ----------
    relative : numpy.ndarray
        Rows of the stack (top to bottom) × its columns: each row relative to its level.
    bands : int
        Number of bands of rows in which the shape is also measured (median over each
        band's rows); fewer than two rows per band falls back to one band.
    min_cols : int
        Bands must disagree over a run of at least this many columns (an object's
        width); the edge of a plateau that wanders by a few columns from layer to layer
        makes them disagree over a few columns only.
    tolerance : float
        Bands disagree where their shapes differ by more than this ratio (log).

    Returns
    -------
    numpy.ndarray
        Per column, the median over all rows (as with one band); where the bands
        disagree, of the bands' shapes the one closest to 1 in ratio: a dome of reels is
        the same in every band and is kept; a block filling the upper half of the stack
        raises the upper band's shape only, so the lower band's flat shape is kept and
        the block departs from it. Not finite or not positive: 1.
    """
    overall = _nanmedian(relative, axis=0)
    overall = np.where(np.isfinite(overall) & (overall > 0), overall, 1.0)
    bands = max(1, min(int(bands), relative.shape[0] // 2))
    if bands < 2:
        return overall
    shapes = np.stack([_nanmedian(part, axis=0) for part in np.array_split(relative, bands, axis=0)])
    shapes = np.where(np.isfinite(shapes) & (shapes > 0), shapes, 1.0)
    logs = np.log(shapes)
    disagree = (logs.max(axis=0) - logs.min(axis=0)) > math.log1p(max(float(tolerance), 0.0))
    if min_cols > 1:
        disagree = ndimage.binary_opening(disagree, structure=np.ones(int(min_cols), bool))
    pick = np.argmin(np.abs(logs), axis=0)
    flattest = np.take_along_axis(shapes, pick[None], axis=0)[0]
    return np.where(disagree, flattest, overall)


def _integral(values: np.ndarray) -> np.ndarray:
    """Summed-area table with a leading row and column of zeros (float64)."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float64)
    np.cumsum(np.cumsum(values, axis=0, dtype=np.float64), axis=1, out=table[1:, 1:])
    return table


def _box_sums(table: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Sums over the boxes of ``size`` whose top-left corners are ``rows`` × ``cols``."""
    h, w = size
    r0, c0 = rows[:, None], cols[None, :]
    return table[r0 + h, c0 + w] - table[r0, c0 + w] - table[r0 + h, c0] + table[r0, c0]


@dataclass
class RegionTests:
    """The regions of one size tested over a map of departures from the stack model.

    Attributes
    ----------
    size : (int, int)
        Region size (rows, columns).
    rows, cols : numpy.ndarray of int
        Top-left corner of each tested region (one entry per region).
    mean : numpy.ndarray
        The region's mean departure from its stack-row model.
    spread : numpy.ndarray
        The spread (standard deviation) of same-size region means over its stack and layer
        under the null hypothesis, at least the noise model's for that mean.
    dof : numpy.ndarray or None
        Degrees of freedom of that spread (Student t of the departure in spreads): the
        independent regions it was measured from × the MAD's efficiency (0.37); None: normal.
    """

    size: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    dof: np.ndarray | None = None

    @property
    def z(self) -> np.ndarray:
        """The region's departure in units of the spread (signed)."""
        return self.mean / self.spread

    def __len__(self) -> int:
        return int(self.mean.size)


def region_tests(departure: np.ndarray, valid: np.ndarray, noise: np.ndarray, segments: list[tuple[int, int]],
                 size: tuple[int, int], *, min_share: float = 0.75, prior_regions: float = 4.0,
                 noise_pixels: float = 4.0, max_layer_ratio: float = 2.0,
                 noise_averages: bool = True, quantile: float = 0.5,
                 prepared: tuple[np.ndarray, np.ndarray] | None = None) -> RegionTests:
    """Mean departure of every region of ``size`` inside one stack, and its null spread.

    Regions are placed on a grid of half their size (rows and columns) inside each stack
    (``segments``); one holding fewer than ``min_share`` valid pixels is not tested. The
    null hypothesis is that a region is cargo like the rest of its stack: its mean
    departure from the stack-row model (which centres every row at 0) is distributed as
    the means of the other regions of the same size in the same stack and layer.

    That spread is measured robustly (1.4826 × the median absolute region mean) in the
    region's own band of rows (its layer) and over the whole stack; the layer's estimate,
    from ``k`` independent regions (positions overlap by half along x), is shrunk towards
    the stack's with the weight of ``prior_regions`` regions and kept within
    ``max_layer_ratio`` of it (a concealment filling much of its layer inflates the
    layer's estimate). It holds the texture of the goods (carton to carton, the blur of
    their gaps, a structure the container model left) as well as the pixel noise; the
    noise model's own spread of a region mean (the pixels' noise over
    ``n / noise_pixels`` independent samples, the blur correlating neighbours) is its floor.
    ``prepared`` (from one map's first call) saves converting the maps again for each size.
    With ``noise_averages`` false the per-pixel noise is already that of a region's mean
    (the material map reads Z from each homogeneous region's mean attenuations) and is
    the floor as it is.

    Parameters
    ----------
    departure : numpy.ndarray
        Values minus their stack-row model (g/cm² or Z; rows × columns).
    valid : numpy.ndarray of bool
        Pixels that belong to the cargo model.
    noise : numpy.ndarray
        Per-pixel noise standard deviation of ``departure`` (same unit).
    segments : list of (col0, col1)
        The stacks (:func:`stack_segments`).
    size : (int, int)
        Region size (rows, columns), pixels.

    Returns
    -------
    RegionTests
    """
    h, w = max(int(size[0]), 2), max(int(size[1]), 2)
    ch, cw = h // 2, w // 2                      # a region is 2 × 2 cells
    rows_total = departure.shape[0]
    empty = RegionTests((2 * ch, 2 * cw), np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.ones(0))
    nr = rows_total // ch
    if nr < 2:
        return empty
    scale = float(stats.norm.ppf(0.5 + 0.5 * quantile))   # |N(0, 1)|'s quantile
    values, variance = prepared if prepared is not None else _prepared(departure, valid, noise)
    # A cell's median from at most ~8 × 8 of its pixels (evenly spread): as robust, and
    # its noise is counted from the pixels it was taken from.
    sr, sc = max(1, -(-ch // _CELL_SAMPLES)), max(1, -(-cw // _CELL_SAMPLES))
    found = []
    for col0, col1 in segments:
        nc = (col1 - col0) // cw
        if nc < 2:
            continue
        start = col0 + ((col1 - col0) - nc * cw) // 2        # the cells centred in the stack
        block = values[:nr * ch, start:start + nc * cw].reshape(nr, ch, nc, cw)[:, ::sr, :, ::sc]
        tiles = block.transpose(0, 2, 1, 3).reshape(nr, nc, -1)
        share = np.isfinite(tiles).mean(axis=2)
        median = _nanmedian(tiles, axis=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            var = variance[:nr * ch, start:start + nc * cw].reshape(nr, ch, nc, cw)[:, ::sr, :, ::sc]
            var = np.nanmean(var.transpose(0, 2, 1, 3).reshape(nr, nc, -1), axis=2)
        count = share * tiles.shape[2]
        # The noise of a cell's median: 1.2533 σ / √(independent pixels); of a region's mean of 4 cells: / 2.
        cell_noise = np.sqrt(np.where(np.isfinite(var), var, 0.0)) * (1.2533 / np.sqrt(np.maximum(count / noise_pixels, 1.0))
                                                    if noise_averages else 1.0)
        ok_cell = share >= min_share
        ok = ok_cell[:-1, :-1] & ok_cell[1:, :-1] & ok_cell[:-1, 1:] & ok_cell[1:, 1:]
        if ok.sum() < 3:
            continue
        mean = np.where(ok, 0.25 * (median[:-1, :-1] + median[1:, :-1] + median[:-1, 1:] + median[1:, 1:]), np.nan)
        if noise_averages:
            noise_mean = 0.5 * np.sqrt((cell_noise[:-1, :-1] ** 2 + cell_noise[1:, :-1] ** 2
                                        + cell_noise[:-1, 1:] ** 2 + cell_noise[1:, 1:] ** 2) / 4.0) * 2.0 / 2.0
        else:
            noise_mean = 0.25 * (cell_noise[:-1, :-1] + cell_noise[1:, :-1] + cell_noise[:-1, 1:] + cell_noise[1:, 1:])
        deviation = np.abs(mean)
        stack = float(_nanquantile(deviation.ravel(), quantile, axis=0)) / scale
        layer = _nanquantile(deviation, quantile, axis=1) / scale
        k = ok.sum(axis=1) / 2.0        # regions overlap by half along x
        layer = np.where(np.isfinite(layer) & (k > 0), layer, stack)
        layer = np.clip(layer, stack / max_layer_ratio, stack * max_layer_ratio)
        spread = np.sqrt((k * layer**2 + prior_regions * stack**2) / (k + prior_regions))
        spread = np.maximum(spread[:, None], noise_mean)
        rr, cc = np.nonzero(ok)
        spread = spread[rr, cc]
        keep = spread > 0
        # The spread is a MAD of the stack's independent regions (they overlap by half
        # each way): its own uncertainty is that of a standard deviation from
        # 0.37 × as many samples (the MAD's efficiency at the normal; Hampel 1974).
        dof = np.full(int(keep.sum()), max(_MAD_EFFICIENCY * ok.sum() / 4.0, 1.0))
        found.append((rr[keep] * ch, start + cc[keep] * cw, mean[rr, cc][keep], spread[keep], dof))
    if not found:
        return empty
    return RegionTests((2 * ch, 2 * cw), *(np.concatenate(part) for part in zip(*found, strict=True)))


def _prepared(departure: np.ndarray, valid: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The departures and their noise variances as float32, NaN off ``valid`` or where the noise is not finite."""
    values = np.asarray(departure, np.float32)
    noise = np.asarray(noise, np.float32)
    variance = noise * noise
    # A pixel whose noise is unknown is not measured.
    good = valid & np.isfinite(values) & np.isfinite(variance)
    values = np.where(good, values, np.float32(np.nan))
    variance[~good] = np.nan
    return values, variance


def log_tail(z: np.ndarray, dof: float | np.ndarray | None) -> np.ndarray:
    """Natural log of the upper tail probability of ``z`` under the null (Student t, or normal).

    ``dof`` None, ≤ 0 or infinite: the standard normal; otherwise Student's t with ``dof``
    degrees of freedom (per value when an array), for spreads estimated from few regions.
    """
    z = np.asarray(z, np.float64)
    if dof is None or np.ndim(dof) == 0 and (not dof or dof <= 0 or not math.isfinite(dof)):
        return stats.norm.logsf(z)
    dof = np.broadcast_to(np.asarray(dof, np.float64), z.shape)
    normal = ~np.isfinite(dof) | (dof <= 0) | (dof > 1e4)
    out = np.empty_like(z)
    out[normal] = stats.norm.logsf(z[normal])
    out[~normal] = stats.t.logsf(z[~normal], dof[~normal])
    # Far in the tail the t's log survival underflows: its power law, log sf ≈ log c +
    # ((ν + 1) / 2 − 1) log ν − ν log z (c the density's constant), keeps the order.
    lost = ~normal & ~np.isfinite(out) & (z > 0)
    if lost.any():
        nu, zz = dof[lost], z[lost]
        log_c = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * math.pi)
        out[lost] = log_c + ((nu + 1) / 2 - 1) * np.log(nu) - nu * np.log(zz)
    return out


def significance_threshold(n_tests: int, epsilon: float, dof: float = 0.0) -> float:
    """Smallest departure (in spreads) whose number of false alarms is below ``epsilon``.

    NFA(z) = n_tests × P(Z ≥ z): the expected number of regions at least as departing,
    among ``n_tests`` tested, when none is a concealment. Reported when NFA < ε, so the
    threshold grows with the number of regions looked at (Desolneux, Moisan & Morel,
    *From Gestalt Theory to Image Analysis*, 2008).
    """
    target = math.log(max(epsilon, 1e-300)) - math.log(max(int(n_tests), 1))
    if not dof or dof <= 0 or not math.isfinite(dof):
        return float(-stats.norm.ppf(math.exp(target))) if target > -700 else float(stats.norm.isf(1e-300))
    return float(stats.t.isf(math.exp(target), dof))


@dataclass
class _Finding:
    log_nfa: float
    channel: str          # "density" or "zeff"
    sign: int             # +1 denser / higher Z, -1 lighter / lower Z
    bbox: tuple[int, int, int, int]
    pixels: np.ndarray
    mean: float
    z: float
    mass_kg: float


def _findings(tests: list[RegionTests], departure: np.ndarray, valid: np.ndarray, log_limit: float,
              channel: str, log_n: float, pixel_area_cm2: float, z_floor: float = 0.0) -> list[_Finding]:
    """Significant regions of one channel, merged into connected findings (both signs).

    ``z_floor``: no region departing by fewer spreads can be significant (the normal
    tail's threshold: a Student t's is higher); the tails are computed above it only.
    """
    found = []
    shape = departure.shape
    for sign in (1, -1):
        best = None
        for test in tests:
            if not len(test):
                continue
            z = sign * test.z
            candidates = np.flatnonzero(z > z_floor)
            if not candidates.size:
                continue
            log_nfa = log_n + log_tail(z[candidates], None if test.dof is None else test.dof[candidates])
            keep = log_nfa < log_limit
            hits, log_nfa = candidates[keep], log_nfa[keep]
            if not hits.size:
                continue
            if best is None:
                best = np.full(shape, np.inf)
                best_mean, best_z = np.zeros(shape), np.zeros(shape)
                best_size = np.zeros(shape + (2,), int)
            h, w = test.size
            for order in np.argsort(-log_nfa):   # strongest painted last
                index, value = hits[order], log_nfa[order]
                r, c = int(test.rows[index]), int(test.cols[index])
                window = (slice(r, r + h), slice(c, c + w))
                better = value < best[window]
                best[window] = np.where(better, value, best[window])
                best_mean[window] = np.where(better, test.mean[index], best_mean[window])
                best_z[window] = np.where(better, test.z[index], best_z[window])
                best_size[window] = np.where(better[..., None], (h, w), best_size[window])
        if best is None:
            continue
        for bbox, pixels in components(np.isfinite(best)):
            r0, c0, r1, c1 = bbox
            inside = best[r0:r1, c0:c1]
            where = np.unravel_index(int(np.argmin(np.where(pixels, inside, np.inf))), inside.shape)
            mean = float(best_mean[r0:r1, c0:c1][where])
            # The region itself: where the departure, averaged over a cell of the most
            # significant region (half its size each way), is at least half its mean.
            h, w = (int(v) for v in best_size[r0:r1, c0:c1][where])
            cell = (max(h // 2, 1), max(w // 2, 1))
            pad = (slice(max(r0 - cell[0], 0), r1 + cell[0]), slice(max(c0 - cell[1], 0), c1 + cell[1]))
            good = valid[pad] & np.isfinite(departure[pad])
            with np.errstate(invalid="ignore", divide="ignore"):
                smooth = ndimage.uniform_filter(np.where(good, departure[pad], 0.0), cell, mode="constant") \
                    / ndimage.uniform_filter(good.astype(np.float64), cell, mode="constant")
            local = smooth[r0 - pad[0].start:r1 - pad[0].start, c0 - pad[1].start:c1 - pad[1].start]
            core = pixels & valid[r0:r1, c0:c1] & (sign * np.nan_to_num(local) >= 0.5 * abs(mean))
            if core.any():
                rr, cc = np.nonzero(core)
                box = (r0 + int(rr.min()), c0 + int(cc.min()), r0 + int(rr.max()) + 1, c0 + int(cc.max()) + 1)
                core = core[rr.min():rr.max() + 1, cc.min():cc.max() + 1]
            else:
                box, core = bbox, pixels
            mass = math.nan
            if channel == "density":
                part = departure[box[0]:box[2], box[1]:box[3]]
                mass = float(np.nansum(np.clip(sign * part[core], 0, None))) * pixel_area_cm2 / 1000.0
            found.append(_Finding(float(inside[where]), channel, sign, box, core, mean,
                                  float(best_z[r0:r1, c0:c1][where]), mass))
    return found


def check_concealment(inp: CheckInput) -> CheckResult:
    """Raise ``CONCEALMENT_ANOMALY`` for regions departing significantly from the cargo of their stack.

    Parameters
    ----------
    inp : CheckInput
        Settings from ``[checks.concealment]`` (see the module docstring).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    structure = inp.structure
    if not structure.found or inp.manifest.declared_empty:
        return result
    settings = lambda name: inp.threshold("concealment", name)  # noqa: E731
    rows, cols = structure.interior()
    residual = structure.residual_g_cm2[rows, cols]
    cargo = cargo_mask(inp, inp.threshold("empty", "min_residual_g_cm2"), inp.threshold("empty", "min_residual_sigma"))[rows, cols]
    if cargo.sum() < 64:
        return result
    # The cargo as stacks: each row of each stack is compared with itself along x.
    stack_width = box_pixels(settings("min_stack_mm"), inp.column_pitch_mm)
    sigma = inp.sigma_g_cm2[rows, cols]
    unreadable = inp.unreadable[rows, cols]
    # Each pixel's own measurement, not the material map's: the map reads each
    # homogeneous region from its mean, which hides the pixel noise and adds steps where
    # its regions meet (and fills in the gaps between pallets). The attenuation α_H in
    # g/cm² (× the scan's areal density per α) less the structure, and the ratio
    # α_L / α_H that the material (Z) sets.
    alpha = inp.finite_attenuation_high()
    density, density_noise = residual, sigma
    measured = False
    if alpha is not None and inp.sigma_attenuation_high is not None:
        alpha, alpha_sigma = alpha[rows, cols], np.asarray(inp.sigma_attenuation_high)[rows, cols]
        usable = cargo & (alpha > 0.05)
        if usable.sum() >= 64:
            # (a median of every few cargo pixels is as good)
            step = max(1, int(usable.sum()) // 20000)
            conversion = float(np.median((inp.areal_g_cm2[rows, cols][usable] / alpha[usable])[::step]))
            # Less the container's structure, as the residual (its profile per row).
            density = alpha * conversion - structure.profile_g_cm2[rows][:, None]
            density_noise = alpha_sigma * conversion
            measured = True
    segments = stack_segments(np.where(cargo, density, 0.0), cargo, stack_width, settings("gap_fraction"), settings("step_fraction"),
                              settings("pallet_edge_fraction"), settings("pallet_edge_step_rel"), noise=sigma,
                              through_fraction=settings("pallet_edge_through_fraction"),
                              through_sigma=settings("pallet_edge_through_sigma"),
                              band_gap_px=box_pixels(settings("pallet_edge_band_gap_mm"), inp.row_height_mm))
    shape_args = (int(settings("shape_bands")), box_pixels(settings("shape_min_extent_mm"), inp.column_pitch_mm),
                  settings("pallet_edge_step_rel"))
    background, _ = stack_row_background(np.where(cargo, density, np.nan), cargo, segments, stack_width, *shape_args)
    valid = cargo & np.isfinite(background) & ~unreadable
    # Within the scanner's blur of an edge of the cargo (a stack's sides, its top, a gap,
    # something the beam cannot read) a pixel mixes the goods with what lies beyond: the
    # stack-row model does not hold there.
    blur = (box_pixels(settings("edge_blur_mm"), inp.row_height_mm), box_pixels(settings("edge_blur_mm"), inp.column_pitch_mm))
    valid = _erode_within(valid, segments, blur)
    departure = np.where(valid, density - background, np.nan)

    zeff = inp.zeff[rows, cols]
    classes = inp.classes[rows, cols]
    readable = valid & (classes != HIGH_Z)
    if measured and alpha is not None and inp.attenuation_low is not None and inp.sigma_attenuation_low is not None:
        low = np.nan_to_num(np.asarray(inp.attenuation_low)[rows, cols], nan=0.0, posinf=0.0, neginf=0.0)
        low_sigma = np.asarray(inp.sigma_attenuation_low)[rows, cols]
        readable &= (alpha > settings("min_ratio_alpha")) & (low > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(readable, low / alpha, np.nan)
            ratio_noise = np.abs(ratio) * np.sqrt((low_sigma / np.maximum(low, 1e-6)) ** 2
                                                  + (alpha_sigma / np.maximum(alpha, 1e-6)) ** 2)
        ratio_row, _ = stack_row_background(ratio, readable, segments, stack_width, *shape_args)
        readable &= np.isfinite(ratio_row)
        material_channel = (np.where(readable, ratio - ratio_row, np.nan), readable, ratio_noise, True)
    else:
        zeff_row, _ = stack_row_background(np.where(readable & np.isfinite(zeff), zeff, np.nan),
                                           readable & np.isfinite(zeff), segments, stack_width, *shape_args)
        readable &= np.isfinite(zeff) & np.isfinite(zeff_row)
        zeff_departure = zeff - zeff_row
        zeff_noise = (np.nan_to_num(inp.zeff_sigma[rows, cols], nan=0.0, posinf=0.0) if inp.zeff_sigma is not None
                      else np.zeros(zeff.shape, np.float32))
        # The map's Z is already a region mean: its uncertainty is the floor as it is.
        material_channel = (np.where(readable, zeff_departure, np.nan), readable, zeff_noise, False)

    sizes = inp.settings("concealment").get("region_sizes_mm") or [[200.0, 200.0]]
    options = dict(min_share=settings("min_valid_share"), quantile=settings("spread_quantile"), prior_regions=settings("prior_regions"),
                   noise_pixels=settings("noise_pixels"), max_layer_ratio=settings("max_layer_ratio"))
    channels = {"density": (departure, valid, density_noise, True), "material": material_channel}
    tests: dict[str, list[RegionTests]] = {}
    # The material channel at sizes of at least ``material_min_region_mm`` each way: at the
    # edges of packing units the ratio shifts by partial volume and beam hardening over a
    # few centimetres, which the region's own cells do not average out.
    smallest = {"density": 0.0, "material": settings("material_min_region_mm")}
    for name, (values, mask, noise, averages) in channels.items():
        prepared = _prepared(values, mask, noise)
        tests[name] = [region_tests(values, mask, noise, segments,
                                    (box_pixels(float(h), inp.row_height_mm), box_pixels(float(w), inp.column_pitch_mm)),
                                    noise_averages=averages, prepared=prepared, **options)
                       for h, w in sizes if min(float(h), float(w)) >= smallest[name]]
    # Every region of every size, in both channels and both directions, is one test.
    n_tests = 2 * sum(len(test) for group in tests.values() for test in group)
    if n_tests == 0:
        return result
    epsilon = settings("nfa_epsilon")
    log_n = math.log(n_tests)
    found: list[_Finding] = []
    z_floor = significance_threshold(n_tests, epsilon)
    for name, (values, mask, _noise, _averages) in channels.items():
        found += _findings(tests[name], values, mask, math.log(epsilon), name, log_n, inp.pixel_area_cm2, z_floor)
    # What the check looks for: a concealment adding or displacing at least the smallest
    # load worth hiding (a density finding's mass; a material finding has none).
    min_mass = settings("min_mass_kg")
    found = [item for item in found if not item.mass_kg < min_mass]
    if not found:
        # How close the most significant region came: 1 at NFA = ε, 0 at NFA = 1.
        strongest = [(float(np.max(np.abs(test.z))), test) for group in tests.values() for test in group if len(test)]
        if strongest:
            z, test = max(strongest, key=lambda item: item[0])
            index = int(np.argmax(np.abs(test.z)))
            least = log_n + float(log_tail(np.array([z]), None if test.dof is None else test.dof[index:index + 1])[0])
            result.near_miss = float(min(max(1.0 - (least - math.log(epsilon)) / -math.log(epsilon), 0.0), 0.99))
        return result
    found.sort(key=lambda item: item.log_nfa)
    kept: list[_Finding] = []
    for item in found:   # one object found in both channels is one finding
        if not any(_overlap(item.bbox, other.bbox) for other in kept):
            kept.append(item)
    offset_r, offset_c = rows.start, cols.start
    first = kept[0]
    r0, c0, r1, c1 = first.bbox
    margin = (box_pixels(200.0, inp.row_height_mm), box_pixels(200.0, inp.column_pitch_mm))
    near = (slice(max(r0 - margin[0], 0), r1 + margin[0]), slice(max(c0 - margin[1], 0), c1 + margin[1]))
    around = dominant_material(classes[near][cargo[near]])
    material = dominant_material(classes[r0:r1, c0:c1][first.pixels])
    size = f"{(c1 - c0) * inp.column_pitch_mm / 10:.0f} × {(r1 - r0) * inp.row_height_mm / 10:.0f} cm"
    if first.channel == "density" and first.sign > 0:
        what = f"a {size} {material} region about {first.mass_kg:,.0f} kg denser than the {around} layer of its stack"
    elif first.channel == "density":
        what = (f"a {size} region about {first.mass_kg:,.0f} kg lighter than the {around} layer of its stack "
                f"(a void or a hollow container)")
    else:
        # The material channel (α_L/α_H ratio, or the map's Z) says that the material
        # differs; the map's Z over the region says which way.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # Against the rest of its rows in its stack.
            band = zeff[r0:r1]
            stack = next(((a, b) for a, b in segments if a <= c0 < b), (0, band.shape[1]))
            others = valid[r0:r1].copy()
            others[:, :stack[0]] = others[:, stack[1]:] = False
            others[:, c0:c1] &= ~first.pixels
            shift = float(np.nanmean(band[:, c0:c1][first.pixels]) - np.nanmedian(band[others]))
        shift = shift if math.isfinite(shift) else 0.0
        if shift >= 0:
            what = (f"a {size} region whose effective Z is {shift:.1f} above the {around} layer of its stack "
                    f"(metal across the beam: a box's faces, or other goods)")
        else:
            what = f"a {size} region whose effective Z is {-shift:.1f} below the {around} layer of its stack (other goods)"
    unit = "g/cm²" if first.channel == "density" else ("in α_L/α_H" if channels["material"][3] else "in Z")
    nfa = math.exp(first.log_nfa)
    more = f"; {len(kept) - 1} more" if len(kept) > 1 else ""
    score = _score(first.log_nfa, epsilon)
    result.reasons.append(Reason(
        CODE, "high" if first.log_nfa < math.log(epsilon) - math.log(100.0) else "medium",
        f"{what} (mean departure {abs(first.mean):.2g} {unit}, {abs(first.z):.1f}× the spread of same-size regions "
        f"of its stack; {nfa:.1e} expected by chance in {n_tests:,} regions tested){more}", score))
    for item in kept[:_MAX_REGIONS]:
        r0, c0, r1, c1 = item.bbox
        material = dominant_material(classes[r0:r1, c0:c1][item.pixels])
        result.regions.append(inp.region((r0 + offset_r, c0 + offset_c, r1 + offset_r, c1 + offset_c),
                                         material, _score(item.log_nfa, epsilon), CODE))
    return result


def _erode_within(mask: np.ndarray, segments: list[tuple[int, int]], blur: tuple[int, int]) -> np.ndarray:
    """``mask`` without its pixels within ``blur`` (rows, columns) of its edges or of a stack's sides."""
    inside = np.zeros_like(mask)
    for col0, col1 in segments:
        inside[:, col0 + blur[1]:max(col1 - blur[1], col0 + blur[1])] = True
    mask = mask & inside
    if blur[0] > 0 or blur[1] > 0:
        # A rectangle's erosion is separable: a running minimum along each axis.
        mask = ndimage.minimum_filter1d(mask.view(np.uint8), 2 * blur[0] + 1, axis=0, mode="nearest")
        mask = ndimage.minimum_filter1d(mask, 2 * blur[1] + 1, axis=1, mode="nearest").astype(bool)
    return mask


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _score(log_nfa: float, epsilon: float) -> float:
    """0.55 at NFA = ε, rising by 0.05 per decade below it (at most 0.97)."""
    decades = (math.log(epsilon) - log_nfa) / math.log(10.0)
    return float(min(0.97, 0.55 + 0.05 * max(decades, 0.0)))
