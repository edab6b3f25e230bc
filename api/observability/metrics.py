"""The Prometheus series of the server, and ``GET /metrics``.

With several worker processes (``serve --workers N``) each writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (set by `api.cli.server.serve` before the workers start) and
``/metrics`` answers the sum over every worker from any of them (prometheus-client's
multiprocess mode). Label values come from closed sets (schema fields, reason codes,
statuses), never from ids or client text.

=====================================  =======  =============================================
series                                 type     labels
=====================================  =======  =============================================
ntk_requests_total                     counter  operation, status
ntk_operation_seconds                  hist.    operation (check, checkMany, accessibleStudents,
                                                providersWithAccess, coverage, ... /coverage/data)
ntk_decisions_total                    counter  outcome (allow, partial, deny), reason (none for
                                                an allow; one count per reason of a deny)
ntk_engine_step_seconds                hist.    step (sync, gather, record, lookup, apply)
ntk_record_write_seconds               hist.    -
ntk_record_failures_total              counter  -
ntk_feed_step_seconds                  hist.    -
ntk_feed_events_total                  counter  -
ntk_journal_lag_events                 gauge    pid (one per live worker): journal events the
                                                worker was behind at its last read
ntk_journal_catchup_events_total       counter  -
ntk_rate_limited_total                 counter  limit (request, aggregate)
=====================================  =======  =============================================
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as mp
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "DECISIONS",
    "ENGINE_SECONDS",
    "FEED_EVENTS",
    "FEED_SECONDS",
    "JOURNAL_CATCHUP",
    "JOURNAL_LAG",
    "MULTIPROC_ENV",
    "OPERATION_SECONDS",
    "RATE_LIMITED",
    "RECORD_FAILURES",
    "RECORD_SECONDS",
    "REQUESTS",
    "metrics_endpoint",
    "worker_exited",
]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

# Seconds: a check answers in well under a millisecond in process; a coverage report or a
# bulk checkMany can take seconds.
_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS: Final = Counter("ntk_requests", "HTTP requests answered, by operation and HTTP status.", ["operation", "status"])
OPERATION_SECONDS: Final = Histogram("ntk_operation_seconds", "Time to answer a request, by operation.", ["operation"], buckets=_BUCKETS)
DECISIONS: Final = Counter("ntk_decisions", "Decisions answered, by outcome and reason code.", ["outcome", "reason"])
ENGINE_SECONDS: Final = Histogram("ntk_engine_step_seconds", "Time of one engine step.", ["step"], buckets=_BUCKETS)
RECORD_SECONDS: Final = Histogram("ntk_record_write_seconds", "Time to write decisions to the record (one transaction).", buckets=_BUCKETS)
RECORD_FAILURES: Final = Counter("ntk_record_failures", "Record writes that failed (every decision became deny(audit_unavailable)).")
FEED_SECONDS: Final = Histogram("ntk_feed_step_seconds", "Time of one step of the access-change feed's deriver.", buckets=_BUCKETS)
FEED_EVENTS: Final = Counter("ntk_feed_events", "Access-change events the feed stored.")
JOURNAL_LAG: Final = Gauge(
    "ntk_journal_lag_events",
    "Journal events this worker was behind when it last read (caught up before answering).",
    multiprocess_mode="liveall",
)
JOURNAL_CATCHUP: Final = Counter("ntk_journal_catchup_events", "Journal events written by other processes that this one caught up with.")
RATE_LIMITED: Final = Counter("ntk_rate_limited", "Requests refused 429 by a limit.", ["limit"])


def _registry() -> CollectorRegistry | None:
    if not os.environ.get(MULTIPROC_ENV):
        return None
    registry = CollectorRegistry()
    mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


async def metrics_endpoint(_: Request) -> Response:
    """The Prometheus text exposition of every series (summed over the workers)."""
    registry = _registry()
    body = generate_latest(registry) if registry is not None else generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def worker_exited() -> None:
    """Drop this worker's live gauges (multiprocess mode; a no-op otherwise)."""
    if os.environ.get(MULTIPROC_ENV):
        mp.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
