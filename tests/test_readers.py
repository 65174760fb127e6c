"""Readers on tiny files written in code: both epraccur formats, the practice map, registrations,
boundaries with an invalid polygon, and files that are truncated or of the wrong format."""

import json

import pandas as pd
import pytest

from icsgeo import DataFileHashError, DataFormatError, read
from icsgeo.sources.cache import code_fingerprint

from .helpers import PRACTICE_MAP_COLUMNS, catalogue_for, practice_map_csv, write

EPRACCUR_COLUMNS = {
    "practice_code": 1, "name": 2, "region_ods_code": 3, "icb_ods_code": 4, "address_1": 5, "address_2": 6,
    "address_3": 7, "address_4": 8, "address_5": 9, "postcode": 10, "open_date": 11, "close_date": 12,
    "status": 13, "sub_type": 14, "sicbl_ods_code": 15, "join_parent_date": 16, "left_parent_date": 17,
    "telephone": 18, "setting": 26,
}  # fmt: skip


def epraccur_line(code, name, postcode, status, setting, close=""):
    cols = [code, name, "Y63", "QF7", "1 HIGH ST", "", "", "SHEFFIELD", "", postcode, "19740401", close,
            status, "B", "03N", "20220701", "", "0114 000000", "", "", "", "1", "", "03N", "", setting, ""]
    return ",".join(f'"{c}"' for c in cols)


LEGACY = "\n".join([
    epraccur_line("C88001", "ACTIVE GP", "s1 2he", "A", "4"),
    epraccur_line("C88002", "CLOSED GP", "S1 2HE", "C", "4", close="20200101"),
    epraccur_line("Y00001", "AN OOH SERVICE", "S1 2HE", "A", "1"),
    epraccur_line("W91001", "A WELSH GP", "CF10 1AA", "A", "4"),
    epraccur_line("C88003", "DORMANT GP", "not a postcode", "D", "4"),
]) + "\n"
MODERN = LEGACY.replace('"A"', '"ACTIVE"').replace('"C"', '"INACTIVE"').replace('"D"', '"DORMANT"').replace('"4"', '"RO76"').replace('"1",""', '"RO80",""')


@pytest.fixture
def epraccur_cat(tmp_path):
    data = tmp_path / "data"
    write(data / "legacy.csv", LEGACY)
    write(data / "modern.csv", MODERN)
    base = {"kind": "practices", "format": "csv", "reader": "epraccur", "columns": EPRACCUR_COLUMNS}
    return catalogue_for(
        data,
        legacy={**base, "file": "legacy.csv", "status_values": {"A": "active", "C": "closed", "D": "dormant", "P": "proposed"}, "gp_practice_settings": ["4"]},
        modern={**base, "file": "modern.csv", "status_values": {"ACTIVE": "active", "INACTIVE": "closed", "DORMANT": "dormant"}, "gp_practice_settings": ["RO76"]},
    )


@pytest.mark.parametrize("dataset", ["legacy", "modern"])
def test_both_epraccur_formats_read_to_the_same_canonical_frame(epraccur_cat, dataset):
    f = read(dataset, catalogue=epraccur_cat)
    assert f["practice_code"].tolist() == ["C88001", "C88002", "Y00001", "W91001", "C88003"]
    assert f["status"].tolist() == ["active", "closed", "active", "active", "dormant"]
    assert f["active"].tolist() == [True, False, True, True, False]
    assert f["is_gp_practice"].tolist() == [True, True, False, True, True]
    assert f["in_england"].tolist() == [True, True, True, False, True]
    assert f.loc[0, "postcode"] == "S1 2HE" and pd.isna(f.loc[4, "postcode"])
    assert f.loc[4, "postcode_raw"] == "not a postcode"  # kept, flagged by a missing postcode
    assert f.loc[1, "close_date"] == pd.Timestamp("2020-01-01")
    assert (f["icb_ods_code"] == "QF7").all() and (f["sicbl_ods_code"] == "03N").all()
    active_english_gp = f["active"] & f["is_gp_practice"] & f["in_england"]
    assert active_english_gp.sum() == 1


