"""DECLARED_EMPTY_NOT_EMPTY: a container declared empty holds something.

Null hypothesis: the cargo space (between the end bands, roof band to floor band)
holds nothing but the container, whose image is a level per row plus the side walls'
periodic corrugation, both measured from this scan
(:func:`._container_profile.measure_container_profile`) with no make assumed, plus
noise: the photon noise of the attenuation map and the model's own residual spread,
measured on the residual. The test runs on the high-energy attenuation (unsmoothed,
with its per-pixel noise), in g/cm² through the map's own attenuation-to-areal-density
ratio on the cargo space.

Departures counted as goods:

* pixels above the model by more than ``min_residual_sigma`` of that noise and a floor
  for dirt and dunnage (``min_residual_g_cm2``), or pixels the beam cannot read;
* rows whose level stands above the side walls' (the median row level, at most the
  level read on headroom rows and between stacks) in a run that is taller than
  ``transition_mm`` (and one row) or does not touch the roof or floor band: goods
  loaded along most of the length raise whole rows. A shorter run against a band is
  the band's edge: its members covering part of a row.

Pieces at least ``min_extent_mm`` thick both ways, ``min_area_cm2`` in area and
``min_mass_kg`` in mass are cargo that should not be there.
"""

from __future__ import annotations

import math

import numpy as np

from nii.inspection.checks._container_profile import ContainerProfile, measure_container_profile
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_declared_empty", "empty_residual"]

CODE = "DECLARED_EMPTY_NOT_EMPTY"
_MAX_REGIONS = 5


def _measured_areal(inp: CheckInput) -> tuple[np.ndarray, np.ndarray]:
    """Areal density (g/cm²) and its noise from the high-energy attenuation.

    The map's areal density is smoothed over regions; the attenuation keeps every
    pixel's own value and noise. Their ratio on the cargo space converts one to the
    other. Without the attenuation noise the map is used as it is.
    """
    alpha, sigma_alpha = inp.attenuation_high, inp.sigma_attenuation_high
    if alpha is None or sigma_alpha is None:
        return inp.areal_g_cm2, inp.sigma_g_cm2
    rows, cols = inp.structure.interior()
    a = np.asarray(alpha[rows, cols], dtype=np.float64)
    m = np.asarray(inp.areal_g_cm2[rows, cols], dtype=np.float64)
    valid = np.isfinite(a) & np.isfinite(m) & (a > 1e-3)
    if not valid.any():
        return inp.areal_g_cm2, inp.sigma_g_cm2
    conversion = float(np.median(m[valid] / a[valid]))
    areal = np.where(np.isfinite(alpha), alpha * conversion, inp.areal_g_cm2)
    sigma = np.where(np.isfinite(sigma_alpha), np.abs(sigma_alpha) * conversion, np.inf)
    return areal.astype(np.float32), sigma.astype(np.float32)


def _goods_rows(inp: CheckInput, profile: ContainerProfile, walls_g_cm2: float) -> np.ndarray:
    """Per interior row, the level above the side walls that goods explain (g/cm²)."""
    excess = profile.level_g_cm2.astype(np.float64) - walls_g_cm2
    floor_g_cm2 = inp.threshold("empty", "min_residual_g_cm2")
    k = inp.threshold("empty", "min_residual_sigma")
    raised = excess > np.maximum(floor_g_cm2, k * profile.level_sigma_g_cm2)
    goods = np.zeros_like(excess)
    # The bands' edges are known to a row: one row, or transition_mm, whichever is more.
    transition = max(1, int(math.floor(inp.threshold("empty", "transition_mm") / inp.row_height_mm)))
    start = 0
    while start < raised.size:
        if not raised[start]:
            start += 1
            continue
        stop = start
        while stop < raised.size and raised[stop]:
            stop += 1
        against_band = start == 0 or stop == raised.size
        if not (against_band and stop - start <= transition):
            goods[start:stop] = excess[start:stop]
        start = stop
    return goods


