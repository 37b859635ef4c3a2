"""MASS_MISMATCH: the cargo's estimated mass is far from the declared gross mass.

The estimate is Σ (areal density − structure profile) × pixel area over the cargo
space, the end bands extrapolated from the nearest columns
(:func:`._cargo.cargo_mass_kg`). Its uncertainty combines the pixel noise, the
calibration's relative uncertainty on areal density and the structure profile's. The
tolerance is the larger of ``tolerance_sigma`` standard uncertainties and
``min_relative_tolerance`` of the declared mass. Unreadable pixels make the estimate a
lower bound, so a shortfall is not raised when they could hold the difference.
"""

from __future__ import annotations

from nii.inspection.checks._cargo import cargo_mass_kg
from nii.inspection.checks._context import CheckInput, CheckResult
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_mass"]

CODE = "MASS_MISMATCH"


def check_mass(inp: CheckInput) -> CheckResult:
    """Estimate the cargo mass and raise ``MASS_MISMATCH`` when it departs from the declaration.

    Parameters
    ----------
    inp : CheckInput
        Thresholds from ``[checks.mass]``: ``areal_density_uncertainty_rel``,
        ``tolerance_sigma``, ``min_relative_tolerance``, ``min_declared_kg`` (kg).

    Returns
    -------
    CheckResult
        ``estimates["cargo_mass_kg"]`` (kg) and ``estimates["cargo_mass_sigma_kg"]`` (kg) always.
    """
    result = CheckResult()
    mass, sigma, unreadable_kg = cargo_mass_kg(inp, inp.threshold("mass", "areal_density_uncertainty_rel"))
    result.estimates["cargo_mass_kg"] = mass
    result.estimates["cargo_mass_sigma_kg"] = sigma
    declared = inp.manifest.declared_gross_mass_kg
    if inp.manifest.declared_empty or declared is None or not inp.structure.found:
        return result
    if declared < inp.threshold("mass", "min_declared_kg"):
        return result
    tolerance = max(inp.threshold("mass", "tolerance_sigma") * sigma,
                    inp.threshold("mass", "min_relative_tolerance") * declared)
    difference = mass - declared
    ratio = abs(difference) / tolerance
    shortfall_hidden = difference < 0 and unreadable_kg > 0 and inp.unreadable.any()
    if ratio <= 1.0 or shortfall_hidden:
        result.near_miss = min(ratio, 0.99)
        if shortfall_hidden and ratio > 1.0:
            result.warnings.append(
                f"estimated cargo mass {mass:,.0f} kg is below the declared {declared:,.0f} kg, "
                "but part of the cargo is impenetrable: the estimate is a lower bound"
            )
        return result
    relative = difference / declared
    direction = "more" if difference > 0 else "less"
    severity = "high" if abs(relative) > 0.5 else "medium"
    score = min(0.99, 0.5 + 0.5 * min(1.0, (ratio - 1.0)))
    result.reasons.append(Reason(
        CODE, severity,
        f"estimated cargo mass {mass:,.0f} ± {sigma:,.0f} kg is {abs(relative):.0%} {direction} "
        f"than the declared {declared:,.0f} kg (tolerance ± {tolerance:,.0f} kg)",
        score,
    ))
    structure = inp.structure
    bbox = (structure.rows[0], structure.cols[0], structure.rows[1], structure.cols[1])
    from nii.inspection.checks._context import dominant_material

    material = dominant_material(inp.classes[structure.rows[0]:structure.rows[1], structure.cols[0]:structure.cols[1]])
    result.regions.append(inp.region(bbox, material, score, CODE))
    return result
