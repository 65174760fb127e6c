"""Units defined locally: the places and neighbourhoods a system definition gives, resolved to LSOA 2021.

Since 2025 neighbourhoods are defined by ICBs with their councils: groups of wards, of LSOAs, of PCNs or
practices, a council's LSOA -> neighbourhood spreadsheet, a polygon layer. :func:`resolve` turns the
items of a definition (:class:`icsgeo.systems.PlaceDefinition` lists of codes, :class:`icsgeo.systems.UnitFile`
files) into one unit per LSOA and a :class:`Report` of what did not fit:

- ``lsoa`` codes are LSOA 2021; ``lsoa11`` codes are carried to 2021 with the ONS best-fit lookup (a split
  2011 LSOA gives all its 2021 children its unit; 2011 LSOAs merged into one 2021 LSOA from different
  units give it the unit of most of them, reported); ``ward`` codes take the LSOAs of the ward (the ONS
  LSOA 2021 -> ward best-fit lookup);
- ``pcn``: the union of those PCNs' footprints; ``practice``: the LSOAs where the listed practices hold
  more registered patients than any other practice or group;
- a lookup file: its area codes (LSOA 2021, LSOA 2011 or wards, detected from the codes and validated)
  and their unit; a polygon file: LSOAs by population-weighted centroid in polygon (or largest overlap),
  postcodes and points by point in polygon (see :func:`points_in_units`).

Every problem names the file (or the definition), the row or key and the code. An LSOA given to two
units is an error; an LSOA of the system in no unit, a unit reaching outside the system and a unit
straddling places are reported (:attr:`Report.lines`), never dropped silently.

The functions take frames and return frames; only :func:`read_unit_file` reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ..errors import DefinitionError
from ..settings import WORKING_CRS, get_settings
from ..systems import PlaceDefinition, UnitFile

__all__ = ["Report", "Resolution", "resolve", "read_unit_file", "lookup_rows", "detect_area_codes", "carry_lsoa11",
           "polygon_assignment", "points_in_units", "find_unit_file"]

_AREA = re.compile(r"^E0[15]\d{6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
COLUMNS = ["lsoa21_code", "unit_code", "unit_name", "unit_method"]


@dataclass
class Report:
    """What a definition's units did not cover exactly: each list is empty when all is well."""

    what: str = "neighbourhood"
    gaps: list[str] = field(default_factory=list)  # LSOAs of the system in no unit
    outside: dict[str, int] = field(default_factory=dict)  # unit -> LSOAs it names outside the system
    merged: list[str] = field(default_factory=list)  # 2021 LSOAs whose 2011 parents were in different units
    straddles: dict[str, dict[str, int]] = field(default_factory=dict)  # unit -> place -> LSOAs

    def lines(self) -> list[str]:
        out = []
        if self.gaps:
            shown = ", ".join(self.gaps[:20]) + (f" and {len(self.gaps) - 20} more" if len(self.gaps) > 20 else "")
            out.append(f"{len(self.gaps)} LSOAs of the system are in no {self.what}: {shown}")
        for unit, n in self.outside.items():
            out.append(f"{self.what} {unit!r} names {n} LSOAs outside the system (left out)")
        if self.merged:
            out.append(f"{len(self.merged)} LSOAs 2021 merge 2011 LSOAs of different {self.what}s; each went to the "
                       f"{self.what} of most of its 2011 parents: {', '.join(self.merged[:20])}")
        for unit, places in self.straddles.items():
            each = ", ".join(f"{p} {n}" for p, n in places.items())
            out.append(f"{self.what} {unit!r} straddles {len(places)} places (LSOAs: {each})")
        return out


