"""The outbox and the deriver on both stores (the embedded journal and a real Neo4j).

    the tests/world.py base: ana (ptn-hope) serves sam under cns-1; a test clock at NOON.

The outbox row is written in the commit's own transaction: a refused write leaves none, every
commit leaves exactly one, and it names what the commit touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import neo4j
import pytest

from api.tokens import TokenStore
from api.webhooks.signing import new_secret
from graph.changes import CloseEdge
from graph.commands.add_webhook import AddWebhook, add_webhook
from graph.commands.remove_webhook import redeliver_webhook, remove_webhook
from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.errors import PreconditionFailed
from graph.feed.deriver import Deriver
from graph.feed.events import Cause, ChangeKind
from graph.feed.outbox_read import OutboxReader
from graph.feed.store import FeedStore
from graph.feed.tables import FeedTables
from graph.policy import DEFAULT_POLICY
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow
from tests.api.conftest import ServerProcess, extra_changes
from tests.feed.receiver import Receiver
from tests.world import NOON, World


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> GraphStore:
    """An empty store of the fixture's kind (a cleared Neo4j database)."""
    if request.param == "networkx":
        return MemoryStore(tmp_path / "graph.db")
    from graph.stores.neo4j import Neo4jStore

    uri: str = request.getfixturevalue("neo4j_uri")
    with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    return Neo4jStore(uri)


