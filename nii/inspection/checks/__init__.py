"""The checks of a scan against its manifest, one module each.

Every check is a function ``check_x(inp: CheckInput) -> CheckResult``; :data:`CHECKS`
lists them in the order the verdict reports them.
"""

from __future__ import annotations

from nii.inspection.checks._context import CheckInput, CheckResult, build_check_input
from nii.inspection.checks._structure_model import (
    StructureEstimate,
    StructureModel,
    estimate_structure,
    structure_model,
)
from nii.inspection.checks.concealment import check_concealment
from nii.inspection.checks.dense_object import check_dense_objects
from nii.inspection.checks.empty import check_declared_empty
from nii.inspection.checks.high_z import check_high_z
from nii.inspection.checks.mass import check_mass
from nii.inspection.checks.material_mix import check_material_mix
from nii.inspection.checks.structure import check_structure
from nii.inspection.checks.unreadable import check_unreadable

__all__ = [
    "CHECKS",
    "CheckInput",
    "CheckResult",
    "StructureEstimate",
    "StructureModel",
    "build_check_input",
    "estimate_structure",
    "structure_model",
    "check_declared_empty",
    "check_mass",
    "check_material_mix",
    "check_high_z",
    "check_concealment",
    "check_dense_objects",
    "check_structure",
    "check_unreadable",
]

#: (name, function) of every check, in reporting order.
CHECKS = (
    ("empty", check_declared_empty),
    ("high_z", check_high_z),
    ("concealment", check_concealment),
    ("dense_object", check_dense_objects),
    ("structure", check_structure),
    ("unreadable", check_unreadable),
    ("mass", check_mass),
    ("material", check_material_mix),
)
