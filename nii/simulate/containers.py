"""ISO containers and an empty trailer chassis as steel structures (``seeds/containers.toml``).

A container is built from its members, each a set of boxes or cylinders of steel or
plywood in scene coordinates (see :mod:`nii.simulate.scene` for the geometry):

- corrugated side walls (rays cross both walls: 2 × thickness × the local
  corrugation factor 1/cos θ on the flanks, 1 on the flats),
- the corrugated roof and the floor (rays in those rows run through the whole width),
- floor cross members (C sections across the width: thin vertical lines of about
  2.35 m of steel), bottom and top side rails,
- the corrugated front end wall and the doors (seen edge-on: the ray runs along the
  sheet), headers, sills, door frames and locking bars,
- corner posts and ISO corner castings.

Corrugated sheets seen edge-on (roof, end wall, doors) are smeared over the depth of
their corrugation with their mass conserved; sheets seen face-on (side walls) keep
their flat/flank pattern along ``x``. The structure's computed mass is reported next
to the catalogue tare (:attr:`ContainerInfo.structure_mass_kg`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from nii.errors import CatalogueError, SimulationError
from nii.physics import material
from nii.resources import read_catalogue, seed_path
from nii.simulate.scene import Box, ContainerInfo, Cylinder, SceneObject, hollow_box, tube_along_y

__all__ = ["ContainerType", "container_types", "container_type", "container_makes", "build_container", "build_chassis", "chassis_height_mm"]


@dataclass(frozen=True)
class ContainerType:
    """A container size-type of the catalogue (lengths in mm, masses in kg)."""

    iso_type: str
    name: str
    description: str
    external_mm: tuple[float, float, float]
    internal_mm: tuple[float, float, float]
    tare_mass_kg: float
    max_gross_mass_kg: float
    cross_members: int
    source: str


@lru_cache(maxsize=4)
def _catalogue(path: Path) -> dict[str, Any]:
    data = read_catalogue(path, "container catalogue")
    for section in ("types", "structure", "chassis", "aliases"):
        if not isinstance(data.get(section), dict):
            raise CatalogueError(f"{path}: missing the [{section}] table.")
    types: dict[str, ContainerType] = {}
    for code, entry in data["types"].items():
        try:
            external = tuple(float(v) for v in entry["external_mm"])
            internal = tuple(float(v) for v in entry["internal_mm"])
            item = ContainerType(
                iso_type=str(code).upper(),
                name=str(entry["name"]),
                description=str(entry["description"]),
                external_mm=external,  # type: ignore[arg-type]
                internal_mm=internal,  # type: ignore[arg-type]
                tare_mass_kg=float(entry["tare_mass_kg"]),
                max_gross_mass_kg=float(entry["max_gross_mass_kg"]),
                cross_members=int(entry["cross_members"]),
                source=str(entry["source"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogueError(f"{path}: container type '{code}' has a missing or invalid field ({exc}).") from exc
        if len(external) != 3 or len(internal) != 3 or not all(i < e for i, e in zip(internal, external, strict=True)):
            raise CatalogueError(f"{path}: container type '{code}' must have 3 internal dimensions smaller than the external ones.")
        if not item.source.strip():
            raise CatalogueError(f"{path}: container type '{code}' has an empty source.")
        types[item.iso_type] = item
    for section in ("structure", "chassis", "aliases"):
        if not str(data[section].get("source", "")).strip():
            raise CatalogueError(f"{path}: the [{section}] table has no source.")
    aliases = {str(k).lower(): str(v).upper() for k, v in data["aliases"].items() if k != "source"}
    for alias, code in aliases.items():
        if code not in types:
            raise CatalogueError(f"{path}: alias '{alias}' points to unknown type '{code}'.")
    makes = _makes(path, data.get("makes", {}), data["structure"])
    return {"types": types, "aliases": aliases, "structure": data["structure"], "chassis": data["chassis"], "makes": makes}


def _makes(path: Path, table: Any, structure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each make's structure: ``[structure]`` with the make's overrides (and its split)."""
    if not isinstance(table, dict):
        raise CatalogueError(f"{path}: [makes] must be a table.")
    makes: dict[str, dict[str, Any]] = {"reference": {**structure, "split": "tune"}}
    for name, entry in table.items():
        if name == "source":
            continue
        if not isinstance(entry, dict) or entry.get("split") not in ("tune", "test"):
            raise CatalogueError(f"{path}: make '{name}' must be a table with split = \"tune\" or \"test\".")
        unknown = sorted(set(entry) - set(structure) - {"split", "cross_member_pitch_mm"})
        if unknown:
            raise CatalogueError(f"{path}: make '{name}' overrides unknown structure keys: {', '.join(unknown)}.")
        makes[str(name)] = {**structure, **entry}
    if len(makes) > 1 and not str(table.get("source", "")).strip():
        raise CatalogueError(f"{path}: the [makes] table has no source.")
    return makes


