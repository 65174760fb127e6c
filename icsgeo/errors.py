"""Exceptions raised by icsgeo. Each message names the value, what was expected and what to do."""

from __future__ import annotations

__all__ = [
    "IcsgeoError",
    "UnknownDatasetError",
    "DataFileError",
    "DataFileMissingError",
    "DataFileHashError",
    "DataFormatError",
    "DataFileCorruptError",
    "OutputWriteError",
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


class DataFileCorruptError(DataFormatError):
    """A data file whose bytes are damaged: a zip member with a bad CRC, a compressed stream that
    does not decompress, a file cut short. Seen when ``ICSGEO_VERIFY`` is ``warn`` or ``off`` (in
    ``strict`` mode the hash check refuses the file first). The message names the dataset and the
    file name and says to delete the file so that it is fetched (or copied) again."""


class OutputWriteError(IcsgeoError, OSError):
    """An output (or cache) file that could not be written: the path is a folder, the folder is
    read-only or not writable, or the disk is full. Nothing is left at the path (a previous file
    there is kept as it was) and no temporary file remains. ``errno`` is the operating system's
    error number, ``filename`` the path; ``str()`` says what to do."""

    def __init__(self, message: str, *, errno: int | None = None, path=None, strerror: str | None = None):
        super().__init__(errno, strerror or message)
        self.filename = None if path is None else str(path)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable (worker processes, multiprocessing) with its keyword arguments
        return (_output_write_error, (self.message, self.errno, self.filename, self.strerror))


def _output_write_error(message, errno, path, strerror):
    return OutputWriteError(message, errno=errno, path=path, strerror=strerror)


class InvalidPostcodeError(IcsgeoError, ValueError):
    """A string that is not a well-formed UK postcode."""


class MissingDependencyError(IcsgeoError, ImportError):
    """An optional dependency needed for this feature is not installed."""


class DefinitionError(IcsgeoError, ValueError):
    """A custom system/place definition (YAML) that is malformed or refers to unknown codes."""


class BulkInputError(IcsgeoError, ValueError):
    """An input or output file of a bulk run that cannot be used: unreadable, lacking the named
    column, or of a format icsgeo does not write."""


class SettingsError(IcsgeoError, ValueError):
    """A setting icsgeo cannot use: an ``ICSGEO_*`` variable with a value it does not understand, or a
    config file that is not valid TOML or holds an unknown key. The message names the variable or the
    file and line, and the values allowed."""
