"""Material calibration: α_L against α_H curves of known materials, and the Z_eff lookup.

A :class:`Calibration` holds, per material of known composition, measured (or
modelled) points ``(α_H, α_L)`` over a range of thicknesses: the curve
``R = α_L / α_H`` against ``α_H`` (Chen, Zhao & Li, Nucl. Sci. Tech. 27, 25, 2016).
Effective Z is interpolated between the curves at each ``α_H``.

Two sources:

* :func:`calibrate` measures the curves on the scanner's own step-wedge scans (NXR of
  kind ``calibration`` with a ``phantom`` list): for each block, the mean attenuation
  over its interior pixels and their noise.
* :func:`calibration_from_physics` computes them from :mod:`nii.physics` for the scan's
  energies (``source = "physics-model"``), used when no calibration is given.

Between the measured materials, ``R`` is far from linear in ``Z`` at MeV (pair
production grows with Z, the photoelectric effect of heavy elements lifts the low
energy), so curves of reference elements (``seeds/calibration.toml``) are added from
the physics model, shifted by the residuals of the measured curves (interpolated in Z):
measurements anchor, physics interpolates.
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
from nii.errors import CalibrationError, NiiError
from nii.io_utils import atomic_write_text
from nii.resources import read_catalogue, seed_path

__all__ = [
    "MaterialCurve",
    "Calibration",
    "LookupTable",
    "calibrate",
    "calibration_from_physics",
    "load_calibration",
    "measure_phantoms",
    "physics_curves",
    "CALIBRATION_FORMAT",
]

CALIBRATION_FORMAT = "nii-calibration"
_VERSION = 1
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
_SHARED_TABLES: dict[tuple[str, str], LookupTable] = {}
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
        ``"wedge"`` (measured), ``"physics-model"`` or ``"physics-assisted"``.
    measured : numpy.ndarray of bool
        Which points were measured; the others extend a wedge curve beyond its
        measured range with the physics model's shape.
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
        points["measured"] = [bool(v) for v in self.measured]  # type: ignore[union-attr]
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
        for k in np.flatnonzero(~known):
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
    segments = range(len(curves) - 1)
    for k in segments if reading == "lower" else reversed(segments):  # type: ignore[assignment]
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
    """Calibration curves of one scanner (or of the physics model) and their provenance.

    Attributes
    ----------
    curves : list of MaterialCurve
        At least two materials of different Z.
    energies_mev : list of float
        Endpoint energies (MeV), highest first.
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
    software, created_at : str
        Creating software and UTC time (ISO 8601).
    notes : list of str
        What was skipped or assumed.
    """

    curves: list[MaterialCurve]
    energies_mev: list[float]
    scanner_id: str | None = None
    channels: int | None = None
    pitch_mm: float | None = None
    sample_dtype: str | None = None
    source: str = "wedge-scans"
    wedge_files: list[dict[str, str]] = field(default_factory=list)
    software: str = f"nii {__version__}"
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.curves) < 2 or len({round(c.zeff, 3) for c in self.curves}) < 2:
            raise CalibrationError("a calibration needs curves of at least two materials of different effective Z")

    # -- identity
    @property
    def wedge_sha256(self) -> list[str]:
        """SHA-256 of each wedge scan."""
        return [f.get("sha256", "") for f in self.wedge_files]

    @cached_property
    def identifier(self) -> str:
        """Short provenance string: source and a hash of the content (not of its creation time)."""
        content = json.loads(self.to_json())
        content.pop("created_at", None)
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.source}:{self.scanner_id or 'any'}:{digest}"

    @property
    def materials(self) -> list[str]:
        return [c.name for c in self.curves]

    @property
    def alpha_high_max(self) -> float:
        """Largest α_H of the table: the curves' range plus 30 % (at least 12)."""
        return max(12.0, 1.3 * max(float(c.attenuation_high.max()) for c in self.curves))

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
            # Calibrations with the same content share one table across a process
            # (a batch builds a fresh Calibration object per scan).
            key = (self.identifier, reading)
            shared = _SHARED_TABLES.pop(key, None)
            if shared is None:
                shared = _build_table(self.curves, self.alpha_high_max, reading)
            _SHARED_TABLES[key] = shared
            while len(_SHARED_TABLES) > _SHARED_TABLES_MAX:
                _SHARED_TABLES.pop(next(iter(_SHARED_TABLES)))
            cache[reading] = shared
        return cache[reading]

    # -- compatibility
    def check_compatible(self, header: Any, *, source: str | None = None) -> None:
        """Raise :class:`CalibrationError` if the scan's scanner or energies differ.

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
        return {
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
            "curves": [c.to_dict() for c in self.curves],
        }

    def to_json(self) -> str:
        """Return the calibration as a JSON document."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "calibration") -> Calibration:
        """Parse a calibration JSON document; ``source`` names it in errors."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CalibrationError(f"{source}: not a valid JSON calibration ({exc.msg if hasattr(exc, 'msg') else exc})") from exc
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise CalibrationError(f"{source}: not an NII calibration (field 'format' is not {CALIBRATION_FORMAT!r})")
        if data.get("version") != _VERSION:
            raise CalibrationError(f"{source}: unsupported calibration version {data.get('version')!r}")
        energies = data.get("energies_mev")
        if not isinstance(energies, list) or len(energies) < 2 or not all(isinstance(e, (int, float)) for e in energies):
            raise CalibrationError(f"{source}: field 'energies_mev' must list two energies in MeV")
        curves = data.get("curves")
        if not isinstance(curves, list):
            raise CalibrationError(f"{source}: field 'curves' is missing or not a list")
        detector = data.get("detector") or {}
        if not isinstance(detector, dict):
            raise CalibrationError(f"{source}: field 'detector' is not an object")
        try:
            return cls(
                curves=[MaterialCurve.from_dict(c, source) for c in curves],
                energies_mev=[float(e) for e in energies],
                scanner_id=data.get("scanner_id"),
                channels=detector.get("channels"),
                pitch_mm=detector.get("pitch_mm"),
                sample_dtype=data.get("sample_dtype"),
                source=str(data.get("source", "wedge-scans")),
                wedge_files=list(data.get("wedge_files") or []),
                software=str(data.get("software", "")),
                created_at=str(data.get("created_at", "")),
                notes=list(data.get("notes") or []),
            )
        except CalibrationError as exc:
            if str(exc).startswith(source):
                raise
            raise CalibrationError(f"{source}: {exc}") from exc

    def save(self, path: str | Path) -> Path:
        """Write the calibration JSON atomically to ``path``."""
        return atomic_write_text(path, self.to_json() + "\n")


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration JSON file.

    Raises
    ------
    CalibrationError
        Unreadable, not JSON, or not a valid calibration.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read the calibration file ({exc.strerror or exc})") from exc
    return Calibration.from_json(text, source=str(path))


def _header_value(header: Any, name: str) -> Any:
    if isinstance(header, dict):
        return header.get(name)
    return getattr(header, name, None)


def _mev(energies: list[float]) -> str:
    return "/".join(f"{e:g}" for e in energies) + " MeV" if energies else "no energies"


# --------------------------------------------------------------------------- physics model


def _calibration_seeds() -> dict[str, Any]:
    return read_catalogue(seed_path("calibration.toml"), "calibration defaults file")


def physics_curves(
    energies_mev: list[float],
    materials: list[Any],
    areal_density_g_cm2: np.ndarray,
    *,
    min_transmission: float = 1e-6,
    origin: str = "physics-model",
) -> list[MaterialCurve]:
    """Return model curves of materials from :mod:`nii.physics` for two linac energies.

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
    from nii.physics import (
        attenuation_coefficients,
        effective_beams,
        polychromatic_transmission,
        zeff,
    )
    from nii.physics import material as catalogue_material

    beams = effective_beams(tuple(float(e) for e in energies_mev[:2]))
    areal = np.asarray(areal_density_g_cm2, np.float64)
    curves = []
    for item in materials:
        if isinstance(item, str) and item[:1].islower():
            entry = catalogue_material(item)
            name, composition = entry.name, dict(entry.composition)
        elif isinstance(item, str):
            name, composition = item, {item: 1.0}
        elif hasattr(item, "composition"):
            name, composition = item.name, dict(item.composition)
        else:
            name, composition = "+".join(item), dict(item)
        transmissions = []
        for beam in beams:
            mu = attenuation_coefficients([composition], beam)
            transmissions.append(np.asarray(polychromatic_transmission(beam, mu, areal[None, :]), np.float64))
        t_high, t_low = transmissions
        keep = (t_high >= min_transmission) & (t_low >= min_transmission) & (t_high < 1.0) & (t_low < 1.0)
        if not keep.any():
            continue
        curves.append(
            MaterialCurve(
                name=name,
                zeff=float(zeff(composition)),
                attenuation_high=-np.log(t_high[keep]),
                attenuation_low=-np.log(t_low[keep]),
                noise_high=np.zeros(int(keep.sum())),
                noise_low=np.zeros(int(keep.sum())),
                areal_density_g_cm2=areal[keep],
                composition=composition,
                origin=origin,
            )
        )
    return curves


