"""Content-keyed cache: file hashes, derived Parquet/GeoParquet layers, and the one atomic writer.

**Hashes.** A file's sha256 is remembered in ``<cache>/file-hashes.json`` under a stamp no user can set:
device, inode, change time (``st_ctime_ns``: set by the kernel on every write, rename or ``utime``),
size and modification time. An edit in place that keeps the size and modification time (bit rot,
``cp -p``, ``touch -r``) changes the change time, so the file is hashed again. A file hashed less than
:data:`RACY_NS` after its last change is not remembered (a second change in the same clock tick would
keep its stamp: git's "racily clean" entries). On Windows ``os.stat`` has no change time (``st_ctime``
is the creation time, which programs can set), so the memo is not trusted there: each process hashes
each file once. :func:`sha256_file` with ``rehash=True`` (``icsgeo data``) hashes afresh and, when the
memo was wrong all the same, removes every derived layer (they may have been built from other bytes).

**Derived layers** are stored under ``<cache>/derived/`` with a name made of a readable stem and a digest
of everything that determines their content (input file hashes, parameters, icsgeo version). A layer is
stored only when every input file named in its key (by hash) has the stamp it had when it was hashed
until the build is over: the bytes it was built from are the bytes hashed. One process builds a layer
at a time (:func:`build_lock`, a file lock: it goes with a killed process); the others wait, then read it.

**Writes** (layers, the memo) go through :func:`icsgeo.files.atomic_write`, as every output icsgeo writes
does: whole or not at all.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from .._version import __version__
from ..files import _lock, _try_lock, atomic_write, atomic_write_bytes, check_output, output_error, sweep_temporaries  # noqa: F401 - re-exported
from ..settings import get_settings

log = logging.getLogger("icsgeo")

T = TypeVar("T")

_HASH_MEMO = "file-hashes.json"
#: A file whose last change is less than this (ns) before it was hashed is not remembered on disk.
RACY_NS = 2_000_000_000
#: Whether the disk memo may skip hashing (it needs a change time no user can set: not on Windows).
TRUST_MEMO = os.name != "nt"
_HEX64 = re.compile(r"[0-9a-f]{64}")

_MEMO: dict[str, Any] = {}  # the hash memo as read from disk once per process (path -> table)
#: resolved path -> (stamp, digest, racy): every hash computed or trusted in this process
_SEEN: dict[str, tuple[tuple, str, bool]] = {}
_SEEN_LOCK = threading.Lock()
_MEMO_LOCK = threading.Lock()


def _memo_table(memo_path: Path) -> dict[str, Any]:
    key = str(memo_path)
    if key not in _MEMO:
        try:
            table = json.loads(memo_path.read_text())
            _MEMO[key] = table if isinstance(table, dict) else {}
        except (OSError, ValueError):
            _MEMO[key] = {}
    return _MEMO[key]


def file_stamp(path: str | Path | os.stat_result) -> list[int]:
    """What the hash memo keys a file by: device, inode, change time, size, modification time (ns)."""
    st = path if isinstance(path, os.stat_result) else os.stat(path)
    return [st.st_dev, st.st_ino, st.st_ctime_ns, st.st_size, st.st_mtime_ns]


def _hash(path: Path) -> tuple[str, tuple, bool]:
    """(sha256, stamp of the bytes hashed, racy): hashed through one open file, whose stamp is taken
    before and after; a file that changed meanwhile is hashed again (three tries)."""
    for _ in range(3):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            started = time.time_ns()
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            after = os.fstat(f.fileno())
        stamp = tuple(file_stamp(before))
        if tuple(file_stamp(after)) == stamp:
            racy = started - max(before.st_ctime_ns, before.st_mtime_ns) < RACY_NS
            return h.hexdigest(), stamp, racy
    return h.hexdigest(), stamp, True  # still changing: never remembered on disk


def _remember(key: str, stamp: tuple, digest: str, racy: bool) -> None:
    with _SEEN_LOCK:
        _SEEN[key] = (tuple(stamp), digest, racy)


def sha256_file(path: str | Path, *, memo: bool = True, rehash: bool = False) -> str:
    """sha256 of a file, hashed once while it keeps its stamp (see the module docstring).

    ``memo=False``: hash it, leaving the disk memo alone. ``rehash=True``: hash it afresh and correct
    the memo; a remembered hash found wrong for the same stamp (a file system whose change times
    cannot be trusted) is logged, and every derived layer is removed.
    """
    path = Path(path).resolve()
    key = str(path)
    memo_path = get_settings().cache_dir / _HASH_MEMO
    if memo and not rehash:
        stamp = tuple(file_stamp(path))
        with _SEEN_LOCK:
            seen = _SEEN.get(key)
        if seen is not None and seen[0] == stamp and not seen[2]:
            return seen[1]
        hit = _memo_table(memo_path).get(key) if TRUST_MEMO else None
        if isinstance(hit, list) and len(hit) == 6 and tuple(hit[:5]) == stamp:
            _remember(key, stamp, hit[5], False)
            return hit[5]
    digest, stamp, racy = _hash(path)
    _remember(key, stamp, digest, racy)
    if not memo:
        return digest
    table = _memo_table(memo_path)
    old = table.get(key)
    if rehash and isinstance(old, list) and len(old) == 6 and tuple(old[:5]) == stamp and old[5] != digest:
        log.warning("the remembered hash of %s was wrong: the file changed without its change time changing "
                    "(a file system that does not keep change times?); removing every derived layer, which may "
                    "have been built from other bytes: they are rebuilt when next needed", path.name)
        forget_derived()
    if racy:
        if old is not None and tuple(old[:5]) != stamp:
            with _MEMO_LOCK:
                table.pop(key, None)  # never trust an older stamp's hash either
        return digest
    entry = [*stamp, digest]
    if old == entry:
        return digest
    with _MEMO_LOCK:
        try:  # merge with what other processes wrote meanwhile
            on_disk = json.loads(memo_path.read_text())
            if isinstance(on_disk, dict):
                table.update({k: v for k, v in on_disk.items() if k not in table})
        except (OSError, ValueError):
            pass
        table[key] = entry
        blob = json.dumps(table).encode()
        try:
            atomic_write_bytes(memo_path, blob)
        except OSError as exc:  # a read-only cache only costs speed
            log.debug("could not update the hash memo %s: %s", memo_path.name, getattr(exc, "strerror", exc))
    return digest


def forget_derived() -> int:
    """Remove every derived layer and index from the cache (downloads and the memo stay); the count."""
    root = get_settings().cache_dir
    n = 0
    for folder in (root / "derived", root / "index"):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.is_file() and not p.name.startswith("."):
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
    return n


def _inputs_of(key: Any) -> dict[str, tuple]:
    """The files hashed in this process whose hash is in ``key`` and whose stamp is still the one
    hashed: what a layer keyed by ``key`` is about to be built from."""
    digests: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            if _HEX64.fullmatch(v):
                digests.add(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for x in v:
                walk(x)

    walk(key)
    if not digests:
        return {}
    with _SEEN_LOCK:
        seen = [(p, rec) for p, rec in _SEEN.items() if rec[1] in digests]
    out = {}
    for p, rec in seen:
        try:
            if tuple(file_stamp(p)) == rec[0]:
                out[p] = rec
        except OSError:
            pass
    return out


def _changed(inputs: dict[str, tuple]) -> list[str]:
    """Names of the ``inputs`` whose bytes may differ now from the bytes hashed."""
    out = []
    for p, (stamp, digest, racy) in inputs.items():
        try:
            same = tuple(file_stamp(p)) == stamp
            if same and racy:  # changed in the clock tick it was hashed in: only its bytes tell
                again, now, still_racy = _hash(Path(p))
                _remember(p, now, again, still_racy)
                same = now == stamp and again == digest
        except OSError:
            same = False
        if not same:
            out.append(Path(p).name)
    return out



@contextlib.contextmanager
def build_lock(path: str | Path, *, what: str | None = None) -> Iterator[bool]:
    """Hold the lock for building ``path`` (a file ``.<name>.build-lock`` beside it): one process
    builds, the others wait (saying so, once) and then find its result. Yields whether it waited.

    The lock goes with its process, so a killed build never blocks the next. A folder that cannot
    be written gives no lock (the build goes ahead alone)."""
    path = Path(path)
    lock = path.with_name(f".{path.name}.build-lock")
    fd, waited = None, False
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.debug("no build lock for %s (%s)", path.name, getattr(exc, "strerror", exc))
            fd = None
            break
        if not _try_lock(fd):
            if not waited:
                log.warning("waiting for another icsgeo process to finish building %s", what or path.name)
            waited = True
            _lock(fd)
        try:  # its holder may have removed it (and another process made a new one) meanwhile
            same = os.name == "nt" or os.path.samestat(os.fstat(fd), os.stat(lock))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield waited
    finally:
        if fd is not None:
            if os.name != "nt":
                with contextlib.suppress(OSError):
                    os.unlink(lock)  # while held: a waiter finds it gone and takes a new one
            os.close(fd)




#: Modules that only present answers (never change a derived layer): left out of the fingerprint.
_PRESENTATION = {"cli.py", "server", "maps.py", "render", "sources/inventory.py", "versions.py", "__main__.py",
                 "bulk.py", "verbs.py", "__init__.py", "product.py"}


@functools.cache
def code_fingerprint() -> str:
    """A digest of icsgeo's own source: a code change invalidates every derived layer
    (changes to modules that only present answers — the CLI, the server, the renderer — do not)."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent  # the icsgeo package
    for py in sorted(root.rglob("*.py")):
        rel = py.relative_to(root)
        if rel.parts[0] in _PRESENTATION or rel.as_posix() in _PRESENTATION:
            continue
        h.update(str(py.relative_to(root)).encode())
        h.update(py.read_bytes())
    return h.hexdigest()[:16]


