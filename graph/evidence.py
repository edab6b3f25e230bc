"""Evidence: the small subgraph that bears on one (provider, student) question.

Stores gather it; `graph.decide.decide` judges it. Stores never filter by time, status,
purpose or category: an expired consent is still evidence, or decide could only say
`consent_missing`, never `consent_expired` (STYLE.md, item 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from graph.model import (
    About,
    Agreement,
    Attends,
    Consent,
    Edge,
    EmployedBy,
    GivenBy,
    GuardianOf,
    LivesIn,
    LocatedIn,
    MemberOf,
    Permits,
    Provider,
    Restricts,
    Serves,
    Signed,
    Student,
    Trained,
    WorksIn,
)

_E = TypeVar("_E", bound=Edge)

__all__ = ["ConsentFacts", "Evidence", "SignedAgreement"]


@dataclass(frozen=True, slots=True)
class SignedAgreement:
    """A SIGNED edge with the Agreement node it points at."""

    edge: Signed
    agreement: Agreement

    @property
    def version(self) -> int:
        """The version signed (the edge's, else the agreement's)."""
        return self.edge.version if self.edge.version is not None else self.agreement.version


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """A consent about the student, with its ABOUT, GIVEN_BY and PERMITS edges."""

    consent: Consent
    about: tuple[About, ...]
    given_by: tuple[GivenBy, ...]
    permits: tuple[Permits, ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything `decide` may look at for one provider and one student, across all time.

    ``memberships`` are the MEMBER_OF edges reachable from the provider (any time);
    ``services`` the SERVES edges to the student from the provider or any of those teams.
    ``partner_agreements`` are SIGNED edges of every partner the provider was ever employed by.
    """

    provider: Provider | None
    student: Student | None
    employments: tuple[EmployedBy, ...] = ()
    works_in: tuple[WorksIn, ...] = ()
    trainings: tuple[Trained, ...] = ()
    agreements: tuple[SignedAgreement, ...] = ()
    partner_agreements: tuple[SignedAgreement, ...] = ()
    memberships: tuple[MemberOf, ...] = ()
    services: tuple[Serves, ...] = ()
    attends: tuple[Attends, ...] = ()
    school_locations: tuple[LocatedIn, ...] = ()
    lives_in: tuple[LivesIn, ...] = ()
    guardian_links: tuple[GuardianOf, ...] = ()
    restrictions: tuple[Restricts, ...] = ()
    consents: tuple[ConsentFacts, ...] = field(default=())

    def canonical(self) -> Evidence:
        """The same evidence with every tuple sorted by id: two stores' evidence compares equal."""

        def by_id(items: tuple[_E, ...]) -> tuple[_E, ...]:
            return tuple(sorted(items, key=lambda e: e.id))

        def sa(items: tuple[SignedAgreement, ...]) -> tuple[SignedAgreement, ...]:
            return tuple(sorted(items, key=lambda s: s.edge.id))

        consents = tuple(
            sorted(
                (ConsentFacts(c.consent, by_id(c.about), by_id(c.given_by), by_id(c.permits)) for c in self.consents),
                key=lambda c: c.consent.id,
            )
        )
        return Evidence(
            provider=self.provider,
            student=self.student,
            employments=by_id(self.employments),
            works_in=by_id(self.works_in),
            trainings=by_id(self.trainings),
            agreements=sa(self.agreements),
            partner_agreements=sa(self.partner_agreements),
            memberships=by_id(self.memberships),
            services=by_id(self.services),
            attends=by_id(self.attends),
            school_locations=by_id(self.school_locations),
            lives_in=by_id(self.lives_in),
            guardian_links=by_id(self.guardian_links),
            restrictions=by_id(self.restrictions),
            consents=consents,
        )
