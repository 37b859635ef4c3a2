"""UNREADABLE_REGION on hand-built scenes."""

from __future__ import annotations

import numpy as np
from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest

from nii.classes import IMPENETRABLE, METAL, ORGANIC
from nii.inspection.checks import check_unreadable


def cargo(seed=0):
    return Scene(seed=seed).add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, REAR - 3, 40.0, ORGANIC)


def test_large_impenetrable_block_is_raised():
    inp = check_input(cargo().add(50, 100, 70, 120, 3000.0, METAL), manifest())
    result = check_unreadable(inp)
    assert [reason.code for reason in result.reasons] == ["UNREADABLE_REGION"]
    assert result.regions[0].bbox == (50, 100, 70, 120)
    assert result.regions[0].material == "impenetrable"
    assert "cm²" in result.reasons[0].message


def test_small_impenetrable_spot_is_below_the_threshold():
    # 2 × 2 pixels = 30 cm² < 150 cm².
    inp = check_input(cargo(seed=1).add(50, 100, 52, 102, 3000.0, METAL), manifest())
    result = check_unreadable(inp)
    assert result.reasons == []
    assert 0 < result.near_miss < 1


def test_container_ends_are_not_cargo():
    scene = Scene(seed=2)
    scene.add(IN_ROW0, FRONT, IN_ROW1, FRONT + 5, 3000.0, METAL)   # impenetrable corner posts
    assert check_unreadable(check_input(scene, manifest(empty=True))).reasons == []


def test_speckled_starved_region_is_whole_and_dead_channels_are_not_regions():
    from _inspection_synthetic import load_expectations

    from nii.inspection.checks import build_check_input

    image, material_map = cargo(seed=3).build()
    rng = np.random.default_rng(0)
    image.starved[40:70, 100:130] = rng.random((30, 30)) < 0.3      # noise-floor speckle...
    material_map.classes[40:70, 100:130] = IMPENETRABLE              # ...that the discrimination calls impenetrable
    image.starved[20, :] = True                                       # a dead channel...
    image.repaired[20, :] = True                                      # ...repaired from its neighbours
    inp = build_check_input(image, material_map, manifest(), load_expectations())
    result = check_unreadable(inp)
    assert [reason.code for reason in result.reasons] == ["UNREADABLE_REGION"]
    row0, col0, row1, col1 = result.regions[0].bbox
    assert 38 <= row0 <= 42 and 68 <= row1 <= 72 and 98 <= col0 <= 102 and 128 <= col1 <= 132
    assert len(result.regions) == 1


def test_starved_at_one_energy_only_is_not_a_region():
    # Low-energy starvation along rows of bottles: starved pixels that the discrimination
    # does not call impenetrable (the high energy reads them) hide nothing.
    from _inspection_synthetic import load_expectations

    from nii.inspection.checks import build_check_input

    image, material_map = cargo(seed=4).build()
    image.starved[40:70, 100:160] = True
    inp = build_check_input(image, material_map, manifest(), load_expectations())
    assert check_unreadable(inp).reasons == []


def test_the_floor_band_is_structure_not_a_hiding_place():
    from _inspection_synthetic import BOTTOM, FLOOR_ROWS

    scene = cargo(seed=5).add(BOTTOM - FLOOR_ROWS, FRONT, BOTTOM, REAR, 3000.0, METAL)   # starved along the whole length
    assert check_unreadable(check_input(scene, manifest())).reasons == []


def test_starved_region_read_by_its_mean_is_still_unreadable():
    # Read to the photon limit, a starved region's mean can tell its material (class 3,
    # not 5), but pixel by pixel the beam sees nothing there: it can hide an object.
    import dataclasses

    inp = check_input(cargo(seed=4), manifest())
    assert check_unreadable(inp).reasons == []
    starved = np.zeros(inp.classes.shape, bool)
    starved[50:70, 100:120] = True
    inp = dataclasses.replace(inp, unreadable=inp.unreadable | starved, starved_majority=starved)
    assert not (inp.classes[starved] == IMPENETRABLE).any()
    result = check_unreadable(inp)
    assert [reason.code for reason in result.reasons] == ["UNREADABLE_REGION"]
    assert result.regions[0].bbox == (50, 100, 70, 120)
