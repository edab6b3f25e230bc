"""Coverage at two times and the change between them, suppressed together.

``compare(store, at, other, by, policy)`` computes the exact coverage tables at both
times (`count_coverage`) and publishes each pair with
`graph.analytics.suppression.suppress_change`: the earlier table, the later table and
their difference are one system of cells, so within a comparison no count in 1..k-1 and
no change of 1..k-1 students is published or can be recovered from the rest (each
table's own arithmetic, and ``later = earlier + change`` for every cell).

The two reports inside a comparison are often more suppressed than the same reports
asked alone: a small change can only be hidden by hiding one side of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.analytics.coverage import CoverageFacts, CoverageReport, GroupBy, count_coverage, gather_coverage_facts, program_partners
from graph.analytics.suppression import suppress_change
from graph.analytics.table import PublishedTable
from graph.policy import Policy
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware, to_iso

__all__ = ["CoverageComparison", "compare"]


@dataclass(frozen=True, slots=True)
class CoverageComparison:
    """Coverage at two times and the change (later minus earlier), published together.

    ``before`` is the earlier time, ``after`` the later; ``change`` has one table per
    table of the reports, in the same order, whose cells are ``after - before`` (None when
    suppressed) and whose percentages are changes in points.
    """

    before: CoverageReport
    after: CoverageReport
    change: tuple[PublishedTable, ...]

    @property
    def by(self) -> GroupBy:
        """What the rows are."""
        return self.after.by

    def change_table(self, name: str) -> PublishedTable:
        """The change table named `name` (KeyError if absent)."""
        for t in self.change:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: both reports and the change tables."""
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": {"at": to_iso(self.after.at), "since": to_iso(self.before.at), "tables": [t.to_dict() for t in self.change]},
        }


def compare(
    store: GraphStore,
    at: datetime,
    other: datetime,
    by: GroupBy | str = GroupBy.COMMUNITY,
    policy: Policy | None = None,
    *,
    expiring_days: int = 30,
    facts: CoverageFacts | None = None,
    other_facts: CoverageFacts | None = None,
) -> CoverageComparison:
    """Coverage at `at` and at `other`, and the change from the earlier to the later.

    Parameters
    ----------
    store : GraphStore
    at, other : datetime
        Aware; either order (the earlier becomes ``before``). Equal times give zero change.
    by : GroupBy or str
        Rows: community, school, program or partner.
    policy : Policy, optional
        Suppression threshold and rules (defaults to `Policy()`).
    expiring_days : int
        Window of the expiring table, in days after each time.
    facts, other_facts : CoverageFacts, optional
        Facts already gathered at `at` and at `other`.

    Returns
    -------
    CoverageComparison

    Raises
    ------
    NaiveDatetimeError, ValueError
    """
    policy = policy or Policy()
    at, other = ensure_aware(at), ensure_aware(other)
    f_at = facts if facts is not None else gather_coverage_facts(store, at, policy)
    f_other = other_facts if other_facts is not None else gather_coverage_facts(store, other, policy)
    (t0, f0), (t1, f1) = sorted(((at, f_at), (other, f_other)), key=lambda p: p[0])
    by = GroupBy(by)
    tables0 = count_coverage(store, t0, by, policy, expiring_days=expiring_days, facts=f0)
    tables1 = count_coverage(store, t1, by, policy, expiring_days=expiring_days, facts=f1)
    published = [suppress_change(a, b, policy) for a, b in zip(tables0, tables1, strict=True)]
    before = CoverageReport(t0, by, expiring_days, tuple(p[0] for p in published), program_partners(f0))
    after = CoverageReport(t1, by, expiring_days, tuple(p[1] for p in published), program_partners(f1))
    return CoverageComparison(before, after, tuple(p[2] for p in published))
