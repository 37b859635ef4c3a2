"""Acquisition model of the simulated line scanner: from path lengths to raw samples.

Pure array functions, no I/O. :func:`acquire` strings them together for one scene:

1. **Pulse schedule** (:func:`pulse_schedule`): DARK records (beam off), then AIR
   records (beam on, nothing in the beam) for every energy, then object pulses;
   energies interlace ``0, 1, 0, 1, …`` (0 = highest).
2. **Conveyance** (:func:`conveyance_positions`): the object moves at a mean speed with
   a slow, smoothed random-walk variation (bounded by ``speed_variation``); the
   encoder records positions quantised to ``encoder_resolution_mm``.
3. **Linac output** (:func:`linac_dose`): pulse-to-pulse jitter and a slow drift; the
   dose monitor reads it with its own small noise.
4. **Transmission** (:func:`transmission_moments`): the signal-weighted transmission
   ``T1 = Σ w_i exp(−Σ_m μ_m(E_i) ρt_m)`` of each pixel and its second-moment
   companion ``T2`` (weights ``w_i E_i``), which sets the quantum noise. Both are
   **averaged over point sub-rays** inside each pixel's aperture
   (:func:`aperture_transmission_moments`, ``subray_rows × subray_columns`` of the
   configuration), as the detector averages the fluence: a thin dense sheet seen
   edge-on over a fraction ``f`` of a pixel gives ``f·T(L) + (1 − f)``, not the far
   darker ``T(f·L)`` of the mean path.
5. **Detector** (:func:`detector_signal`): blur of the expected signal along channels
   and along the conveyance, a broad forward-scatter term, compound-Poisson quantum
   noise, electronic noise, per-channel gain and dark offset, dead and noisy channels,
   quantisation and saturation at the ADC full scale.

Noise model (energy-integrating detector)
-----------------------------------------
A channel sees ``N`` detected photons (Poisson, mean ``N_air × dose`` in air) and adds
their deposited energies, so the signal is compound Poisson: mean ``N·E[E_dep]``,
variance ``N·E[E_dep²]``. Deposited energy is taken as the photon energy of each
detected photon (**full-absorption approximation** of the moments; the beam's signal
weights ``w_i`` already carry the detector's response). In ADU, with gain ``g``::

    mean = A g d T1,     variance = (A g)² d T2 / N_eq,    N_eq = N_air Ē² / E[E²]

(``A`` the air level, ``d`` the relative dose, ``N_eq`` the equivalent quanta: the
Swank factor ``Ē²/E[E²]`` times the photon count). Where the equivalent count
``mean²/variance`` is at least :data:`GAUSSIAN_MIN_QUANTA` the noise is drawn as a
Gaussian of that variance (**Gaussian approximation**); below it as a scaled Poisson
``c·K`` with the same mean and variance, which stays non-negative when the beam is
starved. Noise in α = −ln T therefore has variance ``T2 / (d T1² N_eq)``, inversely
proportional to the flux.

Blur and scatter
----------------
The blur (Gaussian, ``blur_channels`` pitches across channels and ``blur_mm`` along the
conveyance) acts on the expected signal: it models the focal spot, crosstalk and the
beam width; the noise is drawn per pixel after it. **Forward scatter** adds
``scatter_fraction × (1 − T1)`` of the air signal, spread by a broad Gaussian
(``scatter_sigma_mm``, computed on a coarser grid): energy removed from the beam that still
reaches the detector. Its size is bounded by
:data:`nii.simulate.scanner.MAX_SCATTER_FRACTION`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nii.errors import SimulationError
from nii.scatter import broad_gaussian
from nii.simulate.scanner import ScannerConfig
from scanner_io import FLAG_AIR, FLAG_DARK, FLAG_DOSE_VALID, FLAG_POSITION_VALID

__all__ = [
    "GAUSSIAN_MIN_QUANTA",
    "MAX_SCAN_SAMPLES",
    "BeamMoments",
    "PulseSchedule",
    "ChannelResponse",
    "Acquisition",
    "pulse_schedule",
    "conveyance_positions",
    "linac_dose",
    "channel_response",
    "SUBRAY_TRANSMISSION_TOLERANCE",
    "transmission_moments",
    "subray_offsets",
    "aperture_transmission_moments",
    "blur_expected",
    "scatter_signal",
    "detector_signal",
    "acquire",
    "object_pulse_count",
]


#: Equivalent quanta per pixel above which quantum noise is drawn as a Gaussian.
GAUSSIAN_MIN_QUANTA = 64.0

#: Largest number of pixel × energy-bin products evaluated at once (memory bound).
_CHUNK_ELEMENTS = 4_000_000

#: Largest number of sub-ray path lengths (materials × sub-rows × sub-columns) asked of
#: a scene at once (float32: 32 MB).
_SUBRAY_CHUNK_ELEMENTS = 8_000_000

#: Sub-ray values summarised per band of rows (fits a CPU cache: 1 MB of float32).
_SUMMARY_BAND_ELEMENTS = 262_144

#: Largest error (absolute, on T1 and T2) allowed when a pixel's transmission is taken
#: at the mean of its sub-rays' areal densities instead of averaged over them. The
#: bound ``(Σ_m μ_rms,m Δa_m)² / 8`` (see :func:`aperture_transmission_moments`) stays
#: below it for sub-ray spreads up to about 0.25 g/cm² of iron at 6 MeV; pixels with
#: larger spreads (edges, thin sheets, curved chords) are averaged sub-ray by sub-ray.
SUBRAY_TRANSMISSION_TOLERANCE = 1.0e-5

#: Most samples (channels × pulses) one simulated scan may hold: 2,048 channels ×
#: about 73,000 pulses; the working arrays stay within a few GB.
MAX_SCAN_SAMPLES = 150_000_000


# --------------------------------------------------------------------- beams
@dataclass(frozen=True)
class BeamMoments:
    """What the noise model needs of one energy's effective beam.

    Parameters
    ----------
    endpoint_mev : float
        Nominal endpoint energy, MeV.
    energy_mev : numpy.ndarray
        Energy bins, MeV, shape ``(E,)``.
    signal_weight : numpy.ndarray
        Fraction of the air signal carried by each bin (sums to 1), shape ``(E,)``.

    Notes
    -----
    Under the full-absorption approximation detected photons in bin ``i`` number
    ``∝ w_i / E_i`` and deposit ``E_i`` each; :attr:`second_moment_weight` (``∝ w_i E_i``)
    and :attr:`swank_factor` (``Ē² / E[E²]``) follow.
    """

    endpoint_mev: float
    energy_mev: np.ndarray
    signal_weight: np.ndarray

    def __post_init__(self) -> None:
        energy = np.asarray(self.energy_mev, dtype=np.float64)
        weight = np.asarray(self.signal_weight, dtype=np.float64)
        if energy.ndim != 1 or energy.shape != weight.shape or energy.size == 0:
            raise SimulationError("beam: energy_mev and signal_weight must be 1-D of equal length")
        if not (np.all(np.isfinite(energy)) and np.all(energy > 0)
                and np.all(np.isfinite(weight)) and np.all(weight >= 0) and weight.sum() > 0):
            raise SimulationError("beam: energies must be positive and weights non-negative")
        keep = weight > 0
        object.__setattr__(self, "energy_mev", energy[keep])
        object.__setattr__(self, "signal_weight", weight[keep] / weight[keep].sum())

    @property
    def second_moment_weight(self) -> np.ndarray:
        """Weights ``w_i E_i / Σ w E`` of the signal's second moment (variance)."""
        product = self.signal_weight * self.energy_mev
        return product / product.sum()

    @property
    def swank_factor(self) -> float:
        """``Ē² / E[E²]`` of the detected photons (equivalent quanta per photon, ≤ 1)."""
        w, e = self.signal_weight, self.energy_mev
        return float(1.0 / (np.sum(w / e) * np.sum(w * e)))


