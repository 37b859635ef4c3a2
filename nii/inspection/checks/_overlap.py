"""Overlap decomposition: the material of an object seen through the cargo around it.

A transmission image adds the attenuations of everything on a ray. An object inside
cargo adds ``Δα_H`` and ``Δα_L`` to what the cargo alone gives; the pixel totals are
dominated by the cargo, but the excess pair belongs to the object alone, and its ratio
``Δα_L / Δα_H`` says what the object is made of (Zhang, Li & Chen, IEEE NSS/MIC 2015;
Chen, Zhao & Li, Nucl. Sci. Tech. 2016 for the curves). At MeV energies pair production
makes the ratio fall with Z: about 1.41 for polyethylene, 1.29 for iron and 1.16 for
lead at α_H ≈ 3 behind a 6/3 MeV beam.

Two steps:

* :func:`compact_excess` finds compact objects that stand above the cargo in their own
  row: a grey opening of α_H along x (the detector rows cut the cargo into horizontal
  bands of the same stack) is the cargo without anything narrower than the window, and
  the difference (a top-hat) is what such objects add. Stacks of different heights and
  the gaps between cartons are wider than the window or dips, and leave no excess.
* :class:`OverlapSolver` fits, with the calibration's scanner model, the object as a
  layer of virtual element ``Z`` and areal density ``λ`` behind the cargo beside it (a
  layer at the cargo's own fitted ``Z``), by χ² on the mean pair inside, and reports
  ``Z`` with its interval and the classes consistent with it (``docs/high-z.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["OverlapFit", "OverlapSolver", "compact_excess", "overlap_solver", "row_opening"]


def row_opening(alpha: np.ndarray, width_px: int) -> np.ndarray:
    """Grey opening of an attenuation image along x (each row on its own).

    Parameters
    ----------
    alpha : numpy.ndarray
        Attenuation α (rows × columns, dimensionless), finite.
    width_px : int
        Opening width along x (pixels).

    Returns
    -------
    numpy.ndarray
        The cargo of each row without anything narrower than ``width_px`` (float32):
        at an object inside a stack, the stack beside it; at the edge of a stack, the
        stack's level (a window of the stack alone holds the object's pixels).
    """
    values = np.asarray(alpha, dtype=np.float32)
    width = max(int(width_px), 1)
    if width <= 1:
        return values.copy()
    eroded = ndimage.minimum_filter1d(values, width, axis=1, mode="nearest")
    origin = -1 if width % 2 == 0 else 0
    return ndimage.maximum_filter1d(eroded, width, axis=1, mode="nearest", origin=origin)


def compact_excess(alpha_high: np.ndarray, width_px: int) -> np.ndarray:
    """Excess α_H of objects narrower than ``width_px`` along x over their own row.

    Parameters
    ----------
    alpha_high : numpy.ndarray
        High-energy attenuation α_H (rows × columns, dimensionless), finite.
    width_px : int
        Opening width along x (pixels): objects narrower than this stand out.

    Returns
    -------
    numpy.ndarray
        ``α_H − opening(α_H)`` (float32, ≥ 0), the white top-hat along rows.

    Examples
    --------
    >>> row = np.zeros((1, 30), np.float32); row[0, 10:14] = 2.0
    >>> float(compact_excess(row, 9)[0, 11])
    2.0
    """
    values = np.asarray(alpha_high, dtype=np.float32)
    return np.clip(values - row_opening(values, width_px), 0.0, None)


# --------------------------------------------------------------------------- model decomposition

#: Virtual-element ladder of the decomposition (atomic number units) and its areal grid.
_Z_LADDER = np.arange(1.0, 92.0 + 1e-9, 0.5)
_AREAL_GRID = np.geomspace(0.05, 2000.0, 480)


@dataclass(frozen=True)
class OverlapFit:
    """An object's (Z, areal density) behind a cargo layer, by minimum χ².

    Attributes
    ----------
    zeff : float
        Atomic number of the object's virtual element at the χ² minimum.
    zeff_low, zeff_high : float
        Smallest and largest Z with ``Δχ² ≤ 1`` (one standard deviation).
    zeff_floor : float
        Smallest Z with ``Δχ² ≤ k²`` (the ``k`` asked for): the object is high-Z at that
        significance when it reaches the high-Z band.
    areal_g_cm2, areal_sigma_g_cm2 : float
        Object's areal density λ at the minimum and its standard deviation (g/cm²).
    chi2 : float
        χ² at the minimum (two measurements, two parameters: 0 when the model fits).
    cargo_zeff, cargo_areal_g_cm2 : float
        The cargo layer the object was decomposed from.
    profile : numpy.ndarray
        ``χ²(Z)`` profiled over λ on :data:`_Z_LADDER`.
    """

    zeff: float
    zeff_low: float
    zeff_high: float
    zeff_floor: float
    areal_g_cm2: float
    areal_sigma_g_cm2: float
    chi2: float
    cargo_zeff: float
    cargo_areal_g_cm2: float
    profile: np.ndarray

    def consistent_classes(self, k: float) -> list[int]:
        """Material classes (1-4) with a Z of ``Δχ² ≤ k²``."""
        from nii.classes import class_of_zeff

        allowed = self.profile - self.profile.min() <= k * k
        return sorted({int(c) for c in np.asarray(class_of_zeff(_Z_LADDER[allowed])).ravel()})


class OverlapSolver:
    """Two-layer decomposition ``[cargo, object]`` under a :class:`~nii.scanner_model.ScannerModel`.

    The cargo is one layer of virtual element ``Z_c`` (per-process μ/ρ linear in Z
    between elements, as :meth:`ScannerModel.element_tables`; equivalently a mass-fraction
    mixture of the two neighbouring elements) and areal density ``λ_c``; the object a
    second layer ``(Z, λ)``. Behind the cargo the spectrum of each energy is the model's
    weights hardened by the cargo, ``w'(E) = w(E) exp(−λ_c μ_c(E))``, and the recorded
    transmission keeps the model's scatter term on the total, so the object's table
    ``α_e(Z, λ)`` is one matrix product per energy.

    For each Z the λ matching each energy alone (``λ_H(Z)``, ``λ_L(Z)``, with the slopes
    ``κ_e = ∂α_e/∂λ``) linearises the residual ``r(λ) = b − aλ`` (``a = κ``, ``b = κλ_e``),
    so with the covariance ``C`` of the measured pair the profile over λ is exact to
    second order: ``λ*(Z) = aᵀPb / aᵀPa``, ``χ²(Z) = bᵀPb − (aᵀPb)²/aᵀPa`` (``P = C⁻¹``).
    """

    def __init__(self, model: Any) -> None:
        from nii.physics import element_symbol

        self.model = model
        self._mu = []
        self._weight = []
        self._scatter = []
        for response in model.energies:
            mu = np.stack([response.attenuation({element_symbol(z): 1.0}) for z in range(1, 93)])  # (92, E)
            self._mu.append(mu)
            self._weight.append(np.asarray(response.weight, np.float64))
            self._scatter.append(float(response.scatter))
        self._mu_ladder = [self._virtual(mu, _Z_LADDER) for mu in self._mu]
        self._plain = self._tables(0.0, 1.0)

    @staticmethod
    def _virtual(mu: np.ndarray, z: np.ndarray) -> np.ndarray:
        z = np.clip(np.asarray(z, np.float64), 1.0, 92.0)
        lower = np.clip(np.floor(z).astype(int), 1, 91)
        t = (z - lower)[:, None]
        return mu[lower - 1] * (1 - t) + mu[lower] * t

    def _tables(self, cargo_areal: float, cargo_z: float) -> list[np.ndarray]:
        """``α_e(Z, λ)`` of the object ladder behind a cargo layer, (Z, λ) per energy; cargo alone subtracted."""
        out = []
        for e in range(2):
            mu_c = self._virtual(self._mu[e], np.array([cargo_z]))[0]
            weight = self._weight[e] * np.exp(-cargo_areal * mu_c)
            base = float(weight.sum())
            primary = np.exp(-_AREAL_GRID[None, :, None] * self._mu_ladder[e][:, None, :]) @ weight  # (Z, λ)
            s = self._scatter[e]
            recorded = primary + s * (1.0 - primary)
            cargo_only = base + s * (1.0 - base)
            out.append(-np.log(np.maximum(recorded, 1e-300)) + np.log(max(cargo_only, 1e-300)))
        return out

    def cargo_layer(self, alpha_high: float, alpha_low: float) -> tuple[float, float]:
        """``(Z_c, λ_c)`` of the single virtual-element layer that gives the cargo's pair."""
        if not (alpha_high > 0.02 and alpha_low > 0.02):
            return 7.5, max(float(alpha_high), 0.0) / 0.03
        lam = [self._interp_lambda(self._plain[e], a)[0] for e, a in enumerate((alpha_high, alpha_low))]
        spread = np.abs(lam[0] - lam[1]) / np.maximum(lam[0] + lam[1], 1e-9)
        best = int(np.nanargmin(spread))
        return float(_Z_LADDER[best]), float(0.5 * (lam[0][best] + lam[1][best]))

    @staticmethod
    def _interp_lambda(table: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """λ at which each Z row of ``table`` reaches ``alpha``, and the slope there."""
        n_z = table.shape[0]
        lam = np.empty(n_z)
        kap = np.empty(n_z)
        slope = np.gradient(table, _AREAL_GRID, axis=1)
        for k in range(n_z):
            row = np.maximum.accumulate(table[k])
            lam[k] = np.interp(alpha, row, _AREAL_GRID, left=0.0, right=_AREAL_GRID[-1])
            kap[k] = np.interp(lam[k], _AREAL_GRID, slope[k])
        return lam, np.maximum(kap, 1e-9)

    def decompose(self, inside: tuple[float, float], cargo: tuple[float, float], covariance: np.ndarray,
                  *, k: float = 3.0) -> OverlapFit:
        """Fit the object's ``(Z, λ)`` behind the cargo.

        Parameters
        ----------
        inside : (float, float)
            Mean ``(α_H, α_L)`` over the object's pixels (dimensionless).
        cargo : (float, float)
            Mean ``(α_H, α_L)`` of the cargo in front of and behind it, from its
            surroundings (dimensionless).
        covariance : numpy.ndarray
            2 × 2 covariance of ``inside − cargo`` (pixel noise of both means, the
            cargo's own variability, the model's accuracy), dimensionless².
        k : float
            Significance (standard deviations) of :attr:`OverlapFit.zeff_floor`.

        Returns
        -------
        OverlapFit
        """
        cargo_z, cargo_areal = self.cargo_layer(*cargo)
        tables = self._tables(cargo_areal, cargo_z)
        excess = (float(inside[0]) - float(cargo[0]), float(inside[1]) - float(cargo[1]))
        lam_h, kap_h = self._interp_lambda(tables[0], excess[0])
        lam_l, kap_l = self._interp_lambda(tables[1], excess[1])
        precision = np.linalg.inv(np.asarray(covariance, np.float64))
        a = np.stack([kap_h, kap_l], axis=1)  # (Z, 2)
        b = np.stack([kap_h * lam_h, kap_l * lam_l], axis=1)
        a_pa = np.einsum("zi,ij,zj->z", a, precision, a)
        a_pb = np.einsum("zi,ij,zj->z", a, precision, b)
        b_pb = np.einsum("zi,ij,zj->z", b, precision, b)
        lam = np.clip(a_pb / a_pa, 0.0, None)
        profile = np.maximum(b_pb - a_pb**2 / a_pa, 0.0)
        best = int(np.argmin(profile))
        delta = profile - profile[best]
        one = _Z_LADDER[delta <= 1.0]
        floor = _Z_LADDER[delta <= k * k]
        return OverlapFit(
            zeff=float(_Z_LADDER[best]), zeff_low=float(one.min()), zeff_high=float(one.max()),
            zeff_floor=float(floor.min()), areal_g_cm2=float(lam[best]),
            areal_sigma_g_cm2=float(1.0 / math.sqrt(max(a_pa[best], 1e-30))), chi2=float(profile[best]),
            cargo_zeff=cargo_z, cargo_areal_g_cm2=cargo_areal, profile=profile,
        )


def overlap_solver(calibration: Any) -> OverlapSolver | None:
    """The solver of a calibration's scanner model (nominal physics without one), cached on it."""
    model = getattr(calibration, "model", None)
    if model is None:
        energies = list(getattr(calibration, "energies_mev", None) or [])
        if len(energies) < 2:
            return None
        from nii.scanner_model import ScannerModel

        model = ScannerModel.nominal(energies)
    key = id(model)
    cached = _SOLVERS.get(key)
    if cached is not None and cached.model is model:
        return cached
    solver = OverlapSolver(model)
    _SOLVERS.clear()
    _SOLVERS[key] = solver
    return solver


_SOLVERS: dict[int, OverlapSolver] = {}