def _load(path: str | Path | None) -> dict[str, Any]:
    return _catalogue(Path(seed_path("containers.toml") if path is None else path).resolve())


def container_types(path: str | Path | None = None) -> dict[str, ContainerType]:
    """Return the container types of the catalogue by ISO size-type code.

    Parameters
    ----------
    path : str or Path, optional
        Catalogue file; default ``seeds/containers.toml``.
    """
    return dict(_load(path)["types"])


def container_makes(split: str | None = None, path: str | Path | None = None) -> list[str]:
    """Names of the container makes of the catalogue, optionally of one split.

    Parameters
    ----------
    split : {"tune", "test"}, optional
        Only the makes that benchmarks may tune thresholds on, or only those kept apart
        for reporting. Default: all.
    path : str or Path, optional
        Catalogue file; default ``seeds/containers.toml``.

    Examples
    --------
    >>> "reference" in container_makes("tune")
    True
    """
    makes = _load(path)["makes"]
    return [name for name, entry in makes.items() if split is None or entry["split"] == split]


def container_type(name: str, path: str | Path | None = None) -> ContainerType:
    """Return a container type by ISO code (``"42G1"``) or alias (``"40ft"``).

    Raises
    ------
    SimulationError
        If the name is neither.
    """
    catalogue = _load(path)
    key = str(name).strip()
    code = catalogue["aliases"].get(key.lower(), key.upper())
    if code not in catalogue["types"]:
        known = sorted(catalogue["types"]) + sorted(catalogue["aliases"])
        raise SimulationError(f"unknown container '{name}'; known: {', '.join(known)}.")
    return catalogue["types"][code]


def _profile(start: float, stop: float, spec: dict[str, float]) -> list[tuple[float, float, str, float]]:
    """Walk a trapezoidal corrugation from ``start`` to ``stop``.

    Returns ``(a, b, kind, factor)`` segments with kind ``outer``/``inner``/``flank`` and
    factor = sheet length per projected length (1/cos θ on the flanks).
    """
    pitch, depth = float(spec["pitch"]), float(spec["depth"])
    outer, inner = float(spec["outer_flat"]), float(spec["inner_flat"])
    flank = (pitch - outer - inner) / 2
    if not (flank > 0 and depth > 0):
        raise CatalogueError(f"corrugation {spec} must have flats shorter than the pitch and a positive depth.")
    slope = math.hypot(flank, depth) / flank
    pattern = [(outer, "outer", 1.0), (flank, "flank", slope), (inner, "inner", 1.0), (flank, "flank", slope)]
    segments = []
    position, index = start, 0
    while position < stop - 1e-9:
        length, kind, factor = pattern[index % 4]
        end = min(position + length, stop)
        segments.append((position, end, kind, factor))
        position, index = end, index + 1
    return segments


def corrugation_factor(spec: dict[str, float]) -> float:
    """Mean sheet length per projected length of a corrugation profile (dimensionless)."""
    segments = _profile(0.0, float(spec["pitch"]), spec)
    return sum((b - a) * f for a, b, _, f in segments) / float(spec["pitch"])


