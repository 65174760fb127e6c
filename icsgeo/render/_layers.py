"""The renderer's input (``MapLayers``) and the display preparation both renderers share.

Geometry is computed in EPSG:27700 and only reprojected to EPSG:4326 for the interactive page. Layers
are simplified per layer with ``simplify_coverage`` (neighbours keep one shared border: no gaps or
slivers) and snapped to a 1 m grid before reprojection; lon/lat are then rounded to 5 decimals (~1 m).
"""

from __future__ import annotations

import logging
import math
import warnings
import zlib
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import IcsgeoError, MissingDependencyError
from ..settings import DISPLAY_CRS, WORKING_CRS

log = logging.getLogger("icsgeo.render")

__all__ = ["MapLayers", "Shade", "LayerError", "PALETTE", "TIERS", "LOCAL_COLOUR", "SHADES", "shade_classes", "shade_colours"]

#: Tier names, top to bottom (the nesting of the layer control); ``context`` is the local authority
#: outlines and ward names drawn under everything to orient by.
TIERS = ("system", "places", "local", "neighbourhoods", "practices", "context")

#: Colours for places: soft enough to print labels and outlines over, distinct on screen and paper
#: (ColorBrewer Set3, its grey swapped for a sand that does not read as "no data").
PALETTE = (
    "#8dd3c7", "#fdb462", "#bebada", "#fb8072", "#80b1d3", "#b3de69",
    "#fccde5", "#ffffb3", "#bc80bd", "#ccebc5", "#ffed6f", "#e5c494",
)  # fmt: skip
SYSTEM_COLOUR = "#1f2a44"
NEIGHBOURHOOD_COLOUR = "#3d3d3d"
#: The system's own neighbourhoods (a local definition): a strong purple, drawn over the places.
LOCAL_COLOUR = "#6a1b9a"
PRACTICE_COLOUR = "#222222"
CONTEXT_FILL = "#e3e3df"
#: Local authority outlines and ward names: light grey, under everything.
CONTEXT_LINE = "#a3a3a0"
CONTEXT_TEXT = "#6e6e6a"
#: A neighbourhood that crosses a place boundary: its outline dashed (the SVG dash pattern).
STRADDLE_DASH = "5 4"

_REQUIRED = {
    "system": ("code", "name"),
    "places": ("code", "name"),
    "local": ("code", "name"),
    "neighbourhoods": ("pcn_code", "pcn_name"),
    "practices": ("practice_code", "name"),
    "england": ("code", "name"),
    "lads": ("code", "name"),
    "wards": ("code", "name"),
}
_OPTIONAL = {
    "system": ("label",),
    "places": ("official_name", "population", "shade"),
    "local": ("method", "place_name", "places", "place_shares", "population", "registered_patients", "straddles", "shade"),
    "neighbourhoods": ("practices", "registered_patients", "method", "confidence", "place_name", "place_shares", "straddles",
                       "shade"),
    "practices": ("postcode", "pcn_code", "pcn_name"),
    "england": ("overlay",),
    "wards": ("population", "room"),
}
_POINTS = ("practices", "wards")
_POLYGONAL = {"Polygon", "MultiPolygon"}


class LayerError(IcsgeoError, ValueError):
    """A layer given to the renderer that lacks a column, a CRS or the right kind of geometry."""


#: A sequential ramp for shaded (choropleth) maps: light is low, dark red is high (ColorBrewer YlOrRd).
SHADES = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")


@dataclass(frozen=True)
class Shade:
    """Which tier a map shades by its ``shade`` column, what the values are, and how many classes."""

    tier: str  # "places", "local" or "neighbourhoods"
    label: str  # e.g. "IMD 2025 score (population-weighted)"
    classes: int = 5


