"""The issue's acceptance, on the real files: icsgeo where, by postcode, point, vintage and system."""

import csv
import json

import pandas as pd
import pytest

from icsgeo import read, where
from icsgeo.cli import main

pytestmark = pytest.mark.realdata


def _where_json(capsys, *args):
    code = main(["where", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_s1_2he_is_sheffield_in_south_yorkshire(capsys):
    code, [r] = _where_json(capsys, "S1", "2HE")  # unquoted, as people type it
    assert code == 0 and r["status"] == "ok" and r["query"] == "S1 2HE"
    assert r["system"] == {"code": "E54000061", "ods_code": "QF7", "name": "NHS South Yorkshire Integrated Care Board"}
    assert r["place"]["name"] == "Sheffield"
    assert r["lsoa"]["name"].startswith("Sheffield ")
    assert r["lad"] == {"code": "E08000039", "name": "Sheffield"}
    sheffield_pcns = read("gp-practice-map-2026-08").query("sicbl_ods_code == '03N' and not is_unallocated")["pcn_code"]
    assert r["neighbourhood"]["code"] in set(sheffield_pcns)
    assert r["neighbourhood"]["method"] in ("registrations", "modelled") and 0 < r["neighbourhood"]["confidence"] <= 1
    assert set(r) == {"query", "postcode", "status", "reason", "lsoa", "local_neighbourhood", "neighbourhood", "place",
                      "system", "region", "sicbl", "lad", "ward", "msoa", "country", "location", "vintage", "made_from"}
    assert 53.3 < r["location"]["lat"] < 53.4 and r["vintage"] == "2026"
    # what postcodes.io users join on: Code-Point's ward and quality, ONS's MSOA, the practice map's region
    assert r["reason"] == "live postcode"
    assert r["region"] == {"code": "E40000012", "ods_code": "Y63", "name": "North East and Yorkshire"}
    assert r["ward"] == {"code": "E05010862", "name": "City Ward"}  # Code-Point Open's row and code list
    assert r["msoa"] == {"code": "E02006843", "name": "Sheffield 073"} and r["lsoa"]["name"] == "Sheffield 073D"
    assert r["country"] == {"code": "E92000001", "name": "England"}
    assert (r["location"]["easting"], r["location"]["northing"], r["location"]["quality"]) == (435393, 387336, 1)
    nb = r["neighbourhood"]
    assert nb["runner_up_code"] in set(sheffield_pcns) and nb["runner_up_code"] != nb["code"]
    assert 0 < nb["runner_up_share"] <= nb["confidence"] and nb["confidence"] + nb["runner_up_share"] <= 1


def test_reasons_and_countries_of_awkward_postcodes(capsys):
    """Every awkward row says why: blank, the NHS pseudo-postcode, malformed, unknown, terminated, and
    the country of a postcode outside England (Northern Ireland's BT postcodes, which no file here holds)."""
    queries = ["", "ZZ99 3VZ", "S1 2H", "S9 9ZZ", "S1 2HX", "CF10 1AA", "EH1 1AA", "BT1 1AA", "JE2 3AA"]
    code, rows = _where_json(capsys, *queries)
    got = [(r["status"], r["reason"], (r["country"] or {}).get("name")) for r in rows]
    assert got == [
        ("invalid", "blank", None),
        ("invalid", "NHS pseudo-postcode (ZZ99: no fixed abode, not known or abroad)", None),
        ("invalid", "malformed", None),
        ("not_found", "not in the postcode files of 2025-10 (new since, mistyped, or retired before)", None),
        ("terminated", "terminated postcode (its location may be a sorting office)", "England"),
        ("outside_england", "Wales", "Wales"),
        ("outside_england", "Scotland", "Scotland"),
        ("outside_england", "Northern Ireland", "Northern Ireland"),
        ("outside_england", "Channel Islands", "Channel Islands"),
    ]
    assert code == 1  # the README: 1 when any query did not resolve, every answer still printed
    # the same from the pandas path (a custom system's answers are built by icsgeo.answers, not the index)
    frame = where(queries, system="QF7")
    assert [tuple(x) for x in frame[["status", "reason"]].itertuples(index=False)][:4] == [g[:2] for g in got[:4]]
    assert list(frame["status"][5:]) == ["outside_england"] * 4 and list(frame["reason"][5:]) == [g[1] for g in got[5:]]


def test_worksop_is_nottinghamshire_today_and_bassetlaw_in_the_2021_system(capsys):
    _, [r] = _where_json(capsys, "S80 1AA")
    assert r["system"]["code"] == "E54000060"
    _, [r] = _where_json(capsys, "S80 1AA", "--system", "south-yorkshire-and-bassetlaw-2021")
    assert r["status"] == "ok" and r["place"]["name"] == "Bassetlaw" and r["system"]["code"] == "E54000009"


def test_chelmsford_by_vintage(capsys):
    _, [r26] = _where_json(capsys, "CM1 1AE", "--vintage", "2026")
    _, [r23] = _where_json(capsys, "CM1 1AE", "--vintage", "2023")
    assert (r26["system"]["code"], r26["system"]["name"]) == ("E54000066", "NHS Essex Integrated Care Board")
    assert r23["system"]["code"] == "E54000026" and r23["vintage"] == "2023"


def test_outside_system_england_and_statuses(capsys):
    code, recs = _where_json(capsys, "S1 2HE", "CM1 1AE", "--system", "south-yorkshire-and-bassetlaw-2021")
    assert code == 1 and [r["status"] for r in recs] == ["ok", "outside_system"]
    assert recs[1]["system"] is None and recs[1]["place"] is None and recs[1]["lsoa"] is not None
    code, recs = _where_json(capsys, "EH1 1YZ", "CF10 1AA", "ZZ99 9ZZ", "SW1A 0ZZ")
    assert code == 1 and [r["status"] for r in recs] == ["outside_england", "outside_england", "invalid", "not_found"]
    assert all(r["system"] is None for r in recs)


def test_points_by_lat_lon_and_grid_reference(capsys):
    _, [r] = _where_json(capsys, "--lat", "53.38", "--lon", "-1.47")
    assert r["status"] == "ok" and r["system"]["code"] == "E54000061" and r["postcode"] is None
    _, [r] = _where_json(capsys, "--easting", "435393", "--northing", "387336")
    assert r["place"]["name"] == "Sheffield"
    _, [r] = _where_json(capsys, "--lat", "55.95", "--lon", "-3.19")
    assert r["status"] == "outside_england"


JUNK = ["S1 2HE", "", "s80 1aa", "CM11AE", "EH1 1YZ", "CF10 1AA", "ZZ99 9ZZ", "x" * 200, "Ŝ1 2ĤE", "北京",
        "SW1A 0ZZ", "  m1   1ae ", "'; DROP TABLE postcodes; --", "=HYPERLINK(\"x\")", "S1 2HE"]


def test_bulk_csv_of_good_and_junk_rows_keeps_every_row_in_order(tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "postcode", "status"])  # a user column called status must survive
        for i, pc in enumerate(JUNK):
            w.writerow([i, pc, "mine"])
    code = main(["where", "--input", str(src), "--column", "postcode", "--output", str(out)])
    assert code == 1
    res = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(res) == len(JUNK) and res["id"].tolist() == [str(i) for i in range(len(JUNK))]
    assert res["postcode"].tolist() == JUNK and (res["status"] == "mine").all()
    statuses = res["status_icsgeo"].tolist()
    assert set(statuses) <= {"ok", "invalid", "not_found", "terminated", "outside_england", "outside_system"}
    assert statuses[0] == statuses[2] == statuses[3] == statuses[11] == statuses[14] == "ok"
    assert statuses[1] == statuses[7] == statuses[8] == statuses[9] == statuses[12] == statuses[13] == "invalid"
    assert statuses[4] == statuses[5] == "outside_england"


def test_bulk_usage_errors_exit_2(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("pc\nS1 2HE\n")
    assert main(["where", "--input", str(src), "--column", "postcode", "--output", str(tmp_path / "o.csv")]) == 2
    assert "no column 'postcode'" in capsys.readouterr().err
    assert main(["where", "--input", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "o.csv")]) == 2
    assert main(["where", "S1 2HE", "--lat", "53"]) == 2


def test_bulk_points_and_parquet(tmp_path):
    src, out = tmp_path / "pts.parquet", tmp_path / "out.parquet"
    pd.DataFrame({"lat": ["53.38", "x", "51.5"], "lon": ["-1.47", "0", "-0.12"]}).to_parquet(src)
    assert main(["where", "--input", str(src), "--lat-column", "lat", "--lon-column", "lon", "--output", str(out)]) == 1
    res = pd.read_parquet(out)
    assert res["status"].tolist() == ["ok", "invalid", "ok"]
    assert res["system_code"].iloc[0] == "E54000061" and res["system_code"].iloc[2].startswith("E54")
