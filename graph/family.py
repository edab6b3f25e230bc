"""A family's standing towards a student: may this person read the transparency report and consent?

DOMAIN.md, "Families: transparency and consent": a guardian with rights, or an eligible
student, is owed the report and may give and revoke consents; the signer-authority rules
apply unchanged. The judgement is `graph.decide.signer_authority` (the rule `decide`
applies to every consent); this module only gathers the evidence it needs and, when the
rule refuses, names which fact refused it so a family can be told in words.

``Standing`` values (stable codes, each with a message in `MESSAGES`)::

    ok                 a guardian with rights, or the eligible student: may read and consent
    not_yours          no current relationship (or no such student): the same as an unknown id
    not_eligible       the student signs for themselves only once eligible (18, or postsecondary)
    eligible_student   the student is eligible: rights have passed to them (34 CFR 99.5)
    court_order        a court order removes this guardian's rights now
    rights_removed     the school records this guardian's rights as removed
    unverified         the school has not verified this guardian's rights yet (policy)
    not_a_parent       a relative or emergency contact, not a parent or legal guardian (99.3)
    lacks_authority    any other refusal of the signer-authority rule (e.g. an agent's lapsed authorisation)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, Protocol

from graph.decide import signer_authority
from graph.evidence import Evidence
from graph.model import Edge, EdgeKind, FerpaRights, GuardianOf, GuardianRelationship, LegalOrder, Node, Restricts, Student
from graph.policy import Policy
from graph.reasons import Reason

__all__ = ["MESSAGES", "Reader", "Standing", "family_evidence", "standing"]


class Standing(StrEnum):
    """Why a person may or may not act for a student (module docstring). Never rename a value."""

    OK = "ok"
    NOT_YOURS = "not_yours"
    NOT_ELIGIBLE = "not_eligible"
    ELIGIBLE_STUDENT = "eligible_student"
    COURT_ORDER = "court_order"
    RIGHTS_REMOVED = "rights_removed"
    UNVERIFIED = "unverified"
    NOT_A_PARENT = "not_a_parent"
    LACKS_AUTHORITY = "lacks_authority"


MESSAGES: Final = MappingProxyType(
    {
        Standing.OK: "You may see who can see this student's record and give or revoke consent.",
        Standing.NOT_YOURS: "There is no student with this id among yours.",
        Standing.NOT_ELIGIBLE: "A student consents for themselves from age 18 or once enrolled in postsecondary education.",
        Standing.ELIGIBLE_STUDENT: "This student is 18 or in postsecondary education: the rights to consent are now the student's own.",
        Standing.COURT_ORDER: "A court order removes your rights over this student's education records for now.",
        Standing.RIGHTS_REMOVED: "The school records your rights over this student's education records as removed.",
        Standing.UNVERIFIED: "The school has not yet verified your rights as this student's guardian; ask the school office.",
        Standing.NOT_A_PARENT: "You are listed as a relative or emergency contact, not as a parent or legal guardian.",
        Standing.LACKS_AUTHORITY: "You cannot consent for this student now (for instance, an authorisation has ended).",
    }
)


class Reader(Protocol):
    """What `family_evidence` reads: a `GraphStore` or a command's `WriteTx` (committed state)."""

    def node(self, node_id: str) -> Node | None: ...

    def edges_at(self, node_id: str, kind: EdgeKind, direction: Literal["out", "in"]) -> list[Edge]: ...


def family_evidence(reader: Reader, student_id: str) -> Evidence:
    """The student, its GUARDIAN_OF links and the court orders about it (RESTRICTS edges).

    Newest versions of each record (a command reads the committed state at its commit
    time). ``student`` is None when there is no such student.
    """
    student = reader.node(student_id)
    if not isinstance(student, Student):
        return Evidence(provider=None, student=None)
    links = tuple(e for e in reader.edges_at(student_id, EdgeKind.GUARDIAN_OF, "in") if isinstance(e, GuardianOf))
    orders = [e.from_id for e in reader.edges_at(student_id, EdgeKind.ABOUT, "in") if isinstance(reader.node(e.from_id), LegalOrder)]
    restricts = tuple(r for o in sorted(set(orders)) for r in reader.edges_at(o, EdgeKind.RESTRICTS, "out") if isinstance(r, Restricts))
    return Evidence(provider=None, student=student, guardian_links=links, restrictions=restricts)


def standing(ev: Evidence, person_id: str, at: datetime, policy: Policy) -> Standing:
    """What `person_id` (a guardian's or the student's own id) may do for ``ev.student`` at `at`.

    ``ok`` exactly when `signer_authority` finds no fault; ``not_yours`` when the person is
    neither the student nor linked to it now (or there is no student), so that a caller
    told ``not_yours`` learns nothing about whether the id exists (DOMAIN.md, "no oracle").
    Otherwise the fact that refused it, in the order a family would want to hear it.
    """
    student = ev.student
    if student is None:
        return Standing.NOT_YOURS
    own = [g for g in ev.guardian_links if g.from_id == person_id and g.active_at(at)]
    if person_id != student.id and not own:
        return Standing.NOT_YOURS
    rule = signer_authority(ev, person_id, at, policy)
    if rule is None:
        return Standing.OK
    if person_id == student.id:
        return Standing.NOT_ELIGIBLE
    if rule is Reason.ELIGIBLE_STUDENT_CONSENT_REQUIRED:
        return Standing.ELIGIBLE_STUDENT
    if any(r.to_id == person_id and r.active_at(at) for r in ev.restrictions):
        return Standing.COURT_ORDER
    parents = [g for g in own if g.relationship not in (GuardianRelationship.RELATIVE, GuardianRelationship.EMERGENCY_CONTACT)]
    if not parents:
        return Standing.NOT_A_PARENT
    if all(g.ferpa_rights is FerpaRights.REMOVED for g in parents):
        return Standing.RIGHTS_REMOVED
    if all(g.ferpa_rights is not FerpaRights.FULL for g in parents):
        return Standing.UNVERIFIED
    return Standing.LACKS_AUTHORITY
