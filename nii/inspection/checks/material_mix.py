"""MATERIAL_MISMATCH: the cargo does not attenuate like the declared goods.

**With a scanner model and the declared goods' make-up** the declared goods are
compared as the beam sees them. Along a 2.3 m path every ray crosses many of the
load's parts (steel, aluminium, plastics of a machine; liquid and glass of bottled
drinks), so a ray's attenuation pair is that of the parts' *mixture* by mass, behind the
container's side walls: for each cargo pixel the model predicts the low-energy
attenuation ``α_L`` that the declared mixture gives at the pixel's measured ``α_H``
(the same inversion as the mass, :func:`.mass.goods_reading`). Under the null
hypothesis "the goods are what is declared" the cargo's mean residual
``α_L − α_L,declared`` (weighted by the goods' areal density) is zero within

* the photon noise of the pixels (``σ_L`` and ``σ_H`` carried along the curve), averaged;
* the model's accuracy (the calibration's, fully correlated over the pixels);
* the chapter's composition: the spread of the prediction over its other plausible
  make-ups (``[[checks.mass.goods]] alternatives``), fully correlated;
* the packing texture: goods varying below the resolution take more off ``α_L`` than
  off ``α_H`` (``κ_L² Var(λ)/2`` against ``κ_H² Var(λ)/2``); the prediction includes it
  to second order, known to ``texture_model_rel`` of itself;
* what these leave out (``unmodelled_rel`` of the predicted ``α_L``: partial volume of
  the structure at coarse rows, packing beyond its second-order reading), measured on
  clean loads of the tuning set.

The class shares are compared too, against two descriptions of the declared goods: the
HS table's shares, and what the declared mixture reads as
(:func:`_model_expected_fractions`): the scanner model predicts the pair of each declared
chapter's make-up and alternatives at the cargo's median areal density, the
calibration's region estimator reads its class (a machine's mass fractions are not what
a ray crosses: its mixture is). The shares depart when they depart from both descriptions (the table's shares were
measured on pixel maps that a region-by-region reading no longer draws: oil in drums
reads organic as a whole where drum shells and oil once split the pixels).

``MATERIAL_MISMATCH`` is raised when the class shares depart by more than the chapters'
tolerance, or the mean residual by more than ``[checks.material] tolerance_sigma`` of its
standard uncertainty: negative (at MeV energies ``α_L/α_H`` falls with Z: heavier
matter than declared, e.g. metal declared as garments) or positive (lighter, organic
goods declared as machinery).

**Without** (no model or α_L, or a chapter whose make-up is not listed) the observed
shares of the cargo mass by class (:func:`._cargo.material_fractions`) are compared with
the HS table's shares for the declared chapters (total-variation distance within the
chapters' tolerance).

In both cases the cargo's apparent density (mass over the cargo's projected area times
the container's width; a lower bound on the goods' bulk density, since goods rarely fill
the width) must not exceed twice the chapters' plausible bulk density; where the cargo
is impenetrable its areal density is a lower bound, so that test still runs when more
than ``max_unreadable_share`` of the cargo mass is impenetrable and the mix is no longer
compared.

Nothing is compared on a partial container: when the scan does not cover its
container with usable samples (:mod:`nii.inspection.coverage`), the shares of the part
read are reported but not compared, and a warning says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nii.classes import CLASS_CODES, CLASS_NAMES
from nii.inspection.checks._cargo import cargo_mask, material_fractions
from nii.inspection.checks._context import CheckInput, CheckResult, components, dominant_material
from nii.inspection.checks.mass import goods_reading
from nii.inspection.coverage import coverage_of
from nii.inspection.expectations import expected_fractions
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_material_mix"]

CODE = "MATERIAL_MISMATCH"
_COMPARED = ("organic", "inorganic", "metal", "high_z")
#: Wall allowance (mm) between the external and the internal width of a box.
_WALL_ALLOWANCE_MM = 100.0


def _describe(shares: dict[str, float]) -> str:
    ordered = sorted(((share, name) for name, share in shares.items() if share >= 0.05), reverse=True)
    return ", ".join(f"{share:.0%} {name}" for share, name in ordered) or "no readable material"


def _declared_text(inp: CheckInput) -> str:
    titles = []
    for item in inp.manifest.items:
        expectation = inp.table.get(item.hs_code)
        if expectation is not None:
            titles.append(f"HS {item.chapter} ({expectation.title.split(',')[0].split(';')[0].lower()})")
    return ", ".join(dict.fromkeys(titles))


def _declared_expectations(inp: CheckInput) -> list[tuple[Any, float]]:
    """The declared items' HS expectations with their weights (declared mass, kg; 1 when none)."""
    found = []
    for item in inp.manifest.items:
        expectation = inp.table.get(item.hs_code)
        if expectation is not None:
            found.append((expectation, float(item.gross_mass_kg or 1.0)))
    return found


