"""How far behind the feed is, and the last error it met (``readyz``, ``needtoknow feed status``).

A feed that stops deriving answers every query still: only its lag shows it. The lag is
counted from durable state, so any process can report it: outbox rows committed but not yet
derived, and the age of the oldest of them. The last error is what the feed service recorded
in ``feed_meta`` when a step failed (best effort: a failure to write the feed file itself is
only in that process's log and its ``readyz``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.feed.outbox_read import OutboxReader
from graph.feed.tables import FeedTables
from graph.timeutil import ensure_aware, to_iso

__all__ = ["FeedStatus", "feed_status"]


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The feed's progress.

    ``outbox_head``: the sequence number of the newest outbox row; ``outbox_done``: of the last
    one derived; ``lag_rows``: outbox rows (commits) not derived yet; ``lag_seconds``: age of the oldest row not derived (0.0
    when none); ``clock_done``: the last lapse instant processed (aware UTC, None before the
    first run); ``events``: the feed's head position; ``lease_holder`` / ``lease_seconds_left``:
    the process deriving (None when none holds a live lease); ``last_error`` / ``last_error_at``:
    the last failure a feed service recorded (kept after recovery; compare with the lag).
    """

    outbox_head: int
    outbox_done: int
    lag_rows: int
    lag_seconds: float
    clock_done: datetime | None
    events: int
    lease_holder: str | None
    lease_seconds_left: float | None
    last_error: str | None
    last_error_at: datetime | None

    def wire(self) -> dict[str, Any]:
        """JSON-ready camelCase fields (instants as ISO 8601 UTC)."""
        return {
            "outboxHead": self.outbox_head,
            "outboxDone": self.outbox_done,
            "lagRows": self.lag_rows,
            "lagSeconds": round(self.lag_seconds, 3),
            "clockDone": None if self.clock_done is None else to_iso(self.clock_done),
            "events": self.events,
            "leaseHolder": self.lease_holder,
            "leaseSecondsLeft": None if self.lease_seconds_left is None else round(self.lease_seconds_left, 3),
            "lastError": self.last_error,
            "lastErrorAt": None if self.last_error_at is None else to_iso(self.last_error_at),
        }


def feed_status(reader: OutboxReader, feed: FeedTables, now: datetime) -> FeedStatus:
    """The feed's lag at `now` (aware) from the outbox (`reader`) and the feed tables.

    Raises StoreUnavailable when either cannot be read.
    """
    done = int(feed.meta("outbox_done") or 0)
    head = reader.head()
    pending = reader.since(done, limit=1)
    lag_seconds = max(0.0, (ensure_aware(now) - pending[0].recorded_at).total_seconds()) if pending else 0.0
    clock = feed.meta("clock_done")
    holder, left = feed.lease_state("feed", time.time())
    error = feed.meta("last_error")
    err = json.loads(error) if error else None
    return FeedStatus(
        outbox_head=head,
        outbox_done=done,
        lag_rows=reader.count_since(done) if pending else 0,
        lag_seconds=lag_seconds,
        clock_done=None if clock is None else ensure_aware(datetime.fromisoformat(clock)),
        events=feed.head(),
        lease_holder=holder,
        lease_seconds_left=left,
        last_error=None if err is None else str(err["error"]),
        last_error_at=None if err is None else ensure_aware(datetime.fromisoformat(err["at"])),
    )
