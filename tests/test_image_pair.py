"""read_image_pair: TIFF / .npy pairs with a JSON description become a Scan."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import tifffile

from scanner_io import ImagePairError, read_image_pair

METADATA = {
    "scan_id": "PAIR-1",
    "energies_mev": [6.0, 3.5],
    "pitch_mm": 4.0,
    "geometry": {"source_to_detector_mm": 9000.0, "source_to_object_mm": 7000.0},
    "nominal_speed_mps": 0.5,
    "pulse_rate_hz": 400.0,
    "scanner_id": "lab",
}


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(1)
    high = rng.integers(0, 65535, (12, 30), dtype=np.uint16)
    low = rng.integers(0, 65535, (12, 30), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "high.tif", high)
    tifffile.imwrite(tmp_path / "low.tif", low)
    (tmp_path / "pair.json").write_text(json.dumps(METADATA))
    return tmp_path, high, low


def test_tiff_pair(pair):
    folder, high, low = pair
    scan = read_image_pair(folder / "high.tif", folder / "low.tif", folder / "pair.json")
    assert scan.scan_id == "PAIR-1" and scan.energies_mev == [6.0, 3.5]
    np.testing.assert_array_equal(scan.frames[0].raw, high)
    np.testing.assert_array_equal(scan.frames[1].raw, low)
    assert scan.header.pitch_mm == 4.0 and scan.header.source_to_object_mm == 7000.0
    assert scan.header.nominal_speed_mps == 0.5 and scan.header.scanner_id == "lab"
    column_pitch = 0.5 * 1000 * 2 / 400.0
    np.testing.assert_allclose(scan.frames[1].position_mm, np.arange(30) * column_pitch)
    np.testing.assert_allclose(scan.frames[1].time_s, (2 * np.arange(30) + 1) / 400.0)
    assert scan.frames[0].position_valid.all() and not scan.frames[0].dose_valid.any()
    assert scan.dark[0].mean.tolist() == [0.0] * 12 and scan.air[1].mean.tolist() == [65535.0] * 12
    assert scan.air[0].synthetic and scan.air[0].pulses == 0
    files = b"".join((folder / name).read_bytes() for name in ("high.tif", "low.tif", "pair.json"))
    assert scan.sha256 == hashlib.sha256(files).hexdigest()
    assert scan.report.records == 60 and scan.report.clean


def test_npy_pair_with_levels_and_dict_metadata(tmp_path):
    high = np.full((4, 5), 0.5, np.float32)
    np.save(tmp_path / "h.npy", high)
    np.save(tmp_path / "l.npy", high * 0.5)
    meta = {
        "scan_id": "N",
        "energies_mev": [9, 6],
        "dark_level": [10, 20],
        "air_level": 1000,
        "first_channel": "bottom",
        "column_pitch_mm": 2.5,
    }
    scan = read_image_pair(tmp_path / "h.npy", tmp_path / "l.npy", meta)
    assert scan.dark[1].mean[0] == 20.0 and scan.air[0].mean[0] == 1000.0
    assert scan.channel.tolist() == [3, 2, 1, 0]
    assert scan.frames[0].position_mm[-1] == 10.0 and scan.path is None
    assert np.isnan(scan.frames[0].time_s).all()


def test_already_normalised_float_images(tmp_path):
    np.save(tmp_path / "h.npy", np.full((3, 3), 0.9, np.float32))
    np.save(tmp_path / "l.npy", np.full((3, 3), 0.8, np.float32))
    scan = read_image_pair(
        tmp_path / "h.npy",
        tmp_path / "l.npy",
        {"scan_id": "T", "energies_mev": [6, 3], "already_normalised": True},
    )
    assert scan.air[0].mean[0] == 1.0 and scan.dark[0].mean[0] == 0.0
    assert not scan.frames[0].position_valid.any()


def test_missing_files(pair):
    folder, _, _ = pair
    with pytest.raises(ImagePairError, match="does not exist"):
        read_image_pair(folder / "nope.tif", folder / "low.tif", folder / "pair.json")
    with pytest.raises(ImagePairError, match="metadata JSON file does not exist"):
        read_image_pair(folder / "high.tif", folder / "low.tif", folder / "none.json")


def test_mismatched_shapes(pair):
    folder, high, _ = pair
    tifffile.imwrite(folder / "small.tif", high[:, :10])
    with pytest.raises(ImagePairError, match="same shape"):
        read_image_pair(folder / "high.tif", folder / "small.tif", folder / "pair.json")


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64])
def test_wrong_dtype(tmp_path, dtype):
    np.save(tmp_path / "h.npy", np.zeros((3, 3), dtype))
    np.save(tmp_path / "l.npy", np.zeros((3, 3), dtype))
    with pytest.raises(ImagePairError, match="dtype"):
        read_image_pair(tmp_path / "h.npy", tmp_path / "l.npy", dict(METADATA))


def test_not_2d_and_unknown_type(tmp_path):
    np.save(tmp_path / "h.npy", np.zeros((2, 3, 3), np.uint16))
    with pytest.raises(ImagePairError, match="2-D"):
        read_image_pair(tmp_path / "h.npy", tmp_path / "h.npy", dict(METADATA))
    (tmp_path / "h.png").write_bytes(b"x")
    with pytest.raises(ImagePairError, match="unknown image type"):
        read_image_pair(tmp_path / "h.png", tmp_path / "h.png", dict(METADATA))
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(ImagePairError, match="cannot read"):
        read_image_pair(tmp_path / "bad.tif", tmp_path / "bad.tif", dict(METADATA))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"scan_id": None}, "scan_id"),
        ({"energies_mev": [6.0]}, "energies_mev"),
        ({"energies_mev": [3.0, 6.0]}, "energies_mev"),
        ({"pulse_rate_hz": -1}, "pulse_rate_hz"),
        ({"air_level": [1, 2, 3]}, "air_level"),
        ({"dark_level": 70000}, "air_level"),
        ({"already_normalised": "yes"}, "already_normalised"),
        ({"first_channel": "left"}, "first_channel"),
    ],
)
def test_invalid_metadata(pair, change, problem):
    folder, _, _ = pair
    meta = {**METADATA, **change}
    meta = {k: v for k, v in meta.items() if v is not None}
    (folder / "bad.json").write_text(json.dumps(meta))
    with pytest.raises(ImagePairError, match=problem):
        read_image_pair(folder / "high.tif", folder / "low.tif", folder / "bad.json")


def test_metadata_not_json(pair):
    folder, _, _ = pair
    (folder / "bad.json").write_text("{oops")
    with pytest.raises(ImagePairError, match="JSON"):
        read_image_pair(folder / "high.tif", folder / "low.tif", folder / "bad.json")
