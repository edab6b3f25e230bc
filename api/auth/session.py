"""The web session's caller (read on every request; the sign-in routes are in `api.auth.web`).

A request authenticated by the session cookie must carry ``X-CSRF-Token`` equal to the
session's secret (given to the page in the readable ``ntk_csrf`` cookie): another site can
make a browser send the cookie, but cannot read ``ntk_csrf`` to set the header.
"""

from __future__ import annotations

import hmac
import time
from typing import Final

from starlette.requests import HTTPConnection

from api.config import ApiSettings
from api.roles import Principal, Role

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "SESSION_COOKIE", "session_principal", "sign_in_enabled"]

SESSION_COOKIE: Final = "ntk_session"
CSRF_COOKIE: Final = "ntk_csrf"
CSRF_HEADER: Final = "x-csrf-token"
_KEY: Final = "ntk"
_NEXT: Final = "ntk_next"


def sign_in_enabled(settings: ApiSettings) -> bool:
    """True when the pages can sign in with the provider (issuer, client id and session secret set)."""
    return bool(settings.oidc_issuer and settings.oidc_client_id and settings.session_secret)


def session_principal(conn: HTTPConnection) -> Principal | None:
    """The caller of a live session whose request carries the matching CSRF header; None otherwise."""
    if "session" not in conn.scope:
        return None
    data = conn.session.get(_KEY)
    if not isinstance(data, dict) or float(data.get("exp", 0)) <= time.time():
        return None
    sent = conn.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), str(data.get("csrf", "")).encode()):
        return None
    try:
        return Principal(str(data["id"]), Role(data["role"]), data.get("subject"), tuple(data.get("partners", ())))
    except (KeyError, ValueError):
        return None
