"""Where things are: points into LSOA 2021, and the postcode table (every known postcode, located and
put in its LSOA once).

- A postcode's location and local authority come from the ``postcodes`` role (OS Code-Point Open: live
  English postcodes with their official LAD and ward); ``postcodes_extra`` (NSPL) adds the postcodes
  it lacks (terminated ones, Wales, Scotland).
- The LSOA is found by point in polygon (the ``lsoa_polygons`` role), then checked against the
  postcode's official LAD: a point whose polygon lies in another LAD (generalised boundaries are
  coarse) moves to the nearest LSOA of its official LAD (``lsoa_method = "nearest in official LAD"``).
- When the ``postcodes`` role is an ONS postcode directory (ONSPD, NSPL, NHSPD: its frame carries
  ``lsoa21_code``), a postcode whose directory LSOA is a known English LSOA 2021 takes it
  (``lsoa_method = "directory"``); the others are placed by point as above. A directory's
  terminated postcodes are ``terminated``.

:func:`lsoa_of_points` and :func:`combine_postcodes` work on frames (polygons and the LSOA -> LAD
table are passed in), so they can be tested on a toy; :func:`postcode_table` and
:func:`locate_postcodes` read the files.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Sequence

import numpy as np
import pandas as pd

from .postcode import normalise_postcodes
from .settings import DISPLAY_CRS, WORKING_CRS
from .sources.cache import cached_frame, cached_parts, cached_rows
from .sources.catalogue import catalogue
from .sources.inputs import dataset, input_key, warn_unavailable
from .sources.read import read
from . import areas

__all__ = [
    "NEAREST_MAX_M",
    "LOCATE_ROLES",
    "lsoa_of_points",
    "lsoa_of_points_dask",
    "DIRECTORY_COLUMNS",
    "postcode_table",
    "postcode_table_parts",
    "combine_postcodes",
    "locate_postcodes",
    "table_status",
    "to_latlon",
    "to_bng",
]

log = logging.getLogger("icsgeo")

#: Coastal points outside the generalised coastline still get the nearest LSOA within this distance.
NEAREST_MAX_M = 5_000
#: What the postcode table is built from.
LOCATE_ROLES = ("postcodes", "postcodes_extra", "lsoa_polygons", "lsoa_lookup")
#: From this many points on, :func:`lsoa_of_points` answers most points from the classified grid of
#: the polygons (:mod:`icsgeo.grid`, built once and cached by the polygons' bytes).
GRID_FROM = 100_000
#: Rows per row group of the cached postcode table: :func:`locate_postcodes` reads only the groups
#: that can hold the postcodes asked for.
TABLE_ROW_GROUP = 65_536
#: Points put in their LSOA at a time while the postcode table is built (:func:`_located`).
LOCATE_CHUNK = 1 << 19
#: Held while prepared polygons are tested (see :func:`_point_polygon_pairs`).
_PREPARED = threading.Lock()
#: Columns of the postcode table that only a postcode directory fills (null for other sources):
#: whether it is terminated and since when (``YYYYMM``), and the Sub-ICB Location and ICB codes the
#: directory gives it (carried for cross-checks; the tiers come from the LSOA).
DIRECTORY_COLUMNS = ("terminated", "termination_date", "directory_sicbl_code", "directory_icb_code")


def lsoa_of_points(easting, northing, *, polygons, lsoa_lads: pd.DataFrame | None = None,
                   lad_hint: Sequence | None = None, max_distance: float = NEAREST_MAX_M) -> pd.DataFrame:
    """LSOA holding each point: ``lsoa21_code``, ``lsoa_method``, ``spatial_lsoa21_code``.

    ``polygons``: a GeoDataFrame with ``code`` and geometry (EPSG:27700). ``lad_hint``: each point's
    official LAD (any code vintage), when known, with ``lsoa_lads`` (``lsoa21_code, lad_code``) to
    check the polygon's LAD against: a point whose polygon lies in another LAD moves to the nearest
    LSOA (within 2 km) of its official LAD. Points without coordinates get no LSOA. Every input row
    comes out, in order. From :data:`GRID_FROM` points on, most points are answered by the
    classified grid of the polygons (:mod:`icsgeo.grid`), with the same answers.
    """
    import shapely

    e = np.asarray(easting, dtype="float64")
    n = np.asarray(northing, dtype="float64")
    m = len(e)
    poly = np.full(m, -1, dtype=np.int64)  # each point's polygon (row), -1: none
    how = np.full(m, -1, dtype=np.int64)  # its _METHODS entry
    ok = np.isfinite(e) & np.isfinite(n)
    tree = polygons.sindex
    idx_ok = np.flatnonzero(ok)
    # the postcode table (lad_hint) uses the grid if made, but does not make it: once, it costs more than it saves
    qi, ti = _polygon_of_points(tree, np.asarray(polygons.geometry.values), e[idx_ok], n[idx_ok], build=lad_hint is None)
    pcodes = polygons["code"].to_numpy(dtype=object)
    poly[idx_ok[qi]] = ti
    how[idx_ok[qi]] = 0
    hit = np.zeros(len(idx_ok), dtype=bool)
    hit[qi] = True
    missing = idx_ok[~hit]
    if len(missing):
        mi, mt = tree.nearest(shapely.points(e[missing], n[missing]), max_distance=max_distance, return_all=False)
        poly[missing[mi]] = mt
        how[missing[mi]] = 1
    if lad_hint is not None and len(missing):
        # a point known to be English (it has an official LAD) but far from the generalised coastline
        hinted = pd.Series(np.asarray(lad_hint, dtype=object)).notna().to_numpy()
        far = np.flatnonzero(ok & hinted & pd.isna(pd.Series(_objects(pcodes, poly))).to_numpy())
        if len(far):
            fi, ft = tree.nearest(shapely.points(e[far], n[far]), max_distance=25_000, return_all=False)
            poly[far[fi]] = ft
            how[far[fi]] = 1
    spatial = poly.copy()
    if lad_hint is not None:
        if lsoa_lads is None:
            raise ValueError("lad_hint needs lsoa_lads (lsoa21_code, lad_code) to check the polygons' LAD against")
        hint = areas.older_lad(pd.Series(np.asarray(lad_hint, dtype=object)))
        lsoa_lad = pd.Series(lsoa_lads["lad_code"].to_numpy(), index=lsoa_lads["lsoa21_code"].to_numpy())
        got = pd.Series(_objects(pcodes, poly)).map(lsoa_lad)
        wrong = (hint.notna() & got.notna() & (got != hint) & pd.Series(ok)).to_numpy()
        if wrong.any():
            _nearest_within_lad(e, n, hint.to_numpy(dtype=object), wrong, polygons, lsoa_lads, poly, how)
    return pd.DataFrame({"lsoa21_code": _column(pcodes, poly), "lsoa_method": _column(_METHODS, how),
                         "spatial_lsoa21_code": _column(pcodes, spatial)})


#: How :func:`lsoa_of_points` found a point's LSOA (its ``lsoa_method``).
_METHODS = np.array(["point in polygon", "nearest polygon", "nearest in official LAD"], dtype=object)


def _objects(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` as objects, None where ``idx`` is -1."""
    out = np.full(len(idx), None, dtype=object)
    out[idx >= 0] = values[idx[idx >= 0]]
    return out


