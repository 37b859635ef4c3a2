"""The NXR v1 file header: constants, validation and encoding.

The layout is fixed by ``docs/nxr-format.md``: an 8-byte magic, a ``uint32``
header length H, H bytes of UTF-8 JSON, and the ``uint32`` CRC-32 of those H bytes.
:func:`validate_header` turns the decoded JSON object into a checked
:class:`NxrHeader`; :func:`encode_header` does the reverse for the writer;
:func:`read_header` reads and checks the prefix of a file without ever reading more
than the file holds.

The header's physical numbers are bounded at validation (:data:`PHYSICAL_RANGES`):
a value far outside any scanner (``pitch_mm: 1e-300``) would otherwise overflow or
divide by nothing deep inside the analysis; it is refused with one sentence naming
the file and the field.
"""

from __future__ import annotations

import copy
import json
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from scanner_io._errors import NxrError

__all__ = [
    "MAGIC",
    "SYNC_WORD",
    "SYNC_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_CHANNELS",
    "SAMPLE_DTYPES",
    "KINDS",
    "RECORD_OVERHEAD_BYTES",
    "NxrHeader",
    "validate_header",
    "encode_header",
    "decode_header",
    "read_header",
    "header_may_grow",
    "PhysicalRange",
    "PHYSICAL_RANGES",
]

MAGIC = b"NXRSCAN1"
SYNC_WORD = 0x4E585252
SYNC_BYTES = struct.pack("<I", SYNC_WORD)  # b"RRXN"
MAX_HEADER_BYTES = 1 << 20
MAX_CHANNELS = 65536
SUPPORTED_MAJOR_VERSION = 1
#: NXR sample dtype names and their little-endian numpy dtypes.
SAMPLE_DTYPES: dict[str, np.dtype] = {
    "uint16": np.dtype("<u2"),
    "uint32": np.dtype("<u4"),
    "float32": np.dtype("<f4"),
}
KINDS = ("object", "air", "dark", "calibration")
#: Bytes of a record besides its samples: 28 bytes of fields and the 4-byte CRC.
RECORD_OVERHEAD_BYTES = 32


@dataclass(frozen=True)
class PhysicalRange:
    """Inclusive range a header number must lie in, its unit and why.

    Attributes
    ----------
    low, high : float
        Bounds, in ``unit``.
    unit : str
        Unit of the field.
    why : str
        Where the bounds come from.
    """

    low: float
    high: float
    unit: str
    why: str


#: Physical ranges of the header's numbers (field: range). The bounds are an order
#: of magnitude or more beyond any inspection system, so they only refuse values no
#: scanner can have (a corrupt or hand-made header), never a real one:
#:
#: ===============================  ==================  ===========================================
#: field                            range               why
#: ===============================  ==================  ===========================================
#: detector.pitch_mm                0.001–10,000 mm     1 µm pixels to one channel spanning a 10 m
#:                                                      column (coarse simulations enlarge the pitch)
#: geometry.source_to_detector_mm   10–100,000 mm       a bench source 1 cm away to a 100 m fan
#:                                                      beam; cargo portals are 5–15 m
#: geometry.source_to_object_mm     1–100,000 mm        likewise, and never beyond the detector
#: source.energies_mev              0.001–100 MeV       1 keV to 100 MeV; tubes 0.1–0.45 MeV,
#:                                                      cargo linacs 3–9 MeV
#: source.pulse_rate_hz             0.1–100,000 Hz      linacs pulse at 50–1,000 Hz, tube line
#:                                                      scanners read out at up to tens of kHz
#: conveyance.nominal_speed_mps     0.001–100 m/s       a creeping belt to a train at 360 km/h;
#:                                                      portals run 0.1–5 m/s
#: detector.channels                1–65,536            the spec's bound (checked as an integer)
#: ===============================  ==================  ===========================================
PHYSICAL_RANGES: dict[str, PhysicalRange] = {
    "detector.pitch_mm": PhysicalRange(
        1e-3, 1e4, "mm", "1 µm pixels to one channel spanning a 10 m detector column"
    ),
    "geometry.source_to_detector_mm": PhysicalRange(
        10.0, 1e5, "mm", "a bench source 1 cm away to a 100 m fan beam"
    ),
    "geometry.source_to_object_mm": PhysicalRange(
        1.0, 1e5, "mm", "a bench source 1 mm away to a 100 m fan beam"
    ),
    "source.energies_mev": PhysicalRange(
        1e-3, 100.0, "MeV", "1 keV to 100 MeV, beyond any inspection source"
    ),
    "source.pulse_rate_hz": PhysicalRange(
        0.1, 1e5, "Hz", "linacs pulse at 50-1,000 Hz, tube line scanners up to tens of kHz"
    ),
    "conveyance.nominal_speed_mps": PhysicalRange(
        1e-3, 100.0, "m/s", "a creeping belt (1 mm/s) to a train at 360 km/h"
    ),
}

