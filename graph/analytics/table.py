"""Typed tables of counts: what analytics compute, and what may be published.

A `CountTable` holds exact counts (rows = groups, columns = measures, plus a total row)
and the arithmetic that ties them together (`Identity`: within a row, one column is the
sum of others; the total row is the sum of the rows). It is **never** shown to anyone:
`graph.analytics.suppression.suppress` turns it into a `PublishedTable`, the only shape
that leaves the engine (DOMAIN.md, "Aggregates": suppression is the last step).

Hidden columns take part in the arithmetic but are never published: they let the
suppression step see a small count that could be *derived* by subtraction (for example
``students - consented``) and protect it like a published one.

Rows are in a stable order (label, then id), never by value: aggregates never rank
organisations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Column",
    "CountTable",
    "Identity",
    "PublishedCell",
    "PublishedRatio",
    "PublishedRow",
    "PublishedTable",
    "Ratio",
    "RowKey",
    "TOTAL_ID",
]

TOTAL_ID = "(total)"
"""Row id of the total row."""


@dataclass(frozen=True, slots=True)
class Column:
    """A measure: ``name`` (a stable code), ``title`` (for people), ``hidden`` (never published)."""

    name: str
    title: str
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """In every row (the total row too), column ``total`` equals the sum of columns ``parts``."""

    total: str
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ratio:
    """A derived percentage ``100 * numerator / denominator`` (column names), published rounded."""

    name: str
    title: str
    numerator: str
    denominator: str


@dataclass(frozen=True, slots=True)
class RowKey:
    """A group: its id (community, school, program or partner id) and display name."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class CountTable:
    """Exact counts before suppression (internal; publish only through `suppress`).

    Parameters
    ----------
    name, title : str
        Stable code and human title of the table.
    columns : tuple of Column
    rows : tuple of RowKey
        Stable order: by label, then id.
    values : tuple of tuple of int
        ``values[i][j]``: row ``i``, column ``j``.
    totals : tuple of int, optional
        The total row (distinct units over all rows). None: the table has no total row
        (its rows overlap so much that a total would mean nothing).
    identities : tuple of Identity
        Within-row arithmetic; the suppression step protects against it.
    ratios : tuple of Ratio
        Percentages published next to the counts.
    notes : tuple of str
        Definitions shown with the table.
    group : str
        What the rows are (community, school, program, partner); "" when not said.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[RowKey, ...]
    values: tuple[tuple[int, ...], ...]
    totals: tuple[int, ...] | None
    identities: tuple[Identity, ...] = ()
    ratios: tuple[Ratio, ...] = ()
    notes: tuple[str, ...] = ()
    group: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        if len(self.values) != len(self.rows) or any(len(v) != len(names) for v in self.values):
            raise ValueError(f"{self.name}: values do not match rows x columns")
        if self.totals is not None and len(self.totals) != len(names):
            raise ValueError(f"{self.name}: totals do not match columns")
        known = set(names)
        for ident in self.identities:
            if not {ident.total, *ident.parts} <= known:
                raise ValueError(f"{self.name}: identity names an unknown column")
        for ratio in self.ratios:
            if not {ratio.numerator, ratio.denominator} <= known:
                raise ValueError(f"{self.name}: ratio names an unknown column")

    def column_index(self, name: str) -> int:
        """Position of column `name` (ValueError if absent)."""
        for i, c in enumerate(self.columns):
            if c.name == name:
                return i
        raise ValueError(f"{self.name}: no column {name!r}")

    def value(self, row_id: str, column: str) -> int:
        """The exact count of one cell (`row_id` may be `TOTAL_ID`); for tests and benchmarks."""
        j = self.column_index(column)
        if row_id == TOTAL_ID:
            if self.totals is None:
                raise KeyError(TOTAL_ID)
            return self.totals[j]
        for key, row in zip(self.rows, self.values, strict=True):
            if key.id == row_id:
                return row[j]
        raise KeyError(row_id)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Exact counts as ``{row id: {column: count}}`` (the total row under `TOTAL_ID`)."""
        out = {key.id: dict(zip((c.name for c in self.columns), row, strict=True)) for key, row in zip(self.rows, self.values, strict=True)}
        if self.totals is not None:
            out[TOTAL_ID] = dict(zip((c.name for c in self.columns), self.totals, strict=True))
        return out


@dataclass(frozen=True, slots=True)
class PublishedCell:
    """A published count: ``value`` None exactly when ``suppressed``."""

    value: int | None
    suppressed: bool

    def display(self, mark: str = "*") -> str:
        """The count as text; a suppressed cell shows `mark`."""
        return mark if self.value is None else str(self.value)


@dataclass(frozen=True, slots=True)
class PublishedRatio:
    """A published percentage: None when suppressed or undefined (denominator 0)."""

    value: float | None
    suppressed: bool

    def display(self, mark: str = "*") -> str:
        """The percentage as text (``"42%"``), `mark` when suppressed, ``"-"`` when undefined."""
        if self.suppressed:
            return mark
        return "-" if self.value is None else f"{self.value:g}%"


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """One group's published cells (published columns only) and ratios."""

    id: str
    label: str
    cells: tuple[PublishedCell, ...]
    ratios: tuple[PublishedRatio, ...]


@dataclass(frozen=True, slots=True)
class PublishedTable:
    """A table after small-cell and complementary suppression: the only shape that is shown.

    ``columns`` and ``ratios`` list only what is published (hidden columns are gone);
    ``group`` says what the rows are (community, school, program, partner).
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    ratios: tuple[Ratio, ...]
    rows: tuple[PublishedRow, ...]
    total: PublishedRow | None
    k: int
    k_inclusive: bool
    notes: tuple[str, ...] = ()
    group: str = ""

    def cell(self, row_id: str, column: str) -> PublishedCell:
        """The published cell of one row (`row_id` may be `TOTAL_ID`) and column."""
        j = next((i for i, c in enumerate(self.columns) if c.name == column), None)
        if j is None:
            raise KeyError(column)
        for row in self.all_rows():
            if row.id == row_id:
                return row.cells[j]
        raise KeyError(row_id)

    def all_rows(self) -> tuple[PublishedRow, ...]:
        """The group rows, then the total row if there is one."""
        return (*self.rows, self.total) if self.total is not None else self.rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: suppressed counts are ``null`` with ``suppressed: true``."""

        def row(r: PublishedRow) -> dict[str, Any]:
            cells: Mapping[str, Any] = {
                c.name: {"value": cell.value, "suppressed": cell.suppressed} for c, cell in zip(self.columns, r.cells, strict=True)
            }
            ratios = {q.name: {"value": v.value, "suppressed": v.suppressed} for q, v in zip(self.ratios, r.ratios, strict=True)}
            return {"id": r.id, "label": r.label, "cells": dict(cells), "ratios": ratios}

        return {
            "name": self.name,
            "title": self.title,
            "columns": [{"name": c.name, "title": c.title} for c in self.columns],
            "ratios": [{"name": q.name, "title": q.title, "numerator": q.numerator, "denominator": q.denominator} for q in self.ratios],
            "rows": [row(r) for r in self.rows],
            "total": row(self.total) if self.total is not None else None,
            "suppression": {"k": self.k, "k_inclusive": self.k_inclusive},
            "notes": list(self.notes),
            "group": self.group,
        }
