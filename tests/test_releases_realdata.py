"""A new monthly release on the real mirror, with no code change: a renamed, re-dated copy of the
August 2026 practice map with one practice moved to another PCN is picked up as the newest release;
answers and footprints state its date and reflect the move; the old release is still selectable.

The copy of the mirror is symlinks (nothing real is copied into the project); the new release is
written into the test's temporary folder."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

import icsgeo
from icsgeo import use_releases
from icsgeo.cli import main

from .helpers import mirror_with

pytestmark = pytest.mark.realdata

MAP = "nhs/gp-reg-pat-prac-map_2026-08.zip"


def _moved(real_data_dir) -> tuple[bytes, str, str, str]:
    """The August map as CSV bytes, re-dated to November with the largest practice of a Sheffield PCN
    (one with at least three practices) moved to the next Sheffield PCN; (bytes, practice, old, new)."""
    with zipfile.ZipFile(real_data_dir / MAP) as zf:
        raw = zf.read("gp-reg-pat-prac-map.csv")
    f = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    sheffield = f[(f["SUB_ICB_LOCATION_CODE"] == "03N") & (f["PCN_CODE"] != "U")]
    sizes = sheffield.groupby("PCN_CODE").size()
    pcns = sorted(sizes[sizes >= 3].index)
    old, new = pcns[0], pcns[1]
    practice = sorted(sheffield.loc[sheffield["PCN_CODE"] == old, "PRACTICE_CODE"])[0]
    f["EXTRACT_DATE"] = "01Nov2026"
    row = f["PRACTICE_CODE"] == practice
    f.loc[row, "PCN_CODE"] = new
    f.loc[row, "PCN_NAME"] = f.loc[f["PCN_CODE"] == new, "PCN_NAME"].iloc[0]
    return f.to_csv(index=False, lineterminator="\r\n").encode(), practice, old, new


@pytest.fixture(scope="module")
def november(real_data_dir, tmp_path_factory):
    data, practice, old, new = _moved(real_data_dir)
    mirror = mirror_with(real_data_dir, tmp_path_factory.mktemp("mirror"))
    (mirror / "nhs" / "gp-reg-pat-prac-map_2026-11.csv").write_bytes(data)
    return mirror, practice, old, new


def test_a_new_practice_map_in_the_data_folder_is_the_newest_release_with_no_code_change(november, monkeypatch, capsys):
    mirror, practice, old, new = november
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(mirror))
    cat = icsgeo.catalogue()
    assert cat.vintage("2026").ids("practice_map")[0] == "gp-practice-map-2026-11"
    assert cat.get("gp-practice-map-2026-11").get("icb_vintage") == "2026"  # 36-ICB codes, by its date
    g = icsgeo.geography("2026")
    assert g.practice_map == "gp-practice-map-2026-11"
    # the practice's neighbourhood is its new PCN; the August release, still selectable, has the old
    practices = icsgeo.practices(icsgeo.geography("2026"))
    assert practices.set_index("practice_code").loc[practice, "pcn_code"] == new
    with use_releases(practice_map="2026-08"):
        assert icsgeo.geography("2026").practice_map == "gp-practice-map-2026-08"
        before = icsgeo.practices(icsgeo.geography("2026")).set_index("practice_code")
    assert before.loc[practice, "pcn_code"] == old

    # footprints state the new date and have the practice in its new PCN
    table = icsgeo.neighbourhood_table()
    row = table.set_index("pcn_code")
    assert practice in row.loc[new, "practice_codes"].split(";") and practice not in row.loc[old, "practice_codes"].split(";")
    assert str(row.loc[new, "practice_map_date"])[:10] == "2026-11-01"

    # a postcode whose LSOA changed neighbourhood with the move, answered by both releases
    now = icsgeo.neighbourhood_lsoas().set_index("lsoa21_code")["pcn_code"]
    was = icsgeo.neighbourhood_lsoas("gp-practice-map-2026-08").set_index("lsoa21_code")["pcn_code"]
    moved = sorted(now.index[(now != was) & (now == new)])
    assert moved, "moving a Sheffield PCN's largest practice moves at least one LSOA"
    assert "practice map 2026-11" in icsgeo.where(["S1 2HE"]).loc[0, "made_from"]
    answers = icsgeo.lookup(_postcodes_in(moved[0]))
    assert answers and answers[0]["neighbourhood"]["code"] == new and "practice map 2026-11" in answers[0]["made_from"]
    assert main(["where", answers[0]["postcode"], "--json", "--practice-map", "2026-08"]) in (0, 1)
    import json

    old_answer = json.loads(capsys.readouterr().out)[0]
    assert old_answer["neighbourhood"]["code"] == was[moved[0]] and "practice map 2026-08" in old_answer["made_from"]


def _postcodes_in(lsoa: str) -> list[str]:
    """A few live postcodes of an LSOA (from the answers of Sheffield's S-district postcodes)."""
    from icsgeo.locate import postcode_table

    t = postcode_table()
    return t.loc[(t["lsoa21_code"] == lsoa) & (t["source"] == "postcodes"), "postcode"].head(3).tolist()


def test_a_national_registrations_release_on_lsoa_2021_replaces_the_carried_forward_counts(real_data_dir, tmp_path, monkeypatch):
    """The QNC file (LSOA 2021 codes, as the national file has been published since April 2025),
    treated as a release of the national family: recognised by its name, dated from it, read on LSOA
    2021 codes and used in place of the July 2023 LSOA 2011 counts for the practices it covers."""
    qnc = "nhs/gp-reg-pat-prac-lsoa_QNC-subset_2025-10.csv"
    mirror = mirror_with(real_data_dir, tmp_path / "mirror")
    (mirror / qnc).unlink()  # the catalogued subset out of the way
    # its rows as a re-export would write them (other line endings): not byte-identical to the catalogued
    # file, which icsgeo would otherwise recognise as that dataset by its sha256
    raw = (real_data_dir / qnc).read_bytes()
    raw = raw.replace(b"\r\n", b"\n") if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")
    (mirror / "nhs" / "gp-reg-pat-prac-lsoa-all_2025-10.csv").write_bytes(raw)
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(mirror))
    cat = icsgeo.catalogue()
    rel = cat.get("gp-registrations-lsoa-2025-10")
    assert (rel.date, rel.get("lsoa_vintage"), rel.get("family")) == ("2025-10-01", "2021", "gp-registrations-lsoa")
    from icsgeo.sources.inputs import datasets

    assert [e.id for e in datasets(cat.role("registrations"))] == ["gp-registrations-lsoa-2023-07", "gp-registrations-lsoa-2025-10"]
    frame = icsgeo.read(rel)
    assert set(frame["lsoa_vintage"]) == {"2021"} and len(frame) == 16864
    from icsgeo.registrations import lsoa_registrations

    reg = lsoa_registrations()
    staffs = frame.loc[frame["lsoa_kind"] == "england", "practice_code"].unique()
    used = reg[reg["practice_code"].isin(staffs)]
    assert len(used) and set(used["source"]) == {"2025-10 national"}  # not the July 2023 LSOA 2011 rows
    assert used["lsoa21_code"].isin(frame["lsoa_code"]).all()  # its own LSOA 2021 codes, not converted ones


