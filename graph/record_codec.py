"""The lean record of a decision: what was asked and answered, and references into the journal.

DOMAIN.md ("Record of requests and disclosures") lets the evidence be kept as references
rather than copies, provided a replay from the journal reproduces the full decision. A
record therefore holds what was asked (provider, student, time asked about, purpose,
categories, who asked and when), what was answered (outcome, every reason with the record
it is about, released categories, the path as edge ids, policy version) and the
consistency token the evidence was read at. The evidence itself is
``gather_evidence(provider, student)`` on the journal as of that token (`graph.replay`);
the path and each reason's ``ref`` name the edges and states that decided it.

A `Lean` is a tuple of plain values (strings, integers, None, tuples) in a fixed order, so
both stores of the record encode it the same way: `pack` gives its canonical bytes
(MessagePack), `to_body` the JSON-ready record body that `AuditLog.get` returns (the same
keys as before, the evidence summary replaced by its reference). Times are integers of
microseconds since 1970-01-01T00:00Z (exact, unlike floats).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgpack

from graph.decision import Decision
from graph.reasons import MESSAGES, SUBJECT, Reason
from graph.timeutil import to_iso

__all__ = ["EPOCH", "FORMAT", "Lean", "from_us", "lean", "map_strings", "pack", "to_body", "to_us", "unpack"]

FORMAT: Final = 1
"""Version of the tuple layout below; a new layout gets a new number, old records keep theirs."""

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Lean = tuple[Any, ...]
"""``(format, provider, student, at_us, request_us, decided_us, caller, purpose, categories_asked,
outcome, released, reasons, path, policy_version, token)`` where ``caller`` is ``(role, subject,
application, partners)``, ``reasons`` ``((code, ref, category), ...)`` and ``path``
``((condition, (edge_id, ...)), ...)``; absent values are None."""


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """The aware UTC datetime `value` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=value)


def lean(d: Decision, caller: tuple[str, str | None, str | None, tuple[str, ...]], requested: datetime, decided: datetime) -> Lean:
    """The lean record of decision `d`, asked by `caller` at `requested`, recorded at `decided` (aware)."""
    req = d.request
    return (
        FORMAT,
        req.provider_id,
        req.student_id,
        to_us(req.at),
        to_us(requested),
        to_us(decided),
        caller,
        req.purpose,
        tuple(sorted(req.categories)) if req.categories is not None else None,
        d.outcome.value,
        tuple(sorted(d.released)),
        tuple((r.code.value, r.ref, r.category) for r in d.reasons),
        tuple((s.condition.value, tuple(e.id for e in s.edges)) for s in d.path),
        d.policy_version,
        d.consistency_token,
    )


_PACKERS = threading.local()


def pack(record: Lean) -> bytes:
    """Canonical bytes of a lean record (MessagePack; tuples and lists as arrays)."""
    packer = getattr(_PACKERS, "packer", None)
    if packer is None:  # one Packer per thread: it keeps a buffer, and making one per call costs a third more
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    return bytes(packer.pack(record))


def unpack(data: bytes) -> Lean:
    """The lean record packed in `data` (arrays back as tuples)."""
    value = _tuples(msgpack.unpackb(data, raw=False, use_list=False))
    assert isinstance(value, tuple)
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def map_strings(record: Lean, f: Callable[[Any], Any]) -> Lean:
    """`record` with every string (and None kept as None) passed through `f`: interning and its inverse.

    Integers (times, the format) are left alone; a numeric consistency token stays a string
    to `f` (the caller decides how to store it).
    """

    def s(v: Any) -> Any:
        return None if v is None else f(v)

    def many(vs: Any) -> Any:
        return None if vs is None else tuple(f(v) for v in vs)

    (fmt, provider, student, at, requested, decided, caller, purpose, asked, outcome, released, reasons, path, policy, token) = record
    role, subject, application, partners = caller
    return (
        fmt,
        f(provider),
        f(student),
        at,
        requested,
        decided,
        (f(role), s(subject), s(application), many(partners)),
        s(purpose),
        many(asked),
        f(outcome),
        many(released),
        tuple((f(code), s(ref), s(cat)) for code, ref, cat in reasons),
        tuple((f(cond), many(edges)) for cond, edges in path),
        f(policy),
        s(token),
    )


def to_body(record: Lean, rid: str) -> dict[str, Any]:
    """The record body as `AuditLog.get` returns it (JSON-ready; the fields `graph.replay` compares).

    Reason messages and subjects are derived from the codes (declared once in
    `graph.reasons`); ``evidence`` is the reference a replay follows.
    """
    (_fmt, provider, student, at, requested, decided, caller, purpose, asked, outcome, released, reasons, path, policy, token) = record
    role, subject, application, partners = caller
    return {
        "id": rid,
        "provider_id": provider,
        "student_id": student,
        "at": to_iso(from_us(at)),
        "purpose": purpose,
        "categories_asked": list(asked) if asked is not None else None,
        "outcome": outcome,
        "allowed": outcome != "deny",
        "released_categories": list(released),
        "reasons": [
            {"code": code, "message": MESSAGES[Reason(code)], "subject": SUBJECT[Reason(code)], "ref": ref, "category": cat}
            for code, ref, cat in reasons
        ],
        "path": [{"condition": cond, "edge_ids": list(edges)} for cond, edges in path],
        "policy_version": policy,
        "consistency_token": token,
        "request_time": to_iso(from_us(requested)),
        "decision_time": to_iso(from_us(decided)),
        "asked_by": {"role": role, "subject": subject, "application": application, "partners": list(partners or ())},
        "evidence": {"consistency_token": token, "provider_id": provider, "student_id": student, "at": to_iso(from_us(at))},
    }
