"""nii.learn.dataset, sample and coco against the ground truth they are built from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from nii.errors import NiiError  # noqa: E402
from nii.learn import dataset as ds  # noqa: E402
from nii.learn.coco import export_coco, read_coco_attenuation  # noqa: E402
from nii.learn.sample import ScanSample, clip_boxes  # noqa: E402
from nii.learn.synthetic import synthetic_sample, synthetic_samples  # noqa: E402


def write_fake_scan(folder: Path, scan_id: str, *, threat: bool, seed: int = 0, rows: int = 32, cols: int = 64,
                    threat_type: str | None = None) -> ScanSample:
    """Write a scan folder entry as ``nii simulate`` would, with the analysed cache already filled.

    The NXR is a placeholder: the valid cache (same size and mtime key) means the
    correction chain is never called, so the test checks the truth parsing and cache use.
    """
    sample = synthetic_sample(np.random.default_rng(seed), rows=rows, cols=cols, threat=threat, scan_id=scan_id)
    nxr = folder / f"{scan_id}.nxr"
    nxr.write_bytes(b"NXRSCAN1 placeholder")
    truth = {
        "scan_id": scan_id, "kind": "object", "expected_verdict": "inspect" if threat else "clear",
        "expected_reasons": sample.reasons,
        "regions": [{"bbox": box, "bbox_mm": [0, 0, 1, 1], "reason": reason, "material": material}
                    for box, reason, material in zip(sample.boxes.tolist(), sample.box_reasons, sample.box_materials, strict=True)],
        "cargo_mass_kg": sample.cargo_mass_kg,
        "scenario": {"threat": threat_type or ("lead_block" if threat else "none")},
    }
    (folder / f"{scan_id}.truth.json").write_text(json.dumps(truth))
    np.savez(folder / f"{scan_id}.truth.npz", classes=sample.truth_classes, zeff=sample.truth_zeff)
    (folder / f"{scan_id}.manifest.json").write_text(json.dumps({"container_id": "X", "iso_type": "22G1", "items": []}))
    np.savez(nxr.with_suffix(ds.CACHE_SUFFIX), cache_key=np.asarray(ds._cache_key(nxr)),
             attenuation_high=sample.attenuation_high, attenuation_low=sample.attenuation_low,
             sigma_high=sample.sigma_high, sigma_low=sample.sigma_low, position_mm=sample.position_mm,
             row_height_mm=np.asarray(sample.row_height_mm), zeff=sample.zeff, classes=sample.classes,
             areal_density_g_cm2=sample.areal_density_g_cm2)
    return sample


def test_synthetic_sample_truth_is_consistent():
    sample = synthetic_sample(np.random.default_rng(1), rows=48, cols=96, threat=True)
    assert sample.label == 1 and len(sample.boxes) == 1
    row0, col0, row1, col1 = sample.boxes[0]
    assert 0 <= row0 < row1 <= 48 and 0 <= col0 < col1 <= 96
    assert sample.mask.sum() == (row1 - row0) * (col1 - col0)
    assert set(np.unique(sample.truth_classes[row0:row1, col0:col1])) <= {3, 4}
    clean = synthetic_sample(np.random.default_rng(1), rows=48, cols=96, threat=False)
    assert clean.label == 0 and len(clean.boxes) == 0 and clean.mask.sum() == 0
    assert clean.cargo_mass_kg > 0


def test_clip_boxes_keeps_visible_part():
    keep, clipped = clip_boxes([[0, 0, 10, 10], [8, 8, 20, 20], [30, 30, 40, 40]], (5, 5, 25, 25), 0.3)
    assert keep.tolist() == [1]  # the first keeps 25 % of its area, the third none
    assert clipped.tolist() == [[8, 8, 20, 20]]
    keep, clipped = clip_boxes([[0, 0, 10, 10]], (5, 5, 25, 25), 0.2)
    assert clipped.tolist() == [[5, 5, 10, 10]]


def test_sample_rejects_mismatched_shapes():
    with pytest.raises(NiiError, match="attenuation"):
        ScanSample("x", np.zeros((4, 5), np.float32), np.zeros((4, 6), np.float32))
    with pytest.raises(NiiError, match="sigma_high"):
        ScanSample("x", np.zeros((4, 5), np.float32), np.zeros((4, 5), np.float32), sigma_high=np.zeros((5, 5)))


def test_load_directory_reads_truth_and_cache(tmp_path):
    expected = {
        "A-threat": write_fake_scan(tmp_path, "A-threat", threat=True, seed=1),
        "B-clean": write_fake_scan(tmp_path, "B-clean", threat=False, seed=2),
    }
    (tmp_path / "wedge.nxr").write_bytes(b"x")
    (tmp_path / "wedge.truth.json").write_text(json.dumps({"kind": "calibration", "expected_verdict": None}))
    samples = ds.load_scan_directory(tmp_path)
    assert [s.scan_id for s in samples] == ["A-threat", "B-clean"]  # the wedge has no verdict: skipped
    for sample in samples:
        truth = expected[sample.scan_id]
        np.testing.assert_array_equal(sample.attenuation_high, truth.attenuation_high)
        np.testing.assert_array_equal(sample.boxes, truth.boxes)
        np.testing.assert_array_equal(sample.truth_classes, truth.truth_classes)
        np.testing.assert_array_equal(sample.mask, truth.mask)
        assert sample.label == truth.label and sample.box_materials == truth.box_materials
        assert sample.cargo_mass_kg == pytest.approx(truth.cargo_mass_kg)
        assert sample.nxr_path.endswith(f"{sample.scan_id}.nxr")
        assert sample.threat == ("lead_block" if sample.label else "none")


def test_threat_type_falls_back_to_regions_then_none():
    assert ds._threat_type({"scenario": {"threat": "drug_bricks"}, "regions": [{"threat": "lead_block"}]}) == "drug_bricks"
    assert ds._threat_type({"scenario": {"threat": None}, "regions": [{"bbox": [0, 0, 1, 1]}, {"threat": "steel_box"}]}) == "steel_box"
    assert ds._threat_type({"regions": []}) == "none"


def test_load_directory_errors(tmp_path):
    with pytest.raises(NiiError, match="no SCAN.nxr"):
        ds.load_scan_directory(tmp_path)
    write_fake_scan(tmp_path, "S", threat=True)
    truth = json.loads((tmp_path / "S.truth.json").read_text())
    truth["regions"][0]["bbox"] = [1, 2, 3]
    (tmp_path / "S.truth.json").write_text(json.dumps(truth))
    with pytest.raises(NiiError, match=r"regions\[0\].bbox"):
        ds.load_scan_directory(tmp_path)
    with pytest.raises(NiiError, match="not a folder"):
        ds.find_scans(tmp_path / "missing")


def test_whole_scan_items_match_truth():
    samples = synthetic_samples(4, seed=5, rows=32, cols=64)
    dataset = ds.ScanDataset(samples, mode="scan", feature_set="alpha_material")
    assert len(dataset) == 4
    for index, sample in enumerate(samples):
        features, target = dataset[index]
        assert tuple(features.shape) == (5, 32, 64)
        np.testing.assert_allclose(features[0].numpy(), sample.attenuation_high / 5.0, rtol=1e-6)
        np.testing.assert_array_equal(target["boxes"].numpy(), sample.boxes)
        assert float(target["mask"].sum()) == float(sample.mask.sum())
        assert int(target["label"]) == sample.label


def test_tiled_patches_cover_the_image_and_keep_boxes():
    sample = synthetic_sample(np.random.default_rng(7), rows=40, cols=100, threat=True)
    dataset = ds.ScanDataset([sample], mode="tiled", patch_size=(32, 32), stride=(32, 32), min_visible=0.0)
    origins = {dataset[i][1]["origin"] for i in range(len(dataset))}
    # rows: 0 and 8 (edge-aligned); columns: 0, 32, 64 and 68.
    assert origins == {(r, c) for r in (0, 8) for c in (0, 32, 64, 68)}
    for index in range(len(dataset)):
        _, target = dataset[index]
        r, c = target["origin"]
        window_mask = sample.mask[r:r + 32, c:c + 32]
        np.testing.assert_array_equal(target["mask"].numpy(), window_mask)
        drawn = np.zeros((32, 32))
        for row0, col0, row1, col1 in target["boxes"].numpy().astype(int):
            drawn[row0:row1, col0:col1] = 1
        np.testing.assert_array_equal(drawn, window_mask)  # boxes clipped to the tile = truth inside it


def test_random_patches_centre_on_threats():
    samples = synthetic_samples(3, seed=2, threat_fraction=1.0, rows=48, cols=128)
    dataset = ds.ScanDataset(samples, mode="random", patch_size=(32, 32), patches_per_scan=5, positive_fraction=1.0)
    assert len(dataset) == 15
    assert all(len(dataset[i][1]["boxes"]) >= 1 for i in range(len(dataset)))
    epoch0 = [dataset[i][1]["origin"] for i in range(15)]
    assert [dataset[i][1]["origin"] for i in range(15)] == epoch0  # same epoch, same patches
    dataset.set_epoch(1)
    assert [dataset[i][1]["origin"] for i in range(15)] != epoch0


def test_augment_flip_moves_boxes_with_the_image():
    sample = synthetic_sample(np.random.default_rng(3), rows=32, cols=64, threat=True)
    flipped = ds.Augment(flip_columns=1.0, max_shift_px=0, dose_fraction=(1.0, 1.0))(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped.attenuation_high, sample.attenuation_high[:, ::-1])
    drawn = np.zeros(sample.shape, dtype=np.uint8)
    for row0, col0, row1, col1 in flipped.boxes:
        drawn[row0:row1, col0:col1] = 1
    np.testing.assert_array_equal(drawn, flipped.mask)


def test_augment_noise_is_that_of_a_lower_dose_and_keeps_the_mean():
    rows, cols = 64, 256
    alpha = np.full((rows, cols), 2.0, np.float32)
    sigma = np.full((rows, cols), 0.01, np.float32)
    sample = ScanSample("n", alpha, alpha * 1.3, sigma_high=sigma, sigma_low=sigma * 2)
    noisy = ds.Augment(flip_columns=0.0, max_shift_px=0, dose_fraction=(0.25, 0.25))(sample, np.random.default_rng(1))
    added = noisy.attenuation_high - alpha
    assert added.std() == pytest.approx(0.01 * np.sqrt(3.0), rel=0.05)  # σ √(1/f − 1)
    assert abs(added.mean()) < 1e-3  # no intensity shift: α, and so the material, unchanged
    assert (noisy.attenuation_low - alpha * 1.3).std() == pytest.approx(0.02 * np.sqrt(3.0), rel=0.05)
    np.testing.assert_allclose(noisy.sigma_high, 0.02)  # σ at dose 1/4 is twice σ


def test_augment_shift_moves_boxes():
    sample = synthetic_sample(np.random.default_rng(4), rows=32, cols=64, threat=True)
    shifted = ds.Augment(flip_columns=0.0, max_shift_px=3, dose_fraction=(1.0, 1.0))(sample, np.random.default_rng(9))
    drawn = np.zeros(sample.shape, dtype=np.uint8)
    for row0, col0, row1, col1 in shifted.boxes:
        drawn[row0:row1, col0:col1] = 1
    np.testing.assert_array_equal(drawn, shifted.mask)


def test_dataset_rejects_bad_arguments():
    samples = synthetic_samples(1, seed=0, rows=16, cols=16)
    with pytest.raises(NiiError, match="mode"):
        ds.ScanDataset(samples, mode="bogus")
    with pytest.raises(NiiError, match="no scans"):
        ds.ScanDataset([])
    with pytest.raises(NiiError, match="feature set"):
        ds.ScanDataset(samples, feature_set="rgb")[0]


def test_coco_export_round_trip(tmp_path):
    from nii.learn.metrics import merge_duplicate_box_groups

    samples = synthetic_samples(3, seed=4, rows=24, cols=48, threat_fraction=0.67)
    path = export_coco(samples, tmp_path)
    document = json.loads(path.read_text())
    assert len(document["images"]) == 3
    assert len(document["annotations"]) == sum(len(merge_duplicate_box_groups(s.boxes)) for s in samples)
    names = {c["id"]: c["name"] for c in document["categories"]}
    for image, sample in zip(document["images"], samples, strict=True):
        high, low = read_coco_attenuation(tmp_path, image)
        np.testing.assert_allclose(high, np.clip(sample.attenuation_high, -0.5, None), atol=1 / 8000 + 1e-6)
        np.testing.assert_allclose(low, np.clip(sample.attenuation_low, -0.5, None), atol=1 / 8000 + 1e-6)
        annotations = [a for a in document["annotations"] if a["image_id"] == image["id"]]
        groups = merge_duplicate_box_groups(sample.boxes)
        for annotation, (box, members) in zip(annotations, groups, strict=True):
            row0, col0, row1, col1 = (int(v) for v in box)
            assert annotation["bbox"] == [col0, row0, col1 - col0, row1 - row0]  # COCO: x, y, w, h
            assert names[annotation["category_id"]] == sample.box_reasons[members[0]]
    pycocotools = pytest.importorskip("pycocotools.coco")
    coco = pycocotools.COCO(str(path))
    assert len(coco.getAnnIds()) == len(document["annotations"])


def test_real_simulated_scan_is_corrected_once_and_cached(tmp_path, monkeypatch):
    pytest.importorskip("nii.simulate.run")
    from nii.cli import main

    status = main(["simulate", "--container", "20ft", "--cargo", "61", "--threat", "lead-block",
                   "--channels", "32", "--pulses", "240", "--seed", "3", "--out", str(tmp_path), "--no-progress"])
    assert status == 0
    nxr = next(tmp_path.glob("*.nxr"))
    sample = ds.load_scan_sample(nxr)
    truth = json.loads(nxr.with_suffix(".truth.json").read_text())
    assert sample.label == int(truth["expected_verdict"] == "inspect")
    assert sample.boxes.tolist() == [r["bbox"] for r in truth["regions"]]
    assert sample.truth_classes.shape == sample.attenuation_high.shape == sample.classes.shape
    assert nxr.with_suffix(ds.CACHE_SUFFIX).is_file()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(ds, "_analyse", must_not_run)
    again = ds.load_scan_sample(nxr)
    np.testing.assert_array_equal(again.attenuation_high, sample.attenuation_high)
    nxr.touch()  # a changed scan invalidates the cache
    with pytest.raises(AssertionError, match="cache"):
        ds.load_scan_sample(nxr)


def test_corrupt_cache_is_recomputed(tmp_path, monkeypatch):
    write_fake_scan(tmp_path, "C", threat=False)
    nxr = tmp_path / "C.nxr"
    nxr.with_suffix(ds.CACHE_SUFFIX).write_bytes(b"PK\x03\x04 not a zip")
    calls = []

    def analyse(path, calibration):
        calls.append(path)
        sample = synthetic_sample(np.random.default_rng(0), rows=32, cols=64, threat=False)
        return {"attenuation_high": sample.attenuation_high, "attenuation_low": sample.attenuation_low}

    monkeypatch.setattr(ds, "_analyse", analyse)
    sample = ds.load_scan_sample(nxr)
    assert calls == [nxr] and sample.shape == (32, 64)
    ds.load_scan_sample(nxr)
    assert len(calls) == 1  # rewritten cache used the second time
