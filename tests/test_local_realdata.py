"""Local neighbourhoods on the real files: Sheffield's own 16 neighbourhoods (read in place from the
mirror's local/ folder, never copied), a ward-group and a polygon-file definition, broken definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import icsgeo
from icsgeo.cli import main
from icsgeo.errors import DefinitionError

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[1]
SHEFFIELD_FILE = "local/sheffield_neighbourhoods_lsoa11_2021.csv"


def _definition(tmp_path: Path, name: str, neighbourhoods: str, places: str = "  - name: Sheffield\n    lad: [E08000039]\n") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"id: {name}\nname: {name.replace('-', ' ').title()}\nvintage: \"2026\"\nplaces:\n{places}"
                    f"neighbourhoods:\n{neighbourhoods}", encoding="utf-8")
    return str(path)


def _sheffield_lsoas() -> set[str]:
    base = icsgeo.read("lsoa21-sicbl-icb-lad-2024")
    return set(base.loc[base["lad_name"] == "Sheffield", "lsoa21_code"])


def test_sheffield_neighbourhoods_from_the_councils_lookup_file(real_data_dir, tmp_path):
    defn = _definition(tmp_path, "sheffield-local",
                       f"  - file: {real_data_dir / SHEFFIELD_FILE}\n    area_column: LSOA_CODE\n    name_column: NEIGHBOURHOOD\n")
    g = icsgeo.geography(None, defn)
    lsoas = g.lsoas
    assert set(lsoas["lsoa21_code"]) == _sheffield_lsoas() and len(lsoas) == 343
    assert lsoas["local_name"].nunique() == 16 and lsoas["lsoa21_code"].is_unique
    # every LSOA 2021 in exactly one neighbourhood, or reported
    report = g.local_report
    assert set(lsoas.loc[lsoas["local_name"].isna(), "lsoa21_code"]) == set(report.gaps)
    assert report.gaps == [] and len(report.merged) == 2  # two 2021 LSOAs merge 2011 LSOAs of two neighbourhoods
    assert set(lsoas["local_method"]) == {"lookup file (LSOA 2011, carried to 2021)"}
    local = g.local_neighbourhoods
    assert len(local) == 16 and local["lsoas"].sum() == 343 and local["population"].sum() == lsoas["population"].sum()
    assert local.is_valid.all() and local.crs.to_epsg() == 27700 and not local["straddles"].any()

    # a Sheffield postcode answered with its own neighbourhood and its PCN, the schema saying which is which
    r = icsgeo.where(["S1 2HE", "S80 1AA"], system=defn)
    assert r.loc[0, "local_neighbourhood_name"] == "N08 - CITY CENTRE PRACTICES"
    assert r.loc[0, "local_neighbourhood_method"] == "lookup file (LSOA 2011, carried to 2021)"
    assert r.loc[0, "neighbourhood_code"] == "U39345" and r.loc[0, "place_name"] == "Sheffield"
    assert r.loc[1, "status"] == "outside_system" and r.loc[1, ["local_neighbourhood_code"]].isna().all()


def test_a_relative_file_is_found_in_the_data_folder_and_the_cli_and_api_answer_with_it(tmp_path, capsys):
    defn = _definition(tmp_path, "sheffield-relative", f"  - file: {SHEFFIELD_FILE}\n    name_column: NEIGHBOURHOOD\n")
    assert main(["where", "S1 2HE", "--system", defn, "--json"]) == 0
    [a] = json.loads(capsys.readouterr().out)
    assert a["local_neighbourhood"] == {"code": "N08 - CITY CENTRE PRACTICES", "name": "N08 - CITY CENTRE PRACTICES",
                                        "method": "lookup file (LSOA 2011, carried to 2021)"}
    assert a["neighbourhood"]["code"] == "U39345"
    assert main(["where", "S1 2HE", "--system", defn]) == 0
    assert "  neighbourhood (local) N08 - CITY CENTRE PRACTICES [lookup file" in capsys.readouterr().out
    out = tmp_path / "local.geojson"
    assert main(["neighbourhoods", defn, "--output", str(out)]) == 0
    import geopandas

    written = geopandas.read_file(out)
    assert len(written) == 16 and {"code", "name", "place_name", "population", "straddles"} <= set(written.columns)
    bulk_in, bulk_out = tmp_path / "in.csv", tmp_path / "out.csv"
    bulk_in.write_text("postcode\nS1 2HE\nS10 2TN\n")
    assert main(["where", "--input", str(bulk_in), "--output", str(bulk_out), "--system", defn]) == 0
    import pandas as pd

    res = pd.read_csv(bulk_out)
    assert res["local_neighbourhood_name"].notna().all() and res["neighbourhood_code"].notna().all()


def test_ward_groups_cover_their_wards_and_the_rest_is_reported(tmp_path):
    wards = icsgeo.read("lsoa21-ward-lad-2024")
    sheffield = wards[wards["lad_name"] == "Sheffield"]
    names = sorted(sheffield["ward_code"].unique())
    north, south = names[:3], names[3:6]
    defn = _definition(tmp_path, "sheffield-wards",
                       f"  - name: North\n    ward: [{', '.join(north)}]\n  - name: South\n    ward: [{', '.join(south)}]\n")
    g = icsgeo.geography(None, defn)
    l = g.lsoas
    expect = sheffield.set_index("lsoa21_code")["ward_code"]
    got = l.set_index("lsoa21_code")
    assert (got.loc[expect[expect.isin(north)].index, "local_name"] == "North").all()
    assert (got.loc[expect[expect.isin(south)].index, "local_name"] == "South").all()
    rest = set(expect[~expect.isin(north + south)].index)
    assert set(g.local_report.gaps) == rest and len(rest) > 200
    assert set(l["local_method"].dropna()) == {"ward group"}


def test_a_polygon_file_in_wgs84_gives_lsoas_by_centroid_and_postcodes_by_point_in_polygon(tmp_path):
    import geopandas

    shapes = icsgeo.read("lsoa21-bsc")
    base = icsgeo.areas.lsoa_base().set_index("lsoa21_code")
    mine = shapes[shapes["code"].isin(_sheffield_lsoas())].copy()
    mine["half"] = (base.loc[mine["code"], "northing"].to_numpy() > base.loc[mine["code"], "northing"].median()).astype(int)
    halves = mine.dissolve(by="half").reset_index()
    halves["NAME"] = halves["half"].map({1: "Sheffield North", 0: "Sheffield South"})
    f = tmp_path / "halves.geojson"
    halves[["NAME", "geometry"]].to_crs("EPSG:4326").to_file(f, driver="GeoJSON", engine="pyogrio")
    defn = _definition(tmp_path, "sheffield-halves", f"  - file: {f}\n")
    g = icsgeo.geography(None, defn)
    l = g.lsoas.set_index("lsoa21_code")
    truth = mine.set_index("code")["half"].map({1: "Sheffield North", 0: "Sheffield South"})
    agree = (l.loc[truth.index, "local_name"] == truth).mean()
    assert agree >= 0.99  # a centroid can fall just outside its own generalised LSOA polygon
    assert set(l["local_method"].dropna()) == {"polygon file (population-weighted centroid)"}
    r = icsgeo.where(["S1 2HE"], system=defn).iloc[0]
    assert r["local_neighbourhood_method"] == "polygon file (point in polygon)" and r["local_neighbourhood_name"].startswith("Sheffield")
    assert isinstance(g.local_neighbourhoods, geopandas.GeoDataFrame) and len(g.local_neighbourhoods) == 2


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icsgeo", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("neighbourhoods, message", [
    ("  - name: A\n    lsoa: [E01999999]\n", "E01999999 is not an English LSOA 2021 code"),
    ("  - name: A\n    lsoa: [E01033264]\n  - name: B\n    lsoa: [E01033264]\n", "lsoa E01033264 is in both 'A' and 'B'"),
    ("  - name: A\n    lsoa: [E01033264\n", "not valid YAML"),
    ("  - file: nowhere.csv\n", "the file 'nowhere.csv' is not there"),
])
def test_a_broken_definition_is_one_clear_error_never_a_traceback(tmp_path, neighbourhoods, message):
    defn = _definition(tmp_path, "broken", neighbourhoods)
    with pytest.raises(DefinitionError, match=message):
        icsgeo.geography(None, defn).lsoas
    r = _cli("where", "S1 2HE", "--system", defn)
    assert r.returncode == 2 and "Traceback" not in r.stderr and message.split("'")[0][:20] in r.stderr, r.stderr[-2000:]


def test_a_gap_is_reported_and_a_script_name_is_escaped_in_the_map(tmp_path):
    defn = _definition(tmp_path, "scripted", "  - name: <script>alert(1)</script>\n    lsoa: [E01033264]\n")
    r = _cli("where", "S1 2HE", "--system", defn, "--json")
    assert r.returncode == 0 and "342 LSOAs of the system are in no neighbourhood" in r.stderr, r.stderr[-2000:]
    assert json.loads(r.stdout)[0]["local_neighbourhood"]["name"] == "<script>alert(1)</script>"
    html = tmp_path / "m.html"
    r = _cli("map", "--system", defn, "--output", str(html))
    assert r.returncode == 0, r.stderr[-2000:]
    text = html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text and "alert(1)" in text


def test_the_shipped_sheffield_definition_through_the_api():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from icsgeo.server import create_app

    with TestClient(create_app(warm=False)) as c:
        a = c.get("/postcodes/S1%202HE", params={"system": "sheffield-neighbourhoods-2021"}).json()
        assert a["local_neighbourhood"]["name"] == "N08 - CITY CENTRE PRACTICES" and a["neighbourhood"]["code"].startswith("U")
        fc = c.get("/systems/sheffield-neighbourhoods-2021/neighbourhoods").json()
        assert len(fc["features"]) == 16 and {"code", "name", "place_name", "straddles"} <= set(fc["features"][0]["properties"])
        assert len(c.get("/systems/sheffield-neighbourhoods-2021/neighbourhoods", params={"kind": "pcn"}).json()["features"]) > 10
        r = c.get("/systems/QF7/neighbourhoods", params={"kind": "local"})
        assert r.status_code == 404 and "no local neighbourhoods" in r.json()["detail"]


def test_places_given_by_ward_groups(tmp_path):
    wards = icsgeo.read("lsoa21-ward-lad-2024")
    codes = sorted(wards.loc[wards["lad_name"] == "Sheffield", "ward_code"].unique())
    half = len(codes) // 2
    path = tmp_path / "wards.yaml"
    path.write_text(f"id: sheffield-wards\nname: Sheffield by wards\nvintage: \"2026\"\nplaces:\n"
                    f"  - name: West\n    ward: [{', '.join(codes[:half])}]\n  - name: East\n    ward: [{', '.join(codes[half:])}]\n",
                    encoding="utf-8")
    g = icsgeo.geography(None, str(path))
    assert sorted(g.places["name"]) == ["East", "West"] and len(g.lsoas) == 343
    assert g.places["population"].sum() == g.systems["population"].iloc[0]
