"""NxrWriter: validation, append-only flushing, overwrite policy, input forms."""

from __future__ import annotations

import numpy as np
import pytest

from scanner_io import FLAG_AIR, NxrError, NxrWriter, read_nxr, record_dtype


def test_refuses_to_overwrite(tmp_path, nxr_header):
    path = tmp_path / "scan.nxr"
    path.write_bytes(b"precious")
    with pytest.raises(NxrError, match="already exists"):
        NxrWriter(path, nxr_header())
    assert path.read_bytes() == b"precious"
    with NxrWriter(path, nxr_header(), overwrite=True) as writer:
        writer.write(0, 0, 0, 1.0, 0.0, 0.0, np.zeros(16, np.uint16))
    assert read_nxr(path).report.records == 1


def test_overwrite_keeps_an_open_mapping_valid(small_scan, nxr_header):
    before = read_nxr(small_scan.path)
    expected = np.array(before.records["samples"])
    with NxrWriter(small_scan.path, nxr_header(), overwrite=True):
        pass
    np.testing.assert_array_equal(before.records["samples"], expected)  # no SIGBUS, same bytes
    assert read_nxr(small_scan.path).records.size == 0


def test_invalid_header_creates_no_file(tmp_path, nxr_header):
    path = tmp_path / "bad.nxr"
    with pytest.raises(NxrError, match="detector.channels"):
        NxrWriter(path, nxr_header(detector__channels=0))
    assert not path.exists()


def test_each_write_is_flushed(tmp_path, nxr_header):
    path = tmp_path / "live.nxr"
    writer = NxrWriter(path, nxr_header())
    assert read_nxr(path).records.size == 0
    writer.write(3, 1, FLAG_AIR, 1.0, 0.1, 0.0, np.arange(16))
    assert read_nxr(path).records["pulse_index"].tolist() == [3]
    writer.write_many(
        pulse_index=[4, 5],
        energy_index=[0, 1],
        flags=0,
        dose=1.0,
        time_s=[0.2, 0.3],
        position_mm=0.0,
        samples=np.ones((2, 16)),
    )
    assert read_nxr(path).records["pulse_index"].tolist() == [3, 4, 5]
    assert writer.records_written == 3 and writer.last_pulse_index == 5
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(NxrError, match="closed"):
        writer.write(6, 0, 0, 1.0, 0.0, 0.0, np.zeros(16))


def test_write_many_accepts_a_structured_array(tmp_path, nxr_header):
    records = np.zeros(3, dtype=record_dtype(16, "uint16"))
    records["pulse_index"] = [10, 11, 12]
    records["energy"] = [0, 1, 0]
    records["time"] = [1.0, 2.0, 3.0]
    records["position"] = [5.0, 6.0, 7.0]
    records["samples"] = np.arange(48).reshape(3, 16)
    records["crc"] = 12345  # ignored and recomputed
    path = tmp_path / "s.nxr"
    with NxrWriter(path, nxr_header()) as writer:
        writer.write_many(records)
    back = read_nxr(path).records
    assert back["time_s"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(back["samples"], records["samples"])
    assert read_nxr(path).report.clean


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ({"pulse_index": [2, 1]}, "increase strictly"),
        ({"pulse_index": [-1, 0]}, "pulse_index"),
        ({"energy_index": [0, 2]}, "energy_index"),
        ({"flags": [0, 16]}, "flags"),
        ({"samples": np.full((2, 16), 70000)}, "within 0..65535"),
        ({"samples": np.full((2, 16), -1.0)}, "within 0..65535"),
        ({"samples": np.full((2, 16), np.nan)}, "finite"),
        ({"samples": np.zeros((2, 15))}, "shape"),
        ({"time_s": [0.0, 1.0, 2.0]}, "time_s"),
        ({"dose": ["a", "b"]}, "dose"),
    ],
)
def test_write_many_rejects_bad_columns(tmp_path, nxr_header, columns, problem):
    good = {
        "pulse_index": [0, 1],
        "energy_index": [0, 1],
        "flags": [0, 0],
        "dose": [1.0, 1.0],
        "time_s": [0.0, 0.1],
        "position_mm": [0.0, 1.0],
        "samples": np.zeros((2, 16), np.uint16),
    }
    with NxrWriter(tmp_path / "x.nxr", nxr_header()) as writer:
        with pytest.raises(NxrError, match=problem):
            writer.write_many(**{**good, **columns})
        assert writer.records_written == 0


def test_pulse_order_is_checked_across_calls(tmp_path, nxr_header):
    with NxrWriter(tmp_path / "o.nxr", nxr_header()) as writer:
        writer.write(5, 0, 0, 1.0, 0.0, 0.0, np.zeros(16))
        with pytest.raises(NxrError, match="increase strictly"):
            writer.write(5, 1, 0, 1.0, 0.0, 0.0, np.zeros(16))


def test_float_samples_are_rounded_for_integer_dtypes(tmp_path, nxr_header):
    path = tmp_path / "r.nxr"
    with NxrWriter(path, nxr_header(detector__channels=3)) as writer:
        writer.write(0, 0, 0, 1.0, 0.0, 0.0, np.array([0.4, 1.6, 65534.7]))
    assert read_nxr(path).records["samples"].tolist() == [[0, 2, 65535]]


def test_missing_or_unknown_columns(tmp_path, nxr_header):
    with NxrWriter(tmp_path / "m.nxr", nxr_header()) as writer:
        with pytest.raises(NxrError, match="missing: samples"):
            writer.write_many(
                pulse_index=[0],
                energy_index=[0],
                flags=[0],
                dose=[1.0],
                time_s=[0.0],
                position_mm=[0.0],
            )
        with pytest.raises(NxrError, match="lacks the field"):
            writer.write_many(np.zeros(2, dtype=[("pulse_index", "<u4")]))
