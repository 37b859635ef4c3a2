"""The empty container's image model measured from the scan (``_container_profile``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nii.inspection.checks._container_profile import measure_container_profile, periodic_template


def _corrugation(n: int, pitch: float, flank: float, depth_g_cm2: float) -> np.ndarray:
    """A trapezoidal wall's extra areal density along x: a bump on both flanks of each pitch.

    The bumps are Gaussian, ``flank`` samples wide (σ), as the detector's aperture and
    the flanks' slope blur them.
    """
    x = np.arange(n, dtype=np.float64)
    wave = np.zeros(n)
    for centre in (0.0, pitch / 2):
        distance = np.abs((x - centre + pitch / 2) % pitch - pitch / 2)
        wave += np.exp(-0.5 * (distance / flank) ** 2)
    return depth_g_cm2 * wave


@pytest.mark.parametrize("pitch", [7.3, 11.0, 23.6, 41.25])
def test_periodic_template_finds_any_pitch(pitch):
    rng = np.random.default_rng(int(pitch * 100))
    wave = _corrugation(900, pitch, max(0.8, pitch / 12), 1.0)
    template, period = periodic_template(wave + rng.normal(0, 0.05, wave.size), 0.05)
    # The pitch or its half (two flanks per pitch look alike).
    assert min(abs(period - pitch), abs(period - pitch / 2)) < 0.02 * pitch
    assert np.std(wave - template) < 0.35 * np.std(wave)


def test_goods_over_a_few_periods_do_not_bend_the_template():
    rng = np.random.default_rng(7)
    wave = _corrugation(800, 17.5, 1.5, 1.0)
    goods = np.zeros_like(wave)
    goods[300:335] = 4.0                      # two periods under a full-height stack
    template, period = periodic_template(wave + goods + rng.normal(0, 0.05, wave.size), 0.05)
    assert math.isfinite(period)
    left = wave + goods - template
    left -= np.median(left)
    assert left[300:335].mean() > 3.5           # the goods stay in the residual
    assert np.std(left[:300]) < 0.15


def test_white_noise_has_no_period():
    rng = np.random.default_rng(3)
    template, period = periodic_template(rng.normal(0, 1.0, 600), 1.0)
    assert math.isnan(period) and not template.any()


def test_profile_separates_rows_corrugation_and_noise():
    rng = np.random.default_rng(11)
    rows, cols = 60, 700
    level = np.linspace(2.5, 3.0, rows)
    wave = _corrugation(cols, 13.7, 1.2, 0.8)
    noise = 0.05
    areal = level[:, None] + wave[None, :] + rng.normal(0, noise, (rows, cols))
    sigma = np.full((rows, cols), noise)
    profile = measure_container_profile(areal, sigma, (0, rows), (0, cols), column_pitch_mm=4.0)
    assert min(abs(profile.period_mm - 13.7 * 4.0), abs(profile.period_mm - 13.7 * 2.0)) < 1.0
    residual = areal - profile.expected()
    assert abs(np.std(residual) - noise) < 0.02
    assert profile.model_sigma_g_cm2 < 0.03
    assert np.allclose(profile.level_g_cm2 - profile.level_g_cm2.mean(), level - level.mean(), atol=0.05)