def _model_areal_densities(seeds: dict[str, Any]) -> tuple[np.ndarray, float]:
    model = seeds["physics_model"]
    areal = np.geomspace(float(model["min_areal_density_g_cm2"]), float(model["max_areal_density_g_cm2"]), int(model["steps"]))
    return areal, float(model["min_transmission"])


def calibration_from_physics(header: Any) -> Calibration:
    """Return the calibration the physics model predicts for a scan's energies.

    Parameters
    ----------
    header : scanner_io.NxrHeader or dict
        Header of the scan (``energies_mev``; ``scanner_id`` is not bound).

    Returns
    -------
    Calibration
        ``source == "physics-model"``: polyethylene, aluminium, iron and lead curves
        (``seeds/calibration.toml``) plus the reference elements, from
        :mod:`nii.physics` (no scanner-specific measurement).
    """
    energies = [float(e) for e in (_header_value(header, "energies_mev") or [])]
    if len(energies) < 2:
        raise CalibrationError("the physics-model calibration needs a scan with two energies")
    seeds = _calibration_seeds()
    areal, min_t = _model_areal_densities(seeds)
    names = list(seeds["physics_model"]["materials"])
    curves = physics_curves(energies, names, areal, min_transmission=min_t)
    model_z = [c.zeff for c in curves]
    ladder = [s for s in seeds["reference_elements"]["symbols"] if all(abs(_element_z(s) - z) > 1.5 for z in model_z)]
    curves += physics_curves(energies, ladder, areal, min_transmission=min_t)
    return Calibration(
        curves=curves,
        energies_mev=energies[:2],
        source="physics-model",
        notes=["computed from nii.physics (Boone & Chavez 1996 cross sections, Schiff spectra); not measured on a scanner"],
    )


