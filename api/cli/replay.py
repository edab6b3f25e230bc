"""``needtoknow replay DECISION_ID``: re-derive a recorded decision from the journal."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from api.cli import render
from api.cli.app import DbOption, app, settings_for
from graph.audit import SqliteAuditLog
from graph.errors import NeedToKnowError
from graph.replay import replay as replay_decision

__all__ = ["replay"]


@app.command()
def replay(
    decision_id: Annotated[str, typer.Argument(help="The record's id (from the record of decisions or `disclosures`).")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay a recorded decision from the journal as known at its consistency token.

    Exit 0: identical; 1: it differs (each difference printed); 2: no such record, or it
    cannot be replayed.
    """
    settings = settings_for(db)
    if not settings.db.exists():
        render.error(f"no store at {settings.db}: give --db (or NTK_DB)")
        raise typer.Exit(2)
    audit = SqliteAuditLog(settings.db)
    try:
        record = audit.get(decision_id)
        if record is None:
            render.error(f"no recorded decision with id {decision_id!r}")
            raise typer.Exit(2)
        report = replay_decision(settings.db, record, settings.policy())
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        audit.close()
    if as_json:
        print(
            json.dumps(
                {
                    "decision_id": report.decision_id,
                    "consistency_token": report.consistency_token,
                    "identical": report.identical,
                    "differences": list(report.differences),
                },
                indent=2,
            )
        )
    elif report.identical:
        render.console.print(f"{report.decision_id}: identical (replayed at consistency token {report.consistency_token})")
    else:
        render.console.print(f"{report.decision_id}: [red]differs[/] (replayed at consistency token {report.consistency_token})")
        for line in report.differences:
            render.console.print("  " + escape(line))
    raise typer.Exit(0 if report.identical else 1)
