"""Tests of nii.correction against hand-computed cases, on every available backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from nii.backend import available_backends
from nii.correction import (
    AnalysedImage,
    correct,
    fill_positions,
    find_bad_channels,
    resampling_weights,
)
from nii.errors import AnalysisError
from nii.scatter import ForwardScatter

BACKENDS = available_backends()


# --------------------------------------------------------------------------- stand-in Scan
# Same attributes as scanner_io.Scan (docs/architecture.md), built by hand.


@dataclass
class StandInFrames:
    raw: np.ndarray
    pulse_index: np.ndarray
    time_s: np.ndarray
    position_mm: np.ndarray
    position_valid: np.ndarray
    dose: np.ndarray
    dose_valid: np.ndarray


@dataclass
class StandInReference:
    mean: np.ndarray
    std: np.ndarray
    dose_mean: float | None
    pulses: int = 100


@dataclass
class StandInHeader:
    scan_id: str = "TEST-1"
    kind: str = "object"
    scanner_id: str = "test-gantry"
    channels: int = 8
    energies_mev: list = field(default_factory=lambda: [6.0, 3.0])
    saturation: float | None = 65535
    bad_channels: list = field(default_factory=list)
    pitch_mm: float = 5.0
    source_to_object_mm: float = 7500.0
    source_to_detector_mm: float = 10000.0
    nominal_speed_mps: float = 0.4
    pulse_rate_hz: float = 400.0
    sample_dtype: np.dtype = np.dtype("uint16")
    first_channel: str = "top"
    phantom: list = field(default_factory=list)
    raw: dict = field(default_factory=dict)


@dataclass
class StandInScan:
    header: StandInHeader
    frames: list
    dark: list
    air: list
    channel: np.ndarray
    energies_mev: list
    bad_channels: list
    sha256: str = "0" * 64
    path: object = None


def make_scan(
    transmission_high: np.ndarray,
    transmission_low: np.ndarray | None = None,
    *,
    dark_level: float = 100.0,
    air_level: float = 40000.0,
    dark_std: float = 2.0,
    air_std: float = 200.0,
    dose_high: np.ndarray | None = None,
    dose_air: float = 1.0,
    pitch_mm: float = 4.0,
    bad_channels=(),
    saturation: float | None = 65535,
    positions_high: np.ndarray | None = None,
    positions_low: np.ndarray | None = None,
    noise_sigma_counts: float = 0.0,
    shot_counts: float = 0.0,
    seed: int = 0,
    **header,
) -> StandInScan:
    """Build a two-energy stand-in scan whose raw samples give the given transmissions."""
    t_high = np.asarray(transmission_high, np.float64)
    t_low = t_high if transmission_low is None else np.asarray(transmission_low, np.float64)
    rows, pulses = t_high.shape
    rng = np.random.default_rng(seed)
    pulse_step = 1.0  # mm between a high pulse and the next low pulse
    if positions_high is None:
        positions_high = np.arange(pulses) * 2 * pulse_step
    if positions_low is None:
        positions_low = np.asarray(positions_high) + pulse_step
    frames = []
    for energy, (t, pos) in enumerate(((t_high, positions_high), (t_low, positions_low))):
        dose = np.ones(pulses) if (dose_high is None or energy == 1) else np.asarray(dose_high, np.float64)
        counts = dark_level + t * (air_level - dark_level) * (dose / dose_air)[None, :]
        counts = counts + noise_sigma_counts * rng.standard_normal(counts.shape)
        counts = counts + shot_counts * np.sqrt(t) * rng.standard_normal(counts.shape)
        raw = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
        frames.append(
            StandInFrames(
                raw=raw,
                pulse_index=np.arange(pulses, dtype=np.int64) * 2 + energy,
                time_s=(np.arange(pulses) * 2 + energy) / 400.0,
                position_mm=np.asarray(pos, np.float64),
                position_valid=np.ones(pulses, bool),
                dose=dose.astype(np.float32),
                dose_valid=np.ones(pulses, bool),
            )
        )
    ref = lambda level, std, d: StandInReference(np.full(rows, level), np.full(rows, std), d)  # noqa: E731
    head = StandInHeader(channels=rows, saturation=saturation, bad_channels=list(bad_channels), pitch_mm=pitch_mm, **header)
    return StandInScan(
        header=head,
        frames=frames,
        dark=[ref(dark_level, dark_std, None), ref(dark_level, dark_std, None)],
        air=[ref(air_level, air_std, dose_air), ref(air_level, air_std, dose_air)],
        channel=np.arange(rows, dtype=np.int32),
        energies_mev=[6.0, 3.0],
        bad_channels=list(bad_channels),
    )


def _smooth_transmission(rows: int = 8, pulses: int = 40) -> np.ndarray:
    r, c = np.mgrid[0:rows, 0:pulses]
    return 0.05 + 0.9 * (0.5 + 0.5 * np.sin(r / 3.0 + c / 7.0))


# --------------------------------------------------------------------------- steps


def test_dark_and_air_normalisation_recover_transmission():
    truth = _smooth_transmission()
    image = correct(make_scan(truth, air_level=60000.0, dark_level=500.0), scatter=None)
    assert isinstance(image, AnalysedImage)
    # quantisation of the raw counts: 0.5 / 59500 in T
    np.testing.assert_allclose(image.transmission_high, truth, atol=2e-5)
    np.testing.assert_allclose(image.attenuation_high, -np.log(truth), atol=5e-4)
    assert image.attenuation_high.dtype == np.float32
    assert image.position_mm.dtype == np.float64 and image.channel.dtype == np.int32
    assert image.row_height_mm == pytest.approx(4.0 * 7500.0 / 10000.0)
    assert image.column_pitch_mm == pytest.approx(2.0)


def test_hand_computed_pixel():
    # raw = 10100, dark = 100, air = 40100: T = 10000 / 40000 = 0.25
    truth = np.full((3, 4), 0.25)
    image = correct(make_scan(truth, dark_level=100.0, air_level=40100.0), scatter=None)
    assert image.transmission_high[1, 2] == pytest.approx(0.25, abs=1e-6)
    assert image.attenuation_high[1, 2] == pytest.approx(np.log(4.0), abs=1e-5)


def test_forward_scatter_is_subtracted():
    # Uniform T = 0.25: the blurred removed fraction is 0.75 everywhere, so the
    # scatter estimate is fraction × 0.75 exactly.
    truth = np.full((3, 4), 0.25)
    model = ForwardScatter(fraction=4.0e-3, sigma_mm=300.0)
    image = correct(make_scan(truth, dark_level=100.0, air_level=40100.0), scatter=model)
    assert image.transmission_high[1, 2] == pytest.approx(0.25 - 4.0e-3 * 0.75, abs=1e-6)
    assert image.provenance["forward_scatter"] == {"fraction": 4.0e-3, "sigma_mm": 300.0}
    assert correct(make_scan(truth), scatter=None).provenance["forward_scatter"] is None
    with pytest.raises(ValueError):
        correct(make_scan(truth), scatter="guess")


def test_forward_scatter_restores_a_starved_shadow():
    # A beam stopper (primary T = 3e-5, below a 3-sigma floor of 1e-4) inside light
    # cargo: the scatter the scanner adds lifts it above the floor; subtracting the same
    # model brings it back under, so the shadow is reported starved.
    rows, pulses = 40, 120
    primary = np.full((rows, pulses), 0.5)
    primary[15:25, 50:70] = 3.0e-5
    model = ForwardScatter(fraction=2.0e-4, sigma_mm=300.0)
    measured = primary + model.signal(primary, 3.0, 2.0)
    scan = make_scan(measured, air_level=60000.0, dark_level=500.0, dark_std=2.0)
    kept = correct(scan, scatter=None, noise_from_data=False)
    removed = correct(scan, scatter=model, noise_from_data=False)
    assert not kept.starved_high[18:22, 55:65].any()
    assert removed.starved_high[18:22, 55:65].all()
    # the light cargo is unchanged to well within its noise
    np.testing.assert_allclose(removed.transmission_high[:10], 0.5, atol=2e-4)


def test_dose_correction_takes_out_pulse_to_pulse_output():
    truth = np.full((4, 30), 0.5)
    dose = 1.0 + 0.05 * np.sin(np.arange(30))
    scan = make_scan(truth, dose_high=dose, dose_air=1.0)
    image = correct(scan)
    np.testing.assert_allclose(image.transmission_high, 0.5, atol=5e-5)
    # without DOSE_VALID the fluctuation stays in
    scan.frames[0].dose_valid[:] = False
    uncorrected = correct(scan)
    np.testing.assert_allclose(uncorrected.transmission_high[0], 0.5 * dose, atol=5e-5)


def test_listed_bad_channel_is_interpolated_from_neighbours():
    rows = np.linspace(0.2, 0.8, 8)
    truth = np.repeat(rows[:, None], 10, axis=1)
    scan = make_scan(truth, bad_channels=[3])
    scan.frames[0].raw[3] = 7  # garbage in the dead channel
    image = correct(scan)
    np.testing.assert_allclose(image.transmission_high[3], 0.5 * (rows[2] + rows[4]), atol=5e-5)
    assert image.repaired[3].all() and not image.repaired[2].any()
    assert image.provenance["repaired_channels"] == [3]
    # α, its noise and the starvation floor of the repaired row come from the neighbours too
    np.testing.assert_allclose(image.attenuation_high[3], -np.log(0.5 * (rows[2] + rows[4])), atol=2e-4)
    np.testing.assert_allclose(image.sigma_high[3], 0.5 * (image.sigma_high[2] + image.sigma_high[4]), rtol=0.1)
    assert not image.starved[3].any()


def test_edge_bad_channel_copies_nearest_good_row():
    truth = np.repeat(np.linspace(0.2, 0.8, 6)[:, None], 5, axis=1)
    scan = make_scan(truth, bad_channels=[0])
    image = correct(scan)
    np.testing.assert_allclose(image.transmission_high[0], truth[1], atol=5e-5)


def test_dead_and_noisy_channels_found_from_air_reference():
    dark = np.full(6, 100.0)
    air = np.full(6, 40000.0)
    std = np.full(6, 200.0)
    air[1] = 500.0  # dead: gain far below the median
    std[4] = 5000.0  # noisy
    assert find_bad_channels(dark, air, std).tolist() == [False, True, False, False, True, False]

    truth = np.repeat(np.linspace(0.3, 0.8, 6)[:, None], 5, axis=1)
    scan = make_scan(truth)
    scan.air[0].mean[1] = scan.dark[0].mean[1] + 0.1  # dead: no gain at all
    image = correct(scan)
    assert image.repaired[1].all()
    np.testing.assert_allclose(image.transmission_high[1], 0.5 * (truth[0] + truth[2]), atol=5e-5)
    np.testing.assert_allclose(image.attenuation_high[1], -np.log(0.5 * (truth[0] + truth[2])), atol=2e-4)


def test_saturation_mask():
    truth = np.full((4, 12), 0.5)
    truth[2, 5] = 1.2  # above air: raw clips at 65535 with air = 60000
    image = correct(make_scan(truth, air_level=60000.0, saturation=65535))
    assert image.saturated[2, 5] and image.saturated_high[2, 5]
    assert image.saturated_high.sum() == 1
    # the low pulse sits half a column later: both grid columns it touches are flagged
    assert image.saturated_low[2, 5] and image.saturated_low[2, 6] and image.saturated_low.sum() == 2
    assert image.saturated.sum() == 2
    assert not image.starved.any()


def test_starvation_mask_and_clipped_attenuation():
    truth = np.full((4, 10), 0.5)
    truth[1, 3:6] = 0.0  # nothing gets through
    image = correct(make_scan(truth, dark_std=2.0, air_level=40100.0, dark_level=100.0))
    assert image.starved[1, 3:6].all() and image.starved_high[1, 3:6].all()
    assert image.starved_high.sum() == 3
    # low pulses at 7, 9, 11 mm are starved: grid columns 6 … 12 mm touch them
    assert image.starved_low[1, 3:7].all() and image.starved_low.sum() == 4
    assert image.starved.sum() == 4
    floor = 3.0 * 2.0 / 40000.0
    np.testing.assert_allclose(image.attenuation_high[1, 3:6], -np.log(floor), rtol=1e-5)
    assert np.isfinite(image.attenuation_high).all()


def test_noise_sigma_from_reference_statistics():
    truth = np.full((3, 6), 0.25)
    image = correct(make_scan(truth, dark_level=100.0, air_level=40100.0, dark_std=3.0, air_std=100.0),
                    noise_from_data=False)
    assert image.provenance["noise_model"] == ["references", "references"]
    signal = 0.25 * 40000.0
    variance = 9.0 + (100.0**2 - 9.0) * 0.25
    np.testing.assert_allclose(image.sigma_high, np.sqrt(variance) / signal, rtol=1e-4)


def test_noise_sigma_fitted_from_the_image():
    # air spread inflated by output jitter (air_std = 2 %): the image's own quantum noise
    # (30 counts at T = 1, growing as sqrt(T)) is used; the constant term is the dark
    # reference's (2 counts)
    truth = np.repeat(np.geomspace(0.01, 1.0, 16)[:, None], 600, axis=1)
    scan = make_scan(truth, dark_level=100.0, air_level=50100.0, dark_std=2.0, air_std=1000.0, shot_counts=30.0)
    image = correct(scan)
    assert image.provenance["noise_model"][0] == "image"
    expected = np.sqrt(2.0**2 + 30.0**2 * truth + 1 / 12) / (truth * 50000.0)  # dark + shot + rounding, in α
    np.testing.assert_allclose(image.sigma_high[:, 10], expected[:, 10], rtol=0.25)
    measured = np.std(np.diff(image.attenuation_high, axis=1), axis=1) / np.sqrt(2)
    np.testing.assert_allclose(image.sigma_high[:, 10], measured, rtol=0.25)


def test_noise_constant_term_is_the_dark_reference():
    # Texture in the image (a pattern that changes from pulse to pulse) inflates the
    # differences at every level; the noise floor near starvation stays the measured
    # dark noise instead of an extrapolation of that texture.
    rng = np.random.default_rng(3)
    truth = np.repeat(np.geomspace(0.002, 0.5, 16)[:, None], 600, axis=1)
    truth = truth * (1.0 + 0.05 * rng.standard_normal(truth.shape))
    image = correct(make_scan(truth, dark_level=100.0, air_level=50100.0, dark_std=2.0))
    dark_sigma_alpha = 2.0 / (0.002 * 50000.0)
    # at T = 0.002 the texture (5 %) alone is 0.05 in α; the dark term is 0.02
    assert image.sigma_high[0, 10] < 0.08
    assert image.sigma_high[0, 10] >= dark_sigma_alpha * 0.99


def test_interlaced_low_columns_resampled_onto_high_grid():
    rows, pulses = 4, 20
    high_pos = np.arange(pulses) * 10.0
    low_pos = high_pos + 5.0  # half a column later
    # an attenuation linear in position: resampling must reproduce it exactly
    t_low = np.repeat(np.exp(-(0.2 + 0.01 * low_pos))[None, :], rows, axis=0)
    t_high = np.full((rows, pulses), 0.5)
    image = correct(make_scan(t_high, t_low, positions_high=high_pos, positions_low=low_pos))
    np.testing.assert_allclose(image.position_mm, high_pos)
    expected = 0.2 + 0.01 * high_pos
    expected[0] = 0.2 + 0.01 * 5.0  # before the first low column: nearest one
    np.testing.assert_allclose(image.attenuation_low[0], expected, atol=1e-3)
    # the unclipped transmission is interpolated in T (α in α): equal to within the curvature of exp
    np.testing.assert_allclose(image.transmission_low[0], np.exp(-expected), rtol=3e-3)


def test_transmission_is_kept_unclipped_below_the_starvation_floor():
    # a block at about the floor: α is clipped there, T keeps its noise (negative values too)
    truth = np.full((16, 400), 2e-5)
    scan = make_scan(truth, dark_level=100.0, air_level=50100.0, dark_std=2.0, noise_sigma_counts=2.0, seed=5)
    image = correct(scan, scatter=None)
    assert image.starved.any() and (image.transmission_high < 0).any()
    assert abs(float(np.mean(image.transmission_high)) - 2e-5) < 1e-5  # unbiased, where exp(-α) is not
    assert float(np.mean(np.exp(-image.attenuation_high))) > 5e-5
    assert image.noise_high is not None and image.noise_high["constant"].shape == (16,)


def test_edge_sampled_half_a_column_apart_stays_unbiased():
    # a step edge seen by the low energy half a column later: the interpolated low α
    # at the edge column is the mean of its neighbours' α (not of their T)
    rows, pulses = 2, 12
    high_pos = np.arange(pulses) * 10.0
    alpha = np.where(np.arange(pulses) < 6, 4.0, 0.5)
    t = np.repeat(np.exp(-alpha)[None, :], rows, axis=0)
    image = correct(make_scan(t, t, positions_high=high_pos, positions_low=high_pos + 5.0))
    assert image.attenuation_low[0, 6] == pytest.approx(0.5 * (4.0 + 0.5), abs=2e-3)


def test_variable_speed_resampled_linearly_in_position():
    rows, pulses = 3, 15
    rng = np.random.default_rng(1)
    steps = rng.uniform(5.0, 15.0, pulses - 1)
    high_pos = np.concatenate([[0.0], np.cumsum(steps)])
    t_high = np.repeat(np.exp(-(0.1 + 0.004 * high_pos))[None, :], rows, axis=0)
    image = correct(make_scan(t_high, positions_high=high_pos, positions_low=high_pos + 2.0))
    grid = np.linspace(high_pos[0], high_pos[-1], pulses)
    np.testing.assert_allclose(image.position_mm, grid)
    np.testing.assert_allclose(image.attenuation_high[1], 0.1 + 0.004 * grid, atol=1e-3)


def test_positions_from_time_and_speed_when_encoder_missing():
    time = np.arange(6) / 200.0
    filled = fill_positions(np.full(6, np.nan), np.zeros(6, bool), time, 400.0)
    np.testing.assert_allclose(filled, time * 400.0)
    valid = np.array([False, True, True, False, True, False])
    positions = np.array([0.0, 2.0, 4.0, 0.0, 8.0, 0.0])
    filled = fill_positions(positions, valid, np.arange(6.0), 1.5)
    np.testing.assert_allclose(filled, [0.5, 2.0, 4.0, 6.0, 8.0, 9.5])
    with pytest.raises(AnalysisError, match="nominal speed"):
        fill_positions(np.full(3, np.nan), np.zeros(3, bool), np.arange(3.0), None)


def test_resampling_weights_hand_case():
    before, after, weight = resampling_weights(np.array([0.0, 4.0, 2.0]), np.array([-1.0, 1.0, 3.0, 5.0]))
    # acquisition order 0, 2, 1 after sorting by position
    assert before.tolist() == [0, 0, 2, 2]
    assert after.tolist() == [2, 2, 1, 1]
    np.testing.assert_allclose(weight, [0.0, 0.5, 0.5, 1.0])


# --------------------------------------------------------------------------- backends


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_backends_agree(backend, device):
    rng = np.random.default_rng(3)
    truth = np.clip(_smooth_transmission(16, 50) + 0.01 * rng.standard_normal((16, 50)), 0.0, 1.1)
    truth[5, 10:14] = 0.0
    steps = rng.uniform(1.5, 2.5, 49)
    high_pos = np.concatenate([[0.0], np.cumsum(steps)])
    scan = make_scan(truth, truth * 0.9, bad_channels=[7], positions_high=high_pos, positions_low=high_pos + 1.0,
                     dose_high=1 + 0.02 * rng.standard_normal(50), noise_sigma_counts=30.0, air_level=60000.0)
    reference = correct(scan, backend="numpy")
    other = correct(scan, backend=backend, device=device)
    for name in ("attenuation_high", "attenuation_low", "transmission_high", "transmission_low", "sigma_high", "sigma_low"):
        np.testing.assert_allclose(getattr(other, name), getattr(reference, name), rtol=1e-5, atol=1e-6, err_msg=name)
        assert isinstance(getattr(other, name), np.ndarray)
    for name in ("saturated", "starved", "repaired"):
        np.testing.assert_array_equal(getattr(other, name), getattr(reference, name))
    assert other.provenance["backend"] == backend


# --------------------------------------------------------------------------- errors


def test_single_energy_is_an_analysis_error():
    scan = make_scan(np.full((3, 5), 0.5))
    scan.frames = scan.frames[:1]
    with pytest.raises(AnalysisError, match="two energies"):
        correct(scan)


def test_missing_air_reference_is_an_analysis_error():
    scan = make_scan(np.full((3, 5), 0.5))
    scan.air = None
    with pytest.raises(AnalysisError, match="air reference"):
        correct(scan)


def test_shape_mismatch_is_an_analysis_error():
    scan = make_scan(np.full((3, 5), 0.5))
    scan.frames[1].dose = np.ones(4)
    with pytest.raises(AnalysisError, match="dose"):
        correct(scan)


def test_unknown_backend_is_an_error():
    from nii.errors import NiiError

    with pytest.raises(NiiError, match="unknown array backend"):
        correct(make_scan(np.full((3, 5), 0.5)), backend="jax")
    with pytest.raises(NiiError, match="CPU only"):
        correct(make_scan(np.full((3, 5), 0.5)), backend="numpy", device="cuda")
