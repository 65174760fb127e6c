"""The map renderer: MapLayers checks, display preparation, the folium page (HTML assertions with
folium's random ids normalised), the offline inlining, the static figure; real-data size budgets.

The toy ICS used throughout (built in code, EPSG:27700, near Sheffield):

    +-------------------- North ICS (context) ------------------+
    |                                                            |
    +---------+------------------+-------------------------------+
    | West    |  place "West"    ~   place <svg onload=alert(3)>  |   system: 20 x 12 km box
    | ICS     |  = PCN U00001    ~   PCN U00002 <img onerror> (N)  |   the two places share a
    | (ctx)   |                  ~   ----------------------------  |   meandering border (121 vertices)
    |         |                  ~   PCN U00003 "South & East" (S) |
    +---------+------------------+-------------------------------+

Four practices, one of them named <script>alert(1)</script>. Every name shown anywhere on the page
comes from the data, so each tier carries a hostile one.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

folium = pytest.importorskip("folium")

from icsgeo.render import (  # noqa: E402
    LayerError,
    MapLayers,
    OfflineAssetError,
    draw_figure,
    draw_map,
    external_references,
    save_map,
    shipped_assets,
)
from icsgeo.render._layers import place_colours, simplify  # noqa: E402

X0, Y0 = 430_000, 380_000
XSS_PRACTICE = "<script>alert(1)</script>"
XSS_PCN = "<img src=x onerror=alert(2)>"
XSS_PLACE = "<svg onload=alert(3)>"
XSS_SYSTEM = "Toy <b onmouseover=alert(4)>ICS</b>"
XSS_TITLE = "Toy map <script>alert(5)</script>"
PAYLOADS = (XSS_PRACTICE, XSS_PCN, XSS_PLACE, XSS_SYSTEM, XSS_TITLE, "alert(6)</script>")
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"

ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
    "Contains OS data © Crown copyright and database right 2024. Contains public sector information "
    "licensed under the Open Government Licence v3.0 (NHS England). Contains OS data © Crown copyright and "
    "database right 2025; Contains Royal Mail data © Royal Mail copyright and database right 2025."
)


def normalise(html: str) -> str:
    """folium's element ids are random hex: replace them by a fixed token."""
    return re.sub(r"[0-9a-f]{32}", "ID", html)


# --- the toy ICS --------------------------------------------------------------------------------------


def _border(step=100, amp=30):
    """The West/East border: a meander with a 30 m zigzag on it, 121 vertices."""
    return [(X0 + 10_000 + 400 * math.sin(i / 7) + (amp if i % 2 else -amp), Y0 + i * step) for i in range(121)]


def toy_layers(**overrides) -> MapLayers:
    border = _border()
    west = Polygon([(X0, Y0), *border, (X0, Y0 + 12_000)])
    east = Polygon([(X0 + 20_000, Y0), (X0 + 20_000, Y0 + 12_000), *reversed(border)])
    crs = "EPSG:27700"
    system = gpd.GeoDataFrame({"code": ["E54000999"], "name": [XSS_SYSTEM]}, geometry=[box(X0, Y0, X0 + 20_000, Y0 + 12_000)], crs=crs)
    places = gpd.GeoDataFrame({"code": ["E38000901", "E38000902"], "name": ["West", XSS_PLACE]}, geometry=[west, east], crs=crs)
    north = east.intersection(box(X0, Y0 + 6_000, X0 + 20_000, Y0 + 12_000))
    south = east.intersection(box(X0, Y0, X0 + 20_000, Y0 + 6_000))
    nbh = gpd.GeoDataFrame(
        {
            "pcn_code": ["U00001", "U00002", "U00003"],
            "pcn_name": ["West PCN", XSS_PCN, "South & East PCN"],
            "practices": [2, 1, 1],
            "registered_patients": pd.array([31_500, 12_250, pd.NA], dtype="Int64"),
            "method": ["registrations", "registrations", "nearest practice"],
            "confidence": [0.81, 0.64, np.nan],
        },
        geometry=[west, north, south],
        crs=crs,
    )
    practices = gpd.GeoDataFrame(
        {
            "practice_code": ["C80001", "C80002", "C80003", "C80004"],
            "name": ["Riverside Surgery", XSS_PRACTICE, "Smith & Partners", "Hill $5 Practice"],
            "postcode": ["S1 2HE", "S2 3AB", "S3 4CD", "S4 5EF"],
            "pcn_code": ["U00001", "U00002", "U00003", "U00001"],
            "pcn_name": ["West PCN", XSS_PCN, "South & East PCN", "West PCN"],
        },
        geometry=[Point(X0 + 3_000, Y0 + 3_000), Point(X0 + 15_000, Y0 + 9_000), Point(X0 + 15_000, Y0 + 3_000),
                  Point(X0 + 5_000, Y0 + 9_000)],
        crs=crs,
    )
    england = gpd.GeoDataFrame(
        {"code": ["E54000999", "E54000998", "E54000997"], "name": [XSS_SYSTEM, "North ICS", "West ICS"]},
        geometry=[system.geometry.iloc[0], box(X0, Y0 + 12_000, X0 + 20_000, Y0 + 30_000),
                  Polygon([(X0 - 15_000, Y0), (X0, Y0), (X0, Y0 + 12_000), (X0, Y0 + 30_000), (X0 - 15_000, Y0 + 30_000)])],
        crs=crs,
    )
    kw = dict(title=XSS_TITLE, system=system, places=places, neighbourhoods=nbh, practices=practices, england=england,
              attribution=ATTRIBUTION + " alert(6)</script>", subtitle="Neighbourhoods: toy footprints & test data")
    kw.update(overrides)
    return MapLayers(**kw)


