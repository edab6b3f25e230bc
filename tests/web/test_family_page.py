"""The family page in Debian's Chromium, driven by Playwright, over the demo built today.

    demo: 778399 -GUARDIAN_OF(full)-> 604938 (17; Rosa Delgado serves her; consent demo-cns-604938)
          779044 -GUARDIAN_OF(unverified)-> 604874 ; 777901 -GUARDIAN_OF(full)-> 604918 (18: eligible)

One guardian reads the report, gives a consent (review, sign, receipt) and revokes it, in
English at 1440x900 with the mouse, then in Spanish at 390x844 with the keyboard alone;
other guardians see the signer-authority refusals in words. Every step fails on a console
error, a page error, a request leaving the server, a token in a URL, or any axe-core
violation (WCAG 2.1 AA rules; axe-core from npm, evaluated in the page as in
test_coverage_page.py). Screenshots go to ``NTK_SCREENSHOTS`` (else the test's tmp dir).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from api.config import ApiSettings
from api.tokens import TokenStore
from api.web import NODE_MODULES
from graph.timeutil import utcnow
from tests.api.conftest import Server
from tests.demo.conftest import build_demo
from tests.web.test_network_page import Watch, browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.browser

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
DESKTOP, PHONE = (1440, 900), (390, 844)
PEOPLE = {
    "mother": ("guardian", "778399"),
    "unverified": ("guardian", "779044"),
    "parent_of_adult": ("guardian", "777901"),
    "admin": ("admin", "t"),
}


@dataclass(frozen=True)
class Family:
    url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Family]:
    db = tmp_path_factory.mktemp("family-page") / "demo.db"
    build_demo(db, utcnow())
    store = TokenStore(db)
    try:
        tokens = {name: store.create(role, subject)[1] for name, (role, subject) in PEOPLE.items()}
    finally:
        store.close()
    with Server(ApiSettings(db=db)) as server:
        site = Family(server.url, tokens)
        ask_about_604938(site, 14)  # enough requests on record for two pages of disclosures
        yield site


def ask_about_604938(site: Family, n: int) -> None:
    lee = {"providerId": "demo-prv-lee", "studentId": "604938", "purpose": "academic_support"}  # agreement_outdated: not shown
    reqs = [lee] + [{"providerId": "demo-prv-rosa", "studentId": "604938", "purpose": "academic_support"} for _ in range(n - 1)]
    body = json.dumps({"query": "query($r: [CheckInput!]!) { checkMany(requests: $r) { allowed } }", "variables": {"r": reqs}}).encode()
    headers = {"Authorization": f"Bearer {site.tokens['admin']}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(site.url + "/graphql", body, headers), timeout=30) as r:
        assert "errors" not in json.loads(r.read())


@dataclass
class Tab:
    page: Page
    context: BrowserContext
    watch: Watch
    urls: list[str]
    shots: Path

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"family-{name}.png"), full_page=True)

    def axe_clean(self) -> None:
        self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        run = "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        result: Any = self.page.evaluate(run, AXE_TAGS)
        found = [f"{v['impact']} {v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})" for v in result["violations"]]
        assert found == []

    def clean(self) -> None:
        assert self.watch.problems == []
        assert not [u for u in self.urls if "ntk_" in u], "a token in a URL"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("NTK_SCREENSHOTS", str(tmp_path)))
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_tab(browser: Browser, site: Family, size: tuple[int, int], locale: str, shots: Path) -> Tab:  # noqa: F811
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale=locale)
    page = context.new_page()
    watch = Watch(site.url)
    urls: list[str] = []
    page.on("console", watch.console)
    page.on("pageerror", watch.page_error)
    page.on("request", lambda r: urls.append(r.url))
    page.route("**/*", watch.route)
    return Tab(page, context, watch, urls, shots)


def sign_in_with_mouse(tab: Tab, site: Family, token: str) -> None:
    p = tab.page
    p.goto(site.url + "/family")
    p.wait_for_selector("#token-form", state="visible")
    p.fill("#token", token)
    p.click("#token-form button[type=submit]")
    p.wait_for_selector("#students button")


def tab_to(p: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until `selector` has the focus (fails if the keyboard cannot reach it)."""
    target = p.locator(selector).first
    for _ in range(limit):
        if target.evaluate("(el) => el === document.activeElement"):
            return
        p.keyboard.press("Tab")
    raise AssertionError(f"the keyboard never reached {selector}")


