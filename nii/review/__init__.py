"""The officer's review: a page per scan (``review.html``) and a station for a day's batch.

* :mod:`nii.review.page` — :func:`write_review` writes ``review.html`` and its layers
  beside a verdict (``nii inspect`` calls it for every scan); the page opens from disk.
* :mod:`nii.review.tiles` — the layers as data the page decodes (16-bit codes in tiles).
* :mod:`nii.review.store` — the officers' decisions, append-only, in SQLite (default) or
  PostgreSQL through SQLAlchemy (the ``review`` extra).
* :mod:`nii.review.station` — ``nii review OUT_DIR``: the queue, the pages and the
  decision form over HTTP (Starlette and uvicorn, the ``review`` extra).

Only the page and the tiles are imported by the inspection; the station and the store
need the ``review`` extra (``pip install 'nii[review]'``).
"""

from __future__ import annotations

from nii.review.page import ASSETS_DIR, REVIEW_FILE, write_review, write_review_page

__all__ = ["REVIEW_FILE", "ASSETS_DIR", "write_review", "write_review_page"]
