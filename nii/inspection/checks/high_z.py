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

With the raw α pair and the calibration at hand (the pipeline passes them), the check
also decomposes the overlap, which finds high-Z objects the class map calls metal: a
lead block inside 2 m of fish adds Δα_H and Δα_L to the fish, and the pixel totals read
as "metal" although the excess is lead. Compact objects that stand ``min_delta_alpha``
above their own row's cargo (:func:`._overlap.compact_excess`, an opening of
``opening_mm`` along x) are kept when they are at least ``overlap_min_area_cm2`` and at most
``max_extent_mm`` across, no more than ``max_aspect`` times taller than wide or
``max_aspect`` × 1.5 wider than tall (steel sheets seen edge-on are tall thin lines whose
blurred edges fake a low ratio), with ``min_measured_pixels`` pixels whose low-energy
noise is below ``max_sigma_alpha_low`` (near the noise floor α_L is biased low: bottle
crates and starved cores read as lead). The Z of the excess (:func:`._overlap.excess_zeff`)
must reach ``min_zeff`` at an operating point where iron and lead differ by at least
``min_ratio_separation`` in ratio (thin or light cargo: every material gives about the
same ratio), and the ratio must lie ``ratio_significance`` standard deviations (pixel noise and a
``ratio_systematic`` allowance for partial-volume edges added in quadrature) below
iron's.

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
from nii.inspection.checks._overlap import chord_ratios, excess_pair, excess_zeff, row_opening
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
    curves = getattr(inp.calibration, "curves", None)
    return bool(curves) and inp.attenuation_high is not None and inp.attenuation_low is not None


def _lead_kappa(curves, alpha_high: float) -> float:
    """High-energy mass attenuation (cm²/g) of the heaviest curve up to lead at ``alpha_high``."""
    heavy = [curve for curve in curves if curve.zeff <= 82.0]
    curve = max(heavy, key=lambda c: c.zeff) if heavy else max(curves, key=lambda c: c.zeff)
    kappa = float(np.asarray(curve.mass_attenuation_at(np.asarray([alpha_high])))[0])
    return kappa if math.isfinite(kappa) and kappa > 0 else 0.045  # lead at 6 MeV (NIST XCOM ~0.044 cm²/g)


def _overlap_objects(inp: CheckInput) -> tuple[list[_Found], float]:
    """High-Z objects found by decomposing compact excesses from the cargo around them."""
    setting = lambda name: inp.threshold("high_z", name)  # noqa: E731
    alpha_high: np.ndarray = inp.finite_attenuation_high()  # type: ignore[assignment]
    alpha_low = np.nan_to_num(inp.attenuation_low, nan=0.0, posinf=0.0, neginf=0.0)  # type: ignore[arg-type]
    width = max(3, box_pixels(setting("opening_mm"), inp.column_pitch_mm))
    rows, cols = inp.structure.interior() if inp.structure.found else (slice(None), slice(None))
    background_high = np.zeros_like(alpha_high)
    background_high[rows, cols] = row_opening(alpha_high[rows, cols], width)
    candidates = np.zeros(alpha_high.shape, bool)
    candidates[rows, cols] = (alpha_high[rows, cols] - background_high[rows, cols]) > setting("min_delta_alpha")
    extent_cols = max(2, box_pixels(setting("min_extent_mm") / 2.0, inp.column_pitch_mm))
    candidates = open_rect(candidates, 2, extent_cols) | _class_map_candidates(inp)
    # The low-energy cargo only where candidates are (the same opening, row by row).
    background_low = np.zeros_like(alpha_low)
    needed = np.flatnonzero(candidates.any(axis=1))
    if needed.size:
        band = slice(needed[0], needed[-1] + 1)
        background_low[band, cols] = row_opening(alpha_low[band, cols], width)
    measured = ~inp.unreadable & np.isfinite(inp.attenuation_low)  # type: ignore[arg-type]
    if inp.sigma_attenuation_low is not None:
        measured &= inp.sigma_attenuation_low <= setting("max_sigma_alpha_low")
    curves = inp.calibration.curves
    iron = min(curves, key=lambda c: abs(c.zeff - 26.0))
    lead = min(curves, key=lambda c: abs(c.zeff - 82.0))
    pixel_area = inp.pixel_area_cm2
    objects = []
    near = 0.0
    min_area, max_extent, aspect = setting("overlap_min_area_cm2"), setting("max_extent_mm"), setting("max_aspect")
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
        # energies see it half a pulse apart): the ratio is read on the inner columns.
        inner = ndimage.binary_erosion(pixels, np.ones((1, 3), bool))
        use = inner if int((inner & measured[r0:r1, c0:c1]).sum()) >= setting("min_measured_pixels") else pixels
        pair = excess_pair(alpha_high, alpha_low, background_high, background_low, bbox, use,
                           measured=measured, sigma_high=inp.sigma_attenuation_high,
                           sigma_low=inp.sigma_attenuation_low)
        if pair is None or pair.pixels < setting("min_measured_pixels") or not pair.delta_high > 0:
            continue
        _, ratios = chord_ratios([iron, lead], pair.background_high, pair.delta_high)
        iron_ratio, lead_ratio = float(ratios[0]), float(ratios[-1])
        separation = iron_ratio - lead_ratio
        if separation < setting("min_ratio_separation"):
            continue
        zeff = excess_zeff(curves, pair)
        sigma = pair.ratio_sigma if math.isfinite(pair.ratio_sigma) else 0.0
        systematic = setting("ratio_systematic")
        significance = (iron_ratio - pair.ratio) / max(math.hypot(sigma, systematic), 1e-6)
        if zeff >= setting("min_zeff") and significance >= setting("ratio_significance"):
            mass = pair.delta_high * float(pixels.sum()) / _lead_kappa(curves, pair.delta_high) * pixel_area / 1000.0
            # Where its core stops the beam, only the rim was measured: a lower bound.
            bound = "at least " if pair.pixels < 0.8 * float(use.sum()) else "about "
            objects.append(_Found(area, mass, zeff, bbox, pixels, "lead-equivalent", bound))
        elif math.isfinite(zeff):
            near = max(near, min(zeff / setting("min_zeff"), 0.99) * min(1.0, max(significance, 0.0) / setting("ratio_significance")))
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
    how = " read on its excess over the cargo" if first.how == "lead-equivalent" else ""
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
    result.reasons.append(Reason(
        CODE, "high",
        f"dense high-Z object (Zeff ≈ {first.zeff:.0f}{how}, {first.qualifier}{first.mass_kg:,.1f} kg {first.how}, "
        f"{length_cm:.0f} × {height_cm:.0f} cm) {where}{more}",
        score(first.area_cm2),
    ))
    for item in objects[:_MAX_REGIONS]:
        result.regions.append(inp.region(item.bbox, "high_z", score(item.area_cm2), CODE))
    return result
