"""The feed outlives real failures and then delivers every change exactly once.

    the tests/feed/ops.py world (ana, bo, cy; sam, sue), one SQLite file (or Neo4j, holding the
    graph and the feed's tables); a feed service in
    this process (the one a server runs) with an admin webhook on a real loopback receiver;
    writes through the commands on a second connection to the file (as another process would).

1. A row that makes derivation raise (an outbox row whose data is not JSON: not one of the
   engine's own errors): the service logs it, keeps running, shows the lag and the error, and
   retries the same row; nothing after it is derived out of order. Once the row is readable
   again the feed catches up and every change arrives exactly once.
2. Another process holding the file's write lock: briefly, and everything waits (no error);
   longer than the busy timeout, and every write of the feed fails for a while (lease, events,
   cursors after accepted deliveries); then it recovers, still exactly once.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from api.webhooks.service import FeedService
from api.webhooks.settings import FeedSettings
from api.webhooks.signing import new_secret
from graph.commands.add_webhook import AddWebhook, add_webhook
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.feed.outbox_read import OutboxReader
from graph.feed.status import feed_status
from graph.feed.store import FeedStore
from graph.feed.store_neo4j import Neo4jFeedStore
from graph.feed.tables import FeedTables
from graph.policy import DEFAULT_POLICY
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow
from tests.feed.ops import PARTNERS, PROVIDERS, STUDENTS, run, world_changes
from tests.feed.receiver import Receiver

SETTINGS = FeedSettings(poll_seconds=0.02, lease_seconds=2.0, backoff_seconds=0.05, max_attempts=4, timeout_seconds=5.0)


def random_ops(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    """`n` writes of tests/feed/ops.py (no clock steps: the service runs on real time)."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(n):
        verb = rng.choice(["revoke", "consent", "start", "start", "end", "status", "train"])
        cats = rng.sample(["attendance", "grades", "health"], rng.randint(1, 3))
        hours = rng.randint(-48, 0)  # effective now or earlier: no lapse falls inside the test
        if verb == "revoke":
            ops.append((verb, rng.randrange(20), hours))
        elif verb == "consent":
            ops.append((verb, rng.choice(STUDENTS), rng.choice(PARTNERS), cats, None))
        elif verb == "start":
            ops.append((verb, rng.choice([*PROVIDERS, "team-a"]), rng.choice(STUDENTS), cats, hours))
        elif verb == "end":
            ops.append((verb, rng.randrange(20), hours))
        elif verb == "status":
            ops.append((verb, rng.randrange(20), rng.choice(["paused", "active"])))
        else:
            ops.append((verb, rng.choice(PROVIDERS), None))
    return ops


def write(store: GraphStore, ops: list[tuple[Any, ...]]) -> None:
    from graph.model import ServiceStatus

    for op in ops:
        if op[0] == "status":
            op = (op[0], op[1], ServiceStatus(op[2]))
        run(store, op, utcnow())


