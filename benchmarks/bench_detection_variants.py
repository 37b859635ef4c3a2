"""Detection benchmark on scanners and container makes the checks were never tuned on.

The thresholds of ``seeds/hs_expectations.toml`` were set on the default scanner
(6/3 MeV, CdWO4, 1,024 or 512 channels) and the container catalogue's reference make:
that is the **tuning set**. This benchmark reports on the scanner variants of one split
of ``seeds/scanner_variants.toml`` (:mod:`nii.simulate.variants`; default ``test``, never
used to set a threshold) and the container makes of one split of
``seeds/containers.toml`` ``[makes]`` (default ``test``), the way a new user meets a
gantry: per variant it

1. simulates the wedge suite (``seeds/suites/wedges.toml``, or the variant's own wedge
   set) on the variant and calibrates on it (``nii.calibration.calibrate``),
2. simulates a stratified subset of the inspection suite (``seeds/suites/inspection.toml``)
   on the variant, each container scenario built with one of the split's makes in turn,
3. inspects every scan with that calibration, and compares with the ground truth.

It prints, per variant and over all: detection, false alarms, per reason code (detected
and false alarms on clean scans) and the cargo mass error on clean scans; the per-case
table goes to a CSV file. Run from the repository root::

    python benchmarks/bench_detection_variants.py                        # test split, 24 scans a variant
    python benchmarks/bench_detection_variants.py --per-variant 60 --workers 2
    python benchmarks/bench_detection_variants.py --split tune --makes tune --variants tune-00 tune-01

Files are cached under ``benchmarks/_data/variants/<variant>/`` (delete the folder after
changing the simulator).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_detection  # noqa: E402  (the shared per-case comparison and summaries)

DEFAULT_DATA = ROOT / "benchmarks" / "_data" / "variants"


def _with_makes(suite, makes: list[str]):
    """The suite with each container scenario built with one of ``makes`` in turn."""
    scans = []
    turn = 0
    for scan in suite.scans:
        if scan.kind == "scenario" and scan.params.get("container") not in (None, "", "none"):
            params = {**scan.params, "container_make": makes[turn % len(makes)]}
            turn += 1
            scan = dataclasses.replace(scan, params=params)
        scans.append(scan)
    return dataclasses.replace(suite, scans=scans)


def _simulate(suite, data: Path, ids: list[str], workers: int) -> list[Path]:
    from nii.simulate.suite import run_suite

    paths = {scan_id: data / f"{scan_id}.nxr" for scan_id in ids}
    missing = [i for i, p in paths.items() if not (p.is_file() and p.with_name(f"{i}.truth.json").is_file())]
    if missing:
        print(f"  simulating {len(missing)} scan(s) of {suite.name} ...", file=sys.stderr, flush=True)
        run_suite(suite, data, workers=workers, overwrite=True, only=missing)
    return [paths[i] for i in ids]


def calibrate_variant(variant, data: Path, workers: int) -> Path:
    """Simulate the variant's wedges and calibrate on them; return the calibration file."""
    from nii.calibration import calibrate
    from nii.simulate.suite import load_suite

    path = data / "calibration.json"
    if path.is_file():
        return path
    suite = load_suite(ROOT / "seeds" / "suites" / "wedges.toml", variant=variant)
    wedges = _simulate(suite, data / "wedges", [s.scan_id for s in suite.scans], workers)
    started = time.perf_counter()
    calibration = calibrate(wedges)
    calibration.save(path)
    print(f"  calibrated on {len(wedges)} wedge scans in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def inspect_with(job: tuple[Path, Path, str, str]) -> dict:
    """Inspect one scan with its variant's calibration; the row of bench_detection plus names."""
    nxr, calibration_path, variant_name, energy_pair = job
    row = bench_detection.inspect_case(nxr, calibration_path)
    row["scanner_variant"] = variant_name
    row["energy_pair"] = energy_pair
    row["container_make"] = (row.get("scenario") or {}).get("container_make") or ""
    return row


def write_csv(rows: list[dict], path: Path) -> None:
    """bench_detection's per-case table with the scanner variant and the make first."""
    import csv

    bench_detection.write_csv(rows, path)
    with open(path, newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))
    table[0] = ["scanner_variant", "energy_pair", "container_make", *table[0]]
    for line, row in zip(table[1:], rows, strict=True):
        line[:0] = [row["scanner_variant"], row["energy_pair"], row["container_make"]]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows(table)


