"""Soak test of `icsgeo serve` under mixed, hostile load, on this machine (issue 14).

Starts ``icsgeo serve`` (its defaults: nothing tuned for the test) on 127.0.0.1 and a free port, its
log written to a file, then, in one asyncio process of raw HTTP/1.1 clients (the pattern and helpers
of ``load.py``):

1. **comparison**: ``--clients`` keep-alive connections sending single GETs for ``--compare-seconds``
   with one vintage (``?vintage=2026``), then as long with the vintages alternating (2021, 2023, 2026):
   the mixed throughput as a share of the single one (the issue: 148 -> 16 req/s once);
2. **the soak**: ``--half-open`` sockets that each send part of a request's headers and then a byte
   every few seconds (re-opened when the server closes them), held while ``--clients`` keep-alive
   connections send for ``--seconds``: single GETs of the three vintages (a few junk postcodes among
   them), POSTs of 100 postcodes, points (``GET /points``), and junk (unknown vintages, paths and
   methods, bad JSON, a foreign ``Host``); a further connection every 50 ms sends raw garbage (TLS
   bytes, bad request lines, a 20 kB request line). Once a second a **normal GET** on a fresh connection,
   from a process of its own, is timed while the half-open sockets are held.

Every answer is checked against the in-process answers (``icsgeo.postcode_index(vintage).answer(q)``,
``icsgeo.assign``): a wrong status or body is a *wrong answer*; a 5xx, a reset, a timeout or an
unexpected status to junk is an *error*. Printed: requests/s, p50/p99 latency, errors, wrong answers,
the normal GET's time, the server's memory (RSS of its process tree from /proc) when healthy, at the
start of the soak (the three vintages loaded), its peak and at the end, and whether any line of the
server's log shows a postcode, an absolute path or a traceback. Figures only: nothing is asserted
(exit status 0 unless the server cannot be started).

    ICSGEO_DATA_DIR=../shared/data python benchmarks/soak.py                       # 60 s, 32 clients, 5,000 half-open
    ICSGEO_DATA_DIR=../shared/data python benchmarks/soak.py --seconds 10 --half-open 500 --log serve.log

Bounded: each phase by its duration and ``--max-requests``, the half-open sockets by ``--half-open``
(and the open-file limit), every request by a 10 s timeout. Traffic goes to 127.0.0.1 only; the server
is stopped (killed if it does not stop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HOST, ROOT, _junk, _percentile, _Server  # noqa: E402

VINTAGES = ("2021", "2023", "2026")
REQUEST_TIMEOUT = 10.0
#: A UK postcode anywhere in a line (any case, with or without its space).
POSTCODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}(?![A-Za-z0-9])")
#: An absolute path of two or more parts (not a URL, nor a route of the API such as /postcodes/{postcode}).
ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?!(?:postcodes|points|systems|health|docs)/)[\w.@+-]+/[\w.@+/-]*")
STATUS_OF = {"ok": 200, "terminated": 200, "outside_england": 200, "not_found": 404, "invalid": 422}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60, help="length of the soak (default 60)")
    ap.add_argument("--compare-seconds", type=float, default=10,
                    help="length of each comparison round, single then mixed vintages (default 10)")
    ap.add_argument("--clients", type=int, default=32, help="keep-alive connections (default 32)")
    ap.add_argument("--half-open", type=int, default=5000, help="half-open sockets held during the soak (default 5,000)")
    ap.add_argument("--requests", type=int, default=6000, help="distinct GETs per vintage cycled through (default 6,000)")
    ap.add_argument("--max-requests", type=int, default=5_000_000, help="most requests of one phase (default 5,000,000)")
    ap.add_argument("--log", type=Path, help="where to keep the server's log (default: a temporary file, printed)")
    ap.add_argument("--startup-timeout", type=float, default=900)
    ap.add_argument("--seed", type=int, default=14)
    return ap.parse_args(argv)


# ------------------------------------------------------------------ the requests and their checks

class Plan:
    """Requests, each (kind, raw bytes, check): check(status, body) -> None when right, else 'wrong' or
    'error' (junk answered unexpectedly)."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"{HOST}:{port}"
        self.items: list[tuple[str, bytes, object]] = []

    def get(self, kind: str, path: str, check, host: str | None = None) -> None:
        raw = f"GET {path} HTTP/1.1\r\nHost: {host or self.host}\r\n\r\n".encode("utf-8")
        self.items.append((kind, raw, check))

    def post(self, kind: str, path: str, body: bytes, check, content_type: str = "application/json") -> None:
        raw = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {content_type}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.items.append((kind, raw, check))


