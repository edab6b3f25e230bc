"""The demo's dated records, written relative to the day the demo is built.

The story (api/demo/README.md) is told in days from today and from the start of the
current school year, so `needtoknow demo` answers sensibly on whatever day it runs: the
school year is the current one, consents and trainings are current, a few expire within
the month, and a few have lapsed. `DemoCalendar.of(now)` fixes every date; `write_bundle`
writes the bundle's dated files (consents, the students' restated birth dates, and every
edge) next to the undated ones kept in ``api/demo/bundle/``.

Dates are calendar days in the partnership's time zone (America/Denver, the policy's
default), turned into UTC instants the way the bundle format expects (docs/bundle.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from graph.timeutil import ensure_aware, to_iso

__all__ = ["LOCAL_ZONE", "DemoCalendar", "dated_records", "write_bundle"]

LOCAL_ZONE: Final = ZoneInfo("America/Denver")
"""The partnership's time zone (the policy's default): a date means a day there."""

SCHOOL_YEAR_START: Final = (8, 15)
"""Month and day the school year starts (15 August)."""

CONSENT_END: Final = (6, 30)
"""Month and day the school-year consents end (30 June)."""

MIN_HISTORY_DAYS: Final = 100
"""The story's first events lie at least this many days before today, even in August."""

MIN_CONSENT_LEFT_DAYS: Final = 45
"""A school-year consent that would end sooner than this runs to the next 30 June instead."""


