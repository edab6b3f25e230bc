"""Microsoft School Data Sync's earlier CSV formats, v1 ("classic") and v2.0 -> canonical records.

Read by `loaders.sds` when a package is not v2.1 (docs/loaders/sds.md). The mapping is
v2.1's (`loaders.oneroster.RosterBuilder`): schools, students, staff as providers,
guardians always ``ferpa_rights=unverified``; no relationship is dated by either format.

* **v1** (SDS "classic"): ``School.csv``, ``Section.csv``, ``Student.csv``, ``Teacher.csv``,
  ``StudentEnrollment.csv``, ``TeacherRoster.csv``, and for guardians ``User.csv`` +
  ``GuardianRelationship.csv`` (the Parent and Guardian Sync files). Columns are
  space-separated words (``SIS ID``, ``School SIS ID``); Microsoft's own pages spell the
  file names both ``Student.csv`` and ``student.csv``, so v1 names match in any case.
* **v2.0**: ``orgs.csv``, ``users.csv`` with each user's ``role`` and ``orgSourcedIds`` (v2.1
  moved roles to ``roles.csv``), ``classes.csv``, ``enrollments.csv``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Final

from graph.errors import Problem
from graph.model import GuardianRelationship, NodeKind
from loaders.columns import SDS, Columns
from loaders.oneroster import RosterBuilder, parse_date, person_name, read_birth_dates, read_orgs, read_table, row_state, split_ids

__all__ = ["V1_FILES", "read_v1", "read_v2_0"]

V1_FILES: Final = (
    "School.csv", "Section.csv", "Student.csv", "Teacher.csv", "StudentEnrollment.csv", "TeacherRoster.csv",
    "User.csv", "GuardianRelationship.csv",
)  # fmt: skip
"""The v1 files this reader reads (matched in any case)."""

_V1_COLUMNS: Final[Mapping[str, Columns]] = {
    "School.csv": Columns(frozenset({
        "SIS ID", "Name", "School Number", "School NCES_ID", "State ID", "Grade Low", "Grade High", "Principal SIS ID",
        "Principal Name", "Principal Secondary Email", "Address", "City", "State", "Country", "Zip", "Phone", "Zone"})),
    "Section.csv": Columns(frozenset({
        "SIS ID", "School SIS ID", "Section Name", "Section Number", "Term SIS ID", "Term Name", "Term StartDate",
        "Term EndDate", "Course SIS ID", "Course Name", "Course Number", "Course Description", "Course Subject", "Periods",
        "Status"})),
    "Student.csv": Columns(frozenset({
        "SIS ID", "School SIS ID", "Username", "Password", "First Name", "Last Name", "Middle Name", "Secondary Email",
        "Student Number", "Grade", "State ID", "Status", "Birthdate", "Graduation Year"}), frozenset({"Birthdate"})),
    "Teacher.csv": Columns(frozenset({
        "SIS ID", "School SIS ID", "Username", "Password", "First Name", "Last Name", "Middle Name", "Secondary Email",
        "Teacher Number", "State ID", "Status", "Title", "Qualification"})),
    "StudentEnrollment.csv": Columns(frozenset({"Section SIS ID", "SIS ID"})),
    "TeacherRoster.csv": Columns(frozenset({"Section SIS ID", "SIS ID"})),
    "User.csv": Columns(frozenset({"Email", "First Name", "Last Name", "Phone", "SIS ID"})),
    "GuardianRelationship.csv": Columns(frozenset({"SIS ID", "Email", "Role"})),
}  # fmt: skip
"""The columns of each v1 file (Microsoft's "School Data Sync CSV file format" and "Parent and Guardian Sync")."""

_V1_DROPPED: Final = ("Username", "Password", "Secondary Email", "Email", "Phone", "State ID", "Student Number", "Teacher Number")

V2_0_USERS: Final = Columns(
    frozenset({"sourcedId", "orgSourcedIds", "username", "givenName", "familyName", "middleName", "password",
               "activeDirectoryMatchId", "email", "phone", "sms", "role", "grade"}),
    frozenset({"orgSourcedIds"}),
)  # fmt: skip
"""SDS v2.0 ``users.csv``: v2.1's columns plus the user's ``role`` and ``orgSourcedIds``."""
_V2_DROPPED: Final = ("username", "password", "activeDirectoryMatchId", "email", "phone", "sms")


_US_DATE: Final = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _v1_date(text: str) -> date:
    """``YYYY-MM-DD``, ``YYYYMMDD`` (the forms Microsoft asks for) or ``M/D/YYYY`` (what its own
    v1 samples hold; the US format: the UK format is another SDS format). Raises ValueError."""
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    if m := _US_DATE.match(text):
        return date(int(m[3]), int(m[1]), int(m[2]))
    return parse_date(text)


def _guardian_id(row_sis_id: str, email: str) -> str:
    """A v1 guardian's node id: its ``SIS ID``, else a digest of its e-mail (the address itself is never held)."""
    if row_sis_id:
        return row_sis_id
    return "sds-guardian:" + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:16]


