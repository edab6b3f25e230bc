"""Write commands on both stores: preconditions in the transaction, idempotency, effective-dated state.

    the tests/world.py base graph: ana -SERVES(sv1, prg-tutor)-> sam; cns-1 (gia) permits ptn-hope

Every test runs on the embedded store and on Neo4j (the store contract's `backend` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from graph import commands
from graph.changes import PutEdge, PutNode
from graph.decide import decide
from graph.decision import CheckRequest, Outcome
from graph.errors import ChangeRejected, IdempotencyConflict, InputError, PreconditionFailed
from graph.model import Consent, ConsentStatus, FerpaRights, Guardian, GuardianOf, Permits, Serves, ServiceStatus, Student
from graph.policy import DEFAULT_POLICY
from graph.reasons import Reason
from graph.stores.base import GraphStore
from tests.stores.test_contract import Backend, backend  # noqa: F401  (fixture)
from tests.world import NOON, T0, World

NOW = T0 + timedelta(days=200)
DAY = timedelta(days=1)


@pytest.fixture
def store(backend: Backend) -> Iterator[GraphStore]:  # noqa: F811
    s = backend.open()
    s.apply(World.base().changes())
    yield s


def decision(store: GraphStore, at: object) -> Outcome:
    req = CheckRequest("ana", "sam", at, "academic_support", frozenset({"attendance"}))  # type: ignore[arg-type]
    return decide(store.gather_evidence("ana", "sam"), req, DEFAULT_POLICY).outcome


# ---------------------------------------------------------------------------- preconditions


def test_revoke_twice_is_refused_and_keeps_the_first_time(store: GraphStore) -> None:
    first = commands.revoke_consent(store, commands.RevokeConsent("cns-1", T0 + 10 * DAY), now=NOW)
    with pytest.raises(PreconditionFailed) as err:
        commands.revoke_consent(store, commands.RevokeConsent("cns-1", T0 + 20 * DAY), now=NOW)
    assert err.value.code == "consent_already_revoked"
    consent = store.node("cns-1")
    assert isinstance(consent, Consent) and consent.revoked_at == T0 + 10 * DAY
    assert store.token() == first.token  # the refusal wrote nothing


@pytest.mark.parametrize(
    ("run", "code"),
    [
        pytest.param(lambda s: commands.revoke_consent(s, commands.RevokeConsent("nope"), now=NOW), "not_found", id="revoke-unknown"),
        pytest.param(
            lambda s: commands.revoke_consent(s, commands.RevokeConsent("cns-1", T0 - DAY), now=NOW), "before_signature", id="revoke-early"
        ),
        pytest.param(
            lambda s: commands.record_consent(
                s, commands.RecordConsent("sam", "gia", ("ptn-hope",), frozenset({"x"}), frozenset({"attendance"}), id="cns-1"), now=NOW
            ),
            "already_exists",
            id="record-explicit-id-taken",
        ),
        pytest.param(
            lambda s: commands.record_consent(s, commands.RecordConsent("sam", "gia", (), frozenset(), frozenset()), now=NOW),
            "no_recipients",
            id="record-no-recipients",
        ),
        pytest.param(
            lambda s: commands.start_service(
                s, commands.StartService("ana", "sam", frozenset({"attendance"}), program_id="prg-tutor"), now=NOW
            ),
            "service_already_open",
            id="start-duplicate-open-service",
        ),
        pytest.param(
            lambda s: commands.change_service_status(s, commands.ChangeServiceStatus("sv1", ServiceStatus.ACTIVE), now=NOW),
            "service_status_unchanged",
            id="status-unchanged",
        ),
        pytest.param(lambda s: commands.end_service(s, commands.EndService("nope"), now=NOW), "not_found", id="end-unknown"),
        pytest.param(
            lambda s: commands.verify_guardian(s, commands.VerifyGuardian("gia", "sam"), now=NOW),
            "guardian_not_unverified",
            id="verify-already-full",
        ),
        pytest.param(
            lambda s: commands.add_provider(s, commands.AddProvider("ana", "Ana", "ptn-hope", ()), now=NOW),
            "already_exists",
            id="add-taken",
        ),
        pytest.param(lambda s: commands.assign_to_team(s, commands.AssignToTeam("ana", "sam"), now=NOW), "not_a_team", id="team-not-team"),
        pytest.param(
            lambda s: commands.transfer_student(s, commands.TransferStudent("sam", "lincoln"), now=NOW),
            "already_enrolled",
            id="transfer-same-school",
        ),
        pytest.param(
            lambda s: commands.correct_consent(s, commands.CorrectConsent("cns-1", ConsentStatus.ACTIVE), now=NOW),
            "status_unchanged",
            id="correct-unchanged",
        ),
    ],
)
def test_precondition_refusals_write_nothing(store: GraphStore, run: object, code: str) -> None:
    before = store.token()
    with pytest.raises(PreconditionFailed) as err:
        run(store)  # type: ignore[operator]
    assert err.value.code == code
    assert store.token() == before


def test_dangling_ids_are_change_rejected(store: GraphStore) -> None:
    with pytest.raises(ChangeRejected, match="unknown node"):
        commands.record_training(store, commands.RecordTraining("ana", "crs-nowhere"), now=NOW)


def test_end_then_second_end_refused_then_history_kept(store: GraphStore) -> None:
    commands.end_service(store, commands.EndService("sv1", T0 + 30 * DAY), now=NOW)
    with pytest.raises(PreconditionFailed, match="already ended"):
        commands.end_service(store, commands.EndService("sv1", T0 + 40 * DAY), now=NOW)
    assert decision(store, T0 + 29 * DAY) is Outcome.ALLOW
    assert decision(store, T0 + 30 * DAY) is Outcome.DENY


def test_a_superseded_edge_names_its_successor(store: GraphStore) -> None:
    """A writer holding an edge a status change replaced is told so, not that the service ended."""
    changed = commands.change_service_status(store, commands.ChangeServiceStatus("sv1", ServiceStatus.PAUSED, T0 + 30 * DAY), now=NOW)
    current = str(changed.result["service"])
    for attempt in (
        lambda: commands.change_service_status(store, commands.ChangeServiceStatus("sv1", ServiceStatus.REFERRED, T0 + 31 * DAY), now=NOW),
        lambda: commands.end_service(store, commands.EndService("sv1", T0 + 31 * DAY), now=NOW),
    ):
        with pytest.raises(PreconditionFailed) as refused:
            attempt()
        assert refused.value.code == "service_superseded" and current in str(refused.value)
    commands.end_service(store, commands.EndService(current, T0 + 40 * DAY), now=NOW)
    with pytest.raises(PreconditionFailed) as ended:
        commands.end_service(store, commands.EndService(current, T0 + 41 * DAY), now=NOW)
    assert ended.value.code == "service_already_ended"


# ---------------------------------------------------------------------------- idempotency


def test_same_key_same_input_returns_the_original_result(store: GraphStore) -> None:
    cmd = commands.StartService("ana", "sam", frozenset({"grades"}), program_id=None, at=T0 + DAY)
    first = commands.start_service(store, cmd, now=NOW, key="k-1")
    again = commands.start_service(store, cmd, now=NOW + DAY, key="k-1")
    assert again.replayed and not first.replayed
    assert again.result == first.result
    assert store.token() == first.token  # nothing written by the retry
    assert again.token == first.token or store.name == "neo4j"  # Neo4j tokens carry the newest bookmarks
    served = [e for e in store.edges(Serves.kind) if e.from_id == "ana" and e.to_id == "sam" and e.valid_to is None]
    assert len(served) == 2  # sv1 and the one started once


def test_same_key_other_input_is_a_conflict(store: GraphStore) -> None:
    commands.record_training(store, commands.RecordTraining("ana", "crs-ferpa_basics", T0), now=NOW, key="k-2")
    before = store.token()
    with pytest.raises(IdempotencyConflict):
        commands.record_training(store, commands.RecordTraining("ana", "crs-ferpa_basics", T0 + DAY), now=NOW, key="k-2")
    with pytest.raises(IdempotencyConflict):  # another verb with the same key is another input too
        commands.end_service(store, commands.EndService("sv1"), now=NOW, key="k-2")
    assert store.token() == before


def test_server_made_ids_are_stable_under_a_key(store: GraphStore, backend: Backend) -> None:  # noqa: F811
    cmd = commands.RecordConsent("sam", "gia", ("ptn-hope",), frozenset({"academic_support"}), frozenset({"grades"}), signed_at=T0)
    one = commands.record_consent(store, cmd, now=NOW, key="same")
    assert commands.record_consent(store, cmd, now=NOW, key="same").result == one.result
    # A second store instance (another process in real life) returns the same id too.
    other = backend.open()
    assert commands.record_consent(other, cmd, now=NOW, key="same").result == one.result


def test_bad_keys_are_input_errors(store: GraphStore) -> None:
    for key in ("", " x", "a\x00b", "k" * 201):
        with pytest.raises(InputError):
            commands.end_service(store, commands.EndService("sv1"), now=NOW, key=key)


# ---------------------------------------------------------------------------- effective-dated state


def test_revocation_is_a_version_earlier_instants_unchanged(store: GraphStore) -> None:
    commands.revoke_consent(store, commands.RevokeConsent("cns-1", NOON), now=NOW)
    assert decision(store, NOON - timedelta(seconds=1)) is Outcome.ALLOW
    assert decision(store, NOON) is Outcome.DENY


def test_a_status_change_holds_from_its_effective_time_only(store: GraphStore) -> None:
    consent = store.node("cns-1")
    assert isinstance(consent, Consent)
    store.apply([PutNode(replace(consent, status=ConsentStatus.INACTIVE), effective_at=NOON)])
    assert decision(store, NOON - DAY) is Outcome.ALLOW
    assert decision(store, NOON) is Outcome.DENY


def test_a_backdated_revocation_survives_a_later_version(store: GraphStore) -> None:
    consent = store.node("cns-1")
    assert isinstance(consent, Consent)
    later = NOON + 30 * DAY
    store.apply([PutNode(replace(consent, status=ConsentStatus.INACTIVE), effective_at=later)])  # e.g. a re-import
    commands.revoke_consent(store, commands.RevokeConsent("cns-1", NOON), now=NOW)  # dated before that version
    assert decision(store, NOON - DAY) is Outcome.ALLOW
    assert decision(store, NOON + DAY) is Outcome.DENY
    ev = store.gather_evidence("ana", "sam")
    after = ev.as_at(later + DAY).consents[0].consent
    assert after.revoked_at == NOON and after.status is ConsentStatus.INACTIVE  # the revocation stays after the later version
    between = ev.as_at(NOON + DAY).consents[0].consent
    assert between.revoked_at == NOON and between.status is ConsentStatus.ACTIVE


def test_a_fact_correction_applies_to_every_version(store: GraphStore) -> None:
    commands.revoke_consent(store, commands.RevokeConsent("cns-1", NOON), now=NOW)
    student = store.node("sam")
    assert isinstance(student, Student)
    store.apply([PutNode(replace(student, birth_date=student.birth_date.replace(year=2000)))])  # type: ignore[union-attr]
    ev = store.gather_evidence("ana", "sam")
    assert ev.as_at(T0).student.birth_date.year == 2000  # type: ignore[union-attr]  # a birth date is a fact: no history
    assert "sam" not in ev.node_history


def test_a_correction_reaches_back(store: GraphStore) -> None:
    commands.correct_consent(store, commands.CorrectConsent("cns-1", ConsentStatus.ENTERED_IN_ERROR), now=NOW)
    req = CheckRequest("ana", "sam", NOON - 60 * DAY, "academic_support", frozenset({"attendance"}))
    d = decide(store.gather_evidence("ana", "sam"), req, DEFAULT_POLICY)
    assert d.outcome is Outcome.DENY and Reason.CONSENT_NOT_ACTIVE in d.codes


def test_guardian_rights_changed_by_a_source_hold_from_then(store: GraphStore) -> None:
    store.apply([PutNode(Student(id="kim")), PutNode(Guardian(id="gil"))])
    store.apply([PutEdge(GuardianOf(id="gk", from_id="gil", to_id="kim", valid_from=T0))])
    link = store.edge("gk")
    assert isinstance(link, GuardianOf)
    store.apply([PutEdge(replace(link, ferpa_rights=FerpaRights.REMOVED), effective_at=NOON)])
    ev = store.gather_evidence("ana", "kim")
    assert ev.as_at(NOON - DAY).guardian_links[0].ferpa_rights is FerpaRights.FULL
    assert ev.as_at(NOON).guardian_links[0].ferpa_rights is FerpaRights.REMOVED


def test_versions_survive_reopening(store: GraphStore, backend: Backend, tmp_path: Path) -> None:  # noqa: F811
    commands.revoke_consent(store, commands.RevokeConsent("cns-1", NOON), now=NOW)
    reopened = backend.open()
    assert decision(reopened, NOON - DAY) is Outcome.ALLOW
    assert decision(reopened, NOON) is Outcome.DENY
    assert reopened.gather_evidence("ana", "sam").canonical() == store.gather_evidence("ana", "sam").canonical()


def test_path_lists_edges_in_one_order_on_every_store(store: GraphStore) -> None:
    # Two applicable recipients named by one consent, written in reverse id order: the path
    # lists them by id on both stores (issue 16: records differed by backend).
    store.apply([PutEdge(Permits(id="pm0-ana", from_id="cns-1", to_id="ana", valid_from=T0))])
    req = CheckRequest("ana", "sam", NOON, "academic_support", frozenset({"attendance"}))
    d = decide(store.gather_evidence("ana", "sam"), req, DEFAULT_POLICY)
    consent_step = next(s for s in d.path if s.condition.value == "consent")
    permits = [e.id for e in consent_step.edges if e.kind.value == "PERMITS"]
    assert permits == sorted(permits) == ["pm0-ana", "pm1"]
