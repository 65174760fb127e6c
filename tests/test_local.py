"""Locally defined units, on a toy built in code: six LSOAs 2021 in a row of 1 km squares, two places.

    LSOA 2021  L1  L2  L3  L4  L5  L6          place P1: L1-L3, place P2: L4-L6
    ward       W1  W1  W2  W2  W3  W3          (E05000001..3)
    from 2011  A   A   B   C   C   D           A split into L1+L2; C and D... see LOOKUP
"""

from __future__ import annotations

import geopandas
import pandas as pd
import pytest
from shapely.geometry import box

from icsgeo.errors import DefinitionError
from icsgeo.neighbourhoods.local import carry_lsoa11, detect_area_codes, lookup_rows, points_in_units, resolve
from icsgeo.systems import PlaceDefinition, UnitFile, parse_system_definition

L = [f"E0100000{i}" for i in range(1, 7)]
W = ["E05000001", "E05000001", "E05000002", "E05000002", "E05000003", "E05000003"]
BASE = pd.DataFrame({"lsoa21_code": L, "ward_code": W})
SCOPE = pd.DataFrame({"lsoa21_code": L, "place_code": ["P1"] * 3 + ["P2"] * 3,
                      "easting": [500.0 + 1000 * i for i in range(6)], "northing": [500.0] * 6})
# LSOA 2011 -> 2021: E01100001 split into L1 and L2; E01100002 -> L3 unchanged; E01100003 and E01100004
# merged into L4; E01100005 -> L5; L6's 2011 parent E01100006
LOOKUP = pd.DataFrame({"lsoa11_code": ["E01100001", "E01100001", "E01100002", "E01100003", "E01100004", "E01100005", "E01100006"],
                       "lsoa21_code": [L[0], L[1], L[2], L[3], L[3], L[4], L[5]]})


def _resolve(items, **kw):
    return resolve(items, SCOPE, base=BASE, origin="toy.yaml", lsoa11=lambda: LOOKUP, **kw)


def _units(res):
    return dict(zip(res.assignment["lsoa21_code"], res.assignment["unit_name"]))


def test_ward_groups_and_lsoa_lists_cover_the_system_and_straddles_are_reported():
    items = [PlaceDefinition("West", "N1", {"ward": ("E05000001",)}),
             PlaceDefinition("Middle", "N2", {"ward": ("E05000002",)}),
             PlaceDefinition("East", "N3", {"lsoa": (L[4], L[5])})]
    res = _resolve(items)
    assert _units(res) == {L[0]: "West", L[1]: "West", L[2]: "Middle", L[3]: "Middle", L[4]: "East", L[5]: "East"}
    assert res.report.gaps == [] and res.report.straddles == {"Middle": {"P1": 1, "P2": 1}}
    assert set(res.assignment["unit_method"]) == {"ward group", "LSOA list"}
    assert "straddles 2 places (LSOAs: P1 1, P2 1)" in res.report.lines()[0]


def test_gaps_and_units_reaching_outside_the_system_are_reported_not_dropped():
    res = _resolve([PlaceDefinition("Some", "N1", {"lsoa": (L[0], L[1])}),
                    PlaceDefinition("Far", "N2", {"ward": ("E05000003",)})],
                   )
    assert res.report.gaps == [L[2], L[3]]
    narrow = resolve([PlaceDefinition("All", "N1", {"ward": ("E05000001", "E05000002")})], SCOPE.iloc[:2],
                     base=BASE, origin="toy.yaml")
    assert narrow.report.outside == {"All": 2} and len(narrow.assignment) == 2
    assert any("outside the system" in line for line in narrow.report.lines())


def test_an_lsoa_in_two_units_is_an_error_naming_both():
    with pytest.raises(DefinitionError, match=r"toy.yaml: LSOA E01000003 is in two neighbourhoods \('A' and 'B'\)"):
        _resolve([PlaceDefinition("A", "N1", {"ward": ("E05000002",)}), PlaceDefinition("B", "N2", {"lsoa": (L[2],)})])


@pytest.mark.parametrize("units, message", [
    ({"lsoa": ("E01999999",)}, "E01999999 is not an English LSOA 2021 code"),
    ({"ward": ("E05999999",)}, "E05999999 is not a ward code"),
    ({"lsoa11": ("E01999999",)}, "E01999999 is not an LSOA 2011 code"),
])
def test_unknown_codes_are_errors_naming_the_unit_and_the_code(units, message):
    with pytest.raises(DefinitionError, match=f"toy.yaml: neighbourhood 'X': {message}"):
        _resolve([PlaceDefinition("X", "N1", units)])


