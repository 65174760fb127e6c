"""Answers for postcodes, points and practices against a :class:`~icsgeo.geography.Geography`.

The most authoritative source is used first, and every row says which was used: the postcode's
location and official LAD (:mod:`icsgeo.locate`), the LSOA by point in polygon checked against that
LAD, then the place, system, Sub-ICB Location and neighbourhood of the LSOA (:attr:`Geography.tiers`).
One row out per query, in order, with :data:`icsgeo.answer.ANSWER_COLUMNS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import areas
from .answer import ANSWER_COLUMNS, REASONS, not_found_reason
from .postcode import AREA_COUNTRIES, COUNTRIES, invalid_reasons
from .tiers import Geography
from .locate import locate_postcodes, lsoa_of_points, lsoa_of_points_dask, to_bng, to_latlon
from .neighbourhoods.local import points_in_units

__all__ = ["attach", "for_postcodes", "for_points", "restrict", "practices", "KEPT_OUTSIDE_SYSTEM"]

#: What an ``outside_system`` answer keeps: the facts of the postcode itself, not the system's tiers.
KEPT_OUTSIDE_SYSTEM = ("lsoa_name", "msoa_code", "msoa_name", "sicbl_code", "sicbl_ods_code", "sicbl_name",
                       "region_code", "region_ods_code", "region_name")
_TIER_COLUMNS = ["lsoa_name", "msoa_code", "msoa_name",
                 "local_neighbourhood_code", "local_neighbourhood_name", "local_neighbourhood_method",
                 "neighbourhood_code", "neighbourhood_name", "neighbourhood_method", "neighbourhood_confidence",
                 "neighbourhood_runner_up_code", "neighbourhood_runner_up_name", "neighbourhood_runner_up_share",
                 "place_code", "place_name", "system_code", "system_ods_code", "system_name",
                 "region_code", "region_ods_code", "region_name",
                 "sicbl_code", "sicbl_ods_code", "sicbl_name"]  # fmt: skip
#: The postcode's own facts (from the postcode file), kept with its location: null for points.
_POSTCODE_FACTS = ("ward_code", "positional_quality")


#: From this many rows on, independent steps run on a second thread (PROJ and Arrow release the GIL).
_THREADS_FROM = 200_000


def _meanwhile(func, *args):
    """``func(*args)`` started on another thread when the inputs are large; returns a callable that
    waits for the result (or, for small inputs, computes it then)."""
    if len(args[0]) < _THREADS_FROM:
        return lambda: func(*args)
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    future = pool.submit(func, *args)
    pool.shutdown(wait=False)
    return future.result


def attach(located: pd.DataFrame, geo: Geography, status: np.ndarray) -> pd.DataFrame:
    """Join located rows (``lsoa21_code``, optional ``lad_code``) to the geography's tiers and finish
    the status: ``outside_england`` for a location outside England, ``outside_system`` for an
    English one outside a custom definition.

    Each distinct LSOA code is looked up once (the rows share a few tens of thousands of them),
    and each tier column is taken once, its rows without tiers (:func:`_mask_tiers`) taken as
    missing in the same step."""
    tiers = geo.tiers
    # positional join: each row's LSOA → its row in the tier table (no merge on strings)
    codes, lsoas = pd.factorize(located["lsoa21_code"])  # a missing code is -1: the appended -1 and False
    lsoas = pd.Series(lsoas, dtype=object)
    row = np.r_[pd.Index(tiers["lsoa21_code"]).get_indexer(lsoas), -1][codes]
    row[row < 0] = len(tiers) - 1  # the table's last row is all missing
    english = np.r_[lsoas.astype("string").str.startswith("E01").fillna(False).to_numpy(dtype=bool), False][codes]
    in_scope = tiers["system_code"].notna().to_numpy()[row]
    status = status.copy()
    country = _countries(located, lsoas, codes)
    locatable = np.isin(status, ["ok", "terminated"])
    status[locatable & ~english] = "outside_england"
    # Northern Ireland, the Channel Islands and the Isle of Man are outside England known or not
    status[(status == "not_found") & pd.notna(country) & (country != "E92000001")] = "outside_england"
    if geo.definition is not None:
        status[locatable & english & ~in_scope] = "outside_system"
    by_point = geo.local_polygons is not None and "easting" in located
    keep_tiers = np.isin(status, ["ok", "terminated"])
    keep_outside = keep_tiers | (status == "outside_system")
    takes = {"all": row}
    if not by_point:  # the tier columns' rows without tiers taken as missing, as _mask_tiers would mask them
        takes["tiers"] = row if keep_tiers.all() else np.where(keep_tiers, row, -1)
        takes["kept"] = row if keep_outside.all() else np.where(keep_outside, row, -1)

    def take(c):
        which = "all" if by_point or c not in _TIER_COLUMNS else "kept" if c in KEPT_OUTSIDE_SYSTEM else "tiers"
        return tiers[c].array.take(takes[which], allow_fill=True)

    columns = list(tiers.columns.drop("lsoa21_code"))
    if len(row) >= _THREADS_FROM:  # Arrow's take releases the GIL: two columns at a time
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            picked = dict(zip(columns, pool.map(take, columns)))
    else:
        picked = {c: take(c) for c in columns}
    out = pd.concat([located.reset_index(drop=True), pd.DataFrame(picked)], axis=1)
    # The LAD: the official one given with the postcode, else the LSOA's (newest code vintage).
    lad = out["lsoa_lad_code"].astype("string")
    if "lad_code" in out:
        lad = out["lad_code"].astype("string").fillna(lad)
    lad_row, lads = pd.factorize(lad)  # each distinct LAD recoded and named once
    lads = pd.Series(lads, dtype=lad.dtype)
    if geo.older_lad_codes:
        lads = areas.older_lad(lads)
    lad_row = np.where(english, lad_row, -1)
    out["lad_code"] = pd.Series(lads.array.take(lad_row, allow_fill=True), index=out.index)
    out["lad_name"] = pd.Series(lads.map(areas.lad_names()).array.take(lad_row, allow_fill=True), index=out.index)
    if by_point:
        _local_by_point(out, geo)
        out = _mask_tiers(out, status)
    gone = ~english
    if gone.any():
        loose = []
        kept = np.where(english, np.arange(len(out)), -1)
        for c in ("lsoa21_code", "lsoa_method", "lad_code", "lad_name"):
            if isinstance(out[c].dtype, pd.StringDtype):  # as setting None: the dtype's missing value
                if out[c][gone].notna().any():
                    out[c] = pd.Series(out[c].array.take(kept, allow_fill=True), index=out.index)
            else:
                loose.append(c)
        if loose:
            out.loc[gone, loose] = None
    out["status"] = status
    out["reason"] = _reasons(status, country, out, geo.made_from)
    out["country_code"] = pd.array(country, dtype="string")
    out["country_name"] = pd.array(pd.Series(country, dtype=object).map(COUNTRIES).to_numpy(dtype=object), dtype="string")
    _postcode_facts(out, located)
    out["vintage"] = geo.vintage
    out["made_from"] = geo.made_from
    return out.rename(columns={"lsoa21_code": "lsoa_code"})


def _countries(located: pd.DataFrame, lsoas: pd.Series, codes: np.ndarray) -> np.ndarray:
    """Each row's country code: its LSOA's (E01 England, W01 Wales), else the postcode file's, else
    the postcode area's (:data:`~icsgeo.postcode.AREA_COUNTRIES`), else Scotland for a postcode a Great
    Britain file knows with a location in no LSOA of England and Wales; None otherwise (a point there,
    an unknown postcode)."""
    prefix = lsoas.astype("string").str[:1].map({"E": "E92000001", "W": "W92000004"})
    country = pd.Series(np.r_[prefix.to_numpy(dtype=object, na_value=None), None][codes], dtype=object)
    if "country_code" in located:
        country = country.fillna(pd.Series(located["country_code"].astype(object).to_numpy(), dtype=object))
    if "postcode" in located:
        pcs = located["postcode"].astype("string")
        country = country.fillna(pd.Series(pcs.str[:2].map(AREA_COUNTRIES).to_numpy(dtype=object, na_value=None), dtype=object))
        if "has_location" in located:
            located_gb = located["has_location"].fillna(False).to_numpy(dtype=bool)
            country = country.where(~(country.isna().to_numpy() & located_gb), "S92000003")
    return country.where(country.notna(), None).to_numpy(dtype=object)


def _reasons(status: np.ndarray, country: np.ndarray, out: pd.DataFrame, made_from: str) -> np.ndarray:
    """The ``reason`` of each row (:data:`icsgeo.answer.REASON`); ``invalid`` rows say ``malformed``
    here, and :func:`for_postcodes` and :func:`for_points` say why in their own terms."""
    points = "postcode" not in out or "source" not in out
    reason = np.full(len(status), "malformed", dtype=object)
    reason[status == "ok"] = REASONS["point" if points else "ok"]
    reason[status == "terminated"] = REASONS["terminated"]
    reason[status == "outside_system"] = REASONS["outside_system"]
    nf = status == "not_found"
    if nf.any():
        known = out["source"].notna().to_numpy(dtype=bool) if "source" in out else np.zeros(len(out), dtype=bool)
        reason[nf] = not_found_reason(made_from)
        reason[nf & known] = REASONS["no_location"]
    away = status == "outside_england"
    if away.any():
        named = pd.Series(country, dtype=object).map(COUNTRIES).to_numpy(dtype=object)
        reason[away] = np.where(pd.notna(named[away]), named[away], REASONS["outside_wales"])
    return reason


def _postcode_facts(out: pd.DataFrame, located: pd.DataFrame) -> None:
    """The postcode file's own ward (named) and positional quality; whole-metre grid references."""
    english = out["status"].isin(["ok", "terminated", "outside_system"]).to_numpy()
    ward = located["ward_code"].astype("string") if "ward_code" in located else pd.Series(pd.NA, index=out.index, dtype="string")
    ward = pd.Series(ward.to_numpy(dtype=object, na_value=None), index=out.index, dtype="string").where(english)
    out["ward_code"] = ward
    names = areas.ward_names()
    codes, uniq = pd.factorize(ward)
    out["ward_name"] = pd.Series(pd.array(pd.Series(uniq, dtype=object).map(names).to_numpy(dtype=object), dtype="string")
                                 .take(codes, allow_fill=True), index=out.index)
    quality = located["quality"] if "quality" in located else pd.Series(pd.NA, index=out.index)
    located_rows = out["easting"].notna().to_numpy() if "easting" in out else np.zeros(len(out), dtype=bool)
    out["positional_quality"] = pd.array(pd.to_numeric(pd.Series(quality.to_numpy(), index=out.index), errors="coerce")
                                         .where(located_rows), dtype="Int32")
    for c in ("easting", "northing"):
        if c in out:
            out[c] = pd.array(pd.to_numeric(out[c], errors="coerce").round(), dtype="Int32")


