"""Fuzz ``nii inspect`` with damaged simulated scans and print the outcome table (issue 10).

Command (the full run; a few minutes on one core)::

    python benchmarks/fuzz_inspect.py --mutants 300 --seed 0

Small simulated scans (64 channels, 400 pulses: a clear 20 ft container of furniture
and a 20 ft container of textiles) are damaged at random: bytes flipped in the header
or the records, byte ranges deleted, the file cut (often so that most object pulses
are gone), blocks of whole records replayed elsewhere, records with a wild pulse
index inserted. Every mutant goes through ``nii inspect`` in-process (the CLI entry
point, ``nii.cli.main``) under an alarm that detects hangs; a sample of them
(``--subprocess-every``) also runs as ``python -m nii inspect`` in a subprocess with
a timeout, to see real exit codes and tracebacks on stderr.

The table counts each outcome: exit 2 (an error, one sentence), exit 1 (inspect),
exit 0 (clear), a traceback (any exception escaping the CLI, or "Traceback" on
stderr), a hang, and "clear on a scan missing most of its object pulses" (fewer than
half of the original's object pulses read back): that last one, the tracebacks and
the hangs should be 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: Base scans: (container, HS chapter, seed).
BASES = (("20ft", "94", 2), ("20ft", "61", 3))
OUTCOMES = ("error (exit 2)", "inspect (exit 1)", "clear (exit 0)", "traceback", "hang")
MISSING_CLEAR = "clear on a scan missing most of its object pulses"


@dataclass
class Base:
    """A simulated scan to damage."""

    name: str
    data: bytes
    start: int
    size: int
    count: int
    objects: int
    manifest: Path


class _Hang(Exception):
    pass


def _simulate(folder: Path, channels: int, pulses: int) -> list[Base]:
    from nii.simulate import ScannerConfig, build_scenario, simulate_scan
    from scanner_io import load_scan

    bases = []
    for container, chapter, seed in BASES:
        path = folder / f"base-{chapter}-{seed}.nxr"
        scenario = build_scenario(container, chapter, None, seed=seed)
        simulate_scan(scenario, ScannerConfig().scaled(channels, pulses), seed, out=path)
        data = path.read_bytes()
        scan = load_scan(path)
        size = 32 + channels * scan.header.sample_bytes
        bases.append(Base(path.stem, data, 16 + struct.unpack("<I", data[8:12])[0], size,
                          scan.report.records, int(sum(scan.object_pulses)),
                          path.with_name(f"{path.stem}.manifest.json")))
    return bases


def _wild(record: bytes, pulse: int) -> bytes:
    body = bytearray(record[4:-4])
    body[0:4] = struct.pack("<I", pulse)
    return record[:4] + bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def mutate(base: Base, rng: np.random.Generator) -> tuple[bytes, str]:
    """One damaged copy of the base scan and a short description of the damage."""
    data = bytearray(base.data)
    steps = []
    for _ in range(int(rng.integers(1, 5))):
        kind = str(rng.choice(["flip", "flip", "flip_header", "delete", "cut", "replay", "wild"]))
        records = max(1, (len(data) - base.start) // base.size)
        if kind == "flip":
            at = int(rng.integers(base.start, max(base.start + 1, len(data))))
            if at < len(data):
                data[at] ^= int(rng.integers(1, 256))
        elif kind == "flip_header":
            data[int(rng.integers(0, base.start))] ^= int(rng.integers(1, 256))
        elif kind == "delete":
            at = int(rng.integers(base.start, max(base.start + 1, len(data))))
            del data[at : at + int(rng.integers(1, 20 * base.size))]
        elif kind == "cut":  # keep from nothing to all of the object pulses
            keep = float(rng.uniform(0.0, 1.0))
            references = base.count - base.objects
            at = base.start + int((references + keep * base.objects) * base.size)
            del data[at + int(rng.integers(0, base.size)) :]
        elif kind == "replay":
            length = int(rng.integers(1, 9))
            source = int(rng.integers(0, records))
            block = bytes(data[base.start + source * base.size :][: length * base.size])
            target = base.start + int(rng.integers(0, records + 1)) * base.size
            data[target:target] = block
        else:
            target = base.start + int(rng.integers(0, records + 1)) * base.size
            template = base.data[base.start : base.start + base.size]
            data[target:target] = _wild(template, int(rng.integers(0, 2**32)))
        steps.append(kind)
    return bytes(data), "+".join(steps)


def _object_fraction(path: Path, base: Base) -> float | None:
    from scanner_io import ScannerIOError, load_scan

    try:
        return sum(load_scan(path).object_pulses) / base.objects
    except ScannerIOError:
        return None


def run_in_process(path: Path, manifest: Path, out: Path, timeout_s: float) -> str:
    """Run ``nii inspect`` through ``nii.cli.main``; return the outcome."""
    from nii.cli import main

    def alarm(*_):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            status = main(["inspect", str(path), "--manifest", str(manifest), "--out", str(out)])
    except _Hang:
        return "hang"
    except BaseException as error:  # noqa: BLE001 - any escape is what is counted
        return f"traceback ({type(error).__name__})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return {0: "clear (exit 0)", 1: "inspect (exit 1)", 2: "error (exit 2)"}.get(
        status, f"traceback (exit {status})"
    )


def run_subprocess(path: Path, manifest: Path, out: Path, timeout_s: float) -> str:
    """Run ``python -m nii inspect`` in a subprocess; return the outcome."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "nii", "inspect", str(path), "--manifest", str(manifest),
               "--out", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return "hang"
    if "Traceback" in done.stderr:
        return "traceback (stderr)"
    return {0: "clear (exit 0)", 1: "inspect (exit 1)", 2: "error (exit 2)"}.get(
        done.returncode, f"traceback (exit {done.returncode})"
    )


