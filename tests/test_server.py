"""icsgeo serve: the HTTP API answers as `icsgeo where --json` does, on the real files (issue 6)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

import icsgeo  # noqa: E402
from icsgeo import cli  # noqa: E402
from icsgeo.answer import STATUSES as WHERE_STATUSES  # noqa: E402
from icsgeo.server import MAX_BULK, Status, create_app  # noqa: E402

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[1]
ANSWER_KEYS = {"query", "postcode", "status", "reason", "lsoa", "local_neighbourhood", "neighbourhood", "place", "system", "region",
               "sicbl", "lad", "ward", "msoa", "country", "location", "vintage", "made_from"}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:  # warms the default vintage, as `icsgeo serve` does
        yield c


def _where_json(capsys, *args):
    capsys.readouterr()
    code = cli.main(["where", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------ postcodes

def test_s1_2he_answers_south_yorkshire_sheffield_and_a_sheffield_pcn(client):
    r = client.get("/postcodes/S1%202HE")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    a = r.json()
    assert set(a) == ANSWER_KEYS and a["status"] == "ok" and a["query"] == "S1 2HE"
    assert a["system"] == {"code": "E54000061", "ods_code": "QF7", "name": "NHS South Yorkshire Integrated Care Board"}
    assert a["place"]["name"] == "Sheffield"
    pcn = a["neighbourhood"]["code"]
    assert pcn.startswith("U") and a["neighbourhood"]["method"] == "registrations"
    # "a Sheffield PCN": the footprint's place is Sheffield
    fc = client.get("/systems/QF7/neighbourhoods").json()
    props = {f["properties"]["pcn_code"]: f["properties"] for f in fc["features"]}
    assert props[pcn]["place_name"] == "Sheffield"


def test_the_same_json_objects_as_where_json(client, capsys):
    queries = ["S1 2HE", "s12he", "CM1 1AE", "EH1 1AA", "S1 1AB", "SW1A 9ZZ", "not a postcode"]
    _, expected = _where_json(capsys, *queries)
    got = client.post("/postcodes", json={"postcodes": queries}).json()
    assert got["count"] == len(queries) and got["results"] == expected
    assert client.get("/postcodes/s12he").json() == expected[1]
    assert icsgeo.to_records(icsgeo.where(queries)) == expected


@pytest.mark.parametrize("postcode, status", [("EH1 1AA", "outside_england"), ("CF10 1AA", "outside_england"),
                                             ("S1 1AB", "terminated")])
def test_answered_statuses_are_200(client, postcode, status):
    r = client.get(f"/postcodes/{postcode}")
    assert r.status_code == 200 and r.json()["status"] == status


@pytest.mark.parametrize("raw", ["not a postcode", "S1", "QQ1 1QQ", "<script>alert(1)</script>", "%00", "x" * 5000])
def test_a_bad_postcode_is_a_clear_422(client, raw):
    r = client.get(f"/postcodes/{raw}")
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == "invalid" and "not a valid UK postcode" in body["detail"] and "query" in body


def test_an_unknown_postcode_is_a_clear_404(client):
    r = client.get("/postcodes/sw1a9zz")
    assert r.status_code == 404
    body = r.json()
    assert body == {"detail": body["detail"], "status": "not_found", "query": "sw1a9zz", "postcode": "SW1A 9ZZ"}
    assert "SW1A 9ZZ" in body["detail"]


def test_vintage_and_system_parameters(client):
    a = client.get("/postcodes/CM1%201AE").json()
    assert a["system"]["code"] == "E54000066" and a["vintage"] == "2026"
    a = client.get("/postcodes/CM1%201AE", params={"vintage": "2023"}).json()
    assert a["system"]["code"] == "E54000026" and a["vintage"] == "2023"
    a = client.get("/postcodes/S80%201AA", params={"system": "south-yorkshire-and-bassetlaw-2021"}).json()
    assert a["status"] == "ok" and a["place"]["name"] == "Bassetlaw"
    a = client.get("/postcodes/CM1%201AE", params={"system": "south-yorkshire-and-bassetlaw-2021"}).json()
    assert a["status"] == "outside_system" and a["system"] is None


def test_the_inline_single_lookup_answers_as_the_full_path(client):
    """A GET without parameters is answered inline from the index held in memory; with parameters it
    goes through validation and the batched path: the same answer either way, and the same as
    ``icsgeo.lookup`` and ``where()``."""
    queries = ["S1 2HE", "s12he", "CM1 1AE", "EH1 1YZ", "TR21 0HE"]
    for q in queries:
        inline = client.get(f"/postcodes/{q}").json()
        full = client.get(f"/postcodes/{q}", params={"vintage": "2026"}).json()
        dated = client.get(f"/postcodes/{q}", params={"as_at": "2026-11-30"}).json()
        assert inline == full == icsgeo.lookup([q])[0], q
        assert {k: v for k, v in dated.items() if k != "made_from"} == {k: v for k, v in inline.items() if k != "made_from"}
    posted = client.post("/postcodes", json={"postcodes": queries}).json()["results"]
    assert posted == icsgeo.to_records(icsgeo.where(queries))
    assert client.get("/postcodes/S1%202HE", params={"as_at": "not a day"}).status_code == 422
    assert client.get("/postcodes/S1%202HE", params={"unknown": "x"}).json()["status"] == "ok"  # ignored, as FastAPI does


@pytest.mark.parametrize("params, allowed", [
    ({"vintage": "1999"}, "'2021', '2023' or '2026'"),
    ({"vintage": "../2026"}, "'2021', '2023' or '2026'"),
    ({"system": "../../etc/passwd"}, "south-yorkshire-and-bassetlaw-2021"),
    ({"system": "/etc/passwd.yaml"}, "leicester-leicestershire-and-rutland"),
    ({"system": "boundaries/systems/south-yorkshire-and-bassetlaw-2021.yaml"}, "suffolk-and-north-east-essex-2021"),
])
def test_unknown_vintage_or_system_is_422_listing_the_allowed_values(client, params, allowed):
    for r in (client.get("/postcodes/S1%202HE", params=params), client.post("/postcodes", params=params, json={"postcodes": []}),
              client.get("/points", params={"lat": 53.38, "lon": -1.47, **params}), client.get("/systems", params=params)):
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["status"] == "invalid" and allowed in body["detail"]


def test_concurrent_single_lookups_share_calls_and_each_gets_its_own_answer():
    """Single GETs that arrive together are answered by one call of where/assign: answers must still
    go to the right request, for every vintage, system and kind of query."""
    import asyncio

    import httpx

    app = create_app(warm=False)
    postcodes = ["S1 2HE", "CM1 1AE", "EH1 1AA", "S1 1AB", "sw1a9zz", "junk", "M1 1AE", "S80 1AA", "LS1 4AP", "NE1 7RU"] * 3
    variants = [{}, {"vintage": "2023"}, {"system": "south-yorkshire-and-bassetlaw-2021"}]
    points = [{"lat": 53.38, "lon": -1.47}, {"lat": 51.5, "lon": -0.12}, {"easting": 435393, "northing": 387336}, {"lat": 95, "lon": 0}]

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            gets = [http.get(f"/postcodes/{pc}", params=params) for pc in postcodes for params in variants]
            pts = [http.get("/points", params=p) for p in points * 5]
            return await asyncio.gather(*gets), await asyncio.gather(*pts)

    got, got_points = asyncio.run(run())
    expected = {i: icsgeo.to_records(icsgeo.where(postcodes, **params)) for i, params in enumerate(variants)}
    responses = iter(got)
    for k, pc in enumerate(postcodes):
        for i in range(len(variants)):
            r, e = next(responses), expected[i][k]
            if e["status"] in ("invalid", "not_found"):
                assert r.json()["status"] == e["status"] and r.json()["query"] == pc
            else:
                assert r.json() == e
    assert [r.json()["query"] for r in got_points] == [",".join(str(float(v)) for v in p.values()) for p in points * 5]
    assert [r.json()["status"] for r in got_points[:4]] == ["ok", "ok", "ok", "invalid"]
    assert got_points[0].json()["system"]["ods_code"] == "QF7" and got_points[1].json()["place"] is not None
    batches = app.state.icsgeo.batches[0]
    assert batches.queries == len(got) and batches.calls < len(got)  # calls were shared


# ------------------------------------------------------------------ bulk

def test_bulk_answers_every_item_in_order_bad_items_included(client):
    items = ["S1 2HE", 12, None, True, {"postcode": "S1 2HE"}, ["S1 2HE"], "", "x" * 10_000, "=SUM(A1)", "CM1 1AE", 2.5]
    r = client.post("/postcodes", json={"postcodes": items})
    assert r.status_code == 200
    got = r.json()
    assert got["count"] == len(items) == len(got["results"])
    assert [a["query"] for a in got["results"]] == items
    assert [a["status"] for a in got["results"]] == ["ok"] + ["invalid"] * 8 + ["ok", "invalid"]


def test_bulk_limit_is_10000_more_is_413(client):
    r = client.post("/postcodes", json={"postcodes": ["S1 2HE", "junk"] * (MAX_BULK // 2)})
    assert r.status_code == 200 and r.json()["count"] == MAX_BULK
    r = client.post("/postcodes", json={"postcodes": ["S1 2HE"] * (MAX_BULK + 1)})
    assert r.status_code == 413
    assert r.json()["status"] == "too_large" and "10,000" in r.json()["detail"]


def test_bulk_body_over_16_mib_is_413(client):
    r = client.post("/postcodes", content=b'{"postcodes": ["' + b"x" * (17 << 20) + b'"]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["status"] == "too_large"


@pytest.mark.parametrize("body, fragment", [
    (b"", "must be a JSON object"), (b"{bad", "not valid JSON"), (b"[]", "must be a JSON object"),
    (b'{"postcodes": "S1 2HE"}', "valid list"), (b'{"codes": ["S1 2HE"]}', "Field required"), (b"null", "must be a JSON object"),
])
def test_bulk_malformed_bodies_are_clear_422s(client, body, fragment):
    r = client.post("/postcodes", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and fragment in r.json()["detail"]


def test_bulk_empty_list_and_json_escaped_lone_surrogates(client):
    assert client.post("/postcodes", json={"postcodes": []}).json() == {"count": 0, "results": []}
    r = client.post("/postcodes", content=b'{"postcodes": ["\\ud800", "S1 2HE\\udfff", {"\\udc00": 1}, NaN]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert [a["status"] for a in r.json()["results"]] == ["invalid"] * 4


# ------------------------------------------------------------------ points

def test_points_lat_lon_and_easting_northing(client):
    a = client.get("/points", params={"lat": 53.38, "lon": -1.47}).json()
    assert a["status"] == "ok" and a["system"]["ods_code"] == "QF7" and a["query"] == "53.38,-1.47" and a["postcode"] is None
    b = client.get("/points", params={"easting": 435393, "northing": 387336}).json()
    assert b["status"] == "ok" and b["lsoa"]["code"] == "E01033264"
    assert client.get("/points", params={"lat": 52.48, "lon": -3.6}).json()["status"] == "outside_england"  # Wales
    assert client.get("/points", params={"lat": 95, "lon": 0}).json()["status"] == "invalid"
    assert client.get("/points", params={"lat": "nan", "lon": "inf"}).json()["status"] == "invalid"
    assert client.get("/points", params={"easting": -1, "northing": 5e9}).json()["status"] == "invalid"


@pytest.mark.parametrize("params", [{}, {"lat": 53.38}, {"lon": -1.47}, {"lat": 53.38, "lon": -1.47, "easting": 1},
                                    {"lat": "abc", "lon": 1}, {"easting": "1e", "northing": 2}])
def test_points_validation_errors_are_422(client, params):
    r = client.get("/points", params=params)
    assert r.status_code == 422 and r.json()["status"] == "invalid" and r.json()["detail"]


# ------------------------------------------------------------------ systems, places, neighbourhoods, health

def test_systems_of_each_vintage_and_a_custom_one(client):
    s26 = client.get("/systems").json()
    assert len(s26) == 36 and {"code", "ods_code", "name", "places", "population"} <= set(s26[0])
    assert len(client.get("/systems", params={"vintage": "2023"}).json()) == 42
    [one] = client.get("/systems", params={"system": "south-yorkshire-and-bassetlaw-2021"}).json()
    assert one["places"] == 5


def test_places_of_a_system(client):
    names = sorted(p["name"] for p in client.get("/systems/QF7/places").json())
    assert names == ["Barnsley", "Doncaster", "Rotherham", "Sheffield"]
    names = sorted(p["name"] for p in client.get("/systems/south-yorkshire-and-bassetlaw-2021/places").json())
    assert names == ["Barnsley", "Bassetlaw", "Doncaster", "Rotherham", "Sheffield"]
    assert [p["name"] for p in client.get("/systems/E54000061/places").json()] == [p["name"] for p in client.get("/systems/QF7/places").json()]


@pytest.mark.parametrize("code", ["nowhere", "..", "../../etc/passwd", "%2e%2e%2fetc%2fpasswd", "x.yaml", "E"])
def test_unknown_or_ambiguous_system_is_a_clear_404(client, code):
    r = client.get(f"/systems/{code}/places")
    assert r.status_code == 404, r.text
    assert r.json()["status"] == "not_found" and r.json()["detail"]


def test_neighbourhoods_are_geojson_in_wgs84(client):
    r = client.get("/systems/QF7/neighbourhoods")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) >= 25
    f = fc["features"][0]
    assert f["type"] == "Feature" and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert {"pcn_code", "pcn_name", "place_name", "method"} <= set(f["properties"])
    lon, lat = f["geometry"]["coordinates"][0][0] if f["geometry"]["type"] == "Polygon" else f["geometry"]["coordinates"][0][0][0]
    assert -2.0 < lon < -0.8 and 53.2 < lat < 53.8


def test_health_is_cheap_and_says_what_is_there(client):
    t = time.perf_counter()
    r = client.get("/health")
    assert time.perf_counter() - t < 1.0
    h = r.json()
    assert r.status_code == 200 and h["status"] == "ok" and h["ready"] is True
    assert h["icsgeo"] == icsgeo.__version__ and h["default_vintage"] == "2026" and h["vintages"] == ["2021", "2023", "2026"]
    d = h["data"]
    assert d["datasets"] == d["present"] == d["verified"] == len(icsgeo.catalogue()) and not d["missing"] and not d["failing"]


def test_openapi_documents_the_endpoints_and_response_models(client):
    doc = client.get("/openapi.json").json()
    assert {"/postcodes/{postcode}", "/postcodes", "/points", "/systems", "/systems/{code}/places",
            "/systems/{code}/neighbourhoods", "/health"} <= set(doc["paths"])
    get_pc = doc["paths"]["/postcodes/{postcode}"]["get"]
    assert {"200", "404", "422", "503"} <= set(get_pc["responses"])
    assert get_pc["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Answer")
    assert "413" in doc["paths"]["/postcodes"]["post"]["responses"]
    status = doc["components"]["schemas"]["Answer"]["properties"]["status"]
    assert status["enum"] == list(WHERE_STATUSES)
    vintage = next(p for p in get_pc["parameters"] if p["name"] == "vintage")
    assert "2026" in json.dumps(vintage["schema"])


def test_one_answer_schema_behind_the_json_the_openapi_models_the_bulk_columns_and_the_cli(client, capsys, tmp_path):
    from icsgeo.answer import ANSWER_COLUMNS, CLI_ORDER, GROUPS

    doc = client.get("/openapi.json").json()["components"]["schemas"]
    answer = doc["Answer"]["properties"]
    assert list(answer) == ["query", "postcode", "status", *(g.name for g in GROUPS), "vintage", "made_from"]
    assert typing.get_args(Status) == tuple(WHERE_STATUSES) == tuple(answer["status"]["enum"])
    for g in GROUPS:
        part = doc[f"{g.name.capitalize()}Part"]
        assert list(part["properties"]) == [f.key for f in g.fields] and part["required"] == [g.fields[0].key]
    rec = client.get("/postcodes/S1%202HE").json()
    assert [k for k in rec if k in {g.name for g in GROUPS}] == [g.name for g in GROUPS]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("postcode\nS1 2HE\n")
    assert cli.main(["where", "--input", str(src), "--output", str(out)]) == 0
    header = out.read_text().splitlines()[0].replace('"', "").split(",")
    assert header == ["postcode", *("postcode_icsgeo" if c == "postcode" else c for c in ANSWER_COLUMNS)]
    capsys.readouterr()
    assert cli.main(["where", "S1 2HE"]) == 0
    printed = capsys.readouterr().out.splitlines()[1:]
    shown = [n for n in CLI_ORDER if rec[n] is not None]  # a part that is null is not printed
    labels = {g.name: g.label for g in GROUPS}
    assert [line[2:23].rstrip() for line in printed[: len(shown)]] == [labels[n] for n in shown]


def test_the_same_neighbourhoods_from_the_cli_the_api_and_python(client, tmp_path):
    import geopandas

    out = tmp_path / "a.geojson"
    assert cli.main(["neighbourhoods", "QF7", "--output", str(out)]) == 0
    exported = geopandas.read_file(out)
    served = client.get("/systems/QF7/neighbourhoods").json()["features"]
    assert len(served) == len(exported) == 29
    assert set(served[0]["properties"]) == set(exported.columns) - {"geometry"}
    assert sorted(f["properties"]["pcn_code"] for f in served) == sorted(exported["pcn_code"])
    python = icsgeo.geography().system("QF7").neighbourhoods
    assert set(python.columns) == set(exported.columns)
    assert {"place_name", "system_code", "practices", "registered_patients", "coverage", "method"} <= set(exported.columns)


def test_one_default_practice_map_everywhere():
    """icsgeo.footprints(), geography().neighbourhoods and neighbourhood_lsoas() all use the latest
    vintage's practice map (they disagreed once: January against August 2026)."""
    g = icsgeo.geography()
    fp = icsgeo.footprints()
    assert g.practice_map == icsgeo.catalogue().vintage().id("practice_map")
    assert list(fp.columns) == list(g.neighbourhoods.columns) and len(fp) == len(g.neighbourhoods)
    assert sorted(fp["pcn_code"]) == sorted(g.neighbourhoods["pcn_code"])
    assert set(fp["practice_map_date"]) == {"2026-08-01"}
    assert set(icsgeo.neighbourhood_lsoas()["practice_map_date"]) == {"2026-08-01"}


