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
- A data file that is missing or fails its hash check answers 503 naming the file; nothing answers 500.
  Postcodes are not logged (uvicorn's access log is off).
"""

# No `from __future__ import annotations`: FastAPI resolves the parameter types built in create_app().
import datetime
import functools
import json
import pathlib
import logging
import re
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, Optional

import pydantic
from fastapi import Body, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import DataFileError, DefinitionError, IcsgeoError, MissingDependencyError, UnknownDatasetError
from .batching import Coalescer
from .health import State
from .models import (MAX_BULK, Answer, FeatureCollection, Health, PlaceRow, PostcodesRequest, PostcodesResponse,
                     Problem, SystemRow)

__all__ = ["create_app", "serve", "MAX_BULK", "MAX_BODY_BYTES"]

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


#: The /docs page's files (``assets/swagger-ui``, from the npm package swagger-ui-dist; see its manifest.json).
_DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png",
                "LICENSE": "text/plain", "NOTICE": "text/plain", "swagger-ui-bundle.js.LICENSE.txt": "text/plain"}


@functools.lru_cache(maxsize=None)
def _docs_asset(name: str) -> bytes:
    return (pathlib.Path(__file__).parent / "assets" / "swagger-ui" / name).read_bytes()


def _frame_records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", force_ascii=False))


# ------------------------------------------------------------------ the application

def create_app(vintage: str | int | None = None, *, warm: bool = True) -> FastAPI:
    """The FastAPI application. ``vintage``: the default vintage (the catalogue's latest when None).
    ``warm``: load the default vintage at startup (before the first request is accepted)."""
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

    def answer_postcodes(key, queries):
        _, v, system, as_at = key
        if system is None and as_at is None:  # national answers: the vintage's index in memory
            return icsgeo.postcode_index(v).answers(queries)
        return icsgeo.to_records(icsgeo.where(queries, vintage=v, system=system, as_at=as_at))

    def answer_points(key, pairs):
        kind, v, system, as_at = key
        a, b = [p[0] for p in pairs], [p[1] for p in pairs]
        answers = icsgeo.assign(**({"lat": a, "lon": b} if kind == "latlon" else {"easting": a, "northing": b}), vintage=v, system=system, as_at=as_at)
        answers.insert(0, "query", [f"{x},{y}" for x, y in pairs])
        return icsgeo.to_records(answers)

    postcode_batches = Coalescer(answer_postcodes)
    point_batches = Coalescer(answer_points)
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

    @app.exception_handler(DataFileError)
    async def _data_unavailable(request: Request, exc: DataFileError):
        return _problem(503, f"icsgeo cannot answer: {exc}", "unavailable")

    @app.exception_handler(DefinitionError)
    async def _no_system(request: Request, exc: DefinitionError):
        return _problem(404, str(exc), "not_found")

    @app.exception_handler(UnknownDatasetError)
    async def _unknown(request: Request, exc: UnknownDatasetError):
        return _problem(422, str(exc), "invalid")

    @app.exception_handler(IcsgeoError)
    async def _icsgeo_error(request: Request, exc: IcsgeoError):
        return _problem(503, f"icsgeo cannot answer: {exc}", "unavailable")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # a bug: say so without a traceback
        log.exception("icsgeo serve: unexpected error on %s %s", request.method, request.url.path)
        return _problem(500, f"internal error ({type(exc).__name__}); please report it", "error")

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
        # The query parameters (documented through openapi_extra) are validated here, not by FastAPI's
        # per-parameter machinery, which cost a single lookup five times the answer itself.
        query = _clean_query(postcode)
        vintage = system = as_at = None
        if request.scope.get("query_string"):
            try:
                params = PostcodeQuery.model_validate(dict(request.query_params))
            except pydantic.ValidationError as exc:
                raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None
            vintage, system, as_at = params.vintage, params.system, params.as_at
        held = state.index
        if held is not None and system is None and as_at is None and vintage in (None, default):
            rec = held.answer(query)  # ~15 µs from the index in memory: answered on the event loop
        else:
            rec = await postcode_batches(("postcode", _v(vintage, system, as_at), system, _day(as_at)), query)
        if rec["status"] == "invalid":
            return _problem(422, f"{_shown(query)} is not a valid UK postcode; expected a form such as 'S1 2HE' or 'SW1A 1AA'",
                            "invalid", query=query)
        if rec["status"] == "not_found":
            return _problem(404, f"{rec['postcode']} is a well-formed postcode but is in neither Code-Point Open nor NSPL "
                                 "(a new, non-geographic or mistyped postcode)", "not_found", query=query, postcode=rec["postcode"])
        return _JSON(rec)

    @app.post(
        "/postcodes", response_model=PostcodesResponse, tags=["answers"],
        summary=f"Answer up to {MAX_BULK:,} postcodes in one request, in order",
        responses={400: {"model": Problem, "description": "a body that cannot be parsed at all (e.g. nested too deeply)"},
                   413: {"model": Problem, "description": f"more than {MAX_BULK:,} postcodes, or a body over 16 MiB"},
                   **errors_422, **errors_503},
    )
    def post_postcodes(body: Annotated[PostcodesRequest, Body()], vintage: VintageParam = None, system: SystemParam = None,
                       as_at: AsAtParam = None):
        items = body.postcodes
        if len(items) > MAX_BULK:
            return _problem(413, f"{len(items):,} postcodes in one request; the limit is {MAX_BULK:,}: split them into several requests",
                            "too_large")
        queries = [_clean_query(q) for q in items]
        if not queries:
            records = []
        elif system is None and as_at is None:
            held = state.index if vintage in (None, default) and state.index is not None else icsgeo.postcode_index(vintage or default)
            records = held.answers(queries)
        else:
            records = icsgeo.to_records(icsgeo.where(queries, vintage=_v(vintage, system, as_at), system=system,
                                                     as_at=_day(as_at)))
        return _JSON({"count": len(records), "results": records})

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


def _worker_app() -> FastAPI:
    """The application of one of several worker processes (uvicorn's factory: it takes no arguments,
    so :func:`serve` passes the vintage in the environment)."""
    import os

    return create_app(os.environ.get("ICSGEO_SERVE_VINTAGE") or None)


def serve(host: str = "127.0.0.1", port: int = 8000, vintage: str | None = None, *, workers: int = 1,
          log_level: str = "info") -> None:
    """Run the API with uvicorn until interrupted (blocking). ``workers`` > 1 runs that many processes
    on one socket, each holding its own copy of the index (about 0.6 GB each)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError('icsgeo serve needs uvicorn: pip install "icsgeo[server]"') from exc
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        app = create_app(vintage)
        log.warning("icsgeo serve: loading vintage %s, then listening on http://%s:%d (docs at /docs)",
                    app.state.icsgeo.vintage, host, port)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    import os

    os.environ["ICSGEO_SERVE_VINTAGE"] = "" if vintage is None else str(vintage)
    log.warning("icsgeo serve: %d workers, each loading the index, then listening on http://%s:%d (docs at /docs)",
                workers, host, port)
    uvicorn.run("icsgeo.server.app:_worker_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)
