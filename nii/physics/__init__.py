"""Photon physics of MeV cargo radiography.

Cross sections (Boone & Chavez 1996 tables of the ``mucoeff`` package, CC-BY 4.0),
the materials catalogue (``seeds/materials.toml``), thick-target linac bremsstrahlung
spectra (Schiff), an energy-integrating detector, signal-weighted effective beams, fast
polychromatic Beer–Lambert transmission, and the MeV effective atomic number.

Examples
--------
>>> from nii.physics import effective_beams, attenuation_coefficients, polychromatic_transmission
>>> high, low = effective_beams((6.0, 3.0))
>>> mu = attenuation_coefficients(["iron"], high)
>>> transmission = polychromatic_transmission(high, mu, [[78.74]])  # 100 mm of iron
"""

from __future__ import annotations

from nii.physics._beams import (
    EffectiveBeam,
    attenuation_coefficients,
    effective_beams,
    polychromatic_transmission,
)
from nii.physics._cross_sections import (
    PROCESSES,
    energy_range_mev,
    mass_attenuation,
    mass_energy_absorption,
)
from nii.physics._detector import Detector
from nii.physics._elements import atomic_mass, atomic_number, element_symbol
from nii.physics._errors import PhysicsError
from nii.physics._materials import Material, load_materials, material
from nii.physics._spectra import Spectrum, csda_range_g_cm2, linac_spectrum
from nii.physics._zeff import pair_compton_ratio, zeff, zeff_class

__all__ = [
    "PROCESSES",
    "Detector",
    "EffectiveBeam",
    "Material",
    "PhysicsError",
    "Spectrum",
    "atomic_mass",
    "atomic_number",
    "attenuation_coefficients",
    "csda_range_g_cm2",
    "effective_beams",
    "element_symbol",
    "energy_range_mev",
    "linac_spectrum",
    "load_materials",
    "mass_attenuation",
    "mass_energy_absorption",
    "material",
    "pair_compton_ratio",
    "polychromatic_transmission",
    "zeff",
    "zeff_class",
]
