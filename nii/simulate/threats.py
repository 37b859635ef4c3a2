"""Threats and concealments from the library (``seeds/threats.toml``).

Each threat is built as scene objects (role ``"threat"``) and placed in a container:

- objects hidden among the goods (``block``, ``shielded_source``, ``hollow_box``,
  ``concealed_goods``) take the place of the goods they displace: every cargo box they
  overlap gets a cavity (:func:`nii.simulate.scene.carve`), so the cargo mass stays
  exact; without cargo they stand on the floor;
- a ``vehicle`` stands on the floor and the goods where it stands are left out;
- structural changes (``false_wall``, ``thickened_floor``) change the space the goods
  may fill (:func:`threat_cargo_region`), so the cargo is laid out around them.

:func:`place_threat` returns the new objects, the cargo left around them and the
ground-truth regions (``bbox_mm`` ``[z0, x0, z1, x1]`` in scene coordinates, the
material class name and the reason code).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nii.classes import CLASS_NAMES, class_of_zeff
from nii.errors import CatalogueError, SimulationError
from nii.physics import Material, material, zeff
from nii.reasons import REASON_CODES
from nii.resources import read_catalogue, seed_path
from nii.simulate.scene import Box, ContainerInfo, Cylinder, SceneObject, carve, hollow_box

__all__ = [
    "REASON_CODES",
    "THREAT_KINDS",
    "SIZES",
    "Threat",
    "ThreatPlacement",
    "load_threats",
    "threat",
    "threat_cargo_region",
    "place_threat",
    "material_class_name",
]

THREAT_KINDS = ("block", "shielded_source", "hollow_box", "concealed_goods", "false_wall", "thickened_floor", "vehicle")
SIZES = ("small", "medium", "large")
#: Free space around a car loaded against the front wall, mm.
_VEHICLE_GAP_MM = 60.0


@dataclass(frozen=True)
class Threat:
    """A threat of the library (see ``seeds/threats.toml`` for the fields)."""

    name: str
    description: str
    kind: str
    reasons: tuple[str, ...]
    host_chapters: tuple[str, ...]
    counts_as_cargo: bool
    sizes: dict[str, dict[str, Any]] = field(hash=False, compare=False)
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def size(self, name: str) -> dict[str, Any]:
        """Return the parameters of one size (``small``, ``medium``, ``large``)."""
        if name not in self.sizes:
            raise SimulationError(f"threat '{self.name}' has no size '{name}'; sizes: {', '.join(self.sizes)}.")
        return self.sizes[name]


@lru_cache(maxsize=4)
def _catalogue(path: Path) -> dict[str, Threat]:
    data = read_catalogue(path, "threat library")
    table = data.get("threats")
    if not isinstance(table, dict) or not table:
        raise CatalogueError(f"{path}: no [threats.<name>] tables found.")
    out: dict[str, Threat] = {}
    for name, entry in table.items():
        for required in ("description", "kind", "reasons", "sizes", "source"):
            if required not in entry:
                raise CatalogueError(f"{path}: threat '{name}' lacks '{required}'.")
        if entry["kind"] not in THREAT_KINDS:
            raise CatalogueError(f"{path}: threat '{name}' has kind {entry['kind']!r}; use one of {', '.join(THREAT_KINDS)}.")
        reasons = tuple(str(r) for r in entry["reasons"])
        unknown = [r for r in reasons if r not in REASON_CODES]
        if not reasons or unknown:
            raise CatalogueError(f"{path}: threat '{name}' has unknown or no reason codes {unknown}.")
        if not isinstance(entry["sizes"], dict) or not entry["sizes"]:
            raise CatalogueError(f"{path}: threat '{name}' has no sizes.")
        if not str(entry["source"]).strip():
            raise CatalogueError(f"{path}: threat '{name}' has an empty source.")
        fixed = {"description", "kind", "reasons", "sizes", "source", "host_chapters", "counts_as_cargo"}
        out[name] = Threat(
            name=name,
            description=str(entry["description"]),
            kind=str(entry["kind"]),
            reasons=reasons,
            host_chapters=tuple(str(c) for c in entry.get("host_chapters", [])),
            counts_as_cargo=bool(entry.get("counts_as_cargo", True)),
            sizes={str(k): dict(v) for k, v in entry["sizes"].items()},
            source=str(entry["source"]),
            options={k: v for k, v in entry.items() if k not in fixed},
        )
    return out


def load_threats(path: str | Path | None = None) -> dict[str, Threat]:
    """Return the threat library by name.

    Parameters
    ----------
    path : str or Path, optional
        Library file; default ``seeds/threats.toml``.
    """
    return dict(_catalogue(Path(seed_path("threats.toml") if path is None else path).resolve()))


def threat(name: str, path: str | Path | None = None) -> Threat:
    """Return a threat by name (``-`` and ``_`` are interchangeable).

    Raises
    ------
    SimulationError
        If the library has no such threat.
    """
    library = load_threats(path)
    key = str(name).strip().lower().replace("-", "_")
    if key not in library:
        raise SimulationError(f"unknown threat '{name}'; library: {', '.join(sorted(library))}.")
    return library[key]


def material_class_name(item: Material) -> str:
    """Return the contract class name (``organic`` … ``high_z``) of a material's Z_eff."""
    return CLASS_NAMES[int(class_of_zeff(zeff(item)))]


