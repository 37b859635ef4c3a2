"""CONCEALMENT_ANOMALY: a region that departs from the cargo of its own stack.

Goods are loaded as stacks (pallet columns) of layers: along x inside one stack a
detector row crosses the same layer of the same goods, whatever the heights and
densities of the stacks beside it. The cargo is therefore modelled stack by stack
(:func:`stack_segments`: runs of columns between the gaps that separate pallets, split
further where two stacks abut with a step in their mean or where many rows step at one
column, in several layers or through the stack's height: the side of one tall object
steps in one band of rows only, however the layers inside it break that band up; or
where nearly every row steps by more than its noise, however little: two pallets of
slightly different layers side by side), and each stack as its shape along x (flat for cartons,
a dome for reels) times each row's level relative to that shape
(:func:`stack_row_background`). The shape is the same in every layer: it is also measured
in ``shape_bands`` bands of the stack's rows, and where they disagree by more than
``min_contrast_rel`` over at least ``material_min_extent_mm`` of columns the flattest band's
is kept (a block filling over half a stack's height would otherwise be its shape). The residual above
the container's structure is compared with that model. A pixel departs when it
exceeds it by ``departure_sigma`` times its noise and the row's spread combined, by
``min_contrast_rel`` of the model and by ``min_contrast_g_cm2``; or falls below it by
``lighter_factor`` times that with cargo above and cargo or the floor below it in its
column (a void: a
hollow box displaces the goods it replaces; cigarettes are lighter than furniture);
or when its effective Z departs from the neighbourhood's (block medians of about
``block_mm`` over ``window_blocks``) by ``zeff_departure`` with a different class; or
rises above its stack row's (the same model on the Zeff map) by ``zeff_rise``: the
faces of a steel box across the beam add steel to every ray through it, which raises the
region's Z though its pixels still read organic and its density hardly changes (the
map reads each homogeneous region from its mean attenuations, so the cargo's own
variation, not pixel noise, bounds this). Dense
departures are kept as lines of at least ``min_line_pixels`` (the walls of a hollow
steel box seen edge-on are thin lines); material departures thinner than
``material_min_extent_mm`` and voids thinner than ``void_min_extent_mm`` in either
direction are edges or gaps between cartons, not objects. A void bounded left and right
by gaps between cartons (columns of the attenuation image at most ``gap_fraction`` of
the void's, within ``unit_edge_mm`` of its sides) and lighter than its row by at most
``unit_variation_rel`` is a whole carton a little lighter than its neighbours
(carton-to-carton variation), not a hollow box hidden in the goods. Connected
departures whose box covers at least ``min_area_cm2`` (with at least
``min_solid_fraction`` of it in departing pixels) and at most ``max_area_fraction`` of
the cargo, that add or displace at least ``min_mass_kg``, are reported, except thin ones
(up to ``stack_top_mm``) on the top of their stack, with fewer than ``min_line_pixels`` rows of
cargo above them (rounded or partly filled top layers; a row or two above is the layer's
blurred edge).

In cargo whose declared HS chapter is "mixed" (machinery, furniture, drums: dense
parts are normal there) the contrast, significance and area thresholds are multiplied
by ``mixed_factor``. Rows with too little cargo in a stack give no background: an object
standing alone in an empty part of the box is cargo, not a concealment.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage

from nii.classes import HIGH_Z
from nii.inspection.checks._cargo import cargo_mask
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_concealment", "local_background", "stack_row_background", "stack_segments"]

CODE = "CONCEALMENT_ANOMALY"
#: Half-distance (pixels) across which a step between two pallets is measured (edge blur).
_EDGE_LAG = 2
#: Rows: steps at one column closer than this are one band; shorter bands are noise.
_BAND_GAP = 3
#: Samples per median of the stack model (rows or columns are subsampled above this).
_MEDIAN_SAMPLES = 64
_MAX_REGIONS = 5


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """``numpy.nanmedian`` along ``axis`` by one sort (NaN sorts last): far faster on many short lines."""
    ordered = np.sort(values, axis=axis)
    count = np.isfinite(ordered).sum(axis=axis, keepdims=True)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0), axis=axis)
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0), axis=axis)
    median = np.where(count > 0, 0.5 * (low + high), np.nan)
    return np.squeeze(median, axis=axis)


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


def check_concealment(inp: CheckInput) -> CheckResult:
    """Raise ``CONCEALMENT_ANOMALY`` for regions departing from the surrounding cargo.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.concealment]`` (see the module docstring).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    structure = inp.structure
    if not structure.found or inp.manifest.declared_empty:
        return result
    mixed = inp.declares_mixed_goods()
    factor = inp.threshold("concealment", "mixed_factor") if mixed else 1.0
    scaled = ("departure_sigma", "min_contrast_rel", "min_contrast_g_cm2", "min_area_cm2", "zeff_departure", "zeff_rise")
    settings = lambda name: inp.threshold("concealment", name) * (factor if name in scaled else 1.0)  # noqa: E731
    rows, cols = structure.interior()
    residual = structure.residual_g_cm2[rows, cols]
    cargo = cargo_mask(inp, inp.threshold("empty", "min_residual_g_cm2"), inp.threshold("empty", "min_residual_sigma"))[rows, cols]
    if cargo.sum() < 64:
        return result
    block = (box_pixels(settings("block_mm"), inp.row_height_mm), box_pixels(settings("block_mm"), inp.column_pitch_mm))
    window = int(settings("window_blocks")) | 1
    # The cargo as stacks: each row of each stack is compared with itself along x.
    stack_width = box_pixels(settings("min_stack_mm"), inp.column_pitch_mm)
    sigma = inp.sigma_g_cm2[rows, cols]
    segments = stack_segments(residual, cargo, stack_width, settings("gap_fraction"), settings("step_fraction"),
                              settings("pallet_edge_fraction"), settings("min_contrast_rel"), noise=sigma,
                              through_fraction=settings("pallet_edge_through_fraction"),
                              through_sigma=settings("departure_sigma"),
                              band_gap_px=box_pixels(settings("pallet_edge_band_gap_mm"), inp.row_height_mm))
    # The stack's shape along x, checked band by band against an object over half its height.
    shape_args = (int(settings("shape_bands")), box_pixels(settings("material_min_extent_mm"), inp.column_pitch_mm),
                  settings("min_contrast_rel"))
    background, spread = stack_row_background(residual, cargo, segments, stack_width, *shape_args)
    threshold = np.maximum.reduce([
        settings("departure_sigma") * np.sqrt(sigma**2 + spread**2),
        settings("min_contrast_rel") * background,
        np.full_like(background, settings("min_contrast_g_cm2")),
    ])
    departure = residual - background
    with np.errstate(invalid="ignore"):
        dense = cargo & np.isfinite(background) & (departure > threshold)
    unreadable = inp.unreadable[rows, cols]
    dense &= ~unreadable

    # Material departure: Zeff unlike the neighbourhood's, with another class.
    zeff = inp.zeff[rows, cols]
    classes = inp.classes[rows, cols]
    readable = cargo & np.isfinite(zeff) & (classes != HIGH_Z)
    zeff_background, _ = local_background(zeff, readable, block, window, settings("min_cargo_fraction"))
    with np.errstate(invalid="ignore"):
        # Concealed goods of another material add mass; a packaging or pallet edge that
        # reads another class without adding mass is not one.
        odd_material = readable & (np.abs(zeff - zeff_background) > settings("zeff_departure")) \
            & (residual > settings("min_contrast_g_cm2")) & (departure > 0)
    odd_material &= classes != _class_of_background(zeff_background)

    # Metal across the beam: a region whose effective Z rises above its stack row's (the
    # faces of a steel box add steel to every ray through it, even where its single
    # pixels still read organic). The map reads each homogeneous region from its mean
    # attenuations, so a region's Z is measured with the noise of its mean: the cargo's
    # own variation along its row (``departure_sigma`` × the row's spread), the map's
    # own uncertainty of Z (``departure_sigma`` × ``zeff_sigma``: coarse or noisy scans
    # read Z to a few units) and the floor ``zeff_rise`` bound it.
    zeff_rise = settings("zeff_rise")
    rise = np.zeros_like(dense)
    if zeff_rise > 0:
        zeff_row, zeff_spread = stack_row_background(np.where(readable, zeff, np.nan), readable, segments, stack_width,
                                                     *shape_args)
        bound = np.maximum(zeff_rise, settings("departure_sigma") * zeff_spread)
        if inp.zeff_sigma is not None:
            bound = np.maximum(bound, settings("departure_sigma") * np.nan_to_num(inp.zeff_sigma[rows, cols], nan=np.inf))
        with np.errstate(invalid="ignore"):
            rise = readable & ~unreadable & (zeff - zeff_row > bound)
    material_extent = settings("material_min_extent_mm")
    # Thin dense lines are kept (the walls of a hollow box seen edge-on are lines); specks go.
    line = int(settings("min_line_pixels"))
    dense = open_rect(dense, 1, line) | open_rect(dense, line, 1)
    odd_material = open_rect(odd_material, box_pixels(material_extent, inp.row_height_mm),
                             box_pixels(material_extent, inp.column_pitch_mm))
    rise = open_rect(rise, box_pixels(material_extent, inp.row_height_mm), box_pixels(material_extent, inp.column_pitch_mm))
    # A void: a patch of a layer lighter than the rest of its row in the same stack, with
    # cargo above and below it in the stack (a hollow box displaces the goods it replaces).
    lighter_factor = settings("lighter_factor")
    void = np.zeros_like(dense)
    if lighter_factor > 0:
        with np.errstate(invalid="ignore"):
            void = np.isfinite(background) & (-departure > lighter_factor * threshold) & ~unreadable
        void = _enclosed_vertically(void, cargo)
        void_extent = settings("void_min_extent_mm")
        void = open_rect(void, box_pixels(void_extent, inp.row_height_mm), box_pixels(void_extent, inp.column_pitch_mm))
    candidates = dense | odd_material | void | rise
    min_area = settings("min_area_cm2")
    min_solid = inp.threshold("concealment", "min_solid_fraction")
    cargo_area = float(cargo.sum()) * inp.pixel_area_cm2
    max_area = settings("max_area_fraction") * cargo_area
    # The gaps between packing units (cartons) read on the attenuation image: the
    # material map reads each homogeneous region from its mean, which fills them in.
    attenuation = None if inp.attenuation_high is None else np.asarray(inp.attenuation_high)[rows, cols]
    unit_edge = box_pixels(settings("unit_edge_mm"), inp.column_pitch_mm)
    found: list[tuple[float, float, float, bool | None, tuple[int, int, int, int], np.ndarray]] = []
    near = 0.0
    for bbox, pixels in components(candidates):
        r0, c0, r1, c1 = bbox
        # The area a departure encloses: its box (the walls of a hollow box are lines).
        area = float((r1 - r0) * (c1 - c0)) * inp.pixel_area_cm2
        solid = float(pixels.sum()) * inp.pixel_area_cm2
        if area < min_area or solid < min_solid * min_area or area > max_area:
            near = max(near, min(area / min_area, 0.99)) if area < min_area else near
            continue
        if _on_stack_top(bbox, pixels, cargo & ~candidates, line) and (r1 - r0) * inp.row_height_mm <= settings("stack_top_mm"):
            # The top layer of a stack, where reels and bags are rounded and the top row
            # only partly filled: compared with its own row it always departs.
            continue
        excess = departure[r0:r1, c0:c1][pixels]
        limit = threshold[r0:r1, c0:c1][pixels]
        contrast = float(np.nanmean(excess / limit)) if np.isfinite(limit).any() else 1.0
        mass = float(np.clip(excess, 0, None).sum()) * inp.pixel_area_cm2 / 1000.0
        is_dense: bool | None = bool(dense[r0:r1, c0:c1][pixels].mean() >= 0.5)
        if void[r0:r1, c0:c1][pixels].mean() >= 0.5:
            is_dense = None
            mass = float(np.clip(-excess, 0, None).sum()) * inp.pixel_area_cm2 / 1000.0
            contrast = float(np.nanmean(-excess / limit)) if np.isfinite(limit).any() else 1.0
            if _packing_unit_variation(bbox, pixels, departure, background, attenuation, unit_edge,
                                       settings("gap_fraction"), settings("unit_variation_rel")):
                # A whole carton lighter than its neighbours: carton-to-carton variation.
                continue
        elif rise[r0:r1, c0:c1][pixels].mean() >= 0.5:
            # Metal across the beam: its mass is not a density departure (a hollow box
            # displaces about what its steel adds); the region's extent and area decide.
            is_dense = False
            contrast = float(np.nanmean((zeff - zeff_row)[r0:r1, c0:c1][pixels])) / zeff_rise
            mass = math.nan
        if mass < settings("min_mass_kg"):
            near = max(near, min(mass / settings("min_mass_kg"), 0.99))
            continue
        found.append((area, mass, contrast, is_dense, bbox, pixels))
    if not found:
        result.near_miss = near
        return result
    found.sort(key=lambda item: -item[0] * max(item[2], 1.0))
    offset_r, offset_c = rows.start, cols.start
    area, mass, contrast, is_dense, bbox, pixels = found[0]
    r0, c0, r1, c1 = bbox
    material = dominant_material(classes[r0:r1, c0:c1][pixels])
    around = dominant_material(classes[max(r0 - block[0], 0):r1 + block[0], max(c0 - block[1], 0):c1 + block[1]][
        cargo[max(r0 - block[0], 0):r1 + block[0], max(c0 - block[1], 0):c1 + block[1]]])
    size = f"{(c1 - c0) * inp.column_pitch_mm / 10:.0f} × {(r1 - r0) * inp.row_height_mm / 10:.0f} cm"
    if is_dense is None:
        what = f"a {size} region about {mass:,.0f} kg lighter than the {around} layer it sits in (a void or a hollow container)"
    elif not math.isfinite(mass):
        what = (f"a {size} region whose effective Z is {contrast * settings('zeff_rise'):.1f} above the {around} "
                f"layer it sits in (metal across the beam: a box's faces)")
    elif is_dense:
        what = f"a {size} {material} region about {mass:,.0f} kg denser than the {around} cargo around it"
    else:
        what = f"a {size} {material} region inside {around} cargo"
    more = f"; {len(found) - 1} more" if len(found) > 1 else ""
    score = _score(area, contrast, min_area)
    result.reasons.append(Reason(CODE, "high" if score >= 0.8 else "medium",
                                 f"{what} (contrast {contrast:.1f}× the local threshold){more}", score))
    for area, _mass, contrast, _dense, bbox, pixels in found[:_MAX_REGIONS]:
        r0, c0, r1, c1 = bbox
        material = dominant_material(classes[r0:r1, c0:c1][pixels])
        result.regions.append(inp.region((r0 + offset_r, c0 + offset_c, r1 + offset_r, c1 + offset_c),
                                         material, _score(area, contrast, min_area), CODE))
    return result


