"""coverage and partnerNetwork over real HTTP, for every role (tests.web.network_world).

Staff, analysts and admins get suppressed aggregates; every other role gets FORBIDDEN
(HTTP 403, data null). No small count ever appears: a suppressed cell has value null.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.config import ApiSettings
from graph.analytics import count_coverage
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from tests.api.conftest import Server
from tests.web.network_world import ALL_NODES, NOON, WESTSIDE_NODES, build_network_db, network_world

AT = NOON.isoformat()

COVERAGE = """
query($by: CoverageGroup!, $at: DateTime, $days: Int) {
  coverage(by: $by, at: $at, expiringWithinDays: $days) {
    at by expiringWithinDays
    tables { name title columns { name title } ratioColumns { name numerator denominator } suppressionK suppressionKInclusive notes
      rows { id label isTotal cells { column count { value suppressed display } } ratios { ratio percent { value suppressed display } } }
      total { id isTotal cells { column count { value suppressed display } } } }
    gaps { communityId category }
  }
}"""

NETWORK = """
query($at: DateTime, $community: ID, $program: ID) {
  partnerNetwork(at: $at, community: $community, program: $program) {
    at suppressionK suppressionKInclusive
    nodes { id kind label students { value suppressed display } }
    edges { source target kind students { value suppressed display } }
  }
}"""


class Client:
    """POST /graphql with a role's token."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens
        self.http = httpx.Client(timeout=30)

    def post(self, query: str, variables: dict[str, Any], role: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.http.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, headers=headers)

    def data(self, query: str, variables: dict[str, Any], role: str = "staff") -> dict[str, Any]:
        r = self.post(query, variables, role)
        body: dict[str, Any] = r.json()
        assert r.status_code == 200 and "errors" not in body, (r.status_code, body)
        return body["data"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    db = tmp_path_factory.mktemp("analytics-api") / "api.db"
    tokens = build_network_db(db)
    with Server(ApiSettings(db=db)) as server:
        c = Client(server.url, tokens)
        try:
            yield c
        finally:
            c.http.close()


def table(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in report["tables"] if t["name"] == name)


def cell(t: dict[str, Any], row_id: str, column: str) -> dict[str, Any]:
    row = next(r for r in [*t["rows"], t["total"]] if r and r["id"] == row_id)
    return next(c["count"] for c in row["cells"] if c["column"] == column)


def counts(value: Any) -> Iterator[dict[str, Any]]:
    """Every {value, suppressed, display} object in an answer."""
    if isinstance(value, dict):
        if {"value", "suppressed", "display"} <= value.keys():
            yield value
        for v in value.values():
            yield from counts(v)
    elif isinstance(value, list):
        for v in value:
            yield from counts(v)


@pytest.mark.parametrize("role", ["staff", "analyst", "admin"])
def test_coverage_by_school_is_suppressed_for_aggregate_roles(client: Client, role: str) -> None:
    report = client.data(COVERAGE, {"by": "SCHOOL", "at": AT}, role)["coverage"]
    assert report["by"] == "SCHOOL" and report["expiringWithinDays"] == 30
    students = table(report, "students")
    assert cell(students, "adams", "students") == {"value": None, "suppressed": True, "display": "*"}
    assert cell(students, "lincoln", "students") == {"value": 26, "suppressed": False, "display": "26"}
    assert students["suppressionK"] == 10 and students["suppressionKInclusive"] is False
    assert [r["id"] for r in students["rows"]][-1] == "(none)"
    assert students["total"]["isTotal"] is True
    for c in counts(report):
        if c["display"] == "-":  # an undefined percentage (denominator 0)
            assert c["value"] is None and not c["suppressed"]
            continue
        assert (c["value"] is None) == c["suppressed"]
        assert c["display"] == "*" if c["suppressed"] else c["display"] in (str(c["value"]), f"{c['value']:g}%")


@pytest.mark.parametrize("by", ["COMMUNITY", "SCHOOL", "PROGRAM", "PARTNER"])
def test_no_small_count_is_ever_published(client: Client, tmp_path: Path, by: str) -> None:
    store = MemoryStore(tmp_path / "exact.db")
    try:
        store.apply(network_world().changes())
        exact = {t.name: t for t in count_coverage(store, NOON, by.lower(), Policy())}
    finally:
        store.close()
    report = client.data(COVERAGE, {"by": by, "at": AT})["coverage"]
    checked = 0
    for t in report["tables"]:
        for row in [*t["rows"], *([t["total"]] if t["total"] else [])]:
            for c in row["cells"]:
                true = exact[t["name"]].value(row["id"], c["column"])
                if 1 <= true < 10:
                    assert c["count"]["suppressed"] and c["count"]["value"] is None, (t["name"], row["id"], c["column"])
                    checked += 1
                if not c["count"]["suppressed"]:
                    assert c["count"]["value"] == true
    assert checked > 0


def test_expiring_window_is_an_argument(client: Client) -> None:
    report = client.data(COVERAGE, {"by": "COMMUNITY", "at": AT, "days": 7})["coverage"]
    assert report["expiringWithinDays"] == 7
    assert "7 days" in table(report, "expiring")["title"]


@pytest.mark.parametrize("role", ["staff", "analyst", "admin"])
def test_partner_network_has_no_student_nodes(client: Client, role: str) -> None:
    net = client.data(NETWORK, {"at": AT}, role)["partnerNetwork"]
    kinds = {n["kind"] for n in net["nodes"]}
    assert len(net["nodes"]) == ALL_NODES and kinds == {"PARTNER", "PROGRAM", "COMMUNITY", "SCHOOL"}
    by_id = {n["id"]: n for n in net["nodes"]}
    assert by_id["adams"]["students"] == {"value": None, "suppressed": True, "display": "*"}
    assert by_id["lincoln"]["students"] == {"value": 26, "suppressed": False, "display": "26"}
    assert {(e["source"], e["target"], e["kind"]) for e in net["edges"]} >= {
        ("ptn-hope", "prg-tutor", "OFFERS"),
        ("prg-tutor", "westside", "SERVES_AREA"),
        ("adams", "westside", "LOCATED_IN"),
    }
    assert all(e["source"] in by_id and e["target"] in by_id for e in net["edges"])
    assert all((c["value"] is None) == c["suppressed"] for c in counts(net))
    assert net["suppressionK"] == 10


@pytest.mark.parametrize(
    ("community", "program", "expected"),
    [
        pytest.param("westside", None, WESTSIDE_NODES, id="community"),
        pytest.param(None, "prg-meals", {"prg-meals", "ptn-bright", "northside", "eastside", "jefferson", "lincoln"}, id="program"),
        pytest.param("westside", "prg-mentor", {"westside", "roosevelt", "adams", "prg-mentor", "ptn-hope"}, id="both"),
        pytest.param("nowhere", None, set(), id="unknown-community-keeps-nothing"),
        pytest.param("lincoln", None, set(), id="a-school-is-not-a-community"),
    ],
)
def test_partner_network_filters(client: Client, community: str | None, program: str | None, expected: set[str]) -> None:
    net = client.data(NETWORK, {"at": AT, "community": community, "program": program})["partnerNetwork"]
    assert {n["id"] for n in net["nodes"]} == expected
    assert all(e["source"] in expected and e["target"] in expected for e in net["edges"])


def test_filtered_counts_are_the_whole_networks(client: Client) -> None:
    whole = {n["id"]: n["students"] for n in client.data(NETWORK, {"at": AT})["partnerNetwork"]["nodes"]}
    part = client.data(NETWORK, {"at": AT, "community": "westside"})["partnerNetwork"]["nodes"]
    assert all(n["students"] == whole[n["id"]] for n in part)


@pytest.mark.parametrize("role", ["app", "provider", "guardian"])
@pytest.mark.parametrize(("query", "variables"), [(COVERAGE, {"by": "COMMUNITY"}), (NETWORK, {})], ids=["coverage", "partnerNetwork"])
def test_other_roles_are_forbidden(client: Client, role: str, query: str, variables: dict[str, Any]) -> None:
    r = client.post(query, variables, role)
    body = r.json()
    assert r.status_code == 200
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


def test_no_token_is_unauthenticated(client: Client) -> None:
    r = client.post(NETWORK, {}, None)
    assert r.status_code == 401 and r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(COVERAGE, {"by": "SCHOOL", "days": -1}, id="negative-window"),
        pytest.param(COVERAGE, {"by": "SCHOOL", "days": 100_000}, id="window-too-wide"),
        pytest.param(NETWORK, {"at": "2026-01-15T19:00:00"}, id="naive-time"),
    ],
)
def test_bad_input(client: Client, query: str, variables: dict[str, Any]) -> None:
    r = client.post(query, variables, "staff")
    assert r.status_code in (200, 400)  # 400: a variable that could not be coerced (a request error); 200: refused while executing
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


