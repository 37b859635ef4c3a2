"""DICOS writing and reading: scanner_io.dicos and nii.inspection.dicos_export."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import pydicom
import pytest

from nii.inspection.dicos_export import (
    ATTENUATION_PER_STORED_UNIT,
    DX_FILE_NAMES,
    TDR_FILE_NAME,
    assessment_flag,
    export_dicos,
    threats_from_verdict,
)
from nii.inspection.verdict import Reason, Region, Verdict
from scanner_io import DicosError, ScannerIOError
from scanner_io.dicos import (
    PIXEL_PADDING_VALUE,
    SOP_CLASS_DX_PROCESSING,
    SOP_CLASS_TDR,
    DicosThreat,
    build_dx_dataset,
    build_tdr_dataset,
    encode_fixed_point_uint16,
    read_dicos,
    write_dicos,
)

ROWS, COLUMNS = 64, 300
T0 = datetime(2026, 11, 30, 7, 0, 0, tzinfo=timezone.utc)


@dataclass
class _Image:
    """The attributes of nii.correction.AnalysedImage that the export reads."""

    attenuation_high: np.ndarray
    attenuation_low: np.ndarray
    row_height_mm: float = 4.2
    column_pitch_mm: float = 5.0
    position_mm: np.ndarray = field(default_factory=lambda: 1200.0 + 5.0 * np.arange(COLUMNS))
    energies_mev: list = field(default_factory=lambda: [6.0, 3.5])
    scan_id: str = "TJP-2026-000123"


def _image() -> _Image:
    rng = np.random.default_rng(7)
    high = rng.uniform(-0.05, 9.0, (ROWS, COLUMNS)).astype(np.float32)
    low = (high * 1.2 + rng.normal(0, 0.01, high.shape)).astype(np.float32)
    low[5, 7] = np.nan
    return _Image(high, low)


def _verdict() -> Verdict:
    return Verdict(
        scan_id="TJP-2026-000123",
        reasons=[
            Reason("UNDECLARED_HIGH_Z", "high", "dense high-Z object (about 38 kg) inside organic cargo", 0.95),
            Reason("MASS_MISMATCH", "medium", "cargo ≈ 24 t × 1, declared 18 t", 0.7),
            Reason("UNREADABLE_REGION", "low", "beam could not read 2 % of the load", 0.55),
        ],
        regions=[
            Region((10, 40, 20, 70), (42.0, 1400.0, 84.0, 1550.0), "high_z", 0.97, "UNDECLARED_HIGH_Z"),
            Region((30, 200, 64, 260), (126.0, 2200.0, 268.8, 2500.0), "impenetrable", 0.6, "UNREADABLE_REGION"),
        ],
        cargo_mass_kg=24000.0,
        material_fractions={"organic": 0.9, "metal": 0.1},
        provenance={"input_sha256": "ab" * 32, "calibration": "physics", "software": "nii 0.1.0", "models": {}},
    )


def _dx_dataset(values: np.ndarray, **overrides):
    arguments = dict(
        pixel_spacing_mm=(4.2, 5.0),
        energy_mev=6.0,
        value_per_unit=ATTENUATION_PER_STORED_UNIT,
        value_at_zero=-1.0,
        sop_instance_uid="1.2.826.0.1.3680043.8.498.11",
        series_instance_uid="1.2.826.0.1.3680043.8.498.12",
        study_instance_uid="1.2.826.0.1.3680043.8.498.13",
        frame_of_reference_uid="1.2.826.0.1.3680043.8.498.14",
        ooi_id="TJP-2026-000123",
        created=T0,
    )
    arguments.update(overrides)
    return build_dx_dataset(values, **arguments)


def _vr(dataset: pydicom.Dataset, tag: int) -> str:
    return dataset[tag].VR


# --------------------------------------------------------------------------- low level


def test_fixed_point_encoding_is_within_half_a_unit_and_pads_non_finite():
    values = np.array([[-1.0, 0.0, 3.14159], [14.99, np.nan, np.inf]])
    pixels = encode_fixed_point_uint16(values, value_per_unit=1 / 4096, value_at_zero=-1.0)
    assert pixels.stored.dtype == np.uint16
    assert pixels.stored[1, 1] == PIXEL_PADDING_VALUE and pixels.stored[1, 2] == PIXEL_PADDING_VALUE
    decoded = pixels.values()
    finite = np.isfinite(values)
    assert np.all(np.abs(decoded[finite] - values[finite]) <= 0.5 / 4096 + 1e-12)
    assert np.isnan(decoded[~finite]).all()
    assert pixels.clipped == 0


def test_fixed_point_encoding_clips_and_counts_out_of_range():
    pixels = encode_fixed_point_uint16(np.array([-5.0, 100.0, 1.0]), value_per_unit=1 / 4096, value_at_zero=-1.0)
    assert pixels.clipped == 2
    assert pixels.stored.tolist() == [0, 65534, 8192]


def test_fixed_point_encoding_rejects_a_bad_scale():
    with pytest.raises(DicosError, match="positive value per unit"):
        encode_fixed_point_uint16(np.zeros(3), value_per_unit=0.0, value_at_zero=0.0)


def test_dx_writes_every_dicos_attribute_with_its_vr(tmp_path):
    alpha = _image().attenuation_high
    path = write_dicos(_dx_dataset(alpha), tmp_path / "dx.dcs")
    ds = pydicom.dcmread(path)
    meta = ds.file_meta
    assert meta[0x00020004].VR == "CS" and meta[0x00020004].value == "V03"
    assert meta.MediaStorageSOPClassUID == SOP_CLASS_DX_PROCESSING
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.501.2.2"
    assert (_vr(ds, 0x00080060), ds.Modality) == ("CS", "XRAY")
    assert list(ds.ImageType) == ["ORIGINAL", "INTENSITY"]
    assert (_vr(ds, 0x4010103A), ds[0x4010103A].value) == ("CS", "V03")
    assert (_vr(ds, 0x40101042), ds[0x40101042].value) == ("CS", "CARGO")
    assert (_vr(ds, 0x40101044), ds[0x40101044].value) == ("CS", "SUCCESSFUL")
    assert (_vr(ds, 0x40101048), ds[0x40101048].value) == ("CS", "OPERATIONAL")
    assert (_vr(ds, 0x00082108), ds[0x00082108].value) == ("CS", "LHS")
    # Image Origin is a CS in DICOS, where DICOM's (0008,0118) is a UI.
    assert (_vr(ds, 0x00080118), ds[0x00080118].value) == ("CS", "MACHINE")
    assert ds.PresentationIntentType == "FOR PROCESSING"
    assert (ds.Rows, ds.Columns) == (ROWS, COLUMNS)
    assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 16, 0)
    assert [float(v) for v in ds.PixelSpacing] == [4.2, 5.0]
    assert [float(v) for v in ds.ImagerPixelSpacing] == [4.2, 5.0]
    assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == 0.0
    assert float(ds.KVP) == 6000.0
    assert ds.PixelIntensityRelationship == "LOG" and ds.PixelIntensityRelationshipSign == -1
    block = ds.private_block(0x0029, "NII DICOS 1.0")
    assert block[0x10].value == "ATTENUATION"
    assert block[0x11].VR == "FD" and block[0x11].value == ATTENUATION_PER_STORED_UNIT
    assert ds.pixel_array.dtype == np.uint16 and ds.pixel_array.shape == (ROWS, COLUMNS)


def test_dx_round_trip_recovers_attenuation_and_transmission(tmp_path):
    alpha = _image().attenuation_low
    path = write_dicos(_dx_dataset(alpha, energy_mev=3.5, instance_number=2), tmp_path / "dx_low.dcs")
    dx = read_dicos(path)
    assert dx.kind == "dx" and dx.modality == "XRAY" and dx.quantity == "ATTENUATION"
    assert dx.pixel_spacing_mm == (4.2, 5.0) and dx.kvp == 3500.0
    assert (dx.dicos_version, dx.file_meta_dicos_version) == ("V03", "V03")
    assert (dx.ooi_type, dx.coordinate_system, dx.image_origin) == ("CARGO", "LHS", "MACHINE")
    values = dx.values()
    finite = np.isfinite(alpha)
    assert np.isnan(values[5, 7]) and not finite[5, 7]
    assert np.max(np.abs(values[finite] - alpha[finite])) <= 0.5 * ATTENUATION_PER_STORED_UNIT + 1e-6
    transmission = np.exp(-values[finite])
    assert np.allclose(transmission, np.exp(-alpha[finite].astype(np.float64)), rtol=2e-4)


@pytest.mark.parametrize("shape", [(0, 5), (5,), (2, 3, 4)])
def test_dx_rejects_a_non_image(shape):
    with pytest.raises(DicosError, match="rows × columns"):
        _dx_dataset(np.zeros(shape, dtype=np.float32))


def test_tdr_writes_threats_processing_times_and_alarm(tmp_path):
    threats = [
        DicosThreat(
            pto_id=1, roi_base=(40, 10, 0), roi_extents=(30, 10, 1), category="CONTRABAND",
            assessment_flag="HIGH_THREAT", probability=0.97, category_description="dense high-Z",
            processing_start=T0, processing_end=T0 + timedelta(seconds=1.5),
        ),
        DicosThreat(pto_id=2, roi_base=(0, 0, 0), roi_extents=(300, 64, 1), category="ANOMALY",
                    assessment_flag="UNKNOWN", probability=0.4, ability_assessment="SHIELD"),
    ]
    images = [(SOP_CLASS_DX_PROCESSING, "1.2.826.0.1.3680043.8.498.21"),
              (SOP_CLASS_DX_PROCESSING, "1.2.826.0.1.3680043.8.498.22")]
    dataset = build_tdr_dataset(
        threats, alarm_decision="ALARM", referenced_images=images,
        sop_instance_uid="1.2.826.0.1.3680043.8.498.23", series_instance_uid="1.2.826.0.1.3680043.8.498.24",
        study_instance_uid="1.2.826.0.1.3680043.8.498.13", frame_of_reference_uid="1.2.826.0.1.3680043.8.498.14",
        ooi_id="TJP-2026-000123", algorithm=("NII", "0.1.0"), total_processing_time_ms=1500.0, created=T0,
    )
    path = write_dicos(dataset, tmp_path / "tdr.dcs")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == SOP_CLASS_TDR and ds.Modality == "TDR"
    assert ds.file_meta[0x00020004].value == "V03" and ds.DICOSVersion == "V03"
    assert (_vr(ds, 0x40101031), ds.AlarmDecision) == ("CS", "ALARM")
    assert ds.NumberOfTotalObjects == 2 and ds.NumberOfAlarmObjects == 1
    assert [item.ReferencedSOPInstanceUID for item in ds.ReferencedStudySequence] == [uid for _, uid in images]
    first = ds.ThreatSequence[0]
    assert (_vr(first, 0x40101010), first.PotentialThreatObjectID) == ("US", 1)
    voxel = first.PTORepresentationSequence[0].ThreatROIVoxelSequence[0]
    assert voxel[0x40101004].VR == "FL" and list(voxel.ThreatROIBase) == [40.0, 10.0, 0.0]
    assert list(voxel.ThreatROIExtents) == [30.0, 10.0, 1.0]
    refs = first.PTORepresentationSequence[0].ReferencedInstanceSequence
    assert [item.ReferencedSOPInstanceUID for item in refs] == [uid for _, uid in images]
    assessment = first.ATDAssessmentSequence[0]
    assert (assessment.ThreatCategory, assessment.ATDAssessmentFlag) == ("CONTRABAND", "HIGH_THREAT")
    assert assessment[0x40101016].VR == "FL" and assessment.ATDAssessmentProbability == pytest.approx(0.97)
    assert (first[0x40101080].VR, first[0x40101081].VR, first[0x40101082].VR) == ("DT", "DT", "FL")
    assert first[0x40101082].value == pytest.approx(1500.0)
    # Every PTO carries the three processing-time attributes (the SDK requires them).
    assert all(0x40101080 in item and 0x40101082 in item for item in ds.ThreatSequence)

    report = read_dicos(path)
    assert report.kind == "tdr" and report.alarm_decision == "ALARM" and report.pixel_array is None
    assert [t.pto_id for t in report.threats] == [1, 2]
    assert report.threats[0].roi_base == (40.0, 10.0, 0.0)
    assert report.threats[0].processing_end - report.threats[0].processing_start == timedelta(seconds=1.5)
    assert report.threats[1].assessment_flag == "UNKNOWN" and report.threats[1].ability_assessment == "SHIELD"
    with pytest.raises(DicosError, match="no pixel values"):
        report.values()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alarm_decision": "MAYBE"}, "alarm decision"),
        ({"threats": [DicosThreat(1, (0, 0, 0), (1, 1, 1), "ANOMALY", "SEVERE")]}, "assessment flag"),
        ({"threats": [DicosThreat(1, (0, 0, 0), (1, 1, 1), "ANOMALY", "THREAT")] * 2}, "unique"),
        ({"threats": [DicosThreat(1, (0, 0, 0), (1, 1, 1), "ANOMALY", "THREAT", probability=1.5)]}, "0..1"),
    ],
)
def test_tdr_rejects_invalid_content(change, message):
    arguments = dict(
        threats=[], alarm_decision="CLEAR", referenced_images=[], sop_instance_uid="1.2.3",
        series_instance_uid="1.2.4", study_instance_uid="1.2.5", frame_of_reference_uid="1.2.6", ooi_id="X",
    )
    arguments.update(change)
    with pytest.raises(DicosError, match=message):
        build_tdr_dataset(arguments.pop("threats"), **arguments)


# --------------------------------------------------------------------------- errors


def test_read_rejects_missing_non_dicos_truncated_and_non_dicos_dicom(tmp_path):
    with pytest.raises(DicosError, match="no such DICOS file"):
        read_dicos(tmp_path / "absent.dcs")
    text = tmp_path / "notes.dcs"
    text.write_text("not a DICOS file at all\n" * 10)
    with pytest.raises(DicosError, match="not a DICOS file"):
        read_dicos(text)

    good = write_dicos(_dx_dataset(_image().attenuation_high), tmp_path / "dx.dcs")
    data = good.read_bytes()
    for cut in (140, 600, len(data) // 2, len(data) - 7):
        truncated = tmp_path / f"cut{cut}.dcs"
        truncated.write_bytes(data[:cut])
        with pytest.raises(DicosError) as caught:
            read_dicos(truncated)
        assert str(truncated) in str(caught.value)
        assert isinstance(caught.value, ScannerIOError)

    ct_dicom = pydicom.Dataset()
    ct_dicom.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # DICOM CT, not DICOS
    ct_dicom.SOPInstanceUID = "1.2.3.4"
    plain = write_dicos(ct_dicom, tmp_path / "plain.dcm")
    with pytest.raises(DicosError, match="not a DICOS CT, DX or TDR"):
        read_dicos(plain)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "dx.dcs"
    path.write_bytes(b"previous")
    with pytest.raises(DicosError):
        write_dicos(pydicom.Dataset(), path)  # no SOP UIDs: refused before any write
    assert path.read_bytes() == b"previous"
    write_dicos(_dx_dataset(_image().attenuation_high), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dx.dcs"]


# --------------------------------------------------------------------------- export


def test_assessment_flag_mapping():
    assert assessment_flag("UNDECLARED_HIGH_Z", "high") == "HIGH_THREAT"
    assert assessment_flag("MASS_MISMATCH", "medium") == "THREAT"
    assert assessment_flag("MASS_MISMATCH", None) == "NO_THREAT"
    assert assessment_flag("UNREADABLE_REGION", "high") == "UNKNOWN"


def test_threats_follow_regions_then_regionless_reasons():
    threats = threats_from_verdict(_verdict(), (ROWS, COLUMNS))
    assert [t.pto_id for t in threats] == [1, 2, 3]
    high_z, unreadable, mass = threats
    assert high_z.roi_base == (40.0, 10.0, 0.0) and high_z.roi_extents == (30.0, 10.0, 1.0)
    assert (high_z.category, high_z.assessment_flag, high_z.probability) == ("CONTRABAND", "HIGH_THREAT", 0.97)
    assert "38 kg" in high_z.category_description and "1400-1550 mm" in high_z.location_description
    assert (unreadable.category, unreadable.assessment_flag, unreadable.ability_assessment) == (
        "ANOMALY", "UNKNOWN", "SHIELD")
    assert mass.roi_extents == (float(COLUMNS), float(ROWS), 1.0) and mass.assessment_flag == "THREAT"
    assert mass.location_description == "whole image"
    assert mass.category_description == "MASS_MISMATCH: cargo ≈ 24 t × 1, declared 18 t"


def test_export_dicos_writes_two_dx_and_a_tdr_that_reference_them(tmp_path):
    image, verdict = _image(), _verdict()
    paths = export_dicos(image, verdict, tmp_path / "out", started=T0, finished=T0 + timedelta(seconds=2))
    assert [p.name for p in paths] == [*DX_FILE_NAMES, TDR_FILE_NAME]
    high, low, tdr = (read_dicos(p) for p in paths)
    assert (high.kvp, low.kvp) == (6000.0, 3500.0)
    assert high.dataset.InstanceNumber == 1 and low.dataset.InstanceNumber == 2
    assert high.series_instance_uid == low.series_instance_uid != tdr.series_instance_uid
    assert high.study_instance_uid == low.study_instance_uid == tdr.study_instance_uid
    assert high.pixel_spacing_mm == (4.2, 5.0)
    assert float(high.dataset.ImagePositionPatient[0]) == 1200.0
    assert np.nanmax(np.abs(high.values() - image.attenuation_high)) <= 0.5 * ATTENUATION_PER_STORED_UNIT + 1e-6
    assert np.isnan(low.values()[5, 7])
    assert tdr.alarm_decision == "ALARM"
    assert tdr.referenced_sop_instance_uids == (high.sop_instance_uid, low.sop_instance_uid)
    assert len(tdr.threats) == 3
    assert tdr.threats[2].category_description == "MASS_MISMATCH: cargo ≈ 24 t × 1, declared 18 t"
    for threat in tdr.threats:
        assert threat.referenced_sop_instance_uids == (high.sop_instance_uid, low.sop_instance_uid)
        assert threat.processing_time_ms == pytest.approx(2000.0)
    assert tdr.dataset.TotalProcessingTime == pytest.approx(2000.0)
    assert list(tdr.dataset.ThreatDetectionAlgorithmAndVersion)[:2] == ["NII", "0.1.0"]


def test_export_is_deterministic_in_its_uids_and_clear_gives_clear(tmp_path):
    image = _image()
    clear = Verdict("TJP-2026-000123", [], [], 18000.0, {"organic": 1.0}, {"input_sha256": "cd" * 32})
    first = [read_dicos(p).sop_instance_uid for p in export_dicos(image, clear, tmp_path / "a")]
    second = [read_dicos(p).sop_instance_uid for p in export_dicos(image, clear.to_dict(), tmp_path / "b")]
    assert first == second
    report = read_dicos(tmp_path / "a" / TDR_FILE_NAME)
    assert report.alarm_decision == "CLEAR" and report.threats == ()
    changed = _Image(image.attenuation_high + 0.5, image.attenuation_low)
    third = [read_dicos(p).sop_instance_uid for p in export_dicos(changed, clear, tmp_path / "c")]
    assert third[0] != first[0] and third[1] == first[1]


def test_export_rejects_a_single_energy_image(tmp_path):
    image = _image()
    image.energies_mev = [6.0]
    with pytest.raises(DicosError, match="two energies"):
        export_dicos(image, _verdict(), tmp_path)
    image = _Image(np.zeros((4, 5), np.float32), np.zeros((4, 6), np.float32))
    with pytest.raises(DicosError, match="one shape"):
        export_dicos(image, _verdict(), tmp_path)


# --------------------------------------------------------------------------- pydicos (the Stratovan SDK)


@pytest.fixture(scope="module")
def pydicos():
    return pytest.importorskip("pydicos", reason="pydicos (the Stratovan DICOS SDK wrapper) is not installed")


def test_pydicos_reads_our_dx_pixels(tmp_path, pydicos):
    image = _image()
    paths = export_dicos(image, _verdict(), tmp_path)
    ours = read_dicos(paths[0])
    sdk = np.asarray(pydicos.DXLoader(str(paths[0])).get_data())
    assert sdk.shape == (ROWS, COLUMNS)
    assert np.array_equal(sdk, ours.pixel_array)


def test_pydicos_reads_our_tdr(tmp_path, pydicos):
    paths = export_dicos(_image(), _verdict(), tmp_path, started=T0, finished=T0 + timedelta(seconds=2))
    data = pydicos.TDRLoader(str(paths[2])).get_data()
    assert data["AlarmDecision"].name == "enumAlarm"
    assert data["OOIType"].name == "enumTypeCargo"
    assert data["ProcessingTime"] == pytest.approx(2000.0)
    assert [pto["ID"] for pto in data["PTOs"]] == [1, 2, 3]
    flags = [pto["Assessment"]["flag"].name for pto in data["PTOs"]]
    assert flags == ["enumHighThreat", "enumUnknown", "enumThreat"]
    categories = [pto["Assessment"]["category"].name for pto in data["PTOs"]]
    assert categories == ["enumContraband", "enumAnomaly", "enumAnomaly"]
    assert data["PTOs"][0]["Assessment"]["probability"] == pytest.approx(0.97)
    assert data["PTOs"][2]["Assessment"]["description"] == "MASS_MISMATCH: cargo ≈ 24 t × 1, declared 18 t"
    start = data["PTOs"][0]["PTOProcessingTime"]["ProcessingStartTime"]
    assert start["date"] == (2026, 11, 30) and tuple(start["time"][:3]) == (7, 0, 0)


def test_pydicos_reads_our_roi_when_the_ooi_is_baggage(tmp_path, pydicos):
    # The SDK reads a PTO's ROI back as zeros when OOI Type is CARGO (shared/dicos-samples
    # SOURCE.md); the same report typed BAGGAGE shows that our ROI encoding is what it expects.
    threats = threats_from_verdict(_verdict(), (ROWS, COLUMNS))
    dataset = build_tdr_dataset(
        threats, alarm_decision="ALARM", referenced_images=[(SOP_CLASS_DX_PROCESSING, "1.2.3.4")],
        sop_instance_uid="1.2.3.5", series_instance_uid="1.2.3.6", study_instance_uid="1.2.3.7",
        frame_of_reference_uid="1.2.3.8", ooi_id="X", ooi_type="BAGGAGE",
    )
    path = write_dicos(dataset, tmp_path / "tdr.dcs")
    pto = pydicos.TDRLoader(str(path)).get_data()["PTOs"][0]
    assert pto["Base"] == {"x": 40.0, "y": 10.0, "z": 0.0}
    assert pto["Extent"] == {"x": 30.0, "y": 10.0, "z": 1.0}


def test_verdict_json_of_export_inputs_is_plain_json():
    # export_dicos accepts the contract JSON as read back from verdict.json
    data = json.loads(json.dumps(_verdict().to_dict()))
    assert len(threats_from_verdict(data, (ROWS, COLUMNS))) == 3


def test_damaged_files_give_dicos_errors_only(tmp_path):
    paths = export_dicos(_image(), _verdict(), tmp_path / "good")
    rng = np.random.default_rng(3)
    for path in paths:
        data = path.read_bytes()
        for trial in range(40):
            damaged = bytearray(data)
            for index in rng.integers(128, min(len(damaged), 3000), size=4):
                damaged[index] = int(rng.integers(0, 256))
            if trial % 3 == 0:
                damaged = damaged[: int(rng.integers(100, len(damaged)))]
            target = tmp_path / f"damaged_{path.stem}_{trial}.dcs"
            target.write_bytes(bytes(damaged))
            try:
                obj = read_dicos(target)
                if obj.pixel_array is not None:
                    obj.values()
            except DicosError:
                pass
