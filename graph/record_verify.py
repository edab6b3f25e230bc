"""Verify the SQLite record of decisions: first-format rows, archive files, held rows, dictionary.

One pass in chain order, inside one read transaction of its own connection (recording goes
on meanwhile; what it appends after the snapshot is checked next time). Memory stays flat:
rows, dictionary entries and archive lines are read in pages or streamed, never all held.

For each record, in order: its number follows the previous one; its hash is
``SHA-256(previous hash + body + strings it introduced)``; the strings it introduced are the
dictionary's next entries (so an edited dictionary breaks the chain at the record that
introduced the entry). Each archive file must have the SHA-256 listed for it and continue the
chain from the hash before it; at the end, the chain's length and head must be what
``record_chain`` says, and every dictionary entry must belong to a record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from graph.audit import GENESIS, chain_hash
from graph.record_archive import file_sha256, read_archive
from graph.record_legacy import legacy_verify

__all__ = ["verify"]


class _Dictionary:
    """The dictionary in number order, read in pages, consumed record by record."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._page: list[tuple[int, str, int]] = []
        self._i = 0
        self._last = 0
        self.done = False

    def _peek(self) -> tuple[int, str, int] | None:
        if self._i >= len(self._page) and not self.done:
            rows = self._conn.execute("SELECT k, s, n FROM record_strings WHERE k > ? ORDER BY k LIMIT 10000", (self._last,)).fetchall()
            self._page, self._i = [(int(k), str(s), int(n)) for k, s, n in rows], 0
            if not rows:
                self.done = True
            else:
                self._last = self._page[-1][0]
        return self._page[self._i] if self._i < len(self._page) else None

    def orphans_before(self, n: int) -> Iterator[str]:
        """Messages for entries introduced by records before `n` that no record claimed."""
        while (e := self._peek()) is not None and e[2] < n:
            self._i += 1
            yield f"dictionary entry {e[0]} claims record {e[2]}, which introduced no such string"

    def introduced_by(self, n: int) -> list[tuple[int, str]]:
        """The entries introduced by record `n`."""
        out = []
        while (e := self._peek()) is not None and e[2] == n:
            self._i += 1
            out.append((e[0], e[1]))
        return out


def verify(path: Path) -> Iterator[str]:
    """Yield a message for every break (none: intact); see the module docstring."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        conn.execute("BEGIN")
        prev, expected = GENESIS, 0
        for kind, n, detail in legacy_verify(conn):
            if kind == "break":
                yield detail
            else:
                prev, expected = (bytes.fromhex(detail) if n else GENESIS), n
        words = _Dictionary(conn)
        archives = conn.execute("SELECT first_n, last_n, file, sha256, prev, head FROM record_archives ORDER BY first_n").fetchall()
        for first, last, file, sha, a_prev, a_head in archives:
            where = Path(file) if Path(file).is_absolute() else path.resolve().parent / file
            if first != expected + 1:
                yield f"archive {file}: starts at record {first}, expected {expected + 1}"
            if bytes(a_prev) != prev:
                yield f"archive {file}: listed as continuing from {bytes(a_prev).hex()[:12]}, the chain is at {prev.hex()[:12]}"
            if not where.exists():
                yield f"archive {file}: missing (records {first}..{last} cannot be checked)"
                prev, expected = bytes(a_head), int(last)
                continue
            if file_sha256(where) != sha:
                yield f"archive {file}: its SHA-256 is not the one recorded when it was written"
            try:
                _header, lines = read_archive(where)
                for n, body, introduced, digest in lines:
                    yield from words.orphans_before(n)
                    yield from _check(n, expected, prev, body, introduced, digest, words.introduced_by(n), f"archive {file}: ")
                    prev, expected = digest, n
            except (OSError, ValueError, EOFError) as err:
                yield f"archive {file}: cannot be read: {err}"
                prev, expected = bytes(a_head), int(last)
            if expected != last or prev != bytes(a_head):
                yield f"archive {file}: ends at record {expected} ({prev.hex()[:12]}), listed as {last} ({bytes(a_head).hex()[:12]})"
        at = 0
        while True:
            rows = conn.execute(
                "SELECT n, CAST(body AS BLOB), CAST(hash AS BLOB) FROM decisions WHERE n > ? ORDER BY n LIMIT 10000", (at,)
            ).fetchall()
            if not rows:
                break
            for n, body, digest in rows:
                n = int(n)
                yield from words.orphans_before(n)
                introduced = words.introduced_by(n)
                yield from _check(n, expected, prev, bytes(body), introduced, bytes(digest), introduced, "")
                prev, expected = bytes(digest), n
            at = int(rows[-1][0])
        head = conn.execute("SELECT n, head FROM record_chain WHERE id = 1").fetchone()
        says_n, says_head = (int(head[0]), bytes(head[1])) if head else (0, GENESIS)
        if (says_n, says_head) != (expected, prev):
            yield f"the chain holds {expected} records ending {prev.hex()[:12]}, its head says {says_n} ending {says_head.hex()[:12]}"
        yield from words.orphans_before(2**62)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _check(
    n: int,
    expected: int,
    prev: bytes,
    body: bytes,
    introduced: list[tuple[int, str]],
    digest: bytes,
    dictionary: list[tuple[int, str]],
    where: str,
) -> Iterator[str]:
    if n != expected + 1:
        yield f"{where}record {n}: follows record {expected} (records missing or out of order)"
    if introduced != dictionary:
        yield f"{where}record {n}: the dictionary entries it introduced were changed"
    if chain_hash(prev, body, introduced) != digest:
        yield f"{where}record {n}: content does not match its hash"
