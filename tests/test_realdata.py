"""Every real file in the mirror, read in place, against facts known about it."""

import pandas as pd
import pytest

from icsgeo import read, read_text

pytestmark = pytest.mark.realdata


def test_systems_boundaries_by_vintage():
    icb23, icb26, stp21 = read("icb-2023"), read("icb-2026"), read("stp-2021")
    assert len(icb23) == icb23["code"].nunique() == 42
    assert len(icb26) == icb26["code"].nunique() == 36
    assert len(stp21) == 42
    assert "E54000061" in set(icb23["code"]) and "E54000061" in set(icb26["code"])  # South Yorkshire kept its code
    assert {"E54000066", "E54000070"} <= set(icb26["code"])  # Essex, Thames Valley: new in 2026
    assert stp21.set_index("code").loc["E54000009", "name"] == "South Yorkshire and Bassetlaw"
    for g in (icb23, icb26, stp21):
        assert g.crs.to_epsg() == 27700 and g.is_valid.all()
    # England is about 130,000 km² whichever vintage draws it
    assert icb23.area.sum() / 1e6 == pytest.approx(icb26.area.sum() / 1e6, rel=0.01)
    assert 125_000 < icb23.area.sum() / 1e6 < 135_000


def test_places_boundaries():
    sicbl, ccg, lad, ctyua = read("sicbl-2023"), read("ccg-2021"), read("lad-2024"), read("ctyua-2023")
    assert len(sicbl) == 106 and len(ccg) == 106
    assert len(lad) == 361 and lad["code"].str.match(r"E0[6789]").sum() == 296
    assert lad["repaired"].sum() == 9 and lad.is_valid.all()
    assert {"E07000085", "E07000228"} <= set(lad.loc[lad["repaired"], "code"])
    assert len(ctyua) == 218
    assert len(read("nhser-2024")) == 7 and len(read("rgn-2023")) == 9


def test_lsoa_layers_agree():
    polys, pwc = read("lsoa21-bsc"), read("lsoa21-pwc")
    lookup = read("lsoa21-sicbl-icb-lad-2024")
    assert len(polys) == len(pwc) == 35_672
    english = set(polys.loc[polys["code"].str.startswith("E"), "code"])
    assert len(english) == 33_755 == len(lookup) == lookup["lsoa21_code"].nunique()
    assert english == set(lookup["lsoa21_code"]) == set(pwc.loc[pwc["code"].str.startswith("E"), "code"])
    assert (pwc.geom_type == "Point").all()


def test_lsoa_20m_polygons_are_the_finest_present():
    """BGC (20 m): the BSC file's 35,672 LSOAs with about 5x the vertices, 8 invalid as published and
    repaired on read; the ``lsoa_polygons`` role (point in polygon) takes it before BSC."""
    import shapely

    from icsgeo import catalogue
    from icsgeo.sources.inputs import dataset

    bgc, bsc = read("lsoa21-bgc"), read("lsoa21-bsc")
    assert len(bgc) == 35_672 and bgc["code"].is_unique and set(bgc["code"]) == set(bsc["code"])
    assert bgc["code"].str.startswith("E").sum() == 33_755
    assert bgc["repaired"].sum() == 8 and "W01000067" in set(bgc.loc[bgc["repaired"], "code"])
    assert bgc.is_valid.all() and bgc.crs.to_epsg() == 27700
    vertices = shapely.get_num_coordinates(bgc.geometry.values).sum() / shapely.get_num_coordinates(bsc.geometry.values).sum()
    assert 4.5 < vertices < 5.5
    assert dataset(catalogue().role("lsoa_polygons")).id == "lsoa21-bgc"


def test_lsoa21_lookup_roles_and_code_vintage():
    lu = read("lsoa21-sicbl-icb-lad-2024").set_index("lsoa21_code")
    assert lu["icb_code"].nunique() == 42 and lu["sicbl_code"].nunique() == 106 and lu["lad_code"].nunique() == 296
    sheffield = lu[lu["lad_name"] == "Sheffield"]
    assert set(sheffield["lad_code"]) == {"E08000019"}  # pre-2025 code in the 2024 ONS lookup
    assert set(sheffield["sicbl_ods_code"]) == {"03N"} and set(sheffield["icb_ods_code"]) == {"QF7"}


def test_other_lookups():
    chg = read("lsoa11-lsoa21-2022")["change"].value_counts().to_dict()
    assert chg == {"U": 33_647, "S": 1_900, "M": 239, "X": 9}
    assert len(read("lsoa11-sicbl-icb-lad-2022")) == 32_844
    assert len(read("lsoa11-ccg-lad-2021")) == 32_844
    sicbl = read("sicbl-icb-region-2023")
    assert len(sicbl) == 106 and sicbl["icb_code"].nunique() == 42
    assert sicbl["sicbl_code"].iloc[0].startswith("E38")  # the UTF-8 BOM did not leak into the first name
    ccg = read("ccg-stp-region-2021")
    assert ccg.set_index("ccg_ods_code").loc["02Q", "stp_code"] == "E54000009"  # Bassetlaw in SYB in 2021
    lad_icb = read("lad-icb-2024")
    assert len(lad_icb) == 310 and lad_icb["lad_code"].nunique() == 296
    assert (lad_icb.groupby("lad_code").size() > 1).sum() == 13  # LAD -> ICB is not a function
    pop = read("lsoa21-population-2021")
    assert int(pop.loc[pop["lsoa21_code"].str.startswith("E"), "population"].sum()) == 56_490_051


