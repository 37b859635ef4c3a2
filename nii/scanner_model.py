"""The scanner as a forward model: effective spectrum × detector response per energy.

A :class:`ScannerModel` predicts the energy-integrated transmission of each of the two
linac energies through any stack of layers (composition, areal density):

``T_e = Σ_E w_e(E) exp(−Σ_l ρt_l · μ_e,l(E))``,  ``α_e = −ln T_e``,

with ``w_e(E)`` the share of the detector signal carried by photons of energy ``E``
(thick-target spectrum × energy deposited in the crystal) and

``μ_e,l(E) = a_e μ_photo + b_e (μ_compton + μ_rayleigh) + c_e (μ_pair + μ_triplet)``,

and the recorded transmission ``T_e + s_e (1 − T_e)`` with ``s_e`` the scatter the
correction left in (the floor thick objects read at),

the mass attenuation of the layer's composition by process (Boone & Chavez 1996 tables
through :mod:`nii.physics`), each process scaled by a semiempirical factor of the energy:
the correction terms of Lalor & Danagoulian's semiempirical transparency model
(arXiv 2302.07131), which absorb what the spectrum shape, the detector weighting and
the scatter reaching the detector get wrong. The spectrum is the nominal one hardened
(or softened) by a fitted tungsten-equivalent filtration ``f_e`` (g/cm²):
``w_e(E) ∝ w_e,nominal(E) exp(−μ_W(E) f_e)``.

The physics fallback is this model with nominal parameters (``f = 0``, ``a = b = c = 1``).
:func:`fit_scanner_model` fits ``f, a, b, c`` of each energy to wedge steps of known
composition and areal density with their measured noise (:mod:`nii.calibration`).

Effective Z on a continuum: a *virtual element* of non-integer Z has the per-process mass
attenuation interpolated linearly in Z between its neighbouring elements
(:meth:`ScannerModel.element_tables`); :mod:`nii.region_estimate` reads ``(ρt, Z)`` on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nii.errors import CalibrationError

__all__ = [
    "EnergyResponse",
    "ScannerModel",
    "Layer",
    "fit_scanner_model",
    "FIT_BOUNDS",
    "PROCESS_GROUPS",
]

#: The three process groups a semiempirical factor scales (mucoeff process names).
PROCESS_GROUPS: dict[str, tuple[str, ...]] = {
    "photo": ("photo",),
    "compton": ("compton", "rayleigh"),
    "pair": ("pair", "triplet"),
}
_GROUPS = tuple(PROCESS_GROUPS)
#: Physical bounds of the fitted parameters: a fit that needs a value outside them is
#: refused (the scanner is not what the wedges' labels say, or the data are damaged).
#: filtration: tungsten-equivalent g/cm² added to (negative: removed from) the nominal
#: spectrum's filtration (5 mm Cu + 5 mm W = 9.7 g/cm² W after the target, nii.physics):
#: at most all of it removed, at most 15 g/cm² (8 mm of W) added; the scales: multipliers
#: of each process's cross section; scatter: per unit of removed air signal.
FIT_BOUNDS: dict[str, tuple[float, float]] = {
    "filtration_g_cm2": (-9.5, 15.0),
    "photo": (0.0, 4.0),
    "compton": (0.85, 1.15),
    "pair": (0.5, 1.6),
    "scatter": (-2.0e-3, 1.0e-2),
}
_FILTER = "W"

#: A layer: (composition as element mass fractions, areal density g/cm², scalar or array).
Layer = tuple[Mapping[str, float], Any]


def _composition_key(composition: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((str(k), round(float(v), 8)) for k, v in composition.items()))


@lru_cache(maxsize=4096)
def _group_attenuation(key: tuple[tuple[str, float], ...], energies: bytes) -> np.ndarray:
    """``(3, E)`` μ/ρ (cm²/g) of a composition by process group at the energies."""
    from nii.physics import mass_attenuation

    energy = np.frombuffer(energies, np.float64)
    composition = dict(key)
    rows = []
    for group in _GROUPS:
        rows.append(sum(np.asarray(mass_attenuation(composition, energy, p), np.float64) for p in PROCESS_GROUPS[group]))
    out = np.stack(rows)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _element_groups(energies: bytes, z_max: int) -> np.ndarray:
    """``(Z_max, 3, E)`` μ/ρ by process group of the elements 1..Z_max."""
    from nii.physics import element_symbol

    return np.stack([_group_attenuation(((element_symbol(z), 1.0),), energies) for z in range(1, z_max + 1)])


@dataclass(frozen=True, eq=False)
class EnergyResponse:
    """Effective spectrum × detector response of one linac energy, with its fitted terms.

    Attributes
    ----------
    endpoint_mev : float
        Linac endpoint energy, MeV.
    energy_mev : numpy.ndarray
        Photon energies of the spectrum bins, MeV.
    nominal_weight : numpy.ndarray
        Share of the air signal carried by each bin for the nominal spectrum and detector
        (sums to 1).
    filtration_g_cm2 : float
        Tungsten-equivalent filtration added to the nominal spectrum, g/cm² (negative:
        a softer spectrum than nominal).
    scales : tuple of float
        Semiempirical factors ``(a, b, c)`` of the photoelectric, Compton (+ Rayleigh)
        and pair (+ triplet) cross sections (dimensionless; 1 = physics as tabulated).
    scatter : float
        Scatter reaching the detector that the correction left in (or took out too
        much of, negative), per unit of removed air signal: the measured transmission
        is ``T + scatter · (1 − T)`` (dimensionless; it sets the floor thick objects
        read at).
    """

    endpoint_mev: float
    energy_mev: np.ndarray
    nominal_weight: np.ndarray
    filtration_g_cm2: float = 0.0
    scales: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scatter: float = 0.0

    def __post_init__(self) -> None:
        energy = np.array(self.energy_mev, np.float64)
        weight = np.array(self.nominal_weight, np.float64)
        if energy.ndim != 1 or energy.shape != weight.shape or energy.size < 4:
            raise CalibrationError("a scanner model energy needs matching energy_mev and nominal_weight lists of 4+ bins")
        if not (np.all(np.isfinite(energy)) and np.all(energy > 0) and np.all(np.diff(energy) > 0)):
            raise CalibrationError("a scanner model's photon energies must be positive and increasing")
        if not (np.all(np.isfinite(weight)) and np.all(weight >= 0) and weight.sum() > 0):
            raise CalibrationError("a scanner model's spectrum weights must be finite, non-negative and not all zero")
        scales = tuple(float(s) for s in self.scales)
        if len(scales) != 3 or not all(math.isfinite(s) and s >= 0 for s in scales):
            raise CalibrationError("a scanner model's process scales must be three finite non-negative numbers")
        if not math.isfinite(float(self.scatter)) or abs(float(self.scatter)) >= 0.1:
            raise CalibrationError("a scanner model's scatter term must be a small finite number")
        if not math.isfinite(float(self.filtration_g_cm2)):
            raise CalibrationError("a scanner model's filtration must be a finite number of g/cm²")
        weight = weight / weight.sum()
        for array in (energy, weight):
            array.setflags(write=False)
        object.__setattr__(self, "endpoint_mev", float(self.endpoint_mev))
        object.__setattr__(self, "energy_mev", energy)
        object.__setattr__(self, "nominal_weight", weight)
        object.__setattr__(self, "filtration_g_cm2", float(self.filtration_g_cm2))
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "scatter", float(self.scatter))

    @property
    def weight(self) -> np.ndarray:
        """Signal weight of each bin after the fitted filtration (sums to 1)."""
        filt = _group_attenuation(((_FILTER, 1.0),), self.energy_mev.tobytes()).sum(axis=0)
        weight = self.nominal_weight * np.exp(-filt * self.filtration_g_cm2)
        return weight / weight.sum()

    def with_parameters(self, filtration_g_cm2: float, scales: Sequence[float], scatter: float) -> EnergyResponse:
        return EnergyResponse(self.endpoint_mev, self.energy_mev, self.nominal_weight, float(filtration_g_cm2),
                              tuple(float(s) for s in scales), float(scatter))  # type: ignore[arg-type]

    def measured(self, transmission: np.ndarray) -> np.ndarray:
        """The transmission the scanner records for a primary transmission (scatter added)."""
        return transmission + self.scatter * (1.0 - transmission)

    def attenuation(self, composition: Mapping[str, float]) -> np.ndarray:
        """Effective μ/ρ (cm²/g) of a composition at each bin, with the process scales."""
        groups = _group_attenuation(_composition_key(composition), self.energy_mev.tobytes())
        return np.asarray(self.scales) @ groups

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_mev": self.endpoint_mev,
            "energy_mev": [float(v) for v in self.energy_mev],
            "nominal_weight": [float(v) for v in self.nominal_weight],
            "filtration_g_cm2": self.filtration_g_cm2,
            "scales": {name: value for name, value in zip(_GROUPS, self.scales, strict=True)},
            "scatter": self.scatter,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> EnergyResponse:
        if not isinstance(data, dict):
            raise CalibrationError(f"{where} is not a JSON object")
        scales = data.get("scales")
        if not isinstance(scales, dict) or set(scales) != set(_GROUPS):
            raise CalibrationError(f"{where}.scales must be an object with {', '.join(_GROUPS)}")
        numbers = [data.get("endpoint_mev"), data.get("filtration_g_cm2"), data.get("scatter", 0.0),
                   *(scales[g] for g in _GROUPS)]
        if not all(_is_number(v) for v in numbers):
            raise CalibrationError(f"{where}: endpoint_mev, filtration_g_cm2 and the scales must be numbers")
        lists = [data.get("energy_mev"), data.get("nominal_weight")]
        if not all(isinstance(v, list) and all(_is_number(x) for x in v) for v in lists):
            raise CalibrationError(f"{where}: energy_mev and nominal_weight must be lists of numbers")
        try:
            return cls(float(data["endpoint_mev"]), np.array(lists[0], float), np.array(lists[1], float),
                       float(data["filtration_g_cm2"]), tuple(float(scales[g]) for g in _GROUPS),  # type: ignore[arg-type]
                       float(data.get("scatter", 0.0)))
        except CalibrationError as exc:
            raise CalibrationError(f"{where}: {exc}") from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass(frozen=True, eq=False)
class ScannerModel:
    """Forward model of a dual-energy scanner: ``predict(layers) -> (α_H, α_L)``.

    Attributes
    ----------
    high, low : EnergyResponse
        The highest and the next energy.
    detector : dict
        Detector crystal the nominal response was computed for (``material``, ``depth_mm``).
    """

    high: EnergyResponse
    low: EnergyResponse
    detector: dict[str, Any] = field(default_factory=dict)

    @property
    def energies(self) -> tuple[EnergyResponse, EnergyResponse]:
        return self.high, self.low

    @property
    def energies_mev(self) -> list[float]:
        return [self.high.endpoint_mev, self.low.endpoint_mev]

    # ------------------------------------------------------------------ construction
    @classmethod
    def nominal(cls, energies_mev: Sequence[float], *, detector_material: str = "CdWO4",
                detector_depth_mm: float = 30.0) -> ScannerModel:
        """The physics model with nominal parameters (no filtration added, scales 1).

        Parameters
        ----------
        energies_mev : sequence of float
            Endpoint energies (MeV), highest first.
        detector_material : str
            Scintillator (catalogue name).
        detector_depth_mm : float
            Crystal depth along the beam, mm.
        """
        from nii.physics import Detector, effective_beams

        energies = sorted((float(e) for e in energies_mev[:2]), reverse=True)
        if len(energies) != 2:
            raise CalibrationError("a scanner model needs two energies")
        beams = effective_beams(tuple(energies), detector=Detector(detector_material, float(detector_depth_mm)))
        responses = [EnergyResponse(b.endpoint_mev, b.energy_mev, b.weight) for b in beams]
        return cls(responses[0], responses[1], {"material": detector_material, "depth_mm": float(detector_depth_mm)})

    # ------------------------------------------------------------------ prediction
    def transmission(self, layers: Iterable[Layer]) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free transmission ``(T_H, T_L)`` through a stack of layers.

        Parameters
        ----------
        layers : iterable of (composition, areal density)
            Element mass fractions and mass thickness (g/cm², scalar or array; arrays
            broadcast against each other: one ray per element).

        Returns
        -------
        T_H, T_L : numpy.ndarray of float64
            Transmission of each ray (dimensionless, 0–1).
        """
        layers = [(dict(c), np.asarray(a, np.float64)) for c, a in layers]
        shape = np.broadcast_shapes(*(a.shape for _, a in layers)) if layers else ()
        out = []
        for response in self.energies:
            exponent = np.zeros(shape + (response.energy_mev.size,))
            for composition, areal in layers:
                if np.any(areal < 0) or not np.all(np.isfinite(areal)):
                    raise CalibrationError("layer areal densities must be finite and non-negative (g/cm²)")
                exponent = exponent + areal[..., None] * response.attenuation(composition)
            out.append(response.measured(np.exp(-exponent) @ response.weight))
        return out[0], out[1]

    def predict(self, layers: Iterable[Layer]) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free attenuations ``(α_H, α_L) = −ln T`` through a stack of layers.

        Parameters
        ----------
        layers : iterable of (composition, areal density)
            See :meth:`transmission`: pure materials (one layer), mixtures (one layer of
            the mixed composition) and overlaps (several layers, e.g. cargo in front of
            an object).

        Returns
        -------
        alpha_high, alpha_low : numpy.ndarray of float64

        Examples
        --------
        >>> model = ScannerModel.nominal((6.0, 3.0))
        >>> high, low = model.predict([({"Fe": 1.0}, 78.74)])
        >>> bool(low > high > 2.0)
        True
        """
        t_high, t_low = self.transmission(layers)
        tiny = np.finfo(np.float64).tiny
        return -np.log(np.maximum(t_high, tiny)), -np.log(np.maximum(t_low, tiny))

    def element_tables(self, z_grid: np.ndarray, areal_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``α_H, α_L`` of virtual elements (non-integer Z) on a grid of areal densities.

        Parameters
        ----------
        z_grid : numpy.ndarray
            Atomic numbers (1–92, non-integer allowed: per-process μ/ρ linear in Z
            between the neighbouring elements).
        areal_grid : numpy.ndarray
            Mass thicknesses, g/cm².

        Returns
        -------
        alpha_high, alpha_low : numpy.ndarray, shape (Z, areal)
        """
        z = np.clip(np.asarray(z_grid, np.float64), 1.0, 92.0)
        areal = np.asarray(areal_grid, np.float64)
        out = []
        for response in self.energies:
            elements = _element_groups(response.energy_mev.tobytes(), 92)  # (92, 3, E)
            mu_elements = np.einsum("g,zge->ze", np.asarray(response.scales), elements)
            lower = np.clip(np.floor(z).astype(int), 1, 91)
            t = (z - lower)[:, None]
            mu = mu_elements[lower - 1] * (1 - t) + mu_elements[lower] * t  # (Z, E)
            alpha = np.empty((z.size, areal.size))
            for start in range(0, areal.size, 256):
                chunk = areal[start:start + 256]
                transmission = response.measured(np.exp(-chunk[None, :, None] * mu[:, None, :]) @ response.weight)
                alpha[:, start:start + 256] = -np.log(np.maximum(transmission, np.finfo(np.float64).tiny))
            out.append(alpha)
        return out[0], out[1]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {"detector": dict(self.detector), "high": self.high.to_dict(), "low": self.low.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, source: str) -> ScannerModel:
        if not isinstance(data, dict):
            raise CalibrationError(f"{source}: field 'model' is not a JSON object")
        detector = data.get("detector") or {}
        if not isinstance(detector, dict):
            raise CalibrationError(f"{source}: field 'model.detector' is not an object")
        high = EnergyResponse.from_dict(data.get("high"), f"{source}: model.high")
        low = EnergyResponse.from_dict(data.get("low"), f"{source}: model.low")
        if not high.endpoint_mev > low.endpoint_mev:
            raise CalibrationError(f"{source}: model.high's endpoint is not above model.low's (energies swapped?)")
        return cls(high, low, dict(detector))


