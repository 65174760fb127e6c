"""Custom system definitions (YAML in ``boundaries/systems/``): a system, its places and its own
neighbourhoods, as data.

A place is given by any of: ``lad`` (local authority district codes), ``ctyua`` (county / unitary
authority codes), ``sicbl`` (Sub-ICB Location GSS or ODS codes), ``ccg`` (2021 CCG GSS or ODS codes),
``lsoa`` (LSOA 2021 codes), ``lsoa11`` (LSOA 2011 codes, carried to 2021) or ``ward`` (ward codes).
A neighbourhood is given by ``lsoa``, ``lsoa11``, ``ward``, ``pcn`` (PCN codes: the union of their
footprints) or ``practice`` (practice codes: the LSOAs where those practices hold most registered
patients). Either list may also take **file items** (:class:`UnitFile`): a lookup table or a polygon
file that gives many units at once, the form local teams keep. Files are loaded with
``yaml.safe_load`` and validated here; codes are checked against the data when the system is built
(:mod:`icsgeo.neighbourhoods.local`). Ids are checked against the known definitions before any file is
touched, so a request never names a path.

>>> d = system_definition("south-yorkshire-and-bassetlaw-2021")
>>> [p.name for p in d.places]
['Barnsley', 'Bassetlaw', 'Doncaster', 'Rotherham', 'Sheffield']
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .sources.catalogue import boundaries_dir
from .errors import DefinitionError

__all__ = ["PlaceDefinition", "UnitFile", "SystemDefinition", "system_definition", "system_definitions",
           "parse_system_definition", "load_system_file", "PLACE_UNITS", "NEIGHBOURHOOD_UNITS"]

#: How a place may be given (codes of each kind), and how a neighbourhood may.
PLACE_UNITS = ("lad", "ctyua", "sicbl", "ccg", "lsoa", "lsoa11", "ward")
NEIGHBOURHOOD_UNITS = ("lsoa", "lsoa11", "ward", "pcn", "practice")
UNIT_TYPES = PLACE_UNITS
_CODE = {
    "lad": re.compile(r"^E0[6789]\d{6}$"),
    "ctyua": re.compile(r"^E(06|08|09|10|11)\d{6}$"),
    "sicbl": re.compile(r"^(E38\d{6}|[0-9A-Z]{3,5})$"),
    "ccg": re.compile(r"^(E38\d{6}|[0-9A-Z]{3})$"),
    "lsoa": re.compile(r"^E01\d{6}$"),
    "lsoa11": re.compile(r"^E01\d{6}$"),
    "ward": re.compile(r"^E05\d{6}$"),
    "pcn": re.compile(r"^U\d{5}$"),
    "practice": re.compile(r"^[A-Z]\d{5}$"),
}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,80}$")
#: File items: a lookup table (an area-code column and a unit column) or polygons (one per unit).
LOOKUP_SUFFIXES = (".csv", ".xlsx", ".xls")
POLYGON_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".zip")
_FILE_KEYS = {"file", "area_column", "name_column", "code_column", "sheet", "layer", "area_codes", "assign"}


@dataclass(frozen=True)
class PlaceDefinition:
    """One unit (a place or a neighbourhood) given by lists of codes: ``units`` kind -> codes."""

    name: str
    code: str
    units: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class UnitFile:
    """Several units (places or neighbourhoods) read from a file the definition names.

    A **lookup** (.csv, .xlsx): ``area_column`` holds LSOA 2021, LSOA 2011 or ward codes (detected from
    the codes unless ``area_codes`` says ``lsoa``, ``lsoa11`` or ``ward``), ``name_column`` the unit
    each area belongs to (``code_column`` its code, default: the name). **Polygons** (.gpkg, .geojson,
    .shp, a zipped shapefile; any CRS): one feature per unit, named by ``name_column``; LSOAs go to the
    polygon holding their population-weighted centroid (``assign: centroid``, the default) or the one
    covering most of their area (``assign: overlap``); postcodes and points go by point in polygon.
    A relative ``file`` is looked for beside the definition, then in the data folder.
    """

    file: str
    kind: str  # "lookup" or "polygons"
    folder: str | None = None
    area_column: str | None = None
    name_column: str | None = None
    code_column: str | None = None
    sheet: str | None = None
    layer: str | None = None
    area_codes: str | None = None
    assign: str = "centroid"


@dataclass(frozen=True)
class SystemDefinition:
    id: str
    name: str
    code: str | None
    ods_code: str | None
    vintage: str
    places: tuple[PlaceDefinition | UnitFile, ...]
    source: str = ""
    path: str | None = field(default=None, compare=False)
    #: what maps and reports call it (default: ``name``), e.g. "South Yorkshire and Bassetlaw (2021) ICS"
    title: str | None = None
    #: the system's own neighbourhoods (empty: only the PCN neighbourhoods)
    neighbourhoods: tuple[PlaceDefinition | UnitFile, ...] = ()
    #: the folder of the definition file (relative unit files are looked for there)
    folder: str | None = field(default=None, compare=False)


def _file_item(item: Mapping, where: str, folder: str | None, fail) -> UnitFile:
    bad = set(item) - _FILE_KEYS
    if bad:
        raise fail(f"{where}: unknown keys {sorted(bad)}; a file item takes {', '.join(sorted(_FILE_KEYS))}")
    path = item.get("file")
    if not isinstance(path, str) or not path.strip():
        raise fail(f"{where}: file must be a path")
    suffix = Path(path).suffix.lower()
    if suffix in LOOKUP_SUFFIXES:
        kind = "lookup"
    elif suffix in POLYGON_SUFFIXES:
        kind = "polygons"
    else:
        raise fail(f"{where}: {path!r} is neither a lookup ({', '.join(LOOKUP_SUFFIXES)}) "
                   f"nor a polygon file ({', '.join(POLYGON_SUFFIXES)})")
    for key in ("area_column", "name_column", "code_column", "sheet", "layer"):
        if key in item and not isinstance(item[key], str):
            raise fail(f"{where}: {key} must be a column, sheet or layer name")
    if item.get("area_codes") not in (None, "lsoa", "lsoa11", "ward"):
        raise fail(f"{where}: area_codes must be lsoa (2021), lsoa11 or ward, not {item.get('area_codes')!r}")
    if item.get("assign", "centroid") not in ("centroid", "overlap"):
        raise fail(f"{where}: assign must be centroid or overlap, not {item.get('assign')!r}")
    return UnitFile(file=path.strip(), kind=kind, folder=folder, area_column=item.get("area_column"),
                    name_column=item.get("name_column"), code_column=item.get("code_column"), sheet=item.get("sheet"),
                    layer=item.get("layer"), area_codes=item.get("area_codes"), assign=item.get("assign", "centroid"))


def _units(items: Any, what: str, kinds: tuple[str, ...], id_: str, folder: str | None, fail, *, required: bool):
    """Validate a list of units (``what``: place or neighbourhood) given by codes or by files."""
    if items is None and not required:
        return ()
    if not isinstance(items, list) or not items:
        raise fail(f"{what}s must be a non-empty list")
    out, seen_names, seen_units = [], set(), {}
    for i, p in enumerate(items):
        if isinstance(p, Mapping) and "file" in p:
            out.append(_file_item(p, f"{what} {i + 1}", folder, fail))
            continue
        if not isinstance(p, Mapping) or not isinstance(p.get("name"), str) or not p["name"].strip():
            raise fail(f"{what} {i + 1} needs a name (or a file)")
        pname = p["name"].strip()
        if pname in seen_names:
            raise fail(f"{what} name {pname!r} is used twice")
        seen_names.add(pname)
        bad_keys = set(p) - {"name", "code", *kinds}
        if bad_keys:
            raise fail(f"{what} {pname!r} has unknown keys {sorted(bad_keys)}; a {what} is given by {', '.join(kinds)} or a file")
        units: dict[str, tuple[str, ...]] = {}
        for t in kinds:
            if t in p:
                codes = p[t]
                if isinstance(codes, str):
                    codes = [codes]
                if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
                    raise fail(f"{what} {pname!r}: {t} must be a list of codes")
                codes = tuple(c.strip().upper() for c in codes)
                bad = [c for c in codes if not _CODE[t].match(c)]
                if bad:
                    raise fail(f"{what} {pname!r}: {bad} are not {t} codes")
                for c in codes:
                    if (t, c) in seen_units:
                        raise fail(f"{t} {c} is in both {seen_units[(t, c)]!r} and {pname!r}")
                    seen_units[(t, c)] = pname
                units[t] = codes
        if not units:
            raise fail(f"{what} {pname!r} has no units: give one of {', '.join(kinds)}, or a file")
        code = p.get("code")
        if code is not None and (not isinstance(code, (str, int)) or not str(code).strip()):
            raise fail(f"{what} {pname!r}: code must be a short text")
        out.append(PlaceDefinition(pname, str(code).strip() if code is not None else _place_code(units, id_, i, what), units))
    return tuple(out)


def parse_system_definition(raw: Any, *, origin: str = "<memory>", folder: str | None = None) -> SystemDefinition:
    """Validate a parsed YAML mapping; every problem is a :class:`DefinitionError` naming ``origin``.
    ``folder``: where relative unit files are looked for first (the definition file's folder)."""

    def fail(msg: str) -> DefinitionError:
        return DefinitionError(f"{origin}: {msg}")

    if not isinstance(raw, Mapping):
        raise fail("a system definition must be a mapping with id, name and places")
    allowed = {"id", "name", "title", "code", "ods_code", "vintage", "source", "places", "neighbourhoods", "description"}
    unknown = set(raw) - allowed
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed - {'description'}))}")
    id_ = raw.get("id")
    if not isinstance(id_, str) or not _ID.match(id_):
        raise fail(f"id {id_!r} must be lower-case letters, digits and hyphens")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name is required")
    title = raw.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise fail("title, when given, must be a non-empty string")
    places = _units(raw.get("places"), "place", PLACE_UNITS, id_, folder, fail, required=True)
    neighbourhoods = _units(raw.get("neighbourhoods"), "neighbourhood", NEIGHBOURHOOD_UNITS, id_, folder, fail, required=False)
    vintage = str(raw.get("vintage", "2023"))
    return SystemDefinition(
        id=id_, name=name.strip(), code=raw.get("code"), ods_code=raw.get("ods_code"), vintage=vintage,
        places=places, source=str(raw.get("source", "")), path=origin, title=title.strip() if title else None,
        neighbourhoods=neighbourhoods, folder=folder,
    )


