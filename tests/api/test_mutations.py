# ruff: noqa: E501  (GraphQL documents read best on one line)
"""Every mutation over HTTP: it returns the object and a consistencyToken, the next check sees
it, history is kept (closed edges stay), and refusals come back as ValidationError."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

CHECK = "query($r: CheckInput!, $t: String) { check(request: $r, consistencyToken: $t) { allowed outcome reasons { code } } }"


def check(api: Api, provider: str, student: str, token: str | None = None, purpose: str = "academic_support") -> dict[str, Any]:
    r = {"providerId": provider, "studentId": student, "purpose": purpose}
    return api.gql(CHECK, {"r": r, "t": token})["check"]  # type: ignore[no-any-return]


def codes(d: dict[str, Any]) -> set[str]:
    return {r["code"] for r in d["reasons"]}


def test_revoke_then_record_consent(fresh_api: Api) -> None:
    assert check(fresh_api, "ana", "sam")["allowed"]
    out = fresh_api.gql(
        'mutation { revokeConsent(consentId: "cns-1") { ... on ConsentPayload { consent { id revokedAt } consistencyToken } } }'
    )
    payload = out["revokeConsent"]
    assert payload["consent"]["revokedAt"] is not None
    d = check(fresh_api, "ana", "sam", payload["consistencyToken"])
    assert not d["allowed"] and "CONSENT_REVOKED" in codes(d)
    again = fresh_api.gql('mutation { revokeConsent(consentId: "cns-1") { ... on ValidationError { field message } } }')
    assert again["revokeConsent"]["field"] == "consentId"
    rec = fresh_api.gql(
        "mutation($i: RecordConsentInput!) { recordConsent(input: $i) { __typename ... on ConsentPayload { consent { id } consistencyToken } } }",
        {
            "i": {
                "id": "cns-2",
                "studentId": "sam",
                "signerId": "gia",
                "recipientIds": ["ptn-hope"],
                "purposes": ["academic_support"],
                "categories": ["attendance"],
                "signedAt": "2025-09-01T00:00:00Z",
            }
        },
    )["recordConsent"]
    assert rec["__typename"] == "ConsentPayload" and rec["consent"]["id"] == "cns-2"
    d = check(fresh_api, "ana", "sam", rec["consistencyToken"])
    assert d["allowed"]


def test_change_service_status_closes_and_opens(fresh_api: Api) -> None:
    out = fresh_api.gql(
        'mutation { changeServiceStatus(serviceId: "sv1", status: PAUSED) { ... on ServicePayload '
        "{ service { id status validTo } closed { id status validTo } consistencyToken } } }"
    )["changeServiceStatus"]
    assert out["service"]["status"] == "PAUSED" and out["service"]["validTo"] is None
    assert out["closed"][0]["id"] == "sv1" and out["closed"][0]["status"] == "ACTIVE" and out["closed"][0]["validTo"]
    d = check(fresh_api, "ana", "sam", out["consistencyToken"])
    assert not d["allowed"] and "SERVICE_NOT_ACTIVE" in codes(d)
    back = fresh_api.gql(
        f'mutation {{ changeServiceStatus(serviceId: "{out["service"]["id"]}", status: ACTIVE) {{ ... on ServicePayload {{ service {{ id }} consistencyToken }} }} }}'
    )["changeServiceStatus"]
    assert check(fresh_api, "ana", "sam", back["consistencyToken"])["allowed"]
    end = fresh_api.gql(
        f'mutation {{ endService(serviceId: "{back["service"]["id"]}") {{ ... on ServicePayload {{ service {{ validTo }} consistencyToken }} }} }}'
    )["endService"]
    assert end["service"]["validTo"] is not None
    assert not check(fresh_api, "ana", "sam", end["consistencyToken"])["allowed"]
    rejected = fresh_api.gql('mutation { endService(serviceId: "sv1") { ... on ValidationError { field } } }')
    assert rejected["endService"] == {"field": "serviceId"}


def test_start_service_for_a_new_provider(fresh_api: Api) -> None:
    # bo works for ptn-hope in eastside, trained and signed, but serves nobody
    assert not check(fresh_api, "bo", "sam")["allowed"]
    out = fresh_api.gql(
        'mutation { startService(input: {providerId: "bo", studentId: "sam", programId: "prg-tutor", '
        'categoriesNeeded: ["attendance"]}) { ... on ServicePayload { service { id status } consistencyToken } } }'
    )["startService"]
    d = check(fresh_api, "bo", "sam", out["consistencyToken"])
    assert d["allowed"] and d["outcome"] in {"ALLOW", "PARTIAL"}


def test_add_provider_training_agreement_team(fresh_api: Api) -> None:
    add = fresh_api.gql(
        'mutation { addProvider(id: "dee", name: "Dee", partnerId: "ptn-hope", communityIds: ["eastside"]) '
        "{ ... on ProviderPayload { provider { id name } relationships { type } consistencyToken } } }"
    )["addProvider"]
    assert sorted(r["type"] for r in add["relationships"]) == ["EMPLOYED_BY", "WORKS_IN"]
    team = fresh_api.gql(
        'mutation { assignToTeam(memberId: "dee", teamId: "team-x", teamName: "X") { ... on RelationshipPayload { relationships { type } consistencyToken } } }'
    )["assignToTeam"]
    assert team["relationships"][0]["type"] == "MEMBER_OF"
    svc = fresh_api.gql(
        'mutation { startService(input: {providerId: "team-x", studentId: "sam", categoriesNeeded: ["grades"]}) '
        "{ ... on ServicePayload { consistencyToken } } }"
    )["startService"]
    d = check(fresh_api, "dee", "sam", svc["consistencyToken"])
    assert {"TRAINING_MISSING", "AGREEMENT_MISSING"} <= codes(d)
    fresh_api.gql('mutation { recordTraining(providerId: "dee", courseId: "crs-ferpa_basics") { __typename } }')
    sign = fresh_api.gql(
        'mutation { signAgreement(signerId: "dee", agreementId: "agr-conf-v2") { ... on RelationshipPayload { relationships { version } consistencyToken } } }'
    )["signAgreement"]
    d = check(fresh_api, "dee", "sam", sign["consistencyToken"])
    assert d["allowed"], d


def test_transfer_student_moves_the_community(fresh_api: Api) -> None:
    fresh_api.gql('mutation { addProvider(id: "zz", name: "Z", partnerId: "ptn-hope", communityIds: []) { __typename } }')
    # a school in no community: after the transfer ana no longer works in sam's community
    from graph.changes import PutNode
    from graph.model import School
    from graph.stores.memory import MemoryStore

    store = MemoryStore(fresh_api.db)
    store.apply([PutNode(School(id="roosevelt", name="Roosevelt"))])
    store.close()
    out = fresh_api.gql(
        'mutation { transferStudent(studentId: "sam", schoolId: "roosevelt") { ... on RelationshipPayload '
        "{ relationships { type to } closed { id validTo } consistencyToken } } }"
    )["transferStudent"]
    assert out["relationships"][0]["to"] == "roosevelt" and out["closed"][0]["id"] == "at1"
    d = check(fresh_api, "ana", "sam", out["consistencyToken"])
    assert "NOT_IN_STUDENT_COMMUNITY" in codes(d)


def test_verify_guardian(fresh_api: Api) -> None:
    # gus is sue's guardian as imported (unverified); ana serves sue through a consent gus signs
    fresh_api.gql(
        'mutation { startService(input: {providerId: "ana", studentId: "sue", programId: "prg-tutor", categoriesNeeded: ["grades"], '
        'at: "2025-08-15T06:00:00Z"}) { __typename } }'
    )
    fresh_api.gql(
        "mutation($i: RecordConsentInput!) { recordConsent(input: $i) { __typename } }",
        {
            "i": {
                "studentId": "sue",
                "signerId": "gus",
                "recipientIds": ["ptn-hope"],
                "purposes": ["academic_support"],
                "categories": ["grades"],
                "signedAt": "2025-09-01T00:00:00Z",
            }
        },
    )
    d = check(fresh_api, "ana", "sue")
    assert "SIGNER_LACKS_AUTHORITY" in codes(d)
    out = fresh_api.gql(
        'mutation { verifyGuardian(guardianId: "gus", studentId: "sue", at: "2025-08-15T06:00:00Z") '
        "{ ... on RelationshipPayload { relationships { ferpaRights } closed { id } consistencyToken } } }"
    )["verifyGuardian"]
    assert out["relationships"][0]["ferpaRights"] == "FULL" and out["closed"][0]["id"] == "g-gus"
    assert check(fresh_api, "ana", "sue", out["consistencyToken"])["allowed"]


def test_validation_errors_name_the_field(fresh_api: Api) -> None:
    out = fresh_api.gql(
        'mutation { startService(input: {providerId: "ana", studentId: "sam", categoriesNeeded: ["Not A Code"]}) '
        "{ ... on ValidationError { field message } } }"
    )["startService"]
    assert out["field"] and out["message"]
    out = fresh_api.gql(
        'mutation { recordTraining(providerId: "nobody", courseId: "crs-ferpa_basics") { ... on ValidationError { field } } }'
    )
    assert out["recordTraining"]["field"] == "from_id"


def test_naive_time_in_a_mutation_is_bad_input(fresh_api: Api) -> None:
    r = fresh_api.post('mutation { endService(serviceId: "sv1", at: "2026-01-01T00:00:00") { __typename } }')
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


START = "mutation($i: StartServiceInput!, $k: String) { startService(input: $i, idempotencyKey: $k) { __typename ... on ServicePayload { service { id } consistencyToken replayed } ... on ValidationError { code field } } }"


def test_idempotency_key_over_http(fresh_api: Api) -> None:
    start = {"providerId": "bo", "studentId": "sue", "categoriesNeeded": ["attendance"], "at": "2025-09-01T00:00:00Z"}
    first = fresh_api.gql(START, {"i": start, "k": "retry-1"})["startService"]
    again = fresh_api.gql(START, {"i": start, "k": "retry-1"})["startService"]
    assert first["__typename"] == again["__typename"] == "ServicePayload"
    assert again["service"]["id"] == first["service"]["id"] and again["consistencyToken"] == first["consistencyToken"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    other = fresh_api.gql(START, {"i": {**start, "categoriesNeeded": ["grades"]}, "k": "retry-1"})["startService"]
    assert other == {"__typename": "ValidationError", "code": "idempotency_key_reused", "field": "idempotencyKey"}
    # A retry without a key cannot make a second open relationship either.
    dup = fresh_api.gql(START, {"i": start})["startService"]
    assert dup["__typename"] == "ValidationError" and dup["code"] == "service_already_open"


def test_replay_decision_for_admins(fresh_api: Api) -> None:
    check(fresh_api, "ana", "sam")
    fresh_api.gql('mutation { revokeConsent(consentId: "cns-1") { __typename } }')
    check(fresh_api, "ana", "sam")
    ids = fresh_api.gql('{ disclosures(studentId: "sam") { id } }')["disclosures"]
    assert len(ids) == 2
    for row in ids:
        out = fresh_api.gql("query($id: ID!) { replayDecision(id: $id) { identical differences consistencyToken } }", {"id": row["id"]})
        assert out["replayDecision"]["identical"] is True and out["replayDecision"]["differences"] == []
    denied = fresh_api.post('{ replayDecision(id: "x") { identical } }', role="provider").json()
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
