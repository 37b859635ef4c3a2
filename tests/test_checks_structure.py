"""STRUCTURE_ANOMALY and the container structure estimate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _inspection_synthetic import (
    BOTTOM,
    FLOOR_ROWS,
    FRONT,
    IN_COL0,
    IN_COL1,
    IN_ROW0,
    IN_ROW1,
    REAR,
    TOP,
    Scene,
    check_input,
    manifest,
)

from nii.classes import METAL, ORGANIC
from nii.inspection import load_container_types, load_expectations
from nii.inspection.checks import build_check_input, check_structure, structure_model
from nii.inspection.checks._structure_model import corrugation_factor, longest_run


def cargo(seed=0):
    return Scene(seed=seed).add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, REAR - 3, 40.0, ORGANIC)


def test_structure_estimate_finds_the_box_above_the_trailer():
    inp = check_input(cargo(), manifest())
    structure = inp.structure
    assert structure.found
    assert structure.rows == (TOP, BOTTOM)
    assert structure.cols == (FRONT, REAR)
    assert abs(structure.interior_cols[0] - IN_COL0) <= 1 and abs(structure.interior_cols[1] - IN_COL1) <= 1
    assert structure.interior_rows == (IN_ROW0, IN_ROW1)
    assert structure.wall_g_cm2 == pytest.approx(2.67, abs=0.15)


def test_model_of_the_20ft_box():
    model = structure_model(load_container_types()["22G1"], {"floor_band_mm": 170.0, "roof_band_mm": 60.0})
    # Two 1.6 mm corrugated steel walls: 2 × 0.16 cm × 7.85 g/cm3 × ~1.06.
    assert model.walls_g_cm2 == pytest.approx(2 * 0.16 * 7.85 * 1.06, rel=0.03)
    assert 25 < model.floor_g_cm2 < 60
    assert corrugation_factor({"pitch": 100.0, "depth": 15.0, "outer_flat": 30.0, "inner_flat": 30.0}) == pytest.approx(1.1)
    assert longest_run([False, True, True, False, True, True, True]) == (4, 7)


def test_normal_container_is_clear():
    assert check_structure(check_input(cargo(seed=1), manifest())).reasons == []


def test_thickened_floor_section_is_raised():
    scene = cargo(seed=2).add(BOTTOM - FLOOR_ROWS, 100, BOTTOM, 160, 60.0, METAL)
    result = check_structure(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["STRUCTURE_ANOMALY"]
    assert "floor" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 >= BOTTOM - FLOOR_ROWS - 1 and abs(col0 - 100) <= 4 and abs(col1 - 160) <= 4


def test_false_front_wall_is_raised():
    scene = cargo(seed=3).add(IN_ROW0, 70, IN_ROW1, 72, 40.0, METAL)
    result = check_structure(check_input(scene, manifest()))
    assert result.reasons and "false wall" in result.reasons[0].message


def test_walls_thicker_than_the_model_are_raised():
    scene = Scene(seed=4).add(TOP, FRONT, BOTTOM, REAR, 6.0, METAL)   # walls 3× the model's
    result = check_structure(check_input(scene, manifest()))
    assert any("side walls" in reason.message for reason in result.reasons)


def test_raised_floor_plate_is_raised():
    # A steel plate over a cavity, 4 rows (120 mm) above the boards, the whole length:
    # a thin line far denser than the rows above and below it.
    scene = cargo(seed=5).add(IN_ROW1 - 4, FRONT + 3, IN_ROW1 - 3, REAR - 3, 1200.0, METAL)
    scene.add(IN_ROW1 - 3, 80, IN_ROW1, 200, 30.0, ORGANIC)   # the hidden goods
    result = check_structure(check_input(scene, manifest()))
    messages = [reason.message for reason in result.reasons]
    assert any("false floor" in message for message in messages), messages
    region = next(r for r in result.regions if r.bbox[0] >= IN_ROW1 - 6)
    assert region.bbox[0] >= IN_ROW1 - 6 and region.bbox[2] >= IN_ROW1


def test_timber_and_pallets_on_the_floor_are_not_a_false_floor():
    # Sawn timber lying directly on the boards along the whole length: a thick even layer.
    timber = Scene(seed=6).add(IN_ROW1 - 20, FRONT + 3, IN_ROW1, REAR - 3, 120.0, ORGANIC)
    assert check_structure(check_input(timber, manifest(items=[{"hs_code": "440710", "gross_mass_kg": 20000}]))).reasons == []
    # Pallets: heavy decks a row up, broken every 1.2 m.
    pallets = cargo(seed=7)
    for start in range(IN_COL0, IN_COL1 - 48, 50):
        pallets.add(IN_ROW1 - 2, start, IN_ROW1 - 1, start + 46, 80.0, ORGANIC)
    assert check_structure(check_input(pallets, manifest())).reasons == []


def test_false_wall_next_to_the_front_end_behind_hidden_goods():
    # Hidden goods between the front wall and a sheet 3 columns (75 mm) into the interior,
    # cargo from there on: the sheet's line stands above both.
    scene = Scene(seed=8).add(IN_ROW0 + 3, IN_COL0 - 4, IN_ROW1, IN_COL0 + 7, 50.0, ORGANIC)
    scene.add(IN_ROW0 + 10, IN_COL0 + 7, IN_ROW1, REAR - 3, 40.0, ORGANIC)
    scene.add(IN_ROW0, IN_COL0 + 6, IN_ROW1, IN_COL0 + 8, 30.0, METAL)
    result = check_structure(check_input(scene, manifest()))
    assert any("false wall" in reason.message for reason in result.reasons), [r.message for r in result.reasons]


def test_edge_of_a_stack_is_not_a_false_wall():
    scene = Scene(seed=9).add(IN_ROW0 + 2, IN_COL0, IN_ROW1, 150, 60.0, ORGANIC)
    scene.add(IN_ROW0 + 30, 150, IN_ROW1, IN_COL1, 20.0, ORGANIC)
    assert check_structure(check_input(scene, manifest())).reasons == []


def test_a_row_of_full_height_lines_is_the_goods_not_a_false_wall():
    # Tyres standing on their treads: a thin dense line every ~20 cm over the full height.
    scene = Scene(seed=10)
    for col in range(IN_COL0 + 10, IN_COL1 - 10, 8):
        scene.add(IN_ROW0, col, IN_ROW1, col + 1, 12.0, ORGANIC)
    assert check_structure(check_input(scene, manifest())).reasons == []


def test_container_full_of_impenetrable_goods_is_still_found_whole():
    # Starved pixels have a huge noise estimate; their areal density still says "material".
    from _inspection_synthetic import load_expectations

    from nii.inspection.checks import build_check_input

    image, material_map = Scene(seed=11).add(IN_ROW0 + 10, FRONT + 3, IN_ROW1, 150, 3000.0, METAL).build()
    image.sigma_high[:, :150] = 50.0
    structure = build_check_input(image, material_map, manifest(), load_expectations()).structure
    assert structure.found and structure.cols == (FRONT, REAR)


def _line_scene(seed, col, *, cargo_from=None):
    """Cargo along the container with a gap either side of a full-height sheet at ``col``."""
    scene = Scene(seed=seed)
    start = IN_COL0 + 2 if cargo_from is None else cargo_from
    scene.add(IN_ROW0 + 10, start, IN_ROW1, col - 2, 40.0, ORGANIC)
    scene.add(IN_ROW0 + 10, col + 3, IN_ROW1, IN_COL1 - 2, 40.0, ORGANIC)
    scene.add(IN_ROW0, col, IN_ROW1, col + 1, 10.0, METAL)   # 2 mm sheet edge-on: ~0.3 of alpha
    return scene


def _false_wall_messages(inp):
    return [reason.message for reason in check_structure(inp).reasons if "false wall" in reason.message]


def test_false_wall_is_read_on_the_attenuation_pair_when_the_areal_map_smooths_it_away():
    # The areal density map is made of segments: it gives the gaps and the sheet the goods'
    # level. The raw alpha pair still shows the line over the gaps at both energies.
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    col = IN_COL0 + 20
    image, material_map = _line_scene(12, col).build()
    areal = material_map.areal_density_g_cm2
    areal[:, col - 2:col + 3] = areal[:, col - 3:col - 2]
    inp = build_check_input(image, material_map, manifest(), load_expectations())
    messages = _false_wall_messages(inp)
    assert len(messages) == 1 and "front end" in messages[0], messages
    # Without the pair, the areal map alone no longer shows it.
    assert _false_wall_messages(dataclasses.replace(inp, attenuation_low=None)) == []


def test_false_wall_must_show_at_both_energies():
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    col = IN_COL0 + 20
    image, material_map = _line_scene(13, col).build()
    assert _false_wall_messages(build_check_input(image, material_map, manifest(), load_expectations()))
    image.attenuation_low[:, col - 1:col + 2] = image.attenuation_low[:, col - 2:col - 1]
    assert _false_wall_messages(build_check_input(image, material_map, manifest(), load_expectations())) == []


def test_false_wall_is_looked_for_near_either_end_only():
    # Mid-container (3 m from both ends): a partition between goods, not a hidden compartment.
    middle = (FRONT + REAR) // 2
    assert _false_wall_messages(check_input(_line_scene(14, middle), manifest())) == []
    # 0.75 m from the doors: the container may pass the scanner either way round.
    near_doors = REAR - 30
    messages = _false_wall_messages(check_input(_line_scene(15, near_doors), manifest()))
    assert len(messages) == 1 and "door end" in messages[0], messages


def test_a_wall_among_the_goods_own_lines_is_not_raised():
    # Machines drawing lines over 60 % of the height every ~0.5 m: with a full-height line
    # near the front among them, the goods' pattern wins (the count does not hinge on
    # how many of the goods' lines reach the wall's fill).
    col = IN_COL0 + 20
    scene = _line_scene(16, col)
    for line_col in range(col + 20, IN_COL1 - 10, 20):
        scene.add(IN_ROW1 - 50, line_col, IN_ROW1, line_col + 1, 10.0, METAL)
    assert _false_wall_messages(check_input(scene, manifest())) == []
    # One such line besides the wall is not a pattern (``false_wall_max_lines`` = 2): the wall is raised.
    scene = _line_scene(17, col)
    scene.add(IN_ROW1 - 50, col + 60, IN_ROW1, col + 61, 10.0, METAL)
    assert len(_false_wall_messages(check_input(scene, manifest()))) == 1


# --- coarse detectors: rows of tens of millimetres -------------------------------------

COARSE_ROW_MM, COARSE_COL_MM = 67.2, 34.8


def _coarse_box(goods_top_row: int, *, gaps: bool, seed: int = 0):
    """A 20 ft box on 64 coarse rows × 192 columns (areal density, noise σ)."""
    rng = np.random.default_rng(seed)
    areal = np.zeros((64, 192))
    areal[0] = 0.7                       # the box's edge is just below this row's top
    areal[40] = 0.6
    areal[1:40, 8:184] += 2.67          # side walls
    areal[1, 8:184] += 5.0               # roof band, partial rows
    areal[2, 8:184] += 6.0
    areal[37, 8:184] += 30.0             # boards (the floor's top is in this row)
    areal[38:40, 8:184] += 4.0           # rails
    areal[1:40, 8:16] += 150.0           # front end
    areal[1:40, 176:184] += 150.0        # doors
    goods = np.zeros(192, bool)
    goods[16:170] = True
    if gaps:                             # stacks with a column of gap between them
        goods[40::30] = False
    areal[goods_top_row:37, goods] += 30.0
    sigma = np.full(areal.shape, 0.05)
    return areal + rng.normal(0.0, 0.05, areal.shape), sigma


def _coarse_structure(areal, sigma):
    from nii.inspection.checks._structure_model import estimate_structure

    table = load_expectations()
    settings = {name: table.threshold("structure", name)
                for name in ("floor_band_mm", "roof_band_mm", "end_band_mm", "occupancy_g_cm2", "occupancy_sigma",
                             "baseline_percentile", "wall_band_percentile")}
    container = load_container_types()["22G1"]
    return estimate_structure(areal, sigma, row_height_mm=COARSE_ROW_MM, column_pitch_mm=COARSE_COL_MM,
                              settings=settings, model=structure_model(container, settings),
                              height_mm=float(container.height_mm))


def test_nearly_empty_edge_row_does_not_shift_the_box():
    # Row 0 holds a trace of the roof (under half the side walls): the box starts in row 1,
    # and its bottom (height / row height = 39 rows further) is row 40, not row 39.
    structure = _coarse_structure(*_coarse_box(6, gaps=True))
    assert structure.rows == (1, 40)
    assert structure.floor_rows == (37, 40)


def test_walls_read_between_stacks_when_goods_reach_the_roof():
    # Goods up to one row under the roof: too few headroom rows for the walls to be read
    # along rows, but the gaps between stacks show them along columns.
    structure = _coarse_structure(*_coarse_box(4, gaps=True))
    assert structure.wall_g_cm2 == pytest.approx(2.67, abs=0.2)


def test_walls_read_on_headroom_rows_when_goods_fill_the_length():
    structure = _coarse_structure(*_coarse_box(5, gaps=False))
    assert structure.wall_g_cm2 == pytest.approx(2.67, abs=0.2)


def test_walls_of_goods_to_the_roof_are_not_raised():
    # A box loaded up to a few rows under the roof: the walls must not read as heavy.
    scene = Scene(seed=7).add(IN_ROW0 + 1, FRONT + 3, IN_ROW1 - 1, REAR - 3, 40.0, ORGANIC)
    for column in range(FRONT + 30, REAR - 10, 40):      # gaps between stacks
        scene.add(IN_ROW0 + 1, column, IN_ROW1 - 1, column + 2, -40.0, ORGANIC)
    inp = check_input(scene, manifest())
    assert inp.structure.wall_g_cm2 == pytest.approx(2.67, abs=0.2)
    assert check_structure(inp).reasons == []


def test_floor_band_is_read_on_the_attenuation():
    # The areal density map's segment of a stack runs down into the floor band's rows;
    # the attenuation there is the floor's: no thickened floor.
    image, material_map = cargo(seed=3).build()
    material_map.areal_density_g_cm2[BOTTOM - FLOOR_ROWS:BOTTOM, 100:180] = 120.0
    inp = build_check_input(image, material_map, manifest(), load_expectations())
    assert check_structure(inp).reasons == []
