"""NXR readers: files built by hand from the spec, round trips, losses, streaming."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import zlib

import numpy as np
import pytest

from scanner_io import (
    FLAG_AIR,
    FLAG_DARK,
    FLAG_DOSE_VALID,
    FLAG_POSITION_VALID,
    NxrError,
    NxrWriter,
    iter_nxr,
    iter_nxr_chunks,
    load_scan,
    read_nxr,
)

SYNC = 0x4E585252


def spec_record(pulse, energy, flags, dose, time_s, position_mm, samples, fmt):
    """One record laid out by hand from the spec's table (independent of the writer)."""
    body = struct.pack("<IBBHfdf", pulse, energy, flags, 0, dose, time_s, position_mm)
    body += struct.pack(f"<{len(samples)}{fmt}", *samples)
    return struct.pack("<I", SYNC) + body + struct.pack("<I", zlib.crc32(body))


def spec_file(header: dict, records: list[bytes]) -> bytes:
    body = json.dumps(header).encode("utf-8")
    prefix = b"NXRSCAN1" + struct.pack("<I", len(body)) + body + struct.pack("<I", zlib.crc32(body))
    return prefix + b"".join(records)


def test_reads_a_file_built_by_hand_from_the_spec(tmp_path, nxr_header):
    header = nxr_header(detector__channels=3)
    rows = [
        (0, 0, FLAG_DARK | FLAG_DOSE_VALID, 0.0, 0.0, 0.0, [10, 11, 12]),
        (1, 1, FLAG_AIR | FLAG_DOSE_VALID, 1.01, 0.0025, 0.0, [60000, 50000, 40000]),
        (3, 1, FLAG_POSITION_VALID, 0.99, 0.0075, 3.25, [1, 65535, 2]),
    ]
    data = spec_file(header, [spec_record(*row, fmt="H") for row in rows])
    assert data[-(32 + 6) :][:4] == b"RRXN"
    path = tmp_path / "hand.nxr"
    path.write_bytes(data)
    nxr = read_nxr(path)
    records = nxr.records
    assert records["pulse_index"].tolist() == [0, 1, 3]
    assert records["energy_index"].tolist() == [0, 1, 1]
    assert records["flags"].tolist() == [r[2] for r in rows]
    assert records["dose"].tolist() == pytest.approx([0.0, 1.01, 0.99], rel=1e-6)
    assert records["time_s"].tolist() == [0.0, 0.0025, 0.0075]
    assert records["position_mm"].tolist() == [0.0, 0.0, 3.25]
    assert records["samples"].tolist() == [r[6] for r in rows]
    assert nxr.report.records == 3 and nxr.report.dropped_pulses == [2]
    assert nxr.report.crc_failures == 0 and nxr.report.truncated_bytes == 0
    assert nxr.header.scan_id == header["scan_id"] and nxr.file_size == len(data)


def test_writer_output_matches_the_spec_bytes(tmp_path, nxr_header):
    header = nxr_header(detector__channels=2, sample_dtype="float32")
    path = tmp_path / "w.nxr"
    with NxrWriter(path, header) as writer:
        writer.write(7, 1, FLAG_POSITION_VALID, 1.5, 0.25, 12.5, np.array([0.5, -2.0], np.float32))
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[8:12])
    record = data[16 + length :]
    assert record == spec_record(7, 1, FLAG_POSITION_VALID, 1.5, 0.25, 12.5, [0.5, -2.0], fmt="f")


