"""A load racing a conflicting mutation loses no acknowledged write (issue 11, incremental loads).

    gdn-i -GUARDIAN_OF(oneroster, unverified)-> stu-i        (i < ROUNDS, from a OneRoster bulk)

A `needtoknow serve` process and a load (the `load` command on its own store instance, in
this process) share one store. Each round, at one instant (a barrier; the load's start is
staggered by a few milliseconds from round to round, so both orders occur):

- verifyGuardian(gdn-i, stu-i, at: V)       closes the unverified link at V, opens a full one
- a OneRoster delta: gdn-i tobedeleted at E  ends the roster links it carried at E (E > V)

Whichever commits first, the other plans against its commit: verify first, then the load ends
the verified link at E; load first, then verify is refused (no open unverified link). At the
end the store holds exactly what was acknowledged: the load ended one link, and the verified
link exists iff the mutation was acknowledged. ``NTK_CONCURRENT_LOAD_ROUNDS`` (default 6).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.tokens import open_tokens
from graph.model import EdgeKind, FerpaRights, GuardianOf
from graph.settings import Settings
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from loaders import oneroster
from loaders.importer import ImportSummary, import_result
from tests.api.conftest import ServerProcess, extra_changes
from tests.world import T0, World

ROUNDS = int(os.environ.get("NTK_CONCURRENT_LOAD_ROUNDS", "6"))
STAGGER = (0.0, 0.05, 0.02, 0.1, 0.01, 0.2)
"""Seconds the load waits after the barrier, by round: the mutation's HTTP round trip is slower
than an in-process load's start, so without a stagger the load would always commit first."""
V = T0 + timedelta(days=30)
E = T0 + timedelta(days=60)
VERIFY = """mutation($g: ID!, $s: ID!, $at: DateTime) { verifyGuardian(guardianId: $g, studentId: $s, at: $at) {
  __typename ... on ValidationError { code } } }"""
USERS = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
         "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password")
ABSENT = ("academicSessions", "classes", "courses", "demographics", "enrollments", "orgs")


def iso(t: Any) -> str:
    return str(t.isoformat().replace("+00:00", "Z"))


def package(root: Path, mode: str, rows: list[str]) -> Path:
    root.mkdir(parents=True)
    manifest = ["propertyName,value", "oneroster.version,1.1", f"file.users,{mode}"] + [f"file.{f},absent" for f in ABSENT]
    (root / "manifest.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    (root / "users.csv").write_text("\n".join([USERS, *rows]) + "\n", encoding="utf-8")
    return root


def roster(root: Path) -> Path:
    rows = []
    for i in range(ROUNDS):
        rows.append(f"stu-{i},active,{iso(T0)},true,lincoln,student,x,,x,x,,x,x,,,gdn-{i},03,")
        rows.append(f"gdn-{i},active,{iso(T0)},true,lincoln,parent,x,,x,x,,,x,,x,stu-{i},,")
    return package(root, "bulk", rows)


def delta(root: Path, i: int) -> Path:
    return package(root, "delta", [f"gdn-{i},tobedeleted,{iso(E)},true,lincoln,parent,x,,x,x,,,x,,x,stu-{i},,"])


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Callable[[], GraphStore]]]:
    db = tmp_path / "shared.db"
    args: list[str] = []
    opener: Callable[[], GraphStore]
    if request.param == "networkx":
        def opener() -> GraphStore:
            return MemoryStore(db)
    else:
        from graph.stores.neo4j import Neo4jStore
        from tests.stores.test_contract import clear_neo4j

        uri: str = request.getfixturevalue("neo4j_uri")
        clear_neo4j(uri)
        args = ["--backend", "neo4j", "--neo4j-uri", uri]

        def opener() -> GraphStore:
            return Neo4jStore(uri)

    store = opener()
    store.apply([*World.base().changes(), *extra_changes()])
    import_result(store, oneroster.read([roster(tmp_path / "bulk")]))
    store.close()
    settings = Settings(db=db, backend=request.param, neo4j_uri=args[-1] if args else "bolt://127.0.0.1:7687")  # type: ignore[arg-type]
    tokens = open_tokens(settings)
    _, secret = tokens.create("admin", "root")
    tokens.close()
    with ServerProcess(db, *args) as server:
        yield server.url, secret, opener


def test_load_racing_a_mutation_loses_no_acknowledged_write(
    shared: tuple[str, str, Callable[[], GraphStore]], tmp_path: Path
) -> None:
    url, secret, opener = shared
    loader = opener()
    verified: list[bool] = []
    summaries: list[ImportSummary] = []
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {secret}"}) as client:
        for i in range(ROUNDS):
            result = oneroster.read([delta(tmp_path / f"delta-{i}", i)])
            barrier = threading.Barrier(2)
            answer: dict[str, Any] = {}

            def mutate(i: int = i, barrier: threading.Barrier = barrier, answer: dict[str, Any] = answer) -> None:
                barrier.wait()
                r = client.post(f"{url}/graphql", json={"query": VERIFY, "variables": {"g": f"gdn-{i}", "s": f"stu-{i}", "at": iso(V)}})
                assert r.status_code == 200 and "errors" not in r.json(), r.text
                answer.update(r.json()["data"]["verifyGuardian"])

            thread = threading.Thread(target=mutate)
            thread.start()
            barrier.wait()
            # Staggered starts so both orders occur across rounds (the assertions hold for either).
            time.sleep(STAGGER[i % len(STAGGER)])
            summaries.append(import_result(loader, result))
            thread.join()
            assert answer["__typename"] == "RelationshipPayload" or answer == {
                "__typename": "ValidationError", "code": "guardian_not_unverified"}, answer
            verified.append(answer["__typename"] == "RelationshipPayload")
    loader.close()
    store = opener()
    try:
        for i in range(ROUNDS):
            assert summaries[i].ended == 1  # the load's acknowledged end, whichever came first
            links = sorted((e for e in store.edges(EdgeKind.GUARDIAN_OF) if e.to_id == f"stu-{i}"), key=lambda e: e.valid_from)
            roster_link = store.edge(f"guardian_of:oneroster:gdn-{i}:stu-{i}")
            assert roster_link is not None
            if verified[i]:  # the mutation committed first: its link holds from V until the load's end at E
                assert roster_link.valid_to == V
                full = [e for e in links if isinstance(e, GuardianOf) and e.ferpa_rights is FerpaRights.FULL]
                assert [(e.valid_from, e.valid_to) for e in full] == [(V, E)]
            else:  # the load committed first: the unverified link ended at E, nothing verified
                assert roster_link.valid_to == E
                assert [e.id for e in links] == [roster_link.id]
    finally:
        store.close()
