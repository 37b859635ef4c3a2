"""``nii render SCAN.nxr [--calibration C] [--verdict V.json] [--grey] -o IMAGE.png``."""

from __future__ import annotations

import argparse

from nii.cli import add_backend_arguments

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``render`` subcommand to the ``nii`` parser."""
    parser = subparsers.add_parser(
        "render",
        help="pseudo-colour (or grey) PNG of a scan, with the verdict's boxes",
        description=(
            "Render an NXR scan as a PNG: material pseudo-colour (orange organic, green "
            "inorganic, blue metal, violet hatched high-Z, black impenetrable) shaded by "
            "attenuation, or --grey levels; with --verdict, numbered boxes on its regions and "
            "its reasons in the legend. Exit 2 on an error."
        ),
    )
    parser.add_argument("scan", metavar="SCAN.nxr", help="the NXR scan")
    parser.add_argument("--calibration", metavar="C.json", help="calibration (default: physics model)")
    parser.add_argument("--verdict", metavar="V.json", help="verdict whose regions are boxed")
    parser.add_argument("--grey", action="store_true", help="grey levels of the high-energy attenuation")
    parser.add_argument("-o", "--output", required=True, metavar="IMAGE.png", help="PNG to write")
    parser.add_argument("--max-width", type=int, default=4096, help="widest picture (px); the true aspect ratio is kept")
    add_backend_arguments(parser)
    parser.set_defaults(func=run)


def _verdict(path: str | None) -> dict | None:
    import json
    from pathlib import Path

    from nii.errors import NiiError

    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NiiError(f"{path}: cannot read the verdict JSON ({exc})") from exc
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, list) or not all(
        isinstance(r, dict) and isinstance(r.get("bbox"), list) and len(r["bbox"]) == 4 for r in regions
    ):
        raise NiiError(f"{path}: not a verdict (needs 'regions' with 4-number 'bbox' lists)")
    return data


def _check_verdict_is_of(verdict: dict, path: str, scan) -> None:
    """Refuse a verdict computed from another scan: its scan_id, or its input sha256 when it records one, differ."""
    import sys

    from nii.errors import NiiError

    scan_id = scan.header.scan_id
    provenance = verdict.get("provenance")
    recorded = provenance.get("input_sha256") if isinstance(provenance, dict) else None
    if verdict.get("scan_id") != scan_id:
        raise NiiError(f"{path}: the verdict is of scan {verdict.get('scan_id')!r}, not of {scan_id!r} being rendered; give this scan's verdict.json")
    if recorded and recorded != scan.sha256:
        raise NiiError(f"{path}: the verdict was computed from a file with sha256 {recorded}, not from the scan being "
                       f"rendered ({scan.sha256}); give the verdict.json computed from this very file")
    if not recorded:
        print(f"nii render: warning: {path} records no input sha256; only its scan_id was checked", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Render ``args.scan`` to ``args.output``; return the exit status."""
    from pathlib import Path

    from nii.cli.discriminate import load_calibration_for
    from nii.correction import correct
    from nii.errors import NiiError
    from nii.io_utils import atomic_write_bytes
    from nii.render import evidence_png
    from scanner_io import load_scan

    output = Path(args.output)
    if Path(args.scan).resolve() == output.resolve():
        raise NiiError(f"{output}: the output would overwrite the input scan; choose another -o path")
    if args.max_width < 16:
        raise NiiError(f"--max-width must be at least 16 columns, got {args.max_width}")
    verdict = _verdict(args.verdict)
    scan = load_scan(args.scan)
    if verdict is not None:
        _check_verdict_is_of(verdict, args.verdict, scan)
    image = correct(scan, backend=args.backend, device=args.device)
    material_map = None
    if not args.grey:
        from nii.discrimination import discriminate

        calibration = load_calibration_for(scan, args.calibration)
        material_map = discriminate(image, calibration, backend=args.backend, device=args.device)
    verdict_for_picture = verdict if verdict is not None else {"scan_id": scan.header.scan_id, "regions": []}
    atomic_write_bytes(output, evidence_png(image, material_map, verdict_for_picture,
                                            max_width=args.max_width, grey=args.grey))
    print(f"wrote {output}")
    return 0
