"""DICOS (NEMA IIC 1) reading and writing for line-scan images and threat reports.

DICOS is DICOM for security screening. This module knows three of its objects:

* **DX** (Digital X-ray), SOP classes ``1.2.840.10008.5.1.4.1.1.501.2.1`` (For
  Presentation) and ``.501.2.2`` (For Processing): one 2-D, 16-bit image per instance.
* **TDR** (Threat Detection Report), ``.501.3``: the alarm decision and one Threat
  Sequence item per potential threat object (PTO).
* **CT** (``.501.1``), read only, so that every file of the Stratovan SDK's samples
  can be read.

It depends on numpy and pydicom only. The DICOS-only attributes that pydicom's
dictionary lacks are added to it by :func:`register_dicos_dictionary` (called on
import): the DICOS version in the file meta (0002,0004), the Coordinate System
(0008,2108) and the per-PTO processing times (4010,1080-1082).

Notes
-----
DICOS departs from DICOM in a few places that a DICOM writer would get wrong, all
checked against the files the Stratovan DICOS SDK writes: the Modality of a DX is
``XRAY`` (a TDR's is ``TDR``), ImageType is ``ORIGINAL\\INTENSITY``, the DICOS
version ``V03`` appears both in the file meta (0002,0004) and in the dataset
(4010,103A), and (0008,0118) is the Image Origin with VR CS (``MACHINE``) where
DICOM has the Mapping Resource UID (VR UI). Explicit VR keeps that VR in the file.

What the Stratovan SDK (through ``pydicos``) additionally requires, found by reading
this writer's files with it: Rescale Slope 1 and Intercept 0 in a DX (the DX IOD's
enumerated values; the physical scale of the stored values therefore lives in NII's
private block, see :func:`build_dx_dataset`), X-Ray Tube Current (0018,8151),
Effective Energy (4300,0902), Pixel Spacing Calibration Description (0028,0A04), at
least manufacturer and version in Threat Detection Algorithm and Version
(4010,1029), and the three processing-time attributes on every PTO. Text is UTF-8
(Specific Character Set ``ISO_IR 192``), which both pydicom and the SDK decode.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> alpha = np.linspace(0.0, 5.0, 12, dtype=np.float32).reshape(3, 4)
>>> ds = build_dx_dataset(alpha, pixel_spacing_mm=(5.0, 4.0), energy_mev=6.0,
...                       value_per_unit=1 / 4096, value_at_zero=-1.0,
...                       sop_instance_uid="1.2.3.4", series_instance_uid="1.2.3.5",
...                       study_instance_uid="1.2.3.6", frame_of_reference_uid="1.2.3.7",
...                       ooi_id="SCAN-1")
>>> path = write_dicos(ds, pathlib.Path(tempfile.mkdtemp()) / "dx.dcs")
>>> dx = read_dicos(path)
>>> dx.kind, dx.modality, dx.pixel_array.shape
('dx', 'XRAY', (3, 4))
>>> bool(np.allclose(dx.values(), alpha, atol=dx.value_per_unit / 2))
True
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.datadict import add_dict_entries, add_private_dict_entries, dictionary_has_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from scanner_io._atomic import atomic_write_bytes
from scanner_io._errors import DicosError

__all__ = [
    "DICOS_VERSION",
    "SOP_CLASS_CT",
    "SOP_CLASS_DX_PRESENTATION",
    "SOP_CLASS_DX_PROCESSING",
    "SOP_CLASS_TDR",
    "ALARM_DECISIONS",
    "ASSESSMENT_FLAGS",
    "PIXEL_PADDING_VALUE",
    "QUANTITY_ATTENUATION",
    "DicosThreat",
    "DicosObject",
    "RescaledPixels",
    "register_dicos_dictionary",
    "encode_fixed_point_uint16",
    "NII_PRIVATE_CREATOR",
    "build_dx_dataset",
    "build_tdr_dataset",
    "dicos_bytes",
    "write_dicos",
    "read_dicos",
]

DICOS_VERSION = "V03"
SOP_CLASS_CT = "1.2.840.10008.5.1.4.1.1.501.1"
SOP_CLASS_DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.501.2.1"
SOP_CLASS_DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.501.2.2"
SOP_CLASS_TDR = "1.2.840.10008.5.1.4.1.1.501.3"
_KIND_OF_SOP_CLASS = {
    SOP_CLASS_CT: "ct",
    SOP_CLASS_DX_PRESENTATION: "dx",
    SOP_CLASS_DX_PROCESSING: "dx",
    SOP_CLASS_TDR: "tdr",
}
#: Defined terms of Alarm Decision (4010,1031).
ALARM_DECISIONS = ("ALARM", "CLEAR", "UNKNOWN")
#: Defined terms of ATD Assessment Flag (4010,1015).
ASSESSMENT_FLAGS = ("HIGH_THREAT", "THREAT", "NO_THREAT", "UNKNOWN")
#: Stored value that marks a pixel with no finite value (Pixel Padding Value, 0028,0120).
PIXEL_PADDING_VALUE = 0xFFFF
#: Quantity recorded in NII's private block for images of attenuation α = −ln T (dimensionless).
QUANTITY_ATTENUATION = "ATTENUATION"
#: Private creator of the block (0029,xx10-12) that records what the stored values mean.
NII_PRIVATE_CREATOR = "NII DICOS 1.0"
_PRIVATE_GROUP = 0x0029
_LARGEST_STORED_VALUE = PIXEL_PADDING_VALUE - 1

# DICOS attributes missing from pydicom's DICOM dictionary: tag -> (VR, VM, name, retired, keyword).
_DICOS_ONLY_ENTRIES = {
    0x00020004: ("CS", "1", "DICOS Version (File Meta)", "", "FileMetaDICOSVersion"),
    0x00082108: ("CS", "1", "Coordinate System", "", "CoordinateSystem"),
    0x40101080: ("DT", "1", "Start Time of Processing", "", "PTOProcessingStartTime"),
    0x40101081: ("DT", "1", "End Time of Processing", "", "PTOProcessingEndTime"),
    0x40101082: ("FL", "1", "Total Processing Time of PTO", "", "TotalPTOProcessingTime"),
    0x43000902: ("FL", "1", "Effective Energy", "", "DICOSEffectiveEnergy"),
}
# NII's private block: what the stored DX values mean (see build_dx_dataset).
_NII_PRIVATE_ENTRIES = {
    0x00291010: ("LO", "1", "Stored Value Quantity", ""),
    0x00291011: ("FD", "1", "Value per Stored Unit", ""),
    0x00291012: ("FD", "1", "Value at Stored Zero", ""),
}
_IMAGE_ORIGIN_TAG = 0x00080118  # DICOS Image Origin, CS; DICOM's Mapping Resource UID, UI
_ALGORITHM_VERSION_TAG = 0x40101029
_IMAGE_SCALE_REPRESENTATION_TAG = 0x40101075


def register_dicos_dictionary() -> None:
    """Add the DICOS-only attributes to pydicom's data dictionary (idempotent).

    After this, ``ds.CoordinateSystem``, ``ds.PTOProcessingStartTime``,
    ``ds.PTOProcessingEndTime``, ``ds.TotalPTOProcessingTime`` and
    ``ds.file_meta.FileMetaDICOSVersion`` work by keyword and print with a name.
    """
    missing = {tag: entry for tag, entry in _DICOS_ONLY_ENTRIES.items() if not dictionary_has_tag(tag)}
    if missing:
        add_dict_entries(missing)
    add_private_dict_entries(NII_PRIVATE_CREATOR, _NII_PRIVATE_ENTRIES)


register_dicos_dictionary()


@dataclass(frozen=True)
class DicosThreat:
    """One potential threat object (PTO) of a DICOS Threat Detection Report.

    Parameters
    ----------
    pto_id : int
        Potential Threat Object ID (4010,1010), unique within the report, 0..65535.
    roi_base : tuple of float
        Threat ROI Base (4010,1004): the first voxel of the region, ``(x, y, z)`` in
        pixels of the referenced image (for a DX: column, row, 0).
    roi_extents : tuple of float
        Threat ROI Extents (4010,1005): the region's size ``(x, y, z)`` in pixels
        (for a DX: columns, rows, 1).
    category : str
        Threat Category (4010,1012), e.g. ``ANOMALY``, ``CONTRABAND``, ``PI``.
    assessment_flag : str
        ATD Assessment Flag (4010,1015): one of :data:`ASSESSMENT_FLAGS`.
    probability : float or None
        ATD Assessment Probability (4010,1016), 0..1; ``None`` when absent.
    category_description : str
        Threat Category Description (4010,1013), free text.
    ability_assessment : str
        ATD Ability Assessment (4010,1014): ``NO_INTERFERENCE`` or ``SHIELD``.
    location_description : str
        PTO Location Description (4010,1078), free text.
    referenced_sop_instance_uids : tuple of str
        SOP Instance UIDs of the images the region is drawn on (0008,114A).
    processing_start, processing_end : datetime or None
        Start and end time of processing the PTO (4010,1080), (4010,1081). When
        writing, ``None`` becomes the report's alarm decision time.
    processing_time_ms : float or None
        Total processing time of the PTO (4010,1082), milliseconds; when writing,
        ``None`` becomes end − start.
    """

    pto_id: int
    roi_base: tuple[float, float, float]
    roi_extents: tuple[float, float, float]
    category: str
    assessment_flag: str
    probability: float | None = None
    category_description: str = ""
    ability_assessment: str = "NO_INTERFERENCE"
    location_description: str = ""
    referenced_sop_instance_uids: tuple[str, ...] = ()
    processing_start: datetime | None = None
    processing_end: datetime | None = None
    processing_time_ms: float | None = None


@dataclass(frozen=True)
class RescaledPixels:
    """16-bit stored values and the fixed-point map back to physical values.

    ``value = stored × value_per_unit + value_at_zero``; stored
    :data:`PIXEL_PADDING_VALUE` marks a pixel whose value was not finite.

    Attributes
    ----------
    stored : numpy.ndarray
        uint16 stored values.
    value_per_unit : float
        Physical value of one stored unit (NII: attenuation α per unit).
    value_at_zero : float
        Physical value of stored 0.
    padding_value : int
        Stored value of pixels with no finite value.
    clipped : int
        Number of finite pixels outside the representable range, stored as 0 or 65534.
    """

    stored: np.ndarray
    value_per_unit: float
    value_at_zero: float
    padding_value: int = PIXEL_PADDING_VALUE
    clipped: int = 0

    def values(self) -> np.ndarray:
        """Return the physical values (float64), NaN where the pixel is padding."""
        return _rescale(self.stored, self.value_per_unit, self.value_at_zero, self.padding_value)


@dataclass(frozen=True)
class DicosObject:
    """What :func:`read_dicos` found in a DICOS file.

    Attributes
    ----------
    path : pathlib.Path
        The file read.
    kind : str
        ``"dx"``, ``"tdr"`` or ``"ct"``.
    sop_class_uid, sop_instance_uid, study_instance_uid, series_instance_uid : str
        Identifiers of the instance.
    modality : str
        ``XRAY`` (DX), ``TDR`` or ``CT``.
    dicos_version : str or None
        DICOS Version (4010,103A) of the dataset.
    file_meta_dicos_version : str or None
        DICOS version recorded in the file meta (0002,0004).
    ooi_id, ooi_type, scan_type, acquisition_status : str or None
        Object of inspection ID (0010,0020) and type (4010,1042), Scan Type
        (4010,1048), Acquisition Status (4010,1044).
    image_type : tuple of str
        Image Type (0008,0008); empty for a TDR.
    coordinate_system, image_origin : str or None
        Coordinate System (0008,2108) and Image Origin (0008,0118).
    rows, columns : int or None
        Image size in pixels.
    number_of_frames : int
        1 for a DX, the number of slices of a CT, 0 for a TDR.
    pixel_array : numpy.ndarray or None
        Stored pixel values (rows × columns, or frames × rows × columns); ``None``
        for a TDR or when read with ``pixels=False``.
    value_per_unit, value_at_zero : float
        Map from stored to physical values: NII's private block when present, else
        Rescale Slope and Intercept (1 and 0 when absent).
    quantity : str or None
        What the values are: ``ATTENUATION`` (α = −ln T) in NII's files, else the
        Rescale Type (0028,1054).
    padding_value : int or None
        Pixel Padding Value (0028,0120), the stored value of pixels with no value.
    pixel_spacing_mm : tuple of float or None
        (row spacing, column spacing) in mm.
    kvp : float or None
        Peak voltage (0018,0060) in kV; NII writes the endpoint energy × 1000.
    threats : tuple of DicosThreat
        The Threat Sequence of a TDR (empty otherwise).
    alarm_decision : str or None
        Alarm Decision (4010,1031) of a TDR.
    referenced_sop_instance_uids : tuple of str
        Instances referenced at the top level of a TDR (Referenced Study Sequence).
    dataset : pydicom.dataset.Dataset
        The whole dataset, for anything else.
    """

    path: Path
    kind: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    modality: str | None
    dicos_version: str | None
    file_meta_dicos_version: str | None
    ooi_id: str | None
    ooi_type: str | None
    scan_type: str | None
    acquisition_status: str | None
    image_type: tuple[str, ...]
    coordinate_system: str | None
    image_origin: str | None
    rows: int | None
    columns: int | None
    number_of_frames: int
    pixel_array: np.ndarray | None
    value_per_unit: float
    value_at_zero: float
    quantity: str | None
    padding_value: int | None
    pixel_spacing_mm: tuple[float, float] | None
    kvp: float | None
    threats: tuple[DicosThreat, ...]
    alarm_decision: str | None
    referenced_sop_instance_uids: tuple[str, ...]
    dataset: Dataset = field(repr=False, compare=False)

    def values(self) -> np.ndarray:
        """Return the physical pixel values (float64): stored × slope + intercept.

        Pixels equal to the Pixel Padding Value are NaN. For NII's DX files the
        values are the attenuation α = −ln T (dimensionless); ``np.exp(-values)`` is
        the transmission.

        Raises
        ------
        DicosError
            If the object has no pixels (a TDR, or read with ``pixels=False``).
        """
        if self.pixel_array is None:
            raise DicosError(
                f"{self.path}: no pixel values were read (a {self.kind.upper()} object, "
                "or read_dicos was called with pixels=False)."
            )
        return _rescale(self.pixel_array, self.value_per_unit, self.value_at_zero, self.padding_value)


# --------------------------------------------------------------------------- encoding


def _rescale(stored: np.ndarray, slope: float, intercept: float, padding: int | None) -> np.ndarray:
    values = stored.astype(np.float64) * slope + intercept
    if padding is not None:
        values[stored == padding] = np.nan
    return values


def encode_fixed_point_uint16(
    values: np.ndarray, *, value_per_unit: float, value_at_zero: float
) -> RescaledPixels:
    """Quantise a float image to 16-bit stored values on a fixed-point scale.

    Parameters
    ----------
    values : numpy.ndarray
        Physical values of any unit (NII: attenuation α, dimensionless), any shape.
        Non-finite values become :data:`PIXEL_PADDING_VALUE`.
    value_per_unit : float
        Physical value of one stored unit (> 0); the quantisation error is at most
        half of it.
    value_at_zero : float
        Physical value of stored 0. Stored values run 0..65534, so the range is
        ``[value_at_zero, value_at_zero + 65534 × value_per_unit]``; finite values
        outside it are clipped to its ends (and counted in ``clipped``).

    Returns
    -------
    RescaledPixels
        ``stored`` (uint16, same shape as ``values``) and the map back.

    Examples
    --------
    >>> import numpy as np
    >>> pixels = encode_fixed_point_uint16(np.array([0.0, 1.0, np.nan]),
    ...                                    value_per_unit=1 / 4096, value_at_zero=-1.0)
    >>> pixels.stored.tolist()
    [4096, 8192, 65535]
    """
    if not (math.isfinite(value_per_unit) and value_per_unit > 0 and math.isfinite(value_at_zero)):
        raise DicosError(
            f"fixed-point scale must be a positive value per unit and a finite zero, got "
            f"{value_per_unit!r} and {value_at_zero!r}."
        )
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    stored = np.full(array.shape, PIXEL_PADDING_VALUE, dtype=np.uint16)
    units = np.rint((array[finite] - value_at_zero) / value_per_unit)
    clipped = int(np.count_nonzero((units < 0) | (units > _LARGEST_STORED_VALUE)))
    stored[finite] = np.clip(units, 0, _LARGEST_STORED_VALUE).astype(np.uint16)
    return RescaledPixels(stored, float(value_per_unit), float(value_at_zero), clipped=clipped)


def _dicos_date_time(moment: datetime) -> tuple[str, str]:
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")


def _dicos_datetime(moment: datetime) -> str:
    text = moment.strftime("%Y%m%d%H%M%S.%f")
    if moment.tzinfo is not None:
        text += moment.strftime("%z")
    return text


def _common_attributes(
    ds: Dataset,
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    study_instance_uid: str,
    series_instance_uid: str,
    frame_of_reference_uid: str,
    modality: str,
    ooi_id: str,
    ooi_type: str,
    scan_type: str,
    acquisition_status: str,
    instance_number: int,
    created: datetime,
    manufacturer: str,
    software_version: str,
    study_description: str,
) -> None:
    date, time = _dicos_date_time(created)
    # UTF-8: verdict messages hold "×", "≈", "cm²"; pydicom and the SDK both decode it.
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate = date
    ds.InstanceCreationTime = time
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = UID(sop_instance_uid)
    ds.StudyDate = date
    ds.SeriesDate = date
    ds.ContentDate = date
    ds.StudyTime = time
    ds.SeriesTime = time
    ds.ContentTime = time
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.InstitutionName = "unknown"
    ds.InstitutionAddress = "unknown"
    ds.StationName = "unknown"
    ds.InstitutionalDepartmentName = ""
    ds.ManufacturerModelName = manufacturer
    ds.StudyDescription = study_description[:64]
    ds.PatientID = ooi_id[:64]
    ds.IssuerOfPatientID = manufacturer[:64]
    ds.TypeOfPatientID = "TEXT"
    ds.PatientSex = "U"
    ds.OtherPatientIDsSequence = DicomSequence()
    ds.DeviceSerialNumber = "unknown"
    ds.SoftwareVersions = software_version[:64] or "unknown"
    ds.DateOfLastCalibration = date
    ds.TimeOfLastCalibration = time
    ds.StudyInstanceUID = UID(study_instance_uid)
    ds.SeriesInstanceUID = UID(series_instance_uid)
    ds.StudyID = ooi_id[:16]
    ds.InstanceNumber = int(instance_number)
    ds.FrameOfReferenceUID = UID(frame_of_reference_uid)
    ds.PositionReferenceIndicator = ""
    ds.DICOSVersion = DICOS_VERSION
    ds.OOIType = ooi_type
    ds.AcquisitionStatus = acquisition_status
    ds.ScanType = scan_type
    ds.AlgorithmRoutingCodeSequence = DicomSequence()


def build_dx_dataset(
    values: np.ndarray,
    *,
    pixel_spacing_mm: tuple[float, float],
    energy_mev: float,
    sop_instance_uid: str,
    series_instance_uid: str,
    study_instance_uid: str,
    frame_of_reference_uid: str,
    ooi_id: str,
    instance_number: int = 1,
    value_per_unit: float,
    value_at_zero: float,
    quantity: str = QUANTITY_ATTENUATION,
    origin_mm: tuple[float, float] = (0.0, 0.0),
    image_comments: str = "",
    series_description: str = "",
    ooi_type: str = "CARGO",
    scan_type: str = "OPERATIONAL",
    acquisition_status: str = "SUCCESSFUL",
    created: datetime | None = None,
    manufacturer: str = "NII",
    software_version: str = "",
) -> Dataset:
    """Build a DICOS DX For Processing dataset of one 2-D float image.

    Parameters
    ----------
    values : numpy.ndarray
        Physical pixel values, rows × columns (rows = detector channels top-down,
        columns = positions along the conveyance). NII writes α = −ln T
        (dimensionless). Non-finite values are written as the padding value.
    pixel_spacing_mm : tuple of float
        (row height, column pitch) at the scan plane in mm, written as Pixel Spacing
        (0028,0030) and Imager Pixel Spacing (0018,1164).
    energy_mev : float
        Endpoint energy of the beam in MeV, written as KVP (0018,0060) in kV.
    sop_instance_uid, series_instance_uid, study_instance_uid, frame_of_reference_uid : str
        UIDs of the instance, its series, the study (the inspected object) and the
        frame of reference shared by the images of one scan.
    ooi_id : str
        Object of inspection ID (0010,0020), e.g. the scan or container ID (≤ 64 chars).
    instance_number : int
        Instance Number (0020,0013).
    origin_mm : tuple of float
        (z, x) of the centre of pixel (0, 0): mm down from the top of the image and
        conveyance position in mm, written as Image Position (0020,0032) ``[x, z, 0]``.
    value_per_unit, value_at_zero : float
        Fixed-point scale of the stored values (see :func:`encode_fixed_point_uint16`),
        recorded in NII's private block (0029,xx11) and (0029,xx12).
    quantity : str
        What the values are, recorded in the private block (0029,xx10).
    image_comments, series_description : str
        Free text (0020,4000) and (0008,103E).
    ooi_type, scan_type, acquisition_status : str
        OOI Type (4010,1042), Scan Type (4010,1048), Acquisition Status (4010,1044).
    created : datetime, optional
        Creation time (default: now, UTC).
    manufacturer, software_version : str
        Manufacturer (0008,0070) and Software Versions (0018,1020).

    Returns
    -------
    pydicom.dataset.Dataset
        The dataset, without file meta (see :func:`write_dicos`).

    Raises
    ------
    DicosError
        If ``values`` is not a non-empty 2-D array of at most 65535 × 65535 pixels or
        a spacing is not a positive finite number.

    Notes
    -----
    The DX IOD fixes Rescale Slope to 1 and Rescale Intercept to 0 (DICOM PS3.3
    C.8.11.3; the Stratovan SDK rejects any other value), so the map from stored
    values to physical ones cannot live there. It is written in a private block of
    group 0029 (creator :data:`NII_PRIVATE_CREATOR`): quantity (LO), value per
    stored unit (FD), value at stored 0 (FD). :func:`read_dicos` applies it.
    Pixel Intensity Relationship is ``LOG`` with sign −1: α = −ln T is the logarithm
    of the beam intensity and grows where less X-ray arrives.
    """
    image = np.asarray(values)
    if image.ndim != 2 or image.size == 0 or max(image.shape) > 0xFFFF:
        raise DicosError(
            f"DX image must be a non-empty rows × columns array of at most 65535 per side, got shape {image.shape}."
        )
    spacing = tuple(float(v) for v in pixel_spacing_mm)
    if len(spacing) != 2 or not all(math.isfinite(v) and v > 0 for v in spacing):
        raise DicosError(f"DX pixel spacing must be two positive lengths in mm, got {pixel_spacing_mm!r}.")
    if not (math.isfinite(energy_mev) and energy_mev > 0):
        raise DicosError(f"DX beam energy must be a positive number of MeV, got {energy_mev!r}.")
    created = created or datetime.now(timezone.utc)
    pixels = encode_fixed_point_uint16(image, value_per_unit=value_per_unit, value_at_zero=value_at_zero)

    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "INTENSITY"]
    _common_attributes(
        ds,
        sop_class_uid=SOP_CLASS_DX_PROCESSING,
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        frame_of_reference_uid=frame_of_reference_uid,
        modality="XRAY",
        ooi_id=ooi_id,
        ooi_type=ooi_type,
        scan_type=scan_type,
        acquisition_status=acquisition_status,
        instance_number=instance_number,
        created=created,
        manufacturer=manufacturer,
        software_version=software_version,
        study_description=ooi_id,
    )
    ds.AcquisitionDateTime = _dicos_datetime(created)
    ds.PresentationIntentType = "FOR PROCESSING"
    ds.add_new(_IMAGE_ORIGIN_TAG, "CS", "MACHINE")
    ds.CoordinateSystem = "LHS"
    if series_description:
        ds.SeriesDescription = series_description[:64]
    ds.KVP = format_number_as_ds(float(energy_mev) * 1000.0)
    ds.DetectorType = "SCINTILLATOR"
    # Required by the SDK; a linac's beam current is not known to this writer.
    ds.XRayTubeCurrentInuA = "0"
    ds.ImagerPixelSpacing = [format_number_as_ds(v) for v in spacing]
    ds.ImagePositionPatient = [
        format_number_as_ds(float(origin_mm[1])),
        format_number_as_ds(float(origin_mm[0])),
        "0",
    ]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    if image_comments:
        ds.ImageComments = image_comments
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in image.shape)
    ds.PixelSpacing = [format_number_as_ds(v) for v in spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelPaddingValue = pixels.padding_value
    ds.BurnedInAnnotation = "NO"
    # α = −ln T is the logarithm of the beam intensity, larger where less X-ray arrives.
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = -1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.PixelSpacingCalibrationDescription = "row height at scan plane (pitch x SOD/SDD); column pitch"
    ds.LossyImageCompression = "00"
    ds.AcquisitionContextSequence = DicomSequence()
    ds.PresentationLUTShape = "IDENTITY"
    # Required by the SDK; the effective energy of a linac beam is not known here.
    ds.DICOSEffectiveEnergy = 0.0
    block = ds.private_block(_PRIVATE_GROUP, NII_PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", quantity[:64])
    block.add_new(0x11, "FD", pixels.value_per_unit)
    block.add_new(0x12, "FD", pixels.value_at_zero)
    ds.PixelData = np.ascontiguousarray(pixels.stored, dtype="<u2").tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def _threat_item(
    threat: DicosThreat, referenced_images: Sequence[tuple[str, str]], default_time: datetime
) -> Dataset:
    if not 0 <= int(threat.pto_id) <= 0xFFFF:
        raise DicosError(f"PTO ID must be in 0..65535, got {threat.pto_id}.")
    if threat.assessment_flag not in ASSESSMENT_FLAGS:
        raise DicosError(
            f"ATD assessment flag {threat.assessment_flag!r} is not one of {', '.join(ASSESSMENT_FLAGS)}."
        )
    for name, point in (("ROI base", threat.roi_base), ("ROI extents", threat.roi_extents)):
        if len(point) != 3 or not all(math.isfinite(float(v)) for v in point):
            raise DicosError(f"PTO {threat.pto_id}: {name} must be three finite numbers, got {point!r}.")
    wanted = set(threat.referenced_sop_instance_uids)
    references = [ref for ref in referenced_images if not wanted or ref[1] in wanted]

    item = Dataset()
    item.PotentialThreatObjectID = int(threat.pto_id)
    representation = Dataset()
    instance_items = []
    for sop_class_uid, sop_instance_uid in references:
        reference = Dataset()
        reference.ReferencedSOPClassUID = UID(sop_class_uid)
        reference.ReferencedSOPInstanceUID = UID(sop_instance_uid)
        instance_items.append(reference)
    representation.ReferencedInstanceSequence = DicomSequence(instance_items)
    voxel = Dataset()
    voxel.ThreatROIBase = [float(v) for v in threat.roi_base]
    voxel.ThreatROIExtents = [float(v) for v in threat.roi_extents]
    voxel.ThreatROIBitmap = b""
    representation.ThreatROIVoxelSequence = DicomSequence([voxel])
    if threat.location_description:
        representation.PTOLocationDescription = threat.location_description
    item.PTORepresentationSequence = DicomSequence([representation])

    assessment = Dataset()
    assessment.ThreatCategory = threat.category
    if threat.category_description:
        assessment.ThreatCategoryDescription = threat.category_description
    assessment.ATDAbilityAssessment = threat.ability_assessment
    assessment.ATDAssessmentFlag = threat.assessment_flag
    if threat.probability is not None:
        probability = float(threat.probability)
        if not 0.0 <= probability <= 1.0:
            raise DicosError(f"PTO {threat.pto_id}: probability must be in 0..1, got {probability}.")
        assessment.ATDAssessmentProbability = probability
    item.ATDAssessmentSequence = DicomSequence([assessment])

    # The SDK requires all three processing-time attributes on every PTO.
    start = threat.processing_start or default_time
    end = threat.processing_end or start
    item.PTOProcessingStartTime = _dicos_datetime(start)
    item.PTOProcessingEndTime = _dicos_datetime(end)
    total_ms = threat.processing_time_ms
    if total_ms is None:
        total_ms = max((end - start).total_seconds() * 1000.0, 0.0)
    item.TotalPTOProcessingTime = float(total_ms)
    return item


def build_tdr_dataset(
    threats: Sequence[DicosThreat],
    *,
    alarm_decision: str,
    referenced_images: Sequence[tuple[str, str]],
    sop_instance_uid: str,
    series_instance_uid: str,
    study_instance_uid: str,
    frame_of_reference_uid: str,
    ooi_id: str,
    algorithm: Sequence[str] = ("NII", "unknown"),
    total_processing_time_ms: float = 0.0,
    alarm_decision_time: datetime | None = None,
    ooi_type: str = "CARGO",
    scan_type: str = "OPERATIONAL",
    acquisition_status: str = "SUCCESSFUL",
    instance_number: int = 1,
    created: datetime | None = None,
    manufacturer: str = "NII",
    software_version: str = "",
) -> Dataset:
    """Build a DICOS Threat Detection Report dataset (machine TDR).

    Parameters
    ----------
    threats : sequence of DicosThreat
        One Threat Sequence item each, in order.
    alarm_decision : str
        Alarm Decision (4010,1031): ``ALARM``, ``CLEAR`` or ``UNKNOWN``.
    referenced_images : sequence of (str, str)
        (SOP Class UID, SOP Instance UID) of the images the report is about; written
        in the Referenced Study Sequence (0008,1110) and, for each PTO, in its
        Referenced Instance Sequence (all of them unless the threat names some).
    sop_instance_uid, series_instance_uid, study_instance_uid, frame_of_reference_uid : str
        UIDs; the study and frame of reference are those of the images.
    ooi_id : str
        Object of inspection ID (0010,0020).
    algorithm : sequence of str
        Threat Detection Algorithm and Version (4010,1029): manufacturer, version,
        then any parameters; the SDK needs at least the first two (a missing version
        is written as ``unknown``).
    total_processing_time_ms : float
        Total Processing Time (4010,1069) in milliseconds.
    alarm_decision_time : datetime, optional
        Alarm Decision Time (4010,102B); default: ``created``.
    ooi_type, scan_type, acquisition_status : str
        As in :func:`build_dx_dataset`.
    instance_number : int
        Instance Number (0020,0013).
    created : datetime, optional
        Creation time (default: now, UTC).
    manufacturer, software_version : str
        Manufacturer (0008,0070) and Software Versions (0018,1020).

    Returns
    -------
    pydicom.dataset.Dataset
        The dataset, without file meta.

    Raises
    ------
    DicosError
        On an unknown alarm decision or assessment flag, duplicate PTO IDs, or a
        probability outside 0..1.
    """
    if alarm_decision not in ALARM_DECISIONS:
        raise DicosError(f"alarm decision {alarm_decision!r} is not one of {', '.join(ALARM_DECISIONS)}.")
    ids = [int(threat.pto_id) for threat in threats]
    if len(set(ids)) != len(ids):
        raise DicosError(f"PTO IDs must be unique within a report, got {ids}.")
    created = created or datetime.now(timezone.utc)
    decision_time = alarm_decision_time or created

    ds = Dataset()
    _common_attributes(
        ds,
        sop_class_uid=SOP_CLASS_TDR,
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        frame_of_reference_uid=frame_of_reference_uid,
        modality="TDR",
        ooi_id=ooi_id,
        ooi_type=ooi_type,
        scan_type=scan_type,
        acquisition_status=acquisition_status,
        instance_number=instance_number,
        created=created,
        manufacturer=manufacturer,
        software_version=software_version,
        study_description=ooi_id,
    )
    study_references = []
    for sop_class_uid, sop_instance_uid_ref in referenced_images:
        reference = Dataset()
        reference.ReferencedSOPClassUID = UID(sop_class_uid)
        reference.ReferencedSOPInstanceUID = UID(sop_instance_uid_ref)
        study_references.append(reference)
    ds.ReferencedStudySequence = DicomSequence(study_references)
    ds.ThreatSequence = DicomSequence([_threat_item(threat, referenced_images, decision_time) for threat in threats])
    ds.AbortFlag = "SUCCESS"
    ds.TDRType = "MACHINE"
    algorithm_values = [str(part)[:64] for part in algorithm] or ["NII"]
    if len(algorithm_values) < 2:
        algorithm_values.append("unknown")
    ds.add_new(_ALGORITHM_VERSION_TAG, "LO", algorithm_values)
    ds.AlarmDecisionTime = _dicos_datetime(decision_time)
    ds.AlarmDecision = alarm_decision
    ds.NumberOfTotalObjects = len(threats)
    ds.NumberOfAlarmObjects = sum(t.assessment_flag in ("THREAT", "HIGH_THREAT") for t in threats)
    ds.TotalProcessingTime = float(total_processing_time_ms)
    ds.AdditionalScreeningPerformed = "NO"
    # The SDK writes Image Scale Representation as FD (pydicom's dictionary says DS).
    ds.add_new(_IMAGE_SCALE_REPRESENTATION_TAG, "FD", 1.0)
    return ds


# --------------------------------------------------------------------------- file I/O


def dicos_bytes(dataset: Dataset, *, implementation_version_name: str = "NII") -> bytes:
    """Encode a DICOS dataset as a Part 10 file (Explicit VR Little Endian).

    Parameters
    ----------
    dataset : pydicom.dataset.Dataset
        A dataset with SOPClassUID and SOPInstanceUID (from :func:`build_dx_dataset`
        or :func:`build_tdr_dataset`). It is not modified.
    implementation_version_name : str
        Implementation Version Name (0002,0013), at most 16 characters.

    Returns
    -------
    bytes
        The file: 128-byte preamble, ``DICM``, file meta with the DICOS version
        (0002,0004), then the dataset.
    """
    if "SOPClassUID" not in dataset or "SOPInstanceUID" not in dataset:
        raise DicosError("a DICOS dataset needs a SOP Class UID and a SOP Instance UID to be written.")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.FileMetaDICOSVersion = DICOS_VERSION
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = implementation_version_name[:16]
    copy = Dataset(dataset)
    copy.file_meta = meta
    copy.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    try:
        copy.save_as(buffer, enforce_file_format=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DicosError(f"cannot encode the DICOS dataset: {exc}") from exc
    return buffer.getvalue()


def write_dicos(dataset: Dataset, path: str | os.PathLike, *, implementation_version_name: str = "NII") -> Path:
    """Write a DICOS dataset to ``path`` atomically and return the path.

    The file is written to a temporary file in the same folder, flushed to disk and
    moved into place, so a reader never sees a partial file.

    Parameters
    ----------
    dataset : pydicom.dataset.Dataset
        See :func:`dicos_bytes`.
    path : path-like
        Destination (conventionally ``*.dcs``); its folder is created if missing.
    implementation_version_name : str
        Implementation Version Name (0002,0013).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    data = dicos_bytes(dataset, implementation_version_name=implementation_version_name)
    return atomic_write_bytes(Path(path), data)