@pytest.fixture
def toy() -> MapLayers:
    return toy_layers()


@pytest.fixture
def toy_html(toy, tmp_path) -> str:
    return save_map(draw_map(toy), tmp_path / "toy.html").read_text(encoding="utf-8")


# --- MapLayers ----------------------------------------------------------------------------------------


def test_maplayers_names_the_missing_column(toy):
    with pytest.raises(LayerError, match=r"neighbourhoods layer lacks the column\(s\) \['pcn_name'\]"):
        toy_layers(neighbourhoods=toy.neighbourhoods.drop(columns="pcn_name"))


def test_maplayers_refuses_no_crs_wrong_geometry_and_non_frames(toy):
    with pytest.raises(LayerError, match="no CRS"):
        toy_layers(places=toy.places.set_crs(None, allow_override=True))
    with pytest.raises(LayerError, match="practices layer must hold Point"):
        toy_layers(practices=toy.places.rename(columns={"code": "practice_code"}))
    with pytest.raises(LayerError, match="must be a GeoDataFrame"):
        toy_layers(system=pd.DataFrame({"code": ["x"], "name": ["y"]}))


def test_maplayers_reprojects_to_british_national_grid(toy):
    layers = toy_layers(places=toy.places.to_crs("EPSG:4326"))
    assert layers.layer("places").crs.to_epsg() == 27700
    assert layers.layer("places").total_bounds == pytest.approx(toy.places.total_bounds, abs=0.01)


def test_optional_tiers_can_be_left_out(toy, tmp_path):
    layers = MapLayers(title="Just a system", system=toy.system)
    page = save_map(draw_map(layers), tmp_path / "s.html").read_text(encoding="utf-8")
    assert page.count("L.geoJson(") == 1 and "Places (" not in page
    assert draw_figure(layers) is not None


# --- preparation --------------------------------------------------------------------------------------


def _grid(n: int) -> gpd.GeoDataFrame:
    cells = [box(X0 + i * 1000, Y0 + j * 1000, X0 + (i + 1) * 1000, Y0 + (j + 1) * 1000) for i in range(n) for j in range(n)]
    return gpd.GeoDataFrame({"code": [f"P{k}" for k in range(n * n)], "name": [f"P{k}" for k in range(n * n)]},
                            geometry=cells, crs="EPSG:27700")


@pytest.mark.parametrize("n", [3, 5])  # 9 places: one colour each; 25: a few colours, balanced
def test_neighbouring_places_never_share_a_colour(n):
    g = _grid(n)
    colours = place_colours(g)
    assert len(colours) == n * n
    touching = [(a, b) for a in range(len(g)) for b in range(a + 1, len(g)) if g.geometry[a].intersects(g.geometry[b])]
    assert touching and all(colours[a] != colours[b] for a, b in touching)
    if n * n <= 12:
        assert len(set(colours)) == n * n  # few places: each its own colour (the legend names them)


