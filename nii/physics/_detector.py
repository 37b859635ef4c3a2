"""Energy-integrating scintillator detector (one crystal per channel)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nii.physics._cross_sections import mass_attenuation, mass_energy_absorption
from nii.physics._errors import PhysicsError
from nii.physics._materials import material

__all__ = ["Detector"]


@dataclass(frozen=True)
class Detector:
    """An energy-integrating detector crystal, the beam entering along its depth.

    Parameters
    ----------
    material : str
        Catalogue name of the crystal (default ``"CdWO4"``).
    depth_mm : float
        Crystal depth along the beam, mm (default 30).

    Notes
    -----
    :meth:`response` uses the first-collision energy-absorption approximation:
    a photon of energy E interacts in the crystal with probability 1 − exp(−μ d), and an
    interaction deposits on average E μ_en/μ locally (the energy given to charged
    particles that they do not re-radiate). Scattered and annihilation photons are taken
    to escape and electrons to stop where they are made. Bounds: for a thin crystal the
    response tends to E (μ_en/ρ) ρ d; for an infinitely thick one to E μ_en/μ; the
    neglected re-absorption of scattered photons makes it a lower bound for deep crystals.
    """

    material: str = "CdWO4"
    depth_mm: float = 30.0

    def __post_init__(self) -> None:
        depth = float(self.depth_mm)
        if not (np.isfinite(depth) and depth > 0.0):
            raise PhysicsError(
                f"detector depth_mm {self.depth_mm!r} must be a positive number of mm."
            )
        material(self.material)  # raises CatalogueError for an unknown crystal

    @property
    def density_g_cm3(self) -> float:
        """Crystal density, g/cm³."""
        return material(self.material).density_g_cm3

    def response(self, energy_mev):
        """Return the mean energy deposited per incident photon, MeV.

        Parameters
        ----------
        energy_mev : float or array_like
            Photon energy, MeV (1 keV – 50 MeV).

        Returns
        -------
        float or numpy.ndarray
            E (μ_en/μ) (1 − exp(−μ ρ d)), MeV per photon, shape of ``energy_mev``.

        Examples
        --------
        >>> 0.0 < Detector().response(6.0) < 6.0
        True
        """
        crystal = material(self.material)
        energy = np.asarray(energy_mev, dtype=np.float64)
        mu = np.asarray(mass_attenuation(crystal, energy))
        mu_en = np.asarray(mass_energy_absorption(crystal, energy))
        optical_depth = mu * crystal.density_g_cm3 * float(self.depth_mm) * 0.1
        deposited = energy * (mu_en / mu) * -np.expm1(-optical_depth)
        return float(deposited) if np.ndim(energy_mev) == 0 else deposited
