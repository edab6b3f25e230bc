# ruff: noqa: E501  (GraphQL documents read best on one line)
"""Schema-driven fuzz over real HTTP: hypothesis-graphql documents (valid and with one schema
violation), extreme scalars, mutated texts, for every role. No answer is a 5xx, none carries a
traceback, every error has a code. The slowest answer is printed (measured, not asserted:
the suite asserts no timings; BENCHMARKS.md has the 100,000-request run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from api.schema import schema as sdl_schema
from tests.api.conftest import Api, Server, start_api

ROLES = ["admin", "app", "provider", "bo", "guardian", "staff", "analyst"]
SDL = sdl_schema.as_str()

# Values that have hurt before or sit at an edge: extreme instants with offsets, ids that break
# the id rule, huge and odd strings. hypothesis-graphql takes value nodes for custom scalars.
EXTREME_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999Z",
    "2026-01-15T12:00:00",
    "2026-02-30T00:00:00Z",
    "",
    "now",
]
ODD_STRINGS = ["", " ", "\x00", "a\u202eb", "x" * 10_000, "sam ", "ana", "sam", "ptn-hope", "%%%%", "🏃"]


def datetime_nodes() -> st.SearchStrategy[graphql.ValueNode]:
    text = st.one_of(
        st.sampled_from(EXTREME_TIMES),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.text(max_size=40),
    )
    return st.builds(graphql.StringValueNode, value=text)


def date_nodes() -> st.SearchStrategy[graphql.ValueNode]:
    text = st.one_of(st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "", "today"]), st.dates().map(str), st.text(max_size=12))
    return st.builds(graphql.StringValueNode, value=text)


def documents(mode: Mode) -> st.SearchStrategy[Any]:
    return from_schema(SDL, custom_scalars={"DateTime": datetime_nodes(), "Date": date_nodes()}, mode=mode)


def mutated(doc: str, cut: int, insert: str) -> str:
    at = cut % (len(doc) + 1)
    return doc[:at] + insert + doc[at:]


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server: Server
    server, client = start_api(tmp_path_factory.mktemp("fuzz"))
    try:
        yield client
    finally:
        client.client.close()
        server.__exit__()


STATS: Counter[int] = Counter()
SLOWEST: list[float] = [0.0]


def send(api: Api, query: str, role: str, variables: Any = None) -> None:
    headers = {"Authorization": f"Bearer {api.tokens[role]}", "Accept": "application/graphql-response+json"}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    t = time.perf_counter()
    r = api.client.post(f"{api.url}/graphql", json=body, headers=headers)
    SLOWEST[0] = max(SLOWEST[0], time.perf_counter() - t)
    STATS[r.status_code] += 1
    assert r.status_code < 500, (query[:500], role, r.text[:500])
    assert "Traceback" not in r.text
    payload = r.json()
    for error in payload.get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL", (query[:500], error)


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@FUZZ
@given(doc=documents(Mode.POSITIVE), role=st.sampled_from(ROLES))
def test_valid_documents_never_5xx(fuzz_api: Api, doc: str, role: str) -> None:
    send(fuzz_api, doc, role)


@FUZZ
@given(doc=documents(Mode.NEGATIVE), role=st.sampled_from(ROLES))
def test_documents_with_a_schema_violation_never_5xx(fuzz_api: Api, doc: str, role: str) -> None:
    send(fuzz_api, doc, role)


@FUZZ
@given(
    doc=documents(Mode.POSITIVE),
    cut=st.integers(min_value=0),
    insert=st.one_of(st.sampled_from(["{", "}", "...", "...Missing", "$", "@skip", '"', "\\u0000", "{ }", "fragment F on Query { __typename }"]), st.text(max_size=8)),
    role=st.sampled_from(ROLES),
)
def test_mutated_texts_never_5xx(fuzz_api: Api, doc: str, cut: int, insert: str, role: str) -> None:
    send(fuzz_api, mutated(doc, cut, insert), role)


@FUZZ
@given(
    provider=st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=30)),
    student=st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=30)),
    at=st.one_of(st.none(), st.sampled_from(EXTREME_TIMES), st.text(max_size=30), st.integers()),
    purpose=st.one_of(st.none(), st.sampled_from(["academic_support", "", "A", "\x00"]), st.text(max_size=10)),
    after=st.one_of(st.none(), st.sampled_from(ODD_STRINGS), st.text(max_size=30)),
    first=st.integers(min_value=-(2**40), max_value=2**40),
    role=st.sampled_from(ROLES),
)
def test_scalar_variables_never_5xx(
    fuzz_api: Api, provider: str, student: str, at: Any, purpose: str | None, after: str | None, first: int, role: str
) -> None:
    request = {"providerId": provider, "studentId": student, "at": at, "purpose": purpose}
    send(fuzz_api, "query($r: CheckInput!) { check(request: $r) { outcome reasons { code } } }", role, {"r": request})
    send(fuzz_api, "query($r: [CheckInput!]!) { checkMany(requests: $r) { outcome } }", role, {"r": [request, request]})
    send(
        fuzz_api,
        "query($p: ID!, $at: DateTime, $a: String, $f: Int!) { accessibleStudents(providerId: $p, at: $at, after: $a, first: $f) { edges { cursor } } }",
        role,
        {"p": provider, "at": at, "a": after, "f": first},
    )


def test_zz_report(fuzz_api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    """Prints what the fuzz tests above saw (runs last in this module)."""
    with capsys.disabled():
        print(f"\nfuzz over HTTP: responses by status {dict(sorted(STATS.items()))}; slowest {SLOWEST[0] * 1000:.0f} ms")
    assert sum(STATS.values()) > 0 and all(status < 500 for status in STATS)


