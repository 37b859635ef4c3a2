"""nii.scatter: the forward-scatter model shared by the simulator and the correction."""

from __future__ import annotations

import numpy as np
import pytest

from nii.scatter import ForwardScatter, broad_gaussian, reference_scatter
from nii.simulate.scanner import ScannerConfig


def test_reference_scatter_is_the_simulated_scanners():
    reference = reference_scatter()
    config = ScannerConfig()
    assert reference.fraction == pytest.approx(config.scatter_fraction)
    assert reference.sigma_mm == pytest.approx(config.scatter_sigma_mm)


def test_signal_is_bounded_and_zero_in_air():
    model = ForwardScatter(fraction=1e-3, sigma_mm=100.0)
    air = np.ones((20, 50))
    assert np.array_equal(model.signal(air, 5.0, 2.0), np.zeros_like(air))
    dense = np.zeros((20, 50))
    np.testing.assert_allclose(model.signal(dense, 5.0, 2.0), 1e-3)
    assert ForwardScatter(0.0, 10.0).signal(dense, 5.0, 2.0).max() == 0.0


def test_broad_gaussian_keeps_the_mean_and_spreads_a_line():
    image = np.zeros((64, 256))
    image[:, 128] = 1.0
    blurred = broad_gaussian(image, 0.0, 40.0)
    assert blurred.sum() == pytest.approx(image.sum(), rel=0.02)
    profile = blurred[32]
    width = np.sqrt(np.sum(profile * (np.arange(256) - 128.0) ** 2) / profile.sum())
    assert width == pytest.approx(40.0, rel=0.1)


@pytest.mark.parametrize("fraction, sigma", [(-1e-5, 100.0), (0.02, 100.0), (1e-4, 0.0)])
def test_impossible_models_are_refused(fraction, sigma):
    with pytest.raises(ValueError):
        ForwardScatter(fraction, sigma)
