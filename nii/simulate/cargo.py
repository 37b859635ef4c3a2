"""Cargo loads from the commodities catalogue (``seeds/commodities.toml``).

A commodity (keyed by HS code prefix) says what the goods are made of, how densely
they pack and in what units (pallets of cartons, floor-stacked cartons, blocks,
bulk bags, drums, bottles, coils, reels, tyres, crates). :func:`build_cargo` lays the
units out on a container's floor from the front, two or more across the width, with
random gaps, heights, fill fraction and unit-to-unit density variation drawn from a
seeded :class:`numpy.random.Generator`, and stops at the container's payload limit.

The goods of a load are one homogenised material (the commodity's components mixed
by mass at the drawn bulk density); packaging that the X-rays see separately
(pallets, crates, drum shells, bottle glass, coil cradles) are objects of their own
catalogue materials. Every object is role ``cargo``: its mass is part of the
declared gross mass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import CatalogueError, SimulationError
from nii.physics import Material, material
from nii.resources import read_catalogue, seed_path
from nii.simulate.scene import (
    Box,
    ContainerInfo,
    Cylinder,
    SceneObject,
    hollow_box,
    mixture_material,
)

__all__ = ["PACKINGS", "Commodity", "CargoLoad", "load_commodities", "commodity", "build_cargo"]

PACKINGS = ("pallets", "cartons", "blocks", "bulk_bags", "drums", "bottles", "coils", "rolls", "tyres", "crates")

#: Wooden pallet: deck height (mm), density of the wood (g/cm³) and of the pallet's envelope.
_PALLET_HEIGHT_MM = 144.0
_PALLET_ENVELOPE_G_CM3 = 0.145  # a 25 kg 1200 × 1000 pallet
_CLEARANCE_MM = 60.0  # below the ceiling, for loading


@dataclass(frozen=True)
class Commodity:
    """A commodity of the catalogue.

    Attributes
    ----------
    key : str
        HS code prefix it is keyed by (``"03"``, ``"2523"``).
    description, hs_code, package, source : str
    materials : tuple of (str, float)
        Component material names and mass fractions.
    bulk_density_kg_m3 : tuple of float
        Range of the packed load's density, kg/m³.
    packing : str
        One of :data:`PACKINGS`.
    unit_mm : tuple of float
        Packing unit (x, y, z), mm.
    height_mm, load_fraction : tuple of float
        Ranges of the goods' height per unit (mm) and of the floor positions used.
    density_cv : float
        Relative standard deviation of the density between units/layers.
    tiers : int
        Units stacked at most.
    extra : dict
        Packing-specific parameters (``layer_mm``, ``bottle_mm``, ``core_diameter_mm``...).
    """

    key: str
    description: str
    hs_code: str
    materials: tuple[tuple[str, float], ...]
    bulk_density_kg_m3: tuple[float, float]
    packing: str
    unit_mm: tuple[float, float, float]
    height_mm: tuple[float, float]
    load_fraction: tuple[float, float]
    density_cv: float
    tiers: int
    package: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def chapter(self) -> str:
        """The 2-digit HS chapter."""
        return self.key[:2]

    def load_material(self, density_kg_m3: float) -> Material:
        """Return the goods as one homogenised material at a bulk density (kg/m³)."""
        components = [(material(name), fraction) for name, fraction in self.materials]
        return mixture_material(
            f"hs{self.key} goods ({density_kg_m3:.0f} kg/m3)",
            components,
            density_kg_m3 / 1000.0,
            f"{self.description}: mixture of {', '.join(f'{n} {f:g}' for n, f in self.materials)} (seeds/commodities.toml)",
        )


def _pair(value: Any, name: str, key: str, path: Path) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise CatalogueError(f"{path}: commodity '{key}' field '{name}' must be [low, high].") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
        raise CatalogueError(f"{path}: commodity '{key}' field '{name}' must be a range 0 <= low <= high.")
    return lo, hi


@lru_cache(maxsize=4)
def _catalogue(path: Path) -> dict[str, Commodity]:
    data = read_catalogue(path, "commodities catalogue")
    table = data.get("commodities")
    if not isinstance(table, dict) or not table:
        raise CatalogueError(f"{path}: no [commodities.\"<hs prefix>\"] tables found.")
    known = {"description", "hs_code", "materials", "bulk_density_kg_m3", "packing", "unit_mm", "height_mm",
             "load_fraction", "density_cv", "tiers", "package", "source"}
    out: dict[str, Commodity] = {}
    for key, entry in table.items():
        if not (isinstance(key, str) and key.isdigit() and 2 <= len(key) <= 10):
            raise CatalogueError(f"{path}: commodity key {key!r} must be an HS code prefix of 2 to 10 digits.")
        missing = [name for name in sorted(known) if name not in entry]
        if missing:
            raise CatalogueError(f"{path}: commodity '{key}' lacks {', '.join(missing)}.")
        if entry["packing"] not in PACKINGS:
            raise CatalogueError(f"{path}: commodity '{key}' has packing {entry['packing']!r}; use one of {', '.join(PACKINGS)}.")
        try:
            components = tuple((str(c["name"]), float(c["fraction"])) for c in entry["materials"])
            unit = tuple(float(v) for v in entry["unit_mm"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogueError(f"{path}: commodity '{key}' has invalid materials or unit_mm ({exc}).") from exc
        if not components or any(f <= 0 for _, f in components) or len(unit) != 3:
            raise CatalogueError(f"{path}: commodity '{key}' needs positive material fractions and a 3-value unit_mm.")
        if not str(entry["source"]).strip():
            raise CatalogueError(f"{path}: commodity '{key}' has an empty source.")
        out[key] = Commodity(
            key=key,
            description=str(entry["description"]),
            hs_code=str(entry["hs_code"]),
            materials=components,
            bulk_density_kg_m3=_pair(entry["bulk_density_kg_m3"], "bulk_density_kg_m3", key, path),
            packing=str(entry["packing"]),
            unit_mm=unit,  # type: ignore[arg-type]
            height_mm=_pair(entry["height_mm"], "height_mm", key, path),
            load_fraction=_pair(entry["load_fraction"], "load_fraction", key, path),
            density_cv=float(entry["density_cv"]),
            tiers=int(entry["tiers"]),
            package=str(entry["package"]),
            source=str(entry["source"]),
            extra={k: v for k, v in entry.items() if k not in known},
        )
        if not out[key].hs_code.startswith(key[:2]):
            raise CatalogueError(f"{path}: commodity '{key}' has hs_code {out[key].hs_code} outside its chapter.")
    return out


def load_commodities(path: str | Path | None = None) -> dict[str, Commodity]:
    """Return the commodities catalogue by HS code prefix.

    Parameters
    ----------
    path : str or Path, optional
        Catalogue file; default ``seeds/commodities.toml``.
    """
    return dict(_catalogue(Path(seed_path("commodities.toml") if path is None else path).resolve()))


def commodity(hs_code: str, path: str | Path | None = None) -> Commodity:
    """Return the commodity of an HS code: the catalogue entry with the longest matching prefix.

    Parameters
    ----------
    hs_code : str
        HS code or chapter, 2 to 10 digits (``"03"``, ``"030389"``, ``"252329"``).

    Raises
    ------
    SimulationError
        If no entry matches.

    Examples
    --------
    >>> commodity("252329").description
    'Portland cement in 50 kg bags on pallets'
    """
    code = str(hs_code).strip().replace(".", "")
    catalogue = load_commodities(path)
    matches = [key for key in catalogue if code.startswith(key)]
    if not code.isdigit() or not matches:
        raise SimulationError(f"no commodity for HS code '{hs_code}'; catalogue chapters: {', '.join(sorted(catalogue))}.")
    return catalogue[max(matches, key=len)]


@dataclass
class CargoLoad:
    """A built load: its objects, package count and the goods material."""

    commodity: Commodity
    objects: list[SceneObject]
    packages: int
    goods_material: Material
    bulk_density_kg_m3: float
    load_fraction: float

    @property
    def mass_kg(self) -> float:
        """Mass of the load with its packaging, kg."""
        return float(sum(item.mass_kg for item in self.objects))


def _weight(rng: np.random.Generator, cv: float) -> float:
    if cv <= 0:
        return 1.0
    return float(np.clip(1.0 + cv * rng.standard_normal(), 0.5, 1.5))


class _Builder:
    """Lays out units of one commodity on a floor region."""

    def __init__(self, item: Commodity, region: tuple[float, ...], rng: np.random.Generator, density_kg_m3: float) -> None:
        self.item, self.rng = item, rng
        self.ceiling, self.floor, self.x0, self.x1, self.y0, self.y1 = region
        self.goods = item.load_material(density_kg_m3)
        self.wood = material("wood_pine")
        self.steel = material("steel")
        self.count = 0

    def _name(self, label: str) -> str:
        self.count += 1
        return f"hs{self.item.key} {label} {self.count}"

    def positions(self, ux: float, uy: float) -> list[tuple[float, float]]:
        """Floor positions (x, y) of units of footprint ux × uy, row by row from the front."""
        width = self.y1 - self.y0
        across = max(int((width + 20.0) // (uy + 20.0)), 1)
        if uy > width:
            return []
        spare = width - across * uy
        gaps = self.rng.uniform(0.0, 1.0, across + 1)
        gaps = gaps / gaps.sum() * spare
        ys = [self.y0 + gaps[: i + 1].sum() + i * uy for i in range(across)]
        out = []
        x = self.x0 + float(self.rng.uniform(0.0, 40.0))
        while x + ux <= self.x1:
            for y in ys:
                out.append((x, y))
            x += ux + float(self.rng.uniform(10.0, 80.0))
        return out

    def height(self, base: float = 0.0) -> float:
        lo, hi = self.item.height_mm
        room = self.floor - self.ceiling - _CLEARANCE_MM - base
        return float(min(self.rng.uniform(lo, hi), room))

    # --------------------------------------------------------------- units
    def pallets(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        ux, uy, _ = self.item.unit_mm
        layer = float(self.item.extra.get("layer_mm", 250.0))
        per_layer = int(self.item.extra.get("cartons_per_layer", 5))
        deck = self.floor - _PALLET_HEIGHT_MM
        pallet = SceneObject(
            self._name("pallet"), self.wood, "cargo",
            (Box(deck, self.floor, x, x + ux, y, y + uy, _PALLET_ENVELOPE_G_CM3 / self.wood.density_g_cm3),),
        )
        layers = max(int(self.height(_PALLET_HEIGHT_MM) // layer), 1)
        boxes = []
        for i in range(layers):
            top = deck - (i + 1) * layer
            if top < self.ceiling:
                break
            inset = float(self.rng.uniform(0.0, 25.0))
            boxes.append(Box(top + 2.0, top + layer, x + inset, x + ux - inset, y + inset, y + uy - inset, _weight(self.rng, self.item.density_cv)))
        if not boxes:
            return [pallet], 0
        goods = SceneObject(self._name("pallet load"), self.goods, "cargo", tuple(boxes))
        return [pallet, goods], len(boxes) * per_layer

    def cartons(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        ux, uy, uz = self.item.unit_mm
        stack = min(self.item.tiers, max(int(self.height() // uz), 1))
        boxes = []
        for i in range(stack):
            bottom = self.floor - i * uz
            if bottom - uz < self.ceiling:
                break
            boxes.append(Box(bottom - uz + 3.0, bottom, x + 3.0, x + ux - 3.0, y + 3.0, y + uy - 3.0, _weight(self.rng, self.item.density_cv)))
        return [SceneObject(self._name("carton stack"), self.goods, "cargo", tuple(boxes))], len(boxes)

    def blocks(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        ux, uy, _ = self.item.unit_mm
        boxes = []
        bottom = self.floor
        for _ in range(self.item.tiers):
            h = self.height(self.floor - bottom)
            if h < 100.0 or bottom - h - 40.0 < self.ceiling:
                break
            boxes.append(Box(bottom - h, bottom - 40.0, x, x + ux, y, y + uy, _weight(self.rng, self.item.density_cv)))
            bottom -= h
        if not boxes:
            return [], 0
        dunnage = [Box(b.z1, b.z1 + 40.0, x + 100.0, x + ux - 100.0, y, y + uy, 0.3) for b in boxes]
        return [
            SceneObject(self._name("block"), self.goods, "cargo", tuple(boxes)),
            SceneObject(self._name("dunnage"), self.wood, "cargo", tuple(dunnage)),
        ], len(boxes)

    def bulk_bags(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        ux, uy, _ = self.item.unit_mm
        h = self.height()
        return [SceneObject(self._name("bulk bag"), self.goods, "cargo", (Box(self.floor - h, self.floor, x + 20.0, x + ux - 20.0, y + 20.0, y + uy - 20.0, _weight(self.rng, self.item.density_cv)),))], 1

    def crates(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        ux, uy, _ = self.item.unit_mm
        wall = float(self.item.extra.get("crate_wall_mm", 20.0))
        h = self.height()
        shell = hollow_box(self.floor - h, self.floor, x, x + ux, y, y + uy, wall)
        content = Box(self.floor - h + wall, self.floor - wall, x + wall + 30.0, x + ux - wall - 30.0, y + wall + 30.0, y + uy - wall - 30.0, _weight(self.rng, self.item.density_cv))
        return [
            SceneObject(self._name("crate"), self.wood, "cargo", shell),
            SceneObject(self._name("crate contents"), self.goods, "cargo", (content,)),
        ], 1

    def drums(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        diameter, _, height = self.item.unit_mm
        r = diameter / 2
        wall = float(self.item.extra.get("drum_wall_mm", 1.0))
        shells, contents = [], []
        bottom = self.floor
        n = 0
        for _ in range(self.item.tiers):
            if bottom - height < self.ceiling + _CLEARANCE_MM:
                break
            zc = bottom - height / 2
            shells.append(Cylinder("z", zc, x + r, y + r, r, height, r - wall))
            shells.append(Cylinder("z", bottom - wall / 2, x + r, y + r, r - wall, wall))
            shells.append(Cylinder("z", bottom - height + wall / 2, x + r, y + r, r - wall, wall))
            fill = float(self.rng.uniform(0.88, 0.95)) * (height - 2 * wall)
            contents.append(Cylinder("z", bottom - wall - fill / 2, x + r, y + r, r - wall, fill))
            bottom -= height + 5.0
            n += 1
        if not n:
            return [], 0
        return [
            SceneObject(self._name("drum shells"), self.steel, "cargo", tuple(shells)),
            SceneObject(self._name("drum contents"), self.goods, "cargo", tuple(contents)),
        ], n

    def bottles(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        ux, uy, _ = self.item.unit_mm
        spec = self.item.extra.get("bottle_mm", {})
        r, wall = float(spec.get("radius", 37.0)), float(spec.get("wall", 3.0))
        bh, fill, gap = float(spec.get("height", 300.0)), float(spec.get("fill_height", 260.0)), float(spec.get("gap", 4.0))
        layer = float(self.item.extra.get("layer_mm", bh + 20.0))
        deck = self.floor - _PALLET_HEIGHT_MM
        pallet = SceneObject(self._name("pallet"), self.wood, "cargo", (Box(deck, self.floor, x, x + ux, y, y + uy, _PALLET_ENVELOPE_G_CM3 / self.wood.density_g_cm3),))
        pitch = 2 * r + gap
        columns = int(ux // pitch)
        per_row = int(uy // pitch)  # bottles one behind the other along the beam
        layers = max(int(self.height(_PALLET_HEIGHT_MM) // layer), 1)
        glass, liquid = [], []
        bottom_share = 1.0 + (r - wall) ** 2 * wall / ((r**2 - (r - wall) ** 2) * bh)
        for i in range(layers):
            base = deck - i * layer
            if base - bh < self.ceiling:
                break
            for j in range(columns):
                xc = x + (j + 0.5) * pitch
                # The bottom's glass is folded into the wall (same mass, one primitive).
                glass.append(Cylinder("z", base - bh / 2, xc, y + uy / 2, r, bh, r - wall, weight=per_row * bottom_share))
                liquid.append(Cylinder("z", base - wall - fill / 2, xc, y + uy / 2, r - wall, fill, weight=per_row))
        if not glass:
            return [pallet], 0
        cases = (len(liquid) * per_row) // 12
        return [
            pallet,
            SceneObject(self._name("bottle glass"), material("glass"), "cargo", tuple(glass)),
            SceneObject(self._name("bottled liquid"), self.liquid, "cargo", tuple(liquid)),
        ], cases

    def coils(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        width = self.item.unit_mm[0]
        diameter = float(self.rng.uniform(*self.item.height_mm))
        r = diameter / 2
        core = float(self.item.extra.get("core_diameter_mm", 610.0)) / 2
        cradle = 150.0
        zc = self.floor - cradle - r * 0.8
        yc = (self.y0 + self.y1) / 2
        coil = Cylinder("x", zc, x + width / 2, yc, r, width, core)
        cradle_box = Box(self.floor - cradle, self.floor, x - 50.0, x + width + 50.0, yc - r * 0.7, yc + r * 0.7, 0.6)
        return [
            SceneObject(self._name("steel coil"), self.goods, "cargo", (coil,)),
            SceneObject(self._name("coil cradle"), self.wood, "cargo", (cradle_box,)),
        ], 1

    def rolls(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        diameter, _, _ = self.item.unit_mm
        r = diameter / 2
        core = float(self.item.extra.get("core_diameter_mm", 76.0)) / 2
        h = self.height()
        reel = Cylinder("z", self.floor - h / 2, x + r, y + r, r, h, core, _weight(self.rng, self.item.density_cv))
        return [SceneObject(self._name("paper reel"), self.goods, "cargo", (reel,))], 1

    def tyres(self, x: float, y: float) -> tuple[list[SceneObject], int]:
        diameter, _, thickness = self.item.unit_mm
        r = diameter / 2
        inner = float(self.item.extra.get("inner_diameter_mm", 400.0)) / 2
        fill = float(self.item.extra.get("rubber_fill", 0.33))
        stack = max(int(self.height() // thickness), 1)
        tyres = [
            Cylinder("z", self.floor - (i + 0.5) * thickness, x + r, y + r, r, thickness - 2.0, inner, fill * _weight(self.rng, self.item.density_cv))
            for i in range(stack)
            if self.floor - (i + 1) * thickness >= self.ceiling + _CLEARANCE_MM
        ]
        if not tyres:
            return [], 0
        return [SceneObject(self._name("tyre stack"), self.goods, "cargo", tuple(tyres))], len(tyres)

    @property
    def liquid(self) -> Material:
        components = [(material(n), f) for n, f in self.item.materials if n != "glass"]
        return mixture_material(f"hs{self.item.key} liquid", components, 1.0, f"{self.item.description}: bottled liquid (seeds/commodities.toml)")


def _footprint(item: Commodity) -> tuple[float, float]:
    ux, uy, _ = item.unit_mm
    if item.packing == "coils":
        return ux + 2 * float(item.extra.get("coil_gap_mm", 350.0)), max(item.height_mm[1], uy)
    return ux, uy


def build_cargo(
    item: Commodity | str,
    region_mm: tuple[float, float, float, float, float, float],
    rng: np.random.Generator,
    *,
    load_fraction: float | None = None,
    max_mass_kg: float | None = None,
    density_cv: float | None = None,
) -> CargoLoad:
    """Load a commodity onto a floor region.

    Parameters
    ----------
    item : Commodity or str
        Commodity or HS code.
    region_mm : tuple of float
        ``(z_ceiling, z_floor, x0, x1, y0, y1)``, mm: the space the goods may fill
        (usually :attr:`ContainerInfo.interior_mm`; the goods stand on ``z_floor``).
    rng : numpy.random.Generator
        Source of every random draw (same seed → same load).
    load_fraction : float, optional
        Fraction (0–1] of the floor positions used; default drawn from the catalogue range.
    max_mass_kg : float, optional
        Stop adding units before the load exceeds this mass (the payload limit), kg.
    density_cv : float, optional
        Relative standard deviation of the density from unit to unit (0–0.3), in
        place of the commodity's: the cargo texture a benchmark randomises.

    Returns
    -------
    CargoLoad

    Raises
    ------
    SimulationError
        If the region is empty or the load fraction is outside (0, 1].
    """
    if isinstance(item, str):
        item = commodity(item)
    if density_cv is not None:
        if not (isinstance(density_cv, (int, float)) and 0.0 <= float(density_cv) <= 0.3):
            raise SimulationError(f"density_cv must be in [0, 0.3], got {density_cv!r}.")
        item = replace(item, density_cv=float(density_cv))
    ceiling, floor, x0, x1, y0, y1 = (float(v) for v in region_mm)
    if not (floor > ceiling and x1 > x0 and y1 > y0):
        raise SimulationError(f"cargo region {region_mm} mm is empty.")
    fraction = float(rng.uniform(*item.load_fraction)) if load_fraction is None else float(load_fraction)
    if not 0 < fraction <= 1:
        raise SimulationError(f"load_fraction must be in (0, 1], got {load_fraction!r}.")
    density = float(rng.uniform(*item.bulk_density_kg_m3))
    builder = _Builder(item, (ceiling, floor, x0, x1, y0, y1), rng, density)
    ux, uy = _footprint(item)
    if item.packing == "coils":
        positions = [(x + float(item.extra.get("coil_gap_mm", 350.0)), y) for x, y in builder.positions(ux, y1 - y0)]
    else:
        positions = builder.positions(ux, uy)
    used = positions[: max(int(round(fraction * len(positions))), 1 if positions else 0)]
    unit = getattr(builder, item.packing)
    objects: list[SceneObject] = []
    packages = 0
    mass = 0.0
    limit = math.inf if max_mass_kg is None else float(max_mass_kg)
    for x, y in used:
        parts, count = unit(x, y)
        for part in parts:
            part.metadata["packaging"] = part.material.name != builder.goods.name and "liquid" not in part.name
        added = sum(p.mass_kg for p in parts)
        if mass + added > limit:
            break
        objects.extend(parts)
        packages += count
        mass += added
    return CargoLoad(item, objects, packages, builder.goods, density, fraction)


def container_region(info: ContainerInfo) -> tuple[float, float, float, float, float, float]:
    """The cargo region of a container: its interior box, mm."""
    return info.interior_mm
