"""STRUCTURE_ANOMALY and the container structure estimate."""

from __future__ import annotations

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
from nii.inspection import load_container_types
from nii.inspection.checks import check_structure, structure_model
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


def test_false_floor_layer_is_raised_and_pallets_are_not():
    # A cavity of goods under a plate, lying on the boards over 3 m.
    scene = cargo(seed=5).add(IN_ROW1 - 3, 80, IN_ROW1, 200, 140.0, ORGANIC)
    result = check_structure(check_input(scene, manifest()))
    assert any("false floor" in reason.message for reason in result.reasons)
    # Pallets: heavy decks a row up, broken every 1.2 m.
    pallets = cargo(seed=6)
    for start in range(IN_COL0, IN_COL1 - 48, 50):
        pallets.add(IN_ROW1 - 2, start, IN_ROW1 - 1, start + 46, 80.0, ORGANIC)
    assert check_structure(check_input(pallets, manifest())).reasons == []
