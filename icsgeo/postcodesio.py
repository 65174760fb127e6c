"""icsgeo's answers in postcodes.io's shape, so a script written for postcodes.io works by changing a URL.

postcodes.io (https://postcodes.io) answers ``GET /postcodes/{postcode}`` with ``{"status": 200,
"result": {...}}``, an unknown or malformed postcode with ``{"status": 404, "error": "Postcode not
found" | "Invalid postcode"}``, and ``POST /postcodes`` (``{"postcodes": [...]}``) with ``{"status":
200, "result": [{"query": ..., "result": {...} | null}, ...]}``. :func:`postcodes_io_result` gives the
same keys from one icsgeo answer: the names at the top level, their GSS codes under ``codes``.

What icsgeo holds fills them honestly, and what it does not hold is ``null``, never a guess:

- ``ccg`` and ``codes.ccg``/``codes.ccg_id`` are the Sub-ICB Location (the CCGs' successor, as postcodes.io
  itself now fills them): its name, GSS code (E38) and ODS code; ``icb`` and ``codes.icb`` the system;
- ``admin_district`` (and ``codes.admin_district``, ``codes.lau2``) the local authority district,
  ``admin_ward`` the electoral ward, ``lsoa`` and ``msoa`` the 2021 areas' names;
- ``region`` is ONS's region, which icsgeo does not hold: ``null`` (the NHS region is in the ``icsgeo``
  extension); so are ``nhs_ha``, ``primary_care_trust``, ``european_electoral_region``,
  ``parliamentary_constituency``, ``parish``, ``admin_county``, ``ced``, ``nuts`` and ``pfa``.

Every result also carries an ``icsgeo`` key (which a postcodes.io client ignores) with what postcodes.io
has no key for: the neighbourhood, place, system and NHS region, the answer's status and reason, the
vintage and what it was made from.

>>> rec = {"query": "s12he", "postcode": "S1 2HE", "status": "ok", "reason": "live postcode",
...        "lad": {"code": "E08000039", "name": "Sheffield"}, "country": {"code": "E92000001", "name": "England"},
...        "location": {"easting": 435393, "northing": 387336, "lat": 53.381693, "lon": -1.469388, "quality": 1},
...        "vintage": "2026"}
>>> out = postcodes_io_result(rec)
>>> out["postcode"], out["outcode"], out["incode"], out["admin_district"], out["codes"]["lau2"], out["eastings"]
('S1 2HE', 'S1', '2HE', 'Sheffield', 'E08000039', 435393)
>>> postcodes_io_response(dict(rec, status="not_found", reason="not in the postcode files"))["error"]
'Postcode not found'
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

#: Statuses postcodes.io answers with a result (it holds Welsh and Scottish postcodes; terminated
#: postcodes are in its separate /terminated_postcodes, so here, as there, they are "not found").
_FOUND = {"ok", "outside_england", "outside_system"}
#: postcodes.io's keys that icsgeo holds nothing for.
_NULL_TOP = ("nhs_ha", "european_electoral_region", "primary_care_trust", "region", "parliamentary_constituency",
             "parish", "admin_county", "ced", "nuts", "pfa")
_NULL_CODES = ("admin_county", "parish", "parliamentary_constituency", "ced", "nuts", "pfa")


def _part(rec: Mapping[str, Any], group: str, key: str = "name") -> Any:
    part = rec.get(group)
    return part.get(key) if isinstance(part, Mapping) else None


def _extension(rec: Mapping[str, Any]) -> dict:
    return {
        "status": rec.get("status"), "reason": rec.get("reason"),
        **{g: rec.get(g) for g in ("neighbourhood", "local_neighbourhood", "place", "system", "region")},
        "vintage": rec.get("vintage"), "made_from": rec.get("made_from"),
    }


def postcodes_io_result(rec: Mapping[str, Any]) -> dict:
    """Reshape one icsgeo answer as a postcodes.io ``result`` object.

    The same keys as postcodes.io: the names at the top level, their GSS codes under ``codes``
    (``ccg`` is the Sub-ICB Location, ``icb`` the system, ``admin_district`` and ``lau2`` the local
    authority district). A key icsgeo holds nothing for is ``None``, never a guess (see the module's
    notes); icsgeo's own answer is under ``icsgeo``.

    Parameters
    ----------
    rec : mapping
        One answer: a record of :func:`icsgeo.to_records` or ``icsgeo where --json``.

    Returns
    -------
    dict
        ``postcode, quality, eastings, northings, country, longitude, latitude, lsoa, msoa, incode,
        outcode, admin_district, admin_ward, ccg, icb``, the keys held as ``None``, ``codes`` and
        ``icsgeo``.

    See Also
    --------
    postcodes_io_response : The envelope of one lookup.
    postcodes_io_bulk : The envelope of a bulk lookup.

    Examples
    --------
    >>> import icsgeo
    >>> rec = {"postcode": "S1 2HE", "status": "ok", "lad": {"code": "E08000039", "name": "Sheffield"},
    ...        "location": {"easting": 435393, "northing": 387336, "lat": 53.381693, "lon": -1.469388, "quality": 1}}
    >>> out = icsgeo.postcodes_io_result(rec)
    >>> out["outcode"], out["incode"], out["admin_district"], out["codes"]["lau2"], out["eastings"]
    ('S1', '2HE', 'Sheffield', 'E08000039', 435393)
    >>> out["region"] is None, out["icsgeo"]["status"]
    (True, 'ok')
    """
    postcode = rec.get("postcode") or None
    outcode, _, incode = (postcode or "").partition(" ")
    loc = rec.get("location") if isinstance(rec.get("location"), Mapping) else {}
    out: dict[str, Any] = {
        "postcode": postcode, "quality": loc.get("quality"), "eastings": loc.get("easting"), "northings": loc.get("northing"),
        "country": _part(rec, "country"), "longitude": loc.get("lon"), "latitude": loc.get("lat"),
        "lsoa": _part(rec, "lsoa"), "msoa": _part(rec, "msoa"), "incode": incode or None, "outcode": outcode or None,
        "admin_district": _part(rec, "lad"), "admin_ward": _part(rec, "ward"),
        "ccg": _part(rec, "sicbl"), "icb": _part(rec, "system"),
    }
    out.update(dict.fromkeys(_NULL_TOP))
    out["codes"] = {
        "admin_district": _part(rec, "lad", "code"), "admin_ward": _part(rec, "ward", "code"),
        "ccg": _part(rec, "sicbl", "code"), "ccg_id": _part(rec, "sicbl", "ods_code"),
        "lsoa": _part(rec, "lsoa", "code"), "msoa": _part(rec, "msoa", "code"), "lau2": _part(rec, "lad", "code"),
        "icb": _part(rec, "system", "code"), **dict.fromkeys(_NULL_CODES),
    }
    out["icsgeo"] = _extension(rec)
    return out


def postcodes_io_response(rec: Mapping[str, Any]) -> dict:
    """Wrap one icsgeo answer in postcodes.io's envelope for a single lookup.

    ``{"status": 200, "result": {...}}`` for an answer postcodes.io would find (``ok``,
    ``outside_england``, ``outside_system``), else ``{"status": 404, "error": "Invalid postcode" |
    "Postcode not found"}`` with the ``icsgeo`` extension saying why (a terminated postcode is "not
    found", as postcodes.io keeps those apart).

    Parameters
    ----------
    rec : mapping
        One answer: a record of :func:`icsgeo.to_records` or ``icsgeo where --json``.

    Returns
    -------
    dict
        The envelope.

    See Also
    --------
    postcodes_io_result : The ``result`` object alone.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.postcodes_io_response({"postcode": "S1 2HE", "status": "ok"})["status"]
    200
    >>> icsgeo.postcodes_io_response({"query": "junk", "status": "invalid", "reason": "malformed"})["error"]
    'Invalid postcode'
    >>> icsgeo.postcodes_io_response({"postcode": "S1 9ZZ", "status": "not_found"})["error"]
    'Postcode not found'
    """
    status = rec.get("status")
    if status in _FOUND:
        return {"status": 200, "result": postcodes_io_result(rec)}
    error = "Invalid postcode" if status == "invalid" else "Postcode not found"
    return {"status": 404, "error": error, "icsgeo": _extension(rec)}


def postcodes_io_bulk(records: Iterable[Mapping[str, Any]]) -> dict:
    """Wrap many icsgeo answers in postcodes.io's envelope for a bulk lookup.

    ``{"status": 200, "result": [{"query": ..., "result": {...} | None}, ...]}``, one entry per
    query, in order; ``result`` is ``None`` where postcodes.io would find nothing.

    Parameters
    ----------
    records : iterable of mapping
        Answers: records of :func:`icsgeo.to_records` or ``icsgeo where --json``.

    Returns
    -------
    dict
        The envelope.

    See Also
    --------
    postcodes_io_response : One lookup.

    Examples
    --------
    >>> import icsgeo
    >>> out = icsgeo.postcodes_io_bulk([{"query": "s12he", "postcode": "S1 2HE", "status": "ok"},
    ...                                 {"query": "junk", "status": "invalid"}])
    >>> out["status"], [r["query"] for r in out["result"]], out["result"][1]["result"]
    (200, ['s12he', 'junk'], None)
    >>> out["result"][0]["result"]["postcode"]
    'S1 2HE'
    """
    return {"status": 200, "result": [
        {"query": r.get("query"), "result": postcodes_io_result(r) if r.get("status") in _FOUND else None}
        for r in records]}
