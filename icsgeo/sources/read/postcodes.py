"""Postcode files and their code lists: OS Code-Point Open, ONS NSPL lat/long and the ONS postcode
directories (ONSPD, NSPL, NHSPD).

Three readers give one canonical frame, so the postcode table can be built from any of them:

- :func:`read_postcodes`: a Parquet extract (the data mirror's Code-Point and NSPL files);
- :func:`read_codepoint_zip`: ``codepo_gb.zip`` as Ordnance Survey publishes it;
- :func:`read_postcode_directory`: an ONSPD, NSPL or NHSPD CSV release, zipped as published or bare.

The canonical frame: ``postcode`` (``pcds`` form), ``postcode_valid``, ``easting``, ``northing``
(EPSG:27700), ``lat``, ``lon`` (WGS84, derived from the grid reference when the file has one),
``has_location``, ``quality`` (where the file has one), then the code columns the catalogue names
(``lad_code``, ``ward_code``…); a directory adds ``lsoa21_code``, ``sicbl_code``, ``icb_code``…,
``terminated`` and ``termination_date``. Every row of the file comes out, in order, unless the
catalogue entry names ``countries`` to keep (see :func:`read_codepoint_zip`).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..catalogue import Dataset, Table
from ...errors import DataFormatError
from ...postcode import normalise_postcodes
from ...settings import DISPLAY_CRS, WORKING_CRS

__all__ = ["read_postcodes", "read_codepoint_zip", "read_postcode_directory", "read_codelist",
           "CODEPOINT_COLUMNS", "PSEUDO_CODE"]

log = logging.getLogger("icsgeo")

#: Code-Point Open's ten columns as its ``Doc/Code-Point_Open_Column_Headers.csv`` names them (the
#: long-names row): used when a zip lacks that file.
CODEPOINT_COLUMNS = (
    "Postcode", "Positional_quality_indicator", "Eastings", "Northings", "Country_code",
    "NHS_regional_HA_code", "NHS_HA_code", "Admin_county_code", "Admin_district_code", "Admin_ward_code",
)  # fmt: skip
_CODEPOINT_AREA = re.compile(r"(?:^|/)Data/CSV/[^/]+\.csv$", re.IGNORECASE)
_CODEPOINT_HEADERS = re.compile(r"(?:^|/)Doc/Code-Point_Open_Column_Headers\.csv$", re.IGNORECASE)
#: A directory release's full CSV (``Data/ONSPD_FEB_2025_UK.csv``, ``Data/nhg25feb.csv``), and its
#: parts split by postcode area (``Data/multi_csv/ONSPD_FEB_2025_UK_AB.csv``…).
_DIRECTORY_FULL = re.compile(r"(?:^|/)Data/[^/]+\.csv$", re.IGNORECASE)
_DIRECTORY_PARTS = re.compile(r"(?:^|/)Data/multi_csv/[^/]+\.csv$", re.IGNORECASE)
#: ONS pseudo codes: a GSS entity followed by 999999 (``E99999999``, ``L99999999``, ``E34999999``…)
#: stand for "none" (Channel Islands, Isle of Man, a postcode without a grid reference).
PSEUDO_CODE = r"^[A-Z][0-9]{2}9{6}$"
#: Roles a directory reader treats specially; every other role is a code (or text) column.
_POSITION_ROLES = ("easting", "northing", "lat", "lon")
_SPECIAL_ROLES = ("postcode", "quality", "termination_date", *_POSITION_ROLES)
#: Northern Ireland's postcodes (area BT) carry Irish Grid references in the ONS directories.
_IRISH_GRID_AREA = "BT"
_IRISH_GRID_CRS = "EPSG:29903"
_FIRST = ["postcode", "postcode_valid", "easting", "northing", "lat", "lon", "has_location"]


def _transformer(src: str, dst: str):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def read_postcodes(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """``postcode`` (pcds), ``easting``, ``northing`` (EPSG:27700), ``lat``, ``lon``, ``has_location``,
    ``quality`` and, where the file has them, ``lad_code``, ``ward_code``, ``county_code``,
    ``country_code``. Rows without coordinates are kept with ``has_location`` False; legacy codes that
    are not valid postcodes today (NSPL's ``NPT 0AD``…) are kept with ``postcode_valid`` False."""
    import pyarrow.parquet as pq

    roles = dict(table.columns)
    try:
        names = pq.read_schema(path).names
    except Exception as exc:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) is not a readable Parquet file: {exc}") from exc
    missing = [c for c in roles.values() if c not in names]
    if missing:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) lacks the columns {missing}; it has {names}")
    raw = pq.read_table(path, columns=list(roles.values())).to_pandas()
    f = pd.DataFrame({role: raw[src] for role, src in roles.items()})
    return _canonical(f, entry, path)


