"""The feed's tables in Neo4j: API instances on several machines share one feed.

`graph.feed.tables.FeedTables` over the graph's own Neo4j database (the driver of the
`graph.stores.neo4j.Neo4jStore` it is given), so with ``--backend neo4j`` an instance keeps
nothing of the feed on its own disk (DESIGN.md, "What lives where"; docs/feed.md):

- ``(:NtkFeedEvent {pos, id, provider_id, student_id, before, after, effective_at, token, cause,
  cause_seq, recorded_at, reasons, redacted, partners, guardians})``: one per access change,
  ``id`` and ``pos`` unique (constraints). Lists are JSON text and instants ISO 8601 text, as in
  the SQLite tables, so both stores give back equal events.
- ``(:NtkFeedMeta {key: 'head', pos})``: the newest position. Recording takes this node's write
  lock first, so recorders run one at a time and positions become visible in order (a reader
  at cursor n never misses a smaller position committed later).
- ``(:NtkFeedMeta {key, value})``: ``outbox_done``, ``clock_done``, ``last_error``.
- ``(:NtkFeedAccess {provider_id, student_id, released})``: unique per pair.
- ``(:NtkFeedLease {name, holder, until})``: one node per lease, taken or renewed by a
  conditional write in one transaction (the node's write lock first, then holder and expiry
  read and set). Expiry is judged by the **Neo4j server's clock** (``timestamp()``), so the
  instances' clocks need not agree; the ``now`` arguments of the protocol are not used here.
- ``(:NtkWebhook {id, url, secret, role, subject, partners, created_at, removed_at, cursor})``
  and ``(:NtkWebhookDead {endpoint_id, pos, event_id, attempts, last_error, dead_at, redeliver,
  delivered_at})``, unique per (endpoint, position).

Read-modify-write steps lock the node they change before reading it (Cypher's lost-update
pattern: ``SET n.locked = ...`` first), as `api.tokens_neo4j` does. One bookmark manager per
object: its reads see its own writes, also on a cluster's followers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import neo4j
import neo4j.exceptions as ne

from graph.errors import StoreUnavailable
from graph.feed.events import AccessChange, Cause
from graph.feed.tables import DeadLetter, Endpoint, Removal
from graph.timeutil import ensure_aware

if TYPE_CHECKING:
    from graph.stores.neo4j import Neo4jStore

__all__ = ["Neo4jFeedStore"]

_T = TypeVar("_T")

SCHEMA: Final = (
    ("ntk_feed_event_id", "CREATE CONSTRAINT ntk_feed_event_id IF NOT EXISTS FOR (e:NtkFeedEvent) REQUIRE e.id IS UNIQUE"),
    ("ntk_feed_event_pos", "CREATE CONSTRAINT ntk_feed_event_pos IF NOT EXISTS FOR (e:NtkFeedEvent) REQUIRE e.pos IS UNIQUE"),
    ("ntk_feed_event_provider", "CREATE INDEX ntk_feed_event_provider IF NOT EXISTS FOR (e:NtkFeedEvent) ON (e.provider_id)"),
    ("ntk_feed_event_student", "CREATE INDEX ntk_feed_event_student IF NOT EXISTS FOR (e:NtkFeedEvent) ON (e.student_id)"),
    (
        "ntk_feed_access_pair",
        "CREATE CONSTRAINT ntk_feed_access_pair IF NOT EXISTS FOR (a:NtkFeedAccess) REQUIRE (a.provider_id, a.student_id) IS UNIQUE",
    ),
    ("ntk_feed_meta_key", "CREATE CONSTRAINT ntk_feed_meta_key IF NOT EXISTS FOR (m:NtkFeedMeta) REQUIRE m.key IS UNIQUE"),
    ("ntk_feed_lease_name", "CREATE CONSTRAINT ntk_feed_lease_name IF NOT EXISTS FOR (l:NtkFeedLease) REQUIRE l.name IS UNIQUE"),
    ("ntk_webhook_id", "CREATE CONSTRAINT ntk_webhook_id IF NOT EXISTS FOR (w:NtkWebhook) REQUIRE w.id IS UNIQUE"),
    (
        "ntk_webhook_dead_key",
        "CREATE CONSTRAINT ntk_webhook_dead_key IF NOT EXISTS FOR (d:NtkWebhookDead) REQUIRE (d.endpoint_id, d.pos) IS UNIQUE",
    ),
)

_CHUNK: Final = 2000
"""Rows per UNWIND statement when recording (a first snapshot may hold one event per served pair)."""

LOCK_HEAD: Final = "MERGE (h:NtkFeedMeta {key: 'head'}) ON CREATE SET h.pos = 0 SET h.locked = true RETURN h.pos AS pos"
"""Serialises recorders (and endpoint registration against them): the SET takes the head's write lock."""

