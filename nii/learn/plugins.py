"""The detector plug-in interface: how a researcher's model reaches ``nii bench`` and ``nii inspect``.

A *detector* is any callable ::

    detector(image, material_map) -> DetectorResult | Mapping

where ``image`` is an :class:`nii.correction.AnalysedImage` (anything with
``attenuation_high`` and ``attenuation_low``, float32 rows × columns, α = −ln T) and
``material_map`` is a :class:`nii.discrimination.MaterialMap` or ``None``. It returns a
scan score in [0, 1] (how strongly the scan looks like it hides something) and a list of
scored regions on the analysed grid. A mapping ``{"score": s, "regions": [{"bbox": [...],
"score": ...}, ...]}`` is accepted too and normalised by :func:`as_result`.

Register one in a few lines::

    from nii.learn.plugins import register_detector

    def bright_spot(image, material_map):
        alpha = image.attenuation_high
        row, col = divmod(int(alpha.argmax()), alpha.shape[1])
        return {"score": float(alpha.max() > 6.0),
                "regions": [{"bbox": [row, col, row + 1, col + 1], "score": 0.5}]}

    register_detector("bright_spot", bright_spot)

or publish it from another package under the entry-point group ``nii.detectors``.

A detector may state the *input domain* it was trained on as an attribute ``domain``
(zoo models: ``config.json``'s ``domain``), a mapping with any of ``row_height_mm``,
``column_pitch_mm``, ``channels``, ``energies_mev`` and ``tolerance`` (see
:func:`domain_problems`). :func:`run_detector` refuses, with one sentence, to run it on
an image whose pixel size or energies are outside that domain, and notes a different
channel count in the result's ``warnings`` (which reach the verdict's warnings).

This module imports neither torch nor numpy-heavy code, so the inspection path may use
it without pulling in the learning stack; zoo models are loaded (and torch imported)
only when one is asked for by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from nii.errors import NiiError

__all__ = [
    "ENTRY_POINT_GROUP",
    "DEFAULT_REASON",
    "ModelError",
    "ScoredRegion",
    "DetectorResult",
    "Detector",
    "register_detector",
    "unregister_detector",
    "registered_detectors",
    "available_detectors",
    "get_detector",
    "run_detector",
    "as_result",
    "DOMAIN_TOLERANCE",
    "domain_problems",
]

#: Entry-point group under which third-party packages publish detectors.
ENTRY_POINT_GROUP = "nii.detectors"
#: Reason code given to a region that names none (inspection contract).
DEFAULT_REASON = "CONCEALMENT_ANOMALY"
#: Default tolerances of a detector's input domain: relative for the pixel size, MeV for
#: the energies. A domain's own ``tolerance`` mapping overrides them key by key.
DOMAIN_TOLERANCE: dict[str, float] = {"row_height": 0.25, "column_pitch": 0.25, "energy_mev": 0.25}


class ModelError(NiiError):
    """A learned model or detector plug-in is missing, unsafe, or returned invalid output."""


@dataclass(frozen=True)
class ScoredRegion:
    """One region a detector flags, in pixels of the analysed image.

    Parameters
    ----------
    bbox : tuple of int
        ``(row0, col0, row1, col1)``, half-open, in analysed-image pixels (rows are
        detector channels top-down, columns are conveyance positions).
    score : float
        Confidence in [0, 1] (dimensionless).
    reason : str
        Inspection-contract reason code, ``CONCEALMENT_ANOMALY`` by default.
    material : str or None
        Contract material class name (``"high_z"``, ...) when the detector knows it.
    label : str
        Free label of the detector (e.g. the class it predicted).
    """

    bbox: tuple[int, int, int, int]
    score: float
    reason: str = DEFAULT_REASON
    material: str | None = None
    label: str = ""

    def bbox_mm(self, position_mm: Sequence[float], row_height_mm: float) -> list[float]:
        """Return ``[z0, x0, z1, x1]`` in mm as the inspection contract defines it.

        Parameters
        ----------
        position_mm : sequence of float
            Conveyance position (mm) of each analysed column, increasing.
        row_height_mm : float
            Height (mm) of one image row at the scan plane.

        Returns
        -------
        list of float
            z down from the image top (mm) and conveyance position x (mm); x1 is the
            position of the last column inside the box plus one column pitch.
        """
        row0, col0, row1, col1 = self.bbox
        count = len(position_mm)
        if count == 0:
            raise ModelError("cannot convert a box to mm: the image has no columns")
        pitch = (position_mm[-1] - position_mm[0]) / (count - 1) if count > 1 else 0.0
        x0 = float(position_mm[min(col0, count - 1)])
        x1 = float(position_mm[min(col1, count) - 1]) + pitch
        return [row0 * row_height_mm, x0, row1 * row_height_mm, x1]

    def to_dict(self, image: Any = None) -> dict[str, Any]:
        """Return the region as the verdict's ``regions[]`` entry.

        Parameters
        ----------
        image : AnalysedImage, optional
            When given (with ``position_mm`` and ``row_height_mm``), ``bbox_mm`` is added.

        Returns
        -------
        dict
            ``bbox``, ``score``, ``reason``, ``material`` and, with an image, ``bbox_mm``.
        """
        entry: dict[str, Any] = {
            "bbox": [int(v) for v in self.bbox],
            "material": self.material,
            "score": round(float(self.score), 4),
            "reason": self.reason,
        }
        if self.label:
            entry["label"] = self.label
        if image is not None and hasattr(image, "position_mm") and hasattr(image, "row_height_mm"):
            entry["bbox_mm"] = [round(v, 1) for v in self.bbox_mm(list(image.position_mm), float(image.row_height_mm))]
        return entry


@dataclass(frozen=True)
class DetectorResult:
    """What a detector says about one scan.

    Parameters
    ----------
    score : float
        Scan-level score in [0, 1]: how strongly the scan departs from clean cargo.
    regions : tuple of ScoredRegion
        Flagged regions, best first.
    detector : str
        Name of the detector that produced it (filled by :func:`run_detector`).
    seconds : float
        Wall time of the call (s), filled by :func:`run_detector`.
    threshold : float
        The detector's operating point: the scan alarms when ``score >= threshold``
        (zoo models set it at 5 % false alarms on their validation scans; 0.5 when the
        detector gives none).
    warnings : tuple of str
        Notes for the verdict's ``warnings`` (e.g. the image differs from the
        detector's training domain in a way that does not stop it), filled by
        :func:`run_detector`.
    """

    score: float
    regions: tuple[ScoredRegion, ...] = field(default_factory=tuple)
    detector: str = ""
    seconds: float = 0.0
    threshold: float = 0.5
    warnings: tuple[str, ...] = ()

    @property
    def alarm(self) -> bool:
        """True when the scan score reaches the detector's operating point."""
        return self.score >= self.threshold

    def to_verdict_regions(self, image: Any = None) -> list[dict[str, Any]]:
        """Return ``regions`` as the verdict JSON's ``regions[]`` entries (see :meth:`ScoredRegion.to_dict`)."""
        return [region.to_dict(image) for region in self.regions]


