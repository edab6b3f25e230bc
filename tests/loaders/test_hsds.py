"""loaders.hsds against the HSDS 3.0 official examples and the Ohana San Mateo extract."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.model import EdgeKind, NodeKind, record_to_dict
from loaders import hsds
from loaders.base import LoadResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OHANA = FIXTURES / "hsds-ohana-sanmateo"
V3 = FIXTURES / "hsds-v3-examples"
V3_CSV = V3 / "examples" / "csv"
T0 = datetime(2024, 9, 1, tzinfo=UTC)

ORG = "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"
SVC = "ac148810-d857-441c-9679-408f346de14b"
AREA_NAME = (
    "The service is available to all residents of the MyCity area. We provide the service in our offices or via "
    "video conferencing to any who can provide evidence of their residency."
)


def load(*paths: Path, **kw: object) -> LoadResult:
    return hsds.read(list(paths), default_valid_from=T0, **kw)  # type: ignore[arg-type]


def names(result: LoadResult, kind: NodeKind) -> dict[str, str]:
    return {n.id: getattr(n, "name", "") for n in result.nodes if n.kind == kind}


def targets(result: LoadResult, kind: EdgeKind, from_id: str) -> set[str]:
    return {e.to_id for e in result.edges if e.kind == kind and e.from_id == from_id}


# ---------------------------------------------------------------------------- Ohana


def test_ohana_counts() -> None:
    r = load(OHANA)
    assert r.ok, r.problems
    assert r.counts() == {"Community": 8, "OFFERS": 23, "Partner": 8, "Program": 23, "SERVES_AREA": 32}
    assert hsds.detect_layout([OHANA]) == "ohana"


def test_ohana_named_records() -> None:
    r = load(OHANA)
    partners = names(r, NodeKind.PARTNER)
    assert partners["hsds-org:2"] == "Peninsula Volunteers"
    assert names(r, NodeKind.PROGRAM)["hsds-svc:7"] == "Rosener House Adult Day Services"
    # service 7 is at location 7, which belongs to organization 2
    assert {e.from_id for e in r.edges if e.kind == EdgeKind.OFFERS and e.to_id == "hsds-svc:7"} == {"hsds-org:2"}
    rosener = targets(r, EdgeKind.SERVES_AREA, "hsds-svc:7")
    assert rosener == {"community:belmont", "community:burlingame", "community:east-palo-alto"}
    assert targets(r, EdgeKind.OFFERS, "hsds-org:1") == {f"hsds-svc:{i}" for i in range(1, 6)}
    assert names(r, NodeKind.COMMUNITY) == {
        "community:colma": "Colma",
        "community:san-mateo-county": "San Mateo County",
        "community:belmont": "Belmont",
        "community:burlingame": "Burlingame",
        "community:east-palo-alto": "East Palo Alto",
        "community:daly-city": "Daly City",
        "community:alameda-county": "Alameda County",
        "community:south-san-francisco": "South San Francisco",
    }
    # service 16 (Sunnyvale Corps) has an empty service_areas: no coverage
    assert targets(r, EdgeKind.SERVES_AREA, "hsds-svc:16") == set()


def test_ohana_warnings_and_programs_not_mapped() -> None:
    r = load(OHANA)
    status = [(w.file, w.line) for w in r.warnings if w.field == "status"]
    assert status == [("services.csv", 21), ("services.csv", 22)]  # defunct, inactive
    assert any(w.file == "programs.csv" and "1 program row" in w.message for w in r.warnings)
    assert any(w.file == "phones.csv" for w in r.warnings)
    assert not any(n.id.startswith("hsds-program") for n in r.nodes)


def test_edges_are_dated_sourced_and_deterministic() -> None:
    a, b = load(OHANA), load(OHANA)
    assert [record_to_dict(x) for x in a.nodes] == [record_to_dict(x) for x in b.nodes]
    assert [record_to_dict(x) for x in a.edges] == [record_to_dict(x) for x in b.edges]
    ids = [e.id for e in a.edges]
    assert len(ids) == len(set(ids))
    edge = next(e for e in a.edges if e.id == "offers:hsds-org:2:hsds-svc:7")
    assert edge.valid_from == T0 and edge.valid_to is None and edge.source == "hsds:services.csv"
    assert "serves_area:hsds-svc:7:community:belmont" in ids


def test_nothing_but_ids_and_names_is_held() -> None:
    r = load(OHANA)
    for n in r.nodes:
        assert set(record_to_dict(n)) == {"id", "name"}


# ---------------------------------------------------------------------------- HSDS 3.0


def test_v3_csv_package() -> None:
    r = load(V3_CSV, V3 / "datapackage.json")
    assert r.ok, r.problems
    assert r.counts() == {"Community": 1, "OFFERS": 1, "Partner": 1, "Program": 1, "SERVES_AREA": 1}
    assert names(r, NodeKind.PARTNER) == {f"hsds-org:{ORG}": "Example Organization Inc."}
    assert names(r, NodeKind.PROGRAM) == {f"hsds-svc:{SVC}": "Community Counselling"}
    community = hsds.community_id(AREA_NAME)
    assert community == "community:the-service-is-available-to-all-residents-of-the-mycity-area-we-provide-the-serv"
    assert names(r, NodeKind.COMMUNITY) == {community: AREA_NAME}
    assert targets(r, EdgeKind.OFFERS, f"hsds-org:{ORG}") == {f"hsds-svc:{SVC}"}
    assert targets(r, EdgeKind.SERVES_AREA, f"hsds-svc:{SVC}") == {community}
    assert hsds.detect_layout([V3_CSV]) == "3.0"


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param([V3 / "examples"], id="all-json-payloads"),
        pytest.param([V3 / "examples" / "service_full.json"], id="service_full"),
        pytest.param([V3 / "examples" / "organization_full.json"], id="organization_full"),
        pytest.param([V3 / "examples" / "service_at_location_full.json"], id="service_at_location_full"),
        pytest.param([V3 / "examples" / "tabular.json"], id="tabular"),
    ],
)
def test_v3_json_payloads(paths: list[Path]) -> None:
    r = load(*paths)
    assert r.ok, r.problems
    assert r.counts() == {"Community": 1, "OFFERS": 1, "Partner": 1, "Program": 1, "SERVES_AREA": 1}
    assert targets(r, EdgeKind.SERVES_AREA, f"hsds-svc:{SVC}") == {hsds.community_id(AREA_NAME)}


def test_v3_list_payloads_without_areas() -> None:
    r = load(V3 / "examples" / "service_list.json", V3 / "examples" / "organization_list.json")
    assert r.ok, r.problems
    assert r.counts() == {"OFFERS": 1, "Partner": 1, "Program": 1}


def test_required_columns_match_the_datapackage() -> None:
    doc = json.loads((V3 / "datapackage.json").read_text(encoding="utf-8"))
    by_path = {res["path"]: res["schema"]["fields"] for res in doc["resources"]}
    for table, columns in hsds.REQUIRED_V3.items():
        fields = {f["name"]: f.get("constraints", {}).get("required", False) for f in by_path[table]}
        assert columns <= fields.keys(), table
        # every schema-required column we use is required by us too
        assert {c for c in ("id", "name", "organization_id") if fields.get(c)} <= columns, table


# ---------------------------------------------------------------------------- bad input

ORG_HEADER = "id,name,description\r\n"


def v3_package(tmp_path: Path, orgs: bytes, services: bytes | None = None, areas: bytes | None = None) -> Path:
    (tmp_path / "organizations.csv").write_bytes(orgs)
    (tmp_path / "services.csv").write_bytes(services or b"id,organization_id,name,status\r\ns1,o1,Tutoring,active\r\n")
    (tmp_path / "service_areas.csv").write_bytes(areas or b"id,service_id,name,extent\r\na1,s1,Eastside,\r\n")
    return tmp_path


def test_bom_and_crlf_load_fine(tmp_path: Path) -> None:
    d = v3_package(tmp_path, b"\xef\xbb\xbf" + (ORG_HEADER + "o1,Big Brothers,x\r\n").encode())
    r = load(d)
    assert r.ok, r.problems
    assert names(r, NodeKind.PARTNER) == {"hsds-org:o1": "Big Brothers"}
    assert targets(r, EdgeKind.SERVES_AREA, "hsds-svc:s1") == {"community:eastside"}


@pytest.mark.parametrize(
    ("orgs", "services", "file", "line", "field", "words"),
    [
        pytest.param(b"id,title\r\no1,X\r\n", None, "organizations.csv", 1, "name", "missing required column", id="wrong-header"),
        pytest.param(ORG_HEADER.encode() + b"o1,Caf\xe9 Org,x\r\n", None, "organizations.csv", 2, "name", "not UTF-8",
                     id="latin-1"),
        pytest.param(ORG_HEADER.encode() + b'o1,"Cut off', None, "organizations.csv", 2, None, "truncated", id="truncated"),
        pytest.param(ORG_HEADER.encode() + b"o1,Short\r\n", None, "organizations.csv", 2, None, "fields", id="short-row"),
        pytest.param(ORG_HEADER.encode() + b",Nameless,x\r\n", None, "organizations.csv", 2, "id", "empty", id="empty-id"),
        pytest.param(ORG_HEADER.encode() + b"o1,A,x\r\n", b"id,name\r\ns1,T\r\n",
                     "services.csv", 1, "organization_id", "missing required column", id="missing-column"),
    ],
)
def test_bad_input_is_a_problem(
    tmp_path: Path, orgs: bytes, services: bytes | None, file: str, line: int, field: str | None, words: str
) -> None:
    r = load(v3_package(tmp_path, orgs, services), layout="3.0")
    match = [p for p in r.problems if p.file == file]
    assert match, r.problems
    assert (match[0].line, match[0].field) == (line, field)
    assert words in match[0].message


def test_a_bad_row_does_not_abort_the_file(tmp_path: Path) -> None:
    orgs = ORG_HEADER.encode() + b"o0,Caf\xe9,x\r\no1,Good Org,x\r\n"
    r = load(v3_package(tmp_path, orgs))
    assert [(p.file, p.line) for p in r.problems] == [("organizations.csv", 2)]
    assert names(r, NodeKind.PARTNER) == {"hsds-org:o1": "Good Org"}
    assert targets(r, EdgeKind.OFFERS, "hsds-org:o1") == {"hsds-svc:s1"}


def test_missing_file_and_unknown_layout(tmp_path: Path) -> None:
    r = load(tmp_path / "organizations.csv", tmp_path / "services.csv", layout="3.0")
    assert {p.file for p in r.problems} == {"organizations.csv", "services.csv"}
    (tmp_path / "services.csv").write_text("id,name\n1,X\n", encoding="utf-8")
    r = load(tmp_path / "services.csv")
    assert [(p.file, p.line) for p in r.problems] == [("services.csv", 1)]
    assert "neither organization_id nor location_id (header: id, name)" in r.problems[0].message
    assert "--map FILE" in r.problems[0].message and "layout=" not in r.problems[0].message


def test_truncated_json_is_a_problem(tmp_path: Path) -> None:
    text = (V3 / "examples" / "service_full.json").read_text(encoding="utf-8")
    (tmp_path / "service_full.json").write_text(text[:500], encoding="utf-8")
    r = load(tmp_path / "service_full.json")
    assert len(r.problems) == 1 and r.problems[0].line is not None and "not JSON" in r.problems[0].message


def test_ohana_service_at_unknown_location(tmp_path: Path) -> None:
    for name in ("organizations.csv", "locations.csv"):
        shutil.copy(OHANA / name, tmp_path / name)
    (tmp_path / "services.csv").write_text(
        "id,location_id,name,service_areas,status\n1,1,Known,Colma,active\n2,99,Lost,Colma,active\n", encoding="utf-8"
    )
    r = load(tmp_path)
    assert [(p.file, p.line, p.field) for p in r.problems] == [("services.csv", 3, "location_id")]
    assert names(r, NodeKind.PROGRAM) == {"hsds-svc:1": "Known"}


def test_slug_is_deterministic_for_any_text() -> None:
    assert hsds.slug("  São  Mateo / County ") == "sao-mateo-county"
    assert hsds.slug("東京").startswith("h-") and hsds.slug("東京") == hsds.slug("東京")
    assert len(hsds.slug("x" * 500)) == 80


# ---------------------------------------------------------------------------- HSDS 1.x

V1 = FIXTURES / "hsds-v1-sample"


def _v1_records(r: LoadResult) -> tuple[dict[str, str], dict[str, str], set[tuple[str, str, str]]]:
    return names(r, NodeKind.PARTNER), names(r, NodeKind.PROGRAM), {(str(e.kind), e.from_id, e.to_id) for e in r.edges}


def test_v1_package_reads_service_areas_and_says_which_version() -> None:
    r = load(V1)
    assert r.ok, r.problems
    assert hsds.detect_layout([V1]) == "1.x"
    assert r.warnings[0].message == "read as HSDS 1.x (datapackage.json version 1.1)"
    partners, programs, edges = _v1_records(r)
    assert partners == {"hsds-org:org-1": "Eastside Family Center", "hsds-org:org-2": "Westside Youth Club"}
    assert set(programs) == {"hsds-svc:svc-1", "hsds-svc:svc-2", "hsds-svc:svc-3"}
    assert {(f, t) for k, f, t in edges if k == "SERVES_AREA"} == {
        ("hsds-svc:svc-1", "community:eastside"), ("hsds-svc:svc-1", "community:northside"),
        ("hsds-svc:svc-2", "community:eastside"), ("hsds-svc:svc-3", "community:west-denver"),
    }  # fmt: skip
    assert ("OFFERS", "hsds-org:org-2", "hsds-svc:svc-3") in edges
    messages = [w.message for w in r.warnings]
    assert "1 program row(s) only group services: not mapped" in messages
    assert "2 location row(s) read: places are never held" in messages
    assert any("'inactive'" in m for m in messages)


def test_v1_without_datapackage_is_told_by_the_service_area_column(tmp_path: Path) -> None:
    pkg = tmp_path / "v1"
    shutil.copytree(V1, pkg)
    (pkg / "datapackage.json").unlink()
    r = load(pkg)
    assert r.ok, r.problems
    assert r.warnings[0].message == "read as HSDS 1.x (no datapackage.json: told by the tables' columns)"
    assert _v1_records(r) == _v1_records(load(V1))  # the same records: service areas are not lost


def test_v1_location_of_an_organization_not_read_is_resolved_against_the_store(tmp_path: Path) -> None:
    pkg = tmp_path / "v1"
    shutil.copytree(V1, pkg)
    with (pkg / "locations.csv").open("a", encoding="utf-8") as f:
        f.write("loc-3,org-9,Annex,,,,,\n")
    r = load(pkg)
    assert r.ok, r.problems
    assert [(s.node_id, s.file, s.line, s.field) for s in r.store_refs] == [("hsds-org:org-9", "locations.csv", 4, "organization_id")]


def test_references_not_in_the_files_are_left_to_the_store(tmp_path: Path) -> None:
    services = b"id,organization_id,name,status\r\ns1,o9,T,active\r\n"
    r = load(v3_package(tmp_path, ORG_HEADER.encode() + b"o1,A,x\r\n", services,
                        b"id,service_id,name,extent\r\na1,s1,Eastside,\r\na2,s7,Westside,\r\n"), layout="3.0")
    assert r.ok, r.problems
    assert [(s.node_id, s.file, s.line, s.field, s.kinds) for s in r.store_refs] == [
        ("hsds-org:o9", "services.csv", 2, "organization_id", frozenset({NodeKind.PARTNER})),
        ("hsds-svc:s7", "service_areas.csv", 3, "service_id", frozenset({NodeKind.PROGRAM})),
    ]
    assert targets(r, EdgeKind.OFFERS, "hsds-org:o9") == {"hsds-svc:s1"}
    assert targets(r, EdgeKind.SERVES_AREA, "hsds-svc:s7") == {"community:westside"}


@pytest.mark.parametrize(("version", "shown"), [("2.0.1", "version 2.0.1"), ("", "no version")])
def test_a_version_not_read_is_refused_naming_it(tmp_path: Path, version: str, shown: str) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(V1, pkg)
    doc = {"name": "human_services_data", "resources": []} | ({"version": version} if version else {})
    (pkg / "datapackage.json").write_text(json.dumps(doc), encoding="utf-8")
    r = load(pkg, layout="1.x")
    (problem,) = r.problems
    assert (problem.file, problem.field) == ("datapackage.json", "version")
    assert f"HSDS data package with {shown} is not read; versions read: HSDS 1.x (1.0-1.2) and 3.x" in problem.message


def test_a_211_export_is_refused_naming_map(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "resources.csv").write_text("AgencyName,SiteName,ServiceName,ServiceArea\nA,B,C,Eastside\n", encoding="utf-8")
    r = load(export)
    (problem,) = r.problems
    assert problem.file == "resources.csv" and not r.nodes
    assert "not HSDS: found resources.csv" in problem.message and "--map FILE" in problem.message
