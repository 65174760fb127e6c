"""Measured accuracy of icsgeo's answers, with the data each figure was made from.

    ICSGEO_DATA_DIR=../shared/data python scripts/accuracy.py [--only 1,6]

1. postcode -> LAD: the LSOA found by point in polygon (the ``lsoa_polygons`` role: the finest LSOA
   polygons present, 20 m BGC in the mirror), before and after icsgeo's "nearest LSOA in the official
   LAD" correction, against Code-Point Open's own LAD;
2. LSOA -> ICB: icsgeo's system per LSOA against the ONS lookup (identical by construction) and,
   independently, the LSOA population-weighted centroid in the ICB boundaries (2023 and 2026);
3. modelled vs registration PCN: the balanced gravity model fitted on one half of the 42 ICBs and
   scored on the other (both ways), on the unchanged LSOAs, July 2023 registrations and the ePCN
   membership as at 2023-07-01; then the shipped model on the 2026-01 practice map (what users get);
4. practice location vs ODS Sub-ICB Location (``outside_ods_sicbl``);
5. dated PCN membership against Sheffield's own network lookup of May 2021;
6. the LSOA of every located English postcode against plain point in polygon on the 20 m (BGC) LSOA
   polygons (the rest explained), and what changed from the answers made on the 200 m (BSC) ones:
   postcodes whose LSOA, and whose PCN neighbourhood, changed.

Reads the data mirror only; writes nothing but icsgeo's cache. Takes 1-3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's icsgeo, installed or not

import icsgeo  # noqa: E402
from icsgeo import geography, practices, read  # noqa: E402
from icsgeo import neighbourhoods as nb  # noqa: E402
from icsgeo.areas import lsoa_base  # noqa: E402
from icsgeo.locate import postcode_table  # noqa: E402
from icsgeo.neighbourhoods import gravity, rules  # noqa: E402

T0 = time.time()
SEED_SAMPLE = 20240701  # postcode sample
SEED_SPLIT = 42  # ICB halves (the study's split)
AS_AT = pd.Timestamp("2023-07-01")
MAP = "gp-practice-map-2026-01"
HEADLINES: list[tuple[str, str]] = []
TIMES: dict[str, float] = {}


def dataset(*ids: str) -> str:
    cat = icsgeo.catalogue()
    return "; ".join(f"{i} ({cat.get(i).date})" for i in ids)


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def polygons_id() -> str:
    """The dataset playing the ``lsoa_polygons`` role now (the finest LSOA polygons present)."""
    from icsgeo.sources.inputs import dataset as role_dataset

    return role_dataset(icsgeo.catalogue().role("lsoa_polygons")).id


def headline(name: str, value: str) -> None:
    HEADLINES.append((name, value))


def section(title: str) -> float:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}", flush=True)
    return time.time()


# ---------------------------------------------------------------------------------------------
# 1. postcode -> LAD
# ---------------------------------------------------------------------------------------------


def postcode_lad() -> None:
    t = section("1. Postcode -> LAD: LSOA of the postcode's point vs Code-Point Open's own LAD")
    print("data:", dataset("codepoint-open-2025-10", polygons_id(), "lsoa21-ward-lad-2024"))
    idx = postcode_table()
    cp = idx[(idx["source"] == "postcodes") & idx["has_location"].fillna(False).astype(bool)]
    cp = cp[cp["lad_code"].str.startswith("E").fillna(False)]
    n_all = int((idx["source"] == "postcodes").sum())
    print(f"Code-Point postcodes: {n_all:,}; with a location and an English LAD: {len(cp):,}")
    # LSOA 2021 -> LAD (2024 codes, England and Wales), carried forward to Code-Point's (2025) codes
    lsoa_lad = read("lsoa21-ward-lad-2024").set_index("lsoa21_code")["lad_code"]
    newer = {old: new for new, old in icsgeo.catalogue().code_changes.get("lad", {}).items()}
    print(f"LAD code changes applied (2024 -> Code-Point): {newer}")
    truth = cp["lad_code"].to_numpy(dtype=object)
    rng = np.random.default_rng(SEED_SAMPLE)
    sample = rng.choice(len(cp), size=min(100_000, len(cp)), replace=False)
    for column, label in (("spatial_lsoa21_code", "spatial (point in polygon, before the LAD correction)"),
                          ("lsoa21_code", "final answer (after 'nearest LSOA in the official LAD')")):  # fmt: skip
        lad = cp[column].map(lsoa_lad).map(lambda c: newer.get(c, c) if isinstance(c, str) else c)
        got = lad.to_numpy(dtype=object)
        ok = got == truth
        none = pd.isna(got)
        print(f"  {label}:")
        print(f"    agree {ok.sum():,} of {len(ok):,} = {pct(ok.mean())}; disagree {(~ok & ~none).sum():,}; "
              f"no LSOA {none.sum():,}")  # fmt: skip
        print(f"    random sample of {len(sample):,} (seed {SEED_SAMPLE}): {pct(ok[sample].mean())}")
        short = "spatial" if column.startswith("spatial") else "final"
        headline(f"postcode->LAD {short} (all {len(ok):,})", pct(ok.mean()))
        headline(f"postcode->LAD {short} (100k sample)", pct(ok[sample].mean()))
        if column.startswith("spatial"):
            bad = cp.loc[~ok & ~none, "lad_code"].value_counts().head(5)
            print("    most disagreements, by Code-Point LAD:", ", ".join(f"{k} {v:,}" for k, v in bad.items()))
    moved = cp["lsoa_method"].value_counts()
    print("  how the final LSOA was found:", ", ".join(f"{k} {v:,}" for k, v in moved.items()))
    TIMES["1 postcode->LAD"] = time.time() - t


# ---------------------------------------------------------------------------------------------
# 2. LSOA -> ICB
# ---------------------------------------------------------------------------------------------


def _centroid_in(systems, lsoas: pd.DataFrame) -> pd.Series:
    """The code of the boundary holding each LSOA's population-weighted centroid (<NA> if none)."""
    import geopandas

    pts = geopandas.GeoDataFrame(lsoas[["lsoa21_code"]].reset_index(drop=True),
                                 geometry=geopandas.points_from_xy(lsoas["easting"], lsoas["northing"]),
                                 crs=systems.crs)  # fmt: skip
    hit = geopandas.sjoin(pts, systems[["code", "geometry"]], how="left", predicate="within")
    hit = hit[~hit.index.duplicated()]
    return pd.Series(hit["code"].to_numpy(), index=hit["lsoa21_code"].to_numpy())


