"""The embedded store: journal replay, cross-process freshness, atomic batches."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.errors import ChangeRejected, InputError, StaleRead
from graph.model import Attends, EdgeKind, Guardian, NodeKind, Student
from graph.stores.memory import MemoryStore
from tests.strategies import partnerships
from tests.world import NOON, T0, World


def snapshot(store: MemoryStore) -> tuple[object, ...]:
    g = store.G
    return (
        dict(store._nodes),
        dict(store._edges),
        sorted((u, v, k) for u, v, k in g.edges(keys=True)),
        sorted(g.nodes),
        store.token(),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerships(), partnerships())
def test_replay_rebuilds_the_same_graph(first: list[Change], second: list[Change]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.db"
        store = MemoryStore(path)
        store.apply(first)
        # The second may clash with the first (same ids, other endpoints): then nothing of it applies.
        with contextlib.suppress(ChangeRejected):
            store.apply(second)
        before = snapshot(store)
        store.close()
        again = MemoryStore(path)
        assert snapshot(again) == before
        again.close()


def test_failed_batch_changes_nothing(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    before = snapshot(store)
    bad = [PutNode(Student(id="new-kid")), PutEdge(Attends(id="at-x", from_id="new-kid", to_id="no-such-school", valid_from=T0))]
    with pytest.raises(ChangeRejected, match="unknown node 'no-such-school'") as info:
        store.apply(bad)
    assert info.value.field == "to_id" and info.value.index == 1
    assert snapshot(store) == before
    store.close()
    assert snapshot(MemoryStore(tmp_path / "world.db")) == before


def test_duplicate_id_of_another_kind_is_refused(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    with pytest.raises(ChangeRejected, match="already a Student"):
        store.apply([PutNode(Guardian(id="sam"))])


def test_reapplying_is_idempotent(tmp_path: Path) -> None:
    w = World.base()
    store = w.store(tmp_path)
    token = store.token()
    assert store.apply(w.changes()) == token  # nothing new journalled
    rows = sqlite3.connect(tmp_path / "world.db").execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert rows == len(w.changes())


def test_close_appends_and_keeps_history(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    store.apply([CloseEdge("sv1", NOON)])
    assert store.edge("sv1").valid_to == NOON  # type: ignore[union-attr]
    ops = [
        r[0] for r in sqlite3.connect(tmp_path / "world.db").execute("SELECT op FROM events WHERE record_id = 'sv1' ORDER BY seq")
    ]
    assert ops == ["put_edge", "close_edge"]
    with pytest.raises(ChangeRejected, match="already closed"):
        store.apply([CloseEdge("sv1", NOON + timedelta(days=1))])
    with pytest.raises(ChangeRejected, match="before it starts"):
        store.apply([CloseEdge("at1", T0 - timedelta(days=1))])


def test_second_process_sees_new_events(tmp_path: Path) -> None:
    reader = World.base().store(tmp_path)
    script = (
        "import sys; from datetime import datetime, UTC; from graph.stores.memory import MemoryStore; "
        "from graph.changes import CloseEdge; s = MemoryStore(sys.argv[1]); "
        "print(s.apply([CloseEdge('sv1', datetime(2026, 1, 15, 19, tzinfo=UTC))]))"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "world.db")], check=True, capture_output=True, text=True)
    token = out.stdout.strip()
    assert int(token) > int(reader.token())
    reader.sync(token)
    assert reader.token() == token and reader.edge("sv1").valid_to == NOON  # type: ignore[union-attr]


def test_sync_without_token_notices_other_writers(tmp_path: Path) -> None:
    reader = World.base().store(tmp_path)
    writer = MemoryStore(tmp_path / "world.db")
    writer.apply([CloseEdge("sv1", NOON)])
    reader.sync()
    assert reader.edge("sv1").valid_to == NOON  # type: ignore[union-attr]


def test_sync_skips_commits_that_add_no_event_and_not_those_that_do(tmp_path: Path) -> None:
    """The record of decisions and the token table share the journal's file: their commits move
    ``data_version`` without an event, and `sync` reads no events then; an event is still read."""
    reader = World.base().store(tmp_path)
    assert reader.journal.newest_assigned() == reader.journal.head() == int(reader.token())
    other = sqlite3.connect(tmp_path / "world.db")
    other.execute("CREATE TABLE IF NOT EXISTS unrelated (x INTEGER)")
    other.execute("INSERT INTO unrelated VALUES (1)")
    other.commit()
    before = reader.token()
    reader.sync()
    assert reader.token() == before
    writer = MemoryStore(tmp_path / "world.db")
    writer.apply([CloseEdge("sv1", NOON)])
    other.execute("INSERT INTO unrelated VALUES (2)")  # a later commit without an event does not hide the event
    other.commit()
    other.close()
    reader.sync()
    assert reader.token() == writer.token() != before
    assert reader.edge("sv1").valid_to == NOON  # type: ignore[union-attr]
    assert reader.journal.newest_assigned() == reader.journal.head()


def test_tokens_from_the_future_and_garbage(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    with pytest.raises(StaleRead):
        store.sync(str(int(store.token()) + 100))
    with pytest.raises(InputError):
        store.sync("not-a-token")


def test_naive_time_is_rejected_at_the_edge() -> None:
    from datetime import datetime

    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="naive datetime"):
        Attends(id="a", from_id="s", to_id="x", valid_from=datetime(2026, 1, 1))


def test_counts_and_kinds(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    assert store.count(NodeKind.STUDENT) == 1 and store.count(EdgeKind.SERVES) == 1
    assert {n.id for n in store.nodes(NodeKind.AGREEMENT)} == {"agr-conf-v1", "agr-conf-v2", "agr-share"}
    assert store.students_served_by("ana") == {"sam"} and store.providers_serving("sam") == {"ana"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerships())
def test_trusted_replay_equals_validated_replay(changes: list[Change]) -> None:
    from graph.stores.journal import Journal

    with tempfile.TemporaryDirectory() as d:
        store = MemoryStore(Path(d) / "j.db")
        store.apply(changes)
        journal = Journal(Path(d) / "j.db")
        assert list(journal.read_since(0, trusted=True)) == list(journal.read_since(0, trusted=False))
        journal.close()
        store.close()


def test_verify_finds_a_corrupt_journal_row(tmp_path: Path) -> None:
    World.base().store(tmp_path).close()
    exe = str(Path(sys.executable).parent / "needtoknow")
    ok = subprocess.run([exe, "verify", "--db", str(tmp_path / "world.db")], capture_output=True, text=True)
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    con = sqlite3.connect(tmp_path / "world.db")
    aware, naive = '"valid_from":"2025-08-15T06:00:00+00:00"', '"valid_from":"2025-08-15T06:00:00"'
    con.execute("UPDATE events SET data = replace(data, ?, ?) WHERE seq = 20", (aware, naive))
    con.commit()
    bad = subprocess.run([exe, "verify", "--db", str(tmp_path / "world.db")], capture_output=True, text=True)
    assert bad.returncode == 1 and "does not validate" in bad.stderr and "naive datetime" in bad.stderr
