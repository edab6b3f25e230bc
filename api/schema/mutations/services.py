# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""startService, changeServiceStatus, endService: thin resolvers over graph.commands.

A status change closes the current SERVES edge at `at` and opens a new one from `at`
with the new status, so "who served S on 3 March, and how" stays an ordinary query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.enums import ServiceStatusEnum
from api.schema.mutations.common import IdempotencyKey, write
from api.schema.types import ServicePayload, ServiceResult, from_serves
from graph import commands
from graph.model import Serves, ServiceStatus
from graph.stores.base import Committed

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


def _view(info: Info[Context, None], committed: Committed) -> ServicePayload:
    store = info.context.engine.store
    ids = [str(committed.result["service"]), *(str(i) for i in committed.result.get("closed", ()))]
    edges = [store.edge(i) for i in ids]
    views = [from_serves(e) for e in edges if isinstance(e, Serves)]
    return ServicePayload(service=views[0], closed=views[1:], consistency_token=committed.token, replayed=committed.replayed)


@strawberry.type(description="Service relationship mutations.")
class ServiceMutations:
    @strawberry.mutation(
        description="Start a service relationship (the need to know). Refused while one from the same provider to the same "
        "student in the same program is open, so a retry cannot make two."
    )
    def start_service(self, info: Info[Context, None], input: StartServiceInput, idempotency_key: IdempotencyKey = None) -> ServiceResult:
        cmd = commands.StartService(
            id=str(input.id) if input.id else None,
            provider_id=str(input.provider_id),
            student_id=str(input.student_id),
            program_id=str(input.program_id) if input.program_id else None,
            categories_needed=frozenset(input.categories_needed),
            status=ServiceStatus(input.status.value),
            at=input.at,
        )
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.start_service(store, cmd, now=now, key=idempotency_key), lambda c: _view(info, c))

    @strawberry.mutation(description="Change a service's status at a time: closes the current edge and opens a new one.")
    def change_service_status(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID,
        status: ServiceStatusEnum,
        at: Annotated[datetime | None, strawberry.argument(description="When the new status starts; default now.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ServiceResult:
        cmd = commands.ChangeServiceStatus(service_id=str(service_id), status=ServiceStatus(status.value), at=at)
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.change_service_status(store, cmd, now=now, key=idempotency_key), lambda c: _view(info, c))

    @strawberry.mutation(description="End a service relationship at a time (default now): closes its edge.")
    def end_service(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID,
        at: Annotated[datetime | None, strawberry.argument(description="When it ends (exclusive); default now.")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ServiceResult:
        cmd = commands.EndService(service_id=str(service_id), at=at)
        store, now = info.context.engine.store, info.context.now
        return write(info, lambda: commands.end_service(store, cmd, now=now, key=idempotency_key), lambda c: _view(info, c))
