"""The verdict's JSON (inspection contract) and the checks run together."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _inspection_synthetic import FRONT, IN_ROW0, IN_ROW1, REAR, Scene, cargo_kg, manifest

from nii.classes import HIGH_Z, ORGANIC
from nii.errors import AnalysisError
from nii.inspection import REASON_CODES, Reason, Region, Verdict, combine_scores, verdict_from_maps

PROVENANCE = {"input_sha256": "ab" * 32, "calibration": "physics:test"}
ROWS, COLS = (IN_ROW0 + 20, IN_ROW1 - 1), (FRONT + 3, REAR - 3)


def loaded(seed=0):
    return Scene(seed=seed).add(ROWS[0], COLS[0], ROWS[1], COLS[1], 40.0, ORGANIC)


def declared():
    return manifest(items=[{"hs_code": "610910", "gross_mass_kg": cargo_kg(40.0, ROWS[1] - ROWS[0], COLS[1] - COLS[0])}])


def test_clean_scan_gives_a_clear_verdict_with_the_contract_fields():
    image, material_map = loaded().build()
    verdict = verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE)
    data = json.loads(verdict.to_json())
    assert set(data) >= {"scan_id", "verdict", "score", "reasons", "regions", "estimates", "provenance"}
    assert data["verdict"] == "clear" and data["reasons"] == [] and data["regions"] == []
    assert 0 <= data["score"] < 0.5
    assert set(data["estimates"]) == {"cargo_mass_kg", "material_fractions"}
    assert data["estimates"]["cargo_mass_kg"] > 0
    assert data["provenance"]["software"].startswith("nii ")
    assert data["provenance"]["input_sha256"] == PROVENANCE["input_sha256"]
    assert data["provenance"]["models"] == {}


def test_threat_gives_inspect_with_reasons_and_regions():
    image, material_map = loaded(seed=1).add(60, 150, 64, 154, 60.0, HIGH_Z).build()
    verdict = verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE)
    data = verdict.to_dict()
    assert data["verdict"] == "inspect"
    assert "UNDECLARED_HIGH_Z" in [reason["code"] for reason in data["reasons"]]
    assert data["score"] >= 0.5
    for region in data["regions"]:
        assert len(region["bbox"]) == 4 and len(region["bbox_mm"]) == 4
        assert region["reason"] in REASON_CODES
        row0, col0, row1, col1 = region["bbox"]
        assert 0 <= row0 < row1 <= image.attenuation_high.shape[0]
        assert 0 <= col0 < col1 <= image.attenuation_high.shape[1]
    for reason in data["reasons"]:
        assert set(reason) == {"code", "severity", "message"}
    assert "UNDECLARED_HIGH_Z" in verdict.summary()


def test_score_combination():
    assert combine_scores([]) == 0.0
    assert combine_scores([0.5, 0.5]) == pytest.approx(0.75)
    reason = Reason("MASS_MISMATCH", "medium", "m", 0.6)
    assert Verdict("s", (reason,), (), None, {}, {}).score == pytest.approx(0.6)
    assert Verdict("s", (), (), None, {}, {}, near_miss=0.9).score < 0.5
    with pytest.raises(ValueError):
        Reason("X", "urgent", "m")


def test_region_json_is_rounded_and_plain():
    region = Region((1, 2, 3, 4), (3.75, 100.0, 11.25, 105.0), "metal", 0.91234, "CONCEALMENT_ANOMALY")
    assert region.to_dict() == {"bbox": [1, 2, 3, 4], "bbox_mm": [3.8, 100.0, 11.2, 105.0],
                                "material": "metal", "score": 0.912, "reason": "CONCEALMENT_ANOMALY"}


def test_nan_image_is_an_analysis_error_not_a_clear():
    image, material_map = loaded(seed=2).build()
    material_map.areal_density_g_cm2[:] = np.nan
    with pytest.raises(AnalysisError, match="not finite"):
        verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE)


def test_mismatched_shapes_are_an_analysis_error():
    image, material_map = loaded(seed=3).build()
    material_map.classes = material_map.classes[:, :-1]
    with pytest.raises(AnalysisError, match="shape"):
        verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE)


def test_some_nans_are_tolerated():
    image, material_map = loaded(seed=4).build()
    material_map.areal_density_g_cm2[10:12, :] = np.nan
    verdict = verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE)
    assert json.loads(verdict.to_json())["verdict"] in ("clear", "inspect")


def test_learned_detector_alarm_becomes_a_reason():
    image, material_map = loaded(seed=5).build()

    def detector(image, material_map):
        return {"score": 0.9, "regions": [{"bbox": [50, 100, 60, 120], "score": 0.8, "reason": "CONCEALMENT_ANOMALY"}]}

    verdict = verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE, models=[detector])
    assert verdict.verdict == "inspect"
    assert "detector" in verdict.to_dict()["provenance"]["models"]
    assert any("learned detector" in reason.message for reason in verdict.reasons)


def test_summary_prints_the_warnings_under_its_line():
    verdict = Verdict("S-1", (Reason("SCAN_INCOMPLETE", "high", "the scan ends 5.2 m before the container's rear end", 0.9),),
                      (), None, {}, {}, warnings=("cargo mass not compared: only 14 % of the container was read",
                                                  "an HS code\nspanning lines"))
    first, *notes = verdict.summary().splitlines()
    assert first == "S-1: INSPECT (score 0.90; SCAN_INCOMPLETE; cargo ≈ n/a)"
    assert notes == ["  warning: cargo mass not compared: only 14 % of the container was read",
                     "  warning: an HS code spanning lines"]
    assert Verdict("S-2", (), (), 10.0, {}, {}).summary() == "S-2: CLEAR (score 0.00; no reason; cargo ≈ 10 kg)"


def test_a_partial_container_is_never_clear():
    # The scan stops a third of the way into the box: SCAN_INCOMPLETE, no mass compared.
    image, material_map = loaded(seed=6).build()
    keep = slice(0, FRONT + (REAR - FRONT) // 3)
    for holder in (image, material_map):
        for name, value in list(vars(holder).items()):
            if isinstance(value, np.ndarray) and value.ndim == 2:
                setattr(holder, name, value[:, keep].copy())
            elif name == "position_mm":
                setattr(holder, name, value[keep].copy())
    verdict = verdict_from_maps(image, material_map, declared(), provenance=PROVENANCE)
    assert verdict.verdict == "inspect" and verdict.reason_codes[0] == "SCAN_INCOMPLETE"
    assert "MASS_MISMATCH" not in verdict.reason_codes and verdict.cargo_mass_kg is None
    assert "ends" in verdict.reasons[0].message and "rear end" in verdict.reasons[0].message