@dataclass
class Rig:
    db: Path
    """The feed's and the journal's SQLite file with the embedded store (unused with Neo4j: the feed lives there)."""
    writer: GraphStore
    feed: FeedTables
    receiver: Receiver
    endpoint_id: str
    reopen: Callable[[], GraphStore]
    """Another connection to the same store (the server's own)."""
    service: FeedService | None = None

    def start(self, feed: FeedTables | None = None) -> FeedService:
        self.service = FeedService(self.reopen(), feed or self.feed, DEFAULT_POLICY, utcnow, SETTINGS)
        self.service.start()
        return self.service

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service.deriver.store.close()
            self.service = None

    def outbox(self) -> list[tuple[int, str]]:
        """Every outbox row's (seq, data), in order."""
        if isinstance(self.writer, MemoryStore):
            with sqlite3.connect(self.db) as conn:
                return [(int(q), str(d)) for q, d in conn.execute("SELECT seq, data FROM feed_outbox ORDER BY seq")]
        return [(int(r["seq"]), str(r["data"])) for r in self.writer._read(OUTBOX, {})]  # type: ignore[attr-defined]

    def set_outbox_data(self, seq: int, data: str) -> None:
        """Overwrite one outbox row's data, outside the write path (the injected failure)."""
        if isinstance(self.writer, MemoryStore):
            conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
            try:
                conn.execute("UPDATE feed_outbox SET data = ? WHERE seq = ?", (data, seq))
            finally:
                conn.close()
            return
        driver = self.writer._driver  # type: ignore[attr-defined]
        with driver.session(database="neo4j") as session:
            session.run("MATCH (o:NtkFeedOutbox {seq: $seq}) SET o.data = $data", seq=seq, data=data).consume()

    def drained(self) -> bool:
        reader = OutboxReader(self.writer)
        try:
            head = reader.head()
        finally:
            reader.close()
        endpoint = self.feed.endpoint(self.endpoint_id)
        done = int(self.feed.meta("outbox_done") or 0)
        return done >= head and endpoint is not None and endpoint.cursor >= self.feed.head()

    def wait_drained(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.drained():
            assert time.monotonic() < deadline, f"the feed did not drain: {self.service.status() if self.service else None}"
            time.sleep(0.05)

    def assert_exactly_once_and_agrees_with_check(self) -> None:
        events = self.feed.events_after(0, 1_000_000)
        arrived = Counter(r.headers["webhook-id"] for r in list(self.receiver.received))
        assert all(r.verified for r in self.receiver.received)
        assert set(arrived) == {e.id for e in events}  # nothing lost, nothing foreign
        assert [i for i, n in arrived.items() if n > 1] == []  # nothing twice
        state: dict[tuple[str, str], tuple[str, ...]] = {}
        for e in events:
            assert state.get((e.provider_id, e.student_id), ()) == e.before
            state[(e.provider_id, e.student_id)] = e.after
        self.writer.sync(None)
        engine = Engine(self.writer, DEFAULT_POLICY, None)
        now = utcnow()
        for p in PROVIDERS:
            for s in STUDENTS:
                d = engine.check(CheckRequest(p, s, now))
                assert state.get((p, s), ()) == (tuple(sorted(d.released)) if d.allowed else ()), (p, s)


OUTBOX = "MATCH (o:NtkFeedOutbox) RETURN o.seq AS seq, o.data AS data ORDER BY o.seq"


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    db = tmp_path / "feed.db"
    reopen: Callable[[], GraphStore]
    if request.param == "networkx":
        reopen = partial(MemoryStore, db)
    else:
        import neo4j

        from graph.stores.neo4j import Neo4jStore

        uri: str = request.getfixturevalue("neo4j_uri")
        with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        reopen = partial(Neo4jStore, uri)
    writer = reopen()
    writer.apply(world_changes())
    feed: FeedTables = FeedStore(db) if request.param == "networkx" else Neo4jFeedStore(writer)  # type: ignore[arg-type]
    receiver = Receiver()
    endpoint = add_webhook(feed, writer, AddWebhook(receiver.url, "admin"), now=utcnow(), secret=new_secret())
    receiver.secret = endpoint.secret
    r = Rig(db, writer, feed, receiver, endpoint.id, reopen)
    try:
        yield r
    finally:
        r.stop()
        receiver.close()
        feed.close()
        writer.close()


def test_a_row_that_makes_derivation_raise_is_visible_retried_and_then_delivered_exactly_once(rig: Rig) -> None:
    rng = random.Random(131)
    rig.start()
    rig.wait_drained()  # the first snapshot, delivered
    rig.stop()
    write(rig.writer, random_ops(rng, 16))
    rows = [r for r in rig.outbox() if r[0] > int(rig.feed.meta("outbox_done") or 0)]
    assert len(rows) >= 6
    poison_seq, good = rows[len(rows) // 2]
    rig.set_outbox_data(poison_seq, "{not json")
    before = rig.feed.head()
    service = rig.start()
    deadline = time.monotonic() + 30
    while service.failures < 3:  # it keeps trying the same row, with backoff
        assert time.monotonic() < deadline, service.status()
        time.sleep(0.05)
    status = service.status()
    assert status["running"] is True and status["leader"] is True
    assert "JSONDecodeError" in str(status["processLastError"]) and "JSONDecodeError" in str(status["lastError"])
    assert int(str(status["lagRows"])) == len(rows) and float(str(status["lagSeconds"])) > 0
    assert int(str(status["outboxDone"])) < poison_seq  # nothing at or after the bad row was derived
    # Any process sees the same from the file (what `needtoknow feed status` prints).
    reader = OutboxReader(rig.writer)
    try:
        durable = feed_status(reader, rig.feed, utcnow())
    finally:
        reader.close()
    assert durable.lag_rows == len(rows) and durable.last_error is not None and "JSONDecodeError" in durable.last_error
    assert rig.feed.head() == before
    # The row is readable again: the feed catches up by itself, writes made since included.
    rig.set_outbox_data(poison_seq, good)
    write(rig.writer, random_ops(rng, 4))
    rig.wait_drained()
    assert service.failures == 0 and service.status()["running"] is True
    assert rig.feed.head() > before
    rig.assert_exactly_once_and_agrees_with_check()


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process takes the file's write lock for `seconds`; returns once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("rig", ["networkx"], indirect=True)  # the feed file is SQLite with either store
def test_a_locked_file_makes_the_feed_wait_or_retry_and_still_deliver_exactly_once(rig: Rig) -> None:
    rng = random.Random(132)
    service = rig.start(FeedStore(rig.db, busy_seconds=0.5))  # the service's own connection, a short busy timeout
    try:
        rig.wait_drained()
        # Held briefly: every statement waits for it, nothing fails.
        write(rig.writer, random_ops(rng, 15))
        locker = hold_write_lock(rig.db, 0.3)
        write(rig.writer, random_ops(rng, 5))  # a commit waits for the other process's lock too
        assert locker.wait(timeout=30) == 0
        rig.wait_drained()
        assert service.last_error is None and all(w.last_error is None for w in service.workers.values())
        # Held for longer than the busy timeout, while there is work: the lease, the events and
        # the cursors cannot be written for a while.
        write(rig.writer, random_ops(rng, 15))
        locker = hold_write_lock(rig.db, 3.0)
        assert locker.wait(timeout=30) == 0
        assert service.last_error is not None and "locked" in service.last_error
        write(rig.writer, random_ops(rng, 5))
        rig.wait_drained()
        assert service.status()["running"] is True
        rig.assert_exactly_once_and_agrees_with_check()
    finally:
        rig.stop()
        service.feed.close()
