"""The three tiers for a vintage: systems, places and neighbourhoods, built on LSOA 2021.

Every English LSOA 2021 gets its place and system from official lookups wherever one exists:

- ``2021``: LSOA 2011 → CCG (April 2021 lookup) carried to LSOA 2021 through the ONS LSOA11→LSOA21
  lookup; CCG → STP from the April 2021 lookup;
- ``2023``: LSOA 2021 → Sub-ICB Location → ICB (April 2024 lookup; codes as in 2023);
- ``2026``: LSOA 2021 → Sub-ICB Location (the same lookup), and Sub-ICB Location → 2026 ICB from the
  August 2026 NHS practice map, where no ONS lookup exists yet (``system_link = "practice-map"``).

Geometry is used only where no lookup exists: LSOAs in two-tier counties get their county from their
population-weighted centroid in the county boundary. Boundaries are drawn from the official files.

>>> g = geography("2026")
>>> len(g.systems), len(g.places)
(36, 106)
"""

from __future__ import annotations

import functools
import logging
import re

import numpy as np
import pandas as pd

from ._cache import cached_frame, sha256_file
from ._catalogue import catalogue
from .errors import DefinitionError, UnknownDatasetError
from ._fetch import fetch
from ._read import read
from .settings import WORKING_CRS
from .systems import SystemDefinition, system_definition, system_definitions

__all__ = ["Geography", "geography", "find_system", "VINTAGES"]

log = logging.getLogger("icsgeo")

VINTAGES = ("2021", "2023", "2026")


def _files_key(*ids: str) -> dict[str, str]:
    return {i: sha256_file(fetch(i)) for i in ids}


def _mode(frame: pd.DataFrame, key: str, value: str, weight: str | None = None) -> pd.DataFrame:
    """For each ``key``, the ``value`` with the largest total ``weight`` (count when None)."""
    w = frame[weight] if weight else pd.Series(1, index=frame.index)
    agg = frame.assign(_w=w).groupby([key, value], observed=True)["_w"].sum().reset_index()
    agg = agg.sort_values([key, "_w", value], ascending=[True, False, True])
    return agg.drop_duplicates(key)[[key, value]]


def lsoa_base() -> pd.DataFrame:
    """One row per English LSOA 2021: its parents in every code family icsgeo uses.

    ``lsoa21_code, lsoa21_name, sicbl_code, sicbl_ods_code, sicbl_name, icb23_code, lad_code,
    lad_name, ward_code, ctyua_code, ctyua_method, ccg_code, population, easting, northing``
    (``easting``/``northing``: the population-weighted centroid, EPSG:27700).
    """
    ids = ("lsoa21-sicbl-icb-lad-2024", "lsoa21-population-2021", "lsoa21-pwc", "ctyua-2023",
           "lsoa11-lsoa21-2022", "lsoa11-ccg-lad-2021", "lsoa21-ward-lad-2024")
    return cached_frame("lsoa-base", _files_key(*ids), _build_lsoa_base)


