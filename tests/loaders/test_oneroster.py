"""OneRoster 1.1 / 1.2 CSV loader: the Grand Bend sample, guardians, bad input, synthetic packages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from graph.errors import InvalidTime, LoadError, Problem
from graph.model import Attends, FerpaRights, GuardianOf, GuardianRelationship, PartOf, Provider, School, Student
from graph.stores.memory import MemoryStore
from loaders import oneroster
from loaders.base import LoadResult
from loaders.importer import import_result
from loaders.synthetic_oneroster import write_package
from tests.dates import local

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "oneroster-v1p1-grandbend"
T0 = datetime(2020, 7, 1, tzinfo=UTC)
STUDENTS = {"604863", "604874", "604918", "604927", "604938", "604969", "604974", "605015"}

USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
)
ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nd1,,,North ISD,district,,\nsch1,,,North High,school,,d1\n"
ENROLL_HEADER = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate"


def user(sid: str, role: str, agents: str = "", org: str = "sch1", status: str = "", modified: str = "", given: str = "Ann") -> str:
    return f'{sid},{status},{modified},true,{org},{role},,,{given},Lee,,,a@b.org,,555-0100,"{agents}",,'


def package(root: Path, *, users: list[str], orgs: str = ORGS, enrollments: list[str] | None = None, **extra: str) -> Path:
    """A small OneRoster 1.1 package: orgs, users (header + rows), optional enrollments and extra files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "orgs.csv").write_text(orgs, encoding="utf-8")
    (root / "users.csv").write_text("\n".join([USERS_HEADER, *users]) + "\n", encoding="utf-8")
    if enrollments is not None:
        (root / "enrollments.csv").write_text("\n".join([ENROLL_HEADER, *enrollments]) + "\n", encoding="utf-8")
    for name, text in extra.items():
        (root / f"{name}.csv").write_text(text, encoding="utf-8")
    return root


def load(*paths: Path, **kw: object) -> LoadResult:
    return oneroster.read(list(paths), default_valid_from=T0, **kw)  # type: ignore[arg-type]


def problems_when_loaded(result: LoadResult, tmp_path: Path) -> list[Problem]:
    """The reader's problems, else those of loading it into an empty store (references the
    package leaves open are resolved against the store there)."""
    if result.problems:
        return result.problems
    store = MemoryStore(tmp_path / "empty.db")
    try:
        import_result(store, result)
    except LoadError as err:
        return list(err.problems)
    finally:
        store.close()
    return []


def by_id(result: LoadResult) -> dict[str, object]:
    return {**{n.id: n for n in result.nodes}, **{e.id: e for e in result.edges}}


# ---------------------------------------------------------------------------- Grand Bend


def test_grand_bend_counts() -> None:
    result = load(FIXTURE)
    assert result.problems == []
    # 8 students x (fall, spring): the winter break separates two ATTENDS each
    assert result.counts() == {"ATTENDS": 16, "District": 1, "PART_OF": 1, "Provider": 2, "School": 1, "Student": 8}
    assert {n.id for n in result.nodes if isinstance(n, Student)} == STUDENTS
    # 2 orgs + 8 demographics + 10 users + 24 enrollments: data rows (the manifest's 17 properties are not counted)
    assert result.rows_read == 44


def test_grand_bend_student_record() -> None:
    records = by_id(load(FIXTURE))
    assert records["604863"] == Student(id="604863", birth_date=date(1997, 5, 30))
    attends = records["attends:604863:255901001"]
    assert isinstance(attends, Attends)
    # Two classes each in the fall (2020-08-17..2020-12-18) and the spring (2021-01-04..2021-05-28):
    # overlapping enrolments merge, the winter break between them is a gap no source fills (issue 11).
    assert (attends.from_id, attends.to_id) == ("604863", "255901001")
    assert (attends.valid_from, attends.valid_to) == (local(2020, 8, 17), local(2020, 12, 18))
    assert attends.source == "oneroster:enrollments.csv"
    spring = records["attends:604863:255901001:2021-01-04"]
    assert isinstance(spring, Attends) and (spring.valid_from, spring.valid_to) == (local(2021, 1, 4), local(2021, 5, 28))
    assert records["255901001"] == School(id="255901001", name="Grand Bend High School")
    part_of = records["part_of:255901001:255901"]
    assert isinstance(part_of, PartOf) and part_of.valid_from == T0 and part_of.source == "oneroster:orgs.csv"
    assert records["207270"] == Provider(id="207270", name="Kelley Christian")


