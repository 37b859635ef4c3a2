"""Read NXR files: whole files over a memory map, or streaming while a writer appends.

:func:`read_nxr` maps the file read-only and views its records as a numpy
structured array (:func:`scanner_io.record_dtype`), checking every sync word at
once and every CRC. :func:`iter_nxr` and :func:`iter_nxr_chunks` read as the file
grows. Both never return a record whose CRC fails; what was lost is in the
:class:`~scanner_io.ReadReport`. Both apply the recovery policy of
:mod:`scanner_io._records` (``docs/nxr-recovery.md``) to CRC-valid records whose
pulse indices do not increase: exact copies are dropped, the longest consistent run
is kept, the others are set aside and counted. Only regular files are read: a FIFO,
a device, a socket or a folder is refused before it is opened for reading (a FIFO
would block).
"""

from __future__ import annotations

import mmap
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scanner_io._errors import NxrError
from scanner_io._header import NxrHeader, header_may_grow, read_header
from scanner_io._records import (
    FileRecovery,
    NxrRecord,
    ReadReport,
    RecordScanner,
    StreamRecovery,
    build_report,
    record_dtype,
    record_offsets,
)

__all__ = ["NxrFile", "read_nxr", "iter_nxr", "iter_nxr_chunks", "NxrStream"]

_STREAM_READ_BYTES = 4 << 20


@dataclass(frozen=True)
class NxrFile:
    """An NXR file read whole.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    header : NxrHeader
        Its validated header.
    records : numpy.ndarray
        The valid records, a :func:`record_dtype` structured array in file order
        (read-only; a view over the memory-mapped file when nothing was dropped).
    report : ReadReport
        What was lost or skipped.
    file_size : int
        Bytes of the file when it was read.
    """

    path: Path
    header: NxrHeader
    records: np.ndarray
    report: ReadReport
    file_size: int


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int, source: str) -> NxrError:
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return NxrError(f"{source}: this is {kind}, not a regular file, and NXR scans are read from regular files only")


