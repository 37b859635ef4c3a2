"""Cargo mass and material mix on clean dense loads, per scanner: error, false alarms, detection.

For each scanner (the default one, or a variant of ``seeds/scanner_variants.toml``) it

1. calibrates: the default scanner with the nominal physics model (what ``nii inspect``
   uses without ``--calibration``); a variant on its own simulated step wedges
   (``seeds/suites/wedges.toml`` on the variant, ``nii.calibration.calibrate``), as a
   new user of that gantry would;
2. simulates clean honest loads of dense organic goods (HS 03 frozen fish, HS 22
   beverages) and of mixed parts (HS 84 machinery, HS 85 electronics), in 20 ft and
   40 ft containers, and the lying manifests (``mass_underdeclared`` of 03 and 22,
   ``material_mismatch`` of 03 declared as machinery, 84 and 85 declared as garments);
3. inspects every scan and prints, per scanner: the median and largest mass error on
   the clean loads, MASS_MISMATCH and MATERIAL_MISMATCH false alarms on them, and the
   detection of each lying variant.

**Tuning set.** The packings' sub-resolution spread (``texture_cv`` of
``[[checks.mass.goods]]``) is fitted with ``--tune`` on the *default scanner only*
(``--tune`` prints, per chapter, the ``texture_cv`` that zeroes the median mass error and
its spread over the scans); the variants ``peer-384-63`` and ``peer-384-96`` (split
``test``) are never used to set anything. Run from the repository root::

    python benchmarks/bench_mass.py                                   # default, peer-384-63, peer-384-96
    python benchmarks/bench_mass.py --scanners default --repeats 3 --tune
    python benchmarks/bench_mass.py --scanners peer-384-63 --workers 2

Simulated files are cached under ``benchmarks/_data/mass/<scanner>/`` (delete the folder
after changing the simulator).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "benchmarks" / "_data" / "mass"
CLEAN_CHAPTERS = ("03", "22", "84", "85")
LYING = (("mass_underdeclared", "03"), ("mass_underdeclared", "22"),
         ("material_mismatch", "03"), ("material_mismatch", "84"), ("material_mismatch", "85"))


def suite_text(repeats: int, containers: list[str], chapters: list[str]) -> str:
    """The benchmark's suite (TOML): clean loads and lying manifests."""
    vary = lambda name, values: f"{name} = [{', '.join(json.dumps(v) for v in values)}]"  # noqa: E731
    lines = [
        'name = "mass"',
        'description = "Clean dense organic loads and machinery, and lying manifests (benchmarks/bench_mass.py)."',
        "seed = 3112",
        "[scanner]",
        "channels = 512",
        "[[matrix]]",
        'prefix = "clean"',
        'kind = "scenario"',
        'threat = "none"',
        f"repeats = {int(repeats)}",
        "[matrix.vary]",
        vary("container", containers),
        vary("cargo_chapter", chapters),
    ]
    for variant, chapter in LYING:
        lines += ["[[matrix]]", f'prefix = "lying-{variant}-{chapter}"', 'kind = "scenario"', 'threat = "none"',
                  f'variant = "{variant}"', f'cargo_chapter = "{chapter}"', f"repeats = {int(repeats)}",
                  "[matrix.vary]", vary("container", containers)]
    return "\n".join(lines) + "\n"


def _simulate(suite: Any, folder: Path, workers: int) -> list[Path]:
    from nii.simulate.suite import run_suite

    ids = [scan.scan_id for scan in suite.scans]
    missing = [i for i in ids if not (folder / f"{i}.nxr").is_file() or not (folder / f"{i}.truth.json").is_file()]
    if missing:
        print(f"  simulating {len(missing)} scan(s) into {folder} ...", file=sys.stderr, flush=True)
        run_suite(suite, folder, workers=workers, overwrite=True, only=missing)
    return [folder / f"{i}.nxr" for i in ids]


def calibration_for(scanner: str, folder: Path, workers: int) -> Path | None:
    """The variant's wedge calibration (simulated and fitted once); None for the default scanner."""
    if scanner == "default":
        return None
    from nii.calibration import calibrate
    from nii.simulate.suite import load_suite

    path = folder / "calibration.json"
    if not path.is_file():
        suite = load_suite(ROOT / "seeds" / "suites" / "wedges.toml", variant=scanner)
        wedges = _simulate(suite, folder / "wedges", workers)
        calibrate(wedges).save(path)
    return path


def inspect_one(job: tuple[Path, Path | None, bool]) -> dict[str, Any]:
    """Inspect one scan; its mass, reasons and (with ``tune``) the texture term's size."""
    from nii.calibration import calibration_from_physics, load_calibration
    from nii.inspection import load_expectations, run_inspection
    from scanner_io import load_scan

    nxr, calibration_path, tune = job
    stem = nxr.name[: -len(".nxr")]
    truth = json.loads(nxr.with_name(f"{stem}.truth.json").read_text(encoding="utf-8"))
    calibration = (load_calibration(calibration_path) if calibration_path is not None
                   else calibration_from_physics(load_scan(nxr).header))
    started = time.perf_counter()
    result = run_inspection(nxr, nxr.with_name(f"{stem}.manifest.json"), calibration=calibration)
    row: dict[str, Any] = {
        "scan_id": stem, "seconds": time.perf_counter() - started,
        "true_kg": truth.get("cargo_mass_kg"), "mass_kg": result.verdict.cargo_mass_kg,
        "reasons": sorted(set(result.verdict.reason_codes)),
        "expected": sorted(set(truth.get("expected_reasons") or [])),
        "chapter": (truth.get("scenario") or {}).get("cargo_chapter") or stem.split("-")[-2],
    }
    if tune:
        row["texture_k"] = _texture_sensitivity(result, calibration, load_expectations())
    return row