@dataclass
class Resolution:
    """One row per LSOA given to a unit (``lsoa21_code, unit_code, unit_name, unit_method``), the
    units drawn from polygon files (``unit_code, unit_name, geometry``; None when there are none), and
    the :class:`Report`."""

    assignment: pd.DataFrame
    polygons: object | None
    report: Report


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def find_unit_file(spec: UnitFile, origin: str) -> Path:
    """The file a definition names: as given when absolute, else beside the definition, else in the
    data folder (``ICSGEO_DATA_DIR``, where a shared drive of local files may sit)."""
    p = Path(spec.file).expanduser()
    candidates = [p] if p.is_absolute() else []
    if not p.is_absolute():
        if spec.folder:
            candidates.append(Path(spec.folder) / p)
        data = get_settings().data_dir
        if data is not None:
            candidates.append(data / p)
    for c in candidates:
        if c.is_file():
            return c
    looked = ", ".join(str(c) for c in candidates) or spec.file
    raise DefinitionError(f"{origin}: the file {spec.file!r} is not there (looked in {looked})")


def read_unit_file(spec: UnitFile, origin: str):
    """The table (every column as text) or the polygons (EPSG:27700, repaired) of a file item."""
    path = find_unit_file(spec, origin)
    where = f"{origin}: {path.name}"
    if spec.kind == "lookup":
        try:
            if path.suffix.lower() == ".csv":
                raw = path.read_bytes()
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    text = raw.decode("cp1252", errors="replace")
                import io

                frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            else:
                frame = pd.read_excel(path, sheet_name=spec.sheet or 0, dtype=str, engine="calamine")
                frame = frame.fillna("")
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise DefinitionError(f"{where} cannot be read as a table: {exc}") from exc
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame
    import geopandas
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError

    source = f"zip://{path}" if path.suffix.lower() == ".zip" else str(path)
    try:
        gdf = geopandas.read_file(source, engine="pyogrio", layer=spec.layer)
    except (DataSourceError, DataLayerError, ValueError) as exc:
        raise DefinitionError(f"{where} cannot be read as polygons: {exc}") from exc
    if gdf.crs is None:
        raise DefinitionError(f"{where} has no coordinate reference system: save it with one (e.g. EPSG:27700)")
    gdf = gdf.to_crs(WORKING_CRS)
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise DefinitionError(f"{where} holds {sorted(kinds - {'Polygon', 'MultiPolygon'})} geometries; polygons are needed")
    geoms = gdf.geometry.values
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if bad.any():
        gdf = gdf.set_geometry(geopandas.GeoSeries(shapely.make_valid(geoms, method="structure"), crs=gdf.crs, index=gdf.index))
    return gdf


def _column(frame, wanted: str | None, key: str, where: str, default: Callable[[list[str]], str | None]) -> str:
    cols = [c for c in frame.columns if c != "geometry"]
    if wanted is not None:
        if wanted not in cols:
            raise DefinitionError(f"{where}: no column {wanted!r} ({key}); its columns are: {', '.join(cols)}")
        return wanted
    found = default(cols)
    if found is None:
        raise DefinitionError(f"{where}: say which column is which with {key}: one of {', '.join(cols)}")
    return found


def _clean_name(name: str, where: str) -> str:
    if _CONTROL.search(name):
        raise DefinitionError(f"{where}: the name {name!r} holds control characters")
    return name.strip()


