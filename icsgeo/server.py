"""``icsgeo serve``: the public API over HTTP, for teams that cannot send postcodes to a third party.

Thin, like the CLI: every answer comes from :func:`icsgeo.where`, :func:`icsgeo.assign`,
:func:`icsgeo.to_records`, :func:`icsgeo.geography` and :func:`icsgeo.find_system`, and is the same
JSON object as ``icsgeo where --json``. FastAPI and uvicorn are the ``server`` extra
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
import json
import logging
import re
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, Optional

from ._version import __version__
from .errors import DataFileError, DefinitionError, IcsgeoError, MissingDependencyError, UnknownDatasetError

try:
    from fastapi import Body, FastAPI, HTTPException, Path, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, Field, JsonValue
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - exercised by test_cli_serve_without_fastapi
    raise MissingDependencyError(
        f'icsgeo serve needs FastAPI and uvicorn ({exc.name} is missing): pip install "icsgeo[server]"'
    ) from exc

__all__ = ["create_app", "serve", "MAX_BULK", "MAX_BODY_BYTES"]

log = logging.getLogger("icsgeo")

#: Most postcodes one ``POST /postcodes`` may carry (more: 413).
MAX_BULK = 10_000
#: Largest request body accepted (more: 413). 10,000 postcodes take about 150 kB.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Where ``GET /health`` and the warm-up look a postcode up.
WARM_POSTCODE = "S1 2HE"

# The statuses of icsgeo.where (kept in step by tests/test_server.py).
Status = Literal["ok", "invalid", "not_found", "terminated", "outside_england", "outside_system"]
_SURROGATES = re.compile("[\ud800-\udfff]")


# ------------------------------------------------------------------ response models (the JSON of `where --json`)

class LsoaPart(BaseModel):
    code: str
    name: Optional[str] = None
    method: Optional[str] = Field(None, description="point in polygon, nearest polygon or nearest in official LAD")


class NeighbourhoodPart(BaseModel):
    code: str = Field(description="PCN ODS code (Uxxxxx)")
    name: Optional[str] = None
    method: Optional[str] = Field(None, description="registrations or modelled: footprints are derived, never official")
    confidence: Optional[float] = Field(None, description="the winning PCN's share of the LSOA's registered patients")


class PlacePart(BaseModel):
    code: str
    name: Optional[str] = None


class SystemPart(BaseModel):
    code: str
    ods_code: Optional[str] = None
    name: Optional[str] = None


class SicblPart(BaseModel):
    code: str
    ods_code: Optional[str] = None
    name: Optional[str] = None


class LadPart(BaseModel):
    code: str
    name: Optional[str] = None


class LocationPart(BaseModel):
    easting: Optional[float] = Field(None, description="EPSG:27700")
    northing: Optional[float] = None
    lat: Optional[float] = Field(None, description="WGS84")
    lon: Optional[float] = None


class Answer(BaseModel):
    """One answer: the object ``icsgeo where --json`` prints. Unknown parts are null."""

    query: JsonValue = Field(None, description="the query as given (a postcode string; 'lat,lon' or 'easting,northing' for points)")
    postcode: Optional[str] = Field(None, description="the normalised postcode (ONS pcds form), null when invalid")
    status: Status
    lsoa: Optional[LsoaPart] = None
    neighbourhood: Optional[NeighbourhoodPart] = None
    place: Optional[PlacePart] = None
    system: Optional[SystemPart] = None
    sicbl: Optional[SicblPart] = None
    lad: Optional[LadPart] = None
    location: Optional[LocationPart] = None
    vintage: Optional[str] = None


class PostcodesRequest(BaseModel):
    postcodes: list[Any] = Field(
        description=f"up to {MAX_BULK:,} postcodes; any item that is not a postcode string is answered status invalid",
        examples=[["S1 2HE", "CM1 1AE"]],
    )


class PostcodesResponse(BaseModel):
    count: int
    results: list[Answer] = Field(description="one answer per item, in order")


class Problem(BaseModel):
    """Every error: what went wrong and what to do."""

    detail: str
    status: str = Field(description="invalid, not_found, too_large, unavailable, ...")
    query: JsonValue = None
    postcode: Optional[str] = None
    errors: Optional[list[dict[str, JsonValue]]] = None


class SystemRow(BaseModel):
    code: str
    ods_code: Optional[str] = None
    name: Optional[str] = None
    places: Optional[int] = None
    population: Optional[float] = None
    registered_patients: Optional[float] = None
    lsoas: Optional[int] = None


class PlaceRow(BaseModel):
    code: str
    ods_code: Optional[str] = None
    name: Optional[str] = None
    official_name: Optional[str] = None
    system_code: Optional[str] = None
    population: Optional[float] = None
    registered_patients: Optional[float] = None
    lsoas: Optional[int] = None


class Feature(BaseModel):
    type: Literal["Feature"]
    geometry: Optional[dict[str, JsonValue]]
    properties: dict[str, JsonValue]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[Feature]


class DataSummary(BaseModel):
    folder: Optional[str]
    datasets: int
    present: int
    verified: int
    missing: list[str] = Field(description="dataset ids whose file is in neither the data folder nor the cache")
    failing: list[dict[str, str]] = Field(description="present files that fail verification: id, file, problem")


class Health(BaseModel):
    status: Literal["ok", "starting", "unavailable"]
    icsgeo: str
    default_vintage: str
    vintages: list[str]
    systems: list[str] = Field(description="custom system definition ids accepted by the system parameter")
    ready: bool = Field(description="the default vintage is loaded (warm-up done)")
    warm_seconds: Optional[float] = None
    error: Optional[str] = None
    data: DataSummary


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


class _State:
    """What the server knows about itself: warm-up result and the data files' verification."""

    def __init__(self, vintage: str):
        self.vintage = vintage
        self.ready = False
        self.warm_seconds: float | None = None
        self.error: str | None = None
        self._checked: dict[str, tuple[Any, str | None]] = {}  # dataset id -> (file stamp, problem)
        self._lock = threading.Lock()
        self._geojson: dict[tuple[str, str], bytes] = {}

    def data_summary(self) -> dict:
        """Present/verified per catalogue file: a stat per file; a file is re-hashed only when its
        size or modification time changed (icsgeo memoises hashes the same way)."""
        import icsgeo

        cat = icsgeo.catalogue()
        settings = icsgeo.get_settings()
        missing, failing, present, verified = [], [], 0, 0
        for entry in cat:
            path = icsgeo.locate(entry)
            if path is None:
                missing.append(entry.id)
                continue
            present += 1
            try:
                st = path.stat()
                stamp = (str(path), st.st_size, st.st_mtime_ns, settings.verify)
            except OSError as exc:
                failing.append({"id": entry.id, "file": entry.file, "problem": str(exc)})
                continue
            with self._lock:
                known = self._checked.get(entry.id)
            if known is None or known[0] != stamp:
                try:
                    icsgeo.fetch(entry)  # hash-checks (memoised); never downloads a present file
                    problem = None
                except IcsgeoError as exc:
                    problem = str(exc)
                with self._lock:
                    self._checked[entry.id] = (stamp, problem)
            else:
                problem = known[1]
            if problem:
                failing.append({"id": entry.id, "file": entry.file, "problem": problem})
            else:
                verified += 1
        return {"folder": str(settings.data_dir) if settings.data_dir else None, "datasets": len(cat),
                "present": present, "verified": verified, "missing": missing, "failing": failing}

    def needed_problems(self, summary: dict) -> list[str]:
        """Missing or failing files that answers depend on (documentation files are not needed)."""
        import icsgeo

        cat = icsgeo.catalogue()
        docs = {e.id for e in cat if e.kind == "documentation"}
        out = [f"{i}: missing ({cat.get(i).file})" for i in summary["missing"] if i not in docs]
        return out + [f"{f['id']}: {f['problem']}" for f in summary["failing"] if f["id"] not in docs]

    def warm(self) -> None:
        """Load the default vintage's postcode answers, points and systems so the first request is fast."""
        import icsgeo

        t0 = time.perf_counter()
        try:
            icsgeo.where([WARM_POSTCODE], vintage=self.vintage)
            icsgeo.assign(lat=[53.38], lon=[-1.47], vintage=self.vintage)
            icsgeo.geography(self.vintage).systems  # noqa: B018
            self.error = None
            self.ready = True
        except Exception as exc:  # reported by /health; requests answer 503 or 4xx, never 500
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("icsgeo serve: warm-up failed: %s", self.error)
        self.warm_seconds = round(time.perf_counter() - t0, 2)


