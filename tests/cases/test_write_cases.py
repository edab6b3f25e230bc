"""The write-path cases of ../shared/cases (inputs copied here byte for byte), as CLI runs on real files.

- status-history-fhir-reimport: re-importing a consent as `rejected` stops it from the
  re-import on; questions about earlier instants keep their answer; `proposed` never permits;
  `entered-in-error` is a correction that reaches back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

HERE = Path(__file__).parent
FHIR = HERE / "status-history-fhir-reimport"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout


def check(db: Path, student: str, at: str | None) -> dict[str, object]:
    args = ["check", "--db", str(db), "--provider", "prv-a", "--student", student, "--purpose", "treatment", "--category", "attendance"]
    code, out = cli(*args, *(["--at", at] if at else []), "--json")
    assert code in (0, 1), out
    return json.loads(out)  # type: ignore[no-any-return]


def codes(decision: dict[str, object]) -> set[str]:
    return {r["code"] for r in decision["reasons"]}  # type: ignore[index, union-attr]


BEFORE = "2025-10-01T17:00:00Z"


def test_status_history_fhir_reimport(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert cli("load", "bundle", str(FHIR / "1-world"), "--db", str(db))[0] == 0
    assert cli("load", "fhir-consent", str(FHIR / "2-fhir-initial"), "--db", str(db))[0] == 0
    assert check(db, "stu-adult", BEFORE)["outcome"] == "allow"
    assert codes(check(db, "stu-adult2", BEFORE)) == {"consent_not_active"}
    code, out = cli("load", "fhir-consent", str(FHIR / "3-fhir-reimport"), "--db", str(db))
    assert code == 0 and "updated 1" in out, out
    assert check(db, "stu-adult", BEFORE)["outcome"] == "allow"  # history is not rewritten
    assert codes(check(db, "stu-adult", None)) >= {"consent_not_active"}  # from the re-import on, it no longer counts
    assert codes(check(db, "stu-adult2", BEFORE)) == {"consent_not_active"}
    assert codes(check(db, "stu-adult2", None)) >= {"consent_not_active"}


def test_entered_in_error_reaches_back(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    cli("load", "bundle", str(FHIR / "1-world"), "--db", str(db))
    cli("load", "fhir-consent", str(FHIR / "2-fhir-initial"), "--db", str(db))
    erased = tmp_path / "erased"
    erased.mkdir()
    doc = json.loads((FHIR / "3-fhir-reimport" / "consent-c-1.json").read_text())
    doc["status"] = "entered-in-error"
    (erased / "consent-c-1.json").write_text(json.dumps(doc))
    assert cli("load", "fhir-consent", str(erased), "--db", str(db))[0] == 0
    assert codes(check(db, "stu-adult", BEFORE)) == {"consent_not_active"}


def test_every_answer_replays_identically(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    cli("load", "bundle", str(FHIR / "1-world"), "--db", str(db))
    cli("load", "fhir-consent", str(FHIR / "2-fhir-initial"), "--db", str(db))
    check(db, "stu-adult", BEFORE)
    cli("load", "fhir-consent", str(FHIR / "3-fhir-reimport"), "--db", str(db))
    check(db, "stu-adult", BEFORE)
    check(db, "stu-adult", None)
    import sqlite3

    with sqlite3.connect(db) as conn:
        ids = [str(r[0]) for r in conn.execute("SELECT n FROM decisions ORDER BY n")]  # a record's id is its number in the chain
    assert len(ids) == 3
    for decision_id in ids:
        code, out = cli("replay", decision_id, "--db", str(db), "--json")
        assert code == 0 and json.loads(out)["identical"] is True, out
    # A tampered journal row is found: the replay reports the difference and exits 1.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE events SET data = replace(data, '\"active\"', '\"draft\"') WHERE record_id = 'fhir-consent:c-1' AND op = 'put_node'"
        )
    code, out = cli("replay", ids[0], "--db", str(db), "--json")
    assert code == 1 and "outcome" in " ".join(json.loads(out)["differences"]), out
    assert cli("replay", "no-such-id", "--db", str(db))[0] == 2
    shutil.rmtree(tmp_path / "erased", ignore_errors=True)
