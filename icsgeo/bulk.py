"""Bulk answers for a file, streamed in batches: constant memory whatever the file's size.

CSV or Parquet in, CSV or Parquet out (by extension). Every input row comes out, in order, with its
own columns (all kept as text for CSV) and the answer columns (a name that clashes gets ``_icsgeo``).
Postcodes are joined to the prebuilt index in Arrow; points (lat/lon or easting/northing columns) go
through the spatial path batch by batch.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

from .answer import ANSWER_COLUMNS
from .errors import BulkInputError
from .sources.cache import atomic_write

__all__ = ["answer_file", "save", "BulkInputError", "TABLE_SUFFIXES", "SPATIAL_SUFFIXES"]

BATCH_ROWS = 250_000
#: CSV read block (4 MB: about 200,000 rows of a postcode extract per batch, bounding memory).
CSV_BLOCK_BYTES = 1 << 22


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _csv_batches(path: Path, needed: list[str]) -> Iterator:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    head = path.open("rb").read(1 << 16)
    if not head.strip():
        raise BulkInputError(f"{path} is empty: a CSV needs a header row naming the column(s) {needed}")
    try:
        head.decode("utf-8")
        encoding = "utf8"
    except UnicodeDecodeError as exc:
        encoding = "utf8" if exc.start > len(head) - 4 else "cp1252"  # a cut multi-byte char is still UTF-8
    text = head.decode("utf-8" if encoding == "utf8" else "cp1252", errors="replace").lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(text.splitlines()[0] if text.splitlines() else "")), [])
    missing = [c for c in needed if c not in header]
    if missing:
        raise BulkInputError(f"{path} has no column {missing[0]!r}; its columns are: {', '.join(header) or '(none)'}")
    twice = [c for c in needed if header.count(c) > 1]
    if twice:
        raise BulkInputError(f"{path} names the column {twice[0]!r} {header.count(twice[0])} times in its header: rename all but one")
    if len(text.splitlines()) <= 1 and path.stat().st_size <= len(head):
        return  # a header and no rows: the output is a header and no rows
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=encoding, block_size=CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=False,
                                             quoted_strings_can_be_null=False),
    )
    for batch in reader:
        yield batch


def _parquet_batches(path: Path, needed: list[str]) -> Iterator:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    missing = [c for c in needed if c not in names]
    if missing:
        raise BulkInputError(f"{path} has no column {missing[0]!r}; its columns are: {', '.join(names)}")
    yield from pf.iter_batches(batch_size=BATCH_ROWS)


def _batches(path: Path, needed: list[str]) -> Iterator:
    import pyarrow as pa

    if not path.is_file():
        raise BulkInputError(f"input file {str(path)!r} does not exist")
    try:
        gen = _parquet_batches(path, needed) if _is_parquet(path) else _csv_batches(path, needed)
        for batch in gen:
            yield batch
    except (pa.ArrowInvalid, OSError) as exc:
        raise BulkInputError(f"cannot read {path} as {'Parquet' if _is_parquet(path) else 'CSV'}: {exc}") from exc


def _answers(batch, *, column, points, vintage, system, as_at=None):
    """The answer columns for one batch, as an Arrow table of the same length."""
    import pyarrow as pa

    if points is None and system is None and as_at is None:
        from .index import answers

        return answers(batch.column(column), vintage).select(ANSWER_COLUMNS)
    import pandas as pd

    from .verbs import assign, where

    if points is None:
        frame = where(batch.column(column).to_pandas().astype(object), vintage=vintage, system=system, as_at=as_at)
    else:
        a, b, kind = points
        x, y = batch.column(a).to_pandas(), batch.column(b).to_pandas()
        frame = assign(easting=x, northing=y, vintage=vintage, system=system, as_at=as_at) if kind == "en" else \
            assign(lat=x, lon=y, vintage=vintage, system=system, as_at=as_at)
    frame = frame[ANSWER_COLUMNS].astype(object).where(frame[ANSWER_COLUMNS].notna(), None)
    for c in ("neighbourhood_confidence", "easting", "northing", "lat", "lon"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return pa.Table.from_pandas(frame, preserve_index=False)


def answer_file(input: str | Path, output: str | Path, *, column: str = "postcode", points: tuple[str, str, str] | None = None,
                vintage=None, system: str | None = None, progress: bool | None = None, as_at=None) -> Counter:
    """Answer every row of ``input`` into ``output``; returns the count of rows by status.

    ``points``: ``(lat_column, lon_column, "latlon")`` or ``(easting_column, northing_column, "en")``
    to assign points instead of postcodes. The output appears only when complete (written to a
    temporary file, then moved into place).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    src, dest = Path(input), Path(output)
    needed = [column] if points is None else [points[0], points[1]]
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(desc="icsgeo where", unit=" rows", unit_scale=True, file=sys.stderr)
    counts: Counter = Counter()

    def write(tmp: Path) -> None:
        writer = None
        try:
            for batch in _batches(src, needed):
                answers = _answers(batch, column=column, points=points, vintage=vintage, system=system, as_at=as_at)
                own = set(batch.schema.names)
                names = [f"{c}_icsgeo" if c in own else c for c in answers.column_names]
                cols = list(batch.columns) + [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in answers.columns]
                out = pa.Table.from_arrays(cols, names=list(batch.schema.names) + names)
                counts.update(dict(zip(*[x.to_pylist() for x in pa.compute.value_counts(answers.column("status")).flatten()])))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, out.schema) if _is_parquet(dest) else pacsv.CSVWriter(tmp, out.schema)
                writer.write_table(out)
                if bar is not None:
                    bar.update(out.num_rows)
            if writer is None:  # header-only input: an output with the header and no rows
                header = next(csv.reader(io.StringIO(src.read_text(encoding="utf-8-sig", errors="replace").splitlines()[0])))
                empty = pa.table({c: pa.array([], pa.string()) for c in header + [c for c in ANSWER_COLUMNS if c not in header]})
                (pq.write_table if _is_parquet(dest) else pacsv.write_csv)(empty, tmp)
        finally:
            if writer is not None:
                writer.close()

    import pyarrow.compute  # noqa: F401  (pa.compute)

    try:
        atomic_write(dest, write)
    finally:
        if bar is not None:
            bar.close()
    return counts


#: Output formats of :func:`save` for tables and for spatial frames.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
SPATIAL_SUFFIXES = (".geojson", ".gpkg", ".parquet")


def save(frame, path: str | Path, *, layer: str | None = None) -> Path:
    """Write a frame by its extension, atomically (the file appears only when complete).

    Tables: ``.csv`` or ``.parquet``. Spatial frames (a GeoDataFrame): ``.geojson`` (WGS84, as the
    format requires), ``.gpkg`` (EPSG:27700; ``layer`` names the layer) or ``.parquet`` (GeoParquet).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    spatial = hasattr(frame, "geometry") and hasattr(frame, "to_file")
    allowed = SPATIAL_SUFFIXES if spatial else TABLE_SUFFIXES
    if suffix not in allowed:
        raise BulkInputError(f"{p.name}: write {'a spatial frame' if spatial else 'a table'} as {', '.join(allowed)}, not {suffix or '(no extension)'!r}")
    if spatial and suffix == ".geojson":
        write = lambda tmp: frame.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON", engine="pyogrio")  # noqa: E731
    elif spatial and suffix == ".gpkg":
        write = lambda tmp: frame.to_file(tmp, driver="GPKG", layer=layer or p.stem, engine="pyogrio")  # noqa: E731
    elif suffix in (".parquet", ".pq"):
        write = lambda tmp: frame.to_parquet(tmp, index=False) if not spatial else frame.to_parquet(tmp)  # noqa: E731
    else:
        write = lambda tmp: frame.to_csv(tmp, index=False)  # noqa: E731
    atomic_write(p, write)
    return p
