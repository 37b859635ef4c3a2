"""A torch ``Dataset`` over simulated scans with ground truth.

A directory written by ``nii simulate --suite ... --out DIR`` holds, per scan,
``SCAN.nxr``, ``SCAN.manifest.json``, ``SCAN.truth.json`` (expected verdict, reasons,
threat regions with ``bbox`` on the analysed grid, cargo mass) and ``SCAN.truth.npz``
(``classes``, ``zeff`` on the analysed grid). :func:`load_scan_sample` corrects the NXR
(:func:`nii.correction.correct`), discriminates it (:func:`nii.discrimination.discriminate`
with the physics calibration) and caches the arrays in ``SCAN.analysed.npz`` beside the
scan, keyed by the NXR's size and modification time, so the chain runs once per scan.

:class:`ScanDataset` serves whole scans or patches (random, biased towards threats, or
tiled) with their boxes clipped, and applies only physics-respecting augmentations
(:class:`Augment`): mirror along the conveyance axis, small shifts, and extra noise
equal to a lower dose — never an intensity or colour jitter, which would change α and
so the material.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import NiiError, require_torch
from nii.io_utils import atomic_writer

from .features import feature_stack
from .sample import ScanSample, boxes_to_mask

__all__ = [
    "Augment",
    "ScanDataset",
    "CACHE_SUFFIX",
    "find_scans",
    "load_scan_sample",
    "load_scan_directory",
    "sample_features",
    "collate_scans",
]

#: Suffix of the cache of corrected and discriminated arrays written beside each scan.
CACHE_SUFFIX = ".analysed.npz"
_CACHE_VERSION = 2  # 2: energies_mev stored

torch = require_torch()


def find_scans(root: str | os.PathLike) -> list[Path]:
    """Return the ``SCAN.nxr`` paths of a simulated suite directory that have ground truth.

    Parameters
    ----------
    root : path-like
        Folder written by ``nii simulate`` (searched recursively).

    Raises
    ------
    NiiError
        If the folder does not exist or holds no scan with ``SCAN.truth.json``.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise NiiError(f"{folder}: not a folder of simulated scans")
    scans = sorted(path for path in folder.rglob("*.nxr") if path.with_suffix(".truth.json").is_file())
    if not scans:
        raise NiiError(f"{folder}: no SCAN.nxr with SCAN.truth.json found (run nii simulate --out {folder})")
    return scans


def _cache_key(nxr: Path) -> str:
    stat = nxr.stat()
    return f"v{_CACHE_VERSION}:{stat.st_size}:{stat.st_mtime_ns}"


def _analyse(nxr: Path, calibration: Any | None) -> dict[str, np.ndarray]:
    from nii.correction import correct
    from nii.discrimination import discriminate
    from scanner_io import load_scan

    scan = load_scan(nxr)
    image = correct(scan)
    if calibration is None:
        from nii.calibration import calibration_from_physics

        calibration = calibration_from_physics(scan.header)
    material = discriminate(image, calibration)
    arrays: dict[str, np.ndarray] = {
        "attenuation_high": np.asarray(image.attenuation_high, dtype=np.float32),
        "attenuation_low": np.asarray(image.attenuation_low, dtype=np.float32),
        "sigma_high": np.asarray(image.sigma_high, dtype=np.float32),
        "sigma_low": np.asarray(image.sigma_low, dtype=np.float32),
        "position_mm": np.asarray(image.position_mm, dtype=np.float64),
        "row_height_mm": np.asarray(float(image.row_height_mm)),
        "energies_mev": np.asarray([float(e) for e in image.energies_mev], dtype=np.float64),
        "zeff": np.asarray(material.zeff, dtype=np.float32),
        "classes": np.asarray(material.classes, dtype=np.uint8),
        "areal_density_g_cm2": np.asarray(material.areal_density_g_cm2, dtype=np.float32),
    }
    return arrays


def _load_cached(nxr: Path, *, calibration: Any | None, cache: bool) -> dict[str, np.ndarray]:
    cache_path = nxr.with_suffix(CACHE_SUFFIX)
    key = _cache_key(nxr)
    if cache and cache_path.is_file():
        try:
            with np.load(cache_path, allow_pickle=False) as stored:
                if str(stored["cache_key"]) == key:
                    return {name: stored[name] for name in stored.files if name != "cache_key"}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable or stale cache: recompute
    arrays = _analyse(nxr, calibration)
    if cache:
        def write(stream):
            np.savez_compressed(stream, cache_key=np.asarray(key), **arrays)

        atomic_writer(cache_path, write)
    return arrays


