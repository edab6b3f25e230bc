"""add_webhook: an admin registers a webhook endpoint for an application (or a provider, a guardian, everything)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from graph.errors import InputError, PreconditionFailed
from graph.feed.tables import Endpoint, FeedTables
from graph.model import NodeKind
from graph.stores.base import GraphStore

__all__ = ["AddWebhook", "add_webhook"]

ROLES = ("admin", "app", "provider", "guardian")


@dataclass(frozen=True, slots=True)
class AddWebhook:
    """The input of `add_webhook`: the URL and the audience the endpoint receives for (`graph.feed.audience`)."""

    url: str
    role: str
    subject: str | None = None
    partner_ids: tuple[str, ...] = ()


def add_webhook(feed: FeedTables, store: GraphStore, cmd: AddWebhook, *, now: datetime, secret: str) -> Endpoint:
    """Register an endpoint; deliveries start after the newest stored change.

    The endpoint's cursor starts at the feed's head: it receives changes derived from now
    on (an admin can redeliver older ones). `secret` (``whsec_...``) signs every delivery.

    Raises
    ------
    InputError
        Not an http(s) URL with a host; an unknown role; an app without partners; a provider
        or guardian without a subject.
    PreconditionFailed
        ``not_found``: a partner, provider or guardian that is not in the graph.
    """
    parts = urlsplit(cmd.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"a webhook URL is http(s)://host/...: {cmd.url!r}")
    if cmd.role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if cmd.role == "app" and not cmd.partner_ids:
        raise InputError("an application's endpoint names its partners (--partner)")
    if cmd.role in ("provider", "guardian") and not cmd.subject:
        raise InputError(f"a {cmd.role}'s endpoint names its subject (--subject)")
    wanted: dict[str, NodeKind] = {p: NodeKind.PARTNER for p in cmd.partner_ids}
    if cmd.role == "provider" and cmd.subject:
        wanted[cmd.subject] = NodeKind.PROVIDER
    if cmd.role == "guardian" and cmd.subject:
        wanted[cmd.subject] = NodeKind.GUARDIAN
    found = store.nodes_by_id(wanted)
    for node_id, kind in wanted.items():
        node = found.get(node_id)
        if node is None or (node.kind is not kind and not (kind is NodeKind.GUARDIAN and node.kind is NodeKind.STUDENT)):
            raise PreconditionFailed(
                "not_found", f"no {kind.value} with id {node_id!r}", field="subject" if kind is not NodeKind.PARTNER else "partner"
            )
    endpoint_id = "whk-" + uuid.uuid4().hex[:16]
    return feed.add_endpoint(Endpoint(endpoint_id, cmd.url, secret, cmd.role, cmd.subject, tuple(cmd.partner_ids), now, None, 0))
