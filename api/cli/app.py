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


def settings_for(db: Path | None = None, backend: str | None = None) -> Settings:
    """Settings from the environment, overridden by the command's options."""
    overrides: dict[str, object] = {}
    if db is not None:
        overrides["db"] = db
    if backend is not None:
        overrides["backend"] = backend
    return Settings(**overrides)  # type: ignore[arg-type]
