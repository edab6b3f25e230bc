"""Group commit of the record of decisions: concurrent callers share one transaction, none
answers before its record is committed, and a failed write fails every caller in it (each
answer then a deny(audit_unavailable)). Drills: a write lock held elsewhere, a read-only file,
a process killed with SIGKILL while it records."""

from __future__ import annotations

import collections
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from graph.audit import Caller, SqliteAuditLog
from graph.decision import CheckRequest, Decision
from graph.engine import Engine
from graph.reasons import Reason
from tests.world import NOON, World

ALLOWED_AT = NOON.replace(hour=18)


def setup(tmp_path: Path) -> tuple[Engine, SqliteAuditLog]:
    store = World.base().store(tmp_path)
    audit = SqliteAuditLog(tmp_path / "world.db")
    return Engine(store, audit=audit), audit


def test_concurrent_callers_share_one_commit(tmp_path: Path) -> None:
    engine, audit = setup(tmp_path)
    engine.check(CheckRequest("ana", "sam", ALLOWED_AT))
    before = audit._group.batches
    # Another connection holds the write lock: the first caller's transaction waits while the
    # others queue behind it; released, they are written together (at most two transactions).
    blocker = sqlite3.connect(tmp_path / "world.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers: list[Decision] = []
    done = threading.Lock()

    def ask(i: int) -> None:
        d = engine.check(CheckRequest("ana", "sam", ALLOWED_AT), caller=Caller("app", f"t{i}"))
        with done:
            answers.append(d)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for _ in range(1000):  # wait (without timing anything) until all eight callers are waiting
        if audit._group.pending == 8:
            break
        time.sleep(0.01)
    assert audit._group.pending == 8 and answers == []  # nobody answered while its record is not committed
    blocker.execute("ROLLBACK")
    for t in threads:
        t.join()
    assert len(answers) == 8 and all(d.allowed for d in answers)
    assert audit._group.batches - before <= 2  # eight callers, at most two transactions
    subjects = collections.Counter(r["asked_by"]["subject"] for r in audit.for_student("sam"))
    assert subjects == {None: 1, **{f"t{i}": 1 for i in range(8)}}
    assert list(audit.verify()) == []


def test_a_failed_group_commit_fails_every_caller_closed(tmp_path: Path) -> None:
    engine, audit = setup(tmp_path)
    engine.check(CheckRequest("ana", "sam", ALLOWED_AT))
    audit.conn.close()  # the record really cannot be written: a read-only connection is swapped in
    audit.conn = sqlite3.connect(f"file:{tmp_path / 'world.db'}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    answers: list[Decision] = []

    def ask() -> None:
        answers.append(engine.check(CheckRequest("ana", "sam", ALLOWED_AT)))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 6
    assert all(not d.allowed and Reason.AUDIT_UNAVAILABLE in d.codes and not d.path for d in answers)
    assert SqliteAuditLog(tmp_path / "world.db").count() == 1


def test_killed_while_recording_leaves_no_answer_without_its_record(tmp_path: Path) -> None:
    World.base().store(tmp_path).close()
    db = tmp_path / "world.db"
    SqliteAuditLog(db).close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.record.record_child", str(db), "6"], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    assert proc.stdout is not None
    printed: collections.Counter[str] = collections.Counter()
    for line in proc.stdout:
        thread, outcome, allowed = line.split()
        assert outcome == "allow" and allowed == "1"
        printed[f"thread-{thread}"] += 1
        if sum(printed.values()) >= 300:
            break
    proc.send_signal(signal.SIGKILL)  # six threads are committing: the kill lands during a transaction or between two
    rest, _ = proc.communicate()
    for line in rest.splitlines():  # answers printed before the kill but not yet read
        if line.count(" ") == 2:
            printed[f"thread-{line.split()[0]}"] += 1
    audit = SqliteAuditLog(db)
    recorded = collections.Counter(r["asked_by"]["subject"] for r in audit.stream_student("sam"))
    missing = {t: n - recorded[t] for t, n in printed.items() if recorded[t] < n}
    assert missing == {}, f"answers given without a record: {missing}"
    assert list(audit.verify()) == []
