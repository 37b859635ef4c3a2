"""``nii calibrate WEDGE.nxr [WEDGE2.nxr ...] -o C.json``: calibration from step-wedge scans."""

from __future__ import annotations

import argparse

from nii.cli import add_backend_arguments
from nii.cli._conventions import (
    add_json_argument,
    add_progress_arguments,
    check_output_file,
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
            "Measure the mean transmission of every phantom block of one or more NXR scans of kind "
            "'calibration' (step wedges of known materials), fit the scanner model (each energy's "
            "spectrum filtration, process scales and scatter) to them, and write it as JSON with "
            "the steps, their residuals and a content digest. A physically wrong fit is refused. "
            "Exit 2 on an error."
        ),
    )
    parser.add_argument("wedges", nargs="+", metavar="WEDGE.nxr", help="step-wedge scans of one scanner")
    parser.add_argument("-o", "--output", required=True, metavar="C.json", help="calibration file to write")
    parser.add_argument(
        "--no-physics-assist",
        action="store_true",
        help="ignored (kept for old scripts): the fitted scanner model interpolates between materials",
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
    counts: dict[str, int] = {}
    for step in calibration.steps:
        counts[step["name"]] = counts.get(step["name"], 0) + 1
    summary = ", ".join(f"{name} ({count} steps)" for name, count in counts.items())
    say(args, f"calibration for {calibration.scanner_id} at {'/'.join(f'{e:g}' for e in calibration.energies_mev)} MeV: "
              f"{summary}; model fit RMS {100 * calibration.accuracy:.2f} % of alpha")
    if calibration.model is not None:
        for energy in calibration.model.energies:
            scales = ", ".join(f"{name} {value:.3f}" for name, value in zip(("photo", "compton", "pair"), energy.scales,
                                                                            strict=True))
            say(args, f"  {energy.endpoint_mev:g} MeV: filtration {energy.filtration_g_cm2:+.2f} g/cm2 W-equivalent, "
                      f"{scales}, scatter {energy.scatter:.1e}")
    for note in calibration.notes:
        say(args, f"note: {note}")
    say(args, f"wrote {output}")
    if args.json:
        print_json({
            "output": str(output),
            "scanner_id": calibration.scanner_id,
            "energies_mev": [float(e) for e in calibration.energies_mev],
            "curves": [{"name": c.name, "zeff": float(c.zeff), "origin": c.origin,
                        "steps": int(c.attenuation_high.size)} for c in calibration.curves or []],
            "fit_rms_alpha_rel": float(calibration.accuracy),
            "notes": list(calibration.notes),
        })
    return 0
