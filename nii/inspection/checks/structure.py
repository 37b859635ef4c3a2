"""STRUCTURE_ANOMALY: walls, floor, roof, doors or ends unlike the container type's.

Three tests on the container's structure (:mod:`._structure_model`):

* **floor and roof** — the mean areal density over the floor band, per column, must
  stay within ``floor_excess_rel`` (and ``floor_excess_g_cm2``) of its median along the
  container over any stretch longer than ``min_length_mm`` (a false floor is a local
  thickening);
* **false floor** — goods stand on pallets, bearers or skids, which leave the first
  ``floor_zone_mm`` above the boards light or broken at every pallet; an even layer of
  more than ``floor_layer_g_cm2`` right on the boards over more than
  ``floor_layer_min_length_mm`` (longer than a pallet) is a cavity under a false floor
  (goods stacked directly on the floor in long packages, such as sawn timber, look the
  same: a known source of false alarms);
* **false wall** — a sheet across the container seen edge-on: a line at most
  ``false_wall_max_mm`` wide standing ``false_wall_g_cm2`` above its surroundings on at
  least ``false_wall_fill`` of the interior rows where the surroundings are light;
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


def _side_maximum(values: np.ndarray, near: int, far: int) -> np.ndarray:
    """Per pixel, the larger of the mean levels ``near..far`` columns to its left and right."""
    width = far - near
    kernel = ndimage.uniform_filter1d(values, size=width, axis=1, mode="nearest")
    shift = near + width // 2
    left = np.empty_like(kernel)
    right = np.empty_like(kernel)
    left[:, shift:] = kernel[:, :-shift]
    left[:, :shift] = kernel[:, :1]
    right[:, :-shift] = kernel[:, shift:]
    right[:, -shift:] = kernel[:, -1:]
    return np.maximum(left, right)


def _false_wall(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    """A thin sheet across the container from floor to ceiling: a false end wall.

    Seen edge-on, a sheet across the width is a thin vertical line from the floor to the
    ceiling. Where cargo stands either side of it the line hides in the cargo, so the
    test looks at the rows where both sides are light (the headroom above the goods, an
    empty compartment): there a false wall stands out over the full height, and the edge
    of a stack of goods (heavy on one side) does not.
    """
    structure = inp.structure
    r0, r1 = structure.interior_rows
    c0, c1 = structure.interior_cols
    if r1 - r0 < 8 or c1 - c0 < 16:
        return
    residual = structure.residual_g_cm2[r0:r1, c0:c1]
    line_g_cm2 = inp.threshold("structure_anomaly", "false_wall_g_cm2")
    max_width = box_pixels(inp.threshold("structure_anomaly", "false_wall_max_mm"), inp.column_pitch_mm)
    gap = max_width + 1
    reach = gap + max(2, box_pixels(150.0, inp.column_pitch_mm))
    if c1 - c0 <= 2 * reach:
        return
    sides = _side_maximum(residual, gap, reach)
    light = sides < line_g_cm2
    line = light & (residual - sides > line_g_cm2)
    light_rows = light.sum(axis=0)
    share = np.where(light_rows > 0, line.sum(axis=0) / np.maximum(light_rows, 1), 0.0)
    min_rows = box_pixels(300.0, inp.row_height_mm)
    fill = inp.threshold("structure_anomaly", "false_wall_fill")
    candidate = (light_rows >= min_rows) & (share >= fill)
    candidate[:reach] = candidate[-reach:] = False
    near.append(float(np.max(np.where(light_rows >= min_rows, share, 0.0))) / fill)
    for start, stop in _runs(candidate):
        if stop - start > max_width:
            continue
        excess = float(np.median((residual - sides)[:, start:stop][line[:, start:stop]]))
        score = min(0.95, 0.6 + 0.35 * (1.0 - math.exp(-(excess / line_g_cm2 - 1.0))))
        result.reasons.append(Reason(
            CODE, "high",
            f"a thin sheet runs across the container from floor to ceiling at x ≈ "
            f"{inp.position_mm[c0 + start] / 1000:.2f} m ({excess:.0f} g/cm² above its surroundings): "
            "a false wall?",
            score,
        ))
        bbox = (r0, c0 + start, r1, c0 + stop)
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[r0:r1, c0 + start:c0 + stop]), score, CODE))


def _false_floor(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    """A dense layer lying on the floor boards along more than a pallet's length: a false floor.

    Goods stand on pallets, bearers or skids, which leave the first few centimetres above
    the boards light or broken along x at every pallet; a cavity under a plate is a
    continuous, even layer right on the boards.
    """
    structure = inp.structure
    f0 = structure.floor_rows[0]
    c0, c1 = structure.interior_cols
    row_h = inp.row_height_mm
    # Locate the boards: the lowest heavy row near the expected floor top.
    w0 = max(structure.interior_rows[0], f0 - box_pixels(40.0, row_h))
    w1 = min(structure.rows[1], f0 + box_pixels(100.0, row_h))
    if w1 - w0 < 2 or c1 - c0 < 8:
        return
    profile = np.median(inp.areal_g_cm2[w0:w1, c0:c1], axis=1)
    heavy = np.flatnonzero(profile > 0.5 * float(profile.max()))
    board_mm = inp.manifest.container.structure.get("floor_mm")
    if not isinstance(board_mm, (int, float)):
        board_mm = inp.threshold("structure_anomaly", "floor_board_mm")
    top = w0 + int(heavy[-1]) - box_pixels(float(board_mm), row_h) + 1
    # One row of margin above the boards' estimated top: a row straddling the boards is
    # heavy whatever stands on them.
    top -= 1
    z0 = max(structure.interior_rows[0], top - box_pixels(inp.threshold("structure_anomaly", "floor_zone_mm"), row_h))
    f0 = top - 1
    if f0 - z0 < 0:
        return
    layer = inp.areal_g_cm2[z0:f0 + 1, c0:c1]
    level = inp.threshold("structure_anomaly", "floor_layer_g_cm2")
    smooth = ndimage.median_filter(layer.min(axis=0), size=max(3, box_pixels(30.0, inp.column_pitch_mm)), mode="nearest")
    min_length = box_pixels(inp.threshold("structure_anomaly", "floor_layer_min_length_mm"), inp.column_pitch_mm)
    longest = 0
    for start, stop in _runs(smooth > level):
        longest = max(longest, stop - start)
        segment = smooth[start:stop]
        if stop - start < min_length or float(segment.std()) > 0.15 * float(segment.mean()):
            continue
        length_m = (stop - start) * inp.column_pitch_mm / 1000.0
        mean = float(segment.mean())
        score = min(0.95, 0.6 + 0.35 * (1.0 - math.exp(-(mean / level - 1.0))))
        result.reasons.append(Reason(
            CODE, "high",
            f"an even layer of {mean:.0f} g/cm² lies directly on the floor over {length_m:.1f} m, "
            "longer than any pallet: a false floor?",
            score,
        ))
        bbox = (z0, c0 + start, f0 + 1, c0 + stop)
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[z0:f0 + 1, c0 + start:c0 + stop]), score, CODE))
    near.append(longest / min_length if min_length else 0.0)


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