def lookup_rows(frame: pd.DataFrame, spec: UnitFile, where: str) -> pd.DataFrame:
    """The rows of a lookup table: ``row`` (1-based, after the header), ``area_code``, ``unit_code``,
    ``unit_name``. The area column is the one whose values are GSS area codes (E01/E05) unless named;
    the name column must be named when several columns could be it."""

    def filled(c) -> pd.Series:
        v = frame[c].astype(str).str.strip()
        return v[v != ""]

    def area_default(cols):
        scores = {c: filled(c).str.upper().str.match(_AREA.pattern).mean() if len(filled(c)) else 0.0 for c in cols}
        top = max(scores.values(), default=0.0)
        best = [c for c, v in scores.items() if v == top and v >= 0.5]
        return best[0] if len(best) == 1 else None

    area = _column(frame, spec.area_column, "area_column", where, area_default)
    others = [c for c in frame.columns if c not in (area, spec.code_column)]

    def name_default(cols):
        if len(others) == 1:
            return others[0]
        text = [c for c in others if len(filled(c)) and filled(c).str.match(r"^-?[\d.,%]+$").mean() < 0.5]
        return text[0] if len(text) == 1 else None

    name = _column(frame, spec.name_column, "name_column", where, name_default)
    code = _column(frame, spec.code_column, "code_column", where, lambda cols: name) if spec.code_column else name
    codes = frame[area].astype(str).str.strip().str.upper()
    rows = pd.DataFrame({"row": np.arange(2, len(frame) + 2), "area_code": codes,
                         "unit_code": frame[code].astype(str).str.strip(), "unit_name": frame[name].astype(str).str.strip()})
    blank = rows["area_code"].eq("") & rows["unit_name"].eq("")
    rows = rows[~blank]
    bad = rows[~rows["area_code"].str.match(_AREA.pattern)]
    if len(bad):
        r = bad.iloc[0]
        raise DefinitionError(f"{where}: row {r['row']}: {r['area_code']!r} in {area!r} is not an LSOA (E01…) or ward (E05…) "
                              f"code ({len(bad)} such rows)")
    nameless = rows[rows["unit_name"].eq("")]
    if len(nameless):
        r = nameless.iloc[0]
        raise DefinitionError(f"{where}: row {r['row']}: {r['area_code']} has no unit in {name!r} ({len(nameless)} such rows)")
    for n in rows["unit_name"].unique():
        _clean_name(n, where)
    twice = rows[rows["area_code"].duplicated(keep=False)].groupby("area_code")["unit_name"].nunique()
    if (twice > 1).any():
        c = twice[twice > 1].index[0]
        listed = rows.loc[rows["area_code"] == c]
        raise DefinitionError(f"{where}: {c} is given to {listed['unit_name'].nunique()} units (rows "
                              f"{', '.join(map(str, listed['row']))}: {', '.join(listed['unit_name'].unique())})")
    return rows.drop_duplicates("area_code").reset_index(drop=True)


def detect_area_codes(codes: Iterable[str], lsoa21: set, lsoa11: set) -> str:
    """``ward``, ``lsoa`` (2021) or ``lsoa11`` for a list of area codes, by which set they belong to.

    LSOA codes that exist in only one of the 2011 and 2021 sets decide; codes in both (unchanged LSOAs)
    are the same either way. Wards and LSOAs mixed, or codes of both vintages, are an error."""
    codes = list(codes)
    wards = sum(c.startswith("E05") for c in codes)
    if wards and wards < len(codes):
        raise DefinitionError(f"ward and LSOA codes are mixed ({wards} of {len(codes)} are wards)")
    if wards:
        return "ward"
    only11 = [c for c in codes if c in lsoa11 and c not in lsoa21]
    only21 = [c for c in codes if c in lsoa21 and c not in lsoa11]
    if only11 and only21:
        raise DefinitionError(f"LSOA codes of 2011 ({only11[0]}…) and of 2021 ({only21[0]}…) are mixed; give one vintage "
                              "(area_codes: lsoa or lsoa11)")
    return "lsoa11" if only11 else "lsoa"


# ---------------------------------------------------------------------------------------------
# Codes to LSOA 2021
# ---------------------------------------------------------------------------------------------


def carry_lsoa11(rows: pd.DataFrame, lookup: pd.DataFrame, where: str, report: Report) -> pd.DataFrame:
    """``area_code`` (LSOA 2011), ``unit_code``, ``unit_name`` -> LSOA 2021 rows. Splits give every child
    the unit; a 2021 LSOA merged from 2011 LSOAs of different units takes the unit of most of them
    (ties: the first in code order) and is reported."""
    lk = lookup[["lsoa11_code", "lsoa21_code"]].drop_duplicates()
    unknown = rows.loc[~rows["area_code"].isin(lk["lsoa11_code"]), "area_code"]
    if len(unknown):
        raise DefinitionError(f"{where}: {unknown.iloc[0]} is not an LSOA 2011 code ({len(unknown)} unknown codes"
                              + (f", e.g. {', '.join(unknown.iloc[1:4])}" if len(unknown) > 1 else "") + ")")
    m = rows.merge(lk, left_on="area_code", right_on="lsoa11_code")
    counts = m.groupby(["lsoa21_code", "unit_code", "unit_name"], as_index=False).size()
    counts = counts.sort_values(["lsoa21_code", "size", "unit_code"], ascending=[True, False, True], kind="stable")
    several = counts.groupby("lsoa21_code")["unit_code"].transform("size") > 1
    report.merged += sorted(counts.loc[several, "lsoa21_code"].unique())
    return counts.drop_duplicates("lsoa21_code")[["lsoa21_code", "unit_code", "unit_name"]].reset_index(drop=True)


