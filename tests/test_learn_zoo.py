"""The model zoo: safe weight loading, config checks, and the shipped models."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nii.learn import zoo  # noqa: E402
from nii.learn.plugins import ModelError, get_detector  # noqa: E402
from nii.learn.synthetic import synthetic_sample  # noqa: E402
from nii.resources import models_dir  # noqa: E402

SHIPPED = ("unet_segmenter", "fcos_detector", "clean_autoencoder")


def _config(kind="segmenter", feature_set="alpha_ratio", channels=3):
    return {"kind": kind, "architecture": {"in_channels": channels}, "feature_set": feature_set,
            "alpha_scale": 5.0, "inference": {"region_threshold": 0.5}, "reason": "CONCEALMENT_ANOMALY"}


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    module = zoo.ARCHITECTURES["segmenter"]({"in_channels": 3})
    zoo.save_model(module, _config(), tmp_path / "mine", "# card\n")
    detector = zoo.load_detector("mine", root=tmp_path)
    assert detector.config["weights"] == "weights.safetensors" and len(detector.config["weights_sha256"]) == 64
    sample = synthetic_sample(np.random.default_rng(0), rows=32, cols=48)
    x = torch.from_numpy(detector.features(sample, None))[None]
    with torch.no_grad():
        np.testing.assert_allclose(detector.module(x).numpy(), module.eval()(x).numpy(), atol=1e-6)
    result = detector(sample, sample)
    assert 0.0 <= result.score <= 1.0 and result.detector == "mine"


def test_pt_state_dict_loads_with_weights_only(tmp_path):
    module = zoo.ARCHITECTURES["autoencoder"]({"in_channels": 3})
    folder = tmp_path / "ae"
    folder.mkdir()
    torch.save(module.state_dict(), folder / "weights.pt")
    (folder / "config.json").write_text(json.dumps(dict(_config("autoencoder"), weights="weights.pt")))
    loaded, config = zoo.load_model("ae", root=tmp_path)
    for key, value in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


class _Payload:
    """A pickle that runs code when loaded (what torch.load(weights_only=True) must refuse)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "marker.txt"
    folder = tmp_path / "evil"
    folder.mkdir()
    with open(folder / "weights.pt", "wb") as stream:
        pickle.dump({"layer.weight": _Payload(marker)}, stream)
    (folder / "config.json").write_text(json.dumps(dict(_config(), weights="weights.pt")))
    with pytest.raises(ModelError, match="refused to load"):
        zoo.load_detector("evil", root=tmp_path)
    assert not marker.exists()
    # a state dict holding a non-tensor object is refused too
    torch.save({"layer.weight": [1, 2, 3]}, folder / "weights.pt")
    with pytest.raises(ModelError, match="dict of tensors"):
        zoo.load_state_dict(folder / "weights.pt")


def test_bad_configs_and_weights_are_library_errors(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.raises(ModelError, match="no model there"):
        zoo.load_detector("m", root=tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        zoo.load_detector("m", root=tmp_path)
    (folder / "config.json").write_text(json.dumps(dict(_config(channels=5), weights="w.safetensors")))
    with pytest.raises(ModelError, match="in_channels must be 3"):
        zoo.load_detector("m", root=tmp_path)
    (folder / "config.json").write_text(json.dumps(dict(_config(), weights="../outside.pt")))
    with pytest.raises(ModelError, match="inside the model folder"):
        zoo.load_detector("m", root=tmp_path)
    (folder / "config.json").write_text(json.dumps(dict(_config(), weights="w.safetensors")))
    (folder / "w.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a valid safetensors"):
        zoo.load_detector("m", root=tmp_path)
    other = zoo.ARCHITECTURES["autoencoder"]({"in_channels": 3})
    zoo.save_model(other, dict(_config(), weights="weights.safetensors"), folder, "")  # config says segmenter
    (folder / "config.json").write_text(json.dumps(dict(_config(), weights="weights.safetensors")))
    with pytest.raises(ModelError, match="do not fit"):
        zoo.load_detector("m", root=tmp_path)
    with pytest.raises(ModelError, match="plain folder name"):
        zoo.load_detector("../m", root=tmp_path)


def test_material_features_need_a_map(tmp_path):
    module = zoo.ARCHITECTURES["segmenter"]({"in_channels": 5})
    zoo.save_model(module, _config(feature_set="alpha_material", channels=5), tmp_path / "s", "")
    detector = zoo.load_detector("s", root=tmp_path)
    sample = synthetic_sample(np.random.default_rng(1), rows=16, cols=16)
    plain = type("Image", (), {"attenuation_high": sample.attenuation_high, "attenuation_low": sample.attenuation_low})()
    with pytest.raises(ModelError, match="needs the material map"):
        detector(plain, None)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_load_and_run(name):
    folder = models_dir() / name
    assert (folder / "config.json").is_file(), f"zoo model {name} missing from {models_dir()}"
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "python -m nii.learn.train" in card and "## Data" in card
    assert (folder / "weights.safetensors").stat().st_size < 5e6
    detector = get_detector(name)
    sample = synthetic_sample(np.random.default_rng(2), rows=64, cols=128, threat=True)
    result = detector(sample, sample)
    assert 0.0 <= result.score <= 1.0
    for region in result.regions:
        row0, col0, row1, col1 = region.bbox
        assert 0 <= row0 < row1 <= 64 and 0 <= col0 < col1 <= 128
