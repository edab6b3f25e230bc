"""The deriver on a real SQLite journal: writes and the passing of time become access changes.

the tests/world.py base graph: ana (ptn-hope) serves sam; gia (sam's guardian) consented
for ptn-hope to see attendance and grades. A test clock drives time; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from graph.changes import CloseEdge, PutEdge, PutNode
from graph.commands.end_service import EndService, end_service
from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.feed.deriver import Deriver
from graph.feed.events import Cause, ChangeKind
from graph.feed.store import FeedStore
from graph.model import Student
from graph.policy import DEFAULT_POLICY
from graph.stores.memory import MemoryStore
from tests.world import NOON, World


class Clock:
    """A test clock: now is whatever the test sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


def open_feed(world: World, tmp_path: Path, clock: Clock) -> tuple[MemoryStore, FeedStore, Deriver]:
    store = world.store(tmp_path)
    feed = FeedStore(store.path)
    return store, feed, Deriver(store, feed, DEFAULT_POLICY, clock)


@pytest.fixture
def base(tmp_path: Path, clock: Clock) -> Iterator[tuple[MemoryStore, FeedStore, Deriver]]:
    store, feed, deriver = open_feed(World.base(), tmp_path, clock)
    yield store, feed, deriver
    deriver.close()
    store.close()


def test_first_run_announces_current_access(base: tuple[MemoryStore, FeedStore, Deriver]) -> None:
    _, _feed, deriver = base
    [e] = deriver.step()
    assert (e.provider_id, e.student_id, e.kind, e.cause) == ("ana", "sam", ChangeKind.GRANTED, Cause.SNAPSHOT)
    assert e.after == ("attendance", "grades") and e.before == ()
    assert e.partners == ("ptn-hope",) and e.guardians == ("gia",)
    assert deriver.step() == []  # nothing new


def test_revocation_is_a_change_with_its_reason_and_time(base: tuple[MemoryStore, FeedStore, Deriver], clock: Clock) -> None:
    store, feed, deriver = base
    deriver.step()
    at = NOON - timedelta(minutes=5)
    committed = revoke_consent(store, RevokeConsent("cns-1", at=at), now=clock())
    [e] = deriver.step()
    assert e.kind is ChangeKind.REVOKED and e.cause is Cause.WRITE
    assert e.before == ("attendance", "grades") and e.after == ()
    assert e.effective_at == at
    assert e.cause_seq == int(committed.token) and e.consistency_token == committed.token
    assert [r["code"] for r in e.reasons] == ["consent_revoked"]
    assert e.reasons_redacted == e.reasons  # ana has a relationship with sam: her check shows the reason
    assert feed.events_about(provider_id="ana")[-1].id == e.id


def test_a_write_that_changes_no_access_is_no_event(base: tuple[MemoryStore, FeedStore, Deriver], clock: Clock) -> None:
    store, _, deriver = base
    deriver.step()
    store.apply([*World.base().node(Student(id="sam", birth_date=date(2012, 3, 2))).changes()[:1]])  # a birth date corrected
    assert deriver.step() == []


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param(lambda w: w.consent(expires_at=NOON + timedelta(days=2)), "consent_expired", id="consent-expiry"),
        pytest.param(
            lambda w: w.edge(replace(w.edges["tr1"], valid_to=NOON + timedelta(days=2))), "training_expired", id="training-expiry"
        ),
        pytest.param(lambda w: w.edge(replace(w.edges["sv1"], valid_to=NOON + timedelta(days=2))), "service_not_active", id="service-end"),
        pytest.param(
            lambda w: w.edge(replace(w.edges["sg1"], valid_to=NOON + timedelta(days=2))), "agreement_expired", id="agreement-lapse"
        ),
        pytest.param(
            lambda w: w.edge(replace(w.edges["sg-p"], valid_to=NOON + timedelta(days=2))),
            "partner_agreement_missing",
            id="partner-terms-lapse",
        ),
        pytest.param(lambda w: w.student(birth_date=date(2008, 1, 17)), "eligible_student_consent_required", id="turns-18-local-midnight"),
    ],
)
def test_time_driven_change_is_announced_at_its_instant(tmp_path: Path, clock: Clock, edit: object, code: str) -> None:
    world = edit(World.base())  # type: ignore[operator]
    store, _feed, deriver = open_feed(world, tmp_path, clock)
    try:
        [_granted] = deriver.step()
        lapse = deriver.next_lapse()
        assert lapse is not None and lapse > NOON
        clock.now = lapse - timedelta(microseconds=1)
        assert deriver.step() == []  # one microsecond early: nothing yet
        clock.now = lapse + timedelta(hours=1)
        [e] = deriver.step()
        assert e.kind is ChangeKind.REVOKED and e.cause is Cause.TIME
        assert e.effective_at == lapse and code in [r["code"] for r in e.reasons]
    finally:
        deriver.close()
        store.close()


