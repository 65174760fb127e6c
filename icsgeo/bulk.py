"""Bulk answers for a file, streamed in batches: constant memory whatever the file's size.

CSV, Parquet or Excel in; CSV, Parquet, Excel, GeoPackage or GeoJSON out (by extension; any other
extension is refused, naming the ones accepted). Every input row comes out, in order, with its own
columns (all kept as text as given for CSV and Excel) and the answer columns: an answer column whose
name clashes with one of the input's, ignoring case, gets ``_icsgeo`` (then ``_icsgeo2``...), so no two
output columns differ only by case. The column named (``postcode`` by default) is matched ignoring
case and surrounding spaces (``Postcode `` is found). Postcodes are joined to the prebuilt index in
Arrow; points (lat/lon or easting/northing columns) go through the spatial path batch by batch. The
spatial outputs (``.gpkg``, ``.geojson``) carry each answered row's location as a point
(EPSG:27700 in a GeoPackage, WGS84 in GeoJSON).
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

from .answer import ANSWER_COLUMNS, ANSWER_TYPES, arrow_type
from .errors import BulkInputError, IcsgeoError, OutputWriteError
from .sources.cache import atomic_write

#: The examples below read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["answer_file", "save", "BulkInputError", "TABLE_SUFFIXES", "SPATIAL_SUFFIXES", "INPUT_SUFFIXES",
           "OUTPUT_SUFFIXES", "EXCEL_MAX_ROWS"]

BATCH_ROWS = 250_000
#: CSV read block (4 MB: about 200,000 rows of a postcode extract per batch, bounding memory).
CSV_BLOCK_BYTES = 1 << 22
#: What a bulk input may be, by extension.
INPUT_SUFFIXES = {".csv": "CSV", ".txt": "CSV", ".parquet": "Parquet", ".pq": "Parquet", ".xlsx": "Excel",
                  ".xlsm": "Excel", ".xls": "Excel"}
#: What a bulk output may be, by extension.
OUTPUT_SUFFIXES = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet", ".xlsx": "Excel", ".gpkg": "GeoPackage",
                   ".geojson": "GeoJSON"}
#: Rows an Excel sheet holds below its header.
EXCEL_MAX_ROWS = 1_048_575
_NUMBERS = [c for c, t in ANSWER_TYPES.items() if t is not str]


def _kind(path: Path, kinds: dict, what: str) -> str:
    kind = kinds.get(path.suffix.lower())
    if kind is None:
        accepted = ", ".join(sorted(kinds))
        raise BulkInputError(f"{path.name}: icsgeo {what} {accepted} files, not {path.suffix or '(no extension)'!r}; "
                             f"give the file one of those extensions")
    return kind


def _answer_schema():
    """The answer columns' types, fixed whatever a batch holds (a batch with no answers at all has the
    same schema as one with every tier)."""
    import pyarrow as pa

    return pa.schema([(c, arrow_type(c)) for c in ANSWER_COLUMNS])


def _match(header: list[str], wanted: str, path: Path) -> str:
    """The header's name for a wanted column: the exact name, else the one name equal to it ignoring
    case and surrounding spaces."""
    if header.count(wanted) > 1:
        raise BulkInputError(f"{path} names the column {wanted!r} {header.count(wanted)} times in its header: rename all but one")
    if wanted in header:
        return wanted
    key = wanted.strip().casefold()
    hits = [h for h in header if h.strip().casefold() == key]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise BulkInputError(f"{path} has {len(hits)} columns named like {wanted!r} ({', '.join(map(repr, hits))}): "
                             "name one exactly with --column")
    shown = ", ".join(repr(h) if h != h.strip() or not h else h for h in header[:50]) or "(none)"
    more = f" and {len(header) - 50:,} more" if len(header) > 50 else ""
    raise BulkInputError(f"{path} has no column {wanted!r}; its columns are: {shown}{more}")


def _csv_encoding(head: bytes) -> str:
    """UTF-8, or Windows-1252 when the file's first bytes are not UTF-8."""
    try:
        head.decode("utf-8")
        return "utf8"
    except UnicodeDecodeError as exc:
        return "utf8" if exc.start > len(head) - 4 else "cp1252"  # a cut multi-byte char is still UTF-8