def _answer_check(expected: dict):
    code = STATUS_OF[expected["status"]]

    def check(status: int, body: bytes):
        if status >= 500:
            return "error"
        if status != code:
            return "wrong"
        got = json.loads(body)
        if code == 200:
            return None if got == expected else "wrong"
        return None if got.get("status") == expected["status"] and got.get("query") == expected["query"] else "wrong"
    return check


def _bulk_check(expected: list[dict]):
    def check(status: int, body: bytes):
        if status >= 500:
            return "error"
        if status != 200:
            return "wrong"
        got = json.loads(body)
        return None if got["count"] == len(expected) and got["results"] == expected else "wrong"
    return check


def _junk_check(codes: set[int], fragment: str | None = None):
    def check(status: int, body: bytes):
        if status not in codes:
            return "error"
        if fragment and fragment not in body.decode("utf-8", "replace"):
            return "error"
        return None
    return check


def _expected(args, rng: random.Random):
    """The in-process answers: (GET queries per vintage with their answers, POST batches, points)."""
    import icsgeo

    per_vintage, batches, points = {}, [], []
    known = None
    for v in VINTAGES:
        index = icsgeo.postcode_index(v)
        if known is None:
            known = index.arrow.column("postcode").to_pylist()
            sample = [rng.choice(known) for _ in range(args.requests)]
        queries = [_junk(rng) if rng.random() < 0.05 else (q.lower().replace(" ", "") if rng.random() < 0.1 else q)
                   for q in sample]
        per_vintage[v] = [(q, index.answer(q)) for q in queries]
        for _ in range(40):
            items = [rng.choice(known) for _ in range(100)]
            items[rng.randrange(100)] = _junk(rng)
            batches.append((v, items, index.answers(items)))
        located = [a["location"] for _, a in per_vintage[v][:400] if a["status"] == "ok" and a.get("location")]
        lat = [round(loc["lat"], 5) for loc in located[:100]]
        lon = [round(loc["lon"], 5) for loc in located[:100]]
        answers = icsgeo.assign(lat=lat, lon=lon, vintage=v)
        answers.insert(0, "query", [f"{a},{b}" for a, b in zip(lat, lon)])
        points += [(v, a, b, rec) for a, b, rec in zip(lat, lon, icsgeo.to_records(answers))]
    return per_vintage, batches, points


def _plans(port: int, per_vintage: dict, batches: list, points: list, rng: random.Random) -> dict[str, Plan]:
    single, mixed, soak = Plan(port), Plan(port), Plan(port)
    for q, rec in per_vintage["2026"]:
        single.get("get", f"/postcodes/{quote(str(q), safe='')}?vintage=2026", _answer_check(rec))
    for i in range(len(per_vintage["2026"])):
        v = VINTAGES[i % 3]
        q, rec = per_vintage[v][i]
        mixed.get("get", f"/postcodes/{quote(str(q), safe='')}?vintage={v}", _answer_check(rec))
    junk = [
        ("junk", lambda p: p.get("junk", "/postcodes/S1%202HE?vintage=1999", _junk_check({422}))),
        ("junk", lambda p: p.get("junk", "/postcodes/S1%202HE?system=..%2F..%2Fetc%2Fpasswd", _junk_check({422}))),
        ("junk", lambda p: p.get("junk", "/no/such/path", _junk_check({404}))),
        ("junk", lambda p: p.get("junk", "/postcodes/S1%202HE", _junk_check({400}, "--allow-host"), host="rebind.example")),
        ("junk", lambda p: p.get("junk", "/points?lat=abc&lon=1", _junk_check({422}))),
        ("junk", lambda p: p.post("junk", "/postcodes", b"{bad json", _junk_check({422}))),
        ("junk", lambda p: p.post("junk", "/postcodes", b'{"postcodes": "S1 2HE"}', _junk_check({422}))),
        ("junk", lambda p: p.post("junk", "/health", b"{}", _junk_check({405}))),
        ("junk", lambda p: p.post("junk", "/postcodes", b"postcodes=S1+2HE", _junk_check({422}), "application/x-www-form-urlencoded")),
    ]
    gets = [(v, q, rec) for v in VINTAGES for q, rec in per_vintage[v]]
    rng.shuffle(gets)
    b = p = j = 0
    for i, (v, q, rec) in enumerate(gets):
        soak.get("get", f"/postcodes/{quote(str(q), safe='')}" + ("" if v == "2026" and i % 2 else f"?vintage={v}"), _answer_check(rec))
        if i % 12 == 0:
            bv, items, answers = batches[b % len(batches)]
            b += 1
            soak.post("post", f"/postcodes?vintage={bv}", json.dumps({"postcodes": items}).encode(), _bulk_check(answers))
        if i % 40 == 0:
            pv, lat, lon, rec_p = points[p % len(points)]
            p += 1
            soak.get("point", f"/points?lat={lat}&lon={lon}&vintage={pv}", _answer_check(rec_p))
        if i % 10 == 0:
            junk[j % len(junk)][1](soak)
            j += 1
    return {"single": single, "mixed": mixed, "soak": soak}


