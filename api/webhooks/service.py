"""The feed service of one server process: take the lease, derive, schedule, deliver.

Several processes (``serve --workers N`` over one SQLite file, or servers on several
machines over one Neo4j database, where the feed's tables live with the graph) may run it;
one holds the ``feed`` lease at a time and does the work; the others wait
and take over when the lease lapses (``NTK_FEED_LEASE_SECONDS``). Nothing is held only in
memory: outbox rows, events, announced access and every cursor are durable, so a process
killed at any point loses nothing (docs/feed.md). Subscriptions do not need the lease: each
process reads stored events (`graph.feed.tables.FeedTables.events_after`).

The loop outlives any exception (a locked or full file, a Neo4j outage, a bug met by one
outbox row): it logs it with its traceback, records it (`status`, ``feed_meta.last_error``),
waits (doubling from ``NTK_FEED_BACKOFF_SECONDS``, capped at 30 s) and tries the same work
again. A failed step recorded nothing, so no outbox row or lapse is skipped: the schedule is
rebuilt from the durable cursors before the retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from api.webhooks.deliver import EndpointWorker
from api.webhooks.settings import FeedSettings
from graph.engine import Engine
from graph.errors import NeedToKnowError
from graph.feed.deriver import Deriver, LeaseLost, Schedule
from graph.feed.outbox_read import OutboxReader
from graph.feed.registry import feed_for
from graph.feed.status import feed_status
from graph.feed.tables import FeedTables
from graph.policy import Policy
from graph.settings import Settings
from graph.stores.base import GraphStore
from graph.timeutil import to_iso, utcnow

__all__ = ["FeedService", "start_feed_service"]

log = structlog.get_logger("needtoknow.feed")

LEASE = "feed"
_MAX_RETRY_DELAY = 30.0


class FeedService:
    """Runs the deriver and the webhook workers in a daemon thread while this process holds the lease.

    Parameters
    ----------
    store, feed, policy, clock
        As for `graph.feed.deriver.Deriver`.
    settings : FeedSettings
    ahead : Schedule, optional
        A lapse schedule built before this process forked (`Deriver.build_schedule`, api.prefork);
        the first start uses it when the graph and the cursor are still the ones it was built for.
    """

    def __init__(
        self,
        store: GraphStore,
        feed: FeedTables,
        policy: Policy,
        clock: Callable[[], datetime],
        settings: FeedSettings | None = None,
        ahead: Schedule | None = None,
    ) -> None:
        self.settings = settings or FeedSettings()
        self.feed = feed
        self.clock = clock
        self.deriver = Deriver(store, feed, policy, clock)
        self.deriver.ahead = ahead
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.workers: dict[str, EndpointWorker] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self._renewed = 0.0
        self.leader = False
        self.deriver.heartbeat = self._heartbeat
        self.failures = 0
        """Consecutive failed rounds (0 once a round succeeds)."""
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and the workers; give up the lease."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._stop_workers()
        if self.leader:
            with contextlib.suppress(NeedToKnowError):
                self.feed.release(LEASE, self.holder)
        self.deriver.close()

    def _stop_workers(self) -> None:
        for w in self.workers.values():
            w.stop()
        for w in self.workers.values():
            w.join(timeout=10)
        self.workers.clear()

    def _hold_lease(self) -> bool:
        now = time.time()
        if self.leader and now - self._renewed < self.settings.lease_seconds / 3:
            return True
        leader = self.feed.lease(LEASE, self.holder, now, self.settings.lease_seconds)
        if leader:
            self._renewed = now
        if leader != self.leader:
            log.info("feed_lease", holder=self.holder, leader=leader)
        self.leader = leader
        return leader

    def _heartbeat(self) -> None:
        """Renew the lease during long work (a first snapshot, a bulk load); LeaseLost if another took it."""
        if not self._hold_lease():
            raise LeaseLost(self.holder)

    def _sync_workers(self) -> None:
        current = {e.id: e for e in self.feed.endpoints()}
        for endpoint_id in [i for i, w in self.workers.items() if i not in current or not w.is_alive()]:
            self.workers.pop(endpoint_id).stop()
        for endpoint_id, endpoint in current.items():
            if endpoint_id not in self.workers:
                worker = EndpointWorker(self.feed, endpoint, self.settings, self.clock)
                self.workers[endpoint_id] = worker
                worker.start()

    def tick(self) -> int:
        """One round as lease holder: derive, then wake the workers. Returns events stored."""
        # A (re)start rebuilds the schedule, then the same round derives: a failing row is
        # retried every round, and the failure count keeps growing until it succeeds.
        stored = [] if self.deriver.started else self.deriver.start()
        stored += self.deriver.step()
        self._sync_workers()
        if stored:
            for w in self.workers.values():
                w.wake.set()
        return len(stored)

    def _failed(self, err: Exception) -> float:
        """Log and record a failed round; the delay before the next try (seconds)."""
        self.failures += 1
        self.last_error = f"{type(err).__name__}: {err}"[:500]
        self.last_error_at = utcnow()
        delay = min(self.settings.backoff_seconds * 2.0 ** (self.failures - 1), _MAX_RETRY_DELAY)
        log.error("feed_step_failed", error=self.last_error, failures=self.failures, retry_in_seconds=delay, exc_info=err)
        # Rebuild the lapse schedule from the durable cursors before retrying: the failed step
        # may have taken instants off the in-memory heap without recording them.
        self.deriver.started = False
        with contextlib.suppress(Exception):  # best effort: the failure may be this very file
            self.feed.set_meta("last_error", json.dumps({"error": self.last_error, "at": self.last_error_at.isoformat()}))
        return delay

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.settings.poll_seconds
            try:
                if self._hold_lease():
                    self.tick()
                elif self.deriver.started or self.workers:
                    self.deriver.started = False
                    self._stop_workers()
                self.failures = 0
            except LeaseLost:
                log.info("feed_lease_lost", holder=self.holder)
                self.deriver.started = False
                self._stop_workers()
            except Exception as err:  # noqa: BLE001 - the feed must outlive any failure; logged, retried
                delay = self._failed(err)
            self._stop.wait(delay)

    def status(self) -> dict[str, object]:
        """This process's view of the feed for ``readyz``: the durable lag (`graph.feed.status`)
        plus whether the loop runs, holds the lease, and its last failure (camelCase JSON)."""
        try:
            reader = OutboxReader(self.deriver.store)  # its own connection: the loop's may be mid-read
            try:
                out: dict[str, object] = feed_status(reader, self.feed, self.clock()).wire()
            finally:
                reader.close()
        except Exception as err:  # noqa: BLE001 - a status must answer even when the files do not
            out = {"unreadable": f"{type(err).__name__}: {err}"[:500]}
        out.update(
            running=self._thread.is_alive(),
            leader=self.leader,
            consecutiveFailures=self.failures,
            processLastError=self.last_error,
            processLastErrorAt=None if self.last_error_at is None else to_iso(self.last_error_at),
            workers={i: {"running": w.is_alive(), "lastError": w.last_error} for i, w in list(self.workers.items())},
        )
        return out


def start_feed_service(engine: Engine, where: Settings, ahead: Schedule | None = None) -> FeedService | None:
    """Start the feed service for a server process (None when ``NTK_FEED_ENABLED`` is off); its
    tables are where `where` says (`graph.feed.registry.feed_for`: SQLite, or Neo4j); `ahead`
    as for `FeedService`.

    Raises StoreUnavailable when the feed's tables cannot be opened.
    """
    settings = FeedSettings()
    if not settings.enabled:
        return None
    service = FeedService(engine.store, feed_for(where, engine.store), engine.policy, engine.clock, settings, ahead)
    service.start()
    return service