def _element_z(symbol: str) -> float:
    from nii.physics import atomic_number

    return float(atomic_number(symbol))


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
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{where} needs thickness_mm, position_mm [start, end] and channels [first, last]") from exc
        if not (thickness > 0 and x1 > x0 and c1 >= c0):
            raise CalibrationError(f"{where} has a non-positive thickness or an empty position/channel range")
        density = material.get("density_g_cm3")
        areal = thickness / 10.0 * float(density) if isinstance(density, (int, float)) and density > 0 else float("nan")
        blocks.append(
            {
                "name": str(material.get("name") or "+".join(sorted(material["composition"]))),
                "composition": {str(k): float(v) for k, v in material["composition"].items()},
                "areal_density_g_cm2": areal,
                "position_mm": (x0, x1),
                "channels": (c0, c1),
            }
        )
    return blocks


def measure_phantoms(image: Any, header: Any, *, source: str = "scan") -> list[dict[str, Any]]:
    """Measure mean attenuation and noise over the interior of each phantom block.

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
        ``attenuation_high``, ``attenuation_low`` (means), ``noise_high``, ``noise_low``
        (per-pixel standard deviations), ``pixels``; blocks too small, starved or
        saturated are left out.
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
        footprint = in_rows[:, None] & in_cols[None, :]
        coverage += footprint
        footprints.append((in_rows, in_cols))
    unusable = image.starved | image.saturated | image.repaired | (coverage > 1)
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
        high = image.attenuation_high[r0:r1, c0:c1][usable].astype(np.float64)
        low = image.attenuation_low[r0:r1, c0:c1][usable].astype(np.float64)
        if not np.mean(high) > 0:
            continue
        results.append(
            {
                **{k: block[k] for k in ("name", "composition", "areal_density_g_cm2")},
                "attenuation_high": float(np.mean(high)),
                "attenuation_low": float(np.mean(low)),
                "noise_high": float(np.std(high, ddof=1)),
                "noise_low": float(np.std(low, ddof=1)),
                "pixels": int(high.size),
            }
        )
    return results


def calibrate(
    scans: list[Any],
    *,
    physics_assisted: bool = True,
    backend: str = "numpy",
    device: str | None = None,
) -> Calibration:
    """Build a calibration from step-wedge scans of the scanner itself.

    Parameters
    ----------
    scans : list of scanner_io.Scan or path-like
        Scans of kind ``calibration`` from one scanner, with a ``phantom`` list.
    physics_assisted : bool
        Add reference-element curves from :mod:`nii.physics`, shifted by the measured
        residuals, to interpolate Z between the measured materials.
    backend, device : str
        Array backend of the correction (see :func:`nii.correction.correct`).

    Returns
    -------
    Calibration
        ``source == "wedge-scans"``.

    Raises
    ------
    CalibrationError
        No scan, a scan not of kind calibration, scans from different scanners or
        energies, or fewer than two materials measured.
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
    measured: dict[str, dict[str, Any]] = {}
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
        for point in points:
            key = point["name"] + ":" + json.dumps(sorted((k, round(v, 4)) for k, v in point["composition"].items()))
            measured.setdefault(key, {"name": point["name"], "composition": point["composition"], "points": []})
            measured[key]["points"].append(point)
        wedge_files.append({"path": str(scan.path) if scan.path else "", "sha256": str(scan.sha256)})
    from nii.physics import zeff

    curves = []
    for entry in measured.values():
        pts = entry["points"]
        curves.append(
            MaterialCurve(
                name=entry["name"],
                zeff=float(zeff(entry["composition"])),
                composition=entry["composition"],
                origin="wedge",
                **{k: np.array([p[k] for p in pts]) for k in _CURVE_ARRAYS},
            )
        )
    if len({round(c.zeff, 3) for c in curves}) < 2:
        raise CalibrationError(
            f"the wedge scans gave usable blocks of {len(curves)} material(s); at least two of different Z are needed"
        )
    if physics_assisted:
        try:
            extended, references = _assisted_curves(curves, identity[1])
        except NiiError as exc:  # the measured curves alone still work
            notes.append(f"physics-assisted interpolation skipped: {exc}")
        else:
            added = sum(int((~c.measured).sum()) for c in extended)  # type: ignore[misc,operator]
            if added:
                notes.append(f"{added} points extend the measured curves beyond their range with the physics model's shape")
            curves = extended + references
    return Calibration(
        curves=curves,
        energies_mev=identity[1],
        scanner_id=identity[0],
        channels=identity[2],
        pitch_mm=_header_value(first, "pitch_mm"),
        sample_dtype=str(_header_value(first, "sample_dtype")),
        source="wedge-scans",
        wedge_files=wedge_files,
        notes=notes,
    )


