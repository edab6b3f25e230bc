"""Runtime settings: where the store is, which backend, the policy (env prefix ``NTK_``).

Read from the environment (``NTK_DB``, ``NTK_BACKEND``, ``NTK_NEO4J_URI`` ...) and
overridden by CLI options. The Neo4j password comes from ``NTK_NEO4J_PASSWORD`` or the
file named by ``NTK_NEO4J_PASSWORD_FILE``, never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.policy import Policy

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where and how needtoknow runs."""

    model_config = SettingsConfigDict(env_prefix="NTK_", extra="ignore")

    db: Path = Field(Path("needtoknow.db"), description="SQLite file: journal and record of decisions.")
    backend: Literal["networkx", "neo4j"] = Field("networkx", description="networkx (embedded, over the SQLite journal) or neo4j.")
    neo4j_uri: str = Field("bolt://127.0.0.1:7687", description="bolt://host:7687, or neo4j://host:7687 for a cluster.")
    neo4j_user: str = Field("neo4j", description="Neo4j user.")
    neo4j_password: str | None = Field(None, description="Neo4j password (prefer neo4j_password_file; never on a command line).")
    neo4j_password_file: Path | None = Field(None, description="File holding the Neo4j password (wins over neo4j_password).")
    neo4j_database: str = Field("neo4j", description="Neo4j database.")
    neo4j_max_tx_rows: int | None = Field(
        50_000,
        ge=1000,
        description="Bulk mode, on by default so loads of any size fit the server's transaction memory: a validated batch "
        "that writes more rows than this is committed in transactions of at most this many rows (docs/neo4j.md).",
    )
    policy_file: Path | None = Field(None, description="JSON file of Policy settings; defaults apply when absent.")
    include_names: bool = Field(False, description="Keep student and guardian names from sources (off by default).")
    feed_db: Path | None = Field(
        None,
        description="SQLite file of the access-change feed's tables (events, announced access, lease, webhooks; docs/feed.md). "
        "Embedded: default `db`. Ignored with Neo4j: the feed's tables live in Neo4j, shared by every instance.",
    )

    def feed_path(self) -> Path | None:
        """The feed's SQLite file with the embedded store: `feed_db`, else `db`. None with Neo4j
        (the feed lives in Neo4j: `graph.feed.registry.feed_for`; `feed_db` is ignored)."""
        if self.backend == "neo4j":
            return None
        return self.feed_db if self.feed_db is not None else self.db

    def password(self) -> str | None:
        """The Neo4j password from the environment or its file."""
        if self.neo4j_password_file is not None:
            return self.neo4j_password_file.read_text(encoding="utf-8").strip()
        return self.neo4j_password

    def policy(self) -> Policy:
        """The policy: from `policy_file` if set, else the defaults."""
        if self.policy_file is None:
            return Policy()
        return Policy.model_validate_json(self.policy_file.read_text(encoding="utf-8"))
