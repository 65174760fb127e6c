"""The public verbs: ``where`` (postcodes), ``lookup`` (the same, as JSON objects, light), ``assign``
(points), ``practices`` and ``footprints``. Each resolves its vintage once and picks the path: the
prebuilt index for national answers, the full path against a custom system's geography.

>>> r = where(["S1 2HE", "not a postcode"])
>>> r.loc[0, ["status", "system_code", "place_name"]].tolist()
['ok', 'E54000061', 'Sheffield']
>>> r.loc[1, "status"]
'invalid'
"""

from __future__ import annotations

from typing import Iterable

from .answer import ANSWER_COLUMNS, to_records
from .sources.catalogue import catalogue

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["where", "lookup", "assign", "practices", "footprints", "profile"]


def _vintage_key(vintage) -> str | None:
    return None if vintage is None else catalogue().vintage(str(vintage)).key


def _geography(vintage: str | None, as_at):
    from .tiers import geography

    return geography(vintage, as_at=as_at)


def _system(vintage: str | None, system: str, as_at=None):
    """The system asked for (see :meth:`icsgeo.Geography.system`)."""
    return _geography(vintage, as_at).system(system)


def where(postcodes: Iterable[object], *, vintage: str | int | None = None, system: str | None = None, as_at=None,
          engine: str = "local", npartitions: int | None = None):
    """Answer postcodes: a DataFrame with one row per query, in order: ``query`` and
    :data:`icsgeo.answer.ANSWER_COLUMNS`.

    ``status`` is ``ok``, ``invalid`` (not a postcode), ``not_found`` (well-formed but unknown),
    ``terminated`` (known only to NSPL; located, answered, but the location may be a sorting office),
    ``outside_england`` or ``outside_system``. ``system``: a system as :meth:`icsgeo.Geography.system`
    takes it (a custom definition id or file, a GSS or ODS code, a name fragment); answers outside it
    are ``outside_system``. ``as_at``: a day (``"2022-06-30"``): the geography in force then (its
    vintage's systems and places, the PCNs as their practices were grouped on that day).

    ``engine="dask"`` (``pip install "icsgeo[dask]"``) answers partition by partition, each against
    the prebuilt index (or the system's geography) exactly as the local engine does:

    - a **dask Series** of postcodes (``ddf["postcode"]``, e.g. from ``dd.read_parquet``) gives a
      **lazy dask DataFrame** with the same partitions and index (``npartitions``, when given,
      repartitions first), ready for ``.to_parquet(...)``; nothing is answered until it is computed;
    - a list or pandas Series is split into ``npartitions`` (default: one per 500,000 postcodes) and
      the answers come back as a pandas DataFrame, one row per query, in order.

    The columns and answers are the local engine's; the string columns are pandas' string dtype (a
    missing value is ``NaN``, as in every string column of the local answer), ``query`` is the queries
    as given. Each process answering a partition reads the index once (built there if missing: give
    dask workers the same ``ICSGEO_DATA_DIR`` and ``ICSGEO_CACHE_DIR``). Without icsgeo on a
    cluster, join the exported product instead (``icsgeo index export``, docs/index-product.md).
    """
    if engine == "dask":
        return _where_dask(postcodes, npartitions, vintage=_vintage_key(vintage), system=system, as_at=as_at)
    if engine != "local":
        raise ValueError(f"engine must be 'local' or 'dask', not {engine!r}")
    return _where_local(postcodes, _vintage_key(vintage), system, as_at)


def _where_local(postcodes, vintage: str | None, system: str | None, as_at):
    """The local engine: the whole batch at once (``vintage`` already resolved)."""
    import pandas as pd

    from .answers import for_postcodes, restrict

    queries = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
    queries = queries.reset_index(drop=True)
    chosen = None if system is None else _system(vintage, system, as_at)
    geo = chosen.geography if chosen is not None else _geography(vintage, as_at)
    if geo.indexed:
        out = _indexed(queries, geo.vintage)
    else:
        out = for_postcodes(queries, geo)
    if chosen is not None and geo.definition is None:
        out = restrict(out, chosen.code)
    return out


