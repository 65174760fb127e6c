"""The JSON answer object of ``icsgeo where --json`` (and the HTTP API), built from a flat row.

Light on purpose (no pandas): the single-lookup path builds answers from Arrow rows.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

#: Flat answer columns, in order. Nested by prefix into the JSON object.
ANSWER_COLUMNS = [
    "status", "postcode",
    "lsoa_code", "lsoa_name", "lsoa_method",
    "neighbourhood_code", "neighbourhood_name", "neighbourhood_method", "neighbourhood_confidence",
    "place_code", "place_name",
    "system_code", "system_ods_code", "system_name",
    "sicbl_code", "sicbl_ods_code", "sicbl_name",
    "lad_code", "lad_name",
    "easting", "northing", "lat", "lon",
    "vintage",
]  # fmt: skip

STATUSES = ("ok", "invalid", "not_found", "terminated", "outside_england", "outside_system")

GROUPS: dict[str, list[tuple[str, str]]] = {
    "lsoa": [("code", "lsoa_code"), ("name", "lsoa_name"), ("method", "lsoa_method")],
    "neighbourhood": [("code", "neighbourhood_code"), ("name", "neighbourhood_name"),
                      ("method", "neighbourhood_method"), ("confidence", "neighbourhood_confidence")],
    "place": [("code", "place_code"), ("name", "place_name")],
    "system": [("code", "system_code"), ("ods_code", "system_ods_code"), ("name", "system_name")],
    "sicbl": [("code", "sicbl_code"), ("ods_code", "sicbl_ods_code"), ("name", "sicbl_name")],
    "lad": [("code", "lad_code"), ("name", "lad_name")],
    "location": [("easting", "easting"), ("northing", "northing"), ("lat", "lat"), ("lon", "lon")],
}


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
    """One flat answer row (ANSWER_COLUMNS, optionally ``query``) as the nested JSON object."""
    r = {k: _clean(v) for k, v in row.items()}
    rec: dict[str, Any] = {"query": r.get("query"), "postcode": r.get("postcode"), "status": r.get("status")}
    for name, fields in GROUPS.items():
        vals = {k: r.get(col) for k, col in fields}
        rec[name] = vals if vals.get(fields[0][0]) is not None else None
    nb = rec["neighbourhood"]
    if nb is not None and nb["confidence"] is not None:
        nb["confidence"] = round(float(nb["confidence"]), 4)
    rec["vintage"] = r.get("vintage")
    return rec