def _texture_sensitivity(result: Any, calibration: Any, table: Any) -> float:
    """``d mass / d(texture_cv²)`` (kg) of one scan: the mass added per unit of c²."""
    import dataclasses

    from nii.inspection.checks import build_check_input
    from nii.inspection.checks.mass import cargo_mass_estimate
    from nii.inspection.coverage import measure_input_coverage

    masses = []
    for cv in (0.0, 0.1):
        goods = [dict(entry, texture_cv=cv) for entry in table.thresholds["mass"]["goods"]]
        thresholds = {**table.thresholds, "mass": {**table.thresholds["mass"], "goods": goods}}
        inp = build_check_input(result.image, result.material_map, result.manifest,
                                dataclasses.replace(table, thresholds=thresholds), calibration=calibration)
        measure_input_coverage(result.image, inp)
        masses.append(cargo_mass_estimate(inp).mass_kg)
    return (masses[1] - masses[0]) / 0.01, masses[0]  # type: ignore[return-value]


def report(scanner: str, rows: list[dict[str, Any]], tune: bool) -> None:
    clean = [r for r in rows if r["scan_id"].startswith("clean")]
    errors = [r["mass_kg"] / r["true_kg"] - 1.0 for r in clean if r["mass_kg"] and r["true_kg"]]
    mass_fa = sum("MASS_MISMATCH" in r["reasons"] for r in clean)
    material_fa = sum("MATERIAL_MISMATCH" in r["reasons"] for r in clean)
    print(f"\n{scanner}: {len(clean)} clean scans")
    if errors:
        print(f"  median mass error {statistics.median(errors):+.1%}, median |error| "
              f"{statistics.median(abs(e) for e in errors):.1%}, largest |error| {max(abs(e) for e in errors):.1%}")
    print(f"  false alarms: MASS_MISMATCH {mass_fa}/{len(clean)}, MATERIAL_MISMATCH {material_fa}/{len(clean)}")
    for r in clean:
        error = r["mass_kg"] / r["true_kg"] - 1.0 if r["mass_kg"] and r["true_kg"] else math.nan
        print(f"    {r['scan_id']:28s} true {r['true_kg']:8,.0f} kg  estimate {r['mass_kg'] or 0:8,.0f} kg  "
              f"{error:+6.1%}  {', '.join(r['reasons']) or 'clear'}  ({r['seconds']:.1f} s)")
    for variant, chapter in LYING:
        found = [r for r in rows if r["scan_id"].startswith(f"lying-{variant}-{chapter}")]
        code = "MASS_MISMATCH" if variant == "mass_underdeclared" else "MATERIAL_MISMATCH"
        caught = sum(code in r["reasons"] for r in found)
        print(f"  {variant} HS {chapter}: {code} raised on {caught}/{len(found)}")
    if tune:
        print("  texture_cv that zeroes the mass error, per chapter (median, spread over scans):")
        by_chapter: dict[str, list[float]] = {}
        for r in clean:
            k, base = r["texture_k"]
            if k > 0 and r["true_kg"]:
                by_chapter.setdefault(r["chapter"], []).append(math.sqrt(max(r["true_kg"] - base, 0.0) / k))
        for chapter, values in sorted(by_chapter.items()):
            spread = statistics.stdev(values) if len(values) > 1 else math.nan
            print(f"    HS {chapter}: texture_cv {statistics.median(values):.3f} (sd {spread:.3f}, {len(values)} scans)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scanners", nargs="+", default=["default", "peer-384-63", "peer-384-96"])
    parser.add_argument("--repeats", type=int, default=2, help="draws of each clean container × chapter")
    parser.add_argument("--containers", nargs="+", default=["20ft", "40ft"])
    parser.add_argument("--chapters", nargs="+", default=list(CLEAN_CHAPTERS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--tune", action="store_true", help="print the texture_cv fit (default scanner only)")
    args = parser.parse_args(argv)
    from nii.simulate.suite import load_suite

    args.data.mkdir(parents=True, exist_ok=True)
    suite_path = args.data / "suite.toml"
    suite_path.write_text(suite_text(args.repeats, args.containers, args.chapters), encoding="utf-8")
    for scanner in args.scanners:
        folder = args.data / scanner
        if args.tune and scanner != "default":
            print(f"--tune fits on the default scanner only: {scanner} is reported, not fitted", file=sys.stderr)
        suite = load_suite(suite_path, variant=None if scanner == "default" else scanner)
        calibration = calibration_for(scanner, folder, args.workers)
        scans = _simulate(suite, folder / "scans", args.workers)
        jobs = [(path, calibration, args.tune and scanner == "default") for path in scans]
        if args.workers > 1:
            with ProcessPoolExecutor(args.workers) as pool:
                rows = list(pool.map(inspect_one, jobs))
        else:
            rows = [inspect_one(job) for job in jobs]
        report(scanner, rows, args.tune and scanner == "default")
    return 0


if __name__ == "__main__":
    sys.exit(main())
