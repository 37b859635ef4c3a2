"""Standalone I/O for dual-energy line scanners: NXR raw frames, image pairs, DICOS.

Depends on numpy (and pydicom for DICOS) and on nothing of ``nii``.

NXR (``docs/nxr-format.md``): :func:`read_nxr` reads a whole file over a
memory map, :func:`iter_nxr` follows a growing one, :class:`NxrWriter` writes one
append-only, :func:`load_scan` assembles raw images and references into a
:class:`Scan`. :func:`read_image_pair` turns a researcher's high/low image pair and
a JSON description into the same :class:`Scan`.
"""

from __future__ import annotations

from scanner_io._errors import DicosError, ImagePairError, NxrError, ScannerIOError, ToolkitError
from scanner_io._header import (
    MAGIC,
    SAMPLE_DTYPES,
    SYNC_WORD,
    NxrHeader,
    validate_header,
)
from scanner_io._records import (
    FLAG_AIR,
    FLAG_DARK,
    FLAG_DOSE_VALID,
    FLAG_POSITION_VALID,
    NxrRecord,
    ReadReport,
    record_dtype,
)
from scanner_io.image_pair import read_image_pair
from scanner_io.reader import (
    NxrFile,
    NxrRecordStream,
    NxrStream,
    iter_nxr,
    iter_nxr_chunks,
    read_nxr,
)
from scanner_io.scan import EnergyFrames, Reference, Scan, load_scan, scan_from_records
from scanner_io.writer import NxrWriter

__all__ = [
    "ToolkitError",
    "ScannerIOError",
    "NxrError",
    "DicosError",
    "ImagePairError",
    "MAGIC",
    "SYNC_WORD",
    "SAMPLE_DTYPES",
    "NxrHeader",
    "validate_header",
    "FLAG_DARK",
    "FLAG_AIR",
    "FLAG_DOSE_VALID",
    "FLAG_POSITION_VALID",
    "record_dtype",
    "NxrRecord",
    "ReadReport",
    "NxrFile",
    "read_nxr",
    "iter_nxr",
    "iter_nxr_chunks",
    "NxrStream",
    "NxrRecordStream",
    "NxrWriter",
    "Reference",
    "EnergyFrames",
    "Scan",
    "load_scan",
    "scan_from_records",
    "read_image_pair",
    "read_dicos",
    "DicosObject",
]

_DICOS_NAMES = {"read_dicos", "DicosObject"}


def __getattr__(name: str):
    # DICOS needs pydicom: import it only when asked, so the NXR path stays light.
    if name in _DICOS_NAMES:
        from scanner_io import dicos

        return getattr(dicos, name)
    raise AttributeError(f"module 'scanner_io' has no attribute {name!r}")
