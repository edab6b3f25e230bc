"""Aggregates: coverage measures, the partner network, and the suppression every output passes.

Public surface (for the CLI, GraphQL resolvers and the web page):

- `coverage(store, at, by, policy, expiring_days=...) -> CoverageReport` (suppressed)
- `partner_network(store, at, policy) -> networkx.DiGraph` (suppressed counts, no students)
- `write_network(G, fmt, out)`
- `suppress(table, policy) -> PublishedTable`

`count_coverage` returns exact counts for tests and benchmarks; never show them.
"""

from graph.analytics.coverage import CoverageReport, GroupBy, count_coverage, coverage, gather_coverage_facts
from graph.analytics.network import EXPORT_FORMATS, partner_network, write_network
from graph.analytics.suppression import protect, suppress
from graph.analytics.table import CountTable, PublishedTable

__all__ = [
    "EXPORT_FORMATS",
    "CountTable",
    "CoverageReport",
    "GroupBy",
    "PublishedTable",
    "count_coverage",
    "coverage",
    "gather_coverage_facts",
    "partner_network",
    "protect",
    "suppress",
    "write_network",
]