@pytest.mark.parametrize("sample_dtype", ["uint16", "uint32", "float32"])
@pytest.mark.parametrize("channels", [1, 3, 64, 4096])
def test_round_trip(tmp_path, nxr_header, columns_factory, sample_dtype, channels):
    objects = 6 if channels == 4096 else 30
    columns = columns_factory(
        channels=channels, objects=objects, sample_dtype=sample_dtype, seed=channels
    )
    header = nxr_header(sample_dtype=sample_dtype, detector__channels=channels)
    path = tmp_path / "rt.nxr"
    with NxrWriter(path, header) as writer:
        writer.write_many(**{k: v[:5] for k, v in columns.items()})
        writer.write_many(**{k: v[5:] for k, v in columns.items()})
    nxr = read_nxr(path)
    records = nxr.records
    assert nxr.report.clean and nxr.report.records == len(columns["pulse_index"])
    assert records["samples"].dtype == np.dtype(sample_dtype)
    np.testing.assert_array_equal(records["samples"], columns["samples"])
    np.testing.assert_array_equal(records["pulse_index"], columns["pulse_index"])
    np.testing.assert_array_equal(records["energy_index"], columns["energy_index"])
    np.testing.assert_array_equal(records["flags"], columns["flags"])
    np.testing.assert_array_equal(records["time_s"], columns["time_s"])
    np.testing.assert_array_equal(records["dose"], columns["dose"].astype(np.float32))
    np.testing.assert_array_equal(records["position_mm"], columns["position_mm"].astype(np.float32))
    assert nxr.header.raw == header
    assert not records.flags.writeable


def _write(path, header, columns):
    with NxrWriter(path, header, overwrite=True) as writer:
        writer.write_many(**columns)
    return path.read_bytes()


def _data_start(data: bytes) -> int:
    return 16 + struct.unpack("<I", data[8:12])[0]


