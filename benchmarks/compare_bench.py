"""Time the suppression of a coverage comparison against one report, per grouping, on a journal.

    .venv/bin/python -m benchmarks.compare_bench --db JOURNAL [--days 90]

Opens the journal (`MemoryStore`), gathers facts at `loaders.synthetic.DEFAULT_NOW` and
`--days` earlier, then per grouping times `suppress` of the five tables at the later time
and `suppress_change` of the five pairs (both times and the change as one system).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path

from graph.analytics.coverage import GroupBy, count_coverage, gather_coverage_facts
from graph.analytics.suppression import suppress, suppress_change
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from loaders.synthetic import DEFAULT_NOW


def main() -> None:
    """Parse arguments, print timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()
    store = MemoryStore(args.db)
    policy = Policy()
    earlier = DEFAULT_NOW - timedelta(days=args.days)
    later_facts = gather_coverage_facts(store, DEFAULT_NOW, policy)
    earlier_facts = gather_coverage_facts(store, earlier, policy)
    for by in GroupBy:
        before = count_coverage(store, earlier, by, policy, facts=earlier_facts)
        after = count_coverage(store, DEFAULT_NOW, by, policy, facts=later_facts)
        t = time.perf_counter()
        for table in after:
            suppress(table, policy)
        one = time.perf_counter() - t
        t = time.perf_counter()
        for a, b in zip(before, after, strict=True):
            suppress_change(a, b, policy)
        two = time.perf_counter() - t
        print(f"{by}: {len(after[0].rows)} rows; one report {one:.1f} s; comparison {two:.1f} s", flush=True)
    store.close()


if __name__ == "__main__":
    main()
