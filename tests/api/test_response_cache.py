"""Whole answers to aggregate queries are kept per consistency token and audience (api/response_cache.py).

On tests.web.network_world (k = 10; adams 3 students and prg-mentor 4 are small cells),
served by a real uvicorn on loopback:

- a repeat is the first answer byte for byte, taken from the cache (a hit, not a computation);
- a write by another process moves the token, so the next answer is computed and differs;
- callers of different audiences never share an entry (staff vs analyst; apps of partner A
  vs partner B are refused and nothing of theirs is kept);
- queries that touch anything but aggregates, mutations, and answers with errors are not kept;
- an aggregate budget is charged on a hit;
- property: over random additions to the world, cached answers never publish a count in 1..k-1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.config import ApiSettings
from api.http import AppState
from api.response_cache import Audience, ResponseCache, cacheable_query
from api.roles import Principal, Role
from api.tokens import TokenStore
from graph.changes import PutEdge, PutNode
from graph.model import Attends, Serves, Student
from graph.stores.memory import MemoryStore
from tests.api.conftest import Server
from tests.api.test_analytics_api import COVERAGE, NETWORK
from tests.api.test_analytics_cache import WRITER
from tests.web.network_world import NOON, build_network_db
from tests.world import T0

AT = NOON.isoformat()
OVERVIEW = "query($at: DateTime) { networkOverview(at: $at) { at consistencyToken partners { id students { value suppressed } } } }"
EXTRA_ROLES: dict[str, dict[str, Any]] = {
    "app_hope": {"role": "app", "subject": "hope-app", "partner_ids": ("ptn-hope",)},
    "app_bright": {"role": "app", "subject": "bright-app", "partner_ids": ("ptn-bright",)},
    "staff2": {"role": "staff", "subject": "s2"},
}


class Caller:
    """POST /graphql with a role's token; the raw response (bytes are compared)."""

    def __init__(self, server: Server, tokens: dict[str, str]) -> None:
        self.url, self.tokens = server.url, tokens
        app = server.server.config.app
        self.state: AppState = app.state.ntk  # type: ignore[union-attr]
        self.http = httpx.Client(timeout=30)

    @property
    def cache(self) -> ResponseCache:
        assert self.state.responses is not None
        return self.state.responses

    def post(self, query: str, variables: dict[str, Any], role: str = "staff") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return self.http.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, headers=headers)


def _serve(db: Path, **overrides: Any) -> Iterator[Caller]:
    tokens = build_network_db(db)
    store = TokenStore(db)
    try:
        tokens |= {name: store.create(**spec)[1] for name, spec in EXTRA_ROLES.items()}
    finally:
        store.close()
    with Server(ApiSettings(db=db, **overrides)) as server:
        caller = Caller(server, tokens)
        try:
            yield caller
        finally:
            caller.http.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Caller, Path]]:
    """One server for the module (tests compare with what they saw, never with fixed totals)."""
    db = tmp_path_factory.mktemp("responses") / "r.db"
    for caller in _serve(db, aggregate_limits={}):
        yield caller, db


@pytest.fixture
def caller(shared: tuple[Caller, Path]) -> Caller:
    return shared[0]


# ---------------------------------------------------------------- what is cacheable


@pytest.mark.parametrize(
    ("query", "variables", "asks_now"),
    [
        pytest.param("{ partnerNetwork { at } }", {}, True, id="network-now"),
        pytest.param('{ partnerNetwork(at: "2026-01-01T00:00:00Z") { at } }', {}, False, id="network-literal-at"),
        pytest.param("query($at: DateTime) { coverage(by: SCHOOL, at: $at) { at } }", {"at": AT}, False, id="variable-at"),
        pytest.param("query($at: DateTime) { coverage(by: SCHOOL, at: $at) { at } }", {}, True, id="variable-absent"),
        pytest.param(
            '{ __typename a: networkOverview(at: "2026-01-01T00:00:00Z") { at } b: coverage(by: SCHOOL) { at } }',
            {},
            True,
            id="one-field-about-now",
        ),
    ],
)
def test_aggregate_only_queries_are_cacheable(query: str, variables: dict[str, Any], asks_now: bool) -> None:
    q = cacheable_query(query, None, variables, 4000)
    assert q is not None and q.asks_now is asks_now


@pytest.mark.parametrize(
    "query",
    [
        pytest.param('{ partnerNetwork { at } check(input: {providerId: "ana", studentId: "sam"}) { outcome } }', id="with-check"),
        pytest.param('{ disclosures(studentId: "sam") { id } }', id="disclosures"),
        pytest.param("{ ...F } fragment F on Query { partnerNetwork { at } }", id="fragment-at-root"),
        pytest.param('{ ... on Query { partnerNetwork { at } } partner(id: "ptn-hope") { id } }', id="inline-fragment"),
        pytest.param("mutation { __typename }", id="mutation"),
        pytest.param("subscription { accessChanges { id } }", id="subscription"),
        pytest.param("{ __typename }", id="no-aggregate"),
        pytest.param("{ partnerNetwork { at ", id="does-not-parse"),
    ],
)
def test_other_documents_are_not(query: str) -> None:
    assert cacheable_query(query, None, {}, 4000) is None


