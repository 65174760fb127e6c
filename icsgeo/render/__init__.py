"""Maps of the three tiers: an interactive, self-contained folium page and a static report figure.

>>> from icsgeo.render import MapLayers, draw_map, save_map, draw_figure      # doctest: +SKIP
>>> layers = MapLayers(title="NHS South Yorkshire ICB", system=icb, places=places,
...                    neighbourhoods=footprints, practices=practices, england=icbs,
...                    attribution="Source: Office for National Statistics ...")  # doctest: +SKIP
>>> save_map(draw_map(layers), "syb.html")                                      # doctest: +SKIP
>>> draw_figure(layers, "syb.png")                                              # doctest: +SKIP

The renderer takes plain GeoDataFrames (EPSG:27700; any CRS is reprojected) and does not care how
the geography was computed. folium, branca, mapclassify, libpysal and matplotlib come with the
``map`` extra: ``pip install "icsgeo[map]"``.
"""

from __future__ import annotations

from ._layers import LayerError, MapLayers, Shade, context_extent
from ._offline import OfflineAssetError, external_references, shipped_assets
from .interactive import draw_map, save_map
from .profile import draw_profile
from .static import draw_figure

__all__ = [
    "MapLayers",
    "Shade",
    "context_extent",
    "draw_map",
    "save_map",
    "draw_figure",
    "draw_profile",
    "LayerError",
    "OfflineAssetError",
    "external_references",
    "shipped_assets",
]

