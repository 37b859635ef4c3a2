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

With the raw α pair and a calibration at hand (the pipeline passes them), the check
decomposes each compact object from the cargo in front of and behind it with the
calibration's fitted :class:`~nii.scanner_model.ScannerModel` (nominal physics when the
calibration has none): a lead block inside 2 m of textiles adds Δα_H and Δα_L to the
cargo, and the pixel totals read as "metal" although the excess is lead. Candidates
stand ``min_delta_alpha`` above their own row's cargo (a grey opening of ``opening_mm``
along x), at least ``overlap_min_area_cm2`` and at most ``max_extent_mm`` across, no more
than ``max_aspect`` times taller than wide (``max_aspect`` × 1.5 wider than tall). For
each:

* the object's mean pair ``(α_H, α_L)`` over its inner pixels read to a per-pixel
  ``σ(α_L) ≤ max_sigma_alpha_low`` (at least ``min_measured_pixels`` and
  ``min_measured_share`` of them: otherwise only its rim was read);
* the cargo: windows ``cargo_window_mm`` wide in the object's own rows, ``gap_mm`` off
  its box, ``cargo_windows`` per side; windows 4 robust standard deviations from their
  median (carton gaps, stack ends) are left out; the nearest on each side give the
  cargo pair, all of them its covariance (the cargo's variability measured in the scan);
* the covariance of the object's excess: pixel noise of the mean, the cargo's, the
  calibration's accuracy per energy and ``ratio_systematic`` along the excess itself;
* :meth:`._overlap.OverlapSolver.decompose`: the cargo as one virtual-element layer at its
  own Z (fitted to the cargo pair), the object a second layer ``(Z, λ)``; χ² minimised
  over both, Z reported with its ``Δχ² = 1`` interval and the classes consistent with it.

UNDECLARED_HIGH_Z is raised when every Z with ``Δχ² ≤ k²`` is at least ``min_zeff``,
``k`` the one-sided Gaussian quantile of ``false_alarm_rate`` shared (Bonferroni) among
the objects tested in the scan; the message gives Z, its interval, the areal density and
the mass (λ × the object's area) with their standard deviations.

Where the beam cannot read an object's Z (its core stops the beam, or it is a few
centimetres across behind metres of cargo), its density can still say it: a compact
object of :mod:`._compact` whose density bound (taken no deeper than it is wide) is at
least ``density_min_g_cm3`` is high-Z, since only heavy elements are that dense; not one
against the floor or the roof, which may be a frame member seen end-on.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from nii.classes import HIGH_Z
from nii.inspection.checks._compact import compact_objects, describe
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.checks._overlap import OverlapFit, overlap_solver, row_opening
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_high_z"]

CODE = "UNDECLARED_HIGH_Z"
_MAX_REGIONS = 5


class _Found(NamedTuple):
    """A high-Z object found by one of the three readings.

    ``how`` is ``"iron-equivalent"`` (class map), ``"lead-equivalent"`` (overlap
    decomposition) or ``"density"`` (compact-object density); ``qualifier`` is
    ``"about "`` or ``"at least "`` for the first two and the object's description for
    the last.
    """

    area_cm2: float
    mass_kg: float
    zeff: float
    bbox: tuple[int, int, int, int]
    pixels: np.ndarray
    how: str
    qualifier: str
    fit: OverlapFit | None = None
    k: float = math.nan


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


def _class_map_candidates(inp: CheckInput) -> np.ndarray:
    """High-Z pixels of the cargo space with the impenetrable cores that touch them, opened."""
    high_z = inp.classes == HIGH_Z
    structure = inp.structure
    allowed = np.ones(high_z.shape, bool)
    if structure.found:
        # The container's own ends, floor and roof are thick steel seen edge-on, where
        # dual-energy Z_eff is least reliable; the search covers the cargo space.
        rows, cols = structure.interior()
        allowed[:] = False
        allowed[rows, cols] = True
        high_z &= allowed
    if not high_z.any():
        return high_z
    extent = inp.threshold("high_z", "min_extent_mm")
    # A thick high-Z object is impenetrable at its core: impenetrable pixels touching
    # high-Z ones belong to the same object.
    hit_rows = np.flatnonzero(high_z.any(axis=1))
    hit_cols = np.flatnonzero(high_z.any(axis=0))
    margin = 3
    r0, r1 = max(hit_rows[0] - margin, 0), hit_rows[-1] + margin + 1
    c0, c1 = max(hit_cols[0] - margin, 0), hit_cols[-1] + margin + 1
    window = high_z[r0:r1, c0:c1]
    core = inp.unreadable[r0:r1, c0:c1] & ndimage.binary_dilation(window, iterations=2) & allowed[r0:r1, c0:c1]
    opened = np.zeros_like(high_z)
    opened[r0:r1, c0:c1] = open_rect(
        window | core,
        max(2, box_pixels(extent, inp.row_height_mm)) if inp.row_height_mm < extent / 2 else 1,
        max(2, box_pixels(extent, inp.column_pitch_mm)) if inp.column_pitch_mm < extent / 2 else 1,
    )
    return opened


def _class_map_objects(inp: CheckInput) -> tuple[list[_Found], float]:
    """High-Z objects of the class map (no α pair or calibration to decompose with)."""
    ring_rows = box_pixels(inp.threshold("high_z", "ring_mm"), inp.row_height_mm)
    ring_cols = box_pixels(inp.threshold("high_z", "ring_mm"), inp.column_pitch_mm)
    min_excess = inp.threshold("high_z", "min_excess_g_cm2")
    min_area = inp.threshold("high_z", "min_area_cm2")
    min_pixels = int(inp.threshold("high_z", "min_pixels"))
    min_zeff = inp.threshold("high_z", "min_zeff")
    pixel_area = inp.pixel_area_cm2
    objects = []
    near = 0.0
    for bbox, pixels in components(_class_map_candidates(inp), min_pixels=1):
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
            objects.append(_Found(area, mass, median_zeff, bbox, pixels, "iron-equivalent", "about "))
        else:
            size = min(area / min_area, count / max(min_pixels, 1))
            if median_zeff >= min_zeff:
                # How close it came: on size when it adds mass, on mass when it is big enough.
                near = max(near, size if excess >= min_excess else min(size, max(excess, 0.0) / min_excess))
    return objects, near


def _overlap_available(inp: CheckInput) -> bool:
    return (inp.calibration is not None and inp.attenuation_high is not None and inp.attenuation_low is not None
            and overlap_solver(inp.calibration) is not None)


def _side_windows(alpha_high: np.ndarray, alpha_low: np.ndarray, usable: np.ndarray, bbox: tuple[int, int, int, int],
                  count: int, gap: int, width: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Mean ``(α_H, α_L)`` of windows ``width`` wide in the object's own rows, left and right of it, nearest first."""
    r0, c0, r1, c1 = bbox
    width = max(width, 2)
    sides: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
    for side, sign in ((0, -1), (1, 1)):
        for j in range(count):
            if sign < 0:
                b, a = c0 - gap - j * width, c0 - gap - (j + 1) * width
            else:
                a, b = c1 + gap + j * width, c1 + gap + (j + 1) * width
            if a < 0 or b > alpha_high.shape[1]:
                break
            ok = usable[r0:r1, a:b]
            if ok.mean() < 0.5:
                continue
            sides[side].append((float(alpha_high[r0:r1, a:b][ok].mean()), float(alpha_low[r0:r1, a:b][ok].mean())))
    return sides


def _cargo_estimate(left: list[tuple[float, float]], right: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The cargo pair in front of and behind an object from the windows beside it, and its covariance.

    With both sides: the mean of the nearest window of each side; the cargo at the object
    lies between them (a uniform spread over their difference ``d``: ``d dᵀ / 12``) and
    varies as the windows of one side do about their own mean (pooled, 1.5 × for the
    mean of the two nearest and the draw at the object). With one side: its nearest
    window, and twice its windows' sample covariance.
    """
    if left and right:
        near_l, near_r = np.asarray(left[0]), np.asarray(right[0])
        cargo = 0.5 * (near_l + near_r)
        residuals = [np.asarray(v) - np.mean(np.asarray(side), axis=0) for side in (left, right) for v in side]
        dof = len(residuals) - 2
        within = sum(np.outer(r, r) for r in residuals) / dof if dof > 0 else np.zeros((2, 2))
        d = near_l - near_r
        return cargo, 1.5 * within + np.outer(d, d) / 12.0
    side = np.asarray(left or right)
    return side[0], 2.0 * np.cov(side.T)


def _mean_transmission_pair(
    inp: CheckInput, bbox: tuple[int, int, int, int], core: np.ndarray, min_snr: float
) -> tuple[tuple[float, float], np.ndarray] | None:
    """The object's attenuation pair from the mean of its pixels' unclipped transmissions.

    Pixel by pixel a starved core reads at the noise floor (its α clipped, its noise
    meaningless); the mean of the unclipped transmissions over the core's pixels stays
    unbiased (negative values count), with a standard error from their own spread. The
    pair ``−ln T̄`` is returned with its covariance (diagonal, (σ_T̄ / T̄)² per energy)
    when both means stand ``min_snr`` standard errors above zero, else None.
    """
    if inp.transmission_high is None or inp.transmission_low is None:
        return None
    r0, c0, r1, c1 = bbox
    pair = []
    variances = []
    for transmission in (inp.transmission_high, inp.transmission_low):
        values = np.asarray(transmission[r0:r1, c0:c1][core], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size < 2:
            return None
        mean = float(values.mean())
        error = float(values.std(ddof=1)) / math.sqrt(values.size)
        if not (mean > 0 and mean >= min_snr * error):
            return None
        pair.append(-math.log(mean))
        variances.append((error / mean) ** 2)
    return (pair[0], pair[1]), np.diag(variances)


def _overlap_objects(inp: CheckInput) -> tuple[list[_Found], float]:
    """High-Z objects found by decomposing compact objects from the cargo around them (scanner model)."""
    setting = lambda name: inp.threshold("high_z", name)  # noqa: E731
    alpha_high: np.ndarray = inp.finite_attenuation_high()  # type: ignore[assignment]
    alpha_low = np.nan_to_num(inp.attenuation_low, nan=0.0, posinf=0.0, neginf=0.0)  # type: ignore[arg-type]
    width = max(3, box_pixels(setting("opening_mm"), inp.column_pitch_mm))
    rows, cols = inp.structure.interior() if inp.structure.found else (slice(None), slice(None))
    inside = np.zeros(alpha_high.shape, bool)
    inside[rows, cols] = True
    background_high = np.zeros_like(alpha_high)
    background_high[rows, cols] = row_opening(alpha_high[rows, cols], width)
    candidates = np.zeros(alpha_high.shape, bool)
    candidates[rows, cols] = (alpha_high[rows, cols] - background_high[rows, cols]) > setting("min_delta_alpha")
    extent_cols = max(2, box_pixels(setting("min_extent_mm") / 2.0, inp.column_pitch_mm))
    candidates = open_rect(candidates, 2, extent_cols) | _class_map_candidates(inp)
    # An object's pixels count where both energies are read to a per-pixel precision at which
    # the mean of α is unbiased (the class map's "impenetrable" is a per-region decision the
    # object's own mean over hundreds of pixels does not need).
    assert inp.attenuation_low is not None and inp.attenuation_high is not None  # the caller checked
    measured = np.isfinite(inp.attenuation_low) & np.isfinite(inp.attenuation_high)
    if inp.sigma_attenuation_low is not None:
        measured &= inp.sigma_attenuation_low <= setting("max_sigma_alpha_low")
    else:
        measured &= ~inp.unreadable
    # The cargo beside an object: measured pixels of the cargo space that no candidate holds.
    usable = measured & ~inp.unreadable & inside & ~ndimage.binary_dilation(candidates, iterations=1)
    solver = overlap_solver(inp.calibration)
    if solver is None:
        return [], 0.0
    accuracy = float(getattr(inp.calibration, "accuracy", 0.0) or 0.0)
    systematic = setting("ratio_systematic")
    pixel_area = inp.pixel_area_cm2
    min_area, max_extent, aspect = setting("overlap_min_area_cm2"), setting("max_extent_mm"), setting("max_aspect")
    min_pixels = setting("min_measured_pixels")
    gap = max(1, box_pixels(setting("gap_mm"), inp.column_pitch_mm))
    windows = int(setting("cargo_windows"))
    window_px = max(2, box_pixels(setting("cargo_window_mm"), inp.column_pitch_mm))
    tested = []
    for bbox, pixels in components(candidates, min_pixels=int(setting("min_pixels"))):
        r0, c0, r1, c1 = bbox
        height_mm = (r1 - r0) * inp.row_height_mm
        length_mm = (c1 - c0) * inp.column_pitch_mm
        area = float(pixels.sum()) * pixel_area
        if area < min_area or max(height_mm, length_mm) > max_extent:
            continue
        if height_mm > aspect * length_mm or length_mm > 1.5 * aspect * height_mm:
            continue
        # The columns at its left and right edges straddle the edge (and the interlaced
        # energies see it half a pulse apart): the pair is read on the inner columns.
        inner = ndimage.binary_erosion(pixels, np.ones((1, 3), bool))
        use = inner & measured[r0:r1, c0:c1]
        if int(use.sum()) < min_pixels:
            use = pixels & measured[r0:r1, c0:c1]
        count = int(use.sum())
        starved_mean = None
        if count < min_pixels or count < setting("min_measured_share") * float(inner.sum() or pixels.sum()):
            # Its core is not read pixel by pixel (the measured pixels would be its rim):
            # read it, if at all, on the mean of its inner pixels' unclipped transmissions.
            # Its edges are blurred into the cargo (detector aperture, the interlaced
            # energies half a pulse apart): only pixels core_margin_mm inside them count.
            margin = (box_pixels(setting("core_margin_mm"), inp.row_height_mm),
                      box_pixels(setting("core_margin_mm"), inp.column_pitch_mm))
            core = ndimage.binary_erosion(pixels, np.ones((2 * margin[0] + 1, 2 * margin[1] + 1), bool))
            if int(core.sum()) < min_pixels:
                continue
            starved_mean = _mean_transmission_pair(inp, bbox, core, setting("starved_mean_snr"))
            if starved_mean is None:
                continue  # not even the mean is measured: the density path may still say it
        left, right = _side_windows(alpha_high, alpha_low, usable, bbox, windows, gap, min(c1 - c0, window_px))
        samples = left + right
        if not left and not right or len(samples) < 3:
            continue  # no cargo beside it to decompose it from: the density path may still say it
        # Gaps between cartons and the ends of stacks are not the cargo at the object: windows
        # far (4 robust standard deviations) from the median are left out.
        samples_h = np.array([v[0] for v in samples])
        centre = float(np.median(samples_h))
        scale = max(4.0 * 1.4826 * float(np.median(np.abs(samples_h - centre))), 0.02 * abs(centre), 0.02)
        left = [v for v in left if abs(v[0] - centre) <= scale]
        right = [v for v in right if abs(v[0] - centre) <= scale]
        samples = left + right
        if len(samples) < 3:
            continue
        cargo, spread = _cargo_estimate(left, right)
        if starved_mean is not None:
            mean_in, noise = starved_mean
        else:
            mean_in = (float(alpha_high[r0:r1, c0:c1][use].mean()), float(alpha_low[r0:r1, c0:c1][use].mean()))
            noise = np.zeros((2, 2))
            for e, sigma in enumerate((inp.sigma_attenuation_high, inp.sigma_attenuation_low)):
                if sigma is not None:
                    values = sigma[r0:r1, c0:c1][use].astype(np.float64)
                    noise[e, e] = float(np.mean(np.where(np.isfinite(values), values, 0.0) ** 2)) / count
        excess = np.array(mean_in) - cargo
        if not excess[0] >= setting("min_delta_alpha"):
            continue
        # The calibration's accuracy, each energy on its own; partial volume and the cargo the
        # object displaces scale both energies' excess alike (along the excess: λ, not Z).
        model_error = np.diag((accuracy * excess) ** 2) + systematic**2 * np.outer(excess, excess)
        covariance = noise + spread + model_error + np.eye(2) * 1e-8
        tested.append((bbox, pixels, area, mean_in, tuple(cargo), covariance))
    if not tested:
        return [], 0.0
    # Significance for the stated false-alarm rate per scan, shared among the objects
    # tested (Bonferroni): one-sided Gaussian.
    from scipy.stats import norm

    k = float(norm.isf(setting("false_alarm_rate") / len(tested)))
    min_zeff = setting("min_zeff")
    objects = []
    near = 0.0
    for bbox, pixels, area, mean_in, cargo_pair, covariance in tested:
        fit = solver.decompose(mean_in, (float(cargo_pair[0]), float(cargo_pair[1])), covariance, k=k)
        if fit.zeff_floor >= min_zeff:
            mass = fit.areal_g_cm2 * float(pixels.sum()) * pixel_area / 1000.0
            objects.append(_Found(area, mass, fit.zeff, bbox, pixels, "model", "about ", fit, k))
        elif fit.zeff >= min_zeff:
            near = max(near, min(0.99, 0.5 + 0.5 * (fit.zeff_floor - 1.0) / min_zeff))
    return objects, near


def _density_objects(inp: CheckInput, seen: list[tuple[int, int, int, int]]) -> list[_Found]:
    """Compact objects (:mod:`._compact`) too dense to be anything but high-Z, not already found."""
    if inp.attenuation_high is None:
        return []
    limit = inp.threshold("high_z", "density_min_g_cm3")
    objects = []
    for item in compact_objects(inp):
        # Against the floor or the roof, a short dense piece may be a frame member seen
        # end-on (long along the beam), which breaks the depth assumption.
        if item.density_g_cm3 < limit or item.on_band or any(item.overlaps(bbox) for bbox in seen):
            continue
        objects.append(_Found(item.area_cm2, item.mass_kg, math.nan, item.bbox, item.pixels, "density", describe(item)))
    return objects


def check_high_z(inp: CheckInput) -> CheckResult:
    """Raise ``UNDECLARED_HIGH_Z`` for high-Z objects the manifest does not explain.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.high_z]`` (see the module docstring); with the α pair
        and the calibration, objects are decomposed from the cargo around them.

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    if _overlap_available(inp):
        objects, near = _overlap_objects(inp)
    else:
        objects, near = _class_map_objects(inp)
    objects += _density_objects(inp, [item.bbox for item in objects])
    if not objects:
        result.near_miss = min(near, 0.99)
        return result
    declared = inp.declared_high_z_chapters()
    if declared:
        result.warnings.append(
            f"{len(objects)} high-Z object(s) seen; not raised because HS chapter(s) "
            f"{', '.join(sorted(set(declared)))} are declared high-Z goods"
        )
        result.near_miss = 0.9
        return result
    min_area = inp.threshold("high_z", "min_area_cm2")
    objects.sort(key=lambda item: -item.mass_kg)
    first = objects[0]
    if first.how == "density":
        result.reasons.append(Reason(
            CODE, "high",
            f"compact object too dense for anything but a heavy element ({first.qualifier}): high-Z "
            f"(lead, tungsten, uranium) or shielding{f'; {len(objects) - 1} more' if len(objects) > 1 else ''}",
            0.9,
        ))
        for item in objects[:_MAX_REGIONS]:
            result.regions.append(inp.region(item.bbox, "high_z", 0.9, CODE))
        return result
    r0, c0, r1, c1 = first.bbox
    margin = 6
    around = inp.classes[max(r0 - margin, 0):r1 + margin, max(c0 - margin, 0):c1 + margin]
    others = around[(around != HIGH_Z)]
    surrounding = dominant_material(others) if others.size else "none"
    where = "in an empty part of the image" if surrounding == "none" else f"inside {surrounding} cargo"
    height_cm = (r1 - r0) * inp.row_height_mm / 10.0
    length_cm = (c1 - c0) * inp.column_pitch_mm / 10.0
    score = lambda a: min(0.99, 0.7 + 0.3 * (1.0 - math.exp(-a / (4.0 * min_area))))  # noqa: E731
    more = f"; {len(objects) - 1} more" if len(objects) > 1 else ""
    if first.fit is not None:
        fit = first.fit
        sigma_mass = fit.areal_sigma_g_cm2 * float(first.pixels.sum()) * inp.pixel_area_cm2 / 1000.0
        from nii.classes import CLASS_NAMES

        classes = ", ".join(CLASS_NAMES[c] for c in fit.consistent_classes(first.k))
        message = (
            f"high-Z object behind the cargo: Z ≈ {fit.zeff:.0f} (1σ {fit.zeff_low:.0f}–{fit.zeff_high:.0f}; "
            f"Z ≥ {fit.zeff_floor:.0f} at {first.k:.1f}σ), {fit.areal_g_cm2:.0f} ± {fit.areal_sigma_g_cm2:.1f} g/cm², "
            f"about {first.mass_kg:,.1f} ± {sigma_mass:,.1f} kg, {length_cm:.0f} × {height_cm:.0f} cm, "
            f"decomposed from {fit.cargo_areal_g_cm2:.0f} g/cm² of Z ≈ {fit.cargo_zeff:.0f} cargo around it "
            f"(classes consistent: {classes}) {where}{more}"
        )
    else:
        message = (f"dense high-Z object (Zeff ≈ {first.zeff:.0f}, {first.qualifier}{first.mass_kg:,.1f} kg {first.how}, "
                   f"{length_cm:.0f} × {height_cm:.0f} cm) {where}{more}")
    result.reasons.append(Reason(CODE, "high", message, score(first.area_cm2)))
    for item in objects[:_MAX_REGIONS]:
        result.regions.append(inp.region(item.bbox, "high_z", score(item.area_cm2), CODE))
    return result
