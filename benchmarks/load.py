"""Load test of `icsgeo serve` against its framework's ceiling, on this machine (issue 12).

For each number of server workers (default 1 and 2) it starts, one after the other on 127.0.0.1:

- **the ceiling**: a minimal app on the same stack (FastAPI + uvicorn, `_ceiling_app.py`) that answers
  every ``GET /postcodes/{postcode}`` with a constant answer object of the same size;
- **icsgeo serve**, answering the same requests from the index in memory;

and sends both the same single GETs (real Code-Point postcodes, ``--junk`` of them malformed or
unknown) from the same clients: one asyncio process with ``--clients`` keep-alive connections (raw
HTTP/1.1, so the client costs little of the 2 cores), for ``--seconds`` each, after a warm-up. Then a
round of ``POST /postcodes`` (100 postcodes each) to icsgeo. It prints requests/s, p50/p99/max
latency, errors (a wrong status or a body that is not the answer: icsgeo's answers are checked
against the in-process answers), icsgeo's throughput as a share of the ceiling, and the server's
memory (RSS of all its processes) before and after the load, and its peak.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/load.py                 # 1 and 2 workers, 4 and 8 clients
    ICSGEO_DATA_DIR=../shared/data python benchmarks/load.py --workers 1 --clients 8 --seconds 5

Traffic goes to 127.0.0.1 only; every server is stopped (killed if it does not stop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _junk(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:  # not a postcode at all (422)
        return "".join(rng.choice(string.ascii_letters + string.digits + " -'<>;") for _ in range(rng.randint(1, 20)))
    if kind == 1:  # well formed, unknown (404)
        return rng.choice(["SW1A 9ZZ", "M1 9ZZ", "S1 2ZZ", "sw1a9zz"])
    return rng.choice(["' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "Ｓ１ ２ＨＥ"])


def _tree_rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``field`` (VmRSS or VmHWM) summed over a process and its descendants (uvicorn's workers)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


class _Server:
    """A server process on a free port, healthy before use, stopped on exit."""

    def __init__(self, cmd: list[str], env: dict, timeout: float):
        self.port = _free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="icsgeo-load-", suffix=".log", delete=False)
        cmd = [c.replace("{port}", str(self.port)) for c in cmd]
        # the server runs in benchmarks/: folders given relative to where this script was started stay right
        env = {**env, **{k: os.path.abspath(env[k]) for k in ("ICSGEO_DATA_DIR", "ICSGEO_CACHE_DIR", "ICSGEO_CONFIG")
                         if env.get(k)}}
        self.proc = subprocess.Popen(cmd, cwd=ROOT / "benchmarks", env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        t0 = time.perf_counter()
        while not self._healthy():
            if self.proc.poll() is not None:
                raise SystemExit(f"{cmd[2:4]} exited with {self.proc.returncode}:\n{Path(self.log.name).read_text()[-3000:]}")
            failed = [line for line in Path(self.log.name).read_text(errors="replace").splitlines() if "warm-up failed" in line]
            if failed or time.perf_counter() - t0 > timeout:
                self.stop()
                raise SystemExit(failed[0] if failed else f"{cmd} was not healthy within {timeout:.0f} s")
            time.sleep(0.25)
        self.startup = time.perf_counter() - t0

    def _healthy(self) -> bool:
        import http.client

        c = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            c.request("GET", "/health")
            return c.getresponse().status == 200
        except OSError:
            return False
        finally:
            c.close()

    def rss(self, field: str = "VmRSS") -> float:
        return _tree_rss_mb(self.proc.pid, field)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self.log.close()

    def tracebacks(self) -> int:
        return Path(self.log.name).read_text(errors="replace").count("Traceback")


async def _client(port: int, requests: list, deadline: float, results: list, check) -> None:
    """One keep-alive connection sending ``requests`` (method, path, body, expected) in turn until the
    deadline; each result is (seconds, ok)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            method, path, body, expected = requests[i % len(requests)]
            i += 1
            head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            t0 = time.perf_counter()
            writer.write(head.encode() + b"\r\n" + (body or b""))
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            data = await reader.readexactly(length)
            seconds = time.perf_counter() - t0
            status = int(status_line.split()[1]) if status_line else 0
            results.append((seconds, check(status, data, expected)))
    finally:
        writer.close()


