"""CONCEALMENT_ANOMALY on hand-built scenes."""

from __future__ import annotations

import numpy as np
from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest

from nii.classes import INORGANIC, METAL, ORGANIC
from nii.inspection.checks import check_concealment
from nii.inspection.checks.concealment import local_background, stack_row_background, stack_segments


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
    scene.add(50, 200, 65, 230, 1.2, ORGANIC)                     # 3 % denser: below contrast
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


def test_stacks_of_different_heights_and_densities_are_clear():
    # Three pallet stacks with gaps between them: short and dense, tall and light, medium.
    scene = Scene(seed=5)
    scene.add(IN_ROW1 - 30, FRONT + 12, IN_ROW1 - 1, FRONT + 70, 70.0, ORGANIC)
    scene.add(IN_ROW0 + 5, FRONT + 72, IN_ROW1 - 1, FRONT + 130, 25.0, ORGANIC)
    scene.add(IN_ROW1 - 50, FRONT + 132, IN_ROW1 - 1, FRONT + 190, 45.0, ORGANIC)
    assert check_concealment(check_input(scene, manifest())).reasons == []


def test_layers_that_differ_from_stack_to_stack_are_clear():
    scene = Scene(seed=6)
    for col0, col1, densities in ((FRONT + 12, FRONT + 90, (30.0, 50.0, 35.0)),
                                  (FRONT + 92, FRONT + 170, (55.0, 28.0, 42.0))):
        for layer, areal in enumerate(densities):
            row0 = IN_ROW0 + 20 + 20 * layer
            scene.add(row0, col0, row0 + 20, col1, areal, ORGANIC)
    assert check_concealment(check_input(scene, manifest())).reasons == []


