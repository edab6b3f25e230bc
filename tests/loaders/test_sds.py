"""SDS v2.1 CSV loader: the Microsoft sample (CRLF upstream), relationship roles, bad input."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from graph.errors import LoadError, Problem
from graph.model import (
    Attends,
    FerpaRights,
    GuardianOf,
    GuardianRelationship,
    Provider,
    School,
    Student,
    edge_from_dict,
    node_from_dict,
    record_to_dict,
)
from graph.stores.memory import MemoryStore
from loaders import sds
from loaders.base import LoadResult
from loaders.importer import import_result
from tests.dates import local

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "msft-sds-v2p1"
T0 = datetime(2021, 7, 1, tzinfo=UTC)


def load(*paths: Path, **kw: object) -> LoadResult:
    return sds.read(list(paths), default_valid_from=T0, **kw)  # type: ignore[arg-type]


def by_id(result: LoadResult) -> dict[str, object]:
    return {**{n.id: n for n in result.nodes}, **{e.id: e for e in result.edges}}


def copy_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "sds"
    shutil.copytree(FIXTURE, root)
    for f in root.iterdir():
        f.chmod(0o644)
    return root


def test_sample_counts() -> None:
    result = load(FIXTURE)
    assert result.problems == []
    assert result.counts() == {"ATTENDS": 4, "GUARDIAN_OF": 3, "Guardian": 2, "Provider": 2, "School": 2, "Student": 4}
    assert {n.id for n in result.nodes if isinstance(n, Student)} == {"114001", "114003", "114004", "114008"}


def test_jack_craig_school_and_guardian() -> None:
    records = by_id(load(FIXTURE))
    assert records["114001"] == Student(id="114001", birth_date=date(2001, 7, 2))
    attends = records["attends:114001:110003"]
    assert isinstance(attends, Attends)
    assert (attends.valid_from, attends.valid_to) == (local(2021, 8, 24), local(2022, 6, 11))
    assert attends.source == "sds:roles.csv"
    edge = records["guardian_of:sds:114002:114001"]
    assert isinstance(edge, GuardianOf)
    assert (edge.from_id, edge.to_id, edge.relationship) == ("114002", "114001", GuardianRelationship.LEGAL_GUARDIAN)
    assert edge.ferpa_rights is FerpaRights.UNVERIFIED and edge.valid_from == T0 and edge.source == "sds:relationships.csv"
    # Jean Craig is also Fred Hutch's relative.
    relative = records["guardian_of:sds:114002:114003"]
    assert isinstance(relative, GuardianOf) and relative.relationship is GuardianRelationship.RELATIVE
    assert records["110003"] == School(id="110003", name="School of TwoDotOne")
    assert records["114007"] == Provider(id="114007", name="Kristen Fein")


def test_college_student_is_postsecondary() -> None:
    records = by_id(load(FIXTURE))
    simon = records["114008"]
    assert isinstance(simon, Student) and simon.postsecondary_enrolled
    assert isinstance(records["114001"], Student) and not records["114001"].postsecondary_enrolled  # type: ignore[attr-defined]
    attends = records["attends:114008:110001"]
    assert isinstance(attends, Attends) and attends.valid_to == local(2021, 12, 1)


def test_flags_demographics_and_contacts_are_never_held() -> None:
    result = load(FIXTURE, include_names=True)
    text = repr(result.nodes) + repr(result.edges)
    for never in ("iep", "freeLunch", "504", "outlook.com", "+1123", "P@ssword", "hispanic", "Woodenville", "asian"):
        assert never not in text
    assert Problem("userFlags.csv", None, None, "not read: flags (iep, 504, freeLunch) are never held") in result.warnings
    assert by_id(result)["114002"] == node_from_dict("Guardian", {"id": "114002", "name": "Jean Craig"})


def test_unmapped_org_types_are_warnings() -> None:
    result = load(FIXTURE)
    assert {(w.line, w.field) for w in result.warnings if w.file == "orgs.csv"} == {(3, "type"), (5, "type"), (4, "parentSourcedId")}
    assert "110002" not in by_id(result) and "110004" not in by_id(result)


@pytest.mark.parametrize("record_source", ["oneroster", "sds"])
def test_fast_records_equal_validated_records(record_source: str) -> None:
    if record_source == "sds":
        result = load(FIXTURE, include_names=True)
    else:
        from loaders import oneroster

        result = oneroster.read([FIXTURE.parent / "oneroster-v1p1-grandbend"], default_valid_from=T0, include_names=True)
    for n in result.nodes:
        assert node_from_dict(n.kind, record_to_dict(n)) == n
    for e in result.edges:
        assert edge_from_dict(e.kind, record_to_dict(e)) == e


RELATIONSHIPS = [
    pytest.param("parent", GuardianRelationship.PARENT, id="parent"),
    pytest.param("Mother", GuardianRelationship.PARENT, id="mother-any-case"),
    pytest.param("guardian", GuardianRelationship.LEGAL_GUARDIAN, id="guardian"),
    pytest.param("relative", GuardianRelationship.RELATIVE, id="relative"),
    pytest.param("grandparent", GuardianRelationship.RELATIVE, id="grandparent"),
    pytest.param("emergency contact", GuardianRelationship.EMERGENCY_CONTACT, id="emergency-contact-spaced"),
    pytest.param("emergencyContact", GuardianRelationship.EMERGENCY_CONTACT, id="emergencyContact"),
    pytest.param("fosterParent", GuardianRelationship.ACTING_AS_PARENT, id="foster-parent"),
    pytest.param("doctor", None, id="doctor-no-edge"),
    pytest.param("other", None, id="other-no-edge"),
]


@pytest.mark.parametrize(("role", "expected"), RELATIONSHIPS)
def test_relationship_roles(tmp_path: Path, role: str, expected: GuardianRelationship | None) -> None:
    root = copy_fixture(tmp_path)
    (root / "relationships.csv").write_text(f"userSourcedId,relationshipUserSourcedId,relationshipRole\n114004,114005,{role}\n")
    result = load(root)
    assert result.problems == []
    edges = [e for e in result.edges if isinstance(e, GuardianOf)]
    if expected is None:
        assert edges == [] and "114005" not in by_id(result)
        assert any(w.field == "relationshipRole" and w.line == 2 for w in result.warnings)
    else:
        assert [(e.from_id, e.to_id, e.relationship, e.ferpa_rights) for e in edges] == [
            ("114005", "114004", expected, FerpaRights.UNVERIFIED)
        ]


BAD = [
    pytest.param(
        "relationships.csv",
        "userSourcedId,relationshipUserSourcedId,relationshipRole\r\n999,114002,guardian\r\n",
        Problem("relationships.csv", 2, "userSourcedId", "'999' is not in the package nor in the store; expected a student"),
        id="relationship-to-unknown-student",
    ),
    pytest.param(
        "roles.csv",
        "userSourcedId,orgSourcedId,role,sessionSourcedId,grade,isPrimary,roleStartDate,roleEndDate\r\n"
        "114001,110003,student,SY2021K12,10,TRUE,2021-08-xx,2022-06-11\r\n",
        Problem("roles.csv", 2, "roleStartDate", "not a date (YYYY-MM-DD): '2021-08-xx'"),
        id="unparsable-roleStartDate",
    ),
    pytest.param(
        "roles.csv",
        "userSourcedId,orgSourcedId,role\r\n114001,110099,student\r\n",
        Problem("roles.csv", 2, "orgSourcedId", "'110099' is not in the package nor in the store; expected a school"),
        id="role-at-unknown-org",
    ),
    pytest.param(
        "roles.csv",
        "userSourcedId,org,role\r\n114001,110003,student\r\n",
        Problem("roles.csv", 1, "orgSourcedId", "required column 'orgSourcedId' is missing from the header"),
        id="wrong-header",
    ),
    pytest.param(
        "enrollments.csv",
        "classSourcedId,userSourcedId,role\r\n112002,114999,teacher\r\n",
        Problem("enrollments.csv", 2, "userSourcedId", "'114999' is not in the package nor in the store; expected a user"),
        id="enrollment-to-unknown-user",
    ),
    pytest.param(
        "users.csv",
        b"sourcedId,username,givenName,familyName\r\n114001,j,J\xe9r\xf4me,Craig\r\n",
        Problem("users.csv", 2, None, "not UTF-8 text (byte 0xe9 at column 11); row skipped"),
        id="latin-1-bytes",
    ),
    pytest.param(
        "orgs.csv",
        "sourcedId,name,type,parentSourcedId\r\n110003,School of TwoDotOne,sch",
        Problem("orgs.csv", 2, "parentSourcedId", "row has 3 of 4 fields (truncated?); row skipped"),
        id="truncated-file",
    ),
]


def problems_when_loaded(result: LoadResult, tmp_path: Path) -> list[Problem]:
    """The reader's problems, else those of loading it into an empty store (open references)."""
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


