"""No output of any format publishes a small count or a recoverable one: properties over random worlds.

Hypothesis builds partnerships (1-3 extra communities, 1-2 schools each, 0-25 students per
school with random consents, expiries, services and mid-period transfers) and a random
threshold k. For a report and for a comparison of two times, in every grouping:

- no published count is in 1..k-1 (1..k), and no published change is either (in absolute value);
- every published figure equals the exact one;
- no suppressed cell, no small hidden cell and no small change is determined by what is
  published (exact rational elimination, written independently of the modular one, over
  each table's identities and totals at both times and ``later = earlier + change``);
- CSV, JSON and the xlsx long-form sheet carry exactly the published figures, so the above
  holds for each format; terminal tables at 100 columns have no wider line.
"""

from __future__ import annotations

import io
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from api.cli.coverage_view import print_coverage
from graph.analytics.compare import compare
from graph.analytics.coverage import GroupBy, count_coverage, coverage
from graph.analytics.table import TOTAL_ID, CountTable, PublishedTable
from graph.analytics.tidy import tidy
from graph.analytics.xlsx import to_xlsx
from graph.model import Attends, Community, LocatedIn, School
from graph.policy import Policy
from tests.analytics.outputs import csv_figures, json_figures, object_figures, same, xlsx_long_figures
from tests.analytics.test_suppression import exact_determined
from tests.analytics.worlds import NOON, _serve, _student
from tests.world import World

LATER = NOON + timedelta(days=40)
MID = NOON + timedelta(days=20)

Cell = tuple[str, int, int]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    w = World.base()
    schools = ["lincoln"]
    for c in range(draw(st.integers(1, 3))):
        w = w.node(Community(id=f"c{c}", name=f"Community {c}"))
        for s in range(draw(st.integers(1, 2))):
            sid = f"s{c}{s}"
            schools.append(sid)
            w = w.node(School(id=sid, name=f"School {c}.{s} with a rather long name"))
            w = w.edge(LocatedIn(id=f"loc-{sid}", from_id=sid, to_id=f"c{c}", valid_from=NOON - timedelta(days=100)))
    n = 0
    for school in schools:
        for _ in range(draw(st.integers(0, 25))):
            stu = f"x{n}"
            n += 1
            w = _student(w, stu, school, consent=draw(st.booleans()))
            if f"c-{stu}" in w.nodes:
                end = draw(st.sampled_from([None, NOON + timedelta(days=10), LATER + timedelta(days=10)]))
                if end is not None:
                    w = w.change(f"c-{stu}", expires_at=end)
            if draw(st.booleans()):
                w = _serve(w, "ana", stu)
            if draw(st.integers(0, 4)) == 0:
                other = draw(st.sampled_from(schools))
                w = w.close(f"at-{stu}", MID)
                w = w.edge(Attends(id=f"at2-{stu}", from_id=stu, to_id=other, valid_from=MID))
    return w


policies = st.builds(Policy, suppression_k=st.sampled_from([3, 5, 10]), suppress_k_itself=st.booleans())


def small(v: int, policy: Policy) -> bool:
    v = abs(v)
    return 1 <= v < policy.suppression_k or (policy.suppress_k_itself and v == policy.suppression_k)


def exact_cells(t: CountTable) -> dict[tuple[int, int], int]:
    out = {(i, j): v for i, row in enumerate(t.values) for j, v in enumerate(row)}
    if t.totals is not None:
        out |= {(-1, j): v for j, v in enumerate(t.totals)}
    return out


def constraints(t: CountTable, side: str) -> list[tuple[Cell, tuple[Cell, ...]]]:
    """Each identity in each row (total row too) and each column's total, for one side."""
    col = {c.name: j for j, c in enumerate(t.columns)}
    rows = [*range(len(t.rows)), *([-1] if t.totals is not None else [])]
    out = [((side, r, col[i.total]), tuple((side, r, col[p]) for p in i.parts)) for i in t.identities for r in rows]
    if t.totals is not None:
        out += [((side, -1, j), tuple((side, r, j) for r in range(len(t.rows)))) for j in range(len(t.columns))]
    return out


def published_cells(pub: PublishedTable, exact: CountTable, side: str) -> dict[Cell, int | None]:
    """(side, row, column) -> published value (None: suppressed); hidden columns absent."""
    rows = {r.id: i for i, r in enumerate(exact.rows)} | {TOTAL_ID: -1}
    out: dict[Cell, int | None] = {}
    for row in pub.all_rows():
        for col, cell in zip(pub.columns, row.cells, strict=True):
            out[(side, rows[row.id], exact.column_index(col.name))] = cell.value
    return out


def check_tables(exact: list[tuple[str, CountTable]], published: list[tuple[str, PublishedTable]], policy: Policy) -> None:
    """The properties of the module docstring for one table published as `published` sides."""
    values: dict[Cell, int] = {}
    for side, t in exact:
        values |= {(side, *c): v for c, v in exact_cells(t).items()}
    if len(exact) == 2:
        (_, a), (_, b) = exact
        values |= {("d", *c): exact_cells(b)[c] - v for c, v in exact_cells(a).items()}
    shown: dict[Cell, int | None] = {}
    for side, pub in published:
        shown |= published_cells(pub, exact[0][1], side)
    for cell, v in shown.items():
        if v is not None:
            assert v == values[cell], cell
            assert not small(v, policy), (cell, v)
    unknown = set(values) - {c for c, v in shown.items() if v is not None}
    cons = [con for side in {c[0] for c in values} for con in constraints(exact[0][1], side)]
    if len(exact) == 2:
        cons += [(("b", *c), (("a", *c), ("d", *c))) for c in exact_cells(exact[0][1])]
    from graph.analytics.suppression import Constraint

    protected = {c for c in unknown if shown.get(c, 0) is None or small(values[c], policy)}
    leaked = exact_determined(unknown, [Constraint(t, p) for t, p in cons]) & protected
    assert not leaked, sorted(leaked)[:5]


def check_formats(result: object, policy: Policy) -> None:
    data = tidy(result)  # type: ignore[arg-type]
    expected = object_figures(result)  # type: ignore[arg-type]
    for figures in (csv_figures(data.to_csv()), json_figures(json.dumps(data.to_json())), xlsx_long_figures(to_xlsx(data))):
        assert same(figures, expected)
        for (series, _, _, measure), (value, suppressed) in figures.items():
            if suppressed:
                assert value is None
            elif value is not None and not measure.endswith("_pct"):
                assert not small(int(value), policy), (series, measure, value)
    console = Console(width=100, file=io.StringIO(), record=True)
    print_coverage(result, console)  # type: ignore[arg-type]
    assert max(len(line) for line in console.export_text().splitlines()) <= 100


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds(), policies, st.sampled_from(list(GroupBy)))
def test_no_output_publishes_a_small_or_recoverable_count(world: World, policy: Policy, by: GroupBy) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = world.store(Path(tmp))
        try:
            report = coverage(store, LATER, by, policy)
            comparison = compare(store, LATER, NOON, by, policy)
            exact_early = count_coverage(store, NOON, by, policy)
            exact_late = count_coverage(store, LATER, by, policy)
        finally:
            store.close()
    for t_late, pub in zip(exact_late, report.tables, strict=True):
        check_tables([("a", t_late)], [("a", pub)], policy)
    for t_early, t_late, before, after, change in zip(
        exact_early, exact_late, comparison.before.tables, comparison.after.tables, comparison.change, strict=True
    ):
        check_tables([("a", t_early), ("b", t_late)], [("a", before), ("b", after), ("d", change)], policy)
    check_formats(report, policy)
    check_formats(comparison, policy)
