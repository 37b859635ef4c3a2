"""Inspect many scans: one output folder per scan, resumable, parallel, fault-tolerant.

:func:`run_batch` inspects each scan against its manifest and writes
``OUT/<scan stem>/verdict.json`` and ``evidence.png`` (and the DICOS files with
``dicos=True``), atomically. A scan that cannot be inspected (a truncated NXR, a
missing manifest...) is reported with its error and skipped; the others go on. At the
end ``OUT/batch_summary.json`` lists every scan: verdict, score, reason codes, time
and error.

Resuming: each scan's folder gets ``batch_record.json`` after its outputs, holding the
*resume key* and the sha256 of every output written. The key covers everything the
verdict depends on: the scan's sha256, the manifest's sha256, the calibration (the
file's sha256, a calibration object's identifier, or ``physics``), the learned models
(names and the digest of their files), the inspection options (backend), the software
versions and the digest of the seeds files the checks read (:data:`CHECK_SEED_FILES`).
A scan is served from its folder (``resumed``) only when the key matches and every
recorded output is there with the recorded digest (and, with ``dicos=True``, the DICOS
files are among them); otherwise it is inspected again, after its previous recorded
outputs are removed. A hand-edited ``verdict.json`` is therefore recomputed, not served.

Outputs stay inside the output folder: each scan's folder name is its stem made safe
(:func:`safe_folder_name`: no path separator, leading dot, control character...). Two
scans whose names map to one folder, a scan folder that is a symbolic link or a file,
and an output folder that cannot be written are refused (:class:`nii.errors.OutputError`)
before any scan is inspected.

Parallel work goes through any :class:`concurrent.futures.Executor`: a
``ProcessPoolExecutor`` by default (``workers``; its processes ignore Ctrl-C, which the
main process handles by stopping them), a ``ThreadPoolExecutor`` for tests, or a Dask
cluster's executor (``nii inspect --dask-scheduler ADDRESS``, the optional ``dask``
extra).

Exit status of :func:`run_batch_cli` (the batch form of ``nii inspect``), documented in
``docs/exit-codes.md``: **0** if every scan is clear, **1** if any scan needs
inspecting and none failed, **2** if any scan could not be inspected (whatever the
others gave: the batch is incomplete; each scan's own outcome is in
``batch_summary.json``) or the batch was refused before any work; **130** on Ctrl-C.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import sys
import tempfile
import time
import traceback
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from glob import glob
from pathlib import Path
from typing import Any, Protocol

from nii import __version__
from nii.errors import MissingExtraError, NiiError, OutputError
from nii.io_utils import atomic_write_text

__all__ = [
    "SUMMARY_FILE_NAME",
    "VERDICT_FILE_NAME",
    "EVIDENCE_FILE_NAME",
    "RECORD_FILE_NAME",
    "CHECK_SEED_FILES",
    "safe_folder_name",
    "check_writable_folder",
    "batch_key_parts",
    "InspectOne",
    "ScanResult",
    "BatchSummary",
    "expand_scans",
    "find_manifest",
    "inspect_scan_to_dir",
    "run_batch",
    "run_batch_cli",
]

SUMMARY_FILE_NAME = "batch_summary.json"
VERDICT_FILE_NAME = "verdict.json"
EVIDENCE_FILE_NAME = "evidence.png"
#: Written in each scan's folder after its outputs: resume key and output digests.
RECORD_FILE_NAME = "batch_record.json"
#: The seeds files whose content the checks (and the physics calibration) read: their
#: digest is part of the resume key.
CHECK_SEED_FILES = ("hs_expectations.toml", "containers.toml", "materials.toml", "physics.toml", "calibration.toml")
_RECORD_FORMAT = "nii-batch-record/1"
_SCAN_SUFFIXES = (".nxr",)
_HASH_CHUNK_BYTES = 1 << 20
#: Longest scan folder name (characters); longer stems are cut and given a digest.
_MAX_FOLDER_NAME = 120
_UNSAFE_CHARACTERS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


class InspectOne(Protocol):
    """Inspect one scan and write its outputs into a folder.

    Called as ``inspect_one(scan_path, manifest_path, out_dir, calibration=...,
    dicos=..., **options)`` (``options``: what :func:`run_batch` was given, e.g.
    ``backend`` and ``models``); writes ``verdict.json`` (and ``evidence.png``, and the DICOS files
    when ``dicos``) into ``out_dir`` atomically and returns the verdict's contract
    JSON (a mapping). It raises on a scan that cannot be inspected. It must be
    picklable (a module-level function) to run in a process pool or on Dask.
    """

    def __call__(
        self,
        scan_path: Path,
        manifest_path: Path,
        out_dir: Path,
        *,
        calibration: Any = None,
        dicos: bool = False,
        **options: Any,
    ) -> Mapping[str, Any]: ...




def _count(count: int, noun: str) -> str:
    """``"1 scan"``, ``"2 scans"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
