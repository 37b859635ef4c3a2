"""How much of its container a scan read: the first piece of the ContainerModel.

A scan that does not cover its container says nothing about the part it missed; a scan
whose samples are mostly lost or saturated says little about any of it. Either is never
``clear``: :func:`check_coverage` raises ``SCAN_INCOMPLETE`` and the mass and material
checks do not compare a partial container with its declaration.

What is measured, from the scan alone (:func:`measure_coverage`):

* **Anything in the beam.** A pixel holds material when ``α_H > z σ_H`` with ``σ_H``
  the correction's per-pixel noise (from the air reference and the image's own
  pulse-to-pulse scatter) and ``z`` the normal quantile of ``pixel_false_alarm``. A
  column holds material when it has more such pixels than air would give at the
  scan's ``false_alarm_rate``: the binomial tail of ``rows`` pixels at
  ``pixel_false_alarm`` each, shared over the columns (Bonferroni). Counting pixels,
  not summing them, keeps the test honest where the noise is correlated along a
  column (dose-monitor jitter, channel cross-talk), which a column sum would not be.
* **The container.** Its rows are those holding material in most object columns; its
  columns those holding material over at least ``full_height_share`` of those rows:
  the side walls cover the whole height, cargo rarely does. The longest run of such
  columns is the container's extent. No constant container length is assumed.
* **Its ends.** An end was seen when the extent's edge lies inside the image, with a
  measured column beyond it that is not full-height (air, a chassis: not saturated, not
  a gap in the pulses), and its end frame (corner posts and end wall, or doors, seen
  edge-on: within ``end_frame_mm`` of the edge) attenuates more than the side walls
  alone by more than the noise. Both ends seen: the measured length is the container's
  length. One or none: the declared ISO type's external length is the expected length,
  and the messages say so. A scan must therefore start and stop in the beam's air, as
  the simulator's margins do: a scanner that switches the beam on exactly at the
  container's face would have its end read as missing.
* **What was read.** Columns inside a gap between consecutive high-energy pulses wider
  than ``max_gap_mm`` (and two pulse spacings) were interpolated, not read, and columns
  with mostly saturated samples were not measured; the read fraction is the measured
  length over the container's (measured or declared) length.
* **Usable samples.** The share of the container's samples that are finite and not
  saturated, and the share of object pulses the reader lost (dropped or failing their
  CRC inside the scan's pulse range), which the pipeline passes in.

The thresholds are ``[checks.coverage]`` of ``seeds/hs_expectations.toml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nii.inspection.verdict import Reason

__all__ = [
    "CODE",
    "ContainerEnd",
    "Coverage",
    "measure_coverage",
    "measure_input_coverage",
    "lost_pulse_share",
    "unread_columns",
    "check_coverage",
    "coverage_of",
]

CODE = "SCAN_INCOMPLETE"
#: Most gaps between pulses reported as regions (the widest).
_MAX_GAP_REGIONS = 5
#: Key of :class:`Coverage` in ``CheckInput.cache``.
CACHE_KEY = "coverage"
#: Settings read from ``[checks.coverage]``.
SETTINGS = (
    "false_alarm_rate", "pixel_false_alarm", "full_height_share", "end_frame_mm", "max_gap_mm",
    "min_read_fraction", "max_lost_share", "min_usable_share", "length_tolerance_mm",
)


@dataclass(frozen=True)
class ContainerEnd:
    """One end of the container as the scan shows it.

    Parameters
    ----------
    seen : bool
        Whether the scan read past this end (its edge inside the image, with its end frame).
    column : int or None
        The container's outermost column at this end (None when no container was found).
    position_mm : float
        Conveyance position (mm) of the end's outer face (the image's edge when not seen).
    frame_alpha : float
        Strongest median ``α_H`` over the container's rows within ``end_frame_mm`` of the edge.
    beyond_columns : int
        Image columns beyond the edge.
    beyond_measured : bool
        Whether the column just beyond the edge was measured (not saturated, not a gap).
    """

    seen: bool
    column: int | None = None
    position_mm: float = math.nan
    frame_alpha: float = math.nan
    beyond_columns: int = 0
    beyond_measured: bool = False


@dataclass(frozen=True)
class Coverage:
    """How much of its container a scan read (see the module docstring).

    Parameters
    ----------
    in_beam : bool
        Whether anything attenuates above the scan's noise.
    found : bool
        Whether a container (full-height columns) was found.
    rows, cols : tuple of int
        The container's extent, half-open (``(0, 0)`` when not found).
    front, rear : ContainerEnd
        The ends at the low and at the high column indices.
    length_mm : float
        Measured length between both ends' outer faces (mm); NaN unless both were seen.
    expected_length_mm : float
        The length the read fraction is taken against (mm): ``length_mm`` when both ends
        were seen, else the declared ISO type's external length (NaN when unknown).
    length_source : str
        ``"measured"`` or ``"declared"``.
    read_mm : float
        Length of the container's columns actually read (mm).
    read_fraction : float
        ``read_mm / expected_length_mm``, at most 1 (NaN when the expected length is unknown).
    unread_spans : tuple of (int, int)
        Column runs of the container not measured: interpolated over a gap in the pulses,
        or with mostly saturated samples.
    usable_share : float
        Share of the container's samples (the whole image's when none was found) that are
        finite and not saturated.
    saturated_share : float
        Share of those samples that are saturated.
    lost_share : float
        Share of the object pulses lost by the reader (dropped or CRC failures).
    column_pitch_mm : float
        Column spacing (mm).
    image_columns : int
        Columns of the analysed image.
    image_x_mm : tuple of float
        Conveyance positions (mm) of the image's first column and past its last.
    declared_iso_type : str
        The manifest's ISO type (for messages).
    declared_length_mm : float
        Its external length (mm; NaN when unknown).
    thresholds : dict
        The settings and the derived test values (``z_pixel``, ``min_pixels``).
    """

    in_beam: bool
    found: bool
    rows: tuple[int, int]
    cols: tuple[int, int]
    front: ContainerEnd
    rear: ContainerEnd
    length_mm: float
    expected_length_mm: float
    length_source: str
    read_mm: float
    read_fraction: float
    unread_spans: tuple[tuple[int, int], ...]
    usable_share: float
    saturated_share: float
    lost_share: float
    column_pitch_mm: float
    image_columns: int
    image_x_mm: tuple[float, float]
    declared_iso_type: str = ""
    declared_length_mm: float = math.nan
    thresholds: Mapping[str, float] = field(default_factory=dict)

    @property
    def length_mismatch(self) -> bool:
        """Both ends seen, and the measured length departs from the declared ISO type's.

        By more than ``length_tolerance_mm`` plus two columns (the edges' resolution).
        """
        declared = self.declared_length_mm
        if self.length_source != "measured" or not (math.isfinite(declared) and declared > 0):
            return False
        tolerance = self.thresholds.get("length_tolerance_mm", math.inf) + 2.0 * self.column_pitch_mm
        return abs(self.length_mm - declared) > tolerance

    @property
    def usable_fraction(self) -> float:
        """Share of the object samples that are usable: read, finite and not saturated."""
        return (1.0 - self.lost_share) * self.usable_share

    @property
    def covers_container(self) -> bool:
        """Both ends seen and at least ``min_read_fraction`` of the container read."""
        if not (self.found and self.front.seen and self.rear.seen):
            return False
        return math.isfinite(self.read_fraction) and self.read_fraction >= self.thresholds.get("min_read_fraction", 1.0)

    @property
    def complete(self) -> bool:
        """Whether the scan read its whole container with usable samples."""
        return (
            self.in_beam and self.covers_container
            and self.lost_share <= self.thresholds.get("max_lost_share", 0.0)
            and self.usable_share >= self.thresholds.get("min_usable_share", 1.0)
        )

    def shortfall(self) -> str:
        """What the scan misses, in a few words ("only 14 % of the container was read"); empty when complete."""
        if self.complete:
            return ""
        if not self.in_beam:
            return "nothing is in the beam"
        if not self.found:
            return "no container was found in the image"
        if not self.covers_container:
            if math.isfinite(self.read_fraction):
                if self.read_fraction < 0.01:
                    return "less than 1 % of the container was read"
                return f"only {_percent(self.read_fraction)} of the container was read"
            ends = [name for name, end in (("front", self.front), ("rear", self.rear)) if not end.seen]
            return f"the container's {' and '.join(ends)} end{'s' if len(ends) > 1 else ''} {'were' if len(ends) > 1 else 'was'} not read"
        if self.lost_share > self.thresholds.get("max_lost_share", 0.0):
            return f"{_percent(self.lost_share)} of the object pulses were lost"
        return f"{_percent(1.0 - self.usable_share)} of the container's samples are saturated or not finite"


def _percent(share: float) -> str:
    """A share as whole percent, never rounding a partial share to 0 % or 100 %."""
    value = 100.0 * share
    if 0.0 < value < 1.0:
        return "under 1 %"
    if 99.0 < value < 100.0:
        return "over 99 %"
    return f"{value:.0f} %"


def _metres(mm: float) -> str:
    return f"{mm / 1000.0:.1f} m"


def _settings(settings: Mapping[str, Any]) -> dict[str, float]:
    from nii.errors import CatalogueError

    values = {}
    for name in SETTINGS:
        value = settings.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise CatalogueError(f"[checks.coverage] lacks a numeric {name!r}")
        values[name] = float(value)
    return values


def _min_pixels(rows: int, probability: float, false_alarm: float) -> int:
    """Fewest significant pixels in a column of ``rows`` that air gives with probability ≤ ``false_alarm``."""
    from scipy.stats import binom

    for count in range(1, rows + 1):
        if float(binom.sf(count - 1, rows, probability)) <= false_alarm:
            return count
    return rows + 1


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of every run of True in a 1-D mask."""
    flags = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(flags[1:] != flags[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def _longest_run(mask: np.ndarray, gap: int) -> tuple[int, int] | None:
    """Longest run of True after filling runs of False of at most ``gap`` between True values."""
    flags = np.asarray(mask, bool).copy()
    if gap > 0:
        for start, stop in _runs(~flags):
            if 0 < start and stop < flags.size and stop - start <= gap:
                flags[start:stop] = True
    runs = _runs(flags)
    if not runs:
        return None
    return max(runs, key=lambda run: run[1] - run[0])


def unread_columns(position_mm: np.ndarray, pulse_position_mm: np.ndarray | None, max_gap_mm: float) -> np.ndarray:
    """Columns of the image that lie in a gap of the pulses: interpolated, not read.

    Parameters
    ----------
    position_mm : numpy.ndarray
        Conveyance position (mm) of each image column.
    pulse_position_mm : numpy.ndarray or None
        Conveyance position (mm) of every high-energy object pulse (any order; NaN ignored).
    max_gap_mm : float
        Widest gap (mm) between consecutive pulses that still counts as read; the gap
        must also exceed two median pulse spacings.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> unread_columns(np.arange(10.0), np.array([0.0, 1, 2, 3, 8, 9]), 2.0).nonzero()[0].tolist()
    [4, 5, 6, 7]
    """
    unread = np.zeros(np.asarray(position_mm).shape, bool)
    if pulse_position_mm is None:
        return unread
    pulses = np.sort(np.asarray(pulse_position_mm, np.float64))
    pulses = pulses[np.isfinite(pulses)]
    if pulses.size < 2:
        return unread
    steps = np.diff(pulses)
    positive = steps[steps > 0]
    spacing = float(np.median(positive)) if positive.size else 0.0
    limit = max(float(max_gap_mm), 2.0 * spacing)
    position = np.asarray(position_mm, np.float64)
    for index in np.flatnonzero(steps > limit):
        unread |= (position > pulses[index]) & (position < pulses[index + 1])
    return unread


def lost_pulse_share(pulse_index: np.ndarray, dropped_pulses: Any) -> float:
    """Share of the pulses inside the object pulses' index range that the reader lost.

    Parameters
    ----------
    pulse_index : numpy.ndarray
        Pulse indices of every object pulse read (all energies).
    dropped_pulses : sequence of int
        Pulse indices the reader reports missing (gaps, CRC failures).

    Returns
    -------
    float
        ``lost / (lost + read)`` over ``[min(pulse_index), max(pulse_index)]``; 0 without pulses.

    Examples
    --------
    >>> lost_pulse_share(np.array([0, 1, 5]), [2, 3, 4, 9])
    0.5
    """
    read = np.asarray(pulse_index, np.int64)
    if read.size == 0:
        return 0.0
    dropped = np.asarray(list(dropped_pulses or ()), np.int64)
    inside = int(np.count_nonzero((dropped >= read.min()) & (dropped <= read.max()))) if dropped.size else 0
    return inside / float(inside + read.size)


def _end(
    column: int, beyond: int, measured_beyond: bool, frame: np.ndarray, wall: float, noise: float, x_mm: float,
) -> ContainerEnd:
    """One end: seen when the column beyond it was measured and its frame stands out from the walls."""
    frame_alpha = float(np.max(frame)) if frame.size else math.nan
    strong = math.isfinite(frame_alpha) and frame_alpha > wall + noise
    return ContainerEnd(seen=beyond > 0 and measured_beyond and strong, column=column, position_mm=x_mm,
                        frame_alpha=frame_alpha, beyond_columns=beyond, beyond_measured=measured_beyond)


def measure_coverage(
    attenuation_high: np.ndarray,
    sigma_high: np.ndarray,
    *,
    position_mm: np.ndarray,
    column_pitch_mm: float,
    settings: Mapping[str, Any],
    saturated: np.ndarray | None = None,
    pulse_position_mm: np.ndarray | None = None,
    lost_share: float = 0.0,
    declared_length_mm: float = math.nan,
    declared_iso_type: str = "",
) -> Coverage:
    """Measure how much of its container a scan read.

    Parameters
    ----------
    attenuation_high : numpy.ndarray
        ``α_H = −ln T`` of the highest energy (dimensionless, rows × columns).
    sigma_high : numpy.ndarray
        Its per-pixel noise standard deviation (dimensionless), from the correction.
    position_mm : numpy.ndarray
        Conveyance position (mm) of each column.
    column_pitch_mm : float
        Column spacing (mm).
    settings : mapping
        ``[checks.coverage]``: ``false_alarm_rate`` (per scan), ``pixel_false_alarm``,
        ``full_height_share``, ``end_frame_mm`` (mm), ``max_gap_mm`` (mm),
        ``min_read_fraction``, ``max_lost_share``, ``min_usable_share``,
        ``length_tolerance_mm`` (mm).
    saturated : numpy.ndarray of bool, optional
        Saturated pixels.
    pulse_position_mm : numpy.ndarray, optional
        Positions (mm) of the high-energy object pulses, for the gaps (:func:`unread_columns`).
    lost_share : float
        Share of the object pulses lost by the reader (:func:`lost_pulse_share`).
    declared_length_mm : float
        External length (mm) of the declared ISO type: the expected length unless both
        ends are seen.
    declared_iso_type : str
        The declared ISO type, for messages.

    Returns
    -------
    Coverage
    """
    values = _settings(settings)
    alpha = np.asarray(attenuation_high, np.float32)
    sigma = np.asarray(sigma_high, np.float32)
    if alpha.ndim != 2 or sigma.shape != alpha.shape:
        raise ValueError(f"attenuation {alpha.shape} and sigma {sigma.shape} must be one rows × columns shape")
    rows, columns = alpha.shape
    position = np.asarray(position_mm, np.float64)
    pitch = float(column_pitch_mm)
    saturated = np.zeros(alpha.shape, bool) if saturated is None else np.asarray(saturated, bool)
    finite = np.isfinite(alpha) & np.isfinite(sigma) & (sigma > 0)
    usable = finite & ~saturated

    from scipy.special import ndtri

    z_pixel = float(ndtri(1.0 - values["pixel_false_alarm"]))
    column_false_alarm = values["false_alarm_rate"] / max(columns, 1)
    min_pixels = _min_pixels(rows, values["pixel_false_alarm"], column_false_alarm)
    significant = usable & (np.where(usable, alpha, 0.0) > z_pixel * np.where(usable, sigma, np.inf))
    holds = significant.sum(axis=0) >= min_pixels
    thresholds = {**values, "z_pixel": z_pixel, "min_pixels": float(min_pixels)}
    x_start = float(position[0]) if columns else math.nan
    x_stop = float(position[-1]) + pitch if columns else math.nan
    lost = float(min(max(lost_share, 0.0), 1.0))

    def outcome(found: bool, extent_rows=(0, 0), extent_cols=(0, 0), front=None, rear=None, length=math.nan,
                expected=declared_length_mm, source="declared", read_mm=0.0, fraction=0.0, spans=()) -> Coverage:
        if found:
            box = (slice(*extent_rows), slice(*extent_cols))
            share = float(usable[box].mean())
            saturated_share = float(saturated[box].mean())
        else:
            share = float(usable.mean()) if usable.size else 0.0
            saturated_share = float(saturated.mean()) if saturated.size else 0.0
        return Coverage(
            in_beam=bool(holds.any()), found=found, rows=tuple(extent_rows), cols=tuple(extent_cols),
            front=front or ContainerEnd(seen=False), rear=rear or ContainerEnd(seen=False),
            length_mm=float(length), expected_length_mm=float(expected), length_source=source,
            read_mm=float(read_mm), read_fraction=float(fraction), unread_spans=tuple(spans),
            usable_share=share, saturated_share=saturated_share, lost_share=lost, column_pitch_mm=pitch,
            image_columns=columns, image_x_mm=(x_start, x_stop), declared_iso_type=declared_iso_type,
            declared_length_mm=float(declared_length_mm), thresholds=thresholds,
        )

    if not holds.any():
        return outcome(False)
    # The container's rows: material in most object columns (its walls are on every row).
    row_share = significant[:, holds].mean(axis=1)
    row_run = _longest_run(row_share >= 0.5, 1)
    if row_run is None or row_run[1] - row_run[0] < 2:
        return outcome(False)
    r0, r1 = row_run
    band = significant[r0:r1]
    full = band.mean(axis=0) >= values["full_height_share"]
    # Columns the scan measured over the container's rows: usable samples, not a gap in
    # the pulses. An unmeasured stretch (saturated, lost) between two full-height parts
    # is part of the container, not its end.
    unread = unread_columns(position, pulse_position_mm, values["max_gap_mm"])
    measured = (usable[r0:r1].mean(axis=0) >= 0.5) & ~unread
    gap = int(math.ceil(values["max_gap_mm"] / pitch)) if pitch > 0 else 0
    col_run = _longest_run(full | ~measured, gap)
    if col_run is not None and full[col_run[0]:col_run[1]].any():
        inside = np.flatnonzero(full[col_run[0]:col_run[1]])
        col_run = (col_run[0] + int(inside[0]), col_run[0] + int(inside[-1]) + 1)
    if col_run is None or col_run[1] - col_run[0] < 2 or not full[col_run[0]:col_run[1]].any():
        return outcome(False)
    c0, c1 = col_run

    # The end frames: the strongest column median within end_frame_mm of each edge,
    # against the side walls alone (a low rank of the measured column medians).
    medians = np.median(np.where(usable[r0:r1, c0:c1], alpha[r0:r1, c0:c1], 0.0), axis=0)
    inner = medians[measured[c0:c1]]
    wall = float(np.percentile(inner if inner.size else medians, 5.0, method="lower"))
    # The median of n noisy pixels scatters by ~1.25 σ / √n; the frame must stand z of that above.
    noise = z_pixel * 1.25 * float(np.median(sigma[r0:r1, c0:c1][finite[r0:r1, c0:c1]])) / math.sqrt(r1 - r0)
    zone = max(1, int(math.ceil(values["end_frame_mm"] / pitch))) if pitch > 0 else 1
    # Beyond an end the beam measured something other than the container (air, a chassis).
    front = _end(c0, c0, c0 > 0 and bool(measured[c0 - 1]), medians[:zone], wall, noise, float(position[c0]))
    rear = _end(c1 - 1, columns - c1, c1 < columns and bool(measured[c1]), medians[-zone:], wall, noise,
                float(position[c1 - 1]) + pitch)

    spans = [(c0 + a, c0 + b) for a, b in _runs(~measured[c0:c1])]
    read_mm = float(np.count_nonzero(measured[c0:c1])) * pitch
    if front.seen and rear.seen:
        length = rear.position_mm - front.position_mm
        return outcome(True, (r0, r1), (c0, c1), front, rear, length, length, "measured", read_mm,
                       min(read_mm / length, 1.0) if length > 0 else 0.0, spans)
    expected = float(declared_length_mm)
    fraction = min(read_mm / expected, 1.0) if math.isfinite(expected) and expected > 0 else math.nan
    return outcome(True, (r0, r1), (c0, c1), front, rear, math.nan, expected, "declared", read_mm, fraction, spans)


def measure_input_coverage(image: Any, inp: Any, *, pulse_position_mm: np.ndarray | None = None,
                           lost_share: float = 0.0) -> Coverage:
    """Measure the coverage of an analysed image for the checks, and keep it in ``inp.cache``.

    Parameters
    ----------
    image : AnalysedImage
        ``attenuation_high`` and ``sigma_high`` (dimensionless), ``saturated``.
    inp : CheckInput
        The checks' input: pixel geometry, the manifest (the declared ISO type's length)
        and ``[checks.coverage]``.
    pulse_position_mm : numpy.ndarray, optional
        Positions (mm) of the high-energy object pulses (:func:`unread_columns`).
    lost_share : float
        Share of the object pulses the reader lost (:func:`lost_pulse_share`).

    Returns
    -------
    Coverage
        Also stored for :func:`coverage_of`, which the mass and material checks read.
    """
    alpha = np.asarray(image.attenuation_high)
    sigma = getattr(image, "sigma_high", None)
    if sigma is not None:
        sigma = np.asarray(sigma)
        if sigma.shape != alpha.shape or not (np.isfinite(sigma) & (sigma > 0)).any():
            sigma = None
    if sigma is None:
        # Per-row noise from pixel-to-pixel differences along x.
        finite = np.nan_to_num(alpha.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        diffs = np.abs(np.diff(finite, axis=1))
        per_row = 1.4826 * np.median(diffs, axis=1) / math.sqrt(2.0) if diffs.size else np.zeros(alpha.shape[0])
        sigma = np.broadcast_to(np.maximum(per_row, 1e-6)[:, None], alpha.shape)
    saturated = getattr(image, "saturated", None)
    if saturated is not None and np.asarray(saturated).shape != alpha.shape:
        saturated = None
    container = inp.manifest.container
    coverage = measure_coverage(
        alpha, np.asarray(sigma), position_mm=inp.position_mm, column_pitch_mm=inp.column_pitch_mm,
        settings=inp.settings("coverage"), saturated=saturated, pulse_position_mm=pulse_position_mm,
        lost_share=lost_share, declared_length_mm=float(getattr(container, "length_mm", math.nan)),
        declared_iso_type=str(getattr(inp.manifest, "iso_type", "") or ""),
    )
    inp.cache[CACHE_KEY] = coverage
    return coverage


def coverage_of(inp: Any) -> Coverage | None:
    """The :class:`Coverage` the pipeline measured for a check's input, or None."""
    cache = getattr(inp, "cache", None)
    found = cache.get(CACHE_KEY) if isinstance(cache, dict) else None
    return found if isinstance(found, Coverage) else None


def _declared_goods(inp: Any, coverage: Coverage) -> str:
    manifest = inp.manifest
    declared = manifest.declared_gross_mass_kg
    box = f"a {coverage.declared_iso_type} container" if coverage.declared_iso_type else "a container"
    if manifest.declared_empty:
        return f"the manifest declares {box}, empty"
    if declared is not None:
        return f"the manifest declares {declared:,.0f} kg of goods in {box}"
    return f"the manifest declares goods in {box}"


def _region(inp: Any, rows: tuple[int, int], cols: tuple[int, int], score: float,
            x_mm: tuple[float, float] | None = None) -> Any:
    """A ``SCAN_INCOMPLETE`` region over ``rows`` (all rows when empty) × ``cols``.

    With ``x_mm``, its ``bbox_mm`` spans that conveyance range instead of the columns':
    the part of the container beyond the image's edge that was not scanned.
    """
    from nii.inspection.verdict import Region

    if rows[1] <= rows[0]:
        rows = (0, int(inp.areal_g_cm2.shape[0]))
    region = inp.region((int(rows[0]), int(cols[0]), int(rows[1]), int(cols[1])), "none", score, CODE)
    if x_mm is None:
        return region
    z0, _, z1, _ = region.bbox_mm
    return Region(bbox=region.bbox, bbox_mm=(z0, float(x_mm[0]), z1, float(x_mm[1])), material="none",
                  score=region.score, reason=CODE)


def _end_messages(inp: Any, coverage: Coverage) -> tuple[list[str], list[Any]]:
    """What is missing at each end of the container that was not seen, and its regions."""
    messages, regions = [], []
    columns = coverage.image_columns
    expected = coverage.expected_length_mm
    x_first, x_past = coverage.image_x_mm
    for name, end, other in (("front", coverage.front, coverage.rear), ("rear", coverage.rear, coverage.front)):
        if end.seen:
            continue
        if end.beyond_columns > 0:
            # The edge is inside the image: unmeasured beyond it, or with no end frame at it.
            if not end.beyond_measured:
                messages.append(f"the scan did not measure beyond the container's {name} edge at "
                                f"x = {end.position_mm:,.0f} mm (saturated samples or lost pulses)")
            else:
                messages.append(f"the container's {name} edge at x = {end.position_mm:,.0f} mm shows no end frame "
                                "(corner posts, end wall or doors)")
            column = end.column if end.column is not None else 0
            regions.append(_region(inp, coverage.rows, (column, column + 1), 0.9))
            continue
        seen_mm = (other.position_mm - x_first) if name == "front" else (x_past - other.position_mm)
        short_mm = expected - seen_mm if other.seen and math.isfinite(expected) else math.nan
        edge = 0 if name == "front" else columns - 1
        if math.isfinite(short_mm) and short_mm > coverage.column_pitch_mm:
            if name == "front":
                messages.append(f"the scan starts {_metres(short_mm)} after the container's front end")
                span = (x_first - short_mm, x_first)
            else:
                messages.append(f"the scan ends {_metres(short_mm)} before the container's rear end")
                span = (x_past, x_past + short_mm)
        else:
            verb = "starts" if name == "front" else "ends"
            messages.append(f"the scan {verb} inside the container: its {name} end was not read")
            span = (x_first, x_first) if name == "front" else (x_past, x_past)
        regions.append(_region(inp, coverage.rows, (edge, edge + 1), 0.9, span))
    return messages, regions


def check_coverage(inp: Any, coverage: Coverage) -> Any:
    """Raise ``SCAN_INCOMPLETE`` where the scan does not cover its container with usable samples.

    Parameters
    ----------
    inp : CheckInput
        The checks' input (manifest, pixel geometry); ``inp.region`` builds the regions.
    coverage : Coverage

    Returns
    -------
    CheckResult
        At most one ``SCAN_INCOMPLETE`` reason, its message saying what is missing; a
        warning when the measured length is not the declared ISO type's.
        Regions: for an end not scanned, the image's edge column over the container's
        rows, its ``bbox_mm`` spanning the part beyond the image that the container's
        length says is missing; the gaps in the pulses; the whole image when no
        container was read; the container when its samples are lost or saturated.
    """
    from nii.inspection.checks._context import CheckResult

    result = CheckResult()
    if coverage.length_mismatch:
        result.warnings.append(
            f"the container measures {_metres(coverage.length_mm)} between its end frames; the declared "
            f"{coverage.declared_iso_type or 'type'} is {_metres(coverage.declared_length_mm)} long"
        )
    if coverage.complete:
        return result
    columns = coverage.image_columns
    everything = ((0, 0), (0, columns))
    messages: list[str] = []
    regions: list[Any] = []
    missing = 0.0
    if not coverage.in_beam:
        width = coverage.image_x_mm[1] - coverage.image_x_mm[0]
        messages.append(f"nothing is in the beam: no column of the {_metres(width)} scan attenuates above its noise, "
                        f"while {_declared_goods(inp, coverage)}")
        regions.append(_region(inp, *everything, 0.99))
        missing = 1.0
    elif not coverage.found:
        messages.append("no container in the scan: nothing in the beam spans a container's height, "
                        f"while {_declared_goods(inp, coverage)}")
        regions.append(_region(inp, *everything, 0.99))
        missing = 1.0
    elif not coverage.covers_container:
        parts, regions = _end_messages(inp, coverage)
        if coverage.unread_spans:
            spans = coverage.unread_spans
            gap_mm = sum(b - a for a, b in spans) * coverage.column_pitch_mm
            count = f"{len(spans)} gaps" if len(spans) > 1 else "a gap"
            parts.append(f"{_metres(gap_mm)} of it lie in {count} the scan did not measure "
                         "(lost pulses, interpolated, or saturated samples)")
            # The widest gaps as regions: a scan that lost most of its pulses has hundreds.
            widest = sorted(spans, key=lambda span: span[1] - span[0], reverse=True)[:_MAX_GAP_REGIONS]
            regions.extend(_region(inp, coverage.rows, span, 0.8) for span in sorted(widest))
        text = " and ".join(parts) if parts else "the container was not read whole"
        if math.isfinite(coverage.read_fraction):
            missing = 1.0 - coverage.read_fraction
            against = (f"the declared {coverage.declared_iso_type or 'type'}'s {_metres(coverage.expected_length_mm)}"
                       if coverage.length_source == "declared"
                       else f"its measured {_metres(coverage.expected_length_mm)}")
            text += f": {_percent(missing)} of the container was not read (length: {against})"
        else:
            missing = 1.0
            text += f" (the declared {coverage.declared_iso_type or 'type'} has no known length)"
        messages.append(text)
    container = (coverage.rows, coverage.cols) if coverage.found else everything
    if coverage.in_beam and coverage.lost_share > coverage.thresholds["max_lost_share"]:
        messages.append(f"{_percent(coverage.lost_share)} of the object pulses were lost (dropped or failing their CRC)")
        missing = max(missing, coverage.lost_share)
        if not regions:
            regions.append(_region(inp, *container, 0.9))
    if coverage.in_beam and coverage.usable_share < coverage.thresholds["min_usable_share"]:
        where = "the container's" if coverage.found else "the scan's"
        messages.append(f"{_percent(1.0 - coverage.usable_share)} of {where} samples are saturated or not finite")
        missing = max(missing, 1.0 - coverage.usable_share)
        if not regions:
            regions.append(_region(inp, *container, 0.9))
    if not messages:
        return result
    severity = "medium" if coverage.found and missing < 0.5 else "high"
    score = min(0.99, 0.5 + 0.5 * missing)
    result.reasons.append(Reason(CODE, severity, "; ".join(messages), score))
    result.regions.extend(regions)
    return result