def test_epraccur_with_an_unknown_status_vocabulary_is_a_format_error(tmp_path):
    data = tmp_path / "data"
    write(data / "x.csv", LEGACY.replace('"A"', '"OPEN"'))
    cat = catalogue_for(data, x={"kind": "practices", "format": "csv", "reader": "epraccur", "file": "x.csv",
                                 "columns": EPRACCUR_COLUMNS, "status_values": {"A": "active"}})
    with pytest.raises(DataFormatError, match="OPEN"):
        read("x", catalogue=cat)


def test_practice_map_marks_the_unallocated_pseudo_pcn(tmp_path):
    data = tmp_path / "data"
    write(data / "map.csv", practice_map_csv([
        ("C88001", "A SURGERY", "s1 2he", "U11111", "CITY PCN"),
        ("C88002", "B SURGERY", "S2 4SU", "U", "Unallocated"),
    ]))
    cat = catalogue_for(data, m={"kind": "pcn-membership", "format": "csv", "reader": "practice_map", "file": "map.csv", "columns": PRACTICE_MAP_COLUMNS})
    f = read("m", catalogue=cat)
    assert f["is_unallocated"].tolist() == [False, True]
    assert f["postcode"].tolist() == ["S1 2HE", "S2 4SU"]
    assert f["extract_date"].iloc[0] == pd.Timestamp("2026-01-01")
    assert f["icb_code"].iloc[0] == "E54000061" and f["icb_ods_code"].iloc[0] == "QF7"


def test_registrations_flag_pseudo_and_non_english_lsoas_without_dropping_them(tmp_path):
    data = tmp_path / "data"
    write(data / "reg.csv", "LSOA_CODE,PRACTICE_CODE,PRACTICE_NAME,NUMBER_OF_PATIENTS\n"
          "E01000001,C88001,A,10\nEMPTY,C88001,A,3\nW01000002,C88001,A,2\nL99999999,C88001,A,1\n"
          "S01000003,C88001,A,1\nCLOSED,C88001,A,5\nM99999999,C88001,A,4\n95AA01S1,C88001,A,1\n")
    cat = catalogue_for(data, r={"kind": "registrations", "format": "csv", "reader": "registrations", "file": "reg.csv",
                                 "date": "2025-10-01", "lsoa_vintage": "2021",
                                 "pseudo_lsoas": ["EMPTY", "CLOSED", "L99999999", "M99999999", "NO2011"],
                                 "columns": {"lsoa_code": "LSOA_CODE", "practice_code": "PRACTICE_CODE",
                                             "practice_name": "PRACTICE_NAME", "patients": "NUMBER_OF_PATIENTS"}})
    f = read("r", catalogue=cat)
    assert len(f) == 8 and f["patients"].sum() == 27
    assert f["lsoa_kind"].tolist() == ["england", "pseudo", "wales", "pseudo", "scotland", "pseudo", "pseudo", "northern_ireland"]
    assert (f["lsoa_vintage"] == "2021").all() and f["extract_date"].iloc[0] == pd.Timestamp("2025-10-01")


def _geojson(features):
    return json.dumps({"type": "FeatureCollection", "features": features})


def test_boundaries_are_reprojected_to_bng_and_invalid_polygons_repaired(tmp_path):
    bowtie = [[[-1.5, 53.3], [-1.4, 53.4], [-1.4, 53.3], [-1.5, 53.4], [-1.5, 53.3]]]  # self-intersecting
    square = [[[-1.3, 53.3], [-1.2, 53.3], [-1.2, 53.4], [-1.3, 53.4], [-1.3, 53.3]]]
    data = tmp_path / "data"
    write(data / "b.geojson", _geojson([
        {"type": "Feature", "properties": {"X24CD": "E1", "X24NM": "Bowtie"}, "geometry": {"type": "Polygon", "coordinates": bowtie}},
        {"type": "Feature", "properties": {"X24CD": "E2", "X24NM": "Square"}, "geometry": {"type": "Polygon", "coordinates": square}},
    ]))
    cat = catalogue_for(data, b={"kind": "boundary", "format": "geojson", "reader": "boundary", "file": "b.geojson",
                                 "columns": {"code": "X24CD", "name": "X24NM"}})
    g = read("b", catalogue=cat)
    assert g.crs.to_epsg() == 27700
    assert g["code"].tolist() == ["E1", "E2"] and g["name"].tolist() == ["Bowtie", "Square"]
    assert g["repaired"].tolist() == [True, False]
    assert g.is_valid.all() and (g.geom_type.isin(["Polygon", "MultiPolygon"])).all()
    assert 400_000 < g.geometry.iloc[1].centroid.x < 500_000  # South Yorkshire eastings
    assert g.geometry.iloc[0].area > 0


