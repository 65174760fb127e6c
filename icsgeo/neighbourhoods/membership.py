"""Which practices form each PCN, and as at which date.

Practices move between PCNs and close. A neighbourhood of a date groups the practices as they were on
that day: the monthly NHS practice map extracted on or before the date (the ``practice_maps`` role), or,
for dates before the first of them, the ePCN membership history (``pcn_history``: each practice's PCN
with its start and end dates), the practices located by their postcodes in epraccur
(``practice_addresses``). :func:`membership` picks one; a :class:`Membership` gives the practice-map
frame every neighbourhood step reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import DataFileError, UnknownDatasetError
from ..sources.cache import sha256_file
from ..sources.catalogue import Dataset, Role, as_date, catalogue
from ..sources.fetch import fetch
from ..sources.inputs import datasets, unavailable
from ..sources.read import read

__all__ = ["Membership", "membership", "PRACTICE_MAP_COLUMNS"]

#: What a practice-map frame holds (the reader's columns of a practice map).
PRACTICE_MAP_COLUMNS = ["extract_date", "practice_code", "practice_name", "postcode", "pcn_code", "pcn_name", "sicbl_code",
                        "sicbl_ods_code", "sicbl_name", "icb_code", "icb_ods_code", "icb_name", "is_unallocated"]


@dataclass(frozen=True)
class Membership:
    """A practice -> PCN membership: a practice map (``as_at`` None) or the PCN history as at a date."""

    entry: Dataset
    as_at: str | None = None

    @property
    def id(self) -> str:
        """The map's dataset id, or ``"<history id> as at <date>"``."""
        return self.entry.id if self.as_at is None else f"{self.entry.id} as at {self.as_at}"

    @property
    def date(self) -> str:
        """The date the grouping is of (the map's extract date, or the as-at date)."""
        return self.as_at or self.entry.date

    @property
    def icb_vintage(self) -> str | None:
        """The vintage of the Sub-ICB codes the frame carries (a map's ``icb_vintage``)."""
        if self.as_at is None:
            return self.entry.get("icb_vintage")
        return catalogue().vintage_at(self.as_at).key

    def unavailable(self) -> str | None:
        """Why the membership cannot be read now (the file missing or refused), or None."""
        if self.as_at is None:
            return unavailable(Role(self.entry.id, (self.entry.id,)))
        return unavailable(catalogue().role("pcn_history")) or unavailable(catalogue().role("practice_addresses"))

    def key(self) -> dict:
        """What the grouping is made from: the files' sha256 and the date."""
        if self.as_at is None:
            return {self.entry.id: sha256_file(fetch(self.entry))}
        addresses = datasets(catalogue().role("practice_addresses"))
        return {self.entry.id: sha256_file(fetch(self.entry)), "as_at": self.as_at,
                "addresses": {e.id: sha256_file(fetch(e)) for e in addresses}}

    def frame(self) -> pd.DataFrame:
        """The practices with their PCN, in the practice map's columns."""
        if self.as_at is None:
            return read(self.entry)
        from .. import areas

        sicbls = areas.lsoa_base()[["sicbl_ods_code", "sicbl_code", "sicbl_name"]]
        return history_as_at(read(self.entry, "membership"), _addresses(), self.as_at, sicbls)


def _addresses() -> pd.DataFrame:
    """``practice_code, postcode``: each practice's postcode from the newest epraccur that lists it."""
    parts = []
    for e in sorted(datasets(catalogue().role("practice_addresses")), key=lambda e: e.date, reverse=True):
        f = read(e)
        parts.append(f[["practice_code", "postcode"]])
    return pd.concat(parts, ignore_index=True).dropna(subset=["postcode"]).drop_duplicates("practice_code")


def history_as_at(history: pd.DataFrame, addresses: pd.DataFrame, day: str, sicbls: pd.DataFrame | None = None) -> pd.DataFrame:
    """The practice-map frame of a PCN membership history on ``day``: each practice's membership whose
    start is on or before the day and whose end (if any) is on or after it (the latest start wins when
    several overlap), with its postcode from ``addresses`` and, from ``sicbls`` (``sicbl_ods_code,
    sicbl_code, sicbl_name``), the GSS code of its Sub-ICB Location."""
    d = pd.Timestamp(day)
    live = history[(history["start_date"] <= d) & (history["end_date"].isna() | (history["end_date"] >= d))]
    live = live.sort_values(["practice_code", "start_date"]).drop_duplicates("practice_code", keep="last")
    out = pd.DataFrame({
        "extract_date": d,
        "practice_code": live["practice_code"].to_numpy(),
        "practice_name": live["practice_name"].to_numpy(),
        "pcn_code": live["pcn_code"].to_numpy(),
        "pcn_name": live["pcn_name"].to_numpy(),
        "sicbl_ods_code": live["practice_sicbl_ods_code"].to_numpy(),
    })
    out["postcode"] = out["practice_code"].map(addresses.set_index("practice_code")["postcode"])
    known = (sicbls if sicbls is not None else pd.DataFrame(columns=["sicbl_ods_code", "sicbl_code", "sicbl_name"]))
    known = known.drop_duplicates("sicbl_ods_code").set_index("sicbl_ods_code")
    out["sicbl_code"] = out["sicbl_ods_code"].map(known["sicbl_code"])
    out["sicbl_name"] = out["sicbl_ods_code"].map(known["sicbl_name"])
    for c in ("icb_code", "icb_ods_code", "icb_name"):
        out[c] = pd.NA
    out["is_unallocated"] = False
    for c in PRACTICE_MAP_COLUMNS:
        if c not in ("extract_date", "is_unallocated"):
            out[c] = out[c].astype("string")
    return out[PRACTICE_MAP_COLUMNS].reset_index(drop=True)


def membership(practice_map: str | Dataset | Membership | None = None, *, as_at=None) -> Membership:
    """The membership to group practices by: the practice map named; else, with ``as_at``, the one in
    force on that day; else the latest vintage's practice map."""
    cat = catalogue()
    if isinstance(practice_map, Membership):
        return practice_map
    if practice_map is not None:
        entry = practice_map if isinstance(practice_map, Dataset) else cat.get(practice_map)
        if entry.reader != "practice_map":
            maps = [d.id for d in cat if d.reader == "practice_map"]
            raise UnknownDatasetError(f"dataset {entry.id!r} is not a practice -> PCN map; use one of: {', '.join(maps)}")
        return Membership(entry)
    if as_at is None:
        return Membership(cat.get(cat.vintage(None).id("practice_map")))
    day = as_date(as_at)
    maps = sorted((cat.get(i) for i in cat.role("practice_maps").datasets), key=lambda e: e.date)
    before = [e for e in maps if e.date <= day and unavailable(Role(e.id, (e.id,))) is None]
    if before:
        return Membership(before[-1])
    role = cat.role("pcn_history")
    why = unavailable(role)
    if why is not None:
        raise DataFileError(f"PCN membership as at {day} needs {role.without and 'the PCN history'}: {why}")
    return Membership(cat.get(role.datasets[0]), as_at=day)
