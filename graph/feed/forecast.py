"""What will lapse, when, and who loses access: the renewal list a coordinator works from.

For every pair of a provider (or a student) with a service relationship, each instant in
the window at which the pair's evidence may decide differently (`graph.feed.lapses`) is
decided in order; an instant whose released categories differ from the ones before it is an
upcoming change. The evidence is the graph as known now: a renewal recorded tomorrow removes
the lapse from tomorrow's forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from graph.decide import decide
from graph.decision import CheckRequest, Decision
from graph.feed.lapses import lapse_instants
from graph.policy import Policy
from graph.stores.base import GraphStore

__all__ = ["Upcoming", "upcoming_changes"]


@dataclass(frozen=True, slots=True)
class Upcoming:
    """A change that will take effect at ``at`` (aware UTC) with no write, unless something is renewed."""

    at: datetime
    provider_id: str
    student_id: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    decision: Decision
    """The decision at ``at`` (its reasons say what lapses)."""

    @property
    def loses_access(self) -> bool:
        """True when the provider will see nothing of the student from ``at``."""
        return bool(self.before) and not self.after


def _released(d: Decision) -> tuple[str, ...]:
    return tuple(sorted(d.released)) if d.allowed else ()


def upcoming_changes(
    store: GraphStore, policy: Policy, *, provider_id: str | None = None, student_id: str | None = None, start: datetime, within: timedelta
) -> list[Upcoming]:
    """Changes of access in ``(start, start + within]`` for a provider's or a student's pairs.

    Exactly one of `provider_id` / `student_id` is given. Ordered by instant, then provider,
    then student. Raises ValueError when both or neither are given.
    """
    if (provider_id is None) == (student_id is None):
        raise ValueError("give exactly one of provider_id and student_id")
    if provider_id is not None:
        evidence = {
            (provider_id, s): ev
            for s, ev in store.gather_evidence_many(provider_id, None, sorted(store.students_served_by(provider_id))).items()
        }
    else:
        assert student_id is not None
        evidence = {
            (p, student_id): ev
            for p, ev in store.gather_evidence_many(None, student_id, sorted(store.providers_serving(student_id))).items()
        }
    end = start + within
    found: list[Upcoming] = []
    for (p, s), ev in sorted(evidence.items()):
        previous = _released(decide(ev, CheckRequest(p, s, start), policy))
        for t in sorted(x for x in lapse_instants(ev, policy, after=start) if x <= end):
            d = decide(ev, CheckRequest(p, s, t), policy)
            now_released = _released(d)
            if now_released != previous:
                found.append(Upcoming(t, p, s, previous, now_released, d))
                previous = now_released
    return sorted(found, key=lambda u: (u.at, u.provider_id, u.student_id))
