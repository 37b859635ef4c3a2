"""``nii bench``: run detectors, the physics checks and the zoo models on a simulated suite.

For every scan of a suite (simulated on demand by ``nii simulate``) the harness

1. loads the corrected and discriminated arrays (cached beside the scan, see
   :mod:`nii.learn.dataset`) and the ground truth;
2. runs each detector: the inspection pipeline (``physics``: :func:`nii.inspection.inspect`
   on the NXR and its manifest), every registered plug-in and every zoo model asked for;
3. scores them against the truth: ROC AUC, detection rate at 1 % and 5 % false-alarm
   rate, mAP@0.5 of the regions, mean time per scan; plus the material-class accuracy of
   discrimination and the cargo-mass error of the physics estimate.

Outputs (atomic) in ``OUT``: ``bench.json`` (all figures, ROC points, per-scan scores),
``bench.md`` (Markdown tables) and ``roc.png`` (ROC curves, drawn with Pillow).

Detectors of the plug-in interface receive ``(image, material_map)`` where ``image`` is
the scan's :class:`~nii.learn.sample.ScanSample` (``attenuation_high``, ``attenuation_low``,
``sigma_high``, ``sigma_low``, ``position_mm``, ``row_height_mm``, ``scan_id``) and
``material_map`` exposes ``classes``, ``zeff``, ``areal_density_g_cm2``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from nii.errors import NiiError
from nii.io_utils import atomic_write_bytes, atomic_write_text

from . import metrics
from .plugins import (
    DetectorResult,
    ModelError,
    as_result,
    available_detectors,
    get_detector,
    run_detector,
)
from .sample import ScanSample

__all__ = ["PHYSICS", "BenchReport", "run_bench", "score_detector", "material_view", "roc_png", "markdown_report"]

#: Name of the inspection pipeline (physics checks against the manifest) in the tables.
PHYSICS = "physics"


def material_view(sample: ScanSample) -> Any:
    """Return the measured material map of a sample as an object with MaterialMap's fields (or None)."""
    if sample.classes is None or sample.zeff is None:
        return None
    return SimpleNamespace(classes=sample.classes, zeff=sample.zeff, areal_density_g_cm2=sample.areal_density_g_cm2,
                           position_mm=sample.position_mm)


def _physics_runner() -> Callable[[ScanSample], tuple[DetectorResult, dict[str, Any]]]:
    try:
        from nii.inspection import inspect
    except ImportError as exc:
        raise ModelError(f"the physics checks are not available (nii.inspection: {exc})") from exc

    def run(sample: ScanSample) -> tuple[DetectorResult, dict[str, Any]]:
        if not sample.nxr_path:
            raise ModelError(f"scan {sample.scan_id}: the physics checks need the NXR file")
        nxr = Path(sample.nxr_path)
        manifest_path = nxr.with_name(nxr.name[: -len(nxr.suffix)] + ".manifest.json")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{manifest_path}: cannot read the manifest ({exc})") from exc
        started = time.perf_counter()
        verdict = inspect(nxr, manifest).to_dict()
        seconds = time.perf_counter() - started
        result = as_result({"score": verdict.get("score", 0.0), "regions": verdict.get("regions", [])},
                           shape=sample.shape, name=PHYSICS)
        return DetectorResult(result.score, result.regions, PHYSICS, seconds), verdict

    return run


