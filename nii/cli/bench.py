"""``nii bench``: benchmark the physics checks, plug-in detectors and zoo models on a suite.

::

    nii bench --suite seeds/suites/smoke.toml --out bench-out/
    nii bench --scans sims/ --out bench-out/ --models unet_segmenter fcos_detector
    nii bench --suite smoke --out bench-out/ --plugin mypackage.detectors:bright_spot

The suite (a built-in name or a ``.toml`` file, as for ``nii simulate --suite``) is
simulated into ``OUT/scans/`` unless ``--scans DIR`` names scans already simulated (or
``OUT/scans/`` already holds scans: delete it after changing the simulator). Progress
bars (on a terminal) follow the simulation, the correction of each scan and each
detector; ``--no-progress`` or ``--quiet`` turn them off. Writes ``OUT/bench.json``, ``OUT/bench.md`` and ``OUT/roc.png``;
``--update-cards`` also writes the held-out section of each zoo model's card.

The leaderboard of ``benchmarks/README.md``::

    nii bench --suite seeds/suites/learn-bench.toml --out build/bench-out \
        --models unet_segmenter fcos_detector clean_autoencoder --update-cards
"""

from __future__ import annotations

import argparse
import sys

from nii.cli._conventions import add_progress_arguments, progress_bar, say, show_progress

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark detectors and models on a simulated suite",
        description="Run the physics checks, registered detectors and zoo models on a simulated suite "
        "and write ROC AUC, detection rates at 1 % and 5 % false alarms, mAP@0.5, material accuracy "
        "and cargo-mass error as JSON, Markdown and a ROC plot.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", metavar="NAME|FILE.toml",
                        help="built-in suite name or suite file (ends in .toml or contains /); simulated into OUT/scans/")
    source.add_argument("--scans", metavar="DIR", help="folder of scans already simulated with ground truth")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder: bench.json, bench.md, roc.png (and scans/ for --suite)")
    parser.add_argument("--models", nargs="*", metavar="NAME",
                        help="detectors to run: zoo models, registered or entry-point names (default: all available)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="import and register a detector callable (repeatable)")
    parser.add_argument("--no-physics", action="store_true", help="skip the inspection pipeline")
    parser.add_argument("--workers", type=int, default=1, help="processes used to simulate the suite")
    parser.add_argument("--update-cards", action="store_true",
                        help="write the held-out results into MODEL_CARD.md and config.json of each zoo model run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    add_progress_arguments(parser)
    parser.set_defaults(func=run)


def _register_plugin(spec: str) -> str:
    import importlib

    from nii.learn.plugins import ModelError, register_detector

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelError(f"--plugin {spec!r} must be MODULE:FUNCTION")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"--plugin {spec!r} cannot be imported: {exc}") from exc
    register_detector(attribute, function, replace=True)
    return attribute


def _command(args: argparse.Namespace) -> str:
    """Return the ``nii bench`` command line that reproduces this run (for the model cards)."""
    import shlex

    parts = ["nii", "bench", "--suite" if args.suite else "--scans", args.suite or args.scans, "--out", args.out]
    if args.models is not None:
        parts += ["--models", *args.models]
    for spec in args.plugin:
        parts += ["--plugin", spec]
    if args.no_physics:
        parts.append("--no-physics")
    parts.append("--update-cards")
    return " ".join(shlex.quote(str(p)) for p in parts)


def _set_threads(threads: int) -> None:
    """Limit torch to ``threads`` CPU threads when torch is installed (it is imported anyway by the models)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(max(1, int(threads)))


def run(args: argparse.Namespace) -> int:
    """Run ``nii bench``; return the exit status (0, or 2 on error)."""
    from pathlib import Path

    from nii.learn.bench import run_bench
    from nii.learn.dataset import load_scan_directory

    out = Path(args.out)
    _set_threads(args.threads)
    plugins = [_register_plugin(spec) for spec in args.plugin]
    bars = show_progress(args)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"bench: {message}", file=sys.stderr if bars else sys.stdout, flush=True)

    if args.suite:
        from nii.cli.simulate import suite_path
        from nii.simulate.suite import load_suite, run_suite

        scans = out / "scans"
        suite = load_suite(suite_path(args.suite))
        if not (scans.is_dir() and any(scans.rglob("*.truth.json"))):
            log(f"simulating suite {suite.name} ({len(suite.scans)} scans) into {scans}/")
            run_suite(suite, scans, workers=args.workers, progress=bars)
        suite_name = suite.name
    else:
        scans = Path(args.scans)
        suite_name = scans.name

    def wrap(items, label):
        return progress_bar(items, total=len(items), desc=f"bench {label}", enabled=bars)

    log(f"correcting and discriminating the scans of {scans}/ (cached beside each scan)")
    samples = load_scan_directory(scans, progress=wrap)
    detectors = None if args.models is None else list(args.models) + [p for p in plugins if p not in args.models]
    report = run_bench(samples, out, detectors=detectors, physics=not args.no_physics, suite=suite_name,
                       log=log, progress=wrap)
    for name, figures in report.detectors.items():
        auc = figures.get("roc_auc")
        say(args, f"{name}: ROC AUC {auc if auc is None else round(auc, 3)}, mAP@0.5 {round(figures['map50'], 3)}")
    for name, messages in report.errors.items():
        print(f"nii bench: {name}: {len(messages)} error(s), first: {messages[0]}", file=sys.stderr)
    say(args, f"wrote {out / 'bench.md'}, {out / 'bench.json'}, {out / 'roc.png'}")
    if args.update_cards:
        from nii.learn.bench import update_model_cards

        for card in update_model_cards(report, _command(args)):
            say(args, f"updated {card}")
    return 0
