"""The `needtoknow` command line (typer + rich): thin commands that parse, call the engine, render.

Sub-modules register their commands on `app`: `core` (init, load, check, explain, lookups,
generate, demo, bench), and others as they exist (serve, token, coverage, export).
"""

from __future__ import annotations

import importlib

from api.cli.app import app

__all__ = ["app", "main"]

_MODULES: tuple[str, ...] = ("api.cli.core", "api.cli.demo", "api.cli.server", "api.cli.tokens", "api.cli.backup", "api.cli.snapshot")
_MODULES += ("api.cli.analytics", "api.cli.replay", "api.cli.verify", "api.cli.feed", "api.cli.record")
for _module in _MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as err:  # a part not built in this checkout
        if err.name != _module:
            raise


def main() -> None:
    """Console script entry point."""
    app()
