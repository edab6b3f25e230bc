"""Expected instants for dates without a time of day: local 00:00 in the partnership's zone.

Written with zoneinfo directly (not `graph.timeutil.LocalDates`), so the tests check the
loaders' conversion rather than repeat it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

ZONE = "America/Denver"


def local(y: int, mo: int, d: int, tz: str = ZONE) -> datetime:
    """Local 00:00 of the day y-mo-d in `tz`, as aware UTC."""
    return datetime(y, mo, d, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_day(text: str, tz: str = ZONE) -> datetime:
    """`local` of a ``YYYY-MM-DD`` text."""
    y, mo, d = (int(p) for p in text.split("-"))
    return local(y, mo, d, tz)
