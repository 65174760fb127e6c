"""The prebuilt answers index: every known postcode with its full answer, per vintage.

Built once from the postcode table (:mod:`icsgeo.locate`) and the vintage's geography, stored as
Parquet sorted by postcode in small row groups with dictionary-encoded columns, and rebuilt
automatically when one of the vintage's **declared inputs** (the catalogue's ``[tiers]`` roles) or
icsgeo's version or code changes: the file name carries a digest of them. An optional input that is
missing is part of that key (``"unavailable"``), so an index built without it is never taken for the
complete one; the tiers it cost are stated in the file's metadata and logged on use.

- A single lookup reads it through Parquet row-group statistics, importing only pyarrow: no pandas,
  geopandas or shapely on that path.
- A bulk lookup joins a whole batch by packed-integer binary search and ``take``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .answer import ANSWER_COLUMNS, nest
from .postcode import normalise_postcode
from .settings import get_settings
from .sources.cache import atomic_write, key_digest
from .sources.catalogue import Vintage, catalogue
from .sources.fetch import locate
from .sources.inputs import input_key, warn_once

__all__ = ["index_path", "build_index", "ensure_index", "records", "answers", "notes", "STORED"]

log = logging.getLogger("icsgeo")

ROW_GROUP = 16_384
_MEMORY: dict = {}  # vintage -> answers table, when the cache could not be written
_NOTES: dict = {}  # vintage -> {tier: why} of the index in use
_WARNED: set = set()
#: Columns stored per postcode (status is the base status; vintage is constant per file).
STORED = [c for c in ANSWER_COLUMNS if c not in ("vintage", "made_from")]


def _vintage(vintage) -> Vintage:
    return catalogue().vintage(vintage)


_PATHS: dict = {}  # (settings, vintage) -> (input stamps, index path): a per-process memo


def index_path(vintage=None) -> Path:
    """Where this vintage's index is (or will be), named by a digest of its declared inputs.

    Computing it hashes no file twice: file hashes are memoised by size and modification time, and
    within a process the answer is kept while no input's size or modification time changes.
    """
    v = _vintage(vintage)
    settings = get_settings()
    cat = catalogue()
    roles = v.inputs()
    located = [locate(cat.get(i)) for r in roles.values() for i in r.datasets]
    stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) if p is not None else None for p in located)
    memo = _PATHS.get((settings, v.key))
    if memo is not None and memo[0] == stamps:
        return memo[1]
    key = {"vintage": v.key, "inputs": input_key(roles, strict=False)}
    path = settings.cache_dir / "index" / f"answers-{v.key}-{key_digest(key)}.parquet"
    _PATHS[(settings, v.key)] = (stamps, path)
    return path


def build_index(vintage=None, *, progress: bool | None = None) -> Path | None:
    """Build (or find) the vintage's index and return its path. Shows a progress bar on a terminal.

    Returns ``None`` when the cache folder cannot be written: the answers are then kept in memory for
    this process. An existing index file that cannot be read (a half-written file from a killed
    build) is removed and rebuilt."""
    import sys

    v = _vintage(vintage)
    path = index_path(v)
    if path.is_file() and _readable(path):
        return path
    show = sys.stderr.isatty() if progress is None else progress
    steps = ["postcodes located", "geography and neighbourhoods", "answers joined", "written"]
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc=f"icsgeo index {v.key}", unit="step", file=sys.stderr)
    t0 = time.perf_counter()

    def step(i: int) -> None:
        if bar is not None:
            bar.set_postfix_str(steps[i])
            bar.update(1)
        log.info("index %s: %s (%.1f s)", v.key, steps[i], time.perf_counter() - t0)

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .answers import attach
    from .tiers import geography
    from .locate import postcode_table, table_status

    table = postcode_table()
    step(0)
    geo = geography(v.key)
    geo.tiers  # noqa: B018  (build now, for the progress bar)
    step(1)
    answered = attach(table, geo, table_status(table))
    step(2)
    out = pa.Table.from_pandas(answered[STORED], preserve_index=False)
    meta = {b"icsgeo.vintage": v.key.encode(), b"icsgeo.notes": json.dumps(geo.notes).encode(),
            b"icsgeo.made_from": geo.made_from.encode()}
    out = out.replace_schema_metadata(meta)

    def write(tmp: Path) -> None:
        pq.write_table(out, tmp, row_group_size=ROW_GROUP, use_dictionary=True, compression="zstd",
                       write_statistics=["postcode"])

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError as exc:  # a read-only or full cache: answer from memory, build again next time
        log.warning("could not write the index to %s (%s): answering from memory this time", path, exc)
        _MEMORY[v.key] = out
        _NOTES[v.key] = dict(geo.notes)
        if bar is not None:
            bar.close()
        return None
    for old in path.parent.glob(f"answers-{v.key}-*.parquet"):  # superseded builds
        if old != path:
            old.unlink(missing_ok=True)
    step(3)
    if bar is not None:
        bar.close()
    log.info("index %s: %d postcodes in %.1f s → %s", v.key, out.num_rows, time.perf_counter() - t0, path)
    return path


def _readable(path: Path) -> bool:
    """A complete Parquet file (its footer reads); anything else is removed, to be rebuilt."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
        return True
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a truncated file
        log.warning("ignoring the unreadable index %s (%s); rebuilding it", path, exc)
        try:
            path.unlink()
        except OSError:
            pass
        return False