def _weighted_tolerance(inp: CheckInput) -> float | None:
    """The declared chapters' mix tolerance, weighted by declared mass (dimensionless)."""
    found = _declared_expectations(inp)
    if not found:
        return None
    return float(np.average([e.tolerance for e, _ in found], weights=[w for _, w in found]))


def _density_range(inp: CheckInput) -> tuple[float, float] | None:
    """The widest plausible bulk density range of the declared chapters (kg/m³)."""
    found = _declared_expectations(inp)
    if not found:
        return None
    return (min(float(e.density_kg_m3[0]) for e, _ in found), max(float(e.density_kg_m3[1]) for e, _ in found))



def _model_expected_fractions(inp: CheckInput, mask: np.ndarray) -> dict[str, float] | None:
    """The declared goods' class shares as the beam sees their mixture, by declared mass.

    For each declared item the scanner model predicts the transmission pair of the
    chapter's make-up (and of each alternative) at the cargo's median areal density
    behind the side walls, and the calibration's region estimator reads its class; the
    classes the make-ups read as share the item's declared mass equally (parts of several
    materials whose mass fractions are not what a ray crosses, such as machinery, read as
    their mixture does). The check compares the image with these shares and with the HS
    table's, and departs only from both.

    Returns
    -------
    dict of str to float or None
        None without a scanner model or a listed make-up for every declared chapter.
    """
    from nii.inspection.checks._goods_model import WALL_MATERIAL, chapter_make_ups
    from nii.physics import material

    reading = goods_reading(inp)
    model = getattr(inp.calibration, "model", None)
    if reading is None or model is None:
        return None
    estimator = inp.cache.get("region_estimator")
    if estimator is None:
        estimator = inp.calibration.estimator() if hasattr(inp.calibration, "estimator") else None
        if estimator is None:
            from nii.region_estimate import RegionEstimator

            estimator = RegionEstimator(model, accuracy=float(getattr(inp.calibration, "accuracy", 0.0)))
        inp.cache["region_estimator"] = estimator
    rows, cols = inp.structure.interior()
    use = mask[rows, cols] & (reading.areal_g_cm2 > 0)
    if not use.any():
        return None
    areal = float(np.median(reading.areal_g_cm2[use]))
    wall = float(np.median(inp.structure.profile_g_cm2[rows]))
    steel = dict(material(WALL_MATERIAL).composition)
    totals = dict.fromkeys(_COMPARED, 0.0)
    weight_sum = 0.0
    settings = inp.settings("mass")
    for item in inp.manifest.items:
        expectation = inp.table.get(item.hs_code)
        make_ups = chapter_make_ups(item.chapter, settings)
        if expectation is None or make_ups is None:
            return None
        pairs = [model.transmission([(steel, wall), (make_up, areal)]) for make_up in make_ups]
        high = np.array([float(p[0]) for p in pairs])
        low = np.array([float(p[1]) for p in pairs])
        estimates = estimator.estimate(high, low, np.full(high.shape, 1e-12), np.full(high.shape, 1e-12))
        read = [CLASS_NAMES[int(code)] for code in estimates.classes]
        weight = float(item.gross_mass_kg or 1.0)
        weight_sum += weight
        for name in read:
            if name in totals:
                totals[name] += weight / len(read)
    if weight_sum <= 0:
        return None
    return {name: value / weight_sum for name, value in totals.items() if value > 0}