def _local_by_point(out: pd.DataFrame, geo: Geography) -> None:
    """Neighbourhoods drawn as polygons answer postcodes and points by point in polygon (their LSOA's
    unit, by centroid, only where the point is in no polygon)."""
    hit = points_in_units(geo.local_polygons, out["easting"].to_numpy(dtype="float64"), out["northing"].to_numpy(dtype="float64"))
    inside = hit["unit_code"].notna().to_numpy() & out["system_code"].notna().to_numpy()
    if inside.any():
        out.loc[inside, "local_neighbourhood_code"] = hit.loc[inside, "unit_code"].to_numpy()
        out.loc[inside, "local_neighbourhood_name"] = hit.loc[inside, "unit_name"].to_numpy()
        out.loc[inside, "local_neighbourhood_method"] = "polygon file (point in polygon)"


def _mask_tiers(out: pd.DataFrame, status: np.ndarray) -> pd.DataFrame:
    """Tiers only for located answers; ``outside_system`` keeps :data:`KEPT_OUTSIDE_SYSTEM`."""
    keep_tiers = np.isin(status, ["ok", "terminated"])
    outside = status == "outside_system"
    for c in _TIER_COLUMNS:
        keep = keep_tiers | outside if c in KEPT_OUTSIDE_SYSTEM else keep_tiers
        if not keep.all():
            out[c] = out[c].where(keep)
    return out


