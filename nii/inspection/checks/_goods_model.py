"""The declared goods as the scanner sees them: their composition and their (α_H, α_L) tables.

The declaration names the goods (HS chapters) and their masses; ``[[checks.mass.goods]]``
of ``seeds/hs_expectations.toml`` says what each chapter's goods are made of (element
make-up by materials of ``seeds/materials.toml``), with other plausible make-ups of the
same chapter (``alternatives``). A load of several items is their mixture by declared
mass: along a 2.3 m path every ray crosses many parts, so its attenuation is that of the
mixture (per-process mass attenuation is additive by mass).

:class:`GoodsTable` tabulates, with the calibration's
:class:`~nii.scanner_model.ScannerModel`, the attenuations ``α_H, α_L`` of a ray that
crosses the container's side walls (steel, the areal density the structure estimate
gives for the row) and ``λ`` g/cm² of the goods, on a grid of wall areal densities and
of ``λ``. Between nodes it is interpolated (linearly along the wall axis, by
:func:`numpy.interp` along ``λ``): inverting ``α_H`` to ``λ`` is then as fast as a
lookup, for every pixel of a 40 ft scan.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nii.errors import CatalogueError

__all__ = ["GoodsComposition", "declared_composition", "chapter_make_ups", "GoodsTable", "WALL_MATERIAL"]

#: What the side walls, roof and rails of an ISO container are made of (materials.toml).
WALL_MATERIAL = "steel"
#: Areal-density nodes of the goods, g/cm²: 0, then geometric to past what any beam crosses.
_AREAL_NODES = np.concatenate([[0.0], np.geomspace(0.05, 3000.0, 200)])
#: Wall nodes: at most this many between the lightest and the heaviest row's wall.
_WALL_NODES = 9


@functools.lru_cache(maxsize=256)
def _material_composition(name: str) -> tuple[tuple[str, float], ...]:
    from nii.physics import material

    try:
        found = material(name)
    except Exception as exc:  # noqa: BLE001 - the catalogue raises its own error types
        raise CatalogueError(f"[checks.mass.goods]: unknown material {name!r} ({exc})") from exc
    return tuple(sorted((str(k), float(v)) for k, v in found.composition.items()))


def _mix(parts: Sequence[tuple[Mapping[str, float], float]]) -> dict[str, float]:
    """Element mass fractions of a mixture of compositions by weight."""
    total = sum(weight for _, weight in parts)
    out: dict[str, float] = {}
    for composition, weight in parts:
        for element, share in composition.items():
            out[element] = out.get(element, 0.0) + float(share) * weight / total
    return out


def _parse_mixture(entry: Any, where: str) -> dict[str, float]:
    if not isinstance(entry, (list, tuple)) or not entry:
        raise CatalogueError(f"{where} must be a list of {{name, fraction}} tables")
    parts = []
    for part in entry:
        if not isinstance(part, Mapping) or not isinstance(part.get("name"), str):
            raise CatalogueError(f"{where}: each part needs a material 'name'")
        fraction = part.get("fraction")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not fraction > 0:
            raise CatalogueError(f"{where}: the fraction of {part['name']!r} must be a positive number")
        parts.append((dict(_material_composition(part["name"])), float(fraction)))
    return _mix(parts)


@dataclass(frozen=True)
class GoodsComposition:
    """The declared load's make-up.

    Parameters
    ----------
    composition : dict of str to float
        Element mass fractions of the load (the declared items mixed by declared mass).
    alternatives : tuple of dict
        Other plausible make-ups of the same declaration (each item's alternatives in
        turn, the others at their primary make-up).
    chapters : tuple of str
        The declared chapters, for messages.
    texture_cv : float
        Relative spread of the goods' areal density below the scanner's resolution
        (packing: gaps between cartons, bottles, parts; dimensionless), weighted by
        declared mass: what the blurred, pixel-averaged transmission loses
        (``−ln⟨T⟩ < ⟨−ln T⟩``).
    texture_sigma : float
        Standard uncertainty of ``texture_cv`` (dimensionless).
    """

    composition: Mapping[str, float]
    alternatives: tuple[Mapping[str, float], ...]
    chapters: tuple[str, ...]
    texture_cv: float = 0.0
    texture_sigma: float = 0.0


def _number(entry: Mapping[str, Any], name: str, where: str) -> float:
    value = entry.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise CatalogueError(f"{where}: {name!r} must be a number in [0, 1)")
    return float(value)


def _goods_entries(settings: Mapping[str, Any]) -> dict[str, tuple[dict[str, float], list[dict[str, float]], float, float]]:
    entries = settings.get("goods", ())
    if not isinstance(entries, (list, tuple)):
        raise CatalogueError("[checks.mass].goods must be a list of tables")
    out: dict[str, tuple[dict[str, float], list[dict[str, float]], float, float]] = {}
    for index, entry in enumerate(entries):
        where = f"[[checks.mass.goods]] entry {index}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("chapters"), list):
            raise CatalogueError(f"{where} needs a list of 'chapters'")
        if not isinstance(entry.get("source"), str) or not entry["source"]:
            raise CatalogueError(f"{where} lacks its 'source'")
        primary = _parse_mixture(entry.get("materials"), f"{where}: materials")
        alternatives = [_parse_mixture(alt, f"{where}: alternatives") for alt in entry.get("alternatives", ())]
        texture = (_number(entry, "texture_cv", where), _number(entry, "texture_cv_sigma", where))
        for chapter in entry["chapters"]:
            out[str(chapter)] = (primary, alternatives, *texture)
    return out


def chapter_make_ups(chapter: str, settings: Mapping[str, Any]) -> list[dict[str, float]] | None:
    """The primary make-up of a chapter's goods, then its alternatives; None when not listed."""
    entry = _goods_entries(settings).get(str(chapter))
    return None if entry is None else [entry[0], *entry[1]]


