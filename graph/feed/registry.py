"""One `FeedStore` per database file per process (resolvers find it from the settings' ``db``)."""

from __future__ import annotations

import threading
from pathlib import Path

from graph.feed.store import FeedStore

__all__ = ["close_all", "feed_for"]

_LOCK = threading.Lock()
_OPEN: dict[Path, FeedStore] = {}


def feed_for(db: Path | str) -> FeedStore:
    """The process's FeedStore over `db` (opened on first use)."""
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