def _column(values: np.ndarray, idx: np.ndarray):
    """The column pandas makes of :func:`_objects` ``(values, idx)`` (the same dtype and values),
    made from the distinct values taken, so that each row is not converted on its own."""
    present = np.flatnonzero(np.bincount(idx[idx >= 0], minlength=len(values)))
    missing = bool((idx < 0).any())
    distinct = np.full(len(present) + missing, None, dtype=object)
    distinct[:len(present)] = values[present]
    where = np.full(len(values) + 1, len(present), dtype=np.int64)  # the last: idx -1, the missing value
    where[present] = np.arange(len(present))
    return pd.Series(distinct).array.take(where[idx])


def _polygon_of_points(tree, geoms, x, y, *, build: bool = True):
    """``(point, polygon)``: the first polygon (by tree index) holding each point that is in one, a
    point on a shared edge being in both. From :data:`GRID_FROM` points on, the classified grid
    (:mod:`icsgeo.grid`; made if ``build`` and not yet made) answers the points of cells wholly
    inside one polygon (or outside all) and only the others take the polygon test; the answers are
    the same."""
    import shapely

    from . import grid as cells

    grid = None
    if len(x) >= GRID_FROM and cells.suits(geoms):
        grid = cells.grid_for(geoms, lambda px, py: _point_polygon_pairs(tree, None, geoms, px, py, prepared_from=0),
                              build=build)
    if grid is not None:
        answer = grid.classify(x, y)
        sure = np.flatnonzero(answer >= 0)
        test = np.flatnonzero(answer == cells.TEST)
        qi, ti = _first_polygon(*_point_polygon_pairs(tree, None, geoms, x[test], y[test], prepared_from=0))
        return np.concatenate([sure, test[qi]]), np.concatenate([answer[sure].astype(np.int64), ti])
    return _first_polygon(*_point_polygon_pairs(tree, shapely.points(x, y), geoms, x, y))


