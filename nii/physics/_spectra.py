"""Thick-target bremsstrahlung spectra of an electron linac.

Model (stated approximations, each with its bound):

1. A monoenergetic pencil of electrons of kinetic energy T₀ (the endpoint) enters the
   target at normal incidence and slows down continuously (CSDA) along its path,
   dT/dx = −S(T), with S the collision (Bethe, ICRU 37, with the density effect) plus
   radiative (from Schiff's cross section) mass stopping power
   (:mod:`nii.physics._electrons`). Multiple scattering, path-length straggling and
   backscatter are neglected (path length = depth): this overestimates the depth of
   emission and so the self-absorption, mostly of the soft end.
2. At each depth the electron radiates with Schiff's thin-target cross section. By
   default (``angular="forward"``) the forward-direction form (Koch & Motz 2BS at θ = 0)
   gives the on-axis spectrum that the detector column sees; ``angular="integrated"``
   uses the form integrated over photon angles (Koch & Motz 3BS(e)). Since multiple
   scattering turns the electrons away from the axis as they slow down, the real on-axis
   spectrum lies between the two: the forward form is the hard bound, the integrated
   form the soft bound (mean energies 1.66 and 1.45 MeV at 6 MeV with the defaults).
3. Photons emitted at depth x reach the exit face through the remaining target
   thickness t − x (forward direction) and then every filter in turn (Beer–Lambert with
   the total μ/ρ); scattered photons are not added back.
4. Electrons leaving a target thinner than their range are assumed stopped in a low-Z
   absorber whose bremsstrahlung is neglected.

The yield per incident electron and MeV is
Y(k) = Σᵢ wᵢ N_A/Aᵢ ∫ dσᵢ/dk(T, k) exp(−μ(k)(t − x(T))) dT / S(T),
the integral running over T from max(k, T_exit) to T₀. Fluence per bin is Y integrated
over the bin (Gauss–Legendre), times the filter transmission. With the defaults (W
target as thick as the electron range, 5 mm Cu and 5 mm W of head filtration, forward
form) the mean photon energy is 1.66 MeV at 6 MeV, 1.03 MeV at 3 MeV and 2.20 MeV at
9 MeV. An interlaced linac has one target for all its energies:
:func:`nii.physics.effective_beams` gives every energy the target of the highest one
(:func:`shared_target_thickness_mm`). The model and its check against a published 6 MV
spectrum (Mohan, Chui & Lidofsky 1985) are in docs/spectrum.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nii.errors import CatalogueError
from nii.physics._constants import physics_constants
from nii.physics._cross_sections import element_cross_section, resolve_composition
from nii.physics._electrons import (
    schiff_cross_section,
    schiff_forward_cross_section,
    total_stopping_power,
)
from nii.physics._elements import atomic_mass, atomic_number
from nii.physics._errors import PhysicsError
from nii.physics._materials import Material

__all__ = [
    "Spectrum",
    "linac_spectrum",
    "csda_range_g_cm2",
    "shared_target_thickness_mm",
    "DEFAULT_FILTRATION",
    "DEFAULT_MIN_ENERGY_MEV",
]

#: Default filtration after the target: 5 mm of copper (the target's copper backing and
#: heat sink) and 5 mm of tungsten-equivalent head filtration (target holder,
#: collimator insert and housing on the beam axis). See docs/spectrum.md: with the
#: copper alone, lead reads lighter than iron at the low end of the wedges' range.
DEFAULT_FILTRATION: tuple[tuple[str, float], ...] = (("copper", 5.0), ("tungsten", 5.0))
#: Lowest photon energy of the spectrum grid, MeV.
DEFAULT_MIN_ENERGY_MEV = 0.05
_ELECTRON_CUTOFF_MEV = 0.01
_SUBPOINTS = 4
_ELECTRON_NODES = 48


@dataclass(frozen=True, eq=False)
class Spectrum:
    """A photon spectrum on a grid of energy bins.

    Attributes
    ----------
    energy_mev : numpy.ndarray
        Bin centres, MeV, increasing.
    fluence : numpy.ndarray
        Photons per bin (per incident electron, arbitrary overall normalisation).
    endpoint_mev : float
        Electron kinetic energy = highest photon energy, MeV.
    bin_edges_mev : numpy.ndarray
        Bin edges, MeV (one more than the bins).
    """

    energy_mev: np.ndarray
    fluence: np.ndarray
    endpoint_mev: float
    bin_edges_mev: np.ndarray

    @property
    def mean_energy_mev(self) -> float:
        """Fluence-weighted mean photon energy, MeV."""
        return float(np.sum(self.energy_mev * self.fluence) / np.sum(self.fluence))

    def differential(self) -> np.ndarray:
        """Return the fluence per MeV at the bin centres (photons/MeV)."""
        return self.fluence / np.diff(self.bin_edges_mev)


def _slab(material_like, role: str) -> tuple[str, tuple[tuple[str, float], ...], float]:
    """Return (name, composition items, density g/cm³) of a target or filter material."""
    if isinstance(material_like, Material):
        return (
            material_like.name,
            tuple(sorted(material_like.composition.items())),
            material_like.density_g_cm3,
        )
    if isinstance(material_like, str):
        name, composition = resolve_composition(material_like)
        from nii.physics._materials import material

        try:
            density = material(material_like).density_g_cm3
        except CatalogueError:
            from mucoeff import Flag, mu

            density = float(np.asarray(mu(Flag.ELEMENT_DENSITY, atomic_number(material_like))))
        return name, tuple(sorted(composition.items())), float(density)
    raise PhysicsError(
        f"the {role} material must be a Material or a catalogue name or element symbol, got {type(material_like).__name__}."
    )


def _range_table(
    items: tuple[tuple[str, float], ...], endpoint_mev: float, density_g_cm3: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return electron energies (increasing, MeV) and depth x(T) (g/cm²) from entry."""
    composition = dict(items)
    energies = np.geomspace(_ELECTRON_CUTOFF_MEV, endpoint_mev, 600)
    inverse = 1.0 / total_stopping_power(composition, energies, density_g_cm3)
    steps = 0.5 * (inverse[1:] + inverse[:-1]) * np.diff(energies)
    # depth reached when the energy has fallen from T0 to T: ∫_T^T0 dT'/S
    depth = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    return energies, depth