def _build_lsoa_base() -> pd.DataFrame:
    import geopandas

    lu = read("lsoa21-sicbl-icb-lad-2024")
    base = lu[["lsoa21_code", "lsoa21_name", "sicbl_code", "sicbl_ods_code", "sicbl_name", "icb_code", "lad_code", "lad_name"]]
    base = base.rename(columns={"icb_code": "icb23_code"})
    pop = read("lsoa21-population-2021")[["lsoa21_code", "population"]]
    base = base.merge(pop, on="lsoa21_code", how="left", validate="1:1")
    wards = read("lsoa21-ward-lad-2024")[["lsoa21_code", "ward_code"]]
    base = base.merge(wards, on="lsoa21_code", how="left", validate="1:1")
    pwc = read("lsoa21-pwc")
    pwc = pwc[pwc["code"].isin(base["lsoa21_code"])]
    xy = pd.DataFrame({"lsoa21_code": pwc["code"].to_numpy(), "easting": pwc.geometry.x.to_numpy(), "northing": pwc.geometry.y.to_numpy()})
    base = base.merge(xy, on="lsoa21_code", how="left", validate="1:1")

    # County / unitary authority: a unitary, metropolitan or London LAD is its own upper tier (lookup);
    # a district (E07) takes the county whose boundary holds its LSOA's population-weighted centroid.
    unitary = base["lad_code"].str.match(r"^E0[689]")
    base["ctyua_code"] = base["lad_code"].where(unitary)
    base["ctyua_method"] = np.where(unitary, "lookup", None)
    counties = read("ctyua-2023")
    counties = counties[counties["code"].str.startswith("E10")]
    pts = geopandas.GeoDataFrame(base.loc[~unitary, ["lsoa21_code"]],
                                 geometry=geopandas.points_from_xy(base.loc[~unitary, "easting"], base.loc[~unitary, "northing"]),
                                 crs=WORKING_CRS)
    hit = geopandas.sjoin_nearest(pts, counties[["code", "geometry"]], how="left", max_distance=5_000)
    hit = hit[~hit.index.duplicated()]
    base.loc[~unitary, "ctyua_code"] = hit["code"].to_numpy()
    base.loc[~unitary, "ctyua_method"] = "spatial (population-weighted centroid)"
    # District councils per county: every LSOA of a district should agree; take the district's majority.
    district_county = _mode(base[~unitary], "lad_code", "ctyua_code", "population").set_index("lad_code")["ctyua_code"]
    base.loc[~unitary, "ctyua_code"] = base.loc[~unitary, "lad_code"].map(district_county).to_numpy()

    # CCG (April 2021): LSOA 2011 lookup carried to LSOA 2021 (children inherit; merged/irregular
    # LSOAs take the parent CCG holding most of the LSOA's 2011 parents).
    l11 = read("lsoa11-lsoa21-2022")[["lsoa11_code", "lsoa21_code"]]
    ccg = read("lsoa11-ccg-lad-2021")[["lsoa11_code", "ccg_code"]]
    l21_ccg = _mode(l11.merge(ccg, on="lsoa11_code", how="inner"), "lsoa21_code", "ccg_code")
    base = base.merge(l21_ccg, on="lsoa21_code", how="left", validate="1:1")
    return base.reset_index(drop=True)


def _place_system_links(spec: dict) -> pd.DataFrame:
    """place_code → place_official_name, system_code, system_ods_code, system_name for a vintage."""
    lu = read(spec["place_system_lookup"])
    place = "ccg" if spec["place_type"] == "ccg" else "sicbl"
    sys_prefix = "stp" if "stp_code" in lu.columns else "icb"
    out = lu[[f"{place}_code", f"{place}_name", f"{sys_prefix}_code", f"{sys_prefix}_ods_code", f"{sys_prefix}_name"]]
    out = out.drop_duplicates()
    out.columns = ["place_code", "place_official_name", "system_code", "system_ods_code", "system_name"]
    dup = out["place_code"].duplicated(keep=False)
    if dup.any():
        raise UnknownDatasetError(
            f"{spec['place_system_lookup']} links {out.loc[dup, 'place_code'].nunique()} places to several systems"
        )
    return out.reset_index(drop=True)


