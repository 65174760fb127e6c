"""Run a command as a grandchild of a small launcher and return (wall seconds, peak RSS MB, exit code).

Linux carries a process's peak RSS across fork and exec, so a child spawned straight from a large
benchmark process would report the parent's memory. This file, run as a script, is that small
launcher: it starts the command, waits with wait4 and prints the command's own figures as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, __file__, *cmd], env={**os.environ, **(env or {})},
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["wall"], r["peak_mb"], r["code"]


if __name__ == "__main__":
    t = time.perf_counter()
    p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    print(json.dumps({"wall": time.perf_counter() - t, "peak_mb": usage.ru_maxrss / 1024,
                      "code": os.waitstatus_to_exitcode(status)}))
