"""correct_consent: an explicit correction that reaches back (FHIR ``entered-in-error``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from graph.changes import Change, PutNode
from graph.commands.base import Committed, IdMaker, run
from graph.commands.revoke_consent import consent_in_tx
from graph.errors import PreconditionFailed
from graph.model import ConsentStatus
from graph.stores.base import GraphStore, WriteTx

__all__ = ["CorrectConsent", "correct_consent"]


@dataclass(frozen=True, slots=True)
class CorrectConsent:
    """The input of `correct_consent`: the status the document should always have had."""

    consent_id: str
    status: ConsentStatus = ConsentStatus.ENTERED_IN_ERROR


def correct_consent(store: GraphStore, cmd: CorrectConsent, *, now: datetime, key: str | None = None) -> Committed:
    """Say a consent's status was always `status` (e.g. it was entered in error).

    Unlike every other change this reaches back: questions about earlier instants change
    their answer from now on (the journal and the record of decisions keep what was
    answered before; `replay` still reproduces it). Result: ``{"consent": id}``.

    Raises
    ------
    PreconditionFailed
        ``not_found``; ``status_unchanged``.
    """

    def body(tx: WriteTx, _ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        consent = consent_in_tx(tx, cmd.consent_id)
        if consent.status is cmd.status:
            raise PreconditionFailed("status_unchanged", f"the consent's status is already {cmd.status}", field="status")
        return [PutNode(replace(consent, status=cmd.status), correction=True)], {"consent": consent.id}

    return run(store, "correct_consent", cmd, body, key=key)
