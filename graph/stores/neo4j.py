"""The Neo4j store: the graph model as labelled nodes and typed relationships.

Same semantics as the embedded store (`graph.stores.memory.MemoryStore`), checked by one
contract suite (tests/stores/test_contract.py) and a differential property test:

- A node is ``(:Node:<NodeKind> {id, ...fields})``; a relationship is
  ``-[:<EdgeKind> {id, from_id, to_id, valid_from, valid_to, ...fields}]->``.
  Datetimes are Neo4j ``DateTime`` values in UTC, dates ``Date``, sets sorted lists,
  enums their string values; a None field is simply absent (every optional field
  defaults to None). Records read back equal the records written.
- `apply` validates the batch with `graph.changes.validate` against the database (the
  ids it names fetched in a few batched queries), then writes the final state of every
  changed record with ``UNWIND`` statements of `batch_size` rows, grouped by kind, in
  **one** transaction: a rejected or failed batch writes nothing. (Bulk mode,
  ``max_tx_rows``, commits a validated batch in pieces and undoes them on failure: see the
  class docstring.)
- Before writing, a transaction locks ``(:NtkMeta {key: 'journal'})`` and checks that its
  ``seq`` has not moved since the batch was validated (else it validates again), so
  writers are serialised, also across processes. The ``seq`` validation starts from is read
  holding that lock (taken and released in a transaction of its own): Neo4j's reads are
  read-committed without snapshots and may see part of a commit still being applied, while a
  writer applies its commit before releasing the lock. ``seq`` counts the changes applied
  (like the embedded journal's sequence number) and each change is logged as a
  ``(:Change)`` node.
- Tokens are ``seq`` plus the driver's bookmarks, base64-encoded JSON. A read after
  `sync(token)` carries those bookmarks, so it sees that write on any cluster member
  (causal consistency), also from another process.
- `gather_evidence` is **one** parameterised query (`neo4j_queries.EVIDENCE`); lookups
  and candidate sets one query each.

Driver and server failures are mapped to `graph.errors`: unreachable, unauthorised or
failing servers raise `StoreUnavailable`, a constraint violation `ChangeRejected`, a token
that cannot be reached `StaleRead`, a foreign token `InputError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from typing import Any, Final, Literal, NamedTuple, TypeVar

import neo4j
import neo4j.exceptions as ne
import neo4j.time
from pydantic import ValidationError

from graph.changes import Change, CloseEdge, PutEdge, PutNode, StateView, change_to_json, validate
from graph.errors import ChangeRejected, IdempotencyConflict, InputError, StaleRead, StoreUnavailable
from graph.evidence import ConsentFacts, Evidence, SignedAgreement, Versions
from graph.feed.outbox import outbox_row
from graph.model import (
    About,
    Agreement,
    Attends,
    Consent,
    Edge,
    EdgeKind,
    EmployedBy,
    GivenBy,
    GuardianOf,
    LivesIn,
    LocatedIn,
    MemberOf,
    Node,
    NodeKind,
    Permits,
    Provider,
    Restricts,
    Serves,
    Signed,
    Student,
    Trained,
    WorksIn,
    edge_from_dict,
    node_from_dict,
    record_to_dict,
)
from graph.stores import neo4j_queries as q
from graph.stores.base import Committed, Idempotency, Work
from graph.timeutil import utcnow
from graph.versions import VersionList, close_versions, put_version

__all__ = ["Neo4jStore", "decode_token", "encode_token"]

_R = TypeVar("_R", bound=Node | Edge)

_TOKEN_PREFIX: Final = "n4j1."
_WRITE_ATTEMPTS: Final = 5
_BACKGROUND_LOG: Final = 20_000
"""From this many changes in one commit (a bulk load) the change log is encoded in a thread."""
_EDGE_LOOKUP_BATCH: Final = 1000
"""Ids per `EDGES_BY_ID` query. Measured on Neo4j 5.26 community: ~65 µs an id up to
1,000 rows, then ~10 ms an id beyond (the chain of 17 optional index seeks falls off a
cliff somewhere between 1,000 and 2,000 rows), so lookups go in chunks of 1,000."""


class Neo4jStore:
    """GraphStore over a Neo4j 5 server, cluster or Aura database.

    Parameters
    ----------
    uri : str
        ``bolt://host:7687`` (one server) or ``neo4j://host:7687`` (routing: clusters, Aura).
    user, password : str | None
        Basic auth; no password means no authentication (a server with auth disabled).
    database : str
        The database name (``neo4j`` by default).
    batch_size : int
        Rows per ``UNWIND`` statement in `apply` and per id-lookup query.
    change_log : bool
        Keep the change log: ``(:Change)`` pages of up to 1,000 applied changes each (the
        history the embedded store keeps in its journal). The sequence counter, hence
        tokens, work either way.
    max_tx_rows : int | None
        None (the default): every `apply` is one transaction, all or nothing. An int turns
        on **bulk mode** for batches that write more rows than that (a 170k-student load
        writes ~1.1 million rows, far beyond 1 GiB of transaction memory in one piece): the
        whole batch is still read and validated first, so a `ChangeRejected` still writes
        nothing; then the writes are committed in transactions of at most `max_tx_rows`
        rows, nodes before edges, the journal's ``seq`` advanced by the last. Still all or
        nothing: the load holds the journal with a lease (other writers are refused), each
        transaction stores its undo, and a failure rolls the committed ones back (or, if the
        process died, the next writer after the lease does). Readers may see a partly
        written load while it runs.
    connection_timeout : float
        Seconds to wait for a connection before `StoreUnavailable`.
    load_lease : float
        Seconds a chunked load holds the journal without committing a transaction before
        another writer may roll it back (its process is taken for dead).

    Raises
    ------
    StoreUnavailable
        The server cannot be reached, refuses the credentials, or the schema (constraints)
        cannot be created.
    """

    name = "neo4j"

    def __init__(
        self,
        uri: str,
        *,
        user: str | None = None,
        password: str | None = None,
        database: str = "neo4j",
        batch_size: int = 10_000,
        change_log: bool = True,
        max_tx_rows: int | None = None,
        connection_timeout: float = 5.0,
        load_lease: float = 600.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.uri = uri
        self.database = database
        self.batch_size = batch_size
        self.change_log = change_log
        self.max_tx_rows = max_tx_rows
        self.load_lease = load_lease
        auth = (user or "neo4j", password) if password is not None else None
        self._lock = threading.RLock()
        self._seq = 0
        self._bookmarks = neo4j.Bookmarks.from_raw_values(())
        with _store_errors(f"cannot open Neo4j at {uri}"):
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=connection_timeout,
                connection_acquisition_timeout=max(connection_timeout, 5.0),
                max_transaction_retry_time=connection_timeout,
                # "property key does not exist" (an optional field nobody set yet) is not news.
                notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF,
            )
        try:
            with _store_errors(f"cannot open Neo4j at {uri}"):
                self._driver.verify_connectivity()
                self._ensure_schema()
                self._open_journal()
        except BaseException:
            self._driver.close()
            raise

    # ------------------------------------------------------------------ sessions

    def _session(self, *, write: bool = False) -> neo4j.Session:
        with self._lock:
            bookmarks = self._bookmarks
        return self._driver.session(
            database=self.database,
            bookmarks=bookmarks,
            default_access_mode=neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS,
        )

    def _read(self, query: str, params: dict[str, Any]) -> list[neo4j.Record]:
        """Run one read query with this store's bookmarks; all records.

        An auto-commit query: one round trip (a managed transaction adds BEGIN and COMMIT).
        """
        with _store_errors("Neo4j read failed"), self._session() as session:
            return list(session.run(query, params))

    def _ensure_schema(self) -> None:
        with self._driver.session(database=self.database) as session:
            have = set(session.run(q.SHOW_CONSTRAINTS).single(strict=True)["names"])
            missing = [stmt for name, stmt in q.SCHEMA if name not in have]
            for stmt in missing:
                session.run(stmt).consume()
            if missing:
                session.run("CALL db.awaitIndexes(300)").consume()

    def _open_journal(self) -> None:
        with self._session(write=True) as session:
            record = session.execute_write(lambda tx: tx.run(q.ENSURE_META, key=q.META_KEY).single(strict=True))
            self._seq = int(record["seq"])
            self._bookmarks = session.last_bookmarks()

    # ------------------------------------------------------------------ writes

    def apply(self, changes: Sequence[Change]) -> str:
        """Validate and apply a batch in one transaction; return the token after it.

        Parameters
        ----------
        changes : Sequence[Change]
            Any size: writes go in ``UNWIND`` statements of `batch_size` rows. A batch
            must fit the server's transaction memory (``dbms.memory.transaction.total.max``;
            docs/neo4j.md gives sizes) unless bulk mode (`max_tx_rows`) splits it.

        Returns
        -------
        str
            The consistency token of the state after the batch (unchanged when every
            change restates what is stored).

        Raises
        ------
        ChangeRejected
            `graph.changes.validate` refuses a change, or a uniqueness constraint does;
            nothing is written.
        StoreUnavailable
            The server is unreachable or fails (e.g. out of transaction memory); nothing
            is written.
        """
        batch = list(changes)
        return self.transact(lambda _tx: (batch, {})).token

    def transact(self, work: Work, *, idempotency: Idempotency | None = None) -> Committed:
        """Run `work` and commit its changes in one transaction (see `GraphStore.transact`).

        Optimistic first: `work` and validation read the committed state at journal ``seq``
        (fast lookups); the transaction then locks the journal node and, if another writer
        committed in between, abandons the attempt and runs `work` again. Later attempts lock
        first and read under the lock, so an attempt cannot lose twice in a row forever.
        Either way a precondition `work` checked holds when the commit happens.
        """
        with _store_errors("Neo4j write failed"), self._session(write=True) as session:
            outcome = self._attempt(session, work, idempotency, lock_first=False)
            for _attempt in range(_WRITE_ATTEMPTS):
                if outcome is not None:
                    break
                outcome = self._attempt(session, work, idempotency, lock_first=True)
            else:
                raise StoreUnavailable(f"Neo4j write failed: other writers kept moving the journal ({_WRITE_ATTEMPTS} tries)")
            seq, wrote, result, replayed = outcome
            bookmarks = session.last_bookmarks()
        with self._lock:
            if wrote:
                self._bookmarks = bookmarks  # the session began with ours: its bookmark subsumes them
            self._seq = max(self._seq, seq)
            return Committed(encode_token(seq if replayed else self._seq, self._bookmarks), result, replayed)

    def _attempt(
        self, session: neo4j.Session, work: Work, idempotency: Idempotency | None, *, lock_first: bool
    ) -> tuple[int, bool, dict[str, Any], bool] | None:
        """`_try_transact`, after rolling back a chunked load whose writer died (its lease expired)."""
        try:
            return self._try_transact(session, work, idempotency, lock_first=lock_first)
        except _DeadLoad as dead:
            self._roll_back_load(dead.load_id)
            return None

    def _try_transact(
        self, session: neo4j.Session, work: Work, idempotency: Idempotency | None, *, lock_first: bool
    ) -> tuple[int, bool, dict[str, Any], bool] | None:
        """One attempt: read and validate, lock the journal, write.

        Optimistic (``lock_first=False``): the reads run *before* the transaction writes
        anything, because on Neo4j 5.26 the 17-way optional index seek of `EDGES_BY_ID`
        gets ~100x slower once the transaction holds a write. The lock re-reads ``seq`` and,
        if another writer committed in between, the attempt is abandoned (None).
        Pessimistic (``lock_first=True``, the retry): lock, then read under the lock.
        Returns (seq after, whether anything was written, result, replayed).
        """
        # Optimistic: a barrier first. Neo4j reads are read-committed without snapshots, so a
        # read may see part of a commit that is still being applied (its ``seq`` but not yet
        # its index entries: two concurrent recordConsent calls with one id were both
        # acknowledged). A writer applies its commit before it releases the journal lock, so
        # once we have held the lock every commit up to ``seen`` is fully visible; the lock
        # taken again before writing then proves no commit came after.
        seen = -1 if lock_first else self._barrier(session)
        tx = session.begin_transaction()
        try:
            if lock_first:
                seen = self._lock_journal(tx)
            if idempotency is not None:
                prior = tx.run(q.GET_IDEMPOTENCY, key=idempotency.key).single(strict=True)
                if prior["fingerprint"] is not None:
                    tx.rollback()
                    if prior["fingerprint"] != idempotency.fingerprint:
                        raise IdempotencyConflict(idempotency.key)
                    return int(prior["seq"]), False, json.loads(prior["result"]), True
            now = utcnow()
            try:
                changes, result_map = work(_Neo4jTx(self, tx, now))
                result = dict(result_map)
                changes = list(changes)
                counts = tx.run(q.COUNT_ALL).single(strict=True)
                fetched = _Fetched()
                if counts["nodes"]:
                    fetched.nodes = self._fetch_nodes(tx, _node_ids(changes), fetched.node_versions)
                if counts["edges"]:
                    fetched.edges = self._fetch_edges(tx, _edge_ids(changes), fetched.edge_versions)
                view = StateView(lambda i: n.kind if (n := fetched.nodes.get(i)) is not None else None, fetched.edges.get)
                effective = validate(changes, view, existing_node=fetched.nodes.get, now=now)
            except ChangeRejected:
                # Optimistic reads are read-committed, not a snapshot: a writer that committed
                # between them can make a refusal wrong or mis-coded. Judge again under the lock.
                if not lock_first and self._lock_journal(tx) != seen:
                    tx.rollback()
                    return None
                raise
            if not effective and idempotency is None:
                # Nothing to write: but if another writer committed after `work` read, the
                # "nothing" may come from its write (work's precondition saw the older state),
                # so judge again under the lock rather than acknowledge a write that was not ours.
                moved = not lock_first and self._lock_journal(tx) != seen
                tx.rollback()
                return None if moved else (seen, False, result, False)
            plan = self._plan(fetched, effective, seen, now)
            closed = [fetched.edges[c.edge_id] for c in effective if isinstance(c, CloseEdge) and c.edge_id in fetched.edges]
            outbox = outbox_row(effective, _Neo4jTx(self, tx, now), closed)
            if self.max_tx_rows is not None and idempotency is None and sum(len(st.rows) for st in plan) > self.max_tx_rows:
                tx.rollback()  # nothing written yet
                chunked = self._apply_chunked(session, plan, seen, len(effective), (now, outbox), fetched)
                return None if chunked is None else (*chunked, result, False)
            if not lock_first and self._lock_journal(tx) != seen:
                tx.rollback()
                return None
            for st in plan:
                tx.run(st.query, rows=_rows(st)).consume()
            seq = int(tx.run(q.ADVANCE_JOURNAL, key=q.META_KEY, n=len(effective)).single(strict=True)["seq"])
            if effective:  # the feed's outbox row, in the same transaction (graph.feed.outbox)
                tx.run(q.FEED_OUTBOX_PUT, seq=seq, recorded_at=now, data=outbox).consume()
            if idempotency is not None:
                tx.run(
                    q.PUT_IDEMPOTENCY,
                    key=idempotency.key,
                    fingerprint=idempotency.fingerprint,
                    result=json.dumps(result, sort_keys=True),
                    seq=seq,
                    recorded_at=now,
                ).consume()
            tx.commit()
            return seq, True, result, False
        finally:
            tx.close()

    @staticmethod
    def _read_journal(tx: neo4j.Transaction) -> int:
        return int(tx.run(q.READ_SEQ, key=q.META_KEY).single(strict=True)["seq"])

    def _barrier(self, session: neo4j.Session) -> int:
        """Take and release the journal lock in a transaction of its own; ``seq`` then.

        Every commit up to the returned ``seq`` is fully applied when this returns (see
        `_try_transact`). Raises as `_lock_journal` (a bulk load holds the journal).
        """
        tx = session.begin_transaction()
        try:
            seq = self._lock_journal(tx)
            tx.rollback()
            return seq
        finally:
            tx.close()

    @staticmethod
    def _lock_journal(tx: neo4j.Transaction, load_id: str | None = None, *, holding: bool = False) -> int:
        """Lock the journal node; its ``seq``. `holding`: chunked load `load_id` must still hold it.

        Raises
        ------
        StoreUnavailable
            A chunked load other than `load_id` holds the journal (its lease is live).
        _DeadLoad
            A chunked load other than `load_id` holds the journal but its lease expired (its
            writer died): the caller rolls it back and tries again.
        """
        rec = tx.run(q.LOCK_JOURNAL, key=q.META_KEY, writer=uuid.uuid4().hex).single(strict=True)
        if holding and rec["load"] != load_id:
            raise StoreUnavailable(f"Neo4j bulk load {load_id} lost the journal (its lease expired and another writer rolled it back)")
        if rec["load"] is not None and rec["load"] != load_id:
            if rec["load_expired"]:
                raise _DeadLoad(str(rec["load"]))
            raise StoreUnavailable(
                f"Neo4j write refused: a bulk load ({rec['load']}) holds the journal until it commits or rolls back "
                f"(lease until {rec['load_until']}); try again when it has finished"
            )
        return int(rec["seq"])

    def _apply_chunked(
        self,
        session: neo4j.Session,
        plan: list[_Statement],
        seen: int,
        n_changes: int,
        outbox: tuple[datetime, str],
        fetched: _Fetched,
    ) -> tuple[int, bool] | None:
        """Bulk mode (`max_tx_rows`): commit the validated plan in transactions of at most
        `max_tx_rows` rows, all or nothing.

        The first transaction takes the journal for this load (`q.LOAD_BEGIN`: a lease other
        writers respect); every transaction writes, with its rows, how to undo them
        (``(:NtkLoadUndo)``); the last advances ``seq``, writes the outbox row and drops the
        undo records. A failure in between rolls the committed transactions back
        (`_roll_back_load`); if this process dies instead, the next writer after the lease
        rolls them back. Returns None when another writer moved the journal before the first
        transaction (nothing written: validate again).
        """
        assert self.max_tx_rows is not None
        groups: list[list[_Statement]] = [[]]
        size = 0
        for statement in plan:
            if groups[-1] and size + len(statement.rows) > self.max_tx_rows:
                groups.append([])
                size = 0
            groups[-1].append(statement)
            size += len(statement.rows)
        load_id = uuid.uuid4().hex
        seq = seen
        committed = 0
        try:
            for i, group in enumerate(groups):
                tx = session.begin_transaction()
                try:
                    if self._lock_journal(tx, load_id, holding=i > 0) != seen:
                        tx.rollback()
                        return None  # only possible before the first commit: the lease keeps writers out after it
                    last = i == len(groups) - 1
                    if i == 0 and not last:
                        tx.run(q.LOAD_BEGIN, key=q.META_KEY, load=load_id, lease=self.load_lease).consume()
                    elif not last:
                        tx.run(q.LOAD_EXTEND, key=q.META_KEY, lease=self.load_lease).consume()
                    for st in group:
                        tx.run(st.query, rows=_rows(st)).consume()
                    if last:
                        seq = int(tx.run(q.ADVANCE_JOURNAL, key=q.META_KEY, n=n_changes).single(strict=True)["seq"])
                        tx.run(q.FEED_OUTBOX_PUT, seq=seq, recorded_at=outbox[0], data=outbox[1]).consume()
                        tx.run(q.LOAD_END, key=q.META_KEY, load=load_id).consume()
                    else:
                        tx.run(q.LOAD_UNDO_PUT, load=load_id, n=i, undo=_undo(group, fetched)).consume()
                    tx.commit()
                    committed = i + 1
                finally:
                    tx.close()
                self._after_commit(i)
        except BaseException as err:
            if committed == 0:
                raise
            try:
                self._roll_back_load(load_id)
            except (ne.Neo4jError, ne.DriverError, OSError) as undo_err:  # the lease expires; the next writer rolls it back
                raise StoreUnavailable(
                    f"Neo4j bulk load failed after {committed} of {len(groups)} transactions ({err}) and could not be "
                    f"rolled back now ({undo_err}); the next write after its lease ({self.load_lease:.0f} s) rolls it back"
                ) from err
            if isinstance(err, Exception):
                raise StoreUnavailable(
                    f"Neo4j bulk load failed after {committed} of {len(groups)} transactions and was rolled back (nothing written): {err}"
                ) from err
            raise
        return seq, True

    def _after_commit(self, index: int) -> None:
        """Hook after a chunked load committed its transaction `index` (tests inject failures here)."""

    def _roll_back_load(self, load_id: str) -> None:
        """Undo the committed transactions of chunked load `load_id`, newest first, each in its
        own transaction (idempotent: a rollback cut short is finished by the next one), then
        delete its change-log pages and release the journal. A no-op once released."""
        with self._driver.session(database=self.database, default_access_mode=neo4j.WRITE_ACCESS) as session:
            held = session.run(q.LOAD_SEEN, key=q.META_KEY).single(strict=True)
            if held["load"] != load_id:
                return
            undos = [(int(r["n"]), str(r["undo"])) for r in session.run(q.LOAD_UNDO_LIST, load=load_id)]
            for n, raw in undos:
                undo = json.loads(raw)

                def step(tx: neo4j.ManagedTransaction, n: int = n, undo: dict[str, Any] = undo) -> None:
                    for kind, rows in undo["edge_rows"].items():
                        tx.run(q.UPDATE_EDGES[EdgeKind(kind)], rows=rows).consume()
                    for kind, rows in undo["node_rows"].items():
                        tx.run(q.UPDATE_NODES[NodeKind(kind)], rows=rows).consume()
                    for kind, ids in undo["edges"].items():
                        tx.run(q.DELETE_EDGES[EdgeKind(kind)], ids=ids).consume()
                    if undo["nodes"]:
                        tx.run(q.DELETE_NODES, ids=undo["nodes"]).consume()
                    tx.run(q.LOAD_UNDO_DROP, load=load_id, n=n).consume()

                session.execute_write(step)
            session.run(q.DELETE_CHANGES_AFTER, seen=int(held["seen"])).consume()
            session.execute_write(lambda tx: tx.run(q.LOAD_END, key=q.META_KEY, load=load_id).consume())

    def _plan(self, fetched: _Fetched, effective: Sequence[Change], seq: int, now: datetime) -> list[_Statement]:
        """The statements writing the final state of every changed record (with its versions,
        `graph.versions`), each with at most `batch_size` rows: nodes created, nodes updated,
        edges created, edges updated (closes included), then the change log (pages of
        `q.CHANGE_PAGE` changes)."""
        nodes: dict[str, tuple[Node, VersionList[Node] | None]] = {}
        edges: dict[str, tuple[Edge, VersionList[Edge] | None]] = {}
        for change in effective:
            if isinstance(change, PutNode):
                i = change.node.id
                cur, vers = nodes.get(i) or (fetched.nodes.get(i), fetched.node_versions.get(i))
                nodes[i] = put_version(cur, vers, change.node, change.effective_at, change.correction)
            elif isinstance(change, PutEdge):
                i = change.edge.id
                cur_e, vers_e = edges.get(i) or (fetched.edges.get(i), fetched.edge_versions.get(i))
                edges[i] = put_version(cur_e, vers_e, change.edge, change.effective_at, change.correction)
            else:
                cur_e, vers_e = edges.get(change.edge_id) or (fetched.edges[change.edge_id], fetched.edge_versions.get(change.edge_id))
                edges[change.edge_id] = close_versions(cur_e, vers_e, change.at)
        created_nodes: dict[NodeKind, list[dict[str, Any]]] = defaultdict(list)
        updated_nodes: dict[NodeKind, list[dict[str, Any]]] = defaultdict(list)
        for node_id, (node, nvers) in nodes.items():
            (updated_nodes if node_id in fetched.nodes else created_nodes)[node.kind].append(_props(node, nvers))
        created_edges: dict[EdgeKind, list[dict[str, Any]]] = defaultdict(list)
        updated_edges: dict[EdgeKind, list[dict[str, Any]]] = defaultdict(list)
        for edge_id, (edge, evers) in edges.items():
            (updated_edges if edge_id in fetched.edges else created_edges)[edge.kind].append(_props(edge, evers))
        groups: list[tuple[str, str, str, list[dict[str, Any]]]] = [
            *((q.CREATE_NODES[k], "create_node", k.value, rows) for k, rows in created_nodes.items()),
            *((q.UPDATE_NODES[k], "update_node", k.value, rows) for k, rows in updated_nodes.items()),
            *((q.CREATE_EDGES[k], "create_edge", k.value, rows) for k, rows in created_edges.items()),
            *((q.UPDATE_EDGES[k], "update_edge", k.value, rows) for k, rows in updated_edges.items()),
        ]
        n = self.batch_size
        plan = [_Statement(query, op, kind, rows[i : i + n]) for query, op, kind, rows in groups for i in range(0, len(rows), n)]
        if self.change_log:
            pages = -(-len(effective) // q.CHANGE_PAGE)
            if len(effective) < _BACKGROUND_LOG:
                log: list[dict[str, Any]] | _LazyRows = _log_pages(effective, seq, now)
            else:
                # A bulk load: the pages are encoded in a thread while the server writes the
                # records (the driver waits on its socket without the GIL), not before.
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ntk-change-log")
                future = pool.submit(_log_pages, list(effective), seq, now)
                pool.shutdown(wait=False)  # the thread ends with its one task; nothing waits here
                log = _LazyRows(future, 0, pages)
            plan += [_Statement(q.CHANGE_LOG, "log", "", log[i : i + n]) for i in range(0, pages, n)]
        return plan

    def _fetch_nodes(
        self, tx: neo4j.Transaction | neo4j.ManagedTransaction, ids: Iterable[str], versions: dict[str, VersionList[Node]] | None = None
    ) -> dict[str, Node]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Node] = {}
        for start in range(0, len(wanted), self.batch_size):
            for rec in tx.run(q.NODES_BY_ID, ids=wanted[start : start + self.batch_size]):
                node = _node(rec["kind"], rec["props"])
                found[node.id] = node
                if versions is not None and (v := _versions(rec["kind"], rec["props"], edge=False)) is not None:
                    versions[node.id] = list(v)
        return found

    def _fetch_edges(
        self, tx: neo4j.Transaction | neo4j.ManagedTransaction, ids: Iterable[str], versions: dict[str, VersionList[Edge]] | None = None
    ) -> dict[str, Edge]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Edge] = {}
        step = min(self.batch_size, _EDGE_LOOKUP_BATCH)
        for start in range(0, len(wanted), step):
            for rec in tx.run(q.EDGES_BY_ID, ids=wanted[start : start + step]):
                edge = _edge(rec["kind"], rec["props"])
                found[edge.id] = edge
                if versions is not None and (v := _versions(rec["kind"], rec["props"], edge=True)) is not None:
                    versions[edge.id] = list(v)
        return found

    # ------------------------------------------------------------------ tokens

    def token(self) -> str:
        """The token of the newest state this store has written or synced to."""
        with self._lock:
            return encode_token(self._seq, self._bookmarks)

    def latest_token(self) -> str:
        """The token of the journal's newest commit, by any instance (GraphStore.latest_token).

        One read of the journal's sequence number; `sync(None)` does not read it because every
        read goes to the database anyway, but a cache keyed by `token()` alone would miss
        another instance's writes.

        Raises StoreUnavailable when Neo4j cannot be read.
        """
        try:
            with self._session() as session:
                have = int(session.execute_read(lambda tx: tx.run(q.READ_SEQ, key=q.META_KEY).single(strict=True))["seq"])
                bookmarks = session.last_bookmarks()
        except (ne.DriverError, ne.Neo4jError) as err:
            raise StoreUnavailable(f"Neo4j read failed: {err}") from err
        with self._lock:
            self._bookmarks = self._bookmarks + bookmarks
            self._seq = max(self._seq, have)
            return encode_token(self._seq, self._bookmarks)

    def sync(self, token: str | None = None) -> None:
        """Make every later read at least as fresh as `token` (causal consistency).

        Without a token there is nothing to do: every read goes to the database.

        Raises
        ------
        InputError
            `token` is not a token of a Neo4j store, or its bookmarks belong to another
            database.
        StaleRead
            The server could not reach the token's bookmarks in time, or the journal is
            behind the token's sequence number (the database was replaced).
        """
        if token is None or token == "":
            return
        wanted, raw = decode_token(token)
        with self._lock:
            merged = self._bookmarks + neo4j.Bookmarks.from_raw_values(raw)
            if wanted <= self._seq and merged.raw_values == self._bookmarks.raw_values:
                return
        try:
            with self._driver.session(database=self.database, bookmarks=merged, default_access_mode=neo4j.READ_ACCESS) as s:
                have = int(s.execute_read(lambda tx: tx.run(q.READ_SEQ, key=q.META_KEY).single(strict=True))["seq"])
        except ne.TransientError as err:
            if "Bookmark" in (err.code or ""):
                raise StaleRead(wanted, self._seq) from err
            raise StoreUnavailable(f"Neo4j read failed: {err}") from err
        except ne.ClientError as err:
            if "Bookmark" in (err.code or ""):
                raise InputError(f"not a consistency token of this database: {err.message}") from err
            raise
        except (ne.DriverError, ne.Neo4jError) as err:
            raise StoreUnavailable(f"Neo4j read failed: {err}") from err
        if have < wanted:
            raise StaleRead(wanted, have)
        with self._lock:
            self._bookmarks = merged
            self._seq = max(self._seq, have)

    # ------------------------------------------------------------------ reads

    def node(self, node_id: str) -> Node | None:
        """The node with this id, or None."""
        return self.nodes_by_id([node_id]).get(node_id)

    def edge(self, edge_id: str) -> Edge | None:
        """The edge with this id (its newest version), or None."""
        return self.edges_by_id([edge_id]).get(edge_id)

    def nodes_by_id(self, ids: Iterable[str]) -> dict[str, Node]:
        """The nodes among `ids` that exist, by id: one query per `batch_size` ids.

        Not part of `GraphStore` (yet): importers can use it instead of one `node` call per record.
        """
        with _store_errors("Neo4j read failed"), self._session() as session:
            return session.execute_read(lambda tx: self._fetch_nodes(tx, ids))

    def edges_by_id(self, ids: Iterable[str]) -> dict[str, Edge]:
        """The edges among `ids` that exist, by id (one query per `batch_size` ids)."""
        with _store_errors("Neo4j read failed"), self._session() as session:
            return session.execute_read(lambda tx: self._fetch_edges(tx, ids))

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        """Every node of `kind`, streamed, in no particular order."""
        node_kind = NodeKind(kind)
        for props in self._stream(q.NODES_OF_KIND[node_kind]):
            yield _node(node_kind, props)

    def edges(self, kind: EdgeKind) -> Iterator[Edge]:
        """Every edge of `kind` (newest versions, any interval), streamed."""
        edge_kind = EdgeKind(kind)
        for props in self._stream(q.EDGES_OF_KIND[edge_kind]):
            yield _edge(edge_kind, props)

    def earlier_versions(self) -> Iterator[tuple[datetime | None, Node | Edge]]:
        """Every version of every record with several (see `GraphStore.earlier_versions`), streamed."""
        with _store_errors("Neo4j read failed"), self._session() as session:
            for query, edge in ((q.NODE_VERSIONS, False), (q.EDGE_VERSIONS, True)):
                for rec in session.run(query):
                    yield from _versions(rec["kind"], {q.VERSIONS: rec["versions"], "id": rec["id"]}, edge=edge) or ()

    def _stream(self, query: str) -> Iterator[dict[str, Any]]:
        with _store_errors("Neo4j read failed"), self._session() as session:
            for rec in session.run(query):
                yield rec["props"]

    def count(self, kind: NodeKind | EdgeKind) -> int:
        """How many nodes or edges of `kind` (from the count store: constant time)."""
        query = q.COUNT_NODES[kind] if isinstance(kind, NodeKind) else q.COUNT_EDGES[EdgeKind(kind)]
        return int(self._read(query, {})[0]["n"])

    def gather_evidence(self, provider_id: str, student_id: str) -> Evidence:
        """Everything bearing on (provider, student), across all time: one query.

        Unknown ids (or ids of another kind) give None for that side and no facts on it,
        as in the embedded store.

        Raises
        ------
        StoreUnavailable
        """
        rows = self._read(q.EVIDENCE, {"provider_id": provider_id, "student_id": student_id})
        return _Row(rows[0]).evidence()

    def gather_evidence_many(self, provider_id: str | None, student_id: str | None, others: Iterable[str]) -> dict[str, Evidence]:
        """Evidence for many pairs sharing one side, in one query.

        Parameters
        ----------
        provider_id, student_id : str | None
            Exactly one is set: the shared side.
        others : Iterable[str]
            Ids on the other side; they are the keys of the result.

        Raises
        ------
        InputError
            Neither side is set.
        StoreUnavailable
        """
        ids = list(dict.fromkeys(others))
        if provider_id is not None:
            query, params = q.EVIDENCE_MANY_STUDENTS, {"provider_id": provider_id, "others": ids}
        elif student_id is not None:
            query, params = q.EVIDENCE_MANY_PROVIDERS, {"student_id": student_id, "others": ids}
        else:
            raise InputError("gather_evidence_many needs provider_id or student_id")
        if not ids:
            return {}
        return {str(rec["key"]): _Row(rec).evidence() for rec in self._read(query, params)}

    def students_served_by(self, provider_id: str) -> set[str]:
        """Students with a SERVES edge (any status, any time) from the provider or a team it
        was ever in, transitively (cycle-safe). Empty when `provider_id` is not a Provider."""
        return set(self._read(q.STUDENTS_SERVED_BY, {"provider_id": provider_id})[0]["ids"])

    def providers_serving(self, student_id: str) -> set[str]:
        """Providers with a SERVES edge to the student, directly or through teams they were
        ever in (transitively, cycle-safe)."""
        return set(self._read(q.PROVIDERS_SERVING, {"student_id": student_id})[0]["ids"])

    def close(self) -> None:
        """Close the driver and its connections."""
        self._driver.close()


# ---------------------------------------------------------------------------- tokens


def encode_token(seq: int, bookmarks: neo4j.Bookmarks) -> str:
    """``n4j1.`` + base64url(JSON {"seq": n, "bookmarks": [...]}): opaque to callers."""
    payload = json.dumps({"seq": seq, "bookmarks": sorted(bookmarks.raw_values)}, separators=(",", ":"))
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(payload.encode()).decode("ascii")


def decode_token(token: str) -> tuple[int, list[str]]:
    """Inverse of `encode_token`.

    Raises
    ------
    InputError
        Not a token of a Neo4j store.
    """
    bad = InputError(f"not a consistency token of this store: {token[:40]!r}")
    if not token.startswith(_TOKEN_PREFIX):
        raise bad
    try:
        payload = json.loads(base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :].encode("ascii")))
        seq, raw = payload["seq"], payload["bookmarks"]
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise bad from err
    if not isinstance(seq, int) or seq < 0 or not isinstance(raw, list) or not all(isinstance(b, str) for b in raw):
        raise bad
    return seq, raw


# ---------------------------------------------------------------------------- records <-> properties


def _props(record: Node | Edge, versions: Sequence[tuple[datetime | None, Node | Edge]] | None = None) -> dict[str, Any]:
    """Record fields as statement rows: None dropped, sets sorted lists, enums values, datetimes
    and dates ISO 8601 text (the write statements make them Neo4j temporals); with more than
    one version, every version as JSON text under ``ntk_versions``. JSON-ready throughout."""
    out: dict[str, Any] = {}
    for f in fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        if value is None:
            continue
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, datetime | date):
            value = value.isoformat()  # converted by the statement (q._temporal_fields): much cheaper than the driver's encoding
        out[f.name] = value
    if versions:
        out[q.VERSIONS] = json.dumps(
            [[None if t is None else t.isoformat(), record_to_dict(r)] for t, r in versions], separators=(",", ":")
        )
    return out


def _native(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties as record fields: nulls and version lists dropped (every optional field
    defaults to None; projections return null for absent temporal fields), driver temporals
    made native."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        if value is None or key == q.VERSIONS:
            continue
        if isinstance(value, neo4j.time.DateTime | neo4j.time.Date):
            value = value.to_native()
        out[key] = value
    return out


def _node(kind: str, props: Mapping[str, Any]) -> Node:
    try:
        return node_from_dict(kind, _native(props))
    except (ValidationError, ValueError) as err:
        raise StoreUnavailable(f"node {props.get('id')!r} in Neo4j does not decode as a {kind}: {err}") from err


def _edge(kind: str, props: Mapping[str, Any]) -> Edge:
    try:
        return edge_from_dict(kind, _native(props))
    except (ValidationError, ValueError) as err:
        raise StoreUnavailable(f"edge {props.get('id')!r} in Neo4j does not decode as a {kind}: {err}") from err


def _versions(kind: str, props: Mapping[str, Any], *, edge: bool) -> Versions | None:
    """The versions stored under ``ntk_versions``, or None (one version)."""
    raw = props.get(q.VERSIONS)
    if raw is None:
        return None
    decode = edge_from_dict if edge else node_from_dict
    try:
        return tuple(
            (None if t is None else datetime.fromisoformat(t), decode(kind, data))  # type: ignore[operator]
            for t, data in json.loads(raw)
        )
    except (ValidationError, ValueError, TypeError) as err:
        raise StoreUnavailable(f"record {props.get('id')!r} in Neo4j has versions that do not decode: {err}") from err


class _DeadLoad(Exception):
    """A chunked load holds the journal but its lease expired: its writer died mid-load."""

    def __init__(self, load_id: str) -> None:
        super().__init__(load_id)
        self.load_id = load_id


def _log_pages(effective: Sequence[Change], seq: int, now: datetime) -> list[dict[str, Any]]:
    """The change log's rows for a commit after `seq`: pages of `q.CHANGE_PAGE` changes as JSON."""
    entries = [change_to_json(change) for change in effective]
    return [
        {
            "seq": seq + 1 + start,
            "last_seq": seq + start + len(page),
            "recorded_at": now.isoformat(),
            "changes": json.dumps(page, separators=(",", ":")),
        }
        for start in range(0, len(entries), q.CHANGE_PAGE)
        if (page := entries[start : start + q.CHANGE_PAGE])
    ]


