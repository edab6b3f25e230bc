"""The /graphql endpoint: authenticate, read the request, execute, map errors to codes and statuses.

Order of refusals, cheapest first: method (405), content type (415, POST must be
``application/json``), bearer token (401), body (413 in `api.limits.BodyLimit`; 400 for
bad UTF-8 / JSON), request shape (400), then GraphQL parsing and validation with the
limit extensions (400), then execution. Mutations are accepted only by POST.

HTTP status of an executed request: 200 when there is data; when ``data`` is null, the
first error's code decides (FORBIDDEN 403, NOT_FOUND 404, STALE_READ 409,
STORE_UNAVAILABLE 503, INTERNAL 500, any other client error 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import structlog
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from api.config import ApiSettings
from api.errors import CODES, code_for
from api.limits import RequestRefused, error_response, parse_json_body
from api.roles import Principal
from api.schema import MASKED_MESSAGE
from api.schema.context import Context
from api.tokens import AnyTokenStore
from api.web import graphiql_page
from graph.engine import Engine
from graph.timeutil import utcnow

__all__ = ["AppState", "authenticate", "format_result", "graphql_endpoint"]

log = structlog.get_logger("needtoknow.api")

MAX_ERRORS: Final = 20
_SUGGESTION: Final = re.compile(r"\s*Did you mean [^?]*\?")
_STATUS: Final = {"INTERNAL": 500, "STORE_UNAVAILABLE": 503, "FORBIDDEN": 403, "NOT_FOUND": 404, "STALE_READ": 409}


@dataclass(slots=True)
class AppState:
    """What the app holds between requests (``app.state.ntk``)."""

    settings: ApiSettings
    engine: Engine
    tokens: AnyTokenStore
    schema: Schema


def authenticate(request: Request, tokens: AnyTokenStore) -> Principal:
    """The caller of a bearer token.

    Raises
    ------
    RequestRefused
        401 UNAUTHENTICATED: no ``Authorization: Bearer`` header, or an unknown or revoked token.
    """
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    principal = tokens.lookup(secret.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        raise RequestRefused(401, "UNAUTHENTICATED", "a valid bearer token is required")
    return principal


def _classify(error: GraphQLError, pre_execution: bool) -> str:
    ext = error.extensions or {}
    code = ext.get("code")
    if isinstance(code, str) and code in CODES:
        return code
    original = error.original_error
    if isinstance(original, GraphQLError):
        return "GRAPHQL_VALIDATION_FAILED" if pre_execution else "BAD_INPUT"
    if original is not None:
        return code_for(original) or "INTERNAL"
    if error.message == MASKED_MESSAGE:
        return "INTERNAL"
    if not pre_execution:
        return "BAD_INPUT"
    message = error.message
    if (
        "Parsing aborted" in message
        or "Validation aborted" in message
        or "exceeds maximum operation depth" in message
        or "aliases found" in message
    ):
        return "LIMIT_EXCEEDED"
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def format_result(result: ExecutionResult, *, suggestions: bool) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of an execution result; every error gets ``extensions.code``."""
    pre = isinstance(result, PreExecutionError)
    body: dict[str, Any] = {"data": result.data}
    codes: list[str] = []
    if result.errors:
        out = []
        for error in result.errors[:MAX_ERRORS]:
            code = _classify(error, pre)
            if code == "INTERNAL" and error.original_error is not None:
                log.error("internal_error", error=type(error.original_error).__name__)
            item = error.formatted
            message = error.message if code != "INTERNAL" else MASKED_MESSAGE
            item["message"] = message if suggestions else _SUGGESTION.sub("", message)
            item["extensions"] = {**(item.get("extensions") or {}), "code": code}
            out.append(item)
            codes.append(code)
        if len(result.errors) > MAX_ERRORS:
            out.append({"message": f"{len(result.errors) - MAX_ERRORS} more errors not shown", "extensions": {"code": codes[0]}})
        body["errors"] = out
    if pre:
        return (500 if codes and codes[0] == "INTERNAL" else 400), body
    if result.data is None and codes:
        return _STATUS.get(codes[0], 400), body
    return 200, body


def _params_from_get(request: Request, max_depth: int, max_list: int) -> dict[str, Any]:
    params: dict[str, Any] = {"query": request.query_params.get("query")}
    if "operationName" in request.query_params:
        params["operationName"] = request.query_params["operationName"]
    if "variables" in request.query_params:
        params["variables"] = parse_json_body(request.query_params["variables"], max_depth, max_list)
    return params


def _shape(payload: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if isinstance(payload, list):
        raise RequestRefused(400, "BAD_REQUEST", "batched operations are not supported; use checkMany")
    if not isinstance(payload, dict):
        raise RequestRefused(400, "BAD_REQUEST", "the body must be a JSON object with a 'query'")
    query, variables, name = payload.get("query"), payload.get("variables"), payload.get("operationName")
    if not isinstance(query, str) or not query:
        raise RequestRefused(400, "BAD_REQUEST", "'query' must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        raise RequestRefused(400, "BAD_REQUEST", "'variables' must be an object")
    if name is not None and not isinstance(name, str):
        raise RequestRefused(400, "BAD_REQUEST", "'operationName' must be a string")
    return query, variables, name


async def graphql_endpoint(request: Request) -> Response:
    """POST (queries and mutations, JSON) and GET (queries only) on /graphql."""
    state: AppState = request.app.state.ntk
    settings = state.settings
    try:
        if request.method == "GET":
            accepts_html = "text/html" in request.headers.get("accept", "")
            if settings.graphiql and accepts_html and "query" not in request.query_params:
                return graphiql_page()
            allowed = {OperationType.QUERY}
        elif request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise RequestRefused(415, "UNSUPPORTED_MEDIA_TYPE", "POST bodies must be application/json")
            allowed = {OperationType.QUERY, OperationType.MUTATION}
        else:
            raise RequestRefused(405, "METHOD_NOT_ALLOWED", "use POST (or GET for queries)")
        principal = authenticate(request, state.tokens)
        if request.method == "GET":
            payload: Any = _params_from_get(request, settings.max_json_depth, settings.max_batch)
        else:
            payload = parse_json_body(await request.body(), settings.max_json_depth, settings.max_batch)
        query, variables, operation_name = _shape(payload)
        context = Context(engine=state.engine, principal=principal, settings=settings, now=utcnow())
        result = await state.schema.execute(
            query, variable_values=variables, context_value=context, operation_name=operation_name, allowed_operation_types=allowed
        )
    except RequestRefused as err:
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        return error_response(err.status, err.code, err.message, headers)
    except InvalidOperationTypeError:
        return error_response(405, "METHOD_NOT_ALLOWED", "mutations are accepted only by POST", {"Allow": "POST"})
    except (MissingQueryError, CannotGetOperationTypeError) as err:
        return error_response(400, "BAD_REQUEST", str(err) or "no operation to run")
    status, body = format_result(result, suggestions=settings.introspection_enabled)
    return JSONResponse(body, status_code=status)
