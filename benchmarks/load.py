"""Load test of `icsgeo serve` on this machine (issue 6).

Starts `icsgeo serve` on 127.0.0.1 (a free port) as a subprocess, waits for /health, sends a bounded
load from a few client threads, each with one keep-alive connection (http.client: the client stays
light, the machine's cores go to the server), stops the server and prints throughput,
p50/p99 latency per request kind, errors, 5xx and the server's peak RSS (VmHWM). Traffic goes to
127.0.0.1 only. It stops by itself: the load phase ends after --max-seconds even if not all requests
were sent (the report says so), and the server is killed if it does not stop.

    ICSGEO_DATA_DIR=../shared/data python benchmarks/load.py            # 20,000 GETs + 200 POSTs of 100
    ICSGEO_DATA_DIR=../shared/data python benchmarks/load.py --gets 2000 --posts 20 --clients 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _sample_postcodes(n: int, seed: int) -> list[str]:
    """Real postcodes sampled (with replacement) from the Code-Point Open file, via icsgeo.read: those
    with a location (the ~800 non-geographic ones, quality 90, are answered not_found)."""
    sys.path.insert(0, str(ROOT))
    import icsgeo

    cp = icsgeo.read("codepoint-open-2025-10")
    pcs = cp.loc[cp["has_location"].fillna(False).astype(bool), "postcode"].dropna().astype(str).tolist()
    rng = random.Random(seed)
    return [rng.choice(pcs) for _ in range(n)]


def _junk(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # not a postcode at all
        return "".join(rng.choice(string.ascii_letters + string.digits + " -'<>;") for _ in range(rng.randint(1, 30)))
    if kind == 1:  # well formed, unknown (404)
        return rng.choice(["SW1A 9ZZ", "M1 9ZZ", "S1 2ZZ", "BT1 1AA", "sw1a9zz"])
    if kind == 2:  # injection-looking
        return rng.choice(["' OR 1=1 --", "<script>alert(1)</script>", "=cmd|' /C calc'!A0", "../../etc/passwd", "$(id)"])
    return "Ｓ１ ２ＨＥ"  # full-width look-alike


def _vmhwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gets", type=int, default=20_000, help="single GET /postcodes/{postcode} requests (default 20,000)")
    ap.add_argument("--junk", type=float, default=0.05, help="share of the GETs that are junk (default 0.05)")
    ap.add_argument("--posts", type=int, default=200, help="POST /postcodes requests (default 200)")
    ap.add_argument("--post-size", type=int, default=100, help="postcodes per POST (default 100)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    ap.add_argument("--max-seconds", type=float, default=300, help="stop sending after this long (default 300)")
    ap.add_argument("--startup-timeout", type=float, default=600, help="wait this long for /health (default 600)")
    ap.add_argument("--vintage", default=None)
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    real = _sample_postcodes(args.gets + args.posts * args.post_size, args.seed)
    tasks: list[tuple[str, object]] = []
    for i in range(args.gets):
        tasks.append(("get junk", _junk(rng)) if rng.random() < args.junk else ("get", real[i]))
    for i in range(args.posts):
        items = real[args.gets + i * args.post_size: args.gets + (i + 1) * args.post_size]
        items[rng.randrange(len(items))] = _junk(rng)  # one bad item per request: still a 200
        tasks.append(("post", items))
    rng.shuffle(tasks)

    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="icsgeo-serve-", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "icsgeo", "serve", "--host", HOST, "--port", str(port)]
    if args.vintage:
        cmd += ["--vintage", args.vintage]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    t_start = time.perf_counter()
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    results: list[tuple[str, float, int | None, bool]] = []  # kind, seconds, status, ok
    failures: list[tuple[str, object, int | None]] = []
    lock = threading.Lock()
    try:
        while True:
            if server.poll() is not None:
                print(Path(log.name).read_text()[-3000:], file=sys.stderr)
                raise SystemExit(f"icsgeo serve exited with {server.returncode} before it was healthy")
            try:
                c = http.client.HTTPConnection(HOST, port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                c.close()
            if time.perf_counter() - t_start > args.startup_timeout:
                raise SystemExit(f"icsgeo serve was not healthy within {args.startup_timeout:.0f} s")
            time.sleep(0.25)
        startup = time.perf_counter() - t_start
        rss_idle = _vmhwm_mb(server.pid)

        work: queue.SimpleQueue = queue.SimpleQueue()
        for t in tasks:
            work.put(t)
        deadline = time.perf_counter() + args.max_seconds

        def client() -> None:
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            while time.perf_counter() < deadline:
                try:
                    kind, payload = work.get_nowait()
                except queue.Empty:
                    break
                t0 = time.perf_counter()
                status, ok = None, False
                try:
                    if kind == "post":
                        conn.request("POST", "/postcodes", body=json.dumps({"postcodes": payload}).encode(),
                                     headers={"Content-Type": "application/json"})
                    else:
                        conn.request("GET", "/postcodes/" + quote(str(payload), safe=""))
                    r = conn.getresponse()
                    body = json.loads(r.read())
                    status = r.status
                    if kind == "post":
                        ok = status == 200 and body["count"] == len(payload)
                    else:
                        ok = (status == 200 if kind == "get" else status in (404, 422)) and isinstance(body, dict)
                except (OSError, http.client.HTTPException, ValueError):
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=60)
                with lock:
                    results.append((kind, time.perf_counter() - t0, status, ok))
                    if not ok:
                        failures.append((kind, payload, status))
            conn.close()

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.max_seconds + 120)
        wall = time.perf_counter() - t0
        rss_peak = _vmhwm_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()

    sent = len(results)
    errors = sum(not ok for *_, ok in results)
    fivexx = sum(1 for _, _, s, _ in results if s is not None and s >= 500)
    postcodes = sum(args.post_size if k == "post" else 1 for k, *_ in results)
    server_log = Path(log.name).read_text()
    tracebacks = server_log.count("Traceback")
    print(f"icsgeo serve on {base}: healthy after {startup:.1f} s (peak RSS {rss_idle or float('nan'):.0f} MB before load)")
    print(f"load: {args.clients} clients, keep-alive, {sent:,} of {len(tasks):,} requests in {wall:.1f} s"
          + ("" if sent == len(tasks) else f" (stopped by --max-seconds {args.max_seconds:.0f})"))
    print(f"throughput: {sent / wall:,.0f} requests/s, {postcodes / wall:,.0f} postcodes/s")
    print(f"{'kind':<10} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in ("get", "get junk", "post"):
        lat = [d * 1000 for k, d, *_ in results if k == kind]
        if lat:
            print(f"{kind:<10} {len(lat):>9,} {_percentile(lat, 50):>8.1f} {_percentile(lat, 99):>8.1f} {max(lat):>8.1f}")
    codes: dict = {}
    for _, _, s, _ in results:
        codes[s] = codes.get(s, 0) + 1
    print(f"status codes: {dict(sorted(codes.items(), key=lambda kv: str(kv[0])))}")
    print(f"errors: {errors}   5xx: {fivexx}   server tracebacks: {tracebacks}")
    for kind, payload, status in failures[:5]:
        print(f"  e.g. {kind} {str(payload)[:80]!r} -> {status}")
    print(f"server peak RSS (VmHWM): {rss_peak or float('nan'):.0f} MB")
    print(f"server exit: {server.returncode}; log: {log.name}")
    return 0 if errors == 0 and fivexx == 0 and tracebacks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
