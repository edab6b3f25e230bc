"""Decision tables, one per rule family of DOMAIN.md ("Decision rules").

Each row: a tiny graph (tests/world.py sketches the base), the request, the expected
outcome and the exact set of reason codes. The graph goes through the real embedded
store (SQLite journal in tmp_path), so evidence gathering is exercised too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from graph.decision import Condition, Outcome
from graph.errors import DepthLimitExceeded
from graph.model import (
    About,
    Consent,
    ConsentKind,
    ConsentStatus,
    FerpaRights,
    GivenBy,
    GuardianOf,
    GuardianRelationship,
    LivesIn,
    Permits,
    ServiceStatus,
    Signed,
    Trained,
)
from graph.policy import DEFAULT_POLICY, Policy
from graph.reasons import Reason
from tests.world import NOON, T0, World, t

ALLOW, PARTIAL, DENY = Outcome.ALLOW, Outcome.PARTIAL, Outcome.DENY
R = Reason
B = World.base


def run(tmp_path: Path, world: World, at: datetime, outcome: Outcome, codes: set[Reason], **kw: object) -> None:
    d = world.decide(tmp_path, at=at, **kw)  # type: ignore[arg-type]
    assert (d.outcome, set(d.codes)) == (outcome, codes), d.to_dict()["reasons"]
    if outcome is ALLOW:
        assert not d.reasons
        assert {s.condition for s in d.path} == set(Condition)


# ---------------------------------------------------------------------------- consent validity and scope

CONSENT = [
    pytest.param(B(), NOON, ALLOW, set(), id="all-four-hold"),
    pytest.param(B().without("cns-1"), NOON, DENY, {R.CONSENT_MISSING}, id="no-consent"),
    pytest.param(B().consent(status=ConsentStatus.DRAFT), NOON, DENY, {R.CONSENT_NOT_ACTIVE}, id="draft"),
    pytest.param(B().consent(status=ConsentStatus.ENTERED_IN_ERROR), NOON, DENY, {R.CONSENT_NOT_ACTIVE}, id="entered-in-error"),
    pytest.param(
        B().consent(effective_from=NOON + timedelta(days=1)), NOON, DENY, {R.CONSENT_NOT_YET_EFFECTIVE}, id="not-yet-effective"
    ),
    pytest.param(B().consent(expires_at=NOON - timedelta(seconds=1)), NOON, DENY, {R.CONSENT_EXPIRED}, id="expired"),
    pytest.param(B().consent(expires_at=NOON), NOON, DENY, {R.CONSENT_EXPIRED}, id="expires-at-the-instant"),
    pytest.param(B().consent(expires_at=NOON + timedelta(microseconds=1)), NOON, ALLOW, set(), id="expires-a-microsecond-later"),
    pytest.param(B().revoke_consent(NOON), NOON, DENY, {R.CONSENT_REVOKED}, id="revoked-at-boundary"),
    pytest.param(B().revoke_consent(NOON + timedelta(minutes=1)), NOON, ALLOW, set(), id="revoked-later"),
    pytest.param(B().consent(purposes=frozenset()), NOON, DENY, {R.CONSENT_INCOMPLETE}, id="no-purpose"),
    pytest.param(B().consent(categories=frozenset()), NOON, DENY, {R.CONSENT_INCOMPLETE}, id="no-categories"),
    pytest.param(B().consent(signed_at=None), NOON, DENY, {R.CONSENT_INCOMPLETE}, id="no-signature-date"),
    pytest.param(B().without("gb1"), NOON, DENY, {R.CONSENT_INCOMPLETE}, id="no-signer"),
    pytest.param(B().without("pm1"), NOON, DENY, {R.CONSENT_INCOMPLETE}, id="no-recipients"),
    pytest.param(B().change("pm1", to_id="prg-tutor"), NOON, ALLOW, set(), id="program-named"),
    pytest.param(B().change("pm1", to_id="ana"), NOON, ALLOW, set(), id="provider-named"),
    pytest.param(
        B()
        .node(__import__("graph.model", fromlist=["Partner"]).Partner(id="ptn-other", name="Other"))
        .change("pm1", to_id="ptn-other"),
        NOON,
        DENY,
        {R.RECIPIENT_NOT_NAMED},
        id="other-partner-named",
    ),
    pytest.param(B().consent(purposes=frozenset({"health_services"})), NOON, DENY, {R.PURPOSE_MISMATCH}, id="purpose-mismatch"),
    pytest.param(
        B().consent(status=ConsentStatus.INACTIVE, expires_at=NOON - timedelta(days=1), purposes=frozenset({"mentoring"})),
        NOON,
        DENY,
        {R.CONSENT_NOT_ACTIVE, R.CONSENT_EXPIRED, R.PURPOSE_MISMATCH},
        id="every-consent-reason-reported",
    ),
    pytest.param(
        B()
        .node(Consent(id="cns-deny", consent_kind=ConsentKind.DENY, signed_at=T0))
        .edge(About(id="ab-d", from_id="cns-deny", to_id="sam", valid_from=T0))
        .edge(GivenBy(id="gb-d", from_id="cns-deny", to_id="gia", valid_from=T0)),
        NOON,
        DENY,
        {R.CONSENT_DENIED},
        id="deny-consent-wins",
    ),
    pytest.param(
        B()
        .node(Consent(id="cns-deny", consent_kind=ConsentKind.DENY, signed_at=T0, revoked_at=NOON - timedelta(hours=1)))
        .edge(About(id="ab-d", from_id="cns-deny", to_id="sam", valid_from=T0))
        .edge(GivenBy(id="gb-d", from_id="cns-deny", to_id="gia", valid_from=T0)),
        NOON,
        ALLOW,
        set(),
        id="revoked-deny-no-longer-applies",
    ),
    pytest.param(
        B()
        .node(Consent(id="cns-2", signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"})))
        .edge(About(id="ab2", from_id="cns-2", to_id="sam", valid_from=T0))
        .edge(GivenBy(id="gb2", from_id="cns-2", to_id="gia", valid_from=T0))
        .edge(Permits(id="pm2", from_id="cns-2", to_id="ptn-hope", valid_from=T0))
        .revoke_consent(NOON - timedelta(days=1)),
        NOON,
        ALLOW,
        set(),
        id="second-valid-consent-suffices",
    ),
]


@pytest.mark.parametrize(("world", "at", "outcome", "codes"), CONSENT)
def test_consent(tmp_path: Path, world: World, at: datetime, outcome: Outcome, codes: set[Reason]) -> None:
    run(tmp_path, world, at, outcome, codes)


# ---------------------------------------------------------------------------- categories: consent ∩ need

NC, NN, CD = R.CATEGORY_NOT_CONSENTED, R.NOT_NEEDED_FOR_SERVICE, R.CONSENT_DENIED
CATEGORIES = [
    pytest.param(None, ALLOW, [], {"attendance", "grades"}, id="unspecified-releases-consent-and-need"),
    pytest.param({"attendance"}, ALLOW, [], {"attendance"}, id="one-consented-and-needed"),
    pytest.param({"attendance", "health"}, PARTIAL, [(NC, "health")], {"attendance"}, id="partial-not-consented"),
    pytest.param(
        {"grades", "discipline"}, PARTIAL, [(NC, "discipline"), (NN, "discipline")], {"grades"}, id="neither-consented-nor-needed"
    ),
    pytest.param({"health"}, DENY, [(NC, "health")], set(), id="nothing-consented"),
]


@pytest.mark.parametrize(("asked", "outcome", "reasons", "released"), CATEGORIES)
def test_categories(
    tmp_path: Path, asked: set[str] | None, outcome: Outcome, reasons: list[tuple[Reason, str]], released: set[str]
) -> None:
    d = B().decide(tmp_path, categories=frozenset(asked) if asked is not None else None)
    assert (d.outcome, [(r.code, r.category) for r in d.reasons], set(d.released)) == (outcome, reasons, released)


def test_not_needed_for_service(tmp_path: Path) -> None:
    w = B().service(categories_needed=frozenset({"attendance"}))
    d = w.decide(tmp_path, categories=frozenset({"attendance", "grades"}))
    assert d.outcome is PARTIAL and d.released == {"attendance"}
    assert [(r.code, r.category) for r in d.reasons] == [(R.NOT_NEEDED_FOR_SERVICE, "grades")]


def test_partial_deny_consent_withholds_one_category(tmp_path: Path) -> None:
    w = (
        B()
        .node(Consent(id="cns-deny", consent_kind=ConsentKind.DENY, signed_at=T0, categories=frozenset({"grades"})))
        .edge(About(id="ab-d", from_id="cns-deny", to_id="sam", valid_from=T0))
        .edge(GivenBy(id="gb-d", from_id="cns-deny", to_id="gia", valid_from=T0))
    )
    d = w.decide(tmp_path, categories=frozenset({"attendance", "grades"}))
    assert d.outcome is PARTIAL and d.released == {"attendance"}
    assert [(r.code, r.category) for r in d.reasons] == [(R.CONSENT_DENIED, "grades")]


# ---------------------------------------------------------------------------- signer authority and eligible students

ADULT_BIRTH = date(2007, 11, 30)  # turns 18 on 2025-11-30 (local date)
SIGNER = [
    pytest.param(
        B().guardian_link(ferpa_rights=FerpaRights.UNVERIFIED), NOON, DENY, {R.SIGNER_LACKS_AUTHORITY}, id="unverified-guardian"
    ),
    pytest.param(
        B().guardian_link(ferpa_rights=FerpaRights.REMOVED), NOON, DENY, {R.SIGNER_LACKS_AUTHORITY}, id="rights-removed"
    ),
    pytest.param(
        B().guardian_link(relationship=GuardianRelationship.EMERGENCY_CONTACT),
        NOON,
        DENY,
        {R.SIGNER_LACKS_AUTHORITY},
        id="emergency-contact",
    ),
    pytest.param(
        B().guardian_link(relationship=GuardianRelationship.RELATIVE), NOON, DENY, {R.SIGNER_LACKS_AUTHORITY}, id="relative"
    ),
    pytest.param(B().guardian_link(relationship=GuardianRelationship.LEGAL_GUARDIAN), NOON, ALLOW, set(), id="legal-guardian"),
    pytest.param(
        B().guardian_link(relationship=GuardianRelationship.AUTHORIZED_AGENT, valid_to=NOON - timedelta(days=1)),
        NOON,
        DENY,
        {R.SIGNER_LACKS_AUTHORITY},
        id="agent-authorisation-lapsed",
    ),
    pytest.param(
        B().guardian_link(relationship=GuardianRelationship.AUTHORIZED_AGENT, valid_to=NOON + timedelta(days=1)),
        NOON,
        ALLOW,
        set(),
        id="agent-still-authorised",
    ),
    pytest.param(
        B().guardian_link(valid_from=T0 + timedelta(days=1)),
        NOON,
        DENY,
        {R.SIGNER_LACKS_AUTHORITY},
        id="not-guardian-when-signed",
    ),
    pytest.param(
        B().order("gia", T0 - timedelta(days=10)), NOON, DENY, {R.SIGNER_LACKS_AUTHORITY}, id="court-order-removes-rights"
    ),
    pytest.param(
        B().order("gia", T0 - timedelta(days=10), T0 - timedelta(days=1)),
        NOON,
        ALLOW,
        set(),
        id="court-order-over-before-signing",
    ),
    pytest.param(B().student(birth_date=date(2000, 1, 1)), NOON, DENY, {R.ELIGIBLE_STUDENT_CONSENT_REQUIRED}, id="adult-student"),
    pytest.param(B().student(postsecondary_enrolled=True), NOON, DENY, {R.ELIGIBLE_STUDENT_CONSENT_REQUIRED}, id="postsecondary"),
    pytest.param(
        B().student(birth_date=ADULT_BIRTH), t("2025-11-30T06:59:59+00:00"), ALLOW, set(), id="day-before-18th-birthday-in-denver"
    ),
    pytest.param(
        B().student(birth_date=ADULT_BIRTH),
        t("2025-11-30T07:00:00+00:00"),
        DENY,
        {R.ELIGIBLE_STUDENT_CONSENT_REQUIRED},
        id="18th-birthday-midnight-denver",
    ),
    pytest.param(
        B().student(birth_date=ADULT_BIRTH, time_zone="Pacific/Honolulu"),
        t("2025-11-30T07:00:00+00:00"),
        ALLOW,
        set(),
        id="still-17-in-honolulu",
    ),
    pytest.param(
        B().student(birth_date=date(2000, 1, 1)).change("gb1", to_id="sam"),
        NOON,
        ALLOW,
        set(),
        id="eligible-student-signs-own-consent",
    ),
    pytest.param(B().change("gb1", to_id="sam"), NOON, DENY, {R.SIGNER_LACKS_AUTHORITY}, id="minor-signs-own-consent"),
    pytest.param(B().student(emancipated=True), NOON, DENY, {R.REVIEW_REQUIRED}, id="emancipated-needs-review"),
    pytest.param(B().student(unaccompanied_youth=True), NOON, DENY, {R.REVIEW_REQUIRED}, id="unaccompanied-youth-needs-review"),
]


@pytest.mark.parametrize(("world", "at", "outcome", "codes"), SIGNER)
def test_signer_authority(tmp_path: Path, world: World, at: datetime, outcome: Outcome, codes: set[Reason]) -> None:
    run(tmp_path, world, at, outcome, codes)


def test_feb29_birthday_turns_over_on_feb28(tmp_path: Path) -> None:
    w = B().student(birth_date=date(2008, 2, 29))
    assert w.decide(tmp_path / "a", at=t("2026-02-28T06:59:00+00:00")).allowed  # 27 Feb in Denver
    assert not w.decide(tmp_path / "b", at=t("2026-02-28T07:00:00+00:00")).allowed  # 28 Feb: 18 (policy)


def test_unverified_guardian_allowed_when_policy_off(tmp_path: Path) -> None:
    w = B().guardian_link(ferpa_rights=FerpaRights.UNVERIFIED)
    assert w.decide(tmp_path, policy=Policy(require_verified_guardians=False)).outcome is ALLOW


def test_parent_consent_survives_eligibility_when_policy_on(tmp_path: Path) -> None:
    w = B().student(birth_date=ADULT_BIRTH)
    policy = Policy(parent_consent_survives_eligibility=True)
    assert w.decide(tmp_path, policy=policy).outcome is ALLOW
    assert w.decide(tmp_path / "x", policy=DEFAULT_POLICY).codes == (R.ELIGIBLE_STUDENT_CONSENT_REQUIRED,)


# ---------------------------------------------------------------------------- provider conditions

PROVIDER = [
    pytest.param(B().without("sg1"), NOON, DENY, {R.AGREEMENT_MISSING}, id="agreement-missing"),
    pytest.param(B().change("sg1", to_id="agr-conf-v1"), NOON, DENY, {R.AGREEMENT_OUTDATED}, id="agreement-outdated"),
    pytest.param(B().change("sg1", valid_to=NOON), NOON, DENY, {R.AGREEMENT_EXPIRED}, id="agreement-expired-at-instant"),
    pytest.param(
        B().change("sg1", valid_from=NOON + timedelta(hours=1)), NOON, DENY, {R.AGREEMENT_MISSING}, id="agreement-signed-later"
    ),
    pytest.param(
        B().edge(Signed(id="sg-v1", from_id="ana", to_id="agr-conf-v1", valid_from=T0)),
        NOON,
        ALLOW,
        set(),
        id="old-and-current-version",
    ),
    pytest.param(B().without("sg-p"), NOON, DENY, {R.PARTNER_AGREEMENT_MISSING}, id="partner-agreement-missing"),
    pytest.param(B().without("tr1"), NOON, DENY, {R.TRAINING_MISSING}, id="training-missing"),
    pytest.param(B().change("tr1", valid_to=NOON - timedelta(days=1)), NOON, DENY, {R.TRAINING_EXPIRED}, id="training-expired"),
    pytest.param(
        B().change("tr1", valid_from=NOON + timedelta(minutes=5)),
        NOON,
        DENY,
        {R.TRAINING_MISSING},
        id="training-completed-after-request",
    ),
    pytest.param(
        B()
        .change("tr1", valid_to=NOON - timedelta(days=30))
        .edge(Trained(id="tr2", from_id="ana", to_id="crs-ferpa_basics", valid_from=NOON - timedelta(days=30))),
        NOON,
        ALLOW,
        set(),
        id="training-renewed",
    ),
    pytest.param(
        B().change("emp1", valid_to=NOON),
        NOON,
        DENY,
        {R.NOT_EMPLOYED, R.RECIPIENT_NOT_NAMED},
        id="employment-ended-partner-no-longer-named",
    ),
    pytest.param(
        B().change("emp1", valid_to=NOON).change("pm1", to_id="ana"), NOON, DENY, {R.NOT_EMPLOYED}, id="employment-ended"
    ),
    pytest.param(
        B().without("sg1", "tr1").change("emp1", valid_to=NOON),
        NOON,
        DENY,
        {R.AGREEMENT_MISSING, R.TRAINING_MISSING, R.NOT_EMPLOYED, R.RECIPIENT_NOT_NAMED},
        id="every-provider-reason-reported",
    ),
]


@pytest.mark.parametrize(("world", "at", "outcome", "codes"), PROVIDER)
def test_provider(tmp_path: Path, world: World, at: datetime, outcome: Outcome, codes: set[Reason]) -> None:
    run(tmp_path, world, at, outcome, codes)


# ---------------------------------------------------------------------------- community, transfers

TRANSFER = t("2026-01-06T07:00:00+00:00")


def transferred() -> World:
    from graph.model import Attends, Community, LocatedIn, School

    return (
        B()
        .node(School(id="roosevelt", name="Roosevelt"))
        .node(Community(id="westside", name="Westside"))
        .edge(LocatedIn(id="loc2", from_id="roosevelt", to_id="westside", valid_from=T0))
        .change("at1", valid_to=TRANSFER)
        .edge(Attends(id="at2", from_id="sam", to_id="roosevelt", valid_from=TRANSFER))
    )


COMMUNITY = [
    pytest.param(
        B().change("w1", to_id="eastside", valid_to=NOON), NOON, DENY, {R.NOT_IN_STUDENT_COMMUNITY}, id="stopped-working-there"
    ),
    pytest.param(transferred(), TRANSFER - timedelta(microseconds=1), ALLOW, set(), id="before-transfer"),
    pytest.param(transferred(), TRANSFER, DENY, {R.NOT_IN_STUDENT_COMMUNITY}, id="transfer-moves-community-on-its-date"),
    pytest.param(
        transferred().edge(LivesIn(id="lv1", from_id="sam", to_id="eastside", valid_from=T0)),
        TRANSFER,
        ALLOW,
        set(),
        id="lives-in-providers-community",
    ),
    pytest.param(
        B().change("loc1", valid_to=T0 + timedelta(days=1)), NOON, DENY, {R.NOT_IN_STUDENT_COMMUNITY}, id="school-moved-out"
    ),
]


@pytest.mark.parametrize(("world", "at", "outcome", "codes"), COMMUNITY)
def test_community(tmp_path: Path, world: World, at: datetime, outcome: Outcome, codes: set[Reason]) -> None:
    run(tmp_path, world, at, outcome, codes)


# ---------------------------------------------------------------------------- need to know, teams

NEED = [
    pytest.param(
        B().without("sv1").change("pm1", to_id="prg-tutor"),
        NOON,
        DENY,
        {R.NO_SERVICE_RELATIONSHIP, R.RECIPIENT_NOT_NAMED},
        id="no-service-so-program-not-named",
    ),
    pytest.param(B().without("sv1"), NOON, DENY, {R.NO_SERVICE_RELATIONSHIP}, id="no-service"),
    pytest.param(B().service(status=ServiceStatus.REFERRED), NOON, DENY, {R.SERVICE_NOT_ACTIVE}, id="referred"),
    pytest.param(B().service(status=ServiceStatus.PAUSED), NOON, DENY, {R.SERVICE_NOT_ACTIVE}, id="paused"),
    pytest.param(B().service(valid_to=NOON), NOON, DENY, {R.SERVICE_NOT_ACTIVE}, id="ended-at-instant"),
    pytest.param(B().close("sv1", NOON + timedelta(seconds=1)), NOON, ALLOW, set(), id="closed-a-second-later"),
    pytest.param(B().service(valid_from=NOON + timedelta(days=1)), NOON, DENY, {R.SERVICE_NOT_ACTIVE}, id="starts-tomorrow"),
    pytest.param(B().via_team("team-a"), NOON, ALLOW, set(), id="through-a-team"),
    pytest.param(B().via_team("team-a", "team-b", "team-c"), NOON, ALLOW, set(), id="through-nested-teams"),
    pytest.param(
        B().via_team("team-a", "team-b", "team-c", cycle=True), NOON, ALLOW, set(), id="team-cycle-neither-loops-nor-raises"
    ),
    pytest.param(B().via_team("team-a").close("m-ana-team-a", NOON), NOON, DENY, {R.NO_SERVICE_RELATIONSHIP}, id="left-the-team"),
]


@pytest.mark.parametrize(("world", "at", "outcome", "codes"), NEED)
def test_need_to_know(tmp_path: Path, world: World, at: datetime, outcome: Outcome, codes: set[Reason]) -> None:
    run(tmp_path, world, at, outcome, codes)


def test_team_path_is_in_the_decision(tmp_path: Path) -> None:
    d = B().via_team("team-a", "team-b").decide(tmp_path)
    need = next(s for s in d.path if s.condition is Condition.NEED_TO_KNOW)
    assert [e.id for e in need.edges] == ["m-ana-team-a", "m-team-a-team-b", "sv1"]


def test_depth_limit_raises_never_denies(tmp_path: Path) -> None:
    w = B().via_team("team-a", "team-b", "team-c")
    with pytest.raises(DepthLimitExceeded, match="depth limit 2"):
        w.decide(tmp_path, policy=Policy(max_team_depth=2))
    assert w.decide(tmp_path / "ok", policy=Policy(max_team_depth=3)).outcome is ALLOW


def test_depth_limit_with_cycle_terminates(tmp_path: Path) -> None:
    w = B().via_team("team-a", "team-b", cycle=True)
    assert w.decide(tmp_path, policy=Policy(max_team_depth=2)).outcome is ALLOW


# ---------------------------------------------------------------------------- time zones and instants

TIMES = [
    pytest.param("2026-01-15T12:00:00-07:00", id="denver-offset"),
    pytest.param("2026-01-15T19:00:00+00:00", id="utc"),
    pytest.param("2026-01-16T04:00:00+09:00", id="tokyo-offset"),
]


@pytest.mark.parametrize("when", TIMES)
def test_same_instant_any_offset(tmp_path: Path, when: str) -> None:
    w = B().revoke_consent(t("2026-01-15T19:00:00+00:00"))
    assert w.decide(tmp_path, at=t(when)).codes == (R.CONSENT_REVOKED,)
    assert w.decide(tmp_path / "b", at=t(when) - timedelta(microseconds=1)).outcome is ALLOW


def test_every_reason_has_a_message() -> None:
    from graph.reasons import MESSAGES, SUBJECT

    assert set(MESSAGES) == set(Reason) and all(MESSAGES[r].endswith(".") for r in Reason)
    assert set(SUBJECT) == set(Reason)


def test_decision_replays_from_its_evidence(tmp_path: Path) -> None:
    from graph.decide import decide

    for w in (B(), B().revoke_consent(NOON), B().via_team("a", "b", cycle=True)):
        d = w.decide(tmp_path / str(id(w)))
        again = decide(d.evidence, d.request, DEFAULT_POLICY)
        assert again == d


def test_naive_request_time_is_rejected() -> None:
    from graph.decision import CheckRequest
    from graph.errors import NaiveDatetimeError

    with pytest.raises(NaiveDatetimeError):
        CheckRequest("ana", "sam", datetime(2026, 1, 1, 12, 0))
    assert CheckRequest("ana", "sam", datetime(2026, 1, 1, 12, 0, tzinfo=UTC)).at.tzinfo is not None


def test_guardian_link_rights_helper_kinds() -> None:
    # The GUARDIAN_OF record keeps both relationship and rights; defaults are a parent with full rights.
    g = GuardianOf(id="x", from_id="a", to_id="b", valid_from=T0)
    assert (g.relationship, g.ferpa_rights) == (GuardianRelationship.PARENT, FerpaRights.FULL)
