"""Shared fixtures. Keep it small: fixtures used by one package live in that package.

``neo4j_uri``: a real Neo4j for tests marked ``neo4j``. It uses the server at
``NTK_NEO4J_URI`` (default ``bolt://127.0.0.1:7687``); when nothing answers there it starts
the project's server (``tools/neo4j/neo4j.sh start``, which honours ``NTK_NEO4J_PORT``) and
stops it at the end of the session, but only if it started it. Nothing is skipped for
want of Neo4j: a server that cannot be started fails the tests that need it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import neo4j
import neo4j.exceptions
import pytest

ROOT = Path(__file__).resolve().parents[1]
NEO4J_SH = ROOT / "tools" / "neo4j" / "neo4j.sh"

# The per-token limits (api/ratelimit.py) are on by default for deployments; the suite's load
# and fuzz tests drive one token as fast as they can, so every server started by a test runs
# without them unless the test names its own (tests/ops/test_rate_limits.py does). Set here,
# before any server starts, so `serve` subprocesses inherit it too.
os.environ.setdefault("NTK_RATE_LIMIT", "")
os.environ.setdefault("NTK_AGGREGATE_LIMITS", "{}")


def _neo4j_answers(uri: str) -> bool:
    try:
        with neo4j.GraphDatabase.driver(uri, connection_timeout=2.0) as driver:
            driver.verify_connectivity()
    except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError):
        return False
    return True


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    """Bolt URI of a running Neo4j 5 (started for the session if none answers)."""
    uri = os.environ.get("NTK_NEO4J_URI", "bolt://127.0.0.1:7687")
    if _neo4j_answers(uri):
        yield uri
        return
    subprocess.run(["bash", str(NEO4J_SH), "start"], check=True)
    try:
        if not _neo4j_answers(uri):
            pytest.fail(f"started tools/neo4j but nothing answers at {uri} (NTK_NEO4J_URI vs NTK_NEO4J_PORT?)")
        yield uri
    finally:
        subprocess.run(["bash", str(NEO4J_SH), "stop"], check=False)