@dataclass(frozen=True)
class ScanResult:
    """The outcome of one scan of a batch.

    Attributes
    ----------
    scan : str
        The scan file.
    out_dir : str
        Its output folder.
    verdict : str or None
        ``clear`` or ``inspect``; ``None`` when the scan failed.
    score : float or None
        The verdict's score, 0..1.
    reasons : list of str
        Reason codes raised.
    time_s : float
        Wall time spent on the scan, seconds (0 when resumed).
    error : str or None
        One sentence saying why the scan could not be inspected.
    scan_id : str or None
        The scan ID from the verdict.
    resumed : bool
        The verdict was already there for this very input and was not recomputed.
    """

    scan: str
    out_dir: str
    verdict: str | None = None
    score: float | None = None
    reasons: list[str] = field(default_factory=list)
    time_s: float = 0.0
    error: str | None = None
    scan_id: str | None = None
    resumed: bool = False

    @property
    def outcome(self) -> str:
        """``clear``, ``inspect`` or ``error``: this scan's own outcome."""
        if self.error is not None or self.verdict is None:
            return "error"
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping (with its ``outcome``)."""
        return {"outcome": self.outcome, **asdict(self)}


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did.

    Attributes
    ----------
    results : list of ScanResult
        One per scan, in the order the scans were given.
    out_dir : pathlib.Path
        The batch's output folder (holding ``batch_summary.json``).
    wall_time_s : float
        Wall time of the whole batch, seconds.
    """

    results: list[ScanResult]
    out_dir: Path
    wall_time_s: float

    @property
    def n_clear(self) -> int:
        """Scans found clear."""
        return sum(result.verdict == "clear" for result in self.results)

    @property
    def n_inspect(self) -> int:
        """Scans that need inspecting."""
        return sum(result.verdict == "inspect" for result in self.results)

    @property
    def n_error(self) -> int:
        """Scans that could not be inspected."""
        return sum(result.error is not None for result in self.results)

    @property
    def n_resumed(self) -> int:
        """Scans whose earlier verdict was reused."""
        return sum(result.resumed for result in self.results)

    @property
    def exit_code(self) -> int:
        """2 if any scan failed (whatever the others gave), else 1 if any needs inspecting, else 0.

        A batch with errors and ``inspect`` verdicts exits 2: it is incomplete, and each
        scan's own outcome is in ``batch_summary.json`` (``results[].outcome``). See
        ``docs/exit-codes.md``.
        """
        if self.n_error:
            return 2
        if self.n_inspect:
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as written to ``batch_summary.json``."""
        return {
            "scans": len(self.results),
            "clear": self.n_clear,
            "inspect": self.n_inspect,
            "errors": self.n_error,
            "resumed": self.n_resumed,
            "wall_time_s": round(self.wall_time_s, 3),
            "exit_code": self.exit_code,
            "results": [result.to_dict() for result in self.results],
        }

    def table(self) -> str:
        """Return the summary as a plain-text table: scan, verdict, score, reasons, time, error."""
        header = ("scan", "verdict", "score", "reasons", "time_s", "error")
        rows = [header]
        for result in self.results:
            verdict = result.verdict or "ERROR"
            if result.resumed:
                verdict += " (resumed)"
            rows.append(
                (
                    Path(result.scan).name,
                    verdict,
                    "" if result.score is None else f"{result.score:.2f}",
                    ",".join(result.reasons) or "-",
                    f"{result.time_s:.2f}",
                    result.error or "",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        lines = []
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join(cells + [row[-1]]).rstrip())
        lines.append(
            f"{_count(len(self.results), 'scan')}: {self.n_clear} clear, {self.n_inspect} inspect, "
            f"{_count(self.n_error, 'error')} ({self.n_resumed} resumed) in {self.wall_time_s:.1f} s"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------- inputs


def expand_scans(arguments: Iterable[str | os.PathLike]) -> list[Path]:
    """Turn command-line SCAN arguments into scan files.

    Parameters
    ----------
    arguments : iterable of path-like
        Files, folders (every ``*.nxr`` directly inside, sorted) or glob patterns
        (``data/*.nxr``, sorted).

    Returns
    -------
    list of pathlib.Path
        The scans, without duplicates, in argument order. A path that names nothing
        is kept, so that the batch reports it as an error.
    """
    scans: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            scans.append(path)

    for argument in arguments:
        text = os.fspath(argument)
        path = Path(text)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and child.suffix.lower() in _SCAN_SUFFIXES:
                    add(child)
        elif any(char in text for char in "*?[") and not path.exists():
            for match in sorted(glob(text)):
                if Path(match).is_file():
                    add(Path(match))
        else:
            add(path)
    return scans


def find_manifest(scan: Path, manifests_dir: str | os.PathLike | None = None) -> Path:
    """Return the manifest of a scan: ``<stem>.manifest.json`` or ``<stem>.json``.

    Parameters
    ----------
    scan : pathlib.Path
        The scan file.
    manifests_dir : path-like, optional
        Folder holding the manifests; default the scan's own folder (where
        ``nii simulate`` writes ``SCAN.manifest.json``).

    Returns
    -------
    pathlib.Path
        The first of the two names that exists.

    Raises
    ------
    nii.errors.ManifestError
        If neither exists.
    """
    from nii.errors import ManifestError

    folder = Path(manifests_dir) if manifests_dir is not None else scan.parent
    candidates = [folder / f"{scan.stem}.manifest.json", folder / f"{scan.stem}.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ManifestError(
        f"{scan}: no manifest found (looked for {candidates[0]} and {candidates[1]})."
    )


def safe_folder_name(stem: str) -> str:
    """A scan's output folder name: its stem, made safe to join to the output folder.

    Path separators, control characters and the characters Windows refuses become
    ``_``; leading dots and spaces (``...nxr`` would name the parent folder) and
    trailing dots and spaces are removed; a Windows device name (``NUL``) or the
    summary file's name gets a ``_`` after it; a name that is empty after this, or
    longer than 120 characters, is replaced or cut and given the first 8 hex digits
    of the stem's sha256, so two different stems do not meet by accident.

    Parameters
    ----------
    stem : str
        The scan file name without its suffix.

    Returns
    -------
    str
        A single path component: never ``""``, ``"."`` or ``".."``, without separators.
    """
    text = unicodedata.normalize("NFC", stem)
    text = "".join("_" if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in text)
    text = _UNSAFE_CHARACTERS.sub("_", text).lstrip(". ").rstrip(". ")
    tag = hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    if not text:
        return f"scan-{tag}"
    if len(text) > _MAX_FOLDER_NAME:
        text = f"{text[:_MAX_FOLDER_NAME - 9].rstrip('. ')}-{tag}"
    if _WINDOWS_RESERVED.match(text) or text.casefold() in (SUMMARY_FILE_NAME, RECORD_FILE_NAME):
        text += "_"
    return text


def check_writable_folder(folder: str | os.PathLike, option: str = "--out") -> Path:
    """Check, before any work, that ``folder`` is or can be made a folder we can write in.

    Nothing is left behind: a missing folder is not created (its nearest existing
    parent is checked instead).

    Parameters
    ----------
    folder : path-like
        The output folder.
    option : str
        How the user named it, for messages.

    Returns
    -------
    pathlib.Path
        ``folder`` as a path.

    Raises
    ------
    nii.errors.OutputError
        One sentence naming the folder: it is a file, its parent is a file, or a file
        cannot be created there.
    """
    target = Path(folder)
    existing = target
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if not existing.exists():
        raise OutputError(f"{target}: the {option} folder cannot be created (its parent {existing} does not resolve); choose another {option}")
    if not existing.is_dir():
        if existing == target:
            raise OutputError(f"{target}: {option} must be a folder, and this is a file; choose another {option}")
        raise OutputError(f"{target}: the {option} folder cannot be created because {existing} is a file; choose another {option}")
    try:
        if existing == target:
            handle, name = tempfile.mkstemp(prefix=".nii-write-check-", dir=existing)
            os.close(handle)
            os.unlink(name)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".nii-write-check-", dir=existing))
    except OSError as exc:
        where = "written in" if existing == target else f"created (cannot write in {existing})"
        raise OutputError(
            f"{target}: the {option} folder cannot be {where}: {exc.strerror or exc}; choose a folder you can write to"
        ) from exc
    return target


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    if not isinstance(exc, (NiiError, OSError)) and not _is_scanner_io_error(exc):
        text = f"{type(exc).__name__}: {text}"
    return text


def _is_scanner_io_error(exc: BaseException) -> bool:
    try:
        from scanner_io import ScannerIOError
    except ImportError:  # pragma: no cover - scanner_io is a hard dependency
        return False
    return isinstance(exc, ScannerIOError)


# --------------------------------------------------------------------------- one scan


def inspect_scan_to_dir(
    scan_path: Path,
    manifest_path: Path,
    out_dir: Path,
    *,
    calibration: Any = None,
    dicos: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Inspect one scan with NII and write its outputs (the default :class:`InspectOne`).

    Parameters
    ----------
    scan_path : pathlib.Path
        The NXR file.
    manifest_path : pathlib.Path
        Its manifest (contract JSON).
    out_dir : pathlib.Path
        Folder for ``verdict.json``, ``evidence.png`` and, with ``dicos``, the DICOS
        files (see :func:`nii.inspection.dicos_export.export_dicos`).
    calibration : Calibration or path-like, optional
        Passed to :func:`nii.inspection.inspect`.
    dicos : bool
        Also write the DICOS DX and TDR files.
    **options
        Passed to :func:`nii.inspection.report.analyse_scan` (``backend``, ``models``).

    Returns
    -------
    dict
        The verdict's contract JSON.
    """
    from nii.inspection.report import analyse_scan, write_outputs

    started = datetime.now(timezone.utc)
    outcome = analyse_scan(scan_path, manifest_path, calibration=calibration, **options)
    finished = datetime.now(timezone.utc)
    if dicos:
        # DICOS first: verdict.json is what resuming looks for, so it is written last.
        from nii.inspection.dicos_export import export_dicos

        container_id = getattr(outcome.manifest, "container_id", None) or None
        export_dicos(
            outcome.image, outcome.verdict, out_dir, started=started, finished=finished, ooi_id=container_id
        )
    write_outputs(outcome, out_dir)
    return outcome.verdict.to_dict()


# --------------------------------------------------------------------------- resuming


def _digest_or_absent(path: Path) -> str:
    try:
        return _sha256_of_file(path)
    except OSError:
        return "absent"


def _calibration_key(calibration: Any) -> str | None:
    """What the calibration contributes to the resume key; ``None``: cannot be told (no resume)."""
    if calibration is None:
        return "physics"
    if isinstance(calibration, (str, os.PathLike)):
        return f"file sha256 {_digest_or_absent(Path(calibration))}"
    identifier = getattr(calibration, "identifier", None)
    return f"object {identifier}" if isinstance(identifier, str) and identifier else None


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(_sha256_of_file(path).encode() + b"\0")
    return digest.hexdigest()


def _model_key(model: Any) -> str:
    """A learned detector's identity: the digest of its zoo folder (config and weights), or its plug-in's version."""
    if not isinstance(model, str):
        name = f"{getattr(model, '__module__', '?')}.{getattr(model, '__qualname__', type(model).__qualname__)}"
        return f"callable {name} {getattr(model, 'version', 'unversioned')}"
    from nii.resources import models_dir

    folder = models_dir() / model
    if "/" not in model and "\\" not in model and (folder / "config.json").is_file():
        try:
            return f"zoo sha256 {_folder_digest(folder)}"
        except OSError:
            return "zoo unreadable"
    try:
        from importlib import metadata

        for entry in metadata.entry_points(group="nii.detectors"):
            if entry.name == model:
                dist = getattr(entry, "dist", None)
                return f"entry point {entry.value} {getattr(dist, 'name', '?')} {getattr(dist, 'version', '?')}"
    except Exception:  # noqa: BLE001 - broken metadata only makes the key less specific
        pass
    return "registered"


def _software_versions() -> dict[str, str]:
    versions = {"nii": __version__}
    try:
        import scanner_io

        versions["scanner_io"] = str(getattr(scanner_io, "__version__", "unknown"))
    except ImportError:  # pragma: no cover - scanner_io is a hard dependency
        pass
    return versions


def batch_key_parts(calibration: Any, options: Mapping[str, Any] | None, inspect_one: Any = None) -> dict[str, Any] | None:
    """The parts of the resume key shared by every scan of a batch; ``None`` disables resuming.

    Returns
    -------
    dict or None
        ``calibration``, ``models`` (name to digest), ``options`` (the rest, e.g.
        ``backend``), ``software`` and ``check_parameters`` (seeds file to sha256).
    """
    from nii.resources import seed_path

    calibration_key = _calibration_key(calibration)
    if calibration_key is None:
        return None
    options = dict(options or {})
    models = options.pop("models", ()) or ()
    if isinstance(models, (str, bytes)):
        models = (models,)
    inspector = None
    if inspect_one is not None:
        inspector = f"{getattr(inspect_one, '__module__', '?')}.{getattr(inspect_one, '__qualname__', '?')}"
    return {
        "calibration": calibration_key,
        "models": [[str(getattr(model, "__qualname__", model)), _model_key(model)] for model in models],
        "options": json.loads(json.dumps(options, sort_keys=True, default=str)),
        "software": _software_versions(),
        "check_parameters": {name: _digest_or_absent(seed_path(name)) for name in CHECK_SEED_FILES},
        "inspect_one": inspector,
    }


def _resume_key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _read_record(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / RECORD_FILE_NAME
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _HASH_CHUNK_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT:
        return None
    outputs = record.get("outputs")
    if not isinstance(outputs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in outputs.items()):
        return None
    return record


def _output_names(dicos: bool) -> tuple[str, ...]:
    if not dicos:
        return (VERDICT_FILE_NAME, EVIDENCE_FILE_NAME)
    from nii.inspection.dicos_export import DX_FILE_NAMES, TDR_FILE_NAME

    return (VERDICT_FILE_NAME, EVIDENCE_FILE_NAME, *DX_FILE_NAMES, TDR_FILE_NAME)


def _recorded_output(out_dir: Path, name: str) -> Path | None:
    """``out_dir/name`` if it is a plain recorded output name and a regular file (no link followed)."""
    if name not in _output_names(True):
        return None
    path = out_dir / name
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return path if stat.S_ISREG(info.st_mode) else None


def _resumable(out_dir: Path, key: str | None, input_sha256: str, dicos: bool) -> Mapping[str, Any] | None:
    """The recorded verdict, when the record's key is ``key`` and every recorded output verifies."""
    if key is None:
        return None
    record = _read_record(out_dir)
    if record is None or record.get("key") != key:
        return None
    outputs = record["outputs"]
    required = [VERDICT_FILE_NAME]
    if dicos:
        from nii.inspection.dicos_export import TDR_FILE_NAME

        required.append(TDR_FILE_NAME)
    if any(name not in outputs for name in required):
        return None
    for name, digest in outputs.items():
        path = _recorded_output(out_dir, name)
        if path is None or _digest_or_absent(path) != digest:
            return None
    try:
        recorded = json.loads((out_dir / VERDICT_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(recorded, dict):
        return None
    provenance = recorded.get("provenance")
    if not isinstance(provenance, dict) or provenance.get("input_sha256") != input_sha256:
        return None
    if recorded.get("verdict") not in ("clear", "inspect"):
        return None
    return recorded


def _forget_previous(out_dir: Path) -> None:
    """Before recomputing: remove the previous record and the outputs it lists (they describe other inputs)."""
    record = _read_record(out_dir)
    for name in (record or {}).get("outputs", {}):
        path = _recorded_output(out_dir, name)
        if path is not None:
            path.unlink(missing_ok=True)
    record_path = out_dir / RECORD_FILE_NAME
    if record_path.is_symlink() or record_path.is_file():
        record_path.unlink(missing_ok=True)


def _write_record(out_dir: Path, key: str | None, parts: Mapping[str, Any], dicos: bool) -> None:
    outputs = {}
    for name in _output_names(dicos):
        path = _recorded_output(out_dir, name)
        if path is not None:
            outputs[name] = _sha256_of_file(path)
    record = {
        "format": _RECORD_FORMAT,
        "key": key,
        "inputs": dict(parts),
        "outputs": outputs,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(out_dir / RECORD_FILE_NAME, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _result_from_verdict(
    scan: Path, out_dir: Path, verdict: Mapping[str, Any], time_s: float, resumed: bool
) -> ScanResult:
    score = verdict.get("score")
    return ScanResult(
        scan=str(scan),
        out_dir=str(out_dir),
        verdict=str(verdict.get("verdict")),
        score=None if score is None else float(score),
        reasons=[str(reason.get("code")) for reason in verdict.get("reasons", []) if isinstance(reason, Mapping)],
        time_s=time_s,
        scan_id=None if verdict.get("scan_id") is None else str(verdict.get("scan_id")),
        resumed=resumed,
    )


def _process_scan(
    scan: Path,
    manifests_dir: Path | None,
    out_dir: Path,
    calibration: Any,
    dicos: bool,
    resume: bool,
    inspect_one: InspectOne | None,
    debug: bool = False,
    options: Mapping[str, Any] | None = None,
    batch_parts: Mapping[str, Any] | None = None,
) -> ScanResult:
    """Run one scan of a batch; never raises for a bad input (the error is returned).

    ``batch_parts`` (see :func:`batch_key_parts`) is what every scan's resume key
    shares; ``None`` computes it here, and a batch whose calibration cannot be keyed is
    never resumed.
    """
    start = time.perf_counter()
    try:
        if not scan.is_file():
            if scan.exists():
                raise NiiError(f"{scan}: not a regular file (a folder, FIFO or device is not a scan).")
            raise FileNotFoundError(2, "no such scan file", str(scan))
        if out_dir.is_symlink():
            raise OutputError(f"{out_dir}: the scan's output folder is a symbolic link; refusing to write through it.")
        manifest = find_manifest(scan, manifests_dir)
        parts = dict(batch_parts) if batch_parts is not None else batch_key_parts(calibration, options, inspect_one)
        scan_sha256 = _sha256_of_file(scan)
        key = None
        if parts is not None:
            parts.update(scan_sha256=scan_sha256, manifest_sha256=_digest_or_absent(manifest))
            key = _resume_key(parts)
        if resume:
            recorded = _resumable(out_dir, key, scan_sha256, dicos)
            if recorded is not None:
                return _result_from_verdict(scan, out_dir, recorded, 0.0, resumed=True)
        _forget_previous(out_dir)
        run = inspect_one if inspect_one is not None else inspect_scan_to_dir
        verdict = run(scan, manifest, out_dir, calibration=calibration, dicos=dicos, **dict(options or {}))
        if hasattr(verdict, "to_dict"):
            verdict = verdict.to_dict()
        if not isinstance(verdict, Mapping) or verdict.get("verdict") not in ("clear", "inspect"):
            raise NiiError(f"{scan}: the inspection returned no clear/inspect verdict.")
        _write_record(out_dir, key, parts or {}, dicos)
        return _result_from_verdict(scan, out_dir, verdict, time.perf_counter() - start, resumed=False)
    except Exception as exc:  # one bad scan must not stop the batch
        message = _one_line(exc)
        if debug:
            message += "\n" + traceback.format_exc()
        return ScanResult(
            scan=str(scan), out_dir=str(out_dir), time_s=time.perf_counter() - start, error=message
        )


# --------------------------------------------------------------------------- the batch


def _output_dirs(scans: Sequence[Path], out_dir: Path) -> list[Path]:
    """One folder per scan, named by :func:`safe_folder_name`, checked before any work.

    Raises
    ------
    nii.errors.OutputError
        When two scans map to one folder name (compared without case: a folder named
        ``A`` and one named ``a`` are one on many file systems), or a scan's folder
        exists as a symbolic link or a file.
    """
    first_of_name: dict[str, Path] = {}
    folders = []
    for scan in scans:
        name = safe_folder_name(scan.stem)
        key = name.casefold()
        if key in first_of_name:
            raise OutputError(
                f"{scan}: another scan of this batch ({first_of_name[key]}) has its outputs in the same folder "
                f"{out_dir / name}, so they would collide; rename one or run them in separate batches."
            )
        first_of_name[key] = scan
        folder = out_dir / name
        if folder.is_symlink():
            raise OutputError(
                f"{folder}: the output folder of {scan} is a symbolic link; refusing to write through it "
                "(remove the link or choose another --out)."
            )
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder}: the output folder of {scan} exists as a file; remove it or choose another --out.")
        folders.append(folder)
    return folders


def _ignore_sigint() -> None:  # pragma: no cover - runs in the worker processes
    """Worker initialiser: Ctrl-C is the main process's to handle (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool now: cancel what has not started and end the workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for process in processes:
        try:
            process.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def run_batch(
    scans: Iterable[str | os.PathLike],
    manifests_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    resume: bool = True,
    calibration: Any = None,
    dicos: bool = False,
    progress: bool = True,
    inspect_one: InspectOne | None = None,
    options: Mapping[str, Any] | None = None,
    debug: bool = False,
) -> BatchSummary:
    """Inspect many scans, each into ``out_dir/<scan stem>/``, and summarise.

    Parameters
    ----------
    scans : iterable of path-like
        The NXR files (see :func:`expand_scans` for folders and globs).
    manifests_dir : path-like or None
        Folder of the manifests, ``<stem>.manifest.json`` or ``<stem>.json``; ``None``
        looks beside each scan.
    out_dir : path-like
        Output folder; gets one folder per scan and ``batch_summary.json``.
    executor : concurrent.futures.Executor, optional
        Where to run the scans (it is not shut down here). Default: a
        ``ProcessPoolExecutor`` of ``workers`` processes, or in this process when
        ``workers`` is 1 or there is one scan.
    workers : int, optional
        Processes of the default pool (default: the CPU count).
    resume : bool
        Serve a scan from its folder when its resume key (scan, manifest,
        calibration, models, options, software, check parameters) is the recorded one
        and its recorded outputs verify; else inspect it again.
    calibration : Calibration or path-like, optional
        Passed to each inspection (must be picklable for a process pool).
    dicos : bool
        Also write each scan's DICOS DX and TDR files.
    progress : bool
        Show a tqdm progress bar on stderr (only when stderr is a terminal).
    inspect_one : InspectOne, optional
        What inspects one scan (default :func:`inspect_scan_to_dir`); tests pass a
        stand-in. Must be picklable for a process pool or Dask.
    options : mapping, optional
        Further keyword arguments of ``inspect_one`` (the default takes ``backend``
        and ``models``).
    debug : bool
        Append the traceback to each scan's error.

    Returns
    -------
    BatchSummary
        Results in the order of ``scans``; also written to
        ``out_dir/batch_summary.json``.

    Raises
    ------
    nii.errors.OutputError
        Before any scan is inspected: ``out_dir`` cannot be written, two scans map to
        one output folder, or a scan's folder is a symbolic link or a file.
    KeyboardInterrupt
        On Ctrl-C (or a worker's KeyboardInterrupt), after stopping the default pool's
        workers; the scans finished so far keep their outputs, and no summary is written.
    """
    scan_paths = [Path(scan) for scan in scans]
    out = check_writable_folder(out_dir)
    manifests = None if manifests_dir is None else Path(manifests_dir)
    folders = _output_dirs(scan_paths, out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[int, ScanResult] = {}
    pending = list(range(len(scan_paths)))
    parts = batch_key_parts(calibration, options, inspect_one)
    arguments = {
        index: (
            scan_paths[index], manifests, folders[index], calibration, dicos, resume, inspect_one, debug, options, parts
        )
        for index in pending
    }
    started = time.perf_counter()
    bar = _progress_bar(len(scan_paths), enabled=progress)
    try:
        own_pool = None
        if executor is None and len(pending) > 1 and (workers is None or workers > 1):
            own_pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, initializer=_ignore_sigint)
            executor = own_pool
        interrupted = False
        try:
            if executor is None:
                for index in pending:
                    results[index] = _process_scan(*arguments[index])
                    _advance(bar, results[index])
            else:
                futures: dict[Future, int] = {
                    executor.submit(_process_scan, *arguments[index]): index for index in pending
                }
                for future in as_completed(futures):
                    index = futures[future]
                    results[index] = _collect(future, scan_paths[index], folders[index])
                    _advance(bar, results[index])
        except KeyboardInterrupt:
            interrupted = True
            for pending_future in locals().get("futures", {}):
                pending_future.cancel()
            if own_pool is not None:
                _stop_pool(own_pool)
            raise
        finally:
            if own_pool is not None and not interrupted:
                own_pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    summary = BatchSummary(
        results=[results[index] for index in range(len(scan_paths))],
        out_dir=out,
        wall_time_s=time.perf_counter() - started,
    )
    atomic_write_text(out / SUMMARY_FILE_NAME, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _collect(future: Future, scan: Path, folder: Path) -> ScanResult:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        message = f"{scan}: the worker process died while inspecting it ({_one_line(exc)})."
    except Exception as exc:  # an executor-side failure (e.g. a lost Dask worker)
        message = f"{scan}: the executor failed to run it ({_one_line(exc)})."
    return ScanResult(scan=str(scan), out_dir=str(folder), error=message)


class _NoBar:
    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def set_postfix_str(self, text: str) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


def _progress_bar(total: int, *, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    # A bar only on a terminal: a log file gets no carriage-return frames.
    return tqdm(total=total, unit="scan", desc="nii inspect", file=sys.stderr, dynamic_ncols=True,
                disable=not sys.stderr.isatty())


def _advance(bar: Any, result: ScanResult) -> None:
    bar.set_postfix_str(f"{Path(result.scan).name}: {result.verdict or 'ERROR'}")
    bar.update(1)


# --------------------------------------------------------------------------- command line


def _dask_executor(address: str) -> tuple[Any, Executor]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise MissingExtraError(
            "--dask-scheduler needs Dask distributed: install it with  pip install 'nii[dask]'"
        ) from exc
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise NiiError(f"cannot reach the Dask scheduler at {address}: {_one_line(exc)}") from exc
    return client, client.get_executor()


def _inspect_options(args: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    backend = getattr(args, "backend", None)
    if backend and backend != "numpy":
        options["backend"] = backend
    models = tuple(getattr(args, "models", None) or ())
    if models:
        options["models"] = models
    device = getattr(args, "device", None)
    if device:
        options["device"] = device
    return options


def run_batch_cli(args: Any) -> int:
    """Run ``nii inspect`` on many scans (the batch form); return the exit status.

    Parameters
    ----------
    args : argparse.Namespace
        From ``nii inspect``: ``scan`` (one or more files, folders or globs),
        ``manifests`` (folder or None), ``out`` (folder), ``workers`` (int or None),
        ``resume`` (bool), ``dask_scheduler`` (address or None), ``dicos`` (bool),
        ``calibration`` (path or None); ``backend``, ``models``, ``debug`` and
        ``progress`` if present.

    Returns
    -------
    int
        2 if any scan could not be inspected (whatever the others gave), else 1 if any
        needs inspecting, else 0 (``docs/exit-codes.md``). The table of results is
        printed on stdout, the progress bar on stderr.
    """
    raw = getattr(args, "scan", None)
    if raw is None:
        raw = getattr(args, "scans", None)
    arguments = [raw] if isinstance(raw, (str, os.PathLike)) else list(raw or [])
    scans = expand_scans(arguments)
    if not scans:
        raise NiiError(f"no scan (*.nxr) found in {', '.join(map(str, arguments)) or 'the arguments'}.")
    out_dir = Path(getattr(args, "out", None) or "nii-inspect")
    workers = getattr(args, "workers", None)
    if workers is not None and int(workers) < 1:
        raise NiiError(f"--workers must be at least 1, got {workers}.")
    manifests = getattr(args, "manifests", None)
    if manifests is not None and not Path(manifests).is_dir():
        raise NiiError(f"{manifests}: --manifests must be a folder of manifests, and it is not one.")
    check_writable_folder(out_dir)
    address = getattr(args, "dask_scheduler", None)
    client = None
    executor = None
    if address:
        client, executor = _dask_executor(address)
    try:
        summary = run_batch(
            scans,
            manifests,
            out_dir,
            executor=executor,
            workers=None if workers is None else int(workers),
            resume=bool(getattr(args, "resume", True)),
            calibration=getattr(args, "calibration", None),
            dicos=bool(getattr(args, "dicos", False)),
            progress=bool(getattr(args, "progress", True)),
            options=_inspect_options(args),
            debug=bool(getattr(args, "debug", False)),
        )
    finally:
        if client is not None:
            client.close()
    print(summary.table())
    print(f"summary: {out_dir / SUMMARY_FILE_NAME}")
    return summary.exit_code
