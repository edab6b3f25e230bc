# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""The family's side (DOMAIN.md, "Families: transparency and consent"): the guardian and student roles.

Queries: ``myStudents`` (each student the caller is linked to, with their standing in
words), ``myConsents``, ``familyDisclosures`` (the record of disclosures, newest first,
in pages), ``consentChoices`` (what a new consent may name). The transparency report
itself is ``providersWithAccess``. Mutations: ``giveConsent`` and ``revokeMyConsent``, thin
resolvers over `graph.commands.give_consent` and `graph.commands.revoke_consent`, which
check the signer's authority inside the write transaction.

No oracle: a student that is not the caller's reads exactly like one that does not exist
(FORBIDDEN for the queries, ``NOT_YOURS`` for giveConsent, ``not_found`` for a consent).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Final

import strawberry
from strawberry.types import Info

from api.errors import BadInput, Forbidden
from api.roles import NO_ID, Principal, Role, employers_of, family_standing, require
from api.schema.context import Context
from api.schema.types import ConsentType, from_node
from graph.commands.give_consent import MAX_TERM
from graph.family import MESSAGES, Standing
from graph.ids import check_id
from graph.model import EdgeKind, Partner, Program, Provider, Student
from graph.timeutil import LocalDates, parse_datetime

__all__ = [
    "FAMILY_PURPOSES",
    "LANGUAGES",
    "TEXT_VERSION",
    "ConsentReceipt",
    "ConsentRefused",
    "FamilyQuery",
    "StandingEnum",
    "family_caller",
    "identity_of",
    "recipient",
]

FAMILY_PURPOSES: Final = ("academic_support", "mentoring", "case_management", "health_services")
"""Purposes a family may consent to on the page (one per document)."""
LANGUAGES: Final = ("en", "es")
TEXT_VERSION: Final = "family-consent-2026.1"
"""Version of the consent text the page shows (api/web/locale); recorded with the language: ``family-consent-2026.1/es``."""
MAX_PAGE: Final = 100
FAMILY_ROLES: Final = frozenset({str(Role.GUARDIAN)})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def identity_of(principal: Principal) -> str:
    """The signer's authenticated identity as recorded on a digital consent: mechanism, credential, subject."""
    return f"bearer-token:{principal.token_id} {principal.role}:{principal.subject}"


if TYPE_CHECKING:  # the mirror has the same members and values as graph.family.Standing
    StandingEnum = Standing
else:
    StandingEnum = strawberry.enum(
        Enum("FamilyStanding", [(s.name, s.value) for s in Standing]),
        description="What the caller may do for a student: OK, or why not (graph/family.py). NOT_YOURS also for an unknown id.",
    )


@strawberry.type(description="A student the caller is linked to, and what the caller may do for them.")
class FamilyStudent:
    id: strawberry.ID = strawberry.field(description="The student's id.")
    name: str | None = strawberry.field(description="The student's name, when the partnership keeps names (off by default).")
    standing: StandingEnum = strawberry.field(description="OK: may read the report and give or revoke consent; else why not.")
    message: str = strawberry.field(description="The standing in words (English).")


@strawberry.type(description="A named recipient of a consent.")
class Recipient:
    id: strawberry.ID = strawberry.field(description="Partner, program or provider id.")
    name: str = strawberry.field(description="Its display name.")
    kind: str = strawberry.field(description="partner, program or provider.")


@strawberry.type(description="A consent about one of the caller's students.")
class FamilyConsent:
    consent: ConsentType = strawberry.field(description="The document, with its signature evidence.")
    recipients: list[Recipient] = strawberry.field(description="Who it names.")
    given_by_you: bool = strawberry.field(description="True when the caller signed it (and so may revoke it).")


@strawberry.type(description="A partner a new consent may name.")
class RecipientChoice:
    id: strawberry.ID = strawberry.field(description="The partner's id.")
    name: str = strawberry.field(description="The partner's name.")
    serves_student: bool = strawberry.field(description="True when one of its providers has a service relationship with the student.")


@strawberry.type(description="What a new consent may name: partners, purposes, categories, the latest end date.")
class ConsentChoices:
    recipients: list[RecipientChoice] = strawberry.field(description="Partners, those serving the student first, then by name.")
    purposes: list[str] = strawberry.field(description="Purpose codes (one per document).")
    categories: list[str] = strawberry.field(description="Data category codes.")
    latest_end_date: date = strawberry.field(description="The latest end date a consent given today may have.")
    text_version: str = strawberry.field(description="The version of the consent text shown before signing.")


