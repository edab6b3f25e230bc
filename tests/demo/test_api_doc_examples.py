"""Every example of docs/api.md, docs/writes.md and docs/family.md runs as written against the demo.

The demo is built as of now (as `needtoknow demo` does) and served by uvicorn on a
loopback port. Each ``sh`` code block of docs/api.md is run by bash, as written, with
three substitutions only: ``localhost:8000`` becomes the test server's address, the
placeholder secret ``ntk_...`` becomes an admin token of the demo, and ``needtoknow``
reads the demo's database (``NTK_DB``). The block that starts the server
(``needtoknow serve``) is the one thing not run: the test server stands in for it.
Every ``curl`` answer must be HTTP 200 with no GraphQL error and no ``ValidationError``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.config import ApiSettings
from api.tokens import TokenStore
from graph.timeutil import utcnow
from tests.api.conftest import Server
from tests.demo.conftest import build_demo

DOCS = [Path(__file__).resolve().parents[2] / "docs" / name for name in ("api.md", "writes.md", "family.md")]
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
HEADERS = "H=(-H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -H 'Accept: application/graphql-response+json')\n"


def blocks() -> list[str]:
    """The ``sh`` code blocks of docs/api.md and docs/writes.md, except the one that starts the
    server; a block that uses ``$H`` without setting it gets the headers api.md sets."""
    found = []
    for doc in DOCS:
        for b in BLOCK.findall(doc.read_text(encoding="utf-8")):
            if b.lstrip().startswith("needtoknow serve"):
                continue
            found.append(b if "H=(" in b or "${H[@]}" not in b else "TOKEN=ntk_...\n" + HEADERS + b)
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(server URL, admin secret, database) of a demo built now."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(db, utcnow())
    tokens = TokenStore(db)
    try:
        admin = tokens.create("admin", "doc-examples")[1]
    finally:
        tokens.close()
    with Server(ApiSettings(db=db)) as server:
        yield server.url, admin, db


def test_the_doc_has_examples() -> None:
    found = blocks()
    assert len(found) >= 2 and sum(b.count("curl ") for b in found) >= 10


@pytest.mark.parametrize("index", range(len(blocks())))
def test_doc_example_runs_against_the_demo(demo: tuple[str, str, Path], tmp_path: Path, index: int) -> None:
    url, admin, db = demo
    script = blocks()[index].replace("localhost:8000", url.removeprefix("http://")).replace("ntk_...", admin)
    answers = tmp_path / "answers"
    # Each curl answer, then its HTTP status on a line of its own, appended to `answers`.
    wrapper = f"curl() {{ command curl -sS -w '\\n%{{http_code}}\\n' \"$@\" >> {answers}; }}\nset -e\n"
    env = {**os.environ, "NTK_DB": str(db), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", "-c", wrapper + script], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, f"block {index} failed:\n{script}\n{run.stderr}"
    if "curl " not in script:
        return
    lines = answers.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 * script.count("\ncurl ") + 2 * script.startswith("curl ")
    for body, status in zip(lines[::2], lines[1::2], strict=True):
        assert status == "200", body
        answer = json.loads(body)
        assert "errors" not in answer and answer["data"], body
        assert '"field"' not in body, f"a ValidationError: {body}"