OVERVIEW = """
query($at: DateTime) {
  networkOverview(at: $at) {
    at consistencyToken nodeCount suppressionK
    communities { id label students { value suppressed display } schools { id students { value suppressed } } }
    partners { id programCount programs { id fullLabel students { value suppressed } communityIds } communities { id programCount } }
  }
}"""


COMPARISON = """
query($by: CoverageGroup!, $at: DateTime, $compare: DateTime!) {
  coverageComparison(by: $by, at: $at, compare: $compare) {
    since at by
    before { at tables { name rows { id cells { column count { value suppressed } } } } }
    after { at tables { name rows { id partners { id name } cells { column count { value suppressed } } } } }
    change { name rows { id cells { column count { value suppressed } } } total { id cells { column count { value suppressed } } } }
  }
}"""


def test_network_overview_for_staff_is_suppressed_and_cached_per_token(client: Client) -> None:
    first = client.data(OVERVIEW, {"at": AT}, "staff")["networkOverview"]
    assert first["nodeCount"] == 9
    westside = next(c for c in first["communities"] if c["id"] == "westside")
    adams = next(s for s in westside["schools"] if s["id"] == "adams")
    assert adams["students"] == {"value": None, "suppressed": True}
    hope = next(p for p in first["partners"] if p["id"] == "ptn-hope")
    assert hope["programCount"] == 2 and {"id": "westside", "programCount": 2} in hope["communities"]
    again = client.data(OVERVIEW, {"at": AT}, "analyst")["networkOverview"]
    assert again == first


