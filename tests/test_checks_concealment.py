"""CONCEALMENT_ANOMALY on hand-built scenes."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, check_input, manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from nii.classes import INORGANIC, METAL, ORGANIC
from nii.inspection.checks import check_concealment
from nii.inspection.checks.concealment import (
    local_background,
    log_tail,
    significance_threshold,
    stack_row_background,
    stack_segments,
)


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


def test_faint_departure_below_the_noise_of_its_region_is_ignored():
    scene = cargo(seed=3)
    scene.add(50, 200, 65, 230, 0.02, ORGANIC)                    # 0.05 % denser: far below a region's noise
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


def _with_ratio(scene, box=None, rise=0.0, seed=0):
    """Checks' input whose low-energy attenuation has its own noise, raised by ``rise`` (relative) over ``box``."""
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    image, material_map = scene.build()
    rng = np.random.default_rng(seed)
    low = image.attenuation_high * 1.1 + rng.normal(0.0, float(image.sigma_low[0, 0]), image.attenuation_high.shape)
    if box is not None:
        r0, c0, r1, c1 = box
        low[r0:r1, c0:c1] *= 1.0 + rise
    image.attenuation_low = low.astype(np.float32)
    return build_check_input(image, material_map, manifest(), load_expectations())


def test_metal_box_changing_the_layers_material_is_raised():
    # A steel box's faces across the beam: same areal density as its layer (its interior
    # displaces what its steel adds), but another ratio alpha_L / alpha_H, and a higher Z on the map.
    scene = cargo(seed=10)
    scene.zeff[50:62, 140:160] += 1.5
    result = check_concealment(_with_ratio(scene, (50, 140, 62, 160), 0.03))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "effective Z is 1.5 above" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= 51 and row1 >= 61 and col0 <= 141 and col1 >= 159
    # The same goods without the box: the ratio's own noise raises nothing.
    assert check_concealment(_with_ratio(cargo(seed=10))).reasons == []


def test_without_the_low_energy_the_maps_z_is_the_material_channel():
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    scene = cargo(seed=10)
    scene.zeff[50:62, 140:160] += 1.5
    image, material_map = scene.build()
    image.attenuation_low = image.sigma_low = None
    material_map.zeff_sigma = np.where(np.isnan(material_map.zeff), np.nan, 0.08).astype(np.float32)
    result = check_concealment(build_check_input(image, material_map, manifest(), load_expectations()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert re.search(r"effective Z is 1\.[3-5] above", result.reasons[0].message)


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


def _cartons(seed, cv, rows=15, cols=30):
    """Uniform goods in cartons (``rows`` × ``cols`` pixels) whose densities vary by ``cv`` (normal)."""
    scene = Scene(seed=seed)
    rng = np.random.default_rng(seed + 100)
    for row0 in range(IN_ROW0 + 20, IN_ROW1 - 1, rows):
        for col0 in range(FRONT + 3, REAR - 3, cols):
            areal = 40.0 * max(1.0 + cv * rng.standard_normal(), 0.3)
            scene.add(row0, col0, min(row0 + rows, IN_ROW1 - 1), min(col0 + cols, REAR - 3), areal, ORGANIC)
    return scene


def test_cartons_varying_by_20_percent_raise_nothing():
    # Carton-to-carton variation is the goods' texture: measured in the scan, it is the null.
    for seed in range(4):
        result = check_concealment(check_input(_cartons(seed, 0.2), manifest()))
        assert result.reasons == [], result.reasons[0].message


def test_steel_block_in_cartons_varying_by_20_percent_is_raised():
    scene = _cartons(7, 0.2).add(60, 150, 70, 170, 40.0, METAL)
    result = check_concealment(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    # The block straddles two cartons (two stacks of the model): each part is found.
    boxes = [region.bbox for region in result.regions]
    assert all(r0 <= 61 and r1 >= 69 and c0 >= 148 and c1 <= 172 for r0, c0, r1, c1 in boxes)
    assert min(c0 for _, c0, _, _ in boxes) <= 152 and max(c1 for _, _, _, c1 in boxes) >= 168


def test_drug_brick_block_in_uniform_goods_is_raised():
    # 20 x 22 cm of cocaine bricks (1.2 g/cm3 x 0.9 fill) in place of fruit (0.45 g/cm3)
    # along 30 cm of the beam: about +20 g/cm2 over 7 x 9 pixels.
    scene = cargo(seed=21).add(55, 150, 62, 159, 20.0, ORGANIC)
    result = check_concealment(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    assert "denser" in result.reasons[0].message
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 <= 56 and row1 >= 61 and col0 <= 151 and col1 >= 158


def test_steel_box_in_uniform_goods_is_raised():
    # A hollow steel box (30 x 40 cm, 5 mm walls): walls along the beam seen edge-on as
    # dense lines, its interior lighter than the goods it displaces.
    scene = cargo(seed=22)
    r0, c0, r1, c1 = 50, 140, 60, 156
    scene.areal[r0 + 1:r1 - 1, c0 + 1:c1 - 1] -= 12.0                 # the goods it displaces
    scene.add(r0, c0, r0 + 1, c1, 20.0, METAL).add(r1 - 1, c0, r1, c1, 20.0, METAL)
    scene.add(r0, c0, r1, c0 + 1, 20.0, METAL).add(r0, c1 - 1, r1, c1, 20.0, METAL)
    result = check_concealment(check_input(scene, manifest()))
    assert [reason.code for reason in result.reasons] == ["CONCEALMENT_ANOMALY"]
    row0, col0, row1, col1 = result.regions[0].bbox
    assert row0 < r1 and row1 > r0 and col0 < c1 and col1 > c0


@settings(max_examples=60, deadline=None)
@given(n_tests=st.integers(1, 10**7), factor=st.integers(2, 1000), epsilon=st.floats(1e-4, 1.0),
       dof=st.sampled_from([0.0, 5.0, 30.0]))
def test_nfa_threshold_rises_with_the_number_of_regions_tested(n_tests, factor, epsilon, dof):
    low = significance_threshold(n_tests, epsilon, dof)
    high = significance_threshold(n_tests * factor, epsilon, dof)
    assert high > low
    # At its threshold a region's number of false alarms is epsilon.
    assert math.isclose(n_tests * math.exp(float(log_tail(np.array([low]), dof)[0])), epsilon, rel_tol=1e-6)


def test_same_contrast_among_more_regions_is_no_longer_significant():
    # A faint block raised among the regions of one set of sizes is not raised when the
    # same regions are tested among many more (the sizes repeated): its NFA grows with them.
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    # (The mass a finding must add is set to 0 here: the test is of the NFA alone.)
    scene = cargo(seed=23).add(55, 150, 62, 159, 0.7, ORGANIC)   # NFA ~1e-3 among ~3e4 regions: x30 is above 0.01
    image, material_map = scene.build()
    base = load_expectations()
    thresholds = {**base.thresholds}
    thresholds["concealment"] = {**thresholds["concealment"], "min_mass_kg": 0.0}
    table = dataclasses.replace(base, thresholds=thresholds)
    assert check_concealment(build_check_input(image, material_map, manifest(), table)).reasons
    sizes = thresholds["concealment"]["region_sizes_mm"]
    thresholds = {**thresholds, "concealment": {**thresholds["concealment"], "region_sizes_mm": sizes * 30}}
    many = dataclasses.replace(table, thresholds=thresholds)
    assert check_concealment(build_check_input(image, material_map, manifest(), many)).reasons == []


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
