"""GraphQL subscriptions over WebSocket (``graphql-transport-ws``) at /graphql.

strawberry's ASGI view serves the protocol; this module only authenticates: the bearer token
comes in the ``connection_init`` payload (``{"Authorization": "Bearer <token>"}``, what
browser clients can send) or, failing that, in the handshake's ``Authorization`` header. An
unknown or revoked token, or a role that receives no changes, closes the socket with 4403
before any subscription starts. Queries and mutations stay on HTTP (`api.http`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from api.config import ApiSettings
from api.roles import Principal, Role
from api.tokens import TokenStore
from graph.stores.base import GraphStore
from graph.timeutil import utcnow

__all__ = ["SubscriptionContext", "SubscriptionsApp"]


@dataclass
class SubscriptionContext:
    """``info.context`` of a subscription: settings, tokens, the graph store (where the feed is), the caller once authenticated."""

    settings: ApiSettings
    tokens: TokenStore
    header: str
    store: GraphStore | None = None
    principal: Principal | None = None
    connection_params: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=utcnow)


class SubscriptionsApp(GraphQL[SubscriptionContext, None]):
    """The WebSocket side of /graphql (graphql-transport-ws only; no HTTP, no IDE)."""

    def __init__(self) -> None:
        # The schema is the app's (built in the lifespan); set per connection in get_context.
        self._schema_set = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection with the app's schema."""
        state = scope["app"].state.ntk
        if not self._schema_set:
            super().__init__(state.schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), keep_alive=True)
            self._schema_set = True
        await super().__call__(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> SubscriptionContext:
        """The settings and token table of the app, and the handshake's Authorization header."""
        state = request.app.state.ntk
        return SubscriptionContext(
            settings=state.settings, tokens=state.tokens, header=request.headers.get("authorization", ""), store=state.engine.store
        )

    async def on_ws_connect(self, context: SubscriptionContext) -> UnsetType | dict[str, object] | None:
        """Authenticate from connection_init (or the handshake header); refuse with 4403 otherwise."""
        raw = context.connection_params.get("Authorization") or context.connection_params.get("authorization") or context.header
        scheme, _, secret = str(raw).partition(" ")
        principal = context.tokens.lookup(secret.strip()) if scheme.lower() == "bearer" else None
        if principal is None or principal.role not in (Role.ADMIN, Role.APP, Role.PROVIDER, Role.GUARDIAN):
            raise ConnectionRejectionError()
        context.principal = principal
        return await super().on_ws_connect(context)
