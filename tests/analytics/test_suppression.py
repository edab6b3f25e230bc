"""Small-cell and complementary suppression: examples, then properties on generated tables.

Properties (hypothesis):
- no published cell is in 1..k-1 (1..k when k itself is suppressed);
- no suppressed cell is recoverable: peeling (a row or column with exactly one unknown
  cell gives it away, repeatedly) recovers none, and neither does exact rational
  elimination of the whole system (an independent check of the modular one);
- zero is shown (a table without small cells is published whole);
- rows keep their order.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from graph.analytics.suppression import Constraint, determined_cells, is_small, suppress, table_constraints
from graph.analytics.table import TOTAL_ID, Column, CountTable, Identity, PublishedTable, Ratio, RowKey
from graph.policy import Policy

Cell = tuple[int, int]


def make_table(values: list[list[int]], *, identities: tuple[Identity, ...] = (), hidden: frozenset[str] = frozenset()) -> CountTable:
    ncol = len(values[0])
    columns = tuple(Column(f"c{j}", f"C{j}", f"c{j}" in hidden) for j in range(ncol))
    totals = tuple(sum(r[j] for r in values) for j in range(ncol))
    rows = tuple(RowKey(f"r{i}", f"Row {i}") for i in range(len(values)))
    return CountTable("t", "T", columns, rows, tuple(tuple(r) for r in values), totals, identities)


def with_row_totals(values: list[list[int]]) -> CountTable:
    """Rows with a row-total column: c_last = sum of the others (a 2-D table with both margins)."""
    full = [[*r, sum(r)] for r in values]
    n = len(values[0])
    return make_table(full, identities=(Identity(f"c{n}", tuple(f"c{j}" for j in range(n))),))


def suppressed_cells(table: CountTable, pub: PublishedTable) -> set[Cell]:
    names = [c.name for c in pub.columns]
    out: set[Cell] = set()
    for i, row in enumerate(pub.all_rows()):
        r = -1 if row.id == TOTAL_ID else i
        for name, cell in zip(names, row.cells, strict=True):
            if cell.suppressed:
                out.add((r, table.column_index(name)))
    return out


def peel(unknown: set[Cell], constraints: list[Constraint[Cell]]) -> set[Cell]:
    """Cells an attacker recovers by repeated subtraction along rows, columns and totals."""
    unknown = set(unknown)
    recovered: set[Cell] = set()
    progress = True
    while progress:
        progress = False
        for con in constraints:
            left = [c for c in con.cells() if c in unknown]
            if len(left) == 1:
                unknown.discard(left[0])
                recovered.add(left[0])
                progress = True
    return recovered


def exact_determined(unknown: set[Cell], constraints: list[Constraint[Cell]]) -> set[Cell]:
    """Independent check with exact rationals: unit vectors in the row space of the unknown part."""
    index = {c: i for i, c in enumerate(sorted(unknown))}
    rows = []
    for con in constraints:
        row = [Fraction(0)] * len(index)
        for cell, coef in ((con.total, -1), *((p, 1) for p in con.parts)):
            if cell in index:
                row[index[cell]] += coef
        if any(row):
            rows.append(row)
    pivots: list[tuple[int, list[Fraction]]] = []
    for row in rows:
        for p, prow in pivots:
            if row[p]:
                f = row[p]
                row = [a - f * b for a, b in zip(row, prow, strict=True)]
        nz = [i for i, v in enumerate(row) if v]
        if not nz:
            continue
        p = nz[0]
        row = [v / row[p] for v in row]
        pivots = [(q, [a - qrow[p] * b for a, b in zip(qrow, row, strict=True)] if qrow[p] else qrow) for q, qrow in pivots]
        pivots.append((p, row))
    cells = {i: c for c, i in index.items()}
    return {cells[p] for p, row in pivots if sum(1 for v in row if v) == 1}


# ---------------------------------------------------------------------------- examples


def test_primary_and_zero() -> None:
    pub = suppress(make_table([[0, 5, 20], [0, 30, 40]]), Policy())
    assert pub.cell("r0", "c0").value == 0 and not pub.cell("r0", "c0").suppressed
    assert pub.cell("r0", "c1").suppressed
    assert pub.cell("r1", "c1").suppressed  # complementary: column c1 would give 5 back
    assert pub.cell(TOTAL_ID, "c0").value == 0


def test_k_itself_is_a_setting() -> None:
    t = make_table([[10, 50], [40, 60]])
    assert not suppress(t, Policy()).cell("r0", "c0").suppressed
    assert suppress(t, Policy(suppress_k_itself=True)).cell("r0", "c0").suppressed
    assert suppress(t, Policy(suppression_k=11)).cell("r0", "c0").suppressed


def test_one_small_cell_in_a_column_hides_a_second() -> None:
    pub = suppress(make_table([[3], [50], [70]]), Policy())
    assert [r.cells[0].suppressed for r in pub.all_rows()] == [True, True, False, False]


def test_hidden_complement_is_protected() -> None:
    """students = consented + unconsented(hidden): 100 and 97 published would give 3."""
    t = CountTable(
        "t", "T",
        (Column("students", "S"), Column("consented", "C"), Column("unconsented", "U", hidden=True)),
        (RowKey("a", "A"), RowKey("b", "B")),
        ((100, 97, 3), (200, 150, 50)),
        (300, 247, 53),
        (Identity("students", ("consented", "unconsented")),),
        (Ratio("pct", "%", "consented", "students"),),
    )
    pub = suppress(t, Policy())
    assert [c.name for c in pub.columns] == ["students", "consented"]
    a = pub.cell("a", "students"), pub.cell("a", "consented")
    assert any(c.suppressed for c in a)
    assert pub.rows[0].ratios[0].suppressed
    b = pub.cell("b", "students"), pub.cell("b", "consented")
    assert pub.rows[1].ratios[0].suppressed if any(c.suppressed for c in b) else pub.rows[1].ratios[0].value == 75.0


def test_bridge_between_two_blocks_is_protected() -> None:
    """Peeling finds nothing here, but the cell joining two 2x2 blocks is determined (Gusfield)."""
    cons = [Constraint(("T", i), tuple(("x", i, j) for j in range(2))) for i in range(2)]
    unknown = {("x", 0, 0), ("x", 0, 1)}
    assert determined_cells(unknown, cons) == set()
    # x + y = a, x = b  ->  x determined by elimination (two constraints, one shared cell)
    cons2 = [Constraint("a", ("x", "y")), Constraint("b", ("x", "y", "z")), Constraint("c", ("z",))]
    assert determined_cells({"x", "y", "z"}, cons2) == {"z"}


def test_rows_keep_their_order() -> None:
    pub = suppress(make_table([[90], [11], [500]]), Policy())
    assert [r.id for r in pub.rows] == ["r0", "r1", "r2"]


# ---------------------------------------------------------------------------- properties

counts = st.one_of(st.just(0), st.integers(1, 12), st.integers(10, 400))


@st.composite
def grids(draw: st.DrawFn) -> list[list[int]]:
    nrow = draw(st.integers(1, 6))
    ncol = draw(st.integers(1, 5))
    return [[draw(counts) for _ in range(ncol)] for _ in range(nrow)]


policies = st.builds(Policy, suppression_k=st.integers(2, 12), suppress_k_itself=st.booleans())


def check(table: CountTable, policy: Policy) -> None:
    pub = suppress(table, policy)
    for row in pub.all_rows():
        for cell in row.cells:
            assert cell.suppressed == (cell.value is None)
            if cell.value is not None:
                assert not is_small(cell.value, policy)
    cons = table_constraints(table)
    hidden = {(r, j) for r in [*range(len(table.rows)), -1] for j, c in enumerate(table.columns) if c.hidden}
    sup = suppressed_cells(table, pub)
    unknown = sup | hidden
    protected = sup | {c for c in hidden if is_small(table.values[c[0]][c[1]] if c[0] >= 0 else table.totals[c[1]], policy)}  # type: ignore[index]
    assert not (peel(unknown, cons) & protected)
    assert not (exact_determined(unknown, cons) & protected)
    if not any(is_small(v, policy) for r in table.values for v in r) and not any(is_small(v, policy) for v in table.totals or ()):
        assert not sup


@settings(max_examples=300, deadline=None)
@given(grids(), policies)
def test_columns_with_totals(values: list[list[int]], policy: Policy) -> None:
    check(make_table(values), policy)


@settings(max_examples=300, deadline=None)
@given(grids(), policies)
def test_two_way_tables_with_both_margins(values: list[list[int]], policy: Policy) -> None:
    check(with_row_totals(values), policy)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(counts, counts, counts), min_size=1, max_size=6), policies)
def test_partitions_with_hidden_cells(parts: list[tuple[int, int, int]], policy: Policy) -> None:
    """students = a + b + h, with h hidden (like unconsented): small h is never derivable."""
    values = [[a + b + h, a, b, h] for a, b, h in parts]
    table = make_table(values, identities=(Identity("c0", ("c1", "c2", "c3")),), hidden=frozenset({"c3"}))
    check(table, policy)
