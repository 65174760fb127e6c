"""icsgeo: England's integrated-care geography (systems, places, neighbourhoods), offline.

Public names are imported on first use, so ``import icsgeo`` (and a single ``icsgeo where``) stays
light: pandas, geopandas and shapely load only when a verb that needs them is called. Internals live
in ``_``-prefixed modules; everything public is re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    DataFileError,
    DataFileHashError,
    DataFileMissingError,
    DataFormatError,
    DefinitionError,
    IcsgeoError,
    InvalidPostcodeError,
    UnknownDatasetError,
)

#: public name -> (module, attribute)
_LAZY = {
    "Catalogue": ("_catalogue", "Catalogue"),
    "Dataset": ("_catalogue", "Dataset"),
    "catalogue": ("_catalogue", "catalogue"),
    "fetch": ("_fetch", "fetch"),
    "locate": ("_fetch", "locate"),
    "read": ("_read", "read"),
    "read_text": ("_read", "read_text"),
    "normalise_postcode": ("postcode", "normalise_postcode"),
    "normalise_postcodes": ("postcode", "normalise_postcodes"),
    "Settings": ("settings", "Settings"),
    "get_settings": ("settings", "get_settings"),
    "geography": ("_geography", "geography"),
    "Geography": ("_geography", "Geography"),
    "find_system": ("_geography", "find_system"),
    "where": ("_assign", "where"),
    "assign": ("_assign", "assign"),
    "practices": ("_assign", "practices"),
    "to_records": ("_assign", "to_records"),
    "footprints": ("neighbourhoods", "footprints"),
    "neighbourhood_lsoas": ("neighbourhoods", "neighbourhood_lsoas"),
    "neighbourhood_table": ("neighbourhoods", "neighbourhood_table"),
    "system_definitions": ("systems", "system_definitions"),
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
    from ._assign import assign, practices, to_records, where
    from ._catalogue import Catalogue, Dataset, catalogue
    from ._fetch import fetch, locate
    from ._geography import Geography, find_system, geography
    from ._read import read, read_text
    from .neighbourhoods import footprints, neighbourhood_lsoas, neighbourhood_table
    from .postcode import normalise_postcode, normalise_postcodes
    from .settings import Settings, get_settings
    from .systems import system_definitions
    from .versions import show_versions
