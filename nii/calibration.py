"""Calibration: the scanner's forward model fitted to its step wedges, and the Z_eff lookup.

A :class:`Calibration` holds a :class:`~nii.scanner_model.ScannerModel` (effective
spectrum × detector response per energy, with semiempirical correction terms), the
wedge steps it was fitted to with their residuals, and provenance. From the model come
the curves ``R = α_L / α_H`` against ``α_H`` of known materials (Chen, Zhao & Li, Nucl.
Sci. Tech. 27, 25, 2016), the per-pixel ``(α_H, R) → Z_eff`` table, and the region
estimate of :mod:`nii.region_estimate`.

Two sources:

* :func:`calibrate` fits the model to the scanner's own step-wedge scans (NXR of kind
  ``calibration`` with a ``phantom`` list): for each block, the mean unclipped
  transmission over its interior and its noise. A physically wrong fit is refused.
* :func:`calibration_from_physics`: the same model with nominal parameters
  (``source = "physics-model"``), used when no calibration is given.

The JSON file carries a content digest; loading checks it, every field's type, the
scanner binding (``scanner_id``, detector geometry) and the physics (α_L > α_H, α
rising with thickness, R falling with Z at equal α_H, the steps fitting the model).
Measured curves are never extrapolated: between and beyond the steps the model speaks.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from nii import __version__
from nii.classes import class_of_zeff
from nii.errors import CalibrationError
from nii.io_utils import atomic_write_text
from nii.resources import read_catalogue, seed_path
from nii.scanner_model import ScannerModel, fit_scanner_model, step_residuals

__all__ = [
    "MaterialCurve",
    "Calibration",
    "LookupTable",
    "calibrate",
    "calibration_from_physics",
    "load_calibration",
    "measure_phantoms",
    "physics_curves",
    "model_curves",
    "physical_problem",
    "content_digest",
    "CALIBRATION_FORMAT",
]

CALIBRATION_FORMAT = "nii-calibration"
_VERSION = 2
#: Lookup-table resolution (α_H nodes × ratio nodes).
_ALPHA_NODES = 640
_RATIO_NODES = 2048
#: Margin of a phantom block excluded from its interior (image pixels).
_INTERIOR_MARGIN_PX = 3
#: Accuracy of a calibration curve in R = α_L/α_H (interpolation between wedge steps
#: and the noise of their means): a point this close above the lightest curve is read
#: as the lightest material.
_LIGHTEST_TOLERANCE = 0.0015
# Lookup tables shared between Calibration objects of identical content, most recent last.
_SHARED_TABLES: dict[tuple[str, str], Any] = {}
_SHARED_TABLES_MAX = 8
_MIN_INTERIOR_PIXELS = 9


# --------------------------------------------------------------------------- curves


@dataclass
class MaterialCurve:
    """Points ``(α_H, α_L)`` of one material over a range of thicknesses.

    Attributes
    ----------
    name : str
        Material name.
    zeff : float
        Effective atomic number of the material (:func:`nii.physics.zeff`).
    attenuation_high, attenuation_low : numpy.ndarray
        Mean ``α = −ln T`` per point, sorted by ``attenuation_high`` (dimensionless).
    noise_high, noise_low : numpy.ndarray
        Per-pixel noise standard deviation of ``α`` at each point (0 for the model).
    areal_density_g_cm2 : numpy.ndarray
        Mass thickness of each point, g/cm² (NaN when unknown).
    composition : dict
        Element mass fractions.
    origin : str
        ``"model"`` (predicted by a calibration's scanner model), ``"physics-model"``
        (:func:`physics_curves`) or what a curve-only calibration built in code says.
    measured : numpy.ndarray of bool
        Which points were measured (all of a model's curves are predictions: measured
        steps live in :attr:`Calibration.steps`, never extrapolated).
    """

    name: str
    zeff: float
    attenuation_high: np.ndarray
    attenuation_low: np.ndarray
    noise_high: np.ndarray
    noise_low: np.ndarray
    areal_density_g_cm2: np.ndarray
    composition: dict[str, float] = field(default_factory=dict)
    origin: str = "wedge"
    measured: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, n), np.float64) for n in _CURVE_ARRAYS]
        order = np.argsort(arrays[0], kind="stable")
        for name, values in zip(_CURVE_ARRAYS, arrays, strict=True):
            setattr(self, name, values[order])
        measured = np.ones(order.size, bool) if self.measured is None else np.asarray(self.measured, bool)
        if measured.shape != order.shape:
            raise CalibrationError(f"curve {self.name!r}: 'measured' has {measured.size} flags for {order.size} points")
        self.measured = measured[order]

    @property
    def ratio(self) -> np.ndarray:
        """``R = α_L / α_H`` of each point (dimensionless)."""
        return self.attenuation_low / self.attenuation_high

    @property
    def ratio_noise(self) -> np.ndarray:
        """Per-pixel noise of ``R`` at each point, ``sqrt(σ_L² + R² σ_H²) / α_H``."""
        return np.sqrt(self.noise_low**2 + self.ratio**2 * self.noise_high**2) / self.attenuation_high

    def ratio_at(self, attenuation_high: np.ndarray) -> np.ndarray:
        """Return ``R`` at the given ``α_H`` (linear in α_H, constant beyond the points)."""
        return np.interp(attenuation_high, self.attenuation_high, self.ratio)

    def mass_attenuation_at(self, attenuation_high: np.ndarray) -> np.ndarray:
        """Return the effective high-energy mass attenuation ``α_H / ρt`` (cm²/g) at ``α_H``."""
        known = np.isfinite(self.areal_density_g_cm2) & (self.areal_density_g_cm2 > 0)
        if not known.any():
            return np.full(np.shape(attenuation_high), np.nan)
        kappa = self.attenuation_high[known] / self.areal_density_g_cm2[known]
        return np.interp(attenuation_high, self.attenuation_high[known], kappa)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        points = {name: [_finite_or_none(v) for v in getattr(self, name)] for name in _CURVE_ARRAYS}
        points["measured"] = [bool(v) for v in (self.measured if self.measured is not None else [])]
        return {
            "name": self.name,
            "zeff": self.zeff,
            "origin": self.origin,
            "composition": dict(self.composition),
            "points": points,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> MaterialCurve:
        """Parse :meth:`to_dict`'s form; ``source`` names the file for errors."""
        if not isinstance(data, dict):
            raise CalibrationError(f"{source}: a curve is not a JSON object")
        name = data.get("name")
        zeff = data.get("zeff")
        points = data.get("points")
        if not isinstance(name, str) or not isinstance(zeff, (int, float)) or not math.isfinite(zeff):
            raise CalibrationError(f"{source}: a curve lacks a name or a finite zeff")
        if not isinstance(points, dict):
            raise CalibrationError(f"{source}: curve {name!r} has no 'points' object")
        arrays = {}
        for key in _CURVE_ARRAYS:
            values = points.get(key)
            if not isinstance(values, list) or not all(v is None or isinstance(v, (int, float)) for v in values):
                raise CalibrationError(f"{source}: curve {name!r} field points.{key} is not a list of numbers")
            arrays[key] = np.array([np.nan if v is None else v for v in values], np.float64)
        lengths = {a.size for a in arrays.values()}
        if len(lengths) != 1 or lengths.pop() < 1:
            raise CalibrationError(f"{source}: curve {name!r} has point lists of different or zero lengths")
        high, low = arrays["attenuation_high"], arrays["attenuation_low"]
        if not (np.all(np.isfinite(high)) and np.all(np.isfinite(low)) and np.all(high > 0)):
            raise CalibrationError(f"{source}: curve {name!r} has non-finite or non-positive attenuations")
        composition = data.get("composition") or {}
        if not isinstance(composition, dict):
            raise CalibrationError(f"{source}: curve {name!r} composition is not an object")
        measured = points.get("measured")
        if measured is not None and (not isinstance(measured, list) or len(measured) != high.size):
            raise CalibrationError(f"{source}: curve {name!r} field points.measured is not one flag per point")
        return cls(name=name, zeff=float(zeff), composition=composition, origin=str(data.get("origin", "wedge")),
                   measured=None if measured is None else np.array(measured, bool), **arrays)


_CURVE_ARRAYS = ("attenuation_high", "attenuation_low", "noise_high", "noise_low", "areal_density_g_cm2")


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- lookup table


@dataclass(frozen=True)
class LookupTable:
    """Effective Z, mass attenuation and ambiguity on a regular ``(α_H, R)`` grid.

    Attributes
    ----------
    alpha_step, ratio_start, ratio_step : float
        Grid: ``α_H = i × alpha_step``, ``R = ratio_start + j × ratio_step``.
    zeff : numpy.ndarray of float32, (A, B)
        Effective Z at each node.
    zeff_per_ratio : numpy.ndarray of float32, (A, B)
        ``|∂Z/∂R|`` (for noise propagation).
    mass_attenuation_cm2_g : numpy.ndarray of float32, (A, B)
        Effective high-energy mass attenuation of the fitted material, cm²/g.
    ambiguous : numpy.ndarray of bool, (A, B)
        More than one material class gives this ``(α_H, R)`` (a physical degeneracy).
    """

    alpha_step: float
    ratio_start: float
    ratio_step: float
    zeff: np.ndarray
    zeff_per_ratio: np.ndarray
    mass_attenuation_cm2_g: np.ndarray
    ambiguous: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.zeff.shape)  # type: ignore[return-value]

    @cached_property
    def stacked(self) -> np.ndarray:
        """``(A·B, 4)`` float32: Z, κ, |∂Z/∂R|, ambiguous (0/1) of each node, row-major."""
        values = np.stack(
            [self.zeff, self.mass_attenuation_cm2_g, self.zeff_per_ratio, self.ambiguous.astype(np.float32)], axis=-1
        )
        return np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 4)

    @cached_property
    def packed(self) -> np.ndarray:
        """``(A·B, 4)`` float32: Z, κ, class code, ambiguous (0/1) of each node, row-major."""
        codes = np.asarray(class_of_zeff(self.zeff), np.float32)
        values = np.stack([self.zeff, self.mass_attenuation_cm2_g, codes, self.ambiguous.astype(np.float32)], axis=-1)
        return np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 4)