def test_coverage_simplification_keeps_one_shared_border(toy):
    places = toy.layer("places")
    out = simplify(places, tolerance=100)
    west, east = out.geometry
    assert shapely.get_num_coordinates(out.geometry.values).sum() < shapely.get_num_coordinates(places.geometry.values).sum() / 3
    assert west.intersection(east).area == pytest.approx(0, abs=1e-6)  # no overlap
    assert shapely.union_all(out.geometry.values).area == pytest.approx(west.area + east.area)  # no gap
    assert out.geometry.is_valid_coverage()
    # plain per-polygon simplification would have opened slivers along the zigzag
    plain = places.geometry.simplify(100)
    assert plain.iloc[0].intersection(plain.iloc[1]).area > 1000 and not plain.is_valid_coverage()


# --- the folium page ------------------------------------------------------------------------------------


def test_one_layer_per_tier_nested_in_the_layer_control(toy_html):
    page = normalise(toy_html)
    for pane in ("icsgeo-context", "icsgeo-places", "icsgeo-system", "icsgeo-neighbourhoods", "icsgeo-practices"):
        assert page.count(f'"pane": "{pane}"') == 1, pane
    assert page.count("L.geoJson(") == 5
    # names: places and neighbourhoods, each where it fits (a compact layer of its own)
    assert page.count('icsgeo_labeller("place", 1, "icsgeo-labels", false)') == 1
    assert page.count('icsgeo_labeller("nbh", 3, "icsgeo-labels", false)') == 1
    tree = page[page.index("L.control.layers.tree("):]
    tree = tree[: tree.index(").addTo(")]
    order = [tree.index(s) for s in ("System", "Places (2)", "Neighbourhoods (3)", "GP practices (4)", "Other systems of England")]
    assert order == sorted(order)
    assert tree.count('"children"') == 3  # system › places › neighbourhoods › practices
    for plugin in ("L.Control.Search(", "L.control.fullscreen(", "icsgeo-legend", "icsgeo-inset", "addAttribution("):
        assert plugin in page


def test_every_name_from_the_data_is_escaped(toy_html):
    for payload in PAYLOADS:
        assert payload not in toy_html, payload
    # names travel as JSON with "<" escaped, and are put into the page with textContent ...
    assert json.dumps(XSS_PRACTICE).replace("<", "\\u003c").replace(">", "\\u003e") in toy_html
    # ... or HTML-escaped in Python (title, legend, layer control, attribution)
    assert "<title>Toy map &lt;script&gt;alert(5)&lt;/script&gt;</title>" in toy_html
    assert "&lt;svg onload=alert(3)&gt;" in toy_html.replace("\\u0026", "&")  # the legend


def test_self_contained_page_needs_no_network(toy, tmp_path):
    m = draw_map(toy)
    offline = save_map(m, tmp_path / "offline.html").read_text(encoding="utf-8")
    cdn = save_map(m, tmp_path / "cdn.html", self_contained=False).read_text(encoding="utf-8")
    assert external_references(offline) == []
    assert not re.search(r"<script[^>]*\bsrc=", offline)
    assert not re.search(r"<link[^>]*href=[\"']https?:", offline)
    assert "url(http" not in offline and "@import" not in offline
    assert "<!-- leaflet 1.9.3 (BSD-2-Clause)" in offline and "L.Control.Layers.Tree" in offline
    assert "<!-- jquery" not in offline  # the page does not use it: left out
    refs = external_references(cdn)
    assert any("leaflet" in r and r.endswith(".js") for r in refs) and len(cdn) < len(offline)


def test_offline_page_refuses_a_library_it_cannot_inline(toy, tmp_path):
    m = draw_map(toy)
    folium.plugins.MiniMap().add_to(m)
    with pytest.raises(OfflineAssetError, match="Control.MiniMap.js"):
        save_map(m, tmp_path / "x.html")
    assert save_map(m, tmp_path / "x.html", self_contained=False).exists()
    m2 = draw_map(toy)
    folium.Marker([53.4, -1.5], icon=folium.Icon(color="red")).add_to(m2)
    with pytest.raises(OfflineAssetError, match="AwesomeMarkers"):
        save_map(m2, tmp_path / "y.html")


def test_jquery_and_marker_icons_inlined_only_when_a_folium_popup_needs_them(toy, tmp_path):
    m = draw_map(toy)
    folium.Marker([53.4, -1.5], popup="a folium popup").add_to(m)
    page = save_map(m, tmp_path / "p.html").read_text(encoding="utf-8")
    assert "<!-- jquery 3.7.1 (MIT)" in page and "L.Icon.Default.mergeOptions" in page
    assert external_references(page) == []


