"""Read speed of NXR: ``read_nxr`` + ``load_scan`` against ``numpy.fromfile`` of the same bytes.

Command (from the repository root)::

    .venv/bin/python benchmarks/bench_read.py

The first run writes a reference 40 ft scan to ``benchmarks/_data/`` (gitignored):
1,024 channels × 8,000 pulses (2 interlaced energies, 4,000 each; 64 dark and 64
air pulses among them), uint16, about 16.6 MB. Each measurement is the best of 5.
The goal is a ratio of at most 3 between the NXR path (header checks, CRC of every
record, the scan assembled into rows × pulses images and references) and a bare
``numpy.fromfile``. ``load_scan`` gives raw images as views over the memory map and
hashes the file on first use of ``Scan.sha256``; two more lines time copying both
images out of the map (``np.array(raw, order="K")``) and hashing, for the full cost. CRC-32 comes from
``zlib-ng`` when installed (several times faster per record than ``zlib``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from scanner_io import (
    FLAG_AIR,
    FLAG_DARK,
    FLAG_DOSE_VALID,
    FLAG_POSITION_VALID,
    NxrWriter,
    load_scan,
    read_nxr,
)
from scanner_io._records import crc32

DATA = Path(__file__).resolve().parent / "_data"
CHANNELS = 1024
PULSES = 8000
REFERENCE_PULSES = 64  # of each kind, dark then air, at the start
PULSE_RATE_HZ = 400.0
SPEED_MPS = 0.4


def reference_scan(path: Path) -> Path:
    """Write the reference 40 ft scan to ``path`` unless it is already there."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": "nxr",
        "version": 1,
        "kind": "object",
        "scan_id": "BENCH-40FT",
        "scanner_id": "bench",
        "started_at": "2026-11-30T08:15:00Z",
        "sample_dtype": "uint16",
        "detector": {
            "channels": CHANNELS,
            "pitch_mm": 5.0,
            "first_channel": "top",
            "saturation": 65535,
        },
        "source": {
            "energies_mev": [6.0, 3.0],
            "pulse_rate_hz": PULSE_RATE_HZ,
            "pattern": "interlaced",
        },
        "geometry": {"source_to_detector_mm": 10000.0, "source_to_object_mm": 7500.0},
        "conveyance": {"nominal_speed_mps": SPEED_MPS},
    }
    rng = np.random.default_rng(2026)
    pulse = np.arange(PULSES)
    flags = np.full(PULSES, FLAG_DOSE_VALID | FLAG_POSITION_VALID)
    flags[: 2 * REFERENCE_PULSES] |= FLAG_DARK
    flags[2 * REFERENCE_PULSES : 4 * REFERENCE_PULSES] |= FLAG_AIR
    time_s = pulse / PULSE_RATE_HZ
    temporary = path.with_suffix(".partial")
    with NxrWriter(temporary, header, overwrite=True) as writer:
        for start in range(0, PULSES, 1000):
            block = slice(start, start + 1000)
            samples = rng.integers(200, 60000, size=(1000, CHANNELS), dtype=np.uint16)
            writer.write_many(
                pulse_index=pulse[block],
                energy_index=pulse[block] % 2,
                flags=flags[block],
                dose=rng.normal(1.0, 0.02, 1000),
                time_s=time_s[block],
                position_mm=time_s[block] * SPEED_MPS * 1000.0,
                samples=samples,
            )
    temporary.replace(path)
    return path


def best_of(repeats: int, functions: dict) -> dict:
    """Best wall time of ``repeats`` calls of each function, seconds.

    The functions take turns within each repeat, so a busy machine slows them alike.
    """
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    path = reference_scan(DATA / "reference_40ft.nxr")
    size_mb = path.stat().st_size / 1e6

    def nxr_path() -> None:
        scan = load_scan(path)
        assert scan.frames[0].pulses == PULSES // 2 - 2 * REFERENCE_PULSES

    def copied() -> None:
        scan = load_scan(path)
        images = [np.array(frames.raw, order="K") for frames in scan.frames]
        assert images[1].shape == (CHANNELS, PULSES // 2 - 2 * REFERENCE_PULSES)

    def hashed() -> None:
        assert len(load_scan(path).sha256) == 64

    times = best_of(
        args.repeats,
        {
            "fromfile": lambda: np.fromfile(path, dtype=np.uint8),
            "read_nxr": lambda: read_nxr(path),
            "load_scan": nxr_path,
            "copied": copied,
            "hashed": hashed,
        },
    )
    raw, read_only, nxr = times["fromfile"], times["read_nxr"], times["load_scan"]
    copy, digest = times["copied"], times["hashed"]
    print(f"file                      {path} ({size_mb:.1f} MB)")
    print(f"numpy.fromfile            {raw * 1e3:8.1f} ms  ({size_mb / raw:7.0f} MB/s)")
    print(f"read_nxr                  {read_only * 1e3:8.1f} ms  ({size_mb / read_only:7.0f} MB/s)")
    print(f"load_scan (read+assemble) {nxr * 1e3:8.1f} ms  ({size_mb / nxr:7.0f} MB/s)")
    print(f"load_scan + copy of raw   {copy * 1e3:8.1f} ms  ({size_mb / copy:7.0f} MB/s)")
    print(f"load_scan + sha256        {digest * 1e3:8.1f} ms  ({size_mb / digest:7.0f} MB/s)")
    print(f"ratio load_scan/fromfile  {nxr / raw:8.2f}  (goal <= 3)")
    print(f"ratio with raw copied     {copy / raw:8.2f}")
    print(f"CRC-32 from               {crc32.__module__}")


if __name__ == "__main__":
    main()