def _kind(outcome: str) -> str:
    return "traceback" if outcome.startswith("traceback") else outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=300, help="damaged scans to run (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the damage")
    parser.add_argument("--subprocess-every", type=int, default=10, metavar="K",
                        help="also run every K-th mutant in a subprocess (default 10; 0: none)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a run is a hang")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--pulses", type=int, default=400)
    parser.add_argument("--keep", metavar="DIR", help="keep the mutants that were not honest here")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    counts: Counter[str] = Counter()
    sub_counts: Counter[str] = Counter()
    details: Counter[str] = Counter()
    bad: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nii-fuzz-") as temporary:
        folder = Path(temporary)
        bases = _simulate(folder, args.channels, args.pulses)
        for number in range(args.mutants):
            base = bases[number % len(bases)]
            damaged, steps = mutate(base, rng)
            path = folder / f"mutant-{number:04d}.nxr"
            path.write_bytes(damaged)
            out = folder / f"out-{number:04d}"
            outcome = run_in_process(path, base.manifest, out, args.timeout)
            counts[_kind(outcome)] += 1
            details[outcome] += 1
            fraction = _object_fraction(path, base) if outcome == "clear (exit 0)" else None
            honest = _kind(outcome) not in ("traceback", "hang")
            if fraction is not None and fraction < 0.5:
                counts[MISSING_CLEAR] += 1
                honest = False
            if args.subprocess_every and number % args.subprocess_every == 0:
                sub = run_subprocess(path, base.manifest, folder / f"sub-{number:04d}", args.timeout)
                sub_counts[_kind(sub)] += 1
                honest = honest and _kind(sub) not in ("traceback", "hang")
            if not honest:
                bad.append(f"mutant {number} ({base.name}: {steps}): {outcome}"
                           + (f", {100 * fraction:.0f} % of object pulses" if fraction is not None else ""))
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    (Path(args.keep) / path.name).write_bytes(damaged)
            path.unlink()
    elapsed = time.monotonic() - started

    sampled = sum(sub_counts.values())
    print(f"nii inspect on {args.mutants} damaged scans (seed {args.seed}, {args.channels} channels x "
          f"{args.pulses} pulses, {len(BASES)} base scans), {elapsed:.0f} s")
    print()
    print(f"| outcome | in-process ({args.mutants}) | subprocess ({sampled}) |")
    print("| --- | ---: | ---: |")
    for name in OUTCOMES:
        print(f"| {name} | {counts[name]} | {sub_counts[name]} |")
    print(f"| {MISSING_CLEAR} (should be 0) | {counts[MISSING_CLEAR]} | |")
    tracebacks = {k: v for k, v in details.items() if k.startswith("traceback")}
    if tracebacks:
        print("\ntracebacks: " + ", ".join(f"{k}: {v}" for k, v in sorted(tracebacks.items())))
    if bad:
        print("\nnot honest:")
        for line in bad[:40]:
            print(f"  {line}")
        if len(bad) > 40:
            print(f"  ... and {len(bad) - 40} more")
    return 0 if not (counts["traceback"] or counts["hang"] or sub_counts["traceback"]
                     or sub_counts["hang"] or counts[MISSING_CLEAR]) else 1


if __name__ == "__main__":
    sys.exit(main())
