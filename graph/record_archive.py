"""Archive files of the record of decisions: old rows moved out, the hash chain continued.

DOMAIN.md keeps the record as long as the student's records are; most of it is never read
again. `archive` moves the oldest rows, up to the last one decided before a date, into one
xz-compressed JSON Lines file and removes them from the SQLite file in one transaction:

- line 1, the header: ``{"format": "needtoknow-record-archive", "version": 1, "first_n",
  "last_n", "count", "prev", "head", "before", "created_at"}`` (hashes in hex);
- then one line per record: ``[n, body (base64), [[k, string], ...], hash (hex)]`` -- the
  row's stored bytes, the dictionary strings it introduced, and its chain hash.

``record_archives`` in the SQLite file lists each file with its SHA-256, first and last
record and the chain hash before and after it, so `verify` checks the file is the one
written, then the chain through it and on into the rows still held. The dictionary stays in
the SQLite file (held rows may use its strings). Records written while an archive runs get
numbers after the archived ones and are never touched; a second archive running at the same
time finds the rows gone and stops without removing anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import lzma
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from graph.errors import AuditUnavailable, PreconditionFailed
from graph.record_codec import to_us, unpack
from graph.timeutil import to_iso, utcnow

if TYPE_CHECKING:
    from graph.audit import SqliteAuditLog

__all__ = ["FORMAT", "archive", "file_sha256", "read_archive"]

FORMAT: Final = "needtoknow-record-archive"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_archive(path: Path) -> tuple[dict[str, Any], Iterator[tuple[int, bytes, list[tuple[int, str]], bytes]]]:
    """An archive's header and an iterator over its records ``(n, body, introduced, hash)`` (streamed).

    Raises
    ------
    ValueError
        The file is not an archive of this format.
    OSError, lzma.LZMAError
        It cannot be read or decompressed.
    """
    f = lzma.open(path, "rt", encoding="utf-8")  # noqa: SIM115 - closed by the row iterator (or below)
    header = json.loads(f.readline())
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        f.close()
        raise ValueError(f"{path}: not a record archive")

    def rows() -> Iterator[tuple[int, bytes, list[tuple[int, str]], bytes]]:
        with f:
            for line in f:
                n, body, introduced, digest = json.loads(line)
                yield int(n), base64.b64decode(body), [(int(k), str(s)) for k, s in introduced], bytes.fromhex(digest)

    return header, rows()


def _decided_us(body: bytes) -> int:
    return int(unpack(body)[5])


def _boundary(conn: sqlite3.Connection, before_us: int) -> tuple[int, int] | None:
    """(first, last) held record numbers to archive: the prefix decided before `before_us` (binary search on n)."""
    lo_row = conn.execute("SELECT MIN(n), MAX(n) FROM decisions").fetchone()
    if lo_row is None or lo_row[0] is None:
        return None
    first, hi = int(lo_row[0]), int(lo_row[1])

    def decided(n: int) -> int:
        row = conn.execute("SELECT n, body FROM decisions WHERE n >= ? ORDER BY n LIMIT 1", (n,)).fetchone()
        return _decided_us(bytes(row[1]))

    if decided(first) >= before_us:
        return None
    lo = first  # decided(lo) < before: decision times never decrease along the chain
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if decided(mid) < before_us:
            lo = mid
        else:
            hi = mid - 1
    last = conn.execute("SELECT MAX(n) FROM decisions WHERE n <= ?", (lo,)).fetchone()[0]
    return first, int(last)


def archive(audit: SqliteAuditLog, before: datetime, directory: Path) -> dict[str, Any] | None:
    """Move held records decided before `before` into a file in `directory` (see the module docstring).

    Returns the archive's row of ``record_archives`` as a dict, or None when no held record
    is that old.

    Raises
    ------
    AuditUnavailable
        The file cannot be written, the SQLite file cannot be changed, or another archive
        removed these rows meanwhile; nothing was removed then.
    """
    directory.mkdir(parents=True, exist_ok=True)
    reader = sqlite3.connect(audit.path, isolation_level=None, timeout=30.0)
    tmp: Path | None = None
    try:
        reader.execute("BEGIN")  # one snapshot for the whole read
        span = _boundary(reader, to_us(before))
        if span is None:
            reader.execute("ROLLBACK")
            return None
        first, last = span
        prev_row = reader.execute("SELECT head FROM record_archives ORDER BY first_n DESC LIMIT 1").fetchone()
        prev = bytes(prev_row[0]) if prev_row else _head_before(reader, first)
        expected = int(reader.execute("SELECT COUNT(*) FROM decisions WHERE n >= ? AND n <= ?", (first, last)).fetchone()[0])
        last_hash = bytes(reader.execute("SELECT hash FROM decisions WHERE n = ?", (last,)).fetchone()[0])
        # Unique per attempt: a concurrent archive of the same rows writes its own file (and removes it when it loses).
        name = f"records-{first:012d}-{last:012d}-{uuid.uuid4().hex[:8]}.jsonl.xz"
        final, tmp = directory / name, directory / (name + ".part")
        header = {
            "format": FORMAT,
            "version": 1,
            "first_n": first,
            "last_n": last,
            "count": expected,
            "prev": prev.hex(),
            "head": last_hash.hex(),
            "before": to_iso(before),
            "created_at": to_iso(utcnow()),
        }
        count, head = 0, prev
        with lzma.open(tmp, "wt", encoding="utf-8", preset=6) as out:
            out.write(json.dumps(header, separators=(",", ":")) + "\n")
            for n, body, introduced, digest in _held_rows(reader, first, last):
                out.write(json.dumps([n, base64.b64encode(body).decode("ascii"), introduced, digest.hex()], separators=(",", ":")) + "\n")
                count, head = count + 1, digest
        if count != expected or head != last_hash:
            raise AuditUnavailable(f"records {first}..{last} changed while they were read; nothing archived")
        reader.execute("ROLLBACK")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        tmp = None
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        digest_hex = file_sha256(final)
        stored = _relative(final, audit.path)
        try:
            _commit(audit, first, last, stored, digest_hex, prev, head, before)
        except (PreconditionFailed, sqlite3.Error):
            final.unlink()  # not listed: the file was never part of the record
            raise
        return {"first_n": first, "last_n": last, "count": count, "file": str(final), "sha256": digest_hex, "head": head.hex()}
    except (OSError, sqlite3.Error) as err:
        raise AuditUnavailable(f"cannot archive the record of decisions: {err}") from err
    finally:
        reader.close()
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _held_rows(conn: sqlite3.Connection, first: int, last: int) -> Iterator[tuple[int, bytes, list[tuple[int, str]], bytes]]:
    """Held rows first..last with the strings each introduced, in pages."""
    at = first - 1
    while at < last:
        rows = conn.execute("SELECT n, body, hash FROM decisions WHERE n > ? AND n <= ? ORDER BY n LIMIT 5000", (at, last)).fetchall()
        if not rows:
            return
        lo, hi = int(rows[0][0]), int(rows[-1][0])
        introduced: dict[int, list[tuple[int, str]]] = {}
        for k, s, n in conn.execute("SELECT k, s, n FROM record_strings WHERE n >= ? AND n <= ? ORDER BY k", (lo, hi)):
            introduced.setdefault(int(n), []).append((int(k), str(s)))
        for n, body, digest in rows:
            yield int(n), bytes(body), introduced.get(int(n), []), bytes(digest)
        at = hi


def _head_before(conn: sqlite3.Connection, first: int) -> bytes:
    """The chain hash before held record `first` when no archive precedes it: the first format's head, or genesis."""
    from graph.audit import GENESIS
    from graph.record_legacy import legacy_verify

    for kind, _n, head in legacy_verify(conn):
        if kind == "end":
            return bytes.fromhex(head) if _n else GENESIS
    return GENESIS


def _relative(path: Path, db: Path) -> str:
    try:
        return str(path.resolve().relative_to(db.resolve().parent))
    except ValueError:
        return str(path.resolve())


def _commit(audit: SqliteAuditLog, first: int, last: int, file: str, sha: str, prev: bytes, head: bytes, before: datetime) -> None:
    """List the archive and remove its rows, in one write transaction, if they are still all held."""
    conn = audit.conn
    with audit._lock:
        try:
            conn.execute("BEGIN IMMEDIATE")
            held = conn.execute("SELECT COUNT(*), MIN(n) FROM decisions WHERE n <= ?", (last,)).fetchone()
            if int(held[0]) != last - first + 1 or held[1] != first:
                raise PreconditionFailed("archive_conflict", f"records {first}..{last} changed while they were archived (another archive?)")
            conn.execute(
                "INSERT INTO record_archives (first_n, last_n, file, sha256, prev, head, before, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (first, last, file, sha, prev, head, to_iso(before), to_iso(utcnow())),
            )
            conn.execute("DELETE FROM decisions WHERE n <= ?", (last,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