def test_rendering_is_deterministic_once_ids_are_normalised(toy):
    a = normalise(draw_map(toy).get_root().render())
    b = normalise(draw_map(toy).get_root().render())
    assert a == b


def test_show_and_tiles(toy, tmp_path):
    m = draw_map(toy, show=("system", "places"))
    page = m.get_root().render()
    added = {c.layer_name for c in m._children.values() if isinstance(c, folium.GeoJson) and f"{c.get_name()}.addTo(" in page}
    assert added == {"System", "Other systems"}  # places sit in a FeatureGroup; neighbourhoods, practices hidden
    assert "tileLayer" not in page
    with_tiles = draw_map(toy, tiles="OpenStreetMap").get_root().render()
    assert "tile.openstreetmap.org" in with_tiles
    with pytest.raises(ValueError, match="names no tier"):
        draw_map(toy, show=("places", "wards"))


def test_tooltip_and_popup_fields(toy_html):
    for label in ("Registered patients", "Footprint method", "Confidence", "Postcode", "PCN code"):
        assert label in toy_html
    assert '"registered_patients": "31,500"' in toy_html and '"registered_patients": null' in toy_html
    assert '"confidence": "0.64"' in toy_html


def test_shipped_assets_are_complete_and_small():
    from icsgeo.render._offline import _assets

    total = 0
    for package in shipped_assets():
        assert (_assets() / package["licence_file"]).is_file(), package["name"]
        for f in package["files"]:
            total += len((_assets() / f).read_bytes())
    assert {p["name"] for p in shipped_assets()} == {"leaflet", "jquery", "leaflet.control.layers.tree", "leaflet-search", "leaflet.fullscreen"}
    assert total < 400_000
    manifest = json.loads((_assets() / "manifest.json").read_text())
    extras = [f for p in manifest["packages"] for f in p.get("extra", [])]
    assert extras and all((_assets() / f).is_file() for f in extras)
    # .gitignore drops dist/ and build/ folders from git and from the wheel: no asset may live in one
    files = [f for p in shipped_assets() for f in p["files"]] + extras
    assert not [f for f in files if {"dist", "build"} & set(Path(f).parts)]


# --- the static figure ----------------------------------------------------------------------------------


def test_static_figure_is_a4_width_at_200_dpi(toy, tmp_path):
    from PIL import Image

    path = draw_figure(toy, tmp_path / "toy.png") and tmp_path / "toy.png"
    with Image.open(path) as im:
        assert im.size == (2400, 1400)
        assert len(im.convert("RGB").resize((60, 35)).getcolors(4096)) > 20  # something was drawn
    fig = draw_figure(toy_layers(england=None))
    assert fig.get_size_inches() == pytest.approx((12, 7))


# --- real data ------------------------------------------------------------------------------------------

REAL_SUBTITLE = ("Places: Sub-ICB Locations (2023). Neighbourhoods: TEST footprints (each LSOA to the PCN of its "
                 "nearest practice), PCNs of the January 2026 practice map")


def _real_practices(icb_code: str | None = None) -> gpd.GeoDataFrame:
    import icsgeo

    pm = icsgeo.read("gp-practice-map-2026-01")
    if icb_code:
        pm = pm[pm["icb_code"] == icb_code]
    cpo = icsgeo.read("codepoint-open-2025-10")
    pm = pm.merge(cpo.loc[cpo["has_location"], ["postcode", "easting", "northing"]], on="postcode")
    return gpd.GeoDataFrame(pm.rename(columns={"practice_name": "name"}),
                            geometry=gpd.points_from_xy(pm["easting"], pm["northing"]), crs="EPSG:27700",
                            )[["practice_code", "name", "postcode", "pcn_code", "pcn_name", "geometry"]]


