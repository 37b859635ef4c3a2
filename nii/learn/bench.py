"""``nii bench``: run detectors, the physics checks and the zoo models on a simulated suite.

For every scan of a suite (simulated on demand by ``nii simulate``) the harness

1. loads the corrected and discriminated arrays (cached beside the scan, see
   :mod:`nii.learn.dataset`) and the ground truth;
2. runs each detector: the inspection pipeline (``physics``: :func:`nii.inspection.inspect`
   on the NXR and its manifest), every registered plug-in and every zoo model asked for;
3. scores them against the truth: ROC AUC, detection rate at 1 % and 5 % false-alarm
   rate (overall and per threat type, one threshold per detector set on all clean
   scans), mAP@0.5 of the regions, mean time per scan; plus the material-class accuracy
   of discrimination and the cargo-mass error of the physics estimate;
4. compares each learned detector with the physics checks per threat type at equal
   false alarms (paired exact McNemar test) and, on request, writes that comparison
   into the zoo models' cards (:func:`update_model_cards`).

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

__all__ = [
    "PHYSICS",
    "FAR_POINTS",
    "BenchReport",
    "run_bench",
    "score_detector",
    "material_view",
    "threat_group",
    "roc_png",
    "markdown_report",
    "far_resolution",
    "comparison_sentence",
    "paired_p_value",
    "update_model_cards",
]

#: Name of the inspection pipeline (physics checks against the manifest) in the tables.
PHYSICS = "physics"
#: False-alarm rates of the tables: key → fraction of clean scans allowed to alarm.
FAR_POINTS = {"1pct": 0.01, "5pct": 0.05}


def threat_group(sample: ScanSample) -> str:
    """Return the group of a scan in the per-threat tables.

    The threat type (``lead_block``, ...) of a scan hiding something; for a scan with no
    threat that is still expected ``inspect`` (e.g. steel cargo too dense to see
    through), ``none: `` followed by its expected reason codes.
    """
    if sample.threat != "none" or not sample.label:
        return sample.threat
    return "none: " + "+".join(sorted(set(sample.reasons))) if sample.reasons else "none"


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
    threats: dict[str, int] | None = None
    groups: dict[str, str] | None = None

    @property
    def negatives(self) -> int:
        """Number of scans expected ``clear`` (they set the false-alarm rates)."""
        return self.scans - self.positives

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN written as null)."""
        return _jsonable({
            "suite": self.suite, "scans": self.scans, "positives": self.positives,
            "detectors": self.detectors, "material_classes": self.material,
            "cargo_mass": self.cargo_mass, "errors": self.errors,
            "threats": self.threats or {}, "groups": self.groups or {}, "far_resolution": far_resolution(self.negatives),
            "comparison": {name: comparison_sentence(self, name) for name in self.detectors if name != PHYSICS},
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
        their thresholds and the false-alarm rates actually reached), ``per_threat``
        (``"1pct"``/``"5pct"`` → threat type → detection rate, positives, threshold: one
        threshold over all clean scans, see :func:`metrics.detection_rate_by_group`),
        ``map50``, ``seconds_per_scan``, ``roc`` (``fpr``, ``tpr``), ``scores`` (scan id →
        score). NaN where undefined (no positives or negatives).
    """
    scores = [r.score for r in results]
    labels = [s.label for s in samples]
    nan = float("nan")
    figures: dict[str, Any] = {"scans": len(results)}
    if 0 < sum(labels) < len(labels):
        fpr, tpr, _ = metrics.roc_curve(scores, labels)
        dr1, t1 = metrics.detection_rate_at_far(scores, labels, 0.01)
        dr5, t5 = metrics.detection_rate_at_far(scores, labels, 0.05)
        threats = [threat_group(s) for s in samples]
        negatives = [score for score, label in zip(scores, labels, strict=True) if not label]
        figures.update(roc_auc=metrics.roc_auc(scores, labels), detection_rate_far_1pct=dr1, threshold_far_1pct=t1,
                       detection_rate_far_5pct=dr5, threshold_far_5pct=t5,
                       false_alarm_rate_1pct=float(np.mean(np.asarray(negatives) >= t1)),
                       false_alarm_rate_5pct=float(np.mean(np.asarray(negatives) >= t5)),
                       per_threat={key: metrics.detection_rate_by_group(scores, labels, threats, far)
                                   for key, far in FAR_POINTS.items()},
                       roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()})
    else:
        figures.update(roc_auc=nan, detection_rate_far_1pct=nan, detection_rate_far_5pct=nan, per_threat={}, roc=None)
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
    progress: Callable[[Sequence[ScanSample], str], Any] | None = None,
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
        Progress messages (one line per detector run).
    progress : callable, optional
        ``progress(samples, description)`` wraps the scans each detector goes through
        (e.g. in a progress bar).

    Returns
    -------
    BenchReport
        Also written as ``bench.json``.
    """
    def each(label: str) -> Any:
        return progress(samples, label) if progress is not None else samples

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
            for index, sample in enumerate(each(PHYSICS)):
                try:
                    result, verdicts[index] = runner(sample)
                except NiiError as exc:
                    errors.setdefault(PHYSICS, []).append(f"{sample.scan_id}: {exc}")
                    result = DetectorResult(0.0, (), PHYSICS, 0.0)
                runs[PHYSICS].append(result)
            log(f"{PHYSICS}: {_scans(len(samples))}")
    for entry in names:
        name = entry if isinstance(entry, str) else getattr(entry, "__name__", type(entry).__name__)
        try:
            function = get_detector(entry) if isinstance(entry, str) else entry
        except ModelError as exc:
            errors.setdefault(name, []).append(str(exc))
            continue
        results = []
        for sample in each(name):
            try:
                results.append(run_detector(function, sample, material_view(sample)))
            except NiiError as exc:
                errors.setdefault(name, []).append(f"{sample.scan_id}: {exc}")
                results.append(DetectorResult(0.0, (), name, 0.0))
        runs[name] = results
        log(f"{name}: {_scans(len(samples))}" + (f", {len(errors[name])} refused or failed" if errors.get(name) else ""))
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
    threats: dict[str, int] = {}
    for sample in samples:
        key = threat_group(sample) if sample.label else f"{sample.threat} (expected clear)"
        threats[key] = threats.get(key, 0) + 1
    report = BenchReport(suite=suite, scans=len(samples), positives=int(sum(s.label for s in samples)),
                         detectors=figures, material=material, cargo_mass=cargo_mass, errors=errors,
                         threats=dict(sorted(threats.items())),
                         groups={s.scan_id: threat_group(s) for s in samples})
    out = Path(out_dir)
    atomic_write_text(out / "bench.json", json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / "bench.md", markdown_report(report))
    atomic_write_bytes(out / "roc.png", roc_png({n: f.get("roc") for n, f in figures.items()}))
    return report


def _scans(count: int) -> str:
    return f"{count} scan{'' if count == 1 else 's'}"


def _milliseconds(seconds: Any) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    return f"{1000 * seconds:.1f}"


def _cell(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100 * value:.1f} %" if percent else f"{value:.3f}"


def markdown_report(report: BenchReport) -> str:
    """Return the Markdown tables of a bench report."""
    lines = [f"# nii bench: {report.suite or 'scans'}", "",
             f"{_scans(report.scans)}, {report.positives} expected to raise an inspection, {report.negatives} "
             f"expected clear. {far_resolution(report.negatives)['text']}", "",
             "| detector | ROC AUC | detection @ 1 % FAR | detection @ 5 % FAR | mAP@0.5 | ms / scan |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, f in report.detectors.items():
        ms = f.get("seconds_per_scan")
        lines.append(f"| {name} | {_cell(f.get('roc_auc'))} | {_cell(f.get('detection_rate_far_1pct'), True)} | "
                     f"{_cell(f.get('detection_rate_far_5pct'), True)} | {_cell(f.get('map50'))} | "
                     f"{'n/a' if ms is None or not math.isfinite(ms) else f'{1000 * ms:.1f}'} |")
    lines += _per_threat_lines(report)
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


def far_resolution(negatives: int) -> dict[str, Any]:
    """Describe which false-alarm rates ``negatives`` clean scans can resolve.

    Parameters
    ----------
    negatives : int
        Scans expected ``clear``.

    Returns
    -------
    dict
        ``step`` (1/negatives, the smallest non-zero false-alarm rate), ``allowed``
        (``"1pct"``/``"5pct"`` → false alarms permitted) and ``text`` (one sentence).
    """
    if negatives <= 0:
        return {"step": None, "allowed": {}, "text": "No clean scan: false-alarm rates are undefined."}
    allowed = {key: int(math.floor(far * negatives + 1e-9)) for key, far in FAR_POINTS.items()}
    text = (f"With {negatives} clean scans the false-alarm rate moves in steps of {100 / negatives:.2f} %: "
            + ", ".join(f"{key.replace('pct', ' %')} FAR allows {count} false alarm{'s' if count != 1 else ''}"
                        for key, count in allowed.items())
            + (" (so 1 % FAR means none)." if allowed["1pct"] == 0 else "."))
    return {"step": 1.0 / negatives, "allowed": allowed, "text": text}


def _per_threat_lines(report: BenchReport) -> list[str]:
    names = [name for name, f in report.detectors.items() if f.get("per_threat")]
    if not names:
        return []
    lines = ["", "## Detection rate per threat type at equal false alarms", "",
             "One score threshold per detector, set on all clean scans at the false-alarm rate; "
             "each cell is the fraction of that threat type's scans at or above it.", ""]
    threats = sorted({t for name in names for key in FAR_POINTS for t in report.detectors[name]["per_threat"].get(key, {})})
    for key in FAR_POINTS:
        lines += [f"| threat (scans) @ {key.replace('pct', ' %')} FAR | " + " | ".join(names) + " |",
                  "| --- | " + " | ".join("---" for _ in names) + " |"]
        for threat in threats:
            cells = [report.detectors[n]["per_threat"].get(key, {}).get(threat) for n in names]
            count = next((c["positives"] for c in cells if c), 0)
            lines.append(f"| {threat} ({count}) | " + " | ".join(
                "n/a" if c is None else _cell(c["detection_rate"], True) for c in cells) + " |")
        lines.append("")
    sentences = [comparison_sentence(report, name) for name in report.detectors if name != PHYSICS]
    if PHYSICS in report.detectors and sentences:
        lines += ["p: one-sided exact McNemar test on the scans of that threat type, each detector at its own "
                  "5 % FAR threshold.", ""]
        lines += [f"- {sentence}" for sentence in sentences] + [""]
    return lines


def paired_p_value(report: BenchReport, name: str, reference: str, group: str, key: str = "5pct") -> float | None:
    """One-sided exact McNemar p-value that ``name`` detects more scans of ``group`` than ``reference``.

    Each detector alarms at its own threshold for the false-alarm rate ``key`` (same
    false alarms); the test counts the scans only ``name`` catches (b) and only
    ``reference`` catches (c) and returns P(X ≥ b) for X ~ Binomial(b + c, 1/2).

    Returns
    -------
    float or None
        The p-value (1.0 when the two agree on every scan); None when the report lacks
        the per-scan scores or groups.
    """
    ours, theirs = report.detectors.get(name, {}), report.detectors.get(reference, {})
    scores_a, scores_b = ours.get("scores"), theirs.get("scores")
    threshold_a, threshold_b = ours.get(f"threshold_far_{key}"), theirs.get(f"threshold_far_{key}")
    if not report.groups or not scores_a or not scores_b or threshold_a is None or threshold_b is None:
        return None
    members = [scan for scan, g in report.groups.items() if g == group and scan in scores_a and scan in scores_b]
    only_a = sum(1 for scan in members if scores_a[scan] >= threshold_a and not scores_b[scan] >= threshold_b)
    only_b = sum(1 for scan in members if scores_b[scan] >= threshold_b and not scores_a[scan] >= threshold_a)
    total = only_a + only_b
    if total == 0:
        return 1.0
    return sum(math.comb(total, k) for k in range(only_a, total + 1)) / 2**total


def comparison_sentence(report: BenchReport, name: str, reference: str = PHYSICS, alpha: float = 0.05) -> str:
    """Say on which threat types detector ``name`` beats ``reference`` at equal false alarms.

    A threat type counts as beaten when the detector's detection rate is higher than the
    reference's at 5 % false-alarm rate, not lower at 1 %, and the paired exact McNemar
    test (:func:`paired_p_value`, at 5 %) gives p < ``alpha``. Higher rates that fail the
    test are listed as "ahead within noise"; lower ones as "worse". Groups without a
    hidden threat (``none: ...``, e.g. unreadable dense cargo) are not threat types and are
    left out.

    Returns
    -------
    str
        One sentence naming the threat types, or saying plainly that it beats the
        reference on none (or that the comparison cannot be made).
    """
    ours, theirs = report.detectors.get(name, {}), report.detectors.get(reference, {})
    if not ours.get("per_threat") or not theirs.get("per_threat"):
        return f"{name}: no comparison with {reference} (one of them has no per-threat figures on this suite)."
    better, within_noise, worse = [], [], []
    for threat, figures in ours["per_threat"].get("5pct", {}).items():
        if threat.startswith("none"):
            continue  # no threat hidden (e.g. unreadable dense cargo): not a threat type
        rate5 = figures["detection_rate"]
        ref5 = theirs["per_threat"]["5pct"].get(threat, {}).get("detection_rate")
        rate1 = ours["per_threat"]["1pct"].get(threat, {}).get("detection_rate", 0.0)
        ref1 = theirs["per_threat"]["1pct"].get(threat, {}).get("detection_rate", 0.0)
        if ref5 is None:
            continue
        p_value = paired_p_value(report, name, reference, threat)
        text = (f"{threat} ({100 * rate5:.0f} % vs {100 * ref5:.0f} % at 5 % FAR, {100 * rate1:.0f} % vs "
                f"{100 * ref1:.0f} % at 1 %{'' if p_value is None else f', p = {p_value:.3f}'})")
        if rate5 > ref5 and rate1 >= ref1 and (p_value is None or p_value < alpha):
            better.append(text)
        elif rate5 > ref5:
            within_noise.append(text)
        elif rate5 < ref5:
            worse.append(text)
    suite = report.suite or "this suite"
    if better:
        sentence = f"On {suite}, {name} beats the {reference} checks at equal false alarms on {'; '.join(better)}"
    else:
        sentence = (f"On {suite}, {name} does not beat the {reference} checks on any threat type at equal false "
                    f"alarms (paired McNemar test, p < {alpha})")
    if within_noise:
        sentence += f"; it is ahead within the noise (p ≥ {alpha}) on {'; '.join(within_noise)}"
    if worse:
        sentence += f"; it is worse on {'; '.join(worse)}"
    return sentence + "."


CARD_BEGIN = "<!-- nii bench: held-out results (generated by nii bench --update-cards; do not edit) -->"
CARD_END = "<!-- nii bench: end -->"


def card_section(report: BenchReport, name: str, command: str) -> str:
    """Return the generated held-out section of model ``name``'s card (between the markers)."""
    f = report.detectors[name]
    lines = [CARD_BEGIN, "## Held-out benchmark", "",
             f"On suite `{report.suite}` ({report.scans} scans never used in training: {report.positives} expected "
             f"`inspect`, {report.negatives} expected clear), measured by", "", "```", command, "```", "",
             far_resolution(report.negatives)["text"], "",
             "| metric | this model | physics checks |", "| --- | --- | --- |"]
    ref = report.detectors.get(PHYSICS, {})
    for key, label, percent in (("roc_auc", "ROC AUC", False), ("detection_rate_far_1pct", "detection @ 1 % FAR", True),
                                ("detection_rate_far_5pct", "detection @ 5 % FAR", True), ("map50", "mAP@0.5", False)):
        lines.append(f"| {label} | {_cell(f.get(key), percent)} | {_cell(ref.get(key), percent) if ref else 'n/a'} |")
    lines.append(f"| ms / scan | {_milliseconds(f.get('seconds_per_scan'))} | {_milliseconds(ref.get('seconds_per_scan'))} |")
    if f.get("per_threat"):
        lines += ["", "| threat (scans) | @ 1 % FAR | @ 5 % FAR | physics @ 1 % | physics @ 5 % |",
                  "| --- | --- | --- | --- | --- |"]
        for threat, figures in f["per_threat"]["5pct"].items():
            one = f["per_threat"]["1pct"].get(threat, {}).get("detection_rate")
            ref_pt = ref.get("per_threat") or {}
            r1 = ref_pt.get("1pct", {}).get(threat, {}).get("detection_rate")
            r5 = ref_pt.get("5pct", {}).get(threat, {}).get("detection_rate")
            lines.append(f"| {threat} ({figures['positives']}) | {_cell(one, True)} | {_cell(figures['detection_rate'], True)} | "
                         f"{_cell(r1, True)} | {_cell(r5, True)} |")
    lines += ["", comparison_sentence(report, name), "", CARD_END]
    return "\n".join(lines)


def update_model_cards(report: BenchReport, command: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Write the held-out results into the card and ``config.json`` of each zoo model benchmarked.

    The card's section between :data:`CARD_BEGIN` and :data:`CARD_END` is replaced (or
    appended); ``config.json`` gets a ``held_out`` entry with the same figures. Detectors
    that are not zoo folders under ``root`` are skipped.

    Parameters
    ----------
    report : BenchReport
        The bench run.
    command : str
        The command that produced it (written into the card).
    root : path-like, optional
        Models root; :func:`nii.resources.models_dir` when omitted.

    Returns
    -------
    list of Path
        The cards written.
    """
    from nii.resources import models_dir

    base = Path(root) if root is not None else models_dir()
    written = []
    for name, figures in report.detectors.items():
        folder = base / name
        card_path, config_path = folder / "MODEL_CARD.md", folder / "config.json"
        if name == PHYSICS or not card_path.is_file() or not config_path.is_file():
            continue
        try:
            card = card_path.read_text(encoding="utf-8")
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{folder}: cannot read the model card or config ({exc})") from exc
        section = card_section(report, name, command)
        if CARD_BEGIN in card and CARD_END in card:
            head, _, rest = card.partition(CARD_BEGIN)
            _, _, tail = rest.partition(CARD_END)
            card = head + section + tail
        else:
            card = card.rstrip("\n") + "\n\n" + section + "\n"
        config["held_out"] = _jsonable({
            "suite": report.suite, "scans": report.scans, "positives": report.positives, "command": command,
            **{key: figures.get(key) for key in ("roc_auc", "detection_rate_far_1pct", "detection_rate_far_5pct",
                                                 "false_alarm_rate_1pct", "false_alarm_rate_5pct", "map50",
                                                 "seconds_per_scan", "per_threat")},
            "comparison": comparison_sentence(report, name),
        })
        atomic_write_text(card_path, card)
        atomic_write_text(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
        for path in (card_path, config_path):
            os.chmod(path, 0o644)
        written.append(card_path)
    return written


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
