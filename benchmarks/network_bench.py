"""Partner-network overview benchmark: server computation, the GraphQL answer, the page's draw.

    python -m benchmarks.network_bench --db /tmp/g170k.db              # a loaded store
    python -m benchmarks.network_bench --students 170000 --seed 7      # generate and load first
    python -m benchmarks.network_bench --db DB --no-in-process         # server and page only

Prints a Markdown table:

- ``partner_network`` and ``network_overview`` in process (cold, then from `OverviewCache`);
- ``networkOverview`` over HTTP from ``needtoknow serve`` (first request computes, the next
  hits the cache of that consistency token), and the answer's size;
- the side panel's ``coverage`` of a node's kind (the page's own query, by community) over
  HTTP: first and repeat (the server's response cache, `api.response_cache`);
- the ``/network`` page in Debian's Chromium at 1440x900, opened with ``?at=DATE`` (the
  same instant, so the server's cache is warm as for any second visitor): from submitting
  the token to ``#graph[data-state=ready]``, with the page's own split (``data-fetch-ms``:
  the request; ``data-draw-ms``: building, fcose layout, fitting), and the main thread's
  busy time from the DevTools protocol (``TaskDuration``). Median of 3 fresh tabs. The
  machine's load average is printed: on a shared machine wall times stretch with it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

DAY = "2026-11-16"
AT = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
"""The page asks for noon UTC of the URL's date; the benchmark asks for the same instant."""

