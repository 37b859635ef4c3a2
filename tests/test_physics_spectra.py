"""Linac bremsstrahlung spectra and the electron physics behind them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid

from nii.errors import CatalogueError
from nii.physics import PhysicsError, csda_range_g_cm2, linac_spectrum
from nii.physics._electrons import (
    collision_stopping_power,
    radiative_stopping_power,
    schiff_cross_section,
    schiff_forward_cross_section,
)
from nii.physics._spectra import DEFAULT_FILTRATION

WATER = {"H": 0.111894, "O": 0.888106}


def test_mean_energy_of_a_6_mv_spectrum_is_in_the_expected_range():
    spectrum = linac_spectrum(6.0)
    # domain primer: about 1.3 MeV at 6 MV unfiltered, 1.3-1.9 MeV with filtration (Mohan
    # et al. 1985: 1.90 MeV on the axis of a flattened clinical beam); model value 1.66 MeV
    # (forward form, W target + 5 mm Cu + 5 mm W head filtration, docs/spectrum.md)
    assert 1.3 <= spectrum.mean_energy_mev <= 1.9


def test_spectrum_hardens_with_endpoint():
    means = [linac_spectrum(e).mean_energy_mev for e in (3.0, 4.0, 6.0, 8.0, 9.0)]
    assert np.all(np.diff(means) > 0.0)
    # model 1.03 MeV at 3 MeV with the default 5 mm Cu + 5 mm W (0.74 MeV with the copper alone)
    assert 0.7 < means[0] < 1.2


def test_spectrum_grid_and_fluence_are_sane():
    spectrum = linac_spectrum(6.0, n_bins=40)
    assert spectrum.energy_mev.shape == spectrum.fluence.shape == (40,)
    assert spectrum.bin_edges_mev[0] == pytest.approx(0.05)
    assert spectrum.bin_edges_mev[-1] == pytest.approx(6.0)
    assert np.all(spectrum.fluence >= 0.0)
    # fluence falls to almost nothing in the last bin below the endpoint
    assert spectrum.fluence[-1] < 0.01 * spectrum.fluence.max()
    assert not spectrum.fluence.flags.writeable


def test_filtration_hardens_and_angle_integration_softens():
    base = linac_spectrum(6.0)
    filtered = linac_spectrum(6.0, filtration=[*DEFAULT_FILTRATION, ("lead", 5.0)])
    integrated = linac_spectrum(6.0, angular="integrated")
    assert filtered.mean_energy_mev > base.mean_energy_mev
    assert integrated.mean_energy_mev < base.mean_energy_mev


def test_very_thin_target_reduces_to_the_thin_target_cross_section():
    # 10 µm of W: the electron keeps its energy and nothing is absorbed, so the yield per
    # bin is (N_A/A) ρt ∫ dσ/dk(T0, k) dk with the forward Schiff cross section.
    thickness_mm = 0.01
    spectrum = linac_spectrum(6.0, target_thickness_mm=thickness_mm, filtration=(), n_bins=30)
    areal = thickness_mm * 0.1 * 19.3
    atoms_per_gram = 6.02214076e23 / 183.85
    edges = spectrum.bin_edges_mev
    expected = []
    for low, high in zip(edges[:-1], edges[1:], strict=False):
        k = np.linspace(low, high, 201)
        expected.append(trapezoid(schiff_forward_cross_section(74, 6.0, k), k))
    expected = atoms_per_gram * areal * np.asarray(expected)
    middle = slice(5, 25)
    np.testing.assert_allclose(spectrum.fluence[middle], expected[middle], rtol=0.03)


def test_spectra_are_cached():
    assert linac_spectrum(6.0) is linac_spectrum(6.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endpoint_mev": 0.0}, "endpoint"),
        ({"endpoint_mev": 6.0, "n_bins": 1}, "n_bins"),
        ({"endpoint_mev": 6.0, "target_thickness_mm": -1.0}, "target_thickness_mm"),
        ({"endpoint_mev": 6.0, "filtration": [("copper",)]}, "filtration"),
        ({"endpoint_mev": 6.0, "angular": "sideways"}, "angular"),
        ({"endpoint_mev": 6.0, "min_energy_mev": 7.0}, "min_energy_mev"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs, match):
    with pytest.raises(PhysicsError, match=match):
        linac_spectrum(**kwargs)


def test_unknown_filter_material_names_close_ones():
    with pytest.raises(CatalogueError, match="copper"):
        linac_spectrum(6.0, filtration=[("coppper", 1.0)])


def test_schiff_reaches_bethe_heitler_complete_screening():
    # Koch & Motz: for E0 E / k >> 111 Z^-1/3 screening is complete and
    # dσ/dk = 4αr0²Z(Z+1)/k [(1 + ε² − 2ε/3) ln(183 Z^-1/3) + ε/9], ε = E/E0
    alpha, r0, rest = 7.2973525693e-3, 2.8179403262e-13, 0.51099895
    z, t, k = 82, 50.0, 0.5
    e0 = (t + rest) / rest
    ratio = (e0 - k / rest) / e0
    expected = (
        4
        * alpha
        * r0**2
        * z
        * (z + 1)
        / k
        * ((1 + ratio**2 - 2 * ratio / 3) * np.log(183 * z ** (-1 / 3)) + ratio / 9)
    )
    assert float(schiff_cross_section(z, t, k)) == pytest.approx(expected, rel=0.02)


def test_cross_sections_vanish_above_the_electron_energy():
    assert float(schiff_cross_section(74, 3.0, 3.5)) == 0.0
    assert float(schiff_forward_cross_section(74, 3.0, 3.5)) == 0.0
    assert float(schiff_cross_section(74, 3.0, 1.0)) > 0.0


def test_stopping_powers_near_nist_estar_for_water():
    # NIST ESTAR, liquid water: collision 1.849 MeV cm²/g at 1 MeV and 1.968 at 10 MeV;
    # radiative 0.1832 at 10 MeV
    assert float(collision_stopping_power(WATER, 1.0, 1.0)) == pytest.approx(1.849, rel=0.015)
    assert float(collision_stopping_power(WATER, 10.0, 1.0)) == pytest.approx(1.968, rel=0.02)
    assert float(radiative_stopping_power(WATER, 10.0)) == pytest.approx(0.1832, rel=0.05)
    # the density effect lowers the collision stopping power of condensed matter
    assert collision_stopping_power(WATER, 10.0, 1.0) < 0.95 * collision_stopping_power(WATER, 10.0)


def test_radiative_fraction_grows_with_z_and_energy():
    tungsten = {"W": 1.0}
    ratio_w = radiative_stopping_power(tungsten, 6.0) / collision_stopping_power(tungsten, 6.0)
    ratio_water = radiative_stopping_power(WATER, 6.0) / collision_stopping_power(WATER, 6.0)
    assert ratio_w > 10 * ratio_water
    # rule of thumb S_rad/S_col ≈ Z (T + mc²)/800 (Koch & Motz; ICRU 37): 0.6 at 6 MeV in W
    assert float(ratio_w) == pytest.approx(74 * 6.51 / 800, rel=0.25)


def test_csda_range_of_6_mev_electrons_in_water():
    # NIST ESTAR CSDA range 3.052 g/cm²
    assert csda_range_g_cm2("water", 6.0) == pytest.approx(3.052, rel=0.03)
