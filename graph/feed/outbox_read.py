"""Reading the outbox back: the rows each store wrote with its commits, in commit order."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from graph.errors import StoreUnavailable
from graph.feed.outbox import OutboxRow
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware

__all__ = ["OutboxReader"]


class OutboxReader:
    """Outbox rows after a sequence number, from the embedded journal or from Neo4j.

    The embedded store's rows are read on a connection of their own: the store's connection
    may be inside another thread's open write transaction, whose rows are not committed yet.
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._conn: sqlite3.Connection | None = None
        path = getattr(store, "path", None)
        if store.name == "networkx" and path is not None:
            try:
                self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
            except sqlite3.Error as err:
                raise StoreUnavailable(f"cannot read the outbox in {path}: {err}") from err

    def head(self) -> int:
        """The newest outbox sequence number (0 when there is none)."""
        rows = self.since(-1, limit=1, newest=True)
        return rows[0].seq if rows else 0

    def since(self, after: int, limit: int = 100, *, newest: bool = False) -> list[OutboxRow]:
        """Rows with ``seq > after``, oldest first, at most `limit` (``newest``: the last one only)."""
        if self._conn is not None:
            sql = "SELECT seq, recorded_at, data FROM feed_outbox WHERE seq > ? ORDER BY seq " + ("DESC " if newest else "") + "LIMIT ?"
            try:
                raw: list[Any] = self._conn.execute(sql, (after, limit)).fetchall()
            except sqlite3.Error as err:
                raise StoreUnavailable(f"outbox read failed: {err}") from err
            return [OutboxRow.from_json(int(s), str(s), ensure_aware(datetime.fromisoformat(r)), d) for s, r, d in raw]
        from graph.stores import neo4j_queries as q

        query = q.FEED_OUTBOX_SINCE.replace("ORDER BY o.seq", "ORDER BY o.seq DESC") if newest else q.FEED_OUTBOX_SINCE
        records = self.store._read(query, {"after": after, "limit": limit})  # type: ignore[attr-defined]
        return [OutboxRow.from_json(int(r["seq"]), str(r["seq"]), r["recorded_at"].to_native(), r["data"]) for r in records]

    def count_since(self, after: int) -> int:
        """How many rows have ``seq > after`` (the commits not derived yet)."""
        if self._conn is not None:
            try:
                return int(self._conn.execute("SELECT COUNT(*) FROM feed_outbox WHERE seq > ?", (after,)).fetchone()[0])
            except sqlite3.Error as err:
                raise StoreUnavailable(f"outbox read failed: {err}") from err
        from graph.stores import neo4j_queries as q

        records = self.store._read(q.FEED_OUTBOX_COUNT, {"after": after})  # type: ignore[attr-defined]
        return int(records[0]["n"])

    def close(self) -> None:
        """Close the reading connection."""
        if self._conn is not None:
            self._conn.close()