def end_date(days: int) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


def test_a_guardian_reads_gives_and_revokes_in_english_with_the_mouse(browser: Browser, family: Family, shots: Path) -> None:  # noqa: F811
    tab = open_tab(browser, family, DESKTOP, "en-US", shots)
    p = tab.page
    sign_in_with_mouse(tab, family, family.tokens["mother"])
    assert p.evaluate("() => window.sessionStorage.getItem('needtoknow.token')") == family.tokens["mother"]
    p.wait_for_selector("#access .entry h3")
    assert p.inner_text("#access .entry h3") == "Rosa Delgado"
    access = p.inner_text("#access")
    assert "Communities in Schools of Grand Bend" in access and "attendance" in access and "help with school work" in access
    assert "Because a consent signed on" in access and "works with this student (active)" in access
    p.wait_for_selector("#disclosures tbody tr td")
    assert "Requests 1–10 of" in p.inner_text("#page-of") and p.is_enabled("#older") and not p.is_enabled("#newer")
    tab.shot("en-desktop-report")
    tab.axe_clean()

    p.click("#older")
    p.wait_for_function("() => document.querySelector('#page-of').textContent.startsWith('Requests 11')")
    assert p.is_enabled("#newer") and "Lee Park" in p.inner_text("#disclosures") and "Not shown" in p.inner_text("#disclosures")
    p.click("#newer")
    p.wait_for_function("() => document.querySelector('#page-of').textContent.startsWith('Requests 1–')")

    # Give: the form, the review screen, the receipt.
    p.select_option("#give-recipient", "hsds-org:5")
    p.check("input[name=purpose][value=mentoring]")
    p.check("input[name=category][value=attendance]")
    p.check("input[name=category][value=grades]")
    p.fill("#give-end", end_date(60))
    p.click("#give-form button[type=submit]")
    p.wait_for_selector("#review", state="visible")
    review = p.inner_text("#review-text")
    assert "I allow Samaritan House to see" in review and "attendance, grades" in review and "mentoring" in review
    tab.shot("en-desktop-review")
    tab.axe_clean()
    p.click("#review-sign")
    assert "Tick the box" in p.inner_text("#review-error")  # not signed without the explicit act
    p.check("#review-agree")
    p.click("#review-sign")
    p.wait_for_selector("#receipt", state="visible")
    facts = p.inner_text("#receipt-facts")
    assert "cns-" in facts and "bearer-token:tok_" in facts and "guardian:778399" in facts and "family-consent-2026.1/en" in facts
    p.wait_for_selector("#consents .entry:has-text('Samaritan House') button.danger")
    tab.shot("en-desktop-receipt")
    tab.axe_clean()
    p.emulate_media(media="print")
    assert not p.is_visible("#give-form") and p.is_visible("#disclosures")
    tab.shot("en-print")
    p.emulate_media(media="screen")

    # Revoke it: a confirmation, then effective at once.
    p.click("#consents .entry:has-text('Samaritan House') button.danger")
    p.wait_for_selector("#confirm", state="visible")
    assert "Samaritan House will stop seeing" in p.inner_text("#confirm-text")
    p.click("#confirm-yes")
    p.wait_for_selector("#revoke-result", state="visible")
    assert "Revoked. From" in p.inner_text("#revoke-result")
    p.wait_for_selector("#consents .entry:has-text('Samaritan House') .badge:has-text('Revoked on')")
    assert p.locator("#consents .entry:has-text('Samaritan House') button.danger").count() == 0
    tab.axe_clean()

    # The refusals, in words: an unverified guardian, the guardian of an eligible student.
    p.click("#sign-out")
    p.wait_for_selector("#token-form", state="visible")
    for who, words in (("unverified", "has not yet verified your rights"), ("parent_of_adult", "is 18 or in postsecondary education")):
        p.fill("#token", family.tokens[who])
        p.click("#token-form button[type=submit]")
        p.wait_for_selector("#standing:not([hidden])")
        assert words in p.inner_text("#standing") and not p.is_visible("#report")
        tab.shot(f"en-desktop-{who}")
        tab.axe_clean()
        p.click("#sign-out")
        p.wait_for_selector("#token-form", state="visible")
    tab.clean()
    tab.context.close()


