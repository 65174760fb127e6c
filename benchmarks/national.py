#!/usr/bin/env python3
"""National-scale figures: every English postcode, random points, index build, single lookups.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/national.py [--runs 3] [--only bulk,points,index,single]

Each section prints its figures and, where there is one, the baseline measured in the same run:
a plain ``geopandas.sjoin`` of the same points into the LSOA 2021 polygons (the LSOA tier alone).
Whole-process timings run the ``icsgeo`` command in a child process (peak memory from wait4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run  # noqa: E402

ICSGEO = [sys.executable, "-m", "icsgeo"]
ROWS: list[tuple[str, str, str]] = []


def report(name: str, value: str, goal: str = "") -> None:
    ROWS.append((name, value, goal))
    print(f"  {name}: {value}" + (f"   (goal {goal})" if goal else ""), flush=True)


def median_run(cmd, runs, env=None):
    results = [run(cmd, env) for _ in range(runs)]
    codes = {r[2] for r in results}
    return statistics.median(r[0] for r in results), max(r[1] for r in results), codes


def sjoin_baseline(e, n, polys):
    """A plain spatial join of points into LSOA polygons, as an analyst would script it."""
    import geopandas

    t = time.perf_counter()
    pts = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy(e, n), crs="EPSG:27700")
    joined = geopandas.sjoin(pts, polys[["code", "geometry"]], how="left", predicate="within")
    return time.perf_counter() - t, joined


def section_bulk(args, tmp: Path) -> None:

    import icsgeo
    from icsgeo.areas import lsoa_polygons
    from icsgeo.index import answers as answers_for

    print("\n== every English Code-Point postcode through bulk where", flush=True)
    cp = icsgeo.read("codepoint-open-2025-10")
    cp = cp[cp["has_location"]].reset_index(drop=True)
    src = tmp / "postcodes.csv"
    cp[["postcode"]].to_csv(src, index=False)
    report("postcodes", f"{len(cp):,} (data: codepoint-open-2025-10)")
    icsgeo.where(["S1 2HE"])  # the index is built before timing

    # The baseline as a whole process, as an analyst would run it: read, join, write.
    script = tmp / "baseline.py"
    script.write_text(
        "import sys, pandas as pd, geopandas, icsgeo\n"
        "pts = pd.read_csv(sys.argv[1])\n"
        "from icsgeo.areas import lsoa_polygons\n"
        "polys = lsoa_polygons()[['code', 'geometry']]\n"
        "g = geopandas.GeoDataFrame(pts, geometry=geopandas.points_from_xy(pts.easting, pts.northing), crs='EPSG:27700')\n"
        "geopandas.sjoin(g, polys, how='left', predicate='within').drop(columns='geometry').to_csv(sys.argv[2], index=False)\n"
    )
    cp[["postcode", "easting", "northing"]].to_csv(tmp / "points.csv", index=False)
    ours_cmd = [*ICSGEO, "where", "--input", str(src), "--column", "postcode", "--output", str(tmp / "out.csv")]
    base_cmd = [sys.executable, str(script), str(tmp / "points.csv"), str(tmp / "b.csv")]
    ours, base = [], []
    for _ in range(max(3, args.runs)):  # alternating, so that a busy machine slows both alike
        ours.append(run(ours_cmd))
        base.append(run(base_cmd))
    wall, rss = statistics.median(r[0] for r in ours), max(r[1] for r in ours)
    bwall, brss = statistics.median(r[0] for r in base), max(r[1] for r in base)
    report(f"icsgeo where --input CSV --output CSV, whole process (median of {len(ours)}, alternating with the baseline)",
           f"{wall:.2f} s, {len(cp) / wall / 1e6:.2f} M/s, peak {rss:.0f} MB")
    report(f"baseline whole process: read CSV, sjoin, write CSV (median of {len(base)})", f"{bwall:.2f} s, peak {brss:.0f} MB")
    report("ratio icsgeo whole process / baseline whole process", f"{wall / bwall:.2f}× (runs: "
           + ", ".join(f"{o[0]:.1f}/{b[0]:.1f}" for o, b in zip(ours, base)) + " s)", "≤ 0.5×")
    wall_pq, rss_pq, _ = median_run([*ICSGEO, "where", "--input", str(src), "--column", "postcode", "--output", str(tmp / "out.parquet")], args.runs)
    report("icsgeo where --input CSV --output Parquet, whole process (median)", f"{wall_pq:.2f} s, peak {rss_pq:.0f} MB")

    import pyarrow as pa

    keys = pa.array(cp["postcode"].to_numpy(dtype=object), pa.string())
    answers_for(keys[:10])  # load the index into memory once
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        answers = answers_for(keys)
        times.append(time.perf_counter() - t)
    lookup = statistics.median(times)
    assert answers.num_rows == len(cp)
    report("index lookup in process, four tiers (median)", f"{lookup:.2f} s = {len(cp) / lookup / 1e6:.2f} M postcodes/s", "≥ 2 M/s")

    polys = lsoa_polygons()
    base = [sjoin_baseline(cp["easting"].to_numpy(), cp["northing"].to_numpy(), polys)[0] for _ in range(args.runs)]
    sj = statistics.median(base)
    report("baseline geopandas.sjoin into LSOA polygons, LSOA tier only (median)", f"{sj:.2f} s")
    report("ratio icsgeo four tiers / sjoin one tier (in process)", f"{lookup / sj:.2f}×", "≤ 1.0×")


def section_points(args, tmp: Path) -> None:
    import pandas as pd
    from points import benchmark_points  # the same points as benchmarks/points.py

    import icsgeo
    from icsgeo.areas import lsoa_polygons

    print("\n== 1.5 million random points through the spatial path", flush=True)
    e, n = benchmark_points()
    report("points", "1,500,000: LSOA population-weighted centroids + N(0, 400 m) jitter, seed 7")
    icsgeo.assign(easting=e[:10], northing=n[:10])
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = icsgeo.assign(easting=e, northing=n)
        times.append(time.perf_counter() - t)
    ours = statistics.median(times)
    report("icsgeo.assign, four tiers, in process (median)", f"{ours:.2f} s = {len(e) / ours / 1e6:.2f} M points/s; {dict(out['status'].value_counts())}")
    polys = lsoa_polygons()
    sj = statistics.median(sjoin_baseline(e, n, polys)[0] for _ in range(args.runs))
    report("baseline geopandas.sjoin, LSOA tier only (median)", f"{sj:.2f} s")
    report("ratio icsgeo / sjoin", f"{ours / sj:.2f}×", "≤ 1.0×")
    pd.DataFrame({"easting": e.round(1), "northing": n.round(1)}).to_csv(tmp / "random.csv", index=False)
    wall, rss, _ = median_run([*ICSGEO, "where", "--input", str(tmp / "random.csv"), "--easting-column", "easting",
                               "--northing-column", "northing", "--output", str(tmp / "r.csv")], args.runs)
    report("icsgeo where --easting-column … whole process (median)", f"{wall:.2f} s, peak {rss:.0f} MB")


def section_index(args, tmp: Path) -> None:
    print("\n== index build from the raw files", flush=True)
    cold = []
    for _ in range(max(1, args.runs - 1)):
        cache = tempfile.mkdtemp(prefix="icsgeo-cold-")
        wall, rss, _ = run([*ICSGEO, "index", "build", "--quiet"], env={"ICSGEO_CACHE_DIR": cache})
        cold.append((wall, rss))
    report("cold: empty cache, every raw file parsed (median)", f"{statistics.median(w for w, _ in cold):.1f} s, peak {max(r for _, r in cold):.0f} MB", "≤ 60 s")
    wall, rss, _ = median_run([*ICSGEO, "index", "build", "--quiet"], args.runs, env={"ICSGEO_CACHE_DIR": cache})
    report("warm: index present, inputs re-verified (median)", f"{wall:.2f} s, peak {rss:.0f} MB", "≤ 2 s")


def section_single(args, tmp: Path) -> None:
    print("\n== single lookups: one at a time in process (the server's path), and in a fresh process", flush=True)
    import random

    import icsgeo

    index = icsgeo.postcode_index()  # what `icsgeo serve` holds
    known = index.arrow.column("postcode").to_pylist()
    rng = random.Random(12)
    queries = [rng.choice(known) for _ in range(100_000)]
    messy = [q.lower().replace(" ", "") for q in queries[:20_000]]
    rates, messy_rates = [], []
    for _ in range(max(3, args.runs)):
        t = time.perf_counter()
        for q in queries:
            index.answer(q)
        rates.append(len(queries) / (time.perf_counter() - t))
        t = time.perf_counter()
        for q in messy:
            index.answer(q)
        messy_rates.append(len(messy) / (time.perf_counter() - t))
    rate = statistics.median(rates)
    report(f"icsgeo.postcode_index().answer(q), {len(queries):,} random postcodes one at a time (median of {len(rates)})",
           f"{rate:,.0f} postcodes/s = {1e6 / rate:.1f} µs each", "≥ 50,000/s")
    report("the same, lower case without the space (normalised first)", f"{statistics.median(messy_rates):,.0f} postcodes/s")
    t = time.perf_counter()
    for q in queries[:2_000]:
        icsgeo.where([q])
    report("for comparison: icsgeo.where([q]) one at a time (a DataFrame each)", f"{2_000 / (time.perf_counter() - t):,.0f} postcodes/s")
    del index, known
    walls = [run([*ICSGEO, "where", "S1 2HE"]) for _ in range(max(10, args.runs))]
    med = statistics.median(w for w, _, _ in walls)
    report(f"icsgeo where S1 2HE, median of {len(walls)}", f"{med:.2f} s (min {min(w for w, _, _ in walls):.2f}), peak {max(r for _, r, _ in walls):.0f} MB", "≤ 0.5 s")


SECTIONS = {"single": section_single, "bulk": section_bulk, "points": section_points, "index": section_index}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ", ".join(SECTIONS))
    args = ap.parse_args()
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="icsgeo-bench-") as tmp:
        for name in args.only.split(","):
            SECTIONS[name.strip()](args, Path(tmp))
    print("\n| figure | measured | goal |\n|---|---|---|")
    for name, value, goal in ROWS:
        print(f"| {name} | {value} | {goal} |")


if __name__ == "__main__":
    main()
