"""Assemble an NXR file into a :class:`Scan`: raw images per energy plus references.

Records are split with boolean masks on the structured array (no loop over
pulses): object pulses (neither DARK nor AIR) of energy e become the raw image
``rows × pulses`` of that energy, rows top-down; DARK and AIR records become
per-channel references. Nothing here corrects the data: that is
:mod:`nii.correction`'s job.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scanner_io._errors import NxrError
from scanner_io._header import NxrHeader
from scanner_io._records import (
    FLAG_AIR,
    FLAG_DARK,
    FLAG_DOSE_VALID,
    FLAG_POSITION_VALID,
    ReadReport,
)
from scanner_io.reader import NxrFile, _read_mapped

__all__ = ["Reference", "EnergyFrames", "Scan", "FileDigest", "load_scan", "scan_from_records"]


@dataclass(frozen=True)
class Reference:
    """Per-channel reference level for one energy (dark offset or air gain).

    Attributes
    ----------
    mean : numpy.ndarray
        float64, one value per image row (top-down), sample units.
    std : numpy.ndarray
        float64 standard deviation over the reference pulses per row (ddof=1;
        zeros with a single pulse or a synthetic reference), sample units.
    dose_mean : float or None
        Mean dose-monitor reading of the reference pulses with DOSE_VALID, arbitrary
        units; None when none had it.
    pulses : int
        Number of reference pulses averaged (0 for a synthetic reference).
    synthetic : bool
        True when the level was given, not measured (image pairs).
    """

    mean: np.ndarray
    std: np.ndarray
    dose_mean: float | None
    pulses: int
    synthetic: bool = False


@dataclass(frozen=True)
class EnergyFrames:
    """The object pulses of one energy as a raw image.

    Attributes
    ----------
    energy_index : int
        Index into ``energies_mev`` (0 = highest).
    energy_mev : float
        Nominal endpoint energy, MeV.
    raw : numpy.ndarray
        Native sample dtype, ``rows × pulses``, row 0 at the top of the object.
        Read-only: often a strided view over the memory-mapped file (zero copy);
        ``raw.astype(...)`` or ``np.array(raw)`` before modifying.
    pulse_index : numpy.ndarray
        int64 pulse counter of each column.
    time_s : numpy.ndarray
        float64 seconds since ``started_at`` of each column.
    position_mm : numpy.ndarray
        float64 conveyance position of each column, mm; NaN where not valid.
    position_valid : numpy.ndarray
        bool, POSITION_VALID flag of each column.
    dose : numpy.ndarray
        float32 dose-monitor reading of each column, arbitrary units.
    dose_valid : numpy.ndarray
        bool, DOSE_VALID flag of each column.
    """

    energy_index: int
    energy_mev: float
    raw: np.ndarray
    pulse_index: np.ndarray
    time_s: np.ndarray
    position_mm: np.ndarray
    position_valid: np.ndarray
    dose: np.ndarray
    dose_valid: np.ndarray

    @property
    def pulses(self) -> int:
        """Number of columns (object pulses of this energy)."""
        return int(self.raw.shape[1])


class FileDigest:
    """SHA-256 of a file's bytes, computed on first use (provenance).

    Parameters
    ----------
    data : bytes-like or str
        The bytes to hash (for example the read-only memory map of the file as read),
        or an already computed hex digest.
    """

    def __init__(self, data: bytes | memoryview | mmap.mmap | str):
        self._reset(data)

    def _reset(self, data: bytes | memoryview | mmap.mmap | str) -> None:
        self._data: bytes | memoryview | mmap.mmap | None = (
            None if isinstance(data, str) else data
        )
        self._hex: str | None = data if isinstance(data, str) else None
        self._lock = threading.Lock()

    @property
    def hexdigest(self) -> str:
        """The hex SHA-256."""
        with self._lock:
            if self._hex is None:
                self._hex = hashlib.sha256(
                    self._data if self._data is not None else b""  # type: ignore[arg-type]
                ).hexdigest()
                self._data = None
            return self._hex

    def __getstate__(self) -> dict:
        return {"hex": self.hexdigest}  # pickles as the digest, not the mapped bytes

    def __setstate__(self, state: dict) -> None:
        self._reset(state["hex"])

    def __repr__(self) -> str:
        return f"FileDigest({self._hex or 'pending'})"


@dataclass(frozen=True)
class Scan:
    """One scan: raw images per energy with their references and provenance.

    Attributes
    ----------
    header : NxrHeader
        The scan's header.
    path : pathlib.Path or None
        The file read (None when built from memory).
    report : ReadReport
        What the reader lost or skipped in the scan file.
    energies_mev : list of float
        Nominal endpoint energies, MeV, highest first.
    channel : numpy.ndarray
        int32 detector channel of each image row (top-down; reversed when
        ``first_channel == "bottom"``).
    frames : list of EnergyFrames
        One per energy index.
    dark, air : list of Reference or None
        Per energy; None where there are no such records.
    bad_channels : list of int
        Detector channel numbers known dead or noisy (from the header).
    digest : FileDigest
        SHA-256 of the file bytes read; :attr:`sha256` gives it as hex (computed on
        first access, from the same bytes the records were read from).
    reference_sources : dict
        ``{"dark": ..., "air": ...}``: ``"scan"`` or the path of the reference file.
    """

    header: NxrHeader
    path: Path | None
    report: ReadReport
    energies_mev: list[float]
    channel: np.ndarray
    frames: list[EnergyFrames]
    dark: list[Reference | None]
    air: list[Reference | None]
    bad_channels: list[int]
    digest: FileDigest = field(default_factory=lambda: FileDigest(""), repr=False, compare=False)
    reference_sources: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file bytes (provenance)."""
        return self.digest.hexdigest

    @property
    def scan_id(self) -> str:
        """The header's scan identifier."""
        return self.header.scan_id

    @property
    def rows(self) -> int:
        """Image rows (detector channels)."""
        return int(self.channel.size)

    @property
    def object_pulses(self) -> list[int]:
        """Object pulses per energy index."""
        return [frames.pulses for frames in self.frames]

    @property
    def has_object_pulses(self) -> bool:
        """True when every energy has at least one object pulse."""
        return bool(self.frames) and all(frames.pulses > 0 for frames in self.frames)


