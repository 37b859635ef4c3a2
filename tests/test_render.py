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


# --------------------------------------------------------------------------- the evidence image

import _review_synthetic as synthetic  # noqa: E402

from nii.render import (  # noqa: E402
    MIN_TEXT_PX,
    REFERENCE_WIDTH_PX,
    compose_evidence,
    font,
    legend_font_px,
    merge_regions,
    missing_glyphs,
)


def _cap_height(size_px: int) -> int:
    left, top, right, bottom = font(size_px).getbbox("H")
    return bottom - top


def test_evidence_keeps_the_true_aspect_and_cuts_the_empty_band():
    image, material_map, verdict, _ = synthetic.build()
    evidence = compose_evidence(image, material_map, verdict)
    r0, r1, c0, c1 = evidence.extent
    assert r0 >= 15 and c0 >= 25  # the air above and before the container is not drawn
    assert r1 >= synthetic.FLOOR[2] and c1 >= 300 - 2
    width, height = evidence.picture_size
    true_ratio = (r1 - r0) * synthetic.ROW_MM / ((c1 - c0) * synthetic.COL_MM)
    assert height / width == pytest.approx(true_ratio, rel=0.02)
    assert evidence.rgb.shape[1] == max(width, 640)
    # --max-width keeps the aspect ratio
    narrow = compose_evidence(image, material_map, verdict, max_width=300)
    assert narrow.picture_size[0] == 300
    assert narrow.picture_size[1] / 300 == pytest.approx(true_ratio, rel=0.02)


def test_one_box_per_object_and_every_glyph_in_the_font():
    image, material_map, verdict, _ = synthetic.build()
    objects = merge_regions(verdict["regions"])
    assert [o["members"] for o in objects] == [[0, 1], [2]]
    evidence = compose_evidence(image, material_map, verdict)
    assert len(evidence.boxes) == 2
    text = "".join(evidence.text)
    assert {"×", "≈", "³", "⚠"} <= set(text)
    assert missing_glyphs(text) == set() and missing_glyphs(text, bold=True) == set()
    assert missing_glyphs("中") == {"中"}  # the check itself finds a glyph the font lacks


def test_warnings_and_the_verdict_are_drawn():
    image, material_map, verdict, _ = synthetic.build()
    rgb = compose_evidence(image, material_map, verdict).rgb
    colours = {tuple(c) for c in rgb.reshape(-1, 3)[:: 7]}
    assert (255, 213, 79) in colours  # the warnings banner
    assert (198, 40, 40) in colours  # the verdict banner, in the colour of "inspect"
    assert any(w in " ".join(compose_evidence(image, material_map, verdict).text) for w in verdict["warnings"])
    clear = dict(verdict, verdict="clear", reasons=[], regions=[], warnings=[])
    rgb = compose_evidence(image, material_map, clear).rgb
    colours = {tuple(c) for c in rgb.reshape(-1, 3)[:: 7]}
    assert (46, 125, 50) in colours and (255, 213, 79) not in colours


@pytest.mark.parametrize("columns", [400, 1600, 4000])
def test_legend_text_is_12_px_high_when_fitted_to_1600_px(columns):
    rows = 120
    alpha = np.zeros((rows, columns), np.float32)
    alpha[20:100, 10:columns - 10] = 1.0
    classes = np.where(alpha > 0, ORGANIC, NONE).astype(np.uint8)
    image = SimpleNamespace(attenuation_high=alpha, row_height_mm=4.2, column_pitch_mm=3.2)
    verdict = {"scan_id": "WIDE", "verdict": "inspect", "score": 0.9,
               "reasons": [{"code": "UNDECLARED_HIGH_Z", "severity": "high", "message": "15 × 10 cm, ≈ 3 kg, 11 g/cm³"}],
               "regions": [{"bbox": [50, columns // 2, 54, columns // 2 + 40], "material": "high_z", "score": 0.9,
                            "reason": "UNDECLARED_HIGH_Z"}], "warnings": ["a warning"]}
    evidence = compose_evidence(image, SimpleNamespace(classes=classes), verdict)
    total_width = evidence.rgb.shape[1]
    fitted = REFERENCE_WIDTH_PX / total_width  # the scale of the image fitted to 1,600 px wide
    assert evidence.font_px == legend_font_px(max(evidence.picture_size[0], 640))
    assert evidence.rgb.shape[1] == max(evidence.picture_size[0], 640)
    assert _cap_height(evidence.font_px) * min(fitted, 1.0) >= MIN_TEXT_PX
    assert _cap_height(evidence.font_px) * fitted >= MIN_TEXT_PX
    assert evidence.picture_size[1] / evidence.picture_size[0] == pytest.approx(
        (evidence.extent[1] - evidence.extent[0]) * 4.2 / ((evidence.extent[3] - evidence.extent[2]) * 3.2), rel=0.02)


def test_grey_evidence_needs_no_material_map():
    image, _, verdict, _ = synthetic.build()
    evidence = compose_evidence(image, None, verdict, grey=True)
    width, height = evidence.picture_size
    picture = evidence.rgb[:height, :width]
    assert (picture[..., 0] == picture[..., 1]).mean() > 0.9  # grey, but for the red boxes


def test_render_command_keeps_the_aspect_with_max_width(small_scan, tmp_path):
    from nii.cli import main

    for extra in ([], ["--grey"]):
        out = tmp_path / f"r{len(extra)}.png"
        assert main(["render", str(small_scan.path), "--max-width", "300", "-o", str(out), *extra]) == 0
        with Image.open(out) as picture:
            assert picture.size[0] == 300
