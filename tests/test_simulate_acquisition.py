"""Tests of the acquisition model (nii.simulate.acquisition, nii.simulate.scanner).

Scenes here are small stand-ins (a callable giving path lengths) so the noise, dose,
conveyance and detector models are tested on their own, on 32–64 channels.
"""

from __future__ import annotations

import numpy as np
import pytest

from nii.errors import SimulationError
from nii.simulate.acquisition import (
    GAUSSIAN_MIN_QUANTA,
    SUBRAY_TRANSMISSION_TOLERANCE,
    BeamMoments,
    ChannelResponse,
    acquire,
    aperture_transmission_moments,
    blur_expected,
    conveyance_positions,
    detector_signal,
    pulse_schedule,
    scatter_signal,
    subray_offsets,
    transmission_moments,
)
from nii.simulate.scanner import MAX_SCATTER_FRACTION, ScannerConfig
from scanner_io import FLAG_AIR, FLAG_DARK, FLAG_DOSE_VALID, FLAG_POSITION_VALID

ENERGY = np.linspace(0.2, 6.0, 30)


def _beams() -> list[BeamMoments]:
    high = BeamMoments(6.0, ENERGY, ENERGY * np.exp(-ENERGY / 2.0))
    low_e = ENERGY[ENERGY <= 3.0]
    low = BeamMoments(3.0, low_e, low_e * np.exp(-low_e / 1.0))
    return [high, low]


def _mu(beams: list[BeamMoments], materials: int = 1) -> list[np.ndarray]:
    # A pair-production-like rise with energy and a Compton-like fall: plausible shapes.
    tables = []
    for beam in beams:
        e = beam.energy_mev
        rows = [0.06 / np.sqrt(e) + 0.002 * (k + 1) * e for k in range(materials)]
        tables.append(np.stack(rows))
    return tables


class Slab:
    """Stand-in scene: one material, a slab over a band of rows and positions."""

    def __init__(self, thickness_mm: float, z_range=(0.0, 1e9), x_range=(-1e9, 1e9)):
        self.thickness_mm = thickness_mm
        self.z_range = z_range
        self.x_range = x_range

    def __call__(self, z_mm, x_mm, row_height_mm=None, column_width_mm=None):
        inside_z = (z_mm >= self.z_range[0]) & (z_mm < self.z_range[1])
        inside_x = (x_mm >= self.x_range[0]) & (x_mm < self.x_range[1])
        return (self.thickness_mm * np.outer(inside_z, inside_x))[None, :, :].astype(np.float32)


def _config(**changes) -> ScannerConfig:
    base = ScannerConfig().scaled(channels=64, pulses=600)
    defaults = dict(dead_channels=0, noisy_channels=0, blur_channels=0.0, blur_mm=0.0, scatter_fraction=0.0)
    defaults.update(changes)
    return base.replace(**defaults)


def _corrected_alpha(acq, energy: int) -> np.ndarray:
    """α = −ln T with the spec's dark, air and dose correction (object pulses of one energy)."""
    samples = acq.samples.astype(np.float64)
    mine = acq.energy_index == energy
    dark = (acq.flags & FLAG_DARK) > 0
    air = (acq.flags & FLAG_AIR) > 0
    obj = mine & ~dark & ~air
    dark_mean = samples[mine & dark].mean(axis=0)
    air_mean = samples[mine & air].mean(axis=0)
    dose_air = acq.dose[mine & air].mean()
    t = (samples[obj] - dark_mean) / (air_mean - dark_mean) * (dose_air / acq.dose[obj])[:, None]
    return -np.log(t)


# ---------------------------------------------------------------------- config
def test_config_defaults_are_a_realistic_scanner():
    config = ScannerConfig()
    assert config.channels == 1024 and config.energies_mev == (6.0, 3.0)
    assert 3.0 <= config.row_height_mm <= 5.0
    assert 3800 <= config.coverage_mm <= 4500
    # Air with the largest gain and a 4-sigma dose pulse stays below full scale.
    peak = config.dark_level_adu + 3 * config.dark_spread_adu + config.air_level_adu * (
        1 + 3 * config.gain_spread) * (1 + 4 * config.dose_jitter + config.dose_drift)
    assert peak < config.full_scale_adu == 65535