# ------------------------------------------------------------------ clients

class Tally:
    def __init__(self):
        self.latency: list[float] = []
        self.kinds: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.wrong: dict[str, int] = {}
        self.examples: list[str] = []
        self.count = 0

    def add(self, kind: str, seconds: float, verdict: str | None, why: str = "") -> None:
        self.count += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.latency.append(seconds)
        if verdict:
            book = self.errors if verdict == "error" else self.wrong
            book[kind] = book.get(kind, 0) + 1
            if len(self.examples) < 5:
                self.examples.append(f"{verdict} {kind}: {why}"[:200])


async def _exchange(reader, writer, raw: bytes) -> tuple[int, bool, bytes]:
    writer.write(raw)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed by the server")
    close, length = False, 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        low = line.lower()
        if low.startswith(b"content-length:"):
            length = int(low[15:])
        elif low.startswith(b"connection:") and b"close" in low:
            close = True
    return int(status_line.split()[1]), close, await reader.readexactly(length)


async def _client(port: int, items: list, deadline: float, tally: Tally, max_requests: int) -> None:
    """One keep-alive connection sending ``items`` in turn until the deadline (re-opened when the
    server closes it after an answer)."""
    conn = None
    i = 0
    try:
        while time.perf_counter() < deadline and tally.count < max_requests:
            kind, raw, check = items[i % len(items)]
            i += 1
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(HOST, port), REQUEST_TIMEOUT)
                status, close, body = await asyncio.wait_for(_exchange(*conn, raw), REQUEST_TIMEOUT)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                tally.add(kind, time.perf_counter() - t0, "error", f"{type(exc).__name__} {raw[:60]!r}")
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            try:
                verdict = check(status, body)
            except (ValueError, KeyError, TypeError):  # not the JSON expected
                verdict = "wrong"
            tally.add(kind, time.perf_counter() - t0, verdict, f"{status} {raw[:60]!r} -> {body[:80]!r}")
            if close:
                conn[1].close()
                conn = None
    finally:
        if conn is not None:
            conn[1].close()


async def _round(port: int, plan: Plan, clients: int, seconds: float, max_requests: int) -> tuple[Tally, float]:
    tally = Tally()
    items = plan.items
    t0 = time.perf_counter()
    deadline = t0 + seconds
    await asyncio.gather(*(_client(port, items[k * len(items) // clients:] + items[:k * len(items) // clients], deadline,
                                   tally, max_requests) for k in range(clients)))
    return tally, time.perf_counter() - t0


RAW_JUNK = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),  # a TLS ClientHello's start
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n",
    b"POST /postcodes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
    b"\x00\xff" * 64 + b"\r\n\r\n",
]


async def _raw_junk(port: int, deadline: float, tally: Tally) -> None:
    """A fresh connection every 50 ms with malformed HTTP: a 4xx or a close is right; a 5xx, a hang or
    a refused connection is an error."""
    i = 0
    while time.perf_counter() < deadline:
        raw = RAW_JUNK[i % len(RAW_JUNK)]
        i += 1
        t0 = time.perf_counter()
        verdict, why = None, ""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), REQUEST_TIMEOUT)
            try:
                writer.write(raw)
                data = await asyncio.wait_for(reader.read(65536), REQUEST_TIMEOUT)
                if data.startswith(b"HTTP/1.1 5"):
                    verdict, why = "error", data[:40].decode("latin-1")
            finally:
                writer.close()
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed on us: a fine answer to garbage
        except (OSError, asyncio.TimeoutError) as exc:
            verdict, why = "error", type(exc).__name__
        tally.add("raw junk", time.perf_counter() - t0, verdict, why)
        await asyncio.sleep(0.05)


