"""Material discrimination: effective Z, class, uncertainty and mass thickness per pixel.

:func:`discriminate` maps an :class:`~nii.correction.AnalysedImage` through a
:class:`~nii.calibration.Calibration`:

1. **Region-aware smoothing.** ``α_H`` and ``α_L`` are smoothed with a guided filter
   (He, Sun & Tang, "Guided image filtering", IEEE TPAMI 35, 1397, 2013) guided by
   ``α_H``, with the regularisation tied to the pixel noise (``ε = (k σ_H)²``): inside a
   homogeneous block the window mean is taken (noise down by the window size), across
   an edge whose contrast is well above the noise the local linear model keeps the edge.
   Blocks therefore come out as one material, and edges do not mix materials.
2. **Lookup.** ``R = α_L / α_H`` and ``α_H`` index the calibration's table
   ``(α_H, R) → Z_eff`` (bilinear), which also gives ``|∂Z/∂R|``, the fitted material's
   mass attenuation ``κ = α_H / ρt`` and whether the point is degenerate (two classes
   give the same pair of attenuations).
3. **Classes.** ``impenetrable`` where either energy is photon-starved; ``none``
   where the smoothed ``α_H`` is below ``alpha_high_min`` (default 0.2: about 7 g/cm²
   at MeV, where even the smoothed ratio's noise and the thin-absorber degeneracy of
   heavy elements make Z meaningless) or the detector saturated; otherwise the
   contract's Z bands (:mod:`nii.classes`).
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
    "DEFAULT_ALPHA_HIGH_MIN",
    "DEFAULT_SMOOTHING_RADIUS_PX",
    "DEFAULT_MIN_REGION_PX",
]

#: Smallest smoothed α_H whose material is told (dimensionless): about 7 g/cm² of any
#: material at 6/3 MeV (μ/ρ ≈ 0.03 cm²/g). Below it the ratio's noise and the
#: degeneracy of thin heavy absorbers make the class meaningless.
DEFAULT_ALPHA_HIGH_MIN = 0.2
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
    sigma_high: Any,
    sigma_low: Any,
    edges: Any,
    *,
    min_region_px: int,
) -> tuple[Any, Any, Any, Any, Any] | None:
    """Replace the pixels of homogeneous regions by the region means.

    Regions are the connected (4-neighbour) areas free of edges; a region of at least
    ``min_region_px`` pixels whose α_H varies by less than
    :data:`REGION_RELATIVE_SPREAD` of its mean beyond the noise is homogeneous: one
    material at one thickness (a block, a carton stack). Its mean α_H and α_L, with
    the noise reduced by the pixel count, replace the pixel values.

    Returns
    -------
    (alpha_high, alpha_low, noise_high2, noise_low2, in_region) or None
        Region means broadcast to the pixels (edges and small or heterogeneous regions
        keep NaN), their noise variances, and the mask of merged pixels; None when no
        region qualifies.
    """
    from scipy import ndimage

    xp = backend.xp
    host_edges = np.asarray(backend.to_numpy(edges), bool)
    labels_host, count = ndimage.label(~host_edges)
    count += 1  # label 0: edges
    labels = backend.asarray(labels_host.astype(np.int64), backend.int_dtype)
    pixels = backend.to_numpy(backend.segment_sums(labels, None, count))
    sums = [backend.to_numpy(backend.segment_sums(labels, values, count))
            for values in (alpha_high, alpha_low, alpha_high * alpha_high, sigma_high * sigma_high,
                           sigma_low * sigma_low)]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_high, mean_low, mean_square, noise_high2, noise_low2 = (v / pixels for v in sums)
        excess = mean_square - mean_high**2 - noise_high2
        homogeneous = (
            (pixels >= min_region_px)
            & (excess <= (REGION_RELATIVE_SPREAD * mean_high) ** 2)
            & np.isfinite(mean_high)
            & np.isfinite(mean_low)
        )
    homogeneous[0] = False
    if not homogeneous.any():
        return None
    nan = np.float32(np.nan)
    table = np.stack(
        [
            np.where(homogeneous, mean_high, nan),
            np.where(homogeneous, mean_low, nan),
            np.where(homogeneous, noise_high2 / pixels, nan),
            np.where(homogeneous, noise_low2 / pixels, nan),
        ],
        axis=-1,
    ).astype(np.float32)
    shape = tuple(alpha_high.shape)
    gathered = xp.reshape(backend.take(backend.asarray(table), xp.reshape(labels, (-1,)), 0), shape + (4,))
    in_region = backend.asarray(homogeneous[labels_host])
    return gathered[..., 0], gathered[..., 1], gathered[..., 2], gathered[..., 3], in_region


def _lookup(backend: ArrayBackend, table: Any, attenuation_high: Any, ratio: Any) -> tuple[Any, Any, Any, Any]:
    """Look up ``(α_H, R)`` in the calibration table: Z (linear in R), κ, |∂Z/∂R|, ambiguity.

    The α_H axis is sampled finely (the curves change slowly with α_H) and read at the
    nearest node; along R, Z is interpolated linearly between nodes.
    """
    xp = backend.xp
    alpha_nodes, ratio_nodes = table.shape
    flat_zeff = backend.asarray(np.ascontiguousarray(table.zeff, dtype=np.float32).reshape(-1))
    companions = np.stack(
        [table.mass_attenuation_cm2_g, table.zeff_per_ratio, table.ambiguous.astype(np.float32)], axis=-1
    )
    flat_companions = backend.asarray(np.ascontiguousarray(companions, dtype=np.float32).reshape(-1, 3))
    alpha_index = xp.astype(xp.clip(attenuation_high * (1.0 / table.alpha_step) + 0.5, 0.0, alpha_nodes - 1.0), backend.int_dtype)
    position = xp.clip((ratio - table.ratio_start) * (1.0 / table.ratio_step), 0.0, ratio_nodes - 1.001)
    ratio_index = xp.astype(position, backend.int_dtype)
    weight = position - xp.astype(ratio_index, position.dtype)
    shape = tuple(position.shape)
    index = xp.reshape(alpha_index * ratio_nodes + ratio_index, (-1,))
    zeff_before = backend.take(flat_zeff, index, 0)
    zeff_after = backend.take(flat_zeff, index + 1, 0)
    zeff = xp.reshape(zeff_before + (zeff_after - zeff_before) * xp.reshape(weight, (-1,)), shape)
    nearest = xp.reshape(backend.take(flat_companions, index, 0), shape + (3,))
    return zeff, nearest[..., 0], nearest[..., 1], nearest[..., 2] > 0.5


def discriminate(
    image: Any,
    calibration: Any,
    *,
    backend: str | ArrayBackend = "numpy",
    device: str | None = None,
    alpha_high_min: float = DEFAULT_ALPHA_HIGH_MIN,
    smoothing_radius_px: int = DEFAULT_SMOOTHING_RADIUS_PX,
    edge_sigmas: float = DEFAULT_EDGE_SIGMAS,
    min_region_px: int = DEFAULT_MIN_REGION_PX,
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
    smoothing_radius_px : int
        Guided-filter window half-width (pixels); 0 disables smoothing.
    edge_sigmas : float
        Guided-filter regularisation, in pixel-noise standard deviations.
    min_region_px : int
        Homogeneous edge-free regions of at least this many pixels are estimated from
        their mean attenuations (one material per block); 0 disables it.

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
    table = calibration.lookup_table
    alpha_high = array_backend.asarray(np.asarray(image.attenuation_high, np.float32))
    alpha_low = array_backend.asarray(np.asarray(image.attenuation_low, np.float32))
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
            merged = _merge_regions(array_backend, alpha_high, alpha_low, sigma_high, sigma_low,
                                    edges | unusable, min_region_px=min_region_px)
        if merged is not None:
            region_high, region_low, region_noise_high2, region_noise_low2, in_region = merged
            smooth_high = xp.where(in_region, region_high, smooth_high)
            smooth_low = xp.where(in_region, region_low, smooth_low)
            noise_high2 = xp.where(in_region, region_noise_high2, noise_high2)
            noise_low2 = xp.where(in_region, region_noise_low2, noise_low2)
            del region_high, region_low, region_noise_high2, region_noise_low2
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
    too_thin = (smooth_high < alpha_high_min) | saturated
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
        "smoothing_radius_px": radius,
        "edge_sigmas": float(edge_sigmas),
        "min_region_px": int(min_region_px),
        "scan_id": getattr(image, "scan_id", ""),
    }
    as32 = lambda a: np.asarray(host(a), dtype=np.float32)  # noqa: E731
    return MaterialMap(
        classes=host(codes).astype(np.uint8, copy=False),
        zeff=as32(zeff),
        zeff_sigma=as32(zeff_sigma),
        areal_density_g_cm2=as32(areal),
        ambiguous=host(ambiguous & ~undefined).astype(bool, copy=False),
        attenuation_high=as32(smooth_high),
        attenuation_low=as32(smooth_low),
        position_mm=np.asarray(image.position_mm, np.float64),
        channel=np.asarray(image.channel, np.int32),
        provenance=provenance,
    )
