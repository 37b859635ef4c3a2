"""UNDECLARED_HIGH_Z on hand-built scenes."""

from __future__ import annotations

from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest

from nii.classes import HIGH_Z, ORGANIC
from nii.inspection.checks import check_high_z


def cargo(seed=0):
    return Scene(seed=seed).add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, REAR - 3, 40.0, ORGANIC)


def test_lead_block_in_organic_cargo_is_raised():
    inp = check_input(cargo().add(60, 150, 64, 154, 60.0, HIGH_Z), manifest())
    result = check_high_z(inp)
    assert [reason.code for reason in result.reasons] == ["UNDECLARED_HIGH_Z"]
    assert result.reasons[0].severity == "high"
    assert "organic" in result.reasons[0].message
    assert result.regions[0].bbox == (60, 150, 64, 154)
    assert result.regions[0].material == "high_z"


def test_isolated_high_z_pixels_are_ignored():
    scene = cargo(seed=1)
    for row, col in ((50, 100), (60, 180), (70, 220)):
        scene.add(row, col, row + 1, col + 1, 60.0, HIGH_Z)
    assert check_high_z(check_input(scene, manifest())).reasons == []


def test_declared_lead_goods_are_not_raised():
    scene = cargo(seed=2).add(60, 150, 64, 154, 60.0, HIGH_Z)
    result = check_high_z(check_input(scene, manifest(items=[{"hs_code": "780110", "gross_mass_kg": 4000}])))
    assert result.reasons == []
    assert result.warnings


def test_high_z_outside_cargo_is_raised_too():
    scene = Scene(seed=3).add(60, 150, 64, 154, 60.0, HIGH_Z)
    assert check_high_z(check_input(scene, manifest(empty=True))).reasons
