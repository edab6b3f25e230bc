"""How the embedded store lays its records out in the networkx graph: one slot per edge, not a dict.

networkx keeps an attribute dict per edge; ours only ever holds the edge's record under
``rec``. At 2.7 million edges (700,000 students) a one-entry dict costs 184 bytes where a
one-slot object costs 40: `EdgeAttrs` is that object, a read-only `Mapping` with ``update``
so networkx's own code (``add_edge``, ``edges(data=True)``, ``get_edge_data``, copies) keeps
working. The store reads ``attrs.rec`` directly (a slot load, cheaper than a dict lookup).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import networkx as nx

from graph.model import Edge

__all__ = ["EdgeAttrs", "Graph"]


class EdgeAttrs(Mapping[str, Any]):
    """The attributes of one edge in the graph: only its record, under ``"rec"``."""

    __slots__ = ("rec",)
    rec: Edge

    def __init__(self, rec: Edge | None = None) -> None:
        if rec is not None:
            self.rec = rec

    def update(self, other: Mapping[str, Any] = (), /, **kwargs: Any) -> None:  # type: ignore[assignment]
        """Set ``rec`` (networkx's ``add_edge`` calls this); any other attribute is refused.

        Raises KeyError naming an attribute other than ``rec``.
        """
        for key, value in [*dict(other).items(), *kwargs.items()]:
            if key != "rec":
                raise KeyError(f"the embedded graph keeps only 'rec' on an edge, not {key!r}")
            self.rec = value

    def __getitem__(self, key: str) -> Any:
        if key != "rec" or not hasattr(self, "rec"):
            raise KeyError(key)
        return self.rec

    def __iter__(self) -> Iterator[str]:
        return iter(("rec",) if hasattr(self, "rec") else ())

    def __len__(self) -> int:
        return 1 if hasattr(self, "rec") else 0

    def copy(self) -> EdgeAttrs:
        """A new `EdgeAttrs` holding the same record (networkx's graph copies call this)."""
        return EdgeAttrs(getattr(self, "rec", None))

    def __repr__(self) -> str:
        return f"EdgeAttrs({getattr(self, 'rec', None)!r})"

    def __reduce__(self) -> tuple[type[EdgeAttrs], tuple[Edge | None]]:
        return (EdgeAttrs, (getattr(self, "rec", None),))


class Graph(nx.MultiDiGraph):  # type: ignore[type-arg]
    """networkx's `MultiDiGraph` whose edge attributes are `EdgeAttrs`."""

    edge_attr_dict_factory = EdgeAttrs  # type: ignore[assignment]
