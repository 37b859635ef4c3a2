"""Material discrimination: effective Z, class, uncertainty and mass thickness per pixel.

:func:`discriminate` maps an :class:`~nii.correction.AnalysedImage` through a
:class:`~nii.calibration.Calibration`:

1. **Region-aware smoothing.** ``α_H`` and ``α_L`` are smoothed with a guided filter
   (He, Sun & Tang, "Guided image filtering", IEEE TPAMI 35, 1397, 2013) guided by
   ``α_H``, with the regularisation tied to the pixel noise (``ε = (k σ_H)²``): inside a
   homogeneous block the window mean is taken (noise down by the window size), across
   an edge whose contrast is well above the noise the local linear model keeps the edge.
   Edges do not mix materials. Then each connected edge-free region that is
   homogeneous (α_H spread within noise + 5 %) and large enough is read from its mean
   attenuations, so that a block comes out as one material.
2. **Lookup.** ``R = α_L / α_H`` and ``α_H`` index the calibration's table
   ``(α_H, R) → Z_eff`` (bilinear), which also gives ``|∂Z/∂R|``, the fitted material's
   mass attenuation ``κ = α_H / ρt`` and whether the point is degenerate (two classes
   give the same pair of attenuations).
3. **Classes.** ``impenetrable`` where either energy is photon-starved; ``none``
   where the estimated mass thickness is below ``min_areal_density_g_cm2`` (default
   7 g/cm², about α_H ≈ 0.2: below it the smoothed ratio's noise and the thin-absorber
   degeneracy of heavy elements make Z meaningless), where ``α_H < 0.1`` or the
   detector saturated; otherwise the contract's Z bands (:mod:`nii.classes`).
4. **Uncertainty** ``σ_Z = |∂Z/∂R| σ_R`` with ``σ_R² = (σ_L² + R² σ_H²) / α_H²`` from
   the smoothed noise, and **mass thickness** ``ρt = α_H / κ`` (g/cm²).

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
from nii.classes import HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC, ZEFF_BANDS
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
]

#: Smallest smoothed α_H whose material is told (dimensionless), whatever the mass:
#: below it the ratio is mostly noise (σ_R ≈ √2 σ_α / α_H).
DEFAULT_ALPHA_HIGH_MIN = 0.1
#: Smallest estimated mass thickness (g/cm²) whose material is told: about where a
#: 6/3 MeV system starts telling materials apart (α_H ≈ 0.2 at μ/ρ ≈ 0.03 cm²/g); the
#: ground truth of :mod:`nii.simulate` uses the same figure. Thinner sheets are ``none``
#: even when (like 3 g/cm² of lead) their ratio is distinctive.
DEFAULT_MIN_AREAL_DENSITY_G_CM2 = 7.0
#: Half-width of the guided filter window (pixels): 7 × 7 windows, noise down ~7×.
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
#: Row and column step of the pixels whose values make a region's statistics.
_REGION_STRIDE = 2
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


def _merge_regions(
    backend: ArrayBackend,
    alpha_high: Any,
    alpha_low: Any,
    noise_variance: Any,
    edges: Any,
    *,
    min_region_px: int,
) -> tuple[Any, Any, Any, Any] | None:
    """Replace the pixels of homogeneous regions by the region means.

    Regions are the connected (4-neighbour) areas free of edges; a region of at least
    ``min_region_px`` pixels whose α_H varies by less than
    :data:`REGION_RELATIVE_SPREAD` of its mean beyond the noise is homogeneous: one
    material at one thickness (a block, a carton stack). Its mean α_H and α_L replace
    the pixel values, and the noise variances shrink with the pixel count.

    Parameters
    ----------
    alpha_high, alpha_low : array
        Unsmoothed attenuations (dimensionless).
    noise_variance : array
        Per-pixel noise variance of ``alpha_high``.
    edges : array of bool
        Pixels that belong to no region.
    min_region_px : int
        Smallest region (pixels).

    Returns
    -------
    (alpha_high, alpha_low, noise_scale, in_region) or None
        Region means broadcast to the pixels (NaN outside merged regions), the factor
        ``1 / pixels`` of each pixel's region, and the mask of merged pixels; None when
        no region qualifies.
    """
    from scipy import ndimage

    xp = backend.xp
    host_edges = np.asarray(backend.to_numpy(edges), bool)
    labels_host, count = ndimage.label(~host_edges)
    count += 1  # label 0: edges
    labels = labels_host if backend.name == "numpy" else backend.asarray(labels_host.astype(np.int64), backend.int_dtype)
    pixels = np.bincount(labels_host.reshape(-1), minlength=count)
    # the statistics of a region from every other row and column: a quarter of the work,
    # and still hundreds of pixels for any region worth merging
    sampled = labels[::_REGION_STRIDE, ::_REGION_STRIDE]
    sampled_pixels = backend.to_numpy(backend.segment_sums(sampled, None, count))
    high = alpha_high[::_REGION_STRIDE, ::_REGION_STRIDE]
    sums = [backend.to_numpy(backend.segment_sums(sampled, values, count))
            for values in (high, alpha_low[::_REGION_STRIDE, ::_REGION_STRIDE], high * high,
                           noise_variance[::_REGION_STRIDE, ::_REGION_STRIDE])]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_high, mean_low, mean_square, mean_noise = (v / sampled_pixels for v in sums)
        excess = mean_square - mean_high**2 - mean_noise
        homogeneous = (
            (pixels >= min_region_px)
            & (sampled_pixels >= 4)
            & (excess <= (REGION_RELATIVE_SPREAD * mean_high) ** 2)
            & np.isfinite(mean_high)
            & np.isfinite(mean_low)
        )
        scale = 1.0 / sampled_pixels
    homogeneous[0] = False
    if not homogeneous.any():
        return None
    nan = np.float32(np.nan)
    table = np.stack(
        [np.where(homogeneous, mean_high, nan), np.where(homogeneous, mean_low, nan), np.where(homogeneous, scale, nan)],
        axis=-1,
    ).astype(np.float32)
    shape = tuple(alpha_high.shape)
    flat_labels = labels.reshape(-1) if backend.name == "numpy" else xp.reshape(labels, (-1,))
    gathered = xp.reshape(backend.take(backend.asarray(table), flat_labels, 0), shape + (3,))
    in_region = backend.asarray(homogeneous[labels_host])
    return gathered[..., 0], gathered[..., 1], gathered[..., 2], in_region


def _lookup(backend: ArrayBackend, table: Any, attenuation_high: Any, ratio: Any) -> tuple[Any, Any, Any, Any]:
    """Look up ``(α_H, R)`` in the calibration table: Z, κ, |∂Z/∂R| and ambiguity.

    The nearest node is read (one gather per pixel): the table is fine enough (∆R ≈
    0.0005) that this costs less than the calibration's accuracy, and Z is never
    interpolated across the jumps of a degenerate region.
    """
    xp = backend.xp
    alpha_nodes, ratio_nodes = table.shape
    flat = backend.asarray(table.stacked)
    alpha_index = xp.astype(xp.clip(attenuation_high * (1.0 / table.alpha_step) + 0.5, 0.0, alpha_nodes - 1.0), backend.int_dtype)
    ratio_index = xp.astype(
        xp.clip((ratio - table.ratio_start) * (1.0 / table.ratio_step) + 0.5, 0.0, ratio_nodes - 1.0), backend.int_dtype
    )
    shape = tuple(ratio.shape)
    index = alpha_index * ratio_nodes
    index += ratio_index
    values = xp.reshape(backend.take(flat, xp.reshape(index, (-1,)), 0), shape + (4,))
    return values[..., 0], values[..., 1], values[..., 2], values[..., 3] > 0.5


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
    if radius > 0:
        smooth_high, smooth_low, weight_high, weight_low, edges = guided_smooth(
            array_backend, alpha_high, alpha_low, sigma_high, radius=radius, edge_sigmas=edge_sigmas,
            noise_sigma_other=sigma_low,
        )
        inverse_window = 1.0 / float((2 * radius + 1) ** 2)
        # var(q_H) ≈ σ_H² (w² + (1 − w²)/n);  var(q_L) ≈ σ_L²/n + w_L² σ_H²
        noise_high2 = weight_high * weight_high
        noise_high2 *= 1.0 - inverse_window
        noise_high2 += inverse_window
        noise_high2 *= sigma_high
        noise_high2 *= sigma_high
        noise_low2 = weight_low * weight_low
        noise_low2 *= sigma_high
        noise_low2 *= sigma_high
        low_term = sigma_low * sigma_low
        low_term *= inverse_window
        noise_low2 += low_term
        del low_term, weight_high, weight_low
        merged = None
        if min_region_px > 0:
            unusable = array_backend.asarray(np.asarray(image.starved, bool) | np.asarray(image.saturated, bool))
            merged = _merge_regions(array_backend, alpha_high, alpha_low, sigma_high * sigma_high,
                                    edges | unusable, min_region_px=min_region_px)
        if merged is not None:
            region_high, region_low, region_scale, in_region = merged
            smooth_high = xp.where(in_region, region_high, smooth_high)
            smooth_low = xp.where(in_region, region_low, smooth_low)
            # the mean of n pixels: the pixel noise over n (the window held 1/inverse_window)
            shrink = xp.where(in_region, region_scale / inverse_window, xp.ones_like(region_scale))
            shrink = xp.clip(shrink, None, 1.0)
            noise_high2 *= shrink
            noise_low2 *= shrink
            del region_high, region_low, region_scale, shrink
    else:
        smooth_high, smooth_low = alpha_high, alpha_low
        noise_high2 = sigma_high * sigma_high
        noise_low2 = sigma_low * sigma_low

    positive_high = xp.clip(smooth_high, 1e-6, None)
    ratio = smooth_low / positive_high
    zeff, kappa, slope, ambiguous = _lookup(array_backend, table, smooth_high, ratio)

    # σ_R = sqrt(σ_L² + R² σ_H²) / α_H,  σ_Z = |∂Z/∂R| σ_R
    ratio *= ratio
    ratio *= noise_high2
    ratio += noise_low2
    zeff_sigma = xp.sqrt(ratio)
    zeff_sigma /= positive_high
    zeff_sigma *= slope
    del ratio, noise_high2, noise_low2, positive_high, slope
    areal = smooth_high / kappa

    u8 = xp.uint8
    codes = xp.astype(zeff >= ZEFF_BANDS[INORGANIC][0], u8)
    codes += xp.astype(zeff >= ZEFF_BANDS[METAL][0], u8)
    codes += xp.astype(zeff >= ZEFF_BANDS[HIGH_Z][0], u8)
    codes += ORGANIC
    starved = np.asarray(image.starved_high if image.starved_high is not None else image.starved, bool)
    if image.starved_low is not None:
        starved = starved | np.asarray(image.starved_low, bool)
    impenetrable = array_backend.asarray(starved)
    saturated = array_backend.asarray(np.asarray(image.saturated, bool))
    too_thin = (smooth_high < alpha_high_min) | (areal < min_areal_density_g_cm2) | saturated
    codes[too_thin] = NONE
    codes[impenetrable] = IMPENETRABLE
    undefined = too_thin | impenetrable
    zeff[undefined] = float("nan")
    zeff_sigma[undefined] = float("nan")

    host = array_backend.to_numpy
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
        "subtract_walls": bool(subtract_walls),
        "degenerate_reading": degenerate_reading,
        "scan_id": getattr(image, "scan_id", ""),
    }
    as32 = lambda a: np.ascontiguousarray(host(a), dtype=np.float32)  # noqa: E731
    return MaterialMap(
        classes=host(codes).astype(np.uint8, copy=False),
        zeff=as32(zeff),
        zeff_sigma=as32(zeff_sigma),
        areal_density_g_cm2=as32(areal),
        ambiguous=np.ascontiguousarray(host(ambiguous & ~undefined), dtype=bool),
        attenuation_high=as32(smooth_high),
        attenuation_low=as32(smooth_low),
        position_mm=np.asarray(image.position_mm, np.float64),
        channel=np.asarray(image.channel, np.int32),
        provenance=provenance,
    )