def test_grand_bend_keeps_no_names_contacts_or_demographics_by_default() -> None:
    result = load(FIXTURE)
    text = repr(result.nodes) + repr(result.edges)
    for never in ("Archer", "studentgps.org", "(950)", "female", "{Local:863}"):
        assert never not in text
    assert any("sex" in w.message and w.file == "demographics.csv" for w in result.warnings)


def test_grand_bend_names_when_enabled() -> None:
    student = by_id(load(FIXTURE, include_names=True))["604974"]
    assert isinstance(student, Student) and student.name == "Olivia Hardy"


def test_reload_is_identical() -> None:
    a, b = load(FIXTURE), load(FIXTURE)
    assert a.nodes == b.nodes and a.edges == b.edges


def test_time_zone_moves_dates_to_local_midnight() -> None:
    attends = by_id(load(FIXTURE, time_zone="America/Chicago"))["attends:604863:255901001"]
    assert isinstance(attends, Attends)
    assert attends.valid_from == datetime(2020, 8, 17, 5, tzinfo=UTC)  # CDT is UTC-5


def test_naive_default_valid_from_is_rejected() -> None:
    with pytest.raises(InvalidTime):
        oneroster.read([FIXTURE], default_valid_from=datetime(2020, 7, 1))


# ---------------------------------------------------------------------------- guardians


def test_guardians_from_agent_sourced_ids_both_directions(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        users=[
            user("s1", "student", "p1,g1"),
            user("p1", "parent", "s1"),  # also listed by s1: one edge, not two
            user("g1", "guardian"),  # only the student lists this one
            user("r1", "relative", "s2"),  # only the relative lists the student
            user("s2", "student"),
            user("t1", "teacher", "s1"),  # a teacher's agents are not guardianship
        ],
    )
    result = load(root)
    assert result.problems == []
    edges = {e.id: e for e in result.edges if isinstance(e, GuardianOf)}
    assert {(e.from_id, e.to_id, e.relationship) for e in edges.values()} == {
        ("p1", "s1", GuardianRelationship.PARENT),
        ("g1", "s1", GuardianRelationship.LEGAL_GUARDIAN),
        ("r1", "s2", GuardianRelationship.RELATIVE),
    }
    assert all(e.ferpa_rights is FerpaRights.UNVERIFIED and e.valid_from == T0 for e in edges.values())
    assert set(edges) == {"guardian_of:oneroster:p1:s1", "guardian_of:oneroster:g1:s1", "guardian_of:oneroster:r1:s2"}
    assert result.counts()["Guardian"] == 3 and result.counts()["Provider"] == 1


def test_agent_to_unknown_user_is_a_problem(tmp_path: Path) -> None:
    result = load(package(tmp_path, users=[user("s1", "student", "nobody")]))
    assert problems_when_loaded(result, tmp_path) == [
        Problem("users.csv", 2, "agentSourcedIds", "'nobody' is not in the package nor in the store; expected a guardian")
    ]


def test_student_agent_of_student_is_a_warning_not_an_edge(tmp_path: Path) -> None:
    result = load(package(tmp_path, users=[user("s1", "student", "s2"), user("s2", "student")]))
    assert result.problems == [] and result.counts().get("GUARDIAN_OF") is None
    assert any(w.field == "agentSourcedIds" for w in result.warnings)


# ---------------------------------------------------------------------------- status, dates, versions


def test_tobedeleted_rows_are_skipped_and_end_what_they_carried(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        users=[user("s1", "student", "p1"), user("p1", "parent", status="tobedeleted"), user("s2", "student", status="tobedeleted")],
        enrollments=["e1,tobedeleted,,c1,sch1,s1,student,,2024-08-20,2025-06-01", "e2,,,c1,sch1,s2,student,,2024-08-20,"],
    )
    result = load(root)
    assert result.problems == []
    assert {n.id for n in result.nodes} == {"d1", "sch1", "s1"}
    # Each ends, when loaded, the relationships its row carried (docs/loaders/incremental.md).
    assert [(e.node_id, e.file, e.line, e.other, e.at) for e in result.ends] == [
        ("p1", "users.csv", 3, None, None), ("s2", "users.csv", 4, None, None), ("s1", "enrollments.csv", 2, "sch1", None),
    ]
    # s1's ATTENDS comes from orgSourcedIds alone (its enrolment was deleted): default start, open.
    attends = by_id(result)["attends:s1:sch1"]
    assert isinstance(attends, Attends) and attends.valid_from == T0 and attends.valid_to is None