def _first_polygon(qi, ti):
    """One pair per point: a point on a shared edge intersects two polygons; keep the first."""
    order = np.lexsort((ti, qi))
    qi, ti = qi[order], ti[order]
    first = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, dtype=bool)
    return qi[first], ti[first]


def _point_polygon_pairs(tree, pts, geoms, x, y, chunk: int = 250_000, prepared_from: int | None = None):
    """The pairs of ``tree.query(pts, predicate="intersects")`` (point, polygon); ``x``, ``y``: the
    points' coordinates (``pts`` None: made from them, a chunk at a time).

    The tree's own predicate prepares the query geometry, a point, and so walks every edge of every
    candidate polygon: 2.5x the time on the 20 m (BGC) LSOAs, with five times the vertices of the
    200 m (BSC) ones. More than one ``chunk`` of points take the tree's candidates by bounding box
    instead, a chunk at a time, and test their coordinates on the prepared polygons ``geoms`` (the
    tree's geometries; GEOS's indexed point-in-area locator, built once per polygon) polygon by
    polygon, so that each polygon's index is tested while it is in the CPU's cache, whatever the
    points' order. The pairs are the same either way. On 2 cores, England's 2.6 M postcodes on BGC
    take 3.1 s on one core where the predicate took 5.2 s on both (on BSC 2.1 s); 1.5 M scattered
    points 3.8 s where it took 6.8 s (on BSC 5.2 s). On one thread, holding
    :data:`_PREPARED`: GEOS's prepared geometries are not thread-safe (libgeos/geos#825; two threads
    testing the same ones corrupted the heap here). The polygons are left unprepared, as they came.
    ``prepared_from``: the number of points past which the prepared polygons are used (``chunk``
    unless given)."""
    import shapely

    if len(x) <= (chunk if prepared_from is None else prepared_from):
        return tree.query(shapely.points(x, y) if pts is None else pts, predicate="intersects")
    with _PREPARED:
        fresh = ~shapely.is_prepared(geoms)
        shapely.prepare(geoms[fresh])
        try:
            parts = []
            for start in range(0, len(x), chunk):
                part = shapely.points(x[start:start + chunk], y[start:start + chunk]) if pts is None else pts[start:start + chunk]
                qi, ti = tree.query(part)
                by_polygon = np.argsort(ti, kind="stable")
                qi, ti = qi[by_polygon] + start, ti[by_polygon]
                keep = shapely.intersects_xy(geoms[ti], x[qi], y[qi])
                parts.append((qi[keep], ti[keep]))
        finally:
            shapely.destroy_prepared(geoms[fresh])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _nearest_within_lad(e, n, hint, wrong, polygons, lsoa_lads, poly, how) -> None:
    """Move points whose polygon disagrees with their official LAD to the nearest LSOA of that LAD
    (``poly``: each point's polygon row, ``how``: its method, both updated in place). One vectorised
    query per LAD concerned (a few dozen), never one per point."""
    import shapely

    rows_of = pd.DataFrame({"code": polygons["code"].to_numpy(), "geometry": polygons.geometry.to_numpy(),
                            "row": np.arange(len(polygons))})
    polys = rows_of[rows_of["code"].isin(lsoa_lads["lsoa21_code"])].merge(
        lsoa_lads[["lsoa21_code", "lad_code"]], left_on="code", right_on="lsoa21_code")
    rows = np.flatnonzero(wrong)
    for lad, members in pd.Series(rows).groupby(hint[rows]):
        cand = polys[polys["lad_code"] == lad]
        if cand.empty:
            continue
        idx = members.to_numpy()
        tree = shapely.STRtree(cand["geometry"].to_numpy())
        qi, ti = tree.query_nearest(shapely.points(e[idx], n[idx]), max_distance=2_000, return_distance=False, all_matches=False)
        poly[idx[qi]] = cand["row"].to_numpy()[ti]
        how[idx[qi]] = 2