def _edge_on_sheet(
    lo: float, thickness: float, spec: dict[str, float], span: float, axis: str, z0: float, z1: float, x0: float, x1: float, y0: float
) -> list[Box]:
    """Corrugated sheet seen edge-on (the ray runs along it), smeared over its depth.

    ``axis="x"``: an end wall or door lying in the y–z plane, corrugated across ``y``,
    occupying x from ``lo``; ``axis="z"``: the roof lying in the x–y plane, corrugated
    along ``x``, occupying z from ``lo`` (then ``span`` is the length along the beam).
    """
    depth = float(spec["depth"])
    if axis == "x":
        segments = _profile(0.0, span, spec)
        totals = {"outer": 0.0, "inner": 0.0, "flank": 0.0}
        for a, b, kind, factor in segments:
            totals[kind] += (b - a) * factor
        boxes = [
            Box(z0, z1, lo, lo + thickness, y0, y0 + totals["outer"]),
            Box(z0, z1, lo + depth, lo + depth + thickness, y0, y0 + totals["inner"]),
            Box(z0, z1, lo, lo + depth + thickness, y0, y0 + totals["flank"] * thickness / (depth + thickness)),
        ]
        return boxes
    boxes = []
    for a, b, kind, factor in _profile(x0, x1, spec):
        if kind == "outer":
            boxes.append(Box(lo, lo + thickness, a, b, y0, y0 + span))
        elif kind == "inner":
            boxes.append(Box(lo + depth, lo + depth + thickness, a, b, y0, y0 + span))
        else:
            boxes.append(Box(lo, lo + depth + thickness, a, b, y0, y0 + span * factor * thickness / (depth + thickness)))
    return boxes


def _face_on_sheet(z0: float, z1: float, x0: float, x1: float, y0: float, thickness: float, spec: dict[str, float]) -> list[Box]:
    """Corrugated sheet seen face-on (side wall): path = thickness × local factor."""
    return [Box(z0, z1, a, b, y0, y0 + thickness * factor) for a, b, _, factor in _profile(x0, x1, spec)]


def _tube_along_z(z0: float, z1: float, x0: float, x1: float, y0: float, y1: float, wall: float) -> list[Box]:
    """Rectangular hollow section standing vertically (posts, stiles, legs)."""
    return [
        Box(z0, z1, x0, x1, y0, y0 + wall),
        Box(z0, z1, x0, x1, y1 - wall, y1),
        Box(z0, z1, x0, x0 + wall, y0 + wall, y1 - wall),
        Box(z0, z1, x1 - wall, x1, y0 + wall, y1 - wall),
    ]


def _tube_along_x(z0: float, z1: float, x0: float, x1: float, y0: float, y1: float, wall: float) -> list[Box]:
    """Rectangular hollow section running along the conveyance (top side rails)."""
    return [
        Box(z0, z1, x0, x1, y0, y0 + wall),
        Box(z0, z1, x0, x1, y1 - wall, y1),
        Box(z0, z0 + wall, x0, x1, y0 + wall, y1 - wall),
        Box(z1 - wall, z1, x0, x1, y0 + wall, y1 - wall),
    ]


