"""Hardening (issue 14): nothing wrong is ever cached, damaged files give named errors, one build at a time.

- Item 1: a file edited in place keeping its size and modification time (bit rot, ``cp -p``,
  ``touch -r``) is hashed again (the hash memo's key holds the inode and change time, which no user
  can set), a layer is never stored under the hash of bytes it was not built from, and the rehash of
  ``icsgeo data`` catches a memo that was fooled all the same.
- Item 2: a zip member with a bad CRC, a deflate stream that does not decompress or a zip cut short,
  read with ``ICSGEO_VERIFY=warn``/``off``, is a :class:`DataFileCorruptError` naming the dataset and
  the file (no absolute path) and saying to delete it so it is fetched again; the CLI says so, exit 1.
- Item 10: a cache-root ``.file-hashes.json`` temporary left by a kill is swept by the next memo
  write; two cold runs on one empty cache build a layer once (the second waits, saying so, and reads
  the first's result); the build lock of a killed process never blocks.

Tiny files written in code; the CLI test of item 2 runs on the real data (marked ``realdata``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from icsgeo import DataFileHashError, inventory, read
from icsgeo.errors import DataFileCorruptError, DataFormatError
from icsgeo.settings import get_settings
from icsgeo.sources import cache

from .helpers import catalogue_for, mirror_with, write

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {"lsoa21_code": "LSOA21CD", "icb_code": "ICB24CD"}
GENUINE = "LSOA21CD,ICB24CD\n" + "".join(f"E01{i:06d},E54000061\n" for i in range(60))
EDITED = GENUINE.replace("E54000061", "E54000099", 1)  # one ICB code changed: the same size
assert len(EDITED) == len(GENUINE) and EDITED != GENUINE


def _lookup(tmp_path: Path, text: str = GENUINE):
    data = tmp_path / "data"
    write(data / "lookup.csv", text)
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "csv", "reader": "table", "file": "lookup.csv",
                                  "columns": COLUMNS})
    return data / "lookup.csv", cat


def _edit_in_place(path: Path, text: str) -> None:
    """New bytes in the same file (same inode), its size and modification time kept as they were."""
    st = path.stat()
    time.sleep(0.02)  # a later clock tick than the file's last change
    with open(path, "r+b") as f:
        f.write(text.encode())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = path.stat()
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)


def _derived() -> Path:
    return get_settings().cache_dir / "derived"


def _clear_derived() -> None:
    """An upgrade or a cache clean-up: every derived layer goes."""
    shutil.rmtree(_derived(), ignore_errors=True)


def _later_run() -> None:
    """What a new process starts without: the memo as read from disk, the hashes seen so far."""
    for name in ("_MEMO", "_SEEN"):
        getattr(cache, name, {}).clear()


def _codes(frame) -> set[str]:
    return set(frame["icb_code"])


# ------------------------------------------------------------------ item 1: the hash memo and layer keys

def test_an_edit_keeping_size_and_mtime_is_hashed_again_and_refused(tmp_path, monkeypatch):
    # files here are minutes old in real life: the memo must catch the edit by its key alone
    monkeypatch.setattr(cache, "RACY_NS", 0, raising=False)
    path, cat = _lookup(tmp_path)
    assert _codes(read("lu", catalogue=cat)) == {"E54000061"}
    _edit_in_place(path, EDITED)
    _clear_derived()
    _later_run()
    with pytest.raises(DataFileHashError, match="lookup.csv"):
        read("lu", catalogue=cat)


def test_a_layer_built_from_edited_bytes_is_never_stored_under_the_genuine_hash(tmp_path, monkeypatch):
    """The issue's sequence: edited in place, layers rebuilt (warn mode reads the edit, saying so),
    the genuine file restored: its answers are the genuine ones again."""
    monkeypatch.setattr(cache, "RACY_NS", 0, raising=False)
    path, cat = _lookup(tmp_path)
    genuine = read("lu", catalogue=cat)
    _edit_in_place(path, EDITED)
    _clear_derived()
    _later_run()
    monkeypatch.setenv("ICSGEO_VERIFY", "warn")
    with pytest.warns(UserWarning, match="sha256"):
        assert "E54000099" in _codes(read("lu", catalogue=cat))  # what the file now holds, with a warning
    monkeypatch.setenv("ICSGEO_VERIFY", "strict")
    _edit_in_place(path, GENUINE)
    _later_run()
    pd.testing.assert_frame_equal(read("lu", catalogue=cat), genuine)
    assert not [r for r in inventory(cat=cat, count_rows=False) if not r.verified]


def test_a_layer_whose_input_changes_while_it_is_built_is_not_stored(tmp_path, caplog):
    src = write(tmp_path / "in.csv", GENUINE)
    key = {"in": cache.sha256_file(src)}

    def build():  # the file changes between the key being computed and the bytes being read
        _edit_in_place(src, EDITED)
        return pd.read_csv(src, dtype=str)

    frame = cache.cached_frame("toy", key, build)
    assert "E54000099" in set(frame["ICB24CD"])
    assert not cache.derived_path("toy", key).exists()
    assert "changed while" in caplog.text and "in.csv" in caplog.text
    # unchanged inputs: stored as before
    cache.cached_frame("toy2", {"in": cache.sha256_file(src)}, lambda: pd.read_csv(src, dtype=str))
    assert cache.derived_path("toy2", {"in": cache.sha256_file(src)}).is_file()


def test_a_fooled_memo_is_caught_by_the_rehash_of_icsgeo_data(tmp_path, monkeypatch, caplog):
    """On a file system whose change times cannot be trusted the memo can still be fooled: `icsgeo
    data` hashes every file afresh, and a memo found wrong throws away what was derived meanwhile."""
    monkeypatch.setattr(cache, "RACY_NS", 0, raising=False)
    path, cat = _lookup(tmp_path)
    genuine = read("lu", catalogue=cat)
    _edit_in_place(path, EDITED)
    memo_path = get_settings().cache_dir / "file-hashes.json"
    memo = json.loads(memo_path.read_text())
    real = str(path.resolve())
    memo[real] = [*cache.file_stamp(path), memo[real][-1]]  # the genuine hash for the edited file's stamp
    memo_path.write_text(json.dumps(memo))
    _clear_derived()
    _later_run()
    assert "E54000099" in _codes(read("lu", catalogue=cat))  # the fooled memo: wrong bytes, the genuine key
    [status] = inventory(cat=cat, count_rows=False)
    assert not status.verified and "sha256" in status.problem
    assert "remembered hash" in caplog.text and "lookup.csv" in caplog.text
    _edit_in_place(path, GENUINE)
    _later_run()
    pd.testing.assert_frame_equal(read("lu", catalogue=cat), genuine)


def test_a_file_hashed_just_after_it_changed_is_not_remembered(tmp_path):
    """A change in the same clock tick as the hash would keep the change time: such a hash is
    not written to the memo (git's "racily clean" entries)."""
    fresh = write(tmp_path / "fresh.bin", b"x" * 1000)
    digest = cache.sha256_file(fresh)
    memo_path = get_settings().cache_dir / "file-hashes.json"
    memo = json.loads(memo_path.read_text()) if memo_path.exists() else {}
    assert str(fresh.resolve()) not in memo
    old = write(tmp_path / "old.bin", b"y" * 1000)
    _later_run()
    cache.RACY_NS, racy = 0, cache.RACY_NS
    try:
        cache.sha256_file(old)
    finally:
        cache.RACY_NS = racy
    memo = json.loads(memo_path.read_text())
    assert memo[str(old.resolve())][-1] == cache.sha256_file(old, memo=False)
    assert digest == cache.sha256_file(fresh, memo=False)


# ------------------------------------------------------------------ item 2: damaged zips

def _zipped_lookup(tmp_path: Path, compression: int):
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(data / "lookup.zip", "w", compression) as zf:
        zf.writestr("lookup.csv", GENUINE * 20)
    cat = catalogue_for(data, lu={"kind": "lookup", "format": "zip", "reader": "table", "file": "lookup.zip",
                                  "member": "lookup.csv", "columns": COLUMNS})
    return data / "lookup.zip", cat


def _damage(path: Path, how: str) -> None:
    blob = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(blob[: len(blob) // 2]))
        return
    start = 30 + len("lookup.csv")  # the member's data, after its local header
    for i in range(start + 200, start + 260):
        blob[i] ^= 0x5A
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("verify", ["warn", "off"])
@pytest.mark.parametrize("compression, how", [(zipfile.ZIP_STORED, "bad crc"), (zipfile.ZIP_DEFLATED, "bad deflate"),
                                              (zipfile.ZIP_DEFLATED, "truncated")])
def test_a_damaged_zip_is_a_named_error_saying_what_to_do(tmp_path, monkeypatch, verify, compression, how):
    path, cat = _zipped_lookup(tmp_path, compression)
    _damage(path, how)
    monkeypatch.setenv("ICSGEO_VERIFY", verify)
    with pytest.warns(UserWarning) if verify == "warn" else _nothing():
        with pytest.raises(DataFileCorruptError) as err:
            read("lu", catalogue=cat)
    msg = str(err.value)
    assert isinstance(err.value, DataFormatError)  # what callers already catch (the server answers 503)
    assert "'lu'" in msg and "lookup.zip" in msg and str(tmp_path) not in msg
    assert "delete" in msg.lower() and "again" in msg
    assert not _derived().exists() or not list(_derived().glob("lu*.parquet"))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_stored_member_with_a_bad_crc_read_by_gdal_is_caught_too(tmp_path, monkeypatch):
    """GDAL reads a stored zip member without checking its CRC: the reader checks it first."""
    import geopandas
    import shapely

    data = tmp_path / "data"
    g = geopandas.GeoDataFrame({"C": ["A", "B"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)], crs=27700)
    g.to_file(tmp_path / "b.geojson", driver="GeoJSON", engine="pyogrio")
    data.mkdir(exist_ok=True)
    with zipfile.ZipFile(data / "b.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.write(tmp_path / "b.geojson", "b.geojson")
    cat = catalogue_for(data, b={"kind": "boundary", "format": "geojson", "reader": "boundary", "file": "b.zip",
                                 "member": "b.geojson", "columns": {"code": "C"}, "crs": "EPSG:27700"})
    assert len(read("b", catalogue=cat)) == 2
    blob = bytearray((data / "b.zip").read_bytes())
    i = blob.index(b'"B"')
    blob[i + 1] = ord("X")  # a code changed, the file still parses: only the CRC tells
    (data / "b.zip").write_bytes(bytes(blob))
    monkeypatch.setenv("ICSGEO_VERIFY", "off")
    with pytest.raises(DataFileCorruptError, match="b.zip"):
        read("b", catalogue=cat)


@pytest.mark.realdata
def test_cli_with_a_bad_crc_in_a_published_zip_says_which_file_and_what_to_do(real_data_dir, session_cache, tmp_path):
    import icsgeo

    icsgeo.where(["S1 2HE"])  # the session cache holds the other layers
    entry = icsgeo.catalogue().get("gp-practice-map-2026-08")
    rel = Path(entry.file).as_posix()

    def bad_crc(blob: bytes) -> bytes:
        with zipfile.ZipFile(real_data_dir / rel) as zf:
            info = zf.getinfo(entry.member)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        out = bytearray(blob)
        i = start + info.compress_size // 2
        out[i] ^= 0x01
        return bytes(out)

    data = mirror_with(real_data_dir, tmp_path / "data", {rel: bad_crc})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICSGEO_")}
    env.update(ICSGEO_DATA_DIR=str(data), ICSGEO_CACHE_DIR=str(session_cache), ICSGEO_OFFLINE="1",
               ICSGEO_VERIFY="warn", PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    r = subprocess.run([sys.executable, "-m", "icsgeo", "where", "S1 2HE"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]
    assert r.returncode == 1 and r.stdout.strip() == "", r.stderr[-3000:]
    assert Path(rel).name in r.stderr and entry.id in r.stderr and "delete" in r.stderr.lower()
    assert str(tmp_path) not in r.stderr.split("error:", 1)[1]


# ------------------------------------------------------------------ item 10: temporaries and build locks

def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICSGEO_")}
    return {**env, "ICSGEO_CACHE_DIR": str(get_settings().cache_dir), "PYTHONPATH": str(ROOT)}


def _python(code: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _wait_for(proc: subprocess.Popen, word: str) -> None:
    line = proc.stdout.readline()
    assert line.strip() == word, (line, proc.stderr.read() if proc.poll() is not None else "")


def test_a_memo_temporary_left_by_a_kill_is_swept_by_the_next_memo_write(tmp_path):
    root = get_settings().cache_dir
    root.mkdir(parents=True, exist_ok=True)
    proc = _python("""
        import time
        from pathlib import Path
        from icsgeo.settings import get_settings
        from icsgeo.files import atomic_write
        def write(tmp):
            tmp.write_bytes(b'{"half": ')
            print("writing", flush=True)
            time.sleep(60)
        atomic_write(get_settings().cache_dir / "file-hashes.json", write)
    """)
    _wait_for(proc, "writing")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    legacy = write(root / ".file-hashes.json.pid999999.k2j3h4.tmp", b"{")  # an older icsgeo's, two days old
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)
    left = [p.name for p in root.iterdir() if p.name.startswith(".file-hashes")]
    assert any(".tmp" in n for n in left)
    cache.sha256_file(write(tmp_path / "x.bin", b"x"))  # any hash writes the memo
    cache.RACY_NS, racy = 0, cache.RACY_NS
    try:
        _later_run()
        cache.sha256_file(write(tmp_path / "y.bin", b"y"))
    finally:
        cache.RACY_NS = racy
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    assert json.loads((root / "file-hashes.json").read_text())


BUILD = """
    import logging, sys, time
    from pathlib import Path
    import pandas as pd
    from icsgeo.sources.cache import cached_frame
    logging.basicConfig(level=logging.WARNING, format="icsgeo: %(message)s")
    counter = Path(sys.argv[1])
    def build():
        with counter.open("a") as f:
            f.write("built\\n")
        time.sleep(3)
        return pd.DataFrame({"n": range(1000)})
    print("start", flush=True)
    frame = cached_frame("cold-layer", {"inputs": "same"}, build)
    print(len(frame), flush=True)
"""


def test_two_cold_runs_on_one_empty_cache_build_the_layer_once(tmp_path):
    counter = tmp_path / "builds.txt"
    runs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(BUILD), str(counter)], cwd=ROOT, env=_env(),
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    assert [o.split() for o, _ in outs] == [["start", "1000"]] * 2
    assert counter.read_text() == "built\n", "both runs built the layer"
    assert sum("waiting for another icsgeo process" in e for _, e in outs) == 1, outs
    assert "Traceback" not in "".join(e for _, e in outs)


def test_the_build_lock_of_a_killed_process_does_not_block(tmp_path):
    key = {"inputs": "killed"}
    proc = _python(f"""
        import time
        from icsgeo.sources import cache
        with cache.build_lock(cache.derived_path("stale-layer", {key!r})):
            print("locked", flush=True)
            time.sleep(60)
    """)
    _wait_for(proc, "locked")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    t = time.monotonic()
    frame = cache.cached_frame("stale-layer", key, lambda: pd.DataFrame({"n": [1, 2]}))
    assert len(frame) == 2 and time.monotonic() - t < 10
    assert cache.derived_path("stale-layer", key).is_file()
    assert [p.name for p in _derived().iterdir() if p.name.startswith(".")] == []
