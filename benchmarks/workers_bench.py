"""Load, restart (full replay vs snapshot + tail), peak memory, and PSS of ``serve --workers N``.

    python -m benchmarks.workers_bench --students 170000 --dir /tmp/wb      # generate, load, then all below
    python -m benchmarks.workers_bench --db /tmp/wb/j170000.db --workers 1 4  # an existing store

Every step runs in its own process, so each peak RSS (``ru_maxrss`` of that child, from
``os.wait4``) belongs to that step alone; CPU time (user + system) is printed beside wall time
because the machine is shared. Steps:

- ``load``: ``needtoknow load bundle`` of a generated bundle into an empty store;
- ``restart, full replay``: open the store ignoring any snapshot (``MemoryStore(db, snapshot=False)``);
- ``snapshot``: ``needtoknow snapshot`` (open, then write ``<db>.snapshot``);
- ``restart, snapshot + tail``: open the store again after ``--tail`` more journal events;
- ``serve --workers N``: start the server, wait for ``/readyz``, send ``--checks`` checks over
  fresh connections (so every worker answers some and touches its pages), then sum PSS
  (``/proc/<pid>/smaps_rollup``) and RSS over the server process and its children.

Prints one JSON line per step and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

CLI = [sys.executable, "-c", "from api.cli import main; main()"]
CHECK = "query($r: CheckInput!) { check(request: $r) { allowed } }"


def run_step(name: str, argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run argv to completion; wall, CPU and peak RSS of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}): {err[-2000:]}")
    row = {
        "step": name,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "out": out.strip().splitlines()[-1:] if out.strip() else [],
    }
    print(json.dumps(row), flush=True)
    return row


def open_store(db: Path, snapshot: bool) -> list[str]:
    code = (
        "import sys; from pathlib import Path; from graph.stores.memory import MemoryStore; "
        f"s = MemoryStore(Path({str(db)!r}), snapshot={snapshot}); print('token', s.token())"
    )
    return [sys.executable, "-c", code]


def append_tail(db: Path, events: int) -> None:
    """Append `events` new students (a tail written after the snapshot) through the store."""
    code = (
        "from pathlib import Path; from graph.stores.memory import MemoryStore; from graph.changes import PutNode; "
        "from graph.model import Student; "
        f"s = MemoryStore(Path({str(db)!r}), snapshot=True); "
        f"s.apply([PutNode(Student(id=f'tail-{{i}}')) for i in range({events})]); s.close()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def pairs(db: Path, n: int) -> list[dict[str, str]]:
    """n (provider, student) pairs: half served, half random, straight from the journal."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    serves = conn.execute("SELECT data FROM events WHERE kind = 'SERVES' LIMIT 5000").fetchall()
    providers = [r[0] for r in conn.execute("SELECT record_id FROM events WHERE kind = 'Provider'")]
    students = [r[0] for r in conn.execute("SELECT record_id FROM events WHERE kind = 'Student' LIMIT 50000")]
    conn.close()
    rng = random.Random(7)
    served = [json.loads(r[0]) for r in serves]
    out = []
    for i in range(n):
        if i % 2 and served:
            e = rng.choice(served)
            out.append({"providerId": e["from_id"], "studentId": e["to_id"], "purpose": "academic_support"})
        else:
            out.append({"providerId": rng.choice(providers), "studentId": rng.choice(students), "purpose": "academic_support"})
    return out


