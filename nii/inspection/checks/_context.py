"""What every check receives, and the small helpers they share.

:func:`build_check_input` validates the analysed image and material map (shapes,
finite values), derives the areal density and its noise, locates the container and its
structure once, and bundles them with the manifest and the thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from nii.classes import CLASS_NAMES, IMPENETRABLE, NONE
from nii.errors import AnalysisError
from nii.inspection.checks._morphology import box_pixels, close_rect
from nii.inspection.checks._structure_model import (
    StructureEstimate,
    estimate_structure,
    structure_model,
)
from nii.inspection.expectations import ExpectationTable
from nii.inspection.manifest import Manifest
from nii.inspection.verdict import Reason, Region

__all__ = ["CheckInput", "CheckResult", "build_check_input", "components", "dominant_material"]

#: Largest share of non-finite pixels an analysable image may have.
_MAX_NONFINITE_SHARE = 0.5


@dataclass
class CheckResult:
    """What one check found.

    Parameters
    ----------
    reasons : list of Reason
        Raised reasons (none: the check passed).
    regions : list of Region
        Supporting regions.
    estimates : dict
        Figures for the verdict's ``estimates`` (e.g. ``cargo_mass_kg``).
    near_miss : float
        How close to raising the check came (0..1) when it did not.
    warnings : list of str
        Non-fatal notes.
    """

    reasons: list[Reason] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    estimates: dict[str, Any] = field(default_factory=dict)
    near_miss: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class CheckInput:
    """Everything a check looks at, computed once per scan.

    Parameters
    ----------
    manifest : Manifest
    table : ExpectationTable
    areal_g_cm2 : numpy.ndarray
        Areal density (g/cm², float32, rows × columns), finite; a lower bound where impenetrable.
    sigma_g_cm2 : numpy.ndarray
        Its noise standard deviation (g/cm²).
    classes : numpy.ndarray
        Material class codes (uint8).
    zeff : numpy.ndarray
        Effective atomic number (float32, NaN for classes 0 and 5).
    unreadable : numpy.ndarray
        Pixels the beam could not read (impenetrable class or starved, repaired channels
        excluded), closed over ``[checks.unreadable] closing_mm``.
    structure : StructureEstimate
    row_height_mm, column_pitch_mm : float
        Pixel size at the scan plane (mm).
    position_mm : numpy.ndarray
        Conveyance position of each column (mm).
    attenuation_high, attenuation_low : numpy.ndarray or None
        The raw ``α = −ln T`` pair per pixel (float32, dimensionless), for checks that
        decompose an object from the cargo in front of it; None when not given.
    sigma_attenuation_high, sigma_attenuation_low : numpy.ndarray or None
        Their per-pixel noise standard deviations (dimensionless).
    calibration : Calibration or None
        The material curves the map was computed with (``curves`` of ``(α_H, α_L)``
        per material), None when not given.
    zeff_sigma : numpy.ndarray or None
        Standard uncertainty of ``zeff`` per pixel (float32), None when the map has none.
    starved_majority : numpy.ndarray or None
        Where the beam is photon-starved over most of a bin's neighbourhood (bool), from
        the material map: nothing small can be seen there pixel by pixel, even where a
        region's mean still tells its material. None when the map has none.
    transmission_high : numpy.ndarray or None
        The high energy's corrected transmission, **unclipped** (float32; noise takes it
        below the starvation floor, even below zero), for estimates that average it over
        pixels (the mass of dense goods); None when not given.
    transmission_low : numpy.ndarray or None
        The low energy's, likewise (float32).
    cache : dict
        Intermediate results that several checks share (e.g. the compact objects of
        :mod:`._compact`), filled by whoever needs them first.
    """

    manifest: Manifest
    table: ExpectationTable
    areal_g_cm2: np.ndarray
    sigma_g_cm2: np.ndarray
    classes: np.ndarray
    zeff: np.ndarray
    unreadable: np.ndarray
    structure: StructureEstimate
    row_height_mm: float
    column_pitch_mm: float
    position_mm: np.ndarray
    attenuation_high: np.ndarray | None = None
    attenuation_low: np.ndarray | None = None
    sigma_attenuation_high: np.ndarray | None = None
    sigma_attenuation_low: np.ndarray | None = None
    calibration: Any = None
    zeff_sigma: np.ndarray | None = None
    starved_majority: np.ndarray | None = None
    transmission_high: np.ndarray | None = None
    transmission_low: np.ndarray | None = None
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def pixel_area_cm2(self) -> float:
        """Area of one pixel at the scan plane (cm²)."""
        return self.row_height_mm * self.column_pitch_mm / 100.0

    def finite_attenuation_high(self) -> np.ndarray | None:
        """``attenuation_high`` with non-finite values as 0 (computed once; None without the α pair)."""
        if self.attenuation_high is None:
            return None
        if "finite_attenuation_high" not in self.cache:
            self.cache["finite_attenuation_high"] = np.nan_to_num(self.attenuation_high, nan=0.0, posinf=0.0, neginf=0.0)
        return self.cache["finite_attenuation_high"]

    def declared_high_z_chapters(self) -> list[str]:
        """HS chapters of declared items whose goods are themselves high-Z (lead, tungsten...)."""
        return [item.chapter for item in self.manifest.items
                if (expectation := self.table.get(item.hs_code)) is not None and expectation.high_z_expected]

    def declares_mixed_goods(self) -> bool:
        """Whether any declared item's chapter is "mixed" goods, where dense parts are normal."""
        return any((expectation := self.table.get(item.hs_code)) is not None and expectation.uniformity == "mixed"
                   for item in self.manifest.items)

    def settings(self, check: str) -> Mapping[str, Any]:
        """The ``[checks.<check>]`` table of thresholds."""
        return self.table.thresholds.get(check, {})

    def threshold(self, check: str, name: str) -> float:
        """One threshold, as float (see :meth:`ExpectationTable.threshold`)."""
        return self.table.threshold(check, name)

    def bbox_mm(self, bbox: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        """Convert a pixel box ``(row0, col0, row1, col1)`` to ``(z0, x0, z1, x1)`` in mm."""
        row0, col0, row1, col1 = bbox
        positions = self.position_mm
        x0 = float(positions[col0])
        x1 = float(positions[col1 - 1]) + self.column_pitch_mm if col1 > col0 else x0
        return (row0 * self.row_height_mm, x0, row1 * self.row_height_mm, x1)

    def region(self, bbox: tuple[int, int, int, int], material: str, score: float, reason: str) -> Region:
        """Build a :class:`Region` with its ``bbox_mm``."""
        bbox = tuple(int(v) for v in bbox)  # type: ignore[assignment]
        return Region(bbox=bbox, bbox_mm=self.bbox_mm(bbox), material=material,
                      score=float(min(max(score, 0.0), 1.0)), reason=reason)


def dominant_material(classes: np.ndarray) -> str:
    """Name of the most frequent class among ``classes`` (``none`` ignored when others exist)."""
    counts = np.bincount(np.asarray(classes, dtype=np.uint8).ravel(), minlength=IMPENETRABLE + 1)
    if counts[1:].sum() > 0:
        counts[NONE] = 0
    return CLASS_NAMES[int(np.argmax(counts))]


def components(mask: np.ndarray, *, min_pixels: int = 1) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Connected components (8-connected) of a mask with at least ``min_pixels`` pixels.

    Returns
    -------
    list of (bbox, mask)
        ``bbox`` = ``(row0, col0, row1, col1)`` half-open; ``mask`` the component's pixels
        inside the box (bool).
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel())
    found = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or sizes[index] < min_pixels:
            continue
        found.append(((box[0].start, box[1].start, box[0].stop, box[1].stop), labels[box] == index))
    return found


