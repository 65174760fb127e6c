#!/usr/bin/env python3
"""The index build, cold and warm, against the build of the code before the bounded build (a git
worktree of commit 138bc73), and a full comparison of the two indexes.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/build.py [--runs 3] [--base ../base-138bc73] [--no-compare]

- **cold**: ``python -m icsgeo index build --quiet`` with an empty ``ICSGEO_CACHE_DIR`` (every raw
  file parsed; the vintage ``index build`` builds by default, the one a first ``icsgeo where S1 2HE``
  builds), median wall time and largest peak RSS (wait4) of ``--runs`` runs, each with a fresh empty
  cache, alternating with the same command of the base code (``PYTHONPATH=BASE``) so that a busy
  machine hits both alike;
- **per step**: one more cold build in a child that logs each step of ``build_index`` with its time,
  its RSS at the end and its peak RSS (a sampler thread reading ``/proc/self/status``);
- **warm**: the same command with the index present (inputs re-verified), median of ``--runs``;
- **first where**: ``icsgeo where S1 2HE`` on an empty cache, to show it builds the same index;
- **comparison**: the new index against the base build's, every row and column (values, nulls,
  order), the schema, the metadata, the row groups and their postcode statistics: the number of
  differing rows, which must be 0.

The code measured is a copy of this tree's ``icsgeo/`` and ``boundaries/`` taken when the script
starts (so edits made meanwhile do not change the code, and the index's name, between runs), run
with ``PYTHONPATH`` from a temporary folder (``python -m`` puts the working folder first on the path).
The caches and the copy are temporary folders, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ICSGEO = [sys.executable, "-m", "icsgeo"]
BUILD = [*ICSGEO, "index", "build", "--quiet"]
GOALS = {"cold": 60.0, "peak": 2048.0, "warm": 2.0}
ROWS: list[tuple[str, str, str, str]] = []


def report(name: str, value: str, base: str = "", goal: str = "") -> None:
    ROWS.append((name, value, base, goal))
    extra = "".join(f"   ({label} {v})" for label, v in (("base", base), ("goal", goal)) if v)
    print(f"  {name}: {value}{extra}", flush=True)


def env_for(cache: str, code: Path) -> dict:
    return {"ICSGEO_CACHE_DIR": cache, "PYTHONPATH": str(code)}


def index_file(cache: str) -> Path:
    found = sorted((Path(cache) / "index").glob("answers-*.parquet"))
    if len(found) != 1:
        raise SystemExit(f"expected one index in {cache}/index, found {[p.name for p in found]}")
    return found[0]


# ---------------------------------------------------------------------------------------------
# The per-step child: build_index in this process, each step's time and RSS
# ---------------------------------------------------------------------------------------------

def step_child() -> None:
    """Run build_index here and print one JSON line per step (see the module docstring)."""
    import logging
    import threading

    def rss() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
        return 0.0

    peak, lock, t0 = [0.0], threading.Lock(), time.perf_counter()
    last = [t0]

    def sample() -> None:
        while True:
            r = rss()
            with lock:
                peak[0] = max(peak[0], r)
            time.sleep(0.01)

    threading.Thread(target=sample, daemon=True).start()

    class Steps(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            if msg.startswith("index ") and msg.endswith(" s)"):  # "index 2026: postcodes located (19.8 s)"
                now, r = time.perf_counter(), rss()
                with lock:
                    p, peak[0] = max(peak[0], r), r
                step = msg.split(": ", 1)[1].rsplit(" (", 1)[0]
                print(json.dumps({"step": step, "seconds": now - last[0], "rss_mb": r, "peak_mb": p}), flush=True)
                last[0] = now

    log = logging.getLogger("icsgeo")
    log.setLevel(logging.INFO)
    log.addHandler(Steps())
    from icsgeo import build_index

    path = build_index(progress=False)
    print(json.dumps({"step": "total", "seconds": time.perf_counter() - t0, "path": str(path)}), flush=True)


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------

def compare(new: Path, old: Path) -> int:
    """Print how the two index files differ; return the number of differing rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fn, fo = pq.ParquetFile(new), pq.ParquetFile(old)
    sn, so = fn.schema_arrow, fo.schema_arrow
    report("schema (names and types)", "identical" if sn.equals(so, check_metadata=False) else f"DIFFERS: {sn} vs {so}")
    mn = {k: v for k, v in (sn.metadata or {}).items()}
    mo = {k: v for k, v in (so.metadata or {}).items()}
    short = {k: v[:120] for k, v in mn.items()}
    report("metadata (vintage, notes, made_from)", f"identical: {short}" if mn == mo else
           f"DIFFERS: {short} vs {dict((k, v[:120]) for k, v in mo.items())}")
    groups_same = fn.metadata.num_row_groups == fo.metadata.num_row_groups
    stats_same = groups_same
    col = sn.get_field_index("postcode")
    if groups_same:
        for g in range(fn.metadata.num_row_groups):
            a, b = fn.metadata.row_group(g), fo.metadata.row_group(g)
            stats_same &= a.num_rows == b.num_rows and a.column(col).statistics == b.column(col).statistics
    report("row groups (count, rows, postcode min/max statistics)",
           f"identical ({fn.metadata.num_row_groups} groups)" if stats_same else
           f"DIFFER ({fn.metadata.num_row_groups} vs {fo.metadata.num_row_groups} groups)")
    tn, to = fn.read(), fo.read()
    if tn.num_rows != to.num_rows or tn.column_names != to.column_names:
        report("rows", f"DIFFER: {tn.num_rows:,} vs {to.num_rows:,} rows")
        return max(tn.num_rows, to.num_rows)
    differ = pa.array(np.zeros(tn.num_rows, dtype=bool))
    by_column = {}
    for name in tn.column_names:
        a, b = tn.column(name).combine_chunks(), to.column(name).combine_chunks()
        if a.type != b.type:  # said by the schema line: compare the values as text
            a, b = a.cast(pa.large_string()), b.cast(pa.large_string())
        if pa.types.is_null(a.type):  # no value on either side
            d = pa.array(np.zeros(len(a), dtype=bool))
        else:
            unequal = pc.fill_null(pc.not_equal(a, b), True)  # a null on one side only differs
            d = pc.and_(unequal, pc.invert(pc.and_(pc.is_null(a), pc.is_null(b))))
        by_column[name] = pc.sum(d).as_py() or 0
        differ = pc.or_(differ, d)
    english = pc.fill_null(pc.starts_with(tn.column("lsoa_code").combine_chunks(), "E01"), False)
    n_english = pc.sum(english).as_py()
    n_differ = pc.sum(differ).as_py() or 0
    n_english_differ = pc.sum(pc.and_(differ, english)).as_py() or 0
    report("rows compared (every postcode of the index, every column)", f"{tn.num_rows:,} rows x {tn.num_columns} columns")
    report("English postcodes among them (an LSOA E01…)", f"{n_english:,}")
    report("differing rows (any column)", f"{n_differ:,} (English {n_english_differ:,})", goal="0")
    if n_differ:
        print("  differing values by column:", {k: v for k, v in by_column.items() if v})
    return n_differ


