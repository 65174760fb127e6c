#!/usr/bin/env python3
"""Points without postcodes: 1.5 M random points through all four tiers against geopandas.sjoin.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/points.py [--runs 3] [--cells 64] [--base OLD_CHECKOUT]

The points are those of ``national.py``'s points section: LSOA population-weighted centroids plus
N(0, 400 m) jitter, seed 7. Printed, in one run:

- the classified grid of the LSOA polygons icsgeo uses (``icsgeo.areas.lsoa_polygons()``): its
  build time (from the polygons in memory), size in memory and on disk, the time to read it back,
  and the share of the points it answers without the polygon test (one row per ``--cells`` size);
- ``icsgeo.assign(easting=, northing=)``, four tiers, in process, against a plain ``geopandas.sjoin``
  (``predicate="within"``, ``how="left"``) of the same points into the same polygons, the LSOA tier
  alone; runs alternate, so a busy machine slows both alike; medians of ``--runs`` and their ratio;
- 100,000 random points (80,000 as above, 20,000 anywhere from the Channel to Scotland, NaN among
  them) answered with the grid and by the plain polygon path (the grid switched off), every column
  compared: the number of differing rows; with ``--base``, also against the code in that checkout
  (run in a child process with its own cache, answers pickled so that every value and dtype is kept);
- the whole process: ``icsgeo where --input random.csv --easting-column easting --northing-column
  northing --output r.csv`` (median of ``--runs``; peak memory from wait4), and the same command of
  ``--base`` when given.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run  # noqa: E402

ICSGEO = [sys.executable, "-m", "icsgeo"]
ROWS: list[tuple[str, str, str]] = []
GOAL = "≤ 1.0×"


def report(name: str, value: str, goal: str = "") -> None:
    ROWS.append((name, value, goal))
    print(f"  {name}: {value}" + (f"   (goal {goal})" if goal else ""), flush=True)


def benchmark_points():
    """The points of national.py's points section."""
    import numpy as np

    import icsgeo

    pwc = icsgeo.read("lsoa21-pwc")
    pwc = pwc[pwc["code"].str.startswith("E")]
    rng = np.random.default_rng(7)
    pick = rng.integers(0, len(pwc), 1_500_000)
    e = pwc.geometry.x.to_numpy()[pick] + rng.normal(0, 400, len(pick))
    n = pwc.geometry.y.to_numpy()[pick] + rng.normal(0, 400, len(pick))
    return e, n


def comparison_points(e, n):
    """100,000 points: 80,000 of the benchmark's, 20,000 uniform over Great Britain's grid (sea,
    Scotland, Wales), every 997th coordinate missing."""
    import numpy as np

    rng = np.random.default_rng(11)
    x = np.r_[e[:80_000], rng.uniform(0, 700_000, 20_000)]
    y = np.r_[n[:80_000], rng.uniform(0, 1_300_000, 20_000)]
    x[::997] = np.nan
    return x, y


def sjoin_baseline(e, n, polys):
    """A plain spatial join of points into LSOA polygons, as an analyst would script it."""
    import geopandas

    t = time.perf_counter()
    pts = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy(e, n), crs="EPSG:27700")
    joined = geopandas.sjoin(pts, polys[["code", "geometry"]], how="left", predicate="within")
    return time.perf_counter() - t, joined


def differing_rows(a, b) -> int:
    """Rows of two answer frames that differ in any column: a value, a missing value where the other
    has one, a different kind of missing value (None or NaN), or a column's dtype (all rows)."""
    import numpy as np

    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return max(len(a), len(b))
    bad = np.zeros(len(a), dtype=bool)
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype != y.dtype:
            return len(a)
        mx, my = x.isna().to_numpy(), y.isna().to_numpy()
        bad |= mx != my
        both = ~mx & ~my
        bad[both] |= x.to_numpy()[both] != y.to_numpy()[both]
        if x.dtype == object:
            none_x = np.fromiter((v is None for v in x.to_numpy()), bool, len(x))
            none_y = np.fromiter((v is None for v in y.to_numpy()), bool, len(y))
            bad |= none_x != none_y
    return int(bad.sum())