def test_hollow_box_lighter_than_its_layer_is_raised():
    # A void of 60 % of the goods' density inside a stack, cargo above and below it.
    scene = cargo(seed=8)
    scene.areal[55:70, 140:170] -= 16.0
    result = check_concealment(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "lighter" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= 56 and row1 >= 69 and col0 <= 141 and col1 >= 169


def test_stack_segments_split_at_gaps_and_at_pallet_edges():
    values = np.zeros((40, 120), np.float32)
    values[:, 2:38] = 20.0                          # stack 1
    values[:, 42:80] = 50.0                         # stack 2, no gap to stack 3
    values[::2, 80:118] = 50.0                      # stack 3: same mean per column...
    values[1::2, 80:118] = 30.0                     # ...different layering: a pallet edge
    values[::2, 42:80] = 30.0
    cargo = values > 0
    segments = stack_segments(values, cargo, 20, 0.6, 0.3, 0.3, 0.05)
    assert segments[0] == (2, 38)
    assert len(segments) == 3 and abs(segments[1][1] - 80) <= 2


def test_stack_row_background_models_each_row_of_each_stack():
    values = np.zeros((10, 60), np.float32)
    values[:5, :30], values[5:, :30] = 10.0, 20.0
    values[:, 30:] = 40.0
    values[2, 10:14] = 90.0                          # an object in stack 1, row 2
    background, spread = stack_row_background(values, values > 0, [(0, 30), (30, 60)], 5)
    assert np.allclose(background[2, :30], 10.0) and np.allclose(background[7, :30], 20.0)
    assert np.allclose(background[:, 30:], 40.0)
    assert np.all(spread[np.isfinite(spread)] < 1.0)


def test_stack_row_background_levels_each_row_against_the_stack_shape():
    # Reels standing on end: a dome along x whose flat top (clipped at the beam's floor)
    # is narrower in the top layer. The layer's level is its plateau, not its raw median.
    dome = np.concatenate([np.linspace(0.4, 1.0, 20), np.ones(20), np.linspace(1.0, 0.4, 20)]).astype(np.float32)
    values = np.tile(100.0 * dome, (40, 1))
    values[30:] = 50.0 * dome
    values[30:, 18:24] = values[30:, 36:42] = 40.0            # the narrower plateau's shoulders
    background, _ = stack_row_background(values, values > 0, [(0, 60)], 5)
    assert np.allclose(background[35, 26:34], 50.0, rtol=0.03)
    assert np.allclose(background[10], values[10], rtol=0.03)


def test_side_of_a_tall_object_is_not_a_pallet_edge():
    # One object filling the lower half of a stack steps in one band of rows: the stack
    # stays whole (a pallet edge steps in several layers or through the whole height).
    values = np.full((40, 120), 30.0, np.float32)
    values[20:, 40:80] = 15.0
    segments = stack_segments(values, values > 0, 20, 0.6, 0.3, 0.3, 0.05)
    assert segments == [(0, 120)]


def test_hollow_box_standing_on_the_floor_is_raised():
    # A void in the bottom layer of a stack, goods above it and the floor below it.
    scene = cargo(seed=9)
    scene.areal[IN_ROW1 - 16:IN_ROW1 - 1, 140:170] -= 16.0
    result = check_concealment(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "lighter" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= IN_ROW1 - 15 and col0 <= 141 and col1 >= 169


def test_metal_box_raising_the_layers_zeff_is_raised():
    # A steel box's faces across the beam: same areal density as its layer (its interior
    # displaces what its steel adds), effective Z 1.5 above the goods'.
    scene = cargo(seed=10)
    scene.zeff[50:62, 140:160] += 1.5
    result = check_concealment(_with_zeff_sigma(scene, 0.08))  # region means of a 512-channel scan
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "effective Z" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= 51 and row1 >= 61 and col0 <= 141 and col1 >= 159


def test_zeff_rise_within_the_maps_own_uncertainty_is_ignored():
    # A coarse scan reads Z to ~2 units: a rise of 1.5 is not evidence there.
    scene = cargo(seed=10)
    scene.zeff[50:62, 140:160] += 1.5
    assert check_concealment(_with_zeff_sigma(scene, 2.4)).reasons == []


def _with_zeff_sigma(scene, sigma):
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    image, material_map = scene.build()
    material_map.zeff_sigma = np.where(np.isnan(material_map.zeff), np.nan, sigma).astype(np.float32)
    return build_check_input(image, material_map, manifest(), load_expectations())


def test_small_zeff_shifts_and_thin_zeff_lines_are_ignored():
    scene = cargo(seed=11)
    scene.zeff[50:62, 140:160] += 0.4                # below zeff_rise: packaging, moisture
    scene.zeff[40:70, 200:202] += 3.0                # a slit between cartons: too thin
    assert check_concealment(check_input(scene, manifest())).reasons == []


def test_pallets_differing_slightly_in_every_layer_are_split():
    # Two pallets abut; every layer of one is 2-4 % off the other's (below edge_step):
    # judged against the pixel noise, every row steps at one column.
    values = np.zeros((40, 120), np.float32)
    rng = np.random.default_rng(12)
    for layer in range(4):
        level = 40.0 + 3.0 * layer
        values[10 * layer:10 * layer + 10, :60] = level
        values[10 * layer:10 * layer + 10, 60:] = level * (1.02 + 0.02 * (layer % 2))
    values += rng.normal(0.0, 0.05, values.shape).astype(np.float32)
    cargo_px = values > 0
    assert stack_segments(values, cargo_px, 20, 0.6, 0.3, 0.3, 0.05) == [(0, 120)]
    segments = stack_segments(values, cargo_px, 20, 0.6, 0.3, 0.3, 0.05, noise=0.05, through_fraction=0.9)
    assert len(segments) == 2 and abs(segments[0][1] - 60) <= 2


def test_side_of_an_object_crossing_layers_is_not_a_pallet_edge():
    # One object in the upper half; the layers inside it make its side step in bands a
    # few rows apart. Closer than band_gap_px they are one band: the stack stays whole.
    values = np.full((60, 120), 30.0, np.float32)
    values[5:35, 40:80] = 20.0
    values[13:17, 40:80] = 29.5                      # layer boundaries inside the object
    values[25:29, 40:80] = 29.5
    cargo_px = values > 0
    assert len(stack_segments(values, cargo_px, 20, 0.6, 0.3, 0.3, 0.05)) > 1      # bands 4 rows apart
    assert stack_segments(values, cargo_px, 20, 0.6, 0.3, 0.3, 0.05, band_gap_px=10) == [(0, 120)]


def _cartons_input(scene, gaps, lighter_cols=None):
    """Checks' input with gaps between cartons carved in the attenuation image only.

    The material map reads each homogeneous region from its mean attenuations, which
    fills in a gap a centimetre or two wide; the attenuation image keeps it.
    """
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    image, material_map = scene.build()
    for col in gaps:
        image.attenuation_high[IN_ROW0 + 20:IN_ROW1 - 1, col:col + 1] = 2.67 * 0.03   # the walls only
    return build_check_input(image, material_map, manifest(), load_expectations())


def test_whole_carton_lighter_than_its_neighbours_is_clear():
    # Cartons of 75 cm between gaps; one of the bottom layer 12 % lighter (carton-to-carton
    # variation): bounded by the gaps on both sides, it is no void. Without the gaps
    # (the same lighter patch inside the goods) or far lighter, it is one.
    carton_gaps = range(FRONT + 10, REAR - 10, 30)
    left = [col for col in carton_gaps if col > 120][0]
    rows = slice(IN_ROW1 - 16, IN_ROW1 - 1)

    scene = cargo(seed=13)
    scene.areal[rows, left + 1:left + 30] -= 0.12 * 40.0
    assert check_concealment(_cartons_input(scene, carton_gaps)).reasons == []

    scene = cargo(seed=13)
    scene.areal[rows, left + 1:left + 30] -= 0.12 * 40.0
    result = check_concealment(_cartons_input(scene, []))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "lighter" in result.reasons[0].message

    # Bounded by a gap on one side only: a hollow box against a carton's side.
    scene = cargo(seed=13)
    scene.areal[rows, left + 1:left + 20] -= 0.12 * 40.0
    result = check_concealment(_cartons_input(scene, carton_gaps))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]

    # A whole carton's goods replaced by a hollow box: beyond carton-to-carton variation.
    scene = cargo(seed=13)
    scene.areal[rows, left + 1:left + 30] -= 0.4 * 40.0
    result = check_concealment(_cartons_input(scene, carton_gaps))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]