def csda_range_g_cm2(target, endpoint_mev: float) -> float:
    """Return the CSDA range of electrons in a material, g/cm².

    Parameters
    ----------
    target : Material or str
        Material, catalogue name or element symbol.
    endpoint_mev : float
        Initial electron kinetic energy, MeV.

    Returns
    -------
    float
        ∫ dT/S(T) from 10 keV to the initial energy, g/cm² (about 4.3 g/cm² for 6 MeV in W).
    """
    _, items, density = _slab(target, "target")
    _, depth = _range_table(items, float(endpoint_mev), density)
    return float(depth[0])


def shared_target_thickness_mm(target, endpoints_mev: Sequence[float]) -> float:
    """Return the thickness of the one target an interlaced linac uses for all its energies, mm.

    Parameters
    ----------
    target : Material or str
        Target material, catalogue name or element symbol.
    endpoints_mev : sequence of float
        The linac's endpoint energies, MeV.

    Returns
    -------
    float
        The CSDA range of the highest-energy electrons in the target, mm (2.2 mm of W
        at 6 MeV): a dual-energy linac has one target, as thick as its highest energy
        needs; its lower energies stop in the front of it and their photons cross the
        rest.
    """
    _, items, density = _slab(target, "target")
    _, depth = _range_table(items, float(max(endpoints_mev)), density)
    return float(depth[0]) * 10.0 / density


@lru_cache(maxsize=64)
def _spectrum_cached(
    endpoint_mev: float,
    target: tuple[str, tuple[tuple[str, float], ...], float],
    thickness_g_cm2: float | None,
    filters: tuple[tuple[tuple[tuple[str, float], ...], float], ...],
    n_bins: int,
    min_energy_mev: float,
    angular: str,
) -> Spectrum:
    _, target_items, target_density = target
    energies, depth = _range_table(target_items, endpoint_mev, target_density)
    full_range = depth[0]
    thickness = full_range if thickness_g_cm2 is None else thickness_g_cm2
    exit_energy = _ELECTRON_CUTOFF_MEV
    if thickness < full_range:
        # energy at which the electron reaches the exit face; depth decreases with T
        exit_energy = float(np.interp(thickness, depth[::-1], energies[::-1]))

    edges = np.linspace(min_energy_mev, endpoint_mev, n_bins + 1)
    nodes, node_weights = np.polynomial.legendre.leggauss(_SUBPOINTS)
    half = 0.5 * np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    k = (centre[:, None] + half[:, None] * nodes[None, :]).ravel()
    k_weight = (half[:, None] * node_weights[None, :]).ravel()

    # electron energies between max(k, T_exit) and T0, Gauss–Legendre in each interval
    e_nodes, e_weights = np.polynomial.legendre.leggauss(_ELECTRON_NODES)
    lower = np.maximum(k, exit_energy)
    span = np.clip(endpoint_mev - lower, 0.0, None)
    t = lower[:, None] + span[:, None] * 0.5 * (e_nodes[None, :] + 1.0)
    t_weight = span[:, None] * 0.5 * e_weights[None, :]
    composition = dict(target_items)
    stopping = total_stopping_power(composition, t, target_density)
    depth_at_t = np.interp(np.log(t), np.log(energies), depth)
    mu_target = np.zeros_like(k)
    yield_per_mev = np.zeros_like(k)
    avogadro = float(physics_constants()["constants"]["avogadro_per_mol"])
    for symbol, fraction in target_items:
        z = atomic_number(symbol)
        mu_target += fraction * element_cross_section(z, k, 1)
    escape = np.exp(-mu_target[:, None] * np.clip(thickness - depth_at_t, 0.0, None))
    for symbol, fraction in target_items:
        z = atomic_number(symbol)
        cross_section = (
            schiff_forward_cross_section if angular == "forward" else schiff_cross_section
        )
        sigma = cross_section(z, t, k[:, None])
        yield_per_mev += (
            fraction
            * avogadro
            / atomic_mass(z)
            * np.sum(t_weight * sigma * escape / stopping, axis=1)
        )

    filter_exponent = np.zeros_like(k)
    for items, areal in filters:
        for symbol, fraction in items:
            filter_exponent += fraction * areal * element_cross_section(atomic_number(symbol), k, 1)
    photons = yield_per_mev * np.exp(-filter_exponent) * k_weight
    fluence = photons.reshape(n_bins, _SUBPOINTS).sum(axis=1)
    for array in (centre, fluence, edges):
        array.setflags(write=False)
    return Spectrum(
        energy_mev=centre, fluence=fluence, endpoint_mev=endpoint_mev, bin_edges_mev=edges
    )


