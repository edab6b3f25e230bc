"""Coverage outputs an analyst reuses: tidy CSV and JSON, xlsx, terminal tables, the CLI against a server.

On a generated partnership (1,500 students) and on `two_communities`: pandas reads every
CSV with numeric dtypes; the xlsx opens with openpyxl and every sheet matches the CSV; the
JSON rebuilds the report exactly; terminal output at 100 columns has no wider line;
``--url`` reads a running server's cache and prints what a local run prints.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.config import ApiSettings
from api.tokens import TokenStore
from graph.analytics.cache import cache_for
from graph.analytics.compare import CoverageComparison, compare
from graph.analytics.coverage import CoverageReport, GroupBy, coverage
from graph.analytics.tidy import COLUMNS, COMPARISON_COLUMNS, from_json, tidy
from graph.analytics.xlsx import MARK, sheet_title, to_xlsx
from graph.policy import Policy
from graph.stores.memory import MemoryStore
from loaders.bundle import read
from loaders.importer import import_result
from loaders.synthetic import DEFAULT_NOW, DEFAULT_START, generate
from tests.analytics.outputs import csv_figures, json_figures, object_figures, same, xlsx_long_figures
from tests.analytics.worlds import NOON, two_communities
from tests.api.conftest import Server

runner = CliRunner()
EARLIER = DEFAULT_NOW - timedelta(days=90)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, MemoryStore]]:
    root = tmp_path_factory.mktemp("outputs")
    generate(root / "bundle", students=1500, seed=11)
    store = MemoryStore(root / "store.db")
    import_result(store, read([root / "bundle"], default_valid_from=DEFAULT_START))
    try:
        yield root / "store.db", store
    finally:
        store.close()


@pytest.fixture(scope="module")
def results(generated: tuple[Path, MemoryStore]) -> dict[str, CoverageReport | CoverageComparison]:
    _, store = generated
    out: dict[str, CoverageReport | CoverageComparison] = {str(by): coverage(store, DEFAULT_NOW, by, Policy()) for by in GroupBy}
    out["compare-school"] = compare(store, DEFAULT_NOW, EARLIER, GroupBy.SCHOOL, Policy())
    out["compare-program"] = compare(store, DEFAULT_NOW, EARLIER, GroupBy.PROGRAM, Policy())
    return out


NAMES = [*(str(b) for b in GroupBy), "compare-school", "compare-program"]


@pytest.mark.parametrize("name", NAMES)
def test_pandas_reads_every_csv_with_numeric_dtypes(results: dict[str, CoverageReport | CoverageComparison], name: str) -> None:
    result = results[name]
    frame = pd.read_csv(io.StringIO(tidy(result).to_csv()))
    assert list(frame.columns) == list(COMPARISON_COLUMNS if isinstance(result, CoverageComparison) else COLUMNS)
    assert pd.api.types.is_numeric_dtype(frame["value"])
    assert frame["suppressed"].dtype == bool and frame["is_total"].dtype == bool
    assert frame["suppressed"].any() and not frame["suppressed"].all()
    assert frame.loc[frame["suppressed"], "value"].isna().all(), "a suppressed figure has no value"
    assert set(frame["kind"]) == {"count", "percent"}
    assert set(frame["row_kind"]) <= {"group", "no_group", "total"}
    assert (frame["is_total"] == (frame["row_kind"] == "total")).all()
    groups = frame[(frame["row_kind"] == "group") & (frame["table"] == "students") & (frame["measure"] == "students")]
    totals = frame[frame["is_total"] & (frame["table"] == "students") & (frame["measure"] == "students")]
    assert len(totals) == (3 if isinstance(result, CoverageComparison) else 1)
    assert len(groups) > 1
    if "program" in name:
        programs = frame[(frame["group_by"] == "program") & (frame["row_kind"] == "group")]
        assert programs["partner"].notna().all() and programs["partner_id"].notna().all()
    else:
        assert frame["partner"].isna().all()


@pytest.mark.parametrize("name", NAMES)
def test_every_format_carries_the_same_published_figures(results: dict[str, CoverageReport | CoverageComparison], name: str) -> None:
    result = results[name]
    data = tidy(result)
    expected = object_figures(result)
    assert same(csv_figures(data.to_csv()), expected)
    assert same(json_figures(json.dumps(data.to_json())), expected)
    assert same(xlsx_long_figures(to_xlsx(data)), expected)
    assert from_json(json.loads(json.dumps(data.to_json()))) == result


@pytest.mark.parametrize("name", ["school", "compare-school"])
def test_xlsx_sheets_match_the_csv(results: dict[str, CoverageReport | CoverageComparison], name: str) -> None:
    data = tidy(results[name])
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(data)))
    assert book.sheetnames == [*(sheet_title(t["name"]) for t in data.tables), "Long form", "Notes"]
    notes = " ".join(str(c.value) for row in book["Notes"].iter_rows() for c in row if c.value is not None)
    assert "suppressed" in notes and str(data.meta["k"]) in notes
    frame = pd.read_csv(io.StringIO(data.to_csv()), keep_default_na=False, dtype={"value": str, "group_id": str})
    checked = 0
    for meta in data.tables:
        ws = book[sheet_title(meta["name"])]
        rows = list(ws.iter_rows(values_only=True))
        head = list(rows[0])
        by_id = {r[0]: r for r in rows[1:]}
        titles = {c["name"]: c["title"] for c in meta["columns"]} | {q["name"]: q["title"] for q in meta["ratios"]}
        for rec in frame[frame["table"] == meta["name"]].itertuples():
            series = getattr(rec, "series", "")
            title = titles[rec.measure]
            column = [i for i, h in enumerate(head) if h == title or (series and str(h).startswith(f"{title} ({_word(series)}"))]
            assert len(column) == 1, (meta["name"], rec.measure, series)
            cell = by_id[rec.group_id][column[0]]
            if rec.suppressed:
                assert cell == MARK
            elif rec.value == "":
                assert cell is None
            elif rec.kind == "percent" and series != "change":
                assert round(float(cell) * 100, 6) == float(rec.value)
            else:
                assert float(cell) == float(rec.value)
            checked += 1
    assert checked == len(frame)


def _word(series: str) -> str:
    return {"before": "earlier", "after": "later", "change": "change"}[series]


@pytest.mark.parametrize("args", [["--by", "community"], ["--by", "school"], ["--by", "program"], ["--by", "partner"],
                                  ["--by", "school", "--compare", EARLIER.isoformat()]])
def test_terminal_output_fits_100_columns(generated: tuple[Path, MemoryStore], args: list[str]) -> None:
    db, _ = generated
    res = runner.invoke(app, ["coverage", "--db", str(db), "--at", DEFAULT_NOW.isoformat(), *args])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "Top 3 reasons" in res.stdout and "consent_missing" not in res.stdout  # plain words, not codes
    assert len(lines) > 40


def test_narrow_width_splits_tables(tmp_path: Path) -> None:
    two_communities().store(tmp_path).close()
    res = runner.invoke(app, ["coverage", "--db", str(tmp_path / "world.db"), "--at", NOON.isoformat(), "--width", "60"])
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.stdout.splitlines()) <= 60
    assert "Student coverage by community (2)" in res.stdout


def test_cli_formats_and_files(tmp_path: Path) -> None:
    two_communities().store(tmp_path).close()
    db = str(tmp_path / "world.db")
    res = runner.invoke(app, ["coverage", "--db", db, "--at", NOON.isoformat(), "--format", "xlsx"])
    assert res.exit_code == 2 and "--out" in res.stderr
    out = tmp_path / "c.xlsx"
    res = runner.invoke(app, ["coverage", "--db", db, "--at", NOON.isoformat(), "--format", "xlsx", "--out", str(out),
                              "--compare", (NOON + timedelta(days=8)).isoformat()])
    assert res.exit_code == 0, res.output
    assert openpyxl.load_workbook(out).sheetnames[0] == "Students"
    res = runner.invoke(app, ["coverage", "--db", db, "--at", NOON.isoformat(), "--compare", "yesterday"])
    assert res.exit_code == 2 and "--compare" in res.stderr
    # A bare date is a calendar day in the partnership's zone (docs/dates.md), so it is accepted.
    assert runner.invoke(app, ["coverage", "--db", db, "--at", NOON.isoformat(), "--compare", "2026-01-01"]).exit_code == 0


def test_cli_reads_a_running_servers_cache(tmp_path: Path) -> None:
    two_communities().store(tmp_path).close()
    db = tmp_path / "world.db"
    tokens = TokenStore(db)
    try:
        analyst = tokens.create(role="analyst", subject="a1")[1]
        provider = tokens.create(role="provider", subject="ana")[1]
    finally:
        tokens.close()
    local = runner.invoke(app, ["coverage", "--db", str(db), "--at", NOON.isoformat(), "--format", "csv"])
    with Server(ApiSettings(db=db)) as server:
        url = server.url
        remote = runner.invoke(
            app, ["coverage", "--url", server.url, "--at", NOON.isoformat(), "--format", "csv"], env={"NTK_TOKEN": analyst}
        )
        assert remote.exit_code == 0, remote.output
        assert remote.stdout == local.stdout
        again = runner.invoke(app, ["coverage", "--url", server.url, "--at", NOON.isoformat()], env={"NTK_TOKEN": analyst})
        assert again.exit_code == 0 and "Eastside" in again.stdout
        app_state = server.server.config.app  # the Starlette app
        store = app_state.state.ntk.engine.store  # type: ignore[attr-defined]
        assert cache_for(store, app_state.state.ntk.engine.policy).computed == 1  # type: ignore[attr-defined]
        refused = runner.invoke(app, ["coverage", "--url", server.url, "--at", NOON.isoformat()], env={"NTK_TOKEN": provider})
        assert refused.exit_code == 2 and "403" in refused.stderr
        missing = runner.invoke(app, ["coverage", "--url", server.url], env={"NTK_TOKEN": ""})
        assert missing.exit_code == 2 and "token" in missing.stderr
    gone = runner.invoke(app, ["coverage", "--url", url, "--at", NOON.isoformat()], env={"NTK_TOKEN": analyst})
    assert gone.exit_code == 2 and "could not read" in gone.stderr