def _build_table(curves: list[MaterialCurve], alpha_max: float, reading: str = "lower") -> LookupTable:
    """Tabulate Z on an (α_H, R) grid; where several segments between curves give the
    same R (a degeneracy), ``reading`` picks the ``"lower"`` or the ``"higher"`` Z."""
    curves = sorted(curves, key=lambda c: c.zeff)
    z = np.array([c.zeff for c in curves])
    alpha = np.linspace(0.0, alpha_max, _ALPHA_NODES)
    ratios = np.stack([c.ratio_at(alpha) for c in curves])  # K × A
    kappas = np.stack([c.mass_attenuation_at(alpha) for c in curves])
    # fill unknown κ (no areal density) from the nearest known curve in Z
    known = np.isfinite(kappas).all(axis=1)
    if known.any():
        for k in (int(i) for i in np.flatnonzero(~known)):
            nearest = np.flatnonzero(known)[np.argmin(np.abs(z[known] - z[k]))]
            kappas[k] = kappas[nearest]
    else:
        kappas[:] = np.nan
    margin = 0.1
    ratio_start = float(np.min(ratios) - margin)
    ratio_stop = float(np.max(ratios) + margin)
    r = np.linspace(ratio_start, ratio_stop, _RATIO_NODES)
    # All α_H nodes at once: arrays are (α nodes × ratio nodes).
    grid = r[None, :]
    zeff = np.full((alpha.size, r.size), np.nan)
    kappa = np.full_like(zeff, np.nan)
    ambiguous = np.zeros(zeff.shape, bool)
    first_class = np.zeros(zeff.shape, np.int64)
    segments = list(range(len(curves) - 1))
    for k in segments if reading == "lower" else segments[::-1]:
        r0, r1 = ratios[k][:, None], ratios[k + 1][:, None]
        lo, hi = np.minimum(r0, r1), np.maximum(r0, r1)
        # only the ratio columns this segment can reach, at any α_H
        j0 = int(np.searchsorted(r, lo.min(), side="left"))
        j1 = int(np.searchsorted(r, hi.max(), side="right"))
        if j1 <= j0:
            continue
        band = np.s_[:, j0:j1]
        sub = grid[band]
        inside = (sub >= lo) & (sub <= hi)
        flat = r1 == r0
        t = np.where(flat, 0.5, (sub - r0) / np.where(flat, 1.0, r1 - r0))
        zk = z[k] + t * (z[k + 1] - z[k])
        kk = kappas[k][:, None] + t * (kappas[k + 1] - kappas[k])[:, None]
        cls = np.asarray(class_of_zeff(zk), np.int64)
        new = inside & np.isnan(zeff[band])
        ambiguous[band] |= inside & ~new & (cls != first_class[band])
        zeff[band][new] = zk[new]
        kappa[band][new] = kk[new]
        first_class[band][new] = cls[new]
    # outside every segment: above the highest curve or below the lowest
    nodes = np.arange(alpha.size)
    top, bottom = np.argmax(ratios, axis=0), np.argmin(ratios, axis=0)
    r_top = ratios[top, nodes][:, None]
    above = np.isnan(zeff) & (grid > r_top)
    below = np.isnan(zeff) & ~above
    extrapolated = np.broadcast_to(z[top][:, None], zeff.shape)
    if len(curves) > 1:
        steep = (top == 0) & (ratios[1] != ratios[0])
        slope = (z[1] - z[0]) / np.where(steep, ratios[1] - ratios[0], 1.0)
        from_lightest = np.clip(z[0] + (grid - ratios[0][:, None]) * slope[:, None], 1.0, z[0])
        extrapolated = np.where(steep[:, None], from_lightest, extrapolated)
    zeff = np.where(above, extrapolated, zeff)
    kappa = np.where(above, kappas[top, nodes][:, None], kappa)
    zeff = np.where(below, z[bottom][:, None], zeff)
    kappa = np.where(below, kappas[bottom, nodes][:, None], kappa)
    # just above the lightest curve (within the calibration's accuracy): nothing is
    # much lighter than its material, so read it as that material rather than as a
    # thin heavy absorber whose curve crosses there (flagged ambiguous)
    lightest = ratios[0][:, None]
    near_lightest = (grid > lightest) & (grid <= lightest + _LIGHTEST_TOLERANCE) & (zeff > z[0])
    ambiguous |= near_lightest
    zeff = np.where(near_lightest, z[0], zeff)
    kappa = np.where(near_lightest, kappas[0][:, None], kappa)
    slope = np.abs(np.gradient(zeff, r, axis=1))
    return LookupTable(
        alpha_step=float(alpha[1] - alpha[0]),
        ratio_start=ratio_start,
        ratio_step=float(r[1] - r[0]),
        zeff=zeff.astype(np.float32),
        zeff_per_ratio=slope.astype(np.float32),
        mass_attenuation_cm2_g=kappa.astype(np.float32),
        ambiguous=ambiguous,
    )


