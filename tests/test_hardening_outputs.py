"""Hardening (issue 14): no output looks complete unless it is; temporaries never lost, never left.

- Item 8: an output path that is a folder, a read-only folder or file system, or a full disk gives an
  :class:`OutputWriteError` naming the output and what to do (the CLI: ``error: ...``, no traceback),
  never a partial file at the final path (a previous file there is kept), never a temporary left. The
  full disk and the read-only file system are small tmpfs mounts the test makes in a user and mount
  namespace (``unshare -rm``), skipped where that cannot be done.
- Item 9: a sweep of stale temporaries from another PID namespace leaves a live temporary alone (each
  is held under an exclusive lock while written); SIGTERM and SIGHUP during a write remove the
  temporary and exit 128 + the signal number; a killed writer's temporary goes at the next write.

The writer is tested directly on tiny files; ``practices``, ``neighbourhoods``, ``map`` and ``index
export`` through the CLI on the real data (marked ``realdata``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from icsgeo import cli
from icsgeo.errors import OutputWriteError
from icsgeo.files import atomic_write, atomic_write_bytes, sweep_temporaries

ROOT = Path(__file__).resolve().parents[1]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICSGEO_")}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore", **extra}


# ------------------------------------------------------------------ small file systems made by the test

def _can_mount() -> str | None:
    """Why a tmpfs cannot be mounted in a user and mount namespace here (None when it can)."""
    if not shutil.which("unshare"):
        return "no unshare command"
    with tempfile.TemporaryDirectory() as d:
        try:
            r = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"', d],
                               capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare failed: {exc}"
    return None if r.returncode == 0 else f"cannot mount a tmpfs in a user namespace: {r.stderr.strip()}"


NO_MOUNT = _can_mount()
needs_mount = pytest.mark.skipif(NO_MOUNT is not None, reason=str(NO_MOUNT))

#: Runs inside the namespace: the command given, then what the small file system holds.
DRIVER = """
import json, os, subprocess, sys
folder, cmd = sys.argv[1], json.loads(sys.argv[2])
before = sys.argv[3] if len(sys.argv) > 3 else None
if before is not None:
    with open(os.path.join(folder, before), "w") as f:
        f.write("the previous output")
