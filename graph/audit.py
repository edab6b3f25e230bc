"""The record of requests and disclosures (DOMAIN.md, "Record of requests and disclosures").

Every decision, allow and deny, is written here before it is answered. The record is
append-only and tamper-evident: each row's hash is the SHA-256 of the previous row's hash,
its own bytes and the dictionary strings it introduced, so an edited, deleted or inserted
row, or an edited dictionary entry, breaks the chain (`verify`); ``record_chain`` holds the
chain's length and head, so a chain cut short shows too. It lives in the same SQLite file as
the journal, in its own tables. 34 CFR 99.32 requires a record of each request for and
disclosure of personally identifiable information.

A row is lean (`graph.record_codec`): what was asked and answered, with the evidence kept as
a reference into the journal (its consistency token), strings stored once
(`graph.record_strings`). Concurrent callers share one commit (`graph.group_commit`); each
returns only once the transaction holding its record has committed. Old rows can be moved
into compressed archive files that continue the chain (`archive`, `graph.record_archive`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from graph.decision import Decision
from graph.errors import AuditUnavailable
from graph.group_commit import GroupCommit
from graph.record_codec import FORMAT, Lean, from_us, map_strings, pack, to_body, to_us, unpack
from graph.record_strings import SCHEMA as STRINGS_SCHEMA
from graph.record_strings import Strings
from graph.timeutil import ensure_aware, utcnow
from graph.wal_checkpoints import BACKSTOP_PAGES, BackgroundCheckpoints

__all__ = ["GENESIS", "AuditLog", "Caller", "SqliteAuditLog", "chain_hash"]

SCHEMA: Final = (
    STRINGS_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS record_chain (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    n     INTEGER NOT NULL,
    head  BLOB NOT NULL,
    t     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    n        INTEGER PRIMARY KEY,
    student  INTEGER NOT NULL,
    body     BLOB NOT NULL,
    hash     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_student ON decisions (student);
CREATE TABLE IF NOT EXISTS record_archives (
    first_n     INTEGER PRIMARY KEY,
    last_n      INTEGER NOT NULL,
    file        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    prev        BLOB NOT NULL,
    head        BLOB NOT NULL,
    before      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
"""
)
"""``decisions.n`` is the record's place in the chain (its id); ``student`` and ``body`` hold
dictionary numbers; ``record_chain`` the length, head hash and last decision time (µs)."""

GENESIS: Final = bytes(32)
"""The hash before the first record."""

PAGE: Final = 5000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked: the token's subject and role, and the client application if any."""

    role: str = "operator"
    subject: str | None = None
    application: str | None = None
    partner_ids: tuple[str, ...] = field(default=())


def chain_hash(prev: bytes, body: bytes, introduced: Sequence[tuple[int, str]]) -> bytes:
    """SHA-256 of the previous hash, a row's body and the dictionary strings it introduced."""
    return hashlib.sha256(prev + body + pack(tuple(introduced))).digest()


class AuditLog(Protocol):
    """Where decisions are recorded before they are answered (SQLite: `SqliteAuditLog`; Neo4j:
    `graph.audit_neo4j.Neo4jAuditLog`)."""

    available: bool
    """False switches recording off (a drill): every answer becomes deny(audit_unavailable)."""

    def record(self, decisions: Sequence[Decision], caller: Caller, request_time: datetime) -> list[str]:
        """Durably write the decisions; return their record ids.

        Raises AuditUnavailable when they cannot be written (the caller must then deny).
        """
        ...

    def probe(self) -> str | None:
        """None when a real write would succeed now, else the cause (readiness)."""
        ...

    def for_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """Records about a student with decision time in ``[start, end)``, oldest first."""
        ...

    def stream_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> Iterator[dict[str, Any]]:
        """The same records as `for_student`, read in pages (memory stays flat however many there are)."""
        ...

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The record with this id (its JSON body), or None."""
        ...

    def count(self) -> int:
        """Number of records (held in the store, archived ones excluded)."""
        ...

    def verify(self) -> Iterator[str]:
        """A message for every break of the hash chain(s); none when intact."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


_Who = tuple[str, str | None, str | None, tuple[str, ...]]
"""The caller as recorded: role, subject, application, partner ids."""
_Item = tuple[Decision, _Who, datetime]


