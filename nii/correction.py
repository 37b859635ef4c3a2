"""Raw detector frames → corrected dual-energy attenuation images on the analysed grid.

:func:`correct` takes a :class:`scanner_io.Scan` (raw samples per energy, per-channel
dark and air references, dose monitor, conveyance positions) and returns an
:class:`AnalysedImage`: transmission, attenuation ``α = −ln T`` and its noise for the
highest and the next energy, resampled onto the uniform position grid of
:func:`nii.grid.analysis_grid`, with masks of saturated, photon-starved and repaired
pixels.

The steps, per energy ``e``, channel ``c`` and pulse ``p`` (``spec/nxr-format.md``):

1. dark subtraction and air normalisation,
   ``T = (raw − dark_c) / (air_c − dark_c)``;
2. dose correction, ``T ×= dose_air / dose_p`` where DOSE_VALID;
3. repair of dead and noisy channels (listed in the header, or found from the air
   reference: gain far below the median, or relative air noise far above it) by
   linear interpolation between the nearest good rows above and below;
3b. forward-scatter subtraction, ``T −= fraction × G_σ * (1 − T)`` (:mod:`nii.scatter`;
   the reference scanner's model by default): it matters only near the starvation
   floor, where scatter would otherwise make unreadable cargo look readable;
4. the saturation mask (``raw ≥ saturation``) and the photon-starvation mask
   (``T`` below a noise floor of ``starvation_sigmas`` dark-noise standard deviations);
5. ``α = −ln max(T, floor)``, resampled linearly in conveyance position onto the
   analysed grid (interlaced energies sit half a column apart; the speed may vary);
6. the noise of α, ``σ_α = σ_T / T``, with
   ``σ_T² = a + b T + c T²`` fitted on the image's own pulse-to-pulse differences
   (:func:`fit_noise_model`; the air reference's spread, which includes the linac's
   output jitter that the dose correction removes, is the fallback).

The per-pixel arithmetic (steps 1–6) is one implementation run on numpy arrays or
torch tensors (:mod:`nii.backend`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nii import __version__
from nii.backend import ArrayBackend, get_backend
from nii.errors import AnalysisError
from nii.grid import analysis_grid, row_height_mm
from nii.scatter import ForwardScatter, reference_scatter

__all__ = [
    "AnalysedImage",
    "correct",
    "find_bad_channels",
    "fill_positions",
    "resampling_weights",
    "fit_noise_model",
    "DEFAULT_STARVATION_SIGMAS",
]

#: Transmission below this many dark-noise standard deviations (over the air gain) is
#: "photon starved": indistinguishable from no beam at all.
DEFAULT_STARVATION_SIGMAS = 3.0
#: Gain (air − dark) below this fraction of the median gain marks a dead channel.
DEAD_GAIN_FRACTION = 0.2
#: Relative air noise above this multiple of the median marks a noisy channel.
NOISY_FACTOR = 5.0
#: Smallest dark noise assumed (counts): the quantisation noise of an integer sample.
MIN_DARK_STD_COUNTS = 1.0 / np.sqrt(12.0)
#: Rows sampled to fit the image noise model, and fewest differences per level bin.
_NOISE_SAMPLE_ROWS = 64
_NOISE_MIN_SAMPLES = 200
#: Weight below which a resampling neighbour is ignored by the masks.
_WEIGHT_EPS = 1e-3


@dataclass
class AnalysedImage:
    """Corrected dual-energy image on the analysed grid (rows × columns).

    Attributes
    ----------
    attenuation_high, attenuation_low : numpy.ndarray of float32
        ``α = −ln T`` of the highest and the next energy (dimensionless, natural log).
    transmission_high, transmission_low : numpy.ndarray of float32
        Corrected transmission on the grid, **unclipped** (1 = air; noise makes it exceed
        1 in air and go below the starvation floor, even negative, where the beam is
        nearly stopped): the unbiased input of region means (:mod:`nii.region_estimate`).
        ``α`` is ``−ln max(T, floor)`` of the pulses' own values, resampled; ``T`` is
        ``exp(−α)`` where no pulse was starved, the pulses' own values resampled where one was.
    sigma_high, sigma_low : numpy.ndarray of float32
        Noise standard deviation of ``α`` per pixel, from the reference statistics.
    saturated, starved, repaired : numpy.ndarray of bool
        Any energy saturated (``raw ≥ saturation``); any energy photon-starved;
        pixel of a repaired (dead or noisy) channel.
    starved_high, starved_low, saturated_high, saturated_low : numpy.ndarray of bool
        The same masks per energy.
    position_mm : numpy.ndarray of float64
        Conveyance position (mm) of each column.
    channel : numpy.ndarray of int32
        Detector channel of each row (top-down).
    row_height_mm, column_pitch_mm : float
        Pixel height at the scan plane and column spacing (mm).
    energies_mev : list of float
        Nominal endpoint energies (MeV), highest first.
    scan_id : str
    provenance : dict
        Input sha256, backend, repaired channels, notes.
    noise_high, noise_low : dict or None
        Noise model of one pixel's ``T`` per energy, ``var_T = constant + shot·T +
        multiplicative·T²``: ``constant`` and ``shot`` per row (numpy arrays),
        ``multiplicative`` a float (measured from the scan's references and its own
        pulse-to-pulse differences, :func:`fit_noise_model`).
    """

    attenuation_high: np.ndarray
    attenuation_low: np.ndarray
    transmission_high: np.ndarray
    transmission_low: np.ndarray
    sigma_high: np.ndarray
    sigma_low: np.ndarray
    saturated: np.ndarray
    starved: np.ndarray
    repaired: np.ndarray
    position_mm: np.ndarray
    channel: np.ndarray
    row_height_mm: float
    column_pitch_mm: float
    energies_mev: list[float]
    scan_id: str
    provenance: dict[str, Any] = field(default_factory=dict)
    starved_high: np.ndarray | None = None
    starved_low: np.ndarray | None = None
    saturated_high: np.ndarray | None = None
    saturated_low: np.ndarray | None = None
    noise_high: dict[str, Any] | None = None
    noise_low: dict[str, Any] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the analysed image."""
        return tuple(self.attenuation_high.shape)  # type: ignore[return-value]


