"""DECLARED_EMPTY_NOT_EMPTY: a container declared empty holds something.

The container's own structure (walls, floor, roof) is subtracted as the per-row
profile estimated from the scan itself (:mod:`._structure_model`); the end bands
(front wall, doors) and the floor and roof bands (cross members, a 40 ft box's gooseneck
tunnel) are left out: goods stand on the floor boards. What stays above the profile by more than the
noise and a floor for dirt and dunnage, or what the beam cannot read at all, in pieces at least ``min_extent_mm`` thick in
both directions, at least ``min_area_cm2`` in area and ``min_mass_kg`` in mass, is
cargo that should not be there.
"""

from __future__ import annotations

import math

import numpy as np

from nii.inspection.checks._cargo import cargo_mask
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_declared_empty"]

CODE = "DECLARED_EMPTY_NOT_EMPTY"
_MAX_REGIONS = 5


def check_declared_empty(inp: CheckInput) -> CheckResult:
    """Raise ``DECLARED_EMPTY_NOT_EMPTY`` when a declared-empty container holds material.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.empty]``: ``min_residual_g_cm2`` (g/cm²),
        ``min_residual_sigma``, ``min_area_cm2`` (cm²), ``min_extent_mm`` (mm), ``min_mass_kg`` (kg).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    if not inp.manifest.declared_empty or not inp.structure.found:
        return result
    mask = cargo_mask(inp, inp.threshold("empty", "min_residual_g_cm2"), inp.threshold("empty", "min_residual_sigma"))
    # Where the beam is starved the noise is meaningless, but an empty container never
    # starves it (walls, floor and roof are a few g/cm² across the cargo space): an
    # unreadable pixel of the cargo space holds something dense.
    mask |= inp.unreadable
    # Goods stand on the floor: the floor band (boards, cross members, a 40 ft box's
    # gooseneck tunnel) and the roof band are structure.
    inside = np.zeros_like(mask)
    rows, cols = inp.structure.interior()
    inside[rows, cols] = mask[rows, cols]
    mask = inside
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
        mass = float(inp.structure.residual_g_cm2[r0:r1, c0:c1][pixels].sum()) * pixel_area / 1000.0
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


