"""Forward scatter of a collimated fan-beam line scanner: the model the simulator adds and the correction removes.

Part of the energy an object removes from the primary beam still reaches the detector,
scattered forward at small angles and spread over hundreds of millimetres. The model is
a named first-order shortcut: the scatter signal (relative to the air signal) is

``S = fraction × G_σ * (1 − T)``,

the attenuated fraction of the primary transmission ``T`` blurred by a broad Gaussian
``G_σ`` of standard deviation ``sigma_mm`` at the scan plane. It matters only where
the primary transmission approaches ``fraction`` itself (10⁻⁴ and below at MeV, the
photon-starvation floor), where an uncorrected scan reads lighter than it is and the
beam looks able to read cargo that it cannot.

:class:`ForwardScatter` holds the two parameters; :func:`reference_scatter` gives the
reference scanner's (``[forward_scatter]`` of ``seeds/calibration.toml``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["ForwardScatter", "broad_gaussian", "reference_scatter"]


def _interp_axis(values: np.ndarray, at: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``values`` along ``axis`` at fractional indices ``at`` (clamped)."""
    n = values.shape[axis]
    at = np.clip(at, 0.0, n - 1)
    left = np.minimum(np.floor(at).astype(np.intp), max(n - 2, 0))
    right = np.minimum(left + 1, n - 1)
    weight = (at - left).astype(values.dtype, copy=False)
    shape = [1, 1]
    shape[axis] = -1
    weight = weight.reshape(shape)
    return np.take(values, left, axis=axis) * (1.0 - weight) + np.take(values, right, axis=axis) * weight


def broad_gaussian(image: np.ndarray, sigma_rows: float, sigma_cols: float) -> np.ndarray:
    """Approximate a wide Gaussian blur: block means, a Gaussian on the coarse grid, linear upsampling.

    The scatter spread is hundreds of mm wide, so it is computed on a grid coarser by
    ``σ / 8`` pixels (at most 16) and interpolated back: within a few % of a true
    Gaussian, far below the scatter term's own uncertainty.

    Parameters
    ----------
    image : numpy.ndarray, shape ``(R, C)``
    sigma_rows, sigma_cols : float
        Standard deviations, in rows and columns.

    Returns
    -------
    numpy.ndarray
        The blurred image, borders extended: float32 for a float32 image (the
        coarse grid is still computed in float64), float64 otherwise.
    """
    image = np.asarray(image)
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    out_dtype = image.dtype
    rows, cols = image.shape
    factors = [int(np.clip(sigma // 8, 1, 16)) if sigma > 0.3 else 1 for sigma in (sigma_rows, sigma_cols)]
    fr, fc = factors
    pad_r, pad_c = (-rows) % fr, (-cols) % fc
    work = np.pad(image, ((0, pad_r), (0, pad_c)), mode="edge") if (pad_r or pad_c) else image
    coarse = work.reshape(work.shape[0] // fr, fr, work.shape[1] // fc, fc).mean(axis=(1, 3), dtype=np.float64)
    for axis, sigma, factor in ((0, sigma_rows, fr), (1, sigma_cols, fc)):
        # Block means already spread by (factor² − 1)/12 pixels² (in coarse units).
        sigma = np.sqrt(max((sigma / factor) ** 2 - (1.0 - 1.0 / factor**2) / 12.0, 0.0))
        if sigma <= 0.3:
            continue
        coarse = ndimage.gaussian_filter1d(coarse, sigma, axis=axis, mode="nearest", truncate=3.0)
    if fr == 1 and fc == 1:
        return coarse.astype(out_dtype, copy=False)
    # Coarse cell centres in fine pixel units, then linear interpolation back: along the
    # rows on the coarse columns (small), then along the columns at full size.
    row_at = (np.arange(rows) + 0.5) / fr - 0.5
    col_at = (np.arange(cols) + 0.5) / fc - 0.5
    out = _interp_axis(coarse, row_at, axis=0).astype(out_dtype, copy=False)
    return _interp_axis(out, col_at.astype(out_dtype), axis=1)


@dataclass(frozen=True)
class ForwardScatter:
    """Forward-scatter model of a scanner.

    Parameters
    ----------
    fraction : float
        Scatter signal reaching the detector per unit of attenuated air signal
        (dimensionless, 0 to 0.01).
    sigma_mm : float
        Width (standard deviation) of its spread at the scan plane, mm.
    """

    fraction: float
    sigma_mm: float

    def __post_init__(self) -> None:
        if not (0.0 <= float(self.fraction) <= 0.01):
            raise ValueError(f"forward-scatter fraction must lie in 0..0.01, got {self.fraction!r}")
        if not (float(self.sigma_mm) > 0.0):
            raise ValueError(f"forward-scatter width must be positive, got {self.sigma_mm!r} mm")

    def signal(self, transmission: np.ndarray, row_height_mm: float, column_mm: float) -> np.ndarray:
        """Scatter signal relative to the air signal, ``fraction × G_σ * (1 − T)``.

        Parameters
        ----------
        transmission : numpy.ndarray, shape ``(R, C)``
            Primary transmission (values outside 0..1 are clipped).
        row_height_mm, column_mm : float
            Pixel height and column spacing at the scan plane, mm.

        Returns
        -------
        numpy.ndarray
            Between 0 and ``fraction`` (float32 for a float32 image, else float64).
        """
        transmission = np.asarray(transmission)
        if transmission.dtype not in (np.float32, np.float64):
            transmission = transmission.astype(np.float64)
        if self.fraction <= 0.0:
            return np.zeros(transmission.shape, transmission.dtype)
        removed = np.clip(transmission, 0.0, 1.0)
        np.subtract(1.0, removed, out=removed)
        blurred = broad_gaussian(removed, self.sigma_mm / row_height_mm, self.sigma_mm / column_mm)
        blurred *= blurred.dtype.type(self.fraction)
        return blurred


@functools.lru_cache(maxsize=1)
def reference_scatter() -> ForwardScatter:
    """The reference scanner's forward scatter (``[forward_scatter]`` of ``seeds/calibration.toml``)."""
    from nii.resources import read_catalogue, seed_path

    table = read_catalogue(seed_path("calibration.toml"), "calibration defaults").get("forward_scatter", {})
    return ForwardScatter(float(table.get("fraction", 0.0)), float(table.get("sigma_mm", 300.0)))
