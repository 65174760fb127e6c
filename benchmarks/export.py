#!/usr/bin/env python3
"""Time `icsgeo export`: all England's boundaries of a vintage in one GeoPackage, whole process.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/export.py [--runs 3] [--vintage 2026]

"warm": the derived-layer cache already holds the geography (a user's second export); "cold": an empty
cache, every raw file parsed (a user's first). Peak memory is the command's own (wait4). Prints the
layers' rows and the file's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run  # noqa: E402

ICSGEO = [sys.executable, "-m", "icsgeo"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--vintage", default="2026")
    args = ap.parse_args()
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    with tempfile.TemporaryDirectory(prefix="icsgeo-export-") as tmp:
        out = Path(tmp) / f"england-{args.vintage}.gpkg"
        cmd = [*ICSGEO, "export", "--vintage", args.vintage, "--output", str(out)]
        cache = Path(tmp) / "cache"
        wall, rss, code = run(cmd, env={"ICSGEO_CACHE_DIR": str(cache)})
        assert code == 0, "icsgeo export failed"
        print(f"cold (empty cache): {wall:.1f} s, peak {rss:.0f} MB")
        warm = [run(cmd, env={"ICSGEO_CACHE_DIR": str(cache)}) for _ in range(args.runs)]
        print(f"warm (cache on disk), median of {args.runs}: {statistics.median(w for w, _, _ in warm):.1f} s "
              f"(min {min(w for w, _, _ in warm):.1f}), peak {max(r for _, r, _ in warm):.0f} MB")
        import pyogrio

        layers = {name: pyogrio.read_info(out, layer=name)["features"] for name, _ in pyogrio.list_layers(out)}
        print(f"file: {out.stat().st_size / 1e6:.1f} MB; layers: " + ", ".join(f"{k} {v:,}" for k, v in layers.items()))


if __name__ == "__main__":
    main()
