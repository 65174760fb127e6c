#!/usr/bin/env python3
"""The postcode index as a Parquet product, joined by DuckDB and by dask, against icsgeo's own bulk path.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/product.py [--rows 10000000] [--vintage 2026]

1. ``icsgeo index build`` then ``icsgeo index export`` (whole process): export time, peak memory, file size.
2. A Parquet of ``--rows`` postcodes (real postcodes sampled from the export, in random case and
   spacing, with 2% junk: empty, malformed, non-ASCII, over-long, unknown), with an ``id`` column.
3. The same file answered three ways, each a whole process (peak memory from wait4, ``_measure.py``):
   - **DuckDB** alone (``examples/duckdb_join.py``: normalisation and join in SQL, no icsgeo), with
     DuckDB's default memory limit (80% of RAM), with ``--duckdb-memory-limit`` (2 GB), and with the rows
     in any order (``--any-order``: no sort back into the input's order; sorted by id afterwards, untimed);
   - **icsgeo**'s bulk path, the baseline: ``icsgeo where --input X.parquet --output Y.parquet``;
   - **dask**: ``dd.read_parquet`` → ``icsgeo.where(ddf["postcode"], engine="dask")`` → ``to_parquet``.
4. The outputs streamed back side by side: every row present and in order, and the number of rows whose
   status, postcode, LSOA, neighbourhood, place, system, Sub-ICB or LAD code differ from icsgeo's (must be 0).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _measure import run  # noqa: E402

EXAMPLE = HERE.parent / "examples" / "duckdb_join.py"
JUNK = ["", "not a postcode", "ZZ99 9ZZ", "SW1A 0ZZ", "S1 2HÉ", "x" * 200, "'; DROP TABLE x; --", "gir0aa", "12345"]
#: The answer columns compared between the engines.
COMPARED = ["status", "postcode", "lsoa_code", "neighbourhood_code", "place_code", "system_code", "sicbl_code", "lad_code"]
ROW_GROUP = 500_000


def make_input(product: Path, path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    real = pq.read_table(product, columns=["postcode"]).column("postcode").to_numpy(zero_copy_only=False).astype(str)
    junk = np.array(JUNK, dtype=object)
    rng = np.random.default_rng(10)
    schema = pa.schema([("id", pa.int64()), ("postcode", pa.string())])
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for start in range(0, rows, ROW_GROUP):
            m = min(ROW_GROUP, rows - start)
            pcs = real[rng.integers(0, len(real), m)]
            r = rng.random(m)
            pcs = np.where(r < 0.1, np.char.lower(pcs), pcs)
            pcs = np.where((r >= 0.1) & (r < 0.15), np.char.replace(pcs, " ", ""), pcs)
            pcs = np.where((r >= 0.15) & (r < 0.17), np.char.add(" ", pcs), pcs).astype(object)
            is_junk = rng.random(m) < 0.02
            pcs[is_junk] = junk[rng.integers(0, len(junk), int(is_junk.sum()))]
            w.write_table(pa.table({"id": np.arange(start, start + m), "postcode": pa.array(pcs, pa.string())}, schema=schema))


def dask_child(src: str, out: str, vintage: str) -> None:
    """Run in a child process: the dask engine from a Parquet file to a folder of Parquet files."""
    import dask.dataframe as dd

    import icsgeo

    ddf = dd.read_parquet(src, columns=["postcode"], split_row_groups=True)
    answered = icsgeo.where(ddf["postcode"], engine="dask", vintage=vintage or None)
    answered.to_parquet(out, write_index=False, name_function=lambda i: f"part-{i:05d}.parquet")


def _rows(paths, columns, size=1_000_000):
    """Tables of exactly ``size`` rows (the last shorter) read in order from one or more Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf, n = [], 0
    for p in paths:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=size, columns=columns):
            buf.append(batch)
            n += batch.num_rows
            while n >= size:
                t = pa.Table.from_batches(buf).combine_chunks()
                yield t.slice(0, size)
                rest = t.slice(size)
                buf, n = rest.to_batches(), rest.num_rows
    if n:
        yield pa.Table.from_batches(buf).combine_chunks()


