"""Locate the data that ships with ``nii``: the ``seeds/`` catalogues and the model zoo.

In a source checkout (or an editable install) they are the repository's top-level
``seeds/`` and ``models/`` folders; in an installed wheel they are copied to
``nii/_seeds`` and ``nii/_models`` by the build hook in ``setup.py``. The environment
variables ``NII_SEEDS`` and ``NII_MODELS`` override both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["seeds_dir", "models_dir", "seed_path", "read_catalogue"]

_PACKAGE = Path(__file__).resolve().parent


def _locate(env: str, packaged: str, repository: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    inside = _PACKAGE / packaged
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / repository


def seeds_dir() -> Path:
    """Return the folder holding the scenario and catalogue data (``seeds/``)."""
    return _locate("NII_SEEDS", "_seeds", "seeds")


def models_dir() -> Path:
    """Return the folder holding the trained model zoo (``models/``)."""
    return _locate("NII_MODELS", "_models", "models")


def seed_path(*parts: str) -> Path:
    """Return the path of a file inside the seeds folder, e.g. ``seed_path("materials.toml")``."""
    return seeds_dir().joinpath(*parts)


def read_catalogue(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a TOML catalogue, with one-sentence errors naming the file.

    Parameters
    ----------
    path : path-like
        The TOML file.
    what : str
        What the file is, for messages (e.g. ``"materials catalogue"``).

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    nii.errors.CatalogueError
        If the file is missing, unreadable, not UTF-8 or not valid TOML.
    """
    from nii.errors import CatalogueError

    catalogue = Path(path)
    try:
        with catalogue.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise CatalogueError(f"{catalogue}: {what} not found (the file does not exist).") from exc
    except OSError as exc:
        raise CatalogueError(f"{catalogue}: the {what} cannot be read ({exc.strerror or exc}).") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{catalogue}: the {what} is not valid TOML ({exc}).") from exc
