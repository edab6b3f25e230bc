"""The durable feed tables, in the SQLite file that holds tokens and the record of decisions.

- ``feed_events``: every access change, ``pos`` ordering the feed, ``id`` unique (stable).
- ``feed_access``: the released categories last announced per (provider, student): the
  deriver compares a new decision with it, so the feed folded per pair always equals what
  `check` answers (a pair never announced released nothing).
- ``feed_meta``: ``outbox_done`` (the last outbox row derived) and ``clock_done`` (the last
  instant the scheduler processed), written in the same transaction as the events they produced.
- ``feed_lease``: which process derives and delivers (one at a time; a lease expires).
- ``webhook_endpoints``, ``webhook_dead``: endpoints with their delivery cursor, and the
  dead-letter list (`api.webhooks`).

Every write is one ``BEGIN IMMEDIATE`` transaction, so a crash leaves each tick either
wholly recorded or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from graph.errors import StoreUnavailable
from graph.feed.events import AccessChange, Cause
from graph.feed.tables import DeadLetter, Endpoint, Removal
from graph.timeutil import ensure_aware

__all__ = ["Endpoint", "FeedStore", "DeadLetter"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS feed_events (
    pos          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    provider_id  TEXT NOT NULL,
    student_id   TEXT NOT NULL,
    before       TEXT NOT NULL,
    after        TEXT NOT NULL,
    effective_at TEXT NOT NULL,
    token        TEXT NOT NULL,
    cause        TEXT NOT NULL,
    cause_seq    INTEGER,
    recorded_at  TEXT NOT NULL,
    reasons      TEXT NOT NULL,
    redacted     TEXT NOT NULL,
    partners     TEXT NOT NULL,
    guardians    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feed_events_provider ON feed_events (provider_id, pos);
CREATE INDEX IF NOT EXISTS feed_events_student ON feed_events (student_id, pos);
CREATE TABLE IF NOT EXISTS feed_access (
    provider_id TEXT NOT NULL,
    student_id  TEXT NOT NULL,
    released    TEXT NOT NULL,
    PRIMARY KEY (provider_id, student_id)
);
CREATE TABLE IF NOT EXISTS feed_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed_lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    role        TEXT NOT NULL,
    subject     TEXT,
    partners    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    removed_at  TEXT,
    cursor      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS webhook_dead (
    endpoint_id TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    last_error  TEXT NOT NULL,
    dead_at     TEXT NOT NULL,
    redeliver   INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT,
    PRIMARY KEY (endpoint_id, pos)
);
"""

_COLUMNS: Final = (
    "pos, id, provider_id, student_id, before, after, effective_at, token, cause, cause_seq, recorded_at, "
    "reasons, redacted, partners, guardians"
)


def _instant(text: str) -> datetime:
    return ensure_aware(datetime.fromisoformat(text))


def _event(row: Sequence[Any]) -> AccessChange:
    return AccessChange(
        position=int(row[0]),
        id=row[1],
        provider_id=row[2],
        student_id=row[3],
        before=tuple(json.loads(row[4])),
        after=tuple(json.loads(row[5])),
        effective_at=ensure_aware(datetime.fromisoformat(row[6])),
        consistency_token=row[7],
        cause=Cause(row[8]),
        cause_seq=row[9],
        recorded_at=ensure_aware(datetime.fromisoformat(row[10])),
        reasons=tuple(json.loads(row[11])),
        reasons_redacted=tuple(json.loads(row[12])),
        partners=tuple(json.loads(row[13])),
        guardians=tuple(json.loads(row[14])),
    )


BUSY_SECONDS: Final = 30.0
"""How long a statement waits for another connection's lock before SQLite answers "database is locked"."""


