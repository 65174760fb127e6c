"""Neighbourhood (Primary Care Network) footprints built from LSOA 2021 areas.

A PCN is a list of GP practices, not an area: its footprint has to be derived. icsgeo gives every one
of England's 33,755 LSOAs (2021) to exactly one PCN of a chosen practice map (the NHS practice -> PCN
file of a given month), and says how, how sure, and from which data dates.

Method ``"registrations"`` (the published precedent, Beaney et al. 2022, majority-LSOA)
    Registered patients by practice x LSOA are grouped by the PCN each practice belongs to **in the
    chosen practice map**; the LSOA goes to the PCN holding most of its patients (ties: the lowest PCN
    code), and ``confidence`` is that PCN's share of the LSOA's patients registered at practices in
    real PCNs of the map. Practices absent from the map (closed since the registration extract) and
    practices in the ``U`` "Unallocated" pseudo-PCN count for no PCN, neither in the numerator nor in
    the denominator. The registrations combine two extracts:

    * the national July 2023 file (LSOA **2011** codes), converted to LSOA 2021 with the ONS best-fit
      lookup: an unchanged (U) or merged (M) LSOA passes its patients to its single 2021 LSOA; a split
      (S) or irregular (X) LSOA shares them among its 2021 children in proportion to the children's
      Census 2021 population (so counts become fractional, kept as floats);
    * the October 2025 file for Staffordshire and Stoke-on-Trent (QNC, LSOA 2021 codes), which
      replaces every 2023 row of the practices it covers.

    Rows for pseudo-LSOAs (``NO2011``, ``EMPTY``…), Welsh, Scottish or Northern Irish areas, and
    codes the lookup does not know are left out of footprints but counted
    (:func:`icsgeo.registrations.lsoa_registrations` ``.attrs["excluded_patients"]``, and the log).
    An LSOA with no patients at real-PCN practices falls back to the modelled answer.

Method ``"modelled"`` (for data newer than the registrations, or users without them)
    A list-size-balanced gravity model (a production-attraction constrained spatial interaction
    model), then a light neighbour smoothing. For every LSOA i (its population-weighted centroid) the
    ``K = 50`` nearest practices j of the map's real PCNs are candidates, with deterrence::

        f_ij = (d_ij + 0.8 km)^-3  x 0.2 if j is in another Sub-ICB Location
                                   x 0.3 if j is in another local authority district
                                   x 0.5 if j is in another ward

    The practices' list sizes S_j (registered patients, rescaled so they sum to the LSOAs'
    population) are the attractions; 30 balancing iterations find factors A_j so that every
    practice's modelled inflow matches its list size::

        T_ij = pop_i * A_j S_j f_ij / sum_j' A_j' S_j' f_ij'          A_j <- A_j * S_j / sum_i T_ij

    The flows are summed by PCN, giving each LSOA's PCN shares s_ip (they sum to 1). Smoothing then
    blends each LSOA's shares with those of its 10 nearest LSOA centroids, weighted exp(-d / 600 m)
    and normalised: s'_ip = 0.65 s_ip + 0.35 sum_k w_ik s_kp (only the PCNs the LSOA's own candidates
    belong to are scored). The LSOA goes to the PCN with the largest s' (ties: the lowest PCN code),
    and ``confidence`` is that share: the winner's share of the LSOA's modelled patient flow, after
    smoothing (1.0 when only one PCN is a candidate; below 0.5 when several PCNs split the flow).

    Parameters were fitted on 21 of the 42 ICBs and scored on the other 21, both ways, against the
    registration plurality of the 31,810 unchanged LSOAs (July 2023 registrations, ePCN membership
    as at 2023-07-01; ``scripts/accuracy.py``): 87.4% agreement out of fold across England for the
    gravity model, 87.8% with the smoothing, against 82.4% for the nearest practice. With the January
    2026 practice map against the registrations method, 87.2% (nearest practice 81.5%). The
    confidence is informative: ~99.6% agreement when it is at least 0.8 (38% of LSOAs), ~64% below
    0.5 (25%).

    Inputs: a practice's location is its postcode (OS Code-Point Open, then the ONS NSPL); its ward
    and district are those of the LSOA 2021 holding that point (:func:`icsgeo.locate.lsoa_of_points`,
    checked against Code-Point's official district); its Sub-ICB Location is its ODS commissioner in
    the practice map (or, for a code the LSOA lookup does not know, that of its location); its list
    size is :func:`icsgeo.registrations.list_sizes` (all its registered patients, wherever they
    live), and a practice with no registration data gets the median list size of its Sub-ICB
    Location's practices. The scoring lives in :func:`icsgeo.neighbourhoods.gravity.modelled` and its steps.

An LSOA that neither method can claim (no registrations and no centroid or no located practice) is
kept with ``pcn_code`` <NA> and ``method == "unassigned"``: reported, never dropped. Every row and
table states the registration and practice-map dates it was made from.


Defaults: the practice map is the latest vintage's (the catalogue's ``practice_map`` role; with
``as_at``, the grouping in force on that day: :mod:`icsgeo.neighbourhoods.membership`), and the
method is ``registrations`` when registration files are present, else ``modelled`` (logged, with the
file that is missing and where to get it): :func:`icsgeo.footprints`, ``geography().neighbourhoods``
and ``icsgeo neighbourhoods`` all agree.

>>> a = neighbourhood_lsoas()
>>> len(a), a["lsoa21_code"].is_unique, set(a["method"]) <= {"registrations", "modelled", "unassigned"}
(33755, True, True)
"""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import pandas as pd

