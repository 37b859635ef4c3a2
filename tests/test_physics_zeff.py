"""Effective atomic number (pair-to-Compton ratio) and its classes."""

from __future__ import annotations

import numpy as np
import pytest

from nii.classes import HIGH_Z, INORGANIC, METAL, ORGANIC, class_of_zeff
from nii.physics import PhysicsError, effective_beams, pair_compton_ratio, zeff, zeff_class
from nii.physics._cross_sections import element_cross_section


@pytest.mark.parametrize(
    ("name", "z"),
    [("graphite", 6), ("aluminium", 13), ("iron", 26), ("tin", 50), ("lead", 82), ("uranium", 92)],
)
def test_elements_return_their_own_z(name, z):
    assert zeff(name) == pytest.approx(z, abs=0.01)


def test_element_ratio_increases_strictly_with_z():
    for energy in (3.0, 6.0, 10.0):
        ratios = [
            (element_cross_section(z, energy, 5) + element_cross_section(z, energy, 6))
            / element_cross_section(z, energy, 4)
            for z in range(1, 101)
        ]
        assert np.all(np.diff(np.ravel(ratios)) > 0.0)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        # pair/Compton Z_eff is close to the electron-weighted mean Z: below the
        # photoelectric values of diagnostic imaging (water 7.4, polyethylene 5.4)
        ("water", 6.3, 7.0),
        ("polyethylene", 4.5, 5.2),
        ("aluminium", 12.9, 13.1),
        ("iron", 25.9, 26.1),
        ("lead", 81.9, 82.1),
    ],
)
def test_zeff_of_reference_materials(name, low, high):
    assert low <= zeff(name) <= high


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("water", ORGANIC),
        ("polyethylene", ORGANIC),
        ("sugar", ORGANIC),
        ("cocaine", ORGANIC),
        ("tnt", ORGANIC),
        ("salt", INORGANIC),
        ("glass", INORGANIC),
        ("concrete", INORGANIC),
        ("aluminium", INORGANIC),
        ("iron", METAL),
        ("steel", METAL),
        ("brass", METAL),
        ("tin", METAL),
        ("tungsten", HIGH_Z),
        ("lead", HIGH_Z),
        ("uranium", HIGH_Z),
    ],
)
def test_zeff_classes(name, code):
    assert zeff_class(zeff(name)) == code == class_of_zeff(zeff(name))


def test_mixture_lies_between_its_elements():
    salt = zeff("salt")
    assert 11.0 < salt < 17.0
    assert zeff({"Fe": 0.5, "C": 0.5}) > zeff({"Fe": 0.2, "C": 0.8})


def test_beam_weighted_zeff_is_consistent():
    beams = effective_beams((6.0, 3.0))
    assert zeff("iron", beams=beams) == pytest.approx(26.0, abs=0.01)
    assert zeff("water", beams=beams) == pytest.approx(zeff("water"), abs=0.3)
    assert pair_compton_ratio("lead", beams=beams) > pair_compton_ratio("iron", beams=beams)
    with pytest.raises(PhysicsError, match="beams"):
        zeff("water", beams=[])


def test_zeff_class_handles_arrays_and_nan():
    codes = zeff_class(np.array([6.0, 12.0, 30.0, 80.0, np.nan]))
    assert codes.tolist() == [ORGANIC, INORGANIC, METAL, HIGH_Z, 0]
