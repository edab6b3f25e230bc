"""The `GraphStore` protocol: what every store (networkx + journal, Neo4j) provides.

Stores fetch facts; they do not judge (STYLE.md, item 2). Writes are batches of
`graph.changes.Change`, validated as a whole and applied all-or-nothing; each write
returns a consistency token (the journal's sequence number, or Neo4j bookmarks encoded
in a string) that every read accepts as "at least as fresh as".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from graph.changes import Change
from graph.evidence import Evidence
from graph.model import Edge, EdgeKind, Node, NodeKind

__all__ = ["Committed", "GraphStore", "Idempotency", "Work", "WriteTx"]


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A client-chosen idempotency key and the fingerprint of the request it was sent with.

    ``fingerprint`` is a digest of the verb and its input as given (defaults unresolved), so
    a retry with the same input matches and a reuse with another input does not.
    """

    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Committed:
    """What a write command returns: the consistency token of its commit and its result.

    ``result`` is JSON-ready (ids the command made, opened or closed); ``replayed`` is True
    when an idempotency key returned an earlier commit's result without writing again.
    """

    token: str
    result: Mapping[str, Any] = field(default_factory=dict)
    replayed: bool = False


class WriteTx(Protocol):
    """Reads of the **committed** state inside a store's write transaction.

    Embedded: the journal's write lock is held and the graph has caught up with every
    commit; Neo4j: the reads run in the transaction that will commit (and that commit
    checks no other writer moved the journal in between). A command checks its
    preconditions here, so no concurrent writer can slip in between check and commit.
    """

    now: datetime
    """The record time of this commit (aware UTC)."""

    def node(self, node_id: str) -> Node | None:
        """The newest version of the node with this id, or None."""
        ...

    def edge(self, edge_id: str) -> Edge | None:
        """The newest version of the edge with this id, or None."""
        ...

    def nodes_by_id(self, ids: Iterable[str]) -> dict[str, Node]:
        """The nodes with these ids that exist."""
        ...

    def edges_by_id(self, ids: Iterable[str]) -> dict[str, Edge]:
        """The edges with these ids that exist (newest versions)."""
        ...

    def edges_at(self, node_id: str, kind: EdgeKind, direction: Literal["out", "in"]) -> list[Edge]:
        """Every edge of `kind` leaving (``out``) or entering (``in``) the node, any interval, by id."""
        ...

    def open_edges_from(self, source: str, kind: EdgeKind) -> list[Edge]:
        """Every edge of `kind` whose ``source`` is exactly `source` and whose interval is still
        open (``valid_to`` None), by id: what a bulk reload of that source restates."""
        ...


Work = Callable[[WriteTx], tuple[Sequence[Change], Mapping[str, Any]]]
"""A command's body: reads through the transaction, returns the changes and a JSON-ready result.

It may raise `graph.errors.PreconditionFailed` (or any `ChangeRejected`): nothing is written.
A store may run it more than once (optimistic retry), so it must not have side effects."""


@runtime_checkable
class GraphStore(Protocol):
    """A store of the effective-dated graph.

    Tokens are opaque strings to callers; a store compares only its own.
    """

    name: str

    def apply(self, changes: Sequence[Change]) -> str:
        """Validate and apply a batch atomically; return the consistency token after it.

        Raises ChangeRejected (nothing applied) or StoreUnavailable.
        """
        ...

    def transact(self, work: Work, *, idempotency: Idempotency | None = None) -> Committed:
        """Run `work` inside one write transaction and commit its changes atomically.

        `work` reads the committed state through a `WriteTx` and returns the changes and a
        result. With `idempotency`, a key already committed with the same fingerprint
        returns that commit's result (``replayed``) without running `work`; the key and the
        result are stored in the same transaction as the changes.

        Raises
        ------
        PreconditionFailed, ChangeRejected
            From `work` or from validation; nothing is written.
        IdempotencyConflict
            The key was used with another fingerprint; nothing is written.
        StoreUnavailable
        """
        ...

    def token(self) -> str:
        """The token of the newest state this store has seen."""
        ...

    def latest_token(self) -> str:
        """The token of the newest committed state, whoever wrote it (caches key on it).

        Unlike `token`, it sees other processes' and other instances' writes: the embedded
        store tails the journal; Neo4j reads the journal's sequence number (one round trip).

        Raises StoreUnavailable when the store cannot be read.
        """
        ...

    def sync(self, token: str | None = None) -> None:
        """Catch up with writes from other processes, at least to `token`.

        Raises StaleRead when `token` cannot be reached in time.
        """
        ...

    def node(self, node_id: str) -> Node | None:
        """The node with this id, or None."""
        ...

    def edge(self, edge_id: str) -> Edge | None:
        """The edge with this id (its newest version), or None."""
        ...

    def nodes_by_id(self, ids: Iterable[str]) -> dict[str, Node]:
        """The nodes with these ids that exist (one round trip for a remote store)."""
        ...

    def edges_by_id(self, ids: Iterable[str]) -> dict[str, Edge]:
        """The edges with these ids that exist (newest versions)."""
        ...

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        """Every node of a kind, in no particular order."""
        ...

    def edges(self, kind: EdgeKind) -> Iterator[Edge]:
        """Every edge of a kind, whatever its interval, in no particular order."""
        ...

    def count(self, kind: NodeKind | EdgeKind) -> int:
        """How many nodes or edges of a kind."""
        ...

    def earlier_versions(self) -> Iterator[tuple[datetime | None, Node | Edge]]:
        """Every version of every record that has more than one, as (effective instant or
        None for the first, record), in no particular order (graph.versions). Records with one
        version are left out: `nodes` and `edges` give them."""
        ...

    def gather_evidence(self, provider_id: str, student_id: str) -> Evidence:
        """Everything bearing on (provider, student), across all time, unfiltered."""
        ...

    def gather_evidence_many(self, provider_id: str | None, student_id: str | None, others: Iterable[str]) -> dict[str, Evidence]:
        """Evidence for many pairs sharing one side: exactly one of provider_id/student_id is set,
        `others` are the ids on the other side. Keys are the other ids."""
        ...

    def students_served_by(self, provider_id: str) -> set[str]:
        """Students with a SERVES edge (any status, any time) from the provider or a team it was ever in (transitively)."""
        ...

    def providers_serving(self, student_id: str) -> set[str]:
        """Providers with a SERVES edge to the student, directly or through teams they were ever in (transitively)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