def lsoa_of_points_dask(e: np.ndarray, n: np.ndarray, *, polygons, npartitions: int | None = None) -> pd.DataFrame:
    """The point-in-polygon step with dask-geopandas (an inner spatial join per partition), then the
    same nearest-polygon fallback as :func:`lsoa_of_points` for the few points no polygon holds."""
    try:
        import dask_geopandas
    except ImportError as exc:
        from .errors import MissingDependencyError

        raise MissingDependencyError('engine="dask" needs dask-geopandas: pip install "icsgeo[dask]"') from exc
    import geopandas

    polys = polygons[["code", "geometry"]]
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
        fallback = lsoa_of_points(e[missing], n[missing], polygons=polygons)
        code[missing] = fallback["lsoa21_code"].to_numpy(dtype=object)
        method[missing] = fallback["lsoa_method"].to_numpy(dtype=object)
    return pd.DataFrame({"lsoa21_code": code, "lsoa_method": method, "spatial_lsoa21_code": code.copy()})


# ---------------------------------------------------------------------------------------------
# The postcode table
# ---------------------------------------------------------------------------------------------

def _roles():
    cat = catalogue()
    return [cat.role(r) for r in LOCATE_ROLES]


def postcode_table() -> pd.DataFrame:
    """One row per known postcode: ``postcode, source, easting, northing, lat, lon, has_location,
    lad_code, ward_code, country_code, quality`` (ONS scale 1-9), ``lsoa21_code, lsoa_method, spatial_lsoa21_code`` and the
    :data:`DIRECTORY_COLUMNS`; sorted by postcode.

    The ``postcodes`` role first (``source = "postcodes"``); ``postcodes_extra`` adds the postcodes it
    lacks (``source = "postcodes_extra"``: terminated, Welsh, Scottish). Cached as Parquet keyed by the
    files it is built from. See :func:`combine_postcodes`.
    """
    return cached_frame("postcode-table", input_key(_roles()), _build_postcode_table, row_group_size=TABLE_ROW_GROUP)


def postcode_table_parts(rows: int):
    """:func:`postcode_table` as consecutive frames of about ``rows`` rows, in order (an iterator),
    read from the cached table a batch at a time: what reads every postcode without holding them
    all (the index build). The table is built first when it is not cached."""
    return cached_parts("postcode-table", input_key(_roles()), _build_postcode_table, rows=rows,
                        row_group_size=TABLE_ROW_GROUP)


def _build_postcode_table() -> pd.DataFrame:
    cat = catalogue()
    extra = cat.role("postcodes_extra")
    # the frames are handed over, not kept here: combine_postcodes lets each go once it is used
    return combine_postcodes(read(dataset(cat.role("postcodes"))),
                             read(dataset(extra)) if warn_unavailable(extra) is None else None,
                             polygons=areas.lsoa_polygons(), lsoas=areas.lsoa_base()[["lsoa21_code", "lad_code"]])


