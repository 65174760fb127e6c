"""Families and releases: a new release of a known publication is recognised, validated, recorded and
chosen by date without a code change; a file that is not a valid release is refused, naming why.

Synthetic files in the publishers' own layouts, made here (never copies of the real files)."""

from __future__ import annotations

import json
import zipfile

import pytest

import icsgeo

from icsgeo import DataFormatError, UnknownDatasetError, add_data, families, use_releases
from icsgeo.cli import main
from icsgeo.sources import releases
from icsgeo.sources.catalogue import Catalogue, catalogue, shipped_catalogue
from icsgeo.sources.inputs import datasets

from .helpers import PRACTICE_MAP_COLUMNS, PRACTICE_MAP_HEADER, sha256, write

FAMILY = {
    "title": "practice map", "folder": "nhs", "option": "practice-map", "kind": "pcn-membership",
    "reader": "practice_map", "format": "csv", "publisher": "NHS England", "attribution": "test",
    "names": ["gp-reg-pat-prac-map*.csv", "gp-reg-pat-prac-map*.zip"], "members": ["gp-reg-pat-prac-map*.csv"],
    "required": ["extract_date", "practice_code", "pcn_code", "icb_code"],
    "patterns": {"practice_code": r"^[A-Z]\d{5}$", "icb_code": r"^E54\d{6}$"},
    "rows": [2, 10000], "release": {"role": "extract_date", "format": "%d%b%Y"},
    "by_date": {"icb_vintage": [["", "2023"], ["2026-04-01", "2026"]]},
    "columns": PRACTICE_MAP_COLUMNS,
}


def practice_map(extract: str = "01Nov2026", icb: str = "E54000061", pcn_of_c88001: str = "U11111", n: int = 4500) -> str:
    """A practice map in NHS England's layout: ``n`` practices (as many as a real release: the shipped
    family refuses an implausibly short one), the first, C00001, in ``pcn_of_c88001``."""
    rows = []
    for i in range(n):
        code = f"C{i + 1:05d}"
        pcn = pcn_of_c88001 if i == 0 else "U22222"
        rows.append(f"GP_PRAC_PAT_LIST,{extract},{code},PRACTICE {i},S1 2HE,{pcn},PCN {pcn},E38000146,03N,"
                    f"NHS South Yorkshire ICB - 03N,{icb},QF7,NHS South Yorkshire ICB,E40000012,Y63,North East,EMIS")
    return PRACTICE_MAP_HEADER + "\n".join(rows) + "\n"


def fam() -> releases.Family:
    return releases.family_from("gp-practice-map", FAMILY)


# ------------------------------------------------------------------ validation

def test_a_release_is_dated_from_its_content_and_a_zip_member_is_found(tmp_path):
    plain = write(tmp_path / "gp-reg-pat-prac-map.csv", practice_map("01Nov2026"))
    rec = releases.validate(plain, fam())
    assert (rec["release"], rec["date"], rec["rows"], rec["member"]) == ("2026-11", "2026-11-01", 4500, None)
    zipped = tmp_path / "gp-reg-pat-prac-map.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("gp-reg-pat-prac-map.csv", practice_map("01Dec2026"))
    rec = releases.validate(zipped, fam())
    assert (rec["release"], rec["member"]) == ("2026-12", "gp-reg-pat-prac-map.csv")


def test_without_a_date_column_the_name_gives_the_release_and_else_it_is_refused(tmp_path):
    text = practice_map().replace("EXTRACT_DATE", "WHEN")
    spec = dict(FAMILY, required=["practice_code"])
    f = releases.family_from("gp-practice-map", spec)
    assert releases.validate(write(tmp_path / "gp-reg-pat-prac-map_2026-10.csv", text), f)["date"] == "2026-10-01"
    with pytest.raises(DataFormatError, match="cannot tell which release"):
        releases.validate(write(tmp_path / "gp-reg-pat-prac-map.csv", text), f)


def test_a_missing_required_column_is_refused_naming_it(tmp_path):
    text = practice_map().replace("PCN_CODE", "PCN_REF")
    with pytest.raises(DataFormatError, match=r"lacks the column 'PCN_CODE' \(pcn_code\)"):
        releases.validate(write(tmp_path / "gp-reg-pat-prac-map.csv", text), fam())


def test_codes_of_the_wrong_pattern_are_refused_naming_the_column(tmp_path):
    path = write(tmp_path / "gp-reg-pat-prac-map.csv", practice_map(icb="QF7"))
    with pytest.raises(DataFormatError, match=r"column 'ONS_ICB_CODE' \(icb_code\) holds codes that do not fit") as e:
        releases.validate(path, fam())
    assert "QF7" in str(e.value)