def build_container(
    name: str,
    *,
    z_top_mm: float = 0.0,
    x_front_mm: float = 0.0,
    path: str | Path | None = None,
    make: str = "reference",
) -> tuple[list[SceneObject], ContainerInfo]:
    """Build a container's structure.

    Parameters
    ----------
    name : str
        ISO size-type code or alias (``"22G1"``, ``"40ft"``, ``"45G1"``).
    z_top_mm : float
        Scene ``z`` of the container's top (tops of the corner castings), mm.
    x_front_mm : float
        Scene ``x`` of the front end's outer face, mm (the doors are at the far end).
    path : str or Path, optional
        Catalogue file; default ``seeds/containers.toml``.
    make : str
        The builder's make (``[makes]`` of the catalogue): corrugation, panel gauge,
        floor and cross-member spacing. Default ``"reference"`` (``[structure]``).

    Returns
    -------
    objects : list of SceneObject
        The members, role ``"container"``.
    info : ContainerInfo
        Type, tare, modelled structure mass and the interior box.

    Examples
    --------
    >>> objects, info = build_container("20ft")
    >>> info.iso_type, round(info.interior_mm[1] - info.interior_mm[0])
    ('22G1', 2393)
    """
    kind = container_type(name, path)
    makes = _load(path)["makes"]
    if make not in makes:
        raise SimulationError(f"unknown container make '{make}'; known: {', '.join(sorted(makes))}.")
    s = makes[make]
    steel = material(s["steel"])
    floor_material = material(s["floor_material"])
    length, width, height = kind.external_mm
    _, inner_width, inner_height = kind.internal_mm
    zt, xf = float(z_top_mm), float(x_front_mm)
    zb, xr = zt + height, xf + length
    front_zone, door_zone = float(s["front_zone_mm"]), float(s["door_zone_mm"])
    roof_t, roof = float(s["roof_mm"]), s["roof_corrugation_mm"]
    roof_top = zt + float(s["roof_drop_mm"])
    ceiling = roof_top + float(roof["depth"]) + roof_t
    floor_top = ceiling + inner_height
    floor_t = float(s["floor_mm"])
    wall_zone = (width - inner_width) / 2
    y_in0, y_in1 = wall_zone, width - wall_zone
    x_in0, x_in1 = xf + front_zone, xr - door_zone
    casting = s["corner_casting_mm"]
    cx, cy, cz, cw = (float(casting[k]) for k in ("x", "y", "z", "wall"))
    parts: list[tuple[str, object, list]] = []

    def add(label: str, mat: object, prims: list) -> None:
        parts.append((label, mat, list(prims)))

    # Corner castings.
    for zr in ((zt, zt + cz), (zb - cz, zb)):
        for xrng in ((xf, xf + cx), (xr - cx, xr)):
            for yr in ((0.0, cy), (width - cy, width)):
                add("corner casting", steel, list(hollow_box(zr[0], zr[1], xrng[0], xrng[1], yr[0], yr[1], cw)))
    # Top side rails (square tubes along x between the castings).
    rail = s["top_rail_mm"]
    size, wall = float(rail["size"]), float(rail["thickness"])
    for y0 in (0.0, width - size):
        add("top side rail", steel, _tube_along_x(zt, zt + size, xf + cx, xr - cx, y0, y0 + size, wall))
    # Bottom side rails (C sections along x).
    rail = s["bottom_rail_mm"]
    rh, rf, rt = float(rail["height"]), float(rail["flange"]), float(rail["thickness"])
    rail_top = zb - rh
    for y0, sign in ((0.0, 1), (width - rt, -1)):
        flange_y0 = y0 if sign > 0 else width - rf
        add(
            "bottom side rail",
            steel,
            [
                Box(rail_top + rt, zb - rt, xf + cx, xr - cx, y0, y0 + rt),
                Box(rail_top, rail_top + rt, xf + cx, xr - cx, flange_y0, flange_y0 + rf),
                Box(zb - rt, zb, xf + cx, xr - cx, flange_y0, flange_y0 + rf),
            ],
        )
    # Side walls between the corner posts, from the top rail to the bottom rail.
    front_post, rear_post = s["front_post_mm"], s["rear_post_mm"]
    side_t, side = float(s["side_wall_mm"]), s["side_corrugation_mm"]
    wall_x0, wall_x1 = xf + float(front_post["x"]), xr - float(rear_post["x"])
    for y0, label in ((wall_zone - side_t - float(side["depth"]), "side wall left"), (y_in1 + float(side["depth"]), "side wall right")):
        add(label, steel, _face_on_sheet(zt + size, rail_top, wall_x0, wall_x1, max(y0, 0.0), side_t, side))
    # Corner posts: one plate in the side-wall plane, one in the end plane.
    for post, x_outer, direction in ((front_post, xf, 1), (rear_post, xr, -1)):
        px, py, pt = float(post["x"]), float(post["y"]), float(post["thickness"])
        xa, xb = (x_outer, x_outer + px) if direction > 0 else (x_outer - px, x_outer)
        xe = (x_outer, x_outer + pt) if direction > 0 else (x_outer - pt, x_outer)
        for y_side in (0.0, width - pt):
            y_end = pt if y_side == 0.0 else width - py
            add(
                "corner post",
                steel,
                [Box(zt + cz, zb - cz, xa, xb, y_side, y_side + pt), Box(zt + cz, zb - cz, xe[0], xe[1], y_end, y_end + py - pt)],
            )
    # Roof: corrugated across, seen edge-on in its rows.
    add("roof", steel, _edge_on_sheet(roof_top, roof_t, roof, width - 2 * size, "z", 0, 0, xf + cx, xr - cx, size))
    # Floor: plywood on C-section cross members.
    # The plywood of the catalogue is lighter than container flooring: weight = density ratio.
    floor_weight = float(s["floor_density_g_cm3"]) / floor_material.density_g_cm3
    add("floor", floor_material, [Box(floor_top, floor_top + floor_t, x_in0, x_in1, y_in0, y_in1, floor_weight)])
    member = s["cross_member_mm"]
    mh, mf, mt = float(member["height"]), float(member["flange"]), float(member["thickness"])
    m_top = floor_top + floor_t
    count = kind.cross_members
    if "cross_member_pitch_mm" in s:
        count = max(2, int(round((x_in1 - x_in0 - mf) / float(s["cross_member_pitch_mm"]))) + 1)
    pitch = (x_in1 - x_in0 - mf) / max(count - 1, 1)
    for i in range(count):
        x0 = x_in0 + i * pitch
        add(
            "floor cross member",
            steel,
            [
                Box(m_top, m_top + mt, x0, x0 + mf, y_in0, y_in1),
                Box(m_top + mt, m_top + mh - mt, x0, x0 + mt, y_in0, y_in1),
                Box(m_top + mh - mt, m_top + mh, x0, x0 + mf, y_in0, y_in1),
            ],
        )
    if length < 9000.0:
        pockets = s["forklift_pockets_mm"]
        pw, pt = float(pockets["width"]), float(pockets["thickness"])
        centre = (x_in0 + x_in1) / 2
        for side in (-1, 1):
            xc = centre + side * float(pockets["centre_spacing"]) / 2
            add(
                "forklift pocket",
                steel,
                [
                    Box(m_top, m_top + pt, xc - pw / 2, xc + pw / 2, y_in0, y_in1),
                    Box(m_top + pt, zb, xc - pw / 2, xc - pw / 2 + pt, y_in0, y_in1),
                    Box(m_top + pt, zb, xc + pw / 2 - pt, xc + pw / 2, y_in0, y_in1),
                ],
            )
    else:
        tunnel = s["gooseneck_tunnel_mm"]
        tl, tw, td, tt = (float(tunnel[k]) for k in ("length", "width", "depth", "thickness"))
        ty0 = width / 2 - tw / 2
        add(
            "gooseneck tunnel",
            steel,
            [
                Box(m_top, m_top + tt, x_in0, x_in0 + tl, ty0, ty0 + tw),
                Box(m_top + tt, m_top + td, x_in0, x_in0 + tl, ty0, ty0 + tt),
                Box(m_top + tt, m_top + td, x_in0, x_in0 + tl, ty0 + tw - tt, ty0 + tw),
            ],
        )
    # Front end: header, sill, corrugated end wall.
    header, sill = s["front_header_mm"], s["front_sill_mm"]
    h_bottom = zt + float(header["z"])
    s_top = zb - float(sill["z"])
    add("front header", steel, list(tube_along_y(zt, h_bottom, xf, xf + float(header["x"]), cy, width - cy, float(header["thickness"]))))
    add("front sill", steel, list(tube_along_y(s_top, zb, xf, xf + float(sill["x"]), cy, width - cy, float(sill["thickness"]))))
    front_t, front = float(s["front_wall_mm"]), s["front_corrugation_mm"]
    wall_lo = x_in0 - float(front["depth"]) - front_t
    span_y0, span_y1 = float(front_post["y"]), width - float(front_post["y"])
    add("front wall", steel, _edge_on_sheet(wall_lo, front_t, front, span_y1 - span_y0, "x", h_bottom, s_top, 0, 0, span_y0))
    # Rear end: header, sill, doors (corrugated leaves, frames, locking bars).
    header, sill = s["rear_header_mm"], s["rear_sill_mm"]
    h_bottom = zt + float(header["z"])
    s_top = zb - float(sill["z"])
    rx = float(header["x"])
    add("rear header", steel, list(tube_along_y(zt, h_bottom, xr - rx, xr, cy, width - cy, float(header["thickness"]))))
    add("rear sill", steel, list(tube_along_y(s_top, zb, xr - float(sill["x"]), xr, cy, width - cy, float(sill["thickness"]))))
    door_t, door = float(s["door_panel_mm"]), s["door_corrugation_mm"]
    frame = s["door_frame_mm"]
    fw, fd, ft = float(frame["width"]), float(frame["depth"]), float(frame["thickness"])
    frame_x1 = xr - 28.0
    frame_x0 = frame_x1 - fd
    panel_lo = x_in1
    leaf_edges = (float(rear_post["y"]), width / 2, width - float(rear_post["y"]))
    for leaf in range(2):
        y0, y1 = leaf_edges[leaf], leaf_edges[leaf + 1]
        add("door leaf", steel, _edge_on_sheet(panel_lo, door_t, door, y1 - y0 - 2 * fw, "x", h_bottom + fw, s_top - fw, 0, 0, y0 + fw))
        prims: list = []
        prims += _tube_along_z(h_bottom + fw, s_top - fw, frame_x0, frame_x1, y0, y0 + fw, ft)
        prims += _tube_along_z(h_bottom + fw, s_top - fw, frame_x0, frame_x1, y1 - fw, y1, ft)
        prims += tube_along_y(h_bottom, h_bottom + fw, frame_x0, frame_x1, y0, y1, ft)
        prims += tube_along_y(s_top - fw, s_top, frame_x0, frame_x1, y0, y1, ft)
        add("door frame", steel, prims)
    bars = s["locking_bar_mm"]
    bar_r, bar_ri, bar_n = float(bars["outer_radius"]), float(bars["inner_radius"]), int(bars["count"])
    bar_x = xr - bar_r - 0.5
    for i in range(bar_n):
        yc = leaf_edges[0] + (i + 0.5) * (leaf_edges[2] - leaf_edges[0]) / bar_n
        add(
            "locking bar",
            steel,
            [Cylinder("z", (h_bottom + s_top) / 2, bar_x, yc, bar_r, s_top - h_bottom - 60.0, bar_ri)],
        )
    hinge, keeper = s["hinge_block_mm"], s["cam_keeper_mm"]
    gear: list = []
    door_height = s_top - h_bottom
    for y0 in (0.0, width - float(hinge["y"])):
        for i in range(int(hinge["per_leaf"])):
            zc = h_bottom + (i + 0.5) * door_height / int(hinge["per_leaf"])
            gear.append(Box(zc - float(hinge["z"]) / 2, zc + float(hinge["z"]) / 2, xr - float(hinge["x"]), xr, y0, y0 + float(hinge["y"])))
    for i in range(bar_n):
        yc = leaf_edges[0] + (i + 0.5) * (leaf_edges[2] - leaf_edges[0]) / bar_n
        for zc in (h_bottom + float(keeper["z"]) / 2, s_top - float(keeper["z"]) / 2):
            gear.append(Box(zc - float(keeper["z"]) / 2, zc + float(keeper["z"]) / 2, xr - float(keeper["x"]), xr, yc - float(keeper["y"]) / 2, yc + float(keeper["y"]) / 2))
    add("door hinges and locking gear", steel, gear)
    objects = [SceneObject(f"{kind.name} {label}", mat, "container", tuple(prims)) for label, mat, prims in parts]  # type: ignore[arg-type]
    structure_mass = sum(item.mass_kg for item in objects)
    info = ContainerInfo(
        iso_type=kind.iso_type,
        name=kind.name,
        tare_mass_kg=kind.tare_mass_kg,
        structure_mass_kg=float(structure_mass),
        external_mm=kind.external_mm,
        interior_mm=(ceiling, floor_top, x_in0, x_in1, y_in0, y_in1),
        origin_mm=(zt, xf),
        max_gross_mass_kg=kind.max_gross_mass_kg,
    )
    return objects, info


