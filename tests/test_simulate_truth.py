"""Ground truth: material maps, regions, scenarios (manifest, expected verdict, threats)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nii.classes import HIGH_Z, IMPENETRABLE, METAL, NONE, ORGANIC
from nii.errors import SimulationError
from nii.physics import material, zeff
from nii.simulate import (
    REASON_CODES,
    VARIANTS,
    Box,
    Scene,
    SceneObject,
    build_container,
    build_scenario,
    load_threats,
    regions_on_grid,
    truth_maps,
)
from nii.simulate.threats import material_class_name

MANIFEST_KEYS = {"container_id", "iso_type", "tare_mass_kg", "declared_empty", "items"}
ITEM_KEYS = {"hs_code", "description", "gross_mass_kg", "packages"}


def _iso6346_ok(number: str) -> bool:
    letter_values = [v for v in range(10, 39) if v % 11]
    values = [int(c) if c.isdigit() else letter_values[ord(c) - 65] for c in number[:10]]
    return len(number) == 11 and sum(v * 2**i for i, v in enumerate(values)) % 11 % 10 == int(number[10])


# ------------------------------------------------------------------ truth maps
@pytest.fixture(scope="module")
def lead_in_fruit():
    structure, info = build_container("20ft", z_top_mm=100.0)
    ceiling, floor, x0, x1, y0, y1 = info.interior_mm
    fruit = SceneObject("fruit pallets", material("fruit"), "cargo", (Box(floor - 1500.0, floor, 1000.0, 4000.0, y0, y1, 0.4),))
    lead = SceneObject("lead block", material("lead"), "threat", (Box(floor - 900.0, floor - 700.0, 2000.0, 2200.0, 1000.0, 1100.0),))
    scene = Scene(structure + [fruit, lead], length_mm=info.external_mm[0], height_mm=2800.0, container=info)
    z = (np.arange(140) + 0.5) * 20.0
    x = (np.arange(303) + 0.5) * 20.0
    return scene, info, z, x


def test_lead_block_in_organic_cargo_is_high_z(lead_in_fruit):
    scene, info, z, x = lead_in_fruit
    classes, zeff_map = truth_maps(scene, z, x)
    assert classes.dtype == np.uint8 and zeff_map.dtype == np.float32 and classes.shape == (140, 303)
    floor = info.interior_mm[1]
    lead_rows = (z > floor - 900.0) & (z < floor - 700.0)
    lead_cols = (x > 2000.0) & (x < 2200.0)
    fruit_rows = (z > floor - 1500.0) & (z < floor)
    fruit_cols = (x > 1000.0) & (x < 4000.0)
    assert np.all(classes[np.ix_(lead_rows, lead_cols)] == HIGH_Z)
    outside_lead = np.ix_(fruit_rows & ~((z > floor - 920.0) & (z < floor - 680.0)), fruit_cols & ~((x > 1980.0) & (x < 2220.0)))
    assert np.all(classes[outside_lead] == ORGANIC)
    np.testing.assert_allclose(zeff_map[np.ix_(lead_rows, lead_cols)], zeff(material("lead")), rtol=1e-5)
    # The container structure is removed: walls, roof and floor alone are "none".
    empty_cols = (x > 4200.0) & (x < 5800.0)
    assert np.all(classes[:, empty_cols] == NONE)
    assert np.all(np.isnan(zeff_map[classes == NONE]))


def test_impenetrable_where_the_transmission_is_too_low(lead_in_fruit):
    scene, _, z, x = lead_in_fruit
    transmission = np.ones((z.size, x.size), dtype=np.float32)
    transmission[10:20, 100:110] = 1e-6
    classes, zeff_map = truth_maps(scene, z, x, transmission_high=transmission)
    assert np.all(classes[10:20, 100:110] == IMPENETRABLE) and np.all(np.isnan(zeff_map[10:20, 100:110]))
    low = np.ones_like(transmission)
    low[30:32, 5:7] = 1e-7
    classes, _ = truth_maps(scene, z, x, transmission_high=transmission, transmission_low=low)
    assert np.all(classes[30:32, 5:7] == IMPENETRABLE)
    with pytest.raises(SimulationError, match="shape"):
        truth_maps(scene, z, x, transmission_high=transmission[:, :5])


def test_thin_material_is_none_and_threshold_is_respected():
    sheet = SceneObject("foil", material("aluminium"), "cargo", (Box(0.0, 100.0, 0.0, 100.0, 0.0, 5.0),))
    scene = Scene([sheet], 200.0, 200.0)
    z, x = np.array([50.0]), np.array([50.0])
    # 5 mm of aluminium = 1.35 g/cm²: below the default threshold, above a lower one.
    assert truth_maps(scene, z, x)[0][0, 0] == NONE
    assert truth_maps(scene, z, x, min_areal_density_g_cm2=1.0)[0][0, 0] == material_code("aluminium")


def material_code(name: str) -> int:
    from nii.classes import CLASS_CODES

    return CLASS_CODES[material_class_name(material(name))]


def test_steel_behind_more_organic_mass_is_organic():
    # The rule: the class of the material with the largest areal density along the ray.
    steel = SceneObject("plate", material("steel"), "cargo", (Box(0.0, 100.0, 0.0, 100.0, 0.0, 10.0),))
    water = SceneObject("water", material("water"), "cargo", (Box(0.0, 100.0, 0.0, 50.0, 20.0, 1020.0),))
    classes, _ = truth_maps(Scene([steel, water], 200.0, 200.0), np.array([50.0]), np.array([25.0, 75.0]))
    assert classes[0].tolist() == [ORGANIC, METAL]


def test_regions_on_grid_is_half_open_and_clipped():
    z = (np.arange(10) + 0.5) * 4.0
    x = np.arange(20) * 5.0 + 100.0
    assert regions_on_grid([8.0, 110.0, 16.0, 125.0], z, x) == [2, 2, 4, 6]
    assert regions_on_grid([-50.0, 0.0, 1000.0, 1000.0], z, x) == [0, 0, 10, 20]
    r0, c0, r1, c1 = regions_on_grid([100.0, 0.0, 200.0, 50.0], z, x)
    assert r0 == r1 and c0 == c1
    with pytest.raises(SimulationError):
        regions_on_grid([1.0, 2.0, 3.0], z, x)
    with pytest.raises(SimulationError):
        regions_on_grid([1.0, 2.0, 3.0, 4.0], z[::-1], x)


# ------------------------------------------------------------------ scenarios
def test_manifest_follows_the_contract():
    scenario = build_scenario("40ft", "03", None, seed=4)
    manifest = scenario.manifest
    assert set(manifest) == MANIFEST_KEYS
    assert manifest["iso_type"] == "42G1" and manifest["tare_mass_kg"] == 3750.0
    assert manifest["declared_empty"] is False and _iso6346_ok(manifest["container_id"])
    (item,) = manifest["items"]
    assert set(item) == ITEM_KEYS
    assert item["hs_code"].isdigit() and 2 <= len(item["hs_code"]) <= 10 and item["hs_code"].startswith("03")
    assert item["packages"] > 0
    assert abs(item["gross_mass_kg"] - scenario.cargo_mass_kg) <= 0.03 * scenario.cargo_mass_kg + 1.0
    assert scenario.expected_verdict == "clear" and scenario.expected_reasons == []
    json.dumps(manifest)
    json.dumps(scenario.threat_regions)
    json.dumps(scenario.describe())


def test_empty_container_declared_empty_is_clear():
    scenario = build_scenario("20ft", None, None, seed=1)
    assert scenario.manifest["declared_empty"] is True and scenario.manifest["items"] == []
    assert scenario.expected_verdict == "clear" and scenario.cargo_mass_kg == 0.0


@pytest.mark.parametrize(
    ("variant", "code"),
    [("mass_underdeclared", "MASS_MISMATCH"), ("material_mismatch", "MATERIAL_MISMATCH"), ("declared_empty", "DECLARED_EMPTY_NOT_EMPTY")],
)
def test_lying_manifests_expect_their_reason(variant, code):
    scenario = build_scenario("20ft", "62", None, seed=9, variant=variant)
    assert code in scenario.expected_reasons and scenario.expected_verdict == "inspect"
    items = scenario.manifest["items"]
    if variant == "mass_underdeclared":
        assert items[0]["gross_mass_kg"] < 0.75 * scenario.cargo_mass_kg
    if variant == "material_mismatch":
        assert not items[0]["hs_code"].startswith("62")
        assert abs(items[0]["gross_mass_kg"] - scenario.cargo_mass_kg) <= 0.03 * scenario.cargo_mass_kg + 1.0
    if variant == "declared_empty":
        assert scenario.manifest["declared_empty"] is True and items == []


def test_declared_textiles_actually_machinery():
    scenario = build_scenario("20ft", "84", None, seed=3, variant="material_mismatch", declared_chapter="62")
    assert scenario.manifest["items"][0]["hs_code"].startswith("62")
    assert "MATERIAL_MISMATCH" in scenario.expected_reasons
    with pytest.raises(SimulationError):
        build_scenario("20ft", "84", None, seed=3, variant="material_mismatch", declared_chapter="84")


def test_lead_block_scenario_regions_and_truth():
    scenario = build_scenario("20ft", "61", "lead_block", seed=2, threat_size="medium")
    assert scenario.expected_reasons == ["UNDECLARED_HIGH_Z"]
    (region,) = scenario.threat_regions
    assert region["material"] == "high_z" and region["reason"] == "UNDECLARED_HIGH_Z"
    lead = [o for o in scenario.scene.objects if o.role == "threat"]
    assert region["bbox_mm"] == pytest.approx(list(lead[0].bbox_mm))
    z0, x0, z1, x1 = region["bbox_mm"]
    z = np.linspace(z0 + 5.0, z1 - 5.0, 4)
    x = np.linspace(x0 + 5.0, x1 - 5.0, 4)
    classes, _ = truth_maps(scenario.scene, z, x)
    assert np.all(classes == HIGH_Z)
    # The lead took the place of fruit: the cargo mass counts it and the carved cavity.
    assert scenario.cargo_mass_kg > scenario.options["declared_mass_kg"] * 0.97


@pytest.mark.parametrize("container", ["20ft", "40ft"])
def test_every_threat_builds(container):
    for name, item in load_threats().items():
        scenario = build_scenario(container, item.host_chapters[0] if item.host_chapters else "61", name, seed=1)
        assert scenario.expected_verdict == "inspect", name
        assert set(scenario.expected_reasons) <= set(REASON_CODES), name
        threat_regions = [r for r in scenario.threat_regions if r.get("threat") == name]
        assert threat_regions, name
        for region in threat_regions:
            z0, x0, z1, x1 = region["bbox_mm"]
            assert z0 < z1 and x0 < x1 and 0 <= z0 and z1 <= scenario.scene.height_mm and 0 <= x0 and x1 <= scenario.scene.length_mm
            assert region["reason"] in item.reasons + ("UNREADABLE_REGION",)
            assert region["material"] in ("organic", "inorganic", "metal", "high_z")
        assert any(o.role == "threat" for o in scenario.scene.objects)


def test_threat_sizes_grow_and_a_threat_alone_is_not_declared():
    masses = []
    for size in ("small", "medium", "large"):
        scenario = build_scenario("20ft", None, "du_block", seed=6, threat_size=size)
        assert "DECLARED_EMPTY_NOT_EMPTY" in scenario.expected_reasons
        masses.append(scenario.threat_regions[0]["mass_kg"])
    assert masses[0] < masses[1] < masses[2]
    with pytest.raises(SimulationError):
        build_scenario("20ft", None, "du_block", seed=6, threat_size="huge")


def test_structural_threats_change_the_cargo_space():
    wall = build_scenario("20ft", "94", "false_wall", seed=3, threat_size="large")
    cargo_x0 = min(o.bbox_mm[1] for o in wall.scene.objects if o.role == "cargo")
    assert cargo_x0 > wall.scene.container.interior_mm[2] + 1000.0
    assert "STRUCTURE_ANOMALY" in wall.expected_reasons
    floor = build_scenario("20ft", "94", "thickened_floor", seed=3, threat_size="small")
    cargo_bottom = max(o.bbox_mm[2] for o in floor.scene.objects if o.role == "cargo")
    assert cargo_bottom < floor.scene.container.interior_mm[1] - 60.0
    car = build_scenario("20ft", "94", "vehicle", seed=3, threat_size="small")
    body = next(o for o in car.scene.objects if o.name.endswith("body shell"))
    assert 250.0 < body.mass_kg < 500.0
    assert 800.0 < car.threat_regions[0]["mass_kg"] < 1600.0  # kerb mass of a small car


def test_dense_honest_cargo_is_expected_unreadable():
    coils = build_scenario("20ft", "72", None, seed=1)
    assert "UNREADABLE_REGION" in coils.expected_reasons
    assert any(r["material"] == "impenetrable" for r in coils.threat_regions)
    textiles = build_scenario("20ft", "61", None, seed=1)
    assert textiles.expected_reasons == []


def test_bad_options_raise_simulation_error():
    with pytest.raises(SimulationError):
        build_scenario("20ft", "99", None, seed=1)
    with pytest.raises(SimulationError):
        build_scenario("20ft", "61", "death_ray", seed=1)
    with pytest.raises(SimulationError):
        build_scenario("20ft", None, None, seed=1, variant="mass_underdeclared")
    with pytest.raises(SimulationError):
        build_scenario("20ft", "61", None, seed=-1)
    with pytest.raises(SimulationError):
        build_scenario("20ft", "61", None, seed=1, variant="bribe")
    assert set(VARIANTS) == {"honest", "mass_underdeclared", "material_mismatch", "declared_empty"}
    assert build_scenario("20ft", "61", "none", seed=1).threat_regions == []
    assert build_scenario("20ft", "61", "lead-block", seed=1, threat_size="small").options["threat"] == "lead_block"