class HalfOpen:
    """``n`` sockets, each sending part of a request's headers then a byte every ``trickle`` seconds;
    re-opened when the server closes one (its header timeout)."""

    def __init__(self, port: int, n: int, trickle: float = 5.0):
        self.port, self.n, self.trickle = port, n, trickle
        self.open = self.closed_by_server = self.failed_connects = 0
        self.stop = asyncio.Event()
        self.gate = asyncio.Semaphore(200)  # connects in flight

    async def hold_one(self) -> None:
        head = f"GET /postcodes/S1%202HE HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nX-Slow: a".encode()
        while not self.stop.is_set():
            try:
                async with self.gate:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), REQUEST_TIMEOUT)
                writer.write(head)
            except (OSError, asyncio.TimeoutError):
                self.failed_connects += 1
                await asyncio.sleep(0.5)
                continue
            self.open += 1
            try:
                while not self.stop.is_set():
                    try:
                        await asyncio.wait_for(reader.read(4096), self.trickle)
                    except asyncio.TimeoutError:
                        writer.write(b"a")  # one more byte: a slow client, not a dead one
                        continue
                    self.closed_by_server += 1  # an answer (408) or a close: the server let go of it
                    break
            except OSError:
                self.closed_by_server += 1
            finally:
                self.open -= 1
                writer.close()
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        await asyncio.gather(*(self.hold_one() for _ in range(self.n)))


#: The normal GETs, run by ``python -c`` in a process of its own (a user elsewhere, not queued behind
#: this process's 5,000 sockets): a fresh blocking connection once a second; prints
#: [[seconds, status, seconds to connect], ...] as JSON. argv: host, port, seconds, timeout.
_PROBE = """
import json, socket, sys, time
host, port, seconds, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
raw = f"GET /postcodes/S1%202HE HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nConnection: close\\r\\n\\r\\n".encode()
out, end = [], time.perf_counter() + seconds
while time.perf_counter() < end:
    t0 = time.perf_counter()
    status, connect = 0, None
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            connect = time.perf_counter() - t0
            sock.sendall(raw)
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
        status = int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.1 ") else 0
    except (OSError, ValueError, IndexError):
        pass
    out.append([time.perf_counter() - t0, status, connect])
    time.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))
print(json.dumps(out))
"""


async def _probe(port: int, deadline: float, held: HalfOpen, out: list) -> None:
    """The normal GETs of :data:`_PROBE`, run in another process while the half-open sockets are
    held; ``out``: (seconds, status, the fewest sockets held while it ran, seconds to connect)."""
    seconds = max(0.0, deadline - time.perf_counter())
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _PROBE, HOST, str(port), str(seconds), str(REQUEST_TIMEOUT),
                                                stdout=asyncio.subprocess.PIPE)
    fewest = held.open
    while time.perf_counter() < deadline:
        fewest = min(fewest, held.open)
        await asyncio.sleep(0.2)
    stdout, _ = await asyncio.wait_for(proc.communicate(), 3 * REQUEST_TIMEOUT)
    out.extend((total, status, fewest, float("nan") if connect is None else connect)
               for total, status, connect in json.loads(stdout or b"[]"))


async def _sample_memory(server: _Server, deadline: float, out: list) -> None:
    while time.perf_counter() < deadline:
        out.append(server.rss())
        await asyncio.sleep(0.5)


async def _soak(args, port: int, plan: Plan, server: _Server) -> dict:
    held = HalfOpen(port, args.half_open)
    holder = asyncio.ensure_future(held.run())
    t0 = time.perf_counter()
    while held.open < 0.98 * args.half_open and time.perf_counter() - t0 < 60:
        await asyncio.sleep(0.1)
    ramp = time.perf_counter() - t0
    opened = held.open
    deadline = time.perf_counter() + args.seconds
    raw_tally, probes, memory = Tally(), [], []
    (tally, wall), *_ = await asyncio.gather(
        _round(port, plan, args.clients, args.seconds, args.max_requests),
        _raw_junk(port, deadline, raw_tally), _probe(port, deadline, held, probes), _sample_memory(server, deadline, memory))
    end_rss = server.rss()
    held.stop.set()
    holder.cancel()
    try:
        await holder
    except asyncio.CancelledError:
        pass
    return {"tally": tally, "wall": wall, "raw": raw_tally, "probes": probes, "memory": memory, "end_rss": end_rss,
            "ramp": ramp, "opened": opened, "closed_by_server": held.closed_by_server, "failed_connects": held.failed_connects}


