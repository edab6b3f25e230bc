"""Request limits that hold before GraphQL sees anything: body size, JSON shape.

`BodyLimit` is pure ASGI middleware: it refuses a declared Content-Length over the limit
without reading, and otherwise reads the body in chunks, stopping (413) as soon as the
limit is passed, so a huge body never reaches a parser. `parse_json_body` refuses
invalid UTF-8, lone surrogates, non-finite numbers and nesting deeper than allowed.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RequestRefused
from loaders.base import has_float

__all__ = ["BodyLimit", "RequestRefused", "error_response", "parse_json_body"]

_SURROGATE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A GraphQL-shaped error body (no ``data``: nothing was executed)."""
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status, headers=headers)


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, reading no more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit() or len(declared) > 12:
                await error_response(400, "BAD_REQUEST", "malformed Content-Length")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        data = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "BODY_TOO_LARGE", f"request body over {self.max_bytes} bytes", {"Connection": "close"})
        await response(scope, receive, send)


_REREAD: Final = object()


def _read_fast(raw: bytes | str) -> Any:
    """The body read by orjson (a few times faster than the json module); `_REREAD` when orjson
    refuses it or its value holds a float (orjson reads an integer past 64 bits as one, and
    keeps NaN out only by refusing it)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _REREAD
    return _REREAD if has_float(value) else value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_body(raw: bytes | str, max_depth: int, max_list: int | None = None, what: str = "the body") -> Any:
    """Decode a JSON request body strictly (`what` names it in messages: a GET's ``'variables' parameter``).

    Raises
    ------
    RequestRefused
        400 BAD_REQUEST: invalid UTF-8, a lone surrogate escape, NaN/Infinity, malformed
        JSON, or nesting deeper than `max_depth`; 400 BATCH_TOO_LARGE: an array longer
        than `max_list` (refused before GraphQL coerces thousands of inputs).
    """
    value = _read_fast(raw)
    if value is _REREAD:
        # What orjson refused (or read with a float) is read by the json module, whose refusals have our messages.
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as err:
            raise RequestRefused(400, "BAD_REQUEST", f"{what} is not valid UTF-8") from err
        try:
            value = json.loads(text, parse_constant=_no_constants)
        except RecursionError as err:
            raise RequestRefused(400, "BAD_REQUEST", f"JSON nested deeper than {max_depth} levels") from err
        except ValueError as err:
            raise RequestRefused(400, "BAD_REQUEST", f"{what} is not valid JSON") from err
        check_strings = _SURROGATE.search(text) is not None
    else:
        check_strings = False  # orjson refuses invalid UTF-8 and lone surrogates
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise RequestRefused(400, "BAD_REQUEST", f"JSON nested deeper than {max_depth} levels")
            if max_list is not None and isinstance(item, list) and len(item) > max_list:
                raise RequestRefused(400, "BATCH_TOO_LARGE", f"at most {max_list} items in a list; got {len(item)}")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list) or (check_strings and isinstance(c, str)))
            if check_strings and isinstance(item, dict):
                stack.extend((k, depth) for k in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as err:
                raise RequestRefused(400, "BAD_REQUEST", "a string holds a lone surrogate (not valid Unicode)") from err
    return value
