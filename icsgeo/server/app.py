"""``icsgeo serve``: the public API over HTTP, for teams that cannot send postcodes to a third party.

Thin, like the CLI: every answer comes from :func:`icsgeo.postcode_index` (national postcode
answers, from the vintage's index in memory: a single GET is answered on the event loop in about
10 µs), :func:`icsgeo.where`, :func:`icsgeo.assign`, :func:`icsgeo.to_records`,
:func:`icsgeo.geography` (and its ``system()``), and is the same JSON object as ``icsgeo where --json``. FastAPI and uvicorn are the ``server`` extra
(``pip install "icsgeo[server]"``).

- ``GET /postcodes/{postcode}``: 200 with the answer (``ok``, ``terminated``, ``outside_*``), 422 for a
  string that is not a postcode, 404 for a well-formed postcode nobody knows.
- ``POST /postcodes`` with ``{"postcodes": [...]}`` (at most :data:`MAX_BULK`): every item answered, in
  order; a bad item is an answer with ``status: invalid``, never an error for the whole request.
- ``GET /points?lat=&lon=`` or ``?easting=&northing=``; ``GET /systems``, ``/systems/{code}/places``,
  ``/systems/{code}/neighbourhoods`` (GeoJSON, WGS84); ``GET /health``.
- ``vintage`` and ``system`` are checked against the catalogue's vintages and the shipped definition
  ids before anything runs: no request names a file.
- A data file that is missing, fails its hash check or is damaged (a zip member with a bad CRC under
  ``ICSGEO_VERIFY=warn``) answers 503 naming the dataset and the file (relative to the data folder),
  and ``/health`` lists it as failing; a bug answers 500 with a Problem. No body and no log line shows
  an absolute path or a postcode (uvicorn's access log is off; errors are logged by class, dataset and
  code location, without their message).
- Only the names the server is bound to are answered (127.0.0.1, localhost, ::1 and ``--host``; with
  ``--host 0.0.0.0`` also the machine's names and addresses): any other ``Host`` is a 400 saying how to
  widen the list (``--allow-host NAME``, ``ICSGEO_ALLOWED_HOSTS``), so that a web page cannot reach the
  server through a name it controls (DNS rebinding).
- :func:`serve` runs uvicorn with :class:`GuardedH11Protocol`: a deadline for each request's headers and
  body, idle keep-alive connections closed, and a cap on open connections sized from the process's
  file-descriptor limit, beyond which the connections that have waited longest without sending a whole
  request are closed first, so that half-sent requests can neither exhaust the descriptors nor keep a
  normal request from being answered (see :class:`Limits`).
"""

# No `from __future__ import annotations`: FastAPI resolves the parameter types built in create_app().
import dataclasses
import datetime
import functools
import ipaddress
import itertools
import json
import logging
import os
import pathlib
import random
import re
import socket
import time
import traceback
from contextlib import asynccontextmanager
from typing import Annotated, Any, Iterable, Literal, Optional

import pydantic
from fastapi import Body, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import DataFileError, DefinitionError, IcsgeoError, MissingDependencyError, UnknownDatasetError
from .batching import DAMAGED, Coalescer
from .health import State, safe_text
from .models import (MAX_BULK, Answer, FeatureCollection, Health, PlaceRow, PostcodesRequest, PostcodesResponse,
                     Problem, SystemRow)

__all__ = ["create_app", "serve", "allowed_hosts", "connection_limit", "Limits", "GuardedH11Protocol", "MAX_BULK",
           "MAX_BODY_BYTES", "LOCAL_NAMES"]

log = logging.getLogger("icsgeo")

#: Largest request body accepted (more: 413). 10,000 postcodes take about 150 kB.
MAX_BODY_BYTES = 16 * 1024 * 1024

_SURROGATES = re.compile("[\ud800-\udfff]")


# ------------------------------------------------------------------ plumbing

