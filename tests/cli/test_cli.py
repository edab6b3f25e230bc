"""The command line as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from graph.timeutil import to_iso

EXE = str(Path(sys.executable).parent / "needtoknow")
AT = "2026-11-30T17:00:00Z"
"""The demo is built as of this instant (its clock injected with ``--at``) and asked about it."""


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    out = ntk("demo", "--no-serve", "--db", str(db), "--at", AT)
    assert out.returncode == 0, out.stderr
    assert "ALLOW demo-prv-rosa -> 604938" in out.stdout and "consent_revoked [demo-cns-604969]" in out.stdout
    return db


def test_check_exit_codes(demo_db: Path) -> None:
    allow = ntk("check", "--provider", "demo-prv-rosa", "--student", "604938", "--at", AT, "--db", str(demo_db), "--json")
    assert allow.returncode == 0
    body = json.loads(allow.stdout)
    assert body["outcome"] == "allow" and body["released_categories"] == ["attendance", "grades"]
    assert {s["condition"] for s in body["path"]} == {"consent", "agreement_and_training", "employment", "community", "need_to_know"}
    deny = ntk("check", "--provider", "demo-prv-marcus", "--student", "604969", "--at", AT, "--db", str(demo_db), "--json")
    assert deny.returncode == 1 and [r["code"] for r in json.loads(deny.stdout)["reasons"]] == ["consent_revoked"]
    unknown = ntk("check", "--provider", "nobody", "--student", "604938", "--db", str(demo_db))
    assert unknown.returncode == 2 and "unknown provider id 'nobody'" in unknown.stderr
    unknown = ntk("check", "--provider", "demo-prv-rosa", "--student", "nobody", "--db", str(demo_db), "--json")
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["error"]["code"] == "not_found"  # the API's NOT_FOUND
    naive = ntk("check", "--provider", "demo-prv-rosa", "--student", "604938", "--at", "2026-03-16T10:00:00", "--db", str(demo_db))
    assert naive.returncode == 2 and "timezone offset is required" in naive.stderr


def test_explain_lookups(demo_db: Path) -> None:
    out = ntk("explain", "--provider", "demo-prv-marcus", "--student", "605015", "--at", AT, "--db", str(demo_db))
    assert out.returncode == 0 and "demo-member-marcus" in out.stdout and "team-demo-care" in out.stdout
    acc = ntk("accessible", "--provider", "demo-prv-rosa", "--at", AT, "--json", "--db", str(demo_db))
    assert [i["student_id"] for i in json.loads(acc.stdout)["items"]] == ["604918", "604938", "605015"]  # 605015 through the care team
    who = ntk("who-can-access", "--student", "604938", "--at", AT, "--json", "--db", str(demo_db))
    assert [i["provider_id"] for i in json.loads(who.stdout)["items"]] == ["demo-prv-rosa"]


def test_failed_load_leaves_the_store_as_it_was(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(demo_db, db)
    events = sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "Student.jsonl").write_text('{"id": "new-student"}\n', encoding="utf-8")
    (bad / "ATTENDS.jsonl").write_text(
        '{"id": "a1", "from_id": "new-student", "to_id": "no-such-school", "valid_from": "2026-01-01T00:00:00Z"}\n', encoding="utf-8"
    )
    out = ntk("load", "bundle", str(bad), "--db", str(db))
    assert out.returncode == 2
    assert "nothing was written" in out.stderr and "ATTENDS.jsonl:1" in out.stderr and "no-such-school" in out.stderr
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0] == events


def test_load_dry_run_then_real_then_idempotent(tmp_path: Path) -> None:
    bundle = tmp_path / "gen"
    assert ntk("generate", "--students", "300", "--seed", "5", "--out", str(bundle)).returncode == 0
    db = str(tmp_path / "g.db")
    dry = ntk("load", "bundle", str(bundle), "--db", db, "--dry-run")
    assert dry.returncode == 0 and "would create" in dry.stdout
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    first = ntk("load", "bundle", str(bundle), "--db", db)
    assert first.returncode == 0 and "unchanged 0" in first.stdout
    again = ntk("load", "bundle", str(bundle), "--db", db)
    assert again.returncode == 0 and "created 0, updated 0" in again.stdout


def test_load_real_sample_formats(tmp_path: Path) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures"
    db = str(tmp_path / "s.db")
    # Grand Bend's rows carry no dateLastModified: PART_OF has no start the source gives, and none is invented.
    out = ntk("load", "oneroster", str(fixtures / "oneroster-v1p1-grandbend"), "--db", db)
    assert out.returncode == 2 and "PART_OF edge(s)" in out.stderr and "--valid-from" in out.stderr
    out = ntk("load", "oneroster", str(fixtures / "oneroster-v1p1-grandbend"), "--db", db, "--valid-from", "2020-08-17")
    assert out.returncode == 0 and "Student: 8" in out.stdout
    out = ntk("load", "edfi", str(fixtures / "edfi-grandbend" / "Samples" / "Sample XML"), "--db", db, "--valid-from", "2020-08-17")
    assert out.returncode == 0 and "Student: 960" in out.stdout
    # The 8 OneRoster students are among Ed-Fi's 960: one node each (docs/identity.md).
    rows = sqlite3.connect(db).execute("SELECT COUNT(DISTINCT record_id) FROM events WHERE kind = 'Student'").fetchone()[0]
    assert rows == 960


def test_team_depth_limit_exits_2_never_a_deny_or_traceback(tmp_path: Path) -> None:
    import os

    from tests.world import NOON, World

    World.base().via_team("team-a", "team-b").store(tmp_path).close()  # ana -> team-a -> team-b -SERVES-> sam
    db = tmp_path / "world.db"
    policy = tmp_path / "policy.json"
    policy.write_text('{"max_team_depth": 1}', encoding="utf-8")
    args = ["check", "--provider", "ana", "--student", "sam", "--at", to_iso(NOON) or "", "--db", str(db)]
    env = {**os.environ, "NTK_POLICY_FILE": str(policy)}
    out = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "depth limit 1" in out.stderr, out.stderr
    as_json = subprocess.run([EXE, *args, "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["error"]["code"] == "DepthLimitExceeded"
    policy.write_text('{"max_team_depth": 0}', encoding="utf-8")  # breaks the policy's own rule (>= 1)
    bad = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "max_team_depth" in bad.stderr, bad.stderr
