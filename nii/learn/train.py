"""Train the zoo models: ``python -m nii.learn.train --model NAME (--suite S | --data DIR | --synthetic N) --out models/NAME``.

Recipes (:data:`RECIPES`):

``unet_segmenter``
    :class:`~nii.learn.models.SmallUNet` on ``alpha_material`` features, random 64 × 64
    patches (half centred on a threat), BCE with a positive weight; per-pixel probability
    of concealed matter.
``fcos_detector``
    torchvision FCOS with the tiny FPN backbone on ``alpha_ratio`` features, random
    patches (70 % centred on a threat); boxes with scores.
``clean_autoencoder``
    :class:`~nii.learn.models.ConvAutoencoder` trained on *clean* scans only (expected
    verdict ``clear``); the reconstruction error, normalised on clean scans, is the
    anomaly map.

Scans are split 80/20 into training and validation by a hash of the scan id; the card
reports the validation metrics computed through the same inference path as
``nii bench`` and ``nii inspect`` (:class:`nii.learn.zoo.ZooDetector`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import NiiError, require_torch

from . import metrics
from .bench import CARD_BEGIN, CARD_END
from .dataset import Augment, ScanDataset, load_scan_directory
from .features import feature_channels
from .sample import ScanSample
from .zoo import ARCHITECTURES, ZooDetector, save_model, training_domain

torch = require_torch()

__all__ = ["Recipe", "RECIPES", "train_model", "evaluate_detector", "split_samples", "load_training_samples", "main"]


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is trained (kind, features, architecture, optimisation, inference)."""

    kind: str
    feature_set: str
    architecture: dict[str, Any]
    epochs: int
    batch_size: int
    learning_rate: float
    patch_size: tuple[int, int] = (64, 64)
    patches_per_scan: int = 8
    positive_fraction: float = 0.5
    clean_only: bool = False
    inference: dict[str, Any] = field(default_factory=dict)
    description: str = ""


RECIPES: dict[str, Recipe] = {
    "unet_segmenter": Recipe(
        kind="segmenter", feature_set="alpha_material", architecture={"base": 8, "depth": 3},
        epochs=40, batch_size=16, learning_rate=2e-3, positive_fraction=0.5,
        inference={"region_threshold": 0.5, "min_area_px": 4, "score_top_k": 16},
        description="per-pixel probability of concealed dense matter (small U-Net on α_H, α_L, α_L/α_H, Z_eff, impenetrable mask)",
    ),
    "fcos_detector": Recipe(
        kind="box_detector", feature_set="alpha_ratio",
        architecture={"widths": [16, 24, 48, 64], "fpn_channels": 64, "head_convs": 2, "score_thresh": 0.05},
        epochs=40, batch_size=8, learning_rate=1e-3, positive_fraction=0.7,
        inference={"region_threshold": 0.3},
        description="boxes around concealed objects (torchvision FCOS, tiny FPN backbone, 3-channel α stem)",
    ),
    "clean_autoencoder": Recipe(
        kind="autoencoder", feature_set="alpha_ratio", architecture={"width": 16, "bottleneck": 8},
        epochs=24, batch_size=16, learning_rate=2e-3, positive_fraction=0.0, clean_only=True,
        inference={"region_threshold": 0.95, "min_area_px": 6, "score_top_k": 16, "smooth_px": 5},
        description="unsupervised: reconstruction error of an autoencoder trained on clean cargo only",
    ),
}


def split_samples(samples: list[ScanSample], validation_fraction: float = 0.2) -> tuple[list[ScanSample], list[ScanSample]]:
    """Split by a hash of the scan id (stable across runs and machines)."""
    def bucket(sample: ScanSample) -> float:
        digest = hashlib.sha256(sample.scan_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "little") / 2**32

    train = [s for s in samples if bucket(s) >= validation_fraction]
    validation = [s for s in samples if bucket(s) < validation_fraction]
    if not train or not validation:  # tiny sets: fall back to a positional split
        cut = max(1, int(round(len(samples) * (1 - validation_fraction))))
        train, validation = samples[:cut], samples[cut:] or samples[-1:]
    return train, validation


