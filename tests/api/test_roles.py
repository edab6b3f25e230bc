"""Every role against every operation, over real HTTP (api/roles.py has the table in prose).

ok: the operation answers (data, no errors). FORBIDDEN: HTTP 403, data null, one error
coded FORBIDDEN whose message names nothing of the request. Mutations are given inputs
that an admin gets a ValidationError for, so the table never changes the graph.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ROLES, Api

CHECK = {"providerId": "ana", "studentId": "sam", "purpose": "academic_support"}

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "check": ("query($r: CheckInput!) { check(request: $r) { allowed } }", {"r": CHECK}),
    "checkMany": ("query($r: [CheckInput!]!) { checkMany(requests: $r) { allowed } }", {"r": [CHECK, CHECK]}),
    "explain": ("query($r: CheckInput!) { explain(request: $r) { summary } }", {"r": CHECK}),
    "accessibleStudents": ('{ accessibleStudents(providerId: "ana") { edges { cursor } } }', {}),
    "providersWithAccess": ('{ providersWithAccess(studentId: "sam") { provider { id } } }', {}),
    "disclosures": ('{ disclosures(studentId: "sam") { id } }', {}),
    "student": ('{ student(id: "sam") { id } }', {}),
    "provider": ('{ provider(id: "ana") { id } }', {}),
    "partner": ('{ partner(id: "ptn-hope") { name } }', {}),
    "community": ('{ community(id: "eastside") { name } }', {}),
    "consent": ('{ consent(id: "cns-1") { id } }', {}),
    "recordConsent": (
        'mutation { recordConsent(input: {studentId: "sam", signerId: "gia", recipientIds: [], purposes: ["x"], categories: ["grades"]})'
        " { __typename } }",
        {},
    ),
    "revokeConsent": ('mutation { revokeConsent(consentId: "nope") { __typename } }', {}),
    "startService": (
        'mutation { startService(input: {providerId: "nope", studentId: "sam", categoriesNeeded: []}) { __typename } }',
        {},
    ),
    "changeServiceStatus": ('mutation { changeServiceStatus(serviceId: "nope", status: PAUSED) { __typename } }', {}),
    "endService": ('mutation { endService(serviceId: "nope") { __typename } }', {}),
    "recordTraining": ('mutation { recordTraining(providerId: "nope", courseId: "nope") { __typename } }', {}),
    "signAgreement": ('mutation { signAgreement(signerId: "nope", agreementId: "nope") { __typename } }', {}),
    "addProvider": ('mutation { addProvider(id: "ana", name: "A", partnerId: "ptn-hope", communityIds: []) { __typename } }', {}),
    "assignToTeam": ('mutation { assignToTeam(memberId: "bo", teamId: "ana") { __typename } }', {}),
    "transferStudent": ('mutation { transferStudent(studentId: "nope", schoolId: "lincoln") { __typename } }', {}),
    "verifyGuardian": ('mutation { verifyGuardian(guardianId: "gia", studentId: "sam") { __typename } }', {}),
}

ASK_ABOUT_ANA = {"admin", "app", "provider"}
SAM_REPORT = {"admin", "guardian"}
EVERYONE = set(ROLES)
ALLOWED: dict[str, set[str]] = {
    "check": ASK_ABOUT_ANA,
    "checkMany": ASK_ABOUT_ANA,
    "explain": ASK_ABOUT_ANA,
    "accessibleStudents": ASK_ABOUT_ANA,
    "providersWithAccess": SAM_REPORT,
    "disclosures": SAM_REPORT,
    "student": SAM_REPORT,
    "provider": ASK_ABOUT_ANA,
    "partner": EVERYONE,
    "community": EVERYONE,
    "consent": {"admin"},
    **{m: {"admin"} for m in OPERATIONS if m[0].islower() and OPERATIONS[m][0].startswith("mutation")},
}

CASES = [
    pytest.param(op, role, role in ALLOWED[op], id=f"{op}-{role}-{'ok' if role in ALLOWED[op] else 'forbidden'}")
    for op in OPERATIONS
    for role in ROLES
]


@pytest.mark.parametrize(("op", "role", "allowed"), CASES)
def test_role_table(api: Api, op: str, role: str, allowed: bool) -> None:
    query, variables = OPERATIONS[op]
    r = api.post(query, variables, role)
    body = r.json()
    if allowed:
        assert r.status_code == 200, body
        assert "errors" not in body and body["data"] is not None
        if query.startswith("mutation"):
            assert next(iter(body["data"].values()))["__typename"] == "ValidationError"
    else:
        assert r.status_code == 200, body  # executed: GraphQL over HTTP answers 200, the code says why
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert "sam" not in body["errors"][0]["message"] and "ana" not in body["errors"][0]["message"]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer ntk_" + "x" * 43, "Basic abc", "Bearer"])
def test_missing_or_bad_token_is_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = api.client.post(f"{api.url}/graphql", json={"query": '{ partner(id: "ptn-hope") { name } }'}, headers=headers)
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_ids_are_errors_only_for_admins(api: Api) -> None:
    q = "query($r: CheckInput!) { check(request: $r) { outcome } }"
    r = api.post(q, {"r": {"providerId": "ana", "studentId": "nobody"}}, "admin")
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for role in ("provider", "app"):
        r = api.post(q, {"r": {"providerId": "ana", "studentId": "nobody"}}, role)
        assert r.status_code == 200 and r.json()["data"]["check"]["outcome"] == "DENY"
    r = api.post('{ providersWithAccess(studentId: "nobody") { provider { id } } }', role="guardian")
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_app_for_other_partner_cannot_ask_about_ana(api: Api) -> None:
    r = api.post("query($r: CheckInput!) { check(request: $r) { allowed } }", {"r": CHECK}, "other_app")
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_guardian_sees_transparency_report_of_own_student(api: Api) -> None:
    data = api.gql(
        '{ providersWithAccess(studentId: "sam") { provider { id name } partners { id } releasedCategories '
        "consent { id } serviceId serviceStatus program { id name } until } }",
        role="guardian",
    )
    rows = data["providersWithAccess"]
    assert [r["provider"]["id"] for r in rows] == ["ana"]
    assert rows[0]["consent"]["id"] == "cns-1" and rows[0]["serviceId"] == "sv1"
    assert rows[0]["program"] == {"id": "prg-tutor", "name": "Tutoring"} and rows[0]["partners"] == [{"id": "ptn-hope"}]
    assert rows[0]["serviceStatus"] == "ACTIVE" and rows[0]["until"] is None


def test_revoked_token_stops_working(fresh_api: Api) -> None:
    from api.tokens import TokenStore

    store = TokenStore(fresh_api.db)
    info, secret = store.create("staff", "tmp")
    headers = {"Authorization": f"Bearer {secret}"}
    q = {"query": '{ partner(id: "ptn-hope") { name } }'}
    assert fresh_api.client.post(f"{fresh_api.url}/graphql", json=q, headers=headers).status_code == 200
    assert store.revoke(info.id)
    assert fresh_api.client.post(f"{fresh_api.url}/graphql", json=q, headers=headers).status_code == 401
    store.close()
