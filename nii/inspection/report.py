"""The outputs of one inspection: ``verdict.json`` and ``evidence.png``, written atomically.

:func:`analyse_scan` runs :func:`nii.inspection.pipeline.run_inspection`;
:func:`write_outputs` writes the verdict and the evidence image (pseudo-colour by
material class, shaded by attenuation, numbered boxes on the regions and a legend of
the reasons). The image is drawn by :func:`nii.render.evidence_png` when that module
is installed; otherwise by the small renderer here, so that an inspection always
leaves its evidence.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nii.classes import CLASS_NAMES
from nii.inspection.pipeline import InspectionResult, run_inspection
from nii.inspection.verdict import Verdict
from nii.io_utils import atomic_write_bytes, atomic_write_text

__all__ = [
    "VERDICT_FILE",
    "EVIDENCE_FILE",
    "analyse_scan",
    "write_outputs",
    "evidence_png",
    "render_evidence",
    "save_outputs",
]

VERDICT_FILE = "verdict.json"
EVIDENCE_FILE = "evidence.png"

#: Class colours of the contract (RGB): white/grey, orange, green, blue, violet, black.
_CLASS_RGB = np.array(
    [[225, 225, 225], [245, 140, 30], [60, 170, 60], [40, 90, 220], [150, 50, 200], [0, 0, 0]], np.float32
)
_BOX_RGB = (230, 20, 20)
#: Widest evidence image (columns); longer scans are decimated for the picture only.
_MAX_WIDTH = 4096


def analyse_scan(scan_path: Any, manifest_path: Any, *, calibration: Any = None, backend: str = "numpy",
                 models: Any = (), device: str | None = None) -> InspectionResult:
    """Inspect one scan; keep the image and map for the evidence (see :func:`run_inspection`)."""
    return run_inspection(scan_path, manifest_path, calibration=calibration, backend=backend, models=models,
                          device=device)


def _fallback_png(image: Any, material_map: Any, verdict: Verdict) -> bytes:
    from PIL import Image, ImageDraw

    classes = np.asarray(material_map.classes, dtype=np.uint8)
    transmission = np.asarray(getattr(image, "transmission_high", np.exp(-np.asarray(image.attenuation_high))), np.float32)
    step = max(1, int(np.ceil(classes.shape[1] / _MAX_WIDTH)))
    classes = classes[:, ::step]
    shade = np.clip(np.nan_to_num(transmission[:, ::step], nan=0.0), 0.0, 1.0) ** 0.35
    rgb = _CLASS_RGB[np.minimum(classes, len(_CLASS_RGB) - 1)] * (0.25 + 0.75 * shade[..., None])
    rgb[classes == 0] = 255.0 * (0.55 + 0.45 * shade[classes == 0, None])
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    lines = [f"{verdict.scan_id}: {verdict.verdict.upper()}  score {verdict.score:.2f}"]
    lines += [f"[{reason.code}] {reason.message}" for reason in verdict.reasons]
    legend_height = 14 * (len(lines) + 1)
    canvas = Image.new("RGB", (picture.width, picture.height + legend_height), (255, 255, 255))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for number, region in enumerate(verdict.regions, start=1):
        row0, col0, row1, col1 = region.bbox
        box = (col0 // step, row0, max(col0 // step + 1, (col1 - 1) // step), max(row0 + 1, row1 - 1))
        draw.rectangle(box, outline=_BOX_RGB, width=2)
        draw.text((box[0] + 3, max(box[1] - 12, 0)), str(number), fill=_BOX_RGB)
    for index, line in enumerate(lines):
        draw.text((4, picture.height + 4 + 14 * index), line, fill=(0, 0, 0))
    legend = "  ".join(f"{name}" for name in CLASS_NAMES.values())
    draw.text((4, picture.height + 4 + 14 * len(lines)), f"classes: {legend}", fill=(60, 60, 60))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def evidence_png(image: Any, material_map: Any, verdict: Verdict) -> bytes:
    """Return the evidence image as PNG bytes.

    Parameters
    ----------
    image : AnalysedImage
    material_map : MaterialMap
    verdict : Verdict
        Its regions are drawn as numbered boxes; its reasons make the legend.
    """
    try:
        import nii.render as render
    except ImportError:
        render = None  # type: ignore[assignment]
    if render is not None and hasattr(render, "evidence_png"):
        return render.evidence_png(image, material_map, verdict.to_dict())
    return _fallback_png(image, material_map, verdict)


def write_outputs(outcome: InspectionResult, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``out_dir/verdict.json`` and ``out_dir/evidence.png`` atomically.

    Returns
    -------
    verdict_path, evidence_path : pathlib.Path
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    evidence = atomic_write_bytes(folder / EVIDENCE_FILE, evidence_png(outcome.image, outcome.material_map, outcome.verdict))
    from nii.review.page import write_review_page

    write_review_page(outcome, folder)  # review.html before verdict.json: resuming looks for the latter
    verdict = atomic_write_text(folder / VERDICT_FILE, outcome.verdict.to_json())
    return verdict, evidence


# --------------------------------------------------------------------------- public API
# ``nii.render_evidence`` and ``InspectionResult.save`` (docs/api.md).


def render_evidence(
    image: Any,
    material_map: Any,
    verdict: Verdict | Mapping[str, Any] | None = None,
    *,
    path: str | os.PathLike | None = None,
) -> bytes:
    """Draw the evidence image of an inspection and return it as PNG bytes.

    The same picture ``nii inspect`` writes as ``evidence.png``: pseudo-colour by
    material class, shaded by attenuation, the verdict's regions as numbered boxes and
    its reasons in a legend.

    Parameters
    ----------
    image : AnalysedImage
        The corrected image (:func:`nii.correction.correct`, or ``result.image``).
    material_map : MaterialMap
        Its material map (:func:`nii.discrimination.discriminate`, or ``result.material_map``).
    verdict : Verdict or mapping, optional
        The verdict (or its contract JSON, ``Verdict.to_dict()``); without it the image
        has no boxes and no reasons.
    path : path-like, optional
        Also write the PNG there, atomically (a temporary file in the same folder,
        then renamed).

    Returns
    -------
    bytes
        The PNG file's bytes.

    Examples
    --------
    >>> result = nii.run_inspection("SCAN.nxr", "SCAN.manifest.json")  # doctest: +SKIP
    >>> png = nii.render_evidence(result.image, result.material_map, result.verdict)  # doctest: +SKIP
    """
    if isinstance(verdict, Verdict):
        png = evidence_png(image, material_map, verdict)
    else:
        import nii.render as render

        png = render.evidence_png(image, material_map, None if verdict is None else dict(verdict))
    if path is not None:
        atomic_write_bytes(path, png)
    return png


def save_outputs(
    result: InspectionResult,
    folder: str | os.PathLike,
    *,
    evidence: bool = True,
    dicos: bool = False,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> list[Path]:
    """Write an inspection's outputs into a folder, each file atomically.

    What ``nii inspect`` writes: ``verdict.json`` (the contract's JSON), with
    ``evidence`` the evidence image ``evidence.png``, with ``dicos`` the DICOS files
    ``dx_high.dcs``, ``dx_low.dcs`` and ``tdr.dcs``
    (:func:`nii.inspection.dicos_export.export_dicos`). ``verdict.json`` is written
    last, so that a folder holding it holds the other outputs too (a batch resumes
    on it). Each file goes to a temporary file in the folder and is renamed into
    place: a reader never sees half a file.

    Parameters
    ----------
    result : InspectionResult
        From :func:`nii.inspection.run_inspection` (``nii.run_inspection``).
    folder : path-like
        Output folder; created if missing. Files of the same names are replaced.
    evidence : bool
        Write ``evidence.png``.
    dicos : bool
        Write the DICOS DX and TDR files (needs pydicom, a dependency of ``nii``).
    started, finished : datetime, optional
        Processing times recorded in the TDR; default: ``finished`` now and ``started``
        the result's total stage time before it.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order written (``verdict.json`` last).

    Raises
    ------
    nii.errors.NiiError
        If ``folder`` exists and is not a folder.
    scanner_io.DicosError
        If the DICOS export fails.
    """
    from nii.errors import NiiError

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NiiError(f"{out}: the outputs go into a folder, and this is a file")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if dicos:
        from nii.inspection.dicos_export import export_dicos

        finished = finished or datetime.now(timezone.utc)
        started = started or finished - timedelta(seconds=sum(result.timings_s.values()))
        container_id = getattr(result.manifest, "container_id", None) or None
        written += export_dicos(
            result.image, result.verdict, out, started=started, finished=finished, ooi_id=container_id
        )
    if evidence:
        written.append(atomic_write_bytes(out / EVIDENCE_FILE, evidence_png(result.image, result.material_map, result.verdict)))
    written.append(atomic_write_text(out / VERDICT_FILE, result.verdict.to_json()))
    return written
