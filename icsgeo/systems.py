"""Custom system definitions (YAML in ``boundaries/systems/``): a system, its places and its own
neighbourhoods, as data.

A place is given by any of: ``lad`` (local authority district codes), ``ctyua`` (county / unitary
authority codes), ``sicbl`` (Sub-ICB Location GSS or ODS codes), ``ccg`` (2021 CCG GSS or ODS codes),
``lsoa`` (LSOA 2021 codes), ``lsoa11`` (LSOA 2011 codes, carried to 2021) or ``ward`` (ward codes).
A neighbourhood is given by ``lsoa``, ``lsoa11``, ``ward``, ``pcn`` (PCN codes: the union of their
footprints) or ``practice`` (practice codes: the LSOAs where those practices hold most registered
patients). Either list may also take **file items** (:class:`UnitFile`): a lookup table or a polygon
file that gives many units at once, the form local teams keep. Files are read within limits (UTF-8,
at most :data:`MAX_DEFINITION_BYTES`, no anchors, aliases or duplicate keys, nested at most
:data:`MAX_DEFINITION_DEPTH` deep, no control characters in the text) by a safe YAML loader and
validated here; codes are checked against the data when the system is built
(:mod:`icsgeo.neighbourhoods.local`). Ids are checked against the known definitions before any file is
touched, so a request never names a path.

>>> d = system_definition("south-yorkshire-and-bassetlaw-2021")
>>> [p.name for p in d.places]
['Barnsley', 'Bassetlaw', 'Doncaster', 'Rotherham', 'Sheffield']
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .sources.catalogue import boundaries_dir
from .errors import DefinitionError

__all__ = ["PlaceDefinition", "UnitFile", "SystemDefinition", "system_definition", "system_definitions",
           "parse_system_definition", "load_system_file", "PLACE_UNITS", "NEIGHBOURHOOD_UNITS",
           "MAX_DEFINITION_BYTES", "MAX_DEFINITION_DEPTH"]

#: The largest definition file read: the shipped ones are under 1 KB; many areas belong in a lookup file.
MAX_DEFINITION_BYTES = 1 << 20
#: How deep mappings and lists may nest in a definition (the root mapping is level 1; a definition needs 4).
MAX_DEFINITION_DEPTH = 20

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
#: Characters no text of a definition may hold: C0 and C1 controls, DEL, the line and paragraph
#: separators and the bidirectional controls (which reorder what a terminal or a page shows).
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: ... except that free text (a description, a source) may run over lines and hold tabs.
_FREE_TEXT_KEYS = {"description", "source"}
_LINE_BREAKS = "\t\n\r"


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
    _check_text(raw, fail)
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


def _check_text(raw: Mapping, fail) -> None:
    """Refuse any text (a key or a value, at any depth) holding a control character, naming the field
    (``places[2].name``) and the character's code point: names reach terminals, logs and map pages."""
    stack: list[tuple[str, Any, bool]] = [("", raw, False)]
    while stack:  # iterative: an in-memory definition may nest deeper than a file may
        where, value, free = stack.pop()
        if isinstance(value, str):
            for m in _CONTROL_CHARS.finditer(value):
                if free and m.group() in _LINE_BREAKS:
                    continue
                ch = m.group()
                label = unicodedata.name(ch, "") or _CONTROL_NAMES.get(ch, "a control character")
                shown = value if len(value) <= 60 else value[:57] + "..."
                raise fail(f"{where} holds the control character U+{ord(ch):04X} ({label}) in {shown!r}: "
                           "names, titles, ids, codes and file names must be plain text; remove it")
        elif isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(k, str):
                    stack.append((f"a key of {where}" if where else "a key", k, False))
                key = str(k)
                stack.append((f"{where}.{key}" if where else key, v, free or (not where and key in _FREE_TEXT_KEYS)))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                stack.append((f"{where}[{i + 1}]", v, free))


_CONTROL_NAMES = {"\x1b": "ESCAPE", "\x7f": "DELETE", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN",
                  "\x9b": "CONTROL SEQUENCE INTRODUCER", "\x00": "NULL"}


