"""Benchmark metrics: ROC, detection rate at a false-alarm rate, mAP@0.5, material accuracy, mass error.

Scan-level metrics treat a scan whose ground truth says ``inspect`` as a positive.
Detection metrics follow COCO (101-point interpolated precision, greedy matching of
detections to ground-truth boxes by decreasing score at IoU ≥ 0.5). Boxes are
``(row0, col0, row1, col1)`` half-open pixels of the analysed image.

Only numpy is needed; :func:`mean_average_precision_50` can cross-check itself with
``torchmetrics`` (``backend="torchmetrics"``) when that extra is installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nii.classes import CLASS_NAMES
from nii.errors import NiiError

__all__ = [
    "roc_curve",
    "roc_auc",
    "detection_rate_at_far",
    "detection_rate_by_group",
    "box_iou",
    "merge_duplicate_boxes",
    "merge_duplicate_box_groups",
    "BoxPrediction",
    "BoxTarget",
    "mean_average_precision_50",
    "material_class_accuracy",
    "cargo_mass_error",
]


def _scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    score_array = np.asarray(scores, dtype=np.float64).ravel()
    label_array = np.asarray(labels).astype(bool).ravel()
    if score_array.shape != label_array.shape:
        raise NiiError(f"scores ({score_array.size}) and labels ({label_array.size}) differ in length")
    if not np.all(np.isfinite(score_array)):
        raise NiiError("scores must be finite numbers")
    return score_array, label_array


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the ROC curve of scan scores against binary labels.

    Parameters
    ----------
    scores : array_like of float
        Score of each scan (higher = more suspicious; dimensionless).
    labels : array_like of bool
        True for scans whose ground truth is ``inspect`` (positives).

    Returns
    -------
    false_alarm_rate, detection_rate, thresholds : numpy.ndarray
        One point per distinct score, from (0, 0) at threshold +inf to (1, 1); a scan
        alarms when its score is ``>= threshold``.

    Examples
    --------
    >>> fpr, tpr, _ = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    score_array, label_array = _scores_labels(scores, labels)
    positives, negatives = int(label_array.sum()), int((~label_array).sum())
    if positives == 0 or negatives == 0:
        raise NiiError(f"a ROC curve needs positives and negatives (got {positives} and {negatives})")
    order = np.argsort(-score_array, kind="mergesort")
    sorted_scores, sorted_labels = score_array[order], label_array[order]
    # Last index of each run of equal scores: all tied scans alarm together.
    last_of_run = np.r_[np.nonzero(np.diff(sorted_scores))[0], sorted_scores.size - 1]
    true_alarms = np.cumsum(sorted_labels)[last_of_run]
    false_alarms = (last_of_run + 1) - true_alarms
    fpr = np.r_[0.0, false_alarms / negatives]
    tpr = np.r_[0.0, true_alarms / positives]
    thresholds = np.r_[np.inf, sorted_scores[last_of_run]]
    return fpr, tpr, thresholds


def roc_auc(scores, labels) -> float:
    """Return the area under the ROC curve (ties count one half).

    Parameters
    ----------
    scores : array_like of float
        Scan scores (dimensionless).
    labels : array_like of bool
        True for positives.

    Returns
    -------
    float
        Probability that a random positive scores above a random negative.

    Examples
    --------
    >>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def detection_rate_at_far(scores, labels, false_alarm_rate: float) -> tuple[float, float]:
    """Return the best detection rate whose false-alarm rate does not exceed a target.

    Parameters
    ----------
    scores : array_like of float
        Scan scores (dimensionless).
    labels : array_like of bool
        True for positives.
    false_alarm_rate : float
        Allowed fraction of clean scans that alarm, in [0, 1] (e.g. 0.01 for 1 %).

    Returns
    -------
    detection_rate : float
        Fraction of positives that alarm at the chosen threshold.
    threshold : float
        The score threshold (alarm when ``score >= threshold``); ``inf`` when even
        the strictest threshold exceeds the target.

    Notes
    -----
    With few negatives the achievable false-alarm rates are multiples of
    ``1 / negatives``: with 50 clean scans, 1 % means no false alarm at all.
    """
    if not 0.0 <= false_alarm_rate <= 1.0:
        raise NiiError(f"false_alarm_rate must be in [0, 1], got {false_alarm_rate}")
    fpr, tpr, thresholds = roc_curve(scores, labels)
    allowed = np.nonzero(fpr <= false_alarm_rate + 1e-12)[0]
    best = allowed[-1]  # fpr and tpr grow together: the last allowed point has the highest tpr
    return float(tpr[best]), float(thresholds[best])