class _Coalescer:
    """Answer concurrent single lookups with one call of the public verb.

    ``where`` and ``assign`` cost about the same for one query as for a hundred, so requests that
    arrive while a call is running wait for the next call and share it (no timer: an idle server
    answers a lone request at once). At most ``workers`` calls run at a time, in the threadpool. If a
    shared call fails unexpectedly, its queries are retried one by one so only the culprit fails.
    """

    def __init__(self, answer, workers: int = 1, max_batch: int = MAX_BULK):
        self.answer, self.workers, self.max_batch = answer, workers, max_batch
        self.pending: dict[Any, list] = {}
        self.running: dict[Any, int] = {}
        self.calls = self.queries = 0
        self._tasks: set = set()  # the event loop keeps only weak references to tasks

    async def __call__(self, key: Any, query: Any) -> dict:
        import asyncio

        future = asyncio.get_running_loop().create_future()
        self.pending.setdefault(key, []).append((query, future))
        if self.running.get(key, 0) < self.workers:
            self.running[key] = self.running.get(key, 0) + 1
            task = asyncio.ensure_future(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: Any) -> None:
        import anyio

        try:
            while self.pending.get(key):
                batch, self.pending[key] = self.pending[key][: self.max_batch], self.pending[key][self.max_batch:]
                queries = [q for q, _ in batch]
                self.calls, self.queries = self.calls + 1, self.queries + len(queries)
                try:
                    results = await anyio.to_thread.run_sync(self.answer, key, queries)
                except IcsgeoError as exc:  # the data, not the query: every request gets the same 503
                    results = [exc] * len(batch)
                except Exception as exc:  # noqa: BLE001 - a bug: find the query that triggers it
                    results = [exc] if len(batch) == 1 else [await self._one(key, q) for q in queries]
                for (_, future), result in zip(batch, results):
                    if future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.running[key] -= 1

    async def _one(self, key: Any, query: Any):
        import anyio

        try:
            return (await anyio.to_thread.run_sync(self.answer, key, [query]))[0]
        except Exception as exc:  # noqa: BLE001 - handed to that request's handler
            return exc


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
    default = cat.vintage(None if vintage is None else str(vintage))["vintage"]
    definitions = tuple(sorted(icsgeo.system_definitions()))
    state = _State(default)
    state.ready = not warm

    def _v(vintage, system):
        """The request's vintage; without one, a custom system's own vintage (as `icsgeo where --system`), else the default."""
        return vintage or (None if system else default)

    def answer_postcodes(key, queries):
        _, v, system = key
        return icsgeo.to_records(icsgeo.where(queries, vintage=v, system=system))

    def answer_points(key, pairs):
        kind, v, system = key
        a, b = [p[0] for p in pairs], [p[1] for p in pairs]
        answers = icsgeo.assign(**({"lat": a, "lon": b} if kind == "latlon" else {"easting": a, "northing": b}), vintage=v, system=system)
        answers.insert(0, "query", [f"{x},{y}" for x, y in pairs])
        return icsgeo.to_records(answers)

    postcode_batches = _Coalescer(answer_postcodes)
    point_batches = _Coalescer(answer_points)
    state.batches = (postcode_batches, point_batches)

    VintageParam = Annotated[
        Optional[Literal[vintages]],  # type: ignore[valid-type]
        Query(description=f"geography vintage (default {default})"),
    ]
    SystemParam = Annotated[
        Optional[Literal[definitions]],  # type: ignore[valid-type]
        Query(description="a custom system definition id: answers outside it are outside_system"),
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
    )
    async def get_postcode(postcode: Annotated[str, Path(description="any case and spacing: S1 2HE, s12he")],
                           vintage: VintageParam = None, system: SystemParam = None):
        query = _clean_query(postcode)
        rec = await postcode_batches(("postcode", _v(vintage, system), system), query)
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
    def post_postcodes(body: Annotated[PostcodesRequest, Body()], vintage: VintageParam = None, system: SystemParam = None):
        items = body.postcodes
        if len(items) > MAX_BULK:
            return _problem(413, f"{len(items):,} postcodes in one request; the limit is {MAX_BULK:,}: split them into several requests",
                            "too_large")
        queries = [_clean_query(q) for q in items]
        records = icsgeo.to_records(icsgeo.where(queries, vintage=_v(vintage, system), system=system)) if queries else []
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
                  vintage: VintageParam = None, system: SystemParam = None):
        latlon = lat is not None or lon is not None
        grid = easting is not None or northing is not None
        if latlon and not grid and lat is not None and lon is not None:
            key, pair = ("latlon", _v(vintage, system), system), (lat, lon)
        elif grid and not latlon and easting is not None and northing is not None:
            key, pair = ("grid", _v(vintage, system), system), (easting, northing)
        else:
            return _problem(422, "give lat and lon, or easting and northing (one pair, both values)", "invalid")
        return _JSON(await point_batches(key, pair))

    # -------------------------------------------------------------- systems, places, neighbourhoods
    @app.get("/systems", response_model=list[SystemRow], tags=["geography"],
             summary="The systems (ICBs; STPs in 2021) of a vintage, or one custom system",
             responses={**errors_422, **errors_503})
    def get_systems(vintage: VintageParam = None, system: SystemParam = None):
        g = icsgeo.geography(vintage or (None if system else default), system)
        cols = ["code", "ods_code", "name", "places", "population", "registered_patients", "lsoas"]
        return _JSON(_frame_records(g.systems[cols]))

    SystemCode = Annotated[str, Path(description="a GSS code (E54000061), ODS code (QF7), custom definition id or name fragment")]

    @app.get("/systems/{code}/places", response_model=list[PlaceRow], tags=["geography"],
             summary="The places of a system",
             responses={404: {"model": Problem, "description": "no such system, or several match"}, **errors_422, **errors_503})
    def get_places(code: SystemCode, vintage: VintageParam = None):
        g, system_code = icsgeo.find_system(code, vintage or (None if code in definitions else default))
        places = g.places[g.places["system_code"] == system_code]
        cols = ["code", "ods_code", "name", "official_name", "system_code", "population", "registered_patients", "lsoas"]
        return _JSON(_frame_records(places[cols]))

    @app.get("/systems/{code}/neighbourhoods", tags=["geography"],
             summary="A system's neighbourhood (PCN) footprints: GeoJSON FeatureCollection in WGS84",
             response_class=Response,
             responses={200: {"model": FeatureCollection, "content": {"application/geo+json": {}},
                               "description": "derived footprints (never official); each says its method and data dates"},
                        404: {"model": Problem, "description": "no such system, or several match"}, **errors_422, **errors_503})
    def get_neighbourhoods(code: SystemCode, vintage: VintageParam = None):
        g, system_code = icsgeo.find_system(code, vintage or (None if code in definitions else default))
        key = (g.vintage + "|" + (g.definition.id if g.definition else ""), system_code)
        body = state._geojson.get(key)
        if body is None:
            fp = g.neighbourhoods_in(system_code).to_crs("EPSG:4326")
            body = fp.to_json(drop_id=True, default=str, ensure_ascii=False).encode("utf-8", "replace")
            with state._lock:
                if len(state._geojson) >= 64:
                    state._geojson.pop(next(iter(state._geojson)))
                state._geojson[key] = body
        return Response(body, media_type="application/geo+json")

    # -------------------------------------------------------------- health
    @app.get("/health", response_model=Health, tags=["service"],
             summary="Version, vintages, data folder present/verified; 503 when answers cannot be given",
             responses={503: {"model": Health, "description": "starting, or a needed data file is missing or fails its hash check"}})
    def get_health():
        summary = state.data_summary()
        problems = state.needed_problems(summary)
        if problems or state.error:
            status = "unavailable"
        else:
            status = "ok" if state.ready else "starting"
        error = "; ".join(problems) if problems else None
        if state.error:
            error = f"{state.error} (restart icsgeo serve once this is fixed)"
        body = {"status": status, "icsgeo": __version__, "default_vintage": default, "vintages": list(vintages),
                "systems": list(definitions), "ready": state.ready, "warm_seconds": state.warm_seconds,
                "error": error, "data": summary}
        return _JSON(body, status_code=200 if status == "ok" else 503)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, vintage: str | None = None, *, log_level: str = "info") -> None:
    """Run the API with uvicorn until interrupted (blocking)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError('icsgeo serve needs uvicorn: pip install "icsgeo[server]"') from exc
    app = create_app(vintage)
    log.warning("icsgeo serve: loading vintage %s, then listening on http://%s:%d (docs at /docs)",
                app.state.icsgeo.vintage, host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