def declared_composition(items: Sequence[Any], settings: Mapping[str, Any]) -> GoodsComposition | None:
    """The declared goods' composition, mixed by declared mass.

    Parameters
    ----------
    items : sequence of ManifestItem
        Declared goods (``chapter``; ``gross_mass_kg`` in kg, items without one weigh
        as the mean of the others).
    settings : mapping
        ``[checks.mass]`` with its ``goods`` list.

    Returns
    -------
    GoodsComposition or None
        None when there are no items or a declared chapter's make-up is not listed (the
        estimate cannot read those goods on the model).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> settings = {"goods": [{"chapters": ["22"], "source": "s",
    ...                        "materials": [{"name": "water", "fraction": 1.0}]}]}
    >>> goods = declared_composition([SimpleNamespace(chapter="22", gross_mass_kg=10.0)], settings)
    >>> round(goods.composition["H"], 3)
    0.112
    """
    if not items:
        return None
    table = _goods_entries(settings)
    masses = [float(item.gross_mass_kg) for item in items if item.gross_mass_kg and item.gross_mass_kg > 0]
    default = sum(masses) / len(masses) if masses else 1.0
    known = []
    for item in items:
        entry = table.get(str(item.chapter))
        if entry is None:
            return None
        weight = float(item.gross_mass_kg) if item.gross_mass_kg and item.gross_mass_kg > 0 else default
        known.append((entry, weight))
    composition = _mix([(entry[0], weight) for entry, weight in known])
    alternatives = []
    for index, (entry, _) in enumerate(known):
        for alternative in entry[1]:
            parts = [(alternative if j == index else other[0], weight) for j, (other, weight) in enumerate(known)]
            alternatives.append(_mix(parts))
    chapters = tuple(dict.fromkeys(str(item.chapter) for item in items))
    total = sum(weight for _, weight in known)
    texture = sum(entry[2] * weight for entry, weight in known) / total
    texture_sigma = sum(entry[3] * weight for entry, weight in known) / total
    return GoodsComposition(composition, tuple(alternatives), chapters, texture, texture_sigma)