def shade_classes(values, classes: int = 5) -> tuple[list[int], list[tuple[float, float]]]:
    """Quantile classes of ``values`` (mapclassify): each value's class (-1 when missing) and each
    class's (lowest, highest) value, lowest class first."""
    v = pd.to_numeric(pd.Series(list(values)), errors="coerce").to_numpy(dtype="float64")
    ok = np.isfinite(v)
    if not ok.any():
        return [-1] * len(v), []
    try:
        import mapclassify
    except ImportError as e:  # pragma: no cover - the map extra installs it
        raise MissingDependencyError('shading needs mapclassify: pip install "icsgeo[map]"') from e
    k = int(min(classes, len(np.unique(v[ok])), len(SHADES)))
    if k < 2:
        return [0 if o else -1 for o in ok], [(float(v[ok].min()), float(v[ok].max()))]
    scheme = mapclassify.Quantiles(v[ok], k=k)
    cls = np.full(len(v), -1)
    cls[ok] = scheme.yb
    bounds, lo = [], float(v[ok].min())
    for b in scheme.bins:
        bounds.append((lo, float(b)))
        lo = float(b)
    return cls.tolist(), bounds


def shade_colours(n: int) -> list[str]:
    """``n`` colours of :data:`SHADES`, light to dark."""
    if n <= 1:
        return [SHADES[-2]] * n
    return [SHADES[round(i * (len(SHADES) - 1) / (n - 1))] for i in range(n)]


@dataclass(eq=False)
class MapLayers:
    """What a map of one system (or of several) shows. Frames in any CRS; EPSG:27700 preferred.

    ``system``: code, name (the outline, drawn bold; several rows draw several systems).
    ``places``: code, name (filled; neighbours never share a colour).
    ``local``: code, name of the system's own neighbourhoods (a local definition) and, when known,
    method, place_name, places, population, registered_patients, straddles (outlined and labelled).
    ``neighbourhoods``: pcn_code, pcn_name and, when known, practices, registered_patients, method,
    confidence (thin outlines with a tooltip).
    ``practices``: points with practice_code, name and, when known, postcode, pcn_code, pcn_name.
    ``england``: code, name of every system, for the locator (the ``system`` codes highlighted) and,
    when known, ``overlay`` (True for a custom system's outline drawn over the systems of its
    vintage: not counted as one of England's systems).
    ``lads``: code, name of the local authorities around and inside the system: the context layer's
    light grey outlines and names (clip them to the view: :func:`context_extent`).
    ``wards``: points with code, name and, when known, population and room (the label's space in
    metres, e.g. the square root of the ward's area): ward names, shown where they fit.

    ``system`` may carry a short ``label`` (what a map of several systems writes on each);
    ``places`` an ``official_name`` (the tooltip gives both) and a ``population`` (the larger place
    keeps its colour when two would want the same); ``neighbourhoods`` and ``local``
    ``place_shares`` (their place(s) with residents' shares, "Sheffield 97%, Rotherham 3%") and
    ``straddles`` (True when they cross a place boundary: marked on the map).
    """

    title: str
    system: gpd.GeoDataFrame
    places: gpd.GeoDataFrame | None = None
    neighbourhoods: gpd.GeoDataFrame | None = None
    local: gpd.GeoDataFrame | None = None
    practices: gpd.GeoDataFrame | None = None
    england: gpd.GeoDataFrame | None = None
    lads: gpd.GeoDataFrame | None = None
    wards: gpd.GeoDataFrame | None = None
    attribution: str = ""
    subtitle: str = ""
    #: shade one polygon tier by its ``shade`` column (a choropleth); None: places in distinct colours
    shade: Shade | None = None
    _checked: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for tier in ("system", "places", "local", "neighbourhoods", "practices", "england", "lads", "wards"):
            gdf = getattr(self, tier)
            if gdf is None:
                continue
            self._checked[tier] = _check(tier, gdf)
        if "system" not in self._checked:
            raise LayerError("MapLayers needs a system layer (a GeoDataFrame with code, name, geometry)")
        if self._checked["system"].empty:
            raise LayerError("the system layer has no rows")
        if self.shade is not None:
            layer = self._checked.get(self.shade.tier)
            if layer is None or "shade" not in layer.columns:
                raise LayerError(f"shade names the {self.shade.tier} tier, which is not drawn or has no 'shade' column")

    def layer(self, tier: str) -> gpd.GeoDataFrame | None:
        """The checked layer in EPSG:27700 (a copy), or None."""
        return self._checked.get(tier)


