"""MASS_MISMATCH: the cargo's estimated mass is far from the declared gross mass.

The estimate is Σ λ × pixel area over the cargo space (:mod:`._mass_estimate`), with
``λ`` the declared goods' areal density read through the calibration's scanner model
behind the container's side walls (or, without a model or a listed make-up, the map's
areal density above the structure profile, organic pixels read with the declared goods'
mass attenuation). The end bands (front wall, doors), where the structure cannot be
separated, get the mean mass per column of the nearest interior columns over the rest
of the internal length; the part of the floor band's top row that lies above the floor
(the band is whole rows) gets the cargo of the row above it.

The comparison's standard uncertainty combines, in quadrature, the estimate's own
(photon noise, the model's accuracy, the chapter's composition, the structure
subtraction: propagated, see :mod:`._mass_estimate`) and the declaration's
(``declaration_uncertainty_rel`` of the declared mass: a gross mass is weighed or
computed to within a few per cent). ``MASS_MISMATCH`` is raised beyond
``tolerance_sigma`` of it. Where the beam could not read part of the cargo the
estimate is a lower bound: a shortfall is then not raised, and the message says so for
an excess.

Nothing is compared on a partial container: when the scan does not cover its
container with usable samples (:mod:`nii.inspection.coverage`), the estimate (which
fills the cargo space's ends from the nearest columns) is not the cargo's mass. It is
then left out of the estimates, and a warning says why the mass was not compared. A
mass that cannot be checked for another reason (no gross mass declared, no container
found) gets a warning too.
"""

from __future__ import annotations

import math

from nii.inspection.checks._context import CheckInput, CheckResult, dominant_material
from nii.inspection.checks._goods_model import declared_composition
from nii.inspection.checks._mass_estimate import (
    GoodsReading,
    MassEstimate,
    estimate_cargo_mass,
    organic_mass_factor,
    pooled_attenuation,
    read_goods,
)
from nii.inspection.coverage import coverage_of
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_mass", "cargo_mass_estimate", "goods_reading"]

CODE = "MASS_MISMATCH"


def _relative_uncertainty(inp: CheckInput) -> float:
    """Relative uncertainty of the areal density of the declared goods (dimensionless).

    Goods that the HS table calls ``mixed`` (machinery, electronics, drums, bottles) put
    plastics, glass and metals of different electrons per gram in one pixel, which no
    single reference material reads exactly: they get ``mixed_uncertainty_rel`` instead
    of ``areal_density_uncertainty_rel``, weighted by declared mass.
    """
    uniform = inp.threshold("mass", "areal_density_uncertainty_rel")
    mixed = inp.threshold("mass", "mixed_uncertainty_rel")
    weights = [0.0, 0.0]
    for item in inp.manifest.items:
        expectation = inp.table.get(item.hs_code)
        mass = item.gross_mass_kg if item.gross_mass_kg is not None and item.gross_mass_kg > 0 else 1.0
        weights[expectation is not None and expectation.uniformity == "mixed"] += float(mass)
    total = sum(weights)
    if total <= 0:
        return uniform
    return (weights[0] * uniform + weights[1] * mixed) / total


