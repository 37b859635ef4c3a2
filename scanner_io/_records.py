"""NXR records: the structured dtype, flags, the record scanner and the recovery policy.

A record is ``32 + N*s`` bytes (spec: ``docs/nxr-format.md``). The scanner
finds the valid records in a byte buffer: the fast path views the buffer at the
record stride as a structured array, checks every sync word at once and the CRC of
each record with CRC-32 (zlib-ng's when installed, else :func:`zlib.crc32`) on a
memory view; only after a bad record does it search the bytes for the next sync
word whose record CRC holds.

Recovery policy (``docs/nxr-recovery.md``). The spec says pulse indices strictly
increase within a file; the policy is how a reader treats a file whose CRC-valid
records break that, so that a replayed block or one wild index cannot be turned
against the records around it:

1. a record with an energy index beyond ``energies_mev`` is dropped
   (``bad_energy_records``);
2. the readers keep the longest run of records whose pulse indices increase (a
   longest increasing subsequence; of the longest, the one read first), cut at
   *jumps*: forward steps leaving more than :data:`MAX_PULSE_GAP` pulses missing
   beyond the record slots lost in the bytes between the two records. A part of the
   run after (or before) a jump is kept when it holds at least
   :data:`CONFIRM_RECORDS` records (the jump is listed in ``pulse_jumps``); a
   shorter part is set aside and the run is looked for again without it. When no
   part is that long, the longest is kept;
3. a record not kept that is a byte-for-byte copy of a kept record (or of an
   earlier record set aside) is dropped as a duplicate (``duplicate_records``);
4. every other record is set aside and counted by what it is relative to the kept
   run: ``replayed_records`` (repeats the pulse index of a kept record with other
   content), ``out_of_order_records`` (a pulse index inside the kept run's range,
   in a gap, at the wrong place in the file) and ``wild_index_records`` (outside the
   kept range, inside a jump, or on a part too short to confirm its jump).

Streaming (:class:`StreamRecovery`) cannot see the future; it applies the same
rules as records arrive, yields every record at most once and never takes one
back: a record that continues the run is yielded at once; a record that jumps is
held, with the records that continue it, until :data:`CONFIRM_RECORDS` of them
confirm the jump (they are then yielded) or the run goes on without them (they are
set aside as wild); a record at or below the last yielded pulse index is dropped
and counted as a duplicate (same pulse index and CRC as a yielded record),
replayed, out-of-order or wild record. The first records of a stream are held in
the same way until :data:`CONFIRM_RECORDS` of them agree. On a file whose only
faults are lost or inserted bytes, truncation and copies of records placed before
or after the original, streaming and whole-file reading give the same records and
report; a block copied from more than :data:`MAX_PULSE_GAP` pulses ahead costs
streaming nothing either, one copied from closer ahead costs it the genuine records
it skips (whole-file reading keeps them).
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
    "MAX_PULSE_GAP",
    "CONFIRM_RECORDS",
    "MAX_DROPPED_PULSES",
]

FLAG_DARK = 0x01
FLAG_AIR = 0x02
FLAG_DOSE_VALID = 0x04
FLAG_POSITION_VALID = 0x08

#: Most dropped pulse indices a report lists; beyond, they are counted in
#: ``ReadReport.dropped_pulses_unlisted`` (bounds the report's memory).
MAX_DROPPED_PULSES = 1 << 20
#: A forward pulse-index step leaving more than this many pulses missing, beyond the
#: record slots lost between the two records in the file, is a jump that must be
#: confirmed: a scanner drops single pulses or short bursts, and 64 pulses without a
#: byte written are 0.16 s at 400 Hz. A genuine longer gap is confirmed by the
#: records after it and costs nothing; a block of records from far ahead (or a wild
#: index) is not, and cannot take the run with it.
MAX_PULSE_GAP = 64
#: Records that must continue a jump (each step no jump) before it is believed.
CONFIRM_RECORDS = 8
#: Unconfirmed runs a stream holds at once (each under CONFIRM_RECORDS records); when
#: one more comes, the shortest (the oldest of the shortest) is set aside.
MAX_PENDING_RUNS = 4
_RECOVERY_ROUNDS = 8  # longest-run searches after taking out unconfirmed parts
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
        Pulse counter (strictly increasing among the records a reader returns).
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

    Every CRC-valid record is in exactly one of ``records``, ``bad_energy_records``,
    ``duplicate_records``, ``replayed_records``, ``out_of_order_records`` and
    ``wild_index_records`` (see the recovery policy in :mod:`scanner_io._records`
    and ``docs/nxr-recovery.md``).

    Attributes
    ----------
    records : int
        Records returned: complete, CRC ok, energy index valid, on the kept run of
        increasing pulse indices.
    crc_failures : int
        Record slots lost to corruption: a record whose sync word or CRC failed where
        one was expected; a corrupt span of S bytes between two good records counts
        as ``round(S / record_size)``, at least 1.
    dropped_pulses : list of int
        Sorted pulse indices missing between consecutive returned records (gaps;
        includes pulses lost to CRC failures, to set-aside records and across the
        jumps in ``pulse_jumps``). Only pulse indices of records whose CRC holds are
        trusted. At most :data:`MAX_DROPPED_PULSES` are listed (the lowest); the
        rest are counted in ``dropped_pulses_unlisted``.
    truncated_bytes : int
        Bytes of a partial record at the end of the file (acquisition stopped
        mid-write), ignored.
    resync_skipped_bytes : int
        Bytes skipped between good records while searching for the next valid sync word.
    bad_energy_records : int
        Records with a valid CRC but an energy index ``>= len(energies_mev)``: dropped.
    out_of_order_records : int
        Records with a valid CRC whose pulse index lies inside the returned range, is
        not returned by another record, but sits at the wrong place in the file (a
        late or early record): set aside.
    duplicate_records : int
        Byte-for-byte copies of a returned record, or of another copy set aside (a
        replayed block): dropped. (The streaming reader compares pulse index and CRC.)
    replayed_records : int
        Records that repeat the pulse index of a returned record with other content:
        set aside.
    wild_index_records : int
        Records whose pulse index fits nowhere in the returned run: below or above it,
        inside a jump, or on a run too short to confirm a jump: set aside.
    pulse_jumps : list of (int, int)
        Accepted jumps ``(before, after)``: consecutive returned pulse indices more
        than :data:`MAX_PULSE_GAP` pulses apart (beyond lost bytes), each confirmed
        by at least :data:`CONFIRM_RECORDS` records; the pulses between are counted
        in ``dropped_pulses`` too.
    dropped_pulses_unlisted : int
        Dropped pulses beyond the first :data:`MAX_DROPPED_PULSES`, counted only.
    """

    records: int = 0
    crc_failures: int = 0
    dropped_pulses: list[int] = field(default_factory=list)
    truncated_bytes: int = 0
    resync_skipped_bytes: int = 0
    bad_energy_records: int = 0
    out_of_order_records: int = 0
    duplicate_records: int = 0
    replayed_records: int = 0
    wild_index_records: int = 0
    pulse_jumps: list[tuple[int, int]] = field(default_factory=list)
    dropped_pulses_unlisted: int = 0

    def __repr__(self) -> str:
        gaps = self.dropped_pulses
        shown = ", ".join(map(str, gaps[:5])) + (", ..." if len(gaps) > 5 else "")
        return (
            f"ReadReport(records={self.records}, crc_failures={self.crc_failures}, "
            f"dropped_pulses=[{shown}] ({self.dropped_pulse_count}), "
            f"truncated_bytes={self.truncated_bytes}, "
            f"resync_skipped_bytes={self.resync_skipped_bytes}, "
            f"bad_energy_records={self.bad_energy_records}, "
            f"out_of_order_records={self.out_of_order_records}, "
            f"duplicate_records={self.duplicate_records}, "
            f"replayed_records={self.replayed_records}, "
            f"wild_index_records={self.wild_index_records}, "
            f"pulse_jumps={self.pulse_jumps})"
        )

    @property
    def dropped_pulse_count(self) -> int:
        """Number of dropped pulses (listed and unlisted)."""
        return len(self.dropped_pulses) + self.dropped_pulses_unlisted

    @property
    def set_aside_records(self) -> int:
        """CRC-valid records not returned because their pulse index does not fit the kept run."""
        return self.out_of_order_records + self.replayed_records + self.wild_index_records

    @property
    def crc_valid_records(self) -> int:
        """Complete records whose CRC holds, returned or not."""
        return (
            self.records
            + self.bad_energy_records
            + self.duplicate_records
            + self.set_aside_records
        )

    @property
    def jumped_pulses(self) -> int:
        """Pulse indices skipped by the accepted jumps."""
        return sum(after - before - 1 for before, after in self.pulse_jumps)

    @property
    def clean(self) -> bool:
        """True when nothing was lost, dropped, set aside or skipped."""
        return not (
            self.crc_failures
            or self.dropped_pulse_count
            or self.truncated_bytes
            or self.resync_skipped_bytes
            or self.bad_energy_records
            or self.duplicate_records
            or self.set_aside_records
            or self.pulse_jumps
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
            "duplicate_records": self.duplicate_records,
            "replayed_records": self.replayed_records,
            "wild_index_records": self.wild_index_records,
            "pulse_jumps": [list(jump) for jump in self.pulse_jumps],
            "dropped_pulses_unlisted": self.dropped_pulses_unlisted,
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


def record_offsets(runs: list[tuple[int, int]], record_size: int) -> np.ndarray:
    """Absolute file offset (int64) of every record of the runs ``(offset, count)``."""
    if not runs:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(
        [at + record_size * np.arange(count, dtype=np.int64) for at, count in runs]
    )


def _step_ok(before_pulse, before_offset, pulse, offset, record_size: int):
    """Whether each step from ``before`` to the next record continues a run (no jump).

    A step continues a run when the pulse index increases and the pulses it leaves
    missing are at most :data:`MAX_PULSE_GAP` more than the record slots that fit in
    the bytes between the two records (lost to CRC failures, copies, set-aside records).
    """
    between = np.asarray(offset, dtype=np.int64) - before_offset - record_size
    slots = np.maximum(0, -(-between // record_size))
    missing = np.asarray(pulse, dtype=np.int64) - before_pulse - 1
    return (missing >= 0) & (missing - slots <= MAX_PULSE_GAP)


def _longest_increasing(values: np.ndarray) -> np.ndarray:
    """Positions of a longest strictly increasing subsequence of ``values``.

    Of all the longest, the one whose positions come first in the file (the earliest
    reading wins, as in streaming; of equal values the earliest record).
    """
    count = values.size
    if count == 0 or np.all(np.diff(values) > 0):
        return np.arange(count)
    from bisect import bisect_left

    items = values.tolist()
    tails: list[int] = []  # negated values, for the runs starting at each position
    starting = [0] * count  # length of the longest increasing run starting there
    for position in range(count - 1, -1, -1):
        key = -items[position]
        length = bisect_left(tails, key)
        if length == len(tails):
            tails.append(key)
        else:
            tails[length] = key
        starting[position] = length + 1
    need = len(tails)
    chain: list[int] = []
    last = None
    for position in range(count):
        if starting[position] == need and (last is None or items[position] > last):
            chain.append(position)
            last = items[position]
            need -= 1
            if need == 0:
                break
    return np.array(chain, dtype=np.int64)


class _PulseGaps:
    """Missing pulse ranges, listed up to :data:`MAX_DROPPED_PULSES`, counted beyond."""

    def __init__(self) -> None:
        self.ranges: list[np.ndarray] = []  # (start, stop) pairs, in increasing order
        self.listed = 0
        self.unlisted = 0

    def add(self, before: np.ndarray, after: np.ndarray) -> None:
        """Count the pulses strictly between ``before[i]`` and ``after[i]``."""
        starts = np.asarray(before, dtype=np.int64) + 1
        stops = np.asarray(after, dtype=np.int64)
        missing = stops > starts
        if not missing.any():
            return
        starts, stops = starts[missing], stops[missing]
        lengths = stops - starts
        total = int(lengths.sum())
        room = MAX_DROPPED_PULSES - self.listed
        if total > room:
            fits = int(np.searchsorted(np.cumsum(lengths), room, side="right"))
            used = int(lengths[:fits].sum())
            starts, stops = starts[: fits + 1].copy(), stops[: fits + 1].copy()
            if fits < lengths.size:
                stops[fits] = starts[fits] + (room - used)
            self.unlisted += total - room
            total = room
        if total:
            self.ranges.append(np.stack([starts, stops], axis=1))
        self.listed += total

    def pulses(self) -> list[int]:
        """Sorted list of the listed missing pulse indices."""
        if not self.ranges:
            return []
        ranges = np.concatenate(self.ranges)
        return np.concatenate([np.arange(a, b) for a, b in ranges if b > a]).tolist()


class _Recovery:
    """Counters shared by the whole-file and the streaming recovery."""

    def __init__(self, n_energies: int, record_size: int, source: str):
        self.n_energies = n_energies
        self.record_size = record_size
        self.source = source
        self.records = 0
        self.bad_energy = 0
        self.duplicates = 0
        self.replayed = 0
        self.out_of_order = 0
        self.wild = 0
        self.jumps: list[tuple[int, int]] = []
        self._jump_array = np.empty((16, 2), dtype=np.int64)
        self._jump_count = 0
        self.gaps = _PulseGaps()

    def _in_jump(self, pulse) -> np.ndarray:
        """Whether each pulse index lies strictly inside an accepted jump."""
        pulse = np.asarray(pulse, dtype=np.int64)
        if not self.jumps:
            return np.zeros(pulse.shape, dtype=bool)
        if self._jump_count != len(self.jumps):  # grow the array with the new jumps
            new = np.array(self.jumps[self._jump_count :], dtype=np.int64).reshape(-1, 2)
            count = self._jump_count + new.shape[0]
            if count > self._jump_array.shape[0]:
                grown = np.empty((max(count, 2 * self._jump_array.shape[0]), 2), dtype=np.int64)
                grown[: self._jump_count] = self._jump_array[: self._jump_count]
                self._jump_array = grown
            self._jump_array[self._jump_count : count] = new
            self._jump_count = count
        jumps = self._jump_array[: self._jump_count]  # increasing, not overlapping
        at = np.searchsorted(jumps[:, 0], pulse, side="left") - 1
        after = jumps[np.maximum(at, 0), 1]
        return (at >= 0) & (pulse < after)


class FileRecovery(_Recovery):
    """The recovery policy over all the CRC-valid records of a file at once.

    Parameters
    ----------
    n_energies : int
        Number of energies in the header.
    record_size : int
        Bytes per record.
    source : str
        File named in messages.
    """

    def apply(self, records: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Return the records kept by the policy (in file order; ``records`` itself when all are)."""
        count = records.size
        if count == 0:
            return records
        size = self.record_size
        energy_ok = records["energy_index"] < self.n_energies
        usable = np.flatnonzero(energy_ok)
        self.bad_energy += count - usable.size
        pulses = records["pulse_index"][usable].astype(np.int64)
        where = np.asarray(offsets, dtype=np.int64)[usable]
        if _step_ok(pulses[:-1], where[:-1], pulses[1:], where[1:], size).all():
            kept = usable  # the usual case: one increasing run, nothing to recover
        else:
            kept, _ = self._recover(records, usable, pulses, where)
        kept_pulses = records["pulse_index"][kept].astype(np.int64)
        self.gaps.add(kept_pulses[:-1], kept_pulses[1:])
        self.records += int(kept.size)
        return records if kept.size == count else records[kept]

    def _recover(self, records, usable, pulses, where):
        size = self.record_size
        active = np.arange(usable.size)  # positions into usable
        for _ in range(_RECOVERY_ROUNDS):
            # the longest increasing run, cut at jumps; the parts too short to confirm
            # their jump are taken out and the run looked for again without them
            chain = active[_longest_increasing(pulses[active])]
            chain_pulses, chain_where = pulses[chain], where[chain]
            ok = _step_ok(
                chain_pulses[:-1], chain_where[:-1], chain_pulses[1:], chain_where[1:], size
            )
            bounds = np.flatnonzero(~ok) + 1
            starts = np.concatenate(([0], bounds))
            stops = np.concatenate((bounds, [chain.size]))
            lengths = stops - starts
            keep = lengths >= CONFIRM_RECORDS
            if not keep.any():
                keep[int(np.argmax(lengths))] = True
            if keep.all():
                break
            short = np.concatenate(
                [chain[a:b] for a, b, k in zip(starts, stops, keep, strict=True) if not k]
            )
            active = np.setdiff1d(active, short, assume_unique=True)
        chosen = np.concatenate(
            [np.arange(a, b) for a, b, k in zip(starts, stops, keep, strict=True) if k]
        )
        kept = chain[chosen]
        kept_pulses = pulses[kept]
        # a step between two kept parts is an accepted jump
        part_of = np.repeat(np.arange(starts.size), lengths)[chosen]
        segment_break = np.diff(part_of) != 0
        for at in np.flatnonzero(segment_break):
            self.jumps.append((int(kept_pulses[at]), int(kept_pulses[at + 1])))
        others = np.setdiff1d(np.arange(usable.size), kept, assume_unique=True)
        if others.size:
            self._classify(records, usable, pulses, kept, others)
        return usable[kept], segment_break

    def _classify(self, records, usable, pulses, kept, others) -> None:
        """Count the records not kept: copies, replayed, out of order, wild."""
        kept_pulses = pulses[kept]
        at = np.minimum(np.searchsorted(kept_pulses, pulses[others]), kept_pulses.size - 1)
        on_kept = kept_pulses[at] == pulses[others]
        same_crc = records["crc"][usable[kept[at]]] == records["crc"][usable[others]]
        seen: dict[tuple[int, int], list[bytes]] = {}
        original = np.ones(others.size, dtype=bool)
        for index, position in enumerate(others.tolist()):
            row = records[usable[position]]
            content = row.tobytes()
            if on_kept[index] and same_crc[index]:
                if records[usable[kept[at[index]]]].tobytes() == content:
                    original[index] = False
                    continue
            key = (int(row["pulse_index"]), int(row["crc"]))
            copies = seen.setdefault(key, [])
            if content in copies:
                original[index] = False
            else:
                copies.append(content)
        self.duplicates += int(others.size - original.sum())
        other_pulses = pulses[others][original]
        on_kept = on_kept[original]
        inside = (other_pulses > kept_pulses[0]) & (other_pulses < kept_pulses[-1])
        inside &= ~on_kept & ~self._in_jump(other_pulses)
        self.replayed += int(on_kept.sum())
        self.out_of_order += int(inside.sum())
        self.wild += int(other_pulses.size - on_kept.sum() - inside.sum())


class _PendingRun:
    """Records after a jump (or at the start of a stream) waiting for confirmation."""

    def __init__(self, row: np.ndarray, pulse: int, offset: int, crc: int):
        self.rows = [row]
        self.crcs = {pulse: crc}
        self.head = self.tail = pulse
        self.tail_offset = offset

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: np.ndarray, pulse: int, offset: int, crc: int) -> None:
        self.rows.append(row)
        self.crcs[pulse] = crc
        self.tail = pulse
        self.tail_offset = offset


class StreamRecovery(_Recovery):
    """The recovery policy applied as records arrive (streaming; see the module notes).

    :meth:`apply` takes the CRC-valid records of each new buffer with their file
    offsets and returns those to yield now; :meth:`finish` returns what is still
    held once the stream has ended.
    """

    def __init__(self, n_energies: int, record_size: int, source: str):
        super().__init__(n_energies, record_size, source)
        self.started = False
        self.first_pulse = -1
        self.last_pulse = -1
        self.last_offset = 0
        self.pending: list[_PendingRun] = []
        self._pulses = np.empty(1024, dtype=np.int64)  # yielded, increasing
        self._crcs = np.empty(1024, dtype=np.uint32)
        self._count = 0

    def apply(self, records: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Return the records of this buffer to yield now (file order)."""
        if records.size == 0:
            return records
        offsets = np.asarray(offsets, dtype=np.int64)
        pulses = records["pulse_index"].astype(np.int64)
        if not self.pending and bool((records["energy_index"] < self.n_energies).all()):
            size = self.record_size
            if self.started:
                ok = _step_ok(
                    np.concatenate(([self.last_pulse], pulses[:-1])),
                    np.concatenate(([self.last_offset], offsets[:-1])),
                    pulses, offsets, size,
                ).all()
            else:
                ok = records.size >= CONFIRM_RECORDS and _step_ok(
                    pulses[:-1], offsets[:-1], pulses[1:], offsets[1:], size
                ).all()
            if ok:
                self._yield(records, int(offsets[-1]), jump=False)
                return records
        out: list[np.ndarray] = []
        direct: list[int] = []  # positions yielded as they came, flushed in order
        energies = records["energy_index"].tolist()
        crcs = records["crc"].tolist()
        for position, (pulse, offset) in enumerate(
            zip(pulses.tolist(), offsets.tolist(), strict=True)
        ):
            if energies[position] >= self.n_energies:
                self.bad_energy += 1
                continue
            self._one(records, position, pulse, offset, crcs[position], out, direct)
        if direct:
            out.append(records[direct])
        return np.concatenate(out) if out else records[:0]

    def finish(self) -> np.ndarray | None:
        """Resolve the held runs at the end of the stream; return records to yield, or None."""
        out = None
        if self.pending and not self.started:
            best = max(self.pending, key=len)  # the first of the longest
            self.pending.remove(best)
            out = np.concatenate(best.rows)
            self._yield(out, best.tail_offset, jump=False)
        for run in self.pending:
            self._set_aside(run)
        self.pending = []
        return out

    def _set_aside(self, run: _PendingRun) -> None:
        """Count the records of a held run that will never be yielded."""
        for pulse, crc in run.crcs.items():
            if self.started and pulse <= self.last_pulse:
                self._behind(pulse, crc)
            else:
                self.wild += 1

    def _continues(self, pulse: int, offset: int, before: int, before_offset: int) -> bool:
        """Scalar form of :func:`_step_ok`."""
        size = self.record_size
        slots = max(0, -(-(offset - before_offset - size) // size))
        missing = pulse - before - 1
        return missing >= 0 and missing - slots <= MAX_PULSE_GAP

    def _one(
        self,
        records: np.ndarray,
        position: int,
        pulse: int,
        offset: int,
        crc: int,
        out: list[np.ndarray],
        direct: list[int],
    ) -> None:
        for run in self.pending:
            if run.head > self.last_pulse and self._continues(
                pulse, offset, run.tail, run.tail_offset
            ):
                run.add(records[position : position + 1].copy(), pulse, offset, crc)
                if len(run) >= CONFIRM_RECORDS:
                    if direct:
                        out.append(records[direct])
                        direct.clear()
                    self.pending.remove(run)
                    rows = np.concatenate(run.rows)
                    self._yield(rows, run.tail_offset, jump=self.started)
                    out.append(rows)
                return
        if self.started and self._continues(pulse, offset, self.last_pulse, self.last_offset):
            self._yield_one(pulse, crc, offset)
            direct.append(position)
            return
        if self.started and pulse <= self.last_pulse:
            self._behind(pulse, crc)
            return
        for run in self.pending:  # ahead of what was yielded: does it clash with a held run?
            if pulse in run.crcs:
                if run.crcs[pulse] == crc:
                    self.duplicates += 1
                else:
                    self.replayed += 1
                return
            if run.head < pulse < run.tail:
                self.out_of_order += 1
                return
        self.pending.append(_PendingRun(records[position : position + 1].copy(), pulse, offset, crc))
        if len(self.pending) > MAX_PENDING_RUNS:  # the shortest goes, the oldest of those
            shortest = min(self.pending, key=len)
            self.pending.remove(shortest)
            self._set_aside(shortest)

    def _behind(self, pulse: int, crc: int) -> None:
        """Classify a record at or below the last yielded pulse index (dropped)."""
        yielded = self._pulses[: self._count]
        at = int(np.searchsorted(yielded, pulse))
        if at < self._count and int(yielded[at]) == pulse:
            if int(self._crcs[at]) == crc:
                self.duplicates += 1
            else:
                self.replayed += 1
        elif pulse < self.first_pulse or bool(self._in_jump(pulse)):
            self.wild += 1
        else:
            self.out_of_order += 1

    def _yield_one(self, pulse: int, crc: int, offset: int) -> None:
        """Account for one record continuing the yielded run (the slow path's common case)."""
        if pulse > self.last_pulse + 1:
            self.gaps.add(np.array([self.last_pulse]), np.array([pulse]))
        if self._count == self._pulses.size:
            self._pulses = np.resize(self._pulses, 2 * self._count)
            self._crcs = np.resize(self._crcs, 2 * self._count)
        self._pulses[self._count] = pulse
        self._crcs[self._count] = crc
        self._count += 1
        self.records += 1
        self.last_pulse = pulse
        self.last_offset = offset
        if self.pending:
            self._drop_overtaken()

    def _drop_overtaken(self) -> None:
        # a held run the yielded run has overtaken can never be yielded: a run passed
        # by its head is no longer continued, one passed by its tail is counted now
        stale = [run for run in self.pending if run.tail <= self.last_pulse]
        for run in stale:
            self.pending.remove(run)
            self._set_aside(run)

    def _yield(self, rows: np.ndarray, last_offset: int, jump: bool) -> None:
        """Account for ``rows`` (the last at file offset ``last_offset``) as yielded."""
        pulses = rows["pulse_index"].astype(np.int64)
        if self.started:
            if jump:
                self.jumps.append((self.last_pulse, int(pulses[0])))
            self.gaps.add(np.array([self.last_pulse]), pulses[:1])
        else:
            self.first_pulse = int(pulses[0])
        self.gaps.add(pulses[:-1], pulses[1:])
        count = self._count + pulses.size
        if count > self._pulses.size:
            grown = max(count, 2 * self._pulses.size)
            self._pulses = np.resize(self._pulses, grown)
            self._crcs = np.resize(self._crcs, grown)
        self._pulses[self._count : count] = pulses
        self._crcs[self._count : count] = rows["crc"]
        self._count = count
        self.records += int(pulses.size)
        self.started = True
        self.last_pulse = int(pulses[-1])
        self.last_offset = last_offset
        self._drop_overtaken()


def build_report(scanner: RecordScanner, recovery: _Recovery) -> ReadReport:
    """Combine scanner and recovery counters into a :class:`ReadReport`."""
    return ReadReport(
        records=recovery.records,
        crc_failures=scanner.crc_failures,
        dropped_pulses=recovery.gaps.pulses(),
        truncated_bytes=scanner.truncated_bytes,
        resync_skipped_bytes=scanner.skipped_bytes,
        bad_energy_records=recovery.bad_energy,
        out_of_order_records=recovery.out_of_order,
        duplicate_records=recovery.duplicates,
        replayed_records=recovery.replayed,
        wild_index_records=recovery.wild,
        pulse_jumps=list(recovery.jumps),
        dropped_pulses_unlisted=recovery.gaps.unlisted,
    )