def test_scaled_config_keeps_the_height_covered():
    config = ScannerConfig()
    small = config.scaled(channels=64, pulses=500)
    assert small.channels == 64 and small.pulses == 500
    assert small.coverage_mm == pytest.approx(config.coverage_mm)


@pytest.mark.parametrize(
    "changes",
    [{"channels": 0}, {"energies_mev": (3.0, 6.0)}, {"photons_air": (1e5,)},
     {"scatter_fraction": 2 * MAX_SCATTER_FRACTION}, {"sample_dtype": "int8"},
     {"pulses": 3}, {"pitch_mm": -1.0}, {"first_channel": "left"}, {"pulse_rate_hz": float("nan")}],
)
def test_config_rejects_impossible_settings(changes):
    with pytest.raises(SimulationError):
        ScannerConfig().replace(**changes)


def test_config_round_trips_through_a_dict():
    config = ScannerConfig().scaled(channels=128, pulses=700)
    again = ScannerConfig.from_dict(config.to_dict())
    assert again == config
    with pytest.raises(SimulationError, match="unknown setting"):
        ScannerConfig.from_dict({"flux": 3})


# -------------------------------------------------------------------- schedule
def test_schedule_has_dark_then_air_for_every_energy_then_object():
    config = _config(dark_pulses=3, air_pulses=5)
    schedule = pulse_schedule(config, 101)
    assert schedule.count % 2 == 0 and schedule.object_start == 16
    assert np.all(schedule.dark[:6]) and not np.any(schedule.dark[6:])
    assert np.all(schedule.air[6:16]) and not np.any(schedule.air[16:]) and not np.any(schedule.air[:6])
    assert np.array_equal(schedule.energy_index[:8], [0, 1, 0, 1, 0, 1, 0, 1])
    for flags in (schedule.dark, schedule.air):
        assert set(schedule.energy_index[flags]) == {0, 1}


def test_conveyance_moves_the_object_through_with_bounded_speed_variation():
    config = _config(speed_variation=0.03, encoder_resolution_mm=0.5)
    schedule = pulse_schedule(config, 560)
    length = 6058.0
    time_s, true_mm, encoder_mm = conveyance_positions(config, schedule, length, np.random.default_rng(3))
    start = schedule.object_start
    assert np.all(np.diff(true_mm) > 0)
    assert true_mm[start] == pytest.approx(-config.margin_mm)
    assert true_mm[-1] == pytest.approx(length + config.margin_mm)
    step = np.diff(true_mm)
    assert step.max() / step.min() <= (1.03 / 0.97) + 1e-9
    assert step.max() / step.min() > 1.005  # the speed does vary
    assert np.allclose(encoder_mm / 0.5, np.round(encoder_mm / 0.5))
    assert np.max(np.abs(encoder_mm - true_mm)) <= 0.25 + 1e-9
    assert np.allclose(np.diff(time_s), 1.0 / config.pulse_rate_hz)


# ---------------------------------------------------------------- transmission
def test_transmission_moments_match_direct_evaluation_and_run_sharing():
    rng = np.random.default_rng(0)
    beams = _beams()
    mu = _mu(beams, materials=2)
    areal = np.zeros((2, 12, 9))
    areal[0, 2:8, 1:5] = 40.0
    areal[1, 5:11, 3:9] = 15.0
    areal[0, 0, 8] = rng.uniform(1, 100)
    t1, t2 = transmission_moments(areal, mu[0], beams[0])
    beam = beams[0]
    flat = areal.reshape(2, -1)
    attenuation = np.exp(-(flat.T @ mu[0]))
    assert np.allclose(t1.ravel(), attenuation @ beam.signal_weight, rtol=1e-12)
    assert np.allclose(t2.ravel(), attenuation @ beam.second_moment_weight, rtol=1e-12)
    assert np.all(t1[areal.sum(axis=0) == 0] == 1.0)
    # Beam hardening: the variance weights favour high energies, which pass more easily.
    attenuated = areal.sum(axis=0) > 0
    assert np.all(t2[attenuated] > t1[attenuated])


