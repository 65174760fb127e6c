"""Neighbourhood (Primary Care Network) footprints built from LSOA 2021 areas.

A PCN is a list of GP practices, not an area: its footprint has to be derived. icsgeo gives every one
of England's 33,755 LSOAs (2021) to exactly one PCN of a chosen practice map (the NHS practice -> PCN
file of a given month), and says how, how sure, and from which data dates.

Method ``"registrations"`` (the published precedent, Beaney et al. 2022, majority-LSOA)
    Registered patients by practice x LSOA are grouped by the PCN each practice belongs to **in the
    chosen practice map**; the LSOA goes to the PCN holding most of its patients (ties: the lowest PCN
    code), and ``confidence`` is that PCN's share of the LSOA's patients registered at practices in
    real PCNs of the map. Practices absent from the map (closed since the registration extract) and
    practices in the ``U`` "Unallocated" pseudo-PCN count for no PCN, neither in the numerator nor in
    the denominator. The registrations combine two extracts:

    * the national July 2023 file (LSOA **2011** codes), converted to LSOA 2021 with the ONS best-fit
      lookup: an unchanged (U) or merged (M) LSOA passes its patients to its single 2021 LSOA; a split
      (S) or irregular (X) LSOA shares them among its 2021 children in proportion to the children's
      Census 2021 population (so counts become fractional, kept as floats);
    * the October 2025 file for Staffordshire and Stoke-on-Trent (QNC, LSOA 2021 codes), which
      replaces every 2023 row of the practices it covers.

    Rows for pseudo-LSOAs (``NO2011``, ``EMPTY``…), Welsh, Scottish or Northern Irish areas, and
    codes the lookup does not know are left out of footprints but counted
    (:func:`lsoa_registrations` ``.attrs["excluded_patients"]``, and the log).
    An LSOA with no patients at real-PCN practices falls back to the modelled answer.

Method ``"modelled"`` (baseline, for data newer than the registrations or users without them)
    The LSOA goes to the PCN of the practice nearest its population-weighted centroid, among the
    map's real-PCN practices located by postcode (OS Code-Point Open, then the ONS NSPL), restricted
    to practices in the LSOA's own Sub-ICB Location when the map has practices there (else the
    nearest practice anywhere). ``confidence`` is the inverse-distance share of the winning PCN
    against the nearest other PCN (searched among the 64 nearest candidate practices)::

        confidence = (1/d1) / (1/d1 + 1/d2) = d2 / (d1 + d2)

    where d1 is the distance to the nearest practice and d2 the distance to the nearest practice of
    another PCN: 0.5 when two PCNs are equally near, towards 1 when the winner is much nearer, 1.0
    when no other PCN is a candidate. The scoring lives in :func:`_modelled` so that a better model can
    replace it.

An LSOA that neither method can claim (no registrations and no centroid or no located practice) is
kept with ``pcn_code`` <NA> and ``method == "unassigned"``: reported, never dropped. Every row and
table states the registration and practice-map dates it was made from.

>>> from icsgeo.neighbourhoods import neighbourhood_lsoas, footprints   # doctest: +SKIP
>>> a = neighbourhood_lsoas("gp-practice-map-2026-01")                  # doctest: +SKIP
>>> a["method"].value_counts()                                          # doctest: +SKIP
>>> footprints(lsoa_codes=a.loc[a.pcn_code == "U30215", "lsoa21_code"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import pandas as pd

from ._cache import cached_frame, sha256_file
from .catalogue import Dataset, catalogue
from .errors import DataFileMissingError, UnknownDatasetError
from .fetch import fetch
from .read import read
from .settings import WORKING_CRS

__all__ = [
    "METHODS",
    "lsoa_registrations",
    "neighbourhood_lsoas",
    "neighbourhood_table",
    "footprints",
    "unassigned_lsoas",
]

log = logging.getLogger("icsgeo")

#: The footprint methods: registrations (with a modelled fallback) or modelled only.
METHODS = ("registrations", "modelled")

_NATIONAL = "gp-registrations-lsoa-2023-07"
_QNC = "gp-registrations-lsoa-qnc-2025-10"
_LSOA11_21 = "lsoa11-lsoa21-2022"
_POPULATION = "lsoa21-population-2021"
_LSOA21 = "lsoa21-sicbl-icb-lad-2024"
_POLYGONS = "lsoa21-bsc"
_CENTROIDS = "lsoa21-pwc"
_CODEPOINT = "codepoint-open-2025-10"
_NSPL = "nspl-latlong-2025-05"
_REGISTRATION_INPUTS = (_NATIONAL, _QNC, _LSOA11_21, _POPULATION, _LSOA21)
_MODEL_INPUTS = (_LSOA21, _CENTROIDS, _CODEPOINT, _NSPL)

#: How many nearest practices the modelled method searches for a second PCN.
_K_NEAREST = 64
#: Separates Sub-ICB Locations in a third KD-tree axis (metres; far more than England is wide).
_SICBL_GAP = 1e7

_LSOA_COLUMNS = [
    "lsoa21_code", "pcn_code", "pcn_name", "method", "confidence", "patients", "runner_up_pcn_code",
    "registrations_date", "practice_map_date",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def lsoa_registrations(practice_map: str = "gp-practice-map-2026-01") -> pd.DataFrame:
    """Registered patients per (LSOA 2021, practice), English LSOAs only.

    Columns: ``lsoa21_code, practice_code, patients`` (float: split LSOAs share patients by population)
    and ``source`` (``"2023-07 national"`` or ``"2025-10 QNC"``). The QNC rows replace the 2023 rows
    of the practices they cover. Patients left out (pseudo-LSOAs, Welsh/Scottish/NI areas, codes the
    lookup does not know) are counted in ``.attrs["excluded_patients"]`` (by kind) and logged.

    ``practice_map`` is accepted for symmetry with the other functions and checked, but the
    registrations do not depend on it: practices are grouped into PCNs later.
    """
    _map_entry(practice_map)
    full = _load_registrations()
    eng = full["kind"] == "england"
    out = full.loc[eng, ["lsoa21_code", "practice_code", "patients", "source"]].reset_index(drop=True)
    excluded = full.loc[~eng].groupby("kind")["patients"].sum()
    out.attrs["excluded_patients"] = {str(k): float(v) for k, v in excluded.items()}
    out.attrs["registrations_date"] = _registrations_date()
    log.info(
        "registrations: %.0f patients in English LSOAs; excluded from footprints: %s",
        out["patients"].sum(),
        ", ".join(f"{k} {v:,.0f}" for k, v in out.attrs["excluded_patients"].items()) or "none",
    )
    return out


def neighbourhood_lsoas(practice_map: str = "gp-practice-map-2026-01", method: str = "registrations") -> pd.DataFrame:
    """Exactly one row per English LSOA 2021 (33,755): the PCN of ``practice_map`` it belongs to.

    Columns: ``lsoa21_code, pcn_code, pcn_name, method`` (``registrations``/``modelled``/
    ``unassigned``), ``confidence`` (winning share, see the module notes), ``patients`` (the LSOA's
    patients at real-PCN practices; <NA> for ``method="modelled"``), ``runner_up_pcn_code``,
    ``registrations_date`` (<NA> when no registrations were used) and ``practice_map_date``.
    Cached by the input files' sha256, the practice map and the method.
    """
    entry = _map_entry(practice_map)
    method = _check_method(method)
    inputs = _MODEL_INPUTS + (_REGISTRATION_INPUTS if method == "registrations" else ())
    key = {"practice_map": entry.id, "method": method, "inputs": _hashes((entry.id, *inputs))}
    return cached_frame("neighbourhoods.lsoas", key, lambda: _build_lsoas(entry, method))


def neighbourhood_table(practice_map: str = "gp-practice-map-2026-01", method: str = "registrations") -> pd.DataFrame:
    """One row per real PCN of ``practice_map`` (never the ``U`` pseudo-PCN).

    Columns: ``pcn_code, pcn_name, sicbl_code, sicbl_ods_code, icb_code, icb_ods_code`` (the mode over
    the PCN's practices), ``practices``, ``practice_codes`` (";"-joined), ``registered_patients`` (all
    patients registered at its practices in the registration data, any LSOA; <NA> if none),
    ``lsoas`` and ``footprint_population`` (Census 2021) of its footprint, ``coverage`` (share of its
    registered patients living in its footprint), ``method`` (``registrations``/``modelled``/
    ``mixed``; <NA> for a PCN with no footprint), ``registrations_date``, ``practice_map_date``.
    """
    entry = _map_entry(practice_map)
    method = _check_method(method)
    inputs = _MODEL_INPUTS + _REGISTRATION_INPUTS
    try:
        hashes = _hashes((entry.id, *inputs))
    except DataFileMissingError as exc:  # no registration files: a modelled table without coverage
        if method == "registrations":
            raise
        log.warning("neighbourhood_table: no registration data (%s); registered_patients and coverage are <NA>", exc)
        hashes = _hashes((entry.id, *_MODEL_INPUTS, _POPULATION))
    key = {"practice_map": entry.id, "method": method, "inputs": hashes}
    return cached_frame("neighbourhoods.pcns", key, lambda: _build_table(entry, method, with_registrations=_NATIONAL in hashes))


def footprints(
    practice_map: str = "gp-practice-map-2026-01",
    method: str = "registrations",
    lsoa_codes: Iterable[str] | None = None,
):
    """One polygon per PCN, dissolved from LSOA 2021 polygons (BSC, EPSG:27700).

    ``lsoa_codes`` restricts the footprints to those LSOAs (e.g. one system's). Columns: ``pcn_code,
    pcn_name, method, lsoas, confidence`` (population-weighted mean), ``footprint_population``,
    ``parts`` (polygon parts), ``contiguous`` (one part), ``registrations_date``,
    ``practice_map_date``, ``geometry``. ``.attrs["unassigned"]`` lists the LSOAs with no PCN and
    ``.attrs["dissolve"]`` says how the polygons were merged (see :func:`_dissolve`).
    """
    import geopandas

    assignment = neighbourhood_lsoas(practice_map, method)
    assignment = _restrict(assignment, lsoa_codes)
    polys = read(_POLYGONS)[["code", "geometry"]].rename(columns={"code": "lsoa21_code"})
    pop = read(_POPULATION)[["lsoa21_code", "population"]]
    gdf = geopandas.GeoDataFrame(
        assignment.merge(polys, on="lsoa21_code", how="left").merge(pop, on="lsoa21_code", how="left"),
        geometry="geometry",
        crs=polys.crs,
    )
    out = _footprints(gdf)
    out.attrs["unassigned"] = assignment.loc[assignment["pcn_code"].isna(), "lsoa21_code"].tolist()
    if out.attrs["unassigned"]:
        log.warning("footprints: %d LSOAs have no PCN: %s", len(out.attrs["unassigned"]), out.attrs["unassigned"][:10])
    return out


def unassigned_lsoas(
    practice_map: str = "gp-practice-map-2026-01",
    method: str = "registrations",
    lsoa_codes: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The rows of :func:`neighbourhood_lsoas` (optionally restricted to ``lsoa_codes``) with no PCN."""
    assignment = _restrict(neighbourhood_lsoas(practice_map, method), lsoa_codes)
    return assignment[assignment["pcn_code"].isna()].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Checks and loaders (these read files; everything below them works on frames)
# ---------------------------------------------------------------------------------------------


def _map_entry(practice_map: str) -> Dataset:
    entry = catalogue().get(practice_map)
    if entry.reader != "practice_map":
        maps = [d.id for d in catalogue() if d.reader == "practice_map"]
        raise UnknownDatasetError(
            f"dataset {practice_map!r} is not a practice -> PCN map; use one of: {', '.join(maps)}"
        )
    return entry


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not known; use one of: {', '.join(METHODS)}")
    return method


def _hashes(ids: Iterable[str]) -> dict[str, str]:
    return {i: sha256_file(fetch(i)) for i in dict.fromkeys(ids)}


def _restrict(assignment: pd.DataFrame, lsoa_codes: Iterable[str] | None) -> pd.DataFrame:
    if lsoa_codes is None:
        return assignment
    wanted = pd.Index(pd.Series(list(lsoa_codes), dtype="string").unique())
    unknown = wanted.difference(pd.Index(assignment["lsoa21_code"]))
    if len(unknown):
        raise ValueError(
            f"{len(unknown)} of the lsoa_codes are not English LSOA 2021 codes, e.g. {list(unknown[:5])}; "
            f"pass codes from {_LSOA21} (33,755 English LSOAs)"
        )
    return assignment[assignment["lsoa21_code"].isin(wanted)].reset_index(drop=True)


def _registrations_date() -> str:
    cat = catalogue()
    return f"{cat.get(_NATIONAL).date}; QNC {cat.get(_QNC).date}"


def _practice_map_date(practice_map: pd.DataFrame, entry: Dataset) -> str:
    dates = practice_map["extract_date"].dropna()
    return dates.max().date().isoformat() if len(dates) else entry.date


def _load_registrations() -> pd.DataFrame:
    """The combined registrations, every row kept (``kind`` says which ones footprints may use)."""
    cat = catalogue()
    key = {"inputs": _hashes(_REGISTRATION_INPUTS)}

    def build() -> pd.DataFrame:
        english = read(_LSOA21)["lsoa21_code"]
        return _combine_registrations(
            _to_lsoa21(read(_NATIONAL), _lsoa11_weights(read(_LSOA11_21), read(_POPULATION)), english),
            _classify_lsoa21(read(_QNC), english),
            national_label=f"{cat.get(_NATIONAL).vintage} national",
            replacement_label=f"{cat.get(_QNC).vintage} QNC",
        )

    return cached_frame("neighbourhoods.registrations", key, build)


def _load_lsoas() -> pd.DataFrame:
    """English LSOAs 2021 with their Sub-ICB Location and population-weighted centroid."""
    lsoas = read(_LSOA21)[["lsoa21_code", "sicbl_code"]]
    pwc = read(_CENTROIDS)
    xy = pd.DataFrame({"lsoa21_code": pwc["code"], "easting": pwc.geometry.x, "northing": pwc.geometry.y})
    return lsoas.merge(xy, on="lsoa21_code", how="left")


def _load_practices(entry: Dataset) -> pd.DataFrame:
    """The practice map with each practice's location (Code-Point Open, then NSPL)."""
    pmap = read(entry)
    located = _locate(pmap, read(_CODEPOINT), source="codepoint")
    if located["easting"].isna().any():
        located = _locate(located, read(_NSPL), source="nspl")
    missing = located.loc[located["easting"].isna(), "practice_code"]
    if len(missing):
        log.warning("%s: %d practices have no location from their postcode: %s", entry.id, len(missing), list(missing[:10]))
    return located


def _build_lsoas(entry: Dataset, method: str) -> pd.DataFrame:
    practices = _load_practices(entry)
    lsoas = _load_lsoas()
    plurality = None
    if method == "registrations":
        plurality = _plurality(lsoa_registrations(entry.id), practices)
    out = _assign(lsoas, practices, plurality, _modelled(lsoas, practices))
    out["registrations_date"] = pd.array([_registrations_date() if plurality is not None else pd.NA] * len(out), dtype="string")
    out["practice_map_date"] = pd.array([_practice_map_date(practices, entry)] * len(out), dtype="string")
    _log_summary(out, entry.id, method)
    return out[_LSOA_COLUMNS]


def _build_table(entry: Dataset, method: str, *, with_registrations: bool) -> pd.DataFrame:
    pmap = read(entry)
    assignment = neighbourhood_lsoas(entry.id, method)
    regs = _load_registrations() if with_registrations else None
    out = _pcn_table(pmap, assignment, regs, read(_POPULATION)[["lsoa21_code", "population"]])
    out["registrations_date"] = pd.array([_registrations_date() if with_registrations else pd.NA] * len(out), dtype="string")
    out["practice_map_date"] = pd.array([_practice_map_date(pmap, entry)] * len(out), dtype="string")
    return out


def _log_summary(out: pd.DataFrame, map_id: str, method: str) -> None:
    shares = out["method"].value_counts(normalize=True).round(4).to_dict()
    log.info(
        "neighbourhoods (%s, %s): %d LSOAs; by method %s; median confidence %.3f; unassigned %d",
        map_id, method, len(out), shares, out["confidence"].median(), int(out["pcn_code"].isna().sum()),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The pipeline on frames (toy-testable)
# ---------------------------------------------------------------------------------------------


def _lsoa11_weights(lookup: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """``lsoa11_code, lsoa21_code, weight``: the share of an LSOA 2011's patients each 2021 child gets.

    U and M rows have one child (weight 1); S and X rows share by the children's Census 2021
    population (equal shares when the children have no population on record).
    """
    lk = lookup[["lsoa11_code", "lsoa21_code"]].drop_duplicates()
    pop = population[["lsoa21_code", "population"]].drop_duplicates("lsoa21_code")
    lk = lk.merge(pop, on="lsoa21_code", how="left")
    p = lk["population"].astype("float64").fillna(0.0)
    total = p.groupby(lk["lsoa11_code"]).transform("sum")
    n = lk.groupby("lsoa11_code")["lsoa21_code"].transform("size").astype("float64")
    weight = np.where(total > 0, p / total.where(total > 0, 1.0), 1.0 / n)
    return pd.DataFrame({"lsoa11_code": lk["lsoa11_code"], "lsoa21_code": lk["lsoa21_code"], "weight": weight})


def _excluded_rows(reg: pd.DataFrame, kind: pd.Series) -> pd.DataFrame:
    """Excluded rows summed by (practice, kind), with no LSOA (kept for practices' list sizes)."""
    ex = pd.DataFrame({"practice_code": reg["practice_code"], "kind": kind.astype("string"), "patients": reg["patients"].astype("float64")})
    ex = ex.groupby(["practice_code", "kind"], as_index=False, sort=False)["patients"].sum()
    ex.insert(0, "lsoa21_code", pd.array([pd.NA] * len(ex), dtype="string"))
    return ex


def _to_lsoa21(reg11: pd.DataFrame, weights: pd.DataFrame, english: pd.Series) -> pd.DataFrame:
    """LSOA 2011 registrations -> ``lsoa21_code, practice_code, patients, kind``.

    Rows of ``lsoa_kind`` other than ``england`` keep their kind; English codes that the lookup does
    not know, or whose 2021 LSOAs are not English, become ``unmatched``. Those rows are summed per
    practice with <NA> ``lsoa21_code``.
    """
    reg = reg11[["practice_code", "lsoa_code", "patients", "lsoa_kind"]]
    is_eng = (reg["lsoa_kind"] == "england").fillna(False).to_numpy(dtype=bool)
    eng = reg[is_eng].merge(weights, left_on="lsoa_code", right_on="lsoa11_code", how="left")
    # a 2011 code the lookup does not know keeps all its patients (weight 1), as "unmatched"
    eng["patients"] = eng["patients"].astype("float64") * eng["weight"].fillna(1.0)
    ok = eng["lsoa21_code"].isin(english).fillna(False).to_numpy(dtype=bool)
    rows = eng[ok].groupby(["lsoa21_code", "practice_code"], as_index=False, sort=False)["patients"].sum()
    rows["kind"] = "england"
    others = pd.concat([reg[~is_eng], eng.loc[~ok, ["practice_code", "lsoa_code", "patients"]].assign(lsoa_kind="unmatched")])
    return pd.concat([rows, _excluded_rows(others, others["lsoa_kind"])], ignore_index=True)


def _classify_lsoa21(reg21: pd.DataFrame, english: pd.Series) -> pd.DataFrame:
    """LSOA 2021 registrations -> ``lsoa21_code, practice_code, patients, kind`` (as :func:`_to_lsoa21`)."""
    reg = reg21[["practice_code", "lsoa_code", "patients", "lsoa_kind"]]
    ok = ((reg["lsoa_kind"] == "england") & reg["lsoa_code"].isin(english)).fillna(False).to_numpy(dtype=bool)
    rows = reg[ok].groupby(["lsoa_code", "practice_code"], as_index=False, sort=False)["patients"].sum()
    rows = rows.rename(columns={"lsoa_code": "lsoa21_code"})
    rows["patients"] = rows["patients"].astype("float64")
    rows["kind"] = "england"
    others = reg[~ok]
    kind = others["lsoa_kind"].where(others["lsoa_kind"] != "england", "unmatched")
    return pd.concat([rows, _excluded_rows(others, kind)], ignore_index=True)


def _combine_registrations(
    national: pd.DataFrame,
    replacement: pd.DataFrame,
    *,
    national_label: str = "2023-07 national",
    replacement_label: str = "2025-10 QNC",
) -> pd.DataFrame:
    """The national rows, except those of the practices ``replacement`` covers, plus ``replacement``."""
    covered = pd.Index(replacement["practice_code"].unique())
    national = national[~national["practice_code"].isin(covered)].assign(source=national_label)
    replacement = replacement.assign(source=replacement_label)
    out = pd.concat([national, replacement], ignore_index=True)
    for col in ("lsoa21_code", "practice_code", "kind", "source"):
        out[col] = out[col].astype("string")
    out["patients"] = out["patients"].astype("float64")
    return out[["lsoa21_code", "practice_code", "patients", "source", "kind"]]


def _locate(practices: pd.DataFrame, postcodes: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Fill ``easting, northing, location_source`` from a postcode file where still missing."""
    out = practices.copy()
    for col in ("easting", "northing"):
        if col not in out:
            out[col] = np.nan
    if "location_source" not in out:
        out["location_source"] = pd.array([pd.NA] * len(out), dtype="string")
    pc = postcodes.loc[postcodes["has_location"], ["postcode", "easting", "northing"]].drop_duplicates("postcode")
    found = out[["postcode"]].merge(pc, on="postcode", how="left")
    need = (out["easting"].isna() & found["easting"].notna()).to_numpy(dtype=bool)
    out.loc[need, "easting"] = found.loc[need, "easting"].to_numpy()
    out.loc[need, "northing"] = found.loc[need, "northing"].to_numpy()
    out.loc[need, "location_source"] = source
    return out


def _real(practices: pd.DataFrame) -> pd.Series:
    """Practices in a real PCN (not the ``U`` "Unallocated" pseudo-PCN, not blank)."""
    real = practices["pcn_code"].notna() & (practices["pcn_code"] != "U")
    if "is_unallocated" in practices:
        real &= ~practices["is_unallocated"].astype(bool)
    return real.fillna(False).astype(bool)


def _plurality(registrations: pd.DataFrame, practices: pd.DataFrame) -> pd.DataFrame:
    """Per LSOA with patients at real-PCN practices: ``lsoa21_code, pcn_code, confidence, patients,
    runner_up_pcn_code``. Ties go to the lowest PCN code."""
    real = practices.loc[_real(practices), ["practice_code", "pcn_code"]]
    regs = registrations.loc[registrations["patients"] > 0, ["lsoa21_code", "practice_code", "patients"]]
    regs = regs.merge(real, on="practice_code", how="inner")
    by_pcn = regs.groupby(["lsoa21_code", "pcn_code"], as_index=False)["patients"].sum()
    by_pcn = by_pcn.sort_values(["lsoa21_code", "patients", "pcn_code"], ascending=[True, False, True], kind="stable")
    rank = by_pcn.groupby("lsoa21_code").cumcount().to_numpy()
    total = by_pcn.groupby("lsoa21_code")["patients"].sum()
    win = by_pcn[rank == 0].set_index("lsoa21_code")
    runner = by_pcn[rank == 1].set_index("lsoa21_code")["pcn_code"]
    out = pd.DataFrame(
        {
            "pcn_code": win["pcn_code"],
            "confidence": win["patients"] / total.reindex(win.index),
            "patients": total.reindex(win.index),
            "runner_up_pcn_code": runner.reindex(win.index),
        }
    )
    return out.rename_axis("lsoa21_code").reset_index()


def _modelled(lsoas: pd.DataFrame, practices: pd.DataFrame) -> pd.DataFrame:
    """Nearest-practice baseline: ``lsoa21_code, pcn_code, confidence`` (+ ``runner_up_pcn_code``).

    ``lsoas``: ``lsoa21_code, sicbl_code, easting, northing`` (the population-weighted centroid);
    ``practices``: ``practice_code, pcn_code, sicbl_code, easting, northing`` (+ ``is_unallocated``).
    Candidates are the real-PCN practices with a location in the LSOA's Sub-ICB Location, or all of
    them when that SICBL has none. ``confidence = d2 / (d1 + d2)`` (see the module notes). LSOAs with
    no centroid, or when no practice is a candidate, get <NA>. Replaceable by a better model with the
    same inputs and output columns (``runner_up_pcn_code`` is optional).
    """
    from scipy.spatial import cKDTree

    n_lsoa = len(lsoas)
    pcn = pd.array([pd.NA] * n_lsoa, dtype="string")
    out = pd.DataFrame({"lsoa21_code": lsoas["lsoa21_code"].to_numpy(), "pcn_code": pcn,
                        "confidence": np.nan, "runner_up_pcn_code": pcn.copy()})  # fmt: skip
    cand = practices.loc[_real(practices) & practices["easting"].notna() & practices["northing"].notna()]
    if cand.empty or n_lsoa == 0:
        return out
    sicbls = pd.Index(cand["sicbl_code"].astype("string").unique())
    pz = sicbls.get_indexer(cand["sicbl_code"].astype("string")).astype("float64") * _SICBL_GAP
    lz = sicbls.get_indexer(lsoas["sicbl_code"].astype("string"))  # -1: no practices in that SICBL
    pxy = cand[["easting", "northing"]].to_numpy(dtype="float64")
    lxy = lsoas[["easting", "northing"]].to_numpy(dtype="float64")
    located = ~np.isnan(lxy).any(axis=1)
    k = min(_K_NEAREST, len(cand))
    dist = np.full((n_lsoa, k), np.inf)
    idx = np.full((n_lsoa, k), len(cand))
    inside = located & (lz >= 0)
    anywhere = located & (lz < 0)
    if inside.any():  # SICBLs sit _SICBL_GAP apart on a third axis: neighbours in the same SICBL come first
        tree = cKDTree(np.column_stack([pxy, pz]))
        d, i = tree.query(np.column_stack([lxy[inside], lz[inside] * _SICBL_GAP]), k=k)
        d, i = d.reshape(-1, k), i.reshape(-1, k)
        d[d >= _SICBL_GAP / 2] = np.inf  # another SICBL's practices are not candidates
        dist[inside], idx[inside] = d, i
    if anywhere.any():
        d, i = cKDTree(pxy).query(lxy[anywhere], k=k)
        dist[anywhere], idx[anywhere] = d.reshape(-1, k), i.reshape(-1, k)
    codes = np.append(cand["pcn_code"].astype(object).to_numpy(), None)[idx]
    codes[~np.isfinite(dist)] = None
    best = codes[:, 0]
    other = (codes != best[:, None]) & np.isfinite(dist) & ~pd.isna(codes)
    has_other = other.any(axis=1)
    j = other.argmax(axis=1)
    rows = np.arange(n_lsoa)
    d1 = dist[:, 0]
    d2 = np.where(has_other, dist[rows, j], np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(np.isinf(d2), 1.0, np.where(d1 + d2 > 0, d2 / (d1 + d2), 0.5))
    claimed = np.isfinite(d1)
    out["pcn_code"] = pd.array(np.where(claimed, best, None), dtype="string")
    out["confidence"] = np.where(claimed, conf, np.nan)
    out["runner_up_pcn_code"] = pd.array(np.where(claimed & has_other, codes[rows, j], None), dtype="string")
    return out


def _assign(
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
    if "runner_up_pcn_code" not in model:
        model["runner_up_pcn_code"] = pd.NA
    if plurality is None:
        reg = pd.DataFrame(index=out["lsoa21_code"], columns=["pcn_code", "confidence", "patients", "runner_up_pcn_code"])
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
    names = _pcn_attributes(practices, ["pcn_name"])
    out = out.merge(names, on="pcn_code", how="left")
    out["pcn_name"] = out["pcn_name"].astype("string")
    return out


def _pcn_attributes(practices: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``pcn_code`` + the mode of each column over the PCN's practices (ties: the first in code order)."""
    real = practices[_real(practices)]
    out = pd.DataFrame({"pcn_code": pd.Series(real["pcn_code"].unique(), dtype="string")})
    for col in columns:
        counts = real.groupby(["pcn_code", col], as_index=False).size()
        counts = counts.sort_values(["pcn_code", "size", col], ascending=[True, False, True], kind="stable")
        out = out.merge(counts.drop_duplicates("pcn_code")[["pcn_code", col]], on="pcn_code", how="left")
    return out


def _footprint_method(methods: pd.Series, groups: pd.Series) -> pd.Series:
    """Per group: ``registrations`` or ``modelled`` when all its LSOAs share it, else ``mixed``."""
    by = pd.DataFrame({"g": groups, "m": methods}).groupby("g")["m"]
    first, distinct = by.first(), by.nunique()
    return first.where(distinct == 1, "mixed").astype("string")


def _pcn_table(
    practice_map: pd.DataFrame,
    assignment: pd.DataFrame,
    registrations: pd.DataFrame | None,
    population: pd.DataFrame,
) -> pd.DataFrame:
    """One row per real PCN of ``practice_map`` (see :func:`neighbourhood_table`)."""
    real = practice_map[_real(practice_map)]
    cols = ["pcn_name", "sicbl_code", "sicbl_ods_code", "icb_code", "icb_ods_code"]
    out = _pcn_attributes(practice_map, [c for c in cols if c in practice_map])
    members = real.sort_values("practice_code").groupby("pcn_code")["practice_code"]
    out = out.merge(members.size().rename("practices").reset_index(), on="pcn_code", how="left")
    out = out.merge(members.agg(";".join).rename("practice_codes").reset_index(), on="pcn_code", how="left")

    lsoas = assignment[assignment["pcn_code"].notna()].merge(population, on="lsoa21_code", how="left")
    foot = lsoas.groupby("pcn_code").agg(lsoas=("lsoa21_code", "size"), footprint_population=("population", "sum"))
    foot["method"] = _footprint_method(lsoas["method"], lsoas["pcn_code"])
    out = out.merge(foot.reset_index(), on="pcn_code", how="left")
    out["lsoas"] = out["lsoas"].fillna(0).astype("int64")
    out["footprint_population"] = out["footprint_population"].fillna(0).astype("int64")

    if registrations is None:
        out["registered_patients"] = np.nan
        out["coverage"] = np.nan
    else:
        regs = registrations.merge(real[["practice_code", "pcn_code"]], on="practice_code", how="inner")
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


def _dissolve(gdf, by: str):
    """Dissolve polygons by ``by``: GEOS coverage union where the coverage is valid, else unary.

    The coverage check (``shapely.coverage_invalid_edges``) flags the polygons whose edges do not
    match their neighbours' (13 of England's BSC LSOAs); groups holding one of them are merged with
    a unary union, the rest with the 15x faster coverage union. ``.attrs["dissolve"]`` says which.
    """
    import geopandas
    import shapely

    geoms = gdf.geometry.values
    flagged = ~shapely.is_empty(shapely.coverage_invalid_edges(np.asarray(geoms)))
    groups_flagged = pd.Index(gdf.loc[flagged, by].unique())
    bad = gdf[by].isin(groups_flagged).to_numpy(dtype=bool)
    parts = []
    if (~bad).any():
        parts.append(gdf.loc[~bad, [by, "geometry"]].dissolve(by=by, method="coverage"))
    if bad.any():
        parts.append(gdf.loc[bad, [by, "geometry"]].dissolve(by=by, method="unary"))
    out = geopandas.GeoDataFrame(pd.concat(parts), geometry="geometry", crs=gdf.crs)
    out.attrs["dissolve"] = "coverage" if not bad.any() else ("unary" if bad.all() else f"coverage; unary for {len(groups_flagged)} groups")
    return out


def _footprints(gdf):
    """``gdf``: one row per LSOA with ``pcn_code, pcn_name, method, confidence, population, geometry``
    (+ the date columns). Returns one row per PCN (see :func:`footprints`)."""
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
            "method": _footprint_method(g["method"], g["pcn_code"]),
            "lsoas": by.size(),
            "confidence": by["_wconf"].sum() / by["population"].sum().replace(0.0, np.nan),
            "footprint_population": by["population"].sum().round().astype("int64"),
        }
    )
    for c in ("registrations_date", "practice_map_date"):
        attrs[c] = by[c].first() if c in g else pd.NA
    shapes = _dissolve(g, "pcn_code")
    out = attrs.join(shapes, how="inner").rename_axis("pcn_code").reset_index()
    out = geopandas.GeoDataFrame(out, geometry="geometry", crs=g.crs)
    out["parts"] = shapely.get_num_geometries(out.geometry.values).astype("int64")
    out["contiguous"] = out["parts"] == 1
    out = out[cols].sort_values("pcn_code", kind="stable").reset_index(drop=True)
    out.attrs["dissolve"] = shapes.attrs.get("dissolve")
    return out
