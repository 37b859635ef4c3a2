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
right; too thin → ``none``; impenetrable → ``impenetrable``.

Degeneracy is decided by physics, not by the result: for each block, the noise-free
``(α_H, α_L)`` of its material at its mass thickness behind the container walls (fitted
as iron to the simulator's noise-free transmission beside the block) is computed from
:mod:`nii.physics` and compared with the curves over thickness of every element (Z 1–92),
catalogue material and binary mixture of neighbouring elements (compounds fill the Z
scale between elements) behind the same walls; the block is *degenerate* when a material
of another class passes within ``k = 3`` standard deviations of the measured noise of
the block's mean attenuations (pixel noise from differences of adjacent rows, over
√pixels; ``--degeneracy-k``; ``--systematic-alpha`` adds a calibration accuracy in
quadrature). Pixel noise correlated by the detector blur makes the true noise of the
mean somewhat larger, so this under- rather than over-states the degeneracy.
The figures (pixels right, majority right, blocks ≥ 95 % right, the worst block) are
printed over all eligible blocks, the non-degenerate and the degenerate ones, with the
confusion matrix, per-block results, per-material Z_eff error, and the same summary for the
wedge curves alone (no physics-assisted interpolation), with the container walls
subtracted (``discriminate(..., subtract_walls=True)``), with the higher-Z reading of
degenerate pairs (``degenerate_reading="higher"``) and for the physics model.
The degeneracy of thin very-high-Z against Z ≈ 40–50 at 6/3 MeV is shown, not hidden.

Run::

    .venv/bin/python benchmarks/bench_discrimination_accuracy.py            # ~1-2 min
    .venv/bin/python benchmarks/bench_discrimination_accuracy.py --quick    # ~20 s
    .venv/bin/python benchmarks/bench_discrimination_accuracy.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import math
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


def _pixel_noise(attenuation: np.ndarray, mask: np.ndarray) -> float:
    """Measured noise std of one pixel's α inside ``mask``: from differences of vertically
    adjacent pixels (the container walls' corrugation varies along the columns only)."""
    both = mask[1:] & mask[:-1]
    if not both.any():
        return float("nan")
    difference = (attenuation[1:].astype(np.float64) - attenuation[:-1])[both]
    return float(np.std(difference) / math.sqrt(2.0))


