"""The answer schema, defined once: the JSON object of ``icsgeo where --json`` and the HTTP API, the
flat columns of a bulk output and of :func:`icsgeo.where`, and the CLI's labels all come from
:data:`GROUPS` and :data:`STATUSES` (the server builds its OpenAPI models from them too).

Light on purpose (no pandas): the single-lookup path builds answers from Arrow rows.

>>> [g.name for g in GROUPS]
['lsoa', 'local_neighbourhood', 'neighbourhood', 'place', 'system', 'sicbl', 'lad', 'location']
>>> ANSWER_COLUMNS[:4]
['status', 'postcode', 'lsoa_code', 'lsoa_name']
>>> nest({"status": "invalid", "query": "junk"})["lsoa"] is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

__all__ = ["Field", "Group", "GROUPS", "STATUSES", "Status", "ANSWER_COLUMNS", "MADE_FROM", "CLI_ORDER", "nest", "to_records"]


@dataclass(frozen=True)
class Field:
    """One value of an answer part: its key in the JSON object, its flat column, type and meaning."""

    key: str
    column: str
    type: type = str
    description: str = ""


@dataclass(frozen=True)
class Group:
    """One part of an answer (``lsoa``, ``neighbourhood``…): null as a whole when its first field is."""

    name: str
    label: str  # how the CLI names it
    fields: tuple[Field, ...]
    description: str = ""


#: What a row's answer is. ``ok``: located and answered; ``invalid``: not a postcode (or a point out
#: of range); ``not_found``: well-formed but unknown; ``terminated``: known only to NSPL, answered, but a
#: terminated postcode may point at a sorting office; ``outside_england``; ``outside_system``: not in
#: the system asked for.
STATUSES = ("ok", "invalid", "not_found", "terminated", "outside_england", "outside_system")
Status = Literal["ok", "invalid", "not_found", "terminated", "outside_england", "outside_system"]

GROUPS: tuple[Group, ...] = (
    Group("lsoa", "LSOA", (
        Field("code", "lsoa_code", description="LSOA 2021 GSS code (E01…)"),
        Field("name", "lsoa_name"),
        Field("method", "lsoa_method", description="directory (a postcode directory's official LSOA: ONSPD, NSPL, NHSPD), "
                                                        "point in polygon, nearest polygon or nearest in official LAD"),
    ), "the Lower layer Super Output Area (2021) holding the postcode or point"),
    Group("local_neighbourhood", "neighbourhood (local)", (
        Field("code", "local_neighbourhood_code", description="the unit's code in the system's own definition"),
        Field("name", "local_neighbourhood_name"),
        Field("method", "local_neighbourhood_method",
              description="how the definition gives it: lookup file, ward group, LSOA list, PCN or practice group, "
                          "polygon file (population-weighted centroid, or point in polygon for postcodes and points)"),
    ), "the neighbourhood as the system's own definition draws it (null without one: only custom systems "
       "with neighbourhoods have them)"),
    Group("neighbourhood", "neighbourhood (PCN)", (
        Field("code", "neighbourhood_code", description="PCN ODS code (Uxxxxx)"),
        Field("name", "neighbourhood_name"),
        Field("method", "neighbourhood_method",
              description="registrations or modelled: footprints are derived, never official"),
        Field("confidence", "neighbourhood_confidence", float,
              "the winning PCN's share of the LSOA's registered patients (or of its modelled flow)"),
    ), "the PCN neighbourhood: the Primary Care Network footprint holding the LSOA (derived, never official)"),
    Group("place", "place", (
        Field("code", "place_code", description="GSS code of the place (a Sub-ICB Location, CCG or a definition's place)"),
        Field("name", "place_name", description="its everyday name where it is a local authority"),
    ), "the place (usually a local authority or a Sub-ICB Location)"),
    Group("system", "system", (
        Field("code", "system_code", description="GSS code (E54…)"),
        Field("ods_code", "system_ods_code", description="NHS ODS code (QF7, D7T5G…)"),
        Field("name", "system_name"),
    ), "the system (Integrated Care Board; STP in 2021, or a custom definition)"),
    Group("sicbl", "Sub-ICB", (
        Field("code", "sicbl_code", description="GSS code (E38…)"),
        Field("ods_code", "sicbl_ods_code", description="NHS ODS code (03N…)"),
        Field("name", "sicbl_name"),
    ), "the Sub-ICB Location (ONS lookup of LSOA 2021)"),
    Group("lad", "LAD", (
        Field("code", "lad_code", description="local authority district GSS code: the postcode's official one, else its LSOA's"),
        Field("name", "lad_name"),
    ), "the local authority district"),
    Group("location", "location", (
        Field("easting", "easting", float, "EPSG:27700"),
        Field("northing", "northing", float, "EPSG:27700"),
        Field("lat", "lat", float, "WGS84"),
        Field("lon", "lon", float, "WGS84"),
    ), "where the postcode or point is"),
)

#: Flat answer columns, in order (bulk outputs, :func:`icsgeo.where`, the prebuilt index).
ANSWER_COLUMNS: list[str] = ["status", "postcode", *(f.column for g in GROUPS for f in g.fields), "vintage", "made_from"]

#: What ``made_from`` says: the dates of the releases an answer was made from.
MADE_FROM = ("the releases the answer was made from, by date (YYYY-MM): the postcode file, the practice map "
             "grouping PCNs (or the PCN history as at a date) and the registrations")

#: The order the CLI prints the parts in (most local first; the location and vintage follow).
CLI_ORDER = ("local_neighbourhood", "neighbourhood", "place", "system", "sicbl", "lad", "lsoa")

_FLOATS = {f.column for g in GROUPS for f in g.fields if f.type is float}


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        v = v.item()
        if isinstance(v, float) and math.isnan(v):
            return None
    return None if str(v) in ("<NA>", "NaT") else v


def nest(row: Mapping[str, Any]) -> dict:
    """One flat answer row (:data:`ANSWER_COLUMNS`, optionally ``query``) as the nested JSON object."""
    r = {k: _clean(v) for k, v in row.items()}
    rec: dict[str, Any] = {"query": r.get("query"), "postcode": r.get("postcode"), "status": r.get("status")}
    for g in GROUPS:
        vals = {f.key: r.get(f.column) for f in g.fields}
        rec[g.name] = vals if vals.get(g.fields[0].key) is not None else None
    nb = rec["neighbourhood"]
    if nb is not None and nb["confidence"] is not None:
        nb["confidence"] = round(float(nb["confidence"]), 4)
    rec["vintage"] = r.get("vintage")
    rec["made_from"] = r.get("made_from")
    return rec


def to_records(frame) -> list[dict]:
    """Nest the flat answer rows of a DataFrame into the JSON objects of ``icsgeo where --json``."""
    f = frame.astype(object).where(frame.notna(), None)
    return [nest(r) for r in f.to_dict("records")]
