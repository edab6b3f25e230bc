"""GraphQL enums mirrored from the domain's enums, so the schema follows graph/ without
decorating graph's classes. Values are the domain values; names the domain names."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from graph.decision import Condition, Outcome
from graph.model import ConsentKind, ConsentStatus, FerpaRights, ServiceStatus
from graph.reasons import MESSAGES, Reason

__all__ = ["ConditionEnum", "ConsentKindEnum", "ConsentStatusEnum", "FerpaRightsEnum", "OutcomeEnum", "ReasonCode", "ServiceStatusEnum"]


def _mirror(source: type[Enum], name: str, description: str) -> Any:
    copy = Enum(name, [(m.name, m.value) for m in source])  # type: ignore[misc]
    return strawberry.enum(copy, description=description)


_REASONS = "; ".join(f"{r.name}: {MESSAGES[r]}" for r in Reason)

if TYPE_CHECKING:  # the mirrors have the same members and values as the domain enums
    ReasonCode = Reason
    OutcomeEnum = Outcome
    ConditionEnum = Condition
    ServiceStatusEnum = ServiceStatus
    ConsentKindEnum = ConsentKind
    ConsentStatusEnum = ConsentStatus
    FerpaRightsEnum = FerpaRights
else:
    ReasonCode = _mirror(Reason, "ReasonCode", "Stable reason codes of a decision, generated from graph.reasons.Reason. " + _REASONS)
    OutcomeEnum = _mirror(Outcome, "Outcome", "ALLOW: everything asked is released; PARTIAL: some categories are; DENY: nothing is.")
    ConditionEnum = _mirror(Condition, "Condition", "The conditions a disclosure must meet (DOMAIN.md, 'The setting').")
    ServiceStatusEnum = _mirror(ServiceStatus, "ServiceStatus", "Status of a service relationship; only ACTIVE gives a need to know.")
    ConsentKindEnum = _mirror(ConsentKind, "ConsentKind", "A consent permits disclosure, or refuses it (a refusal wins).")
    ConsentStatusEnum = _mirror(ConsentStatus, "ConsentStatus", "Status of a consent document (FHIR R4 Consent.status subset).")
    FerpaRightsEnum = _mirror(FerpaRights, "FerpaRights", "A guardian's FERPA rights: FULL, REMOVED, or UNVERIFIED (as imported).")


def to_gql(enum_type: Any, value: Enum) -> Any:
    """The mirror member of a domain enum member."""
    return enum_type(value.value)
