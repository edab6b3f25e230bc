"""The record's dictionary of strings: each id, code or name is stored once and referred to by number.

A lean record (`graph.record_codec`) repeats a few dozen distinct strings per student and
provider (ids, reason codes, categories, edge ids). The SQLite record keeps each string once
in ``record_strings (k, s, n)``, ``n`` being the record that introduced it, and the record's
body holds the numbers. The dictionary is append-only and covered by the hash chain: a
record's hash includes the strings it introduced, so editing the dictionary breaks the chain
at the record that introduced the entry (`SqliteAuditLog.verify`).

Numbers are only learnt from committed rows (a rolled-back write forgets what it added), so
a process's cache never holds a number another process could give to another string.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

__all__ = ["SCHEMA", "Strings"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS record_strings (
    k  INTEGER PRIMARY KEY,
    s  TEXT NOT NULL UNIQUE,
    n  INTEGER NOT NULL
);
"""

CACHE_LIMIT: Final = 400_000
"""Strings kept in a process's caches (about 60 MB); past it they start afresh."""


class Strings:
    """Numbers for strings and back, over one SQLite connection (caller holds its lock)."""

    def __init__(self) -> None:
        self.known: dict[str, int] = {}
        """Numbers of strings, committed or added by the open transaction (`rolled_back` removes those)."""
        self._text: dict[int, str] = {}
        self._pending: list[str] = []
        self.new: list[tuple[int, str]] = []
        """Strings added by the open transaction, in number order (each record's part of its hash)."""

    # -- writing (inside the record's write transaction)

    def begin(self) -> None:
        """Start a write transaction's work (nothing pending)."""
        self._pending = []
        self.new = []
        if len(self.known) >= CACHE_LIMIT:
            self.known.clear()
            self._text.clear()

    def add(self, conn: sqlite3.Connection, s: str, n: int) -> int:
        """The number of `s` when `known` does not have it: read, or added as introduced by record `n`."""
        row = conn.execute("SELECT k FROM record_strings WHERE s = ?", (s,)).fetchone()
        if row is not None:
            k = int(row[0])
        else:
            k = int(conn.execute("INSERT INTO record_strings (s, n) VALUES (?, ?)", (s, n)).lastrowid or 0)
            self._pending.append(s)
            self.new.append((k, s))
        self.known[s] = k
        return k

    def committed(self) -> None:
        """The transaction committed: what it added stays known."""
        self._pending = []

    def rolled_back(self) -> None:
        """The transaction rolled back: forget what it added (another writer may give those numbers to other strings)."""
        for s in self._pending:
            self.known.pop(s, None)
        self._pending = []
        self.new = []

    # -- reading

    def texts(self, conn: sqlite3.Connection, keys: Iterable[int]) -> dict[int, str]:
        """The strings of `keys` (committed), from the cache or the table."""
        out: dict[int, str] = {}
        missing: list[int] = []
        for k in set(keys):
            t = self._text.get(k)
            if t is None:
                missing.append(k)
            else:
                out[k] = t
        for i in range(0, len(missing), 500):
            part = missing[i : i + 500]
            marks = ",".join("?" * len(part))
            for k, s in conn.execute(f"SELECT k, s FROM record_strings WHERE k IN ({marks})", part):
                out[int(k)] = str(s)
                self._remember(str(s), int(k))
        return out

    def lookup(self, conn: sqlite3.Connection, s: str) -> int | None:
        """The number of `s` if it was ever stored, else None (no write)."""
        k = self.known.get(s)
        if k is not None:
            return k
        row = conn.execute("SELECT k FROM record_strings WHERE s = ?", (s,)).fetchone()
        return None if row is None else int(row[0])

    def _remember(self, s: str, k: int) -> None:
        if len(self._text) >= CACHE_LIMIT:
            self._text.clear()
        self._text[k] = s
