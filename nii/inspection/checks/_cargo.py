"""Cargo seen through the structure: which pixels hold cargo, its mass and its material mix."""

from __future__ import annotations

import math

import numpy as np

from nii.classes import CLASS_NAMES, IMPENETRABLE, NONE
from nii.inspection.checks._context import CheckInput

__all__ = ["cargo_mask", "cargo_mass_kg", "material_fractions"]


def cargo_mask(inp: CheckInput, min_residual_g_cm2: float, min_sigma: float) -> np.ndarray:
    """Pixels of the cargo space whose areal density exceeds the structure's significantly.

    Parameters
    ----------
    inp : CheckInput
    min_residual_g_cm2 : float
        Smallest excess over the structure profile counted as cargo (g/cm²).
    min_sigma : float
        And at least this many noise standard deviations.

    Returns
    -------
    numpy.ndarray of bool
        Rows × columns; False outside the container's interior (goods stand on the floor
        boards: the floor and roof bands hold structure only).
    """
    mask = np.zeros(inp.areal_g_cm2.shape, bool)
    if not inp.structure.found:
        return mask
    rows, cols = inp.structure.interior()
    residual = inp.structure.residual_g_cm2[rows, cols]
    mask[rows, cols] = residual > np.maximum(min_residual_g_cm2, min_sigma * inp.sigma_g_cm2[rows, cols])
    return mask


def cargo_mass_kg(inp: CheckInput, relative_uncertainty: float) -> tuple[float, float, float]:
    """Estimate the cargo mass from the areal density above the structure.

    mass = Σ (areal − structure profile) × pixel area over the interior (between the
    floor and roof bands, between the end bands); the end
    bands (front wall, doors), where the structure cannot be separated, get the mean
    mass per column of the nearest interior columns.

    Parameters
    ----------
    inp : CheckInput
    relative_uncertainty : float
        Relative systematic uncertainty of the areal density (dimensionless).

    Returns
    -------
    mass_kg, sigma_kg, unreadable_kg : float
        Estimate (kg), its standard uncertainty (kg), and the part of it carried by
        unreadable pixels (kg; a lower bound there).
    """
    structure = inp.structure
    if not structure.found:
        return 0.0, 0.0, 0.0
    # Cargo stands on the floor boards and under the roof: the floor and roof bands hold
    # structure only (cross members, rails), which the per-row baseline cannot remove.
    rows, cols = structure.interior()
    residual = structure.residual_g_cm2[rows, cols].astype(np.float64)
    grams_per_pixel = inp.pixel_area_cm2  # (g/cm²) × cm² = g
    column_mass = residual.sum(axis=0) * grams_per_pixel / 1000.0
    mass = float(column_mass.sum())
    noise = float(np.sqrt(np.sum(inp.sigma_g_cm2[rows, cols].astype(np.float64) ** 2))) * grams_per_pixel / 1000.0
    front_cols = structure.front_cols[1] - structure.front_cols[0]
    rear_cols = structure.rear_cols[1] - structure.rear_cols[0]
    internal = inp.manifest.container.structure.get("internal_mm")
    if isinstance(internal, (list, tuple)) and len(internal) == 3 and column_mass.size:
        # Cargo stands inside the internal length only: the rest of the end bands is structure.
        missing_mm = float(internal[0]) - column_mass.size * inp.column_pitch_mm
        per_side = max(missing_mm, 0.0) / 2.0 / inp.column_pitch_mm
        front_cols = rear_cols = per_side
    if column_mass.size and (front_cols or rear_cols):
        edge = max(1, min(column_mass.size // 10, int(math.ceil(max(front_cols, rear_cols)))))
        mass += float(np.mean(column_mass[:edge])) * front_cols
        mass += float(np.mean(column_mass[-edge:])) * rear_cols
    structure_kg = float(structure.profile_g_cm2[rows].sum()) * residual.shape[1] * grams_per_pixel / 1000.0
    unreadable = inp.unreadable[rows, cols]
    unreadable_kg = float(residual[unreadable].sum()) * grams_per_pixel / 1000.0
    sigma = math.sqrt(noise**2 + (relative_uncertainty * abs(mass)) ** 2 + (0.03 * structure_kg) ** 2)
    return mass, sigma, unreadable_kg


def material_fractions(inp: CheckInput, mask: np.ndarray) -> dict[str, float]:
    """Share of the cargo mass by material class over ``mask``, weighted by the excess areal density.

    Returns
    -------
    dict of str to float
        Class name → share (0..1), classes with no share left out; ``none`` pixels are
        not counted (too little material to tell).
    """
    if not mask.any():
        return {}
    weights = np.clip(inp.structure.residual_g_cm2[mask], 0.0, None).astype(np.float64)
    classes = inp.classes[mask]
    totals = np.bincount(classes, weights=weights, minlength=IMPENETRABLE + 1)
    totals[NONE] = 0.0
    total = float(totals.sum())
    if total <= 0:
        return {}
    return {CLASS_NAMES[code]: float(totals[code] / total) for code in range(1, IMPENETRABLE + 1) if totals[code] > 0}
