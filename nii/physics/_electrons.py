"""Electron stopping powers and Schiff's bremsstrahlung cross section.

Used by the thick-target linac spectrum (:mod:`nii.physics._spectra`).

* Collision stopping power: the Bethe formula for electrons as written in ICRU
  Report 37 (1984), eq. 2.4 with the Rohrlich–Carlson F⁻(τ), mean excitation energies
  from Sternheimer's empirical fit (``seeds/physics.toml``) combined by Bragg additivity
  for compounds, and, when the density is given, the density-effect correction δ of
  Sternheimer & Peierls' general formula for condensed materials (a few per cent at
  MeV energies; without it the stopping power is overestimated by up to about 10 %).
* Bremsstrahlung: Schiff (1951), Phys. Rev. 83, 252, the cross section differential in
  photon energy and integrated over photon angles (Koch & Motz 1959, formula 3BS(e)),
  Born approximation with the Thomas–Fermi screening of Schiff. Electron–electron
  bremsstrahlung is included approximately by replacing Z² with Z(Z+1).
* Radiative stopping power: the energy-weighted integral of that same cross section,
  so that the slowing-down and the photon yield are consistent.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from nii.physics._constants import physics_constants
from nii.physics._elements import atomic_mass, atomic_number

__all__ = [
    "schiff_cross_section",
    "schiff_forward_cross_section",
    "collision_stopping_power",
    "radiative_stopping_power",
    "total_stopping_power",
    "density_effect",
    "mean_excitation_energy_mev",
]


def _constants() -> tuple[float, float, float, float, float]:
    section = physics_constants()["constants"]
    return (
        float(section["electron_rest_energy_mev"]),
        float(section["classical_electron_radius_cm"]),
        float(section["fine_structure_constant"]),
        float(section["avogadro_per_mol"]),
        float(physics_constants()["screening"]["screening_constant"]),
    )


def mean_excitation_energy_mev(z: int) -> float:
    """Return the mean excitation energy I of element ``z`` (MeV), Sternheimer's fit.

    Parameters
    ----------
    z : int
        Atomic number.

    Returns
    -------
    float
        I, MeV (e.g. about 7.5e-4 MeV for tungsten).
    """
    fit = physics_constants()["mean_excitation_energy"]
    if z == 1:
        return float(fit["hydrogen_ev"]) * 1e-6
    if z < int(fit["low_z_limit"]):
        per_z = float(fit["low_z_per_z_ev"]) + float(fit["low_z_offset_ev"]) / z
    else:
        per_z = float(fit["high_z_per_z_ev"]) + float(fit["high_z_coefficient_ev"]) * z ** float(
            fit["high_z_exponent"]
        )
    return per_z * z * 1e-6


def schiff_cross_section(z: int, electron_kinetic_mev, photon_mev) -> np.ndarray:
    """Return Schiff's bremsstrahlung cross section dσ/dk per atom, cm²/MeV.

    Parameters
    ----------
    z : int
        Atomic number of the target atom.
    electron_kinetic_mev : array_like
        Kinetic energy T of the electron before the emission, MeV.
    photon_mev : array_like
        Photon energy k, MeV (broadcast with ``electron_kinetic_mev``).

    Returns
    -------
    numpy.ndarray
        dσ/dk, cm² per MeV per atom; zero where k ≥ T or k ≤ 0.

    Notes
    -----
    Koch & Motz (1959) formula 3BS(e), integrated over photon angles, with Z² → Z(Z+1):
    dσ/dk = 2αr₀²Z(Z+1)/k {[1 + (E/E₀)² − ⅔E/E₀][ln M + 1 − (2/b) atan b]
    + (E/E₀)[(2/b²) ln(1+b²) + 4(2−b²)/(3b³) atan b − 8/(3b²) + 2/9]},
    b = 2E₀E Z^⅓/(111 k), 1/M = (k/(2E₀E))² + (Z^⅓/111)², energies in mc².
    """
    rest, r0, alpha, _, screening = _constants()
    t = np.asarray(electron_kinetic_mev, dtype=np.float64)
    k = np.asarray(photon_mev, dtype=np.float64)
    t, k = np.broadcast_arrays(t, k)
    valid = (k > 0.0) & (k < t)
    e0 = np.where(valid, t / rest + 1.0, 2.0)
    kk = np.where(valid, k / rest, 0.5)
    e = e0 - kk
    z_third = z ** (1.0 / 3.0)
    b = 2.0 * e0 * e * z_third / (screening * kk)
    inverse_m = (kk / (2.0 * e0 * e)) ** 2 + (z_third / screening) ** 2
    ratio = e / e0
    arctan_b = np.arctan(b)
    first = (1.0 + ratio**2 - 2.0 / 3.0 * ratio) * (-np.log(inverse_m) + 1.0 - 2.0 / b * arctan_b)
    second = ratio * (
        2.0 / b**2 * np.log1p(b**2)
        + 4.0 * (2.0 - b**2) / (3.0 * b**3) * arctan_b
        - 8.0 / (3.0 * b**2)
        + 2.0 / 9.0
    )
    braces = np.maximum(first + second, 0.0)
    sigma = 2.0 * alpha * r0**2 * z * (z + 1.0) / np.where(valid, k, 1.0) * braces
    return np.where(valid, sigma, 0.0)


def schiff_forward_cross_section(z: int, electron_kinetic_mev, photon_mev) -> np.ndarray:
    """Return Schiff's bremsstrahlung cross section in the forward direction, cm²/(MeV sr).

    Parameters
    ----------
    z : int
        Atomic number of the target atom.
    electron_kinetic_mev : array_like
        Kinetic energy T of the electron before the emission, MeV.
    photon_mev : array_like
        Photon energy k, MeV (broadcast with ``electron_kinetic_mev``).

    Returns
    -------
    numpy.ndarray
        d²σ/(dk dΩ) at θ = 0 per atom, cm² MeV⁻¹ sr⁻¹; zero where k ≥ T, and clipped at
        zero where the Born-approximation formula turns negative at the very tip.

    Notes
    -----
    Koch & Motz (1959) formula 2BS (Schiff 1951) at y = E₀θ = 0, with Z² → Z(Z+1):
    d²σ/(dk dΩ) = 2αr₀²Z(Z+1)/(πk) E₀² {[1 + (E/E₀)²] ln M(0) − (1 + E/E₀)²},
    1/M(0) = (k/(2E₀E))² + (Z^⅓/111)², energies in mc².
    """
    rest, r0, alpha, _, screening = _constants()
    t = np.asarray(electron_kinetic_mev, dtype=np.float64)
    k = np.asarray(photon_mev, dtype=np.float64)
    t, k = np.broadcast_arrays(t, k)
    valid = (k > 0.0) & (k < t)
    e0 = np.where(valid, t / rest + 1.0, 2.0)
    kk = np.where(valid, k / rest, 0.5)
    e = e0 - kk
    z_third = z ** (1.0 / 3.0)
    inverse_m = (kk / (2.0 * e0 * e)) ** 2 + (z_third / screening) ** 2
    ratio = e / e0
    braces = np.maximum((1.0 + ratio**2) * (-np.log(inverse_m)) - (1.0 + ratio) ** 2, 0.0)
    sigma = 2.0 * alpha * r0**2 * z * (z + 1.0) / (np.pi * np.where(valid, k, 1.0)) * e0**2 * braces
    return np.where(valid, sigma, 0.0)


def density_effect(
    mean_excitation_mev: float, z_over_a: float, density_g_cm3: float, beta_gamma
) -> np.ndarray:
    """Return the density-effect correction δ of the collision stopping power.

    Parameters
    ----------
    mean_excitation_mev : float
        Mean excitation energy I of the material, MeV.
    z_over_a : float
        Mean ⟨Z/A⟩ of the material, mol/g.
    density_g_cm3 : float
        Density, g/cm³ (a condensed material: solid or liquid).
    beta_gamma : array_like
        Electron momentum βγ (dimensionless).

    Returns
    -------
    numpy.ndarray
        δ ≥ 0 from Sternheimer & Peierls' (1971) general formula: 0 below x₀,
        4.606x − C̄ + a(x₁ − x)^m between, 4.606x − C̄ above x₁, with x = log₁₀ βγ,
        C̄ = 2 ln(I/ħω_p) + 1 and a fixed by continuity at x₀.
    """
    fit = physics_constants()["density_effect"]
    plasma_ev = float(fit["plasma_energy_coefficient_ev"]) * np.sqrt(density_g_cm3 * z_over_a)
    c_bar = 2.0 * np.log(mean_excitation_mev * 1e6 / plasma_ev) + 1.0
    if mean_excitation_mev * 1e6 < float(fit["low_i_limit_ev"]):
        x1, limit, offset = (
            float(fit["low_i_x1"]),
            float(fit["low_i_cbar_limit"]),
            float(fit["low_i_x0_offset"]),
        )
    else:
        x1, limit, offset = (
            float(fit["high_i_x1"]),
            float(fit["high_i_cbar_limit"]),
            float(fit["high_i_x0_offset"]),
        )
    x0 = float(fit["x0_below_limit"]) if c_bar < limit else float(fit["x0_slope"]) * c_bar - offset
    m = float(fit["exponent_m"])
    a = (c_bar - 4.606 * x0) / (x1 - x0) ** m
    x = np.log10(np.maximum(np.asarray(beta_gamma, dtype=np.float64), 1e-12))
    delta = np.where(
        x >= x1, 4.606 * x - c_bar, 4.606 * x - c_bar + a * np.clip(x1 - x, 0.0, None) ** m
    )
    return np.where(x < x0, 0.0, np.maximum(delta, 0.0))


def collision_stopping_power(
    composition: dict[str, float], electron_kinetic_mev, density_g_cm3: float | None = None
) -> np.ndarray:
    """Return the electron mass collision stopping power, MeV cm²/g (Bethe, ICRU 37).

    Parameters
    ----------
    composition : dict of str to float
        Element mass fractions (summing to 1).
    electron_kinetic_mev : array_like
        Electron kinetic energy, MeV (valid above about 10 keV).
    density_g_cm3 : float, optional
        Density of the (condensed) material, g/cm³; if given, the density-effect
        correction is applied, otherwise not (the dilute-gas limit).

    Returns
    -------
    numpy.ndarray
        S_col/ρ, MeV cm²/g.
    """
    rest, r0, _, avogadro, _ = _constants()
    t = np.asarray(electron_kinetic_mev, dtype=np.float64)
    z_over_a = 0.0
    log_i = 0.0
    for symbol, fraction in composition.items():
        z = atomic_number(symbol)
        weight = fraction * z / atomic_mass(z)
        z_over_a += weight
        log_i += weight * np.log(mean_excitation_energy_mev(z))
    mean_i = np.exp(log_i / z_over_a)
    tau = t / rest
    gamma = tau + 1.0
    beta2 = 1.0 - 1.0 / gamma**2
    f_minus = 1.0 - beta2 + (tau**2 / 8.0 - (2.0 * tau + 1.0) * np.log(2.0)) / gamma**2
    bracket = np.log(tau**2 * (tau + 2.0) / (2.0 * (mean_i / rest) ** 2)) + f_minus
    if density_g_cm3 is not None:
        bracket = bracket - density_effect(
            float(mean_i), float(z_over_a), float(density_g_cm3), np.sqrt(gamma**2 - 1.0)
        )
    return 2.0 * np.pi * r0**2 * rest * avogadro * z_over_a / beta2 * bracket


@lru_cache(maxsize=64)
def _radiative_table(
    items: tuple[tuple[str, float], ...], top_mev: float
) -> tuple[np.ndarray, np.ndarray]:
    _, _, _, avogadro, _ = _constants()
    energies = np.geomspace(1e-3, top_mev, 400)
    nodes, weights = np.polynomial.legendre.leggauss(64)
    u = 0.5 * (nodes + 1.0)
    w = 0.5 * weights
    k = energies[:, None] * u[None, :]
    total = np.zeros_like(energies)
    for symbol, fraction in items:
        z = atomic_number(symbol)
        sigma = schiff_cross_section(z, energies[:, None], k)
        # ∫₀^T k dσ/dk dk = T ∫₀¹ k dσ/dk du
        total += fraction * avogadro / atomic_mass(z) * energies * np.sum(w * k * sigma, axis=1)
    energies.setflags(write=False)
    total.setflags(write=False)
    return energies, total


def radiative_stopping_power(composition: dict[str, float], electron_kinetic_mev) -> np.ndarray:
    """Return the electron mass radiative stopping power, MeV cm²/g, from Schiff's cross section.

    Parameters
    ----------
    composition : dict of str to float
        Element mass fractions (summing to 1).
    electron_kinetic_mev : array_like
        Electron kinetic energy, MeV (1 keV to 60 MeV).

    Returns
    -------
    numpy.ndarray
        S_rad/ρ = Σ wᵢ (N_A/Aᵢ) ∫₀^T k dσᵢ/dk dk, MeV cm²/g.
    """
    t = np.asarray(electron_kinetic_mev, dtype=np.float64)
    energies, values = _radiative_table(tuple(sorted(composition.items())), 60.0)
    return np.exp(
        np.interp(
            np.log(np.clip(t, 1e-3, 60.0)), np.log(energies), np.log(np.maximum(values, 1e-300))
        )
    )


def total_stopping_power(
    composition: dict[str, float], electron_kinetic_mev, density_g_cm3: float | None = None
) -> np.ndarray:
    """Return collision + radiative mass stopping power, MeV cm²/g (see the module notes).

    Parameters
    ----------
    composition : dict of str to float
        Element mass fractions (summing to 1).
    electron_kinetic_mev : array_like
        Electron kinetic energy, MeV.
    density_g_cm3 : float, optional
        Density, g/cm³, for the density-effect correction of the collision part.

    Returns
    -------
    numpy.ndarray
        S/ρ, MeV cm²/g.
    """
    return collision_stopping_power(
        composition, electron_kinetic_mev, density_g_cm3
    ) + radiative_stopping_power(composition, electron_kinetic_mev)
