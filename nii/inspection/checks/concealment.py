"""CONCEALMENT_ANOMALY: a region that departs from the cargo around it.

Concealed goods in uniform cargo show as a patch whose areal density (or material)
stands out from its surroundings. The local background is estimated with robust
statistics on blocks of about ``block_mm``: the median excess areal density (above
the container's structure) of the cargo pixels in each block, then the median and the
median absolute deviation of those block values over a ``window_blocks`` neighbourhood.
A pixel departs when it exceeds the background by ``departure_sigma`` times its noise
and the local spread combined, by ``min_contrast_rel`` of the background and by
``min_contrast_g_cm2``; or when its effective Z departs from the neighbourhood's by
``zeff_departure`` with a different material class. The spread is capped at twice its
median over the cargo, since an object inflates the spread of its own neighbourhood. Dense departures are kept as lines
of at least ``min_line_pixels`` (the walls of a hollow steel box seen edge-on are thin
lines); material departures thinner than ``material_min_extent_mm`` in either
direction are interlacing edges, not objects, and are dropped. Connected departures
whose box covers at least ``min_area_cm2`` (with at least ``min_solid_fraction`` of it
in departing pixels) and at most ``max_area_fraction`` of the cargo are reported.

In cargo whose declared HS chapter is "mixed" (machinery, furniture, drums: dense
parts are normal there) the contrast, significance and area thresholds are multiplied
by ``mixed_factor``. Blocks with too little cargo give no background: an object
standing alone in an empty part of the box is cargo, not a concealment.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from nii.classes import HIGH_Z
from nii.inspection.checks._cargo import cargo_mask
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_concealment", "local_background"]

CODE = "CONCEALMENT_ANOMALY"
_MAX_REGIONS = 5


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
    mixed = _mixed_cargo(inp)
    factor = inp.threshold("concealment", "mixed_factor") if mixed else 1.0
    scaled = ("departure_sigma", "min_contrast_rel", "min_contrast_g_cm2", "min_area_cm2", "zeff_departure")
    settings = lambda name: inp.threshold("concealment", name) * (factor if name in scaled else 1.0)  # noqa: E731
    rows, cols = structure.interior()
    residual = structure.residual_g_cm2[rows, cols]
    cargo = cargo_mask(inp, inp.threshold("empty", "min_residual_g_cm2"), inp.threshold("empty", "min_residual_sigma"))[rows, cols]
    if cargo.sum() < 64:
        return result
    block = (box_pixels(settings("block_mm"), inp.row_height_mm), box_pixels(settings("block_mm"), inp.column_pitch_mm))
    window = int(settings("window_blocks")) | 1
    background, spread = local_background(residual, cargo, block, window, settings("min_cargo_fraction"))
    # An object inflates the spread of its own neighbourhood: cap it at twice the cargo's typical.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = float(np.nanmedian(spread)) if np.isfinite(spread).any() else 0.0
    spread = np.minimum(spread, 2.0 * typical)
    sigma = inp.sigma_g_cm2[rows, cols]
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

    material_extent = settings("material_min_extent_mm")
    # Thin dense lines are kept (the walls of a hollow box seen edge-on are lines); specks go.
    line = int(settings("min_line_pixels"))
    dense = open_rect(dense, 1, line) | open_rect(dense, line, 1)
    odd_material = open_rect(odd_material, box_pixels(material_extent, inp.row_height_mm),
                             box_pixels(material_extent, inp.column_pitch_mm))
    candidates = dense | odd_material
    min_area = settings("min_area_cm2")
    min_solid = inp.threshold("concealment", "min_solid_fraction")
    cargo_area = float(cargo.sum()) * inp.pixel_area_cm2
    max_area = settings("max_area_fraction") * cargo_area
    found = []
    near = 0.0
    for bbox, pixels in components(candidates):
        r0, c0, r1, c1 = bbox
        # The area a departure encloses: its box (the walls of a hollow box are lines).
        area = float((r1 - r0) * (c1 - c0)) * inp.pixel_area_cm2
        solid = float(pixels.sum()) * inp.pixel_area_cm2
        if area < min_area or solid < min_solid * min_area or area > max_area:
            near = max(near, min(area / min_area, 0.99)) if area < min_area else near
            continue
        excess = departure[r0:r1, c0:c1][pixels]
        limit = threshold[r0:r1, c0:c1][pixels]
        contrast = float(np.nanmean(excess / limit)) if np.isfinite(limit).any() else 1.0
        mass = float(np.clip(excess, 0, None).sum()) * inp.pixel_area_cm2 / 1000.0
        is_dense = bool(dense[r0:r1, c0:c1][pixels].mean() >= 0.5)
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
    if is_dense:
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


def _mixed_cargo(inp: CheckInput) -> bool:
    """Whether any declared item's chapter is "mixed" cargo, where dense parts are normal."""
    for item in inp.manifest.items:
        expectation = inp.table.get(item.hs_code)
        if expectation is not None and expectation.uniformity == "mixed":
            return True
    return False


def _class_of_background(zeff_background: np.ndarray) -> np.ndarray:
    from nii.classes import class_of_zeff

    return class_of_zeff(zeff_background)


def _score(area_cm2: float, contrast: float, min_area_cm2: float) -> float:
    strength = 0.25 * math.log2(max(contrast, 1.0)) + 0.1 * math.log2(max(area_cm2 / min_area_cm2, 1.0))
    return float(min(0.97, 0.55 + strength))


