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
import threading
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from .answer import ANSWER_COLUMNS, GROUPS, nest, not_found_reason
from .postcode import COUNTRIES, area_countries, area_country, invalid_reason, invalid_reasons, normalise_postcode
from .settings import get_settings
from .sources.cache import atomic_write, build_lock, file_stamp, key_digest
from .sources.catalogue import Vintage, catalogue
from .sources.fetch import locate
from .sources.inputs import input_key, warn_once

#: The examples below read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["index_path", "build_index", "ensure_index", "PostcodeIndex", "postcode_index", "records", "answers",
           "notes", "STORED"]

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
    """Give the path of a vintage's postcode index (whether or not it is built yet).

    The file lives in the cache folder and is named by a digest of the vintage's declared inputs, so
    a changed input (or icsgeo version) names a new file. Computing it hashes no file twice: file
    hashes are memoised by a stamp no user can set (inode, change time, size, modification time:
    :func:`icsgeo.sources.cache.file_stamp`), and within a process the answer is kept while no
    input's stamp changes.

    Parameters
    ----------
    vintage : str or int, optional
        The geography vintage; default the latest.

    Returns
    -------
    pathlib.Path
        ``<cache>/index/answers-<vintage>-<digest>.parquet``.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage``.

    See Also
    --------
    build_index : Build the file at this path.

    Examples
    --------
    >>> import icsgeo
    >>> path = icsgeo.index_path("2026")
    >>> path.parent.name, path.name.startswith("answers-2026-"), path.suffix
    ('index', True, '.parquet')
    """
    v = _vintage(vintage)
    settings = get_settings()
    cat = catalogue()
    roles = v.inputs()
    located = [locate(cat.get(i)) for r in roles.values() for i in r.datasets]
    stamps = tuple((str(p), *file_stamp(p)) if p is not None else None for p in located)
    memo = _PATHS.get((settings, v.key))
    if memo is not None and memo[0] == stamps:
        return memo[1]
    key = {"vintage": v.key, "inputs": input_key(roles, strict=False)}
    path = settings.cache_dir / "index" / f"answers-{v.key}-{key_digest(key)}.parquet"
    _PATHS[(settings, v.key)] = (stamps, path)
    return path


def build_index(vintage=None, *, progress: bool | None = None) -> Path | None:
    """Build (or find) a vintage's postcode index and return its path.

    Shows a progress bar on a terminal. An existing index file that cannot be read (a half-written
    file from a killed build) is removed and rebuilt.

    Bounded: the postcode table is read back from its cache :data:`CHUNK` rows at a time, each chunk
    answered and kept dictionary-encoded, and the file written a chunk of row groups at a time
    (:func:`_write_pieces`): no frame of every answer is ever made, and the file is the one a single
    ``pq.write_table`` of them all would write.

    One process builds a vintage's index at a time (a file lock beside it, which goes with a killed
    process): another that needs it meanwhile waits, saying so, then reads the first's.

    Parameters
    ----------
    vintage : str or int, optional
        The geography vintage; default the latest.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    pathlib.Path or None
        The index's path (:func:`index_path`); ``None`` when the cache folder cannot be written: the
        answers are then kept in memory for this process.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage``.
    DataFileMissingError
        A file the index cannot do without is missing.

    See Also
    --------
    postcode_index : The index in memory.
    export_index : The index as a documented Parquet product.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.build_index("2026") == icsgeo.index_path("2026")
    True
    """
    v = _vintage(vintage)
    path = index_path(v)
    if path.is_file() and _readable(path):
        return path
    with build_lock(path, what=f"the postcode index of vintage {v.key}"):
        if path.is_file() and _readable(path):  # built by another process while this one waited
            return path
        return _build_index(v, path, progress)