class SqliteAuditLog:
    """Hash-chained lean decision records in a SQLite file (WAL), safe across processes.

    Parameters
    ----------
    path : Path
        The SQLite file (the embedded store's journal file).

    Raises
    ------
    AuditUnavailable
        The file cannot be opened or its tables created.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._strings = Strings()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints are taken off the answer's path (graph.wal_checkpoints); this is the backstop.
            self.conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            self._migrate()
            self.conn.executescript(SCHEMA)
            self.conn.execute("CREATE TABLE IF NOT EXISTS readiness_probe (payload BLOB NOT NULL)")
        except sqlite3.Error as err:
            raise AuditUnavailable(f"cannot open the record of decisions {self.path}: {err}") from err
        self._group: GroupCommit[_Item, str] = GroupCommit(self._write)
        self.checkpoints = BackgroundCheckpoints(self.path)
        self.available = True
        self.last_failure: str | None = None
        """Why the last write failed (SQLite's words, e.g. "database or disk is full"), until one succeeds."""

    def _migrate(self) -> None:
        """Rename a record of the first format (JSON bodies, hex chain) to ``decisions_v1``; the new chain continues from its head."""
        from graph.record_legacy import migrate

        migrate(self.conn)

    # ------------------------------------------------------------------ writing

    def probe(self) -> str | None:
        """Try a real write the size of a large record (inserted and deleted in one committed
        transaction): None when it succeeds, else the cause. Updates `last_failure`."""
        if not self.available:
            return "the record of decisions is switched off"
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("INSERT INTO readiness_probe (payload) VALUES (zeroblob(16384))")
                self.conn.execute("DELETE FROM readiness_probe")
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.last_failure = str(err)
                return self.last_failure
        self.last_failure = None
        return None

    def record(self, decisions: Sequence[Decision], caller: Caller, request_time: datetime) -> list[str]:
        """Write every decision, chained to the last row; return record ids once committed.

        Concurrent calls share one transaction (group commit); none returns before the
        transaction holding its decisions has committed.

        Raises
        ------
        AuditUnavailable
            The file cannot be written (or `available` was switched off for a drill).
        """
        if not decisions:
            return []
        if not self.available:
            raise AuditUnavailable("the record of decisions is switched off")
        who = (caller.role, caller.subject, caller.application, tuple(caller.partner_ids))
        requested = ensure_aware(request_time)
        return self._group.submit([(d, who, requested) for d in decisions])

    def _write(self, items: list[_Item]) -> list[str]:
        """One transaction: encode, chain and insert every item; advance the chain head."""
        conn, strings = self.conn, self._strings
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                strings.begin()
                head = conn.execute("SELECT n, head, t FROM record_chain WHERE id = 1").fetchone()
                n, prev, last_t = (int(head[0]), bytes(head[1]), int(head[2])) if head else (0, GENESIS, 0)
                # Decision time is taken under the write lock, so it never decreases along the chain.
                decided = from_us(max(to_us(utcnow()), last_t))
                rows, ids = [], []
                k, us = self._numbering(lambda: n)
                for d, who, requested in items:
                    n += 1
                    start = len(strings.new)
                    body, student = _encode_decision(d, who, requested, decided, k, us)
                    prev = chain_hash(prev, body, strings.new[start:])
                    rows.append((n, student, body, prev))
                    ids.append(str(n))
                conn.executemany("INSERT INTO decisions (n, student, body, hash) VALUES (?, ?, ?, ?)", rows)
                conn.execute("INSERT OR REPLACE INTO record_chain (id, n, head, t) VALUES (1, ?, ?, ?)", (n, prev, to_us(decided)))
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                strings.rolled_back()
                self.last_failure = str(err)
                raise AuditUnavailable(f"cannot write the record of decisions: {err}") from err
            strings.committed()
        self.checkpoints.nudge()
        self.last_failure = None
        return ids

    def _numbering(self, current: Callable[[], int]) -> tuple[Callable[[str], int], Callable[[datetime], int]]:
        """Per write transaction: a string's dictionary number (added as introduced by record
        ``current()`` when new) and an instant's microseconds (each distinct instant of a batch
        converted once)."""
        strings, conn = self._strings, self.conn
        get = strings.known.get
        times: dict[datetime, int] = {}

        def k(s: str) -> int:
            v = get(s)
            return v if v is not None else strings.add(conn, str(s), current())

        def us(t: datetime) -> int:
            v = times.get(t)
            if v is None:
                v = times[t] = to_us(t)
            return v

        return k, us

    # ------------------------------------------------------------------ reading

    def _decode(self, conn: sqlite3.Connection, rows: Sequence[tuple[int, bytes]]) -> list[tuple[int, Lean]]:
        """Rows (n, body) back to lean records with their strings."""
        unpacked = [(n, unpack(body)) for n, body in rows]
        wanted: list[int] = []

        def collect(k: Any) -> Any:
            wanted.append(k)
            return k

        for _, r in unpacked:
            map_strings((*r[:-1], None), collect)
            if isinstance(r[-1], tuple):
                wanted.append(r[-1][0])
        texts = self._strings.texts(conn, wanted)
        out = []
        for n, r in unpacked:
            token = r[-1]
            text = str(token) if isinstance(token, int) else (texts[token[0]] if token is not None else None)
            out.append((n, (*map_strings((*r[:-1], None), texts.__getitem__)[:-1], text)))
        return out

    def stream_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Records about a student with decision time in ``[start, end)``, oldest first, read in pages.

        Memory stays flat whatever the number of records (one page of `PAGE` at a time).
        Records of the first format (``decisions_v1``) come first; archived records are in
        the archive files (`graph.record_archive`), not here.
        """
        from graph.record_legacy import legacy_for_student

        yield from legacy_for_student(self.conn, self._lock, student_id, start, end)
        lo = to_us(ensure_aware(start)) if start is not None else None
        hi = to_us(ensure_aware(end)) if end is not None else None
        with self._lock:
            key = self._strings.lookup(self.conn, student_id)
        if key is None:
            return
        last = 0
        while True:
            with self._lock:
                rows = self.conn.execute(
                    "SELECT n, body FROM decisions WHERE student = ? AND n > ? ORDER BY n LIMIT ?", (key, last, PAGE)
                ).fetchall()
                decoded = self._decode(self.conn, rows)
            if not decoded:
                return
            for n, r in decoded:
                if (lo is None or r[5] >= lo) and (hi is None or r[5] < hi):
                    yield to_body(r, str(n))
            last = decoded[-1][0]

    def for_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """Records about a student with decision time in ``[start, end)``, oldest first."""
        return list(self.stream_student(student_id, start, end))

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The record with this id (its JSON body), or None (also for an archived record)."""
        if not decision_id.isdigit() or len(decision_id) > 18:
            from graph.record_legacy import legacy_get

            return legacy_get(self.conn, self._lock, decision_id)
        with self._lock:
            row = self.conn.execute("SELECT n, body FROM decisions WHERE n = ?", (int(decision_id),)).fetchone()
            if row is None:
                return None
            [(n, r)] = self._decode(self.conn, [row])
        return to_body(r, str(n))

    def count(self) -> int:
        """Number of records held in the file (archived ones excluded)."""
        from graph.record_legacy import legacy_count

        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]) + legacy_count(self.conn)

    def chain_length(self) -> int:
        """Records ever chained (held, archived and of the first format)."""
        with self._lock:
            row = self.conn.execute("SELECT n FROM record_chain WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def verify(self) -> Iterator[str]:
        """Yield a message for every break of the chain (none: intact), archives included.

        Streams the record in pages inside one read transaction of its own connection
        (`graph.record_verify`): memory stays flat however long the record is.
        """
        from graph.record_verify import verify

        yield from verify(self.path)

    def archive(self, before: datetime, directory: Path) -> dict[str, Any] | None:
        """Move the records decided before `before` into one compressed file in `directory`.

        The oldest records up to the last one decided before `before` leave the file for the
        archive; the chain continues across it (`graph.record_archive`). Returns the archive's
        description, or None when no record is that old.

        Raises
        ------
        AuditUnavailable
            The file or the archive cannot be written; nothing was removed.
        """
        from graph.record_archive import archive

        return archive(self, ensure_aware(before), directory)

    def close(self) -> None:
        """Stop the checkpoint thread; close the connection."""
        self.checkpoints.close()
        self.conn.close()


def _encode_decision(
    d: Decision, who: _Who, requested: datetime, decided: datetime, k: Callable[[str], int], us: Callable[[datetime], int]
) -> tuple[bytes, int]:
    """The stored body of decision `d` and its student's number: the bytes of
    ``lean(d, who, requested, decided)`` with every string as its dictionary number, in one pass.

    This runs for every decision answered: it reads the decision once and looks each string
    up once (`k`; the enums are `str`, so their members are their own keys), each distinct
    instant converted once (`us`). `tests/record/test_record_encoding.py` holds what it stores
    to `graph.record_codec.lean` (decoded, every record equals it).
    """
    req = d.request
    # Strings are numbered in the reference order (token, student, provider, caller, ...): a
    # record's hash covers the strings it introduced, in number order.
    token = d.consistency_token
    stored: Any = None
    if token is not None:
        stored = int(token) if token.isdigit() and (token == "0" or token[0] != "0") else [k(token)]
    student_key = k(req.student_id)
    role, subject, application, partners = who
    body = (
        FORMAT,
        k(req.provider_id),
        student_key,
        us(req.at),
        us(requested),
        us(decided),
        (k(role), None if subject is None else k(subject), None if application is None else k(application), [k(p) for p in partners]),
        None if req.purpose is None else k(req.purpose),
        None if req.categories is None else [k(c) for c in sorted(req.categories)],
        k(d.outcome),
        [k(c) for c in sorted(d.released)],
        [(k(r.code), None if r.ref is None else k(r.ref), None if r.category is None else k(r.category)) for r in d.reasons],
        [(k(step.condition), [k(e.id) for e in step.edges]) for step in d.path],
        k(d.policy_version),
        stored,
    )
    return pack(body), student_key
