"""The model zoo: shipped models in ``models/<name>/`` and their safe loading.

A model folder holds

- ``config.json`` — ``kind`` (a key of :data:`ARCHITECTURES`), ``architecture``
  (builder arguments, with ``in_channels``), ``feature_set``, ``alpha_scale``,
  ``inference`` (thresholds and score calibration), ``weights`` (file name), ``reason``;
- the weights — ``weights.safetensors`` (preferred) or a ``.pt`` state dict, loaded with
  ``torch.load(weights_only=True)`` so a file carrying code is refused;
- ``MODEL_CARD.md`` — data, training command, metrics, size.

:func:`load_detector` turns a folder into a detector of the plug-in interface
(:mod:`nii.learn.plugins`): ``detector(image, material_map) -> DetectorResult``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nii.classes import CLASS_NAMES, NONE
from nii.errors import NiiError, require_torch
from nii.io_utils import atomic_write_text, atomic_writer
from nii.resources import models_dir

from .features import feature_channels, feature_stack
from .models import build_autoencoder, build_box_detector, build_segmenter
from .plugins import DEFAULT_REASON, DetectorResult, ModelError, ScoredRegion

torch = require_torch()

__all__ = [
    "ARCHITECTURES",
    "register_architecture",
    "model_path",
    "read_config",
    "load_state_dict",
    "load_model",
    "load_detector",
    "save_model",
    "training_domain",
    "ZooDetector",
]

#: kind → builder(architecture config) -> torch.nn.Module
ARCHITECTURES: dict[str, Callable[[dict], Any]] = {
    "segmenter": build_segmenter,
    "box_detector": build_box_detector,
    "autoencoder": build_autoencoder,
}

_MAX_WEIGHTS_BYTES = 256 * 1024 * 1024


def register_architecture(kind: str, builder: Callable[[dict], Any]) -> None:
    """Make ``kind`` loadable from a ``config.json`` (``builder(architecture) -> nn.Module``)."""
    if not callable(builder):
        raise ModelError(f"builder of architecture {kind!r} is not callable")
    ARCHITECTURES[kind] = builder


def model_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Return the folder of zoo model ``name`` (under :func:`nii.resources.models_dir` by default).

    Raises
    ------
    ModelError
        If the name is not a plain folder name or the folder has no ``config.json``.
    """
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ModelError(f"model name {name!r} must be a plain folder name")
    base = Path(root) if root is not None else models_dir()
    folder = base / name
    if not (folder / "config.json").is_file():
        known = sorted(p.name for p in base.iterdir() if (p / "config.json").is_file()) if base.is_dir() else []
        raise ModelError(f"{folder}: no model there (config.json missing; known models: {', '.join(known) or 'none'})")
    return folder


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a model's ``config.json``."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model config ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelError(f"{path}: the model config must be a JSON object")
    for key in ("kind", "architecture", "feature_set", "weights"):
        if key not in config:
            raise ModelError(f"{path}: field {key!r} is missing")
    if config["kind"] not in ARCHITECTURES:
        raise ModelError(f"{path}: unknown kind {config['kind']!r} (known: {', '.join(ARCHITECTURES)})")
    channels = feature_channels(config["feature_set"])
    if int(config["architecture"].get("in_channels", -1)) != channels:
        raise ModelError(f"{path}: architecture.in_channels must be {channels} for feature set {config['feature_set']!r}")
    domain = config.get("domain")
    if domain is not None:
        if not isinstance(domain, dict):
            raise ModelError(f"{path}: 'domain' must be a JSON object (row_height_mm, column_pitch_mm, channels, energies_mev)")
        for key in ("row_height_mm", "column_pitch_mm", "channels"):
            value = domain.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ModelError(f"{path}: domain.{key} must be a positive number, got {value!r}")
        energies = domain.get("energies_mev")
        if energies is not None and (not isinstance(energies, list)
                                     or not all(isinstance(e, (int, float)) and e > 0 for e in energies)):
            raise ModelError(f"{path}: domain.energies_mev must be a list of positive energies (MeV), got {energies!r}")
    return config


