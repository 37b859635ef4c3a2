"""The materials catalogue (``seeds/materials.toml``): density and elemental composition."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nii.errors import CatalogueError
from nii.physics._composition import normalised_composition
from nii.resources import read_catalogue, seed_path

__all__ = ["Material", "load_materials", "material"]


@dataclass(frozen=True)
class Material:
    """A material of the catalogue.

    Attributes
    ----------
    name : str
        Catalogue key, lower case (``"stainless_steel"``).
    density_g_cm3 : float
        Density, g/cm³ (solid, crystal or bulk as its ``source`` says).
    composition : dict of str to float
        Mass fraction (0–1, summing to 1) by element symbol.
    source : str
        Where the composition and density come from.
    aliases : tuple of str
        Other names the catalogue accepts for it (``"meat"`` for ``"muscle"``).
    """

    name: str
    density_g_cm3: float
    composition: dict[str, float] = field(hash=False)
    source: str = ""
    aliases: tuple[str, ...] = ()


def _parse(path: Path) -> dict[str, Material]:
    data = read_catalogue(path, "materials catalogue")
    table = data.get("materials")
    if not isinstance(table, dict) or not table:
        raise CatalogueError(f"{path}: no [materials.<name>] tables found.")
    catalogue: dict[str, Material] = {}
    for name, entry in table.items():
        key = name.lower()
        if not isinstance(entry, dict):
            raise CatalogueError(f"{path}: [materials.{name}] must be a table.")
        for required in ("density_g_cm3", "composition", "source"):
            if required not in entry:
                raise CatalogueError(f"{path}: material '{name}' lacks '{required}'.")
        density = entry["density_g_cm3"]
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not density > 0.0:
            raise CatalogueError(
                f"{path}: material '{name}' has density_g_cm3 {density!r}; it must be a positive number."
            )
        source = entry["source"]
        if not isinstance(source, str) or not source.strip():
            raise CatalogueError(f"{path}: material '{name}' has an empty source.")
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise CatalogueError(
                f"{path}: material '{name}' has aliases that are not a list of names."
            )
        try:
            composition = normalised_composition(entry["composition"], name)
        except CatalogueError as exc:
            raise CatalogueError(f"{path}: {exc}") from exc
        if key in catalogue:
            raise CatalogueError(f"{path}: material '{name}' is defined twice.")
        catalogue[key] = Material(
            name=key,
            density_g_cm3=float(density),
            composition=composition,
            source=source.strip(),
            aliases=tuple(a.lower() for a in aliases),
        )
    names = set(catalogue)
    for item in catalogue.values():
        for alias in item.aliases:
            if alias in names:
                raise CatalogueError(
                    f"{path}: alias '{alias}' of material '{item.name}' is already a name or alias."
                )
            names.add(alias)
    return catalogue


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> dict[str, Material]:
    return _parse(path)


def load_materials(path: str | Path | None = None) -> dict[str, Material]:
    """Read a materials catalogue.

    Parameters
    ----------
    path : str or Path, optional
        TOML file with ``[materials.<name>]`` tables holding ``density_g_cm3`` (g/cm³),
        ``composition`` (element symbol → mass fraction), ``source`` and optional
        ``aliases``. Default: ``seeds/materials.toml``.

    Returns
    -------
    dict of str to Material
        Materials by lower-case name (aliases are not keys; :func:`material` resolves them).

    Raises
    ------
    CatalogueError
        If the file is missing or invalid; the message names the file and the material.

    Examples
    --------
    >>> load_materials()["iron"].density_g_cm3
    7.874
    """
    resolved = Path(seed_path("materials.toml") if path is None else path).resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise CatalogueError(
            f"{resolved}: the materials catalogue cannot be read ({exc.strerror})."
        ) from exc
    return dict(_cached(resolved, mtime))


def material(name: str, *, path: str | Path | None = None) -> Material:
    """Return a material of the catalogue by name or alias (case-insensitive).

    Parameters
    ----------
    name : str
        Material name (``"iron"``, ``"CdWO4"``) or alias (``"meat"``).
    path : str or Path, optional
        Catalogue file; default ``seeds/materials.toml``.

    Returns
    -------
    Material

    Raises
    ------
    CatalogueError
        If no material has that name; the message lists close names.

    Examples
    --------
    >>> material("Lead").composition
    {'Pb': 1.0}
    """
    catalogue = load_materials(path)
    key = str(name).strip().lower()
    if key in catalogue:
        return catalogue[key]
    for item in catalogue.values():
        if key in item.aliases:
            return item
    known = sorted({*catalogue, *(a for m in catalogue.values() for a in m.aliases)})
    close = difflib.get_close_matches(key, known, n=5, cutoff=0.6)
    hint = (
        f"; close names: {', '.join(close)}"
        if close
        else f"; known materials: {', '.join(sorted(catalogue))}"
    )
    raise CatalogueError(f"unknown material '{name}' in the materials catalogue{hint}.")
