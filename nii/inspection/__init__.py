"""Inspection of a scan against its declaration: manifest, checks, verdict.

``inspect(scan, manifest)`` runs the whole path from an NXR file to a
:class:`Verdict` whose ``to_dict()`` is the JSON of ``spec/inspection-contract.md``.
"""

from __future__ import annotations

from nii.inspection.expectations import (
    ExpectationTable,
    HsExpectation,
    expected_fractions,
    load_expectations,
)
from nii.inspection.manifest import (
    ContainerType,
    Manifest,
    ManifestItem,
    container_type_for,
    load_container_types,
    load_manifest,
    parse_manifest,
)
from nii.inspection.pipeline import InspectionResult, inspect, run_inspection, verdict_from_maps
from nii.inspection.verdict import REASON_CODES, Reason, Region, Verdict, combine_scores

__all__ = [
    "inspect",
    "run_inspection",
    "verdict_from_maps",
    "InspectionResult",
    "Verdict",
    "Reason",
    "Region",
    "REASON_CODES",
    "combine_scores",
    "Manifest",
    "ManifestItem",
    "ContainerType",
    "load_manifest",
    "parse_manifest",
    "load_container_types",
    "container_type_for",
    "ExpectationTable",
    "HsExpectation",
    "load_expectations",
    "expected_fractions",
]

# --- DICOS export and batches (nii/inspection/dicos_export.py, batch.py): exports below.
from nii.inspection.batch import (
    BatchSummary,
    ScanResult,
    expand_scans,
    find_manifest,
    run_batch,
    run_batch_cli,
)
from nii.inspection.dicos_export import export_dicos

__all__ += [
    "export_dicos",
    "run_batch",
    "run_batch_cli",
    "BatchSummary",
    "ScanResult",
    "expand_scans",
    "find_manifest",
]
