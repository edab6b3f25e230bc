"""The `GraphStore` protocol: what every store (networkx + journal, Neo4j) provides.

Stores fetch facts; they do not judge (STYLE.md, item 2). Writes are batches of
`graph.changes.Change`, validated as a whole and applied all-or-nothing; each write
returns a consistency token (the journal's sequence number, or Neo4j bookmarks encoded
in a string) that every read accepts as "at least as fresh as".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from graph.changes import Change
from graph.evidence import Evidence
from graph.model import Edge, EdgeKind, Node, NodeKind

__all__ = ["GraphStore"]


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

    def token(self) -> str:
        """The token of the newest state this store has seen."""
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
