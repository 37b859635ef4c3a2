"""``nii inspect`` and ``nii.inspection.inspect``: exit codes, outputs, corrupt inputs."""

from __future__ import annotations

import json

import pytest

from nii.cli import EXIT_CLEAR, EXIT_ERROR, EXIT_INSPECT, main
from nii.inspection import inspect

MANIFEST = {"container_id": "TEST1234567", "iso_type": "22G1", "declared_empty": False,
            "items": [{"hs_code": "610910", "gross_mass_kg": 2000}]}


@pytest.fixture
def manifest_path(tmp_path):
    path = tmp_path / "scan.manifest.json"
    path.write_text(json.dumps(MANIFEST), encoding="utf-8")
    return path


def test_single_scan_writes_verdict_and_evidence(small_scan, manifest_path, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["inspect", str(small_scan.path), "--manifest", str(manifest_path), "--out", str(out)])
    assert status in (EXIT_CLEAR, EXIT_INSPECT)
    verdict = json.loads((out / "verdict.json").read_text(encoding="utf-8"))
    assert (out / "evidence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert verdict["verdict"] == ("inspect" if status == EXIT_INSPECT else "clear")
    assert verdict["scan_id"] == small_scan.header["scan_id"]
    # One summary line, then the verdict's warnings, one per line.
    first, *notes = capsys.readouterr().out.strip().splitlines()
    assert verdict["verdict"].upper() in first and str(out) in first
    assert [note.removeprefix("  warning: ") for note in notes] == verdict["warnings"]
    # The library gives the same result as the command line.
    library = inspect(small_scan.path, manifest_path).to_dict()
    # (the physics calibration's identifier hashes its creation time, to the second)
    library["provenance"].pop("calibration")
    cli_calibration = verdict["provenance"].pop("calibration")
    assert cli_calibration
    assert library == verdict
    assert not list(out.glob(".*.tmp"))


def test_default_out_is_beside_the_scan(small_scan, manifest_path):
    status = main(["inspect", str(small_scan.path), "--manifest", str(manifest_path)])
    assert status in (EXIT_CLEAR, EXIT_INSPECT)
    assert (small_scan.path.with_name("small.inspection") / "verdict.json").is_file()


def test_bad_manifest_json_exits_2(small_scan, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"container_id\": ", encoding="utf-8")
    assert main(["inspect", str(small_scan.path), "--manifest", str(bad), "--out", str(tmp_path / "o")]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "bad.json" in error and "Traceback" not in error
    assert not (tmp_path / "o" / "verdict.json").exists()


def test_invalid_manifest_field_exits_2(small_scan, tmp_path, capsys):
    bad = tmp_path / "neg.json"
    bad.write_text(json.dumps({**MANIFEST, "items": [{"hs_code": "61", "gross_mass_kg": -3}]}), encoding="utf-8")
    assert main(["inspect", str(small_scan.path), "--manifest", str(bad), "--out", str(tmp_path / "o")]) == EXIT_ERROR
    assert "gross_mass_kg" in capsys.readouterr().err


def test_truncated_or_garbage_scan_exits_2(small_scan, manifest_path, tmp_path, capsys):
    garbage = tmp_path / "garbage.nxr"
    garbage.write_bytes(b"NOTANXR" * 10)
    assert main(["inspect", str(garbage), "--manifest", str(manifest_path), "--out", str(tmp_path / "g")]) == EXIT_ERROR
    header_only = tmp_path / "header_only.nxr"
    data = small_scan.path.read_bytes()
    header_only.write_bytes(data[: 16 + int.from_bytes(data[8:12], "little")])
    assert main(["inspect", str(header_only), "--manifest", str(manifest_path), "--out", str(tmp_path / "h")]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert not (tmp_path / "h" / "verdict.json").exists()


def test_missing_manifest_option_exits_2(small_scan, capsys):
    assert main(["inspect", str(small_scan.path)]) == EXIT_ERROR
    assert "--manifest" in capsys.readouterr().err


def test_output_never_overwrites_an_input(small_scan, tmp_path, capsys):
    manifest = tmp_path / "verdict.json"
    manifest.write_text(json.dumps(MANIFEST), encoding="utf-8")
    assert main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(tmp_path)]) == EXIT_ERROR
    assert json.loads(manifest.read_text(encoding="utf-8")) == MANIFEST


def test_parser_keeps_the_batch_options():
    from nii.cli import build_parser

    args = build_parser().parse_args(["inspect", "a.nxr", "b.nxr", "--manifests", "m", "--workers", "2",
                                      "--no-resume", "--dask-scheduler", "tcp://x:8786", "--dicos", "--out", "o"])
    assert args.scan == ["a.nxr", "b.nxr"] and args.manifests == "m" and args.workers == 2
    assert args.resume is False and args.dask_scheduler == "tcp://x:8786" and args.dicos
    from nii.cli.inspect import is_batch

    assert is_batch(args)


@pytest.mark.slow
@pytest.mark.parametrize(("threat", "status", "code"), [("none", EXIT_CLEAR, None), ("lead_block", EXIT_INSPECT, "UNDECLARED_HIGH_Z")])
def test_end_to_end_on_simulated_scans(tmp_path, threat, status, code):
    scan = tmp_path / f"{threat}.nxr"
    assert main(["simulate", "--container", "20ft", "--cargo", "61", "--threat", threat, "--channels", "128",
                 "--pulses", "1200", "--seed", "3", "-o", str(scan)]) == 0
    truth = json.loads(scan.with_name(f"{threat}.truth.json").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    assert main(["inspect", str(scan), "--manifest", str(scan.with_name(f"{threat}.manifest.json")),
                 "--out", str(out)]) == status
    verdict = json.loads((out / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == truth["expected_verdict"]
    assert verdict["estimates"]["cargo_mass_kg"] == pytest.approx(truth["cargo_mass_kg"], rel=0.15)
    if code:
        assert code in [reason["code"] for reason in verdict["reasons"]]
        # The flagged box overlaps the threat's true box on the analysed grid.
        r0, c0, r1, c1 = truth["regions"][0]["bbox"]
        boxes = [region["bbox"] for region in verdict["regions"] if region["reason"] == code]
        assert any(b[0] < r1 and r0 < b[2] and b[1] < c1 and c0 < b[3] for b in boxes)


# --------------------------------------------------------------------------- issue 10: honest manifests and outputs


def _one_sentence(error: str) -> str:
    lines = [line for line in error.splitlines() if line.strip() and not line.startswith("nii: no --calibration")]
    assert len(lines) == 1, error
    assert "Traceback" not in error
    return lines[0]


def test_a_misspelled_mass_field_is_an_error_not_a_silent_clear(small_scan, tmp_path, capsys):
    manifest = tmp_path / "typo.json"
    manifest.write_text(json.dumps({**MANIFEST, "items": [{"hs_code": "610910", "gross_mas_kg": 2000}]}))
    out = tmp_path / "o"
    assert main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(out)]) == EXIT_ERROR
    line = _one_sentence(capsys.readouterr().err)
    assert "unknown field `gross_mas_kg`; did you mean `gross_mass_kg`?" in line and "typo.json" in line
    assert not (out / "verdict.json").exists()


def test_other_unknown_fields_reach_the_verdict_warnings(small_scan, tmp_path):
    manifest = tmp_path / "extra.json"
    manifest.write_text(json.dumps({**MANIFEST, "shipper": "ACME"}))
    out = tmp_path / "o"
    assert main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(out)]) in (EXIT_CLEAR, EXIT_INSPECT)
    warnings = json.loads((out / "verdict.json").read_text())["warnings"]
    assert any("`shipper`" in warning for warning in warnings)


