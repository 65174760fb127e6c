"""The April 2026 Sub-ICB Locations, on the real files.

April 2026 kept 106 Sub-ICB Locations but not the same codes: Frimley (E38000252, D4U1Y) was split
three ways, into E38000266 (D9Y0V, Hampshire and Isle of Wight), E38000267 (92A, Surrey and Sussex)
and a new Thames Valley E38000268 (U2G6B), and E38000253 -> E38000266, E38000264 -> E38000267 took new
GSS codes with their ODS codes kept. The August 2026 practice map names every 2026 Sub-ICB Location;
the ONS LSOA lookup (April 2024) still gives the earlier codes. A 2026 answer carries the 2026 codes
and names, and its place and Sub-ICB Location never disagree; 2023 answers keep the earlier ones.
"""

import json

import pandas as pd
import pytest

import icsgeo
from icsgeo import areas, geography, read
from icsgeo.cli import main

pytestmark = pytest.mark.realdata

MAP_2026 = "gp-practice-map-2026-08"
OLD = {"E38000252", "E38000253", "E38000264"}  # Frimley (split), HIOW and Surrey Heartlands (recoded)
NEW = {"E38000266": "D9Y0V", "E38000267": "92A", "E38000268": "U2G6B"}
#: Where Frimley's LSOAs went, by local authority (each of its nine LADs went whole to one 2026 SICBL).
FRIMLEY_LADS = {"Rushmoor": "E38000266", "Hart": "E38000266",
                "Surrey Heath": "E38000267", "Waverley": "E38000267", "Guildford": "E38000267", "Runnymede": "E38000267",
                "Bracknell Forest": "E38000268", "Slough": "E38000268", "Windsor and Maidenhead": "E38000268"}

#: Postcodes of practices in the areas that changed, and what 2026 and 2023 answer for them.
CHANGED = [
    # postcode,  2026 SICBL,  ODS,     2026 system,  2023 SICBL     what it is
    ("GU14 8QB", "E38000266", "D9Y0V", "E54000067", "E38000252"),  # Farnborough (Rushmoor), Frimley -> HIOW
    ("GU16 6QQ", "E38000267", "92A", "E54000069", "E38000252"),    # Frimley (Surrey Heath), Frimley -> Surrey and Sussex
    ("SL6 3NW", "E38000268", "U2G6B", "E54000070", "E38000252"),   # Maidenhead, Frimley -> Thames Valley
    ("RG12 9LH", "E38000268", "U2G6B", "E54000070", "E38000252"),  # Bracknell, Frimley -> Thames Valley
    ("SO16 3BD", "E38000266", "D9Y0V", "E54000067", "E38000253"),  # Southampton: recoded, ODS kept
    ("TW18 1XD", "E38000267", "92A", "E54000069", "E38000264"),    # Staines (Spelthorne): recoded, ODS kept
]


@pytest.fixture(scope="module")
def sicbls_2026() -> pd.DataFrame:
    """The 106 Sub-ICB Locations the August 2026 practice map names: code -> ODS code, name, ICB."""
    m = read(MAP_2026)
    return m.drop_duplicates("sicbl_code").set_index("sicbl_code")[["sicbl_ods_code", "sicbl_name", "icb_code"]]


@pytest.fixture(scope="module")
def tiers_2026() -> pd.DataFrame:
    t = geography("2026").tiers
    return t[t["lsoa21_code"].notna()]


@pytest.fixture(scope="module")
def lookup_codes() -> pd.Series:
    """Each LSOA's Sub-ICB Location in the ONS lookup (the codes before April 2026)."""
    return areas.lsoa_base().set_index("lsoa21_code")["sicbl_code"]