def lsoa_icb() -> None:
    t = section("2. LSOA -> ICB: icsgeo vs the ONS lookup, and LSOA centroids in the ICB boundaries")
    print("data:", dataset("lsoa21-sicbl-icb-lad-2024", "lsoa21-pwc", "icb-2023", "icb-2026", "gp-practice-map-2026-08"))
    lookup = read("lsoa21-sicbl-icb-lad-2024").set_index("lsoa21_code")["icb_code"]
    base = lsoa_base()
    g23 = geography("2023").lsoas.set_index("lsoa21_code")["system_code"]
    same = (g23 == lookup.reindex(g23.index)).to_numpy()
    print(f"  2023: icsgeo system vs lookup icb_code: {same.sum():,} of {len(same):,} = {pct(same.mean())} "
          "(by construction: vintage 2023 IS this lookup, LSOA -> Sub-ICB Location -> ICB)")  # fmt: skip
    headline("LSOA->ICB 2023 vs ONS lookup (by construction)", pct(same.mean()))
    spatial = _centroid_in(read("icb-2023"), base)
    ok = (spatial.reindex(lookup.index) == lookup).fillna(False).to_numpy(dtype=bool)
    outside = spatial.reindex(lookup.index).isna().sum()
    print(f"  2023 spatial: centroid in icb-2023 polygon vs lookup: {ok.sum():,} of {len(ok):,} = {pct(ok.mean())} "
          f"({outside} centroids in no polygon)")  # fmt: skip
    headline("LSOA->ICB 2023 centroid-in-polygon vs lookup", pct(ok.mean()))
    g26 = geography("2026").lsoas.set_index("lsoa21_code")
    print("  2026 link used per LSOA:", ", ".join(f"{k} {v:,}" for k, v in g26["place_link"].value_counts(dropna=False).items()))
    spatial26 = _centroid_in(read("icb-2026"), base)
    sys26 = g26["system_code"]
    ok26 = (spatial26.reindex(sys26.index) == sys26).fillna(False).to_numpy(dtype=bool)
    print(f"  2026 spatial: icsgeo system (SICBL -> 2026 ICB via the 2026-08 practice map) vs centroid in icb-2026: "
          f"{ok26.sum():,} of {len(ok26):,} = {pct(ok26.mean())}")  # fmt: skip
    headline("LSOA->ICB 2026 icsgeo vs centroid-in-polygon", pct(ok26.mean()))
    if (~ok26).any():
        bad = pd.DataFrame({"icsgeo": sys26[~ok26], "polygon": spatial26.reindex(sys26.index)[~ok26]})
        print("    disagreements (icsgeo -> polygon):",
              ", ".join(f"{a} -> {b}: {n}" for (a, b), n in bad.value_counts(dropna=False).head(6).items()))  # fmt: skip
    TIMES["2 LSOA->ICB"] = time.time() - t


# ---------------------------------------------------------------------------------------------
# 3. modelled vs registration PCN
# ---------------------------------------------------------------------------------------------


