"""The interactive map: a folium (Leaflet) page of one system's places, neighbourhoods and practices.

``draw_map`` returns a ``folium.Map`` that can be extended like any other; ``save_map`` writes it as
a self-contained page (every library inlined: it opens with no network, e.g. on an NHS network that
blocks CDNs) or as the usual folium page that loads Leaflet and the plugins from CDNs.

Every string from the data reaches the page as JSON (``<`` escaped) and is put into the document
with ``textContent``, or is HTML-escaped in Python: a practice named ``<script>…`` shows as text.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from ..errors import MissingDependencyError
from ..settings import DISPLAY_CRS
from ._layers import (
    CONTEXT_FILL,
    CONTEXT_LINE,
    CONTEXT_TEXT,
    LOCAL_COLOUR,
    NEIGHBOURHOOD_COLOUR,
    PALETTE,
    PRACTICE_COLOUR,
    SYSTEM_COLOUR,
    TIERS,
    MapLayers,
    STRADDLE_DASH,
    WARD_MARGIN,
    auto_tolerance,
    context_extent,
    label_anchors,
    shade_classes,
    shade_colours,
    fmt_float,
    fmt_int,
    fmt_str,
    place_colours,
    simplify,
    to_display,
)
from ._offline import OfflineAssetError, inline_assets

__all__ = ["draw_map", "save_map"]

_LEGEND_MAX_PLACES = len(PALETTE)


def _folium():
    try:
        import folium
        import folium.plugins
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(f'interactive maps need folium ({e}): pip install "icsgeo[map]"') from e
    return folium


@functools.lru_cache(maxsize=1)
def _map_class():
    """``folium.Map`` that a notebook shows as the self-contained page (Leaflet and the plugins
    inlined: no CDN, so it draws on a network that blocks them, or none)."""
    folium = _folium()

    class IcsgeoMap(folium.Map):
        def _repr_html_(self, **kwargs) -> str:
            try:
                page = inline_assets(self.get_root().render(**kwargs))
            except OfflineAssetError:  # a plugin icsgeo does not ship was added: the usual folium page
                return super()._repr_html_(**kwargs)
            return ('<div style="width:100%;height:640px;">'
                    f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:100%;border:none;" '
                    'allowfullscreen webkitallowfullscreen mozallowfullscreen></iframe></div>')

    IcsgeoMap.__name__ = IcsgeoMap.__qualname__ = "IcsgeoMap"
    return IcsgeoMap


def _js(value) -> str:
    """JSON safe to put inside an inline <script> (no "<", ">" or "&" survive)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


# --- page furniture: one stylesheet and a few helpers, in the page head ------------------------------

_CSS = """
<style>
.leaflet-container { background: #f5f5f2; font: 13px/1.35 "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.folium-map .icsgeo-title { max-width: min(38vw, 560px); padding: 7px 12px 8px; background: rgba(255,255,255,.94);
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.25); }
.icsgeo-title h1 { margin: 0; font-size: 17px; font-weight: 650; color: #1f2a44; }
.icsgeo-title p { margin: 2px 0 0; font-size: 12px; color: #555; }
.icsgeo-legend, .icsgeo-inset { background: rgba(255,255,255,.94); border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.25); }
.icsgeo-legend { padding: 7px 10px; max-height: 45vh; overflow-y: auto; font-size: 12px; color: #222; }
.icsgeo-legend h4 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #555; }
.icsgeo-legend .row { display: flex; align-items: center; gap: 7px; margin: 2px 0; white-space: nowrap; }
.icsgeo-legend .sw { flex: none; width: 18px; height: 12px; box-sizing: border-box; }
.icsgeo-legend .dot { flex: none; width: 9px; height: 9px; margin: 0 4px 0 5px; border-radius: 50%; border: 1px solid #fff; box-shadow: 0 0 0 1px #999; }
.icsgeo-legend .sub { margin-left: 25px; color: #555; }
.icsgeo-inset { padding: 4px; line-height: 0; cursor: pointer; }
.icsgeo-inset svg { display: block; }
.icsgeo-label-icon { background: none; border: none; }
.icsgeo-label { position: absolute; transform: translate(-50%, -50%); white-space: nowrap; font-weight: 650; font-size: 14px;
  color: #1b1b1b; text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff, 0 0 1px #fff; pointer-events: none; }
.icsgeo-label.system { font-size: 10.5px; font-weight: 700; letter-spacing: .05em; text-transform: uppercase; color: #1f2a44;
  white-space: normal; width: max-content; max-width: 10em; text-align: center; line-height: 1.1; }
.icsgeo-label.nbh, .icsgeo-label.local { font-size: 10.5px; font-weight: 600; color: #262626; white-space: normal;
  width: max-content; max-width: 10em; text-align: center; line-height: 1.1; }
.icsgeo-label.lad { font-size: 11px; font-weight: 500; font-style: italic; letter-spacing: .05em; color: #6e6e6a;
  white-space: normal; width: max-content; max-width: 10em; text-align: center; line-height: 1.1; }
.icsgeo-label.ward { font-size: 10px; font-weight: 400; color: #77776f; white-space: normal; width: max-content;
  max-width: 8em; text-align: center; line-height: 1.05; }
.icsgeo-table { border-collapse: collapse; font-size: 12px; }
.icsgeo-table th { text-align: left; font-weight: 600; color: #555; padding: 1px 10px 1px 0; vertical-align: top; }
.icsgeo-table td { padding: 1px 0; white-space: nowrap; }
.leaflet-popup-content .icsgeo-table td { white-space: normal; min-width: 150px; }
.icsgeo-table tr:first-child td { font-weight: 650; color: #111; }
.folium-map .leaflet-control-attribution { max-width: 60vw; white-space: normal; font-size: 10.5px; line-height: 1.3; }
.folium-map .leaflet-control-layers-expanded { font-size: 12.5px; line-height: 1.45; padding: 6px 10px 6px 6px; }
.folium-map .leaflet-control-layers-expanded input { margin: 0 4px 0 2px; vertical-align: -1px; }
.folium-map .leaflet-control-search .search-input { width: 220px; }
</style>
"""

