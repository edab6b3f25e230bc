"""Time in the engine: aware UTC datetimes and half-open intervals.

Every function takes `at`; nothing here calls `now()` except `utcnow`, which only the
edges (CLI, API, engine clock) use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graph.errors import InvalidTime, NaiveDatetimeError

__all__ = [
    "MAX_INSTANT",
    "MIN_INSTANT",
    "Interval",
    "age_on",
    "check_instant",
    "ensure_aware",
    "local_date",
    "parse_datetime",
    "to_iso",
    "utcnow",
]

MIN_INSTANT: Final = datetime(1900, 1, 1, tzinfo=UTC)
MAX_INSTANT: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""The instants a question may be about: ``[MIN_INSTANT, MAX_INSTANT)``. Far enough either
way for any record, and far from ``datetime``'s own limits, so the engine's time arithmetic
(look-backs, ages, local dates) can never overflow."""


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
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidTime(f"unknown time zone {tz_name!r}") from err
    return ensure_aware(at).astimezone(zone).date()


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
