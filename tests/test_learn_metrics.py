"""Metrics of nii.learn.metrics against hand-computed cases."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nii.errors import NiiError
from nii.learn import metrics


def test_roc_curve_hand_case():
    fpr, tpr, thresholds = metrics.roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thresholds[0] == np.inf and thresholds[1:].tolist() == [0.8, 0.4, 0.35, 0.1]


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),   # one of four pairs misordered
        ([0.2, 0.9], [0, 1], 1.0),
        ([0.9, 0.2], [0, 1], 0.0),
        ([0.5, 0.5], [1, 0], 0.5),                     # a tie counts one half
        ([0.3, 0.5, 0.5, 0.7], [0, 1, 0, 1], 0.875),   # 3.5 of 4 pairs
    ],
)
def test_roc_auc_hand_cases(scores, labels, expected):
    assert metrics.roc_auc(scores, labels) == pytest.approx(expected)


def test_roc_auc_equals_pairwise_probability():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, size=60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    positives, negatives = scores[labels], scores[~labels]
    pairwise = ((positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum())
    assert metrics.roc_auc(scores, labels) == pytest.approx(pairwise / (positives.size * negatives.size))


def test_detection_rate_at_far_hand_case():
    negatives = np.arange(20, dtype=float)            # 0 … 19
    positives = np.array([19.5, 18.5, 5.0])
    scores = np.r_[negatives, positives]
    labels = np.r_[np.zeros(20), np.ones(3)]
    # 5 %: one false alarm of 20 allowed → threshold 18.5 catches 19.5 and 18.5.
    rate, threshold = metrics.detection_rate_at_far(scores, labels, 0.05)
    assert rate == pytest.approx(2 / 3) and threshold == 18.5
    # 1 %: no false alarm allowed → only 19.5.
    rate, threshold = metrics.detection_rate_at_far(scores, labels, 0.01)
    assert rate == pytest.approx(1 / 3) and threshold == 19.5
    assert metrics.detection_rate_at_far(scores, labels, 1.0)[0] == 1.0


def test_detection_rate_by_group_uses_one_threshold_for_all_threats():
    negatives = np.arange(20, dtype=float)                 # 0 … 19
    lead = np.array([19.5, 18.5, 5.0])                     # caught at 5 %: 19.5, 18.5; at 1 %: 19.5
    drugs = np.array([18.7, 3.0])                          # caught at 5 %: 18.7; at 1 %: none
    scores = np.r_[negatives, lead, drugs]
    labels = np.r_[np.zeros(20), np.ones(5)]
    groups = ["none"] * 20 + ["lead"] * 3 + ["drugs"] * 2
    at5 = metrics.detection_rate_by_group(scores, labels, groups, 0.05)
    assert list(at5) == ["drugs", "lead"]                  # positives only, sorted
    assert at5["lead"] == {"detection_rate": pytest.approx(2 / 3), "positives": 3, "threshold": 18.5}
    assert at5["drugs"]["detection_rate"] == 0.5 and at5["drugs"]["positives"] == 2
    at1 = metrics.detection_rate_by_group(scores, labels, groups, 0.01)
    assert at1["lead"]["detection_rate"] == pytest.approx(1 / 3) and at1["drugs"]["detection_rate"] == 0.0
    # the overall rate is the positives-weighted mean of the groups
    overall, _ = metrics.detection_rate_at_far(scores, labels, 0.05)
    assert overall == pytest.approx((2 + 1) / 5)
    with pytest.raises(NiiError, match="groups"):
        metrics.detection_rate_by_group(scores, labels, groups[:-1], 0.05)


def test_detection_rate_when_top_score_is_negative():
    rate, threshold = metrics.detection_rate_at_far([0.9, 0.5, 0.4], [0, 1, 1], 0.0)
    assert rate == 0.0 and threshold == np.inf


def test_box_iou_hand_case():
    iou = metrics.box_iou([[0, 0, 10, 10], [0, 0, 2, 2]], [[0, 5, 10, 15], [20, 20, 30, 30]])
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == 0.0 and iou[1, 0] == 0.0


def test_merge_duplicate_boxes():
    merged = metrics.merge_duplicate_boxes([[19, 17, 22, 23], [0, 0, 2, 2], [19, 18, 22, 23], [19, 17, 22, 24]])
    assert merged.tolist() == [[19, 17, 22, 24], [0, 0, 2, 2]]
    assert metrics.merge_duplicate_boxes([[0, 0, 10, 10], [0, 5, 10, 15]]).shape == (2, 4)  # IoU 1/3: two objects
    assert metrics.merge_duplicate_boxes(np.zeros((0, 4))).shape == (0, 4)


def test_map50_hand_cases():
    pred = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "scores": [0.9, 0.8]}]
    true = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]]}]
    # recall reaches 0.5 at precision 1, never more: 51 of 101 recall points.
    assert metrics.mean_average_precision_50(pred, true) == pytest.approx(51 / 101)
    # the false positive ranked first: precision 1/2 up to recall 0.5.
    pred[0]["scores"] = [0.7, 0.8]
    assert metrics.mean_average_precision_50(pred, true) == pytest.approx(0.5 * 51 / 101)
    # IoU just below 0.5 is a miss; every box found is 1.
    assert metrics.mean_average_precision_50([{"boxes": [[0, 0, 10, 4]], "scores": [1.0]}],
                                             [{"boxes": [[0, 0, 10, 10]]}]) == 0.0
    perfect = [{"boxes": [[0, 0, 10, 10]], "scores": [0.3]}, {"boxes": [[5, 5, 9, 9]], "scores": [0.2]}]
    assert metrics.mean_average_precision_50(perfect, [{"boxes": [[0, 0, 10, 10]]}, {"boxes": [[5, 5, 9, 9]]}]) == 1.0


def test_map50_duplicate_detection_is_false_positive_and_classes_average():
    pred = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10], [40, 40, 50, 50]], "scores": [0.9, 0.8, 0.7], "labels": [1, 1, 2]}]
    true = [{"boxes": [[0, 0, 10, 10], [40, 40, 50, 50]], "labels": [1, 2]}]
    # class 1: TP then duplicate FP → AP 1; class 2: AP 1.
    assert metrics.mean_average_precision_50(pred, true) == 1.0
    true[0]["labels"] = [1, 3]
    # class 2 detection has no truth; class 3 truth never found → mean(1, 0).
    assert metrics.mean_average_precision_50(pred, true) == pytest.approx(0.5)


@pytest.mark.skipif(importlib.util.find_spec("torchmetrics") is None or importlib.util.find_spec("pycocotools") is None,
                    reason="torchmetrics with pycocotools not installed")
def test_map50_agrees_with_torchmetrics():
    rng = np.random.default_rng(0)
    preds, trues = [], []
    for _ in range(5):
        truth = np.sort(rng.integers(0, 60, size=(3, 2, 2)), axis=1).reshape(3, 4) + [0, 0, 4, 4]
        noisy = truth + rng.integers(-3, 4, size=truth.shape)
        extra = np.array([[70, 70, 80, 80]])
        preds.append({"boxes": np.r_[noisy, extra], "scores": rng.random(4)})
        trues.append({"boxes": truth})
    ours = metrics.mean_average_precision_50(preds, trues)
    theirs = metrics.mean_average_precision_50(preds, trues, backend="torchmetrics")
    assert 0.0 < ours < 1.0
    assert ours == pytest.approx(theirs, abs=1e-4)


def test_material_accuracy_and_confusion():
    truth = np.array([[1, 1, 3, 3], [0, 0, 4, 4]])
    predicted = np.array([[1, 2, 3, 3], [0, 1, 4, 3]])
    result = metrics.material_class_accuracy(predicted, truth)
    assert result["accuracy"] == pytest.approx(5 / 8)
    assert result["per_class"] == {"none": 0.5, "organic": 0.5, "metal": 1.0, "high_z": 0.5}
    assert result["confusion"][4][3] == 1 and result["pixels"] == 8
    assert metrics.material_class_accuracy(predicted, truth, ignore=(0,))["accuracy"] == pytest.approx(4 / 6)


def test_cargo_mass_error():
    result = metrics.cargo_mass_error([1100.0, 900.0, 50.0, np.nan], [1000.0, 1000.0, 0.0, 10.0])
    assert result["mean_abs_error_kg"] == pytest.approx(250 / 3)
    assert result["mean_abs_relative_error"] == pytest.approx(0.1)
    assert result["bias_relative"] == pytest.approx(0.0)
    assert result["scans"] == 3


def test_bad_inputs_raise_library_errors():
    with pytest.raises(NiiError, match="positives and negatives"):
        metrics.roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(NiiError, match="differ in length"):
        metrics.roc_auc([0.1, 0.2], [1])
    with pytest.raises(NiiError, match="finite"):
        metrics.roc_auc([np.nan, 0.2], [1, 0])
    with pytest.raises(NiiError, match="false_alarm_rate"):
        metrics.detection_rate_at_far([0.1, 0.2], [1, 0], 1.5)
    with pytest.raises(NiiError, match="backend"):
        metrics.mean_average_precision_50([], [], backend="nope")