def _by_codes(rows: pd.DataFrame, kind: str, base: pd.DataFrame, lsoa11: Callable[[], pd.DataFrame], where: str,
              report: Report) -> pd.DataFrame:
    """Area rows of one kind (lsoa, lsoa11, ward) -> LSOA 2021 rows with their unit."""
    if kind == "lsoa":
        unknown = rows.loc[~rows["area_code"].isin(base["lsoa21_code"]), "area_code"]
        if len(unknown):
            raise DefinitionError(f"{where}: {unknown.iloc[0]} is not an English LSOA 2021 code ({len(unknown)} unknown)")
        return rows.rename(columns={"area_code": "lsoa21_code"})[["lsoa21_code", "unit_code", "unit_name"]]
    if kind == "lsoa11":
        return carry_lsoa11(rows, lsoa11(), where, report)
    if base["ward_code"].isna().all():
        raise DefinitionError(f"{where}: units given by wards need the LSOA -> ward lookup, which is not available")
    unknown = rows.loc[~rows["area_code"].isin(base["ward_code"]), "area_code"]
    if len(unknown):
        raise DefinitionError(f"{where}: {unknown.iloc[0]} is not a ward code of the LSOA -> ward lookup ({len(unknown)} unknown)")
    m = rows.merge(base[["lsoa21_code", "ward_code"]], left_on="area_code", right_on="ward_code")
    return m[["lsoa21_code", "unit_code", "unit_name"]]


def polygon_assignment(polygons, lsoas: pd.DataFrame, *, how: str = "centroid", shapes=None) -> pd.DataFrame:
    """``lsoa21_code -> unit_code, unit_name`` for LSOAs of ``lsoas`` (with population-weighted
    centroids ``easting, northing``): the polygon holding the centroid, or (``how="overlap"``, with the
    LSOA ``shapes``: ``code, geometry``) the one covering most of the LSOA's area."""
    import geopandas

    if how == "overlap":
        if shapes is None:
            raise ValueError("how='overlap' needs the LSOA shapes")
        mine = shapes[shapes["code"].isin(lsoas["lsoa21_code"])][["code", "geometry"]]
        pieces = geopandas.overlay(mine, polygons[["unit_code", "unit_name", "geometry"]], how="intersection", keep_geom_type=True)
        pieces["area"] = pieces.area
        pieces = pieces.sort_values(["code", "area", "unit_code"], ascending=[True, False, True], kind="stable")
        best = pieces.drop_duplicates("code")
        return pd.DataFrame({"lsoa21_code": best["code"].to_numpy(), "unit_code": best["unit_code"].to_numpy(),
                             "unit_name": best["unit_name"].to_numpy()})
    located = lsoas[lsoas["easting"].notna()]
    hit = points_in_units(polygons, located["easting"].to_numpy(), located["northing"].to_numpy())
    out = pd.DataFrame({"lsoa21_code": located["lsoa21_code"].to_numpy(), "unit_code": hit["unit_code"].to_numpy(),
                        "unit_name": hit["unit_name"].to_numpy()})
    return out[out["unit_code"].notna()].reset_index(drop=True)


