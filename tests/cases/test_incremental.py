"""Issue 11, incremental loads: OneRoster delta packages, tobedeleted rows, references into the
store, bulk reloads that end what they no longer send (docs/loaders/incremental.md).

    step1-bulk:  gdn-2001 -GUARDIAN_OF-> stu-1001, stu-1002;  gdn-2002 -GUARDIAN_OF-> stu-1001
    step2-delta: users.csv delta; gdn-2002 tobedeleted at 2025-10-01T12:00:00Z

The shared case (a byte-for-byte copy in oneroster-delta-tobedeleted/) through the real CLI
on SQLite, and through the load command on both stores.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import pytest

from graph.errors import LoadError
from graph.model import Edge, EdgeKind, Node, NodeKind
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.stores.neo4j import Neo4jStore
from loaders import edfi, hsds, oneroster, sds
from loaders.importer import ImportSummary, import_result

HERE = Path(__file__).parent
CASE = HERE / "oneroster-delta-tobedeleted" / "input"
EXE = str(Path(sys.executable).parent / "needtoknow")
DEPARTED = "guardian_of:oneroster:gdn-2002:stu-1001"
LEFT_AT = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
FIXTURES = HERE.parent / "fixtures"


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def events(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    s: GraphStore
    if request.param == "networkx":
        s = MemoryStore(tmp_path / "graph.db")
    else:
        uri: str = request.getfixturevalue("neo4j_uri")
        with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        s = Neo4jStore(uri)
    yield s
    s.close()


def snapshot(store: GraphStore) -> dict[str, Node | Edge]:
    """Every record by id (newest versions)."""
    out: dict[str, Node | Edge] = {n.id: n for kind in NodeKind for n in store.nodes(kind)}
    out |= {e.id: e for kind in EdgeKind for e in store.edges(kind)}
    return out


def load(store: GraphStore, path: Path, **kw: bool) -> ImportSummary:
    return import_result(store, oneroster.read([path]), **kw)


# ------------------------------------------------------------------ the shared case


def test_delta_tobedeleted_case_cli(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = ntk("load", "oneroster", str(CASE / "step1-bulk"), "--db", str(db))
    assert first.returncode == 0, first.stderr
    second = ntk("load", "oneroster", str(CASE / "step2-delta"), "--db", str(db))
    assert second.returncode == 0, second.stderr
    assert "ended 1" in second.stdout
    after = events(db)
    again = ntk("load", "oneroster", str(CASE / "step2-delta"), "--db", str(db))
    assert again.returncode == 0 and "ended 0" in again.stdout
    assert events(db) == after  # running step 2 again changes nothing


def test_delta_tobedeleted_case(store: GraphStore) -> None:
    load(store, CASE / "step1-bulk")
    before = snapshot(store)
    summary = load(store, CASE / "step2-delta")
    assert summary.ended == 1
    after = snapshot(store)
    departed, was = after.pop(DEPARTED), before.pop(DEPARTED)
    assert isinstance(departed, Edge) and isinstance(was, Edge)
    assert departed.valid_to == LEFT_AT  # ended at the row's dateLastModified
    assert departed.valid_from == was.valid_from  # history kept
    assert after == before  # nothing else changes (gdn-2001's links keep their start)
    token = store.token()
    assert load(store, CASE / "step2-delta").ended == 0
    assert snapshot(store) == {**after, DEPARTED: departed} and store.token() == token


def test_delta_reference_missing_from_the_store_is_refused(store: GraphStore, tmp_path: Path) -> None:
    delta = tmp_path / "delta"
    shutil.copytree(CASE / "step2-delta", delta)
    users = delta / "users.csv"
    users.write_text(users.read_text(encoding="utf-8").replace("false,gdn-2001,03", "false,gdn-9999,03").replace(
        ",,,gdn-2001,03", ",,,gdn-9999,03"), encoding="utf-8")
    load(store, CASE / "step1-bulk")
    token = store.token()
    with pytest.raises(LoadError) as refused:
        load(store, delta)
    [p] = refused.value.problems
    assert (p.file, p.line, p.field) == ("users.csv", 2, "agentSourcedIds")
    assert p.message == "'gdn-9999' is not in the package nor in the store; expected a guardian"
    assert store.token() == token


# ------------------------------------------------------------------ an active delta row is the user's full state


def _delta(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    """step2-delta with users.csv edited."""
    delta = tmp_path / "delta"
    shutil.copytree(CASE / "step2-delta", delta)
    users = delta / "users.csv"
    users.write_text(edit(users.read_text(encoding="utf-8")), encoding="utf-8")
    return delta


def test_active_delta_row_ends_the_guardian_links_it_no_longer_lists(store: GraphStore, tmp_path: Path) -> None:
    # No tobedeleted row: stu-1001's active row (modified 2025-10-01T12:00Z) lists gdn-2001 only.
    delta = _delta(tmp_path, lambda t: "".join(x for x in t.splitlines(keepends=True) if not x.startswith("gdn-2002")))
    load(store, CASE / "step1-bulk")
    before = snapshot(store)
    summary = load(store, delta)
    assert summary.ended == 1
    after = snapshot(store)
    departed, was = after.pop(DEPARTED), before.pop(DEPARTED)
    assert isinstance(departed, Edge) and isinstance(was, Edge)
    assert (departed.valid_from, departed.valid_to) == (was.valid_from, LEFT_AT)  # effective-dated, history kept
    assert after == before  # gdn-2002 stays a node; gdn-2001's links and the attendance are untouched
    assert load(store, delta).ended == 0  # running it again changes nothing


def test_delta_row_ends_its_own_attendance_not_an_enrolments(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "s.db")
    manifest = "propertyName,value\noneroster.version,1.1\nfile.orgs,{orgs}\nfile.users,{users}\nfile.enrollments,absent\n"
    bulk, delta = tmp_path / "bulk", tmp_path / "delta"
    bulk.mkdir(), delta.mkdir()
    (bulk / "manifest.csv").write_text(manifest.format(orgs="bulk", users="bulk"), encoding="utf-8")
    (bulk / "orgs.csv").write_text("sourcedId,name,type,parentSourcedId\nd-1,D,district,\nsch-1,A,school,\nsch-2,B,school,\n",
                                   encoding="utf-8")
    header = "sourcedId,status,dateLastModified,role,orgSourcedIds,agentSourcedIds\n"
    (bulk / "users.csv").write_text(header + "stu-1,active,2025-08-01T00:00:00Z,student,sch-1,g-1\n"
                                             "g-1,active,2025-08-01T00:00:00Z,parent,sch-1,stu-1\n", encoding="utf-8")
    (delta / "manifest.csv").write_text(manifest.format(orgs="absent", users="delta"), encoding="utf-8")
    (delta / "users.csv").write_text(header + "stu-1,active,2025-11-03T08:00:00Z,student,sch-2,g-1\n", encoding="utf-8")
    moved = datetime(2025, 11, 3, 8, tzinfo=UTC)
    import_result(s, oneroster.read([bulk]))
    summary = import_result(s, oneroster.read([delta]))
    assert summary.ended == 1
    old, new = s.edge("attends:stu-1:sch-1"), s.edge("attends:stu-1:sch-2")
    assert old is not None and new is not None
    assert (old.valid_to, new.valid_from, new.valid_to) == (moved, moved, None)
    link = s.edge("guardian_of:oneroster:g-1:stu-1")
    assert link is not None and link.valid_to is None  # still listed: kept, its start unchanged
    assert link.valid_from == datetime(2025, 8, 1, tzinfo=UTC)
    s.close()
    # An attendance an enrolment stated (source enrollments.csv) is not a users.csv row's to end.
    s = MemoryStore(tmp_path / "t.db")
    load(s, CASE / "step1-bulk")
    summary = load(s, _delta(tmp_path / "x", lambda t: t.replace("true,sch-910,student", "true,dist-900,student")))
    attends = s.edge("attends:stu-1001:sch-910")
    assert attends is not None and attends.valid_to is None
    s.close()


def test_delta_without_the_agent_column_ends_no_guardian_link(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "s.db")
    load(s, CASE / "step1-bulk")
    delta = tmp_path / "delta"
    delta.mkdir()
    shutil.copy(CASE / "step2-delta" / "manifest.csv", delta)
    (delta / "users.csv").write_text("sourcedId,status,dateLastModified,role,orgSourcedIds\n"
                                     "stu-1001,active,2025-10-01T12:00:00Z,student,sch-910\n", encoding="utf-8")
    assert load(s, delta).ended == 0  # the file does not carry guardians: it says nothing of them
    s.close()


def test_rows_read_counts_data_rows_not_the_manifest(tmp_path: Path) -> None:
    assert oneroster.read([CASE / "step2-delta"]).rows_read == 2  # two users.csv rows; 17 manifest rows not counted
    files = ("orgs.csv", "users.csv", "enrollments.csv", "demographics.csv")
    data_rows = sum(len((CASE / "step1-bulk" / f).read_text(encoding="utf-8").splitlines()) - 1 for f in files)
    assert oneroster.read([CASE / "step1-bulk"]).rows_read == data_rows


# ------------------------------------------------------------------ bulk reloads


def _bulk_without_link(tmp_path: Path) -> Path:
    """step1-bulk, with stu-1002 no longer linked to gdn-2001 (both rows say so)."""
    pkg = tmp_path / "bulk2"
    shutil.copytree(CASE / "step1-bulk", pkg)
    users = pkg / "users.csv"
    text = users.read_text(encoding="utf-8")
    text = text.replace(',,,gdn-2001,03,', ',,,,03,').replace('"stu-1001,stu-1002"', "stu-1001")
    users.write_text(text, encoding="utf-8")
    return pkg


def test_bulk_reload_that_would_end_a_large_share_is_refused(store: GraphStore, tmp_path: Path) -> None:
    load(store, CASE / "step1-bulk")
    before, token = snapshot(store), store.token()
    with pytest.raises(LoadError) as refused:
        load(store, _bulk_without_link(tmp_path))
    [p] = refused.value.problems
    assert p.file == "users.csv"
    assert "would end 1 of the 3 current relationships from oneroster:users.csv" in p.message
    assert "guardian_of:oneroster:gdn-2001:stu-1002" in p.message and "--allow-mass-end" in p.message
    assert snapshot(store) == before and store.token() == token  # the store is as it was


def test_bulk_reload_with_allow_mass_end_ends_what_it_omits(store: GraphStore, tmp_path: Path) -> None:
    load(store, CASE / "step1-bulk")
    start = datetime.now(UTC)
    summary = load(store, _bulk_without_link(tmp_path), allow_mass_end=True)
    assert summary.ended == 1
    gone = store.edge("guardian_of:oneroster:gdn-2001:stu-1002")
    assert gone is not None and gone.valid_to is not None and start <= gone.valid_to <= datetime.now(UTC)
    kept = store.edge("guardian_of:oneroster:gdn-2001:stu-1001")
    assert kept is not None and kept.valid_to is None


def test_relationship_back_after_an_end_is_a_new_period(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "g.db")
    load(s, CASE / "step1-bulk")
    load(s, CASE / "step2-delta")
    back = tmp_path / "back"
    shutil.copytree(CASE / "step2-delta", back)
    users = back / "users.csv"
    users.write_text(users.read_text(encoding="utf-8").replace("tobedeleted,2025-10-01T12", "active,2025-11-01T12"),
                     encoding="utf-8")
    load(s, back)
    old, new = s.edge(DEPARTED), s.edge(f"{DEPARTED}@2025-11-01T12:00:00Z")
    assert old is not None and old.valid_to == LEFT_AT  # the ended period stays ended
    assert new is not None and new.valid_from == datetime(2025, 11, 1, 12, tzinfo=UTC) and new.valid_to is None
    s.close()


# ------------------------------------------------------------------ other formats: references into the store


def test_edfi_single_file_resolves_against_the_store(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "e.db")
    samples = FIXTURES / "edfi-grandbend" / "Samples" / "Sample XML"
    first = [samples / f"{n}.xml" for n in ("EducationOrganization", "Student", "Contact")]
    import_result(s, edfi.read(first, default_valid_from=datetime(2021, 8, 1, tzinfo=UTC)))
    enrol = tmp_path / "StudentEnrollment.xml"  # one interchange file naming a student and a school loaded before
    enrol.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<InterchangeStudentEnrollment xmlns="http://ed-fi.org/5.2.0">\n'
        "<StudentSchoolAssociation><StudentReference><StudentIdentity><StudentUniqueId>604821</StudentUniqueId>"
        "</StudentIdentity></StudentReference><SchoolReference><SchoolIdentity><SchoolId>255901044</SchoolId>"
        "</SchoolIdentity></SchoolReference><EntryDate>2022-01-10</EntryDate>"
        "<EntryGradeLevel>uri://ed-fi.org/GradeLevelDescriptor#Sixth grade</EntryGradeLevel>"
        "</StudentSchoolAssociation>\n</InterchangeStudentEnrollment>\n",
        encoding="utf-8",
    )
    result = edfi.read([enrol])
    assert result.problems == []
    summary = import_result(s, result)
    assert summary.created == 1
    edge = s.edge("attends:604821:255901044:2022-01-10")
    assert edge is not None and edge.to_id == "255901044"
    s.close()


def test_sds_users_and_roles_resolve_against_the_store(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "s.db")
    full = FIXTURES / "msft-sds-v2p1"
    import_result(s, sds.read([full], default_valid_from=datetime(2024, 8, 1, tzinfo=UTC)))
    school = next(iter(s.nodes(NodeKind.SCHOOL))).id
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "users.csv").write_text("sourcedId,username\nstu-new-1,x\n", encoding="utf-8")
    (inc / "roles.csv").write_text(f"userSourcedId,orgSourcedId,role,roleStartDate\nstu-new-1,{school},student,2024-09-03\n",
                                   encoding="utf-8")
    summary = import_result(s, sds.read([inc]))
    assert summary.created == 2  # the student and their attendance at a school loaded before
    edge = next(e for e in s.edges(EdgeKind.ATTENDS) if e.from_id == "stu-new-1")
    assert edge.to_id == school
    s.close()


# ------------------------------------------------------------------ --map: source ids onto ours


def test_map_renames_source_ids_in_bulk_and_delta(tmp_path: Path) -> None:
    db, mapping = tmp_path / "m.db", tmp_path / "ids.csv"
    mapping.write_text("kind,source,target\nid,stu-1001,student-a\nid,gdn-2002,guardian-b\nid,nobody,x\n", encoding="utf-8")
    first = ntk("load", "oneroster", str(CASE / "step1-bulk"), "--db", str(db), "--map", str(mapping))
    assert first.returncode == 0, first.stderr
    assert "1 id mapping(s) matched nothing read: nobody" in first.stdout
    second = ntk("load", "oneroster", str(CASE / "step2-delta"), "--db", str(db), "--map", str(mapping))
    assert second.returncode == 0 and "ended 1" in second.stdout, second.stderr
    s = MemoryStore(db)
    try:
        assert s.node("stu-1001") is None and s.node("student-a") is not None
        ended = s.edge("guardian_of:oneroster:guardian-b:student-a")
        assert ended is not None and (ended.from_id, ended.to_id, ended.valid_to) == ("guardian-b", "student-a", LEFT_AT)
    finally:
        s.close()


def test_map_code_rows_are_refused_for_a_roster(tmp_path: Path) -> None:
    mapping = tmp_path / "codes.csv"
    mapping.write_text("kind,source,target\npurpose,x|y,academic_support\n", encoding="utf-8")
    out = ntk("load", "oneroster", str(CASE / "step1-bulk"), "--db", str(tmp_path / "x.db"), "--map", str(mapping))
    assert out.returncode == 2 and "oneroster reads no purpose or category codes: only id rows apply" in out.stderr


# ------------------------------------------------------------------ HSDS: references into the store


def _hsds(d: Path, **tables: str) -> Path:
    d.mkdir()
    for name, text in tables.items():
        (d / f"{name}.csv").write_text(text, encoding="utf-8")
    return d


def test_hsds_files_resolve_against_the_store(store: GraphStore, tmp_path: Path) -> None:
    t0 = datetime(2025, 8, 15, tzinfo=UTC)
    full = _hsds(tmp_path / "full", organizations="id,name\no1,Big Brothers\n",
                 services="id,organization_id,name,status\ns1,o1,Tutoring,active\n")
    import_result(store, hsds.read([full], default_valid_from=t0))
    more = _hsds(tmp_path / "more", services="id,organization_id,name,status\ns2,o1,Mentoring,active\n",
                 service_areas="id,service_id,name,extent\na1,s1,Eastside,\na2,s2,Westside,\n")
    summary = import_result(store, hsds.read([more], default_valid_from=t0))
    assert summary.created == 6  # Mentoring, its OFFERS, two communities, two SERVES_AREA
    offers = store.edge("offers:hsds-org:o1:hsds-svc:s2")
    assert offers is not None and offers.from_id == "hsds-org:o1"
    assert {e.to_id for e in store.edges(EdgeKind.SERVES_AREA)} == {"community:eastside", "community:westside"}


def test_hsds_reference_the_store_lacks_is_refused(store: GraphStore, tmp_path: Path) -> None:
    t0 = datetime(2025, 8, 15, tzinfo=UTC)
    import_result(store, hsds.read([_hsds(tmp_path / "full", organizations="id,name\no1,Big Brothers\n")], default_valid_from=t0))
    token = store.token()
    bad = _hsds(tmp_path / "bad", service_areas="id,service_id,name,extent\na1,s9,Eastside,\na2,o1,Westside,\n")
    with pytest.raises(LoadError) as err:
        import_result(store, hsds.read([bad], default_valid_from=t0))
    assert [str(p) for p in err.value.problems] == [
        "service_areas.csv:2 [service_id]: 'hsds-svc:s9' is not in the package nor in the store; expected a service (a Program)",
        "service_areas.csv:3 [service_id]: 'hsds-svc:o1' is not in the package nor in the store; expected a service (a Program)",
    ]
    assert store.token() == token  # nothing written
