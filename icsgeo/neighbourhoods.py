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

Method ``"modelled"`` (for data newer than the registrations, or users without them)
    A list-size-balanced gravity model (a production-attraction constrained spatial interaction
    model), then a light neighbour smoothing. For every LSOA i (its population-weighted centroid) the
    ``K = 50`` nearest practices j of the map's real PCNs are candidates, with deterrence::

        f_ij = (d_ij + 0.8 km)^-3  x 0.2 if j is in another Sub-ICB Location
                                   x 0.3 if j is in another local authority district
                                   x 0.5 if j is in another ward

    The practices' list sizes S_j (registered patients, rescaled so they sum to the LSOAs'
    population) are the attractions; 30 balancing iterations find factors A_j so that every
    practice's modelled inflow matches its list size::

        T_ij = pop_i * A_j S_j f_ij / sum_j' A_j' S_j' f_ij'          A_j <- A_j * S_j / sum_i T_ij

    The flows are summed by PCN, giving each LSOA's PCN shares s_ip (they sum to 1). Smoothing then
    blends each LSOA's shares with those of its 10 nearest LSOA centroids, weighted exp(-d / 600 m)
    and normalised: s'_ip = 0.65 s_ip + 0.35 sum_k w_ik s_kp (only the PCNs the LSOA's own candidates
    belong to are scored). The LSOA goes to the PCN with the largest s' (ties: the lowest PCN code),
    and ``confidence`` is that share: the winner's share of the LSOA's modelled patient flow, after
    smoothing (1.0 when only one PCN is a candidate; below 0.5 when several PCNs split the flow).

    Parameters were fitted on 21 of the 42 ICBs and scored on the other 21, both ways, against the
    registration plurality of the 31,810 unchanged LSOAs (July 2023 registrations, ePCN membership
    as at 2023-07-01; ``scripts/accuracy.py``): 87.4% agreement out of fold across England for the
    gravity model, 87.8% with the smoothing, against 82.4% for the nearest practice. With the January
    2026 practice map against the registrations method, 87.2% (nearest practice 81.5%). The
    confidence is informative: ~99.6% agreement when it is at least 0.8 (38% of LSOAs), ~64% below
    0.5 (25%).

    Inputs: a practice's location is its postcode (OS Code-Point Open, then the ONS NSPL); its ward
    and district are those of the LSOA 2021 holding that point (:func:`icsgeo._assign.lsoa_of_points`,
    checked against Code-Point's official district); its Sub-ICB Location is its ODS commissioner in
    the practice map (or, for a code the LSOA lookup does not know, that of its location); its list
    size is :func:`icsgeo._assign.practice_list_sizes` (all its registered patients, wherever they
    live), and a practice with no registration data gets the median list size of its Sub-ICB
    Location's practices. The scoring lives in :func:`_modelled` and its helpers.

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
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

from ._cache import cached_frame, sha256_file
from ._catalogue import Dataset, catalogue
from .errors import DataFileMissingError, UnknownDatasetError
from ._fetch import fetch
from ._read import read
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
_WARDS = "lsoa21-ward-lad-2024"
_REGISTRATION_INPUTS = (_NATIONAL, _QNC, _LSOA11_21, _POPULATION, _LSOA21)
#: What the modelled method reads: LSOAs and their parents (:func:`icsgeo._geography.lsoa_base`), the
#: LSOA polygons practices are located in, the postcode files. List sizes come from the
#: registration files when present (:func:`_list_sizes`).
_MODEL_INPUTS = (_LSOA21, _POPULATION, _CENTROIDS, _WARDS, "ctyua-2023", _LSOA11_21, "lsoa11-ccg-lad-2021",
                 _POLYGONS, _CODEPOINT, _NSPL)  # fmt: skip

# The balanced gravity model's parameters (see the module notes): the modelled-PCN study's fit
# (models e1/e2) on half A of a seed-42 random split of the 42 ICBs against the July 2023
# registration plurality of the unchanged LSOAs. On the held-out half B they agree with the
# plurality for 87.8% of LSOAs (88.3% with the smoothing); out of fold across England 87.4%
# (87.8%), against 82.4% for the nearest practice. ``scripts/accuracy.py`` re-measures them.
#: Candidate practices per LSOA (nearest first); they hold 98.7% of registered flows.
GRAVITY_CANDIDATES = 50
#: Distance decay: f = (d_km + GRAVITY_OFFSET_KM) ** -GRAVITY_EXPONENT.
GRAVITY_EXPONENT = 3.0
GRAVITY_OFFSET_KM = 0.8
#: Deterrence factors for a practice in another Sub-ICB Location / district (LAD) / ward than the LSOA.
OTHER_SICBL_FACTOR = 0.2
OTHER_LAD_FACTOR = 0.3
OTHER_WARD_FACTOR = 0.5
#: Balancing iterations matching every practice's modelled inflow to its list size.
BALANCING_ITERATIONS = 30
#: Neighbour smoothing: nearest LSOA centroids, exp(-d / bandwidth) weights, blend weight m.
SMOOTHING_NEIGHBOURS = 10
SMOOTHING_BANDWIDTH_M = 600.0
SMOOTHING_WEIGHT = 0.35


class _Gravity(NamedTuple):
    """Parameters of the balanced gravity model (defaults: the module constants)."""

    exponent: float = GRAVITY_EXPONENT
    offset_km: float = GRAVITY_OFFSET_KM
    other_sicbl: float = OTHER_SICBL_FACTOR
    other_lad: float = OTHER_LAD_FACTOR
    other_ward: float = OTHER_WARD_FACTOR
    candidates: int = GRAVITY_CANDIDATES
    iterations: int = BALANCING_ITERATIONS


class _Smoothing(NamedTuple):
    """Parameters of the neighbour smoothing (``weight=0`` switches it off)."""

    neighbours: int = SMOOTHING_NEIGHBOURS
    bandwidth_m: float = SMOOTHING_BANDWIDTH_M
    weight: float = SMOOTHING_WEIGHT


_NO_SMOOTHING = _Smoothing(weight=0.0)

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
    hashes = _hashes((entry.id, *inputs))
    if method == "modelled":  # list sizes come from the registration files when they are there
        hashes.update(_optional_hashes((_NATIONAL, _QNC)))
    key = {"practice_map": entry.id, "method": method, "inputs": hashes}
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


def _optional_hashes(ids: Iterable[str]) -> dict[str, str]:
    """As :func:`_hashes`, with ``"missing"`` for a file that is not available."""
    out = {}
    for i in dict.fromkeys(ids):
        try:
            out[i] = sha256_file(fetch(i))
        except DataFileMissingError:
            out[i] = "missing"
    return out


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
    """English LSOAs 2021: ``lsoa21_code, sicbl_code, lad_code, ward_code, population, easting,
    northing`` (the population-weighted centroid), from :func:`icsgeo._geography.lsoa_base`."""
    from ._geography import lsoa_base

    cols = ["lsoa21_code", "sicbl_code", "lad_code", "ward_code", "population", "easting", "northing"]
    return lsoa_base()[cols].reset_index(drop=True)


def _load_practices(entry: Dataset) -> pd.DataFrame:
    """The practice map, each practice located and described for the model (see :func:`_prepare_practices`)."""
    return _prepare_practices(read(entry), label=entry.id)


def _prepare_practices(pmap: pd.DataFrame, *, label: str = "practices", list_sizes: pd.Series | None = None) -> pd.DataFrame:
    """Add what the modelled method needs to a practice frame (``practice_code, postcode, pcn_code,
    sicbl_code``, ...): ``easting, northing, location_source`` (Code-Point Open, then NSPL),
    ``location_lsoa21_code`` and that LSOA's ``lad_code, ward_code, location_sicbl_code``, and
    ``list_size`` (``list_sizes`` by practice code, default :func:`_list_sizes`; <NA> when unknown)."""
    from ._assign import lsoa_of_points
    from ._geography import lsoa_base

    codepoint = read(_CODEPOINT)
    codepoint = codepoint[codepoint["postcode"].isin(pmap["postcode"].dropna().unique()).fillna(False).to_numpy(dtype=bool)]
    located = _locate(pmap, codepoint, source="codepoint")
    if located["easting"].isna().any():
        located = _locate(located, read(_NSPL), source="nspl")
    missing = located.loc[located["easting"].isna(), "practice_code"]
    if len(missing):
        log.info("%s: %d practices have no location from their postcode: %s", label, len(missing), list(missing[:10]))
    # the official district of the postcode steers the point into the right LSOA (200 m polygons)
    hint = located[["postcode"]].merge(codepoint[["postcode", "lad_code"]].drop_duplicates("postcode"), on="postcode", how="left")
    where = lsoa_of_points(located["easting"].to_numpy(), located["northing"].to_numpy(), hint["lad_code"].to_numpy(dtype=object))
    base = lsoa_base().set_index("lsoa21_code")
    lsoa = pd.Series(where["lsoa21_code"].to_numpy(dtype=object), index=located.index)
    located["location_lsoa21_code"] = lsoa.astype("string")
    located["lad_code"] = lsoa.map(base["lad_code"]).astype("string")
    located["ward_code"] = lsoa.map(base["ward_code"]).astype("string")
    located["location_sicbl_code"] = lsoa.map(base["sicbl_code"]).astype("string")
    sizes = _list_sizes() if list_sizes is None else list_sizes
    located["list_size"] = located["practice_code"].map(sizes).astype("float64") if sizes is not None else np.nan
    return located


def _list_sizes() -> pd.Series | None:
    """Registered patients by practice code (:func:`icsgeo._assign.practice_list_sizes`); None, with a
    warning, when no registration file is available (the model then treats practices as equal)."""
    from ._assign import practice_list_sizes

    try:
        sizes = practice_list_sizes()
    except DataFileMissingError as exc:
        log.warning("modelled neighbourhoods: no practice list sizes (%s); every practice counts as the same size", exc)
        return None
    return sizes.set_index("practice_code")["registered_patients"].astype("float64")


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


def _modelled(
    lsoas: pd.DataFrame,
    practices: pd.DataFrame,
    *,
    gravity: _Gravity = _Gravity(),
    smoothing: _Smoothing = _Smoothing(),
) -> pd.DataFrame:
    """The balanced gravity model (module notes): ``lsoa21_code, pcn_code, confidence, runner_up_pcn_code``.

    ``lsoas``: ``lsoa21_code, sicbl_code, easting, northing`` (the population-weighted centroid), and
    optionally ``population`` (default: equal), ``lad_code``, ``ward_code``. ``practices``:
    ``practice_code, pcn_code, sicbl_code, easting, northing`` and optionally ``is_unallocated``,
    ``list_size`` (missing or not positive: the median of the practice's Sub-ICB Location, see
    :func:`_attractions`), ``lad_code``, ``ward_code`` and ``location_sicbl_code`` (used when
    ``sicbl_code`` is not a code of ``lsoas``). A same-area factor applies only when both frames carry
    the column. ``confidence`` is the winner's (smoothed) share of the LSOA's modelled flow. LSOAs with
    no centroid, or when no real-PCN practice has a location, get <NA>. One row per ``lsoas`` row, in order.
    """
    n_lsoa = len(lsoas)
    pcn = pd.array([pd.NA] * n_lsoa, dtype="string")
    out = pd.DataFrame({"lsoa21_code": lsoas["lsoa21_code"].to_numpy(), "pcn_code": pcn,
                        "confidence": np.nan, "runner_up_pcn_code": pcn.copy()})  # fmt: skip
    c = _candidates(lsoas, practices, gravity.candidates)
    if c is None:
        return out
    scores = _pcn_shares(c, _gravity_shares(c, gravity))
    scores = _smooth(c, scores, smoothing)
    win, runner = _pick(c, scores)
    codes = np.full(n_lsoa, None, dtype=object)
    codes[c.rows] = c.pcn_codes[c.pair_pcn[win]]
    conf = np.full(n_lsoa, np.nan)
    conf[c.rows] = scores[win]
    second = np.full(n_lsoa, None, dtype=object)
    second[c.rows] = np.where(runner >= 0, c.pcn_codes[c.pair_pcn[np.maximum(runner, 0)]], None)
    out["pcn_code"] = pd.array(codes, dtype="string")
    out["confidence"] = conf
    out["runner_up_pcn_code"] = pd.array(second, dtype="string")
    return out


@dataclass
class _Candidates:
    """The candidate practices of each located LSOA, and the (LSOA, PCN) pairs they make.

    ``m`` located LSOAs (positions ``rows`` in the input frame), ``K`` candidates each (nearest
    first), ``n_practices`` real-PCN practices with a location, ``pairs`` distinct (LSOA, PCN) pairs
    sorted by LSOA then PCN code.
    """

    rows: np.ndarray  # (m,) positions of the located LSOAs in the input frame
    xy: np.ndarray  # (m, 2) their centroids (metres)
    population: np.ndarray  # (m,)
    practice: np.ndarray  # (m, K) candidate practices (positions in practice_codes)
    d_km: np.ndarray  # (m, K) distances, km
    other_sicbl: np.ndarray | None  # (m, K) bool; None when the frames cannot say
    other_lad: np.ndarray | None
    other_ward: np.ndarray | None
    practice_codes: np.ndarray  # (n_practices,)
    size: np.ndarray  # (n_practices,) list sizes rescaled to the LSOAs' population
    pcn_codes: np.ndarray  # (n_pcns,) sorted
    pair: np.ndarray  # (m * K,) the pair of each candidate
    pair_row: np.ndarray  # (pairs,) LSOA (0..m-1)
    pair_pcn: np.ndarray  # (pairs,) PCN (position in pcn_codes)


def _codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    """Integer codes of ``values`` in ``vocabulary`` (-1 for <NA> or unknown)."""
    return vocabulary.get_indexer(values.astype("string").astype(object).where(values.notna(), None))


def _differs(lsoas: pd.DataFrame, practices: pd.DataFrame, column: str, practice: np.ndarray,
             practice_values: pd.Series | None = None) -> np.ndarray | None:  # fmt: skip
    """(m, K): is candidate practice in another ``column`` area than the LSOA? None if a frame lacks
    the column. An unknown code on either side counts as another area."""
    if column not in lsoas or (practice_values is None and column not in practices):
        return None
    pv = practices[column] if practice_values is None else practice_values
    vocab = pd.Index(pd.concat([lsoas[column], pv]).dropna().astype("string").unique())
    lc = _codes(lsoas[column], vocab)
    pc = _codes(pv, vocab)[practice]
    return (pc != lc[:, None]) | (pc < 0) | (lc[:, None] < 0)


def _attractions(practices: pd.DataFrame) -> pd.Series:
    """List sizes: ``list_size`` where known and positive, else the median of the known sizes of the
    practice's Sub-ICB Location, else the national median (1.0 when no size is known at all)."""
    if "list_size" not in practices:
        return pd.Series(1.0, index=practices.index)
    size = pd.to_numeric(practices["list_size"], errors="coerce").astype("float64")
    size = size.where(size > 0)
    by_sicbl = size.groupby(practices["sicbl_code"].astype(object).fillna("")).transform("median")
    national = size.median()
    return size.fillna(by_sicbl).fillna(national if np.isfinite(national) else 1.0)


def _candidates(lsoas: pd.DataFrame, practices: pd.DataFrame, k: int) -> _Candidates | None:
    """The ``k`` nearest real-PCN practices of every LSOA with a centroid (None if nothing to model)."""
    from scipy.spatial import cKDTree

    size_all = _attractions(practices)
    keep = (_real(practices) & practices["easting"].notna() & practices["northing"].notna()).to_numpy(dtype=bool)
    cand = practices.loc[keep].reset_index(drop=True)
    size = size_all.to_numpy(dtype="float64")[keep]
    lxy = lsoas[["easting", "northing"]].to_numpy(dtype="float64")
    rows = np.flatnonzero(np.isfinite(lxy).all(axis=1))
    if cand.empty or len(rows) == 0:
        return None
    located = lsoas.iloc[rows].reset_index(drop=True)
    k = min(k, len(cand))
    dist, practice = cKDTree(cand[["easting", "northing"]].to_numpy(dtype="float64")).query(lxy[rows], k=k)
    dist, practice = dist.reshape(len(rows), k), practice.reshape(len(rows), k)
    if "population" in located:
        population = pd.to_numeric(located["population"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    else:
        population = np.ones(len(rows))
    if size.sum() > 0 and population.sum() > 0:
        size = size * population.sum() / size.sum()
    # a practice's Sub-ICB Location: its ODS commissioner; where the map's code is not one the LSOAs
    # use (recoded by a later reorganisation), the Sub-ICB Location of its location
    sicbl = cand["sicbl_code"].astype("string")
    if "location_sicbl_code" in cand:
        sicbl = sicbl.where(sicbl.isin(located["sicbl_code"].dropna()).fillna(False), cand["location_sicbl_code"].astype("string"))
    pcn_codes, pcn_of = np.unique(cand["pcn_code"].astype(str).to_numpy(), return_inverse=True)
    n_pcn = len(pcn_codes)
    key = (np.arange(len(rows), dtype=np.int64)[:, None] * n_pcn + pcn_of[practice]).ravel()
    keys, pair = np.unique(key, return_inverse=True)
    return _Candidates(
        rows=rows, xy=lxy[rows], population=population, practice=practice, d_km=dist / 1000.0,
        other_sicbl=_differs(located, cand, "sicbl_code", practice, sicbl),
        other_lad=_differs(located, cand, "lad_code", practice),
        other_ward=_differs(located, cand, "ward_code", practice),
        practice_codes=cand["practice_code"].astype(str).to_numpy(), size=size, pcn_codes=pcn_codes,
        pair=pair.ravel(), pair_row=keys // n_pcn, pair_pcn=keys % n_pcn,
    )  # fmt: skip


def _deterrence(c: _Candidates, g: _Gravity) -> np.ndarray:
    """f = (d_km + offset)^-exponent x the other-area factors, (m, K)."""
    f = (c.d_km + g.offset_km) ** -g.exponent
    for other, factor in ((c.other_sicbl, g.other_sicbl), (c.other_lad, g.other_lad), (c.other_ward, g.other_ward)):
        if other is not None and factor != 1.0:
            f = f * np.where(other, factor, 1.0)
    return f


def _balance(c: _Candidates, f: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Balancing factors A (one per practice) and each LSOA's flow shares A_j S_j f_ij / sum (m, K).

    Each iteration scales A_j by S_j / (modelled inflow of j), so every practice that is someone's
    candidate ends with an inflow close to its list size S_j."""
    n_practices = len(c.size)
    flat = c.practice.ravel()
    balance = np.ones(n_practices)

    def shares() -> np.ndarray:
        w = (balance * c.size)[c.practice] * f
        total = w.sum(axis=1, keepdims=True)
        return np.divide(w, total, out=np.zeros_like(w), where=total > 0)

    for _ in range(iterations):
        inflow = np.bincount(flat, weights=(shares() * c.population[:, None]).ravel(), minlength=n_practices)
        balance *= np.where(inflow > 0, c.size / np.maximum(inflow, 1e-12), 1.0)
    return balance, shares()


def _gravity_shares(c: _Candidates, g: _Gravity) -> np.ndarray:
    """Each LSOA's share of its modelled flow going to each candidate practice, (m, K)."""
    return _balance(c, _deterrence(c, g), g.iterations)[1]


def _nearest_shares(c: _Candidates) -> np.ndarray:
    """The nearest-practice baseline as shares: all the flow to the nearest candidate."""
    s = np.zeros(c.practice.shape)
    s[:, 0] = 1.0
    return s


def _pcn_shares(c: _Candidates, shares: np.ndarray) -> np.ndarray:
    """Practice shares summed by (LSOA, PCN) pair."""
    return np.bincount(c.pair, weights=shares.ravel(), minlength=len(c.pair_row))


def _smooth(c: _Candidates, scores: np.ndarray, sm: _Smoothing) -> np.ndarray:
    """(1 - m) s_ip + m sum_k w_ik s_kp over the LSOA's nearest LSOA centroids, w ~ exp(-d / h)
    normalised; scored only for the LSOA's own pairs."""
    import scipy.sparse as sparse
    from scipy.spatial import cKDTree

    m = len(c.rows)
    k = min(sm.neighbours, m - 1)
    if sm.weight <= 0 or k < 1:
        return scores
    dist, near = cKDTree(c.xy).query(c.xy, k=k + 1)
    # drop each LSOA itself (usually the first; with duplicate centroids maybe not), keep k others
    keep = np.argsort(near == np.arange(m)[:, None], axis=1, kind="stable")[:, :k]
    dist, near = np.take_along_axis(dist, keep, axis=1), np.take_along_axis(near, keep, axis=1)
    w = np.exp(-dist / sm.bandwidth_m)
    w = w / w.sum(axis=1, keepdims=True)
    n_pcn = len(c.pcn_codes)
    shares = sparse.csr_matrix((scores, (c.pair_row, c.pair_pcn)), shape=(m, n_pcn))
    weights = sparse.csr_matrix((w.ravel(), (np.repeat(np.arange(m), k), near.ravel())), shape=(m, m))
    around = (weights @ shares).tocoo()
    around_key = around.row.astype(np.int64) * n_pcn + around.col
    order = np.argsort(around_key, kind="stable")
    around_key, around_val = around_key[order], around.data[order]
    key = c.pair_row.astype(np.int64) * n_pcn + c.pair_pcn
    pos = np.minimum(np.searchsorted(around_key, key), max(len(around_key) - 1, 0))
    found = (around_key[pos] == key) if len(around_key) else np.zeros(len(key), dtype=bool)
    neighbours = np.where(found, around_val[pos] if len(around_key) else 0.0, 0.0)
    return (1.0 - sm.weight) * scores + sm.weight * neighbours


def _pick(c: _Candidates, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The winning pair of every LSOA (largest score; ties: the lowest PCN code) and the runner-up
    pair (-1 when the LSOA has one candidate PCN)."""
    order = np.lexsort((c.pair_pcn, -scores, c.pair_row))
    row = c.pair_row[order]
    first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    nxt = np.minimum(first + 1, len(order) - 1)
    has_runner = (first + 1 < len(order)) & (row[nxt] == row[first])
    return order[first], np.where(has_runner, order[nxt], -1)


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
