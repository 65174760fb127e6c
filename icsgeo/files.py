"""Files written whole or not at all, and the file locks they are written under.

Every file icsgeo writes (a derived layer, the hash memo, an answered CSV or workbook, a map page, a
figure) goes through :func:`atomic_write`: a temporary file in the same folder, held under an exclusive
lock while it is written, fsync, then ``os.replace``; a failure (a folder at the path, a read-only folder
or file system, a full disk) is an :class:`~icsgeo.errors.OutputWriteError` saying what to do, with
nothing left behind. SIGTERM and SIGHUP during a write remove the temporary and exit ``128 + signal``.
:func:`sweep_temporaries` removes only temporaries whose writer is gone (their lock can be taken),
whatever PID namespace it ran in.

This module is one of the basics: the renderer writes its pages and figures through it as the cache and
the outputs do.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import IcsgeoError, OutputWriteError
from .settings import get_settings

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# File locks: flock on POSIX, msvcrt.locking on Windows
# ---------------------------------------------------------------------------------------------

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _lock(fd: int) -> None:
        while not _try_lock(fd):
            time.sleep(0.1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)


# ---------------------------------------------------------------------------------------------
# The atomic writer
# ---------------------------------------------------------------------------------------------

#: A temporary ``.<stem>.<random>.icsgeo.tmp<suffix>`` is written under the lock ``.<stem>.<random>.icsgeo.lock``.
_NEW_TMP = re.compile(r"^\.(?P<base>.+\.icsgeo)\.tmp(\.[^.]+)?$")
_NEW_LOCK = re.compile(r"^\.(?P<base>.+\.icsgeo)\.lock$")
#: Older icsgeo versions' temporaries (no lock): removed once older than LEGACY_AGE.
_LEGACY_TMP = re.compile(r"^\..*\.pid\d+\..*\.tmp(\.[A-Za-z0-9]+)?$")
#: Any hidden temporary: removed in icsgeo's own cache folders only.
_TMP = re.compile(r"^\..*\.tmp(\.[A-Za-z0-9]+)?$")
LEGACY_AGE = 24 * 3600
#: A lock file not yet sealed by its writer (it writes its pid once it holds the lock) is left this long (s).
_GRACE = 60

_LIVE: set[str] = set()  # this process's temporaries and their locks, for the signal handler
_LIVE_LOCK = threading.Lock()
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
_INSTALLED: dict[int, Any] = {}
if hasattr(os, "register_at_fork"):  # a forked child owns none of its parent's temporaries
    os.register_at_fork(after_in_child=_LIVE.clear)


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    """SIGTERM/SIGHUP during a write: remove this process's temporaries, exit 128 + signum."""
    for _ in range(3):
        try:
            live = list(_LIVE)
            break
        except RuntimeError:  # changed by another thread meanwhile
            continue
    else:
        live = []
    for p in sorted(live, key=lambda n: n.endswith(".lock")):  # temporaries first, then their locks
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(128 + signum)


def _live(*paths: str, add: bool) -> None:
    main = threading.current_thread() is threading.main_thread()
    with _LIVE_LOCK:
        if add:
            _LIVE.update(paths)
        else:
            _LIVE.difference_update(paths)
        empty = not _LIVE
    if not main:
        return
    try:
        if add:
            for sig in _SIGNALS:  # only where nobody else handles it (a server keeps its own handler)
                if sig not in _INSTALLED and signal.getsignal(sig) is signal.SIG_DFL:
                    signal.signal(sig, _on_signal)
                    _INSTALLED[sig] = signal.SIG_DFL
        elif empty:
            for sig, previous in list(_INSTALLED.items()):
                if signal.getsignal(sig) is _on_signal:
                    signal.signal(sig, previous)
                del _INSTALLED[sig]
    except (ValueError, OSError):  # not the main interpreter, or signals unavailable
        pass


def _in_cache(folder: Path) -> bool:
    try:
        root = get_settings().cache_dir.resolve()
        folder = folder.resolve()
    except Exception:  # noqa: BLE001 - bad settings: treat the folder as the user's
        return False
    return folder == root or root in folder.parents


def _remove(p: Path) -> bool:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return False


def _age(p: Path) -> float:
    try:
        return time.time() - p.lstat().st_mtime
    except OSError:
        return 0.0


def sweep_temporaries(folder: Path) -> None:
    """Remove the temporaries in ``folder`` whose writer is gone (a killed run): an icsgeo temporary
    when its lock can be taken (a live writer holds it, in whatever PID namespace or container), an
    older icsgeo's once a day old, and in icsgeo's cache folders any other hidden ``.*.tmp`` file.
    Other programs' files in a user's folder are left alone."""
    folder = Path(folder)
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return
    own = None
    for name in names:
        if not name.startswith("."):
            continue
        p = folder / name
        m = _NEW_LOCK.match(name)
        if m:
            _sweep_lock(folder, m.group("base"))
            continue
        m = _NEW_TMP.match(name)
        if m:
            if not (folder / f".{m.group('base')}.lock").exists() and _remove(p):
                log.info("removed a temporary file left by an interrupted run: %s", name)
            continue
        if _LEGACY_TMP.match(name):
            if _age(p) > LEGACY_AGE and _remove(p):
                log.info("removed a temporary file left by an interrupted run: %s", name)
            continue
        if _TMP.match(name):
            own = _in_cache(folder) if own is None else own
            if own and _remove(p):
                log.info("removed a temporary file left by an interrupted run: %s", name)