@dataclass
class BenchReport:
    """Everything a bench run measured (``to_dict`` is ``bench.json``)."""

    suite: str
    scans: int
    positives: int
    detectors: dict[str, dict[str, Any]]
    material: dict[str, Any] | None
    cargo_mass: dict[str, Any] | None
    errors: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN written as null)."""
        return _jsonable({
            "suite": self.suite, "scans": self.scans, "positives": self.positives,
            "detectors": self.detectors, "material_classes": self.material,
            "cargo_mass": self.cargo_mass, "errors": self.errors,
        })


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def score_detector(results: Sequence[DetectorResult], samples: Sequence[ScanSample]) -> dict[str, Any]:
    """Return the metrics of one detector's results on the samples (same order).

    Returns
    -------
    dict
        ``roc_auc``, ``detection_rate_far_1pct``, ``detection_rate_far_5pct`` (with
        their thresholds), ``map50``, ``seconds_per_scan``, ``roc`` (``fpr``, ``tpr``),
        ``scores`` (scan id → score). NaN where undefined (no positives or negatives).
    """
    scores = [r.score for r in results]
    labels = [s.label for s in samples]
    nan = float("nan")
    figures: dict[str, Any] = {"scans": len(results)}
    if 0 < sum(labels) < len(labels):
        fpr, tpr, _ = metrics.roc_curve(scores, labels)
        dr1, t1 = metrics.detection_rate_at_far(scores, labels, 0.01)
        dr5, t5 = metrics.detection_rate_at_far(scores, labels, 0.05)
        figures.update(roc_auc=metrics.roc_auc(scores, labels), detection_rate_far_1pct=dr1, threshold_far_1pct=t1,
                       detection_rate_far_5pct=dr5, threshold_far_5pct=t5,
                       roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()})
    else:
        figures.update(roc_auc=nan, detection_rate_far_1pct=nan, detection_rate_far_5pct=nan, roc=None)
    predictions = [{"boxes": np.array([g.bbox for g in r.regions], dtype=np.float64).reshape(-1, 4),
                    "scores": np.array([g.score for g in r.regions], dtype=np.float64)} for r in results]
    targets = [{"boxes": metrics.merge_duplicate_boxes(s.boxes)} for s in samples]
    figures["map50"] = metrics.mean_average_precision_50(predictions, targets)
    figures["seconds_per_scan"] = float(np.mean([r.seconds for r in results])) if results else nan
    figures["scores"] = {s.scan_id: r.score for s, r in zip(samples, results, strict=True)}
    return figures


def run_bench(
    samples: Sequence[ScanSample],
    out_dir: str | os.PathLike,
    *,
    detectors: Sequence[str | Callable[..., Any]] | None = None,
    physics: bool = True,
    suite: str = "",
    log: Callable[[str], None] = lambda message: None,
) -> BenchReport:
    """Run the detectors on the samples, score them and write ``bench.json``, ``bench.md``, ``roc.png``.

    Parameters
    ----------
    samples : sequence of ScanSample
        Scans with ground truth (:func:`nii.learn.dataset.load_scan_directory`).
    out_dir : path-like
        Output folder.
    detectors : sequence of str or callable, optional
        Names (registry, entry points, zoo) or callables; every available one when omitted.
    physics : bool
        Also run the inspection pipeline on each scan's NXR and manifest.
    suite : str
        Name of the suite, for the report.
    log : callable
        Progress messages.

    Returns
    -------
    BenchReport
        Also written as ``bench.json``.
    """
    if not samples:
        raise NiiError("nothing to benchmark: no scans")
    names: list[str | Callable[..., Any]] = list(available_detectors() if detectors is None else detectors)
    runs: dict[str, list[DetectorResult]] = {}
    errors: dict[str, list[str]] = {}
    verdicts: list[dict[str, Any] | None] = [None] * len(samples)
    if physics:
        try:
            runner = _physics_runner()
        except ModelError as exc:
            errors[PHYSICS] = [str(exc)]
        else:
            runs[PHYSICS] = []
            for index, sample in enumerate(samples):
                try:
                    result, verdicts[index] = runner(sample)
                except NiiError as exc:
                    errors.setdefault(PHYSICS, []).append(f"{sample.scan_id}: {exc}")
                    result = DetectorResult(0.0, (), PHYSICS, 0.0)
                runs[PHYSICS].append(result)
            log(f"{PHYSICS}: {len(samples)} scans")
    for entry in names:
        name = entry if isinstance(entry, str) else getattr(entry, "__name__", type(entry).__name__)
        try:
            function = get_detector(entry) if isinstance(entry, str) else entry
        except ModelError as exc:
            errors.setdefault(name, []).append(str(exc))
            continue
        results = []
        for sample in samples:
            try:
                results.append(run_detector(function, sample, material_view(sample)))
            except NiiError as exc:
                errors.setdefault(name, []).append(f"{sample.scan_id}: {exc}")
                results.append(DetectorResult(0.0, (), name, 0.0))
        runs[name] = results
        log(f"{name}: {len(samples)} scans")
    figures = {name: score_detector(results, samples) for name, results in runs.items()}

    material = None
    pairs = [(s.classes, s.truth_classes) for s in samples if s.classes is not None and s.truth_classes is not None]
    if pairs:
        material = metrics.material_class_accuracy(np.concatenate([p.ravel() for p, _ in pairs]),
                                                   np.concatenate([t.ravel() for _, t in pairs]))
    cargo_mass = None
    estimated = [((v or {}).get("estimates") or {}).get("cargo_mass_kg") for v in verdicts]
    truth = [s.cargo_mass_kg for s in samples]
    if any(e is not None for e in estimated):
        cargo_mass = metrics.cargo_mass_error([np.nan if e is None else e for e in estimated],
                                              [np.nan if t is None else t for t in truth])
    report = BenchReport(suite=suite, scans=len(samples), positives=int(sum(s.label for s in samples)),
                         detectors=figures, material=material, cargo_mass=cargo_mass, errors=errors)
    out = Path(out_dir)
    atomic_write_text(out / "bench.json", json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / "bench.md", markdown_report(report))
    atomic_write_bytes(out / "roc.png", roc_png({n: f.get("roc") for n, f in figures.items()}))
    return report


def _cell(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100 * value:.1f} %" if percent else f"{value:.3f}"


def markdown_report(report: BenchReport) -> str:
    """Return the Markdown tables of a bench report."""
    lines = [f"# nii bench: {report.suite or 'scans'}", "",
             f"{report.scans} scans, {report.positives} expected to raise an inspection.", "",
             "| detector | ROC AUC | detection @ 1 % FAR | detection @ 5 % FAR | mAP@0.5 | ms / scan |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, f in report.detectors.items():
        ms = f.get("seconds_per_scan")
        lines.append(f"| {name} | {_cell(f.get('roc_auc'))} | {_cell(f.get('detection_rate_far_1pct'), True)} | "
                     f"{_cell(f.get('detection_rate_far_5pct'), True)} | {_cell(f.get('map50'))} | "
                     f"{'n/a' if ms is None or not math.isfinite(ms) else f'{1000 * ms:.1f}'} |")
    if report.material:
        lines += ["", "## Material classes (discrimination against ground truth)", "",
                  f"Pixel accuracy {_cell(report.material['accuracy'], True)} over {report.material['pixels']} pixels.", "",
                  "| class | recall |", "| --- | --- |"]
        lines += [f"| {name} | {_cell(value, True)} |" for name, value in report.material["per_class"].items()]
    if report.cargo_mass:
        m = report.cargo_mass
        lines += ["", "## Cargo mass (physics estimate against truth)", "",
                  f"Mean absolute error {_cell(m['mean_abs_error_kg'])} kg; mean |relative error| "
                  f"{_cell(m['mean_abs_relative_error'], True)}, median {_cell(m['median_abs_relative_error'], True)}, "
                  f"bias {_cell(m['bias_relative'], True)} over {m['scans']} scans."]
    if report.errors:
        lines += ["", "## Errors", ""]
        for name, messages in report.errors.items():
            lines += [f"- {name}: {message}" for message in messages[:5]]
            if len(messages) > 5:
                lines.append(f"- {name}: … and {len(messages) - 5} more")
    lines += ["", "ROC curves: `roc.png`; every figure and per-scan score: `bench.json`.", ""]
    return "\n".join(lines)


_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
            (140, 86, 75), (227, 119, 194)]


def roc_png(curves: dict[str, dict[str, list[float]] | None], size: int = 480) -> bytes:
    """Draw ROC curves (false-alarm rate → detection rate) and return PNG bytes.

    Parameters
    ----------
    curves : dict
        Detector name → ``{"fpr": [...], "tpr": [...]}`` (or None: listed as n/a).
    size : int
        Width and height of the square plot area in pixels.
    """
    from PIL import Image, ImageDraw

    margin_left, margin_bottom, margin_top, margin_right = 56, 44, 28, 16
    width, height = size + margin_left + margin_right, size + margin_top + margin_bottom
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)

    def point(fpr: float, tpr: float) -> tuple[float, float]:
        return margin_left + fpr * size, margin_top + (1 - tpr) * size

    for tick in np.linspace(0, 1, 6):
        x, y = point(tick, tick)
        draw.line([point(tick, 0), point(tick, 1)], fill=(225, 225, 225))
        draw.line([point(0, tick), point(1, tick)], fill=(225, 225, 225))
        draw.text((x - 8, margin_top + size + 6), f"{tick:.1f}", fill="black")
        draw.text((margin_left - 30, y - 6), f"{tick:.1f}", fill="black")
    for far in (0.01, 0.05):
        draw.line([point(far, 0), point(far, 1)], fill=(200, 200, 255))
    draw.line([point(0, 0), point(1, 1)], fill=(180, 180, 180))
    draw.rectangle([point(0, 1), point(1, 0)], outline="black")
    draw.text((margin_left + size // 2 - 50, height - 18), "false-alarm rate", fill="black")
    draw.text((margin_left - 30, 4), "detection rate", fill="black")
    for index, (name, curve) in enumerate(curves.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        label = name if curve else f"{name} (n/a)"
        if curve:
            draw.line([point(f, t) for f, t in zip(curve["fpr"], curve["tpr"], strict=True)], fill=colour, width=2)
        draw.rectangle([margin_left + size - 170, margin_top + size - 20 - 16 * index,
                        margin_left + size - 160, margin_top + size - 10 - 16 * index], fill=colour)
        draw.text((margin_left + size - 154, margin_top + size - 22 - 16 * index), label[:24], fill="black")
    import io

    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
