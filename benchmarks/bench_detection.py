"""Detection benchmark of ``nii inspect`` on the simulator's inspection suite.

Simulates ``seeds/suites/inspection.toml`` (≥ 200 scans with ground truth) into
``benchmarks/_data/inspection/`` when the files are not there yet, inspects every scan
against its manifest without learned models, and reports:

* detection rate on the scans that should be inspected (goal ≥ 95 %),
* false-alarm rate on the clean ones (goal ≤ 5 %),
* per reason code: how often an expected code is raised (detection), how often it is
  raised on a clean scan (false alarm, per clean scan) and on an inspect-worthy scan that
  does not expect it,
* per threat type and per threat size: scan-level detection and detection of the
  threat's own code,
* the cargo mass error on clean homogeneous cargo (honest loads of "uniform" HS
  chapters; goal: median within ± 10 %) and on all clean scans.

A per-case table (expected and raised codes, missed and unexpected codes, mass error,
time) goes to a CSV file. Run from the repository root::

    .venv/bin/python benchmarks/bench_detection.py                 # the whole suite
    .venv/bin/python benchmarks/bench_detection.py --limit 40      # a subset, stratified
    .venv/bin/python benchmarks/bench_detection.py --workers 2 --csv /tmp/cases.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "benchmarks" / "_data" / "inspection"


def _subset(ids: list[str], limit: int | None) -> list[str]:
    """Every k-th scan id so that a subset keeps the suite's mix."""
    if limit is None or limit >= len(ids):
        return ids
    step = len(ids) / limit
    return [ids[int(i * step)] for i in range(limit)]