# ------------------------------------------------------------------ the log

def scan_log(text: str, roots: list[str]) -> dict:
    """Lines of the server's log showing a postcode, an absolute path (or one of ``roots``), a traceback."""
    postcodes, paths, tracebacks = [], [], 0
    lines = text.splitlines()
    for line in lines:
        if POSTCODE.search(line):
            postcodes.append(line)
        if ABSOLUTE.search(line) or any(r and r in line for r in roots):
            paths.append(line)
        tracebacks += "Traceback" in line
    return {"log_lines": len(lines), "log_postcodes": postcodes, "log_paths": paths, "log_tracebacks": tracebacks}


def _raise_fd_limit(need: int) -> int:
    try:
        import resource
    except ImportError:
        return need
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard) if hard != resource.RLIM_INFINITY else need, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else need


# ------------------------------------------------------------------ the run

def _summary(name: str, tally: Tally, wall: float) -> dict:
    lat = [s * 1000 for s in tally.latency]
    return {"phase": name, "requests": tally.count, "rps": tally.count / wall if wall else float("nan"),
            "p50": _percentile(lat, 50), "p99": _percentile(lat, 99), "max": max(lat) if lat else float("nan"),
            "errors": sum(tally.errors.values()), "wrong": sum(tally.wrong.values()), "kinds": dict(tally.kinds),
            "examples": tally.examples}


def run(args: argparse.Namespace) -> dict:
    """Everything above; returns the figures it printed."""
    if not os.environ.get("ICSGEO_DATA_DIR"):
        raise SystemExit("set ICSGEO_DATA_DIR to the data mirror (e.g. ../shared/data)")
    sys.path.insert(0, str(ROOT))
    import icsgeo

    limit = _raise_fd_limit(args.half_open + args.clients + 256)
    half_open = min(args.half_open, max(0, limit - args.clients - 256))
    if half_open < args.half_open:
        print(f"only {half_open:,} half-open sockets: this process may open {limit:,} files (ulimit -n)")
    args.half_open = half_open
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    per_vintage, batches, points = _expected(args, rng)
    print(f"in-process answers of {args.requests:,} GETs x {len(VINTAGES)} vintages, {len(batches)} POSTs of 100 and "
          f"{len(points)} points: {time.perf_counter() - t0:.1f} s", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "icsgeo", "serve", "--host", HOST, "--port", "{port}"]
    server = _Server(cmd, env, args.startup_timeout)
    result: dict = {}
    try:
        healthy_rss = server.rss()
        plans = _plans(server.port, per_vintage, batches, points, rng)

        async def go():
            for v in VINTAGES:  # each vintage's index and geography loaded before anything is measured
                q, rec = per_vintage[v][0]
                pv, lat, lon, rec_p = next(pt for pt in points if pt[0] == v)
                for path, check in ((f"/postcodes/{quote(str(q), safe='')}?vintage={v}", _answer_check(rec)),
                                    (f"/points?lat={lat}&lon={lon}&vintage={v}", _answer_check(rec_p))):
                    warm = Plan(server.port)
                    warm.get("warm", path, check)
                    await _round(server.port, warm, 1, args.startup_timeout, 1)  # ends after its one request
            start_rss = server.rss()
            single = _summary("single vintage", *await _round(server.port, plans["single"], args.clients, args.compare_seconds, args.max_requests))
            mixed = _summary("mixed vintages", *await _round(server.port, plans["mixed"], args.clients, args.compare_seconds, args.max_requests))
            soak = await _soak(args, server.port, plans["soak"], server)
            return start_rss, single, mixed, soak

        start_rss, single, mixed, soak = asyncio.run(go())
        peak_rss = max([start_rss, soak["end_rss"], *soak["memory"]])
        hwm = server.rss("VmHWM")
        tracebacks = server.tracebacks()
    finally:
        server.stop()
    log_path = Path(server.log.name)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, args.log)
        log_path.unlink()
        log_path = args.log
    settings = icsgeo.get_settings()
    roots = [str(p) for p in (settings.data_dir, settings.cache_dir, ROOT, Path.home(), Path(sys.prefix)) if p]
    scan = scan_log(log_path.read_text(errors="replace"), roots)
    main = _summary("soak", soak["tally"], soak["wall"])
    raw = _summary("raw junk", soak["raw"], soak["wall"])
    probes = soak["probes"]
    answered = [s for s, status, *_ in probes if status == 200]
    connects = [c for *_, c in probes if c == c]
    result = {**main, "errors": main["errors"] + raw["errors"], "wrong": main["wrong"] + raw["wrong"],
              "single": single, "mixed": mixed, "raw": raw, "ratio": mixed["rps"] / single["rps"] if single["rps"] else float("nan"),
              "probe_max": max(answered) if len(answered) == len(probes) and probes else float("inf"),
              "probe_p50": _percentile(answered, 50), "probes": len(probes), "probes_answered": len(answered),
              "held_min": min((h for _, _, h, _ in probes), default=0),
              "connect_p50": _percentile(connects, 50), "connect_max": max(connects, default=float("nan")), "half_open": args.half_open, "ramp": soak["ramp"],
              "closed_by_server": soak["closed_by_server"], "failed_connects": soak["failed_connects"],
              "rss_healthy": healthy_rss, "rss_start": start_rss, "rss_peak": peak_rss, "rss_end": soak["end_rss"], "rss_hwm": hwm,
              "growth_end": soak["end_rss"] / start_rss - 1, "growth_peak": peak_rss / start_rss - 1,
              "log": str(log_path), "log_tracebacks_counted": tracebacks, **scan}
    _print(args, result)
    return result