def _text(dataset: Dataset, keyword_or_tag: Any) -> str | None:
    element = dataset.get(keyword_or_tag)
    if element is None:
        return None
    value = element.value if hasattr(element, "value") else element
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _float(dataset: Dataset, keyword: str, default: float | None = None) -> float | None:
    value = dataset.get(keyword)
    if value is None or value == "":
        return default
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
        if value is None:
            return default
    return float(value)


def _point3(value: Any) -> tuple[float, float, float]:
    numbers = [float(v) for v in (value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value])]
    numbers = (numbers + [0.0, 0.0, 0.0])[:3]
    return (numbers[0], numbers[1], numbers[2])


def _datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    parsed = pydicom.valuerep.DT(str(value))
    return parsed


def _read_threat(item: Dataset) -> DicosThreat:
    base: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    location = ""
    references: list[str] = []
    for representation in item.get("PTORepresentationSequence", []):
        for reference in representation.get("ReferencedInstanceSequence", []):
            uid = reference.get("ReferencedSOPInstanceUID")
            if uid:
                references.append(str(uid))
        for voxel in representation.get("ThreatROIVoxelSequence", []):
            if "ThreatROIBase" in voxel:
                base = _point3(voxel.ThreatROIBase)
            if "ThreatROIExtents" in voxel:
                extents = _point3(voxel.ThreatROIExtents)
        location = location or (_text(representation, "PTOLocationDescription") or "")
        break  # the first representation carries the region; others are alternatives
    assessments = item.get("ATDAssessmentSequence", [])
    assessment = assessments[0] if len(assessments) else Dataset()
    probability = assessment.get("ATDAssessmentProbability")
    return DicosThreat(
        pto_id=int(item.get("PotentialThreatObjectID", 0)),
        roi_base=base,
        roi_extents=extents,
        category=_text(assessment, "ThreatCategory") or "",
        assessment_flag=_text(assessment, "ATDAssessmentFlag") or "UNKNOWN",
        probability=None if probability in (None, "") else float(probability),
        category_description=_text(assessment, "ThreatCategoryDescription") or "",
        ability_assessment=_text(assessment, "ATDAbilityAssessment") or "",
        location_description=location,
        referenced_sop_instance_uids=tuple(references),
        processing_start=_datetime(item.get("PTOProcessingStartTime")),
        processing_end=_datetime(item.get("PTOProcessingEndTime")),
        processing_time_ms=_float(item, "TotalPTOProcessingTime"),
    )


