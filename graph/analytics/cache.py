"""Published coverage kept per consistency token, so a repeated question costs a lookup.

A served aggregate depends only on the store's state (its consistency token), the policy,
and the question (time, grouping, window, comparison time). `CoverageCache` keys every
result by all of them: a write moves the token, and the next question is computed afresh
(nothing is invalidated by hand). Three levels, each a small LRU:

- *facts* (`gather_coverage_facts`, the expensive part) per (token, time);
- *results* (`CoverageReport` / `CoverageComparison`, suppression applied) per question;
- *outputs* (the bytes of a CSV, JSON or xlsx answer) per question and format;
- *networks* (`partner_network`, suppressed, built from the same facts) per (token, time).

A question "now" (no time given) would never repeat exactly, so the first such question at a
consistency token fixes the instant ``p`` that later ones answer for (`pinned_now`), and every
answer carries the instant it is for. A later "now" keeps ``p`` while it is in the same clock
minute, and after that while no record of the state holds an instant in ``[p, now]``
(`graph.analytics.instants.ChangeInstants`, read once per token): then every figure at "now"
equals the one at ``p``, so repeats are lookups until the next write or the next lapse, not
until the next minute. A write by another process reaches the token when the caller syncs
the store first, as every caller does.

One lock serialises computation: two requests for the same new question compute it once.
The cache never holds an unsuppressed count outside the facts, which never leave it.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from graph.analytics.compare import CoverageComparison, compare
from graph.analytics.coverage import CoverageFacts, CoverageReport, GroupBy, coverage, gather_coverage_facts
from graph.analytics.instants import ChangeInstants
from graph.policy import Policy
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["CoverageCache", "Question", "cache_for"]

V = TypeVar("V")

FACTS_KEPT: Final = 4
"""Fact sets kept (each holds per-student sets: about 100 MB at 170k students)."""

RESULTS_KEPT: Final = 64

NOW_SHARED_SECONDS: Final = 60
"""Questions about "now" within this many seconds (same clock minute) at one token share an
instant without looking at the state's instants (a burst of a page's questions)."""


@dataclass(frozen=True, slots=True)
class Question:
    """A coverage question: `at`, grouping, window, and optionally a second time to compare with."""

    at: datetime
    by: GroupBy
    expiring_days: int = 30
    compare: datetime | None = None


class _Lru(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> V:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


class CoverageCache:
    """Coverage results per consistency token for one store and policy (thread-safe).

    Parameters
    ----------
    store : GraphStore
        Read through the protocol; the caller syncs it before asking (`token` is read here).
    policy : Policy
    facts_kept, results_kept : int
        LRU sizes.
    """

    def __init__(self, store: GraphStore, policy: Policy, *, facts_kept: int = FACTS_KEPT, results_kept: int = RESULTS_KEPT) -> None:
        self.store = store
        self.policy = policy
        self._lock = threading.Lock()
        self._facts: _Lru[CoverageFacts] = _Lru(facts_kept)
        self._results: _Lru[CoverageReport | CoverageComparison] = _Lru(results_kept)
        self._outputs: _Lru[bytes] = _Lru(results_kept)
        self._networks: _Lru[nx.DiGraph[str]] = _Lru(facts_kept)
        self._pins: _Lru[datetime] = _Lru(8)
        self._instants: _Lru[ChangeInstants] = _Lru(2)
        self._windows: set[int] = {30}
        """Every "expiring within N days" window asked about "now": a pin must hold for each."""
        self.computed = 0
        """How many results were computed (not found); for tests and benchmarks."""

    def _key(self, q: Question) -> tuple[Hashable, ...]:
        at = ensure_aware(q.at)
        other = ensure_aware(q.compare) if q.compare is not None else None
        return (self.store.latest_token(), at, GroupBy(q.by), q.expiring_days, other)

    def _facts_at(self, token: str, at: datetime) -> CoverageFacts:
        found = self._facts.get((token, at))
        if found is not None:
            return found
        return self._facts.put((token, at), gather_coverage_facts(self.store, at, self.policy))

    def result(self, q: Question) -> CoverageReport | CoverageComparison:
        """The published report (or comparison when ``q.compare`` is set), computed once per token.

        Raises
        ------
        NaiveDatetimeError, ValueError, DepthLimitExceeded
            As `coverage` / `compare`.
        """
        key = self._key(q)
        with self._lock:
            found = self._results.get(key)
            if found is not None:
                return found
            token, at, by, days, other = key
            assert isinstance(token, str) and isinstance(at, datetime) and isinstance(by, GroupBy) and isinstance(days, int)
            facts = self._facts_at(token, at)
            result: CoverageReport | CoverageComparison
            if isinstance(other, datetime):
                other_facts = self._facts_at(token, other)
                result = compare(self.store, at, other, by, self.policy, expiring_days=days, facts=facts, other_facts=other_facts)
            else:
                result = coverage(self.store, at, by, self.policy, expiring_days=days, facts=facts)
            self.computed += 1
            return self._results.put(key, result)

    def pinned_now(self, now: datetime, expiring_days: int | None = None) -> datetime:
        """The instant to answer a question about `now` (aware) for, so repeats hit the cache.

        The instant pinned at the store's current token when it is in the same clock minute
        as `now`, or when no instant of the state (nor one minus an asked window of
        `expiring_days`) lies between it and `now` (every figure is then the same); else
        `now`, which becomes the pin. The first question after a write pins its own time.

        Raises
        ------
        NaiveDatetimeError
            `now` is naive.
        StoreUnavailable
            The store cannot be read (reading its instants, once per token).
        """
        now = ensure_aware(now)
        token = self.store.latest_token()
        with self._lock:
            if expiring_days is not None:
                self._windows.add(expiring_days)
            pin = self._pins.get(token)
            if pin is not None:
                if int(pin.timestamp()) // NOW_SHARED_SECONDS == int(now.timestamp()) // NOW_SHARED_SECONDS:
                    return pin
                instants = self._instants.get(token)
                if instants is None:
                    instants = self._instants.put(token, ChangeInstants(self.store, self.policy))
                if instants.quiet(pin, now, self._windows):
                    return pin
            return self._pins.put(token, now)

    def network(self, at: datetime) -> nx.DiGraph[str]:
        """`partner_network` at `at` (suppressed), computed once per token from the cached facts; do not modify it.

        Raises
        ------
        NaiveDatetimeError, DepthLimitExceeded
            As `partner_network`.
        """
        from graph.analytics.network import partner_network

        at = ensure_aware(at)
        key = (self.store.latest_token(), at)
        with self._lock:
            found = self._networks.get(key)
            if found is not None:
                return found
            G = partner_network(self.store, at, self.policy, facts=self._facts_at(key[0], at))
            self.computed += 1
            return self._networks.put(key, G)

    def output(self, q: Question, fmt: str, render: Callable[[CoverageReport | CoverageComparison], bytes]) -> bytes:
        """``render(result(q))``, kept per question and `fmt` (the bytes served for a format)."""
        key = (*self._key(q), fmt)
        with self._lock:
            found = self._outputs.get(key)
        if found is not None:
            return found
        data = render(self.result(q))
        with self._lock:
            return self._outputs.put(key, data)


_CACHES: weakref.WeakKeyDictionary[object, CoverageCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(store: GraphStore, policy: Policy) -> CoverageCache:
    """The cache of `store` (one per open store object and policy; gone when the store is).

    The server's GraphQL resolvers and its ``/coverage/data`` endpoint share it, so a
    question asked either way is computed once per consistency token.
    """
    with _CACHES_LOCK:
        found = _CACHES.get(store)
        if found is None or found.policy != policy:
            found = _CACHES[store] = CoverageCache(store, policy)
        return found
