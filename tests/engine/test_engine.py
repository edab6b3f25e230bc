"""Engine: every decision recorded before it is answered; errors are not denies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from graph.audit import Caller, SqliteAuditLog
from graph.decision import CheckRequest, Outcome
from graph.engine import Engine
from graph.errors import InputError, UnknownProvider, UnknownStudent
from graph.policy import DEFAULT_POLICY
from graph.reasons import Reason
from graph.replay import replay
from tests.world import NOON, World


def engine(tmp_path: Path) -> tuple[Engine, SqliteAuditLog]:
    store = World.base().revoke_consent(NOON).store(tmp_path)
    audit = SqliteAuditLog(tmp_path / "world.db")
    return Engine(store, audit=audit), audit


def test_allow_and_deny_are_both_recorded_with_evidence(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    before = NOON.replace(hour=18)
    assert eng.check(CheckRequest("ana", "sam", before, "academic_support"), caller=Caller("provider", "ana")).allowed
    assert not eng.check(CheckRequest("ana", "sam", NOON, "academic_support")).allowed
    records = audit.for_student("sam")
    assert [r["outcome"] for r in records] == ["allow", "deny"]
    assert records[1]["reasons"][0]["code"] == "consent_revoked"
    assert records[0]["asked_by"] == {"role": "provider", "subject": "ana", "application": None, "partners": []}
    # The evidence is a reference into the journal (DOMAIN.md): its consistency token; the path names the edges.
    token = eng.store.token()
    assert records[0]["evidence"] == {"consistency_token": token, "provider_id": "ana", "student_id": "sam", "at": "2026-01-15T18:00:00Z"}
    need = next(p for p in records[0]["path"] if p["condition"] == "need_to_know")
    assert need["edge_ids"] and records[1]["reasons"][0]["ref"] == "cns-1"
    assert records[0]["policy_version"] == "2026.1"
    assert list(audit.verify()) == []
    for r in records:  # the full decision comes back from the journal, as recorded
        assert replay(tmp_path / "world.db", r, DEFAULT_POLICY).identical


def test_tampering_breaks_the_chain(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    for _ in range(3):
        eng.check(CheckRequest("ana", "sam", NOON))
    con = sqlite3.connect(tmp_path / "world.db")
    con.execute("UPDATE decisions SET body = substr(body, 1, length(body) - 1) || x'07' WHERE n = 2")
    con.commit()
    problems = list(audit.verify())
    assert problems and "record 2" in problems[0]


def test_tampering_with_the_dictionary_breaks_the_chain(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    for _ in range(3):
        eng.check(CheckRequest("ana", "sam", NOON))
    assert list(audit.verify()) == []
    con = sqlite3.connect(tmp_path / "world.db")
    con.execute("UPDATE record_strings SET s = 'allow' WHERE s = 'deny'")  # every record now reads "allow"
    con.commit()
    fresh = SqliteAuditLog(tmp_path / "world.db")  # a process that has not cached the strings
    assert (fresh.get("1") or {})["outcome"] == "allow"
    problems = list(fresh.verify())
    assert problems and "record 1" in problems[0], problems


def test_deleting_the_newest_record_shows(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    for _ in range(3):
        eng.check(CheckRequest("ana", "sam", NOON))
    con = sqlite3.connect(tmp_path / "world.db")
    con.execute("DELETE FROM decisions WHERE n = 3")
    con.commit()
    assert any("head says 3" in p for p in audit.verify())


def test_audit_unavailable_turns_every_answer_into_deny(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    audit.available = False
    d = eng.check(CheckRequest("ana", "sam", NOON.replace(hour=18)))
    assert d.outcome is Outcome.DENY and Reason.AUDIT_UNAVAILABLE in d.codes and not d.released and not d.path
    page = eng.accessible_students("ana", NOON.replace(hour=18))
    assert page.items == []


def test_audit_unavailable_when_the_file_is_read_only(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    audit.conn.close()
    audit.conn = sqlite3.connect(f"file:{tmp_path / 'world.db'}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    d = eng.check(CheckRequest("ana", "sam", NOON.replace(hour=18)))
    assert d.codes[-1] is Reason.AUDIT_UNAVAILABLE and not d.allowed


def test_unknown_ids_are_errors_not_denies(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    with pytest.raises(UnknownProvider):
        eng.check(CheckRequest("ghost", "sam", NOON))
    with pytest.raises(UnknownStudent):
        eng.check(CheckRequest("ana", "ghost", NOON))
    with pytest.raises(UnknownStudent):
        eng.check(CheckRequest("ana", "gia", NOON))  # a guardian's id is not a student's
    with pytest.raises(InputError, match="unknown data categories"):
        eng.check(CheckRequest("ana", "sam", NOON, categories=frozenset({"shoe_size"})))
    with pytest.raises(InputError, match="name at least one data category"):  # asking about nothing: never a reasonless deny
        eng.check(CheckRequest("ana", "sam", NOON, categories=frozenset()))
    with pytest.raises(InputError, match="name at least one data category"):
        eng.accessible_students("ana", NOON, categories=frozenset())
    assert audit.count() == 0


def test_check_many_records_in_one_go(tmp_path: Path) -> None:
    eng, audit = engine(tmp_path)
    out = eng.check_many([CheckRequest("ana", "sam", NOON.replace(hour=h)) for h in (17, 18, 19, 20)])
    assert [d.allowed for d in out] == [True, True, False, False]
    assert audit.count() == 4
