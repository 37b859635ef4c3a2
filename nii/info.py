"""Summarise an NXR scan: what ``nii info`` prints.

:func:`scan_summary` reads a file with :func:`scanner_io.read_nxr` and returns a
JSON-friendly dictionary: identification, pulses per energy (object, dark, air),
duration, conveyance speed and its variation, and what the reader lost (dropped
pulses, CRC failures, truncation, and the records its recovery policy dropped or set
aside: copies, replayed, out-of-order and wild-index records, pulse-index jumps). :func:`format_summary` renders it as text.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any

import numpy as np

__all__ = ["scan_summary", "format_summary", "SPEED_WINDOW_S"]

#: Width of the time windows over which the conveyance speed is measured, s.
SPEED_WINDOW_S = 0.5


def _speed_statistics(time_s: np.ndarray, position_mm: np.ndarray) -> dict[str, float | None]:
    """Mean speed and its variation from positions against time.

    The mean is the displacement over the elapsed time between the first and the
    last valid position; the variation is measured on windows of
    :data:`SPEED_WINDOW_S` (one speed per window: displacement over time between
    its first and last sample), or per interval when the scan is shorter than two
    windows.
    """
    empty: dict[str, float | None] = {
        "mean_speed_mps": None,
        "speed_std_mps": None,
        "speed_variation": None,
        "speed_min_mps": None,
        "speed_max_mps": None,
    }
    order = np.argsort(time_s, kind="stable")
    time_s, position_mm = time_s[order], position_mm[order]
    finite = np.isfinite(time_s) & np.isfinite(position_mm)
    time_s, position_mm = time_s[finite], position_mm[finite]
    if time_s.size < 2 or time_s[-1] <= time_s[0]:
        return empty
    mean = (position_mm[-1] - position_mm[0]) / (time_s[-1] - time_s[0]) / 1000.0
    duration = time_s[-1] - time_s[0]
    if duration >= 2 * SPEED_WINDOW_S:
        window = np.floor((time_s - time_s[0]) / SPEED_WINDOW_S).astype(np.int64)
        starts = np.flatnonzero(np.diff(window, prepend=-1))
        ends = np.append(starts[1:], time_s.size) - 1
    else:
        starts = np.arange(time_s.size - 1)
        ends = starts + 1
    elapsed = time_s[ends] - time_s[starts]
    usable = elapsed > 0
    speeds = (position_mm[ends] - position_mm[starts])[usable] / elapsed[usable] / 1000.0
    if speeds.size == 0:
        return {**empty, "mean_speed_mps": float(mean)}
    std = float(speeds.std())
    return {
        "mean_speed_mps": float(mean),
        "speed_std_mps": std,
        "speed_variation": std / abs(mean) if mean != 0 else None,
        "speed_min_mps": float(speeds.min()),
        "speed_max_mps": float(speeds.max()),
    }


def scan_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Summarise an NXR file.

    Parameters
    ----------
    path : path-like
        The ``.nxr`` file.

    Returns
    -------
    dict
        JSON-friendly: ``path``, ``file_bytes``, ``sha256``, ``scan_id``, ``kind``,
        ``scanner_id``, ``started_at``, ``sample_dtype``, ``channels``, ``pitch_mm``,
        ``first_channel``, ``bad_channels``, ``energies_mev``, ``pulse_rate_hz``,
        ``records`` (valid records), ``pulses`` (object pulses per energy, list),
        ``dark_pulses`` and ``air_pulses`` (per energy lists), ``has_object_pulses``,
        ``duration_s``, ``mean_speed_mps``, ``speed_std_mps``, ``speed_variation``
        (std / mean), ``speed_min_mps``, ``speed_max_mps`` (speeds over
        :data:`SPEED_WINDOW_S` windows, from POSITION_VALID positions of the object
        pulses, or of all pulses when fewer than two object pulses have one; None
        when not measurable), ``dropped_pulses`` (count), ``dropped_pulse_indices``
        (list), ``crc_failures``, ``truncated_bytes``, ``resync_skipped_bytes``,
        ``bad_energy_records``, ``out_of_order_records``, ``duplicate_records``,
        ``replayed_records``, ``wild_index_records``, ``pulse_jumps`` (list of
        ``[before, after]`` pulse indices). ``sha256`` is of the bytes read.

    Raises
    ------
    scanner_io.NxrError
        When the file is not a readable NXR file, or not a regular file (one sentence
        naming it).

    Examples
    --------
    >>> summary = scan_summary("scan.nxr")  # doctest: +SKIP
    >>> summary["pulses"], summary["crc_failures"]  # doctest: +SKIP
    ([3936, 3936], 0)
    """
    from scanner_io import FLAG_AIR, FLAG_DARK, FLAG_POSITION_VALID
    from scanner_io.reader import _read_mapped

    nxr, mapped = _read_mapped(path)  # the digest is of the very bytes read
    header, records, report = nxr.header, nxr.records, nxr.report
    n_energies = header.n_energies
    flags = records["flags"]
    energy = records["energy_index"].astype(np.int64)
    is_dark = (flags & FLAG_DARK) != 0
    is_air = ((flags & FLAG_AIR) != 0) & ~is_dark
    is_object = ~(is_dark | is_air)

    def per_energy(mask: np.ndarray) -> list[int]:
        return np.bincount(energy[mask], minlength=n_energies)[:n_energies].astype(int).tolist()

    pulses = per_energy(is_object)
    time_s = records["time_s"].astype(np.float64)
    finite_time = time_s[np.isfinite(time_s)]
    duration = float(finite_time.max() - finite_time.min()) if finite_time.size else None
    positioned = (flags & FLAG_POSITION_VALID) != 0
    use = positioned & is_object
    if use.sum() < 2:
        use = positioned
    speed = _speed_statistics(time_s[use], records["position_mm"][use].astype(np.float64))
    return {
        "path": os.fspath(path),
        "file_bytes": nxr.file_size,
        "sha256": hashlib.sha256(mapped).hexdigest(),
        "scan_id": header.scan_id,
        "kind": header.kind,
        "scanner_id": header.scanner_id,
        "started_at": header.started_at,
        "sample_dtype": header.sample_dtype.name,
        "channels": header.channels,
        "pitch_mm": header.pitch_mm,
        "first_channel": header.first_channel,
        "bad_channels": list(header.bad_channels),
        "energies_mev": list(header.energies_mev),
        "pulse_rate_hz": header.pulse_rate_hz,
        "records": report.records,
        "pulses": pulses,
        "dark_pulses": per_energy(is_dark),
        "air_pulses": per_energy(is_air),
        "has_object_pulses": all(count > 0 for count in pulses),
        "duration_s": duration,
        **speed,
        "dropped_pulses": report.dropped_pulse_count,
        "dropped_pulse_indices": list(report.dropped_pulses),
        "crc_failures": report.crc_failures,
        "truncated_bytes": report.truncated_bytes,
        "resync_skipped_bytes": report.resync_skipped_bytes,
        "bad_energy_records": report.bad_energy_records,
        "out_of_order_records": report.out_of_order_records,
        "duplicate_records": report.duplicate_records,
        "replayed_records": report.replayed_records,
        "wild_index_records": report.wild_index_records,
        "pulse_jumps": [list(jump) for jump in report.pulse_jumps],
    }


