"""Standalone I/O for dual-energy line scanners: NXR raw frames, image pairs, DICOS.

Depends on numpy (and pydicom for DICOS) and on nothing of ``nii``.
"""

from __future__ import annotations

from scanner_io._errors import DicosError, ImagePairError, NxrError, ScannerIOError

__all__ = ["ScannerIOError", "NxrError", "DicosError", "ImagePairError"]
