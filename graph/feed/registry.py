"""One `FeedStore` per database file per process (resolvers find it from the settings' ``db``)."""

from __future__ import annotations

import threading
from pathlib import Path

from graph.errors import StoreUnavailable
from graph.feed.store import FeedStore

__all__ = ["FEED_OFF", "close_all", "feed_for"]

FEED_OFF = "the access-change feed is off here: with the Neo4j backend, set NTK_FEED_DB to the feed's SQLite file (docs/feed.md)"
"""Why there is no feed: the message of the StoreUnavailable raised for a None path."""

_LOCK = threading.Lock()
_OPEN: dict[Path, FeedStore] = {}


def feed_for(db: Path | str | None) -> FeedStore:
    """The process's FeedStore over `db` (opened on first use).

    Raises StoreUnavailable (`FEED_OFF`) when `db` is None (`graph.settings.Settings.feed_path`).
    """
    if db is None:
        raise StoreUnavailable(FEED_OFF)
    key = Path(db).resolve()
    with _LOCK:
        feed = _OPEN.get(key)
        if feed is None:
            feed = _OPEN[key] = FeedStore(key)
        return feed


def close_all() -> None:
    """Close every FeedStore this process opened."""
    with _LOCK:
        for feed in _OPEN.values():
            feed.conn.close()
        _OPEN.clear()
