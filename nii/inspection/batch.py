"""Inspect many scans: one output folder per scan, resumable, parallel, fault-tolerant.

:func:`run_batch` inspects each scan against its manifest and writes
``OUT/<scan stem>/verdict.json`` and ``evidence.png`` (and the DICOS files with
``dicos=True``), atomically. A scan that cannot be inspected (a truncated NXR, a
missing manifest...) is reported with its error and skipped; the others go on. At the
end ``OUT/batch_summary.json`` lists every scan: verdict, score, reason codes, time
and error.

Resuming: a scan whose ``verdict.json`` exists and records the sha256 of the very
same input file (``provenance.input_sha256``) is not inspected again (and, with
``dicos=True``, only if its ``tdr.dcs`` exists too); its recorded verdict is reported.

Parallel work goes through any :class:`concurrent.futures.Executor`: a
``ProcessPoolExecutor`` by default (``workers``), a ``ThreadPoolExecutor`` for tests,
or a Dask cluster's executor (``nii inspect --dask-scheduler ADDRESS``, the optional
``dask`` extra).

Exit status of :func:`run_batch_cli` (the batch form of ``nii inspect``): **2** if
any scan could not be inspected, else **1** if any scan needs inspecting, else **0**
(the single-scan statuses, worst first).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from glob import glob
from pathlib import Path
from typing import Any, Protocol

from nii.errors import MissingExtraError, NiiError
from nii.io_utils import atomic_write_text

__all__ = [
    "SUMMARY_FILE_NAME",
    "VERDICT_FILE_NAME",
    "EVIDENCE_FILE_NAME",
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
_SCAN_SUFFIXES = (".nxr",)
_HASH_CHUNK_BYTES = 1 << 20


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

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return asdict(self)


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
        """2 if any scan failed, else 1 if any needs inspecting, else 0."""
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
            f"{len(self.results)} scans: {self.n_clear} clear, {self.n_inspect} inspect, "
            f"{self.n_error} errors ({self.n_resumed} resumed) in {self.wall_time_s:.1f} s"
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


def _resumable(out_dir: Path, input_sha256: str, dicos: bool) -> Mapping[str, Any] | None:
    verdict_path = out_dir / VERDICT_FILE_NAME
    if not verdict_path.is_file():
        return None
    try:
        recorded = json.loads(verdict_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(recorded, dict):
        return None
    provenance = recorded.get("provenance")
    if not isinstance(provenance, dict) or provenance.get("input_sha256") != input_sha256:
        return None
    if recorded.get("verdict") not in ("clear", "inspect"):
        return None
    if dicos:
        from nii.inspection.dicos_export import TDR_FILE_NAME

        if not (out_dir / TDR_FILE_NAME).is_file():
            return None
    return recorded


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
) -> ScanResult:
    """Run one scan of a batch; never raises for a bad input (the error is returned)."""
    start = time.perf_counter()
    try:
        if not scan.is_file():
            raise FileNotFoundError(2, "no such scan file", str(scan))
        manifest = find_manifest(scan, manifests_dir)
        if resume:
            recorded = _resumable(out_dir, _sha256_of_file(scan), dicos)
            if recorded is not None:
                return _result_from_verdict(scan, out_dir, recorded, 0.0, resumed=True)
        run = inspect_one if inspect_one is not None else inspect_scan_to_dir
        verdict = run(scan, manifest, out_dir, calibration=calibration, dicos=dicos, **dict(options or {}))
        if hasattr(verdict, "to_dict"):
            verdict = verdict.to_dict()
        if not isinstance(verdict, Mapping) or verdict.get("verdict") not in ("clear", "inspect"):
            raise NiiError(f"{scan}: the inspection returned no clear/inspect verdict.")
        return _result_from_verdict(scan, out_dir, verdict, time.perf_counter() - start, resumed=False)
    except Exception as exc:  # one bad scan must not stop the batch
        message = _one_line(exc)
        if debug:
            message += "\n" + traceback.format_exc()
        return ScanResult(
            scan=str(scan), out_dir=str(out_dir), time_s=time.perf_counter() - start, error=message
        )


# --------------------------------------------------------------------------- the batch


def _output_dirs(scans: Sequence[Path], out_dir: Path) -> tuple[list[Path], dict[int, str]]:
    """One folder per scan stem; scans whose stem repeats are errors (outputs would collide)."""
    first_of_stem: dict[str, Path] = {}
    collisions: dict[int, str] = {}
    folders = []
    for index, scan in enumerate(scans):
        folders.append(out_dir / scan.stem)
        if scan.stem in first_of_stem:
            collisions[index] = (
                f"{scan}: another scan of this batch ({first_of_stem[scan.stem]}) has the same name "
                f"'{scan.stem}', so their outputs would collide; rename one or run them apart."
            )
        else:
            first_of_stem[scan.stem] = scan
    return folders, collisions


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
        Skip scans whose ``verdict.json`` records the same input sha256.
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
    """
    scan_paths = [Path(scan) for scan in scans]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifests = None if manifests_dir is None else Path(manifests_dir)
    folders, collisions = _output_dirs(scan_paths, out)
    results: dict[int, ScanResult] = {
        index: ScanResult(scan=str(scan_paths[index]), out_dir=str(folders[index]), error=message)
        for index, message in collisions.items()
    }
    pending = [index for index in range(len(scan_paths)) if index not in collisions]
    arguments = {
        index: (
            scan_paths[index], manifests, folders[index], calibration, dicos, resume, inspect_one, debug, options
        )
        for index in pending
    }
    started = time.perf_counter()
    bar = _progress_bar(len(scan_paths), enabled=progress)
    bar.update(len(collisions))
    try:
        own_pool = None
        if executor is None and len(pending) > 1 and (workers is None or workers > 1):
            own_pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1)
            executor = own_pool
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
        finally:
            if own_pool is not None:
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
        2 if any scan could not be inspected, else 1 if any needs inspecting, else 0.
        The table of results is printed on stdout, the progress bar on stderr.
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
    address = getattr(args, "dask_scheduler", None)
    client = None
    executor = None
    if address:
        client, executor = _dask_executor(address)
    try:
        summary = run_batch(
            scans,
            getattr(args, "manifests", None),
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
