"""Settings of the feed service and webhook delivery, from ``NTK_FEED_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["FeedSettings"]


class FeedSettings(BaseSettings):
    """How often the feed looks for new causes, how long a lease lasts, how webhooks retry."""

    model_config = SettingsConfigDict(env_prefix="NTK_FEED_", extra="ignore")

    enabled: bool = Field(True, description="Run the feed service (derive, schedule, deliver) in this server process.")
    poll_seconds: float = Field(0.05, gt=0, description="How often the lease holder looks for new outbox rows and lapsed instants.")
    lease_seconds: float = Field(3.0, gt=0, description="A lease not renewed for this long passes to another process.")
    max_attempts: int = Field(6, ge=1, description="Delivery attempts of one event before it goes to the dead-letter list.")
    backoff_seconds: float = Field(0.5, gt=0, description="First retry delay; doubles with every attempt (capped at 60 s).")
    timeout_seconds: float = Field(5.0, gt=0, description="HTTP timeout of one delivery attempt.")
