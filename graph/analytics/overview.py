"""The partner network's overview: a first picture that stays readable at any scale.

Derived from `partner_network` (so every count is the one published there, suppressed
once, as a whole; nothing is recounted):

- **communities** with their **schools** (a community is drawn as a group holding them);
  schools located in no community are listed apart;
- **partners**, each with its **programs folded in** (a program count until the page
  expands it) and the **communities its programs serve**, with how many of its programs
  serve each (a count of programs, not of students: nothing to suppress);
- programs no partner offers are listed apart, with the communities they serve.

Programs carry ``full_label`` = "program — partner" (383 programs share 22 names in a
20,000-student partnership; the name alone does not say which one is meant).

`OverviewCache` keeps the overviews of the last few (consistency token, instant, policy)
keys, so the page's reloads and links cost one computation per state of the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import networkx as nx

from graph.analytics.table import PublishedCell

__all__ = [
    "NetworkOverview",
    "OverviewCache",
    "OverviewCommunity",
    "OverviewLink",
    "OverviewPartner",
    "OverviewProgram",
    "OverviewSchool",
    "network_overview",
]

PROGRAM_SEPARATOR: Final = " — "
"""Between a program's name and its partners' names in ``full_label``."""


def _cell(attrs: dict[str, Any]) -> PublishedCell:
    if attrs.get("students_suppressed"):
        return PublishedCell(None, True)
    return PublishedCell(int(attrs.get("students", 0)), False)


@dataclass(frozen=True, slots=True)
class OverviewSchool:
    """A school and its published student count."""

    id: str
    label: str
    students: PublishedCell


@dataclass(frozen=True, slots=True)
class OverviewCommunity:
    """A community, its published student count, and the schools located in it (by name, then id)."""

    id: str
    label: str
    students: PublishedCell
    schools: tuple[OverviewSchool, ...]


@dataclass(frozen=True, slots=True)
class OverviewProgram:
    """A program: its name, the name with its partners, its published count, the communities it serves."""

    id: str
    label: str
    full_label: str
    students: PublishedCell
    partner_ids: tuple[str, ...]
    community_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OverviewLink:
    """A partner serving a community: how many of the partner's programs serve it (programs, not students)."""

    community_id: str
    programs: int


@dataclass(frozen=True, slots=True)
class OverviewPartner:
    """A partner, its published count, its programs (folded by default) and the communities they serve."""

    id: str
    label: str
    students: PublishedCell
    programs: tuple[OverviewProgram, ...]
    communities: tuple[OverviewLink, ...]


@dataclass(frozen=True, slots=True)
class NetworkOverview:
    """The overview at an instant (see the module docstring). Lists are ordered by label, then id."""

    at: str
    k: int
    k_inclusive: bool
    communities: tuple[OverviewCommunity, ...]
    schools_without_community: tuple[OverviewSchool, ...]
    partners: tuple[OverviewPartner, ...]
    programs_without_partner: tuple[OverviewProgram, ...]

    @property
    def node_count(self) -> int:
        """Nodes the overview draws with programs folded: communities, schools, partners, partnerless programs."""
        schools = sum(len(c.schools) for c in self.communities) + len(self.schools_without_community)
        return len(self.communities) + schools + len(self.partners) + len(self.programs_without_partner)


def network_overview(G: nx.DiGraph[str]) -> NetworkOverview:
    """The overview of a partner network.

    Parameters
    ----------
    G : networkx.DiGraph
        As returned by `partner_network` (counts already suppressed).

    Returns
    -------
    NetworkOverview
        Every count is the one `G` publishes; the partner-community links count programs.
    """
    kind: dict[str, str] = {n: str(d["kind"]) for n, d in G.nodes(data=True)}
    label: dict[str, str] = {n: str(d.get("label", n)) for n, d in G.nodes(data=True)}

    def order(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: (label[i].casefold(), i))

    schools_of: dict[str, list[str]] = defaultdict(list)
    placed: set[str] = set()
    partners_of: dict[str, list[str]] = defaultdict(list)
    areas_of: dict[str, list[str]] = defaultdict(list)
    for a, b, k in G.edges(data="kind"):  # type: ignore[var-annotated]
        if k == "LOCATED_IN":
            schools_of[b].append(a)
            placed.add(a)
        elif k == "OFFERS":
            partners_of[b].append(a)
        elif k == "SERVES_AREA":
            areas_of[a].append(b)

    def school(s: str) -> OverviewSchool:
        return OverviewSchool(s, label[s], _cell(G.nodes[s]))

    def program(p: str) -> OverviewProgram:
        ptns = order(partners_of.get(p, []))
        full = label[p] + (PROGRAM_SEPARATOR + ", ".join(label[x] for x in ptns) if ptns else "")
        return OverviewProgram(p, label[p], full, _cell(G.nodes[p]), tuple(ptns), tuple(order(areas_of.get(p, []))))

    by_kind: dict[str, list[str]] = defaultdict(list)
    for n, k in kind.items():
        by_kind[k].append(n)
    programs = {p: program(p) for p in by_kind["Program"]}
    offered: dict[str, list[str]] = defaultdict(list)
    for p, ptns in partners_of.items():
        for ptn in ptns:
            offered[ptn].append(p)

    partners = []
    for ptn in order(by_kind["Partner"]):
        mine = [programs[p] for p in order(offered.get(ptn, []))]
        serving: dict[str, int] = defaultdict(int)
        for prog in mine:
            for c in prog.community_ids:
                serving[c] += 1
        links = tuple(OverviewLink(c, serving[c]) for c in order(list(serving)))
        partners.append(OverviewPartner(ptn, label[ptn], _cell(G.nodes[ptn]), tuple(mine), links))

    return NetworkOverview(
        at=str(G.graph.get("at", "")),
        k=int(G.graph.get("k", 0)),
        k_inclusive=bool(G.graph.get("k_inclusive", 0)),
        communities=tuple(
            OverviewCommunity(c, label[c], _cell(G.nodes[c]), tuple(school(s) for s in order(schools_of.get(c, []))))
            for c in order(by_kind["Community"])
        ),
        schools_without_community=tuple(school(s) for s in order([s for s in by_kind["School"] if s not in placed])),
        partners=tuple(partners),
        programs_without_partner=tuple(programs[p] for p in order([p for p in by_kind["Program"] if not partners_of.get(p)])),
    )


class OverviewCache:
    """The last `size` overviews, by (consistency token, instant, policy version); thread-safe.

    The store's consistency token names its state, so an entry is never stale: a write
    makes a new token and a new key. Computing happens outside the lock (two callers may
    compute the same key once each; the result is the same).
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, datetime, str], NetworkOverview] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, datetime, str], compute: Callable[[], NetworkOverview]) -> NetworkOverview:
        """The overview for `key`, computed with `compute` when not cached."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
