"""The self-contained map page in a real headless browser, with the network blocked.

Debian's chromium (``apt-get install chromium``: /usr/bin/chromium) driven by Playwright for Python
(``pip install playwright``; no ``playwright install``: we never download a browser). Each test
opens a page, counts the polygons Leaflet drew, and fails on any console error, any request that
left the machine, or any alert dialog. Screenshots go to ``artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from icsgeo.render import draw_map, save_map
from tests.test_render import (ARTIFACTS, XSS_LAD, XSS_PCN, XSS_PLACE, XSS_PRACTICE, XSS_WARD, real_system_layers, toy_context,
                               toy_layers)

CHROMIUM = os.environ.get("ICSGEO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

# CI sets ICSGEO_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip.
_REQUIRED = os.environ.get("ICSGEO_REQUIRE_BROWSER") == "1"
if _REQUIRED:
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: pip install playwright")
if not Path(CHROMIUM).exists():
    if _REQUIRED:
        raise RuntimeError(f"ICSGEO_REQUIRE_BROWSER=1 but there is no chromium at {CHROMIUM}")
    pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (or set ICSGEO_CHROMIUM)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A page opened from file:// with every other request aborted and every event recorded."""

    def __init__(self, browser, path: Path, size=(1400, 900)):
        self.errors: list[str] = []
        self.network: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("document.querySelectorAll('.icsgeo-legend').length > 0")

    def _dialog(self, d):
        self.dialogs.append(d.message)
        d.dismiss()

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.network.append(url)
            route.abort()

    def js(self, code: str):
        return self.page.evaluate(code)

    def polygons(self) -> int:
        return self.js("document.querySelectorAll('path.leaflet-interactive').length")

    def check_clean(self):
        assert self.errors == [], self.errors
        assert self.network == [], f"the page tried the network: {self.network}"
        assert self.dialogs == [], f"script from the data ran: {self.dialogs}"

    def close(self):
        self.page.close()


MAP = "window[document.querySelector('.folium-map').id]"


def shown_labels(visit: Visit, kind: str) -> list[str]:
    """The names of one kind (place, nbh, system, lad, ward…) visible now."""
    return visit.js(f"[...document.querySelectorAll('.icsgeo-label.{kind}')].filter(e => e.style.visibility !== 'hidden')"
                    ".map(e => e.textContent)")