# --------------------------------------------------------------------------- host helpers


def find_bad_channels(
    dark_mean: np.ndarray,
    air_mean: np.ndarray,
    air_std: np.ndarray,
    *,
    dead_gain_fraction: float = DEAD_GAIN_FRACTION,
    noisy_factor: float = NOISY_FACTOR,
) -> np.ndarray:
    """Return a boolean mask of dead or noisy rows found from the air reference.

    Parameters
    ----------
    dark_mean, air_mean : numpy.ndarray
        Per-row mean of the dark and air references (counts).
    air_std : numpy.ndarray
        Per-row standard deviation of the air reference (counts).
    dead_gain_fraction : float
        A row whose gain ``air − dark`` is below this fraction of the median gain is dead.
    noisy_factor : float
        A row whose relative noise ``air_std / gain`` exceeds this multiple of the
        median relative noise is noisy.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> find_bad_channels(np.zeros(4), np.array([100., 100., 3., 100.]), np.ones(4)).tolist()
    [False, False, True, False]
    """
    gain = np.asarray(air_mean, np.float64) - np.asarray(dark_mean, np.float64)
    std = np.asarray(air_std, np.float64)
    bad = ~np.isfinite(gain) | ~np.isfinite(std)
    good_gain = gain[~bad]
    if good_gain.size == 0:
        return np.ones(gain.shape, bool)
    median_gain = np.median(good_gain)
    bad |= gain <= dead_gain_fraction * median_gain
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(gain > 0, std / gain, np.inf)
    ok = ~bad & np.isfinite(relative)
    if ok.any():
        median_relative = np.median(relative[ok])
        if median_relative > 0:
            bad |= relative > noisy_factor * median_relative
    return bad


