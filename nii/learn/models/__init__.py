"""Small networks for dual-energy cargo images: U-Net segmenter, FCOS box detector, autoencoder.

Every builder takes plain numbers (from a model's ``config.json``) and returns a
``torch.nn.Module``; nothing is downloaded (no pretrained weights: the backbones are
built from scratch with ``weights=None``).
"""

from __future__ import annotations

from .anomaly import ConvAutoencoder, build_autoencoder
from .detector import build_box_detector
from .segmenter import SmallUNet, build_segmenter

__all__ = [
    "SmallUNet",
    "ConvAutoencoder",
    "build_segmenter",
    "build_box_detector",
    "build_autoencoder",
]