class FeedStore:
    """The feed tables in `path` (created if missing): `graph.feed.tables.FeedTables` in SQLite.
    Thread-safe; one connection per instance.

    `busy_seconds`: how long to wait for a lock another connection or process holds (SQLite's
    busy timeout) before failing with StoreUnavailable. Raises StoreUnavailable when the file
    cannot be opened or written.
    """

    name = "sqlite"

    def __init__(self, path: Path, *, busy_seconds: float = BUSY_SECONDS) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_seconds)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open the feed tables in {self.path}: {err}") from err

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): committed on exit, rolled back on error."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreUnavailable(f"feed tables in {self.path} are not writable: {err}") from err
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StoreUnavailable(f"feed tables in {self.path}: {err}") from err

    # ------------------------------------------------------------------ derivation state

    def meta(self, key: str) -> str | None:
        """A value of ``feed_meta``, or None."""
        rows = self._read("SELECT value FROM feed_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Write one ``feed_meta`` value on its own (the service's last error; not a cursor)."""
        with self.write() as conn:
            conn.execute(
                "INSERT INTO feed_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
            )

    def announced(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
        """The released categories last announced for each pair (pairs never announced are left out)."""
        found: dict[tuple[str, str], tuple[str, ...]] = {}
        for p, s in pairs:
            rows = self._read("SELECT released FROM feed_access WHERE provider_id = ? AND student_id = ?", (p, s))
            if rows:
                found[(p, s)] = tuple(json.loads(rows[0][0]))
        return found

    def record(self, events: Sequence[AccessChange], meta: dict[str, str]) -> list[AccessChange]:
        """Store events, the access they announce and the cursors, in one transaction.

        An event whose id is already stored is skipped (derivation is idempotent). A tick
        another process has already recorded (``outbox_done`` not ahead of the stored one,
        ``clock_done`` behind it) is skipped whole. Returns the events stored, with their positions.
        """
        stored: list[AccessChange] = []
        with self.write() as conn:
            rows = dict(conn.execute("SELECT key, value FROM feed_meta WHERE key IN ('outbox_done', 'clock_done')").fetchall())
            if "outbox_done" in meta and "outbox_done" in rows and int(rows["outbox_done"]) >= int(meta["outbox_done"]):
                return []
            if events and "clock_done" in meta and "clock_done" in rows and _instant(rows["clock_done"]) > _instant(meta["clock_done"]):
                return []
            for e in events:
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO feed_events ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        e.id,
                        e.provider_id,
                        e.student_id,
                        json.dumps(list(e.before)),
                        json.dumps(list(e.after)),
                        e.effective_at.isoformat(),
                        e.consistency_token,
                        str(e.cause),
                        e.cause_seq,
                        e.recorded_at.isoformat(),
                        json.dumps(list(e.reasons)),
                        json.dumps(list(e.reasons_redacted)),
                        json.dumps(list(e.partners)),
                        json.dumps(list(e.guardians)),
                    ),
                )
                if cur.rowcount:
                    stored.append(replace(e, position=int(cur.lastrowid or 0)))
                conn.execute(
                    "INSERT INTO feed_access (provider_id, student_id, released) VALUES (?, ?, ?) "
                    "ON CONFLICT (provider_id, student_id) DO UPDATE SET released = excluded.released",
                    (e.provider_id, e.student_id, json.dumps(list(e.after))),
                )
            for key, value in meta.items():
                conn.execute(
                    "INSERT INTO feed_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
                )
        return stored

    # ------------------------------------------------------------------ reading the feed

    def head(self) -> int:
        """The newest position (0 for an empty feed)."""
        return int(self._read("SELECT COALESCE(MAX(pos), 0) FROM feed_events")[0][0])

    def events_after(self, pos: int, limit: int) -> list[AccessChange]:
        """Events with a position above `pos`, in order, at most `limit`."""
        rows = self._read(f"SELECT {_COLUMNS} FROM feed_events WHERE pos > ? ORDER BY pos LIMIT ?", (pos, limit))
        return [_event(r) for r in rows]

    def event(self, pos: int) -> AccessChange | None:
        """The event at a position, or None."""
        rows = self._read(f"SELECT {_COLUMNS} FROM feed_events WHERE pos = ?", (pos,))
        return _event(rows[0]) if rows else None

    def events_about(self, provider_id: str | None = None, student_id: str | None = None) -> list[AccessChange]:
        """Every event about a provider or a student, in order (tests and tools)."""
        if provider_id is not None:
            rows = self._read(f"SELECT {_COLUMNS} FROM feed_events WHERE provider_id = ? ORDER BY pos", (provider_id,))
        else:
            rows = self._read(f"SELECT {_COLUMNS} FROM feed_events WHERE student_id = ? ORDER BY pos", (student_id,))
        return [_event(r) for r in rows]

    # ------------------------------------------------------------------ lease

    def lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` until ``now + ttl`` (seconds); False when another holds it."""
        with self.write() as conn:
            row = conn.execute("SELECT holder, until FROM feed_lease WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != holder and row[1] > now:
                return False
            conn.execute(
                "INSERT INTO feed_lease (name, holder, until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until",
                (name, holder, now + ttl),
            )
            return True

    def lease_state(self, name: str, now: float) -> tuple[str | None, float | None]:
        """(holder, seconds left) of a live lease `name` at `now` (Unix seconds); (None, None) when none."""
        rows = self._read("SELECT holder, until FROM feed_lease WHERE name = ?", (name,))
        if not rows or float(rows[0][1]) <= now:
            return None, None
        return str(rows[0][0]), float(rows[0][1]) - now

    def release(self, name: str, holder: str) -> None:
        """Give up the lease if `holder` has it."""
        with self.write() as conn:
            conn.execute("DELETE FROM feed_lease WHERE name = ? AND holder = ?", (name, holder))

    # ------------------------------------------------------------------ webhooks

    def add_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Store a new endpoint with its cursor at the feed's head; return it as stored."""
        with self.write() as conn:
            head = int(conn.execute("SELECT COALESCE(MAX(pos), 0) FROM feed_events").fetchone()[0])
            conn.execute(
                "INSERT INTO webhook_endpoints (id, url, secret, role, subject, partners, created_at, cursor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    endpoint.id,
                    endpoint.url,
                    endpoint.secret,
                    endpoint.role,
                    endpoint.subject,
                    json.dumps(sorted(endpoint.partners)),
                    endpoint.created_at.isoformat(),
                    head,
                ),
            )
        return replace(endpoint, partners=tuple(sorted(endpoint.partners)), cursor=head)

    def remove_endpoint(self, endpoint_id: str, now: datetime) -> Removal:
        """Mark an endpoint removed at `now` unless it is missing or removed already."""
        with self.write() as conn:
            row = conn.execute("SELECT removed_at FROM webhook_endpoints WHERE id = ?", (endpoint_id,)).fetchone()
            if row is None:
                return "not_found"
            if row[0] is not None:
                return "already_removed"
            conn.execute("UPDATE webhook_endpoints SET removed_at = ? WHERE id = ?", (now.isoformat(), endpoint_id))
            return "removed"

    def mark_redeliver(self, endpoint_id: str, *, event_id: str | None = None, from_cursor: int | None = None) -> int | None:
        """Rewind an active endpoint's cursor (0), or mark its dead letters for redelivery (how many); None: no such endpoint."""
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM webhook_endpoints WHERE id = ? AND removed_at IS NULL", (endpoint_id,)).fetchone() is None:
                return None
            if from_cursor is not None:
                conn.execute("UPDATE webhook_endpoints SET cursor = ? WHERE id = ?", (max(0, from_cursor), endpoint_id))
                return 0
            if event_id is not None:
                return conn.execute(
                    "UPDATE webhook_dead SET redeliver = 1 WHERE endpoint_id = ? AND event_id = ?", (endpoint_id, event_id)
                ).rowcount
            sql = "UPDATE webhook_dead SET redeliver = 1 WHERE endpoint_id = ? AND delivered_at IS NULL"
            return conn.execute(sql, (endpoint_id,)).rowcount

    def endpoints(self, *, include_removed: bool = False) -> list[Endpoint]:
        """Registered endpoints, oldest first."""
        sql = "SELECT id, url, secret, role, subject, partners, created_at, removed_at, cursor FROM webhook_endpoints"
        if not include_removed:
            sql += " WHERE removed_at IS NULL"
        return [
            Endpoint(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                tuple(json.loads(r[5])),
                ensure_aware(datetime.fromisoformat(r[6])),
                None if r[7] is None else ensure_aware(datetime.fromisoformat(r[7])),
                int(r[8]),
            )
            for r in self._read(sql + " ORDER BY created_at, id")
        ]

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        """One endpoint (removed ones too), or None."""
        return next((e for e in self.endpoints(include_removed=True) if e.id == endpoint_id), None)

    def advance(self, endpoint_id: str, pos: int) -> None:
        """Move an endpoint's cursor to `pos` (never backwards)."""
        with self.write() as conn:
            conn.execute("UPDATE webhook_endpoints SET cursor = MAX(cursor, ?) WHERE id = ?", (pos, endpoint_id))

    def dead(self, endpoint_id: str, event: AccessChange, attempts: int, error: str, now: datetime) -> None:
        """Put an event on the dead-letter list and move the endpoint past it (its order continues)."""
        with self.write() as conn:
            conn.execute(
                "INSERT INTO webhook_dead (endpoint_id, pos, event_id, attempts, last_error, dead_at, redeliver) "
                "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (endpoint_id, pos) DO UPDATE SET attempts = excluded.attempts, "
                "last_error = excluded.last_error, dead_at = excluded.dead_at, redeliver = 0",
                (endpoint_id, event.position, event.id, attempts, error[:500], now.isoformat()),
            )
            conn.execute("UPDATE webhook_endpoints SET cursor = MAX(cursor, ?) WHERE id = ?", (event.position, endpoint_id))

    def dead_letters(self, endpoint_id: str | None = None) -> list[DeadLetter]:
        """The dead-letter list (of one endpoint), oldest first."""
        sql = "SELECT endpoint_id, pos, event_id, attempts, last_error, dead_at, redeliver, delivered_at FROM webhook_dead"
        rows = self._read(sql + " WHERE endpoint_id = ? ORDER BY pos", (endpoint_id,)) if endpoint_id else self._read(sql + " ORDER BY pos")
        return [
            DeadLetter(
                r[0],
                int(r[1]),
                r[2],
                int(r[3]),
                r[4],
                ensure_aware(datetime.fromisoformat(r[5])),
                bool(r[6]),
                None if r[7] is None else ensure_aware(datetime.fromisoformat(r[7])),
            )
            for r in rows
        ]

    def delivered_dead(self, endpoint_id: str, pos: int, now: datetime) -> None:
        """A redelivered dead letter was accepted."""
        with self.write() as conn:
            conn.execute(
                "UPDATE webhook_dead SET redeliver = 0, delivered_at = ? WHERE endpoint_id = ? AND pos = ?",
                (now.isoformat(), endpoint_id, pos),
            )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
