"""icsgeo: England's integrated-care geography (systems, places, neighbourhoods), offline."""

from ._version import __version__
from .catalogue import Catalogue, Dataset, catalogue
from .errors import (
    DataFileError,
    DataFileHashError,
    DataFileMissingError,
    DataFormatError,
    IcsgeoError,
    InvalidPostcodeError,
    UnknownDatasetError,
)
from .fetch import fetch, locate
from .postcode import normalise_postcode, normalise_postcodes
from .read import read, read_text
from .settings import Settings, get_settings

# The tiers (imported lazily by name so that `import icsgeo` stays light).
_LAZY = {
    "geography": ("geography", "geography"),
    "Geography": ("geography", "Geography"),
    "find_system": ("geography", "find_system"),
    "where": ("assign", "where"),
    "assign": ("assign", "assign"),
    "practices": ("assign", "practices"),
    "to_records": ("assign", "to_records"),
    "footprints": ("neighbourhoods", "footprints"),
    "neighbourhood_lsoas": ("neighbourhoods", "neighbourhood_lsoas"),
    "neighbourhood_table": ("neighbourhoods", "neighbourhood_table"),
    "system_definitions": ("systems", "system_definitions"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'icsgeo' has no attribute {name!r}")

__all__ = [
    "__version__",
    "geography",
    "Geography",
    "find_system",
    "where",
    "assign",
    "practices",
    "to_records",
    "footprints",
    "neighbourhood_lsoas",
    "neighbourhood_table",
    "system_definitions",
    "Catalogue",
    "Dataset",
    "catalogue",
    "fetch",
    "locate",
    "read",
    "read_text",
    "normalise_postcode",
    "normalise_postcodes",
    "Settings",
    "get_settings",
    "IcsgeoError",
    "UnknownDatasetError",
    "DataFileError",
    "DataFileMissingError",
    "DataFileHashError",
    "DataFormatError",
    "InvalidPostcodeError",
]
