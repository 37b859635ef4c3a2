"""Fuzz regression: damaged scans through the reader and ``nii inspect`` (issue 10).

One small simulated scan (64 channels, 400 pulses, a 20 ft container of furniture
whose full scan is ``clear``) is damaged by hypothesis: bytes flipped, ranges
deleted, the file truncated, blocks of records replayed elsewhere in the file, and
records with a wild pulse index (a counter glitch far from the scan's pulses, CRC
valid) inserted. Whatever the damage:

- only :class:`scanner_io.ScannerIOError` or :class:`nii.errors.NiiError` escape,
  never another exception;
- every genuine record still whole in the damaged bytes is kept by the reader
  (compared byte for byte with the records written);
- a scan that lost most of its object pulses is never ``clear``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nii.errors import NiiError
from nii.inspection import inspect
from nii.inspection.pipeline import _scan_warnings
from scanner_io import FLAG_AIR, FLAG_DARK, ScannerIOError, load_scan, read_nxr
from scanner_io._records import CONFIRM_RECORDS

CHANNELS = 64
PULSES = 400
RECORD_SIZE = 32 + 2 * CHANNELS  # uint16 samples
#: Wild pulse indices are drawn this far above the scan's: a glitching counter, not
#: a record that claims a neighbour's pulse (which no reader could tell apart).
WILD_LOW = 1_000_000


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> SimpleNamespace:
    """The simulated scan: its bytes, its records as written, its manifest."""
    from nii.simulate import ScannerConfig, build_scenario, simulate_scan

    folder = tmp_path_factory.mktemp("fuzz")
    scenario = build_scenario("20ft", "94", None, seed=2)
    path = folder / "scan.nxr"
    simulated = simulate_scan(scenario, ScannerConfig().scaled(CHANNELS, PULSES), 2, out=path)
    data = path.read_bytes()
    written = simulated.records()  # the records the simulator wrote (no CRC filled in)
    size = written.dtype.itemsize
    assert size == RECORD_SIZE
    start = 16 + struct.unpack("<I", data[8:12])[0]
    records = np.frombuffer(data, dtype=written.dtype, offset=start)
    for name in ("pulse_index", "energy_index", "flags", "time_s", "samples"):
        np.testing.assert_array_equal(records[name], written[name])
    assert read_nxr(path).report.clean
    flags = records["flags"]
    objects = int(((flags & (FLAG_DARK | FLAG_AIR)) == 0).sum())
    return _Original(
        data=data,
        start=start,
        size=size,
        count=records.size,
        rows=[row.tobytes() for row in records],
        objects=objects,
        manifest=path.with_name("scan.manifest.json"),
        path=path,
    )


class _Original(SimpleNamespace):
    def __repr__(self) -> str:  # hypothesis prints it with every failing example
        return f"<simulated scan {self.path.name}: {self.count} records>"


def _wild_record(template: bytes, pulse: int) -> bytes:
    body = bytearray(template[4:-4])
    body[0:4] = struct.pack("<I", pulse)
    return template[:4] + bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def _mutate(original: SimpleNamespace, steps) -> bytes:
    data = bytearray(original.data)
    size = original.size
    for kind, at, value in steps:
        records_end = len(data)
        if kind == "flip":
            spot = original.start + at % max(1, records_end - original.start)
            if spot < len(data):
                data[spot] ^= value
        elif kind == "flip_header":
            data[at % original.start] ^= value
        elif kind == "delete":
            spot = original.start + at % max(1, records_end - original.start)
            del data[spot : spot + value]
        elif kind == "truncate":
            del data[original.start + at % max(1, records_end - original.start + 1) :]
        elif kind == "replay":  # a block of whole records copied to another record boundary
            source, length, target = at
            block = original.rows[source % original.count : source % original.count + value]
            boundary = original.start + (target % (original.count + 1)) * size
            data[boundary:boundary] = b"".join(block)
        elif kind == "wild":
            boundary = original.start + (at % (original.count + 1)) * size
            data[boundary:boundary] = _wild_record(original.rows[at % original.count], value)
    return bytes(data)


flip = st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255))
flip_header = st.tuples(st.just("flip_header"), st.integers(0, 10**6), st.integers(1, 255))
# at most 3 records' bytes a deletion: a gap without bytes of more than MAX_PULSE_GAP
# pulses is a jump by policy, and a short part beyond it is set aside
delete = st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 3 * RECORD_SIZE))
truncate = st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0))
replay = st.tuples(
    st.just("replay"),
    st.tuples(st.integers(0, 10**4), st.just(0), st.integers(0, 10**4)),
    st.integers(1, 8),
)
wild = st.tuples(st.just("wild"), st.integers(0, 10**4), st.integers(WILD_LOW, 2**32 - 1))
mutations = st.lists(
    st.one_of(flip, flip_header, delete, truncate, replay, wild), min_size=1, max_size=5
)
# Damage that never creates a copy of a record: every genuine record left whole is
# kept. (With copies, a copy placed where it competes with a genuine record whose
# other copy is gone is ambiguous: both are genuine, only one fits the increasing run,
# and the reader sets the other aside as out of order; see the bound below.)
damage = st.lists(st.one_of(flip, flip_header, delete, truncate, wild), min_size=1, max_size=5)


def _whole_genuine(original: SimpleNamespace, damaged: bytes) -> set[bytes]:
    """Genuine records still present, whole, in the damaged bytes (found independently)."""
    body = damaged[16:]
    return {row for row in original.rows if body.find(row) >= 0}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=damage)
def test_reader_keeps_every_whole_genuine_record(original, tmp_path, steps):
    damaged = _mutate(original, steps)
    path = tmp_path / "damaged.nxr"
    path.write_bytes(damaged)
    try:
        nxr = read_nxr(path)
    except ScannerIOError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    kept = [row.tobytes() for row in nxr.records]
    whole = _whole_genuine(original, damaged)
    assert len(kept) == len(set(kept))  # no record twice
    if len(whole) >= CONFIRM_RECORDS:
        assert whole <= set(kept)
        assert set(kept) <= set(original.rows)  # wild records never kept: their jumps are unconfirmed
    else:
        # Fewer genuine records than confirm a run: nothing tells them from a wild one
        # of the same length, and the policy keeps the first of the longest runs
        # (docs/nxr-recovery.md). At least as many records as the genuine ones survive.
        assert len(kept) >= min(len(whole), 1)
    pulses = nxr.records["pulse_index"].astype(np.int64)
    assert np.all(np.diff(pulses) > 0)
    report = nxr.report
    assert report.records == len(kept)
    # every byte after the (intact) header is accounted for
    accounted = (
        report.crc_valid_records * original.size
        + report.resync_skipped_bytes
        + report.truncated_bytes
    )
    assert accounted == len(damaged) - original.start


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=mutations)
def test_reader_on_any_damage_keeps_an_increasing_run_of_genuine_records(original, tmp_path, steps):
    damaged = _mutate(original, steps)
    path = tmp_path / "damaged.nxr"
    path.write_bytes(damaged)
    try:
        nxr = read_nxr(path)
    except ScannerIOError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    kept = [row.tobytes() for row in nxr.records]
    whole = _whole_genuine(original, damaged)
    assert len(kept) == len(set(kept))
    assert np.all(np.diff(nxr.records["pulse_index"].astype(np.int64)) > 0)
    # a replayed block can cost at most as many genuine records as it holds
    replayed = sum(value for kind, _, value in steps if kind == "replay")
    assert len(whole & set(kept)) >= len(whole) - replayed
    if len(whole) >= CONFIRM_RECORDS:
        assert set(kept) <= set(original.rows)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=mutations)
def test_inspect_of_a_damaged_scan_raises_only_project_errors(original, tmp_path, steps):
    path = tmp_path / "damaged.nxr"
    path.write_bytes(_mutate(original, steps))
    try:
        verdict = inspect(path, original.manifest)
    except (ScannerIOError, NiiError) as error:
        assert str(error) and "\n" not in str(error).strip()
        return
    assert verdict.verdict in ("clear", "inspect")


def _object_pulses(scan) -> int:
    return int(sum(scan.object_pulses))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kept=st.floats(0.0, 0.45),
    steps=st.lists(st.one_of(flip, replay, wild), max_size=3),
)
def test_a_scan_missing_most_of_its_object_pulses_is_never_clear(original, tmp_path, kept, steps):
    """Cut the file so that at most 45 % of its object pulses remain, damage it a little more."""
    damaged = _mutate(original, steps)
    objects_start = original.count - original.objects
    cut = original.start + int((objects_start + kept * original.objects) * original.size)
    path = tmp_path / "cut.nxr"
    path.write_bytes(damaged[:cut])
    try:
        scan = load_scan(path)
        if _object_pulses(scan) >= original.objects / 2:
            return  # the damage did not take most of them after all
        verdict = inspect(scan, original.manifest)
    except (ScannerIOError, NiiError):
        return  # an error (exit 2) is an honest outcome
    assert verdict.verdict != "clear", (
        f"clear with {_object_pulses(scan)} of {original.objects} object pulses"
    )


def test_every_reader_loss_is_a_verdict_warning(original, tmp_path):
    data = bytearray(original.data)
    start, size = original.start, original.size
    for record in (100, 101, 250):  # three records corrupt
        data[start + record * size + 40] ^= 0x55
    block = b"".join(original.rows[300:304])
    at = start + 50 * size
    data[at:at] = block  # four records replayed out of place
    at = start + 200 * size
    data[at:at] = _wild_record(original.rows[0], 3_000_000_000)
    path = tmp_path / "lossy.nxr"
    path.write_bytes(bytes(data[:-7]))  # and a partial record at the end
    scan = load_scan(path)
    report = scan.report
    assert report.crc_failures == 3 and report.duplicate_records == 4
    assert report.wild_index_records == 1 and report.truncated_bytes > 0
    words = _scan_warnings(scan)
    text = " | ".join(words)
    assert "3 records of the scan file failed their CRC check" in text
    assert "4 records were exact copies of other records" in text
    assert "1 record had a pulse index that fits nowhere" in text
    assert f"({report.truncated_bytes} bytes ignored)" in text
    assert f"{report.dropped_pulse_count} pulse(s) are missing" in text
    verdict = inspect(scan, original.manifest)
    assert set(words) <= set(verdict.to_dict()["warnings"])


def test_warnings_accept_a_report_with_fewer_fields():
    stand_in = SimpleNamespace(report=SimpleNamespace(dropped_pulses=[4, 5], truncated_bytes=3))
    words = _scan_warnings(stand_in)
    assert words == [
        "2 pulse(s) are missing from the scan (dropped by the scanner or lost to corrupt or "
        "set-aside records)",
        "the scan file ends in a partial record (3 bytes ignored)",
    ]
    assert _scan_warnings(SimpleNamespace()) == []


def test_clean_scan_has_no_reader_warning(original):
    assert _scan_warnings(load_scan(original.path)) == []
    assert Path(original.manifest).is_file()
