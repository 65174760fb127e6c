"""The neighbourhood rules, on frames: which practices count, the registrations plurality, one answer
per LSOA (plurality, else modelled, else unassigned), the per-PCN table and the dissolved footprints.

See :mod:`icsgeo.neighbourhoods` for the methods; every function here takes frames and returns frames.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from ..areas import dissolve
from ..settings import WORKING_CRS

__all__ = ["restrict", "real", "plurality", "assign_lsoas", "pcn_attributes", "footprint_method", "pcn_table", "dissolve_footprints"]


def restrict(assignment: pd.DataFrame, lsoa_codes: Iterable[str] | None) -> pd.DataFrame:
    """The rows of an LSOA assignment for ``lsoa_codes`` (all of them when None); codes the
    assignment does not hold are an error listing a few."""
    if lsoa_codes is None:
        return assignment
    wanted = pd.Index(pd.Series(list(lsoa_codes), dtype="string").unique())
    unknown = wanted.difference(pd.Index(assignment["lsoa21_code"]))
    if len(unknown):
        raise ValueError(
            f"{len(unknown)} of the lsoa_codes are not English LSOA 2021 codes, e.g. {list(unknown[:5])}; "
            f"pass codes of the LSOA lookup ({len(assignment):,} English LSOAs)"
        )
    return assignment[assignment["lsoa21_code"].isin(wanted)].reset_index(drop=True)


def real(practices: pd.DataFrame) -> pd.Series:
    """Practices in a real PCN (not the ``U`` "Unallocated" pseudo-PCN, not blank)."""
    in_pcn = practices["pcn_code"].notna() & (practices["pcn_code"] != "U")
    if "is_unallocated" in practices:
        in_pcn &= ~practices["is_unallocated"].astype(bool)
    return in_pcn.fillna(False).astype(bool)



def plurality(registrations: pd.DataFrame, practices: pd.DataFrame) -> pd.DataFrame:
    """Per LSOA with patients at real-PCN practices: ``lsoa21_code, pcn_code, confidence, patients,
    runner_up_pcn_code, runner_up_share``. Ties go to the lowest PCN code."""
    in_pcns = practices.loc[real(practices), ["practice_code", "pcn_code"]]
    regs = registrations.loc[registrations["patients"] > 0, ["lsoa21_code", "practice_code", "patients"]]
    regs = regs.merge(in_pcns, on="practice_code", how="inner")
    by_pcn = regs.groupby(["lsoa21_code", "pcn_code"], as_index=False)["patients"].sum()
    by_pcn = by_pcn.sort_values(["lsoa21_code", "patients", "pcn_code"], ascending=[True, False, True], kind="stable")
    rank = by_pcn.groupby("lsoa21_code").cumcount().to_numpy()
    total = by_pcn.groupby("lsoa21_code")["patients"].sum()
    win = by_pcn[rank == 0].set_index("lsoa21_code")
    runner = by_pcn[rank == 1].set_index("lsoa21_code")
    out = pd.DataFrame(
        {
            "pcn_code": win["pcn_code"],
            "confidence": win["patients"] / total.reindex(win.index),
            "patients": total.reindex(win.index),
            "runner_up_pcn_code": runner["pcn_code"].reindex(win.index),
            "runner_up_share": runner["patients"].reindex(win.index) / total.reindex(win.index),
        }
    )
    return out.rename_axis("lsoa21_code").reset_index()



def assign_lsoas(
    lsoas: pd.DataFrame,
    practices: pd.DataFrame,
    plurality: pd.DataFrame | None,
    modelled: pd.DataFrame,
) -> pd.DataFrame:
    """One row per LSOA of ``lsoas``: the plurality answer, else the modelled one, else unassigned.

    ``plurality`` None means the modelled method for every LSOA (``patients`` is then <NA>).
    """
    out = lsoas[["lsoa21_code"]].reset_index(drop=True)
    model = modelled.drop_duplicates("lsoa21_code").set_index("lsoa21_code").reindex(out["lsoa21_code"])
    for c in ("runner_up_pcn_code", "runner_up_share"):
        if c not in model:
            model[c] = pd.NA
    if plurality is None:
        reg = pd.DataFrame(index=out["lsoa21_code"], columns=["pcn_code", "confidence", "patients", "runner_up_pcn_code",
                                                               "runner_up_share"])
    else:
        reg = plurality.set_index("lsoa21_code").reindex(out["lsoa21_code"])
    by_reg = reg["pcn_code"].notna().to_numpy(dtype=bool)
    by_model = ~by_reg & model["pcn_code"].notna().to_numpy(dtype=bool)

    def pick(col: str) -> np.ndarray:
        return np.where(by_reg, reg[col].astype(object).to_numpy(), model[col].astype(object).to_numpy())

    out["pcn_code"] = pd.array(np.where(by_reg | by_model, pick("pcn_code"), None), dtype="string")
    out["method"] = pd.array(np.select([by_reg, by_model], ["registrations", "modelled"], "unassigned"), dtype="string")
    out["confidence"] = pd.to_numeric(pd.Series(np.where(by_reg | by_model, pick("confidence"), np.nan)), errors="coerce").astype("float64")
    if plurality is None:
        out["patients"] = np.nan
    else:
        out["patients"] = pd.to_numeric(reg["patients"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    runner = np.where(by_reg | by_model, pick("runner_up_pcn_code"), None)
    out["runner_up_pcn_code"] = pd.array(pd.Series(runner).where(pd.notna(runner), None), dtype="string")
    share = pd.to_numeric(pd.Series(np.where(by_reg | by_model, pick("runner_up_share"), np.nan)), errors="coerce")
    out["runner_up_share"] = share.astype("float64").where(out["runner_up_pcn_code"].notna().to_numpy())
    names = pcn_attributes(practices, ["pcn_name"])
    out = out.merge(names, on="pcn_code", how="left")
    out["pcn_name"] = out["pcn_name"].astype("string")
    return out


def pcn_attributes(practices: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``pcn_code`` + the mode of each column over the PCN's practices (ties: the first in code order)."""
    in_pcns = practices[real(practices)]
    out = pd.DataFrame({"pcn_code": pd.Series(in_pcns["pcn_code"].unique(), dtype="string")})
    for col in columns:
        counts = in_pcns.groupby(["pcn_code", col], as_index=False).size()
        counts = counts.sort_values(["pcn_code", "size", col], ascending=[True, False, True], kind="stable")
        out = out.merge(counts.drop_duplicates("pcn_code")[["pcn_code", col]], on="pcn_code", how="left")
    return out


