"""Spectrum checks (docs/spectrum.md): NIST spot values through the detector weighting, the
Kramers reference point, R = α_L/α_H ordered by Z at equal α_H from the physics and from
simulated wedge scans, and the model against a published 6 MV spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from nii.physics import (
    Detector,
    EffectiveBeam,
    Spectrum,
    attenuation_coefficients,
    effective_beams,
    linac_spectrum,
    mass_attenuation,
    material,
    polychromatic_transmission,
)
from nii.physics._constants import physics_constants
from nii.physics._spectra import DEFAULT_FILTRATION

WEDGE_MATERIALS = ("polyethylene", "aluminium", "iron", "lead")

# NIST XCOM total μ/ρ with coherent scattering (Hubbell & Seltzer, NISTIR 5632), cm²/g
NIST_SPOT_VALUES = [
    ("iron", 1.0, 0.05995), ("iron", 6.0, 0.03057), ("iron", 10.0, 0.02994),
    ("lead", 1.0, 0.07102), ("lead", 6.0, 0.04391), ("lead", 10.0, 0.04972),
    ("water", 1.0, 0.07072), ("water", 6.0, 0.02770), ("water", 10.0, 0.02219),
    ("polyethylene", 6.0, 0.02760), ("aluminium", 6.0, 0.02655),
]


def _beam(spectrum: Spectrum, detector: Detector) -> EffectiveBeam:
    signal = spectrum.fluence * detector.response(spectrum.energy_mev)
    return EffectiveBeam(spectrum.endpoint_mev, spectrum.energy_mev, signal / signal.sum())


def _areal_at(beam: EffectiveBeam, name: str, alpha: float) -> float:
    """Areal density (g/cm²) of a material at which −ln T of the beam equals ``alpha``."""
    mu = attenuation_coefficients([name], beam)

    def excess(areal: float) -> float:
        transmission = float(polychromatic_transmission(beam, mu, [[areal]])[0])
        return -np.log(max(transmission, 1e-30)) - alpha

    return brentq(excess, 1e-3, 3000.0, xtol=1e-6)


def _ratio_at(beams, name: str, alpha_high: float) -> float:
    high, low = beams
    areal = _areal_at(high, name, alpha_high)
    mu_low = attenuation_coefficients([name], low)
    return -np.log(float(polychromatic_transmission(low, mu_low, [[areal]])[0])) / alpha_high


def _kramers(endpoint_mev: float, filtration=(), min_energy_mev: float = 0.1, bins: int = 400) -> Spectrum:
    """Kramers' thick-target photon-number shape (E0 − E)/E, optionally filtered (mm)."""
    edges = np.linspace(min_energy_mev, endpoint_mev, bins + 1)
    energy = 0.5 * (edges[1:] + edges[:-1])
    fluence = (endpoint_mev - energy) / energy * np.diff(edges)
    for name, mm in filtration:
        fluence = fluence * np.exp(-np.asarray(mass_attenuation(name, energy)) * material(name).density_g_cm3 * mm / 10)
    return Spectrum(energy, fluence, endpoint_mev, edges)


@pytest.mark.parametrize(("name", "energy_mev", "nist"), NIST_SPOT_VALUES)
def test_attenuation_through_the_detector_weighting_reproduces_nist(name, energy_mev, nist):
    # a line spectrum weighted by the detector: the thin-slab attenuation per g/cm² of the
    # signal is μ/ρ at that energy, whatever the crystal's response
    line = Spectrum(np.array([energy_mev]), np.array([1.0]), energy_mev,
                    np.array([energy_mev * 0.999, energy_mev]))
    beam = _beam(line, Detector())
    mu = attenuation_coefficients([name], beam)
    transmission = float(polychromatic_transmission(beam, mu, [[1.0]])[0])
    assert -np.log(transmission) == pytest.approx(nist, rel=0.01)
    # a narrow band of a real effective beam (signal-weighted), 1 % wide: the same value
    edges = np.linspace(0.995 * energy_mev, 1.005 * energy_mev, 9)
    centre = 0.5 * (edges[1:] + edges[:-1])
    band = Spectrum(centre, np.ones(centre.size), energy_mev, edges)
    beam = _beam(band, Detector("CsI", 40.0))
    slope = -np.log(float(polychromatic_transmission(beam, attenuation_coefficients([name], beam), [[0.01]])[0])) / 0.01
    assert slope == pytest.approx(nist, rel=0.01)


def test_kramers_reference_point():
    reference = physics_constants()["reference_spectra"]["kramers_check"]
    beams = [_beam(_kramers(e, min_energy_mev=reference["min_energy_mev"]), Detector("CdWO4", 30.0))
             for e in reference["energies_mev"]]
    r = {name: _ratio_at(beams, name, reference["alpha_high"]) for name in WEDGE_MATERIALS}
    # the reference's detector weighting is not stated: ours (first-collision energy
    # absorption, docs/spectrum.md) gives 1.365, 1.322, 1.350; tolerance 0.02
    assert r["polyethylene"] == pytest.approx(reference["r_polyethylene"], abs=0.02)
    assert r["iron"] == pytest.approx(reference["r_iron"], abs=0.02)
    assert r["lead"] == pytest.approx(reference["r_lead"], abs=0.02)
    assert r["polyethylene"] > r["lead"] > r["iron"]  # unfiltered: lead between PE and iron
    filtered = [_beam(_kramers(e, filtration=[("tungsten", 3.0)]), Detector()) for e in (6.0, 3.0)]
    assert _ratio_at(filtered, "lead", 1.5) < _ratio_at(filtered, "iron", 1.5)  # a few mm of W