def test_transmission_agrees_with_the_physics_module():
    physics = pytest.importorskip("nii.physics")
    beam = physics.effective_beams((6.0,))[0]
    mu = physics.attenuation_coefficients(["iron", "polyethylene"], beam)
    areal = np.zeros((2, 3, 4))
    areal[0, 1, :] = [0.0, 10.0, 50.0, 150.0]
    areal[1, 2, :] = [5.0, 20.0, 80.0, 200.0]
    moments = BeamMoments(6.0, beam.energy_mev, beam.weight)
    t1, _ = transmission_moments(areal, mu, moments)
    expected = physics.polychromatic_transmission(beam, mu, areal)
    assert np.allclose(t1, expected, rtol=2e-5)


def test_transmission_rejects_mismatched_shapes():
    beams = _beams()
    with pytest.raises(SimulationError):
        transmission_moments(np.zeros((2, 3, 3)), _mu(beams)[0], beams[0])


# ------------------------------------------------------- aperture (sub-ray) averaging
def _sheet_scene(z0: float, z1: float, depth_mm: float):
    """A steel sheet seen edge-on: rows z in [z0, z1) mm, ``depth_mm`` along the beam."""
    from nii.physics import material
    from nii.simulate.scene import Box, Scene, SceneObject

    sheet = SceneObject("roof", material("iron"), "container", (Box(z0, z1, -1e4, 1e4, 0.0, depth_mm),))
    return Scene([sheet], length_mm=2000.0, height_mm=5000.0)


def test_config_sub_rays_default_and_validation():
    config = ScannerConfig()
    assert (config.subray_rows, config.subray_columns) == (4, 2)
    assert config.replace(subray_rows=3).subray_rows == 3
    for bad in (0, 17, 2.5, True):
        with pytest.raises(SimulationError, match="subray"):
            config.replace(subray_rows=bad)
    assert subray_offsets(4, 4.2) == pytest.approx([-1.575, -0.525, 0.525, 1.575])
    assert subray_offsets(1, 3.0).tolist() == [0.0]


@pytest.mark.parametrize("monochromatic", [True, False])
def test_edge_on_sheet_records_the_mean_transmission_not_exp_of_the_mean_path(monochromatic):
    # Half of one row is a 50 mm-deep steel sheet (2 of its 4 sub-rows): the pixel records
    # T = f·T(L) + (1 − f) with f = ½, not T(f·L).
    physics = pytest.importorskip("nii.physics")
    density, depth = 7.874, 50.0
    config = _config(channels=64, pulses=200)
    row_h = config.row_height_mm
    row = 20
    scene = _sheet_scene(row * row_h, (row + 0.5) * row_h, depth)
    areal = depth * density / 10.0
    if monochromatic:
        beams = [BeamMoments(6.0, np.array([2.0]), np.array([1.0])), BeamMoments(3.0, np.array([1.0]), np.array([1.0]))]
        tables = [np.array([[0.04]]), np.array([[0.06]])]
        sheet_t = np.exp(-0.04 * areal)
        mean_path_t = np.exp(-0.04 * areal / 2)
    else:
        effective = physics.effective_beams((6.0, 3.0))
        beams = [BeamMoments(b.endpoint_mev, b.energy_mev, b.weight) for b in effective]
        tables = [physics.attenuation_coefficients(["iron"], b) for b in effective]
        sheet_t = float(physics.polychromatic_transmission(effective[0], tables[0], np.array([[areal]]))[0])
        mean_path_t = float(physics.polychromatic_transmission(effective[0], tables[0], np.array([[areal / 2]]))[0])
    acq = acquire(scene.path_lengths_mm, [density], tables, beams, 2000.0, config, np.random.default_rng(3))
    expected = 0.5 * sheet_t + 0.5
    assert acq.transmission_high[row] == pytest.approx(expected, rel=1e-5)
    assert np.all(acq.transmission_high[row] > mean_path_t + 0.05)  # far brighter than exp of the mean
    assert np.all(acq.transmission_high[row + 1] == pytest.approx(1.0))
    # The low energy too (the truth's impenetrable test reads both).
    assert acq.transmission_low is not None and acq.transmission_low.shape[0] == 64
    assert np.all(acq.transmission_low[row] > acq.transmission_low[row - 1] - 1.0)
    assert np.all(acq.transmission_low[row] < 1.0)


