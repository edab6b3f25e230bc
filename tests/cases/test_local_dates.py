"""Dates without a time of day are calendar days in the partnership's zone, in every format.

The case `local-dates-edfi-transfer` (a byte-for-byte copy of ../shared/cases) through the real
CLI, and the same kind for OneRoster, SDS, the bundle and FHIR (`local-dates-formats/`, written
for these tests): a student moves schools at local midnight of the transfer date, a student who
enters and leaves on one day is never there, a date-only consent period ends at the local end of
its last day; DST-boundary days; check and both lookups agree at every instant asked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph.decision import CheckRequest
from graph.engine import Engine
from graph.open import open_engine
from graph.settings import Settings
from loaders import bundle, fhir_consent
from loaders.importer import import_result

HERE = Path(__file__).parent
CASE = HERE / "local-dates-edfi-transfer"
FORMATS = HERE / "local-dates-formats"
EXE = str(Path(sys.executable).parent / "needtoknow")
PURPOSE = "academic_support"


def ntk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=env)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def load_cli(db: Path, fmt: str, path: Path, env: dict[str, str] | None = None) -> None:
    out = ntk("load", fmt, str(path), "--db", str(db), env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def codes(engine: Engine, provider: str, student: str, at: datetime) -> list[str]:
    """[] for an allow, else the deny's reason codes; lookups must agree with the check."""
    d = engine.check(CheckRequest(provider, student, at, PURPOSE, frozenset({"attendance"})))
    listed = {a.student_id for a in engine.accessible_students(provider, at, purpose=PURPOSE).items}
    shown = {a.provider_id for a in engine.providers_with_access(student, at, purpose=PURPOSE).items}
    assert (student in listed) is d.allowed, (provider, student, at)
    assert (provider in shown) is d.allowed, (provider, student, at)
    return [] if d.allowed else [r.code for r in d.reasons]


def assert_moves(engine: Engine, student: str, moved: datetime) -> None:
    """prv-a (com-1) sees `student` until `moved`, prv-b (com-2) from `moved` on."""
    for before in (moved - timedelta(hours=6), moved - timedelta(microseconds=1)):
        assert codes(engine, "prv-a", student, before) == []
        assert codes(engine, "prv-b", student, before) == ["not_in_student_community"]
    for after in (moved, moved + timedelta(hours=12)):
        assert codes(engine, "prv-a", student, after) == ["not_in_student_community"]
        assert codes(engine, "prv-b", student, after) == []


def assert_never_in_com_1(engine: Engine, day: str) -> None:
    """700002 entered and left 900001 on `day` (exclusive end: an empty interval): never in com-1.

    Checks can only show it once a service relationship exists (from 2025-09-02), so the
    interval itself is read too.
    """
    for at in ("2025-09-03T12:00:00-06:00", "2026-01-19T18:00:00-07:00"):
        assert codes(engine, "prv-a", "700002", t(at)) == ["not_in_student_community"]
        assert codes(engine, "prv-b", "700002", t(at)) == []
    ev = engine.store.gather_evidence("prv-a", "700002")
    spans = [(a.valid_from, a.valid_to) for a in ev.attends if a.to_id == "900001"]
    start = t(day)
    assert all(vf == vt == start for vf, vt in spans), spans


# ------------------------------------------------------------------ the case, through the CLI


def test_edfi_transfer_case_through_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    load_cli(db, "edfi", CASE / "2-edfi")
    load_cli(db, "bundle", CASE / "1-world")
    load_cli(db, "bundle", CASE / "3-relationships")

    def check(provider: str, at: str) -> tuple[int, dict[str, object]]:
        out = ntk("check", "--db", str(db), "--provider", provider, "--student", "700001", "--purpose", PURPOSE,
                  "--category", "attendance", "--at", at, "--json")
        return out.returncode, json.loads(out.stdout)

    rc, body = check("prv-a", "2026-01-19T18:00:00-07:00")
    assert rc == 0 and body["outcome"] == "allow"
    rc, body = check("prv-b", "2026-01-19T18:00:00-07:00")
    assert rc == 1 and [r["code"] for r in body["reasons"]] == ["not_in_student_community"]  # type: ignore[union-attr,index]
    # from local midnight on, the reverse; a date-only --at is that local midnight
    for at in ("2026-01-20T00:00:00-07:00", "2026-01-20"):
        assert check("prv-a", at)[0] == 1
        assert check("prv-b", at)[0] == 0
    acc = ntk("accessible", "--db", str(db), "--provider", "prv-a", "--purpose", PURPOSE, "--at", "2026-01-19", "--json")
    assert [i["student_id"] for i in json.loads(acc.stdout)["items"]] == ["700001"]  # 700002 never in com-1
    who = ntk("who-can-access", "--db", str(db), "--student", "700001", "--purpose", PURPOSE, "--at", "2026-01-20", "--json")
    assert [i["provider_id"] for i in json.loads(who.stdout)["items"]] == ["prv-b"]