_PREFIX = struct.Struct("<8sI")  # magic and header length H
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class NxrHeader:
    """A validated NXR header.

    Attributes
    ----------
    raw : dict
        The JSON object as read (a private deep copy), unknown keys included.
    scan_id, kind, scanner_id, started_at : str or None
        Identification; ``kind`` is one of ``object``, ``air``, ``dark``, ``calibration``.
    version : int
        Major format version (1).
    channels : int
        Detector channels N (1 to 65536).
    sample_dtype : numpy.dtype
        Little-endian dtype of one detector sample (uint16, uint32 or float32).
    energies_mev : list of float
        Nominal endpoint energies in MeV, highest first (index 0 = highest).
    pitch_mm : float or None
        Channel pitch at the detector, mm.
    first_channel : str
        ``"top"`` or ``"bottom"``: where channel 0 sits.
    saturation : float
        Sample value at or above which a channel is saturated (sample units); the
        dtype's maximum for integer dtypes and ``inf`` for float32 when not given.
    bad_channels : list of int
        Detector channels known dead or noisy.
    pulse_rate_hz : float or None
        Linac pulse rate, all energies together, Hz.
    pattern : str or None
        Pulse pattern (``"interlaced"``).
    source_to_detector_mm, source_to_object_mm : float or None
        Geometry, mm.
    nominal_speed_mps : float or None
        Nominal conveyance speed, m/s.
    phantom : list of dict
        Calibration phantom blocks (empty for other kinds).
    """

    raw: dict[str, Any]
    scan_id: str
    kind: str
    version: int
    channels: int
    sample_dtype: np.dtype
    energies_mev: list[float]
    scanner_id: str | None = None
    started_at: str | None = None
    pitch_mm: float | None = None
    first_channel: str = "top"
    saturation: float = math.inf
    bad_channels: list[int] = field(default_factory=list)
    pulse_rate_hz: float | None = None
    pattern: str | None = None
    source_to_detector_mm: float | None = None
    source_to_object_mm: float | None = None
    nominal_speed_mps: float | None = None
    phantom: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sample_dtype_name(self) -> str:
        """Name of the sample dtype as written in the header (``"uint16"`` ...)."""
        return self.sample_dtype.name

    @property
    def sample_bytes(self) -> int:
        """Bytes per detector sample."""
        return int(self.sample_dtype.itemsize)

    @property
    def record_size(self) -> int:
        """Bytes per record: ``32 + channels * sample_bytes``."""
        return RECORD_OVERHEAD_BYTES + self.channels * self.sample_bytes

    @property
    def n_energies(self) -> int:
        """Number of source energies."""
        return len(self.energies_mev)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Fetch and check header fields, raising one-sentence :class:`NxrError`."""

    def __init__(self, raw: Mapping[str, Any], source: str):
        self.raw = raw
        self.source = source

    def fail(self, name: str, problem: str) -> NxrError:
        return NxrError(f"{self.source}: header field '{name}' {problem}")

    def section(self, name: str, required: bool) -> Mapping[str, Any]:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is missing")
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(name, f"must be a JSON object, got {type(value).__name__}")
        return value

    def get(self, section: Mapping[str, Any], prefix: str, key: str, required: bool) -> Any:
        name = f"{prefix}{key}"
        if key not in section or section[key] is None:
            if required:
                raise self.fail(name, "is missing")
            return None
        return section[key]

    def string(self, section, prefix, key, required=False, choices=None) -> str | None:
        value = self.get(section, prefix, key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(prefix + key, f"must be a string, got {value!r:.60}")
        if choices is not None and value not in choices:
            raise self.fail(prefix + key, f"must be one of {', '.join(choices)}, got {value!r:.60}")
        return value

    def required_string(self, section, key, choices=None) -> str:
        value = self.string(section, "", key, required=True, choices=choices)
        if value is None:  # pragma: no cover - string() raises for a missing field
            raise self.fail(key, "is missing")
        return value

    def positive(self, section, prefix, key, required=False) -> float | None:
        value = self.get(section, prefix, key, required)
        if value is None:
            return None
        if not _is_number(value) or value <= 0:
            raise self.fail(prefix + key, f"must be a positive number, got {value!r:.60}")
        return self.in_range(prefix + key, value)

    def in_range(self, name: str, value: float) -> float:
        """Return ``value`` as a float if it lies in the field's :data:`PHYSICAL_RANGES`."""
        bounds = PHYSICAL_RANGES.get(name)
        if bounds is not None and not bounds.low <= value <= bounds.high:
            raise self.fail(
                name,
                f"is {value!r:.60} {bounds.unit}, outside the physical range "
                f"{bounds.low:g} to {bounds.high:g} {bounds.unit} ({bounds.why})",
            )
        return float(value)


