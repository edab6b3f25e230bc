"""Decision table: exceptions within one consent document (DOMAIN.md, "Decision rules").

Within one document a nested provision is an exception that wins over the provision
enclosing it, at any depth; between separate documents a deny wins. A document's tree is
kept as ``Consent.exception_to`` (each provision names the one it is nested in). Each row
checks the outcome, every reason in order (code, record, category), what is released and
the path (only the conditions that held, with the edges that satisfied them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from graph.decision import Condition, Outcome
from graph.model import About, Consent, ConsentKind, FerpaRights, GivenBy, Partner, Permits
from graph.reasons import Reason
from tests.world import NOON, T0, World

P, D = ConsentKind.PERMIT, ConsentKind.DENY
R = Reason
BOTH = frozenset({"attendance", "grades"})
OTHER = "ptn-other"


def prov(
    w: World,
    pid: str,
    kind: ConsentKind,
    parent: str | None = None,
    to: tuple[str, ...] = (),
    categories: frozenset[str] = frozenset(),
    purposes: frozenset[str] = frozenset(),
    **fields: object,
) -> World:
    """One provision of a document signed by gia at T0: a Consent node with its ABOUT, GIVEN_BY, PERMITS edges."""
    w = w.node(Consent(id=pid, consent_kind=kind, signed_at=T0, exception_to=parent, categories=categories,
                       purposes=purposes, **fields))  # type: ignore[arg-type]
    w = w.edge(About(id=f"ab-{pid}", from_id=pid, to_id="sam", valid_from=T0))
    w = w.edge(GivenBy(id=f"gb-{pid}", from_id=pid, to_id="gia", valid_from=T0))
    for t in to:
        w = w.edge(Permits(id=f"pm-{pid}-{t}", from_id=pid, to_id=t, valid_from=T0))
    return w


def permit(w: World, pid: str, parent: str | None, to: tuple[str, ...] = ("ptn-hope",), cats: frozenset[str] = BOTH,
           purposes: frozenset[str] = frozenset({"academic_support"}), **fields: object) -> World:
    return prov(w, pid, P, parent, to, cats, purposes, **fields)


def deny(w: World, pid: str, parent: str | None, to: tuple[str, ...] = (), cats: frozenset[str] = frozenset()) -> World:
    return prov(w, pid, D, parent, to, cats)


def empty() -> World:
    """The base partnership without its consent, plus a partner ana does not work for."""
    return World.base().without("cns-1").node(Partner(id=OTHER, name="Other"))


def deny_except(to: tuple[str, ...] = ("ptn-hope",), **fields: object) -> World:
    """FHIR's "deny everything except X": a root deny with one nested permit."""
    return permit(deny(empty(), "d0", None), "d0#1", "d0", to, **fields)


@dataclass(frozen=True)
class Row:
    world: World
    outcome: Outcome
    reasons: list[tuple[Reason, str | None, str | None]]
    released: frozenset[str] = frozenset()
    categories: frozenset[str] | None = None
    consent_path: list[str] = field(default_factory=list)


def _edges(pid: str, to: str = "ptn-hope") -> list[str]:
    return [f"ab-{pid}", f"gb-{pid}", f"pm-{pid}-{to}", "g1"]


