"""Two `needtoknow serve --backend neo4j` processes in two empty directories share one feed.

    the tests/api/conftest.py world plus ana -SERVES-> s-t0, s-t1 under cns-t0, cns-t1 (gia),
    which permit ptn-hope; a real webhook receiver on loopback; the default 3-second lease

With Neo4j the feed's events, lease, cursors, endpoints and dead letters live in Neo4j
(docs/feed.md, "Where the feed lives"), so:

- a revocation through one instance is one event, read through the other's `accessChanges`;
- a webhook registered through the other instance's CLI is delivered once, by the one
  instance that holds the lease (not once per instance);
- killing the leader: the other takes the lease over and derives and delivers the next change;
- no NTK_FEED_DB, and nothing is written to either working directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.tokens_neo4j import Neo4jTokenStore
from graph.changes import Change, PutEdge, PutNode
from graph.feed.audience import Audience
from graph.feed.store_neo4j import Neo4jFeedStore
from graph.model import About, Attends, Consent, GivenBy, GuardianOf, Permits, Serves, Student
from graph.stores.neo4j import Neo4jStore
from tests.api.conftest import extra_changes
from tests.api.test_scale_out import CLI, Instance
from tests.feed.receiver import Receiver
from tests.stores.test_contract import clear_neo4j
from tests.world import T0, World

pytestmark = [pytest.mark.neo4j]

ATTENDANCE = frozenset({"attendance"})
APP = Audience("app", "hope-app", ("ptn-hope",))
REVOKE = "mutation($c: ID!) { revokeConsent(consentId: $c) { ... on ConsentPayload { consistencyToken } } }"
PAGE = "query($a: String) { accessChanges(after: $a, first: 1000) { endCursor changes { id kind providerId studentId cause } } }"


def two_students() -> list[Change]:
    """ana serves s-t0 and s-t1, each under its own consent from gia permitting ptn-hope."""
    out: list[Change] = []
    for i in range(2):
        s, c = f"s-t{i}", f"cns-t{i}"
        out += [
            PutNode(Student(id=s)),
            PutNode(Consent(id=c, signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"}))),
            PutEdge(Attends(id=f"at-t{i}", from_id=s, to_id="lincoln", valid_from=T0)),
            PutEdge(GuardianOf(id=f"g-t{i}", from_id="gia", to_id=s, valid_from=T0)),
            PutEdge(
                Serves(
                    id=f"sv-t{i}", from_id="ana", to_id=s, valid_from=T0, program="prg-tutor", categories_needed=frozenset({"attendance"})
                )
            ),
            PutEdge(About(id=f"ab-t{i}", from_id=c, to_id=s, valid_from=T0)),
            PutEdge(GivenBy(id=f"gb-t{i}", from_id=c, to_id="gia", valid_from=T0)),
            PutEdge(Permits(id=f"pm-t{i}", from_id=c, to_id="ptn-hope", valid_from=T0)),
        ]
    return out


@pytest.fixture
def shared(neo4j_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Neo4jStore, str]]:
    """The world in a cleared Neo4j and an admin token (the servers keep the default lease: a
    shorter one passes back and forth between them on a busy 2-core machine)."""
    clear_neo4j(neo4j_uri)
    monkeypatch.delenv("NTK_FEED_LEASE_SECONDS", raising=False)
    monkeypatch.delenv("NTK_FEED_DB", raising=False)
    store = Neo4jStore(neo4j_uri)
    store.apply([*World.base().changes(), *extra_changes(), *two_students()])
    admin = Neo4jTokenStore(store).create("admin", "root")[1]
    yield neo4j_uri, store, admin
    store.close()


def until(what: str, probe: Callable[[], Any], timeout: float = 60.0, logs: Callable[[], str] = str) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout` s,
    with the end of `logs()` (the servers' standard error) to say why."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}; the servers said:\n{logs()[-4000:]}"
        time.sleep(0.05)


def test_two_instances_share_one_feed_and_one_leader(shared: tuple[str, Neo4jStore, str], tmp_path: Path) -> None:
    uri, store, admin = shared
    feed = Neo4jFeedStore(store)
    receiver = Receiver()
    with contextlib.ExitStack() as stack:
        # Both servers and b's CLI start at once (each is a fresh Python process: seconds of imports).
        a, b = Instance(uri, tmp_path / "a"), Instance(uri, tmp_path / "b")
        env = {**os.environ, "NTK_BACKEND": "neo4j", "NTK_NEO4J_URI": uri}
        args = ["webhooks", "add", receiver.url, "--role", "app", "--subject", "hope-app", "--partner", "ptn-hope"]
        adding = subprocess.Popen([*CLI, *args], cwd=b.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stack.enter_context(a)
        stack.enter_context(b)
        client = stack.enter_context(httpx.Client(timeout=30))

        def gql(inst: Instance, query: str, variables: dict[str, Any]) -> dict[str, Any]:
            auth = {"Authorization": f"Bearer {admin}"}
            r = client.post(f"{inst.url}/graphql", json={"query": query, "variables": variables}, headers=auth)
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            return r.json()["data"]  # type: ignore[no-any-return]

        def ready(inst: Instance) -> dict[str, Any]:
            return client.get(f"{inst.url}/readyz").json()["feed"]  # type: ignore[no-any-return]

        def changes(inst: Instance, after: str) -> list[dict[str, Any]]:
            return gql(inst, PAGE, {"a": after})["accessChanges"]["changes"]  # type: ignore[no-any-return]

        # The webhook, registered through b's CLI (b's empty directory, no NTK_FEED_DB).
        out, err = adding.communicate(timeout=120)
        assert adding.returncode == 0, err
        endpoint_id, receiver.secret = out.split()

        def logs() -> str:
            return a.stderr_text() + b.stderr_text()

        # One of the two derives (the first snapshot); both serve the same events.
        until(
            "one leader, the first snapshot derived",
            lambda: [ready(i)["leader"] for i in (a, b)].count(True) == 1 and feed.head() > 0,
            logs=logs,
        )
        snapshot = changes(b, "0")
        assert {(c["providerId"], c["studentId"], c["kind"]) for c in snapshot} >= {("ana", "s-t0", "GRANTED"), ("ana", "s-t1", "GRANTED")}
        assert changes(a, "0") == snapshot
        start = str(feed.head())

        # A revocation through a: one event, read through b; delivered once.
        gql(a, REVOKE, {"c": "cns-t0"})
        page = until("the revocation in b's accessChanges", lambda: changes(b, start), logs=logs)
        assert [(c["providerId"], c["studentId"], c["kind"], c["cause"]) for c in page] == [("ana", "s-t0", "REVOKED", "write")]
        first = page[0]["id"]
        assert receiver.wait_for(lambda got: any(r.headers["webhook-id"] == first for r in got)), a.stderr_text() + b.stderr_text()
        delivered = feed.events_after(int(start), 10)[0].position
        until(
            "the endpoint's cursor past the revocation",
            lambda: (e := feed.endpoint(endpoint_id)) is not None and e.cursor >= delivered,
            logs=logs,
        )
        holders = [i for i in (a, b) if endpoint_id in ready(i)["workers"]]
        assert len(holders) == 1 and ready(holders[0])["leader"] is True  # delivered by the leader alone

        # Kill the leader: the other takes the lease over, derives and delivers the next change.
        leader, other = holders[0], (b if holders[0] is a else a)
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(timeout=30)
        until("the survivor to take the lease over", lambda: ready(other)["leader"], logs=logs)
        gql(other, REVOKE, {"c": "cns-t1"})
        page = until("the second revocation", lambda: [c for c in changes(other, start) if c["studentId"] == "s-t1"], logs=logs)
        assert [(c["providerId"], c["kind"], c["cause"]) for c in page] == [("ana", "REVOKED", "write")]
        second = page[0]["id"]
        assert receiver.wait_for(lambda got: any(r.headers["webhook-id"] == second for r in got)), other.stderr_text()
        until(
            "the endpoint's cursor at the head",
            lambda: (e := feed.endpoint(endpoint_id)) is not None and e.cursor >= feed.head(),
            logs=logs,
        )

    # Every change the app may receive from the endpoint's first delivery on arrived exactly once, signed.
    receiver.close()
    arrived = Counter(r.headers["webhook-id"] for r in receiver.received)
    positions = {e.id: e.position for e in feed.events_after(0, 100_000)}
    begin = min(positions[i] for i in arrived)  # registered before or after the snapshot: the race of the two starts
    expected = {e.id for e in feed.events_after(begin - 1, 100_000) if APP.admits(e)}
    assert {first, second} <= expected and set(arrived) == expected
    assert [i for i, n in arrived.items() if n > 1] == [] and receiver.all_signed()
    assert [list(d.iterdir()) for d in (a.workdir, b.workdir)] == [[], []]