def _csv_header(path: Path, encoding: str) -> tuple[list[str], bool]:
    """The header row, however long (a header of thousands of columns runs past any fixed block), and
    whether any row follows it."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a value may be megabytes long; pyarrow reads it, so must this
    try:
        with path.open(encoding="utf-8-sig" if encoding == "utf8" else "cp1252", errors="replace", newline="") as f:
            records = csv.reader(f)
            header = next(records, [])
            return header, any(rec for rec in records)
    finally:
        csv.field_size_limit(limit)


class _Source:
    """An input file: its header (column names) and its rows as Arrow batches of text (CSV, Excel) or
    as stored (Parquet)."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise BulkInputError(f"input file {str(path)!r} does not exist" if not path.exists()
                                 else f"input {str(path)!r} is not a file")
        self.kind = _kind(path, INPUT_SUFFIXES, "reads")
        try:
            if self.kind == "Parquet":
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetFile(path)
                self.schema = self._parquet.schema_arrow
                self.header = self.schema.names
            elif self.kind == "CSV":
                with path.open("rb") as f:
                    head = f.read(1 << 16)
                if not head.strip():
                    raise BulkInputError(f"{path} is empty: a CSV needs a header row naming the column(s)")
                self.encoding = _csv_encoding(head)
                self.header, self._has_rows = _csv_header(path, self.encoding)
            else:
                self._rows = _excel_rows(path)
                self.header = next(self._rows, None)
                if self.header is None:
                    raise BulkInputError(f"{path} has an empty first sheet: it needs a header row naming the column(s)")
        except BulkInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow/calamine raise their own types for a damaged file
            raise BulkInputError(f"cannot read {path} as {self.kind}: {exc}") from exc

    def empty_schema(self):
        import pyarrow as pa

        if self.kind == "Parquet":
            return self.schema
        return pa.schema([(c, pa.string()) for c in self.header])

    def batches(self) -> Iterator:
        import pyarrow as pa

        try:
            if self.kind == "Parquet":
                yield from self._parquet.iter_batches(batch_size=BATCH_ROWS)
            elif self.kind == "CSV":
                yield from self._csv_batches()
            else:
                yield from self._excel_batches()
        except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
            raise BulkInputError(f"cannot read {self.path} as {self.kind}: {exc}") from exc

    def _csv_batches(self) -> Iterator:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if not self._has_rows:
            return
        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(encoding=self.encoding, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in self.header}, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )
        try:
            for batch in reader:
                yield batch
        except StopIteration:  # pragma: no cover - pyarrow ends the iteration itself
            return

    def _excel_batches(self) -> Iterator:
        import pyarrow as pa

        width = len(self.header)

        def batch(rows):
            return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in zip(*rows)], names=self.header)

        rows: list = []
        for row in self._rows:
            rows.append(row[:width] + [""] * (width - len(row)))
            if len(rows) == BATCH_ROWS:
                yield batch(rows)
                rows = []
        if rows:
            yield batch(rows)


