"""Validation and normalisation of compositions given as element mass fractions."""

from __future__ import annotations

import math
from collections.abc import Mapping

from nii.errors import CatalogueError
from nii.physics._elements import atomic_number
from nii.physics._errors import PhysicsError

__all__ = ["normalised_composition", "SUM_TOLERANCE"]

#: Largest allowed deviation of the sum of mass fractions from 1.
SUM_TOLERANCE = 1e-3


def normalised_composition(composition: Mapping[str, float], name: str) -> dict[str, float]:
    """Check element mass fractions and return them normalised to sum exactly 1.

    Parameters
    ----------
    composition : mapping of str to float
        Mass fraction (dimensionless, 0–1) by element symbol.
    name : str
        Name of the material, used in error messages.

    Returns
    -------
    dict of str to float
        Mass fractions by canonical element symbol, summing to 1, zero entries dropped.

    Raises
    ------
    CatalogueError
        If a symbol is not an element, a fraction is negative or not finite, or the
        fractions do not sum to 1 within 1e-3.
    """
    if not isinstance(composition, Mapping) or not composition:
        raise CatalogueError(
            f"material '{name}': the composition must be a non-empty table of element mass fractions."
        )
    fractions: dict[str, float] = {}
    for symbol, value in composition.items():
        try:
            atomic_number(symbol)
        except PhysicsError as exc:
            raise CatalogueError(f"material '{name}': {exc}") from exc
        try:
            fraction = float(value)
        except (TypeError, ValueError) as exc:
            raise CatalogueError(
                f"material '{name}': the mass fraction of {symbol} is not a number."
            ) from exc
        if not math.isfinite(fraction) or fraction < 0.0:
            raise CatalogueError(
                f"material '{name}': the mass fraction of {symbol} must be finite and >= 0, got {value!r}."
            )
        canonical = symbol.strip()[:1].upper() + symbol.strip()[1:].lower()
        fractions[canonical] = fractions.get(canonical, 0.0) + fraction
    total = sum(fractions.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise CatalogueError(
            f"material '{name}': mass fractions sum to {total:.6g}, not 1 (tolerance {SUM_TOLERANCE:g})."
        )
    return {symbol: fraction / total for symbol, fraction in fractions.items() if fraction > 0.0}