def _rescale_of(ds: Dataset) -> tuple[float, float, str | None]:
    try:
        block = ds.private_block(_PRIVATE_GROUP, NII_PRIVATE_CREATOR)
    except KeyError:
        block = None
    if block is not None and 0x11 in block and 0x12 in block:
        return (
            float(block[0x11].value),
            float(block[0x12].value),
            str(block[0x10].value) if 0x10 in block else None,
        )
    slope = _float(ds, "RescaleSlope")
    intercept = _float(ds, "RescaleIntercept")
    rescale_type = _text(ds, "RescaleType")
    if slope is None:
        # Enhanced (multi-frame) objects keep it in the shared functional groups.
        for group in ds.get("SharedFunctionalGroupsSequence", []):
            for transform in group.get("PixelValueTransformationSequence", []):
                slope = _float(transform, "RescaleSlope")
                intercept = _float(transform, "RescaleIntercept")
                rescale_type = _text(transform, "RescaleType")
    return (1.0 if slope is None else slope, 0.0 if intercept is None else intercept, rescale_type)


def _spacing_of(ds: Dataset) -> tuple[float, float] | None:
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if spacing is None:
        for group in ds.get("SharedFunctionalGroupsSequence", []):
            for measures in group.get("PixelMeasuresSequence", []):
                spacing = measures.get("PixelSpacing")
    if spacing is None or len(spacing) != 2:
        return None
    return (float(spacing[0]), float(spacing[1]))


