"""Evidence: the small subgraph that bears on one (provider, student) question.

Stores gather it; `graph.decide.decide` judges it. Stores never filter by time, status,
purpose or category: an expired consent is still evidence, or decide could only say
`consent_missing`, never `consent_expired` (STYLE.md, item 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeVar

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
from graph.valuetuple import dataclass_fields

_E = TypeVar("_E", bound=Edge)
_R = TypeVar("_R")

__all__ = ["NO_HISTORY", "ConsentFacts", "Evidence", "SignedAgreement", "Versions", "version_at"]

Versions = tuple[tuple[datetime | None, Any], ...]
"""A record's versions, oldest effective first: (effective_at or None for "from the start", record)."""


def version_at(versions: Versions, at: datetime) -> Any:
    """The version in effect at `at`: the last whose ``effective_at`` is None or <= `at`."""
    chosen = versions[0][1]
    for effective, record in versions:
        if effective is None or effective <= at:
            chosen = record
        else:
            break
    return chosen


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


NO_HISTORY: Final[Mapping[str, Versions]] = {}
"""The empty history every evidence without versions shares (read-only by its type; never mutated)."""


@dataclass_fields(node_history=field(default_factory=dict), edge_history=field(default_factory=dict))
class Evidence(NamedTuple):
    """Everything `decide` may look at for one provider and one student, across all time.

    ``memberships`` are the MEMBER_OF edges reachable from the provider (any time);
    ``services`` the SERVES edges to the student from the provider or any of those teams.
    ``partner_agreements`` are SIGNED edges of every partner the provider was ever employed by.
    ``node_history`` / ``edge_history`` hold, for the records above that have more than one
    version (effective-dated state, `graph.changes`), every version; the records themselves
    are the newest. `as_at` picks the versions in effect at an instant; `decide` calls it.
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
    consents: tuple[ConsentFacts, ...] = ()
    node_history: Mapping[str, Versions] = NO_HISTORY
    edge_history: Mapping[str, Versions] = NO_HISTORY

    def as_at(self, at: datetime) -> Evidence:
        """This evidence as it stood at `at`: every versioned record replaced by its version in
        effect then, and consent documents signed after `at` left out (they did not exist).

        The same object when neither applies (the common case).
        """
        for c in self.consents:  # a loop, not any(...): this runs once per check
            signed_at = c.consent.signed_at
            if signed_at is not None and signed_at > at:
                # A document signed after the instant did not exist then: it is no evidence about it.
                present = tuple(c for c in self.consents if c.consent.signed_at is None or c.consent.signed_at <= at)
                return self._replace(consents=present).as_at(at)
        if not self.node_history and not self.edge_history:
            return self
        nh, eh = self.node_history, self.edge_history

        def node(rec: _R) -> _R:
            versions = nh.get(rec.id) if rec is not None else None  # type: ignore[attr-defined]
            return rec if versions is None else version_at(versions, at)  # type: ignore[no-any-return]

        def edges(items: tuple[_E, ...]) -> tuple[_E, ...]:
            if not eh:
                return items
            return tuple(e if (v := eh.get(e.id)) is None else version_at(v, at) for e in items)

        def signed(items: tuple[SignedAgreement, ...]) -> tuple[SignedAgreement, ...]:
            return tuple(SignedAgreement(edges((s.edge,))[0], node(s.agreement)) for s in items)

        return Evidence(
            provider=node(self.provider),
            student=node(self.student),
            employments=edges(self.employments),
            works_in=edges(self.works_in),
            trainings=edges(self.trainings),
            agreements=signed(self.agreements),
            partner_agreements=signed(self.partner_agreements),
            memberships=edges(self.memberships),
            services=edges(self.services),
            attends=edges(self.attends),
            school_locations=edges(self.school_locations),
            lives_in=edges(self.lives_in),
            guardian_links=edges(self.guardian_links),
            restrictions=edges(self.restrictions),
            consents=tuple(ConsentFacts(node(c.consent), edges(c.about), edges(c.given_by), edges(c.permits)) for c in self.consents),
        )

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
            node_history=dict(sorted(self.node_history.items())),
            edge_history=dict(sorted(self.edge_history.items())),
        )