from .. import areas
from ..locate import LOCATE_ROLES, locate_postcodes
from ..registrations import REGISTRATION_ROLES, list_sizes, lsoa_registrations, registrations, registrations_date
from ..registrations import available as registrations_available
from ..sources.cache import cached_frame
from ..sources.catalogue import Dataset, catalogue
from ..sources.inputs import datasets, input_key, warn_unavailable
from ..sources.read import read
from .gravity import modelled
from .membership import Membership, membership
from .rules import assign_lsoas, dissolve_footprints, pcn_table, plurality, restrict

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = [
    "METHODS",
    "MODEL_ROLES",
    "neighbourhood_lsoas",
    "neighbourhood_table",
    "footprints",
    "unassigned_lsoas",
    "membership",
    "Membership",
    "resolve_method",
    "prepare_practices",
    "model_inputs",
]

log = logging.getLogger("icsgeo")

#: The footprint methods: registrations (with a modelled fallback) or modelled only.
METHODS = ("registrations", "modelled")
#: What the modelled method reads besides the practice map: the LSOAs (centroids, parents,
#: population), the practices' postcodes located in them, and list sizes when registrations exist.
MODEL_ROLES = ("lsoa_lookup", "lsoa_population", "lsoa_centroids", "lsoa_wards", *LOCATE_ROLES, "registrations")

