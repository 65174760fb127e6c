"""The modelled neighbourhoods: a list-size-balanced gravity model with neighbour smoothing.

The method is described in :mod:`icsgeo.neighbourhoods`; this module holds its parameters and its
steps, each on arrays or frames (:func:`modelled` is the whole model: frames in, a frame out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from .rules import real

__all__ = [
    "Gravity", "Smoothing", "NO_SMOOTHING", "Candidates", "modelled", "candidates", "attractions", "deterrence",
    "balance", "gravity_shares", "nearest_shares", "pcn_shares", "smooth", "pick",
]  # fmt: skip

# The balanced gravity model's parameters (see the module notes): the modelled-PCN study's fit
# (models e1/e2) on half A of a seed-42 random split of the 42 ICBs against the July 2023
# registration plurality of the unchanged LSOAs. On the held-out half B they agree with the
# plurality for 87.8% of LSOAs (88.3% with the smoothing); out of fold across England 87.4%
# (87.8%), against 82.4% for the nearest practice. ``scripts/accuracy.py`` re-measures them.
#: Candidate practices per LSOA (nearest first); they hold 98.7% of registered flows.
GRAVITY_CANDIDATES = 50
#: Distance decay: f = (d_km + GRAVITY_OFFSET_KM) ** -GRAVITY_EXPONENT.
GRAVITY_EXPONENT = 3.0
GRAVITY_OFFSET_KM = 0.8
#: Deterrence factors for a practice in another Sub-ICB Location / district (LAD) / ward than the LSOA.
OTHER_SICBL_FACTOR = 0.2
OTHER_LAD_FACTOR = 0.3
OTHER_WARD_FACTOR = 0.5
#: Balancing iterations matching every practice's modelled inflow to its list size.
BALANCING_ITERATIONS = 30
#: Neighbour smoothing: nearest LSOA centroids, exp(-d / bandwidth) weights, blend weight m.
SMOOTHING_NEIGHBOURS = 10
SMOOTHING_BANDWIDTH_M = 600.0
SMOOTHING_WEIGHT = 0.35


class Gravity(NamedTuple):
    """Parameters of the balanced gravity model (defaults: the module constants)."""

    exponent: float = GRAVITY_EXPONENT
    offset_km: float = GRAVITY_OFFSET_KM
    other_sicbl: float = OTHER_SICBL_FACTOR
    other_lad: float = OTHER_LAD_FACTOR
    other_ward: float = OTHER_WARD_FACTOR
    candidates: int = GRAVITY_CANDIDATES
    iterations: int = BALANCING_ITERATIONS


class Smoothing(NamedTuple):
    """Parameters of the neighbour smoothing (``weight=0`` switches it off)."""

    neighbours: int = SMOOTHING_NEIGHBOURS
    bandwidth_m: float = SMOOTHING_BANDWIDTH_M
    weight: float = SMOOTHING_WEIGHT


NO_SMOOTHING = Smoothing(weight=0.0)


def modelled(
    lsoas: pd.DataFrame,
    practices: pd.DataFrame,
    *,
    gravity: Gravity = Gravity(),
    smoothing: Smoothing = Smoothing(),
) -> pd.DataFrame:
    """The balanced gravity model (module notes): ``lsoa21_code, pcn_code, confidence, runner_up_pcn_code,
    runner_up_share``.

    ``lsoas``: ``lsoa21_code, sicbl_code, easting, northing`` (the population-weighted centroid), and
    optionally ``population`` (default: equal), ``lad_code``, ``ward_code``. ``practices``:
    ``practice_code, pcn_code, sicbl_code, easting, northing`` and optionally ``is_unallocated``,
    ``list_size`` (missing or not positive: the median of the practice's Sub-ICB Location, see
    :func:`attractions`), ``lad_code``, ``ward_code`` and ``location_sicbl_code`` (used when
    ``sicbl_code`` is not a code of ``lsoas``). A same-area factor applies only when both frames carry
    the column. ``confidence`` is the winner's (smoothed) share of the LSOA's modelled flow. LSOAs with
    no centroid, or when no real-PCN practice has a location, get <NA>. One row per ``lsoas`` row, in order.
    """
    n_lsoa = len(lsoas)
    pcn = pd.array([pd.NA] * n_lsoa, dtype="string")
    out = pd.DataFrame({"lsoa21_code": lsoas["lsoa21_code"].to_numpy(), "pcn_code": pcn,
                        "confidence": np.nan, "runner_up_pcn_code": pcn.copy(), "runner_up_share": np.nan})  # fmt: skip
    c = candidates(lsoas, practices, gravity.candidates)
    if c is None:
        return out
    scores = pcn_shares(c, gravity_shares(c, gravity))
    scores = smooth(c, scores, smoothing)
    win, runner = pick(c, scores)
    codes = np.full(n_lsoa, None, dtype=object)
    codes[c.rows] = c.pcn_codes[c.pair_pcn[win]]
    conf = np.full(n_lsoa, np.nan)
    conf[c.rows] = scores[win]
    second = np.full(n_lsoa, None, dtype=object)
    second[c.rows] = np.where(runner >= 0, c.pcn_codes[c.pair_pcn[np.maximum(runner, 0)]], None)
    out["pcn_code"] = pd.array(codes, dtype="string")
    out["confidence"] = conf
    out["runner_up_pcn_code"] = pd.array(second, dtype="string")
    share = np.full(n_lsoa, np.nan)
    share[c.rows] = np.where(runner >= 0, scores[np.maximum(runner, 0)], np.nan)
    out["runner_up_share"] = share
    return out


@dataclass
class Candidates:
    """The candidate practices of each located LSOA, and the (LSOA, PCN) pairs they make.

    ``m`` located LSOAs (positions ``rows`` in the input frame), ``K`` candidates each (nearest
    first), ``n_practices`` real-PCN practices with a location, ``pairs`` distinct (LSOA, PCN) pairs
    sorted by LSOA then PCN code.
    """

    rows: np.ndarray  # (m,) positions of the located LSOAs in the input frame
    xy: np.ndarray  # (m, 2) their centroids (metres)
    population: np.ndarray  # (m,)
    practice: np.ndarray  # (m, K) candidate practices (positions in practice_codes)
    d_km: np.ndarray  # (m, K) distances, km
    other_sicbl: np.ndarray | None  # (m, K) bool; None when the frames cannot say
    other_lad: np.ndarray | None
    other_ward: np.ndarray | None
    practice_codes: np.ndarray  # (n_practices,)
    size: np.ndarray  # (n_practices,) list sizes rescaled to the LSOAs' population
    pcn_codes: np.ndarray  # (n_pcns,) sorted
    pair: np.ndarray  # (m * K,) the pair of each candidate
    pair_row: np.ndarray  # (pairs,) LSOA (0..m-1)
    pair_pcn: np.ndarray  # (pairs,) PCN (position in pcn_codes)


def _codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    """Integer codes of ``values`` in ``vocabulary`` (-1 for <NA> or unknown)."""
    return vocabulary.get_indexer(values.astype("string").astype(object).where(values.notna(), None))


def _differs(lsoas: pd.DataFrame, practices: pd.DataFrame, column: str, practice: np.ndarray,
             practice_values: pd.Series | None = None) -> np.ndarray | None:  # fmt: skip
    """(m, K): is candidate practice in another ``column`` area than the LSOA? None if a frame lacks
    the column. An unknown code on either side counts as another area."""
    if column not in lsoas or (practice_values is None and column not in practices):
        return None
    pv = practices[column] if practice_values is None else practice_values
    vocab = pd.Index(pd.concat([lsoas[column], pv]).dropna().astype("string").unique())
    lc = _codes(lsoas[column], vocab)
    pc = _codes(pv, vocab)[practice]
    return (pc != lc[:, None]) | (pc < 0) | (lc[:, None] < 0)


def attractions(practices: pd.DataFrame) -> pd.Series:
    """List sizes: ``list_size`` where known and positive, else the median of the known sizes of the
    practice's Sub-ICB Location, else the national median (1.0 when no size is known at all)."""
    if "list_size" not in practices:
        return pd.Series(1.0, index=practices.index)
    size = pd.to_numeric(practices["list_size"], errors="coerce").astype("float64")
    size = size.where(size > 0)
    by_sicbl = size.groupby(practices["sicbl_code"].astype(object).fillna("")).transform("median")
    national = size.median()
    return size.fillna(by_sicbl).fillna(national if np.isfinite(national) else 1.0)