def _place_code(units: Mapping[str, tuple[str, ...]], system_id: str, index: int, what: str = "place") -> str:
    if what == "place":
        for t in ("lad", "ctyua", "ccg", "sicbl"):
            if t in units and len(units[t]) == 1 and len(units) == 1:
                return units[t][0]
        return f"{system_id}:{index + 1}"
    return f"{system_id}:n{index + 1}"


@functools.cache
def system_definitions() -> dict[str, SystemDefinition]:
    """Load every shipped custom system definition (``boundaries/systems/*.yaml``), by id.

    Each file is read within the definition limits and validated (its codes are checked against the
    data only when the system is built).

    Returns
    -------
    dict of str to SystemDefinition
        Definition id -> definition (its ``name``, ``code``, ``ods_code``, ``vintage``, ``places``
        and own ``neighbourhoods``).

    Raises
    ------
    DefinitionError
        A shipped file that is malformed, or whose id does not match its file name.

    See Also
    --------
    load_system_file : A user's own definition file.
    geography : ``geography(system=id)`` builds a definition's geography.

    Examples
    --------
    >>> import icsgeo
    >>> defs = icsgeo.system_definitions()
    >>> sorted(defs)
    ['leicester-leicestershire-and-rutland', 'sheffield-neighbourhoods-2021', 'south-yorkshire-and-bassetlaw-2021', 'suffolk-and-north-east-essex-2021']
    >>> [p.name for p in defs["south-yorkshire-and-bassetlaw-2021"].places]
    ['Barnsley', 'Bassetlaw', 'Doncaster', 'Rotherham', 'Sheffield']
    """
    out = {}
    for path in sorted((boundaries_dir() / "systems").glob("*.yaml")):
        raw = _read_definition(path, path.name)
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
    """Load a user's own YAML system definition file.

    UTF-8 (a BOM is fine), at most :data:`MAX_DEFINITION_BYTES`, read by a safe YAML loader that
    refuses anchors and aliases, duplicate keys and nesting deeper than
    :data:`MAX_DEFINITION_DEPTH` (see :func:`_read_definition`), then validated. Relative unit files
    in it are looked for beside it. Its codes are checked against the data when the system is built.

    Parameters
    ----------
    path : str or pathlib.Path
        The definition file (.yaml).

    Returns
    -------
    SystemDefinition
        Its ``id``, ``name``, ``code``, ``ods_code``, ``vintage``, ``places`` and own
        ``neighbourhoods``.

    Raises
    ------
    DefinitionError
        A file that cannot be read, is too large, not UTF-8 or not YAML, holds what the loader
        refuses, or is not a valid definition; the message names the file (and the line) and what to
        do.

    See Also
    --------
    system_definitions : The shipped definitions.

    Examples
    --------
    >>> import icsgeo
    >>> from icsgeo.sources.catalogue import boundaries_dir
    >>> d = icsgeo.load_system_file(boundaries_dir() / "systems" / "leicester-leicestershire-and-rutland.yaml")
    >>> d.id, d.vintage, d.ods_code, [p.name for p in d.places]
    ('leicester-leicestershire-and-rutland', '2023', 'QK1', ['Leicester', 'Leicestershire', 'Rutland'])
    >>> icsgeo.load_system_file("missing.yaml")                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    icsgeo.errors.DefinitionError: missing.yaml: cannot read a YAML system definition: ...
    """
    path = Path(path)
    raw = _read_definition(path, str(path))
    return parse_system_definition(raw, origin=str(path), folder=str(path.resolve().parent))


