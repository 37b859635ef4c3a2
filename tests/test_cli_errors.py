"""Every error path of the command line: one sentence and exit 2; ``--debug`` anywhere; Ctrl-C exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nii.cli.inspect as inspect_cli
from nii.cli import EXIT_ERROR, EXIT_INTERRUPTED, main

MANIFEST = {"container_id": "TEST1234567", "iso_type": "22G1", "declared_empty": False,
            "items": [{"hs_code": "610910", "gross_mass_kg": 2000}]}
REPOSITORY = Path(__file__).resolve().parents[1]


def _sentence(error: str) -> str:
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1, error
    assert "Traceback" not in error
    return lines[0]


@pytest.fixture
def manifest_path(tmp_path):
    path = tmp_path / "scan.manifest.json"
    path.write_text(json.dumps(MANIFEST), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("int too large to convert to float"),
        ZeroDivisionError("float division by zero"),
        RecursionError("maximum recursion depth exceeded"),
        MemoryError(),
        ValueError("operands could not be broadcast\ntogether with shapes (3,) (4,)"),
        KeyError("pitch_mm"),
    ],
)
def test_an_unforeseen_exception_is_one_sentence_and_exit_2(monkeypatch, capsys, error):
    def broken(args):
        raise error

    monkeypatch.setattr(inspect_cli, "run", broken)
    assert main(["inspect", "SCAN.nxr", "--manifest", "M.json"]) == EXIT_ERROR
    line = _sentence(capsys.readouterr().err)
    assert line.startswith("nii inspect: internal error while inspecting SCAN.nxr: ")
    assert line.endswith("; rerun with --debug for the traceback")
    assert (type(error).__name__ if not isinstance(error, MemoryError) else "out of memory") in line


@pytest.mark.parametrize("where", ["before", "after", "end"])
def test_debug_is_accepted_anywhere_and_still_exits_2(monkeypatch, capsys, where):
    def broken(args):
        assert args.debug
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(inspect_cli, "run", broken)
    argv = {"before": ["--debug", "inspect", "SCAN.nxr"], "after": ["inspect", "--debug", "SCAN.nxr"],
            "end": ["inspect", "SCAN.nxr", "--manifest", "M.json", "--debug"]}[where]
    assert main(argv) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "Traceback" in error and "ZeroDivisionError" in error
    assert error.strip().splitlines()[-1].startswith("nii inspect: internal error while inspecting SCAN.nxr")
    assert "rerun with --debug" not in error


def test_debug_on_an_expected_error_shows_the_traceback_and_exits_2(tmp_path, capsys):
    missing = tmp_path / "missing.nxr"
    assert main(["info", str(missing), "--debug"]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "Traceback" in error and error.strip().splitlines()[-1].startswith("nii info: error: ")
    assert main(["info", str(missing)]) == EXIT_ERROR
    assert str(missing) in _sentence(capsys.readouterr().err)


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(inspect_cli, "run", interrupted)
    assert main(["inspect", "SCAN.nxr"]) == EXIT_INTERRUPTED
    assert _sentence(capsys.readouterr().err) == "nii: interrupted"


def test_the_script_exits_2_with_debug_after_the_subcommand(tmp_path):
    """The installed entry point's path: ``python -m nii``, a real process, a real exit status."""
    done = subprocess.run(
        [sys.executable, "-m", "nii", "info", str(tmp_path / "missing.nxr"), "--debug"],
        capture_output=True, text=True, timeout=120, cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
    assert done.returncode == 2
    assert "Traceback" in done.stderr


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_a_batch_worker_interrupted_exits_130_without_a_traceback(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during a process-pool batch."""
    scans = tmp_path / "scans"
    scans.mkdir()
    for stem in ("a", "b", "c"):
        (scans / f"{stem}.nxr").write_bytes(b"stand-in")
        (scans / f"{stem}.manifest.json").write_text("{}")
    started = tmp_path / "started"
    script = textwrap.dedent(
        f"""
        import multiprocessing, sys, time
        from pathlib import Path
        from nii.inspection import batch

        multiprocessing.set_start_method("fork")  # the workers see the stand-in below

        def slow(scan, manifest, out, **options):
            Path({str(started)!r}).touch()
            time.sleep(60)

        batch.inspect_scan_to_dir = slow
        from nii.cli import main
        sys.exit(main(["inspect", {str(scans)!r}, "--out", {str(tmp_path / "out")!r}, "--workers", "2"]))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert started.exists(), process.communicate(timeout=30)
        time.sleep(0.3)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "nii: interrupted" in err


# --------------------------------------------------------------------------- render --verdict


def _verdict_of(scan: Path, tmp_path: Path, manifest_path: Path) -> Path:
    out = tmp_path / f"{scan.stem}.out"
    assert main(["inspect", str(scan), "--manifest", str(manifest_path), "--out", str(out)]) in (0, 1)
    return out / "verdict.json"


def test_render_checks_the_scan_id_and_the_input_digest(tmp_path, nxr_header, columns_factory, manifest_path, capsys):
    from scanner_io import NxrWriter

    def scan(name, scan_id, seed=0):
        path = tmp_path / f"{name}.nxr"
        with NxrWriter(path, nxr_header(scan_id=scan_id)) as writer:
            writer.write_many(**columns_factory(seed=seed))
        return path

    first = scan("first", "SCAN-A")
    same_id = scan("same_id", "SCAN-A", seed=1)  # same scan_id, other bytes
    other_id = scan("other_id", "SCAN-B")
    verdict = _verdict_of(first, tmp_path, manifest_path)
    image = tmp_path / "evidence.png"

    def errors() -> str:
        return "\n".join(line for line in capsys.readouterr().err.splitlines() if "no --calibration" not in line)

    errors()
    assert main(["render", str(other_id), "--verdict", str(verdict), "-o", str(image)]) == EXIT_ERROR
    line = _sentence(errors())
    assert "'SCAN-A'" in line and "'SCAN-B'" in line and str(verdict) in line
    assert main(["render", str(same_id), "--verdict", str(verdict), "-o", str(image)]) == EXIT_ERROR
    line = _sentence(errors())
    assert "sha256" in line and str(verdict) in line
    assert not image.exists()
    assert main(["render", str(first), "--verdict", str(verdict), "-o", str(image)]) == 0
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
