"""From a scan and its manifest to a verdict: ``inspect()``.

The path is the one the contract describes and the CLI runs:
``load_scan`` → ``correct`` → ``discriminate`` (with the given or the physics
calibration) → the checks of :mod:`nii.inspection.checks` (and any learned detector
asked for) → :class:`~nii.inspection.verdict.Verdict`. A scan that cannot be analysed
raises :class:`nii.errors.AnalysisError`; it is never a ``clear``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nii import __version__
from nii.errors import AnalysisError, NiiError
from nii.inspection.checks import CHECKS, CheckResult, build_check_input
from nii.inspection.checks._context import CheckInput
from nii.inspection.coverage import check_coverage, lost_pulse_share, measure_input_coverage
from nii.inspection.expectations import ExpectationTable, load_expectations
from nii.inspection.manifest import Manifest, load_manifest
from nii.inspection.verdict import Reason, Region, Verdict

__all__ = ["InspectionResult", "inspect", "run_inspection", "verdict_from_maps"]

#: Score at which a learned detector's region becomes a reason.

@dataclass
class InspectionResult:
    """A verdict with what it was computed from (for rendering the evidence image).

    Parameters
    ----------
    verdict : Verdict
    image : AnalysedImage
        The corrected image.
    material_map : MaterialMap
        Its material map.
    manifest : Manifest
    timings_s : dict of str to float
        Wall time per stage (s).
    """

    verdict: Verdict
    image: Any
    material_map: Any
    manifest: Manifest
    timings_s: dict[str, float] = field(default_factory=dict)

    def save(self, folder: str | os.PathLike, *, evidence: bool = True, dicos: bool = False) -> list[Any]:
        """Write ``verdict.json``, ``evidence.png`` and (``dicos``) the DICOS files into ``folder``.

        Each file is written atomically, ``verdict.json`` last; returns the paths
        written. See :func:`nii.inspection.report.save_outputs`.
        """
        from nii.inspection.report import save_outputs

        return save_outputs(self, folder, evidence=evidence, dicos=dicos)


def _load_scan(scan_or_path: Any) -> Any:
    if isinstance(scan_or_path, (str, os.PathLike)):
        from scanner_io import load_scan

        return load_scan(scan_or_path)
    return scan_or_path


def _calibration(calibration: Any, scan: Any) -> Any:
    from nii import calibration as calibration_module

    if calibration is None:
        chosen = calibration_module.calibration_from_physics(scan.header)
    elif isinstance(calibration, (str, os.PathLike)):
        chosen = calibration_module.load_calibration(os.fspath(calibration))
    else:
        chosen = calibration
    check = getattr(chosen, "check_compatible", None)
    if check is not None:
        check(scan.header)
    return chosen


def _run_models(models: Sequence[Any], image: Any, material_map: Any, inp: CheckInput) -> tuple[CheckResult, dict[str, Any]]:
    """Run learned detectors (names or callables) and turn their alarms into reasons."""
    result = CheckResult()
    provenance: dict[str, Any] = {}
    if not models:
        return result, provenance
    from nii.learn.plugins import get_detector, run_detector

    for model in models:
        outcome = run_detector(model, image, material_map)
        result.warnings.extend(outcome.warnings)  # e.g. a model run outside the scans it was trained on
        name = outcome.detector or str(model)
        if isinstance(model, str):
            described = dict(getattr(get_detector(model), "provenance", None) or {"version": "registry"})
        else:
            described = {"version": str(getattr(model, "version", "unversioned"))}
        provenance[name] = {**described, "score": round(float(outcome.score), 3)}
        # Each detector alarms at its own operating point (its config's alarm threshold);
        # its regions are already filtered by the detector.
        alarms = list(outcome.regions)
        if not outcome.alarm or not alarms:
            result.near_miss = max(result.near_miss, float(outcome.score))
            continue
        codes = dict.fromkeys(region.reason for region in alarms)
        for code in codes:
            count = sum(1 for region in alarms if region.reason == code)
            result.reasons.append(Reason(
                code, "medium",
                f"learned detector {name!r} flags {count} region(s) (scan score {outcome.score:.2f})",
                float(outcome.score),
            ))
        for region in alarms:
            material = region.material or "none"
            row0, col0, row1, col1 = (int(v) for v in region.bbox)
            result.regions.append(inp.region((row0, col0, row1, col1), material, float(region.score), region.reason))
    return result, provenance


def verdict_from_maps(
    image: Any,
    material_map: Any,
    manifest: Manifest,
    *,
    provenance: Mapping[str, Any],
    table: ExpectationTable | None = None,
    models: Sequence[Any] = (),
    warnings: Sequence[str] = (),
    timings_s: dict[str, float] | None = None,
    calibration: Any = None,
    pulse_position_mm: np.ndarray | None = None,
    lost_share: float = 0.0,
) -> Verdict:
    """Run every check on an analysed image and its material map.

    Parameters
    ----------
    image : AnalysedImage
        Corrected image (α per energy and noise, masks, pixel size in mm).
    material_map : MaterialMap
        Classes, Z_eff and areal density (g/cm²) on the same grid.
    manifest : Manifest
    provenance : mapping
        ``input_sha256``, ``calibration`` (``software`` and ``models`` are filled in).
    table : ExpectationTable, optional
        Default ``seeds/hs_expectations.toml``.
    models : sequence
        Learned detectors (names or callables, see :mod:`nii.learn.plugins`).
    warnings : sequence of str
        Warnings gathered before (reading the scan or the manifest).
    timings_s : dict, optional
        Filled with the wall time (s) of each check.
    calibration : Calibration, optional
        The calibration the map was computed with; the high-Z check decomposes an
        object from the cargo around it on its material curves.
    pulse_position_mm : numpy.ndarray, optional
        Conveyance positions (mm) of the high-energy object pulses: columns in a gap
        between them were interpolated, not read (:mod:`nii.inspection.coverage`).
    lost_share : float
        Share of the object pulses the reader lost (dropped, CRC failures).

    Returns
    -------
    Verdict
        ``SCAN_INCOMPLETE`` first when the scan does not cover its container with
        usable samples; the mass and material mix are then not compared.
    """
    table = table if table is not None else load_expectations()
    timings = timings_s if timings_s is not None else {}
    started = time.perf_counter()
    inp = build_check_input(image, material_map, manifest, table, calibration=calibration)
    timings["prepare"] = time.perf_counter() - started
    started = time.perf_counter()
    coverage = measure_input_coverage(image, inp, pulse_position_mm=pulse_position_mm, lost_share=lost_share)
    timings["coverage"] = time.perf_counter() - started
    covered = check_coverage(inp, coverage)
    reasons: list[Reason] = list(covered.reasons)
    regions: list[Region] = list(covered.regions)
    estimates: dict[str, Any] = {}
    notes = list(warnings) + list(covered.warnings)
    near = 0.0
    if not inp.structure.found and coverage.in_beam:
        notes.append("no container found in the image: structure-based checks ran on the whole image")
    for name, check in CHECKS:
        started = time.perf_counter()
        result = check(inp)
        timings[name] = time.perf_counter() - started
        reasons.extend(result.reasons)
        regions.extend(result.regions)
        estimates.update(result.estimates)
        notes.extend(result.warnings)
        near = max(near, result.near_miss)
    started = time.perf_counter()
    model_result, model_provenance = _run_models(models, image, material_map, inp)
    if models:
        timings["models"] = time.perf_counter() - started
    reasons.extend(model_result.reasons)
    regions.extend(model_result.regions)
    notes.extend(model_result.warnings)
    near = max(near, model_result.near_miss)
    mass = estimates.get("cargo_mass_kg")
    return Verdict(
        scan_id=str(getattr(image, "scan_id", "") or "unknown"),
        reasons=tuple(reasons),
        regions=tuple(regions),
        cargo_mass_kg=float(mass) if mass is not None and math.isfinite(mass) else None,
        material_fractions=dict(estimates.get("material_fractions", {})),
        provenance={
            "input_sha256": str(provenance.get("input_sha256", "")),
            "calibration": str(provenance.get("calibration", "")),
            "software": f"nii {__version__}",
            "models": model_provenance,
        },
        near_miss=near,
        warnings=tuple(dict.fromkeys(notes)),
        coverage=coverage,
    )


def _pulse_reading(scan: Any) -> tuple[np.ndarray | None, float]:
    """Positions (mm) of the high-energy object pulses and the share of object pulses lost."""
    frames = list(getattr(scan, "frames", None) or [])
    if not frames:
        return None, 0.0
    from nii.correction import fill_positions

    high = frames[0]
    header = getattr(scan, "header", None)
    speed = getattr(header, "nominal_speed_mps", None)
    try:
        positions = fill_positions(high.position_mm, high.position_valid, high.time_s,
                                   None if speed is None else float(speed) * 1000.0)
    except (NiiError, ValueError, TypeError):
        positions = None
    pulse_index = np.concatenate([np.asarray(frame.pulse_index, np.int64).ravel() for frame in frames])
    report = getattr(scan, "report", None)
    lost = lost_pulse_share(pulse_index, getattr(report, "dropped_pulses", None) or ())
    return positions, lost


def _scan_warnings(scan: Any) -> list[str]:
    """Every loss the reader reported, in plain words with counts (one warning each).

    Reads the :class:`scanner_io.ReadReport` fields by name, so a report from an image
    pair or a stand-in with fewer fields gives the warnings it can.
    """
    report = getattr(scan, "report", None)
    notes: list[str] = []
    if report is None:
        return notes

    def count(name: str) -> int:
        value = getattr(report, name, 0)
        return int(value) if isinstance(value, (int, np.integer)) else 0

    def records(number: int) -> str:
        return f"{number} record{'s' if number != 1 else ''}"

    crc = count("crc_failures")
    if crc:
        notes.append(f"{records(crc)} of the scan file failed their CRC check (corrupt) and were dropped")
    skipped = count("resync_skipped_bytes")
    if skipped:
        notes.append(f"{skipped} bytes of the scan file were skipped as corrupt while searching for the next good record")
    dropped = getattr(report, "dropped_pulse_count", None)
    if not isinstance(dropped, (int, np.integer)):
        dropped = len(getattr(report, "dropped_pulses", None) or [])
    if dropped:
        notes.append(f"{int(dropped)} pulse(s) are missing from the scan (dropped by the scanner or lost to corrupt or set-aside records)")
    truncated = count("truncated_bytes")
    if truncated:
        notes.append(f"the scan file ends in a partial record ({truncated} bytes ignored)")
    for name, words in (
        ("bad_energy_records", "with an energy index the header does not have were dropped"),
        ("duplicate_records", "were exact copies of other records (a replayed block) and were dropped"),
        ("replayed_records", "repeated the pulse index of another record with other content and were set aside"),
        ("out_of_order_records", "came out of pulse order and were set aside"),
        ("wild_index_records", "had a pulse index that fits nowhere in the scan and were set aside"),
    ):
        number = count(name)
        if number:
            notes.append(f"{records(number)} {words}")
    jumps = getattr(report, "pulse_jumps", None) or []
    if jumps:
        shown = ", ".join(f"{before} to {after}" for before, after in list(jumps)[:3])
        notes.append(f"the pulse index jumps {len(jumps)} time(s) ({shown}{', ...' if len(jumps) > 3 else ''}); the records after each jump were kept")
    return notes


def _check_image(image: Any) -> None:
    alpha = np.asarray(image.attenuation_high)
    if alpha.ndim != 2 or alpha.shape[0] == 0 or alpha.shape[1] < 2:
        raise AnalysisError(f"scan {getattr(image, 'scan_id', '?')}: the analysed image has no usable object pulses (shape {alpha.shape})")
    finite = np.isfinite(alpha)
    if finite.mean() < 0.5:
        raise AnalysisError(
            f"scan {getattr(image, 'scan_id', '?')}: {100 * (1 - finite.mean()):.0f} % of the attenuation image is not finite; the scan cannot be analysed"
        )
    saturated = getattr(image, "saturated", None)
    if saturated is not None and np.asarray(saturated).shape == alpha.shape and not (finite & ~np.asarray(saturated, bool)).any():
        raise AnalysisError(
            f"scan {getattr(image, 'scan_id', '?')}: every object sample is saturated; the scan holds no measurement"
        )


def run_inspection(
    scan_or_path: Any,
    manifest_or_path: Any,
    *,
    calibration: Any = None,
    backend: str = "numpy",
    models: Sequence[str | Callable[..., Any]] = (),
    table: ExpectationTable | None = None,
    device: str | None = None,
) -> InspectionResult:
    """Inspect one scan and keep the intermediate images (see :func:`inspect`).

    Returns
    -------
    InspectionResult
    """
    from nii.correction import correct
    from nii.discrimination import discriminate

    timings: dict[str, float] = {}
    started = time.perf_counter()
    manifest = load_manifest(manifest_or_path)
    timings["manifest"] = time.perf_counter() - started
    started = time.perf_counter()
    scan = _load_scan(scan_or_path)
    timings["load"] = time.perf_counter() - started
    started = time.perf_counter()
    chosen = _calibration(calibration, scan)
    timings["calibration"] = time.perf_counter() - started
    started = time.perf_counter()
    try:
        image = correct(scan, backend=backend, device=device)
    except NiiError:
        raise
    except (ValueError, IndexError, ZeroDivisionError, FloatingPointError) as exc:
        raise AnalysisError(f"{getattr(scan, 'path', None) or 'scan'}: cannot be corrected ({exc})") from exc
    timings["correct"] = time.perf_counter() - started
    _check_image(image)
    started = time.perf_counter()
    material_map = discriminate(image, chosen, backend=backend, device=device)
    timings["discriminate"] = time.perf_counter() - started
    identifier = getattr(chosen, "identifier", None)
    provenance = {
        "input_sha256": str(getattr(scan, "sha256", "") or ""),
        "calibration": str(identifier if identifier is not None else type(chosen).__name__),
    }
    check_timings: dict[str, float] = {}
    pulse_position_mm, lost_share = _pulse_reading(scan)
    verdict = verdict_from_maps(
        image, material_map, manifest, provenance=provenance, table=table, models=models,
        warnings=list(manifest.warnings) + _scan_warnings(scan), timings_s=check_timings,
        calibration=chosen, pulse_position_mm=pulse_position_mm, lost_share=lost_share,
    )
    timings.update({f"check.{name}": seconds for name, seconds in check_timings.items()})
    return InspectionResult(verdict=verdict, image=image, material_map=material_map, manifest=manifest, timings_s=timings)


def inspect(
    scan_or_path: Any,
    manifest_or_path: Any,
    *,
    calibration: Any = None,
    backend: str = "numpy",
    models: Sequence[str | Callable[..., Any]] = (),
) -> Verdict:
    """Inspect a scan against its manifest.

    Parameters
    ----------
    scan_or_path : path-like or scanner_io.Scan
        The NXR scan (or a scan already read).
    manifest_or_path : path-like, dict or Manifest
        The manifest (JSON file, decoded object or validated manifest).
    calibration : path-like or Calibration, optional
        Calibration JSON or object; default: computed from physics for the scan's header.
    backend : {"numpy", "torch"}
        Array library of the correction and discrimination.
    models : sequence of str or callable
        Learned detectors to run too (names of :mod:`nii.learn.plugins` or callables).

    Returns
    -------
    Verdict
        ``to_dict()`` is the contract's JSON; the CLI writes the same.

    Raises
    ------
    ManifestError
        When the manifest is invalid.
    AnalysisError
        When the scan cannot be analysed.
    scanner_io.ScannerIOError
        When the scan file is unreadable.

    Examples
    --------
    >>> verdict = inspect("SCAN.nxr", "SCAN.manifest.json")  # doctest: +SKIP
    >>> verdict.verdict, verdict.reason_codes  # doctest: +SKIP
    ('inspect', ('UNDECLARED_HIGH_Z',))
    """
    return run_inspection(scan_or_path, manifest_or_path, calibration=calibration, backend=backend, models=models).verdict


