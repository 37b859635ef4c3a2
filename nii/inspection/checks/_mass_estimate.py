"""The cargo's mass from its areal density, with the declared goods' mass attenuation.

The material map's areal density is ``ρt = α_H / κ`` with ``κ`` the mass attenuation
of the calibration's reference curve at that Z_eff. At MeV energies Compton scattering
dominates, and ``κ`` follows the electrons per gram, ``Z/A``. Every element but
hydrogen has ``Z/A ≈ 0.5``; hydrogen has 1. The calibration's organic references are
pure carbon and oxygen (``Z/A = 0.5``), so the map reads a hydrogenous good (water
11 % H, polyethylene 14 % H, cellulose 6 % H) as 6–14 % heavier than it is. Dual-energy
ratios cannot see hydrogen (its pair-to-Compton ratio is that of a light element), but
the declaration says what the goods are: for the organic pixels of the cargo, the
estimate uses the mass attenuation of the declared goods' organic matter instead
(``[[checks.mass.organic_reference]]``), the ratio ``κ_ref / κ_calibration`` taken at
the beam's effective energy (it changes by < 1 % between 1 and 6 MeV).

Pixels the beam could not read carry a lower bound of their areal density: where they
are part of the cargo space the estimate is a lower bound too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nii.classes import ORGANIC
from nii.errors import CatalogueError

__all__ = ["MassEstimate", "organic_mass_factor", "estimate_cargo_mass"]


@functools.lru_cache(maxsize=64)
def _attenuation_ratio(reference: str, calibration_reference: str, energy_mev: float) -> float:
    """``κ_calibration / κ_reference`` at ``energy_mev`` (dimensionless)."""
    from nii.physics import mass_attenuation

    try:
        ratio = float(mass_attenuation(calibration_reference, energy_mev)) / float(mass_attenuation(reference, energy_mev))
    except Exception as exc:  # noqa: BLE001 - physics raises its own error types
        raise CatalogueError(
            f"[checks.mass]: cannot compute the mass attenuation of {reference!r} or {calibration_reference!r} ({exc})"
        ) from exc
    if not (math.isfinite(ratio) and 0.5 < ratio < 2.0):
        raise CatalogueError(f"[checks.mass]: mass attenuation ratio of {reference!r} is implausible ({ratio:.3f})")
    return ratio


def _reference_for(chapter: str, references: Sequence[Mapping[str, Any]], default: str) -> str:
    for entry in references:
        chapters = entry.get("chapters", ())
        if isinstance(chapters, (list, tuple)) and chapter in chapters:
            return str(entry.get("material", default))
    return default


def organic_mass_factor(items: Sequence[Any], settings: Mapping[str, Any]) -> tuple[float, str]:
    """Factor turning the map's organic areal density into the declared goods' (dimensionless).

    Parameters
    ----------
    items : sequence of ManifestItem
        Declared goods (``chapter``, ``gross_mass_kg`` in kg).
    settings : mapping
        ``[checks.mass]``: ``calibration_organic_reference`` (material name),
        ``default_organic_reference`` (material name, packaging and pallets when no
        declared chapter is listed), ``effective_energy_mev`` (MeV) and the
        ``organic_reference`` list of ``{chapters, material}`` tables.

    Returns
    -------
    factor, described : float, str
        ``κ_calibration / κ_goods`` weighted by declared mass, and the reference
        materials used (for messages).

    Examples
    --------
    >>> settings = {"calibration_organic_reference": "graphite", "default_organic_reference": "cellulose",
    ...             "effective_energy_mev": 2.0, "organic_reference": [{"chapters": ["22"], "material": "water"}]}
    >>> factor, _ = organic_mass_factor([], settings)
    >>> 0.9 < factor < 0.97
    True
    """
    calibration = str(settings.get("calibration_organic_reference", "graphite"))
    default = str(settings.get("default_organic_reference", "cellulose"))
    energy = float(settings.get("effective_energy_mev", 2.0))
    references = settings.get("organic_reference", ())
    if not isinstance(references, (list, tuple)):
        references = ()
    weights: dict[str, float] = {}
    for item in items:
        name = _reference_for(str(item.chapter), references, default)
        mass = item.gross_mass_kg if item.gross_mass_kg is not None and item.gross_mass_kg > 0 else 1.0
        weights[name] = weights.get(name, 0.0) + float(mass)
    if not weights:
        weights[default] = 1.0
    total = sum(weights.values())
    factor = sum(w * _attenuation_ratio(name, calibration, energy) for name, w in weights.items()) / total
    return factor, ", ".join(sorted(weights))


@dataclass(frozen=True)
class MassEstimate:
    """The cargo mass estimate and what it rests on.

    Parameters
    ----------
    mass_kg : float
        Estimated cargo mass (kg).
    sigma_kg : float
        Its standard uncertainty (kg).
    unreadable_kg : float
        Part of the estimate carried by unreadable pixels (kg), a lower bound there.
    unreadable_share : float
        Share of the cargo space's loaded columns × rows that the beam could not read (0..1).
    organic_factor : float
        ``κ_calibration / κ_goods`` applied to organic pixels.
    """

    mass_kg: float
    sigma_kg: float
    unreadable_kg: float
    unreadable_share: float
    organic_factor: float


def estimate_cargo_mass(
    residual_g_cm2: np.ndarray,
    classes: np.ndarray,
    sigma_g_cm2: np.ndarray,
    unreadable: np.ndarray,
    *,
    pixel_area_cm2: float,
    end_columns: tuple[float, float],
    organic_factor: float,
    relative_uncertainty: float,
    structure_kg: float,
    structure_uncertainty_rel: float,
    bottom_row_extra: float = 0.0,
) -> MassEstimate:
    """Sum the cargo's areal density over the cargo space.

    Parameters
    ----------
    residual_g_cm2 : numpy.ndarray
        Areal density above the structure profile over the interior (g/cm², rows × columns).
    classes : numpy.ndarray
        Material classes of the same pixels.
    sigma_g_cm2 : numpy.ndarray
        Noise standard deviation of the areal density (g/cm²).
    unreadable : numpy.ndarray of bool
        Pixels the beam could not read.
    pixel_area_cm2 : float
        Pixel area at the scan plane (cm²).
    end_columns : tuple of float
        Columns (may be fractional) of cargo space beyond the interior at the front and
        at the rear, given the mean mass per column of the nearest interior columns.
    organic_factor : float
        Factor applied to the organic pixels' residual (see :func:`organic_mass_factor`).
    relative_uncertainty : float
        Relative systematic uncertainty of the areal density (dimensionless).
    structure_kg : float
        Mass of the subtracted structure profile over the interior (kg).
    structure_uncertainty_rel : float
        Its relative uncertainty (dimensionless).
    bottom_row_extra : float, optional
        Share of a row (0..1) of cargo space below the residual's last row (the part of
        the floor band's top row above the floor), given the last row's cargo.

    Returns
    -------
    MassEstimate
    """
    residual = residual_g_cm2.astype(np.float64)
    if residual.size == 0:
        return MassEstimate(0.0, 0.0, 0.0, 0.0, organic_factor)
    organic = classes == ORGANIC
    weighted = np.where(organic, residual * organic_factor, residual)
    if bottom_row_extra > 0 and weighted.shape[0]:
        weighted = weighted.copy()
        weighted[-1] *= 1.0 + min(float(bottom_row_extra), 1.0)
    grams = pixel_area_cm2  # (g/cm²) × cm² = g
    column_mass = weighted.sum(axis=0) * grams / 1000.0
    mass = float(column_mass.sum())
    front, rear = end_columns
    if column_mass.size and (front > 0 or rear > 0):
        edge = max(1, min(column_mass.size // 10, int(math.ceil(max(front, rear, 1.0)))))
        mass += float(np.mean(column_mass[:edge])) * front
        mass += float(np.mean(column_mass[-edge:])) * rear
    noise = float(np.sqrt(np.sum(sigma_g_cm2.astype(np.float64) ** 2))) * grams / 1000.0
    unreadable_kg = float(weighted[unreadable].sum()) * grams / 1000.0
    loaded = residual > 0
    share = float(unreadable.sum()) / max(int(loaded.sum()), 1)
    sigma = math.sqrt(noise**2 + (relative_uncertainty * abs(mass)) ** 2 + (structure_uncertainty_rel * structure_kg) ** 2)
    return MassEstimate(mass, sigma, unreadable_kg, min(share, 1.0), organic_factor)
