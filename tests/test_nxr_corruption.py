"""Property tests: damaged NXR files give only records whose CRC holds, or an NxrError.

Bytes are flipped, dropped, inserted (random or copied from the file itself),
or the file is truncated, anywhere, header included. Whatever happens, the reader
returns only records identical to records that were written (so never corrupt
samples) and accounts for every byte, or raises :class:`NxrError` with a message;
never another exception and never a hang.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner_io import (
    FLAG_DARK,
    FLAG_POSITION_VALID,
    NxrError,
    NxrWriter,
    iter_nxr_chunks,
    read_nxr,
)

CHANNELS = 4
RECORD_SIZE = 32 + 2 * CHANNELS


def _original() -> tuple[bytes, set[bytes], int]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "original.nxr"
        header = {
            "format": "nxr",
            "version": 1,
            "kind": "object",
            "scan_id": "CORRUPT-1",
            "sample_dtype": "uint16",
            "detector": {"channels": CHANNELS},
            "source": {"energies_mev": [6.0, 3.0]},
        }
        pulses = np.arange(20)
        with NxrWriter(path, header) as writer:
            writer.write_many(
                pulse_index=pulses,
                energy_index=pulses % 2,
                flags=np.where(pulses < 2, FLAG_DARK, FLAG_POSITION_VALID),
                dose=1.0,
                time_s=pulses / 400.0,
                position_mm=pulses * 1.0,
                samples=np.random.default_rng(7).integers(0, 65536, (20, CHANNELS)),
            )
        data = path.read_bytes()
    start = 16 + struct.unpack("<I", data[8:12])[0]
    records = {data[at : at + RECORD_SIZE] for at in range(start, len(data), RECORD_SIZE)}
    return data, records, start


ORIGINAL, ORIGINAL_RECORDS, DATA_START = _original()
SIZE = len(ORIGINAL)

flip = st.tuples(st.just("flip"), st.integers(0, SIZE - 1), st.integers(1, 255))
drop = st.tuples(st.just("drop"), st.integers(0, SIZE - 1), st.integers(1, 3 * RECORD_SIZE))
insert = st.tuples(
    st.just("insert"),
    st.integers(0, SIZE),
    st.one_of(
        st.binary(min_size=1, max_size=64), st.just(b"RRXN"), st.just(b"RRXN" + bytes(RECORD_SIZE))
    ),
)
duplicate = st.tuples(
    st.just("duplicate"), st.integers(0, SIZE - 1), st.integers(1, 3 * RECORD_SIZE)
)
truncate = st.tuples(st.just("truncate"), st.integers(0, SIZE - 1), st.just(0))
mutations = st.lists(st.one_of(flip, drop, insert, duplicate, truncate), min_size=1, max_size=4)


def mutate(data: bytes, steps) -> bytes:
    buffer = bytearray(data)
    for kind, at, value in steps:
        at = min(at, len(buffer))
        if kind == "flip" and at < len(buffer):
            buffer[at] ^= value
        elif kind == "drop":
            del buffer[at : at + value]
        elif kind == "insert":
            buffer[at:at] = value
        elif kind == "duplicate":
            buffer[at:at] = bytes(buffer[at : at + value])
        elif kind == "truncate":
            del buffer[at:]
    return bytes(buffer)


def check_records(records: np.ndarray) -> None:
    for row in records:
        assert row.tobytes() in ORIGINAL_RECORDS


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=mutations)
def test_damaged_file_yields_only_original_records_or_nxr_error(tmp_path, steps):
    damaged = mutate(ORIGINAL, steps)
    path = tmp_path / "damaged.nxr"
    path.write_bytes(damaged)
    try:
        nxr = read_nxr(path)
    except NxrError as error:
        assert str(error) and str(path) in str(error)
        return
    check_records(nxr.records)
    report = nxr.report
    pulses = nxr.records["pulse_index"].astype(np.int64)
    assert report.records == pulses.size
    assert np.all(np.diff(pulses) > 0)
    assert report.dropped_pulses == sorted(report.dropped_pulses)
    assert not set(report.dropped_pulses) & set(pulses.tolist())
    if pulses.size:
        span = set(range(int(pulses[0]), int(pulses[-1]) + 1))
        assert set(report.dropped_pulses) == span - set(pulses.tolist())
    data_start = 16 + struct.unpack("<I", damaged[8:12])[0]
    accepted = report.crc_valid_records  # kept, dropped or set aside: every CRC-valid record
    assert accepted * RECORD_SIZE + report.resync_skipped_bytes + report.truncated_bytes == max(
        0, len(damaged) - data_start
    )
    assert 0 <= report.truncated_bytes
    if damaged == ORIGINAL:
        assert report.clean

    stream = iter_nxr_chunks(path)
    stream.read_bytes = 97  # odd chunking must not change the result
    chunks = list(stream)
    streamed = np.concatenate(chunks) if chunks else nxr.records[:0]
    np.testing.assert_array_equal(streamed, nxr.records)
    assert stream.report.to_dict() == report.to_dict()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(DATA_START, SIZE), flip_at=st.integers(DATA_START, SIZE - 1))
def test_record_damage_loses_at_most_the_damaged_records(tmp_path, cut, flip_at):
    damaged = bytearray(ORIGINAL[:cut])
    if flip_at < len(damaged):
        damaged[flip_at] ^= 0x5A
    path = tmp_path / "record.nxr"
    path.write_bytes(bytes(damaged))
    nxr = read_nxr(path)  # the header is intact: never an error
    check_records(nxr.records)
    whole = (cut - DATA_START) // RECORD_SIZE
    hit = (flip_at - DATA_START) // RECORD_SIZE if flip_at < cut else None
    lost = 1 if hit is not None and hit < whole else 0
    assert nxr.report.records == whole - lost
    assert nxr.report.crc_failures == lost
    assert nxr.report.truncated_bytes == (cut - DATA_START) % RECORD_SIZE
