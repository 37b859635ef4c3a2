"""Export scans with ground truth as a COCO detection data set that other frameworks read.

Layout written under ``OUT``::

    OUT/annotations.json       COCO: one image entry per scan, its annotations
                               (bbox [x, y, w, h] = [col0, row0, w, h] in pixels) and the
                               categories (every reason code, ids from CATEGORY_IDS)
    OUT/images/SCAN.png        8-bit RGB view of the scan: what ``file_name`` names and
                               what torchvision's ``CocoDetection`` loads as it is
    OUT/high/SCAN.png          16-bit grayscale α_H (high energy), exact to 1/4000
    OUT/low/SCAN.png           16-bit grayscale α_L (low energy)

One image entry per scan (not per energy), so every object is annotated once and
COCO's figures count it once. The entry's ``energies`` lists the two 16-bit images:
read them with :func:`read_coco_attenuation`, or with Pillow (mode ``I;16``), and get
``α = value / attenuation_scale − attenuation_offset`` (with the defaults α from −0.5 to
15.88 in steps of 1/4000, finer than the α noise of any real scanner). torchvision's
``CocoDetection`` converts every image to 8-bit RGB, which would clip a 16-bit image,
hence the RGB view for it: R = α_H × 25.5 and G = α_L × 25.5 (α 0…10 → 0…255), B = 127.5 ×
(α_L/α_H) (the ratio α_L/α_H from 0…2 → 0…255; 128 where α_H < 0.05): the
zoo's ``alpha_ratio`` features (:mod:`nii.learn.features`) at ``alpha_scale`` 10.

Category ids are fixed by :data:`CATEGORY_IDS` (one per reason code of
:mod:`nii.reasons`, never renumbered: a new code gets the next free id), and every
export lists all of them, so two exports share their ids. Ground-truth boxes that
describe one object twice (a lead block as ``high_z`` and as the unreadable area it
causes) are merged as ``nii bench`` merges them (:func:`nii.learn.metrics.merge_duplicate_box_groups`);
the merged box keeps the reason and material of the first one in the truth.

Command line: ``nii export coco SIMULATED_DIR --out DIR`` (or ``python -m nii.learn.coco``).
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

__all__ = [
    "export_coco",
    "export_simulated",
    "read_coco_attenuation",
    "coco_categories",
    "coco_annotations",
    "CATEGORY_IDS",
    "ATTENUATION_SCALE",
    "ATTENUATION_OFFSET",
    "RGB_ALPHA_MAX",
]

#: Counts per unit of α in the exported 16-bit images.
ATTENUATION_SCALE = 4000.0
#: Offset added to α before scaling (keeps small negative noise values).
ATTENUATION_OFFSET = 0.5
#: α that maps to 255 in the R and G channels of the 8-bit RGB view.
RGB_ALPHA_MAX = 10.0

#: COCO category id of every reason code. Append only: an id, once given, is never
#: changed or reused, so exports made before and after a new code agree.
CATEGORY_IDS: dict[str, int] = {
    "DECLARED_EMPTY_NOT_EMPTY": 1,
    "MASS_MISMATCH": 2,
    "MATERIAL_MISMATCH": 3,
    "UNDECLARED_HIGH_Z": 4,
    "CONCEALMENT_ANOMALY": 5,
    "STRUCTURE_ANOMALY": 6,
    "UNREADABLE_REGION": 7,
    "SCAN_INCOMPLETE": 8,
}


def coco_categories() -> list[dict[str, Any]]:
    """Return the COCO ``categories``: every reason code of :mod:`nii.reasons`, by id.

    Raises
    ------
    NiiError
        If a reason code has no id in :data:`CATEGORY_IDS` (give it the next free one).
    """
    from nii.reasons import REASON_CODES

    missing = [code for code in REASON_CODES if code not in CATEGORY_IDS]
    if missing:
        raise NiiError(f"reason code(s) {', '.join(missing)} have no COCO category id: "
                       "add them to nii.learn.coco.CATEGORY_IDS with the next free ids")
    codes = sorted(set(REASON_CODES), key=CATEGORY_IDS.__getitem__)
    return [{"id": CATEGORY_IDS[code], "name": code, "supercategory": "reason"} for code in codes]


def _safe_name(scan_id: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in scan_id).strip(".")
    return name or "scan"


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    if array.ndim == 2:  # uint16 grayscale
        Image.fromarray(np.ascontiguousarray(array, dtype=np.uint16)).save(buffer, format="PNG")
    else:
        Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb_view(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    from .features import feature_stack

    features = feature_stack(high, low, feature_set="alpha_ratio", alpha_scale=RGB_ALPHA_MAX)
    rgb = np.stack([np.clip(features[0], 0.0, 1.0) * 255.0, np.clip(features[1], 0.0, 1.0) * 255.0,
                    (features[2] + 1.0) * 127.5], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def coco_annotations(sample: ScanSample, category_of: dict[str, int]) -> list[dict[str, Any]]:
    """Return the COCO annotations of one scan (no ``id``/``image_id`` yet), duplicates merged.

    Parameters
    ----------
    sample : ScanSample
        Its ``boxes`` (``row0, col0, row1, col1`` pixels), ``box_reasons`` and ``box_materials``.
    category_of : dict
        Reason code → category id.

    Raises
    ------
    NiiError
        If a box's reason code has no category.
    """
    from .metrics import merge_duplicate_box_groups

    annotations = []
    for box, members in merge_duplicate_box_groups(sample.boxes):
        row0, col0, row1, col1 = (int(round(v)) for v in box)
        first = members[0]
        reason = sample.box_reasons[first]
        if reason not in category_of:
            raise NiiError(f"scan {sample.scan_id}: box reason {reason!r} is not a reason code "
                           f"(known: {', '.join(category_of)})")
        material = next((sample.box_materials[i] for i in members if sample.box_materials[i]), "")
        width, height = col1 - col0, row1 - row0
        annotations.append({
            "category_id": category_of[reason],
            "bbox": [col0, row0, width, height], "area": width * height, "iscrowd": 0,
            "segmentation": [[col0, row0, col1, row0, col1, row1, col0, row1]],
            "material": material or None,
            "merged_from": len(members),
        })
    return annotations


def export_coco(
    samples: Sequence[ScanSample],
    out_dir: str | os.PathLike,
    *,
    attenuation_scale: float = ATTENUATION_SCALE,
    attenuation_offset: float = ATTENUATION_OFFSET,
) -> Path:
    """Write the COCO annotations and the images of ``samples`` into ``out_dir``.

    Parameters
    ----------
    samples : sequence of ScanSample
        Scans with ground-truth boxes (``row0, col0, row1, col1`` pixels).
    out_dir : path-like
        Output folder (created); files are written atomically. See the module
        docstring for the layout.
    attenuation_scale : float
        Counts per unit of α in the 16-bit images (dimensionless).
    attenuation_offset : float
        α offset (dimensionless) added before scaling.

    Returns
    -------
    pathlib.Path
        Path of ``annotations.json``.

    Raises
    ------
    NiiError
        If there is no sample, two samples export to one file name, or a box's reason
        is not a reason code.
    """
    if not samples:
        raise NiiError("nothing to export: no scans")
    if attenuation_scale <= 0:
        raise NiiError(f"attenuation_scale must be positive, got {attenuation_scale}")
    out = Path(out_dir)
    categories = coco_categories()
    category_of = {category["name"]: category["id"] for category in categories}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    names: set[str] = set()
    for image_id, sample in enumerate(samples, start=1):
        name = _safe_name(sample.scan_id)
        if name in names:
            raise NiiError(f"two scans export to the same file name {name!r} (scan id {sample.scan_id!r})")
        names.add(name)
        high = np.nan_to_num(np.asarray(sample.attenuation_high, dtype=np.float64))
        low = np.nan_to_num(np.asarray(sample.attenuation_low, dtype=np.float64))
        energies_mev = list(sample.energies_mev or (None, None))
        energies = []
        for label, plane, energy in (("high", high, energies_mev[0]), ("low", low, energies_mev[-1])):
            counts = np.clip(np.rint((plane + attenuation_offset) * attenuation_scale), 0, 65535).astype(np.uint16)
            atomic_write_bytes(out / label / f"{name}.png", _png(counts))
            energies.append({"name": label, "file_name": f"{label}/{name}.png", "energy_mev": energy})
        file_name = f"images/{name}.png"
        atomic_write_bytes(out / file_name, _png(_rgb_view(high, low)))
        rows, cols = sample.shape
        images.append({
            "id": image_id, "file_name": file_name, "height": rows, "width": cols,
            "scan_id": sample.scan_id, "verdict": "inspect" if sample.label else "clear",
            "rgb": {"R": f"alpha_high * {255 / RGB_ALPHA_MAX:g}", "G": f"alpha_low * {255 / RGB_ALPHA_MAX:g}",
                    "B": "(alpha_low / alpha_high) * 127.5, 128 where alpha_high < 0.05"},
            "energies": energies,
            "attenuation_scale": attenuation_scale, "attenuation_offset": attenuation_offset,
            "row_height_mm": sample.row_height_mm,
        })
        for annotation in coco_annotations(sample, category_of):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **annotation})
    document = {
        "info": {"description": "NII dual-energy cargo scans: RGB views (file_name) and 16-bit α per energy "
                                "(images[].energies); α = value / attenuation_scale - attenuation_offset",
                 "version": "2", "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    return atomic_write_text(out / "annotations.json", json.dumps(document, indent=1) + "\n")


def read_coco_attenuation(root: str | os.PathLike, image: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Read back α_H and α_L (float32, rows × columns) of one exported COCO image entry.

    Parameters
    ----------
    root : path-like
        The export folder (holding ``annotations.json``).
    image : dict
        One entry of ``annotations.json``'s ``images``.

    Raises
    ------
    NiiError
        If an image is missing, unreadable or not of the entry's size.
    """
    from PIL import Image, UnidentifiedImageError

    planes = {}
    for entry in image.get("energies", []):
        path = Path(root) / entry["file_name"]
        try:
            with Image.open(path) as picture:
                counts = np.asarray(picture)
        except (OSError, UnidentifiedImageError) as exc:
            raise NiiError(f"{path}: cannot read the exported image ({exc})") from exc
        if counts.shape != (image["height"], image["width"]):
            raise NiiError(f"{path}: expected {image['height']} × {image['width']} pixels, got {counts.shape}")
        planes[entry["name"]] = counts.astype(np.float32) / float(image["attenuation_scale"]) - float(image["attenuation_offset"])
    if set(planes) != {"high", "low"}:
        raise NiiError(f"image {image.get('file_name')}: 'energies' must list a high and a low image")
    return planes["high"], planes["low"]


def export_simulated(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, int, int]:
    """Export every simulated scan with ground truth under ``data_dir``; return (annotations.json, images, boxes)."""
    from .dataset import load_scan_directory

    path = export_coco(load_scan_directory(data_dir), out_dir)
    document = json.loads(path.read_text(encoding="utf-8"))
    return path, len(document["images"]), len(document["annotations"])


def main(argv: list[str] | None = None) -> int:
    """``python -m nii.learn.coco --data DIR --out OUT``: export a simulated suite (as ``nii export coco``)."""
    parser = argparse.ArgumentParser(prog="python -m nii.learn.coco", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of simulated scans with ground truth")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        path, _, _ = export_simulated(args.data, args.out)
    except NiiError as exc:
        print(f"nii.learn.coco: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