class GoodsTable:
    """``α_H, α_L`` of goods behind the container's side walls, tabulated over (wall, λ).

    Parameters
    ----------
    model : ScannerModel
        The calibration's forward model.
    composition : mapping
        Element mass fractions of the goods.
    wall_g_cm2 : numpy.ndarray
        Areal densities of wall steel the table must cover (g/cm², e.g. the structure
        profile of every interior row).

    Notes
    -----
    ``α(w, λ)`` is exact at the nodes; along the wall axis it is interpolated linearly
    between at most ``_WALL_NODES`` nodes (walls of a few g/cm²: the curvature is far
    below the calibration's accuracy), along ``λ`` on 201 geometric nodes.
    """

    def __init__(self, model: Any, composition: Mapping[str, float], wall_g_cm2: np.ndarray) -> None:
        from nii.physics import material

        walls = np.asarray(wall_g_cm2, np.float64)
        walls = np.clip(walls[np.isfinite(walls)], 0.0, None)
        low, high = (float(walls.min()), float(walls.max())) if walls.size else (0.0, 0.0)
        count = 1 if high - low < 1e-6 else _WALL_NODES
        self.wall_nodes = np.linspace(low, high, count)
        self.areal_nodes = _AREAL_NODES
        steel = dict(material(WALL_MATERIAL).composition)
        high_alpha, low_alpha = model.predict([(steel, self.wall_nodes[:, None]),
                                               (dict(composition), self.areal_nodes[None, :])])
        self.alpha_high = np.maximum.accumulate(np.asarray(high_alpha, np.float64), axis=1)
        self.alpha_low = np.maximum.accumulate(np.asarray(low_alpha, np.float64), axis=1)

    def _row_tables(self, wall: float) -> tuple[np.ndarray, np.ndarray]:
        nodes = self.wall_nodes
        if nodes.size == 1:
            return self.alpha_high[0], self.alpha_low[0]
        position = float(np.clip((wall - nodes[0]) / (nodes[1] - nodes[0]), 0.0, nodes.size - 1.0))
        lower = min(int(math.floor(position)), nodes.size - 2)
        t = position - lower
        high = self.alpha_high[lower] * (1.0 - t) + self.alpha_high[lower + 1] * t
        low = self.alpha_low[lower] * (1.0 - t) + self.alpha_low[lower + 1] * t
        return high, low

    def invert(self, alpha_high: np.ndarray,
               wall_g_cm2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Goods' areal density from measured ``α_H``, row by row.

        Parameters
        ----------
        alpha_high : numpy.ndarray
            Measured high-energy attenuation (rows × columns, dimensionless; non-finite
            values read as the wall alone).
        wall_g_cm2 : numpy.ndarray
            Wall steel of each row (g/cm², one value per row).

        Returns
        -------
        areal_g_cm2 : numpy.ndarray
            ``λ`` of the goods (g/cm², float64). Below the wall alone it continues
            linearly with the slope at ``λ = 0`` (noise stays unbiased around zero);
            above the table it is the table's end (a lower bound).
        slope : numpy.ndarray
            ``dα_H/dλ`` at that ``λ`` (cm²/g), for the noise propagation.
        expected_low : numpy.ndarray
            ``α_L`` the model predicts for the goods at that ``λ`` behind the wall.
        slope_low : numpy.ndarray
            ``dα_L/dλ`` at that ``λ`` (cm²/g).
        """
        alpha = np.asarray(alpha_high, np.float64)
        areal = np.empty(alpha.shape)
        slope = np.empty(alpha.shape)
        expected_low = np.empty(alpha.shape)
        slope_low = np.empty(alpha.shape)
        nodes = self.areal_nodes
        # Rows of one wall areal density share one table (most interior rows do).
        walls, which = np.unique(np.asarray(wall_g_cm2, np.float64)[: alpha.shape[0]], return_inverse=True)
        for index, wall in enumerate(walls):
            rows = np.flatnonzero(which == index)
            high, low = self._row_tables(float(wall))
            block = alpha[rows]
            values = np.where(np.isfinite(block), block, high[0])
            gradient = np.gradient(high, nodes)
            low_gradient = np.gradient(low, nodes)
            start = max(float(gradient[0]), 1e-9)
            # One search of the table, its interval and weight reused for every lookup.
            upper = np.clip(np.searchsorted(high, values, side="right"), 1, nodes.size - 1)
            span = high[upper] - high[upper - 1]
            weight = np.clip((values - high[upper - 1]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
            below = values < high[0]

            def lookup(table: np.ndarray, upper: np.ndarray = upper, weight: np.ndarray = weight) -> np.ndarray:
                return table[upper - 1] * (1.0 - weight) + table[upper] * weight

            inside = lookup(nodes)
            areal[rows] = np.where(below, (values - high[0]) / start, inside)
            slope[rows] = np.where(below, start, np.maximum(lookup(gradient), 1e-9))
            expected_low[rows] = np.where(below, low[0] + (values - high[0]) / start * low_gradient[0], lookup(low))
            slope_low[rows] = np.where(below, low_gradient[0], lookup(low_gradient))
        return areal, slope, expected_low, slope_low