QUERY = (
    "query($at: DateTime) { networkOverview(at: $at) { at nodeCount communities { id schools { id } } "
    "partners { id programCount programs { id fullLabel students { display } } communities { id programCount } } } }"
)
PANEL = (  # api/web/static/network.js, COVERAGE
    "query Coverage($by: CoverageGroup!, $at: DateTime) {"
    " coverage(by: $by, at: $at) { at tables { name title columns { name title } ratioColumns { name title }"
    "  rows { id label cells { column count { value suppressed display } } ratios { ratio percent { value suppressed display } } } } } }"
)
EXE = str(Path(sys.executable).parent / "needtoknow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_process(db: Path) -> dict[str, Any]:
    from graph.analytics import partner_network
    from graph.analytics.overview import OverviewCache, network_overview
    from graph.stores.memory import MemoryStore

    t0 = time.perf_counter()
    store = MemoryStore(db)
    out: dict[str, Any] = {"open_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    G = partner_network(store, AT)
    out["partner_network_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    overview = network_overview(G)
    out["overview_s"] = time.perf_counter() - t0
    out["overview_nodes"] = overview.node_count
    out["network_nodes"] = G.number_of_nodes()
    cache = OverviewCache()
    key = (store.token(), AT, "bench")
    cache.get(key, lambda: overview)
    t0 = time.perf_counter()
    cache.get(key, lambda: overview)
    out["cache_hit_us"] = (time.perf_counter() - t0) * 1e6
    store.close()
    return out


def _browser(url: str, token: str, runs: int = 3) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    totals, fetches, draws, tasks = [], [], [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(runs):
                ctx = b.new_context(viewport={"width": 1440, "height": 900})
                page = ctx.new_page()
                page.goto(f"{url}/network?at={DAY}")
                page.wait_for_selector("#token-form", state="visible")
                page.fill("#token", token)
                cdp = ctx.new_cdp_session(page)
                cdp.send("Performance.enable")
                before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                t0 = time.perf_counter()
                page.click("#token-form button[type=submit]")
                page.wait_for_selector("#graph[data-state=ready]", timeout=120_000)
                totals.append(time.perf_counter() - t0)
                fetches.append(int(page.get_attribute("#graph", "data-fetch-ms") or 0))
                draws.append(int(page.get_attribute("#graph", "data-draw-ms") or 0))
                after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                tasks.append(after["TaskDuration"] - before["TaskDuration"])
                ctx.close()
        finally:
            b.close()
    return {
        "page_s": statistics.median(totals),
        "fetch_ms": statistics.median(fetches),
        "draw_ms": statistics.median(draws),
        "task_s": statistics.median(tasks),
    }


def run(db: Path, in_process: bool = True) -> dict[str, Any]:
    """Every figure of the module docstring for the store at `db` (the in-process ones only if `in_process`)."""
    out = _in_process(db) if in_process else {}
    token = subprocess.run(
        [EXE, "token", "create", "--role", "staff", "--subject", "bench", "--db", str(db)], capture_output=True, text=True, check=True
    ).stdout.strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([EXE, "serve", "--db", str(db), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.5)
        with httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}"}) as client:
            for name in ("http_cold_s", "http_warm_s"):
                t0 = time.perf_counter()
                r = client.post(url + "/graphql", json={"query": QUERY, "variables": {"at": AT.isoformat()}})
                out[name] = time.perf_counter() - t0
                assert r.status_code == 200 and "errors" not in r.json(), r.text[:500]
            out["answer_kb"] = len(r.content) / 1024
            panel = {"query": PANEL, "variables": {"by": "COMMUNITY", "at": AT.isoformat()}}
            for name in ("panel_cold_s", "panel_warm_s"):
                t0 = time.perf_counter()
                r = client.post(url + "/graphql", json=panel)
                out[name] = time.perf_counter() - t0
                assert r.status_code == 200 and "errors" not in r.json(), r.text[:500]
        out.update(_browser(url, token))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="A loaded store.")
    parser.add_argument("--students", type=int, help="Generate and load this many students first.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-in-process", action="store_true", help="Skip the in-process figures (a second replay of the store).")
    args = parser.parse_args()
    db = args.db
    if db is None:
        if not args.students:
            parser.error("give --db or --students")
        work = Path(tempfile.mkdtemp(prefix="ntk-network-bench-"))
        db = work / "bench.db"
        subprocess.run([EXE, "generate", "--students", str(args.students), "--seed", str(args.seed), "--out", str(work / "b")], check=True)
        subprocess.run([EXE, "load", "bundle", str(work / "b"), "--db", str(db)], check=True, stdout=subprocess.DEVNULL)
    r = run(db, in_process=not args.no_in_process)
    if "open_s" in r:
        print(f"store {db}: {r['network_nodes']} network nodes, {r['overview_nodes']} overview nodes (programs folded)\n")
    print("| step | figure |\n|---|---|")
    if "open_s" in r:
        print(f"| open the store (journal replay) | {r['open_s']:.1f} s |")
        print(f"| `partner_network` (facts, counts, suppression) | {r['partner_network_s']:.2f} s |")
        print(f"| `network_overview` from it | {r['overview_s'] * 1000:.1f} ms |")
        print(f"| `OverviewCache` hit | {r['cache_hit_us']:.0f} µs |")
    print(f"| `networkOverview` over HTTP, first (computes) | {r['http_cold_s']:.2f} s |")
    print(f"| `networkOverview` over HTTP, cached (same token and instant) | {r['http_warm_s'] * 1000:.1f} ms ({r['answer_kb']:.0f} KiB) |")
    panel = f"{r['panel_cold_s']:.2f} s / {r['panel_warm_s'] * 1000:.1f} ms"
    print(f"| side panel `coverage(by: COMMUNITY)` over HTTP, first / repeat | {panel} |")
    print(f"| `/network` page, token submitted to drawn (median of 3 tabs) | {r['page_s']:.2f} s |")
    print(f"| of which the request (`data-fetch-ms`) | {r['fetch_ms']} ms |")
    print(f"| of which building, laying out (fcose) and fitting the picture (`data-draw-ms`) | {r['draw_ms']} ms |")
    print(f"| the page's main-thread task time meanwhile (CDP `TaskDuration`) | {r['task_s']:.2f} s |")
    print(f"\nload average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
