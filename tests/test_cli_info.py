"""``nii info``: text and JSON summaries, exit 2 with one line on unreadable files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nii.cli import main
from nii.info import scan_summary
from scanner_io import FLAG_DOSE_VALID, FLAG_POSITION_VALID, NxrError, NxrWriter


def test_json_summary(small_scan, capsys):
    assert main(["info", str(small_scan.path), "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert out.count("\n") == 1
    assert summary["scan_id"] == "TEST-0001" and summary["kind"] == "object"
    assert summary["channels"] == 16 and summary["energies_mev"] == [6.0, 3.0]
    assert summary["records"] == 96
    assert summary["pulses"] == [40, 40]
    assert summary["dark_pulses"] == [4, 4] and summary["air_pulses"] == [4, 4]
    assert summary["dropped_pulses"] == 0 and summary["dropped_pulse_indices"] == []
    assert summary["crc_failures"] == 0 and summary["truncated_bytes"] == 0
    assert summary["mean_speed_mps"] == pytest.approx(0.4, rel=1e-4)
    assert summary["speed_variation"] == pytest.approx(0.0, abs=1e-3)
    assert summary["duration_s"] == pytest.approx(95 / 400.0)
    assert summary["scanner_id"] == "gantry-test" and summary["has_object_pulses"]


def test_text_summary(small_scan, capsys):
    assert main(["info", str(small_scan.path)]) == 0
    out = capsys.readouterr().out
    assert "TEST-0001" in out and "kind object" in out and "gantry-test" in out
    assert "16 channels" in out and "object 40 / 40, dark 4 / 4, air 4 / 4" in out
    assert "mean 0.400 m/s" in out
    assert "0 dropped pulses, 0 CRC failures, 0 truncated bytes" in out


def test_damage_is_reported(small_scan, capsys):
    data = bytearray(small_scan.path.read_bytes())
    size = 32 + 32
    start = len(data) - 96 * size
    data[start + 50 * size + 30] ^= 0xFF
    small_scan.path.write_bytes(bytes(data[:-5]))
    assert main(["info", str(small_scan.path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["crc_failures"] == 1 and summary["dropped_pulses"] == 1
    assert summary["dropped_pulse_indices"] == [50] and summary["truncated_bytes"] == size - 5
    assert main(["info", str(small_scan.path)]) == 0
    assert "1 dropped pulses (50), 1 CRC failures" in capsys.readouterr().out


def test_speed_variation(tmp_path, nxr_header):
    count = 800
    time_s = np.arange(count) / 400.0
    speed = np.where(time_s < 1.0, 0.3, 0.5)  # m/s: a slow then a fast second
    position = np.concatenate(([0.0], np.cumsum(np.diff(time_s) * speed[1:] * 1000.0)))
    path = tmp_path / "v.nxr"
    with NxrWriter(path, nxr_header(detector__channels=1)) as writer:
        writer.write_many(
            pulse_index=np.arange(count),
            energy_index=np.arange(count) % 2,
            flags=FLAG_POSITION_VALID | FLAG_DOSE_VALID,
            dose=1.0,
            time_s=time_s,
            position_mm=position,
            samples=np.ones((count, 1)),
        )
    summary = scan_summary(path)
    assert summary["mean_speed_mps"] == pytest.approx(0.4, rel=0.01)
    assert summary["speed_min_mps"] == pytest.approx(0.3, rel=0.01)
    assert summary["speed_max_mps"] == pytest.approx(0.5, rel=0.01)
    assert summary["speed_variation"] == pytest.approx(0.25, rel=0.05)


def test_reference_only_file(tmp_path, nxr_header, columns_factory, capsys):
    path = tmp_path / "air.nxr"
    with NxrWriter(path, nxr_header(kind="air")) as writer:
        writer.write_many(**columns_factory(dark=0, air=6, objects=0))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "no object pulses" in out and "kind air" in out and "speed       n/a" in out
    assert main(["info", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pulses"] == [0, 0] and summary["air_pulses"] == [6, 6]
    assert summary["mean_speed_mps"] is None and not summary["has_object_pulses"]


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage that is not an NXR file at all", b'NXRSCAN1\x40\x00\x00\x00{"format": "nx'],
)
def test_unreadable_file_exits_2_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.nxr"
    path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nii info: error:") and str(path) in lines[0]


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "absent.nxr"), "--json"]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_library_raises_nxr_error(tmp_path):
    path = tmp_path / "bad.nxr"
    path.write_bytes(b"NXRSCAN1")
    with pytest.raises(NxrError):
        scan_summary(path)


def test_recovered_records_are_reported(small_scan, capsys):
    data = small_scan.path.read_bytes()
    size = 32 + 32
    start = len(data) - 96 * size
    block = data[start + 60 * size : start + 64 * size]  # pulses 60..63 replayed after 10
    damaged = data[: start + 11 * size] + block + data[start + 11 * size :]
    small_scan.path.write_bytes(damaged)
    assert main(["info", str(small_scan.path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 96 and summary["duplicate_records"] == 4
    assert summary["dropped_pulses"] == 0 and summary["pulse_jumps"] == []
    assert main(["info", str(small_scan.path)]) == 0
    assert "records dropped or set aside: 4 exact copies" in capsys.readouterr().out


def test_a_fifo_is_refused_with_one_line(tmp_path, capsys):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    import signal

    fifo = tmp_path / "pipe.nxr"
    os.mkfifo(fifo)

    def hang(*_):  # a reader that opens the FIFO would wait for a writer forever
        raise TimeoutError("nii info blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(10)
    try:
        assert main(["info", str(fifo)]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    error = capsys.readouterr().err
    assert "FIFO" in error and str(fifo) in error and len(error.strip().splitlines()) == 1
