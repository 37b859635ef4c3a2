"""UNDECLARED_HIGH_Z on hand-built scenes."""

from __future__ import annotations

from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest

from nii.classes import HIGH_Z, ORGANIC
from nii.inspection.checks import check_high_z


def cargo(seed=0):
    return Scene(seed=seed).add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, REAR - 3, 40.0, ORGANIC)


def test_lead_block_in_organic_cargo_is_raised():
    inp = check_input(cargo().add(60, 150, 64, 154, 60.0, HIGH_Z), manifest())
    result = check_high_z(inp)
    assert [reason.code for reason in result.reasons] == ["UNDECLARED_HIGH_Z"]
    assert result.reasons[0].severity == "high"
    assert "organic" in result.reasons[0].message
    assert result.regions[0].bbox == (60, 150, 64, 154)
    assert result.regions[0].material == "high_z"


def test_isolated_high_z_pixels_are_ignored():
    scene = cargo(seed=1)
    for row, col in ((50, 100), (60, 180), (70, 220)):
        scene.add(row, col, row + 1, col + 1, 60.0, HIGH_Z)
    assert check_high_z(check_input(scene, manifest())).reasons == []


def test_declared_lead_goods_are_not_raised():
    scene = cargo(seed=2).add(60, 150, 64, 154, 60.0, HIGH_Z)
    result = check_high_z(check_input(scene, manifest(items=[{"hs_code": "780110", "gross_mass_kg": 4000}])))
    assert result.reasons == []
    assert result.warnings


def test_high_z_outside_cargo_is_raised_too():
    scene = Scene(seed=3).add(60, 150, 64, 154, 60.0, HIGH_Z)
    assert check_high_z(check_input(scene, manifest(empty=True))).reasons


# --- overlap decomposition: the α pair of an object read against the cargo around it ---

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nii.inspection import load_expectations  # noqa: E402
from nii.inspection.checks import build_check_input  # noqa: E402
from nii.inspection.checks._overlap import (  # noqa: E402
    compact_excess,
    overlap_solver,
    row_opening,
)

BLOCK = (60, 150, 66, 160)   # 18 cm × 25 cm at the scan plane


WATER = {"H": 0.1119, "O": 0.8881}


def _curve(calibration, name):
    return next(curve for curve in calibration.curves if curve.name == name)


@pytest.fixture(scope="module")
def calibration():
    from nii.calibration import calibration_from_physics

    return calibration_from_physics({"energies_mev": [6.0, 3.0]})


@pytest.fixture(scope="module")
def solver(calibration):
    return overlap_solver(calibration)


@pytest.mark.parametrize("element, areal, cargo_areal", [("Pb", 60.0, 90.0), ("W", 38.6, 100.0), ("Pb", 40.0, 80.0)])
def test_decomposition_recovers_z_and_areal_density_behind_water(calibration, solver, element, areal, cargo_areal):
    model = calibration.model
    rng = np.random.default_rng(3)
    cargo = model.predict([(WATER, cargo_areal)])
    inside = model.predict([(WATER, cargo_areal), ({element: 1.0}, areal)])
    sigma = np.array([0.004, 0.006])
    measured = np.array([float(inside[0]), float(inside[1])]) + rng.normal(0.0, sigma)
    fit = solver.decompose(tuple(measured), (float(cargo[0]), float(cargo[1])), np.diag(sigma**2), k=3.0)
    assert fit.zeff_low <= {"Pb": 82, "W": 74}[element] + 8 and fit.zeff_high >= 57
    assert fit.zeff_floor >= 57                          # high-Z at 3 sigma
    assert fit.areal_g_cm2 == pytest.approx(areal, rel=0.08)
    assert 5 <= fit.cargo_zeff <= 10                     # water as a virtual element
    assert fit.consistent_classes(3.0) == [HIGH_Z]


def test_decomposition_of_iron_behind_water_is_not_high_z(calibration, solver):
    model = calibration.model
    cargo = model.predict([(WATER, 90.0)])
    inside = model.predict([(WATER, 90.0), ({"Fe": 1.0}, 40.0)])
    fit = solver.decompose((float(inside[0]), float(inside[1])), (float(cargo[0]), float(cargo[1])),
                           np.diag([0.004**2, 0.006**2]), k=3.0)
    assert 20 <= fit.zeff <= 32 and fit.zeff_floor < 57
    assert fit.areal_g_cm2 == pytest.approx(40.0, rel=0.05)


def overlap_input(calibration, element=None, areal=80.0, hs_code="610910", seed=7):
    """Organic cargo (water under the scanner model) with a block of ``element`` behind it;
    the α pair of every pixel is the model's prediction plus noise."""
    image, material_map = cargo(seed=seed).build()
    model = calibration.model
    cargo_areal = np.clip(np.nan_to_num(np.asarray(material_map.areal_density_g_cm2, np.float64)), 0.0, None)
    block = np.zeros_like(cargo_areal)
    r0, c0, r1, c1 = BLOCK
    block[r0:r1, c0:c1] = areal
    layers = [(WATER, cargo_areal)] + ([({element: 1.0}, block)] if element else [])
    alpha_high, alpha_low = model.predict(layers)
    rng = np.random.default_rng(seed)
    image.attenuation_high = (alpha_high + rng.normal(0, 0.005, alpha_high.shape)).astype(np.float32)
    image.attenuation_low = (alpha_low + rng.normal(0, 0.01, alpha_low.shape)).astype(np.float32)
    image.sigma_high = np.full(alpha_high.shape, 0.005, np.float32)
    image.sigma_low = np.full(alpha_high.shape, 0.01, np.float32)
    the_manifest = manifest(items=[{"hs_code": hs_code, "gross_mass_kg": 2000}])
    return build_check_input(image, material_map, the_manifest, load_expectations(), calibration=calibration)


