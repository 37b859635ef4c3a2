"""Areal density and effective Z of regions by maximum likelihood on unclipped transmissions.

A region (a block, a carton stack) has mean transmissions ``T̄_H, T̄_L`` over its pixels,
unclipped (a pixel's noise can take ``T`` below the starvation floor, even below zero:
those values count, so that the mean stays unbiased), and the variance of those means
from the noise model measured on the scan's references. For a virtual element of
atomic number ``Z`` (per-process μ/ρ linear in Z between elements,
:meth:`~nii.scanner_model.ScannerModel.element_tables`) and areal density ``λ``
(g/cm²), the scanner model predicts ``T_H(Z, λ), T_L(Z, λ)``; the negative
log-likelihood of Gaussian means is

``χ²(Z, λ) = Σ_e (T̄_e − T_e(Z, λ))² / v_e``,

with ``v_e`` the variance of the mean plus the calibration's accuracy
``(accuracy · α_e · T̄_e)²``. Linearised around each energy's own solution
``λ_e(Z)`` (``T_e(Z, λ_e) = T̄_e``) with ``∂T_e/∂λ = −κ_e T_e``, the profile over ``λ``
is exact to second order:

``λ*(Z) = (w_H λ_H + w_L λ_L) / (w_H + w_L)``,
``χ²(Z) = w_H w_L / (w_H + w_L) · (λ_H − λ_L)²``,  ``w_e = κ_e² T̄_e² / v_e``.

Its minimum over the Z ladder (refined by a parabola) is the estimate; the set
``χ²(Z) ≤ χ²_min + 1`` is the one-standard-deviation interval (Fisher information of
the region), and the classes with ``χ²(Z) ≤ χ²_min + k²`` are the classes consistent
with the data: a real degeneracy (Lalor & Danagoulian, arXiv 2301.05783) stays visible
as more than one class, and a region whose data allow three classes or more at a poor
signal-to-noise ratio, or whose mean at one energy is within noise of the scatter floor,
tells nothing of its material: impenetrable, by its precision, not by a per-pixel floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nii.classes import IMPENETRABLE, class_of_zeff

__all__ = ["RegionEstimator", "RegionEstimates"]

_AREAL_MIN, _AREAL_MAX, _AREAL_NODES = 0.02, 6000.0, 1600
_ALPHA_STEP = 0.005
_ALPHA_MAX = 25.0
_CHUNK = 256


@dataclass
class RegionEstimates:
    """Per-region maximum-likelihood estimates (arrays of one value per region).

    Attributes
    ----------
    areal_density_g_cm2 : numpy.ndarray
        ``λ*`` at the estimated Z, g/cm².
    zeff, zeff_low, zeff_high : numpy.ndarray
        Estimated Z and the bounds of its one-standard-deviation interval.
    zeff_sigma : numpy.ndarray
        Half-width of that interval.
    chi2 : numpy.ndarray
        ``χ²`` at the minimum (2 energies, 2 parameters: large values mean the region is
        no single material, e.g. an overlap, or the model misfits).
    consistent_classes : numpy.ndarray of uint8
        Bit ``c`` set for each class c (1–4) that has a Z with ``Δχ² ≤ k²``.
    snr : numpy.ndarray
        Signal-to-noise ratio of the less well measured mean transmission, above the
        scatter floor of the model.
    impenetrable : numpy.ndarray of bool
        An energy measured no primary signal (its mean within ``dark_sigmas`` standard
        deviations of the scatter floor: the ratio cannot be read), or the data allow three classes or more
        while a mean transmission is measured to less than ``impenetrable_snr`` (the
        precision is lost to photon noise; thin regions whose classes the physics cannot
        tell apart are ambiguous instead).
    """

    areal_density_g_cm2: np.ndarray
    zeff: np.ndarray
    zeff_low: np.ndarray
    zeff_high: np.ndarray
    zeff_sigma: np.ndarray
    chi2: np.ndarray
    consistent_classes: np.ndarray
    snr: np.ndarray
    impenetrable: np.ndarray

    @property
    def classes(self) -> np.ndarray:
        """Class code of each estimate (0–5; impenetrable as 5)."""
        codes = np.asarray(class_of_zeff(np.nan_to_num(self.zeff, nan=1.0)), np.uint8)
        return np.where(self.impenetrable, np.uint8(IMPENETRABLE), codes).astype(np.uint8)

    @property
    def ambiguous(self) -> np.ndarray:
        """More than one class is consistent with the data."""
        bits = self.consistent_classes.astype(np.uint16)
        count = sum(((bits >> c) & 1) for c in range(1, 5))
        return np.asarray(count > 1)


class RegionEstimator:
    """Maximum-likelihood ``(λ, Z)`` of regions under a scanner model (tables built once).

    Parameters
    ----------
    model : ScannerModel
        The scanner's forward model.
    accuracy : float
        Relative accuracy of the model's α (the calibration fit's), added to the noise.
    z_step : float
        Spacing of the Z ladder (atomic number units).
    """

    def __init__(self, model: Any, *, accuracy: float = 0.0, z_step: float = 0.25) -> None:
        self.accuracy = float(accuracy)
        self.scatter = [float(getattr(e, "scatter", 0.0)) for e in model.energies]
        self.z = np.arange(1.0, 92.0 + 1e-9, float(z_step))
        self.z_class = np.asarray(class_of_zeff(self.z), np.uint8)
        areal = np.geomspace(_AREAL_MIN, _AREAL_MAX, _AREAL_NODES)
        tables = model.element_tables(self.z, areal)
        self.alpha = np.arange(0.0, _ALPHA_MAX + _ALPHA_STEP / 2, _ALPHA_STEP)
        self.areal_of_alpha = []
        self.kappa_of_alpha = []
        for forward in tables:  # (Z, areal), increasing along areal
            lam = np.empty((self.z.size, self.alpha.size), np.float32)
            kap = np.empty_like(lam)
            slope = np.gradient(forward, areal, axis=1)
            for k in range(self.z.size):
                lam[k] = np.interp(self.alpha, forward[k], areal, left=0.0, right=_AREAL_MAX)
                kap[k] = np.interp(self.alpha, forward[k], slope[k])
            self.areal_of_alpha.append(lam)
            self.kappa_of_alpha.append(np.maximum(kap, 1e-6))

    def estimate(self, mean_high: np.ndarray, mean_low: np.ndarray, variance_high: np.ndarray,
                 variance_low: np.ndarray, *, confidence_sigmas: float = 2.0,
                 impenetrable_snr: float = 50.0, reading: str = "lower",
                 dark_sigmas: float = 2.0) -> RegionEstimates:
        """Estimate ``(λ, Z)`` of each region from its mean transmissions.

        Parameters
        ----------
        mean_high, mean_low : numpy.ndarray
            Mean unclipped transmission of each region (dimensionless; may be ≤ 0).
        variance_high, variance_low : numpy.ndarray
            Variance of those means (dimensionless²), from the noise model.
        confidence_sigmas : float
            ``k``: the classes with ``Δχ² ≤ k²`` are consistent with the data.
        impenetrable_snr : float
            A region allowing three classes or more is impenetrable when a mean
            transmission's signal-to-noise ratio is below this.
        dark_sigmas : float
            An energy whose mean lies within this many standard deviations of the model's
            scatter floor measured no primary signal: the region is impenetrable.
        reading : {"lower", "higher", "likelihood"}
            Which of several minima within one unit of χ² (separate basins: a degeneracy)
            is reported: the lowest-Z, the highest-Z, or the global maximum likelihood.

        Returns
        -------
        RegionEstimates
        """
        t = [np.atleast_1d(np.asarray(v, np.float64)) for v in (mean_high, mean_low)]
        var = [np.atleast_1d(np.asarray(v, np.float64)) for v in (variance_high, variance_low)]
        n = t[0].size
        out = {name: np.empty(n) for name in ("areal", "z", "lo", "hi", "chi2")}
        consistent = np.zeros(n, np.uint8)
        dark = np.zeros(n, bool)
        for start in range(0, n, _CHUNK):
            part = slice(start, min(start + _CHUNK, n))
            result = self._estimate_chunk([x[part] for x in t], [v[part] for v in var], float(confidence_sigmas),
                                          reading, float(dark_sigmas))
            for key in out:
                out[key][part] = result[key]
            consistent[part] = result["classes"]
            dark[part] = result["dark"]
        bits = consistent.astype(np.uint16)
        count = sum(((bits >> c) & 1) for c in range(1, 5))
        snr = np.minimum(*((x - s) / np.sqrt(np.maximum(v, 1e-30)) for x, v, s in zip(t, var, self.scatter, strict=True)))
        impenetrable = dark | ((count >= 3) & (snr < float(impenetrable_snr)))
        return RegionEstimates(
            areal_density_g_cm2=out["areal"], zeff=out["z"], zeff_low=out["lo"], zeff_high=out["hi"],
            zeff_sigma=np.maximum(0.5 * (out["hi"] - out["lo"]), 0.0), chi2=out["chi2"],
            consistent_classes=consistent, snr=snr, impenetrable=np.asarray(impenetrable),
        )

    def _estimate_chunk(self, t: list[np.ndarray], var: list[np.ndarray], k: float,
                        reading: str, dark_sigmas: float = 2.0) -> dict[str, np.ndarray]:
        lam, weight = [], []
        dark = np.zeros(t[0].size, bool)
        for e in range(2):
            sigma = np.sqrt(np.maximum(var[e], 1e-30))
            # no primary signal: the mean is the scatter floor within noise
            dark |= (t[e] - self.scatter[e]) < dark_sigmas * sigma
            # a mean within noise of zero is an upper bound: read it at one sigma (its
            # weight then says how little it constrains)
            level = np.clip(np.maximum(t[e], sigma), 1e-300, 1.0)
            alpha = -np.log(level)
            variance = var[e] + (self.accuracy * alpha * level) ** 2
            position = np.clip(alpha / _ALPHA_STEP, 0.0, self.alpha.size - 1.000001)
            i0 = position.astype(np.int64)
            f = (position - i0)[:, None]
            table_l, table_k = self.areal_of_alpha[e], self.kappa_of_alpha[e]
            lam_e = table_l[:, i0].T * (1 - f) + table_l[:, i0 + 1].T * f  # (N, Z)
            kap_e = table_k[:, i0].T * (1 - f) + table_k[:, i0 + 1].T * f
            lam.append(lam_e)
            weight.append((kap_e * level[:, None]) ** 2 / variance[:, None])
        total = weight[0] + weight[1]
        areal = (weight[0] * lam[0] + weight[1] * lam[1]) / total
        chi2 = weight[0] * weight[1] / total * (lam[0] - lam[1]) ** 2
        # where the likelihood has several minima within one unit of χ² of the best
        # (a real degeneracy: thin heavy against thicker light material), the reading
        # picks the lower-Z one (or the higher, ``reading="higher"``); all stay consistent
        # (a separate basin: Δχ² rises above 1 between it and the best; wiggles of a flat
        # likelihood are no degeneracy)
        lowest = chi2.min(axis=1, keepdims=True)
        global_best = np.argmin(chi2, axis=1)
        padded = np.pad(chi2, ((0, 0), (1, 1)), mode="edge")
        local = (chi2 <= padded[:, :-2]) & (chi2 <= padded[:, 2:]) & (chi2 <= lowest + 1.0)
        if reading == "higher":
            other = chi2.shape[1] - 1 - np.argmax(local[:, ::-1], axis=1)
        else:
            other = np.argmax(local, axis=1)
        index = np.arange(chi2.shape[1])[None, :]
        between = (index >= np.minimum(other, global_best)[:, None]) & (index <= np.maximum(other, global_best)[:, None])
        barrier = np.where(between, chi2 - lowest, 0.0).max(axis=1)
        best = np.where((barrier > 1.0) & (reading != "likelihood"), other, global_best)
        rows = np.arange(best.size)
        inner = np.clip(best, 1, self.z.size - 2)
        c_minus, c0, c_plus = chi2[rows, inner - 1], chi2[rows, inner], chi2[rows, inner + 1]
        curvature = c_minus - 2 * c0 + c_plus
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature > 0, 0.5 * (c_minus - c_plus) / curvature, 0.0)
        shift = np.clip(shift, -0.5, 0.5)
        at_edge = (best == 0) | (best == self.z.size - 1)
        step = self.z[1] - self.z[0]
        z_hat = np.where(at_edge, self.z[best], self.z[inner] + shift * step)
        chi2_min = np.where(at_edge, chi2[rows, best], np.maximum(c0 - 0.25 * (c_minus - c_plus) * shift, 0.0))
        chi2_min = np.minimum(chi2_min, chi2[rows, best])
        lam_hat = np.where(at_edge, areal[rows, best], areal[rows, inner]
                           + shift * np.where(shift > 0, areal[rows, np.minimum(inner + 1, self.z.size - 1)] - areal[rows, inner],
                                              areal[rows, inner] - areal[rows, np.maximum(inner - 1, 0)]))
        delta = chi2 - chi2_min[:, None]
        # the one-sigma interval: the contiguous run of Δχ² ≤ 1 around the minimum, its ends
        # interpolated between ladder nodes
        within = delta <= 1.0
        index = np.arange(self.z.size)[None, :]
        outside_below = np.where(~within & (index < best[:, None]), index, -1).max(axis=1)
        outside_above = np.where(~within & (index > best[:, None]), index, self.z.size).min(axis=1)
        low = self._crossing(delta, rows, outside_below, outside_below + 1, fallback=self.z[0])
        high = self._crossing(delta, rows, outside_above, outside_above - 1, fallback=self.z[-1])
        low = np.minimum(low, z_hat)
        high = np.maximum(high, z_hat)
        allowed = delta <= k * k
        classes = np.zeros(best.size, np.uint8)
        for code in range(1, 5):
            classes |= (allowed[:, self.z_class == code].any(axis=1).astype(np.uint8) << code)
        return {"areal": lam_hat, "z": z_hat, "lo": low, "hi": high, "chi2": chi2_min, "classes": classes, "dark": dark}

    def _crossing(self, delta: np.ndarray, rows: np.ndarray, out_index: np.ndarray, in_index: np.ndarray,
                  *, fallback: float) -> np.ndarray:
        """Z where Δχ² crosses 1 between an outside node and the inside node next to it."""
        valid = (out_index >= 0) & (out_index < self.z.size)
        o = np.clip(out_index, 0, self.z.size - 1)
        i = np.clip(in_index, 0, self.z.size - 1)
        d_out, d_in = delta[rows, o], delta[rows, i]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.clip((1.0 - d_in) / (d_out - d_in), 0.0, 1.0)
        value = self.z[i] + f * (self.z[o] - self.z[i])
        return np.where(valid, value, fallback)