def _excel_rows(path: Path) -> Iterator[list[str]]:
    """The first sheet's rows as text, as Excel shows them: whole numbers without ``.0``, dates in ISO
    form, empty cells as empty strings (python-calamine, no pandas)."""
    import datetime

    from python_calamine import CalamineWorkbook

    def text(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
        if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
            return v.isoformat()
        return str(v)

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    for row in sheet.iter_rows():
        yield [text(v) for v in row]


def _postcode_strings(column):
    """The postcode column as Arrow text: text as it is; bytes decoded where they are UTF-8; anything
    else (numbers, lists, structs) null, so that row is answered ``invalid``."""
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        column, t = column.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        def decoded(b):
            try:
                return None if b is None else b.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return pa.array([decoded(b) for b in column.to_pylist()], pa.string())
    return pa.nulls(len(column), pa.string())


def _numbers(column):
    """A point column as float64 (text parsed; anything else null, so that row is ``invalid``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_dictionary(t):
        column, t = column.cast(t.value_type), t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        import pandas as pd

        return pd.to_numeric(pd.Series(pc.utf8_trim_whitespace(column).to_numpy(zero_copy_only=False), dtype=object),
                             errors="coerce").to_numpy(dtype="float64")
    import numpy as np

    return np.full(len(column), np.nan)


def _answers(batch, *, column, points, vintage, system, as_at=None):
    """The answer columns for one batch, as an Arrow table of the same length and of
    :func:`_answer_schema`."""
    import pyarrow as pa

    schema = _answer_schema()
    if points is None and system is None and as_at is None:
        from .index import answers

        got = answers(_postcode_strings(batch.column(column)), vintage).select(ANSWER_COLUMNS)
        return pa.table([got.column(c).cast(schema.field(c).type) for c in ANSWER_COLUMNS], schema=schema)
    import pandas as pd

    from .verbs import assign, where

    if points is None:
        queries = _postcode_strings(batch.column(column)).to_pandas().astype(object)
        frame = where(queries, vintage=vintage, system=system, as_at=as_at)
    else:
        a, b, kind = points
        x, y = _numbers(batch.column(a)), _numbers(batch.column(b))
        frame = assign(easting=x, northing=y, vintage=vintage, system=system, as_at=as_at) if kind == "en" else \
            assign(lat=x, lon=y, vintage=vintage, system=system, as_at=as_at)
    frame = frame[ANSWER_COLUMNS].astype(object).where(frame[ANSWER_COLUMNS].notna(), None)
    for c in _NUMBERS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
        if ANSWER_TYPES[c] is int:
            frame[c] = frame[c].round().astype("Int32")
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _output_names(own: list[str]) -> list[str]:
    """The answer columns' names beside the input's own: a clash, ignoring case and surrounding spaces
    (as SQL Server and Power BI compare names), gets ``_icsgeo`` (``_icsgeo2``... if that is taken too)."""
    def key(name: str) -> str:
        return name.strip().casefold()

    taken = {key(c) for c in own}
    names = []
    for c in ANSWER_COLUMNS:
        name, k = c, 1
        while key(name) in taken:
            name = f"{c}_icsgeo" if k == 1 else f"{c}_icsgeo{k}"
            k += 1
        taken.add(key(name))
        names.append(name)
    return names


class _Writer:
    """Writes the answered batches of one output format to a temporary path."""

    def __init__(self, tmp: Path, kind: str, names: list[str], first, layer: str):
        import pyarrow as pa

        self.tmp, self.kind, self.rows, self.layer = tmp, kind, 0, layer
        self.schema = pa.schema([pa.field(n, f.type) for n, f in zip(names, first.schema)])
        self._geo_at = (names[len(names) - len(ANSWER_COLUMNS) + ANSWER_COLUMNS.index("easting")],
                        names[len(names) - len(ANSWER_COLUMNS) + ANSWER_COLUMNS.index("northing")])
        if kind == "Parquet":
            import pyarrow.parquet as pq

            self._w = pq.ParquetWriter(tmp, self.schema)
        elif kind == "CSV":
            import pyarrow.csv as pacsv

            self._w = pacsv.CSVWriter(tmp, self.schema)
        elif kind == "Excel":
            import xlsxwriter

            self._book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_numbers": False,
                                                        "strings_to_formulas": False, "strings_to_urls": False})
            self._sheet = self._book.add_worksheet("icsgeo")
            self._sheet.write_row(0, 0, names)
        else:
            self._parts: list = []

    def write(self, table) -> None:
        table = table.rename_columns(self.schema.names).cast(self.schema)
        if self.kind in ("Parquet", "CSV"):
            self._w.write_table(table)
        elif self.kind == "Excel":
            if self.rows + table.num_rows > EXCEL_MAX_ROWS:
                raise BulkInputError(f"more than {EXCEL_MAX_ROWS:,} rows: an Excel sheet cannot hold them; "
                                     "write a .csv or .parquet file instead")
            columns = [c.to_pylist() for c in table.columns]
            write_row, start = self._sheet.write_row, self.rows + 1
            for i, row in enumerate(zip(*columns)):
                write_row(start + i, 0, row)
        else:
            self._parts.append(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.kind in ("Parquet", "CSV"):
            self._w.close()
        elif self.kind == "Excel":
            self._book.close()
        else:
            self._spatial()

    def _spatial(self) -> None:
        """GeoPackage (EPSG:27700) or GeoJSON (WGS84): a point per row with a location, null otherwise."""
        import numpy as np
        import pyarrow as pa
        import pyogrio
        import shapely

        table = pa.concat_tables(self._parts) if self._parts else self.schema.empty_table()
        e = table.column(self._geo_at[0]).to_numpy(zero_copy_only=False).astype("float64")
        n = table.column(self._geo_at[1]).to_numpy(zero_copy_only=False).astype("float64")
        ok = np.isfinite(e) & np.isfinite(n)
        geoms = np.full(len(e), None, dtype=object)
        geoms[ok] = shapely.points(e[ok], n[ok])
        crs = "EPSG:27700"
        if self.kind == "GeoJSON":
            from pyproj import Transformer

            geoms[ok] = shapely.transform(geoms[ok], Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform,
                                          interleaved=False)
            crs = "EPSG:4326"
        table = table.append_column("geometry", pa.array(shapely.to_wkb(geoms), pa.binary()))
        pyogrio.write_arrow(table, self.tmp, layer=self.layer,
                            driver="GPKG" if self.kind == "GeoPackage" else "GeoJSON", geometry_name="geometry",
                            geometry_type="Point", crs=crs)


def answer_file(input: str | Path, output: str | Path, *, column: str = "postcode", points: tuple[str, str, str] | None = None,
                vintage=None, system: str | None = None, progress: bool | None = None, as_at=None) -> Counter:
    """Answer every row of a file into another file, streamed in batches; return the rows by status.

    Every input row comes out, in order, with its own columns (kept as text as given for CSV and
    Excel) and the answer columns (an answer column whose name clashes with one of the input's,
    ignoring case, gets ``_icsgeo``). Postcodes are joined to the prebuilt index; points go through
    the spatial path batch by batch. Memory stays bounded whatever the file's size. The output appears
    only when complete (written to a temporary file, then moved into place); it may not be the input
    itself.

    Parameters
    ----------
    input : str or pathlib.Path
        The file to answer, by its extension: ``.csv`` or ``.txt`` (UTF-8 or Windows-1252),
        ``.parquet`` or ``.pq``, ``.xlsx``, ``.xlsm`` or ``.xls`` (the first sheet).
    output : str or pathlib.Path
        The file to write, by its extension: ``.csv``, ``.parquet`` or ``.pq``, ``.xlsx`` (at most
        :data:`EXCEL_MAX_ROWS` rows), ``.gpkg`` or ``.geojson`` (each answered row's location as a
        point: EPSG:27700 in a GeoPackage, WGS84 in GeoJSON).
    column : str, default "postcode"
        The postcode column, matched ignoring case and surrounding spaces.
    points : tuple of (str, str, str), optional
        ``(lat_column, lon_column, "latlon")`` or ``(easting_column, northing_column, "en")`` to
        assign points instead of postcodes.
    vintage : str or int, optional
        The geography vintage; default the latest.
    system : str, optional
        A system as :meth:`icsgeo.Geography.system` takes it; answers outside it are
        ``outside_system``.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    as_at : str or datetime.date, optional
        A day: the geography in force then (see :func:`where`).

    Returns
    -------
    collections.Counter
        The number of rows per ``status``.

    Raises
    ------
    BulkInputError
        An extension icsgeo does not read or write, an input that does not exist or cannot be read,
        an empty CSV or first sheet, a column that is missing or named more than once, an output that
        is the input or a folder, more rows than an Excel sheet holds, or an output that cannot be
        written.
    DataFileError
        A data file the answers need is missing or fails its check (its own message: which file, where
        to get it).
    UnknownDatasetError, DefinitionError
        An unknown ``vintage`` or ``system`` (see :func:`where`).

    See Also
    --------
    where : The same answers for postcodes in memory.
    save : Write a frame by its extension.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import icsgeo
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> import pandas as pd
    >>> pd.DataFrame({"id": ["007", "008"], "Postcode": ["S1 2HE", "junk"]}).to_csv(folder / "patients.csv", index=False)
    >>> counts = icsgeo.answer_file(folder / "patients.csv", folder / "answered.csv", column="Postcode")
    >>> sorted(counts.items())
    [('invalid', 1), ('ok', 1)]
    >>> out = pd.read_csv(folder / "answered.csv", dtype=str)
    >>> out[["id", "Postcode", "status", "place_name"]].values.tolist()[0]
    ['007', 'S1 2HE', 'ok', 'Sheffield']

    A file of points, as GeoPackage:

    >>> icsgeo.answer_file("sites.xlsx", "sites.gpkg", points=("Lat", "Long", "latlon"))   # doctest: +SKIP
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    src, dest = Path(input), Path(output)
    out_kind = _kind(dest, OUTPUT_SUFFIXES, "writes")
    source = _Source(src)
    if dest.exists() and (dest.is_dir() or dest.resolve() == src.resolve() or _same_file(src, dest)):
        raise BulkInputError(f"--output {str(dest)!r} is {'a folder' if dest.is_dir() else 'the input file'}: "
                             "give a new file name for the answers")
    wanted = [column] if points is None else [points[0], points[1]]
    found = [_match(source.header, w, src) for w in wanted]
    column = found[0]
    points = None if points is None else (found[0], found[1], points[2])
    names = list(source.header) + _output_names(list(source.header))
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(desc="icsgeo where", unit=" rows", unit_scale=True, file=sys.stderr)
    counts: Counter = Counter()

    def write(tmp: Path) -> None:
        writer = None
        try:
            for batch in source.batches():
                answers = _answers(batch, column=column, points=points, vintage=vintage, system=system, as_at=as_at)
                out = pa.Table.from_arrays(list(batch.columns) + list(answers.columns), names=names)
                counts.update(dict(zip(*[x.to_pylist() for x in pc.value_counts(answers.column("status")).flatten()])))
                if writer is None:
                    writer = _Writer(tmp, out_kind, names, out, dest.stem)
                writer.write(out)
                if bar is not None:
                    bar.update(out.num_rows)
            if writer is None:  # no rows: an output with the header and no rows
                empty = pa.schema(list(source.empty_schema()) + list(_answer_schema())).empty_table()
                writer = _Writer(tmp, out_kind, names, empty, dest.stem)
                writer.write(empty)
        finally:
            if writer is not None:
                writer.close()

    try:
        atomic_write(dest, write)
    except OSError as exc:
        if isinstance(exc, IcsgeoError) and not isinstance(exc, OutputWriteError):
            raise  # a data file the answers need (missing, damaged): its own error, not the output's
        raise BulkInputError(f"cannot write {dest}: {exc.strerror or exc}; choose a folder you can write to with space "
                             "for the answers") from exc
    finally:
        if bar is not None:
            bar.close()
    return counts


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


#: Output formats of :func:`save` for tables and for spatial frames.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")
SPATIAL_SUFFIXES = (".geojson", ".gpkg", ".parquet")


def save(frame, path: str | Path, *, layer: str | None = None) -> Path:
    """Write a frame to a file chosen by its extension, atomically (the file appears only when complete).

    Tables: ``.csv``, ``.parquet`` (or ``.pq``) or ``.xlsx``. Spatial frames (a GeoDataFrame):
    ``.geojson`` (WGS84, as the format requires), ``.gpkg`` (EPSG:27700; ``layer`` names the layer)
    or ``.parquet`` (GeoParquet); ``.csv`` or ``.xlsx`` write their attributes without the geometry.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        What to write (without its index).
    path : str or pathlib.Path
        Where to write it; its extension chooses the format.
    layer : str, optional
        The layer of a ``.gpkg`` or ``.geojson`` (default: the file's stem), or the sheet of an
        ``.xlsx`` (default ``icsgeo``, cut to Excel's 31 characters).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    BulkInputError
        An extension the frame cannot be written as, or more rows than an Excel sheet holds.
    icsgeo.errors.OutputWriteError
        The file cannot be written (a folder at ``path``, a read-only folder, a full disk); nothing
        is left at ``path`` but what was there.

    See Also
    --------
    answer_file : Answer a whole file.
    export : Every boundary layer of a vintage or a system.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import icsgeo
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> icsgeo.save(icsgeo.where(["S1 2HE"]), folder / "answers.csv").name
    'answers.csv'
    >>> icsgeo.save(icsgeo.footprints(), "pcns.gpkg", layer="pcns")     # doctest: +SKIP
    """
    p = Path(path)
    suffix = p.suffix.lower()
    spatial = hasattr(frame, "geometry") and hasattr(frame, "to_file")
    if spatial and suffix in (".csv", ".xlsx"):  # the attributes alone, for a spreadsheet
        import pandas as pd

        frame, spatial = pd.DataFrame(frame.drop(columns=frame.geometry.name)), False
    allowed = SPATIAL_SUFFIXES + (".csv", ".xlsx") if spatial else TABLE_SUFFIXES
    if suffix not in allowed:
        raise BulkInputError(f"{p.name}: write {'a spatial frame' if spatial else 'a table'} as {', '.join(allowed)}, not {suffix or '(no extension)'!r}")
    if spatial and suffix == ".geojson":
        write = lambda tmp: frame.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON", layer=layer or p.stem, engine="pyogrio")  # noqa: E731
    elif spatial and suffix == ".gpkg":
        write = lambda tmp: frame.to_file(tmp, driver="GPKG", layer=layer or p.stem, engine="pyogrio")  # noqa: E731
    elif suffix in (".parquet", ".pq"):
        write = lambda tmp: frame.to_parquet(tmp, index=False) if not spatial else frame.to_parquet(tmp)  # noqa: E731
    elif suffix == ".xlsx":
        if len(frame) > EXCEL_MAX_ROWS:
            raise BulkInputError(f"{p.name}: {len(frame):,} rows are more than an Excel sheet holds; write .csv or .parquet")
        write = lambda tmp: frame.to_excel(tmp, index=False, engine="xlsxwriter", sheet_name=(layer or "icsgeo")[:31])  # noqa: E731
    else:
        write = lambda tmp: frame.to_csv(tmp, index=False)  # noqa: E731
    atomic_write(p, write)
    return p