@dataclass
class ThreatPlacement:
    """A threat built into a container.

    Attributes
    ----------
    objects : list of SceneObject
        The threat's objects (role ``"threat"``).
    cargo : list of SceneObject
        The cargo objects left around it (carved or thinned out).
    regions : list of dict
        Ground-truth regions: ``bbox_mm`` [z0, x0, z1, x1] (mm, scene coordinates),
        ``material`` (class name), ``reason`` (code), ``threat``, ``size``, ``mass_kg``.
    """

    threat: Threat
    size: str
    objects: list[SceneObject]
    cargo: list[SceneObject]
    regions: list[dict[str, Any]]

    @property
    def mass_kg(self) -> float:
        """Mass of the threat's objects, kg."""
        return float(sum(item.mass_kg for item in self.objects))


def threat_cargo_region(item: Threat, size: str, region_mm: tuple[float, ...]) -> tuple[float, ...]:
    """Return the space left to the goods once a structural threat is built.

    A false wall moves the front of the cargo space back by its depth; a thickened
    floor raises the floor by its depth and plate; a car takes the front of the box.
    Other threats leave it unchanged.

    Parameters
    ----------
    item : Threat
    size : str
    region_mm : tuple of float
        ``(z_ceiling, z_floor, x0, x1, y0, y1)``, mm.
    """
    ceiling, floor, x0, x1, y0, y1 = region_mm
    spec = item.size(size)
    if item.kind == "false_wall":
        return (ceiling, floor, x0 + float(spec["depth_mm"]) + float(item.options.get("wall_mm", 2.0)) + 20.0, x1, y0, y1)
    if item.kind == "thickened_floor":
        return (ceiling, floor - float(spec["depth_mm"]) - float(item.options.get("plate_mm", 6.0)), x0, x1, y0, y1)
    if item.kind == "vehicle":
        # The car goes in first, against the front wall; the cover load fills the rest.
        return (ceiling, floor, x0 + _dims(spec, item.name)[1] + 2 * _VEHICLE_GAP_MM, x1, y0, y1)
    return tuple(region_mm)


def _goods_material(item: Threat) -> Material:
    """The material of concealed goods: a catalogue material or a commodity's goods."""
    if "goods_of" in item.options:
        from nii.simulate.cargo import commodity

        goods = commodity(str(item.options["goods_of"]))
        density = sum(goods.bulk_density_kg_m3) / 2
        return goods.load_material(density)
    name = item.options.get("contents") or item.options.get("material")
    if not name:
        raise CatalogueError(f"threat '{item.name}' names neither a material nor goods_of.")
    return material(str(name))


