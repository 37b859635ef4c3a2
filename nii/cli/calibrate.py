"""``nii calibrate WEDGE.nxr [WEDGE2.nxr ...] -o C.json``: calibration from step-wedge scans."""

from __future__ import annotations

import argparse

from nii.cli import add_backend_arguments
from nii.cli._conventions import (
    add_json_argument,
    add_progress_arguments,
    check_output_file,
    plural,
    print_json,
    say,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand to the ``nii`` parser."""
    parser = subparsers.add_parser(
        "calibrate",
        help="build a material calibration from the scanner's step-wedge scans",
        description=(
            "Measure the attenuation of every phantom block of one or more NXR scans of kind "
            "'calibration' (step wedges of known materials) and write the calibration curves "
            "(alpha_L against alpha_H per material) as JSON. Exit 2 on an error."
        ),
    )
    parser.add_argument("wedges", nargs="+", metavar="WEDGE.nxr", help="step-wedge scans of one scanner")
    parser.add_argument("-o", "--output", required=True, metavar="C.json", help="calibration file to write")
    parser.add_argument(
        "--no-physics-assist",
        action="store_true",
        help="interpolate Z between the measured curves only (no physics reference elements)",
    )
    add_backend_arguments(parser)
    add_json_argument(parser, "a summary of the calibration (scanner, energies, curves, notes, output file)")
    add_progress_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Calibrate from ``args.wedges`` and write ``args.output``; return the exit status."""
    from pathlib import Path

    from nii.calibration import calibrate
    from nii.errors import NiiError

    output = check_output_file(args.output)
    if any(Path(w).resolve() == output.resolve() for w in args.wedges):
        raise NiiError(f"{output}: the output would overwrite an input scan; choose another -o path")
    calibration = calibrate(
        list(args.wedges),
        physics_assisted=not args.no_physics_assist,
        backend=args.backend,
        device=args.device,
    )
    calibration.save(output)
    measured = [c for c in calibration.curves if c.origin == "wedge"]
    summary = ", ".join(f"{c.name} (Z {c.zeff:.1f}, {plural(int(c.attenuation_high.size), 'step')})" for c in measured)
    say(args, f"calibration for {calibration.scanner_id} at {'/'.join(f'{e:g}' for e in calibration.energies_mev)} MeV: {summary}")
    for note in calibration.notes:
        say(args, f"note: {note}")
    say(args, f"wrote {output}")
    if args.json:
        print_json({
            "output": str(output),
            "scanner_id": calibration.scanner_id,
            "energies_mev": [float(e) for e in calibration.energies_mev],
            "curves": [{"name": c.name, "zeff": float(c.zeff), "origin": c.origin,
                        "steps": int(c.attenuation_high.size)} for c in calibration.curves],
            "notes": list(calibration.notes),
        })
    return 0