@runtime_checkable
class Detector(Protocol):
    """Protocol of a detector: ``detector(image, material_map) -> DetectorResult | Mapping``."""

    def __call__(self, image: Any, material_map: Any | None) -> DetectorResult | Mapping[str, Any]:
        ...


_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_detector(name: str, detector: Callable[..., Any], *, replace: bool = False) -> None:
    """Register ``detector`` under ``name`` so that ``nii bench`` and ``inspect`` can run it.

    Parameters
    ----------
    name : str
        Registry key (letters, digits, ``_``, ``-``, ``.``).
    detector : callable
        ``detector(image, material_map) -> DetectorResult | Mapping`` (see module docstring).
    replace : bool
        Allow replacing an existing registration with the same name.

    Raises
    ------
    ModelError
        If the name is malformed, already taken (without ``replace``), or the object is
        not callable.
    """
    if not name or not all(ch.isalnum() or ch in "_-." for ch in name):
        raise ModelError(f"detector name {name!r} must be non-empty letters, digits, '_', '-' or '.'")
    if not callable(detector):
        raise ModelError(f"detector {name!r} is not callable")
    if name in _REGISTRY and not replace:
        raise ModelError(f"a detector named {name!r} is already registered; pass replace=True to replace it")
    _REGISTRY[name] = detector