def _test_footprints(practices: gpd.GeoDataFrame, lsoa_codes: set[str]) -> gpd.GeoDataFrame:
    """Realistic polygons standing in for the PCN footprints (icsgeo.neighbourhoods will make the real
    ones): each LSOA 2021 goes to the PCN of the practice nearest its population-weighted centroid."""
    import icsgeo

    pwc = icsgeo.read("lsoa21-pwc")
    pwc = pwc[pwc["code"].isin(lsoa_codes)][["code", "geometry"]]
    real = practices[practices["pcn_code"] != "U"]
    near = gpd.sjoin_nearest(pwc, real[["pcn_code", "pcn_name", "geometry"]], distance_col="d").drop_duplicates("code")
    polys = icsgeo.read("lsoa21-bsc")
    polys = polys[polys["code"].isin(lsoa_codes)][["code", "geometry"]].merge(near[["code", "pcn_code", "pcn_name", "d"]], on="code")
    rows = []
    for (code, name), grp in polys.groupby(["pcn_code", "pcn_name"]):
        try:
            geom = shapely.coverage_union_all(grp.geometry.values)
        except shapely.errors.GEOSException:  # a few LSOA edges are not noded exactly
            geom = shapely.union_all(grp.geometry.values)
        rows.append((code, name, round(float((grp["d"] < 1500).mean()), 2), geom))
    g = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["pcn_code", "pcn_name", "confidence", "geometry"]), crs=polys.crs)
    g["practices"] = g["pcn_code"].map(real.groupby("pcn_code").size()).fillna(0).astype(int)
    g["registered_patients"] = pd.array([pd.NA] * len(g), dtype="Int64")
    g["method"] = "TEST: nearest practice"
    return g


@functools.lru_cache(maxsize=1)
def real_system_layers(icb_code: str = "E54000061") -> MapLayers:
    """South Yorkshire from the real files: ICB 2023, its 4 SICBLs (named by their council), its
    practices of January 2026 placed by Code-Point Open, test neighbourhoods."""
    import icsgeo

    icb = icsgeo.read("icb-2023")[["code", "name", "geometry"]]
    lk = icsgeo.read("sicbl-icb-region-2023")
    sicbls = set(lk.loc[lk["icb_code"] == icb_code, "sicbl_code"])
    lsoa = icsgeo.read("lsoa21-sicbl-icb-lad-2024")
    lsoa = lsoa[lsoa["sicbl_code"].isin(sicbls)]
    council = lsoa.groupby("sicbl_code")["lad_name"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else None)
    places = icsgeo.read("sicbl-2023")
    places = places[places["code"].isin(sicbls)][["code", "name", "geometry"]].copy()
    places["name"] = [council.get(c) or n for c, n in zip(places["code"], places["name"])]
    practices = _real_practices(icb_code)
    return MapLayers(
        title="NHS South Yorkshire ICB", system=icb[icb["code"] == icb_code], places=places,
        neighbourhoods=_test_footprints(practices, set(lsoa["lsoa21_code"])), practices=practices, england=icb,
        attribution=ATTRIBUTION, subtitle=REAL_SUBTITLE,
    )


def real_england_layers() -> MapLayers:
    import icsgeo

    icb = icsgeo.read("icb-2023")[["code", "name", "geometry"]]
    practices = _real_practices()
    lsoa = icsgeo.read("lsoa21-sicbl-icb-lad-2024")
    return MapLayers(
        title="England: 42 integrated care systems, 106 places", system=icb,
        places=icsgeo.read("sicbl-2023")[["code", "name", "geometry"]],
        neighbourhoods=_test_footprints(practices, set(lsoa["lsoa21_code"])), practices=practices,
        attribution=ATTRIBUTION, subtitle="ICBs and Sub-ICB Locations, 2023; TEST neighbourhood footprints",
    )


@pytest.mark.realdata
def test_real_system_map_within_budget(tmp_path):
    layers = real_system_layers()
    assert len(layers.layer("places")) == 4 and len(layers.layer("practices")) >= 165
    assert set(layers.layer("places")["name"]) == {"Barnsley", "Doncaster", "Rotherham", "Sheffield"}
    page = save_map(draw_map(layers), tmp_path / "syb.html")
    size = page.stat().st_size
    assert size <= 1.5e6, f"South Yorkshire page is {size / 1e6:.2f} MB"
    text = page.read_text(encoding="utf-8")
    assert external_references(text) == [] and "Places (4)" in text
    ARTIFACTS.mkdir(exist_ok=True)
    save_map(draw_map(layers), ARTIFACTS / "render-syb.html")


@pytest.mark.realdata
def test_real_england_map_within_budget(tmp_path):
    layers = real_england_layers()
    assert len(layers.layer("system")) == 42 and len(layers.layer("places")) == 106
    assert 1_000 < len(layers.layer("neighbourhoods")) < 1_400
    page = save_map(draw_map(layers, show=("system", "places")), tmp_path / "england.html")
    size = page.stat().st_size
    assert size <= 8e6, f"England page is {size / 1e6:.2f} MB"
    assert "Neighbourhoods (1," in page.read_text(encoding="utf-8")


