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
    """Answer postcodes: their LSOA, neighbourhood, place, system and the rest, one row per query.

    A DataFrame with one row per query, in order: ``query`` (the queries as given) and
    :data:`icsgeo.answer.ANSWER_COLUMNS`. The vintage is resolved once; national answers come from
    the prebuilt postcode index (built on first use, see :func:`build_index`), a custom system's
    from the full path against its own geography.

    ``status`` is ``ok``, ``invalid`` (not a postcode), ``not_found`` (well-formed but unknown),
    ``terminated`` (known only to NSPL; located, answered, but the location may be a sorting office),
    ``outside_england`` or ``outside_system``; ``reason`` says why in words.

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

    Parameters
    ----------
    postcodes : iterable of object
        The queries, in any case and spacing: a list, a pandas Series or (with ``engine="dask"``) a
        dask Series. A value that is not text is ``invalid``.
    vintage : str or int, optional
        The geography vintage (``2021``, ``2023``, ``2026``); default the latest.
    system : str, optional
        A system as :meth:`icsgeo.Geography.system` takes it (a custom definition id or file, a GSS or
        ODS code, a name fragment); answers outside it are ``outside_system`` and keep only the facts
        of the postcode itself.
    as_at : str or datetime.date, optional
        A day (``"2022-06-30"``): the geography in force then (its vintage's systems and places, the
        PCNs as their practices were grouped on that day).
    engine : {"local", "dask"}, default "local"
        ``"local"`` answers the whole batch at once; ``"dask"`` partition by partition (see above).
    npartitions : int, optional
        With ``engine="dask"``: the number of partitions (see above).

    Returns
    -------
    pandas.DataFrame or dask.dataframe.DataFrame
        ``query`` and :data:`icsgeo.answer.ANSWER_COLUMNS`, one row per query, in order; a lazy dask
        DataFrame when ``postcodes`` is a dask Series.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage``, an ``as_at`` that is not a date or that no vintage covers, or a
        ``vintage`` that was not in force on ``as_at``.
    DefinitionError
        A ``system`` that matches no system, or several.
    DataFileMissingError
        A file the answers cannot do without is neither in the data folder nor in the cache, and
        cannot be downloaded.
    MissingDependencyError
        ``engine="dask"`` without dask installed.
    ValueError
        An ``engine`` other than ``"local"`` or ``"dask"``, or a whole dask DataFrame given instead of
        its postcode column.

    See Also
    --------
    lookup : The same answers as JSON objects, for a few postcodes (pyarrow only).
    assign : Points (eastings/northings or lat/lon) instead of postcodes.
    answer_file : Every row of a CSV, Parquet or Excel file, streamed.

    Examples
    --------
    >>> import icsgeo
    >>> r = icsgeo.where(["S1 2HE", "not a postcode", "BT1 1AA"])
    >>> r["status"].tolist()
    ['ok', 'invalid', 'outside_england']
    >>> r.loc[0, ["postcode", "place_name", "system_code", "system_ods_code"]].tolist()
    ['S1 2HE', 'Sheffield', 'E54000061', 'QF7']
    >>> r["reason"].tolist()
    ['live postcode', 'malformed', 'Northern Ireland']

    Within one system (Bassetlaw has been in Nottinghamshire's system since 2022):

    >>> icsgeo.where(["S80 1AA"], system="South Yorkshire")["status"].tolist()
    ['outside_system']

    Another vintage, or a dask Series of a large file:

    >>> icsgeo.where(["CM1 1AE"], vintage=2023)["system_ods_code"].tolist()     # doctest: +SKIP
    ['QH8']
    >>> import dask.dataframe as dd                                              # doctest: +SKIP
    >>> ddf = dd.read_parquet("patients.parquet")                                # doctest: +SKIP
    >>> icsgeo.where(ddf["postcode"], engine="dask").to_parquet("answered/")     # doctest: +SKIP
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
    """Answer a few postcodes as the JSON objects of ``icsgeo where --json``, in order.

    Without ``system`` and ``as_at`` it reads the prebuilt index with pyarrow only (no pandas): the
    fast path for single lookups (the index is built first if it is missing). With either, the
    answers are those of :func:`where`, nested by :func:`to_records`.

    Parameters
    ----------
    postcodes : iterable of object
        The queries, in any case and spacing.
    vintage : str or int, optional
        The geography vintage; default the latest.
    system : str, optional
        A system as :meth:`icsgeo.Geography.system` takes it; answers outside it are
        ``outside_system``.
    as_at : str or datetime.date, optional
        A day: the geography in force then (see :func:`where`).

    Returns
    -------
    list of dict
        One object per query: ``query, postcode, status, reason``, a part per tier (``lsoa``,
        ``neighbourhood``, ``place``, ``system``...; ``None`` where unknown), ``vintage`` and
        ``made_from``.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage``, an ``as_at`` that is not a date or that no vintage covers, or a
        ``vintage`` that was not in force on ``as_at``.
    DefinitionError
        A ``system`` that matches no system, or several.
    DataFileMissingError
        A file the answers cannot do without is missing (see :func:`where`).

    See Also
    --------
    where : The same answers as a DataFrame.
    postcodes_io_response : An answer in postcodes.io's shape.

    Examples
    --------
    >>> import icsgeo
    >>> [answer] = icsgeo.lookup(["s12he"])
    >>> answer["postcode"], answer["status"], answer["place"]["name"], answer["system"]["ods_code"]
    ('S1 2HE', 'ok', 'Sheffield', 'QF7')
    >>> answer["neighbourhood"]["code"], answer["neighbourhood"]["method"]
    ('U39345', 'registrations')
    >>> icsgeo.lookup(["junk"])[0]["lsoa"] is None
    True
    """
    queries = list(postcodes)
    if system is None and as_at is None:
        from .index import records

        return records(queries, _vintage_key(vintage))
    return to_records(where(queries, vintage=vintage, system=system, as_at=as_at))


def assign(points=None, *, easting=None, northing=None, lat=None, lon=None, vintage: str | int | None = None,
           system: str | None = None, engine: str = "local", npartitions: int | None = None, as_at=None):
    """Assign points to the tiers: their LSOA, neighbourhood, place, system and the rest.

    Points are EPSG:27700 ``easting``/``northing`` or WGS84 ``lat``/``lon``: give arrays, or a
    DataFrame with ``easting``/``northing`` or ``lat``/``lon`` columns. One row out per point, in
    order; a point that is not a number or not in Great Britain's range is ``invalid``.

    ``engine="dask"`` runs the point-in-polygon step with dask-geopandas in ``npartitions`` chunks
    (``pip install "icsgeo[dask]"``): for tens of millions of points, or a dask cluster. The answers
    are the same as the local engine's.

    Parameters
    ----------
    points : pandas.DataFrame, optional
        A frame with ``easting`` and ``northing`` columns, or ``lat`` and ``lon`` (used when it has
        both pairs: ``easting``/``northing``).
    easting, northing : array-like, optional
        British National Grid coordinates (metres), when ``points`` is not given.
    lat, lon : array-like, optional
        WGS84 latitude and longitude (used when ``easting``/``northing`` are not given).
    vintage : str or int, optional
        The geography vintage; default the latest.
    system : str, optional
        A system as :meth:`icsgeo.Geography.system` takes it; points outside it are
        ``outside_system``.
    engine : {"local", "dask"}, default "local"
        Where the point-in-polygon step runs (see above).
    npartitions : int, optional
        With ``engine="dask"``: the number of chunks.
    as_at : str or datetime.date, optional
        A day: the geography in force then (see :func:`where`).

    Returns
    -------
    pandas.DataFrame
        :data:`icsgeo.answer.ANSWER_COLUMNS`, one row per point, in order.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage``, or an ``as_at`` that is not a date or that no vintage covers.
    DefinitionError
        A ``system`` that matches no system, or several.
    DataFileMissingError
        A file the answers cannot do without is missing.
    ValueError
        No coordinates (``points`` without ``easting``/``northing`` or ``lat``/``lon`` columns, or
        neither pair given), or an unknown ``engine``.

    See Also
    --------
    where : Postcodes instead of points.

    Examples
    --------
    >>> import icsgeo
    >>> r = icsgeo.assign(lat=[53.38], lon=[-1.47])
    >>> r.loc[0, ["status", "lsoa_code", "place_name", "system_ods_code"]].tolist()
    ['ok', 'E01033264', 'Sheffield', 'QF7']
    >>> import pandas as pd
    >>> icsgeo.assign(pd.DataFrame({"easting": [435393, "x"], "northing": [387336, 1]}))["status"].tolist()
    ['ok', 'invalid']
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
    """List every practice of a geography's practice map, with its location, LSOA, tiers, list size and flags.

    The neighbourhood is the practice's PCN and the Sub-ICB Location its ODS commissioner (the
    membership is authoritative for practices); the LSOA, place and system come from its location.
    ``outside_ods_sicbl`` flags practices whose postcode lies outside their ODS Sub-ICB Location.
    See :func:`icsgeo.answers.practices`.

    Parameters
    ----------
    geography : Geography, optional
        The geography whose practice map is listed (:func:`geography`); default the latest vintage's.
        For a custom system's geography, ``place_*`` and ``system_*`` are given only for the practices
        located in it.

    Returns
    -------
    pandas.DataFrame
        One row per practice: ``practice_code, practice_name, postcode, pcn_code, pcn_name,
        is_unallocated``, the ODS ``sicbl_*`` and ``icb_*`` columns, ``location_status``,
        ``lsoa_code``, ``place_*``, ``system_*``, ``lad_*``, ``easting, northing, lat, lon``,
        ``outside_ods_sicbl``, ``registered_patients``, ``registered_date`` and ``extract_date``.

    Raises
    ------
    DataFileMissingError
        The practice map, or another file the answers cannot do without, is missing.

    See Also
    --------
    footprints : The PCNs' footprints these practices define.

    Examples
    --------
    >>> import icsgeo
    >>> p = icsgeo.practices()
    >>> p["practice_code"].is_unique
    True
    >>> p.loc[p["practice_code"] == "C88038", ["pcn_code", "place_name", "icb_ods_code"]].values.tolist()
    [['U12376', 'Sheffield', 'QF7']]
    """
    from .answers import practices as _practices
    from .tiers import geography as _geography

    return _practices(geography if geography is not None else _geography())