def test_wrong_format_file_is_a_clear_error_and_nothing_is_cached(tmp_path):
    data = tmp_path / "data"
    write(data / "lookup.csv", "<!DOCTYPE html><html><body>The service is unavailable</body></html>\n")
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "csv", "reader": "table", "file": "lookup.csv",
                                  "title": "LSOA lookup", "columns": {"lsoa21_code": "LSOA21CD", "icb_code": "ICB24CD"}})
    with pytest.raises(DataFormatError) as err:
        read("lu", catalogue=cat)
    assert "lookup.csv" in str(err.value) and "LSOA21CD" in str(err.value)
    derived = tmp_path / "cache" / "derived"
    assert not derived.exists() or list(derived.iterdir()) == []


def test_truncated_file_fails_verification_and_nothing_is_cached(tmp_path):
    data = tmp_path / "data"
    write(data / "lookup.csv", "LSOA21CD,ICB24CD\n" + "".join(f"E01{i:06d},E54000061\n" for i in range(100)))
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "csv", "reader": "table", "file": "lookup.csv",
                                  "columns": {"lsoa21_code": "LSOA21CD", "icb_code": "ICB24CD"}})
    assert len(read("lu", catalogue=cat)) == 100
    blob = (data / "lookup.csv").read_bytes()
    (data / "lookup.csv").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileHashError, match="truncated"):
        read("lu", catalogue=cat)


def test_verify_warn_reads_a_changed_file_with_a_warning(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write(data / "lookup.csv", "LSOA21CD,ICB24CD\nE01000001,E54000061\n")
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "csv", "reader": "table", "file": "lookup.csv",
                                  "columns": {"lsoa21_code": "LSOA21CD", "icb_code": "ICB24CD"}})
    write(data / "lookup.csv", "LSOA21CD,ICB24CD\nE01000001,E54000061\nE01000002,E54000061\n")
    monkeypatch.setenv("ICSGEO_VERIFY", "warn")
    with pytest.warns(UserWarning, match="sha256"):
        assert len(read("lu", catalogue=cat)) == 2


def test_second_read_comes_from_the_cache_keyed_by_content(tmp_path):
    data = tmp_path / "data"
    write(data / "lookup.csv", "LSOA21CD,ICB24CD\nE01000001,E54000061\n")
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "csv", "reader": "table", "file": "lookup.csv",
                                  "columns": {"lsoa21_code": "LSOA21CD", "icb_code": "ICB24CD"}})
    first = read("lu", catalogue=cat)
    files = list((tmp_path / "cache" / "derived").glob("lu.main-*.parquet"))
    assert len(files) == 1 and not list((tmp_path / "cache" / "derived").glob(".*.tmp"))
    files[0].write_bytes(b"PAR1 corrupted")  # a damaged cache file is rebuilt, never trusted
    pd.testing.assert_frame_equal(read("lu", catalogue=cat), first)
    assert len(code_fingerprint()) == 16


def test_read_only_cache_still_answers(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write(data / "lookup.csv", "LSOA21CD,ICB24CD\nE01000001,E54000061\n")
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "csv", "reader": "table", "file": "lookup.csv",
                                  "columns": {"lsoa21_code": "LSOA21CD", "icb_code": "ICB24CD"}})
    blocker = write(tmp_path / "not-a-folder", "x")  # mkdir under a file fails, even for root
    monkeypatch.setenv("ICSGEO_CACHE_DIR", str(blocker / "cache"))
    assert read("lu", catalogue=cat)["icb_code"].tolist() == ["E54000061"]
    assert blocker.read_text() == "x"
