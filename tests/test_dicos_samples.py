"""Read the Stratovan DICOS SDK's sample files (shared/dicos-samples) with scanner_io.dicos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from scanner_io.dicos import read_dicos

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "dicos-samples"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"DICOS samples not found at {SAMPLES}")

_JPEG_DECODER = importlib.util.find_spec("pylibjpeg") is not None and importlib.util.find_spec("libjpeg") is not None


def _sample(name: str) -> Path:
    return SAMPLES / name


def _all_samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.dcs")) if SAMPLES.is_dir() else []


@pytest.mark.parametrize("path", _all_samples(), ids=lambda p: p.name)
def test_every_sample_reads_with_its_kind_and_dicos_version(path):
    obj = read_dicos(path, pixels=False)
    assert obj.kind in ("dx", "tdr", "ct")
    assert obj.dicos_version == "V03" and obj.file_meta_dicos_version == "V03"
    assert obj.scan_type == "OPERATIONAL" and obj.acquisition_status == "SUCCESSFUL"
    assert obj.modality == {"dx": "XRAY", "tdr": "TDR", "ct": "CT"}[obj.kind]
    if obj.kind == "dx":
        assert obj.image_type == ("ORIGINAL", "INTENSITY")
        assert (obj.coordinate_system, obj.image_origin) == ("LHS", "MACHINE")


def test_uncompressed_dx_for_processing_pixels():
    dx = read_dicos(_sample("DXFiles_SimpleProcessingDX.dcs"))
    assert dx.sop_class_uid.endswith(".501.2.2") and dx.ooi_type == "CARGO"
    assert dx.pixel_array.shape == (128, 256) and dx.pixel_array.dtype == np.uint16
    assert (dx.value_per_unit, dx.value_at_zero) == (1.0, 0.0)
    assert np.array_equal(dx.values(), dx.pixel_array.astype(np.float64))


@pytest.mark.skipif(not _JPEG_DECODER, reason="JPEG Lossless needs pylibjpeg and pylibjpeg-libjpeg")
@pytest.mark.parametrize("name", ["DXFiles_SimplePresentationDX.dcs", "DXFiles_SimpleColorPaletteDX.dcs"])
def test_jpeg_lossless_dx_pixels(name):
    dx = read_dicos(_sample(name))
    assert dx.pixel_array.shape == (128, 256)
    assert int(dx.pixel_array.max()) > 0


def test_ct_volume_and_its_pixel_measures():
    ct = read_dicos(_sample("SimpleCT_SimpleCT0000.dcs"))
    assert ct.kind == "ct" and ct.number_of_frames == 40
    assert ct.pixel_array.shape == (40, 20, 10)
    assert ct.pixel_spacing_mm == (1.0, 1.0)


def test_multiple_pto_report():
    report = read_dicos(_sample("TDRFiles_MultiplePTOsTDR.dcs"))
    assert report.alarm_decision == "ALARM"
    assert [t.pto_id for t in report.threats] == [2002, 9001]
    first, second = report.threats
    assert first.roi_base == (1.0, 23.0, 95.0) and first.roi_extents == (22.0, 33.0, 444.0)
    assert (first.category, first.assessment_flag) == ("ANOMALY", "NO_THREAT")
    assert (second.category, second.assessment_flag) == ("PI", "HIGH_THREAT")
    assert second.category_description == "Flammable Liquid"
    assert first.referenced_sop_instance_uids == ("1235.23456.568678.34546",)
    assert first.processing_start is not None and first.processing_time_ms == 0.0


def test_ct_report_with_probability_and_location():
    report = read_dicos(_sample("CTwithTDR_TDR.dcs"))
    weapon = report.threats[0]
    assert weapon.probability == pytest.approx(0.98)
    assert weapon.location_description == "Corner Object"
    assert report.referenced_sop_instance_uids == weapon.referenced_sop_instance_uids


def test_no_threat_report_is_clear_and_empty():
    report = read_dicos(_sample("TDRFiles_SimpleBaggageNoThreatTDR.dcs"))
    assert report.alarm_decision == "CLEAR" and report.threats == ()
