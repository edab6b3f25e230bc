"""The web routes over HTTP (no browser): security headers, the vendor whitelist, no CDN anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from api.web import NODE_MODULES, STATIC_DIR, VENDOR
from tests.web.conftest import Site

API = Path(__file__).resolve().parents[2] / "api"


def test_pages_carry_a_strict_content_security_policy(site: Site) -> None:
    for path in ("/network", "/static/network.js", "/static/vendor/cytoscape.min.js"):
        r = httpx.get(site.url + path, timeout=10)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(site.url + "/static/vendor/package.json", timeout=10).status_code == 404
    html = httpx.get(site.url + "/network", timeout=10).text
    assert "<script>" not in html and "http://" not in html and "https://" not in html


def test_graphiql_page_only_when_switched_on(site: Site) -> None:
    r = httpx.get(site.url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 200 and "/static/vendor/graphiql.min.js" in r.text


def test_every_vendor_file_is_installed() -> None:
    missing = [name for name, rel in VENDOR.items() if not (NODE_MODULES / rel).is_file()]
    assert missing == [], "run `make web` (npm ci in api/web)"


def test_no_cdn_url_in_our_code_or_pages() -> None:
    url = re.compile(r"https?://(?!\{host\}|127\.0\.0\.1|localhost|www\.w3\.org/2000/svg)")
    offenders = []
    for path in API.rglob("*"):
        if "node_modules" in path.parts or path.name == "package-lock.json":  # registry URLs, used at setup time only
            continue
        if not path.is_file() or path.suffix not in {".py", ".html", ".js", ".css", ".json"}:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if url.search(line):
                offenders.append(f"{path.relative_to(API)}:{n}: {line.strip()}")
    assert offenders == []
    assert (STATIC_DIR / "network.html").is_file()
