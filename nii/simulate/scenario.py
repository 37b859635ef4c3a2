"""Scenarios: a scene, the manifest declared for it, and the verdict it should get.

:func:`build_scenario` puts a container (optionally on a trailer chassis), a cargo
load and a threat together from a seed, writes the manifest the shipper would have
declared (honest, or lying in one of the ways the contract's checks look for) and
derives the expected verdict and reason codes from what was built:

======================  ==============================================================
variant                 manifest
======================  ==============================================================
``honest``              the goods and their mass within ± ``declaration_error``
``mass_underdeclared``  the goods, at 45–70 % of their mass → ``MASS_MISMATCH``
``material_mismatch``   other goods (``declared_chapter``; default textiles for
                        metal/inorganic loads, machinery for organic ones) at the true
                        mass → ``MATERIAL_MISMATCH``
``declared_empty``      declared empty although loaded → ``DECLARED_EMPTY_NOT_EMPTY``
======================  ==============================================================

A threat adds its library reason codes; undeclared mass (hidden goods, a car) beyond
``mass_tolerance`` adds ``MASS_MISMATCH``; anything in a container declared empty adds
``DECLARED_EMPTY_NOT_EMPTY``; and any region of the cargo space of at least
``min_unreadable_area_cm2`` that the estimated dual-energy transmission says is photon
starved adds ``UNREADABLE_REGION`` (a threat mostly inside such a region is reported
as unreadable instead of by its own code; a smaller starved threat keeps its code and
its region records ``starved_fraction``: a hard case, not a different one). An empty container declared empty is
``clear``.

Also here: calibration phantoms (:func:`step_wedge_scene`, :func:`block_scene`) and
their NXR ``phantom`` header entries (:func:`phantom_header`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import ndimage

from nii.errors import SimulationError
from nii.physics import (
    Material,
    attenuation_coefficients,
    effective_beams,
    material,
    polychromatic_transmission,
)
from nii.simulate.cargo import CargoLoad, build_cargo, commodity
from nii.simulate.containers import (
    build_chassis,
    build_container,
    chassis_height_mm,
    container_type,
)
from nii.simulate.scene import Box, ContainerInfo, Scene, SceneObject
from nii.simulate.threats import (
    SIZES,
    material_class_name,
    place_threat,
    threat,
    threat_cargo_region,
)

__all__ = [
    "VARIANTS",
    "DEFAULT_STARVED_TRANSMISSION",
    "Scenario",
    "build_scenario",
    "container_id",
    "step_wedge_scene",
    "block_scene",
    "phantom_header",
]

VARIANTS = ("honest", "mass_underdeclared", "material_mismatch", "declared_empty")
#: Transmission below which a pixel is photon starved: 3 dark-noise standard deviations
#: of the default simulated scanner (1.5 ADU of noise under an air level of ~51,000 ADU).
DEFAULT_STARVED_TRANSMISSION = 1.0e-4
#: Cell of the coarse grid the unreadable-region estimate is made on, and the spacing
#: of the point rays whose transmissions each cell averages, mm.
_COARSE_MM = 20.0
_SUB_MM = 10.0
_TOP_MARGIN_MM = 100.0
_BOTTOM_MARGIN_MM = 50.0
#: Where a load of the given class is declared as something else (material_mismatch).
_MISMATCH_CHAPTER = {"organic": "84", "inorganic": "62", "metal": "62", "high_z": "62"}


@dataclass
class Scenario:
    """A scene with its declaration and the verdict it should get.

    Attributes
    ----------
    scene : Scene
    manifest : dict
        The inspection contract's manifest (``container_id``, ``iso_type``,
        ``tare_mass_kg``, ``declared_empty``, ``items``).
    expected_verdict : str
        ``"clear"`` or ``"inspect"``.
    expected_reasons : list of str
        Contract reason codes the inspection should raise.
    threat_regions : list of dict
        ``bbox_mm`` [z0, x0, z1, x1] (scene coordinates, mm), ``material`` (class name),
        ``reason`` (code), and ``threat``, ``size``, ``mass_kg`` where it is a threat.
    seed : int
    options : dict
        The options it was built with (container, cargo chapter, threat, variant ...).
    """

    scene: Scene
    manifest: dict[str, Any]
    expected_verdict: str
    expected_reasons: list[str]
    threat_regions: list[dict[str, Any]]
    seed: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def cargo_mass_kg(self) -> float:
        """True mass of the goods (hidden ones included), kg."""
        return self.scene.cargo_mass_kg

    @property
    def container(self) -> str | None:
        """ISO size-type of the container, or None."""
        return self.scene.container.iso_type if self.scene.container else None

    @property
    def cargo_chapter(self) -> str | None:
        return self.options.get("cargo_chapter")

    @property
    def threat(self) -> str | None:
        return self.options.get("threat")

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: the options, true cargo mass and tare figures."""
        out = dict(self.options)
        out["cargo_mass_kg"] = round(self.cargo_mass_kg, 3)
        out["seed"] = self.seed
        if self.scene.container is not None:
            out["structure_mass_kg"] = round(self.scene.container.structure_mass_kg, 1)
        return out


