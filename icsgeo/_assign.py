"""Assignment: postcodes, points and practices into LSOA, neighbourhood, place and system.

The most authoritative source is used first, and every row says which was used:

- a postcode's location and local authority come from OS Code-Point Open (live English postcodes, with
  the official LAD and ward); postcodes Code-Point lacks are looked up in NSPL (terminated postcodes,
  Wales, Scotland);
- the LSOA is found by point in polygon (LSOA 2021 boundaries), then checked against the postcode's
  official LAD: a point whose polygon lies in another LAD (generalised boundaries are 200 m coarse) is
  moved to the nearest LSOA of its official LAD (``lsoa_method = "nearest in official LAD"``);
- place, system, Sub-ICB Location and LAD come from the official lookups of the vintage
  (:class:`icsgeo._geography.Geography`), the neighbourhood from the LSOA's PCN footprint.

>>> r = where(["S1 2HE", "not a postcode"])
>>> r.loc[0, ["status", "system_code", "place_name"]].tolist()
['ok', 'E54000061', 'Sheffield']
>>> r.loc[1, "status"]
'invalid'
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ._cache import cached_frame, sha256_file
from ._catalogue import catalogue
from ._fetch import fetch
from .postcode import normalise_postcodes
from ._read import read
from ._records import ANSWER_COLUMNS, STATUSES, nest
from .settings import DISPLAY_CRS, WORKING_CRS

__all__ = ["where", "assign", "practices", "ANSWER_COLUMNS", "STATUSES", "to_records"]

log = logging.getLogger("icsgeo")

_NEAREST_MAX_M = 5_000  # coastal points outside the 200 m generalised coastline


# ---------------------------------------------------------------------------------------------
# Points → LSOA
# ---------------------------------------------------------------------------------------------

def _lsoa_polygons():
    return read("lsoa21-bsc")


def _newer_lad(codes: pd.Series) -> pd.Series:
    """Map older LAD codes to the newest (Code-Point's) vintage, using the catalogue's code changes."""
    newer = {old: new for new, old in catalogue().code_changes.get("lad", {}).items()}
    return codes.map(lambda c: newer.get(c, c)) if len(newer) else codes


def _older_lad(codes: pd.Series) -> pd.Series:
    older = catalogue().code_changes.get("lad", {})
    return codes.replace(older)


def lsoa_of_points(easting: np.ndarray, northing: np.ndarray, lad_hint: Sequence | None = None,
                   *, max_distance: float = _NEAREST_MAX_M) -> pd.DataFrame:
    """LSOA 2021 (England and Wales) holding each point: ``lsoa21_code``, ``lsoa_method``, ``spatial_lsoa21_code``.

    ``lad_hint``: each point's official LAD (any code vintage), when known. Points without coordinates
    get no LSOA. Every input row comes out, in order.
    """
    import shapely

    from ._geography import lsoa_base

    e = np.asarray(easting, dtype="float64")
    n = np.asarray(northing, dtype="float64")
    m = len(e)
    code = np.full(m, None, dtype=object)
    method = np.full(m, None, dtype=object)
    ok = np.isfinite(e) & np.isfinite(n)
    polys = _lsoa_polygons()
    tree = polys.sindex
    idx_ok = np.flatnonzero(ok)
    pts = shapely.points(e[idx_ok], n[idx_ok])
    qi, ti = _query_parallel(tree, pts)
    # a point on a shared edge intersects two polygons: keep the first, deterministically
    order = np.lexsort((ti, qi))
    qi, ti = qi[order], ti[order]
    first = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, dtype=bool)
    qi, ti = qi[first], ti[first]
    pcodes = polys["code"].to_numpy(dtype=object)
    code[idx_ok[qi]] = pcodes[ti]
    method[idx_ok[qi]] = "point in polygon"
    hit = np.zeros(len(idx_ok), dtype=bool)
    hit[qi] = True
    missing = idx_ok[~hit]
    if len(missing):
        mi, mt = tree.nearest(shapely.points(e[missing], n[missing]), max_distance=max_distance, return_all=False)
        code[missing[mi]] = pcodes[mt]
        method[missing[mi]] = "nearest polygon"
    if lad_hint is not None and len(missing):
        # a point known to be English (it has an official LAD) but far from the generalised coastline
        hinted = pd.Series(np.asarray(lad_hint, dtype=object)).notna().to_numpy()
        far = np.flatnonzero(ok & hinted & pd.isna(pd.Series(code)).to_numpy())
        if len(far):
            fi, ft = tree.nearest(shapely.points(e[far], n[far]), max_distance=25_000, return_all=False)
            code[far[fi]] = pcodes[ft]
            method[far[fi]] = "nearest polygon"
    spatial = code.copy()
    if lad_hint is not None:
        hint = _older_lad(pd.Series(np.asarray(lad_hint, dtype=object)))
        base = lsoa_base()
        lsoa_lad = pd.Series(base["lad_code"].to_numpy(), index=base["lsoa21_code"].to_numpy())
        got = pd.Series(code).map(lsoa_lad)
        wrong = (hint.notna() & got.notna() & (got != hint) & pd.Series(ok)).to_numpy()
        if wrong.any():
            _nearest_within_lad(e, n, hint.to_numpy(dtype=object), wrong, base, code, method)
    return pd.DataFrame({"lsoa21_code": code, "lsoa_method": method, "spatial_lsoa21_code": spatial})


def _query_parallel(tree, pts, chunk: int = 250_000):
    """``tree.query(pts, predicate="intersects")`` in chunks on every core (GEOS releases the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    if len(pts) <= chunk:
        return tree.query(pts, predicate="intersects")
    starts = range(0, len(pts), chunk)

    def one(start):
        qi, ti = tree.query(pts[start:start + chunk], predicate="intersects")
        return qi + start, ti

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        parts = list(pool.map(one, starts))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _nearest_within_lad(e, n, hint, wrong, base, code, method) -> None:
    """Move points whose polygon disagrees with their official LAD to the nearest LSOA of that LAD.
    One vectorised query per LAD concerned (a few dozen), never one per point."""
    import shapely

    polys = _lsoa_polygons()
    polys = polys[polys["code"].isin(base["lsoa21_code"])].merge(base[["lsoa21_code", "lad_code"]], left_on="code", right_on="lsoa21_code")
    rows = np.flatnonzero(wrong)
    for lad, members in pd.Series(rows).groupby(hint[rows]):
        cand = polys[polys["lad_code"] == lad]
        if cand.empty:
            continue
        idx = members.to_numpy()
        tree = shapely.STRtree(cand.geometry.values)
        qi, ti = tree.query_nearest(shapely.points(e[idx], n[idx]), max_distance=2_000, return_distance=False, all_matches=False)
        code[idx[qi]] = cand["code"].to_numpy(dtype=object)[ti]
        method[idx[qi]] = "nearest in official LAD"


# ---------------------------------------------------------------------------------------------
# The postcode index: every postcode icsgeo knows, located and put in its LSOA once
# ---------------------------------------------------------------------------------------------

def postcode_index() -> pd.DataFrame:
    """One row per known postcode: ``postcode, source, easting, northing, lat, lon, has_location,
    lad_code, ward_code, lsoa21_code, lsoa_method, spatial_lsoa21_code``; sorted by postcode.

    Code-Point Open (live English postcodes, official LAD) first; NSPL adds the postcodes Code-Point
    lacks (terminated ones, Wales, Scotland). Cached as Parquet keyed by the input files.
    """
    ids = ("codepoint-open-2025-10", "nspl-latlong-2025-05", "lsoa21-bsc", "lsoa21-sicbl-icb-lad-2024")
    key = {i: sha256_file(fetch(i)) for i in ids}
    return cached_frame("postcode-index", key, _build_postcode_index)


def _build_postcode_index() -> pd.DataFrame:
    cp = read("codepoint-open-2025-10")
    cp = pd.DataFrame({
        "postcode": cp["postcode"], "source": "codepoint", "easting": cp["easting"], "northing": cp["northing"],
        "lat": cp["lat"], "lon": cp["lon"], "has_location": cp["has_location"],
        "lad_code": cp["lad_code"], "ward_code": cp["ward_code"],
    })
    ns = read("nspl-latlong-2025-05")
    import pyarrow as pa
    import pyarrow.compute as pc

    in_cp = pc.is_in(pa.array(ns["postcode"].to_numpy(dtype=object), pa.string()),
                     value_set=pa.array(cp["postcode"].to_numpy(dtype=object), pa.string()))
    ns = ns[ns["postcode_valid"].to_numpy() & ~in_cp.to_numpy(zero_copy_only=False)]
    ns = pd.DataFrame({
        "postcode": ns["postcode"], "source": "nspl", "easting": ns["easting"], "northing": ns["northing"],
        "lat": ns["lat"], "lon": ns["lon"], "has_location": ns["has_location"], "lad_code": pd.NA, "ward_code": pd.NA,
    })
    idx = pd.concat([cp, ns], ignore_index=True)
    lsoa = lsoa_of_points(idx["easting"].to_numpy(), idx["northing"].to_numpy(), idx["lad_code"].to_numpy(dtype=object))
    idx = pd.concat([idx, lsoa], axis=1)
    for c in ("postcode", "source", "lad_code", "ward_code", "lsoa21_code", "lsoa_method", "spatial_lsoa21_code"):
        idx[c] = idx[c].astype("string")
    return idx.sort_values("postcode", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# LSOA → tiers for a geography
# ---------------------------------------------------------------------------------------------

def _tiers(geo) -> pd.DataFrame:
    """One row per LSOA in the geography's scope with every answer column it determines (cached on
    the geography: it is the same for every call)."""
    cached = getattr(geo, "_tiers_table", None)
    if cached is None:
        cached = _build_tiers(geo)
        geo._tiers_table = cached
    return cached


def _build_tiers(geo) -> pd.DataFrame:
    from .neighbourhoods import neighbourhood_lsoas

    l = geo.lsoas
    out = pd.DataFrame({
        "lsoa21_code": l["lsoa21_code"], "lsoa_name": l["lsoa21_name"],
        "place_code": l["place_code"], "place_name": l["place_name"],
        "system_code": l["system_code"], "system_ods_code": l["system_ods_code"], "system_name": l["system_name"],
        "sicbl_code": l["sicbl_code"], "sicbl_ods_code": l["sicbl_ods_code"], "sicbl_name": l["sicbl_name"],
        "lsoa_lad_code": _newer_lad(l["lad_code"]), "lsoa_lad_name": l["lad_name"],
    })
    try:
        nb = neighbourhood_lsoas(practice_map=geo.practice_map)
        nb = nb[["lsoa21_code", "pcn_code", "pcn_name", "method", "confidence"]].rename(columns={
            "pcn_code": "neighbourhood_code", "pcn_name": "neighbourhood_name",
            "method": "neighbourhood_method", "confidence": "neighbourhood_confidence"})
        nb.loc[nb["neighbourhood_code"].isna(), "neighbourhood_method"] = None
        out = out.merge(nb, on="lsoa21_code", how="left", validate="1:1")
    except Exception as exc:  # neighbourhoods need the practice map; without it the other tiers still answer
        log.warning("neighbourhoods unavailable (%s): answering without them", exc)
        for c in ("neighbourhood_code", "neighbourhood_name", "neighbourhood_method", "neighbourhood_confidence"):
            out[c] = None
    # an all-missing last row: positions that found no LSOA point at it
    blank = pd.DataFrame({c: [None] for c in out.columns}).astype({c: out[c].dtype for c in out.columns}, errors="ignore")
    return pd.concat([out, blank], ignore_index=True)


def _lad_names_cached(_memo: dict = {}) -> dict[str, str]:  # noqa: B006
    if "names" not in _memo:
        _memo["names"] = _lad_names()
    return _memo["names"]


def _lad_names() -> dict[str, str]:
    base = read("lsoa21-sicbl-icb-lad-2024")
    names = dict(zip(_newer_lad(base["lad_code"]), base["lad_name"]))
    names.update(dict(zip(base["lad_code"], base["lad_name"])))
    return names


def _attach(located: pd.DataFrame, geo, status: np.ndarray) -> pd.DataFrame:
    """Join located rows (``lsoa21_code``, optional ``lad_code``) to the tiers; finish the status."""
    tiers = _tiers(geo)
    # positional join: each row's LSOA → its row in the tier table (no merge on strings)
    row = pd.Index(tiers["lsoa21_code"]).get_indexer(located["lsoa21_code"].astype(object))
    row[row < 0] = len(tiers) - 1  # the table's last row is all missing (see _build_tiers)
    picked = tiers.drop(columns="lsoa21_code").iloc[row].reset_index(drop=True)
    out = pd.concat([located.reset_index(drop=True), picked], axis=1)
    in_scope = out["system_code"].notna().to_numpy()
    english = out["lsoa21_code"].astype("string").str.startswith("E01").fillna(False).to_numpy(dtype=bool)
    status = status.copy()
    locatable = np.isin(status, ["ok", "terminated"])
    status[locatable & ~english] = "outside_england"
    if geo.definition is not None:
        status[locatable & english & ~in_scope] = "outside_system"
    # The LAD: the official one given with the postcode, else the LSOA's (newest code vintage).
    lad = out["lad_code"] if "lad_code" in out else pd.Series(pd.NA, index=out.index)
    lad = lad.astype("string").fillna(out["lsoa_lad_code"].astype("string"))
    out["lad_code"] = lad.where(english)
    out["lad_name"] = out["lad_code"].map(_lad_names_cached())
    keep_tiers = np.isin(status, ["ok", "terminated"])
    tier_cols = ["lsoa_name", "neighbourhood_code", "neighbourhood_name", "neighbourhood_method", "neighbourhood_confidence",
                 "place_code", "place_name", "system_code", "system_ods_code", "system_name",
                 "sicbl_code", "sicbl_ods_code", "sicbl_name"]
    outside = status == "outside_system"
    for c in tier_cols:
        keep = keep_tiers | outside if c in ("lsoa_name", "sicbl_code", "sicbl_ods_code", "sicbl_name") else keep_tiers
        if not keep.all():
            out[c] = out[c].where(keep)
    out.loc[~english, ["lsoa21_code", "lsoa_method", "lad_code", "lad_name"]] = None
    out["status"] = status
    out["vintage"] = geo.vintage
    return out.rename(columns={"lsoa21_code": "lsoa_code"})


# ---------------------------------------------------------------------------------------------
# Public verbs
# ---------------------------------------------------------------------------------------------

def _geo(vintage, system):
    from ._geography import geography

    return geography(None if vintage is None else str(vintage), system)


def where(postcodes: Iterable[object] | pd.Series, *, vintage: str | int | None = None, system: str | None = None) -> pd.DataFrame:
    """Answer postcodes: one row per query, in order, with :data:`ANSWER_COLUMNS` and ``query``.

    ``status`` is ``ok``, ``invalid`` (not a postcode), ``not_found`` (well-formed but unknown),
    ``terminated`` (known only to NSPL; located, answered, but the location may be a sorting office),
    ``outside_england`` or ``outside_system`` (with ``system``: a custom definition it is not in).
    """
    if system is None:  # the prebuilt index holds every answer of the national geography
        from ._index import answers_for

        queries = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
        import pyarrow as pa

        table = answers_for(queries.reset_index(drop=True), vintage)
        table = pa.table({n: c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
                          for n, c in zip(table.column_names, table.columns)})
        out = table.to_pandas()
        for c in out.columns:
            if isinstance(out[c].dtype, pd.CategoricalDtype):
                out[c] = out[c].astype(object)
        # the queries exactly as given (object dtype: they may not even be valid UTF-8)
        out.insert(0, "query", pd.Series(queries.to_numpy(dtype=object), dtype=object))
        return out[["query", *ANSWER_COLUMNS]]
    return _where(postcodes, _geo(vintage, system))


def _where(postcodes: Iterable[object] | pd.Series, geo) -> pd.DataFrame:
    queries = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
    queries = queries.reset_index(drop=True)
    pcs = normalise_postcodes(queries)
    index = postcode_index()
    found = pd.DataFrame({"postcode": pcs.astype("string")}).merge(index, on="postcode", how="left", sort=False)
    status = np.full(len(found), "not_found", dtype=object)
    status[pcs.isna().to_numpy()] = "invalid"
    src = found["source"].fillna("").to_numpy(dtype=object)
    has = found["has_location"].fillna(False).to_numpy(dtype=bool)
    status[(src == "codepoint") & has] = "ok"
    status[(src == "nspl") & has] = "terminated"  # refined to outside_england by _attach when not English
    status[(src == "codepoint") & ~has] = "not_found"  # live English postcode without a grid reference: not locatable
    out = _attach(found, geo, status)
    out.insert(0, "query", queries.to_numpy(dtype=object))
    out["postcode"] = pcs.to_numpy(dtype=object)
    return out[["query", *ANSWER_COLUMNS]]


def assign(points: pd.DataFrame | None = None, *, easting=None, northing=None, lat=None, lon=None,
           vintage: str | int | None = None, system: str | None = None, engine: str = "local",
           npartitions: int | None = None) -> pd.DataFrame:
    """Assign points (EPSG:27700 ``easting``/``northing`` or WGS84 ``lat``/``lon``) to the tiers.

    Give arrays, or a DataFrame with ``easting``/``northing`` or ``lat``/``lon`` columns. One row out
    per point, in order; a point that is not a number or not in Great Britain's range is ``invalid``.

    ``engine="dask"`` runs the point-in-polygon step with dask-geopandas in ``npartitions`` chunks
    (``pip install "icsgeo[dask]"``): for tens of millions of points, or a dask cluster. The answers
    are the same as the local engine's.
    """
    if engine not in ("local", "dask"):
        raise ValueError(f"engine must be 'local' or 'dask', not {engine!r}")
    if points is not None:
        cols = set(points.columns)
        if {"easting", "northing"} <= cols:
            easting, northing = points["easting"], points["northing"]
        elif {"lat", "lon"} <= cols:
            lat, lon = points["lat"], points["lon"]
        else:
            raise ValueError(f"points need easting/northing or lat/lon columns; got {sorted(cols)}")
    if easting is not None and northing is not None:
        e = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(easting, dtype=object))), errors="coerce").to_numpy(dtype="float64")
        n = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(northing, dtype=object))), errors="coerce").to_numpy(dtype="float64")
        valid = np.isfinite(e) & np.isfinite(n) & (e >= 0) & (e <= 700_000) & (n >= 0) & (n <= 1_300_000)
        la, lo = _to_latlon(e, n)
    elif lat is not None and lon is not None:
        la = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(lat, dtype=object))), errors="coerce").to_numpy(dtype="float64")
        lo = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(lon, dtype=object))), errors="coerce").to_numpy(dtype="float64")
        valid = np.isfinite(la) & np.isfinite(lo) & (la >= 49) & (la <= 61) & (lo >= -9) & (lo <= 3)
        e, n = _to_bng(la, lo)
    else:
        raise ValueError("give easting and northing, or lat and lon")
    e, n = np.where(valid, e, np.nan), np.where(valid, n, np.nan)
    la, lo = np.where(valid, la, np.nan), np.where(valid, lo, np.nan)
    located = lsoa_of_points(e, n) if engine == "local" else _lsoa_of_points_dask(e, n, npartitions)
    located["easting"], located["northing"] = np.round(e, 1), np.round(n, 1)
    located["lat"], located["lon"] = np.round(la, 6), np.round(lo, 6)
    status = np.where(valid, "ok", "invalid").astype(object)
    status[valid & located["lsoa21_code"].isna().to_numpy()] = "outside_england"
    out = _attach(located, _geo(vintage, system), status)
    out["postcode"] = None
    out.loc[out["status"] == "invalid", ["easting", "northing", "lat", "lon"]] = np.nan
    return out[ANSWER_COLUMNS]


