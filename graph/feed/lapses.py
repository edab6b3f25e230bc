"""The instants at which a pair's decision may change with no write (pure).

Every datetime a rule compares ``at`` with is a candidate: each record's interval
(``valid_from``, ``valid_to``), a consent's ``signed_at``, ``effective_from``,
``expires_at`` and ``revoked_at``, a training's or agreement's expiry, the instant a
record's later version takes effect, and the local midnight on which the student turns
the policy's eligibility age (DOMAIN.md, "Time semantics"; `graph.decide.is_eligible_student`).
Collecting them all, rather than the ones a rule is known to read, keeps the scheduler
right when a rule changes: an instant at which nothing changes costs one decision and
yields no event.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graph.evidence import Evidence
from graph.model import Student
from graph.policy import Policy

__all__ = ["birthday_instant", "lapse_instants", "record_datetimes"]


_TIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _time_fields(cls: type) -> tuple[str, ...]:
    """Names of a record class's fields that may hold a datetime (from its type hints; cached)."""
    names = _TIME_FIELDS.get(cls)
    if names is None:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
            names = tuple(f.name for f in dataclasses.fields(cls) if "datetime" in str(hints.get(f.name, "")).lower())
        except (NameError, TypeError):  # unresolvable hints: look at every field
            names = tuple(f.name for f in dataclasses.fields(cls))
        _TIME_FIELDS[cls] = names
    return names


def record_datetimes(record: Any) -> Iterator[datetime]:
    """The datetime values a record (node or edge dataclass) holds; nothing for None."""
    if record is None or not dataclasses.is_dataclass(record):
        return
    for name in _time_fields(type(record)):
        value = getattr(record, name, None)
        if isinstance(value, datetime):
            yield value


def birthday_instant(student: Student, policy: Policy) -> datetime | None:
    """The instant (aware UTC) the student reaches ``policy.eligibility_age`` on their local date.

    A 29 February birthday turns over on 28 February in non-leap years (`graph.timeutil.age_on`).
    None without a birth date or with an unknown time zone.
    """
    born = student.birth_date
    if born is None:
        return None
    year = born.year + policy.eligibility_age
    try:
        day = date(year, born.month, born.day)
    except ValueError:  # 29 February in a non-leap year
        day = date(year, 2, 28)
    try:
        zone = ZoneInfo(student.time_zone or policy.default_time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def lapse_instants(evidence: Evidence, policy: Policy, after: datetime | None = None) -> set[datetime]:
    """Every instant, strictly after `after` when given, at which `evidence` may decide differently.

    Parameters
    ----------
    evidence : Evidence
        As gathered for one (provider, student) pair.
    policy : Policy
        For the eligibility age and the default time zone.
    after : datetime, optional
        Aware; instants at or before it are left out.

    Returns
    -------
    set of datetime
        Aware UTC instants.
    """
    records: list[Any] = [evidence.provider, evidence.student]
    edges: Iterable[Any] = (
        *evidence.employments,
        *evidence.works_in,
        *evidence.trainings,
        *(a.edge for a in (*evidence.agreements, *evidence.partner_agreements)),
        *(a.agreement for a in (*evidence.agreements, *evidence.partner_agreements)),
        *evidence.memberships,
        *evidence.services,
        *evidence.attends,
        *evidence.school_locations,
        *evidence.lives_in,
        *evidence.guardian_links,
        *evidence.restrictions,
    )
    records.extend(edges)
    for c in evidence.consents:
        records.extend((c.consent, *c.about, *c.given_by, *c.permits))
    found: set[datetime] = set()
    for record in records:
        found.update(record_datetimes(record))
    for versions in (*evidence.node_history.values(), *evidence.edge_history.values()):
        for effective, record in versions:
            if effective is not None:
                found.add(effective)
            found.update(record_datetimes(record))
    if isinstance(evidence.student, Student) and (birthday := birthday_instant(evidence.student, policy)) is not None:
        found.add(birthday)
    return {t for t in found if after is None or t > after}
