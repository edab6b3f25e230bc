"""Feed benchmark: commit-to-webhook latency (p50/p99) and events per second.

    python -m benchmarks.feed_bench --students 3000 --samples 200 --burst 1000

1. Generates and loads a synthetic partnership (`needtoknow generate` data).
2. Derives the feed's first snapshot in process: access changes derived per second.
3. Starts `needtoknow serve` (a real process, default feed settings) with one admin webhook
   endpoint on a loopback receiver in this process.
4. Latency: one `changeServiceStatus` at a time on a pair that has access (pause, then
   resume), each waited for: from the mutation's HTTP response (the commit) to the arrival
   of the webhook carrying that commit's ``causeSeq``.
5. Throughput: `--burst` status changes sent back to back; delivered events per second
   from the first request to the last arrival.

Prints a Markdown table.

    python -m benchmarks.feed_bench --derive 10000

Derivation throughput alone, in process: the dense world of tests/feed/test_many_changes.py
(12 providers x 40 students, every pair served over time, many consents per student) takes
`--derive` random writes through the commands (start, pause, end services; revoke and record
consents; record trainings), then one `Deriver` drains the outbox: once one commit per step
(``max_rows=1``, how it derived before batching) on a copy of the file, once in batches
(the default). Prints commits derived per second and access changes for each.

    python -m benchmarks.feed_bench --many 10000

The end-to-end scenario of tests/feed/test_many_changes.py at full scale (two server
processes, four webhook endpoints, every assertion of the test), with its timings.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from benchmarks.stats import percentile


class Receiver:
    """Loopback HTTP server recording (arrival monotonic time, causeSeq) per POST."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.count = 0
        self.last_arrival = 0.0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                at = time.monotonic()
                seq = json.loads(body)["data"]["causeSeq"]
                with receiver.cond:
                    receiver.count += 1
                    receiver.last_arrival = at
                    if seq is not None:
                        receiver.arrivals.setdefault(int(seq), at)
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


TOGGLE = (
    "mutation($s: ID!, $t: ServiceStatus!) { changeServiceStatus(serviceId: $s, status: $t) "
    "{ ... on ServicePayload { service { id } consistencyToken } ... on ValidationError { code } } }"
)


def dense_writes(store: Any, rng: Any, n: int) -> None:
    """`n` random writes through the commands on the test_many_changes world (refusals skipped)."""
    from graph.commands.change_service_status import ChangeServiceStatus, change_service_status
    from graph.commands.end_service import EndService, end_service
    from graph.commands.record_consent import RecordConsent, record_consent
    from graph.commands.record_training import RecordTraining, record_training
    from graph.commands.revoke_consent import RevokeConsent, revoke_consent
    from graph.commands.start_service import StartService, start_service
    from graph.errors import ChangeRejected
    from graph.model import ServiceStatus
    from graph.timeutil import utcnow
    from tests.feed.test_many_changes import CATS, PROVIDERS, STUDENTS

    services: list[str] = []
    consents = [f"c-{s}" for s in STUDENTS]
    for _ in range(n):
        now = utcnow()
        roll = rng.random()
        cats = frozenset(rng.sample(CATS, rng.randint(1, 3)))
        try:
            if roll < 0.35 or not services:
                services.append(
                    start_service(store, StartService(rng.choice(PROVIDERS), rng.choice(STUDENTS), cats), now=now).result["service"]
                )
            elif roll < 0.55:
                end_service(store, EndService(services.pop(rng.randrange(len(services)))), now=now)
            elif roll < 0.65:
                status = rng.choice([ServiceStatus.PAUSED, ServiceStatus.ACTIVE])
                change_service_status(store, ChangeServiceStatus(rng.choice(services), status), now=now)
            elif roll < 0.78:
                revoke_consent(store, RevokeConsent(rng.choice(consents)), now=now)
            elif roll < 0.92:
                s = rng.choice(STUDENTS)
                partner = rng.choice(["ptn-hope", "ptn-other"])
                done = record_consent(store, RecordConsent(s, f"g-{s}", (partner,), frozenset({"academic_support"}), cats), now=now)
                consents.append(done.result["consent"])
            else:
                record_training(store, RecordTraining(rng.choice(PROVIDERS), "crs-ferpa_basics"), now=now)
        except ChangeRejected:
            pass


