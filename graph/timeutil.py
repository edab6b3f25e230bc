"""Time in the engine: aware UTC datetimes and half-open intervals.

Every function takes `at`; nothing here calls `now()` except `utcnow`, which only the
edges (CLI, API, engine clock) use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graph.errors import InvalidTime, NaiveDatetimeError

__all__ = [
    "DEFAULT_TIME_ZONE",
    "MAX_INSTANT",
    "MIN_INSTANT",
    "Interval",
    "LocalDates",
    "age_on",
    "check_instant",
    "ensure_aware",
    "local_date",
    "parse_date",
    "parse_datetime",
    "parse_instant",
    "to_iso",
    "utcnow",
    "zone",
]

MIN_INSTANT: Final = datetime(1900, 1, 1, tzinfo=UTC)
MAX_INSTANT: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""The instants a question may be about: ``[MIN_INSTANT, MAX_INSTANT)``. Far enough either
way for any record, and far from ``datetime``'s own limits, so the engine's time arithmetic
(look-backs, ages, local dates) can never overflow."""


DEFAULT_TIME_ZONE: Final = "America/Denver"
"""The partnership's time zone when none is configured (DOMAIN.md, "Time semantics")."""

_DATE_ONLY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def ensure_aware(value: datetime) -> datetime:
    """Return `value` converted to UTC.

    Raises
    ------
    NaiveDatetimeError
        `value` has no UTC offset.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(value)
    try:
        return value.astimezone(UTC)
    except OverflowError as err:  # year 1 with a positive offset, year 9999 with a negative one
        raise InvalidTime(f"time out of range: {value.isoformat()}") from err


def check_instant(value: datetime) -> datetime:
    """`value` in UTC when it lies in ``[MIN_INSTANT, MAX_INSTANT)``: the check every question's time passes.

    Raises
    ------
    NaiveDatetimeError
        `value` has no UTC offset.
    InvalidTime
        Outside the range (or beyond what a datetime can hold in UTC).
    """
    utc = ensure_aware(value)
    if not MIN_INSTANT <= utc < MAX_INSTANT:
        raise InvalidTime(f"time out of range: {to_iso(utc)} (times from {to_iso(MIN_INSTANT)} until {to_iso(MAX_INSTANT)} are accepted)")
    return utc


def parse_datetime(text: str) -> datetime:
    """Parse ISO 8601 text with an offset (``2025-01-06T09:00:00Z``) to an aware UTC datetime.

    Raises
    ------
    NaiveDatetimeError
        The text has no offset.
    InvalidTime
        The text is not ISO 8601.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise InvalidTime(f"not an ISO 8601 time: {text!r}") from err
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(text.strip())
    return ensure_aware(value)


