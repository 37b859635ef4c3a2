"""Element symbols, atomic numbers and atomic masses.

Symbols come from ``seeds/physics.toml`` (IUPAC); atomic masses are those of the
mucoeff tables (Boone & Chavez 1996, Med. Phys. 23, 1997, data CC-BY 4.0), so that
mass attenuation and electron densities use one consistent set.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

from nii.physics._constants import physics_constants
from nii.physics._errors import PhysicsError

__all__ = ["atomic_number", "element_symbol", "atomic_mass", "max_atomic_number"]


@lru_cache(maxsize=1)
def _symbol_table() -> tuple[tuple[str, ...], dict[str, int]]:
    symbols = tuple(str(s) for s in physics_constants()["elements"]["symbols"])
    return symbols, {symbol: index + 1 for index, symbol in enumerate(symbols)}


def max_atomic_number() -> int:
    """Return the highest atomic number the cross-section tables cover (100)."""
    return int(physics_constants()["cross_sections"]["max_atomic_number"])


def atomic_number(symbol: str) -> int:
    """Return the atomic number of an element symbol.

    Parameters
    ----------
    symbol : str
        Element symbol, case as in the periodic table (``"Fe"``); ``"fe"`` is accepted.

    Returns
    -------
    int
        Atomic number Z (1–100).

    Raises
    ------
    PhysicsError
        If the symbol is not an element with Z from 1 to 100.
    """
    symbols, index = _symbol_table()
    key = str(symbol).strip()
    key = key[:1].upper() + key[1:].lower()
    if key not in index or index[key] > max_atomic_number():
        raise PhysicsError(
            f"'{symbol}' is not an element symbol with Z from 1 to {max_atomic_number()}."
        )
    return index[key]


def element_symbol(z: int) -> str:
    """Return the symbol of atomic number ``z`` (1–100).

    Parameters
    ----------
    z : int
        Atomic number.

    Returns
    -------
    str
        Element symbol, e.g. ``"Pb"`` for 82.
    """
    symbols, _ = _symbol_table()
    if not (1 <= int(z) <= min(len(symbols), max_atomic_number())):
        raise PhysicsError(f"atomic number {z} is outside 1..{max_atomic_number()}.")
    return symbols[int(z) - 1]


@cache
def atomic_mass(z: int) -> float:
    """Return the atomic mass of element ``z`` in g/mol (from the mucoeff tables).

    Parameters
    ----------
    z : int
        Atomic number (1–100).

    Returns
    -------
    float
        Atomic mass, g/mol.
    """
    from mucoeff import Flag, mu

    element_symbol(z)  # validates the range
    return float(np.asarray(mu(Flag.ATOMIC_MASS, int(z))))