def test_an_implausible_row_count_is_refused(tmp_path):
    path = write(tmp_path / "gp-reg-pat-prac-map.csv", practice_map(n=1))
    with pytest.raises(DataFormatError, match="has 1 rows.*truncated"):
        releases.validate(path, fam())


# ------------------------------------------------------------------ roles and pins over releases

def _catalogue_with(tmp_path, found: releases.Discovery | None = None, pins=None) -> Catalogue:
    known = write(tmp_path / "nhs" / "gp-reg-pat-prac-map_2026-08.csv", practice_map("01Aug2026"))
    raw = {
        "families": {"gp-practice-map": FAMILY},
        "datasets": {"gp-practice-map-2026-08": {"family": "gp-practice-map", "title": "Aug", "vintage": "2026-08",
                                                 "date": "2026-08-01", "file": "nhs/gp-reg-pat-prac-map_2026-08.csv",
                                                 "sha256": sha256(known), "licence": "OGL-3.0"},
                     "gp-practice-map-2026-01": {"family": "gp-practice-map", "title": "Jan", "vintage": "2026-01",
                                                 "date": "2026-01-01", "file": "nhs/jan.csv", "sha256": "0" * 64}},
        "roles": {"practice_maps": {"family": "gp-practice-map", "combine": True}},
        "vintages": {"2026": {"place_role": "sicbl", "system_role": "icb", "system_link": "practice-map",
                              "valid": ["2026-04-01", ""],
                              "roles": {"practice_map": {"family": "gp-practice-map", "within": "vintage"}}}},
    }
    return Catalogue.from_dict(raw, found=found, pins=pins)


def _found(tmp_path) -> releases.Discovery:
    new = write(tmp_path / "nhs" / "gp-reg-pat-prac-map_2026-11.csv", practice_map("01Nov2026"))
    rec = {**releases.validate(new, fam()), "family": "gp-practice-map", "file": "nhs/gp-reg-pat-prac-map_2026-11.csv",
           "sha256": sha256(new), "recorded": "2026-12-01T00:00:00+00:00"}
    return releases.Discovery(releases=[rec])


def test_a_recorded_release_becomes_the_newest_and_inherits_its_family(tmp_path):
    cat = _catalogue_with(tmp_path, _found(tmp_path))
    assert cat.vintage("2026").ids("practice_map") == ("gp-practice-map-2026-11", "gp-practice-map-2026-08")
    new = cat.get("gp-practice-map-2026-11")
    assert (new.reader, new.kind, new.date, new.get("icb_vintage")) == ("practice_map", "pcn-membership", "2026-11-01", "2026")
    assert cat.get("gp-practice-map-2026-01").get("icb_vintage") == "2023"  # by date, from the family
    # the January map is of the 42-ICB geography: outside the 2026 vintage's window
    assert cat.role("practice_maps").datasets == ("gp-practice-map-2026-01", "gp-practice-map-2026-08", "gp-practice-map-2026-11")


def test_a_pinned_release_replaces_the_newest_and_a_bad_pin_says_what_exists(tmp_path):
    found = _found(tmp_path)
    cat = _catalogue_with(tmp_path, found, pins={"practice-map": "2026-08"})
    assert cat.vintage("2026").ids("practice_map") == ("gp-practice-map-2026-08",)
    assert cat.role("practice_maps").datasets == ("gp-practice-map-2026-01", "gp-practice-map-2026-08")
    wrong_geography = _catalogue_with(tmp_path, found, pins={"practice-map": "2026-01"})
    role = wrong_geography.vintage("2026").role("practice_map")
    assert role.datasets == () and "not of the geography asked for" in role.refusal
    absent = _catalogue_with(tmp_path, found, pins={"practice-map": "2027-03"})
    assert "releases known: 2026-01, 2026-08, 2026-11" in absent.vintage("2026").role("practice_map").refusal
    with pytest.raises(UnknownDatasetError, match="releases are chosen by: practice-map"):
        _catalogue_with(tmp_path, found, pins={"practise-map": "2026-08"})


# ------------------------------------------------------------------ the data folder, the registry, `data add`