def restrict(answers: pd.DataFrame, system_code: str) -> pd.DataFrame:
    """National answers narrowed to one national system: located answers elsewhere become
    ``outside_system`` (their own facts kept, the system's tiers dropped)."""
    status = answers["status"].to_numpy(dtype=object).copy()
    located = np.isin(status, ["ok", "terminated"])
    outside = located & (answers["system_code"].astype(object).to_numpy() != system_code)
    status[outside] = "outside_system"
    out = _mask_tiers(answers.copy(), status)
    out["status"] = status
    if outside.any():
        out.loc[outside, "reason"] = REASONS["outside_system"]
    return out


def for_postcodes(queries, geo: Geography) -> pd.DataFrame:
    """Answer postcodes: one row per query, in order, with ``query`` and :data:`ANSWER_COLUMNS`."""
    queries = queries if isinstance(queries, pd.Series) else pd.Series(list(queries), dtype=object)
    queries = queries.reset_index(drop=True)
    found = locate_postcodes(queries)
    out = attach(found.drop(columns="status"), geo, found["status"].to_numpy(dtype=object))
    invalid = (out["status"] == "invalid").to_numpy()
    if invalid.any():
        from .postcode import _as_arrow_strings

        bad = queries[invalid].reset_index(drop=True)
        raw = _as_arrow_strings(bad)  # values that are not text come out null
        why = np.asarray(invalid_reasons(raw).to_numpy(zero_copy_only=False), dtype=object)
        why[raw.is_null().to_numpy(zero_copy_only=False) & bad.notna().to_numpy()] = "not text"
        out.loc[invalid, "reason"] = why
    out.insert(0, "query", queries.to_numpy(dtype=object))
    return out[["query", *ANSWER_COLUMNS]]