def _fill_by_space(out: pd.DataFrame, links: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """LSOAs whose place code the vintage's practice map no longer knows (Sub-ICB Locations recoded or
    split by the April 2026 mergers): the system is the vintage's boundary holding the LSOA's
    population-weighted centroid; the place is that system's one new place code, when there is one."""
    import geopandas

    miss = out["system_code"].isna().to_numpy()
    if not miss.any() or spec["system_link"] != "practice-map":
        return out
    systems = read(spec["systems"])[["code", "geometry"]]
    pts = geopandas.GeoDataFrame(index=np.flatnonzero(miss),
                                 geometry=geopandas.points_from_xy(out.loc[miss, "easting"], out.loc[miss, "northing"]),
                                 crs=WORKING_CRS)
    hit = geopandas.sjoin_nearest(pts, systems, how="left", max_distance=5_000)
    hit = hit[~hit.index.duplicated()]
    new_places = links[~links["place_code"].isin(out["place_code"].dropna().unique())]
    per_system = new_places.groupby("system_code")["place_code"].agg(list)
    unique = {k: v[0] for k, v in per_system.items() if len(v) == 1}
    place = hit["code"].map(unique)
    out = out.copy()
    rows = out.index[miss]
    out.loc[rows, "place_code"] = place.to_numpy()
    filled = out.loc[rows, ["place_code"]].merge(links, on="place_code", how="left")
    for col in ("place_official_name", "system_code", "system_ods_code", "system_name"):
        out.loc[rows, col] = filled[col].to_numpy()
    out.loc[rows, "place_link"] = "spatial (centroid in the vintage's system boundary; the system's new place code)"
    unresolved = out.loc[rows, "system_code"].isna().sum()
    log.info("vintage %s: %d LSOAs placed by space (%d unresolved)", spec["vintage"], len(rows), unresolved)
    return out


def _tidy_place_name(official: str) -> str:
    name = re.sub(r"^NHS\s+", "", official)
    name = re.sub(r"\s+CCG$", "", name)
    return name.strip()


def _friendly_place_names(lsoas: pd.DataFrame, place_col: str, official: pd.Series) -> pd.Series:
    """A place's everyday name: the local authority it (almost) equals, when there is one.

    A place is named after a LAD or a county/unitary authority when ≥ 90% of the place's residents
    live in it and ≥ 90% of that authority's residents live in the place; otherwise its official name
    (a CCG's without "NHS"/"CCG").
    """
    lad_names = lsoas.drop_duplicates("lad_code").set_index("lad_code")["lad_name"]
    cty = read("ctyua-2023").set_index("code")["name"]
    names = {}
    for unit, unit_names in (("lad_code", lad_names), ("ctyua_code", cty)):
        both = lsoas.groupby([place_col, unit], observed=True)["population"].sum()
        place_tot = lsoas.groupby(place_col)["population"].sum()
        unit_tot = lsoas.groupby(unit)["population"].sum()
        frame = both.reset_index()
        frame["share_place"] = frame["population"] / frame[place_col].map(place_tot)
        frame["share_unit"] = frame["population"] / frame[unit].map(unit_tot)
        good = frame[(frame["share_place"] >= 0.9) & (frame["share_unit"] >= 0.9)]
        for p, u in zip(good[place_col], good[unit]):
            names.setdefault(p, unit_names.get(u))
    out = official.index.to_series().map(names)
    return out.fillna(official.map(_tidy_place_name))


class Geography:
    """Systems, places and neighbourhoods of one vintage, optionally one custom system.

    Attributes (all built lazily and cached):

    - ``lsoas``: one row per English LSOA 2021 in scope, with ``place_code``, ``place_name``,
      ``system_code``, ``system_ods_code``, ``system_name`` and every parent code;
    - ``places`` / ``systems``: GeoDataFrames (EPSG:27700) with codes, names, population (Census 2021,
      summed from LSOAs), registered patients where known, and ``source`` saying how they were built;
    - ``neighbourhoods``: PCN footprints (see :mod:`icsgeo.neighbourhoods`).
    """

    def __init__(self, vintage: str | int | None = None, system: str | SystemDefinition | None = None,
                 practice_map: str | None = None):
        cat = catalogue()
        self.definition: SystemDefinition | None = None
        if system is not None:
            self.definition = system if isinstance(system, SystemDefinition) else _resolve_definition(system)
        if vintage is None and self.definition is not None:
            vintage = self.definition.vintage  # a definition belongs to its own vintage unless told otherwise
        self.spec = cat.vintage(vintage)
        self.vintage: str = self.spec["vintage"]
        self.practice_map: str = practice_map or self.spec["practice_map"]
        if self.practice_map not in cat or cat.get(self.practice_map).reader != "practice_map":
            raise UnknownDatasetError(
                f"practice map {self.practice_map!r} is not a practice map; known: "
                f"{', '.join(e.id for e in cat if e.reader == 'practice_map')}"
            )

    def __repr__(self) -> str:
        scope = f", system={self.definition.id!r}" if self.definition else ""
        return f"Geography(vintage={self.vintage!r}{scope}, practice_map={self.practice_map!r})"

    # ------------------------------------------------------------------ LSOA → tiers
    @functools.cached_property
    def lsoas(self) -> pd.DataFrame:
        base = lsoa_base()
        national = self._national_lsoas(base)
        if self.definition is None:
            return national
        return self._custom_lsoas(national)

    def _national_lsoas(self, base: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        place_col = "ccg_code" if spec["place_type"] == "ccg" else "sicbl_code"
        links = _place_system_links(spec)
        out = base.assign(place_code=base[place_col]).merge(links, on="place_code", how="left", validate="m:1")
        out["place_link"] = np.where(out["system_code"].notna(), "lookup", None)
        out = _fill_by_space(out, links, spec)
        official = out.drop_duplicates("place_code").set_index("place_code")["place_official_name"].dropna()
        names = _friendly_place_names(out, "place_code", official)
        out["place_name"] = out["place_code"].map(names)
        if spec["place_type"] == "sicbl":
            ods = read(spec["place_system_lookup"])
            ods = dict(zip(ods["sicbl_code"], ods["sicbl_ods_code"])) if "sicbl_ods_code" in ods else {}
            out["place_ods_code"] = out["place_code"].map(ods).fillna(out["sicbl_ods_code"])
        else:
            ccg = read("ccg-stp-region-2021").set_index("ccg_code")["ccg_ods_code"]
            out["place_ods_code"] = out["place_code"].map(ccg)
        out["system_link"] = spec["system_link"]
        missing = out["system_code"].isna() | out["place_code"].isna()
        if missing.any():
            log.warning("%d LSOAs have no %s place or system in vintage %s", int(missing.sum()), place_col, self.vintage)
        return out

    def _custom_lsoas(self, national: pd.DataFrame) -> pd.DataFrame:
        d = self.definition
        assert d is not None
        frames = []
        sicbl_ods = dict(zip(national["sicbl_ods_code"], national["sicbl_code"]))
        ccg_lu = read("ccg-stp-region-2021")
        ccg_ods = dict(zip(ccg_lu["ccg_ods_code"], ccg_lu["ccg_code"]))
        lad_changes = catalogue().code_changes.get("lad", {})
        columns = {"lad": "lad_code", "ctyua": "ctyua_code", "sicbl": "sicbl_code", "ccg": "ccg_code", "lsoa": "lsoa21_code"}
        for p in d.places:
            mask = np.zeros(len(national), dtype=bool)
            for unit, codes in p.units.items():
                codes = [lad_changes.get(c, c) for c in codes] if unit == "lad" else list(codes)
                if unit == "sicbl":
                    codes = [sicbl_ods.get(c, c) for c in codes]
                if unit == "ccg":
                    codes = [ccg_ods.get(c, c) for c in codes]
                col = national[columns[unit]]
                unknown = sorted(set(codes) - set(col.dropna()))
                if unknown:
                    raise DefinitionError(f"{d.path or d.id}: place {p.name!r}: {unit} codes {unknown} match no English LSOA")
                mask |= col.isin(codes).to_numpy()
            frames.append(national[mask].assign(place_code=p.code, place_name=p.name, place_ods_code=None))
        out = pd.concat(frames, ignore_index=True)
        dup = out["lsoa21_code"].duplicated(keep=False)
        if dup.any():
            raise DefinitionError(f"{d.id}: {out.loc[dup, 'lsoa21_code'].nunique()} LSOAs belong to two places")
        out = out.rename(columns={"system_code": "national_system_code", "system_ods_code": "national_system_ods_code",
                                  "system_name": "national_system_name"})
        out["system_code"] = d.code or d.id
        out["system_ods_code"] = d.ods_code
        out["system_name"] = d.name
        out["system_link"] = f"definition {d.id}"
        return out

    # ------------------------------------------------------------------ places and systems
    @functools.cached_property
    def places(self):
        import geopandas

        lsoas = self.lsoas
        agg = lsoas.groupby("place_code", sort=False).agg(
            name=("place_name", "first"), ods_code=("place_ods_code", "first"), system_code=("system_code", "first"),
            system_ods_code=("system_ods_code", "first"), system_name=("system_name", "first"),
            population=("population", "sum"), lsoas=("lsoa21_code", "size"),
        )
        agg["registered_patients"] = self._registered_by("place_code")
        if self.definition is None:
            shapes = read(self.spec["places"])[["code", "geometry"]]
            official = lsoas.drop_duplicates("place_code").set_index("place_code")["place_official_name"]
            agg["official_name"] = official
            known = agg.index.isin(shapes["code"])
            out = shapes.merge(agg, left_on="code", right_index=True, how="inner")
            out["source"] = f"{self.spec['places']} boundary; LSOAs by {self.spec['lsoa_place_lookup']}"
            if not known.all():  # places with no published boundary yet (2026 recodings): from LSOAs
                extra = self._dissolve_lsoas("place_code")
                extra = extra[extra.index.isin(agg.index[~known])]
                more = geopandas.GeoDataFrame(agg[~known].join(extra).reset_index().rename(columns={"place_code": "code"}),
                                              geometry="geometry", crs=WORKING_CRS)
                more["source"] = "LSOA 2021 polygons dissolved (no published boundary for this code)"
                out = pd.concat([out, more], ignore_index=True)
        else:
            geoms = self._dissolve_lsoas("place_code")
            out = geopandas.GeoDataFrame(agg.join(geoms).reset_index().rename(columns={"place_code": "code"}),
                                         geometry="geometry", crs=WORKING_CRS)
            out["official_name"] = out["name"]
            out["source"] = f"definition {self.definition.id}; LSOA 2021 polygons dissolved"
        cols = ["code", "ods_code", "name", "official_name", "system_code", "system_ods_code", "system_name",
                "population", "registered_patients", "lsoas", "source", "geometry"]
        return out[cols].sort_values("name").reset_index(drop=True)

    @functools.cached_property
    def systems(self):
        import geopandas

        lsoas = self.lsoas
        agg = lsoas.groupby("system_code", sort=False).agg(
            ods_code=("system_ods_code", "first"), name=("system_name", "first"),
            population=("population", "sum"), places=("place_code", "nunique"), lsoas=("lsoa21_code", "size"),
        )
        agg["registered_patients"] = self._registered_by("system_code")
        if self.definition is None:
            shapes = read(self.spec["systems"])[["code", "name", "geometry"]].rename(columns={"name": "boundary_name"})
            out = shapes.merge(agg, left_on="code", right_index=True, how="inner")
            out["source"] = f"{self.spec['systems']} boundary; places linked by {self.spec['system_link']}"
            out = out.drop(columns="boundary_name")
        else:
            geom = self.places.geometry.union_all(method="coverage") if len(self.places) else None
            out = geopandas.GeoDataFrame(agg.reset_index().rename(columns={"system_code": "code"}),
                                         geometry=[geom], crs=WORKING_CRS)
            out["source"] = f"definition {self.definition.id}; union of its places"
        cols = ["code", "ods_code", "name", "population", "registered_patients", "places", "lsoas", "source", "geometry"]
        return out[cols].sort_values("name").reset_index(drop=True)

    def _dissolve_lsoas(self, by: str):
        import geopandas
        import shapely

        polys = read("lsoa21-bsc")[["code", "geometry"]]
        polys = polys.merge(self.lsoas[["lsoa21_code", by]], left_on="code", right_on="lsoa21_code")
        method = "coverage" if bool(shapely.coverage_is_valid(polys.geometry.values)) else "unary"
        d = polys[[by, "geometry"]].dissolve(by=by, method=method)
        return geopandas.GeoSeries(d.geometry, crs=WORKING_CRS).rename("geometry")

    # ------------------------------------------------------------------ practices and registrations
    @functools.cached_property
    def practices(self) -> pd.DataFrame:
        """The practice map's practices with their location, LSOA and tiers (see :func:`icsgeo.practices`)."""
        from ._assign import practices as _practices

        return _practices(self)

    def _registered_by(self, column: str) -> pd.Series:
        """Registered patients per place/system: list sizes of the practices located in them."""
        try:
            p = self.practices
        except Exception as exc:  # registrations are optional: a user may not have the file
            log.info("registered patients unknown: %s", exc)
            return pd.Series(dtype="float64")
        return p.groupby(column)["registered_patients"].sum(min_count=1)

    @functools.cached_property
    def neighbourhoods(self):
        """PCN footprints for the LSOAs in scope, with their place and system (see :meth:`neighbourhoods_in`)."""
        return self.neighbourhoods_in(None)

    def neighbourhoods_in(self, system_code: str | None = None):
        """PCN footprints, clipped to one system's LSOAs when ``system_code`` is given.

        Columns: ``pcn_code, pcn_name, place_code, place_name, system_code, system_ods_code,
        system_name, practices, practice_codes, registered_patients, coverage, method, confidence,
        lsoas, footprint_population, parts, contiguous, registrations_date, practice_map_date``.
        A footprint's place and system are those holding most of its residents.
        """
        from .neighbourhoods import footprints, neighbourhood_lsoas, neighbourhood_table

        scope = self.lsoas if system_code is None else self.lsoas[self.lsoas["system_code"] == system_code]
        fp = footprints(practice_map=self.practice_map, lsoa_codes=scope["lsoa21_code"])
        table = neighbourhood_table(practice_map=self.practice_map)
        fp = fp.merge(table[["pcn_code", "practices", "practice_codes", "registered_patients", "coverage"]],
                      on="pcn_code", how="left")
        nb = neighbourhood_lsoas(practice_map=self.practice_map)[["lsoa21_code", "pcn_code"]]
        l = scope.merge(nb, on="lsoa21_code", how="inner")
        parent = _mode(l, "pcn_code", "place_code", "population")
        tiers = scope.drop_duplicates("place_code").set_index("place_code")
        parent = parent.join(tiers[["place_name", "system_code", "system_ods_code", "system_name"]], on="place_code")
        fp = fp.merge(parent, on="pcn_code", how="left")
        first = ["pcn_code", "pcn_name", "place_code", "place_name", "system_code", "system_ods_code", "system_name",
                 "practices", "practice_codes", "registered_patients", "coverage"]
        return fp[first + [c for c in fp.columns if c not in first]]


def _resolve_definition(system: str) -> SystemDefinition:
    if system in system_definitions():
        return system_definition(system)
    if system.endswith((".yaml", ".yml")):
        from .systems import load_system_file

        return load_system_file(system)
    raise DefinitionError(f"no system definition {system!r}; known: {', '.join(sorted(system_definitions()))}")


@functools.lru_cache(maxsize=16)
def geography(vintage: str | int | None = None, system: str | None = None, practice_map: str | None = None) -> Geography:
    """The :class:`Geography` of a vintage (default: the latest), optionally one custom system."""
    return Geography(None if vintage is None else str(vintage), system, practice_map)


def find_system(query: str, vintage: str | int | None = None) -> tuple[Geography, str]:
    """Resolve a system given as a custom definition id, a GSS or ODS code, or a name fragment.

    Returns the geography to use and the system's code in it. ``england`` is not a system.

    >>> g, code = find_system("South Yorkshire", 2026)
    >>> code
    'E54000061'
    """
    q = (query or "").strip()
    if not q:
        raise DefinitionError("name a system: a name fragment such as 'South Yorkshire', a code (E54000061, QF7) or a definition id")
    if q in system_definitions():
        g = geography(vintage, q)
        return g, g.lsoas["system_code"].iloc[0]
    g = geography(vintage)
    systems = g.systems
    up = q.upper()
    exact = systems[(systems["code"].str.upper() == up) | (systems["ods_code"].astype("string").str.upper() == up)]
    if len(exact) == 1:
        return g, exact["code"].iloc[0]
    names = systems["name"].str.lower()
    hits = systems[names.str.contains(re.escape(q.lower()), regex=True)]
    if len(hits) == 1:
        return g, hits["code"].iloc[0]
    if len(hits) > 1:
        listing = "; ".join(f"{c} {n}" for c, n in zip(hits["code"], hits["name"]))
        raise DefinitionError(f"{query!r} matches {len(hits)} systems in vintage {g.vintage}: {listing}. Be more specific.")
    raise DefinitionError(
        f"no system {query!r} in vintage {g.vintage}: give a name fragment, a GSS code (E54…), an ODS code "
        f"or a definition id ({', '.join(sorted(system_definitions()))}). `icsgeo systems` lists them."
    )
