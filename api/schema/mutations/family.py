# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""giveConsent, revokeMyConsent: a family's own writes, thin resolvers over graph.commands (api/schema/family.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.family import (
    LANGUAGES,
    TEXT_VERSION,
    ConsentReceipt,
    ConsentRefused,
    StandingEnum,
    family_caller,
    identity_of,
    recipient,
)
from api.schema.mutations.common import IdempotencyKey, run_command
from api.schema.types import ConsentPayload, ConsentResult, ConsentType, ValidationError, from_node
from graph import commands
from graph.family import Standing
from graph.ids import check_id
from graph.model import Consent
from graph.stores.base import Committed
from graph.timeutil import LocalDates

__all__ = ["FamilyMutations", "GiveConsentInput"]

SIGNATURE_METHOD: Final = "electronic_review_and_sign"
"""Shown the full text and a summary, then signed by an explicit act while signed in."""
_STANDINGS: Final = frozenset(s.value for s in Standing)


GiveConsentResult = Annotated[
    ConsentReceipt | ConsentRefused | ValidationError,
    strawberry.union("GiveConsentResult", description="The receipt, the signer-authority refusal, or a bad value."),
]


@strawberry.input(description="A consent a family gives: one recipient partner, one purpose.")
class GiveConsentInput:
    student_id: strawberry.ID = strawberry.field(description="One of the caller's students (or, for a student token, itself).")
    recipient_id: strawberry.ID = strawberry.field(description="The partner (or program) it names.")
    purpose: str = strawberry.field(description="One purpose code, e.g. academic_support.")
    categories: list[str] = strawberry.field(description="Data categories it covers.")
    end_date: date = strawberry.field(description="Last day it holds (inclusive, a calendar day in the partnership's time zone).")
    language: str = strawberry.field(default="en", description="Language of the text the signer read: en or es.")



def _receipt(info: Info[Context, None], committed: Committed, student_id: str, recipient_id: str) -> ConsentReceipt:
    node = info.context.engine.store.node(str(committed.result["consent"]))
    assert isinstance(node, Consent)
    view = from_node(node)
    assert isinstance(view, ConsentType)
    subject = info.context.principal.subject or ""
    return ConsentReceipt(
        consent=view,
        student_id=strawberry.ID(student_id),
        signer_id=strawberry.ID(subject),
        recipient=recipient(info, recipient_id),
        consistency_token=committed.token,
        replayed=committed.replayed,
    )


def _consent_view(info: Info[Context, None], committed: Committed) -> ConsentPayload:
    node = info.context.engine.store.node(str(committed.result["consent"]))
    assert isinstance(node, Consent)
    view = from_node(node)
    assert isinstance(view, ConsentType)
    return ConsentPayload(consent=view, consistency_token=committed.token, replayed=committed.replayed)


@strawberry.type(description="The family's writes (the guardian role: a guardian, or a student for themself).")
class FamilyMutations:
    @strawberry.mutation(
        description="Give a consent digitally, signed now by the caller (a guardian with rights, or the eligible student): one "
        "recipient partner and one purpose, the categories and a last day. Records the signature evidence (method, time, "
        "the authenticated identity, the text version). ConsentRefused when the signer-authority rules refuse it."
    )
    def give_consent(self, info: Info[Context, None], input: GiveConsentInput, idempotency_key: IdempotencyKey = None) -> GiveConsentResult:
        principal = family_caller(info)
        ctx = info.context
        if input.language not in LANGUAGES:
            return ValidationError(field="language", message=f"one of {', '.join(LANGUAGES)}", code="invalid")
        sid = check_id(input.student_id, "studentId")
        rid = check_id(input.recipient_id, "recipientId")
        assert principal.subject is not None
        try:
            expires = LocalDates(ctx.engine.policy.default_time_zone).after(input.end_date)
        except OverflowError:  # 9999-12-31 has no next day
            return ValidationError(field="endDate", message="the end date is after today and within a year", code="bad_end_date")
        cmd = commands.GiveConsent(
            student_id=sid,
            signer_id=principal.subject,
            recipient_id=rid,
            purpose=input.purpose,
            categories=frozenset(input.categories),
            expires_at=expires,
            signature_method=SIGNATURE_METHOD,
            signer_identity=identity_of(principal),
            text_version=f"{TEXT_VERSION}/{input.language}",
        )
        store, now, policy = ctx.engine.store, ctx.now, ctx.engine.policy
        result = run_command(
            lambda: commands.give_consent(store, cmd, now=now, policy=policy, key=idempotency_key), lambda c: _receipt(info, c, sid, rid)
        )
        if isinstance(result, ValidationError) and result.code in _STANDINGS:
            return ConsentRefused(standing=StandingEnum(result.code), message=result.message)
        return result

    @strawberry.mutation(
        description="Revoke a consent the caller gave, effective now. Another person's consent, or an unknown id: "
        "ValidationError not_found, alike."
    )
    def revoke_my_consent(
        self, info: Info[Context, None], consent_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> ConsentResult:
        principal = family_caller(info)
        cmd = commands.RevokeConsent(consent_id=check_id(consent_id, "consentId"), signer_id=principal.subject)
        store, now = info.context.engine.store, info.context.now
        return run_command(lambda: commands.revoke_consent(store, cmd, now=now, key=idempotency_key), lambda c: _consent_view(info, c))