def key_digest(key: Any) -> str:
    """A stable digest of a JSON-able cache key (icsgeo's version and code are always part of it)."""
    blob = json.dumps({"icsgeo": __version__, "code": code_fingerprint(), "key": key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def derived_path(stem: str, key: Any) -> Path:
    return get_settings().cache_dir / "derived" / f"{stem}-{key_digest(key)}.parquet"


def _load(path: Path, geo: bool):
    """The stored layer at ``path``, or ``None`` (absent, or unreadable: then rebuilt)."""
    if not path.is_file():
        return None
    try:
        frame = _read_parquet(path, geo)
        log.debug("cache hit %s", path.name)
        return frame
    except Exception as exc:  # corrupt or foreign file: rebuild it
        log.warning("ignoring unreadable cache file %s (%s); rebuilding", path.name, exc)
        return None


def cached_frame(stem: str, key: Any, build: Callable[[], T], *, geo: bool = False,
                 row_group_size: int | None = None) -> T:
    """Return the layer cached under ``(stem, key)``, building and storing it on a miss.

    One process builds a layer at a time (:func:`build_lock`): another that needs it meanwhile waits,
    then reads what the first stored. A layer is stored only when the input files named in ``key``
    (by their hashes) kept their stamps throughout the build; else it is returned, not stored.
    A cache that cannot be written (read-only folder, full disk) is logged and skipped: the answer
    is still built and returned. A cache file that cannot be read is rebuilt.
    ``row_group_size``: rows per Parquet row group of the stored file (pyarrow's default when None);
    small groups let :func:`cached_rows` read only the groups that can hold the rows asked for.
    """
    path = derived_path(stem, key)
    frame = _load(path, geo)
    if frame is not None:
        return frame  # type: ignore[return-value]
    with build_lock(path, what=f"the cached layer {stem}"):
        frame = _load(path, geo)  # stored meanwhile by the process that held the lock
        if frame is not None:
            return frame  # type: ignore[return-value]
        log.debug("cache miss %s", path.name)
        inputs = _inputs_of(key)
        frame = build()
        changed = _changed(inputs)
        if changed:
            log.warning("%s changed while the layer %s was built from it: the layer is not cached (it is built "
                        "again when next needed)", ", ".join(changed), stem)
            return frame
        try:
            atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, row_group_size=row_group_size))  # type: ignore[attr-defined]
        except OSError as exc:
            log.warning("could not write the cache file %s (%s); continuing without caching", path.name,
                        getattr(exc, "strerror", None) or exc)
    return frame