@strawberry.type(description="One decision about the student, as a family reads it: who asked, when, for what, shown or not.")
class FamilyDisclosure:
    id: strawberry.ID = strawberry.field(description="Decision record id.")
    decision_time: datetime = strawberry.field(description="When it was answered.")
    provider: Recipient = strawberry.field(description="The provider the question was about (who would see the record), by name.")
    asked_by_role: str = strawberry.field(description="Who asked: provider (the provider itself), app (an application for it), or admin.")
    application: str | None = strawberry.field(description="The application that asked, when one did.")
    organisations: list[str] = strawberry.field(description="The provider's organisations at that time.")
    purpose: str | None = strawberry.field(description="For what.")
    categories_asked: list[str] | None = strawberry.field(description="Categories asked for (null: all released).")
    released_categories: list[str] = strawberry.field(description="What was shown (empty when nothing was).")
    shown: bool = strawberry.field(description="True when anything was shown (allow or partial).")


@strawberry.type(description="A page of the record of disclosures, newest first.")
class FamilyDisclosurePage:
    items: list[FamilyDisclosure] = strawberry.field(description="This page.")
    total: int = strawberry.field(description="Records about the student in all.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool = strawberry.field(description="True when older records follow.")


@strawberry.type(description="A consent given: the receipt a family keeps.")
class ConsentReceipt:
    consent: ConsentType = strawberry.field(description="The document as recorded, with its signature evidence.")
    student_id: strawberry.ID = strawberry.field(description="The student it is about.")
    signer_id: strawberry.ID = strawberry.field(description="Who signed (the authenticated caller).")
    recipient: Recipient = strawberry.field(description="The partner it names.")
    consistency_token: str = strawberry.field(description="Pass to later reads to see this write.")
    replayed: bool = strawberry.field(description="True when an idempotencyKey returned an earlier identical request's result.")


@strawberry.type(description="The signer may not consent for this student now, and why (signer-authority rules, DOMAIN.md).")
class ConsentRefused:
    standing: StandingEnum = strawberry.field(
        description="Why: UNVERIFIED, COURT_ORDER, ELIGIBLE_STUDENT ... NOT_YOURS also for an unknown id."
    )
    message: str = strawberry.field(description="The reason in words (English; the page shows its own translation).")


def family_caller(info: Info[Context, None]) -> Principal:
    """The caller, when a guardian or a student (FORBIDDEN otherwise)."""
    principal = info.context.principal
    require(principal.role is Role.GUARDIAN and principal.subject is not None)
    return principal


def _require_ok(info: Info[Context, None], student_id: str) -> None:
    ctx = info.context
    ctx.engine.store.sync(None)
    if family_standing(ctx.principal, ctx.engine.store, student_id, ctx.now, ctx.engine.policy) is not Standing.OK:
        raise Forbidden()


def _name(node: object) -> str:
    return getattr(node, "name", None) or ""


def recipient(info: Info[Context, None], rid: str) -> Recipient:
    """A recipient id with its name and kind."""
    node = info.context.engine.store.node(rid)
    kind = "partner" if isinstance(node, Partner) else "program" if isinstance(node, Program) else "provider"
    return Recipient(id=strawberry.ID(rid), name=_name(node) or rid, kind=kind)


def _asker(record: dict[str, object]) -> str:
    asked = record.get("asked_by")
    return str(asked.get("role", "")) if isinstance(asked, dict) else ""


def _application(record: dict[str, object]) -> str | None:
    asked = record.get("asked_by")
    app = asked.get("application") if isinstance(asked, dict) else None
    return str(app) if app else None


def _cursor(student_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"fd1\x00{student_id}\x00{offset}".encode()).decode().rstrip("=")


def _offset(student_id: str, after: str | None) -> int:
    if not after:
        return 0
    try:
        tag, sid, n = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode().split("\x00")
        if tag == "fd1" and sid == student_id and n.isdigit():
            return int(n)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadInput("after: not a cursor of this list", field="after")


@strawberry.type(description="The family's questions (the guardian role: a guardian, or a student for themself).")
class FamilyQuery:
    @strawberry.field(description="Students the caller is linked to now, each with the caller's standing (guardian role).")
    def my_students(self, info: Info[Context, None]) -> list[FamilyStudent]:
        principal = family_caller(info)
        ctx = info.context
        store = ctx.engine.store
        store.sync(None)
        assert principal.subject is not None
        if isinstance(store.node(principal.subject), Student):  # an (eligible) student speaking for themself
            ids = [principal.subject]
        else:  # one scan of GUARDIAN_OF edges: the store protocol has no reverse index from a guardian
            ids = sorted({e.to_id for e in store.edges(EdgeKind.GUARDIAN_OF) if e.from_id == principal.subject and e.active_at(ctx.now)})
        out = []
        for sid in ids:
            who = family_standing(principal, store, sid, ctx.now, ctx.engine.policy)
            if who is Standing.NOT_YOURS:
                continue
            node = store.node(sid)
            name = node.name if isinstance(node, Student) else None
            out.append(FamilyStudent(id=strawberry.ID(sid), name=name, standing=StandingEnum(who.value), message=MESSAGES[who]))
        return out

    @strawberry.field(description="Every consent about one of the caller's students, newest first, with its recipients.")
    def my_consents(self, info: Info[Context, None], student_id: strawberry.ID) -> list[FamilyConsent]:
        principal = family_caller(info)
        sid = check_id(student_id, "studentId")
        _require_ok(info, sid)
        ev = info.context.engine.store.gather_evidence(NO_ID, sid)
        out = []
        for cf in sorted(ev.consents, key=lambda c: (c.consent.signed_at or _EPOCH, c.consent.id), reverse=True):
            view = from_node(cf.consent)
            assert isinstance(view, ConsentType)
            out.append(
                FamilyConsent(
                    consent=view,
                    recipients=[recipient(info, p.to_id) for p in cf.permits],
                    given_by_you=any(g.to_id == principal.subject for g in cf.given_by),
                )
            )
        return out

    @strawberry.field(description="What a new consent for this student may name.")
    def consent_choices(self, info: Info[Context, None], student_id: strawberry.ID) -> ConsentChoices:
        family_caller(info)
        sid = check_id(student_id, "studentId")
        _require_ok(info, sid)
        ctx = info.context
        store = ctx.engine.store
        serving = {p for prv in store.providers_serving(sid) for p in employers_of(store, prv, ctx.now)}
        partners = [n for n in store.nodes(Partner.kind) if isinstance(n, Partner)]
        partners.sort(key=lambda p: (p.id not in serving, p.name.casefold(), p.id))
        dates = LocalDates(ctx.engine.policy.default_time_zone)
        latest = dates.day_of(ctx.now + MAX_TERM) - timedelta(days=1)
        return ConsentChoices(
            recipients=[RecipientChoice(id=strawberry.ID(p.id), name=p.name or p.id, serves_student=p.id in serving) for p in partners],
            purposes=list(FAMILY_PURPOSES),
            categories=sorted(ctx.engine.policy.categories),
            latest_end_date=latest,
            text_version=TEXT_VERSION,
        )

    @strawberry.field(
        description="The record of disclosures about one of the caller's students, newest first, in pages: every decision "
        "recorded about the student except those of the family's own questions (its transparency report)."
    )
    def family_disclosures(
        self,
        info: Info[Context, None],
        student_id: strawberry.ID,
        first: Annotated[int, strawberry.argument(description="Page size, 1..100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")] = None,
    ) -> FamilyDisclosurePage:
        family_caller(info)
        sid = check_id(student_id, "studentId")
        _require_ok(info, sid)
        if not 1 <= first <= MAX_PAGE:
            raise BadInput(f"first: 1..{MAX_PAGE}", field="first")
        start = _offset(sid, after)
        audit = info.context.engine.audit
        # The family's own transparency report is recorded too (every decision is); it is not someone asking.
        records = [r for r in reversed(audit.for_student(sid)) if _asker(r) not in FAMILY_ROLES] if audit is not None else []
        page = records[start : start + first]
        store = info.context.engine.store
        items = []
        for r in page:
            when = parse_datetime(str(r["decision_time"]))
            pid = str(r["provider_id"])
            orgs = sorted(_name(store.node(p)) or p for p in employers_of(store, pid, when))
            cats = r.get("categories_asked")
            released = [str(c) for c in (r.get("released_categories") or [])]
            provider = store.node(pid)
            items.append(
                FamilyDisclosure(
                    id=strawberry.ID(str(r["id"])),
                    decision_time=when,
                    provider=Recipient(
                        id=strawberry.ID(pid), name=_name(provider) if isinstance(provider, Provider) else pid, kind="provider"
                    ),
                    organisations=orgs,
                    asked_by_role=_asker(r),
                    application=_application(r),
                    purpose=str(r["purpose"]) if isinstance(r.get("purpose"), str) else None,
                    categories_asked=[str(c) for c in cats] if isinstance(cats, list) else None,
                    released_categories=released,
                    shown=str(r["outcome"]) != "deny",
                )
            )
        end = start + len(page)
        more = end < len(records)
        return FamilyDisclosurePage(items=items, total=len(records), end_cursor=_cursor(sid, end) if page else after, has_next_page=more)
