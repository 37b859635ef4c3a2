"""Learned detectors and the benchmark harness for researchers (needs the ``torch`` extra).

Submodules:

- :mod:`nii.learn.plugins` — the detector plug-in interface (torch-free):
  ``register_detector``, ``get_detector``, ``run_detector``, ``DetectorResult``.
- :mod:`nii.learn.metrics` — ROC AUC, detection rate at a false-alarm rate, mAP@0.5,
  material-class accuracy, cargo-mass error (numpy only).
- :mod:`nii.learn.dataset` — torch ``Dataset`` over simulated scans with ground truth.
- :mod:`nii.learn.coco` — export to COCO JSON, RGB views and 16-bit PNGs per energy (``nii export coco``).
- :mod:`nii.learn.models` — U-Net segmenter, FCOS box detector, convolutional autoencoder.
- :mod:`nii.learn.zoo` — the shipped models (``models/<name>/``) and safe weight loading.
- :mod:`nii.learn.train` — ``python -m nii.learn.train --model NAME ...``.
- :mod:`nii.learn.bench` — ``nii bench``: every detector on a suite, tables and ROC plots.

Names are resolved lazily so that ``import nii.learn`` (and the plug-in registry) does
not import torch; torch is imported when a model, dataset or trainer is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    # plugins
    "DetectorResult",
    "ScoredRegion",
    "ModelError",
    "register_detector",
    "get_detector",
    "run_detector",
    "available_detectors",
    # metrics
    "roc_auc",
    "roc_curve",
    "detection_rate_at_far",
    "mean_average_precision_50",
    "material_class_accuracy",
    "cargo_mass_error",
    # torch-backed
    "ScanDataset",
    "load_model",
    "load_detector",
    "export_coco",
    "run_bench",
]

_WHERE = {
    "DetectorResult": "plugins",
    "ScoredRegion": "plugins",
    "ModelError": "plugins",
    "register_detector": "plugins",
    "get_detector": "plugins",
    "run_detector": "plugins",
    "available_detectors": "plugins",
    "roc_auc": "metrics",
    "roc_curve": "metrics",
    "detection_rate_at_far": "metrics",
    "mean_average_precision_50": "metrics",
    "material_class_accuracy": "metrics",
    "cargo_mass_error": "metrics",
    "ScanDataset": "dataset",
    "load_model": "zoo",
    "load_detector": "zoo",
    "export_coco": "coco",
    "run_bench": "bench",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"nii.learn.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'nii.learn' has no attribute {name!r}")
