"""What a caller is shown of a decision (DOMAIN.md, "Who may see which reasons": no oracle).

Pure functions of the decision and the caller's relationship to the student. A caller
without a relationship gets exactly what it would get for a student id that does not
exist: outcome deny, the one reason ``no_service_relationship`` (plus
``audit_unavailable`` when the record could not be written, which does not depend on the
student), no path, nothing released. The full decision is recorded regardless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from graph.decision import Condition, Decision, Outcome, ReasonDetail
from graph.evidence import Evidence
from graph.model import ServiceStatus
from graph.reasons import Reason

__all__ = ["EMPTY_EVIDENCE", "disclose", "has_relationship"]

EMPTY_EVIDENCE: Final = Evidence(provider=None, student=None)


def has_relationship(evidence: Evidence, at: datetime, lookback_days: int) -> bool:
    """True when the provider had a service relationship with the student, in any status.

    A SERVES edge (directly or through a team the provider was in) counts when it started
    by `at` and had not ended more than `lookback_days` before `at`. An edge whose status
    is ``ended`` ended when it started; otherwise it ends at ``valid_to``.

    Parameters
    ----------
    evidence : Evidence
        As gathered for the decision (services are already restricted to the provider's reach).
    at : datetime
        Aware: the time the decision is about.
    lookback_days : int
        ``Policy.relationship_lookback_days``.
    """
    horizon = at - timedelta(days=lookback_days)
    for s in evidence.services:
        if s.valid_from > at:
            continue
        end = s.valid_from if s.status is ServiceStatus.ENDED else s.valid_to
        if end is None or end > horizon:
            return True
    return False


def disclose(decision: Decision, *, sees_all: bool, lookback_days: int) -> Decision:
    """The decision as this caller may see it.

    Parameters
    ----------
    decision : Decision
        The full decision (as recorded).
    sees_all : bool
        True for admins and for callers whose access to the student was established
        otherwise (a verified guardian asking about their student).
    lookback_days : int
        ``Policy.relationship_lookback_days``.

    Returns
    -------
    Decision
        `decision` itself when the caller may see it all, or when the asking provider has a
        relationship with the student; otherwise the redacted deny, identical for every
        student the caller has no relationship with, existing or not.
    """
    if sees_all or decision.allowed or has_relationship(decision.evidence, decision.request.at, lookback_days):
        return decision
    reasons = [ReasonDetail(Reason.NO_SERVICE_RELATIONSHIP, condition=Condition.NEED_TO_KNOW)]
    if any(r.code is Reason.AUDIT_UNAVAILABLE for r in decision.reasons):
        reasons.append(ReasonDetail(Reason.AUDIT_UNAVAILABLE))
    return Decision(
        request=decision.request,
        outcome=Outcome.DENY,
        reasons=tuple(reasons),
        released=frozenset(),
        path=(),
        policy_version=decision.policy_version,
        evidence=EMPTY_EVIDENCE,
    )