def goods_reading(inp: CheckInput) -> GoodsReading | None:
    """The declared goods read through the calibration's scanner model over the cargo space.

    Computed once per scan (``inp.cache["goods_reading"]``) and shared with the material
    check.

    Parameters
    ----------
    inp : CheckInput
        With ``calibration`` (its ``model`` and ``accuracy``), the α pair, the structure,
        and ``[checks.mass] goods`` and ``model_accuracy_min``.

    Returns
    -------
    GoodsReading or None
        Over the interior rows × columns; None without a container, a scanner model,
        ``α_H``, or a listed make-up for every declared chapter.
    """
    if "goods_reading" in inp.cache:
        return inp.cache["goods_reading"]  # type: ignore[no-any-return]
    reading = None
    model = getattr(inp.calibration, "model", None)
    if model is not None and inp.structure.found and inp.attenuation_high is not None:
        goods = declared_composition(inp.manifest.items, inp.settings("mass"))
        if goods is not None:
            rows, cols = inp.structure.interior()
            sigma = None if inp.sigma_attenuation_high is None else inp.sigma_attenuation_high[rows, cols]
            alpha = inp.attenuation_high[rows, cols]
            if inp.transmission_high is not None and sigma is not None:
                alpha = pooled_attenuation(inp.transmission_high[rows, cols], alpha, sigma,
                                           min_snr=inp.threshold("mass", "pool_snr"))
            accuracy = max(float(getattr(inp.calibration, "accuracy", 0.0)), inp.threshold("mass", "model_accuracy_min"))
            reading = read_goods(alpha, sigma, inp.structure.profile_g_cm2[rows], model, goods, accuracy=accuracy)
    inp.cache["goods_reading"] = reading
    return reading


def cargo_mass_estimate(inp: CheckInput) -> MassEstimate:
    """Estimate the cargo mass of a scan (kg), see :mod:`._mass_estimate`.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.mass]``: ``areal_density_uncertainty_rel``,
        ``mixed_uncertainty_rel``, ``structure_uncertainty_rel`` and the organic references.

    Returns
    -------
    MassEstimate
        All zero when no container was found.
    """
    structure = inp.structure
    settings = inp.settings("mass")
    factor, _ = organic_mass_factor(inp.manifest.items, settings)
    if not structure.found:
        return MassEstimate(0.0, 0.0, 0.0, 0.0, factor)
    rows, cols = structure.interior()
    residual = structure.residual_g_cm2[rows, cols]
    front = float(structure.front_cols[1] - structure.front_cols[0])
    rear = float(structure.rear_cols[1] - structure.rear_cols[0])
    internal = inp.manifest.container.structure.get("internal_mm")
    if isinstance(internal, (list, tuple)) and len(internal) == 3 and residual.shape[1]:
        # Cargo stands inside the internal length only: the rest of the end bands is structure.
        internal_mm = float(internal[0])
        coverage = coverage_of(inp)
        if coverage is not None and coverage.length_mismatch:
            # Not the declared type's box: the measured one, with the declared type's ends.
            internal_mm = coverage.length_mm - (coverage.declared_length_mm - internal_mm)
        missing_mm = internal_mm - residual.shape[1] * inp.column_pitch_mm
        front = rear = max(missing_mm, 0.0) / 2.0 / inp.column_pitch_mm
    # The floor band is whole rows from the container's bottom edge: its top row reaches
    # above the floor's top by ``rows × row height − floor_band_mm``, where goods stand on
    # the boards (a share of a row: negligible on fine rows, half the bottom layer's row on
    # coarse ones). That share is given the cargo of the interior row just above it.
    f0, f1 = structure.floor_rows
    floor_share = 0.0
    if f1 > f0:
        band_mm = inp.threshold("structure", "floor_band_mm")
        floor_share = min(max((f1 - f0) - band_mm / inp.row_height_mm, 0.0), 1.0)
    grams = inp.pixel_area_cm2
    structure_kg = float(structure.profile_g_cm2[rows].sum()) * residual.shape[1] * grams / 1000.0
    sigma = inp.sigma_g_cm2[rows, cols]
    relative = _relative_uncertainty(inp)
    reading = goods_reading(inp)
    if reading is not None:
        # The goods read through the model behind the walls: no class-dependent factor.
        residual, sigma, factor = reading.areal_g_cm2, reading.sigma_g_cm2, 1.0
        relative = math.hypot(reading.calibration_rel, reading.composition_rel)
    return estimate_cargo_mass(
        residual, inp.classes[rows, cols], sigma, inp.unreadable[rows, cols],
        pixel_area_cm2=grams, end_columns=(front, rear), organic_factor=factor, bottom_row_extra=floor_share,
        relative_uncertainty=relative,
        structure_kg=structure_kg,
        structure_uncertainty_rel=inp.threshold("mass", "structure_uncertainty_rel"),
    )


