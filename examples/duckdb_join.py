#!/usr/bin/env python3
"""Answer a Parquet file of postcodes with DuckDB alone, from the icsgeo postcode product.

    icsgeo index export --vintage 2026 --output postcodes-2026.parquet      # once, where icsgeo is
    python examples/duckdb_join.py --product postcodes-2026.parquet \\
        --input patients.parquet --column postcode --output answered.parquet  # anywhere with duckdb

The join needs only ``pip install duckdb`` (or ``icsgeo[duckdb]``): no icsgeo. Every input row comes
out once, in order, with its own columns and the product's answer columns (``postcode_icsgeo`` when the
input has a ``postcode`` column of its own), answered as ``icsgeo where --input`` answers it:

1. the postcode is normalised in SQL as icsgeo normalises it: at most 16 characters, every space
   removed, upper case, checked against the BS 7666 pattern, one space re-inserted before the last
   three characters (the ONS ``pcds`` form the product is keyed on: ``" s12he "`` → ``"S1 2HE"``);
2. a LEFT JOIN on that key (DuckDB prunes the product's row groups by their postcode statistics);
3. a row with no match is answered from the product's ``icsgeo.unmatched`` metadata: ``invalid`` when
   not a postcode (its ``postcode`` then null; ``reason`` blank, the ZZ99 pseudo-postcode, too long or
   malformed), ``outside_england`` for a postcode of Northern Ireland, the Channel Islands or the Isle
   of Man (``reason`` and ``country`` filled), else ``not_found`` (``reason`` naming the postcode files'
   date); every row carries the product's ``vintage`` and ``made_from``.

See docs/index-product.md for the product's schema.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

#: BS 7666 unit postcodes (letters that never appear in a position are rejected), plus GIR 0AA: the
#: pattern icsgeo validates with (a test checks they are the same), on the compact upper-case form.
PATTERN = ("(?:[ABCDEFGHIJKLMNOPRSTUWYZ][0-9]{1,2}|[ABCDEFGHIJKLMNOPRSTUWYZ][0-9][ABCDEFGHJKPSTUW]"
           "|[ABCDEFGHIJKLMNOPRSTUWYZ][ABCDEFGHKLMNOPQRSTUVWXY][0-9]{1,2}"
           "|[ABCDEFGHIJKLMNOPRSTUWYZ][ABCDEFGHKLMNOPQRSTUVWXY][0-9][ABEHMNPRVWXY])[0-9][ABDEFGHJLNPQRSTUWXYZ]{2}|GIR0AA")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def join_sql(input: str, product: str, *, column: str, input_columns: list[str], answer_columns: list[str],
             unmatched: dict, ordered: bool = True) -> str:
    """The query: the input's columns, then the answer columns (renamed ``<name>_icsgeo`` on a clash);
    in the input's order unless ``ordered`` is false (a join does not keep it: sorting it back costs
    most of the time and memory). ``unmatched``: the product's ``icsgeo.unmatched`` metadata."""
    src, prod = _literal(input), _literal(product)
    names = {c: (f"{c}_icsgeo" if c in input_columns else c) for c in answer_columns}
    u = unmatched
    areas = ", ".join(_literal(a) for a in sorted(u["areas"]))
    by_area = {i: " ".join(f"WHEN {_literal(a)} THEN {_literal(v[i])}" for a, v in sorted(u["areas"].items())) for i in (0, 1)}
    area = "left(q._pcds, 2)"
    invalid = (f"CASE WHEN q._full IS NULL OR q._full = '' THEN {_literal(u['blank'])} "
               f"WHEN starts_with(q._full, {_literal(u['pseudo_prefix'])}) THEN {_literal(u['pseudo'])} "
               f"WHEN length(q.{_ident(column)}) > {int(u['max_length'])} THEN {_literal(u['too_long'])} "
               f"ELSE {_literal(u['malformed'])} END")
    fill = {  # unmatched rows: their status, reason, country, normalised postcode, the product's vintage and made_from
        "status": (f"coalesce(p.status, CASE WHEN q._pcds IS NULL THEN 'invalid' WHEN {area} IN ({areas}) "
                   f"THEN 'outside_england' ELSE 'not_found' END)"),
        "reason": (f"coalesce(p.reason, CASE WHEN q._pcds IS NULL THEN {invalid} "
                   f"WHEN {area} IN ({areas}) THEN CASE {area} {by_area[1]} END ELSE {_literal(u['not_found'])} END)"),
        "country_code": f"coalesce(p.country_code, CASE {area} {by_area[0]} END)",
        "country_name": f"coalesce(p.country_name, CASE {area} {by_area[1]} END)",
        "postcode": "q._pcds",
        "vintage": f"coalesce(p.vintage, (SELECT vintage FROM read_parquet({prod}) LIMIT 1))",
        "made_from": f"coalesce(p.made_from, (SELECT made_from FROM read_parquet({prod}) LIMIT 1))",
    }
    answers = ",\n       ".join(f"{fill.get(c, 'p.' + _ident(c))} AS {_ident(names[c])}" for c in answer_columns)
    own = ", ".join(f"q.{_ident(c)}" for c in input_columns)
    return f"""
WITH raw AS (
    SELECT *, upper(regexp_replace({_ident(column)}, '[\\s\\pZ]+', '', 'g')) AS _full,
              CASE WHEN length({_ident(column)}) <= 16
                   THEN upper(regexp_replace({_ident(column)}, '[\\s\\pZ]+', '', 'g')) END AS _compact
    FROM read_parquet({src}, file_row_number = true)
), q AS (
    SELECT *, CASE WHEN regexp_full_match(_compact, {_literal(PATTERN)})
                   THEN left(_compact, length(_compact) - 3) || ' ' || right(_compact, 3) END AS _pcds
    FROM raw
)
SELECT {own},
       {answers}
FROM q LEFT JOIN read_parquet({prod}) AS p ON p.postcode = q._pcds
{"ORDER BY q.file_row_number" if ordered else ""}
"""


