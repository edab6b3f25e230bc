"""Group commit: concurrent callers share one durable write, and each returns only after it.

A caller queues its items and then takes the commit lock. Whoever holds the lock is the
leader: it takes every item queued so far (its own and those of callers still waiting for
the lock), writes them in one transaction, and hands each caller its results, or the error
that made the write fail. A caller whose items a previous leader already wrote returns at
once. So nobody returns before the write holding its items has committed, and a failed write
fails every caller in it (the record of decisions then answers deny(audit_unavailable) to
each: fail closed). There is no background thread: with one caller at a time this is a plain
write; with many, the wait for the commit lock is where the batch forms. A new leader yields
the GIL once before taking the queue: without it, the thread that just committed takes the
lock again before any waiter has run, and every batch holds one caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class _Ticket(Generic[T, R]):
    __slots__ = ("done", "error", "items", "results")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.results: list[R] = []
        self.error: BaseException | None = None
        self.done = False


class GroupCommit(Generic[T, R]):
    """Batch concurrent `submit` calls into calls of `write` (one transaction each).

    Parameters
    ----------
    write : callable
        Writes every item durably in one transaction and returns one result per item, in
        order; raises to fail them all.
    """

    def __init__(self, write: Callable[[list[T]], list[R]]) -> None:
        self._write = write
        self._queue: list[_Ticket[T, R]] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self.batches = 0
        """Transactions written (for benchmarks and tests)."""
        self.pending = 0
        """Calls submitted and not yet answered (for tests)."""

    def submit(self, items: Sequence[T]) -> list[R]:
        """Write `items` (with whatever else is queued) and return their results once committed.

        Raises whatever `write` raised for the batch holding them.
        """
        ticket: _Ticket[T, R] = _Ticket(items)
        with self._queue_lock:
            self._queue.append(ticket)
            self.pending += 1
        with self._commit_lock:
            if not ticket.done:
                # Let callers that are ready (holding or waiting for the GIL) queue first, so they
                # join this transaction instead of each waiting for one of their own.
                time.sleep(0)
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._lead(batch)
        with self._queue_lock:
            self.pending -= 1
        if ticket.error is not None:
            raise ticket.error
        return ticket.results

    def _lead(self, batch: list[_Ticket[T, R]]) -> None:
        items = [item for t in batch for item in t.items]
        try:
            results = self._write(items)
        except BaseException as err:  # noqa: BLE001 - not swallowed: every caller in the batch re-raises it
            for t in batch:
                t.error, t.done = err, True
            return
        finally:
            self.batches += 1
        i = 0
        for t in batch:
            t.results, t.done = results[i : i + len(t.items)], True
            i += len(t.items)
