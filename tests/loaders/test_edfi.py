"""loaders.edfi against the Ed-Fi Grand Bend sample (Data Standard 5.2) and hand-made interchanges.

The Grand Bend subset has no StudentEnrollment interchange (fixtures SOURCE.md), so
ATTENDS is tested with small StudentEnrollment files written here, using Grand Bend ids.
"""

from __future__ import annotations

import gc
import re
import tracemalloc
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as safe_et
import pytest

from graph.errors import LoadError
from graph.model import Edge, EdgeKind, FerpaRights, GuardianRelationship, Node, NodeKind
from graph.stores.memory import MemoryStore
from loaders import edfi
from loaders.base import LoadResult
from loaders.importer import import_result

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "edfi-grandbend"
SAMPLES = FIXTURE / "Samples" / "Sample XML"
GRAND_BEND = [SAMPLES / f"{n}.xml" for n in ("EducationOrganization", "Student", "Contact", "StaffAssociation", "StudentProgram")]
T0 = datetime(2021, 8, 1, tzinfo=UTC)
REC = datetime(2025, 1, 6, 9, tzinfo=UTC)
NS = "http://ed-fi.org/5.2.0"
RD = "uri://ed-fi.org/RelationDescriptor#"
GR = GuardianRelationship


def load(paths: list[Path], **kw: object) -> LoadResult:
    return edfi.read(paths, default_valid_from=T0, recorded_at=REC, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gb() -> LoadResult:
    return load(GRAND_BEND)


def nodes(r: LoadResult, kind: NodeKind) -> dict[str, Node]:
    return {n.id: n for n in r.nodes if n.kind == kind}


def edges(r: LoadResult, kind: EdgeKind) -> list[Edge]:
    return [e for e in r.edges if e.kind == kind]


def xml_count(path: Path, pattern: str) -> int:
    return len(re.findall(pattern, path.read_text(encoding="utf-8")))


def write(tmp_path: Path, name: str, root: str, body: str, *, ns: str = NS) -> Path:
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{ns}">\n{body}\n</{root}>\n', encoding="utf-8")
    return path


def student_xml(sid: str, birth: str = "2010-01-02", extra: str = "") -> str:
    return (f"<Student><StudentUniqueId>{sid}</StudentUniqueId><Name><FirstName>F{sid}</FirstName>"
            f"<LastSurname>L{sid}</LastSurname></Name><BirthData><BirthDate>{birth}</BirthDate></BirthData>{extra}</Student>")


def enrollment_xml(student: str, school: str, entry: str, exit_: str | None = None, *, school_ref: bool = False) -> str:
    school_part = (f'<SchoolReference ref="{school}"/>' if school_ref
                   else f"<SchoolReference><SchoolIdentity><SchoolId>{school}</SchoolId></SchoolIdentity></SchoolReference>")
    exit_part = f"<ExitWithdrawDate>{exit_}</ExitWithdrawDate>" if exit_ else ""
    return (f"<StudentSchoolAssociation><StudentReference><StudentIdentity><StudentUniqueId>{student}</StudentUniqueId>"
            f"</StudentIdentity></StudentReference>{school_part}<EntryDate>{entry}</EntryDate>"
            f"<EntryGradeLevel>uri://ed-fi.org/GradeLevelDescriptor#First grade</EntryGradeLevel>{exit_part}"
            "</StudentSchoolAssociation>")


def midnight(d: str) -> datetime:
    """Local 00:00 of the day in the partnership's default zone (Ed-Fi dates are local days)."""
    return datetime.fromisoformat(d).replace(tzinfo=ZoneInfo("America/Denver")).astimezone(UTC)


# ----------------------------------------------------------------------- Grand Bend


def test_grand_bend_loads_without_problems(gb: LoadResult) -> None:
    assert gb.problems == []
    assert gb.counts() == {
        "District": 1, "Partner": 3, "School": 3, "Program": 25, "Student": 960, "Guardian": 1873, "Provider": 68,
        "PART_OF": 3, "OFFERS": 25, "GUARDIAN_OF": 1872, "EMPLOYED_BY": 68,
    }


@pytest.mark.parametrize(
    ("kind", "file", "pattern"),
    [
        pytest.param(NodeKind.STUDENT, "Student.xml", r"\n\t<Student>", id="students"),
        pytest.param(NodeKind.SCHOOL, "EducationOrganization.xml", r"\n\t<School ", id="schools"),
        pytest.param(NodeKind.GUARDIAN, "Contact.xml", r"\n\t<Contact ", id="contacts"),
        pytest.param(NodeKind.PROVIDER, "StaffAssociation.xml", r"\n\t<Staff>", id="staff"),
    ],
)
def test_node_counts_match_the_xml(gb: LoadResult, kind: NodeKind, file: str, pattern: str) -> None:
    assert len(nodes(gb, kind)) == xml_count(SAMPLES / file, pattern)


def test_guardian_links_match_the_xml(gb: LoadResult) -> None:
    assert len(edges(gb, EdgeKind.GUARDIAN_OF)) == xml_count(SAMPLES / "Contact.xml", r"\n\t<StudentContactAssociation>") == 1872
    assert Counter(e.relationship for e in edges(gb, EdgeKind.GUARDIAN_OF)) == {  # type: ignore[attr-defined]
        GuardianRelationship.PARENT: 1870, GuardianRelationship.LEGAL_GUARDIAN: 2,
    }
    assert Counter(e.lives_with for e in edges(gb, EdgeKind.GUARDIAN_OF)) == {  # type: ignore[attr-defined]
        True: xml_count(SAMPLES / "Contact.xml", "<LivesWith>true<"), False: 192, None: 1,  # one association has no LivesWith
    }
    assert {e.ferpa_rights for e in edges(gb, EdgeKind.GUARDIAN_OF)} == {FerpaRights.UNVERIFIED}  # type: ignore[attr-defined]


def test_named_student_tyrone_dyer(gb: LoadResult) -> None:
    # Student.xml: 604821 Tyrone Dyer, born 2014-11-13; Contact.xml: mother 778393 (Carmen Dyer),
    # father 779017 (Manuel Dyer), both LivesWith true.
    s = nodes(gb, NodeKind.STUDENT)["604821"]
    assert s.birth_date == date(2014, 11, 13)  # type: ignore[attr-defined]
    assert s.name is None  # type: ignore[attr-defined]
    links = {e.from_id: e for e in edges(gb, EdgeKind.GUARDIAN_OF) if e.to_id == "604821"}
    assert set(links) == {"778393", "779017"}
    mother = links["778393"]
    assert mother.id == "guardian_of:778393:604821"
    assert (mother.relationship, mother.ferpa_rights, mother.lives_with) == (  # type: ignore[attr-defined]
        GuardianRelationship.PARENT, FerpaRights.UNVERIFIED, True,
    )
    assert (mother.valid_from, mother.valid_to, mother.recorded_at, mother.source) == (T0, None, REC, "edfi:Contact.xml")


def test_legal_guardian_flag_wins_over_relation(gb: LoadResult) -> None:
    # Contact.xml: 778453 (Bob Schwartz) is 604990's Father with <LegalGuardian>true.
    [link] = [e for e in edges(gb, EdgeKind.GUARDIAN_OF) if e.from_id == "778453"]
    assert (link.to_id, link.relationship) == ("604990", GuardianRelationship.LEGAL_GUARDIAN)  # type: ignore[attr-defined]


def test_names_only_when_asked() -> None:
    r = load([SAMPLES / "Student.xml", SAMPLES / "Contact.xml"], include_names=True)
    assert nodes(r, NodeKind.STUDENT)["604821"].name == "Tyrone Dyer"  # type: ignore[attr-defined]
    assert nodes(r, NodeKind.GUARDIAN)["778393"].name == "Carmen Dyer"  # type: ignore[attr-defined]


def test_contact_details_and_demographics_are_dropped(gb: LoadResult) -> None:
    held = repr(gb.nodes) + repr(gb.edges)
    for dropped in ("263 New Street", "(950) 342 7522", "BarryTanner@edfi.org", "Female", "American Indian", "Carmen", "57600"):
        assert dropped not in held


def test_education_organizations(gb: LoadResult) -> None:
    assert {(n.id, n.name) for n in nodes(gb, NodeKind.DISTRICT).values()} == {("255901", "Grand Bend ISD")}  # type: ignore[attr-defined]
    assert {(n.id, n.name) for n in nodes(gb, NodeKind.SCHOOL).values()} == {  # type: ignore[attr-defined]
        ("255901001", "Grand Bend High School"),
        ("255901044", "Grand Bend Middle School"),
        ("255901107", "Grand Bend Elementary School"),
    }
    assert {(n.id, n.name) for n in nodes(gb, NodeKind.PARTNER).values()} == {  # type: ignore[attr-defined]
        ("19", "Communities in Schools"),
        ("19255901", "Communities in Schools of Grand Bend"),
        ("partner:255901", "Grand Bend ISD"),
    }
    assert {(e.id, e.from_id, e.to_id) for e in edges(gb, EdgeKind.PART_OF)} == {
        (f"part_of:{s}:255901", s, "255901") for s in ("255901001", "255901044", "255901107")
    }


def test_node_ids_are_one_namespace(gb: LoadResult) -> None:
    ids = [n.id for n in gb.nodes]
    assert len(ids) == len(set(ids))
    assert len({e.id for e in gb.edges}) == len(gb.edges)


def test_staff_are_providers_employed_by_the_district_partner(gb: LoadResult) -> None:
    assert nodes(gb, NodeKind.PROVIDER)["207288"].name == "Barry Tanner"  # type: ignore[attr-defined]
    emp = {e.from_id: e for e in edges(gb, EdgeKind.EMPLOYED_BY)}
    assert set(emp) == set(nodes(gb, NodeKind.PROVIDER))
    assert {e.to_id for e in emp.values()} == {"partner:255901"}
    # 207219: employed at the elementary school 255901107 from 2018-02-09 -> the LEA's partner.
    e = emp["207219"]
    assert (e.id, e.valid_from, e.valid_to) == ("employed_by:207219:partner:255901:2018-02-09", midnight("2018-02-09"), None)


def test_programs_are_nodes_without_student_links(gb: LoadResult) -> None:
    programs = nodes(gb, NodeKind.PROGRAM)
    assert programs["program:255901:special-education"].name == "Special Education"  # type: ignore[attr-defined]
    assert "program:255901:english-as-a-second-language-esl" in programs
    assert "program:255901:section-504-placement" in programs  # named only by a StudentSection504ProgramAssociation
    assert not edges(gb, EdgeKind.SERVES)
    offers = {(e.from_id, e.to_id) for e in edges(gb, EdgeKind.OFFERS)}
    assert ("partner:255901", "program:255901001:homeless") in offers
    [w] = [w for w in gb.warnings if w.field == "StudentProgramAssociation"]
    assert w.file == "StudentProgram.xml" and w.message.startswith("706 ")


def test_unmapped_elements_are_warnings(gb: LoadResult) -> None:
    found = {(w.file, w.field): w.message for w in gb.warnings}
    assert found[("EducationOrganization.xml", "Course")].startswith("84 <Course>")
    assert found[("StaffAssociation.xml", "StaffSectionAssociation")].startswith("528 ")


def test_reload_is_identical(gb: LoadResult) -> None:
    again = load(GRAND_BEND)
    assert again.nodes == gb.nodes and again.edges == gb.edges


def test_origin_names_file_and_line(gb: LoadResult) -> None:
    assert gb.origin["604821"] == ("Student.xml", 3)
    assert gb.origin["guardian_of:778393:604821"][0] == "Contact.xml"


# ----------------------------------------------------------------------- relationships


@pytest.mark.parametrize(
    ("relation", "legal", "emergency", "expected"),
    [
        pytest.param(RD + "Mother", False, False, GR.PARENT, id="mother"),
        pytest.param(RD + "Father", False, True, GR.PARENT, id="father"),
        pytest.param("Parent", False, False, GR.PARENT, id="bare-code"),
        pytest.param(RD + "Father", True, False, GR.LEGAL_GUARDIAN, id="legal-flag"),
        pytest.param(RD + "Aunt", True, False, GR.LEGAL_GUARDIAN, id="aunt-legal"),
        pytest.param(RD + "CourtAppointedGuardian", False, False, GR.LEGAL_GUARDIAN, id="court-guardian"),
        pytest.param(RD + "Foster parent", False, False, GR.ACTING_AS_PARENT, id="foster"),
        pytest.param(RD + "Grandmother", False, False, GR.RELATIVE, id="grandmother"),
        pytest.param(RD + "Mother, step", False, False, GR.RELATIVE, id="step"),
        pytest.param(RD + "Neighbor", False, True, GR.EMERGENCY_CONTACT, id="neighbor-ec"),
        pytest.param(RD + "Neighbor", False, False, None, id="neighbor-only"),
        pytest.param("uri://gbisd.edu/RelationDescriptor#Nanny", False, True, GR.EMERGENCY_CONTACT, id="unknown-ec"),
        pytest.param(None, False, True, GR.EMERGENCY_CONTACT, id="no-relation-ec"),
        pytest.param(None, False, False, None, id="nothing"),
    ],
)
def test_relationship_for(relation: str | None, legal: bool, emergency: bool, expected: GuardianRelationship | None) -> None:
    assert edfi.relationship_for(relation, legal_guardian=legal, emergency_contact=emergency) == expected


def test_relation_table_covers_the_descriptor_file() -> None:
    tree = safe_et.parse(str(FIXTURE / "Descriptors" / "RelationDescriptor.xml"), forbid_dtd=True)
    codes = {e.text for e in tree.getroot().iter(f"{{{NS}}}CodeValue")}
    assert len(codes) == 50
    assert codes == set(edfi.RELATIONS)


def test_unmodelled_relation_is_a_warning_not_an_edge(tmp_path: Path) -> None:
    contacts = write(tmp_path, "Contact.xml", "InterchangeContact", """
    <Contact id="C1"><ContactUniqueId>900001</ContactUniqueId></Contact>
    <StudentContactAssociation>
      <StudentReference><StudentIdentity><StudentUniqueId>800001</StudentUniqueId></StudentIdentity></StudentReference>
      <ContactReference ref="C1"/>
      <Relation>uri://ed-fi.org/RelationDescriptor#Friend</Relation>
      <EmergencyContactStatus>false</EmergencyContactStatus>
    </StudentContactAssociation>""")
    students = write(tmp_path, "Student.xml", "InterchangeStudent", student_xml("800001"))
    r = load([contacts, students])
    assert r.problems == [] and not edges(r, EdgeKind.GUARDIAN_OF)
    [w] = [w for w in r.warnings if w.field == "Relation"]
    assert (w.file, w.line, w.path) == ("Contact.xml", 5, "/InterchangeContact/StudentContactAssociation[1]")


def test_parent_names_of_data_standard_4(tmp_path: Path) -> None:
    parents = write(tmp_path, "Parent.xml", "InterchangeParent", """
    <Parent id="PRNT_1"><ParentUniqueId>900002</ParentUniqueId>
      <Name><FirstName>Ana</FirstName><LastSurname>Ruiz</LastSurname></Name></Parent>
    <StudentParentAssociation>
      <StudentReference><StudentIdentity><StudentUniqueId>800002</StudentUniqueId></StudentIdentity></StudentReference>
      <ParentReference><ParentIdentity><ParentUniqueId>900002</ParentUniqueId></ParentIdentity></ParentReference>
      <Relation>uri://ed-fi.org/RelationDescriptor#Mother</Relation>
      <LivesWith>0</LivesWith>
    </StudentParentAssociation>""", ns="http://ed-fi.org/0400")
    students = write(tmp_path, "Student.xml", "InterchangeStudent", student_xml("800002"), ns="http://ed-fi.org/0400")
    r = load([parents, students], include_names=True)
    assert r.problems == []
    assert nodes(r, NodeKind.GUARDIAN)["900002"].name == "Ana Ruiz"  # type: ignore[attr-defined]
    [link] = edges(r, EdgeKind.GUARDIAN_OF)
    assert (link.id, link.relationship, link.lives_with) == (  # type: ignore[attr-defined]
        "guardian_of:900002:800002", GuardianRelationship.PARENT, False,
    )


# ----------------------------------------------------------------------- enrolment (ATTENDS)


def test_named_student_schools_from_an_enrollment_interchange(tmp_path: Path) -> None:
    # Tyrone Dyer (604821) at the elementary school, then moved to the middle school by
    # its XML id (SCOL_255901044, defined in EducationOrganization.xml).
    enrol = write(tmp_path, "StudentEnrollment.xml", "InterchangeStudentEnrollment",
                  enrollment_xml("604821", "255901107", "2021-08-23", "2022-01-10")
                  + enrollment_xml("604821", "SCOL_255901044", "2022-01-10", school_ref=True))
    r = load([enrol, *GRAND_BEND])  # enrolment first: references resolve in any file order
    assert r.problems == []
    attends = sorted((e for e in edges(r, EdgeKind.ATTENDS) if e.from_id == "604821"), key=lambda e: e.valid_from)
    assert [(e.id, e.to_id, e.valid_from, e.valid_to) for e in attends] == [
        ("attends:604821:255901107:2021-08-23", "255901107", midnight("2021-08-23"), midnight("2022-01-10")),
        ("attends:604821:255901044:2022-01-10", "255901044", midnight("2022-01-10"), None),
    ]
    assert attends[0].valid.contains(datetime(2022, 1, 9, 23, 59, tzinfo=UTC))
    assert not attends[0].valid.contains(midnight("2022-01-10"))
    assert attends[0].source == "edfi:StudentEnrollment.xml"


def test_enrollment_to_unknown_student_is_a_problem(tmp_path: Path) -> None:
    enrol = write(tmp_path, "StudentEnrollment.xml", "InterchangeStudentEnrollment",
                  enrollment_xml("604821", "255901107", "2021-08-23") + "\n"
                  + enrollment_xml("999999", "255901107", "2021-08-23"))
    r = load([enrol, SAMPLES / "Student.xml", SAMPLES / "EducationOrganization.xml"])
    assert r.problems == []  # not in the files: the store must hold it (an incremental file), resolved by the load
    [ref] = r.store_refs
    assert (ref.node_id, ref.file, ref.line, ref.field) == ("999999", "StudentEnrollment.xml", 4, "StudentReference")
    with pytest.raises(LoadError) as refused:
        import_result(MemoryStore(tmp_path / "s.db"), r)
    [p] = refused.value.problems
    assert (p.file, p.line, p.field) == ("StudentEnrollment.xml", 4, "StudentReference")
    assert p.message == "'999999' is not in the package nor in the store; expected a Student"


def test_unknown_references_are_warnings_when_not_strict(tmp_path: Path) -> None:
    enrol = write(tmp_path, "StudentEnrollment.xml", "InterchangeStudentEnrollment",
                  enrollment_xml("604863", "255901001", "2021-08-23"))
    r = load([enrol], strict_references=False)
    assert r.problems == []
    assert [e.id for e in edges(r, EdgeKind.ATTENDS)] == ["attends:604863:255901001:2021-08-23"]
    assert {w.field for w in r.warnings} == {"StudentReference", "SchoolReference"}


@pytest.mark.parametrize(
    ("entry", "exit_", "field"),
    [
        pytest.param("2021-13-45", None, "EntryDate", id="bad-entry"),
        pytest.param("08/23/2021", None, "EntryDate", id="us-format"),
        pytest.param("2021-08-23", "2021-02-30", "ExitWithdrawDate", id="bad-exit"),
        pytest.param("2021-08-23", "2021-08-01", "valid_to", id="exit-before-entry"),
    ],
)
def test_unparsable_or_inverted_dates_are_problems(tmp_path: Path, entry: str, exit_: str | None, field: str) -> None:
    enrol = write(tmp_path, "StudentEnrollment.xml", "InterchangeStudentEnrollment",
                  enrollment_xml("604821", "255901107", entry, exit_))
    r = load([enrol, SAMPLES / "Student.xml", SAMPLES / "EducationOrganization.xml"])
    assert len(r.problems) == 1 and not edges(r, EdgeKind.ATTENDS)
    p = r.problems[0]
    assert (p.file, p.line) == ("StudentEnrollment.xml", 3)
    assert p.field == field or (field == "valid_to" and "valid_to" in p.message)


# ----------------------------------------------------------------------- staff


def test_community_staff_and_fallbacks(tmp_path: Path) -> None:
    def staff(sid: str) -> str:
        return (f"<Staff><StaffUniqueId>{sid}</StaffUniqueId>"
                f"<Name><FirstName>S</FirstName><LastSurname>{sid}</LastSurname></Name></Staff>")

    def job(tag: str, sid: str, org: str, begin: str, end: str | None = None) -> str:
        end_part = f"<EndDate>{end}</EndDate>" if end else ""
        if tag == "Employment":
            dates = f"<EmploymentPeriod><HireDate>{begin}</HireDate>{end_part}</EmploymentPeriod>"
        else:
            dates = f"<BeginDate>{begin}</BeginDate>{end_part}"
        return (f"<StaffEducationOrganization{tag}Association><StaffReference><StaffIdentity><StaffUniqueId>{sid}"
                "</StaffUniqueId></StaffIdentity></StaffReference><EducationOrganizationReference><EducationOrganizationIdentity>"
                f"<EducationOrganizationId>{org}</EducationOrganizationId></EducationOrganizationIdentity>"
                f"</EducationOrganizationReference>{dates}</StaffEducationOrganization{tag}Association>")

    body = "".join([
        staff("300001"), job("Employment", "300001", "19255901", "2020-01-06", "2022-06-30"),   # community provider
        staff("300002"), job("Assignment", "300002", "255901044", "2021-08-01"),                # assignment only
        staff("300003"), job("Employment", "300003", "255901001", "2019-08-01"),                # two schools, one LEA
        job("Employment", "300003", "255901044", "2019-08-01", "2020-06-30"),
        job("Assignment", "300003", "255901001", "2019-08-01"),
        staff("300004"), job("Employment", "300004", "255950", "2019-08-01"),                   # education service center
        staff("300005"), job("Employment", "300005", "424242", "2019-08-01"),                   # unknown organisation
    ])
    path = write(tmp_path, "StaffAssociation.xml", "InterchangeStaffAssociation", body)
    r = load([SAMPLES / "EducationOrganization.xml", path])
    emp = {e.id: e for e in edges(r, EdgeKind.EMPLOYED_BY)}
    assert set(emp) == {
        "employed_by:300001:19255901:2020-01-06",
        "employed_by:300002:partner:255901:2021-08-01",
        "employed_by:300003:partner:255901:2019-08-01",
    }
    assert emp["employed_by:300001:19255901:2020-01-06"].valid_to == midnight("2022-06-30")
    assert emp["employed_by:300003:partner:255901:2019-08-01"].valid_to is None  # open job wins over the closed one
    assert [(p.field, "424242" in p.message) for p in r.problems] == [("EducationOrganizationReference", True)]
    assert any("EducationServiceCenter '255950'" in w.message for w in r.warnings)


# ----------------------------------------------------------------------- identity


def test_duplicate_and_colliding_ids_are_problems(tmp_path: Path) -> None:
    students = write(tmp_path, "Student.xml", "InterchangeStudent", student_xml("800003") + "\n" + student_xml("800003"))
    contacts = write(tmp_path, "Contact.xml", "InterchangeContact",
                     "<Contact><ContactUniqueId>800003</ContactUniqueId></Contact>")
    r = load([students, contacts])
    assert [(p.file, p.line, p.field) for p in r.problems] == [
        ("Student.xml", 4, "StudentUniqueId"), ("Contact.xml", 3, "ContactUniqueId"),
    ]
    assert "defined twice" in r.problems[0].message and "already a Student" in r.problems[1].message
    assert [n.id for n in r.nodes] == ["800003"]


def test_missing_key_and_bad_birth_date(tmp_path: Path) -> None:
    body = "\n".join(["<Student><Name><FirstName>X</FirstName></Name></Student>",
                      student_xml("800004", birth="2010-02-30"), student_xml("800005")])
    r = load([write(tmp_path, "Student.xml", "InterchangeStudent", body)])
    assert [(p.line, p.field) for p in r.problems] == [(3, "StudentUniqueId"), (4, "BirthDate")]
    assert [n.id for n in r.nodes] == ["800005"]


# ----------------------------------------------------------------------- hostile and broken files


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<InterchangeStudent xmlns="http://ed-fi.org/5.2.0">
  <Student><StudentUniqueId>&lol9;</StudentUniqueId></Student>
</InterchangeStudent>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE InterchangeStudent [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<InterchangeStudent xmlns="http://ed-fi.org/5.2.0">
  <Student><StudentUniqueId>800006</StudentUniqueId><Name><FirstName>&xxe;</FirstName></Name></Student>
</InterchangeStudent>
"""


@pytest.mark.parametrize("text", [pytest.param(BILLION_LAUGHS, id="billion-laughs"), pytest.param(XXE, id="external-entity")])
def test_entity_attacks_are_refused_not_expanded(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Student.xml"
    path.write_text(text, encoding="utf-8")
    r = load([path], include_names=True)  # an expanded bomb would exhaust memory long before this returns
    [p] = r.problems
    assert (p.file, p.line, p.path) == ("Student.xml", 2, "/")
    assert "DTDForbidden" in p.message and "not read" in p.message
    assert r.nodes == [] and r.edges == []
    assert "root:" not in repr(r) and "lollol" not in repr(r)


def test_truncated_file_is_a_problem_with_its_line(tmp_path: Path) -> None:
    data = (SAMPLES / "Student.xml").read_bytes()
    cut = data[: len(data) // 2]
    path = tmp_path / "Student.xml"
    path.write_bytes(cut)
    r = load([path])
    [p] = r.problems
    assert p.file == "Student.xml"
    assert p.line == cut.count(b"\n") + 1
    assert "not well-formed" in p.message and p.path is not None and p.path.startswith("/InterchangeStudent")
    complete = cut.count(b"</Student>")
    assert len(r.nodes) == complete > 400  # the records before the cut are still read


def test_latin1_bytes_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "Student.xml"
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<InterchangeStudent xmlns="{NS}">\n{student_xml("800007")}\n'
    text += "<Student><StudentUniqueId>800008</StudentUniqueId><Name><FirstName>José</FirstName></Name></Student>\n"
    text += "</InterchangeStudent>\n"
    path.write_bytes(text.encode("latin-1"))
    r = load([path])
    [p] = r.problems
    assert (p.file, p.line) == ("Student.xml", 4) and "not well-formed" in p.message
    assert [n.id for n in r.nodes] == ["800007"]


def test_bom_and_crlf_load_fine(tmp_path: Path) -> None:
    path = tmp_path / "Student.xml"
    path.write_bytes(b"\xef\xbb\xbf" + (SAMPLES / "Student.xml").read_bytes().replace(b"\n", b"\r\n"))
    r = load([path])
    assert r.problems == [] and len(nodes(r, NodeKind.STUDENT)) == 960
    assert r.origin["604821"] == ("Student.xml", 3)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        pytest.param(None, None, "cannot read", id="missing-file"),
        pytest.param('<?xml version="1.0"?>\n<html><body/></html>\n', 1, "not an Ed-Fi interchange", id="not-an-interchange"),
        pytest.param("", 1, "not well-formed", id="empty-file"),
    ],
)
def test_whole_file_problems(tmp_path: Path, content: str | None, line: int | None, message: str) -> None:
    path = tmp_path / "Student.xml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    r = load([path])
    [p] = r.problems
    assert (p.file, p.line) == ("Student.xml", line) and message in p.message


# ----------------------------------------------------------------------- streaming


@pytest.mark.slow
def test_large_interchange_streams_in_bounded_memory(tmp_path: Path) -> None:
    # ~50 MB of Student records, most of each record being what the loader drops.
    padding = ("<PersonalIdentificationDocument><PersonalInformationVerification>uri://ed-fi.org/PersonalInformation"
               "VerificationDescriptor#State-issued ID</PersonalInformationVerification><IdentificationDocumentUse>"
               "uri://ed-fi.org/IdentificationDocumentUseDescriptor#Personal Information Verification"
               "</IdentificationDocumentUse><DocumentTitle>" + "x" * 300 + "</DocumentTitle></PersonalIdentificationDocument>")
    record = student_xml("{sid}", extra=padding * 3)
    path = tmp_path / "Student.xml"
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<InterchangeStudent xmlns="{NS}">\n')
        while f.tell() < 50_000_000:
            f.write(record.replace("{sid}", str(1_000_000 + n)) + "\n")
            n += 1
        f.write("</InterchangeStudent>\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        r = load([path])
        gc.collect()  # the parser's reference cycles are garbage, not records kept
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.problems == [] and len(r.nodes) == n
    assert peak - kept < 20_000_000  # parsing overhead above the records kept
    assert peak < size // 4  # measured: ~8 MB peak for 50 MB, ~7 MB of it the 22k Student nodes kept


# ---------------------------------------------------------------------------- ODS/API JSON resources

ODS_API = FIXTURE.parent / "edfi-odsapi-json"


def _canonical(r: LoadResult) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Nodes and edges as dicts, without `source` (it names the file read)."""
    from graph.model import record_to_dict

    nodes = sorted((record_to_dict(n) for n in r.nodes), key=lambda d: str(d["id"]))
    edges = sorted(({k: v for k, v in record_to_dict(e).items() if k != "source"} for e in r.edges), key=lambda d: str(d["id"]))
    return nodes, edges


@pytest.mark.parametrize("names", [False, True], ids=["no-names", "with-names"])
def test_ods_api_json_gives_the_same_records_as_the_xml_interchange(names: bool) -> None:
    json_form = load([ODS_API], include_names=names)
    xml_form = load([ODS_API / "xml-equivalent"], include_names=names)
    assert json_form.ok and xml_form.ok, (json_form.problems, xml_form.problems)
    assert _canonical(json_form) == _canonical(xml_form)
    assert json_form.counts() == {"ATTENDS": 2, "District": 1, "GUARDIAN_OF": 2, "Guardian": 2, "PART_OF": 1, "Partner": 1,
                                  "School": 1, "Student": 2}  # fmt: skip
    assert json_form.rows_read == 10  # students come in two pages


def test_ods_api_pages_not_named_after_their_resource_are_told_by_their_keys(tmp_path: Path) -> None:
    for f in ODS_API.glob("*.json"):
        (tmp_path / f"page-{f.stem}.json").write_bytes(f.read_bytes())
    assert _canonical(load([tmp_path])) == _canonical(load([ODS_API]))


def test_ods_api_data_standard_4_parents(tmp_path: Path) -> None:
    for f in ("localEducationAgencies", "schools", "students-1"):
        (tmp_path / f"{f}.json").write_bytes((ODS_API / f"{f}.json").read_bytes())
    (tmp_path / "parents.json").write_text('[{"id": "p1", "parentUniqueId": "778393", "firstName": "Carmen"}]', encoding="utf-8")
    (tmp_path / "studentParentAssociations.json").write_text(
        '[{"parentReference": {"parentUniqueId": "778393"}, "studentReference": {"studentUniqueId": "604821"},'
        ' "relationDescriptor": "uri://ed-fi.org/RelationDescriptor#Father", "emergencyContactStatus": true}]',
        encoding="utf-8",
    )
    r = load([tmp_path])
    assert r.ok, r.problems
    links = [(e.from_id, e.to_id, e.relationship) for e in r.edges if e.kind == EdgeKind.GUARDIAN_OF]  # type: ignore[attr-defined]
    assert links == [("778393", "604821", GR.PARENT)]


def test_ods_api_a_record_on_two_pages_and_a_truncated_page_are_problems(tmp_path: Path) -> None:
    (tmp_path / "students-1.json").write_bytes((ODS_API / "students-1.json").read_bytes())
    (tmp_path / "students-2.json").write_bytes((ODS_API / "students-1.json").read_bytes())
    (tmp_path / "students-3.json").write_text('[\n  {"studentUniqueId": "1",\n', encoding="utf-8")
    r = load([tmp_path])
    assert [(p.file, p.line, p.field) for p in r.problems] == [("students-2.json", None, "StudentUniqueId"), ("students-3.json", 3, None)]
    assert "defined twice" in r.problems[0].message and r.problems[0].path == "/0"
