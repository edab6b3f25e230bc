"""The engine's lasting memo (graph.decide.LastingMemo) changes no answer.

It reuses a provider's judged half at other instants while none of the provider's edges starts
or ends in between. Synthetic data (teams, lapsed trainings and agreements, several partners):
pairs asked at every provider-side start and end, a microsecond either side, and at random
instants, in a shuffled order and in time order per provider, with one memo shared by all,
equal those judged alone; so do they
after a write that ends a provider's training (the memo must not answer from before it).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from graph.changes import PutEdge
from graph.decide import LastingMemo, decide
from graph.decision import CheckRequest, Decision
from graph.model import EdgeKind
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from loaders.synthetic import DEFAULT_NOW, DEFAULT_START
from tests.engine.synthetic import served_and_random_pairs, synthetic_store

PROVIDER_SIDE = (EdgeKind.EMPLOYED_BY, EdgeKind.TRAINED, EdgeKind.SIGNED, EdgeKind.MEMBER_OF, EdgeKind.WORKS_IN)
TICK = timedelta(microseconds=1)


def _judge(store: MemoryStore, reqs: list[CheckRequest], policy: Policy, memo: LastingMemo | None) -> list[Decision]:
    return [decide(store.gather_evidence(r.provider_id, r.student_id), r, policy, memo=memo) for r in reqs]


def _paths(ds: list[Decision]) -> list[list[tuple[str, list[str]]]]:
    return [[(s.condition, [e.id for e in s.edges]) for s in d.path] for d in ds]


def test_lasting_memo_gives_the_same_decisions_across_instants_and_writes(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, students=300, seed=13)
    try:
        rng = random.Random(7)
        pairs = served_and_random_pairs(store, rng)
        served = pairs[: len(pairs) // 2]
        providers = {p for p, _ in pairs}
        bounds = {b for kind in PROVIDER_SIDE for e in store.edges(kind) for b in (e.valid_from, e.valid_to) if b is not None}
        instants: list[datetime] = sorted({b + d for b in bounds for d in (-TICK, timedelta(0), TICK)})
        instants += [DEFAULT_START + timedelta(seconds=rng.randrange(0, 3 * 365 * 86_400)) for _ in range(40)]
        reqs = [CheckRequest(p, s, rng.choice(instants), "academic_support" if rng.random() < 0.5 else None) for p, s in pairs * 4]
        rng.shuffle(reqs)
        policy = Policy()
        memo = LastingMemo()
        alone, shared = _judge(store, reqs, policy, None), _judge(store, reqs, policy, memo)
        assert shared == alone and _paths(shared) == _paths(alone)
        # Each provider asked in time order just before, at and just after each of its own starts
        # and ends: the memo is asked right at the end of the span it judged.
        walk: list[CheckRequest] = []
        for p, s in served:
            ev = store.gather_evidence(p, s)
            own = [*ev.employments, *ev.works_in, *ev.trainings, *ev.memberships]
            own += [a.edge for a in (*ev.agreements, *ev.partner_agreements)]
            ticks = sorted({b + d for e in own for b in (e.valid_from, e.valid_to) if b is not None for d in (-TICK, timedelta(0), TICK)})
            walk += [CheckRequest(p, s, at) for at in ticks]
        assert _judge(store, walk, policy, LastingMemo()) == _judge(store, walk, policy, None)
        assert {d.outcome for d in alone} >= {"allow", "deny"}
        assert store.count(EdgeKind.MEMBER_OF) > 0 and len(memo._spans) < len(providers) + 1  # teams judged; one side per provider

        # A write ends the training of the provider of the first allowed pair: same memo, fresh answers.
        allowed = next(r for r, d in zip(reqs, alone, strict=True) if d.allowed and r.at < DEFAULT_NOW)
        trained = [e for e in store.edges(EdgeKind.TRAINED) if e.from_id == allowed.provider_id]
        ended_at = allowed.at - timedelta(days=1)
        store.apply([PutEdge(replace(e, valid_to=ended_at)) for e in trained if e.valid_from < ended_at])
        again = [r for r in reqs if r.provider_id == allowed.provider_id]
        assert _judge(store, again, policy, memo) == _judge(store, again, policy, None)
        assert not decide(store.gather_evidence(allowed.provider_id, allowed.student_id), allowed, policy, memo=memo).allowed
    finally:
        store.close()