# --------------------------------------------------------------------------- calibration


@dataclass
class Calibration:
    """A scanner's calibration: its forward model, the wedge steps it was fitted to, provenance.

    Attributes
    ----------
    curves : list of MaterialCurve, optional
        Curves of known materials; by default those the model predicts for the wedge
        materials and the reference elements (``seeds/calibration.toml``).
    energies_mev : list of float
        Endpoint energies (MeV), highest first.
    model : ScannerModel or None
        The forward model (:mod:`nii.scanner_model`); None only for curve-only
        calibrations built in code.
    scanner_id : str or None
        Scanner the wedges were scanned on (None: any scanner, physics model).
    channels : int or None
        Detector channels of that scanner.
    pitch_mm : float or None
        Detector channel pitch (mm).
    sample_dtype : str or None
        Raw sample type of the wedge scans.
    source : str
        ``"wedge-scans"`` or ``"physics-model"``.
    wedge_files : list of dict
        ``{"path", "sha256"}`` of each wedge scan.
    steps : list of dict
        The measured wedge steps (``name``, ``composition``, ``areal_density_g_cm2``,
        ``attenuation_high``/``_low`` = −ln of the mean unclipped T, ``sigma_high``/``_low``
        of those means, ``noise_high``/``_low`` per pixel, ``pixels``).
    residuals : list of dict
        The fit's residual per step and energy (:func:`nii.scanner_model.step_residuals`).
    accuracy : float
        Relative accuracy of the model's α (RMS relative residual of the fit, at least the
        systematic floor): the region estimate adds it to the noise.
    software, created_at : str
        Creating software and UTC time (ISO 8601).
    notes : list of str
        What was skipped or assumed.
    """

    curves: list[MaterialCurve] | None = None
    energies_mev: list[float] = field(default_factory=list)
    model: ScannerModel | None = None
    scanner_id: str | None = None
    channels: int | None = None
    pitch_mm: float | None = None
    sample_dtype: str | None = None
    source: str = "wedge-scans"
    wedge_files: list[dict[str, str]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    residuals: list[dict[str, Any]] = field(default_factory=list)
    accuracy: float = 0.0
    software: str = f"nii {__version__}"
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.model is not None:
            if not self.energies_mev:
                self.energies_mev = self.model.energies_mev
            if self.curves is None:
                self.curves = model_curves(self.model)
        if not self.curves or len({round(c.zeff, 3) for c in self.curves}) < 2:
            raise CalibrationError("a calibration needs curves of at least two materials of different effective Z")
        if len(self.energies_mev) < 2:
            raise CalibrationError("a calibration needs two energies")
        self.energies_mev = [float(e) for e in self.energies_mev]

    # -- identity
    @property
    def wedge_sha256(self) -> list[str]:
        """SHA-256 of each wedge scan."""
        return [f.get("sha256", "") for f in self.wedge_files]

    @cached_property
    def identifier(self) -> str:
        """Short provenance string: source and a hash of the content (not of its creation time)."""
        content = self.to_dict()
        content.pop("created_at", None)
        content.pop("digest", None)
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.source}:{self.scanner_id or 'any'}:{digest}"

    @property
    def materials(self) -> list[str]:
        return [c.name for c in self.curves or []]

    @property
    def alpha_high_max(self) -> float:
        """Largest α_H of the table: the curves' range plus 30 % (at least 12)."""
        return max(12.0, 1.3 * max(float(c.attenuation_high.max()) for c in self.curves or []))

    @property
    def lookup_table(self) -> LookupTable:
        """The ``(α_H, R) → Z_eff`` table built from the curves, lower-Z reading (cached)."""
        return self.table("lower")

    def table(self, reading: str = "lower") -> LookupTable:
        """The ``(α_H, R) → Z_eff`` table (cached per reading).

        Parameters
        ----------
        reading : {"lower", "higher"}
            Which Z to report where two materials give the same attenuation pair
            (thin heavy absorbers against lighter metals): the lower (fewer false
            high-Z alarms) or the higher (no high-Z object read as a lighter one).
        """
        if reading not in ("lower", "higher"):
            raise CalibrationError(f"degenerate reading must be 'lower' or 'higher', got {reading!r}")
        cache = self.__dict__.setdefault("_tables", {})
        if reading not in cache:
            key = (self.identifier, reading)
            shared = _SHARED_TABLES.pop(key, None)
            if shared is None:
                shared = _build_table(list(self.curves or []), self.alpha_high_max, reading)
            _SHARED_TABLES[key] = shared
            while len(_SHARED_TABLES) > _SHARED_TABLES_MAX:
                _SHARED_TABLES.pop(next(iter(_SHARED_TABLES)))
            cache[reading] = shared
        return cache[reading]

    def estimator(self) -> Any:
        """The region estimator on this calibration's model (cached), or None without a model."""
        if self.model is None:
            return None
        cache = self.__dict__.setdefault("_estimator", {})
        if "value" not in cache:
            from nii.region_estimate import RegionEstimator

            key = ("estimator", self.identifier)
            shared = _SHARED_TABLES.pop(key, None)  # type: ignore[call-overload]
            if shared is None:
                shared = RegionEstimator(self.model, accuracy=self.accuracy, z_step=float(_model_seeds()["z_step"]))
            _SHARED_TABLES[key] = shared  # type: ignore[index]
            cache["value"] = shared
        return cache["value"]

    # -- compatibility
    def check_compatible(self, header: Any, *, source: str | None = None) -> None:
        """Raise :class:`CalibrationError` if the scan's scanner, energies or detector differ.

        Parameters
        ----------
        header : scanner_io.NxrHeader
            Header of the scan to be analysed (``scanner_id``, ``energies_mev``, ``channels``).
        source : str, optional
            Name of the scan for the message.
        """
        scan_name = source or getattr(header, "scan_id", "the scan")
        scanner = _header_value(header, "scanner_id")
        energies = [float(e) for e in (_header_value(header, "energies_mev") or [])][:2]
        channels = _header_value(header, "channels")
        problems = []
        if self.source != "physics-model":
            if not self.scanner_id or not self.channels:
                problems.append("the calibration names no scanner_id or detector channels")
            elif not scanner:
                problems.append(f"the scan names no scanner (calibration is for {self.scanner_id!r})")
        if self.scanner_id and scanner and str(scanner) != self.scanner_id:
            problems.append(f"scanner {self.scanner_id!r} vs {scanner!r}")
        if len(energies) < 2 or not np.allclose(energies, self.energies_mev[:2], rtol=0, atol=1e-6):
            problems.append(f"energies {_mev(self.energies_mev)} vs {_mev(energies)}")
        if self.channels and channels and int(channels) != int(self.channels):
            problems.append(f"{self.channels} vs {channels} detector channels")
        if problems:
            raise CalibrationError(
                f"calibration ({self.source}, scanner {self.scanner_id or 'any'}) does not match "
                f"{scan_name}: " + "; ".join(problems)
            )

    # -- JSON
    def to_dict(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            "format": CALIBRATION_FORMAT,
            "version": _VERSION,
            "source": self.source,
            "scanner_id": self.scanner_id,
            "energies_mev": list(self.energies_mev),
            "detector": {"channels": self.channels, "pitch_mm": self.pitch_mm},
            "sample_dtype": self.sample_dtype,
            "wedge_files": list(self.wedge_files),
            "software": self.software,
            "created_at": self.created_at,
            "notes": list(self.notes),
        }
        if self.model is not None:
            content["model"] = self.model.to_dict()
            content["steps"] = [_json_step(s) for s in self.steps]
            content["fit"] = {"accuracy": float(self.accuracy), "residuals": [_json_ready(r) for r in self.residuals]}
        else:
            content["curves"] = [c.to_dict() for c in self.curves or []]
        content["digest"] = content_digest(content)
        return content

    def to_json(self) -> str:
        """Return the calibration as a JSON document (with its content digest)."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "calibration") -> Calibration:
        """Parse and check a calibration JSON document; ``source`` names it in errors.

        Checks, each failure one sentence (:class:`CalibrationError`): the format and its
        version, every field's type, the content digest, ``scanner_id`` and the detector
        geometry of wedge calibrations, and the physics of the model (α_L > α_H, α
        rising with thickness, R falling with Z at equal α_H, the wedge steps fitting
        the model within its stated accuracy, positive noise).
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CalibrationError(f"{source}: not a valid JSON calibration ({getattr(exc, 'msg', exc)})") from exc
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise CalibrationError(f"{source}: not an NII calibration (field 'format' is not {CALIBRATION_FORMAT!r})")
        if data.get("version") != _VERSION:
            raise CalibrationError(
                f"{source}: unsupported calibration version {data.get('version')!r} (this software reads version "
                f"{_VERSION}: run 'nii calibrate' on the wedge scans again)")
        try:
            calibration = _from_dict(data, source)
        except CalibrationError as exc:
            if str(exc).startswith(source):
                raise
            raise CalibrationError(f"{source}: {exc}") from exc
        return calibration

    def save(self, path: str | Path) -> Path:
        """Write the calibration JSON atomically to ``path``."""
        return atomic_write_text(path, self.to_json() + "\n")


