"""Batch inspection: nii.inspection.batch, driven by a stand-in single-scan inspection."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nii.errors import MissingExtraError, NiiError
from nii.inspection import batch
from nii.inspection.batch import (
    SUMMARY_FILE_NAME,
    BatchSummary,
    ScanResult,
    expand_scans,
    find_manifest,
    run_batch,
    run_batch_cli,
)
from nii.io_utils import atomic_write_bytes, atomic_write_text

_PNG = b"\x89PNG\r\n\x1a\n stand-in evidence"


def fake_inspect(scan_path, manifest_path, out_dir, *, calibration=None, dicos=False):
    """Stand-in for the single-scan inspection: the 'scan' is JSON; a truncated one fails to parse."""
    data = Path(scan_path).read_bytes()
    scan = json.loads(data)
    manifest = json.loads(Path(manifest_path).read_text())
    verdict = {
        "scan_id": scan["scan_id"],
        "verdict": "inspect" if scan["reasons"] else "clear",
        "score": scan["score"],
        "reasons": [{"code": code, "severity": "high", "message": "stand-in"} for code in scan["reasons"]],
        "regions": [],
        "estimates": {"cargo_mass_kg": manifest.get("mass", 0), "material_fractions": {}},
        "provenance": {"input_sha256": hashlib.sha256(data).hexdigest(), "calibration": calibration},
    }
    atomic_write_text(Path(out_dir) / "verdict.json", json.dumps(verdict))
    atomic_write_bytes(Path(out_dir) / "evidence.png", _PNG)
    if dicos:
        atomic_write_bytes(Path(out_dir) / "tdr.dcs", b"stand-in report")
    return verdict


def _write_scan(folder: Path, stem: str, *, reasons=(), score=0.1, manifest=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    scan = folder / f"{stem}.nxr"
    scan.write_text(json.dumps({"scan_id": stem.upper(), "reasons": list(reasons), "score": score}))
    if manifest:
        (folder / f"{stem}.manifest.json").write_text(json.dumps({"mass": 18000}))
    return scan


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    good = [
        _write_scan(folder, "a"),
        _write_scan(folder, "b", reasons=["UNDECLARED_HIGH_Z"], score=0.93),
        _write_scan(folder, "c"),
    ]
    truncated = _write_scan(folder, "d_truncated")
    truncated.write_bytes(truncated.read_bytes()[:17])
    orphan = _write_scan(folder, "e_no_manifest", manifest=False)
    return {"folder": folder, "good": good, "truncated": truncated, "orphan": orphan}


def _temporary_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


def test_a_bad_scan_is_reported_and_the_others_complete(scans, tmp_path):
    out = tmp_path / "out"
    missing = scans["folder"] / "f_missing.nxr"
    order = [*scans["good"], scans["truncated"], scans["orphan"], missing]
    with ThreadPoolExecutor(max_workers=2) as pool:
        summary = run_batch(order, None, out, executor=pool, progress=False, inspect_one=fake_inspect)

    assert [Path(r.scan).name for r in summary.results] == [p.name for p in order]
    verdicts = [r.verdict for r in summary.results]
    assert verdicts == ["clear", "inspect", "clear", None, None, None]
    assert summary.results[1].reasons == ["UNDECLARED_HIGH_Z"] and summary.results[1].score == 0.93
    truncated, orphan, absent = summary.results[3:]
    assert "JSONDecodeError" in truncated.error
    assert "no manifest found" in orphan.error and "e_no_manifest.manifest.json" in orphan.error
    assert "no such scan file" in absent.error
    assert all("\n" not in r.error for r in summary.results[3:])
    assert (summary.n_clear, summary.n_inspect, summary.n_error, summary.exit_code) == (2, 1, 3, 2)

    for scan in scans["good"]:
        assert json.loads((out / scan.stem / "verdict.json").read_text())["scan_id"] == scan.stem.upper()
        assert (out / scan.stem / "evidence.png").read_bytes() == _PNG
    assert not (out / "d_truncated" / "verdict.json").exists()
    assert _temporary_files(out) == []

    written = json.loads((out / SUMMARY_FILE_NAME).read_text())
    assert written["errors"] == 3 and written["exit_code"] == 2 and len(written["results"]) == 6
    assert written["results"][3]["error"] == truncated.error

    table = summary.table()
    for name in ("a.nxr", "b.nxr", "d_truncated.nxr", "ERROR", "UNDECLARED_HIGH_Z", "0.93", "no manifest found"):
        assert name in table
    assert table.splitlines()[-1].startswith("6 scans: 2 clear, 1 inspect, 3 errors")


def test_exit_code_is_worst_first():
    def summary(*results):
        return BatchSummary(list(results), Path("."), 0.0)

    clear = ScanResult("a", "o", verdict="clear")
    inspect = ScanResult("b", "o", verdict="inspect")
    error = ScanResult("c", "o", error="broken")
    assert summary(clear, clear).exit_code == 0
    assert summary(clear, inspect).exit_code == 1
    assert summary(inspect, error).exit_code == 2
    assert summary().exit_code == 0


def test_resume_skips_unchanged_scans_and_redoes_changed_or_damaged_ones(scans, tmp_path):
    out = tmp_path / "out"
    a, b, c = scans["good"]
    first = run_batch([a, b, c], None, out, progress=False, inspect_one=fake_inspect, workers=1)
    assert first.n_resumed == 0
    stamps = {scan.stem: (out / scan.stem / "verdict.json").stat().st_mtime_ns for scan in (a, b, c)}

    _write_scan(a.parent, "b", reasons=[], score=0.2)  # new input under the same name
    (out / "c" / "verdict.json").write_text('{"scan_id": "C", "verdi')  # damaged output
    second = run_batch([a, b, c], None, out, progress=False, inspect_one=fake_inspect, workers=1)

    resumed = {Path(r.scan).stem: r.resumed for r in second.results}
    assert resumed == {"a": True, "b": False, "c": False}
    assert (out / "a" / "verdict.json").stat().st_mtime_ns == stamps["a"]
    assert second.results[0].verdict == "clear" and second.results[0].scan_id == "A"
    assert second.results[1].verdict == "clear"  # recomputed from the new input
    assert json.loads((out / "c" / "verdict.json").read_text())["scan_id"] == "C"
    assert second.exit_code == 0

    third = run_batch([a, b, c], None, out, progress=False, inspect_one=fake_inspect, workers=1, resume=False)
    assert third.n_resumed == 0


def test_resume_with_dicos_needs_the_dicos_files(scans, tmp_path):
    out = tmp_path / "out"
    a = scans["good"][0]
    run_batch([a], None, out, progress=False, inspect_one=fake_inspect)
    again = run_batch([a], None, out, progress=False, inspect_one=fake_inspect, dicos=True)
    assert not again.results[0].resumed and (out / "a" / "tdr.dcs").exists()
    last = run_batch([a], None, out, progress=False, inspect_one=fake_inspect, dicos=True)
    assert last.results[0].resumed


def test_manifests_folder_and_both_manifest_names(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    one = _write_scan(tmp_path / "scans", "one", manifest=False)
    two = _write_scan(tmp_path / "scans", "two", manifest=False)
    (manifests / "one.manifest.json").write_text("{}")
    (manifests / "two.json").write_text("{}")
    assert find_manifest(one, manifests).name == "one.manifest.json"
    assert find_manifest(two, manifests).name == "two.json"
    summary = run_batch([one, two], manifests, tmp_path / "out", progress=False, inspect_one=fake_inspect)
    assert summary.exit_code == 0


def test_expand_scans_from_folders_globs_and_files(scans, tmp_path):
    folder = scans["folder"]
    (folder / "notes.txt").write_text("not a scan")
    from_folder = expand_scans([folder])
    assert [p.name for p in from_folder] == ["a.nxr", "b.nxr", "c.nxr", "d_truncated.nxr", "e_no_manifest.nxr"]
    assert [p.name for p in expand_scans([str(folder / "[ab].nxr")])] == ["a.nxr", "b.nxr"]
    assert expand_scans([folder / "a.nxr", folder, "missing.nxr"])[-1] == Path("missing.nxr")
    assert len(expand_scans([folder, folder / "a.nxr"])) == 5


def test_scans_with_the_same_stem_do_not_overwrite_each_other(tmp_path):
    first = _write_scan(tmp_path / "site1", "scan")
    second = _write_scan(tmp_path / "site2", "scan", reasons=["MASS_MISMATCH"])
    summary = run_batch([first, second], None, tmp_path / "out", progress=False, inspect_one=fake_inspect)
    assert summary.results[0].verdict == "clear"
    assert "same name" in summary.results[1].error and summary.exit_code == 2


def test_default_process_pool_runs_the_batch(scans, tmp_path):
    summary = run_batch(scans["good"], None, tmp_path / "out", workers=2, progress=False, inspect_one=fake_inspect)
    assert [r.verdict for r in summary.results] == ["clear", "inspect", "clear"]
    assert all(r.time_s >= 0 for r in summary.results)


def test_progress_bar_goes_to_stderr(scans, tmp_path, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run_batch(scans["good"][:1], None, tmp_path / "out", progress=True, inspect_one=fake_inspect)
    assert "nii inspect" in terminal.getvalue() and "1/1" in terminal.getvalue()
    log = io.StringIO()  # not a terminal (a log file): no bar, no carriage-return frames
    monkeypatch.setattr(sys, "stderr", log)
    run_batch(scans["good"][:1], None, tmp_path / "out2", progress=True, inspect_one=fake_inspect)
    assert log.getvalue() == ""


def test_dask_local_cluster_runs_the_batch(scans, tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed", reason="the dask extra (distributed) is not installed")
    monkeypatch.setattr(batch, "inspect_scan_to_dir", fake_inspect)
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            summary = run_batch(
                [*scans["good"], scans["truncated"]], None, tmp_path / "out",
                executor=client.get_executor(), progress=False, inspect_one=fake_inspect,
            )
        # The command line's path: --dask-scheduler ADDRESS.
        status = run_batch_cli(
            _cli_args(scan=[str(p) for p in scans["good"]], out=str(tmp_path / "cli"),
                      dask_scheduler=cluster.scheduler_address)
        )
    assert [r.verdict for r in summary.results] == ["clear", "inspect", "clear", None]
    assert summary.exit_code == 2
    assert status == 1 and "3 scans: 2 clear, 1 inspect, 0 errors" in capsys.readouterr().out


def test_missing_dask_is_one_clear_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'nii\[dask\]'"):
        batch._dask_executor("tcp://127.0.0.1:8786")


def _cli_args(**values):
    defaults = dict(
        scan=[], manifests=None, out=None, workers=1, resume=True, dask_scheduler=None,
        dicos=False, calibration=None, progress=False, debug=False,
    )
    defaults.update(values)
    return argparse.Namespace(**defaults)


def test_cli_prints_the_table_and_returns_the_exit_code(scans, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch, "inspect_scan_to_dir", fake_inspect)
    out = tmp_path / "out"
    status = run_batch_cli(_cli_args(scan=[str(scans["folder"] / "[abc].nxr")], out=str(out)))
    printed = capsys.readouterr().out
    assert status == 1
    assert "b.nxr" in printed and "3 scans: 2 clear, 1 inspect, 0 errors" in printed
    assert str(out / SUMMARY_FILE_NAME) in printed
    assert run_batch_cli(_cli_args(scan=str(scans["folder"]), out=str(out))) == 2


def test_cli_refuses_no_scans_and_bad_workers(tmp_path):
    with pytest.raises(NiiError, match="no scan"):
        run_batch_cli(_cli_args(scan=[str(tmp_path / "*.nxr")]))
    _write_scan(tmp_path, "x")
    with pytest.raises(NiiError, match="--workers"):
        run_batch_cli(_cli_args(scan=[str(tmp_path)], workers=0))


@pytest.mark.slow
def test_real_pipeline_batch_with_dicos_a_truncated_nxr_and_resume(tmp_path):
    """End to end: nii simulate → run_batch with the real inspection and DICOS export."""
    from nii.cli import main
    from scanner_io.dicos import read_dicos

    folder = tmp_path / "scans"
    good = folder / "s1.nxr"
    simulate = ["simulate", "--container", "20ft", "--cargo", "03", "--channels", "64", "--pulses", "300",
                "--seed", "1", "-o", str(good), "--no-progress"]
    assert main(simulate) == 0
    truncated = folder / "s2_truncated.nxr"
    truncated.write_bytes(good.read_bytes()[:300])  # cut inside the NXR header
    (folder / "s2_truncated.manifest.json").write_bytes((folder / "s1.manifest.json").read_bytes())

    out = tmp_path / "out"
    summary = run_batch([good, truncated], None, out, workers=1, progress=False, dicos=True)
    first, broken = summary.results
    assert first.error is None and first.verdict in ("clear", "inspect")
    assert broken.verdict is None and "truncated" in broken.error
    assert summary.exit_code == 2
    verdict = json.loads((out / "s1" / "verdict.json").read_text())
    assert verdict["verdict"] == first.verdict and verdict["provenance"]["input_sha256"]
    assert (out / "s1" / "evidence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    high, low, report = (read_dicos(out / "s1" / name) for name in ("dx_high.dcs", "dx_low.dcs", "tdr.dcs"))
    assert high.pixel_array.shape == low.pixel_array.shape and high.kvp > low.kvp
    assert report.alarm_decision == ("ALARM" if first.verdict == "inspect" else "CLEAR")
    assert len(report.threats) >= len(verdict["regions"])
    assert not (out / "s2_truncated" / "verdict.json").exists()

    again = run_batch([good, truncated], None, out, workers=1, progress=False, dicos=True)
    assert again.results[0].resumed and again.results[0].verdict == first.verdict
    assert again.results[1].error == broken.error