def _build_index(v: Vintage, path: Path, progress: bool | None) -> Path | None:
    """The build of :func:`build_index`, under its lock."""
    import sys

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

    from .tiers import geography
    from .locate import postcode_table_parts

    parts = postcode_table_parts(CHUNK)  # built (and cached) now, then read back a chunk at a time
    step(0)
    geo = geography(v.key)
    geo.tiers  # noqa: B018  (build now, for the progress bar)
    step(1)
    pieces = _answered(parts, geo)
    step(2)
    meta = {b"icsgeo.vintage": v.key.encode(), b"icsgeo.notes": json.dumps(geo.notes).encode(),
            b"icsgeo.made_from": geo.made_from.encode()}
    schema = pa.schema(_index_fields(pieces), metadata=meta)
    rows = sum(p.rows for p in pieces)

    def write(tmp: Path) -> None:
        _write_pieces(tmp, pieces, schema)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError as exc:  # a read-only or full cache: answer from memory, build again next time
        log.warning("could not write the index to %s (%s): answering from memory this time", path, exc)
        _MEMORY[v.key] = _whole(pieces, schema)
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
    log.info("index %s: %d postcodes in %.1f s → %s", v.key, rows, time.perf_counter() - t0, path)
    return path


#: Postcodes answered at a time while the index is built (16 row groups): the answers are joined
#: and converted a chunk at a time, so the build never holds a pandas frame of every answer.
CHUNK = 16 * ROW_GROUP


class _Piece(NamedTuple):
    """A chunk of answers until the whole index is written: ``data``, an Arrow table whose repeated
    texts (every column but ``postcode``) are dictionary-encoded (a third of their size: England's
    answers take about 340 MB so), with its ``schema`` as ``pa.Table.from_pandas`` gave it and
    ``filled``: whether each column has a value. (Held as Parquet bytes instead they would take a
    fifth of that, for about 1.5 s more on this machine.)"""

    data: object
    schema: object
    filled: list
    rows: int

    def table(self):
        """The chunk in the types ``from_pandas`` gave it."""
        import pyarrow as pa

        return pa.table([c.cast(t) if c.type != t else c for c, t in zip(self.data.columns, self.schema.types)],
                        schema=self.schema)


def _answered(parts, geo) -> list[_Piece]:
    """Every postcode of the postcode table, given as consecutive ``parts`` (frames), answered
    (:func:`icsgeo.answers.attach`) a part at a time, in order: one :class:`_Piece` of the
    :data:`STORED` columns per part. The answers are those of one ``attach`` of the whole table,
    row by row; only types may differ between pieces, where a column is empty in one (see
    :func:`_index_fields`)."""
    from .answers import attach
    from .locate import table_status

    return [_piece(attach(part, geo, table_status(part))[STORED]) for part in parts]


def _piece(frame) -> _Piece:
    import pyarrow as pa
    import pyarrow.compute as pc

    out = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    text = (pa.types.is_string, pa.types.is_large_string)
    columns = [pc.dictionary_encode(c) if n != "postcode" and any(t(c.type) for t in text) else c
               for n, c in zip(out.column_names, out.columns)]
    return _Piece(pa.table(columns, names=out.column_names), out.schema, [c.null_count < len(c) for c in out.columns],
                  out.num_rows)


def _index_fields(pieces: list[_Piece]) -> list:
    """The index's fields: each column's type as one ``from_pandas`` of every answer would give it,
    that is the type of the first piece where the column has a value (a column with no value in a
    piece may have come out there as null or float), else the first piece's."""
    import pyarrow as pa

    fields = []
    for i, name in enumerate(pieces[0].schema.names):
        typed = [p.schema.types[i] for p in pieces if p.filled[i]]
        fields.append(pa.field(name, typed[0] if typed else pieces[0].schema.types[i]))
    return fields


def _slices(pieces: list[_Piece], schema, rows: int):
    """The answers in ``schema``, in order, ``rows`` at a time (the last slice holds the rest):
    at most one slice and one piece are decoded at once."""
    import pyarrow as pa

    pending, held, given = [], 0, False
    for piece in pieces:
        t = piece.table()
        pending.append(pa.table([c if c.type == f.type else c.cast(f.type) for c, f in zip(t.columns, schema)], schema=schema))
        held += t.num_rows
        while held >= rows:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, rows)
            given = True
            pending, held = [whole.slice(rows)], held - rows
    if held or not given:
        yield pa.concat_tables(pending)