def _shape_check(name: str, array: Any, shape: tuple[int, int]) -> np.ndarray:
    values = np.asarray(array)
    if values.shape != shape:
        raise AnalysisError(
            f"{name} has shape {values.shape}, not the analysed image's {shape} (rows × columns)"
        )
    return values


def build_check_input(image: Any, material_map: Any, manifest: Manifest, table: ExpectationTable, *,
                      calibration: Any = None) -> CheckInput:
    """Validate the analysed image and material map and derive what the checks need.

    Parameters
    ----------
    image : AnalysedImage
        ``attenuation_high``, ``sigma_high`` (α and its noise, rows × columns),
        ``starved``, ``position_mm`` (mm), ``row_height_mm``, ``column_pitch_mm`` (mm).
    material_map : MaterialMap
        ``classes``, ``zeff``, ``areal_density_g_cm2`` (g/cm²) on the same grid.
    manifest : Manifest
    table : ExpectationTable
    calibration : Calibration, optional
        The material curves of the discrimination; checks that decompose overlapping
        materials use them (without, they fall back on the class map).

    Returns
    -------
    CheckInput

    Raises
    ------
    AnalysisError
        When the image is empty, the maps disagree in shape, or too much is not finite.
    """
    attenuation_high = np.asarray(image.attenuation_high, dtype=np.float32)
    if attenuation_high.ndim != 2 or attenuation_high.size == 0:
        raise AnalysisError(f"scan {getattr(image, 'scan_id', '?')}: the analysed image is empty (shape {attenuation_high.shape})")
    shape = attenuation_high.shape
    classes = _shape_check("material classes", material_map.classes, shape).astype(np.uint8, copy=False)
    zeff = _shape_check("zeff map", material_map.zeff, shape).astype(np.float32, copy=False)
    areal = _shape_check("areal density map", material_map.areal_density_g_cm2, shape).astype(np.float32, copy=True)
    sigma_alpha = getattr(image, "sigma_high", None)
    sigma_alpha = (
        _shape_check("sigma_high", sigma_alpha, shape).astype(np.float32, copy=False)
        if sigma_alpha is not None else None
    )
    starved = getattr(image, "starved", None)
    starved = _shape_check("starved mask", starved, shape).astype(bool) if starved is not None else np.zeros(shape, bool)
    repaired = getattr(image, "repaired", None)
    repaired = _shape_check("repaired mask", repaired, shape).astype(bool) if repaired is not None else np.zeros(shape, bool)
    # Dead or noisy channels were repaired from their neighbours: not a region the beam
    # could not read. Near the noise floor the starved mask is speckled: a closing over
    # a few centimetres makes such a region whole.
    unreadable = (starved | (classes == IMPENETRABLE)) & ~repaired

    nonfinite = ~np.isfinite(areal)
    if nonfinite.mean() > _MAX_NONFINITE_SHARE and not unreadable[nonfinite].all():
        raise AnalysisError(
            f"scan {getattr(image, 'scan_id', '?')}: {100 * nonfinite.mean():.0f} % of the areal density map is not finite; the scan cannot be analysed"
        )
    # Conversion α_high → areal density, for pixels whose areal density is missing.
    valid = ~nonfinite & np.isfinite(attenuation_high) & (attenuation_high > 0.2)
    if valid.any():
        conversion = float(np.median(areal[valid] / attenuation_high[valid]))
    else:
        conversion = 1.0 / 0.031  # g/cm² per unit α: iron at 6 MeV (NIST XCOM, 0.0306 cm²/g)
    if nonfinite.any():
        # Where the beam was starved, α is the floor's: its areal density a lower bound
        # (not the image's heaviest pixel, which would overstate the mass of dense loads).
        fill = np.where(np.isfinite(attenuation_high), attenuation_high * conversion, 0.0)
        areal[nonfinite] = np.nan_to_num(fill[nonfinite], nan=0.0, posinf=0.0, neginf=0.0)
    if sigma_alpha is not None:
        sigma = np.abs(sigma_alpha) * abs(conversion)
        sigma = np.where(np.isfinite(sigma), sigma, np.inf).astype(np.float32)
        finite_sigma = sigma[np.isfinite(sigma)]
        cap = float(np.max(finite_sigma)) if finite_sigma.size else 1.0
        sigma = np.minimum(sigma, cap).astype(np.float32)
    else:
        # Robust noise from pixel-to-pixel differences along x, per row.
        diffs = np.abs(np.diff(areal, axis=1))
        per_row = 1.4826 * np.median(diffs, axis=1) / math.sqrt(2.0) if diffs.size else np.zeros(shape[0])
        sigma = np.broadcast_to(per_row[:, None], shape).astype(np.float32)

    position_mm = np.asarray(getattr(material_map, "position_mm", getattr(image, "position_mm", None)), dtype=np.float64)
    if position_mm.shape != (shape[1],):
        raise AnalysisError(f"position_mm has {position_mm.size} entries for {shape[1]} columns")
    row_height = float(image.row_height_mm)
    pitch = float(getattr(image, "column_pitch_mm", math.nan))
    if not math.isfinite(pitch) or pitch <= 0:
        span = float(position_mm[-1] - position_mm[0]) if shape[1] > 1 else math.nan
        pitch = abs(span) / (shape[1] - 1) if shape[1] > 1 and math.isfinite(span) and span != 0 else math.nan
    if not (math.isfinite(row_height) and row_height > 0 and math.isfinite(pitch) and pitch > 0):
        raise AnalysisError(
            f"scan {getattr(image, 'scan_id', '?')}: pixel size unknown (row height {row_height} mm, column pitch {pitch} mm)"
        )
    closing = float(table.threshold("unreadable", "closing_mm"))
    if unreadable.any():
        rows_any = np.flatnonzero(unreadable.any(axis=1))
        cols_any = np.flatnonzero(unreadable.any(axis=0))
        window = (max(3, box_pixels(closing, row_height)), max(3, box_pixels(closing, pitch)))
        r0, r1 = max(rows_any[0] - window[0], 0), rows_any[-1] + window[0] + 1
        c0, c1 = max(cols_any[0] - window[1], 0), cols_any[-1] + window[1] + 1
        unreadable[r0:r1, c0:c1] = close_rect(unreadable[r0:r1, c0:c1], *window) & ~repaired[r0:r1, c0:c1]
    settings = {
        name: table.threshold("structure", name)
        for name in ("floor_band_mm", "roof_band_mm", "end_band_mm", "occupancy_g_cm2", "occupancy_sigma",
                     "baseline_percentile", "wall_band_percentile")
    }
    model = structure_model(manifest.container, settings)
    structure = estimate_structure(
        areal, sigma, row_height_mm=row_height, column_pitch_mm=pitch, settings=settings, model=model,
        height_mm=float(manifest.container.height_mm),
    )
    def optional_map(source: Any, name: str, label: str) -> np.ndarray | None:
        value = getattr(source, name, None)
        return _shape_check(label, value, shape).astype(np.float32, copy=False) if value is not None else None

    attenuation_low = optional_map(image, "attenuation_low", "attenuation_low")
    sigma_low = optional_map(image, "sigma_low", "sigma_low")
    zeff_sigma = optional_map(material_map, "zeff_sigma", "zeff sigma")
    transmission_high = optional_map(image, "transmission_high", "transmission_high")
    transmission_low = optional_map(image, "transmission_low", "transmission_low")
    starved_majority = getattr(material_map, "starved_majority", None)
    if starved_majority is not None:
        starved_majority = _shape_check("starved-majority mask", starved_majority, shape).astype(bool) & ~repaired
    return CheckInput(
        manifest=manifest, table=table, areal_g_cm2=areal, sigma_g_cm2=sigma, classes=classes, zeff_sigma=zeff_sigma,
        starved_majority=starved_majority,
        zeff=zeff, unreadable=unreadable, structure=structure, row_height_mm=row_height,
        column_pitch_mm=pitch, position_mm=position_mm, attenuation_high=attenuation_high,
        attenuation_low=attenuation_low, sigma_attenuation_high=sigma_alpha,
        sigma_attenuation_low=sigma_low, calibration=calibration, transmission_high=transmission_high,
        transmission_low=transmission_low,
    )

