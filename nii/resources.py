"""Locate the data that ships with ``nii``: the ``seeds/`` catalogues and the model zoo.

In a source checkout (or an editable install) they are the repository's top-level
``seeds/`` and ``models/`` folders; in an installed wheel they are copied to
``nii/_seeds`` and ``nii/_models`` by the build hook in ``setup.py``. The environment
variables ``NII_SEEDS`` and ``NII_MODELS`` override both.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["seeds_dir", "models_dir", "seed_path"]

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