def parse_instant(text: str, time_zone: str = DEFAULT_TIME_ZONE) -> datetime:
    """Like `parse_datetime`, but a bare date (``2026-01-20``) is local 00:00 of that day in `time_zone`.

    For people typing a time (the CLI's ``--at``); the API keeps refusing anything without an offset.

    Raises
    ------
    NaiveDatetimeError
        A time of day without an offset.
    InvalidTime
        Not ISO 8601, or an unknown time zone.
    """
    if _DATE_ONLY.match(text.strip()):
        return LocalDates(time_zone).start(parse_date(text))
    return parse_datetime(text)


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` (exactly) to a date.

    Raises
    ------
    InvalidTime
        Not a ``YYYY-MM-DD`` calendar date.
    """
    value = text.strip()
    if not _DATE_ONLY.match(value):
        raise InvalidTime(f"not a date (YYYY-MM-DD): {text!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise InvalidTime(f"not a date (YYYY-MM-DD): {text!r} ({err})") from err


@lru_cache(maxsize=64)
def zone(tz_name: str) -> ZoneInfo:
    """The IANA zone `tz_name`.

    Raises
    ------
    InvalidTime
        Unknown time zone.
    """
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidTime(f"unknown time zone {tz_name!r}") from err


@dataclass(frozen=True, slots=True)
class LocalDates:
    """Dates without a time of day, read as calendar days in one time zone (DOMAIN.md, "Time semantics").

    The one conversion every loader uses: a date names a calendar day in the partnership's
    zone, never a UTC day. ``start(d)`` is the first instant of day `d` there (local 00:00;
    if a DST change skips midnight, the first instant that exists); ``after(d)`` is the first
    instant of the next day, the end of an *inclusive* end date (FHIR ``Period.end``, a
    training's last valid day); an *exclusive* end date (OneRoster enrolment ``endDate``, an
    exit date as the first day away) ends at ``start(d)``. All results are aware UTC; a
    local day is 23, 24 or 25 hours long across DST changes.

    Raises
    ------
    InvalidTime
        Unknown time zone (at construction).
    """

    time_zone: str = DEFAULT_TIME_ZONE
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _cache: dict[date, datetime] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", zone(self.time_zone))
        object.__setattr__(self, "_cache", {})

    def start(self, day: date) -> datetime:
        """First instant of `day` in the zone (local 00:00), as aware UTC."""
        hit = self._cache.get(day)
        if hit is None:
            # fold=0 on a wall time that a spring-forward gap skips lands on the instant of the
            # change: the first instant of the local day (zones whose clocks jump at midnight).
            hit = datetime(day.year, day.month, day.day, tzinfo=self._zone).astimezone(UTC)
            if len(self._cache) < 100_000:
                self._cache[day] = hit
        return hit

    def after(self, day: date) -> datetime:
        """First instant of the day after `day` (the end of an inclusive end date), as aware UTC."""
        return self.start(day + ONE_DAY)

    def end(self, day: date, *, inclusive: bool) -> datetime:
        """The end instant of an end date: `after(day)` when `inclusive`, else `start(day)`."""
        return self.after(day) if inclusive else self.start(day)

    def day_of(self, at: datetime) -> date:
        """The local calendar day of the instant `at` (aware)."""
        return ensure_aware(at).astimezone(self._zone).date()


def to_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a 'Z', or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Interval:
    """Half-open ``[start, end)``; ``end=None`` means still open.

    Both ends are aware datetimes (NaiveDatetimeError otherwise).
    """

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t is not None and (t.tzinfo is None or t.utcoffset() is None):
                raise NaiveDatetimeError(t)
        if self.end is not None and self.end < self.start:
            raise InvalidTime(f"interval ends ({to_iso(self.end)}) before it starts ({to_iso(self.start)})")

    def contains(self, at: datetime) -> bool:
        """True when ``start <= at < end``."""
        return self.start <= at and (self.end is None or at < self.end)

    def ended_by(self, at: datetime) -> bool:
        """True when the interval closed at or before `at`."""
        return self.end is not None and self.end <= at

    def starts_after(self, at: datetime) -> bool:
        """True when the interval has not begun at `at`."""
        return at < self.start


def local_date(at: datetime, tz_name: str) -> date:
    """The calendar date of `at` in the time zone `tz_name` (IANA name).

    Raises
    ------
    InvalidTime
        Unknown time zone.
    """
    return ensure_aware(at).astimezone(zone(tz_name)).date()


def age_on(birth_date: date, on: date) -> int:
    """Completed years of age on `on`.

    A 29 February birthday turns over on 28 February in non-leap years (DOMAIN.md,
    *policy*, conservative: the earlier day).
    """
    years = on.year - birth_date.year
    bday_month, bday_day = birth_date.month, birth_date.day
    if (bday_month, bday_day) == (2, 29):
        try:
            date(on.year, 2, 29)
        except ValueError:
            bday_day = 28
    if (on.month, on.day) < (bday_month, bday_day):
        years -= 1
    return years


ONE_DAY = timedelta(days=1)
