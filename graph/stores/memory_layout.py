"""How the embedded store lays its records out in the networkx graph: one slot per record, not a dict.

networkx keeps an attribute dict per node and per edge; ours only ever holds the record under
``rec``. At 700,000 students (2.0 million nodes, 2.7 million edges) a one-entry dict costs 184
bytes where a one-slot object costs 40: `NodeAttrs` and `EdgeAttrs` are that object, a
read-only `Mapping` with ``update`` and ``copy`` so networkx's own code (``add_node``,
``add_edge``, ``nodes(data=True)``, ``edges(data=True)``, ``get_edge_data``, copies, node-link
export) keeps working. The store reads ``attrs.rec`` directly (a slot load, cheaper than a dict
lookup).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import networkx as nx

from graph.model import Edge, Node

__all__ = ["LAYOUT", "EdgeAttrs", "Graph", "NodeAttrs"]

LAYOUT = 2
"""Version of this layout; part of a snapshot's code tag (graph.stores.snapshot): raise it when the classes here change."""


class _Record(Mapping[str, Any]):
    """Attributes holding one record under ``"rec"`` (a `Mapping` for networkx)."""

    __slots__ = ("rec",)

    def __init__(self, rec: Any = None) -> None:
        if rec is not None:
            self.rec = rec

    def update(self, other: Mapping[str, Any] = (), /, **kwargs: Any) -> None:  # type: ignore[assignment]
        """Set ``rec`` (networkx's ``add_node``/``add_edge`` call this); any other attribute is refused.

        Raises KeyError naming an attribute other than ``rec``.
        """
        for key, value in [*dict(other).items(), *kwargs.items()]:
            if key != "rec":
                raise KeyError(f"the embedded graph keeps only 'rec' on a node or edge, not {key!r}")
            self.rec = value

    def __getitem__(self, key: str) -> Any:
        if key != "rec" or not hasattr(self, "rec"):
            raise KeyError(key)
        return self.rec

    def __iter__(self) -> Iterator[str]:
        return iter(("rec",) if hasattr(self, "rec") else ())

    def __len__(self) -> int:
        return 1 if hasattr(self, "rec") else 0

    def copy(self) -> Any:
        """A new object of this class holding the same record (networkx's graph copies call this)."""
        return type(self)(getattr(self, "rec", None))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self, 'rec', None)!r})"

    def __reduce__(self) -> tuple[type[_Record], tuple[Any]]:
        return (type(self), (getattr(self, "rec", None),))


class NodeAttrs(_Record):
    """The attributes of one node in the graph: only its record, under ``"rec"``."""

    __slots__ = ()
    rec: Node


class EdgeAttrs(_Record):
    """The attributes of one edge in the graph: only its record, under ``"rec"``."""

    __slots__ = ()
    rec: Edge


class Graph(nx.MultiDiGraph):  # type: ignore[type-arg]
    """networkx's `MultiDiGraph` whose node and edge attributes are `NodeAttrs` and `EdgeAttrs`."""

    node_attr_dict_factory = NodeAttrs  # type: ignore[assignment]
    edge_attr_dict_factory = EdgeAttrs  # type: ignore[assignment]
