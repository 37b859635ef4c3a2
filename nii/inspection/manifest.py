"""Manifests (the declaration a scan is checked against) and the container types they name.

A manifest is the JSON object of ``spec/inspection-contract.md``: the container's id,
its ISO 6346 size-type code, optionally its tare, whether it is declared empty, and the
declared goods (HS code, description, gross mass, packages). :func:`load_manifest`
reads and validates one; every violation raises :class:`nii.errors.ManifestError`, one
sentence naming the file and the field. What is accepted, and what is refused before
or after parsing, is stated in ``docs/manifest-validation.md``:

- only a regular file of at most :data:`MAX_MANIFEST_BYTES` is read (a FIFO, a device
  or a stream is refused unread), UTF-8 with or without a byte-order mark, nested at
  most :data:`MAX_NESTING_DEPTH` deep, without ``NaN`` or ``Infinity``;
- masses are numbers from 0 to :data:`MAX_MASS_KG` (60,000 kg), the tare within
  :data:`TARE_RANGE_KG` (1,000 to 10,000 kg), packages a non-negative integer;
- an unknown field that looks like a misspelling of a known one (``gross_mas_kg``,
  ``tare_mass``) is an error ("did you mean `gross_mass_kg`?"); other unknown fields
  are kept (:attr:`Manifest.extra_fields`, :attr:`ManifestItem.extra_fields`) and
  listed in :attr:`Manifest.warnings`;
- HS codes the expectation table does not know, and items without a gross mass (then
  :attr:`Manifest.declared_gross_mass_kg` is ``None``: the mass cannot be checked),
  are warnings, not errors.

The ISO type is resolved to a :class:`ContainerType` (tare, dimensions, structure)
from ``seeds/containers.toml``; :attr:`Manifest.nominal_length_mm` is its nominal length, which the coverage
measurement (:mod:`nii.inspection.coverage`) compares with the container measured in
the scan.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

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
    "iso_nominal_length_mm",
    "MAX_MANIFEST_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_MASS_KG",
    "TARE_RANGE_KG",
    "MAX_PACKAGES",
    "TOP_LEVEL_FIELDS",
    "ITEM_FIELDS",
]

#: ISO 6346 size-type: two characters of size (length, height) and two of type.
_ISO_TYPE = re.compile(r"^[0-9A-Z]{2}[A-Z][0-9A-Z]$")
_HS_CODE = re.compile(r"^[0-9]{2,10}$")
#: Largest manifest file read (bytes): a real manifest is a few kB.
MAX_MANIFEST_BYTES = 1024 * 1024
#: Deepest nesting of JSON arrays and objects accepted (a manifest needs 3).
MAX_NESTING_DEPTH = 32
#: Largest gross mass accepted, per item and in total (kg): twice the heaviest ISO
#: container's maximum gross mass (30,480 kg, ISO 668).
MAX_MASS_KG = 60_000.0
#: Range of a declared tare (kg): the lightest and heaviest ISO freight containers'.
TARE_RANGE_KG = (1_000.0, 10_000.0)
#: Largest number of packages accepted on one item.
MAX_PACKAGES = 1_000_000_000
#: Longest integer literal read as a number (digits); longer ones are refused by field.
_MAX_INTEGER_DIGITS = 30

#: The manifest's fields (``spec/inspection-contract.md``).
TOP_LEVEL_FIELDS = ("container_id", "iso_type", "tare_mass_kg", "declared_empty", "items")
#: The fields of one declared item.
ITEM_FIELDS = ("hs_code", "description", "gross_mass_kg", "packages")
#: Other spellings that certainly mean a known field (a "did you mean" error, whatever
#: their edit distance).
_SYNONYMS = {
    "gross_mass": "gross_mass_kg", "gross_weight": "gross_mass_kg", "gross_weight_kg": "gross_mass_kg",
    "mass_kg": "gross_mass_kg", "weight_kg": "gross_mass_kg", "mass": "gross_mass_kg", "weight": "gross_mass_kg",
    "tare": "tare_mass_kg", "tare_kg": "tare_mass_kg", "tare_weight": "tare_mass_kg",
    "tare_weight_kg": "tare_mass_kg", "tare_mass": "tare_mass_kg",
    "hs": "hs_code", "hscode": "hs_code", "hs_codes": "hs_code",
    "empty": "declared_empty", "is_empty": "declared_empty",
    "iso": "iso_type", "iso_code": "iso_type", "size_type": "iso_type",
    "container": "container_id", "container_number": "container_id",
    "item": "items", "goods": "items",
}
#: Nominal length (ft) of the first character of an ISO 6346 size code.
_ISO_LENGTH_FT = {"1": 10, "2": 20, "3": 30, "4": 40, "B": 24, "C": 24.5, "G": 41, "H": 43,
                  "L": 45, "M": 48, "N": 49, "P": 53}
_MM_PER_FT = 304.8


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
    extra_fields : mapping
        Fields the contract does not define, kept as read (and listed in the
        manifest's warnings).
    """

    hs_code: str
    description: str = ""
    gross_mass_kg: float | None = None
    packages: int | None = None
    extra_fields: Mapping[str, Any] = field(default_factory=dict, compare=False)

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
    extra_fields : mapping
        Top-level fields the contract does not define, kept as read (and listed in
        :attr:`warnings`).
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
    extra_fields: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def declared_gross_mass_kg(self) -> float | None:
        """Sum of the items' gross masses (kg).

        ``None`` when the declared mass is not known: no item, or an item that declares
        no ``gross_mass_kg`` (a partial sum would be compared as if it were the whole
        cargo). The mass check then says that the mass was not checked.
        """
        if not self.items or any(item.gross_mass_kg is None for item in self.items):
            return None
        return float(sum(item.gross_mass_kg for item in self.items))  # type: ignore[misc]

    @property
    def nominal_length_mm(self) -> float:
        """External length (mm) of the declared ISO type; ``NaN`` when not known."""
        return iso_nominal_length_mm(self.iso_type, self.container)

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
    nested = entry.get("dimensions_mm")
    table: Mapping[str, Any] = nested if isinstance(nested, Mapping) else entry
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
        structure: dict[str, Any] = dict(shared or {})
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