@pytest.mark.parametrize("energies", [(6.0, 3.0), (9.0, 6.0), (8.0, 4.0)])
def test_r_orders_by_z_at_equal_alpha_high_from_the_physics(energies):
    beams = effective_beams(energies)
    for alpha_high in (1.5, 2.0, 3.0, 5.0, 8.0):
        ratios = [_ratio_at(beams, name, alpha_high) for name in WEDGE_MATERIALS]
        assert np.all(np.diff(ratios) < 0.0), (energies, alpha_high, ratios)


def test_the_low_energy_shares_the_high_energy_target():
    # one target for an interlaced linac: its 3 MeV beam crosses the whole 6 MeV target
    shared_low = effective_beams((6.0, 3.0))[1]
    own_low = effective_beams((3.0,))[0]
    assert shared_low.mean_energy_mev > own_low.mean_energy_mev + 0.02
    single = effective_beams((6.0,))[0]
    assert effective_beams((6.0, 3.0))[0].mean_energy_mev == pytest.approx(single.mean_energy_mev)


def test_model_against_mohan_6_mv():
    reference = physics_constants()["reference_spectra"]["mohan_6mv"]
    width = reference["bin_width_mev"]
    published = np.asarray(reference["fluence_per_mev"]) * width
    published /= published.sum()
    edges = np.arange(published.size + 1) * width
    centre = 0.5 * (edges[1:] + edges[:-1])
    # clinical head: the default filtration plus a flattening-filter equivalent on axis
    spectrum = linac_spectrum(6.0, n_bins=240, min_energy_mev=0.01,
                              filtration=[*DEFAULT_FILTRATION, ("copper", 15.0)])
    binned = np.array([spectrum.fluence[(spectrum.energy_mev >= a) & (spectrum.energy_mev < b)].sum()
                       for a, b in zip(edges[:-1], edges[1:], strict=True)])
    binned /= binned.sum()
    published_mean = float(np.sum(centre * published))
    assert published_mean == pytest.approx(1.90, abs=0.01)
    assert spectrum.mean_energy_mev == pytest.approx(published_mean, rel=0.05)
    assert np.abs(binned - published).sum() < 0.2
    # known limit (docs/spectrum.md): the Born-approximation tip is weak, about half the
    # published fluence above 4 MeV
    tip = centre > 4.0
    assert 0.4 < binned[tip].sum() / published[tip].sum() < 1.0
    # the cargo default (no flattening filter) sits in the 1.3-1.9 MeV band of 6 MV beams
    assert 1.3 < linac_spectrum(6.0).mean_energy_mev < 1.9


def test_r_orders_by_z_on_simulated_wedge_scans(tmp_path):
    from nii.correction import correct
    from nii.simulate.run import beam_moments, simulate_scan
    from nii.simulate.scanner import ScannerConfig
    from nii.simulate.scenario import step_wedge_scene
    from scanner_io import load_scan

    config = ScannerConfig().scaled(channels=48, pulses=1200)
    beams = effective_beams(config.energies_mev)
    moments = beam_moments(config)
    assert np.allclose(moments[0].signal_weight, beams[0].weight[beams[0].weight > 0] / beams[0].weight.sum())
    step, gap, lead_in = 400.0, 200.0, 300.0
    folder = tmp_path
    measured = {}
    for index, name in enumerate(WEDGE_MATERIALS):
        density = material(name).density_g_cm3
        areal = [_areal_at(beams[0], name, alpha) for alpha in (1.5, 3.0)]
        scene = step_wedge_scene(name, [a * 10.0 / density for a in areal], step_length_mm=step,
                                 gap_mm=gap, z_range_mm=(300.0, 2400.0), lead_in_mm=lead_in)
        path = folder / f"{name}.nxr"
        simulate_scan(scene, config, seed=11 + index, out=path)
        image = correct(load_scan(path))
        rows = (np.arange(image.shape[0]) + 0.5) * image.row_height_mm
        inside_rows = (rows > 500.0) & (rows < 2200.0)
        values = []
        for k in range(2):
            x0 = lead_in + k * (step + gap)
            columns = (image.position_mm > x0 + 80.0) & (image.position_mm < x0 + step - 80.0)
            a_high = float(np.mean(image.attenuation_high[np.ix_(inside_rows, columns)]))
            a_low = float(np.mean(image.attenuation_low[np.ix_(inside_rows, columns)]))
            values.append((a_high, a_low / a_high))
        measured[name] = values
    for k, alpha in enumerate((1.5, 3.0)):
        assert all(abs(measured[n][k][0] - alpha) < 0.05 for n in WEDGE_MATERIALS), measured
        ratios = [measured[n][k][1] for n in WEDGE_MATERIALS]
        assert np.all(np.diff(ratios) < 0.0), (alpha, ratios)
        physics = [_ratio_at(beams, n, alpha) for n in WEDGE_MATERIALS]
        # the scan reads what the physics says (scatter, blur and the reading are small)
        np.testing.assert_allclose(ratios, physics, atol=0.004)
    print({n: [round(r, 4) for _, r in measured[n]] for n in WEDGE_MATERIALS})