def _print(args, r: dict) -> None:
    def row(s):
        return (f"{s['rps']:>8,.0f} req/s  p50 {s['p50']:.2f} ms  p99 {s['p99']:.2f} ms  max {s['max']:.0f} ms  "
                f"requests {s['requests']:,}  errors {s['errors']}  wrong answers {s['wrong']}")

    print(f"\nmachine: {os.cpu_count()} cores; {args.clients} keep-alive clients; one asyncio client process")
    print(f"comparison ({args.compare_seconds:g} s each, single GETs):")
    print(f"  single vintage (2026)        {row(r['single'])}")
    print(f"  mixed (2021/2023/2026)       {row(r['mixed'])}")
    print(f"  mixed / single throughput: {r['ratio']:.0%} (goal >= 50%)")
    print(f"soak ({args.seconds:g} s; {r['half_open']:,} half-open sockets held, opened in {r['ramp']:.1f} s; the server closed "
          f"{r['closed_by_server']:,} of them (header timeout) and they were re-opened; {r['failed_connects']} connects failed):")
    print(f"  all requests                 {row(r)}")
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(r["kinds"].items()))
    print(f"  by kind: {kinds}; raw junk connections {r['raw']['requests']:,} (errors {r['raw']['errors']})")
    for e in r["examples"] + r["raw"]["examples"]:
        print(f"    e.g. {e}")
    print(f"  a normal GET on a fresh connection while they were held: {r['probes_answered']}/{r['probes']} answered, "
          f"median {r['probe_p50'] * 1000:.1f} ms, max {r['probe_max'] * 1000:.1f} ms (goal < 1 s); "
          f"fewest half-open sockets held at a probe: {r['held_min']:,}; of which connecting: median "
          f"{r['connect_p50'] * 1000:.1f} ms, max {r['connect_max'] * 1000:.1f} ms")
    print(f"server memory (RSS): {r['rss_healthy']:,.0f} MB when healthy, {r['rss_start']:,.0f} MB at the start (3 vintages "
          f"loaded), peak {r['rss_peak']:,.0f} MB, {r['rss_end']:,.0f} MB at the end: growth {r['growth_end']:+.1%} "
          f"(peak {r['growth_peak']:+.1%}; goal <= 20%); high-water mark {r['rss_hwm']:,.0f} MB")
    print(f"server log {r['log']}: {r['log_lines']} lines; with a postcode: {len(r['log_postcodes'])}, with an absolute "
          f"path: {len(r['log_paths'])}, tracebacks: {r['log_tracebacks']}")
    for line in (r["log_postcodes"] + r["log_paths"])[:3]:
        print(f"    {line[:160]}")


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