def _write_pieces(path: Path, pieces: list[_Piece], schema, *, row_group: int = ROW_GROUP, groups: int = 16) -> None:
    """Write the pieces as one Parquet file: row groups of ``row_group`` rows, dictionary pages,
    zstd, statistics for ``postcode``; ``groups`` row groups at a time, so that only that many rows
    are ever decoded. The file is the one ``pq.write_table`` of the whole table writes."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, schema, use_dictionary=True, compression="zstd", write_statistics=["postcode"]) as writer:
        for part in _slices(pieces, schema, groups * row_group):
            writer.write_table(part, row_group_size=row_group)


def _whole(pieces: list[_Piece], schema):
    """The answers as one Arrow table (kept in memory when the cache cannot be written)."""
    import pyarrow as pa

    return pa.concat_tables(list(_slices(pieces, schema, CHUNK))).combine_chunks()


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


class PostcodeIndex:
    """One vintage's answers in memory: postcode → answer, one at a time or a whole batch at once.

    Keys are the postcodes packed into sorted ``uint64`` (see :func:`_packed`); a single answer is a
    binary search and a read of each column's value straight from its Arrow buffers (dictionary codes
    and validity bits), so no DataFrame, pandas or Arrow compute call is involved: about 10 µs each.
    :meth:`table` answers a batch as an Arrow table by ``take``. Built from the whole index
    (:func:`postcode_index`, what ``icsgeo serve`` holds) or from the few row groups a fresh process
    reads (:func:`records`); the answers are the same objects either way.
    """

    def __init__(self, table, vintage: str, made_from: str | None):
        import pyarrow as pa

        table = table.unify_dictionaries().combine_chunks()  # one chunk: take() never re-concatenates
        self.vintage, self.made_from, self.arrow = vintage, made_from, table
        keys = _packed_keys(table.column("postcode").combine_chunks())
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self._columns = {name: _reader(table.column(name).chunk(0) if table.column(name).num_chunks else
                                       pa.nulls(0, table.schema.field(name).type))
                         for name in table.column_names if name != "postcode"}
        def none(i):
            return None

        self._plan = [(g.name, self._columns.get(g.fields[0].column, none),
                       [(f.key, self._columns.get(f.column, none)) for f in g.fields]) for g in GROUPS]

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, postcode: str) -> int:
        """The row of a postcode in ``pcds`` form, or -1."""
        if len(postcode) > 8 or not postcode.isascii():
            return -1
        q = np.uint64(int.from_bytes(postcode.ljust(8).encode("ascii"), "big"))
        i = int(self.keys.searchsorted(q))
        return int(self.order[i]) if i < len(self.keys) and self.keys[i] == q else -1

    def answer(self, query: object) -> dict:
        """The JSON object of ``icsgeo where --json`` for one query (any case and spacing)."""
        pc = query if isinstance(query, str) else None
        i = self.row(pc) if pc is not None else -1
        if i < 0:
            pc = normalise_postcode(query)
            i = -1 if pc is None else self.row(pc)
        if i < 0:
            return nest({**self._unknown(query, pc), "query": query, "postcode": pc, "vintage": self.vintage,
                         "made_from": self.made_from})
        rec: dict = {"query": query, "postcode": pc, "status": self._columns["status"](i),
                     "reason": self._columns["reason"](i)}
        for group, first, fields in self._plan:  # a part is null when its first field is
            rec[group] = None if first(i) is None else {key: value(i) for key, value in fields}
        nb = rec["neighbourhood"]
        if nb is not None:
            for k in ("confidence", "runner_up_share"):
                if nb[k] is not None:
                    nb[k] = round(nb[k], 4)
        rec["vintage"], rec["made_from"] = self.vintage, self.made_from
        return rec

    def _unknown(self, query: object, pc: str | None) -> dict:
        """Status, reason and country of a query the index does not hold (as
        :func:`icsgeo.answers.attach` gives them)."""
        if pc is None:
            return {"status": "invalid", "reason": invalid_reason(query)}
        country = area_country(pc)
        if country is not None:
            return {"status": "outside_england", "reason": COUNTRIES[country], "country_code": country,
                    "country_name": COUNTRIES[country]}
        return {"status": "not_found", "reason": not_found_reason(self.made_from)}

    def answers(self, queries: Sequence[object]) -> list[dict]:
        """:meth:`answer` of each query, in order."""
        return [self.answer(q) for q in queries]

    def table(self, postcodes):
        """Answers for an Arrow array of raw postcode strings: an Arrow table aligned with it
        (:data:`~icsgeo.answer.ANSWER_COLUMNS`, ``postcode`` normalised); see :func:`answers`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from .postcode import normalise_arrow

        raw = postcodes.combine_chunks() if isinstance(postcodes, pa.ChunkedArray) else postcodes
        raw = raw.cast(pa.string())
        pos = _positions(raw, self.keys, self.order)  # most inputs are already in pcds form
        norm = raw
        miss = pc.is_null(pos)
        if pos.null_count:
            # only the rows not found as given are normalised (lower case, no space, junk…)
            fixed = normalise_arrow(raw.filter(miss))
            norm = pc.replace_with_mask(raw, miss, fixed)
            found = _positions(fixed, self.keys, self.order)
            pos = pc.replace_with_mask(pos, miss, found)
        answered = self.arrow.take(pos)
        status = answered.column("status").cast(pa.string())
        known = pc.is_valid(pos)
        valid = pc.is_valid(norm)
        away = area_countries(norm)  # Northern Ireland, the Channel Islands, the Isle of Man
        away = pc.if_else(known, pa.scalar(None, pa.string()), away)
        far = pc.is_valid(away)
        status = pc.if_else(known, status, pc.if_else(far, pa.scalar("outside_england"),
                                                      pc.if_else(valid, pa.scalar("not_found"), pa.scalar("invalid"))))
        answered = answered.set_column(answered.schema.get_field_index("status"), "status", status)
        if not pc.all(known).as_py():
            names = pa.array(list(COUNTRIES.values()), pa.string())
            away_name = pc.take(names, pc.index_in(away, value_set=pa.array(list(COUNTRIES), pa.string())))
            reason = answered.column("reason").cast(pa.string())
            reason = pc.if_else(known, reason, pc.if_else(far, away_name, pc.if_else(
                valid, pa.scalar(not_found_reason(self.made_from)), invalid_reasons(raw))))
            answered = answered.set_column(answered.schema.get_field_index("reason"), "reason", reason)
            for name, values in (("country_code", away), ("country_name", away_name)):
                i = answered.schema.get_field_index(name)
                answered = answered.set_column(i, name, pc.coalesce(answered.column(name).cast(pa.string()), values))
        answered = answered.set_column(answered.schema.get_field_index("postcode"), "postcode", norm)
        answered = answered.append_column("vintage", pa.repeat(pa.scalar(self.vintage, pa.string()), len(raw)))
        return answered.append_column("made_from", pa.repeat(pa.scalar(self.made_from, pa.string()), len(raw)))


