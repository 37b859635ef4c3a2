"""Physical constants and approximation parameters read from ``seeds/physics.toml``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from nii.errors import CatalogueError
from nii.resources import read_catalogue, seed_path

__all__ = ["physics_constants"]

_REQUIRED = {
    "constants": (
        "electron_rest_energy_mev",
        "classical_electron_radius_cm",
        "fine_structure_constant",
        "avogadro_per_mol",
    ),
    "cross_sections": ("min_energy_mev", "max_energy_mev", "max_atomic_number"),
    "mean_excitation_energy": (
        "hydrogen_ev",
        "low_z_limit",
        "low_z_per_z_ev",
        "low_z_offset_ev",
        "high_z_per_z_ev",
        "high_z_coefficient_ev",
        "high_z_exponent",
    ),
    "screening": ("screening_constant",),
    "density_effect": (
        "plasma_energy_coefficient_ev",
        "exponent_m",
        "low_i_limit_ev",
        "low_i_x1",
        "low_i_cbar_limit",
        "high_i_x1",
        "high_i_cbar_limit",
        "x0_below_limit",
        "x0_slope",
        "low_i_x0_offset",
        "high_i_x0_offset",
    ),
    "elements": ("symbols",),
}


@lru_cache(maxsize=1)
def physics_constants() -> dict[str, Any]:
    """Return the validated content of ``seeds/physics.toml``.

    Returns
    -------
    dict
        One table per section (``constants``, ``cross_sections``,
        ``mean_excitation_energy``, ``screening``, ``elements``), each with a ``source``.

    Raises
    ------
    CatalogueError
        If the file is missing, is not TOML, or lacks a table, a value or a source.
    """
    path = Path(seed_path("physics.toml"))
    data = read_catalogue(path, "physics constants file")
    for table, keys in _REQUIRED.items():
        section = data.get(table)
        if not isinstance(section, dict):
            raise CatalogueError(f"{path}: table [{table}] is missing.")
        for key in (*keys, "source"):
            if key not in section:
                raise CatalogueError(f"{path}: [{table}] lacks the value '{key}'.")
    return data