def test_lsoa_2011_codes_carry_to_2021_with_splits_and_merges():
    rows = pd.DataFrame({"area_code": ["E01100001", "E01100003", "E01100004", "E01100005"],
                         "unit_code": ["a", "b", "c", "c"], "unit_name": ["a", "b", "c", "c"]})
    from icsgeo.neighbourhoods.local import Report

    report = Report()
    out = carry_lsoa11(rows, LOOKUP, "toy.csv", report).set_index("lsoa21_code")["unit_code"].to_dict()
    assert out == {L[0]: "a", L[1]: "a", L[3]: "b", L[4]: "c"}  # the split's children both; the merge: a tie, lowest code
    assert report.merged == [L[3]]


def test_area_codes_are_detected_from_the_codes():
    l21, l11 = set(L), set(LOOKUP["lsoa11_code"]) | {L[2]}
    assert detect_area_codes(["E01100001", L[2]], l21, l11) == "lsoa11"
    assert detect_area_codes([L[0], L[2]], l21, l11) == "lsoa"
    assert detect_area_codes(W, l21, l11) == "ward"
    with pytest.raises(DefinitionError, match="mixed"):
        detect_area_codes(["E05000001", L[0]], l21, l11)
    with pytest.raises(DefinitionError, match="of 2011 .* and of 2021"):
        detect_area_codes(["E01100001", L[0]], l21, l11)


def _lookup_file(tmp_path, text, **spec):
    f = tmp_path / "nbhd.csv"
    f.write_text(text, encoding="utf-8")
    return UnitFile(file=str(f), kind="lookup", **spec)


def test_a_lookup_file_finds_its_columns_and_gives_each_lsoa_its_unit(tmp_path):
    spec = _lookup_file(tmp_path, "LSOA,Neighbourhood,share\n" + "\n".join(f"{c},{'North' if i < 3 else 'South'},0.{i}"
                                                                         for i, c in enumerate(L)) + "\n")
    res = _resolve([spec])
    assert _units(res) == {**{c: "North" for c in L[:3]}, **{c: "South" for c in L[3:]}}
    assert set(res.assignment["unit_method"]) == {"lookup file (LSOA 2021)"} and res.report.gaps == []


def test_a_lookup_file_of_lsoa_2011_codes_with_a_bom_and_windows_line_ends(tmp_path):
    body = "\ufeffcode,name\r\n" + "".join(f"{c},N{i % 2}\r\n" for i, c in enumerate(LOOKUP["lsoa11_code"].unique()))
    res = _resolve([_lookup_file(tmp_path, body)])
    assert set(res.assignment["unit_method"]) == {"lookup file (LSOA 2011, carried to 2021)"}
    assert len(res.assignment) == 6 and res.report.merged == [L[3]]


@pytest.mark.parametrize("text, spec, message", [
    ("LSOA,N\nE01000001,A\nnot-a-code,B\n", {}, r"row 3: 'NOT-A-CODE' in 'LSOA' is not an LSOA"),
    ("LSOA,N\nE01000001,A\nE01000001,B\n", {}, r"E01000001 is given to 2 units \(rows 2, 3: A, B\)"),
    ("LSOA,N\nE01000001,\n", {}, r"row 2: E01000001 has no unit in 'N'"),
    ("LSOA,Locality,Network\nE01000001,A,B\n", {}, "say which column is which with name_column: one of"),
    ("LSOA,N\nE01000001,A\n", {"name_column": "Neighbourhood"}, r"no column 'Neighbourhood' \(name_column\)"),
    ("LSOA,N\nE01000001,A\x1b[31m\n", {}, "control characters"),
    ("LSOA,N\nE01999999,A\n", {}, "E01999999 is not an English LSOA 2021 code"),
])
def test_a_broken_lookup_file_gives_one_clear_error_naming_file_row_and_code(tmp_path, text, spec, message):
    with pytest.raises(DefinitionError, match=f"toy.yaml: nbhd.csv.*{message}"):
        _resolve([_lookup_file(tmp_path, text, **spec)])


def test_lookup_rows_keep_the_row_numbers_of_the_file(tmp_path):
    frame = pd.DataFrame({"area": ["E01000001", "", "e01000002 "], "unit": ["A", "", "B"]})
    rows = lookup_rows(frame, UnitFile(file="x.csv", kind="lookup"), "x.csv")
    assert rows["row"].tolist() == [2, 4] and rows["area_code"].tolist() == ["E01000001", "E01000002"]


def _polygons():
    return geopandas.GeoDataFrame({"unit_code": ["west", "east"], "unit_name": ["West", "East"]},
                                  geometry=[box(0, 0, 2500, 1000), box(2500, 0, 6000, 1000)], crs="EPSG:27700")


