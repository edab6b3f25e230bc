"""A small partnership for the partner-network page and the analytics API tests.

    ptn-hope   -OFFERS-> prg-tutor  -SERVES_AREA-> eastside, westside
    ptn-hope   -OFFERS-> prg-mentor -SERVES_AREA-> westside
    ptn-bright -OFFERS-> prg-meals  -SERVES_AREA-> northside, eastside
    lincoln   -LOCATED_IN-> eastside   <-ATTENDS- sam, e0..e24   (26 students)
    roosevelt -LOCATED_IN-> westside   <-ATTENDS- w0..w11        (12)
    adams     -LOCATED_IN-> westside   <-ATTENDS- a0..a2         (3: a small cell)
    jefferson -LOCATED_IN-> northside  <-ATTENDS- n0..n14        (15)
    ana -SERVES(prg-tutor)-> sam; dee -SERVES(prg-tutor)-> e0..e14;  ben -SERVES(prg-mentor)-> w0..w3 (4: small)
    cat -SERVES(prg-meals)->  n0..n11

The network has 2 partners + 3 programs + 3 communities + 4 schools = 12 nodes and no
student node; filtered to westside it has westside, roosevelt, adams, prg-tutor,
prg-mentor and ptn-hope (6). With k = 10, adams (3) and prg-mentor (4) are suppressed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from api.tokens import TokenStore
from graph.model import (
    Attends,
    Community,
    EmployedBy,
    LocatedIn,
    Offers,
    Partner,
    Program,
    Provider,
    School,
    Serves,
    ServesArea,
    Student,
    WorksIn,
)
from graph.stores.memory import MemoryStore
from tests.world import NOON, T0, World

__all__ = ["ALL_NODES", "NOON", "ROLES", "WESTSIDE_NODES", "build_network_db", "network_world"]

ALL_NODES: Final = 12
WESTSIDE_NODES: Final = frozenset({"westside", "roosevelt", "adams", "prg-tutor", "prg-mentor", "ptn-hope"})


ROLES: Final[dict[str, dict[str, Any]]] = {
    "admin": {"role": "admin", "subject": "root"},
    "staff": {"role": "staff", "subject": "s1"},
    "analyst": {"role": "analyst", "subject": "a1"},
    "app": {"role": "app", "subject": "hope-app", "partner_ids": ("ptn-hope",)},
    "provider": {"role": "provider", "subject": "ana"},
    "guardian": {"role": "guardian", "subject": "gia"},
}
"""One token per role."""


def build_network_db(path: Path) -> dict[str, str]:
    """Write `network_world` into a fresh journal at `path`; return a token secret per entry of `ROLES`."""
    store = MemoryStore(path)
    try:
        store.apply(network_world().changes())
    finally:
        store.close()
    tokens = TokenStore(path)
    try:
        return {name: tokens.create(**spec)[1] for name, spec in ROLES.items()}
    finally:
        tokens.close()


def _school(w: World, school: str, name: str, community: str, students: list[str]) -> World:
    w = w.node(School(id=school, name=name)).edge(LocatedIn(id=f"loc-{school}", from_id=school, to_id=community, valid_from=T0))
    for sid in students:
        w = w.node(Student(id=sid)).edge(Attends(id=f"at-{sid}", from_id=sid, to_id=school, valid_from=T0))
    return w


def _provider(w: World, pid: str, partner: str, community: str, program: str, students: list[str]) -> World:
    w = w.node(Provider(id=pid, name=pid.title()))
    w = w.edge(EmployedBy(id=f"emp-{pid}", from_id=pid, to_id=partner, valid_from=T0))
    w = w.edge(WorksIn(id=f"w-{pid}", from_id=pid, to_id=community, valid_from=T0))
    for sid in students:
        w = w.edge(
            Serves(
                id=f"sv-{pid}-{sid}", from_id=pid, to_id=sid, valid_from=T0, program=program, categories_needed=frozenset({"attendance"})
            )
        )
    return w


def network_world() -> World:
    """The partnership sketched in the module docstring (on top of `World.base`)."""
    w = World.base()
    w = w.node(Community(id="westside", name="Westside")).node(Community(id="northside", name="Northside"))
    w = w.node(Partner(id="ptn-bright", name="Bright Futures"))
    w = w.node(Program(id="prg-mentor", name="Mentoring")).node(Program(id="prg-meals", name="Meals"))
    w = w.edge(Offers(id="off-mentor", from_id="ptn-hope", to_id="prg-mentor", valid_from=T0))
    w = w.edge(Offers(id="off-meals", from_id="ptn-bright", to_id="prg-meals", valid_from=T0))
    for i, (program, community) in enumerate(
        [
            ("prg-tutor", "eastside"),
            ("prg-tutor", "westside"),
            ("prg-mentor", "westside"),
            ("prg-meals", "northside"),
            ("prg-meals", "eastside"),
        ]
    ):
        w = w.edge(ServesArea(id=f"sa-{i}", from_id=program, to_id=community, valid_from=T0))
    e = [f"e{i}" for i in range(25)]
    w = _school(w, "lincoln", "Lincoln Elementary", "eastside", e)  # lincoln itself is in the base world
    w = _school(w, "roosevelt", "Roosevelt High", "westside", [f"w{i}" for i in range(12)])
    w = _school(w, "adams", "Adams Middle", "westside", [f"a{i}" for i in range(3)])
    w = _school(w, "jefferson", "Jefferson Elementary", "northside", [f"n{i}" for i in range(15)])
    w = _provider(w, "dee", "ptn-hope", "eastside", "prg-tutor", e[:15])
    w = _provider(w, "ben", "ptn-hope", "westside", "prg-mentor", [f"w{i}" for i in range(4)])
    w = _provider(w, "cat", "ptn-bright", "northside", "prg-meals", [f"n{i}" for i in range(12)])
    return w


if __name__ == "__main__":  # pragma: no cover - a look at the numbers
    import tempfile
    from pathlib import Path

    from graph.analytics import partner_network
    from graph.stores.memory import MemoryStore

    store = MemoryStore(Path(tempfile.mkdtemp()) / "w.db")
    store.apply(network_world().changes())
    G = partner_network(store, NOON)
    for n, d in G.nodes(data=True):
        print(n, d)
    for a, b, d in G.edges(data=True):
        print(a, b, d)
