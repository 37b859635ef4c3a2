"""Inference speed of the zoo models beside ``numpy.copyto`` of the same data.

Times one forward pass (and the full detector call: features, network, regions) per
model on a synthetic analysed image, on the CPU with torch and on a GPU when one is
present, next to copying the same input array with ``numpy.copyto`` (the memory-bound
floor of anything that reads the image). Prints a Markdown table; see README.md.

    python benchmarks/bench_models.py --rows 256 --cols 1024 --repeat 5 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def _median_seconds(function, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _time_model(name: str, device: str, sample, repeat: int) -> tuple[float, float, float, float]:
    """Return median seconds of copyto, forward pass and detector call, and the input size (MB)."""
    import torch

    from nii.learn.zoo import load_detector

    detector = load_detector(name, device=device)
    features = detector.features(sample, sample)
    destination = np.empty_like(features)
    copy_s = _median_seconds(lambda: np.copyto(destination, features), repeat)
    x = torch.from_numpy(features)[None].to(device)

    def forward():
        with torch.no_grad():
            if detector.config["kind"] == "box_detector":
                detector.module([x[0]])
            else:
                detector.module(x)
        if device == "cuda":
            torch.cuda.synchronize()

    forward_s = _median_seconds(forward, repeat)
    call_s = _median_seconds(lambda: detector(sample, sample), repeat)
    return copy_s, forward_s, call_s, features.nbytes / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256, help="detector rows of the test image")
    parser.add_argument("--cols", type=int, default=1024, help="columns (pulses) of the test image")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--models", nargs="*", default=["unet_segmenter", "fcos_detector", "clean_autoencoder"])
    args = parser.parse_args(argv)

    import torch

    from nii.learn.synthetic import synthetic_sample

    torch.set_num_threads(args.threads)
    sample = synthetic_sample(np.random.default_rng(0), rows=args.rows, cols=args.cols, threat=True)
    pixels = args.rows * args.cols
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"image {args.rows} × {args.cols} ({pixels / 1e6:.2f} Mpixel), torch {torch.__version__}, "
          f"CPU threads {args.threads}, devices {devices}")
    print()
    print("| model | device | input MB | numpy.copyto ms | forward ms | detector call ms | Mpixel/s | × copyto |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        for device in devices:
            copy_s, forward_s, call_s, megabytes = _time_model(name, device, sample, args.repeat)
            print(f"| {name} | {device} | {megabytes:.1f} | {1e3 * copy_s:.2f} | {1e3 * forward_s:.1f} | "
                  f"{1e3 * call_s:.1f} | {pixels / call_s / 1e6:.2f} | {call_s / copy_s:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