r = subprocess.run(cmd, capture_output=True, text=True)
files = {n: open(os.path.join(folder, n), "rb").read()[:100].decode("latin-1") for n in os.listdir(folder)}
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr, "files": files}))
"""


def _on_small_fs(tmp_path: Path, cmd: list[str], *, size: str = "64k", readonly: bool = False, before: str | None = None,
                 env: dict | None = None, timeout: float = 900) -> dict:
    """Run ``cmd`` with a fresh tmpfs of ``size`` mounted at ``tmp_path/small`` ({small} in ``cmd``)."""
    small = tmp_path / "small"
    small.mkdir(exist_ok=True)
    cmd = [c.replace("{small}", str(small)) for c in cmd]
    opts = f"size={size}" + (",ro" if readonly else "")
    script = 'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"'
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", opts, str(small), sys.executable, "-c", DRIVER, str(small),
                        json.dumps(cmd), *([before] if before else [])],
                       capture_output=True, text=True, timeout=timeout, env=env or _env(), cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


WRITE = """
import json, sys
from pathlib import Path
from icsgeo.errors import OutputWriteError
from icsgeo.files import atomic_write
target, size = Path(sys.argv[1]), int(sys.argv[2])
def write(tmp):
    with open(tmp, "wb") as f:
        for _ in range(size // 4096):
            f.write(b"x" * 4096)
try:
    atomic_write(target, write)
    print(json.dumps({"ok": True}))
except OutputWriteError as exc:
    print(json.dumps({"ok": False, "message": str(exc), "errno": exc.errno, "filename": exc.filename}))
"""


# ------------------------------------------------------------------ item 8: the writer itself

def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(tmp_path):
    folder = tmp_path / "answers.csv"
    folder.mkdir()
    called = []
    with pytest.raises(OutputWriteError) as err:
        atomic_write(folder, lambda tmp: called.append(tmp))
    assert called == [] and err.value.errno == errno.EISDIR
    msg = str(err.value)
    assert str(folder) in msg and "is a folder" in msg and "file name" in msg
    assert _hidden(tmp_path) == [] and list(folder.iterdir()) == []


def test_an_output_whose_folder_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputWriteError) as err:
        atomic_write(tmp_path / "f" / "out.csv", lambda tmp: tmp.write_text("y"))
    assert "f" in str(err.value) and "not a folder" in str(err.value)
    assert (tmp_path / "f").read_text() == "x"


def test_a_writer_that_fails_leaves_the_previous_output_and_no_temporary(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("the previous output")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(out, broken)
    assert out.read_text() == "the previous output" and _hidden(tmp_path) == []


@needs_mount
def test_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    r = _on_small_fs(tmp_path, [sys.executable, "-c", WRITE, "{small}/out.csv", str(1 << 20)], before="out.csv")
    got = json.loads(r["out"])
    assert got["ok"] is False and got["errno"] == errno.ENOSPC, r
    assert "disk is full" in got["message"] and "out.csv" in got["message"] and "space" in got["message"]
    assert r["files"] == {"out.csv": "the previous output"}, "a partial file or a temporary was left"


@needs_mount
def test_a_read_only_file_system_is_a_clear_error(tmp_path):
    r = _on_small_fs(tmp_path, [sys.executable, "-c", WRITE, "{small}/out.csv", "4096"], readonly=True)
    got = json.loads(r["out"])
    assert got["ok"] is False and got["errno"] == errno.EROFS, r
    assert "read-only" in got["message"] and "out.csv" in got["message"] and "another folder" in got["message"]


def test_a_folder_without_write_permission_is_a_clear_error(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="icsgeo-ro-"))
    try:
        os.chmod(folder, 0o555)
        cmd = [sys.executable, "-c", WRITE, str(folder / "out.csv"), "4096"]
        if os.geteuid() == 0:  # root writes anywhere: run as nobody
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv: no way to lack write permission")
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, env=_env(HOME=str(folder)), cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        got = json.loads(r.stdout)
        assert got["ok"] is False and got["errno"] in (errno.EACCES, errno.EPERM), got
        assert "permission" in got["message"] and str(folder) in got["message"]
        assert os.listdir(folder) == []
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


def test_atomic_write_bytes_is_the_same_writer(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(OutputWriteError, match="is a folder"):
        atomic_write_bytes(tmp_path / "x", b"data")
    atomic_write_bytes(tmp_path / "y.json", b"{}")
    assert (tmp_path / "y.json").read_bytes() == b"{}" and _hidden(tmp_path) == []


# ------------------------------------------------------------------ item 8: the CLI on the real data

def _cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, err.getvalue()


@pytest.mark.realdata
@pytest.mark.parametrize("args, name", [
    (["practices", "--system", "QF7", "--output"], "practices.csv"),
    (["neighbourhoods", "South Yorkshire", "--output"], "pcns.gpkg"),
    (["map", "QF7", "--output"], "map.html"),
    (["index", "export", "--output"], "postcodes.parquet"),
])
def test_cli_output_that_is_a_folder_is_a_clear_error(tmp_path, args, name):
    folder = tmp_path / name
    folder.mkdir()
    code, err = _cli(*args, str(folder))
    assert code in (1, 2) and "Traceback" not in err, err
    assert "error:" in err and str(folder) in err and "folder" in err
    assert list(folder.iterdir()) == [] and _hidden(tmp_path) == []


def _cli_env(session_cache: Path, real: Path) -> dict:
    return _env(ICSGEO_DATA_DIR=str(real), ICSGEO_CACHE_DIR=str(session_cache), ICSGEO_OFFLINE="1")


@pytest.mark.realdata
@needs_mount
@pytest.mark.parametrize("args, name", [
    (["practices", "--system", "QF7", "--output"], "practices.csv"),
    (["neighbourhoods", "South Yorkshire", "--output"], "pcns.gpkg"),
    (["map", "QF7", "--output"], "map.html"),
])
def test_cli_on_a_full_disk_leaves_no_partial_output(tmp_path, session_cache, real_data_dir, args, name):
    import icsgeo

    icsgeo.geography().system("QF7")  # the session cache holds the layers: the subprocess only writes
    r = _on_small_fs(tmp_path, [sys.executable, "-m", "icsgeo", *args, "{small}/" + name], size="16k", before=name,
                     env=_cli_env(session_cache, real_data_dir))
    assert "Traceback" not in r["err"], r["err"][-3000:]
    assert r["rc"] == 1 and "error:" in r["err"] and name in r["err"] and "disk is full" in r["err"], r["err"][-3000:]
    assert r["files"] == {name: "the previous output"}, "a partial file or a temporary was left"


@pytest.mark.realdata
@needs_mount
def test_cli_on_a_read_only_file_system_is_a_clear_error(tmp_path, session_cache, real_data_dir):
    r = _on_small_fs(tmp_path, [sys.executable, "-m", "icsgeo", "practices", "--system", "QF7", "--output",
                                "{small}/p.csv"], readonly=True, env=_cli_env(session_cache, real_data_dir))
    assert "Traceback" not in r["err"] and r["rc"] == 1, r["err"][-3000:]
    assert "read-only" in r["err"] and "p.csv" in r["err"] and r["files"] == {}


# ------------------------------------------------------------------ item 9: live temporaries

SLOW = """
import sys, time
from pathlib import Path
from icsgeo.files import atomic_write
out, go = Path(sys.argv[1]), Path(sys.argv[2])
def write(tmp):
    with open(tmp, "w") as f:
        f.write("postcode\\n")
        f.flush()
        print("writing", flush=True)
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        f.write("S1 2HE\\n")
atomic_write(out, write)
print("done", flush=True)
"""


def _slow_writer(out: Path, go: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", SLOW, str(out), str(go)], cwd=ROOT, env=_env(), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()
    assert line.strip() == "writing", (line, p.stderr.read() if p.poll() is not None else "")
    return p


def _other_pid_namespace() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare command"
    r = subprocess.run(["unshare", "-rpf", "--mount-proc", "true"], capture_output=True, text=True, timeout=30)
    return None if r.returncode == 0 else f"cannot make a PID namespace: {r.stderr.strip()}"


NO_PIDNS = _other_pid_namespace()


@pytest.mark.skipif(NO_PIDNS is not None, reason=str(NO_PIDNS))
def test_a_sweep_from_another_pid_namespace_leaves_a_live_temporary(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    first = _slow_writer(folder / "answers.csv", tmp_path / "go")
    try:
        live = [n for n in _hidden(folder) if ".tmp" in n]
        assert live, _hidden(folder)
        second = "from pathlib import Path; from icsgeo.files import atomic_write; " \
                 f"atomic_write(Path({str(folder / 'other.csv')!r}), lambda tmp: tmp.write_text('x'))"
        r = subprocess.run(["unshare", "-rpf", "--mount-proc", sys.executable, "-c", second], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        assert (folder / "other.csv").read_text() == "x"
        assert all((folder / n).exists() for n in live), "the other run's sweep deleted a live temporary"
    finally:
        (tmp_path / "go").write_text("go")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0 and out.strip() == "done", err[-3000:]
    assert (folder / "answers.csv").read_text() == "postcode\nS1 2HE\n"
    assert _hidden(folder) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_remove_the_temporary_and_exit_128_plus_the_signal(tmp_path, signum):
    proc = _slow_writer(tmp_path / "answers.csv", tmp_path / "never")
    assert [n for n in _hidden(tmp_path) if ".tmp" in n]
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, (proc.returncode, err[-3000:])
    assert "Traceback" not in err
    assert _hidden(tmp_path) == [] and not (tmp_path / "answers.csv").exists()


def test_a_killed_writers_temporary_goes_at_the_next_write_and_foreign_files_stay(tmp_path):
    proc = _slow_writer(tmp_path / "answers.csv", tmp_path / "never")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _hidden(tmp_path), "the kill left nothing to sweep"
    foreign = tmp_path / ".notes.tmp"  # another program's: not icsgeo's to delete
    foreign.write_text("mine")
    atomic_write(tmp_path / "next.csv", lambda tmp: tmp.write_text("x"))
    assert _hidden(tmp_path) == [".notes.tmp"]
    sweep_temporaries(tmp_path)
    assert foreign.read_text() == "mine"