def test_a_polygon_file_in_another_crs_puts_lsoas_by_centroid_and_points_by_point_in_polygon(tmp_path):
    f = tmp_path / "units.gpkg"
    _polygons().rename(columns={"unit_name": "NAME"}).drop(columns="unit_code").to_crs("EPSG:4326").to_file(f, engine="pyogrio")
    res = _resolve([UnitFile(file=str(f), kind="polygons", name_column="NAME")])
    assert _units(res) == {L[0]: "West", L[1]: "West", L[2]: "East", L[3]: "East", L[4]: "East", L[5]: "East"}
    assert set(res.assignment["unit_method"]) == {"polygon file (population-weighted centroid)"}
    assert res.polygons is not None and res.polygons.crs.to_epsg() == 27700
    hit = points_in_units(res.polygons, [100.0, 2600.0, 9000.0, float("nan")], [500.0, 500.0, 500.0, 1.0])
    assert hit["unit_name"].tolist() == ["West", "East", None, None]


def test_the_largest_overlap_rule_uses_the_lsoa_shapes():
    shapes = geopandas.GeoDataFrame({"code": L}, geometry=[box(1000 * i, 0, 1000 * (i + 1), 1000) for i in range(6)],
                                    crs="EPSG:27700")
    from icsgeo.neighbourhoods.local import polygon_assignment

    got = polygon_assignment(_polygons(), SCOPE, how="overlap", shapes=shapes).set_index("lsoa21_code")["unit_name"]
    assert got[L[2]] == "East"  # 2,000-3,000: 500 m each side, a tie goes to the lower code ("east")
    assert got[L[1]] == "West"


def test_pcn_and_practice_groups():
    pcn = pd.DataFrame({"lsoa21_code": L, "pcn_code": ["U00001"] * 2 + ["U00002"] * 4})
    res = _resolve([PlaceDefinition("A", "N1", {"pcn": ("U00001",)}), PlaceDefinition("B", "N2", {"pcn": ("U00002",)})],
                   pcn_lsoas=lambda: pcn)
    assert set(res.assignment["unit_method"]) == {"PCN group (their footprints)"} and res.report.gaps == []
    with pytest.raises(DefinitionError, match="U09999 is not a PCN of the practice map"):
        _resolve([PlaceDefinition("A", "N1", {"pcn": ("U09999",)})], pcn_lsoas=lambda: pcn)

    asked = {}

    def votes(groups):
        asked.update(groups)
        return pd.DataFrame({"lsoa21_code": L[:3], "unit_code": ["N1"] * 3})

    res = _resolve([PlaceDefinition("Practices", "N1", {"practice": ("C88001", "C88002")})], practice_votes=votes)
    assert asked == {"C88001": "N1", "C88002": "N1"} and _units(res) == {c: "Practices" for c in L[:3]}
    assert res.report.gaps == L[3:]


def test_definitions_parse_neighbourhood_lists_and_file_items():
    d = parse_system_definition({
        "id": "toy", "name": "Toy", "places": [{"name": "P", "lad": ["E08000019"]}, {"file": "places.gpkg", "name_column": "n"}],
        "neighbourhoods": [{"name": "North", "ward": ["E05000001"]}, {"file": "n.xlsx", "sheet": "2024"},
                           {"name": "Mid", "pcn": ["U12345"]}, {"name": "Docs", "practice": ["C88001"]}],
    }, origin="toy.yaml", folder="/defs")
    kinds = [type(n).__name__ for n in d.neighbourhoods]
    assert kinds == ["PlaceDefinition", "UnitFile", "PlaceDefinition", "PlaceDefinition"]
    assert d.neighbourhoods[1].kind == "lookup" and d.neighbourhoods[1].folder == "/defs" and d.places[1].kind == "polygons"


@pytest.mark.parametrize("neighbourhoods, message", [
    ([{"name": "A", "lad": ["E08000019"]}], "unknown keys"),
    ([{"file": "n.txt"}], "neither a lookup"),
    ([{"file": "n.csv", "area_codes": "msoa"}], "area_codes must be"),
    ([{"file": "n.gpkg", "assign": "nearest"}], "assign must be"),
    ([{"name": "A", "ward": ["E01000001"]}], "are not ward codes"),
    ([{"name": "A", "pcn": ["U1"]}], "are not pcn codes"),
    ("all of them", "non-empty list"),
])
def test_bad_neighbourhood_lists_are_clear_errors(neighbourhoods, message):
    raw = {"id": "toy", "name": "Toy", "places": [{"name": "P", "lad": ["E08000019"]}], "neighbourhoods": neighbourhoods}
    with pytest.raises(DefinitionError, match=message):
        parse_system_definition(raw, origin="toy.yaml")