def empty_residual(inp: CheckInput) -> tuple[np.ndarray, np.ndarray, ContainerProfile]:
    """What the cargo space holds beyond the empty container, with its noise.

    Parameters
    ----------
    inp : CheckInput

    Returns
    -------
    residual : numpy.ndarray
        Areal density above the empty container's model (g/cm², interior rows ×
        interior columns).
    noise : numpy.ndarray
        Its standard deviation (g/cm²): photon noise and the model's spread.
    profile : ContainerProfile
    """
    areal, sigma = _measured_areal(inp)
    rows, cols = inp.structure.interior()
    profile = measure_container_profile(
        areal, sigma, inp.structure.interior_rows, inp.structure.interior_cols, column_pitch_mm=inp.column_pitch_mm
    )
    # The side walls alone: the median row level of an empty box, but never above the
    # level read on headroom rows and between stacks (goods higher than half the box
    # would otherwise set it).
    walls = float(np.median(profile.level_g_cm2)) if profile.level_g_cm2.size else 0.0
    walls = min(walls, float(inp.structure.wall_g_cm2))
    residual = areal[rows, cols] - profile.expected() + _goods_rows(inp, profile, walls)[:, None]
    noise = np.sqrt(np.square(sigma[rows, cols]) + profile.model_sigma_g_cm2**2)
    return residual.astype(np.float32), noise.astype(np.float32), profile


def check_declared_empty(inp: CheckInput) -> CheckResult:
    """Raise ``DECLARED_EMPTY_NOT_EMPTY`` when a declared-empty container holds material.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.empty]``: ``min_residual_g_cm2`` (g/cm²),
        ``min_residual_sigma``, ``transition_mm`` (mm), ``min_area_cm2`` (cm²),
        ``min_extent_mm`` (mm), ``min_mass_kg`` (kg).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    if not inp.manifest.declared_empty or not inp.structure.found:
        return result
    rows, cols = inp.structure.interior()
    residual_inside, noise, _profile = empty_residual(inp)
    floor_g_cm2 = inp.threshold("empty", "min_residual_g_cm2")
    k = inp.threshold("empty", "min_residual_sigma")
    mask = np.zeros(inp.areal_g_cm2.shape, bool)
    residual = np.zeros(inp.areal_g_cm2.shape, np.float32)
    residual[rows, cols] = residual_inside
    # Where the beam is starved the noise is meaningless, but an empty container never
    # starves it (walls, floor and roof are a few g/cm² across the cargo space): an
    # unreadable pixel of the cargo space holds something dense.
    mask[rows, cols] = (residual_inside > np.maximum(floor_g_cm2, k * noise)) | inp.unreadable[rows, cols]
    extent = inp.threshold("empty", "min_extent_mm")
    solid = open_rect(mask, box_pixels(extent, inp.row_height_mm), box_pixels(extent, inp.column_pitch_mm))
    min_area = inp.threshold("empty", "min_area_cm2")
    min_mass = inp.threshold("empty", "min_mass_kg")
    pixel_area = inp.pixel_area_cm2
    found = []
    near = 0.0
    for bbox, pixels in components(solid):
        r0, c0, r1, c1 = bbox
        area = float(pixels.sum()) * pixel_area
        mass = float(np.maximum(residual[r0:r1, c0:c1][pixels], 0.0).sum()) * pixel_area / 1000.0
        if area >= min_area and mass >= min_mass:
            found.append((mass, area, bbox, pixels))
        else:
            near = max(near, min(area / min_area, mass / min_mass))
    if not found:
        result.near_miss = min(near, 0.99)
        return result
    found.sort(key=lambda item: -item[0])
    total_mass = sum(item[0] for item in found)
    total_area_m2 = sum(item[1] for item in found) / 1e4
    mass, _, bbox, pixels = found[0]
    r0, c0, r1, c1 = bbox
    material = dominant_material(inp.classes[r0:r1, c0:c1][pixels])
    height_m = (r1 - r0) * inp.row_height_mm / 1000.0
    length_m = (c1 - c0) * inp.column_pitch_mm / 1000.0
    score = min(0.99, 0.6 + 0.4 * (1.0 - math.exp(-total_mass / (20.0 * min_mass))))
    pieces = f"in {len(found)} places" if len(found) > 1 else "in one place"
    # The areal density of an unreadable pixel is a lower bound: so is the mass.
    bound = "at least" if any(
        inp.unreadable[b[0]:b[2], b[1]:b[3]][p].any() for _m, _a, b, p in found
    ) else "about"
    result.reasons.append(Reason(
        CODE, "high" if total_mass >= 10 * min_mass else "medium",
        f"declared empty but holds {bound} {total_mass:,.0f} kg of material over {total_area_m2:.2f} m² "
        f"{pieces} (largest: {material}, {length_m:.1f} m long × {height_m:.1f} m high, about {mass:,.0f} kg)",
        score,
    ))
    for mass, _area, bbox, pixels in found[:_MAX_REGIONS]:
        r0, c0, r1, c1 = bbox
        region_score = min(0.99, 0.6 + 0.4 * (1.0 - math.exp(-mass / (20.0 * min_mass))))
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[r0:r1, c0:c1][pixels]), region_score, CODE))
    return result


