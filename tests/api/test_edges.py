"""Case tests/cases/api-edge-inputs.md: no input is a 500; malformed ids are BAD_INPUT for every role
and never recorded; GraphQL over HTTP media types and statuses; readiness while the record is full."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import structlog.testing

from tests.api.conftest import Api

GQL = "application/graphql-response+json"
ROLES = ["admin", "app", "provider", "guardian", "staff"]


def records(api: Api) -> int:
    with sqlite3.connect(api.db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        pytest.param("{ ...Missing }", "GRAPHQL_VALIDATION_FAILED", id="undefined-fragment"),
        pytest.param("{ }", "GRAPHQL_VALIDATION_FAILED", id="empty-selection-set"),
        pytest.param(
            '{ check(request: {providerId: "ana", studentId: "sam", at: "0001-01-01T00:00:00Z"}) { allowed } }', "BAD_INPUT", id="year-1"
        ),
        pytest.param(
            '{ check(request: {providerId: "ana", studentId: "sam", at: "9999-12-31T23:59:59-14:00"}) { allowed } }',
            "BAD_INPUT",
            id="year-9999",
        ),
        pytest.param(
            '{ check(request: {providerId: "ana", studentId: "sam", at: "0001-01-01T00:00:00+05:00"}) { allowed } }',
            "BAD_INPUT",
            id="year-1-offset",
        ),
    ],
)
def test_request_errors_are_400_never_500(api: Api, query: str, code: str) -> None:
    before = records(api)
    r = api.post(query, role="provider")
    body = r.json()
    assert r.status_code == 400, body
    assert "data" not in body and [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert r.headers["content-type"].startswith(GQL)
    assert records(api) == before


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"])
def test_extreme_time_as_a_variable(api: Api, at: str) -> None:
    r = api.post(
        "query($r: CheckInput!) { check(request: $r) { allowed } }", {"r": {"providerId": "ana", "studentId": "sam", "at": at}}, "provider"
    )
    body = r.json()
    assert r.status_code == 400 and body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "time out of range" in body["errors"][0]["message"]


BAD_IDS = ["", "x" * 100_000, "sam\x00", "sa\u202em", " sam", "sam "]


@pytest.mark.parametrize("role", ROLES)
def test_ids_breaking_the_rule_are_bad_input_for_every_role_and_never_recorded(api: Api, role: str) -> None:
    before = records(api)
    for bad in BAD_IDS:
        r = api.post("query($r: CheckInput!) { check(request: $r) { allowed } }", {"r": {"providerId": "ana", "studentId": bad}}, role)
        body = r.json()
        assert r.status_code == 400 and "data" not in body, body  # a request error: nothing ran
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_INPUT"], (role, bad[:20], body)
        assert body["errors"][0]["extensions"]["field"] == "request.studentId"
        assert len(r.text) < 2000  # the id is never echoed back
    assert records(api) == before


def test_batch_errors_name_the_item(api: Api) -> None:
    reqs = [{"providerId": "ana", "studentId": "sam"}] * 3 + [{"providerId": "ana", "studentId": "sam\x00"}]
    r = api.post("query($r: [CheckInput!]!) { checkMany(requests: $r) { allowed } }", {"r": reqs}, "admin")
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "requests[3].studentId"}
    assert error["message"].startswith("requests[3].studentId: ")


@pytest.mark.parametrize("alias", ["", "many: "])  # an alias sends the document through the schema, not the lean path
def test_categories_asking_about_nothing_or_unknown_are_bad_input_naming_the_item(api: Api, alias: str) -> None:
    before = records(api)
    query = f"query($r: [CheckInput!]!) {{ {alias}checkMany(requests: $r) {{ allowed reasons {{ code }} }} }}"
    for bad, message in (([], "name at least one data category"), (["grades", "shoe_size"], "unknown data categories ['shoe_size']")):
        reqs = [
            {"providerId": "ana", "studentId": "sam", "categories": ["grades"]},
            {"providerId": "ana", "studentId": "sam", "categories": bad},
        ]
        r = api.post(query, {"r": reqs}, "admin")
        # Refused while executing (ids are refused earlier, by their scalar: a 400 request error).
        assert r.status_code == 200 and r.json()["data"] is None, r.text
        error = r.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_INPUT", "field": "requests[1].categories"}
        assert error["message"].startswith("requests[1].categories: ") and message in error["message"]
    r = api.post('{ check(request: {providerId: "ana", studentId: "sam", categories: []}) { allowed } }', role="provider")
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "request.categories"}
    assert records(api) == before  # refused before anything was decided or recorded


@pytest.mark.parametrize("role", ROLES)
def test_id_literals_are_checked_before_anything_runs(api: Api, role: str) -> None:
    before = records(api)
    r = api.post(
        '{ checkMany(requests: [{providerId: "ana", studentId: "sam"}, {providerId: "ana", studentId: " sam"}]) { allowed } }', role=role
    )
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "requests[1].studentId"}
    r = api.post('{ partner(id: "") { name } }', role=role)
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "id"}
    assert records(api) == before


@pytest.mark.parametrize("extensions", [5, "x", True, [1]])
def test_extensions_must_be_a_map(api: Api, extensions: Any) -> None:
    r = api.client.post(
        f"{api.url}/graphql",
        json={"query": "{ __typename }", "extensions": extensions},
        headers={"Authorization": f"Bearer {api.tokens['admin']}"},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_media_types_and_statuses(api: Api) -> None:
    auth = {"Authorization": f"Bearer {api.tokens['provider']}"}
    url = f"{api.url}/graphql"
    invalid = {"query": "{ nope }"}
    modern = api.client.post(url, json=invalid, headers={**auth, "Accept": GQL})
    assert (modern.status_code, modern.headers["content-type"]) == (400, f"{GQL}; charset=utf-8")
    for accept in ("application/json", "*/*", ""):
        legacy = api.client.post(url, json=invalid, headers={**auth, "Accept": accept})
        assert (legacy.status_code, legacy.headers["content-type"]) == (200, "application/json; charset=utf-8"), accept
        assert legacy.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    refused = api.client.post(url, json={"query": '{ student(id: "sam") { id } }'}, headers={**auth, "Accept": GQL})
    assert refused.status_code == 200 and refused.json()["data"] is None  # executed: the code says why
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert api.client.post(url, json=invalid, headers={**auth, "Accept": "text/html"}).status_code == 406


def test_readyz_turns_503_with_the_cause_while_the_record_is_full(fresh_api: Api) -> None:
    from graph.audit import SqliteAuditLog  # the server runs in this process: reach its own connection

    url = f"{fresh_api.url}/readyz"
    assert fresh_api.client.get(url).status_code == 200
    audits = [o for o in __import__("gc").get_objects() if isinstance(o, SqliteAuditLog) and o.path == fresh_api.db]
    assert audits
    conn = audits[-1].conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: SQLite's "database or disk is full"
    conn.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
    try:
        for size in (4096, 1024, 256, 64, 16):  # use up the free pages and the room left in them, as a full disk would
            while True:
                try:
                    conn.execute(f"INSERT INTO filler VALUES (zeroblob({size}))")
                except sqlite3.OperationalError:
                    break
        with structlog.testing.capture_logs() as logs:
            r = fresh_api.client.get(url)
        assert r.status_code == 503
        assert any(e["event"] == "not_ready" and "full" in e["cause"] for e in logs), logs
        assert r.json()["reason"] == "audit_unavailable" and "full" in r.json()["cause"]
        # The room left inside pages still takes a few small records; then every decision is a deny.
        q = '{ check(request: {providerId: "ana", studentId: "sam"}) { outcome reasons { code } } }'
        answers = [fresh_api.post(q, role="admin").json()["data"]["check"] for _ in range(40)]
        assert answers[-1] == {"outcome": "DENY", "reasons": [{"code": "AUDIT_UNAVAILABLE"}]}
        assert fresh_api.client.get(url).status_code == 503
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")
        conn.execute("DROP TABLE filler")
    assert fresh_api.client.get(url).status_code == 200


def test_a_get_with_malformed_variables_says_which_parameter(api: Api) -> None:
    r = api.client.get(
        f"{api.url}/graphql",
        params={"query": "query($r: CheckInput!) { check(request: $r) { allowed } }", "variables": "{bad"},
        headers={"Authorization": f"Bearer {api.tokens['admin']}"},
    )
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST" and error["message"] == "the 'variables' parameter is not valid JSON"