def _row_order(header: NxrHeader) -> np.ndarray:
    channel = np.arange(header.channels, dtype=np.int32)
    return channel[::-1].copy() if header.first_channel == "bottom" else channel


def _as_slice(indices: np.ndarray) -> slice | np.ndarray:
    """Return a slice equivalent to sorted ``indices`` when they are evenly spaced."""
    if indices.size == 0:
        return slice(0, 0)
    if indices.size == 1:
        return slice(int(indices[0]), int(indices[0]) + 1)
    step = int(indices[1] - indices[0])
    if np.all(np.diff(indices) == step):
        return slice(int(indices[0]), int(indices[-1]) + 1, step)
    return indices


def _frames(header: NxrHeader, records: np.ndarray, object_mask: np.ndarray) -> list[EnergyFrames]:
    bottom = header.first_channel == "bottom"
    energy = records["energy_index"]
    frames = []
    for index, energy_mev in enumerate(header.energies_mev):
        selected = _as_slice(np.flatnonzero(object_mask & (energy == index)))
        # Evenly spaced pulses (the usual interlacing) give a view over the records
        # (zero copy); otherwise one contiguous copy. Transposed: rows × pulses.
        raw = records["samples"][selected].T
        if bottom:
            raw = raw[::-1]
        raw.flags.writeable = False
        flags = records["flags"][selected]
        position_valid = (flags & FLAG_POSITION_VALID) != 0
        position = records["position_mm"][selected].astype(np.float64)
        position[~position_valid] = np.nan
        frames.append(
            EnergyFrames(
                energy_index=index,
                energy_mev=float(energy_mev),
                raw=raw,
                pulse_index=records["pulse_index"][selected].astype(np.int64),
                time_s=records["time_s"][selected].astype(np.float64),
                position_mm=position,
                position_valid=position_valid,
                dose=records["dose"][selected].astype(np.float32),
                dose_valid=(flags & FLAG_DOSE_VALID) != 0,
            )
        )
    return frames


def _references(header: NxrHeader, records: np.ndarray, mask: np.ndarray) -> list[Reference | None]:
    bottom = header.first_channel == "bottom"
    energy = records["energy_index"]
    references: list[Reference | None] = []
    for index in range(header.n_energies):
        selected = records[mask & (energy == index)]
        if selected.size == 0:
            references.append(None)
            continue
        samples = selected["samples"]
        mean = samples.mean(axis=0, dtype=np.float64)
        std = (
            samples.std(axis=0, dtype=np.float64, ddof=1)
            if selected.size > 1
            else np.zeros(header.channels)
        )
        if bottom:
            mean, std = mean[::-1].copy(), std[::-1].copy()
        dose_ok = (selected["flags"] & FLAG_DOSE_VALID) != 0
        dose_mean = (
            float(selected["dose"][dose_ok].mean(dtype=np.float64)) if dose_ok.any() else None
        )
        references.append(Reference(mean, std, dose_mean, int(selected.size)))
    return references


def _check_reference(scan: NxrHeader, reference: NxrHeader, role: str, source: str) -> None:
    if reference.kind != role:
        raise NxrError(
            f"{source}: a {role} reference file must have kind '{role}', not '{reference.kind}'"
        )
    checks = (
        ("scanner_id", scan.scanner_id, reference.scanner_id),
        ("detector.channels", scan.channels, reference.channels),
        ("sample_dtype", scan.sample_dtype.name, reference.sample_dtype.name),
        ("source.energies_mev", scan.energies_mev, reference.energies_mev),
        ("detector.first_channel", scan.first_channel, reference.first_channel),
    )
    for name, expected, found in checks:
        if expected != found:
            raise NxrError(
                f"{source}: the {role} reference does not match the scan: {name} is "
                f"{found!r}, the scan has {expected!r}"
            )


