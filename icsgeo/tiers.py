"""The three tiers for a vintage: systems, places and neighbourhoods, built on LSOA 2021.

Every English LSOA 2021 gets its place and system from the vintage's declared inputs (the catalogue's
``[vintages]``): the LSOA's parent code of the vintage's ``place_role`` (a CCG in 2021, a Sub-ICB
Location since) is its place, and the ``place_system_lookup`` links each place to its system (an ONS
lookup, or in 2026, where no ONS lookup exists yet, the ICB each Sub-ICB Location's practices report
in the NHS practice map: ``system_link = "practice-map"``).

The ``place_system_lookup`` is also the authority on the vintage's own place codes and names: in
2026 the practice map names every April 2026 Sub-ICB Location, while the LSOA lookup still gives the
earlier codes. An LSOA whose place code the link file does not know was recoded or split
(:meth:`Geography._recode_places`): it takes the vintage's code with the same ODS code when there is
one (a new GSS code, the same area code: E38000253 -> E38000266, E38000264 -> E38000267), else the
vintage's system boundary holding its population-weighted centroid, and that system's one new place
code (the split Frimley, D4U1Y, by the 2026 ICB it now lies in). Where the places are Sub-ICB
Locations, an LSOA's Sub-ICB Location *is* its place: the two never disagree on a code or a name.

Geometry is used only where no lookup exists: LSOAs in two-tier counties get their county from their
population-weighted centroid, and the split places above their system from theirs.

Tiers degrade independently: an input that is missing or refused costs only the tiers that read it
(:attr:`Geography.notes` says which and why; the log says it once).

>>> g = geography("2026")
>>> len(g.systems), len(g.places)
(36, 106)
>>> sy = g.system("South Yorkshire")
>>> sy.code, sorted(sy.places["name"])
('E54000061', ['Barnsley', 'Doncaster', 'Rotherham', 'Sheffield'])
"""

from __future__ import annotations

import functools
import logging
import re

import numpy as np
import pandas as pd

from . import areas
from .errors import DataFileError, DefinitionError, UnknownDatasetError
from .locate import locate_postcodes
from .neighbourhoods import footprints, membership, neighbourhood_lsoas, neighbourhood_table, resolve_method
from .neighbourhoods.local import resolve
from .neighbourhoods.rules import plurality
from .registrations import available as registrations_available
from .registrations import list_sizes, lsoa_registrations
from .settings import WORKING_CRS
from .sources.catalogue import Vintage, as_date, catalogue
from .sources.inputs import dataset, datasets, unavailable, warn_once, warn_unavailable
from .sources.read import read
from .systems import PlaceDefinition, SystemDefinition, UnitFile, load_system_file, system_definition, system_definitions

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["Geography", "System", "geography", "TIER_COLUMNS", "SYSTEM_COLUMNS", "PLACE_COLUMNS", "LOCAL_COLUMNS",
           "PROFILE_COLUMNS"]

log = logging.getLogger("icsgeo")

#: The answer columns an LSOA determines (:attr:`Geography.tiers`), by tier.
TIER_COLUMNS = {
    "lsoa": ["lsoa_name", "msoa_code", "msoa_name"],
    "local_neighbourhood": ["local_neighbourhood_code", "local_neighbourhood_name", "local_neighbourhood_method"],
    "neighbourhood": ["neighbourhood_code", "neighbourhood_name", "neighbourhood_method", "neighbourhood_confidence",
                      "neighbourhood_runner_up_code", "neighbourhood_runner_up_name", "neighbourhood_runner_up_share"],
    "place": ["place_code", "place_name"],
    "system": ["system_code", "system_ods_code", "system_name", "region_code", "region_ods_code", "region_name"],
    "sicbl": ["sicbl_code", "sicbl_ods_code", "sicbl_name"],
    "lad": ["lsoa_lad_code", "lsoa_lad_name"],
}

#: The NHS England region of an LSOA's (national) system, from the vintage's place-system link file.
REGION_COLUMNS = ("region_code", "region_ods_code", "region_name")

#: The columns of a definition's own neighbourhoods (:attr:`Geography.local_neighbourhoods`).
LOCAL_COLUMNS = ["code", "name", "method", "place_code", "place_name", "places", "straddles", "system_code",
                 "system_ods_code", "system_name", "lsoas", "population", "registered_patients", "geometry"]
#: The columns of a system's profile (:meth:`System.profile`), one row per unit.
PROFILE_COLUMNS = ["tier", "kind", "code", "name", "place_code", "place_name", "system_code", "system_name", "population",
                   "registered_patients", "area_km2", "lsoas", "band", "size_flag", "imd_score", "most_deprived_10",
                   "most_deprived_20"]
#: The columns a listing of systems or places shows, wherever it is asked for (CLI, HTTP API).
SYSTEM_COLUMNS = ["code", "ods_code", "name", "places", "population", "registered_patients", "lsoas"]
PLACE_COLUMNS = ["code", "ods_code", "name", "official_name", "system_code", "population", "registered_patients", "lsoas"]


def _tidy_place_name(official: str) -> str:
    name = re.sub(r"^NHS\s+", "", official)
    name = re.sub(r"\s+CCG$", "", name)
    return name.strip()


