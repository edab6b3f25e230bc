"""An online backup taken while the store is being written restores to a store that
`needtoknow verify` accepts and that answers exactly as the live store did at the
backup's consistency token.

    the tests/api/conftest.py world; while the backups run, one writer adds batches of
    students that ana serves (every other batch with a consent: allow, else consent_missing)
    and another records checks in the record of decisions (its hash chain grows)
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from graph.audit import Caller, SqliteAuditLog
from graph.changes import Change, PutEdge, PutNode
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.model import About, Attends, Consent, GivenBy, NodeKind, Permits, Serves, Student
from graph.stores.memory import MemoryStore
from tests.api.conftest import NOW, build_db
from tests.world import T0

BACKUPS = 3
AT = NOW + timedelta(hours=1)


def batch(k: int) -> list[Change]:
    """Five students ana serves; with consents when `k` is even."""
    out: list[Change] = []
    for j in range(5):
        s, c = f"bk-{k}-{j}", f"bkc-{k}-{j}"
        out += [
            PutNode(Student(id=s)),
            PutEdge(Attends(id=f"bka-{k}-{j}", from_id=s, to_id="lincoln", valid_from=T0)),
            PutEdge(Serves(id=f"bks-{k}-{j}", from_id="ana", to_id=s, valid_from=T0, program="prg-tutor",
                           categories_needed=frozenset({"attendance"}))),
        ]  # fmt: skip
        if k % 2 == 0:
            out += [
                PutNode(Consent(id=c, signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"}))),
                PutEdge(About(id=f"bkab-{k}-{j}", from_id=c, to_id=s, valid_from=T0)),
                PutEdge(GivenBy(id=f"bkgb-{k}-{j}", from_id=c, to_id=s, valid_from=T0)),
                PutEdge(Permits(id=f"bkpm-{k}-{j}", from_id=c, to_id="ptn-hope", valid_from=T0)),
            ]
    return out


def answers(store: MemoryStore) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    """Every provider x student decision at AT: outcome and reason codes."""
    engine = Engine(store)
    out = {}
    for p in store.nodes(NodeKind.PROVIDER):
        for s in store.nodes(NodeKind.STUDENT):
            d = engine.decide_only(CheckRequest(p.id, s.id, AT, "academic_support"))
            out[(p.id, s.id)] = (str(d.outcome), tuple(sorted(str(r.code) for r in d.reasons)))
    return out


def run_until(stop: threading.Event, work: Callable[[int], None]) -> threading.Thread:
    def loop() -> None:
        k = 0
        while not stop.is_set():
            work(k)
            k += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_an_online_backup_under_writes_verifies_and_answers_identically(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    build_db(db)
    writer, reader = MemoryStore(db), MemoryStore(db)
    audit = SqliteAuditLog(db)
    engine = Engine(reader, audit=audit)
    stop = threading.Event()
    threads = [
        run_until(stop, lambda k: writer.apply(batch(k))),
        run_until(stop, lambda k: engine.check(CheckRequest("ana", "sam", AT, "academic_support"), caller=Caller("operator", "t"))),
    ]
    runner = CliRunner()
    heads: list[int] = []
    try:
        deadline = time.monotonic() + 60  # the first backup must already hold some records
        while audit.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert audit.count() > 0 and all(t.is_alive() for t in threads)
        for n in range(BACKUPS):
            result = runner.invoke(app, ["backup", str(tmp_path / f"backup-{n}.db"), "--db", str(db)])
            assert result.exit_code == 0, result.output
            heads.append(int(result.output.split("journal head ")[1].split()[0]))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        writer.close()
        reader.close()
        audit.close()
    assert len(set(heads)) > 1  # the writes went on between the backups: each copy is a different state
    for n, head in enumerate(heads):
        restored = tmp_path / f"restored-{n}.db"
        shutil.copyfile(tmp_path / f"backup-{n}.db", restored)  # restore = put the file in place (docs/operations.md)
        verified = runner.invoke(app, ["verify", "--db", str(restored)])
        assert verified.exit_code == 0, verified.output
        copy = MemoryStore(restored)
        then = MemoryStore(db, until=head)  # the live store as known at the backup's consistency token
        try:
            assert copy.token() == str(head)
            restored_answers = answers(copy)
            assert restored_answers == answers(then)
            assert {"allow", "deny"} <= {outcome for outcome, _ in restored_answers.values()}
        finally:
            copy.close()
            then.close()
        record = SqliteAuditLog(restored)
        assert record.count() > 0
        record.close()


def test_a_backup_refuses_to_overwrite_its_store_and_names_a_missing_one(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "nope.db: no such store" in missing.output
    db = tmp_path / "live.db"
    build_db(db)
    itself = runner.invoke(app, ["backup", str(db), "--db", str(db)])
    assert itself.exit_code == 2 and "cannot overwrite the store itself" in itself.output
    assert not (tmp_path / "live.db.partial").exists()
