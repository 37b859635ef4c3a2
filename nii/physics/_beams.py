"""Signal-weighted effective beams and polychromatic Beer–Lambert transmission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nii.physics._cross_sections import MaterialLike, mass_attenuation
from nii.physics._detector import Detector
from nii.physics._errors import PhysicsError
from nii.physics._spectra import linac_spectrum, shared_target_thickness_mm

__all__ = [
    "EffectiveBeam",
    "effective_beams",
    "attenuation_coefficients",
    "polychromatic_transmission",
]

_CHUNK_RAYS = 32768


@dataclass(frozen=True, eq=False)
class EffectiveBeam:
    """The detector-signal weight of each photon energy of one linac energy.

    Attributes
    ----------
    endpoint_mev : float
        Linac endpoint energy, MeV.
    energy_mev : numpy.ndarray
        Photon energies (spectrum bin centres), MeV.
    weight : numpy.ndarray
        Share of the detector signal (air scan) carried by each energy: fluence × energy
        deposited per photon, normalised to sum 1.
    """

    endpoint_mev: float
    energy_mev: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        energy = np.array(self.energy_mev, dtype=np.float64)
        weight = np.array(self.weight, dtype=np.float64)
        if energy.ndim != 1 or energy.shape != weight.shape or energy.size == 0:
            raise PhysicsError(
                f"EffectiveBeam needs 1-D energy_mev and weight of equal, non-zero length; got shapes {energy.shape} and {weight.shape}."
            )
        if not (np.all(np.isfinite(energy)) and np.all(energy > 0.0)):
            raise PhysicsError("EffectiveBeam energy_mev must be finite and positive (MeV).")
        if not (np.all(np.isfinite(weight)) and np.all(weight >= 0.0) and weight.sum() > 0.0):
            raise PhysicsError("EffectiveBeam weight must be finite, >= 0 and not all zero.")
        energy.setflags(write=False)
        weight.setflags(write=False)
        object.__setattr__(self, "endpoint_mev", float(self.endpoint_mev))
        object.__setattr__(self, "energy_mev", energy)
        object.__setattr__(self, "weight", weight)

    @property
    def mean_energy_mev(self) -> float:
        """Signal-weighted mean photon energy, MeV."""
        return float(np.sum(self.weight * self.energy_mev))


def effective_beams(
    energies_mev: Sequence[float] = (6.0, 3.0),
    detector: Detector | None = None,
    **spectrum_options,
) -> list[EffectiveBeam]:
    """Return the effective (signal-weighted) beam of each linac energy, highest first.

    Parameters
    ----------
    energies_mev : sequence of float
        Linac endpoint energies, MeV (e.g. (6, 3), (9, 6), (8, 4)).
    detector : Detector, optional
        Detector crystal (default ``Detector()``: CdWO4, 30 mm).
    **spectrum_options
        Passed to :func:`linac_spectrum` (``target``, ``target_thickness_mm``,
        ``filtration``, ``n_bins``, ``min_energy_mev``, ``angular``). Without a
        ``target_thickness_mm`` (or with ``None``) every energy shares one target as
        thick as the highest energy needs (:func:`shared_target_thickness_mm`): an
        interlaced linac has one target, and its low-energy photons are filtered by the
        part of it that their electrons do not reach.

    Returns
    -------
    list of EffectiveBeam
        One per energy, sorted by endpoint, highest first (energy index 0 is the highest).

    Examples
    --------
    >>> [beam.endpoint_mev for beam in effective_beams((3.0, 6.0))]
    [6.0, 3.0]
    """
    detector = Detector() if detector is None else detector
    endpoints = [float(e) for e in energies_mev]
    if not endpoints:
        raise PhysicsError("effective_beams needs at least one linac energy.")
    options = dict(spectrum_options)
    if options.get("target_thickness_mm") is None:
        options["target_thickness_mm"] = shared_target_thickness_mm(options.get("target", "W"), endpoints)
    beams = []
    for endpoint in sorted(endpoints, reverse=True):
        spectrum = linac_spectrum(endpoint, **options)
        signal = spectrum.fluence * detector.response(spectrum.energy_mev)
        total = float(np.sum(signal))
        if not total > 0.0:
            raise PhysicsError(f"the {endpoint:g} MeV beam gives no detector signal.")
        beams.append(
            EffectiveBeam(
                endpoint_mev=endpoint, energy_mev=spectrum.energy_mev, weight=signal / total
            )
        )
    return beams


def attenuation_coefficients(materials: Sequence[MaterialLike], beam: EffectiveBeam) -> np.ndarray:
    """Return μ/ρ of each material at each photon energy of a beam, cm²/g.

    Parameters
    ----------
    materials : sequence of Material, str or mapping
        M materials (catalogue names, :class:`Material` objects or compositions).
    beam : EffectiveBeam
        The beam whose energy grid is used (E energies).

    Returns
    -------
    numpy.ndarray of float64, shape (M, E)
        Total mass attenuation coefficient, cm²/g.
    """
    rows = [
        np.asarray(mass_attenuation(item, beam.energy_mev), dtype=np.float64) for item in materials
    ]
    if not rows:
        return np.zeros((0, beam.energy_mev.size))
    return np.stack(rows)


def polychromatic_transmission(
    beam: EffectiveBeam, mass_attenuation_cm2_g, areal_density_g_cm2
) -> np.ndarray:
    """Return the detector-signal transmission of rays through layers of materials.

    Parameters
    ----------
    beam : EffectiveBeam
        Effective beam (E energies, weights summing to 1).
    mass_attenuation_cm2_g : array_like, shape (M, E)
        μ/ρ of each of the M materials at the beam's energies, cm²/g
        (see :func:`attenuation_coefficients`).
    areal_density_g_cm2 : array_like, shape (M, ...)
        Mass thickness ρt of each material along each ray, g/cm² (≥ 0).

    Returns
    -------
    numpy.ndarray of float32, shape (...)
        T = Σ_E w_E exp(−Σ_m (μ/ρ)_mE (ρt)_m): the energy-integrated Beer–Lambert
        transmission (1 for no material).

    Raises
    ------
    PhysicsError
        If the shapes do not match the beam or an areal density is negative or not finite.

    Notes
    -----
    Computed in float32 in chunks of rays: exponents (P×M)@(M×E), exp, then @ weights,
    so memory stays bounded (a few tens of MB) whatever the number of rays.

    Examples
    --------
    >>> beam = effective_beams((6.0,))[0]
    >>> mu = attenuation_coefficients(["iron"], beam)
    >>> t = polychromatic_transmission(beam, mu, [[0.0, 78.74]])
    >>> float(t[0]), 0.02 < float(t[1]) < 0.05
    (1.0, True)
    """
    mu = np.asarray(mass_attenuation_cm2_g, dtype=np.float32)
    energies = beam.energy_mev.size
    if mu.ndim != 2 or mu.shape[1] != energies:
        raise PhysicsError(
            f"mass_attenuation_cm2_g has shape {mu.shape}; expected (materials, {energies}) for this beam."
        )
    areal = np.asarray(areal_density_g_cm2)
    if areal.ndim == 0 or areal.shape[0] != mu.shape[0]:
        raise PhysicsError(
            f"areal_density_g_cm2 has shape {areal.shape}; its first axis must be the {mu.shape[0]} materials."
        )
    ray_shape = areal.shape[1:]
    rays = int(np.prod(ray_shape, dtype=np.int64))
    flat = areal.reshape(mu.shape[0], rays)
    weight = np.asarray(beam.weight, dtype=np.float32)
    out = np.empty(rays, dtype=np.float32)
    if mu.shape[0] == 0:
        out.fill(np.float32(weight.sum()))
        return out.reshape(ray_shape)
    negative_mu = -mu
    for start in range(0, rays, _CHUNK_RAYS):
        stop = min(start + _CHUNK_RAYS, rays)
        chunk = np.ascontiguousarray(flat[:, start:stop].T, dtype=np.float32)
        if not np.all(np.isfinite(chunk)) or (chunk.size and chunk.min() < 0.0):
            raise PhysicsError("areal_density_g_cm2 must be finite and >= 0 g/cm² everywhere.")
        exponent = chunk @ negative_mu
        np.exp(exponent, out=exponent)
        np.matmul(exponent, weight, out=out[start:stop])
    return out.reshape(ray_shape)