def _load(port: int, requests: list, clients: int, seconds: float, check) -> dict:
    """Warm up for a second, then ``clients`` connections for ``seconds``: requests/s and latencies."""
    async def run(duration):
        results: list = []
        deadline = time.perf_counter() + duration
        offsets = [requests[k * len(requests) // clients:] + requests[:k * len(requests) // clients] for k in range(clients)]
        await asyncio.gather(*(_client(port, offsets[k], deadline, results, check) for k in range(clients)))
        return results

    asyncio.run(run(1.0))
    t0 = time.perf_counter()
    results = asyncio.run(run(seconds))
    wall = time.perf_counter() - t0
    lat = [s * 1000 for s, _ in results]
    return {"requests": len(results), "rps": len(results) / wall, "p50": _percentile(lat, 50),
            "p99": _percentile(lat, 99), "max": max(lat) if lat else float("nan"),
            "errors": sum(not ok for _, ok in results)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2", help="server worker counts to measure (default 1,2)")
    ap.add_argument("--clients", default="4,8", help="concurrent keep-alive connections (default 4,8)")
    ap.add_argument("--seconds", type=float, default=10, help="length of each measured round (default 10)")
    ap.add_argument("--junk", type=float, default=0.05, help="share of the GETs that are junk (default 0.05)")
    ap.add_argument("--requests", type=int, default=20_000, help="distinct GETs cycled through (default 20,000)")
    ap.add_argument("--startup-timeout", type=float, default=900)
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args(argv)
    if not os.environ.get("ICSGEO_DATA_DIR"):
        sys.exit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    sys.path.insert(0, str(ROOT))
    import icsgeo

    rng = random.Random(args.seed)
    index = icsgeo.postcode_index()  # the in-process answers every response is checked against
    known = index.arrow.column("postcode").to_pylist()
    queries = [_junk(rng) if rng.random() < args.junk else rng.choice(known) for _ in range(args.requests)]
    expected = {q: index.answer(q) for q in queries}
    gets = [("GET", "/postcodes/" + quote(q, safe=""), None, q) for q in queries]
    posts = []
    for k in range(200):
        items = [rng.choice(known) for _ in range(100)]
        items[rng.randrange(100)] = _junk(rng)
        posts.append(("POST", "/postcodes", json.dumps({"postcodes": items}).encode(), items))
        expected.update({q: index.answer(q) for q in items})
    answer = json.dumps(index.answer("S1 2HE"), ensure_ascii=False, separators=(",", ":")).encode()
    answer_file = Path(tempfile.mkdtemp(prefix="icsgeo-load-")) / "answer.json"
    answer_file.write_bytes(answer)
    del index, known

    def want(q):
        rec = expected[q]
        return {"ok": 200, "terminated": 200, "outside_england": 200, "not_found": 404, "invalid": 422}[rec["status"]], rec

    def check_icsgeo(status, data, q):
        code, rec = want(q)
        if status != code:
            return False
        got = json.loads(data)
        return got == rec if code == 200 else got.get("status") == rec["status"]

    def check_ceiling(status, data, q):
        return status == 200 and data == answer

    def check_post(status, data, items):
        if status != 200:
            return False
        got = json.loads(data)
        return got["count"] == len(items) and got["results"] == [expected[q] for q in items]

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "ICSGEO_CEILING_ANSWER": str(answer_file)}
    print(f"machine: {os.cpu_count()} cores; {args.requests:,} distinct GETs ({args.junk:.0%} junk), answer object "
          f"{len(answer)} bytes; {args.seconds:.0f} s per round after 1 s of warm-up; clients: one asyncio process")
    rows = []
    failed = False
    for workers in [int(w) for w in args.workers.split(",")]:
        stacks = {
            "ceiling": [sys.executable, "-m", "uvicorn", "_ceiling_app:app", "--host", HOST, "--port", "{port}",
                        "--workers", str(workers), "--no-access-log", "--log-level", "info"],
            "icsgeo": [sys.executable, "-m", "icsgeo", "serve", "--host", HOST, "--port", "{port}", "--workers", str(workers)],
        }
        for name, cmd in stacks.items():
            server = _Server(cmd, env, args.startup_timeout)
            before = server.rss()
            try:
                for clients in [int(c) for c in args.clients.split(",")]:
                    r = _load(server.port, gets, clients, args.seconds, check_icsgeo if name == "icsgeo" else check_ceiling)
                    rows.append((workers, name, clients, "GET", r))
                    print(f"  {workers} worker(s) {name:<8} {clients} clients GET : {r['rps']:>7,.0f} req/s  p50 {r['p50']:.2f} ms"
                          f"  p99 {r['p99']:.2f} ms  max {r['max']:.1f} ms  errors {r['errors']}", flush=True)
                if name == "icsgeo":
                    r = _load(server.port, posts, 4, args.seconds, check_post)
                    rows.append((workers, name, 4, "POST 100", r))
                    print(f"  {workers} worker(s) icsgeo   4 clients POST of 100: {r['rps']:>5,.0f} req/s = {r['rps'] * 100:,.0f} postcodes/s"
                          f"  p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms  errors {r['errors']}", flush=True)
                after, peak = server.rss(), server.rss("VmHWM")
                tracebacks = server.tracebacks()
            finally:
                server.stop()
            print(f"  {workers} worker(s) {name}: healthy after {server.startup:.1f} s; memory {before:,.0f} MB before the load, "
                  f"{after:,.0f} MB after, peak {peak:,.0f} MB; tracebacks in its log: {tracebacks}", flush=True)
            failed |= tracebacks > 0
    print("\n| workers | clients | ceiling req/s | icsgeo req/s | share of ceiling | icsgeo p50 / p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for workers, name, clients, kind, r in rows:
        if name != "icsgeo" or kind != "GET":
            continue
        ceiling = next(c for w, n, k, kd, c in rows if w == workers and n == "ceiling" and k == clients)
        print(f"| {workers} | {clients} | {ceiling['rps']:,.0f} | {r['rps']:,.0f} | **{r['rps'] / ceiling['rps']:.0%}** (goal ≥ 50%) "
              f"| {r['p50']:.2f} / {r['p99']:.2f} (goal p99 ≤ 10 ms with 8 clients) | {r['errors']} |")
        failed |= r["errors"] > 0
    failed |= any(r["errors"] for *_, r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
