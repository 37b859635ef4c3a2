"""Compact objects far denser than the cargo around them, and a lower bound of their density.

A lead brick, a tungsten or uranium block or a shielding pig inside a load adds more
attenuation over a few centimetres than the goods around it: its excess ``Δα_H`` over
its own row's cargo (the row's grey opening along x by ``opening_mm``,
:func:`._overlap.row_opening`) stands out of the image, whether the beam reads its
core or not. Two checks use what is found here: :mod:`.dense_object` (a dense object
in uniform cargo: CONCEALMENT_ANOMALY) and :mod:`.high_z` (an object too dense to be
anything but high-Z: UNDECLARED_HIGH_Z).

The density bound is a **named shortcut**: an object is taken to be no deeper along
the beam than it is wide or tall (``depth ≤ max(height, width)``), so its mean density
is at least ``Δρt / max(height, width)``. ``Δρt = Δα_H / κ`` uses the largest chord
mass attenuation ``κ`` of the calibration's materials between the cargo's ``α_H`` and
the object's (at MeV energies the heaviest elements attenuate most per gram, through
pair production), so the bound is never overstated whatever the object is made of;
where the object's core stops the beam, ``Δα_H`` is the floor's lower bound and so is
the density. A steel bar pointing along the beam breaks the assumption: it is as dense
as its depth says, and the messages say which assumption was made.

Candidates are the pixels whose excess exceeds ``min_delta_alpha`` plus the unreadable
pixels of the cargo space, opened by ``min_extent_mm`` both ways (edges, sheet lines and
single dead pixels go). A component is an object when it is compact (at most
``max_extent_mm`` across and ``max_aspect`` times longer one way than the other), at
least ``min_area_cm2``, mostly surrounded by cargo the beam reads (``min_readable_ring``
of a ``ring_mm`` ring: a region inside a load that stops the beam everywhere is
:mod:`.unreadable`'s), not the piece of a line that goes on above or below it (a sheet
seen edge-on crossing the floor band or a crate wall), and when its median excess
reaches ``min_delta_alpha``.
Thresholds are in ``[checks.dense_object]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nii.inspection.checks._context import CheckInput, components
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.checks._overlap import row_opening

__all__ = ["CompactObject", "compact_objects", "describe"]

#: Chord mass attenuation (cm²/g) when the calibration has no curves: NIST XCOM total
#: μ/ρ of lead at 4 MeV (about the signal-weighted energy of a 6 MV beam hardened by
#: cargo), above water's (0.0340) and iron's (0.0331) there.
_KAPPA_FALLBACK = 0.0420
_CACHE_KEY = "compact_objects"


@dataclass(frozen=True)
class CompactObject:
    """A compact object standing out of the cargo around it.

    Attributes
    ----------
    bbox : tuple of int
        ``(r0, c0, r1, c1)`` on the analysed grid.
    pixels : numpy.ndarray of bool
        Its pixels inside ``bbox``.
    height_mm, length_mm : float
        Extent at the scan plane, mm.
    area_cm2 : float
        Area at the scan plane, cm².
    delta_alpha : float
        Median excess ``Δα_H`` over the cargo beside it (dimensionless; a lower bound
        where the core stops the beam).
    density_g_cm3 : float
        Lower bound of its mean density (g/cm³) if it is no deeper than
        ``max(height, width)``.
    mass_kg : float
        Lower bound of its mass (kg) from the summed excess.
    starved_share : float
        Share of its pixels the beam could not read.
    on_band : bool
        Whether it touches the cargo space's first or last row (it may be a member of
        the floor or roof framing seen end-on, long along the beam).
    """

    bbox: tuple[int, int, int, int]
    pixels: np.ndarray
    height_mm: float
    length_mm: float
    area_cm2: float
    delta_alpha: float
    density_g_cm3: float
    mass_kg: float
    starved_share: float
    on_band: bool = False

    def overlaps(self, bbox: tuple[int, int, int, int]) -> bool:
        """Whether ``bbox`` overlaps this object's box."""
        r0, c0, r1, c1 = self.bbox
        return r0 < bbox[2] and bbox[0] < r1 and c0 < bbox[3] and bbox[1] < c1


def _max_chord_kappa(inp: CheckInput, alpha_cargo: float, delta: float) -> float:
    """Largest ``Δα_H / Δρt`` (cm²/g) of the calibration's materials from ``alpha_cargo`` up by ``delta``."""
    curves = getattr(inp.calibration, "curves", None)
    best = 0.0
    for curve in curves or ():
        alphas = np.asarray([max(alpha_cargo, 1e-3), alpha_cargo + delta])
        kappa = np.asarray(curve.mass_attenuation_at(alphas), dtype=float)
        if not np.all(np.isfinite(kappa)) or np.any(kappa <= 0):
            continue
        areal = alphas / kappa
        if areal[1] > areal[0]:
            best = max(best, float((alphas[1] - alphas[0]) / (areal[1] - areal[0])))
    return best if best > 0 else _KAPPA_FALLBACK


def _continues_as_line(excess: np.ndarray, bbox: tuple[int, int, int, int], min_delta: float) -> bool:
    """Whether a column of the box carries the excess on over as many rows again above or below it.

    A steel sheet seen edge-on is a line a column or two wide; where it crosses the
    floor band or a crate wall the opening leaves a compact-looking piece of it.
    """
    r0, c0, r1, c1 = bbox
    span = max(r1 - r0, 3)
    lo, hi = max(c0 - 1, 0), min(c1 + 1, excess.shape[1])
    for start, stop in ((max(r0 - span, 0), r0), (r1, min(r1 + span, excess.shape[0]))):
        if stop - start < span:
            continue
        if np.any(np.median(excess[start:stop, lo:hi], axis=0) >= min_delta):
            return True
    return False


