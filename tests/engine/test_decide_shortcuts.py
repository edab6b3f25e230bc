"""The decision's shortcuts change no answer: the eligible-student date remembered per (instant,
zone), and the batch memo's provider half held only for the very records it was judged from."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from graph.decide import BatchMemo, decide, is_eligible_student
from graph.decision import CheckRequest, Condition
from graph.model import NodeKind, Student
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from graph.timeutil import age_on, local_date
from loaders.bundle import read
from loaders.importer import import_result
from loaders.synthetic import DEFAULT_NOW, DEFAULT_START, generate


def test_eligibility_takes_each_students_own_local_date_whatever_the_offset_asked_in() -> None:
    # Turns 18 on 2026-12-01: in Denver that day starts at 07:00Z, in Auckland at 11:00Z the day before.
    policy = Policy()
    denver = Student(id="stu-den", birth_date=date(2008, 12, 1), time_zone="America/Denver")
    auckland = Student(id="stu-akl", birth_date=date(2008, 12, 1), time_zone="Pacific/Auckland")
    default = Student(id="stu-def", birth_date=date(2008, 12, 1))
    plus5 = timezone(timedelta(hours=5))
    instants = [
        datetime(2026, 11, 30, 10, 59, tzinfo=UTC),
        datetime(2026, 11, 30, 11, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 6, 59, tzinfo=UTC),
        datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
    ]
    # Each instant asked three times, in UTC and in another offset, students interleaved: a
    # remembered date must be the one of that instant in that student's zone.
    asked = [at.astimezone(tz) for at in instants for tz in (UTC, plus5, UTC)]
    seen = []
    for at in asked:
        for student in (denver, auckland, default):
            zone = student.time_zone or policy.default_time_zone
            expected = age_on(date(2008, 12, 1), local_date(at, zone)) >= 18
            assert is_eligible_student(student, at, policy) is expected, (student.id, at)
            seen.append(expected)
    # The same answers as a table written by hand (Denver, Auckland, the default zone: Denver),
    # per instant, each instant asked three times.
    by_hand = [[False, False, False], [False, True, False], [False, True, False], [True, True, True]]
    assert seen == [v for row in by_hand for _ in range(3) for v in row]


def test_memo_holds_only_for_the_provider_records_it_was_judged_from(tmp_path: Path) -> None:
    generate(tmp_path / "b", students=120, seed=3)
    store = MemoryStore(tmp_path / "s.db")
    try:
        import_result(store, read([tmp_path / "b"], default_valid_from=DEFAULT_START))
        policy = Policy()
        providers = sorted(n.id for n in store.nodes(NodeKind.PROVIDER))
        pairs = [(p, s) for p in providers for s in sorted(store.students_served_by(p))]
        evidence = [(store.gather_evidence(p, s), CheckRequest(p, s, DEFAULT_NOW)) for p, s in pairs]
    finally:
        store.close()
    # The same provider's evidence with other provider-half records (no community worked in, no
    # employment): a memo keyed on the provider id and instant alone would answer from the first.
    variants = [(dataclasses.replace(ev, works_in=()), req) for ev, req in evidence] + [
        (dataclasses.replace(ev, employments=()), req) for ev, req in evidence
    ]
    interleaved = [x for trio in zip(evidence, variants[: len(evidence)], variants[len(evidence) :], strict=True) for x in trio]
    memo = BatchMemo()
    shared = [decide(ev, req, policy, memo=memo) for ev, req in interleaved]
    alone = [decide(ev, req, policy) for ev, req in interleaved]
    assert shared == alone
    held = [d for d in alone[0::3] if Condition.COMMUNITY not in {r.condition for r in d.reasons}]
    assert held, "some served pair shares a community"
    assert all(any(r.condition is Condition.COMMUNITY for r in d.reasons) for d in alone[1::3])
    assert all(any(r.condition is Condition.EMPLOYMENT for r in d.reasons) for d in alone[2::3])