def _external_reference(
    scan: NxrHeader, reference: str | os.PathLike | NxrFile, role: str, flag: int
) -> tuple[list[Reference | None], str]:
    if isinstance(reference, NxrFile):
        nxr, source = reference, os.fspath(reference.path)
    else:
        nxr, _ = _read_mapped(reference)
        source = os.fspath(reference)
    _check_reference(scan, nxr.header, role, source)
    records = nxr.records
    mask = (records["flags"] & flag) != 0
    if not mask.any():
        mask = np.ones(records.size, dtype=bool)  # the file's kind says what they are
    references = _references(nxr.header, records, mask)
    if any(ref is None for ref in references):
        missing = [scan.energies_mev[i] for i, ref in enumerate(references) if ref is None]
        raise NxrError(f"{source}: the {role} reference file has no records for {missing} MeV")
    return references, source


def scan_from_records(
    header: NxrHeader,
    records: np.ndarray,
    report: ReadReport | None = None,
    *,
    path: str | os.PathLike | None = None,
    sha256: str | FileDigest = "",
    dark: Sequence[Reference | None] | None = None,
    air: Sequence[Reference | None] | None = None,
) -> Scan:
    """Build a :class:`Scan` from records already in memory.

    Parameters
    ----------
    header : NxrHeader
        Header of the records.
    records : numpy.ndarray
        :func:`scanner_io.record_dtype` structured array (valid records, file order).
    report : ReadReport, optional
        Read report (an empty one by default).
    path : path-like, optional
        File the records came from.
    sha256 : str or FileDigest
        Hex digest of the file bytes (or a lazy :class:`FileDigest`).
    dark, air : list of Reference, optional
        References per energy replacing those found in ``records``.

    Returns
    -------
    Scan
        The assembled scan.
    """
    flags = records["flags"]
    is_dark = (flags & FLAG_DARK) != 0
    is_air = ((flags & FLAG_AIR) != 0) & ~is_dark
    object_mask = ~(is_dark | is_air)
    sources = {"dark": "scan", "air": "scan"}
    return Scan(
        header=header,
        path=Path(path) if path is not None else None,
        report=report if report is not None else ReadReport(records=int(records.size)),
        energies_mev=list(header.energies_mev),
        channel=_row_order(header),
        frames=_frames(header, records, object_mask),
        dark=list(dark) if dark is not None else _references(header, records, is_dark),
        air=list(air) if air is not None else _references(header, records, is_air),
        bad_channels=list(header.bad_channels),
        digest=sha256 if isinstance(sha256, FileDigest) else FileDigest(sha256),
        reference_sources=sources,
    )


def load_scan(
    path: str | os.PathLike,
    dark: str | os.PathLike | NxrFile | None = None,
    air: str | os.PathLike | NxrFile | None = None,
) -> Scan:
    """Read an NXR file into a :class:`Scan`.

    Parameters
    ----------
    path : path-like
        The scan (``.nxr``).
    dark : path-like or NxrFile, optional
        A separate file of kind ``dark`` (beam off) from the same scanner; its
        records replace the scan's own DARK records as the dark reference.
    air : path-like or NxrFile, optional
        A separate file of kind ``air`` (beam on, nothing in the beam), likewise.

    Returns
    -------
    Scan
        Raw images per energy (object pulses: neither DARK nor AIR), references, the
        read report and the file's SHA-256. A scan without object pulses loads;
        ``Scan.has_object_pulses`` is then False.

    Raises
    ------
    NxrError
        Unreadable scan or reference file, or a reference from another scanner
        (``scanner_id``, channels, sample dtype, energies or channel order differ).

    Notes
    -----
    In a separate reference file, the records flagged DARK (or AIR) are used; when
    none is flagged, all its records are, since the file's kind says what they are.
    Reference means are per channel over the reference pulses, standard deviations
    use ddof=1.

    Examples
    --------
    >>> scan = load_scan("scan.nxr")  # doctest: +SKIP
    >>> scan.frames[0].raw.shape  # rows × high-energy object pulses  # doctest: +SKIP
    (1024, 3900)
    """
    nxr, buffer = _read_mapped(path)
    digest = FileDigest(buffer)
    dark_refs = air_refs = None
    sources = {"dark": "scan", "air": "scan"}
    if dark is not None:
        dark_refs, sources["dark"] = _external_reference(nxr.header, dark, "dark", FLAG_DARK)
    if air is not None:
        air_refs, sources["air"] = _external_reference(nxr.header, air, "air", FLAG_AIR)
    scan = scan_from_records(
        nxr.header,
        nxr.records,
        nxr.report,
        path=nxr.path,
        sha256=digest,
        dark=dark_refs,
        air=air_refs,
    )
    scan.reference_sources.update(sources)
    return scan
