"""Simulate one scan: a scene through the scanner into an NXR file and its ground truth.

:func:`simulate_scan` takes a scene (or a scenario: scene + manifest + expected verdict),
a :class:`~nii.simulate.scanner.ScannerConfig` and a seed, runs the acquisition model
(:mod:`nii.simulate.acquisition`) and returns a :class:`SimulatedScan`; with ``out`` it
also writes, atomically and never over an existing file unless asked::

    SCAN.nxr            raw records (docs/nxr-format.md) via scanner_io.NxrWriter
    SCAN.truth.json     expected verdict and reasons, regions (bbox on the analysed grid
                        and bbox_mm), true cargo mass, scenario, seed, grid description
    SCAN.truth.npz      classes (uint8) and zeff (float32) maps on the analysed grid,
                        position_mm, channel, noise-free high- and low-energy
                        transmissions (what a pixel records: averaged over its sub-rays)
    SCAN.manifest.json  the manifest the inspection takes (scenario scans only)

The same scene, configuration and seed give byte-identical files: every random draw
comes from one :class:`numpy.random.Generator` seeded with ``seed`` and ``started_at``
comes from the configuration, not the clock.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nii import __version__
from nii.errors import SimulationError
from nii.grid import analysis_grid
from nii.io_utils import atomic_write_text, atomic_writer
from nii.simulate.acquisition import Acquisition, BeamMoments, acquire
from nii.simulate.scanner import ScannerConfig

__all__ = [
    "GroundTruth",
    "SimulatedScan",
    "simulate_scan",
    "scan_paths",
    "beam_moments",
    "SIMULATOR_NAME",
]

#: Key of the simulator's block in the NXR header's ``extensions``.
SIMULATOR_NAME = "nii_simulator"

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member time: reproducible .npz files


# ------------------------------------------------------------------- truth
@dataclass
class GroundTruth:
    """What the simulator knows about a scan and the analysis should find.

    Attributes
    ----------
    scan_id : str
        The scan's identifier (the NXR header's ``scan_id``).
    kind : str
        ``object`` or ``calibration``.
    seed : int
        Seed of the acquisition.
    manifest : dict or None
        The manifest declared for the container (inspection contract), if any.
    expected_verdict : str or None
        ``clear`` or ``inspect``; ``None`` for calibration scans.
    expected_reasons : list of str
        Reason codes the inspection should raise.
    regions : list of dict
        Threat or concealment regions: ``bbox`` (rows and columns of the analysed grid,
        half-open ``[row0, col0, row1, col1]``), ``bbox_mm`` (``[z0, x0, z1, x1]``, mm),
        and the scenario's own keys (``material``, ``reason``, ...).
    cargo_mass_kg : float or None
        True mass of the goods (packaging included, container excluded), kg.
    classes : numpy.ndarray of uint8, shape ``(rows, columns)``
        True material class of each pixel of the analysed grid.
    zeff : numpy.ndarray of float32, shape ``(rows, columns)``
        True effective Z of each pixel (NaN for classes 0 and 5).
    position_mm : numpy.ndarray of float64
        Conveyance position of each column of the analysed grid, mm.
    channel : numpy.ndarray of int32
        Detector channel of each row, top-down.
    row_height_mm : float
        Row height at the scan plane, mm.
    transmission_high : numpy.ndarray of float32
        Noise-free high-energy signal transmission on the analysed grid: the mean over
        each pixel's sub-rays, as the detector records it (before blur and scatter).
    scenario : dict
        Description of the scene (container, cargo chapter, threat, phantom, ...).
    transmission_low : numpy.ndarray of float32 or None
        The same for the lowest energy (``None`` for a single-energy scanner or a truth
        written before it was recorded).
    """

    scan_id: str
    kind: str
    seed: int
    manifest: dict | None
    expected_verdict: str | None
    expected_reasons: list[str]
    regions: list[dict]
    cargo_mass_kg: float | None
    classes: np.ndarray
    zeff: np.ndarray
    position_mm: np.ndarray
    channel: np.ndarray
    row_height_mm: float
    transmission_high: np.ndarray
    scenario: dict = field(default_factory=dict)
    transmission_low: np.ndarray | None = None

    def to_json_dict(self, files: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Return the JSON part of the ground truth (``SCAN.truth.json``).

        Parameters
        ----------
        files : mapping, optional
            Names of the sibling files (``nxr``, ``npz``, ``manifest``) to record.
        """
        step = float(np.mean(np.diff(self.position_mm))) if self.position_mm.size > 1 else 0.0
        return {
            "scan_id": self.scan_id,
            "kind": self.kind,
            "seed": int(self.seed),
            "expected_verdict": self.expected_verdict,
            "expected_reasons": list(self.expected_reasons),
            "regions": _jsonable(self.regions),
            "cargo_mass_kg": None if self.cargo_mass_kg is None else round(float(self.cargo_mass_kg), 3),
            "grid": {
                "rows": int(self.classes.shape[0]),
                "columns": int(self.classes.shape[1]),
                "row_height_mm": float(self.row_height_mm),
                "column_pitch_mm": step,
                "first_position_mm": float(self.position_mm[0]) if self.position_mm.size else None,
                "last_position_mm": float(self.position_mm[-1]) if self.position_mm.size else None,
            },
            "class_fractions": _class_fractions(self.classes),
            "scenario": _jsonable(self.scenario),
            "files": dict(files or {}),
            "software": f"nii {__version__}",
        }

    def save(self, stem: str | os.PathLike, *, nxr_name: str | None = None) -> list[Path]:
        """Write ``STEM.truth.json``, ``STEM.truth.npz`` and ``STEM.manifest.json``.

        Parameters
        ----------
        stem : path-like
            Path without suffix (``OUT/scan-001`` for ``OUT/scan-001.nxr``).
        nxr_name : str, optional
            File name of the NXR the truth belongs to.

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        stem = Path(stem)
        written = []
        files = {"npz": stem.name + ".truth.npz"}
        if nxr_name:
            files["nxr"] = nxr_name
        if self.manifest is not None:
            files["manifest"] = stem.name + ".manifest.json"
            written.append(atomic_write_text(stem.with_name(files["manifest"]),
                                             json.dumps(self.manifest, indent=2) + "\n"))
        arrays: dict[str, np.ndarray] = {
            "classes": self.classes.astype(np.uint8),
            "zeff": self.zeff.astype(np.float32),
            "position_mm": self.position_mm.astype(np.float64),
            "channel": self.channel.astype(np.int32),
            "transmission_high": self.transmission_high.astype(np.float32),
        }
        if self.transmission_low is not None:
            arrays["transmission_low"] = self.transmission_low.astype(np.float32)
        written.append(atomic_writer(stem.with_name(files["npz"]), lambda s: _write_npz(s, arrays)))
        written.append(atomic_write_text(stem.with_name(stem.name + ".truth.json"),
                                         json.dumps(self.to_json_dict(files), indent=2) + "\n"))
        return written

    @classmethod
    def load(cls, path: str | os.PathLike) -> GroundTruth:
        """Read a ground truth back from ``SCAN.truth.json`` (or ``SCAN.nxr``) and its npz.

        Parameters
        ----------
        path : path-like
            The truth JSON, or the NXR file beside it.

        Returns
        -------
        GroundTruth
        """
        path = Path(path)
        if not path.name.endswith(".truth.json"):
            path = path.with_name(_stem_name(path) + ".truth.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            npz_name = data.get("files", {}).get("npz", _stem_name(path) + ".truth.npz")
            with np.load(path.with_name(npz_name)) as arrays:
                maps = {key: arrays[key] for key in arrays.files}
            manifest = None
            if data.get("files", {}).get("manifest"):
                manifest = json.loads(path.with_name(data["files"]["manifest"]).read_text("utf-8"))
            return cls(
                scan_id=data["scan_id"], kind=data["kind"], seed=int(data["seed"]),
                manifest=manifest, expected_verdict=data.get("expected_verdict"),
                expected_reasons=list(data.get("expected_reasons", [])),
                regions=list(data.get("regions", [])), cargo_mass_kg=data.get("cargo_mass_kg"),
                classes=maps["classes"], zeff=maps["zeff"], position_mm=maps["position_mm"],
                channel=maps["channel"], row_height_mm=float(data["grid"]["row_height_mm"]),
                transmission_high=maps["transmission_high"], scenario=data.get("scenario", {}),
                transmission_low=maps.get("transmission_low"),
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise SimulationError(f"{path}: not a readable ground truth ({exc})") from exc


def _stem_name(path: Path) -> str:
    name = path.name
    for suffix in (".truth.json", ".truth.npz", ".manifest.json", ".nxr"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _class_fractions(classes: np.ndarray) -> dict[str, float]:
    from nii.classes import CLASS_NAMES

    counts = np.bincount(classes.ravel(), minlength=len(CLASS_NAMES)) if classes.size else None
    if counts is None:
        return {}
    total = counts.sum()
    return {CLASS_NAMES[c]: round(float(counts[c]) / total, 6) for c in CLASS_NAMES if counts[c]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if hasattr(value, "name") and hasattr(value, "density_g_cm3"):
        return str(value.name)
    return value


def _write_npz(stream, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an uncompressed-member, fixed-timestamp .npz (reproducible bytes)."""
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