def _ranges(indices: list[int], limit: int = 6) -> str:
    """Compact text of sorted integers as ranges: ``3, 10-12, 40``."""
    if not indices:
        return ""
    groups: list[tuple[int, int]] = []
    start = previous = indices[0]
    for value in indices[1:]:
        if value != previous + 1:
            groups.append((start, previous))
            start = value
        previous = value
    groups.append((start, previous))
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in groups[:limit]]
    if len(groups) > limit:
        text.append(f"... ({len(groups)} gaps)")
    return ", ".join(text)


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def format_summary(summary: dict[str, Any]) -> str:
    """Render :func:`scan_summary` output as the text ``nii info`` prints.

    Parameters
    ----------
    summary : dict
        Output of :func:`scan_summary`.

    Returns
    -------
    str
        Several lines, no trailing newline.
    """
    energies = summary["energies_mev"]
    energy_text = " / ".join(f"{_number(e)}" for e in energies) + " MeV"

    def per_energy(values: list[int]) -> str:
        return " / ".join(str(v) for v in values)

    bad = summary["bad_channels"]
    detector = f"{summary['channels']} channels, {summary['sample_dtype']}"
    if summary["pitch_mm"] is not None:
        detector += f", pitch {_number(summary['pitch_mm'])} mm"
    detector += f", channel 0 at the {summary['first_channel']}"
    if bad:
        detector += f", {len(bad)} bad ({_ranges(bad)})"
    source = energy_text
    if summary["pulse_rate_hz"] is not None:
        source += f", {_number(summary['pulse_rate_hz'])} Hz"
    lines = [
        f"file        {summary['path']} ({summary['file_bytes'] / 1e6:.1f} MB, sha256 {summary['sha256'][:16]})",
        f"scan        {summary['scan_id']} (kind {summary['kind']})",
        f"scanner     {summary['scanner_id'] or 'unknown'}, started {summary['started_at'] or 'unknown'}",
        f"detector    {detector}",
        f"source      {source}",
        f"records     {summary['records']} valid",
        f"pulses      object {per_energy(summary['pulses'])}, dark {per_energy(summary['dark_pulses'])}, "
        f"air {per_energy(summary['air_pulses'])} (per energy, {energy_text})",
    ]
    if not summary["has_object_pulses"]:
        lines.append(
            "            no object pulses for every energy: references only, nothing to analyse"
        )
    duration = summary["duration_s"]
    lines.append(
        f"duration    {_number(duration, 4)} s" if duration is not None else "duration    n/a"
    )
    if summary["mean_speed_mps"] is None:
        lines.append("speed       n/a (no valid positions)")
    else:
        speed = f"speed       mean {summary['mean_speed_mps']:.3f} m/s"
        if summary["speed_variation"] is not None:
            speed += (
                f", variation {100 * summary['speed_variation']:.1f} % "
                f"(std {summary['speed_std_mps']:.3f}, min {summary['speed_min_mps']:.3f}, "
                f"max {summary['speed_max_mps']:.3f} m/s)"
            )
        lines.append(speed)
    dropped = summary["dropped_pulse_indices"]
    integrity = (
        f"integrity   {summary['dropped_pulses']} dropped pulses"
        + (f" ({_ranges(dropped)})" if dropped else "")
        + f", {summary['crc_failures']} CRC failures, {summary['truncated_bytes']} truncated bytes, "
        f"{summary['resync_skipped_bytes']} bytes skipped"
    )
    lines.append(integrity)
    recovered = [
        (summary["bad_energy_records"], "with a bad energy index"),
        (summary.get("duplicate_records", 0), "exact copies"),
        (summary.get("replayed_records", 0), "replaying a pulse index with other content"),
        (summary["out_of_order_records"], "out of pulse order"),
        (summary.get("wild_index_records", 0), "with a wild pulse index"),
    ]
    if any(count for count, _ in recovered):
        lines.append(
            "            records dropped or set aside: "
            + ", ".join(f"{count} {what}" for count, what in recovered if count)
        )
    for before, after in summary.get("pulse_jumps", []):
        lines.append(f"            the pulse index jumps from {before} to {after} (kept: confirmed by the records after it)")
    return "\n".join(lines)