def fill_positions(
    position_mm: np.ndarray,
    position_valid: np.ndarray,
    time_s: np.ndarray,
    nominal_speed_mm_s: float | None,
    *,
    source: str = "scan",
) -> np.ndarray:
    """Return a conveyance position (mm) for every pulse.

    Valid positions are kept; missing ones are interpolated in time between valid
    neighbours, extrapolated at the ends with the nominal speed, or, when no position
    is valid, ``time × nominal speed``.

    Parameters
    ----------
    position_mm : numpy.ndarray
        Recorded positions (mm), NaN or garbage where not valid.
    position_valid : numpy.ndarray of bool
        POSITION_VALID flag per pulse.
    time_s : numpy.ndarray
        Pulse times (s).
    nominal_speed_mm_s : float or None
        Nominal conveyance speed (mm/s).
    source : str
        Name of the scan, for error messages.
    """
    position = np.asarray(position_mm, np.float64)
    valid = np.asarray(position_valid, bool) & np.isfinite(position)
    time = np.asarray(time_s, np.float64)
    if valid.all():
        return position.copy()
    speed_ok = nominal_speed_mm_s is not None and np.isfinite(nominal_speed_mm_s) and nominal_speed_mm_s > 0
    if valid.sum() >= 2:
        filled = np.interp(time, time[valid], position[valid])
        if speed_ok:
            first, last = np.flatnonzero(valid)[[0, -1]]
            before = time < time[first]
            after = time > time[last]
            filled[before] = position[first] + (time[before] - time[first]) * nominal_speed_mm_s
            filled[after] = position[last] + (time[after] - time[last]) * nominal_speed_mm_s
        return np.where(valid, position, filled)
    if not speed_ok:
        raise AnalysisError(
            f"{source}: conveyance positions are missing and the header gives no nominal speed; "
            "cannot place the image columns"
        )
    if valid.sum() == 1:
        anchor = np.flatnonzero(valid)[0]
        return position[anchor] + (time - time[anchor]) * nominal_speed_mm_s
    return time * nominal_speed_mm_s


