"""Small-cell and complementary suppression: the last step of every aggregate output.

DOMAIN.md ("Aggregates"): a count in 1..k-1 (k = ``Policy.suppression_k``; with
``Policy.suppress_k_itself`` also k) is suppressed, and enough other cells are
suppressed that no suppressed value can be recovered from the published cells and
totals. Zero is shown. Percentages are suppressed when their numerator or denominator
is suppressed or their denominator is small.

The algorithm
-------------
A table is a set of cells tied by linear constraints ``total = sum(parts)``: every
row's `Identity` (for example ``served = full_access + served_blocked``), and every
column's total row (``total = sum of the rows``; declared even where groups overlap
and the equation is only an upper bound, which can only cause extra suppression).
Hidden cells (never published) are unknowns from the start.

1. *Primary suppression*: every published cell in 1..k-1 (or 1..k).
2. *Protected cells*: every suppressed cell, and every hidden cell in 1..k-1 (a small
   count that subtraction could otherwise reveal, such as ``students - consented``).
3. *Peeling* (the classic "at least two unknowns per line" rule, iterated): while some
   constraint has exactly one unknown cell, that cell is recoverable by subtraction.
   If it is protected, suppress the smallest non-zero published cell of that
   constraint (ties: table order); if it is an unprotected hidden cell, treat it as
   known (an attacker can compute it) and keep peeling. Start again after each addition.
4. *Exact audit*: Gauss-Jordan elimination of the constraint system over the unknown
   cells, modulo the prime 2**61-1. A cell is determined by the published values
   exactly when its unit vector lies in the row space, i.e. it is a pivot whose
   reduced row has no other entry. Peeling misses cases such as a suppressed cell that
   is a "bridge" between two otherwise protected blocks (Gusfield 1988, "A
   graph-theoretic approach to statistical data security", SIAM J. Comput. 17(3)).
   For a determined protected cell, suppress the smallest non-zero published cell of a
   constraint it is in (widening to neighbouring constraints if needed) and go to 3.

Suppression only grows, so the loop ends; in the worst case every cell is suppressed.
The result is not minimal (finding a minimal pattern is NP-hard) but it is safe against
exact recovery by any linear combination of published rows and totals. It does not
defend against interval (bounds) inference, which a 1..k-1 band already limits; nor
against differencing two tables asked separately at two times or two groupings.
`suppress_change` publishes two times *together* with their difference, so that within
one comparison no small change can be recovered.

Complementary cells are marked exactly like primary ones (``suppressed``, no value), so
a reader cannot tell which suppressed cells are small.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from graph.analytics.table import (
    TOTAL_ID,
    CountTable,
    PublishedCell,
    PublishedRatio,
    PublishedRow,
    PublishedTable,
    RowKey,
)
from graph.policy import Policy

__all__ = ["Constraint", "determined_cells", "is_small", "protect", "suppress", "suppress_change", "table_constraints"]

K = TypeVar("K", bound=Hashable)

_PRIME = (1 << 61) - 1


@dataclass(frozen=True, slots=True)
class Constraint(Generic[K]):
    """``total = sum(parts)`` over cell keys."""

    total: K
    parts: tuple[K, ...]

    def cells(self) -> tuple[K, ...]:
        """The total, then the parts."""
        return (self.total, *self.parts)


def is_small(value: int, policy: Policy) -> bool:
    """True for a count that must not be published: 1..k-1, or 1..k when ``suppress_k_itself``."""
    k = policy.suppression_k
    return 1 <= value < k or (policy.suppress_k_itself and value == k)


def determined_cells(unknown: Iterable[K], constraints: Sequence[Constraint[K]]) -> set[K]:
    """Unknown cells whose value the constraints fix, given every other cell is known.

    Gauss-Jordan elimination over GF(2**61-1) of the constraint rows restricted to the
    unknown cells (known cells move to the right-hand side, which does not matter for
    determinacy). A cell is determined iff it is a pivot whose fully reduced row has no
    other non-zero entry.

    Notes
    -----
    Coefficients are 0 and +-1, so a false "determined" from working modulo a 61-bit
    prime would need a minor divisible by it; that cannot happen for the table sizes
    used here (each constraint has at most a few hundred cells).
    """
    unknown_set = set(unknown)
    index: dict[K, int] = {}
    rows: list[dict[int, int]] = []
    for con in constraints:
        row: dict[int, int] = {}
        for cell, coef in ((con.total, -1), *((p, 1) for p in con.parts)):
            if cell in unknown_set:
                i = index.setdefault(cell, len(index))
                row[i] = (row.get(i, 0) + coef) % _PRIME
        row = {i: c for i, c in row.items() if c}
        if row:
            rows.append(row)
    # Short (local) constraints first, long ones (column totals) last: the row space is the
    # same in any order, and the few long rows then fill in few others.
    rows.sort(key=len)
    # Fully reduced rows: a pivot row is zero in every other pivot column, so one pass over
    # a new row's pivot columns reduces it. `holders[i]`: pivot rows with an entry in
    # column i, so a new pivot is cleared from just the rows that hold it.
    pivots: dict[int, dict[int, int]] = {}
    holders: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        for p in [k for k in row if k in pivots]:
            c = row.get(p)
            if not c:
                continue
            for i, v in pivots[p].items():
                nv = (row.get(i, 0) - c * v) % _PRIME
                if nv:
                    row[i] = nv
                else:
                    row.pop(i, None)
        if not row:
            continue
        p = min(row)
        inv = pow(row[p], _PRIME - 2, _PRIME)
        row = {i: (v * inv) % _PRIME for i, v in row.items()}
        for q in list(holders.pop(p, ())):
            other = pivots[q]
            c = other.get(p)
            if not c:
                continue
            for i, v in row.items():
                nv = (other.get(i, 0) - c * v) % _PRIME
                if nv:
                    other[i] = nv
                    if i != q:
                        holders[i].add(q)
                else:
                    other.pop(i, None)
                    holders[i].discard(q)
            holders.pop(p, None)
        pivots[p] = row
        for i in row:
            if i != p:
                holders[i].add(p)
    cells = {i: cell for cell, i in index.items()}
    return {cells[p] for p, row in pivots.items() if len(row) == 1}


def protect(
    values: Mapping[K, int],
    constraints: Sequence[Constraint[K]],
    policy: Policy,
    *,
    hidden: Iterable[K] = (),
    order: Callable[[K], object] | None = None,
    prefer: Callable[[K], object] | None = None,
) -> set[K]:
    """The published cells to suppress (primary and complementary); see the module docstring.

    Parameters
    ----------
    values : mapping of cell key to count
        Every cell, published and hidden.
    constraints : sequence of Constraint
        ``total = sum(parts)`` relations an attacker may use.
    policy : Policy
        ``suppression_k`` and ``suppress_k_itself``.
    hidden : iterable of cell keys
        Cells never published (unknown to a reader from the start).
    order : callable, optional
        Sort key for ties between candidate cells (default: the order of `values`).
    prefer : callable, optional
        Sort key applied before the value when choosing a complementary cell (smaller is
        hidden first); for example, to hide an earlier time's cell before a later one's.

    Returns
    -------
    set
        Keys of published cells to suppress. No suppressed cell, and no hidden cell in
        1..k-1, is determined by the published cells through `constraints`.
    """
    hidden_set = set(hidden)
    position = {key: i for i, key in enumerate(values)}
    rank: Callable[[K], object] = order if order is not None else position.__getitem__
    first: Callable[[K], object] = prefer if prefer is not None else (lambda _: 0)
    suppressed = {c for c, v in values.items() if c not in hidden_set and is_small(v, policy)}
    sensitive_hidden = {c for c in hidden_set if is_small(values[c], policy)}
    by_cell: dict[K, list[int]] = {}
    for n, con in enumerate(constraints):
        for cell in con.cells():
            by_cell.setdefault(cell, []).append(n)
    accepted: set[K] = set()

    def candidates(cons: Iterable[int]) -> list[K]:
        cells = {c for n in cons for c in constraints[n].cells() if c not in suppressed and c not in hidden_set}
        return sorted(cells, key=lambda c: (values[c] == 0, first(c), values[c], rank(c)))  # type: ignore[return-value]

    base_count = [0] * len(constraints)
    for cell in suppressed | hidden_set:
        for n in by_cell.get(cell, ()):
            base_count[n] += 1

    def hide(cell: K) -> None:
        suppressed.add(cell)
        for n in by_cell.get(cell, ()):
            base_count[n] += 1

    while True:
        added = _peel(constraints, suppressed, hidden_set, sensitive_hidden, candidates, by_cell, base_count)
        if added is not None:
            hide(added)
            continue
        unknown = suppressed | hidden_set
        bad = sorted((determined_cells(unknown, constraints) & (suppressed | sensitive_hidden)) - accepted, key=lambda c: position[c])
        if not bad:
            return suppressed
        cell = bad[0]
        frontier = set(by_cell.get(cell, ()))
        seen: set[int] = set()
        choice: K | None = None
        while frontier and choice is None:
            seen |= frontier
            found = candidates(frontier)
            if found:
                choice = found[0]
                break
            frontier = {m for n in frontier for c in constraints[n].cells() if c in unknown for m in by_cell[c]} - seen
        if choice is None:
            accepted.add(cell)  # every related cell is already unknown: nothing more to hide
        else:
            hide(choice)


def _peel(
    constraints: Sequence[Constraint[K]],
    suppressed: set[K],
    hidden: set[K],
    sensitive_hidden: set[K],
    candidates: Callable[[Iterable[int]], list[K]],
    by_cell: Mapping[K, list[int]],
    base_count: Sequence[int],
) -> K | None:
    """Peel until stable: the complementary cell to suppress next, or None when stable.

    A worklist of constraints with exactly one unknown cell, lowest index first; deriving a
    cell lowers the count of every constraint it is in. `base_count[n]`: unknown (suppressed
    or hidden) cells of constraint n, kept up to date by the caller.
    """
    unknown = suppressed | hidden
    count = list(base_count)
    work = [n for n, k in enumerate(count) if k == 1]
    heapq.heapify(work)
    derived: set[K] = set()
    while work:
        n = heapq.heappop(work)
        if count[n] != 1:
            continue
        cell = next(c for c in constraints[n].cells() if c in unknown and c not in derived)
        if cell in suppressed or cell in sensitive_hidden:
            found = candidates([n])
            if found:
                return found[0]
            # else: every other cell is a derived hidden one: nothing published to hide
        derived.add(cell)
        for m in by_cell.get(cell, ()):
            count[m] -= 1
            if count[m] == 1:
                heapq.heappush(work, m)
    return None


Cell = tuple[int, int]
"""A cell of a CountTable: (row index, or -1 for the total row; column index)."""


def table_constraints(table: CountTable) -> list[Constraint[Cell]]:
    """The arithmetic of a table: each row's identities (total row too) and each column's total."""
    rows = list(range(len(table.rows))) + ([-1] if table.totals is not None else [])
    out: list[Constraint[Cell]] = []
    for ident in table.identities:
        t = table.column_index(ident.total)
        parts = tuple(table.column_index(p) for p in ident.parts)
        out.extend(Constraint((r, t), tuple((r, p) for p in parts)) for r in rows)
    if table.totals is not None:
        for j in range(len(table.columns)):
            out.append(Constraint((-1, j), tuple((i, j) for i in range(len(table.rows)))))
    return out


def _cell_values(table: CountTable) -> dict[Cell, int]:
    values: dict[Cell, int] = {}
    for i, row in enumerate(table.values):
        for j, v in enumerate(row):
            values[(i, j)] = v
    if table.totals is not None:
        for j, v in enumerate(table.totals):
            values[(-1, j)] = v
    return values


def _hidden_cells(table: CountTable, values: Mapping[Cell, int]) -> set[Cell]:
    return {cell for cell in values if table.columns[cell[1]].hidden}


def suppress(table: CountTable, policy: Policy) -> PublishedTable:
    """Publish `table`: primary and complementary suppression, then derived percentages.

    Percentages are whole numbers, and are suppressed when the numerator or denominator
    cell is suppressed or the denominator is small (below k); undefined (None, not
    suppressed) when the denominator is 0. Rows keep the table's stable order.
    """
    values = _cell_values(table)
    hidden = _hidden_cells(table, values)
    suppressed = protect(values, table_constraints(table), policy, hidden=hidden)
    return _publish(table, values, suppressed, hidden, policy)


def _publish(table: CountTable, values: Mapping[Cell, int], suppressed: set[Cell], hidden: set[Cell], policy: Policy) -> PublishedTable:
    """The published form of `table` given the cells to suppress."""
    published = [j for j, c in enumerate(table.columns) if not c.hidden]

    def publish_row(r: int, key: RowKey) -> PublishedRow:
        cells = tuple(
            PublishedCell(None, True) if (r, j) in suppressed else PublishedCell(values[(r, j)], False) for j in published
        )
        ratios = []
        for q in table.ratios:
            num, den = (r, table.column_index(q.numerator)), (r, table.column_index(q.denominator))
            if num in suppressed or den in suppressed or num in hidden or den in hidden or is_small(values[den], policy):
                ratios.append(PublishedRatio(None, True))
            elif values[den] == 0:
                ratios.append(PublishedRatio(None, False))
            else:
                ratios.append(PublishedRatio(float(round(100 * values[num] / values[den])), False))
        return PublishedRow(key.id, key.label, cells, tuple(ratios))

    rows = tuple(publish_row(i, key) for i, key in enumerate(table.rows))
    total = publish_row(-1, RowKey(TOTAL_ID, "Total")) if table.totals is not None else None
    return PublishedTable(
        name=table.name,
        title=table.title,
        columns=tuple(table.columns[j] for j in published),
        ratios=table.ratios,
        rows=rows,
        total=total,
        k=policy.suppression_k,
        k_inclusive=policy.suppress_k_itself,
        notes=table.notes,
        group=table.group,
    )


PairCell = tuple[str, int, int]
"""A cell of a compared pair: ("a" | "b" | "d", row index or -1, column index)."""


def suppress_change(before: CountTable, after: CountTable, policy: Policy) -> tuple[PublishedTable, PublishedTable, PublishedTable]:
    """Publish two tables of the same shape and their difference, suppressed together.

    The cells are those of `before` (a), `after` (b) and the change ``d = b - a``. Every
    table's own arithmetic holds for each of the three (the change by linearity), and
    each cell ties the three: ``b = a + d``. A change counts as small when its absolute
    value is in 1..k-1 (1..k): a small change reveals a few students' movement as surely
    as a small count. `protect` then hides enough cells that no suppressed or small hidden
    count, and no small change, is determined by what is published: a reader holding
    both published tables and the published changes cannot work one out.

    Returns
    -------
    (PublishedTable, PublishedTable, PublishedTable)
        `before` and `after` as published in the comparison (often more suppressed than
        alone), and the change: cells ``after - before`` (negative for a fall), ratios in
        percentage points (``after% - before%`` of the published rounded percentages;
        suppressed when either is, undefined when either is).

    Raises
    ------
    ValueError
        The tables differ in name, columns or rows.
    """
    if (before.name, before.columns, before.rows, before.totals is None) != (after.name, after.columns, after.rows, after.totals is None):
        raise ValueError(f"{before.name}: the two tables to compare differ in shape")
    va, vb = _cell_values(before), _cell_values(after)
    hidden_ab = _hidden_cells(before, va)
    values: dict[PairCell, int] = {}
    for cell, v in va.items():
        values[("a", *cell)] = v
    for cell, v in vb.items():
        values[("b", *cell)] = v
    for cell in va:
        values[("d", *cell)] = abs(vb[cell] - va[cell])
    constraints: list[Constraint[PairCell]] = []
    for side in ("a", "b", "d"):
        for con in table_constraints(before):
            constraints.append(Constraint((side, *con.total), tuple((side, *p) for p in con.parts)))
    for cell in va:
        constraints.append(Constraint(("b", *cell), (("a", *cell), ("d", *cell))))
    hidden = {(side, *cell) for side in ("a", "b", "d") for cell in hidden_ab}
    sides = {"a": 0, "d": 1, "b": 2}
    # Complementary cells: the earlier time's first, so the later (newer) figures stay visible where they can.
    suppressed = protect(
        values, constraints, policy, hidden=hidden, order=lambda c: (c[1] == -1, c[1], c[2]), prefer=lambda c: sides[c[0]]
    )
    sup_a = {(r, j) for side, r, j in suppressed if side == "a"}
    sup_b = {(r, j) for side, r, j in suppressed if side == "b"}
    sup_d = {(r, j) for side, r, j in suppressed if side == "d"}
    pub_a = _publish(before, va, sup_a, hidden_ab, policy)
    pub_b = _publish(after, vb, sup_b, hidden_ab, policy)
    change = {cell: vb[cell] - va[cell] for cell in va}
    published = [j for j, c in enumerate(before.columns) if not c.hidden]

    def change_row(r: int, ra: PublishedRow, rb: PublishedRow) -> PublishedRow:
        cells = tuple(PublishedCell(None, True) if (r, j) in sup_d else PublishedCell(change[(r, j)], False) for j in published)
        ratios = []
        for qa, qb in zip(ra.ratios, rb.ratios, strict=True):
            if qa.suppressed or qb.suppressed:
                ratios.append(PublishedRatio(None, True))
            elif qa.value is None or qb.value is None:
                ratios.append(PublishedRatio(None, False))
            else:
                ratios.append(PublishedRatio(qb.value - qa.value, False))
        return PublishedRow(ra.id, ra.label, cells, tuple(ratios))

    rows = tuple(change_row(i, ra, rb) for i, (ra, rb) in enumerate(zip(pub_a.rows, pub_b.rows, strict=True)))
    total = change_row(-1, pub_a.total, pub_b.total) if pub_a.total is not None and pub_b.total is not None else None
    pub_d = PublishedTable(
        name=before.name,
        title=f"Change: {before.title}",
        columns=pub_a.columns,
        ratios=pub_a.ratios,
        rows=rows,
        total=total,
        k=policy.suppression_k,
        k_inclusive=policy.suppress_k_itself,
        notes=(*before.notes, "Change: the later count minus the earlier; percentages change in points."),
        group=before.group,
    )
    return pub_a, pub_b, pub_d