# ------------------------------------------------------------------ schedule
@dataclass(frozen=True)
class PulseSchedule:
    """Which pulse is which: energies, flags and the object pulses.

    Attributes
    ----------
    energy_index : numpy.ndarray of uint8
        Energy of each pulse (0 = highest).
    dark, air : numpy.ndarray of bool
        Reference pulses (beam off; beam on and nothing in the beam).
    object_start : int
        Index of the first pulse after the references.
    """

    energy_index: np.ndarray
    dark: np.ndarray
    air: np.ndarray
    object_start: int

    @property
    def count(self) -> int:
        """Total number of pulses."""
        return int(self.energy_index.size)


def pulse_schedule(config: ScannerConfig, object_pulses: int) -> PulseSchedule:
    """Return the pulse schedule: DARK, then AIR, then object pulses, interlaced.

    Parameters
    ----------
    config : ScannerConfig
        Scanner settings (energies, reference pulses per energy).
    object_pulses : int
        Number of pulses after the references (rounded up to whole energy cycles).

    Returns
    -------
    PulseSchedule
    """
    n_energies = config.energy_count
    object_pulses = int(np.ceil(max(object_pulses, n_energies) / n_energies) * n_energies)
    n_dark = config.dark_pulses * n_energies
    n_air = config.air_pulses * n_energies
    total = n_dark + n_air + object_pulses
    index = np.arange(total)
    energy_index = (index % n_energies).astype(np.uint8)
    dark = index < n_dark
    air = (index >= n_dark) & (index < n_dark + n_air)
    return PulseSchedule(energy_index, dark, air, n_dark + n_air)


def object_pulse_count(config: ScannerConfig, object_length_mm: float) -> int:
    """Return the number of object pulses needed to carry the object and its margins.

    Parameters
    ----------
    config : ScannerConfig
        Scanner settings (``pulses`` overrides the speed-based count).
    object_length_mm : float
        Length of the object along the conveyance, mm.

    Returns
    -------
    int
        Object pulses, a whole number of energy cycles.
    """
    n_energies = config.energy_count
    if config.pulses is not None:
        count = config.pulses - config.reference_pulses
    else:
        step_mm = config.nominal_speed_mps * 1000.0 / config.pulse_rate_hz
        count = int(np.ceil((object_length_mm + 2.0 * config.margin_mm) / step_mm)) + 1
    if count > 2_000_000:
        raise SimulationError(
            f"scan of {object_length_mm:.0f} mm would need {count} pulses: raise the speed or set pulses"
        )
    return max(n_energies, count - count % n_energies)