def _reader(arr):
    """A function of a row number giving one column's Python value (None where null): the
    dictionary code and validity bit read from the Arrow buffers (zero-copy), so a value costs a
    few hundred nanoseconds and the index is held once."""
    import pyarrow as pa

    n, off = len(arr), arr.offset
    if pa.types.is_null(arr.type) or n == 0 or arr.null_count == n:
        return lambda i: None
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.dictionary_encode()
        off = arr.offset
    bits = arr.buffers()[0]
    valid = None if bits is None or arr.null_count == 0 else memoryview(bits)
    if pa.types.is_dictionary(arr.type):
        codes = arr.indices
        data = memoryview(np.frombuffer(codes.buffers()[1], dtype=np.dtype(f"{'u' if pa.types.is_unsigned_integer(codes.type) else ''}int{codes.type.bit_width}"), count=off + n)[off:])
        values = arr.dictionary.to_pylist()
        if valid is None:
            return lambda i: values[data[i]]
        return lambda i: values[data[i]] if valid[(i + off) >> 3] >> ((i + off) & 7) & 1 else None
    if pa.types.is_integer(arr.type) and arr.type.bit_width in (8, 16, 32, 64):
        data = memoryview(np.frombuffer(arr.buffers()[1], dtype=arr.type.to_pandas_dtype(), count=off + n)[off:])
        if valid is None:
            return lambda i: int(data[i])
        return lambda i: int(data[i]) if valid[(i + off) >> 3] >> ((i + off) & 7) & 1 else None
    if pa.types.is_floating(arr.type):
        data = memoryview(np.frombuffer(arr.buffers()[1], dtype=np.float64 if arr.type == pa.float64() else np.float32,
                                        count=off + n)[off:])
        if valid is None:
            return lambda i: None if data[i] != data[i] else float(data[i])
        return lambda i: (None if data[i] != data[i] else float(data[i])) if valid[(i + off) >> 3] >> ((i + off) & 7) & 1 else None
    values = arr.to_pylist()
    return values.__getitem__


