"""``review.html``: the officer's page of one scan, written beside its verdict.

A static page that opens from disk with no server and no network: the style and the
script are inline, the verdict, the manifest and the layer descriptions are embedded
as JSON, and the image layers are JavaScript files in ``review_files/`` beside the
page (see :mod:`nii.review.tiles`; a page opened from disk may load a script, not
``fetch()`` a file). The page shows:

* the scan at its true aspect ratio on a canvas, with pan and zoom (wheel, drag,
  keyboard) up to beyond full resolution;
* six layers, each with a window and level: material colours, high and low energy,
  ``Z_eff``, areal density, and the departure from the expected cargo;
* one numbered box per object (:func:`nii.render.merge_regions`); a click on a reason
  or a box in the list zooms to it;
* the verdict large in its colour, the warnings in a banner, the estimates, the
  manifest and the provenance beside the image;
* its keyboard shortcuts (the ``?`` key or the list at the bottom of the side panel).

The review station (:mod:`nii.review.station`) serves the same page and adds the
officer's decision form to it.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from nii import __version__
from nii.classes import CLASS_NAMES
from nii.io_utils import atomic_write_text
from nii.render import CLASS_COLOURS, VERDICT_COLOURS, content_extent, merge_regions, true_aspect
from nii.review.tiles import LAYERS, TILE_COLUMNS, build_layers

__all__ = [
    "REVIEW_FILE",
    "ASSETS_DIR",
    "STATION_MARKER",
    "SHORTCUTS",
    "verdict_digest",
    "manifest_dict",
    "review_html",
    "write_review",
    "write_review_page",
]

REVIEW_FILE = "review.html"
ASSETS_DIR = "review_files"
#: Where the review station puts its settings into a page it serves.
STATION_MARKER = "<!--nii-station-->"

#: The page's keyboard shortcuts: (keys, what they do).
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("+ / −  or wheel", "zoom in / out (around the pointer with the wheel)"),
    ("drag  or ← ↑ → ↓", "pan (Shift + arrow: a larger step)"),
    ("0  or Home", "fit the object to the view"),
    ("F", "full resolution (one screen pixel per column) at the centre"),
    ("1 … 6", "layer: material, high energy, low energy, Z_eff, areal density, departure"),
    ("N / P", "next / previous box"),
    ("W / Shift+W", "narrower / wider window"),
    ("L / Shift+L", "lower / higher level"),
    ("R", "reset the window and level of the layer"),
    ("B", "show or hide the boxes"),
    ("D", "draw a box (review station: drag on the image)"),
    ("?", "show or hide this list"),
)

_DECISION_NAMES = (("release", "Release"), ("physical_inspection", "Physical inspection"), ("rescan", "Rescan"))


def verdict_digest(verdict_json: str | bytes) -> str:
    """sha256 (hex) of the verdict's JSON text as written to ``verdict.json``."""
    data = verdict_json.encode("utf-8") if isinstance(verdict_json, str) else bytes(verdict_json)
    return hashlib.sha256(data).hexdigest()


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def manifest_dict(manifest: Any) -> dict[str, Any] | None:
    """The manifest as the page shows it (container, tare, items), from a ``Manifest`` or a dict."""
    if manifest is None:
        return None
    if isinstance(manifest, Mapping):
        return json.loads(json.dumps(manifest, default=str))
    items = []
    for item in getattr(manifest, "items", ()) or ():
        items.append({
            "hs_code": str(getattr(item, "hs_code", "")),
            "description": str(getattr(item, "description", "") or ""),
            "gross_mass_kg": _number(getattr(item, "gross_mass_kg", None)),
            "packages": getattr(item, "packages", None),
        })
    container = getattr(manifest, "container", None)
    declared = None
    try:
        declared = _number(manifest.declared_gross_mass_kg)
    except Exception:  # noqa: BLE001 - a property of another module; the page does without it
        declared = None
    return {
        "container_id": str(getattr(manifest, "container_id", "") or ""),
        "iso_type": str(getattr(manifest, "iso_type", "") or ""),
        "container_type": str(getattr(container, "name", "") or ""),
        "tare_mass_kg": _number(getattr(manifest, "tare_mass_kg", None)),
        "tare_declared": bool(getattr(manifest, "tare_declared", False)),
        "declared_empty": bool(getattr(manifest, "declared_empty", False)),
        "declared_gross_mass_kg": declared,
        "items": items,
        "source": str(getattr(manifest, "source", "") or ""),
    }


