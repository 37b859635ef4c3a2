"""Scenes: material objects in container coordinates, and the path lengths of the rays.

Geometry (the simulator's named shortcut)
-----------------------------------------
The X-ray fan is treated as a set of **parallel horizontal rays** perpendicular to the
conveyance: every ray runs along ``y`` (the container's width, the beam direction),
one ray per (row height ``z`` at the scan plane, conveyance position ``x``).
``z`` is measured in mm **down from the top of the imaged field** (row 0 = top), ``x``
in mm along the conveyance from the front of the object. Fan-beam magnification and
the slant of off-axis rays are ignored; the contract's ``bbox_mm`` uses the same
scan-plane coordinates, so a scene's coordinates are the contract's as long as the
acquisition puts scene ``z = 0`` at the image top and scene ``x = 0`` at conveyance
position 0 (it adds its own offset otherwise).

A scene is a list of :class:`SceneObject`, each one material made of primitives:
:class:`Box` (axis aligned; the ray's path is its ``y`` extent wherever ``(z, x)``
lies in its footprint) and :class:`Cylinder` (drums, bottles, tyres, coils, axles;
analytic chord lengths, optionally hollow). A primitive's ``weight`` scales its
contribution: a negative weight carves a cavity out of a host object (a threat hidden
inside a pallet load displaces the goods), a weight other than 1 describes goods
packed at a density other than the material's (per-carton density variation).

Path lengths are **aperture averaged**: each ray stands for a pixel of height
``row_height_mm`` and width ``column_width_mm`` and gets the mean path over that
footprint (exact for boxes and for cylinders with a vertical or conveyance-parallel
axis; exact along ``x`` on 4 sub-rows for discs seen face-on). A 2 mm roof sheet then shows as a
partial-volume row instead of vanishing between row centres. Pass 0 for point rays.
Averaging the path is not averaging the transmission: for a thin, dense sheet seen
edge-on (a roof, an end wall, a cross member's web) ``exp(−μ·mean L)`` is far darker
than the mean of ``exp(−μL)`` a detector pixel records; a caller that needs the pixel's
transmission there should average point rays (aperture 0) over sub-positions, as
:func:`nii.simulate.scenario.build_scenario` does for its unreadable-region estimate.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nii.errors import SimulationError
from nii.physics import Material

__all__ = [
    "Box",
    "Cylinder",
    "Primitive",
    "SceneObject",
    "ContainerInfo",
    "Scene",
    "ROLES",
    "hollow_box",
    "tube_along_y",
    "carve",
    "mixture_material",
    "packed_material",
]

#: Roles a scene object may have.
ROLES = ("container", "chassis", "cargo", "threat", "phantom")

#: mm³ × g/cm³ → kg
_MM3_G_CM3_TO_KG = 1e-6

#: Largest image a path-length request may ask for (materials × rows × columns floats).
_MAX_CELLS = 2_000_000_000


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in container coordinates (mm).

    Parameters
    ----------
    z0, z1 : float
        Top and bottom, mm down from the top of the imaged field (``z0 < z1``).
    x0, x1 : float
        Extent along the conveyance, mm (``x0 < x1``).
    y0, y1 : float
        Extent along the beam, mm (``y0 < y1``); the ray's path is ``y1 - y0``.
    weight : float
        Density scale of the contribution (1 = the material's density; negative for a
        cavity carved out of a host).
    """

    z0: float
    z1: float
    x0: float
    x1: float
    y0: float
    y1: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        values = (self.z0, self.z1, self.x0, self.x1, self.y0, self.y1, self.weight)
        if not all(math.isfinite(v) for v in values):
            raise SimulationError(f"box {values} has a non-finite coordinate or weight.")
        if not (self.z1 > self.z0 and self.x1 > self.x0 and self.y1 > self.y0):
            raise SimulationError(
                f"box z[{self.z0}, {self.z1}] x[{self.x0}, {self.x1}] y[{self.y0}, {self.y1}] mm is empty or inverted."
            )

    @property
    def bounds3d(self) -> tuple[float, float, float, float, float, float]:
        """``(z0, z1, x0, x1, y0, y1)`` in mm."""
        return (self.z0, self.z1, self.x0, self.x1, self.y0, self.y1)

    @property
    def footprint(self) -> tuple[float, float, float, float]:
        """``(z0, x0, z1, x1)`` in mm: where rays cross it."""
        return (self.z0, self.x0, self.z1, self.x1)

    @property
    def volume_mm3(self) -> float:
        """Geometric volume, mm³."""
        return (self.z1 - self.z0) * (self.x1 - self.x0) * (self.y1 - self.y0)

    def fill(self, out: np.ndarray, grid: _Grid) -> None:
        rows, weight_z = grid.rows(self.z0, self.z1)
        cols, weight_x = grid.cols(self.x0, self.x1)
        if weight_z.size == 0 or weight_x.size == 0:
            return
        scale = np.float32(self.weight * (self.y1 - self.y0))
        out[rows, cols] += np.multiply.outer(weight_z * scale, weight_x)


