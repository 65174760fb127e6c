"""The prebuilt index: the light single-lookup path, freshness, and streamed bulk answers."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import icsgeo
from icsgeo._index import index_path, lookup_records
from icsgeo.cli import main

from .helpers import mirror_with

pytestmark = pytest.mark.realdata

SAMPLE = ["S1 2HE", "s80 1aa", "CM11AE", "EH1 1YZ", "CF10 1AA", "SW1A 0ZZ", "junk", "", "B29 6XE", "TR21 0HE"]


def test_light_path_answers_exactly_as_the_full_path():
    from icsgeo._assign import _geo, _where, to_records

    light = lookup_records(SAMPLE)
    full = to_records(_where(SAMPLE, _geo(None, None)))
    assert light == full
    assert [r["status"] for r in light][:7] == ["ok", "ok", "ok", "outside_england", "outside_england", "not_found", "invalid"]


def test_single_lookup_imports_no_pandas_geopandas_or_shapely():
    code = ("import sys, io, contextlib, icsgeo.cli\n"
            "with contextlib.redirect_stdout(io.StringIO()): rc = icsgeo.cli.main(['where', 'S1 2HE', '--json'])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'geopandas', 'shapely'))\n"
            "print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "0 []", out.stderr


def test_index_follows_its_inputs(real_data_dir, tmp_path, monkeypatch):
    before = index_path()
    changed = "ons/LSOA21_SICBL24_ICB24_LAD24_EN_LU.csv"  # a re-issued file: same rows, new bytes
    mirror = mirror_with(real_data_dir, tmp_path / "mirror", {changed: lambda b: b + b"\n"})
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(mirror))
    monkeypatch.setenv("ICSGEO_VERIFY", "warn")
    with pytest.warns(UserWarning, match="sha256"):
        after = index_path()
    assert after != before and after.parent == before.parent


def test_bulk_streams_in_batches_and_keeps_order(tmp_path, monkeypatch):
    import icsgeo._bulk as bulk

    monkeypatch.setattr(bulk, "CSV_BLOCK_BYTES", 2_048)  # many small batches
    rows = (SAMPLE * 60)[:500]
    src, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    pd.DataFrame({"n": range(len(rows)), "postcode": rows}).to_csv(src, index=False)
    assert main(["where", "--input", str(src), "--output", str(out)]) == 1
    res = pd.read_parquet(out)
    assert res["n"].astype(int).tolist() == list(range(len(rows)))
    expected = icsgeo.where(rows)["status"].tolist()
    assert res["status"].tolist() == expected


def test_index_build_command(capsys):
    assert main(["index", "build", "--quiet"]) == 0
    assert "index" in capsys.readouterr().err and index_path().is_file()
