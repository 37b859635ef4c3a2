"""What declared goods should look like: the HS-chapter expectation table and check thresholds.

Both live in ``seeds/hs_expectations.toml``: ``[[chapter]]`` entries (expected
material-class shares, plausible bulk density, packing, whether the goods are high-Z)
and a ``[checks]`` table of thresholds used by :mod:`nii.inspection.checks`.

What the goods are made of, for reading them through the scanner model (their mass, and
the ``α_L`` a load of them gives at a measured ``α_H``), is ``[[checks.mass.goods]]``
(:mod:`nii.inspection.checks._goods_model`); the class shares here are what the
material check compares when no scanner model or make-up is at hand
(``docs/mass-and-material.md``).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nii.errors import CatalogueError
from nii.resources import read_catalogue, seed_path

__all__ = ["HsExpectation", "ExpectationTable", "load_expectations", "expected_fractions"]

_FRACTION_CLASSES = ("organic", "inorganic", "metal", "high_z")


@dataclass(frozen=True)
class HsExpectation:
    """Expected appearance of the goods of one HS chapter.

    Parameters
    ----------
    chapter : str
        Two-digit HS chapter.
    title : str
        Chapter title.
    fractions : dict of str to float
        Expected share of the cargo mass by class name (``organic``, ``inorganic``,
        ``metal``, ``high_z``), summing to 1.
    tolerance : float
        Largest acceptable total-variation distance (0..1) between observed and expected shares.
    density_kg_m3 : tuple of float
        Plausible bulk density range of the goods as loaded (kg/m³).
    packing : str
        Typical packing.
    high_z_expected : bool
        Whether the goods themselves are high-Z.
    uniformity : str
        ``"uniform"`` (loads look alike pallet to pallet) or ``"mixed"`` (dense parts are normal).
    source : str
        Where the figures come from.
    """

    chapter: str
    title: str
    fractions: Mapping[str, float]
    tolerance: float
    density_kg_m3: tuple[float, float]
    packing: str
    high_z_expected: bool
    source: str
    uniformity: str = "uniform"


@dataclass(frozen=True)
class ExpectationTable:
    """The HS expectation table and the checks' thresholds.

    Parameters
    ----------
    by_chapter : dict of str to HsExpectation
        Expectations keyed by two-digit chapter.
    thresholds : dict
        The ``[checks]`` table: one sub-table per check.
    path : pathlib.Path
        The file read.
    """

    by_chapter: Mapping[str, HsExpectation]
    thresholds: Mapping[str, Mapping[str, Any]]
    path: Path

    @property
    def chapters(self) -> tuple[str, ...]:
        """Chapters the table knows."""
        return tuple(self.by_chapter)

    def get(self, hs_code: str) -> HsExpectation | None:
        """Return the expectation of an HS code (by its chapter), or ``None``."""
        return self.by_chapter.get(hs_code[:2])

    def threshold(self, check: str, name: str) -> float:
        """Return the threshold ``name`` of ``check`` as a float.

        Raises
        ------
        CatalogueError
            When the table lacks it.
        """
        try:
            value = self.thresholds[check][name]
        except KeyError as exc:
            raise CatalogueError(f"{self.path}: [checks.{check}] lacks {name!r}") from exc
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CatalogueError(f"{self.path}: [checks.{check}].{name} must be a number")
        return float(value)


def _parse_entry(entry: Any, index: int, path: Path) -> list[HsExpectation]:
    where = f"{path}: [[chapter]] entry {index}"
    if not isinstance(entry, Mapping):
        raise CatalogueError(f"{where} is not a table")
    chapters = entry.get("chapters")
    if not isinstance(chapters, list) or not all(
        isinstance(c, str) and len(c) == 2 and c.isdigit() for c in chapters
    ):
        raise CatalogueError(f"{where}: 'chapters' must be a list of two-digit strings")
    fractions = entry.get("fractions")
    if not isinstance(fractions, Mapping) or not fractions:
        raise CatalogueError(f"{where}: 'fractions' must be a table of class shares")
    for name, share in fractions.items():
        if name not in _FRACTION_CLASSES:
            raise CatalogueError(f"{where}: unknown class {name!r} in 'fractions'")
        if not isinstance(share, (int, float)) or share < 0:
            raise CatalogueError(f"{where}: share of {name!r} must be a non-negative number")
    total = float(sum(fractions.values()))
    if not math.isclose(total, 1.0, abs_tol=1e-3):
        raise CatalogueError(f"{where}: 'fractions' sum to {total:.3f}, not 1")
    density = entry.get("density_kg_m3")
    if (
        not isinstance(density, list)
        or len(density) != 2
        or not all(isinstance(d, (int, float)) and d > 0 for d in density)
        or density[0] > density[1]
    ):
        raise CatalogueError(f"{where}: 'density_kg_m3' must be [low, high] in kg/m3")
    tolerance = entry.get("tolerance")
    if not isinstance(tolerance, (int, float)) or not 0 < tolerance <= 1:
        raise CatalogueError(f"{where}: 'tolerance' must be in (0, 1]")
    source = entry.get("source")
    if not isinstance(source, str) or not source:
        raise CatalogueError(f"{where}: 'source' is missing")
    uniformity = entry.get("uniformity", "uniform")
    if uniformity not in ("uniform", "mixed"):
        raise CatalogueError(f"{where}: 'uniformity' must be \"uniform\" or \"mixed\"")
    return [
        HsExpectation(
            chapter=chapter,
            title=str(entry.get("title", "")),
            fractions={name: float(share) for name, share in fractions.items()},
            tolerance=float(tolerance),
            density_kg_m3=(float(density[0]), float(density[1])),
            packing=str(entry.get("packing", "")),
            high_z_expected=bool(entry.get("high_z_expected", False)),
            source=source,
            uniformity=uniformity,
        )
        for chapter in chapters
    ]


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int) -> ExpectationTable:
    document = read_catalogue(path, "expectation table")
    by_chapter: dict[str, HsExpectation] = {}
    for index, entry in enumerate(document.get("chapter", [])):
        for expectation in _parse_entry(entry, index, path):
            if expectation.chapter in by_chapter:
                raise CatalogueError(f"{path}: HS chapter {expectation.chapter} is listed twice")
            by_chapter[expectation.chapter] = expectation
    thresholds = document.get("checks", {})
    if not isinstance(thresholds, Mapping):
        raise CatalogueError(f"{path}: [checks] must be a table")
    return ExpectationTable(by_chapter=by_chapter, thresholds=thresholds, path=path)


def load_expectations(path: str | os.PathLike | None = None) -> ExpectationTable:
    """Read the HS expectation table and check thresholds.

    Parameters
    ----------
    path : path-like, optional
        Default ``seeds/hs_expectations.toml``.

    Returns
    -------
    ExpectationTable

    Raises
    ------
    CatalogueError
        When the file is missing or an entry is invalid.
    """
    table = Path(path) if path is not None else seed_path("hs_expectations.toml")
    try:
        mtime = table.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise CatalogueError(f"{table}: HS expectation table not found") from exc
    return _load_cached(table.resolve(), mtime)


def expected_fractions(items, table: ExpectationTable) -> dict[str, float] | None:
    """Return the expected class shares of declared goods, weighted by declared mass.

    Parameters
    ----------
    items : sequence of ManifestItem
        Declared goods; items without a gross mass weigh as the mean of the others
        (or 1 when none has one).
    table : ExpectationTable

    Returns
    -------
    dict of str to float or None
        Shares by class name summing to 1, over the items whose chapter the table
        knows; ``None`` when it knows none of them.
    """
    known = [(item, table.get(item.hs_code)) for item in items]
    known = [(item, exp) for item, exp in known if exp is not None]
    if not known:
        return None
    masses = [item.gross_mass_kg for item, _ in known if item.gross_mass_kg]
    default_mass = float(sum(masses) / len(masses)) if masses else 1.0
    totals = dict.fromkeys(_FRACTION_CLASSES, 0.0)
    weight_sum = 0.0
    for item, expectation in known:
        weight = item.gross_mass_kg if item.gross_mass_kg else default_mass
        weight_sum += weight
        for name, share in expectation.fractions.items():  # type: ignore[union-attr]
            totals[name] += weight * share
    return {name: value / weight_sum for name, value in totals.items() if value > 0}

