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
from nii.inspection.checks import check_mass

ROWS = (IN_ROW0 + 20, IN_ROW1 - 1)
COLS = (FRONT + 3, REAR - 3)   # the internal length of a 20 ft box (5.9 m)


def loaded(areal=40.0, seed=0):
    return Scene(seed=seed).add(ROWS[0], COLS[0], ROWS[1], COLS[1], areal, ORGANIC)


def true_mass(areal=40.0):
    return cargo_kg(areal, ROWS[1] - ROWS[0], COLS[1] - COLS[0])


def test_mass_estimate_is_within_two_percent():
    result = check_mass(check_input(loaded(), manifest(items=[{"hs_code": "610910", "gross_mass_kg": true_mass()}])))
    assert result.estimates["cargo_mass_kg"] == pytest.approx(true_mass(), rel=0.02)
    assert result.reasons == []
    assert 0 < result.estimates["cargo_mass_sigma_kg"] < 0.2 * true_mass()


def test_empty_container_weighs_nothing():
    result = check_mass(check_input(Scene(seed=5), manifest(empty=True)))
    assert abs(result.estimates["cargo_mass_kg"]) < 50


@pytest.mark.parametrize(("factor", "raised"), [(1.1, False), (0.9, False), (2.0, True), (0.5, True)])
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
    result = check_mass(check_input(scene, manifest(items=[{"hs_code": "610910", "gross_mass_kg": 1e6}])))
    assert result.reasons == []
    assert any("lower bound" in warning for warning in result.warnings)
