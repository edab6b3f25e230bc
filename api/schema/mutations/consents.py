# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""recordConsent, revokeConsent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.enums import ConsentKindEnum, ConsentStatusEnum
from api.schema.mutations.common import Rejected, new_id, write
from api.schema.types import ConsentPayload, ConsentResult, ConsentType, from_node
from graph.changes import Change, PutEdge, PutNode
from graph.model import About, Consent, ConsentKind, ConsentStatus, GivenBy, Permits

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


def _view(node: Consent, token: str) -> ConsentPayload:
    view = from_node(node)
    assert isinstance(view, ConsentType)
    return ConsentPayload(consent=view, consistency_token=token)


@strawberry.type(description="Consent mutations.")
class ConsentMutations:
    @strawberry.mutation(description="Record a consent with its signer and recipients.")
    def record_consent(self, info: Info[Context, None], input: RecordConsentInput) -> ConsentResult:
        def build() -> tuple[list[Change], Callable[[str], ConsentPayload]]:
            store = info.context.engine.store
            cid = str(input.id) if input.id else new_id("cns")
            if store.node(cid) is not None:
                raise Rejected(f"id {cid!r} already exists", field="id")
            if not input.recipient_ids:
                raise Rejected("a consent names at least one recipient", field="recipientIds")
            signed = input.signed_at or info.context.now
            consent = Consent(
                id=cid,
                status=ConsentStatus(input.status.value),
                consent_kind=ConsentKind(input.kind.value),
                signed_at=signed,
                effective_from=input.effective_from,
                expires_at=input.expires_at,
                purposes=frozenset(input.purposes),
                categories=frozenset(input.categories),
                signature_method=input.signature_method,
            )
            changes: list[Change] = [
                PutNode(consent),
                PutEdge(About(id=f"{cid}:about", from_id=cid, to_id=str(input.student_id), valid_from=signed)),
                PutEdge(GivenBy(id=f"{cid}:by", from_id=cid, to_id=str(input.signer_id), valid_from=signed)),
            ]
            changes += [PutEdge(Permits(id=f"{cid}:to:{r}", from_id=cid, to_id=str(r), valid_from=signed)) for r in input.recipient_ids]
            return changes, lambda token: _view(consent, token)

        return write(info, build)

    @strawberry.mutation(description="Revoke a consent at a time (default now). The document keeps its history.")
    def revoke_consent(
        self,
        info: Info[Context, None],
        consent_id: strawberry.ID,
        at: Annotated[datetime | None, strawberry.argument(description="When the revocation takes effect; default now.")] = None,
    ) -> ConsentResult:
        def build() -> tuple[list[Change], Callable[[str], ConsentPayload]]:
            node = info.context.engine.store.node(str(consent_id))
            if not isinstance(node, Consent):
                raise Rejected(f"no consent with id {str(consent_id)!r}", field="consentId")
            if node.revoked_at is not None:
                raise Rejected("the consent is already revoked", field="consentId")
            revoked = replace(node, revoked_at=at or info.context.now)
            return [PutNode(revoked)], lambda token: _view(revoked, token)

        return write(info, build)