def _canonical(f: pd.DataFrame, entry: Dataset, path: Path) -> pd.DataFrame:
    """Role columns in, the canonical frame out: postcodes normalised and flagged, the location from
    the grid reference (``easting``/``northing``) when there is one, else from ``lat``/``lon``.

    A grid reference counts when it is positive and its ``quality`` is not the catalogue's
    ``no_location_quality`` (Code-Point's 90, the directories' 9), and ``quality`` is then read on
    the ONS scale (1-9: Code-Point's ``quality_scale`` 10 divides its 10-90); a latitude when it is within ±90
    (the directories' 99.999999 placeholder is not)."""
    f = _keep_countries(f, entry, path)
    # NSPL keeps legacy non-standard codes (e.g. 'NPT 0AD'): kept, flagged, never matched by a query.
    f["postcode_valid"], f["postcode"] = _normalised(f["postcode"])
    if "easting" in f:
        no_loc = entry.get("no_location_quality")
        has = f["easting"].notna() & (f["easting"] > 0)
        if no_loc is not None and "quality" in f:
            # a missing quality (a directory row without one) does not hide a grid reference
            has &= ~(f["quality"] == no_loc).fillna(False).to_numpy(dtype=bool)
        scale = entry.get("quality_scale")
        if scale and "quality" in f:  # read on the ONS scale (1-9) whatever the file's
            f["quality"] = (f["quality"] // int(scale)).astype(f["quality"].dtype)
        f["easting"] = f["easting"].astype("float64").where(has)
        f["northing"] = f["northing"].astype("float64").where(has)
        lon, lat = _transformer(WORKING_CRS, DISPLAY_CRS).transform(f["easting"].to_numpy(), f["northing"].to_numpy())
        hv = has.to_numpy(dtype=bool)
        f["lat"], f["lon"] = np.where(hv, np.round(lat, 6), np.nan), np.where(hv, np.round(lon, 6), np.nan)
    else:
        has = f["lat"].notna() & f["lon"].notna() & (f["lat"].abs() <= 90)
        f["lat"] = f["lat"].where(has)
        f["lon"] = f["lon"].where(has)
        e, n = _transformer(DISPLAY_CRS, WORKING_CRS).transform(f["lon"].to_numpy(), f["lat"].to_numpy())
        hv = has.to_numpy(dtype=bool)
        f["easting"], f["northing"] = np.where(hv, np.round(e, 1), np.nan), np.where(hv, np.round(n, 1), np.nan)
    f["has_location"] = has.to_numpy(dtype=bool)
    return f[_FIRST + [c for c in f.columns if c not in _FIRST]]


def _normalised(raw: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Whether each postcode is valid, and the postcode in ``pcds`` form (as given when it is not
    valid), as text. Arrow-backed text stays in Arrow (no Python string per row); other columns go
    through :func:`icsgeo.postcode.normalise_postcodes`, with the same answers."""
    if isinstance(raw.dtype, pd.StringDtype) and raw.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        from ...postcode import normalise_arrow

        text = pa.array(raw.array)
        text = (text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text).cast(pa.string())
        norm = normalise_arrow(text)
        return pc.is_valid(norm).to_numpy(zero_copy_only=False), pd.Series(pd.array(pc.coalesce(norm, text), dtype="string"), index=raw.index)
    norm = normalise_postcodes(raw.astype(object))
    return norm.notna().to_numpy(dtype=bool), norm.fillna(raw).astype("string")


def _keep_countries(f: pd.DataFrame, entry: Dataset, path: Path) -> pd.DataFrame:
    """The rows of the catalogue's ``countries`` (e.g. ``["E92000001"]``), when it names any.

    Done here rather than by the callers: they read roles, not files, so they cannot know what a
    file covers, and the frame cached for the entry is then the one used (a GB zip filtered to
    England reads to the same frame as the England extract). Without ``countries`` nothing is dropped.
    """
    countries = entry.get("countries")
    if not countries:
        return f
    if "country_code" not in f:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}): the catalogue keeps the countries {list(countries)} but maps no "
            f"country_code column; add country_code to its columns or remove countries"
        )
    keep = f["country_code"].isin(list(countries)).to_numpy(dtype=bool)
    return f if keep.all() else f[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# OS Code-Point Open, as published (codepo_gb.zip)
# ---------------------------------------------------------------------------------------------

def read_codepoint_zip(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """OS Code-Point Open as Ordnance Survey publishes it (``codepo_gb.zip``): the same canonical
    frame :func:`read_postcodes` gives for a Parquet extract of it.

    The zip holds one headerless CSV per postcode area (``Data/CSV/ab.csv``, ``al.csv``…) and names
    their ten columns in ``Doc/Code-Point_Open_Column_Headers.csv`` (a row of short codes, then a row
    of long names); the long names are used (:data:`CODEPOINT_COLUMNS` when that file is absent), and
    ``table.columns`` maps roles to them (``postcode = "Postcode"``, ``lad_code =
    "Admin_district_code"``…). Areas are read in member-name order, every column as text except the
    grid reference and quality. ``no_location_quality`` (90) marks rows without a grid reference;
    ``countries`` (e.g. ``["E92000001"]``) keeps only those countries' postcodes.
    """
    import pyarrow as pa

    roles = dict(table.columns)
    with _zip(path, entry) as zf:
        names = _codepoint_names(zf, path, entry)
        missing = [c for c in roles.values() if c not in names]
        if missing:
            raise DataFormatError(
                f"{path} (dataset {entry.id!r}) lacks the columns {missing}: its Code-Point column headers are "
                f"{list(names)}. Is it the file the catalogue describes ({entry.title})?"
            )
        members = sorted(m for m in zf.namelist() if _CODEPOINT_AREA.search(m))
        if not members:
            raise DataFormatError(
                f"{path} (dataset {entry.id!r}) holds no Data/CSV/<area>.csv files (it holds "
                f"{zf.namelist()[:10]}): is it Code-Point Open's codepo_gb.zip?"
            )
        types = _codepoint_types(roles, names)
        wanted = list(dict.fromkeys(roles.values()))
        parts = [_codepoint_area(zf, m, names, types, wanted, path, entry) for m in members if zf.getinfo(m).file_size]
    schema = pa.schema([(c, types[c]) for c in wanted])
    raw = (pa.concat_tables(parts) if parts else schema.empty_table()).to_pandas()
    f = pd.DataFrame({role: raw[src] for role, src in roles.items()})
    return _canonical(f, entry, path)


def _codepoint_names(zf: zipfile.ZipFile, path: Path, entry: Dataset) -> tuple[str, ...]:
    """The long column names from the zip's ``Doc/Code-Point_Open_Column_Headers.csv``."""
    doc = [m for m in zf.namelist() if _CODEPOINT_HEADERS.search(m)]
    if not doc:
        log.info("%s has no Doc/Code-Point_Open_Column_Headers.csv: using the documented column names", path)
        return CODEPOINT_COLUMNS
    rows = [r for r in csv.reader(io.StringIO(_text(zf.read(doc[0])))) if any(c.strip() for c in r)]
    if len(rows) < 2 or len(rows[1]) != len(rows[0]):
        raise DataFormatError(
            f"{path}!{doc[0]} (dataset {entry.id!r}) is not Code-Point's column headers file: expected a row of "
            f"short codes (PC,PQ,EA…) and a row of long names of the same length, got {rows[:2]}"
        )
    return tuple(c.strip() for c in rows[1])


def _codepoint_types(roles: Mapping[str, str], names: Sequence[str]) -> dict:
    """Arrow types: the grid reference as int32, quality as int8 (as in the Parquet extract), text
    otherwise (codes such as ``E99999999`` stay strings)."""
    import pyarrow as pa

    numeric = {"easting": pa.int32(), "northing": pa.int32(), "quality": pa.int8()}
    types = {n: pa.large_string() for n in names}
    for role, src in roles.items():
        if role in numeric:
            types[src] = numeric[role]
    return types


def _codepoint_area(zf: zipfile.ZipFile, member: str, names: Sequence[str], types: dict, wanted: list[str],
                    path: Path, entry: Dataset):
    """One headerless area CSV as an Arrow table of the ``wanted`` columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with zf.open(member) as f:
            return pacsv.read_csv(
                f,
                read_options=pacsv.ReadOptions(column_names=list(names), block_size=1 << 24),
                convert_options=pacsv.ConvertOptions(column_types={c: types[c] for c in wanted}, include_columns=wanted,
                                                     strings_can_be_null=True),  # "" (no county): null
            )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path}!{member} (dataset {entry.id!r}) is not a Code-Point area file of {len(names)} columns "
            f"({', '.join(names)}): {exc}"
        ) from exc


@contextmanager
def _zip(path: Path, entry: Dataset) -> Iterator[zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) is not a readable zip file: {exc}") from exc
    with zf:
        yield zf


def _text(data: bytes, encoding: str = "utf-8") -> str:
    """Bytes of a small text file (a header line, a headers file): BOM dropped, cp1252 as the fallback."""
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# ---------------------------------------------------------------------------------------------
# ONS postcode directories: ONSPD, NSPL, NHSPD
# ---------------------------------------------------------------------------------------------

def read_postcode_directory(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """An ONS postcode directory (ONSPD, NSPL or NHSPD CSV release), zipped as published or bare:
    the canonical frame plus the directory's codes (``lsoa21_code``, ``sicbl_code``, ``icb_code``,
    ``lad_code``, ``ward_code``, ``country_code``… as the catalogue maps them), ``terminated`` and
    ``termination_date`` (``doterm`` as given, ``YYYYMM``). Every row is kept, terminated ones too
    (``countries`` narrows them to those countries' postcodes, as for Code-Point).

    In a zip, the release's full CSV directly under ``Data/`` is read (``Data/ONSPD_FEB_2025_UK.csv``,
    ``Data/nhg25feb.csv``), else its parts in ``Data/multi_csv/`` are read one after another, in name
    order; the catalogue's ``member`` picks a file explicitly.

    ``table.columns`` maps each role to a column name or to a list of candidate names, the first the
    file has winning (case-insensitive), so one entry serves releases that renamed their columns
    (``lsoa21``/``lsoa21cd``, ``laua``/``lad25cd``, ``oseast1m``/``east1m``…). A headerless file
    (NHSPD) maps roles to 1-based column positions instead. Roles ``postcode``, ``easting``/``northing``
    (``oseast1m``/``osnrth1m``), ``quality`` (``osgrdind``), ``lat``/``lon`` and ``termination_date``
    (``doterm``) are read as such; every other role is a code: blanks and ONS pseudo codes
    (``E99999999``, ``L99999999``…, :data:`PSEUDO_CODE`) become missing.

    The grid reference gives the location where the catalogue maps one, ``no_location_quality`` (9)
    marking rows without, and ``lat``/``lon`` are derived from it as for Code-Point; without a grid
    reference, ``lat``/``lon`` give it (the 99.999999 placeholder is no location). Northern Ireland's
    grid references are Irish Grid: its postcodes take their ``lat``/``lon`` (or, without them, their
    Irish Grid reference converted) into British National Grid.
    """
    import pyarrow as pa

    roles = dict(table.columns)
    _check_roles(roles, path, entry)
    with _directory_files(path, entry) as files:
        parts = [_directory_part(label, opener, roles, entry) for label, opener in files]
    raw = pa.concat_tables(parts)
    f = pd.DataFrame(index=pd.RangeIndex(raw.num_rows))
    for role in roles:
        f[role] = _directory_column(role, raw[role], path, entry)
    if "termination_date" in roles:
        f["terminated"] = f["termination_date"].notna().to_numpy(dtype=bool)
    f = _irish_grid_to_bng(f)
    out = _canonical(f, entry, path)
    codes = [r for r in roles if r not in _SPECIAL_ROLES]
    extra = (["quality"] if "quality" in roles else []) + codes
    extra += ["terminated", "termination_date"] if "termination_date" in roles else []
    return out[_FIRST + extra]


def _check_roles(roles: Mapping[str, object], path: Path, entry: Dataset) -> None:
    """A directory entry maps ``postcode`` and a location (a grid reference or lat/long), all by
    name (or lists of names) or all by position."""
    lacking = [r for r in ("postcode",) if r not in roles]
    if not ({"easting", "northing"} <= set(roles) or {"lat", "lon"} <= set(roles)):
        lacking.append("easting and northing (or lat and lon)")
    if lacking:
        raise DataFormatError(f"dataset {entry.id!r}: the catalogue maps no {' and no '.join(lacking)} column for {path}")
    kinds = {"position" if isinstance(v, int) and not isinstance(v, bool) else "name" for v in roles.values()}
    if len(kinds) > 1:
        raise DataFormatError(
            f"dataset {entry.id!r}: its columns mix positions and names ({dict(roles)}); a headerless file "
            f"(NHSPD) maps every role to a 1-based position, a file with a header to names"
        )


@contextmanager
def _directory_files(path: Path, entry: Dataset) -> Iterator[list[tuple[str, Callable[[], IO[bytes]]]]]:
    """The CSV file(s) to read, as (label, opener) pairs: the file itself, or the members of a zip."""
    if not (zipfile.is_zipfile(path) or entry.format == "zip" or Path(path).suffix.lower() == ".zip"):
        yield [(str(path), lambda: open(path, "rb"))]
        return
    with _zip(path, entry) as zf:
        members = _directory_members(zf, path, entry)
        yield [(f"{path}!{m}", lambda m=m: zf.open(m)) for m in members]


def _directory_members(zf: zipfile.ZipFile, path: Path, entry: Dataset) -> list[str]:
    """The catalogue's ``member``; else the one full CSV under ``Data/``; else the ``Data/multi_csv`` parts."""
    names = zf.namelist()
    if entry.member:
        if entry.member not in names:
            raise DataFormatError(f"{path} (dataset {entry.id!r}) has no member {entry.member!r}; it holds {names[:10]}")
        return [entry.member]
    full = [m for m in names if _DIRECTORY_FULL.search(m)]
    if len(full) == 1:
        return full
    if len(full) > 1:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) holds several CSV files under Data/ ({full[:5]}): name the one to "
            f"read as the catalogue entry's member"
        )
    parts = sorted(m for m in names if _DIRECTORY_PARTS.search(m))
    if not parts:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) holds no Data/*.csv nor Data/multi_csv/*.csv (it holds {names[:10]}): "
            f"is it an ONS postcode directory release ({entry.title})?"
        )
    return parts


def _directory_part(label: str, opener: Callable[[], IO[bytes]], roles: Mapping[str, object], entry: Dataset):
    """One CSV of a directory as an Arrow table with a column per role (grid reference and lat/long
    as numbers, quality as an integer, everything else as text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    encoding = entry.get("encoding", "utf8")
    with opener() as f:
        first = _text(f.readline(), "utf-8" if encoding in ("utf8", "utf-8") else encoding)
    fields = next(csv.reader([first]), [])
    if not any(c.strip() for c in fields):
        raise DataFormatError(f"{label} (dataset {entry.id!r}) is empty: is it the file the catalogue describes ({entry.title})?")
    positional = all(isinstance(v, int) for v in roles.values())
    if positional:
        source = _by_position(roles, len(fields), label, entry)
        read_options = pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24, encoding=encoding)
    else:
        source = _by_name(roles, fields, label, entry)
        read_options = pacsv.ReadOptions(block_size=1 << 24, encoding=encoding)
    types = {}
    for role, src in source.items():
        types.setdefault(src, pa.float64() if role in _POSITION_ROLES else pa.int16() if role == "quality" else pa.string())
    try:
        with opener() as f:
            got = pacsv.read_csv(f, read_options=read_options, convert_options=pacsv.ConvertOptions(
                include_columns=list(types), column_types=types, strings_can_be_null=True))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{label} (dataset {entry.id!r}) could not be read as a postcode directory CSV: {exc}. The columns "
            f"read are {source}. Is it the file the catalogue describes ({entry.title})?"
        ) from exc
    return pa.table({role: got[src].cast(types[src]) for role, src in source.items()})


def _by_name(roles: Mapping[str, object], header: Sequence[str], label: str, entry: Dataset) -> dict[str, str]:
    """Each role's column in ``header``: the first of its candidate names present, ignoring case."""
    present: dict[str, str] = {}
    for raw in header:
        present.setdefault(raw.strip().lower(), raw)
    source, missing = {}, {}
    for role, spec in roles.items():
        candidates = [spec] if isinstance(spec, str) else list(spec)
        hit = next((present[c.strip().lower()] for c in candidates if c.strip().lower() in present), None)
        if hit is None:
            missing[role] = candidates
        else:
            source[role] = hit
    if missing:
        lacks = "; ".join(f"{role} (any of {cands})" for role, cands in missing.items())
        raise DataFormatError(
            f"{label} (dataset {entry.id!r}) lacks the columns for {lacks}; its header is "
            f"{[h.strip() for h in header][:60]}. Is it the file the catalogue describes ({entry.title})? "
            f"A release that renamed a column needs the new name among the role's candidates."
        )
    return source


def _by_position(roles: Mapping[str, int], width: int, label: str, entry: Dataset) -> dict[str, str]:
    """Each role's column of a headerless file (1-based positions; Arrow names them ``f0``, ``f1``…)."""
    beyond = {role: pos for role, pos in roles.items() if not 1 <= pos <= width}
    if beyond:
        raise DataFormatError(
            f"{label} (dataset {entry.id!r}) has {width} columns; the catalogue reads the columns {beyond} "
            f"(1-based positions). Is it the file the catalogue describes ({entry.title})?"
        )
    return {role: f"f{pos - 1}" for role, pos in roles.items()}


def _directory_column(role: str, col, path: Path, entry: Dataset):
    """A role's column as pandas: numbers as float64, quality as int8 (nullable when some rows lack
    one), the postcode as given, codes stripped with blanks and pseudo codes missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if role in _POSITION_ROLES:
        return col.to_numpy()
    if role == "quality":
        try:
            small = pc.cast(col, pa.int8())
        except pa.ArrowInvalid as exc:
            raise DataFormatError(f"{path} (dataset {entry.id!r}): the quality column holds values beyond 127: {exc}") from exc
        values = small.to_numpy(zero_copy_only=False)
        return values.astype("int8") if small.null_count == 0 else pd.array(values, dtype="Int8")
    if role == "postcode":
        return col.to_pandas()
    text = pc.utf8_trim_whitespace(col)
    void = pc.fill_null(pc.or_(pc.equal(text, ""), pc.match_substring_regex(text, PSEUDO_CODE)), False)
    return pd.Series(pc.if_else(void, pa.scalar(None, pa.string()), text).to_pandas()).astype("string")


def _irish_grid_to_bng(f: pd.DataFrame) -> pd.DataFrame:
    """Northern Ireland's postcodes (area BT) on British National Grid: from their lat/long where the
    file gives it, else from their Irish Grid reference (EPSG:29903). Other rows are untouched."""
    if "easting" not in f:
        return f
    ni = f["postcode"].astype("string").str.strip().str.upper().str.startswith(_IRISH_GRID_AREA).fillna(False)
    idx = np.flatnonzero(ni.to_numpy(dtype=bool))
    if not len(idx):
        return f
    e = f["easting"].to_numpy(dtype="float64").copy()
    n = f["northing"].to_numpy(dtype="float64").copy()
    gridded = np.isfinite(e[idx]) & np.isfinite(n[idx]) & (e[idx] > 0)
    ge, gn = _transformer(_IRISH_GRID_CRS, WORKING_CRS).transform(np.where(gridded, e[idx], 0), np.where(gridded, n[idx], 0))
    new_e, new_n = np.where(gridded, np.round(ge, 1), np.nan), np.where(gridded, np.round(gn, 1), np.nan)
    if "lat" in f and "lon" in f:
        lat, lon = f["lat"].to_numpy(dtype="float64")[idx], f["lon"].to_numpy(dtype="float64")[idx]
        placed = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90)
        le, ln = _transformer(DISPLAY_CRS, WORKING_CRS).transform(np.where(placed, lon, 0), np.where(placed, lat, 0))
        new_e, new_n = np.where(placed, np.round(le, 1), new_e), np.where(placed, np.round(ln, 1), new_n)
    e[idx], n[idx] = new_e, new_n
    f["easting"], f["northing"] = e, n
    return f


# ---------------------------------------------------------------------------------------------
# Code lists
# ---------------------------------------------------------------------------------------------

def read_codelist(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """``code``, ``name``, ``area_type`` (county/district/ward…) and ``sheet``, from every listed sheet."""
    sheets: dict[str, str] = entry.get("sheets", {})
    try:
        book = pd.read_excel(path, sheet_name=list(sheets), header=None, engine="calamine", dtype=object)
    except Exception as exc:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) is not a workbook with sheets {list(sheets)}: {exc}") from exc
    parts = []
    for sheet, area_type in sheets.items():
        s = book[sheet]
        # Sheets hold (name, code) or (code, name): the code is the column that looks like a GSS code.
        first_is_code = s.iloc[:, 0].astype(str).str.match(r"^[A-Z]\d{2}|^[A-Z]{2}\d{3}").mean() > 0.5
        code, name = (s.iloc[:, 0], s.iloc[:, 1]) if first_is_code else (s.iloc[:, 1], s.iloc[:, 0])
        parts.append(pd.DataFrame({"code": code.astype(str).str.strip(), "name": name.astype(str).str.strip(),
                                   "area_type": area_type, "sheet": sheet}))
    return pd.concat(parts, ignore_index=True).astype("string")
