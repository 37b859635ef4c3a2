"""Detection benchmark of ``nii inspect`` on the simulator's inspection suite.

Simulates ``seeds/suites/inspection.toml`` (≥ 200 scans with ground truth) into
``benchmarks/_data/inspection/`` when the files are not there yet, inspects every scan
against its manifest without learned models, and reports:

* detection rate on the scans that should be inspected (goal ≥ 95 %),
* false-alarm rate on the clean ones (goal ≤ 5 %),
* per reason code: how often an expected code is raised, and how often it is raised
  on a scan that does not expect it,
* the cargo mass error on clean cargo (goal: median within ± 10 %).

A per-case table goes to a CSV file. Run from the repository root::

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


def inspect_case(nxr: Path) -> dict:
    """Inspect one simulated scan and compare with its ground truth."""
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
        verdict = run_inspection(nxr, manifest).verdict
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
    mass_errors = []
    for r in clean:
        true, estimate = r["true_mass_kg"], r["mass_kg"]
        if true and true > 100 and estimate is not None:
            mass_errors.append((estimate - true) / true)
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
        "mass_error_median": statistics.median(mass_errors) if mass_errors else math.nan,
        "mass_abs_error_median": statistics.median(abs(e) for e in mass_errors) if mass_errors else math.nan,
        "mass_within_10pct": sum(abs(e) <= 0.10 for e in mass_errors) / len(mass_errors) if mass_errors else math.nan,
        "mass_cases": len(mass_errors),
        "seconds_median": statistics.median(r["seconds"] for r in rows) if rows else math.nan,
    }


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["scan_id", "container", "cargo_chapter", "threat", "expected_verdict", "verdict",
                         "expected_reasons", "reasons", "score", "true_mass_kg", "mass_kg", "mass_rel_error",
                         "seconds", "error"])
        for r in rows:
            container, chapter, threat = _describe_scenario(r["scenario"])
            true, estimate = r["true_mass_kg"], r["mass_kg"]
            rel = (estimate - true) / true if true and estimate is not None else ""
            writer.writerow([r["scan_id"], container, chapter, threat, r["expected_verdict"], r["verdict"],
                             " ".join(r["expected_reasons"]), " ".join(r["reasons"]),
                             f"{r['score']:.3f}" if isinstance(r["score"], float) and math.isfinite(r["score"]) else "",
                             "" if true is None else f"{true:.0f}", "" if estimate is None else f"{estimate:.0f}",
                             f"{rel:+.3f}" if rel != "" else "", f"{r['seconds']:.2f}", r.get("error", "")])


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
    summary = summarise(rows)
    print(f"inspection suite: {summary['cases']} scans ({args.suite.name}{'' if args.limit is None else f', subset of {args.limit}'}), "
          f"{elapsed:.0f} s, median {summary['seconds_median']:.2f} s/scan, {summary['errors']} error(s)")
    print(f"detection rate    : {summary['detection_rate']:.1%} ({summary['detected']}/{summary['should_inspect']})  goal >= 95 %")
    print(f"false-alarm rate  : {summary['false_alarm_rate']:.1%} ({summary['false_alarms']}/{summary['clean']})  goal <= 5 %")
    print(f"cargo mass error  : median {summary['mass_error_median']:+.1%}, median |error| {summary['mass_abs_error_median']:.1%}, "
          f"{summary['mass_within_10pct']:.0%} within 10 % ({summary['mass_cases']} clean scans)  goal within +/-10 %")
    print("per reason code   : expected  raised-when-expected  raised-unexpected  false-alarm-on-clean")
    for code, counts in summary["per_code"].items():
        expected = counts.get("expected", 0)
        hit = counts.get("raised_when_expected", 0)
        rate = f"{hit / expected:.0%}" if expected else "-"
        print(f"  {code:26s} {expected:5d}  {hit:5d} ({rate:>4s})  {counts.get('raised_unexpected', 0):5d}  "
              f"{counts.get('false_alarm_on_clean', 0):5d}")
    print(f"per-case table    : {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
