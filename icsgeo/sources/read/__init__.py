"""Readers: every catalogue file into one canonical frame, cached as (Geo)Parquet by content.

>>> from icsgeo import read
>>> icbs = read("icb-2026")
>>> list(icbs.columns), icbs.crs.to_epsg(), len(icbs)
(['code', 'name', 'repaired', 'geometry'], 27700, 36)
"""

from __future__ import annotations

from typing import Callable

from ..cache import cached_frame, sha256_file
from ..catalogue import Catalogue, Dataset, catalogue
from ...errors import IcsgeoError, UnknownDatasetError
from ..fetch import fetch
from ...settings import get_settings
from . import ods, ons, postcodes, registrations
from ._common import DAMAGED, check_intact, corrupt

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["read", "read_text", "READERS"]

#: reader name in the catalogue -> (function, returns a GeoDataFrame)
READERS: dict[str, tuple[Callable, bool]] = {
    "boundary": (ons.read_boundary, True),
    "table": (ons.read_table, False),
    "epraccur": (ods.read_epraccur, False),
    "practice_map": (ods.read_practice_map, False),
    "epcn": (ods.read_epcn, False),
    "registrations": (registrations.read_registrations, False),
    "postcodes": (postcodes.read_postcodes, False),
    "codepoint_zip": (postcodes.read_codepoint_zip, False),
    "postcode_directory": (postcodes.read_postcode_directory, False),
    "codelist": (postcodes.read_codelist, False),
}


def read(dataset: str | Dataset, table: str | None = None, *, catalogue: Catalogue | None = None, cache: bool = True):
    """Read a catalogue dataset into its canonical (Geo)DataFrame.

    The file is found (and hash-checked) by :func:`icsgeo.fetch`: in the data folder, then the cache,
    then (unless offline) downloaded from its publisher. The parsed frame is cached as
    Parquet/GeoParquet keyed by the file's sha256, the catalogue entry and the icsgeo version, so a
    second read costs a Parquet load.

    Parameters
    ----------
    dataset : str or Dataset
        A catalogue dataset id (``icsgeo data`` lists them) or entry.
    table : str, optional
        A sheet of a multi-table file (e.g. ePCN's ``pcns`` or ``membership``); default the entry's
        default table.
    catalogue : Catalogue, optional
        The catalogue to look ``dataset`` up in; default :func:`icsgeo.catalogue`.
    cache : bool, default True
        Use (and fill) the derived-layer cache; ``False`` parses the file afresh.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        The canonical columns of the entry (a GeoDataFrame, EPSG:27700, for a boundary).

    Raises
    ------
    UnknownDatasetError
        A dataset id not in the catalogue, or a documentation file (use :func:`read_text`).
    DataFileMissingError
        The file is in neither the data folder nor the cache and cannot be downloaded.
    DataFileHashError
        The file's sha256 differs from the catalogue's (``ICSGEO_VERIFY=strict``).
    icsgeo.errors.DataFileCorruptError
        A damaged file (a zip member with a bad CRC, a stream that does not decompress, a file cut
        short: possible when ``ICSGEO_VERIFY`` is ``warn`` or ``off``), naming the dataset and the
        file and what to do.
    DataFormatError
        A file without the columns, sheets or layout its catalogue entry describes.

    See Also
    --------
    catalogue : What can be read.
    fetch : The verified local file alone.

    Examples
    --------
    >>> import icsgeo
    >>> icbs = icsgeo.read("icb-2026")
    >>> list(icbs.columns), icbs.crs.to_epsg(), len(icbs)
    (['code', 'name', 'repaired', 'geometry'], 27700, 36)
    """
    entry = dataset if isinstance(dataset, Dataset) else (catalogue or _default()).get(dataset)
    if entry.reader == "text":
        raise UnknownDatasetError(f"dataset {entry.id!r} is documentation, not a table: use read_text()")
    func, geo = READERS[entry.reader]
    tbl = entry.table(table)
    path = fetch(entry)
    if not cache:
        return _parse(func, path, entry, tbl)
    key = {"dataset": entry.id, "table": tbl.name, "sha256": sha256_file(path), "entry": repr(entry)}
    return cached_frame(f"{entry.id}.{tbl.name}", key, lambda: _parse(func, path, entry, tbl), geo=geo)


def _parse(func: Callable, path, entry: Dataset, tbl):
    """``func(path, entry, tbl)``, a damaged file's errors turned into ``DataFileCorruptError``."""
    if get_settings().verify != "strict":  # unverified bytes: check the CRCs first (GDAL does not)
        check_intact(path, entry)
    try:
        return func(path, entry, tbl)
    except IcsgeoError:
        raise
    except DAMAGED as exc:
        raise corrupt(entry, path, exc) from exc


def read_text(dataset: str | Dataset, *, catalogue: Catalogue | None = None) -> str:
    """A documentation file's text (Code-Point's licence, metadata, column headers)."""
    entry = dataset if isinstance(dataset, Dataset) else (catalogue or _default()).get(dataset)
    data = fetch(entry).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _default() -> Catalogue:
    return catalogue()