def _dims(spec: dict[str, Any], name: str) -> tuple[float, float, float]:
    try:
        dz, dx, dy = (float(v) for v in spec["dims_mm"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogueError(f"threat '{name}' size needs dims_mm = [z, x, y].") from exc
    if not (dz > 0 and dx > 0 and dy > 0):
        raise CatalogueError(f"threat '{name}' has non-positive dims_mm.")
    return dz, dx, dy


def _location(
    dims: tuple[float, float, float], region: tuple[float, ...], cargo: list[SceneObject], rng: np.random.Generator
) -> tuple[float, float, float, float, float, float]:
    """Choose where a hidden object goes: inside the goods if any, else on the floor."""
    dz, dx, dy = dims
    ceiling, floor, x0, x1, y0, y1 = region
    if dz > floor - ceiling or dx > x1 - x0 or dy > y1 - y0:
        raise SimulationError(f"a threat of {dz:.0f} × {dx:.0f} × {dy:.0f} mm does not fit in the container.")
    primitives = [
        p
        for item in cargo
        if item.role == "cargo" and not item.metadata.get("packaging")
        for p in item.primitives
        if p.weight > 0
    ]
    hosts = [p.bounds3d for p in primitives]
    if hosts:
        volumes = np.asarray([(b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]) for b in hosts])
        chosen = primitives[int(rng.choice(len(hosts), p=volumes / volumes.sum()))]
        host = chosen.bounds3d
        centre = [float(rng.uniform(host[2 * i], host[2 * i + 1])) for i in range(3)]
        if isinstance(chosen, Cylinder) and _fits_in_eye(chosen, dims):
            # Hidden in the eye of a coil, reel or tyre stack: centred on its axis.
            axis = "zxy".index(chosen.axis)
            centre = [chosen.zc, chosen.xc, chosen.yc][:]
            centre[axis] = float(rng.uniform(host[2 * axis] + dims[axis] / 2, max(host[2 * axis + 1] - dims[axis] / 2, host[2 * axis] + dims[axis] / 2)))
            zc = float(centre[0])
        else:
            # Keep it inside the loaded space and off the floor's edge.
            z_top_goods = min(b[0] for b in hosts)
            zc = float(np.clip(centre[0], max(ceiling, z_top_goods) + dz / 2, floor - dz / 2))
    else:
        centre = [floor - dz / 2, float(rng.uniform(x0 + dx / 2, x1 - dx / 2)), float(rng.uniform(y0 + dy / 2, y1 - dy / 2))]
        zc = floor - dz / 2
    xc = float(np.clip(centre[1], x0 + dx / 2, x1 - dx / 2))
    yc = float(np.clip(centre[2], y0 + dy / 2, y1 - dy / 2))
    return (zc - dz / 2, zc + dz / 2, xc - dx / 2, xc + dx / 2, yc - dy / 2, yc + dy / 2)


def _fits_in_eye(cylinder: Cylinder, dims: Sequence[float]) -> bool:
    """Whether a box of ``dims`` (z, x, y) fits across the hole of a hollow cylinder."""
    across = [d for i, d in enumerate(dims) if "zxy"[i] != cylinder.axis]
    return cylinder.inner_radius_mm > 0 and math.hypot(*across) / 2 < cylinder.inner_radius_mm


def _make_room(cargo: list[SceneObject], bounds: tuple[float, ...]) -> list[SceneObject]:
    out = []
    for item in cargo:
        carved = carve(item, bounds)
        if carved is not None:
            out.append(carved)
    return out


def _drop_overlapping(cargo: list[SceneObject], bounds: tuple[float, ...]) -> list[SceneObject]:
    z0, z1, x0, x1, y0, y1 = bounds

    def overlaps(item: SceneObject) -> bool:
        b = item.bounds3d
        return b[0] < z1 and b[1] > z0 and b[2] < x1 and b[3] > x0 and b[4] < y1 and b[5] > y0

    return [item for item in cargo if not overlaps(item)]


def _region(bbox: tuple[float, float, float, float], item: Threat, size: str, mat: Material, mass: float, reason: str) -> dict[str, Any]:
    return {
        "bbox_mm": [float(v) for v in bbox],
        "material": material_class_name(mat),
        "reason": reason,
        "threat": item.name,
        "size": size,
        "mass_kg": round(float(mass), 3),
    }


def place_threat(
    item: Threat | str,
    size: str,
    info: ContainerInfo | None,
    region_mm: tuple[float, ...],
    cargo: list[SceneObject],
    rng: np.random.Generator,
) -> ThreatPlacement:
    """Build a threat and place it in a container with its cargo.

    Parameters
    ----------
    item : Threat or str
        Library entry or its name.
    size : {"small", "medium", "large"}
    info : ContainerInfo or None
        The container (None: a free-standing load).
    region_mm : tuple of float
        The container's interior ``(z_ceiling, z_floor, x0, x1, y0, y1)`` in mm, before
        any structural change (the cargo must have been laid out in
        :func:`threat_cargo_region` of it).
    cargo : list of SceneObject
        The goods.
    rng : numpy.random.Generator
        Source of the placement draws.

    Returns
    -------
    ThreatPlacement

    Raises
    ------
    SimulationError
        If the size is unknown or the threat does not fit.
    """
    if isinstance(item, str):
        item = threat(item)
    spec = item.size(size)
    ceiling, floor, x0, x1, y0, y1 = (float(v) for v in region_mm)
    primary = item.reasons[0]
    label = f"{item.name} ({size})"
    objects: list[SceneObject] = []
    regions: list[dict[str, Any]] = []

    if item.kind in ("block", "hollow_box", "concealed_goods"):
        dims = _dims(spec, item.name)
        bounds = _location(dims, (ceiling, floor, x0, x1, y0, y1), cargo, rng)
        if item.kind == "concealed_goods":
            base = _goods_material(item)
            fill = float(item.options.get("packing_fill", 1.0))
            prims: Any = (Box(*bounds, weight=fill),)
            mat = base
        elif item.kind == "hollow_box":
            mat = material(str(item.options["material"]))
            prims = hollow_box(*bounds, float(spec.get("wall_mm", 5.0)))
        else:
            mat = material(str(item.options["material"]))
            prims = (Box(*bounds),)
        cargo = _make_room(cargo, bounds)
        obj = SceneObject(label, mat, "threat", prims, counts_as_cargo=item.counts_as_cargo)
        objects.append(obj)
        regions.append(_region(obj.bbox_mm, item, size, mat, obj.mass_kg, primary))
    elif item.kind == "shielded_source":
        radius, height = float(spec["radius_mm"]), float(spec["height_mm"])
        core_r, core_h = float(spec["core_radius_mm"]), float(spec["core_height_mm"])
        bounds = _location((height, 2 * radius, 2 * radius), (ceiling, floor, x0, x1, y0, y1), cargo, rng)
        zc, xc, yc = (bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2
        lead = material(str(item.options["material"]))
        core = material(str(item.options.get("core_material", "stainless_steel")))
        cargo = _make_room(cargo, bounds)
        pig = SceneObject(
            f"{label} shield", lead, "threat",
            (Cylinder("z", zc, xc, yc, radius, height), Cylinder("z", zc, xc, yc, core_r, core_h, weight=-1.0)),
            counts_as_cargo=item.counts_as_cargo,
        )
        capsule = SceneObject(f"{label} capsule", core, "threat", (Cylinder("z", zc, xc, yc, core_r, core_h),), counts_as_cargo=item.counts_as_cargo)
        objects += [pig, capsule]
        regions.append(_region(pig.bbox_mm, item, size, lead, pig.mass_kg + capsule.mass_kg, primary))
    elif item.kind == "vehicle":
        objects, bounds = _vehicle(item, size, spec, (ceiling, floor, x0, x1, y0, y1), rng)
        cargo = _drop_overlapping(cargo, bounds)
        body = objects[0]
        mass = sum(o.mass_kg for o in objects)
        regions.append(_region((bounds[0], bounds[2], bounds[1], bounds[3]), item, size, body.material, mass, primary))
    elif item.kind == "false_wall":
        steel = material(str(item.options["material"]))
        depth, wall = float(spec["depth_mm"]), float(item.options.get("wall_mm", 2.0))
        xw = x0 + depth
        sheet = SceneObject(
            f"{label} sheet", steel, "threat",
            (Box(ceiling, floor, xw, xw + wall, y0, y1), Box(ceiling, ceiling + 40.0, xw, xw + 40.0, y0, y1, 0.1),
             Box(floor - 40.0, floor, xw, xw + 40.0, y0, y1, 0.1)),
            counts_as_cargo=False,
        )
        goods = _goods_material(item)
        fill = float(item.options.get("packing_fill", 1.0))
        hidden = SceneObject(
            f"{label} hidden goods", goods, "threat",
            (Box(ceiling + 100.0, floor, x0 + 10.0, xw - 10.0, y0 + 20.0, y1 - 20.0, fill),), counts_as_cargo=True,
        )
        cargo = _drop_overlapping(cargo, (ceiling, floor, x0, xw + wall, y0, y1))
        objects += [sheet, hidden]
        regions.append(_region((ceiling, x0, floor, xw + wall), item, size, steel, sheet.mass_kg + hidden.mass_kg, primary))
    elif item.kind == "thickened_floor":
        steel = material(str(item.options["material"]))
        depth, plate = float(spec["depth_mm"]), float(item.options.get("plate_mm", 6.0))
        length = float(spec.get("length_mm", 0.0)) or (x1 - x0)
        length = min(length, x1 - x0)
        start = float(rng.uniform(x0, x1 - length)) if length < x1 - x0 else x0
        top = floor - depth - plate
        prims = [Box(top, top + plate, x0, x1, y0, y1)]
        # Spacers (50 mm steel angles) every 600 mm hold the plate up outside the cavity.
        x = x0 + 20.0
        while x + 5.0 < x1:
            if not (start <= x <= start + length):
                prims.append(Box(top + plate, floor, x, x + 5.0, y0, y1, 0.1))
            x += 600.0
        sheet = SceneObject(f"{label} plate", steel, "threat", tuple(prims), counts_as_cargo=False)
        contents = _goods_material(item)
        fill = float(item.options.get("packing_fill", 1.0))
        hidden = SceneObject(
            f"{label} hidden goods", contents, "threat",
            (Box(top + plate + 2.0, floor, start + 10.0, start + length - 10.0, y0 + 20.0, y1 - 20.0, fill),),
            counts_as_cargo=True,
        )
        objects += [sheet, hidden]
        regions.append(_region((top, start, floor, start + length), item, size, steel, sheet.mass_kg + hidden.mass_kg, primary))
    else:  # pragma: no cover - the catalogue validates kinds
        raise SimulationError(f"threat kind {item.kind!r} is not implemented.")
    return ThreatPlacement(item, size, objects, cargo, regions)


def _vehicle(
    item: Threat, size: str, spec: dict[str, Any], region: tuple[float, ...], rng: np.random.Generator
) -> tuple[list[SceneObject], tuple[float, float, float, float, float, float]]:
    """A car: body shell, engine block, gearbox, interior, glazing, wheels."""
    ceiling, floor, x0, x1, y0, y1 = region
    height, length, width = _dims(spec, item.name)
    if length > x1 - x0 - 50.0 or width > y1 - y0 or height > floor - ceiling:
        raise SimulationError(f"a {size} vehicle ({length:.0f} mm long) does not fit in this container.")
    wall = float(spec.get("body_wall_mm", 1.2))
    wheel_r = float(spec.get("wheel_radius_mm", 315.0))
    xs = x0 + float(rng.uniform(10.0, _VEHICLE_GAP_MM))
    yc = (y0 + y1) / 2
    ground_clearance = 150.0
    body_bottom = floor - ground_clearance
    body_top = floor - height
    steel, iron, aluminium = material("steel"), material("iron"), material("aluminium")
    rubber, glass = material("tyre_rubber"), material("glass")
    trim = material("polyethylene")
    bx0, bx1, by0, by1 = xs, xs + length, yc - width / 2, yc + width / 2
    shell = hollow_box(body_top, body_bottom, bx0, bx1, by0, by1, wall)
    objects = [SceneObject(f"{item.name} ({size}) body shell", steel, "threat", shell, counts_as_cargo=item.counts_as_cargo)]
    engine_x = bx0 + 0.12 * length
    engine = (body_bottom - 500.0, body_bottom - 60.0, engine_x, engine_x + 520.0, yc - 300.0, yc + 300.0)
    objects.append(SceneObject(f"{item.name} ({size}) engine block", iron, "threat", (Box(*engine, weight=0.12),), counts_as_cargo=item.counts_as_cargo))
    gearbox = (body_bottom - 350.0, body_bottom - 80.0, engine_x + 520.0, engine_x + 900.0, yc - 200.0, yc + 200.0)
    objects.append(SceneObject(f"{item.name} ({size}) gearbox", aluminium, "threat", (Box(*gearbox, weight=0.45),), counts_as_cargo=item.counts_as_cargo))
    cabin = (body_top + 350.0, body_bottom - 50.0, bx0 + 0.35 * length, bx0 + 0.85 * length, by0 + 60.0, by1 - 60.0)
    objects.append(SceneObject(f"{item.name} ({size}) seats and trim", trim, "threat", (Box(*cabin, weight=0.03),), counts_as_cargo=item.counts_as_cargo))
    glazing = (body_top + 40.0, body_top + 420.0, bx0 + 0.3 * length, bx0 + 0.9 * length, by0, by0 + 2 * 4.0)
    objects.append(SceneObject(f"{item.name} ({size}) glazing", glass, "threat", (Box(*glazing),), counts_as_cargo=item.counts_as_cargo))
    tyres, rims, running = [], [], []
    z_axle = floor - wheel_r
    for xw in (bx0 + 0.17 * length, bx0 + 0.80 * length):
        for side in (-1, 1):
            yw = yc + side * (width / 2 - 120.0)
            # A tyre is mostly air: its rubber fills about a fifth of the annulus.
            tyres.append(Cylinder("y", z_axle, xw, yw, wheel_r, 205.0, wheel_r * 0.66, weight=0.22))
            rims.append(Cylinder("y", z_axle, xw, yw, wheel_r * 0.66, 180.0, wheel_r * 0.66 - 6.0))
            rims.append(Cylinder("y", z_axle, xw, yw + side * 40.0, wheel_r * 0.66 - 6.0, 5.0))
            rims.append(Cylinder("y", z_axle, xw, yw - side * 150.0, 140.0, 12.0))  # brake disc
        # Running gear (subframe, suspension, axle) between the wheels.
        running.append(Box(body_bottom - 150.0, body_bottom, xw - 300.0, xw + 300.0, yc - width / 2 + 250.0, yc + width / 2 - 250.0, 0.12))
    objects.append(SceneObject(f"{item.name} ({size}) tyres", rubber, "threat", tuple(tyres), counts_as_cargo=item.counts_as_cargo))
    objects.append(SceneObject(f"{item.name} ({size}) wheels", steel, "threat", tuple([*rims, *running]), counts_as_cargo=item.counts_as_cargo))
    bounds = (body_top, floor, bx0, bx1, by0, by1)
    return objects, bounds

