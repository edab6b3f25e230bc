"""coverage, partnerNetwork and /coverage/data about "now" are cached per consistency token:
repeats answer for the same instant (one computation), and a write by another process moves
the token, so the next answer includes it (tests.web.network_world)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.config import ApiSettings
from tests.api.conftest import Server
from tests.api.test_analytics_api import COVERAGE, NETWORK, Client
from tests.web.network_world import build_network_db

# Another process serves five more students through dee (ptn-hope, prg-tutor): ptn-hope serves 20 -> 25.
WRITER = """
import sys
from pathlib import Path
from graph.changes import PutEdge
from graph.model import Serves
from graph.stores.memory import MemoryStore
from tests.world import T0
store = MemoryStore(Path(sys.argv[1]))
store.apply([PutEdge(Serves(id=f"sv-dee-e{i}", from_id="dee", to_id=f"e{i}", valid_from=T0, program="prg-tutor",
                            categories_needed=frozenset({"attendance"}))) for i in range(15, 20)])
print(store.token())
store.close()
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Client, Path]]:
    db = tmp_path / "cache.db"
    tokens = build_network_db(db)
    with Server(ApiSettings(db=db)) as server:
        c = Client(server.url, tokens)
        try:
            yield c, db
        finally:
            c.http.close()


def hope_students(network: dict[str, object]) -> object:
    nodes = network["nodes"]
    assert isinstance(nodes, list)
    return next(n["students"]["value"] for n in nodes if n["id"] == "ptn-hope")


def test_a_write_by_another_process_changes_the_cached_answers(served: tuple[Client, Path]) -> None:
    client, db = served
    by_program = {"by": "PROGRAM", "at": None, "days": 30}
    first = (client.data(NETWORK, {"at": None})["partnerNetwork"], client.data(COVERAGE, by_program)["coverage"])
    data = client.http.get(f"{client.url}/coverage/data?by=program", headers={"Authorization": f"Bearer {client.tokens['staff']}"})
    assert data.status_code == 200
    # Repeats until the next write answer for the same instant: the cached computation.
    again = (client.data(NETWORK, {"at": None})["partnerNetwork"], client.data(COVERAGE, by_program)["coverage"])
    assert again == first and again[0]["at"] == first[0]["at"] and hope_students(first[0]) == 20
    written = subprocess.run(
        [sys.executable, "-c", WRITER, str(db)], check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2]
    )
    assert written.stdout.strip().isdigit()
    after = (client.data(NETWORK, {"at": None})["partnerNetwork"], client.data(COVERAGE, by_program)["coverage"])
    assert hope_students(after[0]) == 25 and after[0]["at"] != first[0]["at"]
    assert after[1]["tables"] != first[1]["tables"]
    data_after = client.http.get(f"{client.url}/coverage/data?by=program", headers={"Authorization": f"Bearer {client.tokens['staff']}"})
    assert data_after.status_code == 200 and data_after.content != data.content