def test_enrollments_span_and_open_end(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        users=[user("s1", "student")],
        enrollments=["e1,,,c1,sch1,s1,student,,2024-08-20,2024-12-20", "e2,,,c2,sch1,s1,student,,2025-01-06,"],
    )
    records = by_id(load(root))
    fall, spring = records["attends:s1:sch1"], records["attends:s1:sch1:2025-01-06"]
    assert isinstance(fall, Attends) and isinstance(spring, Attends)
    assert (fall.valid_from, fall.valid_to) == (local(2024, 8, 20), local(2024, 12, 20))
    assert (spring.valid_from, spring.valid_to) == (local(2025, 1, 6), None)


def test_overlapping_and_touching_enrolments_merge(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        users=[user("s1", "student")],
        enrollments=[
            "e1,,,c1,sch1,s1,student,,2024-08-20,2024-12-20",
            "e2,,,c2,sch1,s1,student,,2024-09-01,2024-10-01",  # inside e1
            "e3,,,c3,sch1,s1,student,,2024-12-20,2025-03-01",  # touches e1 (endDate is exclusive)
        ],
    )
    (only,) = [e for e in load(root).edges if isinstance(e, Attends)]
    assert (only.id, only.valid_from, only.valid_to) == ("attends:s1:sch1", local(2024, 8, 20), local(2025, 3, 1))


def test_oneroster_1_2_roles(tmp_path: Path) -> None:
    users12 = (
        "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,"
        "email,sms,phone,agentSourcedIds,grades,password\n"
        "s1,,,true,,,Ann,Lee,,,,,,,,\n"
        "p1,,,true,,,Bo,Lee,,,,,,s1,,\n"
        "c1,,,true,,,Cy,Ray,,,,,,,,\n"
    )
    roles = (
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId\n"
        "r1,,,s1,primary,student,2024-08-20,2025-06-01,sch1,\n"
        "r2,,,p1,primary,guardian,,,sch1,\n"
        "r3,,,c1,primary,counselor,,,sch1,\n"
    )
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "manifest.csv").write_text("propertyName,value\noneroster.version,1.2\nfile.users,bulk\nfile.roles,bulk\n")
    (tmp_path / "orgs.csv").write_text(ORGS)
    (tmp_path / "users.csv").write_text(users12)
    (tmp_path / "roles.csv").write_text(roles)
    result = load(tmp_path)
    assert result.problems == []
    assert result.counts() == {
        "ATTENDS": 1,
        "District": 1,
        "GUARDIAN_OF": 1,
        "Guardian": 1,
        "PART_OF": 1,
        "Provider": 1,
        "School": 1,
        "Student": 1,
    }
    records = by_id(result)
    attends = records["attends:s1:sch1"]
    assert isinstance(attends, Attends) and attends.valid_to == local(2025, 6, 1) and attends.source == "oneroster:roles.csv"
    edge = records["guardian_of:oneroster:p1:s1"]
    assert isinstance(edge, GuardianOf) and edge.relationship is GuardianRelationship.LEGAL_GUARDIAN


def test_later_package_with_newer_date_last_modified_updates(tmp_path: Path) -> None:
    old = package(tmp_path / "bulk", users=[user("t1", "teacher", modified="2024-01-01T00:00:00Z", given="Old")])
    new = package(tmp_path / "delta", users=[user("t1", "teacher", modified="2024-02-01T00:00:00.000Z", given="New")])
    stale = package(tmp_path / "stale", users=[user("t1", "teacher", modified="2023-01-01T00:00:00Z", given="Stale")])
    result = load(old, new, stale)
    assert [n for n in result.nodes if n.id == "t1"] == [Provider(id="t1", name="New Lee")]
    assert any(w.field == "dateLastModified" and w.file == "users.csv" for w in result.warnings)
    assert result.counts()["School"] == 1  # the orgs repeated unchanged in each package are not duplicates


# ---------------------------------------------------------------------------- bad input


def _latin1_users(root: Path) -> None:
    package(root, users=[user("s1", "student")])
    (root / "users.csv").write_bytes((USERS_HEADER + "\n" + user("s2", "student", given="Zoë")).encode("latin-1") + b"\n")


