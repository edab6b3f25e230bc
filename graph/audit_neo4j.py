"""The record of decisions in Neo4j: every API instance over one database shares it.

DESIGN.md ("What lives where"): with the Neo4j backend the record lives in Neo4j, so a
guardian's record of disclosures is complete whichever instance answered, and `verify`
checks every instance's records. Tamper evidence across instances: **one hash chain per
writer** (an `Neo4jAuditLog` instance, i.e. one API process) — each record carries the
SHA-256 of its chain's previous record and its own body, and ``(:NtkChain {id, n, head})``
holds each chain's length and last hash, so an edited, deleted or inserted record, or a
chain cut short, shows in `verify`. Writers never contend for one chain head, so recording
stays one short transaction. Records are written before answers; a failed write raises
`AuditUnavailable` and the engine answers deny(audit_unavailable), as with SQLite.

Nodes: ``(:NtkDecision {id, chain, n, student_id, decision_time, body, prev_hash, hash})``;
``(:NtkChain {id, n, head, created_at})``. ``body`` is the lean record's canonical bytes
(`graph.record_codec`: what was asked and answered, the evidence as its consistency token),
``hash`` the hex SHA-256 of ``prev_hash`` (hex) and ``body``. Times are ISO 8601 text in UTC.
Concurrent callers in one process share one transaction (`graph.group_commit`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import neo4j
import neo4j.exceptions as ne

from graph.audit import Caller
from graph.decision import Decision
from graph.errors import AuditUnavailable
from graph.group_commit import GroupCommit
from graph.record_codec import lean, pack, to_body, unpack
from graph.timeutil import ensure_aware, to_iso, utcnow

if TYPE_CHECKING:
    from graph.stores.neo4j import Neo4jStore

__all__ = ["Neo4jAuditLog"]

GENESIS: Final = "0" * 64

_Item = tuple[Decision, tuple[str, str | None, str | None, tuple[str, ...]], datetime]

SCHEMA: Final = (
    "CREATE CONSTRAINT ntk_decision_id IF NOT EXISTS FOR (d:NtkDecision) REQUIRE d.id IS UNIQUE",
    "CREATE CONSTRAINT ntk_chain_id IF NOT EXISTS FOR (c:NtkChain) REQUIRE c.id IS UNIQUE",
    "CREATE INDEX ntk_decision_student IF NOT EXISTS FOR (d:NtkDecision) ON (d.student_id, d.decision_time)",
    "CREATE INDEX ntk_decision_chain IF NOT EXISTS FOR (d:NtkDecision) ON (d.chain, d.n)",
)

OPEN_CHAIN: Final = "MERGE (c:NtkChain {id: $chain}) ON CREATE SET c.n = 0, c.head = $genesis, c.created_at = $now RETURN c.n AS n"

APPEND: Final = """
MATCH (c:NtkChain {id: $chain})
SET c.n = c.n + size($rows), c.head = $head
WITH c
UNWIND $rows AS row
CREATE (d:NtkDecision)
SET d = row
"""

CHAIN_HEAD: Final = "MATCH (c:NtkChain {id: $chain}) SET c.touched = true RETURN c.n AS n, c.head AS head"
"""Read this writer's chain head under the node's write lock (the SET takes it)."""


class Neo4jAuditLog:
    """Hash-chained decision records in Neo4j; one chain per instance of this class.

    Parameters
    ----------
    store : Neo4jStore
        Its driver and database are used (one connection pool per process).
    chain : str | None
        This writer's chain id; default a fresh ``chain-<uuid>`` (one per API process).

    Raises
    ------
    AuditUnavailable
        The schema or the chain cannot be created.
    """

    def __init__(self, store: Neo4jStore, chain: str | None = None) -> None:
        self._store = store
        self.chain = chain or f"chain-{uuid.uuid4().hex[:16]}"
        self._lock = threading.Lock()
        self.available = True
        self.last_failure: str | None = None
        try:
            with self._session() as session:
                for stmt in SCHEMA:
                    session.run(stmt).consume()
                session.run(OPEN_CHAIN, chain=self.chain, genesis=GENESIS, now=to_iso(utcnow())).consume()
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise AuditUnavailable(f"cannot open the record of decisions in Neo4j: {err}") from err
        self._group: GroupCommit[_Item, str] = GroupCommit(self._write)

    def _session(self) -> neo4j.Session:
        return self._store._driver.session(database=self._store.database)

    def record(self, decisions: Sequence[Decision], caller: Caller, request_time: datetime) -> list[str]:
        """Write every decision, chained to this writer's head; return record ids once committed.

        Concurrent calls share one transaction (group commit).

        Raises
        ------
        AuditUnavailable
            Neo4j cannot be written (or `available` was switched off for a drill).
        """
        if not decisions:
            return []
        if not self.available:
            raise AuditUnavailable("the record of decisions is switched off")
        who = (caller.role, caller.subject, caller.application, tuple(caller.partner_ids))
        requested = ensure_aware(request_time)
        return self._group.submit([(d, who, requested) for d in decisions])

    def _write(self, items: list[_Item]) -> list[str]:
        decided = utcnow()
        decided_iso = to_iso(decided)
        ids: list[str] = []
        with self._lock:
            try:
                with self._session() as session, session.begin_transaction() as tx:
                    head = tx.run(CHAIN_HEAD, chain=self.chain).single(strict=True)
                    n, prev = int(head["n"]), str(head["head"])
                    rows = []
                    for d, who, requested in items:
                        rid = str(uuid.uuid4())
                        body = pack(lean(d, who, requested, decided))
                        digest = hashlib.sha256(prev.encode() + body).hexdigest()
                        n += 1
                        rows.append(
                            {
                                "id": rid,
                                "chain": self.chain,
                                "n": n,
                                "student_id": d.request.student_id,
                                "decision_time": decided_iso,
                                "body": body,
                                "prev_hash": prev,
                                "hash": digest,
                            }
                        )
                        prev = digest
                        ids.append(rid)
                    tx.run(APPEND, chain=self.chain, rows=rows, head=prev).consume()
                    tx.commit()
            except (ne.Neo4jError, ne.DriverError, OSError) as err:
                self.last_failure = str(err)
                raise AuditUnavailable(f"cannot write the record of decisions to Neo4j: {err}") from err
        self.last_failure = None
        return ids

    def probe(self) -> str | None:
        """None when a write to this writer's chain node succeeds (rolled back), else the cause."""
        if not self.available:
            return "the record of decisions is switched off"
        try:
            with self._session() as session, session.begin_transaction() as tx:
                tx.run(CHAIN_HEAD, chain=self.chain).consume()
                tx.rollback()
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            self.last_failure = str(err)
            return self.last_failure
        return None

    def for_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """Records about a student with decision time in ``[start, end)``, from every chain, oldest first."""
        return list(self.stream_student(student_id, start, end))

    def stream_student(self, student_id: str, start: datetime | None = None, end: datetime | None = None) -> Iterator[dict[str, Any]]:
        """The same records as `for_student`, streamed from the server (the driver fetches in batches)."""
        query = "MATCH (d:NtkDecision {student_id: $sid}) WHERE ($start IS NULL OR d.decision_time >= $start)"
        query += " AND ($end IS NULL OR d.decision_time < $end) RETURN d.id AS id, d.body AS body ORDER BY d.decision_time, d.chain, d.n"
        params = {
            "sid": student_id,
            "start": to_iso(ensure_aware(start)) if start else None,
            "end": to_iso(ensure_aware(end)) if end else None,
        }
        try:
            with self._session() as session:
                for r in session.run(query, params):
                    yield _body(r["id"], r["body"])
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise AuditUnavailable(f"cannot read the record of decisions in Neo4j: {err}") from err

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The record with this id (its JSON body), or None."""
        rows = self._read("MATCH (d:NtkDecision {id: $id}) RETURN d.id AS id, d.body AS body", {"id": decision_id})
        return _body(rows[0]["id"], rows[0]["body"]) if rows else None

    def count(self) -> int:
        """Number of records in every chain."""
        return int(self._read("MATCH (d:NtkDecision) RETURN count(d) AS n", {})[0]["n"])

    def chains(self) -> list[dict[str, Any]]:
        """Every writer's chain: id, length, head hash, created_at."""
        rows = self._read("MATCH (c:NtkChain) RETURN c.id AS id, c.n AS n, c.head AS head, c.created_at AS created_at ORDER BY c.id", {})
        return [dict(r) for r in rows]

    def verify(self) -> Iterator[str]:
        """Yield a message for every break in any chain (none: every chain intact).

        Streams each chain in order: a record whose previous hash or own hash does not hold,
        a gap or repeat in the numbering, a chain node whose length or head disagrees with
        its records, and a record of no known chain.
        """
        known = {c["id"]: c for c in self.chains()}
        for cid, chain in known.items():
            prev, expected = GENESIS, 0
            with self._session() as session:
                result = session.run(
                    "MATCH (d:NtkDecision {chain: $chain}) RETURN d.n AS n, d.id AS id, d.body AS body, d.prev_hash AS prev,"
                    " d.hash AS hash ORDER BY d.n",
                    chain=cid,
                )
                for r in result:
                    expected += 1
                    if r["n"] != expected:
                        yield f"chain {cid}: record {r['id']} is number {r['n']}, expected {expected}"
                        expected = int(r["n"])
                    if r["prev"] != prev:
                        yield f"chain {cid}: record {expected} ({r['id']}): chain broken before it"
                    if hashlib.sha256(str(r["prev"]).encode() + _bytes(r["body"])).hexdigest() != r["hash"]:
                        yield f"chain {cid}: record {expected} ({r['id']}): content does not match its hash"
                    prev = r["hash"]
            if chain["n"] != expected or chain["head"] != prev:
                says = f"{chain['n']} ending {str(chain['head'])[:12]}"
                yield f"chain {cid}: holds {expected} records ending {prev[:12]}, its head says {says}"
        orphans = self._read("MATCH (d:NtkDecision) WHERE NOT d.chain IN $ids RETURN count(d) AS n", {"ids": list(known)})[0]["n"]
        if orphans:
            yield f"{orphans} record(s) belong to no known chain"

    def _read(self, query: str, params: dict[str, Any]) -> list[neo4j.Record]:
        try:
            with self._session() as session:
                return list(session.run(query, params))
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise AuditUnavailable(f"cannot read the record of decisions in Neo4j: {err}") from err

    def close(self) -> None:
        """Nothing of its own to close: the store owns the driver."""


def _body(rid: Any, body: Any) -> dict[str, Any]:
    """A stored record as `AuditLog.get` returns it; a record of the first format (JSON text) as it was."""
    if isinstance(body, str):
        return dict(json.loads(body))
    return to_body(unpack(bytes(body)), str(rid))


def _bytes(body: Any) -> bytes:
    """A stored body as bytes; a first-format body (JSON text) as its UTF-8; anything else (an edited property) as its repr."""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return repr(body).encode()
