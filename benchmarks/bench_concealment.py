"""Concealment check on cargo texture, scanners and container makes it was not tuned on.

``CONCEALMENT_ANOMALY`` (:mod:`nii.inspection.checks.concealment`) is a statistical test:
a region is reported when its number of false alarms (tests × tail probability of its
mean departure against the spread of same-size regions of its own stack) is below
``[checks.concealment] nfa_epsilon`` of ``seeds/hs_expectations.toml``. This benchmark
counts, per cargo texture (``cargo_density_cv``) and per scanner variant,

* **false alarms** of the concealment check (and of the dense-object check, which raises
  the same code) on clean, honest loads of chapters 61, 62, 94, 03, 22 and 39 in 20 ft
  and 40 ft containers, with the cartons' density spread at 0, 0.1, 0.2 and 0.3;
* **detection** of the concealment threats of ``seeds/threats.toml`` (steel box, drug
  bricks, cigarettes in furniture, vehicle; small, medium and large) in the inspection
  suite's hosts (``seeds/suites/inspection.toml``: 20 ft of fish 03 and wood 44, 40 ft of
  plastics 39 and steel articles 73): the concealment check's own detection and that of
  the code by any check, and whether a reported region overlaps the threat's.

Every scan is inspected with a physics calibration (``run_inspection(path, manifest)``
without ``calibration``), as a new user without wedges would.

The **tuning set** (what ``nfa_epsilon`` and the few settings were looked at on): the
default scanner scaled to 512 channels, the ``tune`` container makes (``reference``,
``deep-panel``), ``cargo_density_cv`` 0.0 and 0.2, and the suite's concealment threats
on the default scanner. The **report set**, never used for tuning: the ``test`` makes
(``wide-pitch``, ``fine-pitch``), every ``cargo_density_cv`` (0, 0.1, 0.2, 0.3) with other
seeds, on the default scanner and on the test scanner variants ``peer-384-63`` and
``test-00``, and the threats on ``peer-384-63`` with the test makes. Run from the repository
root::

    python benchmarks/bench_concealment.py                  # tune and report sets
    python benchmarks/bench_concealment.py --set report --workers 2
    python benchmarks/bench_concealment.py --variants peer-384-63 --cv 0.3

Scans are cached under ``benchmarks/_data/concealment/`` (delete it after changing the
simulator); the analysed maps are cached beside them (``*.maps.pkl``) so that a change of
the check reruns in a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "benchmarks" / "_data" / "concealment"

CHAPTERS = ("61", "62", "94", "03", "22", "39")
CONTAINERS = ("20ft", "40ft")
CVS = (0.0, 0.1, 0.2, 0.3)
THREATS = ("steel_box", "drug_bricks", "cigarettes_in_furniture", "vehicle")
CODE = "CONCEALMENT_ANOMALY"

#: (set, scanner, makes split, cargo_density_cv values, seed base); "default-512" is
#: ``ScannerConfig().scaled(512)``, the others scanner variants of nii.simulate.variants.
CLEAN_SETS = (
    ("tune", "default-512", "tune", (0.0, 0.2), 1000),
    ("report", "default-512", "test", CVS, 5000),
    ("report", "peer-384-63", "test", CVS, 6000),
    ("report", "test-00", "test", CVS, 7000),
)
#: (set, scanner, makes split or None for the suite's own make)
THREAT_SETS = (
    ("tune", "default-512", None),
    ("report", "peer-384-63", "test"),
)


@dataclasses.dataclass(frozen=True)
class Job:
    set: str
    scanner: str
    kind: str          # "clean" or "threat"
    path: str          # NXR path
    params: tuple      # sorted (name, value) of the scenario
    seed: int


def _config(scanner: str):
    from nii.simulate.scanner import ScannerConfig
    from nii.simulate.variants import scanner_variant

    if scanner == "default-512":
        return ScannerConfig().scaled(512)
    return scanner_variant(scanner).config


def clean_jobs(data: Path, sets: set[str], variants: set[str] | None, cvs: set[float] | None) -> list[Job]:
    from nii.simulate.containers import container_makes

    jobs = []
    for name, scanner, split, values, base in CLEAN_SETS:
        if name not in sets or (variants and scanner not in variants):
            continue
        makes = container_makes(split)
        turn = 0
        for cv in values:
            if cvs is not None and cv not in cvs:
                continue
            for chapter in CHAPTERS:
                for container in CONTAINERS:
                    make = makes[turn % len(makes)]
                    turn += 1
                    seed = base + int(round(cv * 100)) * 31 + CHAPTERS.index(chapter) * 7 + CONTAINERS.index(container)
                    stem = f"clean-{container}-{chapter}-cv{int(round(cv * 100)):02d}-{make}"
                    params = (("cargo_chapter", chapter), ("cargo_density_cv", cv), ("container", container),
                              ("container_make", make))
                    jobs.append(Job(name, scanner, "clean", str(data / name / scanner / f"{stem}.nxr"), params, seed))
    return jobs


def threat_jobs(data: Path, sets: set[str], variants: set[str] | None) -> list[Job]:
    from nii.simulate.containers import container_makes
    from nii.simulate.suite import load_suite

    jobs = []
    for name, scanner, split in THREAT_SETS:
        if name not in sets or (variants and scanner not in variants):
            continue
        variant = None if scanner == "default-512" else scanner
        suite = load_suite(ROOT / "seeds" / "suites" / "inspection.toml", variant=variant)
        makes = container_makes(split) if split else None
        turn = 0
        for scan in suite.scans:
            if scan.kind != "scenario" or scan.params.get("threat") not in THREATS:
                continue
            if scan.params.get("cargo_chapter") in (None, "", "none"):
                continue      # a threat in a declared-empty container: the empty check's
            params = dict(scan.params)
            if makes:
                params["container_make"] = makes[turn % len(makes)]
                turn += 1
            jobs.append(Job(name, scanner, "threat", str(data / name / scanner / f"{scan.scan_id}.nxr"),
                            tuple(sorted(params.items())), scan.seed))
    return jobs


def suite_clean_jobs(data: Path, sets: set[str], variants: set[str] | None) -> list[Job]:
    """The inspection suite's own clean loads (21 chapters, 20 and 40 ft) on the default scanner: report set."""
    from nii.simulate.suite import load_suite

    if "report" not in sets or (variants and "default-512" not in variants):
        return []
    suite = load_suite(ROOT / "seeds" / "suites" / "inspection.toml")
    return [Job("report", "default-512", "clean", str(data / "suite-clean" / "default-512" / f"{scan.scan_id}.nxr"),
                tuple(sorted(scan.params.items())), scan.seed)
            for scan in suite.scans if scan.scan_id.startswith("clean-")]