class _LazyRows:
    """Rows ``[start, stop)`` of a list being computed in the background; their count is known now."""

    def __init__(self, future: Future[list[dict[str, Any]]], start: int, stop: int) -> None:
        self.future, self.start, self.stop = future, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, part: slice) -> _LazyRows:
        begin, end, _ = part.indices(len(self))
        return _LazyRows(self.future, self.start + begin, self.start + end)

    def resolve(self) -> list[dict[str, Any]]:
        """The rows (waits for the computation; raises what it raised)."""
        return self.future.result()[self.start : self.stop]


def _rows(st: _Statement) -> list[dict[str, Any]]:
    return st.rows.resolve() if isinstance(st.rows, _LazyRows) else st.rows


class _Statement(NamedTuple):
    """One write statement of a plan: what it does (for a chunked load's undo) and its rows."""

    query: str
    op: str
    """create_node, update_node, create_edge, update_edge or log."""
    kind: str
    rows: list[dict[str, Any]] | _LazyRows


def _undo(group: Sequence[_Statement], fetched: _Fetched) -> str:
    """JSON of how to undo one transaction of a chunked load: the node and edge ids it created
    and the properties the records it updated had before (rows for `q.UPDATE_*`)."""
    nodes: list[str] = []
    edges: dict[str, list[str]] = defaultdict(list)
    node_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    edge_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for st in group:
        ids = [str(row["id"]) for row in _rows(st)] if st.op != "log" else []
        if st.op == "create_node":
            nodes += ids
        elif st.op == "create_edge":
            edges[st.kind] += ids
        elif st.op == "update_node":
            node_rows[st.kind] += [_props(fetched.nodes[i], fetched.node_versions.get(i)) for i in ids]
        elif st.op == "update_edge":
            edge_rows[st.kind] += [_props(fetched.edges[i], fetched.edge_versions.get(i)) for i in ids]
    return json.dumps({"nodes": nodes, "edges": edges, "node_rows": node_rows, "edge_rows": edge_rows}, separators=(",", ":"))