@pytest.mark.realdata
def test_real_static_figure():
    from PIL import Image

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "render-syb-figure.png"
    draw_figure(real_system_layers(), path)
    with Image.open(path) as im:
        assert im.size == (2400, 1400)


def test_local_neighbourhoods_are_a_tier_of_their_own_labelled_escaped_and_in_the_key(toy, tmp_path):
    west, east = toy.places.geometry.iloc[0], toy.places.geometry.iloc[1]
    local = gpd.GeoDataFrame({"code": ["N1", "N2"], "name": ["<img src=x onerror=alert(7)>", "East side"],
                              "method": ["ward group", "ward group"], "place_name": ["West", "East"],
                              "places": ["E38000901", "E38000901;E38000902"], "straddles": [False, True],
                              "population": [41_000, 52_000]},
                             geometry=[west, east], crs="EPSG:27700")
    layers = toy_layers(local=local)
    page = normalise(save_map(draw_map(layers), tmp_path / "l.html").read_text(encoding="utf-8"))
    assert '"pane": "icsgeo-local"' in page and "<img src=x" not in page
    tree = page[page.index("L.control.layers.tree("):]
    tree = tree[: tree.index(").addTo(")]
    order = [tree.index(s) for s in ("Places (2)", "Local neighbourhoods (2)", "Neighbourhoods: PCNs (3)", "GP practices (4)")]
    assert order == sorted(order)
    assert "Local neighbourhoods (2)" in page and "yes: E38000901;E38000902" in page  # the straddle in the tooltip
    fig = draw_figure(layers, tmp_path / "l.png")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "East side" in texts and "Local neighbourhoods (2)" in legend and "PCN footprints (3)" in legend


def test_shade_classes_are_quantiles_with_their_bounds_and_missing_values_kept_apart():
    from icsgeo.render._layers import shade_classes, shade_colours

    cls, bounds = shade_classes([10.0, 20.0, 30.0, 40.0, 50.0, None, 60.0], classes=3)
    assert len(bounds) == 3 and bounds[0][0] == 10.0 and bounds[-1][1] == 60.0
    assert cls[5] == -1 and cls[0] == 0 and cls[-1] == 2 and sorted(set(cls) - {-1}) == [0, 1, 2]
    assert shade_colours(3)[0] == "#ffffb2" and shade_colours(3)[-1] == "#bd0026"
    assert shade_classes([None, None])[1] == []


def test_a_shaded_map_colours_its_tier_by_class_with_a_key(toy, tmp_path):
    from icsgeo.render import Shade

    nbh = toy.neighbourhoods.assign(shade=[12.5, 44.0, np.nan])
    layers = toy_layers(neighbourhoods=nbh, shade=Shade("neighbourhoods", "IMD 2025 score"))
    page = save_map(draw_map(layers), tmp_path / "s.html").read_text(encoding="utf-8")
    assert "IMD 2025 score" in page and "no value" in page and "#bd0026" in page and "12.5" in page
    fig = draw_figure(layers, tmp_path / "s.png")
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "IMD 2025 score" in legend and "12.5 – 28.2" in legend and "28.2 – 44.0" in legend
    with pytest.raises(LayerError, match="no 'shade' column"):
        toy_layers(shade=Shade("neighbourhoods", "x"))


# --- names where they fit, straddles, the context layer, stable colours ------------------------------------

XSS_LAD = "<iframe src=javascript:alert(8)>"
XSS_WARD = "Ward <img src=x onerror=alert(9)>"


def toy_context(**overrides) -> MapLayers:
    """The toy ICS with its context layer: two local authorities (one hostile name) reaching beyond
    the system, two wards; the East neighbourhoods cross the place border (a straddle)."""
    base = toy_layers()
    lads = gpd.GeoDataFrame({"code": ["E06000901", "E06000902"], "name": ["Westshire", XSS_LAD]},
                            geometry=[box(X0 - 60_000, Y0 - 60_000, X0 + 12_000, Y0 + 60_000),
                                      box(X0 + 12_000, Y0 - 60_000, X0 + 80_000, Y0 + 60_000)], crs="EPSG:27700")
    wards = gpd.GeoDataFrame({"code": ["E05000901", "E05000902"], "name": ["Riverside", XSS_WARD], "population": [9_000, 8_000],
                              "room": [2_500.0, 2_000.0]},
                             geometry=[Point(X0 + 4_000, Y0 + 6_000), Point(X0 + 15_000, Y0 + 6_000)], crs="EPSG:27700")
    nbh = base.neighbourhoods.assign(place_shares=["West", f"{XSS_PLACE} 92%, West 8%", XSS_PLACE], straddles=[False, True, False])
    kw = dict(lads=lads, wards=wards, neighbourhoods=nbh)
    kw.update(overrides)
    return toy_layers(**kw)