def _static(name: str) -> str:
    return resources.files("nii.review").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _kg(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:,.0f} kg"


def _side_panel(verdict: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any] | None,
                layer_names: Sequence[str], layers: Mapping[str, Mapping[str, Any]]) -> str:
    parts: list[str] = []
    by_code: dict[str, list[int]] = {}
    for item in objects:
        for code in item["reasons"]:
            by_code.setdefault(code, []).append(int(item["number"]))
    # reasons
    reasons = verdict.get("reasons") or []
    parts.append('<section id="reasons"><h2>Reasons</h2>')
    if reasons:
        parts.append('<ol class="reasons">')
        for index, reason in enumerate(reasons):
            code = str(reason.get("code", ""))
            numbers = by_code.get(code, [])
            boxes = " ".join(str(n) for n in numbers)
            tag = f'<span class="boxref">box {", ".join(str(n) for n in numbers)}</span>' if numbers else '<span class="boxref none">whole scan</span>'
            parts.append(
                f'<li class="reason sev-{_e(reason.get("severity", ""))}" tabindex="0" data-index="{index}" '
                f'data-code="{_e(code)}" data-objects="{_e(boxes)}" title="zoom to its region">'
                f'<div class="code">{_e(code)} <span class="severity">{_e(reason.get("severity", ""))}</span> {tag}</div>'
                f'<div class="message">{_e(reason.get("message", ""))}</div></li>'
            )
        parts.append("</ol>")
    else:
        parts.append('<p class="none">No reason: the scan agrees with its declaration.</p>')
    parts.append("</section>")
    # boxes
    regions = verdict.get("regions") or []
    parts.append('<section id="objects"><h2>Boxes</h2>')
    if objects:
        parts.append('<ol class="objects">')
        for item in objects:
            lines = []
            for member in item["members"]:
                region = regions[member]
                lines.append(f'{_e(region.get("reason", ""))} · {_e(region.get("material", ""))} · '
                             f'score {float(region.get("score", 0.0)):.2f}')
            size = ""
            if item.get("bbox_mm"):
                z0, x0, z1, x1 = item["bbox_mm"]
                size = f'<div class="size">{abs(x1 - x0) / 10:.0f} cm long × {abs(z1 - z0) / 10:.0f} cm high, at x = {x0 / 1000:.2f} m</div>'
            parts.append(
                f'<li class="object" tabindex="0" data-number="{item["number"]}" '
                f'data-bbox="{",".join(str(v) for v in item["bbox"])}"><span class="num">{item["number"]}</span>'
                f'<div>{"<br>".join(lines)}{size}</div></li>'
            )
        parts.append("</ol>")
    else:
        parts.append('<p class="none">No box.</p>')
    parts.append("</section>")
    # decision (filled by the review station)
    parts.append('<section id="decision" hidden><h2>Decision</h2><form id="decision-form">'
                 '<label>officer <input id="officer" name="officer" required autocomplete="username"></label>'
                 '<div class="choices">')
    for value, label in _DECISION_NAMES:
        parts.append(f'<label class="choice"><input type="radio" name="decision" value="{value}" required> {label}</label>')
    parts.append('</div><label>note <textarea id="note" name="note" rows="3"></textarea></label>'
                 '<div id="drawn"></div><button type="button" id="draw-toggle">draw a box (D)</button> '
                 '<button type="button" id="drawn-clear">clear boxes</button>'
                 '<button type="submit" id="decide">record the decision</button>'
                 '<div id="decision-status" role="status"></div></form>'
                 '<h3>Recorded</h3><ol id="history"></ol><div id="queue-nav"></div></section>')
    # layers
    parts.append('<section id="layers"><h2>Layer</h2><div class="layer-buttons">')
    for key, name in enumerate(layer_names, start=1):
        layer = layers[name]
        parts.append(f'<button type="button" class="layer" data-layer="{_e(name)}" title="{_e(layer["description"])} (key {key})">'
                     f'<kbd>{key}</kbd> {_e(layer["label"])}</button>')
    parts.append('</div><div id="layer-description"></div>'
                 '<label>window <input id="wl-window" type="range" min="0" max="1000" value="500"></label>'
                 '<label>level <input id="wl-level" type="range" min="0" max="1000" value="500"></label>'
                 '<div id="wl-readout"></div><button type="button" id="wl-reset">reset (R)</button>'
                 '<div id="colour-key"></div></section>')
    # estimates
    estimates = verdict.get("estimates") or {}
    fractions = estimates.get("material_fractions") or {}
    parts.append('<section id="estimates"><h2>Estimates</h2><table>')
    declared = manifest.get("declared_gross_mass_kg") if manifest else None
    parts.append(f'<tr><th>cargo mass</th><td>≈ {_kg(estimates.get("cargo_mass_kg"))}</td></tr>')
    if manifest is not None:
        parts.append(f'<tr><th>declared</th><td>{_kg(declared)}</td></tr>')
    for name, share in fractions.items():
        parts.append(f'<tr><th>{_e(name)}</th><td>{100 * float(share):.0f} % of the mass</td></tr>')
    parts.append("</table></section>")
    # manifest
    parts.append('<section id="manifest"><h2>Manifest</h2>')
    if manifest is None:
        parts.append('<p class="none">not given</p>')
    else:
        tare = _kg(manifest.get("tare_mass_kg")) + ("" if manifest.get("tare_declared") else " (typical for the type)")
        parts.append(
            '<table>'
            f'<tr><th>container</th><td>{_e(manifest.get("container_id", ""))}</td></tr>'
            f'<tr><th>ISO type</th><td>{_e(manifest.get("iso_type", ""))} {_e(manifest.get("container_type", ""))}</td></tr>'
            f'<tr><th>tare</th><td>{_e(tare)}</td></tr>'
            f'<tr><th>declared empty</th><td>{"yes" if manifest.get("declared_empty") else "no"}</td></tr>'
            '</table>'
        )
        items = manifest.get("items") or []
        if items:
            parts.append('<table class="items"><tr><th>HS code</th><th>goods</th><th>gross</th><th>packages</th></tr>')
            for item in items:
                packages = item.get("packages")
                parts.append(f'<tr><td>{_e(item.get("hs_code", ""))}</td><td>{_e(item.get("description", ""))}</td>'
                             f'<td>{_kg(item.get("gross_mass_kg"))}</td><td>{"" if packages is None else _e(packages)}</td></tr>')
            parts.append("</table>")
    parts.append("</section>")
    # provenance
    provenance = verdict.get("provenance") or {}
    parts.append('<section id="provenance"><h2>Provenance</h2><table>')
    for field_name in ("input_sha256", "calibration", "software"):
        value = str(provenance.get(field_name, ""))
        parts.append(f'<tr><th>{_e(field_name)}</th><td class="mono" title="{_e(value)}">{_e(value)}</td></tr>')
    parts.append('</table><p class="links"><a href="verdict.json">verdict.json</a> · <a href="evidence.png">evidence.png</a></p></section>')
    # shortcuts
    parts.append('<section id="shortcuts"><h2>Keyboard</h2><table>')
    for keys, what in SHORTCUTS:
        parts.append(f"<tr><th><kbd>{_e(keys)}</kbd></th><td>{_e(what)}</td></tr>")
    parts.append("</table></section>")
    return "".join(parts)


