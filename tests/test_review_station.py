"""The review station without a browser: the store, the queue, the token, the export."""

from __future__ import annotations

import csv
import io
import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import _review_synthetic as synthetic
import pytest

pytest.importorskip("sqlalchemy", reason="the review extra (SQLAlchemy) is not installed")

from nii.cli import main  # noqa: E402
from nii.review.page import verdict_digest, write_review  # noqa: E402
from nii.review.station import find_scans, queue  # noqa: E402
from nii.review.store import DB_FILE, DecisionError, DecisionStore  # noqa: E402


def _batch(folder):
    """An output folder of three scans (two inspect, one clear) and one error."""
    image, material_map, verdict, manifest = synthetic.build()
    variants = {
        "low": dict(verdict, scan_id="LOW", score=0.6),
        "high": dict(verdict, scan_id="HIGH", score=0.99),
        "clear": dict(verdict, scan_id="CLEAR", verdict="clear", score=0.3, reasons=[], regions=[]),
    }
    for name, data in variants.items():
        out = folder / name
        out.mkdir(parents=True)
        (out / "verdict.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        write_review(out, image=image, material_map=material_map, verdict=data, manifest=manifest)
    (folder / "batch_summary.json").write_text(json.dumps({"results": [
        {"scan": "broken.nxr", "out_dir": str(folder / "broken"), "error": "broken.nxr: truncated header"}]}))
    return folder


def test_queue_puts_inspect_before_clear_then_by_score(tmp_path):
    entries = queue(find_scans(_batch(tmp_path)))
    assert [e.key for e in entries] == ["high", "low", "clear", "broken"]
    assert entries[-1].error and entries[0].verdict_sha256 == verdict_digest((tmp_path / "high" / "verdict.json").read_bytes())


def test_store_is_append_only_and_validates(tmp_path):
    store = DecisionStore.for_output(tmp_path)
    common = dict(scan="s", scan_id="S", verdict_sha256="a" * 64, nii_verdict="inspect", nii_score=0.9)
    first = store.record(**common, decision="physical_inspection", officer="A. Officer", note="lead?",
                         boxes=[[1, 2, 3, 4]], shape=(10, 10))
    second = store.record(**common, decision="release", officer="B. Officer")
    assert [d["id"] for d in store.decisions("s")] == [first["id"], second["id"]]
    assert store.latest()["s"]["decision"] == "release"
    with pytest.raises(DecisionError, match="one of"):
        store.record(**common, decision="shrug", officer="A")
    with pytest.raises(DecisionError, match="officer"):
        store.record(**common, decision="rescan", officer="  ")
    with pytest.raises(DecisionError, match="outside"):
        store.record(**common, decision="rescan", officer="A", boxes=[[0, 0, 11, 5]], shape=(10, 10))
    store.close()
    database = sqlite3.connect(tmp_path / DB_FILE)
    for statement in ("UPDATE decisions SET decision = 'release'", "DELETE FROM decisions"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            database.execute(statement)
    assert database.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2
    database.close()


def test_export_command_writes_csv_and_json(tmp_path, capsys):
    store = DecisionStore.for_output(tmp_path)
    store.record(scan="s", scan_id="S", verdict_sha256="a" * 64, nii_verdict="inspect", nii_score=0.9,
                 decision="rescan", officer="A", note="blurred, 2 × 3 m", boxes=[[1, 2, 3, 4]])
    store.close()
    assert main(["review", str(tmp_path), "--export", str(tmp_path / "d.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "d.csv").read_text(encoding="utf-8"))))
    assert rows[0]["decision"] == "rescan" and json.loads(rows[0]["boxes"]) == [[1, 2, 3, 4]]
    assert rows[0]["note"] == "blurred, 2 × 3 m" and rows[0]["officer"] == "A"
    assert main(["review", str(tmp_path), "--export", str(tmp_path / "d.json")]) == 0
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))[0]["verdict_sha256"] == "a" * 64
    assert main(["review", str(tmp_path), "--export", str(tmp_path / "d.txt")]) == 2
    assert "csv or .json" in capsys.readouterr().err


def test_serving_beyond_the_host_needs_a_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NII_REVIEW_TOKEN", raising=False)
    assert main(["review", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "token" in capsys.readouterr().err
    assert main(["review", str(tmp_path / "missing")]) == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        capsys.readouterr()
        assert main(["review", str(tmp_path), "--port", str(busy.getsockname()[1])]) == 2
        assert "another --port" in capsys.readouterr().err


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class _Client:
    """Requests to a station served on loopback (urllib; no redirects followed)."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(_NoRedirect)

    def request(self, method, path, *, json_body=None, content=None, headers=None):
        data = content.encode("utf-8") if isinstance(content, str) else None
        headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode("utf-8")

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)


@pytest.fixture
def station(tmp_path):
    """Serve the station over a batch folder in a thread: ``start(token=None) -> _Client``."""
    uvicorn = pytest.importorskip("uvicorn", reason="the review extra (uvicorn) is not installed")
    pytest.importorskip("starlette", reason="the review extra (Starlette) is not installed")
    from nii.review.station import build_app

    folder = _batch(tmp_path)
    running = []

    def start(token=None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        store = DecisionStore.for_output(folder)
        server = uvicorn.Server(uvicorn.Config(build_app(folder, store=store, token=token), host="127.0.0.1",
                                               port=port, log_level="error", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "the station did not start"
        running.append((server, thread, store))
        return _Client(port)

    yield start, folder
    for server, thread, store in running:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def test_station_pages_decisions_and_guards(station):
    start, folder = station
    client = start()
    status, _, text = client.get("/")
    assert status == 200
    assert text.index("HIGH") < text.index("LOW") < text.index("CLEAR") < text.index("truncated header")
    status, _, page = client.get("/scan/high/")
    assert status == 200 and "window.NII_STATION" in page
    assert client.get("/scan/high/review_files/high.js")[0] == 200
    assert client.get("/scan/high/review_files/..%2F..%2Fbatch_summary.json")[0] == 404
    assert client.get("/scan/high/secret.txt")[0] == 404
    (folder / "high" / "review_files" / "link.js").symlink_to(folder / "batch_summary.json")
    assert client.get("/scan/high/review_files/link.js")[0] == 404
    digest = verdict_digest((folder / "high" / "verdict.json").read_bytes())
    body = {"officer": "A. Officer", "decision": "physical_inspection", "note": "open it", "boxes": [[49, 149, 57, 159]],
            "verdict_sha256": digest}
    status, _, created = client.post("/api/scans/high/decisions", json_body=body)
    assert status == 201 and json.loads(created)["verdict_sha256"] == digest
    assert client.post("/api/scans/high/decisions", json_body=dict(body, verdict_sha256="0" * 64))[0] == 409
    assert client.post("/api/scans/high/decisions", json_body=dict(body, decision="maybe"))[0] == 422
    assert client.post("/api/scans/high/decisions", content="decision=release",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
    assert client.post("/api/scans/high/decisions", json_body=body, headers={"Origin": "http://evil.example"})[0] == 403
    assert client.post("/api/scans/nope/decisions", json_body=body)[0] == 404
    history = json.loads(client.get("/api/scans/high/decisions")[2])
    assert [d["decision"] for d in history] == ["physical_inspection"]
    assert json.loads(client.get("/api/scans")[2])[0]["last_decision"]["officer"] == "A. Officer"
    assert "physical_inspection" in client.get("/api/decisions.csv")[2]
    # without a token only the loopback host is answered (no DNS rebinding)
    assert client.get("/", headers={"Host": "evil.example:8765"})[0] == 403


def test_token_is_required_on_every_request(station):
    start, _ = station
    client = start(token="s3cret")
    for path in ("/", "/scan/high/", "/scan/high/review_files/high.js", "/api/scans", "/api/decisions.csv"):
        assert client.get(path)[0] == 401, path
    assert client.get("/", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert client.post("/api/scans/high/decisions", json_body={})[0] == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert client.get("/", headers={"Host": "elsewhere.example", "Authorization": "Bearer s3cret"})[0] == 200
    # ?token= once: a cookie from then on, and the token leaves the address
    status, headers, _ = client.get("/scan/high/?token=s3cret")
    assert status == 303 and headers["location"] == "/scan/high/"
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=strict" in headers["set-cookie"]
    assert client.get("/api/scans", headers={"Cookie": cookie})[0] == 200
    assert client.get("/api/scans", headers={"Cookie": "nii_review_token=wrong"})[0] == 401
