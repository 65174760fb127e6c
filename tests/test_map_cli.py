"""`icsgeo map` acceptance: sizes, no network references, and the pages in headless Chromium offline."""

from __future__ import annotations

import re

import pytest

from icsgeo.cli import main
from icsgeo.render import external_references

pytestmark = pytest.mark.realdata

from tests.test_render import ARTIFACTS  # noqa: E402
from tests.test_render_browser import (MAP, Visit, browser, dashed_paths, open_tooltip, shown_labels,  # noqa: E402,F401
                                       zoom_to)  # (skips without chromium)

PANES = f"""(() => {{ const c = {{}}; {MAP}.eachLayer(l => {{ if (l.feature) {{
    const k = l.options.pane; c[k] = (c[k] || 0) + 1; }} }}); return c; }})()"""


def _no_remote_assets(html: str) -> None:
    assert not re.search(r"<script[^>]+src=[\"']https?://", html, re.I)
    assert not re.search(r"<link[^>]+href=[\"']https?://", html, re.I)
    assert external_references(html) == []


def test_south_yorkshire_map_is_small_self_contained_and_renders_offline(browser, tmp_path, capsys):
    from icsgeo import geography

    out, png = ARTIFACTS / "syb.html", ARTIFACTS / "syb.png"
    ARTIFACTS.mkdir(exist_ok=True)
    assert main(["map", "South Yorkshire", "--output", str(out), "--png", str(png)]) == 0
    assert "4 places" in capsys.readouterr().err
    assert out.stat().st_size <= 1.5e6 and png.stat().st_size > 50_000
    _no_remote_assets(out.read_text(encoding="utf-8"))
    expected_nbh = len(geography().system("South Yorkshire").neighbourhoods)
    assert expected_nbh >= 25
    nb = geography().system("South Yorkshire").neighbourhoods
    v = Visit(browser, out)
    try:
        panes = v.js(PANES)
        assert panes["icsgeo-places"] == 4 and panes["icsgeo-neighbourhoods"] == expected_nbh
        assert sorted(shown_labels(v, "place")) == ["Barnsley", "Doncaster", "Rotherham", "Sheffield"]
        # the context layer: local authority borders and names around the system, ward names, in the tree
        assert v.js("document.querySelectorAll('.leaflet-icsgeo-lads-pane path').length") == 1
        lads = shown_labels(v, "lad")
        assert {"Wakefield", "Bassetlaw", "Chesterfield"} <= set(lads) and "Sheffield" not in lads  # not repeated
        assert v.js("document.querySelectorAll('.icsgeo-label.ward').length") > 100
        assert v.page.locator(".leaflet-control-layers label", has_text="Local authorities (").locator("input").first.is_checked()
        v.page.wait_for_timeout(200)
        v.page.screenshot(path=str(ARTIFACTS / "syb-browser.png"))
        # neighbourhood names: none at a county-wide zoom, many in Sheffield close up
        zoom_to(v, 53.38, -1.47, 8)
        assert shown_labels(v, "nbh") == []
        zoom_to(v, 53.38, -1.47, 12)
        close_up = shown_labels(v, "nbh")
        assert len(close_up) >= 8 and set(close_up) <= set(nb["pcn_name"])
        assert len(shown_labels(v, "ward")) >= 10
        v.page.screenshot(path=str(ARTIFACTS / "syb-browser-z12.png"))
        # straddles: the footprints that cross a place line are dashed, counted in the key, and
        # their tooltip gives their places with the residents' shares
        crossing = nb[nb["pcn_code"].isin(_straddling(nb))]
        assert len(crossing) == 3 and dashed_paths(v) == 3
        assert "crosses a place boundary (3)" in v.js("document.querySelector('.icsgeo-legend').textContent")
        tip = open_tooltip(v, "pcn_code", crossing["pcn_code"].iloc[0])
        assert re.search(r"(Barnsley|Doncaster|Rotherham|Sheffield) \d+%, (Barnsley|Doncaster|Rotherham|Sheffield) (\d+|<1)%", tip), tip
        v.check_clean()
    finally:
        v.close()


def _straddling(nb) -> set[str]:
    """PCN codes whose LSOAs (in the system) lie in more than one place: computed here from the
    membership frames, apart from the renderer."""
    from icsgeo import geography, neighbourhood_lsoas

    g = geography()
    l = g.system("South Yorkshire").lsoas.merge(neighbourhood_lsoas(g.members, g.method)[["lsoa21_code", "pcn_code"]],
                                                 on="lsoa21_code")
    n = l.groupby("pcn_code")["place_code"].nunique()
    return set(n[n > 1].index) & set(nb["pcn_code"])


