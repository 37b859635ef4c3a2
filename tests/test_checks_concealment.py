"""CONCEALMENT_ANOMALY on hand-built scenes."""

from __future__ import annotations

import numpy as np
from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest

from nii.classes import INORGANIC, METAL, ORGANIC
from nii.inspection.checks import check_concealment
from nii.inspection.checks.concealment import local_background


def cargo(seed=0):
    return Scene(seed=seed).add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, REAR - 3, 40.0, ORGANIC)


def test_uniform_cargo_is_clear():
    assert check_concealment(check_input(cargo(seed=1), manifest())).reasons == []


def test_dense_packet_inside_uniform_cargo_is_raised():
    inp = check_input(cargo(seed=2).add(60, 150, 70, 170, 40.0, METAL), manifest())
    result = check_concealment(inp)
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= 61 and row1 >= 69 and col0 <= 151 and col1 >= 169
    assert row1 - row0 < 20 and col1 - col0 < 40


def test_small_or_faint_departures_are_ignored():
    scene = cargo(seed=3).add(60, 150, 62, 152, 40.0, METAL)      # 30 cm2: below min area
    scene.add(50, 200, 65, 230, 4.0, ORGANIC)                     # 10 % denser: below contrast
    assert check_concealment(check_input(scene, manifest())).reasons == []


def test_stepped_cargo_of_two_densities_is_clear():
    scene = Scene(seed=4)
    scene.add(IN_ROW0 + 20, FRONT + 3, IN_ROW1 - 1, 160, 30.0, ORGANIC)
    scene.add(IN_ROW0 + 20, 160, IN_ROW1 - 1, REAR - 3, 30.0, INORGANIC)
    assert check_concealment(check_input(scene, manifest())).reasons == []


def test_local_background_ignores_a_small_outlier():
    values = np.full((40, 40), 10.0, np.float32)
    values[18:22, 18:22] = 100.0
    background, spread = local_background(values, np.ones_like(values, bool), (8, 8), 3, 0.5)
    assert np.allclose(background, 10.0)
    assert np.all(spread < 1.0)
