"""Every other write verb under concurrent conflicting writers: one wins, none is lost.

test_concurrent_writes.py races revokeConsent, recordConsent, endService, verifyGuardian and
token revocation. This module races the rest of the write verbs the same way (four
`needtoknow serve` processes on one store, each round's write sent to all four at one instant
through a barrier, each writer with its own time or content):

- changeServiceStatus(msv-i, PAUSED, at T+k)   the edge it names is superseded once (service_superseded)
- transferStudent(ms-i, mschool, at T+k)       a student moves to a school once
- assignToTeam(ana, mtm-i, at T+k)              a membership is opened once
- addProvider(mp-i, name "P k")                 an explicit id is used once
- correctConsent(mc-i, ENTERED_IN_ERROR)        a status is corrected once
- startService(mst-i, at T+k)                   an explicit id is used once
- recordTraining / signAgreement                 no precondition: all four are kept
- webhook removal (four processes calling the command on one endpoint)

Expected: exactly one acknowledged where a precondition can hold once, the others refused
with its code; every acknowledged append kept; the store holds exactly what was acknowledged.
``NTK_CONCURRENT_MORE_ROUNDS`` (default 10) sets the rounds per verb.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.changes import Change, PutEdge, PutNode
from graph.commands.add_webhook import AddWebhook, add_webhook
from graph.commands.remove_webhook import remove_webhook
from graph.errors import PreconditionFailed
from graph.feed.store import FeedStore
from graph.model import (
    About,
    Attends,
    Consent,
    ConsentStatus,
    EdgeKind,
    GivenBy,
    Guardian,
    MemberOf,
    Permits,
    Provider,
    School,
    Serves,
    ServiceStatus,
    Student,
)
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.timeutil import parse_datetime, utcnow
from tests.api.conftest import build_db
from tests.api.test_concurrent_writes import race, shared_servers, winner
from tests.world import T0

ROUNDS = int(os.environ.get("NTK_CONCURRENT_MORE_ROUNDS", "10"))
WRITERS = 4

STATUS = """mutation($s: ID!, $at: DateTime) { changeServiceStatus(serviceId: $s, status: PAUSED, at: $at) {
  __typename ... on ValidationError { code } } }"""
TRANSFER = """mutation($s: ID!, $at: DateTime) { transferStudent(studentId: $s, schoolId: "mschool", at: $at) {
  __typename ... on ValidationError { code } } }"""
ASSIGN = """mutation($t: ID!, $at: DateTime) { assignToTeam(memberId: "ana", teamId: $t, teamName: "Team", at: $at) {
  __typename ... on ValidationError { code } } }"""
ADD = """mutation($id: ID!, $name: String!, $at: DateTime) {
  addProvider(id: $id, name: $name, partnerId: "ptn-hope", communityIds: ["eastside"], at: $at) {
  __typename ... on ValidationError { code } } }"""
CORRECT = """mutation($c: ID!) { correctConsent(consentId: $c, status: ENTERED_IN_ERROR) {
  __typename ... on ValidationError { code } } }"""
START = """mutation($in: StartServiceInput!) { startService(input: $in) { __typename ... on ValidationError { code } } }"""
TRAIN = """mutation($at: DateTime) { recordTraining(providerId: "ana", courseId: "crs-ferpa_basics", completedAt: $at) {
  __typename ... on ValidationError { code } } }"""
SIGN = """mutation($at: DateTime) { signAgreement(signerId: "ana", agreementId: "agr-share", signedAt: $at) {
  __typename ... on ValidationError { code } } }"""


def world(n: int) -> list[Change]:
    out: list[Change] = [PutNode(School(id="mschool", name="Mountain School"))]
    for i in range(n):
        s, c, g = f"ms-{i}", f"mc-{i}", f"mg-{i}"
        out += [
            PutNode(Student(id=s)),
            PutNode(Guardian(id=g)),
            PutNode(Consent(id=c, signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"}))),
            PutEdge(Attends(id=f"mat-{i}", from_id=s, to_id="lincoln", valid_from=T0)),
            PutEdge(Serves(id=f"msv-{i}", from_id="ana", to_id=s, valid_from=T0, categories_needed=frozenset({"attendance"}))),
            PutEdge(About(id=f"mab-{i}", from_id=c, to_id=s, valid_from=T0)),
            PutEdge(GivenBy(id=f"mgb-{i}", from_id=c, to_id=g, valid_from=T0)),
            PutEdge(Permits(id=f"mpm-{i}", from_id=c, to_id="ptn-hope", valid_from=T0)),
        ]
    return out


def at(k: int) -> str:
    return (T0 + timedelta(days=30 + k)).isoformat()


def appended(i: int, k: int) -> str:
    """A time unique to round i and writer k (appends are told apart by it)."""
    return (T0 + timedelta(days=1000 + i * WRITERS + k)).isoformat()


def run_rounds(urls: list[str], secret: str) -> dict[str, list[int]]:
    won: dict[str, list[int]] = {v: [] for v in ("status", "transfer", "assign", "add", "correct", "start")}
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(timeout=60, headers=headers, limits=httpx.Limits(max_connections=16)) as client:
        for i in range(ROUNDS):
            r = race(client, urls, STATUS, lambda k, i=i: {"s": f"msv-{i}", "at": at(k)})
            won["status"].append(winner(r, "ServicePayload", "service_superseded"))
            r = race(client, urls, TRANSFER, lambda k, i=i: {"s": f"ms-{i}", "at": at(k)})
            won["transfer"].append(winner(r, "RelationshipPayload", "already_enrolled"))
            r = race(client, urls, ASSIGN, lambda k, i=i: {"t": f"mtm-{i}", "at": at(k)})
            won["assign"].append(winner(r, "RelationshipPayload", "already_member"))
            r = race(client, urls, ADD, lambda k, i=i: {"id": f"mp-{i}", "name": f"P {k}", "at": at(k)})
            won["add"].append(winner(r, "ProviderPayload", "already_exists"))
            r = race(client, urls, CORRECT, lambda k, i=i: {"c": f"mc-{i}"})
            won["correct"].append(winner(r, "ConsentPayload", "status_unchanged"))
            start = {"id": f"mst-{i}", "providerId": "bo", "studentId": f"ms-{i}", "categoriesNeeded": ["attendance"]}
            r = race(client, urls, START, lambda k, st=start: {"in": {**st, "at": at(k)}})
            won["start"].append(winner(r, "ServicePayload", "already_exists"))
            for query in (TRAIN, SIGN):
                r = race(client, urls, query, lambda k, i=i: {"at": appended(i, k)})
                assert [x["__typename"] for x in r] == ["RelationshipPayload"] * WRITERS, r
    return won


def assert_state(store: GraphStore, won: dict[str, list[int]]) -> None:
    """The store holds exactly what was acknowledged: one winner's content per round, every append."""
    trained = {e.valid_from for e in store.edges(EdgeKind.TRAINED) if e.from_id == "ana"}
    signed = {e.valid_from for e in store.edges(EdgeKind.SIGNED) if e.from_id == "ana" and e.to_id == "agr-share"}
    members = {e.to_id: e for e in store.edges(EdgeKind.MEMBER_OF) if e.from_id == "ana"}
    serves = [e for e in store.edges(EdgeKind.SERVES) if isinstance(e, Serves)]
    attends = [e for e in store.edges(EdgeKind.ATTENDS) if e.to_id == "mschool"]
    for i in range(ROUNDS):
        old = store.edge(f"msv-{i}")
        assert old is not None and old.valid_to == parse_datetime(at(won["status"][i]))
        paused = [e for e in serves if e.to_id == f"ms-{i}" and e.status is ServiceStatus.PAUSED]
        assert len(paused) == 1 and paused[0].valid_from == parse_datetime(at(won["status"][i]))
        moved = [e for e in attends if e.from_id == f"ms-{i}"]
        assert len(moved) == 1 and moved[0].valid_from == parse_datetime(at(won["transfer"][i]))
        closed = store.edge(f"mat-{i}")
        assert closed is not None and closed.valid_to == parse_datetime(at(won["transfer"][i]))
        member = members[f"mtm-{i}"]
        assert isinstance(member, MemberOf) and member.valid_from == parse_datetime(at(won["assign"][i]))
        provider = store.node(f"mp-{i}")
        assert isinstance(provider, Provider) and provider.name == f"P {won['add'][i]}"
        consent = store.node(f"mc-{i}")
        assert isinstance(consent, Consent) and consent.status is ConsentStatus.ENTERED_IN_ERROR
        started = store.edge(f"mst-{i}")
        assert started is not None and started.valid_from == parse_datetime(at(won["start"][i]))
        for k in range(WRITERS):
            assert parse_datetime(appended(i, k)) in trained
            assert parse_datetime(appended(i, k)) in signed
    assert len([e for e in members.values() if e.to_id.startswith("mtm-")]) == ROUNDS


