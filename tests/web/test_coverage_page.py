"""The coverage page in Debian's Chromium, driven by Playwright, over a generated partnership.

A real uvicorn server over a synthetic bundle (`loaders.synthetic.generate`, 3,000
students: realistic proportions, small enough for the suite; the 20k screenshots in
BENCHMARKS.md / docs were taken the same way with ``NTK_PAGE_STUDENTS=20000``). Each test fails on a
console error, a page error, or a request leaving the server's origin (no CDN). Screenshots
at 1440x900 and 390x844 are saved under the test's tmp dir (or ``NTK_SCREENSHOTS``).

Accessibility: axe-core from npm (api/web/node_modules/axe-core/axe.min.js), evaluated in
the page (the page's CSP forbids injected <script> elements; DevTools evaluation is
allowed), no serious or critical violations.
"""

from __future__ import annotations

import io
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page

from api.config import ApiSettings
from api.tokens import TokenStore
from api.web import NODE_MODULES
from graph.stores.memory import MemoryStore
from loaders.bundle import read
from loaders.importer import import_result
from loaders.synthetic import DEFAULT_START, generate
from tests.api.conftest import Server
from tests.web.test_network_page import Watch, browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.browser

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
STUDENTS = int(os.environ.get("NTK_PAGE_STUDENTS", "3000"))
QUERY = "?by=community&at=2026-11-15&compare=2026-08-15"
VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}
CHARTS = ("chart-coverage", "chart-reasons", "chart-expiring", "chart-change")


@dataclass(frozen=True)
class Generated:
    url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """uvicorn over a generated partnership, with an analyst, a staff and a provider token."""
    root = tmp_path_factory.mktemp("coverage-page")
    generate(root / "bundle", students=STUDENTS, seed=7)
    db = root / "store.db"
    store = MemoryStore(db)
    try:
        import_result(store, read([root / "bundle"], default_valid_from=DEFAULT_START))
    finally:
        store.close()
    tokens = TokenStore(db)
    try:
        secrets = {
            "analyst": tokens.create(role="analyst", subject="a1")[1],
            "staff": tokens.create(role="staff", subject="s1")[1],
            "provider": tokens.create(role="provider", subject="prv-0001")[1],
        }
    finally:
        tokens.close()
    with Server(ApiSettings(db=db)) as server:
        yield Generated(server.url, secrets)


def fetch_json(site: Generated, query: str, token: str) -> Any:
    req = urllib.request.Request(f"{site.url}/coverage/data?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def open_page(browser: Browser, site: Generated, size: tuple[int, int]) -> tuple[Page, Watch]:  # noqa: F811
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
    p = context.new_page()
    watch = Watch(site.url)
    p.on("console", watch.console)
    p.on("pageerror", watch.page_error)
    p.route("**/*", watch.route)
    return p, watch


def sign_in(p: Page, site: Generated, token: str, query: str = QUERY) -> None:
    p.goto(site.url + "/coverage" + query)
    p.wait_for_selector("#token-form", state="visible")
    p.fill("#token", token)
    p.click("#token-form button[type=submit]")


def wait_ready(p: Page, *, compared: bool = True) -> None:
    for chart in CHARTS if compared else CHARTS[:-1]:
        p.wait_for_selector(f"#{chart}[data-state=ready]", timeout=120_000)


def shots_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("NTK_SCREENSHOTS", str(tmp_path)))
    out.mkdir(parents=True, exist_ok=True)
    return out


def serious_violations(p: Page) -> list[str]:
    p.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result: Any = p.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['impact']} {v['id']}: {v['help']}" for v in result["violations"] if v["impact"] in ("serious", "critical")]


def suppressed_in(data: Any, table: str, series: str, measures: set[str]) -> tuple[int, int]:
    """(suppressed, published) group-row figures of `table` for `measures` in `series`."""
    recs = [r for r in data["records"] if r["table"] == table and r["series"] == series and r["measure"] in measures
            and r["row_kind"] == "group"]
    return sum(r["suppressed"] for r in recs), sum(1 for r in recs if not r["suppressed"] and r["value"] is not None)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_coverage_page_charts_suppressed_cells_as_such(browser: Browser, generated: Generated, tmp_path: Path, viewport: str) -> None:  # noqa: F811
    p, watch = open_page(browser, generated, VIEWPORTS[viewport])
    try:
        sign_in(p, generated, generated.tokens["analyst"])
        wait_ready(p)
        out = shots_dir(tmp_path)
        p.screenshot(path=str(out / f"coverage-{viewport}.png"), full_page=True)
        p.screenshot(path=str(out / f"coverage-{viewport}-viewport.png"))
        assert (out / f"coverage-{viewport}.png").stat().st_size > 10_000

        data = fetch_json(generated, "by=community&at=2026-11-15T00:00:00Z&compare=2026-08-15T00:00:00Z&expiring_days=30",
                          generated.tokens["analyst"])
        cov = suppressed_in(data, "students", "after", {"consented_pct", "served_pct"})
        change = suppressed_in(data, "students", "change", {"students", "consented", "served"})
        assert change[0] > 0, "a realistic comparison hides some small changes"
        for chart, (hidden, shown) in (("chart-coverage", cov), ("chart-change", change)):
            assert p.get_attribute(f"#{chart}", "data-suppressed") == str(hidden), chart
            assert p.get_attribute(f"#{chart}", "data-values") == str(shown), chart
        # Each suppressed figure is a labelled grey box, never a zero-length bar.
        labels = p.locator("#chart-change text", has_text="* suppressed").count()
        assert labels == change[0]
        assert "2026-08-15" in p.inner_text("#since")

        assert generated.tokens["analyst"] not in p.url and "token" not in p.url
        assert serious_violations(p) == []
        assert watch.problems == []
    finally:
        p.context.close()


def test_coverage_page_downloads_csv_and_xlsx(browser: Browser, generated: Generated) -> None:  # noqa: F811
    p, watch = open_page(browser, generated, VIEWPORTS["desktop"])
    try:
        sign_in(p, generated, generated.tokens["staff"], "?by=school&at=2026-11-15")
        wait_ready(p, compared=False)
        assert p.get_attribute("#chart-change", "data-state") == "idle"
        with p.expect_download() as info:
            p.click("#download-csv")
        csv_path = info.value.path()
        assert info.value.suggested_filename == "coverage-school-2026-11-15.csv"
        frame = pd.read_csv(csv_path)
        assert pd.api.types.is_numeric_dtype(frame["value"]) and frame["suppressed"].dtype == bool
        assert set(frame["group_by"]) == {"school", "community"}  # need_gaps is always by community
        with p.expect_download() as info:
            p.click("#download-xlsx")
        book = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
        assert {"Students", "Blocking reasons", "Long form", "Notes"} <= set(book.sheetnames)
        assert watch.problems == []
    finally:
        p.context.close()


def test_other_roles_are_sent_back_to_sign_in(browser: Browser, generated: Generated) -> None:  # noqa: F811
    p, watch = open_page(browser, generated, VIEWPORTS["desktop"])
    watch.allowed = ("403",)
    try:
        sign_in(p, generated, generated.tokens["provider"])
        p.wait_for_selector("#sign-in-error:has-text('staff, analyst or admin')", timeout=30_000)
        assert p.is_hidden("#app")
        assert p.evaluate("() => sessionStorage.getItem('needtoknow.token')") is None
        assert watch.problems == []
    finally:
        p.context.close()