def candidates(lsoas: pd.DataFrame, practices: pd.DataFrame, k: int) -> Candidates | None:
    """The ``k`` nearest real-PCN practices of every LSOA with a centroid (None if nothing to model)."""
    from scipy.spatial import cKDTree

    size_all = attractions(practices)
    keep = (real(practices) & practices["easting"].notna() & practices["northing"].notna()).to_numpy(dtype=bool)
    cand = practices.loc[keep].reset_index(drop=True)
    size = size_all.to_numpy(dtype="float64")[keep]
    lxy = lsoas[["easting", "northing"]].to_numpy(dtype="float64")
    rows = np.flatnonzero(np.isfinite(lxy).all(axis=1))
    if cand.empty or len(rows) == 0:
        return None
    located = lsoas.iloc[rows].reset_index(drop=True)
    k = min(k, len(cand))
    dist, practice = cKDTree(cand[["easting", "northing"]].to_numpy(dtype="float64")).query(lxy[rows], k=k)
    dist, practice = dist.reshape(len(rows), k), practice.reshape(len(rows), k)
    if "population" in located:
        population = pd.to_numeric(located["population"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    else:
        population = np.ones(len(rows))
    if size.sum() > 0 and population.sum() > 0:
        size = size * population.sum() / size.sum()
    # a practice's Sub-ICB Location: its ODS commissioner; where the map's code is not one the LSOAs
    # use (recoded by a later reorganisation), the Sub-ICB Location of its location
    sicbl = cand["sicbl_code"].astype("string")
    if "location_sicbl_code" in cand:
        sicbl = sicbl.where(sicbl.isin(located["sicbl_code"].dropna()).fillna(False), cand["location_sicbl_code"].astype("string"))
    pcn_codes, pcn_of = np.unique(cand["pcn_code"].astype(str).to_numpy(), return_inverse=True)
    n_pcn = len(pcn_codes)
    key = (np.arange(len(rows), dtype=np.int64)[:, None] * n_pcn + pcn_of[practice]).ravel()
    keys, pair = np.unique(key, return_inverse=True)
    return Candidates(
        rows=rows, xy=lxy[rows], population=population, practice=practice, d_km=dist / 1000.0,
        other_sicbl=_differs(located, cand, "sicbl_code", practice, sicbl),
        other_lad=_differs(located, cand, "lad_code", practice),
        other_ward=_differs(located, cand, "ward_code", practice),
        practice_codes=cand["practice_code"].astype(str).to_numpy(), size=size, pcn_codes=pcn_codes,
        pair=pair.ravel(), pair_row=keys // n_pcn, pair_pcn=keys % n_pcn,
    )  # fmt: skip


def deterrence(c: Candidates, g: Gravity) -> np.ndarray:
    """f = (d_km + offset)^-exponent x the other-area factors, (m, K)."""
    f = (c.d_km + g.offset_km) ** -g.exponent
    for other, factor in ((c.other_sicbl, g.other_sicbl), (c.other_lad, g.other_lad), (c.other_ward, g.other_ward)):
        if other is not None and factor != 1.0:
            f = f * np.where(other, factor, 1.0)
    return f


def balance(c: Candidates, f: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Balancing factors A (one per practice) and each LSOA's flow shares A_j S_j f_ij / sum (m, K).

    Each iteration scales A_j by S_j / (modelled inflow of j), so every practice that is someone's
    candidate ends with an inflow close to its list size S_j."""
    n_practices = len(c.size)
    flat = c.practice.ravel()
    balance = np.ones(n_practices)

    def shares() -> np.ndarray:
        w = (balance * c.size)[c.practice] * f
        total = w.sum(axis=1, keepdims=True)
        return np.divide(w, total, out=np.zeros_like(w), where=total > 0)

    for _ in range(iterations):
        inflow = np.bincount(flat, weights=(shares() * c.population[:, None]).ravel(), minlength=n_practices)
        balance *= np.where(inflow > 0, c.size / np.maximum(inflow, 1e-12), 1.0)
    return balance, shares()


def gravity_shares(c: Candidates, g: Gravity) -> np.ndarray:
    """Each LSOA's share of its modelled flow going to each candidate practice, (m, K)."""
    return balance(c, deterrence(c, g), g.iterations)[1]


def nearest_shares(c: Candidates) -> np.ndarray:
    """The nearest-practice baseline as shares: all the flow to the nearest candidate."""
    s = np.zeros(c.practice.shape)
    s[:, 0] = 1.0
    return s


def pcn_shares(c: Candidates, shares: np.ndarray) -> np.ndarray:
    """Practice shares summed by (LSOA, PCN) pair."""
    return np.bincount(c.pair, weights=shares.ravel(), minlength=len(c.pair_row))


def smooth(c: Candidates, scores: np.ndarray, sm: Smoothing) -> np.ndarray:
    """(1 - m) s_ip + m sum_k w_ik s_kp over the LSOA's nearest LSOA centroids, w ~ exp(-d / h)
    normalised; scored only for the LSOA's own pairs."""
    import scipy.sparse as sparse
    from scipy.spatial import cKDTree

    m = len(c.rows)
    k = min(sm.neighbours, m - 1)
    if sm.weight <= 0 or k < 1:
        return scores
    dist, near = cKDTree(c.xy).query(c.xy, k=k + 1)
    # drop each LSOA itself (usually the first; with duplicate centroids maybe not), keep k others
    keep = np.argsort(near == np.arange(m)[:, None], axis=1, kind="stable")[:, :k]
    dist, near = np.take_along_axis(dist, keep, axis=1), np.take_along_axis(near, keep, axis=1)
    w = np.exp(-dist / sm.bandwidth_m)
    w = w / w.sum(axis=1, keepdims=True)
    n_pcn = len(c.pcn_codes)
    shares = sparse.csr_matrix((scores, (c.pair_row, c.pair_pcn)), shape=(m, n_pcn))
    weights = sparse.csr_matrix((w.ravel(), (np.repeat(np.arange(m), k), near.ravel())), shape=(m, m))
    around = (weights @ shares).tocoo()
    around_key = around.row.astype(np.int64) * n_pcn + around.col
    order = np.argsort(around_key, kind="stable")
    around_key, around_val = around_key[order], around.data[order]
    key = c.pair_row.astype(np.int64) * n_pcn + c.pair_pcn
    pos = np.minimum(np.searchsorted(around_key, key), max(len(around_key) - 1, 0))
    found = (around_key[pos] == key) if len(around_key) else np.zeros(len(key), dtype=bool)
    neighbours = np.where(found, around_val[pos] if len(around_key) else 0.0, 0.0)
    return (1.0 - sm.weight) * scores + sm.weight * neighbours


def pick(c: Candidates, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The winning pair of every LSOA (largest score; ties: the lowest PCN code) and the runner-up
    pair (-1 when the LSOA has one candidate PCN)."""
    order = np.lexsort((c.pair_pcn, -scores, c.pair_row))
    row = c.pair_row[order]
    first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    nxt = np.minimum(first + 1, len(order) - 1)
    has_runner = (first + 1 < len(order)) & (row[nxt] == row[first])
    return order[first], np.where(has_runner, order[nxt], -1)


