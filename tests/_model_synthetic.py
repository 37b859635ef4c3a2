"""Synthetic scans whose α pair comes from the nominal scanner model: goods of a known make-up
behind the synthetic container's steel side walls (:mod:`_inspection_synthetic`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, cargo_kg, manifest

from nii.classes import ORGANIC
from nii.inspection import load_expectations
from nii.inspection.checks import build_check_input
from nii.inspection.checks._goods_model import declared_composition
from nii.physics import material
from nii.scanner_model import ScannerModel

ROWS = (IN_ROW0 + 20, IN_ROW1 - 1)
COLS = (FRONT + 3, REAR - 3)
WALLS_G_CM2 = 2.67  # the synthetic container's two side walls (steel)
MODEL = ScannerModel.nominal((6.0, 3.0))
_ESTIMATOR: list[Any] = []


def _estimator() -> Any:
    """The region estimator on the nominal model, built once (as ``Calibration.estimator``)."""
    if not _ESTIMATOR:
        from nii.region_estimate import RegionEstimator

        _ESTIMATOR.append(RegionEstimator(MODEL, accuracy=0.002))
    return _ESTIMATOR[0]


CALIBRATION = SimpleNamespace(model=MODEL, accuracy=0.002, estimator=_estimator)


def chapter_make_up(chapter: str) -> dict[str, float]:
    """The primary make-up ``[[checks.mass.goods]]`` gives a chapter (element mass fractions)."""
    goods = declared_composition([SimpleNamespace(chapter=chapter, gross_mass_kg=1.0)],
                                 load_expectations().thresholds["mass"])
    assert goods is not None
    return dict(goods.composition)


def goods_scene(make_up: dict[str, float], areal_g_cm2: float, items: list[dict[str, Any]], *, seed: int = 0,
                noise_alpha: float = 0.003) -> Any:
    """The checks' input for ``areal_g_cm2`` of goods of ``make_up`` filling the cargo box."""
    scene = Scene(seed=seed).add(ROWS[0], COLS[0], ROWS[1], COLS[1], areal_g_cm2, ORGANIC)
    image, material_map = scene.build()
    steel = dict(material("steel").composition)
    # Everything but the goods read as steel of the scene's areal density; the goods as
    # themselves behind the side walls.
    high, low = MODEL.predict([(steel, np.clip(scene.areal, 0.0, None))])
    goods_high, goods_low = MODEL.predict([(steel, WALLS_G_CM2), (make_up, areal_g_cm2)])
    high[ROWS[0]:ROWS[1], COLS[0]:COLS[1]] = goods_high
    low[ROWS[0]:ROWS[1], COLS[0]:COLS[1]] = goods_low
    # The material map reads the goods' pair as the calibration's estimator does.
    t_high, t_low = MODEL.transmission([(steel, WALLS_G_CM2), (make_up, areal_g_cm2)])
    read = _estimator().estimate(
        np.atleast_1d(t_high), np.atleast_1d(t_low), np.full(1, 1e-12), np.full(1, 1e-12))
    material_map.classes[ROWS[0]:ROWS[1], COLS[0]:COLS[1]] = read.classes[0]
    material_map.zeff[ROWS[0]:ROWS[1], COLS[0]:COLS[1]] = read.zeff[0]
    rng = np.random.default_rng(seed)
    image.attenuation_high = (high + rng.normal(0.0, noise_alpha, high.shape)).astype(np.float32)
    image.attenuation_low = (low + rng.normal(0.0, 1.5 * noise_alpha, low.shape)).astype(np.float32)
    image.sigma_high = np.full(high.shape, noise_alpha, np.float32)
    image.sigma_low = np.full(high.shape, 1.5 * noise_alpha, np.float32)
    image.transmission_high = np.exp(-image.attenuation_high)
    image.transmission_low = np.exp(-image.attenuation_low)
    return build_check_input(image, material_map, manifest(items=items), load_expectations(), calibration=CALIBRATION)


def goods_kg(areal_g_cm2: float) -> float:
    """Mass (kg) of ``areal_g_cm2`` of goods over the cargo box."""
    return cargo_kg(areal_g_cm2, ROWS[1] - ROWS[0], COLS[1] - COLS[0])
