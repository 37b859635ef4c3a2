"""MASS_MISMATCH and the cargo mass estimate."""

from __future__ import annotations

import pytest
from _inspection_synthetic import (
    FRONT,
    IN_ROW0,
    IN_ROW1,
    REAR,
    Scene,
    cargo_kg,
    check_input,
    manifest,
)

from nii.classes import METAL, ORGANIC
from nii.inspection import load_expectations
from nii.inspection.checks import check_mass
from nii.inspection.checks._mass_estimate import organic_mass_factor

ROWS = (IN_ROW0 + 20, IN_ROW1 - 1)
COLS = (FRONT + 3, REAR - 3)   # the internal length of a 20 ft box (5.9 m)


def loaded(areal=40.0, seed=0):
    return Scene(seed=seed).add(ROWS[0], COLS[0], ROWS[1], COLS[1], areal, ORGANIC)


def cotton_factor():
    """The stand-in map reads organic goods against carbon; cotton attenuates more per gram."""
    items = manifest(items=[{"hs_code": "610910", "gross_mass_kg": 1000.0}]).items
    return organic_mass_factor(items, load_expectations().thresholds["mass"])[0]


def true_mass(areal=40.0):
    """Mass (kg) of the cotton goods drawn as ``areal`` g/cm² of carbon-equivalent."""
    return cargo_kg(areal, ROWS[1] - ROWS[0], COLS[1] - COLS[0]) * cotton_factor()


def test_hydrogen_in_organic_goods_is_accounted_for():
    # Cotton (cellulose, 6 % H) has ~6 % more electrons per gram than carbon.
    assert 0.92 < cotton_factor() < 0.96
    items = manifest(items=[{"hs_code": "220421", "gross_mass_kg": 1000.0}]).items   # wine: water
    water = organic_mass_factor(items, load_expectations().thresholds["mass"])[0]
    assert water < cotton_factor()


def test_mass_estimate_is_within_two_percent():
    result = check_mass(check_input(loaded(), manifest(items=[{"hs_code": "610910", "gross_mass_kg": true_mass()}])))
    assert result.estimates["cargo_mass_kg"] == pytest.approx(true_mass(), rel=0.02)
    assert result.reasons == []
    assert 0 < result.estimates["cargo_mass_sigma_kg"] < 0.2 * true_mass()


def test_empty_container_weighs_nothing():
    result = check_mass(check_input(Scene(seed=5), manifest(empty=True)))
    assert abs(result.estimates["cargo_mass_kg"]) < 50


@pytest.mark.parametrize(("factor", "raised"), [(1.04, False), (0.96, False), (1.12, True), (0.88, True), (2.0, True), (0.5, True)])
def test_declared_mass_far_from_the_estimate_is_raised(factor, raised):
    declared = true_mass() * factor
    result = check_mass(check_input(loaded(seed=6), manifest(items=[{"hs_code": "610910", "gross_mass_kg": declared}])))
    assert bool(result.reasons) is raised
    if raised:
        assert result.reasons[0].code == "MASS_MISMATCH"
        assert f"{declared:,.0f}" in result.reasons[0].message
        assert len(result.regions) == 1


def test_shortfall_behind_impenetrable_cargo_is_not_raised():
    scene = loaded(seed=7).add(40, 100, 70, 200, 3000.0, METAL)
    # Declared far above what the synthetic scene holds: more than a manifest may declare
    # (60 t), so the validated manifest's item is replaced after reading.
    from dataclasses import replace

    declared = manifest(items=[{"hs_code": "610910", "gross_mass_kg": 60000}])
    declared = replace(declared, items=(replace(declared.items[0], gross_mass_kg=1e6),))
    result = check_mass(check_input(scene, declared))
    assert result.reasons == []
    assert any("lower bound" in warning for warning in result.warnings)


def test_floor_band_top_row_share_is_cargo():
    # The floor band is rounded up to whole rows: the share of its top row above the
    # floor's top holds goods, given the cargo of the row just above it.
    import numpy as np

    from nii.classes import INORGANIC
    from nii.inspection.checks._mass_estimate import estimate_cargo_mass

    residual = np.full((10, 20), 10.0)
    kwargs = dict(pixel_area_cm2=100.0, end_columns=(0.0, 0.0), organic_factor=1.0, relative_uncertainty=0.0,
                  structure_kg=0.0, structure_uncertainty_rel=0.0)
    args = (residual, np.full(residual.shape, INORGANIC, np.uint8), np.zeros(residual.shape), np.zeros(residual.shape, bool))
    whole = estimate_cargo_mass(*args, **kwargs).mass_kg
    assert whole == pytest.approx(10 * 20 * 10.0 * 100.0 / 1000.0)
    with_share = estimate_cargo_mass(*args, bottom_row_extra=0.47, **kwargs).mass_kg
    assert with_share - whole == pytest.approx(0.47 * 20 * 10.0 * 100.0 / 1000.0)


