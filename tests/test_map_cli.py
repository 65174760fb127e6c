"""`icsgeo map` acceptance: sizes, no network references, and the pages in headless Chromium offline."""

from __future__ import annotations

import re

import pytest

from icsgeo.cli import main
from icsgeo.render import external_references

pytestmark = pytest.mark.realdata

from tests.test_render import ARTIFACTS  # noqa: E402
from tests.test_render_browser import MAP, Visit, browser  # noqa: E402,F401  (skips without chromium)

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
    v = Visit(browser, out)
    try:
        panes = v.js(PANES)
        assert panes["icsgeo-places"] == 4 and panes["icsgeo-neighbourhoods"] == expected_nbh
        assert v.js("document.querySelectorAll('.icsgeo-label').length") == 4
        v.page.wait_for_timeout(200)
        v.page.screenshot(path=str(ARTIFACTS / "syb-browser.png"))
        v.check_clean()
    finally:
        v.close()


def test_the_2021_system_draws_five_places_with_bassetlaw(browser, tmp_path, capsys):
    out = tmp_path / "syb21.html"
    assert main(["map", "--system", "south-yorkshire-and-bassetlaw-2021", "--output", str(out)]) == 0
    assert "5 places" in capsys.readouterr().err
    v = Visit(browser, out)
    try:
        assert v.js(PANES)["icsgeo-places"] == 5
        labels = v.js("[...document.querySelectorAll('.icsgeo-label')].map(e => e.textContent)")
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
