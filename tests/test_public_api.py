"""Guard the public surface integrators rely on (kornia style).

A renamed or removed public name fails here loudly instead of breaking scanner
software silently. Adding a name is fine; removing one needs a deliberate edit here.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "scanner_io": {
        "ToolkitError", "ScannerIOError", "NxrError", "DicosError", "ImagePairError",
        "NxrHeader", "validate_header", "record_dtype", "ReadReport", "NxrRecord",
        "FLAG_DARK", "FLAG_AIR", "FLAG_DOSE_VALID", "FLAG_POSITION_VALID",
        "read_nxr", "iter_nxr", "iter_nxr_chunks", "NxrWriter",
        "Scan", "EnergyFrames", "Reference", "load_scan", "read_image_pair",
        "read_dicos", "DicosObject",
    },
    "nii": {
        "__version__", "inspect", "run_inspection", "InspectionResult", "Verdict", "Reason", "Region",
        "run_batch", "load_manifest", "Manifest", "render_evidence", "load_calibration", "load_schema",
        "REASON_CODES", "ToolkitError", "NiiError", "ManifestError", "CalibrationError", "AnalysisError",
        "MissingExtraError", "ScannerIOError",
    },
    "nii.schemas": {"SCHEMA_NAMES", "load_schema", "schema_text", "validate"},
    "nii.inspection.report": {"render_evidence", "save_outputs", "write_outputs", "evidence_png"},
    "nii.classes": {
        "NONE", "ORGANIC", "INORGANIC", "METAL", "HIGH_Z", "IMPENETRABLE",
        "CLASS_NAMES", "CLASS_CODES", "ZEFF_BANDS", "class_of_zeff",
    },
    "nii.grid": {"analysis_grid", "row_height_mm"},
    "nii.errors": {
        "ToolkitError", "NiiError", "CalibrationError", "ManifestError", "CatalogueError",
        "SimulationError", "AnalysisError", "MissingExtraError",
    },
    "nii.physics": {
        "Material", "load_materials", "material", "mass_attenuation",
        "mass_energy_absorption", "linac_spectrum", "Detector", "EffectiveBeam",
        "effective_beams", "attenuation_coefficients", "polychromatic_transmission",
        "zeff", "zeff_class",
    },
    "nii.simulate": {
        "Scene", "SceneObject", "build_scenario", "Scenario", "ScannerConfig",
        "simulate_scan", "SimulatedScan", "GroundTruth", "load_suite", "run_suite",
        "step_wedge_scene", "block_scene", "truth_maps", "regions_on_grid",
    },
    "nii.correction": {"AnalysedImage", "correct"},
    "nii.calibration": {"Calibration", "calibrate", "calibration_from_physics", "load_calibration"},
    "nii.discrimination": {"MaterialMap", "discriminate"},
    "nii.render": {"render_pseudocolour", "render_grey", "draw_boxes", "legend", "save_png"},
    "nii.inspection": {
        "inspect", "run_inspection", "Verdict", "Reason", "Region", "REASON_CODES",
        "Manifest", "load_manifest", "run_batch", "export_dicos",
    },
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_exported(module_name):
    module = importlib.import_module(module_name)
    exported = set(getattr(module, "__all__", ()))
    missing = {name for name in PUBLIC[module_name] if name not in exported and name != "__version__"}
    assert not missing, f"{module_name} no longer exports {sorted(missing)}"
    for name in PUBLIC[module_name]:
        assert hasattr(module, name), f"{module_name}.{name} is listed but missing"


def test_import_paths_stay_free_of_torch():
    """``import nii``, the I/O path and the whole inspection path never import torch."""
    code = (
        "import sys, nii, scanner_io, nii.physics, nii.simulate, nii.correction, "
        "nii.calibration, nii.discrimination, nii.render, nii.inspection, nii.cli; "
        "nii.cli.build_parser(); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_reason_codes_are_the_contract_ones():
    from nii.inspection import REASON_CODES

    contract = {
        "DECLARED_EMPTY_NOT_EMPTY", "MASS_MISMATCH", "MATERIAL_MISMATCH", "UNDECLARED_HIGH_Z",
        "CONCEALMENT_ANOMALY", "STRUCTURE_ANOMALY", "UNREADABLE_REGION",
    }  # fmt: skip
    assert contract <= set(REASON_CODES)


def test_help_lists_the_public_functions():
    """``help(nii)`` shows the lazily imported public functions, ``inspect`` among them."""
    import pydoc

    import nii

    text = pydoc.render_doc(nii, renderer=pydoc.plaintext)
    functions = text.split("FUNCTIONS", 1)[1]
    for name in ("inspect", "run_inspection", "render_evidence", "load_manifest", "load_schema"):
        assert f"\n    {name}(" in functions, f"help(nii) does not list {name}()"
    assert set(nii.__all__) <= set(dir(nii))


def test_one_exception_root_for_both_packages():
    import nii
    import scanner_io
    from nii import errors

    assert nii.ToolkitError is scanner_io.ToolkitError is errors.ToolkitError
    for error in (scanner_io.ScannerIOError, scanner_io.NxrError, scanner_io.DicosError,
                  scanner_io.ImagePairError, errors.NiiError, errors.ManifestError,
                  errors.CalibrationError, errors.CatalogueError, errors.SimulationError,
                  errors.AnalysisError, errors.MissingExtraError):
        assert issubclass(error, nii.ToolkitError), error
    assert not issubclass(errors.NiiError, scanner_io.ScannerIOError)
    assert not issubclass(scanner_io.ScannerIOError, errors.NiiError)


def test_scanner_io_does_not_import_nii():
    code = "import sys, scanner_io, scanner_io.dicos; print(sorted(m for m in sys.modules if m.split('.')[0] == 'nii'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_inspection_result_save_and_render_evidence(small_scan, tmp_path):
    """The documented integrator path (docs/api.md): run, save the outputs, draw the evidence."""
    import json

    import nii

    png_magic = b"\x89PNG\r\n\x1a\n"
    manifest = {"container_id": "TEST1234567", "iso_type": "22G1",
                "items": [{"hs_code": "610910", "gross_mass_kg": 2000}]}
    result = nii.run_inspection(small_scan.path, manifest)
    assert isinstance(result, nii.InspectionResult) and isinstance(result.verdict, nii.Verdict)
    out = tmp_path / "out"
    written = result.save(out, dicos=True)
    names = [path.name for path in written]
    assert names[-1] == "verdict.json"  # last: a folder with a verdict has the rest too
    assert {"evidence.png", "dx_high.dcs", "dx_low.dcs", "tdr.dcs"} <= set(names)
    assert all(path.parent == out and path.is_file() for path in written)
    assert json.loads((out / "verdict.json").read_text(encoding="utf-8")) == result.verdict.to_dict()
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left

    png = nii.render_evidence(result.image, result.material_map, result.verdict, path=tmp_path / "e.png")
    assert png[:8] == png_magic and (tmp_path / "e.png").read_bytes() == png
    assert png == (out / "evidence.png").read_bytes()
    from_json = nii.render_evidence(result.image, result.material_map, result.verdict.to_dict())
    assert from_json == png
    assert nii.render_evidence(result.image, result.material_map)[:8] == png_magic

    only = result.save(tmp_path / "only", evidence=False)
    assert [path.name for path in only] == ["verdict.json"]
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(nii.NiiError, match="a-file"):
        result.save(tmp_path / "a-file")


def test_every_reason_code_is_documented():
    """docs/reason-codes.md has a ``## CODE`` section for every code of nii.reasons."""
    from pathlib import Path

    from nii.reasons import REASON_CODES

    text = (Path(__file__).resolve().parents[1] / "docs" / "reason-codes.md").read_text(encoding="utf-8")
    headings = {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}
    missing = [code for code in REASON_CODES if code not in headings]
    assert not missing, f"docs/reason-codes.md has no section for {missing}"
