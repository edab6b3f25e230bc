"""Group commit: concurrent callers share one durable write, and each returns only after it.

A caller queues its items; when no write is under way it becomes the leader: it takes every
item queued so far, writes them in one transaction, and hands each caller its results, or
the error that made the write fail, then wakes them all. A caller whose items a leader
wrote returns at once. So nobody returns before the write holding its items has committed,
and a failed write fails every caller in it (the record of decisions then answers
deny(audit_unavailable) to each: fail closed). There is no background thread: with one caller at a time this is a plain
write; with many, callers that arrive while a leader writes wait on a condition, and when
its batch is done the first of them still unanswered leads the next one with all of them.
"""

from __future__ import annotations

import threading
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
        self._cond = threading.Condition()
        self._leading = False
        self.batches = 0
        """Transactions written (for benchmarks and tests)."""
        self.pending = 0
        """Calls submitted and not yet answered (for tests)."""

    def submit(self, items: Sequence[T]) -> list[R]:
        """Write `items` (with whatever else is queued) and return their results once committed.

        Raises whatever `write` raised for the batch holding them.
        """
        ticket: _Ticket[T, R] = _Ticket(items)
        with self._cond:
            self._queue.append(ticket)
            self.pending += 1
            while self._leading and not ticket.done:
                self._cond.wait()  # a leader is writing; it wakes everyone when its batch is done
            if not ticket.done:
                self._leading = True
                batch, self._queue = self._queue, []
        if not ticket.done:
            self._lead(batch)
        with self._cond:
            self.pending -= 1
        if ticket.error is not None:
            raise ticket.error
        return ticket.results

    def _lead(self, batch: list[_Ticket[T, R]]) -> None:
        items = [item for t in batch for item in t.items]
        try:
            results = self._write(items)
            error: BaseException | None = None
        except BaseException as err:  # noqa: BLE001 - not swallowed: every caller in the batch re-raises it
            error = err
        with self._cond:
            i = 0
            for t in batch:
                if error is not None:
                    t.error = error
                else:
                    t.results = results[i : i + len(t.items)]
                    i += len(t.items)
                t.done = True
            self.batches += 1
            self._leading = False
            self._cond.notify_all()
