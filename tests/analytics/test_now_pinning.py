"""Questions about "now" answered for a pinned instant: never a figure that differs.

    tests/analytics/worlds.two_communities, plus: c-e1 revoked from NOON + 3 days (a later
    version), e2 born so that they turn 18 at local midnight on NOON + 20 days

`ChangeInstants.quiet(p, now, windows)` says no record's instant lies in [p, now]; then every
coverage count and the partner network at `now` equal those at `p`
(`graph.analytics.instants`), so `CoverageCache.pinned_now` may answer "now" for `p`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.analytics.cache import CoverageCache
from graph.analytics.coverage import count_coverage
from graph.analytics.instants import ChangeInstants
from graph.analytics.network import partner_network
from graph.changes import PutNode
from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.model import Student
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from tests.analytics.worlds import two_communities
from tests.world import NOON

POLICY = Policy()
TRAINING_ENDS = NOON + timedelta(days=5)  # ana's (worlds.py)
REVOKED = NOON + timedelta(days=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryStore]:
    s = two_communities().store(tmp_path_factory.mktemp("pinning"))
    revoke_consent(s, RevokeConsent("c-e1", at=REVOKED), now=NOON)
    e2 = s.node("e2")
    assert isinstance(e2, Student)
    born = (NOON + timedelta(days=20)).date()
    s.apply([PutNode(replace(e2, birth_date=date(born.year - 18, born.month, born.day)))])
    yield s
    s.close()


def figures(store: MemoryStore, at: datetime, days: int) -> tuple[Any, ...]:
    """Every unsuppressed count at `at` and the partner network's nodes and edges with their data."""
    groupings = ("community", "school", "program")
    counts = {(by, t.name): t.as_dict() for by in groupings for t in count_coverage(store, at, by, POLICY, expiring_days=days)}
    G = partner_network(store, at, POLICY)
    return counts, sorted(G.nodes(data=True), key=str), sorted(G.edges(data=True), key=str)


@settings(max_examples=40, deadline=None)
@given(
    start_hours=st.integers(min_value=-24 * 60, max_value=24 * 40),
    length_hours=st.integers(min_value=0, max_value=24 * 12),
    days=st.sampled_from([0, 7, 30]),
)
def test_a_quiet_interval_changes_no_figure(store: MemoryStore, start_hours: int, length_hours: int, days: int) -> None:
    p = NOON + timedelta(hours=start_hours, minutes=7)
    now = p + timedelta(hours=length_hours)
    if ChangeInstants(store, POLICY).quiet(p, now, [days]):
        assert figures(store, now, days) == figures(store, p, days)


@pytest.mark.parametrize(
    ("start", "end", "days", "quiet"),
    [
        (NOON + timedelta(hours=1), NOON + timedelta(days=2), 0, True),
        (NOON + timedelta(days=2), NOON + timedelta(days=4), 0, False),  # the revocation (a later version)
        (NOON + timedelta(days=4), NOON + timedelta(days=6), 0, False),  # ana's training ends
        (NOON + timedelta(days=19), NOON + timedelta(days=21), 0, False),  # e2 turns 18 (local midnight)
        (NOON + timedelta(days=11), NOON + timedelta(days=13), 0, True),
        (NOON - timedelta(days=21), NOON - timedelta(days=19), 30, False),  # e0's expiry enters a 30-day window
        (NOON - timedelta(days=21), NOON - timedelta(days=19), 0, True),
    ],
)
def test_each_kind_of_instant_breaks_the_quiet(store: MemoryStore, start: datetime, end: datetime, days: int, quiet: bool) -> None:
    assert ChangeInstants(store, POLICY).quiet(start, end, [days]) is quiet
    if not quiet:  # and the figures do move across it: the check is needed, not merely cautious
        assert figures(store, start, days) != figures(store, end, days)


def test_pinned_now_holds_across_minutes_until_an_instant_or_a_write(tmp_path: Path) -> None:
    s = two_communities().store(tmp_path)
    try:
        cache = CoverageCache(s, POLICY)
        first = NOON + timedelta(hours=1)
        assert cache.pinned_now(first) == first
        assert cache.pinned_now(first + timedelta(days=3)) == first  # days later, nothing lapsed
        after = TRAINING_ENDS + timedelta(minutes=1)
        assert cache.pinned_now(after) == after  # ana's training ended in between: a new pin
        assert cache.pinned_now(after + timedelta(hours=2)) == after
        day = after + timedelta(days=1)
        assert cache.pinned_now(day, expiring_days=30) == after  # e0's expiry (NOON + 10 d) was in the 30-day window already
        assert cache.pinned_now(day, expiring_days=4) == day  # it entered the 4-day window at NOON + 6 d
        revoke_consent(s, RevokeConsent("c-e3", at=day), now=day)
        later = day + timedelta(hours=4)
        assert cache.pinned_now(later) == later  # a write: a new token, a new pin
    finally:
        s.close()