def footprint_method(methods: pd.Series, groups: pd.Series) -> pd.Series:
    """Per group: ``registrations`` or ``modelled`` when all its LSOAs share it, else ``mixed``."""
    by = pd.DataFrame({"g": groups, "m": methods}).groupby("g")["m"]
    first, distinct = by.first(), by.nunique()
    return first.where(distinct == 1, "mixed").astype("string")


def pcn_table(
    practice_map: pd.DataFrame,
    assignment: pd.DataFrame,
    registrations: pd.DataFrame | None,
    population: pd.DataFrame,
) -> pd.DataFrame:
    """One row per real PCN of ``practice_map`` (see :func:`icsgeo.neighbourhoods.neighbourhood_table`)."""
    in_pcns = practice_map[real(practice_map)]
    cols = ["pcn_name", "sicbl_code", "sicbl_ods_code", "icb_code", "icb_ods_code"]
    out = pcn_attributes(practice_map, [c for c in cols if c in practice_map])
    members = in_pcns.sort_values("practice_code").groupby("pcn_code")["practice_code"]
    out = out.merge(members.size().rename("practices").reset_index(), on="pcn_code", how="left")
    out = out.merge(members.agg(";".join).rename("practice_codes").reset_index(), on="pcn_code", how="left")

    lsoas = assignment[assignment["pcn_code"].notna()].merge(population, on="lsoa21_code", how="left")
    foot = lsoas.groupby("pcn_code").agg(lsoas=("lsoa21_code", "size"), footprint_population=("population", "sum"))
    foot["method"] = footprint_method(lsoas["method"], lsoas["pcn_code"])
    out = out.merge(foot.reset_index(), on="pcn_code", how="left")
    out["lsoas"] = out["lsoas"].fillna(0).astype("int64")
    out["footprint_population"] = out["footprint_population"].fillna(0).astype("int64")

    if registrations is None:
        out["registered_patients"] = np.nan
        out["coverage"] = np.nan
    else:
        regs = registrations.merge(in_pcns[["practice_code", "pcn_code"]], on="practice_code", how="inner")
        listed = regs.groupby("pcn_code")["patients"].sum(min_count=1)
        home = regs.merge(assignment[["lsoa21_code", "pcn_code"]], on="lsoa21_code", how="inner", suffixes=("", "_lsoa"))
        inside = home.loc[home["pcn_code"] == home["pcn_code_lsoa"]].groupby("pcn_code")["patients"].sum()
        out["registered_patients"] = out["pcn_code"].map(listed).astype("float64")
        out["coverage"] = (out["pcn_code"].map(inside).astype("float64").fillna(0.0) / out["registered_patients"]).astype("float64")
    order = ["pcn_code", *cols, "practices", "practice_codes", "registered_patients", "lsoas",
             "footprint_population", "coverage", "method"]  # fmt: skip
    out = out.reindex(columns=order).sort_values("pcn_code", kind="stable").reset_index(drop=True)
    for c in ("pcn_code", *cols, "practice_codes", "method"):
        out[c] = out[c].astype("string")
    return out