def _practices_2023() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's definition: practices of the July 2023 registrations, PCN from the ePCN membership
    as at 2023-07-01, postcode and commissioner (Sub-ICB Location) from epraccur December 2023, list
    size = all their registered patients in July 2023 (any LSOA code)."""
    regs = read("gp-registrations-lsoa-2023-07")
    sizes = regs.groupby("practice_code")["patients"].sum().astype("float64")
    member = read("epcn-2024-10", "membership")
    member = member[(member["start_date"] <= AS_AT) & (member["end_date"].isna() | (member["end_date"] >= AS_AT))]
    member = member.sort_values(["practice_code", "start_date"]).drop_duplicates("practice_code", keep="last")
    ep = read("epraccur-2023-12").drop_duplicates("practice_code").set_index("practice_code")
    ods_to_gss = lsoa_base().drop_duplicates("sicbl_ods_code").set_index("sicbl_ods_code")["sicbl_code"]
    frame = pd.DataFrame({"practice_code": pd.Series(sizes.index, dtype="string")})
    frame["postcode"] = frame["practice_code"].map(ep["postcode"]).astype("string")
    frame["pcn_code"] = frame["practice_code"].map(member.set_index("practice_code")["pcn_code"]).astype("string")
    frame["sicbl_code"] = frame["practice_code"].map(ep["sicbl_ods_code"]).map(ods_to_gss).astype("string")
    located = nb.prepare_practices(frame, label="2023-07 practices", sizes=sizes)
    print(f"  practices in the July 2023 file {len(frame):,}; with a PCN on {AS_AT.date()} {frame['pcn_code'].notna().sum():,} "
          f"in {frame['pcn_code'].nunique():,} PCNs; located {located['easting'].notna().sum():,}")  # fmt: skip
    return regs, located


def _evaluation_frame():
    lk = read("lsoa11-lsoa21-2022")
    unchanged = pd.Index(lk.loc[(lk["change"] == "U") & lk["lsoa21_code"].str.startswith("E"), "lsoa21_code"].unique())
    base = lsoa_base()
    icb_names = read("lsoa21-sicbl-icb-lad-2024").drop_duplicates("icb_code").set_index("icb_code")["icb_name"]
    return unchanged, base, icb_names


def _predict(c, scores) -> np.ndarray:
    win, _ = gravity.pick(c, scores)
    return c.pcn_codes[c.pair_pcn[win]]


def modelled_pcn() -> None:
    t = section("3. Modelled vs registration PCN (held-out ICBs)")
    print("data:", dataset("gp-registrations-lsoa-2023-07", "epcn-2024-10", "epraccur-2023-12", "lsoa11-lsoa21-2022",
                           "lsoa21-pwc", "lsoa21-population-2021", "lsoa21-ward-lad-2024", "codepoint-open-2025-10"))  # fmt: skip
    unchanged, base, icb_names = _evaluation_frame()
    regs, prac = _practices_2023()
    # truth: the plurality PCN of each unchanged LSOA's registered patients (LSOA11 code = LSOA21 code)
    r = regs[regs["lsoa_code"].isin(unchanged)].rename(columns={"lsoa_code": "lsoa21_code"})
    truth = rules.plurality(r[["lsoa21_code", "practice_code", "patients"]], prac).set_index("lsoa21_code")
    print(f"  unchanged English LSOAs (LSOA11->21 change U): {len(unchanged):,}; with a plurality PCN: {len(truth):,}; "
          f"median winning share {truth['confidence'].median():.3f}")  # fmt: skip
    lsoas = nb.model_inputs()[0]
    c = gravity.candidates(lsoas, prac, gravity.GRAVITY_CANDIDATES)
    codes = lsoas["lsoa21_code"].to_numpy()[c.rows]
    ev = pd.Index(codes).isin(truth.index)
    true_pcn = truth["pcn_code"].reindex(codes).astype(object)
    true_pcn = true_pcn.where(true_pcn.notna(), "").to_numpy(dtype=object)  # "" matches no PCN
    icb = base.set_index("lsoa21_code")["icb23_code"].reindex(codes).to_numpy(dtype=object)
    pop = base.set_index("lsoa21_code")["population"].reindex(codes).to_numpy(dtype="float64")
    icbs = np.array(sorted(set(icb[ev])))
    perm = np.random.default_rng(SEED_SPLIT).permutation(icbs)
    half_a = np.isin(icb, perm[: len(icbs) // 2]) & ev
    half_b = np.isin(icb, perm[len(icbs) // 2 :]) & ev
    print(f"  ICB split (numpy default_rng({SEED_SPLIT}).permutation of the {len(icbs)} ICB 2023 codes): "
          f"half A {half_a.sum():,} LSOAs, half B {half_b.sum():,} LSOAs")  # fmt: skip

    def acc(pred, mask, weighted=False):
        ok = pred[mask] == true_pcn[mask]
        return float(np.average(ok, weights=pop[mask])) if weighted else float(ok.mean())

    # grid: distance exponent x offset x out-of-SICBL factor (LAD 0.3, ward 0.5 as shipped)
    grid = [gravity.Gravity(exponent=e, offset_km=o, other_sicbl=s)
            for e, o, s in itertools.product((2.5, 3.0, 3.5), (0.3, 0.8), (0.1, 0.2, 1.0))]  # fmt: skip
    tg = time.time()
    scores = {g: gravity.pcn_shares(c, gravity.gravity_shares(c, g)) for g in grid}
    preds = {g: _predict(c, s) for g, s in scores.items()}
    print(f"  grid of {len(grid)} gravity models (exponent 2.5/3/3.5 x offset 0.3/0.8 km x other-SICBL 0.1/0.2/1): "
          f"{time.time() - tg:.1f}s")  # fmt: skip
    fit_a = max(grid, key=lambda g: acc(preds[g], half_a))
    fit_b = max(grid, key=lambda g: acc(preds[g], half_b))

    def show(g):
        return f"exponent {g.exponent:g}, offset {g.offset_km:g} km, other SICBL {g.other_sicbl:g}"

    print(f"  fitted on A: {show(fit_a)} (A in-sample {pct(acc(preds[fit_a], half_a))})")
    print(f"  fitted on B: {show(fit_b)} (B in-sample {pct(acc(preds[fit_b], half_b))})")
    # smoothing weight fitted on the same training half, with that half's gravity model
    weights = (0.2, 0.35, 0.5)
    sm_a = {w: _predict(c, gravity.smooth(c, scores[fit_a], gravity.Smoothing(weight=w))) for w in weights}
    sm_b = {w: _predict(c, gravity.smooth(c, scores[fit_b], gravity.Smoothing(weight=w))) for w in weights}
    wa = max(weights, key=lambda w: acc(sm_a[w], half_a))
    wb = max(weights, key=lambda w: acc(sm_b[w], half_b))
    print(f"  smoothing weight fitted on A: {wa}, on B: {wb} (10 neighbours, exp(-d/600 m))")
    nearest = _predict(c, gravity.pcn_shares(c, gravity.nearest_shares(c)))
    oof = {
        "nearest practice": nearest,
        "balanced gravity": np.where(half_b, preds[fit_a], preds[fit_b]),
        "balanced gravity + smoothing": np.where(half_b, sm_a[wa], sm_b[wb]),
    }
    rows = []
    for name, p in oof.items():
        ok = p == true_pcn
        per = pd.Series(ok[ev]).groupby(icb[ev]).mean()
        rows.append({"model": name, "held-out B (fit A)": acc(p, half_b), "held-out A (fit B)": acc(p, half_a),
                     "England OOF": acc(p, ev), "England OOF pop-weighted": acc(p, ev, True),
                     "ICB min": per.min(), "ICB median": per.median(), "ICB max": per.max()})  # fmt: skip
        if name == "balanced gravity + smoothing":
            worst = per.sort_values().head(5)
            best_model_per = per
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.width", 200, "display.float_format", lambda x: f"{100 * x:.2f}%"):
        print(table.to_string())
    print(f"  (the nearest-practice row has no fitted parameters: held-out = plain agreement on that half; "
          f"{ev.sum():,} LSOAs evaluated)")  # fmt: skip
    print("  5 worst ICBs (out of fold, gravity + smoothing; nearest practice in brackets):")
    near_per = pd.Series((nearest == true_pcn)[ev]).groupby(icb[ev]).mean()
    n_per = pd.Series(ev[ev]).groupby(icb[ev]).size()
    for code, v in worst.items():
        print(f"    {code} {icb_names.get(code, '?'):<62} {pct(v)}  ({pct(near_per[code])}; {n_per[code]:,} LSOAs)")
    shipped = gravity.smooth(c, gravity.pcn_shares(c, gravity.gravity_shares(c, gravity.Gravity())), gravity.Smoothing())
    shipped_pred = _predict(c, shipped)
    print(f"  shipped defaults ({show(gravity.Gravity())}, smoothing {gravity.SMOOTHING_WEIGHT}) on this definition: "
          f"England {pct(acc(shipped_pred, ev))}, half B {pct(acc(shipped_pred, half_b))} "
          f"(the defaults were fitted on half A)")  # fmt: skip
    headline("PCN nearest practice (2023-07 ePCN, England)", pct(table.loc["nearest practice", "England OOF"]))
    headline("PCN gravity held-out B / A", f"{pct(table.loc['balanced gravity', 'held-out B (fit A)'])} / "
                                           f"{pct(table.loc['balanced gravity', 'held-out A (fit B)'])}")  # fmt: skip
    headline("PCN gravity England out-of-fold", pct(table.loc["balanced gravity", "England OOF"]))
    g_sm = table.loc["balanced gravity + smoothing"]
    headline("PCN gravity+smoothing held-out B / A", f"{pct(g_sm['held-out B (fit A)'])} / {pct(g_sm['held-out A (fit B)'])}")
    headline("PCN gravity+smoothing England OOF", pct(g_sm["England OOF"]))
    headline("PCN gravity+smoothing OOF pop-weighted", pct(g_sm["England OOF pop-weighted"]))
    headline("PCN gravity+smoothing ICB min/median/max",
             f"{pct(best_model_per.min())} / {pct(best_model_per.median())} / {pct(best_model_per.max())}")  # fmt: skip
    TIMES["3a held-out (2023-07 ePCN)"] = time.time() - t

    # --- what users get: the shipped model on the 2026-01 practice map, against the registrations method
    t = time.time()
    print(f"\n  With the {MAP} practice map (what users get): modelled vs the registrations method "
          f"(2023-07 national + 2025-10 QNC, grouped by the map's PCNs), unchanged LSOAs")  # fmt: skip
    print("  data:", dataset(MAP, "gp-registrations-lsoa-2023-07", "gp-registrations-lsoa-qnc-2025-10"))
    tm = time.time()
    mod = nb.neighbourhood_lsoas(MAP, "modelled")
    t_mod = time.time() - tm
    reg = nb.neighbourhood_lsoas(MAP, "registrations")
    j = reg.merge(mod, on="lsoa21_code", suffixes=("", "_m"))
    j = j[j["lsoa21_code"].isin(unchanged) & (j["method"] == "registrations")]
    agree = (j["pcn_code"] == j["pcn_code_m"]).to_numpy()
    jp = base.set_index("lsoa21_code")["population"].reindex(j["lsoa21_code"]).to_numpy(dtype="float64")
    lsoas26, prac26 = nb.model_inputs(MAP)
    c26 = gravity.candidates(lsoas26, prac26, gravity.GRAVITY_CANDIDATES)
    near26 = pd.Series(_predict(c26, gravity.pcn_shares(c26, gravity.nearest_shares(c26))), index=lsoas26["lsoa21_code"].to_numpy()[c26.rows])
    near_ok = (near26.reindex(j["lsoa21_code"]).to_numpy(dtype=object) == j["pcn_code"].to_numpy(dtype=object))
    grav26 = pd.Series(_predict(c26, gravity.pcn_shares(c26, gravity.gravity_shares(c26, gravity.Gravity()))),
                       index=lsoas26["lsoa21_code"].to_numpy()[c26.rows])  # fmt: skip
    grav_ok = (grav26.reindex(j["lsoa21_code"]).to_numpy(dtype=object) == j["pcn_code"].to_numpy(dtype=object))
    conf = j["confidence_m"].to_numpy()
    print(f"    {len(j):,} LSOAs: modelled (shipped, with smoothing) {pct(agree.mean())} "
          f"(pop-weighted {pct(np.average(agree, weights=jp))}); without smoothing {pct(grav_ok.mean())}; "
          f"nearest practice {pct(near_ok.mean())}")  # fmt: skip
    for lo, hi in ((0, 0.5), (0.5, 0.6), (0.6, 0.8), (0.8, 1.01)):
        m = (conf >= lo) & (conf < hi)
        print(f"    modelled confidence in [{lo}, {min(hi, 1)}): {m.sum():,} LSOAs ({pct(m.mean())}), agreement {pct(agree[m].mean())}")
    print(f"    neighbourhood_lsoas({MAP!r}, 'modelled'), England-wide: {t_mod:.1f}s (a cache hit if it was built before)")
    headline(f"PCN modelled vs registrations, {MAP}", pct(agree.mean()))
    headline(f"PCN nearest practice, {MAP}", pct(near_ok.mean()))
    TIMES["3b 2026-01 map"] = time.time() - t


# ---------------------------------------------------------------------------------------------
# 4. practice location vs ODS Sub-ICB Location
# ---------------------------------------------------------------------------------------------


def practice_sicbl() -> None:
    t = section("4. Practice location vs its ODS Sub-ICB Location (icsgeo.practices(geography('2026')))")
    g = geography("2026")
    print("data:", dataset(g.practice_map, "codepoint-open-2025-10", "nspl-latlong-2025-05", "lsoa21-sicbl-icb-lad-2024"))
    p = practices(g)
    located = p["location_sicbl_code"].notna()
    out = p["outside_ods_sicbl"].astype(bool)
    print(f"  practices {len(p):,}; located in an English LSOA {located.sum():,}; "
          f"outside_ods_sicbl {out.sum():,} = {pct(out.sum() / len(p))} of all ({pct(out[located].mean())} of located)")  # fmt: skip
    headline("practices outside their ODS SICBL", f"{out.sum():,} ({pct(out.sum() / len(p))})")
    # codes the LSOA lookup (April 2024) does not know: Sub-ICB Locations recoded in April 2026
    known = p["sicbl_code"].isin(lsoa_base()["sicbl_code"])
    recoded = out & ~known
    if recoded.any():
        codes = p.loc[recoded, ["sicbl_code", "sicbl_ods_code"]].value_counts()
        print(f"  of which {recoded.sum():,} are in Sub-ICB Locations whose code the April 2024 LSOA lookup does not know "
              f"(recoded in 2026: {', '.join(f'{a}/{b} {n}' for (a, b), n in codes.items())}); they are compared "
              f"across code vintages")  # fmt: skip
        real = out & known
        print(f"  comparable (both codes in the 2024 family): {real.sum():,} of {known.sum():,} = {pct(real.sum() / known.sum())}")
        headline("practices outside their ODS SICBL (same code vintage)", f"{real.sum():,} ({pct(real.sum() / known.sum())})")
    else:
        real = out
    names = lsoa_base().drop_duplicates("sicbl_code").set_index("sicbl_code")["sicbl_ods_code"]
    ex = p[real].copy()
    ex["location_sicbl_ods"] = ex["location_sicbl_code"].map(names)
    ex = ex.sort_values("registered_patients", ascending=False).head(10)
    print("  10 examples (largest list sizes first):")
    for r in ex.itertuples():
        size = f"{r.registered_patients:,.0f}" if pd.notna(r.registered_patients) else "?"
        print(f"    {r.practice_code} {str(r.practice_name)[:34]:<34} {r.postcode:<9} ODS SICBL {r.sicbl_ods_code:<6} "
              f"located in {r.location_sicbl_ods} ({r.lad_name}); {size} patients")  # fmt: skip
    TIMES["4 practice SICBL"] = time.time() - t


# ---------------------------------------------------------------------------------------------
# 5. Dated PCN membership against a council's own dated lookup
# ---------------------------------------------------------------------------------------------

LOCAL_LOOKUP = "local/sheffield_neighbourhoods_lsoa11_2021.csv"  # Sheffield CCG, 19 May 2021
LOCAL_DAY = "2021-05-19"


def dated_membership() -> None:
    """Sheffield's own LSOA -> PCN ("network") lookup of May 2021 against icsgeo's registration
    footprints, practices grouped as at that day (ePCN history) and as in today's practice map. The
    lookup names networks its own way, so each network is matched one-to-one to the PCN it shares most
    LSOAs with (the Hungarian assignment) and agreement is the share of LSOAs whose PCN is their
    network's match. Unchanged LSOAs (2011 = 2021) only; the lookup's UNASSIGNED rows left out."""
    from scipy.optimize import linear_sum_assignment

    t = section(f"5. Dated PCN membership vs Sheffield's own network lookup of {LOCAL_DAY}")
    data = icsgeo.get_settings().data_dir
    path = data / LOCAL_LOOKUP if data else None
    if path is None or not path.is_file():
        print(f"  skipped: {LOCAL_LOOKUP} is not in the data folder")
        return
    print("data:", LOCAL_LOOKUP, "(read in place),", dataset("epcn-2024-10", "gp-practice-map-2026-08", "lsoa11-lsoa21-2022"))
    own = pd.read_csv(path, dtype=str)
    lk = read("lsoa11-lsoa21-2022")
    m = own.merge(lk[lk["change"] == "U"], left_on="LSOA_CODE", right_on="lsoa11_code")
    m = m[m["NETWORK"] != "UNASSIGNED"]
    for label, kw in ((f"grouped as at {LOCAL_DAY} (ePCN history)", {"as_at": LOCAL_DAY}),
                      ("grouped by today's map (2026-08)", {})):
        pcn = nb.neighbourhood_lsoas(**kw).set_index("lsoa21_code")["pcn_code"].reindex(m["lsoa21_code"]).to_numpy()
        ct = pd.crosstab(m["NETWORK"].to_numpy(), pcn)
        r, c = linear_sum_assignment(-ct.to_numpy())
        agree = ct.to_numpy()[r, c].sum() / len(m)
        print(f"  {label}: {len(m)} LSOAs, {ct.shape[0]} networks, {ct.shape[1]} PCNs; agreement {pct(agree)}")
        headline(f"Sheffield lookup vs footprints {label.split(' (')[0]}", pct(agree))
    TIMES["5 dated membership"] = time.time() - t


# ---------------------------------------------------------------------------------------------
# 6. Finer LSOA polygons: the 20 m (BGC) LSOAs against the answers made on the 200 m (BSC) ones
# ---------------------------------------------------------------------------------------------

FINE = "lsoa21-bgc"
COARSE = "lsoa21-bsc"


def _plain_pip(e: np.ndarray, n: np.ndarray, polygons) -> pd.DataFrame:
    """Plain point in polygon, as an analyst would script it (geopandas.sjoin, ``intersects``: a point
    on a shared edge is in both polygons): one row per (point, polygon) pair, ``row, code``."""
    import geopandas

    pts = geopandas.GeoDataFrame({"row": np.arange(len(e))}, geometry=geopandas.points_from_xy(e, n), crs=polygons.crs)
    hit = geopandas.sjoin(pts, polygons[["code", "geometry"]], how="inner", predicate="intersects")
    return pd.DataFrame({"row": hit["row"].to_numpy(), "code": hit["code"].to_numpy(dtype=object)})


def _in_pairs(pairs: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
    """Whether each row's code is one of the polygons holding its point."""
    ok = np.zeros(len(codes), dtype=bool)
    rows = pairs["row"].to_numpy()
    ok[rows[pairs["code"].to_numpy(dtype=object) == codes[rows]]] = True
    return ok


