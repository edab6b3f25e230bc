"""Two API instances, each in its own empty working directory, over one Neo4j: one service.

    the tests/api/conftest.py world plus ana -SERVES-> s-i, cns-i (gia) permits ptn-hope (i < N)

With ``--backend neo4j`` the graph, the tokens and the record of decisions all live in Neo4j
(DESIGN.md, "What lives where"), so:

- a token created through one deployment's CLI works on both instances; a revocation is
  honoured by both on the next request;
- a guardian's `disclosures` through one instance includes decisions the other made;
- revoke through one, check through the other with the revoke's consistencyToken: never a
  stale allow (``NTK_SCALE_OUT_OPS`` operations, default 10,000);
- `needtoknow verify --backend neo4j` checks every instance's hash chain;
- killing one instance mid-stream loses no answered decision: each check it answered has its record;
- neither instance writes anything to its working directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.tokens_neo4j import Neo4jTokenStore
from graph.audit_neo4j import Neo4jAuditLog
from graph.stores.neo4j import Neo4jStore
from tests.api.conftest import ServerProcess, extra_changes
from tests.api.test_consistency import students
from tests.stores.test_contract import clear_neo4j
from tests.world import World

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

OPS = int(os.environ.get("NTK_SCALE_OUT_OPS", "10000"))
CLI = [sys.executable, "-c", "from api.cli import main; main()"]
REVOKE = "mutation($c: ID!) { revokeConsent(consentId: $c) { ... on ConsentPayload { consistencyToken } } }"
CHECK = "query($r: CheckInput!, $t: String) { check(request: $r, consistencyToken: $t) { allowed } }"


def cli(uri: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NTK_BACKEND": "neo4j", "NTK_NEO4J_URI": uri}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


class Instance(ServerProcess):
    """`needtoknow serve --backend neo4j` started in its own empty directory."""

    def __init__(self, uri: str, workdir: Path) -> None:
        workdir.mkdir()
        self.workdir = workdir
        super().__init__(workdir / "never-written.db", "--backend", "neo4j", "--neo4j-uri", uri)


@pytest.fixture
def world(neo4j_uri: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    clear_neo4j(neo4j_uri)
    n = max(OPS // 2, 50)
    store = Neo4jStore(neo4j_uri)
    store.apply([*World.base().changes(), *extra_changes(), *students(n)])
    store.close()
    yield neo4j_uri, n


def token(uri: str, cwd: Path, *args: str) -> str:
    out = cli(uri, cwd, "token", "create", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def gql(client: httpx.Client, url: str, secret: str, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    return client.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers={"Authorization": f"Bearer {secret}"})


def test_two_instances_are_one_service(world: tuple[str, int], tmp_path: Path) -> None:
    uri, n = world
    ops_dir = tmp_path / "operator"
    ops_dir.mkdir()
    admin = token(uri, ops_dir, "--role", "admin", "--subject", "root")
    guardian = token(uri, ops_dir, "--role", "guardian", "--subject", "gia")
    provider = token(uri, ops_dir, "--role", "provider", "--subject", "ana")
    with Instance(uri, tmp_path / "a") as a, Instance(uri, tmp_path / "b") as b, httpx.Client(timeout=30) as client:
        # A token made through the operator's CLI works on both instances.
        for inst in (a, b):
            assert gql(client, inst.url, admin, "{ __typename }").status_code == 200
        # Decisions made by b appear in the disclosures read through a (and the reverse).
        req = {"providerId": "ana", "studentId": "sam", "purpose": "academic_support"}
        assert gql(client, b.url, provider, CHECK, {"r": req}).json()["data"]["check"]["allowed"]
        assert gql(client, a.url, provider, CHECK, {"r": req}).json()["data"]["check"]["allowed"]
        seen = [gql(client, inst.url, guardian, '{ disclosures(studentId: "sam") { id providerId } }').json() for inst in (a, b)]
        assert [len(s["data"]["disclosures"]) for s in seen] == [2, 2], seen
        # Revoke through one, check through the other with the token: never a stale allow.
        # Four clients at once (disjoint students): the pairs interleave across instances too.
        def revoke_then_check(i: int) -> bool:
            writer, reader = (a, b) if i % 2 else (b, a)
            revoked = gql(client, writer.url, admin, REVOKE, {"c": f"cns-{i}"}).json()
            t = revoked["data"]["revokeConsent"]["consistencyToken"]
            after = gql(client, reader.url, admin, CHECK, {"r": {**req, "studentId": f"s-{i}"}, "t": t}).json()
            return bool(after["data"]["check"]["allowed"])

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(revoke_then_check, range(n)))
        assert len(answers) == n and sum(answers) == 0
        # A revocation made through the CLI is honoured by both on the next request.
        listed = cli(uri, ops_dir, "token", "list").stdout
        guardian_id = next(line.split()[0] for line in listed.splitlines() if "subject=gia" in line)
        assert cli(uri, ops_dir, "token", "revoke", guardian_id).returncode == 0
        for inst in (a, b):
            refused = gql(client, inst.url, guardian, "{ __typename }")
            assert refused.status_code == 401, refused.text
        workdirs = [a.workdir, b.workdir]
    # Every instance's chain verifies; there is one chain per instance (and one per CLI engine, if any).
    verified = cli(uri, ops_dir, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "chains" in verified.stdout
    # Nothing was written to the instances' working directories.
    assert [list(d.iterdir()) for d in workdirs] == [[], []]


def test_killing_an_instance_loses_no_answered_decision(world: tuple[str, int], tmp_path: Path) -> None:
    uri, n = world
    store = Neo4jStore(uri)
    secret = Neo4jTokenStore(store).create("provider", "ana")[1]
    answered: list[str] = []
    inst = Instance(uri, tmp_path / "a").__enter__()
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(n):
                if stop.is_set():
                    return
                req = {"providerId": "ana", "studentId": f"s-{i}", "purpose": "academic_support"}
                try:
                    r = gql(client, inst.url, secret, CHECK, {"r": req})
                except httpx.TransportError:
                    return
                if r.status_code == 200 and r.json().get("data"):
                    answered.append(f"s-{i}")

    worker = threading.Thread(target=stream)
    worker.start()
    while len(answered) < 50 and worker.is_alive():
        threading.Event().wait(0.05)
    inst.proc.send_signal(signal.SIGKILL)
    stop.set()
    worker.join(timeout=30)
    inst.proc.wait(timeout=10)
    assert len(answered) >= 50
    audit = Neo4jAuditLog(store, chain="chain-reader")
    missing = [sid for sid in answered if not audit.for_student(sid)]
    assert missing == []
    assert list(audit.verify()) == []
    store.close()
