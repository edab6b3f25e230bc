"""``token rotate`` and the parsing of ``--expires`` / ``--grace`` (``token create`` is in `api.cli.server`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Final

import typer

from api.cli import render
from api.cli.app import BackendOption, DbOption, Neo4jDatabaseOption, Neo4jUriOption, Neo4jUserOption, settings_for
from api.cli.server import token_app
from api.config import ApiSettings
from api.tokens import open_tokens
from graph import commands
from graph.errors import InputError, NeedToKnowError
from graph.open import open_store
from graph.timeutil import parse_instant, to_iso, utcnow

__all__ = ["ExpiresOption", "parse_duration", "parse_expires"]

_DURATION: Final = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS: Final = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

EXPIRES_HELP: Final = (
    "When the token stops working: a duration (90d, 12h, 30m, 2w) or an ISO 8601 time with an offset "
    "(a bare date is local midnight in the partnership's time zone); default NTK_TOKEN_DEFAULT_LIFETIME_DAYS (90 days)."
)
ExpiresOption = Annotated[str | None, typer.Option("--expires", help=EXPIRES_HELP, show_default=False)]


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` -> a timedelta.

    Raises
    ------
    InputError
        Anything else, or zero.
    """
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InputError(f"{text!r} is not a duration such as 90d, 12h, 30m or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_expires(text: str | None, zone: str) -> tuple[datetime | None, timedelta]:
    """(an instant, or None, and the lifetime to use when it is None) from ``--expires``.

    The lifetime is the duration given, else the configured default.

    Raises
    ------
    InputError
        Neither a duration nor an ISO 8601 time with an offset (or a bare date).
    """
    default = timedelta(days=ApiSettings().token_default_lifetime_days)
    if text is None:
        return None, default
    if _DURATION.match(text.strip()):
        return None, parse_duration(text)
    try:
        return parse_instant(text, zone), default
    except (InputError, ValueError) as err:
        raise InputError(f"--expires: {err}") from err


@token_app.command("rotate")
def token_rotate(
    token_id: Annotated[str, typer.Argument(help="Token id (tok_...).")],
    expires: ExpiresOption = None,
    grace: Annotated[
        str | None, typer.Option("--grace", help="Keep the old token working this long (30m, 1d); default: it stops at once.")
    ] = None,
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """Replace a token by a new secret with the same role, subject and partners; print the secret once."""
    settings = settings_for(db, backend, neo4j_uri, neo4j_user, neo4j_database)
    graph_store = None
    try:
        expires_at, lifetime = parse_expires(expires, settings.policy().default_time_zone)
        grace_for = parse_duration(grace) if grace else None
        graph_store = open_store(settings)
        registry = open_tokens(settings, graph_store)
        try:
            info, secret = commands.rotate_token(registry, graph_store, commands.RotateToken(token_id, expires_at, lifetime, grace_for))
        finally:
            registry.close()
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        if graph_store is not None:
            graph_store.close()
    until = f"; {token_id} works until {to_iso(utcnow() + grace_for)}" if grace_for else f"; {token_id} is revoked"
    render.err_console.print(f"rotated to {info.id} ({info.role}, expires {info.expires_at}){until}; the secret is shown once:")
    print(secret)