LEASE_LOCK: Final = "MERGE (l:NtkFeedLease {name: $name}) ON CREATE SET l.holder = $holder, l.until = 0.0 SET l.locked = true"
LEASE_TAKE: Final = """
MATCH (l:NtkFeedLease {name: $name})
WITH l, timestamp() / 1000.0 AS now
WITH l, now, (l.holder = $holder OR l.until <= now) AS free
SET l.holder = CASE WHEN free THEN $holder ELSE l.holder END,
    l.until = CASE WHEN free THEN now + $ttl ELSE l.until END
RETURN free
"""
"""Run after `LEASE_LOCK` in the same transaction: with the lock held, holder and expiry are current."""


def _props(e: AccessChange, pos: int) -> dict[str, Any]:
    return {
        "pos": pos,
        "id": e.id,
        "provider_id": e.provider_id,
        "student_id": e.student_id,
        "before": json.dumps(list(e.before)),
        "after": json.dumps(list(e.after)),
        "effective_at": e.effective_at.isoformat(),
        "token": e.consistency_token,
        "cause": str(e.cause),
        "cause_seq": e.cause_seq,
        "recorded_at": e.recorded_at.isoformat(),
        "reasons": json.dumps(list(e.reasons)),
        "redacted": json.dumps(list(e.reasons_redacted)),
        "partners": json.dumps(list(e.partners)),
        "guardians": json.dumps(list(e.guardians)),
    }


def _instant(text: str) -> datetime:
    return ensure_aware(datetime.fromisoformat(text))


def _event(p: dict[str, Any]) -> AccessChange:
    return AccessChange(
        position=int(p["pos"]),
        id=p["id"],
        provider_id=p["provider_id"],
        student_id=p["student_id"],
        before=tuple(json.loads(p["before"])),
        after=tuple(json.loads(p["after"])),
        effective_at=_instant(p["effective_at"]),
        consistency_token=p["token"],
        cause=Cause(p["cause"]),
        cause_seq=p.get("cause_seq"),
        recorded_at=_instant(p["recorded_at"]),
        reasons=tuple(json.loads(p["reasons"])),
        reasons_redacted=tuple(json.loads(p["redacted"])),
        partners=tuple(json.loads(p["partners"])),
        guardians=tuple(json.loads(p["guardians"])),
    )


def _endpoint(p: dict[str, Any]) -> Endpoint:
    removed = p.get("removed_at")
    return Endpoint(
        p["id"],
        p["url"],
        p["secret"],
        p["role"],
        p.get("subject"),
        tuple(json.loads(p["partners"])),
        _instant(p["created_at"]),
        None if removed is None else _instant(removed),
        int(p["cursor"]),
    )


def _dead(p: dict[str, Any]) -> DeadLetter:
    delivered = p.get("delivered_at")
    return DeadLetter(
        p["endpoint_id"],
        int(p["pos"]),
        p["event_id"],
        int(p["attempts"]),
        p["last_error"],
        _instant(p["dead_at"]),
        bool(p["redeliver"]),
        None if delivered is None else _instant(delivered),
    )


