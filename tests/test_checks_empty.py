"""DECLARED_EMPTY_NOT_EMPTY on hand-built scenes."""

from __future__ import annotations

from _inspection_synthetic import IN_COL0, IN_ROW0, IN_ROW1, Scene, check_input, manifest

from nii.classes import METAL, ORGANIC
from nii.inspection.checks import check_declared_empty


def test_empty_container_with_its_structure_is_clear():
    result = check_declared_empty(check_input(Scene(seed=1), manifest(empty=True)))
    assert result.reasons == []


def test_dunnage_and_thin_residue_are_ignored():
    scene = Scene(seed=2)
    scene.add(IN_ROW1 - 1, IN_COL0, IN_ROW1, IN_COL0 + 150, 20.0, ORGANIC)   # a board on the floor
    scene.add(IN_ROW0 + 10, 120, IN_ROW1, 121, 15.0, METAL)                  # a lashing bar
    scene.add(IN_ROW1 - 3, 200, IN_ROW1, 203, 1.0, ORGANIC)                   # dirt
    assert check_declared_empty(check_input(scene, manifest(empty=True))).reasons == []


def test_cargo_in_a_declared_empty_container_is_raised_with_its_box():
    scene = Scene(seed=3).add(50, 100, 80, 160, 30.0, ORGANIC)
    inp = check_input(scene, manifest(empty=True))
    result = check_declared_empty(inp)
    assert [reason.code for reason in result.reasons] == ["DECLARED_EMPTY_NOT_EMPTY"]
    assert "kg" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert abs(row0 - 50) <= 2 and abs(row1 - 80) <= 2 and abs(col0 - 100) <= 2 and abs(col1 - 160) <= 2
    z0, x0, z1, x1 = result.regions[0].bbox_mm
    assert z0 == row0 * inp.row_height_mm and x0 == inp.position_mm[col0]
    assert result.regions[0].material == "organic"


def test_not_run_when_goods_are_declared():
    scene = Scene(seed=4).add(50, 100, 80, 160, 30.0, ORGANIC)
    assert check_declared_empty(check_input(scene, manifest())).reasons == []


def test_impenetrable_goods_in_a_declared_empty_container_are_raised():
    # Dense steel the beam cannot cross: its noise is meaningless, its mass a lower bound.
    scene = Scene(seed=5).add(40, 100, 80, 140, 3000.0, METAL)
    inp = check_input(scene, manifest(empty=True))
    assert inp.unreadable[50, 110]
    result = check_declared_empty(inp)
    assert [reason.code for reason in result.reasons] == ["DECLARED_EMPTY_NOT_EMPTY"]
    assert "at least" in result.reasons[0].message
