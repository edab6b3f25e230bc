"""Restart of the embedded store: opening it (snapshot + journal tail) and ``serve`` until ``/readyz`` answers 200.

    python -m benchmarks.restart_bench --db /tmp/load700/j700k.db [--tail 1000] [--no-serve]

Steps, each in its own process (the machine is shared: CPU time is printed beside wall time):

- ``open``: ``MemoryStore(db)``, the way every command and server opens the embedded store
  (a snapshot that checks out, then the journal after it); peak RSS is that process's ``ru_maxrss``;
- ``serve``: ``needtoknow serve --db DB --port P`` (one worker), polled until ``/readyz`` answers
  200; wall from the start of the process, its CPU time (user + system) and peak RSS
  (``VmHWM``) read at that moment.

``--tail N`` first appends N new students through the store (a journal tail after the snapshot).
Prints one JSON line per step and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.workers_bench import CLI, append_tail, open_store, run_step, stop_server, wait_ready


def peak_rss_mib(pid: int) -> int:
    """VmHWM of a running process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError(f"no VmHWM for process {pid}")


def serve_ready(db: Path) -> dict[str, Any]:
    """Start ``needtoknow serve`` on a free port; wall, CPU and peak RSS when ``/readyz`` first answers 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    start = time.perf_counter()
    proc = subprocess.Popen([*CLI, "serve", "--db", str(db), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_ready(proc, log, f"http://127.0.0.1:{port}")
        wall = time.perf_counter() - start
        cpu = psutil.Process(proc.pid).cpu_times()
        row = {
            "step": "serve until /readyz 200",
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu.user + cpu.system, 1),
            "peak_rss_mib": peak_rss_mib(proc.pid),
        }
        print(json.dumps(row), flush=True)
        return row
    finally:
        stop_server(proc, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="an existing embedded store (with its snapshot, if any)")
    parser.add_argument("--tail", type=int, default=0, help="append this many journal events first")
    parser.add_argument("--no-serve", action="store_true", help="only open the store")
    args = parser.parse_args()
    if args.tail:
        append_tail(args.db, args.tail)
    run_step("open (snapshot + tail)", open_store(args.db, snapshot=True))
    if not args.no_serve:
        serve_ready(args.db)
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
