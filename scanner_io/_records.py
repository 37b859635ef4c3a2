"""NXR records: the structured dtype, flags, and the record scanner shared by the readers.

A record is ``32 + N*s`` bytes (spec: ``shared/spec/nxr-format.md``). The scanner
finds the valid records in a byte buffer: the fast path views the buffer at the
record stride as a structured array, checks every sync word at once and the CRC of
each record with CRC-32 (zlib-ng's when installed, else :func:`zlib.crc32`) on a
memory view; only after a bad record does it search the bytes for the next sync
word whose record CRC holds.

Policy for records whose CRC holds but whose content breaks the format (documented
in :class:`ReadReport`): a record with an energy index beyond ``energies_mev`` and a
record whose pulse index is not greater than every pulse index before it are
dropped and counted; reading goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

try:  # zlib-ng's crc32 is the same CRC-32, several times faster; optional
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - depends on the environment
    from zlib import crc32

from scanner_io._errors import NxrError
from scanner_io._header import (
    MAX_CHANNELS,
    SAMPLE_DTYPES,
    SYNC_BYTES,
    SYNC_WORD,
)

__all__ = [
    "FLAG_DARK",
    "FLAG_AIR",
    "FLAG_DOSE_VALID",
    "FLAG_POSITION_VALID",
    "record_dtype",
    "NxrRecord",
    "ReadReport",
]

FLAG_DARK = 0x01
FLAG_AIR = 0x02
FLAG_DOSE_VALID = 0x04
FLAG_POSITION_VALID = 0x08

#: Most dropped pulse indices a report lists; beyond it the file is rejected.
MAX_DROPPED_PULSES = 1 << 20
_CRC_START = 4  # the CRC covers everything after the sync word ...
_CRC_TAIL = 4  # ... up to the CRC itself


def record_dtype(channels: int, sample_dtype: str | np.dtype) -> np.dtype:
    """Return the numpy structured dtype of one NXR record.

    Parameters
    ----------
    channels : int
        Detector channels N (1 to 65536).
    sample_dtype : str or numpy.dtype
        ``"uint16"``, ``"uint32"`` or ``"float32"`` (stored little-endian).

    Returns
    -------
    numpy.dtype
        Packed little-endian dtype of ``32 + N*s`` bytes with fields ``sync`` (u4),
        ``pulse_index`` (u4), ``energy_index`` (u1, alias ``energy``), ``flags`` (u1),
        ``reserved`` (u2), ``dose`` (f4), ``time_s`` (f8, alias ``time``),
        ``position_mm`` (f4, alias ``position``), ``samples`` (N samples) and ``crc`` (u4).

    Examples
    --------
    >>> record_dtype(512, "uint16").itemsize
    1056
    """
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)):
        raise NxrError(f"record_dtype: channels must be an integer, got {channels!r}")
    if not 1 <= int(channels) <= MAX_CHANNELS:
        raise NxrError(f"record_dtype: channels must be from 1 to {MAX_CHANNELS}, got {channels}")
    name = np.dtype(sample_dtype).name if not isinstance(sample_dtype, str) else sample_dtype
    if name not in SAMPLE_DTYPES:
        raise NxrError(
            f"record_dtype: sample dtype must be one of {', '.join(SAMPLE_DTYPES)}, got {sample_dtype!r}"
        )
    return np.dtype(
        [
            ("sync", "<u4"),
            ("pulse_index", "<u4"),
            (("energy", "energy_index"), "u1"),
            ("flags", "u1"),
            ("reserved", "<u2"),
            ("dose", "<f4"),
            (("time", "time_s"), "<f8"),
            (("position", "position_mm"), "<f4"),
            ("samples", SAMPLE_DTYPES[name], (int(channels),)),
            ("crc", "<u4"),
        ]
    )


def record_crcs(buffer, offset: int, count: int, record_size: int) -> np.ndarray:
    """CRC-32 of ``count`` records laid out from ``offset`` in ``buffer`` (bytes after the sync)."""
    view = memoryview(buffer)
    length = record_size - _CRC_START - _CRC_TAIL
    first = offset + _CRC_START
    starts = range(first, first + count * record_size, record_size)
    return np.fromiter(
        (crc32(view[start : start + length]) for start in starts), dtype=np.uint32, count=count
    )


@dataclass(frozen=True)
class NxrRecord:
    """One pulse as read from an NXR file.

    Attributes
    ----------
    pulse_index : int
        Pulse counter (strictly increasing in a file).
    energy_index : int
        Index into ``energies_mev`` (0 = highest energy).
    flags : int
        Bit field of ``FLAG_DARK``, ``FLAG_AIR``, ``FLAG_DOSE_VALID``, ``FLAG_POSITION_VALID``.
    dose : float
        Dose monitor reading, arbitrary units.
    time_s : float
        Seconds since the header's ``started_at``.
    position_mm : float
        Conveyance position, mm.
    samples : numpy.ndarray
        The N detector samples, channel 0 first.
    """

    pulse_index: int
    energy_index: int
    flags: int
    dose: float
    time_s: float
    position_mm: float
    samples: np.ndarray

    @property
    def is_dark(self) -> bool:
        """True for a beam-off reference pulse."""
        return bool(self.flags & FLAG_DARK)

    @property
    def is_air(self) -> bool:
        """True for a beam-on, nothing-in-the-beam reference pulse."""
        return bool(self.flags & FLAG_AIR)

    @property
    def dose_valid(self) -> bool:
        """True when the dose monitor reading is meaningful."""
        return bool(self.flags & FLAG_DOSE_VALID)

    @property
    def position_valid(self) -> bool:
        """True when the conveyance position is meaningful."""
        return bool(self.flags & FLAG_POSITION_VALID)

    @classmethod
    def from_structured(cls, row: np.void) -> NxrRecord:
        """Build a record from one element of a :func:`record_dtype` array."""
        return cls(
            pulse_index=int(row["pulse_index"]),
            energy_index=int(row["energy_index"]),
            flags=int(row["flags"]),
            dose=float(row["dose"]),
            time_s=float(row["time_s"]),
            position_mm=float(row["position_mm"]),
            samples=np.array(row["samples"]),
        )


@dataclass(repr=False)
class ReadReport:
    """What a reader found wrong with an NXR file (and how many records were good).

    Attributes
    ----------
    records : int
        Records returned: complete, CRC ok, energy index valid, pulse index in order.
    crc_failures : int
        Record slots lost to corruption: a record whose sync word or CRC failed where
        one was expected; a corrupt span of S bytes between two good records counts
        as ``round(S / record_size)``, at least 1.
    dropped_pulses : list of int
        Sorted pulse indices missing inside the range of the returned records'
        pulse indices (gaps; includes pulses lost to CRC failures). Only pulse
        indices of records whose CRC holds are trusted.
    truncated_bytes : int
        Bytes of a partial record at the end of the file (acquisition stopped
        mid-write), ignored.
    resync_skipped_bytes : int
        Bytes skipped between good records while searching for the next valid sync word.
    bad_energy_records : int
        Records with a valid CRC but an energy index ``>= len(energies_mev)``: dropped.
    out_of_order_records : int
        Records with a valid CRC whose pulse index is not greater than every earlier
        one: dropped.
    """

    records: int = 0
    crc_failures: int = 0
    dropped_pulses: list[int] = field(default_factory=list)
    truncated_bytes: int = 0
    resync_skipped_bytes: int = 0
    bad_energy_records: int = 0
    out_of_order_records: int = 0

    def __repr__(self) -> str:
        gaps = self.dropped_pulses
        shown = ", ".join(map(str, gaps[:5])) + (", ..." if len(gaps) > 5 else "")
        return (
            f"ReadReport(records={self.records}, crc_failures={self.crc_failures}, "
            f"dropped_pulses=[{shown}] ({len(gaps)}), truncated_bytes={self.truncated_bytes}, "
            f"resync_skipped_bytes={self.resync_skipped_bytes}, "
            f"bad_energy_records={self.bad_energy_records}, "
            f"out_of_order_records={self.out_of_order_records})"
        )

    @property
    def dropped_pulse_count(self) -> int:
        """Number of dropped pulses."""
        return len(self.dropped_pulses)

    @property
    def clean(self) -> bool:
        """True when nothing was lost, dropped or skipped."""
        return not (
            self.crc_failures
            or self.dropped_pulses
            or self.truncated_bytes
            or self.resync_skipped_bytes
            or self.bad_energy_records
            or self.out_of_order_records
        )

    def to_dict(self) -> dict:
        """JSON-friendly dictionary of the report."""
        return {
            "records": self.records,
            "crc_failures": self.crc_failures,
            "dropped_pulses": list(self.dropped_pulses),
            "truncated_bytes": self.truncated_bytes,
            "resync_skipped_bytes": self.resync_skipped_bytes,
            "bad_energy_records": self.bad_energy_records,
            "out_of_order_records": self.out_of_order_records,
        }


class RecordScanner:
    """Find the valid records in a growing byte stream (stateful, shared by the readers).

    Feed it buffers covering absolute file offsets ``[base, base + len(buffer))``;
    each :meth:`feed` returns the runs ``(offset, count)`` of consecutive records whose
    sync word and CRC hold. After :meth:`feed` only bytes from :attr:`position` on are
    needed again.

    Parameters
    ----------
    record_size : int
        Bytes per record.
    data_start : int
        Absolute offset of the first record (16 + H).
    n_energies : int
        Number of energies: a resync candidate must have a smaller energy index.
    """

    def __init__(self, record_size: int, data_start: int, n_energies: int):
        self.record_size = record_size
        self.position = data_start
        self.n_energies = n_energies
        self.span_start: int | None = None
        self.crc_failures = 0
        self.skipped_bytes = 0
        self.truncated_bytes = 0
        self._sync_dtype = np.dtype(
            [("sync", "<u4"), ("rest", f"V{record_size - 8}"), ("crc", "<u4")]
        )

    def feed(self, buffer, base: int, final: bool) -> list[tuple[int, int]]:
        """Scan ``buffer`` (bytes or mmap, absolute offset ``base``); return runs of valid records.

        Parameters
        ----------
        buffer : bytes or mmap.mmap
            Must support ``find`` and the buffer protocol and start at or before
            :attr:`position`.
        base : int
            Absolute file offset of ``buffer[0]``, bytes.
        final : bool
            True when no more bytes will come: the tail is then accounted as
            truncated or corrupt.
        """
        size = self.record_size
        end = base + len(buffer)
        runs: list[tuple[int, int]] = []
        while True:
            if self.span_start is not None:
                found = self._resync(buffer, base, end)
                if found is None:
                    break
                span = found - self.span_start
                self.skipped_bytes += span
                self.crc_failures += max(1, int(round(span / size)))
                self.span_start = None
                self.position = found
            count = (end - self.position) // size
            if count <= 0:
                break
            good = self._valid_prefix(buffer, self.position - base, count)
            if good:
                runs.append((self.position, good))
                self.position += good * size
            if good < count:
                self.span_start = self.position
                self.position += 1
        if final:
            self._finish(end)
        return runs

    def _valid_prefix(self, buffer, offset: int, count: int) -> int:
        slots = np.frombuffer(buffer, dtype=self._sync_dtype, count=count, offset=offset)
        bad_sync = np.flatnonzero(slots["sync"] != SYNC_WORD)
        limit = int(bad_sync[0]) if bad_sync.size else count
        if limit == 0:
            return 0
        computed = record_crcs(buffer, offset, limit, self.record_size)
        bad_crc = np.flatnonzero(computed != slots["crc"][:limit])
        return int(bad_crc[0]) if bad_crc.size else limit

    def _candidate_ok(self, buffer, offset: int) -> bool:
        view = memoryview(buffer)
        size = self.record_size
        if view[offset + 8] >= self.n_energies:
            return False
        stored = int.from_bytes(view[offset + size - _CRC_TAIL : offset + size], "little")
        return crc32(view[offset + _CRC_START : offset + size - _CRC_TAIL]) == stored

    def _resync(self, buffer, base: int, end: int) -> int | None:
        """Return the absolute offset of the next valid record, or None (position updated)."""
        start = self.position
        while True:
            index = buffer.find(SYNC_BYTES, start - base)
            if index < 0:
                self.position = max(start, end - (len(SYNC_BYTES) - 1))
                return None
            candidate = base + index
            if candidate + self.record_size > end:
                self.position = candidate
                return None
            if self._candidate_ok(buffer, index):
                return candidate
            start = candidate + 1

    def _finish(self, end: int) -> None:
        size = self.record_size
        if self.span_start is not None:
            span = end - self.span_start
            whole = span // size
            self.crc_failures += max(1, whole)
            self.skipped_bytes += whole * size
            self.truncated_bytes += span - whole * size
            self.span_start = None
        else:
            self.truncated_bytes += max(0, end - self.position)
        self.position = end


class RecordFilter:
    """Drop valid-CRC records that break the format and collect pulse-index gaps.

    Parameters
    ----------
    n_energies : int
        Number of energies in the header.
    source : str
        File named in error messages.
    """

    def __init__(self, n_energies: int, source: str):
        self.n_energies = n_energies
        self.source = source
        self.last_pulse = -1
        self.records = 0
        self.bad_energy = 0
        self.out_of_order = 0
        self.gaps: list[np.ndarray] = []  # (start, stop) pairs of missing pulse ranges
        self.missing = 0

    def apply(self, records: np.ndarray) -> np.ndarray:
        """Return the acceptable records of ``records`` (in file order)."""
        if records.size == 0:
            return records
        energy_ok = records["energy_index"] < self.n_energies
        pulses = records["pulse_index"].astype(np.int64)
        previous = np.maximum.accumulate(np.concatenate(([self.last_pulse], pulses[:-1])))
        order_ok = pulses > previous
        keep = energy_ok & order_ok
        # A bad-energy record still advances the running maximum only if kept; recompute
        # on the kept subset when energies were bad (rare) so order checks ignore them.
        if not energy_ok.all():
            self.bad_energy += int((~energy_ok).sum())
            subset = np.flatnonzero(energy_ok)
            sub_pulses = pulses[subset]
            prev = np.maximum.accumulate(np.concatenate(([self.last_pulse], sub_pulses[:-1])))
            keep = np.zeros(records.size, dtype=bool)
            keep[subset] = sub_pulses > prev
            self.out_of_order += int(subset.size - keep.sum())
        else:
            self.out_of_order += int((~order_ok).sum())
        kept = records if keep.all() else records[keep]
        if kept.size:
            kept_pulses = kept["pulse_index"].astype(np.int64)
            chain = (
                np.concatenate(([self.last_pulse], kept_pulses))
                if self.last_pulse >= 0
                else kept_pulses
            )
            steps = np.diff(chain)
            where = np.flatnonzero(steps > 1)
            if where.size:
                starts = chain[where] + 1
                stops = chain[where + 1]
                self.missing += int((stops - starts).sum())
                if self.missing > MAX_DROPPED_PULSES:
                    raise NxrError(
                        f"{self.source}: pulse indices jump by more than {MAX_DROPPED_PULSES} "
                        "pulses: the file is not a plausible scan"
                    )
                self.gaps.append(np.stack([starts, stops], axis=1))
            self.last_pulse = int(kept_pulses[-1])
            self.records += int(kept.size)
        return kept

    def dropped_pulses(self) -> list[int]:
        """Sorted list of missing pulse indices."""
        if not self.gaps:
            return []
        ranges = np.concatenate(self.gaps)
        return np.concatenate([np.arange(a, b) for a, b in ranges]).tolist()


def build_report(scanner: RecordScanner, accepted: RecordFilter) -> ReadReport:
    """Combine scanner and filter counters into a :class:`ReadReport`."""
    return ReadReport(
        records=accepted.records,
        crc_failures=scanner.crc_failures,
        dropped_pulses=accepted.dropped_pulses(),
        truncated_bytes=scanner.truncated_bytes,
        resync_skipped_bytes=scanner.skipped_bytes,
        bad_energy_records=accepted.bad_energy,
        out_of_order_records=accepted.out_of_order,
    )
