"""The family's GraphQL side over the demo, through a real server: isolation, no oracle, the flip at revocation.

    demo (api/demo/README.md): 778399 -GUARDIAN_OF(full)-> 604938 (17; Rosa serves her, consent demo-cns-604938)
                               777901 -GUARDIAN_OF(full)-> 604918 (18 six weeks ago: an eligible student)
                               779044 -GUARDIAN_OF(unverified)-> 604874
    tokens for the students themselves: 604918 (eligible) and 604938 (17, not eligible)

Every question a guardian asks about a student not theirs gets the same answer as one about
an id that does not exist; a cursor of one student's list is refused for another's and a
forged one is a BAD_INPUT, never data.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from api.config import ApiSettings
from api.tokens import TokenStore
from graph.timeutil import parse_datetime, to_iso, utcnow
from tests.api.conftest import Api, Server
from tests.demo.conftest import build_demo

ROLES = {
    "mother": ("guardian", "778399"),
    "parent_of_adult": ("guardian", "777901"),
    "unverified": ("guardian", "779044"),
    "adult_student": ("guardian", "604918"),  # a guardian token naming a student: the student for themself
    "minor_student": ("guardian", "604938"),
    "rosa": ("provider", "demo-prv-rosa"),
    "admin": ("admin", "family-tests"),
}
GIVE = """mutation($i: GiveConsentInput!, $k: String) { giveConsent(input: $i, idempotencyKey: $k) { __typename
  ... on ConsentReceipt { consent { id signedAt expiresAt signatureMethod signerIdentity textVersion } recipient { name } signerId }
  ... on ConsentRefused { standing message } ... on ValidationError { code field } } }"""
REVOKE = """mutation($c: ID!) { revokeMyConsent(consentId: $c) { __typename
  ... on ConsentPayload { consent { revokedAt } } ... on ValidationError { code message } } }"""
CHECK = "query($r: CheckInput!) { check(request: $r) { allowed reasons { code } } }"
READS = {
    "providersWithAccess": "query($s: ID!) { providersWithAccess(studentId: $s) { provider { id } } }",
    "myConsents": "query($s: ID!) { myConsents(studentId: $s) { givenByYou } }",
    "consentChoices": "query($s: ID!) { consentChoices(studentId: $s) { purposes } }",
    "familyDisclosures": "query($s: ID!) { familyDisclosures(studentId: $s) { total } }",
    "disclosures": "query($s: ID!) { disclosures(studentId: $s) { id } }",
    "upcomingChanges": "query($s: ID!) { upcomingChanges(studentId: $s) { at } }",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("family-api") / "demo.db"
    build_demo(db, utcnow())
    store = TokenStore(db)
    try:
        tokens = {name: store.create(role, subject)[1] for name, (role, subject) in ROLES.items()}
    finally:
        store.close()
    with Server(ApiSettings(db=db)) as server:
        client = Api(server.url, tokens, db)
        yield client
        client.client.close()


def consent_input(student: str, **over: Any) -> dict[str, Any]:
    end = (utcnow() + timedelta(days=90)).date().isoformat()
    return {"studentId": student, "recipientId": "hsds-org:5", "purpose": "mentoring", "categories": ["attendance"], "endDate": end} | over


def answer(api: Api, query: str, variables: dict[str, Any], role: str) -> tuple[int, Any]:
    r = api.post(query, variables, role)
    body = r.json()
    return r.status_code, (body.get("errors") and [(e["message"], e["extensions"]["code"]) for e in body["errors"]]) or body["data"]


def test_my_students_names_each_standing_in_words(demo: Api) -> None:
    q = "{ myStudents { id standing message } }"
    assert demo.gql(q, role="mother")["myStudents"][0] | {"message": ""} == {"id": "604938", "standing": "OK", "message": ""}
    assert [s["standing"] for s in demo.gql(q, role="parent_of_adult")["myStudents"]] == ["ELIGIBLE_STUDENT"]
    unverified = demo.gql(q, role="unverified")["myStudents"]
    assert [s["standing"] for s in unverified] == ["UNVERIFIED"] and "verified" in unverified[0]["message"]
    assert [s["standing"] for s in demo.gql(q, role="adult_student")["myStudents"]] == ["OK"]
    assert [s["standing"] for s in demo.gql(q, role="minor_student")["myStudents"]] == ["NOT_ELIGIBLE"]
    assert answer(demo, q, {}, "rosa")[1] == [("Your role may not ask this.", "FORBIDDEN")]


@pytest.mark.parametrize("field", sorted(READS))
def test_another_familys_student_reads_like_no_student(demo: Api, field: str) -> None:
    own = answer(demo, READS[field], {"s": "604938"}, "mother")
    assert own[0] == 200 and isinstance(own[1], dict)
    others = {sid: answer(demo, READS[field], {"s": sid}, "mother") for sid in ("604874", "604918", "000000", "no-such-student")}
    assert len({repr(a) for a in others.values()}) == 1, others
    assert others["604874"][1] == [("Your role may not ask this.", "FORBIDDEN")]


def test_refusals_of_another_familys_student_and_of_no_student_are_identical(demo: Api) -> None:
    other = demo.gql(GIVE, {"i": consent_input("604874")}, role="mother")["giveConsent"]
    missing = demo.gql(GIVE, {"i": consent_input("no-such-student")}, role="mother")["giveConsent"]
    refusal = {"__typename": "ConsentRefused", "standing": "NOT_YOURS", "message": "There is no student with this id among yours."}
    assert other == missing == refusal
    theirs = demo.gql(REVOKE, {"c": "demo-cns-604874"}, role="mother")["revokeMyConsent"]
    nothing = demo.gql(REVOKE, {"c": "demo-cns-nope"}, role="mother")["revokeMyConsent"]
    assert theirs["code"] == nothing["code"] == "not_found"
    assert theirs["message"].replace("demo-cns-604874", "X") == nothing["message"].replace("demo-cns-nope", "X")
    assert answer(demo, GIVE, {"i": consent_input("604938")}, "rosa")[1] == [("Your role may not ask this.", "FORBIDDEN")]


def test_forged_cursors_never_reach_another_student(demo: Api) -> None:
    q = "query($s: ID!, $a: String) { familyDisclosures(studentId: $s, first: 1, after: $a) { items { id } endCursor total } }"
    for _ in range(2):  # two requests by Rosa on record: two pages of one
        demo.gql(CHECK, {"r": {"providerId": "demo-prv-rosa", "studentId": "604938", "purpose": "academic_support"}}, role="rosa")
    own = demo.gql(q, {"s": "604938"}, role="mother")["familyDisclosures"]
    assert own["total"] >= 2 and own["endCursor"]
    # the same cursor for another family's student: that student is refused first, as one that does not exist
    cursor = own["endCursor"]
    assert answer(demo, q, {"s": "604874", "a": cursor}, "mother") == answer(demo, q, {"s": "nobody", "a": cursor}, "mother")
    forged = base64.urlsafe_b64encode(b"fd1\x00604874\x000").decode().rstrip("=")
    for cursor in (forged, "garbage!", own["endCursor"][:-2]):
        assert answer(demo, q, {"s": "604938", "a": cursor}, "mother")[1] == [("after: not a cursor of this list", "BAD_INPUT")]


def test_signer_authority_refusals_in_words(demo: Api) -> None:
    eligible = demo.gql(GIVE, {"i": consent_input("604918")}, role="parent_of_adult")["giveConsent"]
    assert eligible["standing"] == "ELIGIBLE_STUDENT" and "18" in eligible["message"]
    unverified = demo.gql(GIVE, {"i": consent_input("604874")}, role="unverified")["giveConsent"]
    assert unverified["standing"] == "UNVERIFIED" and "verified" in unverified["message"]
    minor = demo.gql(GIVE, {"i": consent_input("604938")}, role="minor_student")["giveConsent"]
    assert minor["standing"] == "NOT_ELIGIBLE"
    bad = demo.gql(GIVE, {"i": consent_input("604938", endDate="9999-12-31")}, role="mother")["giveConsent"]
    assert bad == {"__typename": "ValidationError", "code": "bad_end_date", "field": "endDate"}


def test_a_providers_check_flips_at_the_instant_of_the_revocation(demo: Api) -> None:
    """Rosa serves 604938 (academic support); the mother gives Rosa's organisation a mentoring consent, then revokes it."""
    given = demo.gql(GIVE, {"i": consent_input("604938", recipientId="19255901", purpose="mentoring"), "k": "flip"}, role="mother")
    receipt = given["giveConsent"]
    assert receipt["__typename"] == "ConsentReceipt" and receipt["signerId"] == "778399"
    assert receipt["consent"]["signatureMethod"] == "electronic_review_and_sign"
    assert receipt["consent"]["signerIdentity"].endswith("guardian:778399")
    assert receipt["consent"]["textVersion"] == "family-consent-2026.1/en"
    req = {"providerId": "demo-prv-rosa", "studentId": "604938", "purpose": "mentoring", "categories": ["attendance"]}
    assert demo.gql(CHECK, {"r": req}, role="rosa")["check"]["allowed"] is True
    revoked = demo.gql(REVOKE, {"c": receipt["consent"]["id"]}, role="mother")["revokeMyConsent"]
    at = parse_datetime(revoked["consent"]["revokedAt"])
    just_before = demo.gql(CHECK, {"r": req | {"at": to_iso(at - timedelta(microseconds=1))}}, role="rosa")["check"]
    at_revocation = demo.gql(CHECK, {"r": req | {"at": to_iso(at)}}, role="rosa")["check"]
    now = demo.gql(CHECK, {"r": req}, role="rosa")["check"]
    assert just_before["allowed"] is True
    assert at_revocation["allowed"] is False and now["allowed"] is False
    assert "CONSENT_REVOKED" in {r["code"] for r in at_revocation["reasons"]}
    assert "CONSENT_REVOKED" not in {r["code"] for r in just_before["reasons"]}
    again = demo.gql(REVOKE, {"c": receipt["consent"]["id"]}, role="mother")["revokeMyConsent"]
    assert again["code"] == "consent_already_revoked"