def test_a_guardian_reads_gives_and_revokes_in_spanish_on_a_phone_with_the_keyboard(browser: Browser, family: Family, shots: Path) -> None:  # noqa: F811
    tab = open_tab(browser, family, PHONE, "es-MX", shots)
    p = tab.page
    p.goto(family.url + "/family")  # the browser's Accept-Language picks Spanish
    assert p.get_attribute("html", "lang") == "es"
    assert p.inner_text("h1") == "El expediente de su estudiante: quién puede verlo"
    tab_to(p, "#token")
    p.keyboard.type(family.tokens["mother"])
    p.keyboard.press("Enter")
    p.wait_for_selector("#access .entry h3")
    access = p.inner_text("#access")
    assert "Puede ver" in access and "asistencia" in access and "ayuda con las tareas escolares" in access
    tab.shot("es-phone-report")
    tab.axe_clean()

    tab_to(p, "#give-recipient")
    for _ in range(20):
        if p.input_value("#give-recipient") == "hsds-org:3":
            break
        p.keyboard.press("ArrowDown")
    assert p.input_value("#give-recipient") == "hsds-org:3"
    tab_to(p, "input[name=purpose]")
    p.keyboard.press("ArrowDown")  # the second purpose: mentoring
    assert p.evaluate("() => document.querySelector('input[name=purpose]:checked').value") == "mentoring"
    tab_to(p, "input[name=category][value=attendance]")
    p.keyboard.press("Space")
    tab_to(p, "#give-end")
    p.fill("#give-end", end_date(30))  # a date field's segments follow the locale; the value is set, the focus stays
    tab_to(p, "#give-form button[type=submit]")
    p.keyboard.press("Enter")
    p.wait_for_selector("#review", state="visible")
    assert p.evaluate("() => document.activeElement.id") == "review-title"
    assert "Autorizo a Redwood City Public Library" in p.inner_text("#review-text")
    tab.shot("es-phone-review")
    tab_to(p, "#review-agree")
    p.keyboard.press("Space")
    tab_to(p, "#review-sign")
    p.keyboard.press("Enter")
    p.wait_for_selector("#receipt", state="visible")
    assert p.evaluate("() => document.activeElement.id") == "receipt-title"
    assert "family-consent-2026.1/es" in p.inner_text("#receipt-facts") and "Comprobante" in p.inner_text("#receipt")
    tab.shot("es-phone-receipt")
    tab.axe_clean()

    revoke = "#consents .entry:has-text('Redwood City Public Library') button.danger"
    p.wait_for_selector(revoke)
    tab_to(p, revoke, limit=200)
    p.keyboard.press("Enter")
    p.wait_for_selector("#confirm", state="visible")
    assert p.evaluate("() => document.activeElement.id") == "confirm-yes"
    p.keyboard.press("Escape")  # changed their mind: the focus goes back to the button
    assert p.is_hidden("#confirm") and p.evaluate("() => document.activeElement.classList.contains('danger')")
    p.keyboard.press("Enter")
    p.wait_for_selector("#confirm", state="visible")
    p.keyboard.press("Enter")
    p.wait_for_selector("#revoke-result", state="visible")
    assert p.inner_text("#revoke-result").startswith("Revocado.")
    p.wait_for_selector("#consents .entry:has-text('Redwood City Public Library') .badge:has-text('Revocado el')")
    tab.shot("es-phone-revoked")
    tab.axe_clean()

    # Switch the language: the same tab, still signed in.
    p.click("nav.languages a[hreflang=en]")
    p.wait_for_selector("#access .entry h3")
    assert p.get_attribute("html", "lang") == "en" and "Who can see the record now" in p.inner_text("#now-title")
    tab.clean()
    tab.context.close()