_CHILD = """
import pickle, sys, numpy as np, icsgeo
assert icsgeo.__file__.startswith(sys.argv[4]), icsgeo.__file__
x, y = np.load(sys.argv[1]), np.load(sys.argv[2])
out = icsgeo.assign(easting=x, northing=y)
with open(sys.argv[3], "wb") as f:
    pickle.dump(out, f)
"""


def section_grid(args, e, n) -> None:
    import numpy as np
    import shapely

    from icsgeo import grid as cells
    from icsgeo.areas import lsoa_polygons
    from icsgeo.locate import _point_polygon_pairs

    print("\n== the classified grid of the LSOA polygons", flush=True)
    polys = lsoa_polygons()
    geoms = np.asarray(polys.geometry.values)
    tree = polys.sindex
    pairs = lambda x, y: _point_polygon_pairs(tree, None, geoms, x, y, prepared_from=0)  # noqa: E731
    report("polygons", f"{len(geoms):,} ({shapely.get_num_coordinates(geoms).sum():,} vertices)")
    for cell in args.cells:
        grid = cells.build_grid(geoms, pairs, cell=cell)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "grid.npz"
            grid.save(path)
            size = path.stat().st_size
            t = time.perf_counter()
            cells.PolygonGrid.load(path, digest=grid.digest, cell=grid.cell, block=grid.block)
            read = time.perf_counter() - t
        t = time.perf_counter()
        answer = grid.classify(e, n)
        classify = time.perf_counter() - t
        inside, outside = (answer >= 0).mean(), (answer == cells.OUTSIDE).mean()
        report(f"{cell:g} m cells, {grid.block}x{grid.block} blocks: build (in process, from the polygons)",
               f"{grid.seconds:.1f} s; {grid.nbytes / 1e6:.1f} MB in memory, {size / 1e6:.1f} MB on disk, read in {read:.2f} s")
        report(f"{cell:g} m cells: points answered by the grid",
               f"{inside + outside:.1%} ({inside:.1%} inside one polygon, {outside:.1%} outside all; classified in {classify:.2f} s); "
               f"{1 - inside - outside:.1%} to the polygon test")


def section_speed(args, e, n) -> None:
    import icsgeo
    from icsgeo import grid as cells
    from icsgeo.areas import lsoa_polygons

    polys = lsoa_polygons()
    for cell in args.cells:
        cells.CELL_M = float(cell)
        print(f"\n== 1,500,000 random points, in process ({cell:g} m cells)", flush=True)
        icsgeo.assign(easting=e, northing=n)  # the grid built or read, the polygons and tiers held
        ours, base, cpu_ours, cpu_base = [], [], [], []
        for _ in range(args.runs):  # alternating, so that a busy machine slows both alike
            t, c = time.perf_counter(), time.process_time()
            out = icsgeo.assign(easting=e, northing=n)
            ours.append(time.perf_counter() - t)
            cpu_ours.append(time.process_time() - c)
            c = time.process_time()
            base.append(sjoin_baseline(e, n, polys)[0])
            cpu_base.append(time.process_time() - c)
        a, b = statistics.median(ours), statistics.median(base)
        pairs = statistics.median(x / y for x, y in zip(ours, base))
        report(f"icsgeo.assign, four tiers ({cell:g} m cells, median of {args.runs})",
               f"{a:.2f} s = {len(e) / a / 1e6:.2f} M points/s (runs {', '.join(f'{v:.2f}' for v in ours)}); "
               f"{ {k: int(v) for k, v in out['status'].value_counts().items()} }")
        report("geopandas.sjoin, LSOA tier only (median, alternating)", f"{b:.2f} s (runs {', '.join(f'{v:.2f}' for v in base)})")
        report(f"ratio icsgeo.assign / sjoin ({cell:g} m cells)", f"{a / b:.2f}× (median of the runs' own ratios {pairs:.2f}×)", GOAL)
        report("CPU time, all threads (median)", f"icsgeo.assign {statistics.median(cpu_ours):.2f} s, sjoin {statistics.median(cpu_base):.2f} s")
    cells.CELL_M = float(args.cells[0])