def cached_rows(stem: str, key: Any, build: Callable[[], Any], *, column: str, values, row_group_size: int | None = None):
    """The rows of the layer cached under ``(stem, key)`` (see :func:`cached_frame`) whose ``column``
    is one of ``values``, in the layer's order, with the layer's columns and dtypes.

    Only ``column`` is read whole from the stored file, then the row groups holding a match, one at
    a time, so a few thousand rows of a 2.6 M-row layer cost a few tens of MB, not the layer; on a
    miss the layer is built and stored first. Without a readable stored file (a cache that cannot
    be written) the built layer is filtered in memory.
    """
    import pyarrow as pa

    wanted = pa.array(list(values), pa.string())
    path = derived_path(stem, key)
    if path.is_file():
        try:
            return _stored_rows(path, column, wanted)
        except Exception as exc:  # corrupt or foreign file: rebuilt by cached_frame below
            log.warning("ignoring unreadable cache file %s (%s); rebuilding", path.name, exc)
            path.unlink(missing_ok=True)
    frame = cached_frame(stem, key, build, row_group_size=row_group_size)
    return frame[frame[column].isin(wanted.to_pylist()).to_numpy(dtype=bool)].reset_index(drop=True)


def cached_parts(stem: str, key: Any, build: Callable[[], Any], *, rows: int, row_group_size: int | None = None):
    """The layer cached under ``(stem, key)`` (see :func:`cached_frame`) as consecutive pandas frames
    of about ``rows`` rows, in order: an iterator whose frames, put together, are the layer.

    The layer is built and stored first when missing (now, not on the first ``next``); the frames
    are then read from the stored file a batch at a time, so the whole layer is never held. Without
    a stored file (a cache that cannot be written) the built layer is sliced instead.
    """
    path = derived_path(stem, key)
    if path.is_file():
        try:
            import pyarrow.parquet as pq

            pq.read_metadata(path)
        except Exception as exc:  # corrupt or foreign file: rebuilt below
            log.warning("ignoring unreadable cache file %s (%s); rebuilding", path.name, exc)
            path.unlink(missing_ok=True)
    if not path.is_file():
        frame = cached_frame(stem, key, build, row_group_size=row_group_size)
        if not path.is_file():
            return (frame.iloc[start:start + rows] for start in range(0, max(len(frame), 1), rows))
        del frame
    return _stored_parts(path, rows)


def _stored_parts(path: Path, rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    given = False
    for batch in pf.iter_batches(batch_size=rows):
        given = True
        yield pa.Table.from_batches([batch], schema=pf.schema_arrow).to_pandas()  # the stored pandas dtypes
    if not given:
        yield pf.schema_arrow.empty_table().to_pandas()


def _stored_rows(path: Path, column: str, wanted):
    """The rows of a stored (non-geographic) layer whose ``column`` is in ``wanted``, in file order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    hit = pc.is_in(pf.read(columns=[column]).column(column), value_set=wanted)
    rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    starts = np.cumsum([0, *(pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups))])
    group = np.searchsorted(starts, rows, side="right") - 1
    parts = [pf.read_row_group(g).take(rows[group == g] - starts[g]) for g in np.unique(group)]
    table = pa.concat_tables(parts) if parts else pf.schema_arrow.empty_table()
    return table.to_pandas()  # the stored pandas metadata gives the layer's own dtypes


def _read_parquet(path: Path, geo: bool):
    if geo:
        import geopandas

        return geopandas.read_parquet(path)
    import pandas

    return pandas.read_parquet(path)