def test_goods_on_the_boards_count_down_to_the_floor():
    # 30 mm rows: the 170 mm floor band is 6 rows (180 mm); goods standing on the boards
    # fill the 10 mm of its top row above the floor, a third of a row.
    rows = (IN_ROW0 + 20, IN_ROW1)
    scene = Scene(seed=5).add(rows[0], COLS[0], rows[1], COLS[1], 40.0, ORGANIC)
    result = check_mass(check_input(scene, manifest(items=[{"hs_code": "610910", "gross_mass_kg": 1000.0}])))
    expected = cargo_kg(40.0, rows[1] - rows[0] + (6 - 170.0 / 30.0), COLS[1] - COLS[0]) * cotton_factor()
    assert result.estimates["cargo_mass_kg"] == pytest.approx(expected, rel=0.003)


def _covered_input(scene, the_manifest, columns=None):
    """The checks' input with the scan's coverage measured, as the pipeline gives it."""
    from nii.inspection.checks import build_check_input
    from nii.inspection.coverage import measure_input_coverage

    image, material_map = scene.build()
    if columns is not None:
        for holder in (image, material_map):
            for name, value in list(vars(holder).items()):
                if hasattr(value, "ndim") and value.ndim == 2:
                    setattr(holder, name, value[:, columns[0]:columns[1]].copy())
                elif name == "position_mm":
                    setattr(holder, name, value[columns[0]:columns[1]].copy())
    inp = build_check_input(image, material_map, the_manifest, load_expectations())
    measure_input_coverage(image, inp)
    return inp


