"""remove_webhook and redeliver_webhook: an admin stops an endpoint, or sends dead letters again."""

from __future__ import annotations

from datetime import datetime

from graph.errors import PreconditionFailed
from graph.feed.tables import FeedTables

__all__ = ["redeliver_webhook", "remove_webhook"]


def remove_webhook(feed: FeedTables, endpoint_id: str, *, now: datetime) -> None:
    """Stop deliveries to an endpoint (kept, marked removed, with its dead letters).

    Raises
    ------
    PreconditionFailed
        ``not_found``; ``webhook_already_removed``.
    """
    found = feed.remove_endpoint(endpoint_id, now)
    if found == "not_found":
        raise PreconditionFailed("not_found", f"no webhook endpoint with id {endpoint_id!r}", field="id")
    if found == "already_removed":
        raise PreconditionFailed("webhook_already_removed", "the endpoint is already removed", field="id")


def redeliver_webhook(feed: FeedTables, endpoint_id: str, *, event_id: str | None = None, from_cursor: int | None = None) -> int:
    """Mark dead letters for redelivery (all of the endpoint's, or one event's), or rewind the
    endpoint's cursor to `from_cursor` so every later change it may receive is sent again.

    Returns how many dead letters were marked (0 for a rewind).

    Raises
    ------
    PreconditionFailed
        ``not_found``: no such endpoint, or no such dead letter.
    """
    marked = feed.mark_redeliver(endpoint_id, event_id=event_id, from_cursor=from_cursor)
    if marked is None:
        raise PreconditionFailed("not_found", f"no active webhook endpoint with id {endpoint_id!r}", field="id")
    if event_id is not None and from_cursor is None and not marked:
        raise PreconditionFailed("not_found", f"no dead letter {event_id!r} for endpoint {endpoint_id!r}", field="event")
    return marked