def join(input: str | Path, product: str | Path, output: str | Path, *, column: str = "postcode", con=None,
         memory_limit: str | None = None, ordered: bool = True) -> int:
    """Answer every row of the Parquet file ``input`` into the Parquet file ``output``, in the input's
    order (``ordered=False``: in any order, faster; keep an id column of your own); returns the rows
    written. The output appears only when complete (written beside it, then renamed)."""
    import duckdb

    con = con or duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = {_literal(memory_limit)}")
    input_columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_literal(str(input))})").fetchall()]
    if column not in input_columns:
        raise SystemExit(f"{input} has no column {column!r}; its columns are: {', '.join(input_columns)}")
    answer_columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_literal(str(product))})").fetchall()]
    meta = dict(con.execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata({_literal(str(product))})").fetchall())
    if "icsgeo.unmatched" not in meta:
        raise SystemExit(f"{product} has no icsgeo.unmatched metadata: export it again with this icsgeo (`icsgeo index export`)")
    sql = join_sql(str(input), str(product), column=column, input_columns=input_columns, answer_columns=answer_columns,
                   unmatched=json.loads(meta["icsgeo.unmatched"]), ordered=ordered)
    out = Path(output)
    tmp = out.with_name(f".{out.name}.pid{os.getpid()}.tmp")
    try:
        con.execute(f"COPY ({sql}) TO {_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return con.execute(f"SELECT count(*) FROM read_parquet({_literal(str(out))})").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--product", required=True, help="the file of `icsgeo index export` (.parquet)")
    ap.add_argument("--input", required=True, help="a Parquet file with a postcode column")
    ap.add_argument("--column", default="postcode", help="the postcode column of --input (default: postcode)")
    ap.add_argument("--output", required=True, help="where the answered rows go (.parquet)")
    ap.add_argument("--memory-limit", default=None, help="DuckDB's memory limit, e.g. 2GB (it spills to disk beyond)")
    ap.add_argument("--any-order", action="store_true",
                    help="write the rows in any order (faster: no sort back into the input's order)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    rows = join(args.input, args.product, args.output, column=args.column, memory_limit=args.memory_limit,
                ordered=not args.any_order)
    print(f"wrote {rows:,} rows to {args.output} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
