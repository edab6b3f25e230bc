# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""startService, changeServiceStatus, endService: history is never rewritten.

A status change closes the current SERVES edge at `at` and opens a new one from `at`
with the new status, so "who served S on 3 March, and how" stays an ordinary query.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.enums import ServiceStatusEnum
from api.schema.mutations.common import Rejected, new_id, write
from api.schema.types import ServicePayload, ServiceResult, from_serves
from graph.changes import Change, CloseEdge, PutEdge
from graph.model import Serves, ServiceStatus
from graph.stores.base import GraphStore

__all__ = ["ServiceMutations", "StartServiceInput"]


@strawberry.input(description="A service relationship from a provider (or care team) to a student.")
class StartServiceInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Edge id; generated when omitted.")
    provider_id: strawberry.ID = strawberry.field(description="The provider or team serving.")
    student_id: strawberry.ID = strawberry.field(description="The student served.")
    program_id: strawberry.ID | None = strawberry.field(default=None, description="The program the service belongs to.")
    categories_needed: list[str] = strawberry.field(description="Data categories the service needs.")
    status: ServiceStatusEnum = strawberry.field(default=ServiceStatusEnum.ACTIVE, description="Initial status.")
    at: datetime | None = strawberry.field(default=None, description="Start; default now.")


def _open_service(store: GraphStore, service_id: str) -> Serves:
    edge = store.edge(service_id)
    if not isinstance(edge, Serves):
        raise Rejected(f"no service relationship with id {service_id!r}", field="serviceId")
    if edge.valid_to is not None:
        raise Rejected("the service relationship has already ended", field="serviceId")
    return edge


def _payload(store: GraphStore, current: str, closed: list[str], token: str) -> ServicePayload:
    edges = [store.edge(i) for i in (current, *closed)]
    views = [from_serves(e) for e in edges if isinstance(e, Serves)]
    return ServicePayload(service=views[0], closed=views[1:], consistency_token=token)


@strawberry.type(description="Service relationship mutations.")
class ServiceMutations:
    @strawberry.mutation(description="Start a service relationship (the need to know).")
    def start_service(self, info: Info[Context, None], input: StartServiceInput) -> ServiceResult:
        store = info.context.engine.store

        def build() -> tuple[list[Change], Callable[[str], ServicePayload]]:
            eid = str(input.id) if input.id else new_id("sv")
            edge = Serves(
                id=eid,
                from_id=str(input.provider_id),
                to_id=str(input.student_id),
                valid_from=input.at or info.context.now,
                status=ServiceStatus(input.status.value),
                program=str(input.program_id) if input.program_id else None,
                categories_needed=frozenset(input.categories_needed),
            )
            return [PutEdge(edge)], lambda token: _payload(store, eid, [], token)

        return write(info, build)

    @strawberry.mutation(description="Change a service's status at a time: closes the current edge and opens a new one.")
    def change_service_status(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID,
        status: ServiceStatusEnum,
        at: Annotated[datetime | None, strawberry.argument(description="When the new status starts; default now.")] = None,
    ) -> ServiceResult:
        store = info.context.engine.store

        def build() -> tuple[list[Change], Callable[[str], ServicePayload]]:
            old = _open_service(store, str(service_id))
            if old.status.value == status.value:
                raise Rejected(f"the service is already {old.status}", field="status")
            when = at or info.context.now
            new = Serves(
                id=new_id("sv"),
                from_id=old.from_id,
                to_id=old.to_id,
                valid_from=when,
                status=ServiceStatus(status.value),
                program=old.program,
                categories_needed=old.categories_needed,
                source=old.source,
            )
            return [CloseEdge(old.id, when), PutEdge(new)], lambda token: _payload(store, new.id, [old.id], token)

        return write(info, build)

    @strawberry.mutation(description="End a service relationship at a time (default now): closes its edge.")
    def end_service(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID,
        at: Annotated[datetime | None, strawberry.argument(description="When it ends (exclusive); default now.")] = None,
    ) -> ServiceResult:
        store = info.context.engine.store

        def build() -> tuple[list[Change], Callable[[str], ServicePayload]]:
            old = _open_service(store, str(service_id))
            return [CloseEdge(old.id, at or info.context.now)], lambda token: _payload(store, old.id, [old.id], token)

        return write(info, build)
