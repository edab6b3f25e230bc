"""Two concurrent loads of one bundle: the journal grows once; the second reports its records unchanged.

Both are real `needtoknow load` processes on one SQLite file, started together. The importer
plans inside the write lock it commits under (graph/commands/load.py), so whichever commits
second sees the first's records.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

CLI = [sys.executable, "-c", "from api.cli import main; main()"]


def events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_two_concurrent_loads_of_one_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    assert CliRunner().invoke(app, ["generate", "--students", "300", "--seed", "9", "--out", str(bundle)]).exit_code == 0
    reference = tmp_path / "ref.db"
    subprocess.run([*CLI, "load", "bundle", str(bundle), "--db", str(reference)], check=True, capture_output=True)
    db = tmp_path / "shared.db"
    procs = [subprocess.Popen([*CLI, "load", "bundle", str(bundle), "--db", str(db)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert events(db) == events(reference)  # the journal grew once
    created = sorted(int(re.search(r"created ([\d,]+)", out).group(1).replace(",", "")) for out in outputs)  # type: ignore[union-attr]
    unchanged = sorted(int(re.search(r"unchanged ([\d,]+)", out).group(1).replace(",", "")) for out in outputs)  # type: ignore[union-attr]
    assert created[0] == 0 and created[1] == events(reference)
    assert unchanged[1] == created[1]  # the second saw every record of the first
