"""The partner network: no student nodes, suppressed counts, and every export format reads back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import networkx as nx
import pytest

from graph.analytics.network import EXPORT_FORMATS, SUPPRESSED, ExportFormat, partner_network, write_network
from graph.policy import Policy
from tests.analytics.worlds import two_communities
from tests.world import NOON

KINDS = {"ptn-hope": "Partner", "prg-tutor": "Program", "eastside": "Community", "westside": "Community",
         "lincoln": "School", "roosevelt": "School"}


@pytest.fixture
def network(tmp_path: Path) -> nx.DiGraph:
    store = two_communities().store(tmp_path)
    try:
        return partner_network(store, NOON, Policy())
    finally:
        store.close()


def test_nodes_edges_and_counts(network: nx.DiGraph) -> None:
    assert {n: d["kind"] for n, d in network.nodes(data=True)} == KINDS
    assert sorted((a, b, d["kind"]) for a, b, d in network.edges(data=True)) == [
        ("lincoln", "eastside", "LOCATED_IN"),
        ("prg-tutor", "eastside", "SERVES_AREA"),
        ("ptn-hope", "prg-tutor", "OFFERS"),
        ("roosevelt", "westside", "LOCATED_IN"),
    ]
    assert network.nodes["lincoln"]["students"] == 31 and network.nodes["eastside"]["students"] == 31
    assert network.nodes["westside"]["students"] == 12 and network.nodes["prg-tutor"]["students"] == 21
    assert network.edges["prg-tutor", "eastside"]["students"] == 16


def test_small_counts_are_suppressed(tmp_path: Path) -> None:
    store = two_communities().store(tmp_path)
    try:
        G = partner_network(store, NOON, Policy(suppression_k=13))
    finally:
        store.close()
    assert G.nodes["westside"]["students"] == SUPPRESSED and G.nodes["westside"]["students_suppressed"] == 1
    assert G.nodes["roosevelt"]["students_display"] == "*"  # community = its only school: hidden too
    assert G.nodes["lincoln"]["students"] == 31


def test_attributes_are_sanitised(network: nx.DiGraph) -> None:
    for _, d in [*network.nodes(data=True), *((None, d) for *_, d in network.edges(data=True))]:
        assert all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in d.values())
    assert all(isinstance(v, str | int | float) for v in network.graph.values())


def _read(fmt: ExportFormat, path: Path) -> nx.DiGraph:
    if fmt == "graphml":
        return nx.read_graphml(path)
    if fmt == "gexf":
        return nx.read_gexf(path)
    if fmt == "node-link":
        return nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="edges")
    G = nx.DiGraph()
    with (path / "nodes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            G.add_node(row.pop("id"), **row)
    with (path / "edges.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            G.add_edge(row.pop("source"), row.pop("target"), **row)
    return G


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_export_reads_back(network: nx.DiGraph, tmp_path: Path, fmt: ExportFormat) -> None:
    out = tmp_path / f"net.{fmt}"
    write_network(network, fmt, out)
    back = _read(fmt, out)
    assert back.is_directed()
    assert back.number_of_nodes() == 6 and back.number_of_edges() == 4
    assert {str(n) for n in back.nodes} == set(KINDS)
    assert {n: d["kind"] for n, d in back.nodes(data=True)} == KINDS
    assert int(back.nodes["lincoln"]["students"]) == 31
    assert str(back.nodes["lincoln"]["label"]) == "Lincoln Elementary"
    assert int(back.edges["prg-tutor", "eastside"]["students"]) == 16
    assert back.edges["ptn-hope", "prg-tutor"]["kind"] == "OFFERS"
