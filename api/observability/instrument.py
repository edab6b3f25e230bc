"""Spans and timings around the engine's steps, the record write and the feed.

The engine, its store and its record are the domain's objects (graph/); they know nothing of
Prometheus or OpenTelemetry. The server wraps the few methods that make up a request's
steps on its own instances here, so graph/ stays free of both.

==================  ========================================  ====================================
span                wraps                                     series
==================  ========================================  ====================================
engine.check_many   `Engine.check_many` (check and checkMany)  -
engine.lookup       accessible_students, providers_with_access ntk_engine_step_seconds{step=lookup}
engine.apply        `Engine.apply`                             ntk_engine_step_seconds{step=apply}
store.sync          the store's catch-up with the journal      {step=sync}; ntk_journal_lag_events
engine.gather       evidence of one state                      {step=gather}
engine.record       record, or deny(audit_unavailable)         {step=record}; ntk_decisions_total
audit.record        the record's one write transaction          ntk_record_write_seconds (+failures)
feed.step           one step of the feed's deriver             ntk_feed_step_seconds, events
==================  ========================================  ====================================
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from api.observability import metrics as m
from api.observability.tracing import span as traced
from graph.decision import Decision
from graph.engine import Engine
from graph.errors import AuditUnavailable, InputError

__all__ = ["instrument_engine", "instrument_feed", "token_seq"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _timed(span: str, step: str | None, fn: _F) -> _F:
    histogram = m.ENGINE_SECONDS.labels(step) if step is not None else None  # bound once: labels() takes a lock

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        with traced(span):
            try:
                return fn(*args, **kwargs)
            finally:
                if histogram is not None:
                    histogram.observe(time.perf_counter() - started)

    return wrapper  # type: ignore[return-value]


def token_seq(token: str) -> int | None:
    """The journal sequence number inside a consistency token (embedded: the number; Neo4j: decoded)."""
    if token.isdigit():
        return int(token)
    try:
        from graph.stores.neo4j import decode_token

        return decode_token(token)[0]
    except (InputError, ValueError, ImportError):
        return None


def _count(decisions: Sequence[Decision]) -> None:
    # Tallied first, then one `labels` per distinct series: `labels` takes a lock and builds a
    # key, and a checkMany of 1,000 would otherwise call it a few thousand times.
    tally: Counter[tuple[str, str]] = Counter()
    for d in decisions:
        outcome = str(d.outcome)
        if not d.reasons:
            tally[outcome, "none"] += 1
        for reason in {str(r.code) for r in d.reasons}:
            tally[outcome, reason] += 1
    for (outcome, reason), n in tally.items():
        m.DECISIONS.labels(outcome, reason).inc(n)


def instrument_engine(engine: Engine) -> Engine:
    """Wrap `engine`'s steps (in place) with spans and timings; return it."""
    store = engine.store
    sync = store.sync
    sync_seconds = m.ENGINE_SECONDS.labels("sync")

    @functools.wraps(sync)
    def observed_sync(token: str | None = None) -> None:
        before = token_seq(store.token())
        with traced("store.sync"):
            started = time.perf_counter()
            sync(token)
            sync_seconds.observe(time.perf_counter() - started)
        after = token_seq(store.token())
        if before is not None and after is not None:
            m.JOURNAL_LAG.set(after - before)
            if after > before:
                m.JOURNAL_CATCHUP.inc(after - before)

    store.sync = observed_sync  # type: ignore[method-assign]
    engine.check_many = _timed("engine.check_many", None, engine.check_many)  # type: ignore[method-assign]
    engine.accessible_students = _timed("engine.lookup", "lookup", engine.accessible_students)  # type: ignore[method-assign]
    engine.providers_with_access = _timed("engine.lookup", "lookup", engine.providers_with_access)  # type: ignore[method-assign]
    engine.apply = _timed("engine.apply", "apply", engine.apply)  # type: ignore[method-assign]
    engine._gather_at_one_state = _timed("engine.gather", "gather", engine._gather_at_one_state)  # type: ignore[method-assign]
    record_step = _timed("engine.record", "record", engine._record)

    @functools.wraps(engine._record)
    def counted_record(*args: Any, **kwargs: Any) -> list[Decision]:
        answered: list[Decision] = record_step(*args, **kwargs)
        _count(answered)
        return answered

    engine._record = counted_record  # type: ignore[method-assign]
    audit = engine.audit
    if audit is not None:
        write = audit.record

        @functools.wraps(write)
        def observed_write(*args: Any, **kwargs: Any) -> list[str]:
            started = time.perf_counter()
            with traced("audit.record"):
                try:
                    return write(*args, **kwargs)
                except AuditUnavailable:
                    m.RECORD_FAILURES.inc()
                    raise
                finally:
                    m.RECORD_SECONDS.observe(time.perf_counter() - started)

        audit.record = observed_write  # type: ignore[method-assign]
    return engine


def instrument_feed(service: Any) -> None:
    """Time each step of a `api.webhooks.service.FeedService`'s deriver, and count the events it stores."""
    deriver = service.deriver
    step = deriver.step

    @functools.wraps(step)
    def observed_step(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        with traced("feed.step"):
            stored = step(*args, **kwargs)
        m.FEED_SECONDS.observe(time.perf_counter() - started)
        if stored:
            m.FEED_EVENTS.inc(len(stored))
        return stored

    deriver.step = observed_step