def _friendly_place_names(lsoas: pd.DataFrame, official: pd.Series, counties: pd.Series | None) -> pd.Series:
    """A place's everyday name: the local authority it (almost) equals, when there is one.

    A place is named after a LAD or a county/unitary authority when ≥ 90% of the place's residents
    live in it and ≥ 90% of that authority's residents live in the place; otherwise its official name
    (a CCG's without "NHS"/"CCG").
    """
    lad_names = lsoas.drop_duplicates("lad_code").set_index("lad_code")["lad_name"]
    names = {}
    units = [("lad_code", lad_names)] + ([("ctyua_code", counties)] if counties is not None else [])
    for unit, unit_names in units:
        both = lsoas.groupby(["place_code", unit], observed=True)["population"].sum()
        place_tot = lsoas.groupby("place_code")["population"].sum()
        unit_tot = lsoas.groupby(unit)["population"].sum()
        frame = both.reset_index()
        frame["share_place"] = frame["population"] / frame["place_code"].map(place_tot)
        frame["share_unit"] = frame["population"] / frame[unit].map(unit_tot)
        good = frame[(frame["share_place"] >= 0.9) & (frame["share_unit"] >= 0.9)]
        for p, u in zip(good["place_code"], good[unit]):
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
    - ``neighbourhoods``: the PCN footprints in scope with their place and system;
    - ``tiers``: one row per LSOA with every answer column it determines;
    - ``notes``: tier -> why it is missing or degraded (empty when every input is there).

    ``system(query)`` gives one system (:class:`System`): its places, LSOAs and neighbourhoods.
    """

    def __init__(self, vintage: str | int | None = None, system: str | SystemDefinition | None = None,
                 practice_map: str | None = None, method: str | None = None, as_at=None):
        cat = catalogue()
        self.definition: SystemDefinition | None = None
        if system is not None:
            self.definition = system if isinstance(system, SystemDefinition) else _resolve_definition(system)
        #: the day the geography is as at (None: the vintage as published)
        self.as_at: str | None = as_date(as_at) if as_at is not None else None
        if self.as_at is not None:
            in_force = cat.vintage_at(self.as_at)
            if vintage is not None and str(vintage) != in_force.key:
                raise UnknownDatasetError(f"vintage {vintage} was not in force on {self.as_at} (vintage {in_force.key} was): "
                                          "give one of the two")
            vintage = in_force.key
        self._chosen_vintage = vintage is not None
        if vintage is None and self.definition is not None:
            vintage = self.definition.vintage  # a definition belongs to its own vintage unless told otherwise
        self.spec: Vintage = cat.vintage(None if vintage is None else str(vintage))
        self.vintage: str = self.spec.key
        #: which practices form each PCN: the practice map named, else the one in force on ``as_at``,
        #: else the vintage's own map
        self.members = membership(practice_map or (None if self.as_at else self.spec.id("practice_map")), as_at=self.as_at)
        self.practice_map: str = self.members.id
        self._method = method
        self.notes: dict[str, str] = {}
        self._local_report = None
        self._local_polygons = None

    def __repr__(self) -> str:
        scope = f", system={self.definition.id!r}" if self.definition else ""
        day = f", as_at={self.as_at!r}" if self.as_at else ""
        return f"Geography(vintage={self.vintage!r}{scope}{day}, practice_map={self.practice_map!r})"

    @functools.cached_property
    def made_from(self) -> str:
        """The releases the answers are made from, by date, e.g. ``postcodes 2025-10; PCNs: practice map
        2026-08; registrations 2023-07+2025-10`` (every answer carries it)."""
        def used(role: str) -> str:
            try:
                return "+".join(e.vintage for e in datasets(self.spec.role(role)))
            except DataFileError:
                return "none"
        pcns = (f"PCNs as at {self.members.as_at} ({self.members.entry.vintage} history)" if self.members.as_at
                else f"PCNs: practice map {self.members.entry.vintage}")
        return f"postcodes {used('postcodes')}; {pcns}; registrations {used('registrations')}"

    def _note(self, tier: str, message: str) -> None:
        if tier not in self.notes:
            self.notes[tier] = message
            warn_once(f"vintage {self.vintage}: {tier}: {message}")

    def _read(self, role: str):
        return read(dataset(self.spec.role(role)))

    @functools.cached_property
    def method(self) -> str:
        """The footprint method in use: the one asked for, else registrations when present, else modelled."""
        how = resolve_method(self._method)
        if self._method is None and how == "modelled":
            self._note("neighbourhood", f"modelled, not from registrations ({registrations_available()})")
        return how

    # ------------------------------------------------------------------ LSOA → tiers
    @functools.cached_property
    def lsoas(self) -> pd.DataFrame:
        national = self._national_lsoas(areas.lsoa_base())
        if self.definition is None:
            return national
        return self._custom_lsoas(national)

    def _place_system_links(self) -> pd.DataFrame:
        """place_code → place_official_name, system_code, system_ods_code, system_name, place_ods_code."""
        spec = self.spec
        lu = self._read("place_system_lookup")
        place, system = spec.place_role, spec.system_role
        out = lu[[f"{place}_code", f"{place}_name", f"{system}_code", f"{system}_ods_code", f"{system}_name"]]
        out = out.drop_duplicates()
        out.columns = ["place_code", "place_official_name", "system_code", "system_ods_code", "system_name"]
        dup = out["place_code"].duplicated(keep=False)
        if dup.any():
            raise UnknownDatasetError(
                f"{spec.id('place_system_lookup')} links {out.loc[dup, 'place_code'].nunique()} places to several systems"
            )
        out = out.reset_index(drop=True)
        if f"{place}_ods_code" in lu:
            ods = dict(zip(lu[f"{place}_code"], lu[f"{place}_ods_code"]))
            out["place_ods_code"] = out["place_code"].map(ods)
        for c in REGION_COLUMNS:  # the NHS region each place's system is in, where the file says
            by_place = dict(zip(lu[f"{place}_code"], lu[c])) if c in lu else {}
            out[c] = out["place_code"].map(by_place).astype("string")
        return out

    def _national_lsoas(self, base: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        place_col = f"{spec.place_role}_code"
        if base[place_col].isna().all():
            why = base.attrs.get("unavailable", {})
            raise DataFileError(f"vintage {self.vintage}: no LSOA has a {spec.place_role} place: {'; '.join(why.values()) or 'unknown'}")
        out = base.assign(place_code=base[place_col])
        why = unavailable(spec.role("place_system_lookup"))
        if why is None:
            links = self._place_system_links()
        else:  # no link file: places without their system
            self._note("system", f"unknown ({why})")
            if spec.system_link == "practice-map":  # the map also holds the vintage's own place codes and names
                self._note("place", f"the LSOA lookup's codes and names, which may predate the vintage's ({why})")
            links = pd.DataFrame({c: pd.Series(dtype="string") for c in
                                  ("place_code", "place_official_name", "system_code", "system_ods_code", "system_name", "place_ods_code",
                                   *REGION_COLUMNS)})
        out = out.merge(links, on="place_code", how="left", validate="m:1")
        out["place_link"] = np.where(out["system_code"].notna(), "lookup", None)
        if not links.empty:
            out = self._recode_places(out, links)
        fallback = f"{spec.place_role}_name"
        if fallback in out:
            out["place_official_name"] = out["place_official_name"].fillna(out[fallback])
        official = out.drop_duplicates("place_code").set_index("place_code")["place_official_name"].dropna()
        counties = None
        if unavailable(catalogue().role("counties")) is None:
            counties = self._read("counties").set_index("code")["name"]
        out["place_name"] = out["place_code"].map(_friendly_place_names(out, official, counties))
        ods_fallback = f"{spec.place_role}_ods_code"
        if "place_ods_code" not in out:
            out["place_ods_code"] = None
        if ods_fallback in out:
            out["place_ods_code"] = out["place_ods_code"].fillna(out[ods_fallback])
        out["place_ods_code"] = out.pop("place_ods_code")  # after place_name
        out["system_link"] = spec.system_link
        if spec.place_role == "sicbl":
            # The places are the Sub-ICB Locations: an LSOA's Sub-ICB Location is its place, with the
            # vintage's own code, ODS code and official name (not the LSOA lookup's, which may be older).
            out["sicbl_code"] = out["place_code"]
            out["sicbl_ods_code"] = out["place_ods_code"]
            out["sicbl_name"] = out["place_official_name"]
        missing = out["system_code"].isna() | out["place_code"].isna()
        if missing.any() and "system" not in self.notes:
            log.warning("%d LSOAs have no %s place or system in vintage %s", int(missing.sum()), spec.place_role, self.vintage)
        return out

    def _recode_places(self, out: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
        """LSOAs whose place code the vintage's link file does not know (Sub-ICB Locations recoded or
        split by the April 2026 mergers), in a vintage linked by a practice map:

        1. **recoded**: the link file knows the LSOA's place ODS code under a new GSS code: that code
           (ODS codes are kept when only the GSS code changes);
        2. **split**: otherwise the system is the vintage's boundary holding the LSOA's
           population-weighted centroid, and the place that system's one new place code (a code the
           LSOA lookup does not have), when it has exactly one. A Sub-ICB Location nests in its ICB,
           so the official ICB boundary decides, and the place always lies in the system answered
           (registrations were weighed and not used: border LSOAs whose patients use a practice over
           the line would land in a place outside the ICB boundary holding them).

        ``place_link`` says which; an LSOA neither step resolves keeps no place or system (logged)."""
        import geopandas

        miss = out["system_code"].isna().to_numpy()
        if not miss.any() or self.spec.system_link != "practice-map":
            return out
        out = out.copy()
        link_cols = [c for c in ("place_official_name", "system_code", "system_ods_code", "system_name", "place_ods_code",
                                 *REGION_COLUMNS) if c in links]
        new_places = links[~links["place_code"].isin(out["place_code"].dropna().unique())]

        def take(rows: pd.Index, codes, how: str) -> None:
            out.loc[rows, "place_code"] = np.asarray(codes, dtype=object)
            filled = out.loc[rows, ["place_code"]].merge(links, on="place_code", how="left")
            for col in link_cols:
                out.loc[rows, col] = filled[col].to_numpy()
            out.loc[rows, "place_link"] = np.where(filled["system_code"].notna(), how, None)

        ods_col = f"{self.spec.place_role}_ods_code"
        n_recoded = 0
        if ods_col in out and "place_ods_code" in links:
            by_ods = links.dropna(subset=["place_ods_code"]).drop_duplicates("place_ods_code", keep=False)
            by_ods = by_ods.set_index("place_ods_code")["place_code"]
            code = out.loc[miss, ods_col].map(by_ods)
            rows = code.index[code.notna()]
            if len(rows):
                take(rows, code[rows], "recoded (the vintage's code with the same ODS code)")
                n_recoded = len(rows)
            miss = out["system_code"].isna().to_numpy()
        rows = out.index[miss]
        if len(rows):
            why = unavailable(self.spec.role("systems"))
            if why is not None:
                self._note("system", f"{len(rows)} LSOAs of split places have no system ({why})")
                return out
            systems = self._read("systems")[["code", "geometry"]]
            pts = geopandas.GeoDataFrame(index=rows, crs=WORKING_CRS,
                                         geometry=geopandas.points_from_xy(out.loc[rows, "easting"], out.loc[rows, "northing"]))
            hit = geopandas.sjoin_nearest(pts, systems, how="left", max_distance=5_000)
            hit = hit[~hit.index.duplicated()].reindex(rows)
            per_system = new_places.groupby("system_code")["place_code"].agg(list)
            unique = {k: v[0] for k, v in per_system.items() if len(v) == 1}
            take(rows, hit["code"].map(unique).to_numpy(dtype=object),
                 "split (centroid in the vintage's system boundary; the system's new place code)")
        unresolved = int(out["system_code"].isna().sum())
        log.info("vintage %s: %d LSOAs of recoded places by ODS code, %d of split places by space (%d unresolved)",
                 self.vintage, n_recoded, len(rows), unresolved)
        return out

    def _custom_lsoas(self, national: pd.DataFrame) -> pd.DataFrame:
        d = self.definition
        assert d is not None
        origin = d.path or d.id
        frames = []
        sicbl_ods = dict(zip(national["sicbl_ods_code"], national["sicbl_code"]))
        lad_changes = catalogue().code_changes.get("lad", {})
        columns = {"lad": "lad_code", "ctyua": "ctyua_code", "sicbl": "sicbl_code", "ccg": "ccg_code"}
        ccg_ods: dict[str, str] = {}
        if any(isinstance(p, PlaceDefinition) and "ccg" in p.units for p in d.places):
            ccg_lu = read(dataset(catalogue().role("ccg_codes")))
            ccg_ods = dict(zip(ccg_lu["ccg_ods_code"], ccg_lu["ccg_code"]))
        for p in d.places:
            if isinstance(p, UnitFile) or not set(p.units) & set(columns):
                res = self._resolve([p] if isinstance(p, UnitFile) else [PlaceDefinition(p.name, p.code, p.units)],
                                    national, what="place")
                got = national.drop(columns=["place_code", "place_name", "place_ods_code"]).merge(
                    res.assignment[["lsoa21_code", "unit_code", "unit_name"]], on="lsoa21_code")
                frames.append(got.rename(columns={"unit_code": "place_code", "unit_name": "place_name"}).assign(place_ods_code=None))
                continue
            mask = np.zeros(len(national), dtype=bool)
            for unit, codes in p.units.items():
                if unit not in columns:
                    area = self._resolve([PlaceDefinition(p.name, p.code, {unit: codes})], national, what="place")
                    mask |= national["lsoa21_code"].isin(area.assignment["lsoa21_code"]).to_numpy()
                    continue
                codes = [lad_changes.get(c, c) for c in codes] if unit == "lad" else list(codes)
                if unit == "sicbl":
                    codes = [sicbl_ods.get(c, c) for c in codes]
                if unit == "ccg":
                    codes = [ccg_ods.get(c, c) for c in codes]
                col = national[columns[unit]]
                if col.isna().all():
                    why = "; ".join(national.attrs.get("unavailable", {}).values()) or "its input is missing"
                    raise DefinitionError(f"{origin}: place {p.name!r} is given by {unit} codes, which cannot be read: {why}")
                unknown = sorted(set(codes) - set(col.dropna()))
                if unknown:
                    raise DefinitionError(f"{origin}: place {p.name!r}: {unit} codes {unknown} match no English LSOA")
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
        if d.neighbourhoods:
            res = self._resolve(d.neighbourhoods, out, what="neighbourhood")
            self._local_report = res.report
            self._local_polygons = res.polygons
            for line in res.report.lines():
                warn_once(f"{origin}: {line}")
            local = res.assignment.rename(columns={"unit_code": "local_code", "unit_name": "local_name", "unit_method": "local_method"})
            out = out.merge(local, on="lsoa21_code", how="left", validate="1:1")
        return out

    def _resolve(self, items, scope: pd.DataFrame, *, what: str):
        """A definition's units resolved to LSOAs (see :mod:`icsgeo.neighbourhoods.local`)."""
        d = self.definition
        assert d is not None

        def pcn_lsoas():
            return neighbourhood_lsoas(self.members, self.method)[["lsoa21_code", "pcn_code"]]

        def practice_votes(groups: dict[str, str]) -> pd.DataFrame:
            regs = lsoa_registrations()
            known = set(regs["practice_code"])
            unknown = sorted(set(groups) - known)
            if unknown:
                raise DefinitionError(f"{d.path or d.id}: practice {unknown[0]} has no registered patients in the registrations "
                                      f"({len(unknown)} unknown practices)")
            voters = pd.DataFrame({"practice_code": sorted(known)})
            voters["pcn_code"] = voters["practice_code"].map(lambda c: groups.get(c, c))
            won = plurality(regs, voters)
            won = won[won["pcn_code"].isin(set(groups.values()))]
            return pd.DataFrame({"lsoa21_code": won["lsoa21_code"].to_numpy(), "unit_code": won["pcn_code"].to_numpy()})

        return resolve(items, scope, base=areas.lsoa_base(), origin=d.path or d.id, what=what,
                       lsoa11=lambda: read(dataset(catalogue().role("lsoa11_lsoa21"))), pcn_lsoas=pcn_lsoas,
                       practice_votes=practice_votes, shapes=areas.lsoa_shapes)

    @property
    def local_report(self):
        """What the definition's own neighbourhoods did not cover exactly (a
        :class:`icsgeo.neighbourhoods.local.Report`; None without local neighbourhoods)."""
        self.lsoas  # noqa: B018  (resolved with the LSOAs)
        return self._local_report

    @property
    def local_polygons(self):
        """The definition's neighbourhoods drawn from polygon files (``unit_code, unit_name, geometry``),
        or None: postcodes and points in them are answered by point in polygon."""
        self.lsoas  # noqa: B018
        return self._local_polygons

    @property
    def has_local_neighbourhoods(self) -> bool:
        return self.definition is not None and bool(self.definition.neighbourhoods)

    # ------------------------------------------------------------------ the answer columns of each LSOA
    @functools.cached_property
    def tiers(self) -> pd.DataFrame:
        """One row per LSOA in scope with every answer column it determines (:data:`TIER_COLUMNS`),
        plus an all-missing last row (positions that found no LSOA point at it)."""
        l = self.lsoas
        out = pd.DataFrame({
            "lsoa21_code": l["lsoa21_code"], "lsoa_name": l["lsoa21_name"],
            "place_code": l["place_code"], "place_name": l["place_name"],
            "system_code": l["system_code"], "system_ods_code": l["system_ods_code"], "system_name": l["system_name"],
            "sicbl_code": l["sicbl_code"], "sicbl_ods_code": l["sicbl_ods_code"], "sicbl_name": l["sicbl_name"],
            "lsoa_lad_code": areas.newer_lad(l["lad_code"]), "lsoa_lad_name": l["lad_name"],
            "msoa_code": l["msoa21_code"], "msoa_name": l["msoa21_name"],
            **{c: l[c] if c in l else pd.Series(pd.NA, index=l.index, dtype="string") for c in REGION_COLUMNS},
        })
        for c in TIER_COLUMNS["local_neighbourhood"]:
            src = c.replace("_neighbourhood", "")
            out[c] = l[src] if src in l else None
        if not self.spec.sub_icb_locations:  # a day before Sub-ICB Locations existed
            for c in TIER_COLUMNS["sicbl"]:
                out[c] = None
        nb = self._neighbourhood_assignment()
        if nb is None:
            for c in TIER_COLUMNS["neighbourhood"]:
                out[c] = None
        else:
            nb = nb[["lsoa21_code", "pcn_code", "pcn_name", "method", "confidence", "runner_up_pcn_code", "runner_up_share"]]
            nb = nb.rename(columns={
                "pcn_code": "neighbourhood_code", "pcn_name": "neighbourhood_name",
                "method": "neighbourhood_method", "confidence": "neighbourhood_confidence",
                "runner_up_pcn_code": "neighbourhood_runner_up_code", "runner_up_share": "neighbourhood_runner_up_share"})
            nb.loc[nb["neighbourhood_code"].isna(), "neighbourhood_method"] = None
            m = self.members.frame()  # the runner-up may win no LSOA: named from the practice map
            pcn_names = m.dropna(subset=["pcn_code"]).drop_duplicates("pcn_code").set_index("pcn_code")["pcn_name"]
            nb.insert(nb.columns.get_loc("neighbourhood_runner_up_share"), "neighbourhood_runner_up_name",
                      nb["neighbourhood_runner_up_code"].map(pcn_names).astype("string"))
            out = out.merge(nb, on="lsoa21_code", how="left", validate="1:1")
        blank = pd.DataFrame({c: [None] for c in out.columns}).astype({c: out[c].dtype for c in out.columns}, errors="ignore")
        return pd.concat([out, blank], ignore_index=True)

    def _neighbourhood_assignment(self) -> pd.DataFrame | None:
        """The LSOA -> PCN assignment, or None (with a note) when the practice map cannot be read."""
        why = self.members.unavailable()
        if why is not None:
            self._note("neighbourhood", f"unknown ({why})")
            return None
        return neighbourhood_lsoas(self.members, self.method)

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
            shapes = self._read("places")[["code", "geometry"]]
            official = lsoas.drop_duplicates("place_code").set_index("place_code")["place_official_name"]
            agg["official_name"] = official
            known = agg.index.isin(shapes["code"])
            out = shapes.merge(agg, left_on="code", right_index=True, how="inner")
            out["source"] = f"{self.spec.id('places')} boundary; LSOAs by {self.spec.id('lsoa_place_lookup')}"
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
            shapes = self._read("systems")[["code", "name", "geometry"]].rename(columns={"name": "boundary_name"})
            out = shapes.merge(agg, left_on="code", right_index=True, how="inner")
            out["source"] = f"{self.spec.id('systems')} boundary; places linked by {self.spec.system_link}"
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

        polys = areas.lsoa_shapes()[["code", "geometry"]]
        polys = polys.merge(self.lsoas[["lsoa21_code", by]], left_on="code", right_on="lsoa21_code")
        method = "coverage" if bool(shapely.coverage_is_valid(polys.geometry.values)) else "unary"
        d = polys[[by, "geometry"]].dissolve(by=by, method=method)
        return geopandas.GeoSeries(d.geometry, crs=WORKING_CRS).rename("geometry")

    # ------------------------------------------------------------------ registered patients
    @functools.cached_property
    def practice_lsoas(self) -> pd.DataFrame:
        """The practice map's practices located: ``practice_code, postcode, status, lsoa21_code,
        registered_patients, registered_date`` (status as :func:`icsgeo.locate.locate_postcodes`;
        ``outside_england`` for a location outside England; list sizes <NA> without registrations)."""
        m = self.members.frame()
        loc = locate_postcodes(m["postcode"].astype(object))
        english = loc["lsoa21_code"].astype("string").str.startswith("E01").fillna(False).to_numpy(dtype=bool)
        status = loc["status"].to_numpy(dtype=object).copy()
        status[np.isin(status, ["ok", "terminated"]) & ~english] = "outside_england"
        out = pd.DataFrame({"practice_code": m["practice_code"].to_numpy(), "postcode": m["postcode"].to_numpy(),
                            "status": status, "lsoa21_code": loc["lsoa21_code"].where(english).to_numpy(dtype=object)})
        why = warn_unavailable(catalogue().role("registrations"))
        if why is None:
            sizes = list_sizes()
            out = out.merge(sizes[["practice_code", "registered_patients", "registered_date"]], on="practice_code", how="left")
        else:
            self.notes.setdefault("registered patients", f"unknown ({why})")
            out["registered_patients"] = np.nan
            out["registered_date"] = pd.NaT
        return out

    def _registered_by(self, column: str) -> pd.Series:
        """Registered patients per place/system: list sizes of the practices located in them."""
        why = self.members.unavailable()
        if why is not None:  # the practice map is missing or refused
            self.notes.setdefault("registered patients", f"unknown ({why})")
            return pd.Series(dtype="float64")
        p = self.practice_lsoas
        located = p[np.isin(p["status"], ["ok", "terminated"])]
        where = self.lsoas.set_index("lsoa21_code")[column]
        return located.assign(_unit=located["lsoa21_code"].map(where)).groupby("_unit")["registered_patients"].sum(min_count=1)

    # ------------------------------------------------------------------ neighbourhoods
    @functools.cached_property
    def neighbourhoods(self):
        """The PCN footprints of the LSOAs in scope, with their place and system (see :meth:`System.neighbourhoods`)."""
        return self._neighbourhoods_of(self.lsoas)

    def _neighbourhoods_of(self, scope: pd.DataFrame):
        """Footprints clipped to ``scope``'s LSOAs. Columns: ``pcn_code, pcn_name, place_code,
        place_name, system_code, system_ods_code, system_name, practices, practice_codes,
        registered_patients, coverage, method, confidence, lsoas, footprint_population, parts,
        contiguous, registrations_date, practice_map_date``. A footprint's place and system are those
        holding most of its residents."""
        fp = footprints(self.members, self.method, lsoa_codes=scope["lsoa21_code"])
        table = neighbourhood_table(self.members, self.method)
        fp = fp.merge(table[["pcn_code", "practices", "practice_codes", "registered_patients", "coverage"]],
                      on="pcn_code", how="left")
        nb = neighbourhood_lsoas(self.members, self.method)[["lsoa21_code", "pcn_code"]]
        l = scope.merge(nb, on="lsoa21_code", how="inner")
        parent = areas.most_common(l, "pcn_code", "place_code", "population")
        tiers = scope.drop_duplicates("place_code").set_index("place_code")
        parent = parent.join(tiers[["place_name", "system_code", "system_ods_code", "system_name"]], on="place_code")
        fp = fp.merge(parent, on="pcn_code", how="left")
        first = ["pcn_code", "pcn_name", "place_code", "place_name", "system_code", "system_ods_code", "system_name",
                 "practices", "practice_codes", "registered_patients", "coverage"]
        return fp[first + [c for c in fp.columns if c not in first]]

    @functools.cached_property
    def local_neighbourhoods(self):
        """The definition's own neighbourhoods (None without them): ``code, name, method, place_code,
        place_name`` (the place holding most of its residents), ``places`` (every place it touches),
        ``straddles``, ``system_code, system_ods_code, system_name, lsoas, population,
        registered_patients`` (list sizes of the practices located in it) and ``geometry`` (its
        polygon for a polygon file, else its LSOAs dissolved; EPSG:27700)."""
        import geopandas

        if not self.has_local_neighbourhoods:
            return None
        l = self.lsoas[self.lsoas["local_code"].notna()]
        if l.empty:
            return geopandas.GeoDataFrame({c: [] for c in LOCAL_COLUMNS}, geometry="geometry", crs=WORKING_CRS)
        by = l.groupby("local_code", sort=True)
        out = pd.DataFrame({"name": by["local_name"].first(), "method": by["local_method"].agg(lambda m: "; ".join(sorted(set(m)))),
                            "lsoas": by.size(), "population": by["population"].sum()})
        main = areas.most_common(l, "local_code", "place_code", "population").set_index("local_code")["place_code"]
        out["place_code"] = main
        names = l.drop_duplicates("place_code").set_index("place_code")["place_name"]
        out["place_name"] = out["place_code"].map(names)
        out["places"] = by["place_code"].agg(lambda p: ";".join(sorted(set(p))))
        out["straddles"] = by["place_code"].nunique() > 1
        for c in ("system_code", "system_ods_code", "system_name"):
            out[c] = by[c].first()
        out["registered_patients"] = self._registered_by("local_code")
        shapes = None
        if self.local_polygons is not None:
            shapes = self.local_polygons.set_index("unit_code")["geometry"]
        polys = areas.lsoa_shapes()[["code", "geometry"]].merge(l[["lsoa21_code", "local_code"]], left_on="code", right_on="lsoa21_code")
        dissolved = areas.dissolve(polys, "local_code").geometry
        geometry = [shapes[c] if shapes is not None and c in shapes.index else dissolved.get(c) for c in out.index]
        out = geopandas.GeoDataFrame(out.rename_axis("code").reset_index(), geometry=geometry, crs=WORKING_CRS)
        return out[LOCAL_COLUMNS]

    # ------------------------------------------------------------------ one system
    def system(self, query: str, *, files: bool = True) -> "System":
        """One system, given as a GSS code (E54000061), an ODS code (QF7), a name fragment ("South
        Yorkshire"), a custom definition id or (unless ``files=False``, as the HTTP API asks) the
        path of a definition file (.yaml).

        A definition is answered in its own vintage unless this geography's vintage was chosen.
        ``england`` is not a system: use the geography itself.
        """
        q = (query or "").strip() if isinstance(query, str) else ""
        if not q:
            raise DefinitionError("name a system: a name fragment such as 'South Yorkshire', a code (E54000061, QF7) or a definition id")
        is_file = q.lower().endswith((".yaml", ".yml"))
        if is_file and not files:
            raise DefinitionError(f"{q!r} names a file; here a system is a code, a name or one of the definition ids "
                                  f"({', '.join(sorted(system_definitions()))})")
        if q in system_definitions() or is_file:
            g = geography(self.vintage if self._chosen_vintage and not self.as_at else None, q,
                          self.practice_map if self._chosen_map else None, self._method, self.as_at)
            row = g.systems.iloc[0]
            return System(g, row["code"], row["ods_code"], row["name"])
        if self.definition is not None:
            return geography(None if self.as_at else self.vintage, None, self.practice_map if self._chosen_map else None,
                             self._method, self.as_at).system(q, files=files)
        systems = self.systems
        up = q.upper()
        exact = systems[(systems["code"].str.upper() == up) | (systems["ods_code"].astype("string").str.upper() == up)]
        hits = exact if len(exact) == 1 else systems[systems["name"].str.lower().str.contains(re.escape(q.lower()), regex=True)]
        if len(hits) == 1:
            row = hits.iloc[0]
            return System(self, row["code"], row["ods_code"], row["name"])
        if len(hits) > 1:
            listing = "; ".join(f"{c} {n}" for c, n in zip(hits["code"], hits["name"]))
            raise DefinitionError(f"{query!r} matches {len(hits)} systems in vintage {self.vintage}: {listing}. Be more specific.")
        raise DefinitionError(
            f"no system {query!r} in vintage {self.vintage}: give a name fragment, a GSS code (E54…), an ODS code "
            f"or a definition id ({', '.join(sorted(system_definitions()))}). `icsgeo systems` lists them."
        )

    def national(self) -> "Geography":
        """The national geography of the same vintage, day and practice grouping (itself when national)."""
        if self.definition is None:
            return self
        return geography(None if self.as_at else self.vintage, None, self.practice_map if self._chosen_map else None,
                         self._method, self.as_at)

    @property
    def older_lad_codes(self) -> bool:
        """True when the vintage ended before the newer LAD codes took effect: it answers with the older."""
        since = catalogue().code_changes_since.get("lad")
        return bool(since and self.spec.valid_to and self.spec.valid_to < since)

    @property
    def indexed(self) -> bool:
        """True when the prebuilt index holds this geography's answers (national, the vintage's own map)."""
        return self.definition is None and self.members.as_at is None and self.practice_map == self.spec.id("practice_map") \
            and self._method is None

    @property
    def _chosen_map(self) -> bool:
        return self.members.as_at is None and self.practice_map != self.spec.id("practice_map") and self.as_at is None


