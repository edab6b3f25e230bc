"""A batch's shared memo (graph.decide.BatchMemo) changes no answer.

Synthetic data (teams, lapsed trainings and agreements, several partners): every served pair
and as many random pairs, at three instants, judged in a shuffled order with one memo shared
by all, equal those judged one by one without it (outcome, every reason, released, path).
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from graph.decide import BatchMemo, decide
from graph.decision import CheckRequest
from graph.model import EdgeKind
from graph.policy import Policy
from loaders.synthetic import DEFAULT_NOW, DEFAULT_START
from tests.engine.synthetic import served_and_random_pairs, synthetic_store


def test_memo_gives_the_same_decisions(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, students=600, seed=11)
    try:
        rng = random.Random(5)
        pairs = served_and_random_pairs(store, rng)
        instants = [DEFAULT_NOW, DEFAULT_START + timedelta(days=20), DEFAULT_NOW + timedelta(days=400)]
        reqs = [CheckRequest(p, s, at, "academic_support" if rng.random() < 0.5 else None) for p, s in pairs for at in instants]
        rng.shuffle(reqs)
        policy = Policy()
        memo = BatchMemo()
        alone = [decide(store.gather_evidence(r.provider_id, r.student_id), r, policy) for r in reqs]
        shared = [decide(store.gather_evidence(r.provider_id, r.student_id), r, policy, memo=memo) for r in reqs]
    finally:
        store.close()
    assert store.count(EdgeKind.MEMBER_OF) > 0  # teams are on the paths judged
    assert {d.outcome for d in alone} >= {"allow", "deny"}
    assert len(memo._sides) == len({(r.provider_id, r.at) for r in reqs}) < len(reqs) / 2  # one provider half per provider and instant
    assert shared == alone
    assert [[(s.condition, [e.id for e in s.edges]) for s in d.path] for d in shared] == [
        [(s.condition, [e.id for e in s.edges]) for s in d.path] for d in alone
    ]
