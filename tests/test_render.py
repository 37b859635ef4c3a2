"""Tests of nii.render: colours by class, shading, hatching, boxes, legend, PNG."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from nii.classes import HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC
from nii.render import (
    CLASS_COLOURS,
    draw_boxes,
    evidence_png,
    legend,
    png_bytes,
    render_grey,
    render_pseudocolour,
    save_png,
)


def _scene():
    classes = np.zeros((40, 60), np.uint8)
    alpha = np.zeros((40, 60), np.float32)
    for k, code in enumerate((ORGANIC, INORGANIC, METAL, HIGH_Z, IMPENETRABLE)):
        classes[10:30, 10 * k + 5 : 10 * k + 14] = code
        alpha[10:30, 10 * k + 5 : 10 * k + 14] = 1.0 + k
    alpha[10:30, 5:9] = 0.5  # a lighter organic part
    return SimpleNamespace(attenuation_high=alpha), SimpleNamespace(classes=classes)


def test_pseudocolour_hue_by_class_and_brightness_by_attenuation():
    image, material_map = _scene()
    rgb = render_pseudocolour(image, material_map)
    assert rgb.dtype == np.uint8 and rgb.shape == (40, 60, 3)
    organic_light, organic_dark = rgb[20, 6].astype(int), rgb[20, 11].astype(int)
    assert organic_light[0] > organic_light[2] and organic_dark[0] > organic_dark[2]  # orange
    assert organic_light.sum() > organic_dark.sum()  # darker where more attenuating
    green = rgb[21, 17].astype(int)
    assert green[1] > green[0] and green[1] > green[2]
    blue = rgb[21, 27].astype(int)
    assert blue[2] > blue[0] and blue[2] > blue[1]
    assert (rgb[0, 0] > 200).all()  # air: white/grey


def test_high_z_hatched_and_outlined_impenetrable_black_hatched():
    image, material_map = _scene()
    rgb = render_pseudocolour(image, material_map)
    high_z = rgb[10:30, 35:44].reshape(-1, 3)
    colours = {tuple(c) for c in high_z}
    assert (255, 0, 255) in colours  # outline
    assert len(colours) >= 3  # violet fill, hatch, outline
    impenetrable = rgb[11:29, 46:53].reshape(-1, 3)
    assert (impenetrable.sum(axis=1) == 0).mean() > 0.6  # mostly black
    assert ((impenetrable[:, 0] > 150) & (impenetrable[:, 1] == 0)).any()  # red hatch


def test_grey_stretch():
    image, _ = _scene()
    grey = render_grey(image)
    assert grey.shape == (40, 60, 3) and (grey[..., 0] == grey[..., 1]).all()
    assert grey[0, 0, 0] == 255 and grey[20, 50, 0] < 10


def test_shape_mismatch_is_an_error():
    image, material_map = _scene()
    material_map.classes = material_map.classes[:, :10]
    with pytest.raises(ValueError, match="shape"):
        render_pseudocolour(image, material_map)


def test_boxes_legend_and_png(tmp_path):
    image, material_map = _scene()
    rgb = render_pseudocolour(image, material_map)
    boxed = draw_boxes(rgb, [{"bbox": [12, 2, 30, 20]}])
    assert tuple(boxed[20, 2]) == (230, 20, 20) and tuple(boxed[29, 10]) == (230, 20, 20)
    assert (boxed[25, 40] == rgb[25, 40]).all()  # elsewhere unchanged
    strip = legend(300, reasons=["UNDECLARED_HIGH_Z: high_z"], title="SCAN: INSPECT")
    assert strip.shape[1] == 300 and strip.shape[0] > 40
    for code, colour in CLASS_COLOURS.items():  # every class swatch is in the legend
        assert (strip.reshape(-1, 3) == colour).all(axis=1).any(), code
    path = save_png(tmp_path / "x.png", boxed)
    with Image.open(path) as picture:
        assert picture.size == (60, 40) and np.array_equal(np.asarray(picture), boxed)
    verdict = {"scan_id": "S", "verdict": "inspect", "score": 0.5, "reasons": [],
               "regions": [{"bbox": [12, 2, 30, 20], "material": "high_z", "score": 0.9, "reason": "UNDECLARED_HIGH_Z"}]}
    with Image.open(io.BytesIO(evidence_png(image, material_map, verdict))) as picture:
        assert picture.size[0] >= 60 and picture.size[1] > 40
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((4, 4), np.float32))
    assert NONE in CLASS_COLOURS
