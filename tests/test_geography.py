"""Systems, places and neighbourhoods by vintage, on the real files."""

import pytest

from icsgeo.cli import main
from icsgeo import geography
from icsgeo.neighbourhoods import footprints

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("vintage, systems, places", [("2021", 42, 106), ("2023", 42, 106), ("2026", 36, 106)])
def test_each_vintage_covers_england(vintage, systems, places):
    g = geography(vintage)
    assert len(g.lsoas) == 33_755 and g.lsoas["system_code"].notna().all() and g.lsoas["place_code"].notna().all()
    assert len(g.systems) == systems and len(g.places) == places
    assert g.systems["population"].sum() == 56_490_051  # Census 2021 England, summed from LSOAs
    assert g.systems.crs.to_epsg() == 27700 and g.places.is_valid.all()


def test_2026_recoded_places_are_built_by_ods_code_and_by_space_and_say_so():
    from icsgeo import areas

    l = geography("2026").lsoas
    changed = l[l["place_link"] != "lookup"]
    assert set(changed["place_ods_code"]) == {"92A", "D9Y0V", "U2G6B"}  # Surrey & Sussex, HIOW, Thames Valley
    assert set(changed["sicbl_ods_code"]) == {"92A", "D9Y0V", "U2G6B"}  # the LSOA's Sub-ICB Location is its place
    before = areas.lsoa_base().set_index("lsoa21_code")["sicbl_ods_code"]
    assert set(changed["lsoa21_code"].map(before)) == {"92A", "D9Y0V", "D4U1Y"}  # Frimley (D4U1Y) was split three ways
    assert changed["place_link"].str.startswith("split").sum() == 455 and len(changed) == 2_080
    p = geography("2026").places.set_index("ods_code")
    assert "no published boundary" in p.loc["U2G6B", "source"]


def test_south_yorkshire_places_by_vintage():
    sy = geography(2026).system("South Yorkshire")
    assert sy.code == "E54000061" and sy.ods_code == "QF7"
    assert sorted(sy.places["name"]) == ["Barnsley", "Doncaster", "Rotherham", "Sheffield"]
    assert geography(2026).system("qf7").code == "E54000061"  # ODS codes, any case
    syb = geography(2021).system("E54000009")
    assert sorted(syb.places["name"]) == ["Barnsley", "Bassetlaw", "Doncaster", "Rotherham", "Sheffield"]
    assert (syb.lsoas["system_code"] == "E54000009").all() and syb.lsoas["place_code"].isin(syb.places["code"]).all()


@pytest.mark.parametrize("system, names, total", [
    ("south-yorkshire-and-bassetlaw-2021", ["Barnsley", "Bassetlaw", "Doncaster", "Rotherham", "Sheffield"], (1.4e6, 1.6e6)),
    ("leicester-leicestershire-and-rutland", ["Leicester", "Leicestershire", "Rutland"], (1.0e6, 1.2e6)),
    ("suffolk-and-north-east-essex-2021", ["Ipswich and East Suffolk", "North East Essex", "West Suffolk"], (0.9e6, 1.1e6)),
])
def test_custom_systems(system, names, total):
    g = geography(None, system)
    assert sorted(g.places["name"]) == names
    assert total[0] < g.systems["population"].iloc[0] < total[1]
    assert g.places.is_valid.all() and len(g.systems) == 1


def test_south_yorkshire_neighbourhoods_cover_every_lsoa_and_report_pieces():
    lsoas = geography(2026).system("South Yorkshire").lsoas["lsoa21_code"]
    fp = footprints(practice_map="gp-practice-map-2026-01", lsoa_codes=lsoas)
    assert fp["lsoas"].sum() == len(lsoas) == 860
    assert len(fp) == 29 and "U" not in set(fp["pcn_code"])
    assert (fp["contiguous"] == (fp["parts"] == 1)).all() and fp["parts"].min() >= 1


def test_system_errors_are_helpful():
    from icsgeo.errors import DefinitionError

    g = geography(2026)
    with pytest.raises(DefinitionError, match="matches"):
        g.system("London")
    with pytest.raises(DefinitionError, match="icsgeo systems"):
        g.system("Atlantis")
    with pytest.raises(DefinitionError, match="names a file"):
        g.system("../../etc/x.yaml", files=False)


def test_a_definition_is_a_system_in_its_own_vintage_unless_one_is_chosen():
    syb = geography().system("south-yorkshire-and-bassetlaw-2021")
    assert syb.vintage == "2021" and syb.code == "E54000009" and len(syb.places) == 5
    assert syb.title == "South Yorkshire and Bassetlaw (2021) ICS"
    assert geography(2026).system("south-yorkshire-and-bassetlaw-2021").vintage == "2026"


def test_listing_commands(capsys, tmp_path):
    assert main(["systems", "--vintage", "2026", "--json"]) == 0
    import json

    assert len(json.loads(capsys.readouterr().out)) == 36
    assert main(["places", "south-yorkshire-and-bassetlaw-2021"]) == 0
    assert "Bassetlaw" in capsys.readouterr().out
    out = tmp_path / "syb.gpkg"
    assert main(["neighbourhoods", "QF7", "--output", str(out)]) == 0
    import geopandas

    assert len(geopandas.read_file(out)) == 29
    prac = tmp_path / "p.csv"
    assert main(["practices", "--output", str(prac)]) == 0
    import pandas as pd

    p = pd.read_csv(prac)
    assert len(p) == 6_129 and {"pcn_code", "system_code", "outside_ods_sicbl", "lat", "lon"} <= set(p.columns)