def _chunks(rows: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for i in range(0, len(rows), _CHUNK):
        yield rows[i : i + _CHUNK]


class Neo4jFeedStore:
    """`graph.feed.tables.FeedTables` in Neo4j (module docstring), over `store`'s driver and database.

    `owns_store`: close `store` with this object (a CLI that opened it for the feed alone).
    Raises StoreUnavailable when the schema cannot be created, and from every method when
    Neo4j cannot be reached or refuses.
    """

    name = "neo4j"

    def __init__(self, store: Neo4jStore, *, owns_store: bool = False) -> None:
        self._store = store
        self._driver: neo4j.Driver = store._driver
        self.database = store.database
        self._owns_store = owns_store
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        self._ensure_schema()

    # ------------------------------------------------------------------ plumbing

    def _session(self) -> neo4j.Session:
        return self._driver.session(database=self.database, bookmark_manager=self._bookmarks)

    def _write(self, work: Callable[[neo4j.ManagedTransaction], _T]) -> _T:
        """Run `work` in one managed write transaction (retried by the driver on transient errors)."""
        try:
            with self._session() as session:
                return session.execute_write(work)
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"feed tables in Neo4j: {err}") from err

    def _read(self, query: str, **params: Any) -> list[neo4j.Record]:
        try:
            with self._session() as session:
                return session.execute_read(lambda tx: list(tx.run(query, params)))
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"feed tables in Neo4j: {err}") from err

    def _ensure_schema(self) -> None:
        try:
            with self._driver.session(database=self.database) as session:
                have = {r["name"] for r in session.run("SHOW CONSTRAINTS YIELD name RETURN name")}
                have |= {r["name"] for r in session.run("SHOW INDEXES YIELD name RETURN name")}
                missing = [stmt for name, stmt in SCHEMA if name not in have]
                for stmt in missing:
                    try:
                        session.run(stmt).consume()
                    except ne.ClientError as err:  # another instance created it at the same moment
                        if "already exists" not in (err.message or "") and "Equivalent" not in (err.code or ""):
                            raise
                if missing:
                    session.run("CALL db.awaitIndexes(300)").consume()
        except (ne.Neo4jError, ne.DriverError, OSError) as err:
            raise StoreUnavailable(f"cannot create the feed's schema in Neo4j: {err}") from err

    # ------------------------------------------------------------------ derivation state

    def meta(self, key: str) -> str | None:
        """A value of the feed's state, or None."""
        rows = self._read("MATCH (m:NtkFeedMeta {key: $key}) RETURN m.value AS value", key=key)
        return None if not rows or rows[0]["value"] is None else str(rows[0]["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Write one value on its own (the service's last error; not a cursor)."""
        self._write(lambda tx: tx.run("MERGE (m:NtkFeedMeta {key: $key}) SET m.value = $value", key=key, value=value).consume())

    def announced(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
        """The released categories last announced for each pair (pairs never announced are left out)."""
        wanted = [list(p) for p in pairs]
        found: dict[tuple[str, str], tuple[str, ...]] = {}
        query = (
            "UNWIND $pairs AS p MATCH (a:NtkFeedAccess {provider_id: p[0], student_id: p[1]}) "
            "RETURN a.provider_id AS p, a.student_id AS s, a.released AS released"
        )
        for chunk in _chunks(wanted):
            for r in self._read(query, pairs=list(chunk)):
                found[(r["p"], r["s"])] = tuple(json.loads(r["released"]))
        return found

    def record(self, events: Sequence[AccessChange], meta: dict[str, str]) -> list[AccessChange]:
        """Store events, the access they announce and the cursors, in one transaction.

        As `graph.feed.store.FeedStore.record`: an event whose id is stored is skipped, a tick
        another process recorded already (``outbox_done`` not ahead, ``clock_done`` behind) is
        skipped whole. Positions continue from the head, whose lock serialises recorders.
        """

        def work(tx: neo4j.ManagedTransaction) -> list[AccessChange]:
            head = int(tx.run(LOCK_HEAD).single(strict=True)["pos"])
            found = tx.run("MATCH (m:NtkFeedMeta) WHERE m.key IN $keys RETURN m.key AS key, m.value AS value", keys=list(meta))
            rows = {r["key"]: r["value"] for r in found}
            outbox_done, clock_done = rows.get("outbox_done"), rows.get("clock_done")
            if "outbox_done" in meta and outbox_done is not None and int(outbox_done) >= int(meta["outbox_done"]):
                return []
            if events and "clock_done" in meta and clock_done is not None and _instant(clock_done) > _instant(meta["clock_done"]):
                return []
            taken: set[str] = set()
            for ids in _chunks(sorted({e.id for e in events})):
                taken.update(r["id"] for r in tx.run("UNWIND $ids AS id MATCH (e:NtkFeedEvent {id: id}) RETURN e.id AS id", ids=list(ids)))
            stored: list[AccessChange] = []
            access: dict[tuple[str, str], str] = {}
            for e in events:
                if e.id not in taken:
                    taken.add(e.id)
                    head += 1
                    stored.append(replace(e, position=head))
                access[(e.provider_id, e.student_id)] = json.dumps(list(e.after))
            for created in _chunks([_props(e, e.position) for e in stored]):
                tx.run("UNWIND $rows AS r CREATE (e:NtkFeedEvent) SET e = r", rows=list(created)).consume()
            for pairs in _chunks([{"p": p, "s": s, "released": v} for (p, s), v in access.items()]):
                tx.run(
                    "UNWIND $rows AS r MERGE (a:NtkFeedAccess {provider_id: r.p, student_id: r.s}) SET a.released = r.released",
                    rows=list(pairs),
                ).consume()
            tx.run(
                "UNWIND $rows AS r MERGE (m:NtkFeedMeta {key: r.key}) SET m.value = r.value",
                rows=[{"key": k, "value": v} for k, v in meta.items()],
            ).consume()
            tx.run("MATCH (h:NtkFeedMeta {key: 'head'}) SET h.pos = $pos", pos=head).consume()
            return stored

        return self._write(work)

    # ------------------------------------------------------------------ reading the feed

    def head(self) -> int:
        """The newest position (0 for an empty feed)."""
        rows = self._read("MATCH (h:NtkFeedMeta {key: 'head'}) RETURN h.pos AS pos")
        return int(rows[0]["pos"]) if rows else 0

    def events_after(self, pos: int, limit: int) -> list[AccessChange]:
        """Events with a position above `pos`, in order, at most `limit`."""
        query = "MATCH (e:NtkFeedEvent) WHERE e.pos > $pos RETURN properties(e) AS e ORDER BY e.pos LIMIT $limit"
        return [_event(r["e"]) for r in self._read(query, pos=pos, limit=limit)]

    def event(self, pos: int) -> AccessChange | None:
        """The event at a position, or None."""
        rows = self._read("MATCH (e:NtkFeedEvent {pos: $pos}) RETURN properties(e) AS e", pos=pos)
        return _event(rows[0]["e"]) if rows else None

    def events_about(self, provider_id: str | None = None, student_id: str | None = None) -> list[AccessChange]:
        """Every event about a provider or a student, in order (tests and tools)."""
        if provider_id is not None:
            rows = self._read("MATCH (e:NtkFeedEvent {provider_id: $id}) RETURN properties(e) AS e ORDER BY e.pos", id=provider_id)
        else:
            rows = self._read("MATCH (e:NtkFeedEvent {student_id: $id}) RETURN properties(e) AS e ORDER BY e.pos", id=student_id)
        return [_event(r["e"]) for r in rows]

    # ------------------------------------------------------------------ lease

    def lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` for `ttl` seconds of the server's clock; False
        when another holds it (`now` is not used: the server's clock judges expiry)."""

        def work(tx: neo4j.ManagedTransaction) -> bool:
            tx.run(LEASE_LOCK, name=name, holder=holder).consume()
            return bool(tx.run(LEASE_TAKE, name=name, holder=holder, ttl=float(ttl)).single(strict=True)["free"])

        return self._write(work)

    def lease_state(self, name: str, now: float) -> tuple[str | None, float | None]:
        """(holder, seconds left) of a live lease by the server's clock; (None, None) when none."""
        query = "MATCH (l:NtkFeedLease {name: $name}) RETURN l.holder AS holder, l.until - timestamp() / 1000.0 AS left"
        rows = self._read(query, name=name)
        if not rows or float(rows[0]["left"]) <= 0:
            return None, None
        return str(rows[0]["holder"]), float(rows[0]["left"])

    def release(self, name: str, holder: str) -> None:
        """Give up the lease if `holder` has it."""
        self._write(lambda tx: tx.run("MATCH (l:NtkFeedLease {name: $name, holder: $holder}) DELETE l", name=name, holder=holder).consume())

    # ------------------------------------------------------------------ webhooks

    def add_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Store a new endpoint with its cursor at the feed's head; return it as stored."""
        partners = tuple(sorted(endpoint.partners))

        def work(tx: neo4j.ManagedTransaction) -> int:
            head = int(tx.run(LOCK_HEAD).single(strict=True)["pos"])
            props = {
                "id": endpoint.id,
                "url": endpoint.url,
                "secret": endpoint.secret,
                "role": endpoint.role,
                "subject": endpoint.subject,
                "partners": json.dumps(list(partners)),
                "created_at": endpoint.created_at.isoformat(),
                "cursor": head,
            }
            tx.run("CREATE (w:NtkWebhook) SET w = $props", props=props).consume()
            return head

        head = self._write(work)
        return replace(endpoint, partners=partners, cursor=head)

    def remove_endpoint(self, endpoint_id: str, now: datetime) -> Removal:
        """Mark an endpoint removed at `now` unless it is missing or removed already."""

        def work(tx: neo4j.ManagedTransaction) -> Removal:
            rec = tx.run("MATCH (w:NtkWebhook {id: $id}) SET w.locked = true RETURN w.removed_at AS removed", id=endpoint_id).single()
            if rec is None:
                return "not_found"
            if rec["removed"] is not None:
                return "already_removed"
            tx.run("MATCH (w:NtkWebhook {id: $id}) SET w.removed_at = $now", id=endpoint_id, now=now.isoformat()).consume()
            return "removed"

        return self._write(work)

    def mark_redeliver(self, endpoint_id: str, *, event_id: str | None = None, from_cursor: int | None = None) -> int | None:
        """Rewind an active endpoint's cursor (0), or mark its dead letters for redelivery (how many); None: no such endpoint."""

        def work(tx: neo4j.ManagedTransaction) -> int | None:
            query = "MATCH (w:NtkWebhook {id: $id}) WHERE w.removed_at IS NULL SET w.locked = true RETURN w.id"
            active = tx.run(query, id=endpoint_id).single()
            if active is None:
                return None
            if from_cursor is not None:
                tx.run("MATCH (w:NtkWebhook {id: $id}) SET w.cursor = $pos", id=endpoint_id, pos=max(0, from_cursor)).consume()
                return 0
            query = (
                "MATCH (d:NtkWebhookDead {endpoint_id: $id}) WHERE ($event IS NULL AND d.delivered_at IS NULL) OR d.event_id = $event "
                "SET d.redeliver = true RETURN count(d) AS n"
            )
            return int(tx.run(query, id=endpoint_id, event=event_id).single(strict=True)["n"])

        return self._write(work)

    def endpoints(self, *, include_removed: bool = False) -> list[Endpoint]:
        """Registered endpoints, oldest first."""
        where = "" if include_removed else " WHERE w.removed_at IS NULL"
        rows = self._read(f"MATCH (w:NtkWebhook){where} RETURN properties(w) AS w ORDER BY w.created_at, w.id")
        return [_endpoint(r["w"]) for r in rows]

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        """One endpoint (removed ones too), or None."""
        rows = self._read("MATCH (w:NtkWebhook {id: $id}) RETURN properties(w) AS w", id=endpoint_id)
        return _endpoint(rows[0]["w"]) if rows else None

    def advance(self, endpoint_id: str, pos: int) -> None:
        """Move an endpoint's cursor to `pos` (never backwards)."""
        self._write(lambda tx: tx.run(_ADVANCE, id=endpoint_id, pos=pos).consume())

    def dead(self, endpoint_id: str, event: AccessChange, attempts: int, error: str, now: datetime) -> None:
        """Put an event on the dead-letter list and move the endpoint past it (its order continues)."""
        props = {"event_id": event.id, "attempts": attempts, "last_error": error[:500], "dead_at": now.isoformat()}

        def work(tx: neo4j.ManagedTransaction) -> None:
            tx.run(
                "MERGE (d:NtkWebhookDead {endpoint_id: $id, pos: $pos}) SET d += $props, d.redeliver = false",
                id=endpoint_id,
                pos=event.position,
                props=props,
            ).consume()
            tx.run(_ADVANCE, id=endpoint_id, pos=event.position).consume()

        self._write(work)

    def dead_letters(self, endpoint_id: str | None = None) -> list[DeadLetter]:
        """The dead-letter list (of one endpoint), oldest first."""
        if endpoint_id:
            rows = self._read("MATCH (d:NtkWebhookDead {endpoint_id: $id}) RETURN properties(d) AS d ORDER BY d.pos", id=endpoint_id)
        else:
            rows = self._read("MATCH (d:NtkWebhookDead) RETURN properties(d) AS d ORDER BY d.pos, d.endpoint_id")
        return [_dead(r["d"]) for r in rows]

    def delivered_dead(self, endpoint_id: str, pos: int, now: datetime) -> None:
        """A redelivered dead letter was accepted."""
        query = "MATCH (d:NtkWebhookDead {endpoint_id: $id, pos: $pos}) SET d.redeliver = false, d.delivered_at = $now"
        self._write(lambda tx: tx.run(query, id=endpoint_id, pos=pos, now=now.isoformat()).consume())

    def close(self) -> None:
        """Close the store's driver if this object opened it."""
        if self._owns_store:
            self._store.close()


_ADVANCE: Final = """
MATCH (w:NtkWebhook {id: $id})
SET w.locked = true
WITH w
SET w.cursor = CASE WHEN w.cursor < $pos THEN $pos ELSE w.cursor END
"""
"""The lock first, then the cursor read: a concurrent rewind is not undone by a stale read."""
