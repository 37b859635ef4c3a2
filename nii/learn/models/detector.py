"""Box detector: torchvision FCOS on a small from-scratch backbone with a multi-channel stem.

FCOS (Tian et al., "FCOS: fully convolutional one-stage object detection", ICCV 2019)
is anchor-free, which suits concealed objects of any aspect ratio. torchvision's
implementation is used as is; only the backbone is ours: three stride-2 stages
(strides 4, 8, 16) with GroupNorm and an FPN, so the whole model stays well under a
megabyte and trains on a CPU. The input has as many channels as the feature set
(α_H, α_L, ratio, ...), not RGB; the image transform normalises per channel and does
**not** resize (α images are measured at a fixed pixel size). No weights are
downloaded: everything starts from random initialisation.

Boxes in torchvision are ``(x0, y0, x1, y1)`` = ``(col0, row0, col1, row1)``; the
conversion to the contract's ``(row0, col0, row1, col1)`` happens in
:func:`nii.learn.zoo` and :mod:`nii.learn.train`.
"""

from __future__ import annotations

from collections import OrderedDict

from nii.errors import require_torch

torch = require_torch()
from torch import nn  # noqa: E402  (after require_torch: a missing extra says what to install)

__all__ = ["TinyFpnBackbone", "build_box_detector", "rc_to_xyxy", "xyxy_to_rc"]


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        nn.GroupNorm(4 if out_channels % 4 == 0 else 1, out_channels), nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(4 if out_channels % 4 == 0 else 1, out_channels), nn.ReLU(inplace=True),
    )


class TinyFpnBackbone(nn.Module):
    """Backbone returning FPN maps at strides 4, 8 and 16.

    Parameters
    ----------
    in_channels : int
        Input channels (the stem takes any number: α_H, α_L, material features).
    widths : tuple of int
        Channels of the stem and the three stages.
    out_channels : int
        FPN channels (the FCOS head works on these).
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (16, 24, 48, 64), out_channels: int = 64) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.stem = _stage(in_channels, widths[0])  # stride 2
        self.stages = nn.ModuleList([_stage(widths[i], widths[i + 1]) for i in range(3)])  # 4, 8, 16
        self.fpn = FeaturePyramidNetwork(list(widths[1:]), out_channels)
        self.out_channels = out_channels

    def forward(self, x):  # noqa: D102
        x = self.stem(x)
        levels = OrderedDict()
        for index, stage in enumerate(self.stages):
            x = stage(x)
            levels[f"p{index}"] = x
        return self.fpn(levels)


def build_box_detector(config: dict):
    """Build a torchvision FCOS with :class:`TinyFpnBackbone` from a config.

    Parameters
    ----------
    config : dict
        ``in_channels``; optional ``widths``, ``fpn_channels``, ``head_convs``,
        ``score_thresh`` (0–1), ``nms_thresh`` (IoU), ``detections_per_img``.

    Returns
    -------
    torchvision.models.detection.FCOS
        Two classes (background, threat). Input: list of (channels, rows, columns)
        tensors already normalised by the feature stack (mean 0, std 1 in the transform).
    """
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    in_channels = int(config["in_channels"])
    backbone = TinyFpnBackbone(in_channels, tuple(config.get("widths", (16, 24, 48, 64))),
                               int(config.get("fpn_channels", 64)))
    anchors = AnchorGenerator(sizes=((8,), (16,), (32,)), aspect_ratios=((1.0,),) * 3)
    head = FCOSHead(backbone.out_channels, 1, 2, num_convs=int(config.get("head_convs", 2)))
    model = FCOS(
        backbone, num_classes=2, anchor_generator=anchors, head=head,
        image_mean=[0.0] * in_channels, image_std=[1.0] * in_channels,
        score_thresh=float(config.get("score_thresh", 0.05)),
        nms_thresh=float(config.get("nms_thresh", 0.5)),
        detections_per_img=int(config.get("detections_per_img", 20)),
    )
    model.transform = _NoResizeTransform(GeneralizedRCNNTransform, in_channels)
    return model


def _NoResizeTransform(base, in_channels: int):
    class NoResize(base):
        """The torchvision detection transform without resizing (fixed pixel size)."""

        def resize(self, image, target=None):
            return image, target

    return NoResize(min_size=1, max_size=1_000_000, image_mean=[0.0] * in_channels,
                    image_std=[1.0] * in_channels, size_divisible=16)


def rc_to_xyxy(boxes):
    """Convert (n, 4) ``row0, col0, row1, col1`` to torchvision ``x0, y0, x1, y1``."""
    return boxes[:, [1, 0, 3, 2]]


def xyxy_to_rc(boxes):
    """Convert (n, 4) torchvision ``x0, y0, x1, y1`` to ``row0, col0, row1, col1``."""
    return boxes[:, [1, 0, 3, 2]]
