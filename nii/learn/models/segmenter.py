"""Per-pixel anomaly segmenter: a small U-Net on α_H, α_L and material features.

Ronneberger, Fischer & Brox, "U-Net: convolutional networks for biomedical image
segmentation", MICCAI 2015 — here three levels, GroupNorm (batches are small) and a
single logit per pixel: the probability that the pixel belongs to a concealed object.
"""

from __future__ import annotations

from nii.errors import require_torch

torch = require_torch()
from torch import nn  # noqa: E402  (after require_torch: a missing extra says what to install)

__all__ = ["SmallUNet", "build_segmenter"]


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    groups = 4 if out_channels % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    """U-Net with ``depth`` down-sampling steps and ``base`` channels at full resolution.

    Parameters
    ----------
    in_channels : int
        Input feature channels (see :mod:`nii.learn.features`).
    base : int
        Channels of the first level; doubled at each level.
    depth : int
        Number of 2× down-sampling steps; inputs are padded to a multiple of ``2**depth``.

    Notes
    -----
    ``forward(x)`` takes (batch, channels, rows, columns) and returns logits of shape
    (batch, 1, rows, columns).
    """

    def __init__(self, in_channels: int, base: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.depth = int(depth)
        widths = [base * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths[:-1]:
            self.down.append(_block(channels, width))
            channels = width
        self.bottom = _block(channels, widths[-1])
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            self.upsample.append(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
            self.up.append(_block(2 * widths[level], widths[level]))
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x):  # noqa: D102 - documented in the class
        rows, cols = x.shape[-2:]
        multiple = 2**self.depth
        pad_rows, pad_cols = (-rows) % multiple, (-cols) % multiple
        if pad_rows or pad_cols:
            x = nn.functional.pad(x, (0, pad_cols, 0, pad_rows), mode="replicate")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips), strict=True):
            x = block(torch.cat([upsample(x), skip], dim=1))
        return self.head(x)[..., :rows, :cols]


def build_segmenter(config: dict) -> SmallUNet:
    """Build the segmenter from a config (``in_channels``, optional ``base``, ``depth``)."""
    return SmallUNet(int(config["in_channels"]), base=int(config.get("base", 8)), depth=int(config.get("depth", 3)))