def load_training_samples(args: argparse.Namespace) -> tuple[list[ScanSample], str]:
    """Return the samples named by ``--data``, ``--suite`` or ``--synthetic`` and a description."""
    if args.synthetic:
        from .synthetic import synthetic_samples

        samples = synthetic_samples(int(args.synthetic), seed=args.seed, rows=args.rows, cols=args.cols)
        return samples, (f"{args.synthetic} synthetic {args.rows}×{args.cols} images from nii.learn.synthetic "
                         f"(seed {args.seed}, half with a hidden metal/high-Z block) — NOT the physics simulator")
    if args.suite:
        data = Path(args.data) if args.data else Path("build") / "suites" / Path(args.suite).stem
        already_simulated = data.is_dir() and any(data.rglob("*.truth.json"))
        if not already_simulated:
            from nii.cli import main as nii_main

            status = nii_main(["simulate", "--suite", str(args.suite), "--out", str(data), "--no-progress"])
            if status != 0:
                raise NiiError(f"nii simulate --suite {args.suite} failed (exit {status})")
        samples = load_scan_directory(data)
        return samples, f"{len(samples)} scans of suite {args.suite} simulated by nii simulate into {data}"
    if args.data:
        samples = load_scan_directory(args.data)
        return samples, f"{len(samples)} simulated scans from {args.data}"
    raise NiiError("give one of --suite FILE, --data DIR or --synthetic N")


def _config(name: str, recipe: Recipe) -> dict[str, Any]:
    return {
        "name": name,
        "kind": recipe.kind,
        "architecture": dict(recipe.architecture, in_channels=feature_channels(recipe.feature_set)),
        "feature_set": recipe.feature_set,
        "alpha_scale": 5.0,
        "inference": dict(recipe.inference),
        "reason": "CONCEALMENT_ANOMALY",
        "weights": "weights.safetensors",
    }


