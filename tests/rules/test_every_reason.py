"""Every failing reason, per category, whatever else failed (DOMAIN.md: "every failing reason, not the first").

One row per rule family crossed with the category reasons: a failing condition never hides
the category reasons, and a category that is neither consented nor needed gets both.
Each row gives the exact reasons in order as (code, ref, category), and the conditions on
the path (only conditions that held).

Base world (tests/world.py): consent cns-1 covers attendance and grades; service sv1 needs
attendance, grades and health.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from graph.decision import Condition, Outcome
from graph.model import About, Consent, ConsentKind, GivenBy, ServiceStatus
from graph.reasons import Reason
from tests.world import NOON, T0, World

R = Reason
B = World.base
C = Condition
DAY = timedelta(days=1)
EVERY = frozenset(C)


def deny_consent(categories: frozenset[str] = frozenset()) -> World:
    return (
        B()
        .node(Consent(id="cns-deny", consent_kind=ConsentKind.DENY, signed_at=T0, categories=categories))
        .edge(About(id="ab-d", from_id="cns-deny", to_id="sam", valid_from=T0))
        .edge(GivenBy(id="gb-d", from_id="cns-deny", to_id="gia", valid_from=T0))
    )


Row = tuple[Reason, str | None, str | None]
AD = {"attendance", "discipline"}

ROWS = [
    pytest.param(
        B().change("tr1", valid_to=NOON - DAY),
        AD,
        [
            (R.TRAINING_EXPIRED, "crs-ferpa_basics", None),
            (R.CATEGORY_NOT_CONSENTED, None, "discipline"),
            (R.NOT_NEEDED_FOR_SERVICE, None, "discipline"),
        ],
        EVERY - {C.AGREEMENT_AND_TRAINING},
        id="training-expired-and-category-neither-consented-nor-needed",
    ),
    pytest.param(
        B().consent(expires_at=NOON - DAY),
        AD,
        [
            (R.CONSENT_EXPIRED, "cns-1", None),
            (R.CATEGORY_NOT_CONSENTED, None, "discipline"),
            (R.NOT_NEEDED_FOR_SERVICE, None, "discipline"),
        ],
        EVERY - {C.CONSENT},
        id="consent-expired-still-judges-its-categories",
    ),
    pytest.param(
        B().without("cns-1"),
        AD,
        [(R.CONSENT_MISSING, None, None), (R.NOT_NEEDED_FOR_SERVICE, None, "discipline")],
        EVERY - {C.CONSENT},
        id="no-consent-need-still-judged",
    ),
    pytest.param(
        B().service(status=ServiceStatus.PAUSED),
        AD,
        [
            (R.SERVICE_NOT_ACTIVE, "sv1", None),
            (R.CATEGORY_NOT_CONSENTED, None, "discipline"),
            (R.NOT_NEEDED_FOR_SERVICE, None, "discipline"),
        ],
        EVERY - {C.NEED_TO_KNOW},
        id="service-paused-still-judges-what-it-needs",
    ),
    pytest.param(
        B().without("sv1"),
        AD,
        [(R.NO_SERVICE_RELATIONSHIP, None, None), (R.CATEGORY_NOT_CONSENTED, None, "discipline")],
        EVERY - {C.NEED_TO_KNOW},
        id="no-service-consent-still-judged",
    ),
    pytest.param(
        B().change("w1", valid_to=NOON),
        {"health"},
        [(R.NOT_IN_STUDENT_COMMUNITY, None, None), (R.CATEGORY_NOT_CONSENTED, None, "health")],
        EVERY - {C.COMMUNITY},
        id="community-and-category",
    ),
    pytest.param(
        B().without("sg1").change("emp1", valid_to=NOON),
        AD,
        [
            (R.RECIPIENT_NOT_NAMED, "cns-1", None),
            (R.AGREEMENT_MISSING, None, None),
            (R.NOT_EMPLOYED, None, None),
            (R.CATEGORY_NOT_CONSENTED, None, "discipline"),
            (R.NOT_NEEDED_FOR_SERVICE, None, "discipline"),
        ],
        {C.COMMUNITY, C.NEED_TO_KNOW},
        id="provider-reasons-and-categories",
    ),
    pytest.param(
        deny_consent(),
        AD,
        [
            (R.CONSENT_DENIED, "cns-deny", None),
            (R.CATEGORY_NOT_CONSENTED, None, "discipline"),
            (R.NOT_NEEDED_FOR_SERVICE, None, "discipline"),
        ],
        EVERY - {C.CONSENT},
        id="deny-consent-defeats-the-permit-and-leaves-the-path",
    ),
    pytest.param(
        deny_consent(frozenset({"grades"})).without("tr1"),
        {"attendance", "grades"},
        [(R.TRAINING_MISSING, "crs-ferpa_basics", None), (R.CONSENT_DENIED, None, "grades")],
        EVERY - {C.AGREEMENT_AND_TRAINING},
        id="partial-refusal-reported-when-training-fails",
    ),
    pytest.param(
        B().change("pm1", to_id="prg-tutor").revoke_consent(NOON - timedelta(hours=1)).service(valid_to=NOON - DAY),
        {"attendance"},
        [(R.CONSENT_REVOKED, "cns-1", None), (R.RECIPIENT_NOT_NAMED, "cns-1", None), (R.SERVICE_NOT_ACTIVE, "sv1", None)],
        EVERY - {C.CONSENT, C.NEED_TO_KNOW},
        id="revoked-consent-reported-when-the-service-ended-too",
    ),
    pytest.param(
        B().student(birth_date=date(2000, 1, 1)),
        AD,
        [
            (R.ELIGIBLE_STUDENT_CONSENT_REQUIRED, "cns-1", None),
            (R.CATEGORY_NOT_CONSENTED, None, "discipline"),
            (R.NOT_NEEDED_FOR_SERVICE, None, "discipline"),
        ],
        EVERY - {C.CONSENT},
        id="eligible-student-and-categories",
    ),
    pytest.param(
        B().student(emancipated=True).without("tr1"),
        {"attendance"},
        [(R.REVIEW_REQUIRED, None, None), (R.TRAINING_MISSING, "crs-ferpa_basics", None)],
        EVERY - {C.CONSENT, C.AGREEMENT_AND_TRAINING},
        id="review-and-training",
    ),
    pytest.param(
        B().without("sg-p").change("w1", valid_to=NOON),
        None,
        [(R.PARTNER_AGREEMENT_MISSING, None, None), (R.NOT_IN_STUDENT_COMMUNITY, None, None)],
        EVERY - {C.AGREEMENT_AND_TRAINING, C.COMMUNITY},
        id="partner-terms-and-community",
    ),
    pytest.param(
        B().consent(categories=frozenset({"discipline"})).change("tr1", valid_to=NOON - DAY),
        None,
        [(R.TRAINING_EXPIRED, "crs-ferpa_basics", None), (R.NOT_NEEDED_FOR_SERVICE, None, None)],
        EVERY - {C.AGREEMENT_AND_TRAINING},
        id="any-category-nothing-consented-is-needed-even-with-training-failing",
    ),
]


@pytest.mark.parametrize(("world", "asked", "reasons", "path"), ROWS)
def test_every_failing_reason(tmp_path: Path, world: World, asked: set[str] | None, reasons: list[Row], path: set[Condition]) -> None:
    d = world.decide(tmp_path, categories=frozenset(asked) if asked is not None else None)
    assert d.outcome is Outcome.DENY and not d.released
    assert [(r.code, r.ref, r.category) for r in d.reasons] == reasons
    assert {s.condition for s in d.path} == path


def test_condition_of_each_category_reason(tmp_path: Path) -> None:
    d = deny_consent(frozenset({"grades"})).decide(tmp_path, categories=frozenset({"grades", "discipline"}))
    assert [(r.code, r.category, r.condition) for r in d.reasons] == [
        (R.CATEGORY_NOT_CONSENTED, "discipline", C.CONSENT),
        (R.NOT_NEEDED_FOR_SERVICE, "discipline", C.NEED_TO_KNOW),
        (R.CONSENT_DENIED, "grades", C.CONSENT),
    ]
