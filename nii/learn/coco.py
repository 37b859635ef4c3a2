"""Export scans with ground truth to COCO JSON + 16-bit TIFF, so other frameworks can train.

Layout written under ``OUT``::

    OUT/annotations.json       COCO: images, annotations (bbox [x, y, w, h] = [col0, row0, w, h]),
                               categories (one per reason code)
    OUT/images/SCAN.tif        uint16, 2 planes (α_H, α_L), planar (C, rows, columns)

The TIFF stores ``round((α + offset) × scale)`` clipped to 0…65535; each image entry
carries ``attenuation_scale`` and ``attenuation_offset`` so that
``α = value / scale − offset`` (with the defaults, α from −0.5 to 15.88 in steps of
1/4000, finer than the α noise of any real scanner). Command line::

    python -m nii.learn.coco --data DIR --out OUT
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import NiiError
from nii.io_utils import atomic_write_bytes, atomic_write_text

from .sample import ScanSample

__all__ = ["export_coco", "read_coco_attenuation", "ATTENUATION_SCALE", "ATTENUATION_OFFSET"]

#: Counts per unit of α in the exported TIFF.
ATTENUATION_SCALE = 4000.0
#: Offset added to α before scaling (keeps small negative noise values).
ATTENUATION_OFFSET = 0.5


def _safe_name(scan_id: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in scan_id).strip(".")
    return name or "scan"


def export_coco(
    samples: Sequence[ScanSample],
    out_dir: str | os.PathLike,
    *,
    attenuation_scale: float = ATTENUATION_SCALE,
    attenuation_offset: float = ATTENUATION_OFFSET,
) -> Path:
    """Write COCO annotations and 16-bit TIFF images of ``samples`` into ``out_dir``.

    Parameters
    ----------
    samples : sequence of ScanSample
        Scans with ground-truth boxes (``row0, col0, row1, col1`` pixels).
    out_dir : path-like
        Output folder (created); files are written atomically.
    attenuation_scale : float
        TIFF counts per unit of α (dimensionless).
    attenuation_offset : float
        α offset (dimensionless) added before scaling.

    Returns
    -------
    pathlib.Path
        Path of ``annotations.json``.

    Raises
    ------
    NiiError
        If there is no sample or two samples share a scan id.
    """
    import tifffile

    if not samples:
        raise NiiError("nothing to export: no scans")
    if attenuation_scale <= 0:
        raise NiiError(f"attenuation_scale must be positive, got {attenuation_scale}")
    out = Path(out_dir)
    reasons = sorted({reason for sample in samples for reason in sample.box_reasons})
    category_of = {reason: index + 1 for index, reason in enumerate(reasons)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    names: set[str] = set()
    for image_id, sample in enumerate(samples, start=1):
        name = _safe_name(sample.scan_id)
        if name in names:
            raise NiiError(f"two scans export to the same file name {name!r} (scan id {sample.scan_id!r})")
        names.add(name)
        planes = np.stack([sample.attenuation_high, sample.attenuation_low]).astype(np.float64)
        counts = np.clip(np.rint((np.nan_to_num(planes) + attenuation_offset) * attenuation_scale), 0, 65535).astype(np.uint16)
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, counts, photometric="minisblack", planarconfig="separate",
                         metadata={"axes": "CYX"})
        file_name = f"images/{name}.tif"
        atomic_write_bytes(out / file_name, buffer.getvalue())
        rows, cols = sample.shape
        images.append({
            "id": image_id, "file_name": file_name, "height": rows, "width": cols,
            "scan_id": sample.scan_id, "verdict": "inspect" if sample.label else "clear",
            "channels": ["attenuation_high", "attenuation_low"],
            "attenuation_scale": attenuation_scale, "attenuation_offset": attenuation_offset,
            "row_height_mm": sample.row_height_mm,
        })
        for (row0, col0, row1, col1), reason, material in zip(sample.boxes.tolist(), sample.box_reasons, sample.box_materials, strict=True):
            width, height = col1 - col0, row1 - row0
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category_of[reason],
                "bbox": [col0, row0, width, height], "area": width * height, "iscrowd": 0,
                "segmentation": [[col0, row0, col1, row0, col1, row1, col0, row1]],
                "material": material or None,
            })
    document = {
        "info": {"description": "NII dual-energy cargo scans (α = −ln T, planes: high, low energy)",
                 "version": "1", "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": index, "name": reason, "supercategory": "threat"} for reason, index in category_of.items()],
    }
    return atomic_write_text(out / "annotations.json", json.dumps(document, indent=1) + "\n")


def read_coco_attenuation(root: str | os.PathLike, image: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Read back α_H and α_L (float32, rows × columns) of one exported COCO image entry."""
    import tifffile

    path = Path(root) / image["file_name"]
    try:
        counts = tifffile.imread(path)
    except (OSError, ValueError) as exc:
        raise NiiError(f"{path}: cannot read the exported TIFF ({exc})") from exc
    if counts.shape != (2, image["height"], image["width"]):
        raise NiiError(f"{path}: expected 2 × {image['height']} × {image['width']} planes, got {counts.shape}")
    alpha = counts.astype(np.float32) / float(image["attenuation_scale"]) - float(image["attenuation_offset"])
    return alpha[0], alpha[1]


def main(argv: list[str] | None = None) -> int:
    """``python -m nii.learn.coco --data DIR --out OUT``: export a simulated suite."""
    parser = argparse.ArgumentParser(prog="python -m nii.learn.coco", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of simulated scans with ground truth")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    from .dataset import load_scan_directory

    try:
        path = export_coco(load_scan_directory(args.data), args.out)
    except NiiError as exc:
        print(f"nii.learn.coco: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
