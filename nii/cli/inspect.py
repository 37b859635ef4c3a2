"""``nii inspect``: check a scan against its manifest; write the verdict and the evidence image.

Single scan::

    nii inspect SCAN.nxr --manifest M.json [--calibration C.json] [--out DIR] [--dicos]

writes ``DIR/verdict.json`` and ``DIR/evidence.png`` (default ``DIR``: a folder
``SCAN.inspection`` beside the scan), prints one line (``--json``: the verdict JSON on
stdout, the line on stderr), and exits 0 (clear), 1 (inspect) or 2 (error). Several
scans, a folder, a glob, or ``--manifests DIR`` run the batch form
(:func:`nii.inspection.batch.run_batch_cli`), into ``--out`` (default ``./nii-inspect``),
with a progress bar on a terminal (``--no-progress``, ``--quiet``) and the summary table
(``--json``: the batch summary JSON on stdout, the table on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from nii.cli import EXIT_CLEAR, EXIT_INSPECT, add_backend_arguments
from nii.cli._conventions import (
    add_json_argument,
    add_progress_arguments,
    print_json,
    say,
    show_progress,
)

__all__ = ["register", "run", "default_out_dir", "is_batch", "BATCH_DEFAULT_OUT"]

#: Output folder of the batch form when --out is not given.
BATCH_DEFAULT_OUT = "nii-inspect"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help="check a scan against its manifest (verdict.json + evidence.png)",
        description=(
            "Check a scan against its declaration. Exit status: 0 clear, 1 inspect, 2 error. "
            "Several scans, a folder or a glob (or --manifests) run a batch."
        ),
    )
    parser.add_argument("scan", nargs="+", help="NXR scan file (or several, a folder, a glob: batch)")
    parser.add_argument("--manifest", metavar="M.json", help="the scan's manifest (single scan)")
    parser.add_argument("--calibration", metavar="C.json", help="calibration JSON (default: from physics)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: SCAN.inspection beside a single scan; "
                             f"./{BATCH_DEFAULT_OUT} for a batch, one sub-folder per scan)")
    parser.add_argument("--models", "--model", nargs="*", default=[], metavar="NAME",
                        help="learned detectors to run too (names known to nii.learn.plugins)")
    add_backend_arguments(parser)
    parser.add_argument("--dicos", action="store_true", help="also write DICOS DX and TDR files")
    add_json_argument(parser, "the verdict (single scan) or the batch summary")
    add_progress_arguments(parser)
    batch = parser.add_argument_group("batch")
    batch.add_argument("--manifests", metavar="DIR", help="folder of manifests named SCAN.manifest.json (batch)")
    batch.add_argument("--workers", type=int, metavar="N", help="parallel workers (batch)")
    batch.add_argument("--resume", dest="resume", action="store_true", default=True,
                       help="skip scans whose verdict is already written for the same input (batch, default)")
    batch.add_argument("--no-resume", dest="resume", action="store_false", help="re-inspect every scan (batch)")
    batch.add_argument("--dask-scheduler", metavar="ADDRESS", help="run the batch on a Dask cluster")
    parser.set_defaults(func=run)


def is_batch(args: argparse.Namespace) -> bool:
    """Whether the arguments ask for the batch form (several scans, a folder, a glob, --manifests)."""
    if args.manifests or len(args.scan) != 1:
        return True
    target = args.scan[0]
    return Path(target).is_dir() or (not Path(target).exists() and glob.has_magic(target))


def default_out_dir(scan_path: Path) -> Path:
    """The default output folder of a single scan: ``<scan stem>.inspection`` beside it."""
    return scan_path.with_name(f"{scan_path.stem}.inspection")


def _check_outputs(out_dir: Path, inputs: list[Path]) -> None:
    from nii.errors import NiiError
    from nii.inspection.report import EVIDENCE_FILE, VERDICT_FILE

    resolved = {path.resolve() for path in inputs if path is not None}
    for name in (VERDICT_FILE, EVIDENCE_FILE):
        if (out_dir / name).resolve() in resolved:
            raise NiiError(f"{out_dir / name}: the output would overwrite an input; choose another --out")
    from nii.inspection.batch import check_writable_folder

    check_writable_folder(out_dir)  # before any work: a folder we can write in, or can create


def _run_batch(args: argparse.Namespace) -> int:
    import json

    from nii.inspection.batch import SUMMARY_FILE_NAME, run_batch_cli

    args.out = args.out or BATCH_DEFAULT_OUT
    args.progress = show_progress(args)
    if not (args.json or args.quiet):
        return int(run_batch_cli(args))
    # The table (and the summary path) go to stderr under --json, nowhere under --quiet.
    with contextlib.redirect_stdout(sys.stderr if not args.quiet else io.StringIO()):
        status = int(run_batch_cli(args))
    if args.json:
        summary = Path(args.out) / SUMMARY_FILE_NAME
        print_json(json.loads(summary.read_text(encoding="utf-8")))
    return status


def run(args: argparse.Namespace) -> int:
    """Run ``nii inspect``; return the exit status (0 clear, 1 inspect, 2 error)."""
    if is_batch(args):
        return _run_batch(args)
    from nii.errors import ManifestError
    from nii.inspection.report import analyse_scan, write_outputs

    scan_path = Path(args.scan[0])
    if not args.manifest:
        raise ManifestError(f"{scan_path}: --manifest M.json is required for a single scan")
    manifest_path = Path(args.manifest)
    out_dir = Path(args.out) if args.out else default_out_dir(scan_path)
    calibration = Path(args.calibration) if args.calibration else None
    _check_outputs(out_dir, [scan_path, manifest_path] + ([calibration] if calibration else []))
    started = datetime.now(timezone.utc)
    outcome = analyse_scan(scan_path, manifest_path, calibration=calibration, backend=args.backend,
                           models=tuple(args.models or ()), device=args.device)
    finished = datetime.now(timezone.utc)
    write_outputs(outcome, out_dir)
    if args.dicos:
        from nii.inspection.dicos_export import export_dicos

        export_dicos(outcome.image, outcome.verdict, out_dir, started=started, finished=finished)
    verdict = outcome.verdict
    # The summary's first line names the outputs; its warnings follow, one per line.
    first, *warnings = verdict.summary().split("\n")
    say(args, "\n".join([f"{first} -> {os.fspath(out_dir)}", *warnings]))
    if args.json:
        print_json(verdict.to_dict())
    return EXIT_INSPECT if verdict.verdict == "inspect" else EXIT_CLEAR


