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

__all__ = [
    "__version__",
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