def container_id(rng: np.random.Generator, owner: str = "NIIU") -> str:
    """Return a random ISO 6346 container number with a valid check digit.

    Parameters
    ----------
    rng : numpy.random.Generator
    owner : str
        Owner code and category letter (4 capital letters, e.g. ``"NIIU"``).

    Examples
    --------
    >>> len(container_id(np.random.default_rng(0)))
    11
    """
    serial = "".join(str(int(d)) for d in rng.integers(0, 10, 6))
    code = owner + serial
    values = []
    letter_values = [v for v in range(10, 39) if v % 11]
    for ch in code:
        values.append(int(ch) if ch.isdigit() else letter_values[ord(ch) - ord("A")])
    check = sum(v * 2**i for i, v in enumerate(values)) % 11 % 10
    return f"{code}{check}"


@lru_cache(maxsize=4)
def _beams(energies_mev: tuple[float, ...]) -> list:
    return effective_beams(energies_mev)


def _starved_regions(
    scene: Scene, interior: Sequence[float], energies_mev: tuple[float, ...], starved_transmission: float, min_area_cm2: float
) -> tuple[list[list[float]], np.ndarray, np.ndarray, np.ndarray]:
    """Estimate the photon-starved regions of the cargo space on a coarse grid.

    Each coarse cell (``_COARSE_MM``) averages the *transmission* of point rays on a
    sub-grid (``_SUB_MM``), as a detector pixel does: a thin sheet seen edge-on (a roof,
    a false wall) darkens a cell a little instead of starving it.
    """
    ceiling, floor, x0, x1 = (float(v) for v in interior[:4])
    sub = int(round(_COARSE_MM / _SUB_MM))
    rows = int((floor - ceiling) // _COARSE_MM)
    cols = int((x1 - x0) // _COARSE_MM)
    z = ceiling + (np.arange(rows) + 0.5) * _COARSE_MM
    x = x0 + (np.arange(cols) + 0.5) * _COARSE_MM
    starved = np.zeros((rows, cols), dtype=bool)
    if rows == 0 or cols == 0:
        return [], starved, z, x
    materials = scene.materials
    density = np.asarray([m.density_g_cm3 for m in materials], dtype=np.float32)[:, None, None] * np.float32(0.1)
    goods = scene.path_lengths_mm(z, x, row_height_mm=_COARSE_MM, column_width_mm=_COARSE_MM,
                                  roles=("cargo", "threat", "phantom")).sum(0) > 0
    beams = _beams(energies_mev)
    mu = [attenuation_coefficients(materials, beam) for beam in beams]
    # T is convex in the areal densities, so T(cell-mean areal) <= cell-mean T: cells
    # readable on the mean are readable; only the others are sub-sampled.
    mean_areal = scene.path_lengths_mm(z, x, row_height_mm=_COARSE_MM, column_width_mm=_COARSE_MM) * density
    candidate = np.zeros((rows, cols), dtype=bool)
    for beam, table in zip(beams, mu, strict=True):
        candidate |= polychromatic_transmission(beam, table, mean_areal) < starved_transmission
    candidate &= goods
    if candidate.any():
        z_sub = ceiling + (np.arange(rows * sub) + 0.5) * _SUB_MM
        x_sub = x0 + (np.arange(cols * sub) + 0.5) * _SUB_MM
        areal = scene.path_lengths_mm(z_sub, x_sub, row_height_mm=0.0, column_width_mm=0.0) * density
        areal = areal.reshape(len(materials), rows, sub, cols, sub).transpose(0, 1, 3, 2, 4)[:, candidate]
        for beam, table in zip(beams, mu, strict=True):
            cell = polychromatic_transmission(beam, table, areal).reshape(-1, sub * sub).mean(axis=1)
            starved[candidate] |= cell < starved_transmission
    labels, _ = ndimage.label(starved)
    regions = []
    pixel_cm2 = (_COARSE_MM / 10) ** 2
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        area = float((labels[found] == index).sum()) * pixel_cm2
        if area >= min_area_cm2:
            rs, cs = found
            regions.append([float(z[rs.start] - _COARSE_MM / 2), float(x[cs.start] - _COARSE_MM / 2),
                            float(z[rs.stop - 1] + _COARSE_MM / 2), float(x[cs.stop - 1] + _COARSE_MM / 2)])
    return regions, starved, z, x


def _fraction_inside(bbox: Sequence[float], mask: np.ndarray, z: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Fraction of a box's coarse cells that are starved, and their area in cm²."""
    rows = (z >= bbox[0]) & (z < bbox[2])
    cols = (x >= bbox[1]) & (x < bbox[3])
    if not rows.any() or not cols.any():
        return 0.0, 0.0
    inside = mask[np.ix_(rows, cols)]
    return float(inside.mean()), float(inside.sum()) * (_COARSE_MM / 10) ** 2


def _normalise_threat(value: str | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return None if text in ("", "none", "no", "null") else text


def build_scenario(
    container: str | None = "40ft",
    cargo_chapter: str | None = None,
    threat: str | None = None,  # noqa: F811 - the option shadows the library lookup on purpose
    seed: int = 0,
    *,
    declared_empty: bool | None = None,
    variant: str = "honest",
    threat_size: str = "medium",
    chassis: bool = False,
    container_make: str = "reference",
    load_fraction: float | None = None,
    cargo_density_cv: float | None = None,
    declared_chapter: str | None = None,
    declaration_error: float = 0.03,
    mass_tolerance: float = 0.10,
    energies_mev: Sequence[float] = (6.0, 3.0),
    starved_transmission: float = DEFAULT_STARVED_TRANSMISSION,
    min_unreadable_area_cm2: float = 150.0,
) -> Scenario:
    """Build a scene, its manifest and its expected verdict from options and a seed.

    Parameters
    ----------
    container : str or None
        ``"20ft"``, ``"40ft"``, ``"40hc"`` or an ISO size-type (``"22G1"``, ``"42G1"``,
        ``"45G1"``); None for goods without a container (a 20 ft floor, no steel).
    cargo_chapter : str or None
        HS chapter or code of the goods (``"03"``, ``"2523"``); None for no goods.
    threat : str or None
        Threat library name (``"lead_block"``, ``"lead-block"``); None or ``"none"``.
    seed : int
        Seed of every random draw (≥ 0): the same options and seed give the same scenario.
    declared_empty : bool, optional
        Override the manifest's ``declared_empty`` (default: true exactly when no goods
        are declared, i.e. no cargo or the ``declared_empty`` variant).
    variant : str
        One of :data:`VARIANTS` (see the module docstring).
    threat_size : {"small", "medium", "large"}
    chassis : bool
        Put the container on an empty skeletal trailer (imaged below it).
    container_make : str
        The container builder's make (``[makes]`` of ``seeds/containers.toml``):
        corrugation, panel gauge, floor and cross-member spacing.
    load_fraction : float, optional
        Fraction of the floor positions loaded (default: drawn from the catalogue).
    cargo_density_cv : float, optional
        Unit-to-unit relative spread of the goods' density (0–0.3) in place of the
        commodity's (the cargo texture).
    declared_chapter : str, optional
        Goods declared by the ``material_mismatch`` variant.
    declaration_error : float
        Largest relative error of an honest declared mass (uniform ±).
    mass_tolerance : float
        Relative mass difference above which ``MASS_MISMATCH`` is expected.
    energies_mev : sequence of float
        Scanner endpoint energies (MeV) for the unreadable-region estimate.
    starved_transmission : float
        Transmission (either energy) below which a pixel cannot be read.
    min_unreadable_area_cm2 : float
        Smallest unreadable area that is expected to be reported, cm² at the scan plane.

    Returns
    -------
    Scenario

    Raises
    ------
    SimulationError
        If an option is unknown or inconsistent (a lying variant without goods, a car
        too long for the container).

    Examples
    --------
    >>> scenario = build_scenario("20ft", "03", "lead_block", seed=1, threat_size="small")
    >>> scenario.expected_verdict, "UNDECLARED_HIGH_Z" in scenario.expected_reasons
    ('inspect', True)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SimulationError(f"seed must be a non-negative integer, got {seed!r}.")
    if variant not in VARIANTS:
        raise SimulationError(f"variant {variant!r} is unknown; use one of {', '.join(VARIANTS)}.")
    if threat_size not in SIZES:
        raise SimulationError(f"threat_size {threat_size!r} is unknown; use one of {', '.join(SIZES)}.")
    if not (0 <= declaration_error < 1 and 0 < mass_tolerance < 1):
        raise SimulationError("declaration_error must be in [0, 1) and mass_tolerance in (0, 1).")
    energies = tuple(float(e) for e in energies_mev)
    threat_name = _normalise_threat(threat)
    threat_entry = None if threat_name is None else _threat_lookup(threat_name)
    goods = None if cargo_chapter in (None, "", "none") else commodity(str(cargo_chapter))
    if variant != "honest" and goods is None:
        raise SimulationError(f"variant '{variant}' lies about goods: give a cargo_chapter.")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)]
    rng_id, rng_cargo, rng_threat, rng_declare = streams

    objects: list[SceneObject] = []
    info: ContainerInfo | None = None
    if container is not None:
        structure, info = build_container(str(container), z_top_mm=_TOP_MARGIN_MM, make=container_make)
        objects += structure
        interior = info.interior_mm
        length, height = info.external_mm[0], info.external_mm[2]
        payload = info.max_payload_kg
    else:
        kind = container_type("20ft")
        length, height = kind.external_mm[0], kind.internal_mm[2]
        interior = (_TOP_MARGIN_MM, _TOP_MARGIN_MM + height, 0.0, length, 0.0, kind.internal_mm[1])
        payload = kind.max_gross_mass_kg - kind.tare_mass_kg
    scene_height = _TOP_MARGIN_MM + height + _BOTTOM_MARGIN_MM
    if chassis:
        if info is None:
            raise SimulationError("a chassis needs a container to carry.")
        deck = _TOP_MARGIN_MM + height
        objects += build_chassis(length, info.external_mm[1], z_deck_mm=deck)
        scene_height = deck + chassis_height_mm() + _BOTTOM_MARGIN_MM

    region = interior if threat_entry is None else threat_cargo_region(threat_entry, threat_size, interior)
    load: CargoLoad | None = None
    cargo: list[SceneObject] = []
    if goods is not None:
        load = build_cargo(goods, region, rng_cargo, load_fraction=load_fraction,  # type: ignore[arg-type]
                           max_mass_kg=payload * 0.95, density_cv=cargo_density_cv)
        cargo = load.objects
    regions: list[dict[str, Any]] = []
    threat_objects: list[SceneObject] = []
    if threat_entry is not None:
        placement = place_threat(threat_entry, threat_size, info, interior, cargo, rng_threat)
        cargo, threat_objects = placement.cargo, placement.objects
        regions = placement.regions
    objects += cargo + threat_objects
    name = f"{info.name if info else 'no container'} / {goods.key if goods else 'empty'} / {threat_name or 'no threat'}"
    scene = Scene(objects, length_mm=float(length), height_mm=float(scene_height), container=info, name=name)

    # ---------------------------------------------------------------- manifest
    goods_mass = float(sum(o.mass_kg for o in cargo))
    packages = load.packages if load is not None else 0
    if load is not None and cargo is not load.objects:
        kept = len(cargo) / max(len(load.objects), 1)
        packages = int(round(packages * kept))
    reasons: list[str] = []
    items: list[dict[str, Any]] = []
    declared_mass = 0.0
    say_empty = goods is None or variant == "declared_empty"
    if goods is not None and variant != "declared_empty":
        declared_goods = goods
        if variant == "material_mismatch":
            declared_goods = commodity(declared_chapter) if declared_chapter else commodity(_MISMATCH_CHAPTER[material_class_name(load.goods_material)])  # type: ignore[union-attr]
            if declared_goods.chapter == goods.chapter:
                raise SimulationError(f"declared_chapter {declared_chapter} is the true chapter {goods.chapter}: no mismatch.")
            reasons.append("MATERIAL_MISMATCH")
        factor = 1.0 + float(rng_declare.uniform(-declaration_error, declaration_error))
        if variant == "mass_underdeclared":
            factor = float(rng_declare.uniform(0.45, 0.70))
        declared_mass = round(goods_mass * factor, 0)
        items.append({
            "hs_code": declared_goods.hs_code,
            "description": declared_goods.description,
            "gross_mass_kg": declared_mass,
            "packages": int(packages),
        })
    if declared_empty is not None:
        say_empty = bool(declared_empty)
    true_mass = scene.cargo_mass_kg
    anything = bool(cargo or threat_objects)
    if say_empty and anything:
        reasons.append("DECLARED_EMPTY_NOT_EMPTY")
    if items and not say_empty and abs(true_mass - declared_mass) > mass_tolerance * max(declared_mass, 1.0):
        reasons.append("MASS_MISMATCH")
    manifest = {
        "container_id": container_id(rng_id),
        "iso_type": info.iso_type if info else None,
        "tare_mass_kg": info.tare_mass_kg if info else 0.0,
        "declared_empty": say_empty,
        "items": items if not say_empty else [],
    }

    # ------------------------------------------------- threats and unreadable
    unreadable, starved, zc, xc = _starved_regions(scene, interior, energies, starved_transmission, min_unreadable_area_cm2)
    for entry in regions:
        fraction, area_cm2 = _fraction_inside(entry["bbox_mm"], starved, zc, xc)
        entry["starved_fraction"] = round(fraction, 3)
        # Mostly unreadable and large enough to be reported: the scanner cannot tell
        # what it is, only that it cannot see through it.
        if fraction >= 0.5 and area_cm2 >= min_unreadable_area_cm2:
            entry["reason"] = "UNREADABLE_REGION"
        reasons.append(entry["reason"])
    for bbox in unreadable:
        regions.append({"bbox_mm": bbox, "material": "impenetrable", "reason": "UNREADABLE_REGION"})
        reasons.append("UNREADABLE_REGION")
    reasons = sorted(set(reasons))
    options = {
        "kind": "scenario",
        "container": info.iso_type if info else None,
        "cargo_chapter": goods.key if goods else None,
        "threat": threat_entry.name if threat_entry else None,
        "threat_size": threat_size if threat_entry else None,
        "variant": variant,
        "chassis": bool(chassis),
        "container_make": container_make if info else None,
        "cargo_density_cv": cargo_density_cv,
        "bulk_density_kg_m3": round(load.bulk_density_kg_m3, 1) if load else None,
        "load_fraction": round(load.load_fraction, 4) if load else None,
        "declared_mass_kg": declared_mass,
        "name": name,
    }
    return Scenario(
        scene=scene,
        manifest=manifest,
        expected_verdict="inspect" if reasons else "clear",
        expected_reasons=reasons,
        threat_regions=regions,
        seed=int(seed),
        options=options,
    )


def _threat_lookup(name: str):
    return threat(name)


# ------------------------------------------------------------------ phantoms
def _as_material(value: Material | str) -> Material:
    if isinstance(value, str):
        return material(value)
    if hasattr(value, "density_g_cm3") and hasattr(value, "composition"):
        return value
    raise SimulationError(f"{value!r} is neither a material name nor a Material.")


def _phantom_entry(item: Material, thickness: float, box: Box) -> dict[str, Any]:
    return {
        "material": {"name": item.name, "density_g_cm3": item.density_g_cm3, "composition": dict(item.composition)},
        "thickness_mm": float(thickness),
        "position_mm": [float(box.x0), float(box.x1)],
        "z_mm": [float(box.z0), float(box.z1)],
    }


def step_wedge_scene(
    material_name: Material | str,
    thicknesses_mm: Sequence[float],
    *,
    arrangement: str = "x",
    step_length_mm: float = 400.0,
    gap_mm: float = 200.0,
    z_range_mm: tuple[float, float] = (100.0, 2600.0),
    lead_in_mm: float = 300.0,
) -> Scene:
    """A step wedge: blocks of one material at increasing thickness along the beam.

    Parameters
    ----------
    material_name : Material or str
        The wedge's material (``"polyethylene"``, ``"aluminium"``, ``"iron"``, ``"lead"``).
    thicknesses_mm : sequence of float
        Thickness of each step along the beam, mm (> 0).
    arrangement : {"x", "z"}
        ``"x"``: steps one after the other along the conveyance, each covering the
        channels of ``z_range_mm``; ``"z"``: steps stacked, each covering a band of
        channels over the same ``step_length_mm`` of conveyance.
    step_length_mm, gap_mm : float
        Length of a step and the gap between steps along the conveyance, mm ("x").
    z_range_mm : tuple of float
        Rows covered, mm down from the image top.
    lead_in_mm : float
        Empty conveyance before the first step, mm.

    Returns
    -------
    Scene
        Role ``phantom`` objects; ``scene.phantom`` lists the NXR ``phantom`` entries
        (``z_mm`` instead of ``channels``: see :func:`phantom_header`).

    Examples
    --------
    >>> wedge = step_wedge_scene("aluminium", [50, 100, 200])
    >>> [p["thickness_mm"] for p in wedge.phantom]
    [50.0, 100.0, 200.0]
    """
    item = _as_material(material_name)
    thicknesses = [float(t) for t in thicknesses_mm]
    if not thicknesses or not all(math.isfinite(t) and t > 0 for t in thicknesses):
        raise SimulationError(f"thicknesses_mm must be positive lengths in mm, got {list(thicknesses_mm)!r}.")
    z0, z1 = (float(v) for v in z_range_mm)
    if not (0 <= z0 < z1):
        raise SimulationError(f"z_range_mm {z_range_mm!r} must be increasing and ≥ 0.")
    if arrangement not in ("x", "z"):
        raise SimulationError(f"arrangement must be 'x' or 'z', got {arrangement!r}.")
    objects, phantom = [], []
    for k, thickness in enumerate(thicknesses):
        if arrangement == "x":
            x0 = lead_in_mm + k * (step_length_mm + gap_mm)
            box = Box(z0, z1, x0, x0 + step_length_mm, 0.0, thickness)
        else:
            band = (z1 - z0) / len(thicknesses)
            box = Box(z0 + k * band, z0 + (k + 1) * band, lead_in_mm, lead_in_mm + step_length_mm, 0.0, thickness)
        objects.append(SceneObject(f"{item.name} step {thickness:g} mm", item, "phantom", (box,)))
        phantom.append(_phantom_entry(item, thickness, box))
    length = max(o.bbox_mm[3] for o in objects) + lead_in_mm
    return Scene(objects, length_mm=length, height_mm=z1 + _BOTTOM_MARGIN_MM, name=f"step wedge {item.name}", phantom=phantom)


def block_scene(
    material_name: Material | str,
    thickness_mm: float,
    behind_container: bool = False,
    *,
    container: str = "20ft",
    block_height_mm: float = 1000.0,
    block_length_mm: float = 1000.0,
) -> Scene:
    """One block of a material in the beam, alone or inside an empty container.

    Parameters
    ----------
    material_name : Material or str
    thickness_mm : float
        Thickness along the beam, mm (> 0).
    behind_container : bool
        Put the block inside an empty container (its walls in the beam path); in air
        the block may be up to twice the container's internal width thick.
    container : str
        Container type when ``behind_container``.
    block_height_mm, block_length_mm : float
        Height and length along the conveyance of the block, mm.

    Returns
    -------
    Scene
        With ``scene.phantom`` describing the block.
    """
    item = _as_material(material_name)
    thickness = float(thickness_mm)
    if not (math.isfinite(thickness) and thickness > 0):
        raise SimulationError(f"thickness_mm must be a positive length in mm, got {thickness_mm!r}.")
    objects: list[SceneObject] = []
    info = None
    kind = container_type(container)
    length, height = kind.external_mm[0], kind.external_mm[2]
    if behind_container:
        objects, info = build_container(container, z_top_mm=_TOP_MARGIN_MM)
        ceiling, floor, x0, x1, y0, y1 = info.interior_mm
    else:
        # in air a block may be up to twice a container's width along the beam (250 g/cm²
        # of polyethylene is 2.66 m): the source and the detector are metres away
        ceiling, floor, x0, x1, y0, y1 = (_TOP_MARGIN_MM, _TOP_MARGIN_MM + height, 0.0, length, 0.0,
                                          2.0 * kind.internal_mm[1])
    if thickness > y1 - y0 or block_height_mm > floor - ceiling or block_length_mm > x1 - x0:
        raise SimulationError(f"a {block_height_mm:g} × {block_length_mm:g} × {thickness:g} mm block does not fit in a {kind.name} container.")
    zc, xc, yc = (ceiling + floor) / 2, (x0 + x1) / 2, (y0 + y1) / 2
    box = Box(zc - block_height_mm / 2, zc + block_height_mm / 2, xc - block_length_mm / 2, xc + block_length_mm / 2,
              yc - thickness / 2, yc + thickness / 2)
    objects.append(SceneObject(f"{item.name} block {thickness:g} mm", item, "phantom", (box,)))
    return Scene(objects, length_mm=length, height_mm=_TOP_MARGIN_MM + height + _BOTTOM_MARGIN_MM, container=info,
                 name=f"{item.name} {thickness:g} mm{' in ' + kind.name if behind_container else ''}",
                 phantom=[_phantom_entry(item, thickness, box)])


def phantom_header(
    scene: Scene, row_height_mm: float, channels: int, *, first_channel: str = "top", x_offset_mm: float = 0.0
) -> list[dict[str, Any]]:
    """Return a phantom scene's blocks in the NXR header's ``phantom`` format.

    Parameters
    ----------
    scene : Scene
        A scene from :func:`step_wedge_scene` or :func:`block_scene`.
    row_height_mm : float
        Row height at the scan plane, mm (row ``r`` covers ``[r h, (r + 1) h)``).
    channels : int
        Number of detector channels.
    first_channel : {"top", "bottom"}
        Where channel 0 sits.
    x_offset_mm : float
        Conveyance position of scene ``x = 0``, mm.

    Returns
    -------
    list of dict
        ``material`` (name, density_g_cm3, composition), ``thickness_mm``,
        ``position_mm`` [x0, x1] and inclusive ``channels`` [first, last].
    """
    if not (row_height_mm > 0 and int(channels) >= 1):
        raise SimulationError("phantom_header needs a positive row height (mm) and at least one channel.")
    if first_channel not in ("top", "bottom"):
        raise SimulationError(f"first_channel must be 'top' or 'bottom', got {first_channel!r}.")
    out = []
    for entry in getattr(scene, "phantom", None) or []:
        z0, z1 = entry["z_mm"]
        rows = [int(np.floor(z0 / row_height_mm)), int(np.ceil(z1 / row_height_mm)) - 1]
        rows = [min(max(r, 0), int(channels) - 1) for r in rows]
        if first_channel == "bottom":
            rows = [int(channels) - 1 - rows[1], int(channels) - 1 - rows[0]]
        out.append({
            "material": dict(entry["material"]),
            "thickness_mm": entry["thickness_mm"],
            "position_mm": [entry["position_mm"][0] + x_offset_mm, entry["position_mm"][1] + x_offset_mm],
            "channels": rows,
        })
    return out
