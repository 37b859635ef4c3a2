"""Ground-truth material maps of a scene on an image grid.

The rule, per ray (pixel):

1. the container structure and the chassis are removed: only objects with role
   ``cargo``, ``threat`` or ``phantom`` count;
2. ``none`` (0) where what is left has an areal density below
   ``min_areal_density_g_cm2`` (too little material to tell);
3. otherwise the class (1–4) of the effective Z (:func:`nii.physics.zeff`) of the
   material with the **largest areal density** along the ray (g/cm²) — a lead brick
   behind fruit is ``high_z`` once the lead carries more mass per cm² than the fruit;
   the ``zeff`` map holds that material's Z_eff;
4. ``impenetrable`` (5) where the given high- or low-energy transmission is below
   ``impenetrable_transmission`` (the beam cannot read it, whatever is there; the
   discrimination calls a pixel impenetrable when either energy is starved).

The transmissions must be what a detector pixel records: the mean of ``exp(−μL)``
over the pixel's aperture (:func:`nii.simulate.acquisition.aperture_transmission_moments`),
not ``exp(−μ·mean L)``, which starves every pixel an edge-on steel sheet crosses.
:func:`nii.simulate.run.simulate_scan` passes the acquisition's own noise-free
transmissions of both energies. Steps 2–3 use the aperture-averaged areal density
(mass per pixel area), which is linear and needs no such care.

``zeff`` is NaN for classes 0 and 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nii.classes import IMPENETRABLE, NONE, class_of_zeff
from nii.errors import SimulationError
from nii.physics import zeff

__all__ = [
    "TRUTH_ROLES",
    "DEFAULT_MIN_AREAL_DENSITY_G_CM2",
    "DEFAULT_IMPENETRABLE_TRANSMISSION",
    "truth_maps",
    "regions_on_grid",
]

#: Roles that count in the ground truth (the container and chassis are removed).
TRUTH_ROLES = ("cargo", "threat", "phantom")
#: Below this non-structure areal density a ray is ``none``: about 7 g/cm² is where a
#: 6/3 MeV system starts telling materials apart (α_H ≈ 0.2 at μ/ρ ≈ 0.03 cm²/g).
DEFAULT_MIN_AREAL_DENSITY_G_CM2 = 7.0
#: Transmission below which a ray is ``impenetrable``: 3 dark-noise standard deviations
#: of the default simulated scanner (1.5 ADU under ~51,000 ADU of air); about 300 mm of
#: steel at 6 MeV, 220 mm at 3 MeV.
DEFAULT_IMPENETRABLE_TRANSMISSION = 1.0e-4

_COLUMNS_PER_BLOCK = 512


def _zeff_of(materials: Sequence[Any]) -> np.ndarray:
    values = np.empty(len(materials), dtype=np.float32)
    for i, item in enumerate(materials):
        values[i] = float(zeff(item))
    return values


def truth_maps(
    scene: Any,
    z_mm: np.ndarray,
    x_mm: np.ndarray,
    *,
    transmission_high: np.ndarray | None = None,
    transmission_low: np.ndarray | None = None,
    min_areal_density_g_cm2: float = DEFAULT_MIN_AREAL_DENSITY_G_CM2,
    impenetrable_transmission: float = DEFAULT_IMPENETRABLE_TRANSMISSION,
    row_height_mm: float | None = None,
    column_width_mm: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the true class and effective-Z maps of a scene on a grid.

    Parameters
    ----------
    scene : Scene
        The scene.
    z_mm : numpy.ndarray, shape (R,)
        Row centres, mm down from the image top at the scan plane.
    x_mm : numpy.ndarray, shape (C,)
        Column positions along the conveyance in scene coordinates, mm.
    transmission_high : numpy.ndarray, shape (R, C), optional
        Noise-free high-energy transmission (dimensionless) of the same pixels, averaged
        over each pixel's aperture as the detector records it; where it is below
        ``impenetrable_transmission`` the class is ``impenetrable``.
    transmission_low : numpy.ndarray, shape (R, C), optional
        The same for the low energy (the discrimination calls a pixel impenetrable when
        either energy is photon starved).
    min_areal_density_g_cm2 : float
        Non-structure areal density (g/cm²) below which a pixel is ``none``.
    impenetrable_transmission : float
        Transmission threshold of ``impenetrable`` (dimensionless, 0–1).
    row_height_mm, column_width_mm : float, optional
        Pixel aperture (mm) for the path-length average (default: the grid spacing).

    Returns
    -------
    classes : numpy.ndarray of uint8, shape (R, C)
        Contract class codes 0–5.
    zeff : numpy.ndarray of float32, shape (R, C)
        Effective Z of the dominant material; NaN for classes 0 and 5.

    Raises
    ------
    SimulationError
        If the transmission's shape does not match the grid or a threshold is invalid.

    Examples
    --------
    >>> from nii.physics import material
    >>> from nii.simulate.scene import Box, Scene, SceneObject
    >>> lead = SceneObject("lead", material("lead"), "threat", (Box(0, 100, 0, 100, 0, 100),))
    >>> classes, _ = truth_maps(Scene([lead], 200, 200), np.array([50.0, 150.0]), np.array([50.0]))
    >>> classes[:, 0].tolist()
    [4, 0]
    """
    z = np.atleast_1d(np.asarray(z_mm, dtype=np.float64))
    x = np.atleast_1d(np.asarray(x_mm, dtype=np.float64))
    if not (math.isfinite(min_areal_density_g_cm2) and min_areal_density_g_cm2 >= 0):
        raise SimulationError(f"min_areal_density_g_cm2 must be ≥ 0 g/cm², got {min_areal_density_g_cm2!r}.")
    if not (0 <= impenetrable_transmission <= 1):
        raise SimulationError(f"impenetrable_transmission must be in [0, 1], got {impenetrable_transmission!r}.")
    shape = (z.size, x.size)
    transmissions = []
    for label, value in (("transmission_high", transmission_high), ("transmission_low", transmission_low)):
        if value is None:
            continue
        array = np.asarray(value)
        if array.shape != shape:
            raise SimulationError(f"{label} has shape {array.shape}, expected {shape} (rows × columns).")
        transmissions.append(array)
    if row_height_mm is None and z.size > 1:
        row_height_mm = float(np.median(np.abs(np.diff(np.sort(z)))))
    if column_width_mm is None and x.size > 1:
        column_width_mm = float(np.median(np.abs(np.diff(np.sort(x)))))
    materials = scene.materials
    zeff_values = _zeff_of(materials)
    density = np.asarray([m.density_g_cm3 for m in materials], dtype=np.float32) * np.float32(0.1)
    classes = np.zeros(shape, dtype=np.uint8)
    zeff_map = np.full(shape, np.nan, dtype=np.float32)
    for start in range(0, x.size, _COLUMNS_PER_BLOCK):
        stop = min(start + _COLUMNS_PER_BLOCK, x.size)
        paths = scene.path_lengths_mm(
            z, x[start:stop], row_height_mm=row_height_mm, column_width_mm=column_width_mm, roles=TRUTH_ROLES
        )
        areal = paths * density[:, None, None]
        total = areal.sum(axis=0)
        dominant = np.argmax(areal, axis=0) if len(materials) else np.zeros(total.shape, dtype=np.intp)
        block_zeff = zeff_values[dominant] if len(materials) else np.full(total.shape, np.nan, np.float32)
        present = total >= np.float32(min_areal_density_g_cm2)
        if min_areal_density_g_cm2 == 0:
            present &= total > 0
        block_classes = np.where(present, class_of_zeff(block_zeff), NONE).astype(np.uint8)
        classes[:, start:stop] = block_classes
        zeff_map[:, start:stop] = np.where(present, block_zeff, np.nan)
    for transmission in transmissions:
        dark = transmission < impenetrable_transmission
        classes[dark] = IMPENETRABLE
        zeff_map[dark] = np.nan
    return classes, zeff_map


