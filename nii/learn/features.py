"""Input features of the learned models, built from the dual-energy attenuation and the material map.

Feature sets (channels, rows × columns, float32):

``alpha``
    α_H / s, α_L / s (s = ``alpha_scale``, the attenuation that maps to 1).
``alpha_ratio``
    plus the dual-energy ratio R − 1 = α_L/α_H − 1, the material signal of MeV
    dual-energy imaging (it rises with Z where pair production matters), set to 0
    where α_H is below ``min_alpha`` (too little matter to tell) and clipped to ±1.
``alpha_material``
    plus the discriminated effective Z / 100 (0 where the map has no Z: air or
    impenetrable) and the impenetrable mask (class 5). Needs a material map.

Numpy only: the same code builds training inputs and inference inputs.
"""

from __future__ import annotations

import numpy as np

from nii.classes import IMPENETRABLE
from nii.errors import NiiError

__all__ = ["FEATURE_SETS", "feature_channels", "feature_stack", "check_alpha_pair"]

FEATURE_SETS: dict[str, int] = {"alpha": 2, "alpha_ratio": 3, "alpha_material": 5}


def feature_channels(feature_set: str) -> int:
    """Return the number of input channels of a feature set (see module docstring)."""
    if feature_set not in FEATURE_SETS:
        raise NiiError(f"unknown feature set {feature_set!r} (known: {', '.join(FEATURE_SETS)})")
    return FEATURE_SETS[feature_set]


def check_alpha_pair(attenuation_high, attenuation_low, what: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """Return α_H and α_L as float32 arrays after checking they are rows × columns of one shape.

    Parameters
    ----------
    attenuation_high, attenuation_low : array_like
        α = −ln T at the high and low energy (dimensionless), rows × columns.
    what : str
        Name of the input used in error messages.
    """
    high = np.asarray(attenuation_high, dtype=np.float32)
    low = np.asarray(attenuation_low, dtype=np.float32)
    if high.ndim != 2 or high.shape != low.shape:
        raise NiiError(
            f"{what}: attenuation_high {high.shape} and attenuation_low {low.shape} must be two rows × columns arrays of one shape"
        )
    if high.shape[0] < 1 or high.shape[1] < 1:
        raise NiiError(f"{what}: the attenuation image is empty ({high.shape})")
    return high, low


def feature_stack(
    attenuation_high,
    attenuation_low,
    *,
    feature_set: str = "alpha_ratio",
    zeff=None,
    classes=None,
    alpha_scale: float = 5.0,
    min_alpha: float = 0.05,
) -> np.ndarray:
    """Stack the model input channels of one image.

    Parameters
    ----------
    attenuation_high, attenuation_low : array_like
        α = −ln T at the high and low energy (dimensionless), rows × columns.
    feature_set : {"alpha", "alpha_ratio", "alpha_material"}
        Which channels (module docstring).
    zeff : array_like, optional
        Effective atomic number map (NaN where unknown); needed by ``alpha_material``.
    classes : array_like of uint8, optional
        Material class map (contract codes); needed by ``alpha_material``.
    alpha_scale : float
        Attenuation (dimensionless) that maps to 1 in the α channels.
    min_alpha : float
        α_H (dimensionless) below which the ratio channel is 0.

    Returns
    -------
    numpy.ndarray of float32, shape (channels, rows, columns)
        Non-finite inputs are replaced by 0.
    """
    high, low = check_alpha_pair(attenuation_high, attenuation_low)
    count = feature_channels(feature_set)
    high = np.nan_to_num(high, nan=0.0, posinf=0.0, neginf=0.0)
    low = np.nan_to_num(low, nan=0.0, posinf=0.0, neginf=0.0)
    channels = [high / alpha_scale, low / alpha_scale]
    if count >= 3:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(high > min_alpha, low / np.maximum(high, min_alpha) - 1.0, 0.0)
        channels.append(np.clip(ratio, -1.0, 1.0))
    if count >= 5:
        if zeff is None or classes is None:
            raise NiiError(f"feature set {feature_set!r} needs a material map (zeff and classes)")
        zeff_array = np.asarray(zeff, dtype=np.float32)
        class_array = np.asarray(classes)
        if zeff_array.shape != high.shape or class_array.shape != high.shape:
            raise NiiError(
                f"material map {zeff_array.shape} does not match the attenuation image {high.shape}"
            )
        channels.append(np.nan_to_num(zeff_array, nan=0.0, posinf=0.0, neginf=0.0) / 100.0)
        channels.append((class_array == IMPENETRABLE).astype(np.float32))
    return np.stack(channels).astype(np.float32, copy=False)
