"""Registered patients by practice x LSOA 2021, and practice list sizes.

The ``registrations`` role combines every file present, in the catalogue's order: the first (the
national July 2023 file, on LSOA **2011** codes) is carried to LSOA 2021 with the ONS best-fit lookup
(an unchanged or merged LSOA passes its patients to its single 2021 LSOA; a split or irregular one
shares them among its 2021 children in proportion to their Census 2021 population, so counts become
fractional); each later file (October 2025 QNC, LSOA 2021 codes) replaces the rows of the practices it
covers. Rows for pseudo-LSOAs (``NO2011``, ``EMPTY``…), Welsh, Scottish or Northern Irish areas and
codes the lookup does not know are kept with their ``kind``, out of footprints but in list sizes.

The steps below the loaders take frames and return frames, so they can be tested on a toy.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .sources.cache import cached_frame
from .sources.catalogue import Dataset, catalogue
from .sources.inputs import datasets, input_key, unavailable
from .sources.read import read

__all__ = [
    "REGISTRATION_ROLES",
    "available",
    "registrations",
    "lsoa_registrations",
    "registrations_date",
    "list_sizes",
    "lsoa11_weights",
    "to_lsoa21",
    "classify_lsoa21",
    "combine_registrations",
]

log = logging.getLogger("icsgeo")

#: What the combined registrations are built from.
REGISTRATION_ROLES = ("registrations", "lsoa11_lsoa21", "lsoa_population", "lsoa_lookup")


def _role():
    return catalogue().role("registrations")


def available() -> str | None:
    """``None`` when registration files are present and verified, else why not (and how to fix it)."""
    return unavailable(_role())


def _label(entry: Dataset) -> str:
    return f"{entry.vintage} {entry.get('scope', entry.id)}"


def registrations_date() -> str:
    """The dates the registrations were extracted, e.g. ``2023-07-01; QNC 2025-10-01``."""
    used = datasets(_role())
    return "; ".join([used[0].date, *(f"{e.get('scope', e.id)} {e.date}" for e in used[1:])])


def registrations() -> pd.DataFrame:
    """Every combined row (``lsoa21_code, practice_code, patients, source, kind``): ``kind`` says which
    ones footprints may use (``england``). Raises a :class:`icsgeo.DataFileError` without the files."""
    cat = catalogue()
    roles = [cat.role(r) for r in REGISTRATION_ROLES]

    def build() -> pd.DataFrame:
        english = read(datasets(cat.role("lsoa_lookup"))[0])["lsoa21_code"]
        weights = lsoa11_weights(read(datasets(cat.role("lsoa11_lsoa21"))[0]), read(datasets(cat.role("lsoa_population"))[0]))
        parts = []
        for entry in datasets(_role()):
            raw = read(entry)
            frame = to_lsoa21(raw, weights, english) if str(entry.get("lsoa_vintage")) == "2011" else classify_lsoa21(raw, english)
            parts.append((frame, _label(entry)))
        return combine_registrations(parts)

    return cached_frame("registrations", input_key(roles), build)


def lsoa_registrations() -> pd.DataFrame:
    """Registered patients per (LSOA 2021, practice), English LSOAs only.

    Columns: ``lsoa21_code, practice_code, patients`` (float: split LSOAs share patients by
    population) and ``source``. Patients left out (pseudo-LSOAs, Welsh/Scottish/NI areas, codes the
    lookup does not know) are counted in ``.attrs["excluded_patients"]`` (by kind) and logged.
    """
    full = registrations()
    eng = full["kind"] == "england"
    out = full.loc[eng, ["lsoa21_code", "practice_code", "patients", "source"]].reset_index(drop=True)
    excluded = full.loc[~eng].groupby("kind")["patients"].sum()
    out.attrs["excluded_patients"] = {str(k): float(v) for k, v in excluded.items()}
    out.attrs["registrations_date"] = registrations_date()
    log.info(
        "registrations: %.0f patients in English LSOAs; excluded from footprints: %s",
        out["patients"].sum(),
        ", ".join(f"{k} {v:,.0f}" for k, v in out.attrs["excluded_patients"].items()) or "none",
    )
    return out


def list_sizes() -> pd.DataFrame:
    """Registered patients per practice (``practice_code, registered_patients, registered_date``):
    the newest registration file that covers the practice. Raises a :class:`icsgeo.DataFileError`
    without the files."""
    used = datasets(_role())

    def build() -> pd.DataFrame:
        parts = []
        for e in sorted(used, key=lambda e: e.date, reverse=True):
            t = read(e).groupby("practice_code", as_index=False)["patients"].sum()
            t["registered_date"] = pd.Timestamp(e.date)
            parts.append(t)
        out = pd.concat(parts, ignore_index=True).drop_duplicates("practice_code", keep="first")
        return out.rename(columns={"patients": "registered_patients"}).reset_index(drop=True)

    return cached_frame("practice-list-sizes", input_key([_role()]), build)


# ---------------------------------------------------------------------------------------------
# The steps, on frames
# ---------------------------------------------------------------------------------------------


def lsoa11_weights(lookup: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """``lsoa11_code, lsoa21_code, weight``: the share of an LSOA 2011's patients each 2021 child gets.

    U and M rows have one child (weight 1); S and X rows share by the children's Census 2021
    population (equal shares when the children have no population on record).
    """
    lk = lookup[["lsoa11_code", "lsoa21_code"]].drop_duplicates()
    pop = population[["lsoa21_code", "population"]].drop_duplicates("lsoa21_code")
    lk = lk.merge(pop, on="lsoa21_code", how="left")
    p = lk["population"].astype("float64").fillna(0.0)
    total = p.groupby(lk["lsoa11_code"]).transform("sum")
    n = lk.groupby("lsoa11_code")["lsoa21_code"].transform("size").astype("float64")
    weight = np.where(total > 0, p / total.where(total > 0, 1.0), 1.0 / n)
    return pd.DataFrame({"lsoa11_code": lk["lsoa11_code"], "lsoa21_code": lk["lsoa21_code"], "weight": weight})


def _excluded_rows(reg: pd.DataFrame, kind: pd.Series) -> pd.DataFrame:
    """Excluded rows summed by (practice, kind), with no LSOA (kept for practices' list sizes)."""
    ex = pd.DataFrame({"practice_code": reg["practice_code"], "kind": kind.astype("string"), "patients": reg["patients"].astype("float64")})
    ex = ex.groupby(["practice_code", "kind"], as_index=False, sort=False)["patients"].sum()
    ex.insert(0, "lsoa21_code", pd.array([pd.NA] * len(ex), dtype="string"))
    return ex


def to_lsoa21(reg11: pd.DataFrame, weights: pd.DataFrame, english: pd.Series) -> pd.DataFrame:
    """LSOA 2011 registrations (``practice_code, lsoa_code, patients, lsoa_kind``) ->
    ``lsoa21_code, practice_code, patients, kind``.

    Rows of ``lsoa_kind`` other than ``england`` keep their kind; English codes that the lookup does
    not know, or whose 2021 LSOAs are not English, become ``unmatched``. Those rows are summed per
    practice with <NA> ``lsoa21_code``.
    """
    reg = reg11[["practice_code", "lsoa_code", "patients", "lsoa_kind"]]
    is_eng = (reg["lsoa_kind"] == "england").fillna(False).to_numpy(dtype=bool)
    eng = reg[is_eng].merge(weights, left_on="lsoa_code", right_on="lsoa11_code", how="left")
    # a 2011 code the lookup does not know keeps all its patients (weight 1), as "unmatched"
    eng["patients"] = eng["patients"].astype("float64") * eng["weight"].fillna(1.0)
    ok = eng["lsoa21_code"].isin(english).fillna(False).to_numpy(dtype=bool)
    rows = eng[ok].groupby(["lsoa21_code", "practice_code"], as_index=False, sort=False)["patients"].sum()
    rows["kind"] = "england"
    others = pd.concat([reg[~is_eng], eng.loc[~ok, ["practice_code", "lsoa_code", "patients"]].assign(lsoa_kind="unmatched")])
    return pd.concat([rows, _excluded_rows(others, others["lsoa_kind"])], ignore_index=True)


def classify_lsoa21(reg21: pd.DataFrame, english: pd.Series) -> pd.DataFrame:
    """LSOA 2021 registrations -> ``lsoa21_code, practice_code, patients, kind`` (as :func:`to_lsoa21`)."""
    reg = reg21[["practice_code", "lsoa_code", "patients", "lsoa_kind"]]
    ok = ((reg["lsoa_kind"] == "england") & reg["lsoa_code"].isin(english)).fillna(False).to_numpy(dtype=bool)
    rows = reg[ok].groupby(["lsoa_code", "practice_code"], as_index=False, sort=False)["patients"].sum()
    rows = rows.rename(columns={"lsoa_code": "lsoa21_code"})
    rows["patients"] = rows["patients"].astype("float64")
    rows["kind"] = "england"
    others = reg[~ok]
    kind = others["lsoa_kind"].where(others["lsoa_kind"] != "england", "unmatched")
    return pd.concat([rows, _excluded_rows(others, kind)], ignore_index=True)


def combine_registrations(parts: list[tuple[pd.DataFrame, str]]) -> pd.DataFrame:
    """``(frame, source label)`` pairs in order: each later frame replaces the rows of the practices
    it covers. ``lsoa21_code, practice_code, patients, source, kind``."""
    if not parts:
        raise ValueError("combine_registrations needs at least one frame")
    out = parts[0][0].assign(source=parts[0][1])
    for frame, label in parts[1:]:
        covered = pd.Index(frame["practice_code"].unique())
        out = pd.concat([out[~out["practice_code"].isin(covered)], frame.assign(source=label)], ignore_index=True)
    for col in ("lsoa21_code", "practice_code", "kind", "source"):
        out[col] = out[col].astype("string")
    out["patients"] = out["patients"].astype("float64")
    return out[["lsoa21_code", "practice_code", "patients", "source", "kind"]].reset_index(drop=True)
