"""The project's bundle (loaders.bundle): reading, bad input, references, round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.errors import Problem
from graph.model import (
    About,
    Agreement,
    Attends,
    Community,
    Consent,
    ConsentKind,
    ConsentStatus,
    Course,
    District,
    Edge,
    EdgeKind,
    EmployedBy,
    FerpaRights,
    GivenBy,
    Guardian,
    GuardianOf,
    GuardianRelationship,
    LegalOrder,
    LivesIn,
    LocatedIn,
    MemberOf,
    Node,
    NodeKind,
    Offers,
    Partner,
    PartOf,
    Permits,
    Program,
    Provider,
    Restricts,
    School,
    Serves,
    ServesArea,
    ServiceStatus,
    Signed,
    Student,
    Team,
    Trained,
    WorksIn,
)
from loaders import bundle
from loaders.bundle import BundleResult, check_references, write_bundle

T0 = datetime(2025, 7, 1, tzinfo=UTC)
T1 = datetime(2025, 9, 2, 8, 30, tzinfo=UTC)
T2 = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)


def _read(*dirs: Path, **kw: object) -> BundleResult:
    return bundle.read(list(dirs), default_valid_from=T0, **kw)  # type: ignore[arg-type]


def _put(d: Path, name: str, content: str | bytes) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    return p


def _problems(r: BundleResult) -> list[tuple[str, int | None, str | None]]:
    return [(p.file, p.line, p.field) for p in r.problems]


# ---------------------------------------------------------------------------- good input

STUDENT_CSV = (
    "id,birth_date,postsecondary_enrolled,emancipated,unaccompanied_youth,time_zone,name\n"
    "stu-1,2008-03-01,true,false,,America/Denver,Sam Rivera\n"
    "stu-2,2012-11-30,,,,,\n"
)
GUARDIAN_OF_CSV = (
    "id,from_id,to_id,valid_from,valid_to,relationship,ferpa_rights\n"
    "g1-s1,gdn-1,stu-1,2025-08-15T06:00:00Z,,parent,full\n"
    "g2-s1,gdn-2,stu-1,,,emergency_contact,unverified\n"
)
CONSENT_JSONL = (
    '{"id":"cns-1","status":"active","consent_kind":"permit","signed_at":"2025-09-02T02:30:00-06:00",'
    '"expires_at":"2026-06-30T17:00:00Z","purposes":["academic_support"],"categories":["attendance","grades"],'
    '"signature_method":"electronic"}\n'
)


def test_reads_csv_and_jsonl_with_types_sets_defaults_and_locations(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Student.csv", STUDENT_CSV)
    _put(d, "Guardian.jsonl", '{"id":"gdn-1","name":"Pat Rivera"}\n{"id":"gdn-2"}\n')
    _put(d, "GUARDIAN_OF.csv", GUARDIAN_OF_CSV)
    _put(d, "Consent.jsonl", CONSENT_JSONL)
    r = _read(d, include_names=True)
    assert r.problems == []
    assert r.counts() == {"Consent": 1, "GUARDIAN_OF": 2, "Guardian": 2, "Student": 2}
    assert r.rows_read == 7
    # Nodes come first, in NodeKind order, whatever the file names sort to.
    assert [n.id for n in r.nodes] == ["stu-1", "stu-2", "gdn-1", "gdn-2", "cns-1"]
    s1, s2 = r.nodes[0], r.nodes[1]
    assert s1 == Student(id="stu-1", birth_date=date(2008, 3, 1), postsecondary_enrolled=True,
                         time_zone="America/Denver", name="Sam Rivera")
    assert s2 == Student(id="stu-2", birth_date=date(2012, 11, 30))
    consent = r.nodes[4]
    assert isinstance(consent, Consent)
    assert consent.signed_at == T1  # -06:00 normalised to UTC
    assert consent.categories == frozenset({"attendance", "grades"})
    e1, e2 = r.edges
    assert isinstance(e1, GuardianOf) and isinstance(e2, GuardianOf)
    assert e1.valid_from == datetime(2025, 8, 15, 6, tzinfo=UTC) and e1.source == "bundle:GUARDIAN_OF.csv"
    assert e2.valid_from == T0  # empty cell: default_valid_from
    assert (e2.relationship, e2.ferpa_rights) == (GuardianRelationship.EMERGENCY_CONTACT, FerpaRights.UNVERIFIED)
    assert r.node_location(1) == ("Student.csv", 3)
    assert r.node_location(2) == ("Guardian.jsonl", 1)
    assert r.edge_location(1) == ("GUARDIAN_OF.csv", 3)


def test_names_of_students_and_guardians_are_dropped_unless_asked(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Student.csv", STUDENT_CSV)
    _put(d, "Guardian.jsonl", '{"id":"gdn-1","name":"Pat Rivera"}\n')
    _put(d, "Provider.jsonl", '{"id":"prv-1","name":"Ana M."}\n')
    r = _read(d)
    assert r.problems == []
    names = {n.id: getattr(n, "name", None) for n in r.nodes}
    assert names == {"stu-1": None, "stu-2": None, "gdn-1": None, "prv-1": "Ana M."}
    assert [(w.file, w.line, w.field) for w in r.warnings] == [("Student.csv", 2, "name"), ("Guardian.jsonl", 1, "name")]


def test_edge_without_id_gets_a_deterministic_one(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "ATTENDS.csv", "from_id,to_id,valid_from\nstu-1,sch-1,2025-08-15T06:00:00Z\nstu-2,sch-1,\n")
    r = _read(d, recorded_at=T2, source="district-export")
    assert r.problems == []
    assert [e.id for e in r.edges] == [
        "attends:stu-1:sch-1:2025-08-15T06:00:00Z",
        "attends:stu-2:sch-1:2025-07-01T00:00:00Z",
    ]
    assert {e.recorded_at for e in r.edges} == {T2}
    assert {e.source for e in r.edges} == {"district-export:ATTENDS.csv"}
    again = _read(d, recorded_at=T2, source="district-export")
    assert again.edges == r.edges


def test_bom_and_crlf_load_fine(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Student.csv", b"\xef\xbb\xbf" + STUDENT_CSV.replace("\n", "\r\n").encode())
    _put(d, "Consent.jsonl", b"\xef\xbb\xbf" + CONSENT_JSONL.replace("\n", "\r\n").encode())
    r = _read(d)
    assert r.problems == []
    assert [n.id for n in r.nodes] == ["stu-1", "stu-2", "cns-1"]
    assert r.nodes[1] == Student(id="stu-2", birth_date=date(2012, 11, 30))


def test_quoted_cell_over_two_lines_keeps_physical_line_numbers(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Partner.csv", 'id,name\nptn-1,"Wasatch\nFamily Services"\nptn-2,"Valley, Youth"\nptn-3\n')
    r = _read(d)
    assert [n.name for n in r.nodes] == ["Wasatch\nFamily Services", "Valley, Youth"]  # type: ignore[attr-defined]
    assert r.node_location(1) == ("Partner.csv", 4)
    assert _problems(r) == [("Partner.csv", 5, None)]


def test_several_directories_nodes_first(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _put(a, "GUARDIAN_OF.csv", GUARDIAN_OF_CSV)
    _put(b, "Student.csv", STUDENT_CSV)
    _put(b, "Guardian.jsonl", '{"id":"gdn-1"}\n{"id":"gdn-2"}\n')
    r = _read(a, b)
    assert r.problems == []
    assert [n.id for n in r.nodes] == ["stu-1", "stu-2", "gdn-1", "gdn-2"]
    assert check_references(r, lambda _id: None) == []


# ---------------------------------------------------------------------------- bad input

BAD_CASES = [
    pytest.param(
        "Student.csv", "id,birth_date,shoe_size\nstu-1,2010-01-01,9\n",
        [("Student.csv", 1, "shoe_size")], 1, id="unknown-column",
    ),
    pytest.param(
        "Student.csv", "student_id,birth_date\nstu-1,2010-01-01\nstu-2,2011-01-01\n",
        [("Student.csv", 1, "id")], 0, id="missing-required-column-is-one-problem",
    ),
    pytest.param(
        "GUARDIAN_OF.csv", "id,from_id\ng1,gdn-1\n",
        [("GUARDIAN_OF.csv", 1, "to_id")], 0, id="edge-missing-to_id-column",
    ),
    pytest.param(
        "Student.csv", "id,id\nstu-1,stu-2\n", [("Student.csv", 1, "id")], 0, id="duplicate-column",
    ),
    pytest.param(
        "Student.csv", "", [("Student.csv", 1, None)], 0, id="empty-csv",
    ),
    pytest.param(
        "Student.csv", "id,birth_date\nstu-1,2010-01-01\nstu-2,01/02/2011\nstu-3,2012-01-01\n",
        [("Student.csv", 3, "birth_date")], 2, id="unparsable-date-row-skipped-file-goes-on",
    ),
    pytest.param(
        "ATTENDS.csv", "id,from_id,to_id,valid_from\na1,stu-1,sch-1,2025-08-15T06:00:00\n",
        [("ATTENDS.csv", 2, "valid_from")], 0, id="naive-timestamp",
    ),
    pytest.param(
        "ATTENDS.jsonl", '{"id":"a1","from_id":"stu-1","to_id":"sch-1","valid_from":"next tuesday"}\n',
        [("ATTENDS.jsonl", 1, "valid_from")], 0, id="unparsable-timestamp-jsonl",
    ),
    pytest.param(
        "ATTENDS.csv", "id,from_id,to_id,valid_from,valid_to\na1,stu-1,sch-1,2025-08-15T06:00:00Z,2025-08-01T00:00:00Z\n",
        [("ATTENDS.csv", 2, None)], 0, id="valid_to-before-valid_from",
    ),
    pytest.param(
        "Student.jsonl", '{"id":"stu-1","shoe_size":9}\n{"id":"stu-2"}\n',
        [("Student.jsonl", 1, "shoe_size")], 1, id="unknown-key",
    ),
    pytest.param(
        "Student.jsonl", '{"id":"stu-1"}\n{"id": "stu-2", \n{"id":"stu-3"}\n',
        [("Student.jsonl", 2, None)], 2, id="malformed-json",
    ),
    pytest.param(
        "Student.jsonl", '["stu-1"]\n', [("Student.jsonl", 1, None)], 0, id="json-not-an-object",
    ),
    pytest.param(
        "Student.jsonl", '{"id":"stu-1"}\n{"id":"stu-2","birth_da', [("Student.jsonl", 2, None)], 1,
        id="truncated-jsonl",
    ),
    pytest.param(
        "Student.csv", "id,birth_date,emancipated\nstu-1,2010-01-01,false\nstu-2,2011-0",
        [("Student.csv", 3, None)], 1, id="truncated-csv",
    ),
    pytest.param(
        "Partner.csv", 'id,name\nptn-1,"ok"x\nptn-2,fine\nptn-3,"Wasatch', [("Partner.csv", 2, None), ("Partner.csv", 4, None)],
        1, id="bad-quoting-and-truncated-inside-quotes",
    ),
    pytest.param(
        "Student.csv", "id,birth_date\nstu-1,2010-01-01,extra\nstu-2\nstu-3,2012-01-01\n",
        [("Student.csv", 2, None), ("Student.csv", 3, None)], 1, id="wrong-number-of-cells",
    ),
    pytest.param(
        "Student.csv", "id,emancipated\nstu-1,yes\nstu-2,TRUE\n", [("Student.csv", 2, "emancipated")], 1,
        id="boolean-must-be-true-or-false",
    ),
    pytest.param(
        "Consent.csv", "id,categories,purposes\ncns-1,attendance;shoe_size,academic_support\n",
        [("Consent.csv", 2, "categories")], 1, id="unknown-category",
    ),
    pytest.param(
        "SERVES.jsonl",
        '{"id":"s1","from_id":"prv-1","to_id":"stu-1","categories_needed":["grades","gossip","rumours"]}\n',
        [("SERVES.jsonl", 1, "categories_needed")], 1, id="unknown-category-needed",
    ),
    pytest.param(
        "Consent.jsonl", '{"id":"cns-1","status":"pending"}\n', [("Consent.jsonl", 1, "status")], 0, id="bad-enum",
    ),
    pytest.param(
        "Student.csv", b"id,birth_date\nstu-1,2010-01-01\nstu-\xe9,2011-01-01\nstu-3,2012-01-01\n",
        [("Student.csv", 3, None)], 2, id="latin-1-bytes",
    ),
    pytest.param(
        "Student.jsonl", b'{"id":"stu-1"}\n{"id":"J\xfcrgen"}\n', [("Student.jsonl", 2, None)], 1,
        id="latin-1-bytes-jsonl",
    ),
    pytest.param(
        "students.csv", "id\nstu-1\n", [("students.csv", None, None)], 0, id="unknown-file-name",
    ),
    pytest.param(
        "Student.txt", "id\nstu-1\n", [("Student.txt", None, None)], 0, id="unknown-suffix",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected", "loaded"), BAD_CASES)
def test_bad_input_is_a_problem_with_file_line_and_field(
    tmp_path: Path, name: str, content: str | bytes, expected: list[tuple[str, int | None, str | None]], loaded: int
) -> None:
    d = tmp_path / "b"
    _put(d, name, content)
    r = _read(d)
    assert _problems(r) == expected
    assert len(r.nodes) + len(r.edges) == loaded
    assert all(p.message for p in r.problems)


def test_problem_messages_say_why(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Student.csv", "id,birth_date\nstu-1,2010-01-01,extra\n")
    _put(d, "Consent.csv", "id,categories\ncns-1,attendance;shoe_size\n")
    _put(d, "ATTENDS.csv", "id,from_id,to_id,valid_from\na1,stu-1,sch-1,2025-08-15T06:00:00\n")
    msgs = {p.file: p.message for p in _read(d).problems}
    assert msgs["Student.csv"] == "expected 2 cells, found 3"
    assert msgs["Consent.csv"] == "unknown data category: shoe_size"
    assert "naive datetime" in msgs["ATTENDS.csv"]


def test_extra_categories_can_be_allowed(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Consent.csv", "id,categories\ncns-1,attendance;transport\n")
    assert _problems(_read(d)) == [("Consent.csv", 2, "categories")]
    assert _read(d, categories=bundle.DEFAULT_CATEGORIES | {"transport"}).problems == []


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Student.csv", "id\nstu-1\nstu-2\n")
    _put(d, "Guardian.jsonl", '{"id":"gdn-1"}\n{"id":"stu-2"}\n')
    _put(d, "ATTENDS.csv", "id,from_id,to_id\na1,stu-1,sch-1\na1,stu-2,sch-1\n")
    r = _read(d)
    assert [(p.file, p.line, p.field, p.message) for p in r.problems] == [
        ("Guardian.jsonl", 2, "id", "duplicate id 'stu-2': already at Student.csv:3"),
        ("ATTENDS.csv", 3, "id", "duplicate id 'a1': already at ATTENDS.csv:2"),
    ]
    assert [n.id for n in r.nodes] == ["stu-1", "stu-2", "gdn-1"]


def test_duplicate_across_directories_names_the_other_directory(tmp_path: Path) -> None:
    _put(tmp_path / "fall", "Student.csv", "id\nstu-1\n")
    _put(tmp_path / "spring", "Student.csv", "id\nstu-1\n")
    r = _read(tmp_path / "fall", tmp_path / "spring")
    assert [(p.file, p.line, p.message) for p in r.problems] == [
        ("Student.csv", 2, "duplicate id 'stu-1': already at fall/Student.csv:2")
    ]


def test_missing_directory_is_one_problem(tmp_path: Path) -> None:
    r = _read(tmp_path / "nowhere")
    assert _problems(r) == [("nowhere", None, None)]


def test_dotfiles_are_ignored(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, ".DS_Store", b"\x00\x01")
    _put(d, "Student.csv", "id\nstu-1\n")
    assert _read(d).problems == []


# ---------------------------------------------------------------------------- references


def test_check_references_reports_dangling_and_wrong_kind_with_file_and_line(tmp_path: Path) -> None:
    d = tmp_path / "b"
    _put(d, "Student.csv", "id\nstu-1\n")
    _put(d, "Guardian.csv", "id\ngdn-1\n")
    _put(
        d,
        "GUARDIAN_OF.csv",
        "id,from_id,to_id\n"
        "ok,gdn-1,stu-1\n"  # both in the bundle
        "store,gdn-9,stu-1\n"  # gdn-9 is in the store
        "ghost,gdn-404,stu-1\n"  # nowhere: an enrolment to an unknown user
        "flipped,stu-1,gdn-1\n",  # both ends of the wrong kind
    )
    _put(d, "SERVES.jsonl", '{"id":"s1","from_id":"prv-9","to_id":"stu-1","program":"sch-9"}\n')
    store = {"gdn-9": NodeKind.GUARDIAN, "prv-9": NodeKind.PROVIDER, "sch-9": NodeKind.SCHOOL}
    r = _read(d)
    assert r.problems == []
    found = check_references(r, store.get)
    assert [(p.file, p.line, p.field) for p in found] == [
        ("GUARDIAN_OF.csv", 4, "from_id"),
        ("GUARDIAN_OF.csv", 5, "from_id"),
        ("GUARDIAN_OF.csv", 5, "to_id"),
        ("SERVES.jsonl", 1, "program"),
    ]
    assert found[0].message == "'gdn-404' is neither in the bundle nor in the store"
    assert found[1].message == "'stu-1' is a Student; GUARDIAN_OF from_id must be a Guardian"
    assert found[3].message == "'sch-9' is a School; SERVES program must be a Program"


def test_check_references_on_a_plain_load_result_uses_the_source() -> None:
    from loaders.base import LoadResult

    r = LoadResult(edges=[Attends(id="a", from_id="stu-1", to_id="sch-1", valid_from=T0, source="x:ATTENDS.csv")])
    assert check_references(r, lambda _id: None) == [
        Problem("x:ATTENDS.csv", None, "from_id", "'stu-1' is neither in the bundle nor in the store"),
        Problem("x:ATTENDS.csv", None, "to_id", "'sch-1' is neither in the bundle nor in the store"),
    ]


def test_extend_keeps_locations(tmp_path: Path) -> None:
    _put(tmp_path / "a", "Student.csv", "id\nstu-1\n")
    _put(tmp_path / "b", "Student.csv", "id\nstu-2\nstu-3\n")
    r = _read(tmp_path / "a")
    r.extend(_read(tmp_path / "b"))
    assert [r.node_location(i) for i in range(3)] == [("Student.csv", 2), ("Student.csv", 2), ("Student.csv", 3)]


# ---------------------------------------------------------------------------- writing and the round trip

ONE_OF_EACH: list[Node | Edge] = [
    Student(id="stu-1", birth_date=date(2008, 2, 29), postsecondary_enrolled=True, emancipated=False,
            unaccompanied_youth=True, time_zone="America/Denver", name="Sam, \"Sammy\" Rivera"),
    Guardian(id="gdn-1", name="Pat Rivera"),
    Provider(id="prv-1", name="Ana M."),
    Partner(id="ptn-1", name="Wasatch Family Services"),
    Program(id="prg-1", name="After-School Tutoring; Math"),
    Team(id="team-1", name="Kearns Care Team"),
    School(id="sch-1", name="Aspen Elementary"),
    District(id="dst-1", name="Oquirrh School District"),
    Community(id="com-1", name="Kearns"),
    Consent(id="cns-1", status=ConsentStatus.ACTIVE, consent_kind=ConsentKind.DENY, signed_at=T1, effective_from=T1,
            expires_at=T2, revoked_at=T2, purposes=frozenset({"academic_support", "mentoring"}),
            categories=frozenset({"grades", "health"}), signature_method="electronic"),
    Agreement(id="agreement:data_confidentiality:v2", agreement_kind="data_confidentiality", version=2, name="DCA v2"),
    Course(id="crs-ferpa_basics", name="FERPA Basics"),
    LegalOrder(id="ord-1", description="Protective order"),
    GuardianOf(id="go", from_id="gdn-1", to_id="stu-1", valid_from=T0, valid_to=T2, recorded_at=T1, source="s",
               relationship=GuardianRelationship.LEGAL_GUARDIAN, ferpa_rights=FerpaRights.UNVERIFIED, lives_with=False),
    Attends(id="at", from_id="stu-1", to_id="sch-1", valid_from=T0, source="s"),
    LocatedIn(id="li", from_id="sch-1", to_id="com-1", valid_from=T0, source="s"),
    PartOf(id="po", from_id="sch-1", to_id="dst-1", valid_from=T0, source="s"),
    LivesIn(id="lv", from_id="stu-1", to_id="com-1", valid_from=T0, source="s"),
    EmployedBy(id="eb", from_id="prv-1", to_id="ptn-1", valid_from=T0, source="s"),
    WorksIn(id="wi", from_id="prv-1", to_id="com-1", valid_from=T0, source="s"),
    MemberOf(id="mo", from_id="prv-1", to_id="team-1", valid_from=T0, source="s"),
    Trained(id="tr", from_id="prv-1", to_id="crs-ferpa_basics", valid_from=T0, valid_to=T2, source="s"),
    Signed(id="sg", from_id="prv-1", to_id="agreement:data_confidentiality:v2", valid_from=T0, version=2, source="s"),
    Offers(id="of", from_id="ptn-1", to_id="prg-1", valid_from=T0, source="s"),
    ServesArea(id="sa", from_id="prg-1", to_id="com-1", valid_from=T0, source="s"),
    Serves(id="sv", from_id="team-1", to_id="stu-1", valid_from=T1, status=ServiceStatus.PAUSED, program="prg-1",
           categories_needed=frozenset({"attendance", "grades"}), source="s"),
    GivenBy(id="gb", from_id="cns-1", to_id="gdn-1", valid_from=T1, source="s"),
    About(id="ab", from_id="cns-1", to_id="stu-1", valid_from=T1, source="s"),
    Permits(id="pm", from_id="cns-1", to_id="ptn-1", valid_from=T1, source="s"),
    Restricts(id="rs", from_id="ord-1", to_id="gdn-1", valid_from=T0, source="s"),
]


def test_one_of_each_kind_covers_the_model() -> None:
    assert {str(r.kind) for r in ONE_OF_EACH} == {str(k) for k in NodeKind} | {str(k) for k in EdgeKind}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_round_trip_of_every_kind(tmp_path: Path, fmt: bundle.Format) -> None:
    nodes = [r for r in ONE_OF_EACH if isinstance(r, Node)]
    edges = [r for r in ONE_OF_EACH if isinstance(r, Edge)]
    counts = write_bundle(tmp_path / "b", iter(nodes), iter(edges), fmt=fmt)
    assert sum(counts.values()) == len(ONE_OF_EACH) and counts["Student"] == 1
    assert sorted(p.name for p in (tmp_path / "b").iterdir())[:2] == [f"ABOUT.{fmt}", f"ATTENDS.{fmt}"]
    r = _read(tmp_path / "b", include_names=True)
    assert r.problems == []
    assert r.nodes == nodes
    assert sorted(r.edges, key=lambda e: e.id) == sorted(edges, key=lambda e: e.id)
    assert check_references(r, lambda _id: None) == []


NODES: list[Node] = [r for r in ONE_OF_EACH if isinstance(r, Node)]


def test_csv_conventions(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b", [NODES[0], NODES[9]], [], fmt="csv")
    lines = (tmp_path / "b" / "Consent.csv").read_text(encoding="utf-8").splitlines()
    assert lines == [
        "id,status,consent_kind,signed_at,effective_from,expires_at,revoked_at,purposes,categories,signature_method,"
        "signer_identity,text_version,exception_to",
        "cns-1,active,deny,2025-09-02T08:30:00Z,2025-09-02T08:30:00Z,2026-06-30T17:00:00Z,2026-06-30T17:00:00Z,"
        "academic_support;mentoring,grades;health,electronic,,,",
    ]
    student = (tmp_path / "b" / "Student.csv").read_text(encoding="utf-8").splitlines()[1]
    assert student == 'stu-1,2008-02-29,true,false,true,America/Denver,"Sam, ""Sammy"" Rivera"'


def test_writer_refuses_a_directory_that_holds_a_bundle(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b", [NODES[0]], [])
    with pytest.raises(FileExistsError):
        write_bundle(tmp_path / "b", [NODES[1]], [], fmt="csv")
    with pytest.raises(ValueError, match="unknown bundle format"):
        write_bundle(tmp_path / "c", [], [], fmt="xml")  # type: ignore[arg-type]


# ids: printable, no surrounding spaces (graph.model); names: anything UTF-8 can carry
_ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]), min_size=1, max_size=12)
_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)
_times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
_cats = st.frozensets(st.sampled_from(sorted(bundle.DEFAULT_CATEGORIES)), max_size=4)
_codes = st.frozensets(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), max_size=3)

_students = st.builds(
    Student, id=_ids, birth_date=st.none() | st.dates(), postsecondary_enrolled=st.booleans(),
    emancipated=st.booleans(), unaccompanied_youth=st.booleans(), time_zone=st.none() | st.just("America/Denver"),
    name=st.none() | _names,
)
_consents = st.builds(
    Consent, id=_ids, status=st.sampled_from(ConsentStatus), consent_kind=st.sampled_from(ConsentKind),
    signed_at=st.none() | _times, effective_from=st.none() | _times, expires_at=st.none() | _times,
    revoked_at=st.none() | _times, purposes=_codes, categories=_cats, signature_method=st.none() | _names,
    signer_identity=st.none() | _names, text_version=st.none() | _names,
    exception_to=st.none() | _ids,
)
_providers = st.builds(Provider, id=_ids, name=_names)


@st.composite
def _serves(draw: st.DrawFn) -> Serves:
    start = draw(_times)
    end = draw(st.none() | _times.filter(lambda t: t >= start))
    return Serves(id=draw(_ids), from_id=draw(_ids), to_id=draw(_ids), valid_from=start, valid_to=end,
                  recorded_at=draw(st.none() | _times), source=draw(_names), status=draw(st.sampled_from(ServiceStatus)),
                  program=draw(st.none() | _ids), categories_needed=draw(_cats))


@st.composite
def _guardian_of(draw: st.DrawFn) -> GuardianOf:
    return GuardianOf(id=draw(_ids), from_id=draw(_ids), to_id=draw(_ids), valid_from=draw(_times), source=draw(_names),
                      relationship=draw(st.sampled_from(GuardianRelationship)),
                      ferpa_rights=draw(st.sampled_from(FerpaRights)), lives_with=draw(st.none() | st.booleans()))


def _unique(records: list[Node | Edge]) -> list[Node | Edge]:
    seen: dict[str, Node | Edge] = {}
    for r in records:
        seen.setdefault(r.id, r)
    return list(seen.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    nodes=st.lists(st.one_of(_students, _consents, _providers), max_size=6),
    edges=st.lists(st.one_of(_serves(), _guardian_of()), max_size=6),
    fmt=st.sampled_from(["jsonl", "csv"]),
)
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, nodes: list[Node], edges: list[Edge],
                             fmt: bundle.Format) -> None:
    """What write_bundle writes, read gives back (ids unique; names kept; source set)."""
    nodes_u = _unique(list(nodes))
    edges_u = _unique(list(edges))
    out = tmp_path_factory.mktemp("rt")
    write_bundle(out, nodes_u, edges_u, fmt=fmt)  # type: ignore[arg-type]
    r = _read(out, include_names=True)
    assert r.problems == []
    assert sorted(r.nodes, key=lambda n: (str(n.kind), n.id)) == sorted(nodes_u, key=lambda n: (str(n.kind), n.id))
    assert sorted(r.edges, key=lambda e: (str(e.kind), e.id)) == sorted(edges_u, key=lambda e: (str(e.kind), e.id))