def _lsoa_of_points_dask(e: np.ndarray, n: np.ndarray, npartitions: int | None) -> pd.DataFrame:
    """The point-in-polygon step with dask-geopandas (an inner spatial join per partition), then the
    same nearest-polygon fallback as the local engine for the few points no polygon holds."""
    try:
        import dask_geopandas
    except ImportError as exc:
        from .errors import MissingDependencyError

        raise MissingDependencyError('engine="dask" needs dask-geopandas: pip install "icsgeo[dask]"') from exc
    import geopandas

    polys = _lsoa_polygons()[["code", "geometry"]]
    ok = np.isfinite(e) & np.isfinite(n)
    pts = geopandas.GeoDataFrame({"row": np.flatnonzero(ok)}, geometry=geopandas.points_from_xy(e[ok], n[ok]), crs=WORKING_CRS)
    parts = npartitions or max(1, len(pts) // 500_000)
    dpts = dask_geopandas.from_geopandas(pts, npartitions=parts)
    joined = dask_geopandas.sjoin(dpts, polys, predicate="intersects").compute()
    joined = joined.sort_values(["row", "index_right"]).drop_duplicates("row")  # edge points: first polygon
    code = np.full(len(e), None, dtype=object)
    method = np.full(len(e), None, dtype=object)
    code[joined["row"].to_numpy()] = joined["code"].to_numpy(dtype=object)
    method[joined["row"].to_numpy()] = "point in polygon"
    missing = np.flatnonzero(ok & pd.isna(pd.Series(code)).to_numpy())
    if len(missing):
        fallback = lsoa_of_points(e[missing], n[missing])
        code[missing] = fallback["lsoa21_code"].to_numpy(dtype=object)
        method[missing] = fallback["lsoa_method"].to_numpy(dtype=object)
    return pd.DataFrame({"lsoa21_code": code, "lsoa_method": method, "spatial_lsoa21_code": code.copy()})


def _to_latlon(e, n):
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(WORKING_CRS, DISPLAY_CRS, always_xy=True).transform(e, n)
    return np.asarray(lat), np.asarray(lon)


def _to_bng(lat, lon):
    from pyproj import Transformer

    e, n = Transformer.from_crs(DISPLAY_CRS, WORKING_CRS, always_xy=True).transform(lon, lat)
    return np.asarray(e), np.asarray(n)


def practices(geo=None) -> pd.DataFrame:
    """Every practice of the geography's practice map with its location, LSOA, tiers and flags.

    The neighbourhood is the practice's PCN and the Sub-ICB Location its ODS commissioner (membership
    is authoritative for practices); the LSOA, place and system come from its location.
    ``outside_ods_sicbl`` flags practices whose postcode lies outside their ODS Sub-ICB Location.
    """
    geo = geo or _geo(None, None)
    m = read(geo.practice_map)
    where_ = _where(m["postcode"].astype(object), _geo(geo.vintage, None))
    loc = where_[["status", "lsoa_code", "place_code", "place_name", "system_code", "system_ods_code", "system_name",
                  "sicbl_code", "lad_code", "lad_name", "easting", "northing", "lat", "lon"]]
    loc = loc.rename(columns={"status": "location_status", "sicbl_code": "location_sicbl_code"})
    out = pd.concat([m[["practice_code", "practice_name", "postcode", "pcn_code", "pcn_name", "is_unallocated",
                        "sicbl_code", "sicbl_ods_code", "sicbl_name", "icb_code", "icb_ods_code", "icb_name"]].reset_index(drop=True),
                     loc.reset_index(drop=True)], axis=1)
    # Compare like with like: the location's Sub-ICB Location in the practice map's own code family
    # (the 2026 maps carry the SICBL codes recoded by the April 2026 mergers).
    map_family = str(catalogue().get(geo.practice_map).get("icb_vintage", "2023"))
    sicbl_geo = _geo(map_family if map_family in ("2023", "2026") else "2023", None)
    lsoa_sicbl = sicbl_geo.lsoas.set_index("lsoa21_code")["place_code"]
    out["location_sicbl_code"] = out["lsoa_code"].map(lsoa_sicbl)
    out["outside_ods_sicbl"] = (out["location_sicbl_code"].notna() & (out["location_sicbl_code"] != out["sicbl_code"])).astype(bool)
    if geo.definition is not None:
        inside = set(geo.lsoas["lsoa21_code"])
        sel = out["lsoa_code"].isin(inside)
        lsoa_place = geo.lsoas.set_index("lsoa21_code")
        for c in ("place_code", "place_name", "system_code", "system_ods_code", "system_name"):
            out[c] = out["lsoa_code"].map(lsoa_place[c]).where(sel)
    sizes = practice_list_sizes()
    out = out.merge(sizes[["practice_code", "registered_patients", "registered_date"]], on="practice_code", how="left")
    out["extract_date"] = m["extract_date"].iloc[0] if len(m) else pd.NaT
    return out


def practice_list_sizes() -> pd.DataFrame:
    """Registered patients per practice (``practice_code, registered_patients, registered_date``):
    the newest registration file that covers the practice (QNC, October 2025; else England, July 2023)."""
    regs = [e for e in catalogue() if e.kind == "registrations"]

    def build() -> pd.DataFrame:
        parts = []
        for e in sorted(regs, key=lambda e: e.date, reverse=True):
            r = read(e)
            t = r.groupby("practice_code", as_index=False)["patients"].sum()
            t["registered_date"] = pd.Timestamp(e.date)
            parts.append(t)
        out = pd.concat(parts, ignore_index=True).drop_duplicates("practice_code", keep="first")
        return out.rename(columns={"patients": "registered_patients"}).reset_index(drop=True)

    key = {e.id: sha256_file(fetch(e)) for e in regs}
    return cached_frame("practice-list-sizes", key, build)


def to_records(frame: pd.DataFrame) -> list[dict]:
    """Nest flat answer rows into the JSON objects of ``icsgeo where --json``."""
    f = frame.astype(object).where(frame.notna(), None)
    return [nest(r) for r in f.to_dict("records")]