def combine_postcodes(postcodes: pd.DataFrame, extra: pd.DataFrame | None = None, *, polygons,
                      lsoas: pd.DataFrame) -> pd.DataFrame:
    """The postcode table from frames: the ``postcodes`` role's canonical frame, the
    ``postcodes_extra`` one (or None), the LSOA polygons and the English LSOAs (``lsoa21_code,
    lad_code``).

    Every row of ``postcodes`` comes out (``source = "postcodes"``), then the valid postcodes of
    ``extra`` it lacks (``source = "postcodes_extra"``, their location only). Each located row is put
    in its LSOA by :func:`lsoa_of_points` (checked against its official LAD), kept as
    ``spatial_lsoa21_code``. A directory (a frame carrying ``lsoa21_code``) gives the LSOA outright
    where its code is one of ``lsoas`` (``lsoa_method = "directory"``); pseudo, Welsh or unknown
    codes fall back to the point. ``terminated``, ``termination_date`` and the directory's
    ``sicbl_code``/``icb_code`` (as ``directory_sicbl_code``/``directory_icb_code``) come along, null
    for the other sources. Sorted by postcode.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [_table_part(postcodes, "postcodes")]
    if extra is not None:
        in_primary = pc.is_in(pa.array(extra["postcode"].to_numpy(dtype=object), pa.string()),
                              value_set=pa.array(postcodes["postcode"].to_numpy(dtype=object), pa.string()))
        extra = extra[extra["postcode_valid"].to_numpy() & ~in_primary.to_numpy(zero_copy_only=False)]
        parts.append(_table_part(extra, "postcodes_extra", directory=False))
    del postcodes, extra  # what is kept is in the parts: the source frames can go
    idx = _sorted_rows(parts)  # sorted first: every step below works row by row
    directory_lsoa = idx.pop("directory_lsoa21_code")
    lsoa = _located(idx, polygons, lsoas[["lsoa21_code", "lad_code"]])
    del polygons
    _take_directory_lsoas(lsoa, directory_lsoa, lsoas["lsoa21_code"])
    del directory_lsoa
    new = idx[list(DIRECTORY_COLUMNS)]
    idx = pd.concat([idx.drop(columns=list(DIRECTORY_COLUMNS)), lsoa, new], axis=1)
    del lsoa, new
    for c in ("postcode", "source", "lad_code", "ward_code", "country_code", "lsoa21_code", "lsoa_method", "spatial_lsoa21_code",
              "termination_date", "directory_sicbl_code", "directory_icb_code"):
        idx[c] = idx[c].astype("string")
    idx["terminated"] = idx["terminated"].astype("boolean")
    return idx


def _located(rows: pd.DataFrame, polygons, lsoa_lads: pd.DataFrame, chunk: int | None = None) -> pd.DataFrame:
    """:func:`lsoa_of_points` of the rows' points (checked against their ``lad_code``), ``chunk``
    points at a time (:data:`LOCATE_CHUNK`): each point's answer is its own, so the answers are
    those of one call, for a fraction of its memory."""
    chunk = chunk or LOCATE_CHUNK
    e, n = rows["easting"].to_numpy(), rows["northing"].to_numpy()
    lad = rows["lad_code"].to_numpy(dtype=object)
    parts = [lsoa_of_points(e[start:start + chunk], n[start:start + chunk], polygons=polygons, lsoa_lads=lsoa_lads,
                            lad_hint=lad[start:start + chunk]) for start in range(0, max(len(e), 1), chunk)]
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _sorted_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts one after another, sorted by postcode (stable: equal postcodes keep that order), as
    ``pd.concat(parts).sort_values("postcode", kind="stable")`` gives them, built a column at a time
    and emptying ``parts`` as it goes, so that no second copy of the whole table is ever held."""
    key = pd.concat([p["postcode"] for p in parts], ignore_index=True)
    order = key.sort_values(kind="stable").index.to_numpy()
    del key
    columns = []
    for c in list(parts[0].columns):
        whole = pd.concat([p.pop(c) for p in parts], ignore_index=True)
        columns.append(whole.take(order).reset_index(drop=True))
        del whole
    parts.clear()
    return pd.concat(columns, axis=1)


