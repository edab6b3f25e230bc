"""A decision grouped by condition, for a person: what held (with its edges) and what was missing.

Pure: built from a `Decision` alone (as recorded, or as disclosed to a caller), so the
CLI's ``explain`` and the GraphQL ``explain`` field say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from graph.decision import Condition, Decision, ReasonDetail
from graph.model import Edge
from graph.timeutil import to_iso

__all__ = ["REQUIRES", "ConditionReport", "Explained", "explain_decision"]

REQUIRES: Final = MappingProxyType(
    {
        Condition.CONSENT: (
            "a signed, active, unexpired and unrevoked consent, given by a guardian with FERPA rights (or the eligible "
            "student), naming this provider, its organisation or the program, for this purpose and these categories, "
            "with no refusal covering them"
        ),
        Condition.AGREEMENT_AND_TRAINING: (
            "the current version of the data confidentiality agreement, signed and unexpired; the organisation's "
            "data-sharing terms; current training in every required course"
        ),
        Condition.EMPLOYMENT: "current employment at a partner organisation",
        Condition.COMMUNITY: "work, at the time asked about, in a community of the student's school or home",
        Condition.NEED_TO_KNOW: (
            "an active service relationship with the student (directly or through a care team) that needs the categories asked"
        ),
    }
)
"""What each condition requires (DOMAIN.md, "The setting"): said for every unmet condition."""


@dataclass(frozen=True, slots=True)
class ConditionReport:
    """One condition: met (it held: ``edges`` satisfied it) or not; the reasons about it.

    A met condition can still carry category-level reasons (a partial allow: the consent
    held for the released categories, not for the rest).
    """

    condition: Condition
    met: bool
    edges: tuple[Edge, ...]
    reasons: tuple[ReasonDetail, ...]

    @property
    def requires(self) -> str:
        """What the condition requires, in plain English."""
        return REQUIRES[self.condition]


@dataclass(frozen=True, slots=True)
class Explained:
    """Every condition in rule order, and the reasons about the request itself (unknown ids, audit)."""

    decision: Decision
    conditions: tuple[ConditionReport, ...]
    other_reasons: tuple[ReasonDetail, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the decision's own view plus ``conditions`` (met/unmet, evidence, what was missing)."""
        out = self.decision.to_dict()
        out["conditions"] = [
            {
                "condition": str(c.condition),
                "met": c.met,
                "requires": c.requires,
                "evidence": [_edge(e) for e in c.edges],
                "missing": [_reason(r) for r in c.reasons],
            }
            for c in self.conditions
        ]
        out["other_reasons"] = [_reason(r) for r in self.other_reasons]
        return out


def explain_decision(d: Decision) -> Explained:
    """Group `d`'s path and reasons by condition.

    A condition is met when it is on the decision's path (the path lists only conditions
    that held). A decision that was redacted for its caller (DOMAIN.md, "Who may see which
    reasons") has no path, so every condition reads as not shown to be met.
    """
    by_step = {s.condition: s.edges for s in d.path}
    conditions = tuple(
        ConditionReport(
            condition=cond,
            met=cond in by_step,
            edges=by_step.get(cond, ()),
            reasons=tuple(r for r in d.reasons if r.condition is cond),
        )
        for cond in Condition
    )
    return Explained(d, conditions, tuple(r for r in d.reasons if r.condition is None))


def _edge(e: Edge) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": str(e.kind),
        "from": e.from_id,
        "to": e.to_id,
        "valid_from": to_iso(e.valid_from),
        "valid_to": to_iso(e.valid_to),
    }


def _reason(r: ReasonDetail) -> dict[str, Any]:
    return {"code": str(r.code), "message": r.message, "subject": r.subject, "ref": r.ref, "category": r.category}
