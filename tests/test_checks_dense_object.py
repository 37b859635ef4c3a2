"""CONCEALMENT_ANOMALY from compact dense objects, on hand-built scenes."""

from __future__ import annotations

from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest

from nii.classes import HIGH_Z, METAL, ORGANIC
from nii.inspection.checks import check_dense_objects

BLOCK = (60, 150, 64, 155)   # 12 cm × 12.5 cm at the scan plane


def cargo(seed=0, areal=40.0):
    return Scene(seed=seed).add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, REAR - 3, areal, ORGANIC)


def test_lead_block_in_textiles_is_raised():
    # 100 g/cm² of lead over 12 cm: α excess 3, iron-equivalent 80 g/cm², ≥ 6 g/cm³
    scene = cargo().add(*BLOCK, 100.0, HIGH_Z)
    result = check_dense_objects(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "compact dense object" in result.reasons[0].message
    assert "organic cargo" in result.reasons[0].message
    assert result.regions[0].bbox == BLOCK
    assert result.regions[0].material == "metal"


def test_block_that_stops_the_beam_is_raised_as_a_lower_bound():
    scene = cargo(seed=1).add(*BLOCK, 2000.0, HIGH_Z)
    result = check_dense_objects(check_input(scene, manifest()))
    assert result.reasons and "at least" in result.reasons[0].message
    assert "cannot read its core" in result.reasons[0].message
    assert result.regions[0].material == "impenetrable"


def test_organic_parcel_is_not_dense_enough():
    # 30 g/cm² more organic matter over 12 cm: under 2 g/cm³ however deep
    scene = cargo(seed=2).add(*BLOCK, 30.0, ORGANIC)
    result = check_dense_objects(check_input(scene, manifest()))
    assert result.reasons == []
    assert 0.0 < result.near_miss < 1.0


def test_mixed_goods_have_dense_parts():
    scene = cargo(seed=3).add(*BLOCK, 100.0, METAL)
    machinery = manifest(items=[{"hs_code": "841370", "gross_mass_kg": 3000}])
    assert check_dense_objects(check_input(scene, machinery)).reasons == []


def test_mixed_goods_part_that_stops_the_beam_is_raised_at_medium_severity():
    scene = cargo(seed=9).add(*BLOCK, 2000.0, METAL)
    machinery = manifest(items=[{"hs_code": "841370", "gross_mass_kg": 3000}])
    result = check_dense_objects(check_input(scene, machinery))
    assert [reason.severity for reason in result.reasons] == ["medium"]
    assert "cannot read" in result.reasons[0].message


def test_sheet_edge_on_is_not_compact():
    # a full-height line one column wide (a steel sheet seen edge-on)
    scene = cargo(seed=4).add(IN_ROW0 + 20, 150, IN_ROW1 - 1, 151, 100.0, METAL)
    assert check_dense_objects(check_input(scene, manifest())).reasons == []


def test_object_inside_cargo_the_beam_cannot_read_is_left_to_unreadable():
    # the cargo around the block stops the beam too: no readable ring
    scene = cargo(seed=5).add(50, 130, 75, 180, 1600.0, METAL).add(*BLOCK, 2000.0, HIGH_Z)
    assert check_dense_objects(check_input(scene, manifest())).reasons == []


def test_declared_empty_container_is_left_to_the_empty_check():
    scene = Scene(seed=6).add(*BLOCK, 100.0, HIGH_Z)
    assert check_dense_objects(check_input(scene, manifest(empty=True))).reasons == []


def test_piece_of_an_edge_on_line_is_not_compact():
    import numpy as np

    from nii.inspection.checks._compact import _continues_as_line

    excess = np.zeros((40, 40), np.float32)
    excess[:, 20] = 2.0                 # a sheet seen edge-on, full height
    excess[25:29, 16:26] = 3.0          # where it crosses something dense
    assert _continues_as_line(excess, (25, 16, 29, 26), 0.6)
    block = np.zeros((40, 40), np.float32)
    block[25:29, 16:26] = 3.0           # a block with cargo above and below
    assert not _continues_as_line(block, (25, 16, 29, 26), 0.6)
