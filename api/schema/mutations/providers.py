# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""recordTraining, signAgreement, addProvider, assignToTeam."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.mutations.common import Rejected, new_id, write
from api.schema.types import (
    ProviderPayload,
    ProviderResult,
    ProviderType,
    RelationshipPayload,
    RelationshipResult,
    from_relationship,
)
from graph.changes import Change, PutEdge, PutNode
from graph.model import Edge, EmployedBy, MemberOf, Provider, Signed, Team, Trained, WorksIn

__all__ = ["ProviderMutations"]


def _relationships(edges: list[Edge], token: str) -> RelationshipPayload:
    return RelationshipPayload(relationships=[from_relationship(e) for e in edges], closed=[], consistency_token=token)


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
    ) -> RelationshipResult:
        def build() -> tuple[list[Change], Callable[[str], RelationshipPayload]]:
            edge = Trained(
                id=new_id("tr"),
                from_id=str(provider_id),
                to_id=str(course_id),
                valid_from=completed_at or info.context.now,
                valid_to=expires_at,
            )
            return [PutEdge(edge)], lambda token: _relationships([edge], token)

        return write(info, build)

    @strawberry.mutation(description="Record that a provider or partner signed an agreement (a version of it).")
    def sign_agreement(
        self,
        info: Info[Context, None],
        signer_id: strawberry.ID,
        agreement_id: strawberry.ID,
        signed_at: Annotated[datetime | None, strawberry.argument(description="Signature time; default now.")] = None,
        expires_at: Annotated[datetime | None, strawberry.argument(description="Expiry (exclusive); null: never.")] = None,
        version: Annotated[int | None, strawberry.argument(description="Version signed; null: the agreement's version.")] = None,
    ) -> RelationshipResult:
        def build() -> tuple[list[Change], Callable[[str], RelationshipPayload]]:
            edge = Signed(
                id=new_id("sg"),
                from_id=str(signer_id),
                to_id=str(agreement_id),
                valid_from=signed_at or info.context.now,
                valid_to=expires_at,
                version=version,
            )
            return [PutEdge(edge)], lambda token: _relationships([edge], token)

        return write(info, build)

    @strawberry.mutation(description="Add a provider, employed by a partner and working in communities.")
    def add_provider(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        name: str,
        partner_id: strawberry.ID,
        community_ids: list[strawberry.ID],
        at: Annotated[datetime | None, strawberry.argument(description="Start of employment; default now.")] = None,
    ) -> ProviderResult:
        def build() -> tuple[list[Change], Callable[[str], ProviderPayload]]:
            if info.context.engine.store.node(str(id)) is not None:
                raise Rejected(f"id {str(id)!r} already exists", field="id")
            when = at or info.context.now
            provider = Provider(id=str(id), name=name)
            edges: list[Edge] = [EmployedBy(id=new_id("emp"), from_id=provider.id, to_id=str(partner_id), valid_from=when)]
            edges += [WorksIn(id=new_id("w"), from_id=provider.id, to_id=str(c), valid_from=when) for c in community_ids]
            changes: list[Change] = [PutNode(provider), *(PutEdge(e) for e in edges)]
            return changes, lambda token: ProviderPayload(
                provider=ProviderType(id=strawberry.ID(provider.id), name=provider.name),
                relationships=[from_relationship(e) for e in edges],
                consistency_token=token,
            )

        return write(info, build)

    @strawberry.mutation(description="Make a provider (or team) a member of a care team; the team is created if new.")
    def assign_to_team(
        self,
        info: Info[Context, None],
        member_id: strawberry.ID,
        team_id: strawberry.ID,
        team_name: Annotated[str | None, strawberry.argument(description="Name of the team, when it is created.")] = None,
        at: Annotated[datetime | None, strawberry.argument(description="Start of membership; default now.")] = None,
    ) -> RelationshipResult:
        def build() -> tuple[list[Change], Callable[[str], RelationshipPayload]]:
            store = info.context.engine.store
            existing = store.node(str(team_id))
            changes: list[Change] = []
            if existing is None:
                changes.append(PutNode(Team(id=str(team_id), name=team_name or str(team_id))))
            elif not isinstance(existing, Team):
                raise Rejected(f"{str(team_id)!r} is not a team", field="teamId")
            edge = MemberOf(id=new_id("m"), from_id=str(member_id), to_id=str(team_id), valid_from=at or info.context.now)
            changes.append(PutEdge(edge))
            return changes, lambda token: _relationships([edge], token)

        return write(info, build)