def pss_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB, from /proc/<pid>/smaps_rollup."""
    pss = rss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
        elif line.startswith("Rss:"):
            rss = int(line.split()[1])
    return pss, rss


def smaps_kib(pid: int) -> dict[str, dict[str, int]]:
    """Pss, Rss and Private_Dirty in KiB of one process by kind of mapping ([heap], anonymous, file, other), from /proc/<pid>/smaps."""
    out: dict[str, dict[str, int]] = {}
    kind = "other"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line: range perms offset dev inode [path]
            path = head[5] if len(head) > 5 else ""
            kind = "heap" if path == "[heap]" else "anon" if not path else "file" if path.startswith("/") else "other"
        elif head[0] in ("Pss:", "Rss:", "Private_Dirty:"):
            sums = out.setdefault(kind, {"Pss": 0, "Rss": 0, "Private_Dirty": 0})
            sums[head[0][:-1]] += int(head[1])
    return out


def _json_lines(text: bytes) -> list[dict[str, Any]]:
    out = []
    for line in text.decode(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def serve_memory(db: Path, workers: int, checks: list[int], by_mapping: bool = False) -> list[dict[str, Any]]:
    """Start `serve --workers N`; after each cumulative count of checks (over fresh connections), sum PSS and RSS over its processes.

    Pages a worker touches are copied (a reference count changes), so PSS grows with how much
    of the graph the workers have read: hence several counts.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from api.tokens import TokenStore

    tokens = TokenStore(db)
    _, secret = tokens.create("admin", "bench")
    tokens.close()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "serve", "--db", str(db), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "NTK_RATE_LIMIT": ""},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, log, url)
        ready = time.perf_counter() - start
        # Every worker must be up before measuring: wait until the process count is stable.
        parent = psutil.Process(proc.pid)
        while len(parent.children()) < (workers if workers > 1 else 0):
            time.sleep(0.2)
        time.sleep(5)  # the last worker forked is still catching up and starting its app
        headers = {"Authorization": f"Bearer {secret}"}
        todo = pairs(db, max(checks))
        rows, done = [], 0
        for count in sorted(checks):
            for req in todo[done:count]:  # --checks 0: right after every worker started
                r = httpx.post(f"{url}/graphql", json={"query": CHECK, "variables": {"r": req}}, headers=headers, timeout=60)
                assert r.status_code == 200, r.text
            done = count
            procs = [parent, *parent.children(recursive=True)]
            sizes = [pss_kib(p.pid) for p in procs]
            row = {
                "step": f"serve --workers {workers}, after {count:,} checks",
                "ready_s": round(ready, 1),
                "processes": len(procs),
                "pss_mib": round(sum(p for p, _ in sizes) / 1024),
                "rss_mib": round(sum(r for _, r in sizes) / 1024),
                "pss_each_mib": [round(p / 1024) for p, _ in sizes],
            }
            log.seek(0)
            # Which processes took the feed's lease so far: each new holder reads every pair's evidence (api.prefork).
            taken = [e for e in _json_lines(log.read()) if e.get("event") == "feed_lease" and e.get("leader")]
            row["feed_lease_holders"] = len({e["holder"] for e in taken})
            log.seek(0, 2)
            if by_mapping:
                row["mappings_mib"] = [
                    {kind: {k: round(v / 1024) for k, v in sums.items()} for kind, sums in sorted(smaps_kib(p.pid).items())} for p in procs
                ]
            print(json.dumps(row), flush=True)
            rows.append(row)
        return rows
    finally:
        stop_server(proc, log)


def wait_ready(proc: subprocess.Popen[Any], log: Any, url: str) -> None:
    """Poll ``/readyz`` until it answers 200. Raises RuntimeError (with the log's end) if the server exits first."""
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"serve exited: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)


def stop_server(proc: subprocess.Popen[Any], log: Any) -> None:
    """Stop a server the bench started (SIGTERM, then SIGKILL after 60 s) and close its log."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, help="generate and load this many students first")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ntk-workers-bench")
    parser.add_argument("--db", type=Path, help="an existing store (skips generate and load)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tail", type=int, default=1000, help="journal events appended after the snapshot")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--checks", type=int, nargs="+", default=[400], help="cumulative counts of checks after which PSS is read")
    parser.add_argument("--by-mapping", action="store_true", help="also print each process's Pss, Rss and Private_Dirty by kind of mapping")
    parser.add_argument("--serve-only", action="store_true", help="skip load, restarts and snapshot: only serve --workers N")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    db = args.db
    if db is None:
        if args.students is None:
            parser.error("give --students N or --db PATH")
        args.dir.mkdir(parents=True, exist_ok=True)
        bundle = args.dir / f"bundle-{args.students}"
        db = args.dir / f"j{args.students}.db"
        for stale in args.dir.glob(f"j{args.students}.db*"):
            stale.unlink()
        if not bundle.exists():
            generate = [*CLI, "generate", "--students", str(args.students), "--seed", str(args.seed), "--out", str(bundle)]
            rows.append(run_step("generate", generate))
        rows.append(run_step("load", [*CLI, "load", "bundle", str(bundle), "--db", str(db), "--valid-from", "2025-08-15"]))
    if not args.serve_only:
        rows.append(run_step("restart, full replay", open_store(db, snapshot=False)))
        rows.append(run_step("snapshot", [*CLI, "snapshot", "--db", str(db)]))
        rows[-1]["snapshot_mib"] = round(Path(f"{db}.snapshot").stat().st_size / 2**20)
        if args.tail:
            append_tail(db, args.tail)
        rows.append(run_step(f"restart, snapshot + {args.tail}-event tail", open_store(db, snapshot=True)))
    for n in args.workers:
        rows.extend(serve_memory(db, n, args.checks, args.by_mapping))
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print("\n| step | wall | CPU | peak RSS | PSS (sum) | RSS (sum) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['step']} | {r.get('wall_s', r.get('ready_s', '-'))} s | {r.get('cpu_s', '-')} s | "
            f"{r.get('peak_rss_mib', '-')} MiB | {r.get('pss_mib', '-')} MiB | {r.get('rss_mib', '-')} MiB |"
        )


if __name__ == "__main__":
    main()