def _answer_meta(query_dtype=object):
    """The empty frame of the dask engine's result: ``query`` (the queries' own dtype), the answer
    columns (float64 for the fractions, nullable Int32 for the whole numbers: eastings, northings,
    positional quality; pandas' string dtype for the rest: what Arrow strings become)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from .answer import ANSWER_TYPES

    text = pa.array([], pa.string()).to_pandas().dtype
    dtypes = {float: np.float64, int: "Int32"}
    cols = {"query": pd.Series([], dtype=query_dtype)}
    cols.update({c: pd.Series([], dtype=dtypes.get(ANSWER_TYPES[c], text)) for c in ANSWER_COLUMNS})
    return pd.DataFrame(cols)


def _where_partition(part, vintage: str | None, system: str | None, as_at):
    """One partition of the dask engine: the local engine's answers, on the partition's index."""
    out = _where_local(part, vintage, system, as_at)
    out = out.astype(_answer_meta().dtypes.to_dict())
    out["query"] = part.array  # the queries as given, in their own dtype
    out.index = part.index
    return out


def _where_dask(postcodes, npartitions: int | None, *, vintage: str | None, system: str | None, as_at):
    """The dask engine of :func:`where` (see there)."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        from .errors import MissingDependencyError

        raise MissingDependencyError('engine="dask" needs dask: pip install "icsgeo[dask]"') from exc
    import pandas as pd

    if isinstance(postcodes, dd.DataFrame):
        raise ValueError("give where() the postcode column of a dask DataFrame (where(frame['postcode'], "
                         "engine='dask')), not the whole frame")
    if isinstance(postcodes, dd.Series):
        series = postcodes if npartitions is None else postcodes.repartition(npartitions=npartitions)
        return series.map_partitions(_where_partition, vintage, system, as_at, meta=_answer_meta(series.dtype))
    import dask

    local = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
    local = local.reset_index(drop=True)
    with dask.config.set({"dataframe.convert-string": False}):  # the queries exactly as given, as locally
        series = dd.from_pandas(local, npartitions=npartitions or max(1, len(local) // 500_000))
        out = series.map_partitions(_where_partition, vintage, system, as_at, meta=_answer_meta())
        return out.compute().reset_index(drop=True)


def _indexed(queries, vintage: str | None):
    """National answers from the prebuilt index, as a DataFrame."""
    import pandas as pd
    import pyarrow as pa

    from .index import answers

    table = answers(queries, vintage)
    table = pa.table({n: c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
                      for n, c in zip(table.column_names, table.columns)})
    out = table.to_pandas()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object)
    # the queries exactly as given (object dtype: they may not even be valid UTF-8)
    out.insert(0, "query", pd.Series(queries.to_numpy(dtype=object), dtype=object))
    return out[["query", *ANSWER_COLUMNS]]


def lookup(postcodes: Iterable[object], *, vintage: str | int | None = None, system: str | None = None,
           as_at=None) -> list[dict]:
    """The JSON objects of ``icsgeo where --json`` for a few postcodes, in order. Without ``system``
    and ``as_at`` it reads the prebuilt index with pyarrow only (no pandas): the fast path for single
    lookups."""
    queries = list(postcodes)
    if system is None and as_at is None:
        from .index import records

        return records(queries, _vintage_key(vintage))
    return to_records(where(queries, vintage=vintage, system=system, as_at=as_at))


def assign(points=None, *, easting=None, northing=None, lat=None, lon=None, vintage: str | int | None = None,
           system: str | None = None, engine: str = "local", npartitions: int | None = None, as_at=None):
    """Assign points (EPSG:27700 ``easting``/``northing`` or WGS84 ``lat``/``lon``) to the tiers.

    Give arrays, or a DataFrame with ``easting``/``northing`` or ``lat``/``lon`` columns. One row out
    per point, in order; a point that is not a number or not in Great Britain's range is ``invalid``.

    ``engine="dask"`` runs the point-in-polygon step with dask-geopandas in ``npartitions`` chunks
    (``pip install "icsgeo[dask]"``): for tens of millions of points, or a dask cluster. The answers
    are the same as the local engine's.
    """
    from .answers import for_points, restrict

    if points is not None:
        cols = set(points.columns)
        if {"easting", "northing"} <= cols:
            easting, northing = points["easting"], points["northing"]
        elif {"lat", "lon"} <= cols:
            lat, lon = points["lat"], points["lon"]
        else:
            raise ValueError(f"points need easting/northing or lat/lon columns; got {sorted(cols)}")
    v = _vintage_key(vintage)
    chosen = None if system is None else _system(v, system, as_at)
    geo = _geography(v, as_at) if chosen is None else chosen.geography
    out = for_points(geo, easting=easting, northing=northing, lat=lat, lon=lon, engine=engine, npartitions=npartitions)
    if chosen is not None and chosen.geography.definition is None:
        out = restrict(out, chosen.code)
    return out


def practices(geography=None):
    """Every practice of a geography's practice map (default: the latest vintage's) with its
    location, LSOA, tiers, list size and flags (see :func:`icsgeo.answers.practices`)."""
    from .answers import practices as _practices
    from .tiers import geography as _geography

    return _practices(geography if geography is not None else _geography())


def footprints(practice_map: str | None = None, *, vintage: str | int | None = None, method: str | None = None,
               as_at=None):
    """The neighbourhood (PCN) footprints of a vintage (default: the latest) with their place and
    system: the same frame as ``geography(vintage).neighbourhoods`` (the vintage's practice map and
    the best method available unless named; ``as_at``: the practices grouped as on that day)."""
    from .tiers import geography

    return geography(_vintage_key(vintage), None, practice_map, method, as_at).neighbourhoods


def profile(system: str, *, vintage: str | int | None = None, as_at=None):
    """A system's places and neighbourhoods against their size bands, with IMD 2025 (see
    :meth:`icsgeo.System.profile`). ``system`` as :meth:`icsgeo.Geography.system` takes it."""
    return _system(_vintage_key(vintage), system, as_at).profile()
