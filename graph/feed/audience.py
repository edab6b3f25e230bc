"""Who may receive which access changes (DOMAIN.md, "Changes of access"; "Who may see which reasons").

An audience is a role with its subject and partners, as a bearer token or a webhook
endpoint carries them:

==========  =====================================================================
role        receives
==========  =====================================================================
admin       every change, with every reason
app         changes about providers employed by one of its partners (at the change
            or just before it), reasons as a check by such a provider would show them
provider    changes about itself, reasons as its own check would show them
guardian    changes about students whose family it is with standing ``ok`` (graph.family:
            a guardian with verified rights and authority, or the eligible student), every reason
others      nothing
==========  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.feed.events import AccessChange

__all__ = ["Audience", "ROLES_WITH_FEED"]

ROLES_WITH_FEED = frozenset({"admin", "app", "provider", "guardian"})


@dataclass(frozen=True, slots=True)
class Audience:
    """A receiver of the feed: ``role`` (admin, app, provider, guardian), ``subject``, ``partners``."""

    role: str
    subject: str | None = None
    partners: tuple[str, ...] = ()

    def admits(self, e: AccessChange) -> bool:
        """True when this audience may receive `e`."""
        if self.role == "admin":
            return True
        if self.role == "provider":
            return self.subject is not None and e.provider_id == self.subject
        if self.role == "app":
            return bool(set(e.partners) & set(self.partners))
        if self.role == "guardian":
            return self.subject is not None and self.subject in e.guardians
        return False

    @property
    def full_reasons(self) -> bool:
        """Admins and the family see every reason; providers and apps what their check shows."""
        return self.role in ("admin", "guardian")

    def wire(self, e: AccessChange) -> dict[str, object]:
        """`e` as this audience receives it."""
        return e.to_wire(full_reasons=self.full_reasons)