class System:
    """One system of a geography: its boundary, places, LSOAs and neighbourhoods, always with the
    same columns whoever asks (the CLI, the HTTP API and the maps all come here)."""

    def __init__(self, geography: Geography, code: str, ods_code: str | None, name: str):
        self.geography, self.code, self.ods_code, self.name = geography, code, ods_code, name

    def __repr__(self) -> str:
        return f"System({self.code!r}, {self.name!r}, vintage={self.geography.vintage!r})"

    @property
    def vintage(self) -> str:
        return self.geography.vintage

    @property
    def title(self) -> str:
        """The name a map or report shows (a definition's own title where it has one)."""
        d = self.geography.definition
        return (d.title or d.name) if d is not None else self.name

    @functools.cached_property
    def boundary(self):
        """The system's row of :attr:`Geography.systems` (a one-row GeoDataFrame)."""
        s = self.geography.systems
        return s[s["code"] == self.code].reset_index(drop=True)

    @functools.cached_property
    def lsoas(self) -> pd.DataFrame:
        l = self.geography.lsoas
        return l[l["system_code"] == self.code].reset_index(drop=True)

    @functools.cached_property
    def places(self):
        p = self.geography.places
        return p[p["system_code"] == self.code].reset_index(drop=True)

    @functools.cached_property
    def neighbourhoods(self):
        """The PCN footprints clipped to the system's LSOAs (columns as :attr:`Geography.neighbourhoods`)."""
        return self.geography._neighbourhoods_of(self.lsoas)

    @property
    def local_neighbourhoods(self):
        """The system's own neighbourhoods (None unless its definition gives them)."""
        return self.geography.local_neighbourhoods if self.geography.definition is not None else None

    def profile(self) -> pd.DataFrame:
        """Every unit of the system against the size bands of its tier (the catalogue's ``[sizes]``)
        and, with the IMD 2025 file, its deprivation. One row per unit: the system, its places, its PCN
        neighbourhoods (``kind = "pcn"``) and its own neighbourhoods where defined (``kind = "local"``).

        ``population``: Census 2021 residents of its LSOAs in the system; ``registered_patients``: list
        sizes of the practices located in it (for a PCN, its practices' patients); ``area_km2`` from
        the drawn (generalised) polygons; ``band`` the tier's policy band and ``size_flag`` ``below``,
        ``within`` or ``above`` it (by residents); ``imd_score`` the population-weighted mean IMD 2025
        score of its LSOAs, ``most_deprived_10`` / ``_20`` the share of its residents in LSOAs among
        England's most deprived 10% / 20% (IMD deciles 1 and 1–2).
        """
        g = self.geography
        lsoas = self.lsoas
        dep = areas.lsoa_deprivation()
        frame = lsoas[["lsoa21_code", "population", "place_code"]].copy()
        rows = []

        def units(tier: str, kind: str, key: pd.Series, attrs: pd.DataFrame) -> None:
            f = frame.assign(unit=key.to_numpy())
            f = f[f["unit"].notna()]
            by = f.groupby("unit")
            out = pd.DataFrame({"population": by["population"].sum().astype("float64"), "lsoas": by.size()})
            if dep is not None:
                out = out.join(areas.deprivation_of(f[["lsoa21_code", "unit", "population"]], dep))
            out = attrs.join(out, how="left").reset_index(names="code")
            out["tier"], out["kind"] = tier, kind
            rows.append(out)

        sys_key = pd.Series(self.code, index=lsoas.index)
        boundary = self.boundary
        units("system", "", sys_key, pd.DataFrame({"name": [self.name], "registered_patients": boundary["registered_patients"].to_numpy(),
                                                   "area_km2": boundary.area.to_numpy() / 1e6}, index=[self.code]))
        places = self.places.set_index("code")
        units("place", "", lsoas["place_code"], pd.DataFrame({"name": places["name"], "registered_patients": places["registered_patients"],
                                                              "area_km2": places.area / 1e6, "place_code": places.index}))
        nb = self.neighbourhoods.set_index("pcn_code")
        pcn = neighbourhood_lsoas(g.members, g.method).set_index("lsoa21_code")["pcn_code"]
        units("neighbourhood", "pcn", lsoas["lsoa21_code"].map(pcn),
              pd.DataFrame({"name": nb["pcn_name"], "registered_patients": nb["registered_patients"], "area_km2": nb.area / 1e6,
                            "place_code": nb["place_code"]}))
        local = self.local_neighbourhoods
        if local is not None and len(local):
            ln = local.set_index("code")
            units("neighbourhood", "local", lsoas["local_code"],
                  pd.DataFrame({"name": ln["name"], "registered_patients": ln["registered_patients"], "area_km2": ln.area / 1e6,
                                "place_code": ln["place_code"]}))
        out = pd.concat(rows, ignore_index=True)
        names = places["name"]
        out["place_name"] = out["place_code"].map(names) if "place_code" in out else None
        out["system_code"], out["system_name"] = self.code, self.name
        sizes = catalogue().sizes
        lo = out["tier"].map(lambda t: sizes.get(t, (np.nan, np.nan))[0]).astype("float64")
        hi = out["tier"].map(lambda t: sizes.get(t, (np.nan, np.nan))[1]).astype("float64")
        out["band"] = [f"{a:,.0f}–{b:,.0f}" if np.isfinite(a) else None for a, b in zip(lo, hi)]
        out["size_flag"] = np.select([out["population"] < lo, out["population"] > hi], ["below", "above"], "within")
        out.loc[lo.isna(), "size_flag"] = None
        for c in PROFILE_COLUMNS:
            if c not in out:
                out[c] = np.nan
        out["population"] = out["population"].round().astype("Int64")
        return out[PROFILE_COLUMNS]