def _major_version(value: Any, check: _Checker) -> int:
    major: int | None = None
    if _is_int(value):
        major = value
    elif _is_number(value):
        major = int(value)
    elif isinstance(value, str):
        head = value.strip().split(".", 1)[0]
        if head.isdigit():
            major = int(head)
    if major is None:
        raise check.fail("version", f"must be a version number, got {value!r:.60}")
    if major != SUPPORTED_MAJOR_VERSION:
        raise check.fail(
            "version",
            f"is {value!r:.60}: major version {major} is unknown, this reader supports "
            f"version {SUPPORTED_MAJOR_VERSION}",
        )
    return major


def validate_header(raw: Any, source: str = "<header>") -> NxrHeader:
    """Check a decoded NXR header and return it as an :class:`NxrHeader`.

    Parameters
    ----------
    raw : dict
        The header JSON object.
    source : str
        What to name in error messages (the file path).

    Returns
    -------
    NxrHeader
        The validated header.

    Raises
    ------
    NxrError
        One sentence naming ``source``, the field and the problem.

    Notes
    -----
    Besides the spec's checks, the physical numbers (pitch, distances, energies,
    pulse rate, speed) must lie in :data:`PHYSICAL_RANGES`, and the scan plane must
    not lie beyond the detector (``source_to_object_mm <= source_to_detector_mm``).

    Examples
    --------
    >>> h = validate_header({"format": "nxr", "version": 1, "kind": "air", "scan_id": "A1",
    ...     "sample_dtype": "uint16", "detector": {"channels": 4},
    ...     "source": {"energies_mev": [6.0, 3.0]}})
    >>> h.record_size
    40
    """
    if not isinstance(raw, Mapping):
        raise NxrError(f"{source}: the header is not a JSON object")
    check = _Checker(raw, source)
    for key in ("format", "version", "kind", "scan_id", "sample_dtype"):
        if key not in raw:
            raise check.fail(key, "is missing")
    if raw["format"] != "nxr":
        raise check.fail("format", f'must be "nxr", got {raw["format"]!r:.60}')
    version = _major_version(raw["version"], check)
    kind = check.required_string(raw, "kind", choices=KINDS)
    scan_id = check.required_string(raw, "scan_id")
    dtype_name = check.required_string(raw, "sample_dtype", choices=tuple(SAMPLE_DTYPES))
    sample_dtype = SAMPLE_DTYPES[dtype_name]

    detector = check.section("detector", required=True)
    channels = check.get(detector, "detector.", "channels", required=True)
    if not _is_int(channels) or not 1 <= channels <= MAX_CHANNELS:
        raise check.fail(
            "detector.channels",
            f"must be an integer from 1 to {MAX_CHANNELS}, got {channels!r:.60}",
        )
    pitch_mm = check.positive(detector, "detector.", "pitch_mm")
    first_channel = check.string(detector, "detector.", "first_channel", choices=("top", "bottom"))
    saturation = check.get(detector, "detector.", "saturation", required=False)
    if saturation is None:
        saturation = float(np.iinfo(sample_dtype).max) if sample_dtype.kind == "u" else math.inf
    elif not _is_number(saturation):
        raise check.fail("detector.saturation", f"must be a number, got {saturation!r:.60}")
    bad_channels = check.get(detector, "detector.", "bad_channels", required=False) or []
    if not isinstance(bad_channels, list) or not all(
        _is_int(c) and 0 <= c < channels for c in bad_channels
    ):
        raise check.fail(
            "detector.bad_channels",
            f"must be a list of channel numbers from 0 to {channels - 1}",
        )

    source_section = check.section("source", required=True)
    energies = check.get(source_section, "source.", "energies_mev", required=True)
    if (
        not isinstance(energies, list)
        or not 1 <= len(energies) <= 256
        or not all(_is_number(e) and e > 0 for e in energies)
    ):
        raise check.fail(
            "source.energies_mev",
            "must be a non-empty list (at most 256) of positive numbers (MeV)",
        )
    if any(a <= b for a, b in zip(energies[:-1], energies[1:], strict=True)):
        raise check.fail(
            "source.energies_mev", f"must list energies highest first, got {energies!r:.80}"
        )
    for energy in energies:
        check.in_range("source.energies_mev", energy)
    pulse_rate_hz = check.positive(source_section, "source.", "pulse_rate_hz")
    pattern = check.string(source_section, "source.", "pattern")

    geometry = check.section("geometry", required=False)
    sdd = check.positive(geometry, "geometry.", "source_to_detector_mm")
    sod = check.positive(geometry, "geometry.", "source_to_object_mm")
    if sdd is not None and sod is not None and sod > sdd:
        raise check.fail(
            "geometry.source_to_object_mm",
            f"is {sod:g} mm, beyond the detector ({sdd:g} mm from the source): the scan "
            "plane lies between source and detector",
        )
    conveyance = check.section("conveyance", required=False)
    speed = check.positive(conveyance, "conveyance.", "nominal_speed_mps")

    phantom = raw.get("phantom") or []
    if not isinstance(phantom, list) or not all(isinstance(p, Mapping) for p in phantom):
        raise check.fail("phantom", "must be a list of JSON objects")
    if (
        "extensions" in raw
        and raw["extensions"] is not None
        and not isinstance(raw["extensions"], Mapping)
    ):
        raise check.fail("extensions", "must be a JSON object")

    private = copy.deepcopy(dict(raw))
    return NxrHeader(
        raw=private,
        scan_id=scan_id,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        version=version,
        channels=channels,
        sample_dtype=sample_dtype,
        energies_mev=[float(e) for e in energies],
        scanner_id=check.string(raw, "", "scanner_id"),
        started_at=check.string(raw, "", "started_at"),
        pitch_mm=pitch_mm,
        first_channel=first_channel or "top",
        saturation=float(saturation),
        bad_channels=sorted(set(bad_channels)),
        pulse_rate_hz=pulse_rate_hz,
        pattern=pattern,
        source_to_detector_mm=sdd,
        source_to_object_mm=sod,
        nominal_speed_mps=speed,
        phantom=copy.deepcopy(list(phantom)),
    )