_LOADED: dict = {}  # index path (or ("memory", vintage)) -> PostcodeIndex, newest use last
_LOADED_MAX = 3
_LOADING = threading.Lock()


def postcode_index(vintage=None) -> PostcodeIndex:
    """Load a vintage's whole postcode index in memory, kept for the process.

    The fast path of ``icsgeo serve``, and of any program answering postcodes one at a time: a
    :class:`PostcodeIndex` answers one postcode in microseconds, with no DataFrame. The index is
    built first if it is missing.

    Loading takes a few seconds and about 0.5 GB; the :data:`_LOADED_MAX` most recently loaded
    vintages are kept, so alternating vintages do not reload them. Asking again costs a check of the
    inputs' sizes and times (well under a millisecond), so a rebuilt index is picked up.

    Parameters
    ----------
    vintage : str or int, optional
        The geography vintage; default the latest.

    Returns
    -------
    PostcodeIndex
        ``answer(query)`` (the JSON object of ``icsgeo where --json``), ``answers(queries)``,
        ``table(arrow_strings)``; ``len()`` is the number of postcodes held.

    Raises
    ------
    UnknownDatasetError
        An unknown ``vintage``.
    DataFileMissingError
        A file the index cannot do without is missing.

    See Also
    --------
    lookup : A few answers without holding the whole index.

    Examples
    --------
    >>> import icsgeo
    >>> ix = icsgeo.postcode_index()
    >>> ix.vintage
    '2026'
    >>> answer = ix.answer("s1 2he")
    >>> answer["postcode"], answer["neighbourhood"]["code"], answer["place"]["name"]
    ('S1 2HE', 'U39345', 'Sheffield')
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    v = _vintage(vintage)
    if v.key not in _MEMORY:  # held, and still the index of the inputs as they are now: no file read
        path = index_path(v)
        held = _LOADED.get(path)
        if held is not None and path.is_file():
            return held
    path = ensure_index(v)
    _warn_once(v.key, path)
    key = path if path is not None else ("memory", v.key)
    with _LOADING:
        loaded = _LOADED.pop(key, None)
        if loaded is None:
            if path is None:
                table = _MEMORY[v.key]
            else:
                schema = pq.read_schema(path)
                strings = [f.name for f in schema if f.name != "postcode" and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
                table = pq.read_table(path, read_dictionary=strings)  # names repeat: keep them as dictionaries
            for old in [k for k, held in _LOADED.items() if held.vintage == v.key]:
                del _LOADED[old]  # a superseded build of the same vintage
            loaded = PostcodeIndex(table, v.key, _made_from(table.schema))
            while len(_LOADED) >= _LOADED_MAX:
                _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = loaded
    return loaded


def records(queries: Sequence[object], vintage=None) -> list[dict]:
    """Answer a few postcodes from the index: one JSON object per query, in order.

    Imports pyarrow only. Builds the index first if it is missing. A process that holds the
    vintage's index (:func:`postcode_index`) answers from it; otherwise only the row groups that can
    hold the postcodes are read, and answered the same way.
    """
    import pyarrow.parquet as pq

    v = _vintage(vintage)
    path = ensure_index(v)
    _warn_once(v.key, path)
    held = _LOADED.get(path if path is not None else ("memory", v.key))
    if held is None and path is None:
        held = postcode_index(v)
    if held is not None:
        return held.answers(queries)
    pf = pq.ParquetFile(path)  # its footer gives the row groups and what the answers were made from
    wanted = sorted({p for p in (normalise_postcode(q) for q in queries) if p is not None})
    return PostcodeIndex(_row_groups(pf, wanted), v.key, _made_from(pf.schema_arrow)).answers(queries)


def _row_groups(pf, wanted: list[str]):
    """The row groups of the sorted index that can hold ``wanted`` postcodes (found from their
    minimum postcodes), as one Arrow table. Avoids pyarrow.dataset (and pandas)."""
    from bisect import bisect_right

    md = pf.metadata
    col = pf.schema_arrow.get_field_index("postcode")
    mins = [md.row_group(i).column(col).statistics.min for i in range(md.num_row_groups)]
    groups = sorted({max(bisect_right(mins, pc) - 1, 0) for pc in wanted})
    return pf.read_row_groups(groups)


def _packed_keys(strings) -> np.ndarray:
    """:func:`_packed` of the index's own postcodes (an Arrow string array), read from its offset and
    data buffers with numpy alone (Arrow's array and scalar constructors import pandas, which a
    single lookup never does)."""
    import pyarrow as pa

    n = len(strings)
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    _, offsets, data = strings.buffers()
    offsets = np.frombuffer(offsets, dtype=width, count=n + 1 + strings.offset)[strings.offset:].astype(np.int64)
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    length = np.diff(offsets)
    fixed = np.full((n, 8), ord(" "), dtype=np.uint8)
    for k in range(8):  # eight vectorised passes: byte k of every key
        has = length > k
        fixed[has, k] = data[offsets[:-1][has] + k]
    words = fixed.view(">u8").ravel().astype(np.uint64)
    ascii_ = np.ones(n, dtype=bool)
    for k in range(8):
        ascii_ &= fixed[:, k] < 128
    ok = (length <= 8) & ascii_
    if strings.null_count:
        ok &= np.unpackbits(np.frombuffer(strings.buffers()[0], np.uint8), bitorder="little")[strings.offset:strings.offset + n].astype(bool)
    return np.where(ok, words, np.uint64(0))


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


def answers(postcodes, vintage=None):
    """Answers for an Arrow array (or list) of raw postcode strings: an Arrow table aligned with the
    input (:data:`icsgeo.answer.ANSWER_COLUMNS`, ``postcode`` normalised). Values that are not in
    pcds form are normalised first; unknown ones are ``not_found``, malformed ones ``invalid``."""
    import pyarrow as pa

    from .postcode import _as_arrow_strings

    index = postcode_index(vintage)
    if isinstance(postcodes, (pa.Array, pa.ChunkedArray)):
        return index.table(postcodes)
    import pandas as pd
    import pyarrow.compute as pc

    given = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
    strings = _as_arrow_strings(given)
    out = index.table(strings)
    not_text = np.asarray(strings.is_null()) & given.notna().to_numpy()  # numbers and other values: not blank
    if not_text.any():
        i = out.schema.get_field_index("reason")
        out = out.set_column(i, "reason", pc.if_else(pa.array(not_text), pa.scalar("not text"), out.column("reason")))
    return out


def _made_from(schema) -> str | None:
    """What the index's answers were made from (its metadata)."""
    meta = schema.metadata or {}
    return meta[b"icsgeo.made_from"].decode() if b"icsgeo.made_from" in meta else None
