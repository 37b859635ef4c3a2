"""STRUCTURE_ANOMALY: walls, floor, roof, doors or ends unlike the container type's.

Four tests on the container's structure (:mod:`._structure_model`):

* **floor and roof bands** — the mean areal density over the band, per column (the
  floor's below its top rows, where goods rest on the boards), must stay within
  ``floor_excess_rel`` (and ``floor_excess_g_cm2``) of its median along the container
  over any stretch longer than ``min_length_mm`` (a local thickening); read on the
  raw attenuation too where the image has it (the areal density map's segment of a
  stack may run down into the band's rows), the lower of the two readings kept;
* **raised (false) floor** — read on the rows above the floor band as their 10th
  percentile along the container (what holds along 90 % of its length): a plate over an
  empty cavity is a row heavier than the walls along the whole length with empty rows
  under it; a filled cavity is an even layer along the whole length, heavier than what
  stands on it. Goods lying directly on the boards (sawn timber) are the same from the
  boards up, and pallets, bearers and stacks leave gaps along the length: neither is
  raised (see :func:`_raised_floor`);
* **false wall** — a sheet across the container seen edge-on, read on the raw
  attenuation pair (the areal density map spreads the goods' level over the gap and
  the sheet): a line at most ``false_wall_max_mm`` wide standing ``false_wall_alpha``
  (and ``false_wall_sigma`` noise deviations) above the lowest level just beside it
  (the gap between it and the goods) at both energies, on ``false_wall_fill`` of the
  readable rows, over at least ``false_wall_min_height_share`` of the cargo space's
  height, within ``false_wall_max_depth_mm`` of an end wall; more than
  ``false_wall_max_lines`` lines over ``false_wall_pattern_share`` of the height are
  the goods' own pattern (see :func:`_false_wall`);
* **against the model** — when the container type carries a structure description,
  the side walls, the floor band (where nothing rests on it) and the end bands must not
  exceed the model's areal density by more than ``model_excess_rel``.
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


def _band_from_attenuation(inp: CheckInput, band: tuple[int, int], cols: tuple[int, int]) -> np.ndarray | None:
    """The band's mean areal density per column (g/cm²) read on the raw high-energy α.

    The areal density map is made of segments: where a stack of goods stands on the
    floor, its segment may run down into the floor band's rows and give them the goods'
    level (a few rows of a coarse detector are one segment's edge). The attenuation is
    per pixel: ``α_H × k``, with ``k`` the median ratio of areal density to ``α_H`` over
    the interior (the map's own conversion, Compton-dominated at MeV energies, the same
    within ~10 % for wood and steel), reads the band without it. ``None`` without α.
    """
    alpha = inp.attenuation_high
    if alpha is None:
        return None
    r0, r1 = inp.structure.interior_rows
    c0, c1 = cols
    step = max(1, (c1 - c0) // 500)
    a = np.asarray(alpha[r0:r1, c0:c1:step], np.float64)
    areal = np.asarray(inp.areal_g_cm2[r0:r1, c0:c1:step], np.float64)
    usable = np.isfinite(a) & np.isfinite(areal) & (a > 0.2) & ~inp.unreadable[r0:r1, c0:c1:step]
    if usable.sum() < 16:
        return None
    conversion = float(np.median(areal[usable] / a[usable]))
    band_alpha = np.asarray(alpha[band[0]:band[1], c0:c1], np.float64)
    if not np.isfinite(band_alpha).all():
        return None
    return band_alpha.mean(axis=0) * conversion


def _band_excess(inp: CheckInput, band: tuple[int, int], name: str, result: CheckResult, near: list[float]) -> None:
    structure = inp.structure
    b0, b1 = band
    c0, c1 = structure.interior_cols
    if b1 <= b0 or c1 - c0 < 8:
        return
    profile = inp.areal_g_cm2[b0:b1, c0:c1].mean(axis=0)
    # Both readings see a thickened band; only the map's sees a stack's segment spread
    # into the band's rows.
    by_alpha = _band_from_attenuation(inp, (b0, b1), (c0, c1))
    if by_alpha is not None:
        profile = np.minimum(profile, by_alpha)
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


def _line_excess(values: np.ndarray, half_width: int, side: int, axis: int) -> np.ndarray:
    """Excess of each pixel over the larger of the lowest levels beside it.

    Each side is the ``half_width + side`` pixels next to the pixel along ``axis``; its
    lowest value is that of the gap beside a line at most ``2 half_width + 1`` pixels
    wide, even when a stack of goods stands a centimetre further. A line stands above
    both sides; the edge of a stack (a step) stands above one side only and gives no
    excess.
    """
    reach = half_width + side
    lowest = ndimage.minimum_filter1d(values, size=reach, axis=axis, mode="nearest")
    before = np.roll(lowest, reach - reach // 2, axis=axis)     # min over [i - reach, i)
    after = np.roll(lowest, -(1 + reach // 2), axis=axis)       # min over (i, i + reach]
    return values - np.maximum(before, after)


def _line_channels(inp: CheckInput) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The images a false wall's line is looked for in, with their noise and least excess.

    With the raw attenuation pair, both energies: ``(α, σ_α, false_wall_alpha)``. A
    sheet seen edge-on is opaque over part of a column's aperture, so its excess
    ``Δα = −ln(1 − f)`` is the same at both energies and over any cargo; the areal
    density map is made of segments and spreads the goods' level over the few
    millimetres of gap either side of the sheet, hiding it. Without the pair, the
    structure residual of the areal density map: ``(residual, σ, false_wall_g_cm2)``.
    """
    r0, r1 = inp.structure.interior_rows
    c0, c1 = inp.structure.interior_cols
    window = (slice(r0, r1), slice(c0, c1))
    pairs = ((inp.attenuation_high, inp.sigma_attenuation_high), (inp.attenuation_low, inp.sigma_attenuation_low))
    if all(values is not None and noise is not None for values, noise in pairs):
        least = inp.threshold("structure_anomaly", "false_wall_alpha")
        return [(np.asarray(values, np.float32)[window], np.asarray(noise, np.float32)[window], least)
                for values, noise in pairs]
    return [(inp.structure.residual_g_cm2[window], inp.sigma_g_cm2[window],
             inp.threshold("structure_anomaly", "false_wall_g_cm2"))]


def _false_wall(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    """A thin sheet across the container from floor to ceiling: a false end wall.

    Seen edge-on, a steel sheet across the inner width is a vertical line a few
    millimetres wide: the part of a column's aperture that runs along the sheet sees
    metres of steel, so the line's attenuation stands above the cargo on either side by
    the same amount whatever that cargo is and at both energies (partial volume:
    ``Δα = −ln(1 − f)``). It runs over the whole height of the cargo space, where the
    edge of a stack of goods is a step (heavy on one side only) and a crate's wall spans
    the crate's height only.

    A pixel is on a line when its excess over the lowest level just beside it on either
    side (:func:`_line_excess`; the gap between the sheet and the goods) exceeds
    ``false_wall_alpha`` and ``false_wall_sigma`` noise standard deviations at both
    energies (the areal density residual and ``false_wall_g_cm2`` without the raw pair).
    A column is a line when such pixels fill ``false_wall_fill`` of its readable rows,
    which span ``false_wall_min_height_share`` of the cargo space's height. Lines at
    most ``false_wall_max_mm`` wide are raised when they stand within
    ``false_wall_max_depth_mm`` of an end wall (a hidden compartment against the front
    wall or the doors: the container may pass either way round), unless the goods draw
    lines of their own: more than ``false_wall_max_lines`` runs of columns whose pixels
    fill ``false_wall_pattern_share`` of the readable rows, over the whole interior.
    """
    structure = inp.structure
    r0, r1 = structure.interior_rows
    c0, c1 = structure.interior_cols
    if r1 - r0 < 8 or c1 - c0 < 16:
        return
    settings = lambda name: inp.threshold("structure_anomaly", name)  # noqa: E731
    half_width = max(1, box_pixels(settings("false_wall_max_mm") / 2.0, inp.column_pitch_mm))
    side = max(2, box_pixels(settings("false_wall_side_mm"), inp.column_pitch_mm))
    channels = _line_channels(inp)
    unreadable = inp.unreadable[r0:r1, c0:c1].copy()
    for values, _, _ in channels:
        unreadable |= ~np.isfinite(values)
    readable = ~ndimage.maximum_filter1d(unreadable, size=2 * (half_width + side) + 1, axis=1)
    line = readable.copy()
    levels = []
    for values, noise, least in channels:
        values = np.where(np.isfinite(values), values, 0.0)
        excess = _line_excess(values, half_width, side, axis=1)
        line &= excess > np.maximum(least, settings("false_wall_sigma") * noise)
        levels.append(excess)
    readable_rows = readable.sum(axis=0)
    share = np.where(readable_rows > 0, line.sum(axis=0) / np.maximum(readable_rows, 1), 0.0)
    height_share = readable_rows / float(r1 - r0)
    fill = settings("false_wall_fill")
    candidate = (height_share >= settings("false_wall_min_height_share")) & (share >= fill)
    edge = half_width + side + 1
    candidate[:edge] = candidate[-edge:] = False
    lines = [(start, stop) for start, stop in _runs(candidate) if stop - start <= 2 * half_width + 1]
    # Depth of each column from the nearer end wall (outer faces of the container).
    positions = inp.position_mm[c0:c1]
    from_front = np.abs(positions - inp.position_mm[structure.cols[0]])
    from_rear = np.abs(inp.position_mm[structure.cols[1] - 1] - positions)
    depth = np.minimum(from_front, from_rear)
    near_end = depth <= settings("false_wall_max_depth_mm")
    scored = np.where((height_share >= settings("false_wall_min_height_share")) & near_end, share, 0.0)
    scored[:edge] = scored[-edge:] = 0.0
    near.append(float(np.max(scored)) / fill if scored.size else 0.0)
    pattern = np.where(height_share >= settings("false_wall_min_height_share"), share, 0.0)
    pattern[:edge] = pattern[-edge:] = 0.0
    if len(_runs(pattern >= settings("false_wall_pattern_share"))) > int(settings("false_wall_max_lines")):
        # A row of lines over much of the height is the goods' own make-up (tyres on their
        # treads, machines, sheets in racks), not a wall: a container has one front wall.
        # They are counted at a lower share than a wall's, so that the count does not
        # hinge on how many of them happen to reach ``false_wall_fill``.
        return
    for start, stop in lines:
        if not near_end[start:stop].any():
            continue
        on_line = line[:, start:stop]
        level = float(np.median(levels[0][:, start:stop][on_line])) if on_line.any() else 0.0
        amount = f"attenuation {level:.2f}" if len(levels) > 1 else f"areal density {level:.0f} g/cm²"
        score = min(0.95, 0.6 + 0.35 * float(share[start:stop].max()))
        at = start + int(np.argmin(depth[start:stop]))
        end = "front end" if from_front[at] <= from_rear[at] else "door end"
        result.reasons.append(Reason(
            CODE, "high",
            f"a thin sheet runs across the container over {100 * float(share[start:stop].max()):.0f} % of its height, "
            f"{depth[at] / 1000.0:.2f} m from its {end} ({amount} above the cargo either side): a false wall?",
            score,
        ))
        bbox = (r0, c0 + start, r1, c0 + stop)
        result.regions.append(inp.region(bbox, dominant_material(inp.classes[r0:r1, c0 + start:c0 + stop]), score, CODE))


def _raised_floor(inp: CheckInput, result: CheckResult, near: list[float]) -> None:
    """A plate laid across the container above the floor boards: a false floor.

    The test reads the rows above the floor band as a profile of their *10th percentile
    along the container* (what holds along at least 90 % of its length): goods stand in
    stacks, on pallets or on bearers, with gaps between them, so a row of a normal load
    is light somewhere along the length, or, for goods lying directly on the boards
    (sawn timber), the bottom rows are the same as the goods above them. A false floor is
    the same along the whole length and differs from what is above it:

    * **a plate over an empty cavity** — a thin row heavier than the wall level along
      the whole length (the plate, edge-on: partial volume of the row), with light rows
      under it (the cavity) and different rows over it (goods or headroom);
    * **a filled cavity** — a layer a few centimetres to a few decimetres thick, even
      along the whole length, clearly heavier than the rows above it.

    ``[checks.structure_anomaly]``: ``raised_floor_search_mm``, ``raised_floor_min_mm``,
    ``raised_floor_g_cm2`` (plate row), ``raised_floor_cavity_g_cm2`` (empty cavity),
    ``raised_floor_contrast_g_cm2`` (plate row against the rows over it),
    ``raised_floor_step_g_cm2`` (filled cavity over what lies above), ``raised_floor_even``.
    """
    structure = inp.structure
    ir0, ir1 = structure.interior_rows
    c0, c1 = structure.interior_cols
    row_h = inp.row_height_mm
    if ir1 - ir0 < 12 or c1 - c0 < 16:
        return
    settings = lambda name: inp.threshold("structure_anomaly", name)  # noqa: E731
    search = box_pixels(settings("raised_floor_search_mm"), row_h)
    lowest = box_pixels(settings("raised_floor_min_mm"), row_h)
    top = max(ir0, ir1 - search - 2 * lowest)
    band = inp.areal_g_cm2[top:ir1, c0:c1]
    along = np.percentile(band, 10, axis=1) - structure.wall_g_cm2      # over ≥ 90 % of the length
    typical = np.median(band, axis=1) - structure.wall_g_cm2
    rows = along.size
    k = max(2, box_pixels(25.0, row_h))
    plate, cavity, step = settings("raised_floor_g_cm2"), settings("raised_floor_cavity_g_cm2"), settings("raised_floor_step_g_cm2")
    contrast = settings("raised_floor_contrast_g_cm2")
    found: tuple[int, str, float] | None = None
    best = 0.0
    for index in range(max(k, rows - search), rows - lowest):
        below = along[index + 1:rows]
        above = along[index - k]
        # A plate over an empty cavity: heavy along the whole length, light under it, different over it.
        if below.size >= lowest:
            light_under = float(np.median(below)) <= cavity
            differs = abs(along[index] - above) >= contrast
            ratio = min(along[index] / plate, 1.0 if light_under and differs else 0.99)
            best = max(best, ratio if light_under else 0.0)
            if along[index] >= plate and light_under and differs and along[index + 1] < along[index]:
                found = (index, "plate", float(along[index]))
                break
        # A filled cavity: an even layer from here to the floor band, heavier than above.
        layer = along[index:rows]
        even = bool(np.all(layer >= settings("raised_floor_even") * typical[index:rows])) and float(layer.min()) > cavity
        rise = float(layer.min()) - float(above)
        best = max(best, rise / step if even else 0.0)
        if even and rise >= step and along[index - 1] < float(layer.min()) - step:
            found = (index, "layer", rise)
            break
    near.append(min(best, 0.99))
    if found is None:
        return
    index, kind, level = found
    row = top + index
    height_mm = (ir1 - row) * row_h
    score = min(0.95, 0.6 + 0.35 * min(1.0, level / (4.0 * (plate if kind == "plate" else step))))
    what = (f"a plate ({level:.0f} g/cm² along the whole length) over an empty space"
            if kind == "plate" else
            f"an even layer {level:.0f} g/cm² heavier than the goods above it")
    result.reasons.append(Reason(
        CODE, "high",
        f"the floor is raised by about {height_mm:.0f} mm along the whole container: {what}: a false floor over a cavity?",
        score,
    ))
    bbox = (row, c0, min(structure.rows[1], ir1), c1)
    result.regions.append(inp.region(bbox, dominant_material(inp.classes[bbox[0]:bbox[2], c0:c1]), score, CODE))


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
        # Only where nothing rests on the floor: goods standing on the boards reach into
        # the band's top rows (the band is rounded up to whole rows).
        c0, c1 = structure.interior_cols
        above = max(ir0, f0 - box_pixels(100.0, inp.row_height_mm))
        clear = structure.residual_g_cm2[above:f0, c0:c1].mean(axis=0) < inp.threshold("structure_anomaly", "model_clear_g_cm2")
        if clear.sum() >= max(8, 0.1 * clear.size):
            floor = float(np.median(inp.areal_g_cm2[f0:f1, c0:c1][:, clear].mean(axis=0)))
            parts.append(("floor", floor, model.floor_g_cm2, (f0, c0, f1, c1)))
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
    # The floor band's top rows hold the boards and whatever rests on them (the band is
    # rounded up to whole rows): the floor's own profile is read below them.
    f0, f1 = inp.structure.floor_rows
    f0 = min(f1, f0 + box_pixels(inp.threshold("structure_anomaly", "floor_top_skip_mm"), inp.row_height_mm))
    _band_excess(inp, (f0, f1), "floor", result, near)
    _band_excess(inp, inp.structure.roof_rows, "roof", result, near)
    _false_wall(inp, result, near)
    _raised_floor(inp, result, near)
    _against_model(inp, result, near)
    if not result.reasons and near:
        result.near_miss = float(min(max(max(near), 0.0), 0.99))
    return result
