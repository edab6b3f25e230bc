"""Policy: every setting the rules read, in one typed object with documented defaults.

Rules marked *policy* in DOMAIN.md are settings here. A policy has a version, recorded
with every decision so a decision can be replayed under the policy it was made with.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from graph.timeutil import DEFAULT_TIME_ZONE

__all__ = ["DEFAULT_CATEGORIES", "DEFAULT_POLICY", "Policy"]

DEFAULT_CATEGORIES: Final = frozenset(
    {
        "attendance",
        "grades",
        "assessments",
        "discipline",
        "special_education",
        "health",
        "contact",
        "program_participation",
        "directory",
    }
)


class Policy(BaseModel):
    """Settings of the need-to-know rules (immutable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field("2026.1", description="Recorded with every decision.")
    categories: frozenset[str] = Field(DEFAULT_CATEGORIES, description="The data category code list (extensible).")
    required_courses: frozenset[str] = Field(
        frozenset({"crs-ferpa_basics"}), description="Course node ids every provider must hold current training in."
    )
    agreement_kind: str = Field("data_confidentiality", description="Agreement kind a provider must sign.")
    current_agreement_version: int = Field(2, ge=1, description="Lowest agreement version that is current.")
    partner_agreement_kind: str = Field("data_sharing", description="Agreement kind the provider's organisation must sign.")
    require_partner_agreement: bool = Field(True, description="Check the organisation's data-sharing terms.")
    require_verified_guardians: bool = Field(
        True, description="*policy*: ferpa_rights=unverified guardians cannot give valid consent (default on)."
    )
    parent_consent_survives_eligibility: bool = Field(
        False,
        description="*policy*: a parent's consent signed before the student became eligible still counts "
        "until the student acts (default: it does not; 34 CFR 99.5(a)).",
    )
    eligibility_age: int = Field(18, description="Age at which FERPA rights transfer to the student (34 CFR 99.3, 99.5).")
    default_time_zone: str = Field(
        DEFAULT_TIME_ZONE,
        description="*setting*: the partnership's IANA time zone. Dates without a time of day in every source "
        "(rosters, Ed-Fi, SDS, FHIR date-only values, bundle dates, a date-only CLI --at) name a calendar day "
        "here, and a student with no recorded zone has their local date here (docs/dates.md).",
    )
    inclusive_exit_date: bool = Field(
        False,
        description="*policy*: an Ed-Fi ExitWithdrawDate/EndDate is the last day at the school (True) rather than "
        "the first day away (False, default: a same-day exit and entry moves the student at local midnight).",
    )
    max_team_depth: int | None = Field(
        None, ge=1, description="Team nesting limit; reaching it raises DepthLimitExceeded. None: unlimited (cycles still safe)."
    )
    relationship_lookback_days: int = Field(
        365, ge=0, description="An ended service relationship still counts as a relationship for seeing reasons this long."
    )
    suppression_k: int = Field(10, ge=2, description="Small-cell threshold k: counts 1..k-1 are suppressed.")
    suppress_k_itself: bool = Field(False, description="*policy*: also suppress a count equal to k (inclusive threshold).")


DEFAULT_POLICY: Final = Policy()
