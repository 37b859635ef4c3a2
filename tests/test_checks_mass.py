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