def zoom_to(visit: Visit, lat: float, lon: float, zoom: float) -> None:
    visit.js(f"{MAP}.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    visit.page.wait_for_timeout(150)


def open_tooltip(visit: Visit, prop: str, value: str) -> str:
    """Open the tooltip of the feature whose ``prop`` is ``value``; its text."""
    visit.page.evaluate(
        """([prop, value]) => { let found = null;
            %s.eachLayer(l => { if (!found && l.feature && l.feature.properties[prop] === value && l.getTooltip && l.getTooltip()) found = l; });
            found.openTooltip(found.getBounds ? found.getBounds().getCenter() : found.getLatLng()); }""" % MAP,
        [prop, value],
    )
    visit.page.wait_for_selector(".leaflet-tooltip .icsgeo-table")
    return visit.js("document.querySelector('.leaflet-tooltip').textContent")


def dashed_paths(visit: Visit, dash: str = "5 4") -> int:
    return visit.js(f"document.querySelectorAll('.leaflet-icsgeo-neighbourhoods-pane path[stroke-dasharray=\"{dash}\"]').length")


def _feature_point(visit: Visit, prop: str, value: str) -> tuple[float, float]:
    """Page coordinates of a point inside the feature whose ``prop`` is ``value``."""
    return visit.page.evaluate(
        """([prop, value]) => {
            const map = %s; let found = null;
            map.eachLayer(l => { if (l.feature && l.feature.properties[prop] === value && !found) found = l; });
            const ll = found.getLatLng ? found.getLatLng() : found.getCenter();
            const p = map.latLngToContainerPoint(ll), r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""" % MAP,
        [prop, value],
    )


def test_toy_page_renders_offline_and_data_stays_text(browser, tmp_path):
    layers = toy_layers()
    v = Visit(browser, save_map(draw_map(layers), tmp_path / "toy.html"))
    try:
        n_places, n_nbh, n_prac = (len(layers.layer(t)) for t in ("places", "neighbourhoods", "practices"))
        assert v.polygons() >= n_places + n_nbh + n_prac + 1  # + the system outline
        counts = v.js(f"""(() => {{ const c = {{}}; {MAP}.eachLayer(l => {{ if (l.feature) {{
            const k = l.options.pane; c[k] = (c[k] || 0) + 1; }} }}); return c; }})()""")
        assert counts == {"icsgeo-context": 2, "icsgeo-places": n_places, "icsgeo-labels": n_places + n_nbh, "icsgeo-system": 1,
                          "icsgeo-neighbourhoods": n_nbh, "icsgeo-practices": n_prac}
        assert v.js("document.title") == layers.title

        # the practice named <script>…: click it, its popup shows the name as text
        x, y = _feature_point(v, "name", XSS_PRACTICE)
        v.page.mouse.click(x, y)
        v.page.wait_for_selector(".leaflet-popup-content")
        assert XSS_PRACTICE in v.js("document.querySelector('.leaflet-popup-content').textContent")

        # the neighbourhood named <img onerror…>: hover it (away from the practice)
        x, y = _feature_point(v, "pcn_name", XSS_PCN)
        v.page.mouse.move(x + 120, y + 40)
        v.page.wait_for_selector(".leaflet-tooltip .icsgeo-table")
        tip = v.js("document.querySelector('.leaflet-tooltip').textContent")
        assert XSS_PCN in tip and "Registered patients" in tip and "12,250" in tip
        assert v.js("document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0

        # search lists the names as text too, and finding one opens it
        v.page.locator(".leaflet-control-search input.search-input").press_sequentially("alert", delay=20)  # it reads keyup
        v.page.wait_for_selector(".search-tip")
        tips = v.js("[...document.querySelectorAll('.search-tip')].map(t => t.textContent)")
        assert any(XSS_PRACTICE in t for t in tips) and any(XSS_PCN in t for t in tips)
        v.page.wait_for_timeout(300)  # let the search settle before the page is judged
        v.check_clean()
    finally:
        v.close()


def test_layer_control_toggles_a_tier(browser, tmp_path):
    v = Visit(browser, save_map(draw_map(toy_layers(), show=("system", "places")), tmp_path / "toy.html"))
    try:
        before = v.polygons()
        label = v.page.locator(".leaflet-control-layers label", has_text="Neighbourhoods (3)")
        label.locator("input").first.check()
        assert v.polygons() == before + 3
        # a practice found by search switches its (hidden) tier on and opens its popup
        v.page.locator(".leaflet-control-search input.search-input").press_sequentially("Smith", delay=20)
        v.page.locator(".search-tip", has_text="Smith & Partners").click()
        v.page.wait_for_selector(".leaflet-popup-content")
        assert "S3 4CD" in v.js("document.querySelector('.leaflet-popup-content').textContent")
        assert v.page.locator(".leaflet-control-layers label", has_text="GP practices (4)").locator("input").first.is_checked()
        v.check_clean()
    finally:
        v.close()


def test_names_by_zoom_context_layer_straddles_and_hostile_names(browser, tmp_path):
    """The toy ICS with its context: neighbourhood names shown at the opening zoom (they fit) and
    hidden zoomed out; the local authority borders and names and the ward names drawn, as text; the
    straddling neighbourhood dashed, in the key, and its places with shares in its tooltip."""
    layers = toy_context()
    v = Visit(browser, save_map(draw_map(layers), tmp_path / "ctx.html"))
    try:
        # West PCN is the West place itself: its name would sit on the place's, which wins
        assert sorted(shown_labels(v, "nbh")) == sorted([XSS_PCN, "South & East PCN"]) and "West" in shown_labels(v, "place")
        assert XSS_LAD in shown_labels(v, "lad") and "Westshire" in shown_labels(v, "lad")
        assert sorted(shown_labels(v, "ward")) == sorted(["Riverside", XSS_WARD])
        assert v.js("document.querySelectorAll('.leaflet-icsgeo-lads-pane path').length") == 1
        assert v.js("getComputedStyle(document.querySelector('.leaflet-icsgeo-lads-pane')).pointerEvents") == "none"
        assert v.page.locator(".leaflet-control-layers label", has_text="Local authorities (2)").locator("input").first.is_checked()
        assert dashed_paths(v) == 1
        assert "crosses a place boundary (1)" in v.js("document.querySelector('.icsgeo-legend').textContent")
        tip = open_tooltip(v, "pcn_name", XSS_PCN)
        assert f"{XSS_PLACE} 92%, West 8%" in tip and "Place (residents' share)" in tip
        zoom_to(v, 53.4, -1.4, 8)  # the toy's neighbourhoods are a few pixels wide here
        assert shown_labels(v, "nbh") == [] and shown_labels(v, "ward") == []
        zoom_to(v, 53.4, -1.4, 12)
        assert len(shown_labels(v, "nbh")) >= 1
        # switching the context layer off removes its names with it
        v.page.locator(".leaflet-control-layers label", has_text="Local authorities (2)").locator("input").first.uncheck()
        assert v.js("document.querySelectorAll('.icsgeo-label.lad').length") == 0
        assert v.js("document.querySelectorAll('iframe, img[src=\"x\"]').length") == 0
        v.check_clean()
    finally:
        v.close()


@pytest.mark.realdata
def test_real_system_page_in_browser(browser):
    import time

    layers = real_system_layers()
    ARTIFACTS.mkdir(exist_ok=True)
    path = save_map(draw_map(layers), ARTIFACTS / "render-syb.html")
    t = time.perf_counter()
    v = Visit(browser, path)
    try:
        assert time.perf_counter() - t < 15
        assert v.polygons() >= len(layers.layer("places")) + len(layers.layer("neighbourhoods"))
        assert v.js("document.querySelectorAll('.icsgeo-label.place').length") == 4
        assert "Open Government Licence" in v.js("document.querySelector('.leaflet-control-attribution').textContent")
        assert v.js("document.querySelector('.icsgeo-inset svg path') !== null")
        v.page.wait_for_timeout(200)
        v.page.screenshot(path=str(ARTIFACTS / "render-syb.png"))
        v.check_clean()
    finally:
        v.close()


def test_the_api_docs_page_works_offline(browser):
    """``icsgeo serve``'s /docs draws Swagger UI from the server's own copy of its assets: with every
    request that is not to the server aborted, the page lists the endpoints and no console error."""
    import socket
    import threading
    import time

    import uvicorn

    from icsgeo.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(warm=False), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        errors, outside = [], []
        page = browser.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))

        def route(r):
            if r.request.url.startswith(base + "/"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(base + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)")
        title = page.evaluate("document.querySelector('.info .title').textContent")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
        page.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert "icsgeo" in title
    assert {"/postcodes/{postcode}", "/postcodes", "/points", "/health"} <= {p.replace("\u200b", "") for p in paths}
    assert outside == [] and errors == [], (outside, errors)
