"""The `needtoknow` command line (typer + rich): thin commands that parse, call the engine, render.

Sub-modules register their commands on `app`: `core` (init, load, check, explain, lookups,
generate, demo, bench), serve, token, backup, coverage/export (analytics), replay, verify, feed, record.
"""

from __future__ import annotations

from api.cli import (  # noqa: F401  (each module registers its commands on `app`)
    analytics,
    backup,
    core,
    demo,
    feed,
    record,
    replay,
    server,
    snapshot,
    tokens,
    verify,
)
from api.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console script entry point."""
    app()
