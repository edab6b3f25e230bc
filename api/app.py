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

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.config import ApiSettings
from api.coverage_data import coverage_data
from api.errors import RequestRefused
from api.http import AppState, BearerTokens, graphql_endpoint, principal_of, refusal
from api.limits import BodyLimit, parse_json_body
from api.schema import build_schema
from api.subscriptions import SubscriptionsApp
from api.tokens import open_tokens
from api.web import SecurityHeaders, web_routes
from api.webhooks.service import start_feed_service
from graph.errors import NeedToKnowError
from graph.open import open_engine

__all__ = ["app_from_env", "create_app"]

log = structlog.get_logger("needtoknow.api")

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def healthz(_: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the store syncs and the record of decisions takes a real write (`SqliteAuditLog.probe`).

    503 ``{"status": "unavailable", "reason": ..., "cause": ...}`` while either fails (a full
    disk, a read-only file, the drill switch), logged with the cause; 200 again once a write succeeds.
    When this process runs the feed service, ``feed`` says its lag and last error (a stuck feed
    does not make the API unready: checks still answer; `api.webhooks.service.FeedService.status`).
    """
    state: AppState = request.app.state.ntk
    try:
        state.engine.store.sync(None)
    except NeedToKnowError as err:
        log.error("not_ready", reason="store_unavailable", cause=str(err))
        return JSONResponse({"status": "unavailable", "reason": "store_unavailable", "cause": str(err)}, status_code=503)
    audit = state.engine.audit
    if audit is not None:
        cause = await run_in_threadpool(audit.probe)
        if cause is not None:
            log.error("not_ready", reason="audit_unavailable", cause=cause)
            return JSONResponse({"status": "unavailable", "reason": "audit_unavailable", "cause": cause}, status_code=503)
    body: dict[str, object] = {"status": "ready", "consistencyToken": state.engine.store.token()}
    feed = getattr(request.app.state, "feed", None)
    if feed is not None:
        body["feed"] = await run_in_threadpool(feed.status)
    return JSONResponse(body)


async def audit_hook(request: Request) -> Response:
    """Drill hook (only mounted with ``test_hooks``): admins switch the record of decisions off/on.

    Body: ``{"available": false}``. While off, every check answers deny(audit_unavailable).
    """
    state: AppState = request.app.state.ntk
    try:
        principal = principal_of(request)
        if not principal.is_admin:
            raise RequestRefused(403, "FORBIDDEN", "admins only")
        body = parse_json_body(await request.body(), 4)
        if not isinstance(body, dict) or not isinstance(body.get("available"), bool):
            raise RequestRefused(400, "BAD_REQUEST", 'body must be {"available": true|false}')
    except RequestRefused as err:
        return refusal(err)
    audit = state.engine.audit
    if audit is not None:
        audit.available = body["available"]
    return JSONResponse({"available": body["available"]})


def create_app(settings: ApiSettings | None = None) -> Starlette:
    """The ASGI application for `settings` (defaults from the environment)."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Embedded: journal, tokens and record in settings.db. Neo4j: all three in Neo4j, so an
        # instance keeps nothing on its own disk that another instance needs (DESIGN.md).
        engine = open_engine(settings)
        tokens = open_tokens(settings, engine.store)
        app.state.ntk = AppState(settings=settings, engine=engine, tokens=tokens, schema=build_schema(settings))
        # The access-change feed (docs/feed.md); None when off. Its tables live in a SQLite file:
        # the store's file, or with Neo4j (nothing on an instance's own disk) NTK_FEED_DB only.
        feed_db = settings.feed_path()
        feed = app.state.feed = start_feed_service(engine, feed_db) if feed_db is not None else None
        try:
            yield
        finally:
            if feed is not None:
                feed.stop()
            tokens.close()
            if engine.audit is not None:
                engine.audit.close()
            engine.store.close()

    routes = [
        Route("/graphql", graphql_endpoint, methods=ALL_METHODS),
        WebSocketRoute("/graphql", SubscriptionsApp()),  # subscriptions (graphql-transport-ws)
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/coverage/data", coverage_data, methods=["GET"]),
        *web_routes(),
    ]
    if settings.test_hooks:
        routes.append(Route("/_test/audit", audit_hook, methods=["POST"]))
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        Middleware(AuthenticationMiddleware, backend=BearerTokens()),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --factory api.app:app_from_env`` (settings from NTK_* variables)."""
    return create_app(ApiSettings())