@pytest.mark.parametrize("role", ["provider", "app", "guardian"])
def test_network_overview_is_forbidden_to_other_roles(client: Client, role: str) -> None:
    r = client.post(OVERVIEW, {"at": AT}, role)  # an executed operation: 200 with the error's code (GraphQL over HTTP)
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("by", ["COMMUNITY", "PROGRAM"])
def test_coverage_comparison_publishes_both_times_and_the_change(client: Client, by: str) -> None:
    earlier = (NOON - timedelta(days=120)).isoformat()
    data = client.data(COMPARISON, {"by": by, "at": AT, "compare": earlier}, role="analyst")["coverageComparison"]
    assert data["since"] < data["at"] and data["by"] == by
    k = Policy().suppression_k
    checked = 0
    for before, after, change in zip(data["before"]["tables"], data["after"]["tables"], data["change"], strict=True):
        assert before["name"] == after["name"] == change["name"]
        for rb, ra, rc in zip(before["rows"], after["rows"], change["rows"], strict=True):
            for cb, ca, cc in zip(rb["cells"], ra["cells"], rc["cells"], strict=True):
                b, a, c = cb["count"], ca["count"], cc["count"]
                for x in (a, b, c):
                    assert x["suppressed"] == (x["value"] is None)
                    assert x["value"] is None or not 1 <= abs(x["value"]) < k
                if not (a["suppressed"] or b["suppressed"] or c["suppressed"]):
                    assert c["value"] == a["value"] - b["value"]
                    checked += 1
                # never two of the three published and the third suppressed: it would be recoverable
                assert [a["suppressed"], b["suppressed"], c["suppressed"]].count(True) != 1
    assert checked > 0
    if by == "PROGRAM":
        rows = {r["id"]: r for r in data["after"]["tables"][0]["rows"]}
        assert any(r["partners"] for r in rows.values())


def test_coverage_comparison_is_for_aggregate_roles_only(client: Client) -> None:
    r = client.post(COMPARISON, {"by": "COMMUNITY", "at": AT, "compare": AT}, "provider")
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("query", "status", "names"),
    [
        ("by=district", 400, "by"),
        ("format=parquet", 400, "format"),
        ("expiring_days=-3", 400, "expiring_days"),
        ("at=2026-01-15T12:00:00", 400, "at"),
        ("compare=yesterday", 400, "compare"),
    ],
)
def test_coverage_data_refuses_bad_parameters_by_name(client: Client, query: str, status: int, names: str) -> None:
    r = client.http.get(f"{client.url}/coverage/data?{query}", headers={"Authorization": f"Bearer {client.tokens['analyst']}"})
    assert r.status_code == status
    assert r.json()["errors"][0]["message"].startswith(names + ":")


def test_coverage_data_formats_and_roles(client: Client) -> None:
    url = f"{client.url}/coverage/data?by=school&at={AT.replace('+', '%2B')}"
    assert client.http.get(url).status_code == 401
    assert client.http.get(url, headers={"Authorization": f"Bearer {client.tokens['provider']}"}).status_code == 403
    auth = {"Authorization": f"Bearer {client.tokens['staff']}"}
    r = client.http.get(url + "&format=csv", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="coverage-school-20260115.csv"'
    assert r.headers["cache-control"] == "no-store"
    assert r.text.splitlines()[0].startswith("at,group_by,table,group_id")
    body = client.http.get(url, headers=auth).json()
    assert body["meta"]["by"] == "school" and body["records"]
    x = client.http.get(url + "&format=xlsx", headers=auth)
    assert x.status_code == 200 and x.content[:2] == b"PK"
