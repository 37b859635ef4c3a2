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

from nii.errors import MissingExtraError, NiiError, OutputError
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


def fake_inspect(scan_path, manifest_path, out_dir, *, calibration=None, dicos=False, **options):
    """Stand-in for the single-scan inspection: the 'scan' is JSON; a truncated one fails to parse.

    A manifest declaring ``"mass"`` other than 18000 adds MASS_MISMATCH (the verdict depends on it).
    """
    data = Path(scan_path).read_bytes()
    scan = json.loads(data)
    manifest = json.loads(Path(manifest_path).read_text())
    codes = list(scan["reasons"]) + (["MASS_MISMATCH"] if manifest.get("mass", 18000) != 18000 else [])
    verdict = {
        "scan_id": scan["scan_id"],
        "verdict": "inspect" if codes else "clear",
        "score": scan["score"],
        "reasons": [{"code": code, "severity": "high", "message": "stand-in"} for code in codes],
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


def test_scans_with_the_same_stem_are_refused_before_any_work(tmp_path):
    first = _write_scan(tmp_path / "site1", "scan")
    second = _write_scan(tmp_path / "site2", "scan", reasons=["MASS_MISMATCH"])
    with pytest.raises(OutputError, match="same folder") as error:
        run_batch([first, second], None, tmp_path / "out", progress=False, inspect_one=fake_inspect)
    assert str(second) in str(error.value) and str(first) in str(error.value)
    assert not (tmp_path / "out" / "scan").exists()


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


# --------------------------------------------------------------------------- issue 10: resume only what is the same


def _once(scan, out, **kwargs):
    return run_batch([scan], None, out, progress=False, inspect_one=fake_inspect, workers=1, **kwargs).results[0]


def test_a_corrected_manifest_is_not_served_as_resumed(tmp_path):
    scan = _write_scan(tmp_path / "scans", "a")
    out = tmp_path / "out"
    assert _once(scan, out).verdict == "clear"
    scan.with_name("a.manifest.json").write_text(json.dumps({"mass": 9000}))  # the corrected declaration
    again = _once(scan, out)
    assert not again.resumed and again.verdict == "inspect" and again.reasons == ["MASS_MISMATCH"]
    assert _once(scan, out).resumed


def test_a_changed_calibration_models_options_software_or_seeds_is_recomputed(tmp_path, monkeypatch):
    import shutil

    from nii.resources import seeds_dir

    scan = _write_scan(tmp_path / "scans", "a")
    out = tmp_path / "out"
    calibration = str(tmp_path / "c.json")
    Path(calibration).write_text('{"version": 1}')
    assert not _once(scan, out, calibration=calibration).resumed
    assert _once(scan, out, calibration=calibration).resumed
    Path(calibration).write_text('{"version": 2}')
    assert not _once(scan, out, calibration=calibration).resumed
    assert not _once(scan, out).resumed  # physics calibration now
    assert _once(scan, out).resumed
    assert not _once(scan, out, options={"models": ("fcos_detector",)}).resumed
    assert _once(scan, out, options={"models": ("fcos_detector",)}).resumed
    assert not _once(scan, out, options={"models": ("unet_segmenter",)}).resumed
    assert not _once(scan, out, options={"backend": "torch"}).resumed
    assert not _once(scan, out).resumed  # back to numpy
    assert _once(scan, out).resumed

    monkeypatch.setattr(batch, "__version__", "99.0")
    assert not _once(scan, out).resumed
    assert _once(scan, out).resumed

    seeds = tmp_path / "seeds"
    shutil.copytree(seeds_dir(), seeds)
    monkeypatch.setenv("NII_SEEDS", str(seeds))
    assert _once(scan, out).resumed  # same content, other folder
    table = seeds / "hs_expectations.toml"
    table.write_text(table.read_text(encoding="utf-8") + "\n# a changed threshold\n", encoding="utf-8")
    assert not _once(scan, out).resumed


def test_a_changed_model_weight_is_recomputed(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "mine").mkdir(parents=True)
    (models / "mine" / "config.json").write_text("{}")
    weights = models / "mine" / "weights.safetensors"
    weights.write_bytes(b"weights 1")
    monkeypatch.setenv("NII_MODELS", str(models))
    scan = _write_scan(tmp_path / "scans", "a")
    out = tmp_path / "out"
    options = {"models": ("mine",)}
    assert not _once(scan, out, options=options).resumed
    assert _once(scan, out, options=options).resumed
    weights.write_bytes(b"weights 2")
    assert not _once(scan, out, options=options).resumed


@pytest.mark.parametrize("output", ["verdict.json", "evidence.png"])
def test_a_hand_edited_output_is_recomputed_not_served(tmp_path, output):
    scan = _write_scan(tmp_path / "scans", "b", reasons=["UNDECLARED_HIGH_Z"], score=0.93)
    out = tmp_path / "out"
    assert _once(scan, out).verdict == "inspect"
    path = out / "b" / output
    if output == "verdict.json":
        edited = json.loads(path.read_text())
        edited.update(verdict="clear", reasons=[])
        path.write_text(json.dumps(edited))
    else:
        path.write_bytes(_PNG + b" touched up")
    again = _once(scan, out)
    assert not again.resumed and again.verdict == "inspect"
    assert json.loads((out / "b" / "verdict.json").read_text())["verdict"] == "inspect"
    assert (out / "b" / "evidence.png").read_bytes() == _PNG


def test_outputs_without_a_record_are_not_served(tmp_path):
    scan = _write_scan(tmp_path / "scans", "a")
    out = tmp_path / "out"
    _once(scan, out)
    (out / "a" / batch.RECORD_FILE_NAME).unlink()  # e.g. written by an older nii or by hand
    assert not _once(scan, out).resumed
    assert _once(scan, out).resumed
    assert not _once(scan, out, resume=False).resumed  # --no-resume stays


def test_a_recomputed_scan_loses_the_stale_dicos_outputs_of_its_earlier_run(tmp_path):
    scan = _write_scan(tmp_path / "scans", "a")
    out = tmp_path / "out"
    _once(scan, out, dicos=True)
    assert (out / "a" / "tdr.dcs").exists()
    scan.with_name("a.manifest.json").write_text(json.dumps({"mass": 9000}))
    _once(scan, out)
    assert not (out / "a" / "tdr.dcs").exists()  # it described the earlier verdict


# --------------------------------------------------------------------------- issue 10: outputs stay inside --out


@pytest.mark.parametrize("name", ["...nxr", "..nxr", ".hidden.nxr", "a\\b.nxr", "tab\there.nxr", "con.nxr",
                                  "batch_summary.json.nxr"])
def test_a_scan_name_cannot_write_outside_its_folder(tmp_path, name):
    folder = tmp_path / "scans"
    folder.mkdir()
    scan = folder / name
    scan.write_text(json.dumps({"scan_id": "X", "reasons": [], "score": 0.1}))
    (folder / f"{scan.stem}.manifest.json").write_text(json.dumps({"mass": 18000}))
    out = tmp_path / "nest" / "out"
    summary = run_batch([scan], None, out, progress=False, inspect_one=fake_inspect)
    assert summary.results[0].verdict == "clear", summary.results[0].error
    written = Path(summary.results[0].out_dir)
    assert written.parent == out and (written / "verdict.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([written.name, SUMMARY_FILE_NAME])
    assert not (out.parent / "verdict.json").exists() and not (out / "verdict.json").exists()


def test_safe_folder_name():
    from nii.inspection.batch import safe_folder_name

    for stem in ("..", ".", "", "...", " . ", "a/../../b", "a\\b", "x\x00y", "\u202egnp", "nul", "COM1"):
        name = safe_folder_name(stem)
        assert name not in ("", ".", "..") and "/" not in name and "\\" not in name
        assert name == name.lstrip(". ") and all(char.isprintable() for char in name)
    assert safe_folder_name("s1") == "s1" and safe_folder_name("scan 2026-01-01") == "scan 2026-01-01"
    assert safe_folder_name("..") != safe_folder_name("...")  # both emptied: told apart by a digest
    assert len(safe_folder_name("x" * 500)) <= 120
    assert safe_folder_name("nul") != "nul" and safe_folder_name("batch_summary.json") != "batch_summary.json"


def test_names_colliding_after_cleaning_or_by_case_are_refused_before_any_work(tmp_path):
    calls = []

    def recording(scan_path, *args, **kwargs):
        calls.append(scan_path)
        return fake_inspect(scan_path, *args, **kwargs)

    first = _write_scan(tmp_path / "site1", "a:b")
    second = _write_scan(tmp_path / "site2", "a_b")
    with pytest.raises(OutputError, match="same folder"):
        run_batch([first, second], None, tmp_path / "out", progress=False, inspect_one=recording, workers=1)
    upper = _write_scan(tmp_path / "site3", "SCAN")
    lower = _write_scan(tmp_path / "site4", "scan")
    with pytest.raises(OutputError, match="same folder"):
        run_batch([upper, lower], None, tmp_path / "out", progress=False, inspect_one=recording, workers=1)
    assert calls == []


def test_a_symlinked_scan_folder_is_not_followed(tmp_path):
    scan = _write_scan(tmp_path / "scans", "a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputError, match="symbolic link"):
        run_batch([scan], None, out, progress=False, inspect_one=fake_inspect)
    assert list(elsewhere.iterdir()) == []
    # The worker refuses too, should the link appear after the batch's check.
    result = batch._process_scan(scan, None, out / "a", None, False, True, fake_inspect)
    assert "symbolic link" in result.error and list(elsewhere.iterdir()) == []


def test_an_unwritable_out_is_refused_before_any_work(tmp_path):
    calls = []

    def recording(scan_path, *args, **kwargs):
        calls.append(scan_path)
        return fake_inspect(scan_path, *args, **kwargs)

    scan = _write_scan(tmp_path / "scans", "a")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in (blocker, blocker / "out"):
        with pytest.raises(OutputError) as error:
            run_batch([scan], None, out, progress=False, inspect_one=recording)
        assert str(out) in str(error.value) and ".tmp" not in str(error.value)
    assert calls == []


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_before_any_work(tmp_path):
    scan = _write_scan(tmp_path / "scans", "a")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot be written in"):
            run_batch([scan], None, out, progress=False, inspect_one=fake_inspect)
    finally:
        out.chmod(0o700)


def test_cli_checks_out_and_manifests_before_any_work(scans, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a scan was inspected")

    monkeypatch.setattr(batch, "inspect_scan_to_dir", never)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="a_file"):
        run_batch_cli(_cli_args(scan=[str(scans["folder"])], out=str(blocker / "out")))
    with pytest.raises(NiiError, match="--manifests"):
        run_batch_cli(_cli_args(scan=[str(scans["folder"])], out=str(tmp_path / "o"), manifests=str(blocker)))


# --------------------------------------------------------------------------- issue 10: exit codes and interrupts


def test_the_summary_holds_each_scans_outcome_and_a_mixed_batch_exits_2(scans, tmp_path):
    order = [*scans["good"], scans["truncated"]]
    summary = run_batch(order, None, tmp_path / "out", progress=False, inspect_one=fake_inspect, workers=1)
    written = json.loads((tmp_path / "out" / SUMMARY_FILE_NAME).read_text())
    assert [r["outcome"] for r in written["results"]] == ["clear", "inspect", "clear", "error"]
    assert summary.exit_code == written["exit_code"] == 2


def interrupting_inspect(scan_path, manifest_path, out_dir, **kwargs):
    """A worker whose inspection is interrupted (module level: it runs in a process pool)."""
    raise KeyboardInterrupt


@pytest.mark.parametrize("workers", [1, 2])
def test_a_workers_keyboard_interrupt_stops_the_batch_quietly(scans, tmp_path, capfd, workers):
    with pytest.raises(KeyboardInterrupt):
        run_batch(scans["good"], None, tmp_path / "out", progress=False, inspect_one=interrupting_inspect,
                  workers=workers)
    assert "Traceback" not in capfd.readouterr().err


def test_the_cli_exits_130_on_a_workers_keyboard_interrupt(scans, tmp_path, monkeypatch, capfd):
    from nii.cli import main

    monkeypatch.setattr(batch, "inspect_scan_to_dir", interrupting_inspect)
    assert main(["inspect", str(scans["folder"]), "--out", str(tmp_path / "out"), "--workers", "2"]) == 130
    error = capfd.readouterr().err
    assert "Traceback" not in error and "nii: interrupted" in error
