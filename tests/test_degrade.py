"""Tiers degrade independently: a missing input costs only the tiers that read it, is said once with
the file and where to get it, and what is built without it is never stored as the complete answer.

Each scenario runs icsgeo in a fresh process against a mirror of the data folder made of symlinks with
some files left out, and a cache made of hard links to the session's (so only what the missing file
changes is rebuilt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import icsgeo

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[1]


def _mirror_without(real: Path, dest: Path, prefix: str) -> Path:
    for src in real.rglob("*"):
        if src.is_file() and not src.name.startswith(prefix):
            link = dest / src.relative_to(real)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src)
    return dest


def _link_tree(src: Path, dest: Path) -> None:
    for p in src.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            q = dest / p.relative_to(src)
            q.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, q)


def _run(data: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICSGEO_")}
    env.update(ICSGEO_DATA_DIR=str(data), ICSGEO_CACHE_DIR=str(cache), ICSGEO_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "icsgeo", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def test_without_registrations_the_other_tiers_answer_and_neighbourhoods_are_modelled(real_data_dir, session_cache, tmp_path):
    icsgeo.where(["S1 2HE"])  # the complete index of the default vintage is in the session cache
    complete = {p.name for p in session_cache.glob("index/answers-2026-*.parquet")}
    assert complete
    data = _mirror_without(real_data_dir, tmp_path / "data", "gp-reg-pat-prac-lsoa")
    cache = tmp_path / "cache"
    _link_tree(session_cache, cache)

    r = _run(data, cache, "where", "S1 2HE", "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    [a] = json.loads(r.stdout)
    assert a["status"] == "ok" and a["system"]["code"] == "E54000061" and a["place"]["name"] == "Sheffield"
    assert a["sicbl"]["ods_code"] == "03N" and a["lad"]["code"] == "E08000039" and a["lsoa"]["code"] == "E01033264"
    assert a["neighbourhood"]["method"] == "modelled" and a["neighbourhood"]["code"].startswith("U")
    # the message names the missing file and where to get it, once
    national = icsgeo.catalogue().get(icsgeo.catalogue().role("registrations").datasets[0])
    assert national.file in r.stderr and national.landing in r.stderr
    assert r.stderr.count("registrations unavailable") == 1

    # the degraded index is stored under its own inputs, never as the complete one
    degraded = {p.name for p in cache.glob("index/answers-2026-*.parquet")} - complete
    assert len(degraded) == 1
    import pyarrow.parquet as pq

    notes = json.loads(pq.read_schema(cache / "index" / degraded.pop()).metadata[b"icsgeo.notes"])
    assert "modelled" in notes["neighbourhood"] and national.file in notes["neighbourhood"]

    # with the file back, the same cache answers from registrations again, and says nothing is missing
    r = _run(real_data_dir, cache, "where", "S1 2HE", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    [b] = json.loads(r.stdout)
    assert b["neighbourhood"]["method"] == "registrations" and b["neighbourhood"]["code"] == "U39345"
    assert "unavailable" not in r.stderr


def test_without_practice_maps_neighbourhoods_and_the_2026_systems_are_null_with_a_reason(real_data_dir, session_cache, tmp_path):
    icsgeo.where(["S1 2HE"])
    data = _mirror_without(real_data_dir, tmp_path / "data", "gp-reg-pat-prac-map")
    cache = tmp_path / "cache"
    _link_tree(session_cache, cache)
    r = _run(data, cache, "where", "S1 2HE", "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    [a] = json.loads(r.stdout)
    assert a["status"] == "ok" and a["neighbourhood"] is None and a["system"] is None  # 2026 links places by the map
    assert a["place"]["name"] == "Sheffield" and a["sicbl"]["ods_code"] == "03N" and a["lsoa"]["code"] == "E01033264"
    practice_map = icsgeo.catalogue().get(icsgeo.catalogue().vintage().id("practice_map"))
    assert practice_map.file in r.stderr and "neighbourhood" in r.stderr and "system" in r.stderr
    # 2023 links places to systems by an ONS lookup: its systems need no practice map
    r = _run(data, cache, "where", "S1 2HE", "--json", "--vintage", "2023")
    [b] = json.loads(r.stdout)
    assert b["system"]["code"] == "E54000061" and b["neighbourhood"] is None