def _open(path: Path, source: str):
    """Open a regular file for reading; refuse anything else before it can block.

    The path is checked with ``stat`` first (a FIFO opened for reading waits for a
    writer), then opened non-blocking and checked again on the descriptor (the path
    may have been replaced in between).
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise NxrError(f"{source}: cannot open the file ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(info.st_mode, source)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise NxrError(f"{source}: cannot open the file ({exc.strerror or exc})") from exc
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode, source)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb", buffering=0)
    except BaseException:
        os.close(descriptor)
        raise


def _read_mapped(path: str | os.PathLike) -> tuple[NxrFile, bytes | mmap.mmap]:
    """Read a whole NXR file; return it and the buffer holding the file bytes."""
    file_path = Path(path)
    source = os.fspath(path)
    with _open(file_path, source) as stream:
        size = os.fstat(stream.fileno()).st_size
        header, data_start = read_header(stream, size, source)
        buffer: bytes | mmap.mmap = b""
        if size > 0:
            try:
                buffer = mmap.mmap(stream.fileno(), size, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise NxrError(f"{source}: cannot map the file ({exc})") from exc
    dtype = record_dtype(header.channels, header.sample_dtype)
    scanner = RecordScanner(dtype.itemsize, data_start, header.n_energies)
    runs = scanner.feed(buffer, 0, final=True) if size > data_start else []
    pieces = [np.frombuffer(buffer, dtype=dtype, count=n, offset=at) for at, n in runs]
    if not pieces:
        records = np.empty(0, dtype=dtype)
    elif len(pieces) == 1:
        records = pieces[0]
    else:
        records = np.concatenate(pieces)
    recovery = FileRecovery(header.n_energies, dtype.itemsize, source)
    records = recovery.apply(records, record_offsets(runs, dtype.itemsize))
    records.flags.writeable = False
    report = build_report(scanner, recovery)
    return NxrFile(file_path, header, records, report, size), buffer


def read_nxr(path: str | os.PathLike) -> NxrFile:
    """Read a whole NXR file.

    Parameters
    ----------
    path : path-like
        The ``.nxr`` file.

    Returns
    -------
    NxrFile
        Header, valid records (structured array over a read-only memory map) and report.

    Raises
    ------
    NxrError
        When the file cannot be opened, is not a regular file (a FIFO, a device, a
        folder) or its header is invalid (one sentence naming the file). Corrupt,
        missing or inconsistent records are not errors: they are reported.

    Notes
    -----
    A partial trailing record is counted in ``report.truncated_bytes``; a record whose
    sync word or CRC fails is dropped and reading resumes at the next sync word whose
    record CRC holds. Of the records whose CRC holds (recovery policy,
    ``docs/nxr-recovery.md``): those with an energy index beyond ``energies_mev`` are
    dropped (``bad_energy_records``), exact copies of an earlier record are dropped
    (``duplicate_records``), and of the rest the longest run of increasing pulse
    indices is kept, cut at unconfirmed jumps; the others are set aside and counted
    (``replayed_records``, ``out_of_order_records``, ``wild_index_records``). A single
    wild pulse index never rejects the file nor costs the records around it.

    Examples
    --------
    >>> nxr = read_nxr("scan.nxr")  # doctest: +SKIP
    >>> nxr.records["samples"].shape  # doctest: +SKIP
    (8000, 1024)
    """
    nxr, _ = _read_mapped(path)
    return nxr


class NxrStream:
    """Iterator over the records of a growing NXR file (see :func:`iter_nxr_chunks`).

    Attributes
    ----------
    header : NxrHeader or None
        Set once the header has been read.
    report : ReadReport
        Counts so far; final once the iteration has ended.
    finished : bool
        True once the iteration has ended.
    read_bytes : int
        Most bytes read from the file at a time.

    Notes
    -----
    Nothing is opened until the iteration starts; errors (a missing file, a file that
    is not a regular file, an invalid header) are raised by the first ``next``.

    Records are yielded under the streaming form of the recovery policy
    (:class:`scanner_io._records.StreamRecovery`): each genuine record at most once,
    in increasing pulse order; exact copies and records at or below the last yielded
    pulse index are dropped and counted; a forward jump in the pulse index is held
    until :data:`~scanner_io._records.CONFIRM_RECORDS` records continue it (then
    yielded), and set aside if the run goes on without it. The first records of a
    stream are held the same way until that many agree, so a follower sees them a
    few pulses late.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        follow: bool,
        poll_s: float,
        idle_timeout_s: float | None,
        read_bytes: int = _STREAM_READ_BYTES,
    ):
        if poll_s <= 0:
            raise NxrError(f"{os.fspath(path)}: poll_s must be positive, got {poll_s}")
        self.path = Path(path)
        self.follow = follow
        self.poll_s = float(poll_s)
        self.idle_timeout_s = idle_timeout_s
        self.read_bytes = max(1, int(read_bytes))
        self.header: NxrHeader | None = None
        self.finished = False
        self._scanner: RecordScanner | None = None
        self._recovery: StreamRecovery | None = None
        self._chunks = self._generate()

    @property
    def report(self) -> ReadReport:
        """The report so far (final after the iteration ends)."""
        if self._scanner is None or self._recovery is None:
            return ReadReport()
        return build_report(self._scanner, self._recovery)

    def __iter__(self) -> NxrStream:
        return self

    def __next__(self) -> np.ndarray:
        return next(self._chunks)

    def records(self) -> Iterator[NxrRecord]:
        """Yield one :class:`NxrRecord` at a time instead of arrays."""
        for chunk in self:
            for row in chunk:
                yield NxrRecord.from_structured(row)

    def _wait(self, idle_since: float) -> bool:
        """Sleep one poll; return False when the caller should stop waiting."""
        if not self.follow:
            return False
        if self.idle_timeout_s is not None and time.monotonic() - idle_since >= self.idle_timeout_s:
            return False
        time.sleep(self.poll_s)
        return True

    def _read_header(self, stream, source: str) -> int:
        idle_since = time.monotonic()
        last_size = -1
        while True:
            size = os.fstat(stream.fileno()).st_size
            stream.seek(0)
            try:
                self.header, data_start = read_header(stream, size, source)
                return data_start
            except NxrError:
                # A header still being written is short; anything else is final.
                if not self._header_may_grow(stream, size):
                    raise
                if size != last_size:
                    idle_since = time.monotonic()
                    last_size = size
                if not self._wait(idle_since):
                    raise

    @staticmethod
    def _header_may_grow(stream, size: int) -> bool:
        stream.seek(0)
        return header_may_grow(stream.read(16), size)

    def _generate(self) -> Iterator[np.ndarray]:
        source = os.fspath(self.path)
        with _open(self.path, source) as stream:
            data_start = self._read_header(stream, source)
            header = self.header
            assert header is not None
            dtype = record_dtype(header.channels, header.sample_dtype)
            self._scanner = scanner = RecordScanner(dtype.itemsize, data_start, header.n_energies)
            self._recovery = accepted = StreamRecovery(
                header.n_energies, dtype.itemsize, source
            )
            stream.seek(data_start)
            buffer = b""
            base = data_start
            idle_since = time.monotonic()
            while True:
                data = stream.read(self.read_bytes)
                if data:
                    idle_since = time.monotonic()
                    buffer = buffer + data if buffer else data
                    runs = scanner.feed(buffer, base, final=False)
                    chunk = self._collect(buffer, base, runs, dtype, accepted)
                    buffer = buffer[scanner.position - base :]
                    base = scanner.position
                    if chunk is not None:
                        yield chunk
                    continue
                if not self._wait(idle_since):
                    break
            runs = scanner.feed(buffer, base, final=True)
            chunk = self._collect(buffer, base, runs, dtype, accepted)
            held = accepted.finish()
            self.finished = True
            if chunk is not None:
                yield chunk
            if held is not None and held.size:
                yield held

    @staticmethod
    def _collect(buffer, base, runs, dtype, accepted: StreamRecovery) -> np.ndarray | None:
        if not runs:
            return None
        pieces = [np.frombuffer(buffer, dtype=dtype, count=n, offset=at - base) for at, n in runs]
        records = accepted.apply(np.concatenate(pieces), record_offsets(runs, dtype.itemsize))
        return records if records.size else None


