"""The record's WAL is checkpointed by a thread of its own, not inside the commit of an answer.

A real SQLite file: decisions recorded through `SqliteAuditLog` are followed by a PASSIVE
checkpoint on the thread's own connection; the writer's automatic checkpoint is only the
backstop; every record still verifies; `close` stops the thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from graph.audit import Caller, SqliteAuditLog
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.policy import DEFAULT_POLICY
from graph.record_verify import verify
from graph.stores.memory import MemoryStore
from graph.wal_checkpoints import BACKSTOP_PAGES
from tests.world import NOON, World


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll `condition` (a callable) until it holds or `seconds` pass (no duration is asserted)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_records_are_checkpointed_off_the_writers_path(tmp_path: Path) -> None:
    store: MemoryStore = World.base().store(tmp_path)
    audit = SqliteAuditLog(tmp_path / "world.db")
    try:
        assert audit.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
        engine = Engine(store, DEFAULT_POLICY, audit)
        for _ in range(20):
            engine.check(CheckRequest("ana", "sam", NOON), caller=Caller("admin", "root"))
        assert _wait_for(lambda: audit.checkpoints.checkpoints >= 1), "no background checkpoint was taken"
        thread = audit.checkpoints._thread
        assert thread is not None and thread.is_alive() and thread.name == "wal-checkpoints"
        # What the thread copied is the committed record: read from another connection, all 20 are there.
        other = sqlite3.connect(tmp_path / "world.db")
        assert other.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 20
        other.close()
    finally:
        audit.close()
        store.close()
    assert not thread.is_alive()
    assert list(verify(tmp_path / "world.db")) == []
