"""graph.timeutil.LocalDates and parse_instant: calendar days in a zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from graph.errors import InvalidTime, NaiveDatetimeError
from graph.timeutil import LocalDates, parse_instant


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_start_and_inclusive_end_in_denver() -> None:
    d = LocalDates()  # America/Denver
    assert d.start(date(2026, 1, 20)) == utc(2026, 1, 20, 7)  # MST -07:00
    assert d.start(date(2026, 7, 1)) == utc(2026, 7, 1, 6)  # MDT -06:00
    assert d.after(date(2026, 1, 19)) == d.start(date(2026, 1, 20))
    assert d.end(date(2026, 1, 20), inclusive=False) == utc(2026, 1, 20, 7)
    assert d.end(date(2026, 1, 20), inclusive=True) == utc(2026, 1, 21, 7)


def test_dst_days_are_23_and_25_hours_long() -> None:
    d = LocalDates("America/Denver")
    spring, fall = date(2026, 3, 8), date(2026, 11, 1)
    assert d.start(spring) == utc(2026, 3, 8, 7) and d.after(spring) == utc(2026, 3, 9, 6)
    assert (d.after(spring) - d.start(spring)).total_seconds() == 23 * 3600
    assert d.start(fall) == utc(2026, 11, 1, 6) and d.after(fall) == utc(2026, 11, 2, 7)
    assert (d.after(fall) - d.start(fall)).total_seconds() == 25 * 3600
    assert d.day_of(utc(2026, 3, 8, 6, 59)) == date(2026, 3, 7)


def test_a_day_whose_midnight_does_not_exist_starts_at_the_change() -> None:
    # Chile moved clocks from 00:00 to 01:00 on 2024-09-08: the day begins at 01:00 -03:00 (04:00Z).
    d = LocalDates("America/Santiago")
    assert d.start(date(2024, 9, 8)) == utc(2024, 9, 8, 4)
    assert d.day_of(d.start(date(2024, 9, 8))) == date(2024, 9, 8)


def test_unknown_zone_is_an_error() -> None:
    with pytest.raises(InvalidTime, match="unknown time zone"):
        LocalDates("Mars/Olympus_Mons")


def test_parse_instant_reads_a_bare_date_as_local_midnight() -> None:
    assert parse_instant("2026-01-20") == utc(2026, 1, 20, 7)
    assert parse_instant("2026-01-20", "Pacific/Honolulu") == utc(2026, 1, 20, 10)
    assert parse_instant("2026-01-20T00:00:00Z") == utc(2026, 1, 20)
    with pytest.raises(NaiveDatetimeError):
        parse_instant("2026-01-20T09:00:00")
    with pytest.raises(InvalidTime):
        parse_instant("2026-02-30")