_LSOA_COLUMNS = [
    "lsoa21_code", "pcn_code", "pcn_name", "method", "confidence", "patients", "runner_up_pcn_code",
    "runner_up_share", "registrations_date", "practice_map_date",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Defaults and checks
# ---------------------------------------------------------------------------------------------


def resolve_method(method: str | None = None) -> str:
    """The footprint method: the one asked for (checked), or ``registrations`` when registration
    files are present and ``modelled`` otherwise (with a warning naming what is missing)."""
    if method is None:
        return "registrations" if warn_unavailable(catalogue().role("registrations")) is None else "modelled"
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not known; use one of: {', '.join(METHODS)}")
    return method


def _key(members: Membership, method: str) -> dict:
    """What a neighbourhood layer is made from: the membership's files, the method and its inputs."""
    cat = catalogue()
    names = dict.fromkeys(MODEL_ROLES + (REGISTRATION_ROLES if method == "registrations" else ()))
    if method == "registrations":
        datasets(cat.role("registrations"))  # required by this method: raises naming the file
    return {"practice_map": members.key(), "method": method, "inputs": input_key([cat.role(n) for n in names])}


# ---------------------------------------------------------------------------------------------
# Verbs
# ---------------------------------------------------------------------------------------------


def neighbourhood_lsoas(practice_map: str | Dataset | Membership | None = None, method: str | None = None, *,
                       as_at=None) -> pd.DataFrame:
    """Give every English LSOA 2021 (33,755) the PCN of a practice map it belongs to: exactly one row each.

    How an LSOA is given to a PCN (``registrations`` or ``modelled``) is in the module's notes; an
    LSOA neither method can claim is kept with ``pcn_code`` <NA> and ``method == "unassigned"``.
    Cached by the input files' sha256, the practice map and the method.

    Parameters
    ----------
    practice_map : str, Dataset or Membership, optional
        The practice map (a dataset id, or its catalogue entry) that says which practices form each
        PCN; default the latest vintage's.
    method : {"registrations", "modelled"}, optional
        Default ``registrations`` when registration files are present, else ``modelled`` (logged,
        with the file that is missing).
    as_at : str or datetime.date, optional
        The practices as grouped on that day (:func:`icsgeo.neighbourhoods.membership.membership`).

    Returns
    -------
    pandas.DataFrame
        ``lsoa21_code, pcn_code, pcn_name, method`` (``registrations``/``modelled``/``unassigned``),
        ``confidence`` (winning share, see the module notes), ``patients`` (the LSOA's patients at
        real-PCN practices; <NA> for ``method="modelled"``), ``runner_up_pcn_code`` and
        ``runner_up_share`` (its share, as ``confidence`` is the winner's), ``registrations_date``
        (<NA> when no registrations were used) and ``practice_map_date``.

    Raises
    ------
    UnknownDatasetError
        An unknown practice map, or a dataset that is not one.
    DataFileMissingError
        A file the method cannot do without is missing.
    DataFileError
        No practice map for ``as_at`` and no PCN history to group the practices as at that day.
    ValueError
        An unknown ``method``.

    See Also
    --------
    neighbourhood_table : One row per PCN.
    footprints : The PCNs' polygons, with their place and system.

    Examples
    --------
    >>> import icsgeo
    >>> a = icsgeo.neighbourhood_lsoas()
    >>> len(a), a["lsoa21_code"].is_unique
    (33755, True)
    >>> a.loc[a["lsoa21_code"] == "E01033264", ["pcn_code", "method"]].values.tolist()
    [['U39345', 'registrations']]
    """
    members = membership(practice_map, as_at=as_at)
    how = resolve_method(method)
    return cached_frame("neighbourhoods.lsoas", _key(members, how), lambda: _build_lsoas(members, how))


def neighbourhood_table(practice_map: str | Dataset | Membership | None = None, method: str | None = None, *,
                        as_at=None) -> pd.DataFrame:
    """List the real PCNs of a practice map, one row each (never the ``U`` pseudo-PCN).

    Each PCN with its Sub-ICB Location and ICB (the mode over its practices), its practices, its
    registered patients and its footprint's size and coverage. Cached like
    :func:`neighbourhood_lsoas`.

    Parameters
    ----------
    practice_map : str, Dataset or Membership, optional
        The practice map; default the latest vintage's.
    method : {"registrations", "modelled"}, optional
        The footprint method (see :func:`neighbourhood_lsoas`).
    as_at : str or datetime.date, optional
        The practices as grouped on that day.

    Returns
    -------
    pandas.DataFrame
        ``pcn_code, pcn_name, sicbl_code, sicbl_ods_code, icb_code, icb_ods_code``, ``practices``,
        ``practice_codes`` (";"-joined), ``registered_patients`` (all patients registered at its
        practices in the registration data, any LSOA; <NA> without it), ``lsoas`` and
        ``footprint_population`` (Census 2021) of its footprint, ``coverage`` (share of its registered
        patients living in its footprint; <NA> without registrations), ``method``
        (``registrations``/``modelled``/``mixed``; <NA> for a PCN with no footprint),
        ``registrations_date``, ``practice_map_date``.

    Raises
    ------
    UnknownDatasetError
        An unknown practice map, or a dataset that is not one.
    DataFileMissingError
        A file the method cannot do without is missing.
    ValueError
        An unknown ``method``.

    See Also
    --------
    neighbourhood_lsoas : The LSOA-to-PCN assignment.

    Examples
    --------
    >>> import icsgeo
    >>> t = icsgeo.neighbourhood_table()
    >>> t["pcn_code"].is_unique, bool(t["pcn_code"].str.startswith("U").all())
    (True, True)
    >>> t.loc[t["pcn_code"] == "U39345", ["pcn_name", "icb_ods_code", "practices"]].values.tolist()
    [['UOS STUDENT PCN', 'QF7', 1]]
    """
    members = membership(practice_map, as_at=as_at)
    how = resolve_method(method)
    key = {**_key(members, how), "registrations": input_key([catalogue().role("registrations")])}
    return cached_frame("neighbourhoods.pcns", key, lambda: _build_table(members, how))


def footprints(practice_map: str | Dataset | Membership | None = None, method: str | None = None,
               lsoa_codes: Iterable[str] | None = None, *, as_at=None):
    """One polygon per PCN, dissolved from the LSOA 2021 shapes (EPSG:27700).

    ``lsoa_codes`` restricts the footprints to those LSOAs (e.g. one system's). Columns: ``pcn_code,
    pcn_name, method, lsoas, confidence`` (population-weighted mean), ``footprint_population``,
    ``parts`` (polygon parts), ``contiguous`` (one part), ``registrations_date``,
    ``practice_map_date``, ``geometry``. ``.attrs["unassigned"]`` lists the LSOAs with no PCN and
    ``.attrs["dissolve"]`` says how the polygons were merged (see :func:`icsgeo.areas.dissolve`).
    """
    import geopandas

    assignment = restrict(neighbourhood_lsoas(practice_map, method, as_at=as_at), lsoa_codes)
    polys = areas.lsoa_shapes()[["code", "geometry"]].rename(columns={"code": "lsoa21_code"})
    pop = areas.lsoa_base()[["lsoa21_code", "population"]]
    gdf = geopandas.GeoDataFrame(
        assignment.merge(polys, on="lsoa21_code", how="left").merge(pop, on="lsoa21_code", how="left"),
        geometry="geometry",
        crs=polys.crs,
    )
    out = dissolve_footprints(gdf)
    out.attrs["unassigned"] = assignment.loc[assignment["pcn_code"].isna(), "lsoa21_code"].tolist()
    if out.attrs["unassigned"]:
        log.warning("footprints: %d LSOAs have no PCN: %s", len(out.attrs["unassigned"]), out.attrs["unassigned"][:10])
    return out


def unassigned_lsoas(practice_map: str | Dataset | Membership | None = None, method: str | None = None,
                     lsoa_codes: Iterable[str] | None = None, *, as_at=None) -> pd.DataFrame:
    """The rows of :func:`neighbourhood_lsoas` (optionally restricted to ``lsoa_codes``) with no PCN."""
    assignment = restrict(neighbourhood_lsoas(practice_map, method, as_at=as_at), lsoa_codes)
    return assignment[assignment["pcn_code"].isna()].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Loaders (these read files; everything they call works on frames)
# ---------------------------------------------------------------------------------------------


def _practice_map_date(practice_map: pd.DataFrame, members: Membership) -> str:
    if members.as_at is not None:
        return members.as_at
    dates = practice_map["extract_date"].dropna()
    return dates.max().date().isoformat() if len(dates) else members.date


def model_inputs(practice_map: str | Dataset | Membership | None = None, *, as_at=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames the modelled method reads: the English LSOAs 2021 (``lsoa21_code, sicbl_code,
    lad_code, ward_code, population, easting, northing``: the population-weighted centroid) and the
    membership's practices made ready by :func:`prepare_practices`."""
    members = membership(practice_map, as_at=as_at)
    cols = ["lsoa21_code", "sicbl_code", "lad_code", "ward_code", "population", "easting", "northing"]
    return areas.lsoa_base()[cols].reset_index(drop=True), prepare_practices(members.frame(), label=members.id)


def prepare_practices(pmap: pd.DataFrame, *, label: str = "practices", sizes: pd.Series | None = None) -> pd.DataFrame:
    """Add what the modelled method needs to a practice frame (``practice_code, postcode, pcn_code,
    sicbl_code``, ...): ``easting, northing, location_source`` (the postcode table's role),
    ``location_lsoa21_code`` and that LSOA's ``lad_code, ward_code, location_sicbl_code``, and
    ``list_size`` (``sizes`` by practice code; default: the registrations' list sizes, <NA> without)."""
    located = locate_postcodes(pmap["postcode"].astype(object))
    out = pmap.reset_index(drop=True).copy()
    has = located["has_location"].fillna(False).to_numpy(dtype=bool)
    out["easting"] = located["easting"].where(has).to_numpy(dtype="float64")
    out["northing"] = located["northing"].where(has).to_numpy(dtype="float64")
    out["location_source"] = pd.array(located["source"].where(has).to_numpy(dtype=object), dtype="string")
    missing = out.loc[~has, "practice_code"]
    if len(missing):
        log.info("%s: %d practices have no location from their postcode: %s", label, len(missing), list(missing[:10]))
    base = areas.lsoa_base().set_index("lsoa21_code")
    lsoa = pd.Series(located["lsoa21_code"].where(has).to_numpy(dtype=object), index=out.index)
    out["location_lsoa21_code"] = lsoa.astype("string")
    out["lad_code"] = lsoa.map(base["lad_code"]).astype("string")
    out["ward_code"] = lsoa.map(base["ward_code"]).astype("string")
    out["location_sicbl_code"] = lsoa.map(base["sicbl_code"]).astype("string")
    if sizes is None:
        sizes = _list_sizes()
    out["list_size"] = out["practice_code"].map(sizes).astype("float64") if sizes is not None else np.nan
    return out


def _list_sizes() -> pd.Series | None:
    """Registered patients by practice code; None, with a warning, when no registration file is
    available (the model then treats practices as equal)."""
    if warn_unavailable(catalogue().role("registrations")) is not None:
        return None
    return list_sizes().set_index("practice_code")["registered_patients"].astype("float64")


def _build_lsoas(members: Membership, method: str) -> pd.DataFrame:
    lsoas, practices = model_inputs(members)
    votes = plurality(lsoa_registrations(), practices) if method == "registrations" else None
    out = assign_lsoas(lsoas, practices, votes, modelled(lsoas, practices))
    out["registrations_date"] = pd.array([registrations_date() if votes is not None else pd.NA] * len(out), dtype="string")
    out["practice_map_date"] = pd.array([_practice_map_date(practices, members)] * len(out), dtype="string")
    _log_summary(out, members.id, method)
    return out[_LSOA_COLUMNS]


def _build_table(members: Membership, method: str) -> pd.DataFrame:
    pmap = members.frame()
    assignment = neighbourhood_lsoas(members, method)
    with_registrations = registrations_available() is None
    regs = registrations() if with_registrations else None
    out = pcn_table(pmap, assignment, regs, areas.lsoa_base()[["lsoa21_code", "population"]])
    out["registrations_date"] = pd.array([registrations_date() if with_registrations else pd.NA] * len(out), dtype="string")
    out["practice_map_date"] = pd.array([_practice_map_date(pmap, members)] * len(out), dtype="string")
    return out


def _log_summary(out: pd.DataFrame, map_id: str, method: str) -> None:
    shares = out["method"].value_counts(normalize=True).round(4).to_dict()
    log.info(
        "neighbourhoods (%s, %s): %d LSOAs; by method %s; median confidence %.3f; unassigned %d",
        map_id, method, len(out), shares, out["confidence"].median(), int(out["pcn_code"].isna().sum()),
    )  # fmt: skip
