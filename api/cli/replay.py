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
    decision_id: Annotated[
        str | None, typer.Argument(help="The record's id (from the record of decisions or `disclosures`).", show_default=False)
    ] = None,
    student: Annotated[str | None, typer.Option("--student", help="Replay every recorded decision about this student.")] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay recorded decisions from the journal, each as known at its consistency token.

    Give a DECISION_ID, or --student S for every decision about S (a guardian's record).
    Exit 0: every one identical; 1: one differs (each difference printed); 2: no such
    record, or it cannot be replayed.
    """
    settings = settings_for(db)
    if (decision_id is None) == (student is None):
        render.error("give a DECISION_ID or --student, not both")
        raise typer.Exit(2)
    if not settings.db.exists():
        render.error(f"no store at {settings.db}: give --db (or NTK_DB)")
        raise typer.Exit(2)
    audit = SqliteAuditLog(settings.db)
    try:
        if decision_id is not None:
            record = audit.get(decision_id)
            if record is None:
                render.error(f"no recorded decision with id {decision_id!r}")
                raise typer.Exit(2)
            records = [record]
        else:
            records = audit.for_student(str(student))
        reports = [replay_decision(settings.db, r, settings.policy()) for r in records]
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        audit.close()
    if as_json:
        rows = [
            {
                "decision_id": r.decision_id,
                "consistency_token": r.consistency_token,
                "identical": r.identical,
                "differences": list(r.differences),
            }
            for r in reports
        ]
        print(json.dumps(rows[0] if decision_id is not None else rows, indent=2))
    for r in [] if as_json else reports:
        if r.identical:
            render.console.print(f"{r.decision_id}: identical (replayed at consistency token {r.consistency_token})")
        else:
            render.console.print(f"{r.decision_id}: [red]differs[/] (replayed at consistency token {r.consistency_token})")
            for line in r.differences:
                render.console.print("  " + escape(line))
    if student is not None and not as_json:
        render.console.print(f"{sum(r.identical for r in reports)} of {len(reports)} recorded decisions about {student} replay identically")
    raise typer.Exit(0 if all(r.identical for r in reports) else 1)
