"""The officers' decisions: an append-only record in SQLite or PostgreSQL (SQLAlchemy).

One row per decision: who (the officer), when (UTC), on which verdict (the scan's
folder, its id and the sha256 of its ``verdict.json``, with NII's verdict and score
at that moment), and what was decided (``release``, ``physical_inspection`` or
``rescan``, a note, optional boxes drawn on the image). Rows are only ever added:
the store has no update or delete, and the database refuses them (triggers), so a
changed mind is a new row and the record keeps both.

The default database is ``OUT_DIR/decisions.sqlite``; any SQLAlchemy URL may be given
instead (``postgresql+psycopg://user@host/db`` with the ``psycopg`` driver installed).
SQLAlchemy Core gives one code path for both; only SQLite is tested here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nii.errors import MissingExtraError, NiiError

__all__ = ["DECISIONS", "DB_FILE", "EXPORT_FIELDS", "DecisionError", "DecisionStore", "default_url"]

#: What an officer can decide.
DECISIONS = ("release", "physical_inspection", "rescan")
#: The default database file in the output folder.
DB_FILE = "decisions.sqlite"
#: Columns of the export, in order.
EXPORT_FIELDS = ("id", "decided_at", "officer", "scan", "scan_id", "verdict_sha256", "nii_verdict", "nii_score",
                 "decision", "note", "boxes", "client")
_MAX_NOTE = 4000
_MAX_NAME = 200
_MAX_BOXES = 50


class DecisionError(NiiError, ValueError):
    """A decision that cannot be recorded as given (unknown decision, no officer, bad boxes)."""


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("the review station needs SQLAlchemy: install it with  pip install 'nii[review]'") from exc
    return sqlalchemy


def default_url(out_dir: str | os.PathLike) -> str:
    """The SQLite URL of ``OUT_DIR/decisions.sqlite`` (any characters in the path quoted)."""
    url = _sqlalchemy().engine.URL.create("sqlite", database=str(Path(out_dir).resolve() / DB_FILE))
    return url.render_as_string(hide_password=False)


_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions "
    "BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions "
    "BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END",
)
_POSTGRES_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION nii_decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'decisions are append-only'; END $$",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'decisions_append_only') THEN "
    "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions "
    "FOR EACH ROW EXECUTE FUNCTION nii_decisions_append_only(); END IF; END $$",
)


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    text = "" if value is None else str(value)
    text = text.strip() if required else text
    if required and not text:
        raise DecisionError(f"a decision needs its {name}")
    if len(text) > limit:
        raise DecisionError(f"the {name} is longer than {limit} characters")
    return text


def _boxes(value: Any, shape: Sequence[int] | None) -> list[list[int]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > _MAX_BOXES:
        raise DecisionError(f"boxes must be a list of at most {_MAX_BOXES} [row0, col0, row1, col1] boxes")
    boxes = []
    for box in value:
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise DecisionError("each box is [row0, col0, row1, col1]")
        try:
            numbers = [float(v) for v in box]
        except (TypeError, ValueError):
            raise DecisionError("each box is four numbers [row0, col0, row1, col1]") from None
        if not all(math.isfinite(v) for v in numbers):
            raise DecisionError("each box is four finite numbers")
        row0, col0, row1, col1 = (int(round(v)) for v in numbers)
        if not (0 <= row0 < row1 and 0 <= col0 < col1):
            raise DecisionError(f"box {list(box)} is empty or negative")
        if shape is not None and (row1 > shape[0] or col1 > shape[1]):
            raise DecisionError(f"box {list(box)} lies outside the {shape[0]} × {shape[1]} image")
        boxes.append([row0, col0, row1, col1])
    return boxes


class DecisionStore:
    """The append-only record of the officers' decisions.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL (``sqlite:///PATH`` or ``postgresql+psycopg://...``).

    Examples
    --------
    >>> store = DecisionStore("sqlite://")
    >>> row = store.record(scan="s1", scan_id="S1", verdict_sha256="0" * 64, nii_verdict="inspect",
    ...                    nii_score=0.9, decision="physical_inspection", officer="A. Officer")
    >>> [d["decision"] for d in store.decisions()]
    ['physical_inspection']
    """

    def __init__(self, url: str) -> None:
        sa = _sqlalchemy()
        self.url = str(url)
        try:
            self.engine = sa.create_engine(self.url, future=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise NiiError(f"{self._shown_url()}: cannot open this database URL ({exc})") from exc
        metadata = sa.MetaData()
        self.table = sa.Table(
            "decisions", metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("decided_at", sa.String(40), nullable=False),
            sa.Column("officer", sa.String(_MAX_NAME), nullable=False),
            sa.Column("scan", sa.String(500), nullable=False, index=True),
            sa.Column("scan_id", sa.String(200), nullable=False),
            sa.Column("verdict_sha256", sa.String(64), nullable=False),
            sa.Column("nii_verdict", sa.String(16), nullable=False),
            sa.Column("nii_score", sa.Float, nullable=True),
            sa.Column("decision", sa.String(32), nullable=False),
            sa.Column("note", sa.Text, nullable=False, default=""),
            sa.Column("boxes", sa.Text, nullable=False, default="[]"),
            sa.Column("client", sa.String(100), nullable=False, default=""),
        )
        try:
            metadata.create_all(self.engine)
            triggers = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(self.engine.dialect.name, ())
            with self.engine.begin() as connection:
                for statement in triggers:
                    connection.exec_driver_sql(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise NiiError(f"{self._shown_url()}: cannot prepare the decisions table ({exc.__class__.__name__}: {exc.orig if hasattr(exc, 'orig') else exc})") from exc

    def _shown_url(self) -> str:
        try:
            return _sqlalchemy().engine.make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - only for a message
            return "the database"

    @classmethod
    def for_output(cls, out_dir: str | os.PathLike, url: str | None = None) -> DecisionStore:
        """The store of a batch's output folder: ``url`` or ``OUT_DIR/decisions.sqlite``."""
        return cls(url or default_url(out_dir))

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def record(
        self,
        *,
        scan: str,
        scan_id: str,
        verdict_sha256: str,
        nii_verdict: str,
        nii_score: float | None,
        decision: str,
        officer: str,
        note: str = "",
        boxes: Any = None,
        client: str = "",
        shape: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """Append one decision and return it as stored.

        Parameters
        ----------
        scan : str
            The scan's folder (relative to the output folder).
        scan_id : str
        verdict_sha256 : str
            sha256 of the ``verdict.json`` the officer decided on.
        nii_verdict : str
            NII's verdict then (``clear`` / ``inspect``).
        nii_score : float or None
        decision : str
            One of :data:`DECISIONS`.
        officer : str
            Who decided.
        note : str
        boxes : list of [row0, col0, row1, col1], optional
            Drawn on the analysed image (pixels, half-open).
        client : str
            Where the request came from.
        shape : (rows, columns), optional
            Boxes must lie inside it.

        Raises
        ------
        DecisionError
            For an unknown decision, no officer, a too long note, bad boxes.
        """
        if decision not in DECISIONS:
            raise DecisionError(f"the decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        row = {
            "decided_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "officer": _text(officer, "officer", _MAX_NAME, required=True),
            "scan": _text(scan, "scan", 500, required=True),
            "scan_id": _text(scan_id, "scan id", 200),
            "verdict_sha256": _text(verdict_sha256, "verdict digest", 64, required=True),
            "nii_verdict": _text(nii_verdict, "verdict", 16),
            "nii_score": None if nii_score is None else float(nii_score),
            "decision": decision,
            "note": _text(note, "note", _MAX_NOTE),
            "boxes": json.dumps(_boxes(boxes, shape)),
            "client": _text(client, "client", 100),
        }
        with self.engine.begin() as connection:
            result = connection.execute(self.table.insert().values(**row))
            identifier = result.inserted_primary_key[0]
        return self._public({"id": int(identifier), **row})

    @staticmethod
    def _public(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {field: row.get(field) for field in EXPORT_FIELDS}
        out["boxes"] = json.loads(out["boxes"] or "[]")
        return out

    def decisions(self, scan: str | None = None) -> list[dict[str, Any]]:
        """Every decision (of one ``scan`` when given), oldest first."""
        query = self.table.select().order_by(self.table.c.id)
        if scan is not None:
            query = query.where(self.table.c.scan == scan)
        with self.engine.connect() as connection:
            return [self._public(dict(row._mapping)) for row in connection.execute(query)]

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last decision of each scan."""
        last: dict[str, dict[str, Any]] = {}
        for decision in self.decisions():
            last[decision["scan"]] = decision
        return last

    def export_csv(self, rows: Iterable[Mapping[str, Any]] | None = None) -> str:
        """The decisions as CSV text (boxes as JSON), header first."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in self.decisions() if rows is None else rows:
            writer.writerow({**row, "boxes": json.dumps(row.get("boxes") or [])})
        return buffer.getvalue()

    def export_json(self, rows: Iterable[Mapping[str, Any]] | None = None) -> str:
        """The decisions as a JSON list, oldest first."""
        return json.dumps(list(self.decisions() if rows is None else rows), indent=2, ensure_ascii=False) + "\n"
