"""What the feed keeps, whichever store keeps it: the `FeedTables` protocol and its records.

Two implementations, chosen by the backend (`graph.feed.registry.feed_for`):

- `graph.feed.store.FeedStore`: SQLite tables in the embedded store's file (or ``NTK_FEED_DB``);
- `graph.feed.store_neo4j.Neo4jFeedStore`: nodes in Neo4j, so API instances on several machines,
  with nothing on their own disks, share one feed (one leader derives and delivers, every
  instance serves pages and subscriptions).

Both keep the same things with the same shapes: events with a stable ``id`` and a position
``1, 2, ...`` (the cursor, a decimal string on the wire), the released categories last announced
per (provider, student), the derivation cursors (``outbox_done``, ``clock_done``), the lease,
webhook endpoints with their delivery cursor, and dead letters. Every method raises
`graph.errors.StoreUnavailable` when the store cannot be read or written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from graph.feed.events import AccessChange

__all__ = ["DeadLetter", "Endpoint", "FeedTables", "Removal"]

Removal = Literal["removed", "not_found", "already_removed"]
"""What `FeedTables.remove_endpoint` found."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint: who registered it for (role, subject, partners), its secret and its cursor."""

    id: str
    url: str
    secret: str
    role: str
    subject: str | None
    partners: tuple[str, ...]
    created_at: datetime
    removed_at: datetime | None
    cursor: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event an endpoint did not accept after every retry."""

    endpoint_id: str
    pos: int
    event_id: str
    attempts: int
    last_error: str
    dead_at: datetime
    redeliver: bool
    delivered_at: datetime | None


class FeedTables(Protocol):
    """The feed's durable state (module docstring). Thread-safe."""

    # derivation state
    def meta(self, key: str) -> str | None:
        """A value of the feed's key/value state (``outbox_done``, ``clock_done``, ``last_error``), or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Write one value on its own (the service's last error; not a cursor)."""
        ...

    def announced(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
        """The released categories last announced for each pair (pairs never announced are left out)."""
        ...

    def record(self, events: Sequence[AccessChange], meta: dict[str, str]) -> list[AccessChange]:
        """Store events, the access they announce and the cursors in one transaction; skip an
        event whose id is stored and a tick another process recorded already. Returns the events
        stored, with their positions."""
        ...

    # reading the feed
    def head(self) -> int:
        """The newest position (0 for an empty feed)."""
        ...

    def events_after(self, pos: int, limit: int) -> list[AccessChange]:
        """Events with a position above `pos`, in order, at most `limit`."""
        ...

    def event(self, pos: int) -> AccessChange | None:
        """The event at a position, or None."""
        ...

    def events_about(self, provider_id: str | None = None, student_id: str | None = None) -> list[AccessChange]:
        """Every event about a provider or a student, in order (tests and tools)."""
        ...

    # the lease
    def lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` until ``now + ttl`` (Unix seconds); False when another holds it."""
        ...

    def lease_state(self, name: str, now: float) -> tuple[str | None, float | None]:
        """(holder, seconds left) of a live lease at `now` (Unix seconds); (None, None) when none."""
        ...

    def release(self, name: str, holder: str) -> None:
        """Give up the lease if `holder` has it."""
        ...

    # webhooks
    def add_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Store a new endpoint with its cursor at the feed's head (in one transaction); return it as stored."""
        ...

    def remove_endpoint(self, endpoint_id: str, now: datetime) -> Removal:
        """Mark an endpoint removed at `now` unless it is missing or removed already."""
        ...

    def mark_redeliver(self, endpoint_id: str, *, event_id: str | None = None, from_cursor: int | None = None) -> int | None:
        """Rewind an active endpoint's cursor to `from_cursor` (returns 0), or mark its dead letters
        (one event's) for redelivery (returns how many). None when no active endpoint has this id."""
        ...

    def endpoints(self, *, include_removed: bool = False) -> list[Endpoint]:
        """Registered endpoints, oldest first."""
        ...

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        """One endpoint (removed ones too), or None."""
        ...

    def advance(self, endpoint_id: str, pos: int) -> None:
        """Move an endpoint's cursor to `pos` (never backwards)."""
        ...

    def dead(self, endpoint_id: str, event: AccessChange, attempts: int, error: str, now: datetime) -> None:
        """Put an event on the dead-letter list and move the endpoint past it (its order continues)."""
        ...

    def dead_letters(self, endpoint_id: str | None = None) -> list[DeadLetter]:
        """The dead-letter list (of one endpoint), oldest first."""
        ...

    def delivered_dead(self, endpoint_id: str, pos: int, now: datetime) -> None:
        """A redelivered dead letter was accepted."""
        ...

    def close(self) -> None:
        """Release the connection (and the store, when this object opened it)."""
        ...
