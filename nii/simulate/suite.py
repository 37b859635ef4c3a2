"""Suites of simulated scans described in TOML (``seeds/suites/*.toml``).

A suite file names a scanner and a list of scans; each scan gets a deterministic seed
from the suite's seed and the scan's id, so a suite always produces the same files
whatever the order or the number of workers::

    name = "smoke"
    description = "six small scans for tests"
    seed = 20261130

    [scanner]                    # ScannerConfig settings (channels alone keeps the height)
    channels = 64
    pulses = 480

    [[scans]]                    # one scan: kind = scenario | wedge | block
    id = "smoke-20ft-03-clean"
    kind = "scenario"            # build_scenario(container, cargo_chapter, threat, seed)
    container = "20ft"
    cargo_chapter = "03"
    threat = "none"

    [[matrix]]                   # many scans: the product of every list in [matrix.vary]
    prefix = "insp"
    kind = "scenario"
    repeats = 2                  # each combination this many times (ids end -r0, -r1)
    container = "40ft"           # fixed parameters
    [matrix.vary]
    cargo_chapter = ["03", "44"]
    threat = ["none", "lead-block"]

Parameters other than ``id``, ``kind``, ``seed`` and ``scanner`` are passed by name to
the scene builder of the kind: :func:`nii.simulate.scenario.build_scenario`
(``scenario``), :func:`~nii.simulate.scenario.step_wedge_scene` (``wedge``) or
:func:`~nii.simulate.scenario.block_scene` (``block``). For phantoms,
``areal_density_g_cm2`` (block) and ``areal_densities_g_cm2`` (wedge) may replace
``thickness_mm`` / ``thicknesses_mm``: thickness = areal density × 10 / density (mm).
A scan may carry its own ``[scans.scanner]`` settings.

With a scanner variant (:mod:`nii.simulate.variants`), ``load_suite(path, variant=v)``
simulates the same scans on that scanner: the variant's configuration is the base, the
suite's scanner settings apply only where they set the length of an acquisition
(:data:`ACQUISITION_SETTINGS`: pulses, margins, references, sub-rays), and a variant
with a suite set (the peer gantry's own wedges and test blocks) replaces the scans of
the suites that set names.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nii.errors import CatalogueError, SimulationError
from nii.io_utils import atomic_write_text
from nii.simulate.scanner import ScannerConfig

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "SCAN_KINDS",
    "ACQUISITION_SETTINGS",
    "SuiteScan",
    "Suite",
    "load_suite",
    "parse_suite",
    "derive_seed",
    "build_scene",
    "run_suite_scan",
    "run_suite",
]

#: Kinds of scans a suite may hold and the scene builder each one calls.
SCAN_KINDS = ("scenario", "wedge", "block")
#: Most scans one suite may expand to.
MAX_SUITE_SCANS = 100_000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
_RESERVED = {"id", "kind", "seed", "scanner"}
#: Scanner settings a suite keeps when it is simulated on a scanner variant: how long an
#: acquisition is, not what the scanner is (channels, pitch, energies, spectrum, noise).
ACQUISITION_SETTINGS = frozenset({"pulses", "nominal_speed_mps", "margin_mm", "dark_pulses",
                                  "air_pulses", "subray_rows", "subray_columns", "started_at"})


def derive_seed(suite_seed: int, scan_id: str) -> int:
    """Return the deterministic seed of one scan of a suite.

    Parameters
    ----------
    suite_seed : int
        The suite's seed.
    scan_id : str
        The scan's identifier.

    Returns
    -------
    int
        A seed in ``0 … 2**63 − 1`` from SHA-256 of ``"<suite_seed>/<scan_id>"``: adding or
        reordering scans never changes another scan's seed.
    """
    digest = hashlib.sha256(f"{int(suite_seed)}/{scan_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class SuiteScan:
    """One scan of a suite.

    Attributes
    ----------
    scan_id : str
        Identifier and output file stem.
    kind : str
        ``scenario``, ``wedge`` or ``block``.
    params : dict
        Keyword arguments of the scene builder.
    seed : int
        Seed of the scene and of the acquisition.
    scanner : ScannerConfig
        The scanner settings of this scan.
    """

    scan_id: str
    kind: str
    params: dict[str, Any]
    seed: int
    scanner: ScannerConfig

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description (id, kind, params, seed)."""
        return {"id": self.scan_id, "kind": self.kind, "params": dict(self.params), "seed": self.seed}