def encode_header(raw: Mapping[str, Any], source: str = "<header>") -> tuple[NxrHeader, bytes]:
    """Validate a header dict and return it with the bytes that open an NXR file.

    Parameters
    ----------
    raw : dict
        Header JSON object.
    source : str
        What to name in error messages (the file path).

    Returns
    -------
    header : NxrHeader
        The validated header.
    prefix : bytes
        Magic, header length, UTF-8 JSON and its CRC-32: everything before the records.
    """
    header = validate_header(raw, source)
    try:
        text = json.dumps(header.raw, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NxrError(f"{source}: the header cannot be written as JSON ({exc})") from exc
    body = text.encode("utf-8")
    if len(body) > MAX_HEADER_BYTES:
        raise NxrError(
            f"{source}: the header is {len(body)} bytes of JSON, more than the "
            f"{MAX_HEADER_BYTES} bytes NXR allows"
        )
    prefix = _PREFIX.pack(MAGIC, len(body)) + body + _CRC.pack(zlib.crc32(body))
    return header, prefix


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_header(body: bytes, source: str) -> NxrHeader:
    """Decode and validate the H header bytes (UTF-8 JSON object)."""
    try:
        text = body.decode("utf-8")
        raw = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise NxrError(f"{source}: the header is not valid UTF-8 ({exc.reason})") from exc
    except (ValueError, RecursionError) as exc:
        raise NxrError(f"{source}: the header is not valid JSON ({str(exc)[:80]})") from exc
    return validate_header(raw, source)


def read_header(stream: IO[bytes], file_size: int, source: str) -> tuple[NxrHeader, int]:
    """Read, check and decode the header at the start of an open NXR file.

    Parameters
    ----------
    stream : binary file object
        Positioned at offset 0.
    file_size : int
        Size of the file in bytes; nothing beyond it is ever allocated.
    source : str
        What to name in error messages (the file path).

    Returns
    -------
    header : NxrHeader
        The validated header.
    data_start : int
        Byte offset of the first record (16 + H).
    """
    head = stream.read(_PREFIX.size)
    if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
        raise NxrError(f"{source}: not an NXR file (the magic bytes are not {MAGIC.decode()})")
    if len(head) < _PREFIX.size:
        raise NxrError(f"{source}: the file ends inside the header length field")
    _, length = _PREFIX.unpack(head)
    if not 1 <= length <= MAX_HEADER_BYTES:
        raise NxrError(
            f"{source}: the header length {length} is outside 1..{MAX_HEADER_BYTES} bytes"
        )
    if _PREFIX.size + length + _CRC.size > file_size:
        raise NxrError(
            f"{source}: the header length {length} runs past the end of the file "
            f"({file_size} bytes): the header is truncated"
        )
    body = stream.read(length)
    crc_bytes = stream.read(_CRC.size)
    if len(body) != length or len(crc_bytes) != _CRC.size:
        raise NxrError(f"{source}: the file ends inside the header")
    (stored,) = _CRC.unpack(crc_bytes)
    if zlib.crc32(body) != stored:
        raise NxrError(f"{source}: the header CRC does not match: the header is corrupt")
    return decode_header(body, source), _PREFIX.size + length + _CRC.size


def header_may_grow(head: bytes, file_size: int) -> bool:
    """True when ``head`` (the first bytes of a file) could become a valid header prefix.

    Used by followers: a header still being written is short, anything else is final.
    """
    if not MAGIC.startswith(head[: len(MAGIC)]):
        return False
    if len(head) < _PREFIX.size:
        return True
    (length,) = struct.unpack("<I", head[len(MAGIC) : _PREFIX.size])
    return 1 <= length <= MAX_HEADER_BYTES and file_size < _PREFIX.size + length + _CRC.size
