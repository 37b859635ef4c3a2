"""Tests of the scanner variants (nii.simulate.variants) and their use by suites and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nii.errors import SimulationError
from nii.simulate.run import simulate_scan
from nii.simulate.scanner import HIDDEN_SETTINGS, ScannerConfig
from nii.simulate.scenario import step_wedge_scene
from nii.simulate.suite import load_suite
from nii.simulate.variants import (
    ENERGY_PAIRS,
    SPLITS,
    ScannerVariant,
    _variants,
    scanner_variant,
    scanner_variants,
    variant_names,
)
from scanner_io import read_nxr


def test_splits_are_reproducible():
    first = {split: [(v.name, v.config, v.energy_pair) for v in scanner_variants(split)] for split in SPLITS}
    _variants.cache_clear()
    again = {split: [(v.name, v.config, v.energy_pair) for v in scanner_variants(split)] for split in SPLITS}
    assert first == again


def test_splits_are_disjoint_and_cover_the_energy_pairs():
    tune, test = scanner_variants("tune"), scanner_variants("test")
    assert tune and test
    assert {v.name for v in tune}.isdisjoint(v.name for v in test)
    # no scanner of one split is a scanner of the other (up to its id)
    def key(v: ScannerVariant) -> dict:
        return {k: val for k, val in v.config.to_dict().items() if k != "scanner_id"}
    assert all(key(a) != key(b) for a in tune for b in test)
    for split in (tune, test):
        assert {v.energy_pair for v in split} == set(ENERGY_PAIRS)
        assert all(v.config.energies_mev == ENERGY_PAIRS[v.energy_pair] for v in split)
        assert len({v.name for v in split}) == len(split)
    assert all(v.split == "tune" for v in tune) and all(v.split == "test" for v in test)


def test_variants_draw_from_the_ranges():
    variants = scanner_variants("tune") + scanner_variants("test")
    assert {v.config.detector_material for v in variants} >= {"CdWO4"}
    assert len({v.config.channels for v in variants}) >= 2
    assert {v.config.first_channel for v in variants} == {"top", "bottom"}
    for v in variants:
        c = v.config
        assert 1.0e5 <= c.photons_air[0] <= 1.0e6 and c.photons_air[1] < c.photons_air[0]
        assert all(0.0 <= t <= 10.0 for _, t in c.filtration)
        assert 15.0 <= c.detector_depth_mm <= 60.0
        assert c.coverage_mm >= 2700.0  # the wedges' 0.1-2.6 m fit on every array


def test_peer_gantry_is_in_the_test_split():
    peer = scanner_variant("peer-384-63")
    assert peer.split == "test" and peer.energy_pair == "6/3"
    assert peer.config.channels == 384 and peer.config.row_height_mm == pytest.approx(7.5)
    assert peer.config.detector_material == "CdWO4"
    assert "peer-384-96" in variant_names("test") and "peer-384-63" not in variant_names("tune")
    with pytest.raises(SimulationError, match="no scanner variant"):
        scanner_variant("nope")
    with pytest.raises(SimulationError, match="split"):
        scanner_variants("train")


def test_peer_suite_sets_replace_the_wedges_and_blocks():
    wedges = load_suite("wedges", variant="peer-384-63")
    thickness = {s.params["material_name"]: s.params["thicknesses_mm"] for s in wedges.scans}
    assert thickness == {"polyethylene": [50.0, 100.0, 200.0, 400.0, 800.0],
                         "aluminium": [20.0, 50.0, 100.0, 200.0, 400.0],
                         "iron": [10.0, 25.0, 50.0, 100.0, 200.0],
                         "lead": [5.0, 10.0, 20.0, 40.0, 80.0]}
    blocks = load_suite("discrimination", variant="peer-384-63")
    assert len({s.params["material_name"] for s in blocks.scans}) == 17
    assert all(s.params["behind_container"] is False for s in blocks.scans)
    areal = {s.params["areal_density_g_cm2"] for s in blocks.scans}
    assert min(areal) == 20.0 and max(areal) == 250.0
    # the scanner is the variant's; the suite keeps only its acquisition length
    assert all(s.scanner.channels == 384 and s.scanner.pulses == 2000 for s in blocks.scans)


def test_drawn_variant_keeps_the_suite_scans_and_takes_the_scanner():
    variant = scanner_variants("tune")[0]
    plain, on_variant = load_suite("discrimination"), load_suite("discrimination", variant=variant)
    assert [s.scan_id for s in plain.scans] == [s.scan_id for s in on_variant.scans]
    assert on_variant.name == f"discrimination-{variant.name}" and on_variant.seed != plain.seed
    scanner = on_variant.scans[0].scanner
    assert scanner.channels == variant.config.channels and scanner.filtration == variant.config.filtration
    assert scanner.pulses == plain.scans[0].scanner.pulses


def test_filtration_round_trips_and_is_validated():
    config = ScannerConfig(filtration=(("W", 1.5), ("copper", 3.0)))
    assert ScannerConfig.from_dict(config.to_dict()) == config
    assert ScannerConfig.from_dict({"filtration": [["W", 2], ["copper", 4]]}).filtration == (("W", 2.0), ("copper", 4.0))
    with pytest.raises(SimulationError, match="filter"):
        ScannerConfig(filtration=(("W", -1.0),))
    with pytest.raises(SimulationError, match="filtration"):
        ScannerConfig.from_dict({"filtration": "W"})
    assert not HIDDEN_SETTINGS & set(config.header_dict())


@pytest.mark.parametrize("name", variant_names())
def test_each_variant_simulates_a_wedge_that_reads_back(tmp_path, name):
    variant = scanner_variant(name)
    config = variant.config.scaled(channels=32, pulses=200 + variant.config.reference_pulses)
    scene = step_wedge_scene("iron", [20.0, 80.0], step_length_mm=300.0, gap_mm=100.0)
    path = tmp_path / f"{name}.nxr"
    scan = simulate_scan(scene, config, seed=3, out=path)
    nxr = read_nxr(path)
    header = nxr.header.raw
    assert header["kind"] == "calibration"
    assert header["scanner_id"] == variant.config.scanner_id
    assert header["source"]["energies_mev"] == list(variant.config.energies_mev)
    assert header["detector"]["channels"] == 32
    assert header["detector"]["first_channel"] == variant.config.first_channel
    assert [p["thickness_mm"] for p in header["phantom"]] == [20.0, 80.0]
    # the true spectrum and detector never reach the header
    text = json.dumps(header)
    assert "filtration" not in text and "detector_material" not in text
    assert variant.config.detector_material not in text
    assert nxr.records.shape == (config.pulses,) and nxr.report.crc_failures == 0
    np.testing.assert_array_equal(nxr.records["samples"], scan.acquisition.samples)
    # a thicker step transmits less at both energies
    t_high = scan.truth.transmission_high
    assert np.nanmin(t_high) < 0.5


def test_cli_simulates_wedges_on_a_variant(tmp_path):
    from nii.cli import main

    out = tmp_path / "W"
    status = main(["simulate", "--wedges", "--scanner-variant", "peer-384-96", "--channels", "32",
                   "--pulses", "400", "--out", str(out), "--no-progress"])
    assert status == 0
    index = json.loads((out / "suite.json").read_text())
    assert index["suite"] == "wedges-peer-384-96" and len(index["scans"]) == 4
    header = read_nxr(out / "wedge-lead.nxr").header.raw
    assert header["source"]["energies_mev"] == [9.0, 6.0] and header["detector"]["channels"] == 32
    assert [p["thickness_mm"] for p in header["phantom"]] == [5.0, 10.0, 20.0, 40.0, 80.0]


@pytest.mark.parametrize("name", ["peer-384-63", "peer-384-96"])
def test_every_scan_of_a_suite_set_builds(name):
    from nii.simulate.suite import build_scene

    for suite_name in ("wedges", "discrimination"):
        suite = load_suite(suite_name, variant=name)
        for scan in suite.scans:
            scene = build_scene(scan.kind, scan.params, scan.seed)
            assert scene.phantom and scene.length_mm > 0
    # the thickest light block (250 g/cm² of polyethylene, 2.66 m) is in air, wider than a container
    thick = [s for s in load_suite("discrimination", variant=name).scans
             if s.params["material_name"] == "polyethylene" and s.params["areal_density_g_cm2"] == 250.0]
    assert len(thick) == 1