def regions_on_grid(bbox_mm: Sequence[float], z_mm: np.ndarray, x_mm: np.ndarray) -> list[int]:
    """Return the pixel box of a box in mm: half-open ``[row0, col0, row1, col1]``.

    Every pixel whose extent overlaps the box is included. A pixel's extent runs
    half-way to its neighbours (half a spacing beyond the first and last); a box
    outside the grid gives an empty box (``row0 == row1`` or ``col0 == col1``).

    Parameters
    ----------
    bbox_mm : sequence of 4 float
        ``[z0, x0, z1, x1]``: mm down from the image top, and conveyance positions, mm.
    z_mm : numpy.ndarray, shape (R,)
        Row centres, mm, increasing.
    x_mm : numpy.ndarray, shape (C,)
        Column positions, mm, increasing.

    Returns
    -------
    list of int

    Raises
    ------
    SimulationError
        If the box is not 4 finite numbers or a grid is not increasing.

    Examples
    --------
    >>> regions_on_grid([10.0, 0.0, 30.0, 5.0], np.arange(8) * 5.0 + 2.5, np.arange(4) * 2.0)
    [2, 0, 6, 3]
    """
    try:
        z0, x0, z1, x1 = (float(v) for v in bbox_mm)
    except (TypeError, ValueError) as exc:
        raise SimulationError(f"bbox_mm must be 4 numbers [z0, x0, z1, x1], got {bbox_mm!r}.") from exc
    if not all(math.isfinite(v) for v in (z0, x0, z1, x1)):
        raise SimulationError(f"bbox_mm {bbox_mm!r} is not finite.")
    row0, row1 = _span(np.asarray(z_mm, dtype=np.float64), z0, z1, "z_mm")
    col0, col1 = _span(np.asarray(x_mm, dtype=np.float64), x0, x1, "x_mm")
    return [row0, col0, row1, col1]


def _span(centres: np.ndarray, lo: float, hi: float, name: str) -> tuple[int, int]:
    if centres.ndim != 1 or centres.size == 0:
        raise SimulationError(f"{name} must be a non-empty 1-D array of positions in mm.")
    if centres.size > 1 and not np.all(np.diff(centres) > 0):
        raise SimulationError(f"{name} must increase strictly.")
    if centres.size == 1:
        half = 0.5
        edges = np.array([centres[0] - half, centres[0] + half])
    else:
        mids = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate(([centres[0] - (centres[1] - centres[0]) / 2], mids, [centres[-1] + (centres[-1] - centres[-2]) / 2]))
    if hi <= lo:
        first = int(np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, centres.size))
        return first, first
    first = int(np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, centres.size))
    last = int(np.clip(np.searchsorted(edges, hi, side="left"), first, centres.size))
    if hi <= edges[0] or lo >= edges[-1]:
        return (0, 0) if hi <= edges[0] else (centres.size, centres.size)
    return first, last