def _line(label: str, summary: dict) -> str:
    mass = summary["mass_clean"]
    return (f"  {label:22s} {summary['detected']:3d}/{summary['should_inspect']:<3d} {summary['detection_rate']:6.1%}   "
            f"{summary['false_alarms']:3d}/{summary['clean']:<3d} {summary['false_alarm_rate']:6.1%}   "
            f"{mass['median']:+6.1%} {mass['abs_median']:6.1%}   {summary['errors']:3d}")


def main(argv: list[str] | None = None) -> int:
    from nii.simulate.containers import container_makes
    from nii.simulate.suite import load_suite
    from nii.simulate.variants import scanner_variants

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=("tune", "test"), help="scanner-variant split")
    parser.add_argument("--makes", default="test", choices=("tune", "test"), help="container-make split")
    parser.add_argument("--variants", nargs="*", help="only these variants of the split")
    parser.add_argument("--per-variant", type=int, default=24, help="inspection scans per variant (stratified)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "_data" / "bench_detection_variants.csv")
    args = parser.parse_args(argv)

    variants = [v for v in scanner_variants(args.split) if not args.variants or v.name in args.variants]
    makes = container_makes(args.makes)
    print(f"tuning set: thresholds of seeds/hs_expectations.toml set on the default scanner and the reference make; "
          f"reported on scanner split '{args.split}' ({len(variants)} variants) and make split '{args.makes}' "
          f"({', '.join(makes)})")
    started = time.perf_counter()
    jobs = []
    for variant in variants:
        data = args.data / variant.name
        print(f"{variant.name}: {variant.describe()}", file=sys.stderr, flush=True)
        calibration = calibrate_variant(variant, data, args.workers)
        suite = _with_makes(load_suite(ROOT / "seeds" / "suites" / "inspection.toml", variant=variant), makes)
        ids = bench_detection._subset([s.scan_id for s in suite.scans], args.per_variant)
        for nxr in _simulate(suite, data / "inspection", ids, args.workers):
            jobs.append((nxr, calibration, variant.name, variant.energy_pair))
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(inspect_with, jobs))
    else:
        rows = [inspect_with(job) for job in jobs]
    elapsed = time.perf_counter() - started
    write_csv(rows, args.csv)

    print(f"{len(rows)} scans in {elapsed:.0f} s (simulation, calibration and inspection)")
    print("                          detected   rate    false alarms  rate    mass: median |median|  errors")
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[f"{row['scanner_variant']} ({row['energy_pair']})"].append(row)
        groups[f"pair {row['energy_pair']}"].append(row)
        groups[f"make {row['container_make'] or '-'}"].append(row)
    for label in sorted(groups):
        print(_line(label, bench_detection.summarise(groups[label])))
    overall = bench_detection.summarise(rows)
    print(_line("all", overall))
    clean = overall["clean"]
    print("per reason code            expected detected | false alarms on clean scans")
    for code, counts in overall["per_code"].items():
        expected, hit = counts.get("expected", 0), counts.get("raised_when_expected", 0)
        false_alarms = counts.get("false_alarm_on_clean", 0)
        print(f"  {code:26s} {expected:4d}   {hit:4d}   | {false_alarms:4d} of {clean}")
    missed = Counter(code for r in rows for code in set(r["expected_reasons"]) - set(r["reasons"]))
    if missed:
        print("missed codes: " + ", ".join(f"{code} x{n}" for code, n in missed.most_common()))
    print(f"per-case table: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
