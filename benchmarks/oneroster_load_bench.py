"""Time and peak memory of a large OneRoster load through the real CLI (issue 11: 700k students < 3 min).

Writes a synthetic OneRoster 1.1 bulk package (`loaders.synthetic_oneroster`), then runs
``needtoknow load oneroster`` on a fresh SQLite store under ``/usr/bin/time -v`` and prints
wall time and peak RSS; then loads the same package again (a bulk reload: every record
unchanged, every current relationship of the source checked for omission) and prints the same.

    .venv/bin/python -m benchmarks.oneroster_load_bench --students 700000 --dir /tmp/or700k
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from loaders.synthetic_oneroster import write_package

EXE = str(Path(sys.executable).parent / "needtoknow")


def timed(args: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds (user + system), peak RSS GiB, stdout) of one process under /usr/bin/time -v.

    On a shared machine the CPU time is the figure to compare: wall time there says how busy
    the machine was."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr))
    return wall, cpu, (int(rss.group(1)) / 2**20 if rss else float("nan")), done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=700_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, required=True, help="Work directory (package and store).")
    parser.add_argument("--no-reload", action="store_true", help="Skip the second (bulk reload) run.")
    a = parser.parse_args()
    pkg, db = a.dir / "package", a.dir / "store.db"
    a.dir.mkdir(parents=True, exist_ok=True)
    for p in a.dir.glob("store.db*"):
        p.unlink()
    t0 = time.perf_counter()
    counts = write_package(pkg, students=a.students, seed=a.seed)
    print(f"package: {a.students:,} students, {counts} in {time.perf_counter() - t0:.1f} s")
    cmd = [EXE, "load", "oneroster", str(pkg), "--db", str(db), "--valid-from", "2025-08-15"]
    runs = [("first load (empty store)", cmd)] + ([] if a.no_reload else [("bulk reload (same package)", cmd)])
    for label, args in runs:
        wall, cpu, rss, out = timed(args)
        line = next((x for x in out.splitlines() if x.startswith("oneroster:")), "")
        print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.2f} GiB | {line}")


if __name__ == "__main__":
    main()