def test_roof_sheet_seen_lengthwise_is_not_starved():
    # The brief's case: a 1.6 mm roof sheet crossed over 2.4 m, 38 % of a 4.2 mm row.
    physics = pytest.importorskip("nii.physics")
    effective = physics.effective_beams((6.0, 3.0))
    beams = [BeamMoments(b.endpoint_mev, b.energy_mev, b.weight) for b in effective]
    tables = [physics.attenuation_coefficients(["iron"], b) for b in effective]
    config = _config(channels=64, pulses=200).replace(pitch_mm=5.6)  # 4.2 mm rows
    row_h = config.row_height_mm
    assert row_h == pytest.approx(4.2)
    z0 = 24 * row_h
    scene = _sheet_scene(z0, z0 + 1.6, 2400.0)
    acq = acquire(scene.path_lengths_mm, [7.874], tables, beams, 2000.0, config, np.random.default_rng(4))
    # Sub-rays at 0.525 and 1.575 mm below the row top cross the sheet: f = 2/4.
    assert acq.transmission_high[24] == pytest.approx(0.5, abs=1e-6)
    assert acq.transmission_low[24] == pytest.approx(0.5, abs=1e-6)
    assert np.min(acq.transmission_high) > 0.49


def _mixed_scene():
    """Boxes with edges inside pixels, thin sheets, drums (curved chords) and a lead block."""
    from nii.physics import material
    from nii.simulate.scene import Box, Cylinder, Scene, SceneObject

    objects = [
        SceneObject("roof", material("iron"), "container", (Box(3.1, 4.7, 0, 600, 0, 2400),)),
        SceneObject("wall", material("iron"), "container", (Box(0, 300, 101.3, 103.3, 0, 2300),)),
        SceneObject("pallet", material("wood_pine"), "cargo", (Box(40.7, 210.2, 20.4, 560.9, 100, 1100),)),
        SceneObject("drums", material("polyethylene"), "cargo",
                    (Cylinder("z", 150, 300, 1400, 90, 200), Cylinder("x", 120, 300, 1800, 70, 500, 30))),
        SceneObject("lead", material("lead"), "threat", (Box(101.1, 160.6, 400.2, 455.5, 500, 560),)),
    ]
    return Scene(objects, length_mm=600.0, height_mm=300.0)


