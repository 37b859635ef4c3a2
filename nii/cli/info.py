"""``nii info SCAN.nxr [--json]``: what is in a scan file and what was lost."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` subcommand to the ``nii`` parser."""
    parser = subparsers.add_parser(
        "info",
        help="summarise an NXR scan (pulses, references, speed, dropped pulses, CRC failures)",
        description=(
            "Summarise an NXR scan: kind, scanner, channels, pulses per energy, reference "
            "pulses, duration, conveyance speed and its variation, dropped pulses, CRC "
            "failures, truncation, and the records the reader's recovery dropped or set "
            "aside (copies, replayed, out-of-order, wild pulse indices; docs/nxr-recovery.md). "
            "Exit 2 on an unreadable file or one that is not a regular file."
        ),
    )
    parser.add_argument("scan", metavar="SCAN.nxr", help="the NXR file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary of ``args.scan``; return the exit status."""
    import json

    from nii.info import format_summary, scan_summary

    summary = scan_summary(args.scan)
    if args.json:
        print(json.dumps(_json_safe(summary)))
    else:
        print(format_summary(summary))
    return 0


def _json_safe(value):
    """Replace non-finite floats by None so the output is strict JSON."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value
