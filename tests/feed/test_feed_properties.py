"""Property: the feed, folded per pair, always equals what `check` answers (hypothesis).

Random partnerships with histories (tests/strategies.py: nested teams and cycles, consents
revoked and expiring, services ending, trainings lapsing, transfers) are written one commit
at a time while a test clock stands still, then the clock walks across every instant of the
grid. After every commit and every step of the clock, for every provider and student of the
partnership, the categories the feed last announced for the pair equal the categories
`Engine.check` releases at the clock's now; and no stored event was derived twice.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from graph.changes import Change, PutNode
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.feed.deriver import Deriver
from graph.feed.store import FeedStore
from graph.model import NodeKind
from graph.policy import DEFAULT_POLICY
from graph.stores.memory import MemoryStore
from tests.feed.ops import OPS, PROVIDERS, STUDENTS, run, world_changes
from tests.strategies import GRID, partnerships
from tests.world import NOON


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def folded(feed: FeedStore) -> dict[tuple[str, str], tuple[str, ...]]:
    """The feed replayed per pair: the last announced categories."""
    state: dict[tuple[str, str], tuple[str, ...]] = {}
    for e in feed.events_after(0, 1_000_000):
        assert state.get((e.provider_id, e.student_id), ()) == e.before, "an event's before is what the feed said last"
        state[(e.provider_id, e.student_id)] = e.after
    return state


def agree(engine: Engine, feed: FeedStore, providers: list[str], students: list[str], when: str) -> None:
    state = folded(feed)
    for p in [p for p in providers if engine.store.node(p) is not None]:  # written so far
        for s in students:
            [d] = engine.check_many([CheckRequest(p, s, engine.clock())], strict_ids=False)
            expected = tuple(sorted(d.released)) if d.allowed else ()
            assert state.get((p, s), ()) == expected, f"{when}: feed says {state.get((p, s), ())} for {p}->{s}, check {expected}"


def commits(changes: list[Change], sizes: list[int]) -> list[list[Change]]:
    out: list[list[Change]] = []
    i = 0
    for n in sizes:
        if i >= len(changes):
            break
        out.append(changes[i : i + n])
        i += n
    if i < len(changes):
        out.append(changes[i:])
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    changes=partnerships(),
    sizes=st.lists(st.integers(1, 6), max_size=60),
    start=st.integers(0, len(GRID) - 1),
    offsets=st.lists(st.integers(-36, 36), min_size=1, max_size=8),
)
def test_feed_folded_equals_check_after_every_commit_and_every_lapse(
    changes: list[Change], sizes: list[int], start: int, offsets: list[int]
) -> None:
    providers = sorted({c.node.id for c in changes if isinstance(c, PutNode) and c.node.kind is NodeKind.PROVIDER})
    students = sorted({c.node.id for c in changes if isinstance(c, PutNode) and c.node.kind is NodeKind.STUDENT})
    clock = Clock(GRID[start])
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "j.db")
        feed = FeedStore(store.path)
        deriver = Deriver(store, feed, DEFAULT_POLICY, clock)
        engine = Engine(store, DEFAULT_POLICY, None, clock)
        try:
            deriver.step()
            for batch in commits(changes, sizes):
                store.apply(batch)
                deriver.step()
                agree(engine, feed, providers, students, f"after a commit at {clock.now}")
            # Time passes with no write: every lapse is announced at its instant.
            for t in [*GRID[start + 1 :], *(GRID[-1] + timedelta(days=o) for o in sorted(offsets) if o > 0)]:
                clock.now = t
                deriver.step()
                agree(engine, feed, providers, students, f"at {t}")
            stored = feed.events_after(0, 1_000_000)
            event(f"announced at a lapse: {any(e.cause.value == 'time' for e in stored)}")
            event(f"any access granted: {bool(stored)}")
            ids = [e.id for e in stored]
            assert len(ids) == len(set(ids))
        finally:
            deriver.close()
            store.close()
            feed.conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=st.lists(OPS, min_size=1, max_size=40))
def test_random_writes_and_time_keep_feed_equal_to_check(ops: list[tuple[object, ...]]) -> None:
    """Commands and a moving clock on a world where access is granted: after each, the feed agrees with check."""
    clock = Clock(NOON)
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "j.db")
        store.apply(world_changes())
        feed = FeedStore(store.path)
        deriver = Deriver(store, feed, DEFAULT_POLICY, clock)
        engine = Engine(store, DEFAULT_POLICY, None, clock)
        try:
            deriver.step()
            agree(engine, feed, PROVIDERS, STUDENTS, "at the start")
            for op in ops:
                step = run(store, op, clock.now)
                if step is not None:
                    clock.now += step
                deriver.step()
                agree(engine, feed, PROVIDERS, STUDENTS, f"after {op} (now {clock.now})")
            stored = feed.events_after(0, 1_000_000)
            event(f"kinds: {sorted({e.cause.value for e in stored})}")
            assert len({e.id for e in stored}) == len(stored)
        finally:
            deriver.close()
            store.close()
            feed.conn.close()
