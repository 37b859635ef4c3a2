"""Models that know their input domain: refused outside it, a warning in the verdict for smaller differences."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from nii.learn import plugins
from nii.learn.plugins import DOMAIN_TOLERANCE, ModelError, domain_problems, run_detector

DOMAIN = {"row_height_mm": 67.2, "column_pitch_mm": 34.77, "channels": 64, "energies_mev": [6.0, 3.0]}


@pytest.fixture(autouse=True)
def clean_registry():
    before = plugins.registered_detectors()
    yield
    for name in set(plugins.registered_detectors()) - set(before):
        plugins.unregister_detector(name)


def _image(rows=64, cols=40, row_height_mm=67.2, pitch_mm=34.77, energies=(6.0, 3.0)):
    return SimpleNamespace(
        attenuation_high=np.zeros((rows, cols), np.float32), attenuation_low=np.zeros((rows, cols), np.float32),
        row_height_mm=row_height_mm, position_mm=np.arange(cols) * pitch_mm, energies_mev=list(energies),
    )


class _Detector:
    """A detector stating its domain; counts its calls."""

    def __init__(self, domain):
        self.domain = domain
        self.calls = 0
        self.__name__ = "stated"

    def __call__(self, image, material_map):
        self.calls += 1
        return {"score": 0.9, "regions": [{"bbox": [1, 1, 4, 4], "score": 0.9}]}


def test_inside_the_domain_nothing_is_said():
    assert domain_problems(DOMAIN, _image()) == ([], [])
    assert domain_problems(DOMAIN, _image(row_height_mm=67.2 * 1.2, pitch_mm=34.77 * 0.8)) == ([], [])
    assert domain_problems(None, _image(row_height_mm=1.0)) == ([], [])
    assert DOMAIN_TOLERANCE["row_height"] == 0.25


def test_pixel_size_and_energies_outside_the_tolerances_are_named():
    outside, _ = domain_problems(DOMAIN, _image(rows=1024, row_height_mm=4.2))
    assert len(outside) == 1 and "4.2 mm rows" in outside[0] and "67.2 mm" in outside[0]
    outside, _ = domain_problems(DOMAIN, _image(pitch_mm=70.0))
    assert "70 mm columns" in outside[0]
    outside, _ = domain_problems(DOMAIN, _image(energies=(9.0, 4.0)))
    assert "9/4 MeV" in outside[0] and "6/3 MeV" in outside[0]
    outside, _ = domain_problems(dict(DOMAIN, tolerance={"row_height": 0.5}), _image(row_height_mm=67.2 * 1.4))
    assert outside == []  # a model may state wider tolerances


def test_another_channel_count_at_the_same_pixel_size_is_a_note():
    outside, notes = domain_problems(DOMAIN, _image(rows=128))
    assert outside == [] and notes == ["128 rows where it was trained on 64-row scans of the same pixel size"]


def test_run_detector_refuses_with_one_sentence_outside_the_domain():
    detector = _Detector(DOMAIN)
    with pytest.raises(ModelError) as raised:
        run_detector(detector, _image(rows=1024, row_height_mm=4.2))
    message = str(raised.value)
    assert detector.calls == 0
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert "'stated' is outside the input domain it was trained on" in message and "4.2 mm rows" in message
    result = run_detector(detector, _image(rows=1024, row_height_mm=4.2), outside_domain="warn")
    assert detector.calls == 1 and "unreliable" in result.warnings[0]
    with pytest.raises(ModelError, match="outside_domain"):
        run_detector(detector, _image(), outside_domain="ignore")


def test_run_detector_carries_notes_in_its_warnings():
    result = run_detector(_Detector(DOMAIN), _image(rows=128))
    assert result.warnings == ("detector 'stated' sees 128 rows where it was trained on 64-row scans of the same pixel size",)
    assert run_detector(_Detector(DOMAIN), _image()).warnings == ()
    assert run_detector(_Detector(None), _image(row_height_mm=1.0)).warnings == ()


def test_shipped_models_state_the_domain_of_their_training_suite():
    from nii.resources import models_dir, seed_path

    suite = seed_path("suites", "learn-train.toml").read_text()
    assert "channels = 64" in suite
    for name in ("unet_segmenter", "fcos_detector", "clean_autoencoder"):
        config = json.loads((models_dir() / name / "config.json").read_text())
        domain = config["domain"]
        assert domain["channels"] == 64 and domain["energies_mev"] == [6.0, 3.0]
        assert domain["row_height_mm"] == pytest.approx(67.2) and domain["column_pitch_mm"] == pytest.approx(34.77, rel=0.01)
        assert "input domain" in (models_dir() / name / "MODEL_CARD.md").read_text()


def test_zoo_model_refuses_a_1024_channel_image():
    pytest.importorskip("torch")
    from nii.learn.synthetic import synthetic_sample

    sample = synthetic_sample(np.random.default_rng(0), rows=64, cols=96, threat=False)
    good = replace(sample, row_height_mm=67.2, position_mm=np.arange(96) * 34.77, energies_mev=(6.0, 3.0))
    result = run_detector("fcos_detector", good, good)
    assert result.warnings == ()
    fine = replace(good, row_height_mm=4.2)  # the simulator's default 1024-channel pixel height
    with pytest.raises(ModelError, match="'fcos_detector' is outside the input domain.*4.2 mm rows where it was trained on 67.2 mm"):
        run_detector("fcos_detector", fine, fine)


def test_training_records_the_domain():
    pytest.importorskip("torch")
    from nii.learn.synthetic import synthetic_sample
    from nii.learn.zoo import training_domain

    rng = np.random.default_rng(1)
    samples = [replace(synthetic_sample(rng, rows=32, cols=48), row_height_mm=10.0 + i, position_mm=np.arange(48) * 5.0,
                       energies_mev=(6.0, 3.0)) for i in range(3)]
    domain = training_domain(samples)
    assert domain == {"row_height_mm": 11.0, "column_pitch_mm": 5.0, "channels": 32, "energies_mev": [6.0, 3.0],
                      "tolerance": DOMAIN_TOLERANCE}
    assert training_domain([]) == {}


def test_a_malformed_domain_in_a_config_is_refused(tmp_path):
    pytest.importorskip("torch")
    from nii.learn.zoo import read_config

    config = {"kind": "segmenter", "architecture": {"in_channels": 3}, "feature_set": "alpha_ratio",
              "weights": "w.safetensors", "domain": {"row_height_mm": -1}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="domain.row_height_mm must be a positive number"):
        read_config(tmp_path)


def test_the_warning_reaches_the_verdict(small_scan, tmp_path, capsys):
    """A registered detector stating a domain with another channel count: nii inspect runs it and says so."""
    from nii.cli import main

    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"container_id": "MSCU1234565", "iso_type": "22G1", "declared_empty": True, "items": []}))
    image_rows = small_scan.header["detector"]["channels"]
    geometry = {"channels": image_rows * 2, "energies_mev": [6.0, 3.0]}
    plugins.register_detector("narrow", _Detector(geometry))
    out = tmp_path / "out"
    status = main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(out), "--model", "narrow"])
    assert status in (0, 1), capsys.readouterr().err
    verdict = json.loads((out / "verdict.json").read_text())
    assert any("detector 'narrow' sees" in warning for warning in verdict["warnings"])

    plugins.register_detector("far", _Detector({"energies_mev": [9.0, 4.0]}))
    status = main(["inspect", str(small_scan.path), "--manifest", str(manifest), "--out", str(tmp_path / "o2"),
                   "--model", "far"])
    assert status == 2
    err = capsys.readouterr().err
    assert "'far' is outside the input domain" in err and "6/3 MeV where it was trained on 9/4 MeV" in err