class _Fetched:
    """Records (newest versions) and their version lists read for one write."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[str, Edge] = {}
        self.node_versions: dict[str, VersionList[Node]] = {}
        self.edge_versions: dict[str, VersionList[Edge]] = {}


class _Neo4jTx:
    """`WriteTx` of the Neo4j store: reads in the transaction that will commit."""

    def __init__(self, store: Neo4jStore, tx: neo4j.Transaction, now: datetime) -> None:
        self._store = store
        self._tx = tx
        self.now = now

    def node(self, node_id: str) -> Node | None:
        return self._store._fetch_nodes(self._tx, [node_id]).get(node_id)

    def edge(self, edge_id: str) -> Edge | None:
        return self._store._fetch_edges(self._tx, [edge_id]).get(edge_id)

    def nodes_by_id(self, ids: Iterable[str]) -> dict[str, Node]:
        return self._store._fetch_nodes(self._tx, ids)

    def edges_by_id(self, ids: Iterable[str]) -> dict[str, Edge]:
        return self._store._fetch_edges(self._tx, ids)

    def edges_at(self, node_id: str, kind: EdgeKind, direction: Literal["out", "in"]) -> list[Edge]:
        query = (q.EDGES_OUT if direction == "out" else q.EDGES_IN)[EdgeKind(kind)]
        found = [_edge(kind, rec["props"]) for rec in self._tx.run(query, id=node_id)]
        return sorted(found, key=lambda e: e.id)

    def open_edges_from(self, source: str, kind: EdgeKind) -> list[Edge]:
        found = [_edge(kind, rec["props"]) for rec in self._tx.run(q.OPEN_EDGES_FROM[EdgeKind(kind)], source=source)]
        return sorted(found, key=lambda e: e.id)


def _typed(cls: type[_R], record: Node | Edge) -> _R:
    assert isinstance(record, cls)
    return record


class _Row:
    """One row of an evidence query, decoded into an `Evidence` (with version histories)."""

    def __init__(self, rec: neo4j.Record) -> None:
        self.rec = rec
        self.node_history: dict[str, Versions] = {}
        self.edge_history: dict[str, Versions] = {}

    def node(self, kind: NodeKind, props: Mapping[str, Any]) -> Node:
        node = _node(kind, props)
        if (v := _versions(kind, props, edge=False)) is not None:
            self.node_history[node.id] = v
        return node

    def edge(self, kind: str, props: Mapping[str, Any]) -> Edge:
        edge = _edge(kind, props)
        if (v := _versions(kind, props, edge=True)) is not None:
            self.edge_history[edge.id] = v
        return edge

    def _edges(self, name: str, cls: type[_R]) -> tuple[_R, ...]:
        kind = cls.kind  # type: ignore[attr-defined]
        return tuple(_typed(cls, self.edge(kind, props)) for props in self.rec[name])

    def _signed(self, name: str) -> tuple[SignedAgreement, ...]:
        return tuple(
            SignedAgreement(_typed(Signed, self.edge(EdgeKind.SIGNED, g)), _typed(Agreement, self.node(NodeKind.AGREEMENT, a)))
            for g, a in self.rec[name]
        )

    def evidence(self) -> Evidence:
        rec = self.rec
        by_type: dict[str, list[Edge]] = defaultdict(list)
        for kind, props in (*rec["p_edges"], *rec["s_edges"]):
            by_type[kind].append(self.edge(kind, props))
        consents = tuple(
            ConsentFacts(
                _typed(Consent, self.node(NodeKind.CONSENT, c)),
                tuple(_typed(About, self.edge(EdgeKind.ABOUT, e)) for e in about),
                tuple(_typed(GivenBy, self.edge(EdgeKind.GIVEN_BY, e)) for e in given),
                tuple(_typed(Permits, self.edge(EdgeKind.PERMITS, e)) for e in permits),
            )
            for c, about, given, permits in rec["consents"]
        )
        return Evidence(
            provider=None if rec["provider"] is None else _typed(Provider, self.node(NodeKind.PROVIDER, rec["provider"])),
            student=None if rec["student"] is None else _typed(Student, self.node(NodeKind.STUDENT, rec["student"])),
            employments=_cast(by_type[EdgeKind.EMPLOYED_BY], EmployedBy),
            works_in=_cast(by_type[EdgeKind.WORKS_IN], WorksIn),
            trainings=_cast(by_type[EdgeKind.TRAINED], Trained),
            agreements=self._signed("agreements"),
            partner_agreements=self._signed("partner_agreements"),
            memberships=self._edges("memberships", MemberOf),
            services=self._edges("services", Serves),
            attends=_cast(by_type[EdgeKind.ATTENDS], Attends),
            school_locations=self._edges("school_locations", LocatedIn),
            lives_in=_cast(by_type[EdgeKind.LIVES_IN], LivesIn),
            guardian_links=self._edges("guardian_links", GuardianOf),
            restrictions=self._edges("restrictions", Restricts),
            consents=consents,
            node_history=self.node_history,
            edge_history=self.edge_history,
        )


def _cast(items: list[Edge], cls: type[_R]) -> tuple[_R, ...]:
    return tuple(_typed(cls, e) for e in items)


# ---------------------------------------------------------------------------- helpers


def _node_ids(changes: Sequence[Change]) -> Iterator[str]:
    """Every node id a batch names (validation needs their kinds)."""
    for change in changes:
        if isinstance(change, PutNode):
            yield change.node.id
        elif isinstance(change, PutEdge):
            yield change.edge.from_id
            yield change.edge.to_id
            if isinstance(change.edge, Serves) and change.edge.program is not None:
                yield change.edge.program


def _edge_ids(changes: Sequence[Change]) -> Iterator[str]:
    for change in changes:
        if isinstance(change, PutEdge):
            yield change.edge.id
        elif not isinstance(change, PutNode):
            yield change.edge_id


@contextmanager
def _store_errors(what: str) -> Iterator[None]:
    """Map driver and server exceptions to `graph.errors` (a Cypher bug still surfaces)."""
    try:
        yield
    except ne.ConstraintError as err:
        raise ChangeRejected(f"{what}: {err.message}") from err
    except (ne.AuthError, ne.Forbidden, ne.TransientError, ne.DatabaseError) as err:
        raise StoreUnavailable(f"{what}: {err}") from err
    except ne.DriverError as err:
        raise StoreUnavailable(f"{what}: {err}") from err
    except OSError as err:
        raise StoreUnavailable(f"{what}: {err}") from err