def _check(tier: str, gdf) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise LayerError(f"{tier} must be a GeoDataFrame, not {type(gdf).__name__}")
    missing = [c for c in _REQUIRED[tier] if c not in gdf.columns]
    if missing:
        raise LayerError(
            f"the {tier} layer lacks the column(s) {missing}; it needs {list(_REQUIRED[tier])} "
            f"(optional: {list(_OPTIONAL.get(tier, ()))}); it has {[c for c in gdf.columns if c != gdf.geometry.name]}"
        )
    if gdf.crs is None:
        raise LayerError(f"the {tier} layer has no CRS; set it (gdf.set_crs('EPSG:27700')) before drawing")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    kinds = set(gdf.geom_type)
    wanted = {"Point"} if tier in _POINTS else _POLYGONAL
    if not kinds <= wanted:
        raise LayerError(f"the {tier} layer must hold {' or '.join(sorted(wanted))} geometries, not {sorted(kinds - wanted)}")
    keep = [c for c in (*_REQUIRED[tier], *_OPTIONAL.get(tier, ())) if c in gdf.columns]
    out = gdf[keep + [gdf.geometry.name]].to_crs(WORKING_CRS)
    if out.geometry.name != "geometry":
        out = out.rename_geometry("geometry")
    return out.reset_index(drop=True)


# --- preparation shared by the interactive and the static renderer ---------------------------------


def auto_tolerance(layers: MapLayers) -> float:
    """Simplification tolerance (m) for the view: about 1/4000 of the system extent's diagonal."""
    x0, y0, x1, y1 = layers.layer("system").total_bounds
    return float(min(max(math.hypot(x1 - x0, y1 - y0) / 4000, 5.0), 500.0))


def simplify(gdf: gpd.GeoDataFrame, tolerance: float, grid: float = 1.0) -> gpd.GeoDataFrame:
    """Coverage-simplify a polygon layer (shared borders stay shared), then snap to a ``grid`` m grid.

    Published layers are often *nearly* valid coverages (LSOA 2021 BSC: 13 of 35,672 polygons have an
    edge that does not match its neighbour's); ``simplify_coverage`` keeps every matching border
    shared and leaves those few as they were, so it is used unless more than 5% of the polygons are
    off. A layer that is not a coverage at all (overlaps) is simplified polygon by polygon, with a
    warning: gaps may then open between neighbours.
    """
    out = gdf.copy()
    geoms = out.geometry
    if tolerance > 0 and len(out):
        if len(out) == 1 or geoms.is_valid_coverage():
            geoms = geoms.simplify_coverage(tolerance)
        else:
            bad = int((~shapely.is_empty(shapely.coverage_invalid_edges(geoms.values))).sum())
            if bad > max(1, 0.05 * len(out)) and hasattr(shapely, "coverage_clean"):
                # Layers from mixed sources (official boundaries beside dissolved LSOAs): make them a
                # coverage first (GEOS CoverageCleaner: overlaps merged, slivers under 1 m closed).
                cleaned = shapely.coverage_clean(geoms.values, gap_width=grid, snapping_distance=grid)
                geoms = gpd.GeoSeries(cleaned, index=out.index, crs=out.crs)
                log.info("layer of %d polygons: %d did not form a coverage; cleaned before simplifying", len(out), bad)
                bad = int((~shapely.is_empty(shapely.coverage_invalid_edges(geoms.values))).sum())
            if bad <= max(1, 0.05 * len(out)):
                log.info("layer of %d polygons: %d with edges that do not match a neighbour's; coverage-simplified anyway", len(out), bad)
                geoms = geoms.simplify_coverage(tolerance)
            else:
                warnings.warn(
                    f"{bad} of {len(out)} polygons do not form a coverage (overlaps or unmatched edges); "
                    "simplified one by one, so small gaps may show between neighbours",
                    stacklevel=3,
                )
                geoms = geoms.simplify(tolerance, preserve_topology=True)
    geoms = gpd.GeoSeries(shapely.set_precision(geoms.values, grid), index=out.index, crs=out.crs)
    out = out.set_geometry(geoms)
    return out[~out.geometry.is_empty]


