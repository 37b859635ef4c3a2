"""``nii review OUT_DIR``: the review station over the output of ``nii inspect``.

::

    nii review OUT_DIR [--host 127.0.0.1] [--port 8765] [--token TOKEN] [--db URL] [--officer NAME]
    nii review OUT_DIR --export decisions.csv      # or .json: write the decisions and exit

Serves the queue (``inspect`` before ``clear``, then by score), each scan's review page
and the officer's decision form; decisions go to ``OUT_DIR/decisions.sqlite`` (or the
SQLAlchemy URL of ``--db``), append-only. Binds to 127.0.0.1; another ``--host`` needs
a token (``--token`` or the ``NII_REVIEW_TOKEN`` environment variable), and with a token
every request without it is refused. Needs the ``review`` extra.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``review`` subcommand."""
    parser = subparsers.add_parser(
        "review",
        help="review station: the queue of a batch's verdicts and the officers' decisions",
        description=(
            "Serve the review station over an output folder of nii inspect: the queue (inspect "
            "before clear, then by score), each scan's review page, and the officer's decision "
            "(release, physical inspection, rescan, a note, boxes) recorded append-only in "
            "OUT_DIR/decisions.sqlite or the database of --db. --export writes the decisions "
            "as CSV or JSON and exits. Needs the review extra (pip install 'nii[review]')."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="the --out folder of nii inspect (one scan or a batch)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--token", default=None,
                        help="token every request must carry (default: the NII_REVIEW_TOKEN environment variable)")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="SQLAlchemy database URL (default sqlite:///OUT_DIR/decisions.sqlite; "
                             "PostgreSQL: postgresql+psycopg://USER@HOST/DB)")
    parser.add_argument("--officer", default=os.environ.get("USER", ""), help="officer name the form offers")
    parser.add_argument("--export", metavar="FILE", default=None,
                        help="write the decisions to FILE (.csv or .json) and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve the station, or export its decisions; return the exit status."""
    from nii.errors import NiiError
    from nii.review.station import TOKEN_ENV, find_scans, serve

    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise NiiError(f"{out_dir}: not a folder; give the --out folder of nii inspect")
    if args.export:
        from nii.io_utils import atomic_write_text
        from nii.review.store import DecisionStore

        target = Path(args.export)
        suffix = target.suffix.lower()
        if suffix not in (".csv", ".json"):
            raise NiiError(f"{target}: --export writes .csv or .json, not {suffix or 'a file without suffix'}")
        store = DecisionStore.for_output(out_dir, args.db)
        try:
            rows = store.decisions()
            atomic_write_text(target, store.export_csv(rows) if suffix == ".csv" else store.export_json(rows))
        finally:
            store.close()
        print(f"wrote {len(rows)} decision(s) to {target}")
        return 0
    if not 0 < args.port < 65536:
        raise NiiError(f"--port must be 1..65535, got {args.port}")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    scans = find_scans(out_dir)
    print(f"review station: {len(scans)} scan(s) of {out_dir} on http://{args.host}:{args.port}/"
          + (" (token required)" if token else ""), flush=True)
    serve(out_dir, host=args.host, port=args.port, token=token, db_url=args.db, officer=args.officer)
    return 0
