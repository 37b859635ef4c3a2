"""``nii demo``: the main job on a built-in default, end to end.

Simulates one container scan with the synthetic scanner (default: a 40 ft container of
frozen fish, HS chapter 03, with a lead block hidden in it), inspects it against its
manifest, and writes into ``--out``::

    DIR/scan/<scan id>.nxr             the raw scan (NXR), its manifest and ground truth
    DIR/verdict.json                   the verdict (inspection contract)
    DIR/evidence.png                   the pseudo-colour evidence image with boxes
    DIR/review.html                    the review page: open it from disk (pan, zoom, layers)

It prints the verdict's one-line summary and whether it agrees with the ground truth.
The exit status is 0 when the demo ran (whatever the verdict), 2 on an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]

DEFAULT_OUT = "nii-demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="simulate a container, inspect it, write the verdict, evidence image and review page",
        description="Simulate a container scan, inspect it against its manifest and write "
        "verdict.json, evidence.png and review.html (exit 0 when it ran, 2 on error).",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default ./{DEFAULT_OUT}); must be new or empty")
    parser.add_argument("--container", default="40ft", help="container type (default 40ft)")
    parser.add_argument("--cargo", default="03", help="HS chapter of the goods (default 03, fish)")
    parser.add_argument("--threat", default="lead-block",
                        help="threat from seeds/threats.toml, or 'none' (default lead-block)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--channels", type=int, help="fewer detector channels for a quicker demo")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``nii demo``; return 0 when the demo completed."""
    from nii.errors import NiiError
    from nii.inspection.report import analyse_scan, write_outputs
    from nii.simulate.run import simulate_scan
    from nii.simulate.scanner import ScannerConfig
    from nii.simulate.suite import build_scene

    out_dir = Path(args.out)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise NiiError(f"{out_dir}: the demo writes into a new or empty folder; choose another --out")
    if args.seed < 0:
        raise NiiError(f"--seed must be a non-negative integer, got {args.seed}")
    config = ScannerConfig().scaled(channels=args.channels)
    scenario = build_scene(
        "scenario",
        {"container": args.container, "cargo_chapter": args.cargo, "threat": args.threat},
        args.seed,
    )
    scan_id = f"demo-{args.container}-{args.cargo}-{args.threat}-s{args.seed}".replace("/", "_")
    scan_path = out_dir / "scan" / f"{scan_id}.nxr"
    simulated = simulate_scan(scenario, config, args.seed, out=scan_path, scan_id=scan_id)
    manifest_path = scan_path.with_name(f"{scan_id}.manifest.json")
    outcome = analyse_scan(scan_path, manifest_path)
    verdict_path, evidence_path = write_outputs(outcome, out_dir)
    truth = simulated.truth
    verdict = outcome.verdict
    expected = ", ".join(truth.expected_reasons) or "none"
    found = ", ".join(sorted({reason.code for reason in verdict.reasons})) or "none"
    agrees = "agrees" if verdict.verdict == truth.expected_verdict else "DISAGREES"
    print(f"simulated {scan_path}")
    print(verdict.summary())
    print(f"ground truth: {truth.expected_verdict} ({expected}); NII found: {found}; verdict {agrees}")
    print(f"wrote {verdict_path}, {evidence_path} and {verdict_path.with_name('review.html')} (open it in a browser)")
    return 0