_HELPERS = """
<script>
function icsgeo_table(p, rows) {
  var t = document.createElement("table");
  t.className = "icsgeo-table";
  for (var i = 0; i < rows.length; i++) {
    var v = p[rows[i][1]];
    if (v === undefined) continue;
    var tr = t.insertRow();
    var th = document.createElement("th");
    th.textContent = rows[i][0];
    tr.appendChild(th);
    tr.insertCell().textContent = (v === null || v === "") ? "not known" : String(v);
  }
  return t;
}
function icsgeo_bind(kind, rows, opts) {
  return function (feature, layer) {
    var make = function () { return icsgeo_table(feature.properties, rows); };
    if (kind === "popup") { layer.bindPopup(make, opts); } else { layer.bindTooltip(make, opts); }
  };
}
function icsgeo_labeller(kind, tier, pane, overview) {
  // names at their anchors; data-rw / data-rh: the room each has there (metres); data-tier and
  // data-rank: which wins where two would overlap (the lower tier, then the larger area);
  // data-overview: a name for the overview, shown until its area is wider than most of the view
  return function (feature, latlng) {
    var p = feature.properties, s = document.createElement("span");
    s.className = "icsgeo-label" + (kind ? " " + kind : "");
    if (overview) { s.setAttribute("data-overview", "1"); }
    s.textContent = p.name;
    s.setAttribute("data-rank", p.rank);
    s.setAttribute("data-tier", tier);
    s.setAttribute("data-lat", latlng.lat);
    if (p.rw) { s.setAttribute("data-rw", p.rw); s.setAttribute("data-rh", p.rh || p.rw); }
    if (p.fs) { s.style.fontSize = p.fs + "px"; }
    return L.marker(latlng, {icon: L.divIcon({className: "icsgeo-label-icon", html: s, iconSize: null}),
                             interactive: false, keyboard: false, pane: pane});
  };
}
function icsgeo_declutter(map) {
  // show a label only where its area is big enough for it at this zoom (its room, in metres, at the
  // map's scale), and never over a label of a higher tier or a larger area
  var els = Array.prototype.slice.call(map.getContainer().querySelectorAll(".icsgeo-label"));
  var perMetre = 256 * Math.pow(2, map.getZoom()) / 40075016.686;
  var items = els.map(function (el) {  // read every box first (visibility does not move them)
    return {el: el, r: el.getBoundingClientRect(), tier: +el.getAttribute("data-tier"), rank: +el.getAttribute("data-rank"),
            rw: +el.getAttribute("data-rw"), rh: +el.getAttribute("data-rh"), lat: +el.getAttribute("data-lat"),
            overview: el.hasAttribute("data-overview")};
  });
  var view = map.getSize();
  items.sort(function (a, b) { return (a.tier - b.tier) || (b.rank - a.rank); });
  var kept = [];
  items.forEach(function (it) {
    var ppm = perMetre / Math.cos(it.lat * Math.PI / 180), r = it.r;
    var fits = !it.rw || (it.overview ? it.rw * ppm <= 0.6 * view.x : (r.width <= it.rw * ppm && r.height <= it.rh * ppm));
    var hit = fits && kept.some(function (k) { return !(r.right + 2 < k.left || r.left - 2 > k.right || r.bottom + 1 < k.top || r.top - 1 > k.bottom); });
    it.show = fits && !hit;
    if (it.show) { kept.push(r); }
  });
  items.forEach(function (it) { it.el.style.visibility = it.show ? "visible" : "hidden"; });
}
function icsgeo_tip(text) {
  var li = L.DomUtil.create("li", "");
  li.textContent = text;
  return li;
}
</script>
"""


def _furniture(folium):
    from branca.element import Element

    class _Script(folium.MacroElement):
        """A script that refers to its map by the placeholder __MAP__."""

        _template = folium.template.Template(
            "{% macro script(this, kwargs) %}{{ this.code.replace('__MAP__', this._parent.get_name()) }}{% endmacro %}"
        )

        def __init__(self, code: str):
            super().__init__()
            self._name = "IcsgeoScript"
            self.code = code

    return Element, _Script


# --- GeoJSON with only the properties the page shows -------------------------------------------------


def _collection(gdf: gpd.GeoDataFrame, properties: dict[str, list]) -> dict:
    geoms = [shapely.geometry.mapping(g) for g in gdf.geometry]
    keys = list(properties)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": i, "properties": {k: properties[k][i] for k in keys}, "geometry": geoms[i]}
            for i in range(len(geoms))
        ],
    }


def _column(gdf, name, fmt=fmt_str):
    return [fmt(v) for v in gdf[name]] if name in gdf.columns else None


def _props(**cols) -> dict[str, list]:
    return {k: v for k, v in cols.items() if v is not None}


def _search_labels(names, codes, kind: str) -> list[str]:
    return [f"{n or c} ({c}) · {kind}" if n and c else f"{n or c} · {kind}" for n, c in zip(names, codes)]


# --- the locator inset: an inline SVG of England in Web Mercator ------------------------------------


def _merc(lat):
    return np.degrees(np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))