# ---------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="cold and warm builds of each code (default 3)")
    ap.add_argument("--base", type=Path, default=ROOT.parent / "base-138bc73",
                    help="a checkout of the code before the bounded build (default ../base-138bc73)")
    ap.add_argument("--no-base", action="store_true", help="skip the base builds (and the comparison)")
    ap.add_argument("--no-compare", action="store_true", help="skip the comparison of the two indexes")
    ap.add_argument("--no-where", action="store_true", help="skip the cold `icsgeo where S1 2HE`")
    ap.add_argument("--step-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step_child:
        return step_child()
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    with_base = not args.no_base
    if with_base and not (args.base / "icsgeo" / "__init__.py").is_file():
        sys.exit(f"no base checkout at {args.base} (git worktree add {args.base} 138bc73), or give --no-base")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; code {ROOT}"
          + (f"; base {args.base}" if with_base else ""))
    caches: list[str] = []

    def fresh() -> str:
        caches.append(tempfile.mkdtemp(prefix="icsgeo-build-"))
        return caches[-1]

    snapshot = Path(fresh())  # the code measured: this tree as it is now
    for part in ("icsgeo", "boundaries"):
        shutil.copytree(ROOT / part, snapshot / part, ignore=shutil.ignore_patterns("__pycache__"))
    base = args.base.resolve()
    os.chdir(fresh())  # not the repository: `python -m` would import its icsgeo first
    for label, where in (("new", snapshot), ("base", base)) if with_base else (("new", snapshot),):
        got = subprocess.run([sys.executable, "-c", "import icsgeo; print(icsgeo.__file__)"], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": str(where)}).stdout.strip()
        if not got.startswith(str(where)):
            sys.exit(f"the {label} code would be imported from {got}, not {where}")
        print(f"{label} code: {got}")
    try:
        print(f"\n== cold: {' '.join(BUILD[1:])} on an empty cache, {args.runs} runs"
              + (" alternating with the base code" if with_base else ""), flush=True)
        new_runs, base_runs, new_cache, base_cache = [], [], None, None
        for i in range(args.runs):
            cache = fresh()
            wall, peak, code = run(BUILD, env_for(cache, snapshot))
            print(f"  run {i + 1}: {wall:.1f} s, peak {peak:,.0f} MB (exit {code})", flush=True)
            new_runs.append((wall, peak))
            new_cache = new_cache or cache
            if with_base:
                cache = fresh()
                wall, peak, code = run(BUILD, env_for(cache, base))
                print(f"  base run {i + 1}: {wall:.1f} s, peak {peak:,.0f} MB (exit {code})", flush=True)
                base_runs.append((wall, peak))
                base_cache = base_cache or cache
        cold = statistics.median(w for w, _ in new_runs)
        peak = max(p for _, p in new_runs)
        base_cold = statistics.median(w for w, _ in base_runs) if base_runs else None
        base_peak = max(p for _, p in base_runs) if base_runs else None
        ratio = (lambda a, b: f" = {a / b:.2f}x base") if with_base else (lambda a, b: "")
        report(f"cold build, median of {args.runs}", f"{cold:.1f} s" + (ratio(cold, base_cold) if with_base else ""),
               f"{base_cold:.1f} s" if with_base else "", f"≤ {GOALS['cold']:.0f} s")
        report(f"cold build, peak RSS (largest of {args.runs})", f"{peak:,.0f} MB" + (ratio(peak, base_peak) if with_base else ""),
               f"{base_peak:,.0f} MB" if with_base else "", "≤ 2 GB (2,048 MB)")

        print("\n== per step: one more cold build, build_index's steps in one process", flush=True)
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--step-child"], env={**os.environ, **env_for(fresh(), snapshot)},
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            s = json.loads(line)
            if s["step"] == "total":
                report("per-step build, total", f"{s['seconds']:.1f} s")
            else:
                report(f"step: {s['step']}", f"{s['seconds']:.1f} s, RSS at its end {s['rss_mb']:,.0f} MB, peak {s['peak_mb']:,.0f} MB")

        print(f"\n== warm: the same command, the index present (inputs re-verified), {args.runs} runs", flush=True)
        warm = [run(BUILD, env_for(new_cache, snapshot)) for _ in range(args.runs)]
        base_warm = [run(BUILD, env_for(base_cache, base)) for _ in range(args.runs)] if with_base else []
        w = statistics.median(r[0] for r in warm)
        bw = statistics.median(r[0] for r in base_warm) if base_warm else None
        report(f"warm build, median of {args.runs}", f"{w:.2f} s, peak {max(r[1] for r in warm):,.0f} MB",
               f"{bw:.2f} s" if bw is not None else "", f"≤ {GOALS['warm']:.0f} s")

        if not args.no_where:
            print("\n== a user's first `icsgeo where S1 2HE` (empty cache)", flush=True)
            cache = fresh()
            wall, p, code = run([*ICSGEO, "where", "S1 2HE"], env_for(cache, snapshot))
            same = index_file(cache).name == index_file(new_cache).name
            report("first where S1 2HE, cold", f"{wall:.1f} s, peak {p:,.0f} MB (exit {code}); "
                   + ("builds the same index as `index build`" if same else "builds ANOTHER index than `index build`"))

        if with_base and not args.no_compare:
            print("\n== the new index against the base build's", flush=True)
            compare(index_file(new_cache), index_file(base_cache))
    finally:
        for c in caches:
            shutil.rmtree(c, ignore_errors=True)

    print("\n| figure | measured | base (138bc73) | goal |\n|---|---|---|---|")
    for name, value, base, goal in ROWS:
        print(f"| {name} | {value} | {base} | {goal} |")


if __name__ == "__main__":
    main()
