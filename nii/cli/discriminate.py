"""``nii discriminate SCAN.nxr [--calibration C.json] -o MAP.npz``: the material map of a scan."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nii.cli import add_backend_arguments
from nii.cli._conventions import add_json_argument, check_output_file, print_json, say

__all__ = ["register", "run", "load_calibration_for"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``discriminate`` subcommand to the ``nii`` parser."""
    parser = subparsers.add_parser(
        "discriminate",
        help="effective Z and material class of every pixel of a scan (MAP.npz)",
        description=(
            "Correct an NXR scan and map its materials: writes MAP.npz with classes (uint8), "
            "zeff (float32, NaN for none/impenetrable), position_mm, channel, plus zeff_sigma "
            "and areal_density_g_cm2. Without --calibration the physics-model calibration for "
            "the scan's energies is used. Exit 2 on an error."
        ),
    )
    parser.add_argument("scan", metavar="SCAN.nxr", help="the NXR scan")
    parser.add_argument("--calibration", metavar="C.json", help="calibration from 'nii calibrate'")
    parser.add_argument("-o", "--output", required=True, metavar="MAP.npz", help="material map to write")
    add_backend_arguments(parser)
    add_json_argument(parser, "a summary of the map (scan, shape, calibration, class fractions, output file)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no messages on stdout (errors still go to stderr)")
    parser.set_defaults(func=run)


def load_calibration_for(scan: Any, path: str | None) -> Any:
    """Return the calibration at ``path`` checked against ``scan``, or the physics model.

    Prints on stderr which one is used when it is the physics model.
    """
    from nii.calibration import calibration_from_physics, load_calibration

    if path:
        calibration = load_calibration(path)
        calibration.check_compatible(scan.header, source=str(scan.path or scan.header.scan_id))
        return calibration
    print(
        "nii: no --calibration given: using the physics-model calibration "
        f"for {'/'.join(f'{e:g}' for e in scan.energies_mev[:2])} MeV (not measured on this scanner)",
        file=sys.stderr,
    )
    return calibration_from_physics(scan.header)


def run(args: argparse.Namespace) -> int:
    """Write the material map of ``args.scan``; return the exit status."""
    from pathlib import Path

    from nii.classes import CLASS_NAMES
    from nii.correction import correct
    from nii.discrimination import discriminate
    from nii.errors import NiiError
    from scanner_io import load_scan

    output = check_output_file(args.output)
    if Path(args.scan).resolve() == output.resolve():
        raise NiiError(f"{output}: the output would overwrite the input scan; choose another -o path")
    scan = load_scan(args.scan)
    calibration = load_calibration_for(scan, args.calibration)
    image = correct(scan, backend=args.backend, device=args.device)
    material_map = discriminate(image, calibration, backend=args.backend, device=args.device)
    material_map.save_npz(output)
    fractions = material_map.class_fractions()
    shares = ", ".join(f"{name} {100 * fractions[name]:.1f} %" for name in CLASS_NAMES.values())
    rows, columns = material_map.shape
    say(args, f"{scan.header.scan_id}: {rows} × {columns} pixels, calibration {calibration.source}: {shares}")
    say(args, f"wrote {output}")
    if args.json:
        print_json({
            "scan_id": scan.header.scan_id,
            "output": str(output),
            "shape": [int(rows), int(columns)],
            "calibration": str(calibration.source),
            "class_fractions": {name: float(fractions[name]) for name in CLASS_NAMES.values()},
        })
    return 0
