"""A synthetic OneRoster 1.1 CSV package of any size, for load benchmarks and tests.

The package is written row by row (nothing grows with the student count but the file
sizes) and is a pure function of ``(students, seed, guardians_per_student, ...)``.

Shape: one district per ~15,000 students and one school per ~600; each student
attends one school (users.csv ``orgSourcedIds``; enrollments.csv when asked) and has
``guardians_per_student`` guardians on average, linked both ways through
``agentSourcedIds``. About one family in twenty has a guardian shared with the next
student (a sibling), so some guardians have two students. Ids are ``d<n>``, ``s<n>``,
``stu<n>``, ``g<n>``, ``t<n>``: one namespace, no collisions.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Final

__all__ = ["write_package"]

STUDENTS_PER_DISTRICT: Final = 15_000
STUDENTS_PER_SCHOOL: Final = 600
SIBLING_SHARE: Final = 0.05
"""Probability that a student's first guardian is also the next student's guardian."""

_USERS_HEADER: Final = (
    "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username", "userIds",
    "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
)  # fmt: skip
_DEMOGRAPHICS_HEADER: Final = (
    "sourcedId", "status", "dateLastModified", "birthDate", "sex", "americanIndianOrAlaskaNative", "asian",
    "blackOrAfricanAmerican", "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth", "publicSchoolResidenceStatus",
)  # fmt: skip
_ENROLLMENTS_HEADER: Final = (
    "sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary",
    "beginDate", "endDate",
)  # fmt: skip
_GIVEN: Final = ("Ana", "Ben", "Carla", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nia")
_FAMILY: Final = ("Archer", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Khan", "Lopez")
_GUARDIAN_ROLES: Final = (("parent", 0.85), ("guardian", 0.10), ("relative", 0.05))
_REFERENCE_DAY: Final = date(2025, 9, 1)
"""Ages are drawn relative to this fixed day (not today), so output never depends on the clock."""
SCHOOL_YEAR: Final = (date(2025, 8, 18), date(2026, 6, 5))
STAFF_PER_SCHOOL: Final = 2


def _role(rng: random.Random) -> str:
    x = rng.random()
    for role, p in _GUARDIAN_ROLES:
        if x < p:
            return role
        x -= p
    return _GUARDIAN_ROLES[0][0]


def write_package(
    out_dir: Path,
    *,
    students: int,
    seed: int,
    guardians_per_student: float = 1.7,
    enrollments: bool = False,
) -> dict[str, int]:
    """Write a OneRoster 1.1 bulk package (manifest, orgs, users, demographics, [enrollments]).

    Parameters
    ----------
    out_dir : Path
        Created if missing; existing package files are overwritten.
    students : int
        Number of students (>= 1).
    seed : int
        Same seed and arguments -> byte-identical files.
    guardians_per_student : float
        Mean guardians per student (>= 0): each student gets ``floor(x)`` guardians, plus
        one more with probability ``x - floor(x)``.
    enrollments : bool
        Also write enrollments.csv: one row per student at its school for the school year
        2025-08-18..2026-06-05 (endDate exclusive).

    Returns
    -------
    dict[str, int]
        Counts: districts, schools, students, guardians, staff, guardian_links (distinct
        guardian-student pairs), enrollments.

    Raises
    ------
    ValueError
        ``students < 1`` or ``guardians_per_student < 0``.
    """
    if students < 1 or guardians_per_student < 0:
        raise ValueError("students must be >= 1 and guardians_per_student >= 0")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    n_districts = max(1, round(students / STUDENTS_PER_DISTRICT))
    n_schools = max(n_districts, round(students / STUDENTS_PER_SCHOOL))
    whole, frac = int(guardians_per_student), guardians_per_student - int(guardians_per_student)
    counts = dict.fromkeys(("districts", "schools", "students", "guardians", "staff", "guardian_links", "enrollments"), 0)

    with (out_dir / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("propertyName", "value"))
        w.writerows(
            [("manifest.version", "1.0"), ("oneroster.version", "1.1"), ("source.systemName", "needtoknow synthetic"),
             ("file.academicSessions", "absent"), ("file.orgs", "bulk"), ("file.courses", "absent"), ("file.classes", "absent"),
             ("file.users", "bulk"), ("file.enrollments", "bulk" if enrollments else "absent"), ("file.demographics", "bulk"),
             ("file.resources", "absent"), ("file.classResources", "absent"), ("file.courseResources", "absent"),
             ("file.categories", "absent"), ("file.lineItems", "absent"), ("file.results", "absent")]
        )  # fmt: skip

    with (out_dir / "orgs.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"))
        for d in range(n_districts):
            w.writerow((f"d{d}", "", "", f"Synthetic District {d}", "district", "", ""))
        for s in range(n_schools):
            w.writerow((f"s{s}", "", "", f"Synthetic School {s}", "school", "", f"d{s % n_districts}"))
    counts["districts"], counts["schools"] = n_districts, n_schools

    users_f = (out_dir / "users.csv").open("w", newline="", encoding="utf-8")
    demo_f = (out_dir / "demographics.csv").open("w", newline="", encoding="utf-8")
    enr_path = out_dir / "enrollments.csv"
    if not enrollments and enr_path.exists():
        enr_path.unlink()
    enr_f = enr_path.open("w", newline="", encoding="utf-8") if enrollments else None
    try:
        users, demo = csv.writer(users_f), csv.writer(demo_f)
        users.writerow(_USERS_HEADER)
        demo.writerow(_DEMOGRAPHICS_HEADER)
        enr = csv.writer(enr_f) if enr_f is not None else None
        if enr is not None:
            enr.writerow(_ENROLLMENTS_HEADER)
        for s in range(n_schools):
            for k in range(STAFF_PER_SCHOOL):
                role = "administrator" if k == 0 else "teacher"
                users.writerow(_user(f"t{s}_{k}", f"s{s}", role, rng.choice(_GIVEN), rng.choice(_FAMILY), ""))
                counts["staff"] += 1
        next_guardian = 0
        carried: str | None = None  # a guardian of the previous student shared with this one (sibling)
        for i in range(students):
            sid, school = f"stu{i}", f"s{i * n_schools // students}"
            family = rng.choice(_FAMILY)
            own = [f"g{next_guardian + k}" for k in range(whole + (1 if rng.random() < frac else 0))]
            next_guardian += len(own)
            share_next = bool(own) and i + 1 < students and rng.random() < SIBLING_SHARE
            agents = own + ([carried] if carried else [])
            age = rng.randrange(5, 19)
            birth = _REFERENCE_DAY - timedelta(days=age * 365 + rng.randrange(365))
            users.writerow(_user(sid, school, "student", rng.choice(_GIVEN), family, ",".join(agents), grade=str(min(12, max(0, age - 5)))))
            demo.writerow((sid, "", "", birth.isoformat(), *[""] * (len(_DEMOGRAPHICS_HEADER) - 4)))
            if enr is not None:
                enr.writerow((f"e{i}", "", "", "", school, sid, "student", "", SCHOOL_YEAR[0].isoformat(), SCHOOL_YEAR[1].isoformat()))
                counts["enrollments"] += 1
            for k, gid in enumerate(own):
                students_of = sid + (f",stu{i + 1}" if share_next and k == 0 else "")
                users.writerow(_user(gid, school, _role(rng), rng.choice(_GIVEN), family, students_of))
            counts["guardian_links"] += len(agents)
            carried = own[0] if share_next else None
            counts["students"] += 1
        counts["guardians"] = next_guardian
    finally:
        users_f.close()
        demo_f.close()
        if enr_f is not None:
            enr_f.close()
    return counts


def _user(sourced_id: str, org: str, role: str, given: str, family: str, agents: str, grade: str = "") -> tuple[str, ...]:
    return (sourced_id, "", "", "true", org, role, "", "", given, family, "", "", "", "", "", agents, grade, "")
