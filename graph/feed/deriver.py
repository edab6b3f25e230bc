"""Deriving access changes: outbox rows and lapsed instants in, events out (exactly once per cause).

A **tick** re-decides a set of (provider, student) pairs at one instant and compares each
decision's released categories with the ones last announced for the pair (``feed_access``);
a difference is an event. The events, the new announced access and the cursor of the tick's
cause (``outbox_done`` or ``clock_done``) are written in one transaction, so a crash before
it re-derives the tick and a crash after it never repeats it. Comparing with what was
announced (rather than with a rebuilt "before" state) is what makes the feed, folded per
pair, equal `check` at every tick, whatever order causes arrive in and however wide the set
of pairs a commit names (docs/feed.md).

Ticks, in order, each time `step` runs:

1. every lapse instant up to now, oldest first, each decided **at that instant**
   (cause ``time``): the scheduler's heap holds, for every pair it has seen, the next instant
   at which the pair's evidence may decide differently (`graph.feed.lapses`), so a consent
   expiring at 09:00 is announced as of 09:00 even if the process was down then;
2. the outbox rows not yet derived (up to ``max_rows``, in commit order), as one batch: the
   union of their pairs, each decided once at now (cause ``write``) and attributed to the
   last row of the batch that names it, the event's ``effective_at`` being the latest
   effective instant that row's commit states that is not in the future (a revocation's ``at``).

On the first run the feed announces every pair at once (cause ``snapshot``).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from graph.decide import decide
from graph.decision import CheckRequest, Decision
from graph.disclosure import disclose
from graph.errors import DepthLimitExceeded
from graph.evidence import Evidence
from graph.family import Standing, standing
from graph.feed.events import AccessChange, Cause, event_id
from graph.feed.lapses import lapse_instants
from graph.feed.outbox import OutboxRow
from graph.feed.outbox_read import OutboxReader
from graph.feed.tables import FeedTables
from graph.model import EdgeKind
from graph.policy import Policy
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware

__all__ = ["Deriver", "LeaseLost", "Schedule"]

log = structlog.get_logger("needtoknow.feed")

Pair = tuple[str, str]
_EPSILON: Final = timedelta(microseconds=1)


class LeaseLost(Exception):
    """Raised by a heartbeat when this process no longer holds the feed's lease: the step is
    abandoned unrecorded (the new holder derives it)."""


@dataclass(frozen=True)
class Schedule:
    """A lapse schedule built ahead of `Deriver.start` (`Deriver.build_schedule`): valid only
    for the graph at consistency token ``token`` and the cursor ``clock_done``.

    ``serve --workers N`` builds it in the serving process before forking (api.prefork): the
    walk over every pair's evidence then happens once, before the fork, instead of in a worker
    whose reference-count writes would copy most of the graph's shared pages.
    """

    token: str
    clock_done: str
    heap: tuple[tuple[datetime, str, str], ...]


def _reasons(d: Decision) -> tuple[dict[str, Any], ...]:
    return tuple({"code": str(r.code), "message": r.message, "subject": r.subject, "category": r.category, "ref": r.ref} for r in d.reasons)


def _released(d: Decision) -> tuple[str, ...]:
    return tuple(sorted(d.released)) if d.allowed else ()


_ATTEMPTS: Final = 3
"""Attempts at a step while other threads keep applying writes; the last one derives whatever the graph holds."""


class Deriver:
    """Turns commits and the passing of time into stored `AccessChange` events.

    Parameters
    ----------
    store : GraphStore
        The graph (synced before each tick).
    feed : FeedTables
        Where events, announced access and cursors are kept.
    policy : Policy
    clock : callable returning an aware datetime
        The feed's now (a test clock in tests).
    """

    def __init__(self, store: GraphStore, feed: FeedTables, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.feed = feed
        self.policy = policy
        self.clock = clock
        self.outbox = OutboxReader(store)
        self._heap: list[tuple[datetime, str, str]] = []
        self._queued: set[tuple[datetime, str, str]] = set()
        self.started = False
        self.ahead: Schedule | None = None
        """A schedule built ahead (`build_schedule`), used by the next `start` if still valid, then dropped."""
        self.heartbeat: Callable[[], None] = lambda: None
        """Called between units of work (a provider's pairs, an outbox row); may raise `LeaseLost`."""

    # ------------------------------------------------------------------ pairs

    def all_pairs(self) -> set[Pair]:
        """Every (provider, student) pair with a SERVES edge between them, directly or through teams."""
        students = {e.to_id for e in self.store.edges(EdgeKind.SERVES)}
        return self._student_pairs(students)

    def _student_pairs(self, students: Iterable[str]) -> set[Pair]:
        return {(p, s) for s in students for p in self.store.providers_serving(s)}

    def pairs_of(self, row: OutboxRow) -> set[Pair]:
        """The pairs an outbox row may have changed (a superset; see `graph.feed.outbox`)."""
        if row.all:
            return self.all_pairs()
        pairs = self._student_pairs(row.students)
        pairs.update((p, s) for p in row.providers for s in self.store.students_served_by(p))
        return pairs

    def _evidence(self, pairs: Iterable[Pair]) -> dict[Pair, Evidence]:
        by_provider: dict[str, list[str]] = defaultdict(list)
        for p, s in sorted(pairs):
            by_provider[p].append(s)
        found: dict[Pair, Evidence] = {}
        for p, students in by_provider.items():
            self.heartbeat()
            for s, ev in self.store.gather_evidence_many(p, None, students).items():
                found[(p, s)] = ev
        return found

    # ------------------------------------------------------------------ scheduling

    def _schedule(self, pair: Pair, ev: Evidence, after: datetime) -> None:
        # Only the pair's next instant: when it fires the pair is decided again and its next one
        # pushed, so the heap holds about one entry per pair (a write re-schedules its pairs;
        # an entry made stale by a write costs one decision that finds nothing to announce).
        upcoming = lapse_instants(ev, self.policy, after=after)
        if not upcoming:
            return
        item = (min(upcoming), pair[0], pair[1])
        if item not in self._queued:
            self._queued.add(item)
            heapq.heappush(self._heap, item)

    def next_lapse(self) -> datetime | None:
        """The next instant the scheduler will decide again at, or None."""
        return self._heap[0][0] if self._heap else None

    # ------------------------------------------------------------------ ticks

    def _tick(
        self,
        pairs: Iterable[Pair],
        at: datetime,
        cause: Cause,
        ref: str,
        seq: int | None,
        effective_at: datetime,
        overlay: dict[Pair, tuple[str, ...]] | None = None,
    ) -> list[AccessChange]:
        """Decide `pairs` at `at`; an event for each whose released categories differ from the
        ones announced (`overlay`: announced earlier in this step, not stored yet; updated)."""
        overlay = {} if overlay is None else overlay
        evidence = self._evidence(pairs)
        announced = self.feed.announced(p for p in evidence if p not in overlay)
        announced.update((p, v) for p, v in overlay.items() if p in evidence)
        token = self.store.token()
        now = self.clock()
        events: list[AccessChange] = []
        for pair, ev in sorted(evidence.items()):
            p, s = pair
            try:
                d = decide(ev, CheckRequest(p, s, at), self.policy)
            except DepthLimitExceeded as err:
                log.error("feed_pair_undecidable", provider_id=p, student_id=s, error=str(err))
                continue
            self._schedule(pair, ev, at)
            after = _released(d)
            before = announced.get(pair, ())
            if after == before:
                continue
            overlay[pair] = after
            shown = disclose(d, sees_all=False, lookback_days=self.policy.relationship_lookback_days)
            partners = sorted({e.to_id for e in ev.employments if e.active_at(at) or e.active_at(at - _EPSILON)})
            guardians = _family_audience(ev.as_at(at), at, self.policy)
            events.append(
                AccessChange(
                    id=event_id(cause, ref, p, s, effective_at),
                    provider_id=p,
                    student_id=s,
                    before=before,
                    after=after,
                    effective_at=effective_at,
                    consistency_token=token,
                    cause=cause,
                    cause_seq=seq,
                    recorded_at=now,
                    reasons=_reasons(d),
                    reasons_redacted=_reasons(shown),
                    partners=tuple(partners),
                    guardians=tuple(guardians),
                )
            )
        return events

    def start(self) -> list[AccessChange]:
        """Load the schedule (every pair's lapse instants after the last one processed); on the
        very first run, announce every pair's access as a snapshot. Returns events stored."""
        done = self.feed.meta("clock_done")
        # The outbox head before the sync, the clock after it: every row up to `head` is in the
        # state the snapshot decides, and committed before its instant (else a row committed
        # in between would be marked done without ever being derived).
        head = self.outbox.head() if done is None else 0
        self.store.sync(None)
        self._heap.clear()
        self._queued.clear()
        stored: list[AccessChange] = []
        if done is None:
            now = ensure_aware(self.clock())
            events = self._tick(self.all_pairs(), now, Cause.SNAPSHOT, now.isoformat(), None, now)
            stored = self.feed.record(events, {"clock_done": now.isoformat(), "outbox_done": str(head)})
        else:
            ahead, self.ahead = self.ahead, None
            if ahead is not None and ahead.clock_done == done and ahead.token == self.store.token():
                self._heap.extend(ahead.heap)  # the same state and cursor: the walk below would build exactly this
                self._queued.update(ahead.heap)
            else:
                self._schedule_all(ensure_aware(datetime.fromisoformat(done)))
        self.started = True
        log.info("feed_started", pending_lapses=len(self._heap), snapshot_events=len(stored))
        return stored

    def _schedule_all(self, after: datetime) -> None:
        for pair, ev in self._evidence(self.all_pairs()).items():
            self._schedule(pair, ev, after)

    def build_schedule(self) -> Schedule | None:
        """The schedule `start` would load now (every pair's next lapse after ``clock_done``),
        built without the lease and without writing anything; None before the feed's first run
        (whose start writes a snapshot of every pair instead). Give it to a `Deriver`'s ``ahead``.
        """
        done = self.feed.meta("clock_done")
        if done is None:
            return None
        self.store.sync(None)
        self._heap.clear()
        self._queued.clear()
        self._schedule_all(ensure_aware(datetime.fromisoformat(done)))
        built = Schedule(self.store.token(), done, tuple(self._heap))
        self._heap.clear()
        self._queued.clear()
        return built

    def step(self, *, max_rows: int = 500) -> list[AccessChange]:
        """Process every lapse instant up to now, then the outbox rows not yet derived; return events stored.

        One transaction records the whole step (events, announced access, both cursors); a
        step with nothing to do writes nothing.
        """
        if not self.started:
            return self.start()
        for attempt in range(_ATTEMPTS):
            derived = self._derive(max_rows, final=attempt == _ATTEMPTS - 1)
            if derived is not None:
                events, meta = derived
                return self.feed.record(events, meta) if meta else []
        raise AssertionError("the last attempt always derives")  # pragma: no cover

    def _derive(self, max_rows: int, *, final: bool) -> tuple[list[AccessChange], dict[str, str]] | None:
        """One attempt at a step: (events, cursors) with no cursors when there was nothing to
        do; None when the graph moved while deciding (a later commit's effect would have been
        attributed to an earlier row: the lapses taken are put back for the next attempt)."""
        done = int(self.feed.meta("outbox_done") or 0)
        self.store.sync(None)
        state = self.store.token()
        rows = self.outbox.since(done, limit=max_rows)
        if state.isdigit():
            # Embedded store: the graph is the journal up to `state` exactly, so only rows up to it are
            # derived now (a commit after the sync is the next step's; deciding it here would credit
            # its effect to an earlier row: a revocation once announced 29 ms early, at the previous one).
            rows = [r for r in rows if r.seq <= int(state)]
        else:
            self.store.sync(None)  # Neo4j: reads are of the newest state; the graph holds at least these rows
        # `now` after the rows: every row read was committed before it, so an instant a request
        # stated (a revocation "now") is never after the step's now, and no row is decided
        # before its own commit (a step that began first once announced a revocation 21 ms early).
        now = ensure_aware(self.clock())
        overlay: dict[Pair, tuple[str, ...]] = {}
        events: list[AccessChange] = []
        taken: list[tuple[datetime, str, str]] = []
        while self._heap and self._heap[0][0] <= now:
            t = self._heap[0][0]
            pairs: set[Pair] = set()
            while self._heap and self._heap[0][0] == t:
                item = heapq.heappop(self._heap)
                self._queued.discard(item)
                taken.append(item)
                pairs.add((item[1], item[2]))
            events += self._tick(pairs, t, Cause.TIME, t.isoformat(), None, t, overlay)
        # The batch's rows are derived together: each pair is decided once, at now, and its
        # event is attributed to the last row of the batch that named it (the decision already
        # shows that row's state). Rows are still recorded in commit order.
        last_row: dict[Pair, OutboxRow] = {}
        for row in rows:
            self.heartbeat()
            for pair in self.pairs_of(row):
                last_row[pair] = row
        by_row: dict[int, set[Pair]] = defaultdict(set)
        for pair, row in last_row.items():
            by_row[row.seq].add(pair)
        for row in rows:
            if row.seq not in by_row:
                continue
            stated = [e for e in row.effective if e <= now]
            effective_at = max(stated) if stated else min(row.recorded_at, now)
            events += self._tick(by_row[row.seq], now, Cause.WRITE, str(row.seq), row.seq, effective_at, overlay)
        if not final and self.store.token() != state:
            # Another thread of this process applied a write while these were decided: derive again.
            for item in taken:
                if item not in self._queued:
                    self._queued.add(item)
                    heapq.heappush(self._heap, item)
            return None
        if not rows and not taken:
            return [], {}
        # Every pair decided in this step was decided at `now` or earlier: `clock_done` = now
        # (a restart must not decide a pair at an instant before one it was announced at).
        meta = {"clock_done": now.isoformat()}
        if rows:
            meta["outbox_done"] = str(rows[-1].seq)
        return events, meta

    def close(self) -> None:
        """Release the outbox reader."""
        self.outbox.close()


def _family_audience(ev: Evidence, at: datetime, policy: Policy) -> list[str]:
    """Who of the student's family receives a change about it: the people whose standing is
    ``ok`` at `at` (`graph.family.standing`, the rule the family page and consent use), so a
    parent of an eligible student, one under a court order or with unverified rights is not
    told, and an eligible student is (34 CFR 99.5: the rights pass to the student at 18)."""
    if ev.student is None:
        return []
    people = {g.from_id for g in ev.guardian_links if g.active_at(at)} | {ev.student.id}
    return sorted(p for p in people if standing(ev, p, at, policy) is Standing.OK)