def footprints(practice_map: str | None = None, *, vintage: str | int | None = None, method: str | None = None,
               as_at=None):
    """Give the neighbourhood (PCN) footprints of a vintage, with their place and system.

    The same frame as ``geography(vintage).neighbourhoods``: the vintage's practice map and the best
    method available (``registrations`` when the registration files are present, else
    ``modelled``) unless named. Footprints are derived from LSOA 2021 areas, never official: every
    row says its method.

    Parameters
    ----------
    practice_map : str, optional
        A practice map's dataset id (``icsgeo data`` lists them): which practices form each PCN.
        Default: the vintage's own map (with ``as_at``, the grouping in force on that day).
    vintage : str or int, optional
        The geography vintage; default the latest.
    method : {"registrations", "modelled"}, optional
        How LSOAs are given to PCNs (see :mod:`icsgeo.neighbourhoods`); default the best available.
    as_at : str or datetime.date, optional
        A day: the practices grouped as on that day.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per PCN footprint (EPSG:27700): ``pcn_code, pcn_name``, its ``place_*`` and
        ``system_*``, ``practices``, ``registered_patients``, ``coverage``, ``method``, ``lsoas``,
        ``confidence``, ``footprint_population``, ``parts``, ``contiguous``, the data dates and
        ``geometry``.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage`` or ``practice_map``, or a dataset that is not a practice map.
    DataFileMissingError
        A file the footprints cannot do without is missing (e.g. the registrations, when
        ``method="registrations"`` is asked for).
    ValueError
        An unknown ``method``.

    See Also
    --------
    neighbourhood_lsoas : The LSOA-to-PCN assignment behind the footprints.
    geography : The vintage's other tiers.

    Examples
    --------
    >>> import icsgeo
    >>> f = icsgeo.footprints()
    >>> f.crs.to_epsg(), f["pcn_code"].is_unique
    (27700, True)
    >>> f.loc[f["pcn_code"] == "U39345", ["pcn_name", "place_name", "method"]].values.tolist()
    [['UOS STUDENT PCN', 'Sheffield', 'registrations']]

    Another month's PCNs (the practice maps are catalogue datasets):

    >>> maps = [d.id for d in icsgeo.catalogue() if d.reader == "practice_map"]
    >>> earlier = icsgeo.footprints(practice_map=maps[0])                 # doctest: +SKIP
    """
    from .tiers import geography

    return geography(_vintage_key(vintage), None, practice_map, method, as_at).neighbourhoods