def _inset(england: gpd.GeoDataFrame, highlight: set[str], system_bounds, width: int = 150) -> tuple[str, str]:
    """(svg, js) for the locator: every system grey, ``highlight`` dark, the map's view as a box."""
    e = to_display(simplify(england, 2500.0, grid=10.0), decimals=3)
    x0, y0, x1, y1 = (float(v) for v in e.total_bounds)
    m0, m1 = float(_merc(y0)), float(_merc(y1))
    s = float(width / (x1 - x0))
    height = int(math.ceil((m1 - m0) * s))

    def path(geom) -> str:
        parts = []
        polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
        for poly in polys:
            for ring in [poly.exterior, *poly.interiors]:
                c = np.asarray(ring.coords)
                px = np.round((c[:, 0] - x0) * s, 1)
                py = np.round((m1 - _merc(c[:, 1])) * s, 1)
                pts = " ".join(f"{a:g},{b:g}" for a, b in zip(px, py))
                parts.append(f"M{pts}Z")
        return "".join(parts)

    items = []
    everything = set(e["code"]) <= highlight  # a map of all England: a light England, nothing picked out
    for code, name, geom in zip(e["code"], e["name"], e.geometry):
        on = code in highlight and not everything
        fill, stroke = (SYSTEM_COLOUR, "#fff") if on else ("#d4d4d0", "#fff")
        items.append((on, f'<path d="{path(geom)}" fill="{fill}" stroke="{stroke}" stroke-width="0.4">'
                          f"<title>{_esc(name)}</title></path>"))
    body = "".join(p for _, p in sorted(items, key=lambda t: t[0]))  # highlighted on top
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Locator: England, the system shown highlighted">{body}'
        f'<rect class="icsgeo-view" x="0" y="0" width="0" height="0" fill="none" stroke="#d7301f" stroke-width="1.5"/></svg>'
    )
    (w, so, ea, no) = system_bounds
    js = f"""
(function () {{
  var map = __MAP__;
  var ctl = L.control({{position: "bottomleft"}});
  ctl.onAdd = function () {{
    var d = L.DomUtil.create("div", "icsgeo-inset");
    d.innerHTML = {_js(svg)};
    d.title = "Locator: England. Click to show the whole system.";
    L.DomEvent.disableClickPropagation(d);
    L.DomEvent.on(d, "click", function () {{ map.fitBounds([[{so}, {w}], [{no}, {ea}]]); }});
    return d;
  }};
  ctl.addTo(map);
  var X0 = {x0!r}, M1 = {m1!r}, S = {s!r}, W = {width}, H = {height};
  function merc(lat) {{ return 180 / Math.PI * Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)); }}
  function clamp(v, a, b) {{ return Math.max(a, Math.min(b, v)); }}
  function update() {{
    var r = ctl.getContainer().querySelector(".icsgeo-view"), b = map.getBounds();
    var xa = clamp((b.getWest() - X0) * S, 0, W), xb = clamp((b.getEast() - X0) * S, 0, W);
    var ya = clamp((M1 - merc(b.getNorth())) * S, 0, H), yb = clamp((M1 - merc(b.getSouth())) * S, 0, H);
    r.setAttribute("x", xa); r.setAttribute("y", ya);
    r.setAttribute("width", Math.max(xb - xa, 2)); r.setAttribute("height", Math.max(yb - ya, 2));
  }}
  map.on("moveend zoomend resize", update);
  map.whenReady(update);
}})();
"""
    return svg, js


# --- legend and title --------------------------------------------------------------------------------


def _legend_html(layers: MapLayers, names: list[str], colours: list[str], counts: dict[str, int], shading=None) -> str:
    rows = ["<h4>Key</h4>"]
    if shading is not None:
        label, bounds, ramp, has_missing = shading
        rows.append(f'<div class="row"><b>{_esc(label)}</b></div>')
        for (lo, hi), c in zip(reversed(bounds), reversed(ramp)):
            rows.append(f'<div class="row sub" style="margin-left:12px"><span class="sw" style="background:{c};'
                        f'border:1px solid #fff;box-shadow:0 0 0 1px #bbb"></span>{lo:,.1f} – {hi:,.1f}</div>')
        if has_missing:
            rows.append('<div class="row sub" style="margin-left:12px"><span class="sw" style="background:#d9d9d9"></span>no value</div>')
    sys = layers.layer("system")
    label = f"System: {_esc(sys['name'].iloc[0])}" if len(sys) == 1 else f"Systems ({len(sys)})"
    rows.append(f'<div class="row"><span class="sw" style="border:3px solid {SYSTEM_COLOUR}"></span>{label}</div>')
    if counts.get("places") and shading is not None:
        rows.append(f'<div class="row"><span class="sw"></span>Places ({counts["places"]:,})'
                    + (", shaded as above" if layers.shade.tier == "places" else "") + '</div>')
    elif counts.get("places"):
        if counts["places"] <= _LEGEND_MAX_PLACES:
            rows.append(f'<div class="row"><span class="sw"></span>Places ({counts["places"]})</div>')
            for n, c in sorted(zip(names, colours), key=lambda t: str(t[0])):
                rows.append(
                    f'<div class="row sub" style="margin-left:12px"><span class="sw" style="background:{c};'
                    f'border:1px solid #fff;box-shadow:0 0 0 1px #bbb"></span>{_esc(n)}</div>'
                )
        else:
            sw = "".join(f'<span style="display:inline-block;width:4.5px;height:12px;background:{c}"></span>' for c in PALETTE[:4])
            rows.append(f'<div class="row"><span class="sw" style="display:flex">{sw}</span>'
                        f'Places ({counts["places"]:,}): neighbours never share a colour</div>')
    if counts.get("local"):
        rows.append(f'<div class="row"><span class="sw" style="border:2px dashed {LOCAL_COLOUR}"></span>'
                    f'Local neighbourhoods ({counts["local"]:,})</div>')
    if counts.get("neighbourhoods"):
        label = "Neighbourhoods: PCN footprints" if counts.get("local") else "Neighbourhoods"
        rows.append(f'<div class="row"><span class="sw" style="border:1px solid {NEIGHBOURHOOD_COLOUR}"></span>'
                    f'{label} ({counts["neighbourhoods"]:,})</div>')
        if counts.get("straddles"):
            rows.append(f'<div class="row sub icsgeo-straddle-key" style="margin-left:12px"><span class="sw" style="border:2px dashed '
                        f'{NEIGHBOURHOOD_COLOUR}"></span>crosses a place boundary ({counts["straddles"]:,})</div>')
    if counts.get("practices"):
        rows.append(f'<div class="row"><span class="dot" style="background:{PRACTICE_COLOUR}"></span>'
                    f'GP practices ({counts["practices"]:,})</div>')
    if counts.get("lads"):
        rows.append(f'<div class="row"><span class="sw" style="border-bottom:1px solid {CONTEXT_LINE};height:7px"></span>'
                    f'<span style="color:{CONTEXT_TEXT}"><i>Local authorities</i>' + (", ward names" if counts.get("wards") else "") + "</span></div>")
    if counts.get("context"):
        rows.append(f'<div class="row"><span class="sw" style="background:{CONTEXT_FILL};border:1px solid #fff;'
                    'box-shadow:0 0 0 1px #ccc"></span>Other systems</div>')
    return "".join(rows)


