"""The instants at which a served aggregate may change with no write.

Coverage and the partner network at instant ``t`` read the store's state (one consistency
token) and compare ``t`` with the datetimes the records hold: intervals, signatures,
expiries, revocations, the instants later versions take effect, and a student's
eligibility birthday (local midnight; `graph.feed.lapses.birthday_instant`). The "expiring
within N days" measures also compare ``t + N days`` with an expiry. So between two instants
``p <= now`` with none of those instants (nor one of them minus N days) in ``[p, now]``,
every figure at ``now`` equals the one at ``p``: a question about "now" may be answered for
``p`` (`graph.analytics.cache.CoverageCache.pinned_now`) with no change to any figure.

The closed interval is deliberate: a rule that flips just after an instant (a strict
``>``) differs at ``p + ε`` from ``p`` when ``p`` is that instant.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime, timedelta

from graph.feed.lapses import birthday_instant, record_datetimes
from graph.model import EdgeKind, NodeKind, Student
from graph.policy import Policy
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware

__all__ = ["ChangeInstants"]


class ChangeInstants:
    """Every instant of one store state that an aggregate may compare its time with, sorted.

    Built by reading every node and edge (all versions) once: O(records) time, and one float
    per distinct instant in memory (a few MB at 170,000 students).

    Parameters
    ----------
    store : GraphStore
        Read as it is (the caller syncs it and keys the result on its consistency token).
    policy : Policy
        For the eligibility age and the default time zone (birthdays).

    Raises
    ------
    StoreUnavailable
        The store cannot be read.
    """

    def __init__(self, store: GraphStore, policy: Policy) -> None:
        found: set[float] = set()
        add = found.add
        for node_kind in NodeKind:
            for node in store.nodes(node_kind):
                for t in record_datetimes(node):
                    add(t.timestamp())
                if isinstance(node, Student) and (born := birthday_instant(node, policy)) is not None:
                    add(born.timestamp())
        for edge_kind in EdgeKind:
            for edge in store.edges(edge_kind):
                for t in record_datetimes(edge):
                    add(t.timestamp())
        for effective, record in store.earlier_versions():
            if effective is not None:
                add(effective.timestamp())
            for t in record_datetimes(record):
                add(t.timestamp())
        self.instants: list[float] = sorted(found)

    def quiet(self, start: datetime, end: datetime, windows: Iterable[int] = ()) -> bool:
        """True when no instant, and no instant minus any of `windows` days, lies in [start, end].

        `start` and `end` are aware; `windows` are the "expiring within N days" windows asked.

        Raises
        ------
        NaiveDatetimeError
            `start` or `end` is naive.
        """
        a, b = ensure_aware(start).timestamp(), ensure_aware(end).timestamp()
        if b < a:
            return False
        for shift in {0, *windows}:
            d = timedelta(days=shift).total_seconds()
            i = bisect_left(self.instants, a + d)
            if i < len(self.instants) and self.instants[i] <= b + d:
                return False
        return True
