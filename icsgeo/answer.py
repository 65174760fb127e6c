"""The answer schema, defined once: the JSON object of ``icsgeo where --json`` and the HTTP API, the
flat columns of a bulk output and of :func:`icsgeo.where`, and the CLI's labels all come from
:data:`GROUPS` and :data:`STATUSES` (the server builds its OpenAPI models from them too).

Light on purpose (no pandas): the single-lookup path builds answers from Arrow rows.

>>> [g.name for g in GROUPS]
['lsoa', 'local_neighbourhood', 'neighbourhood', 'place', 'system', 'region', 'sicbl', 'lad', 'ward', 'msoa', 'country', 'location']
>>> ANSWER_COLUMNS[:5]
['status', 'reason', 'postcode', 'lsoa_code', 'lsoa_name']
>>> nest({"status": "invalid", "query": "junk"})["lsoa"] is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

__all__ = ["Field", "Group", "GROUPS", "STATUSES", "Status", "REASON", "REASONS", "ANSWER_COLUMNS", "ANSWER_TYPES", "MADE_FROM",
           "CLI_ORDER", "arrow_type", "not_found_reason", "nest", "to_records"]


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

#: What ``reason`` says beside the status, in plain words an analyst can filter on: ``live postcode``
#: (ok); ``blank``, ``not text``, ``too long``, ``NHS pseudo-postcode (ZZ99: no fixed abode, not
#: known or abroad)`` or ``malformed`` (invalid); ``not in the postcode files of YYYY-MM`` or ``in the
#: postcode file without a grid reference`` (not_found); ``terminated postcode (its location may be a
#: sorting office)``; ``Wales``, ``Scotland``, ``Northern Ireland``, ``Isle of Man`` or ``Channel
#: Islands`` (outside_england: the country it is in); ``outside the system asked for``. Points:
#: ``point in England``, ``not a number``, ``outside Great Britain's grid`` or the country (``outside
#: England and Wales`` where no LSOA holds it).
REASON = ("why the status is what it is: live postcode; blank, not text, too long, NHS pseudo-postcode (ZZ99) or "
          "malformed; not in the postcode files of a date, or without a grid reference; terminated; the country "
          "outside England (Wales, Scotland, Northern Ireland, Isle of Man, Channel Islands); outside the system asked for")

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
        Field("runner_up_code", "neighbourhood_runner_up_code", description="the PCN with the next largest share (Uxxxxx)"),
        Field("runner_up_name", "neighbourhood_runner_up_name"),
        Field("runner_up_share", "neighbourhood_runner_up_share", float, "the runner-up PCN's share, as confidence is the winner's"),
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
    Group("region", "NHS region", (
        Field("code", "region_code", description="NHS England region GSS code (E40…)"),
        Field("ods_code", "region_ods_code", description="NHS ODS code (Y63…)"),
        Field("name", "region_name"),
    ), "the NHS England region of the LSOA's national system (the vintage's lookup or practice map)"),
    Group("sicbl", "Sub-ICB", (
        Field("code", "sicbl_code", description="GSS code (E38…)"),
        Field("ods_code", "sicbl_ods_code", description="NHS ODS code (03N…)"),
        Field("name", "sicbl_name"),
    ), "the Sub-ICB Location (ONS lookup of LSOA 2021)"),
    Group("lad", "LAD", (
        Field("code", "lad_code", description="local authority district GSS code: the postcode's official one, else its LSOA's"),
        Field("name", "lad_name"),
    ), "the local authority district"),
    Group("ward", "ward", (
        Field("code", "ward_code", description="electoral ward GSS code (E05…) as the postcode file gives it"),
        Field("name", "ward_name"),
    ), "the postcode's electoral ward, as the postcode file assigns it (null for points and for postcodes "
       "known only to a file without wards)"),
    Group("msoa", "MSOA", (
        Field("code", "msoa_code", description="MSOA 2021 GSS code (E02…)"),
        Field("name", "msoa_name", description="ONS's name: the LSOA's less its final letter (Sheffield 073)"),
    ), "the Middle layer Super Output Area (2021) holding the LSOA"),
    Group("country", "country", (
        Field("code", "country_code", description="E92000001 England, W92000004 Wales, S92000003 Scotland, "
                                                  "N92000002 Northern Ireland, L93000001 Channel Islands, M83000003 Isle of Man"),
        Field("name", "country_name"),
    ), "the country: the postcode file's where it gives one, else the LSOA's (England, Wales), else the "
       "postcode area's (BT, GY, JE, IM); Scotland for the other Great Britain postcodes"),
    Group("location", "location", (
        Field("easting", "easting", int, "EPSG:27700, to the metre"),
        Field("northing", "northing", int, "EPSG:27700, to the metre"),
        Field("lat", "lat", float, "WGS84"),
        Field("lon", "lon", float, "WGS84"),
        Field("quality", "positional_quality", int,
              "the grid reference's positional quality on the ONS scale (1 within the building of the matched address, "
              "2 by visual inspection, 3 within 50 m, 4 postcode unit mean, 5 imputed, 6 sector mean, 8 terminated "
              "before Gridlink, 9 none); Code-Point's 10-90 read as 1-9; null for points and files without it"),
    ), "where the postcode or point is"),
)

#: The reasons of the statuses whose reason does not depend on the row.
REASONS = {
    "ok": "live postcode",
    "terminated": "terminated postcode (its location may be a sorting office)",
    "outside_system": "outside the system asked for",
    "no_location": "in the postcode file without a grid reference",
    "point": "point in England",
    "outside_wales": "outside England and Wales",
    "not_a_number": "not a number",
    "off_grid": "outside Great Britain's grid",
}


def not_found_reason(made_from: str | None) -> str:
    """The reason of a well-formed postcode no file knows, naming the postcode files' dates.

    >>> not_found_reason("postcodes 2025-10; PCNs: practice map 2026-08; registrations 2025-10")
    'not in the postcode files of 2025-10 (new since, mistyped, or retired before)'
    """
    import re

    got = re.search(r"postcodes ([^;]+)", made_from or "")
    when = f" of {got.group(1)}" if got and got.group(1) != "none" else ""
    return f"not in the postcode files{when} (new since, mistyped, or retired before)"


#: Flat answer columns, in order (bulk outputs, :func:`icsgeo.where`, the prebuilt index).
ANSWER_COLUMNS: list[str] = ["status", "reason", "postcode", *(f.column for g in GROUPS for f in g.fields), "vintage", "made_from"]

#: Each answer column's type: ``str``, ``float`` or ``int`` (whole metres, positional quality).
ANSWER_TYPES: dict[str, type] = {c: str for c in ANSWER_COLUMNS} | {f.column: f.type for g in GROUPS for f in g.fields}


def arrow_type(column: str):
    """The Arrow type of an answer column (bulk outputs, the index product): UTF-8 text, float64 or
    int32, whatever a batch holds."""
    import pyarrow as pa

    return {str: pa.string(), float: pa.float64(), int: pa.int32()}[ANSWER_TYPES[column]]

#: What ``made_from`` says: the dates of the releases an answer was made from.
MADE_FROM = ("the releases the answer was made from, by date (YYYY-MM): the postcode file, the practice map "
             "grouping PCNs (or the PCN history as at a date) and the registrations")

#: The order the CLI prints the parts in (most local first; the location and vintage follow).
CLI_ORDER = ("local_neighbourhood", "neighbourhood", "place", "system", "region", "sicbl", "lad", "ward", "lsoa", "msoa", "country")

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
    rec: dict[str, Any] = {"query": r.get("query"), "postcode": r.get("postcode"), "status": r.get("status"),
                           "reason": r.get("reason")}
    for g in GROUPS:
        vals = {f.key: r.get(f.column) for f in g.fields}
        rec[g.name] = vals if vals.get(g.fields[0].key) is not None else None
    nb = rec["neighbourhood"]
    if nb is not None:
        for k in ("confidence", "runner_up_share"):
            if nb[k] is not None:
                nb[k] = round(float(nb[k]), 4)
    rec["vintage"] = r.get("vintage")
    rec["made_from"] = r.get("made_from")
    return rec


def to_records(frame) -> list[dict]:
    """Nest the flat answer rows of a DataFrame into the JSON objects of ``icsgeo where --json``.

    Missing values become ``None``; a part (``lsoa``, ``neighbourhood``, ``place``...) is ``None`` as
    a whole when its first field is missing; confidences and shares are rounded to 4 decimals.

    Parameters
    ----------
    frame : pandas.DataFrame
        Flat answer rows: :data:`ANSWER_COLUMNS` (any missing column is taken as missing), optionally
        ``query``; e.g. what :func:`icsgeo.where` returns.

    Returns
    -------
    list of dict
        One object per row, in order: ``query, postcode, status, reason``, a part per tier,
        ``vintage``, ``made_from``.

    See Also
    --------
    icsgeo.lookup : The same objects, straight from the index.

    Examples
    --------
    >>> import pandas as pd
    >>> import icsgeo
    >>> rows = pd.DataFrame({"query": ["junk"], "status": ["invalid"], "reason": ["malformed"],
    ...                      "lsoa_code": [float("nan")]})
    >>> [rec] = icsgeo.to_records(rows)
    >>> rec["status"], rec["reason"], rec["lsoa"], rec["place"]
    ('invalid', 'malformed', None, None)
    >>> list(rec)[:6]
    ['query', 'postcode', 'status', 'reason', 'lsoa', 'local_neighbourhood']
    >>> icsgeo.to_records(icsgeo.where(["S1 2HE"]))[0]["place"]                 # doctest: +SKIP
    {'code': 'E38000146', 'name': 'Sheffield'}
    """
    f = frame.astype(object).where(frame.notna(), None)
    return [nest(r) for r in f.to_dict("records")]
