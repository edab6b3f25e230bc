"""``serve --workers 2`` (workers forked from one preloaded graph, `api.prefork`): each worker
answers as one worker does, and sees a write made through the other at once.

Which worker holds a connection is read from the kernel (psutil: the worker process whose
socket's peer is the client's own port), so the test knows it wrote through one worker and
read through the other.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from api.config import ApiSettings
from tests.api.conftest import Server, ServerProcess, build_db, make_tokens
from tests.world import NOON

CHECK = "query($r: CheckInput!) { check(request: $r) { allowed outcome releasedCategories reasons { code subject } } }"
REVOKE = "mutation($c: ID!) { revokeConsent(consentId: $c) { ... on ConsentPayload { consistencyToken } } }"
PAIRS = [("ana", "sam"), ("bo", "sam"), ("cy", "sue"), ("ana", "sue"), ("bo", "sue")]


def request(provider: str, student: str, at: str | None = NOON.isoformat()) -> dict[str, Any]:
    return {"providerId": provider, "studentId": student, "purpose": "academic_support", "at": at}


class Connection:
    """One keep-alive HTTP connection, and the server process that accepted it."""

    def __init__(self, port: int, token: str, server_pid: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token
        self.post("{ __typename }")
        assert self.http.sock is not None
        mine = self.http.sock.getsockname()[1]
        workers = psutil.Process(server_pid).children()
        self.worker = next(w.pid for w in workers for c in w.net_connections("tcp") if c.raddr and c.raddr.port == mine)

    def post(self, query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables})
        self.http.request("POST", "/graphql", body, {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        response = self.http.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        assert "errors" not in answer, answer
        return answer["data"]

    def ready(self) -> dict[str, Any]:
        """``GET /readyz`` on this connection (so: from this worker)."""
        self.http.request("GET", "/readyz")
        response = self.http.getresponse()
        assert response.status == 200
        body: dict[str, Any] = json.loads(response.read())
        return body

    def check(self, provider: str, student: str, at: str | None = NOON.isoformat()) -> dict[str, Any]:
        answer: dict[str, Any] = self.post(CHECK, r=request(provider, student, at))["check"]
        return answer


def one_per_worker(server: ServerProcess, token: str) -> tuple[Connection, Connection]:
    """Open connections until two are held by different workers."""
    held: dict[int, Connection] = {}
    deadline = time.monotonic() + 120
    while len(held) < 2 and time.monotonic() < deadline:
        conn = Connection(server.port, token, server.proc.pid)
        held.setdefault(conn.worker, conn)
    assert len(held) == 2, "the kernel never gave a connection to the second worker"
    first, second = held.values()
    return first, second


def test_forked_workers_answer_as_one_worker_and_see_each_others_writes(tmp_path: Path) -> None:
    db = tmp_path / "workers.db"
    build_db(db)
    admin = make_tokens(db)["admin"]
    with Server(ApiSettings(db=db, rate_limit="")) as single:
        port = int(single.url.rsplit(":", 1)[1])
        reference = Connection.__new__(Connection)
        reference.http, reference.token = http.client.HTTPConnection("127.0.0.1", port, timeout=30), admin
        expected = [reference.check(p, s) for p, s in PAIRS]
    assert expected[0]["allowed"] and not expected[1]["allowed"]  # the world has both answers
    with ServerProcess(db, "--workers", "2") as server:
        a, b = one_per_worker(server, admin)
        assert a.worker != b.worker and {a.worker, b.worker} <= {p.pid for p in psutil.Process(server.proc.pid).children()}
        assert [a.check(p, s) for p, s in PAIRS] == expected
        assert [b.check(p, s) for p, s in PAIRS] == expected
        assert b.check("ana", "sam", at=None)["allowed"]  # now, before the revoke
        a.post(REVOKE, c="cns-1")  # through one worker; no token passed to the other
        after = b.check("ana", "sam", at=None)
        assert not after["allowed"] and "CONSENT" in " ".join(r["code"] for r in after["reasons"]), after
        assert a.check("ana", "sam", at=None) == after
        # The feed service runs in one worker only (readyz reports it where it runs), and in the
        # worker forked into its slot when that one dies (api.prefork: one copy of the graph's pages).
        feed, other = (a, b) if "feed" in a.ready() else (b, a)
        assert "feed" in feed.ready() and "feed" not in other.ready()
        os.kill(feed.worker, signal.SIGKILL)
        deadline = time.monotonic() + 120
        conn = other
        while time.monotonic() < deadline:
            try:
                conn = Connection(server.port, admin, server.proc.pid)
            except psutil.NoSuchProcess:  # the killed worker, listed until the parent reaps it
                time.sleep(0.1)
                continue
            if conn.worker not in (feed.worker, other.worker):
                break
        assert conn.worker not in (feed.worker, other.worker), "no worker was forked in place of the killed one"
        assert "feed" in conn.ready() and "feed" not in other.ready()
        assert conn.check("ana", "sam", at=None) == after