@pytest.mark.parametrize("energy", [6.0, 3.0])
def test_fast_path_matches_brute_force_sub_ray_averaging(energy):
    physics = pytest.importorskip("nii.physics")
    effective = physics.effective_beams((energy,))[0]
    beam = BeamMoments(energy, effective.energy_mev, effective.weight)
    scene = _mixed_scene()
    mu = physics.attenuation_coefficients(scene.materials, effective)
    density = np.array([m.density_g_cm3 for m in scene.materials]) / 10.0
    rows, cols, sub_rows, sub_cols, row_h, col_w = 60, 150, 4, 2, 4.2, 3.2
    z = (np.arange(rows) + 0.5) * row_h
    x = (np.arange(cols) + 0.5) * col_w + 30.0
    z_sub = (z[:, None] + subray_offsets(sub_rows, row_h)).ravel()
    x_sub = (x[:, None] + subray_offsets(sub_cols, col_w)).ravel()
    paths = scene.path_lengths_mm(z_sub, x_sub, row_height_mm=0.0, column_width_mm=0.0)
    areal = (paths * density[:, None, None].astype(np.float32)).reshape(len(density), rows, sub_rows, cols, sub_cols)
    fast = aperture_transmission_moments(areal, mu, beam)
    # Brute force: every sub-ray evaluated directly, then averaged.
    flat = areal.transpose(0, 1, 3, 2, 4).reshape(len(density), -1).astype(np.float64)
    each = np.exp(-(flat.T @ mu))
    for moment, weight in zip(fast, (beam.signal_weight, beam.second_moment_weight), strict=True):
        brute = (each @ weight).reshape(rows, cols, sub_rows * sub_cols).mean(axis=2)
        assert np.max(np.abs(moment - brute)) <= max(SUBRAY_TRANSMISSION_TOLERANCE, 1e-12) + 1e-9
        assert np.max(np.abs(moment - brute)) <= 1e-4
    exact = aperture_transmission_moments(areal, mu, beam, tolerance=0.0)
    assert np.allclose(exact[0], fast[0], rtol=0, atol=SUBRAY_TRANSMISSION_TOLERANCE)
    # Averaging matters here: one evaluation at the mean areal density is far darker at edges.
    single = aperture_transmission_moments(areal, mu, beam, tolerance=np.inf)
    assert np.max(exact[0] - single[0]) > 0.05
    assert np.all(exact[0] >= single[0] - 1e-12)  # Jensen: the mean of T is at least T of the mean


def test_aperture_transmission_rejects_bad_input():
    beams = _beams()
    with pytest.raises(SimulationError, match="Sr"):
        aperture_transmission_moments(np.zeros((1, 2, 2)), _mu(beams)[0], beams[0])
    with pytest.raises(SimulationError, match="tolerance"):
        aperture_transmission_moments(np.zeros((1, 2, 2, 2, 2)), _mu(beams)[0], beams[0], tolerance=-1.0)
    t1, t2 = aperture_transmission_moments(np.zeros((1, 0, 2, 3, 2)), _mu(beams)[0], beams[0])
    assert t1.shape == t2.shape == (0, 3)


# ------------------------------------------------------------------------ noise
def _channels(n: int, read_noise: float = 0.0) -> ChannelResponse:
    return ChannelResponse(np.ones(n), np.full(n, 1000.0), np.full(n, read_noise),
                           np.array([], int), np.array([], int), [])


@pytest.mark.parametrize("transmission", [0.5, 2e-4])
def test_detector_noise_has_the_compound_poisson_mean_and_variance(transmission):
    # 2e-4 of 1e5 photons: ~10 equivalent quanta, the scaled-Poisson branch.
    rng = np.random.default_rng(7)
    n, pulses, quanta = 40, 2000, 1.0e5
    t = np.full((n, pulses), transmission)
    samples = detector_signal(t, t, np.ones(pulses), _channels(n), 50000.0, quanta, 65535.0, rng)
    net = samples - 1000.0
    expected_mean = 50000.0 * transmission
    expected_var = 50000.0**2 * transmission / quanta + 1.0 / 12.0  # + rounding
    assert (expected_mean**2 / (expected_var - 1 / 12) >= GAUSSIAN_MIN_QUANTA) == (transmission == 0.5)
    assert net.mean() == pytest.approx(expected_mean, rel=2e-3)
    assert net.var() == pytest.approx(expected_var, rel=0.05)
    assert samples.min() >= 0


