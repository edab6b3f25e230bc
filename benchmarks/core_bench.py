"""Core benchmark: load, restart, peak memory, check and lookup latency, embedded store.

Each scale runs in its own process so that peak RSS belongs to that scale alone.

    python -m benchmarks.core_bench --students 170000 700000

Prints a Markdown table per scale (and appends it to --out when given).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.stats import peak_rss_mb, sample, summary_us, timed

AT = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)


def run_scale(students: int, seed: int, workdir: Path, checks: int) -> dict[str, Any]:
    """Generate, load, restart, and time checks and lookups at one scale (this process)."""
    from graph.audit import SqliteAuditLog
    from graph.decision import CheckRequest
    from graph.engine import Engine
    from graph.model import EdgeKind, NodeKind
    from graph.stores.memory import MemoryStore
    from loaders.bundle import read
    from loaders.importer import import_result
    from loaders.synthetic import generate

    out: dict[str, Any] = {"students": students}
    bundle = workdir / f"bundle-{students}"
    stats, out["generate_s"] = timed(lambda: generate(bundle, students=students, seed=seed))
    db = workdir / f"bench-{students}.db"
    t0 = time.perf_counter()
    result = read([bundle], default_valid_from=AT)
    out["read_s"] = time.perf_counter() - t0
    store = MemoryStore(db)
    summary = import_result(store, result)
    out["load_s"] = time.perf_counter() - t0
    out["records"] = summary.created
    del result
    store.close()
    store, out["restart_s"] = timed(lambda: MemoryStore(db))
    out["events"] = int(store.token())
    out["edges"] = sum(store.count(k) for k in EdgeKind)
    out["nodes"] = sum(store.count(k) for k in NodeKind)

    engine = Engine(store, audit=SqliteAuditLog(db))
    rng = random.Random(seed)
    serves = [e for e in store.edges(EdgeKind.SERVES)]
    served_pairs: list[tuple[str, str]] = []
    for e in serves:
        providers = [e.from_id] if store.node(e.from_id).kind is NodeKind.PROVIDER else sorted(store.providers_serving(e.to_id))  # type: ignore[union-attr]
        served_pairs.extend((p, e.to_id) for p in providers[:1])
    provider_ids = [n.id for n in store.nodes(NodeKind.PROVIDER)]
    student_ids = [n.id for n in store.nodes(NodeKind.STUDENT)]
    allow_pairs = [(p, s) for p, s in served_pairs if engine.decide_only(CheckRequest(p, s, AT)).allowed]
    deny_pairs = [(rng.choice(provider_ids), rng.choice(student_ids)) for _ in range(checks)]
    out["allow_share_of_served"] = len(allow_pairs) / max(1, len(served_pairs))
    mixes = {
        "allow": [rng.choice(allow_pairs) for _ in range(checks)] if allow_pairs else [],
        "deny": deny_pairs,
        "mixed": [rng.choice(allow_pairs) if allow_pairs and i % 2 else deny_pairs[i] for i in range(checks)],
    }
    for name, pairs in mixes.items():
        if not pairs:
            continue
        reqs = [CheckRequest(p, s, AT) for p, s in pairs]
        out[f"decide_{name}"] = summary_us(sample(lambda i: engine.decide_only(reqs[i]), len(reqs)))  # noqa: B023
        recorded = reqs[: max(1, len(reqs) // 5)]
        out[f"check_recorded_{name}"] = summary_us(sample(lambda i: engine.check(recorded[i]), len(recorded)))  # noqa: B023
    big_p, big_s = stats.get("big_provider"), stats.get("big_student")
    if big_p:
        out["big_provider_students"] = len(store.students_served_by(big_p))
        out["lookup_provider"] = summary_us(sample(lambda i: engine.accessible_students(big_p, AT, first=1000), 20))
    if big_s:
        out["big_student_providers"] = len(store.providers_serving(big_s))
        out["lookup_student"] = summary_us(sample(lambda i: engine.providers_with_access(big_s, AT), 50))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def markdown(r: dict[str, Any]) -> str:
    """One scale's figures as a Markdown table."""
    lines = [
        f"#### {r['students']:,} students ({r['nodes']:,} nodes, {r['edges']:,} edges, {r['events']:,} journal events)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| generate bundle | {r['generate_s']:.1f} s |",
        f"| load (read bundle + validate + journal + graph) | {r['load_s']:.1f} s (read {r['read_s']:.1f} s) |",
        f"| restart (replay journal) | {r['restart_s']:.1f} s |",
        f"| peak RSS (whole run) | {r['peak_rss_mb']:,.0f} MiB |",
        f"| served pairs that allow | {r['allow_share_of_served']:.0%} |",
    ]
    for mix in ("allow", "deny", "mixed"):
        if f"decide_{mix}" in r:
            d, c = r[f"decide_{mix}"], r[f"check_recorded_{mix}"]
            lines.append(
                f"| check, {mix} mix: gather + decide | p50 {d['p50_us']:.0f} µs, p99 {d['p99_us']:.0f} µs, {d['per_s']:,.0f}/s |"
            )
            lines.append(
                f"| check, {mix} mix: + durable record | p50 {c['p50_us']:.0f} µs, p99 {c['p99_us']:.0f} µs, {c['per_s']:,.0f}/s |"
            )
    if "lookup_provider" in r:
        lp = r["lookup_provider"]
        lines.append(
            f"| accessible_students, provider with {r['big_provider_students']} students "
            f"| p50 {lp['p50_us'] / 1000:.1f} ms, p99 {lp['p99_us'] / 1000:.1f} ms |"
        )
    if "lookup_student" in r:
        ls = r["lookup_student"]
        lines.append(
            f"| providers_with_access, student with {r['big_student_providers']} providers "
            f"| p50 {ls['p50_us'] / 1000:.2f} ms, p99 {ls['p99_us'] / 1000:.2f} ms |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="Append the Markdown tables to this file.")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        workdir = args.workdir or Path(tempfile.mkdtemp())
        print(json.dumps(run_scale(args.students[0], args.seed, workdir, args.checks)))
        return
    for n in args.students:
        with tempfile.TemporaryDirectory(dir=args.workdir) as d:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.core_bench",
                "--one",
                "--students",
                str(n),
                "--seed",
                str(args.seed),
                "--checks",
                str(args.checks),
                "--workdir",
                d,
            ]
            proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            text = markdown(result)
            print(text, flush=True)
            if args.out:
                with args.out.open("a", encoding="utf-8") as f:
                    f.write(text + "\n")


if __name__ == "__main__":
    main()
