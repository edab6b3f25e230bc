"""The web pages: the partner-network page for staff, and GraphiQL; every asset served locally.

==========================  =====================================================================
path                        what
==========================  =====================================================================
``GET /network``            the partner-network page (static HTML; data from ``/graphql``)
``GET /coverage``           the coverage page (static HTML; data from ``/coverage/data``)
``GET /family``             the family page, rendered in the family's language (`api.web.family`)
``GET /static/{file}``      our own JS, CSS and icons (``api/web/static/``)
``GET /static/vendor/{f}``  third-party files installed from npm into ``api/web/node_modules``
                            by ``make web`` (``npm ci``); only the files in `VENDOR`
==========================  =====================================================================

The pages hold no data and need no token to load: their scripts ask for a bearer token,
keep it in ``sessionStorage`` (this tab only) and send it in the ``Authorization``
header of each ``/graphql`` request, never in a URL; or, with single sign-on, send the
session cookie and an ``X-CSRF-Token`` header (``static/auth.js``, docs/network-page.md).

Nothing is loaded from a CDN; `SecurityHeaders` gives every response a
Content-Security-Policy allowing only this origin (no inline scripts or styles).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "NODE_MODULES", "STATIC_DIR", "VENDOR", "SecurityHeaders", "graphiql_page", "web_routes"]

WEB_DIR: Final = Path(__file__).resolve().parent
STATIC_DIR: Final = WEB_DIR / "static"
NODE_MODULES: Final = WEB_DIR / "node_modules"

VENDOR: Final = MappingProxyType(
    {
        "cytoscape.min.js": "cytoscape/dist/cytoscape.min.js",
        "layout-base.js": "layout-base/layout-base.js",
        "cose-base.js": "cose-base/cose-base.js",
        "cytoscape-fcose.js": "cytoscape-fcose/cytoscape-fcose.js",
        "cytoscape-svg.js": "cytoscape-svg/cytoscape-svg.js",
        "react.production.min.js": "react/umd/react.production.min.js",
        "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
        "graphiql.min.js": "graphiql/graphiql.min.js",
        "graphiql.min.css": "graphiql/graphiql.min.css",
        "d3.min.js": "d3/dist/d3.min.js",
        "plot.umd.min.js": "@observablehq/plot/dist/plot.umd.min.js",
    }
)
"""``/static/vendor/<name>`` -> path under ``api/web/node_modules`` (versions pinned in package.json)."""

CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""Only this origin; no inline script or style elements, no eval (``data:`` images and fonts for GraphiQL's CSS)."""

_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """ASGI middleware: the `CSP` and related headers on every HTTP response (unless already set).

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to ``http.response.start``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page(name: str) -> Response:
    return FileResponse(STATIC_DIR / name, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


async def network_page(_: Request) -> Response:
    """The partner-network page (no data in it: its script fetches ``partnerNetwork``)."""
    return _page("network.html")


async def coverage_page(_: Request) -> Response:
    """The coverage page (no data in it: its script fetches ``/coverage/data``)."""
    return _page("coverage.html")


def graphiql_page() -> Response:
    """GraphiQL, built from the npm packages in ``api/web/node_modules`` (served on ``GET /graphql``)."""
    return _page("graphiql.html")


async def vendor_file(request: Request) -> Response:
    """A third-party file listed in `VENDOR`; 404 for anything else or when ``make web`` has not run."""
    relative = VENDOR.get(request.path_params["name"])
    if relative is None:
        return PlainTextResponse("not found", status_code=404)
    path = NODE_MODULES / relative
    if not path.is_file():
        return PlainTextResponse(f"{relative} is not installed: run `make web` (npm ci in api/web)", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def web_routes() -> list[BaseRoute]:
    from api.web.family import family_page  # the page imports the schema; here, not at import time of api.web

    """Routes of the pages and their assets (vendor files before the static mount, which would shadow them)."""
    return [
        Route("/network", network_page, methods=["GET"]),
        Route("/coverage", coverage_page, methods=["GET"]),
        Route("/family", family_page, methods=["GET"]),
        Route("/static/vendor/{name}", vendor_file, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