def detection_rate_by_group(scores, labels, groups, false_alarm_rate: float) -> dict[str, dict[str, float]]:
    """Return the detection rate of each group of positives at one false-alarm rate of all negatives.

    The threshold is the one of :func:`detection_rate_at_far` on every scan (all
    negatives set the false alarms); each group's detection rate is the fraction of its
    positives scoring at or above it. This is "detection rate at X % false alarms per
    threat type": the same operating point for every threat.

    Parameters
    ----------
    scores : array_like of float
        Scan scores (dimensionless).
    labels : array_like of bool
        True for positives.
    groups : sequence of str
        Group of each scan (e.g. the threat type); only positives are grouped.
    false_alarm_rate : float
        Allowed fraction of negatives that alarm, in [0, 1].

    Returns
    -------
    dict
        Group → ``{"detection_rate": float, "positives": int, "threshold": float}``,
        groups sorted by name.

    Examples
    --------
    >>> figures = detection_rate_by_group([0.9, 0.2, 0.7, 0.1, 0.3], [1, 1, 1, 0, 0], ["a", "a", "b", "none", "none"], 0.0)
    >>> figures["a"]["detection_rate"], figures["b"]["detection_rate"]
    (0.5, 1.0)
    """
    score_array, label_array = _scores_labels(scores, labels)
    group_list = [str(g) for g in groups]
    if len(group_list) != score_array.size:
        raise NiiError(f"groups ({len(group_list)}) and scores ({score_array.size}) differ in length")
    _, threshold = detection_rate_at_far(score_array, label_array, false_alarm_rate)
    result: dict[str, dict[str, float]] = {}
    for name in sorted({g for g, positive in zip(group_list, label_array, strict=True) if positive}):
        members = np.array([g == name for g in group_list]) & label_array
        result[name] = {"detection_rate": float(np.mean(score_array[members] >= threshold)),
                        "positives": int(members.sum()), "threshold": float(threshold)}
    return result


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Return the intersection-over-union matrix of two sets of half-open pixel boxes.

    Parameters
    ----------
    boxes_a, boxes_b : array_like, shape (n, 4) and (m, 4)
        Boxes ``(row0, col0, row1, col1)`` in pixels.

    Returns
    -------
    numpy.ndarray, shape (n, m)
        IoU in [0, 1].

    Examples
    --------
    >>> float(box_iou([[0, 0, 10, 10]], [[0, 5, 10, 15]])[0, 0])
    0.3333333333333333
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def merge_duplicate_boxes(boxes, iou_threshold: float = 0.5) -> np.ndarray:
    """Merge ground-truth boxes that describe one object (IoU ≥ threshold) into their union.

    The simulator's truth may list one object twice (e.g. a lead block as ``high_z``
    and as the ``impenetrable`` area it causes); scoring detections against both would
    count a miss for a detector that found the object once.

    Parameters
    ----------
    boxes : array_like, shape (n, 4)
        ``(row0, col0, row1, col1)`` pixels.
    iou_threshold : float
        Boxes overlapping at least this much (0–1) are merged, transitively.

    Returns
    -------
    numpy.ndarray, shape (m, 4)
        The merged boxes (m ≤ n), in order of first appearance.

    Examples
    --------
    >>> merge_duplicate_boxes([[19, 17, 22, 23], [19, 18, 22, 23], [0, 0, 2, 2]]).tolist()
    [[19.0, 17.0, 22.0, 23.0], [0.0, 0.0, 2.0, 2.0]]
    """
    merged = [box for box, _ in merge_duplicate_box_groups(boxes, iou_threshold)]
    return np.array(merged, dtype=np.float64).reshape(-1, 4)


def merge_duplicate_box_groups(boxes, iou_threshold: float = 0.5) -> list[tuple[list[float], list[int]]]:
    """Merge duplicate boxes as :func:`merge_duplicate_boxes` does and say which boxes went into each.

    Returns
    -------
    list of (box, members)
        The merged box ``[row0, col0, row1, col1]`` (floats) and the indices of the input
        boxes it merges, in order of first appearance (``members[0]`` is the first box of
        the group in the input order).
    """
    groups = [(list(map(float, box)), [index])
              for index, box in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))]
    changed = True
    while changed:
        changed = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if box_iou([groups[i][0]], [groups[j][0]])[0, 0] >= iou_threshold:
                    (a, members_a), (b, members_b) = groups[i], groups.pop(j)
                    groups[i] = ([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])],
                                 sorted(members_a + members_b))
                    changed = True
                    break
            if changed:
                break
    return groups