def resampling_weights(position_mm: np.ndarray, grid_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the linear-interpolation neighbours and weights of ``grid_mm`` in ``position_mm``.

    Parameters
    ----------
    position_mm : numpy.ndarray
        Column positions (mm) of one energy's pulses, in acquisition order.
    grid_mm : numpy.ndarray
        Target positions (mm).

    Returns
    -------
    index_before, index_after : numpy.ndarray of int64
        Column indices (into the acquisition order) on either side of each target.
    weight_after : numpy.ndarray of float32
        Weight of ``index_after``; outside the covered range the nearest column is used.

    Examples
    --------
    >>> i0, i1, w = resampling_weights(np.array([0.0, 2.0, 4.0]), np.array([1.0, 4.0]))
    >>> i0.tolist(), i1.tolist(), w.tolist()
    ([0, 1], [1, 2], [0.5, 1.0])
    """
    position = np.asarray(position_mm, np.float64)
    order = np.argsort(position, kind="stable")
    sorted_position = position[order]
    count = sorted_position.size
    if count == 1:
        zeros = np.zeros(grid_mm.shape, np.int64)
        return order[zeros], order[zeros], np.zeros(grid_mm.shape, np.float32)
    after = np.clip(np.searchsorted(sorted_position, grid_mm, side="right"), 1, count - 1)
    before = after - 1
    span = sorted_position[after] - sorted_position[before]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(span > 0, (grid_mm - sorted_position[before]) / span, 0.0)
    weight = np.clip(weight, 0.0, 1.0).astype(np.float32)
    return order[before].astype(np.int64), order[after].astype(np.int64), weight


def _row_repair_plan(bad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows to repair and, for each, the good neighbours above/below and the weight of below."""
    rows = np.flatnonzero(bad)
    good = np.flatnonzero(~bad)
    if rows.size == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, np.empty(0, np.float32)
    position = np.searchsorted(good, rows)
    above = good[np.clip(position - 1, 0, good.size - 1)]
    below = good[np.clip(position, 0, good.size - 1)]
    above = np.where(position == 0, below, above)
    below = np.where(position == good.size, above, below)
    span = (below - above).astype(np.float64)
    weight = np.where(span > 0, (rows - above) / np.where(span > 0, span, 1.0), 0.0)
    return rows, above.astype(np.int64), below.astype(np.int64), weight.astype(np.float32)


def fit_noise_model(transmission: np.ndarray, dark_term: float) -> tuple[float, float] | None:
    """Fit the noise of ``T`` from pulse-to-pulse differences of the image itself.

    The air reference's standard deviation includes the linac's pulse-to-pulse output
    jitter, which the dose correction removes; the noise left in the corrected image
    is measured directly instead: in each row, differences of consecutive columns are
    noise (times √2) except at edges, which a median absolute deviation ignores.

    Parameters
    ----------
    transmission : numpy.ndarray
        Corrected transmission (dimensionless), some rows × consecutive pulses.
    dark_term : float
        Variance of ``T`` from the dark noise (``σ_dark² / gain²``).

    Returns
    -------
    (constant, shot, multiplicative) : tuple of float or None
        ``var_T = constant + shot·T + multiplicative·T²`` (``constant ≥ dark_term``); None
        when the image has too few pulses or levels to fit.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.repeat(np.geomspace(0.01, 1, 8)[:, None], 4000, axis=1)
    >>> noisy = t + np.sqrt(1e-5 * t) * rng.standard_normal(t.shape)
    >>> constant, shot, multiplicative = fit_noise_model(noisy, 0.0)
    >>> round(shot * 1e5, 1)
    1.0
    """
    t = np.asarray(transmission, np.float64)
    if t.ndim != 2 or t.shape[1] < 8:
        return None
    difference = np.diff(t, axis=1)
    level = 0.5 * (t[:, 1:] + t[:, :-1])
    valid = np.isfinite(difference) & np.isfinite(level) & (level > 1e-3)
    difference, level = difference[valid], level[valid]
    edges = np.geomspace(1e-3, 1.5, 16)
    which = np.digitize(level, edges)
    levels, variances, weights = [], [], []
    for k in range(1, edges.size):
        in_bin = which == k
        if np.count_nonzero(in_bin) < _NOISE_MIN_SAMPLES:
            continue
        d = difference[in_bin]
        mad = np.median(np.abs(d - np.median(d)))
        variance = (1.4826 * mad) ** 2 / 2.0
        levels.append(float(np.median(level[in_bin])))
        variances.append(variance)
        weights.append(1.0 / max((1.4826 * mad) ** 2 / 2.0, 1e-20))
    if len(levels) < 3:
        return None
    from scipy.optimize import nnls

    # The constant term is the dark noise, measured directly by the dark reference;
    # fitted from levels above 1e-3 it would be an extrapolation, and texture left in
    # the differences would inflate the noise near the starvation floor several-fold.
    levels_arr = np.asarray(levels)
    # Relative residuals: a variance measured from n differences is uncertain in
    # proportion to itself, so each bin is weighted by 1 / variance (not its square root).
    w = np.asarray(weights)
    design = np.stack([levels_arr, levels_arr**2], axis=1) * w[:, None]
    solution, _ = nnls(design, (np.asarray(variances) - dark_term) * w)
    return float(dark_term), float(solution[0]), float(solution[1])


def _repair_vector(values: np.ndarray, repair: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-row values with the repaired rows interpolated from their good neighbours."""
    rows, above, below, weight = repair
    out = np.array(values, dtype=np.float64, copy=True)
    if rows.size:
        out[rows] = out[above] * (1.0 - weight) + out[below] * weight
    return out


# --------------------------------------------------------------------------- hot path


def _correct_energy(
    backend: ArrayBackend,
    raw: Any,
    *,
    dark_mean: np.ndarray,
    gain: np.ndarray,
    dose_factor: np.ndarray,
    dark_var: np.ndarray,
    shot_var: np.ndarray,
    floor: np.ndarray,
    noise_from_data: bool,
    saturation: float | None,
    repair: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    resample: tuple[np.ndarray, np.ndarray, np.ndarray],
    scatter: tuple[ForwardScatter, float, float] | None = None,
) -> dict[str, Any]:
    """Steps 1–6 for one energy on the backend's arrays (one implementation for all)."""
    xp = backend.xp
    column = lambda v: backend.asarray(np.asarray(v, np.float32)[:, None])  # noqa: E731
    row = lambda v: backend.asarray(np.asarray(v, np.float32)[None, :])  # noqa: E731

    # In-place updates (``x -= y``: array-API augmented assignment) wherever possible: a
    # fresh full-size temporary costs more in page faults than the arithmetic itself.
    samples = backend.to_float(raw)  # new C-contiguous float32 array, one pass over the raw samples
    transmission = samples - column(dark_mean)
    transmission *= column(1.0 / gain)
    transmission *= row(dose_factor)

    if saturation is not None:
        saturated = samples >= saturation
        saturated_any = bool(xp.any(saturated))
    else:
        saturated, saturated_any = None, False

    rows, above, below, weight = repair
    if rows.size:
        take_rows = lambda a, idx: backend.take(a, backend.asarray(idx, backend.int_dtype), 0)  # noqa: E731
        w = column(weight)
        repaired_rows = take_rows(transmission, above) * (1.0 - w) + take_rows(transmission, below) * w
        transmission = backend.set_rows(transmission, rows, repaired_rows)
        if saturated_any:
            repaired_sat = take_rows(saturated, above) | take_rows(saturated, below)
            saturated = backend.set_rows(saturated, rows, repaired_sat)

    if scatter is not None:
        # A broad, smooth term: estimated on the host from the measured T (scatter is
        # a small fraction of it) and subtracted before the starvation floor is applied.
        model, row_mm, column_mm = scatter
        estimate = model.signal(backend.to_numpy(transmission), row_mm, column_mm)
        transmission -= backend.asarray(estimate.astype(np.float32, copy=False))

    # noise model of T: var_T = a_row + b·T + c·T² (dark, shot, multiplicative terms)
    dark_term = dark_var / gain**2
    shot_term, multiplicative_term, noise_source = shot_var / gain**2, 0.0, "references"
    if noise_from_data:
        step = max(1, transmission.shape[0] // _NOISE_SAMPLE_ROWS)
        fitted = fit_noise_model(backend.to_numpy(transmission[::step]), float(np.median(dark_term)))
        if fitted is not None:
            dark_term = np.maximum(dark_term, fitted[0])
            shot_term = np.full(gain.shape, fitted[1])
            multiplicative_term, noise_source = fitted[2], "image"

    # α on the pulses' own positions, then resampled: interpolating α (not T) keeps an
    # edge sampled half a column apart by the two energies unbiased (averaging T across
    # an edge always lowers α and would make edges look heavier at one energy)
    floor_col = column(floor)
    starved = transmission < floor_col
    unclipped = transmission
    attenuation = xp.maximum(transmission, floor_col)
    attenuation = xp.log(attenuation)
    attenuation *= -1.0

    before, after, weight_after = resample
    identity = (
        before.size == transmission.shape[1]
        and np.array_equal(before, np.arange(before.size))
        and not np.any(weight_after > 0)
    )
    if not identity:
        idx0 = backend.asarray(before, backend.int_dtype)
        idx1 = backend.asarray(after, backend.int_dtype)
        w = row(weight_after)
        a0 = backend.take(attenuation, idx0, 1)
        a1 = backend.take(attenuation, idx1, 1)
        a1 -= a0
        a1 *= w
        a1 += a0
        attenuation = a1
        use0 = backend.asarray((weight_after < 1.0 - _WEIGHT_EPS)[None, :])
        use1 = backend.asarray((weight_after > _WEIGHT_EPS)[None, :])
        starved = (backend.take(starved, idx0, 1) & use0) | (backend.take(starved, idx1, 1) & use1)
        if saturated_any:
            saturated = (backend.take(saturated, idx0, 1) & use0) | (backend.take(saturated, idx1, 1) & use1)
    if not saturated_any:
        saturated = xp.zeros(attenuation.shape, dtype=backend.bool_dtype, device=backend.device)

    transmission = xp.exp(-attenuation)
    # var_T = a + T (b + c T), σ_α = sqrt(var_T) / T
    variance = transmission * multiplicative_term
    variance += column(shot_term)
    variance *= transmission
    variance += column(dark_term)
    sigma = xp.sqrt(variance)
    sigma /= transmission
    # the transmission kept is unclipped: exp(−α) where no pulse was starved, and where one
    # was, the pulses' own (noisy, possibly negative) values resampled the same way
    rows_starved, columns_starved = xp.nonzero(starved)
    if int(rows_starved.shape[0]):
        if identity:
            values = unclipped[rows_starved, columns_starved]
        else:
            columns_host = backend.to_numpy(columns_starved)
            first = backend.asarray(before[columns_host], backend.int_dtype)
            second = backend.asarray(after[columns_host], backend.int_dtype)
            share = backend.asarray(weight_after[columns_host].astype(np.float32))
            values = unclipped[rows_starved, first]
            values = values + (unclipped[rows_starved, second] - values) * share
        transmission[rows_starved, columns_starved] = values
    rows_count = int(transmission.shape[0])
    noise = {
        "constant": np.broadcast_to(np.asarray(dark_term, np.float64), (rows_count,)).copy(),
        "shot": np.broadcast_to(np.asarray(shot_term, np.float64), (rows_count,)).copy(),
        "multiplicative": float(multiplicative_term),
    }
    return {
        "noise_source": noise_source,
        "noise": noise,
        "transmission": transmission,
        "attenuation": attenuation,
        "sigma": sigma,
        "saturated": saturated,
        "starved": starved,
    }


# --------------------------------------------------------------------------- public


def _reference(references: Any, energy: int) -> Any:
    """The reference of one energy, or None when there is none."""
    if references is None:
        return None
    try:
        return references[energy]
    except (IndexError, KeyError, TypeError):
        return None


def correct(
    scan: Any,
    *,
    backend: str | ArrayBackend = "numpy",
    device: str | None = None,
    starvation_sigmas: float = DEFAULT_STARVATION_SIGMAS,
    noise_from_data: bool = True,
    scatter: ForwardScatter | None | str = "reference",
) -> AnalysedImage:
    """Correct a raw dual-energy scan and resample it onto the analysed grid.

    Parameters
    ----------
    scan : scanner_io.Scan
        Raw frames per energy (rows × pulses, rows top-down), dark and air references
        per energy (per-channel mean and std in counts, mean dose in monitor units),
        dose (monitor units) and conveyance positions (mm) per pulse.
    backend : {"numpy", "torch"} or ArrayBackend
        Array library that runs the per-pixel arithmetic.
    device : str, optional
        ``"cpu"`` (default) or ``"cuda"`` for the torch backend.
    starvation_sigmas : float
        Photon-starvation floor, in dark-noise standard deviations (dimensionless).
    noise_from_data : bool
        Fit the noise of ``T`` from the image's pulse-to-pulse differences
        (:func:`fit_noise_model`); the air reference's spread, which includes the
        linac's output jitter, is the fallback.
    scatter : ForwardScatter, None or "reference"
        Forward-scatter model to subtract (:mod:`nii.scatter`); ``"reference"`` (default)
        is the reference scanner's, None subtracts nothing.

    Returns
    -------
    AnalysedImage
        Arrays on the host (numpy), whatever the backend.

    Raises
    ------
    nii.errors.AnalysisError
        Fewer than two energies, no object pulses, no air reference, inconsistent
        shapes, or no usable channel.

    Notes
    -----
    ``T = (raw − dark) / (air − dark) × dose_air / dose_pulse`` (NXR spec); the
    noise of ``α`` is ``σ_α = σ_S / S`` with ``σ_S² = σ_dark² + (σ_air² − σ_dark²)·T``
    from the air and dark reference statistics.

    Examples
    --------
    >>> from scanner_io import load_scan          # doctest: +SKIP
    >>> image = correct(load_scan("scan.nxr"))    # doctest: +SKIP
    >>> image.attenuation_high.shape              # doctest: +SKIP
    (1024, 4000)
    """
    array_backend = get_backend(backend, device)
    source = str(getattr(scan, "path", None) or getattr(getattr(scan, "header", None), "scan_id", "scan"))
    header = getattr(scan, "header", None)
    frames = list(getattr(scan, "frames", None) or [])
    if len(frames) < 2:
        raise AnalysisError(f"{source}: dual-energy analysis needs two energies, the scan has {len(frames)}")
    frames = frames[:2]
    channel = np.asarray(getattr(scan, "channel", np.arange(np.asarray(frames[0].raw).shape[0])), np.int32)
    rows = channel.size
    for energy, frame in enumerate(frames):
        raw = np.asarray(frame.raw)
        if raw.ndim != 2 or raw.shape[0] != rows:
            raise AnalysisError(
                f"{source}: energy {energy} frames have shape {raw.shape}, expected {rows} rows × pulses"
            )
        if raw.shape[1] == 0:
            raise AnalysisError(f"{source}: no object pulses at energy index {energy}")
        for name in ("time_s", "position_mm", "position_valid", "dose", "dose_valid"):
            values = np.asarray(getattr(frame, name))
            if values.shape != (raw.shape[1],):
                raise AnalysisError(
                    f"{source}: energy {energy} field {name} has shape {values.shape}, expected ({raw.shape[1]},)"
                )

    speed_mps = getattr(header, "nominal_speed_mps", None)
    speed_mm_s = None if speed_mps is None else float(speed_mps) * 1000.0
    positions = [
        fill_positions(f.position_mm, f.position_valid, f.time_s, speed_mm_s, source=source) for f in frames
    ]
    grid = analysis_grid(positions[0])
    if grid.size == 0 or not np.all(np.isfinite(grid)):
        raise AnalysisError(f"{source}: no finite conveyance position for the high-energy pulses")

    saturation = getattr(header, "saturation", None)
    listed = set(int(c) for c in (getattr(scan, "bad_channels", None) or getattr(header, "bad_channels", None) or []))
    bad_listed = np.isin(channel, np.fromiter(listed, np.int64, len(listed))) if listed else np.zeros(rows, bool)

    notes: list[str] = []
    per_energy: list[dict[str, Any]] = []
    bad_rows_all = bad_listed.copy()
    references = []
    for energy in range(len(frames)):
        air = _reference(getattr(scan, "air", None), energy)
        dark = _reference(getattr(scan, "dark", None), energy)
        if air is None:
            raise AnalysisError(
                f"{source}: no air reference for energy index {energy}; give the scan's air file (load_scan(..., air=...))"
            )
        air_mean = np.asarray(air.mean, np.float64)
        air_std = np.asarray(air.std, np.float64)
        if dark is None:
            notes.append(f"no dark reference for energy {energy}: zero offset assumed")
            dark_mean = np.zeros(rows)
            dark_std = np.zeros(rows)
        else:
            dark_mean = np.asarray(dark.mean, np.float64)
            dark_std = np.asarray(dark.std, np.float64)
        for name, values in (("air mean", air_mean), ("air std", air_std), ("dark mean", dark_mean), ("dark std", dark_std)):
            if values.shape != (rows,):
                raise AnalysisError(f"{source}: {name} of energy {energy} has {values.size} channels, expected {rows}")
        bad_rows_all |= find_bad_channels(dark_mean, air_mean, air_std)
        references.append((air, air_mean, air_std, dark_mean, dark_std))

    pitch = getattr(header, "pitch_mm", None)
    sod = getattr(header, "source_to_object_mm", None)
    sdd = getattr(header, "source_to_detector_mm", None)
    try:
        row_height = row_height_mm(float(pitch), float(sod), float(sdd))
    except (TypeError, ValueError):
        row_height = float(pitch) if pitch else float("nan")
        notes.append("geometry incomplete: row height taken as the detector pitch")
    column_pitch = float(grid[1] - grid[0]) if grid.size > 1 else float("nan")
    if isinstance(scatter, str):
        if scatter != "reference":
            raise ValueError(f"scatter must be a ForwardScatter, None or 'reference', got {scatter!r}")
        scatter = reference_scatter()
    if scatter is not None and scatter.fraction > 0 and not (math.isfinite(row_height) and row_height > 0):
        notes.append("forward scatter not subtracted: the row height at the scan plane is unknown")
        scatter = None

    if bad_rows_all.all():
        raise AnalysisError(f"{source}: every detector channel is dead or noisy in the air reference")
    repair = _row_repair_plan(bad_rows_all)

    for energy, frame in enumerate(frames):
        air, air_mean, air_std, dark_mean, dark_std = references[energy]
        gain = air_mean - dark_mean
        gain = np.where(bad_rows_all | ~(gain > 0), 1.0, gain)
        dose = np.asarray(frame.dose, np.float64)
        dose_air = getattr(air, "dose_mean", None)
        dose_ok = np.asarray(frame.dose_valid, bool) & np.isfinite(dose) & (dose > 0)
        if dose_air is not None and np.isfinite(dose_air) and dose_air > 0:
            dose_factor = np.where(dose_ok, dose_air / np.where(dose_ok, dose, 1.0), 1.0)
        else:
            dose_factor = np.ones(dose.shape)
            if dose_ok.any():
                notes.append(f"energy {energy}: the air reference has no dose; dose correction skipped")
        dark_sd = np.maximum(np.nan_to_num(dark_std), MIN_DARK_STD_COUNTS)
        # repaired rows take their neighbours' gain and noise (their own are meaningless)
        gain = _repair_vector(gain, repair)
        dark_sd = _repair_vector(dark_sd, repair)
        air_sd = _repair_vector(np.nan_to_num(air_std), repair)
        dark_var = dark_sd**2
        shot_var = np.maximum(air_sd**2 - dark_var, 0.0)
        floor = starvation_sigmas * dark_sd / gain
        resample = resampling_weights(positions[energy], grid)
        steps = np.diff(positions[energy])
        steps = steps[np.isfinite(steps) & (steps > 0)]
        pulse_mm = float(np.median(steps)) if steps.size else column_pitch
        use_scatter = (scatter, row_height, pulse_mm) if scatter is not None and scatter.fraction > 0 and pulse_mm > 0 else None
        per_energy.append(
            _correct_energy(
                array_backend,
                np.asarray(frame.raw),
                dark_mean=dark_mean,
                gain=gain,
                dose_factor=dose_factor,
                dark_var=dark_var,
                shot_var=shot_var,
                floor=floor,
                noise_from_data=noise_from_data,
                saturation=None if saturation is None else float(saturation),
                repair=repair,
                resample=resample,
                scatter=use_scatter,
            )
        )

    host = array_backend.to_numpy
    high, low = per_energy
    columns = grid.size
    repaired = np.broadcast_to(bad_rows_all[:, None], (rows, columns)).copy()


    saturated_high, saturated_low = host(high["saturated"]).astype(bool), host(low["saturated"]).astype(bool)
    starved_high, starved_low = host(high["starved"]).astype(bool), host(low["starved"]).astype(bool)
    provenance = {
        "input_sha256": getattr(scan, "sha256", None),
        "software": f"nii {__version__}",
        "backend": array_backend.name,
        "device": array_backend.device,
        "repaired_channels": [int(c) for c in channel[bad_rows_all]],
        "starvation_sigmas": float(starvation_sigmas),
        "forward_scatter": None if scatter is None else {"fraction": float(scatter.fraction), "sigma_mm": float(scatter.sigma_mm)},
        "noise_model": [high["noise_source"], low["noise_source"]],
        "notes": notes,
    }
    return AnalysedImage(
        attenuation_high=host(high["attenuation"]),
        attenuation_low=host(low["attenuation"]),
        transmission_high=host(high["transmission"]),
        transmission_low=host(low["transmission"]),
        sigma_high=host(high["sigma"]),
        sigma_low=host(low["sigma"]),
        saturated=saturated_high | saturated_low,
        starved=starved_high | starved_low,
        repaired=repaired,
        position_mm=grid,
        channel=channel,
        row_height_mm=row_height,
        column_pitch_mm=column_pitch,
        energies_mev=[float(e) for e in list(getattr(scan, "energies_mev", []) or [])[:2]],
        scan_id=str(getattr(header, "scan_id", "") or ""),
        provenance=provenance,
        starved_high=starved_high,
        starved_low=starved_low,
        saturated_high=saturated_high,
        saturated_low=saturated_low,
        noise_high=high["noise"],
        noise_low=low["noise"],
    )
