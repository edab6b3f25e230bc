"""A real server over the network_world partnership, for the page tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.config import ApiSettings
from tests.api.conftest import Server
from tests.web.network_world import build_network_db


@dataclass(frozen=True)
class Site:
    """Base URL of the running server and a token secret per role."""

    url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """uvicorn on a loopback port over `network_world`, GraphiQL on."""
    db = tmp_path_factory.mktemp("web") / "web.db"
    tokens = build_network_db(db)
    with Server(ApiSettings(db=db, graphiql=True)) as server:
        yield Site(server.url, tokens)
