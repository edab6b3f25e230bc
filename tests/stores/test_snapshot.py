"""The embedded store's snapshot: snapshot + journal tail == full replay; a bad snapshot is ignored, with a log line."""

from __future__ import annotations

import contextlib
import gc
import io
import pickle
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from structlog.testing import capture_logs

from graph import trusted
from graph.changes import Change, PutNode
from graph.errors import ChangeRejected
from graph.model import Serves, Student
from graph.stores import snapshot
from graph.stores.journal import Journal
from graph.stores.memory import MemoryStore
from graph.stores.memory_layout import EdgeAttrs, NodeAttrs
from graph.stores.snapshot_codec import RecordPickler
from tests.strategies import partnerships
from tests.world import World


def state_of(store: MemoryStore) -> tuple[object, ...]:
    """Everything a read can see: records, versions, indexes, graph keys and the token."""
    g = store.G
    return (
        dict(store._nodes),
        dict(store._edges),
        {k: list(v) for k, v in store._node_hist.items()},
        {k: list(v) for k, v in store._edge_hist.items()},
        {k: sorted(v) for k, v in store._by_kind.items()},
        {n: {k: sorted(v) for k, v in kinds.items()} for n, kinds in store._out_kind.items()},
        sorted((u, v, k) for u, v, k in g.edges(keys=True)),
        sorted(g.nodes),
        store.token(),
    )


def ignored(logs: list[MutableMapping[str, Any]]) -> list[object]:
    return [line["reason"] for line in logs if line.get("event") == "snapshot_ignored"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerships(), partnerships())
