"""Ed-Fi XML interchanges (Data Standard 5.x; 4.x ``Parent`` names accepted) -> canonical records.

ODS/API JSON resources (``students``, ``studentSchoolAssociations``, ... one file per page)
are read too: `loaders.edfi_json` rewrites each into the interchange record it stands for.

What is read (docs/loaders/edfi.md has the full table):

* EducationOrganization: ``LocalEducationAgency`` -> District ``<LEA id>`` plus Partner
  ``partner:<LEA id>``; ``School`` -> School ``<SchoolId>`` with PART_OF School->District;
  ``CommunityOrganization`` / ``CommunityProvider`` -> Partner ``<EducationOrganizationId>``;
  ``Program`` -> Program ``program:<EdOrgId>:<slug of ProgramName>`` with OFFERS from the
  owning partner.
* Student: ``Student`` -> Student ``<StudentUniqueId>`` (BirthDate; names only on request).
* StudentEnrollment: ``StudentSchoolAssociation`` -> ATTENDS ``[EntryDate, ExitWithdrawDate)``.
* Contact (5.x) / Parent (4.x): ``Contact``/``Parent`` -> Guardian ``<ContactUniqueId>``;
  ``StudentContactAssociation``/``StudentParentAssociation`` -> GUARDIAN_OF (``unverified``).
* StaffAssociation: ``Staff`` -> Provider ``<StaffUniqueId>``; employment (or, failing
  that, assignment) associations -> EMPLOYED_BY the employer's partner.
* StudentProgram: every ``Student*ProgramAssociation`` -> its Program node only (no
  edge: a program enrolment is not a provider's service relationship).

Everything else is counted and reported as one warning per element name and file.

Safety: files are parsed with ``defusedxml.ElementTree.iterparse`` with DTDs, entities
and external references forbidden, so a billion-laughs bomb or an XXE payload stops the
file with a Problem before any expansion. Each top-level record is processed at its end
tag and then removed from the tree, so memory grows with the records kept, not with
the file.

Reading is two passes over what was parsed, not over the files: pass one streams each
file and keeps nodes plus small pending references; pass two resolves the references
(``ref=`` attributes and identities, in any file order) and emits edges.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from graph.errors import Problem
from graph.model import EdgeKind, FerpaRights, GuardianRelationship, NodeKind
from graph.timeutil import DEFAULT_TIME_ZONE, LocalDates, ensure_aware
from loaders import edfi_json
from loaders.base import (
    LoadResult,
    MissingStarts,
    StoreRef,
    edge_or_problem,
    files_found,
    node_or_problem,
    warn_students_without_guardians,
)

__all__ = ["RELATIONS", "edfi_date", "program_id", "read", "relationship_for"]

_R = GuardianRelationship

RELATIONS: Final[dict[str, GuardianRelationship | None]] = {
    # Natural parents: 34 CFR 99.3 "parent".
    "Mother": _R.PARENT,
    "Father": _R.PARENT,
    "Parent": _R.PARENT,
    # Guardians named as such.
    "Guardian": _R.LEGAL_GUARDIAN,
    "CourtAppointedGuardian": _R.LEGAL_GUARDIAN,
    # A foster parent acts as a parent in the parent's absence (99.3).
    "Foster parent": _R.ACTING_AS_PARENT,
    # Step-parents and other kin: acting as a parent cannot be read from a roster, so
    # they are relatives until a person verifies more.
    "Father, step": _R.RELATIVE,
    "Mother, step": _R.RELATIVE,
    "Parent, step": _R.RELATIVE,
    "FathersCivilPartner": _R.RELATIVE,
    "MothersCivilPartner": _R.RELATIVE,
    "Aunt": _R.RELATIVE,
    "Uncle": _R.RELATIVE,
    "Great aunt": _R.RELATIVE,
    "Great uncle": _R.RELATIVE,
    "Grandfather": _R.RELATIVE,
    "Grandmother": _R.RELATIVE,
    "Grandparent": _R.RELATIVE,
    "Great Grandparent": _R.RELATIVE,
    "Brother": _R.RELATIVE,
    "Sister": _R.RELATIVE,
    "Sibling": _R.RELATIVE,
    "BrotherInLaw": _R.RELATIVE,
    "SisterInLaw": _R.RELATIVE,
    "FatherInLaw": _R.RELATIVE,
    "MotherInLaw": _R.RELATIVE,
    "Cousin": _R.RELATIVE,
    "Nephew": _R.RELATIVE,
    "Niece": _R.RELATIVE,
    "Son": _R.RELATIVE,
    "Daughter": _R.RELATIVE,
    "SonInLaw": _R.RELATIVE,
    "DaughterInLaw": _R.RELATIVE,
    "Husband": _R.RELATIVE,
    "Wife": _R.RELATIVE,
    "Spouse": _R.RELATIVE,
    "Relative": _R.RELATIVE,
    # Not kin: only an emergency contact, and only when EmergencyContactStatus says so.
    "Emergency": _R.EMERGENCY_CONTACT,
    "Employer": None,
    "Fiance": None,
    "Fiancee": None,
    "Friend": None,
    "Godparent": None,
    "Neighbor": None,
    "SignificantOther": None,
    "FathersSignificantOther": None,
    "MothersSignificantOther": None,
    "Ward": None,
    "Other": None,
    "Unknown": None,
}
"""RelationDescriptor CodeValue -> relationship; None: no relationship unless an emergency contact.