def chassis_height_mm(path: str | Path | None = None) -> float:
    """Height (mm) from the container's bottom to the ground on the catalogue chassis."""
    return float(_load(path)["chassis"]["deck_height_mm"])


def build_chassis(
    length_mm: float, width_mm: float, *, z_deck_mm: float, x_front_mm: float = 0.0, path: str | Path | None = None
) -> list[SceneObject]:
    """Build an empty skeletal trailer under a container.

    Parameters
    ----------
    length_mm, width_mm : float
        Length and width of the container it carries, mm (axles: 2 under a 20 ft,
        3 under a longer one).
    z_deck_mm : float
        Scene ``z`` of the deck (the container's bottom), mm.
    x_front_mm : float
        Scene ``x`` of the front of the container, mm.
    path : str or Path, optional
        Catalogue file.

    Returns
    -------
    list of SceneObject
        Main rails, cross members, landing legs, axles, hubs, rims and tyres
        (role ``"chassis"``).
    """
    c = _load(path)["chassis"]
    steel, rubber = material(c["steel"]), material(c["rubber"])
    zd, xf = float(z_deck_mm), float(x_front_mm)
    ground = zd + float(c["deck_height_mm"])
    yc = width_mm / 2
    objects: list[SceneObject] = []
    rail = c["main_rail_mm"]
    rh, rfl, rw, rft, spacing = (float(rail[k]) for k in ("height", "flange", "web", "flange_thickness", "spacing"))
    for side in (-1, 1):
        y_web = yc + side * spacing / 2
        objects.append(
            SceneObject(
                "chassis main rail",
                steel,
                "chassis",
                (
                    Box(zd, zd + rft, xf, xf + length_mm, y_web - rfl / 2, y_web + rfl / 2),
                    Box(zd + rft, zd + rh - rft, xf, xf + length_mm, y_web - rw / 2, y_web + rw / 2),
                    Box(zd + rh - rft, zd + rh, xf, xf + length_mm, y_web - rfl / 2, y_web + rfl / 2),
                ),
            )
        )
    member = c["cross_member_mm"]
    mh, mw, mt, mp = (float(member[k]) for k in ("height", "width", "thickness", "pitch"))
    x = xf + mp / 2
    while x + mw < xf + length_mm:
        objects.append(
            SceneObject(
                "chassis cross member",
                steel,
                "chassis",
                tuple(tube_along_y(zd + rh - mh, zd + rh, x, x + mw, yc - spacing / 2 + rw / 2, yc + spacing / 2 - rw / 2, mt)),
            )
        )
        x += mp
    leg = c["landing_leg_mm"]
    ls, lt, lx = float(leg["size"]), float(leg["thickness"]), xf + float(leg["x_from_front"])
    for side in (-1, 1):
        y0 = yc + side * spacing / 2 - ls / 2
        objects.append(SceneObject("chassis landing leg", steel, "chassis", tuple(_tube_along_z(zd + rh, ground - 60.0, lx, lx + ls, y0, y0 + ls, lt))))
    axle, tyre, rim, hub = c["axle_mm"], c["tyre_mm"], c["rim_mm"], c["hub_mm"]
    n_axles = int(c["axles_20ft"] if length_mm < 9000 else c["axles_40ft"])
    radius = float(tyre["outer_radius"])
    z_axle = ground - radius
    last = xf + length_mm - 1500.0
    for i in range(n_axles):
        xa = last - i * float(axle["spacing"])
        objects.append(
            SceneObject("chassis axle", steel, "chassis", (Cylinder("y", z_axle, xa, yc, float(axle["outer_radius"]), float(axle["length"]), float(axle["inner_radius"])),))
        )
        wheel_steel: list = []
        tyres: list = []
        for side in (-1, 1):
            y_hub = yc + side * (float(tyre["track"]) / 2)
            wheel_steel.append(Cylinder("y", z_axle, xa, y_hub, float(hub["outer_radius"]), float(hub["width"]), float(hub["inner_radius"])))
            for dual in (-1, 1):
                y_tyre = y_hub + dual * float(tyre["dual_spacing"]) / 2
                tyres.append(Cylinder("y", z_axle, xa, y_tyre, radius, float(tyre["width"]), float(tyre["inner_radius"])))
                wheel_steel.append(Cylinder("y", z_axle, xa, y_tyre, float(rim["outer_radius"]), float(rim["width"]), float(rim["inner_radius"])))
                wheel_steel.append(Cylinder("y", z_axle, xa, y_tyre, float(rim["inner_radius"]), float(rim["disc_thickness"])))
        objects.append(SceneObject("chassis wheels", steel, "chassis", tuple(wheel_steel)))
        objects.append(SceneObject("chassis tyres", rubber, "chassis", tuple(tyres)))
    return objects
