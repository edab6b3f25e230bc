# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""recordConsent, revokeConsent, correctConsent: thin resolvers over graph.commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.enums import ConsentKindEnum, ConsentStatusEnum
from api.schema.mutations.common import IdempotencyKey, write
from api.schema.types import ConsentPayload, ConsentResult, ConsentType, from_node
from graph import commands
from graph.model import Consent, ConsentKind, ConsentStatus
from graph.stores.base import Committed

__all__ = ["ConsentMutations", "RecordConsentInput"]


@strawberry.input(description="A signed consent document about a student.")
class RecordConsentInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Consent id; generated when omitted.")
    student_id: strawberry.ID = strawberry.field(description="The student it is about.")
    signer_id: strawberry.ID = strawberry.field(description="Who signed: a guardian, or the (eligible) student.")
    recipient_ids: list[strawberry.ID] = strawberry.field(description="Named recipients: partners, programs or providers.")
    purposes: list[str] = strawberry.field(description="Purposes covered (academic_support ...).")
    categories: list[str] = strawberry.field(description="Data categories covered (attendance, grades ...).")
    signed_at: datetime | None = strawberry.field(default=None, description="When it was signed; default now.")
    effective_from: datetime | None = strawberry.field(default=None, description="When it takes effect; default signedAt.")
    expires_at: datetime | None = strawberry.field(default=None, description="When it expires (exclusive); null: never.")
    kind: ConsentKindEnum = strawberry.field(default=ConsentKindEnum.PERMIT, description="PERMIT, or DENY (a refusal).")
    status: ConsentStatusEnum = strawberry.field(default=ConsentStatusEnum.ACTIVE, description="Document status.")
    signature_method: str | None = strawberry.field(default=None, description="How it was signed.")


def _view(info: Info[Context, None], committed: Committed) -> ConsentPayload:
    node = info.context.engine.store.node(str(committed.result["consent"]))
    assert isinstance(node, Consent)
    view = from_node(node)
    assert isinstance(view, ConsentType)
    return ConsentPayload(consent=view, consistency_token=committed.token, replayed=committed.replayed)


@strawberry.type(description="Consent mutations.")
class ConsentMutations:
    @strawberry.mutation(description="Record a consent with its signer and recipients.")
    def record_consent(self, info: Info[Context, None], input: RecordConsentInput, idempotency_key: IdempotencyKey = None) -> ConsentResult:
        cmd = commands.RecordConsent(
            id=str(input.id) if input.id else None,
            student_id=str(input.student_id),
            signer_id=str(input.signer_id),
            recipient_ids=tuple(str(r) for r in input.recipient_ids),
            purposes=frozenset(input.purposes),
            categories=frozenset(input.categories),
            signed_at=input.signed_at,
            effective_from=input.effective_from,
            expires_at=input.expires_at,
            kind=ConsentKind(input.kind.value),
            status=ConsentStatus(input.status.value),
            signature_method=input.signature_method,
        )
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.record_consent(store, cmd, now=now, key=idempotency_key), lambda c: _view(info, c))

    @strawberry.mutation(
        description="Revoke a consent from a time (default now). The revocation is a new version of the document: "
        "questions about earlier instants still see it in force. A consent is revoked once."
    )
    def revoke_consent(
        self,
        info: Info[Context, None],
        consent_id: strawberry.ID,
        at: Annotated[datetime | None, strawberry.argument(description="When the revocation takes effect; default now.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ConsentResult:
        cmd = commands.RevokeConsent(consent_id=str(consent_id), at=at)
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.revoke_consent(store, cmd, now=now, key=idempotency_key), lambda c: _view(info, c))

    @strawberry.mutation(
        description="Correct a consent's status as if it had always been so (e.g. ENTERED_IN_ERROR): the one change that "
        "reaches back. The record of decisions keeps what was answered before."
    )
    def correct_consent(
        self,
        info: Info[Context, None],
        consent_id: strawberry.ID,
        status: Annotated[ConsentStatusEnum, strawberry.argument(description="The status it should always have had.")],
        idempotency_key: IdempotencyKey = None,
    ) -> ConsentResult:
        cmd = commands.CorrectConsent(consent_id=str(consent_id), status=ConsentStatus(status.value))
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.correct_consent(store, cmd, now=now, key=idempotency_key), lambda c: _view(info, c))
