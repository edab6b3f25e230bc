"""The aggregated partner network: partners, programs, communities and schools, with counts.

No student is a node: a node or edge carries only a count of students, suppressed like
every aggregate (`graph.analytics.suppression.protect`). The web page and the
``needtoknow export`` command both start from `partner_network`.

Nodes (id = the record id; ids form one namespace): ``kind`` (Partner, Program,
Community, School), ``label``, and the count ``students``:

- School: students attending it at `at`.
- Community: students of the community at `at` (a school located there, or LIVES_IN).
- Program: students with a SERVES edge naming it, in force at `at`, not ended.
- Partner: students of any of its programs (OFFERS at `at`).

Edges, directed as in the graph: ``OFFERS`` partner -> program (the program's count),
``SERVES_AREA`` program -> community (the program's students who belong to that
community), ``LOCATED_IN`` school -> community (the school's count).

Attributes are sanitised so networkx, Gephi and yEd read them back: strings, ints and
floats only, never None. A suppressed count is ``students = -1`` with
``students_suppressed = 1`` and ``students_display = "*"``.

Suppression: the counts form one cell set, with the relations an attacker could use
declared as constraints (community = sum of its schools, partner = sum of its
programs, program = sum of its areas; each is only a bound where groups overlap, and
is declared anyway: that can only suppress more).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import networkx as nx

from graph.analytics.coverage import CoverageFacts, GroupBy, gather_coverage_facts
from graph.analytics.suppression import Constraint, protect
from graph.policy import Policy
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware, to_iso

__all__ = ["EXPORT_FORMATS", "ExportFormat", "partner_network", "write_network"]

ExportFormat = Literal["graphml", "gexf", "csv", "node-link"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = ("graphml", "gexf", "csv", "node-link")

SUPPRESSED: Final = -1
"""Value of a suppressed count attribute (``students_suppressed`` is then 1)."""

_Key = tuple[str, ...]


def partner_network(
    store: GraphStore, at: datetime, policy: Policy | None = None, *, facts: CoverageFacts | None = None
) -> nx.DiGraph[str]:
    """The partner network at `at` with suppressed student counts (no student nodes).

    Parameters
    ----------
    store : GraphStore
    at : datetime
        Aware.
    policy : Policy, optional
        Suppression threshold (defaults to `Policy()`).
    facts : CoverageFacts, optional
        Facts already gathered at `at`.

    Returns
    -------
    networkx.DiGraph
        Graph attributes ``at`` (ISO 8601), ``k``, ``k_inclusive`` (0/1); node and edge
        attributes as in the module docstring. Nodes and edges are added in id order.
    """
    policy = policy or Policy()
    at = ensure_aware(at)
    f = facts if facts is not None else gather_coverage_facts(store, at, policy)
    schools = f.group_ids.get(GroupBy.SCHOOL, [])
    communities = f.group_ids.get(GroupBy.COMMUNITY, [])
    programs = f.group_ids.get(GroupBy.PROGRAM, [])
    partners = f.group_ids.get(GroupBy.PARTNER, [])

    school_students: dict[str, int] = defaultdict(int)
    for sch in f.schools_of.values():
        for s in sch:
            school_students[s] += 1
    community_students: dict[str, int] = defaultdict(int)
    for com in f.communities_of.values():
        for c in com:
            community_students[c] += 1
    program_students: dict[str, int] = defaultdict(int)
    area_students: dict[tuple[str, str], int] = defaultdict(int)
    partner_students: dict[str, int] = defaultdict(int)
    for sid, progs in f.programs_of.items():
        comms = f.communities_of.get(sid, set())
        mine: set[str] = set()
        for p in progs:
            program_students[p] += 1
            mine.update(f.partners_of_program.get(p, ()))
            for c in f.program_areas.get(p, set()) & comms:
                area_students[(p, c)] += 1
        for ptn in mine:
            partner_students[ptn] += 1

    located = sorted((s, c) for s in schools for c in f.school_communities.get(s, ()))
    offers = sorted((ptn, p) for p, ptns in f.partners_of_program.items() for ptn in ptns)
    areas = sorted((p, c) for p, cs in f.program_areas.items() for c in cs)

    values: dict[_Key, int] = {}
    for s in schools:
        values[("School", s)] = school_students.get(s, 0)
    for c in communities:
        values[("Community", c)] = community_students.get(c, 0)
    for p in programs:
        values[("Program", p)] = program_students.get(p, 0)
    for ptn in partners:
        values[("Partner", ptn)] = partner_students.get(ptn, 0)
    for p, c in areas:
        values[("SERVES_AREA", p, c)] = area_students.get((p, c), 0)
    constraints: list[Constraint[_Key]] = []
    by_comm: dict[str, list[_Key]] = defaultdict(list)
    for s, c in located:
        by_comm[c].append(("School", s))
    constraints += [Constraint(("Community", c), tuple(parts)) for c, parts in by_comm.items() if ("Community", c) in values]
    by_partner: dict[str, list[_Key]] = defaultdict(list)
    for ptn, p in offers:
        if ("Program", p) in values:
            by_partner[ptn].append(("Program", p))
    constraints += [Constraint(("Partner", ptn), tuple(parts)) for ptn, parts in by_partner.items() if ("Partner", ptn) in values]
    by_program: dict[str, list[_Key]] = defaultdict(list)
    for p, c in areas:
        by_program[p].append(("SERVES_AREA", p, c))
    constraints += [Constraint(("Program", p), tuple(parts)) for p, parts in by_program.items() if ("Program", p) in values]
    suppressed = protect(values, constraints, policy)

    def count_attrs(key: _Key) -> dict[str, Any]:
        if key in suppressed:
            return {"students": SUPPRESSED, "students_suppressed": 1, "students_display": "*"}
        v = values.get(key, 0)
        return {"students": v, "students_suppressed": 0, "students_display": str(v)}

    G: nx.DiGraph[str] = nx.DiGraph(at=to_iso(at) or "", k=policy.suppression_k, k_inclusive=int(policy.suppress_k_itself))
    for kind, ids in (("Partner", partners), ("Program", programs), ("Community", communities), ("School", schools)):
        for node_id in ids:
            G.add_node(node_id, kind=kind, label=_clean(f.names.get(node_id, node_id)), **count_attrs((kind, node_id)))
    for ptn, p in offers:
        if ptn in G and p in G:
            G.add_edge(ptn, p, kind="OFFERS", **count_attrs(("Program", p)))
    for p, c in areas:
        if p in G and c in G:
            G.add_edge(p, c, kind="SERVES_AREA", **count_attrs(("SERVES_AREA", p, c)))
    for s, c in located:
        if s in G and c in G:
            G.add_edge(s, c, kind="LOCATED_IN", **count_attrs(("School", s)))
    return G


def _clean(text: str) -> str:
    """Printable text only (GraphML and GEXF are XML: control characters are not allowed)."""
    return "".join(ch for ch in text if ch >= " " and ch != "\x7f")


GEXF_STYLE: Final = {
    "Partner": (20.0, (59, 110, 165)),
    "Program": (14.0, (199, 125, 26)),
    "Community": (24.0, (63, 143, 90)),
    "School": (10.0, (122, 90, 166)),
}
"""GEXF default size and colour (RGB) per node kind, as on the /network page; never sized by a count."""


def _for_gexf(G: nx.DiGraph[str]) -> nx.DiGraph[str]:
    """A copy of `G` for Gephi: suppressed counts left out (not -1), edge weights, size and colour per kind.

    A suppressed count has no ``students`` attribute (``students_suppressed`` is true and
    ``students_display`` is ``*``), so Gephi's ranking and sizing never read a made-up
    number. An edge's GEXF ``weight`` is its published student count (0 included); a suppressed edge has
    none (Gephi then uses 1.0, the format's default). Written as GEXF 1.2 (networkx's writer).
    """
    H: nx.DiGraph[str] = nx.DiGraph(**G.graph)
    for n, d in G.nodes(data=True):
        attrs = _gexf_counts(d)
        size, (r, g, b) = GEXF_STYLE.get(str(d.get("kind")), (10.0, (128, 128, 128)))
        attrs["viz"] = {"size": size, "color": {"r": r, "g": g, "b": b, "a": 1.0}}
        H.add_node(n, **attrs)
    for a, b_, d in G.edges(data=True):
        attrs = _gexf_counts(d)
        if "students" in attrs:
            attrs["weight"] = float(attrs["students"])
        H.add_edge(a, b_, **attrs)
    return H


def _gexf_counts(d: dict[str, Any]) -> dict[str, Any]:
    attrs = {k: v for k, v in d.items() if k not in ("students", "students_suppressed")}
    attrs["students_suppressed"] = bool(d.get("students_suppressed"))
    if not d.get("students_suppressed"):
        attrs["students"] = int(d.get("students", 0))
    return attrs


def write_network(G: nx.DiGraph[str], fmt: ExportFormat, out: Path) -> list[Path]:
    """Write `G` as `fmt` to `out`; return the files written.

    ``graphml``, ``gexf`` and ``node-link`` (JSON, ``nodes``/``edges`` keys) write the file
    `out`; ``gexf`` is GEXF 1.2 with suppressed counts left out, edge weights and a size and
    colour per kind (`_for_gexf`); ``csv`` makes `out` a directory holding ``nodes.csv`` (id and node attributes)
    and ``edges.csv`` (source, target and edge attributes).

    Raises
    ------
    ValueError
        Unknown format.
    """
    out = Path(out)
    if fmt == "graphml":
        nx.write_graphml(G, out)
        return [out]
    if fmt == "gexf":
        nx.write_gexf(_for_gexf(G), out, version="1.2draft")
        return [out]
    if fmt == "node-link":
        out.write_text(json.dumps(nx.node_link_data(G, edges="edges"), indent=1, sort_keys=True), encoding="utf-8")
        return [out]
    if fmt == "csv":
        out.mkdir(parents=True, exist_ok=True)
        node_cols = sorted({k for _, d in G.nodes(data=True) for k in d})
        edge_cols = sorted({k for _, _, d in G.edges(data=True) for k in d})
        with (out / "nodes.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", *node_cols])
            for n, d in G.nodes(data=True):
                w.writerow([n, *(d.get(k, "") for k in node_cols)])
        with (out / "edges.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["source", "target", *edge_cols])
            for a, b, d in G.edges(data=True):
                w.writerow([a, b, *(d.get(k, "") for k in edge_cols)])
        return [out / "nodes.csv", out / "edges.csv"]
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")
