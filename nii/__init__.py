"""NII: the open toolkit for high-energy dual-energy X-ray cargo inspection.

Data flows one way: raw NXR frames (:mod:`scanner_io`) → correction and calibration
(:mod:`nii.correction`, :mod:`nii.calibration`) → material discrimination
(:mod:`nii.discrimination`) → checks against the manifest (:mod:`nii.inspection`) →
verdict, evidence image and DICOS. :mod:`nii.simulate` is a physics-faithful
synthetic scanner that produces scans with ground truth.

``import nii`` is light: it imports neither torch nor the simulator.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "inspect"]


def __getattr__(name: str) -> Any:
    # Lazy entry points so that ``import nii`` stays cheap and torch-free.
    if name == "inspect":
        return import_module("nii.inspection").inspect
    raise AttributeError(f"module 'nii' has no attribute {name!r}")
