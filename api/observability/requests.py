"""ASGI middleware around every HTTP request: request id, access log line (debug), span and counters.

The request id is the caller's ``X-Request-ID`` when it is a short token of safe characters,
else a fresh one; it is bound to every log line of the request (structlog contextvars),
set on the request span and returned in the ``X-Request-ID`` response header. The
operation label is what the endpoint named (``scope["state"]["ntk_operation"]``: the
GraphQL root field) or the route family; never the raw path, so labels stay a closed set.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.metrics import OPERATION_SECONDS, REQUESTS
from api.observability.tracing import server_span

__all__ = ["OPERATION_KEY", "REQUEST_ID_HEADER", "RequestObserver", "route_family"]

log = structlog.get_logger("needtoknow.http")

REQUEST_ID_HEADER: Final = "x-request-id"
OPERATION_KEY: Final = "ntk_operation"
_REQUEST_ID_KEY: Final = REQUEST_ID_HEADER.encode("latin-1")  # ASGI header names are lower-case bytes
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_FAMILIES: Final = (
    ("/graphql", "graphql"),
    ("/coverage/data", "coverage_data"),
    ("/metrics", "metrics"),
    ("/healthz", "healthz"),
    ("/readyz", "readyz"),
    ("/auth/", "auth"),
    ("/static/", "static"),
    ("/_test/", "test_hooks"),
)
_PAGES: Final = frozenset({"/network", "/coverage", "/family"})


def route_family(path: str) -> str:
    """A closed-set label for a path (``graphql``, ``static``, ``page``, ... ``other``)."""
    for prefix, family in _FAMILIES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return family
    return "page" if path in _PAGES else "other"


class RequestObserver:
    """Request id, one ``request`` log line, a server span and ``ntk_requests_total`` per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == _REQUEST_ID_KEY), "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        status = 500
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        name = f"{scope['method']} {route_family(scope['path'])}"
        with server_span(name, scope["headers"]) as span:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                operation = str(state.get(OPERATION_KEY) or route_family(scope["path"]))
                if span is not None:
                    span.set_attributes(
                        {"http.request.method": scope["method"], "http.response.status_code": status,
                         "ntk.operation": operation, "ntk.request_id": request_id}
                    )  # fmt: skip
                REQUESTS.labels(operation, str(status)).inc()
                OPERATION_SECONDS.labels(operation).observe(elapsed)
                # debug: one line per request only when asked for (NTK_LOG_LEVEL=debug); at scale an access
                # log belongs to the proxy, and an undrained stderr pipe must not stall the server.
                log.debug("request", method=scope["method"], operation=operation, status=status, ms=round(elapsed * 1000, 2))
                structlog.contextvars.unbind_contextvars("request_id")
