"""The GEXF export, checked against the GEXF 1.2 structure with lxml.

No pip or npm package ships the GEXF XSD (gexf.net's gexf.xsd, viz.xsd, data.xsd), so this
test validates structurally what those schemas say for the parts we write: the root element
and namespaces, ``graph`` with ``defaultedgetype``, ``attributes`` declarations (id, title,
a GEXF type), every ``attvalue`` naming a declared attribute with a value of its type,
unique node ids, edges between existing nodes with a numeric ``weight``, and ``viz:size`` /
``viz:color`` within their ranges. Then the issue's rules: no suppressed count is written
(no ``-1``, no value at all), every written count is 0 or at least k, every published edge
carries its count as weight, and size and colour depend on the kind only.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from lxml import etree

from graph.analytics.network import GEXF_STYLE, partner_network, write_network
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from loaders.bundle import read
from loaders.importer import import_result
from loaders.synthetic import DEFAULT_NOW, DEFAULT_START, generate

NS = "http://www.gexf.net/1.2draft"
VIZ = "http://www.gexf.net/1.2draft/viz"
TYPES = {"integer": int, "long": int, "double": float, "float": float, "boolean": lambda v: {"true": True, "false": False}[v],
         "string": str}


def q(tag: str, ns: str = NS) -> str:
    return f"{{{ns}}}{tag}"


def network(tmp_path: Path) -> nx.DiGraph:
    generate(tmp_path / "b", students=1500, seed=5)
    store = MemoryStore(tmp_path / "s.db")
    try:
        import_result(store, read([tmp_path / "b"], default_valid_from=DEFAULT_START))
        return partner_network(store, DEFAULT_NOW, Policy())
    finally:
        store.close()


def test_gexf_is_valid_1_2_without_suppressed_counts(tmp_path: Path) -> None:
    G = network(tmp_path)
    assert any(d["students_suppressed"] for _, d in G.nodes(data=True)), "the world has suppressed counts"
    out = tmp_path / "net.gexf"
    write_network(G, "gexf", out)
    root = etree.parse(str(out)).getroot()

    assert root.tag == q("gexf") and root.get("version") == "1.2"
    graph = root.find(q("graph"))
    assert graph is not None and graph.get("defaultedgetype") == "directed"
    declared: dict[str, dict[str, tuple[str, str]]] = {}
    for block in graph.findall(q("attributes")):
        assert block.get("class") in ("node", "edge")
        for att in block.findall(q("attribute")):
            assert att.get("type") in TYPES and att.get("id") and att.get("title")
            declared.setdefault(block.get("class") or "", {})[att.get("id") or ""] = (att.get("title") or "", att.get("type") or "")

    def values(element: etree._Element, cls: str) -> dict[str, object]:
        out: dict[str, object] = {}
        block = element.find(q("attvalues"))
        for av in [] if block is None else block.findall(q("attvalue")):
            title, kind = declared[cls][av.get("for") or ""]
            out[title] = TYPES[kind](av.get("value") or "")
        return out

    ids = [n.get("id") for n in graph.iter(q("node"))]
    assert len(ids) == len(set(ids)) == G.number_of_nodes()
    k = Policy().suppression_k
    for node in graph.iter(q("node")):
        attrs = values(node, "node")
        if attrs["students_suppressed"]:
            assert "students" not in attrs and attrs["students_display"] == "*"
        else:
            assert attrs["students"] == 0 or attrs["students"] >= k  # type: ignore[operator]
        size = node.find(q("size", VIZ))
        colour = node.find(q("color", VIZ))
        assert size is not None and colour is not None
        expected_size, rgb = GEXF_STYLE[str(attrs["kind"])]
        assert float(size.get("value") or "") == expected_size
        assert tuple(int(colour.get(c) or "") for c in "rgb") == rgb and all(0 <= v <= 255 for v in rgb)
    weights = 0
    for edge in graph.iter(q("edge")):
        assert edge.get("source") in ids and edge.get("target") in ids
        attrs = values(edge, "edge")
        if attrs["students_suppressed"]:
            assert "students" not in attrs and edge.get("weight") is None
        else:
            assert float(edge.get("weight") or "") == attrs["students"]
            weights += 1
    assert weights > 0
    assert 'value="-1"' not in out.read_text(encoding="utf-8")

    back = nx.read_gexf(out)
    assert back.number_of_nodes() == G.number_of_nodes() and back.number_of_edges() == G.number_of_edges()
