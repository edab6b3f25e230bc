"""The Starlette application: /graphql, /healthz, /readyz, /metrics, /auth, the web pages (api/web), a drill hook when enabled.

`create_app(settings)` builds it; `app_from_env` is the factory uvicorn imports when it
runs several worker processes (settings then come from ``NTK_*`` variables). The engine,
token table and schema are opened in the lifespan and closed on shutdown. GraphiQL is
served only when ``settings.graphiql`` is on. Every response carries a Content-Security-Policy
allowing only this origin (`api.web.SecurityHeaders`).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.auth.jwt import JwtVerifier
from api.auth.session import SESSION_COOKIE, sign_in_enabled
from api.config import ApiSettings
from api.coverage_data import coverage_data
from api.errors import RequestRefused
from api.http import AppState, BearerTokens, graphql_endpoint, principal_of, refusal
from api.limits import BodyLimit, parse_json_body
from api.observability.instrument import instrument_engine, instrument_feed
from api.observability.logs import configure_json_logs
from api.observability.metrics import metrics_endpoint, worker_exited
from api.observability.requests import RequestObserver
from api.observability.tracing import start_tracing, stop_tracing
from api.ratelimit import Limiter
from api.response_cache import ResponseCache
from api.schema import build_schema
from api.subscriptions import SubscriptionsApp
from api.tokens import open_tokens
from api.web import SecurityHeaders, web_routes
from api.webhooks.service import start_feed_service
from graph.errors import NeedToKnowError
from graph.feed.deriver import Schedule
from graph.open import open_engine
from graph.stores.base import GraphStore

__all__ = ["app_from_env", "check_settings", "create_app"]

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


async def no_sign_in(_: Request) -> Response:
    """``GET /auth/session`` when the pages have no single sign-on: bearer tokens only."""
    return JSONResponse({"sso": False, "signedIn": False}, headers={"Cache-Control": "no-store"})


def check_settings(settings: ApiSettings) -> None:
    """Refuse, before any worker starts, settings that cannot work.

    Raises
    ------
    ValueError
        Naming the setting: a limit that does not parse, a role that is not one, an issuer
        without an audience, a symmetric or ``none`` JWT algorithm, a bad log level.
    """
    Limiter(settings)
    if settings.oidc_issuer:
        JwtVerifier(settings)
    if sign_in_enabled(settings) and len(settings.session_secret or "") < 32:
        raise ValueError("NTK_SESSION_SECRET must be at least 32 characters (it signs the session cookie)")
    configure_json_logs(settings.log_level)


def create_app(
    settings: ApiSettings | None = None,
    *,
    store: GraphStore | None = None,
    feed_schedule: Schedule | None = None,
    freeze_heap: bool = False,
) -> Starlette:
    """The ASGI application for `settings` (defaults from the environment); `store`, when given,
    is the graph store already open (a forked worker's, `api.prefork`), closed on shutdown;
    `feed_schedule`, the feed's lapse schedule built before the fork (`FeedService`'s ``ahead``);
    `freeze_heap` (a server process, ``needtoknow serve``): once started, everything loaded is
    moved out of the garbage collector's reach (`gc.freeze`) for the life of the process.

    Raises
    ------
    ValueError
        A setting that cannot work (an issuer without an audience, a limit that does not parse).
    """
    settings = settings or ApiSettings()
    check_settings(settings)
    limiter = Limiter(settings)
    verifier = JwtVerifier(settings) if settings.oidc_issuer else None
    sign_in = None
    if sign_in_enabled(settings):
        from api.auth.web import WebSignIn  # authlib is imported only where sign-in is configured

        sign_in = WebSignIn(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Embedded: journal, tokens and record in settings.db. Neo4j: all three in Neo4j, so an
        # instance keeps nothing on its own disk that another instance needs (DESIGN.md).
        start_tracing(settings)
        engine = instrument_engine(open_engine(settings, store))
        tokens = open_tokens(settings, engine.store)
        app.state.ntk = AppState(
            settings=settings,
            engine=engine,
            tokens=tokens,
            schema=build_schema(settings),
            jwt=verifier,
            limiter=limiter,
            responses=ResponseCache(settings.response_cache_bytes) if settings.response_cache_bytes else None,
        )
        # The access-change feed (docs/feed.md); None when off. Its tables live with the journal:
        # the store's SQLite file, or Neo4j (shared by every instance).
        feed = app.state.feed = start_feed_service(engine, settings, feed_schedule)
        if feed is not None:
            instrument_feed(feed)
        if freeze_heap:
            # The graph just loaded lives as long as the server: out of the collector's reach, or every
            # full collection walks millions of records (measured: a checkMany of 1,000 at 20,000
            # students, 176 -> 136 µs CPU per check). Not in tests: many apps share their process.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            stop_tracing()
            worker_exited()
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
        *(sign_in.routes() if sign_in is not None else [Route("/auth/session", no_sign_in, methods=["GET"])]),
        *web_routes(),
    ]
    if settings.metrics_enabled:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    if settings.test_hooks:
        routes.append(Route("/_test/audit", audit_hook, methods=["POST"]))
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(RequestObserver),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
    ]
    if sign_in is not None:
        middleware.append(
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret or "",
                session_cookie=SESSION_COOKIE,
                max_age=settings.session_max_age_seconds,
                same_site="lax",
                https_only=settings.session_cookie_secure,
            )
        )
    middleware.append(Middleware(AuthenticationMiddleware, backend=BearerTokens()))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --factory api.app:app_from_env`` (settings from NTK_* variables)."""
    return create_app(ApiSettings())
