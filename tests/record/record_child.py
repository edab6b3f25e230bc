"""A process that answers checks from several threads and prints each answer after it is given.

Used by the killed-mid-commit drill (`test_group_commit.py`): the test kills it with SIGKILL
while it records, then checks that every answer it printed has its record.

    python -m tests.record.record_child DB THREADS
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from graph.audit import Caller, SqliteAuditLog
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.stores.memory import MemoryStore
from tests.world import NOON


def main() -> None:
    db, threads = Path(sys.argv[1]), int(sys.argv[2])
    engine = Engine(MemoryStore(db), audit=SqliteAuditLog(db))
    out = threading.Lock()

    def answer(i: int) -> None:
        while True:
            d = engine.check(CheckRequest("ana", "sam", NOON.replace(hour=18)), caller=Caller("app", f"thread-{i}"))
            with out:  # an answer is given only after check returned: after its record committed
                print(f"{i} {d.outcome.value} {int(d.allowed)}", flush=True)

    for i in range(threads):
        threading.Thread(target=answer, args=(i,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
