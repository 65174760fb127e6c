#!/usr/bin/env python3
"""Time loading every boundary, lookup and practice file, cold (empty cache) and warm.

Each measurement runs in a fresh Python process, so "warm" means what a user's second run costs:
the derived-layer cache (Parquet/GeoParquet) is on disk, nothing is in memory.

    ICSGEO_DATA_DIR=../shared/data python scripts/load_times.py [--runs 3] [--all]

``--all`` adds the registrations and postcode files (not part of the 10 s / 1 s budget).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

KINDS = ("boundary", "lookup", "practices", "pcn-membership")

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import icsgeo
t_import = time.perf_counter() - t0
kinds = set(sys.argv[1].split(","))
times = {}
for e in icsgeo.catalogue():
    if e.kind in kinds and e.reader != "text":
        t = time.perf_counter()
        for table in e.tables:
            icsgeo.read(e, table)
        times[e.id] = time.perf_counter() - t
print(json.dumps({"import": t_import, "total": time.perf_counter() - t0, "files": times}))
"""


def run(kinds: str, cache: str) -> dict:
    env = {**os.environ, "ICSGEO_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", CHILD, kinds], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="also registrations and postcodes")
    args = ap.parse_args()
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    kinds = ",".join(KINDS + (("registrations", "postcodes") if args.all else ()))
    cold, warm, last = [], [], None
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="icsgeo-cache-") as cache:
            c = run(kinds, cache)
            w = run(kinds, cache)
        cold.append(c["total"])
        warm.append(w["total"])
        last = (c, w)
    c, w = last
    print(f"files: {len(c['files'])} ({kinds})")
    print(f"{'dataset':<36} {'cold s':>8} {'warm s':>8}")
    for k in c["files"]:
        print(f"{k:<36} {c['files'][k]:8.3f} {w['files'][k]:8.3f}")
    print(f"\nwhole process incl. import, median of {args.runs} runs: cold {statistics.median(cold):.2f} s "
          f"(min {min(cold):.2f}), warm {statistics.median(warm):.2f} s (min {min(warm):.2f})")
    print(f"import icsgeo: {w['import']:.2f} s")


if __name__ == "__main__":
    main()