def test_the_operation_chosen_decides() -> None:
    doc = "query A { partnerNetwork { at } } query B { accessibleStudents(providerId: \"ana\") { edges { cursor } } }"
    assert cacheable_query(doc, "A", {}, 4000) is not None
    assert cacheable_query(doc, "B", {}, 4000) is None and cacheable_query(doc, None, {}, 4000) is None


def test_keys_separate_audiences_and_questions() -> None:
    cache = ResponseCache(1000)
    q = cacheable_query("{ partnerNetwork { at } }", None, {}, 4000)
    assert q is not None
    now = datetime(2026, 11, 16, 12, 0, 30, tzinfo=UTC)

    def key(principal: Principal, token: str = "7", at: datetime = now, variables: dict[str, Any] | None = None) -> object:
        assert q is not None
        return cache.key(q, token=token, policy_version="p", pinned=at, principal=principal, operation_name=None, variables=variables)

    app_a = Principal("t1", Role.APP, "a", ("ptn-a",))
    assert key(app_a) != key(Principal("t2", Role.APP, "a", ("ptn-b",)))
    assert key(Principal("t3", Role.STAFF, "s")) != key(Principal("t4", Role.ANALYST, "s"))
    # Same audience (another staff token), same question: one entry.
    assert key(Principal("t3", Role.STAFF, "s")) == key(Principal("t5", Role.STAFF, "other"))
    assert key(app_a) == key(Principal("t6", Role.APP, "b", ("ptn-a", "ptn-a")))
    assert Audience.of(Principal("t7", Role.APP, "a", ("y", "x"))) == Audience.of(Principal("t8", Role.APP, "a", ("x", "y")))
    assert key(app_a, token="8") != key(app_a)
    assert key(app_a, at=now.replace(minute=1)) != key(app_a)  # a question about now: per pinned instant
    assert key(app_a, variables={"b": 1, "a": 2}) == key(app_a, variables={"a": 2, "b": 1})


def test_the_cache_stays_within_its_bytes() -> None:
    cache = ResponseCache(10)
    q = cacheable_query("{ partnerNetwork { at } }", None, {}, 4000)
    assert q is not None
    keys = [
        cache.key(q, token=str(i), policy_version="p", pinned=NOON, principal=Principal("t", Role.STAFF), operation_name=None, variables={})
        for i in range(3)
    ]
    cache.put(keys[0], b"aaaa")
    cache.put(keys[1], b"bbbb")
    assert cache.get(keys[0]) == b"aaaa"  # now the most recently used
    cache.put(keys[2], b"cccc")
    assert cache.size == (2, 8) and cache.get(keys[1]) is None and cache.get(keys[0]) == b"aaaa"
    cache.put(keys[1], b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get(keys[1]) is None


# ---------------------------------------------------------------- over HTTP


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(COVERAGE, {"by": "SCHOOL", "at": AT, "days": 30}, id="coverage"),
        pytest.param(NETWORK, {"at": AT}, id="partnerNetwork"),
        pytest.param(NETWORK, {"at": None, "community": "westside"}, id="partnerNetwork-now-westside"),
        pytest.param(OVERVIEW, {"at": AT}, id="networkOverview"),
    ],
)
def test_a_repeat_is_the_first_answer_byte_for_byte(caller: Caller, query: str, variables: dict[str, Any]) -> None:
    for _ in range(2):  # a question about now is kept per clock minute: once more if a minute turned in between
        first = caller.post(query, variables)
        assert first.status_code == 200 and "errors" not in first.json()
        hits = caller.cache.hits
        again = caller.post(query, variables)
        if caller.cache.hits == hits + 1:
            break
    assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
    assert caller.cache.hits == hits + 1
    if variables.get("at") is None:
        return  # about now: a third request might fall in the next minute
    # The specification's media type: same bytes, its own content type.
    typed = caller.http.post(
        f"{caller.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {caller.tokens['staff']}", "Accept": "application/graphql-response+json"},
    )
    assert typed.content == first.content and typed.headers["content-type"].startswith("application/graphql-response+json")


def _students(response: httpx.Response, node: str) -> object:
    nodes = response.json()["data"]["partnerNetwork"]["nodes"]
    return next(n["students"]["value"] for n in nodes if n["id"] == node)


