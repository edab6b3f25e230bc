"""JWT access tokens from the identity provider, accepted as bearer tokens (PyJWT + PyJWKClient).

A token is accepted only when all hold: its signature verifies with a key of the
provider's JWKS (the ``kid`` in its header), by an algorithm of ``oidc_algorithms``; ``iss``
is ``oidc_issuer``; ``aud`` includes ``oidc_audience`` (or the client id); ``exp`` is in the
future and ``nbf``/``iat`` not (``oidc_leeway_seconds`` of skew); and its claims map to one
caller (`api.auth.claims`). Keys are fetched from ``oidc_jwks_uri`` (or the discovery
document's ``jwks_uri``) and reused for ``oidc_jwks_cache_seconds``; a token whose ``kid``
is not among them makes PyJWKClient fetch the set once more (at most once per
``oidc_jwks_refetch_seconds``, so made-up kids cannot make us hammer the provider), so a
rotated key is picked up on its first use and a removed one stops verifying when the cache lapses.

Every refusal is logged (``jwt_refused`` with a reason code) and answered as any unknown
token is: 401.
"""

from __future__ import annotations

import threading
from typing import Any, Final

import httpx
import jwt
import structlog

from api.auth.claims import ClaimsRefused, principal_from_claims
from api.config import ApiSettings
from api.roles import Principal

__all__ = ["JwtVerifier", "looks_like_jwt"]

log = structlog.get_logger("needtoknow.auth")

_REASONS: Final = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed"),
    (jwt.PyJWKClientError, "unknown_key"),
    (jwt.DecodeError, "malformed"),
)


def looks_like_jwt(secret: str) -> bool:
    """Three base64url parts separated by dots (our own secrets start with ``ntk_``)."""
    return secret.count(".") == 2 and not secret.startswith("ntk_") and len(secret) < 16_384


class JwtVerifier:
    """Verifies access tokens of one issuer; thread-safe (PyJWKClient caches the key set).

    Raises
    ------
    ValueError
        At construction: no audience (neither ``oidc_audience`` nor ``oidc_client_id``), or an
        algorithm list that is empty or names ``none`` or an HMAC algorithm.
    """

    def __init__(self, settings: ApiSettings) -> None:
        assert settings.oidc_issuer is not None
        self.settings = settings
        self.issuer = settings.oidc_issuer
        audience = settings.oidc_audience or settings.oidc_client_id
        if not audience:
            raise ValueError("NTK_OIDC_ISSUER is set but neither NTK_OIDC_AUDIENCE nor NTK_OIDC_CLIENT_ID: no audience to check")
        self.audience = audience
        self.algorithms = [a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()]
        if not self.algorithms or any(a.lower() == "none" or a.upper().startswith("HS") for a in self.algorithms):
            raise ValueError(f"NTK_OIDC_ALGORITHMS={settings.oidc_algorithms!r}: asymmetric algorithms only (RS256, ES256, PS256 ...)")
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                uri = self.settings.oidc_jwks_uri or _discover(self.issuer)["jwks_uri"]
                self._client = jwt.PyJWKClient(
                    uri,
                    cache_jwk_set=True,
                    lifespan=self.settings.oidc_jwks_cache_seconds,
                    timeout=5,
                    cooldown_duration=self.settings.oidc_jwks_refetch_seconds,
                )
            return self._client

    def verify(self, token: str) -> Principal | None:
        """The caller `token` names, or None (refused; the reason is logged). Blocking: may fetch the JWKS."""
        try:
            key = self._keys().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            return principal_from_claims(claims, self.settings, "jwt:")
        except ClaimsRefused as err:
            log.warning("jwt_refused", reason=err.reason)
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as err:
            reason = next((code for kind, code in _REASONS if isinstance(err, kind)), "invalid")
            log.warning("jwt_refused", reason=reason)
        except (httpx.HTTPError, KeyError, ValueError) as err:
            log.error("jwt_refused", reason="discovery_failed", error=type(err).__name__)
        return None


def _discover(issuer: str) -> dict[str, Any]:
    """The provider's discovery document (OpenID Connect Discovery 1.0)."""
    response = httpx.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=5)
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc
