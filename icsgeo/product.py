"""The postcode index as a Parquet product: a documented, versioned file for data platforms.

The prebuilt index (:mod:`icsgeo.index`) is a cache file whose name and layout may change with any
release. The **product** is a contract: one row per known postcode (live and terminated English
postcodes, and the Welsh and Scottish ones NSPL adds, as ``outside_england``), the flat answer columns
of :func:`icsgeo.where` with ``postcode`` first, sorted by postcode, in row groups with statistics so
DuckDB, Spark, dask or Polars skip what a query cannot need. Its schema is :data:`PRODUCT_SCHEMA`
(version :data:`SCHEMA_VERSION` in the file metadata), derived from :data:`icsgeo.answer.GROUPS`, and
``docs/index-product.md`` documents it (a test keeps the two equal). A team joins its own records to
the file with any engine; icsgeo need not be installed there.

Strings are plain UTF-8 columns (Arrow ``string``), stored with Parquet's dictionary *encoding*: the
file is as small as with Arrow dictionary columns, DuckDB and Spark read both alike (``VARCHAR``,
``StringType``), but pyarrow, pandas and dask turn Arrow dictionary columns into categoricals whose
categories differ from file to file and row group to row group (dask then has unknown categories, and
joins and concatenations fall back to object or fail). Plain strings are read as strings everywhere.

>>> PRODUCT_COLUMNS[:3]
['postcode', 'status', 'reason']
>>> str(PRODUCT_SCHEMA.field("easting").type), str(PRODUCT_SCHEMA.field("lsoa_code").type)
('int32', 'string')
>>> columns()[0]
('postcode', 'string', "the postcode in ONS pcds form: upper case, one space before the inward code ('S1 2HE')")
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pyarrow as pa

from ._version import __version__
from .answer import ANSWER_COLUMNS, GROUPS, MADE_FROM, REASON, arrow_type, not_found_reason
from .errors import BulkInputError, DataFileError
from .postcode import AREA_COUNTRIES, COUNTRIES, POSTCODE_PATTERN, PSEUDO_POSTCODE_REASON, invalid_reason
from .files import atomic_write
from .sources.catalogue import catalogue
from .sources.inputs import datasets

__all__ = ["export_index", "columns", "schema_markdown", "PRODUCT_SCHEMA", "PRODUCT_COLUMNS", "SCHEMA_VERSION",
           "ROW_GROUP"]

log = logging.getLogger("icsgeo")

#: The product's schema version (file metadata ``icsgeo.product_schema``). A column added at the end
#: keeps it; a column renamed, retyped, removed or given a new meaning makes it "2".
SCHEMA_VERSION = "2"  # 2: reason, region, ward, MSOA, country, runner-up PCN, quality; whole-metre grid references
#: Rows per row group: 41 groups for England's 2.65 M postcodes, each with min/max statistics of
#: every column; a lookup of a few postcodes reads one or two groups, a full scan runs in parallel.
ROW_GROUP = 65_536

#: The columns of the product, in order: ``postcode`` first, then the rest of the answer columns.
PRODUCT_COLUMNS: list[str] = ["postcode", *(c for c in ANSWER_COLUMNS if c != "postcode")]

_OWN = {  # the columns that are not part of an answer group
    "postcode": "the postcode in ONS pcds form: upper case, one space before the inward code ('S1 2HE')",
    "status": "ok (answered), terminated (known only to NSPL: answered, but a terminated postcode may point at a "
              "sorting office), outside_england (a Welsh or Scottish postcode) or not_found (in a postcode file but "
              "without a grid reference); a postcode that is not in the file is not_found, a string that is not a "
              "postcode invalid",
    "reason": REASON,
    "vintage": "the geography vintage of the answers (every row the same)",
    "made_from": MADE_FROM + " (every row the same)",
}


def _meaning(group, field) -> str:
    what = field.description or {"name": "its name", "code": "its code", "method": "how it was found"}.get(field.key, field.key)
    return f"{group.label}: {what}"


def columns() -> list[tuple[str, str, str]]:
    """``(column, type, meaning)`` of every product column, in order; ``type`` is ``string`` (UTF-8),
    ``double`` (float64) or ``int32``. Derived from :data:`icsgeo.answer.GROUPS`."""
    fields = {f.column: (g, f) for g in GROUPS for f in g.fields}
    out = []
    for c in PRODUCT_COLUMNS:
        if c in fields:
            g, f = fields[c]
            out.append((c, {float: "double", int: "int32"}.get(f.type, "string"), _meaning(g, f)))
        else:
            out.append((c, "string", _OWN[c]))
    return out


def _schema() -> pa.Schema:
    return pa.schema([pa.field(c, arrow_type(c), nullable=c not in ("postcode", "status", "vintage"),
                               metadata={"description": m}) for c, t, m in columns()])


#: The Arrow schema of the product (field metadata ``description`` says what each column means).
PRODUCT_SCHEMA: pa.Schema = _schema()


def schema_markdown() -> str:
    """The schema as the Markdown table of ``docs/index-product.md``."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{c}` | {t} | {m.replace('|', '/')} |" for c, t, m in columns()]
    return "\n".join(lines)


def _notice(vintage) -> str:
    """The licence and attribution notice of every file the vintage's answers were made from."""
    seen: list[str] = []  # sentence by sentence: the publishers repeat each other's notices
    for role in vintage.inputs().values():
        try:
            used = datasets(role)
        except DataFileError:  # an optional input that is missing: it made nothing
            continue
        for e in used:
            for sentence in re.split(r"(?<=\.)\s+", e.attribution.strip()):
                if sentence and sentence not in seen:
                    seen.append(sentence)
    return " ".join(seen) or catalogue().source


