"""The empty container's own image, measured from the scan: row levels and corrugation.

Under the hypothesis that a container holds nothing but itself, its image in the cargo
space (between the end bands, roof band to floor band) is

``areal(z, x) = level(z) + corrugation(x) + noise``

* ``level(z)``: what every row's ray crosses along the whole length: both side walls,
  and, near the roof and the floor, the rails, the roof sheet and the floor boards that
  the row partly covers. It is the row's median along ``x``.
* ``corrugation(x)``: the side walls' trapezoidal profile (the flanks put a longer path
  through the sheet than the flats), the same on every row and **periodic** along the
  container at whatever pitch its builder chose. Its period is found in the scan; its
  shape is the median, phase by phase, over all the periods of the length, so that goods
  standing over a few periods are not taken for it.
* ``noise``: the photon noise of the map plus what this two-part model does not explain
  (patches, dents, sag), whose spread is measured on the residual itself.

:func:`measure_container_profile` fits this model; the empty-container check tests what
stays above it. No pitch, depth or gauge of any make is assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ContainerProfile", "measure_container_profile", "periodic_template"]

#: Consistency factor of the median absolute deviation for a normal distribution.
_MAD_TO_SIGMA = 1.4826
#: Mean absolute deviation to σ for a normal distribution (√(π/2)).
_MEAN_ABS_TO_SIGMA = 1.2533
#: Standard error of a median of n normal values is about this × σ / √n.
_MEDIAN_EFFICIENCY = 1.2533


@dataclass(frozen=True)
class ContainerProfile:
    """The empty container's image model over its cargo space.

    Parameters
    ----------
    rows, cols : tuple of int
        Half-open image extents the model covers (rows × columns).
    level_g_cm2 : numpy.ndarray
        Per-row level (g/cm²), ``rows`` long.
    level_sigma_g_cm2 : numpy.ndarray
        Standard error of each row's level (g/cm²).
    corrugation_g_cm2 : numpy.ndarray
        Periodic part along ``x`` (g/cm², ``cols`` long, zero mean over a period); zeros
        when no period explains the column profile.
    period_mm : float
        Corrugation pitch found in the scan (mm); NaN when none.
    model_sigma_g_cm2 : float
        Spread (g/cm², one σ) of what the model leaves unexplained beyond photon noise,
        measured on the residual.
    """

    rows: tuple[int, int]
    cols: tuple[int, int]
    level_g_cm2: np.ndarray
    level_sigma_g_cm2: np.ndarray
    corrugation_g_cm2: np.ndarray
    period_mm: float
    model_sigma_g_cm2: float

    def expected(self) -> np.ndarray:
        """The model's image of the empty container over its extent (g/cm², float32)."""
        return (self.level_g_cm2[:, None] + self.corrugation_g_cm2[None, :]).astype(np.float32)


def _phases(n: int, period: float) -> tuple[np.ndarray, int]:
    """Phase bin of each of ``n`` samples for ``period`` (samples), and the bin count.

    A fractional period samples its shape at phases finer than a sample: bins are up
    to a quarter sample wide, as long as each still holds about eight periods' samples.
    """
    oversample = min(4.0, max(1.0, n / period / 8.0))
    bins = max(2, int(round(period * oversample)))
    phase = np.floor((np.arange(n) % period) / period * bins).astype(np.int64)
    return np.minimum(phase, bins - 1), bins


def _mean_fold_spread(centred: np.ndarray, period: float) -> float:
    """Spread (as σ) of the signal left after its phase means are removed."""
    phase, bins = _phases(centred.size, period)
    sums = np.bincount(phase, weights=centred, minlength=bins)
    counts = np.maximum(np.bincount(phase, minlength=bins), 1)
    left = centred - (sums / counts)[phase]
    # The mean absolute deviation, as σ: a median-based spread would forgive a period
    # that misfits up to half the samples (corrugation flanks are a minority of them).
    return _MEAN_ABS_TO_SIGMA * float(np.mean(np.abs(left - np.median(left))))


