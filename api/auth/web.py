"""The web pages' sign-in with the identity provider: authorization code + PKCE, a session cookie.

==========================  ===================================================================
route                       what
==========================  ===================================================================
``GET /auth/login?next=/p``  redirect to the provider (state, nonce, PKCE S256 challenge kept in
                            the signed session); ``next`` must be a path of this server
``GET /auth/callback``      exchange the code (with the PKCE verifier), verify the ID token
                            (issuer, audience, expiry, nonce, signature), map its claims to a
                            caller, start the session, redirect (303) to ``next``
``POST /auth/logout``       end the session (needs the CSRF header)
``GET /auth/session``       ``{"sso": bool, "signedIn": bool, "role", "subject", "expiresAt"}``
==========================  ===================================================================

The session lives in one cookie, ``ntk_session``: signed (itsdangerous, ``session_secret``),
``HttpOnly``, ``SameSite=Lax`` (the provider's redirect back is a cross-site navigation),
``Secure`` unless ``session_cookie_secure`` is off; it ends at the earlier of
``session_max_age_seconds`` and the access token's expiry. No token is ever put in a URL, a
page or a script: the cookie holds the caller (role, subject, partners), not the tokens.

CSRF: the session holds a random secret, also given to the page in the readable cookie
``ntk_csrf`` (``SameSite=Strict``). A request authenticated by the session cookie is
accepted only when its ``X-CSRF-Token`` header equals that secret; another site can make a
browser send the cookie but cannot read ``ntk_csrf`` to set the header.
"""

from __future__ import annotations

import html
import secrets
import time
import warnings
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.auth.claims import ClaimsRefused, principal_from_claims
from api.auth.session import _KEY, _NEXT, CSRF_COOKIE, session_principal
from api.config import ApiSettings

with warnings.catch_warnings():
    # authlib's starlette client imports its httpx integration, which announces a rename we do not need.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.starlette_client import OAuth, OAuthError

__all__ = ["WebSignIn"]

log = structlog.get_logger("needtoknow.auth")


def _local_path(value: str | None) -> str:
    """`value` when it is a path on this server (``/network``), else ``/``: no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return "/"
    return value


def _page(title: str, message: str, status: int) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>needtoknow: '
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        '<p><a href="/network">Back</a></p></body></html>'
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


class WebSignIn:
    """The sign-in routes of one app."""

    def __init__(self, settings: ApiSettings) -> None:
        assert settings.oidc_issuer is not None
        self.settings = settings
        self.oauth = OAuth()
        kwargs: dict[str, Any] = {"scope": settings.oidc_scopes, "code_challenge_method": "S256"}
        if not settings.oidc_client_secret:
            kwargs["token_endpoint_auth_method"] = "none"  # a public client: PKCE alone binds the code
        self.oauth.register(
            "idp",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs=kwargs,
        )

    def routes(self) -> list[BaseRoute]:
        """The /auth routes."""
        return [
            Route("/auth/login", self.login, methods=["GET"]),
            Route("/auth/callback", self.callback, methods=["GET"]),
            Route("/auth/logout", self.logout, methods=["POST"]),
            Route("/auth/session", self.status, methods=["GET"]),
        ]

    async def login(self, request: Request) -> Response:
        """Redirect to the provider's authorization endpoint."""
        request.session.pop(_KEY, None)
        request.session[_NEXT] = _local_path(request.query_params.get("next"))
        redirect_uri = self.settings.oidc_redirect_uri or str(request.url_for("callback"))
        try:
            response: Response = await self.oauth.idp.authorize_redirect(request, redirect_uri)
        except (OAuthError, OSError, ValueError) as err:
            log.error("sign_in_failed", step="discovery", error=type(err).__name__)
            return _page("Sign-in is unavailable", "The identity provider could not be reached. Try again later.", 503)
        return response

    async def callback(self, request: Request) -> Response:
        """Finish the code flow and start the session."""
        try:
            token = await self.oauth.idp.authorize_access_token(request)
        except (OAuthError, OSError, ValueError) as err:
            log.warning("sign_in_failed", step="callback", error=getattr(err, "error", type(err).__name__))
            return _page("Sign-in failed", "The identity provider did not confirm the sign-in. Start again from the page.", 400)
        claims = token.get("userinfo") or {}
        try:
            principal = principal_from_claims(claims, self.settings, "sso:")
        except ClaimsRefused as err:
            log.warning("sign_in_refused", reason=err.reason)
            return _page("No access", "Your account has no needtoknow role, or more than one. Ask your administrator.", 403)
        expires = time.time() + self.settings.session_max_age_seconds
        if isinstance(token.get("expires_at"), int | float):
            expires = min(expires, float(token["expires_at"]))
        csrf = secrets.token_urlsafe(32)
        next_path = _local_path(request.session.pop(_NEXT, None))
        request.session[_KEY] = {
            "id": principal.token_id,
            "role": str(principal.role),
            "subject": principal.subject,
            "partners": list(principal.partner_ids),
            "exp": expires,
            "csrf": csrf,
        }
        log.info("signed_in", role=str(principal.role))
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            max_age=max(1, int(expires - time.time())),
            path="/",
            secure=self.settings.session_cookie_secure,
            httponly=False,  # the page reads it to send the X-CSRF-Token header
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (the CSRF header must match), and forget the CSRF cookie."""
        if session_principal(request) is None:
            return JSONResponse({"errors": [{"message": "no session, or a missing CSRF header", "extensions": {"code": "FORBIDDEN"}}]}, 403)
        request.session.clear()
        response = Response(status_code=204)
        response.delete_cookie(CSRF_COOKIE, path="/", secure=self.settings.session_cookie_secure, samesite="strict")
        return response

    async def status(self, request: Request) -> Response:
        """Whether sign-in is offered and who is signed in (no secret in the answer)."""
        data = request.session.get(_KEY) if "session" in request.scope else None
        live = isinstance(data, dict) and float(data.get("exp", 0)) > time.time()
        body: dict[str, Any] = {"sso": True, "signedIn": live}
        if live and isinstance(data, dict):
            body.update(role=data.get("role"), subject=data.get("subject"), expiresAt=int(float(data["exp"])))
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