# --------------------------------------------------------------------------- fit


def _parameter_vector(response: EnergyResponse) -> np.ndarray:
    return np.array([response.filtration_g_cm2, *response.scales, response.scatter])


def fit_scanner_model(
    model: ScannerModel,
    steps: Sequence[Mapping[str, Any]],
    *,
    prior_sigma: Mapping[str, float],
    systematic: float,
) -> tuple[ScannerModel, list[dict[str, Any]]]:
    """Fit each energy's filtration and process scales to measured wedge steps.

    Parameters
    ----------
    model : ScannerModel
        Nominal model (start and prior centre).
    steps : sequence of mapping
        Each with ``composition``, ``areal_density_g_cm2``, ``attenuation_high`` and
        ``attenuation_low`` (``−ln`` of the mean unclipped transmission) and
        ``sigma_high``, ``sigma_low`` (standard deviation of those means).
    prior_sigma : mapping
        Standard deviation of the Gaussian prior around the nominal value of each
        parameter (``filtration_g_cm2``, ``photo``, ``compton``, ``pair``, ``scatter``): the
        regularisation that keeps parameters the steps do not constrain at nominal.
    systematic : float
        Relative accuracy of the model added in quadrature to the noise of each step
        (dimensionless fraction of α).

    Returns
    -------
    model : ScannerModel
        The fitted model.
    residuals : list of dict
        Per step and energy: measured and predicted α, residual, its significance.

    Raises
    ------
    CalibrationError
        A parameter runs into its physical bound.
    """
    from scipy.optimize import least_squares

    names = ("filtration_g_cm2", *_GROUPS, "scatter")
    lower = np.array([FIT_BOUNDS[n][0] for n in names])
    upper = np.array([FIT_BOUNDS[n][1] for n in names])
    prior = np.array([float(prior_sigma[n]) for n in names])
    fitted = []
    for index, response in enumerate(model.energies):
        key = "attenuation_high" if index == 0 else "attenuation_low"
        sigma_key = "sigma_high" if index == 0 else "sigma_low"
        measured = np.array([float(s[key]) for s in steps])
        sigma = np.hypot(np.array([float(s[sigma_key]) for s in steps]), systematic * measured)
        mus = np.stack([_group_attenuation(_composition_key(s["composition"]), response.energy_mev.tobytes())
                        for s in steps])  # (S, 3, E)
        areal = np.array([float(s["areal_density_g_cm2"]) for s in steps])
        filt = _group_attenuation(((_FILTER, 1.0),), response.energy_mev.tobytes()).sum(axis=0)
        start = _parameter_vector(response)

        def residual(p: np.ndarray, mus=mus, areal=areal, measured=measured, sigma=sigma, response=response,
                     filt=filt, start=start) -> np.ndarray:
            weight = response.nominal_weight * np.exp(-filt * p[0])
            weight = weight / weight.sum()
            mu = np.einsum("g,sge->se", p[1:4], mus)
            primary = np.exp(-areal[:, None] * mu) @ weight
            predicted = -np.log(np.maximum(primary + p[4] * (1.0 - primary), 1e-300))
            return np.concatenate([(measured - predicted) / sigma, (p - start) / prior])

        solution = least_squares(residual, np.clip(start, lower, upper), bounds=(lower, upper), x_scale=prior,
                                 method="trf")
        p = solution.x
        span = upper - lower
        at_bound = [n for n, v, lo, hi, s in zip(names, p, lower, upper, span, strict=True)
                    if (v - lo) < 1e-4 * s or (hi - v) < 1e-4 * s]
        if at_bound:
            raise CalibrationError(
                f"the {response.endpoint_mev:g} MeV fit needs {', '.join(at_bound)} at its physical bound: "
                "the wedge steps do not fit a scanner (check the wedges' materials, thicknesses and energy order)"
            )
        fitted.append(response.with_parameters(p[0], p[1:4], p[4]))
    fitted_model = ScannerModel(fitted[0], fitted[1], dict(model.detector))
    residuals = step_residuals(fitted_model, steps, systematic=systematic)
    return fitted_model, residuals


def step_residuals(model: ScannerModel, steps: Sequence[Mapping[str, Any]], *, systematic: float) -> list[dict[str, Any]]:
    """Residual of each wedge step at each energy under a model.

    Returns
    -------
    list of dict
        ``name``, ``areal_density_g_cm2``, ``predicted_high``, ``predicted_low``,
        ``residual_high``, ``residual_low`` (measured − predicted α) and
        ``significance_high``, ``significance_low`` (residual over the noise of the
        step's mean and the systematic term in quadrature).
    """
    out = []
    for step in steps:
        high, low = model.predict([(step["composition"], float(step["areal_density_g_cm2"]))])
        entry: dict[str, Any] = {"name": step.get("name", ""), "areal_density_g_cm2": float(step["areal_density_g_cm2"])}
        for label, predicted in (("high", float(high)), ("low", float(low))):
            measured = float(step[f"attenuation_{label}"])
            sigma = math.hypot(float(step[f"sigma_{label}"]), systematic * measured)
            entry[f"predicted_{label}"] = predicted
            entry[f"residual_{label}"] = measured - predicted
            entry[f"significance_{label}"] = (measured - predicted) / sigma if sigma > 0 else math.inf
        out.append(entry)
    return out