@pytest.mark.parametrize(("name", "content", "expected"), BAD)
def test_bad_input(tmp_path: Path, name: str, content: str | bytes, expected: Problem) -> None:
    root = copy_fixture(tmp_path)
    if isinstance(content, bytes):
        (root / name).write_bytes(content)
    else:
        (root / name).write_text(content, newline="")
    result = load(root)
    found = problems_when_loaded(result, tmp_path)
    assert expected in found, found


def test_missing_roles_file_is_one_problem(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    (root / "roles.csv").unlink()
    result = load(root)
    assert Problem("roles.csv", None, None, "file not found") in result.problems


def test_bom_and_lf_load_like_the_crlf_sample(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    for f in root.glob("*.csv"):
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\r\n", b"\n"))
    a, b = load(FIXTURE), load(root)
    assert b.problems == [] and a.nodes == b.nodes and a.edges == b.edges


def test_reload_is_identical() -> None:
    a, b = load(FIXTURE), load(FIXTURE)
    assert a.nodes == b.nodes and a.edges == b.edges


# ---------------------------------------------------------------------------- SDS v1 (classic) and v2.0

V1 = FIXTURE.parent / "msft-sds-v1"
V2_0 = FIXTURE.parent / "msft-sds-v2p0"


def test_v1_sample_loads_and_says_its_version() -> None:
    r = load(V1)
    assert r.ok, r.problems
    assert r.warnings[0].message == "read as SDS CSV v1"
    assert r.counts() == {"ATTENDS": 22, "Provider": 2, "School": 2, "Student": 22}
    nodes = by_id(r)
    assert nodes["13001"] == Student(id="13001", birth_date=date(2000, 4, 2))  # Birthdate 4/2/2000 (M/D/YYYY); no name
    assert nodes["10001"] == School(id="10001", name="Contoso High School")
    assert nodes["14001"] == Provider(id="14001", name="Craig Beane")
    assert {(e.from_id, e.to_id) for e in r.edges if isinstance(e, Attends)} >= {("13001", "10001")}
    dropped = next(w for w in r.warnings if w.file == "Student.csv")
    assert "Password" in dropped.message and "Username" in dropped.message


def test_v1_file_names_in_any_case(tmp_path: Path) -> None:
    pkg = tmp_path / "lower"
    pkg.mkdir()
    for f in V1.glob("*.csv"):
        shutil.copy(f, pkg / f.name.lower())
    assert load(pkg).counts() == load(V1).counts()


def test_v1_guardians_from_user_and_guardian_relationship(tmp_path: Path) -> None:
    pkg = tmp_path / "v1"
    shutil.copytree(V1, pkg)
    (pkg / "User.csv").write_text(
        "Email,First Name,Last Name,Phone,SIS ID\nmom@example.org,Ann,Klein,,G1\nDad@Example.org,Bob,Klein,555-0100,\n"
        "doc@example.org,Dee,Oz,,\n", encoding="utf-8")  # fmt: skip
    (pkg / "GuardianRelationship.csv").write_text(
        "SIS ID,Email,Role\n13001,mom@example.org,Parent\n13001,dad@example.org,Guardian\n13001,doc@example.org,Doctor\n"
        "13002,nobody@example.org,Parent\n", encoding="utf-8")  # fmt: skip
    r = load(pkg)
    links = {(e.from_id, e.to_id, e.relationship, e.ferpa_rights) for e in r.edges if isinstance(e, GuardianOf)}
    dad = next(e.from_id for e in r.edges if isinstance(e, GuardianOf) and e.from_id != "G1")
    assert links == {("G1", "13001", GuardianRelationship.PARENT, FerpaRights.UNVERIFIED),
                     (dad, "13001", GuardianRelationship.LEGAL_GUARDIAN, FerpaRights.UNVERIFIED)}  # fmt: skip
    assert dad.startswith("sds-guardian:") and "example" not in dad  # the e-mail address is never held
    assert [(p.file, p.line, p.field) for p in r.problems] == [("GuardianRelationship.csv", 5, "Email")]
    assert any(w.field == "Role" and "'Doctor'" in w.message for w in r.warnings)


def test_v1_bad_birthdate_names_file_line_field(tmp_path: Path) -> None:
    pkg = tmp_path / "v1"
    shutil.copytree(V1, pkg)
    text = (pkg / "Student.csv").read_text(encoding="utf-8").replace("4/2/2000", "2000-13-45", 1)
    (pkg / "Student.csv").write_text(text, encoding="utf-8")
    r = load(pkg)
    assert next((p.file, p.line, p.field) for p in r.problems) == ("Student.csv", 2, "Birthdate")
    assert all("Student.csv:2 was rejected" in p.message for p in r.problems[1:])  # consequences, said as such


def test_v2_0_sample_loads_roles_from_users() -> None:
    r = load(V2_0)
    assert r.ok, r.problems
    assert r.warnings[0].message == "read as SDS CSV v2.0"
    assert r.counts() == {"ATTENDS": 23, "Provider": 7, "School": 4, "Student": 22}
    assert sds.detect_version({p.name: p for p in V2_0.glob("*.csv")}) == "2.0"
    assert sds.detect_version({p.name: p for p in FIXTURE.glob("*.csv")}) == "2.1"


def test_not_sds_is_refused_naming_the_versions_read(tmp_path: Path) -> None:
    pkg = tmp_path / "export"
    pkg.mkdir()
    (pkg / "roster_export.csv").write_text("student,school\n1,2\n", encoding="utf-8")
    r = load(pkg)
    (problem,) = r.problems
    assert problem.file == "export" and "not an SDS package: found roster_export.csv" in problem.message
    assert "v1 (classic: School.csv" in problem.message and "v2.0" in problem.message and "v2.1" in problem.message
