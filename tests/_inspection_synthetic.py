"""Hand-built analysed images and material maps for the inspection checks' tests.

A 20 ft container (22G1 of ``seeds/containers.toml``) drawn directly as areal density
(g/cm²) on a coarse grid: 30 mm rows × 25 mm columns at the scan plane, 96 × 320
pixels. Walls, roof, floor and end bands follow the structure the checks expect; a
trailer's rails sit under the container. Cargo and threats are boxes added on top; goods
stand on pallets, so they stop a row (30 mm) above the floor boards.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from nii.classes import HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC
from nii.inspection import load_expectations, load_manifest
from nii.inspection.checks import build_check_input

ROWS, COLS = 96, 320
ROW_MM, COL_MM = 30.0, 25.0
TOP, BOTTOM = 4, 4 + int(round(2591.0 / ROW_MM))          # rows 4..90
FRONT, REAR = 40, 40 + int(round(6058.0 / COL_MM))        # cols 40..282
FLOOR_ROWS = 6                                            # 170 mm band
ROOF_ROWS = 2                                             # 60 mm band
END_COLS = 10                                             # 260 mm band
NOISE_G_CM2 = 0.3
#: Z_eff used per class.
ZEFF = {ORGANIC: 7.0, INORGANIC: 13.0, METAL: 26.0, HIGH_Z: 82.0}
#: Interior (cargo space) rows and columns.
IN_ROW0, IN_ROW1 = TOP + ROOF_ROWS, BOTTOM - FLOOR_ROWS
IN_COL0, IN_COL1 = FRONT + END_COLS, REAR - END_COLS


class Scene:
    """A container scene on the analysed grid: areal density and class per pixel."""

    def __init__(self, *, container: bool = True, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.areal = np.zeros((ROWS, COLS), np.float64)
        self.classes = np.zeros((ROWS, COLS), np.uint8)
        self.zeff = np.full((ROWS, COLS), np.nan, np.float64)
        if container:
            self.add(TOP, FRONT, BOTTOM, REAR, 2.67, METAL)                  # both side walls
            self.add(TOP, FRONT, TOP + ROOF_ROWS, REAR, 62.0, METAL)         # roof band
            self.add(BOTTOM - FLOOR_ROWS, FRONT, BOTTOM - FLOOR_ROWS + 1, REAR, 150.0, ORGANIC)  # boards
            self.add(BOTTOM - FLOOR_ROWS + 1, FRONT, BOTTOM, REAR, 8.0, METAL)  # bottom rails
            self.add(TOP, FRONT, BOTTOM, FRONT + END_COLS, 250.0, METAL)     # front end
            self.add(TOP, REAR - END_COLS, BOTTOM, REAR, 250.0, METAL)       # doors
            self.add(BOTTOM, FRONT, BOTTOM + 3, REAR, 12.0, METAL)           # trailer rails

    def add(self, r0: int, c0: int, r1: int, c1: int, areal_g_cm2: float, cls: int) -> Scene:
        """Add material of ``areal_g_cm2`` (g/cm²) and class ``cls`` over a box."""
        before = self.areal[r0:r1, c0:c1]
        after = before + areal_g_cm2
        # The class of a mix follows the heavier contribution.
        take = areal_g_cm2 >= before
        self.classes[r0:r1, c0:c1] = np.where(take, cls, self.classes[r0:r1, c0:c1])
        self.zeff[r0:r1, c0:c1] = np.where(take, ZEFF.get(cls, np.nan), self.zeff[r0:r1, c0:c1])
        self.areal[r0:r1, c0:c1] = after
        return self

    def build(self, *, impenetrable_above: float = 1500.0) -> tuple[Any, Any]:
        """Return ``(image, material_map)`` stand-ins with noise."""
        noisy = self.areal + self.rng.normal(0.0, NOISE_G_CM2, self.areal.shape)
        classes = self.classes.copy()
        classes[self.areal < 1.0] = NONE
        classes[self.areal >= impenetrable_above] = IMPENETRABLE
        zeff = self.zeff.copy()
        zeff[(classes == NONE) | (classes == IMPENETRABLE)] = np.nan
        alpha = (noisy * 0.03).astype(np.float32)
        position = np.arange(COLS) * COL_MM + 1000.0
        image = SimpleNamespace(
            attenuation_high=alpha,
            attenuation_low=(alpha * 1.1).astype(np.float32),
            transmission_high=np.exp(-alpha).astype(np.float32),
            transmission_low=np.exp(-alpha * 1.1).astype(np.float32),
            sigma_high=np.full(alpha.shape, NOISE_G_CM2 * 0.03, np.float32),
            sigma_low=np.full(alpha.shape, NOISE_G_CM2 * 0.033, np.float32),
            saturated=np.zeros(alpha.shape, bool),
            starved=classes == IMPENETRABLE,
            repaired=np.zeros(alpha.shape, bool),
            position_mm=position,
            channel=np.arange(ROWS, dtype=np.int32),
            row_height_mm=ROW_MM,
            column_pitch_mm=COL_MM,
            energies_mev=[6.0, 3.0],
            scan_id="SYNTH-0001",
            provenance={},
        )
        material_map = SimpleNamespace(
            classes=classes,
            zeff=zeff.astype(np.float32),
            zeff_sigma=np.where(np.isnan(zeff), np.nan, 0.5).astype(np.float32),
            areal_density_g_cm2=noisy.astype(np.float32),
            position_mm=position,
            channel=image.channel,
        )
        return image, material_map


def manifest(*, empty: bool = False, items: list[dict[str, Any]] | None = None, iso_type: str = "22G1") -> Any:
    """A validated manifest for the synthetic container."""
    data = {
        "container_id": "TEST1234567",
        "iso_type": iso_type,
        "declared_empty": empty,
        "items": [] if empty and items is None else (items or [{"hs_code": "610910", "gross_mass_kg": 2000}]),
    }
    return load_manifest(data)


def check_input(scene: Scene, the_manifest: Any) -> Any:
    """Build the checks' input from a scene and a manifest."""
    image, material_map = scene.build()
    return build_check_input(image, material_map, the_manifest, load_expectations())


def cargo_kg(areal_g_cm2: float, rows: int, cols: int) -> float:
    """Mass (kg) of a box of ``areal_g_cm2`` over ``rows × cols`` pixels."""
    return areal_g_cm2 * rows * cols * ROW_MM * COL_MM / 100.0 / 1000.0