def test_block_filling_most_of_a_stacks_height_is_raised():
    # Denser goods (bricks) filling the upper 60 % of a stack over 75 cm: the median over
    # the stack's rows would take them for the stack's shape along x; its lower band
    # shows the goods' flat shape.
    scene = cargo(seed=12)
    scene.areal[IN_ROW0 + 20:IN_ROW0 + 54, 140:170] += 12.0
    result = check_concealment(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    row0, col0, row1, col1 = result.regions[0].bbox
    assert "denser" in result.reasons[0].message               # the block, not the goods below it as a void
    assert row0 <= IN_ROW0 + 21 and row1 >= IN_ROW0 + 53 and col0 <= 141 and col1 >= 169


def test_stack_shape_from_bands_keeps_a_dome_and_drops_a_block():
    dome = np.concatenate([np.linspace(0.4, 1.0, 20), np.ones(20), np.linspace(1.0, 0.4, 20)]).astype(np.float32)
    values = np.tile(100.0 * dome, (40, 1))
    background, _ = stack_row_background(values, values > 0, [(0, 60)], 5, 2, 10, 0.05)
    assert np.allclose(background, values, rtol=0.01)                 # a dome in every layer
    values[:24, 22:38] = 130.0                                        # a block over 60 % of the rows
    background, _ = stack_row_background(values, values > 0, [(0, 60)], 5, 2, 10, 0.05)
    assert np.allclose(background[:, 22:38], 100.0, rtol=0.01)
    one_band, _ = stack_row_background(values, values > 0, [(0, 60)], 5)
    assert np.allclose(one_band[:24, 22:38], 130.0, rtol=0.01)       # one band: the block is the shape


def test_plateau_edge_wandering_between_layers_keeps_the_median_shape():
    # The edge of a plateau a few columns further in the upper layers than in the lower:
    # the bands disagree over fewer columns than an object's width.
    values = np.full((40, 60), 50.0, np.float32)
    values[:, 36:] = 40.0
    values[:20, 36:39] = 50.0
    background, _ = stack_row_background(values, values > 0, [(0, 60)], 5, 2, 10, 0.05)
    median, _ = stack_row_background(values, values > 0, [(0, 60)], 5)
    assert np.allclose(background, median)
