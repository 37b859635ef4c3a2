"""Shared fixtures: small, generic NXR headers and scans (kept tiny so tests stay fast)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

_BASE_HEADER: dict[str, Any] = {
    "format": "nxr",
    "version": 1,
    "kind": "object",
    "scan_id": "TEST-0001",
    "scanner_id": "gantry-test",
    "started_at": "2026-11-30T08:15:00Z",
    "sample_dtype": "uint16",
    "detector": {"channels": 16, "pitch_mm": 5.0, "first_channel": "top", "saturation": 65535},
    "source": {"energies_mev": [6.0, 3.0], "pulse_rate_hz": 400.0, "pattern": "interlaced"},
    "geometry": {"source_to_detector_mm": 10000.0, "source_to_object_mm": 7500.0},
    "conveyance": {"nominal_speed_mps": 0.4},
    "extensions": {},
}


def make_header(**changes: Any) -> dict[str, Any]:
    """A valid NXR header dict; ``changes`` replace top-level keys, ``detector__channels``
    style keys replace nested ones."""
    header = copy.deepcopy(_BASE_HEADER)
    for key, value in changes.items():
        if "__" in key:
            section, field = key.split("__", 1)
            header.setdefault(section, {})[field] = value
        else:
            header[key] = value
    return header


@pytest.fixture
def nxr_header():
    """Factory of valid NXR header dicts: ``nxr_header(kind="air", detector__channels=8)``."""
    return make_header


def make_columns(
    channels: int = 16,
    dark: int = 4,
    air: int = 4,
    objects: int = 40,
    energies: int = 2,
    sample_dtype: str = "uint16",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Record columns of a small interlaced scan: ``dark``, ``air``, then ``objects``
    pulses per energy; the object moves at 0.4 m/s, positions valid for object pulses."""
    from scanner_io import FLAG_AIR, FLAG_DARK, FLAG_DOSE_VALID, FLAG_POSITION_VALID

    rng = np.random.default_rng(seed)
    per_energy = dark + air + objects
    count = per_energy * energies
    pulse_index = np.arange(count, dtype=np.int64)
    energy_index = pulse_index % energies
    slot = pulse_index // energies
    flags = np.full(count, FLAG_DOSE_VALID, dtype=np.int64)
    flags[slot < dark] |= FLAG_DARK
    flags[(slot >= dark) & (slot < dark + air)] |= FLAG_AIR
    flags[slot >= dark + air] |= FLAG_POSITION_VALID
    time_s = pulse_index / 400.0
    dtype = np.dtype(sample_dtype)
    high = 60000 if dtype.kind == "u" else 1.0e4
    samples = rng.uniform(100, high, size=(count, channels))
    samples[(flags & FLAG_DARK) != 0] = rng.uniform(50, 150, size=(dark * energies, channels))
    samples = samples.astype(dtype) if dtype.kind == "f" else np.rint(samples).astype(dtype)
    return {
        "pulse_index": pulse_index,
        "energy_index": energy_index,
        "flags": flags,
        "dose": rng.normal(1.0, 0.02, count),
        "time_s": time_s,
        "position_mm": time_s * 400.0,
        "samples": samples,
    }


@pytest.fixture
def small_scan(tmp_path: Path, nxr_header) -> SimpleNamespace:
    """A 16-channel two-energy scan: 4 dark, 4 air, 40 object pulses per energy.

    Returns a namespace with ``path``, ``header`` (dict) and ``columns`` (what was written).
    """
    from scanner_io import NxrWriter

    header = nxr_header()
    columns = make_columns()
    path = tmp_path / "small.nxr"
    with NxrWriter(path, header) as writer:
        writer.write_many(**columns)
    return SimpleNamespace(path=path, header=header, columns=columns)


@pytest.fixture
def columns_factory():
    """Factory of record columns for small scans (see :func:`make_columns`)."""
    return make_columns
