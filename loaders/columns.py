"""What each CSV file of a format may hold, and how a near-miss name is recognised.

A required or relationship-bearing column (or file) present under another case or a
near-miss spelling (``agentSourcedId`` for ``agentSourcedIds``, ``Users.csv`` for
``users.csv``) is an error naming what was expected and what was found: read literally it
would load silently without the relationships it carries (issue 11, "Silent success").
Columns a file defines but the loader does not read are fine; any other column is listed
in one warning per file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["ONEROSTER", "SDS", "Columns", "near_miss"]

_NOT_ALNUM: Final = re.compile(r"[^a-z0-9]")


def _fold(name: str) -> str:
    return _NOT_ALNUM.sub("", name.lower())


def near_miss(expected: str, found: Iterable[str], cutoff: float = 0.85) -> str | None:
    """The name in `found` that is `expected` under another case, separators or a small typo.

    ``None`` when none is close (difflib ratio of the case-folded names below `cutoff`).
    An exact match is not a near miss.
    """
    want = _fold(expected)
    best, score = None, cutoff
    for name in found:
        if name == expected:
            continue
        got = _fold(name)
        if got == want:
            return name
        ratio = difflib.SequenceMatcher(None, want, got).ratio()
        if ratio >= score:
            best, score = name, ratio
    return best


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns one CSV file of a format defines.

    ``known``: every column the format defines for the file (read or not). ``relations``:
    optional columns that carry relationships or dates we keep (a near miss of one is an
    error, as for a required column).
    """

    known: frozenset[str]
    relations: frozenset[str] = frozenset()


def _c(known: str, relations: str = "") -> Columns:
    return Columns(frozenset(known.split()), frozenset(relations.split()))


_OR_COMMON: Final = "sourcedId status dateLastModified metadata"
ONEROSTER: Final[dict[str, Columns]] = {
    "manifest.csv": _c("propertyName value"),
    "orgs.csv": _c(f"{_OR_COMMON} name type identifier parentSourcedId", "parentSourcedId"),
    "users.csv": _c(
        f"{_OR_COMMON} enabledUser orgSourcedIds role username userIds givenName familyName middleName identifier "
        "email sms phone agentSourcedIds grades password userMasterIdentifier resourceSourcedIds preferredGivenName "
        "preferredMiddleName preferredFamilyName primaryOrgSourcedId pronouns",
        "agentSourcedIds orgSourcedIds",
    ),
    "enrollments.csv": _c(
        f"{_OR_COMMON} classSourcedId schoolSourcedId userSourcedId role primary beginDate endDate", "beginDate endDate"
    ),
    "roles.csv": _c(f"{_OR_COMMON} userSourcedId roleType role beginDate endDate orgSourcedId userProfileSourcedId", "beginDate endDate"),
    "demographics.csv": _c(
        f"{_OR_COMMON} userSourcedId birthDate sex americanIndianOrAlaskaNative asian blackOrAfricanAmerican "
        "nativeHawaiianOrOtherPacificIslander white demographicRaceTwoOrMoreRaces hispanicOrLatinoEthnicity "
        "countryOfBirthCode stateOfBirthAbbreviation cityOfBirth publicSchoolResidenceStatus",
        "birthDate",
    ),
}
"""OneRoster 1.1 / 1.2 CSV binding: the files the loader reads (others are not opened)."""

SDS: Final[dict[str, Columns]] = {
    "orgs.csv": _c("sourcedId name type parentSourcedId", "parentSourcedId"),
    "users.csv": _c("sourcedId username familyName givenName middleName password activeDirectoryMatchId email phone sms"),
    "roles.csv": _c(
        "userSourcedId orgSourcedId role sessionSourcedId grade isPrimary roleStartDate roleEndDate", "roleStartDate roleEndDate"
    ),
    "relationships.csv": _c("userSourcedId relationshipUserSourcedId relationshipRole"),
    "demographics.csv": _c(
        "userSourcedId sex birthDate birthCity birthState birthCountry ethnicityCodes raceCodes", "birthDate"
    ),
    "classes.csv": _c("sourcedId orgSourcedId title sessionSourcedIds courseSourcedId code subject periods"),
    "enrollments.csv": _c("classSourcedId userSourcedId role"),
}
"""SDS v2.1 CSV: the files the loader reads."""