def _packing_unit_variation(bbox: tuple[int, int, int, int], pixels: np.ndarray, departure: np.ndarray,
                            background: np.ndarray, attenuation: np.ndarray | None, edge_px: int,
                            gap_fraction: float, variation_rel: float) -> bool:
    """Whether a void is one whole packing unit a little lighter than its neighbours.

    Cartons of one good differ in density from one to the next (filling, moisture,
    packing): a carton lighter than the rest of its row is bounded left and right by the
    gaps that separate it from its neighbours, and its deficit is within that variation.
    A hollow box hidden in the goods is not bounded by the cartons' gaps, and one that
    replaces a whole carton displaces far more than the variation between cartons.

    Parameters
    ----------
    bbox : tuple of int
        The void's box (row0, col0, row1, col1) in the interior.
    pixels : numpy.ndarray of bool
        Its pixels within the box.
    departure, background : numpy.ndarray
        Residual minus its stack-row model, and the model (g/cm², interior).
    attenuation : numpy.ndarray or None
        Attenuation image of the interior (None: the rule does not apply).
    edge_px : int
        A gap within this many columns of the void's side bounds it.
    gap_fraction : float
        A gap: a column whose median attenuation over the void's rows is at most this
        share of the void's own median (the gap holds only the container's walls).
    variation_rel : float
        Largest deficit, relative to the row's model, that carton-to-carton variation gives.

    Returns
    -------
    bool
    """
    r0, c0, r1, c1 = bbox
    if attenuation is None or variation_rel <= 0 or c1 - c0 <= 2 * edge_px + 2:
        return False
    with np.errstate(invalid="ignore", divide="ignore"):
        deficit = float(np.nansum(-departure[r0:r1, c0:c1][pixels]) / np.nansum(background[r0:r1, c0:c1][pixels]))
    if not (np.isfinite(deficit) and deficit <= variation_rel):
        return False
    lo, hi = max(c0 - edge_px, 0), min(c1 + edge_px, attenuation.shape[1])
    step = max(1, (r1 - r0) // _MEDIAN_SAMPLES)
    profile = _nanmedian(attenuation[r0:r1:step, lo:hi], axis=0)
    inside = float(np.nanmedian(profile[c0 + edge_px - lo:c1 - edge_px - lo]))
    if not inside > 0:
        return False
    left = profile[:c0 + edge_px + 1 - lo]
    right = profile[c1 - 1 - edge_px - lo:]
    return bool(np.nanmin(left) <= gap_fraction * inside and np.nanmin(right) <= gap_fraction * inside)


def _on_stack_top(bbox: tuple[int, int, int, int], pixels: np.ndarray, cargo: np.ndarray, min_rows: int = 1) -> bool:
    """Whether most columns of a component have no cargo above it (it is the top of its stack).

    Fewer than ``min_rows`` rows of cargo above it are the blurred edge of the same
    layer, not goods stacked on it.
    """
    r0, c0, r1, c1 = bbox
    if r0 == 0:
        return True
    columns = pixels.any(axis=0)
    covered = cargo[:r0, c0:c1].sum(axis=0) >= max(int(min_rows), 1)
    return bool(np.mean(~covered[columns]) >= 0.5) if columns.any() else False


def _enclosed_vertically(mask: np.ndarray, cargo: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with cargo above them and cargo or the floor below, in their column.

    The interior's last row stands on the floor: a lighter patch that reaches down to it
    under goods bears them as a layer between goods would (a hollow box on the floor).
    """
    support = cargo & ~mask
    above = np.maximum.accumulate(support, axis=0)
    support = support.copy()
    support[-1] = True
    below = np.maximum.accumulate(support[::-1], axis=0)[::-1]
    return mask & above & below


def _class_of_background(zeff_background: np.ndarray) -> np.ndarray:
    from nii.classes import class_of_zeff

    return class_of_zeff(zeff_background)


def _score(area_cm2: float, contrast: float, min_area_cm2: float) -> float:
    strength = 0.25 * math.log2(max(contrast, 1.0)) + 0.1 * math.log2(max(area_cm2 / min_area_cm2, 1.0))
    return float(min(0.97, 0.55 + strength))