def _decode_pixels(ds: Dataset, path: Path) -> np.ndarray:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is not None and UID(syntax).is_compressed:
        from pydicom.pixels.decoders.base import get_decoder

        try:
            available = get_decoder(UID(syntax)).is_available
        except (NotImplementedError, ValueError):
            available = False
        if not available:
            raise DicosError(
                f"{path}: the pixel data is compressed ({UID(syntax).name}) and no decoder for it is "
                "installed: pip install pylibjpeg pylibjpeg-libjpeg, or read with pixels=False."
            )
    array = ds.pixel_array
    return np.asarray(array)


def read_dicos(path: str | os.PathLike, *, pixels: bool = True) -> DicosObject:
    """Read a DICOS DX, CT or TDR file.

    Parameters
    ----------
    path : path-like
        The file (``*.dcs`` by convention; any name works).
    pixels : bool
        Decode the pixel data of images (default). ``False`` reads the attributes
        only, which works without a decoder for compressed transfer syntaxes.

    Returns
    -------
    DicosObject
        Kind, key attributes, the stored pixel array for images (see
        :meth:`DicosObject.values` for physical values) and the threats of a TDR.

    Raises
    ------
    DicosError
        If the file is missing, is not DICOM, is not one of the DICOS CT, DX or TDR
        classes, is truncated or corrupt, or its pixels cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise DicosError(f"{path}: no such DICOS file.")
    with warnings.catch_warnings():
        # The SDK writes UIDs with leading zeros in a component; pydicom warns about them.
        warnings.simplefilter("ignore", UserWarning)
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError as exc:
            raise DicosError(f"{path}: not a DICOS file (no DICOM 'DICM' file header).") from exc
        except Exception as exc:  # pydicom raises many types on corrupt input
            raise DicosError(f"{path}: the DICOS file is corrupt or truncated ({type(exc).__name__}: {exc}).") from exc
        try:
            return _interpret(ds, path, pixels)
        except DicosError:
            raise
        except Exception as exc:  # a corrupt element shows only when its value is parsed
            raise DicosError(f"{path}: the DICOS file is corrupt or truncated ({type(exc).__name__}: {exc}).") from exc


def _interpret(ds: Dataset, path: Path, pixels: bool) -> DicosObject:
    sop_class = _text(ds, "SOPClassUID") or _text(getattr(ds, "file_meta", Dataset()), "MediaStorageSOPClassUID")
    kind = _KIND_OF_SOP_CLASS.get(sop_class or "")
    if kind is None:
        raise DicosError(
            f"{path}: not a DICOS CT, DX or TDR object (SOP Class UID {sop_class or 'missing'})."
        )
    meta = getattr(ds, "file_meta", Dataset())
    pixel_array = None
    if kind != "tdr" and pixels:
        if "PixelData" not in ds:
            raise DicosError(f"{path}: the DICOS {kind.upper()} image has no pixel data.")
        pixel_array = _decode_pixels(ds, path)
    value_per_unit, value_at_zero, quantity = _rescale_of(ds)
    padding = ds.get("PixelPaddingValue")
    threats: tuple[DicosThreat, ...] = ()
    references: tuple[str, ...] = ()
    if kind == "tdr":
        threats = tuple(_read_threat(item) for item in ds.get("ThreatSequence", []))
        references = tuple(
            str(item.ReferencedSOPInstanceUID)
            for item in ds.get("ReferencedStudySequence", [])
            if "ReferencedSOPInstanceUID" in item
        )
    frames = 0
    if kind != "tdr":
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    image_type = ds.get("ImageType")
    image_types: tuple[str, ...] = ()
    if image_type is not None:
        image_types = tuple(str(v) for v in (image_type if isinstance(image_type, pydicom.multival.MultiValue) else [image_type]))
    kvp = _float(ds, "KVP")
    return DicosObject(
        path=path,
        kind=kind,
        sop_class_uid=str(sop_class),
        sop_instance_uid=_text(ds, "SOPInstanceUID") or _text(meta, "MediaStorageSOPInstanceUID") or "",
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        modality=_text(ds, "Modality"),
        dicos_version=_text(ds, "DICOSVersion"),
        file_meta_dicos_version=_text(meta, 0x00020004),
        ooi_id=_text(ds, "PatientID"),
        ooi_type=_text(ds, "OOIType"),
        scan_type=_text(ds, "ScanType"),
        acquisition_status=_text(ds, "AcquisitionStatus"),
        image_type=image_types,
        coordinate_system=_text(ds, 0x00082108),
        image_origin=_text(ds, _IMAGE_ORIGIN_TAG),
        rows=int(ds.Rows) if "Rows" in ds else None,
        columns=int(ds.Columns) if "Columns" in ds else None,
        number_of_frames=frames,
        pixel_array=pixel_array,
        value_per_unit=value_per_unit,
        value_at_zero=value_at_zero,
        quantity=quantity,
        padding_value=None if padding is None else int(padding),
        pixel_spacing_mm=_spacing_of(ds),
        kvp=kvp,
        threats=threats,
        alarm_decision=_text(ds, "AlarmDecision"),
        referenced_sop_instance_uids=references,
        dataset=ds,
    )