def _numbers(values) -> np.ndarray:
    plain = values.to_numpy() if isinstance(values, pd.Series) and isinstance(values.dtype, np.dtype) else values
    if isinstance(plain, np.ndarray) and plain.dtype.kind in "fiub":  # already numbers: no detour through objects
        return np.atleast_1d(plain.astype("float64"))
    return pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(values, dtype=object))), errors="coerce").to_numpy(dtype="float64")


_POLYGONS: dict = {}  # the LSOA polygons of points, per file: read once per process


def _point_polygons():
    """:func:`icsgeo.areas.lsoa_polygons` (``code``, geometry), read once per process and file: the
    same frame each time, so its spatial index and classified grid are made once too."""
    from .sources.catalogue import catalogue
    from .sources.inputs import dataset, input_key

    role = catalogue().role("lsoa_polygons")
    key = (repr(dataset(role)), str(input_key([role])))
    if key not in _POLYGONS:
        _POLYGONS.clear()
        _POLYGONS[key] = areas.lsoa_polygons()[["code", "geometry"]]
    return _POLYGONS[key]


def for_points(geo: Geography, *, easting=None, northing=None, lat=None, lon=None, engine: str = "local",
               npartitions: int | None = None) -> pd.DataFrame:
    """Answer points (EPSG:27700 ``easting``/``northing`` or WGS84 ``lat``/``lon``): one row per point,
    in order; a point that is not a number or not in Great Britain's range is ``invalid``."""
    if engine not in ("local", "dask"):
        raise ValueError(f"engine must be 'local' or 'dask', not {engine!r}")
    latlon = None
    if easting is not None and northing is not None:
        e, n = _numbers(easting), _numbers(northing)
        finite = np.isfinite(e) & np.isfinite(n)
        valid = np.isfinite(e) & np.isfinite(n) & (e >= 0) & (e <= 700_000) & (n >= 0) & (n <= 1_300_000)
        latlon = _meanwhile(to_latlon, e, n)  # PROJ runs without the GIL: alongside the LSOAs
    elif lat is not None and lon is not None:
        la, lo = _numbers(lat), _numbers(lon)
        finite = np.isfinite(la) & np.isfinite(lo)
        valid = np.isfinite(la) & np.isfinite(lo) & (la >= 49) & (la <= 61) & (lo >= -9) & (lo <= 3)
        e, n = to_bng(la, lo)
    else:
        raise ValueError("give easting and northing, or lat and lon")
    e, n = np.where(valid, e, np.nan), np.where(valid, n, np.nan)
    polygons = _point_polygons()
    if engine == "local":
        located = lsoa_of_points(e, n, polygons=polygons)
    else:
        located = lsoa_of_points_dask(e, n, polygons=polygons, npartitions=npartitions)
    if latlon is not None:
        la, lo = latlon()
    la, lo = np.where(valid, la, np.nan), np.where(valid, lo, np.nan)
    located["easting"], located["northing"] = np.round(e), np.round(n)
    located["lat"], located["lon"] = np.round(la, 6), np.round(lo, 6)
    status = np.array(["invalid", "ok"], dtype=object)[valid.astype(np.intp)]
    status[valid & located["lsoa21_code"].isna().to_numpy()] = "outside_england"
    out = attach(located, geo, status)
    if (~valid).any():
        out.loc[~valid, "reason"] = np.where(finite[~valid], REASONS["off_grid"], REASONS["not_a_number"])
    out["postcode"] = None
    where = ["easting", "northing", "lat", "lon"]
    invalid = ~valid  # attach leaves invalid answers invalid and makes no others
    if out[where].iloc[np.flatnonzero(invalid)].notna().to_numpy().any():  # already NaN as made above
        out.loc[invalid, where] = np.nan
    return out[ANSWER_COLUMNS]


