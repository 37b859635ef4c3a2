"""JSON Schemas (draft 2020-12) of the files NII reads and writes.

============== ====================================== =============================
name           file                                   documented in
============== ====================================== =============================
manifest       the manifest ``nii inspect`` reads      ``docs/manifest.md``
verdict        ``verdict.json``                        ``docs/verdict.md``
batch-summary  ``batch_summary.json`` of a batch       ``docs/verdict.md``
calibration    the calibration file (``C.json``)       ``docs/calibration-file.md``
============== ====================================== =============================

They ship inside the package (``nii/schemas/<name>.schema.json``) and are found with
:mod:`importlib.resources`, so an installed ``nii`` has them wherever it is installed.
Reason codes are a pattern, not an enum: codes are added over time.

Examples
--------
>>> from nii.schemas import load_schema
>>> load_schema("verdict")["$schema"]
'https://json-schema.org/draft/2020-12/schema'
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["SCHEMA_NAMES", "load_schema", "schema_text", "validate"]

#: Names of the shipped schemas.
SCHEMA_NAMES = ("manifest", "verdict", "batch-summary", "calibration")


def schema_text(name: str) -> str:
    """Return the text of the schema ``name`` (one of :data:`SCHEMA_NAMES`).

    Raises
    ------
    ValueError
        If there is no schema of that name.
    """
    if name not in SCHEMA_NAMES:
        raise ValueError(f"no schema named {name!r}; the schemas are {', '.join(SCHEMA_NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """Return the schema ``name`` (one of :data:`SCHEMA_NAMES`) as a decoded JSON object."""
    return json.loads(schema_text(name))


def validate(document: Any, name: str) -> None:
    """Validate a decoded JSON document against the schema ``name``.

    Needs the ``jsonschema`` package (``pip install jsonschema``), which ``nii`` itself
    does not depend on.

    Raises
    ------
    jsonschema.ValidationError
        The first violation, with the path of the offending field.
    nii.errors.MissingExtraError
        If ``jsonschema`` is not installed.
    """
    try:
        import jsonschema
    except ImportError as exc:
        from nii.errors import MissingExtraError

        raise MissingExtraError("validating against the schemas needs jsonschema: pip install jsonschema") from exc
    jsonschema.Draft202012Validator(load_schema(name)).validate(document)
