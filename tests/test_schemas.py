"""The JSON Schemas of ``nii/schemas`` against every JSON file NII writes.

Validated with ``jsonschema`` (draft 2020-12): the demo's verdict and manifest, a
batch summary (with a failed scan in it), a calibration written by ``nii calibrate``
on simulated wedges, and the manifests the simulator writes for the scenarios of
``seeds/suites``. Each schema also rejects a few documents that break its contract,
so that a schema cannot pass by accepting everything.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from nii.cli import main  # noqa: E402
from nii.resources import seed_path  # noqa: E402
from nii.schemas import SCHEMA_NAMES, load_schema, schema_text, validate  # noqa: E402


def _validator(name: str):
    return jsonschema.Draft202012Validator(load_schema(name))


def _errors(document, name: str) -> list[str]:
    return [error.message for error in _validator(name).iter_errors(document)]


def _read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One ``nii demo`` run (64 channels to stay quick): its output folder."""
    out = tmp_path_factory.mktemp("schemas") / "demo"
    assert main(["demo", "--out", str(out), "--channels", "64"]) == 0
    return out


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_are_valid_draft_2020_12(name):
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(schema_text(name)) == schema


def test_unknown_schema_name_is_a_clear_error():
    with pytest.raises(ValueError, match="verdict"):
        load_schema("verdicts")


def test_demo_verdict_and_manifest_validate(demo):
    verdict = _read(demo / "verdict.json")
    validate(verdict, "verdict")
    (manifest_path,) = (demo / "scan").glob("*.manifest.json")
    validate(_read(manifest_path), "manifest")


def test_verdict_schema_rejects_contract_violations(demo):
    verdict = _read(demo / "verdict.json")
    assert verdict["verdict"] == "inspect" and verdict["reasons"]
    cases = {
        "a clear verdict with reasons": {"verdict": "clear"},
        "an inspect verdict without reasons": {"reasons": []},
        "a score above 1": {"score": 1.5},
        "an unknown verdict": {"verdict": "maybe"},
    }
    for what, change in cases.items():
        assert _errors({**verdict, **change}, "verdict"), what
    lowercase = copy.deepcopy(verdict)
    lowercase["reasons"][0]["code"] = "undeclared_high_z"
    assert _errors(lowercase, "verdict")
    short_box = copy.deepcopy(verdict)
    short_box["regions"][0]["bbox"] = [1, 2, 3]
    assert _errors(short_box, "verdict")
    # Fields may be added, and codes are a pattern, not an enum.
    extended = copy.deepcopy(verdict)
    extended["coverage"] = {"fraction": 0.98}
    extended["reasons"][0]["code"] = "SCAN_INCOMPLETE"
    extended["reasons"][0]["hint"] = "rescan"
    assert not _errors(extended, "verdict")


def test_batch_summary_validates(demo, tmp_path):
    from nii.inspection import run_batch

    (scan,) = (demo / "scan").glob("*.nxr")
    missing = tmp_path / "absent.nxr"
    out = tmp_path / "batch"
    summary = run_batch([scan, missing], None, out, workers=1, progress=False)
    assert summary.n_error == 1 and summary.n_inspect == 1
    written = _read(out / "batch_summary.json")
    validate(written, "batch-summary")
    validate(_read(out / scan.stem / "verdict.json"), "verdict")
    failed = next(result for result in written["results"] if result["error"])
    assert failed["verdict"] is None
    broken = copy.deepcopy(written)
    broken["results"][0]["verdict"] = None  # neither a verdict nor an error
    assert broken["results"][0]["error"] is None
    assert _errors(broken, "batch-summary")
    assert _errors({**written, "exit_code": 3}, "batch-summary")


def test_calibration_from_nii_calibrate_validates(tmp_path):
    wedges = tmp_path / "wedges"
    assert main(["simulate", "--wedges", "--out", str(wedges), "--channels", "64"]) == 0
    out = tmp_path / "C.json"
    assert main(["calibrate", *map(str, sorted(wedges.glob("*.nxr"))), "-o", str(out)]) == 0
    calibration = _read(out)
    validate(calibration, "calibration")
    assert _errors({**calibration, "format": "other"}, "calibration")
    without = "curves" if calibration["version"] == 1 else "model"
    assert _errors({k: v for k, v in calibration.items() if k != without}, "calibration")
    assert _errors({k: v for k, v in calibration.items() if k != "digest"}, "calibration") or calibration["version"] == 1
    assert _errors({**calibration, "energies_mev": [6.0]}, "calibration")


def test_physics_calibration_validates():
    from nii.calibration import calibration_from_physics

    header = {"scanner_id": "gantry-3", "energies_mev": [6.0, 3.0], "channels": 64}
    validate(json.loads(calibration_from_physics(header).to_json()), "calibration")


def _suite_scenarios():
    """One scenario per distinct manifest shape of each suite (container, goods or not,
    manifest variant), so that every kind of manifest the suites declare is checked
    without building all 550 scenes."""
    from nii.simulate import load_suite

    chosen = []
    for path in sorted(seed_path("suites").glob("*.toml")):
        seen = set()
        for scan in load_suite(path).scans:
            if scan.kind != "scenario":
                continue
            params = scan.params
            key = (params.get("container"), params.get("cargo_chapter") in (None, "none"), params.get("variant"))
            if key not in seen:
                seen.add(key)
                chosen.append(pytest.param(scan, id=f"{path.stem}:{scan.scan_id}"))
    return chosen


@pytest.mark.parametrize("scan", _suite_scenarios())
def test_suite_manifests_validate(scan):
    from nii.inspection import load_manifest
    from nii.simulate.suite import build_scene

    scenario = build_scene(scan.kind, scan.params, scan.seed)
    manifest = json.loads(json.dumps(scenario.manifest))  # as the simulator writes it
    validate(manifest, "manifest")
    load_manifest(manifest)  # and the reader agrees


def test_manifest_schema_follows_the_reader():
    good = {"container_id": "MSCU1234567", "iso_type": "22g1",
            "items": [{"hs_code": "0303.89", "gross_mass_kg": 100, "packages": 3, "vendor_ref": "x"}]}
    assert not _errors(good, "manifest")
    bad = {
        "a numeric HS code": {"items": [{"hs_code": 30389}]},
        "an HS code of one digit": {"items": [{"hs_code": "3"}]},
        "an HS code of eleven digits": {"items": [{"hs_code": "03038912345"}]},
        "a negative mass": {"items": [{"hs_code": "03", "gross_mass_kg": -1}]},
        "a zero tare": {"tare_mass_kg": 0},
        "a blank container id": {"container_id": "  "},
        "a malformed iso type": {"iso_type": "22-1"},
        "declared_empty as a string": {"declared_empty": "yes"},
    }
    for what, change in bad.items():
        document = {**good, **change}
        assert _errors(document, "manifest"), what
    missing = {k: v for k, v in good.items() if k != "iso_type"}
    assert _errors(missing, "manifest")
