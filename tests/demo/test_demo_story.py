"""The demo lives in the present: built on any day of the year, its examples answer as the story says.

The story (api/demo/README.md) is dated relative to the build instant, so each row below
builds the demo on a different day of the school year, summer included, and asks the
example questions at that instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from api.demo.build import examples
from api.demo.story import DemoCalendar
from graph.audit import Caller
from graph.decision import Outcome
from graph.engine import Engine
from graph.reasons import Reason
from graph.stores.memory import MemoryStore
from tests.demo.conftest import build_demo

EXPECTED = [
    (Outcome.ALLOW, set()),
    (Outcome.PARTIAL, {Reason.CATEGORY_NOT_CONSENTED, Reason.NOT_NEEDED_FOR_SERVICE}),  # health: neither consented nor needed
    (Outcome.ALLOW, set()),
    (Outcome.ALLOW, set()),
    (Outcome.DENY, {Reason.ELIGIBLE_STUDENT_CONSENT_REQUIRED, Reason.PURPOSE_MISMATCH}),
    (Outcome.DENY, {Reason.CONSENT_REVOKED}),
    (Outcome.DENY, {Reason.SIGNER_LACKS_AUTHORITY}),
    (Outcome.DENY, {Reason.TRAINING_EXPIRED, Reason.NOT_IN_STUDENT_COMMUNITY}),
    (Outcome.DENY, {Reason.AGREEMENT_OUTDATED}),
    (Outcome.DENY, {Reason.NO_SERVICE_RELATIONSHIP}),
]
"""Outcome and reason codes of each of `examples(at)`, in order: allow, partial, and a deny of
every family (consent, signer authority, provider, community, need to know)."""


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(datetime(2026, 11, 30, 17, 0, tzinfo=UTC), id="late-autumn"),
        pytest.param(datetime(2026, 8, 20, 15, 0, tzinfo=UTC), id="first-week-of-school"),
        pytest.param(datetime(2027, 6, 25, 15, 0, tzinfo=UTC), id="last-week-of-june"),
        pytest.param(datetime(2028, 2, 29, 15, 0, tzinfo=UTC), id="leap-day"),
    ],
)
def test_examples_answer_as_the_story_says_on_any_day(tmp_path: Path, now: datetime) -> None:
    calendar = build_demo(tmp_path / "demo.db", now)
    store = MemoryStore(tmp_path / "demo.db")
    try:
        engine = Engine(store)
        got = [engine.check(req, caller=Caller("operator", "test")) for req in examples(calendar.now)]
    finally:
        store.close()
    assert [(d.outcome, {r.code for r in d.reasons}) for d in got] == EXPECTED


def test_calendar_is_the_current_school_year_with_things_expiring_soon_and_lapsed(tmp_path: Path) -> None:
    now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    cal = DemoCalendar.of(now)
    assert (cal.today, cal.year_start, cal.school_year, cal.consents_end) == (
        date(2026, 11, 30),
        date(2026, 8, 15),
        "2026-27",
        date(2027, 6, 30),
    )
    build_demo(tmp_path / "demo.db", now)
    records = {p.stem: p.read_text(encoding="utf-8") for p in (tmp_path / "demo-bundle").glob("*.jsonl")}
    assert '"expires_at": "2027-06-30T06:00:00Z"' in records["Consent"]
    assert '"expires_at": "2026-12-21T07:00:00Z"' in records["Consent"], "the care-team consent ends in three weeks"
    assert '"revoked_at": "2026-11-16T15:00:00Z"' in records["Consent"]
    assert '"valid_to": "2026-12-20T18:00:00Z"' in records["TRAINED"], "Marcus's training: current, expiring within 30 days"
    assert '"valid_to": "2026-10-16T17:00:00Z"' in records["TRAINED"], "Jordan's lapsed six weeks ago"
    assert '"valid_from": "2026-08-18T06:00:00Z"' in records["ATTENDS"] and "2026-27" in records["ATTENDS"]


def test_a_summer_build_pushes_school_year_consents_to_next_june() -> None:
    cal = DemoCalendar.of(datetime(2027, 7, 10, 15, 0, tzinfo=UTC))
    assert cal.year_start == date(2026, 8, 15)
    assert cal.consents_end == date(2028, 6, 30)
    assert cal.opened <= cal.today - timedelta(days=100)
