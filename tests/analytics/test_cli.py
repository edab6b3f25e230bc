"""`needtoknow coverage` and `needtoknow export` on a small journal."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
from typer.testing import CliRunner

from api.cli import app
from tests.analytics.worlds import two_communities

AT = "2026-01-15T19:00:00Z"
runner = CliRunner()


def _db(tmp_path: Path) -> Path:
    two_communities().store(tmp_path).close()
    return tmp_path / "world.db"


def test_coverage_json(tmp_path: Path) -> None:
    db = _db(tmp_path)
    res = runner.invoke(app, ["coverage", "--db", str(db), "--at", AT, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    recs = {(r["table"], r["group_id"], r["measure"]): r for r in data["records"]}
    assert recs[("students", "eastside", "students")]["value"] == 31
    assert recs[("students", "westside", "served")] | {"value": None, "suppressed": True} == recs[("students", "westside", "served")]
    assert ("students", "eastside", "unconsented") not in recs  # hidden columns never leave
    assert recs[("students", "(total)", "students")]["is_total"] is True
    assert (data["meta"]["k"], data["meta"]["k_inclusive"]) == (10, False)


def test_coverage_table_and_csv(tmp_path: Path) -> None:
    db = _db(tmp_path)
    res = runner.invoke(app, ["coverage", "--db", str(db), "--at", AT, "--by", "school"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "Lincoln Elementary" in res.stdout and "*" in res.stdout
    res = runner.invoke(app, ["coverage", "--db", str(db), "--at", AT, "--format", "csv", "--expiring-days", "7"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "at,group_by,table,group_id,group,partner_id,partner,row_kind,is_total,measure,measure_title,kind,value,suppressed"
    assert f"{AT},community,students,eastside,Eastside,,,group,false,students,Students,count,31,false" in lines
    assert f"{AT},community,students,westside,Westside,,,group,false,served,Actively served,count,,true" in lines


def test_coverage_rejects_bad_input(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert runner.invoke(app, ["coverage", "--db", str(db), "--at", "2026-01-15T19:00:00"]).exit_code == 2
    assert runner.invoke(app, ["coverage", "--db", str(db), "--by", "district"]).exit_code == 2


def test_export_graphml(tmp_path: Path) -> None:
    db = _db(tmp_path)
    out = tmp_path / "net.graphml"
    res = runner.invoke(app, ["export", "--db", str(db), "--at", AT, "--format", "graphml", "--out", str(out)])
    assert res.exit_code == 0, res.output
    G = nx.read_graphml(out)
    assert G.number_of_nodes() == 6 and G.number_of_edges() == 4
    res = runner.invoke(app, ["export", "--db", str(db), "--at", AT, "--format", "csv", "--out", str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "csv" / "nodes.csv").exists() and (tmp_path / "csv" / "edges.csv").exists()