class _JSON(JSONResponse):
    """Compact UTF-8 JSON. What a request body may smuggle into an echoed query is made valid JSON:
    a lone surrogate is written as '?', a number too large for a double (1e400 -> inf) as null."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:  # inf or nan inside an echoed query
            content = json.loads(json.dumps(content), parse_constant=lambda _: None)
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def _problem(code: int, detail: str, status: str, *, headers: Optional[dict] = None, **extra: Any) -> _JSON:
    return _JSON({"detail": detail, "status": status, **extra}, status_code=code, headers=headers)


def _shown(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = _SURROGATES.sub("\ufffd", text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _clean_query(value: Any) -> Any:
    """Strings with lone surrogates (from a JSON body) cannot be UTF-8: replace those code points."""
    if isinstance(value, str) and _SURROGATES.search(value):
        return _SURROGATES.sub("\ufffd", value)
    return value


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413), by Content-Length or as they stream in."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_big = f"the request body is larger than {self.limit // (1024 * 1024)} MiB; send at most {MAX_BULK:,} postcodes per request"
        try:
            declared = int(length) if length is not None else 0
        except ValueError:
            declared = 0
        if declared > self.limit:
            return await _problem(413, too_big, "too_large")(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, too_big)
            return message

        return await self.app(scope, counted, send)


#: The names every server answers to: this machine's own.
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARDS = ("0.0.0.0", "::", "")


def _host_name(value: str) -> str:
    """The name in a ``Host`` header (or a name given to ``--allow-host``): lower case, without the
    port, the IPv6 brackets or a final dot."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        return v[1:end] if end > 0 else v
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_hosts(host: str = "127.0.0.1", extra: Iterable[str] = ()) -> tuple[Optional[frozenset], bool]:
    """(the host names a server bound to ``host`` answers to, whether any IP address is one of them).

    Always :data:`LOCAL_NAMES` and ``host``; ``extra`` (``--allow-host``) and the names in
    ``ICSGEO_ALLOWED_HOSTS`` (separated by commas or spaces) widen the list, and ``*`` among them lets
    any name through (``(None, True)``). Bound to every address (``0.0.0.0``, ``::``), the machine's own
    names are added and any IP address is accepted: an address names no one else's site, so no web
    page can rebind it."""
    given = [*re.split(r"[,\s]+", os.environ.get("ICSGEO_ALLOWED_HOSTS", "")), *extra]
    given = [g.strip() for g in given if g and g.strip()]
    if "*" in given:
        return None, True
    names = {*LOCAL_NAMES, *(_host_name(g) for g in given)}
    any_ip = host.strip() in _WILDCARDS
    if any_ip:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    else:
        names.add(_host_name(host))
    return frozenset(n for n in names if n), any_ip


