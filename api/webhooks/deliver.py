"""Delivering the feed to one webhook endpoint: in order, at least once, signed.

A worker walks the feed from the endpoint's cursor, skipping events its audience may not
receive, and POSTs each admitted event (`graph.feed.events.AccessChange.payload`, signed per
Standard Webhooks). A 2xx moves the cursor past it; anything else (an error status, a refused
connection, a timeout) is retried after ``backoff * 2**n`` seconds (capped at 60), up to
``max_attempts``; then the event goes to the dead-letter list and the cursor moves on, so one
bad event does not stall the endpoint. The cursor is stored after each delivery: a crash
between a delivery and its cursor write sends that one event again (at least once; receivers
deduplicate on ``webhook-id``). Dead letters an admin marks for redelivery are sent before
the next new event.

The loop outlives any exception (logged with its traceback, retried after a doubling delay).
Once an endpoint has accepted an event, the cursor write that records it is retried until it
succeeds (a locked file waits): the event is never sent again by this worker; only a process
that dies before the write sends it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial

import httpx
import structlog

from api.webhooks.settings import FeedSettings
from api.webhooks.signing import signed_headers
from graph.feed.audience import Audience
from graph.feed.events import AccessChange
from graph.feed.tables import Endpoint, FeedTables

__all__ = ["EndpointWorker"]

log = structlog.get_logger("needtoknow.webhooks")

_MAX_DELAY = 60.0
_MAX_RETRY_DELAY = 30.0
_PAGE = 200


class EndpointWorker(threading.Thread):
    """The delivery loop of one endpoint (a daemon thread run by the lease holder)."""

    def __init__(self, feed: FeedTables, endpoint: Endpoint, settings: FeedSettings, clock: Callable[[], datetime]) -> None:
        super().__init__(name=f"webhook-{endpoint.id}", daemon=True)
        self.feed = feed
        self.endpoint = endpoint
        self.audience = Audience(endpoint.role, endpoint.subject, endpoint.partners)
        self.settings = settings
        self.clock = clock
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._client = httpx.Client(timeout=settings.timeout_seconds)
        self.last_error: str | None = None
        """The last failure of the loop (not of an attempt: those are retried and dead-lettered)."""

    def _settle(self, write: Callable[[], None]) -> bool:
        """Run a cursor write that must follow an accepted delivery, retrying until it succeeds;
        False only when stopping first (the event is then sent again by the next holder)."""
        delay = self.settings.backoff_seconds
        while True:
            try:
                write()
                return True
            except Exception as err:  # any failure: retry, never resend
                self.last_error = f"{type(err).__name__}: {err}"[:500]
                log.error("webhook_cursor_write_failed", endpoint_id=self.endpoint.id, error=self.last_error, exc_info=err)
            if self.stopping.wait(delay):
                return False
            delay = min(delay * 2, _MAX_RETRY_DELAY)

    def stop(self) -> None:
        """Ask the loop to end (an attempt in flight finishes first)."""
        self.stopping.set()
        self.wake.set()

    def _send(self, e: AccessChange) -> str | None:
        """One attempt; None on a 2xx, else what went wrong."""
        body = e.payload(full_reasons=self.audience.full_reasons)
        headers = signed_headers(self.endpoint.secret, e.id, self.clock(), body)
        try:
            response = self._client.post(self.endpoint.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def deliver(self, e: AccessChange) -> bool:
        """Send with retries; True when accepted, False when given up (or stopping)."""
        error = "not attempted"
        for attempt in range(self.settings.max_attempts):
            if self.stopping.is_set():
                return False
            error_or_none = self._send(e)
            if error_or_none is None:
                log.info("webhook_delivered", endpoint_id=self.endpoint.id, event_id=e.id, attempt=attempt + 1)
                return True
            error = error_or_none
            log.warning("webhook_attempt_failed", endpoint_id=self.endpoint.id, event_id=e.id, attempt=attempt + 1, error=error)
            if attempt + 1 < self.settings.max_attempts:
                self.stopping.wait(min(self.settings.backoff_seconds * 2**attempt, _MAX_DELAY))
        if not self.stopping.is_set():
            dead_at = self.clock()
            if self._settle(partial(self.feed.dead, self.endpoint.id, e, self.settings.max_attempts, error, dead_at)):
                log.error("webhook_dead_letter", endpoint_id=self.endpoint.id, event_id=e.id, error=error)
        return False

    def _redeliveries(self) -> None:
        for dl in self.feed.dead_letters(self.endpoint.id):
            if not dl.redeliver or self.stopping.is_set():
                continue
            e = self.feed.event(dl.pos)
            if e is not None and self._send(e) is None:
                at = self.clock()
                self._settle(partial(self.feed.delivered_dead, self.endpoint.id, dl.pos, at))

    def run_once(self) -> bool:
        """Deliver what is pending now; True when something was looked at."""
        current = self.feed.endpoint(self.endpoint.id)
        if current is None or current.removed_at is not None:
            self.stopping.set()
            return False
        self._redeliveries()
        events = self.feed.events_after(current.cursor, _PAGE)
        for e in events:
            if self.stopping.is_set():
                return True
            if self.audience.admits(e):
                if self.deliver(e):
                    if not self._settle(partial(self.feed.advance, self.endpoint.id, e.position)):
                        return True
                elif self.stopping.is_set():
                    return True
                # else: dead-lettered, cursor already moved past it
            else:
                self.feed.advance(self.endpoint.id, e.position)
        return bool(events)

    def run(self) -> None:
        """Loop until stopped: deliver, then wait for new events (or the next poll); survive any failure."""
        failures = 0
        try:
            while not self.stopping.is_set():
                try:
                    busy = self.run_once()
                    failures = 0
                except Exception as err:  # the worker must outlive any failure; logged, retried
                    failures += 1
                    self.last_error = f"{type(err).__name__}: {err}"[:500]
                    delay = min(self.settings.backoff_seconds * 2.0 ** (failures - 1), _MAX_RETRY_DELAY)
                    log.error(
                        "webhook_worker_error", endpoint_id=self.endpoint.id, error=self.last_error, retry_in_seconds=delay, exc_info=err
                    )
                    self.stopping.wait(delay)
                    continue
                if not busy:
                    self.wake.wait(0.5)
                    self.wake.clear()
        finally:
            self._client.close()
