"""``serve --workers N``: load the graph once, then fork N uvicorn workers that share its memory.

uvicorn's own multi-process mode starts each worker as a fresh interpreter (``spawn``) that
imports the app and rebuilds the graph: N copies. Here the parent opens the embedded store
(from its snapshot plus the journal's tail), closes the journal's SQLite connection (one must
never be used on both sides of a fork), moves every object it holds out of the garbage
collector's reach (`gc.freeze`: a collection would write to every object's header and copy
every page) and forks. Each child reconnects to the journal, catches up, and runs
`uvicorn.Server` on the listening socket the parent bound, so the kernel spreads connections
over the workers. Pages stay shared until a worker writes to them (a write it applies, or a
reference count that changes); PSS summed over the processes measures what is really used
(BENCHMARKS.md).

Writes made through one worker reach the others as before: each catches up from the shared
journal before a read (``PRAGMA data_version``) and honours consistency tokens.

The access-change feed's lease holder reads the evidence of every pair when it starts its
lapse schedule (docs/feed.md): a reference-count write on nearly every record, so a worker
doing it ends up with a private copy of most of the graph (~400 MiB of 1,100 at 170,000
students, BENCHMARKS.md). So the parent builds that schedule before forking
(`Deriver.build_schedule`) and the worker that starts the feed adopts it when nothing changed
since; and the service runs in one worker only, slot `FEED_SLOT` (the others start with
``NTK_FEED_ENABLED=false``; off everywhere, nowhere), so a lease that moves (a busy machine
delays renewals) cannot make every worker walk the graph in turn. The lease still decides
between processes sharing the file (a CLI ``feed`` command). Subscriptions do not need the
service: every worker reads stored events.

The parent only supervises: a worker that dies is forked again (from the parent's graph, then
caught up from the journal); SIGINT or SIGTERM stops every worker and returns. With the Neo4j
backend nothing is preloaded and each worker opens its own driver.

Why not gunicorn with ``preload_app``: it would fit, but adds two packages (gunicorn and the
uvicorn-worker class, split out of uvicorn) for a supervisor of some sixty lines, and the
store needs its own step on each side of the fork anyway.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

import structlog
import uvicorn

from api.app import create_app
from api.config import ApiSettings
from api.webhooks.settings import FeedSettings
from graph.feed.deriver import Deriver, Schedule
from graph.feed.registry import close_all, feed_for
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow

__all__ = ["serve_forked"]

log = structlog.get_logger("needtoknow.serve")

Handler = Callable[[int, FrameType | None], Any] | int | None

FEED_SLOT = 0
"""The worker that runs the feed service (docs/feed.md); forked again into the same slot when it dies."""

_STARTUP_FAILED = 3  # uvicorn's own exit code for a server whose startup failed


def serve_forked(settings: ApiSettings, sock: socket.socket, workers: int) -> None:
    """Preload the store, fork `workers` workers serving on `sock`, supervise until SIGINT/SIGTERM.

    Parameters
    ----------
    settings : ApiSettings
    sock : socket.socket
        Bound and listening; every worker accepts on it.
    workers : int
        Worker processes (at least 1).

    Raises
    ------
    StoreUnavailable
        The store cannot be opened (before any worker starts).
    """
    store: MemoryStore | None = None
    schedule: Schedule | None = None
    if settings.backend != "neo4j":
        store = MemoryStore(settings.db)
        schedule = _feed_schedule(settings, store)
        store.detach()
        log.info("graph_loaded", token=store.token(), workers=workers, feed_schedule=schedule is not None)
    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for slot in range(workers):
            children[_fork(settings, store, sock, previous, slot, schedule)] = slot
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                continue
            slot_of = children.pop(pid, None)
            if slot_of is None or stopping:
                continue
            if os.waitstatus_to_exitcode(status) == _STARTUP_FAILED:  # forking again would fail again
                log.error("worker_did_not_start", pid=pid)
                stop(signal.SIGTERM, None)
                raise SystemExit(_STARTUP_FAILED)
            log.error("worker_died", pid=pid, status=status)
            children[_fork(settings, store, sock, previous, slot_of, schedule)] = slot_of
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for pid in children:
            _signal(pid, signal.SIGTERM)
        for pid in list(children):
            _reap(pid)


def _fork(
    settings: ApiSettings,
    store: MemoryStore | None,
    sock: socket.socket,
    hooks: Mapping[signal.Signals, Handler],
    slot: int,
    schedule: Schedule | None,
) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for s, handler in hooks.items():  # uvicorn installs its own; start from the defaults
            signal.signal(s, handler)
        if slot != FEED_SLOT:
            # The feed service runs in one worker only (see the module docstring): its leader
            # reads every pair's evidence at start, which copies most of the graph's pages.
            os.environ["NTK_FEED_ENABLED"] = "false"
        code = _worker(settings, store, sock, schedule)
    except BaseException as err:  # noqa: BLE001 - a worker must never return into the parent's loop
        log.error("worker_failed", error=f"{type(err).__name__}: {err}")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _worker(settings: ApiSettings, store: MemoryStore | None, sock: socket.socket, schedule: Schedule | None) -> int:
    preloaded: GraphStore | None = None
    if store is not None:
        store.attach()
        preloaded = store
    app = create_app(settings, store=preloaded, feed_schedule=schedule)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else _STARTUP_FAILED


def _feed_schedule(settings: ApiSettings, store: MemoryStore) -> Schedule | None:
    """The feed's lapse schedule, built here before the fork (None when the feed is off or has never run).

    Its connections are closed again: none may cross the fork. A worker that starts the feed
    uses it only if the graph and the feed's cursor are unchanged (`Deriver.start`), else walks
    the pairs itself, as without it.
    """
    if not FeedSettings().enabled:
        return None
    deriver = Deriver(store, feed_for(settings, store), settings.policy(), utcnow)
    try:
        return deriver.build_schedule()
    finally:
        deriver.close()
        close_all()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
