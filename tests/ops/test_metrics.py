"""``GET /metrics`` read with prometheus-client's own text parser: the named series exist and count.

One in-process server (uvicorn on loopback) for the series, read as differences between two
scrapes (the registry is the test process's); one ``serve --workers 2`` process for the
multiprocess sums, the request id header and the JSON log lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.config import ApiSettings
from graph.changes import PutNode
from graph.model import Student
from graph.stores.memory import MemoryStore
from tests.api.conftest import Server, ServerProcess, build_db, make_tokens

CHECK = 'query { check(request: {providerId: "ana", studentId: "sam", purpose: "academic_support"}) { allowed } }'
DENIED = 'query { check(request: {providerId: "bo", studentId: "sam", purpose: "academic_support"}) { allowed } }'
MANY = 'query { checkMany(requests: [{providerId: "ana", studentId: "sam", purpose: "academic_support"}]) { allowed } }'
LOOKUP = '{ accessibleStudents(providerId: "ana") { edges { cursor } } }'

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics, by (name, sorted labels)."""
    r = httpx.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    db = tmp_path_factory.mktemp("metrics") / "api.db"
    build_db(db)
    tokens = make_tokens(db)
    with Server(ApiSettings(db=db, test_hooks=True, rate_limit="")) as server:
        yield server.url, tokens, db


def post(url: str, token: str, query: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}", **headers}, timeout=20)


def test_the_named_series_are_present_and_count(site: tuple[str, dict[str, str], Path]) -> None:
    url, tokens, db = site
    before = scrape(url)
    for _ in range(3):
        assert post(url, tokens["admin"], CHECK).json()["data"]["check"]["allowed"] is True
    assert post(url, tokens["admin"], DENIED).json()["data"]["check"]["allowed"] is False
    assert "data" in post(url, tokens["admin"], MANY).json()
    assert "data" in post(url, tokens["admin"], LOOKUP).json()
    assert post(url, "ntk_wrong", CHECK).status_code in (200, 401)
    # Another process writes two events: this worker is two behind at its next read.
    other = MemoryStore(db)
    other.apply([PutNode(Student(id="lag-1")), PutNode(Student(id="lag-2"))])
    other.close()
    post(url, tokens["admin"], CHECK)
    # The record is switched off (the drill hook): the check is denied and a record failure counted.
    httpx.post(f"{url}/_test/audit", json={"available": False}, headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=10)
    assert post(url, tokens["admin"], CHECK).json()["data"]["check"]["allowed"] is False
    httpx.post(f"{url}/_test/audit", json={"available": True}, headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=10)
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ntk_requests_total", operation="check", status="200") == 6
    assert delta("ntk_requests_total", operation="checkMany", status="200") == 1
    assert delta("ntk_requests_total", operation="accessibleStudents", status="200") == 1
    assert delta("ntk_requests_total", operation="graphql", status="401") == 1
    assert delta("ntk_operation_seconds_count", operation="check") == 6
    assert delta("ntk_operation_seconds_count", operation="checkMany") == 1
    assert delta("ntk_operation_seconds_count", operation="accessibleStudents") == 1
    # 3 + checkMany's 1 + the check after the lag + accessibleStudents' decision about sam (recorded too)
    assert delta("ntk_decisions_total", outcome="allow", reason="none") == 6
    denied = {labels: v for (name, labels), v in after.items() if name == "ntk_decisions_total" and ("outcome", "deny") in labels}
    assert denied and all(v > 0 for v in denied.values())
    assert delta("ntk_decisions_total", outcome="deny", reason="audit_unavailable") == 1
    assert delta("ntk_record_write_seconds_count") >= 5
    assert delta("ntk_record_failures_total") == 1
    assert delta("ntk_engine_step_seconds_count", step="lookup") == 1
    assert delta("ntk_engine_step_seconds_count", step="sync") >= 8
    assert delta("ntk_journal_catchup_events_total") >= 2
    assert any(name == "ntk_journal_lag_events" for name, _ in after)
    # The feed's deriver runs in the background; wait until it has taken a step.
    deadline = time.monotonic() + 60
    while value(scrape(url), "ntk_feed_step_seconds_count") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value(scrape(url), "ntk_feed_step_seconds_count") > 0


def test_every_response_carries_a_request_id(site: tuple[str, dict[str, str], Path]) -> None:
    url, tokens, _ = site
    fresh = post(url, tokens["admin"], CHECK)
    assert len(fresh.headers["x-request-id"]) == 32
    assert post(url, tokens["admin"], CHECK, **{"X-Request-ID": "trace-abc-12345"}).headers["x-request-id"] == "trace-abc-12345"
    hostile = post(url, tokens["admin"], CHECK, **{"X-Request-ID": "<script>"}).headers["x-request-id"]
    assert hostile != "<script>" and len(hostile) == 32
    assert httpx.get(f"{url}/healthz", timeout=10).headers["x-request-id"]


class Workers(ServerProcess):
    """`needtoknow serve --workers 2`; two fresh interpreters may take a while to start on a busy machine."""

    def __enter__(self) -> Workers:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("serve --workers 2 did not start")


def test_two_workers_sum_their_counts_and_log_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTK_LOG_LEVEL", "debug")  # the one `request` line per request
    db = tmp_path / "workers.db"
    build_db(db)
    tokens = make_tokens(db)
    server = Workers(db, "--workers", "2")
    with server:
        # Both workers answer only once both have started: wait until two pids report a lag gauge.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            post(server.url, tokens["staff"], "{ __typename }")
            if len({dict(k[1]).get("pid") for k in scrape(server.url) if k[0] == "ntk_journal_lag_events"}) >= 2:
                break
        ids = [f"req-{n:04d}-abcdef" for n in range(12)]
        for rid in ids:
            assert post(server.url, tokens["admin"], CHECK, **{"X-Request-ID": rid}).status_code == 200
        totals = {value(scrape(server.url), "ntk_requests_total", operation="check", status="200") for _ in range(6)}
        lags = [k for k in scrape(server.url) if k[0] == "ntk_journal_lag_events"]
    assert totals == {12.0}  # whichever worker answers the scrape, it sums both
    assert lags and all(dict(labels).get("pid") for _, labels in lags)
    lines = [json.loads(line) for line in server.stderr_text().splitlines() if line.startswith("{")]
    logged = {line["request_id"] for line in lines if line.get("event") == "request" and line.get("operation") == "check"}
    assert logged == set(ids)
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
