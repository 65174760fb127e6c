"""England's boundaries in one file: `icsgeo export`, checked with pyogrio as QGIS would open it."""

from __future__ import annotations

import geopandas
import pyogrio
import pytest

import icsgeo
from icsgeo.cli import main

pytestmark = pytest.mark.realdata


def _layers(path):
    return {name: kind for name, kind in pyogrio.list_layers(path)}


def test_england_2026_in_one_geopackage(tmp_path, capsys):
    out = tmp_path / "england-2026.gpkg"
    assert main(["export", "--vintage", "2026", "--output", str(out)]) == 0
    assert "lsoas 33,755" in capsys.readouterr().err
    assert _layers(out) == {"systems": "MultiPolygon", "places": "MultiPolygon", "neighbourhoods": "MultiPolygon",
                            "practices": "Point", "lsoas": "MultiPolygon"}
    for name in _layers(out):
        info = pyogrio.read_info(out, layer=name)
        assert info["crs"] == "EPSG:27700"
        meta = info["layer_metadata"]
        assert "Open Government Licence" in meta["licence"] and "vintage 2026" in meta["icsgeo_data"]
        frame = geopandas.read_file(out, layer=name, engine="pyogrio")
        assert frame.geometry.dropna().is_valid.all(), name
    lsoas = geopandas.read_file(out, layer="lsoas", engine="pyogrio")
    assert len(lsoas) == 33_755 and lsoas["lsoa21_code"].is_unique and lsoas["system_code"].notna().all()
    assert {"place_code", "sicbl_code", "lad_code", "neighbourhood_code", "neighbourhood_method"} <= set(lsoas.columns)
    nb = geopandas.read_file(out, layer="neighbourhoods", engine="pyogrio")
    assert len(nb) == 1_297 and {"pcn_code", "place_code", "system_code", "method", "confidence", "practice_map_date"} <= set(nb.columns)
    systems = geopandas.read_file(out, layer="systems", engine="pyogrio")
    assert len(systems) == 36 and systems["population"].sum() == 56_490_051


def test_one_system_in_wgs84_and_as_geojson_files(tmp_path):
    out = tmp_path / "sy.gpkg"
    counts = icsgeo.export(out, system="South Yorkshire", crs="EPSG:4326")
    assert counts["places"] == 4 and counts["neighbourhoods"] == 29 and counts["lsoas"] == 860
    assert pyogrio.read_info(out, layer="places")["crs"] == "EPSG:4326"
    icsgeo.export(tmp_path / "sy.geojson", system="QF7")
    written = sorted(p.name for p in tmp_path.glob("sy-*.geojson"))
    assert written == ["sy-lsoas.geojson", "sy-neighbourhoods.geojson", "sy-places.geojson", "sy-practices.geojson",
                       "sy-systems.geojson"]
    with pytest.raises(icsgeo.BulkInputError, match="export to .gpkg, .geojson, .parquet"):
        icsgeo.export(tmp_path / "sy.xlsx", system="QF7")


def test_neighbourhoods_england_writes_every_footprint(tmp_path):
    out = tmp_path / "england.parquet"
    assert main(["neighbourhoods", "england", "--output", str(out)]) == 0
    assert len(geopandas.read_parquet(out)) == 1_297
