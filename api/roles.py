"""Roles and what each may ask (DESIGN.md, "Interfaces"; DOMAIN.md, "Who may see which reasons").

==========  ==============================================================================
role        may ask
==========  ==============================================================================
admin       everything: checks, lookups, transparency reports, disclosures, mutations
app         checks, explanations and accessibleStudents for providers currently employed
            by one of the token's partners; those providers' node lookups
provider    checks, explanations and accessibleStudents about itself only
staff       aggregates and the partner network only (partner, community lookups)
analyst     as staff
guardian    providersWithAccess and disclosures of students it is GUARDIAN_OF with the
            standing to consent now (`graph.family.standing`: verified rights, no court
            order, the student not eligible), and their student node; the family page.
            A guardian token whose subject is a student (graph/commands/create_token.py)
            is the eligible student speaking for themself: the same about itself
==========  ==============================================================================

Everything else is FORBIDDEN, with the same error whether or not the ids exist.
The checks read the graph through `GraphStore.gather_evidence` with an empty id on the
other side (`NO_ID`, which no node can have), so they need nothing beyond the store protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from api.errors import Forbidden
from graph.audit import Caller
from graph.family import Standing, standing
from graph.model import FerpaRights
from graph.policy import DEFAULT_POLICY, Policy
from graph.stores.base import GraphStore

__all__ = ["NO_ID", "Principal", "Role", "employers_of", "family_standing", "guardian_of", "require", "require_admin"]

NO_ID: Final = ""
"""An id no node can have (ids are 1..200 characters): gathers one side of the evidence only."""


class Role(StrEnum):
    """What a bearer token is for."""

    ADMIN = "admin"
    APP = "app"
    PROVIDER = "provider"
    STAFF = "staff"
    ANALYST = "analyst"
    GUARDIAN = "guardian"


NEEDS_SUBJECT: Final = frozenset({Role.APP, Role.PROVIDER, Role.GUARDIAN})
"""Roles whose token must name a subject (the application's name, the provider or guardian id)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: token id, role, subject and (for apps) partner ids."""

    token_id: str
    role: Role
    subject: str | None = None
    partner_ids: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        """True for the admin role."""
        return self.role is Role.ADMIN

    def caller(self) -> Caller:
        """The caller as the record of decisions stores it."""
        return Caller(
            role=str(self.role),
            subject=self.subject,
            application=self.subject if self.role is Role.APP else None,
            partner_ids=self.partner_ids,
        )


def require(allowed: bool) -> None:
    """Raise Forbidden unless `allowed`."""
    if not allowed:
        raise Forbidden()


def require_admin(principal: Principal) -> None:
    """Raise Forbidden unless the caller is an admin."""
    require(principal.is_admin)


def employers_of(store: GraphStore, provider_id: str, at: datetime) -> set[str]:
    """Partner ids employing `provider_id` at `at` (empty for an unknown provider)."""
    ev = store.gather_evidence(provider_id, NO_ID)
    return {e.to_id for e in ev.employments if e.valid.contains(at)}


def guardian_of(store: GraphStore, guardian_id: str, student_id: str, at: datetime) -> bool:
    """True when `guardian_id` is GUARDIAN_OF `student_id` at `at` with verified (full) FERPA rights."""
    ev = store.gather_evidence(NO_ID, student_id)
    return any(g.from_id == guardian_id and g.valid.contains(at) and g.ferpa_rights is FerpaRights.FULL for g in ev.guardian_links)


def may_ask_about_provider(principal: Principal, store: GraphStore, provider_id: str, at: datetime) -> bool:
    """Checks, explanations and accessibleStudents: admin; a provider about itself; an app for its partners' providers."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.PROVIDER:
        return principal.subject == provider_id
    if principal.role is Role.APP:
        return bool(employers_of(store, provider_id, at) & set(principal.partner_ids))
    return False


def may_see_student_report(principal: Principal, store: GraphStore, student_id: str, at: datetime, policy: Policy = DEFAULT_POLICY) -> bool:
    """providersWithAccess and disclosures: admin; a family member who may consent for the student now.

    A guardian or an eligible student with `graph.family.Standing.OK` (DOMAIN.md, "Families"):
    a guardian's rights verified, not removed by a court order, the student not yet eligible.
    """
    if principal.role is Role.ADMIN:
        return True
    return family_standing(principal, store, student_id, at, policy) is Standing.OK


def family_standing(principal: Principal, store: GraphStore, student_id: str, at: datetime, policy: Policy) -> Standing:
    """The caller's standing towards a student; ``not_yours`` for every role but guardian.

    The subject is a guardian, or a student speaking for themself (``ok`` once eligible).
    """
    if principal.role is not Role.GUARDIAN or principal.subject is None:
        return Standing.NOT_YOURS
    return standing(store.gather_evidence(NO_ID, student_id).as_at(at), principal.subject, at, policy)


def may_see_network(principal: Principal) -> bool:
    """Partner and community lookups: every role (no student-level data)."""
    return isinstance(principal.role, Role)