def simulate(job: Job) -> str:
    """Simulate one scan unless it is there."""
    from nii.simulate import build_scenario, simulate_scan

    path = Path(job.path)
    if path.is_file() and path.with_name(path.name[:-4] + ".truth.json").is_file():
        return job.path
    path.parent.mkdir(parents=True, exist_ok=True)
    params = dict(job.params)
    container = params.pop("container")
    chapter = params.pop("cargo_chapter", None)
    threat = params.pop("threat", None)
    params.pop("kind", None)
    scenario = build_scenario(container, chapter, threat, job.seed, **params)
    config = _config(job.scanner)
    simulate_scan(scenario, config, job.seed, out=path, scan_id=path.name[:-4], overwrite=True)
    return job.path


def maps(path: Path):
    """The scan's analysed image and material map (physics calibration), cached."""
    from nii.inspection import run_inspection

    cache = path.with_name(path.name[:-4] + ".maps.pkl")
    if cache.is_file():
        with open(cache, "rb") as stream:
            return pickle.load(stream)
    result = run_inspection(path, path.with_name(path.name[:-4] + ".manifest.json"))
    keep = (result.image, result.material_map, result.manifest, result.verdict)
    with open(cache, "wb") as stream:
        pickle.dump(keep, stream)
    return keep


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def evaluate(job: Job) -> dict:
    """Run the concealment and dense-object checks on one scan; the row of the tables."""
    from nii.inspection.checks import build_check_input, check_concealment, check_dense_objects
    from nii.inspection.expectations import load_expectations

    path = Path(job.path)
    truth = json.loads(path.with_name(path.name[:-4] + ".truth.json").read_text(encoding="utf-8"))
    image, material_map, manifest, verdict = maps(path)
    inp = build_check_input(image, material_map, manifest, load_expectations())
    started = time.perf_counter()
    concealment = check_concealment(inp)
    seconds = time.perf_counter() - started
    dense = check_dense_objects(inp)
    params = dict(job.params)
    targets = [r["bbox"] for r in truth.get("regions", []) if r.get("reason") == CODE and r.get("bbox")]
    found = [r.bbox for r in concealment.regions + dense.regions]
    return {
        "set": job.set, "scanner": job.scanner, "kind": job.kind, "scan": path.name[:-4],
        "cv": params.get("cargo_density_cv"), "chapter": params.get("cargo_chapter"),
        "container": params.get("container"), "make": params.get("container_make") or "reference",
        "threat": params.get("threat"), "size": params.get("threat_size"),
        "expects": CODE in (truth.get("expected_reasons") or []),
        "concealment": bool(concealment.reasons), "dense_object": bool(dense.reasons),
        "message": concealment.reasons[0].message if concealment.reasons else "",
        "region_hit": any(_overlaps(t, f) for t in targets for f in found),
        "pipeline_codes": sorted(set(verdict.reason_codes)),
        "seconds": seconds,
    }


