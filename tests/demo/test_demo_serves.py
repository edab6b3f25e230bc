"""`needtoknow demo` as a user runs it: builds, prints, then serves the API, GraphiQL and the page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

EXE = str(Path(sys.executable).parent / "needtoknow")


def test_demo_serves_graphiql_and_prints_its_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [EXE, "demo", "--db", str(tmp_path / "demo.db"), "--port", str(port), "--at", "2026-11-30T17:00:00Z"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while not any("the CLI on this store" in line for line in lines):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        printed = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert f"GraphiQL:       {base}/graphql" in printed and f"{base}/network" in printed
        staff = next(line.split()[-1] for line in lines if line.strip().startswith("staff token:"))
        while True:
            try:
                page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert page.status_code == 200 and "/static/vendor/graphiql.min.js" in page.text
        answer = httpx.post(
            f"{base}/graphql",
            json={"query": "{ networkOverview { communities { id } } }"},
            headers={"Authorization": f"Bearer {staff}"},
            timeout=60,
        )
        assert answer.status_code == 200 and {"id": "com-grand-bend"} in answer.json()["data"]["networkOverview"]["communities"]
        # The printed CLI line runs as printed (the store is not the CLI's default ./needtoknow.db).
        cli = next(line for line in lines if "the CLI on this store" in line).split("): ", 1)[1].split()
        env_var, command = cli[0], cli[1:]
        name, value = env_var.split("=", 1)
        command[0] = EXE  # the printed .venv/bin/needtoknow, from this test's interpreter
        run = subprocess.run(command, env={**os.environ, name: value}, capture_output=True, text=True, timeout=120)
        assert run.returncode in (0, 1) and "demo-prv-rosa" in run.stdout, run.stdout + run.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
