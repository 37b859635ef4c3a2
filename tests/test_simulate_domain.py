"""Domain randomisation of the simulator: container makes ([makes] of seeds/containers.toml) and cargo texture."""

from __future__ import annotations

import numpy as np
import pytest

from nii.errors import SimulationError
from nii.simulate.containers import build_container, container_makes


def test_makes_split_into_tuning_and_reporting_sets():
    tune, test = set(container_makes("tune")), set(container_makes("test"))
    assert "reference" in tune and test and not tune & test
    assert set(container_makes()) == tune | test


def test_makes_change_the_walls_and_the_cross_members():
    reference, _ = build_container("20ft")
    wide, _ = build_container("20ft", make="wide-pitch")
    def members(objects):
        return sum(len(o.primitives) for o in objects if "floor cross member" in o.name)

    def side_walls(objects):
        return [o for o in objects if "side wall" in o.name]

    # 300 mm pitch: fewer cross members; 2.0 mm panels on another corrugation.
    assert 0 < members(wide) < members(reference)
    assert side_walls(wide) and side_walls(reference)
    assert [o.primitives for o in side_walls(wide)] != [o.primitives for o in side_walls(reference)]


def test_unknown_make_is_refused_in_one_sentence():
    with pytest.raises(SimulationError, match="unknown container make 'acme'"):
        build_container("20ft", make="acme")


def test_cargo_texture_spread_is_a_scenario_setting():
    from nii.simulate import build_scenario

    def unit_weights(cv):
        scenario = build_scenario("20ft", "61", None, seed=4, cargo_density_cv=cv)
        cargo = [o for o in scenario.scene.objects if o.role == "cargo" and not o.metadata.get("packaging")]
        return np.array([p.weight for o in cargo for p in o.primitives])

    assert np.std(unit_weights(0.0)) == 0.0
    assert 0.2 < np.std(unit_weights(0.3)) < 0.4
    with pytest.raises(SimulationError, match="density_cv"):
        build_scenario("20ft", "61", None, seed=4, cargo_density_cv=0.9)
