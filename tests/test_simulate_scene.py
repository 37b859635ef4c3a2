"""Scenes: path lengths, containers, cargo, phantoms (nii.simulate scene side)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nii.errors import SimulationError
from nii.physics import load_materials, material
from nii.simulate import (
    Box,
    Cylinder,
    Scene,
    SceneObject,
    block_scene,
    build_cargo,
    build_chassis,
    build_container,
    build_scenario,
    container_types,
    load_commodities,
    phantom_header,
    step_wedge_scene,
)
from nii.simulate.containers import _load as load_container_catalogue
from nii.simulate.containers import corrugation_factor

STEEL = material("steel")


def _single(primitive, mat=STEEL, role="phantom") -> Scene:
    return Scene([SceneObject("probe", mat, role, (primitive,))], length_mm=1000.0, height_mm=1000.0)


def _analytic_volume_mm3(primitive) -> float:
    if isinstance(primitive, Box):
        return (primitive.z1 - primitive.z0) * (primitive.x1 - primitive.x0) * (primitive.y1 - primitive.y0)
    return math.pi * (primitive.radius_mm**2 - primitive.inner_radius_mm**2) * primitive.length_mm


# ----------------------------------------------------------------- primitives
def test_steel_cube_path_is_100_mm_inside_and_0_outside():
    scene = _single(Box(200.0, 300.0, 400.0, 500.0, 0.0, 100.0))
    z = np.array([150.0, 210.0, 250.0, 299.0, 301.0])
    x = np.array([399.0, 401.0, 450.0, 499.5, 520.0])
    paths = scene.path_lengths_mm(z, x, row_height_mm=0.0, column_width_mm=0.0)
    assert paths.shape == (1, 5, 5) and paths.dtype == np.float32
    expected = np.zeros((5, 5))
    expected[1:4, 1:4] = 100.0
    np.testing.assert_array_equal(paths[0], expected)


def test_aperture_average_gives_partial_volume_at_edges():
    scene = _single(Box(200.0, 300.0, 400.0, 500.0, 0.0, 100.0))
    # 10 mm pixels centred on 195, 205 ...: the pixel centred on 200 is half inside.
    paths = scene.path_lengths_mm(np.array([200.0, 250.0]), np.array([400.0, 450.0, 500.0]), row_height_mm=10.0, column_width_mm=10.0)
    np.testing.assert_allclose(paths[0], [[25.0, 50.0, 25.0], [50.0, 100.0, 50.0]], rtol=1e-6)


def test_cylinder_chords_match_hand_computation():
    upright = _single(Cylinder("z", 500.0, 500.0, 100.0, radius_mm=50.0, length_mm=200.0))
    paths = upright.path_lengths_mm(np.array([500.0]), np.array([500.0, 530.0, 551.0]), row_height_mm=0, column_width_mm=0)
    np.testing.assert_allclose(paths[0, 0], [100.0, 80.0, 0.0], atol=1e-4)
    pipe = _single(Cylinder("x", 500.0, 500.0, 100.0, radius_mm=50.0, length_mm=200.0, inner_radius_mm=40.0))
    paths = pipe.path_lengths_mm(np.array([500.0, 530.0, 545.0]), np.array([500.0]), row_height_mm=0, column_width_mm=0)
    np.testing.assert_allclose(paths[0, :, 0], [20.0, 80.0 - 2 * math.sqrt(40.0**2 - 30.0**2), 2 * math.sqrt(50.0**2 - 45.0**2)], atol=1e-4)
    wheel = _single(Cylinder("y", 500.0, 500.0, 100.0, radius_mm=50.0, length_mm=30.0, inner_radius_mm=20.0))
    paths = wheel.path_lengths_mm(np.array([500.0, 530.0, 560.0]), np.array([500.0]), row_height_mm=0, column_width_mm=0)
    np.testing.assert_allclose(paths[0, :, 0], [0.0, 30.0, 0.0])


@pytest.mark.parametrize(
    "primitive",
    [
        Box(103.0, 377.0, 211.0, 689.0, 0.0, 57.0),
        Cylinder("z", 400.0, 500.0, 0.0, radius_mm=123.0, length_mm=250.0, inner_radius_mm=50.0),
        Cylinder("x", 400.0, 500.0, 0.0, radius_mm=123.0, length_mm=250.0),
        Cylinder("y", 400.0, 500.0, 0.0, radius_mm=123.0, length_mm=250.0, inner_radius_mm=70.0),
    ],
)
def test_path_lengths_integrate_to_the_volume(primitive):
    # Aperture-averaged rays tiling the plane: Σ path × pixel area = volume.
    scene = _single(primitive)
    z = np.arange(0.0, 1000.0, 7.0) + 3.5
    x = np.arange(0.0, 1000.0, 9.0) + 4.5
    paths = scene.path_lengths_mm(z, x)
    volume = float(paths.sum(dtype=np.float64)) * 7.0 * 9.0
    assert volume == pytest.approx(_analytic_volume_mm3(primitive), rel=2e-3)


def test_unsorted_positions_give_the_same_rays():
    scene = _single(Box(200.0, 300.0, 400.0, 500.0, 0.0, 100.0))
    z = np.array([250.0, 150.0, 299.0])
    x = np.array([450.0, 600.0, 401.0])
    paths = scene.path_lengths_mm(z, x, row_height_mm=0, column_width_mm=0)[0]
    assert paths[0, 0] == 100.0 and paths[1, 0] == 0.0 and paths[2, 2] == 100.0 and paths[0, 1] == 0.0


@pytest.mark.parametrize("bad", [np.zeros((2, 2)), np.array([]), np.array([np.nan, 1.0])])
def test_bad_positions_raise_simulation_error(bad):
    scene = _single(Box(0.0, 1.0, 0.0, 1.0, 0.0, 1.0))
    with pytest.raises(SimulationError):
        scene.path_lengths_mm(bad, np.array([0.5]))


def test_huge_request_is_refused_before_allocating():
    scene = _single(Box(0.0, 1.0, 0.0, 1.0, 0.0, 1.0))
    with pytest.raises(SimulationError, match="size limit"):
        scene.path_lengths_mm(np.arange(100_000.0), np.arange(100_000.0))


def test_invalid_shapes_are_refused():
    with pytest.raises(SimulationError):
        Box(10.0, 5.0, 0.0, 1.0, 0.0, 1.0)
    with pytest.raises(SimulationError):
        Cylinder("q", 0.0, 0.0, 0.0, 1.0, 1.0)
    with pytest.raises(SimulationError):
        Cylinder("z", 0.0, 0.0, 0.0, 1.0, 1.0, inner_radius_mm=2.0)
    with pytest.raises(SimulationError):
        SceneObject("x", STEEL, "ghost", (Box(0.0, 1.0, 0.0, 1.0, 0.0, 1.0),))


# ----------------------------------------------------------------- containers
@pytest.mark.parametrize("iso", ["22G1", "42G1", "45G1"])
def test_structure_mass_matches_the_catalogue_tare(iso):
    objects, info = build_container(iso)
    assert info.iso_type == iso
    assert info.structure_mass_kg == pytest.approx(sum(o.mass_kg for o in objects))
    assert info.structure_mass_kg == pytest.approx(info.tare_mass_kg, rel=0.05)
    assert all(o.role == "container" for o in objects)


def test_aliases_and_unknown_container():
    assert build_container("40ft")[1].iso_type == "42G1"
    assert build_container("20ft")[1].iso_type == "22G1"
    assert set(container_types()) >= {"22G1", "42G1", "45G1"}
    with pytest.raises(SimulationError, match="unknown container"):
        build_container("53ft")


@pytest.fixture(scope="module")
def container20():
    objects, info = build_container("20ft", z_top_mm=100.0)
    return Scene(objects, length_mm=info.external_mm[0], height_mm=2800.0, container=info), info


def test_side_walls_are_two_corrugated_sheets(container20):
    scene, info = container20
    structure = load_container_catalogue(None)["structure"]
    thickness = structure["side_wall_mm"]
    profile = structure["side_corrugation_mm"]
    factor = corrugation_factor(profile)
    assert 1.03 < factor < 1.3
    z_mid = np.array([(info.interior_mm[0] + info.interior_mm[1]) / 2])
    pitch = profile["pitch"]
    x = 2000.0 + (np.arange(2000) + 0.5) * pitch / 2000  # one corrugation period, mid container
    steel = scene.path_lengths_mm(z_mid, x, row_height_mm=0.0, column_width_mm=0.0)[scene.material_index()["steel"], 0]
    assert steel.mean() == pytest.approx(2 * thickness * factor, rel=0.01)
    assert steel.min() == pytest.approx(2 * thickness, rel=1e-4)  # flats
    flank = math.hypot((pitch - profile["outer_flat"] - profile["inner_flat"]) / 2, profile["depth"]) / (
        (pitch - profile["outer_flat"] - profile["inner_flat"]) / 2
    )
    assert steel.max() == pytest.approx(2 * thickness * flank, rel=1e-4)  # flanks


def test_roof_and_floor_bands_run_through_the_width(container20):
    scene, info = container20
    index = scene.material_index()
    ceiling, floor, x0, x1, y0, y1 = info.interior_mm
    x = np.linspace(1500.0, 4500.0, 301)
    z = np.arange(90.0, 2700.0, 1.0)
    paths = scene.path_lengths_mm(z, x, row_height_mm=1.0, column_width_mm=10.0)
    steel, plywood = paths[index["steel"]], paths[index["plywood"]]
    roof_rows = (z > 100.0) & (z < ceiling)
    cargo_rows = (z > ceiling + 80.0) & (z < floor - 5.0)
    width = info.external_mm[1]
    # Rays in the roof band cross metres of steel sheet; rays in the cargo space only the walls.
    assert steel[roof_rows].max(axis=1).max() > 0.8 * (width - 120.0)
    assert steel[cargo_rows].max() < 10.0
    # Plywood floor: the full interior width, at the flooring's density (weight 0.75/0.6).
    floor_rows = (z > floor + 2.0) & (z < floor + 26.0)
    equivalent = (y1 - y0) * 0.75 / material("plywood").density_g_cm3
    np.testing.assert_allclose(plywood[floor_rows].mean(axis=1), equivalent, rtol=1e-3)
    assert plywood[cargo_rows].max() == 0.0
    # Cross-member webs: thin vertical lines of about the interior width of steel.
    member_rows = (z > floor + 40.0) & (z < floor + 140.0)
    assert steel[member_rows].max() > 0.5 * (y1 - y0)


def test_end_walls_are_seen_edge_on(container20):
    scene, info = container20
    index = scene.material_index()
    structure = load_container_catalogue(None)["structure"]
    profile, thickness = structure["front_corrugation_mm"], structure["front_wall_mm"]
    wall_lo = info.interior_mm[2] - profile["depth"] - thickness
    z = np.array([1300.0])
    x = np.array([wall_lo + thickness / 2, wall_lo + profile["depth"] / 2, 1000.0, info.interior_mm[3] + 40.0])
    steel = scene.path_lengths_mm(z, x, row_height_mm=0.0, column_width_mm=0.0)[index["steel"], 0]
    # Along the outer flats of the front wall: their total length across the width.
    span = info.external_mm[1] - 2 * structure["front_post_mm"]["y"]
    assert steel[0] > 0.8 * span * profile["outer_flat"] / profile["pitch"]
    # Mid-depth: one crossing of each inclined flank, t / sin(flank angle) each.
    flank = (profile["pitch"] - profile["outer_flat"] - profile["inner_flat"]) / 2
    crossings = 2 * span / profile["pitch"]
    per_crossing = thickness * math.hypot(flank, profile["depth"]) / profile["depth"]
    assert steel[1] == pytest.approx(crossings * per_crossing + 2 * structure["front_post_mm"]["thickness"], rel=0.05)  # + corner posts
    assert steel[2] < 6.0  # only the two side walls
    assert steel[3] > 20.0  # doors, frames and locking bars


def test_chassis_has_wheels_and_rails():
    objects = build_chassis(12192.0, 2438.0, z_deck_mm=2700.0)
    names = {o.name for o in objects}
    assert {"chassis main rail", "chassis axle", "chassis tyres", "chassis wheels"} <= names
    assert all(o.role == "chassis" for o in objects)
    assert 3000.0 < sum(o.mass_kg for o in objects) < 7000.0
    assert sum(o.name == "chassis axle" for o in objects) == 3


# ----------------------------------------------------------------- cargo
def test_every_commodity_builds_within_the_payload():
    _, info = build_container("20ft")
    catalogue = load_commodities()
    assert {"02", "03", "08", "22", "24", "25", "39", "40", "44", "48", "61", "62", "63", "72", "73", "76", "84", "85", "94"} <= set(catalogue)
    known = set(load_materials())
    for key, item in catalogue.items():
        assert item.source.strip() and all(name in known or material(name) for name, _ in item.materials)
        load = build_cargo(item, info.interior_mm, np.random.default_rng(7), max_mass_kg=info.max_payload_kg)
        assert load.objects, key
        assert 0 < load.mass_kg <= info.max_payload_kg, key
        assert load.packages > 0, key
        ceiling, floor, x0, x1, y0, y1 = info.interior_mm
        for obj in load.objects:
            z0, z1, bx0, bx1, by0, by1 = obj.bounds3d
            assert ceiling - 1e-6 <= z0 and z1 <= floor + 1e-6, (key, obj.name)
            assert x0 - 1e-6 <= bx0 and bx1 <= x1 + 1e-6, (key, obj.name)
            assert y0 - 1e-6 <= by0 and by1 <= y1 + 1e-6, (key, obj.name)


def test_cargo_mass_is_volume_times_density_and_matches_the_rays():
    scenario = build_scenario("20ft", "94", "cigarettes_in_furniture", seed=5, threat_size="small")
    scene = scenario.scene
    by_hand = 0.0
    for obj in scene.objects:
        if obj.counts_as_cargo:
            volume = sum(p.weight * _analytic_volume_mm3(p) for p in obj.primitives)
            by_hand += obj.material.density_g_cm3 * volume * 1e-6
    assert scene.cargo_mass_kg == pytest.approx(by_hand, rel=1e-9)
    assert scenario.cargo_mass_kg == scene.cargo_mass_kg
    # Σ areal density × pixel area over the image is the same mass (carved cavities included).
    z = np.arange(0.0, scene.height_mm, 10.0) + 5.0
    x = np.arange(-20.0, scene.length_mm + 20.0, 10.0) + 5.0
    roles = ("cargo", "threat")
    areal = scene.areal_density_g_cm2(z, x, roles=roles)
    integrated = float(areal.sum(dtype=np.float64)) * 1.0 / 1000.0  # g/cm² × 1 cm² per pixel → kg
    threat_structure = sum(o.mass_kg for o in scene.objects if o.role in roles and not o.counts_as_cargo)
    assert integrated == pytest.approx(scene.cargo_mass_kg + threat_structure, rel=2e-3)


def test_same_seed_same_scene_and_different_seed_differs():
    a = build_scenario("20ft", "08", "drug_bricks", seed=11)
    b = build_scenario("20ft", "08", "drug_bricks", seed=11)
    c = build_scenario("20ft", "08", "drug_bricks", seed=12)
    assert a.manifest == b.manifest and a.threat_regions == b.threat_regions
    z, x = np.arange(100.0, 2700.0, 25.0), np.arange(0.0, 6058.0, 25.0)
    np.testing.assert_array_equal(a.scene.path_lengths_mm(z, x), b.scene.path_lengths_mm(z, x))
    assert a.scene.cargo_mass_kg == b.scene.cargo_mass_kg
    assert c.scene.cargo_mass_kg != a.scene.cargo_mass_kg


def test_scene_materials_are_distinct_and_used():
    scenario = build_scenario("20ft", "85", None, seed=2)
    names = [m.name for m in scenario.scene.materials]
    assert len(names) == len(set(names))
    assert {"steel", "plywood"} <= set(names)


# ----------------------------------------------------------------- phantoms
def test_step_wedge_steps_have_their_thickness_and_headers():
    wedge = step_wedge_scene("aluminium", [20.0, 50.0, 100.0], step_length_mm=300.0, gap_mm=100.0)
    assert [o.role for o in wedge.objects] == ["phantom"] * 3
    centres = [300.0 + 150.0 + k * 400.0 for k in range(3)]
    paths = wedge.path_lengths_mm(np.array([1000.0]), np.array(centres + [50.0]), row_height_mm=0, column_width_mm=0)
    np.testing.assert_allclose(paths[0, 0], [20.0, 50.0, 100.0, 0.0])
    header = phantom_header(wedge, row_height_mm=10.0, channels=300)
    assert header[1]["channels"] == [10, 259] and header[1]["position_mm"] == [700.0, 1000.0]
    assert header[0]["material"]["name"] == "aluminium" and header[0]["material"]["composition"] == {"Al": 1.0}
    assert phantom_header(wedge, 10.0, 300, first_channel="bottom")[0]["channels"] == [40, 289]
    stacked = step_wedge_scene("iron", [10.0, 20.0], arrangement="z", z_range_mm=(0.0, 200.0))
    paths = stacked.path_lengths_mm(np.array([50.0, 150.0]), np.array([400.0]), row_height_mm=0, column_width_mm=0)
    np.testing.assert_allclose(paths[0, :, 0], [10.0, 20.0])
    with pytest.raises(SimulationError):
        step_wedge_scene("iron", [10.0, -1.0])


def test_block_scene_alone_and_behind_a_container():
    alone = block_scene("lead", 50.0)
    inside = block_scene("lead", 50.0, behind_container=True)
    assert alone.container is None and inside.container is not None
    assert len(inside.phantom) == 1 and inside.phantom[0]["thickness_mm"] == 50.0
    z0, z1 = inside.phantom[0]["z_mm"]
    x0, x1 = inside.phantom[0]["position_mm"]
    z, x = np.array([(z0 + z1) / 2]), np.array([(x0 + x1) / 2])
    lead_alone = alone.path_lengths_mm(z, x)[alone.material_index()["lead"], 0, 0]
    lead_inside = inside.path_lengths_mm(z, x)[inside.material_index()["lead"], 0, 0]
    steel_inside = inside.path_lengths_mm(z, x)[inside.material_index()["steel"], 0, 0]
    assert lead_alone == pytest.approx(50.0) and lead_inside == pytest.approx(50.0)
    assert 3.0 < steel_inside < 5.0  # two corrugated 1.6 mm side walls
    with pytest.raises(SimulationError):
        block_scene("lead", 5000.0)


def test_carving_keeps_mass_exact_and_respects_coil_eyes():
    from nii.simulate.scene import carve

    pallet = SceneObject("load", material("fruit"), "cargo", (Box(0.0, 1000.0, 0.0, 1000.0, 0.0, 1000.0, 0.5),))
    carved = carve(pallet, (400.0, 600.0, 400.0, 600.0, 400.0, 600.0))
    assert carved.mass_kg == pytest.approx(pallet.mass_kg * (1 - 0.008))
    ray = Scene([carved], 1000.0, 1000.0).path_lengths_mm(np.array([500.0]), np.array([500.0, 100.0]), row_height_mm=0, column_width_mm=0)
    np.testing.assert_allclose(ray[0, 0], [400.0, 500.0])  # 0.5 × (1000 − 200) and 0.5 × 1000
    coil = SceneObject("coil", STEEL, "cargo", (Cylinder("x", 500.0, 500.0, 500.0, 600.0, 1000.0, 305.0),))
    assert carve(coil, (450.0, 550.0, 400.0, 600.0, 450.0, 550.0)) is not None  # in the eye
    assert carve(coil, (100.0, 200.0, 400.0, 600.0, 450.0, 550.0)) is None  # through the steel
