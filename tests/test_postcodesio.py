"""postcodes.io's shape: the envelope, the key names and the nulls, from icsgeo's answers (real data
through the CLI and the server; constructed records for the statuses the files hold few of)."""

from __future__ import annotations

import json

import pytest

from icsgeo import postcodes_io_bulk, postcodes_io_response, postcodes_io_result
from icsgeo.cli import main

realdata = pytest.mark.realdata

#: postcodes.io's result keys (GET /postcodes/{postcode}) and its codes' keys.
RESULT_KEYS = {"postcode", "quality", "eastings", "northings", "country", "nhs_ha", "longitude", "latitude",
               "european_electoral_region", "primary_care_trust", "region", "lsoa", "msoa", "incode", "outcode",
               "parliamentary_constituency", "admin_district", "parish", "admin_county", "admin_ward", "ced", "ccg",
               "nuts", "pfa", "codes", "icb", "icsgeo"}
CODE_KEYS = {"admin_district", "admin_county", "admin_ward", "parish", "parliamentary_constituency", "ccg", "ccg_id",
             "ced", "nuts", "lsoa", "msoa", "lau2", "pfa", "icb"}


def _cli(capsys, *args):
    code = main(["where", *args, "--format", "postcodes.io"])
    return code, json.loads(capsys.readouterr().out)


@realdata
def test_s1_2he_in_postcodes_io_shape_from_the_cli(capsys):
    code, body = _cli(capsys, "s12he")
    assert code == 0 and body["status"] == 200 and set(body) == {"status", "result"}
    r = body["result"]
    assert set(r) == RESULT_KEYS and set(r["codes"]) == CODE_KEYS
    assert (r["postcode"], r["outcode"], r["incode"]) == ("S1 2HE", "S1", "2HE")
    assert (r["eastings"], r["northings"], r["quality"]) == (435393, 387336, 1)
    assert isinstance(r["eastings"], int) and r["country"] == "England"
    assert r["admin_district"] == "Sheffield" and r["codes"]["admin_district"] == r["codes"]["lau2"] == "E08000039"
    assert r["ccg"] == "NHS South Yorkshire ICB - 03N" and r["codes"]["ccg"] == "E38000146" and r["codes"]["ccg_id"] == "03N"
    assert r["icb"] == "NHS South Yorkshire Integrated Care Board" and r["codes"]["icb"] == "E54000061"
    assert r["lsoa"].startswith("Sheffield ") and r["codes"]["lsoa"].startswith("E01")
    assert r["msoa"] == r["lsoa"][:-1] and r["codes"]["msoa"].startswith("E02")
    assert r["admin_ward"] and r["codes"]["admin_ward"].startswith("E05")
    assert r["region"] is None and r["parliamentary_constituency"] is None  # not held: null, never guessed
    assert r["icsgeo"]["place"]["name"] == "Sheffield" and r["icsgeo"]["status"] == "ok"
    assert r["icsgeo"]["region"]["name"] == "North East and Yorkshire"


@realdata
def test_bulk_and_errors_in_postcodes_io_shape(capsys):
    code, body = _cli(capsys, "S1 2HE", "ZZ99 3VZ", "S9 9ZZ", "CF10 1AA")
    assert code == 1 and body["status"] == 200
    assert [e["query"] for e in body["result"]] == ["S1 2HE", "ZZ99 3VZ", "S9 9ZZ", "CF10 1AA"]
    ok, pseudo, unknown, welsh = (e["result"] for e in body["result"])
    assert ok["postcode"] == "S1 2HE" and pseudo is None and unknown is None
    assert welsh["country"] == "Wales" and welsh["icb"] is None and welsh["icsgeo"]["status"] == "outside_england"
    code, body = _cli(capsys, "not a postcode")
    assert code == 1 and body["status"] == 404 and body["error"] == "Invalid postcode"
    assert body["icsgeo"]["reason"] == "malformed"
    code, body = _cli(capsys, "S9 9ZZ")
    assert body == {"status": 404, "error": "Postcode not found", "icsgeo": body["icsgeo"]}
    assert body["icsgeo"]["status"] == "not_found"


@realdata
def test_points_and_json_conflict_are_usage_errors(capsys):
    assert main(["where", "--lat", "53.38", "--lon", "-1.47", "--format", "postcodes.io"]) == 2
    assert "postcodes given on the command line" in capsys.readouterr().err
    assert main(["where", "S1 2HE", "--json", "--format", "postcodes.io"]) == 2
    assert "disagree" in capsys.readouterr().err


@pytest.mark.parametrize("status, found", [("ok", True), ("outside_england", True), ("outside_system", True),
                                           ("terminated", False), ("not_found", False), ("invalid", False)])
def test_which_statuses_postcodes_io_answers_with_a_result(status, found):
    rec = {"query": "x", "postcode": "AB1 2CD", "status": status, "reason": "why", "vintage": "2026"}
    one = postcodes_io_response(rec)
    assert (one["status"] == 200) is found and (("result" in one) is found) and (("error" in one) is not found)
    if not found:
        assert one["error"] == ("Invalid postcode" if status == "invalid" else "Postcode not found")
        assert one["icsgeo"]["reason"] == "why"
    [entry] = postcodes_io_bulk([rec])["result"]
    assert entry["query"] == "x" and (entry["result"] is not None) is found


def test_a_record_without_parts_gives_nulls_not_errors():
    r = postcodes_io_result({"query": "", "postcode": None, "status": "invalid", "reason": "blank", "vintage": "2026"})
    assert set(r) == RESULT_KEYS and r["postcode"] is None and r["outcode"] is None and r["eastings"] is None
    assert all(v is None for v in r["codes"].values())
