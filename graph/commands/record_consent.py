"""record_consent: record a signed consent document with its signer and recipients (34 CFR 99.30)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, PutEdge, PutNode
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import About, Consent, ConsentKind, ConsentStatus, GivenBy, Permits
from graph.stores.base import GraphStore, WriteTx

__all__ = ["RecordConsent", "consent_changes", "record_consent"]


@dataclass(frozen=True, slots=True)
class RecordConsent:
    """The input of `record_consent`. Times are aware; None: see `record_consent`."""

    student_id: str
    signer_id: str
    recipient_ids: tuple[str, ...]
    purposes: frozenset[str]
    categories: frozenset[str]
    id: str | None = None
    signed_at: datetime | None = None
    effective_from: datetime | None = None
    expires_at: datetime | None = None
    kind: ConsentKind = ConsentKind.PERMIT
    status: ConsentStatus = ConsentStatus.ACTIVE
    signature_method: str | None = None
    signer_identity: str | None = None
    text_version: str | None = None


def consent_changes(cmd: RecordConsent, cid: str, signed: datetime) -> list[Change]:
    """The Consent node `cid` and its ABOUT, GIVEN_BY and PERMITS edges, all from `signed`."""
    consent = Consent(
        id=cid,
        status=cmd.status,
        consent_kind=cmd.kind,
        signed_at=signed,
        effective_from=cmd.effective_from,
        expires_at=cmd.expires_at,
        purposes=cmd.purposes,
        categories=cmd.categories,
        signature_method=cmd.signature_method,
        signer_identity=cmd.signer_identity,
        text_version=cmd.text_version,
    )
    changes: list[Change] = [
        PutNode(consent),
        PutEdge(About(id=f"{cid}:about", from_id=cid, to_id=cmd.student_id, valid_from=signed)),
        PutEdge(GivenBy(id=f"{cid}:by", from_id=cid, to_id=cmd.signer_id, valid_from=signed)),
    ]
    changes += [PutEdge(Permits(id=f"{cid}:to:{r}", from_id=cid, to_id=r, valid_from=signed)) for r in cmd.recipient_ids]
    return changes


def record_consent(store: GraphStore, cmd: RecordConsent, *, now: datetime, key: str | None = None) -> Committed:
    """Record a consent: the Consent node and its ABOUT, GIVEN_BY and PERMITS edges.

    ``signed_at`` defaults to `now` (aware UTC). Result: ``{"consent": id}``.

    Raises
    ------
    PreconditionFailed
        ``already_exists`` (an explicit id in use), ``no_recipients``.
    ChangeRejected
        The student, signer or a recipient does not exist or is of the wrong kind.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        cid = cmd.id or ids("cns")
        if tx.node(cid) is not None:
            raise PreconditionFailed("already_exists", f"id {cid!r} already exists", field="id")
        if not cmd.recipient_ids:
            raise PreconditionFailed("no_recipients", "a consent names at least one recipient", field="recipientIds")
        return consent_changes(cmd, cid, cmd.signed_at or now), {"consent": cid}

    return run(store, "record_consent", cmd, body, key=key)
