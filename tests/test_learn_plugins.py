"""The detector plug-in interface: a researcher's callable registered in a few lines and run by bench."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from nii.learn import plugins
from nii.learn.plugins import DetectorResult, ModelError, ScoredRegion


@pytest.fixture(autouse=True)
def clean_registry():
    before = plugins.registered_detectors()
    yield
    for name in set(plugins.registered_detectors()) - set(before):
        plugins.unregister_detector(name)


class _Image:
    def __init__(self, rows=20, cols=30):
        self.attenuation_high = np.zeros((rows, cols), np.float32)
        self.attenuation_low = np.zeros((rows, cols), np.float32)
        self.position_mm = np.arange(cols) * 5.0 + 100.0
        self.row_height_mm = 4.0


def test_register_and_run_a_researchers_callable():
    def bright_spot(image, material_map):
        alpha = image.attenuation_high
        row, col = divmod(int(alpha.argmax()), alpha.shape[1])
        return {"score": float(alpha.max() > 6.0), "regions": [{"bbox": [row, col, row + 2, col + 3], "score": 0.5}]}

    plugins.register_detector("bright_spot", bright_spot)
    image = _Image()
    image.attenuation_high[4, 7] = 9.0
    result = plugins.run_detector("bright_spot", image, None)
    assert result.detector == "bright_spot" and result.score == 1.0 and result.seconds >= 0
    assert result.regions == (ScoredRegion(bbox=(4, 7, 6, 10), score=0.5),)
    entry = result.to_verdict_regions(image)[0]
    assert entry["bbox"] == [4, 7, 6, 10] and entry["reason"] == "CONCEALMENT_ANOMALY"
    # z: rows × 4 mm; x: positions of columns 7 and 9, plus one 5 mm column pitch.
    assert entry["bbox_mm"] == [16.0, 135.0, 24.0, 150.0]
    assert "bright_spot" in plugins.available_detectors()


def test_outputs_are_validated_and_clipped():
    image = _Image()
    result = plugins.as_result({"score": 1.7, "regions": [
        {"bbox": [-5, -5, 3, 3], "score": 0.2},
        {"bbox": [18, 25, 40, 60], "score": 0.9, "reason": "UNDECLARED_HIGH_Z", "material": "high_z"},
        {"bbox": [50, 50, 60, 60], "score": 0.5},  # outside: dropped
    ]}, shape=(20, 30))
    assert result.score == 1.0
    assert [r.bbox for r in result.regions] == [(18, 25, 20, 30), (0, 0, 3, 3)]  # best first, clipped
    assert result.regions[0].reason == "UNDECLARED_HIGH_Z"
    for bad, message in [
        ({"score": float("nan")}, "finite"),
        ({"score": "high"}, "number"),
        ({"regions": []}, "without 'score'"),
        ([0.5], "must return"),
        ({"score": 0.5, "regions": [{"bbox": [1, 2, 3]}]}, "four numbers"),
        ({"score": 0.5, "regions": [{"score": 1}]}, "no 'bbox'"),
        ({"score": 0.5, "regions": "abc"}, "must be a list"),
    ]:
        with pytest.raises(ModelError, match=message):
            plugins.as_result(bad, shape=image.attenuation_high.shape)


def test_failing_detector_gives_a_library_error():
    def broken(image, material_map):
        raise ValueError("bad weights")

    with pytest.raises(ModelError, match="broken.*ValueError: bad weights"):
        plugins.run_detector(broken, _Image(), None)


def test_registry_rules():
    plugins.register_detector("once", lambda image, material_map: {"score": 0})
    with pytest.raises(ModelError, match="already registered"):
        plugins.register_detector("once", lambda image, material_map: {"score": 1})
    plugins.register_detector("once", lambda image, material_map: {"score": 1}, replace=True)
    assert plugins.run_detector("once", _Image()).score == 1.0
    with pytest.raises(ModelError, match="name"):
        plugins.register_detector("bad name!", lambda *a: None)
    with pytest.raises(ModelError, match="not callable"):
        plugins.register_detector("thing", 42)
    with pytest.raises(ModelError, match="no detector named 'nope'"):
        plugins.get_detector("nope")


def test_entry_point_detectors_are_found(monkeypatch):
    entry = metadata.EntryPoint(name="third_party", value="tests_plugin_target:detect", group=plugins.ENTRY_POINT_GROUP)
    module = type(sys)("tests_plugin_target")
    module.detect = lambda image, material_map: DetectorResult(0.25)
    monkeypatch.setitem(sys.modules, "tests_plugin_target", module)
    monkeypatch.setattr(plugins, "_entry_points", lambda: {"third_party": entry})
    assert "third_party" in plugins.available_detectors()
    assert plugins.run_detector("third_party", _Image()).score == 0.25
    broken = metadata.EntryPoint(name="broken", value="no_such_module_xyz:detect", group=plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: {"broken": broken})
    with pytest.raises(ModelError, match="failed to load"):
        plugins.get_detector("broken")


def test_public_names_resolve():
    import nii.learn

    assert set(nii.learn.__all__) == {
        "DetectorResult", "ScoredRegion", "ModelError", "register_detector", "get_detector", "run_detector",
        "available_detectors", "roc_auc", "roc_curve", "detection_rate_at_far", "mean_average_precision_50",
        "material_class_accuracy", "cargo_mass_error", "ScanDataset", "load_model", "load_detector",
        "export_coco", "run_bench",
    }
    for name in ("DetectorResult", "register_detector", "roc_auc", "run_bench"):
        assert getattr(nii.learn, name) is not None
    with pytest.raises(AttributeError):
        nii.learn.not_a_name  # noqa: B018


def test_plugins_and_bench_do_not_import_torch():
    code = ("import sys, nii, nii.learn, nii.learn.plugins, nii.learn.metrics, nii.learn.bench; "
            "print('torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def _oracle(image, material_map):
    """Knows the truth: returns the threat boxes (test-only, via the sample's mask)."""
    from scipy import ndimage

    mask = image.mask
    regions = [{"bbox": [w[0].start, w[1].start, w[0].stop, w[1].stop], "score": 0.9} for w in ndimage.find_objects(ndimage.label(mask)[0])]
    return {"score": float(mask.any()), "regions": regions}


def test_bench_runs_a_registered_detector(tmp_path):
    pytest.importorskip("torch")
    from test_learn_dataset import write_fake_scan

    from nii.cli import main

    scans = tmp_path / "scans"
    scans.mkdir()
    for index in range(6):
        write_fake_scan(scans, f"S{index}", threat=index % 2 == 0, seed=index)
    plugins.register_detector("oracle", _oracle)
    plugins.register_detector("constant", lambda image, material_map: {"score": 0.5})
    out = tmp_path / "out"
    status = main(["bench", "--scans", str(scans), "--out", str(out), "--no-physics", "--models", "oracle", "constant", "nope"])
    assert status == 0
    report = json.loads((out / "bench.json").read_text())
    assert report["scans"] == 6 and report["positives"] == 3
    oracle, constant = report["detectors"]["oracle"], report["detectors"]["constant"]
    assert oracle["roc_auc"] == 1.0 and oracle["map50"] == 1.0 and oracle["detection_rate_far_1pct"] == 1.0
    assert constant["roc_auc"] == 0.5 and constant["map50"] == 0.0
    assert "no detector named 'nope'" in report["errors"]["nope"][0]
    assert 0.0 <= report["material_classes"]["accuracy"] <= 1.0
    markdown = (out / "bench.md").read_text()
    assert "| oracle | 1.000 | 100.0 % | 100.0 % | 1.000 |" in markdown
    assert oracle["per_threat"]["5pct"]["lead_block"] == {"detection_rate": 1.0, "positives": 3, "threshold": 1.0}
    assert constant["per_threat"]["1pct"]["lead_block"]["detection_rate"] == 0.0  # ties with the clean scans
    assert report["far_resolution"]["allowed"] == {"1pct": 0, "5pct": 0}
    assert "With 3 clean scans" in markdown and "| lead_block (3) | 100.0 % | 0.0 % |" in markdown
    png = (out / "roc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(out / "roc.png") as picture:
        pixels = np.asarray(picture.convert("RGB"))
    assert (np.abs(pixels.astype(int) - (31, 119, 180)).sum(axis=-1) == 0).sum() > 100  # the first curve is drawn


def test_cards_get_the_held_out_section_and_comparison(tmp_path):
    from nii.learn.bench import (
        CARD_BEGIN,
        CARD_END,
        BenchReport,
        comparison_sentence,
        update_model_cards,
    )

    def figures(lead5, lead1, drugs5, drugs1):
        return {"roc_auc": 0.9, "detection_rate_far_1pct": 0.5, "detection_rate_far_5pct": 0.6, "map50": 0.3,
                "seconds_per_scan": 0.01,
                "per_threat": {"1pct": {"lead": {"detection_rate": lead1, "positives": 4, "threshold": 0.9},
                                        "drugs": {"detection_rate": drugs1, "positives": 4, "threshold": 0.9}},
                               "5pct": {"lead": {"detection_rate": lead5, "positives": 4, "threshold": 0.8},
                                        "drugs": {"detection_rate": drugs5, "positives": 4, "threshold": 0.8}}}}

    report = BenchReport(suite="s", scans=108, positives=8, material=None, cargo_mass=None, errors={},
                         detectors={"physics": figures(0.5, 0.25, 0.5, 0.25), "mine": figures(1.0, 0.75, 0.25, 0.0),
                                    "weak": figures(0.25, 0.0, 0.5, 0.25)})
    assert comparison_sentence(report, "mine").startswith("On s, mine beats the physics checks at equal false alarms on lead (100 % vs 50 % at 5 % FAR")
    assert "worse on drugs" in comparison_sentence(report, "mine")
    assert "does not beat the physics checks on any threat type" in comparison_sentence(report, "weak")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "MODEL_CARD.md").write_text(f"# mine\n\ntext\n\n{CARD_BEGIN}\nold\n{CARD_END}\n\n## After\n")
    (folder / "config.json").write_text(json.dumps({"kind": "segmenter"}))
    for _ in range(2):  # replacing the section twice leaves one section
        assert update_model_cards(report, "nii bench --suite s --out o", root=tmp_path) == [folder / "MODEL_CARD.md"]
    card = (folder / "MODEL_CARD.md").read_text()
    assert card.count(CARD_BEGIN) == 1 and "old" not in card and card.endswith("## After\n")
    assert "| lead (4) | 75.0 % | 100.0 % | 25.0 % | 50.0 % |" in card and "With 100 clean scans" in card
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "segmenter" and config["held_out"]["comparison"] == comparison_sentence(report, "mine")


def test_comparison_uses_a_paired_test_at_equal_false_alarms():
    from nii.learn.bench import BenchReport, comparison_sentence, paired_p_value

    # 8 lead scans: "mine" catches all 8, physics catches 1 of them → b = 7, c = 0, p = 1/128
    groups = {f"L{i}": "lead" for i in range(8)} | {f"D{i}": "drugs" for i in range(4)}
    mine = {f"L{i}": 0.9 for i in range(8)} | {"D0": 0.9, "D1": 0.9, "D2": 0.1, "D3": 0.1}
    physics = {f"L{i}": (0.9 if i == 0 else 0.1) for i in range(8)} | {"D0": 0.9, "D1": 0.1, "D2": 0.1, "D3": 0.1}

    def figures(scores):
        per = {g: {"detection_rate": float(np.mean([scores[s] >= 0.5 for s in groups if groups[s] == g])),
                   "positives": sum(1 for s in groups if groups[s] == g), "threshold": 0.5} for g in ("drugs", "lead")}
        return {"scores": scores, "threshold_far_5pct": 0.5, "threshold_far_1pct": 0.5,
                "per_threat": {"1pct": per, "5pct": per}}

    report = BenchReport(suite="s", scans=12, positives=12, material=None, cargo_mass=None, errors={},
                         detectors={"physics": figures(physics), "mine": figures(mine)}, groups=groups)
    assert paired_p_value(report, "mine", "physics", "lead") == pytest.approx(1 / 128)
    assert paired_p_value(report, "mine", "physics", "drugs") == pytest.approx(0.5)   # b = 1, c = 0
    assert paired_p_value(report, "physics", "mine", "lead") == 1.0                  # b = 0
    sentence = comparison_sentence(report, "mine")
    assert "beats the physics checks at equal false alarms on lead (100 % vs 12 % at 5 % FAR" in sentence
    assert "p = 0.008" in sentence and "ahead within the noise (p ≥ 0.05) on drugs (50 % vs 25 %" in sentence


def test_operating_point_travels_with_the_result():
    def cautious(image, material_map):
        return DetectorResult(0.6, threshold=0.7)

    result = plugins.run_detector(cautious, _Image())
    assert result.threshold == 0.7 and not result.alarm
    assert plugins.run_detector(lambda image, material_map: {"score": 0.6}, _Image()).alarm  # default 0.5
    with pytest.raises(ModelError, match="threshold"):
        plugins.as_result({"score": 0.5, "threshold": float("inf")})
