"""fetch(): data folder, then cache, then a hash-checked pooch download (tested against 127.0.0.1)."""

import os

import pytest

from icsgeo import DataFileHashError, DataFileMissingError, fetch, read
from icsgeo.sources.catalogue import Catalogue

from .helpers import PRACTICE_MAP_COLUMNS, practice_map_csv, sha256, zip_one

MEMBER = "gp-reg-pat-prac-map.csv"


@pytest.fixture
def served_zip(tmp_path, httpserver):
    """A zipped practice map served on 127.0.0.1, and a catalogue entry pointing at it."""
    z = zip_one(tmp_path / "src" / "map.zip", MEMBER, practice_map_csv([("C88001", "A SURGERY", "S1 2HE", "U11111", "CITY PCN")]))
    httpserver.expect_request("/26/ABC/gp-reg-pat-prac-map.zip").respond_with_data(z.read_bytes(), content_type="application/zip")
    cat = Catalogue.from_dict({"datasets": {"toy-map": {
        "title": "toy practice map", "publisher": "test", "kind": "pcn-membership", "vintage": "2026-01",
        "date": "2026-01-01", "file": "nhs/toy-map.zip", "member": MEMBER, "format": "csv",
        "reader": "practice_map", "sha256": sha256(z), "licence": "OGL-3.0", "attribution": "test",
        "url": httpserver.url_for("/26/ABC/gp-reg-pat-prac-map.zip"), "columns": PRACTICE_MAP_COLUMNS,
    }}})
    return cat, z


def test_download_hash_check_unzip_and_cache_hit(served_zip, httpserver, tmp_path):
    cat, z = served_zip
    path = fetch("toy-map", catalogue=cat)
    assert path == tmp_path / "cache" / "data" / "nhs" / "toy-map.zip"
    assert sha256(path) == sha256(z)
    assert len(httpserver.log) == 1
    frame = read("toy-map", catalogue=cat)
    assert frame.loc[0, "practice_code"] == "C88001" and frame.loc[0, "postcode"] == "S1 2HE"
    fetch("toy-map", catalogue=cat)  # a cache hit: no second request
    assert len(httpserver.log) == 1


def test_data_folder_wins_over_download(served_zip, httpserver, tmp_path):
    cat, z = served_zip
    mirror = tmp_path / "data" / "nhs" / "toy-map.zip"
    mirror.parent.mkdir(parents=True)
    mirror.write_bytes(z.read_bytes())
    assert fetch("toy-map", catalogue=cat) == mirror
    assert len(httpserver.log) == 0


def test_a_download_with_the_wrong_hash_is_refused_and_not_kept(tmp_path, httpserver):
    httpserver.expect_request("/bad.zip").respond_with_data(b"<html>portal error page</html>")
    cat = Catalogue.from_dict({"datasets": {"toy": {
        "title": "toy", "kind": "lookup", "file": "x/toy.csv", "format": "csv", "reader": "table",
        "sha256": "0" * 64, "url": httpserver.url_for("/bad.zip"), "columns": {"code": "CODE"},
    }}})
    with pytest.raises(DataFileHashError, match="does not match"):
        fetch("toy", catalogue=cat)
    assert not (tmp_path / "cache" / "data" / "x" / "toy.csv").exists()


def test_offline_never_downloads_and_says_what_to_do(served_zip, httpserver, monkeypatch):
    cat, _ = served_zip
    monkeypatch.setenv("ICSGEO_OFFLINE", "1")
    with pytest.raises(DataFileMissingError) as err:
        fetch("toy-map", catalogue=cat)
    msg = str(err.value)
    assert "toy-map" in msg and "nhs/toy-map.zip" in msg and "ICSGEO_OFFLINE" in msg and "download it from" in msg
    assert len(httpserver.log) == 0


def test_missing_file_without_url_names_dataset_file_and_source():
    with pytest.raises(DataFileMissingError) as err:
        fetch("icb-2026")
    msg = str(err.value)
    assert "icb-2026" in msg
    assert "ons/Integrated_Care_Boards_April_2026_EN_BSC.geojson" in msg
    assert "geoportal.statistics.gov.uk" in msg


@pytest.mark.live
def test_live_download_of_the_august_2026_practice_map():  # pragma: no cover - needs the internet
    path = fetch("gp-practice-map-2026-08")
    assert os.path.getsize(path) > 100_000
