"""Fixtures for the HTTP tests: a small world in a SQLite file, a real uvicorn server on a
loopback socket (port 0), and one token per role.

    the tests/world.py base graph (ana serves sam; gia is sam's guardian), plus:
    bo   -EMPLOYED_BY-> ptn-hope, WORKS_IN eastside, trained, signed; serves nobody
    sue  -ATTENDS-> lincoln; nobody serves sue; gus -GUARDIAN_OF-> sue (unverified)
    cy   -EMPLOYED_BY-> ptn-other; ended SERVES to sam (ended 30 days before NOW)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.config import ApiSettings
from api.tokens import TokenStore
from graph.changes import PutEdge, PutNode
from graph.model import (
    Attends,
    EmployedBy,
    FerpaRights,
    Guardian,
    GuardianOf,
    Partner,
    Provider,
    Serves,
    ServiceStatus,
    Signed,
    Student,
    Trained,
    WorksIn,
)
from graph.stores.memory import MemoryStore
from graph.timeutil import utcnow
from tests.world import T0, World

NOW = utcnow()


def extra_changes() -> list[Any]:
    """The additions of the module docstring."""
    ended = NOW - timedelta(days=30)
    nodes = [
        Provider(id="bo", name="Bo"),
        Student(id="sue"),
        Guardian(id="gus"),
        Provider(id="cy", name="Cy"),
        Partner(id="ptn-other", name="Other Org"),
    ]
    edges = [
        EmployedBy(id="emp-bo", from_id="bo", to_id="ptn-hope", valid_from=T0),
        WorksIn(id="w-bo", from_id="bo", to_id="eastside", valid_from=T0),
        Trained(id="tr-bo", from_id="bo", to_id="crs-ferpa_basics", valid_from=T0),
        Signed(id="sg-bo", from_id="bo", to_id="agr-conf-v2", valid_from=T0),
        Attends(id="at-sue", from_id="sue", to_id="lincoln", valid_from=T0),
        GuardianOf(id="g-gus", from_id="gus", to_id="sue", valid_from=T0, ferpa_rights=FerpaRights.UNVERIFIED),
        EmployedBy(id="emp-cy", from_id="cy", to_id="ptn-other", valid_from=T0),
        Serves(id="sv-cy", from_id="cy", to_id="sam", valid_from=T0, valid_to=ended, status=ServiceStatus.ACTIVE),
    ]
    return [*(PutNode(n) for n in nodes), *(PutEdge(e) for e in edges)]


def build_db(path: Path, world: World | None = None) -> None:
    """Write the test world into a fresh journal."""
    store = MemoryStore(path)
    try:
        store.apply([*(world or World.base()).changes(), *extra_changes()])
    finally:
        store.close()


ROLES: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin", "subject": "root"},
    "app": {"role": "app", "subject": "hope-app", "partner_ids": ("ptn-hope",)},
    "other_app": {"role": "app", "subject": "other-app", "partner_ids": ("ptn-other",)},
    "provider": {"role": "provider", "subject": "ana"},
    "bo": {"role": "provider", "subject": "bo"},
    "staff": {"role": "staff", "subject": "s1"},
    "analyst": {"role": "analyst", "subject": "a1"},
    "guardian": {"role": "guardian", "subject": "gia"},
    "unverified_guardian": {"role": "guardian", "subject": "gus"},
}


def make_tokens(db: Path) -> dict[str, str]:
    """One secret per entry of ROLES."""
    store = TokenStore(db)
    try:
        return {name: store.create(**spec)[1] for name, spec in ROLES.items()}
    finally:
        store.close()


class Server:
    """uvicorn serving an app on 127.0.0.1, port chosen by the OS, in a thread."""

    def __init__(self, settings: ApiSettings, start_timeout: float = 20) -> None:
        self.start_timeout = start_timeout
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Api:
    """A client of the running server, with a token per role."""

    url: str
    tokens: dict[str, str]
    db: Path
    # The specification's media type: request errors are 4xx (legacy application/json gets 200).
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10, headers={"Accept": "application/graphql-response+json"}))

    def post(self, query: str, variables: dict[str, Any] | None = None, role: str | None = "admin") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    def gql(self, query: str, variables: dict[str, Any] | None = None, role: str = "admin") -> dict[str, Any]:
        r = self.post(query, variables, role)
        body: dict[str, Any] = r.json()
        assert r.status_code == 200 and "errors" not in body, (r.status_code, body)
        return body["data"]  # type: ignore[no-any-return]


def start_api(tmp_path: Path, **overrides: Any) -> tuple[Server, Api]:
    db = tmp_path / "api.db"
    build_db(db)
    tokens = make_tokens(db)
    server = Server(ApiSettings(db=db, **overrides)).__enter__()
    return server, Api(server.url, tokens, db)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for a module's read-mostly tests (test_hooks on for the audit drill)."""
    server, client = start_api(tmp_path_factory.mktemp("api"), test_hooks=True)
    try:
        yield client
    finally:
        client.client.close()
        server.__exit__()


@pytest.fixture
def fresh_api(tmp_path: Path) -> Iterator[Api]:
    """A server of its own, for tests that write."""
    server, client = start_api(tmp_path)
    try:
        yield client
    finally:
        client.client.close()
        server.__exit__()


class ServerProcess:
    """`needtoknow serve` in a subprocess on a free loopback port (a real separate worker).

    Its standard error (structlog's log lines) goes to a temporary file, never to a pipe: a
    pipe nobody reads fills after 64 KiB and the next log line blocks the logging thread
    forever (it stalled the feed's delivery threads mid-test). `stderr_text` reads it back.
    """

    def __init__(self, db: Path, *args: str) -> None:
        import socket
        import subprocess
        import sys
        import tempfile

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        code = "from api.cli import main; main()"
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._last_words = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--db", str(db), "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
        )

    def stderr_text(self) -> str:
        """Everything the server wrote to standard error so far (all of it, once it has stopped)."""
        if self.stderr.closed:
            return self._last_words
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def __enter__(self) -> ServerProcess:
        deadline = time.monotonic() + 120  # a loaded 2-core CI machine can take this long to import and open
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.stderr_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.__exit__()  # never leave our own child running when it did not start in time
        raise RuntimeError("server did not start")

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - last resort: kill our own child
            self.proc.kill()
        if not self.stderr.closed:
            self._last_words = self.stderr_text()
            self.stderr.close()
