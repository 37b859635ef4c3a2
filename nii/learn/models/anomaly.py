"""Unsupervised anomaly model: a convolutional autoencoder trained on clean cargo only.

What it cannot reconstruct well — structures unlike the clean cargo it saw — shows as
a high reconstruction error; the error map, normalised by its level on clean training
scans, is the anomaly map, and its strongest smoothed value is the scan score.
(The idea of reconstruction-based anomaly detection in cargo images: Andrews et al.,
"Anomaly detection for security imaging", 2016.)
"""

from __future__ import annotations

from nii.errors import require_torch

torch = require_torch()
from torch import nn  # noqa: E402  (after require_torch: a missing extra says what to install)

__all__ = ["ConvAutoencoder", "build_autoencoder"]


class ConvAutoencoder(nn.Module):
    """Fully convolutional autoencoder with a narrow bottleneck (stride 8).

    Parameters
    ----------
    in_channels : int
        Input feature channels (reconstructed too).
    width : int
        Channels of the first encoder layer (doubled once).
    bottleneck : int
        Channels of the code at 1/8 resolution.

    Notes
    -----
    ``forward(x)`` returns the reconstruction, same shape as ``x`` (inputs are padded
    to a multiple of 8 and cropped back).
    """

    def __init__(self, in_channels: int, width: int = 16, bottleneck: int = 8) -> None:
        super().__init__()

        def down(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, stride=2, padding=1), nn.ReLU(inplace=True))

        def up(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose2d(i, o, 2, stride=2), nn.ReLU(inplace=True))

        self.encoder = nn.Sequential(
            down(in_channels, width), down(width, 2 * width), down(2 * width, 2 * width),
            nn.Conv2d(2 * width, bottleneck, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(bottleneck, 2 * width, 1), nn.ReLU(inplace=True),
            up(2 * width, 2 * width), up(2 * width, width), nn.ConvTranspose2d(width, width, 2, stride=2),
            nn.ReLU(inplace=True), nn.Conv2d(width, in_channels, 3, padding=1),
        )

    def forward(self, x):  # noqa: D102 - documented in the class
        rows, cols = x.shape[-2:]
        pad_rows, pad_cols = (-rows) % 8, (-cols) % 8
        if pad_rows or pad_cols:
            x = nn.functional.pad(x, (0, pad_cols, 0, pad_rows), mode="replicate")
        return self.decoder(self.encoder(x))[..., :rows, :cols]


def build_autoencoder(config: dict) -> ConvAutoencoder:
    """Build the autoencoder from a config (``in_channels``, optional ``width``, ``bottleneck``)."""
    return ConvAutoencoder(int(config["in_channels"]), width=int(config.get("width", 16)),
                           bottleneck=int(config.get("bottleneck", 8)))