def _read_truth(nxr: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    truth_path = nxr.with_suffix(".truth.json")
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NiiError(f"{truth_path}: cannot read the ground truth ({exc})") from exc
    if not isinstance(truth, dict):
        raise NiiError(f"{truth_path}: ground truth must be a JSON object")
    maps: dict[str, np.ndarray] = {}
    npz_path = nxr.with_suffix(".truth.npz")
    if npz_path.is_file():
        try:
            with np.load(npz_path, allow_pickle=False) as stored:
                maps = {name: stored[name] for name in stored.files}
        except (OSError, ValueError) as exc:
            raise NiiError(f"{npz_path}: cannot read the ground-truth maps ({exc})") from exc
    return truth, maps


def _reason_code(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("code") or entry.get("reason") or "CONCEALMENT_ANOMALY")
    return str(entry)


def _threat_type(truth: dict[str, Any]) -> str:
    """Threat type of a scan's truth: ``scenario.threat``, else the first region's ``threat``, else ``none``."""
    scenario = truth.get("scenario")
    if isinstance(scenario, dict) and scenario.get("threat"):
        return str(scenario["threat"])
    for region in truth.get("regions") or []:
        if isinstance(region, dict) and region.get("threat"):
            return str(region["threat"])
    return "none"


def load_scan_sample(nxr: str | os.PathLike, *, calibration: Any | None = None, cache: bool = True) -> ScanSample:
    """Load one simulated scan with its ground truth as a :class:`ScanSample`.

    Parameters
    ----------
    nxr : path-like
        ``SCAN.nxr``; ``SCAN.truth.json`` (and ``SCAN.truth.npz`` if present) beside it.
    calibration : Calibration, optional
        Used by discrimination; the physics calibration of the scan's header when omitted.
    cache : bool
        Read and write ``SCAN.analysed.npz`` beside the scan.

    Returns
    -------
    ScanSample
        Measured arrays (α, σ, material map) and ground truth (boxes from
        ``regions[].bbox``, mask from ``threat_mask`` in the npz or from the boxes,
        label 1 for an expected ``inspect``, reasons, cargo mass).
    """
    path = Path(nxr)
    truth, maps = _read_truth(path)
    arrays = _load_cached(path, calibration=calibration, cache=cache)
    shape = arrays["attenuation_high"].shape
    regions = truth.get("regions") or []
    boxes, reasons, materials = [], [], []
    for index, region in enumerate(regions):
        bbox = region.get("bbox") if isinstance(region, dict) else None
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise NiiError(f"{path.with_suffix('.truth.json')}: regions[{index}].bbox must be [row0, col0, row1, col1]")
        boxes.append([int(v) for v in bbox])
        reasons.append(_reason_code(region.get("reason", region.get("code", "CONCEALMENT_ANOMALY"))))
        materials.append(str(region.get("material") or ""))
    verdict = str(truth.get("expected_verdict", truth.get("verdict", "clear")))
    if isinstance(truth.get("expected"), dict):
        verdict = str(truth["expected"].get("verdict", verdict))
    truth_classes = maps.get("classes")
    truth_zeff = maps.get("zeff")
    mask = maps.get("threat_mask")
    box_array = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    for name, value in (("classes", truth_classes), ("zeff", truth_zeff), ("threat_mask", mask)):
        if value is not None and value.shape != shape:
            raise NiiError(f"{path.with_suffix('.truth.npz')}: {name} {value.shape} is not on the analysed grid {shape}")
    mass = truth.get("cargo_mass_kg")
    return ScanSample(
        threat=_threat_type(truth),
        scan_id=str(truth.get("scan_id", path.stem)),
        attenuation_high=arrays["attenuation_high"],
        attenuation_low=arrays["attenuation_low"],
        sigma_high=arrays.get("sigma_high"),
        sigma_low=arrays.get("sigma_low"),
        zeff=arrays.get("zeff"),
        classes=arrays.get("classes"),
        areal_density_g_cm2=arrays.get("areal_density_g_cm2"),
        truth_classes=None if truth_classes is None else truth_classes.astype(np.uint8),
        truth_zeff=None if truth_zeff is None else truth_zeff.astype(np.float32),
        boxes=box_array,
        box_reasons=reasons,
        box_materials=materials,
        mask=None if mask is None else (mask > 0).astype(np.uint8),
        label=int(verdict == "inspect"),
        reasons=[_reason_code(r) for r in truth.get("reasons", truth.get("expected_reasons", [])) or []],
        cargo_mass_kg=None if mass is None else float(mass),
        position_mm=arrays.get("position_mm"),
        row_height_mm=float(arrays.get("row_height_mm", 1.0)),
        nxr_path=str(path),
        energies_mev=tuple(float(e) for e in arrays["energies_mev"]) if "energies_mev" in arrays else None,
    )


def load_scan_directory(root: str | os.PathLike, *, calibration: Any | None = None, cache: bool = True,
                        progress: Callable[[Sequence[Path], str], Iterable[Path]] | None = None) -> list[ScanSample]:
    """Load every object scan with ground truth under ``root`` (see :func:`load_scan_sample`).

    Scans whose truth has no expected verdict (calibration wedges, air, dark) are skipped.
    ``progress(paths, description)``, when given, wraps the list of scans (e.g. in a
    progress bar); correcting a scan that is not cached yet takes a fraction of a second.
    """
    samples = []
    paths = find_scans(root)
    for path in (progress(paths, "correct scans") if progress is not None else paths):
        truth, _ = _read_truth(path)
        if truth.get("expected_verdict", truth.get("verdict")) is None or truth.get("kind", "object") != "object":
            continue
        samples.append(load_scan_sample(path, calibration=calibration, cache=cache))
    if not samples:
        raise NiiError(f"{root}: no object scan with an expected verdict found")
    return samples


@dataclass(frozen=True)
class Augment:
    """Physics-respecting augmentations, applied to numpy arrays before the features.

    Parameters
    ----------
    flip_columns : float
        Probability of mirroring along the conveyance axis (columns reversed: the same
        container driven the other way; rows, i.e. the detector geometry, are kept).
    max_shift_px : int
        Largest shift (pixels) along rows and columns; edges are repeated.
    dose_fraction : tuple of float
        Range of the simulated dose fraction f ∈ (0, 1]: Gaussian noise of std
        σ_α·sqrt(1/f − 1) is added, so the total noise is that of a scan at dose f
        (needs ``sigma_high`` and ``sigma_low``).
    """

    flip_columns: float = 0.5
    max_shift_px: int = 2
    dose_fraction: tuple[float, float] = (0.5, 1.0)

    def __call__(self, sample: ScanSample, rng: np.random.Generator) -> ScanSample:
        """Return an augmented copy of ``sample`` (boxes and mask follow)."""
        rows, cols = sample.shape
        names = ("attenuation_high", "attenuation_low", "sigma_high", "sigma_low", "zeff", "classes",
                 "areal_density_g_cm2", "truth_classes", "truth_zeff", "mask")
        arrays = {name: getattr(sample, name) for name in names}
        boxes = sample.boxes.copy()
        if rng.random() < self.flip_columns:
            arrays = {k: None if v is None else v[:, ::-1] for k, v in arrays.items()}
            boxes[:, [1, 3]] = cols - boxes[:, [3, 1]]
        if self.max_shift_px > 0:
            shift_r, shift_c = (int(v) for v in rng.integers(-self.max_shift_px, self.max_shift_px + 1, size=2))
            arrays = {k: None if v is None else _shift(v, shift_r, shift_c) for k, v in arrays.items()}
            boxes = boxes + np.array([shift_r, shift_c, shift_r, shift_c])
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, rows)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, cols)
        low, high = self.dose_fraction
        if arrays["sigma_high"] is not None and arrays["sigma_low"] is not None and low < 1.0:
            fraction = float(rng.uniform(low, high))
            extra = math.sqrt(max(1.0 / fraction - 1.0, 0.0))
            if extra > 0:
                arrays["attenuation_high"] = arrays["attenuation_high"] + extra * arrays["sigma_high"] * rng.standard_normal((rows, cols), dtype=np.float32)
                arrays["attenuation_low"] = arrays["attenuation_low"] + extra * arrays["sigma_low"] * rng.standard_normal((rows, cols), dtype=np.float32)
                arrays["sigma_high"] = arrays["sigma_high"] / math.sqrt(fraction)
                arrays["sigma_low"] = arrays["sigma_low"] / math.sqrt(fraction)
        keep = np.nonzero((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))[0]
        arrays = {k: None if v is None else np.ascontiguousarray(v) for k, v in arrays.items()}
        return replace(
            sample, **arrays, boxes=boxes[keep],
            box_reasons=[sample.box_reasons[i] for i in keep],
            box_materials=[sample.box_materials[i] for i in keep],
        )


