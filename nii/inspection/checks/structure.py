"""STRUCTURE_ANOMALY: walls, floor, roof, doors or ends unlike the container type's.

Three tests on the container's structure (:mod:`._structure_model`):

* **floor and roof** — the mean areal density over the floor band, per column, must
  stay within ``floor_excess_rel`` (and ``floor_excess_g_cm2``) of its median along the
  container over any stretch longer than ``min_length_mm`` (a false floor is a local
  thickening);
* **false floor** — a thin horizontal layer within ``floor_zone_mm`` above the floor
  boards that stands ``plate_g_cm2_mm`` (areal density × height) above the rows either
  side of it over ``plate_min_length_mm`` (a steel plate across the width over a cavity);
* **false wall** — a thin vertical slab (at most ``false_wall_max_mm`` long) that fills
  at least ``false_wall_fill`` of the interior height and stands ``false_wall_g_cm2``
  above the columns either side of it;
* **against the model** — when the container type carries a structure description,
  the side walls, floor band and end bands must not exceed the model's areal density
  by more than ``model_excess_rel``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from nii.inspection.checks._context import CheckInput, CheckResult, dominant_material
from nii.inspection.checks._morphology import box_pixels
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_structure"]

CODE = "STRUCTURE_ANOMALY"


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], np.asarray(flags, bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _band_excess(inp: CheckInput, band: tuple[int, int], name: str, result: CheckResult, near: list[float]) -> None:
    structure = inp.structure
    b0, b1 = band
    c0, c1 = structure.interior_cols
    if b1 <= b0 or c1 - c0 < 8:
        return
    profile = inp.areal_g_cm2[b0:b1, c0:c1].mean(axis=0)
    median = float(np.median(profile))
    limit = max(inp.threshold("structure_anomaly", "floor_excess_rel") * median,
                inp.threshold("structure_anomaly", "floor_excess_g_cm2"))
    min_length = box_pixels(inp.threshold("structure_anomaly", "min_length_mm"), inp.column_pitch_mm)
    smoothed = ndimage.uniform_filter1d(profile, size=max(3, min_length // 4))
    excess = smoothed - median
    near.append(float(np.max(excess)) / limit if excess.size else 0.0)
    for start, stop in _runs(excess > limit):
        if stop - start < min_length:
            continue
        mean_excess = float(excess[start:stop].mean())
        length_m = (stop - start) * inp.column_pitch_mm / 1000.0
        score = min(0.95, 0.55 + 0.4 * (1.0 - math.exp(-(mean_excess / limit - 1.0))))
        result.reasons.append(Reason(
            CODE, "high",
            f"the {name} is {mean_excess:.0f} g/cm² heavier than along the rest of the container "
            f"over {length_m:.1f} m (median {median:.0f} g/cm²): a false or thickened {name}?",
            score,
        ))
        bbox = (b0, c0 + start, b1, c0 + stop)
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[b0:b1, c0 + start:c0 + stop]), score, CODE))


def _false_wall(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    structure = inp.structure
    r0, r1 = structure.interior_rows
    c0, c1 = structure.interior_cols
    if r1 - r0 < 8 or c1 - c0 < 16:
        return
    residual = structure.residual_g_cm2[r0:r1, c0:c1]
    slab = inp.threshold("structure_anomaly", "false_wall_g_cm2")
    max_width = box_pixels(inp.threshold("structure_anomaly", "false_wall_max_mm"), inp.column_pitch_mm)
    column_mean = residual.mean(axis=0)
    # Local level either side: the median over a window five slab-widths wide.
    side = ndimage.median_filter(column_mean, size=5 * max_width + 1, mode="nearest")
    fill = (residual > slab).mean(axis=0)
    candidate = (column_mean - side > slab) & (fill >= inp.threshold("structure_anomaly", "false_wall_fill"))
    near.append(float(np.max((column_mean - side) / slab)) * float(np.max(fill)) if column_mean.size else 0.0)
    for start, stop in _runs(candidate):
        if stop - start > max_width:
            continue
        excess = float((column_mean - side)[start:stop].mean())
        score = min(0.95, 0.6 + 0.35 * (1.0 - math.exp(-(excess / slab - 1.0))))
        result.reasons.append(Reason(
            CODE, "high",
            f"a full-height slab {(stop - start) * inp.column_pitch_mm:.0f} mm thick at x ≈ "
            f"{inp.position_mm[c0 + start] / 1000:.2f} m stands {excess:.0f} g/cm² above the cargo "
            "either side: a false wall?",
            score,
        ))
        bbox = (r0, c0 + start, r1, c0 + stop)
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[r0:r1, c0 + start:c0 + stop]), score, CODE))


def _false_floor(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    """A thin, very heavy horizontal layer just above the floor: a plate over a cavity."""
    structure = inp.structure
    f0 = structure.floor_rows[0]
    c0, c1 = structure.interior_cols
    row_h = inp.row_height_mm
    zone = box_pixels(inp.threshold("structure_anomaly", "floor_zone_mm"), row_h)
    z0, z1 = max(structure.interior_rows[0], f0 - zone), f0 - 1  # the boards' row stays out
    if z1 - z0 < 3 or c1 - c0 < 8:
        return
    layer_rows = max(1, int(round(12.0 / row_h)))   # a plate of up to ~12 mm
    gap = max(1, int(np.ceil(40.0 / row_h)))        # rows either side it is compared with
    values = ndimage.uniform_filter1d(inp.areal_g_cm2[z0 - gap:z1 + gap, c0:c1], size=layer_rows, axis=0, mode="nearest")
    centre = values[gap:-gap]
    sides = np.maximum(values[: -2 * gap], values[2 * gap:])
    spike = (centre - sides).max(axis=0) * layer_rows * row_h     # g/cm² × mm
    limit = inp.threshold("structure_anomaly", "plate_g_cm2_mm")
    min_length = box_pixels(inp.threshold("structure_anomaly", "plate_min_length_mm"), inp.column_pitch_mm)
    smoothed = ndimage.median_filter(spike, size=max(3, box_pixels(100.0, inp.column_pitch_mm)), mode="nearest")
    near.append(float(smoothed.max()) / limit)
    width_cm = float(inp.manifest.container.structure.get("internal_mm", [0, inp.manifest.container.width_mm])[1]) / 10.0
    for start, stop in _runs(smoothed > limit):
        if stop - start < min_length:
            continue
        layer = float(np.median(spike[start:stop]))
        steel_mm = layer / (7.85 * width_cm) if width_cm > 0 else float("nan")
        score = min(0.95, 0.6 + 0.35 * (1.0 - math.exp(-(layer / limit - 1.0))))
        result.reasons.append(Reason(
            CODE, "high",
            f"a thin horizontal layer of about {steel_mm:.0f} mm of steel across the width lies just above the "
            f"floor over {(stop - start) * inp.column_pitch_mm / 1000:.1f} m: a false floor?",
            score,
        ))
        bbox = (z0, c0 + start, f0, c0 + stop)
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[z0:f0, c0 + start:c0 + stop]), score, CODE))


def _against_model(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    structure = inp.structure
    model = structure.model
    if model is None:
        return
    allowed = 1.0 + inp.threshold("structure_anomaly", "model_excess_rel")
    ir0, ir1 = structure.interior_rows
    parts = []
    if math.isfinite(model.walls_g_cm2) and model.walls_g_cm2 > 0:
        parts.append(("side walls", structure.wall_g_cm2, model.walls_g_cm2,
                      (ir0, structure.interior_cols[0], ir1, structure.interior_cols[1])))
    f0, f1 = structure.floor_rows
    if math.isfinite(model.floor_g_cm2) and model.floor_g_cm2 > 0 and f1 > f0:
        floor = float(np.median(inp.areal_g_cm2[f0:f1, slice(*structure.interior_cols)].mean(axis=0)))
        parts.append(("floor", floor, model.floor_g_cm2, (f0, structure.interior_cols[0], f1, structure.interior_cols[1])))
    if math.isfinite(model.end_g_cm2) and model.end_g_cm2 > 0:
        for label, (e0, e1) in (("front end", structure.front_cols), ("door end", structure.rear_cols)):
            if e1 > e0 and ir1 > ir0:
                level = float(inp.areal_g_cm2[ir0:ir1, e0:e1].mean())
                parts.append((label, level, model.end_g_cm2, (ir0, e0, ir1, e1)))
    for label, measured, expected, bbox in parts:
        ratio = measured / (expected * allowed)
        near.append(max(0.0, (measured / expected - 1.0) / (allowed - 1.0)))
        if ratio <= 1.0:
            continue
        score = min(0.95, 0.55 + 0.4 * (1.0 - math.exp(-(ratio - 1.0))))
        result.reasons.append(Reason(
            CODE, "medium",
            f"the {label} measure {measured:.0f} g/cm² where a {inp.manifest.container.name} "
            f"should give about {expected:.0f} g/cm²",
            score,
        ))
        r0, c0, r1, c1 = bbox
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[r0:r1, c0:c1]), score, CODE))


def check_structure(inp: CheckInput) -> CheckResult:
    """Raise ``STRUCTURE_ANOMALY`` for thickened floors or roofs, false walls, or heavy ends.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.structure_anomaly]`` (see the module docstring).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    if not inp.structure.found:
        return result
    near: list[float] = []
    _band_excess(inp, inp.structure.floor_rows, "floor", result, near)
    _band_excess(inp, inp.structure.roof_rows, "roof", result, near)
    _false_wall(inp, result, near)
    _false_floor(inp, result, near)
    _against_model(inp, result, near)
    if not result.reasons and near:
        result.near_miss = float(min(max(max(near), 0.0), 0.99))
    return result
