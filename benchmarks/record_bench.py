"""Record-of-decisions benchmark: bytes on disk per decision, recording cost, verify memory.

Works on a copy of a loaded embedded store (the journal is never written):

    python -m benchmarks.record_bench --db /tmp/j170k.db --decisions 20000 --threads 8 \
        --verify-records 1000000

Prints, for the mixed mix of core_bench (half served pairs that allow, half random pairs):

- bytes on disk per recorded decision: growth of the SQLite file (checkpointed WAL) over every
  decision recorded, dictionary of ids and indexes included (plus SQLite's own per-table
  figures from ``dbstat`` when it is compiled in);
- recording cost: ``AuditLog.record`` alone (the decision is made beforehand), one decision
  per call from one thread (p50, mean), from ``--threads`` threads at once (amortised: wall
  time / decisions), and in batches of 1,000 (``checkMany``);
- ``verify`` and one student's record streamed, in a child process each: peak RSS over a
  record of ``--verify-records`` decisions (a quarter of them about one student), against the
  same child's RSS before it reads anything.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.stats import sample, summary_us

AT = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)


def _file_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _table_bytes(db: Path) -> dict[str, int]:
    """Bytes per table and index (SQLite's dbstat), or {} when it is not compiled in."""
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return {}
    return {str(n): int(b) for n, b in rows}


def _decisions(db: Path, count: int, seed: int) -> list[Any]:
    """`count` decisions of the mixed mix (made, not recorded), each with its consistency token."""
    from graph.decision import CheckRequest
    from graph.engine import Engine
    from graph.model import EdgeKind, NodeKind
    from graph.stores.memory import MemoryStore

    store = MemoryStore(db)
    engine = Engine(store)
    rng = random.Random(seed)
    served: list[tuple[str, str]] = []
    for e in store.edges(EdgeKind.SERVES):
        node = store.node(e.from_id)
        if node is not None and node.kind is NodeKind.PROVIDER:
            served.append((e.from_id, e.to_id))
    providers = [n.id for n in store.nodes(NodeKind.PROVIDER)]
    students = [n.id for n in store.nodes(NodeKind.STUDENT)]
    rng.shuffle(served)
    allow = [(p, s) for p, s in served[: count * 2] if engine.decide_only(CheckRequest(p, s, AT)).allowed]
    token = store.token()
    out = []
    for i in range(count):
        p, s = rng.choice(allow) if allow and i % 2 else (rng.choice(providers), rng.choice(students))
        out.append(replace(engine.decide_only(CheckRequest(p, s, AT)), consistency_token=token))
    store.close()
    return out


def _commits(audit: Any) -> int:
    """Transactions the record has written (0 when it has no group commit: one per call)."""
    group = getattr(audit, "_group", None)
    return int(group.batches) if group is not None else 0


def measure(db: Path, decisions: int, threads: int, seed: int) -> dict[str, Any]:
    """Record `decisions` three ways into a copy of `db`; bytes and microseconds."""
    from graph.audit import Caller, SqliteAuditLog

    made = _decisions(db, decisions, seed)
    out: dict[str, Any] = {"decisions": decisions, "threads": threads}
    with tempfile.TemporaryDirectory(dir=db.parent) as tmp:
        copy = Path(tmp) / "record.db"
        shutil.copyfile(db, copy)
        SqliteAuditLog(copy).close()  # the record's tables exist before the first size
        before_tables = _table_bytes(copy)
        before = _file_bytes(copy)
        audit = SqliteAuditLog(copy)
        caller = Caller("app", "bench-app", "bench-app", ("ptn-0001",))
        now = datetime.now(UTC)
        cpu = time.process_time()
        out["sequential"] = summary_us(sample(lambda i: audit.record([made[i]], caller, now), len(made)))
        out["sequential_cpu_us"] = (time.process_time() - cpu) / len(made) * 1e6

        def worker(part: list[Any]) -> None:
            for d in part:
                audit.record([d], caller, now)

        parts = [made[i::threads] for i in range(threads)]
        workers = [threading.Thread(target=worker, args=(p,)) for p in parts]
        t0, cpu, batches = time.perf_counter(), time.process_time(), _commits(audit)
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out["threads_amortised_us"] = (time.perf_counter() - t0) / len(made) * 1e6
        out["threads_cpu_us"] = (time.process_time() - cpu) / len(made) * 1e6
        out["threads_per_commit"] = len(made) / max(1, _commits(audit) - batches) if _commits(audit) else 1.0
        t0, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(made), 1000):
            audit.record(made[i : i + 1000], caller, now)
        out["batch_amortised_us"] = (time.perf_counter() - t0) / len(made) * 1e6
        out["batch_cpu_us"] = (time.process_time() - cpu) / len(made) * 1e6
        recorded = audit.count()
        audit.close()
        after = _file_bytes(copy)
        after_tables = _table_bytes(copy)
        out["recorded"] = recorded
        out["bytes_per_decision"] = (after - before) / (3 * len(made))
        out["tables"] = {
            name: (after_tables.get(name, 0) - before_tables.get(name, 0)) / (3 * len(made))
            for name in after_tables
            if after_tables.get(name, 0) != before_tables.get(name, 0)
        }
    return out


