"""A decision is a value: outcome, every reason, released categories, the path, the evidence.

It can be replayed: ``decide(d.evidence, d.request, policy) == d`` for the policy whose
version it records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from graph.evidence import Evidence
from graph.model import Edge
from graph.reasons import MESSAGES, SUBJECT, Reason
from graph.timeutil import check_instant, to_iso
from graph.valuetuple import dataclass_fields

__all__ = ["CheckRequest", "Condition", "Decision", "Outcome", "PathStep", "ReasonDetail"]


class Outcome(StrEnum):
    """ALLOW: everything asked is released; PARTIAL: some categories are; DENY: nothing is."""

    ALLOW = "allow"
    PARTIAL = "partial"
    DENY = "deny"


class Condition(StrEnum):
    """The four conditions of DOMAIN.md ("The setting"), plus employment which condition 2 implies."""

    CONSENT = "consent"
    AGREEMENT_AND_TRAINING = "agreement_and_training"
    EMPLOYMENT = "employment"
    COMMUNITY = "community"
    NEED_TO_KNOW = "need_to_know"


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """May `provider_id` see `student_id`'s record at `at`, for `purpose`, these `categories`?

    ``at`` is aware (converted to UTC). ``purpose`` None: the consent's purposes are not
    matched (the answer covers any purpose a consent names). ``categories`` None: ask for
    every category; the answer releases consent ∩ need.

    Raises
    ------
    NaiveDatetimeError
        `at` is naive.
    InvalidTime
        `at` is outside ``[MIN_INSTANT, MAX_INSTANT)`` (graph/timeutil.py).
    """

    provider_id: str
    student_id: str
    at: datetime
    purpose: str | None = None
    categories: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", check_instant(self.at))
        if self.categories is not None:
            object.__setattr__(self, "categories", frozenset(self.categories))


# The records a decision builds are named tuples, not frozen dataclasses: a decision builds
# several, and a frozen dataclass sets each field through ``object.__setattr__`` (a 4-field one
# costs ~0.77 µs to build, a named tuple ~0.28 µs, ~0.16 µs through ``tuple.__new__``). They stay
# immutable, pickle, compare and hash as the dataclasses did (by value, equal only to their own
# class), and keep the dataclass field table (`graph.valuetuple`).


@dataclass_fields()
class ReasonDetail(NamedTuple):
    """One failing reason: its code, message, the condition and whose facts it is about, the ids involved.

    ``category`` is set for category-level reasons; ``ref`` names the record (a consent id,
    a course id) the reason is about, when there is one. ``condition`` is the condition the
    reason is about; None for reasons about the request (unknown ids, audit).
    """

    code: Reason
    ref: str | None = None
    category: str | None = None
    condition: Condition | None = None

    @property
    def message(self) -> str:
        """Plain-English message of the code."""
        return MESSAGES[self.code]

    @property
    def subject(self) -> str:
        """ "student", "provider" or "request": whose facts the reason discloses."""
        return SUBJECT[self.code]


@dataclass_fields()
class PathStep(NamedTuple):
    """The edges (the records themselves: id, kind, endpoints, interval) that satisfied one condition."""

    condition: Condition
    edges: tuple[Edge, ...]


@dataclass_fields(evidence=field(compare=False, repr=False), consistency_token=field(compare=False))
class Decision(NamedTuple):
    """The answer to a CheckRequest.

    ``reasons`` holds every failing reason in rule order (empty for a full allow);
    ``path`` the edges that satisfied each condition that held; ``released`` the
    categories that may flow (consent ∩ need). ``evidence`` and ``consistency_token`` (the
    store state the evidence was read at, set by the engine; `replay` rebuilds it) take no
    part in ``==`` or ``hash``, and ``evidence`` none in ``repr``.
    """

    request: CheckRequest
    outcome: Outcome
    reasons: tuple[ReasonDetail, ...]
    released: frozenset[str]
    path: tuple[PathStep, ...]
    policy_version: str
    evidence: Evidence
    consistency_token: str | None = None

    def __repr__(self) -> str:
        return (
            f"Decision(request={self.request!r}, outcome={self.outcome!r}, reasons={self.reasons!r}, "
            f"released={self.released!r}, path={self.path!r}, policy_version={self.policy_version!r}, "
            f"consistency_token={self.consistency_token!r})"
        )

    @property
    def allowed(self) -> bool:
        """True for ALLOW and PARTIAL."""
        return self.outcome is not Outcome.DENY

    @property
    def codes(self) -> tuple[Reason, ...]:
        """Distinct reason codes in order."""
        seen: dict[Reason, None] = {}
        for r in self.reasons:
            seen.setdefault(r.code, None)
        return tuple(seen)

    def to_dict(self, *, path_ids_only: bool = False) -> dict[str, Any]:
        """JSON-ready view (the CLI's --json and the record of decisions).

        ``path_ids_only``: the path as edge ids per condition (the record of decisions keeps
        it so; each edge's interval can be read from the journal by id).
        """
        if path_ids_only:
            path: list[dict[str, Any]] = [{"condition": str(s.condition), "edge_ids": [e.id for e in s.edges]} for s in self.path]
        else:
            path = [
                {
                    "condition": str(s.condition),
                    "edges": [
                        {
                            "id": e.id,
                            "type": str(e.kind),
                            "from": e.from_id,
                            "to": e.to_id,
                            "valid_from": to_iso(e.valid_from),
                            "valid_to": to_iso(e.valid_to),
                        }
                        for e in s.edges
                    ],
                }
                for s in self.path
            ]
        return {
            "provider_id": self.request.provider_id,
            "student_id": self.request.student_id,
            "at": to_iso(self.request.at),
            "purpose": self.request.purpose,
            "categories_asked": sorted(self.request.categories) if self.request.categories is not None else None,
            "outcome": str(self.outcome),
            "allowed": self.allowed,
            "released_categories": sorted(self.released),
            "reasons": [
                {"code": str(r.code), "message": r.message, "subject": r.subject, "ref": r.ref, "category": r.category}
                for r in self.reasons
            ],
            "path": path,
            "policy_version": self.policy_version,
            "consistency_token": self.consistency_token,
        }