class _HugeInteger(str):
    """An integer literal too long to be a quantity (kept as its text, refused by field)."""


class _NonFinite(str):
    """A ``NaN``/``Infinity`` literal (kept as its text, refused by field)."""


def _parse_int(text: str) -> int | _HugeInteger:
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        return _HugeInteger(text)
    return int(text)


def _is_text(value: Any) -> TypeGuard[str]:
    """A JSON string (not a number literal kept as text)."""
    return isinstance(value, str) and not isinstance(value, (_HugeInteger, _NonFinite))


def _describe(value: Any) -> str:
    if isinstance(value, _HugeInteger):
        return f"a {len(value.lstrip('-'))}-digit number"
    if isinstance(value, _NonFinite):
        return str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _normalised(name: str) -> str:
    return "".join(char for char in name.lower() if char.isalnum())


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (insertions, deletions, substitutions, swaps)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _near_field(name: str, known: tuple[str, ...]) -> str | None:
    """The known field an unknown ``name`` most likely misspells, or ``None``.

    Near: a listed synonym (``tare_mass``, ``gross_weight_kg``), the same letters in
    another case or punctuation (``GrossMassKg``), or an edit distance (ignoring case
    and punctuation) of 1 for names up to 6 letters, 2 for longer ones.
    """
    synonym = _SYNONYMS.get(name.lower())
    if synonym in known:
        return synonym
    norm = _normalised(name)
    if not norm or len(name) > 64:
        return None
    best: tuple[int, str] | None = None
    for candidate in known:
        target = _normalised(candidate)
        allowed = 1 if len(target) <= 6 else 2
        distance = _edit_distance(norm, target) if abs(len(norm) - len(target)) <= allowed else allowed + 1
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _field_name(name: Any) -> str:
    text = str(name)
    printable = "".join(char if char.isprintable() else "?" for char in text)
    return printable if len(printable) <= 64 else printable[:61] + "..."


