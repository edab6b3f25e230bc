"""The /graphql endpoint, following the GraphQL-over-HTTP specification (docs/api.md, "Statuses").

Refusals before GraphQL runs, cheapest first (each a `RequestRefused`, body
``{"errors": [...]}`` with ``extensions.code``): method (405), Accept (406 when neither
``application/graphql-response+json`` nor ``application/json`` is acceptable), content
type (415, POST must be ``application/json``), bearer token (401, read by Starlette's
`AuthenticationMiddleware` with `BearerTokens`), body (413 in `api.limits.BodyLimit`; 400
for bad UTF-8 / JSON), request shape (400: ``query`` a non-empty string, ``variables``
and ``extensions`` maps, ``operationName`` a string). Mutations only by POST.

Then GraphQL runs. Its answer is sent in the media type the client accepts:

- ``application/graphql-response+json``: a *request error* (parse, validation, a limit,
  variable coercion: no ``data`` entry) is 400; an executed operation is 200 whatever its
  errors (``data`` present, possibly null).
- ``application/json`` (legacy clients; also for ``*/*`` or no Accept): 200 for every
  well-formed request, as the specification asks, with the same bodies.

In both, two codes keep a 5xx status because they are the server's fault, not the
request's: ``INTERNAL`` 500 (a bug; the message is masked) and ``STORE_UNAVAILABLE`` 503.

Errors are told apart by type (`LimitExceeded`, graphql-core's `ValidationAbortedError`
(its validation work budget), `GraphQLSyntaxError`, the original
exception's class through `api.errors.code_for`, the masked error's own code), never by
matching the text of a library's message.

Why not a subclass of strawberry's ASGI view (``strawberry.asgi.GraphQL``): it answers
request errors as ``text/plain`` from ``cross_web.HTTPException`` raised deep in
``run``; its ``create_response`` never sees the request, so it cannot choose the media
type or the status from the Accept header; and its body parsing (``json.loads`` on any
content type containing ``application/json``) would have to be replaced by our strict
one. Overriding ``__call__``, ``parse_http_body``, ``execute_single``, ``process_result``
and ``create_response`` would leave nothing of the view but its name, so this module
calls ``Schema.execute`` directly, as the view does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
import structlog
from graphql import GraphQLError, GraphQLSyntaxError
from graphql.validation.validate import ValidationAbortedError
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from api.auth.jwt import looks_like_jwt
from api.auth.session import session_principal
from api.config import ApiSettings
from api.errors import CODES, LimitExceeded, RequestRefused, code_for
from api.lean import answer
from api.limits import parse_json_body
from api.observability.requests import OPERATION_KEY
from api.operation import operation_fields, operation_label
from api.response_cache import AGGREGATE_FIELDS, CacheableQuery, Key, ResponseCache, cacheable_query
from api.roles import Principal
from api.schema.context import Context
from api.tokens import AnyTokenStore
from api.web import graphiql_page
from graph.analytics.cache import cache_for
from graph.engine import Engine
from graph.errors import NeedToKnowError
from graph.timeutil import utcnow

if TYPE_CHECKING:
    from api.auth.jwt import JwtVerifier
    from api.ratelimit import Limiter

__all__ = [
    "GRAPHQL_RESPONSE_JSON",
    "AppState",
    "BearerTokens",
    "PrincipalUser",
    "format_result",
    "graphql_endpoint",
    "negotiate",
    "principal_of",
    "refusal",
]

log = structlog.get_logger("needtoknow.api")

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
MAX_ERRORS: Final = 20
_SUGGESTION: Final = re.compile(r"\s*Did you mean [^?]*\?")
_SERVER_FAULT: Final = {"INTERNAL": 500, "STORE_UNAVAILABLE": 503}
_LEAN_FIELDS: Final = frozenset({("check",), ("checkMany",)})


@dataclass(slots=True)
class AppState:
    """What the app holds between requests (``app.state.ntk``)."""

    settings: ApiSettings
    engine: Engine
    tokens: AnyTokenStore
    schema: Schema
    jwt: JwtVerifier | None = None
    limiter: Limiter | None = None
    responses: ResponseCache | None = None
    """Whole answers to aggregate questions per consistency token (`api.response_cache`); None: off."""
    extras: dict[str, Any] = field(default_factory=dict)


class PrincipalUser(BaseUser):
    """Starlette's user for an authenticated bearer token."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        """Always True: only a valid token makes one."""
        return True

    @property
    def display_name(self) -> str:
        """The token's subject (or its id)."""
        return self.principal.subject or self.principal.token_id