@dataclass(frozen=True)
class Suite:
    """A parsed suite file.

    Attributes
    ----------
    name : str
    description : str
    seed : int
    scanner : ScannerConfig
        The suite-wide scanner settings.
    scans : tuple of SuiteScan
    path : pathlib.Path or None
    """

    name: str
    description: str
    seed: int
    scanner: ScannerConfig
    scans: tuple[SuiteScan, ...]
    path: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.scans)

    def with_scanner(self, **changes: Any) -> Suite:
        """Return the suite with scanner overrides applied to every scan (e.g. ``channels``)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self

        def apply(config: ScannerConfig) -> ScannerConfig:
            return config.scaled(channels=changes.get("channels"), pulses=changes.get("pulses")) \
                .replace(**{k: v for k, v in changes.items() if k not in ("channels", "pulses")})

        scans = tuple(SuiteScan(s.scan_id, s.kind, s.params, s.seed, apply(s.scanner)) for s in self.scans)
        return Suite(self.name, self.description, self.seed, apply(self.scanner), scans, self.path)


def _fail(source: str, text: str) -> CatalogueError:
    return CatalogueError(f"{source}: {text}")


def _scanner(settings: Any, base: ScannerConfig, source: str, where: str,
             keep: frozenset[str] | None = None) -> ScannerConfig:
    if settings is None:
        return base
    if not isinstance(settings, Mapping):
        raise _fail(source, f"{where}: 'scanner' must be a table of settings")
    if keep is not None:
        settings = {k: v for k, v in settings.items() if k in keep}
    try:
        return ScannerConfig.from_dict(settings, base=base)
    except SimulationError as exc:
        raise _fail(source, f"{where}: {exc}") from exc


def _scan(entry: Mapping[str, Any], suite_seed: int, base: ScannerConfig, source: str,
          where: str, keep: frozenset[str] | None = None) -> SuiteScan:
    scan_id = entry.get("id")
    if not isinstance(scan_id, str) or not _ID.match(scan_id):
        raise _fail(source, f"{where}: 'id' must be 1-120 letters, digits, '.', '_' or '-', got {scan_id!r}")
    kind = entry.get("kind", "scenario")
    if kind not in SCAN_KINDS:
        raise _fail(source, f"scan {scan_id}: kind must be one of {', '.join(SCAN_KINDS)}, got {kind!r}")
    seed = entry.get("seed", derive_seed(suite_seed, scan_id))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise _fail(source, f"scan {scan_id}: seed must be an integer in 0..2**63-1")
    params = {k: v for k, v in entry.items() if k not in _RESERVED}
    scanner = _scanner(entry.get("scanner"), base, source, f"scan {scan_id}", keep)
    return SuiteScan(scan_id, kind, params, seed, scanner)


def _slug(value: Any) -> str:
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"[^A-Za-z0-9.]+", "-", str(value)).strip("-")
    return text or "x"


def _expand(matrix: Mapping[str, Any], source: str, where: str) -> list[dict[str, Any]]:
    prefix = matrix.get("prefix")
    if not isinstance(prefix, str) or not _ID.match(prefix):
        raise _fail(source, f"{where}: 'prefix' must be a short identifier, got {prefix!r}")
    vary = matrix.get("vary", {})
    if not isinstance(vary, Mapping) or not all(isinstance(v, list) and v for v in vary.values()):
        raise _fail(source, f"{where}: 'vary' must be a table of non-empty lists")
    repeats = matrix.get("repeats", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 10000:
        raise _fail(source, f"{where}: 'repeats' must be an integer in 1..10000")
    count = repeats
    for values in vary.values():
        count *= len(values)
    if count > MAX_SUITE_SCANS:
        raise _fail(source, f"{where}: expands to {count} scans, more than {MAX_SUITE_SCANS}")
    fixed = {k: v for k, v in matrix.items() if k not in ("prefix", "vary", "repeats")}
    names = list(vary)
    entries = []
    for combination in itertools.product(*(vary[n] for n in names)):
        for repeat in range(repeats):
            entry = dict(fixed)
            entry.update(zip(names, combination, strict=True))
            parts = [prefix] + [_slug(v) for v in combination]
            if repeats > 1:
                parts.append(f"r{repeat}")
            entry["id"] = "-".join(parts)[:120]
            entries.append(entry)
    return entries


def load_suite(path: str | os.PathLike, *, variant: Any = None) -> Suite:
    """Read and check a suite file.

    Parameters
    ----------
    path : path-like
        A TOML suite (``seeds/suites/smoke.toml``); a bare name such as ``smoke`` is
        looked up in the seeds folder's ``suites/``.
    variant : ScannerVariant or str, optional
        Simulate the suite on this scanner variant (:mod:`nii.simulate.variants`, or its
        name): its configuration replaces the suite's scanner except for the
        :data:`ACQUISITION_SETTINGS`, its suite set (if any) replaces the scans of a
        suite it names, and the suite's name and seed take the variant's name.

    Returns
    -------
    Suite

    Raises
    ------
    CatalogueError
        If the file is missing, not TOML, or a scan is malformed or duplicated.
    """
    path = Path(path)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        from nii.resources import seed_path

        path = seed_path("suites", path.name + ".toml")
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _fail(source, "no such suite file") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(source, f"not a readable TOML suite ({exc})") from exc
    if variant is None:
        return parse_suite(data, source, path=path)
    from nii.simulate.variants import ScannerVariant, scanner_variant

    if not isinstance(variant, ScannerVariant):
        variant = scanner_variant(str(variant))
    name = str(data.get("name", path.stem))
    replacement = variant.suite_scans(name)
    if replacement is not None:
        data = {k: v for k, v in data.items() if k not in ("scans", "matrix", "description")}
        data.update(replacement)
    data["name"] = f"{name}-{variant.name}"
    data["seed"] = derive_seed(int(data.get("seed", 0)) if isinstance(data.get("seed", 0), int) else 0,
                               variant.name)
    data["description"] = (f"{data.get('description', '')} On scanner variant {variant.name} "
                           f"({variant.describe()}).").strip()
    return parse_suite(data, source, path=path, base=variant.config, keep=ACQUISITION_SETTINGS)


def parse_suite(data: Mapping[str, Any], source: str, *, path: Path | None = None,
                base: ScannerConfig | None = None, keep: frozenset[str] | None = None) -> Suite:
    """Check a suite given as a parsed TOML table (see :func:`load_suite`).

    Parameters
    ----------
    data : mapping
        The suite's top-level table.
    source : str
        Where it came from, for messages.
    path : pathlib.Path, optional
        Its file.
    base : ScannerConfig, optional
        Scanner the suite's settings change (default: the defaults).
    keep : frozenset of str, optional
        Only these scanner settings of the suite apply (all when omitted).

    Returns
    -------
    Suite
    """
    name = data.get("name", path.stem if path else "suite")
    description = data.get("description", "")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise _fail(source, "'seed' must be an integer in 0..2**63-1")
    base = _scanner(data.get("scanner"), base or ScannerConfig(), source, "[scanner]", keep)
    unknown = set(data) - {"name", "description", "seed", "scanner", "scans", "matrix", "source"}
    if unknown:
        raise _fail(source, f"unknown top-level key(s) {sorted(unknown)}")
    entries: list[tuple[dict[str, Any], str]] = []
    for i, entry in enumerate(data.get("scans", [])):
        if not isinstance(entry, Mapping):
            raise _fail(source, f"scans[{i}] must be a table")
        entries.append((dict(entry), f"scans[{i}]"))
    for i, matrix in enumerate(data.get("matrix", [])):
        if not isinstance(matrix, Mapping):
            raise _fail(source, f"matrix[{i}] must be a table")
        entries += [(e, f"matrix[{i}]") for e in _expand(matrix, source, f"matrix[{i}]")]
    if not entries:
        raise _fail(source, "the suite holds no scans")
    if len(entries) > MAX_SUITE_SCANS:
        raise _fail(source, f"the suite holds {len(entries)} scans, more than {MAX_SUITE_SCANS}")
    scans = []
    seen: set[str] = set()
    for entry, where in entries:
        scan = _scan(entry, seed, base, source, where, keep)
        if scan.scan_id in seen:
            raise _fail(source, f"scan id {scan.scan_id!r} appears twice")
        seen.add(scan.scan_id)
        scans.append(scan)
    return Suite(str(name), str(description), seed, base, tuple(scans), path)


# ------------------------------------------------------------------- running
def _builder(kind: str) -> Callable[..., Any]:
    from nii.simulate import scenario

    name = {"scenario": "build_scenario", "wedge": "step_wedge_scene", "block": "block_scene"}[kind]
    return getattr(scenario, name)


def build_scene(kind: str, params: Mapping[str, Any], seed: int) -> Any:
    """Build the scene (or scenario) of one suite scan.

    Parameters
    ----------
    kind : {"scenario", "wedge", "block"}
        Which builder to call.
    params : mapping
        Its keyword arguments (names as in the builder's signature).
    seed : int
        Passed as ``seed`` when the builder takes one.

    Returns
    -------
    Scene or Scenario
    """
    if kind not in SCAN_KINDS:
        raise SimulationError(f"unknown scan kind {kind!r}; expected one of {', '.join(SCAN_KINDS)}")
    builder = _builder(kind)
    signature = inspect.signature(builder)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    convenience = {"areal_density_g_cm2", "areal_densities_g_cm2"}
    unknown = [k for k in params if k not in signature.parameters and k not in convenience
               and not accepts_any]
    if unknown:
        raise SimulationError(
            f"{builder.__name__} takes no parameter(s) {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(signature.parameters)}")
    kwargs = _areal_to_thickness(kind, dict(params))
    if "seed" in signature.parameters:
        kwargs["seed"] = seed
    try:
        return builder(**kwargs)
    except TypeError as exc:
        raise SimulationError(f"{builder.__name__}({json.dumps(dict(params))}): {exc}") from exc


def _areal_to_thickness(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Turn ``areal_density_g_cm2`` (block) / ``areal_densities_g_cm2`` (wedge) into thicknesses."""
    single, many = params.pop("areal_density_g_cm2", None), params.pop("areal_densities_g_cm2", None)
    if single is None and many is None:
        return params
    from nii.physics import material

    name = params.get("material_name")
    if not isinstance(name, str):
        raise SimulationError("areal densities need a material_name to convert them to thicknesses")
    density = material(name).density_g_cm3
    try:
        if single is not None:
            params["thickness_mm"] = round(float(single) * 10.0 / density, 3)
        if many is not None:
            params["thicknesses_mm"] = [round(float(a) * 10.0 / density, 3) for a in many]
    except (TypeError, ValueError) as exc:
        raise SimulationError(f"areal densities must be numbers in g/cm², got {single or many!r}") from exc
    return params


def run_suite_scan(scan: SuiteScan, out_dir: str | os.PathLike, *, overwrite: bool = False,
                   started_at: str | None = None) -> dict[str, Any]:
    """Simulate and write one scan of a suite; return its index entry.

    Parameters
    ----------
    scan : SuiteScan
    out_dir : path-like
        Folder of the outputs (``<id>.nxr`` and its truth files).
    overwrite : bool
        Replace existing files.
    started_at : str, optional
        ``started_at`` of the header (default: the scanner configuration's).

    Returns
    -------
    dict
        ``id``, ``kind``, ``seed``, ``params``, the file names, expected verdict and reasons.
    """
    from nii.simulate.run import simulate_scan

    scene = build_scene(scan.kind, scan.params, scan.seed)
    config = scan.scanner if started_at is None else scan.scanner.replace(started_at=started_at)
    nxr = Path(out_dir) / f"{scan.scan_id}.nxr"
    result = simulate_scan(scene, config, scan.seed, out=nxr, scan_id=scan.scan_id, overwrite=overwrite)
    entry = scan.to_dict()
    entry.update({
        "nxr": nxr.name,
        "truth": f"{scan.scan_id}.truth.json",
        "manifest": f"{scan.scan_id}.manifest.json" if result.truth.manifest is not None else None,
        "header_kind": result.header["kind"],
        "expected_verdict": result.truth.expected_verdict,
        "expected_reasons": result.truth.expected_reasons,
    })
    return entry


def _started_at(base: str, index: int) -> str:
    """Spread suite scans one minute apart from the configured start (reproducibly)."""
    from datetime import datetime, timedelta, timezone

    try:
        start = datetime.strptime(base, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return base
    return (start + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _worker(arguments: tuple[SuiteScan, str, bool, str | None]) -> dict[str, Any]:
    scan, out_dir, overwrite, started_at = arguments
    return run_suite_scan(scan, out_dir, overwrite=overwrite, started_at=started_at)


def _previous_entries(index_path: Path, suite: Suite, overwrite: bool) -> list[dict[str, Any]]:
    """Entries of an existing ``suite.json`` of the same suite (for a partial run)."""
    if not index_path.exists():
        return []
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        previous = index.get("scans", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise SimulationError(f"{index_path}: not a readable suite index ({exc})") from exc
    if index.get("suite") != suite.name:
        if overwrite:
            return []
        raise SimulationError(
            f"{index_path}: indexes suite {index.get('suite')!r}, not {suite.name!r}; "
            "use another output folder or pass --overwrite")
    return list(previous) if isinstance(previous, list) else []


def run_suite(
    suite: Suite,
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = False,
    only: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Simulate every scan of a suite into a folder and write ``suite.json``.

    Parameters
    ----------
    suite : Suite
    out_dir : path-like
        Output folder (created).
    workers : int
        Processes to use (1: in this process). The files do not depend on it.
    overwrite : bool
        Replace existing files; by default an existing output is an error raised
        before anything is simulated.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    only : iterable of str, optional
        Simulate only these scan ids; their entries are merged into an existing
        ``suite.json``.

    Returns
    -------
    list of dict
        One index entry per scan, in suite order (also written to ``suite.json``).
    """
    from nii.simulate.run import scan_paths

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise SimulationError(f"workers must be an integer in 1..256, got {workers!r}")
    out = Path(out_dir)
    scans = list(suite.scans)
    if only is not None:
        wanted = set(only)
        missing = wanted - {s.scan_id for s in scans}
        if missing:
            raise SimulationError(f"suite {suite.name} has no scan(s) {', '.join(sorted(missing))}")
        scans = [s for s in scans if s.scan_id in wanted]
    index_path = out / "suite.json"
    if not overwrite:
        if index_path.exists() and only is None:
            raise SimulationError(f"{index_path}: the file already exists; choose another output folder or pass --overwrite")
        for scan in scans:
            for target in scan_paths(out / f"{scan.scan_id}.nxr"):
                if target.exists():
                    raise SimulationError(
                        f"{target}: the file already exists; choose another output folder or pass --overwrite")
    previous = _previous_entries(index_path, suite, overwrite) if only is not None else []
    out.mkdir(parents=True, exist_ok=True)
    position = {s.scan_id: i for i, s in enumerate(suite.scans)}
    jobs = [(s, str(out), overwrite, _started_at(s.scanner.started_at, position[s.scan_id])) for s in scans]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="scan", desc=f"simulate {suite.name}")
    entries: dict[str, dict[str, Any]] = {}
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                entry = _worker(job)
                entries[entry["id"]] = entry
                if bar is not None:
                    bar.update(1)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_worker, job) for job in jobs]
                for future in as_completed(futures):
                    entry = future.result()
                    entries[entry["id"]] = entry
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    ordered = [entries[s.scan_id] for s in scans]
    listed = ordered
    if previous:
        # A partial run adds to (or refreshes) the entries of the existing index.
        merged = {e["id"]: e for e in previous if isinstance(e, dict) and "id" in e}
        merged.update(entries)
        listed = [merged[s.scan_id] for s in suite.scans if s.scan_id in merged]
    index = {
        "suite": suite.name,
        "description": suite.description,
        "seed": suite.seed,
        "source": str(suite.path) if suite.path else None,
        "scanner": suite.scanner.to_dict(),
        "scans": listed,
    }
    atomic_write_text(index_path, json.dumps(index, indent=2) + "\n")
    return ordered