@dataclass(frozen=True)
class Cylinder:
    """Right circular cylinder (optionally hollow) with its axis along ``x``, ``y`` or ``z``.

    Parameters
    ----------
    axis : {"x", "y", "z"}
        ``"z"``: upright (drums, bottles); ``"x"``: lying along the conveyance (pipes,
        coils eye-to-door); ``"y"``: lying along the beam (wheels, tyres, axles).
    zc, xc, yc : float
        Centre, mm.
    radius_mm : float
        Outer radius, mm.
    length_mm : float
        Length along the axis, mm.
    inner_radius_mm : float
        Inner radius of a hollow cylinder, mm (0 for solid).
    weight : float
        Density scale (see :class:`Box`).
    """

    axis: str
    zc: float
    xc: float
    yc: float
    radius_mm: float
    length_mm: float
    inner_radius_mm: float = 0.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.axis not in ("x", "y", "z"):
            raise SimulationError(f"cylinder axis {self.axis!r} must be 'x', 'y' or 'z'.")
        values = (self.zc, self.xc, self.yc, self.radius_mm, self.length_mm, self.inner_radius_mm, self.weight)
        if not all(math.isfinite(v) for v in values):
            raise SimulationError(f"cylinder {values} has a non-finite parameter.")
        if not (self.radius_mm > 0 and self.length_mm > 0 and 0 <= self.inner_radius_mm < self.radius_mm):
            raise SimulationError(
                f"cylinder radius {self.radius_mm} mm, inner {self.inner_radius_mm} mm, length {self.length_mm} mm is not a valid shape."
            )

    @property
    def bounds3d(self) -> tuple[float, float, float, float, float, float]:
        """``(z0, z1, x0, x1, y0, y1)`` of the bounding box, mm."""
        r, half = self.radius_mm, self.length_mm / 2
        ext = {"z": (half, r, r), "x": (r, half, r), "y": (r, r, half)}[self.axis]
        return (self.zc - ext[0], self.zc + ext[0], self.xc - ext[1], self.xc + ext[1], self.yc - ext[2], self.yc + ext[2])

    @property
    def footprint(self) -> tuple[float, float, float, float]:
        z0, z1, x0, x1, _, _ = self.bounds3d
        return (z0, x0, z1, x1)

    @property
    def volume_mm3(self) -> float:
        return math.pi * (self.radius_mm**2 - self.inner_radius_mm**2) * self.length_mm

    def fill(self, out: np.ndarray, grid: _Grid) -> None:
        z0, z1, x0, x1, _, _ = self.bounds3d
        rows, weight_z = grid.rows(z0, z1)
        cols, weight_x = grid.cols(x0, x1)
        if weight_z.size == 0 or weight_x.size == 0:
            return
        if self.axis == "z":
            chord = _mean_chord(grid.x[cols], grid.column_width_mm, self.xc, self.radius_mm, self.inner_radius_mm)
            out[rows, cols] += np.multiply.outer(weight_z * np.float32(self.weight), chord.astype(np.float32))
        elif self.axis == "x":
            chord = _mean_chord(grid.z[rows], grid.row_height_mm, self.zc, self.radius_mm, self.inner_radius_mm)
            out[rows, cols] += np.multiply.outer(chord.astype(np.float32) * np.float32(self.weight), weight_x)
        else:
            out[rows, cols] += self._disc(grid.z[rows], grid.x[cols], grid.row_height_mm, grid.column_width_mm)

    def _disc(self, z: np.ndarray, x: np.ndarray, height: float, width: float) -> np.ndarray:
        # Face-on annulus: full length inside, 0 outside. Exact coverage along x of each
        # of 4 sub-rows per pixel (point rays when the aperture is 0).
        subs = 4 if height > 0 else 1
        offsets = ((np.arange(subs) + 0.5) / subs - 0.5) * height
        dz2 = ((z[:, None] + offsets[None, :]) - self.zc) ** 2  # R × S
        half_out = np.sqrt(np.maximum(self.radius_mm**2 - dz2, 0.0))[:, :, None]
        half_in = np.sqrt(np.maximum(self.inner_radius_mm**2 - dz2, 0.0))[:, :, None]
        u = (x - self.xc)[None, None, :]
        if width > 0:
            lo, hi = u - width / 2, u + width / 2
            cover = np.clip(np.minimum(hi, half_out) - np.maximum(lo, -half_out), 0.0, None)
            cover -= np.clip(np.minimum(hi, half_in) - np.maximum(lo, -half_in), 0.0, None)
            fraction = cover.mean(axis=1) / width
        else:
            inside = (np.abs(u) <= half_out) & ~(np.abs(u) < half_in)
            fraction = inside.mean(axis=1)
        return (fraction * (self.length_mm * self.weight)).astype(np.float32)