def test_label_anchors_sit_inside_with_their_room():
    from icsgeo.render._layers import label_anchors

    ell = Polygon([(0, 0), (10_000, 0), (10_000, 2_000), (2_000, 2_000), (2_000, 10_000), (0, 10_000)])
    g = gpd.GeoDataFrame(geometry=[box(0, 0, 10_000, 4_000), ell], crs="EPSG:27700")
    points, width, height = label_anchors(g)
    assert points.iloc[0].x == pytest.approx(5_000, abs=50) and points.iloc[0].y == pytest.approx(2_000, abs=50)
    assert width[0] == pytest.approx(10_000, rel=0.01) and height[0] == pytest.approx(4_000, rel=0.02)
    assert ell.contains(points.iloc[1]) and 1_000 < height[1] <= 2_000  # the arms are 2 km wide
    assert 7_000 < width[1] <= 10_000 + 1  # along the lower arm, where the widest circle sits


def test_names_are_shown_where_they_fit_with_their_room_in_metres(toy, tmp_path):
    page = save_map(draw_map(toy), tmp_path / "t.html").read_text(encoding="utf-8")
    m = re.search(r'icsgeo_labeller\("nbh", 3, "icsgeo-labels", false\);\s*var rows = (\[.*?\]), fs = ', page, re.S)
    rows = json.loads(m.group(1))
    assert sorted(r[2] for r in rows) == sorted(["West PCN", XSS_PCN, "South & East PCN"])
    west = next(r for r in rows if r[2] == "West PCN")
    assert 8_000 < west[4] <= 10_500 and 5_000 < west[5] <= 12_000  # the West place: about 10 x 12 km
    assert "data-rw" in page and "icsgeo_declutter" in page and "zoomend overlayadd overlayremove" in page


def test_straddling_neighbourhoods_are_dashed_in_the_key_and_their_places_in_the_tooltip(tmp_path):
    layers = toy_context()
    page = save_map(draw_map(layers), tmp_path / "s.html").read_text(encoding="utf-8")
    assert "crosses a place boundary (1)" in page and "Place (residents&#x27; share)" not in page
    assert "Place (residents' share)" in page
    assert '"dashArray": "5 4"' in page and page.count('"dashArray": "5 4"') == 1  # one style for the straddler
    assert json.dumps(f"{XSS_PLACE} 92%, West 8%").replace("<", "\\u003c").replace(">", "\\u003e") in page
    fig = draw_figure(layers)
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "crossing a place boundary (1)" in legend


def test_context_layer_is_in_the_tree_grey_silent_clipped_and_escaped(tmp_path):
    layers = toy_context()
    page = normalise(save_map(draw_map(layers), tmp_path / "c.html").read_text(encoding="utf-8"))
    for payload in (XSS_LAD, XSS_WARD):
        assert payload not in page
    tree = page[page.index("L.control.layers.tree("):]
    tree = tree[: tree.index(").addTo(")]
    order = [tree.index(s) for s in ("System", "Local authorities (2)", "Ward names (2)", "Other systems of England")]
    assert order == sorted(order)
    assert '"pane": "icsgeo-lads"' in page and 'icsgeo_labeller("lad", 4, "icsgeo-context-labels", false)' in page
    assert 'icsgeo_labeller("ward", 5, "icsgeo-context-labels", false)' in page
    # the borders are one line layer clipped to the system and its margin: no box round the clip
    from icsgeo.render._layers import context_extent
    from icsgeo.render.interactive import _outlines

    lines = _outlines(layers.layer("lads"), context_extent(layers.layer("system").total_bounds), 50.0)
    x0, y0, x1, y1 = context_extent(layers.layer("system").total_bounds)
    geom = lines.geometry.iloc[0]
    assert geom.geom_type in ("LineString", "MultiLineString")
    assert geom.length == pytest.approx((y1 - y0) + 0, rel=0.01)  # only the border between the two, inside the extent
    hidden = normalise(save_map(draw_map(layers, show=("system", "places")), tmp_path / "h.html").read_text(encoding="utf-8"))
    assert "Local authorities (2)" in hidden  # still in the tree, switched off


