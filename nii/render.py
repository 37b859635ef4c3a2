"""Images for officers: pseudo-colour by material class, grey levels, alarm boxes, legend.

* :func:`render_pseudocolour` — hue by class (orange organic, green inorganic, blue
  metal, violet high-Z, black impenetrable, white/grey none), brightness by attenuation;
  high-Z areas are hatched and outlined in magenta, impenetrable ones hatched in red so
  that neither can be missed in print or by a colour-blind reader.
* :func:`render_grey` — the high-energy attenuation with a percentile contrast stretch.
* :func:`merge_regions` — one object per group of overlapping regions (two checks that
  flag the same block give one numbered box, listing both reasons).
* :func:`render_evidence` / :func:`evidence_png` — the evidence image: the scan at its
  true aspect ratio (row height and column pitch of the analysed image), cropped to
  what is in the beam, one numbered box per object, and a legend readable when the
  image is fitted to 1,600 px wide (text of at least 12 px cap height at that scale):
  the verdict large in its colour, the warnings in a banner, the class swatches, the
  objects, the reasons and the estimates.
* :func:`draw_boxes` — numbered boxes on regions (``bbox`` = ``[row0, col0, row1, col1]``,
  half-open, analysed-image pixels).
* :func:`legend` — a strip with the class swatches and, when given, numbered reasons.
* :func:`save_png` / :func:`png_bytes` — PNG encoding (Pillow), written atomically.

Text is drawn with the bundled DejaVu Sans (``nii/_fonts``, with its licence), which has
every glyph the messages use (×, ≈, ³, α, σ, →, ⚠ …). All functions take and return
``rows × columns × 3`` ``uint8`` arrays; none opens a scan.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nii.classes import CLASS_NAMES, HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC
from nii.io_utils import atomic_write_bytes

__all__ = [
    "CLASS_COLOURS",
    "VERDICT_COLOURS",
    "FONT_DIR",
    "REFERENCE_WIDTH_PX",
    "MIN_TEXT_PX",
    "font",
    "missing_glyphs",
    "legend_font_px",
    "merge_regions",
    "content_extent",
    "true_aspect",
    "render_pseudocolour",
    "render_grey",
    "draw_boxes",
    "legend",
    "compose",
    "Evidence",
    "compose_evidence",
    "render_evidence",
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
#: Colour of each verdict (RGB): red to inspect, green when clear.
VERDICT_COLOURS: dict[str, tuple[int, int, int]] = {"inspect": (198, 40, 40), "clear": (46, 125, 50)}
_NO_VERDICT = (90, 90, 90)
_WARNING_FILL = (255, 213, 79)
_HIGH_Z_OUTLINE = (255, 0, 255)
_HATCH_HIGH_Z = (255, 235, 255)
_HATCH_IMPENETRABLE = (200, 0, 0)
_BOX = (230, 20, 20)
_HATCH_PERIOD_PX = 8

#: The bundled fonts (DejaVu Sans 2.37, licence beside them).
FONT_DIR = Path(__file__).with_name("_fonts")
_FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}
#: The evidence image must stay readable when fitted to this width (px)...
REFERENCE_WIDTH_PX = 1600
#: ... with text whose capital letters are at least this high there (px).
MIN_TEXT_PX = 12
_SMALLEST_FONT_PX = 17
#: Narrow scans are enlarged to at least this width (px) for the picture.
_MIN_PICTURE_WIDTH_PX = 640
#: Pixels above this high-energy attenuation hold material (not air) for the crop.
_AIR_ALPHA = 0.05
#: Overlap (share of the smaller box) from which two regions are one object.
_SAME_OBJECT_OVERLAP = 0.5


# --------------------------------------------------------------------------- fonts


@lru_cache(maxsize=64)
def font(size_px: int, bold: bool = False) -> Any:
    """Return the bundled DejaVu Sans at ``size_px`` (em size, px) as a Pillow font."""
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_DIR / _FONT_FILES[bool(bold)]), int(size_px))


@lru_cache(maxsize=1024)
def _glyph_signature(character: str, bold: bool) -> tuple[tuple[int, int], bytes]:
    mask = font(40, bold).getmask(character)
    return mask.size, bytes(mask)


def missing_glyphs(text: str, *, bold: bool = False) -> set[str]:
    """Characters of ``text`` that the bundled font draws as its empty "not defined" box."""
    missing = _glyph_signature("\U0010fffd", bold)
    return {c for c in set(text) if not c.isspace() and _glyph_signature(c, bold) == missing}


def _cap_height_px(size_px: int) -> int:
    left, top, right, bottom = font(size_px).getbbox("H")
    return int(bottom - top)


def legend_font_px(width_px: int) -> int:
    """Font size (em, px) of the legend of an image ``width_px`` wide.

    The smallest size whose capital letters stay :data:`MIN_TEXT_PX` high when the
    image is fitted to :data:`REFERENCE_WIDTH_PX` (never below 17 px).
    """
    scale = REFERENCE_WIDTH_PX / max(int(width_px), REFERENCE_WIDTH_PX)
    size = _SMALLEST_FONT_PX
    while _cap_height_px(size) * scale < MIN_TEXT_PX:
        size += 1
    return size


# --------------------------------------------------------------------------- colours


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


def _percentiles(values: np.ndarray, low_percentile: float, high_percentile: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    if finite.size > 2_000_000:  # percentiles of a large image: a regular subsample is as good
        finite = finite[:: finite.size // 1_000_000]
    low, high = (float(v) for v in np.percentile(finite, [low_percentile, high_percentile]))
    if not high > low:
        high = low + 1.0
    return low, high


def _stretch(values: np.ndarray, low_percentile: float, high_percentile: float,
             limits: tuple[float, float] | None = None) -> np.ndarray:
    low, high = limits if limits is not None else _percentiles(values, low_percentile, high_percentile)
    return np.clip((np.nan_to_num(values, nan=high) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _grey(alpha: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    level = 1.0 - _stretch(alpha, 0.0, 0.0, limits)
    grey = np.round(255.0 * level).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


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
    return _grey(alpha, _percentiles(alpha, low_percentile, high_percentile))


def _colourise(classes: np.ndarray, alpha: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    palette = np.array([CLASS_COLOURS[c] for c in sorted(CLASS_COLOURS)], np.float32)
    codes = np.minimum(classes, len(palette) - 1)
    # brightness: 1 in air, 0.3 at the most attenuating 0.5 % of the image
    density = _stretch(alpha, 0.0, 0.0, limits) ** 0.7
    brightness = 1.0 - 0.7 * density
    rgb = palette[codes] * brightness[..., None]
    none = classes == NONE
    rgb[none] = palette[NONE] * (0.45 + 0.55 * brightness[none, None])
    hatch = _hatch(classes.shape)
    high_z = classes == HIGH_Z
    rgb[high_z & hatch] = _HATCH_HIGH_Z
    rgb[_outline(high_z)] = _HIGH_Z_OUTLINE
    impenetrable = classes == IMPENETRABLE
    rgb[impenetrable] = CLASS_COLOURS[IMPENETRABLE]
    rgb[impenetrable & hatch] = _HATCH_IMPENETRABLE
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


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
    return _colourise(classes, alpha, _percentiles(alpha, 0.0, 99.5))


# --------------------------------------------------------------------------- regions


def _bbox_of(region: Any) -> tuple[int, int, int, int]:
    bbox: Any = region.get("bbox") if isinstance(region, Mapping) else getattr(region, "bbox", region)
    if bbox is None or len(bbox) != 4:
        raise ValueError(f"a region needs a 4-number bbox [row0, col0, row1, col1], got {bbox!r}")
    row0, col0, row1, col1 = (int(v) for v in bbox)
    return row0, col0, row1, col1


def _regions(regions: Iterable[Any]) -> list[tuple[int, int, int, int]]:
    return [_bbox_of(region) for region in regions]


def _field(region: Any, name: str, default: Any = None) -> Any:
    return region.get(name, default) if isinstance(region, Mapping) else getattr(region, name, default)


def _overlap_share(a: Sequence[int], b: Sequence[int]) -> float:
    rows = min(a[2], b[2]) - max(a[0], b[0])
    cols = min(a[3], b[3]) - max(a[1], b[1])
    if rows <= 0 or cols <= 0:
        return 0.0
    smaller = min(max(a[2] - a[0], 1) * max(a[3] - a[1], 1), max(b[2] - b[0], 1) * max(b[3] - b[1], 1))
    return rows * cols / smaller


def merge_regions(regions: Iterable[Any], *, overlap: float = _SAME_OBJECT_OVERLAP) -> list[dict[str, Any]]:
    """Group the regions that show one object; return one entry per object.

    Two regions are the same object when their boxes overlap by at least ``overlap``
    of the smaller one (so a high-Z block and the concealment anomaly around it are
    one box); groups grow until no two of them overlap that much.

    Parameters
    ----------
    regions : iterable
        The verdict's regions (dicts of the contract or :class:`Region` objects).
    overlap : float
        Share (0..1) of the smaller box that must be covered.

    Returns
    -------
    list of dict
        In the order of each object's first region: ``number`` (from 1), ``bbox``
        (union, analysed-image pixels, half-open), ``bbox_mm`` (union, when the regions
        have it), ``members`` (indices into ``regions``), ``reasons`` (codes, in order,
        without repeats), ``material`` (of the strongest region), ``score`` (the
        largest).
    """
    items = list(regions)
    boxes = [list(_bbox_of(region)) for region in items]
    groups: list[list[int]] = [[index] for index in range(len(items))]
    union = [list(box) for box in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _overlap_share(union[i], union[j]) >= overlap:
                    groups[i] += groups.pop(j)
                    a, b = union[i], union.pop(j)
                    union[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    merged = True
                    break
            if merged:
                break
    objects: list[dict[str, Any]] = []
    for group, box in sorted(zip(groups, union, strict=True), key=lambda pair: min(pair[0])):
        members = sorted(group)
        scores = [float(_field(items[m], "score", 0.0) or 0.0) for m in members]
        strongest = members[int(np.argmax(scores))] if members else None
        millimetres = [_field(items[m], "bbox_mm") for m in members]
        bbox_mm = None
        if millimetres and all(mm is not None and len(mm) == 4 for mm in millimetres):
            values = np.asarray(millimetres, np.float64)
            bbox_mm = [float(values[:, 0].min()), float(values[:, 1].min()),
                       float(values[:, 2].max()), float(values[:, 3].max())]
        objects.append({
            "number": len(objects) + 1,
            "bbox": [int(v) for v in box],
            "bbox_mm": bbox_mm,
            "members": members,
            "reasons": list(dict.fromkeys(str(_field(items[m], "reason", "")) for m in members)),
            "material": str(_field(items[strongest], "material", "")) if strongest is not None else "",
            "score": max(scores) if scores else 0.0,
        })
    return objects


def true_aspect(image: Any) -> float:
    """Height of a row over the width of a column at the scan plane (1 when unknown)."""
    row = float(getattr(image, "row_height_mm", math.nan) or math.nan)
    column = float(getattr(image, "column_pitch_mm", math.nan) or math.nan)
    if math.isfinite(row) and math.isfinite(column) and row > 0 and column > 0:
        return row / column
    return 1.0


def content_extent(alpha: np.ndarray, classes: np.ndarray | None = None,
                   boxes: Iterable[Sequence[int]] = (), *, margin: float = 0.02) -> tuple[int, int, int, int]:
    """Rows and columns that hold material: ``(row0, row1, col0, col1)``, half-open.

    A row (column) holds material when a few of its pixels attenuate more than air
    does (``α_H > 0.05``) or are classed as a material; the extent grows by ``margin``
    of its size on each side and always includes ``boxes``.
    """
    alpha = np.asarray(alpha, np.float32)
    rows, cols = alpha.shape
    matter = np.nan_to_num(alpha, nan=0.0) > _AIR_ALPHA
    if classes is not None:
        matter |= np.asarray(classes) != NONE
    row_hits = np.flatnonzero(matter.sum(axis=1) >= max(3, 0.002 * cols))
    col_hits = np.flatnonzero(matter.sum(axis=0) >= max(2, 0.01 * rows))
    if row_hits.size == 0 or col_hits.size == 0:
        r0, r1, c0, c1 = 0, rows, 0, cols
    else:
        r0, r1 = int(row_hits[0]), int(row_hits[-1]) + 1
        c0, c1 = int(col_hits[0]), int(col_hits[-1]) + 1
        pad_r, pad_c = max(2, int(margin * (r1 - r0))), max(2, int(margin * (c1 - c0)))
        r0, r1, c0, c1 = max(0, r0 - pad_r), min(rows, r1 + pad_r), max(0, c0 - pad_c), min(cols, c1 + pad_c)
    for box in boxes:
        r0, c0 = min(r0, max(0, int(box[0]))), min(c0, max(0, int(box[1])))
        r1, c1 = max(r1, min(rows, int(box[2]))), max(c1, min(cols, int(box[3])))
    return r0, r1, c0, c1


# --------------------------------------------------------------------------- drawing


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
    boxes = []
    for row0, col0, row1, col1 in _regions(regions):
        boxes.append((col0 / column_step, row0, max(col0 / column_step + 1, (col1 - 1) / column_step), max(row0 + 1, row1 - 1)))
    return _draw_numbered_boxes(rgb, boxes, colour=colour, thickness=thickness, label_px=12, min_size_px=0)


def _draw_numbered_boxes(rgb: np.ndarray, boxes: Sequence[tuple[float, float, float, float]], *,
                         colour: tuple[int, int, int], thickness: int, label_px: int, min_size_px: int,
                         numbers: Sequence[int] | None = None) -> np.ndarray:
    """Boxes given as ``(x0, y0, x1, y1)`` output pixels (inclusive), each with its number."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    draw = ImageDraw.Draw(picture)
    height, width = rgb.shape[:2]
    label_font = font(max(int(label_px), 8), True)
    for index, (x0, y0, x1, y1) in enumerate(boxes):
        # a small object gets a box large enough to be seen around its centre
        if x1 - x0 < min_size_px:
            middle = 0.5 * (x0 + x1)
            x0, x1 = middle - 0.5 * min_size_px, middle + 0.5 * min_size_px
        if y1 - y0 < min_size_px:
            middle = 0.5 * (y0 + y1)
            y0, y1 = middle - 0.5 * min_size_px, middle + 0.5 * min_size_px
        x0, x1 = (int(np.clip(round(v), 0, width - 1)) for v in (x0, x1))
        y0, y1 = (int(np.clip(round(v), 0, height - 1)) for v in (y0, y1))
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=thickness)
        label = str(numbers[index] if numbers is not None else index + 1)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=label_font)
        pad = max(1, label_px // 8)
        w, h = right - left + 2 * pad, bottom - top + 2 * pad
        tx = int(np.clip(x0, 0, max(0, width - w)))
        ty = y0 - h - thickness if y0 - h - thickness >= 0 else min(y1 + thickness + 1, max(0, height - h))
        draw.rectangle((tx, ty, tx + w, ty + h), fill=(255, 255, 255), outline=colour)
        draw.text((tx + pad - left, ty + pad - top), label, fill=colour, font=label_font)
    return np.asarray(picture, dtype=np.uint8).copy()


def _wrap(text: str, font_obj: Any, width_px: float) -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``width_px`` in ``font_obj``."""
    words = text.split(" ")
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = word if not line else f"{line} {word}"
        if font_obj.getlength(candidate) <= width_px or not line:
            if font_obj.getlength(candidate) > width_px and not line:
                # one word wider than the line: cut it by characters
                chars = max(1, int(len(word) * width_px / max(font_obj.getlength(word), 1.0)))
                pieces = textwrap.wrap(word, chars) or [word]
                lines.extend(pieces[:-1])
                line = pieces[-1]
            else:
                line = candidate
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return lines


def legend(
    width: int,
    *,
    reasons: Sequence[str] = (),
    title: str | None = None,
    notes: Sequence[str] = (),
    warnings: Sequence[str] = (),
    verdict: str | None = None,
    font_px: int | None = None,
) -> np.ndarray:
    """Return a legend strip: verdict banner, warnings, class swatches, numbered lines, notes.

    Parameters
    ----------
    width : int
        Width of the strip (pixels); at least 200 is used.
    reasons : sequence of str
        Lines listed as ``1 …``, ``2 …`` (the numbers of the boxes).
    title : str, optional
        A first line (e.g. scan id and verdict); with ``verdict``, drawn large in a
        banner of the verdict's colour (:data:`VERDICT_COLOURS`).
    notes : sequence of str
        Unnumbered lines after the reasons.
    warnings : sequence of str
        Lines on an amber banner under the title.
    verdict : str, optional
        ``"inspect"`` or ``"clear"``: its word opens the banner, in its colour.
    font_px : int, optional
        Text size (em, px); default :func:`legend_font_px` of ``width``.
    """
    from PIL import Image, ImageDraw

    width = max(int(width), 200)
    size = int(font_px) if font_px else legend_font_px(width)
    regular, bold, big = font(size), font(size, True), font(int(round(1.6 * size)), True)
    pad = max(4, size // 3)
    line = int(round(1.3 * size))
    text_width = width - 2 * pad
    blocks: list[tuple[str, Any]] = []  # (kind, payload) in drawing order
    height = 0
    if title or verdict:
        banner = int(round(2.2 * size)) if verdict else line + 2 * pad
        blocks.append(("banner", banner))
        height += banner
    warning_lines = [piece for text in warnings for piece in _wrap(f"⚠ {text}", regular, text_width)]
    if warning_lines:
        blocks.append(("warnings", warning_lines))
        height += line * len(warning_lines) + 2 * pad
    # swatches, wrapped to the width
    swatch = size
    placements, x, y = [], pad, height + pad
    for code in sorted(CLASS_COLOURS):
        needed = swatch + pad + int(regular.getlength(CLASS_NAMES[code])) + 2 * size
        if x > pad and x + needed > width:
            x, y = pad, y + line
        placements.append((code, x, y))
        x += needed
    height = y + line + pad
    numbered = []
    for number, text in enumerate(reasons, start=1):
        pieces = _wrap(text, regular, text_width - 2.5 * size)
        numbered.append((number, pieces))
        height += line * len(pieces)
    note_lines = [piece for text in notes for piece in _wrap(text, regular, text_width)]
    height += line * len(note_lines) + pad
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    top = 0
    for kind, payload in blocks:
        if kind == "banner":
            colour = VERDICT_COLOURS.get(str(verdict), _NO_VERDICT) if verdict else (255, 255, 255)
            draw.rectangle((0, top, width, top + payload), fill=colour)
            x = pad
            if verdict:
                word = str(verdict).upper()
                _, t, _, b = draw.textbbox((0, 0), word, font=big)
                draw.text((x, top + (payload - (b - t)) // 2 - t), word, fill=(255, 255, 255), font=big)
                x += int(big.getlength(word)) + size
            if title:
                fill = (255, 255, 255) if verdict else (0, 0, 0)
                room = width - x - pad
                shown = title
                while shown and regular.getlength(shown) > room:
                    shown = shown[:-2] + "…" if len(shown) > 2 else ""
                _, t, _, b = draw.textbbox((0, 0), "Hg", font=regular)
                draw.text((x, top + (payload - (b - t)) // 2 - t), shown, fill=fill, font=regular)
            top += payload
        elif kind == "warnings":
            box_height = line * len(payload) + 2 * pad
            draw.rectangle((0, top, width, top + box_height), fill=_WARNING_FILL)
            for index, text in enumerate(payload):
                draw.text((pad, top + pad + line * index), text, fill=(0, 0, 0), font=regular)
            top += box_height
    for code, x, y in placements:
        box = (x, y + (line - swatch) // 2, x + swatch, y + (line - swatch) // 2 + swatch)
        draw.rectangle(box, fill=CLASS_COLOURS[code], outline=(90, 90, 90))
        if code == HIGH_Z:
            draw.rectangle(box, outline=_HIGH_Z_OUTLINE, width=max(1, size // 8))
        if code == IMPENETRABLE:
            draw.line((box[0], box[3], box[2], box[1]), fill=_HATCH_IMPENETRABLE, width=max(1, size // 10))
        draw.text((x + swatch + pad, y + (line - size) // 2), CLASS_NAMES[code], fill=(0, 0, 0), font=regular)
    y = placements[-1][2] + line + pad
    for number, pieces in numbered:
        label = str(number)
        lw = int(bold.getlength(label))
        draw.rectangle((pad, y + 1, pad + lw + size // 2, y + line - 1), fill=(255, 255, 255), outline=_BOX, width=max(1, size // 10))
        draw.text((pad + size // 4, y + (line - size) // 2), label, fill=_BOX, font=bold)
        for piece in pieces:
            draw.text((pad + int(2.5 * size), y + (line - size) // 2), piece, fill=(0, 0, 0), font=regular)
            y += line
    for piece in note_lines:
        draw.text((pad, y + (line - size) // 2), piece, fill=(0, 0, 0), font=regular)
        y += line
    return np.asarray(picture, dtype=np.uint8).copy()


def compose(rgb: np.ndarray, strip: np.ndarray) -> np.ndarray:
    """Stack an image above a legend strip (the narrower is padded with white)."""
    width = max(rgb.shape[1], strip.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=255)  # noqa: E731
    return np.concatenate([pad(rgb), pad(strip)], axis=0)


# --------------------------------------------------------------------------- evidence


def _resample_float(values: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), "F")
    return np.asarray(picture.resize((width, height), Image.Resampling.BOX), dtype=np.float32)


def _resample_classes(classes: np.ndarray, width: int, height: int) -> np.ndarray:
    rows, cols = classes.shape
    row_index = np.minimum(((np.arange(height) + 0.5) * rows / height).astype(np.intp), rows - 1)
    col_index = np.minimum(((np.arange(width) + 0.5) * cols / width).astype(np.intp), cols - 1)
    out = classes[row_index][:, col_index]
    if width < cols or height < rows:
        # reduced: a high-Z or impenetrable pixel anywhere in a bin keeps the bin's colour
        for code in (IMPENETRABLE, HIGH_Z):
            present = _resample_float((classes == code).astype(np.float32), width, height) > 0
            out = np.where(present, np.uint8(code), out)
    return out


def _picture_size(rows: int, cols: int, aspect: float, max_width: int) -> tuple[int, int]:
    width = min(int(max_width), max(cols, _MIN_PICTURE_WIDTH_PX))
    height = max(1, int(round(rows * aspect * width / cols)))
    if height > 4 * width:  # a tall narrow strip: keep the picture within reason
        height = 4 * width
        width = max(1, int(round(height * cols / (rows * aspect))))
    return width, height


def _percent(share: Any) -> str:
    return f"{100 * float(share):.0f} %"


def _size_text(bbox_mm: Sequence[float] | None) -> str:
    if not bbox_mm:
        return ""
    height_cm, width_cm = abs(bbox_mm[2] - bbox_mm[0]) / 10.0, abs(bbox_mm[3] - bbox_mm[1]) / 10.0
    return f", {width_cm:.0f} cm long × {height_cm:.0f} cm high"


@dataclass
class Evidence:
    """The evidence image and how it was laid out.

    Parameters
    ----------
    rgb : numpy.ndarray of uint8, rows × columns × 3
        The picture above its legend.
    extent : tuple of int
        ``(row0, row1, col0, col1)`` of the analysed image shown (half-open).
    picture_size : tuple of int
        ``(width, height)`` of the picture (px), at the true aspect ratio.
    font_px : int
        Text size of the legend and the box numbers (em, px).
    boxes : list of tuple
        ``(x0, y0, x1, y1)`` of each object's box on the picture (px), in number order.
    text : list of str
        Every line of text drawn.
    """

    rgb: np.ndarray
    extent: tuple[int, int, int, int]
    picture_size: tuple[int, int]
    font_px: int
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def compose_evidence(image: Any, material_map: Any, verdict: Mapping[str, Any] | None = None, *,
                     max_width: int = 4096, grey: bool = False) -> Evidence:
    """Return the evidence image and its layout.

    Parameters
    ----------
    image : AnalysedImage
        ``attenuation_high``; ``row_height_mm`` and ``column_pitch_mm`` give the true
        aspect ratio.
    material_map : MaterialMap or None
        ``classes`` for the pseudo-colour (``None`` with ``grey``).
    verdict : mapping, optional
        The contract's verdict (``verdict``, ``score``, ``scan_id``, ``reasons``,
        ``regions``, ``estimates``, ``warnings``).
    max_width : int
        Widest picture (px); the height follows the true aspect ratio.
    grey : bool
        Grey levels of the high-energy attenuation instead of the material colours.

    Notes
    -----
    The picture shows the rows and columns that hold material (air bands around the
    object are cut, never a region), resampled to the true aspect ratio: the width is
    the columns (at most ``max_width``), the height ``rows × row height / column pitch``
    at that scale. One numbered box is drawn per object (:func:`merge_regions`); a box
    is at least two text heights wide so that a small object is seen. The legend's
    text is sized by :func:`legend_font_px`.
    """
    alpha = np.asarray(image.attenuation_high, np.float32)
    if alpha.ndim != 2:
        raise ValueError(f"attenuation_high must be rows × columns, got shape {alpha.shape}")
    classes = None if (grey or material_map is None) else np.asarray(material_map.classes)
    if classes is not None and classes.shape != alpha.shape:
        raise ValueError(f"classes {classes.shape} and attenuation_high {alpha.shape} must be one rows × columns shape")
    verdict = dict(verdict or {})
    objects = merge_regions(verdict.get("regions") or [])
    r0, r1, c0, c1 = content_extent(alpha, classes, [o["bbox"] for o in objects])
    crop = alpha[r0:r1, c0:c1]
    rows, cols = crop.shape
    width, height = _picture_size(rows, cols, true_aspect(image), max_width)
    limits = _percentiles(crop, 0.0, 99.5) if classes is not None else _percentiles(crop, 0.5, 99.5)
    shown_alpha = _resample_float(np.nan_to_num(crop, nan=limits[1]), width, height)
    if classes is None:
        rgb = _grey(shown_alpha, limits)
    else:
        rgb = _colourise(_resample_classes(classes[r0:r1, c0:c1], width, height), shown_alpha, limits)
    strip_width = max(width, min(_MIN_PICTURE_WIDTH_PX, int(max_width)))
    size = legend_font_px(strip_width)
    sx, sy = width / cols, height / rows
    boxes = [((o["bbox"][1] - c0) * sx, (o["bbox"][0] - r0) * sy,
              (o["bbox"][3] - c0) * sx - 1, (o["bbox"][2] - r0) * sy - 1) for o in objects]
    rgb = _draw_numbered_boxes(rgb, boxes, colour=_BOX, thickness=max(2, size // 8), label_px=size,
                               min_size_px=2 * size, numbers=[o["number"] for o in objects])
    regions = list(verdict.get("regions") or [])
    lines = []
    for item in objects:
        parts = []
        for member in item["members"]:
            region = regions[member]
            parts.append(f"{region.get('reason', '')} ({region.get('material', '')}, score {float(region.get('score', 0.0)):.2f})")
        lines.append("; ".join(dict.fromkeys(parts)) + _size_text(item["bbox_mm"]))
    box_of_code: dict[str, list[int]] = {}
    for item in objects:
        for code in item["reasons"]:
            box_of_code.setdefault(code, []).append(item["number"])
    notes = []
    for reason in verdict.get("reasons") or []:
        code = str(reason.get("code", ""))
        boxes_text = ", ".join(str(n) for n in box_of_code.get(code, []))
        where = f" [box {boxes_text}]" if boxes_text else ""
        notes.append(f"{code} ({reason.get('severity', '')}): {reason.get('message', '')}{where}")
    estimates = verdict.get("estimates") or {}
    mass = estimates.get("cargo_mass_kg")
    fractions = estimates.get("material_fractions") or {}
    estimate_text = []
    if mass is not None:
        estimate_text.append(f"cargo ≈ {float(mass):,.0f} kg")
    if fractions:
        shown = {name: share for name, share in fractions.items() if float(share or 0.0) >= 0.005}
        if shown:
            estimate_text.append(", ".join(f"{name} {_percent(share)}" for name, share in shown.items()))
    if estimate_text:
        notes.append("estimates: " + "; ".join(estimate_text))
    column_mm = float(getattr(image, "column_pitch_mm", math.nan) or math.nan)
    if math.isfinite(column_mm) and column_mm > 0:
        notes.append(
            f"true aspect: rows {float(getattr(image, 'row_height_mm', math.nan)):.1f} mm, columns {column_mm:.1f} mm; "
            f"1 m = {1000.0 / column_mm * sx:.0f} px; rows {r0}–{r1}, columns {c0}–{c1} of the analysed image"
        )
    title = str(verdict.get("scan_id", "") or getattr(image, "scan_id", "") or "")
    word = verdict.get("verdict")
    if word:
        title = f"score {float(verdict.get('score', 0.0)):.2f} · {title}"
    warnings = [str(w) for w in verdict.get("warnings") or []]
    strip = legend(strip_width, reasons=lines, title=title, notes=notes,
                   warnings=warnings, verdict=str(word) if word else None, font_px=size)
    text = ([str(word).upper()] if word else []) + [title] + [f"⚠ {w}" for w in warnings] + list(CLASS_NAMES.values())
    text += lines + notes + [str(o["number"]) for o in objects]
    return Evidence(compose(rgb, strip), (r0, r1, c0, c1), (width, height), size, boxes, text)


def render_evidence(image: Any, material_map: Any, verdict: Mapping[str, Any] | None = None, *,
                    max_width: int = 4096, grey: bool = False) -> np.ndarray:
    """Return the evidence image (rows × columns × 3 ``uint8``; see :func:`compose_evidence`)."""
    return compose_evidence(image, material_map, verdict, max_width=max_width, grey=grey).rgb




def evidence_png(image: Any, material_map: Any, verdict: Mapping[str, Any] | None = None, *,
                 max_width: int = 4096, grey: bool = False) -> bytes:
    """Return the evidence PNG (see :func:`render_evidence`).

    Parameters
    ----------
    image : AnalysedImage
    material_map : MaterialMap or None
    verdict : dict, optional
        The contract's verdict (``regions``, ``reasons``, ``verdict``, ``score``,
        ``scan_id``, ``estimates``, ``warnings``).
    max_width : int
        Widest picture (px); the true aspect ratio is kept.
    grey : bool
        Grey levels instead of the material colours.
    """
    return png_bytes(compose_evidence(image, material_map, verdict, max_width=max_width, grey=grey).rgb)


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