def test_edfi_transfer_case_every_instant(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    for fmt, path in (("edfi", CASE / "2-edfi"), ("bundle", CASE / "1-world"), ("bundle", CASE / "3-relationships")):
        load_cli(db, fmt, path)
    engine = open_engine(Settings(db=db))
    try:
        assert_moves(engine, "700001", t("2026-01-20T00:00:00-07:00"))
        assert_never_in_com_1(engine, "2025-08-18T00:00:00-06:00")
    finally:
        engine.store.close()


def test_inclusive_exit_date_is_a_policy_setting(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"inclusive_exit_date": True}), encoding="utf-8")
    env = {**os.environ, "NTK_POLICY_FILE": str(policy)}
    db = tmp_path / "t.db"
    for fmt, path in (("edfi", CASE / "2-edfi"), ("bundle", CASE / "1-world"), ("bundle", CASE / "3-relationships")):
        load_cli(db, fmt, path, env)
    engine = open_engine(Settings(db=db))
    try:
        # exit 2026-01-20 is the last day at 900001: in both communities that day, only com-2 after it
        noon = t("2026-01-20T12:00:00-07:00")
        assert codes(engine, "prv-a", "700001", noon) == [] and codes(engine, "prv-b", "700001", noon) == []
        assert codes(engine, "prv-a", "700001", t("2026-01-21T00:00:00-07:00")) == ["not_in_student_community"]
        # entered and left on 2025-08-18: at 900001 for that local day only
        ev = engine.store.gather_evidence("prv-a", "700002")
        assert [(a.valid_from, a.valid_to) for a in ev.attends if a.to_id == "900001"] == [
            (t("2025-08-18T00:00:00-06:00"), t("2025-08-19T00:00:00-06:00"))
        ]
    finally:
        engine.store.close()


# ------------------------------------------------------------------ the same kind, other formats


def _world(db: Path, fmt: str, path: Path) -> Engine:
    load_cli(db, fmt, path)
    load_cli(db, "bundle", CASE / "1-world")
    load_cli(db, "bundle", CASE / "3-relationships")
    return open_engine(Settings(db=db))


@pytest.mark.parametrize(
    ("fmt", "moved", "day_700002"),
    [
        # OneRoster endDate is exclusive; 2026-03-08 is the day DST starts (midnight still MST, -07:00)
        ("oneroster", "2026-03-08T00:00:00-07:00", "2025-08-18T00:00:00-06:00"),
        # SDS roleEndDate likewise; 2026-11-01 is the day DST ends (midnight still MDT, -06:00)
        ("sds", "2026-11-01T00:00:00-06:00", "2025-08-18T00:00:00-06:00"),
        # bundle: a date-only valid_to names the last day (2026-01-19), valid_from the first (2026-01-20)
        ("bundle", "2026-01-20T00:00:00-07:00", "2025-08-18T00:00:00-06:00"),
    ],
)
def test_transfer_at_local_midnight(tmp_path: Path, fmt: str, moved: str, day_700002: str) -> None:
    engine = _world(tmp_path / "t.db", fmt, FORMATS / fmt)
    try:
        assert_moves(engine, "700001", t(moved))
        assert_never_in_com_1(engine, day_700002)
    finally:
        engine.store.close()


def test_bundle_date_only_ends_are_inclusive_and_starts_local(tmp_path: Path) -> None:
    r = bundle.read([FORMATS / "bundle"], default_valid_from=t("2025-01-01T00:00:00Z"))
    assert r.ok, r.problems
    spans = {(e.from_id, e.to_id): (e.valid_from, e.valid_to) for e in r.edges}
    assert spans[("700001", "900001")] == (t("2025-08-18T06:00:00Z"), t("2026-01-20T07:00:00Z"))
    assert spans[("700001", "900002")] == (t("2026-01-20T07:00:00Z"), None)
    trained = tmp_path / "b"
    trained.mkdir()
    (trained / "TRAINED.csv").write_text(
        "from_id,to_id,valid_from,valid_to\nprv-a,crs-ferpa_basics,2026-03-08,2026-10-31\n", encoding="utf-8"
    )
    (e,) = bundle.read([trained], default_valid_from=t("2025-01-01T00:00:00Z")).edges
    # completed on the DST-start day (local midnight -07:00); last valid day 31 Oct (ends 1 Nov 00:00 -06:00)
    assert (e.valid_from, e.valid_to) == (t("2026-03-08T07:00:00Z"), t("2026-11-01T06:00:00Z"))


def test_fhir_date_only_period_ends_at_the_local_end_of_its_last_day(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    for fmt, path in (("edfi", CASE / "2-edfi"), ("bundle", CASE / "1-world"), ("bundle", FORMATS / "relationships-no-consent")):
        load_cli(db, fmt, path)
    result = fhir_consent.read(
        [FORMATS / "fhir"],
        default_valid_from=t("2025-09-01T00:00:00Z"),
        id_map={"Patient/p700001": "700001", "RelatedPerson/rp700001": "gdn-700001", "Organization/org1": "ptn-1"},
        purpose_map={"http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT": PURPOSE},
    )
    assert result.ok, result.problems
    engine = open_engine(Settings(db=db))
    try:
        import_result(engine.store, result)
        # UTC days would end it at 17:00 local on 31 December
        for at in ("2025-12-31T18:00:00-07:00", "2025-12-31T23:59:59.999999-07:00"):
            assert codes(engine, "prv-a", "700001", t(at)) == [], at
        assert codes(engine, "prv-a", "700001", t("2026-01-01T00:00:00-07:00")) == ["consent_expired"]
    finally:
        engine.store.close()


def test_policy_zone_moves_every_loader(tmp_path: Path) -> None:
    """The zone is a setting: the same OneRoster package in America/New_York moves two hours earlier."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default_time_zone": "America/New_York"}), encoding="utf-8")
    env = {**os.environ, "NTK_POLICY_FILE": str(policy)}
    db = tmp_path / "t.db"
    for fmt, path in (("oneroster", FORMATS / "oneroster"), ("bundle", CASE / "1-world"), ("bundle", CASE / "3-relationships")):
        load_cli(db, fmt, path, env)
    engine = open_engine(Settings(db=db, policy_file=policy))
    try:
        assert_moves(engine, "700001", t("2026-03-08T00:00:00-05:00"))
    finally:
        engine.store.close()