def _extend_with_model(curve: MaterialCurve, model: MaterialCurve) -> MaterialCurve:
    """Extend a measured curve beyond its range with the model's shape, anchored at its ends."""
    alpha = model.attenuation_high
    first, last = curve.attenuation_high[0], curve.attenuation_high[-1]
    outside = (alpha < first) | (alpha > last)
    if not outside.any():
        return curve
    offset_first = curve.ratio[0] - float(model.ratio_at(np.array([first]))[0])
    offset_last = curve.ratio[-1] - float(model.ratio_at(np.array([last]))[0])
    ratio = model.ratio[outside] + np.where(alpha[outside] < first, offset_first, offset_last)
    zeros = np.zeros(int(outside.sum()))
    return MaterialCurve(
        name=curve.name,
        zeff=curve.zeff,
        attenuation_high=np.concatenate([curve.attenuation_high, alpha[outside]]),
        attenuation_low=np.concatenate([curve.attenuation_low, ratio * alpha[outside]]),
        noise_high=np.concatenate([curve.noise_high, zeros]),
        noise_low=np.concatenate([curve.noise_low, zeros]),
        areal_density_g_cm2=np.concatenate([curve.areal_density_g_cm2, model.areal_density_g_cm2[outside]]),
        composition=curve.composition,
        origin=curve.origin,
        measured=np.concatenate([curve.measured, np.zeros(int(outside.sum()), bool)]),
    )


def _assisted_curves(
    measured: list[MaterialCurve], energies_mev: list[float]
) -> tuple[list[MaterialCurve], list[MaterialCurve]]:
    """Physics assistance: the measured curves extended with the model's shape beyond
    their range, and reference-element curves from the model shifted by the residuals
    of the measured curves (interpolated in Z).

    Returns
    -------
    extended, references : list of MaterialCurve
    """
    seeds = _calibration_seeds()
    areal, min_t = _model_areal_densities(seeds)
    measured = sorted(measured, key=lambda c: c.zeff)
    z_measured = np.array([c.zeff for c in measured])
    model_of_measured = physics_curves(energies_mev, [c.composition for c in measured], areal, min_transmission=min_t)
    if len(model_of_measured) != len(measured):
        return measured, []
    measured = [_extend_with_model(c, m) for c, m in zip(measured, model_of_measured, strict=True)]
    symbols = [
        s for s in seeds["reference_elements"]["symbols"] if np.all(np.abs(_element_z(s) - z_measured) > 1.5)
    ]
    references = physics_curves(energies_mev, symbols, areal, min_transmission=min_t, origin="physics-assisted")
    assisted = []
    for curve in references:
        alpha = curve.attenuation_high
        # residual of each measured material at these α_H (constant beyond its measured
        # range, where the extended curve follows the model's shape)
        residuals = np.stack(
            [m.ratio_at(alpha) - model.ratio_at(alpha) for m, model in zip(measured, model_of_measured, strict=True)]
        )
        residual = np.array([np.interp(curve.zeff, z_measured, residuals[:, j]) for j in range(alpha.size)])
        low = (curve.ratio + residual) * alpha
        assisted.append(
            MaterialCurve(
                name=curve.name,
                zeff=curve.zeff,
                attenuation_high=alpha,
                attenuation_low=low,
                noise_high=curve.noise_high,
                noise_low=curve.noise_low,
                areal_density_g_cm2=curve.areal_density_g_cm2,
                composition=curve.composition,
                origin="physics-assisted",
            )
        )
    return measured, assisted
