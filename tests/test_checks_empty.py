"""DECLARED_EMPTY_NOT_EMPTY on hand-built scenes."""

from __future__ import annotations

import pytest
from _inspection_synthetic import IN_COL0, IN_COL1, IN_ROW0, IN_ROW1, Scene, check_input, manifest

import nii
from nii.classes import METAL, ORGANIC
from nii.inspection.checks import check_declared_empty
from nii.simulate.containers import container_makes


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


def test_corrugated_walls_at_any_pitch_are_structure():
    # Flanks of a deep corrugation: full-height bands 4 columns (100 mm) wide, +2 g/cm²,
    # at a pitch no catalogue names. A per-row baseline leaves them as "metal bands".
    scene = Scene(seed=6)
    pitch = 9.3
    for k in range(int((IN_COL1 - IN_COL0) / pitch)):
        c = IN_COL0 + int(round(k * pitch))
        scene.add(IN_ROW0, c, IN_ROW1, min(c + 4, IN_COL1), 2.0, METAL)
    assert check_declared_empty(check_input(scene, manifest(empty=True))).reasons == []


def test_goods_along_the_whole_length_are_raised():
    # Loaded end to end and two thirds of the height: every row's median is goods.
    scene = Scene(seed=8).add(IN_ROW0 + 25, IN_COL0, IN_ROW1, IN_COL1, 25.0, ORGANIC)
    result = check_declared_empty(check_input(scene, manifest(empty=True)))
    assert [reason.code for reason in result.reasons] == ["DECLARED_EMPTY_NOT_EMPTY"]


def test_raised_floor_rows_above_the_band_edge_are_raised():
    # A plate 4 rows (120 mm) above the floor band along the whole length: taller than the
    # band's edge allowance, so not the band's members seen in part.
    scene = Scene(seed=9).add(IN_ROW1 - 4, IN_COL0, IN_ROW1, IN_COL1, 12.0, METAL)
    result = check_declared_empty(check_input(scene, manifest(empty=True)))
    assert [reason.code for reason in result.reasons] == ["DECLARED_EMPTY_NOT_EMPTY"]


@pytest.mark.parametrize("make", container_makes())
def test_simulated_empty_containers_of_every_make_are_clear(make, tmp_path):
    # 64 channels (67 mm rows): the roof band's edge row carries the top rails in part.
    from nii.simulate import ScannerConfig, build_scenario, simulate_scan

    scenario = build_scenario("20ft", None, None, seed=5, container_make=make)
    out = tmp_path / f"{make}.nxr"
    simulate_scan(scenario, ScannerConfig().scaled(64, 480), 5, out=out)
    verdict = nii.inspect(str(out), scenario.manifest)
    assert "DECLARED_EMPTY_NOT_EMPTY" not in [reason.code for reason in verdict.reasons]