@dataclass(frozen=True)
class BoxPrediction:
    """Detections of one image: ``boxes`` (n × 4 pixels), ``scores`` (n), ``labels`` (n ints)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class BoxTarget:
    """Ground truth of one image: ``boxes`` (n × 4 pixels) and ``labels`` (n ints)."""

    boxes: np.ndarray
    labels: np.ndarray


def _as_prediction(item) -> BoxPrediction:
    if isinstance(item, BoxPrediction):
        return item
    boxes = np.asarray(item["boxes"], dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(item["scores"], dtype=np.float64).ravel()
    labels = np.asarray(item.get("labels", np.zeros(len(scores))), dtype=np.int64).ravel()
    return BoxPrediction(boxes, scores, labels)


def _as_target(item) -> BoxTarget:
    if isinstance(item, BoxTarget):
        return item
    boxes = np.asarray(item["boxes"], dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(item.get("labels", np.zeros(len(boxes))), dtype=np.int64).ravel()
    return BoxTarget(boxes, labels)


def _average_precision_101(matches: list[tuple[float, bool]], ground_truths: int) -> float:
    if ground_truths == 0:
        return float("nan")
    if not matches:
        return 0.0
    ordered = sorted(matches, key=lambda pair: -pair[0])
    hits = np.array([hit for _, hit in ordered], dtype=np.float64)
    true_positives = np.cumsum(hits)
    recall = true_positives / ground_truths
    precision = true_positives / np.arange(1, hits.size + 1)
    # Precision envelope (monotone from the right), then sample at 101 recall points.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    points = np.linspace(0.0, 1.0, 101)
    index = np.searchsorted(recall, points, side="left")
    sampled = np.where(index < envelope.size, envelope[np.minimum(index, envelope.size - 1)], 0.0)
    return float(sampled.mean())


def _map50_numpy(predictions: list[BoxPrediction], targets: list[BoxTarget]) -> float:
    classes = sorted({int(v) for t in targets for v in t.labels} | {int(v) for p in predictions for v in p.labels})
    per_class = []
    for cls in classes:
        matches: list[tuple[float, bool]] = []
        ground_truths = 0
        for prediction, target in zip(predictions, targets, strict=True):
            gt_boxes = target.boxes[target.labels == cls]
            ground_truths += len(gt_boxes)
            keep = prediction.labels == cls
            boxes, scores = prediction.boxes[keep], prediction.scores[keep]
            order = np.argsort(-scores, kind="mergesort")
            taken = np.zeros(len(gt_boxes), dtype=bool)
            iou = box_iou(boxes[order], gt_boxes) if len(gt_boxes) else np.zeros((len(order), 0))
            for rank, det in enumerate(order):
                candidates = np.where(taken, -1.0, iou[rank]) if len(gt_boxes) else np.array([])
                best = int(np.argmax(candidates)) if candidates.size else -1
                hit = best >= 0 and candidates[best] >= 0.5
                if hit:
                    taken[best] = True
                matches.append((float(scores[det]), bool(hit)))
        ap = _average_precision_101(matches, ground_truths)
        if not np.isnan(ap):
            per_class.append(ap)
    return float(np.mean(per_class)) if per_class else float("nan")


def _map50_torchmetrics(predictions: list[BoxPrediction], targets: list[BoxTarget]) -> float:
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_thresholds=[0.5], box_format="xyxy", backend="pycocotools")

    def xyxy(boxes: np.ndarray) -> torch.Tensor:  # (row0, col0, row1, col1) → (x0, y0, x1, y1)
        return torch.as_tensor(boxes[:, [1, 0, 3, 2]], dtype=torch.float32).reshape(-1, 4)

    metric.update(
        [
            {"boxes": xyxy(p.boxes), "scores": torch.as_tensor(p.scores, dtype=torch.float32),
             "labels": torch.as_tensor(p.labels, dtype=torch.int64)}
            for p in predictions
        ],
        [{"boxes": xyxy(t.boxes), "labels": torch.as_tensor(t.labels, dtype=torch.int64)} for t in targets],
    )
    value = float(metric.compute()["map_50"])
    return float("nan") if value < 0 else value


def mean_average_precision_50(
    predictions: Sequence[BoxPrediction | Mapping],
    targets: Sequence[BoxTarget | Mapping],
    *,
    backend: str = "numpy",
) -> float:
    """Return COCO mean average precision at IoU 0.5 over images and classes.

    Parameters
    ----------
    predictions : sequence of BoxPrediction or mapping
        Per image: ``boxes`` (n × 4, ``row0, col0, row1, col1`` pixels), ``scores``,
        ``labels`` (class ids; all 0 when omitted).
    targets : sequence of BoxTarget or mapping
        Per image: ``boxes`` and ``labels``.
    backend : {"numpy", "torchmetrics"}
        ``numpy`` is this module's implementation; ``torchmetrics`` runs
        ``torchmetrics.detection.MeanAveragePrecision`` (pycocotools) for comparison.

    Returns
    -------
    float
        mAP@0.5 in [0, 1], NaN when there is no ground-truth box at all.

    Notes
    -----
    COCO conventions: detections ranked by score across all images, each matched
    greedily to the unmatched ground-truth box of highest IoU ≥ 0.5, precision made
    monotone and sampled at 101 recall points, then averaged over classes present in
    the ground truth.

    Examples
    --------
    >>> pred = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "scores": [0.9, 0.8]}]
    >>> true = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]]}]
    >>> round(mean_average_precision_50(pred, true), 4)
    0.505
    """
    if len(predictions) != len(targets):
        raise NiiError(f"{len(predictions)} predictions for {len(targets)} targets")
    preds = [_as_prediction(p) for p in predictions]
    trues = [_as_target(t) for t in targets]
    if backend == "numpy":
        return _map50_numpy(preds, trues)
    if backend == "torchmetrics":
        return _map50_torchmetrics(preds, trues)
    raise NiiError(f"unknown mAP backend {backend!r} (numpy or torchmetrics)")


def material_class_accuracy(predicted, truth, *, ignore=()) -> dict:
    """Return the pixel accuracy of material classes against ground truth.

    Parameters
    ----------
    predicted, truth : array_like of uint8
        Class codes (``nii.classes``) of the same shape (rows × columns).
    ignore : iterable of int
        Ground-truth codes left out (e.g. ``(0,)`` to skip air).

    Returns
    -------
    dict
        ``accuracy`` (fraction of counted pixels right), ``per_class`` (name → recall),
        ``confusion`` (list of lists, truth code × predicted code, 6 × 6), ``pixels``.
    """
    pred = np.asarray(predicted).astype(np.int64)
    true = np.asarray(truth).astype(np.int64)
    if pred.shape != true.shape:
        raise NiiError(f"predicted classes {pred.shape} and truth {true.shape} differ in shape")
    counted = ~np.isin(true, list(ignore))
    size = len(CLASS_NAMES)
    valid = counted & (pred >= 0) & (pred < size) & (true >= 0) & (true < size)
    confusion = np.bincount(true[valid] * size + pred[valid], minlength=size * size).reshape(size, size)
    total = int(counted.sum())
    correct = int(np.trace(confusion))
    per_class = {
        CLASS_NAMES[code]: float(confusion[code, code] / confusion[code].sum())
        for code in range(size)
        if confusion[code].sum() > 0
    }
    return {
        "accuracy": float(correct / total) if total else float("nan"),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "pixels": total,
    }


def cargo_mass_error(estimated_kg, true_kg) -> dict:
    """Return the error statistics of cargo-mass estimates.

    Parameters
    ----------
    estimated_kg, true_kg : array_like of float
        Estimated and true cargo mass per scan (kg). Pairs with a non-finite value or
        a true mass ≤ 0 (empty containers) are skipped for relative errors.

    Returns
    -------
    dict
        ``mean_abs_error_kg``, ``mean_abs_relative_error``, ``median_abs_relative_error``,
        ``bias_relative`` (mean signed relative error), ``scans``.
    """
    estimated = np.asarray(estimated_kg, dtype=np.float64).ravel()
    true = np.asarray(true_kg, dtype=np.float64).ravel()
    if estimated.shape != true.shape:
        raise NiiError(f"{estimated.size} mass estimates for {true.size} true masses")
    finite = np.isfinite(estimated) & np.isfinite(true)
    absolute = np.abs(estimated[finite] - true[finite])
    loaded = finite & (true > 0)
    relative = (estimated[loaded] - true[loaded]) / true[loaded]
    nan = float("nan")
    return {
        "mean_abs_error_kg": float(absolute.mean()) if absolute.size else nan,
        "mean_abs_relative_error": float(np.abs(relative).mean()) if relative.size else nan,
        "median_abs_relative_error": float(np.median(np.abs(relative))) if relative.size else nan,
        "bias_relative": float(relative.mean()) if relative.size else nan,
        "scans": int(finite.sum()),
    }
