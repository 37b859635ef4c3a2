"""A small hand-made analysed image, material map, verdict and manifest for the review tests.

96 rows × 320 columns, 30 mm rows and 25 mm columns (aspect 1.2): air above row 20 and
left of column 30 (an empty band the evidence image must cut), a container of organic
cargo, a lead block inside it flagged by two checks (two overlapping regions: one
object), a raised floor flagged elsewhere, and a mass reason with no region; two
warnings.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from nii.classes import HIGH_Z, METAL, NONE, ORGANIC

ROWS, COLS = 96, 320
ROW_MM, COL_MM = 30.0, 25.0
BLOCK = (50, 150, 56, 158)          # the lead block (row0, col0, row1, col1)
FLOOR = (80, 60, 86, 120)           # the raised floor


def _bbox_mm(bbox: tuple[int, int, int, int]) -> list[float]:
    row0, col0, row1, col1 = bbox
    return [row0 * ROW_MM, 1000.0 + col0 * COL_MM, row1 * ROW_MM, 1000.0 + col1 * COL_MM]


def build(seed: int = 0) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """Return ``(image, material_map, verdict, manifest)`` of the synthetic scan."""
    rng = np.random.default_rng(seed)
    areal = np.zeros((ROWS, COLS))
    classes = np.zeros((ROWS, COLS), np.uint8)
    zeff = np.full((ROWS, COLS), np.nan)
    areal[20:90, 30:300] = 8.0                       # walls
    classes[20:90, 30:300] = METAL
    zeff[20:90, 30:300] = 26.0
    areal[25:86, 35:295] += 60.0                     # organic cargo
    classes[25:86, 35:295] = ORGANIC
    zeff[25:86, 35:295] = 7.0
    r0, c0, r1, c1 = BLOCK
    areal[r0:r1, c0:c1] += 120.0
    classes[r0:r1, c0:c1] = HIGH_Z
    zeff[r0:r1, c0:c1] = 82.0
    r0, c0, r1, c1 = FLOOR
    areal[r0:r1, c0:c1] += 40.0
    classes[r0:r1, c0:c1] = METAL
    noisy = areal + rng.normal(0.0, 0.3, areal.shape)
    alpha = np.clip(noisy * 0.03, 0.0, None).astype(np.float32)
    classes[areal < 1.0] = NONE
    position = 1000.0 + np.arange(COLS) * COL_MM
    image = SimpleNamespace(
        attenuation_high=alpha,
        attenuation_low=(alpha * 1.15).astype(np.float32),
        transmission_high=np.exp(-alpha),
        row_height_mm=ROW_MM,
        column_pitch_mm=COL_MM,
        position_mm=position,
        scan_id="SYNTH-REVIEW",
    )
    material_map = SimpleNamespace(classes=classes, zeff=zeff.astype(np.float32),
                                   areal_density_g_cm2=noisy.astype(np.float32))
    verdict = {
        "scan_id": "SYNTH-REVIEW",
        "verdict": "inspect",
        "score": 0.97,
        "reasons": [
            {"code": "UNDECLARED_HIGH_Z", "severity": "high",
             "message": "dense high-Z object (Zeff ≈ 82, about 3.0 kg lead-equivalent, 20 × 18 cm) inside organic cargo"},
            {"code": "CONCEALMENT_ANOMALY", "severity": "high",
             "message": "a 20 × 18 cm region about 5 kg denser than the cargo around it (7 g/cm³)"},
            {"code": "STRUCTURE_ANOMALY", "severity": "medium", "message": "the floor is 18 cm thicker over 1.5 m"},
            {"code": "MASS_MISMATCH", "severity": "medium", "message": "cargo ≈ 9,100 kg against 6,000 kg declared"},
        ],
        "regions": [
            {"bbox": list(BLOCK), "bbox_mm": _bbox_mm(BLOCK), "material": "high_z", "score": 0.95,
             "reason": "UNDECLARED_HIGH_Z"},
            {"bbox": [49, 149, 57, 159], "bbox_mm": _bbox_mm((49, 149, 57, 159)), "material": "metal", "score": 0.85,
             "reason": "CONCEALMENT_ANOMALY"},
            {"bbox": list(FLOOR), "bbox_mm": _bbox_mm(FLOOR), "material": "metal", "score": 0.6,
             "reason": "STRUCTURE_ANOMALY"},
        ],
        "estimates": {"cargo_mass_kg": 9100.0, "material_fractions": {"organic": 0.9, "metal": 0.08, "high_z": 0.02}},
        "provenance": {"input_sha256": "ab" * 32, "calibration": "physics-model:test", "software": "nii test",
                       "models": {}},
        "warnings": ["3 pulse(s) were dropped by the scanner or lost to CRC failures",
                     "items[1]: HS chapter 99 is not in the expectation table"],
    }
    manifest = {
        "container_id": "TEST1234567", "iso_type": "22G1", "container_type": "20ft", "tare_mass_kg": 2200.0,
        "tare_declared": False, "declared_empty": False, "declared_gross_mass_kg": 6000.0,
        "items": [{"hs_code": "030389", "description": "frozen fish, cartons", "gross_mass_kg": 5990.0, "packages": 300},
                  {"hs_code": "990000", "description": "unknown goods", "gross_mass_kg": 10.0, "packages": None}],
    }
    return image, material_map, verdict, manifest
