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
]

#: Smallest smoothed α_H whose material is told (dimensionless): about 7 g/cm² of any
#: material at 6/3 MeV (μ/ρ ≈ 0.03 cm²/g). Below it the ratio's noise and the
#: degeneracy of thin heavy absorbers make the class meaningless.
DEFAULT_ALPHA_HIGH_MIN = 0.2
#: Half-width of the guided filter window (pixels): 7 × 7 windows, noise down ~7×.
DEFAULT_SMOOTHING_RADIUS_PX = 3
#: Guided-filter regularisation in units of the pixel noise of α_H.
DEFAULT_EDGE_SIGMAS = 3.0


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
    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i * mean_i
    eps = noise_sigma * noise_sigma * (edge_sigmas * edge_sigmas) + 1e-12
    denominator = var_i + eps
    weight = var_i / denominator
    smoothed = mean_i + weight * (guide - mean_i)
    mean_p = box(other)
    weight_other = (box(guide * other) - mean_i * mean_p) / denominator
    smoothed_other = mean_p + weight_other * (guide - mean_i)
    return smoothed, smoothed_other, weight, weight_other


def _bilinear(backend: ArrayBackend, table: np.ndarray, row: Any, col: Any) -> Any:
    """Bilinear interpolation of a host table at fractional (row, col) indices."""
    xp = backend.xp
    rows, cols = table.shape
    flat = backend.asarray(np.ascontiguousarray(table, dtype=np.float32).reshape(-1))
    r0 = xp.floor(row)
    c0 = xp.floor(col)
    wr = row - r0
    wc = col - c0
    r0i = xp.astype(r0, backend.int_dtype)
    c0i = xp.astype(c0, backend.int_dtype)
    base = r0i * cols + c0i
    shape = base.shape
    base = xp.reshape(base, (-1,))
    v00 = xp.reshape(backend.take(flat, base, 0), shape)
    v01 = xp.reshape(backend.take(flat, base + 1, 0), shape)
    v10 = xp.reshape(backend.take(flat, base + cols, 0), shape)
    v11 = xp.reshape(backend.take(flat, base + cols + 1, 0), shape)
    top = v00 + (v01 - v00) * wc
    bottom = v10 + (v11 - v10) * wc
    return top + (bottom - top) * wr


def _nearest(backend: ArrayBackend, table: np.ndarray, row: Any, col: Any) -> Any:
    """Nearest-node values of a host table ``(A, B, K)`` at fractional indices: ``(..., K)``."""
    xp = backend.xp
    cols, depth = table.shape[1], table.shape[2]
    flat = backend.asarray(np.ascontiguousarray(table, dtype=np.float32).reshape(-1, depth))
    index = xp.astype(row + 0.5, backend.int_dtype) * cols + xp.astype(col + 0.5, backend.int_dtype)
    shape = tuple(index.shape)
    return xp.reshape(backend.take(flat, xp.reshape(index, (-1,)), 0), shape + (depth,))


def discriminate(
    image: Any,
    calibration: Any,
    *,
    backend: str | ArrayBackend = "numpy",
    device: str | None = None,
    alpha_high_min: float = DEFAULT_ALPHA_HIGH_MIN,
    smoothing_radius_px: int = DEFAULT_SMOOTHING_RADIUS_PX,
    edge_sigmas: float = DEFAULT_EDGE_SIGMAS,
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
    f32 = array_backend.float_dtype
    alpha_high = array_backend.asarray(np.asarray(image.attenuation_high, np.float32))
    alpha_low = array_backend.asarray(np.asarray(image.attenuation_low, np.float32))
    sigma_high = array_backend.asarray(np.asarray(image.sigma_high, np.float32))
    sigma_low = array_backend.asarray(np.asarray(image.sigma_low, np.float32))

    radius = int(smoothing_radius_px)
    if radius > 0:
        smooth_high, smooth_low, weight_high, weight_low = guided_smooth(
            array_backend, alpha_high, alpha_low, sigma_high, radius=radius, edge_sigmas=edge_sigmas
        )
        window = float((2 * radius + 1) ** 2)
        var_high = sigma_high * sigma_high
        noise_high2 = var_high * (weight_high * weight_high + (1.0 - weight_high * weight_high) / window)
        noise_low2 = sigma_low * sigma_low / window + weight_low * weight_low * var_high
    else:
        smooth_high, smooth_low = alpha_high, alpha_low
        noise_high2 = sigma_high * sigma_high
        noise_low2 = sigma_low * sigma_low

    tiny = 1e-6
    positive_high = xp.maximum(smooth_high, xp.full_like(smooth_high, tiny))
    ratio = smooth_low / positive_high
    alpha_rows, ratio_cols = table.shape
    row = xp.clip(smooth_high / table.alpha_step, 0.0, alpha_rows - 1.001)
    col = xp.clip((ratio - table.ratio_start) / table.ratio_step, 0.0, ratio_cols - 1.001)
    zeff = _bilinear(array_backend, table.zeff, row, col)
    companions = np.stack(
        [table.mass_attenuation_cm2_g, table.zeff_per_ratio, table.ambiguous.astype(np.float32)], axis=-1
    )
    nearest = _nearest(array_backend, companions, row, col)
    kappa, slope, ambiguous = nearest[..., 0], nearest[..., 1], nearest[..., 2] > 0.5

    ratio_sigma = xp.sqrt(noise_low2 + ratio * ratio * noise_high2) / positive_high
    zeff_sigma = slope * ratio_sigma
    areal = xp.where(kappa > 0, smooth_high / kappa, xp.full_like(smooth_high, float("nan")))

    u8 = xp.uint8
    codes = (
        xp.astype(zeff >= ZEFF_BANDS[INORGANIC][0], u8)
        + xp.astype(zeff >= ZEFF_BANDS[METAL][0], u8)
        + xp.astype(zeff >= ZEFF_BANDS[HIGH_Z][0], u8)
        + ORGANIC
    )
    starved = np.asarray(image.starved_high if image.starved_high is not None else image.starved, bool)
    if image.starved_low is not None:
        starved = starved | np.asarray(image.starved_low, bool)
    impenetrable = array_backend.asarray(starved)
    saturated = array_backend.asarray(np.asarray(image.saturated, bool))
    too_thin = (smooth_high < alpha_high_min) | saturated
    codes = xp.where(too_thin, xp.full_like(codes, NONE), codes)
    codes = xp.where(impenetrable, xp.full_like(codes, IMPENETRABLE), codes)
    undefined = too_thin | impenetrable
    nan = xp.full_like(zeff, float("nan"))
    zeff = xp.where(undefined, nan, zeff)
    zeff_sigma = xp.where(undefined, nan, zeff_sigma)

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
        "scan_id": getattr(image, "scan_id", ""),
    }
    as32 = lambda a: host(xp.astype(a, f32)).astype(np.float32, copy=False)  # noqa: E731
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
