"""Manifests (the declaration a scan is checked against) and the container types they name.

A manifest is the JSON object of ``spec/inspection-contract.md``: the container's id,
its ISO 6346 size-type code, optionally its tare, whether it is declared empty, and the
declared goods (HS code, description, gross mass, packages). :func:`load_manifest`
reads and validates one; every violation raises :class:`nii.errors.ManifestError`
naming the file and the field. HS codes the expectation table does not know are
warnings (:attr:`Manifest.warnings`), not errors.

The ISO type is resolved to a :class:`ContainerType` (tare, dimensions, structure)
from ``seeds/containers.toml``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nii.errors import CatalogueError, ManifestError
from nii.resources import read_catalogue, seed_path

__all__ = [
    "ContainerType",
    "ManifestItem",
    "Manifest",
    "load_manifest",
    "parse_manifest",
    "load_container_types",
    "container_type_for",
]

#: ISO 6346 size-type: two characters of size (length, height) and two of type.
_ISO_TYPE = re.compile(r"^[0-9A-Z]{2}[A-Z][0-9A-Z]$")
_HS_CODE = re.compile(r"^[0-9]{2,10}$")
#: Largest manifest file read (bytes): a real manifest is a few kB.
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ContainerType:
    """A container type from ``seeds/containers.toml``.

    Parameters
    ----------
    name : str
        Catalogue key, e.g. ``"dry_20ft"``.
    iso_types : tuple of str
        ISO 6346 size-type codes of this type, e.g. ``("22G1", "20G1")``.
    tare_kg : float
        Typical tare mass (kg).
    length_mm, width_mm, height_mm : float
        External dimensions (mm); ``NaN`` when the catalogue does not give them.
    structure : dict
        The catalogue's structure description (wall, floor, roof, end thicknesses and
        materials), passed to :mod:`nii.inspection.checks._structure_model`.
    source : str
        Where the figures come from.
    """

    name: str
    iso_types: tuple[str, ...]
    tare_kg: float
    length_mm: float = math.nan
    width_mm: float = math.nan
    height_mm: float = math.nan
    structure: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class ManifestItem:
    """One declared line of goods.

    Parameters
    ----------
    hs_code : str
        Harmonized System code, 2 to 10 digits.
    description : str
        Free text.
    gross_mass_kg : float or None
        Goods' mass with packaging, without the container's tare (kg); ``None`` if not declared.
    packages : int or None
        Number of packages, if declared.
    """

    hs_code: str
    description: str = ""
    gross_mass_kg: float | None = None
    packages: int | None = None

    @property
    def chapter(self) -> str:
        """The HS chapter: the code's first two digits."""
        return self.hs_code[:2]


@dataclass(frozen=True)
class Manifest:
    """A validated manifest.

    Parameters
    ----------
    container_id : str
        Container identifier (ISO 6346 owner code and serial).
    iso_type : str
        ISO 6346 size-type code.
    container : ContainerType
        The type the ISO code resolves to.
    tare_mass_kg : float
        Declared tare (kg), or the type's typical tare when the manifest gives none.
    declared_empty : bool
        Whether the container is declared empty.
    items : tuple of ManifestItem
        Declared goods.
    warnings : tuple of str
        Non-fatal problems found while reading (unknown HS codes, ...).
    source : str
        Where the manifest came from (file path or ``"<dict>"``).
    tare_declared : bool
        Whether the tare came from the manifest rather than the catalogue.
    """

    container_id: str
    iso_type: str
    container: ContainerType
    tare_mass_kg: float
    declared_empty: bool
    items: tuple[ManifestItem, ...]
    warnings: tuple[str, ...] = ()
    source: str = "<dict>"
    tare_declared: bool = False

    @property
    def declared_gross_mass_kg(self) -> float | None:
        """Sum of the items' gross masses (kg); ``None`` when no item declares one."""
        masses = [item.gross_mass_kg for item in self.items if item.gross_mass_kg is not None]
        if not masses:
            return None
        return float(sum(masses))

    @property
    def chapters(self) -> tuple[str, ...]:
        """HS chapters of the declared items, in order, without repeats."""
        return tuple(dict.fromkeys(item.chapter for item in self.items))