def test_alpha_noise_variance_scales_inversely_with_flux():
    beams = _beams()
    variances = []
    for photons in ((2.0e4, 1.0e4), (8.0e4, 4.0e4)):
        config = _config(photons_air=photons, electronic_noise_adu=0.0, dose_monitor_noise=0.0)
        scene = Slab(0.0)  # air: flat everywhere
        acq = acquire(scene, [7.87], _mu(beams), beams, 3000.0, config, np.random.default_rng(11))
        variances.append([_corrected_alpha(acq, e).var() for e in (0, 1)])
    ratio = np.asarray(variances[0]) / np.asarray(variances[1])
    assert ratio == pytest.approx([4.0, 4.0], rel=0.12)
    # Absolute level: var(α) = 1 / (N_air × Swank factor) in air (dose jitter removed).
    for energy, photons in enumerate((8.0e4, 4.0e4)):
        expected = 1.0 / (photons * beams[energy].swank_factor)
        assert variances[1][energy] == pytest.approx(expected, rel=0.15)


def test_alpha_noise_under_a_slab_follows_the_second_moment():
    beams = _beams()
    mu = _mu(beams)
    config = _config(photons_air=(5e4, 2e4), electronic_noise_adu=0.0, dose_monitor_noise=0.0)
    thickness_mm = 200.0  # 157 g/cm² of a 7.87 g/cm³ material
    acq = acquire(Slab(thickness_mm), [7.87], mu, beams, 2000.0, config, np.random.default_rng(5))
    alpha = _corrected_alpha(acq, 0)  # the slab fills every pixel
    areal = np.full((1, 1, 1), thickness_mm * 0.787)
    t1, t2 = transmission_moments(areal, mu[0], beams[0])
    # The mean transmission is unbiased (the mean of α is not: Jensen).
    assert -np.log(np.exp(-alpha).mean()) == pytest.approx(-np.log(t1[0, 0]), abs=0.005)
    expected_var = t2[0, 0] / (t1[0, 0] ** 2 * 5e4 * beams[0].swank_factor)
    assert alpha.var() == pytest.approx(expected_var, rel=0.15)


def test_dose_monitor_tracks_the_signal():
    beams = _beams()
    config = _config(dose_jitter=0.03)
    acq = acquire(Slab(0.0), [1.0], _mu(beams), beams, 2000.0, config, np.random.default_rng(2))
    beam_on = (acq.flags & FLAG_DOSE_VALID) > 0
    for energy in (0, 1):
        mine = beam_on & (acq.energy_index == energy)
        signal = acq.samples[mine].astype(np.float64).mean(axis=1)
        assert np.corrcoef(signal, acq.dose[mine])[0, 1] > 0.95
    dark = (acq.flags & FLAG_DARK) > 0
    assert not np.any(acq.flags[dark] & FLAG_DOSE_VALID)
    assert np.all(np.abs(acq.dose[dark]) < 0.05 * config.dose_monitor_level)
    assert np.all(acq.flags & FLAG_POSITION_VALID)


def test_dead_noisy_and_listed_channels():
    beams = _beams()
    config = _config(dead_channels=2, noisy_channels=4, noisy_factor=20.0)
    acq = acquire(Slab(0.0), [1.0], _mu(beams), beams, 2000.0, config, np.random.default_rng(9))
    ch = acq.channels
    assert ch.dead.size == 2 and ch.noisy.size == 4
    assert set(ch.dead) <= set(ch.listed_bad)
    listed_noisy = set(ch.noisy) & set(ch.listed_bad)
    assert 0 < len(listed_noisy) < 4  # some, not all
    air = (acq.flags & FLAG_AIR) > 0
    dark = (acq.flags & FLAG_DARK) > 0
    samples = acq.samples.astype(np.float64)
    for c in ch.dead:  # no response to the beam: air equals dark
        assert abs(samples[air, c].mean() - samples[dark, c].mean()) < 3.0
    good = np.setdiff1d(np.arange(config.channels), np.concatenate([ch.dead, ch.noisy]))
    assert samples[air][:, good].mean() > 40000
    dark_std = samples[dark].std(axis=0)
    assert np.all(dark_std[ch.noisy] > 5 * np.median(dark_std[good]))


