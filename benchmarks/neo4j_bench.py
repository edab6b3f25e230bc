"""Neo4j store benchmark, side by side with the embedded store, in one run.

    python -m benchmarks.neo4j_bench --students 170000 [--uri bolt://127.0.0.1:7687]

Generates a synthetic bundle (`loaders.synthetic.generate`), reads it, and loads the same
batch into both stores with `apply` (Neo4j: one transaction of UNWIND batches). Then it
times checks over Bolt from Python (`decide(store.gather_evidence(p, s), ...)`), the
candidate queries and the engine's lookups for the busiest provider and student.

**It empties the Neo4j database it is pointed at.** Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.stats import sample, summary_us, timed

AT = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)


def clear(uri: str) -> None:
    """Empty the database (in batches: a large graph does not fit one transaction)."""
    import neo4j

    with neo4j.GraphDatabase.driver(uri) as driver, driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


def run(students: int, seed: int, uri: str, checks: int, workdir: Path, change_log: bool, max_tx_rows: int | None) -> dict[str, Any]:
    from graph.changes import Change, PutEdge, PutNode
    from graph.decide import decide
    from graph.decision import CheckRequest
    from graph.engine import Engine
    from graph.model import EdgeKind, NodeKind
    from graph.policy import DEFAULT_POLICY
    from graph.stores.base import GraphStore
    from graph.stores.memory import MemoryStore
    from graph.stores.neo4j import Neo4jStore
    from loaders.bundle import read
    from loaders.synthetic import generate

    out: dict[str, Any] = {"students": students, "max_tx_rows": max_tx_rows}
    bundle = workdir / "bundle"
    stats, out["generate_s"] = timed(lambda: generate(bundle, students=students, seed=seed))
    result, out["read_s"] = timed(lambda: read([bundle], default_valid_from=AT))
    changes: list[Change] = [PutNode(n) for n in result.nodes]
    changes += [PutEdge(e) for e in result.edges]
    out["changes"] = len(changes)
    del result

    clear(uri)
    n4j = Neo4jStore(uri, change_log=change_log, max_tx_rows=max_tx_rows)
    _, out["neo4j_load_s"] = timed(lambda: n4j.apply(changes))
    _, out["neo4j_reapply_s"] = timed(lambda: n4j.apply(changes))  # validate only: every change is a no-op
    mem = MemoryStore(workdir / "graph.db")
    _, out["memory_load_s"] = timed(lambda: mem.apply(changes))
    changes.clear()
    out["nodes"] = sum(n4j.count(k) for k in NodeKind)
    out["edges"] = sum(n4j.count(k) for k in EdgeKind)
    assert out["nodes"] == sum(mem.count(k) for k in NodeKind) and out["edges"] == sum(mem.count(k) for k in EdgeKind)

    rng = random.Random(seed)
    serves = list(mem.edges(EdgeKind.SERVES))
    served: list[tuple[str, str]] = []
    for e in serves:
        src = mem.node(e.from_id)
        providers = [e.from_id] if src is not None and src.kind is NodeKind.PROVIDER else sorted(mem.providers_serving(e.to_id))
        served.extend((p, e.to_id) for p in providers[:1])
    provider_ids = sorted(n.id for n in mem.nodes(NodeKind.PROVIDER))
    student_ids = sorted(n.id for n in mem.nodes(NodeKind.STUDENT))
    pairs = [rng.choice(served) if served and i % 2 else (rng.choice(provider_ids), rng.choice(student_ids)) for i in range(checks)]
    reqs = [CheckRequest(p, s, AT) for p, s in pairs]

    stores: dict[str, GraphStore] = {"neo4j": n4j, "networkx": mem}

    def check(store: GraphStore, i: int) -> None:
        decide(store.gather_evidence(reqs[i].provider_id, reqs[i].student_id), reqs[i], DEFAULT_POLICY)

    for name, store in stores.items():
        for i in range(min(200, checks)):  # warm up (JIT, plan cache, page cache)
            check(store, i)
        out[f"{name}_check"] = summary_us(sample(functools.partial(check, store), checks))
    same = sum(
        decide(n4j.gather_evidence(r.provider_id, r.student_id), r, DEFAULT_POLICY).outcome
        == decide(mem.gather_evidence(r.provider_id, r.student_id), r, DEFAULT_POLICY).outcome
        for r in reqs[:500]
    )
    out["outcomes_equal"] = f"{same}/{min(500, checks)}"

    big_p, big_s = str(stats.get("big_provider", provider_ids[0])), str(stats.get("big_student", student_ids[0]))
    out["big_p_students"] = len(mem.students_served_by(big_p))
    out["big_s_providers"] = len(mem.providers_serving(big_s))
    for name, store in stores.items():
        engine = Engine(store, DEFAULT_POLICY)
        calls: dict[str, tuple[Callable[[], object], int]] = {
            "served_by": (functools.partial(store.students_served_by, big_p), 50),
            "serving": (functools.partial(store.providers_serving, big_s), 50),
            "accessible": (functools.partial(engine.accessible_students, big_p, AT, first=1000), 10),
            "with_access": (functools.partial(engine.providers_with_access, big_s, AT), 50),
        }
        for label, (call, n) in calls.items():
            out[f"{name}_{label}"] = summary_us(sample(lambda _i, c=call: c(), n))  # type: ignore[misc]
    n4j.close()
    mem.close()
    return out


def markdown(r: dict[str, Any]) -> str:
    """The figures as a Markdown table."""

    def ms(d: dict[str, float]) -> str:
        return f"p50 {d['p50_us'] / 1000:.2f} ms, p99 {d['p99_us'] / 1000:.2f} ms"

    rows = [
        f"#### {r['students']:,} students: {r['nodes']:,} nodes, {r['edges']:,} edges ({r['changes']:,} changes)",
        "",
        "| measure | Neo4j (Bolt, Python driver) | embedded (networkx + SQLite) |",
        "|---|---|---|",
        f"| generate + read bundle | {r['generate_s']:.1f} s + {r['read_s']:.1f} s | (same) |",
        f"| load (`apply`, one batch; Neo4j max_tx_rows={r['max_tx_rows']}) | {r['neo4j_load_s']:.1f} s | {r['memory_load_s']:.1f} s |",
        f"| re-apply same batch (all no-ops) | {r['neo4j_reapply_s']:.1f} s | - |",
        f"| check: gather_evidence + decide | {ms(r['neo4j_check'])} | {ms(r['networkx_check'])} |",
        f"| students_served_by (provider with {r['big_p_students']}) | {ms(r['neo4j_served_by'])} | {ms(r['networkx_served_by'])} |",
        f"| providers_serving (student with {r['big_s_providers']}) | {ms(r['neo4j_serving'])} | {ms(r['networkx_serving'])} |",
        f"| accessible_students (first=1000) | {ms(r['neo4j_accessible'])} | {ms(r['networkx_accessible'])} |",
        f"| providers_with_access | {ms(r['neo4j_with_access'])} | {ms(r['networkx_with_access'])} |",
        f"| same outcome on both stores | {r['outcomes_equal']} | |",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--uri", default="bolt://127.0.0.1:7687")
    parser.add_argument("--no-change-log", action="store_true", help="Neo4jStore(change_log=False)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--max-tx-rows",
        type=int,
        default=50_000,
        help="Neo4jStore bulk mode: rows per transaction (0: one transaction; needs ~3 GiB tx memory at 170k students)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        result = run(args.students, args.seed, args.uri, args.checks, Path(d), not args.no_change_log, args.max_tx_rows or None)
    print(markdown(result), flush=True)
    print(f"(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