# --- the public verbs --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _names_class():
    """A folium layer of names: one compact JSON array ``[lon, lat, name, rank, room w, room h]`` per
    name (a third of the bytes of a GeoJSON of points), drawn by ``icsgeo_labeller`` into a feature group."""
    folium = _folium()

    class Names(folium.FeatureGroup):
        _template = folium.template.Template(
            """
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.featureGroup({});
            (function () {
              var make = icsgeo_labeller({{ this.kind_js }}, {{ this.tier }}, {{ this.pane_js }}, {{ this.overview_js }});
              var rows = {{ this.rows_js }}, fs = {{ this.fs_js }};
              for (var i = 0; i < rows.length; i++) {
                var r = rows[i], f = {properties: {name: r[2], rank: r[3], rw: r[4], rh: r[5], fs: fs}};
                var mark = make(f, L.latLng(r[1], r[0]));
                mark.feature = f;
                {{ this.get_name() }}.addLayer(mark);
              }
            })();
            {% endmacro %}
            """
        )

        def __init__(self, rows, *, name: str, kind: str, tier: int, pane: str, fs: int | None, show: bool, overview: bool):
            super().__init__(name=name, show=show)
            self._name = "IcsgeoNames"
            self.rows_js, self.kind_js, self.pane_js, self.fs_js = _js(rows), _js(kind), _js(pane), _js(fs)
            self.overview_js = _js(bool(overview))
            self.tier = int(tier)
            self.count = len(rows)

    return Names


def _label_layer(gdf: gpd.GeoDataFrame, names: list, ranks, *, kind: str, tier: int, name: str,
                 pane: str = "icsgeo-labels", room=None, fs: int | None = None, show: bool = True, overview: bool = False):
    """The names ``names`` at ``gdf``'s points (EPSG:27700), drawn by ``icsgeo_labeller``; ``room``:
    (width, height) in metres, beyond which the page hides a name (None: always shown, clashes
    permitting); ``overview``: shown instead until the area is wider than most of the view (for
    systems on a map of England: named at the national zoom, not over their places close up)."""
    d = gdf.to_crs(DISPLAY_CRS)
    lon, lat = np.round(d.geometry.x.to_numpy(), 5), np.round(d.geometry.y.to_numpy(), 5)
    n = len(d)
    rw = [0] * n if room is None else [int(round(float(v))) for v in room[0]]
    rh = [0] * n if room is None else [int(round(float(v))) for v in room[1]]
    rows = [[float(lon[i]), float(lat[i]), names[i], round(float(r), 2), rw[i], rh[i]]
            for i, r in enumerate(ranks) if names[i]]
    return _names_class()(rows, name=name, kind=kind, tier=tier, pane=pane, fs=fs, show=show, overview=overview)


def _polygon_labels(gdf: gpd.GeoDataFrame, names: list, *, kind: str, tier: int, name: str,
                    pane: str = "icsgeo-labels", fs: int | None = None, overview: bool = False):
    """Labels of polygons at :func:`label_anchors`, each shown where it fits, ranked by area."""
    points, width, height = label_anchors(gdf)
    return _label_layer(gpd.GeoDataFrame(geometry=points, crs=gdf.crs), names,
                        [a / 1e6 for a in gdf.area], kind=kind, tier=tier, name=name, pane=pane,
                        room=(width, height), fs=fs, overview=overview)


def _outlines(lads: gpd.GeoDataFrame, extent, tolerance: float, drawn=None) -> gpd.GeoDataFrame:
    """The local authorities' borders inside ``extent`` as one line layer: each border once, coverage
    simplified (shared borders stay shared), clipped to the extent (no box drawn round it), and
    without the stretches that run along ``drawn`` (borders the map draws anyway: places, systems)."""
    x0, y0, x1, y1 = extent
    pad = 4 * tolerance
    near = lads.clip(shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad))
    near = near[near.geom_type.isin(["Polygon", "MultiPolygon"])]
    if near.empty:
        return gpd.GeoDataFrame(geometry=[], crs=lads.crs)
    simple = simplify(near, tolerance)
    borders = shapely.union_all(shapely.boundary(simple.geometry.values))
    borders = shapely.intersection(borders, shapely.box(x0, y0, x1, y1))
    if drawn is not None and len(drawn) and not borders.is_empty:
        # split into segments; drop those whose middle lies along a border already drawn
        parts = shapely.get_parts(shapely.get_parts(borders))
        parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings
        coords, index = shapely.get_coordinates(parts, return_index=True)
        same = index[1:] == index[:-1]
        a, b = coords[:-1][same], coords[1:][same]
        mids = shapely.points((a + b) / 2)
        tree = shapely.STRtree(shapely.boundary(np.asarray(drawn)))
        along = np.zeros(len(mids), dtype=bool)
        along[np.unique(tree.query(mids, predicate="dwithin", distance=2 * tolerance)[0])] = True
        kept = shapely.linestrings(np.stack([a[~along], b[~along]], axis=1)) if (~along).any() else []
        borders = shapely.line_merge(shapely.multilinestrings(kept)) if len(kept) else shapely.MultiLineString()
    else:
        borders = shapely.line_merge(borders) if not borders.is_empty else borders
    return gpd.GeoDataFrame(geometry=[borders], crs=lads.crs)