class _Front:
    """The outermost layer: refuses a ``Host`` the server does not answer to (400), and turns an
    exception nothing else handled (a bug) into a 500 Problem, logged by class, route and code
    location only: its message may quote the query, and a traceback may too."""

    def __init__(self, app, hosts: Optional[tuple] = None):
        self.app = app
        self.names, self.any_ip = hosts if hosts is not None else (None, True)

    def allows(self, raw: Optional[str]) -> bool:
        if self.names is None:
            return True
        if raw is None:
            return False
        name = _host_name(raw)
        return name in self.names or (self.any_ip and _is_ip(name))

    def refuse(self, raw: Optional[str]) -> _JSON:
        shown = _shown(raw) if raw else "(none)"
        return _problem(
            400, f"this server does not answer to the host name {shown}: it answers to {', '.join(sorted(self.names))}"
                 f"{' and any IP address' if self.any_ip else ''} only, so that a web page elsewhere cannot reach it "
                 "through a name it controls (DNS rebinding). To answer to another name, start icsgeo serve with "
                 "--allow-host NAME (repeatable), or set ICSGEO_ALLOWED_HOSTS=NAME,NAME ('*' allows any name)",
            "bad_host")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.names is not None:
            raw = next((v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"host"), None)
            if not self.allows(raw):
                return await self.refuse(raw)(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - a bug: say so, without the query
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            frames = traceback.extract_tb(exc.__traceback__)[-3:]
            where = " <- ".join(f"{pathlib.PurePath(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(frames))
            log.error("icsgeo serve: unexpected %s on %s %s (at %s); please report it", type(exc).__name__,
                      scope.get("method"), route, where or "?")
            if not started:
                await _problem(500, f"internal error ({type(exc).__name__}); please report it", "error")(scope, receive, send)


#: The /docs page's files (``assets/swagger-ui``, from the npm package swagger-ui-dist; see its manifest.json).
_DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png",
                "LICENSE": "text/plain", "NOTICE": "text/plain", "swagger-ui-bundle.js.LICENSE.txt": "text/plain"}


@functools.lru_cache(maxsize=None)
def _docs_asset(name: str) -> bytes:
    return (pathlib.Path(__file__).parent / "assets" / "swagger-ui" / name).read_bytes()


def _frame_records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", force_ascii=False))


# ------------------------------------------------------------------ the application

def create_app(vintage: str | int | None = None, *, warm: bool = True, hosts: Optional[tuple] = None) -> FastAPI:
    """The FastAPI application. ``vintage``: the default vintage (the catalogue's latest when None).
    ``warm``: load the default vintage at startup (before the first request is accepted). ``hosts``:
    what :func:`allowed_hosts` gives, the ``Host`` names answered (None: any, as for an application
    mounted behind a proxy that checks them; :func:`serve` always passes them)."""
    import anyio
    import icsgeo

    cat = icsgeo.catalogue()
    vintages = tuple(sorted(cat.vintages))
    default = cat.vintage(None if vintage is None else str(vintage)).key
    definitions = tuple(sorted(icsgeo.system_definitions()))
    state = State(default)
    state.ready = not warm

    def _v(vintage, system, as_at=None):
        """The request's vintage; without one, a custom system's own vintage (as `icsgeo where --system`) or the
        vintage in force on ``as_at``, else the default."""
        return vintage or (None if system or as_at else default)

    def held(v: str):
        """The vintage's index in memory (any thread): held by the server and answered from inline,
        asked for again through icsgeo.postcode_index() every RECHECK_SECONDS (a rebuilt index is
        picked up). icsgeo keeps the three latest vintages loaded, so alternating them reloads nothing."""
        index = state.held_index(v)
        if index is None:
            index = icsgeo.postcode_index(v)
            state.hold(v, index)
        return index

    limiters: list = []

    def heavy():
        """The threads answering batches, POSTs and points share one limiter of a core less than the
        machine has (at least one): the event loop, answering single GETs and accepting connections,
        then competes for the interpreter with that many threads, not with forty (a normal GET stays
        fast while POSTs and points run). Made on first use, inside the event loop."""
        if not limiters:
            limiters.append(anyio.CapacityLimiter(HEAVY_THREADS))
        return limiters[0]

    def answer_postcodes(key, queries):
        _, v, system, as_at = key
        if system is None and as_at is None:  # national answers: the vintage's index in memory
            return held(v).answers(queries)
        return icsgeo.to_records(icsgeo.where(queries, vintage=v, system=system, as_at=as_at))

    def answer_points(key, pairs):
        kind, v, system, as_at = key
        a, b = [p[0] for p in pairs], [p[1] for p in pairs]
        answers = icsgeo.assign(**({"lat": a, "lon": b} if kind == "latlon" else {"easting": a, "northing": b}), vintage=v, system=system, as_at=as_at)
        answers.insert(0, "query", [f"{x},{y}" for x, y in pairs])
        if system is None and as_at is None:
            state.settle(("points", v))  # the vintage's polygons and tiers, loaded by the first call
        return icsgeo.to_records(answers)

    # National postcode batches (the held index, rechecked each second: microseconds a query) never
    # queue behind the heavy work; a custom system's or a date's (icsgeo.where) and points do.
    postcode_batches = Coalescer(answer_postcodes, limiter=lambda key: None if key[2] is None and key[3] is None else heavy())
    point_batches = Coalescer(answer_points, limiter=lambda key: heavy())
    state.batches = (postcode_batches, point_batches)

    VintageParam = Annotated[
        Optional[Literal[vintages]],  # type: ignore[valid-type]
        Query(description=f"geography vintage (default {default})"),
    ]
    AsAtParam = Annotated[
        Optional[datetime.date],
        Query(description="a day (YYYY-MM-DD): the geography in force then, and PCNs as their practices were grouped then"),
    ]

    def _day(as_at):
        return None if as_at is None else as_at.isoformat()

    SystemParam = Annotated[
        Optional[Literal[definitions]],  # type: ignore[valid-type]
        Query(description="a custom system definition id: answers outside it are outside_system"),
    ]

    PostcodeQuery = pydantic.create_model(
        "PostcodeQuery", vintage=(VintageParam, None), system=(SystemParam, None), as_at=(AsAtParam, None))
    query_schema = PostcodeQuery.model_json_schema()
    query_parameters = [
        {"name": name, "in": "query", "required": False, "description": query_schema["properties"][name].get("description"),
         "schema": {k: v for k, v in query_schema["properties"][name].items() if k != "description"}}
        for name in ("vintage", "system", "as_at")
    ]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:
            await anyio.to_thread.run_sync(state.warm)
        yield

    app = FastAPI(
        title="icsgeo",
        version=__version__,
        summary="England's integrated-care geography, offline: postcode or point → neighbourhood, place, system.",
        description="The same answers as `icsgeo where --json`, served locally so postcodes never leave your network.",
        default_response_class=_JSON,
        lifespan=lifespan,
        docs_url=None,  # served below from the wheel's own copy of Swagger UI, not a CDN
        redoc_url=None,
    )
    app.state.icsgeo = state
    app.add_middleware(_BodyLimit)
    app.add_middleware(_Front, hosts=hosts)  # added last: the outermost

    # -------------------------------------------------------------- errors: always a Problem, never a 500
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        parts = []
        for e in errors[:5]:
            loc = e["loc"]
            if e["type"] == "json_invalid":
                parts.append("the request body is not valid JSON; send {\"postcodes\": [\"S1 2HE\", ...]}")
            elif loc == ["body"]:
                parts.append(f"the request body must be a JSON object {{\"postcodes\": [...]}} ({e['msg']})")
            elif loc[:1] == ["query"] and len(loc) > 1:
                parts.append(f"query parameter {loc[1]!r}: {e['msg']}")
            elif loc[:1] == ["path"] and len(loc) > 1:
                parts.append(f"path parameter {loc[1]!r}: {e['msg']}")
            else:
                parts.append(f"{'.'.join(loc[1:]) or 'request'}: {e['msg']}")
        return _problem(422, "; ".join(parts) or "invalid request", "invalid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        status = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "error")
        detail = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in detail:
            detail = "the request body cannot be parsed (nested too deeply?); send {\"postcodes\": [\"S1 2HE\", ...]}"
        return _problem(exc.status_code, detail, status, headers=getattr(exc, "headers", None))

    @app.exception_handler(DefinitionError)
    async def _no_system(request: Request, exc: DefinitionError):
        return _problem(404, str(exc), "not_found")

    @app.exception_handler(UnknownDatasetError)
    async def _unknown(request: Request, exc: UnknownDatasetError):
        return _problem(422, str(exc), "invalid")

    logged: set = set()

    async def _unavailable(request: Request, exc: Exception):
        """A data file that is missing, fails its hash check or is damaged (an icsgeo error, or what a
        damaged file raises where a reader lets it through), or another icsgeo error that is not the
        query's: 503 naming the dataset and file, never an absolute path or the query; /health lists it."""
        text = safe_text(exc)
        if isinstance(exc, (DataFileError, *DAMAGED)):
            asked = request.query_params.get("vintage")
            named = state.failed(exc, asked if asked in vintages else default)
            shown = [(i, f) for i, f in named if i != "(unknown)" and not (i in text and pathlib.PurePath(f).name in text)]
            if shown:
                text += " (" + "; ".join(f"dataset {i}, file {f}" for i, f in shown) + ")"
            if not isinstance(exc, IcsgeoError):
                text = f"a data file is damaged ({type(exc).__name__}: {text})"
        elif type(exc) not in logged:
            logged.add(type(exc))
            log.error("icsgeo serve: %s: answering 503", type(exc).__name__)
        return _problem(503, f"icsgeo cannot answer: {text}. Check the data folder with `icsgeo data`; "
                             "/health lists the files failing", "unavailable")

    for error in (IcsgeoError, *DAMAGED):
        app.add_exception_handler(error, _unavailable)

    errors_422 = {422: {"model": Problem, "description": "invalid request or query"}}
    errors_503 = {503: {"model": Problem, "description": "a data file is missing or fails its hash check"}}

    # -------------------------------------------------------------- postcodes
    @app.get(
        "/postcodes/{postcode:path}", response_model=Answer, tags=["answers"],
        summary="Which neighbourhood, place and system a postcode is in",
        responses={404: {"model": Problem, "description": "a well-formed postcode that no source knows"},
                   422: {"model": Problem, "description": "not a postcode, or an unknown vintage/system"}, **errors_503},
        openapi_extra={"parameters": query_parameters},
    )
    async def get_postcode(postcode: Annotated[str, Path(description="any case and spacing: S1 2HE, s12he")],
                           request: Request):
        query = _clean_query(postcode)
        rec = await answer_one(query, request)
        if rec["status"] == "invalid":
            return _problem(422, f"{_shown(query)} is not a valid UK postcode; expected a form such as 'S1 2HE' or 'SW1A 1AA'",
                            "invalid", query=query)
        if rec["status"] == "not_found":
            return _problem(404, f"{rec['postcode']} is a well-formed postcode but is in neither Code-Point Open nor NSPL "
                                 "(a new, non-geographic or mistyped postcode)", "not_found", query=query, postcode=rec["postcode"])
        return _JSON(rec)

    async def answer_one(query, request: Request) -> dict:
        """One postcode's answer: from the held index on the event loop (~15 µs) or batched in a thread.
        The query parameters (documented through openapi_extra) are validated here, not by FastAPI's
        per-parameter machinery, which cost a single lookup five times the answer itself."""
        vintage = system = as_at = None
        if request.scope.get("query_string"):
            try:
                params = PostcodeQuery.model_validate(dict(request.query_params))
            except pydantic.ValidationError as exc:
                raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None
            vintage, system, as_at = params.vintage, params.system, params.as_at
        index = state.held_index(vintage or default) if system is None and as_at is None else None
        if index is not None:
            return index.answer(query)
        return await postcode_batches(("postcode", _v(vintage, system, as_at), system, _day(as_at)), query)

    def answer_many(items, vintage, system, as_at) -> list[dict] | _JSON:
        """Many postcodes' answers, in order, or the 413 problem for too many."""
        if len(items) > MAX_BULK:
            return _problem(413, f"{len(items):,} postcodes in one request; the limit is {MAX_BULK:,}: split them into several requests",
                            "too_large")
        queries = [_clean_query(q) for q in items]
        if not queries:
            return []
        if system is None and as_at is None:
            return held(vintage or default).answers(queries)
        return icsgeo.to_records(icsgeo.where(queries, vintage=_v(vintage, system, as_at), system=system, as_at=_day(as_at)))

    async def answer_bulk(body, vintage, system, as_at) -> list[dict] | _JSON:
        """A POST's answers (or its 413), in a thread that shares the heavy limiter."""
        return await anyio.to_thread.run_sync(answer_many, body.postcodes, vintage, system, as_at, limiter=heavy())

    bulk_responses = {400: {"model": Problem, "description": "a body that cannot be parsed at all (e.g. nested too deeply)"},
                      413: {"model": Problem, "description": f"more than {MAX_BULK:,} postcodes, or a body over 16 MiB"},
                      **errors_422, **errors_503}

    @app.post(
        "/postcodes", response_model=PostcodesResponse, tags=["answers"],
        summary=f"Answer up to {MAX_BULK:,} postcodes in one request, in order", responses=bulk_responses,
    )
    async def post_postcodes(body: Annotated[PostcodesRequest, Body()], vintage: VintageParam = None,
                             system: SystemParam = None, as_at: AsAtParam = None):
        records = await answer_bulk(body, vintage, system, as_at)
        if isinstance(records, _JSON):
            return records
        return _JSON({"count": len(records), "results": records})

    # -------------------------------------------------------------- postcodes.io's shape
    @app.get(
        "/postcodes.io/postcodes/{postcode:path}", tags=["postcodes.io"],
        summary="One postcode in postcodes.io's shape: {status, result} (a script switches by changing its base URL)",
        responses={404: {"description": "{status: 404, error: 'Invalid postcode' | 'Postcode not found'}"},
                   **errors_422, **errors_503},
        openapi_extra={"parameters": query_parameters},
    )
    async def get_postcodes_io(postcode: Annotated[str, Path(description="any case and spacing: S1 2HE, s12he")],
                               request: Request):
        body = icsgeo.postcodes_io_response(await answer_one(_clean_query(postcode), request))
        return _JSON(body, status_code=body["status"])

    @app.post(
        "/postcodes.io/postcodes", tags=["postcodes.io"],
        summary="Many postcodes in postcodes.io's bulk shape: {status, result: [{query, result}]}",
        responses=bulk_responses,
    )
    async def post_postcodes_io(body: Annotated[PostcodesRequest, Body()], vintage: VintageParam = None,
                                system: SystemParam = None, as_at: AsAtParam = None):
        records = await answer_bulk(body, vintage, system, as_at)
        if isinstance(records, _JSON):
            return records
        return _JSON(icsgeo.postcodes_io_bulk(records))

    # -------------------------------------------------------------- points
    @app.get(
        "/points", response_model=Answer, tags=["answers"],
        summary="Which neighbourhood, place and system a point is in (lat/lon or easting/northing)",
        responses={**errors_422, **errors_503},
    )
    async def get_point(lat: Annotated[Optional[float], Query(description="WGS84 latitude")] = None,
                  lon: Annotated[Optional[float], Query(description="WGS84 longitude")] = None,
                  easting: Annotated[Optional[float], Query(description="British National Grid (EPSG:27700)")] = None,
                  northing: Annotated[Optional[float], Query(description="British National Grid (EPSG:27700)")] = None,
                  vintage: VintageParam = None, system: SystemParam = None, as_at: AsAtParam = None):
        latlon = lat is not None or lon is not None
        grid = easting is not None or northing is not None
        if latlon and not grid and lat is not None and lon is not None:
            key, pair = ("latlon", _v(vintage, system, as_at), system, _day(as_at)), (lat, lon)
        elif grid and not latlon and easting is not None and northing is not None:
            key, pair = ("grid", _v(vintage, system, as_at), system, _day(as_at)), (easting, northing)
        else:
            return _problem(422, "give lat and lon, or easting and northing (one pair, both values)", "invalid")
        return _JSON(await point_batches(key, pair))

    # -------------------------------------------------------------- systems, places, neighbourhoods
    @app.get("/systems", response_model=list[SystemRow], tags=["geography"],
             summary="The systems (ICBs; STPs in 2021) of a vintage, or one custom system",
             responses={**errors_422, **errors_503})
    def get_systems(vintage: VintageParam = None, system: SystemParam = None, as_at: AsAtParam = None):
        g = icsgeo.geography(_v(vintage, system, as_at), system, as_at=_day(as_at))
        return _JSON(_frame_records(g.systems[icsgeo.SYSTEM_COLUMNS]))

    SystemCode = Annotated[str, Path(description="a GSS code (E54000061), ODS code (QF7), custom definition id or name fragment")]

    def _system(code: str, vintage, as_at=None):
        """The system named in a path: never a file (``files=False``); a definition in its own vintage."""
        return icsgeo.geography(_v(vintage, code in definitions, as_at), as_at=_day(as_at)).system(code, files=False)

    @app.get("/systems/{code}/places", response_model=list[PlaceRow], tags=["geography"],
             summary="The places of a system",
             responses={404: {"model": Problem, "description": "no such system, or several match"}, **errors_422, **errors_503})
    def get_places(code: SystemCode, vintage: VintageParam = None, as_at: AsAtParam = None):
        chosen = _system(code, vintage, as_at)
        return _JSON(_frame_records(chosen.places[icsgeo.PLACE_COLUMNS]))

    @app.get("/systems/{code}/neighbourhoods", tags=["geography"],
             summary="A system's neighbourhood (PCN) footprints: GeoJSON FeatureCollection in WGS84",
             response_class=Response,
             responses={200: {"model": FeatureCollection, "content": {"application/geo+json": {}},
                               "description": "derived footprints (never official); each says its method and data dates"},
                        404: {"model": Problem, "description": "no such system, or several match"}, **errors_422, **errors_503})
    def get_neighbourhoods(code: SystemCode, vintage: VintageParam = None, as_at: AsAtParam = None,
                           kind: Annotated[Optional[Literal["local", "pcn"]],
                                           Query(description="local: the definition's own neighbourhoods; pcn: PCN footprints "
                                                             "(default: local where the system defines them)")] = None):
        chosen = _system(code, vintage, as_at)
        g = chosen.geography
        local = chosen.local_neighbourhoods
        kind = kind or ("local" if local is not None else "pcn")
        if kind == "local" and local is None:
            return _problem(404, f"{chosen.name} has no local neighbourhoods; ask for kind=pcn", "not_found")
        key = (g.vintage + "|" + (g.definition.id if g.definition else ""), chosen.code, kind, g.as_at)
        body = state.geojson.get(key)
        if body is None:
            fp = (local if kind == "local" else chosen.neighbourhoods).to_crs("EPSG:4326")
            body = fp.to_json(drop_id=True, default=str, ensure_ascii=False).encode("utf-8", "replace")
            with state.lock:
                if len(state.geojson) >= 64:
                    state.geojson.pop(next(iter(state.geojson)))
                state.geojson[key] = body
        return Response(body, media_type="application/geo+json")

    # -------------------------------------------------------------- docs, offline
    @app.get("/docs", include_in_schema=False)
    def get_docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="icsgeo API", swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css", swagger_favicon_url="/docs/assets/favicon-32x32.png")

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def get_docs_asset(name: str):
        if name not in _DOCS_ASSETS:
            return _problem(404, f"no such documentation asset: {_shown(name)}", "not_found")
        return Response(_docs_asset(name), media_type=_DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"})

    # -------------------------------------------------------------- health
    @app.get("/health", response_model=Health, tags=["service"],
             summary="Version, vintages, data folder present/verified; 503 when answers cannot be given",
             responses={503: {"model": Health, "description": "starting, or a needed data file is missing or fails its hash check"}})
    def get_health():
        rows = icsgeo.inventory(count_rows=False, rehash=False)
        summary = state.data_summary(rows)
        blocking, degraded = state.problems(rows)
        if blocking or state.error:
            status = "unavailable"
        elif not state.ready:
            status = "starting"
        else:
            status = "degraded" if degraded else "ok"
        error = "; ".join(blocking) if blocking else None
        if state.error:
            error = f"{state.error} (restart icsgeo serve once this is fixed)"
        body = {"status": status, "icsgeo": __version__, "default_vintage": default, "vintages": list(vintages),
                "systems": list(definitions), "ready": state.ready, "warm_seconds": state.warm_seconds,
                "error": error, "degraded": degraded, "data": summary}
        return _JSON(body, status_code=200 if status in ("ok", "degraded") else 503)

    return app


# ------------------------------------------------------------------ serving: slow clients, open connections

@dataclasses.dataclass(frozen=True)
class Limits:
    """How :func:`serve` treats slow, idle and too many clients (times in seconds)."""

    #: from connecting (or from the end of the previous response) to a request's last header line; a
    #: connection is closed between this and a quarter more (spread, so that connections opened together
    #: are not all closed, and reopened, in the same instant while normal requests wait)
    header_timeout: float = 10.0
    #: from a request's headers to the last byte of its body
    body_timeout: float = 30.0
    #: an idle keep-alive connection is closed after this (uvicorn's ``timeout_keep_alive``)
    keep_alive: float = 5.0
    #: open connections per server process; None: sized from the file-descriptor limit (:func:`connection_limit`)
    max_connections: Optional[int] = None
    #: a request line and headers larger than this are a 400 (uvicorn's ``h11_max_incomplete_event_size``)
    max_header_bytes: int = 16 * 1024
    #: connections the kernel queues before they are accepted (it caps this at net.core.somaxconn,
    #: 4,096 on current Linux): a full queue drops new connections' SYNs, which their clients resend
    #: only after 1 s, then 3 s, so a burst of reconnecting clients must fit
    backlog: int = 16384

    def __post_init__(self):
        for name in ("header_timeout", "body_timeout", "keep_alive", "max_header_bytes", "backlog"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")


#: Threads answering batches, POSTs and points at once (see create_app's heavy()).
HEAVY_THREADS = max(1, (os.cpu_count() or 2) - 1)

#: The header deadline is spread over [t, t * (1 + _SPREAD)].
_SPREAD = 0.25

#: Ceiling of the descriptor limit :func:`connection_limit` raises the process's to.
_MAX_FDS = 1 << 16


def connection_limit(wanted: Optional[int] = None) -> int:
    """Most connections one server process keeps open: its file-descriptor limit less a reserve for
    the files, pipes and threads of the process itself (an eighth of it, at least 64 and at most
    1,024), or ``wanted`` when that is smaller. The soft limit is raised to the hard one first (at most
    65,536), as servers do: ``ulimit -n`` is often 1,024 while the hard limit is far higher."""
    try:
        import resource
    except ImportError:  # Windows: no such limit; sockets are not counted against open files
        return wanted or 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    target = min(_MAX_FDS, hard) if hard != infinite else _MAX_FDS
    if soft == infinite or soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            soft = _MAX_FDS if soft == infinite else soft
    cap = max(16, soft - min(1024, max(64, soft // 8)))
    return min(wanted, cap) if wanted else cap


class _Book:
    """Per server: the connections waiting for a request's headers (oldest first), and counts of the
    connections closed by the guard, logged at most every ``every`` seconds (never per connection)."""

    def __init__(self, every: float = 10.0):
        self.waiting: dict = {}
        self.closed: dict[str, int] = {}
        self.every, self.last, self.flush_due = every, float("-inf"), None

    def count(self, reason: str) -> None:
        """Count a closed connection (on the event loop): logged now if nothing was logged in the
        last ``every`` seconds, else with the others at the end of that time."""
        self.closed[reason] = self.closed.get(reason, 0) + 1
        wait = self.last + self.every - time.monotonic()
        if wait <= 0:
            self.flush()
        elif self.flush_due is None:
            import asyncio

            self.flush_due = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        self.flush_due = None
        if self.closed:
            self.last = time.monotonic()
            log.warning("icsgeo serve: closed %s", "; ".join(f"{n:,} connection(s) {why}" for why, n in self.closed.items()))
            self.closed = {}


def _book(server_state) -> _Book:
    book = getattr(server_state, "icsgeo_book", None)
    if book is None:
        book = server_state.icsgeo_book = _Book()
    return book


try:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol as _H11Protocol
except ImportError:  # uvicorn is the server extra: create_app() works without it
    _H11Protocol = None

if _H11Protocol is None:
    GuardedH11Protocol = None
else:
    class GuardedH11Protocol(_H11Protocol):
        """uvicorn's h11 protocol with deadlines and a cap (uvicorn has neither a header nor a body
        timeout, and its ``limit_concurrency`` answers 503 to every request once that many connections,
        half-sent ones included, are open).

        - A request's headers must arrive within :attr:`Limits.header_timeout` of the connection (or of
          the previous response), however slowly they trickle in (a byte does not restart the clock);
          partly sent headers get a 408. Its body must arrive within :attr:`Limits.body_timeout`.
        - With more than :attr:`max_connections` open, the connections that have waited longest for a
          request's headers are closed to make room; when none is waiting, the new one is closed.

        Set up by :meth:`configure` (:func:`serve` does), for the process."""

        limits = Limits()
        max_connections = 1024
        _timeout_response = b""

        @classmethod
        def configure(cls, limits: Limits) -> int:
            """Use ``limits`` for this process's connections; returns the connection cap."""
            cls.limits = limits
            cls.max_connections = connection_limit(limits.max_connections)
            body = json.dumps({"detail": f"the request's headers did not arrive within {limits.header_timeout:g} s; "
                                         "send the whole request at once", "status": "timeout"}).encode()
            cls._timeout_response = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                                     b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            return cls.max_connections

        def connection_made(self, transport) -> None:
            self._deadline, self._phase, self._received = None, None, 0
            self._book = _book(self.server_state)
            super().connection_made(transport)
            self._track()
            self._shed()

        def data_received(self, data: bytes) -> None:
            self._received += len(data)
            super().data_received(data)
            self._track()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._track()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        # ---------------------------------------------------------- deadlines
        def _track(self) -> None:
            """Arm the deadline of the part of the request that is awaited, if it changed."""
            if self.transport.is_closing():
                self._disarm()
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                if self._phase != "headers":
                    self._arm("headers", self.limits.header_timeout * (1 + _SPREAD * random.random()))
            elif state is h11.SEND_BODY:
                if self._phase != "body":
                    self._arm("body", self.limits.body_timeout)
            elif self._phase is not None:
                self._disarm()

        def _arm(self, phase: str, seconds: float) -> None:
            self._disarm()
            self._phase = phase
            self._deadline = self.loop.call_later(seconds, self._expired)
            if phase == "headers":
                self._received = 0
                self._book.waiting[self] = None

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._phase = None
            self._book.waiting.pop(self, None)

        def _expired(self) -> None:
            phase, partial = self._phase, self._received > 0
            self._deadline = None
            if self.transport.is_closing():
                self._disarm()
                return
            if phase == "headers" and partial and self.conn.our_state is h11.IDLE:
                self.transport.write(self._timeout_response)
            t = self.limits.header_timeout if phase == "headers" else self.limits.body_timeout
            self._close(f"whose request body did not arrive within {t:g} s" if phase == "body" else
                        f"that sent part of a request's headers and not the rest within {t:g} s" if partial else
                        f"that sent no request within {t:g} s")

        # ---------------------------------------------------------- the cap
        def _shed(self) -> None:
            excess = len(self.connections) - self.max_connections
            if excess <= 0:
                return
            victims = list(itertools.islice((p for p in self._book.waiting if p is not self), excess))
            for p in victims:
                p._close(f"that had sent no whole request, the oldest, to stay within {self.max_connections:,} open")
            if len(victims) < excess:
                self._close(f"refused: {self.max_connections:,} open connections, all busy")

        def _close(self, reason: str) -> None:
            self._disarm()
            self.connections.discard(self)  # counted out now, not when the loop calls connection_lost
            self._book.count(reason)
            if not self.transport.is_closing():
                self.transport.close()


def _worker_app() -> FastAPI:
    """The application of one of several worker processes (uvicorn's factory: it takes no arguments,
    so :func:`serve` passes the vintage, the host names and the limits in the environment)."""
    guard = json.loads(os.environ.get("ICSGEO_SERVE_GUARD") or "{}")
    if GuardedH11Protocol is not None:
        GuardedH11Protocol.configure(Limits(**guard.get("limits", {})))
    hosts = allowed_hosts(guard.get("host", "127.0.0.1"), guard.get("allow", ()))
    return create_app(os.environ.get("ICSGEO_SERVE_VINTAGE") or None, hosts=hosts)


def serve(host: str = "127.0.0.1", port: int = 8000, vintage: str | None = None, *, workers: int = 1,
          log_level: str = "info", allow_hosts: Iterable[str] = (), limits: Optional[Limits] = None) -> None:
    """Run the API with uvicorn until interrupted (blocking). ``workers`` > 1 runs that many processes
    on one socket, each holding its own copy of the index (about 0.6 GB each). ``allow_hosts``: host
    names answered besides the bound ones (:func:`allowed_hosts`); ``limits``: timeouts and the cap on
    open connections (:class:`Limits`)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError('icsgeo serve needs uvicorn: pip install "icsgeo[server]"') from exc
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    limits = limits or Limits()
    allow_hosts = list(allow_hosts)
    hosts = allowed_hosts(host, allow_hosts)
    cap = GuardedH11Protocol.configure(limits)
    options = dict(host=host, port=port, log_level=log_level, access_log=False, timeout_keep_alive=limits.keep_alive,
                   # a backstop only: uvicorn counts open connections too, so anything lower would answer
                   # 503 to real requests while half-sent ones are held; the protocol keeps to the cap
                   limit_concurrency=cap + 1, backlog=min(limits.backlog, cap),
                   h11_max_incomplete_event_size=limits.max_header_bytes)
    names = "any name" if hosts[0] is None else ", ".join(sorted(hosts[0])) + (" and any IP address" if hosts[1] else "")
    log.warning("icsgeo serve: up to %s open connections (per process); a request's headers within %g s, its body within "
                "%g s; answering to %s (more: --allow-host)", f"{cap:,}", limits.header_timeout, limits.body_timeout, names)
    if workers == 1:
        app = create_app(vintage, hosts=hosts)
        log.warning("icsgeo serve: loading vintage %s, then listening on http://%s:%d (docs at /docs)",
                    app.state.icsgeo.vintage, host, port)
        uvicorn.run(app, http=GuardedH11Protocol, **options)
        return
    os.environ["ICSGEO_SERVE_VINTAGE"] = "" if vintage is None else str(vintage)
    os.environ["ICSGEO_SERVE_GUARD"] = json.dumps({"host": host, "allow": allow_hosts, "limits": dataclasses.asdict(limits)})
    log.warning("icsgeo serve: %d workers, each loading the index, then listening on http://%s:%d (docs at /docs)",
                workers, host, port)
    uvicorn.run("icsgeo.server.app:_worker_app", factory=True, workers=workers,
                http="icsgeo.server.app:GuardedH11Protocol", **options)
