"""Neo4j chunked loads (``max_tx_rows``) are all or nothing (issue 11, issue 16).

A load larger than ``max_tx_rows`` commits in several transactions; a failure after the first
(a server error, the loading process killed) must leave the store as it was: created records
gone, updated records back to their old properties, no change-log pages, the journal's ``seq``
unmoved and released for the next writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import neo4j
import neo4j.exceptions as ne
import pytest

from graph.changes import PutNode
from graph.errors import StoreUnavailable
from graph.model import EdgeKind, NodeKind, Student
from graph.stores import neo4j as neo4j_store
from graph.stores.neo4j import Neo4jStore, decode_token
from tests.stores.test_contract import clear_neo4j
from tests.world import T0, World

pytestmark = pytest.mark.neo4j

ROOT = Path(__file__).resolve().parents[2]


def _second_load() -> World:
    """The base world with one student renamed, a service closed and ten new students:
    updates and creations, many rows."""
    world = World.base().change("sam", name="Samuel").close("sv1", T0 + timedelta(days=3))
    for i in range(10):
        world = world.node(Student(id=f"new-{i}", name=f"New student {i}"))
    return world


def _snapshot(store: Neo4jStore, uri: str) -> dict[str, Any]:
    """Everything a reader could see, plus the journal node and the change log."""
    with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
        meta = session.run("MATCH (m:NtkMeta {key: 'journal'}) RETURN properties(m) AS p").single(strict=True)["p"]
        pages = session.run("MATCH (c:Change) RETURN c.seq AS seq, c.changes AS changes ORDER BY seq").data()
        undo = session.run("MATCH (u:NtkLoadUndo) RETURN count(u) AS n").single(strict=True)["n"]
    meta.pop("writer", None)
    return {
        "nodes": {k: sorted((n.id, repr(n)) for n in store.nodes(k)) for k in NodeKind},
        "edges": {k: sorted((e.id, repr(e)) for e in store.edges(k)) for k in EdgeKind},
        "evidence": store.gather_evidence("ana", "sam").canonical(),
        "meta": meta,
        "pages": pages,
        "undo": undo,
    }


class _FailingStore(Neo4jStore):
    """Fails like a server would, after transaction `fail_at` of a chunked load committed; first
    checks that another writer is refused while the load holds the journal."""

    def __init__(self, uri: str, fail_at: int, **kw: Any) -> None:
        super().__init__(uri, **kw)
        self.fail_at = fail_at
        self.refused: str | None = None

    def _after_commit(self, index: int) -> None:
        if index == self.fail_at:
            other = Neo4jStore(self.uri)
            try:
                other.apply([PutNode(Student(id="other-writer"))])
            except StoreUnavailable as err:
                self.refused = str(err)
            finally:
                other.close()
            raise ne.ServiceUnavailable("injected: the server went away mid-load")


@pytest.mark.parametrize("background_log", [False, True], ids=["log-inline", "log-in-a-thread"])
def test_failure_after_the_first_transactions_leaves_the_store_as_it_was(
    neo4j_uri: str, background_log: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if background_log:  # as for a bulk load of 20,000 changes or more: the change log is encoded in a thread
        monkeypatch.setattr(neo4j_store, "_BACKGROUND_LOG", 1)
    clear_neo4j(neo4j_uri)
    store = Neo4jStore(neo4j_uri)
    failing = _FailingStore(neo4j_uri, fail_at=4, batch_size=1, max_tx_rows=1)
    try:
        store.apply(World.base().changes())
        before = _snapshot(store, neo4j_uri)
        with pytest.raises(StoreUnavailable, match=r"after 5 of \d+ transactions and was rolled back"):
            failing.apply(_second_load().changes())
        assert failing.refused is not None and "bulk load" in failing.refused  # the load held the journal
        assert _snapshot(store, neo4j_uri) == before
        assert store.node("new-0") is None and store.node("other-writer") is None
        assert decode_token(failing.token())[0] < before["meta"]["seq"]  # the failed load handed out no token
        # The journal is released: the same load now goes through in pieces, and then equals a one-piece load.
        failing.fail_at = -1
        failing.apply(_second_load().changes())
        loaded = store.node("sam")
        assert loaded is not None and getattr(loaded, "name", None) == "Samuel"
        assert store.node("new-9") is not None and _snapshot(store, neo4j_uri)["undo"] == 0
    finally:
        failing.close()
        store.close()


def test_the_change_log_encoded_in_a_thread_equals_the_inline_one(neo4j_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    written = []
    for threshold in (10**9, 1):
        monkeypatch.setattr(neo4j_store, "_BACKGROUND_LOG", threshold)
        clear_neo4j(neo4j_uri)
        store = Neo4jStore(neo4j_uri, batch_size=3, max_tx_rows=7)
        try:
            store.apply(World.base().changes())
            store.apply(_second_load().changes())
            snap = _snapshot(store, neo4j_uri)
        finally:
            store.close()
        written.append((_changes_logged(snap["pages"]), snap["nodes"], snap["edges"], snap["meta"]["seq"]))
    assert written[0] == written[1] and written[0][0]


def _changes_logged(pages: list[dict[str, Any]]) -> list[tuple[int, list[Any]]]:
    """Each page's changes, without the commit's own time (each run stamps its own)."""
    out = []
    for page in pages:
        changes = []
        for op, kind, rid, data in json.loads(page["changes"]):
            fields = json.loads(data) if isinstance(data, str) else data
            if isinstance(fields, dict):
                fields.pop("@effective_at", None)
            changes.append([op, kind, rid, fields])
        out.append((page["seq"], changes))
    return out


_KILLED_LOAD = """
import os, signal, sys
from graph.stores.neo4j import Neo4jStore
from tests.stores.test_neo4j_bulk_atomic import _second_load

class Killed(Neo4jStore):
    def _after_commit(self, index):
        if index == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # dies holding the journal, 4 transactions committed

Killed(sys.argv[1], batch_size=1, max_tx_rows=1, load_lease=1.0).apply(_second_load().changes())
"""


def test_a_killed_loader_is_rolled_back_by_the_next_writer(neo4j_uri: str) -> None:
    clear_neo4j(neo4j_uri)
    store = Neo4jStore(neo4j_uri)
    try:
        store.apply(World.base().changes())
        before = _snapshot(store, neo4j_uri)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", _KILLED_LOAD, neo4j_uri], cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == -9, proc.stderr
        killed = _snapshot(store, neo4j_uri)
        assert killed["undo"] == 4 and killed["meta"].get("load")  # half a load is in the database
        time.sleep(1.5)  # let its one-second lease run out
        store.apply([PutNode(Student(id="next-writer"))])
        after = _snapshot(store, neo4j_uri)
        assert after["nodes"][NodeKind.STUDENT] == sorted(
            [*before["nodes"][NodeKind.STUDENT], ("next-writer", repr(store.node("next-writer")))]
        )
        assert {k: v for k, v in after["nodes"].items() if k is not NodeKind.STUDENT} == {
            k: v for k, v in before["nodes"].items() if k is not NodeKind.STUDENT
        }
        assert after["edges"] == before["edges"] and after["evidence"] == before["evidence"]
        assert after["undo"] == 0 and "load" not in after["meta"]
        assert after["meta"]["seq"] == before["meta"]["seq"] + 1
    finally:
        store.close()
