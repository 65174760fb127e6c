"""icsgeo: England's integrated-care geography (systems, places, neighbourhoods), offline.

Public names are imported on first use, so ``import icsgeo`` (and a single ``icsgeo where``) stays
light: pandas, geopandas and shapely load only when a verb that needs them is called. The public API
is what this package re-exports (and the answer schema, :mod:`icsgeo.answer`); the modules below it
are layers that import one way only (see the README's Architecture section).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    BulkInputError,
    DataFileError,
    DataFileHashError,
    DataFileMissingError,
    DataFormatError,
    DefinitionError,
    IcsgeoError,
    InvalidPostcodeError,
    MissingDependencyError,
    SettingsError,
    UnknownDatasetError,
)

#: public name -> (module, attribute)
_LAZY = {
    "Catalogue": ("sources.catalogue", "Catalogue"),
    "Dataset": ("sources.catalogue", "Dataset"),
    "Vintage": ("sources.catalogue", "Vintage"),
    "catalogue": ("sources.catalogue", "catalogue"),
    "fetch": ("sources.fetch", "fetch"),
    "read": ("sources.read", "read"),
    "read_text": ("sources.read", "read_text"),
    "inventory": ("sources.inventory", "inventory"),
    "data_dir_label": ("sources.inventory", "data_dir_label"),
    "families": ("sources.inventory", "families"),
    "tiers_missing": ("sources.inventory", "tiers_missing"),
    "add_data": ("sources.inventory", "add_data"),
    "fetch_data": ("sources.inventory", "fetch_data"),
    "use_releases": ("sources.releases", "use_releases"),
    "normalise_postcode": ("postcode", "normalise_postcode"),
    "normalise_postcodes": ("postcode", "normalise_postcodes"),
    "Settings": ("settings", "Settings"),
    "get_settings": ("settings", "get_settings"),
    "config": ("configuration", "config"),
    "to_records": ("answer", "to_records"),
    "postcodes_io_result": ("postcodesio", "postcodes_io_result"),
    "postcodes_io_response": ("postcodesio", "postcodes_io_response"),
    "postcodes_io_bulk": ("postcodesio", "postcodes_io_bulk"),
    "system_definitions": ("systems", "system_definitions"),
    "load_system_file": ("systems", "load_system_file"),
    "neighbourhood_lsoas": ("neighbourhoods", "neighbourhood_lsoas"),
    "neighbourhood_table": ("neighbourhoods", "neighbourhood_table"),
    "geography": ("tiers", "geography"),
    "Geography": ("tiers", "Geography"),
    "System": ("tiers", "System"),
    "SYSTEM_COLUMNS": ("tiers", "SYSTEM_COLUMNS"),
    "PLACE_COLUMNS": ("tiers", "PLACE_COLUMNS"),
    "build_index": ("index", "build_index"),
    "index_path": ("index", "index_path"),
    "notes": ("index", "notes"),
    "postcode_index": ("index", "postcode_index"),
    "PostcodeIndex": ("index", "PostcodeIndex"),
    "where": ("verbs", "where"),
    "lookup": ("verbs", "lookup"),
    "assign": ("verbs", "assign"),
    "practices": ("verbs", "practices"),
    "footprints": ("verbs", "footprints"),
    "profile": ("verbs", "profile"),
    "answer_file": ("bulk", "answer_file"),
    "save": ("bulk", "save"),
    "export": ("exports", "export"),
    "export_index": ("product", "export_index"),
    "map_layers": ("maps", "map_layers"),
    "draw": ("maps", "draw"),
    "explore": ("maps", "explore"),
    "draw_profile": ("maps", "draw_profile"),
    "show_versions": ("versions", "show_versions"),
}

__all__ = [
    "__version__",
    *_LAZY,
    "IcsgeoError",
    "UnknownDatasetError",
    "DataFileError",
    "DataFileMissingError",
    "DataFileHashError",
    "DataFormatError",
    "DefinitionError",
    "InvalidPostcodeError",
    "BulkInputError",
    "MissingDependencyError",
    "SettingsError",
]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'icsgeo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from .answer import to_records
    from .postcodesio import postcodes_io_bulk, postcodes_io_response, postcodes_io_result
    from .bulk import answer_file, save
    from .exports import export
    from .product import export_index
    from .tiers import PLACE_COLUMNS, SYSTEM_COLUMNS, Geography, System, geography
    from .index import PostcodeIndex, build_index, index_path, notes, postcode_index
    from .maps import draw, draw_profile, explore, map_layers
    from .neighbourhoods import neighbourhood_lsoas, neighbourhood_table
    from .postcode import normalise_postcode, normalise_postcodes
    from .settings import Settings, get_settings
    from .configuration import config
    from .sources.catalogue import Catalogue, Dataset, Vintage, catalogue
    from .sources.fetch import fetch
    from .sources.inventory import add_data, data_dir_label, families, fetch_data, inventory, tiers_missing
    from .sources.releases import use_releases
    from .sources.read import read, read_text
    from .systems import load_system_file, system_definitions
    from .versions import show_versions
    from .verbs import assign, footprints, lookup, practices, profile, where
