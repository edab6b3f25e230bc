"""accessChanges, upcomingChanges and their roles over HTTP (a real uvicorn on loopback).

the tests/api world (ana of ptn-hope serves sam; gia is sam's verified guardian; gus an
unverified guardian of sue; bo serves nobody; cy of ptn-other once served sam), with
sam's consent expiring 10 days from now.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from api.config import ApiSettings
from tests.api.conftest import NOW, Api, Server, build_db, make_tokens
from tests.world import World

EXPIRES = (NOW + timedelta(days=10)).replace(microsecond=0)
CHANGES = (
    "query($a: String, $f: Int!) { accessChanges(after: $a, first: $f) "
    "{ changes { id cursor kind providerId studentId categoriesAfter reasons { code } } endCursor hasNextPage } }"
)
UPCOMING = (
    "query($p: ID, $s: ID, $w: Int!) { upcomingChanges(providerId: $p, studentId: $s, within: $w) "
    "{ at providerId studentId categoriesBefore categoriesAfter losesAccess reasons { code } } }"
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("feed-api") / "api.db"
    build_db(db, World.base().consent(expires_at=EXPIRES))
    tokens = make_tokens(db)
    server = Server(ApiSettings(db=db)).__enter__()
    client = Api(server.url, tokens, db)
    deadline = time.monotonic() + 30
    while not client.gql(CHANGES, {"a": None, "f": 10})["accessChanges"]["changes"]:  # the first snapshot
        assert time.monotonic() < deadline, "the feed's snapshot was not derived"
        time.sleep(0.05)
    try:
        yield client
    finally:
        client.client.close()
        server.__exit__()


def changes(api: Api, role: str, first: int = 100, after: str | None = None) -> dict[str, Any]:
    return api.gql(CHANGES, {"a": after, "f": first}, role=role)["accessChanges"]  # type: ignore[no-any-return]


def test_admin_app_provider_and_guardian_see_what_they_may(api: Api) -> None:
    everything = changes(api, "admin")["changes"]
    assert [(c["kind"], c["providerId"], c["studentId"], c["categoriesAfter"]) for c in everything] == [
        ("GRANTED", "ana", "sam", ["attendance", "grades"])
    ]
    assert changes(api, "app")["changes"] == everything  # ana works for ptn-hope
    assert changes(api, "provider")["changes"] == everything  # ana herself
    assert changes(api, "guardian")["changes"] == everything  # gia, sam's verified guardian
    for role in ("other_app", "bo", "unverified_guardian"):
        page = changes(api, role)
        assert page["changes"] == [] and page["endCursor"] == everything[-1]["cursor"], role


@pytest.mark.parametrize("role", ["staff", "analyst"])
def test_roles_without_the_feed_are_forbidden(api: Api, role: str) -> None:
    r = api.post(CHANGES, {"a": None, "f": 10}, role=role)
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_pages_never_repeat_or_skip(api: Api) -> None:
    everything = [c["id"] for c in changes(api, "admin")["changes"]]
    seen: list[str] = []
    after = None
    while True:
        page = changes(api, "admin", first=1, after=after)
        seen += [c["id"] for c in page["changes"]]
        after = page["endCursor"]
        if not page["hasNextPage"]:
            break
    assert seen == everything


def test_bad_cursor_and_page_size_are_input_errors(api: Api) -> None:
    for variables in ({"a": "not-a-cursor", "f": 10}, {"a": None, "f": 0}, {"a": None, "f": 5000}):
        r = api.post(CHANGES, variables)
        assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT", variables


def test_upcoming_changes_list_the_expiry_and_who_loses_access(api: Api) -> None:
    [u] = api.gql(UPCOMING, {"p": "ana", "s": None, "w": 30})["upcomingChanges"]
    assert u["providerId"] == "ana" and u["studentId"] == "sam" and u["losesAccess"] is True
    assert u["at"].startswith(EXPIRES.strftime("%Y-%m-%dT%H:%M:%S"))
    assert [r["code"] for r in u["reasons"]] == ["CONSENT_EXPIRED"]
    assert api.gql(UPCOMING, {"p": None, "s": "sam", "w": 30}, role="guardian")["upcomingChanges"] == [u]
    assert api.gql(UPCOMING, {"p": "ana", "s": None, "w": 30}, role="app")["upcomingChanges"] == [u]
    assert api.gql(UPCOMING, {"p": "ana", "s": None, "w": 5})["upcomingChanges"] == []


@pytest.mark.parametrize(
    ("role", "variables"),
    [
        ("bo", {"p": "ana", "s": None, "w": 30}),
        ("other_app", {"p": "ana", "s": None, "w": 30}),
        ("provider", {"p": None, "s": "sam", "w": 30}),
        ("unverified_guardian", {"p": None, "s": "sue", "w": 30}),
    ],
)
def test_upcoming_changes_follow_the_roles(api: Api, role: str, variables: dict[str, Any]) -> None:
    r = api.post(UPCOMING, variables, role=role)
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_upcoming_changes_need_exactly_one_anchor(api: Api) -> None:
    for variables in ({"p": "ana", "s": "sam", "w": 30}, {"p": None, "s": None, "w": 30}, {"p": "ana", "s": None, "w": 0}):
        assert api.post(UPCOMING, variables).json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
