"""``nii review OUT_DIR``: the review station over a batch's output (Starlette + uvicorn).

* ``GET /`` — the queue: every scan of the output folder, ``inspect`` before ``clear``,
  then by score (highest first), with its reasons and its last decision; scans the
  batch could not inspect are listed after them.
* ``GET /scan/KEY/`` — the scan's review page (``review.html``) with the decision
  form; ``GET /scan/KEY/review_files/*.js``, ``evidence.png``, ``verdict.json``.
* ``POST /api/scans/KEY/decisions`` — record a decision (JSON: ``officer``,
  ``decision``, ``note``, ``boxes``, ``verdict_sha256``); ``GET`` lists them.
* ``GET /api/scans`` — the queue as JSON; ``GET /api/decisions.csv`` and
  ``/api/decisions.json`` — the export.

It binds to 127.0.0.1 by default. With a token (``--token`` or ``NII_REVIEW_TOKEN``)
every request must carry it (``Authorization: Bearer TOKEN``, the ``nii_review_token``
cookie, or ``?token=TOKEN`` once, which sets the cookie); others get 401. Serving
beyond this host needs a token. Without a token, only requests addressed to the
loopback host are answered (a page elsewhere cannot reach the station through DNS
rebinding), and a decision must be posted as JSON from the station's own pages.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from nii.errors import MissingExtraError, NiiError
from nii.review.page import ASSETS_DIR, REVIEW_FILE, STATION_MARKER, verdict_digest
from nii.review.store import DECISIONS, DecisionError, DecisionStore

__all__ = ["TOKEN_ENV", "TOKEN_COOKIE", "ScanEntry", "find_scans", "queue", "build_app", "serve", "is_loopback"]

TOKEN_ENV = "NII_REVIEW_TOKEN"
TOKEN_COOKIE = "nii_review_token"
_ROOT_KEY = "_"
_SUMMARY_FILE = "batch_summary.json"
_VERDICT_FILE = "verdict.json"
_EVIDENCE_FILE = "evidence.png"
_MAX_BODY = 64 * 1024


def _starlette() -> Any:
    try:
        import starlette  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("the review station needs Starlette and uvicorn: install them with  pip install 'nii[review]'") from exc


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ScanEntry:
    """One scan of the output folder.

    Parameters
    ----------
    key : str
        Its folder relative to the output folder (``_`` for the folder itself).
    folder : pathlib.Path
    verdict : dict or None
        ``verdict.json`` (None when the scan could not be inspected).
    verdict_sha256 : str
    error : str
        Why the batch could not inspect it.
    """

    key: str
    folder: Path
    verdict: dict[str, Any] | None
    verdict_sha256: str = ""
    error: str = ""

    @property
    def scan_id(self) -> str:
        return str((self.verdict or {}).get("scan_id", "") or self.folder.name)

    @property
    def word(self) -> str:
        return str((self.verdict or {}).get("verdict", "") or "")

    @property
    def score(self) -> float | None:
        value: Any = (self.verdict or {}).get("score")
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    @property
    def has_page(self) -> bool:
        return (self.folder / REVIEW_FILE).is_file()

    def shape(self) -> tuple[int, int] | None:
        """The analysed image's rows × columns, from the review page (None without one)."""
        meta = _page_meta(self.folder / REVIEW_FILE)
        shape = meta.get("shape") if meta else None
        return (int(shape[0]), int(shape[1])) if isinstance(shape, list) and len(shape) == 2 else None


