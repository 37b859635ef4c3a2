"""Write NXR files append-only, flushing as it goes so a crash leaves a readable file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from scanner_io._errors import NxrError
from scanner_io._header import SYNC_WORD, NxrHeader, encode_header
from scanner_io._records import record_crcs, record_dtype

__all__ = ["NxrWriter"]

_COLUMNS = ("pulse_index", "energy_index", "flags", "dose", "time_s", "position_mm", "samples")
_ALIASES = {"energy": "energy_index", "time": "time_s", "position": "position_mm"}


class NxrWriter:
    """Append records to a new NXR file.

    Parameters
    ----------
    path : path-like
        File to create.
    header : dict
        Header JSON object (validated; see ``docs/nxr-format.md``).
    overwrite : bool
        Replace an existing file; by default an existing file is an error.
    fsync : bool
        Also ``os.fsync`` after every write (slower; survives a power loss, not just a
        crash of the writing process).

    Notes
    -----
    The magic, header and header CRC are written and flushed on creation; every
    :meth:`write` and :meth:`write_many` appends complete records and flushes, so a
    reader following the file (:func:`scanner_io.iter_nxr`) sees whole records and a
    crash mid-scan leaves every flushed record readable. Pulse indices must increase
    strictly across the whole file.

    Examples
    --------
    >>> with NxrWriter("scan.nxr", header) as writer:  # doctest: +SKIP
    ...     writer.write(0, 0, FLAG_DARK, 1.0, 0.0, 0.0, np.zeros(512, np.uint16))
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: Mapping[str, Any],
        *,
        overwrite: bool = False,
        fsync: bool = False,
    ):
        self.path = Path(path)
        self._source = os.fspath(path)
        self.header: NxrHeader
        self.header, prefix = encode_header(header, self._source)
        self.dtype = record_dtype(self.header.channels, self.header.sample_dtype)
        self.records_written = 0
        self.last_pulse_index = -1
        self._fsync = fsync
        try:
            if overwrite and self.path.exists():
                # A new file (new inode), not a truncation: readers that mapped the old
                # file keep their bytes instead of faulting on a shrunken mapping.
                self.path.unlink()
            self._stream = open(self.path, "xb")
        except FileExistsError as exc:
            raise NxrError(
                f"{self._source}: the file already exists; pass overwrite=True to replace it"
            ) from exc
        except OSError as exc:
            raise NxrError(
                f"{self._source}: cannot create the file ({exc.strerror or exc})"
            ) from exc
        self._write_bytes(prefix)

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> NxrWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._stream.closed

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if not self._stream.closed:
            self._stream.flush()
            if self._fsync:
                os.fsync(self._stream.fileno())
            self._stream.close()

    # -- writing ---------------------------------------------------------------------
    def write(
        self,
        pulse_index: int,
        energy_index: int,
        flags: int,
        dose: float,
        time_s: float,
        position_mm: float,
        samples: np.ndarray,
    ) -> None:
        """Append one record.

        Parameters
        ----------
        pulse_index : int
            Pulse counter, greater than every earlier one in the file.
        energy_index : int
            Index into ``source.energies_mev`` (0 = highest energy).
        flags : int
            ``FLAG_DARK | FLAG_AIR | FLAG_DOSE_VALID | FLAG_POSITION_VALID`` bits.
        dose : float
            Dose monitor reading, arbitrary units.
        time_s : float
            Seconds since ``started_at``.
        position_mm : float
            Conveyance position, mm.
        samples : array_like
            N detector samples, channel 0 first (sample units).
        """
        samples = np.asarray(samples)
        if samples.shape != (self.header.channels,):
            raise NxrError(
                f"{self._source}: a record needs {self.header.channels} samples, got shape {samples.shape}"
            )
        self.write_many(
            pulse_index=[pulse_index],
            energy_index=[energy_index],
            flags=[flags],
            dose=[dose],
            time_s=[time_s],
            position_mm=[position_mm],
            samples=samples[np.newaxis, :],
        )

    def write_many(self, records: np.ndarray | None = None, **columns: Any) -> None:
        """Append many records at once (vectorised; one flush).

        Parameters
        ----------
        records : numpy.ndarray, optional
            Structured array with the fields of :func:`scanner_io.record_dtype`
            (``sync``, ``reserved`` and ``crc`` are ignored and recomputed).
        **columns : array_like
            Instead of ``records``: ``pulse_index``, ``energy_index``, ``flags``,
            ``dose``, ``time_s``, ``position_mm`` (length n each; scalars broadcast)
            and ``samples`` (n × N, sample units).
        """
        if self._stream.closed:
            raise NxrError(f"{self._source}: the writer is closed")
        if records is not None:
            if columns:
                raise NxrError(
                    f"{self._source}: pass either a structured array or columns, not both"
                )
            columns = self._columns_of(records)
        block = self._build(columns)
        if block.size == 0:
            return
        block["crc"] = record_crcs(block.view(np.uint8), 0, block.size, self.dtype.itemsize)
        self._write_bytes(block.tobytes())
        self.records_written += int(block.size)
        self.last_pulse_index = int(block["pulse_index"][-1])

    def _columns_of(self, records: np.ndarray) -> dict[str, Any]:
        if not isinstance(records, np.ndarray) or records.dtype.names is None:
            raise NxrError(f"{self._source}: write_many needs a structured array of records")
        names = {_ALIASES.get(name, name): name for name in records.dtype.names}
        missing = [column for column in _COLUMNS if column not in names]
        if missing:
            raise NxrError(
                f"{self._source}: the records array lacks the field(s) {', '.join(missing)}"
            )
        return {column: records[names[column]] for column in _COLUMNS}

    def _build(self, columns: Mapping[str, Any]) -> np.ndarray:
        unknown = sorted(set(columns) - set(_COLUMNS))
        missing = [column for column in _COLUMNS if column not in columns]
        if unknown or missing:
            raise NxrError(
                f"{self._source}: write_many needs the columns {', '.join(_COLUMNS)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        samples = np.asarray(columns["samples"])
        channels = self.header.channels
        if samples.ndim != 2 or samples.shape[1] != channels:
            raise NxrError(
                f"{self._source}: samples must be an array of shape (records, {channels}), "
                f"got {samples.shape}"
            )
        count = samples.shape[0]
        block = np.zeros(count, dtype=self.dtype)
        block["sync"] = SYNC_WORD
        pulses = self._integers(columns["pulse_index"], "pulse_index", count, 0, 2**32 - 1)
        if count and (np.any(np.diff(pulses) <= 0) or pulses[0] <= self.last_pulse_index):
            raise NxrError(
                f"{self._source}: pulse indices must increase strictly (last written "
                f"{self.last_pulse_index}, got {pulses[: min(count, 5)].tolist()}...)"
            )
        block["pulse_index"] = pulses
        block["energy_index"] = self._integers(
            columns["energy_index"], "energy_index", count, 0, self.header.n_energies - 1
        )
        block["flags"] = self._integers(columns["flags"], "flags", count, 0, 0x0F)
        block["dose"] = self._floats(columns["dose"], "dose", count)
        block["time_s"] = self._floats(columns["time_s"], "time_s", count)
        block["position_mm"] = self._floats(columns["position_mm"], "position_mm", count)
        block["samples"] = self._samples(samples)
        return block

    def _broadcast(self, values: Any, name: str, count: int) -> np.ndarray:
        array = np.asarray(values)
        try:
            return np.broadcast_to(array, (count,))
        except ValueError as exc:
            raise NxrError(
                f"{self._source}: column {name} has shape {array.shape}, expected ({count},)"
            ) from exc

    def _integers(self, values: Any, name: str, count: int, low: int, high: int) -> np.ndarray:
        array = self._broadcast(values, name, count)
        if array.dtype.kind not in "iub":
            if (
                array.dtype.kind != "f"
                or not np.all(np.isfinite(array))
                or np.any(array != np.round(array))
            ):
                raise NxrError(f"{self._source}: column {name} must hold integers")
        if count and (array.min() < low or array.max() > high):
            raise NxrError(
                f"{self._source}: column {name} must be within {low}..{high}, "
                f"got {array.min()}..{array.max()}"
            )
        return array.astype(np.int64)

    def _floats(self, values: Any, name: str, count: int) -> np.ndarray:
        array = self._broadcast(values, name, count)
        if array.dtype.kind not in "iuf":
            raise NxrError(f"{self._source}: column {name} must hold numbers")
        return array.astype(np.float64)

    def _samples(self, samples: np.ndarray) -> np.ndarray:
        target = self.header.sample_dtype
        if samples.dtype.kind not in "iuf":
            raise NxrError(f"{self._source}: samples must be numbers, got {samples.dtype}")
        if target.kind == "f" or samples.dtype == target:
            return samples.astype(target, copy=False)
        info = np.iinfo(target)
        if samples.dtype.kind == "f":
            if not np.all(np.isfinite(samples)):
                raise NxrError(f"{self._source}: samples must be finite for {target.name}")
            samples = np.rint(samples)
        if samples.size and (samples.min() < info.min or samples.max() > info.max):
            raise NxrError(
                f"{self._source}: samples must be within {info.min}..{info.max} for "
                f"{target.name}, got {samples.min()}..{samples.max()}"
            )
        return samples.astype(target)

    def _write_bytes(self, data: bytes) -> None:
        try:
            self._stream.write(data)
            self._stream.flush()
            if self._fsync:
                os.fsync(self._stream.fileno())
        except OSError as exc:
            raise NxrError(f"{self._source}: writing failed ({exc.strerror or exc})") from exc
