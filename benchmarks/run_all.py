"""Run the speed benchmarks and collect their output into ``benchmarks/RESULTS.md``.

Command (from the repository root, with the project installed)::

    python benchmarks/run_all.py                 # speed benchmarks (a few minutes)
    python benchmarks/run_all.py --accuracy      # also discrimination accuracy and detection (long)

Each benchmark runs in its own process pinned to one thread (``OMP_NUM_THREADS=1`` and
friends) and prints its figures beside its floor (``numpy.copyto`` or ``numpy.fromfile``
of the same data, measured in the same run). The Markdown file records the exact
command, the machine and the output of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

SPEED = [
    ("Read an NXR scan (1,024 ch × 8,000 pulses, uint16)", ["benchmarks/bench_read.py"]),
    ("Polychromatic transmission (simulator hot path)", ["benchmarks/bench_physics.py"]),
    ("Simulate the reference 40 ft scan", ["benchmarks/bench_simulate.py", "--repeat", "2"]),
    (
        "Correction + discrimination, numpy and torch CPU",
        ["benchmarks/bench_discrimination_speed.py"],
    ),
    ("Inspect the reference 40 ft scan end to end", ["benchmarks/bench_inspect.py", "--repeat", "2"]),
    (
        "Learned model inference (torch CPU; GPU when present)",
        ["benchmarks/bench_models.py", "--rows", "256", "--cols", "1024", "--repeat", "5", "--threads", "1"],
    ),
    ("Review page of a 40 ft scan in headless Chromium", ["benchmarks/bench_review.py"]),
]
ACCURACY = [
    ("Material discrimination accuracy", ["benchmarks/bench_discrimination_accuracy.py"]),
    ("Detection on the inspection suite", ["benchmarks/bench_detection.py", "--workers", "2"]),
    ("Detection on untuned scanner variants and container makes",
     ["benchmarks/bench_detection_variants.py", "--workers", "2"]),
    ("Cargo mass and material on clean loads, lying manifests", ["benchmarks/bench_mass.py", "--workers", "2"]),
    ("Damaged scans through nii inspect (fuzz)", ["benchmarks/fuzz_inspect.py", "--mutants", "300"]),
    ("Coverage of cut, thinned and saturated scans", ["benchmarks/coverage_damage.py", "--scans", "24"]),
]
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def _machine() -> str:
    cores = os.cpu_count()
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        gpu = "torch not installed"
    return f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}, GPU: {gpu}"


def run(title: str, arguments: list[str], timeout_s: float) -> str:
    command = ["python", *arguments]
    env = {**os.environ, **ONE_THREAD}
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=timeout_s,
        )
        output = (result.stdout + (result.stderr if result.returncode else "")).strip()
        status = "ok" if result.returncode == 0 else f"exit status {result.returncode}"
    except subprocess.TimeoutExpired:
        output, status = "", f"timed out after {timeout_s:.0f} s"
    elapsed = time.perf_counter() - started
    shown = " ".join(command)
    print(f"{title}: {status} ({elapsed:.0f} s)", file=sys.stderr)
    return f"## {title}\n\n`OMP_NUM_THREADS=1 {shown}` — {status}, {elapsed:.0f} s\n\n```\n{output}\n```\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true", help="also run the accuracy benchmarks")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--baseline", default="main",
                        help="git revision the speed benchmarks time side by side (e.g. the start of a round)")
    args = parser.parse_args(argv)
    with_baseline = ("benchmarks/bench_discrimination_speed.py", "benchmarks/bench_inspect.py")
    jobs = [(title, [*arguments, "--baseline", args.baseline] if arguments[0] in with_baseline else arguments)
            for title, arguments in SPEED + (ACCURACY if args.accuracy else [])]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        "# Benchmark results\n",
        f"Measured {stamp} on {_machine()}; produced by `python benchmarks/run_all.py"
        f"{' --accuracy' if args.accuracy else ''} --baseline {args.baseline}`. Each benchmark runs on one thread; "
        "floors (`numpy.copyto` / `numpy.fromfile` of the same data) are measured in the same run.\n",
    ]
    sections += [run(title, arguments, args.timeout) for title, arguments in jobs]
    args.out.write_text("\n".join(sections), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
