"""Standard Webhooks signatures (the Standard Webhooks specification) with the `standardwebhooks` package.

Each delivery carries ``webhook-id`` (the event's stable id: receivers deduplicate on it),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of id.timestamp.body>``). Secrets are ``whsec_`` + base64 of 24
random bytes, shown once when the endpoint is registered.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

__all__ = ["new_secret", "signed_headers"]


def new_secret() -> str:
    """A fresh endpoint secret in the Standard Webhooks format (``whsec_...``)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent at `at` (aware)."""
    signature = Webhook(secret).sign(msg_id, at, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