def to_display(gdf: gpd.GeoDataFrame, decimals: int = 5) -> gpd.GeoDataFrame:
    """EPSG:4326 with coordinates rounded (5 decimals ≈ 1 m) and repeated points removed."""
    out = gdf.to_crs(DISPLAY_CRS)
    geoms = shapely.transform(out.geometry.values, lambda c: np.round(c, decimals))
    geoms = shapely.remove_repeated_points(geoms)
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))


def _preferences(name) -> list[int]:
    """A place's own order of the palette: a stable digest of its name and each slot (the same place
    prefers the same colours on every map and in every vintage that names it the same)."""
    key = str(name or "").strip().casefold()
    return sorted(range(len(PALETTE)), key=lambda k: zlib.crc32(f"{key}|{k}".encode("utf-8")))


def _lab(colour: str) -> np.ndarray:
    """CIE L*a*b* (D65) of a "#rrggbb" colour."""
    c = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 0.008856 ** 3))
    f = np.where(xyz / np.array([0.95047, 1.0, 1.08883]) > 0.008856, f, 7.787 * xyz / np.array([0.95047, 1.0, 1.08883]) + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


#: Two palette colours closer than this (CIE76 ΔE) are not given to touching places when avoidable.
_CLOSE = 25.0


def touching(gdf: gpd.GeoDataFrame, distance: float = 50.0) -> list[set[int]]:
    """For each polygon (by position), the positions of the others within ``distance`` metres:
    queen contiguity that survives simplification and the small gaps of generalised boundaries."""
    geoms = gdf.geometry.values
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=distance)
    out: list[set[int]] = [set() for _ in range(len(geoms))]
    for i, j in zip(a.tolist(), b.tolist()):
        if i != j:
            out[i].add(j)
    return out


def place_colours(places: gpd.GeoDataFrame) -> list[str]:
    """One palette colour per place; neighbours never share one, and a place keeps its colour
    from map to map.

    Each place has its own order of the palette (:func:`_preferences`, from its name); places are
    coloured largest first (by ``population`` where the layer has it, else by area), each taking the first colour in its order that no place it must differ
    from has and that is not close (ΔE < 25) to a touching place's, else the first that no such
    place has. Up to ``len(PALETTE)`` places all differ (so a legend can name them); more differ from
    the places within 50 m. A smaller place gives way to a larger one, so a place keeps its colour
    between two maps whose larger places are the same: South Yorkshire's four places have the colours
    they have in the 2021 map of South Yorkshire and Bassetlaw, the smallest of its five.
    """
    n = len(places)
    if n == 0:
        return []
    names = list(places["name"]) if "name" in places.columns else [None] * n
    touch = touching(places) if n > 1 else [set()]
    apart = [set(range(n)) - {i} for i in range(n)] if n <= len(PALETTE) else touch
    lab = [_lab(c) for c in PALETTE]
    size = (pd.to_numeric(places["population"], errors="coerce").fillna(0).to_numpy() if "population" in places.columns
            else places.geometry.area.to_numpy() / 1e6)
    order = sorted(range(n), key=lambda i: (-round(float(size[i])), str(names[i])))
    slots: dict[int, int] = {}
    for i in order:
        taken = {slots[j] for j in apart[i] if j in slots}
        near = [slots[j] for j in touch[i] if j in slots]
        free = [k for k in _preferences(names[i]) if k not in taken]
        if not free:  # more than len(PALETTE) - 1 coloured neighbours: a proper colouring for all
            return _balanced_colours(places)
        clear = [k for k in free if all(np.linalg.norm(lab[k] - lab[t]) >= _CLOSE for t in near)]
        slots[i] = (clear or free)[0]
    return [PALETTE[slots[i]] for i in range(n)]


