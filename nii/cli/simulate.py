"""``nii simulate``: synthetic scans with ground truth.

One scene::

    nii simulate --container 40ft --cargo 03 --threat lead-block --seed 1 -o OUT.nxr
    nii simulate --container 20ft --cargo 44 --out DIR            # DIR/<scan id>.nxr

A suite (``seeds/suites/*.toml``, or a bare suite name), the calibration wedge set::

    nii simulate --suite seeds/suites/smoke.toml --out DIR --workers 2
    nii simulate --wedges --out DIR
    nii simulate --wedges --scanner-variant peer-384-63 --out DIR   # another gantry

Each scan writes ``SCAN.nxr``, ``SCAN.truth.json``, ``SCAN.truth.npz`` and, for
scenarios, ``SCAN.manifest.json``; a suite also writes ``DIR/suite.json``. Without
``-o``/``--out`` the outputs go to ``./nii-out/``. Existing files are never replaced
without ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run", "DEFAULT_OUT", "WEDGE_SUITE"]

#: Output folder used when neither -o nor --out is given.
DEFAULT_OUT = "nii-out"
#: Suite simulated by ``--wedges``.
WEDGE_SUITE = "wedges"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate scans (NXR) with ground truth",
        description="Simulate dual-energy scans of a scene, a suite of scenes or the calibration "
        "wedge set, writing NXR files with their ground truth and manifests.",
    )
    what = parser.add_argument_group("what to simulate (one scene, or --suite, or --wedges)")
    what.add_argument("--container", help="container type, e.g. 20ft, 40ft, 40hc, 22G1")
    what.add_argument("--cargo", help="HS chapter of the goods, e.g. 03, 44, 2523; 'none' for an empty container")
    what.add_argument("--threat", default="none", help="threat or concealment to hide (default: none)")
    what.add_argument("--threat-size", choices=("small", "medium", "large"), default="medium",
                      help="size of the threat (default: medium)")
    what.add_argument("--variant", default="honest",
                      help="manifest: honest, mass_underdeclared, material_mismatch, declared_empty")
    what.add_argument("--chassis", action="store_true", help="put the container on a trailer chassis")
    what.add_argument("--suite", help="suite TOML file (or the name of one in seeds/suites)")
    what.add_argument("--wedges", action="store_true", help="the calibration step-wedge set")
    what.add_argument("--only", nargs="+", metavar="ID", help="only these scan ids of the suite")
    parser.add_argument("--seed", type=int, default=0, help="seed of a single scene (default 0)")
    parser.add_argument("--scan-id", help="scan id of a single scene (default from its options)")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", dest="output", help="NXR file of a single scene")
    out.add_argument("--out", dest="out_dir", help=f"output folder (default ./{DEFAULT_OUT}/)")
    out.add_argument("--overwrite", action="store_true", help="replace existing files")
    scanner = parser.add_argument_group("scanner overrides (small scans)")
    scanner.add_argument("--channels", type=int, help="detector channels (the pitch grows to keep the height)")
    scanner.add_argument("--pulses", type=int, help="total pulses per scan (references included)")
    scanner.add_argument("--scanner-variant", metavar="NAME",
                         help="simulate on a scanner variant of seeds/scanner_variants.toml "
                         "(tune-00…, test-00…, peer-384-63, …) instead of the default scanner")
    parser.add_argument("--workers", type=int, default=1, help="processes for a suite (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``nii simulate``; return the exit status."""
    from nii.errors import SimulationError

    modes = sum([bool(args.suite), bool(args.wedges), bool(args.container or args.cargo)])
    if modes != 1:
        raise SimulationError(
            "give exactly one of: --container and --cargo (one scene), --suite FILE, or --wedges")
    if args.suite or args.wedges:
        if args.output:
            raise SimulationError("-o names one NXR file; a suite needs --out DIR")
        return _run_suite(args)
    return _run_scene(args)


def _run_suite(args: argparse.Namespace) -> int:
    import sys

    from nii.simulate.suite import load_suite, run_suite

    suite = load_suite(args.suite or WEDGE_SUITE, variant=getattr(args, "scanner_variant", None))
    suite = suite.with_scanner(channels=args.channels, pulses=args.pulses)
    out_dir = Path(args.out_dir or DEFAULT_OUT)
    entries = run_suite(suite, out_dir, workers=args.workers, overwrite=args.overwrite,
                        progress=not args.no_progress and sys.stderr.isatty(), only=args.only)
    inspect = sum(1 for e in entries if e.get("expected_verdict") == "inspect")
    print(f"simulated {len(entries)} scan(s) of suite {suite.name} into {out_dir}/ "
          f"({inspect} expected to raise an inspection); index: {out_dir / 'suite.json'}")
    return 0


def _run_scene(args: argparse.Namespace) -> int:
    from nii.errors import SimulationError
    from nii.simulate.run import simulate_scan
    from nii.simulate.scanner import ScannerConfig
    from nii.simulate.suite import build_scene

    if not (args.container and args.cargo):
        raise SimulationError("one scene needs both --container and --cargo")
    if args.output and args.out_dir:
        raise SimulationError("give either -o FILE or --out DIR, not both")
    if args.seed < 0:
        raise SimulationError(f"--seed must be a non-negative integer, got {args.seed}")
    base = ScannerConfig()
    if getattr(args, "scanner_variant", None):
        from nii.simulate.variants import scanner_variant

        base = scanner_variant(args.scanner_variant).config
    config = base.scaled(channels=args.channels, pulses=args.pulses)
    described = "-".join(["sim", str(args.container), str(args.cargo), str(args.threat), f"s{args.seed}"])
    if args.output:
        nxr = Path(args.output)
        if nxr.suffix != ".nxr":
            raise SimulationError(f"{nxr}: the output file should end in .nxr")
        scan_id = args.scan_id or nxr.stem
    else:
        scan_id = args.scan_id or described.replace("/", "_")
        nxr = Path(args.out_dir or DEFAULT_OUT) / f"{scan_id}.nxr"
    scenario = build_scene("scenario", {"container": args.container, "cargo_chapter": args.cargo,
                                        "threat": args.threat, "threat_size": args.threat_size,
                                        "variant": args.variant, "chassis": args.chassis}, args.seed)
    result = simulate_scan(scenario, config, args.seed, out=nxr, scan_id=scan_id, overwrite=args.overwrite)
    truth = result.truth
    reasons = ", ".join(truth.expected_reasons) or "none"
    print(f"wrote {nxr} ({result.acquisition.pulse_index.size} pulses × {config.channels} channels); "
          f"expected verdict {truth.expected_verdict} (reasons: {reasons}); "
          f"truth: {nxr.with_name(nxr.stem + '.truth.json')}")
    return 0