def test_mass_is_not_compared_on_a_partial_container():
    # A third of the box read, the whole load declared: no MASS_MISMATCH from the part seen.
    declared = manifest(items=[{"hs_code": "610910", "gross_mass_kg": true_mass()}])
    inp = _covered_input(loaded(seed=8), declared, columns=(0, FRONT + (REAR - FRONT) // 3))
    result = check_mass(inp)
    assert result.reasons == []
    assert result.estimates["cargo_mass_kg"] is None
    assert any(w.startswith("cargo mass not compared: only") and "of the container was read" in w
               for w in result.warnings)


def test_mass_is_compared_on_a_whole_container():
    declared = manifest(items=[{"hs_code": "610910", "gross_mass_kg": 0.5 * true_mass()}])
    result = check_mass(_covered_input(loaded(seed=9), declared))
    assert [reason.code for reason in result.reasons] == ["MASS_MISMATCH"]
    assert not any("not compared" in w for w in result.warnings)


def test_a_missing_gross_mass_says_mass_not_checked():
    result = check_mass(check_input(loaded(seed=10), manifest(items=[{"hs_code": "610910"}])))
    assert result.reasons == []
    assert any(w.startswith("cargo mass not checked") and "gross mass" in w for w in result.warnings)


def test_no_container_found_says_mass_not_checked():
    result = check_mass(check_input(Scene(seed=11, container=False), manifest()))
    assert result.reasons == []
    assert any(w.startswith("cargo mass not checked") and "no container" in w for w in result.warnings)


# ---------------------------------------------------------------- the scanner model's reading

def test_model_inversion_recovers_water_behind_steel_walls_within_one_percent():
    import numpy as np
    from _model_synthetic import MODEL

    from nii.inspection.checks._goods_model import GoodsComposition
    from nii.inspection.checks._mass_estimate import read_goods
    from nii.physics import material

    water = dict(material("water").composition)
    steel = dict(material("steel").composition)
    areal = np.array([5.0, 20.0, 60.0, 100.0, 140.0, 200.0])
    walls = np.array([0.0, 2.5, 3.2, 6.0])
    high, _ = MODEL.predict([(steel, walls[:, None]), (water, areal[None, :])])
    reading = read_goods(high, None, walls, MODEL, GoodsComposition(water, (), ("22",)), accuracy=0.002)
    assert np.allclose(reading.areal_g_cm2, areal[None, :], rtol=0.01)
    # Read as iron behind no wall, the same α would be far off: the model's make-up matters.
    iron = read_goods(high, None, np.zeros(walls.size), MODEL,
                      GoodsComposition(dict(material("iron").composition), (), ("72",)), accuracy=0.002)
    assert not np.allclose(iron.areal_g_cm2[:, 3], 100.0, rtol=0.05)


def test_noise_below_the_wall_alone_reads_unbiased_around_zero():
    import numpy as np
    from _model_synthetic import MODEL

    from nii.inspection.checks._goods_model import GoodsComposition
    from nii.inspection.checks._mass_estimate import read_goods
    from nii.physics import material

    steel = dict(material("steel").composition)
    wall_alpha, _ = MODEL.predict([(steel, 2.67)])
    noisy = float(wall_alpha) + np.random.default_rng(1).normal(0.0, 0.01, (50, 400))
    reading = read_goods(noisy, np.full(noisy.shape, 0.01), np.full(50, 2.67), MODEL,
                         GoodsComposition(dict(material("cotton").composition), (), ("61",)), accuracy=0.002)
    assert abs(float(reading.areal_g_cm2.mean())) < 0.02
    assert float(reading.sigma_g_cm2.mean()) > 0.1


def test_pooling_reads_starved_pixels_on_their_mean_unclipped_transmission():
    import numpy as np

    from nii.inspection.checks._mass_estimate import pooled_attenuation

    rng = np.random.default_rng(2)
    truth, noise, floor = 2e-3, 2e-3, 1e-3                     # SNR 1: the floor clips the low side
    transmission = truth + rng.normal(0.0, noise, (20, 300))
    alpha = -np.log(np.maximum(transmission, floor))
    sigma = noise / np.exp(-alpha)
    pooled = pooled_attenuation(transmission, alpha, sigma, min_snr=5.0)
    assert abs(float(np.median(pooled)) + np.log(truth)) < 0.1   # −ln T = 6.2 within 0.1
    # The clipped reading overstates the transmission (the floor cuts the noise's low side).
    assert float(np.mean(np.exp(-alpha))) > 1.2 * truth
    assert float(np.mean(np.exp(-pooled))) == pytest.approx(truth, rel=0.15)


def _without_texture():
    import dataclasses

    table = load_expectations()
    goods = [dict(entry, texture_cv=0.0) for entry in table.thresholds["mass"]["goods"]]
    return dataclasses.replace(table, thresholds={**table.thresholds, "mass": {**table.thresholds["mass"], "goods": goods}})


@pytest.mark.parametrize("chapter", ["03", "22", "84"])
def test_mass_read_through_the_model_is_within_one_percent(chapter):
    from _model_synthetic import chapter_make_up, goods_kg, goods_scene

    hs = {"03": "030389", "22": "220421", "84": "841370"}[chapter]
    inp = goods_scene(chapter_make_up(chapter), 100.0, [{"hs_code": hs, "gross_mass_kg": goods_kg(100.0)}])
    inp.table = _without_texture()
    result = check_mass(inp)
    assert result.estimates["cargo_mass_kg"] == pytest.approx(goods_kg(100.0), rel=0.01)
    assert result.reasons == []
    # The propagated uncertainty: the model's accuracy and the chapter's alternatives, a few per cent.
    assert 0.002 * goods_kg(100.0) < result.estimates["cargo_mass_sigma_kg"] < 0.06 * goods_kg(100.0)


def test_underdeclared_dense_goods_are_raised_on_the_model_reading():
    from _model_synthetic import chapter_make_up, goods_kg, goods_scene

    inp = goods_scene(chapter_make_up("03"), 100.0, [{"hs_code": "030389", "gross_mass_kg": 0.7 * goods_kg(100.0)}])
    inp.table = _without_texture()
    result = check_mass(inp)
    assert [reason.code for reason in result.reasons] == ["MASS_MISMATCH"]


def test_goods_table_entries_are_checked():
    from types import SimpleNamespace

    from nii.errors import CatalogueError
    from nii.inspection.checks._goods_model import declared_composition

    item = [SimpleNamespace(chapter="22", gross_mass_kg=1.0)]
    with pytest.raises(CatalogueError, match="source"):
        declared_composition(item, {"goods": [{"chapters": ["22"], "materials": [{"name": "water", "fraction": 1}]}]})
    with pytest.raises(CatalogueError, match="unobtainium"):
        declared_composition(item, {"goods": [{"chapters": ["22"], "source": "s",
                                               "materials": [{"name": "unobtainium", "fraction": 1}]}]})
    assert declared_composition([SimpleNamespace(chapter="99", gross_mass_kg=1.0)],
                                load_expectations().thresholds["mass"]) is None
