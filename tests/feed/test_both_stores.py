"""The outbox and the deriver on both stores (the embedded journal and a real Neo4j).

    the tests/world.py base: ana (ptn-hope) serves sam under cns-1; a test clock at NOON.

The outbox row is written in the commit's own transaction: a refused write leaves none, every
commit leaves exactly one, and it names what the commit touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import neo4j
import pytest

from graph.changes import CloseEdge
from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.errors import PreconditionFailed
from graph.feed.deriver import Deriver
from graph.feed.events import Cause, ChangeKind
from graph.feed.outbox_read import OutboxReader
from graph.feed.store import FeedStore
from graph.policy import DEFAULT_POLICY
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from tests.world import NOON, World


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    if request.param == "networkx":
        s: GraphStore = MemoryStore(tmp_path / "graph.db")
    else:
        from graph.stores.neo4j import Neo4jStore

        uri: str = request.getfixturevalue("neo4j_uri")
        with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        s = Neo4jStore(uri)
    s.apply(World.base().consent(expires_at=NOON + timedelta(days=3)).changes())
    yield s
    s.close()


def test_each_commit_leaves_one_outbox_row_naming_what_it_touched(store: GraphStore) -> None:
    reader = OutboxReader(store)
    try:
        before = reader.since(0, limit=1000)
        assert len(before) == 1 and before[0].all is False  # the world's load (small: anchors listed)
        revoke_consent(store, RevokeConsent("cns-1", at=NOON), now=NOON)
        with pytest.raises(PreconditionFailed):
            revoke_consent(store, RevokeConsent("cns-1", at=NOON), now=NOON)  # refused: nothing written, no row
        store.apply([CloseEdge("tr1", NOON)])
        rows = reader.since(before[0].seq, limit=1000)
        assert [(r.students, r.providers) for r in rows] == [(frozenset({"sam"}), frozenset()), (frozenset(), frozenset({"ana"}))]
        assert rows[0].effective == (NOON,) and rows[0].seq < rows[1].seq
    finally:
        reader.close()


def test_revocation_and_expiry_become_changes(store: GraphStore, tmp_path: Path) -> None:
    clock = Clock()
    feed = FeedStore(tmp_path / "feed.db")
    deriver = Deriver(store, feed, DEFAULT_POLICY, clock)
    try:
        [granted] = deriver.step()
        assert granted.kind is ChangeKind.GRANTED and granted.after == ("attendance", "grades")
        assert deriver.next_lapse() == NOON + timedelta(days=3)
        revoke_consent(store, RevokeConsent("cns-1", at=NOON + timedelta(days=1)), now=NOON)
        assert deriver.step() == []  # effective tomorrow: nothing changes now
        assert deriver.next_lapse() == NOON + timedelta(days=1)
        clock.now = NOON + timedelta(days=5)
        [revoked] = deriver.step()
        assert (revoked.kind, revoked.cause, revoked.effective_at) == (ChangeKind.REVOKED, Cause.TIME, NOON + timedelta(days=1))
        assert [r["code"] for r in revoked.reasons] == ["consent_revoked"]
        assert deriver.step() == []  # the expiry on day 3 changes nothing more
    finally:
        deriver.close()
        feed.conn.close()