def _median_fold(centred: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """The periodic shape: per phase bin the median over all periods (zero mean).

    Returns the shape per bin (in phase order; NaN for an empty bin) and the bin of
    every sample.
    """
    phase, bins = _phases(centred.size, period)
    order = np.argsort(phase, kind="stable")
    bounds = np.searchsorted(phase[order], np.arange(bins + 1))
    shape = np.array([
        float(np.median(centred[order[a:b]])) if b > a else math.nan for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ])
    filled = np.isfinite(shape)
    shape[filled] -= float(np.mean(shape[filled]))
    return shape, phase


def _roughness(shape: np.ndarray) -> float:
    """Total variation of a periodic shape around its cycle (its filled bins)."""
    values = shape[np.isfinite(shape)]
    return float(np.abs(np.diff(np.concatenate([values, values[:1]]))).sum()) if values.size > 1 else 0.0


def _candidate_lags(centred: np.ndarray, min_period: float, count: int = 4) -> list[int]:
    """Integer lags of the highest local maxima of the signal's autocorrelation."""
    n = centred.size
    spectrum = np.fft.rfft(centred, 2 * n)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2)[: n // 4 + 1]
    lo = max(2, int(math.floor(min_period)))
    lags = [
        lag for lag in range(lo, autocorrelation.size - 1)
        if autocorrelation[lag] > 0
        and autocorrelation[lag] >= autocorrelation[lag - 1]
        and autocorrelation[lag] >= autocorrelation[lag + 1]
    ]
    lags.sort(key=lambda lag: -autocorrelation[lag])
    return lags[:count]


def periodic_template(signal: np.ndarray, noise: float, *, min_period: float = 3.0) -> tuple[np.ndarray, float]:
    """Find the period that best explains a 1-D signal and its robust periodic shape.

    Parameters
    ----------
    signal : numpy.ndarray
        Samples along the container (any unit), e.g. a column profile in g/cm².
    noise : float
        Standard deviation of each sample's noise (same unit).
    min_period : float
        Shortest period tried (samples); the longest is a quarter of the signal, so
        every phase is the median of at least four periods.

    Returns
    -------
    template : numpy.ndarray
        The periodic part at each sample (zero mean), zeros when no period explains the
        signal better than its noise does.
    period : float
        The period (samples, fractional); NaN when none.

    Notes
    -----
    Candidate periods are the highest peaks of the signal's autocorrelation; each is
    refined on a grid fine enough that the phase drifts by under a quarter sample over
    the whole signal, scoring a period by the mean absolute deviation of the signal
    left after subtracting its phase means. Of the periods within 5 % (or a quarter of
    the noise) of the best score, the one whose shape is smoothest in phase wins, then
    the shortest: on whole samples a pitch, its multiples and some of its fractions sort
    the samples into the same phase classes. The shape is the median, phase by phase, over all periods, so that a few periods covered by goods do
    not bend it. It is kept only when its own spread exceeds three standard errors of a
    phase median.

    Examples
    --------
    >>> x = np.arange(400)
    >>> wave = np.where((x % 12.5) < 3, 1.0, 0.0)
    >>> _, period = periodic_template(wave + 0.01 * np.sin(x), 0.01)
    >>> round(period, 1)
    12.5
    """
    values = np.asarray(signal, dtype=np.float64)
    n = values.size
    flat = np.zeros(n)
    if n < 4 * min_period or not np.isfinite(values).all():
        return flat, math.nan
    centred = values - np.median(values)
    scored: list[tuple[float, float]] = []
    candidates = {lag / k for lag in _candidate_lags(centred, min_period) for k in (1, 2, 3, 4) if lag / k >= min_period}
    for centre in sorted(candidates):
        step = max(0.25 * centre / n, 1e-3)
        grid = np.arange(max(min_period, centre - 1.0), centre + 1.0 + 1e-9, step)
        spreads = [_mean_fold_spread(centred, float(p)) for p in grid]
        best = int(np.argmin(spreads))
        scored.append((spreads[best], float(grid[best])))
    if not scored:
        return flat, math.nan
    best_spread = min(spread for spread, _ in scored)
    # Within 5 % (or a quarter of the noise) of the best, a period explains the samples
    # as well. On whole-sample spacing several periods sort the samples into the same
    # phase classes (12.5, 6.25 and 25 samples do); the true pitch is the one whose
    # shape is smooth in phase (least total variation), then the shortest.
    ties = sorted(p for spread, p in scored if spread <= 1.05 * best_spread + 0.25 * noise)
    folds = {p: _median_fold(centred, p) for p in ties}
    period = min(ties, key=lambda p: (round(_roughness(folds[p][0]) / max(noise, 1e-12), 1), p))
    shape, phase = folds[period]
    template = np.nan_to_num(shape, nan=0.0)[phase]
    periods = n / period
    phase_error = _MEDIAN_EFFICIENCY * max(noise, best_spread) / math.sqrt(max(periods, 1.0))
    if float(np.std(template)) <= 3.0 * phase_error:
        return flat, math.nan
    return template, period


def measure_container_profile(
    areal_g_cm2: np.ndarray,
    sigma_g_cm2: np.ndarray,
    rows: tuple[int, int],
    cols: tuple[int, int],
    *,
    column_pitch_mm: float,
    wall_rows: tuple[int, int] | None = None,
) -> ContainerProfile:
    """Fit the empty container's image model to a scan.

    Parameters
    ----------
    areal_g_cm2, sigma_g_cm2 : numpy.ndarray
        Areal density and its photon-noise standard deviation (g/cm², rows × columns).
    rows, cols : tuple of int
        Cargo space the model covers (half-open).
    column_pitch_mm : float
        Column pitch at the scan plane (mm), to report the period in mm.
    wall_rows : tuple of int, optional
        Rows on which the corrugation is measured (default: all of ``rows``); the
        interior rows between the roof and floor bands see the side walls alone.

    Returns
    -------
    ContainerProfile
    """
    r0, r1 = rows
    c0, c1 = cols
    block = np.asarray(areal_g_cm2[r0:r1, c0:c1], dtype=np.float64)
    noise = np.asarray(sigma_g_cm2[r0:r1, c0:c1], dtype=np.float64)
    noise = np.where(np.isfinite(noise), noise, 0.0)
    length = max(c1 - c0, 1)
    level = np.median(block, axis=1)
    level_sigma = _MEDIAN_EFFICIENCY * np.median(noise, axis=1) / math.sqrt(length)
    w0, w1 = wall_rows if wall_rows is not None else rows
    w0, w1 = max(w0, r0) - r0, min(w1, r1) - r0
    if w1 - w0 < 1:
        w0, w1 = 0, r1 - r0
    column = np.median(block[w0:w1] - level[w0:w1, None], axis=0)
    column_noise = _MEDIAN_EFFICIENCY * float(np.median(noise[w0:w1])) / math.sqrt(max(w1 - w0, 1))
    corrugation, period = periodic_template(column, column_noise)
    residual = block - level[:, None] - corrugation[None, :]
    # What the model leaves beyond photon noise: the residual's robust spread in
    # excess of the noise's, over the whole cargo space (goods, if any, are few pixels).
    standardised = residual / np.maximum(noise, 1e-6)
    excess = _MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual))))
    typical_noise = float(np.median(noise))
    model_sigma = math.sqrt(max(excess**2 - typical_noise**2, 0.0)) if np.isfinite(standardised).any() else 0.0
    return ContainerProfile(
        rows=(r0, r1), cols=(c0, c1),
        level_g_cm2=level.astype(np.float32), level_sigma_g_cm2=level_sigma.astype(np.float32),
        corrugation_g_cm2=corrugation.astype(np.float32),
        period_mm=period * column_pitch_mm if math.isfinite(period) else math.nan,
        model_sigma_g_cm2=model_sigma,
    )
