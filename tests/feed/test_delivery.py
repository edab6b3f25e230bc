"""The feed over real sockets: a `needtoknow serve` process, a real receiving HTTP server on
loopback, a GraphQL subscriber over graphql-transport-ws, and signature checks with the
`standardwebhooks` package's own verifier.

    the tests/api world: ana (ptn-hope) serves sam; gia is sam's verified guardian; cy
    (ptn-other) once served sam; bo (ptn-hope) serves nobody
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from websockets.sync.client import connect

from api.webhooks.signing import new_secret
from graph.commands.add_webhook import AddWebhook, add_webhook
from graph.feed.store import Endpoint, FeedStore
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow
from tests.api.conftest import ServerProcess, build_db, make_tokens
from tests.feed.receiver import Receiver

SUBSCRIPTION = (
    "subscription($after: String) { accessChanges(after: $after) { id kind providerId studentId categoriesAfter reasons { code } } }"
)


@pytest.fixture(autouse=True)
def quick_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Server processes inherit these: short lease (a killed leader is replaced within a second), quick retries."""
    monkeypatch.setenv("NTK_FEED_LEASE_SECONDS", "1")
    monkeypatch.setenv("NTK_FEED_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("NTK_FEED_MAX_ATTEMPTS", "4")


def setup_db(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "api.db"
    build_db(db)
    return db, make_tokens(db)


def register(db: Path, url: str, role: str, subject: str | None, partners: tuple[str, ...]) -> Endpoint:
    feed, store = FeedStore(db), MemoryStore(db)
    try:
        return add_webhook(feed, store, AddWebhook(url, role, subject, partners), now=utcnow(), secret=new_secret())
    finally:
        store.close()
        feed.conn.close()


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def gql(url: str, token: str, query: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    body: dict[str, Any] = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def events(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body)["data"] for r in list(receiver.received)]


class Subscriber:
    """A graphql-transport-ws client in a thread; every `next` payload lands in `items` with its arrival time."""

    def __init__(self, url: str, token: str, after: str | None) -> None:
        self.items: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._connection = connect(url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        self.ws = self._connection.__enter__()
        self.ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(self.ws.recv(timeout=10))["type"] == "connection_ack"
        self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"after": after}}}))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "next":
                    self.items.put((time.monotonic(), message["payload"]["data"]["accessChanges"]))
        except Exception:  # noqa: BLE001 - the socket closes at the end of the test
            return

    def next_matching(self, predicate: Any, timeout: float = 30.0) -> tuple[float, dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                at, item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if predicate(item):
                return at, item
        return None

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    hope, other = Receiver(), Receiver()
    yield hope, other
    hope.close()
    other.close()


def test_revocation_reaches_webhook_and_subscriber(tmp_path: Path, receivers: tuple[Receiver, Receiver]) -> None:
    hope, other = receivers
    db, tokens = setup_db(tmp_path)
    hope_ep = register(db, hope.url, "app", "hope-app", ("ptn-hope",))
    other_ep = register(db, other.url, "app", "other-app", ("ptn-other",))
    feed = FeedStore(db)
    with ServerProcess(db) as server:
        assert hope.wait_for(lambda r: len(r) >= 1), "the snapshot (ana may see sam) was not delivered"
        head = feed.head()
        app_sub = Subscriber(server.url, tokens["app"], str(head))
        guardian_sub = Subscriber(server.url, tokens["guardian"], str(head))
        bo_sub = Subscriber(server.url, tokens["bo"], str(head))
        try:
            gql(server.url, tokens["admin"], 'mutation { revokeConsent(consentId: "cns-1") { __typename } }')
            committed = time.monotonic()
            assert hope.wait_for(lambda r: any(json.loads(x.body)["data"]["type"] == "access.revoked" for x in r))
            hook = next(x for x in hope.received if json.loads(x.body)["data"]["type"] == "access.revoked")
            got = app_sub.next_matching(lambda e: e["kind"] == "REVOKED")
            assert got is not None
            sub_at, sub_event = got
            via_guardian = guardian_sub.next_matching(lambda e: e["kind"] == "REVOKED")
            assert via_guardian is not None and via_guardian[1]["id"] == sub_event["id"]
            data = json.loads(hook.body)["data"]
            # One event, one id, on every channel.
            assert data["id"] == sub_event["id"] and data["providerId"] == "ana" and data["studentId"] == "sam"
            assert data["after"] == {"allowed": False, "categories": []}
            assert [r["code"] for r in data["reasons"]] == ["consent_revoked"]
            assert [r["code"] for r in sub_event["reasons"]] == ["CONSENT_REVOKED"]
            print(f"\ncommit->webhook {1000 * (hook.at - committed):.1f} ms; commit->subscriber {1000 * (sub_at - committed):.1f} ms")
            # The cursor page agrees.
            page = gql(server.url, tokens["app"], f'{{ accessChanges(after: "{head}") {{ changes {{ id kind }} endCursor hasNextPage }} }}')
            assert [c["id"] for c in page["accessChanges"]["changes"]] == [data["id"]]
            # Nothing about ana reaches bo or ptn-other's application.
            assert bo_sub.next_matching(lambda e: True, timeout=0.5) is None
            assert wait_until(lambda: (ep := feed.endpoint(other_ep.id)) is not None and ep.cursor == feed.head())
            assert other.received == []
        finally:
            for s in (app_sub, guardian_sub, bo_sub):
                s.close()
    # Every delivery verifies with the package's verifier and the endpoint's secret.
    for r in hope.received:
        Webhook(hope_ep.secret).verify(r.body, r.headers)
        assert r.headers["webhook-id"] == json.loads(r.body)["data"]["id"]
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(other_ep.secret).verify(hope.received[0].body, hope.received[0].headers)
    feed.conn.close()


def test_failing_endpoint_retries_then_dead_letters_then_redelivers(tmp_path: Path) -> None:
    from graph.commands.remove_webhook import redeliver_webhook

    db, _ = setup_db(tmp_path)
    receiver = Receiver(fail_first=4)  # every attempt of the first event fails (NTK_FEED_MAX_ATTEMPTS=4)
    try:
        ep = register(db, receiver.url, "admin", None, ())
        feed = FeedStore(db)
        with ServerProcess(db):
            assert wait_until(lambda: len(feed.dead_letters(ep.id)) == 1)
            [dead] = feed.dead_letters(ep.id)
            assert dead.attempts == 4 and "503" in dead.last_error
            assert wait_until(lambda: (e := feed.endpoint(ep.id)) is not None and e.cursor == feed.head())
            redeliver_webhook(feed, ep.id)
            assert receiver.wait_for(lambda r: any(x.headers["webhook-id"] == dead.event_id for x in r))
            assert wait_until(lambda: feed.dead_letters(ep.id)[0].delivered_at is not None)
        feed.conn.close()
    finally:
        receiver.close()


def test_killing_the_server_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    db, tokens = setup_db(tmp_path)
    receiver = Receiver(delay=5.0, delay_first=1)  # the first delivery hangs: the server is killed while it waits
    try:
        register(db, receiver.url, "admin", None, ())
        first = ServerProcess(db).__enter__()
        assert wait_until(lambda: receiver._requests >= 1)
        gql(first.url, tokens["admin"], 'mutation { revokeConsent(consentId: "cns-1") { __typename } }')
        os.kill(first.proc.pid, signal.SIGKILL)  # mid-delivery, and before the revocation can be delivered
        first.proc.wait(timeout=10)
        feed = FeedStore(db)
        with ServerProcess(db):
            assert receiver.wait_for(lambda r: any(json.loads(x.body)["type"] == "access.revoked" for x in r))
            assert wait_until(
                lambda: {x.headers["webhook-id"] for x in list(receiver.received)} >= {e.id for e in feed.events_after(0, 1000)}
            )
            kinds = [json.loads(x.body)["type"] for x in receiver.received]
            assert "access.revoked" in kinds and "access.granted" in kinds
        feed.conn.close()
    finally:
        receiver.close()