def _shift(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    pad = max(abs(rows), abs(cols))
    if pad == 0:
        return array
    padded = np.pad(array, pad, mode="edge")
    height, width = array.shape
    return padded[pad - rows:pad - rows + height, pad - cols:pad - cols + width]


def sample_features(sample: ScanSample, feature_set: str, alpha_scale: float = 5.0) -> np.ndarray:
    """Return the model input of a sample (channels × rows × columns, float32)."""
    return feature_stack(
        sample.attenuation_high, sample.attenuation_low, feature_set=feature_set,
        zeff=sample.zeff, classes=sample.classes, alpha_scale=alpha_scale,
    )


class ScanDataset(torch.utils.data.Dataset):  # type: ignore[name-defined]
    """Scans or patches of scans with their targets, as tensors.

    Parameters
    ----------
    samples : sequence of ScanSample
        The scans (:func:`load_scan_directory` or :func:`nii.learn.synthetic.synthetic_samples`).
    mode : {"scan", "random", "tiled"}
        ``scan``: one item per whole scan. ``random``: ``patches_per_scan`` random
        patches per scan per epoch, a fraction ``positive_fraction`` of them centred on
        a threat when the scan has one. ``tiled``: every patch of a regular tiling
        (stride ``stride``; the last tile is aligned to the image edge).
    patch_size : tuple of int
        Patch ``(rows, columns)`` in pixels (patch modes).
    patches_per_scan : int
        Random patches per scan and epoch.
    stride : tuple of int, optional
        Tiling stride (pixels); ``patch_size`` when omitted.
    positive_fraction : float
        Fraction of random patches centred on a threat box (0–1).
    min_visible : float
        Boxes with less of their area inside a patch are dropped (0–1).
    feature_set : str
        Input channels (:mod:`nii.learn.features`).
    alpha_scale : float
        α that maps to 1 in the input (dimensionless).
    augment : Augment, optional
        Applied to each item (training only).
    seed : int
        Seed of patch positions and augmentations; combine with :meth:`set_epoch`.

    Notes
    -----
    An item is ``(features, target)``: ``features`` float32 (channels, rows, columns);
    ``target`` a dict with ``boxes`` (n × 4 float32, ``row0, col0, row1, col1``),
    ``labels`` (n int64, all 1: threat), ``mask`` (rows × columns float32),
    ``truth_classes`` (int64, −1 when unknown), ``label`` (scan verdict, int64 0/1),
    ``scan_id`` and ``origin`` (row, column of the patch in the scan).
    """

    def __init__(
        self,
        samples: Sequence[ScanSample],
        *,
        mode: str = "scan",
        patch_size: tuple[int, int] = (64, 64),
        patches_per_scan: int = 4,
        stride: tuple[int, int] | None = None,
        positive_fraction: float = 0.5,
        min_visible: float = 0.3,
        feature_set: str = "alpha_ratio",
        alpha_scale: float = 5.0,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        if mode not in ("scan", "random", "tiled"):
            raise NiiError(f"dataset mode must be scan, random or tiled, got {mode!r}")
        if not samples:
            raise NiiError("the dataset has no scans")
        self.samples = list(samples)
        self.mode = mode
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        if min(self.patch_size) < 1:
            raise NiiError(f"patch_size must be positive, got {patch_size}")
        self.patches_per_scan = int(patches_per_scan)
        self.stride = tuple(stride) if stride is not None else self.patch_size
        self.positive_fraction = float(positive_fraction)
        self.min_visible = float(min_visible)
        self.feature_set = feature_set
        self.alpha_scale = float(alpha_scale)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self._tiles = self._tiling() if mode == "tiled" else []

    @classmethod
    def from_directory(cls, root: str | os.PathLike, *, cache: bool = True, calibration: Any | None = None,
                       **kwargs: Any) -> ScanDataset:
        """Build a dataset over every scan with ground truth under ``root`` (see :func:`load_scan_sample`)."""
        return cls(load_scan_directory(root, calibration=calibration, cache=cache), **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Change the random patches and augmentations drawn (one value per training epoch)."""
        self.epoch = int(epoch)

    def _origins(self, size: int, patch: int, step: int) -> list[int]:
        if size <= patch:
            return [0]
        starts = list(range(0, size - patch + 1, max(1, step)))
        if starts[-1] != size - patch:
            starts.append(size - patch)
        return starts

    def _tiling(self) -> list[tuple[int, int, int]]:
        tiles = []
        for index, sample in enumerate(self.samples):
            rows, cols = sample.shape
            for r in self._origins(rows, self.patch_size[0], self.stride[0]):
                for c in self._origins(cols, self.patch_size[1], self.stride[1]):
                    tiles.append((index, r, c))
        return tiles

    def __len__(self) -> int:
        if self.mode == "scan":
            return len(self.samples)
        if self.mode == "random":
            return len(self.samples) * self.patches_per_scan
        return len(self._tiles)

    def _random_origin(self, sample: ScanSample, rng: np.random.Generator) -> tuple[int, int]:
        rows, cols = sample.shape
        patch_rows, patch_cols = min(self.patch_size[0], rows), min(self.patch_size[1], cols)
        if len(sample.boxes) and rng.random() < self.positive_fraction:
            row0, col0, row1, col1 = sample.boxes[int(rng.integers(len(sample.boxes)))]
            centre_r = int(rng.integers(row0, max(row0 + 1, row1)))
            centre_c = int(rng.integers(col0, max(col0 + 1, col1)))
            r = int(np.clip(centre_r - patch_rows // 2 + rng.integers(-patch_rows // 4, patch_rows // 4 + 1), 0, rows - patch_rows))
            c = int(np.clip(centre_c - patch_cols // 2 + rng.integers(-patch_cols // 4, patch_cols // 4 + 1), 0, cols - patch_cols))
            return r, c
        return int(rng.integers(0, rows - patch_rows + 1)), int(rng.integers(0, cols - patch_cols + 1))

    def item_sample(self, index: int) -> tuple[ScanSample, tuple[int, int]]:
        """Return the (cropped, augmented) :class:`ScanSample` of item ``index`` and its origin."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        if self.mode == "scan":
            sample, origin = self.samples[index], (0, 0)
        elif self.mode == "random":
            sample = self.samples[index // self.patches_per_scan]
            origin = self._random_origin(sample, rng)
        else:
            scan_index, r, c = self._tiles[index]
            sample, origin = self.samples[scan_index], (r, c)
        if self.mode != "scan":
            rows = min(self.patch_size[0], sample.shape[0])
            cols = min(self.patch_size[1], sample.shape[1])
            sample = sample.crop(origin[0], origin[1], rows, cols, min_visible=self.min_visible)
            sample = replace(sample, mask=boxes_to_mask(sample.boxes, sample.shape) if sample.mask is None else sample.mask)
        if self.augment is not None:
            sample = self.augment(sample, rng)
        return sample, origin

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        sample, origin = self.item_sample(index)
        features = torch.from_numpy(np.ascontiguousarray(sample_features(sample, self.feature_set, self.alpha_scale)))
        classes = sample.truth_classes
        target = {
            "boxes": torch.as_tensor(sample.boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.ones(len(sample.boxes), dtype=torch.int64),
            "mask": torch.from_numpy(np.ascontiguousarray(sample.mask, dtype=np.float32)),
            "truth_classes": (torch.from_numpy(classes.astype(np.int64)) if classes is not None
                              else torch.full(sample.shape, -1, dtype=torch.int64)),
            "label": torch.tensor(sample.label, dtype=torch.int64),
            "scan_id": sample.scan_id,
            "origin": origin,
        }
        return features, target


def collate_scans(batch: Sequence[tuple[Any, dict[str, Any]]]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Collate items of different sizes into lists (for whole-scan mode and box detectors)."""
    return [item[0] for item in batch], [item[1] for item in batch]
