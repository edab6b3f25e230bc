"""Map a verified token's claims to a caller, as configured (``NTK_OIDC_*_CLAIM``, ``NTK_OIDC_ROLE_MAP``).

The role claim (``roles`` by default; dots walk into objects, ``realm_access.roles``) holds
one name or a list. Each name is mapped through ``oidc_role_map`` (or, when that is empty,
taken as one of our role names); names that map to nothing are ignored. Exactly one
needtoknow role must remain: none, or two different ones, is refused (grant one role per
account at the provider; a caller is never given the larger of two by guesswork).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.config import ApiSettings
from api.roles import NEEDS_SUBJECT, Principal, Role

__all__ = ["ClaimsRefused", "claim", "principal_from_claims"]


class ClaimsRefused(Exception):
    """The token is genuine but names no usable caller; `reason` is a stable code for the log."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted `path` (``realm_access.roles``), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def principal_from_claims(claims: Mapping[str, Any], settings: ApiSettings, id_prefix: str) -> Principal:
    """The caller named by `claims`; its id is `id_prefix` + the subject (rate limits count per id).

    Raises
    ------
    ClaimsRefused
        ``no_role``, ``ambiguous_role``, ``no_subject`` (a role that needs one), ``no_partners`` (an app).
    """
    names = _names(claim(claims, settings.oidc_role_claim))
    mapping = settings.oidc_role_map
    roles: set[Role] = set()
    for name in names:
        target = mapping.get(name) if mapping else name
        if target is not None and target in {r.value for r in Role}:
            roles.add(Role(target))
    if not roles:
        raise ClaimsRefused("no_role", f"claim {settings.oidc_role_claim!r} maps to no needtoknow role")
    if len(roles) > 1:
        raise ClaimsRefused("ambiguous_role", f"claim {settings.oidc_role_claim!r} maps to several roles: {sorted(roles)}")
    role = roles.pop()
    subject = claim(claims, settings.oidc_subject_claim)
    subject = subject if isinstance(subject, str) and 0 < len(subject) <= 200 else None
    if role in NEEDS_SUBJECT and subject is None:
        raise ClaimsRefused("no_subject", f"a {role} needs claim {settings.oidc_subject_claim!r}")
    partners = tuple(p for p in _names(claim(claims, settings.oidc_partner_claim)) if 0 < len(p) <= 200)
    if role is Role.APP and not partners:
        raise ClaimsRefused("no_partners", f"an app needs claim {settings.oidc_partner_claim!r}")
    return Principal(f"{id_prefix}{subject or claims.get('sub', '')}", role, subject, partners)