def test_a_familys_revocation_is_announced_through_the_feed(demo: Api) -> None:
    """The mother revokes the consent she gave in September: Rosa loses access, and the feed says so, from that instant."""
    revoked = demo.gql(REVOKE, {"c": "demo-cns-604938"}, role="mother")["revokeMyConsent"]
    at = parse_datetime(revoked["consent"]["revokedAt"])
    q = "query($a: String) { accessChanges(after: $a) { endCursor changes { kind providerId studentId effectiveAt cause } } }"
    seen: list[dict[str, Any]] = []
    cursor = None
    deadline = time.monotonic() + 60  # the feed derives changes after the commit, in the server's feed worker
    while time.monotonic() < deadline:
        page = demo.gql(q, {"a": cursor}, role="rosa")["accessChanges"]
        seen += page["changes"]
        cursor = page["endCursor"]
        if any(c["studentId"] == "604938" and c["kind"] == "REVOKED" for c in seen):
            break
        time.sleep(0.2)
    lost = [c for c in seen if c["studentId"] == "604938" and c["kind"] == "REVOKED"]
    assert len(lost) == 1 and lost[0]["providerId"] == "demo-prv-rosa" and lost[0]["cause"] == "write"
    assert parse_datetime(lost[0]["effectiveAt"]) == at