def test_the_2026_place_tier_has_the_106_codes_and_names_of_the_2026_practice_map(tiers_2026, sicbls_2026):
    assert len(tiers_2026) == 33_755
    assert tiers_2026["sicbl_code"].nunique() == 106 and set(tiers_2026["sicbl_code"]) == set(sicbls_2026.index)
    assert (tiers_2026["place_code"] == tiers_2026["sicbl_code"]).all()
    one = tiers_2026.drop_duplicates("sicbl_code").set_index("sicbl_code")
    assert (one["sicbl_name"] == sicbls_2026.loc[one.index, "sicbl_name"]).all()
    assert (one["sicbl_ods_code"] == sicbls_2026.loc[one.index, "sicbl_ods_code"]).all()
    assert (one["system_code"] == sicbls_2026.loc[one.index, "icb_code"]).all()  # the map's ICB of each SICBL
    assert not OLD & set(tiers_2026["sicbl_code"]) and not OLD & set(tiers_2026["place_code"])


def test_recoded_sicbls_keep_their_area_and_frimley_is_split_by_the_2026_icb_boundary(tiers_2026, lookup_codes):
    t = tiers_2026.assign(before=tiers_2026["lsoa21_code"].map(lookup_codes))
    assert set(t.loc[t["before"] == "E38000253", "sicbl_code"]) == {"E38000266"}  # all 1,001 LSOAs
    assert set(t.loc[t["before"] == "E38000264", "sicbl_code"]) == {"E38000267"}  # all 624
    frimley = t[t["before"] == "E38000252"]
    assert len(frimley) == 455 and set(frimley["sicbl_code"]) == set(NEW)
    assert frimley["sicbl_code"].value_counts().to_dict() == {"E38000268": 255, "E38000266": 105, "E38000267": 95}
    assert (frimley["sicbl_code"] == frimley["lsoa_lad_name"].map(FRIMLEY_LADS)).all()
    assert (frimley["sicbl_ods_code"] == frimley["sicbl_code"].map(NEW)).all()
    # how each was placed (the LSOAs' own record)
    link = geography("2026").lsoas.set_index("lsoa21_code")["place_link"]
    assert link[frimley["lsoa21_code"]].str.startswith("split").all()
    assert link[t.loc[t["before"].isin({"E38000253", "E38000264"}), "lsoa21_code"]].str.startswith("recoded").all()


def test_frimley_by_boundary_agrees_with_the_registrations_for_most_lsoas(tiers_2026, lookup_codes):
    """The rule weighed against: each LSOA to the 2026 SICBL of the practices holding most of its
    registered patients (July 2023 registrations, practices' SICBL from the August 2026 map). It
    agrees for 426 of Frimley's 455 LSOAs; the 29 others are border LSOAs whose plurality practice is
    commissioned across the ICB line (e.g. Sandhurst and Crowthorne in Bracknell Forest, registered in
    Hampshire), where the boundary rule keeps the place inside the ICB that holds the LSOA."""
    from icsgeo.registrations import lsoa_registrations

    frimley = tiers_2026[tiers_2026["lsoa21_code"].map(lookup_codes) == "E38000252"].set_index("lsoa21_code")
    practice_sicbl = read(MAP_2026).set_index("practice_code")["sicbl_code"]
    regs = lsoa_registrations()
    regs = regs[regs["lsoa21_code"].isin(frimley.index)].assign(sicbl=lambda r: r["practice_code"].map(practice_sicbl))
    won = areas.most_common(regs.dropna(subset=["sicbl"]), "lsoa21_code", "sicbl", "patients").set_index("lsoa21_code")["sicbl"]
    assert len(won) == len(frimley)  # every Frimley LSOA has registered patients
    agree = (won.reindex(frimley.index) == frimley["sicbl_code"]).mean()
    assert 0.90 < agree < 0.97, agree