def practices(geo: Geography) -> pd.DataFrame:
    """Every practice of the geography's practice map with its location, LSOA, tiers and flags.

    The neighbourhood is the practice's PCN and the Sub-ICB Location its ODS commissioner (membership
    is authoritative for practices); the LSOA, place and system come from its location.
    ``outside_ods_sicbl`` flags practices whose postcode lies outside their ODS Sub-ICB Location.
    """
    from .tiers import geography

    m = geo.members.frame()
    national = geo.national()
    answers = for_postcodes(m["postcode"].astype(object), national)
    loc = answers[["status", "lsoa_code", "place_code", "place_name", "system_code", "system_ods_code", "system_name",
                   "sicbl_code", "lad_code", "lad_name", "easting", "northing", "lat", "lon"]]
    loc = loc.rename(columns={"status": "location_status", "sicbl_code": "location_sicbl_code"})
    out = pd.concat([m[["practice_code", "practice_name", "postcode", "pcn_code", "pcn_name", "is_unallocated",
                        "sicbl_code", "sicbl_ods_code", "sicbl_name", "icb_code", "icb_ods_code", "icb_name"]].reset_index(drop=True),
                     loc.reset_index(drop=True)], axis=1)
    # Compare like with like: the location's Sub-ICB Location in the practice map's own code family
    # (the 2026 maps carry the SICBL codes recoded by the April 2026 mergers).
    family = str(geo.members.icb_vintage or geo.vintage)
    lsoa_sicbl = geography(family).lsoas.set_index("lsoa21_code")["place_code"]
    out["location_sicbl_code"] = out["lsoa_code"].map(lsoa_sicbl)
    out["outside_ods_sicbl"] = (out["location_sicbl_code"].notna() & (out["location_sicbl_code"] != out["sicbl_code"])).astype(bool)
    if geo.definition is not None:
        inside = set(geo.lsoas["lsoa21_code"])
        sel = out["lsoa_code"].isin(inside)
        lsoa_place = geo.lsoas.set_index("lsoa21_code")
        for c in ("place_code", "place_name", "system_code", "system_ods_code", "system_name"):
            out[c] = out["lsoa_code"].map(lsoa_place[c]).where(sel)
    sizes = geo.practice_lsoas[["practice_code", "registered_patients", "registered_date"]].drop_duplicates("practice_code")
    out = out.merge(sizes, on="practice_code", how="left")
    out["extract_date"] = m["extract_date"].iloc[0] if len(m) else pd.NaT
    return out
