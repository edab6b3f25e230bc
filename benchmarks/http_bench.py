"""HTTP benchmark of the GraphQL API at county scale, on loopback.

    .venv/bin/python benchmarks/http_bench.py [--students 170000] [--db PATH] [--seconds 10]

Builds (once) a synthetic partnership with `loaders.synthetic.generate` and loads it with
`needtoknow load bundle`, creates an admin token, then starts `needtoknow serve` as a
separate process (1, then 2 workers) and measures:

* single ``check``: latency p50/p99 from one sequential keep-alive client (the standard
  library's ``http.client``, whose own cost is small, then httpx), and requests/s from
  several client processes (clients run in their own processes, so their GIL is not the
  server's);
* ``checkMany`` of 100 and 1,000 checks: checks/s from one sequential client.

Pairs are drawn from the SERVES edges (providers and the students they serve, so most
checks walk a real consent/agreement/community path) plus 20% random pairs (denies).
Figures are printed; nothing is written besides the database.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

CHECK = "query($r: CheckInput!) { check(request: $r) { allowed outcome releasedCategories reasons { code } } }"
MANY = "query($r: [CheckInput!]!) { checkMany(requests: $r) { allowed outcome releasedCategories reasons { code } } }"
# The same questions and answers through strawberry: an alias (even one naming the field itself)
# is a shape the lean path (api/lean.py) leaves to the schema, so this row measures the schema path.
CHECK_SCHEMA = CHECK.replace("{ check(", "{ check: check(")
MANY_SCHEMA = MANY.replace("{ checkMany(", "{ checkMany: checkMany(")


def build(db: Path, students: int) -> None:
    """Generate and load the synthetic partnership unless `db` exists."""
    if db.exists():
        return
    bundle = db.with_suffix(".bundle")
    cli = [sys.executable, "-c", "from api.cli import main; main()"]
    t = time.perf_counter()
    subprocess.run([*cli, "generate", "--students", str(students), "--seed", "1", "--out", str(bundle)], check=True)
    subprocess.run([*cli, "load", "bundle", str(bundle), "--db", str(db)], check=True)
    print(f"built {db} ({students:,} students) in {time.perf_counter() - t:.0f} s")


def pairs(db: Path, n: int, seed: int = 7) -> list[dict[str, str]]:
    """Check requests: SERVES pairs from providers, plus 20% random (provider, student) pairs."""
    conn = sqlite3.connect(db)
    providers = {r[0] for r in conn.execute("SELECT record_id FROM events WHERE op = 'put_node' AND kind = 'Provider'")}
    students = [r[0] for r in conn.execute("SELECT record_id FROM events WHERE op = 'put_node' AND kind = 'Student'")]
    serves = []
    for (data,) in conn.execute("SELECT data FROM events WHERE op = 'put_edge' AND kind = 'SERVES'"):
        e = json.loads(data)
        if e["from_id"] in providers:
            serves.append((e["from_id"], e["to_id"]))
    conn.close()
    rng = random.Random(seed)
    plist = sorted(providers)
    out = []
    for i in range(n):
        if i % 5 == 4:
            p, s = rng.choice(plist), rng.choice(students)
        else:
            p, s = rng.choice(serves)
        out.append({"providerId": p, "studentId": s, "purpose": "academic_support"})
    return out


def admin_token(db: Path) -> str:
    from api.tokens import TokenStore

    store = TokenStore(db)
    try:
        return store.create("admin", "bench", label="http_bench")[1]
    finally:
        store.close()


class Server:
    """`needtoknow serve` on a free loopback port."""

    def __init__(self, db: Path, workers: int) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from api.cli import main; main()",
                "serve",
                "--db",
                str(db),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            stdout=subprocess.DEVNULL,
            # The per-token rate limit (default 1,200 a minute) would refuse a benchmark's requests.
            env={**os.environ, "NTK_RATE_LIMIT": ""},
        )
        t = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.1)
        self.startup = time.perf_counter() - t
        if workers > 1:  # every worker loads the graph; give the others time to finish
            time.sleep(self.startup * 1.5)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _client_loop(url: str, token: str, reqs: list[dict[str, str]], seconds: float, out: Any) -> None:
    n = 0
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            r = c.post(f"{url}/graphql", json={"query": CHECK, "variables": {"r": reqs[n % len(reqs)]}})
            assert r.status_code == 200, r.text[:200]
            n += 1
    out.put(n)


def latency(url: str, token: str, reqs: list[dict[str, str]], n: int, query: str = CHECK, client: str = "stdlib") -> tuple[float, float]:
    """p50 and p99 in ms of one sequential keep-alive client.

    ``client="stdlib"``: `http.client` (about 0.3 ms of client CPU per request on this machine
    kind, so the figure is mostly the server's); ``"httpx"``: httpx (about 0.8 ms).
    """
    times = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps({"query": query, "variables": {"r": reqs[i % len(reqs)]}}) for i in range(n + 200)]
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    hc = httpx.Client(timeout=30, headers=headers)
    try:
        for i, body in enumerate(bodies):
            t = time.perf_counter()
            if client == "httpx":
                status, text = (r := hc.post(f"{url}/graphql", content=body)).status_code, r.text
            else:
                conn.request("POST", "/graphql", body, headers)
                resp = conn.getresponse()
                status, text = resp.status, resp.read().decode()
            dt = time.perf_counter() - t
            assert status == 200, text[:200]
            if i >= 200:  # warm-up excluded
                times.append(dt)
    finally:
        conn.close()
        hc.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000


def throughput(url: str, token: str, reqs: list[dict[str, str]], clients: int, seconds: float) -> float:
    q: Any = mp.Queue()
    procs = [mp.Process(target=_client_loop, args=(url, token, reqs[i::clients], seconds, q)) for i in range(clients)]
    for p in procs:
        p.start()
    total = sum(int(q.get()) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def many(url: str, token: str, reqs: list[dict[str, str]], size: int, rounds: int, query: str = MANY) -> float:
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"}) as c:
        c.post(f"{url}/graphql", json={"query": query, "variables": {"r": reqs[:size]}})
        t = time.perf_counter()
        for i in range(rounds):
            batch = [reqs[(i * size + j) % len(reqs)] for j in range(size)]
            r = c.post(f"{url}/graphql", json={"query": query, "variables": {"r": batch}})
            assert r.status_code == 200 and len(r.json()["data"]["checkMany"]) == size
        return size * rounds / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=170_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/needtoknow-bench/slco.db"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--latency-requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    ap.add_argument("--many-rounds", type=int, default=10, help="batches of 1,000 per checkMany row")
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    build(args.db, args.students)
    reqs = pairs(args.db, 20_000)
    token = admin_token(args.db)
    print(f"db {args.db}; {len(reqs):,} request pairs; python {sys.version.split()[0]}")
    for workers in (int(w) for w in args.workers.split(",")):
        server = Server(args.db, workers)
        try:
            print(f"\n== {workers} worker(s) (ready after {server.startup:.1f} s)")
            p50, p99 = latency(server.url, token, reqs, args.latency_requests)
            print(f"check latency, 1 sequential client (http.client): p50 {p50:.2f} ms  p99 {p99:.2f} ms")
            p50, p99 = latency(server.url, token, reqs, args.latency_requests, client="httpx")
            print(f"check latency, 1 sequential client (httpx): p50 {p50:.2f} ms  p99 {p99:.2f} ms")
            rps = throughput(server.url, token, reqs, args.clients, args.seconds)
            print(f"check throughput, {args.clients} client processes: {rps:,.0f} requests/s")
            if workers == 1:
                p50, p99 = latency(server.url, token, reqs, args.latency_requests, CHECK_SCHEMA)
                print(f"check latency through the schema (no lean path): p50 {p50:.2f} ms  p99 {p99:.2f} ms")
                for size, rounds in ((100, 5 * args.many_rounds), (1000, args.many_rounds)):
                    lean = many(server.url, token, reqs, size, rounds)
                    full = many(server.url, token, reqs, size, rounds, MANY_SCHEMA)
                    print(f"checkMany of {size}: {lean:,.0f} checks/s; through the schema (no lean path) {full:,.0f} checks/s")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
