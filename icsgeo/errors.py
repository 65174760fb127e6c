"""Exceptions raised by icsgeo. Each message names the value, what was expected and what to do."""

from __future__ import annotations

__all__ = [
    "IcsgeoError",
    "UnknownDatasetError",
    "DataFileError",
    "DataFileMissingError",
    "DataFileHashError",
    "DataFormatError",
    "InvalidPostcodeError",
    "MissingDependencyError",
    "DefinitionError",
    "BulkInputError",
]


class IcsgeoError(Exception):
    """Base class for every error icsgeo raises on purpose."""


class UnknownDatasetError(IcsgeoError, ValueError):
    """A dataset id, table or vintage that the catalogue does not know."""


class DataFileError(IcsgeoError, OSError):
    """A data file that cannot be used: missing, corrupt or not what the catalogue describes."""


class DataFileMissingError(DataFileError, FileNotFoundError):
    """A catalogue file found neither in the data folder nor in the cache, and not downloadable."""


class DataFileHashError(DataFileError):
    """A file whose sha256 differs from the catalogue's: truncated, corrupted or a new vintage."""


class DataFormatError(DataFileError, ValueError):
    """A file that does not have the columns, sheets or layout its catalogue entry describes."""


class InvalidPostcodeError(IcsgeoError, ValueError):
    """A string that is not a well-formed UK postcode."""


class MissingDependencyError(IcsgeoError, ImportError):
    """An optional dependency needed for this feature is not installed."""


class DefinitionError(IcsgeoError, ValueError):
    """A custom system/place definition (YAML) that is malformed or refers to unknown codes."""


class BulkInputError(IcsgeoError, ValueError):
    """An input or output file of a bulk run that cannot be used: unreadable, lacking the named
    column, or of a format icsgeo does not write."""
