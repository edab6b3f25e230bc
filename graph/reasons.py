"""Reason codes: declared once, each with a plain-English message (DOMAIN.md, "Decision rules").

Never rename a value; add new ones. The GraphQL enum is generated from `Reason`.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = ["MESSAGES", "PROVIDER_FACTS", "Reason", "STUDENT_FACTS", "SUBJECT"]


class Reason(StrEnum):
    """Stable, machine-readable reason codes."""

    # consent
    CONSENT_MISSING = "consent_missing"
    CONSENT_NOT_ACTIVE = "consent_not_active"
    CONSENT_NOT_YET_EFFECTIVE = "consent_not_yet_effective"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_INCOMPLETE = "consent_incomplete"
    RECIPIENT_NOT_NAMED = "recipient_not_named"
    PURPOSE_MISMATCH = "purpose_mismatch"
    CATEGORY_NOT_CONSENTED = "category_not_consented"
    CONSENT_DENIED = "consent_denied"
    # signer authority
    SIGNER_LACKS_AUTHORITY = "signer_lacks_authority"
    ELIGIBLE_STUDENT_CONSENT_REQUIRED = "eligible_student_consent_required"
    REVIEW_REQUIRED = "review_required"
    # provider
    AGREEMENT_MISSING = "agreement_missing"
    AGREEMENT_OUTDATED = "agreement_outdated"
    AGREEMENT_EXPIRED = "agreement_expired"
    PARTNER_AGREEMENT_MISSING = "partner_agreement_missing"
    TRAINING_MISSING = "training_missing"
    TRAINING_EXPIRED = "training_expired"
    NOT_EMPLOYED = "not_employed"
    # community
    NOT_IN_STUDENT_COMMUNITY = "not_in_student_community"
    # need to know
    NO_SERVICE_RELATIONSHIP = "no_service_relationship"
    SERVICE_NOT_ACTIVE = "service_not_active"
    NOT_NEEDED_FOR_SERVICE = "not_needed_for_service"
    # input and system
    UNKNOWN_PROVIDER = "unknown_provider"
    UNKNOWN_STUDENT = "unknown_student"
    INVALID_TIME = "invalid_time"
    AUDIT_UNAVAILABLE = "audit_unavailable"


MESSAGES: Final = MappingProxyType(
    {
        Reason.CONSENT_MISSING: "No consent about this student has been recorded.",
        Reason.CONSENT_NOT_ACTIVE: "The consent is a draft, inactive, or was entered in error.",
        Reason.CONSENT_NOT_YET_EFFECTIVE: "The consent does not take effect until after the time asked about.",
        Reason.CONSENT_EXPIRED: "The consent expired before the time asked about.",
        Reason.CONSENT_REVOKED: "The consent was revoked before the time asked about.",
        Reason.CONSENT_INCOMPLETE: "The consent lacks a signer, a signature date, a purpose, a recipient or a data category.",
        Reason.RECIPIENT_NOT_NAMED: "The consent does not name this provider, the provider's organisation, or the program.",
        Reason.PURPOSE_MISMATCH: "The consent does not cover this purpose.",
        Reason.CATEGORY_NOT_CONSENTED: "The consent does not cover this category of data.",
        Reason.CONSENT_DENIED: "A guardian or the student has refused this disclosure.",
        Reason.SIGNER_LACKS_AUTHORITY: "The person who signed the consent did not have the right to consent for this student.",
        Reason.ELIGIBLE_STUDENT_CONSENT_REQUIRED: "The student is 18 or older, or in postsecondary education: the student must consent.",
        Reason.REVIEW_REQUIRED: "The student is emancipated or an unaccompanied youth: a person must review this request.",
        Reason.AGREEMENT_MISSING: "The provider has not signed the data confidentiality agreement.",
        Reason.AGREEMENT_OUTDATED: "The provider signed an older version of the agreement; the current version is required.",
        Reason.AGREEMENT_EXPIRED: "The provider's signed agreement has expired.",
        Reason.PARTNER_AGREEMENT_MISSING: "The provider's organisation has no current data-sharing agreement.",
        Reason.TRAINING_MISSING: "The provider has not completed the required training.",
        Reason.TRAINING_EXPIRED: "The provider's required training has expired.",
        Reason.NOT_EMPLOYED: "The provider is not currently employed by a partner organisation.",
        Reason.NOT_IN_STUDENT_COMMUNITY: "The provider does not work in the student's community.",
        Reason.NO_SERVICE_RELATIONSHIP: "The provider has no service relationship with the student.",
        Reason.SERVICE_NOT_ACTIVE: "The service relationship is not active (referred, paused, ended, or outside its dates).",
        Reason.NOT_NEEDED_FOR_SERVICE: "This category of data is not needed for the service provided.",
        Reason.UNKNOWN_PROVIDER: "No provider with this id exists.",
        Reason.UNKNOWN_STUDENT: "No student with this id exists.",
        Reason.INVALID_TIME: "The time asked about is not a valid time with a time zone.",
        Reason.AUDIT_UNAVAILABLE: "The request could not be recorded, so no data may be disclosed.",
    }
)

STUDENT_FACTS: Final = frozenset(
    {
        Reason.CONSENT_MISSING,
        Reason.CONSENT_NOT_ACTIVE,
        Reason.CONSENT_NOT_YET_EFFECTIVE,
        Reason.CONSENT_EXPIRED,
        Reason.CONSENT_REVOKED,
        Reason.CONSENT_INCOMPLETE,
        Reason.RECIPIENT_NOT_NAMED,
        Reason.PURPOSE_MISMATCH,
        Reason.CATEGORY_NOT_CONSENTED,
        Reason.CONSENT_DENIED,
        Reason.SIGNER_LACKS_AUTHORITY,
        Reason.ELIGIBLE_STUDENT_CONSENT_REQUIRED,
        Reason.REVIEW_REQUIRED,
        Reason.NOT_IN_STUDENT_COMMUNITY,
        Reason.SERVICE_NOT_ACTIVE,
        Reason.NOT_NEEDED_FOR_SERVICE,
        Reason.UNKNOWN_STUDENT,
    }
)
"""Codes that disclose facts about the student: shown only to callers with a relationship to
the student (DOMAIN.md, "Who may see which reasons")."""

PROVIDER_FACTS: Final = frozenset(
    {
        Reason.AGREEMENT_MISSING,
        Reason.AGREEMENT_OUTDATED,
        Reason.AGREEMENT_EXPIRED,
        Reason.PARTNER_AGREEMENT_MISSING,
        Reason.TRAINING_MISSING,
        Reason.TRAINING_EXPIRED,
        Reason.NOT_EMPLOYED,
        Reason.UNKNOWN_PROVIDER,
    }
)
"""Codes about the asking provider: always shown to that provider."""

SUBJECT: Final = MappingProxyType(
    {r: ("student" if r in STUDENT_FACTS else "provider" if r in PROVIDER_FACTS else "request") for r in Reason}
)
