"""Records of the first format (JSON bodies with an evidence summary, hex hash chain).

A file written before the lean record keeps those rows: on open they are renamed to
``decisions_v1`` (nothing rewritten, so their hashes still hold) and the lean chain starts
from their head. They are read and verified here, with the first format's rules.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from graph.record_codec import to_us
from graph.timeutil import ensure_aware, parse_datetime, to_iso

__all__ = ["legacy_count", "legacy_for_student", "legacy_get", "legacy_verify", "migrate"]

HEX_GENESIS: Final = "0" * 64


def _exists(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'decisions_v1'").fetchone() is not None


def migrate(conn: sqlite3.Connection) -> None:
    """Rename a first-format ``decisions`` table to ``decisions_v1`` and start the lean chain at its head (once)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(decisions)")}
    if "prev_hash" not in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(decisions)")}
        if "prev_hash" in columns:  # another process may have migrated meanwhile
            conn.execute("ALTER TABLE decisions RENAME TO decisions_v1")
            conn.execute("DROP INDEX IF EXISTS decisions_student")
            conn.execute("CREATE INDEX IF NOT EXISTS decisions_v1_student ON decisions_v1 (student_id, decision_time)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS record_chain"
                " (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL, head BLOB NOT NULL, t INTEGER NOT NULL)"
            )
            last = conn.execute("SELECT n, hash, decision_time FROM decisions_v1 ORDER BY n DESC LIMIT 1").fetchone()
            if last is not None:
                t = to_us(parse_datetime(str(last[2])))
                conn.execute(
                    "INSERT OR REPLACE INTO record_chain (id, n, head, t) VALUES (1, ?, ?, ?)", (int(last[0]), bytes.fromhex(last[1]), t)
                )
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise


def legacy_count(conn: sqlite3.Connection) -> int:
    """Rows of the first format (0 when there are none)."""
    return int(conn.execute("SELECT COUNT(*) FROM decisions_v1").fetchone()[0]) if _exists(conn) else 0


def legacy_get(conn: sqlite3.Connection, lock: threading.Lock, decision_id: str) -> dict[str, Any] | None:
    """The first-format record with this id, or None."""
    with lock:
        if not _exists(conn):
            return None
        row = conn.execute("SELECT body FROM decisions_v1 WHERE id = ?", (decision_id,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def legacy_for_student(
    conn: sqlite3.Connection, lock: threading.Lock, student_id: str, start: datetime | None, end: datetime | None
) -> Iterator[dict[str, Any]]:
    """First-format records about a student with decision time in ``[start, end)``, oldest first, in pages."""
    last = 0
    while True:
        with lock:
            if not _exists(conn):
                return
            sql = "SELECT n, body FROM decisions_v1 WHERE student_id = ? AND n > ?"
            args: list[Any] = [student_id, last]
            if start is not None:
                sql += " AND decision_time >= ?"
                args.append(to_iso(ensure_aware(start)))
            if end is not None:
                sql += " AND decision_time < ?"
                args.append(to_iso(ensure_aware(end)))
            rows = conn.execute(sql + " ORDER BY n LIMIT 5000", args).fetchall()
        if not rows:
            return
        for _, body in rows:
            yield json.loads(body)
        last = int(rows[-1][0])


def legacy_verify(conn: sqlite3.Connection) -> Iterator[tuple[str, int, str]]:
    """Check the first-format chain; yield ("break", n, message) for each break, then ("end", n, head hex)."""
    prev, last = HEX_GENESIS, 0
    if not _exists(conn):
        yield ("end", 0, prev)
        return
    while True:
        rows = conn.execute("SELECT n, id, body, prev_hash, hash FROM decisions_v1 WHERE n > ? ORDER BY n LIMIT 5000", (last,)).fetchall()
        if not rows:
            break
        for n, rid, body, prev_hash, digest in rows:
            if prev_hash != prev:
                yield ("break", int(n), f"record {n} ({rid}): chain broken before it")
            if hashlib.sha256((prev_hash + body).encode()).hexdigest() != digest:
                yield ("break", int(n), f"record {n} ({rid}): content does not match its hash")
            prev = digest
        last = int(rows[-1][0])
    yield ("end", last, prev)