def unmatched(made_from: str | None) -> dict:
    """How a row the product has no postcode for is answered (file metadata ``icsgeo.unmatched``), so a
    join without icsgeo answers it as :func:`icsgeo.where` does: the reasons of a value that is not a
    postcode (in the order they are tested), of a well-formed postcode no file knows, and the postcode
    areas outside Great Britain with their country.

    >>> u = unmatched("postcodes 2025-10")
    >>> u["pseudo_prefix"], u["max_length"], u["areas"]["BT"]
    ('ZZ99', 16, ['N92000002', 'Northern Ireland'])
    """
    return {
        "blank": invalid_reason(None), "pseudo_prefix": "ZZ99", "pseudo": PSEUDO_POSTCODE_REASON,
        "max_length": 16, "too_long": invalid_reason("X" * 17), "malformed": invalid_reason("?"),
        "not_found": not_found_reason(made_from),
        "areas": {area: [code, COUNTRIES[code]] for area, code in AREA_COUNTRIES.items()},
    }


def export_index(path: str | Path, *, vintage: str | int | None = None) -> dict:
    """Write the postcode index of a vintage as the documented Parquet product.

    One row per known postcode, :data:`PRODUCT_COLUMNS` typed as :data:`PRODUCT_SCHEMA`, sorted by
    postcode, in row groups of :data:`ROW_GROUP` rows with statistics (and a page index), zstd. The
    file metadata carries ``icsgeo.product_schema``, ``icsgeo.version``, ``icsgeo.vintage``,
    ``icsgeo.made_from``, ``icsgeo.notes`` (tiers missing or degraded, JSON), ``icsgeo.licence`` (the
    notice to keep with the data) and ``icsgeo.columns`` (the documented schema, JSON). Every row
    answers exactly as :func:`icsgeo.where` answers that postcode. The index is built first if it is
    missing. The file appears only when complete.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.parquet`` file to write.
    vintage : str or int, optional
        The geography vintage; default the latest.

    Returns
    -------
    dict
        ``{"path", "vintage", "rows", "row_groups", "bytes", "seconds"}``.

    Raises
    ------
    BulkInputError
        A path that is not a ``.parquet`` file or is a folder.
    UnknownDatasetError
        An unknown ``vintage``.

    See Also
    --------
    build_index : The cache file the product is made from.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.export_index("postcodes-2026.parquet")["rows"]     # doctest: +SKIP
    >>> icsgeo.export_index("postcodes.csv")
    Traceback (most recent call last):
        ...
    icsgeo.errors.BulkInputError: postcodes.csv: the postcode index product is a .parquet file, not '.csv'
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .index import answers, notes, postcode_index

    out = Path(path)
    if out.is_dir():
        raise BulkInputError(f"{out} is a folder: give the file to write, e.g. {out / 'postcodes.parquet'}")
    if out.suffix.lower() != ".parquet":
        raise BulkInputError(f"{out.name}: the postcode index product is a .parquet file, not {out.suffix or '(no extension)'!r}")
    t0 = time.perf_counter()
    v = catalogue().vintage(None if vintage is None else str(vintage))
    index = postcode_index(v.key)  # built first if missing
    postcodes = index.arrow.column("postcode").cast(pa.string())
    postcodes = pc.take(postcodes, pc.sort_indices(postcodes)).combine_chunks()
    made_from = index.made_from
    meta = {
        "icsgeo.product": "postcode index",
        "icsgeo.product_schema": SCHEMA_VERSION,
        "icsgeo.version": __version__,
        "icsgeo.vintage": v.key,
        "icsgeo.made_from": made_from or "",
        "icsgeo.notes": json.dumps(notes(v.key)),
        "icsgeo.licence": _notice(v),
        "icsgeo.sorted_by": "postcode",
        "icsgeo.postcode_pattern": POSTCODE_PATTERN,
        "icsgeo.columns": json.dumps([{"column": c, "type": t, "meaning": m} for c, t, m in columns()]),
        "icsgeo.unmatched": json.dumps(unmatched(made_from)),
    }
    schema = PRODUCT_SCHEMA.with_metadata({k.encode(): v_.encode() for k, v_ in meta.items()})

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema, compression="zstd", use_dictionary=True, write_statistics=True,
                              write_page_index=True, sorting_columns=[pq.SortingColumn(0)]) as w:
            for start in range(0, len(postcodes), ROW_GROUP):  # one row group at a time: bounded memory
                wanted = postcodes.slice(start, ROW_GROUP)
                part = answers(wanted, v.key)  # the join icsgeo.where does: the product answers like it
                if not part.column("postcode").combine_chunks().cast(pa.string()).equals(wanted):
                    raise DataFileError(f"the postcode index of vintage {v.key} does not answer its own postcodes: "
                                        "remove it from the cache and run `icsgeo index build`")
                w.write_table(pa.table([part.column(c).cast(schema.field(c).type) for c in PRODUCT_COLUMNS],
                                       schema=schema), row_group_size=ROW_GROUP)
            if not len(postcodes):
                w.write_table(schema.empty_table())

    atomic_write(out, write)
    md = pq.read_metadata(out)
    took = time.perf_counter() - t0
    log.info("index export %s: %d postcodes, %d row groups in %.1f s → %s", v.key, md.num_rows, md.num_row_groups, took, out)
    return {"path": str(out), "vintage": v.key, "rows": md.num_rows, "row_groups": md.num_row_groups,
            "bytes": out.stat().st_size, "seconds": took}
