"""Tier sizes and deprivation: `icsgeo profile` on the real files, with one unit recomputed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import icsgeo
from icsgeo.cli import main

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def sy():
    return icsgeo.profile("South Yorkshire")


def test_south_yorkshire_profile_counts_sums_and_bands(sy):
    assert list(sy.columns) == icsgeo.tiers.PROFILE_COLUMNS
    places, nbh, system = sy[sy["tier"] == "place"], sy[sy["tier"] == "neighbourhood"], sy[sy["tier"] == "system"]
    assert len(system) == 1 and len(places) == 4 and len(nbh) == 29 and set(nbh["kind"]) == {"pcn"}
    total = int(system["population"].iloc[0])
    assert places["population"].sum() == total == nbh["population"].sum() == 1_374_977
    assert set(places.loc[places["size_flag"] != "within", "name"]) == {"Barnsley", "Sheffield"}  # 245 k below, 557 k above
    assert (places.set_index("name").loc["Sheffield", "band"]) == "250,000–500,000"
    flagged = nbh[nbh["size_flag"] != "within"]
    assert len(flagged) > 0 and ((flagged["population"] < 30_000) | (flagged["population"] > 50_000)).all()
    assert nbh["place_name"].notna().all() and nbh["area_km2"].gt(0).all() and sy["imd_score"].notna().all()


def test_one_units_imd_recomputed_by_hand(sy):
    imd = icsgeo.read("imd-2025").set_index("lsoa21_code")
    pop = icsgeo.read("lsoa21-population-2021").set_index("lsoa21_code")["population"]
    lu = icsgeo.read("lsoa21-sicbl-icb-lad-2024")
    barnsley = lu.loc[lu["sicbl_ods_code"] == "02P", "lsoa21_code"]
    w = pop.loc[barnsley].astype(float)
    score = (imd.loc[barnsley, "imd_score"] * w).sum() / w.sum()
    worst10 = w[imd.loc[barnsley, "imd_decile"].to_numpy() == 1].sum() / w.sum()
    row = sy[(sy["tier"] == "place") & (sy["name"] == "Barnsley")].iloc[0]
    assert row["imd_score"] == pytest.approx(score) and row["most_deprived_10"] == pytest.approx(worst10)
    assert 0 < row["most_deprived_10"] < row["most_deprived_20"] < 1


def test_local_neighbourhoods_join_the_profile(real_data_dir, tmp_path):
    defn = tmp_path / "shef.yaml"
    defn.write_text(f"id: shef\nname: Sheffield\nvintage: \"2026\"\nplaces:\n  - name: Sheffield\n    lad: [E08000039]\n"
                    f"neighbourhoods:\n  - file: {real_data_dir / 'local/sheffield_neighbourhoods_lsoa11_2021.csv'}\n"
                    f"    name_column: NEIGHBOURHOOD\n", encoding="utf-8")
    p = icsgeo.profile(str(defn))
    local = p[p["kind"] == "local"]
    assert len(local) == 16 and local["population"].sum() == p.loc[p["tier"] == "system", "population"].iloc[0]


def test_profile_command_writes_the_table_and_the_chart_and_the_map_is_shaded(tmp_path, capsys):
    table, chart = tmp_path / "p.csv", tmp_path / "p.png"
    assert main(["profile", "South Yorkshire", "--output", str(table), "--png", str(chart)]) == 0
    err = capsys.readouterr().err
    assert "34 units" in err and "outside their band" in err
    assert len(pd.read_csv(table)) == 34 and chart.stat().st_size > 50_000
    html, png = tmp_path / "m.html", tmp_path / "m.png"
    assert main(["map", "South Yorkshire", "--colour", "imd", "--output", str(html), "--png", str(png)]) == 0
    page = html.read_text(encoding="utf-8")
    assert "IMD 2025 score (population-weighted)" in page and page.count("#bd0026") >= 1
    assert "Ministry of Housing, Communities and Local Government" in page  # the IMD's licence notice
    assert main(["map", "South Yorkshire", "--colour", "nothing", "--output", str(html)]) == 2
