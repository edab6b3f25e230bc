"""Aggregates: coverage measures, the partner network, and the suppression every output passes.

Public surface (for the CLI, GraphQL resolvers and the web page):

- `coverage(store, at, by, policy, expiring_days=...) -> CoverageReport` (suppressed)
- `compare(store, at, other, by, policy) -> CoverageComparison` (two times and the change, suppressed together)
- `tidy(result) -> Tidy` (long form: CSV, JSON), `to_xlsx(tidy)` (workbook), `cache_for(store, policy)`
- `partner_network(store, at, policy) -> networkx.DiGraph` (suppressed counts, no students)
- `write_network(G, fmt, out)`
- `suppress(table, policy) -> PublishedTable`

`count_coverage` returns exact counts for tests and benchmarks; never show them.
"""

from graph.analytics.cache import CoverageCache, cache_for
from graph.analytics.compare import CoverageComparison, compare
from graph.analytics.coverage import CoverageReport, GroupBy, count_coverage, coverage, gather_coverage_facts
from graph.analytics.network import EXPORT_FORMATS, partner_network, write_network
from graph.analytics.suppression import protect, suppress, suppress_change
from graph.analytics.table import CountTable, PublishedTable

__all__ = [
    "EXPORT_FORMATS",
    "CountTable",
    "CoverageCache",
    "CoverageComparison",
    "CoverageReport",
    "GroupBy",
    "PublishedTable",
    "cache_for",
    "compare",
    "count_coverage",
    "coverage",
    "gather_coverage_facts",
    "partner_network",
    "protect",
    "suppress",
    "suppress_change",
    "write_network",
]
