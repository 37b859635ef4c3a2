"""NII: the open toolkit for high-energy dual-energy X-ray cargo inspection.

Data flows one way: raw NXR frames (:mod:`scanner_io`) → correction and calibration
(:mod:`nii.correction`, :mod:`nii.calibration`) → material discrimination
(:mod:`nii.discrimination`) → checks against the manifest (:mod:`nii.inspection`) →
verdict, evidence image and DICOS. :mod:`nii.simulate` is a physics-faithful
synthetic scanner that produces scans with ground truth.

The public API (``docs/api.md``)
--------------------------------
inspect(scan, manifest, *, calibration=None, backend="numpy", models=())
    Inspect a scan against its manifest; returns a :class:`Verdict` whose
    ``to_dict()`` is the verdict JSON ``nii inspect`` writes (``docs/verdict.md``).
run_inspection(scan, manifest, ...)
    The same, returning an :class:`InspectionResult`: the verdict with the analysed
    image and material map; ``result.save(folder, evidence=True, dicos=False)``
    writes ``verdict.json``, ``evidence.png`` and the DICOS files atomically.
render_evidence(image, material_map, verdict=None, *, path=None)
    The evidence image as PNG bytes (optionally written atomically to ``path``).
load_manifest(path_or_dict)
    Read and validate a manifest (``docs/manifest.md``).
load_calibration(path)
    Read a calibration file (``docs/calibration-file.md``).
run_batch(scans, manifests_dir, out_dir, ...)
    Inspect many scans, one output folder each, and write ``batch_summary.json``.
load_schema(name)
    The JSON Schema (draft 2020-12) of ``"manifest"``, ``"verdict"``,
    ``"calibration"`` or ``"batch-summary"``.

Errors: every error either package raises on purpose derives from
:class:`ToolkitError`: :class:`NiiError` (and its subclasses in :mod:`nii.errors`)
from the library, :class:`ScannerIOError` (and ``NxrError``, ``DicosError``...) from
:mod:`scanner_io`. Their message is one sentence naming the file and the problem.

``import nii`` is light: the names above are imported on first use, and neither torch
nor the simulator is imported by them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    "inspect": "nii.inspection",
    "run_inspection": "nii.inspection",
    "InspectionResult": "nii.inspection",
    "Verdict": "nii.inspection",
    "Reason": "nii.inspection",
    "Region": "nii.inspection",
    "run_batch": "nii.inspection",
    "load_manifest": "nii.inspection",
    "Manifest": "nii.inspection",
    "render_evidence": "nii.inspection.report",
    "load_calibration": "nii.calibration",
    "load_schema": "nii.schemas",
    "REASON_CODES": "nii.reasons",
    "ToolkitError": "nii.errors",
    "NiiError": "nii.errors",
    "ManifestError": "nii.errors",
    "CalibrationError": "nii.errors",
    "AnalysisError": "nii.errors",
    "MissingExtraError": "nii.errors",
    "ScannerIOError": "scanner_io",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # Lazy entry points so that ``import nii`` stays cheap and torch-free.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nii' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # ``help(nii)`` and ``dir(nii)`` list the lazy names too.
    return sorted(set(globals()) | set(_LAZY))