def linac_spectrum(
    endpoint_mev: float,
    *,
    target="W",
    target_thickness_mm: float | None = None,
    filtration: Sequence[tuple[object, float]] = DEFAULT_FILTRATION,
    n_bins: int = 60,
    min_energy_mev: float = DEFAULT_MIN_ENERGY_MEV,
    angular: str = "forward",
) -> Spectrum:
    """Return the thick-target bremsstrahlung spectrum of an electron linac.

    Parameters
    ----------
    endpoint_mev : float
        Electron kinetic energy = spectrum endpoint, MeV (0.2–50).
    target : Material or str, optional
        Target material: catalogue name or element symbol (default tungsten, ``"W"``).
    target_thickness_mm : float, optional
        Target thickness, mm. Default: the CSDA range of the endpoint electrons in the
        target (the thinnest target that stops them; 2.2 mm of W at 6 MeV).
    filtration : sequence of (material, thickness_mm), optional
        Filters after the target, each a catalogue material (or element symbol) and a
        thickness in mm. Default: 5 mm of copper.
    n_bins : int, optional
        Number of equal-width energy bins from ``min_energy_mev`` to the endpoint (4–2000).
    min_energy_mev : float, optional
        Lower edge of the first bin, MeV (default 0.05).
    angular : {"forward", "integrated"}, optional
        Schiff's cross section in the forward direction (on-axis spectrum, default) or
        integrated over photon angles.

    Returns
    -------
    Spectrum
        Bin centres (MeV), photons per bin per electron (per steradian on axis for
        ``"forward"``), endpoint.
        Arrays are read-only: results are cached by parameters.

    Raises
    ------
    PhysicsError
        If an energy, thickness or bin count is out of range.

    Notes
    -----
    Schiff's thin-target cross section (forward or angle-integrated) integrated over the electron's
    continuous slowing-down in the target, attenuated by the rest of the target and the
    filters; see the module notes for the approximations and their bounds.

    Examples
    --------
    >>> spectrum = linac_spectrum(6.0)
    >>> 1.3 < spectrum.mean_energy_mev < 2.0
    True
    """
    endpoint = float(endpoint_mev)
    minimum = float(min_energy_mev)
    if not (np.isfinite(endpoint) and 0.2 <= endpoint <= 50.0):
        raise PhysicsError(f"linac endpoint energy {endpoint_mev!r} MeV is outside 0.2–50 MeV.")
    if not (np.isfinite(minimum) and 0.001 <= minimum < endpoint):
        raise PhysicsError(
            f"min_energy_mev {min_energy_mev!r} must be at least 0.001 MeV and below the endpoint."
        )
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or not (4 <= int(n_bins) <= 2000):
        raise PhysicsError(f"n_bins {n_bins!r} must be an integer from 4 to 2000.")
    target_key = _slab(target, "target")
    thickness_g_cm2 = None
    if target_thickness_mm is not None:
        mm = float(target_thickness_mm)
        if not (np.isfinite(mm) and mm > 0.0):
            raise PhysicsError(
                f"target_thickness_mm {target_thickness_mm!r} must be a positive number of mm."
            )
        thickness_g_cm2 = mm * 0.1 * target_key[2]
    filters = []
    for entry in filtration:
        try:
            filter_material, filter_mm = entry
        except (TypeError, ValueError) as exc:
            raise PhysicsError(
                f"filtration entry {entry!r} must be a (material, thickness_mm) pair."
            ) from exc
        mm = float(filter_mm)
        if not (np.isfinite(mm) and mm >= 0.0):
            raise PhysicsError(f"filter thickness {filter_mm!r} mm must be a number >= 0.")
        _, items, density = _slab(filter_material, "filter")
        filters.append((items, mm * 0.1 * density))
    if angular not in ("forward", "integrated"):
        raise PhysicsError(f"angular must be 'forward' or 'integrated', got {angular!r}.")
    return _spectrum_cached(
        endpoint, target_key, thickness_g_cm2, tuple(filters), int(n_bins), minimum, angular
    )
