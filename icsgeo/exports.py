"""England's integrated-care boundaries in one file: systems, places, neighbourhoods (PCN footprints,
and a definition's own where it has them), practices and LSOAs, each with its codes, names, parents,
population and method, the data dates and the licence notice in the layer's metadata.

A GeoPackage holds every layer (it opens in QGIS as it is); ``.geojson`` and ``.parquet`` outputs are one
file per layer (``<name>-<layer>.geojson``). Geometry is EPSG:27700 unless ``crs`` says otherwise (a
GeoJSON is always WGS84, as the format requires); every geometry is valid. Files appear only when
complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .answers import practices as practice_answers
from .errors import BulkInputError
from .settings import WORKING_CRS
from .sources.cache import atomic_write, check_output
from .sources.catalogue import catalogue
from .sources.inputs import dataset
from .tiers import Geography, geography

__all__ = ["export", "LAYERS", "SUFFIXES"]

log = logging.getLogger("icsgeo")

#: The layers of an export, in order.
LAYERS = ("systems", "places", "neighbourhoods", "local_neighbourhoods", "practices", "lsoas")
SUFFIXES = (".gpkg", ".geojson", ".parquet")

_LSOA_COLUMNS = ["lsoa21_code", "lsoa21_name", "population", "place_code", "place_name", "system_code", "system_ods_code",
                 "system_name", "sicbl_code", "sicbl_ods_code", "sicbl_name", "lad_code", "lad_name", "ward_code",
                 "neighbourhood_code", "neighbourhood_name", "neighbourhood_method", "neighbourhood_confidence",
                 "local_neighbourhood_code", "local_neighbourhood_name", "local_neighbourhood_method"]


def _notice(g: Geography) -> str:
    cat = catalogue()
    entries = [dataset(g.spec.role(r)) for r in ("systems", "places", "lsoa_shapes", "postcodes")] + [g.members.entry]
    seen: list[str] = []
    for e in entries:
        if e.attribution and e.attribution not in seen:
            seen.append(e.attribution)
    return " ".join(seen) or cat.source


def _lsoa_layer(g: Geography):
    import geopandas

    from .areas import lsoa_shapes

    tiers = g.tiers.iloc[:-1]  # the last row is the blank one
    l = g.lsoas
    frame = l[["lsoa21_code", "lsoa21_name", "population", "place_code", "place_name", "system_code", "system_ods_code",
               "system_name", "sicbl_code", "sicbl_ods_code", "sicbl_name", "lad_code", "lad_name", "ward_code"]].copy()
    frame = frame.merge(tiers[["lsoa21_code", "neighbourhood_code", "neighbourhood_name", "neighbourhood_method",
                               "neighbourhood_confidence", "local_neighbourhood_code", "local_neighbourhood_name",
                               "local_neighbourhood_method"]], on="lsoa21_code", how="left")
    for c in ("sicbl_code", "sicbl_ods_code", "sicbl_name"):
        frame[c] = tiers.set_index("lsoa21_code")[c].reindex(frame["lsoa21_code"]).to_numpy()
    shapes = lsoa_shapes()[["code", "geometry"]].rename(columns={"code": "lsoa21_code"})
    out = shapes.merge(frame, on="lsoa21_code", how="inner")
    return geopandas.GeoDataFrame(out[_LSOA_COLUMNS + ["geometry"]], geometry="geometry", crs=shapes.crs)


def _practice_layer(g: Geography):
    import geopandas

    p = practice_answers(g)
    has = p["easting"].notna()
    geom = geopandas.points_from_xy(p["easting"].where(has), p["northing"].where(has))
    out = geopandas.GeoDataFrame(p.drop(columns=["easting", "northing"]), geometry=geom, crs=WORKING_CRS)
    out.loc[~has.to_numpy(), "geometry"] = None
    return out


def _clean(gdf, crs: str):
    """Valid geometries in ``crs``; columns a GeoPackage takes (text, numbers, booleans, dates)."""
    import shapely

    out = gdf.copy()
    geoms = out.geometry.values
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if bad.any():
        out.loc[bad, out.geometry.name] = shapely.make_valid(geoms[bad], method="structure")
    for c in out.columns:
        if c == out.geometry.name:
            continue
        if isinstance(out[c].dtype, pd.CategoricalDtype) or out[c].dtype == object:
            out[c] = out[c].astype("string")
    return out.to_crs(crs) if crs != WORKING_CRS else out


def export(output: str | Path, *, vintage: str | int | None = None, system: str | None = None, as_at=None,
           crs: str = WORKING_CRS) -> dict[str, int]:
    """Write England's integrated-care boundaries (or one system's) to a GeoPackage, GeoJSON or Parquet.

    The layers are ``systems``, ``places``, ``neighbourhoods`` (PCN footprints), ``local_neighbourhoods``
    (a definition's own, where it has them), ``practices`` and ``lsoas``, each with its codes, names,
    parents, population and method, and the data dates and the licence notice in the layer's
    metadata. A ``.gpkg`` holds every layer (it opens in QGIS as it is); ``.geojson`` and
    ``.parquet`` outputs are one file per layer (``<name>-<layer>.geojson``). Every geometry is valid.
    Files appear only when complete.

    Parameters
    ----------
    output : str or pathlib.Path
        ``.gpkg`` (one file of layers), ``.geojson`` or ``.parquet`` (a file per layer beside it).
    vintage : str or int, optional
        The geography vintage; default the latest.
    system : str, optional
        One system (a definition id or file, a code or a name); default (or ``"england"``) all
        England.
    as_at : str or datetime.date, optional
        A day: the geography in force then.
    crs : str, default "EPSG:27700"
        The geometry's CRS (a GeoJSON is always WGS84, as the format requires).

    Returns
    -------
    dict of str to int
        The rows written per layer.

    Raises
    ------
    BulkInputError
        An extension other than ``.gpkg``, ``.geojson`` or ``.parquet``.
    icsgeo.errors.OutputWriteError
        The output cannot be written (a folder, a read-only file): said before the layers are made.
    DefinitionError
        A ``system`` that matches no system, or several.

    See Also
    --------
    save : Write one frame.
    export_index : The postcode index as a Parquet product.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.export("south-yorkshire.gpkg", system="South Yorkshire")     # doctest: +SKIP
    >>> icsgeo.export("boundaries.shp")
    Traceback (most recent call last):
        ...
    icsgeo.errors.BulkInputError: boundaries.shp: export to .gpkg, .geojson, .parquet, not '.shp'
    """
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise BulkInputError(f"{out.name}: export to {', '.join(SUFFIXES)}, not {suffix or '(no extension)'!r}")
    check_output(out)  # a folder, a read-only file: said before the layers are made
    g = geography(None if vintage is None else str(vintage), as_at=as_at)
    chosen = None
    if system is not None and system.strip().lower() != "england":
        chosen = g.system(system)
        g = chosen.geography
    layers = {
        "systems": g.systems if chosen is None else chosen.boundary,
        "places": g.places if chosen is None else chosen.places,
        "neighbourhoods": g.neighbourhoods if chosen is None else chosen.neighbourhoods,
        "local_neighbourhoods": g.local_neighbourhoods,
        "practices": _practice_layer(g),
        "lsoas": _lsoa_layer(g),
    }
    if chosen is not None:
        layers["practices"] = layers["practices"][layers["practices"]["system_code"] == chosen.code]
        layers["lsoas"] = layers["lsoas"][layers["lsoas"]["system_code"] == chosen.code]
    layers = {k: _clean(v, crs) for k, v in layers.items() if v is not None}
    nb = layers["neighbourhoods"]
    dates = (f"vintage {g.vintage} ({g.spec.label}); PCNs: {g.practice_map} ({nb['practice_map_date'].iloc[0] if len(nb) else ''}); "
             f"footprints by {g.method}" + (f" with registrations of {nb['registrations_date'].dropna().iloc[0]}"
                                             if len(nb) and nb["registrations_date"].notna().any() else ""))
    notice = _notice(g)
    meta = {name: {"icsgeo_layer": name, "icsgeo_data": dates, "licence": notice,
                   "note": "Neighbourhood footprints are derived, never official; every row says its method."}
            for name in layers}
    if suffix == ".gpkg":
        def write(tmp: Path) -> None:
            for name, frame in layers.items():
                frame.to_file(tmp, driver="GPKG", layer=name, engine="pyogrio", layer_metadata=meta[name],
                              append=tmp.exists())

        atomic_write(out, write)
    else:
        for name, frame in layers.items():
            target = out.with_name(f"{out.stem}-{name}{suffix}")
            if suffix == ".geojson":
                atomic_write(target, lambda tmp, f=frame: f.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON", engine="pyogrio"))
            else:
                atomic_write(target, lambda tmp, f=frame, n=name: _parquet(f, tmp, meta[n]))
    counts = {k: len(v) for k, v in layers.items()}
    log.info("export %s: %s", out, counts)
    return counts


def _parquet(frame, path: Path, meta: dict) -> None:
    """GeoParquet, with the layer's data dates and licence added to the file's key-value metadata."""
    import pyarrow.parquet as pq

    frame.to_parquet(path)
    table = pq.read_table(path)
    extra = {f"icsgeo.{k}".encode(): str(v).encode() for k, v in meta.items()}
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), path)
