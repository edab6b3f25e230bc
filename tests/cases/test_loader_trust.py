"""Issue 11: no silent success, no invented intervals, errors that name the cause, reports.

The shared cases (byte-for-byte copies under tests/cases/) through the real CLI, and the same
kinds in the other formats (`loader-trust/`, written for these tests).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.decision import CheckRequest
from graph.model import Attends
from graph.open import open_engine
from graph.settings import Settings
from loaders import bundle, hsds, oneroster, sds
from tests.dates import local

HERE = Path(__file__).parent
TRUST = HERE / "loader-trust"
EXE = str(Path(sys.executable).parent / "needtoknow")


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def events(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        has = con.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        return con.execute("SELECT COUNT(*) FROM events").fetchone()[0] if has else 0


# ------------------------------------------------------------------ silent success: near misses


def test_oneroster_header_near_miss_case(tmp_path: Path) -> None:
    db, report = tmp_path / "fresh.db", tmp_path / "report.csv"
    out = ntk("load", "oneroster", str(HERE / "oneroster-header-near-miss" / "input"), "--db", str(db), "--report", str(report))
    assert out.returncode == 2
    assert "users.csv:1 [agentSourcedIds]: column agentSourcedIds is missing (found agentSourcedId)" in out.stderr
    # the root cause once; the enrolments that name users only as its consequence
    assert out.stderr.count("a consequence of users.csv not being read") == 2
    assert "is not in the package" not in out.stderr
    assert events(db) == 0
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    first = rows[0]
    assert (first["kind"], first["file"], first["line"], first["field"], first["value"]) == (
        "problem", "users.csv", "1", "agentSourcedIds", "agentSourcedId"
    )
    assert {r["kind"] for r in rows} >= {"problem", "warning"}


def test_sds_required_column_case_variant(tmp_path: Path) -> None:
    r = sds.read([TRUST / "sds-near-miss"], default_valid_from=datetime(2022, 1, 1, tzinfo=UTC))
    assert [(p.file, p.line, p.field, p.message) for p in r.problems][:1] == [
        ("relationships.csv", 1, "relationshipUserSourcedId",
         "required column relationshipUserSourcedId is missing (found relationshipUserSourcedID)")
    ]


def test_sds_file_name_case_variant(tmp_path: Path) -> None:
    out = ntk("load", "sds", str(TRUST / "sds-file-case"), "--db", str(tmp_path / "r.db"))
    assert out.returncode == 2
    assert "Roles.csv: file name Roles.csv is not roles.csv (names are case-sensitive): rename it" in out.stderr


def test_bundle_file_name_near_miss(tmp_path: Path) -> None:
    out = ntk("load", "bundle", str(TRUST / "bundle-near-miss"), "--db", str(tmp_path / "r.db"))
    assert out.returncode == 2
    assert "(found guardian_of.jsonl; did you mean GUARDIAN_OF.jsonl? names are case-sensitive)" in out.stderr


def test_students_without_guardian_links_are_reported(tmp_path: Path) -> None:
    out = ntk("load", "oneroster", str(HERE / "oneroster-enrolment-gap" / "pkg"), "--db", str(tmp_path / "r.db"))
    assert out.returncode == 0, out.stderr
    assert "no student has a guardian link ('stu-1'); this format carries them in users.csv agentSourcedIds" in out.stdout


def test_unknown_columns_are_listed(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for f in (HERE / "oneroster-enrolment-gap" / "pkg").iterdir():
        text = f.read_text(encoding="utf-8")
        if f.name == "orgs.csv":
            text = text.replace("parentSourcedId\n", "parentSourcedId,colour\n", 1).replace(",dist-1\n", ",dist-1,red\n")
            text = text.replace("district,,\n", "district,,,\n")
        (pkg / f.name).write_text(text, encoding="utf-8")
    r = oneroster.read([pkg])
    assert r.ok, r.problems
    assert any(w.file == "orgs.csv" and w.message == "unknown columns, not read: colour" for w in r.warnings)


# ------------------------------------------------------------------ silent success: nothing read


def test_silent_empty_load_case(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    # FHIR XML is read (issue 19): refused only because the patient and the organisation are not in the store yet.
    xml = ntk("load", "fhir-consent", str(HERE / "silent-empty-load" / "xml-consents"), "--db", str(db))
    assert xml.returncode == 2 and "unknown node 'f001'" in xml.stderr and "truncated" not in xml.stderr
    roster = tmp_path / "roster"
    roster.mkdir()
    (roster / "Student.csv").write_text("id\nf001\n", encoding="utf-8")
    (roster / "Partner.csv").write_text("id,name\nfhir-org:f203,Org B\n", encoding="utf-8")
    assert ntk("load", "bundle", str(roster), "--db", str(db)).returncode == 0
    one = ntk("load", "fhir-consent", str(HERE / "silent-empty-load" / "xml-consents" / "consent-example-OrgToOrg.xml"), "--db", str(db))
    assert one.returncode == 0 and "read 1 rows" in one.stdout and "Consent: 2" in one.stdout, one.stderr
    empty = tmp_path / "only-txt"
    empty.mkdir()
    (empty / "notes.txt").write_text("no FHIR here", encoding="utf-8")
    written = events(db)
    none = ntk("load", "fhir-consent", str(empty), "--db", str(db))
    assert none.returncode == 2 and "no *.json, *.ndjson or *.xml files in" in none.stderr and "notes.txt" in none.stderr
    csv_only = ntk("load", "edfi", str(HERE / "silent-empty-load" / "csv-only"), "--db", str(db))
    assert csv_only.returncode == 2
    assert "no *.xml or *.json files in" in csv_only.stderr and "School.csv" in csv_only.stderr
    assert events(db) == written  # the refusals wrote nothing


@pytest.mark.parametrize("fmt", ["bundle", "oneroster", "sds", "hsds", "edfi", "fhir-consent"])
def test_an_empty_directory_is_not_a_success(tmp_path: Path, fmt: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = ntk("load", fmt, str(empty), "--db", str(tmp_path / "r.db"))
    assert out.returncode == 2, out.stdout
    assert out.stderr.strip(), "a refusal says why"


def test_allow_empty_says_an_empty_load_is_intended(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = ntk("load", "bundle", str(empty), "--db", str(tmp_path / "r.db"), "--allow-empty")
    assert out.returncode == 0 and "read 0 rows" in out.stdout


# ------------------------------------------------------------------ invented intervals


def test_oneroster_enrolment_gap_case(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    out = ntk("load", "oneroster", str(HERE / "oneroster-enrolment-gap" / "pkg"), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert ntk("load", "bundle", str(TRUST / "gap-world"), "--db", str(db)).returncode == 0
    engine = open_engine(Settings(db=db))
    try:
        ev = engine.store.gather_evidence("prv-1", "stu-1")
        assert sorted((a.valid_from, a.valid_to) for a in ev.attends) == [
            (local(2022, 3, 15), local(2022, 6, 15)),
            (local(2024, 3, 6), local(2025, 9, 23)),
        ]

        def reasons(at: datetime) -> list[str]:
            d = engine.check(CheckRequest("prv-1", "stu-1", at, "academic_support", frozenset({"attendance"})))
            return [str(r.code) for r in d.reasons]

        assert reasons(datetime(2022, 5, 2, 16, tzinfo=UTC)) == []
        assert reasons(datetime(2023, 1, 17, 16, tzinfo=UTC)) == ["not_in_student_community"]  # the gap
        assert reasons(local(2022, 6, 15)) == ["not_in_student_community"]  # endDate is exclusive
        assert reasons(datetime(2024, 6, 3, 16, tzinfo=UTC)) == []
    finally:
        engine.store.close()


def test_sds_roles_with_a_gap_stay_separate() -> None:
    r = sds.read([TRUST / "sds-gap"])
    assert r.ok, r.problems
    spans = sorted((e.id, e.valid_from, e.valid_to) for e in r.edges if isinstance(e, Attends))
    assert spans == [
        ("attends:stu-1:sch-1", local(2022, 3, 15), local(2022, 6, 15)),
        ("attends:stu-1:sch-1:2024-03-06", local(2024, 3, 6), local(2025, 9, 23)),
    ]


def test_no_hidden_default_start(tmp_path: Path) -> None:
    world = tmp_path / "w"
    world.mkdir()
    (world / "Community.jsonl").write_text('{"id": "com-1"}\n', encoding="utf-8")
    (world / "School.jsonl").write_text('{"id": "sch-1"}\n', encoding="utf-8")
    (world / "LOCATED_IN.csv").write_text("from_id,to_id\nsch-1,com-1\n", encoding="utf-8")
    db = tmp_path / "r.db"
    out = ntk("load", "bundle", str(world), "--db", str(db))
    assert out.returncode == 2
    assert "LOCATED_IN.csv:2 [valid_from]: 1 LOCATED_IN edge(s)" in out.stderr and "no --valid-from" in out.stderr
    assert events(db) == 0
    ok = ntk("load", "bundle", str(world), "--db", str(db), "--valid-from", "2020-08-17")
    assert ok.returncode == 0, ok.stderr
    (edge,) = [e for e in bundle.read([world], default_valid_from=local(2020, 8, 17)).edges]
    assert edge.valid_from == local(2020, 8, 17)  # a date-only --valid-from is local midnight too


def test_oneroster_start_comes_from_date_last_modified() -> None:
    r = oneroster.read([HERE / "oneroster-header-near-miss" / "input"])
    # No default_valid_from: PART_OF starts at the school row's dateLastModified (users.csv is refused there)
    (part_of,) = [e for e in r.edges if e.id.startswith("part_of:")]
    assert (part_of.id, part_of.valid_from) == ("part_of:sch-910:dist-900", datetime(2025, 8, 1, tzinfo=UTC))


# ------------------------------------------------------------------ errors that name the cause


def test_a_duplicate_id_names_every_line(tmp_path: Path) -> None:
    b = tmp_path / "b"
    b.mkdir()
    (b / "Student.csv").write_text("id\nstu-1\nstu-2\nstu-1\nstu-1\n", encoding="utf-8")
    r = bundle.read([b])
    assert [str(p) for p in r.problems] == [
        "Student.csv:4 [id]: duplicate id 'stu-1': already at Student.csv:2; also at Student.csv:5"
    ]


# ------------------------------------------------------------------ mappings


MAPPING = HERE / "fhir-code-mapping"
MAP = TRUST / "fhir-map" / "map.csv"


def _consents(db: Path) -> dict[str, tuple[list[str], list[str]]]:
    engine = open_engine(Settings(db=db))
    try:
        ev = engine.store.gather_evidence("prv-1", "stu-1001")
        return {f.consent.id: (sorted(f.consent.purposes), sorted(f.consent.categories)) for f in ev.consents}
    finally:
        engine.store.close()


def test_fhir_code_mapping_case(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert ntk("load", "bundle", str(MAPPING / "pre"), "--db", str(db)).returncode == 0
    assert ntk("load", "bundle", str(TRUST / "fhir-map" / "world"), "--db", str(db)).returncode == 0
    out = ntk("load", "fhir-consent", str(MAPPING / "fhir"), "--db", str(db), "--map", str(MAP), "--strict")
    assert out.returncode == 0, out.stderr
    assert "unmapped" not in out.stdout
    assert _consents(db) == {
        "fhir-consent:consent-a": (["academic_support"], ["attendance", "health"]),
        "fhir-consent:consent-a#1": (["academic_support"], ["health"]),
    }

    def check(category: str) -> tuple[int, list[str]]:
        r = ntk("check", "--db", str(db), "--provider", "prv-1", "--student", "stu-1001", "--purpose", "academic_support",
                "--category", category, "--at", "2026-01-15", "--json")
        return r.returncode, [x["code"] for x in json.loads(r.stdout)["reasons"]]

    assert check("attendance") == (0, [])
    assert check("health") == (1, ["consent_denied"])


def test_unmapped_codes_are_summed_up_and_strict_refuses(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert ntk("load", "bundle", str(MAPPING / "pre"), "--db", str(db)).returncode == 0
    loose = ntk("load", "fhir-consent", str(MAPPING / "fhir"), "--db", str(db), "--dry-run")
    assert loose.returncode == 0
    assert ("unmapped purpose https://example.invalid/fhir/purpose|academic_support: 1 consent(s) left without it (consent-a)"
            in loose.stdout)
    strict = ntk("load", "fhir-consent", str(MAPPING / "fhir"), "--db", str(db), "--strict")
    assert strict.returncode == 2 and strict.stderr.count("unmapped ") == 3


def test_a_bad_mapping_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text("kind,source,target\ncolour,x|y,red\ncategory,x|y,Attendance\n", encoding="utf-8")
    out = ntk("load", "fhir-consent", str(MAPPING / "fhir"), "--db", str(tmp_path / "s.db"), "--map", str(bad))
    assert out.returncode == 2
    assert "map.csv:2 [kind]: unknown kind 'colour'" in out.stderr and "map.csv:3 [target]" in out.stderr
    other = ntk("load", "bundle", str(MAPPING / "pre"), "--db", str(tmp_path / "s.db"), "--map", str(MAP))
    assert other.returncode == 2 and "fhir-consent" in other.stderr


def test_hsds_near_misses(tmp_path: Path) -> None:
    d = tmp_path / "hsds"
    d.mkdir()
    (d / "organizations.csv").write_text("ID,name\no1,Org One\n", encoding="utf-8")
    (d / "Services.csv").write_text("id,organization_id,name\ns1,o1,Tutoring\n", encoding="utf-8")
    r = hsds.read([d], default_valid_from=local(2025, 8, 15), layout="3.0")
    messages = [str(p) for p in r.problems]
    assert any("organizations.csv:1" in m and "near misses: id (found ID)" in m for m in messages), messages
    assert "Services.csv: file name Services.csv is not services.csv (names are case-sensitive): rename it" in messages


def test_references_to_a_rejected_row_are_its_consequence(tmp_path: Path) -> None:
    """The root problem once; the enrolments naming the rejected user as its consequence (OneRoster)."""
    long_id = "s" * 201  # over the 200-character id limit: the users.csv row is rejected
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    src = HERE / "oneroster-enrolment-gap" / "pkg"
    for f in src.iterdir():
        (pkg / f.name).write_text(f.read_text(encoding="utf-8").replace("stu-1", long_id), encoding="utf-8")
    r = oneroster.read([pkg], default_valid_from=local(2020, 1, 1))
    about_users = [p for p in r.problems if p.file == "users.csv"]
    consequences = [p for p in r.problems if p.file != "users.csv"]
    assert len(about_users) == 1 and about_users[0].line == 2
    assert len(consequences) == 1
    assert consequences[0].message.startswith("1 reference(s) to ")  # the student's ATTENDS evidence
    assert "its row at users.csv:2 was rejected" in consequences[0].message
    assert not any("not in the package" in p.message for p in r.problems)
