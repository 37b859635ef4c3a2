"""Material discrimination: effective Z, class, uncertainty and mass thickness per pixel.

:func:`discriminate` maps an :class:`~nii.correction.AnalysedImage` through a
:class:`~nii.calibration.Calibration`:

1. **Region-aware smoothing.** ``α_H`` and ``α_L`` are smoothed with a guided filter
   (He, Sun & Tang, "Guided image filtering", IEEE TPAMI 35, 1397, 2013) guided by
   ``α_H``, with the regularisation tied to the pixel noise (``ε = (k σ_H)²``): inside a
   homogeneous block the window mean is taken (noise down by the window size), across
   an edge whose contrast is well above the noise the local linear model keeps the edge.
   The window statistics are computed on 2 × 2 bins and the coefficients applied to the
   full-resolution ``α_H`` (the fast guided filter, He & Sun, arXiv 1505.00996): edges
   stay at the pixel, at a quarter of the cost. Then each connected edge-free region
   that is homogeneous (α_H spread within noise + 5 %) and large enough is read from
   its mean attenuations, so that a block comes out as one material; the band along
   its edges (where the window straddles two regions) is given to the region whose
   attenuations it matches, and a partial-volume pixel (its α_H below the region's and
   its ratio meaningless, along a block's edge or in the slit between two cartons) to
   the region beside it: an edge takes one of its two sides' materials, never a third
   (no one-pixel green or blue lines along cartons).
2. **Regions by likelihood.** With a scanner model in the calibration (every calibration
   :mod:`nii.calibration` builds), each region's ``(areal density, Z_eff)`` is its maximum
   likelihood estimate from its **unclipped** mean transmissions under the scan's noise
   model (:mod:`nii.region_estimate`): Z_eff with its Fisher interval (``zeff_sigma``), the
   classes consistent with it (``consistent_classes``, ``ambiguous``), and impenetrable only
   where its own precision says nothing can be read (not a per-pixel floor). Every pixel of
   a region carries its region's estimate; the steps below read the other pixels.
3. **Lookup.** ``R = α_L / α_H`` and ``α_H`` index the calibration's table
   ``(α_H, R) → Z_eff`` (nearest node), which also gives ``|∂Z/∂R|``, the fitted material's
   mass attenuation ``κ = α_H / ρt`` and whether the point is degenerate (two classes
   give the same pair of attenuations).
4. **Classes.** ``impenetrable`` where either energy is photon-starved, decided over a
   neighbourhood since a pixel near the floor is starved or not by its noise: a region
   as a whole (a third of its pixels starved: the noise-free transmission at about the
   floor), elsewhere by the share of starved pixels in a 3 × 3-bin window; ``none``
   where the estimated mass thickness is below ``min_areal_density_g_cm2`` (default
   7 g/cm², about α_H ≈ 0.2: below it the smoothed ratio's noise and the thin-absorber
   degeneracy of heavy elements make Z meaningless), where ``α_H < 0.1`` or the
   detector saturated; otherwise the contract's Z bands (:mod:`nii.classes`).
5. **Uncertainty** ``σ_Z = |∂Z/∂R| σ_R`` with ``σ_R² = (σ_L² + R² σ_H²) / α_H²`` from
   the smoothed noise (per bin; a region's noise is its mean's), and **mass thickness**
   ``ρt = α_H / κ`` (g/cm²).

The per-pixel arithmetic is one implementation for numpy and torch (:mod:`nii.backend`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nii import __version__
from nii.backend import ArrayBackend, get_backend
from nii.classes import IMPENETRABLE
from nii.errors import AnalysisError, CalibrationError
from nii.io_utils import atomic_writer

__all__ = [
    "MaterialMap",
    "discriminate",
    "guided_smooth",
    "wall_background",
    "DEFAULT_ALPHA_HIGH_MIN",
    "DEFAULT_MIN_AREAL_DENSITY_G_CM2",
    "DEFAULT_SMOOTHING_RADIUS_PX",
    "DEFAULT_MIN_REGION_PX",
    "DEFAULT_BIN_PX",
]

#: Smallest smoothed α_H whose material is told (dimensionless), whatever the mass:
#: below it the ratio is mostly noise (σ_R ≈ √2 σ_α / α_H).
DEFAULT_ALPHA_HIGH_MIN = 0.1
#: Smallest estimated mass thickness (g/cm²) whose material is told: about where a
#: 6/3 MeV system starts telling materials apart (α_H ≈ 0.2 at μ/ρ ≈ 0.03 cm²/g); the
#: ground truth of :mod:`nii.simulate` uses the same figure. Thinner sheets are ``none``
#: even when (like 3 g/cm² of lead) their ratio is distinctive.
DEFAULT_MIN_AREAL_DENSITY_G_CM2 = 7.0
#: Side of the bins (pixels) on which the window statistics and regions are computed.
DEFAULT_BIN_PX = 2
#: Half-width of the guided filter window (pixels), rounded to whole bins: 3 px → 2 bins,
#: windows of 5 × 5 bins of 2 × 2 pixels (10 × 10 px), noise down ~10× in flat areas.
DEFAULT_SMOOTHING_RADIUS_PX = 3
#: Guided-filter regularisation in units of the pixel noise of α_H.
DEFAULT_EDGE_SIGMAS = 3.0
#: A pixel is on an edge when its window variance exceeds this share of ``ε``
#: (guided weight ``var / (var + ε)`` above 0.3): about twice the noise variance.
_EDGE_WEIGHT = 0.3
_EDGE_VARIANCE_FACTOR = _EDGE_WEIGHT / (1.0 - _EDGE_WEIGHT)
#: Regions smaller than this (pixels) keep their pixel-wise estimate.
DEFAULT_MIN_REGION_PX = 30
#: Largest α_H taken as container walls alone (about 15 g/cm² of steel).
_MAX_WALL_ATTENUATION = 0.5
#: A region is homogeneous when the spread of α_H beyond noise is below this fraction of its mean.
REGION_RELATIVE_SPREAD = 0.05


@dataclass
class MaterialMap:
    """Per-pixel material estimate on the analysed grid (rows × columns).

    Attributes
    ----------
    classes : numpy.ndarray of uint8
        Contract class codes (0 none, 1 organic, 2 inorganic, 3 metal, 4 high_z,
        5 impenetrable).
    zeff : numpy.ndarray of float32
        Effective atomic number; NaN where class is 0 or 5.
    zeff_sigma : numpy.ndarray of float32
        One-standard-deviation uncertainty of ``zeff`` from the noise; NaN where ``zeff`` is.
    areal_density_g_cm2 : numpy.ndarray of float32
        Mass thickness along the ray of the fitted material, g/cm² (a lower bound where
        impenetrable).
    ambiguous : numpy.ndarray of bool
        The attenuation pair fits materials of different classes (physical degeneracy).
    attenuation_high, attenuation_low : numpy.ndarray of float32
        The smoothed attenuations the lookup used.
    position_mm : numpy.ndarray of float64
        Conveyance position (mm) of each column.
    channel : numpy.ndarray of int32
        Detector channel of each row.
    provenance : dict
        Calibration identity, backend, parameters.
    region_estimates : RegionEstimates, optional
        The per-region estimates (:mod:`nii.region_estimate`), index ``region − 1``:
        areal density, Z_eff and its interval, χ², consistent classes, impenetrable.
    region_bins : numpy.ndarray of int32, optional
        Region of each ``bin_px × bin_px`` bin (0 none); :attr:`region` and
        :attr:`consistent_classes` give the per-pixel maps.
    bin_px : int
        Bin side of ``region_bins`` (pixels).
    """

    classes: np.ndarray
    zeff: np.ndarray
    zeff_sigma: np.ndarray
    areal_density_g_cm2: np.ndarray
    ambiguous: np.ndarray
    attenuation_high: np.ndarray
    attenuation_low: np.ndarray
    position_mm: np.ndarray
    channel: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    region_estimates: Any = None
    region_bins: np.ndarray | None = None
    bin_px: int = 1

    @property
    def region(self) -> np.ndarray:
        """Region of each pixel (1, 2, …; 0: read pixel by pixel), int32."""
        rows, columns = self.classes.shape
        if self.region_bins is None:
            return np.zeros((rows, columns), np.int32)
        f = int(self.bin_px)
        return np.repeat(np.repeat(self.region_bins, f, axis=0), f, axis=1)[:rows, :columns].astype(np.int32)

    @property
    def consistent_classes(self) -> np.ndarray:
        """Bit ``c`` set for every class ``c`` (1–4) consistent with the pixel's region (uint8)."""
        region = self.region
        if self.region_estimates is None:
            return np.zeros(region.shape, np.uint8)
        estimates = self.region_estimates
        codes = estimates.classes
        bits = np.where((codes == 0) | (codes == 5), 0, estimates.consistent_classes).astype(np.uint8)
        return np.where(region > 0, np.concatenate([[0], bits])[region], 0).astype(np.uint8)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.classes.shape)  # type: ignore[return-value]

    def class_fractions(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """Share of each class among the pixels (optionally within ``mask``)."""
        from nii.classes import CLASS_NAMES

        values = self.classes if mask is None else self.classes[mask]
        total = max(values.size, 1)
        return {name: float(np.count_nonzero(values == code)) / total for code, name in CLASS_NAMES.items()}

    def save_npz(self, path: str | Path) -> Path:
        """Write the contract's ``MAP.npz`` atomically (plus the extra arrays).

        Parameters
        ----------
        path : path-like
            Destination (``.npz``).
        """
        arrays = {
            "classes": self.classes.astype(np.uint8),
            "zeff": self.zeff.astype(np.float32),
            "position_mm": self.position_mm.astype(np.float64),
            "channel": self.channel.astype(np.int32),
            "zeff_sigma": self.zeff_sigma.astype(np.float32),
            "areal_density_g_cm2": self.areal_density_g_cm2.astype(np.float32),
            "ambiguous": self.ambiguous.astype(bool),
            "consistent_classes": self.consistent_classes.astype(np.uint8),
        }

        def write(stream) -> None:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            stream.write(buffer.getvalue())

        return atomic_writer(path, write)


def wall_background(
    attenuation_high: np.ndarray,
    attenuation_low: np.ndarray,
    *,
    max_wall_attenuation: float = _MAX_WALL_ATTENUATION,
    min_share: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate, per row, the attenuation of thin structure seen along the whole row.

    A container's two side walls (about 2.5 g/cm² of steel) are in every ray of the
    rows between roof and floor. In each row, the pixels with a small attenuation
    (``0.02 < α_H < max_wall_attenuation``) are the walls alone where the container
    is empty; their low percentile gives the walls' ``α_H`` and the matching ``α_L``.

    Parameters
    ----------
    attenuation_high, attenuation_low : numpy.ndarray
        ``α`` images (dimensionless), rows × columns.
    max_wall_attenuation : float
        Largest ``α_H`` taken for walls alone (dimensionless).
    min_share : float
        Fraction of a row's columns that must be wall-only for an estimate; other rows
        get 0.

    Returns
    -------
    background_high, background_low : numpy.ndarray of float64
        Per-row ``α`` to subtract.
    """
    high = np.asarray(attenuation_high, np.float64)
    low = np.asarray(attenuation_low, np.float64)
    candidate = (high > 0.02) & (high < max_wall_attenuation)
    background_high = np.zeros(high.shape[0])
    background_low = np.zeros(high.shape[0])
    enough = candidate.sum(axis=1) >= min_share * high.shape[1]
    for row in np.flatnonzero(enough):
        values = high[row, candidate[row]]
        level = np.percentile(values, 20.0)
        near = candidate[row] & (np.abs(high[row] - level) <= 0.1 * level + 0.005)
        if near.sum() >= 10:
            background_high[row] = np.median(high[row, near])
            background_low[row] = np.median(low[row, near])
    return background_high, background_low


def guided_smooth(
    backend: ArrayBackend,
    guide: Any,
    other: Any,
    noise_sigma: Any,
    *,
    radius: int,
    edge_sigmas: float,
    noise_sigma_other: Any = None,
) -> tuple[Any, Any, Any, Any]:
    """Edge-preserving smoothing of ``guide`` (self-guided) and ``other`` (guided by it).

    The full-resolution guided filter; :func:`discriminate` uses its binned form (window
    statistics on 2 × 2 bins), which gives the same result in flat areas at a quarter of
    the cost.

    Parameters
    ----------
    backend : ArrayBackend
        Array namespace of the inputs.
    guide, other : array
        ``α_H`` and ``α_L`` (dimensionless), rows × columns.
    noise_sigma : array
        Per-pixel noise std of ``guide`` (same units).
    radius : int
        Window half-width (pixels).
    edge_sigmas : float
        Regularisation ``ε = (edge_sigmas × σ)²``: variations below it are smoothed.
    noise_sigma_other : array, optional
        Per-pixel noise std of ``other``; when given, a fifth output marks the edges.

    Returns
    -------
    smoothed_guide, smoothed_other, weight_guide, weight_other : array
        The smoothed images and the local linear coefficients (``≈ 0`` in flat areas,
        ``≈ 1`` at edges), used to propagate the noise.

    Notes
    -----
    The guided filter's linear model ``q = a I + b`` is evaluated with each pixel's own
    window coefficients (without the second averaging of ``a`` and ``b``): four box
    filters instead of eight, the same edge behaviour.
    """
    box = lambda x: backend.box_mean(x, radius)  # noqa: E731
    # in-place updates where possible: full-size temporaries cost more than arithmetic
    mean_i = box(guide)
    variance = box(guide * guide)
    variance -= mean_i * mean_i
    denominator = noise_sigma * noise_sigma
    denominator *= edge_sigmas * edge_sigmas
    denominator += variance
    denominator += 1e-12
    weight = variance
    weight /= denominator
    detail = guide - mean_i
    smoothed = weight * detail
    smoothed += mean_i
    mean_p = box(other)
    weight_other = box(guide * other)
    weight_other -= mean_i * mean_p
    weight_other /= denominator
    smoothed_other = weight_other * detail
    smoothed_other += mean_p
    if noise_sigma_other is not None:
        # an edge: the local variance of either image is well above its noise
        variance_other = box(other * other)
        variance_other -= mean_p * mean_p
        threshold_other = noise_sigma_other * noise_sigma_other
        threshold_other *= _EDGE_VARIANCE_FACTOR * edge_sigmas * edge_sigmas
        edges = (weight > _EDGE_WEIGHT) | (variance_other > threshold_other)
        return smoothed, smoothed_other, weight, weight_other, edges
    return smoothed, smoothed_other, weight, weight_other


def _bin_view(backend: ArrayBackend, array: Any, factor: int) -> Any:
    """``rows × columns`` → ``(rows/f, f, columns/f, f)`` view (shape divisible by f)."""
    rows, columns = tuple(array.shape)
    return backend.xp.reshape(array, (rows // factor, factor, columns // factor, factor))


def _bin_sum(array: Any, factor: int) -> Any:
    """Sum over ``factor × factor`` bins (numpy arrays or tensors; shape divisible by f)."""
    # strided sums: much faster than a reduction over the inner axes of a 4-D view
    rows = array[0::factor]
    for offset in range(1, factor):
        rows = rows + array[offset::factor]
    binned = rows[:, 0::factor]
    for offset in range(1, factor):
        binned = binned + rows[:, offset::factor]
    return binned


def _bin_mean(backend: ArrayBackend, array: Any, factor: int) -> Any:
    """Mean over ``factor × factor`` bins."""
    if factor == 1:
        return array
    return _bin_sum(array, factor) * (1.0 / factor**2)


def _bin_count(mask: np.ndarray, factor: int) -> np.ndarray:
    """Number of true pixels in each ``factor × factor`` bin of a boolean mask (uint8 sums)."""
    return _bin_sum(np.ascontiguousarray(mask, dtype=bool).view(np.uint8), factor).astype(np.float32)


def _spread(backend: ArrayBackend, binned: Any) -> Any:
    """A binned array as ``(rows/f, 1, columns/f, 1)``: broadcasts over the bins' pixels."""
    return binned[:, None, :, None]


def _binned_guided(
    backend: ArrayBackend,
    alpha_high: Any,
    alpha_low: Any,
    pixel_variance_high: Any,
    pixel_variance_low: Any,
    *,
    factor: int,
    radius: int,
    edge_sigmas: float,
) -> dict[str, Any]:
    """Guided-filter coefficients and edges on ``factor × factor`` bins (fast guided filter).

    The window statistics are taken on the binned images (He & Sun, "Fast guided
    filter", arXiv 1505.00996, 2015): the coefficients ``a, b`` of ``q = a α_H + b``
    vary slowly, so they are computed on bins and applied to the full-resolution
    ``α_H``, which keeps the edges at the pixel. All inputs are binned already.

    Parameters
    ----------
    backend : ArrayBackend
        Array namespace of the inputs.
    alpha_high, alpha_low : array
        Bin means of ``α_H`` and ``α_L`` (dimensionless).
    pixel_variance_high, pixel_variance_low : array
        Noise variance of one pixel's ``α`` in each bin (dimensionless²).
    factor : int
        Bin side (pixels).
    radius : int
        Window half-width (bins).
    edge_sigmas : float
        Regularisation ``ε = (edge_sigmas × σ_bin)²``: variations below it are smoothed.

    Returns
    -------
    dict
        ``a_high, b_high, a_low, b_low`` (binned coefficients), ``edges`` (binned bool:
        the window straddles an edge of either energy), ``pixels`` (full-resolution
        pixels per window).
    """
    box = lambda x: backend.box_mean(x, radius)  # noqa: E731
    # the noise of a bin mean: the pixel variance over factor²
    bin_noise_high = pixel_variance_high * (1.0 / factor**2)
    bin_noise_low = pixel_variance_low * (1.0 / factor**2)
    mean_high = box(alpha_high)
    variance = box(alpha_high * alpha_high)
    variance -= mean_high * mean_high
    denominator = bin_noise_high * (edge_sigmas * edge_sigmas)
    denominator += variance
    denominator += 1e-12
    a_high = variance / denominator
    b_high = (1.0 - a_high) * mean_high
    mean_low = box(alpha_low)
    covariance = box(alpha_high * alpha_low)
    covariance -= mean_high * mean_low
    a_low = covariance / denominator
    b_low = mean_low - a_low * mean_high
    variance_low = box(alpha_low * alpha_low)
    variance_low -= mean_low * mean_low
    edges = (a_high > _EDGE_WEIGHT) | (variance_low > bin_noise_low * (_EDGE_VARIANCE_FACTOR * edge_sigmas * edge_sigmas))
    return {"a_high": a_high, "b_high": b_high, "a_low": a_low, "b_low": b_low, "edges": edges,
            "pixels": float((2 * radius + 1) ** 2 * factor**2)}


def _region_means(
    alpha_high: np.ndarray,
    alpha_low: np.ndarray,
    pixel_variance_high: np.ndarray,
    pixel_variance_low: np.ndarray,
    edges: np.ndarray,
    unusable: np.ndarray,
    *,
    factor: int,
    reach: int,
    min_region_px: int,
    assign_sigmas: float = 3.0,
    starved_share: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]] | None:
    """Homogeneous regions of the binned image, their means, and the edge bins they own.

    Regions are the connected (4-neighbour) areas free of edges; a region of at least
    ``min_region_px`` image pixels whose α_H varies by less than
    :data:`REGION_RELATIVE_SPREAD` of its mean beyond the noise is one material at one
    thickness (a block, a carton stack). Its statistics come from its edge-free bins
    only. Then each edge bin (the band of about ``reach`` bins along an edge, where the
    filter window straddles two regions) is given to the region it belongs to:

    * the neighbouring region (within ``reach`` bins) of higher or of lower mean α_H
      whose mean α_H and α_L the bin matches within ``assign_sigmas`` of its noise
      (+ 2 %), the closer one when both do;
    * otherwise, a bin next to a region (one bin away, growing bin by bin up to
      ``reach`` across a blurred edge) whose α_H lies below that region's and
      significantly above what is on the other side (the lower neighbouring region, or
      nothing in a valley between two cartons) is a partial-volume bin: it gets that
      region, the material it holds (its ratio ``α_L / α_H`` mixes two rays and
      means nothing).

    So an edge takes one of its two sides' materials, never a third.

    Parameters
    ----------
    alpha_high, alpha_low : numpy.ndarray
        Binned attenuations (dimensionless).
    pixel_variance_high, pixel_variance_low : numpy.ndarray
        Binned per-pixel noise variances of the attenuations.
    edges, unusable : numpy.ndarray of bool
        Binned edge mask, and bins with a starved or saturated pixel (never in a region).
    factor : int
        Bin size (image pixels per side).
    reach : int
        Half-width of the edge band (bins).
    min_region_px : int
        Smallest region (image pixels).
    assign_sigmas : float
        Tolerance of the edge-bin match (noise standard deviations).
    starved_share : numpy.ndarray, optional
        Share of photon-starved pixels around each bin (0–1).

    Returns
    -------
    (mean_high, mean_low, scale, in_region, starved, owner) or None
        Per bin: the region's mean α_H and α_L (NaN outside regions), ``1 / pixels`` of
        the region, the mask of bins read from a region, whether the region is
        photon-starved in a third of its pixels or more (impenetrable as a whole: where
        the noise-free transmission is at the floor, half the pixels read starved), and
        the regions (1, 2, …; 0 none) as ``(owner, core)``: the region each bin is read
        from, and the edge-free bins each region's statistics come from; None when no
        region qualifies.
    """
    from scipy import ndimage

    labels, count = ndimage.label(~(edges | unusable))
    count += 1  # label 0: edges
    flat = labels.ravel()
    bins = np.bincount(flat, minlength=count).astype(np.float64)
    sums = [np.bincount(flat, weights=np.ravel(v).astype(np.float64), minlength=count)
            for v in (alpha_high, alpha_low, alpha_high * alpha_high, pixel_variance_high)]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_high, mean_low, mean_square, mean_noise = (v / bins for v in sums)
        excess = mean_square - mean_high**2 - mean_noise / factor**2
        homogeneous = (
            (bins * factor**2 >= min_region_px)
            & (bins >= 4)
            & (excess <= (REGION_RELATIVE_SPREAD * mean_high) ** 2)
            & np.isfinite(mean_high)
            & np.isfinite(mean_low)
        )
        scale = 1.0 / (bins * factor**2)
    homogeneous[0] = False
    if not homogeneous.any():
        return None
    # the regions ranked by mean α_H (0: no region); bins are owned by rank from here on
    chosen = np.flatnonzero(homogeneous)
    order = chosen[np.argsort(mean_high[chosen], kind="stable")]
    rank_of_label = np.zeros(count, np.int32)
    rank_of_label[order] = np.arange(1, order.size + 1, dtype=np.int32)
    owner = rank_of_label[labels]
    core = owner.copy()  # the edge-free bins: the region's statistics come from these only
    by_rank = lambda values: np.concatenate([[np.nan], values[order]])  # noqa: E731
    rank_high, rank_low, rank_scale = by_rank(mean_high), by_rank(mean_low), by_rank(scale)
    # edge bins: the highest- and lowest-ranked regions within reach
    size = 2 * reach + 1
    higher_rank = ndimage.maximum_filter(owner, size=size, mode="nearest")
    lower_rank = ndimage.minimum_filter(np.where(owner > 0, owner, np.int32(order.size + 1)), size=size, mode="nearest")
    flat_owner = owner.reshape(-1)
    where = np.flatnonzero((owner == 0) & ~unusable & (higher_rank > 0))
    if where.size:
        high = higher_rank.reshape(-1)[where]
        low = lower_rank.reshape(-1)[where]
        low = np.where(low <= order.size, low, 0)
        value_high = alpha_high.reshape(-1)[where].astype(np.float64)
        value_low = alpha_low.reshape(-1)[where].astype(np.float64)
        noise_high = np.sqrt(pixel_variance_high.reshape(-1)[where] / factor**2)
        noise_low = np.sqrt(pixel_variance_low.reshape(-1)[where] / factor**2)

        def mismatch(candidate: np.ndarray) -> np.ndarray:
            tolerance_high = assign_sigmas * noise_high + 0.02 * np.abs(rank_high[candidate])
            tolerance_low = assign_sigmas * noise_low + 0.02 * np.abs(rank_low[candidate])
            distance = np.maximum(np.abs(value_high - rank_high[candidate]) / tolerance_high,
                                  np.abs(value_low - rank_low[candidate]) / tolerance_low)
            return np.where(candidate > 0, distance, np.inf)

        miss_high, miss_low = mismatch(high), mismatch(low)
        assigned = np.where((miss_high <= 1.0) & (miss_high <= miss_low), high, np.where(miss_low <= 1.0, low, 0))
        flat_owner[where] = assigned
        # partial volume: a bin of the edge band whose α_H lies below the region next to it
        # (as grown) and significantly above what is on the other side (the lower region
        # when that is lower still, else nothing: a valley between two cartons) holds
        # that region's material, its ratio mixing two rays; grown bin by bin
        low_high = rank_high[low]
        floor = np.where((low > 0) & (low != high) & (low_high < value_high), low_high, 0.0)
        for _ in range(reach):
            open_bins = assigned == 0
            if not open_bins.any():
                break
            adjacent = ndimage.maximum_filter(owner, size=3, mode="nearest").reshape(-1)[where]
            top = rank_high[adjacent]
            grow = open_bins & (adjacent > 0) & (value_high < top) \
                & (value_high > floor + np.maximum(assign_sigmas * noise_high, 0.05 * (top - floor)))
            if not grow.any():
                break
            assigned = np.where(grow, adjacent, assigned)
            flat_owner[where] = assigned
    in_region = owner > 0
    as32 = lambda values: values.astype(np.float32)[owner]  # noqa: E731
    starved = np.zeros(order.size + 1, bool)
    if starved_share is not None:
        owned = np.bincount(flat_owner, minlength=order.size + 1)
        share = np.bincount(flat_owner, weights=np.ravel(starved_share).astype(np.float64), minlength=order.size + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            starved = share / owned >= 1.0 / 3.0
        starved[0] = False
    return as32(rank_high), as32(rank_low), as32(rank_scale), in_region, starved[owner], (owner, core)


@dataclass
class RegionReading:
    """Regions of a scan and their estimates, on the binned grid.

    Attributes
    ----------
    owner : numpy.ndarray of int32
        Region (1, 2, …; 0 none) of each bin (padded binned grid).
    estimates : RegionEstimates
        One estimate per region (index ``owner − 1``).
    """

    owner: np.ndarray
    estimates: Any


def _region_settings() -> dict[str, Any]:
    from nii.resources import read_catalogue, seed_path

    return read_catalogue(seed_path("calibration.toml"), "calibration defaults file")["region_estimate"]


def _estimate_regions(backend: ArrayBackend, estimator: Any, image: Any, owner: tuple[np.ndarray, np.ndarray], factor: int,
                      pad_rows: int, pad_columns: int, *, confidence_sigmas: float,
                      impenetrable_snr: float, reading: str = "lower", dark_sigmas: float = 2.0) -> RegionReading:
    """Maximum-likelihood ``(λ, Z)`` of each region from its mean unclipped transmissions.

    The variance of a region's mean is the noise model of the scan's references
    (``var_T = constant + shot·T + multiplicative·T²`` per pixel, per row) at the mean,
    or the spread of the region's own bin means where that is larger (scatter noise,
    correlated pixels, texture), over the region's pixel count.
    """
    owner_bins, core = owner
    count = int(owner_bins.max()) + 1
    labels = core.reshape(-1)
    pixels = np.bincount(labels, minlength=count).astype(np.float64) * factor**2
    means, variances = [], []
    for transmission, noise in ((image.transmission_high, image.noise_high), (image.transmission_low, image.noise_low)):
        values = backend.asarray(np.asarray(transmission, np.float32))
        if pad_rows or pad_columns:
            values = backend.pad_edge(values, pad_rows, pad_columns)
        binned = backend.to_numpy(_bin_mean(backend, values, factor)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            bins = pixels / factor**2
            mean = np.bincount(labels, weights=binned.reshape(-1), minlength=count) / bins
            mean_square = np.bincount(labels, weights=(binned * binned).reshape(-1), minlength=count) / bins
            # the spread of the bin means, as a pixel variance (f² × var of a bin mean): it
            # holds the correlation of neighbouring pixels that a per-pixel model misses
            spread = np.maximum(mean_square - mean**2, 0.0) * bins / np.maximum(bins - 1, 1) * factor**2
        if noise is not None:
            # the scan's noise model at the region's mean (its per-row terms vary little; a
            # noisier channel shows in the region's own spread)
            level = np.clip(mean, 0.0, None)
            pixel_variance = (float(np.median(np.asarray(noise["constant"]))) + float(np.median(np.asarray(noise["shot"])))
                              * level + float(noise["multiplicative"]) * level**2)
        else:  # no noise model (a hand-made image): the per-pixel noise of α times T
            sigma = image.sigma_high if transmission is image.transmission_high else image.sigma_low
            s2 = np.asarray(sigma, np.float64) ** 2 * np.clip(np.asarray(transmission, np.float64), 1e-6, None) ** 2
            s2 = np.pad(s2, ((0, pad_rows), (0, pad_columns)), mode="edge")
            binned_s2 = s2.reshape(s2.shape[0] // factor, factor, s2.shape[1] // factor, factor).mean(axis=(1, 3))
            with np.errstate(divide="ignore", invalid="ignore"):
                pixel_variance = np.bincount(labels, weights=binned_s2.reshape(-1), minlength=count) / np.maximum(
                    pixels / factor**2, 1)
        # the noise model, or the region's own spread where larger
        means.append(mean[1:])
        variances.append(np.maximum(np.maximum(pixel_variance, spread)[1:], 1e-30) / pixels[1:])
    estimates = estimator.estimate(means[0], means[1], variances[0], variances[1],
                                   confidence_sigmas=confidence_sigmas, impenetrable_snr=impenetrable_snr,
                                   reading=reading, dark_sigmas=dark_sigmas)
    return RegionReading(owner=owner_bins, estimates=estimates)  # bins read from each region


def _pixel_reading(backend: ArrayBackend, table: Any, smooth_high: Any, smooth_low: Any, impenetrable: Any,
                   saturated: Any, *, alpha_high_min: float, min_areal_density_g_cm2: float) -> tuple[Any, ...]:
    """Class, Z, mass thickness and ambiguity of pixels read one by one on the table.

    Returns
    -------
    codes, zeff, areal, ambiguous, undefined : arrays of the inputs' shape
    """
    xp = backend.xp
    ratio = smooth_low / xp.clip(smooth_high, 1e-6, None)
    zeff, kappa, codes, ambiguous = _lookup(backend, table, smooth_high, ratio)
    del ratio
    areal = smooth_high / kappa
    too_thin = (smooth_high < alpha_high_min) | (areal < min_areal_density_g_cm2) | saturated
    codes = xp.where(too_thin, xp.zeros_like(codes), codes)
    codes = xp.where(impenetrable, xp.full_like(codes, IMPENETRABLE), codes)
    undefined = too_thin | impenetrable
    zeff = xp.where(undefined, xp.full_like(zeff, float("nan")), zeff)
    return codes, zeff, areal, ambiguous, undefined


def _spread_bins(binned: np.ndarray, factor: int) -> np.ndarray:
    """A binned array at full resolution (each bin's value over its ``factor × factor`` pixels)."""
    rows, columns = binned.shape
    out = np.empty((rows, factor, columns, factor), binned.dtype)
    for i in range(factor):
        for j in range(factor):
            out[:, i, :, j] = binned
    return out.reshape(rows * factor, columns * factor)


def _region_and_pixel_reading(backend: ArrayBackend, table: Any, regions: RegionReading, smooth_high: np.ndarray,
                              smooth_low: np.ndarray, impenetrable: np.ndarray, saturated: np.ndarray,
                              zeff_sigma_bin: np.ndarray, factor: int, *, alpha_high_min: float,
                              min_areal_density_g_cm2: float) -> tuple[np.ndarray, ...]:
    """The map on the host, padded to whole bins: region bins take their region's estimate
    (class, Z, σ_Z, ρt, ambiguity), the other pixels their own reading on the table.

    Returns
    -------
    codes, zeff, zeff_sigma, areal, ambiguous : numpy.ndarray, full (padded) resolution
    """
    estimates = regions.estimates
    codes_r = estimates.classes
    areal_r = estimates.areal_density_g_cm2
    thin = (areal_r < min_areal_density_g_cm2) & ~estimates.impenetrable
    codes_r = np.where(thin, np.uint8(0), codes_r).astype(np.uint8)
    undefined_r = (codes_r == 0) | (codes_r == IMPENETRABLE)
    owner = regions.owner
    inside = owner > 0
    index = np.maximum(owner - 1, 0)
    nan = np.float32(np.nan)
    binned = {
        "codes": np.where(inside, codes_r[index], np.uint8(0)).astype(np.uint8),
        "zeff": np.where(inside, np.where(undefined_r, nan, estimates.zeff.astype(np.float32))[index], nan),
        "sigma": np.where(inside, np.where(undefined_r, nan, estimates.zeff_sigma.astype(np.float32))[index],
                          np.asarray(zeff_sigma_bin, np.float32)),
        "areal": np.where(inside, areal_r.astype(np.float32)[index], nan),
        "ambiguous": np.where(inside, (estimates.ambiguous & ~undefined_r)[index], False),
    }
    full = {name: _spread_bins(np.ascontiguousarray(values), factor) for name, values in binned.items()}
    outside = np.flatnonzero(_spread_bins(~inside, factor))
    if outside.size:
        pick = lambda a: np.ascontiguousarray(a).reshape(-1)[outside]  # noqa: E731
        codes, zeff, areal, ambiguous, undefined = _pixel_reading(
            get_backend("numpy"), table, pick(smooth_high).astype(np.float32), pick(smooth_low).astype(np.float32),
            pick(impenetrable), pick(saturated), alpha_high_min=alpha_high_min,
            min_areal_density_g_cm2=min_areal_density_g_cm2)
        for name, values in (("codes", codes), ("zeff", zeff), ("areal", areal), ("ambiguous", ambiguous & ~undefined)):
            full[name].reshape(-1)[outside] = values
        sigma = full["sigma"].reshape(-1)
        sigma[outside] = np.where(undefined, nan, sigma[outside])
    return full["codes"], full["zeff"], full["sigma"], full["areal"], full["ambiguous"]


def _starvation_majority(starved: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Photon starvation decided with the share of starved pixels in a 3 × 3-bin window.

    A pixel whose true transmission is near the starvation floor is flagged starved or
    not by its noise. Where most of the window is starved, every pixel is impenetrable;
    where a third to a half is, the starved pixels are; below a third, isolated
    starved pixels are noise and are read as material (an object two bins across that
    starves the beam stays impenetrable; a block just above the floor is read whole).

    Parameters
    ----------
    starved : numpy.ndarray of bool
        Per-pixel starvation mask (either energy), shape divisible by ``factor``.
    factor : int
        Bin side (pixels).

    Returns
    -------
    share : numpy.ndarray of float32
        Share of starved pixels in each bin's window.
    full : numpy.ndarray of bool
        The per-pixel decision.
    """
    from scipy.ndimage import uniform_filter

    share = uniform_filter(_bin_count(starved, factor) * np.float32(1.0 / factor**2), size=3, mode="nearest")
    rows, columns = share.shape
    spread = lambda binned: np.broadcast_to(  # noqa: E731
        binned[:, None, :, None], (rows, factor, columns, factor)).reshape(rows * factor, columns * factor)
    full = spread(share > 0.5) | (starved & spread(share >= 1.0 / 3.0))
    return share, full


def _table_index(backend: ArrayBackend, table: Any, attenuation_high: Any, ratio: Any) -> Any:
    """Flat index of the nearest ``(α_H, R)`` node of the calibration table."""
    xp = backend.xp
    alpha_nodes, ratio_nodes = table.shape
    # int32 indices: the table has ~1.3 M nodes, and half the memory traffic of int64
    alpha_index = xp.astype(xp.clip(attenuation_high * (1.0 / table.alpha_step) + 0.5, 0.0, alpha_nodes - 1.0), xp.int32)
    ratio_index = xp.astype(xp.clip((ratio - table.ratio_start) * (1.0 / table.ratio_step) + 0.5, 0.0, ratio_nodes - 1.0),
                            xp.int32)
    index = alpha_index * ratio_nodes
    index += ratio_index
    return xp.reshape(index, (-1,))


def _lookup(backend: ArrayBackend, table: Any, attenuation_high: Any, ratio: Any) -> tuple[Any, Any, Any, Any]:
    """Look up ``(α_H, R)`` in the calibration table: Z, κ, class code and ambiguity.

    The nearest node is read (one gather per pixel): the table is fine enough (∆R ≈
    0.0005) that this costs less than the calibration's accuracy, and Z is never
    interpolated across the jumps of a degenerate region.
    """
    xp = backend.xp
    shape = tuple(ratio.shape)
    values = xp.reshape(backend.take(backend.asarray(table.packed), _table_index(backend, table, attenuation_high, ratio), 0),
                        shape + (4,))
    codes = xp.astype(values[..., 2], xp.uint8)
    return values[..., 0], values[..., 1], codes, values[..., 3] > 0.5


def _lookup_slope(backend: ArrayBackend, table: Any, attenuation_high: Any, ratio: Any) -> Any:
    """``|∂Z/∂R|`` at the nearest ``(α_H, R)`` node (for the noise propagation)."""
    xp = backend.xp
    slope = backend.take(backend.asarray(table.zeff_per_ratio.reshape(-1)),
                         _table_index(backend, table, attenuation_high, ratio), 0)
    return xp.reshape(slope, tuple(ratio.shape))


def discriminate(
    image: Any,
    calibration: Any,
    *,
    backend: str | ArrayBackend = "numpy",
    device: str | None = None,
    alpha_high_min: float = DEFAULT_ALPHA_HIGH_MIN,
    min_areal_density_g_cm2: float = DEFAULT_MIN_AREAL_DENSITY_G_CM2,
    smoothing_radius_px: int = DEFAULT_SMOOTHING_RADIUS_PX,
    edge_sigmas: float = DEFAULT_EDGE_SIGMAS,
    min_region_px: int = DEFAULT_MIN_REGION_PX,
    subtract_walls: bool = False,
    degenerate_reading: str = "lower",
    bin_px: int = DEFAULT_BIN_PX,
    confidence_sigmas: float | None = None,
    impenetrable_snr: float | None = None,
    dark_sigmas: float | None = None,
) -> MaterialMap:
    """Return the material map of a corrected dual-energy image.

    Parameters
    ----------
    image : AnalysedImage
        Output of :func:`nii.correction.correct` (α per energy, noise, masks).
    calibration : Calibration
        Curves of known materials for the same energies (:mod:`nii.calibration`).
    backend : {"numpy", "torch"} or ArrayBackend
        Array library of the per-pixel arithmetic.
    device : str, optional
        ``"cpu"`` or ``"cuda"`` (torch).
    alpha_high_min : float
        Smoothed ``α_H`` below which the class is ``none`` (dimensionless).
    min_areal_density_g_cm2 : float
        Estimated mass thickness (g/cm²) below which the class is ``none``.
    smoothing_radius_px : int
        Guided-filter window half-width (pixels); 0 disables smoothing.
    edge_sigmas : float
        Guided-filter regularisation, in pixel-noise standard deviations.
    min_region_px : int
        Homogeneous edge-free regions of at least this many pixels are estimated from
        their mean attenuations (one material per block); 0 disables it.
    subtract_walls : bool
        Subtract the attenuation of thin structure present along whole rows (the side
        walls of a container, :func:`wall_background`) before the lookup. Off by
        default: a row filled end to end with light cargo would lose that cargo.
    degenerate_reading : {"lower", "higher"}
        Where two materials give the same attenuation pair (``ambiguous``), report the
        lower-Z or the higher-Z one (:meth:`Calibration.table`).
    bin_px : int
        The guided filter's window statistics, the regions and the uncertainty are
        computed on ``bin_px × bin_px`` bins (pixels, 1–8); the smoothed attenuations, Z and
        class stay at full resolution. 1 computes everything per pixel.
    confidence_sigmas : float, optional
        Classes with ``Δχ² ≤ k²`` of a region's likelihood are consistent with it (its
        ``ambiguous`` flag and ``consistent_classes``); default ``seeds/calibration.toml``.
    impenetrable_snr : float, optional
        A region allowing three classes or more is impenetrable when its worse-measured
        mean transmission's signal-to-noise ratio is below this; default from the seeds.
    dark_sigmas : float, optional
        A region whose mean at one energy is within this many standard deviations of the
        calibration's scatter floor is impenetrable; default from the seeds.

    Returns
    -------
    MaterialMap

    Raises
    ------
    AnalysisError
        Arrays of inconsistent shapes.
    CalibrationError
        The calibration is for other energies than the image.

    Examples
    --------
    >>> material_map = discriminate(correct(scan), calibration_from_physics(scan.header))  # doctest: +SKIP
    """
    array_backend = get_backend(backend, device)
    xp = array_backend.xp
    shape = np.shape(image.attenuation_high)
    if len(shape) != 2 or np.shape(image.attenuation_low) != shape:
        raise AnalysisError(
            f"attenuation images must be two rows × columns arrays of one shape, got {shape} and {np.shape(image.attenuation_low)}"
        )
    if np.shape(image.channel) != (shape[0],) or np.shape(image.position_mm) != (shape[1],):
        raise AnalysisError(f"channel/position_mm do not match the {shape[0]} × {shape[1]} image")
    energies = list(getattr(image, "energies_mev", []) or [])[:2]
    if len(energies) == 2 and not np.allclose(energies, calibration.energies_mev[:2], rtol=0, atol=1e-6):
        raise CalibrationError(
            f"calibration is for {'/'.join(f'{e:g}' for e in calibration.energies_mev[:2])} MeV but scan "
            f"{getattr(image, 'scan_id', '')!r} was taken at {'/'.join(f'{e:g}' for e in energies)} MeV"
        )
    table = calibration.table(degenerate_reading)
    estimator = calibration.estimator() if hasattr(calibration, "estimator") and min_region_px > 0 else None
    settings = _region_settings()
    confidence_sigmas = float(settings["confidence_sigmas"] if confidence_sigmas is None else confidence_sigmas)
    impenetrable_snr = float(settings["impenetrable_snr"] if impenetrable_snr is None else impenetrable_snr)
    dark_sigmas = float(settings["dark_sigmas"] if dark_sigmas is None else dark_sigmas)
    regions: RegionReading | None = None
    alpha_high = array_backend.asarray(np.asarray(image.attenuation_high, np.float32))
    alpha_low = array_backend.asarray(np.asarray(image.attenuation_low, np.float32))
    background = None
    if subtract_walls:
        background = wall_background(image.attenuation_high, image.attenuation_low)
        alpha_high = alpha_high - array_backend.asarray(background[0][:, None].astype(np.float32))
        alpha_low = alpha_low - array_backend.asarray(background[1][:, None].astype(np.float32))
    sigma_high = array_backend.asarray(np.asarray(image.sigma_high, np.float32))
    sigma_low = array_backend.asarray(np.asarray(image.sigma_low, np.float32))

    radius = int(smoothing_radius_px)
    factor = min(max(int(bin_px), 1), 8) if radius > 0 else 1
    rows, columns = shape
    pad_rows, pad_columns = (-rows) % factor, (-columns) % factor
    starved = np.asarray(image.starved_high if image.starved_high is not None else image.starved, bool)
    if image.starved_low is not None:
        starved = starved | np.asarray(image.starved_low, bool)
    saturated_host = np.asarray(image.saturated, bool)
    if pad_rows or pad_columns:  # whole bins: replicate the last row / column
        alpha_high, alpha_low, sigma_high, sigma_low = (
            array_backend.pad_edge(a, pad_rows, pad_columns) for a in (alpha_high, alpha_low, sigma_high, sigma_low))
    starved_host = np.pad(starved, ((0, pad_rows), (0, pad_columns)), mode="edge")
    saturated_host = np.pad(saturated_host, ((0, pad_rows), (0, pad_columns)), mode="edge")
    impenetrable_host = starved_host

    if radius > 0:
        binned_radius = max(1, int(round(radius / factor)))
        starved_share, impenetrable_host = _starvation_majority(starved_host, factor)
        binned_high = _bin_mean(array_backend, alpha_high, factor)
        binned_low = _bin_mean(array_backend, alpha_low, factor)
        binned_sigma_high = _bin_mean(array_backend, sigma_high, factor)
        binned_sigma_low = _bin_mean(array_backend, sigma_low, factor)
        variance_high = binned_sigma_high * binned_sigma_high  # per-pixel noise variance, per bin
        variance_low = binned_sigma_low * binned_sigma_low
        guided = _binned_guided(array_backend, binned_high, binned_low, variance_high, variance_low,
                                factor=factor, radius=binned_radius, edge_sigmas=edge_sigmas)
        a_high, a_low, b_high, b_low = guided["a_high"], guided["a_low"], guided["b_high"], guided["b_low"]
        inverse_window = 1.0 / guided["pixels"]
        # var(q_H) ≈ σ_H² (a² + (1 − a²)/n);  var(q_L) ≈ σ_L²/n + a_L² σ_H²  (per bin)
        noise_high2 = a_high * a_high
        noise_high2 = (noise_high2 * (1.0 - inverse_window) + inverse_window) * variance_high
        noise_low2 = a_low * a_low * variance_high + variance_low * inverse_window
        if min_region_px > 0:
            host = array_backend.to_numpy
            # saturated bins make no region. Without a scanner model, mostly starved bins
            # make none either (a region near the starvation floor is impenetrable as a
            # whole or not at all); with one, a region's unclipped mean decides
            unusable_binned = _bin_count(saturated_host, factor) > 0
            if estimator is None:
                unusable_binned |= starved_share > 0.5
            merged = _region_means(host(binned_high), host(binned_low), host(variance_high), host(variance_low),
                                   host(guided["edges"]), unusable_binned, factor=factor, reach=binned_radius + 3,
                                   min_region_px=min_region_px, starved_share=starved_share)
            if merged is not None:
                region_high, region_low, region_scale, region_mask, region_starved, region_owner = merged
                if estimator is not None:
                    regions = _estimate_regions(array_backend, estimator, image, region_owner, factor,
                                                pad_rows, pad_columns, confidence_sigmas=confidence_sigmas,
                                                impenetrable_snr=impenetrable_snr, reading=degenerate_reading,
                                                dark_sigmas=dark_sigmas)
                    region_starved = np.concatenate([[False], regions.estimates.impenetrable])[regions.owner] & region_mask
                rows_binned, columns_binned = region_mask.shape
                impenetrable_host = np.where(region_mask[:, None, :, None], region_starved[:, None, :, None],
                                             impenetrable_host.reshape(rows_binned, factor, columns_binned, factor)
                                             ).reshape(impenetrable_host.shape)
                in_region = array_backend.asarray(region_mask)
                # a region's pixels read its mean (q = 0 · α_H + mean), whose noise is the
                # pixel noise over the region's pixel count
                region_scale = array_backend.asarray(region_scale)
                zero = xp.zeros_like(a_high)
                a_high = xp.where(in_region, zero, a_high)
                a_low = xp.where(in_region, zero, a_low)
                b_high = xp.where(in_region, array_backend.asarray(region_high), b_high)
                b_low = xp.where(in_region, array_backend.asarray(region_low), b_low)
                noise_high2 = xp.where(in_region, variance_high * region_scale, noise_high2)
                noise_low2 = xp.where(in_region, variance_low * region_scale, noise_low2)
        # q = a α_H + b at full resolution, the coefficients broadcast over each bin
        view_high = _bin_view(array_backend, alpha_high, factor)
        smooth_high = view_high * _spread(array_backend, a_high)
        smooth_high += _spread(array_backend, b_high)
        smooth_high = xp.reshape(smooth_high, alpha_high.shape)
        smooth_low = view_high * _spread(array_backend, a_low)
        smooth_low += _spread(array_backend, b_low)
        smooth_low = xp.reshape(smooth_low, alpha_high.shape)
        # the uncertainty per bin, from the bin means of the smoothed values (q is linear in α_H)
        bin_high = a_high * binned_high + b_high
        bin_low = a_low * binned_high + b_low
    else:
        smooth_high, smooth_low = alpha_high, alpha_low
        noise_high2 = sigma_high * sigma_high
        noise_low2 = sigma_low * sigma_low
        bin_high, bin_low = smooth_high, smooth_low

    # σ_R = sqrt(σ_L² + R² σ_H²) / α_H,  σ_Z = |∂Z/∂R| σ_R  (per bin, spread over its pixels)
    bin_positive = xp.clip(bin_high, 1e-6, None)
    bin_ratio = bin_low / bin_positive
    slope = _lookup_slope(array_backend, table, bin_high, bin_ratio)
    zeff_sigma_bin = xp.sqrt(bin_ratio * bin_ratio * noise_high2 + noise_low2) / bin_positive * slope
    impenetrable = array_backend.asarray(impenetrable_host)
    saturated = array_backend.asarray(saturated_host)
    host = array_backend.to_numpy
    if regions is None:
        codes, zeff, areal, ambiguous, undefined = _pixel_reading(
            array_backend, table, smooth_high, smooth_low, impenetrable, saturated,
            alpha_high_min=alpha_high_min, min_areal_density_g_cm2=min_areal_density_g_cm2)
        nan = float("nan")
        # σ_Z per bin, spread over the bins' pixels in the same pass
        zeff_sigma = xp.reshape(xp.where(_bin_view(array_backend, undefined, factor), nan,
                                         _spread(array_backend, zeff_sigma_bin)), tuple(undefined.shape))
        codes_h, zeff_h, sigma_h, areal_h, ambiguous_h = (np.ascontiguousarray(host(a)) for a in (
            codes, zeff, zeff_sigma, areal, ambiguous & ~undefined))
    else:
        # 95 % of a cargo scan's pixels lie in regions: they take their region's estimate,
        # bin by bin; only the others are read pixel by pixel on the table
        codes_h, zeff_h, sigma_h, areal_h, ambiguous_h = _region_and_pixel_reading(
            array_backend, table, regions, host(smooth_high), host(smooth_low), impenetrable_host, saturated_host,
            host(zeff_sigma_bin), factor, alpha_high_min=alpha_high_min,
            min_areal_density_g_cm2=min_areal_density_g_cm2)
    if pad_rows or pad_columns:
        crop = lambda a: a[:rows, :columns]  # noqa: E731
        codes_h, zeff_h, sigma_h, areal_h, ambiguous_h, smooth_high, smooth_low = (
            crop(a) for a in (codes_h, zeff_h, sigma_h, areal_h, ambiguous_h, smooth_high, smooth_low))

    provenance = {
        "calibration": calibration.identifier,
        "calibration_source": calibration.source,
        "software": f"nii {__version__}",
        "backend": array_backend.name,
        "device": array_backend.device,
        "alpha_high_min": float(alpha_high_min),
        "min_areal_density_g_cm2": float(min_areal_density_g_cm2),
        "smoothing_radius_px": radius,
        "edge_sigmas": float(edge_sigmas),
        "min_region_px": int(min_region_px),
        "bin_px": int(factor),
        "subtract_walls": bool(subtract_walls),
        "degenerate_reading": degenerate_reading,
        "scan_id": getattr(image, "scan_id", ""),
    }
    if regions is not None:
        provenance["regions"] = int(regions.estimates.zeff.size)
        provenance["confidence_sigmas"] = confidence_sigmas
        provenance["impenetrable_snr"] = impenetrable_snr
        provenance["dark_sigmas"] = dark_sigmas
    as32 = lambda a: np.ascontiguousarray(host(a), dtype=np.float32)  # noqa: E731
    return MaterialMap(
        classes=np.asarray(codes_h).astype(np.uint8, copy=False),
        zeff=as32(zeff_h),
        zeff_sigma=as32(sigma_h),
        areal_density_g_cm2=as32(areal_h),
        ambiguous=np.ascontiguousarray(ambiguous_h, dtype=bool),
        region_estimates=None if regions is None else regions.estimates,
        region_bins=None if regions is None else regions.owner,
        bin_px=int(factor),
        attenuation_high=as32(smooth_high),
        attenuation_low=as32(smooth_low),
        position_mm=np.asarray(image.position_mm, np.float64),
        channel=np.asarray(image.channel, np.int32),
        provenance=provenance,
    )