def test_the_2021_system_draws_five_places_with_bassetlaw(browser, tmp_path, capsys):
    out = tmp_path / "syb21.html"
    assert main(["map", "--system", "south-yorkshire-and-bassetlaw-2021", "--output", str(out)]) == 0
    assert "5 places" in capsys.readouterr().err
    v = Visit(browser, out)
    try:
        assert v.js(PANES)["icsgeo-places"] == 5
        labels = v.js("[...document.querySelectorAll('.icsgeo-label.place')].map(e => e.textContent)")
        assert "Bassetlaw" in labels and len(labels) == 5
        v.check_clean()
    finally:
        v.close()


def test_england_map_within_budget_and_offline(browser, tmp_path):
    out = tmp_path / "england.html"
    assert main(["map", "england", "--output", str(out)]) == 0
    assert out.stat().st_size <= 8e6
    _no_remote_assets(out.read_text(encoding="utf-8"))
    v = Visit(browser, out)
    try:
        panes = v.js(PANES)
        assert panes["icsgeo-places"] == 106 and panes["icsgeo-system"] == 36
        # systems named for the overview, in everyday words; places thinned by zoom
        systems = shown_labels(v, "system")
        assert len(systems) >= 15 and "South Yorkshire" in systems and not [s for s in systems if "NHS" in s or "Board" in s]
        national = shown_labels(v, "place")
        assert len(national) < 30
        names = v.js("[...document.querySelectorAll('.icsgeo-label.place')].map(e => e.textContent)")
        assert len(names) == 106 and not [n for n in names if " ICB - " in n]
        assert {"Newcastle Gateshead", "Sheffield", "Herts Valleys"} <= set(names)
        assert v.js("document.querySelectorAll('.leaflet-icsgeo-lads-pane path').length") == 1
        assert v.js("document.querySelector('.icsgeo-inset svg').innerHTML.includes('#1f2a44')") is False  # a light England
        v.page.screenshot(path=str(ARTIFACTS / "england-browser.png"))
        zoom_to(v, 52.6, -1.6, 8.5)
        closer = shown_labels(v, "place")
        assert len(closer) > len(set(closer) & set(national)) and len(closer) >= 15
        v.page.screenshot(path=str(ARTIFACTS / "england-browser-z8.png"))
        v.check_clean()
    finally:
        v.close()


def test_cdn_page_is_smaller_and_map_usage_errors(tmp_path, capsys):
    out = tmp_path / "cdn.html"
    assert main(["map", "QF7", "--output", str(out), "--cdn"]) == 0
    assert external_references(out.read_text(encoding="utf-8"))  # the usual folium page
    assert main(["map", "QF7"]) == 2
    assert main(["map", "QF7", "--output", str(tmp_path / "x.pdf")]) == 2
    assert main(["map", "--output", str(tmp_path / "x.html")]) == 2


def test_everyday_place_names_come_from_the_files():
    """No place of 2026 is named "X ICB - 13T" on a map: a local authority's name, a 2021 CCG's it
    equals, the authorities it is made of, or the official name shortened, each unique."""
    from icsgeo import geography
    from icsgeo.maps import everyday_place_names

    g = geography("2026")
    names = everyday_place_names(g)
    assert len(names) == 106 and names.is_unique and not names.str.contains(r" ICB - |^NHS ", regex=True).any()
    assert names["E38000146"] == "Sheffield"  # a local authority's name, as the geography gives it
    assert names["E38000212"] == "Newcastle Gateshead"  # 13T: the 2021 CCG of the same area
    assert names["E38000266"] == "Hampshire, Southampton and Isle of Wight"  # three authorities
    assert names["E38000259"] == "Black Country"  # D2P2L: the official name shortened
    assert everyday_place_names(geography("2021"))["E38000212"] == "Newcastle Gateshead"


def test_place_colours_and_counts_agree_between_the_2021_and_2026_figures():
    from icsgeo.maps import map_layers
    from icsgeo.render import draw_figure
    from icsgeo.render._layers import place_colours

    then = map_layers("south-yorkshire-and-bassetlaw-2021", practices=False)
    now = map_layers("South Yorkshire", "2026", practices=False)
    colour = {}
    for layers in (then, now):
        p = layers.layer("places")
        colour[layers.title] = dict(zip(p["name"], place_colours(p)))
    a, b = colour.values()
    assert set(b) == {"Barnsley", "Doncaster", "Rotherham", "Sheffield"} and all(a[n] == b[n] for n in b)
    fig = draw_figure(then)
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("England, 42 systems") for t in texts), texts


def test_explore_is_the_map_for_a_notebook():
    import html

    import folium

    import icsgeo

    m = icsgeo.explore("South Yorkshire")
    assert isinstance(m, folium.Map)
    shown = m._repr_html_()
    page = html.unescape(shown.split('srcdoc="', 1)[1].split('" style=', 1)[0])
    assert external_references(page) == [] and "Sheffield" in page and "icsgeo-lads" in page
