"""revoke_consent: a guardian's (or eligible student's) revocation, effective from a time (34 CFR 99.30)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from graph.changes import Change, PutNode
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import Consent, EdgeKind
from graph.stores.base import GraphStore, WriteTx

__all__ = ["RevokeConsent", "consent_in_tx", "revoke_consent"]


@dataclass(frozen=True, slots=True)
class RevokeConsent:
    """The input of `revoke_consent`; ``at`` None: now."""

    consent_id: str
    at: datetime | None = None
    signer_id: str | None = None
    """A family's own revocation: the consent must have been given by this person (else ``not_found``)."""


def consent_in_tx(tx: WriteTx, consent_id: str) -> Consent:
    """The committed consent, or PreconditionFailed(``not_found``)."""
    node = tx.node(consent_id)
    if not isinstance(node, Consent):
        raise PreconditionFailed("not_found", f"no consent with id {consent_id!r}", field="consentId")
    return node


def revoke_consent(store: GraphStore, cmd: RevokeConsent, *, now: datetime, key: str | None = None) -> Committed:
    """Revoke a consent from ``at`` (default `now`, aware UTC).

    The revocation is a new version of the consent effective at ``at``: a question about an
    earlier instant still sees the consent in force (DOMAIN.md, "Graph model"). A consent
    is revoked once; a second revocation is refused, so concurrent revocations cannot
    replace each other's time. Result: ``{"consent": id}``.

    Raises
    ------
    PreconditionFailed
        ``not_found`` (also: not given by ``signer_id``, when set); ``consent_already_revoked``.
    ChangeRejected
        ``at`` is before the consent was signed.
    """

    def body(tx: WriteTx, _ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        consent = consent_in_tx(tx, cmd.consent_id)
        if cmd.signer_id is not None and cmd.signer_id not in {e.to_id for e in tx.edges_at(consent.id, EdgeKind.GIVEN_BY, "out")}:
            # Another person's consent reads exactly like a missing one (DOMAIN.md, "no oracle").
            raise PreconditionFailed("not_found", f"no consent with id {cmd.consent_id!r}", field="consentId")
        if consent.revoked_at is not None:
            raise PreconditionFailed("consent_already_revoked", "the consent is already revoked", field="consentId")
        when = cmd.at or now
        if consent.signed_at is not None and when < consent.signed_at:
            raise PreconditionFailed("before_signature", "a consent cannot be revoked before it was signed", field="at")
        return [PutNode(replace(consent, revoked_at=when), effective_at=when)], {"consent": consent.id}

    return run(store, "revoke_consent", cmd, body, key=key)