@pytest.mark.parametrize("postcode, sicbl, ods, system, sicbl_2023", CHANGED)
def test_postcodes_in_the_changed_areas_answer_2026_codes(postcode, sicbl, ods, system, sicbl_2023, sicbls_2026):
    [a] = icsgeo.where([postcode], vintage="2026").to_dict("records")
    assert a["status"] == "ok"
    assert (a["sicbl_code"], a["sicbl_ods_code"], a["system_code"]) == (sicbl, ods, system)
    assert a["place_code"] == sicbl and a["sicbl_name"] == sicbls_2026.loc[sicbl, "sicbl_name"]
    [b] = icsgeo.where([postcode], vintage="2023").to_dict("records")
    assert b["sicbl_code"] == b["place_code"] == sicbl_2023


def test_the_cli_answers_frimley_with_2026_codes_and_2023_with_frimley(capsys):
    assert main(["where", "GU14 8QB", "--vintage", "2026", "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["place"] == {"code": "E38000266", "name": "Hampshire and Isle of Wight ICB - D9Y0V"}
    assert r["sicbl"] == {"code": "E38000266", "ods_code": "D9Y0V", "name": "NHS Hampshire and Isle of Wight ICB - D9Y0V"}
    assert r["system"]["code"] == "E54000067"
    assert main(["where", "GU14 8QB", "--vintage", "2023", "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["sicbl"] == {"code": "E38000252", "ods_code": "D4U1Y", "name": "NHS Frimley ICB - D4U1Y"}
    assert r["place"]["code"] == "E38000252" and r["system"]["code"] == "E54000034"


def _agree(answers: pd.DataFrame, places: pd.DataFrame) -> None:
    """An answer's place is its Sub-ICB Location: the same code, and the place's name is made from the
    Sub-ICB Location's name (its official name without "NHS", or the council it equals)."""
    ok = answers[answers["status"] == "ok"]
    assert len(ok) and (ok["place_code"] == ok["sicbl_code"]).all()
    official = ok["sicbl_code"].map(places["official_name"])
    assert (official == ok["sicbl_name"]).all(), ok.loc[official != ok["sicbl_name"], ["query", "sicbl_name"]]
    assert (ok["place_name"] == ok["sicbl_code"].map(places["name"])).all()
    by_name = ok["place_name"].str.contains(" ICB - ")  # not named after a council: the official name, tidied
    assert (("NHS " + ok.loc[by_name, "place_name"]) == ok.loc[by_name, "sicbl_name"]).all()
    assert (ok["sicbl_name"].str.split(" - ").str[-1] == ok["sicbl_ods_code"]).all()


def test_place_and_sicbl_agree_across_england(sicbls_2026):
    """One practice postcode per 2026 Sub-ICB Location (the lowest practice code of each)."""
    m = read(MAP_2026).sort_values("practice_code").drop_duplicates("sicbl_code")
    answers = icsgeo.where(m["postcode"].tolist(), vintage="2026")
    assert (answers["status"] == "ok").mean() > 0.95
    assert not OLD & set(answers["sicbl_code"].dropna())
    _agree(answers, geography("2026").places.set_index("code"))
    assert answers["sicbl_code"].nunique() > 95  # the sample spans (nearly) every Sub-ICB Location


def test_mid_and_south_essex_place_and_sicbl_agree():
    answers = icsgeo.where(["CM1 3RW", "CM1 1AE", "SS1 2AA"], vintage="2026")
    _agree(answers, geography("2026").places.set_index("code"))
    chelmsford, _, southend = answers.to_dict("records")
    assert (chelmsford["place_code"], chelmsford["place_name"]) == ("E38000106", "Essex ICB - 06Q")
    assert (chelmsford["sicbl_ods_code"], chelmsford["sicbl_name"]) == ("06Q", "NHS Essex ICB - 06Q")
    assert (southend["place_name"], southend["sicbl_name"]) == ("Southend-on-Sea", "NHS Essex ICB - 99G")
    [before] = icsgeo.where(["CM1 3RW"], vintage="2023").to_dict("records")
    assert before["sicbl_name"] == "NHS Mid and South Essex ICB - 06Q"  # the 2023 name, in a 2023 answer
