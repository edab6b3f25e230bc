"""`--map` column rows (loaders.column_map): a source's own column names onto the format's (issue 11)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from graph.model import EdgeKind
from graph.stores.memory import MemoryStore
from loaders import hsds, oneroster
from loaders.column_map import ColumnMap, ColumnRename, check
from loaders.mapping import read_mappings

CASES = Path(__file__).resolve().parents[1] / "cases"
BULK = CASES / "oneroster-delta-tobedeleted" / "input" / "step1-bulk"
EXE = str(Path(sys.executable).parent / "needtoknow")


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def renamed_bulk(tmp_path: Path, old: str = "agentSourcedIds", new: str = "parentSourcedId") -> Path:
    """The shared bulk package, its users.csv exported with the SIS's own name for a column."""
    pkg = tmp_path / "bulk"
    shutil.copytree(BULK, pkg)
    users = pkg / "users.csv"
    head, rest = users.read_text(encoding="utf-8").split("\n", 1)
    users.write_text(head.replace(old, new) + "\n" + rest, encoding="utf-8")
    return pkg


def rename(file: str, source: str, target: str, line: int = 2) -> ColumnRename:
    return ColumnRename(file, source, target, "map.csv", line)


def test_cli_renamed_column_loads_the_links_it_carries(tmp_path: Path) -> None:
    pkg, mapping, db = renamed_bulk(tmp_path), tmp_path / "map.csv", tmp_path / "s.db"
    mapping.write_text("kind,source,target\ncolumn,users.csv:parentSourcedId,agentSourcedIds\n", encoding="utf-8")
    out = ntk("load", "oneroster", str(pkg), "--db", str(db), "--map", str(mapping))
    assert out.returncode == 0, out.stderr
    assert "GUARDIAN_OF: 3" in out.stdout and "unknown columns" not in out.stdout
    s = MemoryStore(db)
    try:
        assert {(e.from_id, e.to_id) for e in s.edges(EdgeKind.GUARDIAN_OF)} == {
            ("gdn-2001", "stu-1001"), ("gdn-2001", "stu-1002"), ("gdn-2002", "stu-1001")}
    finally:
        s.close()


def test_cli_bad_column_rows_are_refused_naming_the_entry(tmp_path: Path) -> None:
    mapping = tmp_path / "bad.csv"
    mapping.write_text("kind,source,target\ncolumn,users.csv:parentSourcedId,agentSourcedId\ncolumn,userz.csv:x,sourcedId\n",
                       encoding="utf-8")
    out = ntk("load", "oneroster", str(renamed_bulk(tmp_path)), "--db", str(tmp_path / "x.db"), "--map", str(mapping))
    assert out.returncode == 2
    err = " ".join(out.stderr.split())
    assert ("bad.csv:2 [target]: bad.csv:2 (column,users.csv:parentSourcedId,agentSourcedId): 'agentSourcedId' is not a "
            "column of oneroster users.csv (did you mean agentSourcedIds?") in err
    assert "bad.csv:3 [source]: bad.csv:3 (column,userz.csv:x,sourcedId): userz.csv is not a file oneroster reads" in err
    assert "Traceback" not in out.stderr


def test_mapping_file_column_rows(tmp_path: Path) -> None:
    mapping = tmp_path / "m.csv"
    mapping.write_text("kind,source,target\ncolumn,users.csv:parentSourcedId,agentSourcedIds\ncolumn,users.csv,agentSourcedIds\n"
                       "column,users.csv:parentSourcedId,givenName\nid,stu-1,student-a\n", encoding="utf-8")
    m = read_mappings([mapping])
    assert m.column == [ColumnRename("users.csv", "parentSourcedId", "agentSourcedIds", "m.csv", 2)] and m.id == {"stu-1": "student-a"}
    assert [(p.line, p.field) for p in m.problems] == [(3, "source"), (4, "target")]
    assert "must be <file>:<column>" in m.problems[0].message
    assert "mapped twice: to 'agentSourcedIds' (m.csv:2 (column,users.csv:parentSourcedId,agentSourcedIds))" in m.problems[1].message


def test_check_against_the_format() -> None:
    assert check("oneroster", [rename("users.csv", "parentSourcedId", "agentSourcedIds")]) == []
    assert check("sds", [rename("student.csv", "ID", "SIS ID")]) == []  # SDS v1 names match in any case
    two = check("hsds", [rename("services.csv", "org", "organization_id"), rename("services.csv", "org_id", "organization_id", 3)])
    assert [(p.line, p.field) for p in two] == [(3, "target")] and "already mapped from 'org' by map.csv:2" in two[0].message
    [edfi] = check("edfi", [rename("x.csv", "a", "b")])
    assert "edfi has no CSV columns to rename" in edfi.message and edfi.file == "map.csv"


def test_a_header_with_both_names_is_a_problem_and_unused_rows_a_warning(tmp_path: Path) -> None:
    pkg = renamed_bulk(tmp_path, "password", "parentSourcedId")  # users.csv has agentSourcedIds and parentSourcedId
    r = oneroster.read([pkg], column_map=ColumnMap([rename("users.csv", "parentSourcedId", "agentSourcedIds")]))
    clash = [p for p in r.problems if p.file == "users.csv" and p.line == 1]
    assert clash and "the header has both parentSourcedId and agentSourcedIds; map.csv:2" in clash[0].message
    cmap = ColumnMap([rename("users.csv", "nickname", "givenName", 5)])
    r = oneroster.read([BULK], column_map=cmap, default_valid_from=datetime(2025, 8, 1, tzinfo=UTC))
    assert r.ok, r.problems
    [unused] = cmap.unused()
    assert (unused.file, unused.line) == ("map.csv", 5) and "matched no column read" in unused.message


def test_hsds_directory_with_its_own_column_names(tmp_path: Path) -> None:
    (tmp_path / "organizations.csv").write_text("id,name\no1,Big Brothers\n", encoding="utf-8")
    (tmp_path / "services.csv").write_text("id,org_id,name\ns1,o1,Tutoring\n", encoding="utf-8")
    cmap = ColumnMap([rename("services.csv", "org_id", "organization_id")])
    r = hsds.read([tmp_path], default_valid_from=datetime(2025, 8, 1, tzinfo=UTC), column_map=cmap)
    assert r.ok, r.problems
    assert [(e.from_id, e.to_id) for e in r.edges if e.kind is EdgeKind.OFFERS] == [("hsds-org:o1", "hsds-svc:s1")]
    assert cmap.unused() == []