def _model_departure(inp: CheckInput, mask: np.ndarray) -> tuple[float, float, np.ndarray] | None:
    """Mean ``α_L`` residual of the cargo against the declared mixture, its standard uncertainty.

    Returns
    -------
    (departure, sigma, departing) or None
        The λ-weighted mean of ``α_L − α_L,declared`` over the readable cargo pixels
        (dimensionless), its standard uncertainty (noise, model accuracy, composition),
        and the pixels (image-sized mask) departing the same way by over 2 of their own
        noise standard deviations; None without a reading, ``α_L`` or readable cargo.
    """
    reading = goods_reading(inp)
    if reading is None or inp.attenuation_low is None or inp.attenuation_high is None:
        return None
    rows, cols = inp.structure.interior()
    alpha_high = inp.attenuation_high[rows, cols].astype(np.float64)
    alpha_low = inp.attenuation_low[rows, cols].astype(np.float64)
    sigma_high = (np.zeros(alpha_high.shape) if inp.sigma_attenuation_high is None
                  else inp.sigma_attenuation_high[rows, cols].astype(np.float64))
    sigma_low = (np.zeros(alpha_high.shape) if inp.sigma_attenuation_low is None
                 else inp.sigma_attenuation_low[rows, cols].astype(np.float64))
    expected = reading.expected_low
    use = (mask[rows, cols] & ~inp.unreadable[rows, cols] & np.isfinite(alpha_low) & np.isfinite(alpha_high)
           & np.isfinite(expected) & (reading.areal_g_cm2 > 0))
    use &= sigma_low <= inp.threshold("material", "max_sigma_alpha_low")
    if not use.any():
        return None
    weight = np.where(use, reading.areal_g_cm2, 0.0)
    total = float(weight.sum())
    residual = np.where(use, alpha_low - expected, 0.0)
    departure = float(np.sum(weight * residual)) / total
    # Noise along the curve: α_L's own and α_H's carried by the curve's slope (≈ α_L / α_H).
    slope = np.where(alpha_high > 0, expected / np.maximum(alpha_high, 1e-6), 1.0)
    pixel_var = sigma_low**2 + (slope * sigma_high) ** 2
    noise = math.sqrt(float(np.sum(weight**2 * np.where(use, pixel_var, 0.0)))) / total
    accuracy = max(float(getattr(inp.calibration, "accuracy", 0.0)), inp.threshold("mass", "model_accuracy_min"))
    systematic = accuracy * float(np.sum(weight * expected)) / total
    spreads = []
    step = reading.alternative_step
    sampled = use[:, ::step]
    if sampled.any():
        w = weight[:, ::step][sampled]
        base = expected[:, ::step][sampled]
        for other in reading.alternative_low:
            spreads.append(float(np.sum(w * (other[sampled] - base)) / w.sum()))
    composition = float(np.sqrt(np.mean(np.square(spreads)))) if spreads else 0.0
    # The packing texture's second-order reading is known to a share of itself.
    texture = 0.0
    if reading.texture_low is not None:
        texture = inp.threshold("material", "texture_model_rel") * abs(float(np.sum(weight * reading.texture_low)) / total)
    # What the terms above leave out (partial volume of the structure at coarse rows, packing
    # beyond its second-order reading), a share of the predicted α_L measured on clean loads.
    floor = inp.threshold("material", "unmodelled_rel") * float(np.sum(weight * expected)) / total
    sigma = math.sqrt(noise**2 + systematic**2 + composition**2 + texture**2 + floor**2)
    departing = np.zeros(inp.classes.shape, bool)
    sign = 1.0 if departure >= 0 else -1.0
    departing[rows, cols] = use & (sign * residual > 2.0 * np.sqrt(pixel_var))
    return departure, sigma, departing


