"""Benchmark of material discrimination accuracy on simulated blocks with ground truth.

1. Simulate step wedges of polyethylene, aluminium, iron and lead (the areal densities
   of ``seeds/suites/wedges.toml``) and calibrate on them only (``nii.calibration.calibrate``).
2. Simulate single blocks of *other* materials (water, graphite, PMMA, cellulose,
   glass, salt, magnesium, titanium, copper, zinc, tin, tungsten, uranium) and of the
   wedge materials at areal densities between the wedge steps (20–250 g/cm²), in air
   and inside an empty 20 ft container (two corrugated steel walls in the beam), plus
   too-thin (3 g/cm²) and impenetrable (≈ 450 g/cm²) blocks.
3. Correct, discriminate, and compare with the simulator's ground-truth class map over
   each block's interior pixels (its footprint less a margin).

Targets: ≥ 95 % of interior pixels in the right class over the blocks of 20–250 g/cm²
whose noise-free high-energy transmission is ≥ 1e-3, and every such block's majority
right; too thin → ``none``; impenetrable → ``impenetrable``. It prints the confusion
matrix, per-block results, per-material Z_eff error, and the same summary for the
wedge curves alone (no physics-assisted interpolation), with the container walls
subtracted (``discriminate(..., subtract_walls=True)``), with the higher-Z reading of
degenerate pairs (``degenerate_reading="higher"``) and for the physics model.
The degeneracy of thin very-high-Z against Z ≈ 40–50 at 6/3 MeV is shown, not hidden.

Run::

    .venv/bin/python benchmarks/bench_discrimination_accuracy.py            # ~5-10 min
    .venv/bin/python benchmarks/bench_discrimination_accuracy.py --quick    # ~1-2 min
    .venv/bin/python benchmarks/bench_discrimination_accuracy.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WEDGE_MATERIALS = ("polyethylene", "aluminium", "iron", "lead")
OTHER_MATERIALS = ("water", "graphite", "pmma", "cellulose", "glass", "salt", "magnesium", "titanium",
                   "copper", "zinc", "tin", "tungsten", "uranium")
WEDGE_AREAL_G_CM2 = (2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 80.0, 100.0, 130.0, 160.0, 200.0, 250.0, 300.0)
BLOCK_AREAL_G_CM2 = (25.0, 70.0, 115.0, 180.0, 230.0)  # between the wedge steps
THIN_G_CM2 = 3.0
IMPENETRABLE_G_CM2 = 450.0
MARGIN_ROWS, MARGIN_COLUMNS = 3, 5


def _config(channels: int, pulses: int):
    from nii.simulate.scanner import ScannerConfig

    return ScannerConfig().scaled(channels=channels, pulses=pulses)


def _simulate(scene, config, seed: int, path: Path, kind: str):
    from nii.simulate.run import simulate_scan

    return simulate_scan(scene, config, seed, out=path, kind=kind, overwrite=True)


def _interior(header_phantom: dict, image) -> np.ndarray:
    x0, x1 = header_phantom["position_mm"]
    c0, c1 = header_phantom["channels"]
    columns = np.flatnonzero((image.position_mm >= x0) & (image.position_mm <= x1))
    rows = np.flatnonzero((image.channel >= c0) & (image.channel <= c1))
    mask = np.zeros(image.attenuation_high.shape, bool)
    if rows.size > 2 * MARGIN_ROWS and columns.size > 2 * MARGIN_COLUMNS:
        mask[rows.min() + MARGIN_ROWS : rows.max() + 1 - MARGIN_ROWS,
             columns.min() + MARGIN_COLUMNS : columns.max() + 1 - MARGIN_COLUMNS] = True
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=128, help="detector channels of the scaled scanner")
    parser.add_argument("--pulses", type=int, default=1400, help="pulses of a block scan (both energies)")
    parser.add_argument("--wedge-pulses", type=int, default=2400, help="pulses of a wedge scan")
    parser.add_argument("--seed", type=int, default=62523)
    parser.add_argument("--quick", action="store_true", help="fewer materials and densities")
    parser.add_argument("--no-container", action="store_true", help="blocks in air only")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the simulated scans here")
    parser.add_argument("--json", type=Path, default=None, help="write per-block results as JSON")
    args = parser.parse_args(argv)

    from nii.calibration import calibrate, calibration_from_physics
    from nii.classes import CLASS_NAMES
    from nii.correction import correct
    from nii.discrimination import discriminate
    from nii.physics import material, zeff
    from nii.simulate import block_scene, phantom_header, step_wedge_scene
    from scanner_io import load_scan

    started = time.perf_counter()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nii-bench-accuracy-"))
    workdir.mkdir(parents=True, exist_ok=True)
    others = OTHER_MATERIALS if not args.quick else ("water", "glass", "titanium", "copper", "tin", "tungsten")
    densities = BLOCK_AREAL_G_CM2 if not args.quick else (25.0, 115.0, 230.0)
    placements = (False,) if args.no_container else (False, True)

    # 1. wedges and calibration ---------------------------------------------------
    wedge_config = _config(args.channels, args.wedge_pulses)
    wedge_paths = []
    for index, name in enumerate(WEDGE_MATERIALS):
        density = material(name).density_g_cm3
        scene = step_wedge_scene(name, [a * 10.0 / density for a in WEDGE_AREAL_G_CM2])
        path = workdir / f"wedge-{name}.nxr"
        _simulate(scene, wedge_config, args.seed + index, path, "calibration")
        wedge_paths.append(path)
    calibration = calibrate(wedge_paths)
    calibration.save(workdir / "calibration.json")
    wedge_only = calibrate(wedge_paths, physics_assisted=False)
    print(f"calibrated on {', '.join(WEDGE_MATERIALS)} wedges ({len(WEDGE_AREAL_G_CM2)} steps each, "
          f"{args.channels} channels): {len([c for c in calibration.curves if c.origin == 'wedge'])} measured curves, "
          f"{len([c for c in calibration.curves if c.origin == 'physics-assisted'])} physics-assisted reference curves "
          f"[{time.perf_counter() - started:.0f} s]")

    # 2. blocks --------------------------------------------------------------------
    cases = []
    for name in list(others) + list(WEDGE_MATERIALS):
        for areal in densities:
            for inside in placements:
                cases.append((name, areal, inside, "graded"))
    for name in ("water", "iron", "lead"):
        cases.append((name, THIN_G_CM2, False, "thin"))
    for name in ("iron", "lead"):
        cases.append((name, IMPENETRABLE_G_CM2, False, "impenetrable"))

    block_config = _config(args.channels, args.pulses)
    variants = {"wedges + physics-assisted": (calibration, False, "lower"), "wedges only": (wedge_only, False, "lower"),
                "wedges + physics-assisted, walls subtracted": (calibration, True, "lower"),
                "wedges + physics-assisted, higher-Z reading": (calibration, False, "higher")}
    physics = None
    confusion = {key: np.zeros((6, 6), np.int64) for key in (
        "wedges + physics-assisted", "wedges only", "wedges + physics-assisted, walls subtracted",
        "wedges + physics-assisted, higher-Z reading", "physics model")}
    results = []
    for index, (name, areal, inside, group) in enumerate(cases):
        item = material(name)
        thickness = areal * 10.0 / item.density_g_cm3
        try:
            scene = block_scene(name, thickness, inside)
        except Exception as exc:  # a block that does not fit the container
            print(f"  skip {name} {areal:g} g/cm2 {'in container' if inside else 'in air'}: {exc}")
            continue
        path = workdir / f"block-{name}-{areal:g}-{'container' if inside else 'air'}.nxr"
        simulated = _simulate(scene, block_config, args.seed + 100 + index, path, "object")
        scan = load_scan(path)
        image = correct(scan)
        if physics is None:
            physics = calibration_from_physics(scan.header)
            variants["physics model"] = (physics, False, "lower")
        phantom = (simulated.truth.scenario or {}).get("phantom") or phantom_header(
            scene, block_config.row_height_mm, block_config.channels, first_channel=block_config.first_channel)
        mask = _interior(phantom[0], image)
        truth = simulated.truth.classes[mask]
        t_high = float(np.median(simulated.truth.transmission_high[mask]))
        expected = int(np.bincount(truth, minlength=6).argmax())
        true_z = float(zeff(item))
        record = {"material": name, "areal_density_g_cm2": areal, "container": inside, "group": group,
                  "zeff_true": true_z, "class_true": CLASS_NAMES[expected], "t_high": t_high,
                  "pixels": int(mask.sum()), "eligible": bool(group == "graded" and 20 <= areal <= 250
                                                              and t_high >= 1e-3 and 1 <= expected <= 4)}
        for label, (chosen, walls, reading) in variants.items():
            material_map = discriminate(image, chosen, subtract_walls=walls, degenerate_reading=reading)
            predicted = material_map.classes[mask]
            np.add.at(confusion[label], (truth, predicted), 1)
            counts = np.bincount(predicted, minlength=6)
            z = material_map.zeff[mask]
            z_median = float(np.nanmedian(z)) if np.isfinite(z).any() else float("nan")
            record[label] = {
                "right": float(np.mean(predicted == truth)),
                "majority": CLASS_NAMES[int(counts.argmax())],
                "zeff_median": z_median,
                "zeff_sigma_median": float(np.nanmedian(material_map.zeff_sigma[mask])) if np.isfinite(z).any() else float("nan"),
                "ambiguous": float(material_map.ambiguous[mask].mean()),
                "areal_median": float(np.nanmedian(material_map.areal_density_g_cm2[mask])),
            }
        results.append(record)
        main_result = record["wedges + physics-assisted"]
        print(f"  {name:>12s} {areal:5.0f} g/cm2 {'container' if inside else 'air      '} T_H {t_high:8.1e} "
              f"truth {record['class_true']:>12s} | right {100 * main_result['right']:5.1f} % majority "
              f"{main_result['majority']:>12s} Z {main_result['zeff_median']:5.1f} (true {true_z:4.1f}) "
              f"± {main_result['zeff_sigma_median']:4.1f} ambiguous {100 * main_result['ambiguous']:3.0f} % "
              f"rho {main_result['areal_median']:5.0f}", flush=True)

    # 3. summary --------------------------------------------------------------------
    print(f"\n{len(results)} block scans [{time.perf_counter() - started:.0f} s in all]")
    for label in confusion:
        eligible = [r for r in results if r["eligible"]]
        pixels = sum(r["pixels"] for r in eligible)
        right = sum(r[label]["right"] * r["pixels"] for r in eligible)
        majority_ok = sum(r[label]["majority"] == r["class_true"] for r in eligible)
        thin = [r for r in results if r["group"] == "thin"]
        dense = [r for r in results if r["group"] == "impenetrable"]
        print(f"\n== calibration: {label} ==")
        print(f"  eligible blocks (20-250 g/cm2, T_H >= 1e-3): {len(eligible)}; interior pixels right "
              f"{100 * right / max(pixels, 1):.1f} % (target >= 95 %); majority right "
              f"{majority_ok}/{len(eligible)} (target all)")
        print(f"  too thin -> none: {sum(r[label]['majority'] == 'none' for r in thin)}/{len(thin)}; "
              f"impenetrable -> impenetrable: {sum(r[label]['majority'] == 'impenetrable' for r in dense)}/{len(dense)}")
        wrong = [r for r in eligible if r[label]["majority"] != r["class_true"]]
        for r in wrong:
            print(f"    wrong majority: {r['material']} {r['areal_density_g_cm2']:g} g/cm2 "
                  f"{'container' if r['container'] else 'air'}: {r[label]['majority']} (truth {r['class_true']}, "
                  f"Z {r[label]['zeff_median']:.1f}, ambiguous {100 * r[label]['ambiguous']:.0f} %)")
        names = [CLASS_NAMES[c] for c in range(6)]
        print("  confusion matrix (interior pixels of all blocks; rows truth, columns predicted):")
        print("    " + " " * 13 + "".join(f"{n:>13s}" for n in names))
        for c in range(6):
            print("    " + f"{names[c]:>13s}" + "".join(f"{v:13d}" for v in confusion[label][c]))
        print("  Z_eff error per material (median over its eligible blocks of |median Z - true Z|):")
        by_material: dict[str, list[float]] = {}
        for r in eligible:
            by_material.setdefault(r["material"], []).append(abs(r[label]["zeff_median"] - r["zeff_true"]))
        line = ", ".join(f"{m} {np.median(v):.1f}" for m, v in by_material.items())
        print(f"    {line}")
    print("\nDegeneracy at 6/3 MeV (shown, not hidden): thin very-high-Z (W, Pb, U up to ~100 g/cm²) gives the same"
          " (α_H, α_L/α_H) as a Z ≈ 30–50 metal, thin tin the same as aluminium, and ~25 g/cm² of W or Pb behind"
          " container walls the same as organic matter; the map keeps the lower-Z reading and flags the pixels"
          " 'ambiguous' (degenerate_reading='higher' reads them high-Z, and then thin light materials too)."
          " The Z 57–92 curves nearly coincide, so Z_eff within high_z is coarse.")
    print(f"scans kept in {workdir}" if args.workdir else "")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "confusion": {k: v.tolist() for k, v in confusion.items()},
                                         "classes": [CLASS_NAMES[c] for c in range(6)]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