@pytest.fixture
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[list[str], str, Callable[[], GraphStore], Path]]:
    with shared_servers(request, tmp_path, world(ROUNDS)) as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("servers", ["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)], indirect=True)
def test_every_other_verb_one_wins_none_lost(servers: tuple[list[str], str, Callable[[], GraphStore], Path]) -> None:
    urls, secret, reopen, _ = servers
    won = run_rounds(urls, secret)
    assert all(len(v) == ROUNDS for v in won.values())
    store = reopen()
    try:
        assert_state(store, won)
    finally:
        store.close()


def _remove_in_process(path: str, endpoint_ids: list[str], barrier: Any, out: Any, k: int) -> None:
    feed = FeedStore(Path(path))
    try:
        for n, endpoint_id in enumerate(endpoint_ids):
            barrier.wait()
            try:
                remove_webhook(feed, endpoint_id, now=utcnow())
                out.put((n, k, "ok"))
            except PreconditionFailed as err:
                out.put((n, k, err.code))
    finally:
        feed.conn.close()


@pytest.mark.slow
def test_concurrent_webhook_removals_exactly_one_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    build_db(db)
    store = MemoryStore(db)
    feed = FeedStore(tmp_path / "feed.db")
    ids = [
        add_webhook(feed, store, AddWebhook("http://127.0.0.1:9/hook", "admin"), now=utcnow(), secret="whsec_x").id
        for _ in range(ROUNDS)
    ]
    store.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_remove_in_process, args=(str(tmp_path / "feed.db"), ids, barrier, out, k)) for k in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(ROUNDS * WRITERS)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for n in range(ROUNDS):
        outcomes = sorted(o for m, _, o in results if m == n)
        assert outcomes == ["ok", "webhook_already_removed", "webhook_already_removed", "webhook_already_removed"], outcomes
    for endpoint_id in ids:
        endpoint = feed.endpoint(endpoint_id)
        assert endpoint is not None and endpoint.removed_at is not None
    feed.conn.close()
