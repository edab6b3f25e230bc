"""Settings of the GraphQL server: the engine's `Settings` plus the API's switches and limits.

Read from the environment with the same ``NTK_`` prefix (``NTK_GRAPHIQL=1``,
``NTK_MAX_BATCH=2000`` ...). Every limit has a safe default; switches that widen what a
client can learn (GraphiQL, introspection, the audit drill hook) are off by default.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from graph.settings import Settings

__all__ = ["ApiSettings"]


class ApiSettings(Settings):
    """Settings of `needtoknow serve` and of `api.app.create_app`."""

    graphiql: bool = Field(False, description="Serve GraphiQL on GET /graphql from a browser (implies introspection).")
    introspection: bool = Field(False, description="Allow introspection queries; when off, errors carry no 'Did you mean' hints.")
    max_depth: int = Field(12, ge=1, description="Deepest selection nesting accepted (fragments are followed).")
    max_aliases: int = Field(50, ge=1, description="Most aliases in one document (fragments included).")
    max_fields: int = Field(2000, ge=10, description="Most field selections once fragments are expanded.")
    max_tokens: int = Field(4000, ge=10, description="Most lexical tokens in one document (send batches as variables).")
    max_batch: int = Field(5000, ge=1, description="Most requests in one checkMany.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body, in bytes; larger ones get HTTP 413 unread.")
    max_json_depth: int = Field(64, ge=4, description="Deepest nesting of the JSON request body.")
    response_cache_bytes: int = Field(
        64_000_000, ge=0, description="Bytes of whole answers to aggregate queries kept per worker, per consistency token (0: off)."
    )
    test_hooks: bool = Field(False, description="Mount POST /_test/audit (admin only) to switch the record of decisions off: drills only.")

    # Own bearer tokens (docs/operations.md, "Tokens").
    token_default_lifetime_days: int = Field(
        90, ge=1, le=3660, description="Lifetime of a token created or rotated without --expires, in days."
    )

    # OpenID Connect: JWT access tokens and the web pages' sign-in (docs/operations.md, "Single sign-on").
    oidc_issuer: str | None = Field(
        None, description="The identity provider's issuer URL; when set, JWT access tokens it signs are accepted as bearer tokens."
    )
    oidc_audience: str | None = Field(None, description="The aud a JWT access token must carry (default: oidc_client_id).")
    oidc_jwks_uri: str | None = Field(None, description="Where the provider's signing keys are (default: discovery's jwks_uri).")
    oidc_algorithms: str = Field("RS256,ES256,PS256", description="Signature algorithms accepted, comma-separated (never none or HS*).")
    oidc_leeway_seconds: int = Field(30, ge=0, le=300, description="Clock skew allowed when checking exp, nbf and iat, in seconds.")
    oidc_jwks_cache_seconds: int = Field(
        300, ge=1, description="How long fetched signing keys are reused; an unknown kid fetches them again at once."
    )
    oidc_jwks_refetch_seconds: float = Field(
        10, ge=0, description="Least time between two fetches of the keys caused by an unknown kid, in seconds."
    )
    oidc_role_claim: str = Field("roles", description="Claim holding the caller's role(s); dots walk into objects (realm_access.roles).")
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description='Provider role name -> needtoknow role, as JSON ({"ntk-staff": "staff"}); empty: the claim holds our role names.',
    )
    oidc_subject_claim: str = Field("sub", description="Claim holding the subject: provider or guardian id, or the application's name.")
    oidc_partner_claim: str = Field("partners", description="Claim holding the partner ids an app acts for (a list or one string).")
    oidc_client_id: str | None = Field(None, description="This server's client id at the provider; with session_secret: web sign-in.")
    oidc_client_secret: str | None = Field(None, description="Client secret, for a confidential client (PKCE is used either way).")
    oidc_scopes: str = Field("openid profile", description="Scopes asked for at sign-in, space-separated.")
    oidc_redirect_uri: str | None = Field(None, description="The registered redirect URI (default: this server's /auth/callback).")
    session_secret: str | None = Field(None, description="Key signing the session cookie; the same in every worker and instance.")
    session_max_age_seconds: int = Field(
        28_800, ge=60, description="Longest a web session lasts, in seconds (never past the access token's exp)."
    )
    session_cookie_secure: bool = Field(True, description="Send the session cookie over HTTPS only (Secure); off only for local tests.")

    # Metrics, traces and logs (docs/operations.md, "Observability").
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics on GET /metrics.")
    metrics_dir: Path | None = Field(
        None, description="Directory shared by the worker processes' metric files (default with --workers N: a fresh temporary one)."
    )
    otel_enabled: bool = Field(False, description="Export OpenTelemetry traces: a span per request and per engine step.")
    otel_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318/v1/traces)."
    )
    otel_service_name: str = Field("needtoknow", description="service.name of the exported spans.")
    log_level: str = Field("info", description="Least severe log level written (debug, info, warning, error).")

    # Limits per caller (docs/operations.md, "Limits").
    rate_limit: str = Field(
        "50/second;1200/minute", description="Requests per token, in the limits library's notation ('' turns it off)."
    )
    aggregate_limits: dict[str, str] = Field(
        default_factory=lambda: {"admin": "600/minute", "staff": "60/minute", "analyst": "60/minute"},
        description="Cost budget per token of each role for aggregate questions (coverage, networks), as JSON.",
    )
    rate_limit_storage: str = Field(
        "memory://", description="Where limit counters live (limits storage URI); memory:// counts per worker process."
    )

    @property
    def introspection_enabled(self) -> bool:
        """Introspection is on when asked for, or when GraphiQL needs it."""
        return self.introspection or self.graphiql
