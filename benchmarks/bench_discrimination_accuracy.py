"""Material discrimination accuracy on scanner variants that no threshold was tuned on.

For every scanner variant of a split (:func:`nii.simulate.variants.scanner_variants`:
spectrum filtration, detector crystal and depth, photon budget, channels and pitch, first
channel top or bottom, 6/3, 9/6 and 8/4 MeV):

1. simulate its step wedges (polyethylene, aluminium, iron, lead; the peer gantry's own
   wedges for the peer variants) and fit the scanner model to them (``nii.calibration``);
2. simulate single blocks of 17 materials at 20-250 g/cm² in air (the peer variants'
   own block list), plus too-thin (3 g/cm²) and impenetrable (600 g/cm²) blocks;
3. correct, discriminate, and compare each block's interior pixels with the simulator's
   ground truth: majority class, share of interior pixels right, median |Z error|.

Blocks are sorted by physics, not by the result:

* **too thin** (below the truth's 7 g/cm²) must read ``none``; **impenetrable** (the
  truth's transmission floor, and a mean transmission within noise of zero) must read
  ``impenetrable``;
* **degenerate**: a material of another class has, under the calibration's own fitted
  scanner model, a noise-free ``(α_H, α_L)`` within ``k`` standard deviations of the
  block's mean (the noise of the mean measured on the block): the physics cannot tell
  them apart (Lalor & Danagoulian, arXiv 2301.05783), shown apart;
* **marginal**: the truth's per-pixel floor (T < 1e-4) calls it impenetrable but its
  mean is measured: shown apart;
* **separable**: the rest. Target: every one right (majority and ≥ 95 % of its interior
  pixels), median |Z error| ≤ 0.5.

``--split tune`` (with ``--grid``) scans the decision settings of ``seeds/calibration.toml``
``[region_estimate]`` on the tune variants and prints the best; the test split is run
with the seeds' values only. Figures are per variant and per energy pair.

Run (the reduced set first: CPU is scarce)::

    python benchmarks/bench_discrimination_accuracy.py --quick                 # test split, few blocks
    python benchmarks/bench_discrimination_accuracy.py --split tune --grid --quick
    python benchmarks/bench_discrimination_accuracy.py --variants peer-384-63 peer-384-96
    python benchmarks/bench_discrimination_accuracy.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

WEDGE_MATERIALS = ("polyethylene", "aluminium", "iron", "lead")
WEDGE_AREAL_G_CM2 = (2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 80.0, 100.0, 130.0, 160.0, 200.0, 250.0, 300.0)
BLOCK_MATERIALS = ("polyethylene", "pmma", "water", "graphite", "magnesium", "aluminium", "glass", "salt",
                   "titanium", "iron", "copper", "zinc", "tin", "silver", "tungsten", "lead", "uranium")
BLOCK_AREAL_G_CM2 = (20.0, 75.0, 140.0, 175.0, 250.0)
QUICK_MATERIALS = ("polyethylene", "water", "aluminium", "glass", "iron", "copper", "tin", "lead", "uranium")
QUICK_AREAL_G_CM2 = (20.0, 75.0, 175.0)
THIN_G_CM2 = 3.0
IMPENETRABLE_G_CM2 = 600.0
MARGIN_ROWS, MARGIN_COLUMNS = 3, 5
TRUTH_FLOOR = 1.0e-4


def _interior(phantom: dict, image: Any) -> np.ndarray:
    x0, x1 = phantom["position_mm"]
    c0, c1 = phantom["channels"]
    columns = np.flatnonzero((image.position_mm >= x0) & (image.position_mm <= x1))
    rows = np.flatnonzero((image.channel >= c0) & (image.channel <= c1))
    mask = np.zeros(image.attenuation_high.shape, bool)
    if rows.size > 2 * MARGIN_ROWS and columns.size > 2 * MARGIN_COLUMNS:
        mask[rows.min() + MARGIN_ROWS: rows.max() + 1 - MARGIN_ROWS,
             columns.min() + MARGIN_COLUMNS: columns.max() + 1 - MARGIN_COLUMNS] = True
    return mask


class ModelTwins:
    """Noise-free ``(α_H, α_L)`` over thickness of every material a block could be taken for,
    under a calibration's fitted scanner model: virtual elements Z 1-92 in steps of 0.25 and
    the catalogue materials."""

    def __init__(self, model: Any) -> None:
        from nii.classes import class_of_zeff
        from nii.physics import load_materials, zeff

        self.areal = np.geomspace(0.5, 1500.0, 600)
        z = np.arange(1.0, 92.01, 0.25)
        high, low = model.element_tables(z, self.areal)
        classes = list(np.asarray(class_of_zeff(z), int))
        highs, lows = [high], [low]
        for name, item in load_materials().items():
            if name == "air":
                continue
            h, lo_ = model.predict([(dict(item.composition), self.areal)])
            highs.append(h[None]), lows.append(lo_[None])
            classes.append(int(class_of_zeff(zeff(item))))
        self.high, self.low = np.concatenate(highs), np.concatenate(lows)
        self.classes = np.asarray(classes)

    def nearest_other_class(self, alpha_high: float, alpha_low: float, sigma_high: float, sigma_low: float,
                            true_class: int) -> float:
        """Distance (standard deviations of the mean pair) to the nearest curve of another class."""
        best = math.inf
        for index in np.flatnonzero(self.classes != true_class):
            h, lo_ = self.high[index], self.low[index]
            if not h[0] <= alpha_high <= h[-1]:
                continue
            matched = float(np.interp(alpha_high, h, lo_))
            slope = float(np.interp(alpha_high, h[1:], np.diff(lo_) / np.maximum(np.diff(h), 1e-12)))
            best = min(best, abs(matched - alpha_low) / max(math.hypot(sigma_low, slope * sigma_high), 1e-12))
        return best


def _wedges(variant: Any, config: Any, workdir: Path, seed: int) -> list[Path]:
    from nii.physics import material
    from nii.simulate import step_wedge_scene
    from nii.simulate.run import simulate_scan

    own = variant.suite_scans("wedges")
    if own is not None:
        plan = [(s["material_name"], list(s["thicknesses_mm"])) for s in own["scans"]]
    else:
        plan = [(m, [a * 10.0 / material(m).density_g_cm3 for a in WEDGE_AREAL_G_CM2]) for m in WEDGE_MATERIALS]
    paths = []
    for index, (name, thicknesses) in enumerate(plan):
        path = workdir / f"wedge-{name}.nxr"
        if not path.exists():
            simulate_scan(step_wedge_scene(name, thicknesses), config, seed + index, out=path, kind="calibration",
                          overwrite=True)
        paths.append(path)
    return paths


def _block_plan(variant: Any, quick: bool) -> list[tuple[str, float, str]]:
    own = variant.suite_scans("discrimination")
    if own is not None and not quick:
        vary = own["matrix"][0]["vary"]
        materials, densities = vary["material_name"], vary["areal_density_g_cm2"]
    else:
        materials = QUICK_MATERIALS if quick else BLOCK_MATERIALS
        densities = QUICK_AREAL_G_CM2 if quick else BLOCK_AREAL_G_CM2
    plan = [(m, float(a), "graded") for m in materials for a in densities]
    plan += [(m, THIN_G_CM2, "thin") for m in ("water", "iron", "lead")]
    plan += [(m, IMPENETRABLE_G_CM2, "impenetrable") for m in ("iron", "lead")]
    return plan


def _simulate_blocks(variant: Any, config: Any, workdir: Path, seed: int, quick: bool) -> list[dict[str, Any]]:
    from nii.correction import correct
    from nii.physics import material
    from nii.simulate import block_scene, phantom_header
    from nii.simulate.run import simulate_scan
    from scanner_io import load_scan

    blocks = []
    for index, (name, areal, group) in enumerate(_block_plan(variant, quick)):
        item = material(name)
        scene = block_scene(name, areal * 10.0 / item.density_g_cm3, False)
        path = workdir / f"block-{name}-{areal:g}.nxr"
        simulated = simulate_scan(scene, config, seed + 100 + index, out=path, kind="object", overwrite=True)
        image = correct(load_scan(path))
        phantom = (simulated.truth.scenario or {}).get("phantom") or phantom_header(
            scene, config.row_height_mm, config.channels, first_channel=config.first_channel)
        mask = _interior(phantom[0], image)
        blocks.append({"material": name, "areal": areal, "group": group, "image": image, "mask": mask,
                       "truth": simulated.truth.classes[mask],
                       "t_true": [float(np.median(simulated.truth.transmission_high[mask])),
                                  float(np.median(simulated.truth.transmission_low[mask]))
                                  if simulated.truth.transmission_low is not None else float("nan")]})
    return blocks


def _categorise(block: dict[str, Any], calibration: Any, twins: ModelTwins, k: float) -> None:
    from nii.classes import CLASS_NAMES, IMPENETRABLE, class_of_zeff
    from nii.physics import material, zeff

    truth = block["truth"]
    expected = int(np.bincount(truth, minlength=6).argmax())
    block["class_true"] = CLASS_NAMES[expected]
    block["zeff_true"] = float(zeff(material(block["material"])))
    block["class_material"] = CLASS_NAMES[int(class_of_zeff(block["zeff_true"]))]
    image, mask = block["image"], block["mask"]
    pixels = int(mask.sum())
    means = [float(np.mean(np.asarray(t, np.float64)[mask])) for t in (image.transmission_high, image.transmission_low)]
    sigmas = [float(np.std(np.asarray(t, np.float64)[mask]) / math.sqrt(max(pixels, 1)))
              for t in (image.transmission_high, image.transmission_low)]
    floors = [e.scatter for e in calibration.model.energies]
    block["snr"] = min((m - f) / max(s, 1e-30) for m, s, f in zip(means, sigmas, floors, strict=True))
    if block["group"] == "thin":
        block["category"] = "too thin"
    elif expected == IMPENETRABLE:
        block["category"] = "impenetrable" if block["snr"] < 3.0 else "marginal"
    elif min(block["t_true"]) < TRUTH_FLOOR:
        block["category"] = "marginal"
    else:
        alpha = [-math.log(max(m, 1e-30)) for m in means]
        sigma_alpha = [s / max(m, 1e-30) for m, s in zip(means, sigmas, strict=True)]
        sigma_alpha = [math.hypot(s, calibration.accuracy * a) for s, a in zip(sigma_alpha, alpha, strict=True)]
        distance = twins.nearest_other_class(alpha[0], alpha[1], sigma_alpha[0], sigma_alpha[1],
                                             int(class_of_zeff(block["zeff_true"])))
        block["nearest_other_sigma"] = distance
        block["category"] = "degenerate" if distance <= k else "separable"


def _score(block: dict[str, Any], calibration: Any, settings: dict[str, float]) -> dict[str, Any]:
    from nii.classes import CLASS_NAMES
    from nii.discrimination import discriminate

    material_map = discriminate(block["image"], calibration, **settings)
    predicted = material_map.classes[block["mask"]]
    counts = np.bincount(predicted, minlength=6)
    z = material_map.zeff[block["mask"]]
    z_median = float(np.nanmedian(z)) if np.isfinite(z).any() else float("nan")
    right = float(np.mean(predicted == block["truth"]))
    majority = CLASS_NAMES[int(counts.argmax())]
    return {"right": right, "majority": majority, "ok": majority == block["class_true"] and right >= 0.95,
            "zeff": z_median, "zeff_error": abs(z_median - block["zeff_true"]) if math.isfinite(z_median) else None,
            "ambiguous": float(material_map.ambiguous[block["mask"]].mean())}


def _summary(blocks: list[dict[str, Any]], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for category in ("separable", "degenerate", "marginal", "too thin", "impenetrable"):
        chosen = [b for b in blocks if b["category"] == category]
        errors = [b[key]["zeff_error"] for b in chosen if b[key]["zeff_error"] is not None]
        out[category] = {"blocks": len(chosen), "majority_right": sum(b[key]["majority"] == b["class_true"] for b in chosen),
                         "right_95": sum(b[key]["ok"] for b in chosen),
                         "median_zeff_error": float(np.median(errors)) if errors else None,
                         # read to the photon limit: the material's own class where the truth's floor gives up
                         "material_right": sum(b[key]["majority"] == b["class_material"] for b in chosen)}
    return out


def _print_summary(title: str, summary: dict[str, Any]) -> None:
    parts = []
    for category, s in summary.items():
        if not s["blocks"]:
            continue
        text = f"{category} {s['majority_right']}/{s['blocks']} majority, {s['right_95']}/{s['blocks']} >= 95 %"
        if s["median_zeff_error"] is not None and category in ("separable", "degenerate"):
            text += f", median |dZ| {s['median_zeff_error']:.2f}"
        if category == "marginal":
            text += f" (read as their material's class: {s['material_right']}/{s['blocks']})"
        parts.append(text)
    print(f"  {title}: " + "; ".join(parts), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "test"), default="test")
    parser.add_argument("--variants", nargs="*", default=None, help="variant names (default: the whole split)")
    parser.add_argument("--channels", type=int, default=96,
                        help="detector channels of the scaled variants (0: each variant's own, 384-1280)")
    parser.add_argument("--pulses", type=int, default=900, help="pulses of a block scan")
    parser.add_argument("--wedge-pulses", type=int, default=1600, help="pulses of a wedge scan")
    parser.add_argument("--seed", type=int, default=62523)
    parser.add_argument("--quick", action="store_true", help="fewer materials and densities")
    parser.add_argument("--grid", action="store_true", help="scan the decision settings (tune split only)")
    parser.add_argument("--degeneracy-k", type=float, default=3.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.grid and args.split != "tune":
        parser.error("--grid fixes thresholds: it runs on the tune split only")

    from nii.calibration import calibrate
    from nii.simulate.variants import scanner_variant, scanner_variants

    variants = [scanner_variant(n) for n in args.variants] if args.variants else scanner_variants(args.split)
    if args.variants and any(v.split != args.split for v in variants):
        parser.error(f"every named variant must belong to the {args.split} split")
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="nii-bench-variants-"))
    grid = [{"confidence_sigmas": c, "impenetrable_snr": s, "dark_sigmas": d}
            for c in (2.0, 3.0) for s in (5.0, 10.0, 20.0) for d in (2.0, 3.0, 5.0)]
    settings_list = grid if args.grid else [{}]
    started = time.perf_counter()
    results = []
    for number, variant in enumerate(variants):
        config = variant.config if args.channels == 0 else variant.config.scaled(channels=args.channels)
        workdir = workroot / variant.name
        workdir.mkdir(parents=True, exist_ok=True)
        wedge_config = config.replace(pulses=args.wedge_pulses)
        try:
            calibration = calibrate(_wedges(variant, wedge_config, workdir, args.seed + 1000 * number))
        except Exception as exc:  # a refused calibration is a result too
            print(f"{variant.name}: calibration refused: {exc}")
            results.append({"variant": variant.name, "energy_pair": variant.energy_pair, "refused": str(exc)})
            continue
        fit = "; ".join(f"{e.endpoint_mev:g} MeV filtration {e.filtration_g_cm2:.2f} g/cm2 W, scales "
                        + "/".join(f"{s:.3f}" for s in e.scales) + f", scatter {e.scatter:.1e}"
                        for e in calibration.model.energies)
        print(f"{variant.name} ({variant.describe()}): fit RMS {100 * calibration.accuracy:.2f} % of alpha; {fit}"
              f" [{time.perf_counter() - started:.0f} s]", flush=True)
        twins = ModelTwins(calibration.model)
        blocks = _simulate_blocks(variant, config.replace(pulses=args.pulses), workdir, args.seed + 1000 * number,
                                  args.quick)
        for block in blocks:
            _categorise(block, calibration, twins, args.degeneracy_k)
            for index, settings in enumerate(settings_list):
                block[f"s{index}"] = _score(block, calibration, settings)
        for block in blocks:
            score = block["s0"]
            if not args.grid:
                print(f"    {block['material']:>12s} {block['areal']:5.0f} g/cm2 {block['category']:>12s} "
                      f"truth {block['class_true']:>12s} read {score['majority']:>12s} ({100 * score['right']:5.1f} %)"
                      f" Z {score['zeff']:5.1f} (true {block['zeff_true']:4.1f}) snr {block['snr']:7.0f}")
        entry = {"variant": variant.name, "energy_pair": variant.energy_pair, "accuracy": calibration.accuracy,
                 "blocks": [{k: v for k, v in b.items() if k not in ("image", "mask", "truth")} for b in blocks]}
        for index in range(len(settings_list)):
            entry[f"summary_s{index}"] = _summary(blocks, f"s{index}")
        if not args.grid:
            _print_summary(variant.name, entry["summary_s0"])
        results.append(entry)

    print(f"\n{len(variants)} variants of the {args.split} split [{time.perf_counter() - started:.0f} s]")
    scored = [r for r in results if "refused" not in r]
    for index, settings in enumerate(settings_list):
        key = f"s{index}"
        label = ", ".join(f"{k} {v:g}" for k, v in settings.items()) or "seeds settings"
        everything = [dict(b, **{key: b[key]}) for r in scored for b in r["blocks"]]
        if args.grid:
            s = _summary(everything, key)
            bad = sum(s[c]["blocks"] - s[c]["right_95"] for c in ("separable", "too thin", "impenetrable"))
            print(f"  {label}: {bad} wrong separable/thin/impenetrable blocks; " + "; ".join(
                f"{c} {s[c]['right_95']}/{s[c]['blocks']}" for c in s if s[c]["blocks"]))
            continue
        for pair in ("6/3", "9/6", "8/4"):
            chosen = [b for r in scored if r["energy_pair"] == pair for b in r["blocks"]]
            if chosen:
                _print_summary(f"{pair} MeV ({sum(r['energy_pair'] == pair for r in scored)} variants)",
                               _summary(chosen, key))
        _print_summary("all variants", _summary(everything, key))
    refused = [r["variant"] for r in results if "refused" in r]
    if refused:
        print(f"  calibration refused on: {', '.join(refused)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
