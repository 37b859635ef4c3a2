"""Synthetic scans with ground truth: scenes, scenarios, acquisition.

Scene side: :class:`Scene` and its objects (:mod:`nii.simulate.scene`), ISO containers
and a trailer chassis (:mod:`nii.simulate.containers`), cargo loads by HS chapter
(:mod:`nii.simulate.cargo`), the threat and concealment library
(:mod:`nii.simulate.threats`), scenarios with manifest and expected verdict and the
calibration phantoms (:mod:`nii.simulate.scenario`), ground-truth maps
(:mod:`nii.simulate.truth`).
"""

from __future__ import annotations

from nii.simulate.cargo import CargoLoad, Commodity, build_cargo, commodity, load_commodities
from nii.simulate.containers import (
    ContainerType,
    build_chassis,
    build_container,
    container_type,
    container_types,
)
from nii.simulate.scenario import (
    VARIANTS,
    Scenario,
    block_scene,
    build_scenario,
    container_id,
    phantom_header,
    step_wedge_scene,
)
from nii.simulate.scene import Box, ContainerInfo, Cylinder, Scene, SceneObject
from nii.simulate.threats import (
    REASON_CODES,
    Threat,
    ThreatPlacement,
    load_threats,
    place_threat,
    threat,
)
from nii.simulate.truth import regions_on_grid, truth_maps

__all__ = [
    "REASON_CODES",
    "VARIANTS",
    "Box",
    "CargoLoad",
    "Commodity",
    "ContainerInfo",
    "ContainerType",
    "Cylinder",
    "Scenario",
    "Scene",
    "SceneObject",
    "Threat",
    "ThreatPlacement",
    "block_scene",
    "build_cargo",
    "build_chassis",
    "build_container",
    "build_scenario",
    "commodity",
    "container_id",
    "container_type",
    "container_types",
    "load_commodities",
    "load_threats",
    "phantom_header",
    "place_threat",
    "regions_on_grid",
    "step_wedge_scene",
    "threat",
    "truth_maps",
]

# Acquisition side: the scanner, raw pulses to NXR with ground truth, suites.
from nii.simulate.run import GroundTruth, SimulatedScan, simulate_scan  # noqa: E402
from nii.simulate.scanner import ScannerConfig  # noqa: E402
from nii.simulate.suite import Suite, SuiteScan, load_suite, run_suite  # noqa: E402

__all__ += ["ScannerConfig", "GroundTruth", "SimulatedScan", "simulate_scan", "Suite", "SuiteScan", "load_suite", "run_suite"]
