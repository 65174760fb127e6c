"""Shared fixtures. Real-data tests read ``$ICSGEO_DATA_DIR`` in place (CI sets it to ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_DATA = os.environ.get("ICSGEO_DATA_DIR")


def pytest_configure(config):
    """One derived-layer cache for the whole session (tests and doctests alike), never the user's own.
    Set ICSGEO_TEST_CACHE_DIR to keep it between runs."""
    keep = os.environ.get("ICSGEO_TEST_CACHE_DIR")
    if keep:
        os.environ["ICSGEO_CACHE_DIR"] = keep
    else:
        import tempfile

        os.environ["ICSGEO_CACHE_DIR"] = tempfile.mkdtemp(prefix="icsgeo-test-cache-")


def pytest_report_header(config):
    from icsgeo.versions import versions

    v = versions()
    keys = ("icsgeo", "geopandas", "shapely", "pyogrio", "pyproj", "GEOS", "GDAL", "PROJ", "OSTN15 grid")
    return ["icsgeo: " + ", ".join(f"{k} {v.get(k)}" for k in keys), f"ICSGEO_DATA_DIR: {REAL_DATA or '(unset)'}"]


def _needs_data(item) -> bool:
    """A test marked ``realdata``, or a doctest of a module that declares ``_DOCTEST_NEEDS_DATA``."""
    if "realdata" in item.keywords:
        return True
    dtest = getattr(item, "dtest", None)  # a doctest item
    return bool(dtest is not None and dtest.globs.get("_DOCTEST_NEEDS_DATA"))


def pytest_collection_modifyitems(config, items):
    if REAL_DATA and Path(REAL_DATA).is_dir():
        return
    skip = pytest.mark.skip(reason="ICSGEO_DATA_DIR is not set to the data mirror")
    for item in items:
        if _needs_data(item):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    return Path(REAL_DATA).resolve()


@pytest.fixture(scope="session")
def session_cache() -> Path:
    """The session's derived-layer cache (see pytest_configure): each real file is parsed once per run."""
    return Path(os.environ["ICSGEO_CACHE_DIR"])


@pytest.fixture(autouse=True)
def _isolated_settings(request, monkeypatch, tmp_path, session_cache):
    """Every test gets its own cache (real-data tests share one) and a known verification mode."""
    realdata = "realdata" in request.keywords
    monkeypatch.setenv("ICSGEO_CACHE_DIR", str(session_cache if realdata else tmp_path / "cache"))
    monkeypatch.setenv("ICSGEO_CONFIG", str(tmp_path / "no-config.toml"))  # never the user's own config file
    monkeypatch.delenv("ICSGEO_OFFLINE", raising=False)
    monkeypatch.delenv("ICSGEO_VERIFY", raising=False)
    if realdata:
        monkeypatch.setenv("ICSGEO_DATA_DIR", str(Path(REAL_DATA).resolve()))
    else:
        empty = tmp_path / "data"
        empty.mkdir()
        monkeypatch.setenv("ICSGEO_DATA_DIR", str(empty))