def _place_code(units: Mapping[str, tuple[str, ...]], system_id: str, index: int, what: str = "place") -> str:
    if what == "place":
        for t in ("lad", "ctyua", "ccg", "sicbl"):
            if t in units and len(units[t]) == 1 and len(units) == 1:
                return units[t][0]
        return f"{system_id}:{index + 1}"
    return f"{system_id}:n{index + 1}"


@functools.cache
def system_definitions() -> dict[str, SystemDefinition]:
    """Every shipped definition, by id."""
    import yaml

    out = {}
    for path in sorted((boundaries_dir() / "systems").glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DefinitionError(f"{path.name}: not valid YAML: {exc}") from exc
        d = parse_system_definition(raw, origin=path.name, folder=str(path.parent))
        if d.id != path.stem:
            raise DefinitionError(f"{path.name}: id {d.id!r} must match the file name")
        out[d.id] = d
    return out


def system_definition(id_: str) -> SystemDefinition:
    defs = system_definitions()
    if id_ not in defs:
        raise DefinitionError(f"no system definition {id_!r}; known: {', '.join(sorted(defs))}")
    return defs[id_]


def load_system_file(path: str | Path) -> SystemDefinition:
    """A user's own YAML definition file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot read a YAML system definition: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML: {exc}") from exc
    return parse_system_definition(raw, origin=str(path), folder=str(path.resolve().parent))