class PhysicalTwins:
    """Noise-free ``(α_H, α_L)`` over thickness of every material a block could be confused with.

    The candidates are the elements Z 1–92, the catalogue materials, and binary mixtures
    of neighbouring elements (mass fractions 0.2–0.8: compounds fill the Z scale between
    elements), each behind a given mass thickness of iron (the container walls). The
    transmission is the energy-integrated Beer–Lambert law of :mod:`nii.physics`
    (``T = Σ_E w_E exp(−Σ_m (μ/ρ)_mE (ρt)_m)`` with the effective beams' weights).

    Parameters
    ----------
    energies_mev : tuple of float
        Endpoint energies (MeV), highest first.
    """

    def __init__(self, energies_mev: tuple[float, float]) -> None:
        from nii.classes import class_of_zeff
        from nii.physics import (
            attenuation_coefficients,
            effective_beams,
            element_symbol,
            load_materials,
            zeff,
        )

        self.beams = effective_beams(tuple(float(e) for e in energies_mev[:2]))
        candidates = [(element_symbol(z), {element_symbol(z): 1.0}) for z in range(1, 93)]
        candidates += [(name, dict(item.composition)) for name, item in load_materials().items() if name != "air"]
        for z in range(1, 92):
            a, b = element_symbol(z), element_symbol(z + 1)
            candidates += [(f"{a}{1 - w:.1f}{b}{w:.1f}", {a: 1.0 - w, b: w}) for w in (0.2, 0.4, 0.6, 0.8)]
        self.names = [name for name, _ in candidates]
        self.classes = np.array([int(class_of_zeff(zeff(c))) for _, c in candidates])
        self.mu = [attenuation_coefficients([c for _, c in candidates], beam) for beam in self.beams]
        self.mu_iron = [attenuation_coefficients([{"Fe": 1.0}], beam)[0] for beam in self.beams]
        self.areal_g_cm2 = np.geomspace(0.2, 1000.0, 500)
        self._curves: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def _alpha(self, beam_index: int, mu: np.ndarray, areal: np.ndarray, wall_iron_g_cm2: float) -> np.ndarray:
        beam = self.beams[beam_index]
        exponent = areal[..., None] * mu + wall_iron_g_cm2 * self.mu_iron[beam_index]
        return -np.log(np.clip(np.exp(-exponent) @ beam.weight, 1e-300, None))

    def pair(self, composition: dict, areal_density_g_cm2: float, wall_iron_g_cm2: float) -> tuple[float, float]:
        """Noise-free ``(α_H, α_L)`` of a material's mass thickness (g/cm²) behind the walls."""
        from nii.physics import attenuation_coefficients

        out = []
        for index, beam in enumerate(self.beams):
            mu = attenuation_coefficients([composition], beam)[0]
            out.append(float(self._alpha(index, mu, np.array([areal_density_g_cm2]), wall_iron_g_cm2)[0]))
        return out[0], out[1]

    def wall_iron_g_cm2(self, wall_alpha_high: float) -> float:
        """Iron mass thickness (g/cm²) whose noise-free α_H is ``wall_alpha_high``."""
        if not wall_alpha_high > 1e-4:
            return 0.0
        iron = self._alpha(0, self.mu_iron[0], self.areal_g_cm2, 0.0)
        return float(np.interp(wall_alpha_high, iron, self.areal_g_cm2))

    def curves(self, wall_iron_g_cm2: float) -> tuple[np.ndarray, np.ndarray]:
        """``α_H, α_L`` (candidates × thicknesses) behind ``wall_iron_g_cm2`` of iron."""
        key = round(float(wall_iron_g_cm2), 4)
        if key not in self._curves:
            self._curves[key] = tuple(  # type: ignore[assignment]
                np.stack([self._alpha(i, mu_row, self.areal_g_cm2, key) for mu_row in self.mu[i]]) for i in range(2))
        return self._curves[key]

    def nearest_other_class(self, alpha_high: float, alpha_low: float, sigma_high: float, sigma_low: float,
                            true_class: int, wall_iron_g_cm2: float = 0.0) -> tuple[str, float]:
        """The material of another class whose curve passes nearest the pair, and how near.

        Parameters
        ----------
        alpha_high, alpha_low : float
            Noise-free attenuations of the block (dimensionless, walls included).
        sigma_high, sigma_low : float
            Standard deviations of the measured mean attenuations (dimensionless).
        true_class : int
            Contract class code of the block's material.
        wall_iron_g_cm2 : float
            Iron-equivalent mass thickness of the structure in front (g/cm²).

        Returns
        -------
        name, distance : str, float
            Distance in standard deviations, ``|Δα_L| / sqrt(σ_L² + (dα_L/dα_H)² σ_H²)``
            at the candidate's thickness that matches ``α_H``.
        """
        curves_high, curves_low = self.curves(wall_iron_g_cm2)
        best_name, best = "", float("inf")
        for index in np.flatnonzero(self.classes != true_class):
            curve_high, curve_low = curves_high[index], curves_low[index]
            if not curve_high[0] <= alpha_high <= curve_high[-1]:
                continue
            matched_low = float(np.interp(alpha_high, curve_high, curve_low))
            slope = float(np.interp(alpha_high, curve_high[1:], np.diff(curve_low) / np.diff(curve_high)))
            distance = abs(matched_low - alpha_low) / max(math.hypot(sigma_low, slope * sigma_high), 1e-12)
            if distance < best:
                best_name, best = self.names[index], distance
        return best_name, best


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
    parser.add_argument("--degeneracy-k", type=float, default=3.0,
                        help="a block is degenerate when another class is within k sigma of its mean pair")
    parser.add_argument("--systematic-alpha", type=float, default=0.0,
                        help="calibration accuracy in alpha added in quadrature to the noise of the mean")
    parser.add_argument("--main-only", action="store_true", help="only the wedges + physics-assisted calibration")
    args = parser.parse_args(argv)

    from nii.calibration import calibrate, calibration_from_physics
    from nii.classes import CLASS_NAMES, class_of_zeff
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
    twins = PhysicalTwins(tuple(block_config.energies_mev))
    variants = {"wedges + physics-assisted": (calibration, False, "lower"), "wedges only": (wedge_only, False, "lower"),
                "wedges + physics-assisted, walls subtracted": (calibration, True, "lower"),
                "wedges + physics-assisted, higher-Z reading": (calibration, False, "higher")}
    if args.main_only:
        variants = {"wedges + physics-assisted": variants["wedges + physics-assisted"]}
    physics = None
    confusion = {key: np.zeros((6, 6), np.int64) for key in (
        "wedges + physics-assisted", "wedges only", "wedges + physics-assisted, walls subtracted",
        "wedges + physics-assisted, higher-Z reading", "physics model")}
    confusion_distinct = {key: np.zeros((6, 6), np.int64) for key in confusion}
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
            if not args.main_only:
                variants["physics model"] = (physics, False, "lower")
        phantom = (simulated.truth.scenario or {}).get("phantom") or phantom_header(
            scene, block_config.row_height_mm, block_config.channels, first_channel=block_config.first_channel)
        mask = _interior(phantom[0], image)
        truth = simulated.truth.classes[mask]
        t_high = float(np.median(simulated.truth.transmission_high[mask]))
        expected = int(np.bincount(truth, minlength=6).argmax())
        true_z = float(zeff(item))
        # physics: the block's noise-free pair (nii.physics, walls as iron) and its nearest other-class twin
        pixels = int(mask.sum())
        sigma_high, sigma_low = (math.hypot(_pixel_noise(a, mask) / math.sqrt(max(pixels, 1)), args.systematic_alpha)
                                 for a in (image.attenuation_high, image.attenuation_low))
        wall_iron = 0.0
        if inside:
            x0, x1 = phantom[0]["position_mm"]
            beside = (((image.position_mm > x0 - 800) & (image.position_mm < x0 - 150))
                      | ((image.position_mm > x1 + 150) & (image.position_mm < x1 + 800)))
            rows_in = mask.any(axis=1)
            wall_alpha = float(np.median(-np.log(np.clip(simulated.truth.transmission_high[np.ix_(rows_in, beside)], 1e-30, None))))
            wall_iron = twins.wall_iron_g_cm2(wall_alpha)
        alpha_true_high, alpha_true_low = twins.pair(dict(item.composition), areal, wall_iron)
        degenerate, nearest, nearest_sigma = (False, "", float("inf"))
        if 1 <= expected <= 4:
            nearest, nearest_sigma = twins.nearest_other_class(alpha_true_high, alpha_true_low, sigma_high, sigma_low,
                                                               int(class_of_zeff(true_z)), wall_iron)
            degenerate = nearest_sigma <= args.degeneracy_k
        record = {"material": name, "areal_density_g_cm2": areal, "container": inside, "group": group,
                  "zeff_true": true_z, "class_true": CLASS_NAMES[expected], "t_high": t_high,
                  "pixels": pixels, "alpha_true": [alpha_true_high, alpha_true_low],
                  "sigma_mean": [sigma_high, sigma_low], "wall_iron_g_cm2": wall_iron, "degenerate": bool(degenerate),
                  "nearest_other_class": nearest, "nearest_other_sigma": nearest_sigma, "eligible": bool(group == "graded" and 20 <= areal <= 250
                                                              and t_high >= 1e-3 and 1 <= expected <= 4)}
        for label, (chosen, walls, reading) in variants.items():
            material_map = discriminate(image, chosen, subtract_walls=walls, degenerate_reading=reading)
            predicted = material_map.classes[mask]
            np.add.at(confusion[label], (truth, predicted), 1)
            if not degenerate:
                np.add.at(confusion_distinct[label], (truth, predicted), 1)
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
              f"rho {main_result['areal_median']:5.0f} | {'DEGENERATE' if degenerate else 'distinct  '} "
              + (f"(nearest other class {nearest} at {nearest_sigma:.1f} sigma)" if nearest else "(n/a)"), flush=True)

    # 3. summary --------------------------------------------------------------------
    print(f"\n{len(results)} block scans [{time.perf_counter() - started:.0f} s in all]")
    for label in variants:
        eligible = [r for r in results if r["eligible"]]
        pixels = sum(r["pixels"] for r in eligible)
        right = sum(r[label]["right"] * r["pixels"] for r in eligible)
        majority_ok = sum(r[label]["majority"] == r["class_true"] for r in eligible)
        thin = [r for r in results if r["group"] == "thin"]
        dense = [r for r in results if r["group"] == "impenetrable"]
        print(f"\n== calibration: {label} ==")
        for title, chosen in (("all eligible blocks (20-250 g/cm2, T_H >= 1e-3)", eligible),
                              ("non-degenerate eligible blocks", [r for r in eligible if not r["degenerate"]]),
                              ("degenerate eligible blocks", [r for r in eligible if r["degenerate"]])):
            pixels = sum(r["pixels"] for r in chosen)
            right = sum(r[label]["right"] * r["pixels"] for r in chosen)
            majority_ok = sum(r[label]["majority"] == r["class_true"] for r in chosen)
            worst = min(chosen, key=lambda r: r[label]["right"]) if chosen else None
            over = sum(r[label]["right"] >= 0.95 for r in chosen)
            print(f"  {title}: {len(chosen)}; interior pixels right {100 * right / max(pixels, 1):.1f} % "
                  f"(target >= 95 %); majority right {majority_ok}/{len(chosen)} (target all); blocks >= 95 % right "
                  f"{over}/{len(chosen)}; worst block "
                  + (f"{100 * worst[label]['right']:.1f} % ({worst['material']} {worst['areal_density_g_cm2']:g} g/cm2 "
                     f"{'container' if worst['container'] else 'air'})" if worst else "-"))
        print(f"  too thin -> none: {sum(r[label]['majority'] == 'none' for r in thin)}/{len(thin)}; "
              f"impenetrable -> impenetrable: {sum(r[label]['majority'] == 'impenetrable' for r in dense)}/{len(dense)}")
        wrong = [r for r in eligible if r[label]["majority"] != r["class_true"]]
        for r in wrong:
            print(f"    wrong majority: {r['material']} {r['areal_density_g_cm2']:g} g/cm2 "
                  f"{'container' if r['container'] else 'air'}: {r[label]['majority']} (truth {r['class_true']}, "
                  f"Z {r[label]['zeff_median']:.1f}, ambiguous {100 * r[label]['ambiguous']:.0f} %, "
                  f"{'degenerate' if r['degenerate'] else 'NOT degenerate'}: nearest other class "
                  f"{r['nearest_other_class'] or '-'} at {r['nearest_other_sigma']:.1f} sigma)")
        names = [CLASS_NAMES[c] for c in range(6)]
        for title, matrix in (("all blocks", confusion[label]), ("blocks not degenerate", confusion_distinct[label])):
            print(f"  confusion matrix (interior pixels of {title}; rows truth, columns predicted):")
            print("    " + " " * 13 + "".join(f"{n:>13s}" for n in names))
            for c in range(6):
                print("    " + f"{names[c]:>13s}" + "".join(f"{v:13d}" for v in matrix[c]))
        print("  Z_eff error per material (median over its eligible blocks of |median Z - true Z|):")
        by_material: dict[str, list[float]] = {}
        for r in eligible:
            by_material.setdefault(r["material"], []).append(abs(r[label]["zeff_median"] - r["zeff_true"]))
        line = ", ".join(f"{m} {np.median(v):.1f}" for m, v in by_material.items())
        print(f"    {line}")
    eligible = [r for r in results if r["eligible"]]
    degenerate = [r for r in eligible if r["degenerate"]]
    print(f"\nPhysical degeneracy (k = {args.degeneracy_k:g} sigma of the block mean"
          f"{f', systematic {args.systematic_alpha:g}' if args.systematic_alpha else ''}): "
          f"{len(degenerate)}/{len(eligible)} eligible blocks have an other-class twin in (alpha_H, alpha_L):")
    for r in degenerate:
        main_label = next(iter(variants))
        print(f"    {r['material']:>12s} {r['areal_density_g_cm2']:5.0f} g/cm2 {'container' if r['container'] else 'air      '}"
              f" truth {r['class_true']:>9s} ~ {r['nearest_other_class']:>12s} at {r['nearest_other_sigma']:4.1f} sigma;"
              f" read {r[main_label]['majority']} ({100 * r[main_label]['right']:.0f} % right)")
    print(f"scans kept in {workdir}" if args.workdir else "")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "confusion": {k: v.tolist() for k, v in confusion.items()},
                                         "confusion_not_degenerate": {k: v.tolist() for k, v in confusion_distinct.items()},
                                         "classes": [CLASS_NAMES[c] for c in range(6)]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