Primitive = Box | Cylinder


def _chord_integral(u: np.ndarray, radius: float) -> np.ndarray:
    """∫₀ᵘ 2√(r² − t²) dt, clipped to |u| ≤ r."""
    v = np.clip(u, -radius, radius)
    return v * np.sqrt(np.maximum(radius**2 - v**2, 0.0)) + radius**2 * np.arcsin(v / radius)


def _mean_chord(centres: np.ndarray, aperture: float, centre: float, radius: float, inner: float) -> np.ndarray:
    """Chord 2√(r²−u²) (minus the inner one) averaged over [c − a/2, c + a/2]."""
    u = np.asarray(centres, dtype=np.float64) - centre
    if aperture > 0:
        lo, hi = u - aperture / 2, u + aperture / 2
        chord = (_chord_integral(hi, radius) - _chord_integral(lo, radius)) / aperture
        if inner > 0:
            chord -= (_chord_integral(hi, inner) - _chord_integral(lo, inner)) / aperture
    else:
        chord = 2 * np.sqrt(np.maximum(radius**2 - u**2, 0.0))
        if inner > 0:
            chord -= 2 * np.sqrt(np.maximum(inner**2 - u**2, 0.0))
    return chord


class _Grid:
    """Sorted ray positions and apertures, with the overlap weights of an interval."""

    def __init__(self, z: np.ndarray, x: np.ndarray, row_height_mm: float, column_width_mm: float) -> None:
        self.z, self.x = z, x
        self.row_height_mm, self.column_width_mm = row_height_mm, column_width_mm

    @staticmethod
    def _overlap(centres: np.ndarray, aperture: float, lo: float, hi: float) -> tuple[slice, np.ndarray]:
        if aperture > 0:
            half = aperture / 2
            first = bisect_right(centres, lo - half)
            last = bisect_left(centres, hi + half)
            c = centres[first:last]
            weight = np.minimum(c + half, hi)
            weight -= np.maximum(c - half, lo)
            weight *= 1.0 / aperture
            np.minimum(weight, 1.0, out=weight)
            return slice(first, last), weight.astype(np.float32)
        first = bisect_left(centres, lo)
        last = bisect_left(centres, hi)
        return slice(first, last), np.ones(max(last - first, 0), dtype=np.float32)

    def rows(self, z0: float, z1: float) -> tuple[slice, np.ndarray]:
        return self._overlap(self.z, self.row_height_mm, z0, z1)

    def cols(self, x0: float, x1: float) -> tuple[slice, np.ndarray]:
        return self._overlap(self.x, self.column_width_mm, x0, x1)