def _sweep_lock(folder: Path, base: str) -> None:
    lock = folder / f".{base}.lock"
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return
    try:
        if not _try_lock(fd):
            return  # its writer is alive
        if os.fstat(fd).st_size == 0 and _age(lock) < _GRACE:
            return  # made an instant ago; its writer is about to lock it
        for t in glob.glob(glob.escape(str(folder / f".{base}.tmp")) + "*"):
            if _remove(Path(t)):
                log.info("removed a temporary file left by an interrupted run: %s", Path(t).name)
        if os.name != "nt":
            with contextlib.suppress(OSError):
                os.unlink(lock)
    finally:
        os.close(fd)
    if os.name == "nt":  # pragma: no cover
        with contextlib.suppress(OSError):
            os.unlink(lock)


#: errno values that are about the place written to, whatever file an error names
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def output_error(path: Path, exc: OSError) -> OutputWriteError:
    """The :class:`OutputWriteError` for ``exc`` met writing ``path``: what happened and what to do."""
    if isinstance(exc, OutputWriteError):
        return exc
    code = exc.errno
    reason = exc.strerror or str(exc)
    kept = " (the file already there is kept as it was)" if path.is_file() else ""
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        msg = (f"could not write {path}: the disk is full ({reason}). Free some space there, or write to a "
               f"folder on another disk; nothing was written{kept}")
    elif code == errno.EISDIR or path.is_dir():
        code = errno.EISDIR
        msg = (f"{path} is a folder: give a file name for the output (a new file, e.g. "
               f"{path / ('output' + (path.suffix or '.csv'))})")
    elif code == errno.EROFS:
        msg = f"could not write {path}: the file system is read-only. Write to another folder, on a writable disk"
    elif code in (errno.EACCES, errno.EPERM):
        msg = (f"could not write {path}: permission denied ({reason}). Write to another folder, one you can "
               f"write to, or ask for write access to {path.parent}")
    elif code in (errno.ENOTDIR, errno.EEXIST) or any(a.exists() and not a.is_dir() for a in path.parents):
        code = errno.ENOTDIR
        blocker = next((a for a in path.parents if a.exists() and not a.is_dir()), path.parent)
        msg = f"could not write {path}: {blocker} is not a folder (a file of that name is in the way). Choose another path"
    elif code == errno.ENAMETOOLONG:
        msg = f"could not write {path}: the name is too long for the file system. Choose a shorter name"
    elif code == errno.EFBIG:
        msg = f"could not write {path}: the file is too large for the file system ({reason}). Write to another disk"
    else:
        msg = f"could not write {path}: {reason}. Check the disk, or write to another folder{kept}"
    return OutputWriteError(msg, errno=code, path=path, strerror=os.strerror(code) if code else reason)


def _about_output(exc: OSError, tmp: Path, path: Path) -> bool:
    """Whether an OSError raised by a writer is about the output (not an input it was reading)."""
    if isinstance(exc, IcsgeoError):
        return False
    if exc.errno in _OUTPUT_ERRNOS:
        return True
    names = {str(x) for x in (exc.filename, getattr(exc, "filename2", None)) if x}
    if not names:
        return exc.errno in (errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG)
    mine = {str(tmp), str(path), str(path.parent), tmp.name, path.name}
    return bool(names & mine)


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


def _fsync(p: Path) -> None:
    if p.is_symlink() or not p.is_file():
        return
    fd = os.open(p, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_temporary(path: Path) -> tuple[int, Path, Path]:
    """(lock fd, lock path, temporary path) beside ``path``: the lock is made, locked and sealed
    (its writer's pid written) before the temporary exists."""
    stem = path.stem[:80] or "output"
    fd, lock = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=".icsgeo.lock")
    try:
        _lock(fd)  # a sweeper may hold it for an instant
        os.write(fd, f"{os.getpid()}\n".encode())
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock)
        raise
    tmp = Path(lock[: -len(".lock")] + ".tmp" + path.suffix)  # the real extension last: some writers check it
    return fd, Path(lock), tmp


def check_output(path: str | Path) -> Path:
    """Raise the :class:`~icsgeo.errors.OutputWriteError` :func:`atomic_write` would raise at once for
    ``path`` (a folder, a read-only file, a file where a folder should be), before costly work."""
    path = Path(path)
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path)))
    if path.exists() and not os.access(path, os.W_OK):
        raise output_error(path, PermissionError(errno.EACCES, "the file is read-only", str(path)))
    blocker = next((a for a in path.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise output_error(path, NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocker)))
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)``, then move the result to ``path`` in one step.

    ``tmp_path`` is in the same folder and does not exist yet (writers that refuse to overwrite get
    a fresh path); it is held under a lock while written (so no other run's sweep takes it), synced
    to disk, then renamed over ``path``. A folder at ``path``, a folder that cannot be written, a
    read-only file system or a full disk raise :class:`~icsgeo.errors.OutputWriteError` (an
    ``OSError``) naming ``path`` and what to do; nothing is left at ``path`` but what was there, and
    no temporary. SIGTERM or SIGHUP meanwhile (main thread, where nobody else handles them) remove
    the temporary and exit ``128 + signum``.
    """
    path = check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc) from exc
    sweep_temporaries(path.parent)
    try:
        fd, lock, tmp = _new_temporary(path)
    except OSError as exc:
        raise output_error(path, exc) from exc
    _live(str(tmp), str(lock), add=True)
    try:
        try:
            write(tmp)
            _fsync(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            if _about_output(exc, tmp, path):
                raise output_error(path, exc) from exc
            if not isinstance(exc, IcsgeoError) and _disk_full(path.parent):
                raise output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from exc
            raise
        except Exception as exc:  # a writer's own error (GDAL's) on a full disk
            if _disk_full(path.parent):
                raise output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from exc
            raise
    except BaseException:
        _remove(tmp)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # after the temporary is gone: a sweep never sees it without its lock
        os.close(fd)
        _live(str(tmp), str(lock), add=False)
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_write`."""
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))
