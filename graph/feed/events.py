"""An access change: the record the feed keeps and delivers, its stable id and its wire shape.

DOMAIN.md, "Changes of access": provider P, student S, the released categories before and
after, the reasons, the instant it takes effect and the consistency token.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from graph.timeutil import to_iso

__all__ = ["AccessChange", "Cause", "ChangeKind", "event_id"]


class ChangeKind(StrEnum):
    """GRANTED: nothing was released, now something is; REVOKED: the reverse; CHANGED: the released categories differ."""

    GRANTED = "granted"
    REVOKED = "revoked"
    CHANGED = "changed"

    @classmethod
    def of(cls, before: tuple[str, ...], after: tuple[str, ...]) -> ChangeKind:
        """The kind of a change from `before` to `after` (which differ)."""
        if not before:
            return cls.GRANTED
        if not after:
            return cls.REVOKED
        return cls.CHANGED


class Cause(StrEnum):
    """What made the feed look at a pair: a commit, the passing of time, or the feed's first snapshot."""

    WRITE = "write"
    TIME = "time"
    SNAPSHOT = "snapshot"


def event_id(cause: Cause, cause_ref: str, provider_id: str, student_id: str, effective_at: datetime) -> str:
    """A stable id: the same cause, pair and instant always give the same id.

    ``cause_ref`` is the commit's journal sequence number for a write, the instant for time.
    """
    text = "\x00".join((str(cause), cause_ref, provider_id, student_id, effective_at.isoformat()))
    return "ac_" + hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class AccessChange:
    """One access change as stored.

    ``reasons`` are the full reasons of the decision after the change (what the record of
    decisions keeps); ``reasons_redacted`` what a caller without a relationship with the
    student is shown (`graph.disclosure.disclose`). ``partners`` are the partners employing
    the provider just before or at the change, ``guardians`` the student's family with
    standing ``ok`` then (`graph.family.standing`): who may receive it (`graph.feed.audience`). ``position`` orders the
    feed (1, 2, ...); it is 0 until stored.
    """

    id: str
    provider_id: str
    student_id: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    effective_at: datetime
    consistency_token: str
    cause: Cause
    cause_seq: int | None
    recorded_at: datetime
    reasons: tuple[dict[str, Any], ...] = ()
    reasons_redacted: tuple[dict[str, Any], ...] = ()
    partners: tuple[str, ...] = ()
    guardians: tuple[str, ...] = ()
    position: int = field(default=0, compare=False)

    @property
    def kind(self) -> ChangeKind:
        """granted, revoked or changed."""
        return ChangeKind.of(self.before, self.after)

    def to_wire(self, *, full_reasons: bool) -> dict[str, Any]:
        """The JSON object every channel sends (docs/feed.md); `full_reasons` per the audience."""
        return {
            "id": self.id,
            "cursor": str(self.position),
            "type": f"access.{self.kind}",
            "providerId": self.provider_id,
            "studentId": self.student_id,
            "before": {"categories": list(self.before), "allowed": bool(self.before)},
            "after": {"categories": list(self.after), "allowed": bool(self.after)},
            "reasons": list(self.reasons if full_reasons else self.reasons_redacted),
            "effectiveAt": to_iso(self.effective_at),
            "consistencyToken": self.consistency_token,
            "cause": str(self.cause),
            "causeSeq": self.cause_seq,
            "recordedAt": to_iso(self.recorded_at),
        }

    def payload(self, *, full_reasons: bool) -> str:
        """The Standard Webhooks body: ``{"type", "timestamp", "data"}`` as compact JSON."""
        body = {"type": f"access.{self.kind}", "timestamp": to_iso(self.recorded_at), "data": self.to_wire(full_reasons=full_reasons)}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)