# ---------------------------------------------------------------------------
# Container catalogue


def _float_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _first(entry: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in entry:
            return entry[key]
    return None


def _dimensions(entry: Mapping[str, Any], list_key: str, prefix: str) -> tuple[float, float, float]:
    """(length, width, height) in mm from ``external_mm = [l, w, h]`` or separate keys."""
    triple = entry.get(list_key)
    if isinstance(triple, list) and len(triple) == 3:
        return tuple(_float_or_nan(v) for v in triple)  # type: ignore[return-value]
    table: Any = entry.get("dimensions_mm") if isinstance(entry.get("dimensions_mm"), Mapping) else entry
    return (
        _float_or_nan(_first(table, f"{prefix}length_mm", "length_mm", "length")),
        _float_or_nan(_first(table, f"{prefix}width_mm", "width_mm", "width")),
        _float_or_nan(_first(table, f"{prefix}height_mm", "height_mm", "height")),
    )


def _container_entries(document: Mapping[str, Any]) -> list[tuple[list[str], str, Mapping[str, Any]]]:
    """Return ``(iso_codes, name, entry)`` triples, whatever the catalogue's layout.

    Layouts read: ``[types.<ISO>]`` tables keyed by ISO code (the simulator's
    ``seeds/containers.toml``), or tables/arrays of entries carrying ``iso_types``.
    """
    found: list[tuple[list[str], str, Mapping[str, Any]]] = []
    types = document.get("types")
    if isinstance(types, Mapping):
        for code, entry in types.items():
            if isinstance(entry, Mapping):
                found.append(([str(code)], str(entry.get("name", code)), entry))
        return found
    tables = _first(document, "containers", "container", "container_types")
    if tables is None:
        tables = {key: value for key, value in document.items() if isinstance(value, Mapping)}
    entries: list[tuple[str, Any]] = (
        list(tables.items()) if isinstance(tables, Mapping)
        else [(str(e.get("name", i)) if isinstance(e, Mapping) else str(i), e) for i, e in enumerate(tables or [])]
    )
    for name, entry in entries:
        if not isinstance(entry, Mapping):
            continue
        codes = _first(entry, "iso_types", "iso_codes", "iso_type", "iso")
        if isinstance(codes, str):
            codes = [codes]
        if isinstance(codes, list) and codes:
            found.append(([str(c) for c in codes], str(name), entry))
    return found


def load_container_types(path: str | os.PathLike | None = None) -> dict[str, ContainerType]:
    """Read the container catalogue and index it by ISO 6346 size-type code.

    Parameters
    ----------
    path : path-like, optional
        Catalogue file; default ``seeds/containers.toml``.

    Returns
    -------
    dict of str to ContainerType
        Every ISO code the catalogue lists, mapped to its container type. The shared
        ``[structure]`` table (wall, floor, roof, door members) is merged into each
        type's own ``structure``.

    Raises
    ------
    CatalogueError
        When the file is missing, is not TOML, or an entry lacks its tare.
    """
    catalogue = Path(path) if path is not None else seed_path("containers.toml")
    document = read_catalogue(catalogue, "container catalogue")
    shared: Any = document.get("structure") if isinstance(document.get("structure"), Mapping) else {}
    by_iso: dict[str, ContainerType] = {}
    for codes, name, entry in _container_entries(document):
        tare = _float_or_nan(_first(entry, "tare_mass_kg", "tare_kg", "tare"))
        if not math.isfinite(tare) or tare <= 0:
            raise CatalogueError(f"{catalogue}: container {name!r} has no positive tare_mass_kg")
        length, width, height = _dimensions(entry, "external_mm", "external_")
        structure = dict(shared)
        own = entry.get("structure")
        if isinstance(own, Mapping):
            structure.update(own)
        for key in ("internal_mm", "cross_members"):
            if key in entry:
                structure[key] = entry[key]
        container = ContainerType(
            name=name,
            iso_types=tuple(code.upper() for code in codes),
            tare_kg=tare,
            length_mm=length,
            width_mm=width,
            height_mm=height,
            structure=structure,
            source=str(entry.get("source", "")),
        )
        for code in container.iso_types:
            by_iso[code] = container
    if not by_iso:
        raise CatalogueError(f"{catalogue}: no container type with ISO codes found")
    return by_iso


def container_type_for(
    iso_type: str, catalogue: Mapping[str, ContainerType] | None = None
) -> ContainerType | None:
    """Return the container type of an ISO 6346 size-type code, or ``None`` if unknown.

    Codes with the same size (first two characters) and type group (third) match when
    the exact code is not listed (``45G0`` → ``45G1``).
    """
    types = catalogue if catalogue is not None else load_container_types()
    code = iso_type.upper()
    if code in types:
        return types[code]
    for known, container in types.items():
        if known[:3] == code[:3]:
            return container
    for known, container in types.items():
        if known[:2] == code[:2]:
            return container
    return None


# ---------------------------------------------------------------------------
# Manifest


def _fail(source: str, text: str) -> ManifestError:
    return ManifestError(f"{source}: {text}")


def _number(value: Any, source: str, name: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(source, f"field {name!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(source, f"field {name!r} must be finite, got {value!r}")
    if number < 0:
        raise _fail(source, f"field {name!r} must not be negative, got {value!r}")
    return number


def _parse_item(raw: Any, index: int, source: str, known_chapters: frozenset[str] | None,
                warnings: list[str]) -> ManifestItem:
    where = f"items[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail(source, f"{where} must be an object, got {type(raw).__name__}")
    hs_code = raw.get("hs_code")
    if isinstance(hs_code, int) and not isinstance(hs_code, bool):
        raise _fail(source, f"{where}.hs_code must be a string of 2 to 10 digits (a number loses leading zeros), got {hs_code!r}")
    if not isinstance(hs_code, str):
        raise _fail(source, f"{where}.hs_code is missing or not a string")
    hs_code = hs_code.replace(".", "").replace(" ", "")
    if not _HS_CODE.match(hs_code):
        raise _fail(source, f"{where}.hs_code must be 2 to 10 digits, got {raw.get('hs_code')!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, f"{where}.description must be a string")
    gross = _number(raw.get("gross_mass_kg"), source, f"{where}.gross_mass_kg")
    packages = raw.get("packages")
    if packages is not None and (
        isinstance(packages, bool) or not isinstance(packages, int) or packages < 0
    ):
        raise _fail(source, f"{where}.packages must be a non-negative integer, got {packages!r}")
    if known_chapters is not None and hs_code[:2] not in known_chapters:
        warnings.append(
            f"{where}: HS chapter {hs_code[:2]} (code {hs_code}) is not in the expectation "
            "table; its material and density are not checked"
        )
    return ManifestItem(hs_code=hs_code, description=description, gross_mass_kg=gross, packages=packages)


def parse_manifest(
    data: Any,
    *,
    source: str = "<dict>",
    containers: Mapping[str, ContainerType] | None = None,
    known_chapters: frozenset[str] | set[str] | None = None,
) -> Manifest:
    """Validate a manifest already decoded from JSON.

    Parameters
    ----------
    data : dict
        The decoded JSON object.
    source : str
        Name used in error messages (the file path).
    containers : mapping of str to ContainerType, optional
        Container catalogue by ISO code; default :func:`load_container_types`.
    known_chapters : set of str, optional
        HS chapters the expectation table knows; items outside are warnings. Default:
        the chapters of ``seeds/hs_expectations.toml``.

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        Naming the field and the problem.
    """
    if not isinstance(data, Mapping):
        raise _fail(source, f"a manifest must be a JSON object, got {type(data).__name__}")
    container_id = data.get("container_id")
    if not isinstance(container_id, str) or not container_id.strip():
        raise _fail(source, "field 'container_id' is missing or empty")
    iso_type = data.get("iso_type")
    if not isinstance(iso_type, str) or not _ISO_TYPE.match(iso_type.upper()):
        raise _fail(source, f"field 'iso_type' must be an ISO 6346 size-type code such as '22G1', got {iso_type!r}")
    iso_type = iso_type.upper()
    try:
        types = containers if containers is not None else load_container_types()
    except CatalogueError as exc:
        raise _fail(source, f"cannot resolve iso_type {iso_type!r}: {exc}") from exc
    container = container_type_for(iso_type, types)
    if container is None:
        raise _fail(source, f"field 'iso_type' {iso_type!r} is not a container type the catalogue knows ({', '.join(sorted(types))})")
    tare = _number(data.get("tare_mass_kg"), source, "tare_mass_kg")
    if tare is not None and tare == 0:
        raise _fail(source, "field 'tare_mass_kg' must be positive")
    declared_empty = data.get("declared_empty", False)
    if not isinstance(declared_empty, bool):
        raise _fail(source, f"field 'declared_empty' must be true or false, got {declared_empty!r}")
    raw_items = data.get("items", [])
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list):
        raise _fail(source, f"field 'items' must be a list, got {type(raw_items).__name__}")
    if known_chapters is None:
        from nii.inspection.expectations import load_expectations

        known_chapters = frozenset(load_expectations().chapters)
    warnings: list[str] = []
    items = tuple(
        _parse_item(raw, index, source, frozenset(known_chapters), warnings)
        for index, raw in enumerate(raw_items)
    )
    if declared_empty and any((item.gross_mass_kg or 0) > 0 for item in items):
        warnings.append("declared_empty is true but items declare a gross mass; checked as empty")
    if not declared_empty and not items:
        warnings.append("no items declared and declared_empty is false; mass and material are not checked")
    return Manifest(
        container_id=container_id.strip(),
        iso_type=iso_type,
        container=container,
        tare_mass_kg=tare if tare is not None else container.tare_kg,
        declared_empty=declared_empty,
        items=items,
        warnings=tuple(warnings),
        source=source,
        tare_declared=tare is not None,
    )


def load_manifest(
    manifest: str | os.PathLike | Mapping[str, Any] | Manifest,
    *,
    containers: Mapping[str, ContainerType] | None = None,
    known_chapters: frozenset[str] | set[str] | None = None,
) -> Manifest:
    """Read and validate a manifest from a JSON file, a dict or an existing :class:`Manifest`.

    Parameters
    ----------
    manifest : path-like, dict or Manifest
        The manifest JSON file (UTF-8), its decoded object, or a manifest already read.
    containers, known_chapters
        See :func:`parse_manifest`.

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        When the file cannot be read, is not JSON, or violates the contract.

    Examples
    --------
    >>> m = load_manifest({"container_id": "MSCU1234567", "iso_type": "22G1",
    ...                    "declared_empty": True, "items": []})  # doctest: +SKIP
    """
    if isinstance(manifest, Manifest):
        return manifest
    if isinstance(manifest, Mapping):
        return parse_manifest(manifest, containers=containers, known_chapters=known_chapters)
    path = Path(manifest)
    try:
        size = path.stat().st_size
        if size > _MAX_MANIFEST_BYTES:
            raise _fail(str(path), f"file is {size} bytes, too large for a manifest")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise _fail(str(path), "manifest file not found") from exc
    except IsADirectoryError as exc:
        raise _fail(str(path), "is a folder, not a manifest file") from exc
    except UnicodeDecodeError as exc:
        raise _fail(str(path), "manifest is not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(str(path), f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    return parse_manifest(data, source=str(path), containers=containers, known_chapters=known_chapters)
