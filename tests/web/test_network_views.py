"""The overview as staff meet it: Debian's Chromium at a desktop and a phone size, on the demo
and on a generated 20,000-student partnership.

For each (world, viewport): the page draws with no console error; at fit every node lies
inside the viewport; the visible labels overlap less than 2% of their area; search focuses
the chosen node (centred, neighbourhood highlighted, the rest dimmed) with a breadcrumb
back; the URL reproduces the view (focus, zoom, pan) in the same tab; axe-core (from npm,
injected into a CSP-bypassing context) reports no serious or critical violation.
Screenshots go to ``build/screenshots/`` (gitignored; the artifacts of a run).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api.config import ApiSettings
from api.tokens import TokenStore
from api.web import NODE_MODULES
from graph.timeutil import utcnow
from tests.api.conftest import Server
from tests.demo.conftest import build_demo
from tests.web.test_network_page import ARGS, CHROMIUM, Watch, sign_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}
EXE = str(Path(sys.executable).parent / "needtoknow")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, as in test_network_page."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass(frozen=True)
class World:
    name: str
    url: str
    staff: str
    search: str
    search_id: str


def _staff_token(db: Path) -> str:
    tokens = TokenStore(db)
    try:
        return tokens.create("staff", "view-tests")[1]
    finally:
        tokens.close()


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(db, utcnow())
    token = _staff_token(db)
    with Server(ApiSettings(db=db)) as server:
        yield World("demo", server.url, token, "Grand Bend (Community)", "com-grand-bend")


@pytest.fixture(scope="module")
def big_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    out = tmp_path_factory.mktemp("g20k")
    db = out / "g.db"
    for args in (
        ["generate", "--students", "20000", "--seed", "7", "--out", str(out / "bundle")],
        ["load", "bundle", str(out / "bundle"), "--db", str(db)],
    ):
        run = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
    token = _staff_token(db)
    with Server(ApiSettings(db=db), start_timeout=180) as server:  # the store replays 20k students' journal first
        yield World("20k", server.url, token, "Granger (Community)", "com-09")


@pytest.fixture(params=["demo", "20k"])
def world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("demo_world" if request.param == "demo" else "big_world")  # type: ignore[no-any-return]


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_page(browser: Browser, world: World, size: tuple[int, int], *, bypass_csp: bool = False) -> tuple[Page, Watch]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=bypass_csp)
    p = context.new_page()
    watch = Watch(world.url)
    p.on("console", watch.console)
    p.on("pageerror", watch.page_error)
    p.route("**/*", watch.route)
    sign_in(p, type("S", (), {"url": world.url})(), "/network", world.staff)  # type: ignore[arg-type]
    p.wait_for_selector("#graph[data-state=ready]", timeout=60_000)
    return p, watch


NODES_INSIDE = """() => {
  const cy = window.ntkNetwork.cy, w = cy.width(), h = cy.height();
  return cy.nodes().filter(n => { const b = n.renderedBoundingBox({includeLabels: false});
    return b.x1 < -0.5 || b.y1 < -0.5 || b.x2 > w + 0.5 || b.y2 > h + 0.5; }).map(n => n.id());
}"""

LABEL_OVERLAP = """() => {
  const cy = window.ntkNetwork.cy, z = cy.zoom();
  const shown = cy.nodes().filter(n => n.data('label')
    && parseFloat(n.style('font-size')) * z >= parseFloat(n.style('min-zoomed-font-size')));
  const only = {includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false};
  const boxes = shown.map(n => n.renderedBoundingBox(only))
    .filter(b => b.w > 0 && b.h > 0);
  let area = 0, overlap = 0;
  for (let i = 0; i < boxes.length; i++) {
    area += boxes[i].w * boxes[i].h;
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const ox = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1), oy = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
      if (ox > 0 && oy > 0) { overlap += ox * oy; }
    }
  }
  return {labels: boxes.length, ratio: area ? overlap / area : 0};
}"""


def test_overview_fits_reads_and_finds(chromium: Browser, world: World, viewport: str) -> None:
    size = VIEWPORTS[viewport]
    p, watch = open_page(chromium, world, size)
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SHOTS / f"network-{world.name}-{viewport}-overview.png"))
        assert p.evaluate(NODES_INSIDE) == [], "every node lies inside the viewport at fit"
        labels: Any = p.evaluate(LABEL_OVERLAP)
        assert labels["labels"] > 0, "some labels are readable at fit"
        assert labels["ratio"] < 0.02, labels
        if world.name == "20k" and viewport == "desktop":
            # ~150 partners: the overview names those whose labels fit (counted in the overlap above).
            assert int(p.get_attribute("#graph", "data-leaders") or 0) >= 8

        p.fill("#search", world.search)
        p.wait_for_selector(f"#panel[data-node='{world.search_id}']", timeout=15_000)
        focused: Any = p.evaluate(
            """id => { const cy = window.ntkNetwork.cy, n = cy.getElementById(id), r = n.renderedPosition();
              return {focused: n.hasClass('focused'), dimmed: cy.nodes('.dimmed').length, x: r.x / cy.width(), y: r.y / cy.height(),
                      inside: !n.renderedBoundingBox().x1 < 0}; }""",
            world.search_id,
        )
        assert focused["focused"] and 0.05 < focused["x"] < 0.95 and 0.05 < focused["y"] < 0.95, focused
        if world.name == "20k":
            assert focused["dimmed"] > 0, "the rest is dimmed"
        assert p.locator("#crumb-list li").count() == 2 and "Overview" in p.inner_text("#crumb-list")
        p.screenshot(path=str(SHOTS / f"network-{world.name}-{viewport}-focus.png"), full_page=True)
        assert watch.problems == []

        # The URL keeps the view: reloading it in the same tab (the token stays in sessionStorage) reproduces it.
        url = p.url
        assert "focus=" in url and "zoom=" in url and "token" not in url and world.staff not in url
        view: Any = p.evaluate("() => { const cy = window.ntkNetwork.cy; return {zoom: cy.zoom(), pan: cy.pan()}; }")
        p.goto(url)
        p.wait_for_selector("#graph[data-state=ready]", timeout=60_000)
        p.wait_for_selector(f"#panel[data-node='{world.search_id}']", timeout=15_000)
        again: Any = p.evaluate("() => { const cy = window.ntkNetwork.cy; return {zoom: cy.zoom(), pan: cy.pan()}; }")
        assert again["zoom"] == pytest.approx(view["zoom"], rel=1e-3)
        assert again["pan"]["x"] == pytest.approx(view["pan"]["x"], abs=0.2) and again["pan"]["y"] == pytest.approx(
            view["pan"]["y"], abs=0.2
        )
        assert p.evaluate(f"() => window.ntkNetwork.cy.getElementById('{world.search_id}').hasClass('focused')")
        p.click("#crumb-list button")
        p.wait_for_function("() => !location.search.includes('focus=')")
        assert watch.problems == []
    finally:
        p.context.close()


def test_no_serious_accessibility_violations(chromium: Browser, demo_world: World, viewport: str) -> None:
    p, watch = open_page(chromium, demo_world, VIEWPORTS[viewport], bypass_csp=True)
    try:
        p.add_script_tag(path=str(AXE))
        result: Any = p.evaluate(
            "async () => (await axe.run(document)).violations.map(v => ({id: v.id, impact: v.impact, n: v.nodes.length}))"
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert bad == [], bad
        assert watch.problems == []
    finally:
        p.context.close()


def test_date_control_and_phone_list(chromium: Browser, demo_world: World) -> None:
    p, watch = open_page(chromium, demo_world, VIEWPORTS["phone"])
    try:
        assert p.is_visible("#list")
        p.click("#list-communities button[data-node='com-grand-bend']")
        p.wait_for_selector("#panel[data-node='com-grand-bend'][data-state=ready]", timeout=15_000)
        p.fill("#as-of-date", "2026-09-01")
        p.dispatch_event("#as-of-date", "change")
        p.wait_for_function("() => location.search.includes('at=2026-09-01')")
        p.wait_for_selector("#graph[data-state=ready]", timeout=30_000)
        assert "2026-09-01" in p.inner_text("#as-of")
        assert watch.problems == []
    finally:
        p.context.close()
