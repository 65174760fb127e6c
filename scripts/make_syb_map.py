#!/usr/bin/env python3
"""Reproduce the King's Fund "Map 2" both ways: South Yorkshire and Bassetlaw as in 2021 (5 places)
and NHS South Yorkshire ICB today (4 places), as a self-contained HTML page and a report PNG.

    ICSGEO_DATA_DIR=../shared/data python scripts/make_syb_map.py [--out out/] [--readme-png docs/syb.png]

Prints what it drew. ``--readme-png`` also writes a small copy of today's figure for the README.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from icsgeo import draw

MAPS = [
    ("south-yorkshire-and-bassetlaw-2021", None, "syb-2021"),
    ("South Yorkshire", "2026", "south-yorkshire-2026"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out", help="output folder (default: out/)")
    ap.add_argument("--readme-png", help="also write a reduced copy of today's PNG here (e.g. docs/syb.png)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for system, vintage, stem in MAPS:
        t = time.perf_counter()
        r = draw(system, vintage=vintage, output=out / f"{stem}.html", png=out / f"{stem}.png")
        print(f"{stem}: {r.places} places, {r.neighbourhoods} neighbourhoods, {r.practices} practices; "
              f"{r.html} {r.html_bytes / 1e6:.2f} MB; {r.png}; {time.perf_counter() - t:.1f} s")
    if args.readme_png:
        from PIL import Image

        img = Image.open(out / "south-yorkshire-2026.png").convert("RGB")
        img.thumbnail((1200, 1200))
        dest = Path(args.readme_png)
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.quantize(colors=64).save(dest, optimize=True)
        print(f"README picture: {dest} ({dest.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
