"""Served coverage: the first answer, then repeats from the per-token cache, over HTTP on loopback.

    .venv/bin/python benchmarks/coverage_cache_bench.py [--students 170000] [--db PATH] [--repeats 20]

Builds (once) a synthetic partnership with `needtoknow generate` + `needtoknow load bundle`
(the same as benchmarks/http_bench.py), creates an analyst token, starts `needtoknow serve`
as a separate process and times, per question: the first request (facts gathered,
suppression, rendering) and `--repeats` repeats (median, p95, max; the cache answers).
Questions: ``GET /coverage/data`` as JSON, CSV and xlsx by community and by school, a
comparison of two times, and the GraphQL ``coverage`` query. Target (issue 15): a repeat
within 50 ms at 170,000 students. Figures are printed; nothing but the database is written.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.http_bench import Server, build

AT = "2026-11-15T17:00:00Z"
EARLIER = "2026-08-15T17:00:00Z"
GRAPHQL = (
    "query($at: DateTime) { coverage(by: COMMUNITY, at: $at) { at tables { name rows { id label "
    "cells { column count { value suppressed } } ratios { ratio percent { value suppressed } } } } } }"
)

NETWORK = "{ partnerNetwork { at nodes { id kind students { value suppressed } } edges { source target students { value } } } }"


def analyst_token(db: Path) -> str:
    from api.tokens import TokenStore

    store = TokenStore(db)
    try:
        return store.create("analyst", "bench", label="coverage_cache_bench")[1]
    finally:
        store.close()


def main() -> None:
    """Parse arguments, build (or reuse) the data, print timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=170_000)
    ap.add_argument("--db", type=Path, default=None, help="Journal to use (built when missing).")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    db = args.db or Path(f"/tmp/ntk-covcache-{args.students}.db")
    build(db, args.students)
    token = analyst_token(db)
    server = Server(db, 1)
    print(f"server ready in {server.startup:.1f} s ({args.students:,} students)")
    questions = [
        ("json by community", {"format": "json", "by": "community", "at": AT}),
        ("json by school", {"format": "json", "by": "school", "at": AT}),
        ("csv by community", {"format": "csv", "by": "community", "at": AT}),
        ("xlsx by community", {"format": "xlsx", "by": "community", "at": AT}),
        ("json comparison by community", {"format": "json", "by": "community", "at": AT, "compare": EARLIER}),
        ("json by community, now (no at)", {"format": "json", "by": "community"}),
    ]
    try:
        with httpx.Client(timeout=900, headers={"Authorization": f"Bearer {token}"}) as c:

            def timed(call: object) -> tuple[float, int]:
                t = time.perf_counter()
                r = call()  # type: ignore[operator]
                assert r.status_code == 200, r.text[:300]
                return (time.perf_counter() - t) * 1000, len(r.content)

            rows = []
            for name, params in questions:
                first, size = timed(lambda p=params: c.get(f"{server.url}/coverage/data", params=p))
                repeats = sorted(timed(lambda p=params: c.get(f"{server.url}/coverage/data", params=p))[0] for _ in range(args.repeats))
                rows.append((name, first, repeats, size))
            body = {"query": GRAPHQL, "variables": {"at": AT}}
            first, size = timed(lambda: c.post(f"{server.url}/graphql", json=body))
            repeats = sorted(timed(lambda: c.post(f"{server.url}/graphql", json=body))[0] for _ in range(args.repeats))
            rows.append(("GraphQL coverage by community", first, repeats, size))
            # partnerNetwork about now: one instant per token and minute, built from the cached facts.
            body = {"query": NETWORK, "variables": {}}
            first, size = timed(lambda: c.post(f"{server.url}/graphql", json=body))
            repeats = sorted(timed(lambda: c.post(f"{server.url}/graphql", json=body))[0] for _ in range(args.repeats))
            rows.append(("GraphQL partnerNetwork, now", first, repeats, size))
    finally:
        server.stop()
    print(f"{'question':32} {'first':>10} {'repeat p50':>11} {'p95':>8} {'max':>8} {'bytes':>9}")
    for name, first, rep, size in rows:
        p95 = rep[min(len(rep) - 1, int(0.95 * len(rep)))]
        print(f"{name:32} {first:8.0f} ms {statistics.median(rep):8.1f} ms {p95:5.1f} ms {rep[-1]:5.1f} ms {size:9,}")


if __name__ == "__main__":
    main()
