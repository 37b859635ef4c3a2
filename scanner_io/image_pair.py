"""Read a researcher's dual-energy image pair (16-bit TIFF or .npy plus JSON) as a :class:`Scan`.

Published and in-house data often come as two images, high and low energy, already
assembled, without the raw pulse stream. :func:`read_image_pair` wraps them in the
same :class:`~scanner_io.Scan` an NXR file gives, with synthetic dark and air
references, so the same correction applies.

Metadata JSON fields
--------------------
``scan_id`` (str, required)
    Identifier of the scan.
``energies_mev`` (list of 2 numbers, required)
    Nominal endpoint energies of the high and the low image, MeV, highest first.
``pitch_mm`` (number)
    Channel (row) pitch at the detector, mm.
``geometry`` (object)
    ``source_to_detector_mm`` and ``source_to_object_mm``, mm.
``nominal_speed_mps`` (number)
    Conveyance speed, m/s.
``pulse_rate_hz`` (number)
    Linac pulse rate, all energies together, Hz: gives each column a time
    (column k of energy e at ``(2k + e) / pulse_rate_hz`` s).
``column_pitch_mm`` (number)
    Distance between columns at the scan plane, mm. Without it, it is
    ``nominal_speed_mps * 1000 * 2 / pulse_rate_hz`` when both are given; with
    neither, positions are NaN (POSITION_VALID unset). Both images share the
    positions (a pair is taken as already registered).
``first_channel`` (``"top"`` or ``"bottom"``, default ``"top"``)
    Where image row 0 sits; ``"bottom"`` images are flipped so row 0 is the top.
``saturation`` (number), ``bad_channels`` (list of row numbers), ``scanner_id`` (str)
    As in the NXR header.
``already_normalised`` (bool, default false)
    True when the images are transmissions already (dark-subtracted and
    air-normalised): the dark level is then 0 and the air level the full scale.
``dark_level``, ``air_level`` (number, or a list of one number per energy)
    Offset and full-beam levels, sample units. Defaults: dark 0; air the full scale,
    which is the dtype maximum for uint16/uint32 (65535 for 16-bit) and 1.0 for
    float32.

The references built from these levels have ``synthetic=True``, ``pulses=0``,
``std`` zeros and no dose (``dose_valid`` is False for every column).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from scanner_io._errors import ImagePairError, NxrError
from scanner_io._header import validate_header
from scanner_io._records import ReadReport
from scanner_io.scan import EnergyFrames, FileDigest, Reference, Scan

__all__ = ["read_image_pair", "IMAGE_DTYPES"]

#: Pixel dtypes accepted for the images.
IMAGE_DTYPES = ("uint16", "uint32", "float32")
_TIFF_SUFFIXES = (".tif", ".tiff")


def _load_image(path: Path, role: str) -> tuple[np.ndarray, bytes]:
    if not path.is_file():
        raise ImagePairError(f"{path}: the {role}-energy image file does not exist")
    data = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix in _TIFF_SUFFIXES:
            import tifffile

            image = tifffile.imread(path)
        elif suffix == ".npy":
            image = np.load(path, allow_pickle=False)
        else:
            raise ImagePairError(
                f"{path}: unknown image type '{suffix}'; use a 16-bit TIFF (.tif/.tiff) or .npy"
            )
    except ImagePairError:
        raise
    except Exception as exc:  # tifffile and numpy raise many types for bad files
        raise ImagePairError(f"{path}: cannot read the {role}-energy image ({exc})") from exc
    image = np.asarray(image)
    if image.ndim != 2:
        raise ImagePairError(
            f"{path}: the {role}-energy image must be 2-D (rows × columns), got shape {image.shape}"
        )
    if image.dtype.name not in IMAGE_DTYPES:
        raise ImagePairError(
            f"{path}: the {role}-energy image has dtype {image.dtype}; expected one of "
            f"{', '.join(IMAGE_DTYPES)} (16-bit TIFF for scanner images)"
        )
    return image.astype(image.dtype.newbyteorder("<"), copy=False), data


def _load_metadata(
    metadata: str | os.PathLike | Mapping[str, Any],
) -> tuple[dict, str, bytes, Path | None]:
    if isinstance(metadata, Mapping):
        text = json.dumps(dict(metadata), sort_keys=True, default=str)
        return dict(metadata), "<metadata>", text.encode("utf-8"), None
    path = Path(metadata)
    source = os.fspath(metadata)
    if not path.is_file():
        raise ImagePairError(f"{source}: the metadata JSON file does not exist")
    data = path.read_bytes()
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ImagePairError(
            f"{source}: the metadata is not valid UTF-8 JSON ({str(exc)[:80]})"
        ) from exc
    if not isinstance(value, dict):
        raise ImagePairError(f"{source}: the metadata must be a JSON object")
    return value, source, data, path


def _levels(meta: Mapping[str, Any], key: str, default: float, source: str) -> list[float]:
    value = meta.get(key)
    if value is None:
        return [default, default]
    values = value if isinstance(value, list) else [value, value]
    if len(values) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values
    ):
        raise ImagePairError(f"{source}: '{key}' must be a number or a list of 2 numbers")
    return [float(v) for v in values]


def _positive(meta: Mapping[str, Any], key: str, source: str) -> float | None:
    value = meta.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or not np.isfinite(value)
    ):
        raise ImagePairError(f"{source}: '{key}' must be a positive number, got {value!r:.40}")
    return float(value)


def read_image_pair(
    high: str | os.PathLike,
    low: str | os.PathLike,
    metadata: str | os.PathLike | Mapping[str, Any],
) -> Scan:
    """Read a high/low image pair and its JSON description as a :class:`Scan`.

    Parameters
    ----------
    high : path-like
        High-energy image: 16-bit TIFF or ``.npy`` (uint16, uint32 or float32),
        rows × columns, sample units.
    low : path-like
        Low-energy image of the same shape and dtype.
    metadata : path-like or dict
        The JSON description (fields in the module docstring).

    Returns
    -------
    Scan
        Frames for the two energies (one column per image column), synthetic dark
        and air references, an empty read report.

    Raises
    ------
    ImagePairError
        Missing or unreadable file, wrong dtype, mismatched shapes, invalid metadata.

    Examples
    --------
    >>> scan = read_image_pair("high.tif", "low.tif", "pair.json")  # doctest: +SKIP
    >>> scan.frames[0].raw.shape  # doctest: +SKIP
    (1024, 3000)
    """
    meta, source, meta_bytes, meta_path = _load_metadata(metadata)
    image_high, bytes_high = _load_image(Path(high), "high")
    image_low, bytes_low = _load_image(Path(low), "low")
    if image_high.shape != image_low.shape:
        raise ImagePairError(
            f"{os.fspath(low)}: the low-energy image is {image_low.shape}, the high-energy "
            f"image {image_high.shape}: a pair must have the same shape"
        )
    if image_high.dtype != image_low.dtype:
        raise ImagePairError(
            f"{os.fspath(low)}: the low-energy image is {image_low.dtype}, the high-energy "
            f"image {image_high.dtype}: a pair must have the same dtype"
        )
    rows, columns = image_high.shape
    dtype = image_high.dtype
    energies = meta.get("energies_mev")
    if not isinstance(energies, list) or len(energies) != 2:
        raise ImagePairError(
            f"{source}: 'energies_mev' must list the 2 energies (MeV), highest first"
        )
    speed = _positive(meta, "nominal_speed_mps", source)
    rate = _positive(meta, "pulse_rate_hz", source)
    column_pitch = _positive(meta, "column_pitch_mm", source)
    if column_pitch is None and speed is not None and rate is not None:
        column_pitch = speed * 1000.0 * 2 / rate
    normalised = meta.get("already_normalised", False)
    if not isinstance(normalised, bool):
        raise ImagePairError(f"{source}: 'already_normalised' must be true or false")
    full_scale = float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0
    dark_level = _levels(meta, "dark_level", 0.0, source)
    air_level = _levels(meta, "air_level", full_scale, source)
    if normalised and ("dark_level" in meta and any(dark_level)):
        raise ImagePairError(
            f"{source}: 'already_normalised' images have no dark level to subtract"
        )
    if any(a <= d for a, d in zip(air_level, dark_level, strict=True)):
        raise ImagePairError(f"{source}: 'air_level' must be above 'dark_level' for each energy")

    detector = {"channels": rows, "first_channel": meta.get("first_channel", "top")}
    for key in ("pitch_mm", "saturation", "bad_channels"):
        if key in meta:
            detector[key] = meta[key]
    raw_header: dict[str, Any] = {
        "format": "nxr",
        "version": 1,
        "kind": "object",
        "scan_id": meta.get("scan_id"),
        "sample_dtype": dtype.name,
        "detector": detector,
        "source": {"energies_mev": energies, "pattern": "interlaced"},
        "extensions": {
            "image_pair": {
                "high": os.fspath(high),
                "low": os.fspath(low),
                "already_normalised": normalised,
                "column_pitch_mm": column_pitch,
            }
        },
    }
    if "scanner_id" in meta:
        raw_header["scanner_id"] = meta["scanner_id"]
    if rate is not None:
        raw_header["source"]["pulse_rate_hz"] = rate
    if "geometry" in meta:
        raw_header["geometry"] = meta["geometry"]
    if speed is not None:
        raw_header["conveyance"] = {"nominal_speed_mps": speed}
    if raw_header["scan_id"] is None:
        raise ImagePairError(f"{source}: the metadata field 'scan_id' is missing")
    try:
        header = validate_header(raw_header, source)
    except NxrError as exc:
        raise ImagePairError(str(exc).replace("header field", "metadata field")) from exc

    column = np.arange(columns, dtype=np.int64)
    if column_pitch is not None:
        position = column * column_pitch
        position_valid = np.ones(columns, dtype=bool)
    else:
        position = np.full(columns, np.nan)
        position_valid = np.zeros(columns, dtype=bool)
    frames = []
    for index, image in enumerate((image_high, image_low)):
        raw = image[::-1] if header.first_channel == "bottom" else image
        time_s = (2 * column + index) / rate if rate is not None else np.full(columns, np.nan)
        frames.append(
            EnergyFrames(
                energy_index=index,
                energy_mev=header.energies_mev[index],
                raw=raw,
                pulse_index=2 * column + index,
                time_s=np.asarray(time_s, dtype=np.float64),
                position_mm=position.astype(np.float64),
                position_valid=position_valid.copy(),
                dose=np.zeros(columns, dtype=np.float32),
                dose_valid=np.zeros(columns, dtype=bool),
            )
        )

    def reference(levels: list[float]) -> list[Reference | None]:
        return [
            Reference(np.full(rows, level), np.zeros(rows), None, 0, synthetic=True)
            for level in levels
        ]

    digest = hashlib.sha256()
    for part in (bytes_high, bytes_low, meta_bytes):
        digest.update(part)
    channel = np.arange(rows, dtype=np.int32)
    return Scan(
        header=header,
        path=meta_path,
        report=ReadReport(records=2 * columns),
        energies_mev=list(header.energies_mev),
        channel=channel[::-1].copy() if header.first_channel == "bottom" else channel,
        frames=frames,
        dark=reference(dark_level),
        air=reference(air_level),
        bad_channels=list(header.bad_channels),
        digest=FileDigest(digest.hexdigest()),
        reference_sources={"dark": "synthetic", "air": "synthetic"},
    )