def ensure_index(vintage=None) -> Path | None:
    """The index path, building it first when needed; ``None`` if it lives only in memory."""
    v = _vintage(vintage)
    if v.key in _MEMORY:
        return None
    path = index_path(v)
    return path if path.is_file() and _readable(path) else build_index(v)


def notes(vintage=None) -> dict[str, str]:
    """Tier -> why it is missing or degraded in the vintage's index (empty when complete)."""
    v = _vintage(vintage)
    path = ensure_index(v)
    if path is None:
        return dict(_NOTES.get(v.key, {}))
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"icsgeo.notes", b"{}"))


def _warn_once(vintage: str, path: Path | None) -> None:
    """Log the index's degraded tiers once per process (each said once, however it was learnt)."""
    if (vintage, path) in _WARNED:
        return
    _WARNED.add((vintage, path))
    for tier, why in notes(vintage).items():
        warn_once(f"vintage {vintage}: {tier}: {why}")


def records(queries: Sequence[object], vintage=None) -> list[dict]:
    """Answer a few postcodes from the index: one JSON object per query, in order.

    Imports pyarrow only. Builds the index first if it is missing.
    """
    import pyarrow.parquet as pq

    v = _vintage(vintage)
    path = ensure_index(v)
    _warn_once(v.key, path)
    pcs = [normalise_postcode(q) for q in queries]
    wanted = sorted({p for p in pcs if p is not None})
    rows: dict[str, dict] = {}
    pf = None if path is None else pq.ParquetFile(path)  # its footer gives the rows and what they were made from
    made_from = _made_from(_MEMORY[v.key].schema if pf is None else pf.schema_arrow)
    if wanted:
        if pf is None:  # in memory only (unwritable cache)
            import pyarrow as pa
            import pyarrow.compute as pc

            t = _MEMORY[v.key]
            t = t.filter(pc.is_in(t.column("postcode"), value_set=pa.array(wanted, t.column("postcode").type)))
            rows = {r["postcode"]: r for r in t.to_pylist()}
        else:
            rows = _read_rows(pf, wanted)
    out = []
    for q, pc in zip(queries, pcs):
        if pc is None:
            row = {"status": "invalid"}
        else:
            row = rows.get(pc) or {"status": "not_found", "postcode": pc}
        out.append(nest({**row, "query": q, "postcode": pc, "vintage": v.key, "made_from": made_from}))
    return out


def _read_rows(pf, wanted: list[str]) -> dict[str, dict]:
    """Rows of the sorted index for ``wanted`` postcodes, reading only the row groups that can hold
    them (found from the row groups' minimum postcodes). Avoids pyarrow.dataset (and pandas)."""
    from bisect import bisect_right

    md = pf.metadata
    col = pf.schema_arrow.get_field_index("postcode")
    mins = [md.row_group(i).column(col).statistics.min for i in range(md.num_row_groups)]
    groups = sorted({max(bisect_right(mins, pc) - 1, 0) for pc in wanted})
    table = pf.read_row_groups(groups)
    keys = table.column("postcode").to_pylist()
    where = {k: i for i, k in enumerate(keys)}
    return {pc: table.slice(where[pc], 1).to_pylist()[0] for pc in wanted if pc in where}


