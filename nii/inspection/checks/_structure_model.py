"""The container's own structure in the image: where it is, and what it weighs per pixel.

Seen by a horizontal fan beam, an ISO box gives:

* **side walls** — the beam crosses both corrugated steel walls on every row of the
  container's height: a near-constant areal density (a few g/cm²) over the whole box;
* **floor and roof** — bands of rows at the bottom and top where the beam runs along
  the floor boards and cross-members (or the roof sheet and rails) across the width;
* **ends** — bands of columns at the front wall and the doors, corner posts included.

:func:`estimate_structure` finds the box in the image and estimates, from the scan
itself, the areal density that the structure alone puts on each row of the interior:
a low percentile along x of the interior columns, capped in the interior rows at the
side-wall level (so cargo that fills the whole length is not taken for structure). The
side-wall level is read both on headroom rows and on the columns between stacks, so
that goods loaded close to the roof (a handful of rows on a coarse detector) are not
taken for walls; a nearly empty row at either edge of the occupied run is not taken for
the box's first row (on rows of tens of millimetres it would shift the box, its floor
and its roof by a row).
When the container type carries a structure description, :func:`structure_model`
turns it into expected areal densities, used as a sanity cap and by the structure check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "StructureModel",
    "StructureEstimate",
    "structure_model",
    "corrugation_factor",
    "estimate_structure",
    "longest_run",
]


#: Areal density (g/cm²) above which a pixel holds material whatever its noise estimate
#: (``[checks.structure] dense_g_cm2``): 40 g/cm² is 5 cm of steel or 40 cm of water.
_DENSE_G_CM2 = 40.0


@dataclass(frozen=True)
class StructureModel:
    """Expected areal densities (g/cm², along the beam) of a container type's structure.

    Parameters
    ----------
    walls_g_cm2 : float
        Both side walls together, seen on every interior row. NaN when unknown.
    floor_g_cm2 : float
        Mean over the floor band's rows. NaN when unknown.
    roof_g_cm2 : float
        Mean over the roof band's rows. NaN when unknown.
    end_g_cm2 : float
        Mean over an end band's columns (front wall or doors) on interior rows. NaN when unknown.
    source : str
        Where the description comes from.
    """

    walls_g_cm2: float = math.nan
    floor_g_cm2: float = math.nan
    roof_g_cm2: float = math.nan
    end_g_cm2: float = math.nan
    source: str = ""


def _number(table: Mapping[str, Any], *keys: str) -> float:
    for key in keys:
        value = table.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return math.nan


def _density_g_cm3(table: Mapping[str, Any], key: str, fallback: str) -> float:
    """Density (g/cm³) of the material the structure table names under ``key``."""
    name = table.get(key, fallback)
    try:
        from nii.physics import material

        return float(material(str(name)).density_g_cm3)
    except Exception:  # noqa: BLE001 - an unknown material leaves the part unmodelled
        return math.nan


def corrugation_factor(profile: Any) -> float:
    """Mean sheet length per projected length of a trapezoidal corrugation (dimensionless).

    Parameters
    ----------
    profile : mapping
        ``pitch``, ``depth``, ``outer_flat``, ``inner_flat`` (mm). Anything else gives 1.

    Examples
    --------
    >>> round(corrugation_factor({"pitch": 100.0, "depth": 15.0, "outer_flat": 30.0, "inner_flat": 30.0}), 3)
    1.1
    """
    if not isinstance(profile, Mapping):
        return 1.0
    pitch, depth = _number(profile, "pitch"), _number(profile, "depth")
    outer, inner = _number(profile, "outer_flat"), _number(profile, "inner_flat")
    flank = (pitch - outer - inner) / 2.0
    if not all(math.isfinite(v) for v in (pitch, depth, flank)) or flank <= 0 or pitch <= 0:
        return 1.0
    return (outer + inner + 2.0 * math.hypot(flank, depth)) / pitch


def structure_model(container: Any, band_mm: Mapping[str, float]) -> StructureModel | None:
    """Turn a container type's structure description into expected areal densities.

    Parameters
    ----------
    container : ContainerType
        With ``width_mm`` (external width, mm) and ``structure``: the catalogue's
        ``[structure]`` table (``seeds/containers.toml``). Keys read: ``steel`` and
        ``floor_material`` (material names), ``side_wall_mm`` and
        ``side_corrugation_mm`` (one side wall), ``floor_mm`` and
        ``floor_density_g_cm3`` (boards), ``bottom_rail_mm`` (``height``, ``flange``,
        ``thickness``), ``roof_mm`` and ``roof_corrugation_mm``, ``internal_mm``.
    band_mm : mapping
        ``floor_band_mm`` and ``roof_band_mm``: band heights (mm) the means are taken over.

    Returns
    -------
    StructureModel or None
        ``None`` when the description gives nothing usable.

    Notes
    -----
    The beam crosses both side walls on every interior row: 2 × sheet thickness × the
    corrugation factor × ρ_steel. In the floor band it runs along the boards across the
    inner width, and through the webs and flanges of both bottom side rails; the floor's
    cross members occupy a few columns only and are left out (the checks use medians
    along the container). In the roof band it runs along the roof sheet across the width.
    """
    table = getattr(container, "structure", None) or {}
    if not isinstance(table, Mapping) or not table:
        return None
    steel = _density_g_cm3(table, "steel", "steel")
    inner = table.get("internal_mm")
    width_mm = float(inner[1]) if isinstance(inner, list) and len(inner) == 3 else float(getattr(container, "width_mm", math.nan))
    walls = 2.0 * _number(table, "side_wall_mm") / 10.0 * corrugation_factor(table.get("side_corrugation_mm")) * steel
    floor_band = float(band_mm.get("floor_band_mm", math.nan))
    floor = math.nan
    boards_mm = _number(table, "floor_mm")
    board_density = _number(table, "floor_density_g_cm3")
    if not math.isfinite(board_density):
        board_density = _density_g_cm3(table, "floor_material", "plywood")
    if math.isfinite(boards_mm) and math.isfinite(width_mm) and floor_band > 0:
        floor = board_density * width_mm / 10.0 * min(boards_mm, floor_band) / floor_band
        rail = table.get("bottom_rail_mm")
        if isinstance(rail, Mapping):
            height, flange, thick = (_number(rail, k) for k in ("height", "flange", "thickness"))
            if all(math.isfinite(v) for v in (height, flange, thick)):
                web = thick / 10.0 * steel * min(height, floor_band)
                flanges = 2.0 * flange / 10.0 * steel * thick
                floor += 2.0 * (web + flanges) / floor_band
    roof_band = float(band_mm.get("roof_band_mm", math.nan))
    roof = math.nan
    roof_mm = _number(table, "roof_mm")
    if math.isfinite(roof_mm) and math.isfinite(width_mm) and roof_band > 0:
        roof = steel * width_mm / 10.0 * roof_mm * corrugation_factor(table.get("roof_corrugation_mm")) / roof_band
    model = StructureModel(
        walls_g_cm2=walls if math.isfinite(walls) else math.nan,
        floor_g_cm2=floor,
        roof_g_cm2=roof,
        end_g_cm2=math.nan,
        source=str(table.get("source", getattr(container, "source", ""))),
    )
    if not any(math.isfinite(v) for v in (model.walls_g_cm2, model.floor_g_cm2, model.roof_g_cm2)):
        return None
    return model


def longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """Return ``(start, stop)`` of the longest run of True in a 1-D mask, or ``None``.

    Examples
    --------
    >>> longest_run(np.array([0, 1, 1, 0, 1, 1, 1], bool))
    (4, 7)
    """
    flags = np.asarray(mask, dtype=bool)
    if not flags.any():
        return None
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, stops = edges[0::2], edges[1::2]
    best = int(np.argmax(stops - starts))
    return int(starts[best]), int(stops[best])


def _close_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill runs of False no longer than ``gap`` that lie between True values (1-D)."""
    flags = np.asarray(mask, dtype=bool).copy()
    if gap <= 0 or not flags.any():
        return flags
    padded = np.concatenate([[True], flags, [True]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        if 0 < start and stop < flags.size and stop - start <= gap:
            flags[start:stop] = True
    return flags


@dataclass(frozen=True)
class StructureEstimate:
    """Where the container is in the image and what its structure weighs per row.

    All index pairs are half-open ``(start, stop)``; ``found`` is False when the image
    holds no container (then the extents are empty and ``residual_g_cm2`` is ``areal``).

    Parameters
    ----------
    found : bool
        Whether a container was found.
    rows, cols : tuple of int
        The container's extent (rows, columns).
    roof_rows, floor_rows, interior_rows : tuple of int
        Row bands.
    front_cols, rear_cols, interior_cols : tuple of int
        Column bands (front = lower column indices).
    profile_g_cm2 : numpy.ndarray
        Structure areal density per image row (g/cm²) over the interior columns; 0
        outside the extent.
    baseline_g_cm2 : numpy.ndarray
        The uncapped per-row low percentile along x (g/cm²).
    wall_g_cm2 : float
        Estimated side-wall level (g/cm²).
    residual_g_cm2 : numpy.ndarray
        ``areal − profile`` inside the interior, 0 elsewhere (float32, rows × columns).
    model : StructureModel or None
        Expectation from the container type, when known.
    """

    found: bool
    rows: tuple[int, int]
    cols: tuple[int, int]
    roof_rows: tuple[int, int]
    floor_rows: tuple[int, int]
    interior_rows: tuple[int, int]
    front_cols: tuple[int, int]
    rear_cols: tuple[int, int]
    interior_cols: tuple[int, int]
    profile_g_cm2: np.ndarray
    baseline_g_cm2: np.ndarray
    wall_g_cm2: float
    residual_g_cm2: np.ndarray
    model: StructureModel | None = None

    def interior(self) -> tuple[slice, slice]:
        """Slices of the interior (rows, columns)."""
        return slice(*self.interior_rows), slice(*self.interior_cols)

    def cargo_space(self) -> tuple[slice, slice]:
        """Slices of the extent rows (floor and roof included) × interior columns."""
        return slice(*self.rows), slice(*self.interior_cols)


def _normal_quantile(probability: float) -> float:
    """Quantile of the standard normal distribution (``scipy.special.ndtri``)."""
    from scipy.special import ndtri

    return float(ndtri(min(max(probability, 1e-9), 1 - 1e-9)))


def _band(count_mm: float, pitch_mm: float, available: int, share: float) -> int:
    """Pixels of a band of ``count_mm``, at most ``share`` of ``available``."""
    pixels = int(math.ceil(count_mm / pitch_mm)) if pitch_mm > 0 else 0
    return max(0, min(pixels, int(available * share)))


def _trim_partial_rows(areal_g_cm2: np.ndarray, r0: int, r1: int, model: StructureModel | None) -> tuple[int, int]:
    """Drop end rows of the occupied run that the container covers less than half of.

    Every row the container covers in full holds at least its two side walls. A row at
    the run's top or bottom edge whose median areal density (along the container) is
    under half the side walls' is covered by the box over less than half its height:
    the box's edge lies in the next row. On fine rows this moves the edge by a row of a
    few millimetres; on coarse rows (tens of millimetres) it keeps a nearly empty row
    from shifting the whole container and its floor and roof bands by a row.
    The side-wall level is the model's when known, else the 10th percentile of the row
    medians of the run.
    """
    if r1 - r0 < 8:
        return r0, r1
    medians = np.median(areal_g_cm2[r0:r1], axis=1)
    walls = model.walls_g_cm2 if model is not None and math.isfinite(model.walls_g_cm2) else math.nan
    if not (math.isfinite(walls) and walls > 0):
        walls = float(np.percentile(medians, 10.0))
    limit = 0.5 * walls
    start, stop = 0, medians.size
    if medians[start] < limit:
        start += 1
    if medians[stop - 1] < limit:
        stop -= 1
    return r0 + start, r0 + stop


def _wall_level(interior: np.ndarray, sigma: np.ndarray, baseline: np.ndarray, percentile: float) -> float:
    """Side-wall areal density (g/cm²) from the interior, by rows and by columns.

    The side walls put the same areal density on every interior pixel. Along rows, the
    ``percentile`` of the per-row baseline over the interior rows reads it where at least
    that share of the rows is free of goods along part of the length (headroom). Along
    columns, the ``percentile`` of the per-column median over the interior rows reads
    it where that share of the columns is free of goods over most of the height (gaps
    between stacks, the unloaded end). A container loaded close to the roof (few
    headroom rows, which a coarse detector counts in a handful) is read by columns; one
    loaded along its whole length, by rows: the lower of the two is the walls.
    The column medians are corrected for their noise like the baseline.
    """
    if interior.shape[0] == 0 or interior.shape[1] == 0:
        return 0.0
    # The percentile is taken as an order statistic (no interpolation): with a few dozen
    # coarse rows, interpolating between the last headroom row and the first loaded one
    # would put the walls halfway up the goods.
    by_rows = float(np.percentile(baseline, percentile, method="lower"))
    # The median of n noisy values scatters by ~1.25 σ / √n; their low percentile sits
    # z_p of that below the level.
    column = np.median(interior, axis=0)
    noise = 1.25 * float(np.median(sigma)) / math.sqrt(interior.shape[0])
    by_columns = float(np.percentile(column, percentile, method="lower")) - _normal_quantile(percentile / 100.0) * noise
    return min(by_rows, by_columns)


def estimate_structure(
    areal_g_cm2: np.ndarray,
    sigma_g_cm2: np.ndarray,
    *,
    row_height_mm: float,
    column_pitch_mm: float,
    settings: Mapping[str, float],
    model: StructureModel | None = None,
    height_mm: float = math.nan,
) -> StructureEstimate:
    """Locate the container and estimate its structure's areal density per row.

    Parameters
    ----------
    areal_g_cm2 : numpy.ndarray
        Areal density (g/cm², rows × columns), finite.
    sigma_g_cm2 : numpy.ndarray
        Its noise standard deviation (g/cm²), same shape.
    row_height_mm, column_pitch_mm : float
        Pixel size at the scan plane (mm).
    settings : mapping
        ``[checks.structure]`` thresholds: ``floor_band_mm``, ``roof_band_mm``,
        ``end_band_mm``, ``occupancy_g_cm2``, ``occupancy_sigma``,
        ``baseline_percentile``, ``wall_band_percentile``.
    model : StructureModel, optional
        Expected structure; caps the side-wall level when given.
    height_mm : float, optional
        The container type's external height (mm). When given, the container's bottom
        is its top plus this height, so that a trailer chassis under it is not taken
        for its floor.

    Returns
    -------
    StructureEstimate
    """
    rows_total, cols_total = areal_g_cm2.shape
    occupied = areal_g_cm2 > np.maximum(
        float(settings["occupancy_g_cm2"]), float(settings["occupancy_sigma"]) * sigma_g_cm2
    )
    # Where the beam is starved the noise estimate is meaningless (huge) but the areal
    # density (a lower bound there) is far above anything noise gives: that is material.
    occupied |= areal_g_cm2 > float(settings.get("dense_g_cm2", _DENSE_G_CM2))
    column_share = occupied.mean(axis=0)
    empty = StructureEstimate(
        found=False, rows=(0, 0), cols=(0, 0), roof_rows=(0, 0), floor_rows=(0, 0),
        interior_rows=(0, 0), front_cols=(0, 0), rear_cols=(0, 0), interior_cols=(0, 0),
        profile_g_cm2=np.zeros(rows_total, np.float32), baseline_g_cm2=np.zeros(rows_total, np.float32),
        wall_g_cm2=0.0, residual_g_cm2=areal_g_cm2.astype(np.float32, copy=True), model=model,
    )
    if column_share.size == 0 or column_share.max() * rows_total < 8:
        return empty
    gap = int(round(100.0 / column_pitch_mm)) if column_pitch_mm > 0 else 0
    col_run = longest_run(_close_gaps(column_share >= 0.5 * column_share.max(), gap))
    if col_run is None or col_run[1] - col_run[0] < 8:
        return empty
    c0, c1 = col_run
    row_share = occupied[:, c0:c1].mean(axis=1)
    row_run = longest_run(_close_gaps(row_share >= 0.5, int(round(50.0 / row_height_mm))))
    if row_run is None or row_run[1] - row_run[0] < 8:
        return empty
    r0, r1 = row_run
    r0, r1 = _trim_partial_rows(areal_g_cm2[:, c0:c1], r0, r1, model)
    if math.isfinite(height_mm) and height_mm > 0:
        r1 = min(r0 + int(round(height_mm / row_height_mm)), rows_total)
        # Columns again, on the container's own rows above the floor (no chassis there).
        upper = max(r0 + 1, r1 - int(math.ceil(float(settings["floor_band_mm"]) / row_height_mm)))
        share = occupied[r0:upper].mean(axis=0)
        refined = longest_run(_close_gaps(share >= 0.5, gap))
        if refined is not None and refined[1] - refined[0] >= 8:
            c0, c1 = refined
    height, length = r1 - r0, c1 - c0
    roof = _band(float(settings["roof_band_mm"]), row_height_mm, height, 0.2)
    floor = _band(float(settings["floor_band_mm"]), row_height_mm, height, 0.3)
    end = _band(float(settings["end_band_mm"]), column_pitch_mm, length, 0.2)
    ir0, ir1 = r0 + roof, r1 - floor
    ic0, ic1 = c0 + end, c1 - end

    interior_cols = areal_g_cm2[:, ic0:ic1]
    step = max(1, interior_cols.shape[1] // 1500)
    baseline = np.zeros(rows_total, np.float32)
    percentile = float(settings["baseline_percentile"])
    baseline[r0:r1] = np.percentile(interior_cols[r0:r1, ::step], percentile, axis=1)
    # A low percentile of noisy values sits below their mean by z_p standard deviations.
    row_noise = np.median(sigma_g_cm2[r0:r1, ic0:ic1:step], axis=1)
    baseline[r0:r1] += -_normal_quantile(percentile / 100.0) * row_noise
    wall = _wall_level(areal_g_cm2[ir0:ir1, ic0:ic1:step], sigma_g_cm2[ir0:ir1, ic0:ic1:step], baseline[ir0:ir1],
                       float(settings["wall_band_percentile"]))
    if model is not None and math.isfinite(model.walls_g_cm2):
        wall = min(wall, 1.5 * model.walls_g_cm2 + 0.5)
    profile = baseline.copy()
    profile[ir0:ir1] = np.minimum(baseline[ir0:ir1], wall)
    residual = np.zeros_like(areal_g_cm2, dtype=np.float32)
    residual[r0:r1, ic0:ic1] = areal_g_cm2[r0:r1, ic0:ic1] - profile[r0:r1, None]
    return StructureEstimate(
        found=True,
        rows=(r0, r1), cols=(c0, c1),
        roof_rows=(r0, ir0), floor_rows=(ir1, r1), interior_rows=(ir0, ir1),
        front_cols=(c0, ic0), rear_cols=(ic1, c1), interior_cols=(ic0, ic1),
        profile_g_cm2=profile, baseline_g_cm2=baseline, wall_g_cm2=wall,
        residual_g_cm2=residual, model=model,
    )
