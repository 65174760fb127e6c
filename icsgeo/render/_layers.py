"""The renderer's input (``MapLayers``) and the display preparation both renderers share.

Geometry is computed in EPSG:27700 and only reprojected to EPSG:4326 for the interactive page. Layers
are simplified per layer with ``simplify_coverage`` (neighbours keep one shared border: no gaps or
slivers) and snapped to a 1 m grid before reprojection; lon/lat are then rounded to 5 decimals (~1 m).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import IcsgeoError, MissingDependencyError
from ..settings import DISPLAY_CRS, WORKING_CRS

log = logging.getLogger("icsgeo.render")

__all__ = ["MapLayers", "Shade", "LayerError", "PALETTE", "TIERS", "LOCAL_COLOUR", "SHADES", "shade_classes", "shade_colours"]

#: Tier names, top to bottom (the nesting of the layer control).
TIERS = ("system", "places", "local", "neighbourhoods", "practices")

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

_REQUIRED = {
    "system": ("code", "name"),
    "places": ("code", "name"),
    "local": ("code", "name"),
    "neighbourhoods": ("pcn_code", "pcn_name"),
    "practices": ("practice_code", "name"),
    "england": ("code", "name"),
}
_OPTIONAL = {
    "places": ("shade",),
    "local": ("method", "place_name", "places", "population", "registered_patients", "straddles", "shade"),
    "neighbourhoods": ("practices", "registered_patients", "method", "confidence", "place_name", "shade"),
    "practices": ("postcode", "pcn_code", "pcn_name"),
}
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
    ``england``: code, name of every system, for the locator (the ``system`` codes highlighted).
    """

    title: str
    system: gpd.GeoDataFrame
    places: gpd.GeoDataFrame | None = None
    neighbourhoods: gpd.GeoDataFrame | None = None
    local: gpd.GeoDataFrame | None = None
    practices: gpd.GeoDataFrame | None = None
    england: gpd.GeoDataFrame | None = None
    attribution: str = ""
    subtitle: str = ""
    #: shade one polygon tier by its ``shade`` column (a choropleth); None: places in distinct colours
    shade: Shade | None = None
    _checked: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for tier in ("system", "places", "local", "neighbourhoods", "practices", "england"):
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
    wanted = {"Point"} if tier == "practices" else _POLYGONAL
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


def place_colours(places: gpd.GeoDataFrame) -> list[str]:
    """One palette colour per place; neighbours (queen contiguity) never share one.

    Up to ``len(PALETTE)`` places each get their own colour (so a legend can name them); more are
    coloured with as few colours as ``mapclassify.greedy`` balances.
    """
    n = len(places)
    if n == 0:
        return []
    if n == 1:
        return [PALETTE[0]]
    try:
        import mapclassify
    except ImportError as e:  # pragma: no cover - the map extra installs it
        raise MissingDependencyError('colouring places needs mapclassify: pip install "icsgeo[map]"') from e
    try:
        codes = mapclassify.greedy(places.reset_index(drop=True), strategy="balanced",
                                   min_colors=min(n, len(PALETTE)) if n <= len(PALETTE) else 5)
    except ImportError as e:
        raise MissingDependencyError(f'colouring places needs libpysal ({e}): pip install "icsgeo[map]"') from e
    return [PALETTE[int(c) % len(PALETTE)] for c in codes]


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
