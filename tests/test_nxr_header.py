"""NXR header: validation with clear errors, encoding, record dtype."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

import scanner_io
from scanner_io import NxrError, read_nxr, record_dtype, validate_header
from scanner_io._header import encode_header


def write_raw_header(
    path, body: bytes, crc: int | None = None, magic: bytes = b"NXRSCAN1", length=None
):
    length = len(body) if length is None else length
    crc = zlib.crc32(body) if crc is None else crc
    path.write_bytes(magic + struct.pack("<I", length) + body + struct.pack("<I", crc))
    return path


def header_file(tmp_path, header) -> object:
    return write_raw_header(tmp_path / "h.nxr", json.dumps(header).encode())


def test_public_names():
    expected = {
        "ScannerIOError",
        "NxrError",
        "DicosError",
        "ImagePairError",
        "NxrHeader",
        "FLAG_DARK",
        "FLAG_AIR",
        "FLAG_DOSE_VALID",
        "FLAG_POSITION_VALID",
        "record_dtype",
        "read_nxr",
        "iter_nxr",
        "NxrWriter",
        "Scan",
        "load_scan",
        "read_image_pair",
        "ReadReport",
        "NxrRecord",
        "NxrFile",
        "EnergyFrames",
        "Reference",
    }
    assert expected <= set(scanner_io.__all__)
    for name in scanner_io.__all__:
        assert hasattr(scanner_io, name)


def test_flags_match_spec():
    assert (scanner_io.FLAG_DARK, scanner_io.FLAG_AIR) == (1, 2)
    assert (scanner_io.FLAG_DOSE_VALID, scanner_io.FLAG_POSITION_VALID) == (4, 8)


@pytest.mark.parametrize(
    ("sample_dtype", "channels", "itemsize"),
    [("uint16", 1, 34), ("uint16", 512, 1056), ("uint32", 4, 48), ("float32", 4096, 32 + 4 * 4096)],
)
def test_record_dtype_layout(sample_dtype, channels, itemsize):
    dtype = record_dtype(channels, sample_dtype)
    assert dtype.itemsize == itemsize
    offsets = {name: dtype.fields[name][1] for name in dtype.names}
    assert offsets == {
        "sync": 0,
        "pulse_index": 4,
        "energy_index": 8,
        "flags": 9,
        "reserved": 10,
        "dose": 12,
        "time_s": 16,
        "position_mm": 24,
        "samples": 28,
        "crc": 28 + channels * np.dtype(sample_dtype).itemsize,
    }
    assert dtype["samples"].shape == (channels,)
    assert dtype["samples"].base == np.dtype(sample_dtype).newbyteorder("<")
    assert dtype["time_s"] == np.dtype("<f8") and dtype["dose"] == np.dtype("<f4")


def test_record_dtype_aliases():
    records = np.zeros(2, dtype=record_dtype(3, "uint16"))
    records["energy"] = [0, 1]
    records["time"] = [0.5, 1.5]
    records["position"] = [10.0, 20.0]
    assert records["energy_index"].tolist() == [0, 1]
    assert records["time_s"].tolist() == [0.5, 1.5]
    assert records["position_mm"].tolist() == [10.0, 20.0]


@pytest.mark.parametrize(
    ("channels", "dtype"), [(0, "uint16"), (65537, "uint16"), (4, "int16"), (True, "uint16")]
)
def test_record_dtype_rejects(channels, dtype):
    with pytest.raises(NxrError):
        record_dtype(channels, dtype)


def test_validate_header_fields(nxr_header):
    header = validate_header(
        nxr_header(detector__bad_channels=[3, 1], detector__first_channel="bottom")
    )
    assert header.scan_id == "TEST-0001" and header.kind == "object" and header.version == 1
    assert header.channels == 16 and header.sample_dtype == np.dtype("<u2")
    assert header.energies_mev == [6.0, 3.0] and header.n_energies == 2
    assert header.pitch_mm == 5.0 and header.first_channel == "bottom"
    assert header.bad_channels == [1, 3] and header.saturation == 65535
    assert header.pulse_rate_hz == 400.0 and header.nominal_speed_mps == 0.4
    assert header.source_to_detector_mm == 10000.0 and header.source_to_object_mm == 7500.0
    assert header.record_size == 32 + 16 * 2
    assert header.raw["extensions"] == {}


def test_defaults_for_optional_fields():
    raw = {
        "format": "nxr",
        "version": "1.3",
        "kind": "dark",
        "scan_id": "D",
        "sample_dtype": "float32",
        "detector": {"channels": 2},
        "source": {"energies_mev": [9]},
        "vendor_key": {"x": 1},
    }
    header = validate_header(raw)
    assert header.first_channel == "top" and header.pitch_mm is None
    assert header.saturation == float("inf") and header.bad_channels == [] and header.phantom == []
    assert header.raw["vendor_key"] == {"x": 1}


BAD_HEADERS = [
    ({"format": "nxr2"}, "format"),
    ({"version": 2}, "version"),
    ({"version": "two"}, "version"),
    ({"kind": "luggage"}, "kind"),
    ({"scan_id": 12}, "scan_id"),
    ({"sample_dtype": "int8"}, "sample_dtype"),
    ({"detector__channels": 0}, "detector.channels"),
    ({"detector__channels": 65537}, "detector.channels"),
    ({"detector__channels": "16"}, "detector.channels"),
    ({"detector__channels": True}, "detector.channels"),
    ({"detector__channels": 16.0}, "detector.channels"),
    ({"detector__first_channel": "left"}, "detector.first_channel"),
    ({"detector__bad_channels": [16]}, "detector.bad_channels"),
    ({"detector__pitch_mm": -5}, "detector.pitch_mm"),
    ({"source__energies_mev": []}, "source.energies_mev"),
    ({"source__energies_mev": [3.0, 6.0]}, "source.energies_mev"),
    ({"source__energies_mev": [6.0, 6.0]}, "source.energies_mev"),
    ({"source__energies_mev": [6.0, -3.0]}, "source.energies_mev"),
    ({"source__energies_mev": ["6"]}, "source.energies_mev"),
    ({"source__energies_mev": 6.0}, "source.energies_mev"),
    ({"source": [1]}, "source"),
    ({"detector": None}, "detector"),
    # physical bounds (PHYSICAL_RANGES): absurd values that overflow deep in the analysis
    ({"detector__pitch_mm": 1e-300}, "detector.pitch_mm"),
    ({"detector__pitch_mm": 1e300}, "detector.pitch_mm"),
    ({"geometry__source_to_detector_mm": 1e-300}, "geometry.source_to_detector_mm"),
    ({"geometry__source_to_detector_mm": 1e9}, "geometry.source_to_detector_mm"),
    ({"geometry__source_to_object_mm": 1e-9}, "geometry.source_to_object_mm"),
    ({"geometry__source_to_object_mm": 12000.0}, "geometry.source_to_object_mm"),  # beyond SDD
    ({"source__pulse_rate_hz": 1e-300}, "source.pulse_rate_hz"),
    ({"source__pulse_rate_hz": 1e12}, "source.pulse_rate_hz"),
    ({"source__energies_mev": [1e300, 3.0]}, "source.energies_mev"),
    ({"source__energies_mev": [6.0, 1e-300]}, "source.energies_mev"),
    ({"conveyance__nominal_speed_mps": 1e-300}, "conveyance.nominal_speed_mps"),
    ({"conveyance__nominal_speed_mps": 3e8}, "conveyance.nominal_speed_mps"),
]


@pytest.mark.parametrize(("change", "field"), BAD_HEADERS)
def test_invalid_header_rejected_naming_field_and_file(tmp_path, nxr_header, change, field):
    path = header_file(tmp_path, nxr_header(**change))
    with pytest.raises(NxrError) as info:
        read_nxr(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message
    assert "\n" not in message


@pytest.mark.parametrize("missing", ["format", "version", "kind", "scan_id", "sample_dtype"])
def test_missing_required_top_level(tmp_path, nxr_header, missing):
    header = nxr_header()
    del header[missing]
    with pytest.raises(NxrError, match=f"'{missing}' is missing"):
        read_nxr(header_file(tmp_path, header))


@pytest.mark.parametrize(("section", "key"), [("detector", "channels"), ("source", "energies_mev")])
def test_missing_required_nested(tmp_path, nxr_header, section, key):
    header = nxr_header()
    del header[section][key]
    with pytest.raises(NxrError, match=f"'{section}.{key}' is missing"):
        read_nxr(header_file(tmp_path, header))


def test_wrong_magic(tmp_path, nxr_header):
    path = write_raw_header(
        tmp_path / "m.nxr", json.dumps(nxr_header()).encode(), magic=b"NXRSCAN2"
    )
    with pytest.raises(NxrError, match="not an NXR file"):
        read_nxr(path)


def test_empty_and_tiny_files(tmp_path):
    for content in (b"", b"NXR", b"NXRSCAN1", b"NXRSCAN1\x05\x00"):
        path = tmp_path / "tiny.nxr"
        path.write_bytes(content)
        with pytest.raises(NxrError, match=str(path)):
            read_nxr(path)


@pytest.mark.parametrize("length", [0, (1 << 20) + 1, 0xFFFFFFFF])
def test_header_length_out_of_range(tmp_path, length):
    path = write_raw_header(tmp_path / "l.nxr", b"{}", length=length)
    with pytest.raises(NxrError, match="header length"):
        read_nxr(path)


def test_header_length_beyond_file(tmp_path, nxr_header):
    body = json.dumps(nxr_header()).encode()
    path = write_raw_header(tmp_path / "b.nxr", body, length=len(body) + 1000)
    with pytest.raises(NxrError, match="past the end of the file"):
        read_nxr(path)


def test_header_crc_mismatch(tmp_path, nxr_header):
    body = json.dumps(nxr_header()).encode()
    path = write_raw_header(tmp_path / "c.nxr", body, crc=zlib.crc32(body) ^ 1)
    with pytest.raises(NxrError, match="CRC"):
        read_nxr(path)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b"{not json", "JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "JSON|not a JSON object"),
        (b'{"format": NaN}', "JSON"),
    ],
)
def test_header_not_a_json_object(tmp_path, body, problem):
    with pytest.raises(NxrError, match=problem):
        read_nxr(write_raw_header(tmp_path / "j.nxr", body))


def test_encode_header_round_trip(nxr_header):
    header, prefix = encode_header(nxr_header(scan_id="ÜNICODE-1"))
    assert prefix[:8] == b"NXRSCAN1"
    (length,) = struct.unpack("<I", prefix[8:12])
    body = prefix[12 : 12 + length]
    assert struct.unpack("<I", prefix[12 + length :]) == (zlib.crc32(body),)
    assert json.loads(body.decode("utf-8"))["scan_id"] == "ÜNICODE-1"
    assert header.scan_id == "ÜNICODE-1"


def test_encode_header_rejects_unserialisable(nxr_header):
    with pytest.raises(NxrError, match="JSON"):
        encode_header(nxr_header(extensions={"bad": float("nan")}))


def test_physical_range_message_names_the_range(tmp_path, nxr_header):
    path = header_file(tmp_path, nxr_header(detector__pitch_mm=1e-300))
    with pytest.raises(NxrError) as info:
        read_nxr(path)
    message = str(info.value)
    assert "1e-300 mm" in message and "0.001 to 10000 mm" in message


@pytest.mark.parametrize(
    "change",
    [
        {"detector__pitch_mm": 0.05},  # a fine flat panel
        {"detector__pitch_mm": 5000.0},  # one channel over a whole column (coarse simulation)
        {"geometry__source_to_object_mm": 10000.0},  # the scan plane at the detector
        {"source__energies_mev": [0.16, 0.08]},  # a tube-based baggage scanner
        {"source__pulse_rate_hz": 20000.0},
        {"conveyance__nominal_speed_mps": 16.7},  # a train at 60 km/h
    ],
)
def test_real_scanners_are_inside_the_physical_ranges(tmp_path, nxr_header, change):
    assert read_nxr(header_file(tmp_path, nxr_header(**change))).records.size == 0