def _check_plain(value: Any, source: str, where: str) -> None:
    """Refuse a NaN, Infinity or absurd integer anywhere inside a kept unknown field."""
    if isinstance(value, (_HugeInteger, _NonFinite)) or (isinstance(value, float) and not math.isfinite(value)):
        raise _fail(source, f"field {where!r} holds {_describe(value)}, which a manifest may not hold")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_plain(item, source, f"{where}.{_field_name(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_plain(item, source, f"{where}[{index}]")


def _extra_fields(raw: Mapping[str, Any], known: tuple[str, ...], where: str, source: str,
                  unknown: list[str]) -> dict[str, Any]:
    """Return the fields of ``raw`` outside ``known``.

    A near-miss of a known field that the object lacks is an error ("did you mean"), and
    so is a field of the other level (``gross_mass_kg`` beside ``container_id`` rather
    than in an item): either would silently drop what it declares. A near-miss of a
    field that is there too (``hs_description`` beside ``description``) is kept.
    """
    other, other_place = (TOP_LEVEL_FIELDS, "the manifest's top level") if where else (
        tuple(name for name in ITEM_FIELDS if name != "description"), "each of items[]")
    extra: dict[str, Any] = {}
    prefix = f"{where}: " if where else ""
    for name, value in raw.items():
        if name in known:
            continue
        label = f"{where}.{_field_name(name)}" if where else _field_name(name)
        # A near-miss of a field the object lacks: what it declares would be dropped.
        near = _near_field(str(name), tuple(field for field in known if field not in raw))
        if near is not None:
            raise _fail(source, f"{prefix}unknown field `{_field_name(name)}`; did you mean `{near}`?")
        misplaced = _near_field(str(name), other)
        if misplaced is not None:
            raise _fail(source, f"{prefix}unknown field `{_field_name(name)}`; `{misplaced}` belongs in {other_place}")
        _check_plain(value, source, label)
        extra[str(name)] = value
        unknown.append(label)
    return extra


def _number(value: Any, source: str, name: str, *, low: float = 0.0, high: float = MAX_MASS_KG,
            unit: str = "kg", allow_none: bool = True) -> float | None:
    """A number from ``low`` to ``high`` (inclusive), or ``None`` when absent."""
    if value is None and allow_none:
        return None
    if isinstance(value, (_HugeInteger, _NonFinite)):
        raise _fail(source, f"field {name!r} must be a number from {low:,.0f} to {high:,.0f} {unit}, got {_describe(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(source, f"field {name!r} must be a number, got {_describe(value)}")
    if isinstance(value, int) and not low <= value <= high:  # before float(): no OverflowError
        raise _fail(source, f"field {name!r} must be a number from {low:,.0f} to {high:,.0f} {unit}, got {_describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(source, f"field {name!r} must be a finite number, got {_describe(value)}")
    if number < 0 and low >= 0:
        raise _fail(source, f"field {name!r} must not be negative, got {_describe(value)}")
    if not low <= number <= high:
        raise _fail(source, f"field {name!r} must be a number from {low:,.0f} to {high:,.0f} {unit}, got {_describe(value)}")
    return number


def _parse_item(raw: Any, index: int, source: str, known_chapters: frozenset[str] | None,
                warnings: list[str], unknown: list[str]) -> ManifestItem:
    where = f"items[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail(source, f"{where} must be an object, got {type(raw).__name__}")
    extra = _extra_fields(raw, ITEM_FIELDS, where, source, unknown)
    hs_code = raw.get("hs_code")
    if isinstance(hs_code, int) and not isinstance(hs_code, bool):
        raise _fail(source, f"{where}.hs_code must be a string of 2 to 10 digits (a number loses leading zeros), got {hs_code!r}")
    if not _is_text(hs_code):
        raise _fail(source, f"{where}.hs_code is missing or not a string, got {_describe(hs_code)}")
    hs_code = hs_code.replace(".", "").replace(" ", "")
    if not _HS_CODE.match(hs_code):
        raise _fail(source, f"{where}.hs_code must be 2 to 10 digits, got {_describe(raw.get('hs_code'))}")
    description = raw.get("description", "")
    if not _is_text(description):
        raise _fail(source, f"{where}.description must be a string, got {_describe(description)}")
    gross = _number(raw.get("gross_mass_kg"), source, f"{where}.gross_mass_kg")
    packages = raw.get("packages")
    if packages is not None and (
        isinstance(packages, bool) or not isinstance(packages, int) or isinstance(packages, _HugeInteger)
        or not 0 <= packages <= MAX_PACKAGES
    ):
        raise _fail(source, f"{where}.packages must be a whole number from 0 to {MAX_PACKAGES:,}, got {_describe(packages)}")
    if known_chapters is not None and hs_code[:2] not in known_chapters:
        warnings.append(
            f"{where}: HS chapter {hs_code[:2]} (code {hs_code}) is not in the expectation "
            "table; its material and density are not checked"
        )
    return ManifestItem(hs_code=hs_code, description=description, gross_mass_kg=gross, packages=packages,
                        extra_fields=extra)


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
        Naming the field and the problem: a missing or malformed field, a number out
        of range (masses 0 to 60,000 kg, tare 1,000 to 10,000 kg), or an unknown field
        that looks like a misspelling of a known one.
    """
    if not isinstance(data, Mapping):
        raise _fail(source, f"a manifest must be a JSON object, got {type(data).__name__}")
    unknown: list[str] = []
    extra = _extra_fields(data, TOP_LEVEL_FIELDS, "", source, unknown)
    container_id = data.get("container_id")
    if container_id is None:
        raise _fail(source, "field 'container_id' is missing")
    if not _is_text(container_id) or not container_id.strip():
        raise _fail(source, f"field 'container_id' must be a non-empty string, got {_describe(container_id)}")
    iso_type = data.get("iso_type")
    if not _is_text(iso_type) or not _ISO_TYPE.match(iso_type.upper()):
        raise _fail(source, f"field 'iso_type' must be an ISO 6346 size-type code such as '22G1', got {_describe(iso_type)}")
    iso_type = iso_type.upper()
    try:
        types = containers if containers is not None else load_container_types()
    except CatalogueError as exc:
        raise _fail(source, f"cannot resolve iso_type {iso_type!r}: {exc}") from exc
    container = container_type_for(iso_type, types)
    if container is None:
        raise _fail(source, f"field 'iso_type' {iso_type!r} is not a container type the catalogue knows ({', '.join(sorted(types))})")
    low, high = TARE_RANGE_KG
    tare = _number(data.get("tare_mass_kg"), source, "tare_mass_kg", low=low, high=high)
    declared_empty = data.get("declared_empty", False)
    if not isinstance(declared_empty, bool):
        raise _fail(source, f"field 'declared_empty' must be true or false, got {_describe(declared_empty)}")
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
        _parse_item(raw, index, source, frozenset(known_chapters), warnings, unknown)
        for index, raw in enumerate(raw_items)
    )
    total = sum(item.gross_mass_kg or 0.0 for item in items)
    if total > MAX_MASS_KG:
        raise _fail(source, f"field 'items[].gross_mass_kg' adds up to {total:,.0f} kg, more than the {MAX_MASS_KG:,.0f} kg a container can hold")
    if declared_empty and any((item.gross_mass_kg or 0) > 0 for item in items):
        warnings.append("declared_empty is true but items declare a gross mass; checked as empty")
    if not declared_empty and not items:
        warnings.append("no items declared and declared_empty is false; mass and material are not checked")
    if not declared_empty:
        unweighed = [f"items[{index}]" for index, item in enumerate(items) if item.gross_mass_kg is None]
        if unweighed:
            listed = ", ".join(unweighed[:5]) + (f" and {len(unweighed) - 5} more" if len(unweighed) > 5 else "")
            warnings.append(f"{listed} declare{'s' if len(unweighed) == 1 else ''} no gross_mass_kg: "
                            "the declared mass is unknown and the cargo mass is not checked")
    if unknown:
        listed = ", ".join(f"`{name}`" for name in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        warnings.append(f"the manifest has fields the contract does not define, kept but not checked: {listed}")
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
        extra_fields=extra,
    )


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _nesting_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings ignored)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub('""', text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_MANIFEST_BYTES`; anything else refused unread."""
    source = str(path)
    try:
        # Non-blocking: opening a FIFO for reading must not wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise _fail(source, "manifest file not found") from exc
    except IsADirectoryError as exc:
        raise _fail(source, "is a folder, not a manifest file") from exc
    except OSError as exc:
        raise _fail(source, f"the manifest cannot be opened ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(source, "is a folder, not a manifest file")
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise _fail(source, f"the manifest is {kind}, not a regular file; refused unread")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise _fail(source, f"the manifest is {info.st_size:,} bytes, more than the {MAX_MANIFEST_BYTES:,} bytes a manifest may have")
        chunks = []
        remaining = MAX_MANIFEST_BYTES + 1
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise _fail(source, f"the manifest cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > MAX_MANIFEST_BYTES:  # the file grew while read
        raise _fail(source, f"the manifest is more than the {MAX_MANIFEST_BYTES:,} bytes a manifest may have")
    return data


def _decode_json(data: bytes, source: str) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(source, "manifest is not UTF-8 text") from exc
    depth = _nesting_depth(text)
    if depth > MAX_NESTING_DEPTH:
        raise _fail(source, f"the manifest nests arrays and objects {depth} deep, more than the {MAX_NESTING_DEPTH} allowed")
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise _fail(source, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except (RecursionError, ValueError) as exc:
        raise _fail(source, f"not valid JSON ({type(exc).__name__}: {exc})") from exc


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
        The manifest JSON file (UTF-8, a byte-order mark allowed; a regular file of at
        most :data:`MAX_MANIFEST_BYTES`), its decoded object, or a manifest already read.
    containers, known_chapters
        See :func:`parse_manifest`.

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        When the file cannot be read, is not a regular file, is too large or too deeply
        nested, is not JSON, or violates the contract (see :func:`parse_manifest`).

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
    data = _decode_json(_read_bounded(path), str(path))
    return parse_manifest(data, source=str(path), containers=containers, known_chapters=known_chapters)


# ---------------------------------------------------------------------------
# Declared type against the scanned container


def iso_nominal_length_mm(iso_type: str, container: ContainerType | None = None) -> float:
    """External length (mm) of an ISO 6346 size-type.

    Parameters
    ----------
    iso_type : str
        Size-type code, e.g. ``"42G1"``.
    container : ContainerType, optional
        Its catalogue entry; default looked up in ``seeds/containers.toml``.

    Returns
    -------
    float
        The catalogue's external length when it gives one, else the nominal length of
        the code's first character (ISO 6346: ``2`` 20 ft, ``4`` 40 ft, ``L`` 45 ft...);
        ``NaN`` when neither is known.
    """
    if container is None:
        try:
            container = container_type_for(iso_type)
        except CatalogueError:
            container = None
    if container is not None and math.isfinite(container.length_mm) and container.length_mm > 0:
        return float(container.length_mm)
    feet = _ISO_LENGTH_FT.get(iso_type[:1].upper()) if iso_type else None
    return feet * _MM_PER_FT if feet is not None else math.nan
