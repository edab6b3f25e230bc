"""Pages and cursors for the lookups (DOMAIN.md, "Lookups and their invariant").

Items are ordered by id; a cursor is the last id of a page, encoded. Because the order is
a total order on ids, pages never repeat or skip an item, even when the graph changes
between pages (an item that appears or disappears is simply in or out of later pages).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from graph.decision import Decision
from graph.errors import InvalidCursor
from graph.model import Consent

__all__ = ["Access", "Page", "decode_cursor", "encode_cursor"]

T = TypeVar("T")

_PREFIX = "ntk1:"


def encode_cursor(last_id: str) -> str:
    """Opaque cursor after `last_id`."""
    return base64.urlsafe_b64encode((_PREFIX + last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id a cursor points after, or None for the first page.

    Raises
    ------
    InvalidCursor
        Not a cursor this server issued.
    """
    if cursor is None or cursor == "":
        return None
    if len(cursor) > 512:
        raise InvalidCursor("cursor too long")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise InvalidCursor("not a cursor issued by this server") from err
    if not text.startswith(_PREFIX):
        raise InvalidCursor("not a cursor issued by this server")
    return text[len(_PREFIX) :]


@dataclass(frozen=True, slots=True)
class Access:
    """One entry of a lookup: who may see whom, what, and why (the allowing decision)."""

    provider_id: str
    student_id: str
    decision: Decision
    until: datetime | None

    @property
    def released(self) -> frozenset[str]:
        """Categories released."""
        return self.decision.released


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results: ``items`` in id order; ``end_cursor`` to ask for the next."""

    items: Sequence[T]
    end_cursor: str | None
    has_next_page: bool


def access_until(decision: Decision) -> datetime | None:
    """When this access would end at the latest, as now recorded: the earliest end among
    the path's edges and the consents about the student (None: open-ended)."""
    ends = [e.valid_to for step in decision.path for e in step.edges if e.valid_to is not None]
    consent_ids = {e.from_id for step in decision.path for e in step.edges if e.kind == "ABOUT"}
    for cf in decision.evidence.consents:
        c: Consent = cf.consent
        if c.id in consent_ids:
            ends.extend(t for t in (c.expires_at, c.revoked_at) if t is not None and t > decision.request.at)
    return min(ends) if ends else None
