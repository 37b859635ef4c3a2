"""``nii export coco``: a COCO data set that torchvision and pycocotools read as they are."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from nii.cli import main  # noqa: E402
from nii.errors import NiiError  # noqa: E402
from nii.learn.coco import CATEGORY_IDS, coco_categories, export_coco, read_coco_attenuation  # noqa: E402
from nii.learn.metrics import box_iou, merge_duplicate_boxes  # noqa: E402
from nii.learn.sample import ScanSample  # noqa: E402
from nii.reasons import REASON_CODES  # noqa: E402

# Three scans of the learn-bench suite (64 channels, as the zoo models see them): a clean
# one, a lead block, and a shielded source whose truth lists the source twice (as high_z
# and as the unreadable area it causes).
SCANS = ["clean-03-none-r0", "threat-08-lead-block-r0", "threat-03-shielded-source-r0"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sims")
    assert main(["simulate", "--suite", "learn-bench", "--only", *SCANS, "--out", str(folder), "--quiet"]) == 0
    return folder


@pytest.fixture(scope="module")
def exported(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("coco")
    assert main(["export", "coco", str(simulated), "--out", str(out), "--quiet"]) == 0
    return out


def _truth_boxes(simulated, scan_id):
    truth = json.loads((simulated / f"{scan_id}.truth.json").read_text())
    return [region["bbox"] for region in truth["regions"]]


def test_torchvision_coco_detection_reads_every_image(exported):
    datasets = pytest.importorskip("torchvision.datasets")
    pytest.importorskip("pycocotools")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        dataset = datasets.CocoDetection(str(exported), str(exported / "annotations.json"))
    document = json.loads((exported / "annotations.json").read_text())
    assert len(dataset) == len(document["images"]) == len(SCANS)
    for index in range(len(dataset)):
        image, target = dataset[index]
        entry = document["images"][index]
        assert image.size == (entry["width"], entry["height"]) and image.mode == "RGB"
        pixels = np.asarray(image)
        assert pixels.std() > 0  # a picture, not a blank or clipped frame
        assert all(annotation["image_id"] == entry["id"] for annotation in target)
        # the 16-bit images of the same entry give α back to 1/4000
        high, low = read_coco_attenuation(exported, entry)
        assert high.shape == low.shape == (entry["height"], entry["width"])
        assert np.all(np.isfinite(high)) and float(high.max()) > 1.0
        np.testing.assert_allclose(pixels[..., 0], np.clip(np.rint(np.clip(high, 0, 10) * 25.5), 0, 255), atol=1)


def test_the_16_bit_energy_images_are_plain_grayscale_pngs(exported):
    from PIL import Image

    document = json.loads((exported / "annotations.json").read_text())
    entry = document["images"][1]
    high, low = read_coco_attenuation(exported, entry)
    for plane, alpha in zip(entry["energies"], (high, low), strict=True):
        with Image.open(exported / plane["file_name"]) as picture:
            assert picture.format == "PNG" and picture.mode == "I;16"
            counts = np.asarray(picture).astype(np.float32)
        np.testing.assert_allclose(counts / entry["attenuation_scale"] - entry["attenuation_offset"], alpha, atol=1e-6)
    assert [plane["energy_mev"] for plane in entry["energies"]] == [6.0, 3.0]


def test_the_documented_dual_energy_loader_works(exported):
    datasets = pytest.importorskip("torchvision.datasets")
    pytest.importorskip("pycocotools")

    class DualEnergyCoco(datasets.CocoDetection):  # as in docs/coco-export.md
        def _load_image(self, id):
            high, low = read_coco_attenuation(self.root, self.coco.loadImgs(id)[0])
            return np.stack([high, low])

    with contextlib.redirect_stdout(io.StringIO()):
        dataset = DualEnergyCoco(str(exported), str(exported / "annotations.json"))
    planes, target = dataset[1]
    entry = json.loads((exported / "annotations.json").read_text())["images"][1]
    assert planes.shape == (2, entry["height"], entry["width"]) and planes.dtype == np.float32
    assert float(planes[1].max()) > float(planes[0].max())  # α_L > α_H through dense matter


def test_pycocotools_ground_truth_against_itself_is_perfect(exported):
    coco_module = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco_module.COCO(str(exported / "annotations.json"))
        detections = [dict(annotation, score=1.0) for annotation in truth.dataset["annotations"]]
        assert detections, "the threat scans have boxes"
        evaluation = cocoeval.COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.params.areaRng = [[0, 1e10]] * 4  # small boxes count in every area range
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)  # AP @ IoU 0.50:0.95
    assert evaluation.stats[1] == pytest.approx(1.0)  # AP @ IoU 0.50


def test_duplicate_truth_boxes_are_merged_as_the_bench_merges_them(simulated, exported):
    document = json.loads((exported / "annotations.json").read_text())
    for entry in document["images"]:
        boxes = [a["bbox"] for a in document["annotations"] if a["image_id"] == entry["id"]]
        expected = merge_duplicate_boxes(_truth_boxes(simulated, entry["scan_id"]))
        assert len(boxes) == len(expected)
        as_rows = np.array([[y, x, y + h, x + w] for x, y, w, h in boxes], dtype=float).reshape(-1, 4)
        np.testing.assert_array_equal(as_rows, expected)
        overlap = box_iou(as_rows, as_rows) - np.eye(len(as_rows))
        assert not np.any(overlap >= 0.5), f"{entry['scan_id']}: duplicate boxes exported"


def test_a_box_listed_twice_is_exported_once_with_the_first_reason(tmp_path):
    sample = ScanSample(
        scan_id="twice", attenuation_high=np.ones((16, 16), np.float32), attenuation_low=np.ones((16, 16), np.float32),
        boxes=np.array([[2, 3, 6, 8], [2, 3, 6, 7], [10, 10, 12, 12]]),
        box_reasons=["UNDECLARED_HIGH_Z", "UNREADABLE_REGION", "CONCEALMENT_ANOMALY"],
        box_materials=["", "impenetrable", "organic"], label=1,
    )
    document = json.loads(export_coco([sample], tmp_path).read_text())
    annotations = document["annotations"]
    assert [a["bbox"] for a in annotations] == [[3, 2, 5, 4], [10, 10, 2, 2]]
    assert [a["category_id"] for a in annotations] == [CATEGORY_IDS["UNDECLARED_HIGH_Z"], CATEGORY_IDS["CONCEALMENT_ANOMALY"]]
    assert annotations[0]["material"] == "impenetrable" and annotations[0]["merged_from"] == 2


def test_category_ids_are_the_same_in_every_export(simulated, exported, tmp_path):
    import shutil

    # a second export of one of the scans only: same categories, same id for its box
    alone = tmp_path / "alone"
    alone.mkdir()
    for path in simulated.glob(f"{SCANS[1]}.*"):
        if not path.name.endswith(".analysed.npz"):
            shutil.copy2(path, alone / path.name)
    assert main(["export", "coco", str(alone), "--out", str(tmp_path / "second"), "-q"]) == 0
    first = json.loads((exported / "annotations.json").read_text())
    second = json.loads((tmp_path / "second" / "annotations.json").read_text())
    assert first["categories"] == second["categories"] == coco_categories()
    id_in_first = {a["category_id"] for a in first["annotations"]
                   if a["image_id"] == next(i["id"] for i in first["images"] if i["scan_id"] == SCANS[1])}
    assert id_in_first == {a["category_id"] for a in second["annotations"]} == {CATEGORY_IDS["UNDECLARED_HIGH_Z"]}
    # an export of a clean scan (no box at all) still lists every category with the same ids
    clean = ScanSample(scan_id="clean", attenuation_high=np.zeros((8, 8), np.float32),
                       attenuation_low=np.zeros((8, 8), np.float32))
    lone = json.loads(export_coco([clean], tmp_path / "lone").read_text())
    assert lone["categories"] == first["categories"]
    assert {c["name"]: c["id"] for c in first["categories"]} == {code: CATEGORY_IDS[code] for code in REASON_CODES}


def test_every_reason_code_has_a_fixed_id_and_ids_never_repeat():
    assert set(REASON_CODES) <= set(CATEGORY_IDS), "give a new reason code the next free id in CATEGORY_IDS"
    assert len(set(CATEGORY_IDS.values())) == len(CATEGORY_IDS)
    # the ids given so far (changing one would renumber every export made before)
    assert CATEGORY_IDS["UNDECLARED_HIGH_Z"] == 4 and CATEGORY_IDS["UNREADABLE_REGION"] == 7


def test_unknown_reason_codes_are_refused(tmp_path, monkeypatch):
    sample = ScanSample(scan_id="odd", attenuation_high=np.ones((8, 8), np.float32),
                        attenuation_low=np.ones((8, 8), np.float32), boxes=np.array([[1, 1, 3, 3]]),
                        box_reasons=["NOT_A_CODE"], label=1)
    with pytest.raises(NiiError, match="NOT_A_CODE"):
        export_coco([sample], tmp_path)
    import nii.reasons

    monkeypatch.setattr(nii.reasons, "REASON_CODES", (*REASON_CODES, "BRAND_NEW_CODE"))
    with pytest.raises(NiiError, match="BRAND_NEW_CODE.*CATEGORY_IDS"):
        coco_categories()


def test_export_of_a_folder_without_scans_exits_2(tmp_path, capsys):
    assert main(["export", "coco", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no SCAN.nxr" in capsys.readouterr().err
