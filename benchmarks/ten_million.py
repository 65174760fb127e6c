#!/usr/bin/env python3
"""Ten million rows through bulk ``icsgeo where``: peak memory and every row out, in order.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/ten_million.py [--rows 10000000]

The input is synthetic: real Code-Point postcodes (repeated, in random case and spacing) mixed with
junk (empty, malformed, non-ASCII, over-long, Scottish), with an ``id`` column counting the rows.
The check streams the output back and compares ids and row count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run  # noqa: E402


def make_input(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    import icsgeo

    cp = icsgeo.read("codepoint-open-2025-10")["postcode"].to_numpy(dtype=object)
    junk = np.array(["", "not a postcode", "ZZ99 9ZZ", "EH1 1YZ", "S1 2HÉ", "x" * 200, "'; DROP TABLE x; --", "SW1A 0ZZ"], dtype=object)
    rng = np.random.default_rng(10)
    chunk = 1_000_000
    with pacsv.CSVWriter(path, pa.schema([("id", pa.int64()), ("postcode", pa.string())])) as w:
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            pcs = cp[rng.integers(0, len(cp), m)]
            messy = rng.random(m)
            pcs = np.where(messy < 0.1, np.char.lower(pcs.astype(str)).astype(object), pcs)
            pcs = np.where((messy >= 0.1) & (messy < 0.15), np.char.replace(pcs.astype(str), " ", "").astype(object), pcs)
            is_junk = rng.random(m) < 0.02
            pcs[is_junk] = junk[rng.integers(0, len(junk), int(is_junk.sum()))]
            w.write_table(pa.table({"id": pa.array(np.arange(start, start + m)), "postcode": pa.array(pcs, pa.string())}))


def check_output(path: Path, rows: int) -> tuple[int, dict]:
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(path, convert_options=pacsv.ConvertOptions(include_columns=["id", "status"]))
    expected, statuses = 0, {}
    for batch in reader:
        ids = batch.column(0).to_numpy()
        assert (ids == range(expected, expected + len(ids))).all(), f"rows out of order near {expected}"
        expected += len(ids)
        for s in batch.column(1).to_pylist():
            statuses[s] = statuses.get(s, 0) + 1
    return expected, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    with tempfile.TemporaryDirectory(prefix="icsgeo-10m-") as tmp:
        src, out = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        t = time.perf_counter()
        make_input(src, args.rows)
        print(f"input: {args.rows:,} rows, {src.stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - t:.0f} s")
        wall, peak, code = run([sys.executable, "-m", "icsgeo", "where", "--input", str(src), "--column", "postcode", "--output", str(out)])
        print(f"icsgeo where --input … --output …: {wall:.1f} s ({args.rows / wall / 1e6:.2f} M rows/s), peak memory {peak:.0f} MB, exit {code}")
        n, statuses = check_output(out, args.rows)
        print(f"output: {n:,} rows ({'all' if n == args.rows else 'NOT all'} rows, in order), {out.stat().st_size / 1e6:.0f} MB; statuses {statuses}")
        print(f"peak memory {'<' if peak < 2048 else '≥'} 2 GB")


if __name__ == "__main__":
    main()