def test_a_write_by_another_process_changes_the_next_answer(shared: tuple[Caller, Path]) -> None:
    caller, db = shared
    first, again = caller.post(NETWORK, {"at": AT}), caller.post(NETWORK, {"at": AT})
    before = _students(first, "ptn-hope")
    assert again.content == first.content and isinstance(before, int) and before >= 20
    written = subprocess.run(
        [sys.executable, "-c", WRITER, str(db)], check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2]
    )
    assert written.stdout.strip().isdigit()
    after = caller.post(NETWORK, {"at": AT})
    assert after.content != first.content and _students(after, "ptn-hope") == before + 5
    assert caller.post(NETWORK, {"at": AT}).content == after.content


def test_different_audiences_never_share_an_entry(caller: Caller) -> None:
    variables = {"by": "PROGRAM", "at": AT, "days": 30}
    staff = caller.post(COVERAGE, variables, "staff")
    assert staff.status_code == 200 and "errors" not in staff.json()
    entries, _ = caller.cache.size
    hits, misses = caller.cache.hits, caller.cache.misses
    analyst = caller.post(COVERAGE, variables, "analyst")
    assert caller.cache.misses == misses + 1 and caller.cache.hits == hits and caller.cache.size[0] == entries + 1
    assert analyst.content == staff.content  # the same published figures, computed for its own entry
    # Another staff token is the same audience: a hit.
    assert caller.post(COVERAGE, variables, "staff2").content == staff.content and caller.cache.hits == hits + 1
    # Apps of two partners may not see aggregates: each is refused, and nothing of theirs is kept.
    for app in ("app_hope", "app_bright"):
        refused = caller.post(COVERAGE, variables, app).json()
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert caller.post(COVERAGE, variables, app).json() == refused
    assert caller.cache.size[0] == entries + 1 and caller.cache.hits == hits + 1


def test_answers_with_errors_or_other_fields_are_not_kept(caller: Caller) -> None:
    mixed = f'{{ partnerNetwork(at: "{AT}") {{ at }} node: partner(id: "ptn-hope") {{ id }} }}'
    bad_time = 'query { partnerNetwork(at: "2026-01-01T00:00:00") { at } }'  # naive: refused
    kept, hits = caller.cache.size, caller.cache.hits
    for query in (mixed, bad_time):
        for _ in range(2):
            caller.post(query, {}, "admin")
    assert caller.cache.size == kept and caller.cache.hits == hits


def test_an_aggregate_budget_is_charged_on_a_hit(tmp_path: Path) -> None:
    for caller in _serve(tmp_path / "budget.db", aggregate_limits={"staff": "3/minute"}):
        statuses = [caller.post(NETWORK, {"at": AT}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429] and caller.cache.hits == 2


# ---------------------------------------------------------------- property


def _published_counts(value: object, k: int) -> Iterator[int]:
    """Every student count in an answer ("count" and "students" objects; percents are not counts)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name in ("count", "students") and isinstance(item, dict) and isinstance(item.get("value"), int):
                yield item["value"]
            else:
                yield from _published_counts(item, k)
    elif isinstance(value, list):
        for item in value:
            yield from _published_counts(item, k)


SCHOOLS = ("lincoln", "roosevelt", "adams", "jefferson")
SERVICES = (("dee", "prg-tutor"), ("ben", "prg-mentor"), ("cat", "prg-meals"))
QUESTIONS = [
    (COVERAGE, {"by": by, "at": AT, "days": 30}) for by in ("COMMUNITY", "SCHOOL", "PROGRAM", "PARTNER")
] + [(NETWORK, {"at": AT}), (NETWORK, {"at": AT, "community": "westside"})]
_ids = count()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    added=st.lists(st.tuples(st.sampled_from(SCHOOLS), st.sampled_from(SERVICES), st.integers(0, 9)), min_size=1, max_size=3),
    question=st.sampled_from(QUESTIONS),
)
def test_cached_answers_never_publish_a_small_count(
    shared: tuple[Caller, Path], added: list[tuple[str, tuple[str, str], int]], question: tuple[str, dict[str, Any]]
) -> None:
    caller, db = shared
    store = MemoryStore(db)  # another writer of the journal: the server syncs to its token
    try:
        changes: list[Any] = []
        for school, (provider, program), n in added:
            for _ in range(n):
                sid = f"x{next(_ids)}"
                changes += [PutNode(Student(id=sid)), PutEdge(Attends(id=f"at-{sid}", from_id=sid, to_id=school, valid_from=T0))]
                changes.append(
                    PutEdge(
                        Serves(
                            id=f"sv-{sid}",
                            from_id=provider,
                            to_id=sid,
                            valid_from=T0,
                            program=program,
                            categories_needed=frozenset({"attendance"}),
                        )
                    )
                )
        if changes:
            store.apply(changes)
    finally:
        store.close()
    query, variables = question
    first = caller.post(query, variables, "admin")
    hits = caller.cache.hits
    cached = caller.post(query, variables, "admin")
    assert cached.content == first.content and caller.cache.hits == hits + 1
    body = json.loads(cached.content)
    assert "errors" not in body
    assert all(not 1 <= c < 10 for c in _published_counts(body["data"], 10))