# ------------------------------------------------------------------- scans
@dataclass
class SimulatedScan:
    """A simulated scan: header, records and ground truth (and where they were written).

    Attributes
    ----------
    header : dict
        The NXR header JSON object.
    acquisition : Acquisition
        The raw pulses (samples in detector channel order).
    truth : GroundTruth
    path : pathlib.Path or None
        The NXR file, when written.
    """

    header: dict
    acquisition: Acquisition
    truth: GroundTruth
    path: Path | None = None

    def records(self) -> np.ndarray:
        """Return the scan's records as a structured array of :func:`scanner_io.record_dtype`."""
        from scanner_io import SYNC_WORD, record_dtype

        a = self.acquisition
        records = np.zeros(a.pulse_index.size, dtype=record_dtype(a.samples.shape[1], a.samples.dtype))
        records["sync"] = SYNC_WORD
        records["pulse_index"] = a.pulse_index
        records["energy_index"] = a.energy_index
        records["flags"] = a.flags
        records["dose"] = a.dose
        records["time_s"] = a.time_s
        records["position_mm"] = a.position_mm
        records["samples"] = a.samples
        return records

    def write(self, path: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
        """Write the NXR file and its ground truth beside it (atomically).

        Parameters
        ----------
        path : path-like
            The NXR file to create (``.nxr``); the truth files take its stem.
        overwrite : bool
            Replace existing files; by default any existing target is an error.

        Returns
        -------
        list of pathlib.Path
            Every file written, the NXR first.
        """
        from nii.io_utils import atomic_path
        from scanner_io import NxrWriter

        nxr = Path(path)
        targets = scan_paths(nxr, with_manifest=self.truth.manifest is not None)
        if not overwrite:
            existing = [str(p) for p in targets if p.exists()]
            if existing:
                raise SimulationError(
                    f"{existing[0]}: the file already exists; choose another output or pass --overwrite")
        a = self.acquisition
        with atomic_path(nxr) as temporary:
            with NxrWriter(temporary, self.header, overwrite=True, fsync=False) as writer:
                block = 2048
                for start in range(0, a.pulse_index.size, block):
                    stop = start + block
                    writer.write_many(
                        pulse_index=a.pulse_index[start:stop], energy_index=a.energy_index[start:stop],
                        flags=a.flags[start:stop], dose=a.dose[start:stop],
                        time_s=a.time_s[start:stop], position_mm=a.position_mm[start:stop],
                        samples=a.samples[start:stop])
        self.path = nxr
        written = [nxr]
        written += self.truth.save(nxr.with_name(_stem_name(nxr)), nxr_name=nxr.name)
        return written


def scan_paths(nxr: str | os.PathLike, *, with_manifest: bool = True) -> list[Path]:
    """Return the files a simulated scan writes: NXR, truth JSON and npz, manifest.

    Parameters
    ----------
    nxr : path-like
        The NXR file.
    with_manifest : bool
        Include ``STEM.manifest.json``.
    """
    nxr = Path(nxr)
    stem = _stem_name(nxr)
    paths = [nxr, nxr.with_name(stem + ".truth.json"), nxr.with_name(stem + ".truth.npz")]
    if with_manifest:
        paths.append(nxr.with_name(stem + ".manifest.json"))
    return paths


# ------------------------------------------------------------------- beams
@lru_cache(maxsize=64)
def _beam_moments_cached(endpoints: tuple[float, ...], detector_material: str,
                         detector_depth_mm: float, target_material: str,
                         target_thickness_mm: float | None,
                         filtration: tuple[tuple[str, float], ...]) -> tuple[BeamMoments, ...]:
    from nii import physics

    detector = physics.Detector(material=detector_material, depth_mm=detector_depth_mm)
    beams = physics.effective_beams(list(endpoints), detector=detector, target=target_material,
                                    target_thickness_mm=target_thickness_mm, filtration=filtration)
    moments = []
    for endpoint, beam in zip(endpoints, beams, strict=True):
        moments.append(BeamMoments(float(endpoint), np.asarray(beam.energy_mev, dtype=np.float64),
                                   np.asarray(beam.weight, dtype=np.float64)))
    return tuple(moments)


def beam_moments(config: ScannerConfig) -> tuple[BeamMoments, ...]:
    """Return the effective beam of each energy of a scanner, as the noise model needs it.

    Parameters
    ----------
    config : ScannerConfig
        Energies (MeV), source (target, filtration) and detector (material, depth in mm).

    Returns
    -------
    tuple of BeamMoments
        One per energy, highest first: energy bins and signal weights (fluence ×
        detector response), from :func:`nii.physics.effective_beams`.
    """
    return _beam_moments_cached(tuple(config.energies_mev), config.detector_material,
                                float(config.detector_depth_mm), config.target_material,
                                config.target_thickness_mm, tuple(config.filtration))


def _material_objects(materials: Sequence[Any]) -> list[Any]:
    from nii import physics

    resolved = []
    for item in materials:
        if isinstance(item, str):
            resolved.append(physics.material(item))
        elif hasattr(item, "density_g_cm3") and hasattr(item, "composition"):
            resolved.append(item)
        else:
            raise SimulationError(f"scene material {item!r} is neither a name nor a Material")
    return resolved


def _attenuation_tables(materials: Sequence[Any], beams: Sequence[BeamMoments]) -> list[np.ndarray]:
    from nii.physics import EffectiveBeam, attenuation_coefficients

    return [attenuation_coefficients(materials, EffectiveBeam(b.endpoint_mev, b.energy_mev, b.signal_weight))
            for b in beams]


# ------------------------------------------------------------------ regions
def _regions(scenario: Any, z_mm: np.ndarray, grid: np.ndarray) -> list[dict]:
    from nii.simulate.truth import regions_on_grid

    regions = []
    for region in getattr(scenario, "threat_regions", None) or []:
        entry = dict(region) if isinstance(region, Mapping) else dict(vars(region))
        if "bbox_mm" not in entry:
            raise SimulationError(f"scenario region {entry!r} has no bbox_mm")
        entry["bbox_mm"] = [float(v) for v in entry["bbox_mm"]]
        entry["bbox"] = regions_on_grid(entry["bbox_mm"], z_mm, grid) if grid.size else [0, 0, 0, 0]
        regions.append(entry)
    return regions


# -------------------------------------------------------------------- main
def _header(scene: Any, config: ScannerConfig, acquisition: Acquisition, scan_id: str, kind: str,
            seed: int, description: Mapping[str, Any], phantom: list | None) -> dict:
    full_scale = config.full_scale_adu
    object_pulses = acquisition.pulse_index.size - acquisition.object_start
    duration_s = object_pulses / config.pulse_rate_hz
    travel_mm = float(acquisition.true_position_mm[-1] - acquisition.true_position_mm[acquisition.object_start])
    header = {
        "format": "nxr",
        "version": 1,
        "kind": kind,
        "scan_id": scan_id,
        "scanner_id": config.scanner_id,
        "started_at": config.started_at,
        "sample_dtype": config.sample_dtype,
        "detector": {
            "channels": config.channels,
            "pitch_mm": config.pitch_mm,
            "first_channel": config.first_channel,
            "saturation": int(full_scale) if config.sample_dtype != "float32" else float(full_scale),
            "bad_channels": list(acquisition.channels.listed_bad),
        },
        "source": {
            "energies_mev": list(config.energies_mev),
            "pulse_rate_hz": config.pulse_rate_hz,
            "pattern": "interlaced",
        },
        "geometry": {
            "source_to_detector_mm": config.source_to_detector_mm,
            "source_to_object_mm": config.source_to_object_mm,
        },
        "conveyance": {"nominal_speed_mps": round(travel_mm / 1000.0 / max(duration_s, 1e-9), 6)},
        "extensions": {
            SIMULATOR_NAME: {
                "version": __version__,
                "seed": int(seed),
                "scene": _jsonable(dict(description)),
                # not the spectrum nor the detector (HIDDEN_SETTINGS): a calibration
                # must measure them from wedges
                "scanner": config.header_dict(),
            }
        },
    }
    if phantom:
        header["phantom"] = _jsonable(phantom)
    return header


def _describe(scene: Any, scenario: Any) -> dict[str, Any]:
    description: dict[str, Any] = {"name": str(getattr(scene, "name", "scene"))}
    options = getattr(scenario, "options", None)
    if isinstance(options, Mapping):
        description.update(options)
    elif getattr(scene, "phantom", None):
        description["kind"] = "phantom"
    description["length_mm"] = float(scene.length_mm)
    description["height_mm"] = float(getattr(scene, "height_mm", 0.0))
    return description


def _phantom(scene: Any, config: ScannerConfig) -> list[dict] | None:
    if not getattr(scene, "phantom", None):
        return None
    from nii.simulate.scenario import phantom_header

    return phantom_header(scene, config.row_height_mm, config.channels, first_channel=config.first_channel)


def _cargo_mass(scene: Any, scenario: Any) -> float | None:
    for source in (scenario, scene):
        value = getattr(source, "cargo_mass_kg", None) if source is not None else None
        if callable(value):
            value = value()
        if value is not None:
            return float(value)
    return None


def simulate_scan(
    scene: Any,
    config: ScannerConfig | None = None,
    seed: int = 0,
    *,
    out: str | os.PathLike | None = None,
    scan_id: str | None = None,
    kind: str | None = None,
    overwrite: bool = False,
) -> SimulatedScan:
    """Simulate one scan of a scene and return its records and ground truth.

    Parameters
    ----------
    scene : Scene or Scenario
        What is in the beam: a scene (``path_lengths_mm(z_mm, x_mm) -> (M, R, C)`` mm,
        ``materials``, ``length_mm``), or a scenario from
        :func:`nii.simulate.build_scenario` (scene plus manifest, expected verdict and
        reasons, threat regions).
    config : ScannerConfig, optional
        The scanner (default: :class:`ScannerConfig` defaults, 1,024 channels).
    seed : int
        Seed of every random draw of the acquisition (0 … 2**63−1).
    out : path-like, optional
        NXR file to write (with its truth files beside it); nothing is written without it.
    scan_id : str, optional
        Identifier for the header (default: ``sim-<seed>`` or the file's stem).
    kind : {"object", "calibration"}, optional
        Header kind (default: ``calibration`` when the scene is a phantom alone in the
        beam, with the header's ``phantom`` list; a phantom inside a container is an
        ``object`` scan whose blocks are in the ground truth only).
    overwrite : bool
        Replace existing output files.

    Returns
    -------
    SimulatedScan

    Examples
    --------
    >>> from nii.simulate import build_scenario, simulate_scan, ScannerConfig  # doctest: +SKIP
    >>> scenario = build_scenario("20ft", "03", "lead-block", seed=1)            # doctest: +SKIP
    >>> scan = simulate_scan(scenario, ScannerConfig().scaled(64, 400), 1)     # doctest: +SKIP
    """
    config = config or ScannerConfig()
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= int(seed) < 2**63:
        raise SimulationError(f"seed must be an integer in 0..2**63-1, got {seed!r}")
    scenario = scene if hasattr(scene, "scene") and hasattr(scene, "manifest") else None
    if scenario is not None:
        scene = scenario.scene
    for attribute in ("path_lengths_mm", "materials", "length_mm"):
        if not hasattr(scene, attribute):
            raise SimulationError(f"simulate_scan: the scene has no {attribute}")
    materials = _material_objects(list(scene.materials))
    beams = beam_moments(config)
    tables = _attenuation_tables(materials, beams)
    rng = np.random.default_rng(int(seed))
    acquisition = acquire(
        scene.path_lengths_mm, [m.density_g_cm3 for m in materials], tables, beams,
        float(scene.length_mm), config, rng)
    phantom = _phantom(scene, config)
    # A phantom alone in the beam is a calibration scan; one inside a container is not
    # (the walls it sits behind are not in the header's phantom list): its blocks are
    # then recorded in the ground truth only.
    header_phantom = phantom if getattr(scene, "container", None) is None else None
    kind = kind or ("calibration" if header_phantom else "object")
    if kind not in ("object", "calibration"):
        raise SimulationError(f"simulate_scan: kind must be 'object' or 'calibration', got {kind!r}")
    if scan_id is None:
        scan_id = _stem_name(Path(out)) if out is not None else f"sim-{int(seed)}"
    description = _describe(scene, scenario)
    header = _header(scene, config, acquisition, scan_id, kind, int(seed), description,
                     header_phantom if kind == "calibration" else None)
    truth = _ground_truth(scene, scenario, config, acquisition, scan_id, kind, int(seed),
                          description, phantom)
    result = SimulatedScan(header=header, acquisition=acquisition, truth=truth)
    if out is not None:
        result.write(out, overwrite=overwrite)
    return result


def _ground_truth(scene: Any, scenario: Any, config: ScannerConfig, acquisition: Acquisition,
                  scan_id: str, kind: str, seed: int, description: dict,
                  phantom: list | None) -> GroundTruth:
    from nii.simulate.truth import truth_maps

    objects = np.arange(acquisition.pulse_index.size) >= acquisition.object_start
    high = objects & (acquisition.energy_index == 0)
    encoder_high = acquisition.position_mm[high].astype(np.float32).astype(np.float64)
    grid = analysis_grid(encoder_high)
    rows = config.channels
    row_h = config.row_height_mm
    z_mm = (np.arange(rows) + 0.5) * row_h
    # Noise-free transmissions of each pulse (the mean over each pixel's sub-rays, what
    # the detector records), interpolated onto the grid at the pulses' true positions.
    transmission = _on_grid(acquisition.transmission_high, acquisition.true_position_mm[high], grid)
    transmission_low = None
    if acquisition.transmission_low is not None:
        low = objects & (acquisition.energy_index == config.energy_count - 1)
        transmission_low = _on_grid(acquisition.transmission_low, acquisition.true_position_mm[low], grid)
    column_mm = float(grid[-1] - grid[0]) / (grid.size - 1) if grid.size > 1 else None
    # Impenetrable where either energy is photon starved, as the discrimination decides.
    classes, zeff = truth_maps(scene, z_mm, grid, transmission_high=transmission,
                               transmission_low=transmission_low,
                               row_height_mm=row_h, column_width_mm=column_mm)
    channel = np.arange(rows, dtype=np.int32)
    if config.first_channel == "bottom":
        channel = channel[::-1].copy()
    scenario_description = dict(description)
    if phantom:
        scenario_description["phantom"] = phantom
    return GroundTruth(
        scan_id=scan_id,
        kind=kind,
        seed=seed,
        manifest=dict(scenario.manifest) if scenario is not None and scenario.manifest is not None else None,
        expected_verdict=getattr(scenario, "expected_verdict", None),
        expected_reasons=list(getattr(scenario, "expected_reasons", None) or []),
        regions=_regions(scenario, z_mm, grid),
        cargo_mass_kg=_cargo_mass(scene, scenario),
        classes=np.asarray(classes, dtype=np.uint8),
        zeff=np.asarray(zeff, dtype=np.float32),
        position_mm=grid,
        channel=channel,
        row_height_mm=row_h,
        transmission_high=transmission.astype(np.float32),
        scenario=scenario_description,
        transmission_low=None if transmission_low is None else transmission_low.astype(np.float32),
    )


def _on_grid(image: np.ndarray, position_mm: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Columns of ``image`` taken at ``position_mm`` (any order), interpolated onto ``grid`` (mm)."""
    order = np.argsort(position_mm, kind="stable")
    return _interpolate_columns(image[:, order], position_mm[order], grid)


def _interpolate_columns(image: np.ndarray, position: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of image columns at ``position`` (increasing) onto ``grid``."""
    if image.shape[1] == 0 or grid.size == 0:
        return np.ones((image.shape[0], grid.size))
    if image.shape[1] == 1:
        return np.repeat(image, grid.size, axis=1)
    right = np.clip(np.searchsorted(position, grid, side="right"), 1, position.size - 1)
    left = right - 1
    span = position[right] - position[left]
    weight = np.clip(np.where(span > 0, (grid - position[left]) / np.where(span > 0, span, 1.0), 0.0), 0, 1)
    return image[:, left] * (1.0 - weight) + image[:, right] * weight