BAD = [
    pytest.param(
        lambda r: package(r, users=[user("s1", "student")], orgs="sourcedId,name,kind\nd1,North,district\n"),
        Problem("orgs.csv", 1, "type", "required column 'type' is missing from the header"),
        id="wrong-headers",
    ),
    pytest.param(
        lambda r: package(r, users=[]).joinpath("users.csv").write_text("sourcedId,givenName\ns1,Ann\n"),
        Problem("users.csv", 1, "role", "required column 'role' is missing from the header"),
        id="missing-required-column",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student")], enrollments=["e1,,,c1,sch1,ghost,student,,2024-08-20,"]),
        Problem("enrollments.csv", 2, "userSourcedId", "'ghost' is not in the package nor in the store; expected a student"),
        id="enrollment-to-unknown-user",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student")], enrollments=["e1,,,c1,sch1,s1,student,,2024-13-20,"]),
        Problem("enrollments.csv", 2, "beginDate", "not a date (YYYY-MM-DD): '2024-13-20'"),
        id="unparsable-date",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student", org="sch9")]),
        Problem("users.csv", 2, "orgSourcedId", "'sch9' is not in the package nor in the store; expected a school"),
        id="user-org-unknown",
    ),
    pytest.param(
        _latin1_users,
        Problem("users.csv", 2, None, "not UTF-8 text (byte 0xeb at column 28); row skipped"),
        id="latin-1-bytes",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student")]).joinpath("users.csv").write_text(USERS_HEADER + "\ns1,,,true,sch1,stu"),
        Problem("users.csv", 2, "username", "row has 6 of 18 fields (truncated?); row skipped"),
        id="truncated-file",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student"), user("s1", "student"), user("s1", "student")]),
        Problem("users.csv", 3, "sourcedId", "duplicate sourcedId 's1': on 3 lines (users.csv:2, users.csv:3, users.csv:4)"),
        id="duplicate-sourcedId",
    ),
    pytest.param(
        lambda r: package(r, users=[user("sch1", "student")]),
        Problem("users.csv", 2, "sourcedId", "sourcedId 'sch1' is already a School (one id namespace across kinds)"),
        id="id-collides-with-org",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student", modified="yesterday")]),
        Problem(
            "users.csv", 2, "dateLastModified", "not an ISO 8601 time with offset: 'yesterday' (Invalid isoformat string: 'yesterday')"
        ),
        id="bad-dateLastModified",
    ),
    pytest.param(
        lambda r: package(r, users=[user("s1", "student", status="gone")]),
        Problem("users.csv", 2, "status", "unknown status 'gone' (active or tobedeleted)"),
        id="unknown-status",
    ),
]


@pytest.mark.parametrize(("make", "expected"), BAD)
def test_bad_input_is_a_problem_not_a_crash(tmp_path: Path, make: object, expected: Problem) -> None:
    make(tmp_path)  # type: ignore[operator]
    result = load(tmp_path)
    found = problems_when_loaded(result, tmp_path)
    assert expected in found, found


def test_bad_row_does_not_abort_the_file(tmp_path: Path) -> None:
    root = package(
        tmp_path, users=[user("s1", "student")], enrollments=["e1,,,c1,sch1,s1,student,,bad,", "e2,,,c1,sch1,s1,student,,2024-08-20,"]
    )
    result = load(root)
    assert [p.line for p in result.problems] == [2]
    attends = by_id(result)["attends:s1:sch1"]
    assert isinstance(attends, Attends) and attends.valid_from == local(2024, 8, 20)


def test_missing_users_file_is_one_problem(tmp_path: Path) -> None:
    package(tmp_path, users=[]).joinpath("users.csv").unlink()
    assert load(tmp_path).problems == [Problem("users.csv", None, None, "file not found")]


def test_bom_and_crlf_load_like_plain_files(tmp_path: Path) -> None:
    plain = package(tmp_path / "plain", users=[user("s1", "student", "p1"), user("p1", "parent")])
    crlf = tmp_path / "crlf"
    crlf.mkdir()
    for f in plain.iterdir():
        (crlf / f.name).write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n"))
    a, b = load(plain), load(crlf)
    assert a.problems == b.problems == []
    assert a.nodes == b.nodes and a.edges == b.edges and len(a.edges) == 3


def test_grand_bend_with_crlf_and_bom(tmp_path: Path) -> None:
    for f in FIXTURE.glob("*.csv"):
        (tmp_path / f.name).write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n"))
    assert load(tmp_path).nodes == load(FIXTURE).nodes


# ---------------------------------------------------------------------------- synthetic


def test_synthetic_package_reads_back(tmp_path: Path) -> None:
    counts = write_package(tmp_path, students=500, seed=3, enrollments=True)
    result = load(tmp_path)
    assert result.problems == []
    c = result.counts()
    assert c["Student"] == counts["students"] == 500
    assert c["Guardian"] == counts["guardians"]
    assert 0.5 * 500 * 1.7 < counts["guardians"] < 1.5 * 500 * 1.7
    assert c["GUARDIAN_OF"] == counts["guardian_links"] > counts["guardians"]  # some siblings share a guardian
    assert c["ATTENDS"] == 500 and c["School"] == counts["schools"] == 1 and c["District"] == 1
    assert c["Provider"] == counts["staff"]
    assert all(isinstance(n, Student) and n.birth_date is not None for n in result.nodes if n.kind == "Student")
    attends = by_id(result)["attends:stu0:s0"]
    assert isinstance(attends, Attends) and attends.valid_from == local(2025, 8, 18)