def _balanced_colours(places: gpd.GeoDataFrame) -> list[str]:
    try:
        import mapclassify
    except ImportError as e:  # pragma: no cover - the map extra installs it
        raise MissingDependencyError('colouring places needs mapclassify: pip install "icsgeo[map]"') from e
    try:
        codes = mapclassify.greedy(places.reset_index(drop=True), strategy="balanced", min_colors=5)
    except ImportError as e:
        raise MissingDependencyError(f'colouring places needs libpysal ({e}): pip install "icsgeo[map]"') from e
    return [PALETTE[int(c) % len(PALETTE)] for c in codes]


def label_anchors(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, np.ndarray, np.ndarray]:
    """Where a polygon's label goes and how much room it has there: (points, width, height) in metres.

    The anchor is the centre of the polygon's largest inscribed circle (the point farthest inside
    it), moved along the horizontal chord through it to the chord's middle; ``width`` is that
    chord's length, ``height`` twice the anchor's distance from the boundary. A label fits when it
    is no wider and no taller than these at the map's scale.
    """
    geoms = gdf.geometry.values
    if len(geoms) == 0:
        return gpd.GeoSeries([], crs=gdf.crs), np.zeros(0), np.zeros(0)
    circles = shapely.maximum_inscribed_circle(geoms)
    centres = shapely.get_point(circles, 0)
    radius = shapely.length(circles)
    cx, cy = shapely.get_x(centres), shapely.get_y(centres)
    x0, _, x1, _ = shapely.bounds(geoms).T
    chords = shapely.intersection(shapely.linestrings(np.stack([np.stack([x0 - 1, cy], 1), np.stack([x1 + 1, cy], 1)], 1)), geoms)
    xs, widths = cx.copy(), 2 * radius
    for i, chord in enumerate(chords):  # the part of the chord through the centre
        parts = getattr(chord, "geoms", [chord])
        hit = min(parts, key=lambda part: part.distance(centres[i]), default=None)
        if hit is not None and not hit.is_empty and hit.length > 0:
            a, b = hit.coords[0][0], hit.coords[-1][0]
            xs[i], widths[i] = (a + b) / 2, abs(b - a)
    points = shapely.points(xs, cy)
    heights = 2 * shapely.distance(points, shapely.boundary(geoms))  # at the anchor, which may have moved
    return gpd.GeoSeries(points, index=gdf.index, crs=gdf.crs), widths, heights


def context_extent(bounds, margin: float = 0.3, at_least: float = 15_000.0, at_most: float = 40_000.0) -> tuple[float, float, float, float]:
    """A system's bounds (EPSG:27700) widened by ``margin`` of its larger side, within ``at_least``
    and ``at_most`` metres: the part of the country a map's context layer covers."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    pad = min(max(at_least, margin * max(x1 - x0, y1 - y0)), at_most)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


#: Ward names reach less far beyond the system than local authority borders do.
WARD_MARGIN = {"margin": 0.05, "at_least": 3_000.0, "at_most": 10_000.0}


def label_points(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """A label anchor inside each polygon: the representative point of its largest part."""

    def anchor(g):
        if g.geom_type == "MultiPolygon":
            g = max(g.geoms, key=lambda p: p.area)
        return g.representative_point()

    return gpd.GeoSeries([anchor(g) for g in gdf.geometry], index=gdf.index, crs=gdf.crs)


def fmt_int(v) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return f"{int(v):,}"


def fmt_float(v, digits: int = 2) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return f"{float(v):.{digits}f}"


def fmt_str(v) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return str(v)