def test_with_an_onspd_present_answers_take_its_official_lsoa_and_say_so(real_data_dir, tmp_path, monkeypatch):
    """A (synthetic, six-postcode) ONSPD release in the ONS layout beside the mirror: the postcodes it
    lists are answered with its LSOA (method ``directory``), even where space would say another; its
    terminated postcode is ``terminated``; its Welsh one ``outside_england``. The postcode file in use
    is the directory, and the answer says so in ``made_from``."""
    from dataclasses import replace

    from icsgeo.sources import releases

    from .test_postcode_files import ONSPD_HEADER, PEOPLE, _directory_csv, _zip

    mirror = mirror_with(real_data_dir, tmp_path / "mirror")
    (mirror / "postcodes" / "nspl_2025-05_gb_postcode_latlong.parquet").unlink()  # only the directory's postcodes
    monkeypatch.setenv("ICSGEO_DATA_DIR", str(mirror))
    base = icsgeo.read("lsoa21-sicbl-icb-lad-2024")
    other = base.loc[(base["lad_code"] == "E08000019") & (base["lsoa21_code"] != "E01033264"), "lsoa21_code"].iloc[0]
    people = [dict(PEOPLE[0], lsoa21=other), *PEOPLE[1:]]  # S1 2HE: the directory names another Sheffield LSOA
    path = _zip(mirror / "postcodes" / "ONSPD_NOV_2026_UK.zip", {"Data/ONSPD_NOV_2026_UK.csv": _directory_csv(ONSPD_HEADER, people)})
    family = icsgeo.catalogue().families["onspd"]
    with pytest.raises(icsgeo.DataFormatError, match="has 6 rows"):  # a real release has millions
        releases.validate(path, family)
    releases.record(path, replace(family, rows=(1, 10)))  # recorded as a test release, by its own rules otherwise
    cat = icsgeo.catalogue()
    assert cat.role("postcodes").datasets[0] == "onspd-2026-11"
    got = {r["query"]: r for r in icsgeo.lookup(["S1 2HE", "S10 2TN", "CF10 1AA"])}
    assert got["S1 2HE"]["lsoa"]["code"] == other and got["S1 2HE"]["lsoa"]["method"] == "directory"
    assert got["S1 2HE"]["system"]["code"] == "E54000061" and got["S1 2HE"]["sicbl"]["code"] == "E38000146"
    assert got["S1 2HE"]["made_from"].startswith("postcodes 2026-11")
    assert got["S10 2TN"]["status"] == "terminated" and got["S10 2TN"]["lsoa"]["method"] == "directory"
    assert got["CF10 1AA"]["status"] == "outside_england"