def _years_before(d: date, years: int) -> date:
    """`d` moved back `years` years (29 February becomes 28 February)."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


@dataclass(frozen=True, slots=True)
class DemoCalendar:
    """Every date of the demo story, fixed by the instant the demo is built.

    Attributes
    ----------
    now : datetime
        Aware UTC: when the demo was built; the example decisions are asked at this instant.
    today : date
        `now`'s local date (America/Denver).
    year_start : date
        First day (15 August) of the school year `today` falls in.
    opened : date
        Where the story begins: `year_start`, or `MIN_HISTORY_DAYS` before today if that
        is earlier (so that early in the school year there is still a history).
    consents_end : date
        The 30 June school-year consents end on (at least `MIN_CONSENT_LEFT_DAYS` away).
    """

    now: datetime
    today: date
    year_start: date
    opened: date
    consents_end: date

    @classmethod
    def of(cls, now: datetime) -> DemoCalendar:
        """The calendar of a demo built at `now` (aware; naive raises `NaiveDatetimeError`)."""
        now = ensure_aware(now).astimezone(UTC).replace(microsecond=0)
        today = now.astimezone(LOCAL_ZONE).date()
        start_year = today.year if (today.month, today.day) >= SCHOOL_YEAR_START else today.year - 1
        year_start = date(start_year, *SCHOOL_YEAR_START)
        opened = min(year_start, today - timedelta(days=MIN_HISTORY_DAYS))
        consents_end = date(start_year + 1, *CONSENT_END)
        if consents_end < today + timedelta(days=MIN_CONSENT_LEFT_DAYS):
            consents_end = date(start_year + 2, *CONSENT_END)
        return cls(now=now, today=today, year_start=year_start, opened=opened, consents_end=consents_end)

    @property
    def school_year(self) -> str:
        """The school year as staff write it, e.g. ``2026-27``."""
        return f"{self.year_start.year}-{(self.year_start.year + 1) % 100:02d}"

    def day(self, d: date, hour: int = 0) -> datetime:
        """Local `hour`:00 on day `d`, as an aware UTC instant."""
        return datetime.combine(d, time(hour), tzinfo=LOCAL_ZONE).astimezone(UTC)

    def ago(self, days: int, hour: int = 9) -> datetime:
        """Local `hour`:00, `days` days before today (negative: after), in UTC."""
        return self.day(self.today - timedelta(days=days), hour)

    def after_opening(self, days: int, hour: int = 9) -> datetime:
        """Local `hour`:00, `days` days after the story opens, in UTC."""
        return self.day(self.opened + timedelta(days=days), hour)

    def birth_date(self, years: int, days_since_birthday: int) -> date:
        """Birth date of someone who turned `years` `days_since_birthday` days before today."""
        return _years_before(self.today - timedelta(days=days_since_birthday), years)


def _iso(t: datetime) -> str:
    return to_iso(t) or ""


def dated_records(cal: DemoCalendar) -> dict[str, list[dict[str, Any]]]:
    """The bundle's dated files: file stem (``Consent``, ``SERVES`` ...) -> JSON Lines records.

    The story of api/demo/README.md, re-dated: revocation two weeks ago, Jordan's
    training lapsed six weeks ago, Marcus's training and the care-team consent ending
    within the month, everything else current for the school year.
    """
    opened = cal.after_opening(0, 0)
    o = cal.after_opening
    end = _iso(cal.day(cal.consents_end))
    soon = _iso(cal.day(cal.today + timedelta(days=21)))  # the care-team consent: renewal due
    two_years = cal.day(cal.opened + timedelta(days=730), 11)

    def edge(kind: str, eid: str, a: str, b: str, valid_from: datetime, **more: Any) -> dict[str, Any]:
        return {"id": eid, "from_id": a, "to_id": b, "valid_from": _iso(valid_from), **more, "source": "demo"}

    both = ["academic_support", "case_management"]
    ag = ["attendance", "grades"]
    consents = [
        ("604938", "demo-cns-604938", 18, end, None, ["academic_support"], ag, "wet_ink"),
        ("604918", "demo-cns-604918-parent", 19, end, None, both, ag, "wet_ink"),
        ("604874", "demo-cns-604874", 18, end, None, ["academic_support"], ag, "wet_ink"),
        (
            "604969",
            "demo-cns-604969",
            21,
            None,
            _iso(cal.ago(14, 8)),
            both,
            ag,
            "wet_ink",
        ),
        (
            "605015",
            "demo-cns-605015",
            20,
            soon,
            None,
            both,
            ["attendance", "grades", "health"],
            "wet_ink",
        ),
    ]
    signer = {"604938": "778399", "604918": "777901", "604874": "779044", "604969": "777981", "605015": "777810"}
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in ("Consent", "ABOUT", "GIVEN_BY", "PERMITS")}
    for student, cid, signed_day, expires, revoked, purposes, categories, method in consents:
        signed = o(signed_day, 10)
        rec: dict[str, Any] = {"id": cid, "status": "active", "consent_kind": "permit", "signed_at": _iso(signed)}
        if expires is not None:
            rec["expires_at"] = expires
        if revoked is not None:
            rec["revoked_at"] = revoked
        out["Consent"].append({**rec, "purposes": purposes, "categories": categories, "signature_method": method})
        suffix = cid.removeprefix("demo-cns-")
        out["ABOUT"].append(edge("ABOUT", f"demo-about-{suffix}", cid, student, signed))
        out["GIVEN_BY"].append(edge("GIVEN_BY", f"demo-given-{suffix}", cid, signer[student], signed))
        out["PERMITS"].append(edge("PERMITS", f"demo-permits-{suffix}", cid, "19255901", signed))
    # 604918 turned 18 six weeks ago and signed her own consent a fortnight later.
    own = cal.ago(30, 10)
    out["Consent"].append(
        {
            "id": "demo-cns-604918-self",
            "status": "active",
            "consent_kind": "permit",
            "signed_at": _iso(own),
            "expires_at": end,
            "purposes": ["academic_support"],
            "categories": ["attendance", "grades", "assessments"],
            "signature_method": "electronic",
        }
    )
    out["ABOUT"].append(edge("ABOUT", "demo-about-604918-self", "demo-cns-604918-self", "604918", own))
    out["GIVEN_BY"].append(edge("GIVEN_BY", "demo-given-604918-self", "demo-cns-604918-self", "604918", own))
    out["PERMITS"].append(edge("PERMITS", "demo-permits-604918-self", "demo-cns-604918-self", "prg-demo-mentoring", own))
    out["PERMITS"].append(edge("PERMITS", "demo-permits-604938-pfs", "demo-cns-604938", "hsds-org:1", o(18, 10)))

    # The samples' students were all born in 2008; the story needs minors and one who just turned 18.
    out["Student"] = [
        {"id": "604938", "birth_date": cal.birth_date(17, 60).isoformat()},
        {"id": "604918", "birth_date": cal.birth_date(18, 44).isoformat()},
        {"id": "604874", "birth_date": cal.birth_date(16, 120).isoformat()},
        {"id": "604969", "birth_date": cal.birth_date(15, 200).isoformat()},
        {"id": "605015", "birth_date": cal.birth_date(16, 30).isoformat()},
    ]
    enrolled = cal.after_opening(3, 0)
    out["ATTENDS"] = [
        {
            **edge("ATTENDS", f"demo-attends-{s}", s, "255901001", enrolled),
            "source": f"demo: enrolled for the {cal.school_year} school year",
        }
        for s in ("604863", "604874", "604918", "604927", "604938", "604969", "604974", "605015")
    ]
    out["GUARDIAN_OF"] = [
        {
            **edge("GUARDIAN_OF", f"guardian_of:{g}:{s}", g, s, opened, relationship="parent", ferpa_rights="full"),
            "source": "demo: verified by the school office",
        }
        for s, g in (("604938", "778399"), ("604918", "777901"), ("604969", "777981"), ("605015", "777810"))
    ]
    out["LOCATED_IN"] = [edge("LOCATED_IN", f"demo-loc-{s}", s, "com-grand-bend", opened) for s in ("255901001", "255901044", "255901107")]
    staff = {"rosa": "19255901", "marcus": "19255901", "jordan": "hsds-org:1", "lee": "19255901"}
    out["EMPLOYED_BY"] = [edge("EMPLOYED_BY", f"demo-emp-{p}", f"demo-prv-{p}", ptn, opened) for p, ptn in staff.items()]
    works = {"rosa": "com-grand-bend", "marcus": "com-grand-bend", "jordan": "community:east-palo-alto", "lee": "com-grand-bend"}
    out["WORKS_IN"] = [edge("WORKS_IN", f"demo-works-{p}", f"demo-prv-{p}", com, opened) for p, com in works.items()]
    out["MEMBER_OF"] = [edge("MEMBER_OF", f"demo-member-{p}", f"demo-prv-{p}", "team-demo-care", opened) for p in ("rosa", "marcus")]
    out["OFFERS"] = [edge("OFFERS", "demo-offers-mentoring", "19255901", "prg-demo-mentoring", opened)]
    out["SERVES_AREA"] = [edge("SERVES_AREA", "demo-area-mentoring", "prg-demo-mentoring", "com-grand-bend", opened)]
    out["SIGNED"] = [
        edge("SIGNED", "demo-signed-rosa", "demo-prv-rosa", "agr-confidentiality-v2", o(-5, 11)),
        edge("SIGNED", "demo-signed-marcus", "demo-prv-marcus", "agr-confidentiality-v2", o(-3, 11)),
        edge("SIGNED", "demo-signed-jordan", "demo-prv-jordan", "agr-confidentiality-v2", o(-3, 11)),
        edge("SIGNED", "demo-signed-lee", "demo-prv-lee", "agr-confidentiality-v1", o(-350, 11)),
        edge("SIGNED", "demo-signed-cis", "19255901", "agr-data-sharing-v1", o(-45, 11)),
        edge("SIGNED", "demo-signed-pfs", "hsds-org:1", "agr-data-sharing-v1", o(-45, 11)),
    ]
    out["TRAINED"] = [
        edge("TRAINED", "demo-trained-rosa", "demo-prv-rosa", "crs-ferpa_basics", o(-5, 11), valid_to=_iso(two_years)),
        # Marcus's certificate runs out in 20 days: current today, on the "expiring" list.
        edge("TRAINED", "demo-trained-marcus", "demo-prv-marcus", "crs-ferpa_basics", o(-3, 11), valid_to=_iso(cal.ago(-20, 11))),
        # Jordan's lapsed six weeks ago.
        edge(
            "TRAINED", "demo-trained-jordan", "demo-prv-jordan", "crs-ferpa_basics", cal.ago(45 + 365, 11), valid_to=_iso(cal.ago(45, 11))
        ),
        edge("TRAINED", "demo-trained-lee", "demo-prv-lee", "crs-ferpa_basics", o(5, 11), valid_to=_iso(two_years)),
    ]
    serve_from = o(24, 9)
    mentoring = {"program": "prg-demo-mentoring", "status": "active"}
    out["SERVES"] = [
        edge(
            "SERVES",
            "demo-serves-rosa-604938",
            "demo-prv-rosa",
            "604938",
            serve_from,
            categories_needed=[*ag, "assessments"],
            **mentoring,
        ),
        edge(
            "SERVES",
            "demo-serves-rosa-604918",
            "demo-prv-rosa",
            "604918",
            serve_from,
            categories_needed=ag,
            **mentoring,
        ),
        edge("SERVES", "demo-serves-marcus-604918", "demo-prv-marcus", "604918", serve_from, categories_needed=["attendance"], **mentoring),
        edge(
            "SERVES",
            "demo-serves-rosa-604874",
            "demo-prv-rosa",
            "604874",
            serve_from,
            categories_needed=ag,
            **mentoring,
        ),
        edge(
            "SERVES",
            "demo-serves-marcus-604969",
            "demo-prv-marcus",
            "604969",
            serve_from,
            categories_needed=ag,
            **mentoring,
        ),
        edge(
            "SERVES",
            "demo-serves-team-605015",
            "team-demo-care",
            "605015",
            serve_from,
            categories_needed=ag,
            **mentoring,
        ),
        edge(
            "SERVES",
            "demo-serves-jordan-604938",
            "demo-prv-jordan",
            "604938",
            serve_from,
            categories_needed=["attendance"],
            status="active",
        ),
        edge("SERVES", "demo-serves-lee-604938", "demo-prv-lee", "604938", serve_from, categories_needed=["grades"], **mentoring),
    ]
    return out


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")


def write_bundle(cal: DemoCalendar, out: Path) -> Path:
    """Write the dated part of the demo bundle into the directory `out` (emptied of ``*.jsonl`` first); return `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jsonl"):
        old.unlink()
    for stem, rows in dated_records(cal).items():
        _write_jsonl(out / f"{stem}.jsonl", rows)
    return out
