"""Overlap decomposition: the material of an object seen through the cargo around it.

A transmission image adds the attenuations of everything on a ray. An object inside
cargo adds ``Δα_H`` and ``Δα_L`` to what the cargo alone gives; the pixel totals are
dominated by the cargo, but the excess pair belongs to the object alone, and its ratio
``Δα_L / Δα_H`` says what the object is made of (Zhang, Li & Chen, IEEE NSS/MIC 2015;
Chen, Zhao & Li, Nucl. Sci. Tech. 2016 for the curves). At MeV energies pair production
makes the ratio fall with Z: about 1.41 for polyethylene, 1.29 for iron and 1.16 for
lead at α_H ≈ 3 behind a 6/3 MeV beam.

Three steps:

* :func:`compact_excess` finds compact objects that stand above the cargo in their own
  row: a grey opening of α_H along x (the detector rows cut the cargo into horizontal
  bands of the same stack) is the cargo without anything narrower than the window, and
  the difference (a top-hat) is what such objects add. Stacks of different heights and
  the gaps between cartons are wider than the window or dips, and leave no excess.
* :func:`excess_pair` subtracts that cargo (the same opening of each energy's image)
  from the region's pixels and averages the excess at both energies.
* :func:`excess_zeff` reads the effective Z of the excess on the calibration's
  material curves: for each curve the chord slope ``[α_L(h₀+Δh) − α_L(h₀)] / Δh``
  from the background's ``α_H = h₀`` (the beam behind the cargo is hardened about as
  the material's own first ``h₀`` would harden it) is the ratio that material would
  give; Z is interpolated between the curves on the measured ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["ExcessPair", "chord_ratios", "compact_excess", "excess_pair", "excess_zeff", "row_opening"]


@dataclass(frozen=True)
class ExcessPair:
    """What a region adds to the cargo around it, at both energies.

    Parameters
    ----------
    delta_high, delta_low : float
        Mean excess attenuation ``Δα_H``, ``Δα_L`` over the region's measured pixels,
        (dimensionless).
    background_high : float
        Mean ``α_H`` of the cargo around it (dimensionless).
    ratio : float
        ``Δα_L / Δα_H`` (NaN when ``Δα_H ≤ 0``).
    ratio_sigma : float
        Standard deviation of the ratio from pixel noise (dimensionless).
    pixels : int
        Pixels that entered the sums (measured: neither starved nor saturated).
    """

    delta_high: float
    delta_low: float
    background_high: float
    ratio: float
    ratio_sigma: float
    pixels: int


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


def excess_pair(
    alpha_high: np.ndarray,
    alpha_low: np.ndarray,
    background_high: np.ndarray,
    background_low: np.ndarray,
    bbox: tuple[int, int, int, int],
    pixels: np.ndarray,
    *,
    measured: np.ndarray | None = None,
    sigma_high: np.ndarray | None = None,
    sigma_low: np.ndarray | None = None,
) -> ExcessPair | None:
    """What a region adds to the cargo around it, at both energies.

    Parameters
    ----------
    alpha_high, alpha_low : numpy.ndarray
        Attenuation α per energy (rows × columns, dimensionless).
    background_high, background_low : numpy.ndarray
        The cargo without the object at each energy (e.g. :func:`row_opening`), same
        shape (dimensionless).
    bbox : tuple of int
        ``(row0, col0, row1, col1)`` of the region, half-open (pixels).
    pixels : numpy.ndarray of bool
        The region's pixels inside its box.
    measured : numpy.ndarray of bool, optional
        Pixels whose α pair is trustworthy (not starved, not saturated), full image.
    sigma_high, sigma_low : numpy.ndarray, optional
        Noise standard deviation of α per pixel, full image (dimensionless).

    Returns
    -------
    ExcessPair or None
        None when no measured pixel remains.
    """
    r0, c0, r1, c1 = bbox
    box = (slice(r0, r1), slice(c0, c1))
    use = np.asarray(pixels, bool).copy()
    if measured is not None:
        use &= measured[box]
    count = int(use.sum())
    if count == 0:
        return None
    excess_h = alpha_high[box][use].astype(np.float64) - background_high[box][use]
    excess_l = alpha_low[box][use].astype(np.float64) - background_low[box][use]
    if sigma_high is not None and sigma_low is not None:
        # Plain means: inverse-variance weights would favour the least attenuated
        # pixels, the object's blurred rim.
        var_h = sigma_high[box][use].astype(np.float64) ** 2
        var_l = sigma_low[box][use].astype(np.float64) ** 2
        weights = np.ones(count)
    else:
        var_h = var_l = None
        weights = np.ones(count)
    total = float(weights.sum())
    if total <= 0:
        return None
    weights = weights / total
    delta_h = float(np.sum(weights * excess_h))
    delta_l = float(np.sum(weights * excess_l))
    ratio = delta_l / delta_h if delta_h > 0 else math.nan
    if var_h is not None and delta_h > 0:
        noise_h = float(np.sum(weights**2 * np.where(np.isfinite(var_h), var_h, 0.0)))
        noise_l = float(np.sum(weights**2 * np.where(np.isfinite(var_l), var_l, 0.0)))
        ratio_sigma = math.sqrt(noise_l + ratio**2 * noise_h) / delta_h
    else:
        ratio_sigma = math.nan
    bg_h = float(np.sum(weights * background_high[box][use]))
    return ExcessPair(
        delta_high=delta_h,
        delta_low=delta_l,
        background_high=bg_h,
        ratio=ratio,
        ratio_sigma=ratio_sigma,
        pixels=count,
    )


def chord_ratios(curves: Sequence[Any], background_high: float, delta_high: float) -> tuple[np.ndarray, np.ndarray]:
    """Ratio ``Δα_L / Δα_H`` each material curve gives for an excess behind the cargo.

    Parameters
    ----------
    curves : sequence of MaterialCurve
        ``zeff``, ``attenuation_high``, ``attenuation_low`` (dimensionless).
    background_high : float
        α_H of the cargo in front of and behind the object (dimensionless).
    delta_high : float
        The object's excess ``Δα_H`` (dimensionless, > 0).

    Returns
    -------
    zeff, ratio : numpy.ndarray
        Effective Z of each curve and its chord slope, sorted by Z.
    """
    zeff, ratio = [], []
    for curve in curves:
        high = np.asarray(curve.attenuation_high, np.float64)
        low = np.asarray(curve.attenuation_low, np.float64)
        if high.size < 2:
            continue
        start = min(max(background_high, float(high[0])), float(high[-1]))
        stop = min(start + max(delta_high, 1e-3), float(high[-1]))
        if stop <= start:
            # Beyond the curve's range: its last slope.
            slope = (low[-1] - low[-2]) / max(high[-1] - high[-2], 1e-9)
        else:
            slope = (np.interp(stop, high, low) - np.interp(start, high, low)) / (stop - start)
        zeff.append(float(curve.zeff))
        ratio.append(float(slope))
    order = np.argsort(zeff, kind="stable")
    return np.asarray(zeff)[order], np.asarray(ratio)[order]


def excess_zeff(curves: Sequence[Any], pair: ExcessPair, *, max_zeff: float = 82.0) -> float:
    """Effective Z of a region's excess attenuation, read on the material curves.

    Parameters
    ----------
    curves : sequence of MaterialCurve
        The calibration's curves.
    pair : ExcessPair
        The region's excess (``Δα_H > 0``).
    max_zeff : float
        Curves above this Z are left out: beyond lead the ratio no longer falls with Z
        (uranium reads like tungsten), so the reading saturates at this value.

    Returns
    -------
    float
        Z interpolated between the curves on the ratio (clipped to the curves' range);
        NaN when the excess is not positive or no curve is usable.
    """
    if not (pair.delta_high > 0 and math.isfinite(pair.ratio)):
        return math.nan
    zeff, ratio = chord_ratios(curves, pair.background_high, pair.delta_high)
    keep = zeff <= max_zeff
    zeff, ratio = zeff[keep], ratio[keep]
    if zeff.size < 2:
        return math.nan
    # The ratio falls with Z; enforce it so that the interpolation is single-valued.
    falling = np.minimum.accumulate(ratio)
    return float(np.interp(-pair.ratio, -falling, zeff))
