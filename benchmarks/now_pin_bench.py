"""How long a question about "now" keeps its pinned instant, and what the pin costs (issue 15).

    .venv/bin/python -m benchmarks.now_pin_bench --db PATH [--hours 24] [--window 30]

Opens the embedded store at PATH (e.g. the 170,000-student journal of
benchmarks/coverage_cache_bench.py), reads its instants once (`ChangeInstants`: time, peak
memory, count), and then, starting from the current time, walks "now" forward in steps of one
minute for `--hours` hours through `CoverageCache.pinned_now` with the expiring window: how many
pins that takes (each new pin is one fact gathering), the longest and median time a pin held,
and the cost of a `pinned_now` that keeps its pin. Then one coverage question about "now", and
a repeat two minutes of clock later (before this change: a new minute, facts gathered again).
Nothing is written.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.stats import peak_rss_mb
from graph.analytics.cache import CoverageCache, Question
from graph.analytics.coverage import GroupBy
from graph.analytics.instants import ChangeInstants
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--window", type=int, default=30)
    args = ap.parse_args()
    policy = Policy()
    t = time.perf_counter()
    store = MemoryStore(args.db)
    print(f"opened {args.db}: {time.perf_counter() - t:.1f} s, peak RSS {peak_rss_mb():.0f} MiB")
    t, c = time.perf_counter(), time.process_time()
    instants = ChangeInstants(store, policy)
    print(
        f"ChangeInstants: {len(instants.instants):,} distinct instants in {time.perf_counter() - t:.2f} s wall, "
        f"{time.process_time() - c:.2f} s CPU; peak RSS {peak_rss_mb():.0f} MiB"
    )
    cache = CoverageCache(store, policy)
    start = utcnow()
    cache.pinned_now(start, args.window)  # the first pin (no instants read)
    pins = [start]
    kept_ns: list[int] = []
    for minute in range(1, args.hours * 60 + 1):
        now = start + timedelta(minutes=minute)
        t0 = time.perf_counter_ns()
        pin = cache.pinned_now(now, args.window)
        elapsed = time.perf_counter_ns() - t0
        if pin != pins[-1]:
            pins.append(pin)
        elif minute > 1:  # the first call past the minute reads the instants (timed above)
            kept_ns.append(elapsed)
    held = [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(pins)]
    print(
        f"{args.hours} h of 'now' in 1-minute steps (window {args.window} d): {len(pins)} pins "
        f"(a clock-minute pin: {args.hours * 60}); a pin held median {statistics.median(held) if held else args.hours * 60:.0f} min, "
        f"longest {max(held) if held else args.hours * 60:.0f} min; pinned_now keeping its pin p50 "
        f"{statistics.median(kept_ns) / 1000:.1f} µs"
    )
    q = Question(cache.pinned_now(start, args.window), GroupBy.COMMUNITY, args.window)
    t = time.perf_counter()
    cache.result(q)
    print(f"coverage by community about now: first {time.perf_counter() - t:.2f} s")
    later = start + timedelta(minutes=2)
    t = time.perf_counter()
    again = Question(cache.pinned_now(later, args.window), GroupBy.COMMUNITY, args.window)
    cache.result(again)
    print(
        f"the same question two minutes later: {1000 * (time.perf_counter() - t):.1f} ms "
        f"({'same pin: a lookup' if again.at == q.at else 'new pin: computed'}); peak RSS {peak_rss_mb():.0f} MiB"
    )
    store.close()


if __name__ == "__main__":
    main()