def check_material_mix(inp: CheckInput) -> CheckResult:
    """Compare the observed material mix with the declared goods' expectation.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.empty]`` (what counts as cargo), ``[checks.material]``
        ``min_cargo_mass_kg`` (kg), ``tolerance_sigma``, ``max_sigma_alpha_low``,
        ``max_unreadable_share`` and ``impenetrable_density_margin``, and the goods'
        make-up of ``[checks.mass]``.

    Returns
    -------
    CheckResult
        ``estimates["material_fractions"]`` always (class name → share of cargo mass).
    """
    result = CheckResult()
    mask = cargo_mask(inp, inp.threshold("empty", "min_residual_g_cm2"), inp.threshold("empty", "min_residual_sigma"))
    observed = material_fractions(inp, mask)
    result.estimates["material_fractions"] = observed
    if inp.manifest.declared_empty or not inp.manifest.items:
        return result
    coverage = coverage_of(inp)
    if coverage is not None and not coverage.complete:
        result.warnings.append(f"material mix not compared: {coverage.shortfall()}")
        return result
    expected = expected_fractions(inp.manifest.items, inp.table)
    if expected is None:
        return result
    weights = np.clip(inp.structure.residual_g_cm2[mask], 0, None)
    cargo_kg = float(weights.sum()) * inp.pixel_area_cm2 / 1000.0
    if cargo_kg < inp.threshold("material", "min_cargo_mass_kg"):
        return result
    unreadable_share = observed.get("impenetrable", 0.0)
    readable = {name: observed.get(name, 0.0) for name in _COMPARED}
    total = sum(readable.values())
    tolerance = _weighted_tolerance(inp)
    if tolerance is None:
        return result
    declared = _declared_text(inp)
    # Mostly impenetrable cargo: the class shares of the few readable pixels say little
    # (and the map reads thick dense goods' edges as metal or high-Z); the density test,
    # a lower bound there, still holds.
    mix_checked = total > 0 and unreadable_share <= inp.threshold("material", "max_unreadable_share")
    if total > 0:
        readable = {name: share / total for name, share in readable.items()}
    model = _model_departure(inp, mask) if mix_checked else None
    departing = None
    if model is not None:
        # The declared goods as the beam sees them: the class shares their mixture reads
        # as, and the mean α_L residual against the mixture's prediction.
        departure, departure_sigma, departing = model
    candidates = [expected]
    if model is not None:
        # Two descriptions of how the declared goods look: the HS table's class shares
        # (packaging and wall mixing included, as pixels read them) and the classes the
        # declared make-up's mixture reads as through the scanner model. The image departs
        # from the declaration only when it departs from both.
        read = _model_expected_fractions(inp, mask)
        if read:
            candidates.append(read)
    distances = [0.5 * sum(abs(readable[name] - shares.get(name, 0.0)) for name in _COMPARED) for shares in candidates]
    best = int(np.argmin(distances))
    expected = candidates[best]
    distance = distances[best] if mix_checked else 0.0
    share_ratio = distance / tolerance if mix_checked else 0.0
    residual_ratio = (abs(departure) / (inp.threshold("material", "tolerance_sigma") * departure_sigma)
                      if model is not None else 0.0)
    mix_ratio = max(share_ratio, residual_ratio)
    if not mix_checked and unreadable_share > 0:
        result.warnings.append(
            f"{unreadable_share:.0%} of the cargo mass is impenetrable: its class shares are not compared"
        )

    # Apparent density: a lower bound on the goods' bulk density.
    density_range = _density_range(inp)
    width_mm = float(inp.manifest.container.width_mm) - _WALL_ALLOWANCE_MM
    density_ratio = 0.0
    apparent = math.nan
    if density_range is not None and math.isfinite(width_mm) and width_mm > 0 and mask.any():
        stack_g_cm2 = float(np.median(inp.structure.residual_g_cm2[mask]))
        apparent = stack_g_cm2 / (width_mm / 10.0) * 1000.0  # g/cm³ → kg/m³
        # Goods stowed at their densest fill the width at most at their bulk density; the
        # areal density map is iron-equivalent (organics read ~10 % off), hence a factor
        # 2 of allowance. Where the cargo is impenetrable the beam itself bounds it from
        # below, and a smaller allowance suffices: light goods cannot stop the beam.
        margin = (inp.threshold("material", "impenetrable_density_margin") if not mix_checked and unreadable_share > 0
                  else 2.0)
        density_ratio = apparent / (margin * density_range[1])  # type: ignore[index]

    if mix_ratio <= 1.0 and density_ratio <= 1.0:
        result.near_miss = min(max(mix_ratio, density_ratio), 0.99)
        return result
    messages = []
    if residual_ratio > 1.0:
        # At MeV energies α_L/α_H falls with Z (pair production): a low α_L is heavier matter.
        lighter = "heavier (higher Z)" if departure < 0 else "lighter (lower Z)"
        messages.append(
            f"the cargo attenuates like {lighter} matter than declared {declared}: its low-energy attenuation "
            f"departs from the declared goods' by {departure:+.3f} ({abs(departure) / departure_sigma:.1f} standard "
            f"uncertainties, tolerance {inp.threshold('material', 'tolerance_sigma'):.1f}); class shares "
            f"{_describe(readable)}"
        )
    if share_ratio > 1.0:
        messages.append(
            f"declared {declared} should look like {_describe(expected)}; the image shows "
            f"{_describe(readable)} (difference {distance:.0%}, tolerance {tolerance:.0%})"
        )
    if density_ratio > 1.0 and density_range is not None:
        messages.append(
            f"the cargo is at least {apparent:,.0f} kg/m³ dense where {declared} stow at "
            f"{density_range[0]:,.0f}-{density_range[1]:,.0f} kg/m³"  # type: ignore[index]
        )
    strength = max(mix_ratio, density_ratio)
    score = min(0.95, 0.5 + 0.5 * min(1.0, strength - 1.0))
    result.reasons.append(Reason(CODE, "medium" if strength < 1.5 else "high", "; ".join(messages), score))

    # Region: the largest connected piece of the pixels departing from the declared goods
    # (with the model), or of the most over-represented class.
    excess = {name: readable[name] - expected.get(name, 0.0) for name in _COMPARED}
    worst = max(excess, key=lambda name: excess[name])
    worst_mask = mask & (inp.classes == CLASS_CODES[worst])
    if departing is not None and residual_ratio > 1.0 and departing.any():
        worst_mask = departing
    pieces = components(worst_mask, min_pixels=4)
    if pieces:
        bbox, _ = max(pieces, key=lambda piece: int(piece[1].sum()))
        material = worst if worst_mask is not departing else dominant_material(
            inp.classes[bbox[0]:bbox[2], bbox[1]:bbox[3]])
        result.regions.append(inp.region(bbox, material, score, CODE))
    return result
