"""Images for officers: pseudo-colour by material class, grey levels, alarm boxes, legend.

* :func:`render_pseudocolour` — hue by class (orange organic, green inorganic, blue
  metal, violet high-Z, black impenetrable, white/grey none), brightness by attenuation;
  high-Z areas are hatched and outlined in magenta, impenetrable ones hatched in red so
  that neither can be missed in print or by a colour-blind reader.
* :func:`render_grey` — the high-energy attenuation with a percentile contrast stretch.
* :func:`draw_boxes` — numbered boxes on regions (``bbox`` = ``[row0, col0, row1, col1]``,
  half-open, analysed-image pixels).
* :func:`legend` — a strip with the class swatches and, when given, numbered reasons.
* :func:`save_png` / :func:`png_bytes` — PNG encoding (Pillow, which scikit-image
  already depends on), written atomically.

All functions take and return ``rows × columns × 3`` ``uint8`` arrays; none opens a scan.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nii.classes import CLASS_NAMES, HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC
from nii.io_utils import atomic_write_bytes

__all__ = [
    "CLASS_COLOURS",
    "render_pseudocolour",
    "render_grey",
    "draw_boxes",
    "legend",
    "compose",
    "evidence_png",
    "png_bytes",
    "save_png",
]

#: Display colour (RGB) of each class code.
CLASS_COLOURS: dict[int, tuple[int, int, int]] = {
    NONE: (235, 235, 235),
    ORGANIC: (245, 145, 30),
    INORGANIC: (50, 175, 60),
    METAL: (40, 95, 225),
    HIGH_Z: (150, 45, 205),
    IMPENETRABLE: (0, 0, 0),
}
_HIGH_Z_OUTLINE = (255, 0, 255)
_HATCH_HIGH_Z = (255, 235, 255)
_HATCH_IMPENETRABLE = (200, 0, 0)
_BOX = (230, 20, 20)
_HATCH_PERIOD_PX = 8


def _hatch(shape: tuple[int, int], period: int = _HATCH_PERIOD_PX) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return ((rows + cols) % period) == 0


def _outline(mask: np.ndarray) -> np.ndarray:
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _stretch(values: np.ndarray, low_percentile: float, high_percentile: float) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, np.float32)
    low, high = np.percentile(finite, [low_percentile, high_percentile])
    if not high > low:
        high = low + 1.0
    return np.clip((np.nan_to_num(values, nan=high) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def render_grey(image: Any, *, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """Return the high-energy attenuation as a grey RGB image (air white, dense dark).

    Parameters
    ----------
    image : AnalysedImage
        Corrected image (``attenuation_high``, dimensionless).
    low_percentile, high_percentile : float
        Percentiles of ``α_H`` mapped to white and black (%).

    Returns
    -------
    numpy.ndarray of uint8, rows × columns × 3
    """
    alpha = np.asarray(image.attenuation_high, np.float32)
    if alpha.ndim != 2:
        raise ValueError(f"attenuation_high must be rows × columns, got shape {alpha.shape}")
    level = 1.0 - _stretch(alpha, low_percentile, high_percentile)
    grey = np.round(255.0 * level).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def render_pseudocolour(image: Any, material_map: Any) -> np.ndarray:
    """Return the material pseudo-colour image, shaded by attenuation.

    Parameters
    ----------
    image : AnalysedImage
        Corrected image (``attenuation_high`` gives the brightness).
    material_map : MaterialMap
        ``classes`` of the same shape.

    Returns
    -------
    numpy.ndarray of uint8, rows × columns × 3
        Hue by class; darker where more attenuating; high-Z hatched and outlined in
        magenta; impenetrable black hatched in red.
    """
    classes = np.asarray(material_map.classes)
    alpha = np.asarray(image.attenuation_high, np.float32)
    if classes.shape != alpha.shape or classes.ndim != 2:
        raise ValueError(f"classes {classes.shape} and attenuation_high {alpha.shape} must be one rows × columns shape")
    palette = np.array([CLASS_COLOURS[c] for c in sorted(CLASS_COLOURS)], np.float32)
    codes = np.minimum(classes, len(palette) - 1)
    # brightness: 1 in air, 0.3 at the most attenuating 0.5 % of the image
    density = _stretch(alpha, 0.0, 99.5) ** 0.7
    brightness = 1.0 - 0.7 * density
    rgb = palette[codes] * brightness[..., None]
    none = classes == NONE
    rgb[none] = (palette[NONE] * (0.45 + 0.55 * brightness[none, None]))
    hatch = _hatch(classes.shape)
    high_z = classes == HIGH_Z
    rgb[high_z & hatch] = _HATCH_HIGH_Z
    rgb[_outline(high_z)] = _HIGH_Z_OUTLINE
    impenetrable = classes == IMPENETRABLE
    rgb[impenetrable] = CLASS_COLOURS[IMPENETRABLE]
    rgb[impenetrable & hatch] = _HATCH_IMPENETRABLE
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _regions(regions: Iterable[Any]) -> list[tuple[int, int, int, int]]:
    boxes = []
    for region in regions:
        bbox: Any = region.get("bbox") if isinstance(region, dict) else getattr(region, "bbox", region)
        row0, col0, row1, col1 = (int(v) for v in bbox)
        boxes.append((row0, col0, row1, col1))
    return boxes


def draw_boxes(
    rgb: np.ndarray,
    regions: Iterable[Any],
    *,
    colour: tuple[int, int, int] = _BOX,
    thickness: int = 2,
    column_step: int = 1,
) -> np.ndarray:
    """Return a copy of ``rgb`` with a numbered box around each region.

    Parameters
    ----------
    rgb : numpy.ndarray of uint8, rows × columns × 3
    regions : iterable
        Dicts or objects with ``bbox = [row0, col0, row1, col1]`` (half-open pixels of
        the analysed image), or the 4-sequences themselves. Numbered from 1 in order.
    colour : tuple of int
        Box and label colour (RGB).
    thickness : int
        Line width (pixels).
    column_step : int
        Decimation of the columns of ``rgb`` relative to the analysed image.
    """
    from PIL import Image, ImageDraw

    picture = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    draw = ImageDraw.Draw(picture)
    height, width = rgb.shape[:2]
    for number, (row0, col0, row1, col1) in enumerate(_regions(regions), start=1):
        x0 = int(np.clip(col0 // column_step, 0, width - 1))
        x1 = int(np.clip(max(col0 // column_step + 1, (col1 - 1) // column_step), 0, width - 1))
        y0 = int(np.clip(row0, 0, height - 1))
        y1 = int(np.clip(max(row0 + 1, row1 - 1), 0, height - 1))
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=thickness)
        label = str(number)
        tx, ty = x0 + 2, max(0, y0 - 12)
        draw.rectangle((tx - 1, ty, tx + 7 * len(label) + 1, ty + 11), fill=(255, 255, 255))
        draw.text((tx, ty), label, fill=colour)
    return np.asarray(picture, dtype=np.uint8).copy()


def legend(width: int, *, reasons: Sequence[str] = (), title: str | None = None, notes: Sequence[str] = ()) -> np.ndarray:
    """Return a legend strip: class swatches, an optional title, numbered reasons, notes.

    Parameters
    ----------
    width : int
        Width of the strip (pixels); at least 200 is used.
    reasons : sequence of str
        Lines listed as ``1. …``, ``2. …`` (the numbers of the boxes).
    title : str, optional
        A first line (e.g. scan id and verdict).
    notes : sequence of str
        Unnumbered lines after the reasons.
    """
    from PIL import Image, ImageDraw

    width = max(int(width), 200)
    line = 14
    # swatches, wrapped to the width
    placements, x, y = [], 4, 4
    for code in sorted(CLASS_COLOURS):
        needed = 16 + 7 * len(CLASS_NAMES[code]) + 14
        if x > 4 and x + needed > width:
            x, y = 4, y + line + 2
        placements.append((code, x, y))
        x += needed
    top = y + line + 4
    lines = ([title] if title else []) + [f"{i}. {text}" for i, text in enumerate(reasons, start=1)] + list(notes)
    height = top + line * len(lines) + 4
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    for code, x, y in placements:
        draw.rectangle((x, y, x + 12, y + 12), fill=CLASS_COLOURS[code], outline=(90, 90, 90))
        if code == HIGH_Z:
            draw.rectangle((x, y, x + 12, y + 12), outline=_HIGH_Z_OUTLINE)
            draw.rectangle((x + 2, y + 2, x + 10, y + 10), fill=CLASS_COLOURS[code])
        if code == IMPENETRABLE:
            draw.line((x, y + 12, x + 12, y), fill=_HATCH_IMPENETRABLE)
        draw.text((x + 16, y + 1), CLASS_NAMES[code], fill=(0, 0, 0))
    for index, text in enumerate(lines):
        draw.text((4, top + line * index), text, fill=(0, 0, 0))
    return np.asarray(picture, dtype=np.uint8).copy()


def compose(rgb: np.ndarray, strip: np.ndarray) -> np.ndarray:
    """Stack an image above a legend strip (the narrower is padded with white)."""
    width = max(rgb.shape[1], strip.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=255)  # noqa: E731
    return np.concatenate([pad(rgb), pad(strip)], axis=0)


def _decimate(rgb: np.ndarray, max_width: int) -> tuple[np.ndarray, int]:
    step = max(1, int(np.ceil(rgb.shape[1] / max_width)))
    return rgb[:, ::step], step


def evidence_png(image: Any, material_map: Any, verdict: dict[str, Any] | None = None, *, max_width: int = 4096) -> bytes:
    """Return the evidence PNG: pseudo-colour, numbered boxes of the verdict's regions, legend.

    Parameters
    ----------
    image : AnalysedImage
    material_map : MaterialMap
    verdict : dict, optional
        The contract's verdict (``regions``, ``reasons``, ``verdict``, ``score``, ``scan_id``).
    max_width : int
        Longer images are decimated along the columns for the picture (pixels).
    """
    rgb, step = _decimate(render_pseudocolour(image, material_map), max_width)
    reasons: list[str] = []
    notes: list[str] = []
    title = None
    if verdict:
        regions = verdict.get("regions") or []
        rgb = draw_boxes(rgb, regions, column_step=step)
        reasons = [
            f"{r.get('reason', '')}: {r.get('material', '')}, score {float(r.get('score', 0.0)):.2f}" for r in regions
        ]
        notes = [f"[{r.get('code', '')}] {r.get('message', '')}" for r in verdict.get("reasons") or []]
        title = str(verdict.get("scan_id", ""))
        if verdict.get("verdict"):
            title += f": {str(verdict['verdict']).upper()}  score {float(verdict.get('score', 0.0)):.2f}"
    return png_bytes(compose(rgb, legend(rgb.shape[1], reasons=reasons, title=title, notes=notes)))


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a ``rows × columns × 3`` uint8 image as PNG bytes."""
    from PIL import Image

    array = np.asarray(rgb)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected a rows × columns × 3 uint8 image, got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array), "RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write ``rgb`` as a PNG file atomically and return the path."""
    return atomic_write_bytes(path, png_bytes(rgb))