def check_mass(inp: CheckInput) -> CheckResult:
    """Estimate the cargo mass and raise ``MASS_MISMATCH`` when it departs from the declaration.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.mass]``: ``areal_density_uncertainty_rel``,
        ``mixed_uncertainty_rel`` (the map's reading, without a model), ``structure_uncertainty_rel``,
        ``model_accuracy_min``, ``declaration_uncertainty_rel``, ``tolerance_sigma``,
        ``min_declared_kg`` (kg), ``max_unreadable_share``.

    Returns
    -------
    CheckResult
        ``estimates["cargo_mass_kg"]`` (kg) and ``estimates["cargo_mass_sigma_kg"]`` (kg),
        None when the scan does not cover its container.
    """
    result = CheckResult()
    estimate = cargo_mass_estimate(inp)
    mass, sigma = estimate.mass_kg, estimate.sigma_kg
    result.estimates["cargo_mass_kg"] = mass
    result.estimates["cargo_mass_sigma_kg"] = sigma
    declared = inp.manifest.declared_gross_mass_kg
    coverage = coverage_of(inp)
    if coverage is not None and not coverage.complete:
        # The estimate fills the cargo space's ends from the nearest columns: on a part
        # of the container it is no estimate of the cargo at all. It is left out.
        result.estimates["cargo_mass_kg"] = None
        result.estimates["cargo_mass_sigma_kg"] = None
        if not inp.manifest.declared_empty:
            result.warnings.append(f"cargo mass not compared: {coverage.shortfall()}")
        return result
    if inp.manifest.declared_empty:
        return result
    if declared is None:
        result.warnings.append("cargo mass not checked: the manifest declares no gross mass for its goods")
        return result
    if not inp.structure.found:
        result.warnings.append("cargo mass not checked: no container was found in the image")
        return result
    # A declaration of almost nothing is judged against a floor, not against itself:
    # a relative tolerance of a few kilograms would raise on dunnage.
    reference = max(declared, inp.threshold("mass", "min_declared_kg"))
    # The declaration is uncertain too: a gross mass weighed or computed to a few per cent.
    combined = math.hypot(sigma, inp.threshold("mass", "declaration_uncertainty_rel") * reference)
    tolerance = inp.threshold("mass", "tolerance_sigma") * combined
    difference = mass - declared
    ratio = abs(difference) / tolerance if tolerance > 0 else math.inf
    lower_bound = estimate.unreadable_kg > 0 and estimate.unreadable_share > inp.threshold("mass", "max_unreadable_share")
    if ratio <= 1.0 or (difference < 0 and lower_bound):
        result.near_miss = min(ratio, 0.99)
        if lower_bound and difference < 0 and ratio > 1.0:
            result.warnings.append(
                f"estimated cargo mass {mass:,.0f} kg is below the declared {declared:,.0f} kg, but the beam "
                f"cannot read {estimate.unreadable_share:.0%} of the cargo: the estimate is a lower bound"
            )
        return result
    relative = difference / reference
    direction = "more" if difference > 0 else "less"
    severity = "high" if abs(relative) > 0.5 else "medium"
    score = min(0.99, 0.5 + 0.5 * min(1.0, (ratio - 1.0)))
    bound = " (a lower bound: part of the cargo is impenetrable)" if lower_bound else ""
    result.reasons.append(Reason(
        CODE, severity,
        f"estimated cargo mass {mass:,.0f} ± {sigma:,.0f} kg{bound} is {abs(relative):.0%} {direction} "
        f"than the declared {declared:,.0f} kg (tolerance ± {tolerance:,.0f} kg)",
        score,
    ))
    structure = inp.structure
    bbox = (structure.rows[0], structure.cols[0], structure.rows[1], structure.cols[1])
    material = dominant_material(inp.classes[structure.rows[0]:structure.rows[1], structure.cols[0]:structure.cols[1]])
    result.regions.append(inp.region(bbox, material, score, CODE))
    return result
