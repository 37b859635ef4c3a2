"""The review page's image layers, as data the browser decodes itself.

Each layer is a physical quantity of the analysed image (not a picture), so that the
page can apply the officer's window and level: 16-bit codes over the layer's range
(``0`` = no value), in tiles of :data:`TILE_COLUMNS` columns, each deflated (zlib)
and base64-encoded into a small JavaScript file beside the page
(``review_files/<layer>.js``). A page opened from disk cannot ``fetch()`` a file, but it
may load a script; the browser inflates the tiles with ``DecompressionStream``.

Layers (:data:`LAYERS`): the material classes (8-bit codes), the high- and low-energy
attenuation ``α = −ln T``, ``Z_eff``, the areal density (g/cm²) and the departure from
the expected cargo (g/cm²). The inspection does not expose the residual its checks
compute, so the departure is derived here by :func:`departure_g_cm2`: the areal
density minus the median of its own row over :data:`DEPARTURE_WINDOW_MM` around it
(the cargo of the same stack and height), which is about zero for uniform goods and
stands out where something differs from its neighbours.

The attenuation layers are rounded to half the 5th percentile of their measured noise
(:func:`noise_step`, from ``sigma_high`` / ``sigma_low`` of the analysed image): an
error under 0.15 σ, and a third smaller files for a 1,024-channel scan.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "TILE_COLUMNS",
    "DEPARTURE_WINDOW_MM",
    "LAYERS",
    "Layer",
    "departure_g_cm2",
    "quantise",
    "noise_step",
    "encode_tiles",
    "build_layers",
]

#: Columns per tile (the image is cut along its length only; rows stay whole).
TILE_COLUMNS = 1024
#: Length along the conveyance over which a row's median gives the expected cargo (mm).
DEPARTURE_WINDOW_MM = 1500.0
_DEPARTURE_BLOCKS = 15
_CODES = 65534  # 16-bit codes 1..65535; 0 is "no value"
#: zlib level of the tiles: fast, the tiles are written once per inspection.
_ZLIB_LEVEL = 1


@dataclass
class Layer:
    """One layer of the review page.

    Parameters
    ----------
    name : str
        Key (``material``, ``high``, ``low``, ``zeff``, ``areal``, ``departure``;
        ``classes`` holds the class codes the material layer needs).
    label : str
        What the officer reads.
    unit : str
        Unit of the values ("" when dimensionless).
    lo, hi : float
        Range of the 16-bit codes: ``value = lo + (code − 1) × (hi − lo) / 65534``.
    window : tuple of float
        Default ``(low, high)`` shown from the first to the last colour.
    colour_map : str
        ``grey`` (dense dark), ``turbo`` or ``diverging``; ``material`` for the classes.
    description : str
        One sentence on what the layer shows.
    source : str
        Which data layer holds the values (the material layer shows ``high``).
    tiles : list of str
        Base64 of the deflated little-endian codes, one per tile (empty for layers that
        reuse another's data).
    dtype : str
        ``u16`` or ``u8``.
    """

    name: str
    label: str
    unit: str
    lo: float
    hi: float
    window: tuple[float, float]
    colour_map: str
    description: str
    source: str
    tiles: list[str] = field(default_factory=list, repr=False)
    dtype: str = "u16"

    def describe(self) -> dict[str, Any]:
        """The page's description of the layer (everything but the tiles)."""
        return {
            "name": self.name, "label": self.label, "unit": self.unit, "lo": self.lo, "hi": self.hi,
            "window": [float(self.window[0]), float(self.window[1])], "colour_map": self.colour_map,
            "description": self.description, "source": self.source, "dtype": self.dtype,
        }


#: The layers the page offers, in the order of its buttons and number keys.
LAYERS = ("material", "high", "low", "zeff", "areal", "departure")


def _finite(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size > 2_000_000:
        finite = finite[:: finite.size // 1_000_000]
    return finite


def _range(values: np.ndarray, *, symmetric: bool = False) -> tuple[float, float]:
    finite = _finite(values)
    if finite.size == 0:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if symmetric:
        bound = max(abs(lo), abs(hi), 1e-6)
        return -bound, bound
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _window(values: np.ndarray, low_pct: float, high_pct: float, fallback: tuple[float, float]) -> tuple[float, float]:
    finite = _finite(values)
    if finite.size == 0:
        return fallback
    low, high = (float(v) for v in np.percentile(finite, [low_pct, high_pct]))
    if not high > low:
        return fallback
    return low, high


def quantise(values: np.ndarray, lo: float, hi: float, *, step: float | None = None) -> np.ndarray:
    """16-bit codes of ``values`` over ``[lo, hi]``: ``1 + round((v − lo) / (hi − lo) × 65534)``, 0 where not finite.

    With ``step`` (same unit as ``values``), the codes are rounded to multiples of the
    largest whole number of code steps not above it: finer than that is noise, and
    the tiles compress better without it.
    """
    scaled = np.array(values, dtype=np.float32, copy=True)
    finite = np.isfinite(scaled)
    scaled[~finite] = lo
    scaled -= np.float32(lo)
    scaled *= np.float32(_CODES / (hi - lo))
    np.clip(scaled, 0.0, _CODES, out=scaled)
    multiple = _code_multiple(lo, hi, step)
    if multiple > 1:
        scaled /= np.float32(multiple)
        np.rint(scaled, out=scaled)
        scaled *= np.float32(multiple)
        np.clip(scaled, 0.0, _CODES, out=scaled)
    scaled += np.float32(1.5)  # + 1, and rounding by truncation
    codes = scaled.astype(np.uint16)
    codes[~finite] = 0
    return codes


def _code_multiple(lo: float, hi: float, step: float | None) -> int:
    if step is None or not math.isfinite(step) or step <= 0:
        return 1
    return max(1, int(step / ((hi - lo) / _CODES)))


def noise_step(sigma: Any) -> float | None:
    """Half the 5th percentile of a noise map: a rounding step far below the measured noise.

    Rounding to a step ``s`` adds an error of standard deviation ``s / √12``: with half
    the lowest noise, under 0.15 σ of the least noisy pixels. ``None`` without a noise map.
    """
    if sigma is None:
        return None
    finite = _finite(np.asarray(sigma, np.float32))
    finite = finite[finite > 0]
    if finite.size == 0:
        return None
    return 0.5 * float(np.percentile(finite, 5.0))


def _nanmedian_last(values: np.ndarray) -> np.ndarray:
    """Median along the last axis ignoring NaN (NaN where all are), by one sort."""
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    count = np.isfinite(values).sum(axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0)[..., None], axis=-1)[..., 0]
    return np.where(count > 0, 0.5 * (low + high), np.nan).astype(values.dtype)


def encode_tiles(codes: np.ndarray, *, tile_columns: int = TILE_COLUMNS) -> list[str]:
    """Cut ``codes`` (rows × columns, uint8 or uint16) into column tiles; deflate and base64 each.

    Each tile is its rows × tile columns, row-major, little-endian.
    """
    codes = np.asarray(codes)
    little = codes.astype(codes.dtype.newbyteorder("<"), copy=False)
    tiles = []
    for col0 in range(0, codes.shape[1], tile_columns):
        tile = np.ascontiguousarray(little[:, col0:col0 + tile_columns])
        tiles.append(base64.b64encode(zlib.compress(tile.tobytes(), _ZLIB_LEVEL)).decode("ascii"))
    return tiles


def departure_g_cm2(areal_g_cm2: np.ndarray, column_pitch_mm: float, *,
                    window_mm: float = DEPARTURE_WINDOW_MM) -> np.ndarray:
    """The areal density minus the median of its own row over ``window_mm`` around it (g/cm²).

    Parameters
    ----------
    areal_g_cm2 : numpy.ndarray, rows × columns
        Areal density of the material map (NaN where unknown).
    column_pitch_mm : float
        Column pitch at the scan plane (mm).
    window_mm : float
        Length of the row over which the expected cargo is the median (mm).

    Notes
    -----
    The median is taken in two steps for speed: medians of blocks of
    ``window / 15`` columns, then the median of the 15 blocks around each block,
    interpolated back to the columns. It is NaN where the areal density is.
    """
    areal = np.asarray(areal_g_cm2, np.float32)
    rows, cols = areal.shape
    pitch = float(column_pitch_mm) if math.isfinite(column_pitch_mm) and column_pitch_mm > 0 else 1.0
    window = max(3, int(round(window_mm / pitch)))
    block = max(1, window // _DEPARTURE_BLOCKS)
    blocks = -(-cols // block)
    padded = np.full((rows, blocks * block), np.nan, np.float32)
    padded[:, :cols] = areal
    block_median = _nanmedian_last(padded.reshape(rows, blocks, block))
    half = _DEPARTURE_BLOCKS // 2
    wide = np.pad(block_median, ((0, 0), (half, half)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(wide, _DEPARTURE_BLOCKS, axis=1)
    expected_blocks = _nanmedian_last(windows)
    centres = (np.arange(blocks) + 0.5) * block - 0.5
    position = np.clip(np.interp(np.arange(cols), centres, np.arange(blocks)), 0, blocks - 1)
    left = np.floor(position).astype(np.intp)
    right = np.minimum(left + 1, blocks - 1)
    weight = position - left
    expected = expected_blocks[:, left] * (1.0 - weight) + expected_blocks[:, right] * weight
    # where one neighbour is NaN, take the other
    expected = np.where(np.isnan(expected), np.where(weight < 0.5, expected_blocks[:, left], expected_blocks[:, right]), expected)
    return (areal - expected).astype(np.float32)


def _numbers(source: Any, name: str, shape: tuple[int, int]) -> np.ndarray | None:
    value = getattr(source, name, None)
    if value is None:
        return None
    array = np.asarray(value, np.float32)
    return array if array.shape == shape else None


def build_layers(image: Any, material_map: Any, extent: tuple[int, int, int, int] | None = None) -> dict[str, Layer]:
    """Return the page's layers of one analysed image and its material map.

    Parameters
    ----------
    image : AnalysedImage
        ``attenuation_high``, ``attenuation_low``, ``column_pitch_mm``.
    material_map : MaterialMap
        ``classes``, ``zeff``, ``areal_density_g_cm2``.
    extent : tuple of int, optional
        ``(row0, row1, col0, col1)`` of the object; default windows are taken there.

    Returns
    -------
    dict of str to Layer
        ``classes`` and each of :data:`LAYERS` that the inputs have (``material``
        shares ``high``'s data).
    """
    alpha_high = np.asarray(image.attenuation_high, np.float32)
    shape = alpha_high.shape
    r0, r1, c0, c1 = extent if extent is not None else (0, shape[0], 0, shape[1])

    def inside(values: np.ndarray) -> np.ndarray:
        return values[r0:r1, c0:c1]

    layers: dict[str, Layer] = {}
    classes = np.asarray(material_map.classes, np.uint8)
    layers["classes"] = Layer("classes", "material classes", "", 0.0, 255.0, (0.0, 255.0), "material",
                              "class code of each pixel (the contract's bands)", "classes",
                              encode_tiles(classes), dtype="u8")
    lo, hi = _range(alpha_high)
    layers["high"] = Layer(
        "high", "high energy", "α_H", lo, hi, _window(inside(alpha_high), 0.5, 99.5, (lo, hi)), "grey",
        "attenuation −ln T of the higher endpoint energy; air white, dense dark", "high",
        encode_tiles(quantise(alpha_high, lo, hi, step=noise_step(getattr(image, "sigma_high", None)))))
    layers["material"] = Layer(
        "material", "material colours", "α_H", lo, hi, _window(inside(alpha_high), 0.0, 99.5, (lo, hi)), "material",
        "hue by material class (orange organic, green inorganic, blue metal, violet hatched high-Z, "
        "black impenetrable), brightness by the high-energy attenuation: the window sets the shading",
        "high")
    alpha_low = _numbers(image, "attenuation_low", shape)
    if alpha_low is not None:
        lo, hi = _range(alpha_low)
        layers["low"] = Layer(
            "low", "low energy", "α_L", lo, hi, _window(inside(alpha_low), 0.5, 99.5, (lo, hi)), "grey",
            "attenuation −ln T of the lower endpoint energy; air white, dense dark", "low",
            encode_tiles(quantise(alpha_low, lo, hi, step=noise_step(getattr(image, "sigma_low", None)))))
    zeff = _numbers(material_map, "zeff", shape)
    if zeff is not None:
        lo, hi = 1.0, 100.0
        layers["zeff"] = Layer(
            "zeff", "Z_eff", "", lo, hi, (5.0, 85.0), "turbo",
            "effective atomic number read on the two energies (no value in air and where impenetrable)", "zeff",
            encode_tiles(quantise(zeff, lo, hi)))
    areal = _numbers(material_map, "areal_density_g_cm2", shape)
    if areal is not None:
        lo, hi = _range(areal)
        lo = min(lo, 0.0)
        layers["areal"] = Layer(
            "areal", "areal density", "g/cm²", lo, hi, _window(inside(areal), 0.5, 99.5, (lo, hi)), "grey",
            "iron-equivalent mass thickness along the ray (g/cm²); thin white, dense dark", "areal",
            encode_tiles(quantise(areal, lo, hi)))
        departure = departure_g_cm2(areal, float(getattr(image, "column_pitch_mm", math.nan) or math.nan))
        lo, hi = _range(departure, symmetric=True)
        spread = _window(np.abs(inside(departure)), 0.0, 99.0, (0.0, hi))[1]
        spread = max(spread, 1e-3)
        layers["departure"] = Layer(
            "departure", "departure from the expected cargo", "g/cm²", lo, hi, (-spread, spread), "diverging",
            f"derived for this page (the inspection does not expose its residual): the areal density minus "
            f"the median of its own row over {DEPARTURE_WINDOW_MM / 1000:.1f} m around it; red denser than the "
            f"cargo beside it, blue lighter", "departure",
            encode_tiles(quantise(departure, lo, hi)))
    return layers


def layer_descriptions(layers: Mapping[str, Layer]) -> dict[str, dict[str, Any]]:
    """The page's description of each layer (no tiles)."""
    return {name: layer.describe() for name, layer in layers.items()}
