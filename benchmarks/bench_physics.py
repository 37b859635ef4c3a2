"""Speed of the polychromatic Beer–Lambert transmission, the simulator's hot path.

Command::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_physics.py

Prints the time of one uncached linac spectrum and of
:func:`nii.physics.polychromatic_transmission` on the reference 40 ft image size
(1,024 channels × 4,000 columns per energy) for 6 and 12 materials on the ray, beside
one ``numpy.copyto`` of the areal-density input (the floor) in the same run.
"""

from __future__ import annotations

import time

import numpy as np

from nii.physics import (
    attenuation_coefficients,
    effective_beams,
    linac_spectrum,
    polychromatic_transmission,
)

ROWS, COLUMNS = 1024, 4000
MATERIALS = [
    "iron", "water", "polyethylene", "aluminium", "lead", "wood_pine",
    "steel", "glass", "salt", "sugar", "copper", "tungsten",
]  # fmt: skip


def best_of(repeats: int, function) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    start = time.perf_counter()
    linac_spectrum(7.5)
    print(f"linac spectrum (uncached): {(time.perf_counter() - start) * 1e3:.1f} ms")
    beam_high = effective_beams((6.0, 3.0))[0]
    rng = np.random.default_rng(0)
    for count in (6, 12):
        mu = attenuation_coefficients(MATERIALS[:count], beam_high)
        areal_density_g_cm2 = rng.uniform(0.0, 20.0, (count, ROWS, COLUMNS)).astype(np.float32)
        scratch = np.empty_like(areal_density_g_cm2)
        floor = best_of(3, lambda a=areal_density_g_cm2, s=scratch: np.copyto(s, a))
        elapsed = best_of(
            3, lambda m=mu, a=areal_density_g_cm2: polychromatic_transmission(beam_high, m, a)
        )
        print(
            f"transmission, {ROWS}x{COLUMNS} rays, {count} materials, {mu.shape[1]} energy bins: "
            f"{elapsed:.3f} s (floor numpy.copyto {floor * 1e3:.1f} ms, ratio {elapsed / floor:.0f})"
        )


if __name__ == "__main__":
    main()