def test_snapshot_plus_tail_equals_full_replay(first: list[Change], second: list[Change]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.db"
        store = MemoryStore(path)
        store.apply(first)
        token, _ = store.write_snapshot()
        assert token == int(store.token())
        with contextlib.suppress(ChangeRejected):  # the tail, written after the snapshot
            store.apply(second)
        store.close()
        with capture_logs() as logs:
            from_snapshot = MemoryStore(path)
        replayed = MemoryStore(path, snapshot=False)
        assert ignored(logs) == []
        assert state_of(from_snapshot) == state_of(replayed)
        from_snapshot.close()
        replayed.close()


def world_with_snapshot(tmp_path: Path) -> tuple[Path, tuple[object, ...]]:
    store = World.base().store(tmp_path)
    store.write_snapshot()
    expected = state_of(store)
    store.close()
    return store.path, expected


def test_a_store_opened_from_a_snapshot_reads_only_the_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, expected = world_with_snapshot(tmp_path)
    store = MemoryStore(path)
    store.apply([PutNode(Student(id="late-kid"))])
    expected_after = state_of(store)
    store.close()
    read: list[int] = []
    replay = Journal.read_since

    def counting(self: Journal, seq: int, *args: Any, **kwargs: Any) -> Iterator[tuple[int, Change]]:
        for row in replay(self, seq, *args, **kwargs):
            read.append(row[0])
            yield row

    monkeypatch.setattr(Journal, "read_since", counting)
    store = MemoryStore(path)
    assert read == [int(str(expected[-1])) + 1]
    assert state_of(store) == expected_after
    store.close()


def test_a_corrupted_snapshot_is_ignored_and_the_journal_replayed(tmp_path: Path) -> None:
    path, expected = world_with_snapshot(tmp_path)
    snap = path.with_name(path.name + ".snapshot")
    data = bytearray(snap.read_bytes())
    data[-40] ^= 0x01  # one bit of the pickle
    snap.write_bytes(bytes(data))
    with capture_logs() as logs:
        store = MemoryStore(path)
    assert ignored(logs) == ["corrupt"]
    assert state_of(store) == expected
    store.close()
    snap.write_bytes(bytes(data[: len(data) // 2]))  # torn
    with capture_logs() as logs:
        store = MemoryStore(path)
    assert ignored(logs) == ["corrupt"]
    assert state_of(store) == expected
    store.close()
    snap.write_bytes(b"not a snapshot at all")
    with capture_logs() as logs:
        store = MemoryStore(path)
    assert ignored(logs) == ["corrupt"]
    store.close()


def test_a_snapshot_ahead_of_a_restored_journal_is_stale(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    store.write_snapshot()  # creates the journal's snapshot key, so the copy below has it too
    store.close()
    earlier = tmp_path / "earlier.db"
    shutil.copy(store.path, earlier)
    store = MemoryStore(store.path)
    store.apply([PutNode(Student(id="late-kid"))])
    store.write_snapshot()
    store.close()
    restored = tmp_path / "restored.db"
    shutil.copy(earlier, restored)
    shutil.copy(store.snapshot_path, restored.with_name("restored.db.snapshot"))
    with capture_logs() as logs:
        reopened = MemoryStore(restored)
    assert ignored(logs) == ["stale"]
    assert state_of(reopened) == state_of(MemoryStore(restored, snapshot=False))
    reopened.close()


def test_a_snapshot_of_another_journal_is_refused(tmp_path: Path) -> None:
    path, _ = world_with_snapshot(tmp_path)
    other = tmp_path / "other" / "world.db"
    other.parent.mkdir()
    World.base().store(other.parent).close()
    shutil.copy(path.with_name(path.name + ".snapshot"), other.with_name("world.db.snapshot"))
    with capture_logs() as logs:
        MemoryStore(other).close()
    assert ignored(logs) == ["foreign"]


def test_a_view_before_the_snapshot_replays_quietly_and_one_after_uses_it(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    early = int(store.token())
    store.apply([PutNode(Student(id="late-kid"))])
    store.write_snapshot()
    store.apply([PutNode(Student(id="later-kid"))])
    head = int(store.token())
    store.close()
    for until in (early, head):
        with capture_logs() as logs:
            view = MemoryStore(store.path, until=until)
        assert ignored(logs) == []
        assert state_of(view) == state_of(MemoryStore(store.path, until=until, snapshot=False))
        assert view.token() == str(until)
        view.close()


def test_a_snapshot_of_the_earlier_format_is_ignored_and_the_journal_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = World.base().store(tmp_path)
    with monkeypatch.context() as m:  # format 1: records as dataclasses' own pickled state
        m.setattr(snapshot, "FORMAT", 1)
        m.setattr(snapshot, "RecordPickler", lambda f: pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL))
        store.write_snapshot()
    expected = state_of(store)
    store.close()
    with capture_logs() as logs:
        reopened = MemoryStore(store.path)
    assert ignored(logs) == ["format"]
    assert state_of(reopened) == expected
    reopened.close()


def test_records_pickle_as_calls_of_their_class_maker_and_come_back_equal() -> None:
    records = [r for c in World.base().changes() for r in (getattr(c, "node", None), getattr(c, "edge", None)) if r is not None]
    assert {type(r) for r in records} >= {Student, Serves}
    buf = io.BytesIO()
    RecordPickler(buf).dump(records)
    data = buf.getvalue()
    assert b"make_Student" in data and b"make_Serves" in data
    assert b"_dataclass_setstate" not in data and b"__setstate__" not in data
    back = pickle.loads(data)
    assert back == records
    assert [type(r) for r in back] == [type(r) for r in records]
    attrs, empty = pickle.loads(_pickled((EdgeAttrs(records[-1]), NodeAttrs())))
    assert type(attrs) is EdgeAttrs and attrs.rec == records[-1]
    assert type(empty) is NodeAttrs and len(empty) == 0


def _pickled(obj: object) -> bytes:
    buf = io.BytesIO()
    RecordPickler(buf).dump(obj)
    return buf.getvalue()


def test_a_bulk_allocation_of_many_objects_freezes_them_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trusted, "FREEZE_AT", 50)
    gc.collect()
    before = gc.get_freeze_count()
    try:
        with trusted.bulk_allocation():
            kept = [{"i": i} for i in range(100)]
        assert gc.get_freeze_count() == before
        with trusted.bulk_allocation(freeze=True):
            kept += [{"i": i} for i in range(100)]
        assert gc.get_freeze_count() >= before + 100
        assert gc.isenabled() and len(kept) == 200
    finally:
        gc.unfreeze()
