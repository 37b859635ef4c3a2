"""Coverage on clean and damaged simulated scans: how often each outcome comes out.

Simulates small scans (64 channels, 1,200 pulses by default), damages them in memory
the ways issue 10 lists (cut short, front cut, thinned by CRC losses, a block lost,
mostly saturated, all saturated, an empty beam with goods declared, a lead-block scan
cut before the lead) and inspects each. Prints one line per case and the counts:
clean scans should all be complete (no SCAN_INCOMPLETE), damaged ones never ``clear``
and never a MASS_MISMATCH.

    python benchmarks/coverage_damage.py --scans 6
"""

from __future__ import annotations

import argparse
import collections
import copy
import sys

import numpy as np

from nii.errors import AnalysisError
from nii.inspection import run_inspection
from nii.simulate import ScannerConfig, build_scenario, simulate_scan
from scanner_io import FLAG_AIR, FLAG_DARK, ReadReport, scan_from_records, validate_header

CONTAINERS = ("20ft", "40ft", "40hc")
CHAPTERS = ("61", "03", "44", "22", "85", "39")


def _objects(records: np.ndarray) -> np.ndarray:
    return (records["flags"] & (FLAG_AIR | FLAG_DARK)) == 0


def _scan(sim, keep=None, samples=None, saturation=None):
    header = copy.deepcopy(sim.header)
    if saturation is not None:
        header["detector"]["saturation"] = saturation
    records = sim.records()
    if samples is not None:
        samples(records)
    report = ReadReport(records=int(records.size))
    if keep is not None:
        kept = records[keep]
        last = int(kept["pulse_index"].max())
        lost = sorted(int(p) for p in records["pulse_index"][~keep] if p < last)
        report = ReadReport(records=int(kept.size), crc_failures=int((~keep).sum()), dropped_pulses=lost)
        records = kept
    return scan_from_records(validate_header(header), records, report)


def damages(sim, rng):
    """(name, scan, manifest change) of each damaged version of a simulated scan."""
    records = sim.records()
    objects = _objects(records)
    index = np.flatnonzero(objects)

    def first(share):
        keep = ~objects.copy()
        keep[index[: int(index.size * share)]] = True
        return keep

    def saturate(pick):
        def apply(r):
            r["samples"][pick] = 65535
        return apply

    def empty(r):
        air = (r["flags"] & FLAG_AIR) != 0
        for energy in np.unique(r["energy_index"]):
            source = np.flatnonzero(air & (r["energy_index"] == energy))
            target = np.flatnonzero(objects & (r["energy_index"] == energy))
            pick = rng.choice(source, target.size)
            r["samples"][target] = r["samples"][pick]
            r["dose"][target] = r["dose"][pick]

    share = float(rng.uniform(0.01, 0.28))
    block = np.ones(records.size, bool)
    start = int(rng.integers(index.size // 5, index.size // 2))
    block[index[start: start + index.size // 8]] = False
    front = ~objects.copy()
    front[index[index.size // 2:]] = True
    yield f"cut to {share:.0%}", _scan(sim, first(share)), None
    yield "cut to 1/7", _scan(sim, first(1 / 7)), None
    yield "front half cut", _scan(sim, front), None
    yield f"keep {share:.0%} (CRC)", _scan(sim, ~objects | (rng.random(records.size) < share)), None
    yield "block of 1/8 lost", _scan(sim, block), None
    yield "middle 60 % saturated", _scan(sim, samples=saturate(index[index.size // 5: index.size * 4 // 5]),
                                        saturation=65535), None
    yield "all saturated", _scan(sim, samples=saturate(index), saturation=65535), None
    yield "empty beam, 9 t declared", _scan(sim, samples=empty), {"items": [{"hs_code": "610910", "gross_mass_kg": 9000}]}


def outcome(scan, manifest) -> tuple[str, str]:
    try:
        verdict = run_inspection(scan, manifest).verdict
    except AnalysisError as exc:
        return "error", str(exc)
    codes = verdict.reason_codes
    kind = "clear" if verdict.verdict == "clear" else ("incomplete" if "SCAN_INCOMPLETE" in codes else "inspect")
    if "MASS_MISMATCH" in codes and "SCAN_INCOMPLETE" in codes:
        kind = "BOGUS MASS"
    return kind, verdict.summary().splitlines()[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=6, help="clean scans to simulate (each damaged 8 ways)")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--pulses", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    counts: dict[str, collections.Counter] = {"clean": collections.Counter(), "damaged": collections.Counter()}
    for number in range(args.scans):
        container, chapter = CONTAINERS[number % len(CONTAINERS)], CHAPTERS[number % len(CHAPTERS)]
        seed = args.seed + number
        threat = "lead-block" if number % 2 else "none"
        scenario = build_scenario(container, chapter, threat, seed=seed)
        sim = simulate_scan(scenario, ScannerConfig().scaled(args.channels, args.pulses), seed)
        kind, line = outcome(_scan(sim), scenario.manifest)
        counts["clean"]["SCAN_INCOMPLETE" if kind == "incomplete" else "complete"] += 1
        print(f"{container} ch.{chapter} {threat}: full scan -> {kind}: {line}")
        cases = list(damages(sim, rng))
        if threat == "lead-block" and sim.truth.regions:
            x_lead = min(region["bbox_mm"][1] for region in sim.truth.regions)
            records = sim.records()
            cases.append(("cut before the lead", _scan(sim, ~_objects(records) | (records["position_mm"] < x_lead - 300)), None))
        for name, scan, change in cases:
            manifest = dict(scenario.manifest, **(change or {}))
            kind, line = outcome(scan, manifest)
            counts["damaged"][kind] += 1
            print(f"    {name:26s} -> {kind}: {line}")
    print("clean scans:  ", dict(counts["clean"]))
    print("damaged scans:", dict(counts["damaged"]))
    bad = counts["clean"]["SCAN_INCOMPLETE"] + counts["damaged"]["clear"] + counts["damaged"]["BOGUS MASS"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
