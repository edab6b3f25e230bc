"""The partner network's overview (graph.analytics.overview) on tests.web.network_world.

eastside  <- lincoln (26)          served by prg-tutor (ptn-hope), prg-meals (ptn-bright)
westside  <- roosevelt (12), adams (3: small)   served by prg-tutor, prg-mentor (ptn-hope)
northside <- jefferson (15)        served by prg-meals (ptn-bright)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import networkx as nx

from graph.analytics import partner_network
from graph.analytics.overview import NetworkOverview, OverviewCache, network_overview
from graph.stores.memory import MemoryStore
from tests.web.network_world import NOON, network_world


def overview_of(tmp_path: Path) -> tuple[NetworkOverview, nx.DiGraph[str]]:
    store = MemoryStore(tmp_path / "w.db")
    store.apply(network_world().changes())
    try:
        return network_overview(partner_network(store, NOON)), partner_network(store, NOON)
    finally:
        store.close()


def test_communities_hold_their_schools_and_partners_fold_their_programs(tmp_path: Path) -> None:
    o, _ = overview_of(tmp_path)
    assert [(c.id, [s.id for s in c.schools]) for c in o.communities] == [
        ("eastside", ["lincoln"]),
        ("northside", ["jefferson"]),
        ("westside", ["adams", "roosevelt"]),
    ]
    hope = {p.id: p for p in o.partners}["ptn-hope"]
    assert [p.id for p in hope.programs] == ["prg-mentor", "prg-tutor"]
    assert [(link.community_id, link.programs) for link in hope.communities] == [("eastside", 1), ("westside", 2)]
    assert {p.full_label for p in hope.programs} == {"Mentoring — Hope Center", "Tutoring — Hope Center"}
    assert o.node_count == 9 and o.schools_without_community == () and o.programs_without_partner == ()


def test_counts_are_those_partner_network_publishes(tmp_path: Path) -> None:
    o, G = overview_of(tmp_path)
    adams = next(s for c in o.communities for s in c.schools if s.id == "adams")
    assert adams.students.suppressed and adams.students.value is None, "3 students: a small cell"
    mentor = next(p for q in o.partners for p in q.programs if p.id == "prg-mentor")
    assert mentor.students.value is None
    for c in o.communities:
        published = G.nodes[c.id]
        assert c.students.value == (None if published["students_suppressed"] else published["students"])


def test_cache_is_keyed_by_token_instant_and_policy() -> None:
    cache = OverviewCache(size=2)
    calls: list[int] = []

    def compute() -> NetworkOverview:
        calls.append(1)
        return NetworkOverview("", 10, False, (), (), (), ())

    first = cache.get(("7", NOON, "p"), compute)
    assert cache.get(("7", NOON, "p"), compute) is first
    cache.get(("8", NOON, "p"), compute)
    cache.get(("8", NOON + timedelta(days=1), "p"), compute)
    assert len(calls) == 3 and (cache.hits, cache.misses) == (1, 3)
    cache.get(("7", NOON, "p"), compute)
    assert len(calls) == 4, "the oldest entry was evicted (size 2)"
