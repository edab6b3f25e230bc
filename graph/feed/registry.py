"""One feed store per place per process: the SQLite file (embedded) or the Neo4j database.

Resolvers and the feed service find it from the settings and the engine's store
(`feed_for`); tools that have only a file use `feed_at`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from graph.errors import StoreUnavailable
from graph.feed.store import FeedStore
from graph.feed.tables import FeedTables
from graph.settings import Settings
from graph.stores.base import GraphStore

__all__ = ["FEED_OFF", "close_all", "feed_at", "feed_for"]

FEED_OFF = "the access-change feed has no tables here: give the embedded store's file (--db or NTK_DB) (docs/feed.md)"
"""Why there is no feed: the message of the StoreUnavailable raised for a None path."""

_LOCK = threading.Lock()
_OPEN: dict[object, FeedTables] = {}


def feed_at(db: Path | str | None) -> FeedTables:
    """The process's SQLite FeedStore over `db` (opened on first use).

    Raises StoreUnavailable (`FEED_OFF`) when `db` is None.
    """
    if db is None:
        raise StoreUnavailable(FEED_OFF)
    key = Path(db).resolve()
    with _LOCK:
        feed = _OPEN.get(key)
        if feed is None:
            feed = _OPEN[key] = FeedStore(key)
        return feed


def feed_for(settings: Settings, store: GraphStore | None) -> FeedTables:
    """Where this deployment keeps the feed: with ``--backend neo4j`` the Neo4j database of
    `store` (every instance shares it; ``NTK_FEED_DB`` is ignored), else the SQLite file of
    `Settings.feed_path`. Opened on first use, once per process.

    Raises StoreUnavailable.
    """
    if settings.backend != "neo4j":
        return feed_at(settings.feed_path())
    from graph.feed.store_neo4j import Neo4jFeedStore
    from graph.stores.neo4j import Neo4jStore

    if not isinstance(store, Neo4jStore):
        raise StoreUnavailable("the access-change feed lives in Neo4j with --backend neo4j, and no Neo4j store is open here")
    with _LOCK:
        feed = _OPEN.get(id(store))
        if feed is None:
            feed = _OPEN[id(store)] = Neo4jFeedStore(store)
        return feed


def close_all() -> None:
    """Close every feed store this process opened (the graph stores stay open: their owners close them)."""
    with _LOCK:
        for feed in _OPEN.values():
            feed.close()
        _OPEN.clear()
