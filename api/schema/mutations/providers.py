# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""recordTraining, signAgreement, addProvider, assignToTeam: thin resolvers over graph.commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.mutations.common import IdempotencyKey, write
from api.schema.mutations.students import relationships_view
from api.schema.types import ProviderPayload, ProviderResult, ProviderType, RelationshipResult, from_relationship
from graph import commands
from graph.model import Provider
from graph.stores.base import Committed

__all__ = ["ProviderMutations"]


def _provider_view(info: Info[Context, None], committed: Committed) -> ProviderPayload:
    store = info.context.engine.store
    provider = store.node(str(committed.result["provider"]))
    assert isinstance(provider, Provider)
    edges = [e for e in (store.edge(str(i)) for i in committed.result.get("opened", ())) if e is not None]
    return ProviderPayload(
        provider=ProviderType(id=strawberry.ID(provider.id), name=provider.name),
        relationships=[from_relationship(e) for e in edges],
        consistency_token=committed.token,
        replayed=committed.replayed,
    )


@strawberry.type(description="Provider, training, agreement and team mutations.")
class ProviderMutations:
    @strawberry.mutation(description="Record that a provider completed a training course.")
    def record_training(
        self,
        info: Info[Context, None],
        provider_id: strawberry.ID,
        course_id: strawberry.ID,
        completed_at: Annotated[datetime | None, strawberry.argument(description="Completion time; default now.")] = None,
        expires_at: Annotated[datetime | None, strawberry.argument(description="Expiry (exclusive); null: never.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RelationshipResult:
        cmd = commands.RecordTraining(str(provider_id), str(course_id), completed_at, expires_at)
        store, now = info.context.engine.store, info.context.now
        return write(
            info, lambda: commands.record_training(store, cmd, now=now, key=idempotency_key), lambda c: relationships_view(store, c)
        )

    @strawberry.mutation(description="Record that a provider or partner signed an agreement (a version of it).")
    def sign_agreement(
        self,
        info: Info[Context, None],
        signer_id: strawberry.ID,
        agreement_id: strawberry.ID,
        signed_at: Annotated[datetime | None, strawberry.argument(description="Signature time; default now.")] = None,
        expires_at: Annotated[datetime | None, strawberry.argument(description="Expiry (exclusive); null: never.")] = None,
        version: Annotated[int | None, strawberry.argument(description="Version signed; null: the agreement's version.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RelationshipResult:
        cmd = commands.SignAgreement(str(signer_id), str(agreement_id), signed_at, expires_at, version)
        store, now = info.context.engine.store, info.context.now
        return write(
            info, lambda: commands.sign_agreement(store, cmd, now=now, key=idempotency_key), lambda c: relationships_view(store, c)
        )

    @strawberry.mutation(description="Add a provider, employed by a partner and working in communities.")
    def add_provider(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        name: str,
        partner_id: strawberry.ID,
        community_ids: list[strawberry.ID],
        at: Annotated[datetime | None, strawberry.argument(description="Start of employment; default now.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ProviderResult:
        cmd = commands.AddProvider(str(id), name, str(partner_id), tuple(str(c) for c in community_ids), at)
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.add_provider(store, cmd, now=now, key=idempotency_key), lambda c: _provider_view(info, c))

    @strawberry.mutation(description="Make a provider (or team) a member of a care team; the team is created if new.")
    def assign_to_team(
        self,
        info: Info[Context, None],
        member_id: strawberry.ID,
        team_id: strawberry.ID,
        team_name: Annotated[str | None, strawberry.argument(description="Name of the team, when it is created.")] = None,
        at: Annotated[datetime | None, strawberry.argument(description="Start of membership; default now.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RelationshipResult:
        cmd = commands.AssignToTeam(str(member_id), str(team_id), team_name, at)
        store, now = info.context.engine.store, info.context.now
        return write(
            info, lambda: commands.assign_to_team(store, cmd, now=now, key=idempotency_key), lambda c: relationships_view(store, c)
        )
