"""NHS organisation files: epraccur (both formats), the practice to PCN map, and ePCN.xlsx."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..catalogue import Dataset, Table
from ...errors import DataFormatError
from ...postcode import normalise_postcodes
from ._common import apply_roles, by_position, read_csv_text, strip_text, to_date

EPRACCUR_WIDTH = 27


def read_epraccur(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """One row per organisation, in file order.

    Columns: ``practice_code, name, postcode, postcode_raw, status, active, is_gp_practice,
    in_england, region_ods_code, icb_ods_code, sicbl_ods_code, open_date, close_date,
    join_parent_date, left_parent_date, address, telephone, sub_type, setting``. ``status`` is
    canonical (active/closed/dormant/proposed) whatever the file's format; ``setting`` is kept raw.
    """
    raw = read_csv_text(path, entry, header=False, encoding=entry.get("encoding", "latin1"))
    f = by_position(raw, table.columns, entry, path, EPRACCUR_WIDTH)
    f = strip_text(f, list(f.columns))
    status_values: dict[str, str] = entry.get("status_values", {})
    unknown = set(f["status"].dropna().unique()) - set(status_values)
    if unknown:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) has status values {sorted(unknown)[:5]} that the catalogue "
            f"does not list ({sorted(status_values)}): is this a different epraccur format?"
        )
    status = f["status"].map(status_values).astype("string")
    parts = [f[c].fillna("") for c in f.columns if c.startswith("address_")]
    address = parts[0].str.cat(parts[1:], sep=", ").str.replace(r"(, )+", ", ", regex=True).str.strip(", ")
    out = pd.DataFrame(
        {
            "practice_code": f["practice_code"],
            "name": f["name"],
            "postcode": normalise_postcodes(f["postcode"].astype(object)).astype("string"),
            "postcode_raw": f["postcode"],
            "status": status,
            "active": (status == "active").fillna(False).astype(bool),
            "is_gp_practice": f["setting"].isin(entry.get("gp_practice_settings", [])).astype(bool),
            "in_england": ~f["practice_code"].str.startswith("W").fillna(False).astype(bool),
            "region_ods_code": f["region_ods_code"],
            "icb_ods_code": f["icb_ods_code"],
            "sicbl_ods_code": f["sicbl_ods_code"],
            "open_date": to_date(f["open_date"]),
            "close_date": to_date(f["close_date"]),
            "join_parent_date": to_date(f["join_parent_date"]),
            "left_parent_date": to_date(f["left_parent_date"]),
            "address": address.astype("string"),
            "telephone": f["telephone"],
            "sub_type": f["sub_type"],
            "setting": f["setting"],
        }
    )
    return out


def read_practice_map(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """Practice to PCN to SICBL to ICB to region, with ONS and ODS codes and the extract date.

    ``is_unallocated`` marks the ``U`` "Unallocated" pseudo-PCN: those practices have no neighbourhood.
    """
    f = apply_roles(read_csv_text(path, entry), table, entry, path)
    f = strip_text(f, list(f.columns))
    f["extract_date"] = pd.to_datetime(f["extract_date"], format="%d%b%Y", errors="coerce")
    f["postcode"] = normalise_postcodes(f["postcode"].astype(object)).astype("string")
    f["is_unallocated"] = (f["pcn_code"] == "U").fillna(False).astype(bool)
    return f


def read_epcn(path: Path, entry: Dataset, table: Table) -> pd.DataFrame:
    """A sheet of ePCN.xlsx (multi-line headers are matched with their whitespace collapsed)."""
    try:
        frame = pd.read_excel(path, sheet_name=table.sheet, engine="calamine", dtype=object)
    except ValueError as exc:
        raise DataFormatError(f"{path} (dataset {entry.id!r}) has no readable sheet {table.sheet!r}: {exc}") from exc
    except Exception as exc:  # calamine raises its own errors for a file that is not a workbook
        raise DataFormatError(f"{path} (dataset {entry.id!r}) is not a readable workbook: {exc}") from exc
    out = apply_roles(frame, Table(table.name, table.columns), entry, path)
    text = [c for c in out.columns if c not in table.dates and c != "sicbl_match"]
    for c in text:
        out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    out = strip_text(out, text)
    for c in table.dates:
        out[c] = to_date(out[c].map(lambda v: None if v is None or pd.isna(v) else str(int(v)) if isinstance(v, (int, float)) else str(v)))
    if "sicbl_match" in out:
        out["sicbl_match"] = out["sicbl_match"].map(lambda v: bool(v) if isinstance(v, bool) else str(v).strip().upper() == "TRUE")
    if "postcode" in out:
        out["postcode"] = normalise_postcodes(out["postcode"].astype(object)).astype("string")
    return out