def test_a_device_as_manifest_exits_2_at_once(small_scan, tmp_path, capsys):
    import time

    started = time.perf_counter()
    assert main(["inspect", str(small_scan.path), "--manifest", "/dev/zero", "--out", str(tmp_path / "o")]) == EXIT_ERROR
    assert time.perf_counter() - started < 30
    assert "/dev/zero" in _one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(MANIFEST).replace("2000", "9" * 400),                                   # OverflowError before
        json.dumps({**MANIFEST, "items": [{"hs_code": "610910", "gross_mass_kg": 1e308}] * 2}),  # ZeroDivisionError
        "[" * 100_000 + "]" * 100_000,                                                     # RecursionError
    ],
)
def test_absurd_manifests_exit_2_with_one_sentence(small_scan, tmp_path, capsys, text):
    manifest = tmp_path / "absurd.json"
    manifest.write_text(text)
    assert main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(tmp_path / "o")]) == EXIT_ERROR
    assert "absurd.json" in _one_sentence(capsys.readouterr().err)


def test_an_unwritable_out_is_refused_before_any_work(small_scan, manifest_path, tmp_path, capsys, monkeypatch):
    import nii.inspection.report as report

    def never(*args, **kwargs):
        raise AssertionError("the scan was analysed before --out was checked")

    monkeypatch.setattr(report, "analyse_scan", never)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "sub"):
        assert main(["inspect", str(small_scan.path), "--manifest", str(manifest_path), "--out", str(out)]) == EXIT_ERROR
        line = _one_sentence(capsys.readouterr().err)
        assert str(out) in line and ".tmp" not in line
