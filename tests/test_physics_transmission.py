"""Detector response, effective beams and polychromatic transmission."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from nii.errors import CatalogueError
from nii.physics import (
    Detector,
    EffectiveBeam,
    PhysicsError,
    attenuation_coefficients,
    effective_beams,
    linac_spectrum,
    mass_attenuation,
    mass_energy_absorption,
    material,
    polychromatic_transmission,
)


@pytest.fixture(scope="module")
def beams_6_3():
    return effective_beams((6.0, 3.0))


def test_detector_response_limits():
    energy = np.array([0.2, 1.0, 3.0, 6.0])
    crystal = material("cdwo4")
    mu = mass_attenuation(crystal, energy)
    mu_en = mass_energy_absorption(crystal, energy)
    thin = Detector(depth_mm=1e-4).response(energy)
    # thin crystal: E (μen/ρ) ρ d
    np.testing.assert_allclose(thin, energy * mu_en * crystal.density_g_cm3 * 1e-5, rtol=1e-4)
    thick = Detector(depth_mm=1e4).response(energy)
    # infinitely deep crystal: E μen/μ
    np.testing.assert_allclose(thick, energy * mu_en / mu, rtol=1e-9)
    default = Detector().response(energy)
    assert np.all(thin < default) and np.all(default < thick) and np.all(default < energy)
    assert isinstance(Detector().response(6.0), float)


def test_detector_rejects_bad_parameters():
    with pytest.raises(PhysicsError, match="depth_mm"):
        Detector(depth_mm=0.0)
    with pytest.raises(CatalogueError, match="unknown material"):
        Detector(material="unobtainium")


def test_effective_beams_are_sorted_and_normalised(beams_6_3):
    high, low = beams_6_3
    assert (high.endpoint_mev, low.endpoint_mev) == (6.0, 3.0)
    for beam in beams_6_3:
        assert beam.weight.sum() == pytest.approx(1.0)
        assert np.all(beam.weight >= 0.0)
        assert beam.energy_mev.max() < beam.endpoint_mev
    assert high.mean_energy_mev > low.mean_energy_mev
    reordered = effective_beams((3.0, 6.0))
    assert [b.endpoint_mev for b in reordered] == [6.0, 3.0]


def test_transmission_through_100_mm_iron_matches_independent_integration(beams_6_3):
    high = beams_6_3[0]
    areal = 10.0 * material("iron").density_g_cm3
    fast = float(
        polychromatic_transmission(high, attenuation_coefficients(["iron"], high), [areal])
    )

    # Independent path: continuous interpolant of the differential spectrum, scalar
    # detector response and μ/ρ, adaptive quadrature.
    spectrum = linac_spectrum(6.0)
    density = PchipInterpolator(spectrum.energy_mev, spectrum.differential(), extrapolate=True)
    detector = Detector()

    def signal(energy, thickness):
        return (
            max(float(density(energy)), 0.0)
            * detector.response(energy)
            * np.exp(-mass_attenuation("iron", energy) * thickness)
        )

    low, high_edge = spectrum.bin_edges_mev[0], spectrum.bin_edges_mev[-1]
    breakpoints = list(spectrum.bin_edges_mev[1:-1])
    through = quad(
        signal,
        low,
        high_edge,
        args=(areal,),
        limit=400,
        points=breakpoints,
        epsabs=0.0,
        epsrel=1e-5,
    )[0]
    open_beam = quad(
        signal, low, high_edge, args=(0.0,), limit=400, points=breakpoints, epsabs=0.0, epsrel=1e-5
    )[0]
    reference = through / open_beam
    assert 0.02 < reference < 0.1
    assert fast == pytest.approx(reference, rel=0.005), (fast, reference)


def test_monoenergetic_beam_is_beer_lambert():
    beam = EffectiveBeam(endpoint_mev=2.0, energy_mev=np.array([2.0]), weight=np.array([1.0]))
    mu = attenuation_coefficients(["lead", "water"], beam)
    areal = np.array([[0.0, 10.0, 50.0], [5.0, 0.0, 20.0]])
    expected = np.exp(-(mu[:, 0:1] * areal).sum(axis=0))
    np.testing.assert_allclose(polychromatic_transmission(beam, mu, areal), expected, rtol=1e-5)


def test_shapes_zero_thickness_and_layer_additivity(beams_6_3):
    high = beams_6_3[0]
    mu = attenuation_coefficients(["iron", "water", "polyethylene"], high)
    rng = np.random.default_rng(3)
    areal = rng.uniform(0.0, 30.0, size=(3, 7, 5))
    t = polychromatic_transmission(high, mu, areal)
    assert t.shape == (7, 5) and t.dtype == np.float32
    assert np.all((t > 0.0) & (t < 1.0))
    assert float(polychromatic_transmission(high, mu, np.zeros(3))) == pytest.approx(1.0, rel=1e-6)
    # splitting one material into two layers changes nothing
    split = polychromatic_transmission(high, np.vstack([mu[:1], mu[:1]]), np.array([[4.0], [6.0]]))
    whole = polychromatic_transmission(high, mu[:1], np.array([[10.0]]))
    np.testing.assert_allclose(split, whole, rtol=1e-6)
    # more material, less light
    assert np.all(polychromatic_transmission(high, mu, areal * 2.0) < t)
    # no material on the ray
    assert float(
        polychromatic_transmission(high, np.zeros((0, high.energy_mev.size)), np.zeros((0,)))
    ) == pytest.approx(1.0)


def test_effective_beam_validates_its_arrays():
    with pytest.raises(PhysicsError, match="equal"):
        EffectiveBeam(endpoint_mev=6.0, energy_mev=np.array([1.0, 2.0]), weight=np.array([1.0]))
    with pytest.raises(PhysicsError, match="weight"):
        EffectiveBeam(endpoint_mev=6.0, energy_mev=np.array([1.0]), weight=np.array([-1.0]))


def test_transmission_rejects_bad_input(beams_6_3):
    high = beams_6_3[0]
    mu = attenuation_coefficients(["iron"], high)
    with pytest.raises(PhysicsError, match="mass_attenuation_cm2_g"):
        polychromatic_transmission(high, mu[:, :5], [1.0])
    with pytest.raises(PhysicsError, match="areal_density_g_cm2"):
        polychromatic_transmission(high, mu, np.ones((2, 4)))
    with pytest.raises(PhysicsError, match=">= 0"):
        polychromatic_transmission(high, mu, [[-1.0]])
    with pytest.raises(PhysicsError, match=">= 0"):
        polychromatic_transmission(high, mu, [[np.nan]])


def _ratio_at_equal_high_attenuation(name, high, low, attenuation_high):
    mu_high = attenuation_coefficients([name], high)
    mu_low = attenuation_coefficients([name], low)

    def excess(areal):
        return -np.log(float(polychromatic_transmission(high, mu_high, [areal]))) - attenuation_high

    areal = brentq(excess, 1e-3, 2000.0, xtol=1e-6)
    attenuation_low = -np.log(float(polychromatic_transmission(low, mu_low, [areal])))
    return attenuation_low / attenuation_high


@pytest.mark.parametrize(
    ("attenuation_high", "names"),
    [
        (1.0, ["graphite", "aluminium", "iron", "copper"]),
        (2.0, ["graphite", "aluminium", "iron", "copper", "tin"]),
        (4.0, ["graphite", "aluminium", "iron", "copper", "tin", "tungsten"]),
    ],
)
def test_low_to_high_attenuation_ratio_falls_with_z(beams_6_3, attenuation_high, names):
    # Pair production grows with Z and with energy, so heavier elements attenuate
    # relatively more of the high-energy beam: α_L/α_H DEcreases with Z, strictly, up to
    # the Z where photoelectric absorption of the soft low-energy photons takes over
    # (Cu for thin objects, Sn at α_H = 2, W at α_H = 4).
    high, low = beams_6_3
    ratios = [_ratio_at_equal_high_attenuation(n, high, low, attenuation_high) for n in names]
    assert np.all(np.diff(ratios) < 0.0), ratios
    assert ratios[0] > 1.3


def test_high_z_ratio_turns_back_up_through_photoelectric_absorption(beams_6_3):
    # Above Z ≈ 60 photoelectric absorption of the soft part of the 3 MeV beam raises α_L
    # again, so W, Pb and U are not ordered by Z (a real ambiguity of 6/3 MeV imaging;
    # even monoenergetic μ(3 MeV)/μ(6 MeV) is lower for Pb than for U).
    high, low = beams_6_3
    names = ["tin", "tungsten", "lead", "uranium"]
    ratios = [_ratio_at_equal_high_attenuation(n, high, low, 2.0) for n in names]
    assert ratios[3] > ratios[2] > ratios[1]
    assert mass_attenuation("lead", 3.0) / mass_attenuation("lead", 6.0) < mass_attenuation(
        "uranium", 3.0
    ) / mass_attenuation("uranium", 6.0)
    # but at equal α_H every heavy metal still sits below the organics' ratio when thick
    heavy = [
        _ratio_at_equal_high_attenuation(n, high, low, 4.0) for n in ("tungsten", "lead", "uranium")
    ]
    light = _ratio_at_equal_high_attenuation("graphite", high, low, 4.0)
    assert max(heavy) < light
