"""Postcode files (OS Code-Point Open, ONS NSPL lat/long) and their code lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import Dataset, Table
from ...errors import DataFormatError
from ...postcode import normalise_postcodes
from ...settings import DISPLAY_CRS, WORKING_CRS


def _transformer(src: str, dst: str):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def read_postcodes(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """``postcode`` (pcds), ``easting``, ``northing`` (EPSG:27700), ``lat``, ``lon``, ``has_location``,
    ``quality`` and, where the file has them, ``lad_code``, ``ward_code``, ``county_code``,
    ``country_code``. Rows without coordinates are kept with ``has_location`` False; legacy codes that
    are not valid postcodes today (NSPL's ``NPT 0AD``…) are kept with ``postcode_valid`` False."""
    import pyarrow.parquet as pq

    roles = dict(table.columns)
    try:
        names = pq.read_schema(path).names
    except Exception as exc:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) is not a readable Parquet file: {exc}") from exc
    missing = [c for c in roles.values() if c not in names]
    if missing:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) lacks the columns {missing}; it has {names}")
    raw = pq.read_table(path, columns=list(roles.values())).to_pandas()
    f = pd.DataFrame({role: raw[src] for role, src in roles.items()})
    pc = normalise_postcodes(f["postcode"].astype(object))
    # NSPL keeps legacy non-standard codes (e.g. 'NPT 0AD'): kept, flagged, never matched by a query.
    f["postcode_valid"] = pc.notna().to_numpy(dtype=bool)
    f["postcode"] = pc.fillna(f["postcode"]).astype("string")
    if "easting" in f:
        no_loc = entry.get("no_location_quality")
        has = f["easting"].notna() & (f["easting"] > 0)
        if no_loc is not None and "quality" in f:
            has &= f["quality"] != no_loc
        f["easting"] = f["easting"].astype("float64").where(has)
        f["northing"] = f["northing"].astype("float64").where(has)
        lon, lat = _transformer(WORKING_CRS, DISPLAY_CRS).transform(f["easting"].to_numpy(), f["northing"].to_numpy())
        hv = has.to_numpy(dtype=bool)
        f["lat"], f["lon"] = np.where(hv, np.round(lat, 6), np.nan), np.where(hv, np.round(lon, 6), np.nan)
    else:
        has = f["lat"].notna() & f["lon"].notna() & (f["lat"].abs() <= 90)
        f["lat"] = f["lat"].where(has)
        f["lon"] = f["lon"].where(has)
        e, n = _transformer(DISPLAY_CRS, WORKING_CRS).transform(f["lon"].to_numpy(), f["lat"].to_numpy())
        hv = has.to_numpy(dtype=bool)
        f["easting"], f["northing"] = np.where(hv, np.round(e, 1), np.nan), np.where(hv, np.round(n, 1), np.nan)
    f["has_location"] = has.to_numpy(dtype=bool)
    first = ["postcode", "postcode_valid", "easting", "northing", "lat", "lon", "has_location"]
    return f[first + [c for c in f.columns if c not in first]]


def read_codelist(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """``code``, ``name``, ``area_type`` (county/district/ward…) and ``sheet``, from every listed sheet."""
    sheets: dict[str, str] = entry.get("sheets", {})
    try:
        book = pd.read_excel(path, sheet_name=list(sheets), header=None, engine="calamine", dtype=object)
    except Exception as exc:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) is not a workbook with sheets {list(sheets)}: {exc}") from exc
    parts = []
    for sheet, area_type in sheets.items():
        s = book[sheet]
        # Sheets hold (name, code) or (code, name): the code is the column that looks like a GSS code.
        first_is_code = s.iloc[:, 0].astype(str).str.match(r"^[A-Z]\d{2}|^[A-Z]{2}\d{3}").mean() > 0.5
        code, name = (s.iloc[:, 0], s.iloc[:, 1]) if first_is_code else (s.iloc[:, 1], s.iloc[:, 0])
        parts.append(pd.DataFrame({"code": code.astype(str).str.strip(), "name": name.astype(str).str.strip(),
                                   "area_type": area_type, "sheet": sheet}))
    return pd.concat(parts, ignore_index=True).astype("string")