def _differ(a, b):
    """Rows where two string columns differ (a null against a value differs; two nulls agree)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a, b = a.cast(pa.string()), b.cast(pa.string())
    return pc.or_(pc.fill_null(pc.not_equal(a, b), False), pc.xor(pc.is_null(a), pc.is_null(b)))


def compare(src: Path, icsgeo_out: Path, others: dict[str, tuple[list[Path], bool]]) -> dict:
    """Stream the input, icsgeo's output and each other output (name -> (files, keyed by id)) side by
    side: rows, order, and per output the rows whose compared answers differ from icsgeo's."""
    import pyarrow.compute as pc

    named = [c if c != "postcode" else "postcode_icsgeo" for c in COMPARED]  # the input has its own postcode
    cols = {name: (["id", *named] if keyed else ["query", *COMPARED]) for name, (_, keyed) in others.items()}
    streams = zip(_rows([src], ["id", "postcode"]), _rows([icsgeo_out], ["id", *named]),
                  *[_rows(files, cols[name]) for name, (files, _) in others.items()])
    out = {"rows": 0, "order": True, "differ": dict.fromkeys(others, 0), "statuses": {}}
    for inp, ics, *rest in streams:
        assert all(t.num_rows == inp.num_rows for t in (ics, *rest)), "an output lost or gained rows"
        ids = inp.column("id")
        out["order"] &= ids.equals(ics.column("id"))
        for (name, (_, keyed)), other in zip(others.items(), rest):
            if keyed:
                out["order"] &= ids.equals(other.column("id"))
            else:  # the dask output holds the queries themselves
                out["order"] &= not pc.any(_differ(inp.column("postcode"), other.column("query"))).as_py()
            bad = None
            for mine, theirs in zip(named, cols[name][1:]):
                d = _differ(ics.column(mine), other.column(theirs))
                bad = d if bad is None else pc.or_(bad, d)
            out["differ"][name] += pc.sum(bad.cast("int64")).as_py() or 0
        for st, k in zip(*[x.to_pylist() for x in pc.value_counts(ics.column("status")).flatten()]):
            out["statuses"][st] = out["statuses"].get(st, 0) + k
        out["rows"] += inp.num_rows
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--vintage", default=None)
    ap.add_argument("--duckdb-memory-limit", default="2GB", help="the second DuckDB run's memory limit (default 2GB)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temporary folder)")
    ap.add_argument("--dask-child", nargs=3, metavar=("IN", "OUT", "VINTAGE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dask_child:
        return dask_child(*args.dask_child)
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    vintage = ["--vintage", args.vintage] if args.vintage else []
    icsgeo = [sys.executable, "-m", "icsgeo"]
    with tempfile.TemporaryDirectory(prefix="icsgeo-product-") as scratch:
        tmp = Path(args.keep or scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        product, src = tmp / "postcodes.parquet", tmp / "records.parquet"
        duck_out, icsgeo_out, dask_out = tmp / "duckdb.parquet", tmp / "icsgeo.parquet", tmp / "dask"
        import pyarrow.parquet as pq


        wall, peak, code = run([*icsgeo, "index", "build", "--quiet", *vintage])
        print(f"index build (warm unless the cache was empty): {wall:.1f} s, peak {peak:.0f} MB, exit {code}", flush=True)
        wall, peak, code = run([*icsgeo, "index", "export", *vintage, "--output", str(product)])

        md = pq.read_metadata(product)
        print(f"icsgeo index export: {wall:.1f} s, peak {peak:.0f} MB, exit {code}; {product.stat().st_size / 1e6:.1f} MB, "
              f"{md.num_rows:,} postcodes, {md.num_row_groups} row groups", flush=True)

        t = time.perf_counter()
        make_input(product, src, args.rows)
        print(f"input: {args.rows:,} rows (real postcodes, messy case/spacing, 2% junk), "
              f"{src.stat().st_size / 1e6:.0f} MB Parquet, made in {time.perf_counter() - t:.0f} s", flush=True)

        w_ics, p_ics, c_ics = run([*icsgeo, "where", *vintage, "--input", str(src), "--output", str(icsgeo_out)])
        print(f"icsgeo where --input … --output … (baseline): {w_ics:.1f} s ({args.rows / w_ics / 1e6:.2f} M rows/s), "
              f"peak {p_ics:.0f} MB, exit {c_ics}", flush=True)
        duck = {}
        for limit, ordered in ((None, True), (args.duckdb_memory_limit, True), (None, False)):
            target = duck_out.with_name(f"duckdb-{limit or 'default'}-{'ordered' if ordered else 'any-order'}.parquet")
            w, p, c = run([sys.executable, str(EXAMPLE), "--product", str(product), "--input", str(src),
                           "--output", str(target), *(["--memory-limit", limit] if limit else []),
                           *([] if ordered else ["--any-order"])])
            name = (f"DuckDB (memory_limit {limit}" if limit else "DuckDB (its default memory limit") + \
                (")" if ordered else ", rows in any order)")
            if not ordered:  # sorted back by id here, outside the timing, to be compared row by row
                t = time.perf_counter()
                pq.write_table(pq.read_table(target, columns=["id", *[col if col != "postcode" else "postcode_icsgeo"
                                                                      for col in COMPARED]]).sort_by("id"), target)
                print(f"  (sorted back by id for the comparison in {time.perf_counter() - t:.0f} s)", flush=True)
            duck[name] = target
            print(f"{name} join, examples/duckdb_join.py (no icsgeo): {w:.1f} s ({args.rows / w / 1e6:.2f} M rows/s), "
                  f"peak {p:.0f} MB, exit {c} → {w / w_ics:.2f}× icsgeo's time, {p / p_ics:.2f}× its peak", flush=True)
        # the same icsgeo as `python -m icsgeo` above (which puts the working directory first on the path)
        w_dask, p_dask, c_dask = run([sys.executable, str(Path(__file__).resolve()), "--dask-child", str(src), str(dask_out),
                                      args.vintage or ""], env={"PYTHONPATH": os.pathsep.join(filter(None, [
                                          os.getcwd(), os.environ.get("PYTHONPATH")]))})
        parts = sorted(dask_out.glob("part-*.parquet"))
        print(f"dask engine (read_parquet → where(engine='dask') → to_parquet, {len(parts)} partitions): {w_dask:.1f} s "
              f"({args.rows / w_dask / 1e6:.2f} M rows/s), peak {p_dask:.0f} MB, exit {c_dask} → {w_dask / w_ics:.2f}× "
              f"icsgeo's time, {p_dask / p_ics:.2f}× its peak", flush=True)

        t = time.perf_counter()
        r = compare(src, icsgeo_out, {**{k: ([v], True) for k, v in duck.items()}, "dask": (parts, False)})
        print(f"compared in {time.perf_counter() - t:.0f} s: {r['rows']:,} rows in each output "
              f"({'all' if r['rows'] == args.rows else 'NOT all'} rows, {'in order' if r['order'] else 'NOT IN ORDER'}); "
              f"statuses {dict(sorted(r['statuses'].items()))}")
        print(f"rows whose answers ({', '.join(COMPARED)}) differ from icsgeo's: "
              + ", ".join(f"{k} {v:,}" for k, v in r["differ"].items())
              + (" (none)" if not any(r["differ"].values()) else " (SOME DIFFER)"))

if __name__ == "__main__":
    main()
