"""The prebuilt index: the light single-lookup path, freshness, and streamed bulk answers."""

import subprocess
import sys

import pandas as pd
import pytest

import icsgeo
from icsgeo import index_path, lookup
from icsgeo.cli import main

from .helpers import mirror_with

pytestmark = pytest.mark.realdata

SAMPLE = ["S1 2HE", "s80 1aa", "CM11AE", "EH1 1YZ", "CF10 1AA", "SW1A 0ZZ", "junk", "", "B29 6XE", "TR21 0HE"]


#: What the SAMPLE postcodes are, checked by hand against the files (status, system, place, LAD).
EXPECTED = [
    ("ok", "E54000061", "Sheffield", "E08000039"),               # S1 2HE: Sheffield city centre
    ("ok", "E54000060", "Bassetlaw", "E07000171"),               # S80 1AA: Worksop (Nottinghamshire ICB since 2022)
    ("ok", "E54000066", "Essex ICB - 06Q", "E07000070"),         # CM1 1AE: Chelmsford (NHS Essex ICB from April 2026)
    ("outside_england", None, None, None),                       # EH1 1YZ: Edinburgh
    ("outside_england", None, None, None),                       # CF10 1AA: Cardiff
    ("not_found", None, None, None),                             # SW1A 0ZZ: well-formed, no such postcode
    ("invalid", None, None, None), ("invalid", None, None, None),
    ("ok", "E54000055", "Birmingham and Solihull ICB - 15E", "E08000025"),  # B29 6XE: two LADs, so its official name
    ("ok", "E54000036", "Cornwall", "E06000053"),                # TR21 0HE: St Mary's, Isles of Scilly
]


def test_single_lookups_give_the_known_answers_on_both_paths():
    light = lookup(SAMPLE)  # Parquet row groups, pyarrow only
    frame = icsgeo.where(SAMPLE)  # the whole index in memory, Arrow take
    for rec, (_, row), (status, system, place, lad) in zip(light, frame.iterrows(), EXPECTED):
        assert rec["status"] == row["status"] == status, rec
        assert (rec["system"] or {}).get("code") == system and (rec["place"] or {}).get("name") == place, rec
        assert (rec["lad"] or {}).get("code") == lad, rec
        assert (row["system_code"] if isinstance(row["system_code"], str) else None) == system
    assert light[0]["neighbourhood"]["code"] == "U39345" and light[0]["lsoa"]["code"] == "E01033264"


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
    import icsgeo.bulk as bulk

    monkeypatch.setattr(bulk, "CSV_BLOCK_BYTES", 2_048)  # many small batches
    rows = (SAMPLE * 60)[:500]
    src, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    pd.DataFrame({"n": range(len(rows)), "postcode": rows}).to_csv(src, index=False)
    assert main(["where", "--input", str(src), "--output", str(out)]) == 1
    res = pd.read_parquet(out)
    assert res["n"].astype(int).tolist() == list(range(len(rows)))
    assert res["status"].tolist() == [EXPECTED[i % len(SAMPLE)][0] for i in range(len(rows))]
    systems = res["system_code"].astype(object).where(res["system_code"].notna(), None).tolist()
    assert systems == [EXPECTED[i % len(SAMPLE)][1] for i in range(len(rows))]


def test_index_build_command(capsys):
    assert main(["index", "build", "--quiet"]) == 0
    assert "index" in capsys.readouterr().err and index_path().is_file()
