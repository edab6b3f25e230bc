"""Per-token rate limits and per-role cost budgets for aggregate questions (the `limits` library).

Two limits, both counted per token (own tokens by id, JWT and web-session callers by
subject), each answered ``429 RATE_LIMITED`` with ``Retry-After`` (whole seconds until the
oldest counted request leaves the moving window):

- ``rate_limit``: every authenticated request costs 1 (``NTK_RATE_LIMIT``, default
  ``50/second;1200/minute``).
- ``aggregate_limits``: a role's budget for aggregate questions, which cost `COSTS` each
  (a comparison computes two reports). Roles not listed have none beyond the rate limit.

Counters live in ``rate_limit_storage``: ``memory://`` counts in each worker process (with
``--workers N`` a token gets up to N times the limit); a shared ``redis://`` URI counts
once across workers and instances (docs/operations.md, "Limits").
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from types import MappingProxyType
from typing import Final

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.config import ApiSettings
from api.errors import RequestRefused
from api.observability.metrics import RATE_LIMITED
from api.roles import Principal, Role

__all__ = ["COSTS", "Limiter"]

COSTS: Final = MappingProxyType(
    {
        "coverage": 1,
        "coverageComparison": 2,
        "partnerNetwork": 1,
        "networkOverview": 1,
        "coverage_data": 1,
        "coverage_data_compare": 2,
    }
)
"""Cost of each aggregate question (GraphQL root field, or ``GET /coverage/data``)."""


def _parse(text: str, what: str) -> list[RateLimitItem]:
    try:
        return parse_many(text) if text.strip() else []
    except ValueError as err:
        raise ValueError(f"{what}: {text!r} is not a limit such as '50/second;1200/minute' ({err})") from err


class Limiter:
    """The limits of one server process.

    Raises
    ------
    ValueError
        A limit that does not parse, or a role name that is not a role (at start, naming the setting).
    """

    def __init__(self, settings: ApiSettings) -> None:
        self.strategy = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        self.per_token = _parse(settings.rate_limit, "NTK_RATE_LIMIT")
        budgets: dict[Role, list[RateLimitItem]] = {}
        for role, text in settings.aggregate_limits.items():
            try:
                budgets[Role(role)] = _parse(text, f"NTK_AGGREGATE_LIMITS[{role}]")
            except ValueError as err:
                raise ValueError(f"NTK_AGGREGATE_LIMITS: {err}") from err
        self.budgets = budgets

    def _refuse(self, item: RateLimitItem, scope: str, key: str, limit: str) -> RequestRefused:
        reset = self.strategy.get_window_stats(item, scope, key).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        RATE_LIMITED.labels(limit).inc()
        message = f"{limit} limit of {item} reached; retry in {retry} s"
        return RequestRefused(429, "RATE_LIMITED", message, {"Retry-After": str(retry)})

    def admit(self, principal: Principal, questions: Iterable[str] = ()) -> None:
        """Count one request of `principal` asking `questions` (root fields); refuse it over a limit.

        Raises
        ------
        RequestRefused
            429 RATE_LIMITED with ``Retry-After``.
        """
        key = principal.token_id
        for item in self.per_token:
            if not self.strategy.hit(item, "request", key):
                raise self._refuse(item, "request", key, "request")
        cost = sum(COSTS.get(q, 0) for q in questions)
        if cost:
            for item in self.budgets.get(principal.role, ()):
                if not self.strategy.hit(item, "aggregate", key, cost=cost):
                    raise self._refuse(item, "aggregate", key, "aggregate")
