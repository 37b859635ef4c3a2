"""Errors raised by the ``nii`` library.

Every error carries one sentence for the user: what was wrong, in which file, and
what to do. The command line prints that sentence and exits 2; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

from scanner_io._errors import ToolkitError

__all__ = [
    "ToolkitError",
    "NiiError",
    "CalibrationError",
    "ManifestError",
    "CatalogueError",
    "SimulationError",
    "AnalysisError",
    "MissingExtraError",
    "OutputError",
]


class NiiError(ToolkitError):
    """Base class of every error the library raises on purpose.

    It derives from :class:`scanner_io.ToolkitError`, the root shared with
    :class:`scanner_io.ScannerIOError`: ``except nii.ToolkitError`` catches the errors of
    both packages.
    """


class CalibrationError(NiiError):
    """A calibration file is unreadable or does not match the scan it is used on."""


class ManifestError(NiiError):
    """A manifest is unreadable or violates the inspection contract."""


class CatalogueError(NiiError):
    """A seeds catalogue (materials, commodities, containers, threats, suites) is invalid."""


class SimulationError(NiiError):
    """A simulation request is impossible or inconsistent."""


class AnalysisError(NiiError):
    """A scan cannot be analysed (for example: no object pulses, no references)."""


class OutputError(NiiError):
    """An output cannot be written safely (unwritable folder, a name escaping it, a symbolic link, a collision)."""


class MissingExtraError(NiiError, ImportError):
    """An optional dependency (an extra) is needed but not installed."""


def require_torch():
    """Import and return :mod:`torch`, or raise :class:`MissingExtraError`.

    Returns
    -------
    module
        The imported ``torch`` module.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(
            "this feature needs PyTorch: install it with  pip install 'nii[torch]'"
        ) from exc
    return torch
