"""What every write command shares: fingerprints, idempotency, stable ids, running the work.

Idempotency (DESIGN.md, "Writes"): a command given a client-chosen key stores the key, the
fingerprint of its input and its result in the same transaction as its changes. A retry
with the same key and input returns that result (same ids, same consistency token) without
writing again; the same key with another input is `IdempotencyConflict`. Ids the server
makes are derived from the key, so they are stable under retry too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Final

from graph.changes import Change
from graph.errors import InputError
from graph.stores.base import Committed, GraphStore, Idempotency, WriteTx
from graph.timeutil import to_iso

__all__ = ["Committed", "IdMaker", "fingerprint", "run"]

MAX_KEY_LENGTH: Final = 200


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def fingerprint(verb: str, command: Any) -> str:
    """SHA-256 of the verb and the command's fields as given (canonical JSON)."""
    body = {f.name: _plain(getattr(command, f.name)) for f in dataclasses.fields(command)}
    text = json.dumps({"verb": verb, "input": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class IdMaker:
    """Ids for records a command creates: from the idempotency key when there is one
    (stable under retry), else random."""

    def __init__(self, verb: str, key: str | None) -> None:
        self._verb = verb
        self._key = key
        self._n = 0

    def __call__(self, prefix: str) -> str:
        self._n += 1
        if self._key is None:
            return f"{prefix}-{uuid.uuid4().hex[:16]}"
        digest = hashlib.sha256(f"{self._verb}\x00{self._key}\x00{self._n}".encode()).hexdigest()
        return f"{prefix}-{digest[:16]}"


Body = Callable[[WriteTx, IdMaker], tuple[Sequence[Change], Mapping[str, Any]]]


def run(store: GraphStore, verb: str, command: Any, body: Body, *, key: str | None) -> Committed:
    """Run a command's body in one write transaction of `store`, idempotent under `key`.

    Raises
    ------
    InputError
        The key is empty, too long or has control characters.
    PreconditionFailed, ChangeRejected, IdempotencyConflict, StoreUnavailable
    """
    idempotency = None
    if key is not None:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or key != key.strip():
            raise InputError(f"an idempotency key is 1..{MAX_KEY_LENGTH} printable characters without surrounding spaces")
        idempotency = Idempotency(key, fingerprint(verb, command))

    def work(tx: WriteTx) -> tuple[Sequence[Change], Mapping[str, Any]]:
        return body(tx, IdMaker(verb, key))  # a fresh IdMaker per attempt: a retried attempt makes the same ids

    return store.transact(work, idempotency=idempotency)
