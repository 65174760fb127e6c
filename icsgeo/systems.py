"""Custom system definitions (YAML in ``boundaries/systems/``): a system and its places, as data.

A place is given by any of: ``lad`` (local authority district codes), ``ctyua`` (county / unitary
authority codes), ``sicbl`` (Sub-ICB Location GSS or ODS codes), ``ccg`` (2021 CCG GSS or ODS codes)
or ``lsoa`` (LSOA 2021 codes). Files are loaded with ``yaml.safe_load`` and validated; ids are checked
against the known definitions before any file is touched, so a request never names a path.

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

__all__ = ["PlaceDefinition", "SystemDefinition", "system_definition", "system_definitions", "parse_system_definition"]

UNIT_TYPES = ("lad", "ctyua", "sicbl", "ccg", "lsoa")
_CODE = {
    "lad": re.compile(r"^E0[6789]\d{6}$"),
    "ctyua": re.compile(r"^E(06|08|09|10|11)\d{6}$"),
    "sicbl": re.compile(r"^(E38\d{6}|[0-9A-Z]{3,5})$"),
    "ccg": re.compile(r"^(E38\d{6}|[0-9A-Z]{3})$"),
    "lsoa": re.compile(r"^E01\d{6}$"),
}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,80}$")


@dataclass(frozen=True)
class PlaceDefinition:
    name: str
    code: str
    units: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class SystemDefinition:
    id: str
    name: str
    code: str | None
    ods_code: str | None
    vintage: str
    places: tuple[PlaceDefinition, ...]
    source: str = ""
    path: str | None = field(default=None, compare=False)
    #: what maps and reports call it (default: ``name``), e.g. "South Yorkshire and Bassetlaw (2021) ICS"
    title: str | None = None


def parse_system_definition(raw: Any, *, origin: str = "<memory>") -> SystemDefinition:
    """Validate a parsed YAML mapping; every problem is a :class:`DefinitionError` naming ``origin``."""

    def fail(msg: str) -> DefinitionError:
        return DefinitionError(f"{origin}: {msg}")

    if not isinstance(raw, Mapping):
        raise fail("a system definition must be a mapping with id, name and places")
    unknown = set(raw) - {"id", "name", "title", "code", "ods_code", "vintage", "source", "places", "description"}
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}; allowed: id, name, title, code, ods_code, vintage, source, places")
    id_ = raw.get("id")
    if not isinstance(id_, str) or not _ID.match(id_):
        raise fail(f"id {id_!r} must be lower-case letters, digits and hyphens")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name is required")
    title = raw.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise fail("title, when given, must be a non-empty string")
    places_raw = raw.get("places")
    if not isinstance(places_raw, list) or not places_raw:
        raise fail("places must be a non-empty list")
    places, seen_names, seen_units = [], set(), {}
    for i, p in enumerate(places_raw):
        if not isinstance(p, Mapping) or not isinstance(p.get("name"), str) or not p["name"].strip():
            raise fail(f"place {i + 1} needs a name")
        pname = p["name"].strip()
        if pname in seen_names:
            raise fail(f"place name {pname!r} is used twice")
        seen_names.add(pname)
        bad_keys = set(p) - {"name", "code", *UNIT_TYPES}
        if bad_keys:
            raise fail(f"place {pname!r} has unknown keys {sorted(bad_keys)}; a place is given by {', '.join(UNIT_TYPES)}")
        units: dict[str, tuple[str, ...]] = {}
        for t in UNIT_TYPES:
            if t in p:
                codes = p[t]
                if isinstance(codes, str):
                    codes = [codes]
                if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
                    raise fail(f"place {pname!r}: {t} must be a list of codes")
                codes = tuple(c.strip().upper() for c in codes)
                bad = [c for c in codes if not _CODE[t].match(c)]
                if bad:
                    raise fail(f"place {pname!r}: {bad} are not {t} codes")
                for c in codes:
                    if (t, c) in seen_units:
                        raise fail(f"{t} {c} is in both {seen_units[(t, c)]!r} and {pname!r}")
                    seen_units[(t, c)] = pname
                units[t] = codes
        if not units:
            raise fail(f"place {pname!r} has no units: give one of {', '.join(UNIT_TYPES)}")
        code = str(p.get("code") or _place_code(units, id_, i))
        places.append(PlaceDefinition(pname, code, units))
    vintage = str(raw.get("vintage", "2023"))
    return SystemDefinition(
        id=id_, name=name.strip(), code=raw.get("code"), ods_code=raw.get("ods_code"), vintage=vintage,
        places=tuple(places), source=str(raw.get("source", "")), path=origin, title=title.strip() if title else None,
    )


def _place_code(units: Mapping[str, tuple[str, ...]], system_id: str, index: int) -> str:
    for t in ("lad", "ctyua", "ccg", "sicbl"):
        if t in units and len(units[t]) == 1 and len(units) == 1:
            return units[t][0]
    return f"{system_id}:{index + 1}"


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
        d = parse_system_definition(raw, origin=path.name)
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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{path}: cannot read a YAML system definition: {exc}") from exc
    return parse_system_definition(raw, origin=str(path))
