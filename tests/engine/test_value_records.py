"""The records a decision builds are named tuples (graph/valuetuple.py) that behave as the frozen
dataclasses they replaced: immutable, equal by value and only to their own class, hashable as
before, picklable, and still handled by ``dataclasses.replace`` / ``fields`` / ``asdict``."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from graph.decide import decide
from graph.decision import CheckRequest, Condition, Decision, Outcome, PathStep, ReasonDetail
from graph.evidence import Evidence
from graph.model import Provider, Student
from graph.policy import DEFAULT_POLICY
from graph.reasons import Reason

AT = datetime(2026, 1, 15, 19, tzinfo=UTC)


def _decision() -> Decision:
    ev = Evidence(provider=Provider(id="prv-1", name="P"), student=Student(id="stu-1", name="S"))
    return decide(ev, CheckRequest("prv-1", "stu-1", AT), DEFAULT_POLICY, "7")


def test_a_decision_is_judged_as_before_and_compares_without_evidence_or_token() -> None:
    d = _decision()
    assert d.outcome is Outcome.DENY and Reason.CONSENT_MISSING in d.codes
    other_state = d._replace(evidence=Evidence(provider=None, student=None), consistency_token="8")
    assert other_state == d and (other_state != d) is False and hash(other_state) == hash(d)
    assert d._replace(outcome=Outcome.ALLOW) != d
    assert "evidence" not in repr(d) and "consistency_token='7'" in repr(d)


@pytest.mark.parametrize(
    "record",
    [
        ReasonDetail(Reason.TRAINING_MISSING, "ferpa-101", None, Condition.AGREEMENT_AND_TRAINING),
        PathStep(Condition.EMPLOYMENT, ()),
        Evidence(provider=None, student=None),
    ],
    ids=["reason", "path-step", "evidence"],
)
def test_records_are_immutable_equal_by_value_only_to_their_class_and_pickle(record: tuple[object, ...]) -> None:
    first = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        setattr(record, first, None)
    assert record == type(record)(*record) and (record != type(record)(*record)) is False
    assert record != tuple(record) and (record == tuple(record)) is False and (tuple(record) == record) is False  # not a plain tuple
    assert pickle.loads(pickle.dumps(record)) == record
    assert type(pickle.loads(pickle.dumps(record))) is type(record)


def test_dataclass_functions_see_the_same_fields_as_before() -> None:
    d = _decision()
    assert [(f.name, f.compare, f.repr) for f in dataclasses.fields(Decision)][-2:] == [
        ("evidence", False, False),
        ("consistency_token", False, True),
    ]
    assert dataclasses.replace(d, consistency_token="9").consistency_token == "9"
    reason = ReasonDetail(Reason.NOT_EMPLOYED, condition=Condition.EMPLOYMENT)
    assert dataclasses.asdict(reason) == {"code": Reason.NOT_EMPLOYED, "ref": None, "category": None, "condition": Condition.EMPLOYMENT}
    assert hash(reason) == hash((Reason.NOT_EMPLOYED, None, None, Condition.EMPLOYMENT))  # as the dataclass hashed
    assert dataclasses.replace(Evidence(provider=None, student=None), works_in=()).node_history == {}
    with pytest.raises(TypeError):
        hash(Evidence(provider=None, student=None))  # unhashable, as before: the histories are dicts
