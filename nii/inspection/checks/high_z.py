"""UNDECLARED_HIGH_Z: a connected high-Z object (Z_eff ≥ 57) where none is declared.

High-Z pixels (class 4) of the cargo space (the container's own ends, floor and roof are
thick steel seen edge-on, where Z_eff is least reliable; without a container, the whole
image) are opened by a rectangle of ``min_extent_mm`` (at least two pixels where the
pixels are small), after adding the impenetrable pixels that touch them (a thick high-Z
object is impenetrable at its core), to drop isolated misclassified pixels and the thin lines of false
high Z_eff that interlacing leaves along sharp vertical edges. Connected
pieces of at least ``min_pixels`` pixels and ``min_area_cm2`` at the scan plane, whose
median Z_eff is at least ``min_zeff`` and whose areal density stands ``min_excess_g_cm2``
above the strips of ``ring_mm`` on both sides (a high-Z object adds mass to what surrounds
it; the edge of a stack of goods, where interlacing can fake a high Z_eff, stands above
its empty side only), are reported, unless a declared
item's HS chapter is high-Z goods (lead, tungsten, gold...).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from nii.classes import HIGH_Z
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_high_z"]

CODE = "UNDECLARED_HIGH_Z"
_MAX_REGIONS = 5


def _declared_high_z(inp: CheckInput) -> list[str]:
    chapters = []
    for item in inp.manifest.items:
        expectation = inp.table.get(item.hs_code)
        if expectation is not None and expectation.high_z_expected:
            chapters.append(item.chapter)
    return chapters


def _excess_over_ring(areal: np.ndarray, bbox: tuple[int, int, int, int], pixels: np.ndarray,
                      ring_rows: int, ring_cols: int) -> float:
    """Median areal density (g/cm²) of a component minus the heavier of its two sides.

    The sides are the strips ``ring_cols`` wide left and right of its box. An object adds
    mass to whatever surrounds it, so it stands above both; the edge of a stack of goods,
    where interlacing can fake a high Z_eff, stands above the empty side only.
    """
    r0, c0, r1, c1 = bbox
    value = float(np.median(areal[r0:r1, c0:c1][pixels]))
    sides = []
    if c0 > 0:
        sides.append(float(np.median(areal[r0:r1, max(c0 - ring_cols, 0):c0])))
    if c1 < areal.shape[1]:
        sides.append(float(np.median(areal[r0:r1, c1:c1 + ring_cols])))
    if not sides:
        return float("inf")
    return value - max(sides)


def check_high_z(inp: CheckInput) -> CheckResult:
    """Raise ``UNDECLARED_HIGH_Z`` for high-Z objects the manifest does not explain.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.high_z]``: ``min_area_cm2`` (cm²), ``min_pixels``,
        ``min_zeff`` (effective atomic number).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    high_z = inp.classes == HIGH_Z
    structure = inp.structure
    if structure.found:
        # The container's own ends, floor and roof are thick steel seen edge-on, where
        # dual-energy Z_eff is least reliable; the search covers the cargo space.
        rows, cols = structure.interior()
        inside = np.zeros_like(high_z)
        inside[rows, cols] = high_z[rows, cols]
        high_z = inside
    if not high_z.any():
        return result
    extent = inp.threshold("high_z", "min_extent_mm")
    # A thick high-Z object is impenetrable at its core: impenetrable pixels touching
    # high-Z ones belong to the same object.
    hit_rows = np.flatnonzero(high_z.any(axis=1))
    hit_cols = np.flatnonzero(high_z.any(axis=0))
    margin = 3
    r0, r1 = max(hit_rows[0] - margin, 0), hit_rows[-1] + margin + 1
    c0, c1 = max(hit_cols[0] - margin, 0), hit_cols[-1] + margin + 1
    window = high_z[r0:r1, c0:c1]
    core = inp.unreadable[r0:r1, c0:c1] & ndimage.binary_dilation(window, iterations=2)
    if structure.found:
        rows, cols = structure.interior()
        allowed = np.zeros(high_z.shape, bool)
        allowed[rows, cols] = True
        core &= allowed[r0:r1, c0:c1]
    high_z = np.zeros_like(high_z)
    high_z[r0:r1, c0:c1] = open_rect(
        window | core,
        max(2, box_pixels(extent, inp.row_height_mm)) if inp.row_height_mm < extent / 2 else 1,
        max(2, box_pixels(extent, inp.column_pitch_mm)) if inp.column_pitch_mm < extent / 2 else 1,
    )
    ring_rows = box_pixels(inp.threshold("high_z", "ring_mm"), inp.row_height_mm)
    ring_cols = box_pixels(inp.threshold("high_z", "ring_mm"), inp.column_pitch_mm)
    min_excess = inp.threshold("high_z", "min_excess_g_cm2")
    min_area = inp.threshold("high_z", "min_area_cm2")
    min_pixels = int(inp.threshold("high_z", "min_pixels"))
    min_zeff = inp.threshold("high_z", "min_zeff")
    pixel_area = inp.pixel_area_cm2
    objects = []
    near = 0.0
    for bbox, pixels in components(high_z, min_pixels=1):
        r0, c0, r1, c1 = bbox
        count = int(pixels.sum())
        area = count * pixel_area
        zeff = inp.zeff[r0:r1, c0:c1][pixels & (inp.classes[r0:r1, c0:c1] == HIGH_Z)]
        zeff = zeff[np.isfinite(zeff)]
        median_zeff = float(np.median(zeff)) if zeff.size else math.nan
        excess = _excess_over_ring(inp.areal_g_cm2, bbox, pixels, ring_rows, ring_cols)
        if count >= min_pixels and area >= min_area and median_zeff >= min_zeff and excess >= min_excess:
            residual = inp.structure.residual_g_cm2 if inp.structure.found else inp.areal_g_cm2
            mass = float(np.clip(residual[r0:r1, c0:c1][pixels], 0, None).sum()) * pixel_area / 1000.0
            objects.append((area, mass, median_zeff, bbox, pixels))
        else:
            size = min(area / min_area, count / max(min_pixels, 1))
            if median_zeff >= min_zeff:
                # How close it came: on size when it adds mass, on mass when it is big enough.
                near = max(near, size if excess >= min_excess else min(size, max(excess, 0.0) / min_excess))
    if not objects:
        result.near_miss = min(near, 0.99)
        return result
    declared = _declared_high_z(inp)
    if declared:
        result.warnings.append(
            f"{len(objects)} high-Z object(s) seen; not raised because HS chapter(s) "
            f"{', '.join(sorted(set(declared)))} are declared high-Z goods"
        )
        result.near_miss = 0.9
        return result
    objects.sort(key=lambda item: -item[0])
    area, mass, median_zeff, bbox, pixels = objects[0]
    r0, c0, r1, c1 = bbox
    margin = 6
    around = inp.classes[max(r0 - margin, 0):r1 + margin, max(c0 - margin, 0):c1 + margin]
    others = around[(around != HIGH_Z)]
    surrounding = dominant_material(others) if others.size else "none"
    where = "in an empty part of the image" if surrounding == "none" else f"inside {surrounding} cargo"
    height_cm = (r1 - r0) * inp.row_height_mm / 10.0
    length_cm = (c1 - c0) * inp.column_pitch_mm / 10.0
    score = min(0.99, 0.7 + 0.3 * (1.0 - math.exp(-area / (4.0 * min_area))))
    more = f"; {len(objects) - 1} more" if len(objects) > 1 else ""
    result.reasons.append(Reason(
        CODE, "high",
        f"dense high-Z object (Zeff ≈ {median_zeff:.0f}, about {mass:,.0f} kg iron-equivalent, "
        f"{length_cm:.0f} × {height_cm:.0f} cm) {where}{more}",
        score,
    ))
    for area, _mass, _zeff, bbox, _pixels in objects[:_MAX_REGIONS]:
        result.regions.append(inp.region(bbox, "high_z", min(0.99, 0.7 + 0.3 * (1.0 - math.exp(-area / (4.0 * min_area)))), CODE))
    return result