def content_digest(content: dict[str, Any]) -> str:
    """SHA-256 of a calibration's content: canonical JSON of every field but ``digest``."""
    body = {k: v for k, v in content.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                 allow_nan=False).encode()).hexdigest()


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return _finite_or_none(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


_STEP_NUMBERS = ("areal_density_g_cm2", "attenuation_high", "attenuation_low", "sigma_high", "sigma_low",
                 "noise_high", "noise_low")


def _json_step(step: dict[str, Any]) -> dict[str, Any]:
    return _json_ready({"name": step["name"], "composition": dict(step["composition"]), "pixels": int(step["pixels"]),
                        **{k: float(step[k]) for k in _STEP_NUMBERS}})


def _require(condition: bool, sentence: str) -> None:
    if not condition:
        raise CalibrationError(sentence)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _from_dict(data: dict[str, Any], source: str) -> Calibration:
    """Type checks, digest, identity and physics of a parsed calibration document."""
    energies: Any = data.get("energies_mev")
    _require(isinstance(energies, list) and len(energies) == 2 and all(_is_number(e) and e > 0 for e in energies),
             f"{source}: field 'energies_mev' must list two positive energies in MeV")
    _require(float(energies[0]) > float(energies[1]),
             f"{source}: field 'energies_mev' must list the highest energy first")
    cal_source = data.get("source", "wedge-scans")
    _require(cal_source in ("wedge-scans", "physics-model"),
             f"{source}: field 'source' must be 'wedge-scans' or 'physics-model', got {cal_source!r:.40}")
    for key in ("software", "created_at"):
        _require(isinstance(data.get(key, ""), str), f"{source}: field '{key}' must be a string")
    notes: Any = data.get("notes", [])
    _require(isinstance(notes, list) and all(isinstance(n, str) for n in notes),
             f"{source}: field 'notes' must be a list of strings")
    wedge_files: Any = data.get("wedge_files", [])
    _require(isinstance(wedge_files, list) and all(
        isinstance(f, dict) and all(isinstance(v, str) for v in f.values()) for f in wedge_files),
        f"{source}: field 'wedge_files' must be a list of objects of strings (path, sha256)")
    sample_dtype: Any = data.get("sample_dtype")
    _require(sample_dtype is None or isinstance(sample_dtype, str), f"{source}: field 'sample_dtype' must be a string")
    _require("scanner_id" in data and "detector" in data,
             f"{source}: fields 'scanner_id' and 'detector' are required (they bind the calibration to its scanner)")
    scanner_id: Any = data.get("scanner_id")
    detector: Any = data.get("detector")
    _require(isinstance(detector, dict), f"{source}: field 'detector' must be an object with channels and pitch_mm")
    channels: Any = detector.get("channels")
    pitch: Any = detector.get("pitch_mm")
    _require(channels is None or (isinstance(channels, int) and not isinstance(channels, bool) and channels >= 1),
             f"{source}: field 'detector.channels' must be a positive integer, got {channels!r:.40}")
    _require(pitch is None or (_is_number(pitch) and pitch > 0),
             f"{source}: field 'detector.pitch_mm' must be a positive number of mm, got {pitch!r:.40}")
    if cal_source == "wedge-scans":
        _require(isinstance(scanner_id, str) and scanner_id.strip() != "",
                 f"{source}: a wedge calibration must name its scanner (field 'scanner_id' is empty or not a string)")
        _require(channels is not None and pitch is not None,
                 f"{source}: a wedge calibration must give its detector geometry (detector.channels and detector.pitch_mm)")
    else:
        _require(scanner_id is None or isinstance(scanner_id, str), f"{source}: field 'scanner_id' must be a string")
    digest: Any = data.get("digest")
    _require(isinstance(digest, str), f"{source}: the calibration has no content digest (field 'digest'); "
             "run 'nii calibrate' again")
    _require(digest == content_digest(data), f"{source}: the content digest does not match the file: it was edited "
             "or damaged after 'nii calibrate' wrote it; recalibrate or restore the original")
    common = dict(energies_mev=[float(e) for e in energies], scanner_id=scanner_id, channels=channels,
                  pitch_mm=None if pitch is None else float(pitch), sample_dtype=sample_dtype, source=cal_source,
                  wedge_files=list(wedge_files), software=str(data.get("software", "")),
                  created_at=str(data.get("created_at", "")), notes=list(notes))
    if "model" not in data:
        curves: Any = data.get("curves")
        _require(isinstance(curves, list), f"{source}: field 'model' (or 'curves') is missing")
        calibration = Calibration(curves=[MaterialCurve.from_dict(c, source) for c in curves], **common)
        _check_curves(calibration.curves or [], source)
        return calibration
    model = ScannerModel.from_dict(data["model"], source)
    _require(np.allclose(model.energies_mev, [float(e) for e in energies], atol=1e-6),
             f"{source}: the model's energies {_mev(model.energies_mev)} differ from energies_mev {_mev(energies)}")
    steps: Any = data.get("steps", [])
    _require(isinstance(steps, list), f"{source}: field 'steps' must be a list")
    parsed = [_parse_step(step, f"{source}: steps[{i}]") for i, step in enumerate(steps)]
    fit: Any = data.get("fit", {})
    _require(isinstance(fit, dict) and _is_number(fit.get("accuracy", 0.0)) and fit.get("accuracy", 0.0) >= 0
             and isinstance(fit.get("residuals", []), list),
             f"{source}: field 'fit' must hold a non-negative accuracy and a list of residuals")
    if cal_source == "wedge-scans":
        _require(len(parsed) >= 2, f"{source}: a wedge calibration must keep the steps it was fitted to")
    calibration = Calibration(model=model, steps=parsed, residuals=list(fit.get("residuals", [])),
                              accuracy=float(fit.get("accuracy", 0.0)), **common)
    problem = physical_problem(calibration.model, calibration.steps, calibration.accuracy)  # type: ignore[arg-type]
    _require(problem is None, f"{source}: {problem}; the calibration is refused")
    return calibration


def _parse_step(step: Any, where: str) -> dict[str, Any]:
    _require(isinstance(step, dict), f"{where} is not an object")
    _require(isinstance(step.get("name"), str), f"{where}.name must be a string")
    composition: Any = step.get("composition")
    _require(isinstance(composition, dict) and bool(composition) and all(
        isinstance(k, str) and _is_number(v) and v > 0 for k, v in composition.items()),
        f"{where}.composition must map element symbols to positive mass fractions")
    for key in _STEP_NUMBERS:
        _require(_is_number(step.get(key)), f"{where}.{key} must be a number")
    _require(isinstance(step.get("pixels"), int) and step["pixels"] > 0, f"{where}.pixels must be a positive integer")
    from nii.physics import atomic_number

    try:
        for symbol in composition:
            atomic_number(symbol)
    except Exception as exc:  # noqa: BLE001 - an unknown symbol is a bad file
        raise CalibrationError(f"{where}.composition names an unknown element ({exc})") from exc
    return {**step, "composition": {k: float(v) for k, v in composition.items()}}


def _check_curves(curves: list[MaterialCurve], source: str) -> None:
    """Sanity of a curve-only calibration: α_L > α_H, rising with thickness, positive noise."""
    for curve in curves:
        _require(bool(np.all(curve.attenuation_low > curve.attenuation_high)),
                 f"{source}: curve {curve.name!r} has alpha_L <= alpha_H (high and low energy swapped?)")
        known = np.isfinite(curve.areal_density_g_cm2)
        if known.sum() > 1:
            _require(bool(np.all(np.diff(curve.areal_density_g_cm2[known]) > 0)),
                     f"{source}: curve {curve.name!r} does not rise with thickness")
        _require(bool(np.all(curve.noise_high >= 0) and np.all(curve.noise_low >= 0)),
                 f"{source}: curve {curve.name!r} has negative noise")


def physical_problem(model: ScannerModel, steps: list[dict[str, Any]], accuracy: float) -> str | None:
    """The first physical impossibility of a model and its steps, as a sentence; None if sound.

    Checks: every measured step has α_L > α_H and positive noise; for the wedge
    materials (``seeds/calibration.toml``) over their thickness range the model's α
    rises with thickness and α_L > α_H; at equal α_H in ``order_alpha_high`` R = α_L/α_H
    falls with Z (PE > Al > Fe > Pb); and every step fits the model within the stated
    accuracy (``max_relative_residual`` and ``max_residual_sigmas``): a step relabelled
    (Z labels permuted) or scaled (areal density × 10) does not.
    """
    settings = _model_seeds()
    floor = 30.0 * max(abs(model.high.scatter), abs(model.low.scatter), 1e-7)
    for step in steps:
        name = f"step {step['name']} {float(step['areal_density_g_cm2']):g} g/cm2"
        if not (step["noise_high"] > 0 and step["noise_low"] > 0 and step["sigma_high"] > 0 and step["sigma_low"] > 0):
            return f"{name} has a non-positive noise"
        # (where the primary beam, not the scatter floor, makes the signal)
        if (step["attenuation_high"] > 0.02 and math.exp(-step["attenuation_low"]) > floor
                and not step["attenuation_low"] > step["attenuation_high"]):
            return f"{name} has alpha_L <= alpha_H (high and low energy swapped?)"
    seeds = _calibration_seeds()
    from nii.physics import material as catalogue_material
    from nii.physics import zeff

    areal = np.geomspace(1.0, float(seeds["physics_model"]["max_areal_density_g_cm2"]), 64)
    names = list(seeds["physics_model"]["materials"])
    order = []
    for name in names:
        item = catalogue_material(name)
        high, low = model.predict([(dict(item.composition), areal)])
        # where the primary beam, not the scatter floor, makes the signal
        primary = [30.0 * max(abs(e.scatter), 1e-7) for e in model.energies]
        readable = (np.exp(-high) > primary[0]) & (np.exp(-low) > primary[1])
        h, lo_ = high[readable], low[readable]
        if h.size < 2 or not (np.all(np.diff(h) > 0) and np.all(np.diff(lo_) > 0)):
            return f"the model's attenuation of {name} does not rise with thickness"
        if not np.all(lo_[h > 0.02] > h[h > 0.02]):
            return f"the model gives {name} alpha_L <= alpha_H (high and low energy swapped?)"
        order.append((float(zeff(item)), name, h, lo_ / h))
    order.sort()
    a0, a1 = (float(v) for v in settings["order_alpha_high"])
    grid = np.linspace(a0, a1, 10)
    tolerance = float(settings["order_tolerance"])
    for (z_light, light, h_light, r_light), (z_heavy, heavy, h_heavy, r_heavy) in zip(order, order[1:], strict=False):
        inside = (grid <= h_light[-1]) & (grid <= h_heavy[-1])
        if not inside.any():
            continue
        gap = np.interp(grid[inside], h_light, r_light) - np.interp(grid[inside], h_heavy, r_heavy)
        if np.any(gap <= tolerance):
            at = float(grid[inside][np.argmin(gap)])
            return (f"at alpha_H = {at:.1f} the model reads {heavy} (Z {z_heavy:.0f}) with a ratio alpha_L/alpha_H "
                    f"not below {light}'s (Z {z_light:.0f}): no scanner orders materials so")
    limit_relative = float(settings["max_relative_residual"])
    limit_sigmas = float(settings["max_residual_sigmas"])
    systematic = max(float(settings["systematic"]), float(accuracy))
    for entry in step_residuals(model, steps, systematic=systematic):
        for label in ("high", "low"):
            measured = entry[f"predicted_{label}"] + entry[f"residual_{label}"]
            relative = abs(entry[f"residual_{label}"]) / max(abs(measured), 1e-9)
            if relative > limit_relative and abs(entry[f"significance_{label}"]) > limit_sigmas:
                return (f"wedge step {entry['name']} {entry['areal_density_g_cm2']:g} g/cm2 measures alpha_{label[0].upper()}"
                        f" {measured:.4f} where the model predicts {entry[f'predicted_{label}']:.4f} "
                        f"({100 * relative:.1f} %, {abs(entry[f'significance_{label}']):.0f} sigma): its material "
                        "or thickness label is wrong")
    return None


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration JSON file.

    Raises
    ------
    CalibrationError
        Unreadable, not JSON, damaged (digest), or physically impossible.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise CalibrationError(f"{path}: not a regular file")
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise CalibrationError(f"{path}: {path.stat().st_size} bytes is too large for a calibration file")
        text = path.read_bytes()
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read the calibration file ({exc.strerror or exc})") from exc
    return Calibration.from_json(text, source=str(path))


_MAX_FILE_BYTES = 32 * 1024 * 1024


def _header_value(header: Any, name: str) -> Any:
    if isinstance(header, dict):
        return header.get(name)
    return getattr(header, name, None)


def _mev(energies: list[float]) -> str:
    return "/".join(f"{e:g}" for e in energies) + " MeV" if energies else "no energies"


# --------------------------------------------------------------------------- model curves


def _calibration_seeds() -> dict[str, Any]:
    return read_catalogue(seed_path("calibration.toml"), "calibration defaults file")


def _model_seeds() -> dict[str, Any]:
    return _calibration_seeds()["scanner_model"]


def _model_areal_densities(seeds: dict[str, Any]) -> tuple[np.ndarray, float]:
    model = seeds["physics_model"]
    areal = np.geomspace(float(model["min_areal_density_g_cm2"]), float(model["max_areal_density_g_cm2"]), int(model["steps"]))
    return areal, float(model["min_transmission"])


def _resolve_material(item: Any) -> tuple[str, dict[str, float]]:
    from nii.physics import material as catalogue_material

    if isinstance(item, str) and item[:1].islower():
        entry = catalogue_material(item)
        return entry.name, dict(entry.composition)
    if isinstance(item, str):
        return item, {item: 1.0}
    if hasattr(item, "composition"):
        return item.name, dict(item.composition)
    return "+".join(item), {str(k): float(v) for k, v in dict(item).items()}


def _predicted_curves(model: ScannerModel, materials: list[Any], areal: np.ndarray, min_transmission: float,
                      origin: str) -> list[MaterialCurve]:
    """The model's curve of each material over ``areal`` (g/cm²), where both energies
    transmit at least ``min_transmission`` and less than 1."""
    from nii.physics import zeff

    curves = []
    for item in materials:
        name, composition = _resolve_material(item)
        t_high, t_low = model.transmission([(composition, areal)])
        keep = (t_high >= min_transmission) & (t_low >= min_transmission) & (t_high < 1.0) & (t_low < 1.0)
        if not keep.any():
            continue
        zeros = np.zeros(int(keep.sum()))
        curves.append(MaterialCurve(name=name, zeff=float(zeff(composition)), attenuation_high=-np.log(t_high[keep]),
                                    attenuation_low=-np.log(t_low[keep]), noise_high=zeros, noise_low=zeros.copy(),
                                    areal_density_g_cm2=areal[keep], composition=composition, origin=origin))
    return curves


def model_curves(model: ScannerModel, materials: list[Any] | None = None, *, origin: str = "model") -> list[MaterialCurve]:
    """Curves ``(α_H, α_L)`` over thickness that a scanner model predicts.

    Parameters
    ----------
    model : ScannerModel
        The forward model.
    materials : list, optional
        Catalogue names, element symbols or compositions; default the wedge materials and
        the reference elements of ``seeds/calibration.toml``.
    origin : str
        Recorded origin of the curves.
    """
    from nii.physics import atomic_number, zeff

    seeds = _calibration_seeds()
    areal, min_t = _model_areal_densities(seeds)
    if materials is None:
        materials = list(seeds["physics_model"]["materials"])
        model_z = [float(zeff(_resolve_material(m)[1])) for m in materials]
        materials += [s for s in seeds["reference_elements"]["symbols"]
                      if all(abs(float(atomic_number(s)) - z) > 1.5 for z in model_z)]
    return _predicted_curves(model, materials, areal, min_t, origin)


def physics_curves(
    energies_mev: list[float],
    materials: list[Any],
    areal_density_g_cm2: np.ndarray,
    *,
    min_transmission: float = 1e-6,
    origin: str = "physics-model",
) -> list[MaterialCurve]:
    """Return the nominal physics model's curves of materials for two linac energies.

    Parameters
    ----------
    energies_mev : list of float
        Endpoint energies (MeV), highest first.
    materials : list of str, Material or mapping
        Catalogue names, materials or element compositions (mass fractions).
    areal_density_g_cm2 : numpy.ndarray
        Mass thicknesses of the points, g/cm².
    min_transmission : float
        Points whose high- or low-energy transmission falls below this are dropped.
    origin : str
        Recorded origin of the curves.
    """

    model = ScannerModel.nominal(energies_mev)
    areal = np.asarray(areal_density_g_cm2, np.float64)
    return _predicted_curves(model, materials, areal, min_transmission, origin)


def calibration_from_physics(header: Any) -> Calibration:
    """Return the calibration the nominal physics model predicts for a scan's energies.

    Parameters
    ----------
    header : scanner_io.NxrHeader or dict
        Header of the scan (``energies_mev``; ``scanner_id`` is not bound).

    Returns
    -------
    Calibration
        ``source == "physics-model"``: the scanner model with nominal parameters
        (:meth:`ScannerModel.nominal`), its curves of the wedge materials and reference
        elements; no scanner-specific measurement.
    """
    energies = [float(e) for e in (_header_value(header, "energies_mev") or [])]
    if len(energies) < 2:
        raise CalibrationError("the physics-model calibration needs a scan with two energies")
    key = tuple(energies[:2])
    cached = _PHYSICS_MODELS.get(key)
    if cached is None:
        cached = _PHYSICS_MODELS[key] = ScannerModel.nominal(energies[:2])
    return Calibration(
        model=cached,
        energies_mev=energies[:2],
        source="physics-model",
        accuracy=float(_model_seeds()["systematic"]),
        notes=["nominal scanner model from nii.physics (Boone & Chavez 1996 cross sections, Schiff spectrum, "
               "CdWO4 30 mm); not measured on a scanner"],
    )


_PHYSICS_MODELS: dict[tuple[float, ...], ScannerModel] = {}


# --------------------------------------------------------------------------- wedge scans


def _phantom_blocks(header: Any, source: str) -> list[dict[str, Any]]:
    phantoms = _header_value(header, "phantom") or []
    if not isinstance(phantoms, list) or not phantoms:
        raise CalibrationError(f"{source}: a calibration scan needs a 'phantom' list in its header")
    blocks = []
    for index, entry in enumerate(phantoms):
        where = f"{source}: phantom[{index}]"
        if not isinstance(entry, dict):
            raise CalibrationError(f"{where} is not an object")
        material = entry.get("material")
        if not isinstance(material, dict) or not isinstance(material.get("composition"), dict) or not material["composition"]:
            raise CalibrationError(f"{where} has no material.composition")
        try:
            thickness = float(entry["thickness_mm"])
            x0, x1 = (float(v) for v in entry["position_mm"])
            c0, c1 = (int(v) for v in entry["channels"])
            composition = {str(k): float(v) for k, v in material["composition"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{where} needs thickness_mm, position_mm [start, end] and channels [first, last]") from exc
        if not (thickness > 0 and x1 > x0 and c1 >= c0):
            raise CalibrationError(f"{where} has a non-positive thickness or an empty position/channel range")
        density: Any = material.get("density_g_cm3")
        areal = thickness / 10.0 * float(density) if _is_number(density) and density > 0 else float("nan")
        blocks.append(
            {
                "name": str(material.get("name") or "+".join(sorted(composition))),
                "composition": composition,
                "areal_density_g_cm2": areal,
                "position_mm": (x0, x1),
                "channels": (c0, c1),
            }
        )
    return blocks


def _pixel_variance(image: Any, energy: int, rows: np.ndarray, level: float) -> float:
    """Noise-model variance of one pixel's T at ``level`` in the given rows (mean over rows)."""
    noise = image.noise_high if energy == 0 else image.noise_low
    if noise is None:
        return float("nan")
    constant = float(np.mean(np.asarray(noise["constant"])[rows]))
    shot = float(np.mean(np.asarray(noise["shot"])[rows]))
    return constant + shot * max(level, 0.0) + float(noise["multiplicative"]) * level**2


def measure_phantoms(image: Any, header: Any, *, source: str = "scan") -> list[dict[str, Any]]:
    """Measure the mean transmission and its noise over the interior of each phantom block.

    Parameters
    ----------
    image : AnalysedImage
        Corrected image of a calibration scan.
    header : scanner_io.NxrHeader
        Its header, with the ``phantom`` list (positions in mm, channel ranges).
    source : str
        Name of the scan for errors.

    Returns
    -------
    list of dict
        Per usable block: ``name``, ``composition``, ``areal_density_g_cm2``,
        ``attenuation_high``, ``attenuation_low`` (−ln of the mean **unclipped**
        transmission), ``transmission_high``, ``transmission_low`` (those means),
        ``sigma_high``, ``sigma_low`` (standard deviation of the mean α, from the
        spread of the pixels), ``noise_high``, ``noise_low`` (per-pixel standard
        deviation of α), ``snr_high``, ``snr_low`` (mean T over its standard
        deviation), ``pixels``; blocks too small or saturated are left out.
    """
    blocks = _phantom_blocks(header, source)
    position = np.asarray(image.position_mm)
    channel = np.asarray(image.channel)
    rows, cols = image.attenuation_high.shape
    coverage = np.zeros((rows, cols), np.int32)
    footprints = []
    for block in blocks:
        in_cols = (position >= block["position_mm"][0]) & (position <= block["position_mm"][1])
        in_rows = (channel >= block["channels"][0]) & (channel <= block["channels"][1])
        coverage += in_rows[:, None] & in_cols[None, :]
        footprints.append((in_rows, in_cols))
    unusable = image.saturated | image.repaired | (coverage > 1)
    transmissions = (np.asarray(image.transmission_high, np.float64), np.asarray(image.transmission_low, np.float64))
    results = []
    m = _INTERIOR_MARGIN_PX
    for block, (in_rows, in_cols) in zip(blocks, footprints, strict=True):
        row_index, col_index = np.flatnonzero(in_rows), np.flatnonzero(in_cols)
        if row_index.size <= 2 * m or col_index.size <= 2 * m:
            continue
        r0, r1 = row_index.min() + m, row_index.max() - m + 1
        c0, c1 = col_index.min() + m, col_index.max() - m + 1
        usable = ~unusable[r0:r1, c0:c1]
        if usable.sum() < _MIN_INTERIOR_PIXELS or usable.mean() < 0.5:
            continue
        entry: dict[str, Any] = {k: block[k] for k in ("name", "composition", "areal_density_g_cm2")}
        pixels = int(usable.sum())
        good = True
        for label, t in zip(("high", "low"), transmissions, strict=True):
            values = t[r0:r1, c0:c1][usable]
            mean = float(np.mean(values))
            # the spread of the pixels, and at least the noise model's (correlated detector
            # blur makes neighbouring pixels alike; the model is per pixel)
            spread = float(np.var(values, ddof=1))
            model_var = _pixel_variance(image, 0 if label == "high" else 1, np.arange(r0, r1), mean)
            variance = max(spread, model_var) if math.isfinite(model_var) else spread
            sigma_t = math.sqrt(variance / pixels)
            if not mean > 0:
                good = False
                mean = float("nan")
            entry[f"transmission_{label}"] = mean
            entry[f"attenuation_{label}"] = -math.log(mean) if mean > 0 else float("nan")
            entry[f"sigma_{label}"] = sigma_t / mean if mean > 0 else float("inf")
            entry[f"noise_{label}"] = math.sqrt(variance) / mean if mean > 0 else float("inf")
            entry[f"snr_{label}"] = mean / sigma_t if sigma_t > 0 and mean > 0 else 0.0
        entry["pixels"] = pixels
        if good and entry["attenuation_high"] > 0:
            results.append(entry)
    return results


def calibrate(
    scans: list[Any],
    *,
    physics_assisted: bool = True,
    backend: str = "numpy",
    device: str | None = None,
) -> Calibration:
    """Fit the scanner model to step-wedge scans of the scanner itself.

    The model (:mod:`nii.scanner_model`): each energy's nominal spectrum × detector
    response, with a fitted tungsten-equivalent filtration and three semiempirical
    scales of the photoelectric, Compton and pair cross sections, fitted to every wedge
    step's mean unclipped transmission with its measured noise (plus the model's
    systematic floor), regularised towards nominal physics (``seeds/calibration.toml``).
    The fit is refused when it is physically wrong (:func:`physical_problem`). Steps
    too starved to measure are left out and named in the notes. Nothing measured is
    extrapolated: the curves and the Z_eff reading come from the fitted model.

    Parameters
    ----------
    scans : list of scanner_io.Scan or path-like
        Scans of kind ``calibration`` from one scanner, with a ``phantom`` list.
    physics_assisted : bool
        Kept for compatibility; the model always interpolates between materials.
    backend, device : str
        Array backend of the correction (see :func:`nii.correction.correct`).

    Returns
    -------
    Calibration
        ``source == "wedge-scans"``, with the fitted model, its steps and residuals.

    Raises
    ------
    CalibrationError
        No scan, a scan not of kind calibration, scans from different scanners or
        energies, fewer than two materials measured, or a physically wrong fit.
    """
    from nii.correction import correct

    if not scans:
        raise CalibrationError("calibrate needs at least one step-wedge scan")
    loaded = []
    for item in scans:
        if isinstance(item, (str, Path)):
            from scanner_io import load_scan

            item = load_scan(item)
        loaded.append(item)
    first = loaded[0].header
    identity = (_header_value(first, "scanner_id"), [float(e) for e in first.energies_mev[:2]], int(first.channels))
    steps: list[dict[str, Any]] = []
    wedge_files, notes = [], []
    for scan in loaded:
        header = scan.header
        name = str(scan.path or header.scan_id)
        if _header_value(header, "kind") != "calibration":
            raise CalibrationError(f"{name}: kind is {_header_value(header, 'kind')!r}, a wedge scan must be of kind 'calibration'")
        this = (_header_value(header, "scanner_id"), [float(e) for e in header.energies_mev[:2]], int(header.channels))
        if this != identity:
            raise CalibrationError(
                f"{name}: scanner {this[0]!r} at {_mev(this[1])} with {this[2]} channels differs from the first wedge "
                f"scan's scanner {identity[0]!r} at {_mev(identity[1])} with {identity[2]} channels"
            )
        image = correct(scan, backend=backend, device=device)
        points = measure_phantoms(image, header, source=name)
        if not points:
            notes.append(f"{name}: no usable phantom block")
        steps.extend(points)
        wedge_files.append({"path": str(scan.path) if scan.path else "", "sha256": str(scan.sha256)})
    if not identity[0]:
        raise CalibrationError("the wedge scans name no scanner_id: a calibration must be bound to its scanner")
    settings = _model_seeds()
    usable = []
    for step in steps:
        if not math.isfinite(step["areal_density_g_cm2"]):
            notes.append(f"step {step['name']}: no density in the phantom list, left out of the fit")
        elif min(step["snr_high"], step["snr_low"]) < float(settings["min_step_snr"]):
            notes.append(f"step {step['name']} {step['areal_density_g_cm2']:g} g/cm2: mean transmission at "
                         f"{min(step['snr_high'], step['snr_low']):.0f} sigma, too starved to measure; left out of the fit")
        else:
            usable.append(step)
    from nii.physics import zeff

    if len({round(float(zeff(s["composition"])), 3) for s in usable}) < 2:
        raise CalibrationError(
            f"the wedge scans gave usable steps of {len({s['name'] for s in usable})} material(s); "
            "at least two of different Z are needed"
        )
    for step in usable:  # (thick steps may read the scatter floor at both energies)
        if 0.02 < step["attenuation_high"] < 5.0 and not step["attenuation_low"] > step["attenuation_high"]:
            raise CalibrationError(f"wedge step {step['name']} {step['areal_density_g_cm2']:g} g/cm2 has alpha_L <= "
                                   "alpha_H: the scans' energies are swapped or the data damaged; calibration refused")
    nominal = ScannerModel.nominal(identity[1])
    priors = {"filtration_g_cm2": settings["prior_filtration_g_cm2"], "photo": settings["prior_photo"],
              "compton": settings["prior_compton"], "pair": settings["prior_pair"], "scatter": settings["prior_scatter"]}
    systematic = float(settings["systematic"])
    model, residuals = fit_scanner_model(nominal, usable, prior_sigma=priors, systematic=systematic)
    relative = [abs(r[f"residual_{e}"]) / max(r[f"predicted_{e}"] + r[f"residual_{e}"], 1e-9)
                for r in residuals for e in ("high", "low")]
    accuracy = max(systematic, float(np.sqrt(np.mean(np.square(relative)))))
    problem = physical_problem(model, usable, accuracy)
    if problem is not None:
        raise CalibrationError(f"the scanner model fitted to the wedge scans is physically wrong: {problem}; "
                               "calibration refused")
    notes.append(f"model fitted to {len(usable)} steps: RMS residual {100 * accuracy:.2f} % of alpha, worst "
                 f"{100 * max(relative):.2f} %")
    return Calibration(
        model=model,
        energies_mev=identity[1],
        scanner_id=identity[0],
        channels=identity[2],
        pitch_mm=_header_value(first, "pitch_mm"),
        sample_dtype=str(_header_value(first, "sample_dtype")),
        source="wedge-scans",
        wedge_files=wedge_files,
        steps=[{k: v for k, v in s.items() if k in (*_STEP_NUMBERS, "name", "composition", "pixels")} for s in usable],
        residuals=residuals,
        accuracy=accuracy,
        notes=notes,
    )
