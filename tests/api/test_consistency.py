"""Two worker processes sharing one SQLite file: a check after a revoke's response never allows.

    ana -SERVES-> s-0 .. s-N ; cns-i -ABOUT-> s-i, GIVEN_BY gia, PERMITS ptn-hope (N = ops / 2)

Each round revokes cns-i through one server and checks (ana, s-i) through the other,
alternating which is which, passing the revoke's consistencyToken on odd rounds and no
token on even ones (then MemoryStore.sync() must notice the other process's commit by
PRAGMA data_version). 10,000 operations by default (NTK_CONSISTENCY_OPS to change;
about 3 minutes on a laptop, hence the `slow` mark).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from api.tokens import TokenStore
from graph.changes import Change, PutEdge, PutNode
from graph.model import About, Attends, Consent, GivenBy, GuardianOf, Permits, Serves, Student
from graph.stores.memory import MemoryStore
from tests.api.conftest import ServerProcess, build_db
from tests.world import T0

OPS = int(os.environ.get("NTK_CONSISTENCY_OPS", "10000"))
REVOKE = "mutation($c: ID!) { revokeConsent(consentId: $c) { ... on ConsentPayload { consistencyToken } } }"
CHECK = "query($r: CheckInput!, $t: String) { check(request: $r, consistencyToken: $t) { allowed } }"


def students(n: int) -> list[Change]:
    out: list[Change] = []
    for i in range(n):
        s, c = f"s-{i}", f"cns-{i}"
        out += [
            PutNode(Student(id=s)),
            PutNode(Consent(id=c, signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"}))),
            PutEdge(Attends(id=f"at-{i}", from_id=s, to_id="lincoln", valid_from=T0)),
            PutEdge(GuardianOf(id=f"g-{i}", from_id="gia", to_id=s, valid_from=T0)),
            PutEdge(
                Serves(
                    id=f"sv-{i}", from_id="ana", to_id=s, valid_from=T0, program="prg-tutor", categories_needed=frozenset({"attendance"})
                )
            ),
            PutEdge(About(id=f"ab-{i}", from_id=c, to_id=s, valid_from=T0)),
            PutEdge(GivenBy(id=f"gb-{i}", from_id=c, to_id="gia", valid_from=T0)),
            PutEdge(Permits(id=f"pm-{i}", from_id=c, to_id="ptn-hope", valid_from=T0)),
        ]
    return out


@pytest.mark.slow
def test_no_stale_allow_across_two_workers(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    build_db(db)
    rounds = OPS // 2
    store = MemoryStore(db)
    store.apply(students(rounds))
    store.close()
    tokens = TokenStore(db)
    _, secret = tokens.create("admin", "root")
    tokens.close()
    headers = {"Authorization": f"Bearer {secret}"}
    stale_allows = 0
    unexpected_denies = 0
    with ServerProcess(db) as a, ServerProcess(db) as b, httpx.Client(timeout=30, headers=headers) as client:
        servers = [a.url, b.url]
        for i in range(rounds):
            writer, reader = servers[i % 2], servers[1 - i % 2]
            req = {"providerId": "ana", "studentId": f"s-{i}", "purpose": "academic_support", "categories": ["attendance"]}
            if i % 50 == 0:  # the check does allow before the revoke: the test can see a stale allow
                before = client.post(f"{reader}/graphql", json={"query": CHECK, "variables": {"r": req}}).json()
                unexpected_denies += not before["data"]["check"]["allowed"]
            revoked = client.post(f"{writer}/graphql", json={"query": REVOKE, "variables": {"c": f"cns-{i}"}}).json()
            token = revoked["data"]["revokeConsent"]["consistencyToken"] if i % 2 else None
            after = client.post(f"{reader}/graphql", json={"query": CHECK, "variables": {"r": req, "t": token}}).json()
            stale_allows += after["data"]["check"]["allowed"]
    assert unexpected_denies == 0
    assert stale_allows == 0
