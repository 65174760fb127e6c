"""The LSOA base: every English LSOA 2021 with its parents in every code family, its centroid and
population; the LSOA polygons; LAD code vintages; dissolving LSOAs into larger areas.

Everything above this layer builds on LSOA 2021. Inputs are read by role (``lsoa_lookup``,
``lsoa_population``, ``lsoa_centroids``, ``lsoa_wards``, ``counties``, ``lsoa11_lsoa21``,
``lsoa_ccgs``, ``lsoa_polygons``, ``lsoa_shapes``); a missing optional one leaves its column empty and
says so in ``lsoa_base().attrs["unavailable"]``.

>>> base = lsoa_base()
>>> len(base), base["lsoa21_code"].is_unique
(33755, True)
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd

from .settings import WORKING_CRS
from .sources.cache import cached_frame
from .sources.catalogue import catalogue
from .sources.inputs import dataset, datasets, input_key, unavailable
from .sources.read import read

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = [
    "BASE_ROLES",
    "lsoa_base",
    "lsoa_polygons",
    "lsoa_shapes",
    "lsoa_deprivation",
    "deprivation_of",
    "most_common",
    "newer_lad",
    "older_lad",
    "lad_names",
    "dissolve",
]

log = logging.getLogger("icsgeo")

#: The roles the LSOA base is built from (the optional ones fill one column each).
BASE_ROLES = ("lsoa_lookup", "lsoa_population", "lsoa_centroids", "lsoa_wards", "counties", "lsoa11_lsoa21", "lsoa_ccgs")


def _role(name: str):
    return catalogue().role(name)


def _read(role: str, table: str | None = None):
    return read(dataset(_role(role)), table)


def most_common(frame: pd.DataFrame, key: str, value: str, weight: str | None = None) -> pd.DataFrame:
    """For each ``key``, the ``value`` with the largest total ``weight`` (the count when None);
    ties go to the lowest value. One row per key: ``key, value``."""
    w = frame[weight] if weight else pd.Series(1, index=frame.index)
    agg = frame.assign(_w=w).groupby([key, value], observed=True)["_w"].sum().reset_index()
    agg = agg.sort_values([key, "_w", value], ascending=[True, False, True])
    return agg.drop_duplicates(key)[[key, value]]


def lsoa_base() -> pd.DataFrame:
    """One row per English LSOA 2021: its parents in every code family icsgeo uses.

    ``lsoa21_code, lsoa21_name, sicbl_code, sicbl_ods_code, sicbl_name, icb23_code, lad_code,
    lad_name, population, msoa21_code, msoa21_name, ward_code, easting, northing, ctyua_code, ctyua_method, ccg_code``
    (``easting``/``northing``: the population-weighted centroid, EPSG:27700). Cached by its inputs.
    """
    roles = [_role(r) for r in BASE_ROLES]
    base = cached_frame("lsoa-base", input_key(roles), _build_lsoa_base)
    base.attrs["unavailable"] = {r.name: why for r in roles if r.optional and (why := unavailable(r))}
    return base


def _build_lsoa_base() -> pd.DataFrame:
    import geopandas

    lu = _read("lsoa_lookup")
    base = lu[["lsoa21_code", "lsoa21_name", "sicbl_code", "sicbl_ods_code", "sicbl_name", "icb_code", "lad_code", "lad_name"]]
    base = base.rename(columns={"icb_code": "icb23_code"})
    pop = _read("lsoa_population")
    pop = pop[["lsoa21_code", "population", *(["msoa21_code"] if "msoa21_code" in pop else [])]]
    base = base.merge(pop, on="lsoa21_code", how="left", validate="1:1")
    if "msoa21_code" not in base:
        base["msoa21_code"] = pd.array([pd.NA] * len(base), dtype="string")
    base["msoa21_code"] = base["msoa21_code"].astype("string")
    base["msoa21_name"] = msoa_names(base["lsoa21_name"]).where(base["msoa21_code"].notna())
    if unavailable(_role("lsoa_wards")) is None:
        wards = _read("lsoa_wards")[["lsoa21_code", "ward_code"]]
        base = base.merge(wards, on="lsoa21_code", how="left", validate="1:1")
    else:
        base["ward_code"] = pd.array([pd.NA] * len(base), dtype="string")
    pwc = _read("lsoa_centroids")
    pwc = pwc[pwc["code"].isin(base["lsoa21_code"])]
    xy = pd.DataFrame({"lsoa21_code": pwc["code"].to_numpy(), "easting": pwc.geometry.x.to_numpy(), "northing": pwc.geometry.y.to_numpy()})
    base = base.merge(xy, on="lsoa21_code", how="left", validate="1:1")

    # County / unitary authority: a unitary, metropolitan or London LAD is its own upper tier (lookup);
    # a district (E07) takes the county whose boundary holds its LSOA's population-weighted centroid.
    unitary = base["lad_code"].str.match(r"^E0[689]")
    base["ctyua_code"] = base["lad_code"].where(unitary)
    base["ctyua_method"] = np.where(unitary, "lookup", None)
    if unavailable(_role("counties")) is None:
        counties = _read("counties")
        counties = counties[counties["code"].str.startswith("E10")]
        pts = geopandas.GeoDataFrame(base.loc[~unitary, ["lsoa21_code"]],
                                     geometry=geopandas.points_from_xy(base.loc[~unitary, "easting"], base.loc[~unitary, "northing"]),
                                     crs=WORKING_CRS)
        hit = geopandas.sjoin_nearest(pts, counties[["code", "geometry"]], how="left", max_distance=5_000)
        hit = hit[~hit.index.duplicated()]
        base.loc[~unitary, "ctyua_code"] = hit["code"].to_numpy()
        base.loc[~unitary, "ctyua_method"] = "spatial (population-weighted centroid)"
        # District councils per county: every LSOA of a district should agree; take the district's majority.
        district_county = most_common(base[~unitary], "lad_code", "ctyua_code", "population").set_index("lad_code")["ctyua_code"]
        base.loc[~unitary, "ctyua_code"] = base.loc[~unitary, "lad_code"].map(district_county).to_numpy()

    # CCG (April 2021): LSOA 2011 lookup carried to LSOA 2021 (children inherit; merged/irregular
    # LSOAs take the parent CCG holding most of the LSOA's 2011 parents).
    if unavailable(_role("lsoa_ccgs")) is None:
        l11 = _read("lsoa11_lsoa21")[["lsoa11_code", "lsoa21_code"]]
        ccg = _read("lsoa_ccgs")[["lsoa11_code", "ccg_code"]]
        l21_ccg = most_common(l11.merge(ccg, on="lsoa11_code", how="inner"), "lsoa21_code", "ccg_code")
        base = base.merge(l21_ccg, on="lsoa21_code", how="left", validate="1:1")
    else:
        base["ccg_code"] = pd.array([pd.NA] * len(base), dtype="string")
    return base.reset_index(drop=True)


def lsoa_deprivation() -> pd.DataFrame | None:
    """The Index of Multiple Deprivation per English LSOA 2021 (the ``deprivation`` role):
    ``lsoa21_code, imd_score, imd_rank, imd_decile`` (decile 1: England's most deprived 10%), or
    None when the file is not available (said once, with where to get it)."""
    from .sources.inputs import warn_unavailable

    if warn_unavailable(_role("deprivation")) is not None:
        return None
    return _read("deprivation")[["lsoa21_code", "imd_score", "imd_rank", "imd_decile"]]


def deprivation_of(units: pd.DataFrame, deprivation: pd.DataFrame) -> pd.DataFrame:
    """Deprivation of areas made of LSOAs: ``units`` (``lsoa21_code, unit, population``) with the
    LSOAs' ``imd_score, imd_decile`` -> one row per unit: ``imd_score`` (the population-weighted mean
    score), ``most_deprived_10`` and ``most_deprived_20`` (the share of its residents in LSOAs of
    IMD deciles 1 and 1–2: England's most deprived 10% and 20%). Indexed by unit."""
    f = units.merge(deprivation[["lsoa21_code", "imd_score", "imd_decile"]], on="lsoa21_code", how="left")
    w = pd.to_numeric(f["population"], errors="coerce").fillna(0.0).astype("float64")
    has = f["imd_score"].notna()
    f = f.assign(_w=w, _ws=np.where(has, w * f["imd_score"].fillna(0.0), 0.0), _wk=np.where(has, w, 0.0),
                 _d10=np.where(f["imd_decile"] == 1, w, 0.0), _d20=np.where(f["imd_decile"] <= 2, w, 0.0))
    by = f.groupby("unit")[["_w", "_ws", "_wk", "_d10", "_d20"]].sum()
    return pd.DataFrame({"imd_score": by["_ws"] / by["_wk"].where(by["_wk"] > 0),
                         "most_deprived_10": by["_d10"] / by["_w"].where(by["_w"] > 0),
                         "most_deprived_20": by["_d20"] / by["_w"].where(by["_w"] > 0)})


def lsoa_polygons():
    """LSOA 2021 polygons (England and Wales) for point in polygon: the finest resolution present."""
    return _read("lsoa_polygons")


def lsoa_shapes():
    """LSOA 2021 polygons to dissolve into places and footprints and to draw."""
    return _read("lsoa_shapes")


def _lad_changes() -> dict[str, str]:
    """{newer code: older code} for LADs whose code changed but not their extent (the catalogue's)."""
    return catalogue().code_changes.get("lad", {})


def newer_lad(codes: pd.Series) -> pd.Series:
    """Older LAD codes mapped to the newest code vintage (Code-Point's)."""
    newer = {old: new for new, old in _lad_changes().items()}
    return codes.map(lambda c: newer.get(c, c)) if len(newer) else codes


def older_lad(codes: pd.Series) -> pd.Series:
    """Newer LAD codes mapped to the older vintage the ONS lookups use."""
    return codes.replace(_lad_changes())


@functools.lru_cache(maxsize=4)
def _lad_names_for(key: str) -> dict[str, str]:
    lu = _read("lad_names")
    names = dict(zip(newer_lad(lu["lad_code"]), lu["lad_name"]))
    names.update(dict(zip(lu["lad_code"], lu["lad_name"])))
    return names


def msoa_names(lsoa_names: pd.Series) -> pd.Series:
    """The MSOA 2021 name of each LSOA 2021 name: ONS names an MSOA as its LSOAs are named, less the
    final letter ("Sheffield 073F" is in "Sheffield 073"); a name not of that form gives <NA>.

    >>> msoa_names(pd.Series(["Sheffield 073F", "Odd name"])).tolist()
    ['Sheffield 073', <NA>]
    """
    got = lsoa_names.astype("string").str.extract(r"^(.*\d{3})[A-Z]$", expand=False)
    return got.astype("string")


@functools.lru_cache(maxsize=4)
def _ward_names_for(key: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for entry in reversed(datasets(_role("ward_names"))):  # the first listed (the postcode file's own list) wins
        frame = read(entry)
        if "area_type" in frame:  # a code list: every area type in one table
            frame = frame[frame["area_type"] == "ward"].rename(columns={"code": "ward_code", "name": "ward_name"})
        frame = frame.dropna(subset=["ward_code", "ward_name"]).drop_duplicates("ward_code")
        names.update(zip(frame["ward_code"].astype(str), frame["ward_name"].astype(str)))
    return names


def ward_names() -> dict[str, str]:
    """Electoral ward name by code: the postcode file's code list first (its wards are those the
    postcodes carry), then the ward lookup's; empty when neither can be read."""
    role = _role("ward_names")
    if unavailable(role) is not None:
        return {}
    return _ward_names_for(str(input_key([role])))


def lad_names() -> dict[str, str]:
    """LAD name by code, older and newer codes alike."""
    return _lad_names_for(str(input_key([_role("lad_names")])))


def dissolve(gdf, by: str):
    """Dissolve polygons by ``by``: GEOS coverage union where the coverage is valid, else unary.

    The coverage check (``shapely.coverage_invalid_edges``) flags the polygons whose edges do not
    match their neighbours' (13 of England's BSC LSOAs); groups holding one of them are merged with
    a unary union, the rest with the 15x faster coverage union. ``.attrs["dissolve"]`` says which.
    Returns a GeoDataFrame indexed by ``by`` with one ``geometry`` column.
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
    if not parts:
        return geopandas.GeoDataFrame({"geometry": []}, geometry="geometry", crs=gdf.crs).rename_axis(by)
    out = geopandas.GeoDataFrame(pd.concat(parts), geometry="geometry", crs=gdf.crs)
    out.attrs["dissolve"] = "coverage" if not bad.any() else ("unary" if bad.all() else f"coverage; unary for {len(groups_flagged)} groups")
    return out