def section_same(args, e, n, tmp: Path) -> None:
    import numpy as np

    import icsgeo
    from icsgeo import grid as cells
    from icsgeo import locate
    from icsgeo.areas import lsoa_polygons

    print("\n== identical answers: 100,000 random points, every column", flush=True)
    x, y = comparison_points(e, n)
    grid_from = locate.GRID_FROM
    with_grid = icsgeo.assign(easting=x, northing=y)
    answered = (cells.grid_for(np.asarray(lsoa_polygons().geometry.values), None).classify(x, y) != cells.TEST).mean()
    locate.GRID_FROM = 10**12  # the plain polygon path
    try:
        plain = icsgeo.assign(easting=x, northing=y)
    finally:
        locate.GRID_FROM = grid_from
    counts = {k: int(v) for k, v in with_grid["status"].value_counts().items()}
    report("points", f"{len(x):,}: {counts}; {answered:.1%} answered by the grid")
    report("rows differing from the plain polygon path (grid off), all columns", f"{differing_rows(with_grid, plain)}", "0")
    if args.base:
        np.save(tmp / "x.npy", x)
        np.save(tmp / "y.npy", y)
        env = {**os.environ, "PYTHONPATH": str(args.base), "ICSGEO_CACHE_DIR": str(args.base_cache)}
        t = time.perf_counter()
        # -P: the checkout on PYTHONPATH, not the current folder's icsgeo, is imported
        subprocess.run([sys.executable, "-P", "-c", _CHILD, str(tmp / "x.npy"), str(tmp / "y.npy"), str(tmp / "base.pkl"),
                        str(args.base.resolve())], env=env, check=True, capture_output=True)
        with open(tmp / "base.pkl", "rb") as f:
            old = pickle.load(f)
        report(f"rows differing from {args.base} (child process, {time.perf_counter() - t:.0f} s), all columns",
               f"{differing_rows(with_grid, old)}", "0")


def section_process(args, e, n, tmp: Path) -> None:
    import pandas as pd

    print("\n== whole process: icsgeo where --easting-column …", flush=True)
    src = tmp / "random.csv"
    pd.DataFrame({"easting": e.round(1), "northing": n.round(1)}).to_csv(src, index=False)
    cmd = ["where", "--input", str(src), "--easting-column", "easting", "--northing-column", "northing", "--output", str(tmp / "r.csv")]
    runs = [run([*ICSGEO, *cmd]) for _ in range(args.runs)]
    assert all(r[2] in (0, 1) for r in runs), runs
    report(f"icsgeo where --input random.csv (1.5 M points) --output r.csv (median of {args.runs})",
           f"{statistics.median(r[0] for r in runs):.1f} s, peak {max(r[1] for r in runs):.0f} MB")
    if args.base:
        env = {"PYTHONPATH": str(args.base), "ICSGEO_CACHE_DIR": str(args.base_cache)}
        old = [run([sys.executable, "-P", "-m", "icsgeo", *cmd], env=env) for _ in range(args.runs)]
        report(f"the same with {args.base} (median of {args.runs})",
               f"{statistics.median(r[0] for r in old):.1f} s, peak {max(r[1] for r in old):.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cells", default=None, help="comma-separated cell sizes in metres (powers of two); the first is "
                    "used after (default: icsgeo's own, grid.CELL_M = 32)")
    ap.add_argument("--base", type=Path, help="a checkout of the code to compare answers and the whole process with")
    ap.add_argument("--base-cache", type=Path, help="its cache folder (default: a temporary one)")
    ap.add_argument("--only", default="grid,speed,same,process", help="comma-separated sections: grid, speed, same, process")
    args = ap.parse_args()
    if args.cells is None:
        from icsgeo.grid import CELL_M

        args.cells = str(int(CELL_M))
    args.cells = [float(c) for c in args.cells.split(",")]
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="icsgeo-points-") as tmp:
        tmp = Path(tmp)
        args.base_cache = args.base_cache or tmp / "base-cache"
        e, n = benchmark_points()
        report("points", "1,500,000: LSOA population-weighted centroids + N(0, 400 m) jitter, seed 7")
        only = {s.strip() for s in args.only.split(",")}
        if "grid" in only:
            section_grid(args, e, n)
        if "speed" in only:
            section_speed(args, e, n)
        if "same" in only:
            section_same(args, e, n, tmp)
        if "process" in only:
            section_process(args, e, n, tmp)
    print("\n| figure | measured | goal |\n|---|---|---|")
    for name, value, goal in ROWS:
        print(f"| {name} | {value} | {goal} |")


if __name__ == "__main__":
    main()