def test_turning_18_is_local_midnight_in_the_students_zone(tmp_path: Path, clock: Clock) -> None:
    world = World.base().student(birth_date=date(2008, 1, 17))
    store, _, deriver = open_feed(world, tmp_path, clock)
    try:
        deriver.step()
        assert deriver.next_lapse() == datetime(2026, 1, 17, 7, 0, tzinfo=UTC)  # 00:00 America/Denver
    finally:
        deriver.close()
        store.close()


def test_once_eligible_the_student_not_the_parent_is_told(tmp_path: Path, clock: Clock) -> None:
    """At 18 the rights pass to the student (34 CFR 99.5): the change that announces it goes to the
    student's own guardian-role audience, and not to the parent, as on the family page."""
    world = World.base().student(birth_date=date(2008, 1, 17))
    store, _, deriver = open_feed(world, tmp_path, clock)
    try:
        [granted] = deriver.step()
        assert granted.guardians == ("gia",)
        lapse = deriver.next_lapse()
        assert lapse is not None
        clock.now = lapse + timedelta(hours=1)
        [revoked] = deriver.step()
        assert revoked.kind is ChangeKind.REVOKED and revoked.guardians == ("sam",)
    finally:
        deriver.close()
        store.close()


def test_restart_catches_up_on_every_lapse_in_order(tmp_path: Path, clock: Clock) -> None:
    """Down for a week: a consent expired on day 2; a new one signed on day 4 starts; both are announced at their instants."""
    world = World.base().consent(expires_at=NOON + timedelta(days=2))
    store, feed, deriver = open_feed(world, tmp_path, clock)
    deriver.step()
    second = replace(world.nodes["cns-1"], id="cns-2", signed_at=NOON, effective_from=NOON + timedelta(days=4), expires_at=None)
    w2 = world.node(second)
    for e in ("ab1", "gb1", "pm1"):
        w2 = w2.edge(replace(world.edges[e], id=e + "-2", from_id="cns-2"))
    store.apply([PutNode(second), *(PutEdge(w2.edges[e + "-2"]) for e in ("ab1", "gb1", "pm1"))])
    deriver.step()  # the write itself changes nothing at NOON
    deriver.close()  # the process stops
    clock.now = NOON + timedelta(days=7)
    again = Deriver(store, feed, DEFAULT_POLICY, clock)  # a new process
    try:
        events = again.step()
        events += again.step()
        assert [(e.kind, e.effective_at, e.cause) for e in events] == [
            (ChangeKind.REVOKED, NOON + timedelta(days=2), Cause.TIME),
            (ChangeKind.GRANTED, NOON + timedelta(days=4), Cause.TIME),
        ]
    finally:
        again.close()
        store.close()


def test_derivation_is_idempotent_across_processes(tmp_path: Path, clock: Clock) -> None:
    """Two derivers (a crash and a restart, or a lost lease) see the same causes: each event is stored once."""
    store, feed, first = open_feed(World.base(), tmp_path, clock)
    first.step()
    end_service(store, EndService("sv1", at=NOON - timedelta(hours=1)), now=clock())
    second = Deriver(store, FeedStore(store.path), DEFAULT_POLICY, clock)
    try:
        a = first.step()
        b = second.step()
        assert len(a) == 1 and b == []
        assert len(feed.events_about(provider_id="ana")) == 2
    finally:
        first.close()
        second.close()
        store.close()


def test_a_team_membership_reaches_the_teams_students(tmp_path: Path, clock: Clock) -> None:
    world = World.base().via_team("team-a")
    store, _feed, deriver = open_feed(world, tmp_path, clock)
    try:
        [e] = deriver.step()
        assert e.kind is ChangeKind.GRANTED
        membership = next(x for x in world.edges.values() if x.kind.value == "MEMBER_OF")
        store.apply([CloseEdge(membership.id, NOON - timedelta(minutes=1))])
        [lost] = deriver.step()
        assert lost.kind is ChangeKind.REVOKED and "no_service_relationship" in [r["code"] for r in lost.reasons]
    finally:
        deriver.close()
        store.close()


def test_provider_side_change_reaches_every_student(tmp_path: Path, clock: Clock) -> None:
    store, _, deriver = open_feed(World.base(), tmp_path, clock)
    try:
        deriver.step()
        store.apply([CloseEdge("tr1", NOON - timedelta(minutes=1))])
        [e] = deriver.step()
        assert e.kind is ChangeKind.REVOKED and "training_expired" in [r["code"] for r in e.reasons]
    finally:
        deriver.close()
        store.close()


def test_a_commit_racing_a_step_is_announced_at_its_own_instant(base: tuple[MemoryStore, FeedStore, Deriver], clock: Clock) -> None:
    """A revocation commits while a step is under way (here: while it reads the clock). Its
    event says the revocation's own instant, caused by the write (CI once saw one 21 ms early:
    the step took `now` before reading the outbox, so the row was decided before its effect)."""
    store, _feed, deriver = base
    deriver.step()
    at = NOON + timedelta(milliseconds=21)
    raced: list[str] = []

    def racing_clock() -> datetime:
        if not raced:  # the request (its now: `at`) commits just after the step reads the clock
            raced.append(revoke_consent(store, RevokeConsent("cns-1"), now=at).token)
            return NOON
        return at + timedelta(milliseconds=1)

    deriver.clock = racing_clock
    events = deriver.step() + deriver.step()
    assert raced, "the clock was read during the step"
    [e] = events
    assert (e.kind, e.cause, e.effective_at) == (ChangeKind.REVOKED, Cause.WRITE, at)