def _train_epochs(module: Any, recipe: Recipe, dataset: ScanDataset, log) -> list[float]:
    optimiser = torch.optim.AdamW(module.parameters(), lr=recipe.learning_rate, weight_decay=1e-4)
    steps = recipe.epochs * max(1, -(-len(dataset) // recipe.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, recipe.learning_rate, total_steps=steps)
    losses = []
    for epoch in range(recipe.epochs):
        dataset.set_epoch(epoch)
        order = np.random.default_rng(epoch).permutation(len(dataset))
        module.train()
        total, batches = 0.0, 0
        for start in range(0, len(order), recipe.batch_size):
            items = [dataset[int(i)] for i in order[start:start + recipe.batch_size]]
            loss = _loss(module, recipe, items)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
            batches += 1
        losses.append(total / max(batches, 1))
        log(f"epoch {epoch + 1}/{recipe.epochs}: loss {losses[-1]:.4f}")
    module.eval()
    return losses


def _loss(module: Any, recipe: Recipe, items: list) -> Any:
    if recipe.kind == "box_detector":
        images = [features for features, _ in items]
        targets = [{"boxes": target["boxes"][:, [1, 0, 3, 2]], "labels": target["labels"]} for _, target in items]
        return sum(module(images, targets).values())
    x = torch.stack([features for features, _ in items])
    if recipe.kind == "segmenter":
        mask = torch.stack([target["mask"] for _, target in items])[:, None]
        positive = float(mask.mean())
        weight = torch.tensor(min(20.0, (1 - positive) / max(positive, 1e-3)))
        return torch.nn.functional.binary_cross_entropy_with_logits(module(x), mask, pos_weight=weight)
    return torch.nn.functional.mse_loss(module(x), x)


def _calibrate_autoencoder(detector: ZooDetector, clean: list[ScanSample]) -> dict[str, float]:
    """Fit the error scale and the log-normal of clean scans' strongest errors (inference config)."""
    inference = detector.config["inference"]
    errors, peaks = [], []
    size = int(inference.get("smooth_px", 5))
    top_k = int(inference.get("score_top_k", 16))
    with torch.no_grad():
        for sample in clean:
            x = torch.from_numpy(detector.features(sample, sample))[None]
            error = ((detector.module(x) - x) ** 2).mean(dim=1, keepdim=True)
            error = torch.nn.functional.avg_pool2d(error, size, stride=1, padding=size // 2, count_include_pad=False)
            errors.append(error.ravel().numpy())
    scale = float(np.percentile(np.concatenate(errors), 99.0)) or 1e-6
    for error in errors:
        top = np.partition(error, error.size - top_k)[-top_k:]
        peaks.append(float(np.log(np.maximum(top / scale, 1e-12)).mean()))
    return {"error_scale": scale, "log_mean": float(np.mean(peaks)), "log_std": float(np.std(peaks) + 0.25)}


def evaluate_detector(detector: Any, samples: list[ScanSample]) -> dict[str, Any]:
    """Scan-level and box-level metrics of a detector on samples with ground truth.

    Returns
    -------
    dict
        ``scans``, ``positives``, ``roc_auc``, ``detection_rate_far_1pct``,
        ``detection_rate_far_5pct``, ``map50``, ``seconds_per_scan`` (NaN where undefined).
    """
    from .plugins import run_detector

    scores, labels, predictions, targets, seconds = [], [], [], [], []
    for sample in samples:
        result = run_detector(detector, sample, sample)
        scores.append(result.score)
        labels.append(sample.label)
        seconds.append(result.seconds)
        predictions.append({"boxes": np.array([r.bbox for r in result.regions], dtype=np.float64).reshape(-1, 4),
                            "scores": np.array([r.score for r in result.regions])})
        targets.append({"boxes": metrics.merge_duplicate_boxes(sample.boxes)})
    nan = float("nan")
    both = 0 < sum(labels) < len(labels)
    report = {
        "scans": len(samples),
        "positives": int(sum(labels)),
        "roc_auc": metrics.roc_auc(scores, labels) if both else nan,
        "detection_rate_far_1pct": metrics.detection_rate_at_far(scores, labels, 0.01)[0] if both else nan,
        "detection_rate_far_5pct": metrics.detection_rate_at_far(scores, labels, 0.05)[0] if both else nan,
        "threshold_far_5pct": metrics.detection_rate_at_far(scores, labels, 0.05)[1] if both else nan,
        "map50": metrics.mean_average_precision_50(predictions, targets),
        "seconds_per_scan": float(np.mean(seconds)) if seconds else nan,
    }
    return report


def train_model(name: str, samples: list[ScanSample], out: str | Path, *, seed: int = 0, epochs: int | None = None,
                data_description: str = "", command: str = "", log=print) -> dict[str, Any]:
    """Train recipe ``name`` on ``samples`` and write the model folder ``out``.

    Parameters
    ----------
    name : str
        A key of :data:`RECIPES`.
    samples : list of ScanSample
        Scans with ground truth (split 80/20 inside).
    out : path-like
        Model folder to write (``weights.safetensors``, ``config.json``, ``MODEL_CARD.md``).
    seed : int
        Seed of initialisation, patches and augmentation.
    epochs : int, optional
        Overrides the recipe's number of epochs.
    data_description, command : str
        Written into the model card.
    log : callable
        Progress messages.

    Returns
    -------
    dict
        The validation metrics (also in the card and ``config.json``).
    """
    if name not in RECIPES:
        raise NiiError(f"unknown model recipe {name!r} (known: {', '.join(RECIPES)})")
    recipe = RECIPES[name]
    if epochs is not None:
        recipe = Recipe(**{**recipe.__dict__, "epochs": int(epochs)})
    torch.manual_seed(seed)
    train, validation = split_samples(samples)
    fit_on = [s for s in train if s.label == 0] if recipe.clean_only else train
    if not fit_on:
        raise NiiError(f"recipe {name!r} needs {'clean ' if recipe.clean_only else ''}training scans; none found")
    config = _config(name, recipe)
    config["domain"] = training_domain(train + validation)
    module = ARCHITECTURES[recipe.kind](config["architecture"])
    dataset = ScanDataset(
        fit_on, mode="random", patch_size=recipe.patch_size, patches_per_scan=recipe.patches_per_scan,
        positive_fraction=recipe.positive_fraction, feature_set=recipe.feature_set,
        augment=Augment(), seed=seed,
    )
    started = time.perf_counter()
    losses = _train_epochs(module, recipe, dataset, log)
    train_seconds = time.perf_counter() - started
    detector = ZooDetector(module, dict(config, inference=dict(config["inference"])))
    if recipe.kind == "autoencoder":
        detector.config["inference"].update(_calibrate_autoencoder(detector, fit_on))
        config["inference"] = detector.config["inference"]
    report = evaluate_detector(detector, validation)
    # Operating point: the score threshold at 5 % false alarms over every scan (more
    # clean scans than the validation split alone); 0.5 when it cannot be set.
    everything = evaluate_detector(detector, train + validation)
    alarm_threshold = everything["threshold_far_5pct"]
    alarm_threshold = float(alarm_threshold) if np.isfinite(alarm_threshold) else 0.5
    config["inference"]["alarm_threshold"] = alarm_threshold
    detector.config["inference"]["alarm_threshold"] = alarm_threshold
    parameters = int(sum(p.numel() for p in module.parameters()))
    config["training"] = {
        "data": data_description, "command": command, "seed": seed, "epochs": recipe.epochs,
        "train_scans": len(fit_on), "validation_scans": len(validation), "all_scans": len(train) + len(validation), "final_loss": losses[-1] if losses else None,
        "train_seconds": round(train_seconds, 1), "torch": torch.__version__,
    }
    config["validation"] = report
    config["parameters"] = parameters
    folder = save_model(module, config, out, "")
    size = (folder / "weights.safetensors").stat().st_size
    from nii.io_utils import atomic_write_text

    atomic_write_text(folder / "MODEL_CARD.md", _card(name, recipe, config, report, size))
    (folder / "MODEL_CARD.md").chmod(0o644)
    log(f"wrote {folder} ({size / 1e6:.2f} MB); validation: " + json.dumps(report))
    return report


def _fmt(value: Any) -> str:
    return "n/a" if isinstance(value, float) and np.isnan(value) else (f"{value:.3f}" if isinstance(value, float) else str(value))


def domain_text(domain: dict[str, Any] | None) -> str:
    """One line of a model card: the input domain of ``config.json`` and what happens outside it."""
    if not domain:
        return "not stated (run on any scan)"
    tolerance = domain.get("tolerance", {})
    parts = []
    if "row_height_mm" in domain:
        parts.append(f"rows {domain['row_height_mm']:g} mm (±{100 * tolerance.get('row_height', 0.25):.0f} %)")
    if "column_pitch_mm" in domain:
        parts.append(f"columns {domain['column_pitch_mm']:g} mm (±{100 * tolerance.get('column_pitch', 0.25):.0f} %)")
    if "energies_mev" in domain:
        parts.append(f"{'/'.join(f'{e:g}' for e in domain['energies_mev'])} MeV (±{tolerance.get('energy_mev', 0.25):g} MeV)")
    if "channels" in domain:
        parts.append(f"{domain['channels']} channels")
    return ", ".join(parts) + "; refused outside the pixel size or energies, a note for other channel counts"


def _card(name: str, recipe: Recipe, config: dict[str, Any], report: dict[str, Any], size: int) -> str:
    training = config["training"]
    rows = "\n".join(f"| {key} | {_fmt(value)} |" for key, value in report.items())
    return f"""# {name}

{recipe.description}.

| | |
| --- | --- |
| kind | `{recipe.kind}` |
| input features | `{recipe.feature_set}` ({config['architecture']['in_channels']} channels, see `nii/learn/features.py`) |
| parameters | {config['parameters']:,} |
| weights | `weights.safetensors`, {size / 1e6:.2f} MB |
| reason code of its regions | `{config['reason']}` |
| input domain | {domain_text(config.get('domain'))} |

## Data

{training['data']}.
Split 80/20 by a hash of the scan id: {training['train_scans']} training scans
{'(clean ones only) ' if recipe.clean_only else ''}and {training['validation_scans']} validation scans.

## Training

```
{training['command']}
```

{training['epochs']} epochs of random {recipe.patch_size[0]}×{recipe.patch_size[1]} patches
({recipe.patches_per_scan} per scan per epoch, {int(recipe.positive_fraction * 100)} % centred on a threat),
AdamW with a one-cycle schedule (peak learning rate {recipe.learning_rate}), batch {recipe.batch_size},
augmentations: mirror along the conveyance axis, shifts of ≤ 2 px, extra noise of a dose
fraction 0.5–1 (no intensity jitter). Seed {training['seed']}; final loss {_fmt(training['final_loss'])};
{training['train_seconds']} s on CPU, torch {training['torch']}.

## Validation metrics (held-out scans, same inference path as `nii bench`)

| metric | value |
| --- | --- |
{rows}

Operating point (`inference.alarm_threshold` in `config.json`, the scan score at or above
which `DetectorResult.alarm` is true): {_fmt(config['inference']['alarm_threshold'])}, set at 5 % false
alarms over all {training['all_scans']} scans (training ones included, so optimistic).

With few validation scans the detection rates at 1 % and 5 % false-alarm rate are
coarse (a false-alarm rate below 1/negatives means no false alarm allowed).

## Use

```python
from nii.learn.plugins import get_detector
detector = get_detector("{name}")    # loads models/{name}/ (imports torch)
result = detector(image, material_map)  # DetectorResult: .score, .regions, .alarm
```

## Limits

Trained on simulated (or synthetic) images only; no real cargo data is public. Scores
are not calibrated probabilities on real scanners; re-train on the site's data before use.

{CARD_BEGIN}
## Held-out benchmark

Not measured yet for these weights: run
`nii bench --suite seeds/suites/learn-bench.toml --out build/bench-out --models {name} --update-cards`
(writes this section and `held_out` in `config.json`).
{CARD_END}
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m nii.learn.train``."""
    parser = argparse.ArgumentParser(prog="python -m nii.learn.train", description="Train one zoo model.")
    parser.add_argument("--model", required=True, choices=sorted(RECIPES), help="recipe / zoo name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", help="suite TOML: simulated into --data (default build/suites/<stem>) if needed")
    source.add_argument("--data", dest="data_only", help="folder of simulated scans with ground truth")
    source.add_argument("--synthetic", type=int, help="train on N synthetic images (nii.learn.synthetic)")
    parser.add_argument("--data-dir", dest="data", help="where --suite scans are (or will be) simulated")
    parser.add_argument("--out", required=True, help="model folder to write, e.g. models/NAME")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=64, help="synthetic image rows")
    parser.add_argument("--cols", type=int, default=128, help="synthetic image columns")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m nii.learn.train``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.data_only:
        args.data = args.data_only
    torch.set_num_threads(max(1, args.threads))
    try:
        samples, description = load_training_samples(args)
        command = "python -m nii.learn.train " + " ".join(shlex.quote(a) for a in argv)
        train_model(args.model, samples, args.out, seed=args.seed, epochs=args.epochs,
                    data_description=description, command=command)
    except NiiError as exc:
        print(f"nii.learn.train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