@pytest.mark.parametrize("dataset, active_english_gp, qf7", [("epraccur-2026-02", 6_202, 171), ("epraccur-2023-12", 6_348, 170)])
def test_epraccur_both_formats(dataset, active_english_gp, qf7):
    p = read(dataset)
    sel = p[p["active"] & p["is_gp_practice"] & p["in_england"]]
    assert len(sel) == active_english_gp
    assert sel["icb_ods_code"].nunique() == 42
    assert (sel["icb_ods_code"] == "QF7").sum() == qf7
    assert sel["postcode"].notna().mean() > 0.999


@pytest.mark.parametrize("dataset, practices, icbs, extract", [
    ("gp-practice-map-2025-10", 6_202, 42, "2025-10-01"),
    ("gp-practice-map-2026-01", 6_171, 42, "2026-01-01"),
    ("gp-practice-map-2026-08", 6_129, 36, "2026-08-01"),
])
def test_practice_maps(dataset, practices, icbs, extract):
    m = read(dataset)
    assert len(m) == m["practice_code"].nunique() == practices
    assert m["icb_code"].nunique() == icbs and m["sicbl_code"].nunique() == 106
    assert (m["extract_date"] == pd.Timestamp(extract)).all()
    assert (m.loc[m["is_unallocated"], "pcn_name"] == "Unallocated").all()
    qf7 = m[m["icb_ods_code"] == "QF7"]
    assert qf7["pcn_code"].nunique() == 30 and "U" in set(qf7["pcn_code"])  # 29 real PCNs + U
    assert qf7.loc[qf7["sicbl_ods_code"] == "02P", "pcn_code"].nunique() == 1  # Barnsley: one PCN


def test_practice_map_jan_2026_unallocated_count():
    assert read("gp-practice-map-2026-01")["is_unallocated"].sum() == 59


def test_epcn_tables():
    pcns = read("epcn-2024-10", "pcns")
    members = read("epcn-2024-10", "membership")
    assert len(pcns) == 1_366 and pcns["close_date"].isna().sum() == 1_285
    assert len(members) == 7_705 and members["end_date"].isna().sum() == 6_224
    assert pcns["pcn_code"].str.startswith("U").all()
    assert members["start_date"].notna().all() and members["sicbl_match"].dtype == bool


def test_national_registrations_2023():
    r = read("gp-registrations-lsoa-2023-07")
    assert len(r) == 868_505 and r["practice_code"].nunique() == 6_378
    assert int(r["patients"].sum()) == 62_581_556
    assert (r.loc[r["lsoa_code"] == "NO2011", "lsoa_kind"] == "pseudo").all()
    assert (r["lsoa_code"] == "NO2011").sum() == 4_241
    assert (r["lsoa_kind"] == "wales").sum() > 0
    assert (r["lsoa_vintage"] == "2011").all() and (r["extract_date"] == pd.Timestamp("2023-07-01")).all()


def test_qnc_registrations_2025():
    r = read("gp-registrations-lsoa-qnc-2025-10")
    assert len(r) == 16_864 and r["practice_code"].nunique() == 141 and r["pcn_code"].nunique() == 25
    assert int(r["patients"].sum()) == 1_210_283
    assert set(r.loc[r["lsoa_kind"] == "pseudo", "lsoa_code"]) == {"EMPTY", "CLOSED", "L99999999", "M99999999"}
    assert (r["lsoa_vintage"] == "2021").all()


def test_codepoint_postcodes():
    cp = read("codepoint-open-2025-10")
    assert len(cp) == 1_492_125 and cp["postcode"].is_unique
    assert int(cp["has_location"].sum()) == 1_491_312
    assert cp.loc[~cp["has_location"], ["easting", "lat"]].isna().all().all()
    assert (cp.loc[cp["has_location"], "quality"] != 90).all()
    assert (cp["lad_code"] == "E08000039").sum() == 11_829  # Sheffield, post-2025 code
    s1 = cp.set_index("postcode").loc["S1 2HE"]
    assert 53.3 < s1["lat"] < 53.4 and -1.5 < s1["lon"] < -1.4 and 430_000 < s1["easting"] < 440_000


def test_nspl_latlong():
    ns = read("nspl-latlong-2025-05")
    assert len(ns) == 2_651_941
    assert int((~ns["has_location"]).sum()) == 21_255
    assert (~ns["postcode_valid"]).sum() > 0  # legacy codes such as 'NPT 0AD' are kept and flagged
    assert ns.loc[ns["postcode_valid"], "postcode"].is_unique


def test_codepoint_documentation():
    names = read("codepoint-codelist-2025-10").set_index("code")
    assert "Sheffield" in names.loc["E08000039", "name"] and names.loc["E08000039", "area_type"] == "district"
    assert "2025.4.0" in read_text("codepoint-metadata-2025-10")
    assert "Royal Mail" in read_text("codepoint-licence-2025-10")
    assert "Admin_district_code" in read_text("codepoint-column-headers-2025-10")
    assert len(read("codepoint-nhs-codelist-2025-10")) == 35
