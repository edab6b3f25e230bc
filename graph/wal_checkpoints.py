"""Checkpoints of a SQLite write-ahead log, taken by a thread of their own instead of by a writer.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past
``wal_autocheckpoint`` pages: that commit copies every page back into the database file and
fsyncs it, so one request in a few hundred waits for the disk (measured: the record of one
decision, 20,000 students, averaged ~70 µs CPU but ~130 µs wall with the checkpoints in it,
and HTTP check p99 6.8-8.4 ms against 1.7-6.9 ms without them). `BackgroundCheckpoints`
takes PASSIVE checkpoints shortly after writes, on its own connection (SQLite releases the GIL
while it copies and syncs); the writer keeps a higher automatic threshold (`BACKSTOP_PAGES`)
in case the thread cannot keep up, so the WAL stays bounded either way.

A checkpoint changes nothing a reader sees: it copies committed pages into the main file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Final

import structlog

__all__ = ["BACKSTOP_PAGES", "BackgroundCheckpoints"]

log = structlog.get_logger("needtoknow.wal")

BACKSTOP_PAGES: Final = 8000
"""``wal_autocheckpoint`` of a connection whose checkpoints a `BackgroundCheckpoints` takes
(SQLite's default is 1,000 pages): reached only if the thread falls behind."""


class BackgroundCheckpoints:
    """A daemon thread that checkpoints the WAL of the SQLite file at `path` after writes.

    Parameters
    ----------
    path : Path
        The database file (in WAL mode).
    delay : float
        Seconds to gather further commits after a `nudge` before checkpointing.

    Started by the first `nudge` in a process (a forked worker starts its own); `close` stops
    it. A failed checkpoint is logged and retried at the next nudge: the writers' own
    automatic checkpoint (`BACKSTOP_PAGES`) still bounds the WAL.
    """

    def __init__(self, path: Path, delay: float = 0.05) -> None:
        self.path = Path(path)
        self.delay = delay
        self.checkpoints = 0
        """Checkpoints completed (for tests)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()

    def nudge(self) -> None:
        """Note a commit: a checkpoint follows within about `delay` seconds."""
        if self._pid != os.getpid():  # first use, or a forked child (threads do not survive a fork)
            with self._start_lock:
                if self._pid != os.getpid():
                    self._stop.clear()
                    self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
                    self._thread.start()
                    self._pid = os.getpid()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (after the checkpoint under way, if any)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as err:
            log.warning("wal_checkpoints_unavailable", path=str(self.path), cause=str(err))
            return
        try:
            while not self._stop.is_set():
                self._wake.wait()
                if self._stop.wait(self.delay):
                    break
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as err:  # e.g. disk full: the next nudge tries again
                    log.warning("wal_checkpoint_failed", path=str(self.path), cause=str(err))
        finally:
            conn.close()