def unregister_detector(name: str) -> None:
    """Remove ``name`` from the registry (no error if it is not there)."""
    _REGISTRY.pop(name, None)


def registered_detectors() -> dict[str, Callable[..., Any]]:
    """Return a copy of the in-process registry (name → callable)."""
    return dict(_REGISTRY)


def _entry_points() -> dict[str, metadata.EntryPoint]:
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)  # Python >= 3.10 API
    return {entry.name: entry for entry in found}


def available_detectors() -> list[str]:
    """Return the names of every detector that :func:`get_detector` can resolve.

    Registered callables, entry points of group ``nii.detectors`` and the model zoo's
    folders (``models/<name>/config.json``), sorted and without duplicates.
    """
    names = set(_REGISTRY) | set(_entry_points())
    from nii.resources import models_dir

    root = models_dir()
    if root.is_dir():
        names |= {child.name for child in root.iterdir() if (child / "config.json").is_file()}
    return sorted(names)


def get_detector(name: str) -> Callable[..., Any]:
    """Resolve a detector by name: registry, then entry points, then the model zoo.

    Parameters
    ----------
    name : str
        A registered name, an entry point of group ``nii.detectors``, or a zoo model
        folder name under :func:`nii.resources.models_dir`.

    Returns
    -------
    callable
        ``detector(image, material_map) -> DetectorResult | Mapping``.

    Raises
    ------
    ModelError
        If no detector of that name exists (the message lists those that do).
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    entries = _entry_points()
    if name in entries:
        try:
            loaded = entries[name].load()
        except Exception as exc:  # a broken third-party plug-in must not crash inspection
            raise ModelError(f"detector entry point {name!r} ({entries[name].value}) failed to load: {exc}") from exc
        if not callable(loaded):
            raise ModelError(f"detector entry point {name!r} ({entries[name].value}) is not callable")
        return loaded
    from nii.resources import models_dir

    config = models_dir() / name / "config.json"
    if config.is_file():
        return _zoo_detector(str(models_dir()), name, config.stat().st_mtime_ns)
    known = ", ".join(available_detectors()) or "none"
    raise ModelError(f"no detector named {name!r} (available: {known})")


@lru_cache(maxsize=8)
def _zoo_detector(root: str, name: str, config_mtime_ns: int) -> Callable[..., Any]:
    """Load a zoo model once per (folder, config version): inspecting a batch reuses it."""
    from nii.learn.zoo import load_detector  # imports torch: only now that a model is asked for

    return load_detector(name, root=root)


def _finite_unit(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise ModelError(f"{what} must be finite, got {number}")
    return min(1.0, max(0.0, number))


def _region(entry: Any, shape: tuple[int, int] | None, what: str) -> ScoredRegion | None:
    if isinstance(entry, ScoredRegion):
        bbox, score = entry.bbox, entry.score
        reason, material, label = entry.reason, entry.material, entry.label
    elif isinstance(entry, Mapping):
        if "bbox" not in entry:
            raise ModelError(f"{what} has no 'bbox'")
        bbox, score = entry["bbox"], entry.get("score", 1.0)
        reason = str(entry.get("reason") or DEFAULT_REASON)
        material = entry.get("material")
        label = str(entry.get("label", ""))
    else:
        raise ModelError(f"{what} must be a ScoredRegion or a mapping, got {type(entry).__name__}")
    try:
        row0, col0, row1, col1 = (int(round(float(v))) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what} bbox must be four numbers [row0, col0, row1, col1], got {bbox!r}") from exc
    if shape is not None:
        row0, row1 = max(0, row0), min(shape[0], row1)
        col0, col1 = max(0, col0), min(shape[1], col1)
    if row1 <= row0 or col1 <= col0:
        return None  # empty once clipped to the image: nothing to show
    return ScoredRegion(
        bbox=(row0, col0, row1, col1),
        score=_finite_unit(score, f"{what} score"),
        reason=reason,
        material=None if material is None else str(material),
        label=label,
    )


def as_result(output: Any, *, shape: tuple[int, int] | None = None, name: str = "detector") -> DetectorResult:
    """Validate and normalise a detector's output into a :class:`DetectorResult`.

    Parameters
    ----------
    output : DetectorResult or mapping
        What the detector returned; a mapping needs ``score`` and may have ``regions``.
    shape : tuple of int, optional
        ``(rows, columns)`` of the analysed image; boxes are clipped to it and dropped
        when empty.
    name : str
        Detector name used in error messages.

    Returns
    -------
    DetectorResult
        Scores clamped to [0, 1], regions sorted by decreasing score.

    Raises
    ------
    ModelError
        If the output is of the wrong type, a score is not a finite number, or a bbox
        is not four numbers.
    """
    if isinstance(output, DetectorResult):
        score, entries, threshold = output.score, output.regions, output.threshold
    elif isinstance(output, Mapping):
        if "score" not in output:
            raise ModelError(f"detector {name!r} returned a mapping without 'score'")
        score, entries = output["score"], output.get("regions", ())
        threshold = output.get("threshold", 0.5)
    else:
        raise ModelError(
            f"detector {name!r} must return a DetectorResult or a mapping, got {type(output).__name__}"
        )
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise ModelError(f"detector {name!r} regions must be a list")
    regions = [
        region
        for index, entry in enumerate(entries)
        if (region := _region(entry, shape, f"detector {name!r} region {index}")) is not None
    ]
    regions.sort(key=lambda region: -region.score)
    return DetectorResult(
        score=_finite_unit(score, f"detector {name!r} scan score"),
        regions=tuple(regions),
        detector=name,
        seconds=float(getattr(output, "seconds", 0.0) or 0.0),
        threshold=_finite_unit(threshold, f"detector {name!r} threshold"),
    )


def _image_geometry(image: Any) -> dict[str, Any]:
    """Row height, column pitch (mm), rows and energies (MeV) of an image, where it tells them."""
    found: dict[str, Any] = {}
    row = getattr(image, "row_height_mm", None)
    if row is not None and math.isfinite(float(row)) and float(row) > 0:
        found["row_height_mm"] = float(row)
    pitch = getattr(image, "column_pitch_mm", None)
    if pitch is None:
        position = getattr(image, "position_mm", None)
        if position is not None and len(position) > 1:
            steps = sorted(abs(float(b) - float(a)) for a, b in zip(position[:-1], position[1:], strict=True))
            pitch = steps[len(steps) // 2]
    if pitch is not None and math.isfinite(float(pitch)) and float(pitch) > 0:
        found["column_pitch_mm"] = float(pitch)
    alpha = getattr(image, "attenuation_high", None)
    if alpha is not None and len(getattr(alpha, "shape", ())) >= 2:
        found["channels"] = int(alpha.shape[0])
    energies = getattr(image, "energies_mev", None)
    if energies:
        found["energies_mev"] = [float(e) for e in energies][:2]
    return found


def domain_problems(domain: Mapping[str, Any] | None, image: Any) -> tuple[list[str], list[str]]:
    """Compare an image with a detector's stated input domain.

    Parameters
    ----------
    domain : mapping or None
        ``row_height_mm`` and ``column_pitch_mm`` (pixel size at the scan plane, mm),
        ``channels`` (image rows), ``energies_mev`` (high, low end-point energies, MeV)
        of the training scans, and optionally ``tolerance``: ``row_height`` and
        ``column_pitch`` (relative, default ±25 %), ``energy_mev`` (absolute, default
        0.25 MeV). Missing keys are not checked.
    image : AnalysedImage or ScanSample
        What the detector is about to see; attributes it lacks are not checked.

    Returns
    -------
    outside, notes : list of str
        ``outside``: phrases saying how the image is outside the domain (pixel size or
        energies beyond the tolerances: the detector must not run). ``notes``: phrases
        about differences within it (another channel count at the same pixel size).
    """
    if not domain:
        return [], []
    tolerance = dict(DOMAIN_TOLERANCE, **dict(domain.get("tolerance") or {}))
    seen = _image_geometry(image)
    outside: list[str] = []
    notes: list[str] = []
    for key, tol_key, what in (("row_height_mm", "row_height", "rows"), ("column_pitch_mm", "column_pitch", "columns")):
        trained, actual = domain.get(key), seen.get(key)
        if trained is None or actual is None:
            continue
        if abs(actual / float(trained) - 1.0) > float(tolerance[tol_key]):
            outside.append(f"{actual:.3g} mm {what} where it was trained on {float(trained):.3g} mm "
                           f"(±{100 * float(tolerance[tol_key]):.0f} %)")
    trained_e, actual_e = domain.get("energies_mev"), seen.get("energies_mev")
    if trained_e and actual_e:
        trained_e = [float(e) for e in trained_e][:2]
        if len(trained_e) != len(actual_e) or any(
                abs(a - t) > float(tolerance["energy_mev"]) for a, t in zip(actual_e, trained_e, strict=True)):
            outside.append(f"{'/'.join(f'{e:g}' for e in actual_e)} MeV where it was trained on "
                           f"{'/'.join(f'{e:g}' for e in trained_e)} MeV")
    trained_c, actual_c = domain.get("channels"), seen.get("channels")
    if trained_c is not None and actual_c is not None and int(trained_c) != actual_c:
        notes.append(f"{actual_c} rows where it was trained on {int(trained_c)}-row scans of the same pixel size")
    return outside, notes


def run_detector(
    detector: str | Callable[..., Any],
    image: Any,
    material_map: Any | None = None,
    *,
    outside_domain: str = "refuse",
) -> DetectorResult:
    """Run a detector (by name or as a callable) on one analysed image and validate its output.

    Parameters
    ----------
    detector : str or callable
        A name resolvable by :func:`get_detector`, or the callable itself.
    image : AnalysedImage
        Needs ``attenuation_high`` and ``attenuation_low`` (rows × columns, α = −ln T).
    material_map : MaterialMap or None
        The discrimination result for the same image, when available.
    outside_domain : {"refuse", "warn"}
        What to do when the image is outside the detector's stated input domain
        (attribute ``domain``, see :func:`domain_problems`): raise :class:`ModelError`
        (default), or run it anyway and say so in the result's ``warnings``.

    Returns
    -------
    DetectorResult
        With ``detector`` (name), ``seconds`` (wall time, s) and ``warnings`` filled in.

    Raises
    ------
    ModelError
        If the detector cannot be found, the image is outside its domain (with
        ``outside_domain="refuse"``), it raises a non-library error, or returns invalid
        output.

    Notes
    -----
    Refusing is the default because a convolutional model fed pixels of another size or
    energies it never saw does not give a weaker answer but a wrong one (a 64-channel
    model on a 1024-channel scan flags about a hundred regions of a clean container);
    a warning beside an ``inspect`` verdict would still send the container to be
    opened. The caller asked for the model by name, so an error naming the mismatch is
    the useful answer.
    """
    import time

    if outside_domain not in ("refuse", "warn"):
        raise ModelError(f"outside_domain must be 'refuse' or 'warn', got {outside_domain!r}")
    name = detector if isinstance(detector, str) else getattr(detector, "__name__", None) or getattr(
        detector, "name", None) or type(detector).__name__
    function = get_detector(detector) if isinstance(detector, str) else detector
    shape = tuple(image.attenuation_high.shape[:2]) if hasattr(image, "attenuation_high") else None
    outside, notes = domain_problems(getattr(function, "domain", None), image)
    warnings = [f"detector {name!r} sees {note}" for note in notes]
    if outside:
        sentence = (f"detector {name!r} is outside the input domain it was trained on: this scan has "
                    f"{' and '.join(outside)}")
        if outside_domain == "refuse":
            raise ModelError(sentence + "; it was not run (leave it out, or retrain it on scans of this scanner).")
        warnings.insert(0, sentence + "; its results are unreliable.")
    started = time.perf_counter()
    try:
        output = function(image, material_map)
    except NiiError:
        raise
    except Exception as exc:
        raise ModelError(f"detector {name!r} failed: {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - started
    result = as_result(output, shape=shape, name=name)
    return DetectorResult(score=result.score, regions=result.regions, detector=name, seconds=seconds,
                          threshold=result.threshold, warnings=tuple(warnings))