def points_in_units(polygons, easting, northing) -> pd.DataFrame:
    """The unit polygon holding each point (``unit_code, unit_name``; None outside every polygon; a point
    on a shared edge takes the first polygon). One row per point, in order."""
    import shapely

    e, n = np.asarray(easting, dtype="float64"), np.asarray(northing, dtype="float64")
    code = np.full(len(e), None, dtype=object)
    name = np.full(len(e), None, dtype=object)
    ok = np.flatnonzero(np.isfinite(e) & np.isfinite(n))
    if len(ok) and len(polygons):
        tree = shapely.STRtree(polygons.geometry.values)
        qi, ti = tree.query(shapely.points(e[ok], n[ok]), predicate="intersects")
        order = np.lexsort((ti, qi))
        qi, ti = qi[order], ti[order]
        first = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, dtype=bool)
        code[ok[qi[first]]] = polygons["unit_code"].to_numpy(dtype=object)[ti[first]]
        name[ok[qi[first]]] = polygons["unit_name"].to_numpy(dtype=object)[ti[first]]
    return pd.DataFrame({"unit_code": pd.Series(code, dtype=object), "unit_name": pd.Series(name, dtype=object)})


# ---------------------------------------------------------------------------------------------
# A definition's units
# ---------------------------------------------------------------------------------------------