class BearerTokens(AuthenticationBackend):
    """The caller of a request; None (unauthenticated) when there is none.

    ``Authorization: Bearer ntk_...``: an own token (`api.tokens`); ``Bearer <JWT>``: an access
    token of the identity provider (`api.auth.jwt`, when configured); no Authorization
    header: the web session cookie with its CSRF header (`api.auth.web`). Never raises: an
    unknown, revoked, expired or malformed credential is simply not authenticated, and the
    endpoints that need a caller answer 401.
    """

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        """Look the secret up in the token table (only its SHA-256 is stored), or verify the JWT, or read the session."""
        state: AppState | None = getattr(conn.app.state, "ntk", None)
        header = conn.headers.get("authorization")
        if state is None:
            return None
        if header is None:
            principal = session_principal(conn)
        else:
            scheme, _, secret = header.partition(" ")
            secret = secret.strip()
            if scheme.lower() != "bearer":
                return None
            if state.jwt is not None and looks_like_jwt(secret):
                principal = await run_in_threadpool(state.jwt.verify, secret)
            else:
                principal = state.tokens.lookup(secret)
        if principal is None:
            return None
        return AuthCredentials(["authenticated", str(principal.role)]), PrincipalUser(principal)


def principal_of(request: Request) -> Principal:
    """The authenticated caller of `request`.

    Raises
    ------
    RequestRefused
        401 UNAUTHENTICATED: no valid ``Authorization: Bearer`` token.
    """
    user = request.scope.get("user")
    if not isinstance(user, PrincipalUser):
        raise RequestRefused(401, "UNAUTHENTICATED", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    return user.principal


def negotiate(accept: str) -> str | None:
    """The response media type for an Accept header: GRAPHQL_RESPONSE_JSON or JSON; None if neither is acceptable.

    No Accept, ``*/*`` and ``application/*`` mean JSON (the specification's legacy rule);
    between the two named types the higher quality wins, and on a tie
    ``application/graphql-response+json``.
    """
    if not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if q <= 0:
            continue
        if media == GRAPHQL_RESPONSE_JSON:
            choice = (q, 2, GRAPHQL_RESPONSE_JSON)
        elif media == JSON:
            choice = (q, 1, JSON)
        elif media in ("*/*", "application/*"):
            choice = (q, 0, JSON)
        else:
            continue
        if best is None or choice[:2] > best[:2]:
            best = choice
    return best[2] if best else None


def render_json(body: dict[str, Any]) -> bytes:
    """A response body as compact UTF-8 JSON (as Starlette's ``JSONResponse`` writes it), by orjson:
    a checkMany of 1,000 decisions in a fraction of the json module's time. A value orjson cannot
    write (an integer past 64 bits) is written by the json module."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _json(body: dict[str, Any], status: int, media: str, headers: dict[str, str] | None = None) -> Response:
    return Response(render_json(body), status_code=status, headers=headers, media_type=f"{media}; charset=utf-8")


def refusal(err: RequestRefused, media: str = JSON) -> Response:
    """The response to a request refused before GraphQL ran (no ``data`` entry)."""
    body = {"errors": [{"message": err.message, "extensions": {"code": err.code}}]}
    return _json(body, err.status, media, err.headers)


def _code(error: GraphQLError, request_error: bool, pre: bool) -> str:
    """The public code of one error, by its type (and the type of what caused it)."""
    if isinstance(error, LimitExceeded | ValidationAbortedError):  # ours, or graphql-core's validation budget
        return "LIMIT_EXCEEDED"
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    code = (error.extensions or {}).get("code")
    if isinstance(code, str) and code in CODES:
        return code
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return code_for(original) or "INTERNAL"
    if pre:
        return "GRAPHQL_VALIDATION_FAILED"
    return "BAD_INPUT"  # variable coercion, or a value refused while executing


def format_result(result: ExecutionResult, *, media: str = JSON, suggestions: bool = False) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of an execution result; every error gets ``extensions.code``.

    A request error (refused before execution, or variables that could not be coerced:
    no error has a ``path``) has no ``data`` entry.
    """
    pre = isinstance(result, PreExecutionError)
    errors = result.errors or []
    request_error = pre or (result.data is None and bool(errors) and all(e.path is None for e in errors))
    body: dict[str, Any] = {} if request_error else {"data": result.data}
    codes: list[str] = []
    if errors:
        out = []
        for error in errors[:MAX_ERRORS]:
            code = _code(error, request_error, pre)
            if code == "INTERNAL" and error.original_error is not None:
                log.error("internal_error", error=type(error.original_error).__name__)
            item = error.formatted
            message = error.message if code != "INTERNAL" else "Unexpected error."
            item["message"] = message if suggestions else _SUGGESTION.sub("", message)
            item["extensions"] = {**(item.get("extensions") or {}), "code": code}
            out.append(item)
            codes.append(code)
        if len(errors) > MAX_ERRORS:
            out.append({"message": f"{len(errors) - MAX_ERRORS} more errors not shown", "extensions": {"code": codes[0]}})
        body["errors"] = out
    fault = next((_SERVER_FAULT[c] for c in codes if c in _SERVER_FAULT), None)
    if fault is not None and (request_error or result.data is None):
        return fault, body
    if request_error and media == GRAPHQL_RESPONSE_JSON:
        return 400, body
    return 200, body


def _params_from_get(request: Request, max_depth: int, max_list: int) -> dict[str, Any]:
    params: dict[str, Any] = {"query": request.query_params.get("query")}
    if "operationName" in request.query_params:
        params["operationName"] = request.query_params["operationName"]
    for key in ("variables", "extensions"):
        if request.query_params.get(key):
            params[key] = parse_json_body(request.query_params[key], max_depth, max_list, what=f"the {key!r} parameter")
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
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestRefused(400, "BAD_REQUEST", "'extensions' must be an object")
    return query, variables, name


async def graphql_endpoint(request: Request) -> Response:
    """POST (queries and mutations, JSON) and GET (queries only) on /graphql."""
    state: AppState = request.app.state.ntk
    settings = state.settings
    media = JSON
    try:
        if request.method == "GET":
            accept = request.headers.get("accept", "")
            if settings.graphiql and "text/html" in accept and "query" not in request.query_params:
                return graphiql_page()
            allowed = {OperationType.QUERY}
        elif request.method == "POST":
            allowed = {OperationType.QUERY, OperationType.MUTATION}
        else:
            raise RequestRefused(405, "METHOD_NOT_ALLOWED", "use POST (or GET for queries)", {"Allow": "GET, POST"})
        negotiated = negotiate(request.headers.get("accept", ""))
        if negotiated is None:
            raise RequestRefused(406, "NOT_ACCEPTABLE", f"answers are {GRAPHQL_RESPONSE_JSON} or {JSON}")
        media = negotiated
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != JSON:
                raise RequestRefused(415, "UNSUPPORTED_MEDIA_TYPE", "POST bodies must be application/json")
        principal = principal_of(request)
        if request.method == "GET":
            payload: Any = _params_from_get(request, settings.max_json_depth, settings.max_batch)
        else:
            payload = parse_json_body(await request.body(), settings.max_json_depth, settings.max_batch)
        query, variables, operation_name = _shape(payload)
        fields = operation_fields(query, operation_name, settings.max_tokens)
        request.scope.setdefault("state", {})[OPERATION_KEY] = operation_label(fields, state.schema)  # metrics' label
        if state.limiter is not None:
            state.limiter.admit(principal, fields)  # charged on a cache hit too
        now = utcnow()
        # Only a document with an aggregate root field can be cached: the others (every check) skip a second parse.
        may_cache = state.responses is not None and not AGGREGATE_FIELDS.isdisjoint(fields)
        cacheable = cacheable_query(query, operation_name, variables or {}, settings.max_tokens) if may_cache else None
        # In a thread: pinning "now" may read the state's instants once per token (seconds at 170k).
        cached = None
        if cacheable is not None:
            cached = await run_in_threadpool(_cache_key, state, cacheable, operation_name, variables, principal, now)
        hit = state.responses.get(cached) if cached is not None and state.responses is not None else None
        if hit is not None:
            return Response(hit, media_type=f"{media}; charset=utf-8")
        context = Context(engine=state.engine, principal=principal, settings=settings, now=now)
        if fields in _LEAN_FIELDS and OperationType.QUERY in allowed:
            # check / checkMany without strawberry's per-item conversion: the same body (api/lean.py).
            lean = answer(query, variables, operation_name, context, settings)
            if lean is not None:
                return _json(lean, 200, media)
        result = await state.schema.execute(
            query, variable_values=variables, context_value=context, operation_name=operation_name, allowed_operation_types=allowed
        )
    except RequestRefused as err:
        return refusal(err, media)
    except InvalidOperationTypeError:
        return refusal(RequestRefused(405, "METHOD_NOT_ALLOWED", "mutations are accepted only by POST", {"Allow": "POST"}), media)
    except (MissingQueryError, CannotGetOperationTypeError) as err:
        return refusal(RequestRefused(400, "BAD_REQUEST", str(err) or "no operation to run"), media)
    status, body = format_result(result, media=media, suggestions=settings.introspection_enabled)
    kept = cached is not None and status == 200 and "errors" not in body and body.get("data") is not None
    # Kept only if no write moved the token while the answer was computed (it would be of the newer state).
    if kept and cached is not None and state.responses is not None and _token_unmoved(state, cached.token):
        data = render_json(body)
        state.responses.put(cached, data)
        return Response(data, media_type=f"{media}; charset=utf-8")
    return _json(body, status, media)


def _token_unmoved(state: AppState, token: str) -> bool:
    """True when no write (by anyone) committed since `token` was read; False if the store cannot tell."""
    try:
        return state.engine.store.latest_token() == token
    except NeedToKnowError:
        return False


def _cache_key(
    state: AppState, q: CacheableQuery, operation_name: str | None, variables: dict[str, Any] | None, principal: Principal, now: datetime
) -> Key | None:
    """The response cache's key of an aggregate-only query (`api.response_cache`); None when the store cannot say."""
    if state.responses is None:
        return None
    try:
        # Another process's or instance's write moves the token: the next answer is computed afresh.
        token = state.engine.store.latest_token()
        # A question about "now" is answered for the instant pinned at the token (the resolvers ask the same).
        pinned = cache_for(state.engine.store, state.engine.policy).pinned_now(now) if q.asks_now else None
    except NeedToKnowError:
        return None  # execution meets the same failure and answers it with its code
    return state.responses.key(
        q,
        token=token,
        policy_version=state.engine.policy.version,
        pinned=pinned,
        principal=principal,
        operation_name=operation_name,
        variables=variables,
    )
