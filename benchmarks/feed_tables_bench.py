"""The feed's tables on each backend: recording, reading pages, renewing the lease.

    python -m benchmarks.feed_tables_bench --events 20000 --batch 500 [--neo4j-uri bolt://127.0.0.1:7687]

For the SQLite tables (a fresh temporary file) and, when ``--neo4j-uri`` is given, the Neo4j
ones (`graph.feed.store_neo4j`; **this deletes every feed node in that database** first: use a
test server): `record` of ``--events`` synthetic access changes in batches of ``--batch`` (one
transaction each, as the deriver writes a step), reading them all back in pages of 500 (as
`accessChanges` and the webhook workers do), and 200 lease renewals (the feed service renews
every third of ``NTK_FEED_LEASE_SECONDS``). Prints a Markdown table; the figures in
BENCHMARKS.md give the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.stats import percentile
from graph.feed.events import AccessChange, Cause, event_id
from graph.feed.tables import FeedTables
from graph.timeutil import utcnow

FEED_LABELS = ("NtkFeedEvent", "NtkFeedAccess", "NtkFeedMeta", "NtkFeedLease", "NtkWebhook", "NtkWebhookDead")


def changes(n: int) -> list[AccessChange]:
    """`n` changes over 200 providers x (n / 200) students, with realistic reasons."""
    now = utcnow()
    reason = {"code": "consent_revoked", "message": "the consent was revoked", "subject": "cns-x", "category": None, "ref": None}
    out = []
    for i in range(n):
        p, s, at = f"prv-{i % 200}", f"stu-{i // 200}", now + timedelta(microseconds=i)
        out.append(
            AccessChange(
                id=event_id(Cause.WRITE, str(i), p, s, at),
                provider_id=p,
                student_id=s,
                before=("attendance", "grades"),
                after=(),
                effective_at=at,
                consistency_token=f"{i}",
                cause=Cause.WRITE,
                cause_seq=i,
                recorded_at=now,
                reasons=(reason,),
                reasons_redacted=(reason,),
                partners=("ptn-hope",),
                guardians=("gia",),
            )
        )
    return out


def measure(name: str, feed: FeedTables, events: list[AccessChange], batch: int) -> str:
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        feed.record(events[i : i + batch], {"outbox_done": str(i + batch)})
    recorded = time.perf_counter() - t0
    t0 = time.perf_counter()
    pos, read = 0, 0
    while page := feed.events_after(pos, 500):
        pos, read = page[-1].position, read + len(page)
    paged = time.perf_counter() - t0
    assert read == len(events) == feed.head(), (read, feed.head())
    renewals: list[int] = []
    for _ in range(200):
        t0_ns = time.perf_counter_ns()
        assert feed.lease("feed", "bench", time.time(), 3.0)
        renewals.append(time.perf_counter_ns() - t0_ns)
    return (
        f"| {name} | {len(events):,} | {batch} | {len(events) / recorded:,.0f} | {read / paged:,.0f} "
        f"| {percentile(renewals, 50) / 1000:.2f} | {percentile(renewals, 99) / 1000:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--neo4j-uri", default=None, help="Also the Neo4j tables on this (test) server; its feed nodes are deleted.")
    args = parser.parse_args()
    events = changes(args.events)
    print("| tables | events | per transaction | recorded/s | read/s (pages of 500) | lease renewal p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    from graph.feed.store import FeedStore

    with tempfile.TemporaryDirectory(prefix="feed-tables-") as work:
        sqlite = FeedStore(Path(work) / "feed.db")
        try:
            print(measure("SQLite", sqlite, events, args.batch))
        finally:
            sqlite.close()
    if args.neo4j_uri:
        from graph.feed.store_neo4j import Neo4jFeedStore
        from graph.stores.neo4j import Neo4jStore

        store = Neo4jStore(args.neo4j_uri)
        try:
            with store._driver.session(database=store.database) as session:
                where = " OR ".join(f"n:{label}" for label in FEED_LABELS)
                session.run(f"MATCH (n) WHERE {where} CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS").consume()
            print(measure("Neo4j", Neo4jFeedStore(store), events, args.batch))
        finally:
            store.close()


if __name__ == "__main__":
    main()
