"""Online backup of the embedded store: one SQLite file holding the journal, tokens, the
record of decisions and the feed's tables.

`online_backup` copies it with SQLite's backup API while servers keep writing: the copy is
taken in one read transaction (``pages=-1``), so it is the database as of one commit — in
WAL mode a reader never blocks writers, and writers never make the copy restart. The copy
is written beside the target, checked (``PRAGMA integrity_check``), switched to the
rollback journal (a single self-contained file) and only then renamed into place, so a
failed backup never leaves a half-written file under the target's name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from graph.errors import StoreUnavailable

__all__ = ["BackupReport", "online_backup"]


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup holds: its file, its size in bytes, the journal's newest sequence number
    (the consistency token of the copy) and the number of decisions recorded."""

    path: Path
    bytes: int
    journal_head: int
    decisions: int


def _count(conn: sqlite3.Connection, sql: str) -> int:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.OperationalError:  # a store without that table yet (no decision recorded)
        return 0
    return int(row[0] or 0)


def online_backup(source: Path, target: Path) -> BackupReport:
    """Copy the store at `source` to `target` while it stays in use.

    Raises
    ------
    StoreUnavailable
        `source` is missing or unreadable, `target`'s directory is not writable, or the copy
        fails its integrity check (then nothing is left at `target`).
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise StoreUnavailable(f"{source}: no such store")
    if target.resolve() == source.resolve():
        raise StoreUnavailable(f"{target}: the backup cannot overwrite the store itself")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source, timeout=30.0)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=-1)  # one step: one consistent snapshot
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise StoreUnavailable(f"{target}: the copy failed its integrity check: {check}")
                dst.execute("PRAGMA journal_mode=DELETE")
                head = _count(dst, "SELECT MAX(seq) FROM events")
                decisions = _count(dst, "SELECT COUNT(*) FROM decisions")
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial, target)
    except sqlite3.Error as err:
        raise StoreUnavailable(f"backup of {source} to {target} failed: {err}") from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupReport(target, target.stat().st_size, head, decisions)