def test_a_new_file_in_the_data_folder_is_recorded_and_used_without_a_code_change(tmp_path, monkeypatch):
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(tmp_path / "data"))
    write(tmp_path / "data" / "nhs" / "gp-reg-pat-prac-map_2026-11.csv", practice_map("01Nov2026"))
    cat = catalogue()
    assert "gp-practice-map-2026-11" in cat
    assert cat.vintage("2026").ids("practice_map")[0] == "gp-practice-map-2026-11"
    assert [e.id for e in datasets(cat.vintage("2026").role("practice_map"))] == ["gp-practice-map-2026-11"]
    reg = json.loads(releases.registry_path().read_text())
    assert [r["release"] for r in reg["releases"].values()] == ["2026-11"]
    with use_releases(practice_map="2026-08"):  # the catalogued August release: known, but not present here
        assert catalogue().vintage("2026").ids("practice_map") == ("gp-practice-map-2026-08",)
    assert catalogue().vintage("2026").ids("practice_map")[0] == "gp-practice-map-2026-11"


def test_a_recorded_release_altered_in_place_is_refused_and_said(tmp_path, monkeypatch):
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(tmp_path / "data"))
    path = write(tmp_path / "data" / "nhs" / "gp-reg-pat-prac-map_2026-11.csv", practice_map("01Nov2026"))
    assert "gp-practice-map-2026-11" in catalogue()
    write(path, practice_map("01Nov2026", pcn_of_c88001="U33333"))
    cat = catalogue()
    assert "gp-practice-map-2026-11" not in cat
    [(where, why)] = cat.discovery.refused
    assert where == str(path) and "changed since it was recorded" in why and "icsgeo data add" in why
    summary = next(f for f in families() if f["family"] == "gp-practice-map")
    assert summary["refused"][0]["why"] == why


def test_a_file_named_like_a_family_but_invalid_is_refused_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(tmp_path / "data"))
    write(tmp_path / "data" / "nhs" / "gp-reg-pat-prac-map_2026-11.csv", practice_map().replace("PCN_CODE", "PCN"))
    cat = catalogue()
    assert not [d for d in cat.releases("gp-practice-map") if d.vintage == "2026-11"]
    assert "lacks the column 'PCN_CODE'" in cat.discovery.refused[0][1]


def test_data_add_names_a_publisher_file_by_its_release_and_refuses_what_it_cannot_use(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(tmp_path / "data"))
    download = write(tmp_path / "downloads" / "gp-reg-pat-prac-map.csv", practice_map("01Nov2026"))
    bad = write(tmp_path / "downloads" / "gp-reg-pat-prac-map (1).csv", practice_map(icb="QF7"))
    other = write(tmp_path / "downloads" / "notes.csv", "a,b\n1,2\n")
    assert main(["data", "add", str(download), str(bad), str(other)]) == 1
    out, err = capsys.readouterr()
    assert "the 2026-11 release of gp-practice-map" in out
    assert (tmp_path / "data" / "nhs" / "gp-reg-pat-prac-map_2026-11.csv").read_bytes() == download.read_bytes()
    assert "ONS_ICB_CODE" in err and "notes.csv refused" in err
    assert sorted(p.name for p in (tmp_path / "data" / "nhs").iterdir()) == ["gp-reg-pat-prac-map_2026-11.csv"]
    [rec] = add_data([download])  # adding it again is harmless: it is now a known release
    assert (rec["status"], rec["id"]) == ("known", "gp-practice-map-2026-11")
    assert main(["data", "--json", "--families", "--no-rows"]) == 0
    summary = {f["family"]: f for f in json.loads(capsys.readouterr().out)["families"]}
    assert summary["gp-practice-map"]["default"] == "gp-practice-map-2026-11"
    assert [r["release"] for r in summary["gp-practice-map"]["releases"] if r["present"]] == ["2026-11"]


def test_every_catalogue_entry_has_a_download_url_or_says_why_not():
    for d in shipped_catalogue():
        assert d.url or d.get("url_note"), f"{d.id}: give `url`, or `url_note` saying why there is none"
        if d.url:
            assert d.url.startswith("https://"), d.id


def test_data_fetch_says_why_it_cannot_download_offline_or_without_a_url(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ICSGEO_OFFLINE", "1")
    rows = {r["id"]: r for r in icsgeo.fetch_data(["codepoint-open", "gp-practice-map-2026-08", "icb-2026"])}
    assert rows["codepoint-open"]["status"] == "failed" and "ICSGEO_OFFLINE" in rows["codepoint-open"]["why"]
    assert rows["gp-practice-map-2026-08"]["status"] == "failed" and "ICSGEO_OFFLINE" in rows["gp-practice-map-2026-08"]["why"]
    assert rows["icb-2026"]["status"] == "no_url" and "Open Geography Portal" in rows["icb-2026"]["why"]
    assert main(["data", "fetch", "icb-2026"]) == 1
    assert "icb-2026: no_url" in capsys.readouterr().out