def dissolve_footprints(gdf):
    """``gdf``: one row per LSOA with ``pcn_code, pcn_name, method, confidence, population, geometry``
    (+ the date columns). Returns one row per PCN (see :func:`icsgeo.neighbourhoods.footprints`)."""
    import geopandas
    import shapely

    cols = ["pcn_code", "pcn_name", "method", "lsoas", "confidence", "footprint_population", "parts",
            "contiguous", "registrations_date", "practice_map_date", "geometry"]  # fmt: skip
    g = gdf[gdf["pcn_code"].notna() & gdf.geometry.notna()].copy()
    if g.empty:
        return geopandas.GeoDataFrame(pd.DataFrame(columns=cols), geometry="geometry", crs=gdf.crs or WORKING_CRS)
    g["population"] = g["population"].astype("float64").fillna(0.0)
    g["_wconf"] = g["confidence"] * g["population"]
    by = g.groupby("pcn_code")
    attrs = pd.DataFrame(
        {
            "pcn_name": by["pcn_name"].first(),
            "method": footprint_method(g["method"], g["pcn_code"]),
            "lsoas": by.size(),
            "confidence": by["_wconf"].sum() / by["population"].sum().replace(0.0, np.nan),
            "footprint_population": by["population"].sum().round().astype("int64"),
        }
    )
    for c in ("registrations_date", "practice_map_date"):
        attrs[c] = by[c].first() if c in g else pd.NA
    shapes = dissolve(g, "pcn_code")
    out = attrs.join(shapes, how="inner").rename_axis("pcn_code").reset_index()
    out = geopandas.GeoDataFrame(out, geometry="geometry", crs=g.crs)
    out["parts"] = shapely.get_num_geometries(out.geometry.values).astype("int64")
    out["contiguous"] = out["parts"] == 1
    out = out[cols].sort_values("pcn_code", kind="stable").reset_index(drop=True)
    out.attrs["dissolve"] = shapes.attrs.get("dissolve")
    return out