def test_partial_trailing_record_is_reported(small_scan):
    data = small_scan.path.read_bytes()
    size = 32 + 16 * 2
    small_scan.path.write_bytes(data[: -size // 2])
    nxr = read_nxr(small_scan.path)
    total = len(small_scan.columns["pulse_index"])
    assert nxr.report.records == total - 1
    assert nxr.report.truncated_bytes == size - size // 2
    assert nxr.report.crc_failures == 0 and nxr.report.dropped_pulses == []
    np.testing.assert_array_equal(nxr.records["samples"], small_scan.columns["samples"][:-1])


def test_corrupt_record_is_dropped_and_reading_resumes(small_scan):
    data = bytearray(small_scan.path.read_bytes())
    size = 32 + 16 * 2
    start = _data_start(data)
    data[start + 10 * size + 40] ^= 0x10  # a sample of pulse 10
    data[start + 20 * size + 1] ^= 0x01  # the sync word of pulse 20
    small_scan.path.write_bytes(bytes(data))
    nxr = read_nxr(small_scan.path)
    assert nxr.report.crc_failures == 2
    assert nxr.report.dropped_pulses == [10, 20]
    assert nxr.report.resync_skipped_bytes == 2 * size
    keep = np.setdiff1d(small_scan.columns["pulse_index"], [10, 20])
    np.testing.assert_array_equal(nxr.records["pulse_index"], keep)
    np.testing.assert_array_equal(nxr.records["samples"], small_scan.columns["samples"][keep])


def test_inserted_and_deleted_bytes_resync(small_scan):
    data = small_scan.path.read_bytes()
    size = 32 + 16 * 2
    start = _data_start(data)
    at = start + 5 * size + 17
    damaged = data[:at] + b"\x00garbage RRXN bytes" + data[at:]
    cut = start + 30 * size + 20 + 19
    damaged = damaged[:cut] + damaged[cut + 7 :]
    small_scan.path.write_bytes(damaged)
    nxr = read_nxr(small_scan.path)
    assert nxr.report.dropped_pulses == [5, 30]
    assert nxr.report.crc_failures == 2
    assert nxr.report.records == len(small_scan.columns["pulse_index"]) - 2


def test_valid_crc_records_breaking_the_format_are_dropped(tmp_path, nxr_header):
    header = nxr_header(detector__channels=2)
    rows = [
        spec_record(0, 0, 0, 1.0, 0.0, 0.0, [1, 2], "H"),
        spec_record(1, 5, 0, 1.0, 0.0, 0.0, [1, 2], "H"),  # energy index 5 >= 2 energies
        spec_record(2, 0, 0, 1.0, 0.0, 0.0, [1, 2], "H"),
        spec_record(2, 1, 0, 1.0, 0.0, 0.0, [3, 4], "H"),  # repeated pulse index
        spec_record(1, 1, 0, 1.0, 0.0, 0.0, [3, 4], "H"),  # going backwards
        spec_record(3, 1, 0, 1.0, 0.0, 0.0, [5, 6], "H"),
    ]
    path = tmp_path / "fmt.nxr"
    path.write_bytes(spec_file(header, rows))
    nxr = read_nxr(path)
    assert nxr.records["pulse_index"].tolist() == [0, 2, 3]
    report = nxr.report
    assert report.bad_energy_records == 1
    assert report.replayed_records == 1  # pulse 2 again, other samples
    assert report.out_of_order_records == 1  # pulse 1 after pulse 2
    assert report.dropped_pulses == [1] and report.crc_valid_records == 6
    stream = iter_nxr(path)
    assert [r.pulse_index for r in stream] == [0, 2, 3]
    assert stream.report.to_dict() == report.to_dict()


def test_header_only_file(tmp_path, nxr_header):
    path = tmp_path / "empty.nxr"
    NxrWriter(path, nxr_header()).close()
    nxr = read_nxr(path)
    assert nxr.records.size == 0 and nxr.report.records == 0 and nxr.report.clean


def test_missing_file_is_an_nxr_error(tmp_path):
    with pytest.raises(NxrError, match="cannot open"):
        read_nxr(tmp_path / "absent.nxr")


def test_iter_nxr_yields_records_and_report(small_scan):
    data = small_scan.path.read_bytes()
    small_scan.path.write_bytes(data[:-10])
    stream = iter_nxr(small_scan.path)
    records = list(stream)
    columns = small_scan.columns
    assert len(records) == len(columns["pulse_index"]) - 1
    first = records[0]
    assert (
        first.pulse_index == 0 and first.is_dark and first.dose_valid and not first.position_valid
    )
    np.testing.assert_array_equal(first.samples, columns["samples"][0])
    last = records[-1]
    assert last.position_valid and last.position_mm == pytest.approx(columns["position_mm"][-2])
    assert stream.finished and stream.report.truncated_bytes == 32 + 32 - 10
    assert stream.header.scan_id == small_scan.header["scan_id"]


def test_iter_nxr_chunks_small_reads_match_whole_read(small_scan):
    stream = iter_nxr_chunks(small_scan.path)
    stream.read_bytes = 50  # smaller than a record: exercises reassembly
    chunks = list(stream)
    assert len(chunks) > 1
    joined = np.concatenate(chunks)
    whole = read_nxr(small_scan.path).records
    np.testing.assert_array_equal(joined, whole)


def test_streaming_while_a_writer_appends(tmp_path, nxr_header, columns_factory):
    columns = columns_factory(objects=60)
    count = len(columns["pulse_index"])
    path = tmp_path / "live.nxr"
    writer = NxrWriter(path, nxr_header())
    seen: list = []

    def acquire() -> None:
        for start in range(0, count, 7):
            writer.write_many(**{k: v[start : start + 7] for k, v in columns.items()})
            time.sleep(0.005)
        writer.close()

    thread = threading.Thread(target=acquire)
    stream = iter_nxr(path, follow=True, poll_s=0.005, idle_timeout_s=0.5)
    thread.start()
    for record in stream:
        seen.append(record)
    thread.join()
    assert [r.pulse_index for r in seen] == columns["pulse_index"].tolist()
    np.testing.assert_array_equal(np.stack([r.samples for r in seen]), columns["samples"])
    assert stream.report.records == count and stream.report.clean


def test_follow_waits_for_a_header_being_written(tmp_path, nxr_header):
    path = tmp_path / "late.nxr"
    body = json.dumps(nxr_header(detector__channels=1)).encode()
    prefix = b"NXRSCAN1" + struct.pack("<I", len(body)) + body + struct.pack("<I", zlib.crc32(body))
    path.write_bytes(prefix[:20])

    def finish() -> None:
        time.sleep(0.05)
        with open(path, "ab") as stream:
            stream.write(prefix[20:] + spec_record(0, 0, 0, 1.0, 0.0, 0.0, [9], "H"))

    thread = threading.Thread(target=finish)
    thread.start()
    records = list(iter_nxr(path, follow=True, poll_s=0.01, idle_timeout_s=0.3))
    thread.join()
    assert [r.samples.tolist() for r in records] == [[9]]


def test_follow_gives_up_after_idle_timeout(small_scan):
    started = time.monotonic()
    records = list(iter_nxr(small_scan.path, follow=True, poll_s=0.01, idle_timeout_s=0.1))
    assert len(records) == len(small_scan.columns["pulse_index"])
    assert time.monotonic() - started < 5


def test_follow_on_a_bad_header_fails_at_once(tmp_path):
    path = tmp_path / "bad.nxr"
    path.write_bytes(b"NOTNXR!!" + b"\x00" * 40)
    with pytest.raises(NxrError, match="not an NXR file"):
        list(iter_nxr(path, follow=True, poll_s=0.01, idle_timeout_s=None))


# --- recovery policy: replays, wild indices, duplicates (the old strict-order reader
# dropped every record after the first one out of order, or rejected the file) -------

RECOVERY_CHANNELS = 2


def _genuine(count: int, first: int = 0) -> list[bytes]:
    return [
        spec_record(p, p % 2, FLAG_POSITION_VALID, 1.0, p / 400.0, p * 1.6, [p % 65536, 7], "H")
        for p in range(first, first + count)
    ]


def _read_both(tmp_path, nxr_header, rows, read_bytes=None):
    path = tmp_path / "recover.nxr"
    path.write_bytes(spec_file(nxr_header(detector__channels=RECOVERY_CHANNELS), rows))
    nxr = read_nxr(path)
    stream = iter_nxr_chunks(path)
    if read_bytes:
        stream.read_bytes = read_bytes
    chunks = list(stream)
    streamed = np.concatenate(chunks) if chunks else nxr.records[:0]
    return nxr, streamed, stream.report


def _bytes(records) -> list[bytes]:
    return [row.tobytes() for row in records]


def test_replayed_block_from_ahead_keeps_every_genuine_record(tmp_path, nxr_header):
    genuine = _genuine(500)
    rows = genuine[:7] + genuine[400:404] + genuine[7:]  # 4 records replayed out of place
    nxr, streamed, stream_report = _read_both(tmp_path, nxr_header, rows)
    assert _bytes(nxr.records) == genuine
    report = nxr.report
    assert report.records == 500 and report.duplicate_records == 4
    assert report.dropped_pulses == [] and report.set_aside_records == 0
    # streaming holds the block (a jump of 392 pulses) until the run passes it
    assert _bytes(streamed) == genuine and stream_report.to_dict() == report.to_dict()


def test_replayed_block_with_new_content_is_set_aside(tmp_path, nxr_header):
    genuine = _genuine(300)
    replay = [spec_record(p, p % 2, 0, 2.0, 9.0, 0.0, [1, 1], "H") for p in range(40, 44)]
    nxr, streamed, stream_report = _read_both(
        tmp_path, nxr_header, genuine[:100] + replay + genuine[100:]
    )
    assert _bytes(nxr.records) == genuine == _bytes(streamed)
    assert nxr.report.replayed_records == 4 and nxr.report.duplicate_records == 0
    assert stream_report.to_dict() == nxr.report.to_dict()


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("wild", [0xFFFF_FFFF, 3, 1_000_000])
def test_one_wild_pulse_index_costs_only_itself(tmp_path, nxr_header, where, wild):
    genuine = _genuine(400, first=100)
    at = {"start": 0, "middle": 200, "end": 400}[where]
    odd = spec_record(wild, 0, 0, 1.0, 0.0, 0.0, [5, 5], "H")
    nxr, streamed, stream_report = _read_both(
        tmp_path, nxr_header, genuine[:at] + [odd] + genuine[at:], read_bytes=97
    )
    assert _bytes(nxr.records) == genuine == _bytes(streamed)
    assert nxr.report.wild_index_records == 1 and nxr.report.set_aside_records == 1
    assert nxr.report.dropped_pulses == [] and nxr.report.pulse_jumps == []
    assert stream_report.to_dict() == nxr.report.to_dict()


def test_a_large_jump_confirmed_by_the_records_after_it_is_kept(tmp_path, nxr_header):
    before, after = _genuine(50), _genuine(50, first=3_000_000_000)
    nxr, streamed, stream_report = _read_both(tmp_path, nxr_header, before + after)
    assert _bytes(nxr.records) == before + after == _bytes(streamed)
    report = nxr.report
    assert report.pulse_jumps == [(49, 3_000_000_000)] and report.set_aside_records == 0
    # the ~3e9 missing pulses are counted, not listed (the report stays small)
    assert report.dropped_pulse_count == 3_000_000_000 - 50
    assert len(report.dropped_pulses) <= 1 << 20 and not report.clean
    assert stream_report.to_dict() == report.to_dict()


def test_a_short_unconfirmed_jump_is_set_aside(tmp_path, nxr_header):
    genuine = _genuine(300)
    ahead = _genuine(3, first=90_000)
    nxr, streamed, stream_report = _read_both(
        tmp_path, nxr_header, genuine[:150] + ahead + genuine[150:]
    )
    assert _bytes(nxr.records) == genuine == _bytes(streamed)
    assert nxr.report.wild_index_records == 3 and nxr.report.pulse_jumps == []
    assert stream_report.to_dict() == nxr.report.to_dict()


def test_every_record_twice_keeps_one_copy(tmp_path, nxr_header):
    genuine = _genuine(120)
    nxr, streamed, stream_report = _read_both(tmp_path, nxr_header, genuine + genuine)
    assert _bytes(nxr.records) == genuine == _bytes(streamed)
    assert nxr.report.duplicate_records == 120 and nxr.report.crc_valid_records == 240
    assert stream_report.to_dict() == nxr.report.to_dict()


def test_lost_bytes_explain_a_long_gap(tmp_path, nxr_header):
    # 200 records lost to corruption in one span: a 200-pulse gap, but no jump
    genuine = _genuine(400)
    rows = genuine[:100] + [b"\x00" * len(genuine[0])] * 200 + genuine[300:]
    nxr, _, _ = _read_both(tmp_path, nxr_header, rows)
    assert nxr.report.records == 200 and nxr.report.pulse_jumps == []
    assert nxr.report.dropped_pulses == list(range(100, 300))


def test_follow_gives_every_genuine_record_once_despite_replays(tmp_path, nxr_header):
    genuine = _genuine(200)
    rows = genuine[:60] + genuine[150:154] + genuine[60:120] + genuine[100:110] + genuine[120:]
    header = nxr_header(detector__channels=RECOVERY_CHANNELS)
    path = tmp_path / "live.nxr"
    data = spec_file(header, rows)
    split = len(data) - len(b"".join(rows))
    path.write_bytes(data[:split])

    def acquire() -> None:
        with open(path, "ab") as stream:
            for start in range(0, len(rows), 5):
                stream.write(b"".join(rows[start : start + 5]))
                stream.flush()
                time.sleep(0.003)

    thread = threading.Thread(target=acquire)
    stream = iter_nxr(path, follow=True, poll_s=0.003, idle_timeout_s=0.4)
    thread.start()
    seen = [record.pulse_index for record in stream]
    thread.join()
    assert seen == list(range(200))
    assert stream.report.duplicate_records == 14 and stream.report.records == 200


# --- only regular files are read ----------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_at_once(tmp_path):
    import signal

    fifo = tmp_path / "scan.nxr"
    os.mkfifo(fifo)

    def hang(*_):  # a reader that opens the FIFO waits for a writer forever
        raise TimeoutError("the reader blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(10)
    try:
        for read in (
            read_nxr,
            load_scan,
            lambda p: list(iter_nxr(p)),
            lambda p: list(iter_nxr(p, follow=True, idle_timeout_s=0.1)),
        ):
            with pytest.raises(NxrError, match="FIFO") as info:
                read(fifo)
            assert str(fifo) in str(info.value) and "\n" not in str(info.value)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("target", "kind"), [("/dev/zero", "character device"), (".", "folder")])
def test_devices_and_folders_are_refused(tmp_path, target, kind):
    path = tmp_path if target == "." else target
    if not os.path.exists(path):
        pytest.skip(f"{path} is not on this system")
    with pytest.raises(NxrError, match=kind):
        read_nxr(path)
