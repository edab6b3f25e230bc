"""Microsoft School Data Sync (SDS) v2.1 CSV -> canonical records (docs/loaders/sds.md).

Each package's version is told from its files: v2.1 (``roles.csv``) is read here; v1
("classic": ``School.csv``, ``Student.csv``, ...) and v2.0 (``users.csv`` with ``role``) by
`loaders.sds_classic`; anything else is refused naming what was found and the versions read.

SDS v2.1 is OneRoster 1.2 reshaped: ``users.csv`` has no role, ``roles.csv`` gives each
user's role at an org (with roleStartDate/roleEndDate), and ``relationships.csv`` links
a student (``userSourcedId``) to a related adult (``relationshipUserSourcedId``) with a
``relationshipRole``. The mapping is the OneRoster one (`loaders.oneroster.RosterBuilder`);
guardians come from relationships.csv, always ``ferpa_rights=unverified``.

Never read: ``userFlags.csv`` (iep, 504, freeLunch: disability and income, never held),
and of ``demographics.csv`` only ``birthDate`` is kept.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Final

from graph.errors import Problem
from graph.model import GuardianRelationship, NodeKind
from graph.timeutil import DEFAULT_TIME_ZONE
from loaders import sds_classic
from loaders.base import LoadResult
from loaders.column_map import ColumnMap
from loaders.columns import SDS
from loaders.oneroster import (
    RosterBuilder,
    bulk_allocation,
    check_file_names,
    package_files,
    person_name,
    read_birth_dates,
    read_orgs,
    read_table,
    row_dates,
    row_state,
)

__all__ = ["RELATIONSHIP_ROLES", "STAFF_ROLES", "VERSIONS_READ", "detect_version", "read"]

VERSIONS_READ: Final = (
    "v1 (classic: School.csv, Section.csv, Student.csv, Teacher.csv, StudentEnrollment.csv, ...), "
    "v2.0 (orgs.csv, users.csv with role) and v2.1 (orgs.csv, users.csv, roles.csv)"
)

_ORG_KINDS: Final[Mapping[str, NodeKind]] = {
    "school": NodeKind.SCHOOL,
    "campus": NodeKind.SCHOOL,
    "college": NodeKind.SCHOOL,
    "university": NodeKind.SCHOOL,
    "district": NodeKind.DISTRICT,
    "localauthority": NodeKind.DISTRICT,
}
"""SDS org types (compared case-insensitively, as SDS does) that become nodes."""

_POSTSECONDARY: Final = frozenset({"college", "university"})
"""A student role at one of these org types sets Student.postsecondary_enrolled (FERPA 99.3 eligible student)."""

STAFF_ROLES: Final = frozenset(
    r.lower()
    for r in (
        "principal", "chair", "professor", "researcher", "adjunct", "affiliate", "occupationalTherapist",
        "physicalTherapist", "speechTherapist", "visionTherapist", "paraprofessional", "specialServices", "advisor",
        "proctor", "nurse", "officeStaff", "lecturer", "itAdmin", "administrator", "teacher", "faculty", "staff",
        "teacherAssistant", "assistant", "instructor", "substitute", "coach", "aide",
    )
)  # fmt: skip
"""SDS roles of the "Staff" role group (alumni excluded: a former student is not staff) -> Provider."""

RELATIONSHIP_ROLES: Final[Mapping[str, GuardianRelationship]] = {
    "parent": GuardianRelationship.PARENT,
    "mother": GuardianRelationship.PARENT,
    "father": GuardianRelationship.PARENT,
    "guardian": GuardianRelationship.LEGAL_GUARDIAN,
    "legalguardian": GuardianRelationship.LEGAL_GUARDIAN,
    "fosterparent": GuardianRelationship.ACTING_AS_PARENT,
    "stepparent": GuardianRelationship.ACTING_AS_PARENT,
    "agent": GuardianRelationship.AUTHORIZED_AGENT,
    "relative": GuardianRelationship.RELATIVE,
    "grandparent": GuardianRelationship.RELATIVE,
    "aunt": GuardianRelationship.RELATIVE,
    "uncle": GuardianRelationship.RELATIVE,
    "sibling": GuardianRelationship.RELATIVE,
    "emergencycontact": GuardianRelationship.EMERGENCY_CONTACT,
}
"""relationshipRole (lower-cased, spaces/underscores/hyphens removed) -> GUARDIAN_OF.relationship.
Others (aide, doctor, other, child) are a warning and give no edge."""

_USERS_DROPPED: Final = ("username", "password", "activeDirectoryMatchId", "email", "phone", "sms")


def _code(text: str) -> str:
    """SDS enums match case-insensitively; spelling variants ('emergency contact') fold too."""
    return text.lower().replace(" ", "").replace("_", "").replace("-", "")


def read(
    paths: Sequence[Path],
    *,
    default_valid_from: datetime | None = None,
    recorded_at: datetime | None = None,
    source: str = "sds",
    include_names: bool = False,
    time_zone: str = DEFAULT_TIME_ZONE,
    column_map: ColumnMap | None = None,
) -> LoadResult:
    """Read SDS v2.1 CSV packages into canonical records.

    Parameters
    ----------
    paths : Sequence[Path]
        Package directories, or CSV files (files sharing a directory are one package).
    default_valid_from : datetime
        Aware; ``valid_from`` of an edge whose source gives no begin date.
    recorded_at : datetime | None
        Aware; set on every edge.
    source : str
        Edge ``source`` prefix, e.g. ``"sds:roles.csv"``.
    include_names : bool
        Keep student and guardian names (staff and org names are always kept).
    time_zone : str
        IANA zone: roleStartDate/roleEndDate start at its local midnight.
    column_map : ColumnMap, optional
        ``--map`` column rows: a source's own column names onto SDS's (`loaders.column_map`).

    Returns
    -------
    LoadResult
        Nodes (District, School, Student, Guardian, Provider), then edges (PART_OF,
        ATTENDS, GUARDIAN_OF), plus Problems and warnings.

    Raises
    ------
    InvalidTime
        A naive `default_valid_from` / `recorded_at`, or an unknown `time_zone`.
    """
    builder = RosterBuilder(
        default_valid_from=default_valid_from, recorded_at=recorded_at, source=source,
        include_names=include_names, time_zone=time_zone, id_tag="sds", column_map=column_map,
    )  # fmt: skip
    with bulk_allocation():
        for files in package_files(paths):
            builder.begin_package()
            _read_package(builder, files)
        return builder.finish()


def detect_version(files: Mapping[str, Path]) -> str | None:
    """``"2.1"``, ``"2.0"`` or ``"1"`` for a package's files (name -> path); None when none fits.

    v1: any of its six core files (any case). v2.1: ``roles.csv``, or ``orgs.csv``/``users.csv``
    whose users carry no ``role``. v2.0: ``users.csv`` with a ``role`` column and no ``roles.csv``.
    """
    lower = {n.lower() for n in files}
    if "roles.csv" in files:
        return "2.1"
    if lower & {n.lower() for n in sds_classic.V1_FILES[:6]}:
        return "1"
    if "users.csv" in files:
        try:
            with files["users.csv"].open(encoding="utf-8-sig", errors="replace", newline="") as f:
                header = {h.strip() for h in next(csv.reader(f), [])}
        except OSError:
            header = set()
        return "2.0" if "role" in header else "2.1"
    return "2.1" if lower & {n.lower() for n in SDS} else None


def _read_package(builder: RosterBuilder, files: Mapping[str, Path]) -> None:
    result = builder.result
    base = next(iter(files.values())).parent if files else Path()
    version = detect_version(files)
    where = base.name or "<none>"
    if version is None:
        found = ", ".join(list(files)[:6]) or "no CSV files"
        result.problems.append(Problem(where, None, None, f"not an SDS package: found {found}; SDS versions read: {VERSIONS_READ}"))
        return
    result.warnings.insert(0, Problem(where, None, None, f"read as SDS CSV v{version}"))
    if version == "1":
        builder.guardians_in = "User.csv and GuardianRelationship.csv (Parent and Guardian Sync)"
        sds_classic.read_v1(builder, files, RELATIONSHIP_ROLES, _code)
        return
    if version == "2.0":
        builder.guardians_in = "no file: SDS v2.0 has none (v2.1 added relationships.csv)"
        check_file_names(files, ("orgs.csv", "users.csv", "demographics.csv", "classes.csv", "enrollments.csv"),
                         ("academicSessions.csv", "courses.csv", "userFlags.csv"), result)  # fmt: skip
        sds_classic.read_v2_0(builder, files, _ORG_KINDS, STAFF_ROLES, _code)
        if "enrollments.csv" in files:
            _read_enrollments(builder, base / "enrollments.csv", _class_orgs(builder, base / "classes.csv"))
        return

    def path(name: str) -> Path:
        return files.get(name, base / name)

    check_file_names(files, SDS, ("academicSessions.csv", "courses.csv", "userFlags.csv"), result)
    if "userFlags.csv" in files:
        result.warnings.append(Problem("userFlags.csv", None, None, "not read: flags (iep, 504, freeLunch) are never held"))
    # A file set of users and roles alone is incremental: its orgs are resolved against the store.
    incremental = "users.csv" in files and "roles.csv" in files
    org_types = read_orgs(builder, path("orgs.csv"), _ORG_KINDS, _code, SDS["orgs.csv"], must_exist=not incremental)
    birth_dates = read_birth_dates(builder, path("demographics.csv"), "userSourcedId", SDS["demographics.csv"])
    roles, postsecondary = _read_roles(builder, path("roles.csv"), org_types)
    related = _read_relationships(builder, path("relationships.csv"))
    _read_users(builder, path("users.csv"), birth_dates, roles, postsecondary, related)
    if "enrollments.csv" in files:
        _read_enrollments(builder, path("enrollments.csv"), _class_orgs(builder, path("classes.csv")))


def _read_roles(builder: RosterBuilder, path: Path, org_types: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """roles.csv -> ({userSourcedId: "student" | "staff"}, students with a role at a college).

    Student wins over staff when a user has both. A student role gives ATTENDS evidence
    dated by roleStartDate/roleEndDate (end exclusive, as OneRoster's endDate).
    """
    file = path.name
    roles: dict[str, str] = {}
    postsecondary: set[str] = set()
    for row in read_table(path, builder.result, ("userSourcedId", "orgSourcedId", "role"), columns=SDS["roles.csv"],
            column_map=builder.column_map):
        keep, _ = row_state(row, file, builder)
        if not keep:
            continue
        user, org, role = row.get("userSourcedId"), row.get("orgSourcedId"), _code(row.get("role"))
        if role == "student":
            roles[user] = "student"
            ok, begin, end = row_dates(row, file, builder.result, "roleStartDate", "roleEndDate")
            if ok:
                builder.attends(file, row.line, user, org, begin, end, dated=begin is not None or end is not None)
            if org_types.get(org) in _POSTSECONDARY:
                postsecondary.add(user)
        elif role in STAFF_ROLES:
            roles.setdefault(user, "staff")
            builder.user_ref(file, row.line, user, "userSourcedId")
        else:
            builder.result.warnings.append(Problem(file, row.line, "role", f"role {row.get('role')!r} is not mapped; row skipped"))
    return roles, postsecondary


def _read_relationships(builder: RosterBuilder, path: Path) -> dict[str, GuardianRelationship]:
    """relationships.csv: student -> related adult links; returns {adult id: first relationship}."""
    file = path.name
    related: dict[str, GuardianRelationship] = {}
    for row in read_table(
        path, builder.result, ("userSourcedId", "relationshipUserSourcedId", "relationshipRole"), must_exist=False,
        columns=SDS["relationships.csv"], column_map=builder.column_map):
        keep, _ = row_state(row, file, builder)
        if not keep:
            continue
        student, adult, text = row.get("userSourcedId"), row.get("relationshipUserSourcedId"), row.get("relationshipRole")
        rel = RELATIONSHIP_ROLES.get(_code(text))
        if rel is None:
            builder.result.warnings.append(
                Problem(file, row.line, "relationshipRole", f"relationshipRole {text!r} is not a guardian relationship; no edge")
            )
            continue
        related.setdefault(adult, rel)
        builder.guardian_link(file, row.line, student, adult, rel)
    return related


def _read_users(
    builder: RosterBuilder,
    path: Path,
    birth_dates: Mapping[str, date],
    roles: Mapping[str, str],
    postsecondary: set[str],
    related: Mapping[str, GuardianRelationship],
) -> None:
    """users.csv: the kind comes from roles.csv (student, staff) or relationships.csv (guardian)."""
    file = path.name
    result = builder.result
    for row in read_table(path, result, ("sourcedId",), dropped=_USERS_DROPPED, columns=SDS["users.csv"], column_map=builder.column_map):
        keep, modified = row_state(row, file, builder)
        if not keep:
            continue
        sourced_id, line = row.get("sourcedId"), row.line
        role = roles.get(sourced_id)
        if role == "student":
            builder.add_student(
                file, line, sourced_id, name=person_name(row) or None, birth_date=birth_dates.get(sourced_id),
                postsecondary=sourced_id in postsecondary, modified=modified,
            )  # fmt: skip
        elif role == "staff":
            builder.add_provider(file, line, sourced_id, name=person_name(row), modified=modified)
            if sourced_id in related:
                result.warnings.append(
                    Problem(file, line, "sourcedId", f"{sourced_id!r} is staff and a related adult; kept as Provider, no GUARDIAN_OF")
                )
        elif sourced_id in related:
            builder.add_guardian(file, line, sourced_id, name=person_name(row) or None, modified=modified)
        else:
            result.warnings.append(Problem(file, line, "sourcedId", f"user {sourced_id!r} has no mapped role or relationship; skipped"))


def _class_orgs(builder: RosterBuilder, path: Path) -> dict[str, str]:
    """classes.csv -> {class sourcedId: orgSourcedId} (to place student enrolments at a school)."""
    out: dict[str, str] = {}
    for row in read_table(path, builder.result, ("sourcedId", "orgSourcedId"), columns=SDS["classes.csv"], column_map=builder.column_map):
        keep, _ = row_state(row, path.name, builder)
        if keep:
            out[row.get("sourcedId")] = row.get("orgSourcedId")
    return out


def _read_enrollments(builder: RosterBuilder, path: Path, class_orgs: Mapping[str, str]) -> None:
    """enrollments.csv: a student's class enrolment is undated ATTENDS evidence at the class's org."""
    file = path.name
    for row in read_table(path, builder.result, ("classSourcedId", "userSourcedId", "role"), columns=SDS["enrollments.csv"],
            column_map=builder.column_map):
        keep, _ = row_state(row, file, builder)
        if not keep:
            continue
        class_id, user = row.get("classSourcedId"), row.get("userSourcedId")
        org = class_orgs.get(class_id)
        if org is None:
            builder.result.problems.append(Problem(file, row.line, "classSourcedId", f"class {class_id!r} is not in classes.csv"))
            continue
        if _code(row.get("role")) == "student":
            builder.attends(file, row.line, user, org)
        else:
            builder.user_ref(file, row.line, user, "userSourcedId")
