"""remove_webhook and redeliver_webhook: an admin stops an endpoint, or sends dead letters again."""

from __future__ import annotations

from datetime import datetime

from graph.errors import PreconditionFailed
from graph.feed.store import FeedStore

__all__ = ["redeliver_webhook", "remove_webhook"]


def remove_webhook(feed: FeedStore, endpoint_id: str, *, now: datetime) -> None:
    """Stop deliveries to an endpoint (kept, marked removed, with its dead letters).

    Raises
    ------
    PreconditionFailed
        ``not_found``; ``webhook_already_removed``.
    """
    with feed.write() as conn:
        row = conn.execute("SELECT removed_at FROM webhook_endpoints WHERE id = ?", (endpoint_id,)).fetchone()
        if row is None:
            raise PreconditionFailed("not_found", f"no webhook endpoint with id {endpoint_id!r}", field="id")
        if row[0] is not None:
            raise PreconditionFailed("webhook_already_removed", "the endpoint is already removed", field="id")
        conn.execute("UPDATE webhook_endpoints SET removed_at = ? WHERE id = ?", (now.isoformat(), endpoint_id))


def redeliver_webhook(feed: FeedStore, endpoint_id: str, *, event_id: str | None = None, from_cursor: int | None = None) -> int:
    """Mark dead letters for redelivery (all of the endpoint's, or one event's), or rewind the
    endpoint's cursor to `from_cursor` so every later change it may receive is sent again.

    Returns how many dead letters were marked (0 for a rewind).

    Raises
    ------
    PreconditionFailed
        ``not_found``: no such endpoint, or no such dead letter.
    """
    with feed.write() as conn:
        if conn.execute("SELECT 1 FROM webhook_endpoints WHERE id = ? AND removed_at IS NULL", (endpoint_id,)).fetchone() is None:
            raise PreconditionFailed("not_found", f"no active webhook endpoint with id {endpoint_id!r}", field="id")
        if from_cursor is not None:
            conn.execute("UPDATE webhook_endpoints SET cursor = ? WHERE id = ?", (max(0, from_cursor), endpoint_id))
            return 0
        if event_id is not None:
            cur = conn.execute("UPDATE webhook_dead SET redeliver = 1 WHERE endpoint_id = ? AND event_id = ?", (endpoint_id, event_id))
            if not cur.rowcount:
                raise PreconditionFailed("not_found", f"no dead letter {event_id!r} for endpoint {endpoint_id!r}", field="event")
            return cur.rowcount
        return conn.execute("UPDATE webhook_dead SET redeliver = 1 WHERE endpoint_id = ? AND delivered_at IS NULL", (endpoint_id,)).rowcount