def profile(system: str, *, vintage: str | int | None = None, as_at=None):
    """Profile a system's places and neighbourhoods against their size bands, with IMD 2025.

    One row per unit: the system, its places, its PCN neighbourhoods (``kind = "pcn"``) and its own
    neighbourhoods where defined (``kind = "local"``), each with its population, registered
    patients, area, size band and flag, and (with the IMD 2025 file) its deprivation. See
    :meth:`icsgeo.System.profile`.

    Parameters
    ----------
    system : str
        A system as :meth:`icsgeo.Geography.system` takes it (a name fragment, a GSS or ODS code, a
        custom definition id or file).
    vintage : str or int, optional
        The geography vintage; default the latest.
    as_at : str or datetime.date, optional
        A day: the geography in force then (see :func:`where`).

    Returns
    -------
    pandas.DataFrame
        :data:`icsgeo.tiers.PROFILE_COLUMNS`: ``tier, kind, code, name, place_code, place_name,
        system_code, system_name, population, registered_patients, area_km2, lsoas, band, size_flag,
        imd_score, most_deprived_10, most_deprived_20``.

    Raises
    ------
    DefinitionError
        A ``system`` that matches no system, or several.
    UnknownDatasetError
        An unknown ``vintage``, or an ``as_at`` that is not a date or that no vintage covers.

    See Also
    --------
    draw_profile : The profile written as a table and drawn as a chart.

    Examples
    --------
    >>> import icsgeo
    >>> p = icsgeo.profile("South Yorkshire")
    >>> p.loc[p["tier"] == "place", "name"].tolist()
    ['Barnsley', 'Doncaster', 'Rotherham', 'Sheffield']
    >>> sorted(set(p["tier"]))
    ['neighbourhood', 'place', 'system']
    """
    return _system(_vintage_key(vintage), system, as_at).profile()
