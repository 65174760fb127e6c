"""The geography as at a day: the vintage in force then, and PCNs as their practices were grouped then."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import icsgeo
from icsgeo.cli import main
from icsgeo.errors import UnknownDatasetError
from icsgeo.neighbourhoods.membership import history_as_at


@pytest.mark.parametrize("day, vintage", [("2021-04-01", "2021"), ("2022-06-30", "2021"), ("2022-07-01", "2023"),
                                          ("2026-03-31", "2023"), ("2026-04-01", "2026"), ("2031-01-01", "2026")])
def test_each_day_has_the_vintage_then_in_force(day, vintage):
    assert icsgeo.catalogue().vintage_at(day).key == vintage


def test_days_outside_every_vintage_and_non_dates_are_clear_errors():
    with pytest.raises(UnknownDatasetError, match="no vintage covers 2019-12-31: icsgeo knows 2021: 2021-04-01 to 2022-06-30"):
        icsgeo.catalogue().vintage_at("2019-12-31")
    with pytest.raises(UnknownDatasetError, match="is not a date"):
        icsgeo.catalogue().vintage_at("last Tuesday")


def test_the_membership_history_as_at_a_day_on_a_toy():
    history = pd.DataFrame({
        "practice_code": ["A1", "A1", "B2", "C3"], "practice_name": ["A", "A", "B", "C"],
        "pcn_code": ["U00001", "U00002", "U00001", "U00003"], "pcn_name": ["One", "Two", "One", "Three"],
        "practice_sicbl_ods_code": ["03N"] * 4,
        "start_date": pd.to_datetime(["2019-07-01", "2023-04-01", "2019-07-01", "2024-01-01"]),
        "end_date": pd.to_datetime(["2023-03-31", None, "2021-12-31", None]),
    })
    addresses = pd.DataFrame({"practice_code": ["A1", "B2"], "postcode": ["S1 2HE", "S2 3AB"]})
    early = history_as_at(history, addresses, "2021-06-01").set_index("practice_code")
    assert early["pcn_code"].to_dict() == {"A1": "U00001", "B2": "U00001"}  # C3 not yet in a PCN
    late = history_as_at(history, addresses, "2023-06-01").set_index("practice_code")
    assert late["pcn_code"].to_dict() == {"A1": "U00002"}  # B2 left on 31 Dec 2021
    assert late.loc["A1", "postcode"] == "S1 2HE" and not late["is_unallocated"].any()
    assert str(late["extract_date"].iloc[0].date()) == "2023-06-01"


@pytest.mark.realdata
def test_worksop_as_at_2022_is_south_yorkshire_and_bassetlaw_and_in_2026_nottinghamshire(capsys):
    assert main(["where", "S80 1AA", "--as-at", "2022-06-30", "--json"]) == 0
    [a] = json.loads(capsys.readouterr().out)
    assert a["vintage"] == "2021" and a["system"]["code"] == "E54000009" and a["system"]["name"] == "South Yorkshire and Bassetlaw"
    assert a["place"] == {"code": "E38000008", "name": "Bassetlaw"}  # the Bassetlaw CCG
    assert a["sicbl"] is None  # Sub-ICB Locations began on 1 July 2022: a 2021 answer names 2021 units
    assert main(["where", "S80 1AA", "--as-at", "2026-04-01", "--json"]) == 0
    [b] = json.loads(capsys.readouterr().out)
    assert b["vintage"] == "2026" and b["system"]["code"] == "E54000060"
    assert "Nottingham and Nottinghamshire" in b["system"]["name"]
    assert main(["where", "S1 2HE", "--as-at", "2022-06-30"]) == 0
    assert "LAD                   Sheffield (E08000019)" in capsys.readouterr().out  # the LAD code of its day
    assert main(["where", "S80 1AA", "--as-at", "2019-01-01"]) == 2  # no vintage was in force: a usage error
    assert main(["where", "S80 1AA", "--as-at", "2022-06-30", "--vintage", "2026"]) == 2
    assert "vintage 2026 was not in force on 2022-06-30" in capsys.readouterr().err


@pytest.mark.realdata
def test_pcn_membership_is_dated_practice_h82043_moved_on_1_april_2023():
    for day, pcn in (("2022-02-01", "U08235"), ("2023-06-01", "U60757")):
        fp = icsgeo.footprints(as_at=day)
        holding = fp[fp["practice_codes"].str.split(";").map(lambda codes: "H82043" in codes)]
        assert holding["pcn_code"].tolist() == [pcn], day
        assert set(fp["practice_map_date"]) == {day}
    g = icsgeo.geography(as_at="2026-02-15")  # after the first practice map: the latest map before the day
    assert g.vintage == "2023" and g.practice_map == "gp-practice-map-2026-01"


@pytest.mark.realdata
def test_the_api_takes_as_at():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from icsgeo.server import create_app

    with TestClient(create_app(warm=False)) as c:
        a = c.get("/postcodes/S80%201AA", params={"as_at": "2022-06-30"}).json()
        assert a["system"]["code"] == "E54000009" and a["vintage"] == "2021"
        r = c.get("/postcodes/S80%201AA", params={"as_at": "2019-01-01"})
        assert r.status_code == 422 and "no vintage covers" in r.json()["detail"]
        assert c.get("/postcodes/S80%201AA", params={"as_at": "tuesday"}).status_code == 422
