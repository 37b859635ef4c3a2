"""UNDECLARED_HIGH_Z: a connected high-Z object (Z_eff ≥ 57) where none is declared.

High-Z pixels (class 4) are opened by a small square to drop isolated misclassified
pixels; connected pieces of at least ``min_pixels`` pixels and ``min_area_cm2`` at the
scan plane, whose median Z_eff is at least ``min_zeff``, are reported, anywhere in the
image, unless a declared item's HS chapter is high-Z goods (lead, tungsten, gold...).
"""

from __future__ import annotations

import math

import numpy as np

from nii.classes import HIGH_Z
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import open_rect
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
    if not high_z.any():
        return result
    high_z = open_rect(high_z, 2, 2)
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
        zeff = inp.zeff[r0:r1, c0:c1][pixels]
        zeff = zeff[np.isfinite(zeff)]
        median_zeff = float(np.median(zeff)) if zeff.size else math.nan
        if count >= min_pixels and area >= min_area and median_zeff >= min_zeff:
            residual = inp.structure.residual_g_cm2 if inp.structure.found else inp.areal_g_cm2
            mass = float(np.clip(residual[r0:r1, c0:c1][pixels], 0, None).sum()) * pixel_area / 1000.0
            objects.append((area, mass, median_zeff, bbox, pixels))
        else:
            near = max(near, min(area / min_area, count / max(min_pixels, 1)))
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
    for area, mass, median_zeff, bbox, pixels in objects[:_MAX_REGIONS]:
        result.regions.append(inp.region(bbox, "high_z", min(0.99, 0.7 + 0.3 * (1.0 - math.exp(-area / (4.0 * min_area)))), CODE))
    return result
