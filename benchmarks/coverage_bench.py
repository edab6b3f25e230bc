"""Time full coverage (and the partner network) at a given scale, on the embedded store.

Wall time depends on what else the machine runs; CPU time (``process_time``) is printed
beside it. Builds a synthetic partnership (`loaders.synthetic.generate`), reads it
(`loaders.bundle.read`), imports it into a `MemoryStore` (`loaders.importer.import_result`),
then times `gather_coverage_facts`, `coverage` by community (suppression included) and
`partner_network`. Target (issue "Coverage-gap analytics"): 700k students under 30 s.

    .venv/bin/python benchmarks/coverage_bench.py --students 170000
    .venv/bin/python benchmarks/coverage_bench.py --students 700000 --keep /tmp/ntk700k

``--keep DIR`` keeps the bundle and journal in DIR and reuses them on the next run.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from graph.analytics.coverage import count_coverage, coverage, gather_coverage_facts
from graph.analytics.network import partner_network
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from loaders.bundle import read
from loaders.importer import import_result
from loaders.synthetic import DEFAULT_NOW, DEFAULT_START, generate


def main() -> None:
    """Parse arguments, build (or reuse) the data, print timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=170_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="Directory to keep (and reuse) the bundle and journal in.")
    ap.add_argument("--by", default="community")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ntk-covbench-"))
    work.mkdir(parents=True, exist_ok=True)
    bundle, db = work / "bundle", work / "journal.db"
    t = time.perf_counter()
    if not bundle.exists():
        generate(bundle, students=args.students, seed=args.seed)
        print(f"generate: {time.perf_counter() - t:.1f} s")
    fresh = not db.exists()
    t = time.perf_counter()
    store = MemoryStore(db)
    if fresh:
        result = read([bundle], default_valid_from=DEFAULT_START)
        import_result(store, result)
        print(f"read + import: {time.perf_counter() - t:.1f} s")
    else:
        print(f"open journal: {time.perf_counter() - t:.1f} s")
    policy = Policy()
    at = DEFAULT_NOW
    t, c = time.perf_counter(), time.process_time()
    facts = gather_coverage_facts(store, at, policy)
    t_facts, c_facts = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    report = coverage(store, at, args.by, policy, facts=facts)
    t_group, c_group = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    coverage(store, at, args.by, policy)
    t_full, c_full = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    G = partner_network(store, at, policy, facts=facts)
    t_net = time.perf_counter() - t
    totals = count_coverage(store, at, args.by, policy, facts=facts)[0].as_dict()["(total)"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"students {len(facts.students):,}; served {len(facts.served):,}; consented {len(facts.consented):,}; "
          f"full access {len(facts.full_access):,}; totals {totals}")
    print(f"gather facts: {t_facts:.2f} s (cpu {c_facts:.2f}); group + suppress by {args.by}: {t_group:.2f} s (cpu {c_group:.2f})")
    print(f"FULL coverage by {args.by} (gather + group + suppress): {t_full:.2f} s wall, {c_full:.2f} s cpu")
    print(f"partner network ({G.number_of_nodes()} nodes, {G.number_of_edges()} edges): {t_net:.2f} s; "
          f"{len(report.table('students').rows)} rows; peak RSS {rss:,.0f} MiB")
    store.close()


if __name__ == "__main__":
    main()
