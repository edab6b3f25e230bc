"""Whole GraphQL answers to aggregate questions, kept per consistency token (envelop's useResponseCache, narrowed).

The per-token caches of `graph.analytics.cache` make computing a repeated aggregate a
lookup, but graphql-core still builds and completes every object of the answer on each
request: about 200 ms for ``partnerNetwork`` at 170,000 students. `ResponseCache` keeps
the serialized JSON body of a successful answer instead, so a repeat costs a parse of the
document, a sync of the store and a dictionary lookup.

What is cached: a query (never a mutation or subscription) whose root selections are all
fields of `AGGREGATE_FIELDS` (coverage, coverageComparison, partnerNetwork,
networkOverview, and ``__typename``), named directly (no fragment at the root), answered
with no error. Nothing that touches individual-level data or the record of disclosures is
an aggregate field, so it is never cached here.

The key (`Key`) is everything an answer depends on:

- the store's consistency token after syncing (a write in any process moves it, so the
  next request misses; nothing is invalidated by hand) and the policy version;
- the caller's audience (`Audience`: role and partner ids), so callers whose aggregates
  could be scoped differently never share an entry;
- the SHA-256 of the printed document (whitespace and comments normalised), the operation
  name and the variables as canonical JSON;
- the instant a question about "now" is answered for (`CoverageCache.pinned_now`: kept
  until the next write or the next instant at which a figure may change), unless every
  aggregate field names its ``at`` explicitly.

Entries are bytes, evicted least recently used past `ResponseCache.max_bytes`. Rate limits
and aggregate budgets are charged before the cache is asked (`api.http`), so a hit costs
the caller the same budget as a computation.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    print_ast,
)

from api.roles import Principal

__all__ = ["AGGREGATE_FIELDS", "Audience", "CacheableQuery", "Key", "ResponseCache", "cacheable_query"]

AGGREGATE_FIELDS: Final = frozenset({"coverage", "coverageComparison", "partnerNetwork", "networkOverview"})
"""Root query fields whose answers depend only on the store's state, the policy, the arguments and the audience."""

@dataclass(frozen=True, slots=True)
class Audience:
    """Who an aggregate answer is for: the role and the partners a token acts for (order-free)."""

    role: str
    partner_ids: tuple[str, ...]

    @classmethod
    def of(cls, principal: Principal) -> Audience:
        """The audience of `principal` (its subject and token id play no part in an aggregate)."""
        return cls(str(principal.role), tuple(sorted(set(principal.partner_ids))))


@dataclass(frozen=True, slots=True)
class CacheableQuery:
    """A document whose chosen operation asks only aggregate fields."""

    digest: str
    """SHA-256 (hex) of the printed document."""
    asks_now: bool
    """True unless every aggregate field has a non-null ``at``, as a literal or a given variable."""


@dataclass(frozen=True, slots=True)
class Key:
    """Everything a cached answer depends on (module docstring)."""

    token: str
    policy_version: str
    pinned: datetime | None
    audience: Audience
    digest: str
    operation_name: str | None
    variables: str


def _at_given(field: FieldNode, variables: Mapping[str, Any]) -> bool:
    for arg in field.arguments or ():
        if arg.name.value != "at":
            continue
        if isinstance(arg.value, VariableNode):
            return variables.get(arg.value.name.value) is not None
        return not isinstance(arg.value, NullValueNode)
    return False


def cacheable_query(query: str, operation_name: str | None, variables: Mapping[str, Any], max_tokens: int) -> CacheableQuery | None:
    """The cache's view of a request, or None when its answer must not be cached (or the document does not parse).

    None for: a mutation or subscription; a root selection that is not a field of
    `AGGREGATE_FIELDS` or ``__typename`` (a fragment at the root included); no aggregate
    field at all; no single operation matching `operation_name`.
    """
    try:
        document: DocumentNode = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name is not None and o.name.value == operation_name)]
    if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
        return None
    fields: list[FieldNode] = []
    for selection in chosen[0].selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None
        name = selection.name.value
        if name in AGGREGATE_FIELDS:
            fields.append(selection)
        elif name != "__typename":
            return None
    if not fields:
        return None
    digest = hashlib.sha256(print_ast(document).encode()).hexdigest()
    return CacheableQuery(digest, not all(_at_given(f, variables) for f in fields))


def canonical_variables(variables: Mapping[str, Any] | None) -> str:
    """Variables as JSON with sorted keys and no spaces (equal maps, equal text)."""
    return json.dumps(variables or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ResponseCache:
    """Serialized answers by `Key`, least recently used evicted past `max_bytes` (thread-safe).

    Parameters
    ----------
    max_bytes : int
        Total size of the kept bodies, in bytes; a body larger than this is not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(
        self,
        q: CacheableQuery,
        *,
        token: str,
        policy_version: str,
        pinned: datetime | None,
        principal: Principal,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> Key:
        """The key of a request whose store was synced to `token`; `pinned` is the instant a
        question about "now" is answered for (None when every field names its time)."""
        when = pinned if q.asks_now else None
        return Key(token, policy_version, when, Audience.of(principal), q.digest, operation_name, canonical_variables(variables))

    def get(self, key: Key) -> bytes | None:
        """The kept body for `key`, or None (counted as a hit or a miss)."""
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Key, body: bytes) -> None:
        """Keep `body` for `key`, evicting the least recently used entries to stay within `max_bytes`."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._entries[key] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    @property
    def size(self) -> tuple[int, int]:
        """(entries, bytes) kept now."""
        with self._lock:
            return len(self._entries), self._bytes