def review_html(meta: Mapping[str, Any]) -> str:
    """The page's HTML for the embedded description ``meta`` (see :func:`write_review`)."""
    verdict = meta["verdict"]
    word = str(verdict.get("verdict", "") or "")
    colour = VERDICT_COLOURS.get(word, (90, 90, 90))
    warnings = [str(w) for w in verdict.get("warnings") or []]
    banner = ""
    if warnings:
        banner = ('<div id="warnings" role="alert"><strong>⚠ Warnings</strong><ul>'
                  + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul></div>")
    manifest = meta.get("manifest")
    container = f" · container {_e(manifest.get('container_id', ''))}" if manifest and manifest.get("container_id") else ""
    score = float(verdict.get("score", 0.0) or 0.0)
    side = _side_panel(verdict, meta["objects"], manifest, meta["layer_order"], meta["layers"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(word.upper())} · {_e(meta['scan_id'])} · NII review</title>
<style>
{_static("review.css")}
</style>
</head>
<body>
<header id="verdict" class="verdict-{_e(word)}" style="background: rgb{colour}">
  <div class="word" id="verdict-word">{_e(word.upper() or "NO VERDICT")}</div>
  <div class="score">score {score:.2f}</div>
  <div class="scan"><span id="scan-id">{_e(meta['scan_id'])}</span>{container}</div>
  <button type="button" id="help-button" title="keyboard shortcuts (?)">? keys</button>
</header>
{banner}
<main>
  <section id="viewer" tabindex="0" aria-label="scan image: drag to pan, wheel to zoom">
    <canvas id="view"></canvas>
    <div id="loading">loading the image…</div>
    <div id="readout"></div>
    <div id="scalebar"><div id="scalebar-bar"></div><span id="scalebar-text"></span></div>
  </section>
  <aside id="side">{side}</aside>
</main>
<div id="help" hidden><h2>Keyboard shortcuts</h2><table>{"".join(f"<tr><th><kbd>{_e(k)}</kbd></th><td>{_e(w)}</td></tr>" for k, w in SHORTCUTS)}</table><p>Press ? or Esc to close.</p></div>
<script id="nii-meta" type="application/json">{_json_for_script(meta)}</script>
{STATION_MARKER}
<script>
{_static("review.js")}
</script>
</body>
</html>
"""


def _layer_script(name: str, tiles: Sequence[str]) -> str:
    return f"niiReviewData({json.dumps(name)},{json.dumps(list(tiles))});\n"


def write_review(
    out_dir: str | os.PathLike,
    *,
    image: Any,
    material_map: Any,
    verdict: Any,
    manifest: Any = None,
) -> Path:
    """Write ``out_dir/review.html`` and its layers in ``out_dir/review_files/``.

    Parameters
    ----------
    out_dir : path-like
        The folder of the verdict (created if needed).
    image : AnalysedImage
        The corrected image the verdict was computed on.
    material_map : MaterialMap
        Its material map.
    verdict : Verdict or mapping
        The verdict (``to_json()`` gives the text whose sha256 the page records).
    manifest : Manifest or mapping, optional
        Shown beside the image.

    Returns
    -------
    pathlib.Path
        The page.
    """
    folder = Path(out_dir)
    assets = folder / ASSETS_DIR
    assets.mkdir(parents=True, exist_ok=True)
    if hasattr(verdict, "to_json"):
        verdict_text = verdict.to_json()
        verdict_data = verdict.to_dict()
    else:
        verdict_data = dict(verdict)
        verdict_text = json.dumps(verdict_data, indent=2, ensure_ascii=False) + "\n"
    alpha = np.asarray(image.attenuation_high, np.float32)
    rows, cols = alpha.shape
    objects = merge_regions(verdict_data.get("regions") or [])
    extent = content_extent(alpha, np.asarray(material_map.classes), [o["bbox"] for o in objects])
    layers = build_layers(image, material_map, extent)
    for name, layer in layers.items():
        if layer.tiles:
            atomic_write_text(assets / f"{name}.js", _layer_script(name, layer.tiles))
    position = np.asarray(getattr(image, "position_mm", np.arange(cols, dtype=np.float64)), np.float64)
    finite = position[np.isfinite(position)] if position.size else position
    meta = {
        "format": "nii-review/1",
        "scan_id": str(verdict_data.get("scan_id", "") or getattr(image, "scan_id", "") or ""),
        "verdict": verdict_data,
        "verdict_sha256": verdict_digest(verdict_text),
        "objects": objects,
        "manifest": manifest_dict(manifest),
        "shape": [int(rows), int(cols)],
        "row_height_mm": _number(getattr(image, "row_height_mm", None)),
        "column_pitch_mm": _number(getattr(image, "column_pitch_mm", None)),
        "aspect": true_aspect(image),
        "position_mm": [float(finite[0]), float(finite[-1])] if finite.size else None,
        "extent": [int(v) for v in extent],
        "tile_columns": TILE_COLUMNS,
        "tiles": -(-cols // TILE_COLUMNS),
        "layers": {name: layer.describe() for name, layer in layers.items()},
        "layer_order": [name for name in LAYERS if name in layers],
        "assets": ASSETS_DIR,
        "classes": {str(code): {"name": CLASS_NAMES[code], "rgb": list(CLASS_COLOURS[code])} for code in CLASS_NAMES},
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "software": f"nii {__version__}",
    }
    return atomic_write_text(folder / REVIEW_FILE, review_html(meta))


def write_review_page(outcome: Any, out_dir: str | os.PathLike) -> Path:
    """Write the review page of an :class:`~nii.inspection.pipeline.InspectionResult` into ``out_dir``."""
    return write_review(out_dir, image=outcome.image, material_map=outcome.material_map,
                        verdict=outcome.verdict, manifest=getattr(outcome, "manifest", None))
