"""give_consent: a guardian (or eligible student) signs a consent digitally, for themselves.

DOMAIN.md, "Families: transparency and consent"; 34 CFR 99.30 (signed and dated, the
records, the purpose, the recipients); Utah Code 53E-9-304 style consent given per purpose,
not bundled. One document names one recipient (a partner or one of its programs) and one
purpose, with its categories and an end date; the signer is the authenticated person, never
an id the client chose. The signer-authority rule is the engine's (`graph.family.standing`
over `graph.decide.signer_authority`), checked inside the write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from graph.changes import Change
from graph.commands.base import Committed, IdMaker, run
from graph.commands.record_consent import RecordConsent, consent_changes
from graph.errors import PreconditionFailed
from graph.family import MESSAGES, Standing, family_evidence, standing
from graph.ids import is_valid_id
from graph.model import Partner, Program
from graph.policy import Policy
from graph.stores.base import GraphStore, WriteTx

__all__ = ["MAX_TERM", "GiveConsent", "give_consent"]

MAX_TERM: Final = timedelta(days=366)
"""A digital consent ends within a year and a day of signing (renewed each school year): *policy* of this page."""


@dataclass(frozen=True, slots=True)
class GiveConsent:
    """The input of `give_consent`. ``expires_at`` is aware; the evidence fields are the server's."""

    student_id: str
    signer_id: str
    recipient_id: str
    purpose: str
    categories: frozenset[str]
    expires_at: datetime
    signature_method: str
    signer_identity: str
    text_version: str


def give_consent(store: GraphStore, cmd: GiveConsent, *, now: datetime, policy: Policy, key: str | None = None) -> Committed:
    """Record a consent signed now by ``signer_id``, with its signature evidence.

    Result: ``{"consent": id}``. The consent is signed and effective at the commit's time
    (aware UTC) and ends at ``expires_at`` (exclusive).

    Raises
    ------
    PreconditionFailed
        The signer's standing (`graph.family.Standing`, as code: ``not_yours`` for an
        unknown student and for another family's alike, ``unverified``, ``court_order``,
        ``rights_removed``, ``not_a_parent``, ``eligible_student``, ``not_eligible``,
        ``lacks_authority``); ``unknown_recipient`` (not a partner or program);
        ``bad_purpose``; ``bad_categories`` (none, or not in the policy's code list);
        ``bad_end_date`` (not after now, or more than `MAX_TERM` ahead).
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        signed = now
        who = standing(family_evidence(tx, cmd.student_id), cmd.signer_id, signed, policy)
        if who is not Standing.OK:
            raise PreconditionFailed(who.value, MESSAGES[who], field="studentId")
        if not is_valid_id(cmd.recipient_id) or not isinstance(tx.node(cmd.recipient_id), (Partner, Program)):
            raise PreconditionFailed("unknown_recipient", "the recipient is not a partner organisation or program", field="recipientId")
        if not cmd.purpose or not cmd.purpose.replace("_", "").isalnum() or not cmd.purpose.islower() or len(cmd.purpose) > 64:
            raise PreconditionFailed("bad_purpose", "a purpose is a code such as academic_support", field="purpose")
        if not cmd.categories or not cmd.categories <= policy.categories:
            raise PreconditionFailed("bad_categories", "choose at least one of the listed categories", field="categories")
        if not signed < cmd.expires_at <= signed + MAX_TERM:
            raise PreconditionFailed("bad_end_date", "the end date is after today and within a year", field="expiresAt")
        record = RecordConsent(
            student_id=cmd.student_id,
            signer_id=cmd.signer_id,
            recipient_ids=(cmd.recipient_id,),
            purposes=frozenset({cmd.purpose}),
            categories=cmd.categories,
            expires_at=cmd.expires_at,
            signature_method=cmd.signature_method,
            signer_identity=cmd.signer_identity,
            text_version=cmd.text_version,
        )
        cid = ids("cns")
        return consent_changes(record, cid, signed), {"consent": cid}

    return run(store, "give_consent", cmd, body, key=key)