def test_no_request_reaches_a_definition_file_by_path(client, tmp_path, monkeypatch):
    """A YAML path is a valid `--system` for the CLI, never for the API."""
    (tmp_path / "mine.yaml").write_text("id: mine\nname: Mine\nplaces: [{name: A, lad: [E08000039]}]\n")
    monkeypatch.chdir(tmp_path)
    r = client.get("/postcodes/S1%202HE", params={"system": "mine.yaml"})
    assert r.status_code == 422
    assert client.get("/systems/mine.yaml/places").status_code == 404


# ------------------------------------------------------------------ the command

def test_serve_without_fastapi_names_the_extra(monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "icsgeo.server"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi -> ImportError
    code = cli.main(["serve", "--port", "1"])
    err = capsys.readouterr().err
    assert code != 0 and 'pip install "icsgeo[server]"' in err and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_icsgeo_serve_answers_on_127_0_0_1():
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "icsgeo", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "icsgeo serve did not become healthy in 180 s"
                time.sleep(0.5)
            a = http.get("/postcodes/S1 2HE").json()
            assert a["system"]["ods_code"] == "QF7" and a["place"]["name"] == "Sheffield"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "Traceback" not in out and "S1 2HE" not in out  # postcodes are not logged


def test_postcodes_io_routes_give_its_envelope(client):
    r = client.get("/postcodes.io/postcodes/s12he")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == 200 and body["result"]["postcode"] == "S1 2HE"
    assert body["result"]["codes"]["icb"] == "E54000061" and body["result"]["ccg"] == "NHS South Yorkshire ICB - 03N"
    assert client.get("/postcodes.io/postcodes/S9 9ZZ").json() == {
        "status": 404, "error": "Postcode not found", "icsgeo": client.get("/postcodes.io/postcodes/S9 9ZZ").json()["icsgeo"]}
    bad = client.get("/postcodes.io/postcodes/nonsense!")
    assert bad.status_code == 404 and bad.json()["error"] == "Invalid postcode"
    bulk = client.post("/postcodes.io/postcodes", json={"postcodes": ["S1 2HE", "ZZ99 3VZ", "CF10 1AA"]})
    assert bulk.status_code == 200
    entries = bulk.json()["result"]
    assert [e["query"] for e in entries] == ["S1 2HE", "ZZ99 3VZ", "CF10 1AA"]
    assert entries[0]["result"]["icsgeo"]["place"]["name"] == "Sheffield" and entries[1]["result"] is None
    assert entries[2]["result"]["country"] == "Wales"
    assert "/postcodes.io/postcodes/{postcode}" in client.get("/openapi.json").json()["paths"]
