"""The durable journal of the embedded store: an append-only SQLite table of changes.

Every change is a row with a sequence number; the newest sequence number is the
consistency token. SQLite runs in WAL mode so readers in other processes never block
the writer; `PRAGMA data_version` tells cheaply whether another connection committed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from graph.changes import Change, change_from_json, change_to_json
from graph.errors import StoreUnavailable
from graph.timeutil import utcnow

__all__ = ["Journal"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    op          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed_outbox (
    seq         INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    result      TEXT NOT NULL,
    token       TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"""


class Journal:
    """Append-only event log in a SQLite file (WAL).

    Parameters
    ----------
    path : Path
        The database file; created with its schema if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open journal {self.path}: {err}") from err
        self._data_version = self._read_data_version()

    def _read_data_version(self) -> int:
        row = self.conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def changed_elsewhere(self) -> bool:
        """True when another connection committed since we last looked (cheap)."""
        v = self._read_data_version()
        if v != self._data_version:
            self._data_version = v
            return True
        return False

    def newest_assigned(self) -> int:
        """The newest sequence number ever assigned (0 for an empty journal), read from SQLite's
        own ``sqlite_sequence`` row of the AUTOINCREMENT key: one row of a one-page table, where
        `head` walks the events index (after another connection's commit, every page read is a
        read from the file or the WAL). Events are never deleted, so it equals `head`."""
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    def head(self) -> int:
        """The newest sequence number (0 for an empty journal)."""
        row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    def row_digest(self, seq: int) -> str:
        """SHA-256 (hex) of the event row `seq` ("" for 0 or a row the journal does not hold).

        A snapshot taken at `seq` carries it, so a journal whose row `seq` changed is noticed.
        """
        row = self.conn.execute("SELECT seq, recorded_at, op, kind, record_id, data FROM events WHERE seq = ?", (seq,)).fetchone()
        return "" if row is None else hashlib.sha256(json.dumps(list(row)).encode()).hexdigest()

    def snapshot_key(self, *, create: bool) -> bytes | None:
        """The secret that signs this journal's snapshots (``meta`` row ``snapshot_key``).

        None when there is none yet and `create` is false; with `create`, made (32 random
        bytes) on first use. Raises StoreUnavailable when it cannot be written.
        """
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'snapshot_key'").fetchone()
        if row is None and create:
            try:
                self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('snapshot_key', ?)", (secrets.token_hex(32),))
            except sqlite3.Error as err:
                raise StoreUnavailable(f"journal {self.path} write failed: {err}") from err
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'snapshot_key'").fetchone()
        return None if row is None else bytes.fromhex(row[0])

    def reopen(self) -> None:
        """Connect again after `close` (a forked worker: SQLite connections must not cross a fork,
        so the parent closes its own before forking and each child opens one)."""
        self.__init__(self.path)  # type: ignore[misc]

    def begin(self) -> None:
        """Take the write lock (BEGIN IMMEDIATE): writers are serialised across processes."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise StoreUnavailable(f"journal {self.path} is not writable: {err}") from err

    def append(self, changes: Sequence[Change], now_at: datetime | None = None) -> int:
        """Append changes inside the transaction opened by `begin`; return the last seq.

        `now_at` is the commit's record time (default: now).
        """
        now = (now_at or utcnow()).isoformat()
        # A generator: a bulk load's rows are encoded as SQLite takes them, never all held at once.
        rows = ((now, *change_to_json(c)) for c in changes)
        try:
            self.conn.executemany("INSERT INTO events (recorded_at, op, kind, record_id, data) VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"journal {self.path} write failed: {err}") from err
        return self.head()

    def idempotent(self, key: str) -> tuple[str, dict[str, Any], str] | None:
        """(fingerprint, result, token) stored for an idempotency key, or None. Inside `begin`."""
        try:
            row = self.conn.execute("SELECT fingerprint, result, token FROM idempotency WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as err:
            raise StoreUnavailable(f"journal {self.path} read failed: {err}") from err
        return None if row is None else (row[0], json.loads(row[1]), row[2])

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any], token: str, now_at: datetime) -> None:
        """Store an idempotency key with its result, in the transaction opened by `begin`."""
        try:
            self.conn.execute(
                "INSERT INTO idempotency (key, fingerprint, result, token, recorded_at) VALUES (?, ?, ?, ?, ?)",
                (key, fingerprint, json.dumps(dict(result), sort_keys=True), token, now_at.isoformat()),
            )
        except sqlite3.Error as err:
            raise StoreUnavailable(f"journal {self.path} write failed: {err}") from err

    def outbox(self, seq: int, now_at: datetime, data: str) -> None:
        """Write the feed's outbox row for the commit ending at `seq`, in the transaction opened by `begin`
        (`graph.feed.outbox`)."""
        try:
            self.conn.execute("INSERT INTO feed_outbox (seq, recorded_at, data) VALUES (?, ?, ?)", (seq, now_at.isoformat(), data))
        except sqlite3.Error as err:
            raise StoreUnavailable(f"journal {self.path} write failed: {err}") from err

    def commit(self) -> None:
        """Commit the transaction opened by `begin`."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as err:
            raise StoreUnavailable(f"journal {self.path} commit failed: {err}") from err
        self._data_version = self._read_data_version()

    def rollback(self) -> None:
        """Abandon the open transaction, if any."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def read_since(self, seq: int, batch: int = 50_000, *, trusted: bool = True, until: int | None = None) -> Iterator[tuple[int, Change]]:
        """Changes with a sequence number above `seq` (and at most `until`), in order.

        ``trusted`` (default): rows are rebuilt without re-validation (graph.trusted);
        False re-validates every record (`verify`).
        """
        last = seq
        top = until if until is not None else 2**62
        while True:
            rows = self.conn.execute(
                "SELECT seq, op, kind, record_id, data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (last, top, batch),
            ).fetchall()
            if not rows:
                return
            for s, op, kind, rid, data in rows:
                yield int(s), change_from_json(op, kind, rid, data, trusted=trusted)
            last = int(rows[-1][0])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