BOTH = ["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def feed_of(store: GraphStore, tmp_path: Path) -> FeedTables:
    """The feed's tables where the store's backend keeps them: a SQLite file, or Neo4j itself."""
    if store.name == "networkx":
        return FeedStore(tmp_path / "feed.db")
    from graph.feed.store_neo4j import Neo4jFeedStore

    return Neo4jFeedStore(store)  # type: ignore[arg-type]


@pytest.fixture(params=BOTH)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    s = empty_store(request, tmp_path)
    s.apply(World.base().consent(expires_at=NOON + timedelta(days=3)).changes())
    yield s
    s.close()


@pytest.fixture(params=BOTH)
def live_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """The tests/api world (nothing in it lapses before the real now)."""
    s = empty_store(request, tmp_path)
    s.apply([*World.base().changes(), *extra_changes()])
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
    feed = feed_of(store, tmp_path)
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
        feed.close()


def test_a_server_on_either_store_derives_and_delivers_a_revocation(
    request: pytest.FixtureRequest, live_store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`needtoknow serve` on the store runs the feed service: the revocation reaches a signed
    webhook, the cursor page and ``readyz``. With Neo4j the feed's tables are in Neo4j too
    (nothing is written to the instance's own --db, and NTK_FEED_DB is ignored)."""
    store = live_store
    feed: FeedTables
    if store.name == "networkx":
        db = getattr(store, "path")  # noqa: B009 - the embedded store's file holds the feed too
        tokens = TokenStore(db)
        args: tuple[str, ...] = ()
        feed = FeedStore(db)
    else:
        from api.tokens_neo4j import Neo4jTokenStore
        from graph.feed.store_neo4j import Neo4jFeedStore

        monkeypatch.setenv("NTK_FEED_DB", str(tmp_path / "ignored-with-neo4j.db"))  # accepted, ignored
        tokens = Neo4jTokenStore(store)  # type: ignore[assignment]
        feed = Neo4jFeedStore(store)  # type: ignore[arg-type]
        args = ("--backend", "neo4j", "--neo4j-uri", request.getfixturevalue("neo4j_uri"))
        db = tmp_path / "instance" / "never-written.db"
        db.parent.mkdir()
    monkeypatch.setenv("NTK_FEED_LEASE_SECONDS", "1")
    admin = tokens.create("admin", "root")[1]
    app = tokens.create("app", "hope-app", partner_ids=("ptn-hope",))[1]
    receiver = Receiver()
    try:
        endpoint = add_webhook(feed, store, AddWebhook(receiver.url, "app", "hope-app", ("ptn-hope",)), now=utcnow(), secret=new_secret())
        receiver.secret = endpoint.secret
        with ServerProcess(db, *args) as server, httpx.Client(timeout=30) as client:

            def gql(token: str, query: str) -> dict[str, Any]:
                r = client.post(f"{server.url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200 and "errors" not in r.json(), r.text
                return r.json()["data"]  # type: ignore[no-any-return]

            assert receiver.wait_for(lambda r: any(json.loads(x.body)["type"] == "access.granted" for x in r)), server.stderr_text()
            gql(admin, 'mutation { revokeConsent(consentId: "cns-1") { __typename } }')
            assert receiver.wait_for(lambda r: any(json.loads(x.body)["type"] == "access.revoked" for x in r)), server.stderr_text()
            assert all(r.verified for r in receiver.received)
            revoked = next(json.loads(x.body)["data"] for x in receiver.received if json.loads(x.body)["type"] == "access.revoked")
            assert (revoked["providerId"], revoked["studentId"], revoked["cause"]) == ("ana", "sam", "write")
            page = gql(app, '{ accessChanges(after: "0", first: 100) { changes { id kind } } }')["accessChanges"]["changes"]
            assert [c["kind"] for c in page][-1] == "REVOKED" and page[-1]["id"] == revoked["id"]
            ready = client.get(f"{server.url}/readyz").json()
            assert ready["feed"]["running"] is True and ready["feed"]["lagRows"] == 0 and ready["feed"]["lastError"] is None
        if store.name != "networkx":
            assert list(tmp_path.iterdir()) == [db.parent]  # no NTK_FEED_DB file either
            assert list(db.parent.iterdir()) == []
    finally:
        receiver.close()
        feed.close()
        tokens.close()


def test_the_lease_goes_to_one_of_many_concurrent_takers_and_the_webhook_bookkeeping_agrees(store: GraphStore, tmp_path: Path) -> None:
    """Both `FeedTables`: eight processes' worth of stores race for a free lease (exactly one
    wins: the conditional write); dead letters, redelivery, rewind and removal behave alike."""
    feeds = [feed_of(store, tmp_path) for _ in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:
            won = list(pool.map(lambda i: feeds[i].lease("feed", f"holder-{i}", time.time(), 30.0), range(8)))
        assert won.count(True) == 1
        winner = won.index(True)
        assert feeds[0].lease_state("feed", time.time())[0] == f"holder-{winner}"
        loser = (winner + 1) % 8
        assert not feeds[loser].lease("feed", f"holder-{loser}", time.time(), 30.0)
        feeds[winner].release("feed", f"holder-{winner}")
        assert feeds[loser].lease("feed", f"holder-{loser}", time.time(), 30.0)

        feed = feeds[0]
        [granted] = Deriver(store, feed, DEFAULT_POLICY, Clock()).step()
        endpoint = add_webhook(feed, store, AddWebhook("http://127.0.0.1:9/hook", "admin"), now=NOON, secret=new_secret())
        assert endpoint.cursor == feed.head() == granted.position == 1  # cursors have one shape on both stores
        assert redeliver_webhook(feeds[1], endpoint.id, from_cursor=0) == 0 and feed.endpoint(endpoint.id).cursor == 0  # type: ignore[union-attr]
        feeds[1].dead(endpoint.id, granted, 6, "HTTP 503", NOON)
        assert feed.endpoint(endpoint.id).cursor == 1  # type: ignore[union-attr]
        with pytest.raises(PreconditionFailed):
            redeliver_webhook(feed, endpoint.id, event_id="ac_nope")
        assert redeliver_webhook(feeds[2], endpoint.id) == 1 and feed.dead_letters(endpoint.id)[0].redeliver
        feed.delivered_dead(endpoint.id, 1, NOON)
        [dead] = feeds[3].dead_letters()
        assert (dead.event_id, dead.redeliver, dead.delivered_at, dead.last_error) == (granted.id, False, NOON, "HTTP 503")
        remove_webhook(feeds[4], endpoint.id, now=NOON)
        with pytest.raises(PreconditionFailed, match="already removed"):
            remove_webhook(feed, endpoint.id, now=NOON)
        assert feed.endpoints() == [] and feed.endpoint(endpoint.id).removed_at == NOON  # type: ignore[union-attr]
    finally:
        for f in feeds:
            f.close()
