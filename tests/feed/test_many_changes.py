"""2,000 random writes (``NTK_FEED_TEST_CHANGES``) sent to two `needtoknow serve` processes
over one SQLite file; four webhook endpoints on real loopback receivers. The 10,000-write run
is `python -m benchmarks.feed_bench --many 10000` (the same `scenario`, BENCHMARKS.md).

    12 providers (even ids at ptn-hope, odd at ptn-other), trained and signed, in eastside;
    40 students at lincoln, each with a verified guardian and a consent to one partner.
    Writes: start, pause and end services; revoke and record consents; record (expiring)
    trainings. Endpoints: ptn-hope's application, ptn-other's, provider p0, and an admin.

Then: every change each endpoint may receive was delivered at least once (deduplicated on
``webhook-id``), nothing reached an endpoint that may not receive it, every delivery verifies
with the `standardwebhooks` verifier, and the feed folded per pair equals `check` now.
(Agreement with `check` before and after each single change: tests/feed/test_feed_properties.py.)
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.tokens import TokenStore
from api.webhooks.signing import new_secret
from graph.changes import Change, PutEdge, PutNode
from graph.commands.add_webhook import AddWebhook, add_webhook
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.feed.audience import Audience
from graph.feed.outbox_read import OutboxReader
from graph.feed.store import FeedStore
from graph.model import (
    About,
    Attends,
    Consent,
    EmployedBy,
    FerpaRights,
    GivenBy,
    Guardian,
    GuardianOf,
    Permits,
    Provider,
    Signed,
    Student,
    Trained,
    WorksIn,
)
from graph.policy import DEFAULT_POLICY
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow
from tests.api.conftest import ServerProcess
from tests.feed.ops import world_changes
from tests.feed.receiver import Receiver
from tests.world import T0

N_CHANGES = int(os.environ.get("NTK_FEED_TEST_CHANGES", "2000"))
PROVIDERS = [f"p{i}" for i in range(12)]
STUDENTS = [f"s{i:02d}" for i in range(40)]
CATS = ["attendance", "grades", "health"]


def partner_of(p: str) -> str:
    return "ptn-hope" if int(p[1:]) % 2 == 0 else "ptn-other"


def population(rng: random.Random) -> list[Change]:
    out: list[Change] = list(world_changes())
    for p in PROVIDERS:
        out += [
            PutNode(Provider(id=p, name=p)),
            PutEdge(EmployedBy(id=f"emp-{p}", from_id=p, to_id=partner_of(p), valid_from=T0)),
            PutEdge(WorksIn(id=f"w-{p}", from_id=p, to_id="eastside", valid_from=T0)),
            PutEdge(Trained(id=f"tr-{p}", from_id=p, to_id="crs-ferpa_basics", valid_from=T0)),
            PutEdge(Signed(id=f"sg-{p}", from_id=p, to_id="agr-conf-v2", valid_from=T0)),
        ]
    for s in STUDENTS:
        c = f"c-{s}"
        out += [
            PutNode(Student(id=s)),
            PutNode(Guardian(id=f"g-{s}")),
            PutEdge(GuardianOf(id=f"go-{s}", from_id=f"g-{s}", to_id=s, valid_from=T0, ferpa_rights=FerpaRights.FULL)),
            PutEdge(Attends(id=f"at-{s}", from_id=s, to_id="lincoln", valid_from=T0)),
            PutNode(
                Consent(
                    id=c, signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset(rng.sample(CATS, rng.randint(1, 3)))
                )
            ),
            PutEdge(About(id=f"ab-{c}", from_id=c, to_id=s, valid_from=T0)),
            PutEdge(GivenBy(id=f"gb-{c}", from_id=c, to_id=f"g-{s}", valid_from=T0)),
            PutEdge(Permits(id=f"pm-{c}", from_id=c, to_id=rng.choice(["ptn-hope", "ptn-other"]), valid_from=T0)),
        ]
    return out


class Writer:
    """Random mutations, alternating between the two server processes."""

    def __init__(self, urls: list[str], token: str, rng: random.Random) -> None:
        self.urls = urls
        self.rng = rng
        self.client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"})
        self.services: list[str] = []
        self.consents: list[str] = [f"c-{s}" for s in STUDENTS]
        self.sent = 0

    def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        url = self.urls[self.sent % len(self.urls)]
        self.sent += 1
        r = self.client.post(f"{url}/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = r.json()
        assert r.status_code == 200 and "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    def one(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35 or not self.services:
            p, s = rng.choice(PROVIDERS), rng.choice(STUDENTS)
            out = self.gql(
                "mutation($i: StartServiceInput!) { startService(input: $i) { ... on ServicePayload { service { id } } } }",
                {"i": {"providerId": p, "studentId": s, "categoriesNeeded": rng.sample(CATS, rng.randint(1, 3))}},
            )["startService"]
            if "service" in out:
                self.services.append(out["service"]["id"])
        elif roll < 0.55:
            sid = self.services.pop(rng.randrange(len(self.services)))
            self.gql("mutation($s: ID!) { endService(serviceId: $s) { __typename } }", {"s": sid})
        elif roll < 0.65:
            sid = rng.choice(self.services)
            status = rng.choice(["PAUSED", "ACTIVE"])
            self.gql(
                "mutation($s: ID!, $t: ServiceStatus!) { changeServiceStatus(serviceId: $s, status: $t) { __typename } }",
                {"s": sid, "t": status},
            )
        elif roll < 0.78:
            cid = rng.choice(self.consents)
            self.gql("mutation($c: ID!) { revokeConsent(consentId: $c) { __typename } }", {"c": cid})
        elif roll < 0.92:
            s = rng.choice(STUDENTS)
            out = self.gql(
                "mutation($i: RecordConsentInput!) { recordConsent(input: $i) { ... on ConsentPayload { consent { id } } } }",
                {
                    "i": {
                        "studentId": s,
                        "signerId": f"g-{s}",
                        "recipientIds": [rng.choice(["ptn-hope", "ptn-other"])],
                        "purposes": ["academic_support"],
                        "categories": rng.sample(CATS, rng.randint(1, 3)),
                    }
                },
            )["recordConsent"]
            if "consent" in out:
                self.consents.append(out["consent"]["id"])
        else:
            p = rng.choice(PROVIDERS)
            self.gql(
                'mutation($p: ID!) { recordTraining(providerId: $p, courseId: "crs-ferpa_basics") { __typename } }',
                {"p": p},
            )


@dataclass(frozen=True)
class ManyResult:
    """Timings of one `scenario` run: writing, then draining after the last write."""

    wrote_s: float
    drain_s: float
    pending_at_end: int
    events: int
    deliveries: int

    @property
    def drain_rate(self) -> float:
        """Commits derived per second while draining what was pending when the writes ended."""
        return self.pending_at_end / self.drain_s if self.drain_s > 0 else 0.0


def scenario(tmp_path: Path, n_changes: int) -> ManyResult:
    """Run the module's scenario with `n_changes` writes and assert everything it promises.

    Server processes inherit the environment (the test sets ``NTK_FEED_LEASE_SECONDS``).
    """
    rng = random.Random(13)
    db = tmp_path / "many.db"
    store = MemoryStore(db)
    store.apply(population(rng))
    tokens = TokenStore(db)
    admin_token = tokens.create("admin", "root")[1]
    tokens.close()
    audiences = {
        "hope": Audience("app", "hope-app", ("ptn-hope",)),
        "other": Audience("app", "other-app", ("ptn-other",)),
        "p0": Audience("provider", "p0"),
        "admin": Audience("admin"),
    }
    receivers = {name: Receiver() for name in audiences}
    feed = FeedStore(db)
    endpoints = {
        name: add_webhook(feed, store, AddWebhook(receivers[name].url, a.role, a.subject, a.partners), now=utcnow(), secret=new_secret())
        for name, a in audiences.items()
    }
    for name, ep in endpoints.items():
        receivers[name].secret = ep.secret
    reader = OutboxReader(store)
    try:
        with ServerProcess(db) as one, ServerProcess(db) as two:
            writer = Writer([one.url, two.url], admin_token, rng)
            started = time.monotonic()
            try:
                for _ in range(n_changes):
                    writer.one()
            except httpx.TransportError:  # a server went away: say what it logged last
                print("\n".join(f"server {s.url} (exit {s.proc.poll()}):\n{s.stderr_text()[-3000:]}" for s in (one, two)), file=sys.stderr)
                raise
            ended = time.monotonic()
            pending = reader.count_since(int(feed.meta("outbox_done") or 0))
            # Let derivation and delivery finish: every endpoint's cursor reaches the feed's head
            # once the last outbox row is derived.
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                store.sync(None)
                done = int(feed.meta("outbox_done") or 0) >= store.journal.head()
                if done and all((e := feed.endpoint(ep.id)) is not None and e.cursor >= feed.head() for ep in endpoints.values()):
                    break
                time.sleep(0.2)
            else:
                logs = "\n".join(s.stderr_text()[-3000:] for s in (one, two))
                pytest.fail(f"the feed did not drain within 10 minutes; servers' last log lines:\n{logs}")
            drained = time.monotonic()
        events = feed.events_after(0, 10_000_000)
        print(
            f"\n{n_changes} writes in {ended - started:.1f} s; drained {drained - ended:.1f} s later ({pending} commits pending); "
            f"{len(events)} access changes; receivers: " + ", ".join(f"{n}={len(r.received)}" for n, r in receivers.items())
        )
        assert len(events) > n_changes // 10  # the writes changed access often
        by_id = {e.id: e for e in events}
        for name, audience in audiences.items():
            got = receivers[name].received
            assert all(r.verified for r in got)  # checked with the package's verifier on arrival
            ids = {r.headers["webhook-id"] for r in got}
            expected = {e.id for e in events if audience.admits(e)}
            assert ids == expected, f"{name}: missing {len(expected - ids)}, unexpected {len(ids - expected)}"
            assert all(json.loads(r.body)["data"]["providerId"] == by_id[r.headers["webhook-id"]].provider_id for r in got)
        # Folded per pair, the feed equals check now.
        state: dict[tuple[str, str], tuple[str, ...]] = {}
        for e in events:
            assert state.get((e.provider_id, e.student_id), ()) == e.before
            state[(e.provider_id, e.student_id)] = e.after
        store.sync(None)
        engine = Engine(store, DEFAULT_POLICY, None)
        now = utcnow()
        for p in [*PROVIDERS, "ana", "bo", "cy"]:
            for s in [*STUDENTS, "sam", "sue"]:
                d = engine.check(CheckRequest(p, s, now))
                assert state.get((p, s), ()) == (tuple(sorted(d.released)) if d.allowed else ()), (p, s)
        return ManyResult(ended - started, drained - ended, pending, len(events), sum(len(r.received) for r in receivers.values()))
    finally:
        reader.close()
        for r in receivers.values():
            r.close()
        store.close()
        feed.conn.close()


@pytest.mark.slow
def test_every_change_reaches_exactly_its_audiences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTK_FEED_LEASE_SECONDS", "2")
    scenario(tmp_path, N_CHANGES)