def draw_map(
    layers: MapLayers,
    *,
    tiles: str | None = None,
    tolerance: float | None = None,
    show: Iterable[str] | None = None,
):
    """An interactive map of ``layers``: a ``folium.Map`` with one layer per tier.

    Parameters
    ----------
    layers : MapLayers
    tiles : None (default: no background map, so the page needs no network) or a folium tile name
        such as ``"OpenStreetMap"`` (which the browser then downloads).
    tolerance : simplification tolerance in metres (default: about 1/4000 of the system's extent).
        Polygon layers are coverage-simplified, so neighbours keep a common border.
    show : the tiers visible when the page opens (default: all); the others can be switched on in
        the layer control. E.g. ``show=("system", "places", "context")`` for an all-England map.

    Names are drawn where they fit: each place, neighbourhood, local authority and ward name is
    shown only at the zooms where its area is wide and tall enough for it, and never over a name of
    a higher tier (systems, places, local neighbourhoods, PCN neighbourhoods, local authorities,
    wards) or of a larger area. In a notebook the map shows as the self-contained page.

    Examples
    --------
    >>> m = draw_map(layers)                              # doctest: +SKIP
    >>> save_map(m, "syb.html")                           # doctest: +SKIP
    """
    folium = _folium()
    from folium.plugins import Fullscreen, Search, TreeLayerControl
    from folium.utilities import JsCode

    Element, _Script = _furniture(folium)
    visible = set(TIERS if show is None else show)
    unknown = visible - set(TIERS)
    if unknown:
        raise ValueError(f"show={sorted(unknown)} names no tier; tiers are {list(TIERS)}")
    tol = float(auto_tolerance(layers) if tolerance is None else tolerance)

    system = layers.layer("system")
    places = layers.layer("places")
    nbh = layers.layer("neighbourhoods")
    local = layers.layer("local")
    prac = layers.layer("practices")
    england = layers.layer("england")
    lads = layers.layer("lads")
    wards = layers.layer("wards")
    sys_codes = set(system["code"])

    sys_d = to_display(simplify(system, tol))
    w, so, ea, no = (float(v) for v in sys_d.total_bounds)
    m = _map_class()(
        location=[(so + no) / 2, (w + ea) / 2],
        zoom_start=9,
        tiles=tiles,
        control_scale=True,
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    root = m.get_root()
    root.header.add_child(Element(_CSS), name="icsgeo_css")
    root.header.add_child(Element(_HELPERS), name="icsgeo_helpers")
    root.title = _esc(layers.title)  # branca writes the <title> unescaped

    panes = {"context": 380, "lads": 390, "places": 400, "neighbourhoods": 410, "local": 415, "system": 420, "practices": 440,
             "context-labels": 445, "labels": 450}
    for name, z in panes.items():
        folium.map.CustomPane(f"icsgeo-{name}", z_index=z, pointer_events=name not in ("context", "lads", "context-labels", "labels")).add_to(m)

    counts: dict[str, int] = {}
    search_layers = []
    shade = layers.shade
    shading: dict = {}  # tier -> (class colour by feature id, legend rows)

    def shaded(tier: str, gdf) -> dict[int, str] | None:
        """Feature id -> class colour, when ``tier`` is the one the map shades."""
        if shade is None or shade.tier != tier:
            return None
        cls, bounds = shade_classes(gdf["shade"], shade.classes)
        ramp = shade_colours(len(bounds))
        shading["legend"] = (shade.label, bounds, ramp, any(c < 0 for c in cls))
        return {i: (ramp[c] if c >= 0 else "#d9d9d9") for i, c in enumerate(cls)}

    # context: the other systems of England, grey and silent
    context_layer = None
    if england is not None:
        national = england[~england["overlay"].fillna(False).astype(bool)] if "overlay" in england else england
        ctx = national[~national["code"].isin(sys_codes)]
        if len(ctx):
            ctx_d = to_display(simplify(ctx, max(tol, 250.0)))
            counts["context"] = len(ctx_d)
            context_layer = folium.GeoJson(
                _collection(ctx_d, _props(name=_column(ctx_d, "name"))),
                name="Other systems",
                style_function=lambda f: {"color": "#ffffff", "weight": 1, "fillColor": CONTEXT_FILL, "fillOpacity": 1},
                interactive=False,
                pane="icsgeo-context",
            ).add_to(m)

    # the names the map writes on places and systems (a local authority of the same name is not repeated)
    place_labels = [fmt_str(v) for v in places["name"]] if places is not None else []
    sys_labels = [fmt_str(v) for v in (system["label"] if "label" in system.columns else system["name"])]
    written = {str(n).casefold() for n in place_labels + (sys_labels if len(system) > 1 else []) if n}

    # context: local authority borders and names, ward names (from the data: no tiles needed)
    lad_group = ward_layer = None
    extent = context_extent(system.total_bounds)
    if lads is not None and len(lads):
        drawn = list(system.geometry.values) + (list(places.geometry.values) if places is not None else [])
        lines = _outlines(lads, extent, max(2 * tol, 50.0), drawn)  # context: coarser than the tiers drawn over it
        if len(lines) and not lines.geometry.iloc[0].is_empty:
            lad_group = folium.FeatureGroup(name="Local authorities", show="context" in visible).add_to(m)
            folium.GeoJson(
                _collection(to_display(lines, decimals=4), {}),
                name="Local authority borders",
                style_function=lambda f: {"color": CONTEXT_LINE, "weight": 1, "opacity": 0.9, "fill": False},
                interactive=False,
                pane="icsgeo-lads",
            ).add_to(lad_group)
            shown = lads.clip(shapely.box(*extent))
            shown = shown[shown.geom_type.isin(["Polygon", "MultiPolygon"]) & ~shown["name"].astype(str).str.casefold().isin(written)]
            if len(shown):
                _polygon_labels(shown.reset_index(drop=True), [fmt_str(v) for v in shown["name"]], kind="lad", tier=4,
                                name="Local authority names", pane="icsgeo-context-labels").add_to(lad_group)
            counts["lads"] = int(lads.intersects(shapely.box(*extent)).sum())
    if wards is not None and len(wards):
        inside = wards[wards.within(shapely.box(*context_extent(system.total_bounds, **WARD_MARGIN)))].reset_index(drop=True)
        if len(inside):
            room = inside["room"].to_numpy(dtype="float64") if "room" in inside else None
            ranks = inside["population"] if "population" in inside else [0] * len(inside)
            ward_layer = _label_layer(inside, [fmt_str(v) for v in inside["name"]], ranks, kind="ward", tier=5,
                                      name="Ward names", pane="icsgeo-context-labels",
                                      room=None if room is None else (room, room * 0.6), show="context" in visible)
            ward_layer.add_to(m)
            counts["wards"] = len(inside)

    # places: filled, labelled where they fit
    names, colours = [], []
    places_group = None
    if places is not None and len(places):
        p27 = simplify(places, tol)
        colours = place_colours(p27)
        names = [fmt_str(v) for v in p27["name"]]
        p_d = to_display(p27)
        codes = _column(p_d, "code")
        fill = dict(enumerate(colours))
        by_class = shaded("places", p27)
        if by_class is not None:
            fill = by_class
        places_group = folium.FeatureGroup(name="Places", show="places" in visible).add_to(m)
        rows = [["Place", "name"], ["Official name", "official_name"], ["Code", "code"]]
        places_geo = folium.GeoJson(
            _collection(p_d, _props(name=names, official_name=_column(p_d, "official_name"), code=codes,
                                    shade=_column(p_d, "shade", fmt_float), search=_search_labels(names, codes, "place"))),
            name="Places (areas)",
            style_function=lambda f: {"color": "#ffffff", "weight": 1.5, "fillColor": fill.get(f["id"], PALETTE[0]),
                                      "fillOpacity": 0.62 if by_class is None else 0.85},
            highlight_function=lambda f: {"fillOpacity": 0.8, "weight": 2.5},
            on_each_feature=JsCode(f'icsgeo_bind("tooltip", {_js(rows + ([[shade.label, "shade"]] if by_class is not None else []))}, {{sticky: true}})'),
            pane="icsgeo-places",
        ).add_to(places_group)
        _polygon_labels(places, [fmt_str(v) for v in places["name"]], kind="place", tier=1, name="Place names",
                        fs=11 if len(places) > 20 else None).add_to(places_group)
        counts["places"] = len(p_d)
        search_layers.append((places_geo, places_group))

    # system outline(s), bold, above the places; named where there are several
    sys_layer = folium.GeoJson(
        _collection(sys_d, _props(name=_column(sys_d, "name"), code=_column(sys_d, "code"),
                                  search=_search_labels(_column(sys_d, "name"), _column(sys_d, "code"), "system"))),
        name="System",
        show="system" in visible,
        style_function=lambda f: {"color": SYSTEM_COLOUR, "weight": 3.5, "opacity": 0.95, "fill": False},
        highlight_function=lambda f: {"weight": 5},
        on_each_feature=JsCode(f'icsgeo_bind("tooltip", {_js([["System", "name"], ["Code", "code"]])}, {{sticky: true}})'),
        pane="icsgeo-system",
    )
    sys_group = sys_layer
    if len(system) > 1:
        sys_group = folium.FeatureGroup(name="Systems", show="system" in visible).add_to(m)
        sys_layer.add_to(sys_group)
        _polygon_labels(system, sys_labels, kind="system", tier=0, name="System names", overview=True).add_to(sys_group)
    else:
        sys_layer.add_to(m)
    search_layers.insert(0, (sys_layer, sys_group))

    # neighbourhood footprints: thin outlines (dashed where they cross a place boundary), a tooltip
    # with their place(s) and how each was made, names where they fit
    nbh_group = None
    if nbh is not None and len(nbh):
        n27 = simplify(nbh, tol)
        n_d = to_display(n27)
        n_names, n_codes = _column(n_d, "pcn_name"), _column(n_d, "pcn_code")
        place = _column(n_d, "place_shares") or _column(n_d, "place_name")
        crossing = [bool(v) for v in n_d["straddles"].fillna(False)] if "straddles" in n_d.columns else [False] * len(n_d)
        props = _props(
            pcn_name=n_names, pcn_code=n_codes, place=place, practices=_column(n_d, "practices", fmt_int),
            registered_patients=_column(n_d, "registered_patients", fmt_int), method=_column(n_d, "method"),
            confidence=_column(n_d, "confidence", fmt_float), search=_search_labels(n_names, n_codes, "neighbourhood"),
        )
        rows = [["Neighbourhood", "pcn_name"], ["PCN code", "pcn_code"],
                ["Place" + (" (residents' share)" if any(crossing) else ""), "place"], ["Practices", "practices"],
                ["Registered patients", "registered_patients"], ["Footprint method", "method"], ["Confidence", "confidence"]]
        nbh_fill = shaded("neighbourhoods", n27)
        if nbh_fill is not None:
            props["shade"] = _column(n_d, "shade", fmt_float)
            rows.append([shade.label, "shade"])
        dashed = {i for i, c in enumerate(crossing) if c}
        nbh_group = folium.FeatureGroup(name="Neighbourhoods", show="neighbourhoods" in visible).add_to(m)
        nbh_geo = folium.GeoJson(
            _collection(n_d, props),
            name="Neighbourhoods (areas)",
            style_function=lambda f: {"color": NEIGHBOURHOOD_COLOUR, "weight": 2 if f["id"] in dashed else 1, "opacity": 0.9,
                                      "fill": True, "dashArray": STRADDLE_DASH if f["id"] in dashed else None,
                                      "fillOpacity": 0 if nbh_fill is None else 0.8,
                                      "fillColor": (nbh_fill or {}).get(f["id"], NEIGHBOURHOOD_COLOUR)},
            highlight_function=lambda f: {"weight": 3, "color": "#000000", "fillOpacity": 0.12, "fillColor": "#000000"},
            on_each_feature=JsCode(f'icsgeo_bind("tooltip", {_js(rows)}, {{sticky: true}})'),
            pane="icsgeo-neighbourhoods",
        ).add_to(nbh_group)
        _polygon_labels(nbh, [fmt_str(v) for v in nbh["pcn_name"]], kind="nbh", tier=3,
                        name="Neighbourhood names").add_to(nbh_group)
        counts["neighbourhoods"] = len(n_d)
        counts["straddles"] = len(dashed)
        search_layers.append((nbh_geo, nbh_group))

    # the system's own neighbourhoods (a local definition): bold outlines, labelled where they fit
    local_group = None
    if local is not None and len(local):
        l27 = simplify(local, tol)
        l_d = to_display(l27)
        l_names, l_codes = _column(l_d, "name"), _column(l_d, "code")
        straddle = _column(l_d, "straddles")
        across = _column(l_d, "place_shares") or _column(l_d, "places")
        props = _props(name=l_names, code=l_codes, place=_column(l_d, "place_name"), places=_column(l_d, "places"),
                       population=_column(l_d, "population", fmt_int),
                       registered_patients=_column(l_d, "registered_patients", fmt_int), method=_column(l_d, "method"),
                       straddles=[("yes: " + (p or "")) if s in ("True", "true") else None for s, p in
                                  zip(straddle or [None] * len(l_d), across or [None] * len(l_d))],
                       search=_search_labels(l_names, l_codes, "local neighbourhood"))
        rows = [["Neighbourhood (local)", "name"], ["Code", "code"], ["Place", "place"], ["Straddles places", "straddles"],
                ["Residents (Census 2021)", "population"], ["Registered patients", "registered_patients"],
                ["Defined by", "method"]]
        local_fill = shaded("local", l27)
        if local_fill is not None:
            props["shade"] = _column(l_d, "shade", fmt_float)
            rows.append([shade.label, "shade"])
        local_group = folium.FeatureGroup(name="Local neighbourhoods", show="local" in visible).add_to(m)
        local_geo = folium.GeoJson(
            _collection(l_d, props),
            name="Local neighbourhoods (areas)",
            style_function=lambda f: {"color": LOCAL_COLOUR, "weight": 2.2, "opacity": 0.95, "fill": True,
                                      "fillOpacity": 0 if local_fill is None else 0.8,
                                      "fillColor": (local_fill or {}).get(f["id"], LOCAL_COLOUR), "dashArray": "6 3"},
            highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.12, "fillColor": LOCAL_COLOUR},
            on_each_feature=JsCode(f'icsgeo_bind("tooltip", {_js(rows)}, {{sticky: true}})'),
            pane="icsgeo-local",
        ).add_to(local_group)
        _polygon_labels(local, [fmt_str(v) for v in local["name"]], kind="local", tier=2,
                        name="Local neighbourhood names").add_to(local_group)
        counts["local"] = len(l_d)
        search_layers.append((local_geo, local_group))

    # practices: circle markers with a popup
    prac_layer = None
    if prac is not None and len(prac):
        r_d = to_display(prac)
        r_names, r_codes = _column(r_d, "name"), _column(r_d, "practice_code")
        pcn = None
        if "pcn_name" in r_d.columns or "pcn_code" in r_d.columns:
            pn = _column(r_d, "pcn_name") or [None] * len(r_d)
            pc = _column(r_d, "pcn_code") or [None] * len(r_d)
            pcn = [f"{a} ({b})" if a and b else (a or b) for a, b in zip(pn, pc)]
        props = _props(name=r_names, practice_code=r_codes, postcode=_column(r_d, "postcode"), pcn=pcn,
                       search=_search_labels(r_names, r_codes, "practice"))
        rows = [["Practice", "name"], ["Code", "practice_code"], ["Postcode", "postcode"], ["PCN", "pcn"]]
        prac_layer = folium.GeoJson(
            _collection(r_d, props),
            name="GP practices",
            show="practices" in visible,
            style_function=lambda f: {"color": "#ffffff", "weight": 1, "fillColor": PRACTICE_COLOUR, "fillOpacity": 0.9, "radius": 4},
            highlight_function=lambda f: {"radius": 7, "fillColor": "#d7301f"},
            pointToLayer=JsCode('function (f, ll) { return L.circleMarker(ll, {radius: 4, pane: "icsgeo-practices"}); }'),
            on_each_feature=JsCode(f'icsgeo_bind("popup", {_js(rows)}, {{maxWidth: 320}})'),
            pane="icsgeo-practices",
        ).add_to(m)
        counts["practices"] = len(r_d)
        search_layers.append((prac_layer, prac_layer))

    # layer control: system › places › neighbourhoods › practices; then the context
    sys_label = f"<b>System</b>: {_esc(system['name'].iloc[0])}" if len(system) == 1 else f"<b>Systems</b> ({len(system)})"
    node: dict | None = None
    for label, layer in reversed([
        (sys_label, sys_group),
        (f"Places ({counts.get('places', 0)})", places_group),
        (f"Local neighbourhoods ({counts.get('local', 0):,})", local_group),
        (f"Neighbourhoods{': PCNs' if local_group is not None else ''} ({counts.get('neighbourhoods', 0):,})", nbh_group),
        (f"GP practices ({counts.get('practices', 0):,})", prac_layer),
    ]):
        if layer is None:
            continue
        new = {"label": label, "layer": layer}
        if node is not None:
            new["children"] = [node]
        node = new
    overlay = [node]
    if lad_group is not None:
        overlay.append({"label": f"Local authorities ({counts['lads']:,})", "layer": lad_group})
    if ward_layer is not None:
        overlay.append({"label": f"Ward names ({counts['wards']:,})", "layer": ward_layer})
    if context_layer is not None:
        overlay.append({"label": "Other systems of England", "layer": context_layer})
    TreeLayerControl(overlay_tree=overlay, closed_symbol="&#9656;", opened_symbol="&#9662;", collapsed=False,
                     position="topright").add_to(m)

    # search over every tier; tips built with textContent (the plugin's default uses innerHTML)
    class _SearchAll(Search):
        _template = folium.template.Template(
            """
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = new L.Control.Search({
                layer: L.featureGroup([{% for l in this.layers %}{{ l.get_name() }}{% if not loop.last %}, {% endif %}{% endfor %}]),
                propertyName: "search",
                initial: false,
                marker: false,
                collapsed: false,
                autoCollapse: false,
                textPlaceholder: {{ this.placeholder|tojson }},
                textErr: "Not found",
                position: "topleft",
                buildTip: icsgeo_tip,
                moveToLocation: function (latlng, title, map) {
                    var l = latlng.layer;
                    if (l && l.getBounds) { map.fitBounds(l.getBounds(), {maxZoom: 14}); }
                    else { map.setView(latlng, Math.max(map.getZoom(), 15)); }
                }
            });
            // the plugin adds its search layer to the map; ours only indexes the tiers, whose
            // visibility stays with the layer control
            {{ this.get_name() }}.setLayer = function (layer) { this._layer = layer; return this; };
            {{ this.get_name() }}.on("search:locationfound", function (e) {
                var l = e.layer, map = {{ this._parent.get_name() }};
                if (!l) { return; }
                var tiers = [{% for l, t in this.toggles %}[{{ l.get_name() }}, {{ t.get_name() }}]{% if not loop.last %}, {% endif %}{% endfor %}];
                tiers.forEach(function (p) { if (p[0].hasLayer(l) && !map.hasLayer(p[1])) { map.addLayer(p[1]); } });
                if (l.getPopup && l.getPopup()) { l.openPopup(); }
                else if (l.getTooltip && l.getTooltip()) { l.openTooltip(e.latlng); }
            });
            {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
            {% endmacro %}
            """
        )

        def __init__(self, toggles, placeholder):
            super().__init__(toggles[0][0], search_label="search", placeholder=placeholder)
            self.toggles = toggles  # (searched layer, the layer the control toggles)
            self.layers = [t[0] for t in toggles]

        def render(self, **kwargs):  # the base class checks a single layer's keys; ours are known
            super(Search, self).render(**kwargs)

    what = [t for t, k in (("places", "places"), ("neighbourhoods", "local"), ("PCNs", "neighbourhoods"), ("practices", "practices"))
            if counts.get(k)]
    _SearchAll(search_layers, placeholder="Search " + (", ".join(what) if what else "systems")).add_to(m)
    Fullscreen(position="topleft", title="Full screen", title_cancel="Leave full screen").add_to(m)

    # title, legend, locator, attribution, label decluttering
    title = f"<h1>{_esc(layers.title)}</h1>" + (f"<p>{_esc(layers.subtitle)}</p>" if layers.subtitle else "")
    code = f"""
(function () {{
  var map = __MAP__;
  var head = L.control({{position: "topleft"}});
  head.onAdd = function () {{
    var t = L.DomUtil.create("div", "icsgeo-title");
    t.innerHTML = {_js(title)};
    L.DomEvent.disableClickPropagation(t); L.DomEvent.disableScrollPropagation(t);
    return t;
  }};
  head.addTo(map);
  var c = head.getContainer();
  c.parentNode.insertBefore(c, c.parentNode.firstChild);  // above search and zoom
  var legend = L.control({{position: "bottomright"}});
  legend.onAdd = function () {{
    var d = L.DomUtil.create("div", "icsgeo-legend");
    d.innerHTML = {_js(_legend_html(layers, names, colours, counts, shading.get("legend")))};
    L.DomEvent.disableClickPropagation(d); L.DomEvent.disableScrollPropagation(d);
    return d;
  }};
  legend.addTo(map);
  if (map.attributionControl) {{ map.attributionControl.addAttribution({_js(_esc(layers.attribution))}); }}
  var declutter = function () {{ icsgeo_declutter(map); }};
  map.on("zoomend overlayadd overlayremove", declutter);
  // fit the system, keeping clear of the legend where the window is wide enough to afford it
  var size = map.getSize(), lw = legend.getContainer().offsetWidth;
  var wide = size.x > 3.5 * lw;
  map.fitBounds([[{so}, {w}], [{no}, {ea}]], {{animate: false,
    paddingTopLeft: [wide ? 50 : 12, 12], paddingBottomRight: [wide ? lw + 12 : 12, 12]}});
  declutter();
}})();
"""
    _Script(code).add_to(m)
    if england is not None and len(england):
        _, inset_js = _inset(england, sys_codes, (w, so, ea, no))
        _Script(inset_js).add_to(m)
    return m


def save_map(m, path, *, self_contained: bool = True) -> Path:
    """Write ``m`` (a folium Map or Figure) to ``path`` as HTML; return the path.

    ``self_contained=True`` (default) inlines Leaflet and the plugins shipped in
    ``icsgeo/render/assets`` (and their images as data: URIs), so the page works with no network;
    a library icsgeo does not ship is an ``OfflineAssetError``. ``self_contained=False`` writes the
    usual folium page, smaller, which loads the libraries from CDNs.
    """
    html_text = m.get_root().render()
    if self_contained:
        html_text = inline_assets(html_text)
    path = Path(path)
    from ..files import atomic_write  # the page appears whole or not at all (a full disk, a folder)

    data = html_text.encode("utf-8")
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path
