"""The partner-network page (and GraphiQL) in Debian's Chromium, driven by Playwright.

A real uvicorn server over `tests.web.network_world` (12 network nodes; westside keeps
6); a staff token typed into the page's form. Every test fails on a console error, a
page error, or a request leaving the server's origin (the pages work offline).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

from graph.changes import PutNode
from graph.model import NodeKind
from tests.web.conftest import Site
from tests.web.network_world import network_world

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NETWORK_KINDS = {NodeKind.PARTNER, NodeKind.PROGRAM, NodeKind.COMMUNITY, NodeKind.SCHOOL}


def world_nodes(*kinds: NodeKind) -> set[str]:
    """Ids of the world's nodes of `kinds`."""
    return {c.node.id for c in network_world().changes() if isinstance(c, PutNode) and c.node.kind in kinds}


@dataclass
class Watch:
    """What went wrong in the page: console errors, page errors, requests to other origins."""

    origin: str
    problems: list[str] = field(default_factory=list)
    allowed: tuple[str, ...] = ()

    def console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and not any(a in msg.text for a in self.allowed):
            self.problems.append(f"console: {msg.text}")

    def page_error(self, err: Exception) -> None:
        self.problems.append(f"page error: {err}")

    def route(self, route: Route, request: Request) -> None:
        if request.url.startswith(self.origin + "/") or request.url.startswith("data:"):
            route.continue_()
        else:
            self.problems.append(f"request off the server: {request.url}")
            route.abort()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (`make browser` installs it); never a downloaded one."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    """A fresh page (own sessionStorage) that records every problem."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    watch = Watch(site.url)
    p.on("console", watch.console)
    p.on("pageerror", watch.page_error)
    p.route("**/*", watch.route)
    try:
        yield p, watch
    finally:
        context.close()


def sign_in(p: Page, site: Site, path: str, token: str) -> None:
    p.goto(site.url + path)
    p.wait_for_selector("#token-form", state="visible")
    p.fill("#token", token)
    p.click("#token-form button[type=submit]")


def cy_nodes(p: Page) -> set[str]:
    ids: Any = p.evaluate("() => window.ntkNetwork.cy.nodes().map(n => n.id())")
    return set(ids)


def wait_drawn(p: Page, nodes: int) -> None:
    p.wait_for_selector(f"#graph[data-state=ready][data-nodes='{nodes}']", timeout=15_000)


def test_network_page_draws_the_overview_filters_and_shows_suppressed_coverage(
    page: tuple[Page, Watch], site: Site, tmp_path: Path
) -> None:
    p, watch = page
    overview = world_nodes(NodeKind.PARTNER, NodeKind.COMMUNITY, NodeKind.SCHOOL)  # programs folded into partners
    assert len(overview) == 9

    sign_in(p, site, "/network", site.tokens["staff"])
    wait_drawn(p, len(overview))
    assert cy_nodes(p) == overview, "communities, schools and partners; programs folded; nothing else"
    assert not cy_nodes(p) & world_nodes(NodeKind.STUDENT)
    assert site.tokens["staff"] not in p.url and "token" not in p.url
    assert p.evaluate("() => sessionStorage.getItem('needtoknow.token')") == site.tokens["staff"]
    assert p.inner_text("#sign-out") == "Forget token"  # a pasted token, not a session
    assert p.is_visible("#legend")
    assert p.evaluate("() => window.ntkNetwork.cy.getElementById('adams').parent().id()") == "westside"

    p.select_option("#filter-community", "westside")
    wait_drawn(p, 4)
    assert cy_nodes(p) == {"westside", "roosevelt", "adams", "ptn-hope"}
    assert "community=westside" in p.url

    # Click the school adams (3 students: a small cell) on the canvas itself.
    box = p.locator("#graph").bounding_box()
    assert box is not None
    pos: Any = p.evaluate("() => window.ntkNetwork.cy.getElementById('adams').renderedPosition()")
    p.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    p.wait_for_selector("#panel[data-state=ready][data-node=adams]", timeout=15_000)
    assert p.inner_text("#panel-title") == "Adams Middle"
    figures = dict(
        zip(
            p.locator("#panel-figures dt:not(.section)").all_inner_texts(),
            p.locator("#panel-figures dd").all_inner_texts(),
            strict=True,
        )
    )
    assert figures["Students in the network"] == "suppressed"
    assert figures["Students"] == "suppressed"
    assert "3" not in figures.values(), "the raw small count never reaches the page"
    assert p.locator("#panel-figures dd.suppressed").count() >= 2

    shot = tmp_path / "network.png"
    p.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert watch.problems == []


def test_a_partner_unfolds_into_its_programs_named_with_it(page: tuple[Page, Watch], site: Site) -> None:
    p, watch = page
    sign_in(p, site, "/network", site.tokens["analyst"])
    wait_drawn(p, 9)
    p.fill("#search", "Hope Center (Partner)")
    p.wait_for_selector("#panel[data-node=ptn-hope]", timeout=15_000)
    assert p.inner_text("#panel-kind") == "Partner"
    p.click("#toggle-programs")
    wait_drawn(p, 11)
    assert {"prg-tutor", "prg-mentor"} <= cy_nodes(p)
    assert "open=ptn-hope" in p.url
    names = p.evaluate("() => Array.from(document.querySelectorAll('#search-suggestions option')).map(o => o.value)")
    assert "Mentoring — Hope Center (Program)" in names, "programs are named with their partner"
    assert watch.problems == []


def test_a_role_without_aggregates_is_sent_back_to_the_form(page: tuple[Page, Watch], site: Site) -> None:
    p, watch = page
    watch.allowed = ("status of 403",)  # Chromium logs the refused /graphql response itself
    sign_in(p, site, "/network", site.tokens["provider"])
    p.wait_for_selector("#sign-in-error:has-text('may not see the network')", timeout=15_000)
    assert p.evaluate("() => sessionStorage.getItem('needtoknow.token')") is None
    assert p.is_hidden("#app")
    assert watch.problems == []


def test_graphiql_is_served_from_local_assets(page: tuple[Page, Watch], site: Site) -> None:
    p, watch = page
    sign_in(p, site, "/graphql", site.tokens["admin"])
    p.wait_for_selector(".graphiql-container", timeout=15_000)
    p.wait_for_selector(".graphiql-editor", timeout=15_000)
    assert watch.problems == []


def test_the_current_view_exports_as_png_and_svg(page: tuple[Page, Watch], site: Site) -> None:
    p, watch = page
    sign_in(p, site, "/network?focus=westside", site.tokens["staff"])
    p.wait_for_selector("#panel[data-node=westside]", timeout=15_000)
    with p.expect_download() as png:
        p.click("#export-png")
    assert png.value.suggested_filename.endswith("-westside.png")
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with p.expect_download() as svg:
        p.click("#export-svg")
    text = Path(svg.value.path()).read_text(encoding="utf-8")
    assert svg.value.suggested_filename.endswith(".svg") and "<svg" in text and "Westside" in text
    assert watch.problems == []
