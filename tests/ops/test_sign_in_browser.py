"""The pages' single sign-on in Debian's Chromium against a real OpenID provider on loopback.

The provider is oidc-provider-mock 0.3 (Flask + authlib, served by werkzeug on 127.0.0.1):
discovery, JWKS, an authorization form with a button per predefined user, a token endpoint
issuing RS256 ID tokens with the user's claims. It is the one on the package list that runs
on Python 3.11 (0.4 needs 3.12). It does not check PKCE itself, so the test records the
token requests it receives and checks that S256(code_verifier) equals the code_challenge
the browser carried: the whole round trip, verified end to end.

    the tests/web/network_world partnership; at the provider: s1 (roles: [staff])

Round trip: /network shows "Sign in with your organisation account" -> the provider's form
-> s1 -> /auth/callback -> /network drawn from /graphql with the session cookie and the CSRF
header; the coverage page and GraphiQL work in the same session; a request with the cookie
but without the header is refused; signing out ends it. No URL ever holds a token.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import werkzeug.serving
from oidc_provider_mock import User
from oidc_provider_mock import app as provider_app
from playwright.sync_api import Browser, Page
from playwright.sync_api import Request as PwRequest
from playwright.sync_api import Route as PwRoute

from api.config import ApiSettings
from tests.api.conftest import Server
from tests.web.network_world import build_network_db
from tests.web.test_network_page import browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("NTK_SCREENSHOTS", "")) if os.environ.get("NTK_SCREENSHOTS") else None


@dataclass
class Provider:
    url: str
    token_requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    app = provider_app(user_claims=[User(sub="s1", claims={"roles": ["staff"], "name": "Sam Staff"})])
    seen = Provider("")
    inner = app.wsgi_app

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/oauth2/token":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            seen.token_requests.append(dict(urllib.parse.parse_qsl(body.decode())))


            environ["wsgi.input"] = io.BytesIO(body)
        return inner(environ, start_response)

    app.wsgi_app = recording  # type: ignore[method-assign]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_port}"
    yield seen
    server.shutdown()


@pytest.fixture(scope="module")
def site(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("sso") / "web.db"
    build_network_db(db)
    settings = ApiSettings(
        db=db,
        graphiql=True,
        oidc_issuer=provider.url,
        oidc_client_id="needtoknow-pages",
        oidc_client_secret="pages-secret",  # a confidential client (the provider accepts any secret)
        session_secret="a-test-secret-of-enough-length-0123456789",
        rate_limit="",
    )
    with Server(settings) as server:
        yield server.url


@dataclass
class Seen:
    urls: list[str] = field(default_factory=list)
    api: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def open_page(browser: Browser, origins: tuple[str, ...], width: int = 1440, height: int = 900) -> tuple[Page, Seen]:  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    seen = Seen()

    def ours() -> bool:  # the provider's own pages load a stylesheet from a CDN: theirs, blocked, not counted
        return page.url.startswith(origins[0]) or page.url == "about:blank"

    def route(r: PwRoute, request: PwRequest) -> None:
        if request.url.startswith(origins):
            r.continue_()
        else:
            if ours():
                seen.problems.append(f"request off the servers: {request.url}")
            r.abort()

    def on_request(request: PwRequest) -> None:  # every request, redirects included
        seen.urls.append(request.url)
        if request.url.startswith(origins[0] + "/graphql") and request.method == "POST":
            seen.api.append(request.headers)

    page.route("**/*", route)
    page.on("request", on_request)
    page.on("pageerror", lambda err: seen.problems.append(f"page error: {err}"))
    page.on("console", lambda m: m.type == "error" and ours() and seen.problems.append(f"console: {m.text}"))
    return page, seen


def shot(page: Page, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def sign_in(page: Page, site: str) -> None:
    page.goto(f"{site}/network")
    page.wait_for_selector("#sso-sign-in", state="visible", timeout=15_000)
    page.click("#sso-sign-in")
    page.wait_for_selector("button[value=s1]", timeout=15_000)  # the provider's own form
    page.click("button[value=s1]")
    page.wait_for_url(f"{site}/network", timeout=15_000)
    page.wait_for_selector("#graph[data-state=ready]", timeout=30_000)


def test_the_pages_sign_in_with_the_provider_and_keep_a_cookie_session(
    browser: Browser,  # noqa: F811
    site: str,
    provider: Provider,
) -> None:
    page, seen = open_page(browser, (site, provider.url))
    sign_in(page, site)
    shot(page, "sso-network-1440x900")

    # The authorization request carried state, nonce and a PKCE S256 challenge; the token
    # request the provider received carried the verifier that hashes to it.
    authorize = next(u for u in seen.urls if "/oauth2/authorize?" in u)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
    assert query["code_challenge_method"] == "S256" and query["state"] and query["nonce"]
    assert query["response_type"] == "code" and query["client_id"] == "needtoknow-pages"
    verifier = provider.token_requests[-1]["code_verifier"]
    assert base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode() == query["code_challenge"]

    # Never a token in a URL: the callback carries a one-time code and the state, nothing else.
    assert not any("access_token" in u or "id_token" in u or "ntk_" in u for u in seen.urls)
    callback = next(u for u in seen.urls if "/auth/callback?" in u)
    assert set(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))) == {"code", "state"}

    cookies = {c["name"]: c for c in page.context.cookies(site)}
    assert cookies["ntk_session"]["httpOnly"] is True and cookies["ntk_session"]["sameSite"] == "Lax"
    assert cookies["ntk_csrf"]["httpOnly"] is False and cookies["ntk_csrf"]["sameSite"] == "Strict"
    assert page.evaluate("() => [window.ntkAuth.mode(), sessionStorage.getItem('needtoknow.token')]") == ["session", None]


    # The cookie without the header is not a caller (what another site could make a browser send).
    forged = page.context.request.post(f"{site}/graphql", data={"query": "{ __typename }"}, headers={"Content-Type": "application/json"})
    assert forged.status == 401
    ok = page.context.request.post(
        f"{site}/graphql",
        data={"query": "{ __typename }"},
        headers={"Content-Type": "application/json", "X-CSRF-Token": cookies["ntk_csrf"]["value"]},
    )
    assert ok.status == 200 and ok.json() == {"data": {"__typename": "Query"}}

    # Every other page works in the same session through window.ntkAuth, unchanged.
    page.goto(f"{site}/coverage")
    page.wait_for_selector("#chart-coverage[data-state=ready]", timeout=30_000)
    before = len(seen.api)
    with page.expect_response(lambda r: r.url == f"{site}/graphql" and r.request.method == "POST", timeout=45_000) as introspection:
        page.goto(f"{site}/graphql")  # GraphiQL asks for the schema through its own fetcher
    page.wait_for_selector(".graphiql-container", timeout=45_000)
    assert introspection.value.status == 200 and "__schema" in introspection.value.json()["data"]
    assert len(seen.api) > before
    # Every /graphql request of every page: the CSRF header, no Authorization header.
    csrf = cookies["ntk_csrf"]["value"]
    assert all("authorization" not in h and h.get("x-csrf-token") == csrf for h in seen.api), seen.api

    # Signing out ends the session on the server too.
    page.goto(f"{site}/network")
    page.wait_for_selector("#graph[data-state=ready]", timeout=30_000)
    assert page.inner_text("#sign-out") == "Sign out"  # a session, not a pasted token
    page.click("#sign-out")
    page.wait_for_selector("#sso-sign-in", state="visible", timeout=15_000)
    assert page.context.request.get(f"{site}/auth/session").json()["signedIn"] is False
    assert "ntk_csrf" not in {c["name"] for c in page.context.cookies(site)}
    assert seen.problems == []
    page.context.close()


def test_the_sign_in_choice_on_a_phone_and_the_token_form_still_works(
    browser: Browser,  # noqa: F811
    site: str,
    provider: Provider,
) -> None:
    page, seen = open_page(browser, (site, provider.url), 390, 844)
    for path, name in (("/network", "network"), ("/coverage", "coverage"), ("/graphql", "graphiql")):
        page.goto(f"{site}{path}")
        page.wait_for_selector("#sso-sign-in", state="visible", timeout=15_000)
        shot(page, f"sso-sign-in-{name}-390x844")
        assert page.get_attribute("#sso-sign-in", "href") == f"/auth/login?next=%2F{path[1:]}"
        assert page.is_visible("#token-form")  # the bearer-token form stays beside it
    assert seen.problems == []
    page.context.close()


def test_a_refused_callback_is_a_page_not_a_traceback(site: str, browser: Browser) -> None:  # noqa: F811
    page, _ = open_page(browser, (site,))
    response = page.goto(f"{site}/auth/callback?code=forged&state=forged")
    assert response is not None and response.status == 400
    assert "Sign-in failed" in page.content() and "Traceback" not in page.content()
    page.context.close()