# ---------------------------------------------------------------- conveyance
def conveyance_positions(
    config: ScannerConfig,
    schedule: PulseSchedule,
    object_length_mm: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the time, true position and encoder position of every pulse.

    Parameters
    ----------
    config : ScannerConfig
        Pulse rate, speed variation, correlation time, encoder resolution, margin.
    schedule : PulseSchedule
        The pulses; the object travels from ``-margin_mm`` at the first object pulse
        to ``object_length_mm + margin_mm`` at the last.
    object_length_mm : float
        Object length along the conveyance, mm (scene coordinate 0 is its front).
    rng : numpy.random.Generator
        Source of the speed variation.

    Returns
    -------
    time_s : numpy.ndarray of float64
        Time since the start of the scan, s.
    position_mm : numpy.ndarray of float64
        True object displacement, mm.
    encoder_mm : numpy.ndarray of float64
        Encoder reading: the true position quantised to the encoder resolution, mm.
    """
    total = schedule.count
    dt = 1.0 / config.pulse_rate_hz
    time_s = np.arange(total, dtype=np.float64) * dt
    # Smoothed random walk of the relative speed, bounded by speed_variation.
    steps = rng.standard_normal(total)
    variation = np.cumsum(steps)
    sigma_pulses = max(config.speed_correlation_s * config.pulse_rate_hz, 1.0)
    variation = ndimage.gaussian_filter1d(variation, sigma_pulses / 4.0, mode="nearest")
    variation -= variation.mean()
    span = np.max(np.abs(variation))
    relative = np.zeros(total) if span == 0 else variation / span * config.speed_variation
    speed = 1.0 + relative  # relative to the mean
    travel = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    start = schedule.object_start
    distance = object_length_mm + 2.0 * config.margin_mm
    span_travel = travel[-1] - travel[start]
    scale = distance / span_travel if span_travel > 0 else 0.0
    position_mm = (travel - travel[start]) * scale - config.margin_mm
    resolution = config.encoder_resolution_mm
    encoder_mm = np.round(position_mm / resolution) * resolution
    return time_s, position_mm, encoder_mm


# --------------------------------------------------------------------- dose
def linac_dose(
    config: ScannerConfig, schedule: PulseSchedule, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return the relative output of every pulse and the dose monitor's reading.

    Parameters
    ----------
    config : ScannerConfig
        ``dose_jitter`` (pulse to pulse), ``dose_drift`` (slow, correlation time
        ``dose_drift_s``), monitor level and noise.
    schedule : PulseSchedule
        The pulses; dark pulses have no beam (output 0).
    rng : numpy.random.Generator
        Source of the fluctuations.

    Returns
    -------
    relative_dose : numpy.ndarray of float64
        Output relative to nominal (1.0) per pulse; 0 for dark pulses.
    monitor : numpy.ndarray of float32
        Dose monitor reading, arbitrary units (level × relative output per energy,
        with the monitor's own noise; near 0 for dark pulses).
    """
    total = schedule.count
    jitter = 1.0 + config.dose_jitter * rng.standard_normal(total)
    drift_pulses = max(config.dose_drift_s * config.pulse_rate_hz / 4.0, 1.0)
    walk = ndimage.gaussian_filter1d(np.cumsum(rng.standard_normal(total)), drift_pulses, mode="nearest")
    walk -= walk.mean()
    span = np.max(np.abs(walk))
    drift = 1.0 + (walk / span * config.dose_drift if span > 0 else 0.0)
    relative = np.clip(jitter * drift, 0.05, None)
    relative[schedule.dark] = 0.0
    ratio = np.asarray(config.photons_air) / config.photons_air[0]
    level = config.dose_monitor_level * ratio[schedule.energy_index]
    monitor_noise = config.dose_monitor_noise * rng.standard_normal(total)
    monitor = level * (relative + monitor_noise)
    return relative, monitor.astype(np.float32)


# ------------------------------------------------------------------ channels
@dataclass(frozen=True)
class ChannelResponse:
    """Per-channel properties of the detector (channel order, not image rows).

    Attributes
    ----------
    gain : numpy.ndarray of float64
        Relative gain (1 nominal; 0 for dead channels).
    dark_adu : numpy.ndarray of float64
        Dark offset, ADU.
    read_noise_adu : numpy.ndarray of float64
        Electronic noise standard deviation, ADU.
    dead, noisy : numpy.ndarray of int
        Dead and noisy channel numbers.
    listed_bad : list of int
        Channels the header's ``bad_channels`` lists: all dead ones and about half the
        noisy ones (a real list is never complete).
    """

    gain: np.ndarray
    dark_adu: np.ndarray
    read_noise_adu: np.ndarray
    dead: np.ndarray
    noisy: np.ndarray
    listed_bad: list[int]


def channel_response(config: ScannerConfig, rng: np.random.Generator) -> ChannelResponse:
    """Draw gains, dark offsets, dead and noisy channels of one detector.

    Parameters
    ----------
    config : ScannerConfig
        ``channels``, ``gain_spread``, ``dark_level_adu``, ``dark_spread_adu``,
        ``electronic_noise_adu``, ``dead_channels``, ``noisy_channels``, ``noisy_factor``.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    ChannelResponse
    """
    n = config.channels
    gain = 1.0 + config.gain_spread * np.clip(rng.standard_normal(n), -3.0, 3.0)
    dark = config.dark_level_adu + config.dark_spread_adu * np.clip(rng.standard_normal(n), -3.0, 3.0)
    chosen = rng.permutation(n)[: config.dead_channels + config.noisy_channels]
    dead = np.sort(chosen[: config.dead_channels])
    noisy = np.sort(chosen[config.dead_channels:])
    gain[dead] = 0.0
    read_noise = np.full(n, config.electronic_noise_adu, dtype=np.float64)
    read_noise[noisy] *= config.noisy_factor
    listed_noisy = noisy[: (noisy.size + 1) // 2] if noisy.size > 1 else noisy[:0]
    listed = sorted(int(c) for c in np.concatenate([dead, listed_noisy]))
    return ChannelResponse(gain, dark, read_noise, dead, noisy, listed)


# -------------------------------------------------------------- transmission
def _moments_direct(areal: np.ndarray, mu: np.ndarray, beam: BeamMoments) -> tuple[np.ndarray, np.ndarray]:
    """T1 and T2 of areal densities ``(M, P)`` g/cm² by direct evaluation, chunked."""
    m, p = areal.shape
    t1 = np.empty(p, dtype=np.float64)
    t2 = np.empty(p, dtype=np.float64)
    w1 = beam.signal_weight
    w2 = beam.second_moment_weight
    chunk = max(1, _CHUNK_ELEMENTS // max(mu.shape[1], 1))
    for start in range(0, p, chunk):
        stop = min(start + chunk, p)
        exponent = areal[:, start:stop].T @ mu  # (P, E)
        np.negative(exponent, out=exponent)
        np.exp(exponent, out=exponent)
        t1[start:stop] = exponent @ w1
        t2[start:stop] = exponent @ w2
    return t1, t2


def transmission_moments(
    areal_density_g_cm2: np.ndarray,
    mass_attenuation_cm2_g: np.ndarray,
    beam: BeamMoments,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the signal and second-moment transmissions of an image of material stacks.

    Parameters
    ----------
    areal_density_g_cm2 : numpy.ndarray
        Areal density of each material along each ray, g/cm², shape ``(M, R, C)``.
    mass_attenuation_cm2_g : numpy.ndarray
        Mass attenuation coefficient of each material on the beam's energy bins,
        cm²/g, shape ``(M, E)``.
    beam : BeamMoments
        The effective beam of this energy.

    Returns
    -------
    T1 : numpy.ndarray of float64, shape ``(R, C)``
        Signal-weighted transmission ``Σ w_i exp(−Σ_m μ_m,i a_m)`` (what the detector's
        mean signal follows).
    T2 : numpy.ndarray of float64, shape ``(R, C)``
        The same with weights ``∝ w_i E_i`` (what the quantum-noise variance follows).

    Notes
    -----
    Scenes are piecewise constant, so identical neighbouring columns and, inside a
    column, identical neighbouring rows are evaluated once (run-length sharing); the
    result is the same as evaluating every pixel.
    """
    areal = np.asarray(areal_density_g_cm2, dtype=np.float64)
    mu = np.asarray(mass_attenuation_cm2_g, dtype=np.float64)
    if areal.ndim != 3 or mu.ndim != 2 or mu.shape[0] != areal.shape[0]:
        raise SimulationError(
            f"transmission: areal density must be (M, R, C) and attenuation (M, E); got "
            f"{areal.shape} and {mu.shape}"
        )
    if mu.shape[1] != beam.energy_mev.size:
        raise SimulationError("transmission: attenuation table and beam have different energy bins")
    m, rows, cols = areal.shape
    if m == 0 or rows == 0 or cols == 0:
        return np.ones((rows, cols)), np.ones((rows, cols))
    # Runs of identical columns, then runs of identical rows inside the distinct columns.
    if cols > 1:
        new_column = np.concatenate([[True], np.any(areal[:, :, 1:] != areal[:, :, :-1], axis=(0, 1))])
    else:
        new_column = np.array([True])
    column_label = np.cumsum(new_column) - 1
    distinct = areal[:, :, new_column]  # (M, R, K)
    if rows > 1:
        new_row = np.concatenate(
            [np.ones((1, distinct.shape[2]), dtype=bool),
             np.any(distinct[:, 1:, :] != distinct[:, :-1, :], axis=0)], axis=0)
    else:
        new_row = np.ones((1, distinct.shape[2]), dtype=bool)
    # Column-major walk so that each column's first row starts a run.
    starts = new_row.T.ravel()
    label = np.cumsum(starts) - 1
    unique_stacks = distinct.transpose(0, 2, 1).reshape(m, -1)[:, starts]
    t1_u, t2_u = _moments_direct(unique_stacks, mu, beam)
    k = distinct.shape[2]
    t1 = t1_u[label].reshape(k, rows).T[:, column_label]
    t2 = t2_u[label].reshape(k, rows).T[:, column_label]
    return t1, t2


def subray_offsets(count: int, aperture_mm: float) -> np.ndarray:
    """Return the offsets of ``count`` point rays centred in equal parts of an aperture.

    Parameters
    ----------
    count : int
        Number of sub-rays (≥ 1).
    aperture_mm : float
        Width of the pixel's aperture, mm.

    Returns
    -------
    numpy.ndarray of float64, shape ``(count,)``
        Offsets from the pixel centre, mm: ``((k + ½) / count − ½) × aperture``.

    Examples
    --------
    >>> subray_offsets(4, 4.0).tolist()
    [-1.5, -0.5, 0.5, 1.5]
    """
    if not (isinstance(count, (int, np.integer)) and count >= 1):
        raise SimulationError(f"sub-rays: count must be a positive integer, got {count!r}")
    return ((np.arange(int(count)) + 0.5) / int(count) - 0.5) * float(aperture_mm)


def _rms_attenuation(mu: np.ndarray, beam: BeamMoments) -> np.ndarray:
    """Per material, the larger of the T1- and T2-weighted RMS of μ over the bins (cm²/g)."""
    squared = mu * mu
    return np.sqrt(np.maximum(squared @ beam.signal_weight, squared @ beam.second_moment_weight))


def aperture_transmission_moments(
    areal_subrays_g_cm2: np.ndarray,
    mass_attenuation_cm2_g: np.ndarray,
    beam: BeamMoments,
    *,
    tolerance: float = SUBRAY_TRANSMISSION_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Return T1 and T2 of each pixel averaged over its point sub-rays.

    Parameters
    ----------
    areal_subrays_g_cm2 : numpy.ndarray, shape ``(M, R, Sr, C, Sc)``
        Areal density (g/cm²) of each of ``M`` materials along the sub-ray ``(sr, sc)``
        of pixel ``(r, c)``: ``Sr`` sub-rows by ``Sc`` sub-columns per pixel.
    mass_attenuation_cm2_g : numpy.ndarray, shape ``(M, E)``
        Mass attenuation of the materials on the beam's energy bins, cm²/g.
    beam : BeamMoments
        The effective beam of this energy.
    tolerance : float
        Largest absolute error (dimensionless transmission) accepted on T1 and T2 where a
        pixel is evaluated once, at the mean of its sub-rays; 0 averages every pixel
        whose sub-rays differ at all, ``inf`` none (the mean path, for comparison).

    Returns
    -------
    T1, T2 : numpy.ndarray of float64, shape ``(R, C)``
        Mean over the sub-rays of the signal and second-moment transmissions
        (:func:`transmission_moments`): what the detector pixel records.

    Notes
    -----
    A pixel records the mean fluence over its aperture, ``⟨exp(−μL)⟩``, which for a thin
    dense sheet seen edge-on is far brighter than ``exp(−μ⟨L⟩)``. Exactly, both moments
    are the mean over the sub-rays. Fast path: most pixels of a scene are uniform over
    their aperture, and for them the mean of the sub-rays equals one evaluation at the
    mean areal density. By Jensen's inequality with the bound of the second derivative,
    if material ``m``'s areal density varies by ``Δa_m`` (g/cm²) among the sub-rays,
    ``0 ≤ ⟨T⟩ − T(⟨a⟩) ≤ (Σ_m μ_rms,m Δa_m)² / 8`` for both moments, with ``μ_rms,m`` the
    weighted RMS of the material's attenuation over the bins (Minkowski's inequality
    joins the bins). Pixels whose bound exceeds ``tolerance`` are averaged sub-ray by
    sub-ray; the others take the single evaluation. Runs of identical pixels and
    sub-rays are evaluated once (:func:`transmission_moments`).

    Examples
    --------
    >>> beam = BeamMoments(1.0, np.array([1.0]), np.array([1.0]))
    >>> sheet = np.zeros((1, 1, 2, 1, 1)); sheet[0, 0, 0] = 100.0   # half the pixel
    >>> t1, _ = aperture_transmission_moments(sheet, np.array([[0.05]]), beam)
    >>> round(float(t1[0, 0]), 4)                                  # ½·e⁻⁵ + ½
    0.5034
    """
    areal = np.asarray(areal_subrays_g_cm2)
    if areal.dtype.kind != "f":
        areal = areal.astype(np.float64)
    mu = np.asarray(mass_attenuation_cm2_g, dtype=np.float64)
    if areal.ndim != 5 or mu.ndim != 2 or mu.shape[0] != areal.shape[0]:
        raise SimulationError(
            f"transmission: sub-ray areal density must be (M, R, Sr, C, Sc) and attenuation (M, E); "
            f"got {areal.shape} and {mu.shape}")
    if not (isinstance(tolerance, (int, float, np.floating)) and tolerance >= 0):
        raise SimulationError(f"transmission: tolerance must be a number ≥ 0, got {tolerance!r}")
    return _aperture_moments(areal, np.ones(areal.shape[0]), mu, beam, tolerance)


def _subray_summary(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, maximum and minimum over the sub-rays of ``(M, R, Sr, C, Sc)`` values → ``(M, R, C)``.

    Elementwise passes over contiguous blocks, a band of rows at a time so that the
    three passes find the band in cache: numpy's reductions over two short, strided
    axes are an order of magnitude slower.
    """
    m, rows, sub_rows, cols, sub_cols = values.shape
    blocks = values.reshape(m, rows, sub_rows, cols * sub_cols)
    total = np.empty((m, rows, cols * sub_cols), dtype=values.dtype)
    highest = np.empty_like(total)
    lowest = np.empty_like(total)
    band = max(1, _SUMMARY_BAND_ELEMENTS // max(m * sub_rows * cols * sub_cols, 1))
    for r0 in range(0, rows, band):
        r1 = min(r0 + band, rows)
        first = blocks[:, r0:r1, 0]
        t, hi, lo = total[:, r0:r1], highest[:, r0:r1], lowest[:, r0:r1]
        t[...] = first
        hi[...] = first
        lo[...] = first
        for k in range(1, sub_rows):
            block = blocks[:, r0:r1, k]
            t += block
            np.maximum(hi, block, out=hi)
            np.minimum(lo, block, out=lo)
    out = []
    for image, combine in ((total, np.add), (highest, np.maximum), (lowest, np.minimum)):
        image = image.reshape(m, rows, cols, sub_cols)
        reduced = image[..., 0].astype(np.float64)
        for k in range(1, sub_cols):
            combine(reduced, image[..., k], out=reduced)
        out.append(reduced)
    out[0] *= 1.0 / (sub_rows * sub_cols)
    return out[0], out[1], out[2]


def _aperture_moments(
    values: np.ndarray, scale: np.ndarray, mu: np.ndarray, beam: BeamMoments, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`aperture_transmission_moments` of areal densities ``values × scale[m]`` (g/cm²).

    The per-material ``scale`` (≥ 0; e.g. density / 10 for path lengths in mm) is
    applied after the sub-ray reductions, which it commutes with.
    """
    m, rows, sub_rows, cols, sub_cols = values.shape
    if m == 0 or rows == 0 or cols == 0:
        return transmission_moments(np.zeros((m, rows, cols)), mu, beam)
    mean, highest, lowest = _subray_summary(values)
    mean *= scale[:, None, None]
    t1, t2 = transmission_moments(mean, mu, beam)
    if sub_rows * sub_cols == 1:
        return t1, t2
    highest -= lowest  # spread of each material among the sub-rays
    exponent_spread = np.tensordot(_rms_attenuation(mu, beam) * scale, highest, axes=1)  # (R, C)
    uneven = exponent_spread * exponent_spread > 8.0 * tolerance
    if tolerance == 0:
        uneven |= exponent_spread > 0
    if not np.any(uneven):
        return t1, t2
    row, col = np.nonzero(uneven)
    stacks = values[:, row, :, col, :]  # (P, M, Sr, Sc)
    stacks = stacks.reshape(row.size, m, sub_rows * sub_cols)
    flat = np.ascontiguousarray(stacks.transpose(1, 0, 2), dtype=np.float64).reshape(m, -1)
    flat *= scale[:, None]
    s1, s2 = _moments_distinct(flat, mu, beam)
    t1[row, col] = s1.reshape(row.size, -1).mean(axis=1)
    t2[row, col] = s2.reshape(row.size, -1).mean(axis=1)
    return t1, t2


def _moments_distinct(areal: np.ndarray, mu: np.ndarray, beam: BeamMoments) -> tuple[np.ndarray, np.ndarray]:
    """T1 and T2 of the columns of ``(M, N)`` areal densities, each distinct column evaluated once.

    Runs of equal neighbours are merged first (cheap), then the runs' values are sorted
    (``lexsort``) to find the distinct stacks: the sub-rays of a pixel edge take few
    distinct values however many pixels the edges cross (stacks of tyres, drums).
    """
    m, n = areal.shape
    if n == 0:
        return np.ones(0), np.ones(0)
    if n > 1:
        new_run = np.concatenate([[True], np.any(areal[:, 1:] != areal[:, :-1], axis=0)])
    else:
        new_run = np.array([True])
    run_label = np.cumsum(new_run) - 1
    runs = areal[:, new_run]
    order = np.lexsort(runs[::-1]) if m > 0 else np.arange(runs.shape[1])
    ordered = runs[:, order]
    if ordered.shape[1] > 1:
        new_value = np.concatenate([[True], np.any(ordered[:, 1:] != ordered[:, :-1], axis=0)])
    else:
        new_value = np.array([True])
    value_label = np.empty(order.size, dtype=np.intp)
    value_label[order] = np.cumsum(new_value) - 1
    t1, t2 = _moments_direct(ordered[:, new_value], mu, beam)
    label = value_label[run_label]
    return t1[label], t2[label]


# -------------------------------------------------------------- blur/scatter
def blur_expected(image: np.ndarray, sigma_rows: float, sigma_cols: float) -> np.ndarray:
    """Blur an expected-signal image with the detector's Gaussian point spread.

    Parameters
    ----------
    image : numpy.ndarray, shape ``(R, C)``
        Expected transmission (or any linear quantity of the fluence).
    sigma_rows : float
        Standard deviation across channels, rows.
    sigma_cols : float
        Standard deviation along the conveyance, columns.

    Returns
    -------
    numpy.ndarray
        The blurred image (a new array; borders extended).
    """
    out = np.asarray(image, dtype=np.float64)
    if sigma_rows > 0.05 and out.shape[0] > 1:
        out = ndimage.gaussian_filter1d(out, sigma_rows, axis=0, mode="nearest", truncate=3.0)
    if sigma_cols > 0.05 and out.shape[1] > 1:
        out = ndimage.gaussian_filter1d(out, sigma_cols, axis=1, mode="nearest", truncate=3.0)
    return out


def scatter_signal(transmission: np.ndarray, fraction: float, sigma_rows: float,
                   sigma_cols: float) -> np.ndarray:
    """Return the forward-scatter term, relative to the air signal.

    Parameters
    ----------
    transmission : numpy.ndarray, shape ``(R, C)``
        Signal transmission of the primary beam.
    fraction : float
        Scatter reaching the detector per unit of attenuated signal (≤ 0.01).
    sigma_rows, sigma_cols : float
        Width of the spread, in rows and columns.

    Returns
    -------
    numpy.ndarray
        ``fraction × blur(1 − T)``: between 0 and ``fraction``.
    """
    if fraction <= 0:
        return np.zeros_like(transmission)
    removed = 1.0 - np.clip(transmission, 0.0, 1.0)
    return fraction * broad_gaussian(removed, sigma_rows, sigma_cols)


# ------------------------------------------------------------------ detector
def detector_signal(
    t1: np.ndarray,
    t2: np.ndarray,
    relative_dose: np.ndarray,
    channels: ChannelResponse,
    air_level_adu: float,
    equivalent_quanta_air: float,
    full_scale_adu: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return noisy raw samples (ADU, float64) of one energy's pulses.

    Parameters
    ----------
    t1, t2 : numpy.ndarray, shape ``(N, C)``
        Expected signal and second-moment transmissions (after blur and scatter), per
        channel ``N`` (channel order) and pulse ``C``; 1 in air.
    relative_dose : numpy.ndarray, shape ``(C,)``
        Linac output of each pulse relative to nominal (0: beam off).
    channels : ChannelResponse
        Gains, dark offsets and read noise of the channels.
    air_level_adu : float
        Net signal of a nominal-gain channel in air at nominal dose, ADU.
    equivalent_quanta_air : float
        Equivalent quanta ``N_air × Swank factor`` per channel per nominal pulse in air.
    full_scale_adu : float
        ADC full scale: samples are clipped to ``[0, full_scale_adu]``.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    numpy.ndarray of float64, shape ``(N, C)``
        Samples rounded to whole ADU and clipped (float32 outputs may keep fractions:
        the caller casts).
    """
    amplitude = air_level_adu * channels.gain[:, None]
    mean = amplitude * relative_dose[None, :] * t1
    variance = (amplitude * amplitude / equivalent_quanta_air) * relative_dose[None, :] * t2
    # Equivalent quanta mean² / variance below the threshold: scaled Poisson (no division
    # needed to decide; dead channels and beam-off pulses have variance 0: Gaussian).
    few = mean * mean < GAUSSIAN_MIN_QUANTA * variance
    starved = (mean[few], variance[few]) if np.any(few) else None
    read = channels.read_noise_adu[:, None]
    np.putmask(variance, few, 0.0)
    variance += read * read
    signal = rng.standard_normal(mean.shape)
    signal *= np.sqrt(variance, out=variance)
    if starved is not None:
        m, v = starved
        mean[few] = (v / m) * rng.poisson(m * m / v)
    signal += mean
    signal += channels.dark_adu[:, None]
    np.round(signal, out=signal)
    np.clip(signal, 0.0, full_scale_adu, out=signal)
    return signal


# -------------------------------------------------------------------- scenes
@dataclass
class Acquisition:
    """Everything one simulated scan recorded, plus the truth the simulator knows.

    Attributes
    ----------
    pulse_index : numpy.ndarray of uint32
    energy_index : numpy.ndarray of uint8
    flags : numpy.ndarray of uint8
    dose : numpy.ndarray of float32
        Dose monitor reading per pulse.
    time_s : numpy.ndarray of float64
    position_mm : numpy.ndarray of float64
        Encoder position per pulse (as recorded), mm.
    true_position_mm : numpy.ndarray of float64
        True position per pulse, mm.
    samples : numpy.ndarray, shape ``(pulses, channels)``
        Raw samples in detector channel order, the configuration's sample dtype.
    relative_dose : numpy.ndarray of float64
        True relative linac output per pulse.
    transmission_high : numpy.ndarray of float64, shape ``(rows, object high pulses)``
        Noise-free signal transmission of the high-energy object pulses, rows top-down
        (averaged over each pixel's sub-rays, before blur and scatter).
    transmission_low : numpy.ndarray of float64 or None
        The same for the lowest energy's object pulses (``None`` with a single energy).
    channels : ChannelResponse
    object_start : int
        First pulse after the references.
    """

    pulse_index: np.ndarray
    energy_index: np.ndarray
    flags: np.ndarray
    dose: np.ndarray
    time_s: np.ndarray
    position_mm: np.ndarray
    true_position_mm: np.ndarray
    samples: np.ndarray
    relative_dose: np.ndarray
    transmission_high: np.ndarray
    transmission_low: np.ndarray | None
    channels: ChannelResponse
    object_start: int


PathLengths = Callable[..., np.ndarray]


def _scene_transmission(
    path_lengths_mm: PathLengths, z_mm: np.ndarray, x_mm: np.ndarray, density_g_cm3: np.ndarray,
    mu_cm2_g: np.ndarray, beam: BeamMoments, row_height_mm: float, column_mm: float,
    sub_rows: int, sub_columns: int, chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free T1 and T2 (rows × pulses) of a scene at the pulses' true positions (mm).

    Each pixel is ``sub_rows × sub_columns`` point rays (aperture 0) spread over its
    ``row_height_mm × column_mm`` aperture; their transmissions are averaged
    (:func:`aperture_transmission_moments`).
    """
    rows, count = z_mm.size, x_mm.size
    materials = density_g_cm3.size
    t1 = np.empty((rows, count))
    t2 = np.empty((rows, count))
    z_sub = (z_mm[:, None] + subray_offsets(sub_rows, row_height_mm)[None, :]).ravel()
    x_offsets = subray_offsets(sub_columns, column_mm)
    per_column = max(materials, 1) * rows * sub_rows * sub_columns
    chunk = max(1, min(chunk, _SUBRAY_CHUNK_ELEMENTS // per_column))
    areal_per_mm = density_g_cm3 / 10.0  # mm × g/cm³ → g/cm²
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        x_sub = (x_mm[start:stop, None] + x_offsets[None, :]).ravel()
        paths = np.asarray(path_lengths_mm(z_sub, x_sub, row_height_mm=0.0, column_width_mm=0.0),
                           dtype=np.float32)
        if paths.shape != (materials, z_sub.size, x_sub.size):
            raise SimulationError(
                f"scene path lengths have shape {paths.shape}, expected "
                f"{(materials, z_sub.size, x_sub.size)}")
        t1[:, start:stop], t2[:, start:stop] = _aperture_moments(
            paths.reshape(materials, rows, sub_rows, stop - start, sub_columns), areal_per_mm,
            mu_cm2_g, beam, SUBRAY_TRANSMISSION_TOLERANCE)
    return t1, t2


def acquire(
    path_lengths_mm: PathLengths,
    densities_g_cm3: Sequence[float],
    mass_attenuation: Sequence[np.ndarray],
    beams: Sequence[BeamMoments],
    object_length_mm: float,
    config: ScannerConfig,
    rng: np.random.Generator,
    *,
    column_chunk: int = 512,
) -> Acquisition:
    """Simulate the raw pulses of one scan of a scene.

    Parameters
    ----------
    path_lengths_mm : callable
        ``path_lengths_mm(z_mm, x_mm, row_height_mm=h, column_width_mm=w) -> (M, R, C)``:
        path length (mm) of each of the scene's ``M`` materials along the ray at height
        ``z_mm[r]`` (mm down from the image top at the scan plane) and conveyance
        position ``x_mm[c]``, averaged over an aperture of ``h × w`` mm. It is called
        with point rays (``h = w = 0``) at ``subray_rows × subray_columns`` positions per
        pixel of a row height by the distance between two pulses of one energy; the
        pixel's transmission is the mean of theirs.
    densities_g_cm3 : sequence of float
        Density of each material, g/cm³.
    mass_attenuation : sequence of numpy.ndarray
        Per energy, the ``(M, E)`` mass attenuation (cm²/g) of the materials on that
        beam's energy bins.
    beams : sequence of BeamMoments
        One effective beam per energy, highest first.
    object_length_mm : float
        Scene length along the conveyance, mm.
    config : ScannerConfig
        Scanner settings.
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same scan.
    column_chunk : int
        Most pulses per call of ``path_lengths_mm`` (fewer where the sub-rays of that
        many pulses would exceed about 8 million path lengths: bounds memory).

    Returns
    -------
    Acquisition
    """
    if len(beams) != config.energy_count or len(mass_attenuation) != config.energy_count:
        raise SimulationError("acquire: one beam and one attenuation table per energy are needed")
    if not (np.isfinite(object_length_mm) and 0 < object_length_mm <= 100_000):
        raise SimulationError(f"acquire: object length must be in (0, 100000] mm, got {object_length_mm}")
    density = np.asarray(densities_g_cm3, dtype=np.float64)
    n_rows = config.channels
    schedule = pulse_schedule(config, object_pulse_count(config, object_length_mm))
    if schedule.count * n_rows > MAX_SCAN_SAMPLES:
        raise SimulationError(
            f"a scan of {schedule.count} pulses x {n_rows} channels exceeds {MAX_SCAN_SAMPLES} samples: "
            "use fewer channels or pulses (or a faster conveyance)")
    time_s, true_position, encoder = conveyance_positions(config, schedule, object_length_mm, rng)
    relative_dose, monitor = linac_dose(config, schedule, rng)
    response = channel_response(config, rng)
    row_h = config.row_height_mm
    z_mm = (np.arange(n_rows) + 0.5) * row_h
    step_mm = (object_length_mm + 2 * config.margin_mm) / max(schedule.count - schedule.object_start, 1)
    column_mm = step_mm * config.energy_count  # distance between two pulses of one energy
    # Image rows are top-down; detector channel c is row c (top) or row N-1-c (bottom).
    to_channel = slice(None) if config.first_channel == "top" else slice(None, None, -1)
    response_rows = ChannelResponse(
        response.gain[to_channel], response.dark_adu[to_channel],
        response.read_noise_adu[to_channel], response.dead, response.noisy, response.listed_bad)
    samples = np.empty((schedule.count, n_rows), dtype=np.dtype(config.sample_dtype))
    transmission_high = transmission_low = None
    for energy, beam in enumerate(beams):
        mine = schedule.energy_index == energy
        pulses = np.flatnonzero(mine)
        objects = pulses[pulses >= schedule.object_start]
        refs = pulses[pulses < schedule.object_start]
        # References: T = 1 for AIR, beam off for DARK (relative dose 0).
        ones = np.ones((n_rows, refs.size))
        samples[refs] = detector_signal(
            ones, ones, relative_dose[refs], response_rows, config.air_level_adu,
            config.photons_air[energy] * beam.swank_factor, config.full_scale_adu, rng).T
        t1, t2 = _scene_transmission(
            path_lengths_mm, z_mm, true_position[objects], density,
            np.asarray(mass_attenuation[energy], dtype=np.float64), beam, row_h, column_mm,
            config.subray_rows, config.subray_columns, column_chunk)
        if energy == 0:
            transmission_high = t1.copy()
        elif energy == len(beams) - 1:
            transmission_low = t1.copy()
        sigma_rows = config.blur_channels
        sigma_cols = config.blur_mm / column_mm
        scatter = scatter_signal(t1, config.scatter_fraction, config.scatter_sigma_mm / row_h,
                                 config.scatter_sigma_mm / column_mm)
        t1 = blur_expected(t1, sigma_rows, sigma_cols) + scatter
        t2 = blur_expected(t2, sigma_rows, sigma_cols) + scatter
        samples[objects] = detector_signal(
            t1, t2, relative_dose[objects], response_rows, config.air_level_adu,
            config.photons_air[energy] * beam.swank_factor, config.full_scale_adu, rng).T
    samples = samples[:, to_channel]
    flags = np.full(schedule.count, FLAG_POSITION_VALID | FLAG_DOSE_VALID, dtype=np.uint8)
    flags[schedule.dark] = FLAG_DARK | FLAG_POSITION_VALID
    flags[schedule.air] |= FLAG_AIR
    return Acquisition(
        pulse_index=np.arange(schedule.count, dtype=np.uint32),
        energy_index=schedule.energy_index,
        flags=flags,
        dose=monitor,
        time_s=time_s,
        position_mm=encoder,
        true_position_mm=true_position,
        samples=np.ascontiguousarray(samples),
        relative_dose=relative_dose,
        transmission_high=transmission_high,  # type: ignore[arg-type]
        transmission_low=transmission_low,
        channels=response,
        object_start=schedule.object_start,
    )
