# ruff: noqa: E501  (tables of inputs read best on one line)
"""Fuzz run against one served app: N requests, counted by HTTP status.

    .venv/bin/python -m benchmarks.fuzz_bench [--requests 100000] [--students 2000] [--db PATH] [--seed 1]

Builds (once) a synthetic partnership (`needtoknow generate` + `load bundle`), makes one token
per role, starts `needtoknow serve` (one worker, loopback, introspection off as shipped), then
sends N requests from one keep-alive client. Documents come from a pool drawn with
hypothesis-graphql (valid operations and operations with one schema violation, extreme
DateTime values), each request then possibly mutated (a fragment, brace, spread or random
characters inserted, or cut short), sent with a random role and Accept header; one request in
ten is a raw body (bad JSON, ``extensions`` not a map, batched array, wrong content type,
a query that is not a string). Prints counts by status, how many answers were INTERNAL or held
a traceback, and latency (max and p99) per status class. Not a test: the suite runs the
smaller fuzz (tests/api/test_fuzz.py); this is the long run for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import graphql
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from api.schema import schema as sdl_schema
from benchmarks.http_bench import Server, build

TIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "2026-01-15T12:00:00", "2026-02-30T00:00:00Z", "2026-01-15T19:00:00Z"]
DATES = ["0001-01-01", "9999-12-31", "2026-02-30", "2026-11-30", "2026-1-5"]
INSERTS = ["{", "}", "...", "...Missing", "$x", "@skip(if: true)", '"', "\\u0000", "{ }", " fragment F on Query { __typename }", "(", ")"]
ACCEPTS = ["application/graphql-response+json", "application/json", "*/*", "", "text/html", "application/json;q=0.5, application/graphql-response+json"]


def pool(size: int, seed: int) -> list[str]:
    """`size` documents from hypothesis-graphql, half valid, half with one schema violation."""
    sdl = sdl_schema.as_str()
    scalars = {
        "DateTime": st.builds(graphql.StringValueNode, value=st.one_of(st.sampled_from(TIMES), st.text(max_size=30))),
        "Date": st.builds(graphql.StringValueNode, value=st.one_of(st.sampled_from(DATES), st.text(max_size=12))),
    }
    out: list[str] = []
    for mode in (Mode.POSITIVE, Mode.NEGATIVE):

        @settings(max_examples=size // 2, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(doc=from_schema(sdl, custom_scalars=scalars, mode=mode))
        def collect(doc: str) -> None:
            out.append(doc)

        collect()
    random.Random(seed).shuffle(out)
    return out


def tokens(db: Path) -> dict[str, str]:
    """One secret per role, for real subjects of the generated data."""
    from api.tokens import TokenStore

    conn = sqlite3.connect(db)
    provider = conn.execute("SELECT record_id FROM events WHERE op = 'put_node' AND kind = 'Provider' LIMIT 1").fetchone()[0]
    partner = conn.execute("SELECT record_id FROM events WHERE op = 'put_node' AND kind = 'Partner' LIMIT 1").fetchone()[0]
    guardian = conn.execute("SELECT record_id FROM events WHERE op = 'put_node' AND kind = 'Guardian' LIMIT 1").fetchone()[0]
    conn.close()
    store = TokenStore(db)
    try:
        specs: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
            "admin": ("admin", "fuzz", ()),
            "app": ("app", "fuzz-app", (partner,)),
            "provider": ("provider", provider, ()),
            "guardian": ("guardian", guardian, ()),
            "staff": ("staff", "fuzz-staff", ()),
            "analyst": ("analyst", "fuzz-analyst", ()),
        }
        return {name: store.create(role, subject, partners, label="fuzz_bench")[1] for name, (role, subject, partners) in specs.items()}
    finally:
        store.close()


def request(rng: random.Random, docs: list[str]) -> dict[str, Any]:
    """One fuzzed request: httpx keyword arguments."""
    headers = {"Accept": rng.choice(ACCEPTS)}
    if rng.random() < 0.1:
        kind = rng.randrange(5)
        raw = [
            (b'{"query": "{ __typename }"', "application/json"),
            (b'{"query": "{ __typename }", "extensions": 5}', "application/json"),
            (b'[{"query": "{ __typename }"}]', "application/json"),
            (b'{"query": "{ __typename }"}', "text/plain"),
            (b'{"query": 5}', "application/json"),
        ][kind]
        return {"content": raw[0], "headers": {**headers, "content-type": raw[1]}}
    doc = rng.choice(docs)
    r = rng.random()
    if r < 0.25:
        at = rng.randrange(len(doc) + 1)
        doc = doc[:at] + rng.choice(INSERTS) + doc[at:]
    elif r < 0.30:
        doc = doc[: rng.randrange(len(doc) + 1)]
    elif r < 0.35:
        at = rng.randrange(len(doc) + 1)
        doc = doc[:at] + "".join(chr(rng.randrange(32, 0x2070)) for _ in range(rng.randrange(1, 6))) + doc[at:]
    return {"json": {"query": doc}, "headers": headers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--students", type=int, default=2000)
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/ntk-fuzz/fuzz.db"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    build(args.db, args.students)
    secrets = tokens(args.db)
    t = time.perf_counter()
    docs = pool(args.pool, args.seed)
    print(f"pool: {len(docs):,} hypothesis-graphql documents in {time.perf_counter() - t:.0f} s", flush=True)
    rng = random.Random(args.seed)
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    internal = tracebacks = 0
    slowest: list[tuple[float, int, int, str, int]] = []  # (seconds, request number, status, first error code, body size)
    server = Server(args.db, 1)
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=60) as client:
            for n in range(1, args.requests + 1):
                kw = request(rng, docs)
                role = rng.choice(list(secrets))
                kw["headers"]["Authorization"] = f"Bearer {secrets[role]}"
                t0 = time.perf_counter()
                r = client.post(f"{server.url}/graphql", **kw)
                took = time.perf_counter() - t0
                latency[f"{r.status_code // 100}xx"].append(took)
                statuses[r.status_code] += 1
                tracebacks += "Traceback" in r.text
                try:
                    body = r.json()
                except json.JSONDecodeError:
                    body = {}
                first_code = "-"
                for e in body.get("errors", []) if isinstance(body, dict) else []:
                    code = str((e.get("extensions") or {}).get("code"))
                    codes[code] += 1
                    internal += code == "INTERNAL"
                    first_code = code if first_code == "-" else first_code
                slowest.append((took, n, r.status_code, first_code, len(str(kw.get("json") or kw.get("content")))))
                slowest = sorted(slowest, reverse=True)[:5]
                if n % 10_000 == 0:
                    print(f"  {n:,} requests, {n / (time.perf_counter() - started):.0f}/s, 5xx so far: {sum(c for s, c in statuses.items() if s >= 500)}", flush=True)
    finally:
        server.stop()
    elapsed = time.perf_counter() - started
    print(f"{args.requests:,} requests in {elapsed:.0f} s ({args.requests / elapsed:.0f}/s), one server, one worker, one client")
    print("by status:", ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items())))
    print("error codes:", ", ".join(f"{c}: {n:,}" for c, n in codes.most_common()))
    for took, n, status, code, size in slowest:
        print(f"slow: request {n:,}: {took * 1000:.0f} ms, HTTP {status}, {code}, body {size:,} characters")
    print(f"INTERNAL errors: {internal}; answers with a traceback: {tracebacks}; 5xx: {sum(n for s, n in statuses.items() if s >= 500)}")
    for cls, values in sorted(latency.items()):
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(f"latency {cls}: median {statistics.median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {values[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