def _status_mb(field: str) -> float:
    """A /proc/self/status figure in MiB: VmRSS (now) or VmHWM (peak; unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(db: Path, what: str, student: str) -> dict[str, Any]:
    """In a fresh process: RSS before, then verify (or stream one student's record); peak RSS."""
    from graph.audit import SqliteAuditLog

    audit = SqliteAuditLog(db)
    base = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if what == "verify":
        n = sum(1 for _ in audit.verify())
        result: dict[str, Any] = {"broken": n, "records": audit.count()}
    else:
        stream = getattr(audit, "stream_student", None)
        rows = stream(student) if stream is not None else audit.for_student(student)
        result = {"records": sum(1 for _ in rows)}
    result["seconds"] = time.perf_counter() - t0
    result["rss_before_mb"] = base
    result["peak_rss_mb"] = _status_mb("VmHWM")
    audit.close()
    return result


def verify_memory(db: Path, records: int, seed: int) -> dict[str, Any]:
    """Build a record of `records` decisions (a quarter about one student); measure verify and one student's stream."""
    from graph.audit import Caller, SqliteAuditLog

    made = _decisions(db, 2000, seed)
    hot = made[1].request.student_id
    hot_made = [d for d in made if d.request.student_id == hot][:1] or made[:1]
    out: dict[str, Any] = {"records": records, "hot_student": hot}
    with tempfile.TemporaryDirectory(dir=db.parent) as tmp:
        copy = Path(tmp) / "big.db"
        shutil.copyfile(db, copy)
        audit = SqliteAuditLog(copy)
        caller = Caller("app", "bench-app", "bench-app", ("ptn-0001",))
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        done = 0
        while done < records:
            batch = [hot_made[0] if (done + i) % 4 == 0 else made[(done + i) % len(made)] for i in range(min(1000, records - done))]
            audit.record(batch, caller, now)
            done += len(batch)
        out["build_s"] = time.perf_counter() - t0
        audit.close()
        out["file_mb"] = _file_bytes(copy) / 2**20
        for what in ("verify", "student"):
            cmd = [sys.executable, "-m", "benchmarks.record_bench", "--child", what, "--db", str(copy), "--student", hot]
            proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
            out[what] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def markdown(m: dict[str, Any] | None, v: dict[str, Any] | None) -> str:
    lines = ["| measure | value |", "|---|---|"]
    if m is not None:
        s = m["sequential"]
        lines += [
            f"| bytes on disk per recorded decision (file growth / {3 * m['decisions']:,} decisions) "
            f"| **{m['bytes_per_decision']:,.0f}** |",
            "| of which, per table or index | " + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(m["tables"].items())) + " |",
            f"| record one decision per call, one thread: p50 / mean wall; CPU | {s['p50_us']:.0f} / {s['mean_us']:.0f} µs; "
            f"{m.get('sequential_cpu_us', float('nan')):.1f} µs |",
            f"| record one decision per call, {m['threads']} threads: amortised wall; CPU; decisions per commit "
            f"| **{m['threads_amortised_us']:.1f} µs**; {m.get('threads_cpu_us', float('nan')):.1f} µs; "
            f"{m.get('threads_per_commit', float('nan')):.1f} |",
            f"| record in batches of 1,000: amortised wall; CPU | **{m['batch_amortised_us']:.1f} µs**; "
            f"{m.get('batch_cpu_us', float('nan')):.1f} µs |",
        ]
    if v is not None:
        for what, label in (("verify", "verify"), ("student", f"one student's record ({v['hot_student']})")):
            r = v[what]
            lines.append(
                f"| {label} over {v['records']:,} records ({v['file_mb']:,.0f} MB file): {r['records']:,} read in "
                f"{r['seconds']:.1f} s | peak RSS {r['peak_rss_mb']:,.0f} MiB (before reading: {r['rss_before_mb']:,.0f} MiB) |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="A loaded embedded store (copied; never written).")
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--verify-records", type=int, default=0, help="Also build a record this long and measure verify.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-cost", action="store_true", help="Only the verify measurement.")
    parser.add_argument("--child", choices=("verify", "student"), help=argparse.SUPPRESS)
    parser.add_argument("--student", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.db, args.child, args.student)))
        return
    m = None if args.skip_cost else measure(args.db, args.decisions, args.threads, args.seed)
    v = verify_memory(args.db, args.verify_records, args.seed) if args.verify_records else None
    print(json.dumps({"cost": m, "verify": v}))
    print(markdown(m, v))


if __name__ == "__main__":
    main()