# ---------------------------------------------------------------------------------- reading YAML
class _Refused(Exception):
    """What the definition loader refuses, with the line (1-based) where it starts."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


_TOO_DEEP = (f"nested deeper than {MAX_DEFINITION_DEPTH} levels; a definition needs 4 "
             "(the definition, its places, a place, the place's codes)")


@functools.cache
def _loader_class():
    """A safe YAML loader that refuses what a definition never needs, as it composes (never by
    recursing past the limit): anchors and aliases (so an alias bomb stops at its first anchor),
    nesting deeper than :data:`MAX_DEFINITION_DEPTH`, merge keys and duplicate mapping keys.
    libyaml's scanner and parser when PyYAML has them (``CSafeLoader``), with PyYAML's own composer
    over its events so that each node is checked; else the pure-Python ``SafeLoader``."""
    import yaml
    from yaml.composer import Composer
    from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
    from yaml.nodes import MappingNode

    class _Limits:
        _depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            line = event.start_mark.line + 1
            if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
                raise _Refused(line, "YAML anchors and aliases (&name, *name) are not accepted in a system "
                               "definition: it has no need of them; write each list out in full")
            if not isinstance(event, (SequenceStartEvent, MappingStartEvent)):
                return super().compose_node(parent, index)
            if self._depth >= MAX_DEFINITION_DEPTH:
                raise _Refused(line, _TOO_DEEP)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node, deep=False):
            if isinstance(node, MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    line = key_node.start_mark.line + 1
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        raise _Refused(line, "merge keys (<<) are not accepted in a system definition; write the keys out")
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.get(key)
                    except TypeError:  # an unhashable key: PyYAML's own error says so
                        continue
                    if first is not None:
                        raise _Refused(line, f"the key {key!r} is given twice (first on line {first}); keep one")
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    if getattr(yaml, "CSafeLoader", None) is not None:
        class _DefinitionLoader(_Limits, Composer, yaml.CSafeLoader):
            def __init__(self, stream):
                yaml.CSafeLoader.__init__(self, stream)
                Composer.__init__(self)
    else:  # PyYAML without libyaml
        class _DefinitionLoader(_Limits, yaml.SafeLoader):
            pass
    return _DefinitionLoader


def _read_definition(path: Path, origin: str) -> Any:
    """The parsed YAML of a definition file. Every refusal is a :class:`DefinitionError` naming
    ``origin`` and what to do: a file over :data:`MAX_DEFINITION_BYTES` (checked before reading it
    whole), one not in UTF-8 (a UTF-8 BOM is fine), not YAML, or holding what the loader refuses."""
    import yaml

    try:
        size = path.stat().st_size
        if size > MAX_DEFINITION_BYTES:
            raise _over_size(origin, size)
        with path.open("rb") as f:
            data = f.read(MAX_DEFINITION_BYTES + 1)  # the file may have grown since
    except OSError as exc:
        raise DefinitionError(f"{origin}: cannot read a YAML system definition: {exc.strerror or exc}") from exc
    if len(data) > MAX_DEFINITION_BYTES:
        raise _over_size(origin, len(data))
    text = _decode(data, origin)
    loader = _loader_class()(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise DefinitionError(f"{origin}: line {exc.line}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if "maximum nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own limit, met scanning ahead
            at = f"line {mark.line + 1}: " if mark is not None else ""
            raise DefinitionError(f"{origin}: {at}{_TOO_DEEP}") from None
        raise DefinitionError(f"{origin}: not valid YAML: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth limit is met first
        raise DefinitionError(f"{origin}: {_TOO_DEEP}") from None
    finally:
        loader.dispose()


def _over_size(origin: str, size: int) -> DefinitionError:
    return DefinitionError(
        f"{origin}: {size:,} bytes is over the {MAX_DEFINITION_BYTES >> 20} MiB limit for a system definition. "
        "A definition names its units; give long lists of areas as a lookup file instead "
        "(a file: item naming a CSV of area codes and unit names)")


def _decode(data: bytes, origin: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DefinitionError(f"{origin}: the file is UTF-16; a system definition must be UTF-8: save it as UTF-8 "
                              "in your editor (Save As, encoding UTF-8)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DefinitionError(
            f"{origin}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}; perhaps Latin-1 or Windows-1252): "
            "a system definition must be UTF-8: save it as UTF-8 in your editor (Save As, encoding UTF-8)") from None
    return text[1:] if text.startswith("\ufeff") else text
