"""Per-token rate limits and per-role aggregate budgets answer 429 with Retry-After, and recover.

Small windows (five seconds: long enough that a busy machine still sends the requests of one
test inside one window) so that recovery is a short wait for the window the server names in
Retry-After; nothing here asserts how long anything took.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.config import ApiSettings
from tests.api.conftest import Server, build_db, make_tokens

WHO = "{ __typename }"
COMPARE = '{ coverageComparison(by: COMMUNITY, at: "2026-11-15T00:00:00Z", compare: "2026-08-15T00:00:00Z") { __typename } }'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    db = tmp_path_factory.mktemp("limits") / "api.db"
    build_db(db)
    tokens = make_tokens(db)
    settings = ApiSettings(db=db, rate_limit="6/5 seconds", aggregate_limits={"analyst": "3/5 seconds"})
    with Server(settings) as server:
        yield server.url, tokens


def post(url: str, token: str, query: str = WHO) -> httpx.Response:
    return httpx.post(f"{url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=20)


def until_admitted(send: object) -> httpx.Response:
    """Wait out each Retry-After the server names until a request is admitted (at most 10 waits)."""
    assert callable(send)
    for _ in range(10):
        r: httpx.Response = send()
        if r.status_code != 429:
            return r
        time.sleep(int(r.headers["retry-after"]))
    raise AssertionError("still limited after 10 windows")


def test_a_token_over_its_rate_is_refused_429_and_recovers(site: tuple[str, dict[str, str]]) -> None:
    url, tokens = site
    until_admitted(lambda: post(url, tokens["staff"]))  # start from a fresh window
    answers = [post(url, tokens["staff"]) for _ in range(10)]
    refused = [r for r in answers if r.status_code == 429]
    assert refused, [r.status_code for r in answers]
    first = refused[0]
    assert first.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= int(first.headers["retry-after"]) <= 5
    # Another token is not affected while this one is limited.
    assert post(url, tokens["analyst"]).status_code == 200
    assert until_admitted(lambda: post(url, tokens["staff"])).json() == {"data": {"__typename": "Query"}}


def test_aggregate_questions_spend_the_role_budget(site: tuple[str, dict[str, str]]) -> None:
    url, tokens = site
    first = until_admitted(lambda: post(url, tokens["analyst"], COMPARE))  # a comparison costs 2 of the 3
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    second = post(url, tokens["analyst"], COMPARE)
    assert second.status_code == 429 and "aggregate" in second.json()["errors"][0]["message"]
    # A question that is not an aggregate does not spend the budget (the rate limit still counts it).
    assert post(url, tokens["analyst"]).status_code == 200
    recovered = until_admitted(lambda: post(url, tokens["analyst"], COMPARE))
    assert recovered.status_code == 200 and "errors" not in recovered.json()
    # GET /coverage/data spends the same budget: 1 of the 3 is left, a comparison costs 2.
    headers = {"Authorization": f"Bearer {tokens['analyst']}"}
    params = {"at": "2026-11-15T00:00:00Z", "compare": "2026-08-15T00:00:00Z"}
    data = httpx.get(f"{url}/coverage/data", params=params, headers=headers, timeout=20)
    assert data.status_code == 429 and data.headers["retry-after"] and "aggregate" in data.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param({"NTK_RATE_LIMIT": "lots"}, "NTK_RATE_LIMIT", id="limit"),
        pytest.param({"NTK_AGGREGATE_LIMITS": '{"wizard": "1/second"}'}, "NTK_AGGREGATE_LIMITS", id="role"),
        pytest.param({"NTK_OIDC_ISSUER": "http://127.0.0.1:9", "NTK_OIDC_ALGORITHMS": "HS256"}, "NTK_OIDC", id="jwt"),
    ],
)
def test_serve_refuses_settings_that_cannot_work(tmp_path: Path, env: dict[str, str], named: str) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "x.db")], env=env)
    assert result.exit_code == 2 and named in result.output and "Traceback" not in result.output, result.output