def _page_meta(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    start = text.find('<script id="nii-meta" type="application/json">')
    if start < 0:
        return None
    start = text.index(">", start) + 1
    end = text.index("</script>", start)
    try:
        return json.loads(text[start:end])
    except json.JSONDecodeError:
        return None


def _read_verdict(folder: Path) -> tuple[dict[str, Any] | None, str]:
    path = folder / _VERDICT_FILE
    try:
        data = path.read_bytes()
        verdict = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, ""
    if not isinstance(verdict, dict) or verdict.get("verdict") not in ("clear", "inspect"):
        return None, ""
    return verdict, verdict_digest(data)


def find_scans(out_dir: str | os.PathLike) -> list[ScanEntry]:
    """Every scan of an output folder: ``OUT/verdict.json`` and ``OUT/*/verdict.json``.

    Scans listed with an error in ``OUT/batch_summary.json`` (and without a verdict)
    are included with their error. Symbolic links are not followed.
    """
    root = Path(out_dir)
    if not root.is_dir():
        raise NiiError(f"{root}: not a folder; give the --out folder of nii inspect")
    entries: dict[str, ScanEntry] = {}
    candidates = [(root, _ROOT_KEY)] + [
        (child, child.name) for child in sorted(root.iterdir()) if child.is_dir() and not child.is_symlink()
    ]
    for folder, key in candidates:
        if (folder / _VERDICT_FILE).is_symlink():
            continue
        verdict, digest = _read_verdict(folder)
        if verdict is not None:
            entries[key] = ScanEntry(key, folder, verdict, digest)
    try:
        summary = json.loads((root / _SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        summary = {}
    results = summary.get("results") if isinstance(summary, dict) else None
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict) or not result.get("error"):
            continue
        folder = Path(str(result.get("out_dir") or ""))
        key = folder.name or Path(str(result.get("scan", "?"))).stem
        if key not in entries:
            entries[key] = ScanEntry(key, root / key, None, "", str(result.get("error")))
    return list(entries.values())


def queue(entries: list[ScanEntry]) -> list[ScanEntry]:
    """The review order: ``inspect`` before ``clear``, then by score (highest first); errors last."""
    def order(entry: ScanEntry) -> tuple[int, float, str]:
        rank = 0 if entry.word == "inspect" else (1 if entry.word == "clear" else 2)
        return rank, -(entry.score if entry.score is not None else -1.0), entry.scan_id

    return sorted(entries, key=order)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _scan_url(key: str) -> str:
    return f"/scan/{quote(key, safe='')}/"


def _queue_page(entries: list[ScanEntry], latest: Mapping[str, Mapping[str, Any]], out_dir: Path) -> str:
    rows = []
    for rank, entry in enumerate(entries, start=1):
        last = latest.get(entry.key)
        decided = ""
        if last:
            stale = "" if last.get("verdict_sha256") == entry.verdict_sha256 else " (on another verdict)"
            decided = f'{_e(last["decision"].replace("_", " "))} · {_e(last["officer"])} · {_e(last["decided_at"][:16])}{stale}'
        reasons = ", ".join(dict.fromkeys(str(r.get("code", "")) for r in (entry.verdict or {}).get("reasons") or []))
        score = "" if entry.score is None else f"{entry.score:.2f}"
        warnings = len((entry.verdict or {}).get("warnings") or [])
        if entry.verdict is None:
            rows.append(f'<tr class="error"><td>{rank}</td><td class="word">error</td><td></td><td>{_e(entry.key)}</td>'
                        f'<td colspan="3">{_e(entry.error)}</td></tr>')
            continue
        link = _scan_url(entry.key)
        page = "" if entry.has_page else ' <span class="nopage">(no review page: rerun with --no-resume)</span>'
        rows.append(
            f'<tr class="{_e(entry.word)}" data-key="{_e(entry.key)}"><td>{rank}</td>'
            f'<td class="word">{_e(entry.word.upper())}</td><td>{score}</td>'
            f'<td><a href="{_e(link)}">{_e(entry.scan_id)}</a>{page}</td><td>{_e(reasons)}</td>'
            f'<td>{"⚠ " + str(warnings) if warnings else ""}</td><td class="decided">{decided}</td></tr>'
        )
    done = sum(1 for entry in entries if entry.key in latest)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>NII review station · {_e(out_dir.name)}</title>
<style>
body {{ font: 14px/1.4 "DejaVu Sans", sans-serif; margin: 0; background: #f4f4f4; }}
header {{ background: #263238; color: #fff; padding: 10px 16px; display: flex; gap: 24px; align-items: baseline; }}
header h1 {{ font-size: 20px; margin: 0; }}
table {{ border-collapse: collapse; margin: 12px 16px; background: #fff; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 5px 10px; text-align: left; vertical-align: top; }}
tr.inspect td.word {{ color: #fff; background: #c62828; font-weight: 700; }}
tr.clear td.word {{ color: #fff; background: #2e7d32; font-weight: 700; }}
tr.error td.word {{ color: #fff; background: #555; }}
.nopage {{ color: #777; font-size: 12px; }}
a {{ color: #1565c0; }}
</style></head><body>
<header><h1>Review queue</h1><span>{_e(out_dir)}</span><span>{len(entries)} scans · {done} decided</span>
<span><a style="color:#fff" href="/api/decisions.csv">decisions.csv</a> · <a style="color:#fff" href="/api/decisions.json">decisions.json</a></span></header>
<table id="queue"><tr><th>#</th><th>verdict</th><th>score</th><th>scan</th><th>reasons</th><th>warnings</th><th>last decision</th></tr>
{"".join(rows)}
</table></body></html>
"""


def build_app(out_dir: str | os.PathLike, *, store: DecisionStore, token: str | None = None,
              officer: str = "", port: int | None = None) -> Any:
    """Return the station's ASGI application (Starlette).

    Parameters
    ----------
    out_dir : path-like
        The output folder of ``nii inspect`` (one scan or a batch).
    store : DecisionStore
        Where decisions are recorded.
    token : str, optional
        When set, every request must carry it; otherwise only loopback ``Host``
        headers are answered.
    officer : str
        Default officer name offered by the decision form.
    port : int, optional
        The port served (for the loopback ``Host`` check).
    """
    _starlette()
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        FileResponse,
        HTMLResponse,
        JSONResponse,
        RedirectResponse,
        Response,
    )
    from starlette.routing import Route

    root = Path(out_dir).resolve()
    expected = token or None

    def entries() -> list[ScanEntry]:
        return queue(find_scans(root))

    def entry_of(key: str) -> ScanEntry | None:
        for entry in find_scans(root):
            if entry.key == key and entry.verdict is not None:
                return entry
        return None

    async def queue_page(request: Request) -> Response:
        return HTMLResponse(_queue_page(entries(), store.latest(), root))

    async def queue_json(request: Request) -> Response:
        latest = store.latest()
        return JSONResponse([
            {"key": e.key, "scan_id": e.scan_id, "verdict": e.word or None, "score": e.score,
             "reasons": [r.get("code") for r in (e.verdict or {}).get("reasons") or []],
             "verdict_sha256": e.verdict_sha256, "url": _scan_url(e.key) if e.verdict else None,
             "error": e.error or None, "last_decision": latest.get(e.key)}
            for e in entries()
        ])

    async def scan_page(request: Request) -> Response:
        key = unquote(request.path_params["key"])
        ordered = [e for e in entries() if e.verdict is not None]
        keys = [e.key for e in ordered]
        if key not in keys:
            return JSONResponse({"error": f"no scan {key!r} in this output folder"}, status_code=404)
        entry = ordered[keys.index(key)]
        index = keys.index(key)
        settings = {
            "key": key,
            "decide_url": f"/api/scans/{quote(key, safe='')}/decisions",
            "history_url": f"/api/scans/{quote(key, safe='')}/decisions",
            "queue_url": "/",
            "previous_url": _scan_url(keys[index - 1]) if index > 0 else None,
            "next_url": _scan_url(keys[index + 1]) if index + 1 < len(keys) else None,
            "officer": officer,
            "decisions": list(DECISIONS),
            "verdict_sha256": entry.verdict_sha256,
        }
        if not entry.has_page:
            return HTMLResponse(
                f'<!DOCTYPE html><meta charset="utf-8"><link rel="icon" href="data:,"><title>{_e(entry.scan_id)}</title>'
                f'<p>This scan has no review page (it was inspected by an older NII, or resumed). '
                f'Rerun <code>nii inspect … --no-resume</code> to write it. <a href="evidence.png">evidence.png</a> · '
                f'<a href="verdict.json">verdict.json</a> · <a href="/">queue</a></p>')
        text = (entry.folder / REVIEW_FILE).read_text(encoding="utf-8")
        script = json.dumps(settings).replace("<", "\\u003c")
        text = text.replace(STATION_MARKER, f"<script>window.NII_STATION = {script};</script>", 1)
        return HTMLResponse(text, headers={"Cache-Control": "no-store"})

    async def scan_file(request: Request) -> Response:
        key = unquote(request.path_params["key"])
        name = request.path_params["name"]
        entry = entry_of(key)
        allowed = name in (_VERDICT_FILE, _EVIDENCE_FILE) or (
            name.startswith(ASSETS_DIR + "/") and name.count("/") == 1 and name.endswith(".js") and ".." not in name)
        if entry is None or not allowed:
            return JSONResponse({"error": "not found"}, status_code=404)
        path = entry.folder / name
        try:
            resolved = path.resolve(strict=True)
        except OSError:
            return JSONResponse({"error": "not found"}, status_code=404)
        if path.is_symlink() or entry.folder.resolve() not in resolved.parents:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(resolved)

    async def decisions_of(request: Request) -> Response:
        key = unquote(request.path_params["key"])
        if request.method == "GET":
            return JSONResponse(store.decisions(key))
        entry = entry_of(key)
        if entry is None:
            return JSONResponse({"error": f"no scan {key!r} in this output folder"}, status_code=404)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "post the decision as application/json"}, status_code=415)
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
            return JSONResponse({"error": "a decision is posted from the station's own pages"}, status_code=403)
        body = await request.body()
        if len(body) > _MAX_BODY:
            return JSONResponse({"error": "the decision is too large"}, status_code=413)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": "the body is a JSON object"}, status_code=400)
        claimed = data.get("verdict_sha256")
        if claimed and claimed != entry.verdict_sha256:
            return JSONResponse({"error": "the verdict changed since this page was opened; reload it"}, status_code=409)
        try:
            row = store.record(
                scan=key, scan_id=entry.scan_id, verdict_sha256=entry.verdict_sha256, nii_verdict=entry.word,
                nii_score=entry.score, decision=str(data.get("decision", "")), officer=str(data.get("officer", "")),
                note=str(data.get("note", "") or ""), boxes=data.get("boxes"),
                client=request.client.host if request.client else "", shape=entry.shape(),
            )
        except DecisionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(row, status_code=201)

    async def export_csv(request: Request) -> Response:
        return Response(store.export_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="decisions.csv"'})

    async def export_json(request: Request) -> Response:
        return Response(store.export_json(), media_type="application/json")

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", queue_page),
        Route("/favicon.ico", no_icon),
        Route("/api/scans", queue_json),
        Route("/api/scans/{key}/decisions", decisions_of, methods=["GET", "POST"]),
        Route("/api/decisions.csv", export_csv),
        Route("/api/decisions.json", export_json),
        Route("/scan/{key}/", scan_page),
        Route("/scan/{key}/{name:path}", scan_file),
    ]
    app = Starlette(routes=routes)
    loopback_hosts = {"127.0.0.1", "localhost", "[::1]", "::1"}

    def refuse(status: int, message: str) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="nii-review"'} if status == 401 else {}
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request = Request(scope)
        if expected is None:
            host = request.headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in loopback_hosts:
                await refuse(403, "this station answers only on this machine; serve it with a token to reach it from elsewhere")(scope, receive, send)
                return
            await app(scope, receive, send)
            return
        given = ""
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        given = given or request.cookies.get(TOKEN_COOKIE, "")
        from_query = request.query_params.get("token", "")
        if not given and from_query:
            given = from_query
        if not given or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            await refuse(401, "a valid token is required (Authorization: Bearer TOKEN, or ?token=TOKEN once)")(scope, receive, send)
            return
        if from_query and request.method == "GET":
            # keep the token out of the address bar and the history: a cookie from now on
            target = request.url.remove_query_params("token")
            response = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, expected, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return guard


def serve(out_dir: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          db_url: str | None = None, officer: str = "", log_level: str = "warning") -> None:
    """Serve the review station until interrupted (see :func:`build_app`).

    Raises
    ------
    NiiError
        When ``host`` is not this machine and no token is set.
    """
    if not is_loopback(host) and not token:
        raise NiiError(f"serving the review station on {host} (beyond this machine) needs a token: "
                       f"set --token or {TOKEN_ENV}")
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("the review station needs uvicorn: install it with  pip install 'nii[review]'") from exc
    import socket

    try:  # uvicorn exits with status 1 on a busy port: say it in one sentence, exit 2
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port)))
    except OSError as exc:
        raise NiiError(f"cannot serve the review station on {host}:{port} ({exc.strerror or exc}); choose another --port") from exc
    store = DecisionStore.for_output(out_dir, db_url)
    try:
        app = build_app(out_dir, store=store, token=token, officer=officer, port=port)
        uvicorn.run(app, host=host, port=int(port), log_level=log_level, access_log=False)
    finally:
        store.close()
