"""A server process moves what it loaded out of the garbage collector's reach (`create_app(freeze_heap=True)`,
as ``needtoknow serve`` does); an app built without it (tests, embedding) leaves the collector alone."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.config import ApiSettings
from tests.api.conftest import build_db


def _frozen_after_startup(db: Path, freeze_heap: bool) -> int:
    gc.unfreeze()
    config = uvicorn.Config(create_app(ApiSettings(db=db), freeze_heap=freeze_heap), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        return gc.get_freeze_count()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        gc.unfreeze()  # this test process goes on with other apps


def test_a_server_freezes_what_it_loaded_and_an_embedded_app_does_not(tmp_path: Path) -> None:
    db = tmp_path / "api.db"
    build_db(db)
    assert _frozen_after_startup(db, freeze_heap=False) == 0
    assert _frozen_after_startup(db, freeze_heap=True) > 10_000  # the interpreter, the app and the graph
