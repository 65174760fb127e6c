"""ONS products: boundaries (GeoJSON, zipped GeoPackage) and lookup tables (CSV)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..catalogue import Dataset, Table
from ...errors import DataFormatError
from ...settings import WORKING_CRS
from ._common import apply_roles, read_csv_text

log = logging.getLogger("icsgeo")


def read_boundary(path: Path, entry: Dataset, table: Table):
    """``code``, ``name`` (when the file has names), ``repaired`` and geometry in EPSG:27700."""
    import geopandas
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError

    source = f"zip://{path}!{entry.member}" if entry.member else str(path)
    wanted = list(table.columns.values())
    try:
        gdf = geopandas.read_file(source, engine="pyogrio", columns=wanted)
    except (DataSourceError, DataLayerError, ValueError) as exc:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) could not be read as {entry.format}: {exc}. "
            f"Is it the file the catalogue describes ({entry.title})?"
        ) from exc
    missing = [c for c in wanted if c not in gdf.columns]
    if missing or gdf.geometry is None:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) lacks the fields {missing}; it has {list(gdf.columns)}."
        )
    if gdf.crs is None:
        gdf = gdf.set_crs(entry.get("crs", "EPSG:4326"))
    gdf = gdf.to_crs(WORKING_CRS)
    geoms = gdf.geometry.values
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        log.info("%s: repaired %d invalid geometries", entry.id, int(invalid.sum()))
    out = pd.DataFrame({role: gdf[src].astype("string") for role, src in table.columns.items()})
    out["repaired"] = invalid
    return geopandas.GeoDataFrame(out, geometry=geopandas.GeoSeries(geoms, crs=WORKING_CRS).values, crs=WORKING_CRS)


def read_table(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """A lookup, its columns renamed to roles (``lsoa21_code``, ``sicbl_code``, ``icb_code``…)."""
    frame = read_csv_text(path, entry)
    out = apply_roles(frame, table, entry, path)
    text_cols = [c for c in out.columns if out[c].dtype == object or str(out[c].dtype).startswith(("str", "string"))]
    for c in text_cols:
        out[c] = out[c].astype("string").str.strip()
    return out
