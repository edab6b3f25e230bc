"""Archiving the record of decisions: old rows move into compressed files, the chain continues
across them, `verify` checks archives and held rows together, a tampered or missing archive
shows, and recording goes on while an archive runs without losing an acknowledged record."""

from __future__ import annotations

import json
import lzma
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from graph.audit import Caller, SqliteAuditLog
from graph.commands.archive_records import ArchiveRecords, archive_records
from graph.decision import CheckRequest, Decision
from graph.engine import Engine
from graph.errors import InputError
from graph.timeutil import to_iso, utcnow
from tests.world import NOON, World

AT = NOON.replace(hour=18)


def setup(tmp_path: Path) -> tuple[Engine, SqliteAuditLog, Decision]:
    store = World.base().store(tmp_path)
    audit = SqliteAuditLog(tmp_path / "world.db")
    engine = Engine(store, audit=audit)
    return engine, audit, engine.decide_only(CheckRequest("ana", "sam", AT))


def held_numbers(audit: SqliteAuditLog) -> list[int]:
    return [int(r[0]) for r in audit.conn.execute("SELECT n FROM decisions ORDER BY n")]


def test_archive_moves_old_records_and_the_chain_continues(tmp_path: Path) -> None:
    engine, audit, d = setup(tmp_path)
    audit.record([d] * 5, Caller(), utcnow())
    time.sleep(0.002)  # spacing, not a timed assertion: the boundary falls between the two groups
    boundary = utcnow()
    time.sleep(0.002)
    audit.record([d] * 3, Caller(), utcnow())
    done = archive_records(audit, ArchiveRecords(boundary, tmp_path / "arch"), now=utcnow())
    assert done is not None and (done.first_n, done.last_n, done.count) == (1, 5, 5)
    assert held_numbers(audit) == [6, 7, 8]
    assert list(audit.verify()) == []
    with lzma.open(done.file, "rt") as f:
        header = json.loads(f.readline())
        assert header["format"] == "needtoknow-record-archive" and header["count"] == 5
        assert [json.loads(line)[0] for line in f] == [1, 2, 3, 4, 5]
    # Nothing that old any more: no second file.
    assert archive_records(audit, ArchiveRecords(boundary, tmp_path / "arch"), now=utcnow()) is None
    engine.check(CheckRequest("ana", "sam", AT))  # new records chain on from the head
    second = archive_records(audit, ArchiveRecords(utcnow(), tmp_path / "arch"), now=utcnow())
    assert second is not None and (second.first_n, second.last_n) == (6, 9)
    assert held_numbers(audit) == []
    engine.check(CheckRequest("ana", "sam", AT))  # an empty table still chains on from the last archive
    assert held_numbers(audit) == [10] and list(audit.verify()) == []
    with pytest.raises(InputError):
        archive_records(audit, ArchiveRecords(utcnow().replace(year=2999), tmp_path / "arch"), now=utcnow())


def test_a_changed_or_missing_archive_shows(tmp_path: Path) -> None:
    _, audit, d = setup(tmp_path)
    audit.record([d] * 4, Caller(), utcnow())
    done = archive_records(audit, ArchiveRecords(utcnow(), tmp_path / "arch"), now=utcnow())
    assert done is not None
    audit.record([d], Caller(), utcnow())
    path = Path(done.file)
    with lzma.open(path, "rt") as f:
        lines = f.read().splitlines()
    row = json.loads(lines[2])
    row[3] = "00" * 32  # a forged hash for record 2
    lines[2] = json.dumps(row)
    with lzma.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    problems = list(audit.verify())
    assert any("SHA-256" in p for p in problems) and any("record 2" in p for p in problems), problems
    path.unlink()
    problems = list(audit.verify())
    assert any("missing" in p for p in problems), problems


def test_recording_goes_on_while_archives_run(tmp_path: Path) -> None:
    _, audit, d = setup(tmp_path)
    acknowledged: list[str] = []
    stop = threading.Event()
    first_acknowledged = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            acknowledged.extend(audit.record([d, d], Caller("app", "writer"), utcnow()))
            first_acknowledged.set()

    def archiver(outcomes: list[object]) -> None:
        # Archive only once something is held: a scheduler that ran the archivers first would
        # leave nothing to archive and the test would show nothing (it failed so once in CI).
        first_acknowledged.wait(timeout=60)
        for _ in range(4):
            try:
                outcomes.append(archive_records(audit, ArchiveRecords(utcnow(), tmp_path / "arch"), now=utcnow()))
            except Exception as err:  # noqa: BLE001 - collected and asserted on below
                outcomes.append(err)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    outcomes: list[list[object]] = [[], []]
    archivers = [threading.Thread(target=archiver, args=(o,)) for o in outcomes]
    for t in threads + archivers:
        t.start()
    for t in archivers:
        t.join()
    stop.set()
    for t in threads:
        t.join()
    done = [o for part in outcomes for o in part if o is not None]
    # Two archivers racing on the same rows: the loser is refused (archive_conflict), never half-applied.
    assert all(getattr(o, "count", 0) > 0 or getattr(o, "code", "") == "archive_conflict" for o in done), done
    archived: set[int] = set()
    for row in audit.conn.execute("SELECT first_n, last_n FROM record_archives"):
        archived.update(range(int(row[0]), int(row[1]) + 1))
    assert archived, "no archive was written"
    held = set(held_numbers(audit))
    lost = [rid for rid in acknowledged if int(rid) not in archived | held]
    assert lost == [] and len(acknowledged) == len(archived | held)
    assert list(audit.verify()) == []
    assert len(list((tmp_path / "arch").iterdir())) == len(audit.conn.execute("SELECT * FROM record_archives").fetchall())


def test_record_cli(tmp_path: Path) -> None:
    engine, audit, _ = setup(tmp_path)
    db = tmp_path / "world.db"
    engine.check(CheckRequest("ana", "sam", AT), caller=Caller("provider", "ana"))
    runner = CliRunner()
    shown = runner.invoke(app, ["record", "show", "--student", "sam", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    [line] = shown.stdout.splitlines()
    assert json.loads(line)["asked_by"]["subject"] == "ana" and json.loads(line)["outcome"] == "allow"
    future = runner.invoke(app, ["record", "archive", "--before", "2199-01-01", "--db", str(db)])
    assert future.exit_code == 2 and "future" in future.output
    done = runner.invoke(app, ["record", "archive", "--before", to_iso(utcnow()) or "", "--db", str(db)])
    assert done.exit_code == 0 and "archived records 1..1" in done.output, done.output
    assert (tmp_path / "world-record-archive").is_dir()
    engine.check(CheckRequest("ana", "sam", AT))
    verified = runner.invoke(app, ["record", "verify", "--db", str(db)])
    assert verified.exit_code == 0 and "2 records chained; 1 in 1 archive file(s), 1 held; chain intact" in verified.output
    audit.conn.execute("UPDATE record_chain SET n = 7")
    assert runner.invoke(app, ["record", "verify", "--db", str(db)]).exit_code == 1
