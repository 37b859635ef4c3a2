"""The networks of nii.learn.models and the features they take."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nii.errors import NiiError  # noqa: E402
from nii.learn.features import feature_stack  # noqa: E402
from nii.learn.models import build_autoencoder, build_box_detector, build_segmenter  # noqa: E402
from nii.learn.models.detector import rc_to_xyxy, xyxy_to_rc  # noqa: E402


def test_feature_stack_channels():
    high = np.array([[0.0, 1.0], [2.0, 0.01]], np.float32)
    low = np.array([[0.0, 1.3], [2.2, 0.02]], np.float32)
    stack = feature_stack(high, low, feature_set="alpha_ratio", alpha_scale=2.0)
    assert stack.shape == (3, 2, 2) and stack.dtype == np.float32
    np.testing.assert_allclose(stack[0], high / 2.0)
    np.testing.assert_allclose(stack[2], [[0.0, 0.3], [0.1, 0.0]], atol=1e-6)  # R − 1, 0 below min α
    zeff = np.array([[np.nan, 7.0], [82.0, np.nan]], np.float32)
    classes = np.array([[0, 1], [4, 5]], np.uint8)
    stack = feature_stack(high, low, feature_set="alpha_material", zeff=zeff, classes=classes)
    np.testing.assert_allclose(stack[3], [[0.0, 0.07], [0.82, 0.0]], atol=1e-6)
    np.testing.assert_array_equal(stack[4], [[0, 0], [0, 1]])
    with pytest.raises(NiiError, match="needs a material map"):
        feature_stack(high, low, feature_set="alpha_material")
    with pytest.raises(NiiError, match="one shape"):
        feature_stack(high, low[:1])


@pytest.mark.parametrize("shape", [(16, 16), (21, 37)])
def test_dense_models_keep_the_image_shape(shape):
    torch.manual_seed(0)
    x = torch.randn(2, 5, *shape)
    assert build_segmenter({"in_channels": 5})(x).shape == (2, 1, *shape)
    assert build_autoencoder({"in_channels": 5})(x).shape == (2, 5, *shape)


def test_models_are_small():
    sizes = {
        "segmenter": build_segmenter({"in_channels": 5}),
        "autoencoder": build_autoencoder({"in_channels": 3}),
        "detector": build_box_detector({"in_channels": 3}),
    }
    for name, model in sizes.items():
        megabytes = sum(p.numel() for p in model.parameters()) * 4 / 1e6
        assert megabytes < 3.0, name


def test_segmenter_learns_a_block():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32) * 0.1
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 10:18, 12:20] = 1
    x[:, 0:1] += mask
    model = build_segmenter({"in_channels": 3})
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_box_detector_trains_and_predicts_in_pixels():
    torch.manual_seed(0)
    model = build_box_detector({"in_channels": 3})
    images = [torch.randn(3, 48, 64), torch.randn(3, 48, 64)]
    targets = [{"boxes": torch.tensor([[10.0, 8.0, 30.0, 20.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)}]  # clean patch
    losses = model(images, targets)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        output = model([torch.randn(3, 45, 70)])[0]
    assert output["boxes"].shape[1] == 4
    if len(output["boxes"]):  # no resizing: boxes are in the input's pixels
        assert float(output["boxes"][:, 2].max()) <= 70 and float(output["boxes"][:, 3].max()) <= 45


def test_box_conversion_round_trip():
    rc = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert rc_to_xyxy(rc).tolist() == [[2.0, 1.0, 4.0, 3.0]]
    assert xyxy_to_rc(rc_to_xyxy(rc)).tolist() == rc.tolist()