def _table_part(frame: pd.DataFrame, source: str, *, directory: bool = True) -> pd.DataFrame:
    """One source's rows in the postcode table's columns (with the directory's LSOA, for
    :func:`_take_directory_lsoas`); the extra file contributes locations only. Codes are Arrow-backed
    text already (a column the source lacks is an empty one of the same type), so the sources put
    together hold no Python objects."""
    def col(name, dtype="string"):
        if directory and name in frame:
            return frame[name].astype(dtype)
        return pd.Series(pd.NA, index=frame.index, dtype=dtype)

    return pd.DataFrame({
        "postcode": frame["postcode"], "source": source, "easting": frame["easting"], "northing": frame["northing"],
        "lat": frame["lat"], "lon": frame["lon"], "has_location": frame["has_location"],
        "lad_code": col("lad_code"), "ward_code": col("ward_code"), "country_code": col("country_code"),
        "quality": col("quality", "Int8"),
        "directory_lsoa21_code": col("lsoa21_code"), "terminated": col("terminated", "boolean"),
        "termination_date": col("termination_date"), "directory_sicbl_code": col("sicbl_code"),
        "directory_icb_code": col("icb_code"),
    })


def _take_directory_lsoas(lsoa: pd.DataFrame, directory: pd.Series, known: pd.Series) -> None:
    """Rows whose directory LSOA is a known English LSOA 2021 take it (``lsoa_method =
    "directory"``), in place; ``spatial_lsoa21_code`` keeps the point's LSOA for cross-checks."""
    codes = directory.astype("string").to_numpy(dtype=object, na_value=None)
    take = pd.Series(codes).isin(set(known.dropna().astype(str))).to_numpy(dtype=bool)
    if take.any():
        lsoa.loc[take, "lsoa21_code"] = codes[take]
        lsoa.loc[take, "lsoa_method"] = "directory"


def locate_postcodes(queries) -> pd.DataFrame:
    """Postcodes (any case and spacing) looked up in the postcode table: one row per query, in order,
    with the table's columns, ``postcode`` normalised (missing when invalid) and a base ``status``:
    ``ok`` (a live postcode with a location), ``terminated`` (known only to the extra file),
    ``not_found`` (well-formed but unknown, or without a grid reference) or ``invalid``."""
    queries = queries if isinstance(queries, pd.Series) else pd.Series(list(queries), dtype=object)
    pcs = normalise_postcodes(queries.reset_index(drop=True))
    # only the rows asked for are read from the cached table (a few row groups, not 2.6 M rows)
    table = cached_rows("postcode-table", input_key(_roles()), _build_postcode_table, column="postcode",
                        values=pcs.dropna().astype(str).unique(), row_group_size=TABLE_ROW_GROUP)
    found = pd.DataFrame({"postcode": pcs.astype("string")}).merge(table, on="postcode", how="left", sort=False)
    status = table_status(found)
    status[pcs.isna().to_numpy()] = "invalid"
    found["status"] = status
    found["postcode"] = pcs.to_numpy(dtype=object)
    return found


def table_status(rows: pd.DataFrame) -> np.ndarray:
    """The base status of rows of the postcode table: ``ok`` (a live postcode with a location),
    ``terminated`` (located, and known only to the extra file or terminated in the directory) or
    ``not_found`` (no row, or no grid reference)."""
    status = np.full(len(rows), "not_found", dtype=object)
    src = rows["source"].fillna("").to_numpy(dtype=object)
    has = rows["has_location"].fillna(False).to_numpy(dtype=bool)
    status[(src == "postcodes") & has] = "ok"
    status[(src == "postcodes_extra") & has] = "terminated"
    if "terminated" in rows:  # a table cached before directories were read has no such column
        status[rows["terminated"].fillna(False).to_numpy(dtype=bool) & has] = "terminated"
    return status


def to_latlon(e, n):
    """British National Grid to WGS84: ``(lat, lon)`` arrays."""
    lon, lat = _transform(WORKING_CRS, DISPLAY_CRS, e, n)
    return lat, lon


def to_bng(lat, lon):
    """WGS84 to British National Grid: ``(easting, northing)`` arrays."""
    return _transform(DISPLAY_CRS, WORKING_CRS, lon, lat)


@functools.lru_cache(maxsize=4)
def _transformer(source: str, target: str):
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)  # thread-safe since pyproj 3.1


def _transform(source: str, target: str, x, y):
    a, b = _transformer(source, target).transform(x, y)
    return np.asarray(a), np.asarray(b)