def test_a_map_of_several_systems_names_them_for_the_overview(toy, tmp_path):
    two = gpd.GeoDataFrame({"code": ["E54000999", "E54000998"], "name": ["NHS Toy ICB", XSS_SYSTEM],
                            "label": ["Toy", "North <b>"]},
                           geometry=[toy.system.geometry.iloc[0], box(X0, Y0 + 12_000, X0 + 20_000, Y0 + 30_000)], crs="EPSG:27700")
    page = save_map(draw_map(toy_layers(system=two)), tmp_path / "two.html").read_text(encoding="utf-8")
    assert 'icsgeo_labeller("system", 0, "icsgeo-labels", true)' in page
    assert '"Toy"' in page and "North <b>" not in page and "North \\u003cb\\u003e" in page


def test_place_colours_keep_to_the_place_and_give_way_by_size():
    def places(names_pops):
        cells = [box(X0 + i * 1000, Y0, X0 + (i + 1) * 1000, Y0 + 1000) for i in range(len(names_pops))]
        return gpd.GeoDataFrame({"code": [f"P{i}" for i in range(len(cells))], "name": [n for n, _ in names_pops],
                                 "population": [p for _, p in names_pops]}, geometry=cells, crs="EPSG:27700")

    big = [("Barnsley", 244_573), ("Doncaster", 308_096), ("Rotherham", 265_798), ("Sheffield", 556_510)]
    four = dict(zip([n for n, _ in big], place_colours(places(big))))
    five = dict(zip([n for n, _ in big] + ["Bassetlaw"], place_colours(places(big + [("Bassetlaw", 117_801)]))))
    assert all(five[n] == c for n, c in four.items())  # the smaller newcomer gives way
    assert len(set(five.values())) == 5
    shuffled = big[::-1]
    assert dict(zip([n for n, _ in shuffled], place_colours(places(shuffled)))) == four  # not by position


def test_a_custom_system_drawn_over_england_is_not_counted_as_one_of_its_systems(toy):
    england = toy.england.assign(overlay=False)
    over = pd.concat([england, toy.system.assign(overlay=True)], ignore_index=True)
    fig = draw_figure(toy_layers(england=over))
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("England, 3 systems") for t in texts), texts


def test_the_locator_of_all_england_is_light(toy):
    from icsgeo.render._layers import SYSTEM_COLOUR
    from icsgeo.render.interactive import _inset

    every = set(toy.layer("england")["code"])
    svg, _ = _inset(toy.layer("england"), every, (0, 0, 1, 1))
    assert SYSTEM_COLOUR not in svg
    svg, _ = _inset(toy.layer("england"), {"E54000999"}, (0, 0, 1, 1))
    assert svg.count(f'fill="{SYSTEM_COLOUR}"') == 1


def test_a_notebook_shows_the_self_contained_page(toy):
    import html as _html

    shown = draw_map(toy)._repr_html_()
    assert shown.startswith("<div") and "srcdoc=" in shown
    page = _html.unescape(shown.split('srcdoc="', 1)[1].split('" style=', 1)[0])
    assert external_references(page) == [] and "L.Control.Layers.Tree" in page
    for payload in PAYLOADS:
        assert payload not in page


def test_place_shares_and_short_names():
    from icsgeo.maps import place_shares, short_system_name

    lsoas = pd.DataFrame({"pcn": ["A", "A", "A", "B", "C", "C"], "place_code": ["P1", "P2", "P3", "P1", "P1", "P2"],
                          "population": [9_200, 795, 5, 1_000, 1_000, 1]})
    out = place_shares(lsoas, "pcn", {"P1": "Sheffield", "P2": "Rotherham", "P3": "Barnsley"})
    assert out.loc["A", "place_shares"] == "Sheffield 92%, Rotherham 8%, Barnsley <1%" and bool(out.loc["A", "straddles"])
    assert out.loc["B", "place_shares"] == "Sheffield" and not out.loc["B", "straddles"]
    assert out.loc["C", "place_shares"] == "Sheffield >99%, Rotherham <1%"
    assert short_system_name("NHS South Yorkshire Integrated Care Board") == "South Yorkshire"
    assert short_system_name("Frimley Health and Care ICS") == "Frimley"
    assert short_system_name("West Yorkshire and Harrogate (Health and Care Partnership)") == "West Yorkshire and Harrogate"
    assert short_system_name("Devon") == "Devon"
