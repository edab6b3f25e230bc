"""give_consent and a family's own revocation, on both stores: signer authority, evidence, isolation, races.

    the tests/world.py base graph: gia -GUARDIAN_OF(parent, full)-> sam (born 2012);
    ana -SERVES(sv1, prg-tutor, needs attendance, grades, health)-> sam; cns-1 (gia) permits ptn-hope
    plus, per row: gia unverified / rights removed / an emergency contact / restricted by a court
    order; sam eligible (born 2000); zed, a guardian of another family (no link to sam)

Each refusal is the engine's signer-authority rule (`graph.decide.signer_authority`), named
in words by `graph.family.Standing`; a student that is not the signer's reads exactly like
one that does not exist.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from graph import commands
from graph.decide import decide
from graph.decision import CheckRequest, Outcome
from graph.errors import PreconditionFailed
from graph.family import MESSAGES, Standing
from graph.model import Consent, FerpaRights, Guardian, GuardianRelationship
from graph.policy import DEFAULT_POLICY
from graph.reasons import Reason
from graph.stores.base import GraphStore
from tests.stores.test_contract import Backend, backend  # noqa: F401  (fixture)
from tests.world import T0, World

NOW = T0 + timedelta(days=200)
DAY = timedelta(days=1)


def give(store: GraphStore, signer: str = "gia", student: str = "sam", key: str | None = None, **over: object) -> commands.Committed:
    fields: dict[str, object] = {
        "student_id": student,
        "signer_id": signer,
        "recipient_id": "ptn-hope",
        "purpose": "mentoring",
        "categories": frozenset({"health"}),
        "expires_at": NOW + 100 * DAY,
        "signature_method": "electronic_review_and_sign",
        "signer_identity": f"bearer-token:tok_test guardian:{signer}",
        "text_version": "family-consent-2026.1/en",
    }
    fields.update(over)
    return commands.give_consent(store, commands.GiveConsent(**fields), now=NOW, policy=DEFAULT_POLICY, key=key)  # type: ignore[arg-type]


def outcome(store: GraphStore, at: object, purpose: str = "mentoring") -> Outcome:
    req = CheckRequest("ana", "sam", at, purpose, frozenset({"health"}))  # type: ignore[arg-type]
    return decide(store.gather_evidence("ana", "sam"), req, DEFAULT_POLICY).outcome


def world_store(backend: Backend, w: World) -> GraphStore:  # noqa: F811
    s = backend.open()
    s.apply(w.node(Guardian(id="zed")).changes())
    return s


@pytest.fixture
def store(backend: Backend) -> Iterator[GraphStore]:  # noqa: F811
    yield world_store(backend, World.base())


UNVERIFIED, REMOVED = FerpaRights.UNVERIFIED, FerpaRights.REMOVED
EMERGENCY = GuardianRelationship.EMERGENCY_CONTACT

REFUSALS = [
    pytest.param(World.base().guardian_link(ferpa_rights=UNVERIFIED), "gia", "sam", Standing.UNVERIFIED, id="unverified-guardian"),
    pytest.param(World.base().guardian_link(ferpa_rights=REMOVED), "gia", "sam", Standing.RIGHTS_REMOVED, id="rights-removed"),
    pytest.param(World.base().order("gia", T0 + 10 * DAY), "gia", "sam", Standing.COURT_ORDER, id="court-order"),
    pytest.param(World.base().guardian_link(relationship=EMERGENCY), "gia", "sam", Standing.NOT_A_PARENT, id="emergency-contact"),
    pytest.param(World.base().student(birth_date=date(2000, 1, 1)), "gia", "sam", Standing.ELIGIBLE_STUDENT, id="eligible-student"),
    pytest.param(World.base(), "sam", "sam", Standing.NOT_ELIGIBLE, id="student-not-yet-eligible"),
    pytest.param(World.base(), "zed", "sam", Standing.NOT_YOURS, id="another-familys-student"),
    pytest.param(World.base(), "gia", "nobody", Standing.NOT_YOURS, id="unknown-student-reads-the-same"),
]


@pytest.mark.parametrize(("w", "signer", "student", "why"), REFUSALS)
def test_signer_authority_refusals_write_nothing(tmp_path: Path, w: World, signer: str, student: str, why: Standing) -> None:
    """The rule is the engine's, not the store's: the embedded store here; both stores below."""
    s = w.node(Guardian(id="zed")).store(tmp_path)
    refused(s, signer, student, why)


def test_a_court_order_is_read_inside_the_transaction(backend: Backend) -> None:  # noqa: F811
    """The order's ABOUT and RESTRICTS edges come from the write transaction's reads (both stores)."""
    refused(world_store(backend, World.base().order("gia", T0 + 10 * DAY)), "gia", "sam", Standing.COURT_ORDER)


def refused(s: GraphStore, signer: str, student: str, why: Standing) -> None:
    before = s.token()
    with pytest.raises(PreconditionFailed) as err:
        give(s, signer=signer, student=student)
    assert err.value.code == why.value and str(err.value) == MESSAGES[why]
    assert err.value.field == "studentId"
    assert s.token() == before
    assert outcome(s, NOW + DAY) is Outcome.DENY


def test_the_eligible_student_consents_for_themselves(backend: Backend) -> None:  # noqa: F811
    s = world_store(backend, World.base().student(birth_date=date(2000, 1, 1)))
    give(s, signer="sam", signer_identity="bearer-token:tok_test student:sam")
    assert outcome(s, NOW + DAY) is Outcome.ALLOW


def test_a_given_consent_carries_its_signature_evidence_and_allows_from_its_signing(store: GraphStore) -> None:
    assert outcome(store, NOW) is Outcome.DENY
    committed = give(store)
    consent = store.node(committed.result["consent"])
    assert isinstance(consent, Consent)
    assert consent.signed_at == NOW and consent.expires_at == NOW + 100 * DAY
    assert (consent.signature_method, consent.signer_identity, consent.text_version) == (
        "electronic_review_and_sign",
        "bearer-token:tok_test guardian:gia",
        "family-consent-2026.1/en",
    )
    assert consent.purposes == {"mentoring"} and consent.categories == {"health"}
    assert outcome(store, NOW - timedelta(microseconds=1)) is Outcome.DENY
    assert outcome(store, NOW) is Outcome.ALLOW
    assert outcome(store, NOW + 100 * DAY) is Outcome.DENY  # the end date is exclusive


@pytest.mark.parametrize(
    ("over", "code"),
    [
        pytest.param({"recipient_id": "sam"}, "unknown_recipient", id="recipient-not-a-partner"),
        pytest.param({"recipient_id": "no-such-partner"}, "unknown_recipient", id="recipient-unknown"),
        pytest.param({"purpose": "Any Purpose"}, "bad_purpose", id="purpose-not-a-code"),
        pytest.param({"categories": frozenset()}, "bad_categories", id="no-category"),
        pytest.param({"categories": frozenset({"shoe_size"})}, "bad_categories", id="category-not-in-policy"),
        pytest.param({"expires_at": NOW}, "bad_end_date", id="ends-now"),
        pytest.param({"expires_at": NOW + 367 * DAY}, "bad_end_date", id="ends-after-a-year"),
    ],
)
def test_bad_values_are_refused_by_name(store: GraphStore, over: dict[str, object], code: str) -> None:
    with pytest.raises(PreconditionFailed) as err:
        give(store, **over)
    assert err.value.code == code


def test_a_family_revokes_only_its_own_consent_and_the_check_flips_at_that_instant(store: GraphStore) -> None:
    cid = give(store).result["consent"]
    with pytest.raises(PreconditionFailed) as err:
        commands.revoke_consent(store, commands.RevokeConsent(cid, signer_id="zed"), now=NOW + DAY)
    missing = pytest.raises(PreconditionFailed)
    with missing as unknown:
        commands.revoke_consent(store, commands.RevokeConsent("cns-nope", signer_id="zed"), now=NOW + DAY)
    assert err.value.code == unknown.value.code == "not_found"  # another's consent reads like a missing one
    at = NOW + 3 * DAY
    commands.revoke_consent(store, commands.RevokeConsent(cid, signer_id="gia"), now=at)
    assert outcome(store, at - timedelta(microseconds=1)) is Outcome.ALLOW
    req = CheckRequest("ana", "sam", at, "mentoring", frozenset({"health"}))
    d = decide(store.gather_evidence("ana", "sam"), req, DEFAULT_POLICY)
    assert d.outcome is Outcome.DENY and Reason.CONSENT_REVOKED in {r.code for r in d.reasons}


def test_concurrent_gives_under_one_key_write_one_consent(backend: Backend) -> None:  # noqa: F811
    """Two workers (two store instances on one journal or database) submit the same signed form at once."""
    first = world_store(backend, World.base())
    second = backend.open()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def submit(s: GraphStore) -> None:
        barrier.wait()
        results.append(give(s, key="form-1").result["consent"])

    threads = [threading.Thread(target=submit, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    first.sync()
    assert [c.consent.id for c in first.gather_evidence("ana", "sam").consents if c.consent.purposes == {"mentoring"}] == [results[0]]


def test_concurrent_revocations_by_the_family_one_wins(backend: Backend) -> None:  # noqa: F811
    first = world_store(backend, World.base())
    cid = give(first).result["consent"]
    second = backend.open()
    second.sync()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def revoke(s: GraphStore, days: int) -> None:
        barrier.wait()
        try:
            commands.revoke_consent(s, commands.RevokeConsent(cid, signer_id="gia"), now=NOW + days * DAY)
            outcomes.append("ok")
        except PreconditionFailed as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=revoke, args=(s, n + 1)) for n, s in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["consent_already_revoked", "ok"]