def _packed(strings):
    """Postcodes (≤ 8 characters) packed into big-endian uint64 (space-padded), so integer order is
    string order and a sorted index can be searched with numpy. Longer or missing values give 0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nbytes = pc.binary_length(strings)
    ok = pc.and_(pc.less_equal(nbytes, 8), pc.equal(nbytes, pc.utf8_length(strings)))  # ASCII, ≤ 8 bytes
    ok = pc.fill_null(ok, False)
    padded = pc.utf8_rpad(pc.if_else(ok, strings, pa.scalar("")), 8, " ")
    fixed = padded.cast(pa.binary()).cast(pa.binary(8))
    words = np.frombuffer(fixed.buffers()[1], dtype=">u8", count=len(fixed), offset=fixed.offset * 8).astype(np.uint64)
    return np.where(ok.to_numpy(zero_copy_only=False), words, np.uint64(0))


def _positions(strings, keys, order):
    """Row of each string in the index (an Arrow int64 array, null where absent)."""
    import pyarrow as pa

    q = _packed(strings)
    i = np.searchsorted(keys, q)
    i = np.minimum(i, len(keys) - 1)
    hit = (keys[i] == q) & (q != 0)
    return pa.array(np.where(hit, order[i], 0), pa.int64(), mask=~hit)


def answers(postcodes, vintage=None, *, _cache: dict = {}):  # noqa: B006  (per-process table cache)
    """Answers for an Arrow array (or list) of raw postcode strings: an Arrow table aligned with the
    input (:data:`icsgeo.answer.ANSWER_COLUMNS`, ``postcode`` normalised). Values that are not in
    pcds form are normalised first; unknown ones are ``not_found``, malformed ones ``invalid``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .postcode import _as_arrow_strings, normalise_arrow

    v = _vintage(vintage)
    path = ensure_index(v)
    _warn_once(v.key, path)
    key = path if path is not None else ("memory", v.key)
    if _cache.get("key") != key:
        if path is None:
            table = _MEMORY[v.key]
        else:
            schema = pq.read_schema(path)
            strings = [f.name for f in schema if f.name != "postcode" and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
            table = pq.read_table(path, read_dictionary=strings)  # names repeat: keep them as dictionaries
            table = table.unify_dictionaries().combine_chunks()  # one chunk: take() never re-concatenates
        keys = _packed(table.column("postcode").combine_chunks().cast(pa.string()))
        order = np.argsort(keys, kind="stable")
        _cache.clear()
        _cache.update(key=key, table=table, keys=keys[order], order=order, made_from=_made_from(table.schema))
    table, keys, order = _cache["table"], _cache["keys"], _cache["order"]
    if not isinstance(postcodes, (pa.Array, pa.ChunkedArray)):
        import pandas as pd

        postcodes = _as_arrow_strings(postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object))
    raw = postcodes.combine_chunks() if isinstance(postcodes, pa.ChunkedArray) else postcodes
    raw = raw.cast(pa.string())
    pos = _positions(raw, keys, order)  # most inputs are already in pcds form
    norm = raw
    miss = pc.is_null(pos)
    if pos.null_count:
        # only the rows not found as given are normalised (lower case, no space, junk…)
        fixed = normalise_arrow(raw.filter(miss))
        norm = pc.replace_with_mask(raw, miss, fixed)
        found = _positions(fixed, keys, order)
        pos = pc.replace_with_mask(pos, miss, found)
    answered = table.take(pos)
    status = answered.column("status").cast(pa.string())
    known = pc.is_valid(pos)
    valid = pc.is_valid(norm)
    status = pc.if_else(known, status, pc.if_else(valid, pa.scalar("not_found"), pa.scalar("invalid")))
    answered = answered.set_column(answered.schema.get_field_index("status"), "status", status)
    answered = answered.set_column(answered.schema.get_field_index("postcode"), "postcode", norm)
    answered = answered.append_column("vintage", pa.repeat(pa.scalar(v.key, pa.string()), len(raw)))
    return answered.append_column("made_from", pa.repeat(pa.scalar(_cache["made_from"], pa.string()), len(raw)))


def _made_from(schema) -> str | None:
    """What the index's answers were made from (its metadata)."""
    meta = schema.metadata or {}
    return meta[b"icsgeo.made_from"].decode() if b"icsgeo.made_from" in meta else None