def test_synthetic_package_is_deterministic(tmp_path: Path) -> None:
    write_package(tmp_path / "a", students=300, seed=11)
    write_package(tmp_path / "b", students=300, seed=11)
    write_package(tmp_path / "c", students=300, seed=12)
    for name in ("manifest.csv", "orgs.csv", "users.csv", "demographics.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "users.csv").read_bytes() != (tmp_path / "c" / "users.csv").read_bytes()


def test_synthetic_school_and_district_ratio(tmp_path: Path) -> None:
    counts = write_package(tmp_path, students=31_000, seed=1, guardians_per_student=0)
    assert (counts["districts"], counts["schools"], counts["guardians"]) == (2, 52, 0)


# ---------------------------------------------------------------------------- OneRoster 1.2 quirks seen in real exports


def _copy(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for f in FIXTURE.glob("*.csv"):
        (pkg / f.name).write_bytes(f.read_bytes())
    return pkg


def _records(r: LoadResult) -> tuple[list[object], list[object]]:
    return sorted(r.nodes, key=lambda n: n.id), sorted(r.edges, key=lambda e: e.id)


@pytest.mark.parametrize("rows_too", [True, False], ids=["rows-end-in-commas", "rows-do-not"])
def test_header_ending_in_empty_columns_is_accepted(tmp_path: Path, rows_too: bool) -> None:
    pkg = _copy(tmp_path)
    lines = (pkg / "users.csv").read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",,", *(line + ",," if rows_too else line for line in lines[1:])]
    (pkg / "users.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = load(pkg)
    assert r.ok, r.problems
    assert _records(r) == _records(load(FIXTURE))
    note = [w for w in r.warnings if w.file == "users.csv" and "empty column(s) at the end of the header" in w.message]
    assert [(w.line, w.message) for w in note] == [(1, "2 empty column(s) at the end of the header ignored (column 19 on); "
                                                      "a value under one is refused")]  # fmt: skip


def test_a_value_under_an_unnamed_column_is_refused_naming_it(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    lines = (pkg / "users.csv").read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",,", lines[1] + ",,x", *(line + ",," for line in lines[2:])]
    (pkg / "users.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = load(pkg)
    assert next((p.file, p.line, p.field, p.value) for p in r.problems) == ("users.csv", 2, "column 20", "x")


def test_an_unnamed_column_between_named_ones_is_refused_naming_it(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    text = (pkg / "orgs.csv").read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    cells = header.split(",")
    cells[3] = ""
    (pkg / "orgs.csv").write_text(",".join(cells) + "\n" + rest, encoding="utf-8")
    r = load(pkg)
    unnamed = [p for p in r.problems if p.file == "orgs.csv" and p.line == 1 and p.field == "column 4"]
    assert len(unnamed) == 1 and "between 'dateLastModified' and 'type'" in unnamed[0].message


def test_blank_manifest_value_for_a_file_never_read_is_accepted(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    text = (pkg / "manifest.csv").read_text(encoding="utf-8").replace("file.courses,bulk", "file.courses,")
    (pkg / "manifest.csv").write_text(text.replace("file.lineItems,absent", "file.lineItems,"), encoding="utf-8")
    r = load(pkg)
    assert r.ok, r.problems
    said = sorted(w.message for w in r.warnings if w.file == "manifest.csv" and w.field == "value")
    assert said == [
        "file.courses: blank is not bulk, delta or absent (the only values OneRoster allows); accepted: courses.csv is never read",
        "file.lineItems: blank is not bulk, delta or absent (the only values OneRoster allows); accepted: lineItems.csv is never read",
    ]
    assert _records(r) == _records(load(FIXTURE))


def test_blank_manifest_value_for_a_file_read_is_refused(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    text = (pkg / "manifest.csv").read_text(encoding="utf-8").replace("file.users,bulk", "file.users,")
    (pkg / "manifest.csv").write_text(text, encoding="utf-8")
    r = load(pkg)
    assert [(p.file, p.line, p.field) for p in r.problems] == [("manifest.csv", 10, "value")]
    assert "file.users: blank is not bulk, delta or absent" in r.problems[0].message
