"""Registered patients by GP practice x LSOA (NHS England "Patients Registered at a GP Practice")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import Dataset, Table
from ...errors import DataFormatError
from ._common import apply_roles, read_csv_text, strip_text

#: Prefixes of real small-area codes, by country.
_COUNTRY = {"E01": "england", "W01": "wales", "S01": "scotland", "95": "northern_ireland"}


def lsoa_kind(codes: pd.Series, pseudo: list[str]) -> pd.Series:
    """``england``/``wales``/``scotland``/``northern_ireland`` by code, ``pseudo`` for NHS
    placeholders (``EMPTY``, ``CLOSED``, ``L99999999``, ``M99999999``, ``NO2011``), else ``unknown``."""
    codes = codes.astype("string")
    kind = np.full(len(codes), "unknown", dtype=object)
    for prefix, name in _COUNTRY.items():
        kind[codes.str.startswith(prefix).fillna(False).to_numpy(dtype=bool)] = name
    kind[codes.isin(pseudo).fillna(False).to_numpy(dtype=bool)] = "pseudo"
    return pd.Series(kind, index=codes.index, dtype="string")


def read_registrations(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """Rows in file order: ``practice_code, practice_name, lsoa_code, lsoa_vintage, lsoa_kind,
    patients, extract_date`` (+ ``sex`` and PCN/ICB columns where the file has them).

    Pseudo-LSOAs and non-English LSOAs are flagged in ``lsoa_kind``, never dropped.
    """
    f = apply_roles(read_csv_text(path, entry), table, entry, path)
    text = [c for c in f.columns if c != "patients"]
    f = strip_text(f, text)
    patients = pd.to_numeric(f["patients"], errors="coerce")
    if patients.isna().any():
        bad = f.loc[patients.isna(), "patients"].iloc[0]
        raise DataFormatError(f"{path} (dataset {entry.id!r}) has a non-numeric patient count: {bad!r}")
    f["patients"] = patients.astype("int64")
    if "extract_date" in f:
        f["extract_date"] = pd.to_datetime(f["extract_date"], format="%d%b%Y", errors="coerce")
    else:
        f["extract_date"] = pd.Timestamp(entry.date)
    f["lsoa_vintage"] = str(entry.get("lsoa_vintage", ""))
    f["lsoa_kind"] = lsoa_kind(f["lsoa_code"], list(entry.get("pseudo_lsoas", [])))
    return f