def test_saturation_clips_at_full_scale():
    beams = _beams()
    config = _config(air_level_adu=70000.0, saturation=60000)
    acq = acquire(Slab(0.0), [1.0], _mu(beams), beams, 2000.0, config, np.random.default_rng(1))
    air = (acq.flags & FLAG_AIR) > 0
    assert acq.samples.max() == 60000
    assert np.mean(acq.samples[air] == 60000) > 0.5


def test_first_channel_bottom_reverses_the_samples():
    beams = _beams()
    top_band = Slab(300.0, z_range=(0.0, 500.0))
    rows_top = acquire(top_band, [7.87], _mu(beams), beams, 2000.0, _config(), np.random.default_rng(4))
    rows_bottom = acquire(top_band, [7.87], _mu(beams), beams, 2000.0, _config(first_channel="bottom"),
                          np.random.default_rng(4))
    obj = np.arange(rows_top.pulse_index.size) >= rows_top.object_start
    mid = obj & (np.abs(rows_top.true_position_mm - 1000) < 500)
    assert rows_top.samples[mid, 0].mean() < 0.1 * rows_top.samples[mid, -1].mean()
    assert rows_bottom.samples[mid, -1].mean() < 0.1 * rows_bottom.samples[mid, 0].mean()


# ----------------------------------------------------------------- blur/scatter
def test_blur_spreads_an_edge_and_keeps_the_mean():
    image = np.zeros((20, 40))
    image[:, 20:] = 1.0
    out = blur_expected(image, 1.0, 2.0)
    assert out.mean() == pytest.approx(image.mean(), abs=0.01)
    assert 0.0 < out[10, 19] < 0.5 < out[10, 20] < 1.0
    assert np.array_equal(blur_expected(image, 0.0, 0.0), image)


def test_scatter_is_broad_and_bounded():
    t = np.ones((64, 200))
    t[20:40, 80:120] = 0.001
    s = scatter_signal(t, 0.005, 15.0, 30.0)
    assert s.max() <= 0.005 + 1e-12 and s.min() >= 0
    assert s[30, 100] > s[30, 10] > 0  # spreads beyond the object, strongest over it
    assert np.array_equal(scatter_signal(t, 0.0, 15.0, 30.0), np.zeros_like(t))


def test_scatter_spread_approximates_a_gaussian():
    from scipy import ndimage

    t = np.ones((128, 300))
    t[30:80, 60:200] = 0.0
    approximate = scatter_signal(t, 1.0, 24.0, 40.0)
    exact = ndimage.gaussian_filter(1.0 - t, (24.0, 40.0), mode="nearest")
    assert np.abs(approximate - exact).max() < 0.02


# ------------------------------------------------------------------ determinism
def test_acquisition_is_deterministic_per_seed():
    beams = _beams()
    scene = Slab(150.0, z_range=(500.0, 2500.0), x_range=(800.0, 1400.0))
    run = [acquire(scene, [7.87], _mu(beams), beams, 2000.0, _config(), np.random.default_rng(s))
           for s in (21, 21, 22)]
    assert np.array_equal(run[0].samples, run[1].samples)
    assert np.array_equal(run[0].dose, run[1].dose)
    assert not np.array_equal(run[0].samples, run[2].samples)


def test_acquire_rejects_a_scene_of_the_wrong_shape():
    beams = _beams()

    def wrong(z, x, **_):
        return np.zeros((2, z.size, x.size))

    with pytest.raises(SimulationError, match="shape"):
        acquire(wrong, [1.0], _mu(beams), beams, 1000.0, _config(), np.random.default_rng(0))


def test_acquire_refuses_a_huge_scan_before_allocating():
    beams = _beams()
    huge = ScannerConfig().scaled(channels=8192, pulses=20000)
    with pytest.raises(SimulationError, match="exceeds"):
        acquire(Slab(0.0), [1.0], _mu(beams), beams, 1000.0, huge, np.random.default_rng(0))
