"""No oracle (DOMAIN.md, "Who may see which reasons"): without a relationship to the
student, a deny reads exactly like a deny about an id that does not exist."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from graph.decision import Outcome
from graph.disclosure import disclose, has_relationship
from graph.evidence import Evidence
from graph.model import ServiceStatus
from graph.reasons import Reason
from tests.api.conftest import Api
from tests.world import NOON, World

LOOKBACK = 365


@pytest.mark.parametrize(
    ("world", "related"),
    [
        pytest.param(World.base(), True, id="active-service"),
        pytest.param(World.base().service(status=ServiceStatus.REFERRED), True, id="referred-counts"),
        pytest.param(World.base().service(status=ServiceStatus.PAUSED), True, id="paused-counts"),
        pytest.param(World.base().service(valid_to=NOON - timedelta(days=20)), True, id="ended-within-lookback"),
        pytest.param(World.base().service(valid_to=NOON - timedelta(days=40)), False, id="ended-before-lookback"),
        pytest.param(World.base().service(valid_from=NOON + timedelta(days=1)), False, id="not-started"),
        pytest.param(World.base().without("sv1"), False, id="no-service"),
        pytest.param(World.base().via_team("t1", "t2"), True, id="through-teams"),
    ],
)
def test_relationship(tmp_path: Path, world: World, related: bool) -> None:
    d = world.decide(tmp_path)
    assert has_relationship(d.evidence, NOON, 30) is related  # a 30-day look-back


def test_redacted_shape_is_the_unknown_student_shape(tmp_path: Path) -> None:
    known = World.base().without("sv1").consent(revoked_at=NOON - timedelta(days=1)).decide(tmp_path / "a")
    (tmp_path / "b").mkdir()
    unknown = World.base().decide(tmp_path / "b", student="nobody")
    assert {Reason.CONSENT_REVOKED, Reason.NO_SERVICE_RELATIONSHIP} <= set(known.codes)
    a = disclose(known, sees_all=False, lookback_days=LOOKBACK)
    b = disclose(unknown, sees_all=False, lookback_days=LOOKBACK)
    assert (a.outcome, a.codes, a.path, a.released) == (Outcome.DENY, (Reason.NO_SERVICE_RELATIONSHIP,), (), frozenset())
    assert (a.outcome, a.reasons, a.path, a.released) == (b.outcome, b.reasons, b.path, b.released)


def test_admins_and_related_callers_see_everything(tmp_path: Path) -> None:
    d = World.base().service(status=ServiceStatus.PAUSED).decide(tmp_path)
    assert disclose(d, sees_all=False, lookback_days=LOOKBACK) is d
    bare = World.base().without("sv1")
    (tmp_path / "x").mkdir()
    d2 = bare.decide(tmp_path / "x")
    assert disclose(d2, sees_all=True, lookback_days=LOOKBACK) is d2


FULL = (
    "query($r: CheckInput!) { check(request: $r) { allowed outcome releasedCategories "
    "reasons { code message subject ref category } path { condition edges { id } } policyVersion providerId studentId } }"
)


@pytest.mark.parametrize("role", ["provider", "app"])
def test_no_relationship_reads_like_unknown_id_over_http(api: Api, role: str) -> None:
    # ana has no relationship with sue (exists, attends lincoln, unverified guardian) nor with "nobody" (does not exist)
    sue = api.post(FULL, {"r": {"providerId": "ana", "studentId": "sue"}}, role).json()["data"]["check"]
    nobody = api.post(FULL, {"r": {"providerId": "ana", "studentId": "nobody"}}, role).json()["data"]["check"]
    assert sue.pop("studentId") == "sue" and nobody.pop("studentId") == "nobody"
    assert sue == nobody
    assert [r["code"] for r in sue["reasons"]] == ["NO_SERVICE_RELATIONSHIP"] and sue["path"] == []


def test_admin_sees_every_reason(api: Api) -> None:
    d = api.post(FULL, {"r": {"providerId": "ana", "studentId": "sue"}}, "admin").json()["data"]["check"]
    assert "CONSENT_MISSING" in [r["code"] for r in d["reasons"]]


def test_recently_ended_provider_sees_the_student_facts(api: Api, tmp_path: Path) -> None:
    # cy's service to sam ended 30 days ago (within the 365-day look-back): a relationship, full reasons
    from api.tokens import TokenStore

    store = TokenStore(api.db)
    _, secret = store.create("provider", "cy")
    store.close()
    api.tokens["cy"] = secret
    d = api.post(FULL, {"r": {"providerId": "cy", "studentId": "sam"}}, "cy").json()["data"]["check"]
    codes = [r["code"] for r in d["reasons"]]
    assert "RECIPIENT_NOT_NAMED" in codes or "SERVICE_NOT_ACTIVE" in codes


def test_full_decision_is_recorded_whatever_was_shown(api: Api) -> None:
    api.post(FULL, {"r": {"providerId": "ana", "studentId": "sue", "purpose": "record_probe"}}, "provider")
    rows = api.gql('{ disclosures(studentId: "sue") { purpose reasons askedByRole } }')["disclosures"]
    mine = [r for r in rows if r["purpose"] == "record_probe"]
    assert mine and "CONSENT_MISSING" in mine[-1]["reasons"] and mine[-1]["askedByRole"] == "provider"


def test_unknown_and_unrelated_do_the_same_work(tmp_path: Path) -> None:
    # Both paths gather evidence once, decide, record and redact (Engine.check_many with
    # strict_ids=False) and show the same thing. (Timing is not asserted in tests: the same
    # work is the property; a timing difference would come from different work.)
    from graph.audit import Caller, SqliteAuditLog
    from graph.decision import CheckRequest
    from graph.engine import Engine
    from tests.api.conftest import build_db, extra_changes

    db = tmp_path / "t.db"
    build_db(db)
    store = World.base().store(tmp_path)
    audit = SqliteAuditLog(db)
    engine = Engine(store, audit=audit)
    engine.store.apply(extra_changes())
    gathered: list[str] = []
    real = store.gather_evidence

    def counting(provider_id: str, student_id: str) -> Evidence:
        gathered.append(student_id)
        return real(provider_id, student_id)

    store.gather_evidence = counting  # type: ignore[method-assign]
    shown = []
    for student in ("sue", "nobody"):
        before = audit.count()
        [d] = engine.check_many([CheckRequest("ana", student, NOON)], caller=Caller(), token=None, strict_ids=False)
        assert audit.count() == before + 1  # recorded either way
        view = disclose(d, sees_all=False, lookback_days=LOOKBACK)
        shown.append((view.outcome, view.reasons, view.released, view.path))
    assert gathered == ["sue", "nobody"]
    assert shown[0] == shown[1]