def finer_polygons() -> None:
    """On every located English postcode (Code-Point Open with a grid reference): icsgeo's LSOA (the
    postcode table, built on the ``lsoa_polygons`` role with the official-LAD correction) against plain
    point in polygon on the 20 m LSOAs, the disagreements explained; then the answers made the same way
    on the 200 m LSOAs (the previous ``lsoa_polygons``) in this run, and how many postcodes changed LSOA
    and PCN neighbourhood. The neighbourhood of an LSOA is the one the index gives (the default
    vintage's geography, LSOA -> PCN footprint): the change counted is the postcode's LSOA moving."""
    import pyarrow as pa

    from icsgeo.index import answers
    from icsgeo.locate import lsoa_of_points

    t = section(f"6. Finer LSOA polygons: icsgeo's LSOA vs point in polygon on the 20 m ({FINE}) LSOAs, "
                f"and the change from the 200 m ({COARSE}) ones")  # fmt: skip
    used = polygons_id()
    print("data:", dataset("codepoint-open-2025-10", FINE, COARSE, "lsoa21-sicbl-icb-lad-2024"))
    print(f"  lsoa_polygons role ({', '.join(icsgeo.catalogue().role('lsoa_polygons').datasets)}): {used} is used")
    if used != FINE:
        print(f"  skipped: the postcode table is built on {used}, not {FINE} (is {FINE} in the data folder?)")
        return
    idx = postcode_table()
    cp = idx[(idx["source"] == "postcodes") & idx["has_location"].fillna(False).astype(bool)].reset_index(drop=True)
    e, n = cp["easting"].to_numpy(dtype="float64"), cp["northing"].to_numpy(dtype="float64")
    ours = cp["lsoa21_code"].astype(object).to_numpy(dtype=object)
    ours = np.where(pd.isna(ours), None, ours)
    method = cp["lsoa_method"].astype(object).fillna("no LSOA").to_numpy(dtype=object)
    total = len(cp)
    print(f"  located English postcodes (Code-Point Open with a grid reference): {total:,}")

    # (a) icsgeo's LSOA vs plain point in polygon on the 20 m polygons
    fine = read(FINE)
    tp = time.time()
    pairs = _plain_pip(e, n, fine)
    t_pip = time.time() - tp
    agree = _in_pairs(pairs, ours)
    inside = np.zeros(total, dtype=bool)
    inside[pairs["row"].to_numpy()] = True
    on_edge = int((pairs.groupby("row").size() > 1).sum())
    print(f"  plain point in polygon (geopandas.sjoin, intersects) on {FINE}: {t_pip:.1f}s; "
          f"{(~inside).sum():,} points in no polygon; {on_edge:,} on an edge shared by two or more")  # fmt: skip
    print(f"  (a) icsgeo's LSOA is the polygon holding the point (one of them, on a shared edge): "
          f"{agree.sum():,} of {total:,} = {pct(agree.mean())}")  # fmt: skip
    rest = pd.Series(method[~agree]).value_counts()
    why = {"nearest in official LAD": "official-LAD correction: the polygon holding the point is in another LAD",
           "nearest polygon": "the point is in no polygon (off the generalised coastline): the nearest LSOA",
           "no LSOA": "no LSOA within reach", "directory": "the postcode directory's LSOA"}  # fmt: skip
    print(f"      the other {(~agree).sum():,}, by how icsgeo found the LSOA:")
    for m, k in rest.items():
        print(f"        {m}: {k:,} ({pct(k / total)}) - {why.get(m, 'UNEXPLAINED')}")
    unexplained = int(sum(k for m, k in rest.items() if m not in why))
    spatial = cp["spatial_lsoa21_code"].astype(object).to_numpy(dtype=object)
    moved = method == "nearest in official LAD"
    moved_pip = _in_pairs(pairs, np.where(pd.isna(spatial), None, spatial)) & moved
    print(f"      official-LAD corrections whose LSOA before the correction is the point-in-polygon one: "
          f"{moved_pip.sum():,} of {moved.sum():,}; unexplained: {unexplained:,}")  # fmt: skip
    if moved.any():
        by_lad = cp.loc[moved, "lad_code"].value_counts().head(5)
        print("      most corrections, by Code-Point LAD:", ", ".join(f"{k} {v:,}" for k, v in by_lad.items()))
    headline(f"postcode LSOA = point in polygon on {FINE} (all {total:,})", pct(agree.mean()))
    headline("  of the rest: official-LAD corrections", f"{int(rest.get('nearest in official LAD', 0)):,}")
    headline("  of the rest: nearest LSOA (in no polygon)", f"{int(rest.get('nearest polygon', 0)):,}")

    # (b) the answers made the same way on the 200 m polygons, in this run
    tb = time.time()
    base = lsoa_base()
    coarse = lsoa_of_points(e, n, polygons=read(COARSE), lsoa_lads=base[["lsoa21_code", "lad_code"]],
                            lad_hint=cp["lad_code"].astype(object).to_numpy(dtype=object))  # fmt: skip
    before = coarse["lsoa21_code"].to_numpy(dtype=object)
    before = np.where(pd.isna(before), None, before)
    print(f"  the answers on {COARSE} (icsgeo.locate.lsoa_of_points with the official-LAD correction, as the "
          f"postcode table was built before): {time.time() - tb:.1f}s; their methods: "
          + ", ".join(f"{k} {v:,}" for k, v in coarse["lsoa_method"].value_counts().items()))  # fmt: skip
    was = _in_pairs(pairs, before)
    print(f"      before: their LSOA is the point-in-polygon one on {FINE} for {was.sum():,} = {pct(was.mean())} "
          f"(differs for {(~was).sum():,} = {pct((~was).mean())})")  # fmt: skip
    headline(f"  before: {COARSE} answers = point in polygon on {FINE}", pct(was.mean()))
    # the answers users get now, from the index, and the same LSOA -> neighbourhood table for the old LSOAs
    geo = icsgeo.geography()
    got = answers(pa.array(cp["postcode"].astype(object).to_numpy(dtype=object), pa.string()), geo.vintage).to_pandas()
    english = pd.Series(ours, dtype=object).str.startswith("E01").fillna(False).to_numpy(dtype=bool)
    index_lsoa = got["lsoa_code"].astype(object).to_numpy(dtype=object)
    assert (index_lsoa[english] == ours[english]).all() and pd.isna(index_lsoa[~english]).all(), \
        "the index's LSOAs are not the postcode table's"
    tiers = geo.tiers.dropna(subset=["lsoa21_code"]).set_index("lsoa21_code")
    after_nb = got["neighbourhood_code"].astype(object).fillna("").to_numpy(dtype=object)
    before_nb = pd.Series(before).map(tiers["neighbourhood_code"]).astype(object).fillna("").to_numpy(dtype=object)
    same_table = pd.Series(ours).map(tiers["neighbourhood_code"]).astype(object).fillna("").to_numpy(dtype=object)
    assert (same_table == after_nb).all(), "the index's neighbourhoods are not its LSOAs' (tiers) ones"
    lsoa_changed = ours != before
    nb_changed = after_nb != before_nb
    print(f"  (b) change from the {COARSE} answers (vintage {geo.vintage}, practice map {geo.practice_map}, "
          f"neighbourhoods by {geo.method}):")  # fmt: skip
    print(f"      LSOA changed: {lsoa_changed.sum():,} of {total:,} postcodes = {pct(lsoa_changed.mean())}")
    print(f"      PCN neighbourhood changed: {nb_changed.sum():,} = {pct(nb_changed.mean())} "
          f"(the LSOA -> neighbourhood table of the index, for the old and the new LSOA)")  # fmt: skip
    for col, label in (("sicbl_code", "Sub-ICB Location"), ("system_code", "system (ICB)")):
        new = got[col].astype(object).fillna("").to_numpy(dtype=object)
        old = pd.Series(before).map(tiers[col]).astype(object).fillna("").to_numpy(dtype=object)
        ch = new != old
        print(f"      {label} changed: {ch.sum():,} = {pct(ch.mean())}")
    print(f"      official-LAD corrections: {int((coarse['lsoa_method'] == 'nearest in official LAD').sum()):,} on {COARSE}, "
          f"{int(moved.sum()):,} on {FINE}")  # fmt: skip
    headline(f"postcode LSOA changed, {COARSE} -> {FINE}", f"{lsoa_changed.sum():,} ({pct(lsoa_changed.mean())})")
    headline(f"postcode PCN neighbourhood changed, {COARSE} -> {FINE}", f"{nb_changed.sum():,} ({pct(nb_changed.mean())})")
    TIMES["6 finer polygons"] = time.time() - t


SECTIONS = {"1": postcode_lad, "2": lsoa_icb, "3": modelled_pcn, "4": practice_sicbl, "5": dated_membership,
            "6": finer_polygons}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run (default: all)")
    args = ap.parse_args()
    chosen = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in SECTIONS]
    if unknown:
        ap.error(f"unknown sections {unknown}; sections: {', '.join(SECTIONS)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("ignore", category=FutureWarning)
    s = icsgeo.get_settings()
    print(f"command: ICSGEO_DATA_DIR={s.data_dir} python {shlex.join(sys.argv)}")
    print(f"icsgeo {icsgeo.__version__}; data: {s.data_dir}; cache: {s.cache_dir}")
    for k in chosen:
        SECTIONS[k]()
    section("Summary")
    width = max(len(k) for k, _ in HEADLINES)
    for k, v in HEADLINES:
        print(f"  {k:<{width}}  {v}")
    for k, v in TIMES.items():
        print(f"  {'time: ' + k:<{width}}  {v:.1f}s")
    print(f"  {'total run time':<{width}}  {time.time() - T0:.1f}s")


if __name__ == "__main__":
    main()
