"""``GET /coverage/data``: published coverage as tidy JSON, CSV or xlsx (staff, analysts, admins).

What the coverage page charts and downloads, and what ``needtoknow coverage --url`` reads.
Answers come from the server's `graph.analytics.cache.CoverageCache`, so a repeated
question at the same consistency token is a lookup.

Query parameters (none is secret; the bearer token travels only in ``Authorization``):

=================  ==========================================================================
``format``         ``json`` (default; `graph.analytics.tidy.Tidy.to_json`), ``csv``, ``xlsx``
``by``             community (default), school, program, partner
``at``             ISO 8601 with offset (default: now)
``compare``        ISO 8601 with offset: also the report at that time and the change
``expiring_days``  0..3660 (default 30)
=================  ==========================================================================

Refusals: 401 without a valid token, 403 for other roles, 400 for a bad parameter (the
body names it), 503 when the store is unavailable. Never a 500 for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.errors import RequestRefused
from api.http import AppState, principal_of
from api.limits import error_response
from api.schema.analytics import MAX_EXPIRING_DAYS, may_see_aggregates
from graph.analytics.cache import Question, cache_for
from graph.analytics.compare import CoverageComparison
from graph.analytics.coverage import CoverageReport, GroupBy
from graph.analytics.tidy import tidy
from graph.analytics.xlsx import to_xlsx
from graph.errors import InputError, StoreUnavailable
from graph.timeutil import parse_datetime, utcnow

__all__ = ["CONTENT_TYPES", "coverage_data", "render"]

CONTENT_TYPES: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(fmt: str) -> Callable[[CoverageReport | CoverageComparison], bytes]:
    """The bytes of a result in `fmt` (json, csv or xlsx)."""
    if fmt == "json":
        return lambda r: json.dumps(tidy(r).to_json(), separators=(",", ":")).encode()
    if fmt == "csv":
        return lambda r: tidy(r).to_csv().encode()
    return lambda r: to_xlsx(tidy(r))


NOW: Final = datetime(1, 1, 1, tzinfo=UTC)
"""Stands for "no `at` given": replaced, once the store is synced, by the cache's instant for now."""


def _time(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return parse_datetime(text)
    except InputError as err:
        raise RequestRefused(400, "BAD_REQUEST", f"{name}: {err}") from err


def _question(request: Request) -> tuple[Question, str]:
    params = request.query_params
    fmt = params.get("format", "json")
    if fmt not in CONTENT_TYPES:
        raise RequestRefused(400, "BAD_REQUEST", f"format: {fmt!r} is not one of json, csv, xlsx")
    try:
        by = GroupBy(params.get("by", "community"))
    except ValueError as err:
        raise RequestRefused(400, "BAD_REQUEST", f"by: {params.get('by')!r} is not one of community, school, program, partner") from err
    days_text = params.get("expiring_days", "30")
    if not days_text.isdigit() or not 0 <= int(days_text) <= MAX_EXPIRING_DAYS:
        raise RequestRefused(400, "BAD_REQUEST", f"expiring_days: must be a whole number in 0..{MAX_EXPIRING_DAYS}")
    at = _time(request, "at") or NOW  # "now" is pinned per token once the store is synced (below)
    return Question(at, by, int(days_text), _time(request, "compare")), fmt


def _filename(q: Question, fmt: str) -> str:
    stamp = q.at.strftime("%Y%m%d")
    since = f"-vs-{q.compare.strftime('%Y%m%d')}" if q.compare is not None else ""
    return f"coverage-{q.by}-{stamp}{since}.{fmt}"


async def coverage_data(request: Request) -> Response:
    """Published coverage for the question in the query string (see the module docstring)."""
    state: AppState = request.app.state.ntk
    try:
        principal = principal_of(request)
        if not may_see_aggregates(principal):
            raise RequestRefused(403, "FORBIDDEN", "coverage is for staff, analysts and admins")
        q, fmt = _question(request)
        if state.limiter is not None:  # api.ratelimit: a comparison computes two reports
            state.limiter.admit(principal, ("coverage_data_compare" if q.compare is not None else "coverage_data",))
        engine = state.engine

        def answer() -> tuple[Question, bytes]:
            engine.store.sync(None)
            cache = cache_for(engine.store, engine.policy)
            asked = replace(q, at=cache.pinned_now(utcnow(), q.expiring_days)) if q.at is NOW else q
            return asked, cache.output(asked, fmt, render(fmt))

        q, body = await run_in_threadpool(answer)
    except RequestRefused as err:
        return error_response(err.status, err.code, err.message, err.headers)
    except InputError as err:
        return error_response(400, "BAD_REQUEST", str(err))
    except StoreUnavailable as err:
        return error_response(503, "STORE_UNAVAILABLE", type(err).__name__)
    headers = {"Cache-Control": "no-store"}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{_filename(q, fmt)}"'
    return Response(body, media_type=CONTENT_TYPES[fmt], headers=headers)
