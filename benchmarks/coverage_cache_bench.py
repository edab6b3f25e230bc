"""Served aggregates: the first answer, then repeats from the per-token caches, over HTTP on loopback.

    .venv/bin/python -m benchmarks.coverage_cache_bench [--students 170000] [--db PATH] [--repeats 30] [--no-response-cache]

Builds (once) a synthetic partnership with `needtoknow generate` + `needtoknow load bundle`
(the same as benchmarks/http_bench.py), creates an analyst token, starts `needtoknow serve`
as a separate process and times, per question: the first request (facts gathered,
suppression, rendering) and `--repeats` repeats (p50, p99, max; the caches answer).
Questions: ``GET /coverage/data`` as JSON, CSV and xlsx by community and by school, a
comparison of two times; GraphQL ``coverage`` (full selection), the /network page's side
panel ``coverage`` by school, ``partnerNetwork`` at a time and about now, and the page's
``networkOverview``. ``--no-response-cache`` serves with ``NTK_RESPONSE_CACHE_BYTES=0``
(GraphQL answers rebuilt by strawberry on every request, for comparison). Target (issues 12
and 15): a repeat within 50 ms at 170,000 students. Figures are printed with the machine's
load average; nothing but the database (a token) is written. ``--cross-minute`` then waits for
the next clock minute and asks the questions about "now" again: the first of them reads the
state's instants once (`graph.analytics.instants`) and keeps the pin when nothing lapsed.
"""

from __future__ import annotations

import argparse
import math
import os
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

NETWORK = (
    "query($at: DateTime) { partnerNetwork(at: $at) { at nodes { id kind students { value suppressed } } "
    "edges { source target students { value } } } }"
)
PANEL = (  # api/web/static/network.js, COVERAGE: the side panel's coverage of a node's kind
    "query Coverage($by: CoverageGroup!, $at: DateTime) {"
    " coverage(by: $by, at: $at) { at tables { name title columns { name title } ratioColumns { name title }"
    "  rows { id label cells { column count { value suppressed display } } ratios { ratio percent { value suppressed display } } } } } }"
)
OVERVIEW = (  # api/web/static/network.js, OVERVIEW (the page's first request)
    "query Overview($at: DateTime) { networkOverview(at: $at) { at consistencyToken suppressionK suppressionKInclusive nodeCount"
    " communities { id label students { value suppressed display } schools { id label students { value suppressed display } } }"
    " partners { id label students { value suppressed display } programCount"
    " programs { id label fullLabel students { value suppressed display } partnerIds communityIds } communities { id programCount } } } }"
)


def percentile(sorted_ms: list[float], p: float) -> float:
    """The `p` quantile (0..1) of ascending `sorted_ms`, nearest rank."""
    return sorted_ms[min(len(sorted_ms), max(1, math.ceil(p * len(sorted_ms)))) - 1]


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
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--no-response-cache", action="store_true", help="Serve with NTK_RESPONSE_CACHE_BYTES=0.")
    ap.add_argument(
        "--cross-minute",
        action="store_true",
        help="Then wait for the next clock minute and ask the questions about now again (the pin holds while nothing lapses).",
    )
    args = ap.parse_args()
    if args.no_response_cache:
        os.environ["NTK_RESPONSE_CACHE_BYTES"] = "0"  # the server process inherits it
    # Charged as always (a hit costs its budget), but not binding for this many repeats.
    os.environ["NTK_AGGREGATE_LIMITS"] = '{"analyst": "100000/minute"}'
    os.environ["NTK_RATE_LIMIT"] = "100000/minute"
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
            graphql = [
                ("GraphQL coverage by community", GRAPHQL, {"at": AT}),
                ("GraphQL side panel, by school", PANEL, {"by": "SCHOOL", "at": AT}),
                ("GraphQL partnerNetwork, at", NETWORK, {"at": AT}),
                ("GraphQL partnerNetwork, now", NETWORK, {}),
                ("GraphQL networkOverview", OVERVIEW, {"at": AT}),
            ]
            for name, query, variables in graphql:
                body = {"query": query, "variables": variables}
                first, size = timed(lambda b=body: c.post(f"{server.url}/graphql", json=b))
                repeats = sorted(timed(lambda b=body: c.post(f"{server.url}/graphql", json=b))[0] for _ in range(args.repeats))
                rows.append((name, first, repeats, size))
            if args.cross_minute:
                time.sleep(61 - time.time() % 60)  # into the next clock minute
                nows = [
                    ("after the minute: json by community, now", lambda: c.get(f"{server.url}/coverage/data", params=questions[-1][1])),
                    ("after the minute: GraphQL partnerNetwork, now", lambda: c.post(f"{server.url}/graphql", json={"query": NETWORK})),
                ]
                for name, call in nows:
                    first, size = timed(call)
                    rows.append((name, first, sorted(timed(call)[0] for _ in range(args.repeats)), size))
    finally:
        server.stop()
    cache = "off" if args.no_response_cache else "on"
    print(f"{args.students:,} students, response cache {cache}, {args.repeats} repeats")
    print("| question | first | repeat p50 | repeat p99 | max | bytes |\n|---|---|---|---|---|---|")
    for name, first, rep, size in rows:
        print(
            f"| {name} | {first:.0f} ms | {statistics.median(rep):.1f} ms | {percentile(rep, 0.99):.1f} ms | {rep[-1]:.1f} ms | {size:,} |"
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
