"""Faults (issue 6): broken data files, an unwritable cache, a half-written cache, path traversal.

Every scenario runs icsgeo in a fresh process (the CLI, or `icsgeo serve`) against a mirror of the data
folder made of symlinks with one file replaced, so no in-memory state of the test session hides a
fault. Expected: a clear error naming the file (non-zero exit; 503 from the server, /health saying
why), never a traceback, a 500 or a wrong answer.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import icsgeo

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[1]
BROKEN_ID = "lsoa21-sicbl-icb-lad-2024"  # every answer needs it: LSOA -> Sub-ICB Location -> ICB -> LAD


def _env(data_dir: Path, cache_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICSGEO_")}
    return {**env, "ICSGEO_DATA_DIR": str(data_dir), "ICSGEO_CACHE_DIR": str(cache_dir), "ICSGEO_OFFLINE": "1",
            "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}


def _icsgeo(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icsgeo", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _mirror(real: Path, dest: Path, fault: str) -> str:
    """A copy of the data folder made of symlinks, with BROKEN_ID's file missing, truncated or altered."""
    for src in real.rglob("*"):
        if src.is_file():
            link = dest / src.relative_to(real)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src)
    rel = icsgeo.catalogue().get(BROKEN_ID).file
    target = dest / rel
    data = (real / rel).read_bytes()
    target.unlink()
    if fault == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif fault == "wrong hash":  # same size, one digit changed
        i = data.index(b"1", len(data) // 2)
        target.write_bytes(data[:i] + b"2" + data[i + 1:])
    return rel


@pytest.fixture(params=["missing", "truncated", "wrong hash"])
def broken(request, real_data_dir, tmp_path):
    rel = _mirror(real_data_dir, tmp_path / "data", request.param)
    return request.param, rel, _env(tmp_path / "data", tmp_path / "cache")


def _no_traceback(*texts: str) -> None:
    for t in texts:
        assert "Traceback" not in t, t[-3000:]


# ------------------------------------------------------------------ a broken data file

def test_broken_file_cli_fails_clearly_naming_the_file(broken, tmp_path):
    fault, rel, env = broken
    name = Path(rel).name
    r = _icsgeo(env, "where", "S1 2HE")
    _no_traceback(r.stdout, r.stderr)
    assert r.returncode != 0 and name in r.stderr and r.stdout.strip() == "", r.stderr
    assert ("not found" in r.stderr) if fault == "missing" else ("sha256" in r.stderr and "ICSGEO_VERIFY" in r.stderr)
    # the bulk path too: no output file, no half-written one
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("postcode\nS1 2HE\nxx\n")
    r = _icsgeo(env, "where", "--input", str(src), "--output", str(out))
    _no_traceback(r.stdout, r.stderr)
    assert r.returncode != 0 and name in r.stderr and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    # and `icsgeo data` reports it
    r = _icsgeo(env, "data", "--no-rows")
    assert r.returncode == (0 if fault == "missing" else 1)
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith(BROKEN_ID))
    assert (" NO " in line) and ("verif" in r.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broken_file_server_reports_it_and_answers_503(broken):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    fault, rel, env = broken
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "icsgeo", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            deadline = time.monotonic() + 300
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    health = http.get("/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.3)
            h = health.json()
            assert health.status_code == 503 and h["status"] == "unavailable" and h["ready"] is False
            assert Path(rel).name in h["error"] or BROKEN_ID in h["error"]
            d = h["data"]
            if fault == "missing":
                assert BROKEN_ID in d["missing"] and d["present"] == d["datasets"] - 1
            else:
                assert [f["id"] for f in d["failing"]] == [BROKEN_ID] and "sha256" in d["failing"][0]["problem"]
            for r in (http.get("/postcodes/S1%202HE"), http.post("/postcodes", json={"postcodes": ["S1 2HE", "xx"]}),
                      http.get("/points", params={"lat": 53.38, "lon": -1.47}), http.get("/systems"),
                      http.get("/systems/QF7/places")):
                assert r.status_code == 503, r.text
                body = r.json()
                assert body["status"] == "unavailable" and Path(rel).name in body["detail"]
            # what needs no data still works, and a bad query is still the client's error
            assert http.get("/postcodes/not-a-postcode").status_code in (422, 503)
            assert http.get("/postcodes/S1%202HE", params={"system": "../../etc/passwd"}).status_code == 422
            assert http.get("/openapi.json").status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=60)[0]
    _no_traceback(out)


# ------------------------------------------------------------------ an unwritable cache

def test_unwritable_cache_still_gives_correct_answers(real_data_dir, tmp_path):
    """ICSGEO_CACHE_DIR under a regular file: mkdir fails even for root. Everything is built in memory."""
    (tmp_path / "a-file").write_text("not a folder")
    env = _env(real_data_dir, tmp_path / "a-file" / "cache")
    r = _icsgeo(env, "where", "S1 2HE", "CM1 1AE", "--json")
    _no_traceback(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = json.loads(r.stdout)
    assert a["system"]["ods_code"] == "QF7" and a["place"]["name"] == "Sheffield" and a["neighbourhood"]["code"].startswith("U")
    assert b["system"]["code"] == "E54000066"
    assert (tmp_path / "a-file").read_text() == "not a folder"


# ------------------------------------------------------------------ a half-written cache

def _link_tree(src: Path, dest: Path) -> None:
    """Hard links (no copying, no risk to the session cache: files we damage are replaced, not written)."""
    for p in src.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            q = dest / p.relative_to(src)
            q.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(p, q)
            except OSError:
                q.write_bytes(p.read_bytes())


def _damage(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()  # a new inode: the session cache's file is untouched
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("entry", ["cli", "python"])
def test_half_written_cache_is_ignored_and_rebuilt(real_data_dir, session_cache, tmp_path, entry):
    icsgeo.where(["S1 2HE"])  # the session cache holds this code's layers for the default vintage
    cache = tmp_path / "cache"
    _link_tree(session_cache, cache)
    damaged = [p for p in cache.glob("index/answers-2026-*.parquet")] + [p for p in cache.glob("derived/lsoa-base-*.parquet")]
    assert damaged, "no cached layers to damage"
    for p in damaged:
        _damage(p)
    stamps = {p: p.stat().st_mtime_ns for p in damaged}
    strays = [cache / "derived" / ".lsoa-base-0123456789abcdef0123.k2j3h4.tmp.parquet",
              cache / "index" / ".answers-2026-0123456789abcdef0123.x9y8z7.tmp.parquet"]
    for s in strays:
        s.parent.mkdir(parents=True, exist_ok=True)
        s.write_bytes(b"PAR1\x00half")
    env = _env(real_data_dir, cache)
    if entry == "cli":
        r = _icsgeo(env, "where", "S1 2HE", "--json")
        out = r.stdout
    else:
        code = "import json, icsgeo; print(json.dumps(icsgeo.to_records(icsgeo.where(['S1 2HE']))))"
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        out = r.stdout
    _no_traceback(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr[-3000:]
    [a] = json.loads(out)
    assert a["status"] == "ok" and a["system"]["ods_code"] == "QF7" and a["place"]["name"] == "Sheffield"
    # nothing half-written is left: the vintage's index and every layer this run wrote read whole (a
    # damaged layer it never needed stays as it was), and no temporary file remains
    import pyarrow.parquet as pq

    indexes = list(cache.glob("index/answers-2026-*.parquet"))
    assert indexes
    for p in indexes + [p for p in damaged if p.exists() and p.stat().st_mtime_ns != stamps[p]]:
        pq.read_metadata(p)  # raises on a truncated file
    left = [p.name for p in cache.rglob(".*") if ".tmp" in p.name]
    assert left == [], f"half-written temporary files left in the cache: {left}"


# ------------------------------------------------------------------ no path from a request to the file system

@pytest.mark.parametrize("params", [{"system": "../../etc/passwd"}, {"system": "/etc/passwd"}, {"system": "x.yaml"},
                                    {"vintage": "../../etc/passwd"}, {"vintage": "2026/../../x"}])
def test_no_path_traversal_through_parameters(params):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from icsgeo.server import create_app

    with TestClient(create_app(warm=False)) as c:
        for r in (c.get("/postcodes/S1%202HE", params=params), c.get("/systems", params=params),
                  c.post("/postcodes", params=params, json={"postcodes": ["S1 2HE"]})):
            assert r.status_code == 422 and r.json()["status"] == "invalid"
        assert c.get("/systems/..%2F..%2Fetc%2Fpasswd/places").status_code == 404
