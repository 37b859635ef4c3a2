"""review.html without a browser: files, embedded description, layer data, departure, the inspect hook."""

from __future__ import annotations

import base64
import json
import re
import zlib

import _review_synthetic as synthetic
import numpy as np
import pytest

from nii.review.page import ASSETS_DIR, REVIEW_FILE, STATION_MARKER, verdict_digest, write_review
from nii.review.tiles import TILE_COLUMNS, departure_g_cm2, encode_tiles, noise_step, quantise


def _meta(page: str) -> dict:
    match = re.search(r'<script id="nii-meta" type="application/json">(.*?)</script>', page, re.S)
    assert match, "the page embeds its description"
    return json.loads(match.group(1))


def _decode(tile: str, dtype) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(tile)), dtype=np.dtype(dtype).newbyteorder("<"))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    image, material_map, verdict, manifest = synthetic.build()
    path = write_review(folder, image=image, material_map=material_map, verdict=verdict, manifest=manifest)
    return folder, path, image, material_map, verdict


def test_page_and_layer_files_are_written(page):
    folder, path, *_ = page
    assert path == folder / REVIEW_FILE
    names = {p.name for p in (folder / ASSETS_DIR).iterdir()}
    assert names == {f"{n}.js" for n in ("classes", "high", "low", "zeff", "areal", "departure")}
    text = path.read_text(encoding="utf-8")
    # static: no network (no http(s) source, no CDN), the script and style are inline
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<style>" in text and "niiReviewData" in text and STATION_MARKER in text


def test_embedded_description(page):
    folder, path, image, material_map, verdict = page
    text = path.read_text(encoding="utf-8")
    meta = _meta(text)
    assert meta["shape"] == [synthetic.ROWS, synthetic.COLS]
    assert meta["aspect"] == pytest.approx(synthetic.ROW_MM / synthetic.COL_MM)
    assert meta["verdict"]["verdict"] == "inspect"
    assert meta["verdict_sha256"] == verdict_digest(json.dumps(verdict, indent=2, ensure_ascii=False) + "\n")
    # two overlapping regions of the lead block are one object; the floor another
    assert [o["reasons"] for o in meta["objects"]] == [["UNDECLARED_HIGH_Z", "CONCEALMENT_ANOMALY"], ["STRUCTURE_ANOMALY"]]
    assert meta["objects"][0]["bbox"] == [49, 149, 57, 159]
    assert meta["layer_order"] == ["material", "high", "low", "zeff", "areal", "departure"]
    assert "derived" in meta["layers"]["departure"]["description"]
    # the extent cuts the air band above the container
    assert meta["extent"][0] >= 15 and meta["extent"][2] >= 25
    # what an officer reads is in the HTML itself
    for reason in verdict["reasons"]:
        assert reason["code"] in text
    for warning in verdict["warnings"]:
        assert warning in text
    assert "TEST1234567" in text and "frozen fish" in text and "9,100 kg" in text
    assert "verdict-inspect" in text and "INSPECT" in text


def test_layer_tiles_round_trip(page):
    folder, path, image, material_map, _ = page
    meta = _meta(path.read_text(encoding="utf-8"))
    script = (folder / ASSETS_DIR / "high.js").read_text(encoding="ascii")
    name, tiles = re.match(r"niiReviewData\((\"\w+\"),(\[.*\])\);", script.strip()).groups()
    assert json.loads(name) == "high" and len(json.loads(tiles)) == meta["tiles"] == 1
    codes = _decode(json.loads(tiles)[0], np.uint16).reshape(synthetic.ROWS, -1)
    layer = meta["layers"]["high"]
    values = layer["lo"] + (codes.astype(np.float64) - 1) * (layer["hi"] - layer["lo"]) / 65534
    np.testing.assert_allclose(values, image.attenuation_high, atol=(layer["hi"] - layer["lo"]) / 65534)
    classes = re.match(r"niiReviewData\(\"classes\",(\[.*\])\);", (folder / ASSETS_DIR / "classes.js").read_text().strip())
    decoded = _decode(json.loads(classes.group(1))[0], np.uint8).reshape(synthetic.ROWS, -1)
    np.testing.assert_array_equal(decoded, material_map.classes)


def test_tiles_cut_long_images_and_mark_missing_values():
    codes = quantise(np.array([[np.nan, 0.0, 1.0, 2.0]]), 0.0, 2.0)
    assert codes.tolist() == [[0, 1, 32768, 65535]]
    wide = np.arange(3 * (TILE_COLUMNS + 5), dtype=np.uint16).reshape(3, -1)
    tiles = encode_tiles(wide)
    assert len(tiles) == 2
    second = _decode(tiles[1], np.uint16).reshape(3, -1)
    np.testing.assert_array_equal(second, wide[:, TILE_COLUMNS:])


def test_attenuation_is_rounded_below_its_noise():
    rng = np.random.default_rng(1)
    values = rng.uniform(0.0, 6.5535, (50, 50))
    sigma = np.full(values.shape, 0.004)
    step = noise_step(sigma)
    assert step == pytest.approx(0.002)
    codes = quantise(values, 0.0, 6.5534, step=step)
    assert ((codes - 1) % 20 == 0).all()  # 20 code steps of 1e-4 in each step of 0.002
    decoded = (codes.astype(np.float64) - 1) * 6.5534 / 65534
    assert np.abs(decoded - values).max() <= 0.5 * step + 1e-4
    assert noise_step(None) is None and noise_step(np.zeros(3)) is None


def test_departure_is_about_zero_in_uniform_cargo_and_shows_the_block():
    areal = np.full((40, 600), 50.0)
    areal[10:20, 300:310] += 30.0
    areal[:, :5] = np.nan
    departure = departure_g_cm2(areal, 10.0)
    assert np.isnan(departure[:, :5]).all()
    assert np.nanmax(np.abs(departure[25:, 50:550])) < 1e-6
    assert departure[15, 305] == pytest.approx(30.0, abs=1.0)


def test_nii_inspect_writes_the_page(small_scan, tmp_path):
    from nii.cli import main

    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"container_id": "TEST1234567", "iso_type": "22G1", "declared_empty": False,
                                    "items": [{"hs_code": "610910", "gross_mass_kg": 2000}]}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(out)]) in (0, 1)
    meta = _meta((out / REVIEW_FILE).read_text(encoding="utf-8"))
    assert meta["verdict_sha256"] == verdict_digest((out / "verdict.json").read_bytes())
    assert (out / ASSETS_DIR / "high.js").is_file()
