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
        "ScannerIOError", "NxrError", "DicosError", "ImagePairError",
        "NxrHeader", "validate_header", "record_dtype", "ReadReport", "NxrRecord",
        "FLAG_DARK", "FLAG_AIR", "FLAG_DOSE_VALID", "FLAG_POSITION_VALID",
        "read_nxr", "iter_nxr", "iter_nxr_chunks", "NxrWriter",
        "Scan", "EnergyFrames", "Reference", "load_scan", "read_image_pair",
        "read_dicos", "DicosObject",
    },
    "nii": {"__version__", "inspect"},
    "nii.classes": {
        "NONE", "ORGANIC", "INORGANIC", "METAL", "HIGH_Z", "IMPENETRABLE",
        "CLASS_NAMES", "CLASS_CODES", "ZEFF_BANDS", "class_of_zeff",
    },
    "nii.grid": {"analysis_grid", "row_height_mm"},
    "nii.errors": {
        "NiiError", "CalibrationError", "ManifestError", "CatalogueError",
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
