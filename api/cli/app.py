"""The typer application and the options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graph.settings import Settings

__all__ = ["DbOption", "app", "settings_for"]

app = typer.Typer(
    name="needtoknow",
    help="Who may see a student's record, for what purpose, now — and why.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite journal file (env NTK_DB; default ./needtoknow.db).", show_default=False)
]
BackendOption = Annotated[str | None, typer.Option("--backend", help="networkx (default) or neo4j (env NTK_BACKEND).")]
Neo4jUriOption = Annotated[
    str | None, typer.Option("--neo4j-uri", help="bolt://host:7687 or neo4j://host:7687 for a cluster (env NTK_NEO4J_URI).")
]
Neo4jUserOption = Annotated[
    str | None,
    typer.Option(
        "--neo4j-user", help="Neo4j user (env NTK_NEO4J_USER); the password comes from NTK_NEO4J_PASSWORD or NTK_NEO4J_PASSWORD_FILE."
    ),
]
Neo4jDatabaseOption = Annotated[str | None, typer.Option("--neo4j-database", help="Neo4j database (env NTK_NEO4J_DATABASE).")]


def settings_for(
    db: Path | None = None,
    backend: str | None = None,
    neo4j_uri: str | None = None,
    neo4j_user: str | None = None,
    neo4j_database: str | None = None,
) -> Settings:
    """Settings from the environment, overridden by the command's options."""
    given = {"db": db, "backend": backend, "neo4j_uri": neo4j_uri, "neo4j_user": neo4j_user, "neo4j_database": neo4j_database}
    return Settings(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]
