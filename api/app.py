"""The Starlette application: /graphql, /healthz, /readyz, the web pages (api/web), and a drill hook when enabled.

`create_app(settings)` builds it; `app_from_env` is the factory uvicorn imports when it
runs several worker processes (settings then come from ``NTK_*`` variables). The engine,
token table and schema are opened in the lifespan and closed on shutdown. GraphiQL is
served only when ``settings.graphiql`` is on. Every response carries a Content-Security-Policy
allowing only this origin (`api.web.SecurityHeaders`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.config import ApiSettings
from api.http import AppState, authenticate, graphql_endpoint
from api.limits import BodyLimit, RequestRefused, error_response, parse_json_body
from api.schema import build_schema
from api.subscriptions import SubscriptionsApp
from api.tokens import TokenStore
from api.web import SecurityHeaders, web_routes
from api.webhooks.service import start_feed_service
from graph.audit import SqliteAuditLog
from graph.engine import Engine
from graph.errors import NeedToKnowError
from graph.open import open_store

__all__ = ["app_from_env", "create_app"]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def healthz(_: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the store syncs and the record of decisions is writable."""
    state: AppState = request.app.state.ntk
    try:
        state.engine.store.sync(None)
    except NeedToKnowError as err:
        return JSONResponse({"status": "unavailable", "reason": type(err).__name__}, status_code=503)
    audit = state.engine.audit
    if isinstance(audit, SqliteAuditLog) and not audit.available:
        return JSONResponse({"status": "unavailable", "reason": "audit_unavailable"}, status_code=503)
    return JSONResponse({"status": "ready", "consistencyToken": state.engine.store.token()})


async def audit_hook(request: Request) -> Response:
    """Drill hook (only mounted with ``test_hooks``): admins switch the record of decisions off/on.

    Body: ``{"available": false}``. While off, every check answers deny(audit_unavailable).
    """
    state: AppState = request.app.state.ntk
    try:
        principal = authenticate(request, state.tokens)
        if not principal.is_admin:
            raise RequestRefused(403, "FORBIDDEN", "admins only")
        body = parse_json_body(await request.body(), 4)
        if not isinstance(body, dict) or not isinstance(body.get("available"), bool):
            raise RequestRefused(400, "BAD_REQUEST", 'body must be {"available": true|false}')
    except RequestRefused as err:
        return error_response(err.status, err.code, err.message)
    audit = state.engine.audit
    if isinstance(audit, SqliteAuditLog):
        audit.available = body["available"]
    return JSONResponse({"available": body["available"]})


def create_app(settings: ApiSettings | None = None) -> Starlette:
    """The ASGI application for `settings` (defaults from the environment)."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        audit = SqliteAuditLog(settings.db)
        engine = Engine(open_store(settings), settings.policy(), audit)
        tokens = TokenStore(settings.db)
        app.state.ntk = AppState(settings=settings, engine=engine, tokens=tokens, schema=build_schema(settings))
        feed = start_feed_service(engine, settings.db)  # the access-change feed (docs/feed.md); None when off
        try:
            yield
        finally:
            if feed is not None:
                feed.stop()
            engine.store.close()
            tokens.close()
            audit.close()

    routes = [
        Route("/graphql", graphql_endpoint, methods=ALL_METHODS),
        WebSocketRoute("/graphql", SubscriptionsApp()),  # subscriptions (graphql-transport-ws)
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *web_routes(),
    ]
    if settings.test_hooks:
        routes.append(Route("/_test/audit", audit_hook, methods=["POST"]))
    middleware = [Middleware(SecurityHeaders), Middleware(BodyLimit, max_bytes=settings.max_body_bytes)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --factory api.app:app_from_env`` (settings from NTK_* variables)."""
    return create_app(ApiSettings())
