"""Tests of ``nii simulate`` (small scans: 32 channels, a few hundred pulses)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nii.cli import main
from nii.simulate.suite import load_suite
from scanner_io import read_nxr

SMALL = ["--channels", "32", "--pulses", "300"]


def _scene_args(seed: int = 1) -> list[str]:
    return ["simulate", "--container", "20ft", "--cargo", "03", "--threat", "none", "--seed", str(seed)]


def test_single_scene_to_a_file(tmp_path, capsys):
    out = tmp_path / "a.nxr"
    assert main(_scene_args() + SMALL + ["-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    nxr = read_nxr(out)
    assert nxr.header.channels == 32 and nxr.report.records == 300
    truth = json.loads((tmp_path / "a.truth.json").read_text())
    assert truth["expected_verdict"] in ("clear", "inspect") and truth["scan_id"] == "a"
    manifest = json.loads((tmp_path / "a.manifest.json").read_text())
    assert manifest["iso_type"] == "22G1" or manifest["iso_type"].startswith("22")
    assert (tmp_path / "a.truth.npz").exists()


def test_single_scene_options_reach_the_scenario(tmp_path):
    out = tmp_path / "b.nxr"
    argv = ["simulate", "--container", "40ft", "--cargo", "44", "--threat", "lead-block", "--threat-size",
            "small", "--variant", "mass_underdeclared", "--chassis", "--seed", "4", "-o", str(out)]
    assert main(argv + SMALL) == 0
    truth = json.loads((tmp_path / "b.truth.json").read_text())
    options = truth["scenario"]
    assert options["threat"] == "lead_block" and options["threat_size"] == "small"
    assert options["variant"] == "mass_underdeclared" and options["chassis"] is True
    assert "MASS_MISMATCH" in truth["expected_reasons"] and truth["expected_verdict"] == "inspect"
    assert any(r["threat"] == "lead_block" for r in truth["regions"] if "threat" in r)


def test_single_scene_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "a.nxr"
    assert main(_scene_args() + SMALL + ["-o", str(out)]) == 0
    before = out.read_bytes()
    assert main(_scene_args(2) + SMALL + ["-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(_scene_args(2) + SMALL + ["-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != before


def test_default_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(_scene_args(3) + SMALL) == 0
    written = sorted(p.name for p in (tmp_path / "nii-out").iterdir())
    assert written == ["sim-20ft-03-none-s3.manifest.json", "sim-20ft-03-none-s3.nxr",
                       "sim-20ft-03-none-s3.truth.json", "sim-20ft-03-none-s3.truth.npz"]


@pytest.mark.parametrize("argv", [
    ["simulate"],
    ["simulate", "--container", "20ft"],
    ["simulate", "--suite", "smoke", "--container", "20ft", "--cargo", "03"],
    ["simulate", "--suite", "smoke", "-o", "x.nxr"],
    ["simulate", "--container", "20ft", "--cargo", "03", "-o", "x.txt"],
    ["simulate", "--container", "20ft", "--cargo", "03", "--channels", "0"],
])
def test_bad_requests_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nii simulate: error:") and err.count("\n") == 1
    assert not (tmp_path / "nii-out").exists() or not any((tmp_path / "nii-out").iterdir())


def test_tiny_suite_is_deterministic_across_workers(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        'name = "tiny"\nseed = 77\n[scanner]\nchannels = 32\npulses = 260\n'
        '[[scans]]\nid = "clean"\nkind = "scenario"\ncontainer = "20ft"\ncargo_chapter = "44"\n'
        'threat = "none"\n'
        '[[scans]]\nid = "wedge-iron"\nkind = "wedge"\nmaterial_name = "iron"\n'
        'areal_densities_g_cm2 = [20.0, 80.0]\n')
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["simulate", "--suite", str(suite), "--out", str(one), "--no-progress"]) == 0
    assert main(["simulate", "--suite", str(suite), "--out", str(two), "--workers", "2", "--no-progress"]) == 0
    index = json.loads((one / "suite.json").read_text())
    assert [s["id"] for s in index["scans"]] == ["clean", "wedge-iron"]
    assert index["scans"][1]["header_kind"] == "calibration"
    for name in ("clean.nxr", "clean.truth.json", "clean.manifest.json", "wedge-iron.nxr",
                 "wedge-iron.truth.npz"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    wedge = read_nxr(one / "wedge-iron.nxr").header
    assert wedge.kind == "calibration" and wedge.phantom
    assert all(p["material"]["name"] == "iron" for p in wedge.phantom)
    assert main(["simulate", "--suite", str(suite), "--out", str(one), "--no-progress"]) == 2


def test_only_merges_into_an_existing_index(tmp_path):
    suite = tmp_path / "two.toml"
    suite.write_text(
        'name = "two"\nseed = 5\n[scanner]\nchannels = 16\npulses = 200\n'
        '[[scans]]\nid = "a"\nkind = "block"\nmaterial_name = "iron"\nthickness_mm = 40.0\n'
        '[[scans]]\nid = "b"\nkind = "block"\nmaterial_name = "lead"\nthickness_mm = 40.0\n')
    out = tmp_path / "o"
    base = ["simulate", "--suite", str(suite), "--out", str(out), "--no-progress"]
    assert main(base + ["--only", "b"]) == 0
    assert main(base + ["--only", "a"]) == 0
    index = json.loads((out / "suite.json").read_text())
    assert [s["id"] for s in index["scans"]] == ["a", "b"]
    assert main(base + ["--only", "a"]) == 2  # a.nxr exists
    assert main(base + ["--only", "zz"]) == 2
    other = tmp_path / "other.toml"
    other.write_text(suite.read_text().replace('name = "two"', 'name = "other"').replace('"b"', '"c"'))
    assert main(["simulate", "--suite", str(other), "--out", str(out), "--only", "c", "--no-progress"]) == 2
    assert not (out / "c.nxr").exists()


def test_wedge_set_one_scan(tmp_path):
    wedges = load_suite("wedges")
    first = wedges.scans[0].scan_id
    out = tmp_path / "w"
    assert main(["simulate", "--wedges", "--out", str(out), "--only", first, "--no-progress",
                 "--channels", "32", "--pulses", "300"]) == 0
    header = read_nxr(out / f"{first}.nxr").header
    assert header.kind == "calibration" and header.channels == 32
    for block in header.phantom:
        low, high = block["channels"]
        assert 0 <= low <= high < 32
        assert block["thickness_mm"] > 0 and len(block["position_mm"]) == 2
        assert np.isclose(sum(block["material"]["composition"].values()), 1.0, atol=1e-3)


@pytest.mark.parametrize("name", ["smoke", "discrimination", "inspection", "wedges"])
def test_shipped_suites_load(name):
    suite = load_suite(name)
    assert len(suite) >= {"smoke": 6, "discrimination": 40, "inspection": 200, "wedges": 4}[name]
    if name == "smoke":
        assert suite.scanner.channels <= 128
    if name == "wedges":
        materials = {s.params["material_name"] for s in suite.scans}
        assert {"polyethylene", "aluminium", "iron", "lead"} <= materials