def _rate(hit: int, total: int) -> str:
    return f"{hit:3d}/{total:<3d} {hit / total:6.1%}" if total else "  -/-        "


def report(rows: list[dict]) -> None:
    for name in ("tune", "report"):
        part = [r for r in rows if r["set"] == name]
        if not part:
            continue
        print(f"\n=== {name} set ===")
        clean = [r for r in part if r["kind"] == "clean"]
        if clean:
            print("false alarms on clean scans      concealment check   dense-object check   either")
            groups = defaultdict(list)
            for r in clean:
                groups["suite's clean loads (21 chapters)" if r["cv"] is None else f"cv {r['cv']:.1f}"].append(r)
                groups[f"scanner {r['scanner']}"].append(r)
                groups[f"make {r['make']}"].append(r)
                groups[f"chapter {r['chapter']}"].append(r)
            groups["all"] = clean
            for label in sorted(groups, key=lambda k: (k == "all", k)):
                g = groups[label]
                print(f"  {label:28s} {_rate(sum(r['concealment'] for r in g), len(g))}   "
                      f"{_rate(sum(r['dense_object'] for r in g), len(g))}   "
                      f"{_rate(sum(r['concealment'] or r['dense_object'] for r in g), len(g))}")
            for r in clean:
                if r["concealment"]:
                    print(f"    FA {r['scanner']} {r['scan']}: {r['message'][:150]}")
        threats = [r for r in part if r["kind"] == "threat" and r["expects"]]
        if threats:
            print("detection of concealment threats concealment check   either check         region found")
            groups = defaultdict(list)
            for r in threats:
                groups[f"{r['threat']}"].append(r)
                groups[f"size {r['size']}"].append(r)
                groups[f"scanner {r['scanner']}"].append(r)
            groups["all"] = threats
            for label in sorted(groups, key=lambda k: (k == "all", k)):
                g = groups[label]
                print(f"  {label:28s} {_rate(sum(r['concealment'] for r in g), len(g))}   "
                      f"{_rate(sum(r['concealment'] or r['dense_object'] for r in g), len(g))}   "
                      f"{_rate(sum(r['region_hit'] for r in g), len(g))}")
            for r in threats:
                if not (r["concealment"] or r["dense_object"]):
                    print(f"    missed {r['scanner']} {r['scan']}")
        seconds = sorted(r["seconds"] for r in part)
        print(f"concealment check time: median {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("tune", "report", "both"), default="both")
    parser.add_argument("--variants", nargs="*", help="only these scanners (default-512, peer-384-63, test-00)")
    parser.add_argument("--cv", type=float, nargs="*", help="only these cargo_density_cv values")
    parser.add_argument("--no-threats", action="store_true")
    parser.add_argument("--no-clean", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="write the per-scan rows here")
    args = parser.parse_args(argv)

    sets = {"tune", "report"} if args.set == "both" else {args.set}
    variants = set(args.variants) if args.variants else None
    cvs = set(args.cv) if args.cv else None
    jobs = [] if args.no_clean else clean_jobs(args.data, sets, variants, cvs)
    jobs += [] if args.no_clean or cvs else suite_clean_jobs(args.data, sets, variants)
    jobs += [] if args.no_threats else threat_jobs(args.data, sets, variants)
    started = time.perf_counter()
    print(f"{len(jobs)} scans; tuning set: default scanner (512 ch), makes 'tune', cv 0.0 and 0.2, suite threats; "
          f"report set: makes 'test', cv 0-0.3, default-512, peer-384-63, test-00", file=sys.stderr, flush=True)
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(simulate, jobs))
            rows = list(pool.map(evaluate, jobs))
    else:
        for job in jobs:
            simulate(job)
        rows = [evaluate(job) for job in jobs]
    print(f"{len(rows)} scans in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    report(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