def _polygon_units(gdf, spec: UnitFile, where: str):
    name = _column(gdf, spec.name_column, "name_column", where,
                   lambda cols: next((c for c in cols if c.lower() in ("name", "neighbourhood", "place")), None)
                   or (cols[0] if len(cols) == 1 else None))
    code = _column(gdf, spec.code_column, "code_column", where, lambda cols: name) if spec.code_column else name
    import geopandas

    out = geopandas.GeoDataFrame({"unit_code": gdf[code].to_numpy(), "unit_name": gdf[name].to_numpy()},
                                 geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    out["unit_code"] = out["unit_code"].astype(str).str.strip()
    out["unit_name"] = out["unit_name"].astype(str).str.strip()
    for n in out["unit_name"].unique():
        _clean_name(n, where)
    if out["unit_code"].duplicated().any():  # several features of one unit: one (multi)polygon each
        out = out.dissolve(by=["unit_code", "unit_name"], as_index=False)
    return out.reset_index(drop=True)


def resolve(items, scope: pd.DataFrame, *, base: pd.DataFrame, origin: str, what: str = "neighbourhood",
            lsoa11: Callable[[], pd.DataFrame] | None = None, pcn_lsoas: Callable[[], pd.DataFrame] | None = None,
            practice_votes: Callable[[dict[str, str]], pd.DataFrame] | None = None,
            shapes: Callable[[], object] | None = None) -> Resolution:
    """Resolve a definition's units to the LSOAs of ``scope``.

    ``scope``: the LSOAs the units must cover (``lsoa21_code, easting, northing`` and, to report
    straddles, ``place_code``); ``base``: every English LSOA 2021 with ``ward_code``. The loaders are
    called only when a unit needs them: ``lsoa11`` (the LSOA 2011 -> 2021 lookup), ``pcn_lsoas``
    (``lsoa21_code, pcn_code``), ``practice_votes`` (``{practice_code: group}`` -> ``lsoa21_code, unit_code``)
    and ``shapes`` (LSOA polygons, for ``assign: overlap``).
    """
    import geopandas

    report = Report(what=what)
    parts: list[pd.DataFrame] = []
    polygons = []
    lsoa11_frame: list = []

    def get_lsoa11():
        if lsoa11 is None:
            raise DefinitionError(f"{origin}: units given by LSOA 2011 codes need the LSOA 2011 -> 2021 lookup")
        if not lsoa11_frame:
            lsoa11_frame.append(lsoa11())
        return lsoa11_frame[0]

    groups: dict[str, str] = {}
    group_names: dict[str, str] = {}
    for i, item in enumerate(items):
        if isinstance(item, UnitFile):
            where = f"{origin}: {Path(item.file).name}"
            frame = read_unit_file(item, origin)
            if item.kind == "polygons":
                units = _polygon_units(frame, item, where)
                got = polygon_assignment(units, scope, how=item.assign, shapes=shapes() if item.assign == "overlap" and shapes else None)
                got["unit_method"] = f"polygon file ({'population-weighted centroid' if item.assign == 'centroid' else 'largest overlap'})"
                polygons.append(units)
                parts.append(got)
                continue
            rows = lookup_rows(frame, item, where)
            l11 = set(get_lsoa11()["lsoa11_code"]) if lsoa11 is not None and not rows["area_code"].str.startswith("E05").all() else set()
            try:
                kind = item.area_codes or detect_area_codes(rows["area_code"], set(base["lsoa21_code"]), l11)
            except DefinitionError as exc:
                raise DefinitionError(f"{where}: {exc}") from None
            got = _by_codes(rows, kind, base, get_lsoa11, where, report)
            label = {"lsoa": "LSOA 2021", "lsoa11": "LSOA 2011, carried to 2021", "ward": "wards"}[kind]
            got["unit_method"] = f"lookup file ({label})"
            parts.append(got)
            continue
        assert isinstance(item, PlaceDefinition)
        where = f"{origin}: {what} {item.name!r}"
        name = _clean_name(item.name, where)
        for kind, codes in item.units.items():
            rows = pd.DataFrame({"area_code": list(codes), "unit_code": item.code, "unit_name": name})
            if kind in ("lsoa", "lsoa11", "ward"):
                got = _by_codes(rows, kind, base, get_lsoa11, where, report)
                got["unit_method"] = {"lsoa": "LSOA list", "lsoa11": "LSOA 2011 list, carried to 2021", "ward": "ward group"}[kind]
            elif kind == "pcn":
                if pcn_lsoas is None:
                    raise DefinitionError(f"{where}: PCN groups need the PCN footprints")
                pl = pcn_lsoas()
                unknown = sorted(set(codes) - set(pl["pcn_code"].dropna()))
                if unknown:
                    raise DefinitionError(f"{where}: {unknown[0]} is not a PCN of the practice map ({len(unknown)} unknown)")
                got = pl[pl["pcn_code"].isin(codes)][["lsoa21_code"]].assign(unit_code=item.code, unit_name=name,
                                                                             unit_method="PCN group (their footprints)")
            else:  # practice groups: resolved together below, one vote over all groups
                for c in codes:
                    groups[c] = item.code
                group_names[item.code] = name
                continue
            parts.append(got)
    if groups:
        if practice_votes is None:
            raise DefinitionError(f"{origin}: practice groups need the registrations")
        votes = practice_votes(groups)
        votes = votes.assign(unit_name=votes["unit_code"].map(group_names), unit_method="practice group (registrations)")
        parts.append(votes[COLUMNS])
    assignment = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    assignment = assignment[COLUMNS].drop_duplicates()
    twice = assignment[assignment["lsoa21_code"].duplicated(keep=False)]
    if len(twice):
        first = twice["lsoa21_code"].iloc[0]
        units = twice.loc[twice["lsoa21_code"] == first, "unit_name"].tolist()
        raise DefinitionError(f"{origin}: LSOA {first} is in two {what}s ({' and '.join(map(repr, units))}); "
                              f"{twice['lsoa21_code'].nunique()} LSOAs are given twice")
    inside = assignment["lsoa21_code"].isin(scope["lsoa21_code"])
    outside = assignment[~inside].groupby("unit_name").size()
    report.outside = {str(k): int(v) for k, v in outside.items()}
    assignment = assignment[inside].reset_index(drop=True)
    report.gaps = sorted(set(scope["lsoa21_code"]) - set(assignment["lsoa21_code"]))
    if "place_code" in scope:
        j = assignment.merge(scope[["lsoa21_code", "place_code"]], on="lsoa21_code")
        by = j.groupby(["unit_name", "place_code"]).size()
        for unit, n in j.groupby("unit_name")["place_code"].nunique().items():
            if n > 1:
                report.straddles[str(unit)] = {str(p): int(c) for p, c in by[unit].items()}
    gdf = None
    if polygons:
        gdf = geopandas.GeoDataFrame(pd.concat(polygons, ignore_index=True), geometry="geometry", crs=WORKING_CRS)
    return Resolution(assignment=assignment, polygons=gdf, report=report)
