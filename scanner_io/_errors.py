"""Errors of the scanner I/O package."""

from __future__ import annotations

__all__ = ["ToolkitError", "ScannerIOError", "NxrError", "DicosError", "ImagePairError"]


class ToolkitError(Exception):
    """Root of every error raised on purpose by :mod:`scanner_io` and by ``nii``.

    It lives here, in the package that depends on nothing, so that ``nii``'s errors
    (``nii.errors.NiiError``) can derive from it without ``scanner_io`` knowing about
    ``nii``: ``except ToolkitError`` (also exported as ``nii.ToolkitError``) catches
    both packages' errors and nothing else.
    """


class ScannerIOError(ToolkitError):
    """Base class of every error raised on purpose by :mod:`scanner_io`.

    The message is one sentence naming the file and what is wrong with it.
    """


class NxrError(ScannerIOError):
    """An NXR file is unreadable, corrupt beyond recovery, or violates the format."""


class DicosError(ScannerIOError):
    """A DICOS file cannot be read or written."""


class ImagePairError(ScannerIOError):
    """A high/low image pair or its metadata is unreadable or inconsistent."""