@dataclass
class SceneObject:
    """One material object of a scene.

    Attributes
    ----------
    name : str
        What it is (``"side wall left"``, ``"pallet 3 layer 2"``, ``"lead block"``).
    material : Material
        Its material; ``material.density_g_cm3`` (g/cm³) is the density of weight 1.
    role : str
        One of ``container``, ``chassis``, ``cargo``, ``threat``, ``phantom``.
    primitives : tuple of Box or Cylinder
        Its shape.
    counts_as_cargo : bool
        Whether its mass is part of the goods (cargo, and threats hidden among them;
        not structural modifications such as a false wall).
    """

    name: str
    material: Material
    role: str
    primitives: tuple[Primitive, ...]
    counts_as_cargo: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise SimulationError(f"scene object '{self.name}' has role {self.role!r}; it must be one of {', '.join(ROLES)}.")
        self.primitives = tuple(self.primitives)
        if not self.primitives:
            raise SimulationError(f"scene object '{self.name}' has no shape.")
        if self.counts_as_cargo is None:
            self.counts_as_cargo = self.role == "cargo"

    @property
    def bbox_mm(self) -> tuple[float, float, float, float]:
        """``(z0, x0, z1, x1)`` in mm of the positive primitives' footprints."""
        boxes = [p.footprint for p in self.primitives if p.weight > 0] or [p.footprint for p in self.primitives]
        array = np.asarray(boxes, dtype=np.float64)
        return (float(array[:, 0].min()), float(array[:, 1].min()), float(array[:, 2].max()), float(array[:, 3].max()))

    @property
    def bounds3d(self) -> tuple[float, float, float, float, float, float]:
        """``(z0, z1, x0, x1, y0, y1)`` in mm of the positive primitives."""
        array = np.asarray([p.bounds3d for p in self.primitives if p.weight > 0] or [p.bounds3d for p in self.primitives])
        return (array[:, 0].min(), array[:, 1].max(), array[:, 2].min(), array[:, 3].max(), array[:, 4].min(), array[:, 5].max())

    @property
    def volume_mm3(self) -> float:
        """Density-weighted volume Σ weight × volume, mm³ (the volume at the material's density)."""
        return float(sum(p.weight * p.volume_mm3 for p in self.primitives))

    @property
    def mass_kg(self) -> float:
        """Mass, kg: density (g/cm³) × Σ weight × volume (mm³) × 10⁻⁶."""
        return self.material.density_g_cm3 * self.volume_mm3 * _MM3_G_CM3_TO_KG


@dataclass(frozen=True)
class ContainerInfo:
    """What a scene's container is and where its parts lie (all lengths in mm).

    Attributes
    ----------
    iso_type : str
        ISO 6346 size-type code (``"22G1"``).
    name : str
        Short name (``"20ft"``).
    tare_mass_kg : float
        Catalogue tare mass, kg.
    structure_mass_kg : float
        Mass of the modelled structure, kg (to compare with the tare).
    external_mm : tuple of float
        External length, width, height, mm.
    interior_mm : tuple of float
        Interior box ``(z0, z1, x0, x1, y0, y1)`` in scene coordinates, mm: from the
        ceiling to the floor's top surface, front wall to doors, wall to wall.
    origin_mm : tuple of float
        ``(z_top, x_front)``: scene coordinates of the container's top front corner, mm.
    """

    iso_type: str
    name: str
    tare_mass_kg: float
    structure_mass_kg: float
    external_mm: tuple[float, float, float]
    interior_mm: tuple[float, float, float, float, float, float]
    origin_mm: tuple[float, float]
    max_gross_mass_kg: float = 0.0

    @property
    def max_payload_kg(self) -> float:
        """Catalogue maximum payload (max gross − tare), kg."""
        return max(self.max_gross_mass_kg - self.tare_mass_kg, 0.0)


