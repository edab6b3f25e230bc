# mypy: disallow-untyped-decorators=False
# (strawberry.field with keyword arguments is an untyped decorator to mypy; resolvers keep their own annotations)
"""Aggregate queries: coverage tables and the partner network (staff, analysts, admins).

Both resolvers are thin (STYLE.md, item 13): check the role, call
`graph.analytics.coverage` / `graph.analytics.partner_network` (which apply small-cell
and complementary suppression as their last step), and map the published values. A
count leaves this module only as a `SuppressedCount`: ``value`` is null exactly when
the cell is suppressed; the raw small count is never in the answer.

The network filters (``community``, ``program``) select nodes of the network computed
and suppressed as a whole; counts are never recomputed on the filtered part, so a
filtered view publishes exactly the cells the whole view does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Final

import networkx as nx
import strawberry
from strawberry.types import Info

from api.errors import BadInput
from api.roles import Principal, Role, require
from api.schema.context import Context
from api.schema.overview import OverviewQuery
from graph.analytics import CoverageReport, GroupBy, PublishedTable
from graph.analytics.cache import Question, cache_for
from graph.analytics.compare import CoverageComparison
from graph.analytics.table import PublishedCell, PublishedRatio, PublishedRow, RowKey

__all__ = [
    "AGGREGATE_ROLES",
    "AnalyticsQuery",
    "CoverageComparisonType",
    "CoverageGroup",
    "CoverageReportType",
    "PartnerNetworkType",
    "SuppressedCount",
    "may_see_aggregates",
]

AGGREGATE_ROLES: Final = frozenset({Role.ADMIN, Role.STAFF, Role.ANALYST})
"""Roles that may read coverage and the partner network (DESIGN.md, "Interfaces")."""

MAX_EXPIRING_DAYS: Final = 3660
"""Widest "expiring within" window accepted, in days (ten years)."""

SUPPRESSED_MARK: Final = "*"


def may_see_aggregates(principal: Principal) -> bool:
    """Coverage and the partner network: staff, analysts and admins."""
    return principal.role in AGGREGATE_ROLES


@strawberry.enum(description="What the rows of a coverage table are.")
class CoverageGroup(Enum):
    COMMUNITY = "community"
    SCHOOL = "school"
    PROGRAM = "program"
    PARTNER = "partner"


@strawberry.enum(description="Kinds of node in the partner network (there are no student nodes).")
class NetworkNodeKind(Enum):
    PARTNER = "Partner"
    PROGRAM = "Program"
    COMMUNITY = "Community"
    SCHOOL = "School"


@strawberry.enum(description="Kinds of edge in the partner network, directed as in the graph.")
class NetworkEdgeKind(Enum):
    OFFERS = "OFFERS"
    SERVES_AREA = "SERVES_AREA"
    LOCATED_IN = "LOCATED_IN"


@strawberry.type(description="A published count after small-cell suppression. A suppressed count has no value.")
class SuppressedCount:
    value: int | None = strawberry.field(description="The count; null exactly when suppressed. Zero may be shown.")
    suppressed: bool = strawberry.field(
        description="True when the count is small (1..k-1, or 1..k when k itself is suppressed), "
        "or hidden so that a small one cannot be recovered."
    )
    display: str = strawberry.field(description="The count as text; '*' when suppressed.")

    @classmethod
    def of(cls, cell: PublishedCell) -> SuppressedCount:
        """From a published cell."""
        return cls(value=cell.value, suppressed=cell.suppressed, display=cell.display(SUPPRESSED_MARK))


@strawberry.type(description="A published percentage: suppressed when its numerator or denominator is, or the denominator is small.")
class SuppressedPercent:
    value: float | None = strawberry.field(description="The percentage (0..100); null when suppressed or undefined (denominator 0).")
    suppressed: bool = strawberry.field(description="True when suppressed.")
    display: str = strawberry.field(description="As text: '42%', '*' when suppressed, '-' when undefined.")

    @classmethod
    def of(cls, ratio: PublishedRatio) -> SuppressedPercent:
        """From a published ratio."""
        return cls(value=ratio.value, suppressed=ratio.suppressed, display=ratio.display(SUPPRESSED_MARK))


@strawberry.type(description="A measure of a coverage table.")
class CoverageColumn:
    name: str = strawberry.field(description="Stable code of the measure (students, consented, served, ...).")
    title: str = strawberry.field(description="The measure in words.")


@strawberry.type(description="A percentage published next to the counts: 100 * numerator / denominator.")
class CoverageRatioColumn:
    name: str = strawberry.field(description="Stable code (consented_pct, ...).")
    title: str = strawberry.field(description="The percentage in words.")
    numerator: str = strawberry.field(description="Column name of the numerator.")
    denominator: str = strawberry.field(description="Column name of the denominator.")


@strawberry.type(description="One published count of a row.")
class CoverageCell:
    column: str = strawberry.field(description="Name of the column (CoverageColumn.name).")
    count: SuppressedCount = strawberry.field(description="The count, possibly suppressed.")


@strawberry.type(description="One published percentage of a row.")
class CoverageRatioCell:
    ratio: str = strawberry.field(description="Name of the ratio (CoverageRatioColumn.name).")
    percent: SuppressedPercent = strawberry.field(description="The percentage, possibly suppressed.")


@strawberry.type(description="A partner offering a program (on program rows).")
class CoverageRowPartner:
    id: strawberry.ID = strawberry.field(description="The partner's id.")
    name: str = strawberry.field(description="The partner's name.")


@strawberry.type(description="A group's row of a coverage table (or the total row).")
class CoverageRow:
    id: strawberry.ID = strawberry.field(description="The group's id; '(none)' for units in no group, '(total)' for the total row.")
    label: str = strawberry.field(description="The group's name.")
    is_total: bool = strawberry.field(description="True for the total row (each unit counted once).")
    cells: list[CoverageCell] = strawberry.field(description="One cell per published column, in column order.")
    ratios: list[CoverageRatioCell] = strawberry.field(description="One percentage per ratio column, in order.")
    partners: list[CoverageRowPartner] = strawberry.field(
        description="Program rows: the partners offering the program at the time asked about, by name; empty on other rows."
    )

    @classmethod
    def of(
        cls, table: PublishedTable, row: PublishedRow, *, total: bool = False, partners: Mapping[str, tuple[RowKey, ...]]
    ) -> CoverageRow:
        """From a published row of `table`."""
        mine = partners.get(row.id, ()) if table.group == "program" else ()
        return cls(
            id=strawberry.ID(row.id),
            label=row.label,
            is_total=total,
            partners=[CoverageRowPartner(id=strawberry.ID(p.id), name=p.label) for p in mine],
            cells=[CoverageCell(column=c.name, count=SuppressedCount.of(v)) for c, v in zip(table.columns, row.cells, strict=True)],
            ratios=[
                CoverageRatioCell(ratio=q.name, percent=SuppressedPercent.of(v)) for q, v in zip(table.ratios, row.ratios, strict=True)
            ],
        )


@strawberry.type(description="A coverage table after small-cell and complementary suppression. Rows are ordered by name, never by value.")
class CoverageTable:
    name: str = strawberry.field(description="Stable code: students, blocking_reasons, providers, expiring or need_gaps.")
    title: str = strawberry.field(description="The table in words.")
    columns: list[CoverageColumn] = strawberry.field(description="Published measures, in order.")
    ratio_columns: list[CoverageRatioColumn] = strawberry.field(description="Published percentages, in order.")
    rows: list[CoverageRow] = strawberry.field(description="One row per group (by name, then id), then the '(none)' row.")
    total: CoverageRow | None = strawberry.field(description="The total row (each unit once); null when the table has none.")
    suppression_k: int = strawberry.field(description="The small-cell threshold k.")
    suppression_k_inclusive: bool = strawberry.field(description="True when a count equal to k is suppressed too.")
    notes: list[str] = strawberry.field(description="Definitions of the measures.")

    @classmethod
    def of(cls, t: PublishedTable, partners: Mapping[str, tuple[RowKey, ...]]) -> CoverageTable:
        """From a published table (`partners`: program id -> its partners)."""
        return cls(
            name=t.name,
            title=t.title,
            columns=[CoverageColumn(name=c.name, title=c.title) for c in t.columns],
            ratio_columns=[
                CoverageRatioColumn(name=q.name, title=q.title, numerator=q.numerator, denominator=q.denominator) for q in t.ratios
            ],
            rows=[CoverageRow.of(t, r, partners=partners) for r in t.rows],
            total=CoverageRow.of(t, t.total, total=True, partners=partners) if t.total is not None else None,
            suppression_k=t.k,
            suppression_k_inclusive=t.k_inclusive,
            notes=list(t.notes),
        )


@strawberry.type(description="A community and data category that no program serving the community works with (a published zero).")
class NeedGap:
    community_id: strawberry.ID = strawberry.field(description="The community.")
    category: str = strawberry.field(description="The data category (attendance, grades, ...).")


@strawberry.type(name="CoverageReport", description="Coverage measures at a time, grouped one way, every count suppressed where small.")
class CoverageReportType:
    at: datetime = strawberry.field(description="The instant every interval was read at.")
    by: CoverageGroup = strawberry.field(description="What the rows are.")
    expiring_within_days: int = strawberry.field(description="Window of the 'expiring' table, in days after `at`.")
    tables: list[CoverageTable] = strawberry.field(description="students, blocking_reasons, providers, expiring, need_gaps.")
    gaps: list[NeedGap] = strawberry.field(description="Need gaps: (community, category) pairs no serving program covers.")

    @classmethod
    def of(cls, report: CoverageReport) -> CoverageReportType:
        """From a published coverage report."""
        return cls(
            at=report.at,
            by=CoverageGroup(str(report.by)),
            expiring_within_days=report.expiring_days,
            tables=[CoverageTable.of(t, report.partners) for t in report.tables],
            gaps=[NeedGap(community_id=strawberry.ID(c), category=cat) for c, cat in report.gaps()],
        )


@strawberry.type(
    name="CoverageComparison",
    description="Coverage at two times and the change between them, suppressed together: no count and no change of 1..k-1 "
    "students is published or can be worked out from the rest. Both reports are often more suppressed than alone.",
)
class CoverageComparisonType:
    since: datetime = strawberry.field(description="The earlier time.")
    at: datetime = strawberry.field(description="The later time.")
    by: CoverageGroup = strawberry.field(description="What the rows are.")
    expiring_within_days: int = strawberry.field(description="Window of the 'expiring' tables, in days after each time.")
    before: CoverageReportType = strawberry.field(description="Coverage at `since`, as published in this comparison.")
    after: CoverageReportType = strawberry.field(description="Coverage at `at`, as published in this comparison.")
    change: list[CoverageTable] = strawberry.field(
        description="Per table, the later count minus the earlier (negative for a fall; null when suppressed); "
        "percentages change in points."
    )

    @classmethod
    def of(cls, c: CoverageComparison) -> CoverageComparisonType:
        """From a published comparison."""
        return cls(
            since=c.before.at,
            at=c.after.at,
            by=CoverageGroup(str(c.by)),
            expiring_within_days=c.after.expiring_days,
            before=CoverageReportType.of(c.before),
            after=CoverageReportType.of(c.after),
            change=[CoverageTable.of(t, c.after.partners) for t in c.change],
        )


@strawberry.type(description="A partner, program, community or school, with its suppressed student count. Never a student.")
class NetworkNode:
    id: strawberry.ID = strawberry.field(description="The record id.")
    kind: NetworkNodeKind = strawberry.field(description="What the node is.")
    label: str = strawberry.field(description="Its name.")
    students: SuppressedCount = strawberry.field(
        description="School: students attending; community: students of it (school there, or living there); "
        "program: students it serves (not ended); partner: students of its programs."
    )


@strawberry.type(description="A relation between two network nodes, with a suppressed student count.")
class NetworkEdge:
    source: strawberry.ID = strawberry.field(description="Id of the node the edge leaves.")
    target: strawberry.ID = strawberry.field(description="Id of the node the edge enters.")
    kind: NetworkEdgeKind = strawberry.field(
        description="OFFERS partner->program, SERVES_AREA program->community, LOCATED_IN school->community."
    )
    students: SuppressedCount = strawberry.field(
        description="OFFERS: the program's students; SERVES_AREA: the program's students of that community; LOCATED_IN: the school's."
    )


@strawberry.type(
    name="PartnerNetwork",
    description="The aggregated partner network at a time: organisations and places, counts only (no student-level data).",
)
class PartnerNetworkType:
    at: datetime = strawberry.field(description="The instant every interval was read at.")
    suppression_k: int = strawberry.field(description="The small-cell threshold k.")
    suppression_k_inclusive: bool = strawberry.field(description="True when a count equal to k is suppressed too.")
    nodes: list[NetworkNode] = strawberry.field(description="Partners, programs, communities, then schools, each by name then id.")
    edges: list[NetworkEdge] = strawberry.field(description="Edges between the listed nodes.")


def _count(attrs: dict[str, Any]) -> SuppressedCount:
    if attrs.get("students_suppressed"):
        return SuppressedCount(value=None, suppressed=True, display=SUPPRESSED_MARK)
    value = int(attrs.get("students", 0))
    return SuppressedCount(value=value, suppressed=False, display=str(value))


def _neighbours(G: nx.DiGraph[str], start: str, path: Iterable[tuple[str, str]]) -> set[str]:
    """`start` and the nodes reached from it by following `path`: (direction, edge kind) steps, all kept."""
    keep = {start}
    frontier = {start}
    for direction, kind in path:
        nxt: set[str] = set()
        for n in frontier:
            if direction == "out":
                nxt.update(t for _, t, k in G.out_edges(n, data="kind") if k == kind)  # type: ignore[var-annotated]
            else:
                nxt.update(s for s, _, k in G.in_edges(n, data="kind") if k == kind)  # type: ignore[var-annotated]
        keep |= nxt
        frontier = nxt
    return keep


def focus(G: nx.DiGraph[str], community: str | None, program: str | None) -> set[str]:
    """Nodes of `G` shown with the filters (all when neither is set).

    Parameters
    ----------
    G : networkx.DiGraph
        The whole network (`partner_network`).
    community : str, optional
        Keep the community, its schools, the programs serving it and their partners.
    program : str, optional
        Keep the program, its partners, the communities it serves and their schools.

    Returns
    -------
    set of str
        Node ids; with both filters, the nodes both keep. An id that is not a node of the
        right kind keeps nothing.
    """
    keep = set(G.nodes)
    if community is not None:
        if G.nodes.get(community, {}).get("kind") != "Community":
            return set()
        keep &= _neighbours(G, community, [("in", "LOCATED_IN")]) | _neighbours(G, community, [("in", "SERVES_AREA"), ("in", "OFFERS")])
    if program is not None:
        if G.nodes.get(program, {}).get("kind") != "Program":
            return set()
        keep &= _neighbours(G, program, [("in", "OFFERS")]) | _neighbours(G, program, [("out", "SERVES_AREA"), ("in", "LOCATED_IN")])
    return keep


def network_view(G: nx.DiGraph[str], at: datetime, keep: set[str]) -> PartnerNetworkType:
    """The GraphQL view of the nodes `keep` of `G` and the edges between them."""
    return PartnerNetworkType(
        at=at,
        suppression_k=int(G.graph.get("k", 0)),
        suppression_k_inclusive=bool(G.graph.get("k_inclusive", 0)),
        nodes=[
            NetworkNode(id=strawberry.ID(n), kind=NetworkNodeKind(d["kind"]), label=str(d.get("label", n)), students=_count(d))
            for n, d in G.nodes(data=True)
            if n in keep
        ],
        edges=[
            NetworkEdge(source=strawberry.ID(a), target=strawberry.ID(b), kind=NetworkEdgeKind(d["kind"]), students=_count(d))
            for a, b, d in G.edges(data=True)
            if a in keep and b in keep
        ],
    )


@strawberry.type(description="Aggregate questions: coverage and the partner network.")
class AnalyticsQuery(OverviewQuery):
    @strawberry.field(
        description="Coverage measures by community, school, program or partner at a time (default: now); staff, analysts, admins."
    )
    def coverage(
        self,
        info: Info[Context, None],
        by: CoverageGroup,
        at: datetime | None = None,
        expiring_within_days: Annotated[
            int | None,
            strawberry.argument(description=f"Window of the 'expiring' table, in days after `at` (0..{MAX_EXPIRING_DAYS}; null: 30)."),
        ] = 30,
    ) -> CoverageReportType:
        ctx = info.context
        require(may_see_aggregates(ctx.principal))
        days = 30 if expiring_within_days is None else expiring_within_days
        if not 0 <= days <= MAX_EXPIRING_DAYS:
            raise BadInput(f"expiringWithinDays must be in 0..{MAX_EXPIRING_DAYS}")
        engine = ctx.engine
        engine.store.sync(None)
        cache = cache_for(engine.store, engine.policy)
        report = cache.result(Question(at or cache.pinned_now(ctx.now, days), GroupBy(by.value), days))
        assert isinstance(report, CoverageReport)
        return CoverageReportType.of(report)

    @strawberry.field(
        description="Coverage at two times and the change between them (per group; suppression applied to both and to the "
        "difference, so no small change can be recovered). Staff, analysts, admins."
    )
    def coverage_comparison(
        self,
        info: Info[Context, None],
        by: CoverageGroup,
        compare: Annotated[datetime, strawberry.argument(description="The other time (earlier or later than `at`).")],
        at: Annotated[datetime | None, strawberry.argument(description="One time (default: now).")] = None,
        expiring_within_days: Annotated[
            int | None,
            strawberry.argument(description=f"Window of the 'expiring' tables, in days after each time (0..{MAX_EXPIRING_DAYS}; null: 30)"),
        ] = 30,
    ) -> CoverageComparisonType:
        ctx = info.context
        require(may_see_aggregates(ctx.principal))
        days = 30 if expiring_within_days is None else expiring_within_days
        if not 0 <= days <= MAX_EXPIRING_DAYS:
            raise BadInput(f"expiringWithinDays must be in 0..{MAX_EXPIRING_DAYS}")
        engine = ctx.engine
        engine.store.sync(None)
        cache = cache_for(engine.store, engine.policy)
        result = cache.result(Question(at or cache.pinned_now(ctx.now, days), GroupBy(by.value), days, compare))
        assert isinstance(result, CoverageComparison)
        return CoverageComparisonType.of(result)

    @strawberry.field(
        description="The partner network at a time (default: now): partners, programs, communities and schools with suppressed "
        "student counts; optionally only the part around a community and/or a program. Staff, analysts, admins."
    )
    def partner_network(
        self,
        info: Info[Context, None],
        at: datetime | None = None,
        community: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this community, its schools, the programs serving it and their partners."),
        ] = None,
        program: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this program, its partners, the communities it serves and their schools."),
        ] = None,
    ) -> PartnerNetworkType:
        ctx = info.context
        require(may_see_aggregates(ctx.principal))
        engine = ctx.engine
        engine.store.sync(None)
        cache = cache_for(engine.store, engine.policy)
        when = at or cache.pinned_now(ctx.now)
        G = cache.network(when)  # per consistency token: a repeat until the next write is a lookup
        keep = focus(G, str(community) if community is not None else None, str(program) if program is not None else None)
        return network_view(G, when, keep)