def test_a_commit_applied_while_a_step_decides_is_credited_to_itself(
    base: tuple[MemoryStore, FeedStore, Deriver], clock: Clock
) -> None:
    """Row B (sam's record corrected: no change of access) is read; before the step decides, another
    thread of the process applies C (a revocation) to the same store. The revocation must be
    announced as C's, at C's instant, not credited to B (CI once saw it 29 ms early, at the
    previous write's instant)."""
    store, _feed, deriver = base
    deriver.step()
    b = store.apply([*World.base().node(Student(id="sam", birth_date=date(2012, 3, 2))).changes()[:1]])
    at = NOON + timedelta(milliseconds=29)
    clock.now = at + timedelta(seconds=1)
    read = deriver.outbox.since
    raced: list[str] = []

    def since_then_a_commit(after: int, limit: int = 100, *, newest: bool = False) -> list[Any]:
        rows = read(after, limit, newest=newest)
        if not raced:
            raced.append(revoke_consent(store, RevokeConsent("cns-1"), now=at).token)
        return rows

    deriver.outbox.since = since_then_a_commit  # type: ignore[method-assign]
    events = deriver.step() + deriver.step()
    assert raced and int(raced[0]) > int(b)
    [e] = events
    assert (e.kind, e.cause, e.effective_at, e.cause_seq) == (ChangeKind.REVOKED, Cause.WRITE, at, int(raced[0]))


def test_a_commit_racing_the_first_snapshot_is_never_skipped(tmp_path: Path, clock: Clock) -> None:
    """Another process revokes while the feed starts (between its reads of the store and of the
    outbox head): the revocation is either in the snapshot or derived after it, never marked
    done unseen (the announced access ends equal to the check's)."""
    store, feed, deriver = open_feed(World.base(), tmp_path, clock)
    other = MemoryStore(store.path)  # another process's view of the same journal
    head = deriver.outbox.head

    def racing_head() -> int:
        revoke_consent(other, RevokeConsent("cns-1", at=NOON - timedelta(minutes=1)), now=NOON)
        deriver.outbox.head = head  # type: ignore[method-assign]
        return head()

    deriver.outbox.head = racing_head  # type: ignore[method-assign]
    deriver.step()
    clock.now = NOON + timedelta(minutes=1)
    deriver.step()
    assert feed.announced([("ana", "sam")]).get(("ana", "sam"), ()) == ()
    for s in (other, store):
        s.close()
    deriver.close()


def test_a_schedule_built_ahead_is_used_only_for_the_state_it_was_built_for(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers N` builds the lapse schedule before forking (api.prefork); a worker's
    start adopts it instead of walking every pair, only while graph and cursor are unchanged."""
    world = World.base().consent(expires_at=NOON + timedelta(days=2))
    store, feed, deriver = open_feed(world, tmp_path, clock)
    try:
        assert deriver.build_schedule() is None  # before the first run: start writes a snapshot instead
        deriver.step()
        walked = deriver.next_lapse()
        assert walked == NOON + timedelta(days=2)
        ahead = Deriver(store, feed, DEFAULT_POLICY, clock).build_schedule()
        assert ahead is not None and ahead.token == store.token() and [t for t, _, _ in ahead.heap] == [walked]

        adopting = Deriver(store, feed, DEFAULT_POLICY, clock)
        adopting.ahead = ahead
        walks: list[datetime] = []
        monkeypatch.setattr(adopting, "_schedule_all", walks.append)
        adopting.start()
        assert walks == [] and adopting.next_lapse() == walked and adopting.ahead is None
        clock.now = NOON + timedelta(days=7)
        [revoked] = adopting.step()  # as a worker that walked would announce it
        assert revoked.kind is ChangeKind.REVOKED and revoked.effective_at == walked and revoked.cause is Cause.TIME

        stale = Deriver(store, feed, DEFAULT_POLICY, clock)
        stale.ahead = ahead  # the cursor moved on (the step above): walk again
        monkeypatch.setattr(stale, "_schedule_all", walks.append)
        stale.start()
        assert len(walks) == 1
        later = Deriver(store, feed, DEFAULT_POLICY, clock).build_schedule()
        assert later is not None
        store.apply([PutNode(replace(world.nodes["sam"], name="Sam B."))])  # the graph moved on
        moved = Deriver(store, feed, DEFAULT_POLICY, clock)
        moved.ahead = later
        monkeypatch.setattr(moved, "_schedule_all", walks.append)
        moved.start()
        assert len(walks) == 2
    finally:
        deriver.close()
        store.close()