def ensure_suite(suite_path: Path, data: Path, limit: int | None, workers: int) -> list[Path]:
    """Simulate the scans of the suite that are missing; return their NXR paths."""
    from nii.simulate.suite import load_suite, run_suite

    suite = load_suite(suite_path)
    ids = _subset([scan.scan_id for scan in suite.scans], limit)
    paths = {scan_id: data / f"{scan_id}.nxr" for scan_id in ids}
    missing = [scan_id for scan_id, path in paths.items() if not (path.is_file() and path.with_name(f"{scan_id}.truth.json").is_file())]
    if missing:
        print(f"simulating {len(missing)} scan(s) of {suite.name} into {data} ...", file=sys.stderr)
        started = time.perf_counter()
        run_suite(suite, data, workers=workers, overwrite=True, progress=True, only=missing)
        print(f"  simulated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return [paths[scan_id] for scan_id in ids]


def inspect_case(nxr: Path, calibration_path: Path | None = None) -> dict:
    """Inspect one simulated scan (with a calibration file, or the physics model) and compare with its ground truth."""
    from nii.errors import NiiError
    from nii.inspection import run_inspection
    from scanner_io import ScannerIOError

    stem = nxr.name[: -len(".nxr")]
    truth = json.loads(nxr.with_name(f"{stem}.truth.json").read_text(encoding="utf-8"))
    manifest = nxr.with_name(f"{stem}.manifest.json")
    started = time.perf_counter()
    row = {
        "scan_id": truth.get("scan_id", stem),
        "expected_verdict": truth.get("expected_verdict"),
        "expected_reasons": sorted(set(truth.get("expected_reasons") or [])),
        "true_mass_kg": truth.get("cargo_mass_kg"),
        "scenario": truth.get("scenario", {}),
    }
    try:
        calibration = None
        if calibration_path is not None:
            from nii.calibration import load_calibration

            calibration = load_calibration(calibration_path)
        verdict = run_inspection(nxr, manifest, calibration=calibration).verdict
    except (NiiError, ScannerIOError, OSError) as exc:
        row.update(verdict="error", reasons=[], score=math.nan, mass_kg=None, error=str(exc))
    else:
        row.update(verdict=verdict.verdict, reasons=sorted(set(verdict.reason_codes)), score=verdict.score,
                   mass_kg=verdict.cargo_mass_kg, error="")
    row["seconds"] = time.perf_counter() - started
    return row


def _describe_scenario(scenario: dict) -> tuple[str, str, str]:
    container = str(scenario.get("container", scenario.get("iso_type", "")))
    chapter = str(scenario.get("cargo_chapter", scenario.get("cargo", "")))
    threat = str(scenario.get("threat", ""))
    return container, chapter, threat


def _uniform_chapters() -> set[str]:
    """HS chapters whose loads look alike from pallet to pallet (``uniformity = "uniform"``)."""
    from nii.inspection import load_expectations

    table = load_expectations()
    chapters = set()
    for code in [f"{n:02d}" for n in range(1, 100)]:
        expectation = table.get(code)
        if expectation is not None and expectation.uniformity == "uniform":
            chapters.add(code)
    return chapters


def _is_homogeneous_clean(row: dict, uniform: set[str]) -> bool:
    scenario = row["scenario"] or {}
    chapter = str(scenario.get("cargo_chapter") or "")[:2]
    return (not scenario.get("threat") and scenario.get("variant", "honest") == "honest"
            and not scenario.get("chassis") and chapter in uniform)


def _mass_errors(rows: list[dict]) -> list[float]:
    errors = []
    for r in rows:
        true, estimate = r["true_mass_kg"], r["mass_kg"]
        if true and true > 100 and estimate is not None:
            errors.append((estimate - true) / true)
    return errors


def _mass_summary(errors: list[float]) -> dict:
    return {
        "median": statistics.median(errors) if errors else math.nan,
        "abs_median": statistics.median(abs(e) for e in errors) if errors else math.nan,
        "within_10pct": sum(abs(e) <= 0.10 for e in errors) / len(errors) if errors else math.nan,
        "cases": len(errors),
    }


def summarise(rows: list[dict]) -> dict:
    """Rates and mass errors over the inspected cases."""
    should = [r for r in rows if r["expected_verdict"] == "inspect"]
    clean = [r for r in rows if r["expected_verdict"] == "clear"]
    errors = [r for r in rows if r["verdict"] == "error"]
    detected = sum(r["verdict"] == "inspect" for r in should)
    false_alarms = sum(r["verdict"] == "inspect" for r in clean)
    per_code: dict[str, dict[str, int]] = defaultdict(lambda: Counter())
    for r in rows:
        for code in r["expected_reasons"]:
            per_code[code]["expected"] += 1
            per_code[code]["raised_when_expected"] += code in r["reasons"]
        for code in r["reasons"]:
            if code not in r["expected_reasons"]:
                per_code[code]["raised_unexpected"] += 1
                if r["expected_verdict"] == "clear":
                    per_code[code]["false_alarm_on_clean"] += 1
    per_threat: dict[str, dict[str, Counter]] = {"type": defaultdict(Counter), "size": defaultdict(Counter)}
    for r in should:
        scenario = r["scenario"] or {}
        threat = scenario.get("threat")
        if not threat:
            continue
        own = set(r["expected_reasons"]) - {"MASS_MISMATCH", "DECLARED_EMPTY_NOT_EMPTY"}
        for key, value in (("type", threat), ("size", scenario.get("threat_size") or "-")):
            counts = per_threat[key][value]
            counts["scans"] += 1
            counts["detected"] += r["verdict"] == "inspect"
            counts["own_code"] += bool(own) and own <= set(r["reasons"])
    uniform = _uniform_chapters()
    return {
        "cases": len(rows),
        "errors": len(errors),
        "should_inspect": len(should),
        "detected": detected,
        "detection_rate": detected / len(should) if should else math.nan,
        "clean": len(clean),
        "false_alarms": false_alarms,
        "false_alarm_rate": false_alarms / len(clean) if clean else math.nan,
        "per_code": {code: dict(counts) for code, counts in sorted(per_code.items())},
        "per_threat": {key: {name: dict(c) for name, c in sorted(table.items())} for key, table in per_threat.items()},
        "mass_clean": _mass_summary(_mass_errors(clean)),
        "mass_homogeneous": _mass_summary(_mass_errors([r for r in rows if _is_homogeneous_clean(r, uniform)])),
        "seconds_median": statistics.median(r["seconds"] for r in rows) if rows else math.nan,
    }


def write_csv(rows: list[dict], path: Path) -> None:
    """Write the per-case table (one row per scan)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["scan_id", "container", "cargo_chapter", "threat", "threat_size", "variant", "chassis",
                         "expected_verdict", "verdict", "correct", "expected_reasons", "reasons", "missed_reasons",
                         "unexpected_reasons", "score", "true_mass_kg", "mass_kg", "mass_rel_error", "seconds", "error"])
        for r in rows:
            container, chapter, threat = _describe_scenario(r["scenario"])
            scenario = r["scenario"] or {}
            true, estimate = r["true_mass_kg"], r["mass_kg"]
            rel = (estimate - true) / true if true and estimate is not None else ""
            expected, raised = set(r["expected_reasons"]), set(r["reasons"])
            writer.writerow([r["scan_id"], container, chapter, threat, scenario.get("threat_size") or "",
                             scenario.get("variant") or "", int(bool(scenario.get("chassis"))),
                             r["expected_verdict"], r["verdict"], int(r["expected_verdict"] == r["verdict"]),
                             " ".join(sorted(expected)), " ".join(sorted(raised)),
                             " ".join(sorted(expected - raised)), " ".join(sorted(raised - expected)),
                             f"{r['score']:.3f}" if isinstance(r["score"], float) and math.isfinite(r["score"]) else "",
                             "" if true is None else f"{true:.0f}", "" if estimate is None else f"{estimate:.0f}",
                             f"{rel:+.3f}" if rel != "" else "", f"{r['seconds']:.2f}", r.get("error", "")])


def _rate(hit: int, total: int) -> str:
    return f"{hit / total:5.0%}" if total else "    -"


def print_report(summary: dict, *, suite_name: str, limit: int | None, elapsed_s: float, csv_path: Path) -> None:
    """Print the benchmark's figures (rates, per-code and per-threat tables, mass errors)."""
    print(f"inspection suite: {summary['cases']} scans ({suite_name}{'' if limit is None else f', subset of {limit}'}), "
          f"{elapsed_s:.0f} s, median {summary['seconds_median']:.2f} s/scan, {summary['errors']} error(s)")
    print(f"detection rate    : {summary['detection_rate']:.1%} ({summary['detected']}/{summary['should_inspect']})  goal >= 95 %")
    print(f"false-alarm rate  : {summary['false_alarm_rate']:.1%} ({summary['false_alarms']}/{summary['clean']})  goal <= 5 %")
    for label, key in (("homogeneous clean", "mass_homogeneous"), ("all clean", "mass_clean")):
        mass = summary[key]
        print(f"cargo mass error  : {label}: median {mass['median']:+.1%}, median |error| {mass['abs_median']:.1%}, "
              f"{mass['within_10pct']:.0%} within 10 % ({mass['cases']} scans)  goal median within +/-10 %")
    clean = summary["clean"]
    print("per reason code    expected  detected  rate | false alarms on clean (rate) | raised unexpected on inspect-worthy")
    for code, counts in summary["per_code"].items():
        expected = counts.get("expected", 0)
        hit = counts.get("raised_when_expected", 0)
        false_alarms = counts.get("false_alarm_on_clean", 0)
        other = counts.get("raised_unexpected", 0) - false_alarms
        print(f"  {code:26s} {expected:4d}  {hit:6d}  {_rate(hit, expected)} | {false_alarms:4d} ({_rate(false_alarms, clean)})"
              f"           | {other:4d}")
    for key, title in (("type", "per threat type"), ("size", "per threat size")):
        print(f"{title:18s} scans  detected  rate | own code raised  rate")
        for name, counts in summary["per_threat"][key].items():
            scans, hit, own = counts.get("scans", 0), counts.get("detected", 0), counts.get("own_code", 0)
            print(f"  {name:24s} {scans:4d}  {hit:6d}  {_rate(hit, scans)} | {own:6d}  {_rate(own, scans)}")
    print(f"per-case table    : {csv_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "seeds" / "suites" / "inspection.toml")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the simulated scans")
    parser.add_argument("--limit", type=int, help="inspect a stratified subset of this many scans")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "_data" / "bench_detection.csv")
    args = parser.parse_args(argv)

    scans = ensure_suite(args.suite, args.data, args.limit, args.workers)
    started = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(inspect_case, scans))
    else:
        rows = [inspect_case(scan) for scan in scans]
    elapsed = time.perf_counter() - started
    write_csv(rows, args.csv)
    print_report(summarise(rows), suite_name=args.suite.name, limit=args.limit, elapsed_s=elapsed, csv_path=args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
