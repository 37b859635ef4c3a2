"""Tests of simulate_scan: NXR output, ground truth, determinism, suites."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from nii.classes import HIGH_Z, NONE
from nii.errors import CatalogueError, SimulationError
from nii.physics import material
from nii.simulate.run import GroundTruth, simulate_scan
from nii.simulate.scanner import ScannerConfig
from nii.simulate.scene import Box, Scene, SceneObject
from nii.simulate.suite import derive_seed, load_suite
from scanner_io import FLAG_AIR, FLAG_DARK, load_scan, read_nxr

LEAD_BOX_MM = (1200.0, 900.0, 1500.0, 1200.0)  # z0, x0, z1, x1


def _config(**changes) -> ScannerConfig:
    return ScannerConfig().scaled(channels=64, pulses=440).replace(**changes)


def _scene(wood_depth_mm: float = 1000.0, lead_mm: float = 70.0) -> Scene:
    # 70 mm of lead behind 1 m of pine: more lead than wood per cm² (high_z) and readable
    # at both energies.
    wood = SceneObject("pallets", material("wood_pine"), "cargo",
                       (Box(600.0, 2400.0, 300.0, 2700.0, 0.0, wood_depth_mm),))
    z0, x0, z1, x1 = LEAD_BOX_MM
    lead = SceneObject("lead block", material("lead"), "threat", (Box(z0, z1, x0, x1, 600.0, 600.0 + lead_mm),),
                       counts_as_cargo=True)
    return Scene([wood, lead], length_mm=3000.0, height_mm=2700.0, name="test pallets")


def _scenario() -> SimpleNamespace:
    manifest = {"container_id": "TEST1234567", "iso_type": "22G1", "declared_empty": False,
                "items": [{"hs_code": "4407", "description": "sawn wood", "gross_mass_kg": 2000}]}
    return SimpleNamespace(
        scene=_scene(), manifest=manifest, expected_verdict="inspect",
        expected_reasons=["UNDECLARED_HIGH_Z"],
        threat_regions=[{"bbox_mm": list(LEAD_BOX_MM), "material": "high_z", "reason": "UNDECLARED_HIGH_Z"}],
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    scan = simulate_scan(_scenario(), _config(), 5, out=folder / "scan.nxr")
    return folder, scan


def test_written_scan_is_a_valid_nxr_with_references(written):
    folder, scan = written
    nxr = read_nxr(folder / "scan.nxr")
    header = nxr.header
    assert header.scan_id == "scan" and header.kind == "object" and header.channels == 64
    assert header.raw["scanner_id"] == "nii-sim-h986"
    assert header.raw["started_at"] == ScannerConfig().started_at
    assert header.energies_mev == [6.0, 3.0] and header.sample_dtype == np.dtype("<u2")
    assert header.saturation == 65535 and header.first_channel == "top"
    assert header.pitch_mm == pytest.approx(ScannerConfig().pitch_mm * 16)
    assert header.raw["extensions"]["nii_simulator"]["seed"] == 5
    assert header.bad_channels == scan.acquisition.channels.listed_bad
    assert nxr.report.records == 440 and nxr.report.crc_failures == 0 and not nxr.report.dropped_pulses
    flags = nxr.records["flags"]
    energy = nxr.records["energy_index"]
    for e in (0, 1):
        assert np.sum((flags & FLAG_DARK) > 0 & (energy == e)) > 0
        assert np.sum(((flags & FLAG_AIR) > 0) & (energy == e)) == ScannerConfig().air_pulses
    first_object = np.flatnonzero((flags & (FLAG_DARK | FLAG_AIR)) == 0)[0]
    assert np.all((flags[:first_object] & (FLAG_DARK | FLAG_AIR)) > 0)
    assert np.array_equal(nxr.records["samples"], scan.acquisition.samples)
    loaded = load_scan(folder / "scan.nxr")
    assert loaded.dark[0] is not None and loaded.air[1] is not None


def test_truth_files_are_written_beside_the_scan(written):
    folder, scan = written
    truth = json.loads((folder / "scan.truth.json").read_text())
    assert truth["expected_verdict"] == "inspect" and truth["expected_reasons"] == ["UNDECLARED_HIGH_Z"]
    assert truth["files"] == {"nxr": "scan.nxr", "npz": "scan.truth.npz", "manifest": "scan.manifest.json"}
    manifest = json.loads((folder / "scan.manifest.json").read_text())
    assert manifest["iso_type"] == "22G1"
    expected_mass = _scene().cargo_mass_kg
    assert truth["cargo_mass_kg"] == pytest.approx(expected_mass, rel=1e-6)
    again = GroundTruth.load(folder / "scan.nxr")
    assert np.array_equal(again.classes, scan.truth.classes)
    assert again.regions == json.loads(json.dumps(scan.truth.regions))
    with np.load(folder / "scan.truth.npz") as arrays:
        assert arrays["classes"].dtype == np.uint8 and arrays["zeff"].dtype == np.float32
        assert arrays["classes"].shape == (64, arrays["position_mm"].size)
        assert np.array_equal(arrays["channel"], np.arange(64))
        assert arrays["transmission_low"].shape == arrays["transmission_high"].shape
    assert np.array_equal(again.transmission_low, scan.truth.transmission_low)


def test_truth_grid_is_the_analysed_grid_of_the_high_energy_pulses(written):
    from nii.grid import analysis_grid

    folder, scan = written
    nxr = read_nxr(folder / "scan.nxr")
    records = nxr.records
    obj = ((records["flags"] & (FLAG_DARK | FLAG_AIR)) == 0) & (records["energy_index"] == 0)
    grid = analysis_grid(records["position_mm"][obj].astype(np.float64))
    assert np.array_equal(scan.truth.position_mm, grid)
    assert scan.truth.classes.shape == (64, grid.size)


def test_ground_truth_region_falls_on_the_threat(written):
    folder, scan = written
    (region,) = scan.truth.regions
    row0, col0, row1, col1 = region["bbox"]
    assert region["bbox_mm"] == list(LEAD_BOX_MM)
    assert row1 > row0 and col1 > col0
    inside = scan.truth.classes[row0:row1, col0:col1]
    assert np.mean(inside == HIGH_Z) > 0.6
    assert np.sum(scan.truth.classes == HIGH_Z) <= 1.5 * inside.size
    # The measured image agrees: high-energy attenuation inside the box is far above its frame.
    nxr = read_nxr(folder / "scan.nxr")
    r = nxr.records
    high = r["energy_index"] == 0
    samples = r["samples"].astype(np.float64)
    dark = samples[high & ((r["flags"] & FLAG_DARK) > 0)].mean(axis=0)
    air = samples[high & ((r["flags"] & FLAG_AIR) > 0)].mean(axis=0)
    obj = high & ((r["flags"] & (FLAG_DARK | FLAG_AIR)) == 0)
    alpha = -np.log(np.clip((samples[obj] - dark) / (air - dark), 1e-6, None)).T  # rows x pulses
    order = np.argsort(r["position_mm"][obj])
    columns = np.searchsorted(r["position_mm"][obj][order], scan.truth.position_mm).clip(0, order.size - 1)
    alpha = alpha[:, order][:, columns]
    good = np.setdiff1d(np.arange(64), scan.acquisition.channels.dead)
    box = alpha[np.intersect1d(np.arange(row0 + 1, row1 - 1), good)][:, col0 + 1:col1 - 1]
    frame = alpha[np.intersect1d(np.arange(row0 + 1, row1 - 1), good)][:, col1 + 3:col1 + 10]
    assert np.median(box) > np.median(frame) + 1.0
    # Nothing in the margins before the object: class none there.
    assert np.all(scan.truth.classes[:, scan.truth.position_mm < -50] == NONE)


def test_truth_is_impenetrable_where_only_the_low_energy_is_starved():
    # 90 mm of lead behind 1.5 m of pine: the 6 MeV beam still reads it, the 3 MeV one
    # is starved; the discrimination calls that impenetrable, and so does the truth.
    from nii.classes import IMPENETRABLE
    from nii.simulate.truth import DEFAULT_IMPENETRABLE_TRANSMISSION as FLOOR

    scenario = _scenario()
    scenario.scene = _scene(wood_depth_mm=1500.0, lead_mm=90.0)
    truth = simulate_scan(scenario, _config(), 5).truth
    (region,) = truth.regions
    row0, col0, row1, col1 = region["bbox"]
    core = (slice(row0 + 1, row1 - 1), slice(col0 + 1, col1 - 1))
    assert np.all(truth.transmission_high[core] > FLOOR)
    assert np.all(truth.transmission_low[core] < FLOOR)
    assert np.all(truth.classes[core] == IMPENETRABLE)


def test_edge_on_roof_sheet_is_read_as_the_detector_records_it(tmp_path):
    # A 1.6 mm steel roof crossed over 2.4 m covers 38 % of a 4.2 mm row. The pixel
    # records the mean of exp(−μL) over its sub-rays (2 of 4 cross the sheet): T ≈ ½,
    # not exp(−μ · 0.38 · 2400 mm) ≈ 0, so neither the truth nor the image is starved.
    from nii.classes import IMPENETRABLE

    config = ScannerConfig().replace(channels=64, pulses=300, dead_channels=0, noisy_channels=0)
    row_h = config.row_height_mm
    z0 = 24 * row_h
    roof = SceneObject("roof", material("iron"), "container", (Box(z0, z0 + 1.6, 0.0, 1500.0, 0.0, 2400.0),))
    scan = simulate_scan(Scene([roof], length_mm=1500.0, height_mm=64 * row_h), config, 2)
    inside = (scan.truth.position_mm > 50.0) & (scan.truth.position_mm < 1450.0)  # 21 mm columns
    assert not np.any(scan.truth.classes == IMPENETRABLE)
    assert scan.truth.transmission_high[24, inside] == pytest.approx(0.5, abs=1e-6)
    assert scan.truth.transmission_low[24, inside] == pytest.approx(0.5, abs=1e-6)
    # The measured image agrees: α at the roof row is about ln 2 (blur spreads a little).
    image = load_scan(scan.write(tmp_path / "roof.nxr")[0])
    high = image.frames[0]
    dark, air = image.dark[0].mean, image.air[0].mean
    transmission = (high.raw.astype(np.float64) - dark[:, None]) / (air - dark)[:, None]
    inside_pulses = (high.position_mm > 200.0) & (high.position_mm < 1300.0)
    assert 0.4 < np.median(transmission[24, inside_pulses]) < 0.75


def test_same_seed_gives_byte_identical_files(tmp_path, written):
    folder, _ = written
    simulate_scan(_scenario(), _config(), 5, out=tmp_path / "scan.nxr")
    for name in ("scan.nxr", "scan.truth.json", "scan.truth.npz", "scan.manifest.json"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
    simulate_scan(_scenario(), _config(), 6, out=tmp_path / "other.nxr")
    assert (tmp_path / "other.nxr").read_bytes() != (folder / "scan.nxr").read_bytes()


def test_existing_outputs_are_never_overwritten_unless_asked(tmp_path):
    target = tmp_path / "s.nxr"
    simulate_scan(_scene(), _config(), 1, out=target)
    before = target.read_bytes()
    with pytest.raises(SimulationError, match="already exists"):
        simulate_scan(_scene(), _config(), 2, out=target)
    assert target.read_bytes() == before
    simulate_scan(_scene(), _config(), 2, out=target, overwrite=True)
    assert target.read_bytes() != before
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_scene_without_scenario_has_no_manifest_and_no_verdict(tmp_path):
    scan = simulate_scan(_scene(), _config(), 3, out=tmp_path / "plain.nxr")
    assert scan.truth.manifest is None and scan.truth.expected_verdict is None
    assert not (tmp_path / "plain.manifest.json").exists()
    assert scan.truth.cargo_mass_kg == pytest.approx(_scene().cargo_mass_kg)


def test_first_channel_bottom_keeps_truth_top_down(tmp_path):
    scan = simulate_scan(_scene(), _config(first_channel="bottom"), 3)
    assert np.array_equal(scan.truth.channel, np.arange(64)[::-1])
    top = simulate_scan(_scene(), _config(), 3)
    assert np.array_equal(scan.truth.classes, top.truth.classes)
    start = top.acquisition.object_start
    profile_top = top.acquisition.samples[start:].astype(float).mean(axis=0)
    profile_bottom = scan.acquisition.samples[start:].astype(float).mean(axis=0)
    assert np.corrcoef(profile_top, profile_bottom[::-1])[0, 1] > 0.95
    assert np.corrcoef(profile_top, profile_bottom)[0, 1] < 0.5


def test_simulate_scan_rejects_bad_requests():
    with pytest.raises(SimulationError, match="seed"):
        simulate_scan(_scene(), _config(), -1)
    with pytest.raises(SimulationError, match="no path_lengths_mm"):
        simulate_scan(SimpleNamespace(materials=[], length_mm=1.0), _config(), 0)


# ---------------------------------------------------------------------- suites
def test_suite_seeds_are_stable_and_distinct():
    assert derive_seed(1, "a") == derive_seed(1, "a")
    assert len({derive_seed(1, "a"), derive_seed(1, "b"), derive_seed(2, "a")}) == 3
    assert 0 <= derive_seed(123, "x") < 2**63


def test_suite_matrix_expands_with_overrides(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "t"\nseed = 9\n[scanner]\nchannels = 32\npulses = 300\n'
        '[[scans]]\nid = "one"\nkind = "block"\nmaterial_name = "iron"\nthickness_mm = 50.0\n'
        '[[matrix]]\nprefix = "m"\nkind = "scenario"\nrepeats = 2\ncontainer = "20ft"\n'
        '[matrix.vary]\ncargo_chapter = ["03", "44"]\nthreat = ["none"]\n')
    suite = load_suite(path)
    assert [s.scan_id for s in suite.scans] == ["one", "m-03-none-r0", "m-03-none-r1", "m-44-none-r0",
                                                "m-44-none-r1"]
    assert suite.scans[1].params == {"container": "20ft", "cargo_chapter": "03", "threat": "none"}
    assert suite.scans[0].seed == derive_seed(9, "one")
    assert all(s.scanner.channels == 32 and s.scanner.pulses == 300 for s in suite.scans)
    small = suite.with_scanner(channels=16)
    assert small.scans[0].scanner.channels == 16
    assert small.scans[0].scanner.coverage_mm == pytest.approx(ScannerConfig().coverage_mm)


@pytest.mark.parametrize("text, problem", [
    ('seed = 1\n', "no scans"),
    ('[[scans]]\nid = "a b"\n', "'id'"),
    ('[[scans]]\nid = "a"\n[[scans]]\nid = "a"\n', "twice"),
    ('[[scans]]\nid = "a"\nkind = "movie"\n', "kind"),
    ('[scanner]\nchannels = 0\n[[scans]]\nid = "a"\n', "channels"),
    ('[[matrix]]\nprefix = "p"\n[matrix.vary]\nx = []\n', "vary"),
    ('this is = = not toml', "TOML"),
])
def test_bad_suites_are_refused_with_a_clear_error(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CatalogueError, match=problem):
        load_suite(path)


def test_missing_suite_file(tmp_path):
    with pytest.raises(CatalogueError, match="no such suite"):
        load_suite(tmp_path / "absent.toml")


def test_phantom_alone_is_a_calibration_scan_and_inside_a_container_is_not(tmp_path):
    from nii.simulate.scenario import block_scene

    config = ScannerConfig().scaled(channels=32, pulses=240)
    alone = simulate_scan(block_scene("iron", 100.0), config, 1, out=tmp_path / "alone.nxr")
    inside = simulate_scan(block_scene("iron", 100.0, behind_container=True), config, 1,
                           out=tmp_path / "inside.nxr")
    header = read_nxr(tmp_path / "alone.nxr").header
    assert header.kind == "calibration" and len(header.phantom) == 1
    block = header.phantom[0]
    assert block["thickness_mm"] == 100.0 and block["material"]["name"] == "iron"
    assert 0 <= block["channels"][0] < block["channels"][1] < 32
    other = read_nxr(tmp_path / "inside.nxr").header
    assert other.kind == "object" and not other.phantom
    (hidden,) = inside.truth.scenario["phantom"]
    assert hidden["material"] == block["material"] and hidden["thickness_mm"] == 100.0
    assert alone.truth.expected_verdict is None and alone.truth.manifest is None
