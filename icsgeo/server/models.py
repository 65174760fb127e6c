"""The HTTP API's response models, derived from the one answer schema (:mod:`icsgeo.answer`) and the
geography's listing columns: a field added there appears here, in ``/openapi.json``, without an edit."""

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, JsonValue, create_model

from ..answer import GROUPS, MADE_FROM, Group, Status

__all__ = ["Answer", "PostcodesRequest", "PostcodesResponse", "Problem", "SystemRow", "PlaceRow", "Feature",
           "FeatureCollection", "DataSummary", "Health", "PARTS", "listing_model", "MAX_BULK"]

#: Most postcodes one ``POST /postcodes`` may carry (more: 413).
MAX_BULK = 10_000


def _part(group: Group) -> type[BaseModel]:
    """The model of one answer part: its first field is required (the part is null without it)."""
    fields: dict[str, Any] = {}
    for i, f in enumerate(group.fields):
        typ = float if f.type is float else str
        description = f.description or None
        fields[f.key] = (typ, Field(description=description)) if i == 0 else (Optional[typ], Field(None, description=description))
    return create_model(f"{group.name.capitalize()}Part", __doc__=group.description, **fields)


#: part name -> its model (LsoaPart, NeighbourhoodPart, …)
PARTS: dict[str, type[BaseModel]] = {g.name: _part(g) for g in GROUPS}

Answer = create_model(
    "Answer",
    __doc__="One answer: the object `icsgeo where --json` prints. Unknown parts are null.",
    query=(JsonValue, Field(None, description="the query as given (a postcode string; 'lat,lon' or 'easting,northing' for points)")),
    postcode=(Optional[str], Field(None, description="the normalised postcode (ONS pcds form), null when invalid")),
    status=(Status, ...),
    **{g.name: (Optional[PARTS[g.name]], Field(None, description=g.description)) for g in GROUPS},
    vintage=(Optional[str], None),
    made_from=(Optional[str], Field(None, description=MADE_FROM)),
)


class PostcodesRequest(BaseModel):
    postcodes: list[Any] = Field(
        description=f"up to {MAX_BULK:,} postcodes; any item that is not a postcode string is answered status invalid",
        examples=[["S1 2HE", "CM1 1AE"]],
    )


class PostcodesResponse(BaseModel):
    count: int
    results: list[Answer] = Field(description="one answer per item, in order")  # type: ignore[valid-type]


class Problem(BaseModel):
    """Every error: what went wrong and what to do."""

    detail: str
    status: str = Field(description="invalid, not_found, too_large, unavailable, ...")
    query: JsonValue = None
    postcode: Optional[str] = None
    errors: Optional[list[dict[str, JsonValue]]] = None


_TYPES = {"code": str, "places": int, "lsoas": int, "population": float, "registered_patients": float}


def listing_model(name: str, columns: list[str]) -> type[BaseModel]:
    """A row of a systems/places listing with exactly ``columns`` (``code`` required)."""
    fields: dict[str, Any] = {}
    for c in columns:
        typ = _TYPES.get(c, str)
        fields[c] = (typ, ...) if c == "code" else (Optional[typ], None)
    return create_model(name, **fields)


def _listings():
    import icsgeo

    return listing_model("SystemRow", icsgeo.SYSTEM_COLUMNS), listing_model("PlaceRow", icsgeo.PLACE_COLUMNS)


SystemRow, PlaceRow = _listings()


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
    status: Literal["ok", "degraded", "starting", "unavailable"] = Field(
        description="ok; degraded: answers are given but some tiers are missing or modelled (see degraded); "
                    "starting; unavailable: answers cannot be given (see error)")
    icsgeo: str
    default_vintage: str
    vintages: list[str]
    systems: list[str] = Field(description="custom system definition ids accepted by the system parameter")
    ready: bool = Field(description="the default vintage is loaded (warm-up done)")
    warm_seconds: Optional[float] = None
    error: Optional[str] = None
    degraded: dict[str, str] = Field(default_factory=dict, description="tier -> what it lacks and how to fix it")
    data: DataSummary