def training_domain(samples: Sequence[Any]) -> dict[str, Any]:
    """Return the input domain (``config.json``'s ``domain``) of the scans a model is trained on.

    Parameters
    ----------
    samples : sequence of ScanSample
        The training and validation scans.

    Returns
    -------
    dict
        Median ``row_height_mm`` and ``column_pitch_mm`` (mm), the most common
        ``channels`` (image rows) and ``energies_mev``, and the default ``tolerance``
        (:data:`nii.learn.plugins.DOMAIN_TOLERANCE`); keys the samples do not tell are
        left out. :func:`nii.learn.plugins.run_detector` refuses images outside it.
    """
    from collections import Counter

    from .plugins import DOMAIN_TOLERANCE, _image_geometry

    seen = [_image_geometry(sample) for sample in samples]
    domain: dict[str, Any] = {}
    for key in ("row_height_mm", "column_pitch_mm"):
        values = [g[key] for g in seen if key in g]
        if values:
            domain[key] = round(float(np.median(values)), 3)
    for key in ("channels", "energies_mev"):
        values = [tuple(g[key]) if isinstance(g[key], list) else g[key] for g in seen if key in g]
        if values:
            common = Counter(values).most_common(1)[0][0]
            domain[key] = list(common) if isinstance(common, tuple) else common
    if domain:
        domain["tolerance"] = dict(DOMAIN_TOLERANCE)
    return domain


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Load a state dict of tensors safely.

    Parameters
    ----------
    path : path-like
        ``.safetensors`` (read with safetensors) or ``.pt``/``.pth`` (read with
        ``torch.load(weights_only=True)``).

    Returns
    -------
    dict
        Parameter name → tensor.

    Raises
    ------
    ModelError
        If the file is missing, too large, not a dict of tensors, or (``.pt``) holds
        pickled code or objects — those are refused, never executed.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelError(f"{file}: weights file missing")
    if file.stat().st_size > _MAX_WEIGHTS_BYTES:
        raise ModelError(f"{file}: weights file larger than {_MAX_WEIGHTS_BYTES // 2**20} MiB, refused")
    if file.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelError(f"{file}: reading .safetensors needs  pip install safetensors") from exc
        try:
            state = load_file(str(file), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise ModelError(f"{file}: not a valid safetensors file ({exc})") from exc
    elif file.suffix in (".pt", ".pth"):
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError, TypeError) as exc:
            raise ModelError(
                f"{file}: refused to load: not a plain state dict of tensors (torch.load weights_only=True: {str(exc).splitlines()[0]})"
            ) from exc
    else:
        raise ModelError(f"{file}: weights must be .safetensors or .pt, got {file.suffix or 'no suffix'}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{file}: weights must be a dict of tensors")
    return state


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(name: str, *, root: str | os.PathLike | None = None, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Build zoo model ``name`` and load its weights; return ``(module in eval mode, config)``.

    Parameters
    ----------
    name : str
        Folder name under the models root.
    root : path-like, optional
        Models root; :func:`nii.resources.models_dir` when omitted.
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    """
    folder = model_path(name, root)
    config = read_config(folder)
    weights = (folder / str(config["weights"])).resolve()
    if weights.parent != folder.resolve():
        raise ModelError(f"{folder / 'config.json'}: weights must be a file inside the model folder")
    module = ARCHITECTURES[config["kind"]](config["architecture"])
    state = load_state_dict(weights)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{weights}: weights do not fit the architecture in config.json ({str(exc).splitlines()[0]})") from exc
    config = dict(config, name=config.get("name", name), weights_sha256=_sha256(weights))
    return module.to(device).eval(), config


def save_model(module: Any, config: dict[str, Any], folder: str | os.PathLike, card: str) -> Path:
    """Write ``weights.safetensors``, ``config.json`` and ``MODEL_CARD.md`` atomically into ``folder``."""
    from safetensors.torch import save as save_bytes

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    payload = save_bytes(state)
    def write(stream: Any) -> None:
        stream.write(payload)

    atomic_writer(out / "weights.safetensors", write)
    config = dict(config, weights="weights.safetensors")
    atomic_write_text(out / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "MODEL_CARD.md", card)
    for name in ("weights.safetensors", "config.json", "MODEL_CARD.md"):
        os.chmod(out / name, 0o644)  # shipped files: readable by every user (temp files are 0600)
    return out


@dataclass
class ZooDetector:
    """A zoo model wrapped as a plug-in detector: ``detector(image, material_map) -> DetectorResult``.

    Parameters
    ----------
    module : torch.nn.Module
        The network in eval mode.
    config : dict
        Its ``config.json`` (with ``name`` and ``weights_sha256``).
    device : str
        Torch device of the module.
    """

    module: Any
    config: dict[str, Any]
    device: str = "cpu"

    @property
    def name(self) -> str:
        """The model's name."""
        return str(self.config.get("name", self.config["kind"]))

    @property
    def domain(self) -> dict[str, Any] | None:
        """The input domain the model was trained on (``config.json``'s ``domain``), or None."""
        domain = self.config.get("domain")
        return dict(domain) if isinstance(domain, dict) else None

    @property
    def provenance(self) -> dict[str, str]:
        """``{"name": ..., "weights_sha256": ...}`` for the verdict's provenance."""
        return {"name": self.name, "weights_sha256": str(self.config.get("weights_sha256", ""))}

    def features(self, image: Any, material_map: Any | None) -> np.ndarray:
        """Return the model input (channels × rows × columns) for an analysed image and its map."""
        zeff = getattr(material_map, "zeff", None) if material_map is not None else getattr(image, "zeff", None)
        classes = getattr(material_map, "classes", None) if material_map is not None else getattr(image, "classes", None)
        if self.config["feature_set"] == "alpha_material" and (zeff is None or classes is None):
            raise ModelError(f"model {self.name!r} needs the material map (zeff, classes) of the scan")
        return feature_stack(
            image.attenuation_high, image.attenuation_low, feature_set=self.config["feature_set"],
            zeff=zeff, classes=classes, alpha_scale=float(self.config.get("alpha_scale", 5.0)),
        )

    def score_map(self, features: np.ndarray) -> np.ndarray:
        """Return the per-pixel score map in [0, 1] (segmenter and autoencoder kinds)."""
        kind = self.config["kind"]
        inference = self.config.get("inference", {})
        with torch.no_grad():
            x = torch.from_numpy(features)[None].to(self.device)
            if kind == "segmenter":
                return torch.sigmoid(self.module(x))[0, 0].cpu().numpy()
            if kind == "autoencoder":
                error = ((self.module(x) - x) ** 2).mean(dim=1, keepdim=True)
                size = int(inference.get("smooth_px", 5))
                error = torch.nn.functional.avg_pool2d(error, size, stride=1, padding=size // 2, count_include_pad=False)
                ratio = error[0, 0].cpu().numpy() / float(inference["error_scale"])
                return _calibrated(ratio, inference)
        raise ModelError(f"model {self.name!r} of kind {kind!r} has no score map")

    def __call__(self, image: Any, material_map: Any | None = None) -> DetectorResult:
        """Run the model on one analysed image; see :mod:`nii.learn.plugins`."""
        features = self.features(image, material_map)
        inference = self.config.get("inference", {})
        threshold = float(inference.get("region_threshold", 0.5))
        reason = str(self.config.get("reason", DEFAULT_REASON))
        classes = getattr(material_map, "classes", None) if material_map is not None else None
        if self.config["kind"] == "box_detector":
            with torch.no_grad():
                output = self.module([torch.from_numpy(features).to(self.device)])[0]
            boxes = output["boxes"].cpu().numpy()[:, [1, 0, 3, 2]]
            scores = output["scores"].cpu().numpy()
            scan_score = float(scores.max()) if scores.size else 0.0
            # an alarming scan always shows the boxes that made it alarm
            threshold = min(threshold, float(inference.get("alarm_threshold", threshold)))
            found = [
                _region(box, float(score), reason, classes) for box, score in zip(boxes, scores, strict=True) if score >= threshold
            ]
            regions = [r for r in found if r is not None]
        else:
            scores_map = self.score_map(features)
            scan_score = _top_mean(scores_map, int(inference.get("score_top_k", 16)))
            regions = _components(scores_map, threshold, int(inference.get("min_area_px", 4)), reason, classes)
        return DetectorResult(score=scan_score, regions=tuple(sorted(regions, key=lambda r: -r.score)), detector=self.name,
                              threshold=float(inference.get("alarm_threshold", 0.5)))


def _calibrated(ratio: np.ndarray, inference: dict[str, Any]) -> np.ndarray:
    """Map reconstruction-error ratios to [0, 1] with the clean-scan log-normal fit of the config."""
    log_ratio = np.log(np.maximum(ratio, 1e-12))
    z = (log_ratio - float(inference.get("log_mean", 0.0))) / max(float(inference.get("log_std", 1.0)), 1e-6)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def _top_mean(score_map: np.ndarray, count: int) -> float:
    flat = score_map.ravel()
    count = max(1, min(count, flat.size))
    return float(np.partition(flat, flat.size - count)[-count:].mean())


def _material(classes: Any, bbox: tuple[int, int, int, int]) -> str | None:
    if classes is None:
        return None
    row0, col0, row1, col1 = bbox
    window = np.asarray(classes)[row0:row1, col0:col1].ravel()
    window = window[window != NONE]
    if window.size == 0:
        return None
    return CLASS_NAMES.get(int(np.bincount(window).argmax()))


def _region(box: np.ndarray, score: float, reason: str, classes: Any) -> ScoredRegion | None:
    row0, col0 = int(np.floor(box[0])), int(np.floor(box[1]))
    row1, col1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
    if row1 <= row0 or col1 <= col0:
        return None
    bbox = (row0, col0, row1, col1)
    return ScoredRegion(bbox=bbox, score=min(1.0, max(0.0, score)), reason=reason, material=_material(classes, bbox))


def _components(score_map: np.ndarray, threshold: float, min_area: int, reason: str, classes: Any) -> list[ScoredRegion]:
    from scipy import ndimage

    labels, count = ndimage.label(score_map >= threshold)
    regions = []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        inside = labels[window] == index
        if int(inside.sum()) < min_area:
            continue
        bbox = (window[0].start, window[1].start, window[0].stop, window[1].stop)
        regions.append(ScoredRegion(bbox=bbox, score=float(score_map[window][inside].max()), reason=reason,
                                    material=_material(classes, bbox)))
    return regions


def load_detector(name: str, *, root: str | os.PathLike | None = None, device: str = "cpu") -> ZooDetector:
    """Load zoo model ``name`` as a plug-in detector (``detector(image, material_map)``).

    Parameters
    ----------
    name : str
        Folder name under the models root (e.g. ``"unet_segmenter"``).
    root : path-like, optional
        Models root; :func:`nii.resources.models_dir` when omitted.
    device : str
        Torch device.

    Raises
    ------
    ModelError
        If the model is missing, its config invalid or its weights unsafe or mismatched.
    """
    try:
        module, config = load_model(name, root=root, device=device)
    except NiiError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"model {name!r} cannot be loaded: {exc}") from exc
    return ZooDetector(module, config, device)