@dataclass
class Scene:
    """A scanned object: material objects in container coordinates.

    Attributes
    ----------
    objects : list of SceneObject
    length_mm : float
        Conveyance extent of the object, mm (it spans ``x`` in [0, length_mm]).
    height_mm : float
        Vertical extent to image, mm (``z`` in [0, height_mm]).
    container : ContainerInfo or None
    name : str
    phantom : list of dict
        Calibration blocks in the NXR ``phantom`` format, with ``z_mm`` [z0, z1] (mm)
        in place of ``channels`` (see :func:`nii.simulate.scenario.phantom_header`).
    """

    objects: list[SceneObject]
    length_mm: float
    height_mm: float
    container: ContainerInfo | None = None
    name: str = "scene"
    phantom: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.length_mm) and self.length_mm > 0 and math.isfinite(self.height_mm) and self.height_mm > 0):
            raise SimulationError(f"scene '{self.name}' must have a positive length and height in mm.")

    @property
    def materials(self) -> list[Material]:
        """Distinct materials (by name) in order of first appearance."""
        seen: dict[str, Material] = {}
        for item in self.objects:
            seen.setdefault(item.material.name, item.material)
        return list(seen.values())

    @property
    def cargo_mass_kg(self) -> float:
        """Mass of the goods, kg: Σ volume × density of cargo objects (and threats hidden as cargo)."""
        return float(sum(item.mass_kg for item in self.objects if item.counts_as_cargo))

    def mass_by_role_kg(self) -> dict[str, float]:
        """Total mass per role, kg."""
        totals: dict[str, float] = {}
        for item in self.objects:
            totals[item.role] = totals.get(item.role, 0.0) + item.mass_kg
        return totals

    def material_index(self) -> dict[str, int]:
        """Index of each material name in :attr:`materials` (the first axis of path lengths)."""
        return {m.name: i for i, m in enumerate(self.materials)}

    def path_lengths_mm(
        self,
        z_mm: np.ndarray,
        x_mm: np.ndarray,
        *,
        row_height_mm: float | None = None,
        column_width_mm: float | None = None,
        roles: Iterable[str] | None = None,
    ) -> np.ndarray:
        """Return the path length of every ray through every material.

        Parameters
        ----------
        z_mm : numpy.ndarray, shape (R,)
            Row heights at the scan plane, mm down from the top of the imaged field.
        x_mm : numpy.ndarray, shape (C,)
            Conveyance positions of the rays in scene coordinates, mm.
        row_height_mm, column_width_mm : float, optional
            Pixel aperture, mm, over which each ray's path is averaged. Default: the
            median spacing of ``z_mm`` / ``x_mm`` (0 — point rays — for a single value).
        roles : iterable of str, optional
            Only objects with these roles (default: all).

        Returns
        -------
        numpy.ndarray of float32, shape (M, R, C)
            For material ``m`` of :attr:`materials`, the length (mm) of that material
            along the ray at its catalogue density (``areal density / density``: the
            geometric chord where goods are packed at the nominal density).

        Raises
        ------
        SimulationError
            If the positions are not finite 1-D arrays or the result would be huge.

        Examples
        --------
        >>> from nii.physics import material
        >>> cube = SceneObject("cube", material("iron"), "phantom", (Box(0, 100, 0, 100, 0, 100),))
        >>> scene = Scene([cube], length_mm=100, height_mm=100)
        >>> float(scene.path_lengths_mm(np.array([50.0]), np.array([50.0]))[0, 0, 0])
        100.0
        """
        z = _positions(z_mm, "z_mm")
        x = _positions(x_mm, "x_mm")
        materials = self.materials
        if len(materials) * z.size * x.size > _MAX_CELLS:
            raise SimulationError(
                f"path lengths for {len(materials)} materials × {z.size} rows × {x.size} columns exceed the size limit."
            )
        height = _aperture(z, row_height_mm, "row_height_mm")
        width = _aperture(x, column_width_mm, "column_width_mm")
        z_order = np.argsort(z, kind="stable")
        x_order = np.argsort(x, kind="stable")
        grid = _Grid(z[z_order], x[x_order], height, width)
        primitives, plane_of, role_of, bounds = self._flat()
        out = np.zeros((len(materials), z.size, x.size), dtype=np.float32)
        if primitives:
            # Only the primitives whose footprint meets the requested rays (cheap when
            # the acquisition asks for a block of pulses at a time).
            near = (
                (bounds[:, 0] < grid.z[-1] + height / 2)
                & (bounds[:, 1] > grid.z[0] - height / 2)
                & (bounds[:, 2] < grid.x[-1] + width / 2)
                & (bounds[:, 3] > grid.x[0] - width / 2)
            )
            if roles is not None:
                near &= np.isin(role_of, list(roles))
            for k in np.flatnonzero(near):
                primitives[k].fill(out[plane_of[k]], grid)
        np.maximum(out, 0.0, out=out)  # cavities clipped to their hosts can leave -0 rounding
        if not (_is_sorted(z) and _is_sorted(x)):
            result = np.empty_like(out)
            result[:, z_order[:, None], x_order[None, :]] = out
            out = result
        return out

    def _flat(self) -> tuple[list[Primitive], np.ndarray, np.ndarray, np.ndarray]:
        """Every primitive with its material plane, role and footprint (cached)."""
        key = tuple(id(item) for item in self.objects)
        cached = getattr(self, "_flat_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        index = self.material_index()
        primitives: list[Primitive] = []
        planes, roles, bounds = [], [], []
        for item in self.objects:
            for primitive in item.primitives:
                primitives.append(primitive)
                planes.append(index[item.material.name])
                roles.append(item.role)
                z0, x0, z1, x1 = primitive.footprint
                bounds.append((z0, z1, x0, x1))
        flat = (
            primitives,
            np.asarray(planes, dtype=np.intp),
            np.asarray(roles, dtype=object),
            np.asarray(bounds, dtype=np.float64).reshape(-1, 4),
        )
        self._flat_cache = (key, flat)
        return flat

    def areal_density_g_cm2(self, z_mm: np.ndarray, x_mm: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Return the areal density (g/cm²) per material, shape (M, R, C): path (mm) × density / 10."""
        paths = self.path_lengths_mm(z_mm, x_mm, **kwargs)
        densities = np.asarray([m.density_g_cm3 for m in self.materials], dtype=np.float32)
        return paths * (densities[:, None, None] * np.float32(0.1))


def _is_sorted(values: np.ndarray) -> bool:
    return bool(values.size < 2 or np.all(np.diff(values) >= 0))


def _positions(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1 or array.size == 0:
        raise SimulationError(f"{name} must be a non-empty 1-D array of positions in mm, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise SimulationError(f"{name} holds non-finite positions.")
    return array


def _aperture(positions: np.ndarray, given: float | None, name: str) -> float:
    if given is None:
        if positions.size < 2:
            return 0.0
        return float(np.median(np.abs(np.diff(np.sort(positions)))))
    value = float(given)
    if not (math.isfinite(value) and value >= 0):
        raise SimulationError(f"{name} must be a finite length ≥ 0 mm, got {given!r}.")
    return value


def hollow_box(z0: float, z1: float, x0: float, x1: float, y0: float, y1: float, wall_mm: float) -> tuple[Box, ...]:
    """Return the six walls of a closed box shell as non-overlapping boxes.

    Parameters
    ----------
    z0, z1, x0, x1, y0, y1 : float
        Outer bounds, mm.
    wall_mm : float
        Wall thickness, mm; a shell whose walls would meet is returned solid.

    Returns
    -------
    tuple of Box
    """
    w = float(wall_mm)
    if 2 * w >= min(z1 - z0, x1 - x0, y1 - y0):
        return (Box(z0, z1, x0, x1, y0, y1),)
    return (
        Box(z0, z1, x0, x1, y0, y0 + w),  # beam-facing walls
        Box(z0, z1, x0, x1, y1 - w, y1),
        Box(z0, z0 + w, x0, x1, y0 + w, y1 - w),  # top and bottom
        Box(z1 - w, z1, x0, x1, y0 + w, y1 - w),
        Box(z0 + w, z1 - w, x0, x0 + w, y0 + w, y1 - w),  # front and rear
        Box(z0 + w, z1 - w, x1 - w, x1, y0 + w, y1 - w),
    )


def tube_along_y(z0: float, z1: float, x0: float, x1: float, y0: float, y1: float, wall_mm: float) -> tuple[Box, ...]:
    """Return a rectangular hollow section running along the beam (open ends) as boxes.

    Rays inside its walls cross its whole length ``y1 - y0`` of steel: headers, sills
    and cross members show as thin dark lines.
    """
    w = float(wall_mm)
    if 2 * w >= min(z1 - z0, x1 - x0):
        return (Box(z0, z1, x0, x1, y0, y1),)
    return (
        Box(z0, z0 + w, x0, x1, y0, y1),
        Box(z1 - w, z1, x0, x1, y0, y1),
        Box(z0 + w, z1 - w, x0, x0 + w, y0, y1),
        Box(z0 + w, z1 - w, x1 - w, x1, y0, y1),
    )


def _intersection(a: Sequence[float], b: Sequence[float]) -> tuple[float, ...] | None:
    lo = [max(a[i], b[i]) for i in (0, 2, 4)]
    hi = [min(a[i + 1], b[i + 1]) for i in (0, 2, 4)]
    if any(upper <= lower for lower, upper in zip(lo, hi, strict=True)):
        return None
    return (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])


def _inside_eye(cylinder: Cylinder, bounds3d: Sequence[float]) -> bool:
    """Whether a box lies entirely within the hole of a hollow cylinder (across its axis)."""
    if cylinder.inner_radius_mm <= 0:
        return False
    centre = {"z": cylinder.zc, "x": cylinder.xc, "y": cylinder.yc}
    across = [axis for axis in "zxy" if axis != cylinder.axis]
    spans = {axis: (bounds3d[2 * i], bounds3d[2 * i + 1]) for i, axis in enumerate("zxy")}
    reach = [max(abs(spans[a][0] - centre[a]), abs(spans[a][1] - centre[a])) for a in across]
    return math.hypot(*reach) <= cylinder.inner_radius_mm


def carve(host: SceneObject, bounds3d: Sequence[float]) -> SceneObject | None:
    """Return ``host`` with the box ``bounds3d`` emptied out (or None if nothing is left).

    Box primitives get a negative box over their intersection with the cavity (same
    density scale), so the host's mass stays exact; cylinders (drums, bottles, tyres)
    that touch the cavity are removed whole, unless it lies in their hole (a coil's or
    a reel's eye).

    Parameters
    ----------
    host : SceneObject
    bounds3d : sequence of float
        Cavity ``(z0, z1, x0, x1, y0, y1)`` in mm.
    """
    kept: list[Primitive] = []
    for primitive in host.primitives:
        overlap = _intersection(primitive.bounds3d, bounds3d)
        if overlap is None:
            kept.append(primitive)
            continue
        if isinstance(primitive, Cylinder):
            if _inside_eye(primitive, bounds3d):
                kept.append(primitive)  # the cavity sits in its hole: nothing displaced
            continue
        kept.append(primitive)
        if primitive.weight > 0:
            kept.append(Box(*overlap, weight=-primitive.weight))  # type: ignore[misc]
    # Undo double carving: a negative box whose host box was removed must go too.
    positive = [p for p in kept if p.weight > 0]
    result: list[Primitive] = []
    for primitive in kept:
        if primitive.weight < 0 and not any(_intersection(primitive.bounds3d, p.bounds3d) for p in positive):
            continue
        result.append(primitive)
    if not any(p.weight > 0 for p in result):
        return None
    return replace(host, primitives=tuple(result), metadata=dict(host.metadata))


def mixture_material(name: str, components: Sequence[tuple[Material, float]], density_g_cm3: float, source: str) -> Material:
    """Return a homogenised mixture of catalogue materials.

    Parameters
    ----------
    name : str
        Name of the mixture (unique within a scene).
    components : sequence of (Material, float)
        Materials and their mass fractions (normalised here).
    density_g_cm3 : float
        Bulk density of the packed mixture, g/cm³.
    source : str
        Where the mixture comes from.
    """
    total = float(sum(fraction for _, fraction in components))
    if not (total > 0 and density_g_cm3 > 0):
        raise SimulationError(f"mixture '{name}' needs positive fractions and density.")
    composition: dict[str, float] = {}
    for item, fraction in components:
        for element, share in item.composition.items():
            composition[element] = composition.get(element, 0.0) + share * fraction / total
    return Material(name=name, density_g_cm3=float(density_g_cm3), composition=composition, source=source)


def packed_material(base: Material, density_g_cm3: float, label: str) -> Material:
    """Return ``base`` at a packed (bulk) density, named ``"<base> <label>"``."""
    return Material(
        name=f"{base.name} {label}",
        density_g_cm3=float(density_g_cm3),
        composition=dict(base.composition),
        source=f"{base.source}; packed at {density_g_cm3:.3f} g/cm3 ({label})",
    )