ROWS = [
    pytest.param(Row(deny_except(), Outcome.ALLOW, [], BOTH, consent_path=_edges("d0#1")), id="depth1-deny-except-my-partner"),
    pytest.param(
        Row(deny_except(("prg-tutor",)), Outcome.ALLOW, [], BOTH, consent_path=_edges("d0#1", "prg-tutor")),
        id="depth1-deny-except-my-program",
    ),
    pytest.param(
        Row(deny_except((OTHER,)), Outcome.DENY, [(R.RECIPIENT_NOT_NAMED, "d0#1", None), (R.CONSENT_DENIED, "d0", None)]),
        id="depth1-deny-except-another-partner",
    ),
    pytest.param(
        Row(deny_except(purposes=frozenset({"mentoring"})), Outcome.DENY,
            [(R.PURPOSE_MISMATCH, "d0#1", None), (R.CONSENT_DENIED, "d0", None)]),
        id="depth1-exception-for-another-purpose",
    ),
    pytest.param(
        Row(deny_except(expires_at=NOON), Outcome.DENY, [(R.CONSENT_EXPIRED, "d0#1", None), (R.CONSENT_DENIED, "d0", None)]),
        id="depth1-exception-lapsed-the-deny-stands",
    ),
    pytest.param(
        Row(deny_except().guardian_link(ferpa_rights=FerpaRights.UNVERIFIED), Outcome.DENY,
            [(R.SIGNER_LACKS_AUTHORITY, "d0#1", None)]),
        id="depth1-exception-unverified-signer-is-no-refusal",
    ),
    pytest.param(
        Row(deny_except(cats=frozenset({"attendance"})), Outcome.PARTIAL,
            [(R.CONSENT_DENIED, None, "grades"), (R.CATEGORY_NOT_CONSENTED, None, "grades")],
            frozenset({"attendance"}), BOTH, _edges("d0#1")),
        id="depth1-exception-for-one-category",
    ),
    pytest.param(
        Row(deny(deny_except(), "d0#2", "d0#1", cats=frozenset({"grades"})), Outcome.PARTIAL,
            [(R.CONSENT_DENIED, None, "grades")], frozenset({"attendance"}), BOTH, _edges("d0#1")),
        id="depth2-deny-inside-the-exception",
    ),
    pytest.param(
        Row(deny(deny_except(), "d0#2", "d0#1", ("ptn-hope",)), Outcome.DENY, [(R.CONSENT_DENIED, "d0#2", None)]),
        id="depth2-deny-of-my-partner-inside-the-exception",
    ),
    pytest.param(
        Row(permit(deny(deny_except(), "d0#2", "d0#1", cats=frozenset({"grades"})), "d0#3", "d0#2", ("prg-tutor",),
                   frozenset({"grades"})),
            Outcome.ALLOW, [], BOTH, BOTH, _edges("d0#1")),
        id="depth3-permit-inside-deny-inside-exception",
    ),
    pytest.param(
        Row(permit(deny(deny_except(), "d0#2", "d0#1", cats=frozenset({"grades"})), "d0#3", "d0#2", (OTHER,),
                   frozenset({"grades"})),
            Outcome.PARTIAL, [(R.CONSENT_DENIED, None, "grades")], frozenset({"attendance"}), BOTH, _edges("d0#1")),
        id="depth3-exception-for-another-partner-leaves-the-deny",
    ),
    pytest.param(
        Row(deny(permit(deny(deny_except(), "d0#2", "d0#1", cats=frozenset({"grades"})), "d0#3", "d0#2",
                        cats=frozenset({"grades"})), "d0#4", "d0#3", cats=frozenset({"attendance"})),
            Outcome.PARTIAL, [(R.CONSENT_DENIED, None, "attendance")], frozenset({"grades"}), BOTH, _edges("d0#1")),
        id="depth4-deny-inside-permit-inside-deny-inside-exception",
    ),
    pytest.param(
        Row(deny(permit(empty(), "p0", None), "p0#1", "p0", ("ptn-hope",)), Outcome.DENY, [(R.CONSENT_DENIED, "p0#1", None)]),
        id="depth1-permit-with-nested-deny-of-my-partner",
    ),
    pytest.param(
        Row(deny(permit(empty(), "p0", None), "p0#1", "p0", (OTHER,)), Outcome.ALLOW, [], BOTH, consent_path=_edges("p0")),
        id="depth1-permit-with-nested-deny-of-another-partner",
    ),
    pytest.param(
        Row(deny(deny_except(), "x0", None), Outcome.DENY, [(R.CONSENT_DENIED, "x0", None)]),
        id="between-documents-a-deny-wins-over-an-exception",
    ),
    pytest.param(
        Row(permit(deny(empty(), "x0", None), "p0", None), Outcome.DENY, [(R.CONSENT_DENIED, "x0", None)]),
        id="between-documents-a-deny-wins-over-a-permit",
    ),
    pytest.param(
        Row(deny(permit(empty(), "p0", None), "x0", "gone"), Outcome.DENY, [(R.CONSENT_DENIED, "x0", None)]),
        id="exception-to-a-provision-not-in-evidence-stands-alone",
    ),
]


@pytest.mark.parametrize("row", ROWS)
def test_consent_exceptions(tmp_path: Path, row: Row) -> None:
    d = row.world.decide(tmp_path, categories=row.categories)
    got = [(r.code, r.ref, r.category) for r in d.reasons]
    assert (d.outcome, got, set(d.released)) == (row.outcome, row.reasons, set(row.released)), d.to_dict()["reasons"]
    steps = {s.condition: [e.id for e in s.edges] for s in d.path}
    # The path lists only the conditions that held: consent only when no consent reason failed it.
    consent_failed = any(r.condition is Condition.CONSENT and r.category is None for r in d.reasons)
    assert (Condition.CONSENT in steps) is (not consent_failed)
    if row.consent_path:
        assert sorted(steps[Condition.CONSENT]) == sorted(row.consent_path)
    others = {Condition.AGREEMENT_AND_TRAINING, Condition.EMPLOYMENT, Condition.COMMUNITY, Condition.NEED_TO_KNOW}
    assert others <= set(steps)


def test_cycle_in_exception_links_terminates(tmp_path: Path) -> None:
    """Bad data (two provisions each nested in the other) neither loops nor raises."""
    w = permit(deny(empty(), "d0", "p1"), "p1", "d0")
    d = w.decide(tmp_path)
    assert d.outcome is Outcome.ALLOW and d.released == BOTH