def derive_main(n: int, seed: int) -> None:
    """Derivation throughput in process (module docstring)."""
    import random
    import shutil

    from graph.feed.deriver import Deriver
    from graph.feed.outbox_read import OutboxReader
    from graph.feed.store import FeedStore
    from graph.policy import DEFAULT_POLICY
    from graph.stores.memory import MemoryStore
    from graph.timeutil import utcnow
    from tests.feed.test_many_changes import population

    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="feed-derive-"))
    db = work / "dense.db"
    store = MemoryStore(db)
    store.apply(population(rng))
    feed = FeedStore(db)
    first = Deriver(store, feed, DEFAULT_POLICY, utcnow)
    first.step()  # the snapshot: derivation starts after it
    first.close()
    feed.conn.close()
    t0 = time.perf_counter()
    dense_writes(store, rng, n)
    wrote = time.perf_counter() - t0
    reader = OutboxReader(store)
    rows = reader.count_since(0) - 1  # the population's own row was covered by the snapshot
    reader.close()
    store.close()
    print(f"{n:,} writes through the commands in {wrote:.1f} s ({rows:,} commits)")
    print("| derivation | commits | access changes | seconds | commits/s |")
    print("|---|---:|---:|---:|---:|")
    for label, max_rows in (("one commit per step (before)", 1), ("batches of up to 500 (now)", 500)):
        copy = work / f"copy-{max_rows}.db"
        shutil.copy(db, copy)
        for suffix in ("-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
        store = MemoryStore(copy)
        feed = FeedStore(copy)
        deriver = Deriver(store, feed, DEFAULT_POLICY, utcnow)
        deriver.start()
        head = store.journal.head()
        events = 0
        t0 = time.perf_counter()
        while int(feed.meta("outbox_done") or 0) < head:
            events += len(deriver.step(max_rows=max_rows))
        took = time.perf_counter() - t0
        print(f"| {label} | {rows:,} | {events:,} | {took:.1f} | {rows / took:,.1f} |")
        deriver.close()
        store.close()
        feed.conn.close()
    shutil.rmtree(work, ignore_errors=True)


def many_main(n: int) -> None:
    """The test_many_changes scenario at `n` writes (module docstring)."""
    from tests.feed.test_many_changes import scenario

    os.environ.setdefault("NTK_FEED_LEASE_SECONDS", "2")  # as the test runs it
    work = Path(tempfile.mkdtemp(prefix="feed-many-"))
    result = scenario(work, n)
    print("| writes | writes s | writes/s | drain after last write s | commits derived/s (drain) | access changes | deliveries |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {n:,} | {result.wrote_s:.1f} | {n / result.wrote_s:,.1f} | {result.drain_s:.1f} | {result.drain_rate:,.1f} "
        f"| {result.events:,} | {result.deliveries:,} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--derive", type=int, default=0, help="Only: derivation throughput after this many writes, in process.")
    parser.add_argument("--many", type=int, default=0, help="Only: the test_many_changes scenario with this many writes.")
    args = parser.parse_args()
    if args.derive:
        derive_main(args.derive, args.seed)
        return
    if args.many:
        many_main(args.many)
        return

    from api.tokens import TokenStore
    from api.webhooks.signing import new_secret
    from graph.commands.add_webhook import AddWebhook, add_webhook
    from graph.feed.deriver import Deriver
    from graph.feed.store import FeedStore
    from graph.model import EdgeKind, NodeKind, Serves, ServiceStatus
    from graph.policy import DEFAULT_POLICY
    from graph.stores.memory import MemoryStore
    from graph.timeutil import utcnow
    from loaders.bundle import read
    from loaders.importer import import_result
    from loaders.synthetic import generate

    work = Path(tempfile.mkdtemp(prefix="feed-bench-"))
    generate(work / "bundle", students=args.students, seed=args.seed)
    db = work / "feed.db"
    store = MemoryStore(db)
    import_result(store, read([work / "bundle"], default_valid_from=utcnow()))
    feed = FeedStore(db)
    t0 = time.perf_counter()
    deriver = Deriver(store, feed, DEFAULT_POLICY, utcnow)
    snapshot = deriver.step()
    derive_s = time.perf_counter() - t0
    deriver.close()
    granted = {(e.provider_id, e.student_id) for e in snapshot if e.after}
    # Services whose pause takes a pair's access away: direct, active, open, the pair's only service.
    direct: dict[tuple[str, str], list[Serves]] = {}
    for e in store.edges(EdgeKind.SERVES):
        assert isinstance(e, Serves)
        node = store.node(e.from_id)
        if node is not None and node.kind is NodeKind.PROVIDER:
            direct.setdefault((e.from_id, e.to_id), []).append(e)
    per_student: dict[str, int] = {}
    for e in store.edges(EdgeKind.SERVES):
        per_student[e.to_id] = per_student.get(e.to_id, 0) + 1
    toggles = [
        v[0].id
        for pair, v in sorted(direct.items())
        if pair in granted and per_student[pair[1]] == 1 and v[0].valid_to is None and v[0].status is ServiceStatus.ACTIVE
    ]
    receiver = Receiver()
    add_webhook(feed, store, AddWebhook(receiver.url, "admin"), now=utcnow(), secret=new_secret())
    tokens = TokenStore(db)
    admin = tokens.create("admin", "bench")[1]
    tokens.close()
    store.close()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}/graphql"
    client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {admin}"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        time.sleep(1.0)  # the feed service takes its lease and loads its schedule

        def toggle(service_id: str, status: str) -> tuple[str, int, float]:
            r = client.post(url, json={"query": TOGGLE, "variables": {"s": service_id, "t": status}}).json()
            payload = r["data"]["changeServiceStatus"]
            return payload["service"]["id"], int(payload["consistencyToken"]), time.monotonic()

        latencies: list[int] = []
        ids = list(toggles)
        paused = [False] * len(ids)

        def flip(k: int) -> tuple[int, float]:
            ids[k], seq, committed = toggle(ids[k], "ACTIVE" if paused[k] else "PAUSED")
            paused[k] = not paused[k]
            return seq, committed

        for i in range(args.samples):
            seq, committed = flip(i % len(ids))
            if receiver.wait(lambda seq=seq: seq in receiver.arrivals, 3):
                latencies.append(int((receiver.arrivals[seq] - committed) * 1e9))

        before = receiver.count
        started = time.monotonic()
        burst = args.burst
        for i in range(burst):
            flip(i % len(ids))
        sent = time.monotonic() - started
        last = (-1, time.monotonic())
        while receiver.count - before < burst and time.monotonic() - last[1] < 3:  # until all arrived, or 3 s of quiet
            if receiver.count != last[0]:
                last = (receiver.count, time.monotonic())
            time.sleep(0.05)
        elapsed = max(receiver.last_arrival, started) - started
        delivered = receiver.count - before
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)

    print(
        "| students | snapshot: changes derived | derive s | changes/s derived | latency samples "
        "| commit→webhook p50 ms | p99 ms | burst writes | writes/s | delivered | events/s end to end |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.students:,} | {len(snapshot):,} | {derive_s:.2f} | {len(snapshot) / derive_s:,.0f} | {len(latencies)} "
        f"| {percentile(latencies, 50) / 1000:.1f} | {percentile(latencies, 99) / 1000:.1f} | {burst} | {burst / sent:,.0f} "
        f"| {delivered} | {delivered / elapsed:,.0f} |"
    )


if __name__ == "__main__":
    main()
