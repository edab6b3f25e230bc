"""The record of requests and disclosures (DOMAIN.md, "Record of requests and disclosures").

Every decision, allow and deny, is written here before it is answered. The record is
append-only and tamper-evident: each row carries the SHA-256 of the previous row's hash
and its own content, so an edited or deleted row breaks the chain (`verify`). It lives
in the same SQLite file as the journal, in its own table. 34 CFR 99.32 requires a record
of each request for and disclosure of personally identifiable information.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from graph.decision import Decision
from graph.errors import AuditUnavailable
from graph.evidence import Evidence
from graph.timeutil import ensure_aware, to_iso, utcnow

__all__ = ["AuditLog", "Caller", "SqliteAuditLog", "evidence_summary", "record_body"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS decisions (
    n              INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    student_id     TEXT NOT NULL,
    provider_id    TEXT NOT NULL,
    request_time   TEXT NOT NULL,
    decision_time  TEXT NOT NULL,
    as_of          TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    body           TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_student ON decisions (student_id, decision_time);
"""

GENESIS: Final = "0" * 64


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked: the token's subject and role, and the client application if any."""

    role: str = "operator"
    subject: str | None = None
    application: str | None = None
    partner_ids: tuple[str, ...] = field(default=())


def evidence_summary(ev: Evidence) -> dict[str, Any]:
    """What DOMAIN.md asks the record to hold of the evidence: consents and signers,
    agreement and training versions and expiry, communities, services and programs."""
    return {
        "consents": [
            {
                "id": c.consent.id,
                "kind": str(c.consent.consent_kind),
                "status": str(c.consent.status),
                "signers": sorted(g.to_id for g in c.given_by),
                "recipients": sorted(p.to_id for p in c.permits),
                "expires_at": to_iso(c.consent.expires_at),
                "revoked_at": to_iso(c.consent.revoked_at),
            }
            for c in ev.consents
        ],
        "agreements": [
            {
                "agreement": s.agreement.id,
                "version": s.version,
                "signed_at": to_iso(s.edge.valid_from),
                "expires_at": to_iso(s.edge.valid_to),
            }
            for s in ev.agreements
        ],
        "trainings": [
            {"course": t.to_id, "completed_at": to_iso(t.valid_from), "expires_at": to_iso(t.valid_to)} for t in ev.trainings
        ],
        "provider_communities": sorted({w.to_id for w in ev.works_in}),
        "student_schools": sorted({a.to_id for a in ev.attends}),
        "services": [
            {"id": s.id, "from": s.from_id, "program": s.program, "status": str(s.status), "valid_to": to_iso(s.valid_to)}
            for s in ev.services
        ],
    }


def record_body(d: Decision, rid: str, requested: str, decided: str, caller: Caller) -> str:
    """The JSON body of a record (canonical: sorted keys, no spaces), hashed into the chain.

    One shape for every store of the record (SQLite here, Neo4j in `graph.audit_neo4j`).
    """
    return json.dumps(
        {
            **d.to_dict(path_ids_only=True),
            "id": rid,
            "request_time": requested,
            "decision_time": decided,
            "asked_by": {
                "role": caller.role,
                "subject": caller.subject,
                "application": caller.application,
                "partners": list(caller.partner_ids),
            },
            "evidence": evidence_summary(d.evidence),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


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

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The record with this id (its JSON body), or None."""
        ...

    def count(self) -> int:
        """Number of records."""
        ...

    def verify(self) -> Iterator[str]:
        """A message for every break of the hash chain(s); none when intact."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class SqliteAuditLog:
    """Hash-chained decision records in a SQLite file (WAL), safe across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise AuditUnavailable(f"cannot open the record of decisions {self.path}: {err}") from err
        self.conn.execute("CREATE TABLE IF NOT EXISTS readiness_probe (payload BLOB NOT NULL)")
        self.available = True
        self.last_failure: str | None = None
        """Why the last write failed (SQLite's words, e.g. "database or disk is full"), until one succeeds."""

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
        """Write every decision in one transaction, chained to the last row; return record ids.

        Raises
        ------
        AuditUnavailable
            The file cannot be written (or `available` was switched off for a drill).
        """
        if not decisions:
            return []
        if not self.available:
            raise AuditUnavailable("the record of decisions is switched off")
        decided = to_iso(utcnow())
        requested = to_iso(ensure_aware(request_time))
        ids: list[str] = []
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                row = self.conn.execute("SELECT hash FROM decisions ORDER BY n DESC LIMIT 1").fetchone()
                prev = row[0] if row else GENESIS
                rows = []
                for d in decisions:
                    rid = str(uuid.uuid4())
                    body = record_body(d, rid, requested or "", decided or "", caller)
                    digest = hashlib.sha256((prev + body).encode()).hexdigest()
                    rows.append(
                        (
                            rid,
                            d.request.student_id,
                            d.request.provider_id,
                            requested,
                            decided,
                            to_iso(d.request.at),
                            str(d.outcome),
                            body,
                            prev,
                            digest,
                        )
                    )
                    prev = digest
                    ids.append(rid)
                self.conn.executemany(
                    "INSERT INTO decisions (id, student_id, provider_id, request_time, decision_time, as_of, outcome, body,"
                    " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.last_failure = str(err)
                raise AuditUnavailable(f"cannot write the record of decisions: {err}") from err
        self.last_failure = None
        return ids

    def for_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """Records about a student with decision time in ``[start, end)``, oldest first."""
        sql = "SELECT body FROM decisions WHERE student_id = ?"
        args: list[Any] = [student_id]
        if start is not None:
            sql += " AND decision_time >= ?"
            args.append(to_iso(ensure_aware(start)))
        if end is not None:
            sql += " AND decision_time < ?"
            args.append(to_iso(ensure_aware(end)))
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY n", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The record with this id (its JSON body), or None."""
        with self._lock:
            row = self.conn.execute("SELECT body FROM decisions WHERE id = ?", (decision_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def count(self) -> int:
        """Number of records."""
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    def verify(self) -> Iterator[str]:
        """Yield a message for every row whose hash chain does not hold (none: intact).

        Streams the records in pages of 10,000 (memory stays flat however long the record is).
        """
        prev, last = GENESIS, 0
        while True:
            with self._lock:
                rows = self.conn.execute(
                    "SELECT n, id, body, prev_hash, hash FROM decisions WHERE n > ? ORDER BY n LIMIT 10000", (last,)
                ).fetchall()
            if not rows:
                return
            for n, rid, body, prev_hash, digest in rows:
                if prev_hash != prev:
                    yield f"record {n} ({rid}): chain broken before it"
                if hashlib.sha256((prev_hash + body).encode()).hexdigest() != digest:
                    yield f"record {n} ({rid}): content does not match its hash"
                prev = digest
            last = int(rows[-1][0])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