def _ring(pixels: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The ``rows`` × ``cols`` ring around a component's pixels (inside a padded window)."""
    grown = ndimage.binary_dilation(pixels, np.ones((2 * rows + 1, 2 * cols + 1), bool))
    return grown & ~pixels


def compact_objects(inp: CheckInput) -> list[CompactObject]:
    """Compact objects standing out of the cargo of the scan (computed once per input).

    Parameters
    ----------
    inp : CheckInput
        Needs ``attenuation_high``; thresholds from ``[checks.dense_object]``.

    Returns
    -------
    list of CompactObject
        Heaviest first; empty without the α pair.
    """
    if _CACHE_KEY in inp.cache:
        return inp.cache[_CACHE_KEY]
    found: list[CompactObject] = []
    inp.cache[_CACHE_KEY] = found
    if inp.attenuation_high is None:
        return found
    setting = lambda name: inp.threshold("dense_object", name)  # noqa: E731
    alpha_high: np.ndarray = inp.finite_attenuation_high()  # type: ignore[assignment]
    rows, cols = inp.structure.interior() if inp.structure.found else (slice(None), slice(None))
    inside = np.zeros(alpha_high.shape, bool)
    inside[rows, cols] = True
    width = max(3, box_pixels(setting("opening_mm"), inp.column_pitch_mm))
    background = np.zeros_like(alpha_high)
    background[rows, cols] = row_opening(alpha_high[rows, cols], width)
    excess = np.where(inside, alpha_high - background, 0.0).astype(np.float32)
    min_delta = setting("min_delta_alpha")
    candidates = inside & ((excess > min_delta) | inp.unreadable)
    extent = setting("min_extent_mm")
    candidates = open_rect(candidates, max(2, box_pixels(extent, inp.row_height_mm)),
                           max(2, box_pixels(extent, inp.column_pitch_mm)))
    if not candidates.any():
        return found

    ring_rows = max(1, box_pixels(setting("ring_mm"), inp.row_height_mm))
    ring_cols = max(1, box_pixels(setting("ring_mm"), inp.column_pitch_mm))
    max_extent, aspect = setting("max_extent_mm"), setting("max_aspect")
    min_area, min_ring = setting("min_area_cm2"), setting("min_readable_ring")
    pixel_area = inp.pixel_area_cm2
    first_row = (rows.start or 0) if isinstance(rows, slice) else 0
    last_row = rows.stop if isinstance(rows, slice) and rows.stop is not None else alpha_high.shape[0]
    for bbox, pixels in components(candidates, min_pixels=4):
        r0, c0, r1, c1 = bbox
        if _continues_as_line(excess, bbox, min_delta):
            continue
        height_mm = (r1 - r0) * inp.row_height_mm
        length_mm = (c1 - c0) * inp.column_pitch_mm
        area = float(pixels.sum()) * pixel_area
        if area < min_area or max(height_mm, length_mm) > max_extent:
            continue
        if height_mm > aspect * length_mm or length_mm > aspect * height_mm:
            continue
        # Surrounded by cargo the beam reads (inside the cargo space).
        w0, w1 = max(r0 - ring_rows, 0), min(r1 + ring_rows, alpha_high.shape[0])
        v0, v1 = max(c0 - ring_cols, 0), min(c1 + ring_cols, alpha_high.shape[1])
        window = np.zeros((w1 - w0, v1 - v0), bool)
        window[r0 - w0:r1 - w0, c0 - v0:c1 - v0] = pixels
        ring = _ring(window, ring_rows, ring_cols) & inside[w0:w1, v0:v1]
        if not ring.any():
            continue
        readable = ring & ~inp.unreadable[w0:w1, v0:v1]
        if readable.sum() < min_ring * ring.sum():
            continue
        delta = float(np.median(excess[r0:r1, c0:c1][pixels]))
        if delta < min_delta:
            continue
        cargo_alpha = float(np.median(alpha_high[w0:w1, v0:v1][readable]))
        kappa = _max_chord_kappa(inp, cargo_alpha, delta)
        density = delta / kappa / (max(height_mm, length_mm) / 10.0)
        mass_kg = float(np.clip(excess[r0:r1, c0:c1][pixels], 0.0, None).sum()) / kappa * pixel_area / 1000.0
        starved = float(inp.unreadable[r0:r1, c0:c1][pixels].mean())
        on_band = inp.structure.found and (r0 <= first_row or r1 >= last_row)
        found.append(CompactObject(bbox, pixels, height_mm, length_mm, area, delta, density, mass_kg, starved, on_band))
    found.sort(key=lambda item: -item.mass_kg)
    return found


def describe(item: CompactObject) -> str:
    """Size, mass and density bound of an object in words."""
    bound = "at least " if item.starved_share >= 0.2 else "about "
    digits = 1 if item.mass_kg < 10 else 0
    return (f"{item.length_mm / 10:.0f} × {item.height_mm / 10:.0f} cm, {bound}{item.mass_kg:,.{digits}f} kg, "
            f"at least {item.density_g_cm3:.0f} g/cm³ if no deeper than it is wide")

