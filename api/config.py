"""Settings of the GraphQL server: the engine's `Settings` plus the API's switches and limits.

Read from the environment with the same ``NTK_`` prefix (``NTK_GRAPHIQL=1``,
``NTK_MAX_BATCH=2000`` ...). Every limit has a safe default; switches that widen what a
client can learn (GraphiQL, introspection, the audit drill hook) are off by default.
"""

from __future__ import annotations

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
    test_hooks: bool = Field(False, description="Mount POST /_test/audit (admin only) to switch the record of decisions off: drills only.")

    @property
    def introspection_enabled(self) -> bool:
        """Introspection is on when asked for, or when GraphiQL needs it."""
        return self.introspection or self.graphiql