def iter_nxr_chunks(
    path: str | os.PathLike,
    follow: bool = False,
    poll_s: float = 0.2,
    idle_timeout_s: float | None = None,
) -> NxrStream:
    """Iterate over the valid records of a (possibly growing) NXR file in arrays.

    Parameters
    ----------
    path : path-like
        The ``.nxr`` file.
    follow : bool
        Keep waiting for more bytes at the end of the file (as ``tail -f``) until
        ``idle_timeout_s`` passes without growth.
    poll_s : float
        Seconds between checks for growth when following.
    idle_timeout_s : float or None
        Seconds without growth after which following stops; None waits forever.

    Returns
    -------
    NxrStream
        Iterator of :func:`record_dtype` arrays (copies, in file order); its
        ``report`` attribute holds the counts (final once exhausted) and ``header``
        the header.
    """
    return NxrStream(path, follow, poll_s, idle_timeout_s)


def iter_nxr(
    path: str | os.PathLike,
    follow: bool = False,
    poll_s: float = 0.2,
    idle_timeout_s: float | None = None,
) -> NxrRecordStream:
    """Iterate over the valid records of a (possibly growing) NXR file one by one.

    Parameters are those of :func:`iter_nxr_chunks`.

    Returns
    -------
    NxrRecordStream
        Iterator of :class:`NxrRecord`; ``report`` and ``header`` as for
        :class:`NxrStream`. A record whose CRC fails is never yielded.

    Examples
    --------
    >>> stream = iter_nxr("scan.nxr", follow=True, idle_timeout_s=5.0)  # doctest: +SKIP
    >>> for record in stream:  # doctest: +SKIP
    ...     print(record.pulse_index, record.samples.mean())
    >>> stream.report.crc_failures  # doctest: +SKIP
    0
    """
    return NxrRecordStream(NxrStream(path, follow, poll_s, idle_timeout_s))


class NxrRecordStream:
    """Iterator of :class:`NxrRecord` over an :class:`NxrStream`."""

    def __init__(self, chunks: NxrStream):
        self.chunks = chunks
        self._records = chunks.records()

    @property
    def header(self) -> NxrHeader | None:
        """The header, once read."""
        return self.chunks.header

    @property
    def report(self) -> ReadReport:
        """The report so far (final after the iteration ends)."""
        return self.chunks.report

    @property
    def finished(self) -> bool:
        """True once the iteration has ended."""
        return self.chunks.finished

    def __iter__(self) -> NxrRecordStream:
        return self

    def __next__(self) -> NxrRecord:
        return next(self._records)
