"""Export an inspection as DICOS: the analysed image (DX) and the verdict (TDR).

:func:`export_dicos` writes three files into a folder:

``dx_high.dcs``, ``dx_low.dcs``
    The analysed image as DICOS DX For Processing (SOP class
    ``1.2.840.10008.5.1.4.1.1.501.2.2``), **one instance per energy** (instance 1 the
    highest energy, instance 2 the next), in one series. Each holds the attenuation
    α = −ln T of its energy as 16-bit fixed point: ``α = stored / 4096 − 1`` (α from −1
    to 15, resolution 2.4e-4, far below the noise of α), recorded in NII's private
    block and applied by :func:`scanner_io.dicos.read_dicos`; ``exp(−α)`` is the
    transmission. Pixel Spacing is (row height at the scan plane, column pitch) in mm.
``tdr.dcs``
    The verdict as a DICOS Threat Detection Report (``.501.3``): Alarm Decision
    ``ALARM`` for ``inspect`` and ``CLEAR`` for ``clear``; one Threat Sequence item
    per verdict region (ROI base and extents = the region's bbox in pixels of the DX
    images, both referenced), plus one whole-image item for each raised reason that
    has no region, so that every reason reaches a DICOS consumer.

Why two instances rather than one two-frame instance: the DICOS DX IOD (like DICOM
DX) is single-frame, the Stratovan SDK reads DX pixel data as one 2-D image, and each
energy keeps its own KVP.

The mapping from the contract's reason codes to DICOS threat categories and
assessment flags is :data:`THREAT_CATEGORY_OF_REASON` and :func:`assessment_flag`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import generate_uid

from scanner_io import DicosError
from scanner_io.dicos import (
    QUANTITY_ATTENUATION,
    SOP_CLASS_DX_PROCESSING,
    DicosThreat,
    build_dx_dataset,
    build_tdr_dataset,
    write_dicos,
)

__all__ = [
    "ATTENUATION_PER_STORED_UNIT",
    "ATTENUATION_AT_STORED_ZERO",
    "DX_FILE_NAMES",
    "TDR_FILE_NAME",
    "THREAT_CATEGORY_OF_REASON",
    "assessment_flag",
    "threats_from_verdict",
    "export_dicos",
]

#: α of one stored unit in the DX files (1/4096): resolution 2.4e-4 in α.
ATTENUATION_PER_STORED_UNIT = 1.0 / 4096.0
#: α of stored value 0 (noise makes α slightly negative in air).
ATTENUATION_AT_STORED_ZERO = -1.0
#: DX file names, highest energy first.
DX_FILE_NAMES = ("dx_high.dcs", "dx_low.dcs")
TDR_FILE_NAME = "tdr.dcs"

#: DICOS Threat Category (4010,1012) of each reason code. Goods hidden from the
#: declaration are CONTRABAND; departures that may have an innocent cause are ANOMALY.
#: Unknown codes (a learned model's own) are ANOMALY.
THREAT_CATEGORY_OF_REASON = {
    "DECLARED_EMPTY_NOT_EMPTY": "CONTRABAND",
    "UNDECLARED_HIGH_Z": "CONTRABAND",
    "CONCEALMENT_ANOMALY": "CONTRABAND",
    "MASS_MISMATCH": "ANOMALY",
    "MATERIAL_MISMATCH": "ANOMALY",
    "STRUCTURE_ANOMALY": "ANOMALY",
    "UNREADABLE_REGION": "ANOMALY",
    "SCAN_INCOMPLETE": "ANOMALY",
}
#: Reasons whose regions the scan could not assess: the beam could not read them
#: (``UNREADABLE_REGION``) or the scan did not cover them (``SCAN_INCOMPLETE``).
_UNASSESSED = ("UNREADABLE_REGION", "SCAN_INCOMPLETE")
_FLAG_OF_SEVERITY = {"high": "HIGH_THREAT", "medium": "THREAT", "low": "THREAT"}


def assessment_flag(reason_code: str, severity: str | None) -> str:
    """Return the DICOS ATD Assessment Flag for a region's reason.

    Parameters
    ----------
    reason_code : str
        The region's reason code.
    severity : str or None
        Severity of that reason in the verdict (``low``/``medium``/``high``), or
        ``None`` when the verdict did not raise it.

    Returns
    -------
    str
        ``UNKNOWN`` for ``UNREADABLE_REGION`` (the beam could not see: nothing can be
        assessed) and ``SCAN_INCOMPLETE`` (the scan did not read it), ``NO_THREAT`` for
        a reason not raised, ``HIGH_THREAT`` for a high severity, ``THREAT`` otherwise.

    Examples
    --------
    >>> assessment_flag("UNDECLARED_HIGH_Z", "high")
    'HIGH_THREAT'
    >>> assessment_flag("UNREADABLE_REGION", "medium")
    'UNKNOWN'
    """
    if reason_code in _UNASSESSED:
        return "UNKNOWN"
    if severity is None:
        return "NO_THREAT"
    return _FLAG_OF_SEVERITY.get(severity, "THREAT")


def _verdict_dict(verdict: Any) -> dict[str, Any]:
    if isinstance(verdict, Mapping):
        return dict(verdict)
    to_dict = getattr(verdict, "to_dict", None)
    if to_dict is None:
        raise DicosError("cannot export DICOS: the verdict is neither a Verdict nor its to_dict() mapping.")
    return dict(to_dict())


def _probability(score: Any) -> float | None:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return min(max(value, 0.0), 1.0)


def threats_from_verdict(
    verdict: Mapping[str, Any] | Any,
    image_shape: tuple[int, int],
    *,
    processing_start: datetime | None = None,
    processing_end: datetime | None = None,
) -> list[DicosThreat]:
    """Turn a verdict's regions (and region-less reasons) into DICOS threats.

    Parameters
    ----------
    verdict : Verdict or mapping
        The verdict, or its contract JSON (``to_dict()``).
    image_shape : tuple of int
        (rows, columns) of the analysed image, in pixels; boxes are clipped to it.
    processing_start, processing_end : datetime, optional
        When the analysis ran; written as each PTO's processing times (the checks
        run over the whole image, so each PTO shares the whole interval).

    Returns
    -------
    list of DicosThreat
        PTO IDs 1, 2, ... in the order of the verdict's regions, then one whole-image
        threat per raised reason without a region.

    Raises
    ------
    DicosError
        If a region's bbox is not four numbers or the image shape is not two
        positive sizes.
    """
    data = _verdict_dict(verdict)
    rows, columns = (int(n) for n in image_shape)
    if rows <= 0 or columns <= 0:
        raise DicosError(f"cannot export DICOS: the image shape {image_shape!r} is empty.")
    reasons: dict[Any, Any] = {reason.get("code"): reason for reason in data.get("reasons", []) if isinstance(reason, Mapping)}
    threats: list[DicosThreat] = []
    covered: set[str] = set()
    for region in data.get("regions", []):
        code = str(region.get("reason", ""))
        bbox = region.get("bbox")
        if bbox is None or len(bbox) != 4:
            raise DicosError(f"cannot export DICOS: region {len(threats) + 1} has no 4-number bbox ({bbox!r}).")
        row0, col0, row1, col1 = (int(v) for v in bbox)
        row0, row1 = sorted((min(max(row0, 0), rows), min(max(row1, 0), rows)))
        col0, col1 = sorted((min(max(col0, 0), columns), min(max(col1, 0), columns)))
        reason = reasons.get(code)
        severity = None if reason is None else str(reason.get("severity"))
        covered.add(code)
        material = str(region.get("material", ""))
        description = code if reason is None else f"{code}: {reason.get('message', '')}"
        location = f"{material} region" if material else "region"
        bbox_mm = region.get("bbox_mm")
        if bbox_mm is not None and len(bbox_mm) == 4:
            z0, x0, z1, x1 = (float(v) for v in bbox_mm)
            location += f", {z0:.0f}-{z1:.0f} mm down from the top, conveyance position {x0:.0f}-{x1:.0f} mm"
        threats.append(
            DicosThreat(
                pto_id=len(threats) + 1,
                roi_base=(float(col0), float(row0), 0.0),
                roi_extents=(float(col1 - col0), float(row1 - row0), 1.0),
                category=THREAT_CATEGORY_OF_REASON.get(code, "ANOMALY"),
                assessment_flag=assessment_flag(code, severity),
                probability=_probability(region.get("score")),
                category_description=description,
                ability_assessment="SHIELD" if code == "UNREADABLE_REGION" else "NO_INTERFERENCE",
                location_description=location,
                processing_start=processing_start,
                processing_end=processing_end,
            )
        )
    for code, reason in reasons.items():
        if code in covered:
            continue
        threats.append(
            DicosThreat(
                pto_id=len(threats) + 1,
                roi_base=(0.0, 0.0, 0.0),
                roi_extents=(float(columns), float(rows), 1.0),
                category=THREAT_CATEGORY_OF_REASON.get(str(code), "ANOMALY"),
                assessment_flag=assessment_flag(str(code), str(reason.get("severity"))),
                probability=_probability(data.get("score")),
                category_description=f"{code}: {reason.get('message', '')}",
                ability_assessment="SHIELD" if code == "UNREADABLE_REGION" else "NO_INTERFERENCE",
                location_description="whole image",
                processing_start=processing_start,
                processing_end=processing_end,
            )
        )
    return threats


def _uid(*parts: Any) -> str:
    return generate_uid(entropy_srcs=[str(part) for part in parts])


def _software_version(provenance: Mapping[str, Any]) -> str:
    software = str(provenance.get("software") or "")
    if software.startswith("nii "):
        return software[4:]
    if software:
        return software
    from nii import __version__

    return __version__


def export_dicos(
    image: Any,
    verdict: Any,
    out_dir: str | os.PathLike,
    *,
    started: datetime | None = None,
    finished: datetime | None = None,
    ooi_id: str | None = None,
) -> list[Path]:
    """Write the analysed image as two DICOS DX files and the verdict as a DICOS TDR.

    Parameters
    ----------
    image : nii.correction.AnalysedImage
        The analysed image: ``attenuation_high``/``attenuation_low`` (α, rows ×
        columns), ``row_height_mm`` and ``column_pitch_mm`` (mm), ``position_mm``
        (mm, one per column), ``energies_mev`` (MeV, highest first), ``scan_id``.
    verdict : nii.inspection.Verdict or mapping
        The verdict of that image, or its contract JSON (``to_dict()``).
    out_dir : path-like
        Folder to write ``dx_high.dcs``, ``dx_low.dcs`` and ``tdr.dcs`` into
        (created if missing; existing files of those names are replaced atomically).
    started, finished : datetime, optional
        When the analysis started and ended (time-zone aware preferred); they give
        the TDR's processing times. Default: both now (processing time 0).
    ooi_id : str, optional
        Object of inspection ID, e.g. the container number; default the scan ID.

    Returns
    -------
    list of pathlib.Path
        ``[dx_high, dx_low, tdr]``.

    Raises
    ------
    scanner_io.DicosError
        If the image lacks two energies of equal shape, or the verdict cannot be
        mapped (a malformed bbox).

    Notes
    -----
    UIDs are derived from the content (generate_uid with entropy: input sha256,
    scan ID, the α bytes, the verdict JSON), so exporting the same result twice gives
    the same instances and a different result different ones.

    Examples
    --------
    >>> paths = export_dicos(image, verdict, "out/SCAN-1")   # doctest: +SKIP
    >>> [p.name for p in paths]                               # doctest: +SKIP
    ['dx_high.dcs', 'dx_low.dcs', 'tdr.dcs']
    """
    data = _verdict_dict(verdict)
    attenuations = [np.asarray(image.attenuation_high), np.asarray(image.attenuation_low)]
    if attenuations[0].ndim != 2 or attenuations[0].shape != attenuations[1].shape or attenuations[0].size == 0:
        raise DicosError(
            "cannot export DICOS: attenuation_high and attenuation_low must be rows × columns "
            f"arrays of one shape, got {attenuations[0].shape} and {attenuations[1].shape}."
        )
    energies = [float(e) for e in getattr(image, "energies_mev", [])]
    if len(energies) < 2:
        raise DicosError(f"cannot export DICOS: the image needs two energies, has {energies!r} MeV.")
    out = Path(out_dir)
    now = datetime.now(timezone.utc)
    finished = finished or now
    started = started or finished
    scan_id = str(data.get("scan_id") or getattr(image, "scan_id", "") or "unknown")
    object_id = ooi_id or scan_id
    provenance = data.get("provenance") or {}
    input_sha = str(provenance.get("input_sha256") or scan_id)
    software_version = _software_version(provenance)
    study_uid = _uid("nii-study", input_sha, scan_id)
    frame_uid = _uid("nii-frame", input_sha, scan_id)
    dx_series_uid = _uid("nii-dx-series", input_sha, scan_id, software_version)
    positions = np.asarray(getattr(image, "position_mm", np.zeros(1)), dtype=np.float64)
    first_position = float(positions[0]) if positions.size and math.isfinite(positions[0]) else 0.0
    spacing = (float(image.row_height_mm), float(image.column_pitch_mm))

    paths: list[Path] = []
    references: list[tuple[str, str]] = []
    for index, (alpha, name) in enumerate(zip(attenuations, DX_FILE_NAMES, strict=True)):
        energy = energies[index]
        label = "high" if index == 0 else "low"
        content = hashlib.sha256(np.ascontiguousarray(alpha, dtype=np.float32).tobytes()).hexdigest()
        sop_uid = _uid("nii-dx", input_sha, scan_id, index, energy, content)
        dataset = build_dx_dataset(
            alpha,
            pixel_spacing_mm=spacing,
            energy_mev=energy,
            value_per_unit=ATTENUATION_PER_STORED_UNIT,
            value_at_zero=ATTENUATION_AT_STORED_ZERO,
            quantity=QUANTITY_ATTENUATION,
            sop_instance_uid=sop_uid,
            series_instance_uid=dx_series_uid,
            study_instance_uid=study_uid,
            frame_of_reference_uid=frame_uid,
            ooi_id=object_id,
            instance_number=index + 1,
            origin_mm=(0.0, first_position),
            series_description=f"NII analysed image {scan_id}"[:64],
            image_comments=(
                f"attenuation alpha = -ln T of the {label} energy ({energy:g} MeV), scan {scan_id}; "
                f"alpha = stored * {ATTENUATION_PER_STORED_UNIT:g} + {ATTENUATION_AT_STORED_ZERO:g}"
            ),
            created=finished,
            software_version=f"nii {software_version}",
        )
        paths.append(write_dicos(dataset, out / name))
        references.append((SOP_CLASS_DX_PROCESSING, sop_uid))

    threats = threats_from_verdict(
        data, attenuations[0].shape, processing_start=started, processing_end=finished
    )
    verdict_text = json.dumps(data, sort_keys=True, default=str)
    tdr_uid = _uid("nii-tdr", input_sha, scan_id, verdict_text)
    algorithm = ["NII", software_version]
    calibration = provenance.get("calibration")
    if calibration:
        algorithm.append(f"calibration={calibration}")
    tdr = build_tdr_dataset(
        threats,
        alarm_decision="ALARM" if data.get("verdict") == "inspect" else "CLEAR",
        referenced_images=references,
        sop_instance_uid=tdr_uid,
        series_instance_uid=_uid("nii-tdr-series", tdr_uid),
        study_instance_uid=study_uid,
        frame_of_reference_uid=frame_uid,
        ooi_id=object_id,
        algorithm=algorithm,
        total_processing_time_ms=max((finished - started).total_seconds() * 1000.0, 0.0),
        alarm_decision_time=finished,
        created=finished,
        software_version=f"nii {software_version}",
    )
    paths.append(write_dicos(tdr, out / TDR_FILE_NAME))
    return paths