def read_v1(
    builder: RosterBuilder, files: Mapping[str, Path], roles: Mapping[str, GuardianRelationship], fold: Callable[[str], str]
) -> None:
    """One v1 package into `builder` (`roles`: relationship role -> relationship, after `fold`)."""
    by_lower = {name.lower(): p for name, p in files.items()}
    base = next(iter(files.values())).parent if files else Path()

    def path(name: str) -> Path:
        return by_lower.get(name.lower(), base / name)

    def table(name: str, required: tuple[str, ...], *, must_exist: bool = True) -> list[tuple[str, int, dict[str, str]]]:
        p = path(name)
        rows = read_table(p, builder.result, required, must_exist=must_exist, dropped=_V1_DROPPED, columns=_V1_COLUMNS[name],
                column_map=builder.column_map)
        return [(p.name, row.line, {c: row.get(c) for c in row.cols}) for row in rows]

    result = builder.result
    for file, line, row in table("School.csv", ("SIS ID", "Name")):
        builder.add_org(file, line, row["SIS ID"], row["Name"], NodeKind.SCHOOL, "", None)
    for file, line, row in table("Student.csv", ("SIS ID", "School SIS ID")):
        birth: date | None = None
        if text := row.get("Birthdate", ""):
            try:
                birth = _v1_date(text)
            except ValueError:
                msg = f"not a date (YYYY-MM-DD, YYYYMMDD or M/D/YYYY): {text!r}"
                result.problems.append(Problem(file, line, "Birthdate", msg, value=text))
                result.rejected[row["SIS ID"]] = (file, line)  # its enrolments are this problem's consequence
                continue
        name = " ".join(v for v in (row.get("First Name", ""), row.get("Last Name", "")) if v) or None
        builder.add_student(file, line, row["SIS ID"], name=name, birth_date=birth)
        builder.attends(file, line, row["SIS ID"], row["School SIS ID"])
    for file, line, row in table("Teacher.csv", ("SIS ID", "School SIS ID")):
        name = " ".join(v for v in (row.get("First Name", ""), row.get("Last Name", "")) if v)
        builder.add_provider(file, line, row["SIS ID"], name=name)
    sections = {row["SIS ID"]: row["School SIS ID"] for _, _, row in table("Section.csv", ("SIS ID", "School SIS ID"))}
    for name, student in (("StudentEnrollment.csv", True), ("TeacherRoster.csv", False)):
        for file, line, row in table(name, ("Section SIS ID", "SIS ID"), must_exist=False):
            school = sections.get(row["Section SIS ID"])
            if school is None:
                result.problems.append(
                    Problem(file, line, "Section SIS ID", f"section {row['Section SIS ID']!r} is not in Section.csv")
                )
            elif student:
                builder.attends(file, line, row["SIS ID"], school)
            else:
                builder.user_ref(file, line, row["SIS ID"], "SIS ID")
    _v1_guardians(builder, table, roles, fold)


def _v1_guardians(
    builder: RosterBuilder,
    table: Callable[..., list[tuple[str, int, dict[str, str]]]],
    roles: Mapping[str, GuardianRelationship],
    fold: Callable[[str], str],
) -> None:
    """User.csv + GuardianRelationship.csv: a contact is keyed by e-mail; the relationship names the student's SIS ID."""
    result = builder.result
    users: dict[str, tuple[str, int, str, str]] = {}  # folded email -> (file, line, node id, name)
    for file, line, row in table("User.csv", ("Email",), must_exist=False):
        email = row["Email"].strip().lower()
        if not email:
            result.problems.append(Problem(file, line, "Email", "Email is empty: a contact is keyed by it"))
            continue
        name = " ".join(v for v in (row.get("First Name", ""), row.get("Last Name", "")) if v)
        users.setdefault(email, (file, line, _guardian_id(row.get("SIS ID", ""), email), name))
    added: set[str] = set()
    for file, line, row in table("GuardianRelationship.csv", ("SIS ID", "Email", "Role"), must_exist=False):
        email, text = row["Email"].strip().lower(), row["Role"]
        user = users.get(email)
        if user is None:
            result.problems.append(Problem(file, line, "Email", "no contact with this Email in User.csv"))
            continue
        rel = roles.get(fold(text)) if text else None
        if rel is None:
            shown = repr(text) if text else "(blank: SDS reads it as Other)"
            result.warnings.append(Problem(file, line, "Role", f"Role {shown} is not a guardian relationship; no edge"))
            continue
        ufile, uline, gid, name = user
        if gid not in added:
            builder.add_guardian(ufile, uline, gid, name=name or None)
            added.add(gid)
        builder.guardian_link(file, line, row["SIS ID"], gid, rel)


def read_v2_0(
    builder: RosterBuilder,
    files: Mapping[str, Path],
    org_kinds: Mapping[str, NodeKind],
    staff_roles: frozenset[str],
    fold: Callable[[str], str],
) -> None:
    """One v2.0 package into `builder`: orgs.csv, users.csv (role, orgSourcedIds), demographics.csv if present.

    classes.csv / enrollments.csv are read by the caller, as for v2.1.
    """
    base = next(iter(files.values())).parent if files else Path()

    def path(name: str) -> Path:
        return files.get(name, base / name)

    result = builder.result
    read_orgs(builder, path("orgs.csv"), org_kinds, fold, SDS["orgs.csv"])
    births = read_birth_dates(builder, path("demographics.csv"), "userSourcedId", SDS["demographics.csv"])
    users = path("users.csv")
    for row in read_table(users, result, ("sourcedId", "role"), dropped=_V2_DROPPED, columns=V2_0_USERS, column_map=builder.column_map):
        keep, modified = row_state(row, users.name, builder)
        if not keep:
            continue
        sid, role = row.get("sourcedId"), fold(row.get("role"))
        if role == "student":
            builder.add_student(users.name, row.line, sid, name=person_name(row) or None, birth_date=births.get(sid), modified=modified)
            for org in split_ids(row.get("orgSourcedIds")):
                builder.attends(users.name, row.line, sid, org)
        elif role in staff_roles:
            builder.add_provider(users.name, row.line, sid, name=person_name(row), modified=modified)
        else:
            result.warnings.append(Problem(users.name, row.line, "role", f"role {row.get('role')!r} is not mapped; user skipped"))