Keys are the Ed-Fi 5.2 RelationDescriptor code values (tests check the table covers
Descriptors/RelationDescriptor.xml); codes in other namespaces match by code value.
"""

# Top-level record names that are read; every other one is counted as unmapped.
_PROGRAM_ASSOC: Final = re.compile(r"^Student\w*ProgramAssociation$")
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LEA_KINDS: Final = frozenset({"LocalEducationAgency"})
_PARTNER_KINDS: Final = frozenset({"CommunityOrganization", "CommunityProvider"})
_BOOL: Final = {"true": True, "1": True, "false": False, "0": False}


# ----------------------------------------------------------------------- helpers


def edfi_date(text: str) -> date:
    """An ``xs:date`` (``YYYY-MM-DD``) as a calendar date.

    Raises
    ------
    ValueError
        The text is not a valid ``YYYY-MM-DD`` date.
    """
    value = text.strip()
    if not _DATE.match(value):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    return date.fromisoformat(value)


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def program_id(edorg_id: str, program_name: str) -> str:
    """Node id of an Ed-Fi Program: ``program:<EducationOrganizationId>:<slug of ProgramName>``.

    The slug is lowercase ASCII, runs of other characters become ``-``
    (``"English as a Second Language (ESL)"`` -> ``english-as-a-second-language-esl``).

    Raises
    ------
    ValueError
        The name has no letters or digits.
    """
    s = _slug(program_name)
    if not s:
        raise ValueError(f"ProgramName {program_name!r} has no letters or digits")
    return f"program:{edorg_id}:{s}"


def relationship_for(relation: str | None, *, legal_guardian: bool, emergency_contact: bool) -> GuardianRelationship | None:
    """GUARDIAN_OF.relationship for one StudentContactAssociation.

    Parameters
    ----------
    relation : str | None
        The ``Relation`` descriptor (``uri://ed-fi.org/RelationDescriptor#Mother``) or its
        code value; None when absent.
    legal_guardian : bool
        ``LegalGuardian`` is true: wins over the relation (it names the authority).
    emergency_contact : bool
        ``EmergencyContactStatus`` is true: the fallback when nothing else applies.

    Returns
    -------
    GuardianRelationship | None
        None when the association names no relationship the engine models.
    """
    if legal_guardian:
        return _R.LEGAL_GUARDIAN
    mapped = RELATIONS.get(_code(relation)) if relation else None
    if mapped is not None:
        return mapped
    return _R.EMERGENCY_CONTACT if emergency_contact else None


def _code(descriptor: str) -> str:
    """Code value of a descriptor URI (``uri://ed-fi.org/RelationDescriptor#Mother`` -> ``Mother``)."""
    return descriptor.rsplit("#", 1)[-1].strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: Element | None, *names: str) -> Element | None:
    """The first descendant along `names` (local names, one per level)."""
    for name in names:
        if elem is None:
            return None
        elem = next((c for c in elem if _local(c.tag) == name), None)
    return elem


def _text(elem: Element | None, *names: str) -> str | None:
    found = _child(elem, *names)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _full_name(rec: Element) -> str | None:
    name = _child(rec, "Name")
    parts = [_text(name, "FirstName"), _text(name, "LastSurname")]
    joined = " ".join(p for p in parts if p)
    return joined or None


# ----------------------------------------------------------------------- streaming


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a record is: file name, line of its start tag, element path."""

    file: str
    line: int | None
    path: str

    def problem(self, field_name: str | None, message: str) -> Problem:
        return Problem(self.file, self.line, field_name, message, self.path)


class _Builder(TreeBuilder):
    """A TreeBuilder that notes the line of each record's start tag and the open path."""

    def __init__(self) -> None:
        super().__init__()
        self.expat: Any = None
        self.stack: list[str] = []
        self.lines: dict[int, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        elem: Element = super().start(tag, attrs)
        self.stack.append(_local(tag))
        if len(self.stack) == 2 and self.expat is not None:
            self.lines[id(elem)] = self.expat.CurrentLineNumber
        return elem

    def end(self, tag: str) -> Element:
        self.stack.pop()
        elem: Element = super().end(tag)
        return elem

    def path(self) -> str:
        return "/" + "/".join(self.stack)


def _records(path: Path, result: LoadResult) -> Iterator[tuple[Element, _Where]]:
    """Yield each top-level record of an interchange with where it is; errors become Problems.

    A record is yielded at its end tag and removed from the tree afterwards, so the
    file is never held whole.
    """
    name = path.name
    builder = _Builder()
    parser = safe_et.DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.expat = parser.parser
    counts: Counter[str] = Counter()
    root: Element | None = None
    depth = 0
    try:
        events = safe_et.iterparse(
            str(path), events=("start", "end"), parser=parser, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        for event, elem in events:
            if event == "start":
                depth += 1
                if depth == 1:
                    root = elem
                    if not _local(elem.tag).startswith("Interchange"):
                        result.problems.append(
                            Problem(name, 1, None, f"not an Ed-Fi interchange: root element is <{_local(elem.tag)}>", "/")
                        )
                        return
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue
            tag = _local(elem.tag)
            counts[tag] += 1
            where = _Where(name, builder.lines.pop(id(elem), None), f"/{_local(root.tag)}/{tag}[{counts[tag]}]")
            result.rows_read += 1
            yield elem, where
            # Free the record: the tree must not grow with the file.
            elem.clear()
            root.remove(elem)
    except OSError as err:
        result.problems.append(Problem(name, None, None, f"cannot read the file: {err.strerror or err}"))
    except ParseError as err:
        line: int | None = err.position[0] if err.position else None
        message = f"XML is not well-formed (truncated or wrong encoding?): {err}"
        result.problems.append(Problem(name, line, None, message, builder.path()))
    except DefusedXmlException as err:
        line = builder.expat.CurrentLineNumber if builder.expat is not None else None
        result.problems.append(
            Problem(
                name, line, None,
                f"refused {type(err).__name__} ({err}): Ed-Fi interchanges need no DTD or entities, and these are how "
                "entity-expansion (billion laughs) and external-entity (XXE) attacks enter; the rest of the file was not read",
                builder.path(),
            )
        )


# ----------------------------------------------------------------------- references


@dataclass(frozen=True, slots=True)
class _Ref:
    """A reference as written: an XML ``ref`` to another element's ``id``, or an identity key."""

    xml_ref: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        return f"ref={self.xml_ref!r}" if self.xml_ref is not None else repr(self.key)


def _reference(rec: Element, ref_tag: str, identity: str, key: str) -> _Ref | None:
    """``<XReference ref="..."/>`` or ``<XReference><XIdentity><key>``; None when the element is absent."""
    elem = _child(rec, ref_tag)
    if elem is None:
        return None
    xml_ref = elem.get("ref")
    if xml_ref:
        return _Ref(xml_ref=xml_ref)
    return _Ref(key=_text(elem, identity, key))


def _edorg_reference(elem: Element | None, ref_tag: str = "EducationOrganizationReference") -> _Ref | None:
    if elem is None:
        return None
    return _reference(elem, ref_tag, "EducationOrganizationIdentity", "EducationOrganizationId")


@dataclass(frozen=True, slots=True)
class _EdOrg:
    kind: str
    name: str
    parent: _Ref | None  # School: its LEA; OrganizationDepartment: its parent; CommunityProvider: its organisation


@dataclass(frozen=True, slots=True)
class _Attends:
    student: _Ref | None
    school: _Ref | None
    entry: str | None
    exit: str | None
    where: _Where


@dataclass(frozen=True, slots=True)
class _GuardianLink:
    student: _Ref | None
    contact: _Ref | None
    contact_field: str  # ContactReference (5.x) or ParentReference (4.x)
    relation: str | None
    legal_guardian: str | None
    emergency: str | None
    lives_with: str | None
    where: _Where


@dataclass(frozen=True, slots=True)
class _Employment:
    staff: _Ref | None
    edorg: _Ref | None
    begin: str | None
    end: str | None
    begin_field: str
    assignment: bool
    where: _Where


@dataclass(frozen=True, slots=True)
class _ProgramRef:
    edorg: _Ref | None
    name: str | None
    where: _Where
    defined: bool  # a Program element (True) or a reference from an association


# ----------------------------------------------------------------------- the reader


@dataclass
class _Reader:
    default_valid_from: datetime | None
    recorded_at: datetime | None
    source: str
    include_names: bool
    strict_references: bool
    starts: MissingStarts
    dates: LocalDates = field(default_factory=LocalDates)
    inclusive_exit: bool = False
    result: LoadResult = field(default_factory=LoadResult)
    xml_ids: dict[str, str] = field(default_factory=dict)
    program_xml_ids: dict[str, tuple[_Ref | None, str | None]] = field(default_factory=dict)
    ids: dict[str, NodeKind] = field(default_factory=dict)  # where each was read: result.origin
    edorgs: dict[str, _EdOrg] = field(default_factory=dict)
    part_of: list[tuple[str, _Ref, _Where]] = field(default_factory=list)
    attends: list[_Attends] = field(default_factory=list)
    guardian_links: list[_GuardianLink] = field(default_factory=list)
    employments: list[_Employment] = field(default_factory=list)
    programs: list[_ProgramRef] = field(default_factory=list)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    program_assocs: Counter[str] = field(default_factory=Counter)

    # -- pass one: records -> nodes and pending references

    def read_file(self, path: Path) -> None:
        handlers: dict[str, Callable[[Element, _Where], None]] = {
            "LocalEducationAgency": self._lea,
            "School": self._school,
            "CommunityOrganization": self._community_org,
            "CommunityProvider": self._community_org,
            "OrganizationDepartment": self._edorg_other,
            "EducationServiceCenter": self._edorg_other,
            "StateEducationAgency": self._edorg_other,
            "PostSecondaryInstitution": self._edorg_other,
            "Program": self._program,
            "Student": self._student,
            "Contact": self._contact,
            "Parent": self._contact,
            "StudentContactAssociation": self._guardian_link,
            "StudentParentAssociation": self._guardian_link,
            "StudentSchoolAssociation": self._attends,
            "Staff": self._staff,
            "StaffEducationOrganizationEmploymentAssociation": self._employment,
            "StaffEducationOrganizationAssignmentAssociation": self._employment,
        }
        for rec, where in self._records(path):
            tag = _local(rec.tag)
            handler = handlers.get(tag)
            if handler is not None:
                handler(rec, where)
            elif _PROGRAM_ASSOC.match(tag):
                self._program_assoc(rec, where)
            else:
                self.unmapped[(where.file, tag)] += 1

    def _records(self, path: Path) -> Iterator[tuple[Element, _Where]]:
        """An interchange's records, or an ODS/API JSON page's resources as the same records."""
        if path.suffix.lower() != ".json":
            yield from _records(path, self.result)
            return
        for rec, file, pointer in edfi_json.records(path, self.result):
            yield rec, _Where(file, None, pointer or "/")

    def _claim(self, node_id: str | None, kind: NodeKind, where: _Where, key_field: str) -> bool:
        """Reserve `node_id` for `kind`; a duplicate or a cross-kind collision is a Problem."""
        if node_id is None:
            self.result.problems.append(where.problem(key_field, f"{key_field} is missing"))
            return False
        other_kind = self.ids.get(node_id)
        if other_kind is None:
            self.ids[node_id] = kind
            return True
        file, line = self.result.origin.get(node_id, ("an earlier record", None))
        at = f"{file}:{line}" if line is not None else file
        if other_kind == kind:
            self.result.problems.append(where.problem(key_field, f"{kind} {node_id!r} is defined twice (first at {at})"))
        else:
            self.result.problems.append(
                where.problem(
                    key_field,
                    f"id {node_id!r} is already a {other_kind} (at {at}); node ids are one namespace (docs/identity.md, Ed-Fi)",
                )
            )
        return False

    def _register_xml_id(self, rec: Element, key: str) -> None:
        xml_id = rec.get("id")
        if xml_id:
            self.xml_ids[xml_id] = key

    def _node(self, kind: NodeKind, data: dict[str, Any], where: _Where) -> None:
        if node_or_problem(self.result, kind, data, where.file, where.line, where.path) is not None:
            self.result.origin[data["id"]] = (where.file, where.line)

    def _lea(self, rec: Element, where: _Where) -> None:
        lea_id = _text(rec, "LocalEducationAgencyId")
        if not self._claim(lea_id, NodeKind.DISTRICT, where, "LocalEducationAgencyId"):
            return
        assert lea_id is not None
        name = _text(rec, "NameOfInstitution") or ""
        self._register_xml_id(rec, lea_id)
        self.edorgs[lea_id] = _EdOrg("LocalEducationAgency", name, None)
        self._node(NodeKind.DISTRICT, {"id": lea_id, "name": name}, where)
        partner = f"partner:{lea_id}"
        if self._claim(partner, NodeKind.PARTNER, where, "LocalEducationAgencyId"):
            self._node(NodeKind.PARTNER, {"id": partner, "name": name}, where)

    def _school(self, rec: Element, where: _Where) -> None:
        school_id = _text(rec, "SchoolId")
        if not self._claim(school_id, NodeKind.SCHOOL, where, "SchoolId"):
            return
        assert school_id is not None
        name = _text(rec, "NameOfInstitution") or ""
        lea = _reference(rec, "LocalEducationAgencyReference", "LocalEducationAgencyIdentity", "LocalEducationAgencyId")
        self._register_xml_id(rec, school_id)
        self.edorgs[school_id] = _EdOrg("School", name, lea)
        self._node(NodeKind.SCHOOL, {"id": school_id, "name": name}, where)
        if lea is not None:
            self.part_of.append((school_id, lea, where))

    def _community_org(self, rec: Element, where: _Where) -> None:
        tag = _local(rec.tag)
        key_field = f"{tag}Id"
        org_id = _text(rec, key_field)
        if not self._claim(org_id, NodeKind.PARTNER, where, key_field):
            return
        assert org_id is not None
        name = _text(rec, "NameOfInstitution") or ""
        self._register_xml_id(rec, org_id)
        parent = _reference(rec, "CommunityOrganizationReference", "CommunityOrganizationIdentity", "CommunityOrganizationId")
        self.edorgs[org_id] = _EdOrg(tag, name, parent)
        self._node(NodeKind.PARTNER, {"id": org_id, "name": name}, where)

    def _edorg_other(self, rec: Element, where: _Where) -> None:
        # Not a node: remembered only so staff and programs at it can be resolved.
        tag = _local(rec.tag)
        org_id = _text(rec, f"{tag}Id")
        if org_id is None:
            self.result.problems.append(where.problem(f"{tag}Id", f"{tag}Id is missing"))
            return
        self._register_xml_id(rec, org_id)
        parent = _edorg_reference(rec, "ParentEducationOrganizationReference")
        self.edorgs[org_id] = _EdOrg(tag, _text(rec, "NameOfInstitution") or "", parent)
        self.unmapped[(where.file, tag)] += 1

    def _program(self, rec: Element, where: _Where) -> None:
        edorg = _edorg_reference(rec)
        name = _text(rec, "ProgramName")
        xml_id = rec.get("id")
        if xml_id:
            self.program_xml_ids[xml_id] = (edorg, name)
        self.programs.append(_ProgramRef(edorg, name, where, defined=True))

    def _program_assoc(self, rec: Element, where: _Where) -> None:
        self.program_assocs[where.file] += 1
        ref = _child(rec, "ProgramReference")
        if ref is None:
            self.result.problems.append(where.problem("ProgramReference", "ProgramReference is missing"))
            return
        xml_ref = ref.get("ref")
        if xml_ref:
            if xml_ref not in self.program_xml_ids:
                self.result.problems.append(where.problem("ProgramReference", f"ref={xml_ref!r} names no Program in these files"))
                return
            edorg, name = self.program_xml_ids[xml_ref]
        else:
            edorg = _edorg_reference(_child(ref, "ProgramIdentity"))
            name = _text(ref, "ProgramIdentity", "ProgramName")
        self.programs.append(_ProgramRef(edorg, name, where, defined=False))

    def _student(self, rec: Element, where: _Where) -> None:
        student_id = _text(rec, "StudentUniqueId")
        if not self._claim(student_id, NodeKind.STUDENT, where, "StudentUniqueId"):
            return
        assert student_id is not None
        self._register_xml_id(rec, student_id)
        data: dict[str, Any] = {"id": student_id}
        # 5.x nests BirthDate in BirthData; older standards put it on Student.
        birth = _text(rec, "BirthData", "BirthDate") or _text(rec, "BirthDate")
        if birth is not None:
            try:
                data["birth_date"] = edfi_date(birth)
            except ValueError as err:
                self.result.problems.append(where.problem("BirthDate", str(err)))
                return
        if self.include_names:
            data["name"] = _full_name(rec)
        self._node(NodeKind.STUDENT, data, where)

    def _contact(self, rec: Element, where: _Where) -> None:
        key_field = f"{_local(rec.tag)}UniqueId"  # ContactUniqueId (5.x) / ParentUniqueId (4.x)
        contact_id = _text(rec, key_field)
        if not self._claim(contact_id, NodeKind.GUARDIAN, where, key_field):
            return
        assert contact_id is not None
        self._register_xml_id(rec, contact_id)
        data: dict[str, Any] = {"id": contact_id}
        if self.include_names:
            data["name"] = _full_name(rec)
        self._node(NodeKind.GUARDIAN, data, where)

    def _guardian_link(self, rec: Element, where: _Where) -> None:
        # 5.x ContactReference; 4.x ParentReference (ParentIdentity/ParentUniqueId).
        contact_field = "ParentReference" if _local(rec.tag) == "StudentParentAssociation" else "ContactReference"
        person = contact_field.removesuffix("Reference")
        self.guardian_links.append(
            _GuardianLink(
                student=_reference(rec, "StudentReference", "StudentIdentity", "StudentUniqueId"),
                contact=_reference(rec, contact_field, f"{person}Identity", f"{person}UniqueId"),
                contact_field=contact_field,
                relation=_text(rec, "Relation"),
                legal_guardian=_text(rec, "LegalGuardian"),
                emergency=_text(rec, "EmergencyContactStatus"),
                lives_with=_text(rec, "LivesWith"),
                where=where,
            )
        )

    def _attends(self, rec: Element, where: _Where) -> None:
        self.attends.append(
            _Attends(
                student=_reference(rec, "StudentReference", "StudentIdentity", "StudentUniqueId"),
                school=_reference(rec, "SchoolReference", "SchoolIdentity", "SchoolId"),
                entry=_text(rec, "EntryDate"),
                exit=_text(rec, "ExitWithdrawDate"),
                where=where,
            )
        )

    def _staff(self, rec: Element, where: _Where) -> None:
        staff_id = _text(rec, "StaffUniqueId")
        if not self._claim(staff_id, NodeKind.PROVIDER, where, "StaffUniqueId"):
            return
        assert staff_id is not None
        self._register_xml_id(rec, staff_id)
        self._node(NodeKind.PROVIDER, {"id": staff_id, "name": _full_name(rec) or ""}, where)

    def _employment(self, rec: Element, where: _Where) -> None:
        assignment = _local(rec.tag) == "StaffEducationOrganizationAssignmentAssociation"
        if assignment:
            begin, end, begin_field = _text(rec, "BeginDate"), _text(rec, "EndDate"), "BeginDate"
        else:
            # 5.x groups the dates in EmploymentPeriod; 4.x has them on the association.
            begin = _text(rec, "EmploymentPeriod", "HireDate") or _text(rec, "HireDate")
            end = _text(rec, "EmploymentPeriod", "EndDate") or _text(rec, "EndDate")
            begin_field = "HireDate"
        self.employments.append(
            _Employment(
                staff=_reference(rec, "StaffReference", "StaffIdentity", "StaffUniqueId"),
                edorg=_edorg_reference(rec),
                begin=begin,
                end=end,
                begin_field=begin_field,
                assignment=assignment,
                where=where,
            )
        )

    # -- pass two: references -> edges

    def _resolve(self, ref: _Ref | None, where: _Where, ref_field: str) -> str | None:
        """The key a reference names, or None (with a Problem) when it names nothing."""
        if ref is None:
            self.result.problems.append(where.problem(ref_field, f"{ref_field} is missing"))
            return None
        if ref.xml_ref is not None:
            key = self.xml_ids.get(ref.xml_ref)
            if key is None:
                self.result.problems.append(where.problem(ref_field, f"ref={ref.xml_ref!r} names no element in these files"))
            return key
        if ref.key is None:
            self.result.problems.append(where.problem(ref_field, f"{ref_field} has neither a ref attribute nor an identity"))
        return ref.key

    def _known(self, node_id: str, kind: NodeKind, where: _Where, ref_field: str) -> bool:
        """True when `node_id` is a `kind` read from these files, or one the store must hold.

        A reference to nothing in the files read becomes a `StoreRef`: one interchange file
        loaded on top of earlier ones names their students and schools, and the load resolves
        it inside its transaction (refused, naming this place, when the store lacks it).
        Not strict: the same, with a warning saying so.
        """
        seen = self.ids.get(node_id)
        if seen == kind:
            return True
        if seen is not None:
            self.result.problems.append(where.problem(ref_field, f"{ref_field} {node_id!r} is a {seen}, not a {kind}"))
            return False
        self.result.store_refs.append(StoreRef(node_id, frozenset({kind}), where.file, where.line, ref_field, f"a {kind}"))
        if not self.strict_references:
            message = f"{ref_field} {node_id!r}: no {kind} with this id in the files read (kept: the store must hold it)"
            self.result.warnings.append(where.problem(ref_field, message))
        return True

    def _edge(self, kind: EdgeKind, data: dict[str, Any], where: _Where) -> None:
        if data.get("valid_from") is None:
            start = self.starts.start(None, where.file, where.line, str(kind), data["id"])
            if start is None:
                return
            data["valid_from"] = start
            self.result.soft_starts.add(data["id"])  # --valid-from: never moves a start the store holds
        data["recorded_at"] = self.recorded_at
        data["source"] = f"{self.source}:{where.file}"
        if edge_or_problem(self.result, kind, data, where.file, where.line, where.path) is not None:
            self.result.origin[data["id"]] = (where.file, where.line)

    def _date(self, text: str | None, where: _Where, date_field: str, *, end: bool = False) -> datetime | None:
        """A begin date as local 00:00 of its day; an exit/end date per `inclusive_exit` (docs/dates.md)."""
        if text is None:
            return None
        try:
            day = edfi_date(text)
        except ValueError as err:
            self.result.problems.append(where.problem(date_field, str(err)))
            raise
        return self.dates.end(day, inclusive=self.inclusive_exit) if end else self.dates.start(day)

    def _bool(self, text: str | None, where: _Where, bool_field: str) -> bool | None:
        if text is None:
            return None
        value = _BOOL.get(text.strip().lower())
        if value is None:
            self.result.problems.append(where.problem(bool_field, f"{text!r} is not a boolean (true, false, 1, 0)"))
            raise ValueError(text)
        return value

    def _partner_of(self, edorg_id: str, seen: frozenset[str] = frozenset()) -> tuple[str | None, str]:
        """The Partner id that stands for an education organisation, or None and why not."""
        org = self.edorgs.get(edorg_id)
        if org is None:
            return None, f"EducationOrganizationId {edorg_id!r}: no education organisation with this id in the files read"
        if org.kind in _PARTNER_KINDS:
            return edorg_id, ""
        if org.kind in _LEA_KINDS:
            return f"partner:{edorg_id}", ""
        if org.kind in ("School", "OrganizationDepartment") and org.parent is not None and edorg_id not in seen:
            parent = org.parent.key if org.parent.key is not None else self.xml_ids.get(org.parent.xml_ref or "")
            if parent is not None:
                return self._partner_of(parent, seen | {edorg_id})
            return None, f"{org.kind} {edorg_id!r}: its parent organisation {org.parent} is not in the files read"
        return None, (f"{org.kind} {edorg_id!r} is not mapped to a partner "
                      "(only LEAs, their schools and departments, and community organisations are)")

    def finish(self) -> LoadResult:
        self._emit_part_of()
        self._emit_programs()
        self._emit_attends()
        self._emit_guardians()
        self._emit_employment()
        self._report_unmapped()
        self.starts.report(self.result, "Ed-Fi dates no PART_OF, OFFERS or GUARDIAN_OF")
        if not self.result.problems:
            first = next((n.id for n in self.result.nodes if n.kind is NodeKind.STUDENT), "")
            file = self.result.origin.get(first, ("Student.xml", None))[0]
            warn_students_without_guardians(
                self.result, file, "StudentParentAssociation / StudentContactAssociation (InterchangeStudentParent)"
            )
        return self.result

    def _emit_part_of(self) -> None:
        for school_id, lea_ref, where in self.part_of:
            lea_id = self._resolve(lea_ref, where, "LocalEducationAgencyReference")
            if lea_id is None or not self._known(lea_id, NodeKind.DISTRICT, where, "LocalEducationAgencyReference"):
                continue
            self._edge(EdgeKind.PART_OF, {"id": f"part_of:{school_id}:{lea_id}", "from_id": school_id, "to_id": lea_id}, where)

    def _emit_programs(self) -> None:
        emitted: set[str] = set()
        for ref in self.programs:
            edorg_id = self._resolve(ref.edorg, ref.where, "EducationOrganizationReference")
            if edorg_id is None:
                continue
            if ref.name is None:
                self.result.problems.append(ref.where.problem("ProgramName", "ProgramName is missing"))
                continue
            try:
                pid = program_id(edorg_id, ref.name)
            except ValueError as err:
                self.result.problems.append(ref.where.problem("ProgramName", str(err)))
                continue
            if pid in emitted:
                continue  # the same program named again (by another association, or another ProgramType)
            if pid in self.ids:
                self._claim(pid, NodeKind.PROGRAM, ref.where, "ProgramName")
                continue
            emitted.add(pid)
            self.ids[pid] = NodeKind.PROGRAM
            self._node(NodeKind.PROGRAM, {"id": pid, "name": ref.name}, ref.where)
            partner, why = self._partner_of(edorg_id)
            if partner is None:
                if edorg_id in self.edorgs:  # known but not a partner's: say so; unknown: the program alone is kept
                    self.result.warnings.append(ref.where.problem("EducationOrganizationReference", f"no OFFERS edge: {why}"))
                continue
            self._edge(EdgeKind.OFFERS, {"id": f"offers:{partner}:{pid}", "from_id": partner, "to_id": pid}, ref.where)

    def _emit_attends(self) -> None:
        for a in self.attends:
            student = self._resolve(a.student, a.where, "StudentReference")
            school = self._resolve(a.school, a.where, "SchoolReference")
            if student is None or school is None:
                continue
            ok = self._known(student, NodeKind.STUDENT, a.where, "StudentReference")
            ok = self._known(school, NodeKind.SCHOOL, a.where, "SchoolReference") and ok
            if a.entry is None:
                self.result.problems.append(a.where.problem("EntryDate", "EntryDate is missing"))
                continue
            try:
                valid_from = self._date(a.entry, a.where, "EntryDate")
                valid_to = self._date(a.exit, a.where, "ExitWithdrawDate", end=True)
            except ValueError:
                continue
            if not ok:
                continue
            data = {"id": f"attends:{student}:{school}:{a.entry}", "from_id": student, "to_id": school,
                    "valid_from": valid_from, "valid_to": valid_to}
            self._edge(EdgeKind.ATTENDS, data, a.where)

    def _emit_guardians(self) -> None:
        for g in self.guardian_links:
            ref_field = g.contact_field
            student = self._resolve(g.student, g.where, "StudentReference")
            contact = self._resolve(g.contact, g.where, ref_field)
            if student is None or contact is None:
                continue
            ok = self._known(student, NodeKind.STUDENT, g.where, "StudentReference")
            ok = self._known(contact, NodeKind.GUARDIAN, g.where, ref_field) and ok
            try:
                legal = self._bool(g.legal_guardian, g.where, "LegalGuardian")
                emergency = self._bool(g.emergency, g.where, "EmergencyContactStatus")
                lives_with = self._bool(g.lives_with, g.where, "LivesWith")
            except ValueError:
                continue
            relationship = relationship_for(g.relation, legal_guardian=bool(legal), emergency_contact=bool(emergency))
            if relationship is None:
                self.result.warnings.append(
                    g.where.problem("Relation", f"Relation {g.relation!r} is no guardian relationship and the contact is not an "
                                                "emergency contact: no GUARDIAN_OF edge")
                )
                continue
            if g.relation is not None and _code(g.relation) not in RELATIONS:
                self.result.warnings.append(
                    g.where.problem("Relation", f"Relation {g.relation!r} is not a known code; mapped to {relationship}")
                )
            if not ok:
                continue
            data = {"id": f"guardian_of:{contact}:{student}", "from_id": contact, "to_id": student,
                    "relationship": relationship, "ferpa_rights": FerpaRights.UNVERIFIED, "lives_with": lives_with}
            self._edge(EdgeKind.GUARDIAN_OF, data, g.where)

    def _emit_employment(self) -> None:
        # Employment associations first; an assignment counts only for a (staff, partner)
        # pair with no employment, so one job is not two overlapping edges.
        employed: set[tuple[str, str]] = set()
        edges: dict[str, tuple[dict[str, Any], _Where]] = {}
        for e in sorted(self.employments, key=lambda e: e.assignment):
            staff = self._resolve(e.staff, e.where, "StaffReference")
            edorg = self._resolve(e.edorg, e.where, "EducationOrganizationReference")
            if staff is None or edorg is None:
                continue
            ok = self._known(staff, NodeKind.PROVIDER, e.where, "StaffReference")
            partner, why = self._partner_of(edorg)
            if partner is None:
                if edorg in self.edorgs:
                    self.result.warnings.append(e.where.problem("EducationOrganizationReference", f"no EMPLOYED_BY edge: {why}"))
                elif self.strict_references:
                    self.result.problems.append(e.where.problem("EducationOrganizationReference", why))
                else:
                    self.result.warnings.append(e.where.problem("EducationOrganizationReference", f"no EMPLOYED_BY edge: {why}"))
                continue
            if e.assignment and (staff, partner) in employed:
                continue
            if e.begin is None:
                self.result.problems.append(e.where.problem(e.begin_field, f"{e.begin_field} is missing"))
                continue
            try:
                valid_from = self._date(e.begin, e.where, e.begin_field)
                valid_to = self._date(e.end, e.where, "EndDate", end=True)
            except ValueError:
                continue
            if not ok:
                continue
            if not e.assignment:
                employed.add((staff, partner))
            edge_id = f"employed_by:{staff}:{partner}:{e.begin}"
            if edge_id in edges:
                # Two jobs under one partner from the same day (two schools of one LEA): one
                # edge, open if either is, else to the later end.
                data, _ = edges[edge_id]
                if data["valid_to"] is not None:
                    data["valid_to"] = None if valid_to is None else max(data["valid_to"], valid_to)
                continue
            edges[edge_id] = ({"id": edge_id, "from_id": staff, "to_id": partner,
                               "valid_from": valid_from, "valid_to": valid_to}, e.where)
        for data, where in edges.values():
            self._edge(EdgeKind.EMPLOYED_BY, data, where)

    def _report_unmapped(self) -> None:
        for file, n in self.program_assocs.items():
            self.result.warnings.append(
                Problem(file, None, "StudentProgramAssociation",
                        f"{n} student program associations: only their Program nodes are kept; a program enrolment "
                        "is not a provider's service relationship, so no student link is held")
            )
        for (file, tag), n in self.unmapped.items():
            self.result.warnings.append(Problem(file, None, tag, f"{n} <{tag}> element(s) not mapped (dropped)"))


def read(
    paths: Sequence[Path],
    *,
    default_valid_from: datetime | None = None,
    recorded_at: datetime | None = None,
    source: str = "edfi",
    include_names: bool = False,
    strict_references: bool = True,
    time_zone: str = DEFAULT_TIME_ZONE,
    inclusive_exit_date: bool = False,
) -> LoadResult:
    """Read Ed-Fi XML interchange files into canonical records.

    Parameters
    ----------
    paths : Sequence[Path]
        Interchange files or ODS/API JSON resource pages, in any order (references are
        resolved across all of them), or directories standing for the ``*.xml`` and
        ``*.json`` files in them.
        ``ref`` attributes resolve to ``id`` attributes of any file read.
    default_valid_from : datetime
        Aware; ``valid_from`` of edges whose source gives no begin date (PART_OF, OFFERS,
        GUARDIAN_OF).
    recorded_at : datetime | None
        Aware; set on every edge.
    source : str
        Prefix of each edge's ``source``: ``"<source>:<file name>"``.
    include_names : bool
        Keep student and guardian names (FirstName LastSurname). Staff, school, district,
        partner and program names are always kept.
    strict_references : bool
        A reference to a student, school, contact or staff member not read from `paths`
        must be in the store (`LoadResult.store_refs`, resolved by the load; an unresolved
        one is a Problem there). False also warns about each. An education organisation a
        job names must be in `paths` when True (its partner is derived from it).
    time_zone : str
        The partnership's IANA zone: every date names a calendar day there (docs/dates.md).
    inclusive_exit_date : bool
        *policy*: ExitWithdrawDate and EndDate are the last day at the school or job (the
        edge ends at local 00:00 of the next day). Default False: they are the first day
        away (the edge ends at local 00:00 of that day), so a same-day exit and entry
        moves the student at local midnight.

    Returns
    -------
    LoadResult
        Nodes, then edges; Problems (file, line of the record's start tag, field,
        message, element path) and warnings (unmapped elements, unmodelled relations).
        A begin date becomes local 00:00 of its day in `time_zone` (docs/loaders/edfi.md).

    Raises
    ------
    NaiveDatetimeError
        `default_valid_from` or `recorded_at` is naive.
    InvalidTime
        Unknown `time_zone`.
    """
    reader = _Reader(
        default_valid_from=None if default_valid_from is None else ensure_aware(default_valid_from),
        starts=MissingStarts(None if default_valid_from is None else ensure_aware(default_valid_from)),
        recorded_at=None if recorded_at is None else ensure_aware(recorded_at),
        source=source,
        include_names=include_names,
        strict_references=strict_references,
        dates=LocalDates(time_zone),
        inclusive_exit=inclusive_exit_date,
    )
    for path in paths:
        path = Path(path)
        # A directory stands for the interchange files (and ODS/API JSON pages) in it.
        files = sorted([*path.glob("*.xml"), *path.glob("*.json")]) if path.is_dir() else [path]
        if path.is_dir() and not files:
            reader.result.problems.append(
                files_found(path, "*.xml or *.json",
                            "Ed-Fi is read from XML interchange files (InterchangeStudent, ...) or ODS/API JSON resources.")
            )
        for file in files:
            reader.read_file(file)
    return reader.finish()
