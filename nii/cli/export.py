"""``nii export coco SIMULATED_DIR --out DIR``: simulated scans with ground truth as a COCO data set.

Writes ``DIR/annotations.json`` (one image per scan; category ids fixed by
:data:`nii.learn.coco.CATEGORY_IDS`; duplicate truth boxes merged as ``nii bench``
merges them), ``DIR/images/SCAN.png`` (8-bit RGB view: what torchvision's
``CocoDetection`` loads) and ``DIR/high/SCAN.png``, ``DIR/low/SCAN.png`` (16-bit α per
energy). See :mod:`nii.learn.coco`. Needs the ``torch`` extra (the scans are read
through :mod:`nii.learn.dataset`).
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run_coco"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand (``nii export coco``)."""
    parser = subparsers.add_parser(
        "export",
        help="export simulated scans with ground truth to a standard format (COCO)",
        description="Export simulated scans with their ground truth to a format other tools read.",
    )
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    coco = formats.add_parser(
        "coco",
        help="COCO detection data set (annotations.json, RGB views, 16-bit α per energy)",
        description=(
            "Write DIR/annotations.json (COCO: one image per scan, bbox [x, y, w, h] in pixels, "
            "one category per reason code with fixed ids), DIR/images/SCAN.png (8-bit RGB view "
            "that torchvision's CocoDetection loads) and DIR/high/SCAN.png, DIR/low/SCAN.png "
            "(16-bit grayscale: alpha = value / attenuation_scale - attenuation_offset). "
            "Scans are corrected once and cached beside them (SCAN.analysed.npz). Exit 2 on an error."
        ),
    )
    coco.add_argument("data", metavar="SIMULATED_DIR", help="folder written by 'nii simulate' (searched recursively)")
    coco.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    coco.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    coco.set_defaults(func=run_coco)


def run_coco(args: argparse.Namespace) -> int:
    """Run ``nii export coco``; return the exit status (0, or 2 on error)."""
    from nii.cli._conventions import plural
    from nii.learn.coco import export_simulated

    path, images, boxes = export_simulated(args.data, args.out)
    if not args.quiet:
        print(f"wrote {path} ({plural(images, 'image')}, {plural(boxes, 'box', 'boxes')})")
    return 0