def test_lead_behind_cargo_is_found_by_the_decomposition(calibration):
    result = check_high_z(overlap_input(calibration, "Pb"))
    assert [reason.code for reason in result.reasons] == ["UNDECLARED_HIGH_Z"]
    message = result.reasons[0].message
    assert "Z ≈" in message and "1σ" in message and "kg" in message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= BLOCK[0] and row1 >= BLOCK[2] and col0 <= BLOCK[1] + 1 and col1 >= BLOCK[3] - 1


def test_iron_behind_cargo_is_not_high_z(calibration):
    assert check_high_z(overlap_input(calibration, "Fe", areal=45.0)).reasons == []


def test_clean_cargo_raises_nothing(calibration):
    assert check_high_z(overlap_input(calibration, None)).reasons == []


def test_declared_lead_goods_are_not_raised_by_the_decomposition(calibration):
    result = check_high_z(overlap_input(calibration, "Pb", hs_code="780110"))
    assert result.reasons == [] and result.warnings


def test_simulated_lead_plate_on_a_test_variant(tmp_path):
    """The issue's 25 kg lead plate in textiles on the peer 6/3 MeV gantry, its own calibration."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_discrimination_accuracy import _wedges

    from nii.calibration import calibrate
    from nii.inspection import run_inspection
    from nii.simulate import build_scenario
    from nii.simulate.run import simulate_scan
    from nii.simulate.variants import scanner_variant

    variant = scanner_variant("peer-384-63")
    assert variant.split == "test"
    calibration = calibrate(_wedges(variant, variant.config, tmp_path, 777))
    scenario = build_scenario("20ft", "61", "lead_plate", seed=1, energies_mev=variant.config.energies_mev)
    path = tmp_path / "lead.nxr"
    simulate_scan(scenario, variant.config, 1, out=path)
    verdict = run_inspection(path, scenario.manifest, calibration=calibration).verdict
    reasons = [r for r in verdict.reasons if r.code == "UNDECLARED_HIGH_Z"]
    assert reasons, [r.message for r in verdict.reasons]
    mass = float(reasons[0].message.split("about ")[1].split(" ")[0])
    assert mass == pytest.approx(25.0, rel=0.15)


def test_row_opening_keeps_stacks_and_removes_narrow_objects():
    row = np.full((1, 60), 1.0, np.float32)
    row[0, 30:] = 3.0          # a taller stack: a step, not an object
    row[0, 10:14] = 5.0        # a narrow dense object
    excess = compact_excess(row, 9)
    assert np.allclose(excess[0, 10:14], 4.0)
    assert np.allclose(excess[0, 30:], 0.0)
    assert np.allclose(row_opening(row, 9)[0, 10:14], 1.0)


def test_block_too_dense_for_steel_is_high_z_by_density():
    # 250 g/cm² over a 12 cm block that the class map calls metal: ≥ 14 g/cm³ if it is
    # no deeper than it is wide, which only heavy elements are
    from nii.classes import METAL

    scene = cargo(seed=7).add(60, 150, 64, 155, 250.0, METAL)
    result = check_high_z(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["UNDECLARED_HIGH_Z"]
    assert "too dense" in result.reasons[0].message
    assert "if no deeper than it is wide" in result.reasons[0].message
    assert result.regions[0].bbox == (60, 150, 64, 155)


def test_steel_block_is_not_high_z_by_density():
    # 12 cm of steel (95 g/cm²): about 7 g/cm³ on the bound, below the high-Z limit
    from nii.classes import METAL

    scene = cargo(seed=8).add(60, 150, 64, 155, 95.0, METAL)
    assert check_high_z(check_input(scene, manifest())).reasons == []


def test_a_starved_core_is_read_on_its_mean_unclipped_transmission():
    # Pixel by pixel the core reads at the noise floor (T of 1e-4 with noise 1e-4, some
    # values negative); the mean over 400 pixels is measured, unbiased, at SNR ~ 20.
    from types import SimpleNamespace

    from nii.inspection.checks.high_z import _mean_transmission_pair

    rng = np.random.default_rng(5)
    high = np.full((40, 40), 0.5, np.float32)
    low = np.full((40, 40), 0.4, np.float32)
    high[10:30, 10:30] = 3e-4 + rng.normal(0, 1e-4, (20, 20))
    low[10:30, 10:30] = 1e-4 + rng.normal(0, 1e-4, (20, 20))
    assert (low < 0).any()
    inp = SimpleNamespace(transmission_high=high, transmission_low=low)
    core = np.zeros((20, 20), bool)
    core[:, :] = True
    pair, covariance = _mean_transmission_pair(inp, (10, 10, 30, 30), core, 5.0)
    assert abs(pair[0] + np.log(3e-4)) < 0.05 and abs(pair[1] + np.log(1e-4)) < 0.15
    assert covariance[1, 1] > covariance[0, 0] > 0
    # four pixels do not measure a mean at the floor
    few = np.zeros((20, 20), bool)
    few[:2, :2] = True
    assert _mean_transmission_pair(inp, (10, 10, 30, 30), few, 5.0) is None