def _resolve_definition(system: str) -> SystemDefinition:
    if system in system_definitions():
        return system_definition(system)
    if system.lower().endswith((".yaml", ".yml")):  # as Geography.system tells a file: Mine.YAML too
        return load_system_file(system)
    raise DefinitionError(f"no system definition {system!r}; known: {', '.join(sorted(system_definitions()))}")


def geography(vintage: str | int | None = None, system: str | None = None, practice_map: str | None = None,
              method: str | None = None, as_at=None) -> Geography:
    """Build the Geography of a vintage: its systems, places, neighbourhoods and LSOAs.

    The :class:`Geography` of a vintage (default: the latest), optionally of one custom system (a
    definition id or file), practice map (a dataset id) or footprint method; or as at a day
    (``as_at``: the vintage in force then, its PCNs grouped as they were). Its tiers are built lazily
    and cached; the geography itself is kept per process (a newly recorded or pinned release gives a
    new one).

    Parameters
    ----------
    vintage : str or int, optional
        The geography vintage (``2021``, ``2023``, ``2026``); default the latest (or, with ``system``,
        the definition's own vintage).
    system : str, optional
        A custom system: a definition id (:func:`system_definitions`) or the path of a definition file
        (.yaml). To pick one of a vintage's own systems, use :meth:`Geography.system`.
    practice_map : str, optional
        A practice map's dataset id: which practices form each PCN; default the vintage's own map.
    method : {"registrations", "modelled"}, optional
        How LSOAs are given to PCNs; default ``registrations`` when the registration files are
        present, else ``modelled``.
    as_at : str or datetime.date, optional
        A day (``"2022-06-30"``): the vintage in force then, its PCNs grouped as they were.

    Returns
    -------
    Geography
        ``systems``, ``places`` and ``neighbourhoods`` (GeoDataFrames, EPSG:27700), ``lsoas``,
        ``tiers`` and ``notes`` (tier -> why it is missing or degraded); ``system(query)`` gives one
        :class:`System`.

    Raises
    ------
    UnknownDatasetError
        An unknown vintage or practice map, an ``as_at`` that is not a date or that no vintage covers,
        or a ``vintage`` that was not in force on ``as_at``.
    DefinitionError
        A definition id that is not known, or a definition file that is malformed or refers to unknown
        codes.
    DataFileMissingError
        A file a tier cannot do without is missing (optional inputs only degrade their tiers, see
        ``notes``).

    See Also
    --------
    where : Postcodes answered against a geography.
    footprints : ``geography(vintage).neighbourhoods``.

    Examples
    --------
    >>> import icsgeo
    >>> g = icsgeo.geography("2026")
    >>> g.vintage, len(g.systems), len(g.places)
    ('2026', 36, 106)
    >>> sorted(g.system("QF7").places["name"])
    ['Barnsley', 'Doncaster', 'Rotherham', 'Sheffield']
    >>> llr = icsgeo.geography(system="leicester-leicestershire-and-rutland")
    >>> llr.places["name"].tolist()
    ['Leicester', 'Leicestershire', 'Rutland']
    """
    return _geography(None if vintage is None else str(vintage), system, practice_map, method,
                      None if as_at is None else as_date(as_at), catalogue())


@functools.lru_cache(maxsize=16)
def _geography(vintage: str | None, system: str | None, practice_map: str | None, method: str | None,
               as_at: str | None, _in_force: object) -> Geography:
    # keyed on the catalogue in force too: a newly recorded or pinned release is a new geography
    return Geography(vintage, system, practice_map, method, as_at)
