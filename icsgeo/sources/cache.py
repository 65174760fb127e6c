"""Content-keyed cache: file hashes (memoised by size and mtime) and derived Parquet/GeoParquet layers.

Derived layers are stored under ``<cache>/derived/`` with a name made of a readable stem and a digest of
everything that determines their content (input file hashes, parameters, icsgeo version). Writes are
atomic (temporary file in the same folder, then ``os.replace``), so a killed process never leaves a
half-written layer that a later run would trust.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

from .._version import __version__
from ..settings import get_settings

log = logging.getLogger("icsgeo")

T = TypeVar("T")

_HASH_MEMO = "file-hashes.json"


_MEMO: dict[str, Any] = {}  # the hash memo as read from disk once per process (path -> table)


def _memo_table(memo_path: Path) -> dict[str, Any]:
    key = str(memo_path)
    if key not in _MEMO:
        try:
            _MEMO[key] = json.loads(memo_path.read_text())
        except (OSError, ValueError):
            _MEMO[key] = {}
    return _MEMO[key]


def sha256_file(path: str | Path, *, memo: bool = True) -> str:
    """sha256 of a file; memoised by (path, size, mtime) so an unchanged file is hashed once."""
    path = Path(path).resolve()
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    memo_path = get_settings().cache_dir / _HASH_MEMO
    table = _memo_table(memo_path) if memo else {}
    if memo:
        hit = table.get(str(path))
        if hit and hit[:2] == stamp:
            return hit[2]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo:
        try:  # merge with what other processes wrote meanwhile
            table.update({k: v for k, v in json.loads(memo_path.read_text()).items() if k not in table})
        except (OSError, ValueError):
            pass
        table[str(path)] = [*stamp, digest]
        try:
            atomic_write_bytes(memo_path, json.dumps(table).encode())
        except OSError as exc:  # a read-only cache only costs speed
            log.debug("could not update the hash memo at %s: %s", memo_path, exc)
    return digest


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_TMP = re.compile(r"^\..*\.tmp(\.[A-Za-z0-9]+)?$")
_PID = re.compile(r"\.pid(\d+)\.")


def sweep_temporaries(folder: Path) -> None:
    """Remove temporary files left in ``folder`` by writers that died (a killed build): names carry
    the writer's pid, and only files of a live process are kept."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for p in entries:
        if not _TMP.match(p.name):
            continue
        m = _PID.search(p.name)
        if m and _alive(int(m.group(1))):
            continue
        try:
            p.unlink()
            log.info("removed a half-written file left by an interrupted run: %s", p)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then move the result to ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(path.parent)
    # keep the real extension last: some writers (GPKG) check it
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.pid{os.getpid()}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    Path(tmp).unlink()  # writers that refuse to overwrite get a fresh path
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def cached_frame(stem: str, key: Any, build: Callable[[], T], *, geo: bool = False,
                 row_group_size: int | None = None) -> T:
    """Return the layer cached under ``(stem, key)``, building and storing it on a miss.

    A cache that cannot be written (read-only folder, full disk) is logged and skipped: the
    answer is still built and returned. A cache file that cannot be read is rebuilt.
    ``row_group_size``: rows per Parquet row group of the stored file (pyarrow's default when None);
    small groups let :func:`cached_rows` read only the groups that can hold the rows asked for.
    """
    path = derived_path(stem, key)
    if path.is_file():
        try:
            frame = _read_parquet(path, geo)
            log.debug("cache hit %s", path.name)
            return frame  # type: ignore[return-value]
        except Exception as exc:  # corrupt or foreign file: rebuild it
            log.warning("ignoring unreadable cache file %s (%s); rebuilding", path, exc)
    log.debug("cache miss %s", path.name)
    frame = build()
    try:
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, row_group_size=row_group_size))  # type: ignore[attr-defined]
    except OSError as exc:
        log.warning("could not write the cache file %s (%s); continuing without caching", path, exc)
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
            log.warning("ignoring unreadable cache file %s (%s); rebuilding", path, exc)
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
            log.warning("ignoring unreadable cache file %s (%s); rebuilding", path, exc)
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
