"""The cargo's mass: the declared goods read through the calibrated scanner model.

**With a scanner model and the declared goods' make-up** (:mod:`._goods_model`), each
pixel's measured ``α_H`` is inverted through the calibration's
:class:`~nii.scanner_model.ScannerModel` for a ray that crosses the container's side
walls (steel at the areal density the structure estimate gives for its row) and ``λ``
g/cm² of the declared goods: ``α_H = model(steel w_row, goods λ)``. This reads what the
iron-equivalent areal density gets wrong on dense organic loads: hydrogen's electrons
per gram (organic goods attenuate 6–14 % more per gram than the carbon of a
calibration's curves) and the beam hardening of ~100 g/cm² of goods behind a wall (the
map's κ at one Z_eff is not the goods' κ along the whole path). The uncertainty is
propagated, not set:

* photon noise: each pixel's ``σ_α / (dα_H/dλ)``, independent between pixels;
* the model's accuracy (:attr:`Calibration.accuracy`, fully correlated): a relative
  error of the goods' attenuation ``α_H(w, λ) − α_H(w, 0)`` moves ``λ`` by it over the
  slope (the wall's own share was measured with the same model and cancels);
* the chapter's composition: the spread of the estimate over the chapter's other
  plausible make-ups (``alternatives``), fully correlated;
* the structure subtraction: ``structure_uncertainty_rel`` of the subtracted profile.

**Without** (no model, or a declared chapter whose make-up is not listed) the map's
areal density ``ρt = α_H / κ`` is used, its organic pixels rescaled by the declared
goods' mass attenuation (``[[checks.mass.organic_reference]]``, the ratio
``κ_ref / κ_calibration`` at the beam's effective energy), with the relative
uncertainties of ``[checks.mass]``.

Pixels the beam could not read carry a lower bound of their areal density: where they
are part of the cargo space the estimate is a lower bound too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nii.classes import ORGANIC
from nii.errors import CatalogueError
from nii.inspection.checks._goods_model import GoodsComposition, GoodsTable

__all__ = ["MassEstimate", "GoodsReading", "organic_mass_factor", "estimate_cargo_mass", "read_goods"]


@functools.lru_cache(maxsize=64)
def _attenuation_ratio(reference: str, calibration_reference: str, energy_mev: float) -> float:
    """``κ_calibration / κ_reference`` at ``energy_mev`` (dimensionless)."""
    from nii.physics import mass_attenuation

    try:
        ratio = float(mass_attenuation(calibration_reference, energy_mev)) / float(mass_attenuation(reference, energy_mev))
    except Exception as exc:  # noqa: BLE001 - physics raises its own error types
        raise CatalogueError(
            f"[checks.mass]: cannot compute the mass attenuation of {reference!r} or {calibration_reference!r} ({exc})"
        ) from exc
    if not (math.isfinite(ratio) and 0.5 < ratio < 2.0):
        raise CatalogueError(f"[checks.mass]: mass attenuation ratio of {reference!r} is implausible ({ratio:.3f})")
    return ratio


def _reference_for(chapter: str, references: Sequence[Mapping[str, Any]], default: str) -> str:
    for entry in references:
        chapters = entry.get("chapters", ())
        if isinstance(chapters, (list, tuple)) and chapter in chapters:
            return str(entry.get("material", default))
    return default


def organic_mass_factor(items: Sequence[Any], settings: Mapping[str, Any]) -> tuple[float, str]:
    """Factor turning the map's organic areal density into the declared goods' (dimensionless).

    Parameters
    ----------
    items : sequence of ManifestItem
        Declared goods (``chapter``, ``gross_mass_kg`` in kg).
    settings : mapping
        ``[checks.mass]``: ``calibration_organic_reference`` (material name),
        ``default_organic_reference`` (material name, packaging and pallets when no
        declared chapter is listed), ``effective_energy_mev`` (MeV) and the
        ``organic_reference`` list of ``{chapters, material}`` tables.

    Returns
    -------
    factor, described : float, str
        ``κ_calibration / κ_goods`` weighted by declared mass, and the reference
        materials used (for messages).

    Examples
    --------
    >>> settings = {"calibration_organic_reference": "graphite", "default_organic_reference": "cellulose",
    ...             "effective_energy_mev": 2.0, "organic_reference": [{"chapters": ["22"], "material": "water"}]}
    >>> factor, _ = organic_mass_factor([], settings)
    >>> 0.9 < factor < 0.97
    True
    """
    calibration = str(settings.get("calibration_organic_reference", "graphite"))
    default = str(settings.get("default_organic_reference", "cellulose"))
    energy = float(settings.get("effective_energy_mev", 2.0))
    references = settings.get("organic_reference", ())
    if not isinstance(references, (list, tuple)):
        references = ()
    weights: dict[str, float] = {}
    for item in items:
        name = _reference_for(str(item.chapter), references, default)
        mass = item.gross_mass_kg if item.gross_mass_kg is not None and item.gross_mass_kg > 0 else 1.0
        weights[name] = weights.get(name, 0.0) + float(mass)
    if not weights:
        weights[default] = 1.0
    total = sum(weights.values())
    factor = sum(w * _attenuation_ratio(name, calibration, energy) for name, w in weights.items()) / total
    return factor, ", ".join(sorted(weights))


@dataclass(frozen=True)
class MassEstimate:
    """The cargo mass estimate and what it rests on.

    Parameters
    ----------
    mass_kg : float
        Estimated cargo mass (kg).
    sigma_kg : float
        Its standard uncertainty (kg).
    unreadable_kg : float
        Part of the estimate carried by unreadable pixels (kg), a lower bound there.
    unreadable_share : float
        Share of the cargo space's loaded columns × rows that the beam could not read (0..1).
    organic_factor : float
        ``κ_calibration / κ_goods`` applied to organic pixels.
    """

    mass_kg: float
    sigma_kg: float
    unreadable_kg: float
    unreadable_share: float
    organic_factor: float


def estimate_cargo_mass(
    residual_g_cm2: np.ndarray,
    classes: np.ndarray,
    sigma_g_cm2: np.ndarray,
    unreadable: np.ndarray,
    *,
    pixel_area_cm2: float,
    end_columns: tuple[float, float],
    organic_factor: float,
    relative_uncertainty: float,
    structure_kg: float,
    structure_uncertainty_rel: float,
    bottom_row_extra: float = 0.0,
) -> MassEstimate:
    """Sum the cargo's areal density over the cargo space.

    Parameters
    ----------
    residual_g_cm2 : numpy.ndarray
        Areal density above the structure profile over the interior (g/cm², rows × columns).
    classes : numpy.ndarray
        Material classes of the same pixels.
    sigma_g_cm2 : numpy.ndarray
        Noise standard deviation of the areal density (g/cm²).
    unreadable : numpy.ndarray of bool
        Pixels the beam could not read.
    pixel_area_cm2 : float
        Pixel area at the scan plane (cm²).
    end_columns : tuple of float
        Columns (may be fractional) of cargo space beyond the interior at the front and
        at the rear, given the mean mass per column of the nearest interior columns.
    organic_factor : float
        Factor applied to the organic pixels' residual (see :func:`organic_mass_factor`).
    relative_uncertainty : float
        Relative systematic uncertainty of the areal density (dimensionless).
    structure_kg : float
        Mass of the subtracted structure profile over the interior (kg).
    structure_uncertainty_rel : float
        Its relative uncertainty (dimensionless).
    bottom_row_extra : float, optional
        Share of a row (0..1) of cargo space below the residual's last row (the part of
        the floor band's top row above the floor), given the last row's cargo.

    Returns
    -------
    MassEstimate
    """
    residual = residual_g_cm2.astype(np.float64)
    if residual.size == 0:
        return MassEstimate(0.0, 0.0, 0.0, 0.0, organic_factor)
    organic = classes == ORGANIC
    weighted = np.where(organic, residual * organic_factor, residual)
    if bottom_row_extra > 0 and weighted.shape[0]:
        weighted = weighted.copy()
        weighted[-1] *= 1.0 + min(float(bottom_row_extra), 1.0)
    grams = pixel_area_cm2  # (g/cm²) × cm² = g
    column_mass = weighted.sum(axis=0) * grams / 1000.0
    mass = float(column_mass.sum())
    front, rear = end_columns
    if column_mass.size and (front > 0 or rear > 0):
        edge = max(1, min(column_mass.size // 10, int(math.ceil(max(front, rear, 1.0)))))
        mass += float(np.mean(column_mass[:edge])) * front
        mass += float(np.mean(column_mass[-edge:])) * rear
    noise = float(np.sqrt(np.sum(sigma_g_cm2.astype(np.float64) ** 2))) * grams / 1000.0
    unreadable_kg = float(weighted[unreadable].sum()) * grams / 1000.0
    loaded = residual > 0
    share = float(unreadable.sum()) / max(int(loaded.sum()), 1)
    sigma = math.sqrt(noise**2 + (relative_uncertainty * abs(mass)) ** 2 + (structure_uncertainty_rel * structure_kg) ** 2)
    return MassEstimate(mass, sigma, unreadable_kg, min(share, 1.0), organic_factor)


@dataclass(frozen=True)
class GoodsReading:
    """The declared goods' areal density read through the scanner model.

    Parameters
    ----------
    areal_g_cm2 : numpy.ndarray
        ``λ`` of the goods per pixel (g/cm², float64, the rows × columns given).
    sigma_g_cm2 : numpy.ndarray
        Its photon-noise standard deviation per pixel (g/cm²).
    calibration_rel : float
        Relative uncertainty of the summed ``λ`` from the model's accuracy (dimensionless).
    composition_rel : float
        Relative uncertainty of the summed ``λ`` from the chapter's make-up (dimensionless).
    expected_low : numpy.ndarray
        ``α_L`` the model predicts for the goods at the read ``λ`` behind the wall
        (dimensionless), for the material check.
    alternative_low : tuple of numpy.ndarray
        The same for each alternative make-up (on every ``alternative_step``-th column).
    alternative_step : int
        Column step of ``alternative_low``.
    texture_low : numpy.ndarray or None
        The packing texture's share of ``expected_low`` (dimensionless, ≤ 0): what the
        pixel-averaged transmission takes off ``α_L`` beyond the high energy's reading.
    """

    areal_g_cm2: np.ndarray
    sigma_g_cm2: np.ndarray
    calibration_rel: float
    composition_rel: float
    expected_low: np.ndarray
    alternative_low: tuple[np.ndarray, ...] = ()
    alternative_step: int = 1
    texture_low: np.ndarray | None = None


#: Widths (columns) of the windows along x a low-SNR pixel's transmission is averaged
#: over, smallest first.
_POOL_WIDTHS = (3, 9, 27, 81)


def pooled_attenuation(
    transmission: np.ndarray,
    alpha: np.ndarray,
    sigma_alpha: np.ndarray,
    *,
    min_snr: float,
) -> np.ndarray:
    """``α_H`` with low-SNR pixels read on their neighbours' mean unclipped transmission.

    Near the photon floor ``α = −ln max(T, floor)`` is biased low (the floor clips the
    noise's low side) and ``−ln`` of a noisy ``T`` is biased: dense loads read light. The
    mean of the *unclipped* transmissions is unbiased; a pixel whose own ``T`` is below
    ``min_snr`` standard deviations gets ``−ln`` of the mean over the smallest window of
    its row (``_POOL_WIDTHS`` columns, centred) whose mean is measured to ``min_snr``;
    where none is, the widest window's (clipped at the pixel's own floor: a lower bound).

    Parameters
    ----------
    transmission : numpy.ndarray
        Unclipped transmission (rows × columns, dimensionless).
    alpha : numpy.ndarray
        ``−ln max(T, floor)`` of the same pixels.
    sigma_alpha : numpy.ndarray
        Noise standard deviation of ``α`` (``σ_T / T`` at the clipped ``T``).
    min_snr : float
        Signal-to-noise ratio of a transmission read without pooling (dimensionless).

    Returns
    -------
    numpy.ndarray
        ``α_H`` to invert (float64).
    """
    from scipy.ndimage import uniform_filter1d

    t = np.nan_to_num(np.asarray(transmission, np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    a = np.asarray(alpha, np.float64)
    sigma_t = np.abs(np.nan_to_num(np.asarray(sigma_alpha, np.float64), nan=0.0, posinf=0.0)) * np.exp(-np.nan_to_num(a))
    out = np.where(np.isfinite(a), a, np.nan)
    low = t < min_snr * sigma_t
    if not low.any():
        return out
    floor = np.exp(-np.nan_to_num(a, nan=0.0))
    pending = low.copy()
    for width in _POOL_WIDTHS:
        if not pending.any() or width > t.shape[1]:
            break
        mean = uniform_filter1d(t, width, axis=1, mode="nearest")
        noise = np.sqrt(uniform_filter1d(sigma_t**2, width, axis=1, mode="nearest") / width)
        done = pending & (mean >= min_snr * noise)
        out[done] = -np.log(mean[done])
        pending &= ~done
        last = mean
    if pending.any():
        out[pending] = -np.log(np.maximum(last[pending], floor[pending]))
    return out


def read_goods(
    alpha_high: np.ndarray,
    sigma_alpha_high: np.ndarray | None,
    wall_g_cm2: np.ndarray,
    model: Any,
    goods: GoodsComposition,
    *,
    accuracy: float,
    max_samples: int = 200_000,
) -> GoodsReading:
    """Invert measured ``α_H`` to the declared goods' areal density behind the walls.

    Parameters
    ----------
    alpha_high : numpy.ndarray
        Measured ``α_H`` over the cargo space (rows × columns, dimensionless).
    sigma_alpha_high : numpy.ndarray or None
        Its per-pixel noise standard deviation (dimensionless); None: no noise term.
    wall_g_cm2 : numpy.ndarray
        Side-wall steel of each row (g/cm², one value per row): the structure profile.
    model : ScannerModel
        The calibration's forward model.
    goods : GoodsComposition
        The declared goods' make-up and its alternatives.
    accuracy : float
        Relative accuracy of the model's ``α`` (dimensionless).
    max_samples : int, optional
        Pixels the alternatives are read on (every n-th column), for speed.

    Returns
    -------
    GoodsReading

    Examples
    --------
    >>> from nii.scanner_model import ScannerModel
    >>> from nii.physics import material
    >>> model = ScannerModel.nominal((6.0, 3.0))
    >>> water = dict(material("water").composition)
    >>> goods = GoodsComposition(water, (), ("22",))
    >>> steel = dict(material("steel").composition)
    >>> alpha, _ = model.predict([(steel, 2.5), (water, 100.0)])
    >>> reading = read_goods(np.full((1, 1), float(alpha)), None, np.array([2.5]), model, goods, accuracy=0.0)
    >>> abs(float(reading.areal_g_cm2[0, 0]) - 100.0) < 0.5
    True
    """
    alpha = np.asarray(alpha_high, np.float64)
    walls = np.asarray(wall_g_cm2, np.float64)
    table = GoodsTable(model, goods.composition, walls)
    areal, slope, expected_low, slope_low = table.invert(alpha, walls)
    # Goods that vary below the resolution read light: −ln⟨e^{−κλ}⟩ = κ⟨λ⟩ − κ²Var(λ)/2,
    # so ⟨λ⟩ = λ_read + κ_H (c λ)² / 2 with c the packing's relative spread; the low
    # energy loses κ_L² Var(λ)/2 of its α the same way.
    loaded = np.clip(areal, 0.0, None)
    variance = (goods.texture_cv * loaded) ** 2
    texture = 0.5 * slope * variance
    raw = areal
    areal = areal + texture
    texture_low = slope_low * texture - 0.5 * slope_low**2 * variance
    expected_low = expected_low + texture_low
    if sigma_alpha_high is not None:
        sigma_alpha = np.asarray(sigma_alpha_high, np.float64)
        sigma = np.where(np.isfinite(sigma_alpha), np.abs(sigma_alpha), 0.0) / slope
    else:
        sigma = np.zeros(areal.shape)
    finite = np.isfinite(alpha)
    total = float(np.sum(np.clip(areal, 0.0, None)[finite]))
    # The model's accuracy applies to the goods' part of α (the wall's was read with it).
    wall_alpha = np.array([table._row_tables(float(w))[0][0] for w in walls])
    goods_alpha = np.clip(np.where(finite, alpha, 0.0) - wall_alpha[:, None], 0.0, None)
    calibration_rel = float(accuracy) * float(np.sum(goods_alpha / slope)) / total if total > 0 else 0.0
    step = max(1, int(math.ceil(alpha.size / max(max_samples, 1))))
    sample = alpha[:, ::step]
    base = float(np.sum(np.clip(raw[:, ::step], 0.0, None)[finite[:, ::step]]))
    deviations = []
    alternative_low = []
    for alternative in goods.alternatives:
        other, _, other_low, _ = GoodsTable(model, alternative, walls).invert(sample, walls)
        alternative_low.append(other_low + texture_low[:, ::step])
        if base > 0:
            deviations.append(float(np.sum(np.clip(other, 0.0, None)[finite[:, ::step]])) / base - 1.0)
    composition_rel = float(np.sqrt(np.mean(np.square(deviations)))) if deviations else 0.0
    if goods.texture_sigma > 0 and total > 0:
        # The packing's spread is known to texture_sigma: the correction at c + σ_c less
        # the one at c (the correction is quadratic in c: at c = 0 a linear propagation
        # would give nothing).
        wider = 0.5 * slope * ((goods.texture_cv + goods.texture_sigma) * loaded) ** 2
        texture_rel = float(np.sum((wider - texture)[finite])) / total
        composition_rel = math.hypot(composition_rel, texture_rel)
    return GoodsReading(areal, sigma, calibration_rel, composition_rel, expected_low, tuple(alternative_low), step,
                        texture_low)
