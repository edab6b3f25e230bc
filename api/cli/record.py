"""``needtoknow record archive|verify|show``: the record of decisions of the embedded store.

``archive --before DATE`` moves the records decided before DATE into a compressed file that
continues the hash chain (`graph.commands.archive_records`); ``verify`` checks the chain
through every archive file and on into the records still held; ``show --student S`` prints a
student's records as JSON Lines, streamed (memory stays flat however many there are).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.cli import render
from api.cli.app import DbOption, app, parse_at, settings_for
from graph.audit import SqliteAuditLog
from graph.commands.archive_records import ArchiveRecords, archive_records
from graph.errors import NeedToKnowError, StoreUnavailable
from graph.settings import Settings
from graph.timeutil import utcnow

__all__ = ["record_archive", "record_show", "record_verify"]

record_app = typer.Typer(help="The record of decisions (embedded store): archive, verify, show.", no_args_is_help=True)
app.add_typer(record_app, name="record")


def _open(settings: Settings) -> SqliteAuditLog:
    if not settings.db.exists():
        raise StoreUnavailable(f"{settings.db}: no such file")
    return SqliteAuditLog(settings.db)


def default_directory(db: Path) -> Path:
    """Where archives go unless told: ``<db name>-record-archive/`` beside the SQLite file."""
    return db.with_name(db.stem + "-record-archive")


@record_app.command("archive")
def record_archive(
    before: Annotated[str, typer.Option("--before", help="Archive records decided before this time (a date: local 00:00).")],
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write the archive file (default: <db>-record-archive/ beside the file).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Move records decided before --before into one compressed archive file; the chain continues across it.

    Exit 0: archived (or nothing that old); 2: bad input or the record cannot be written (nothing removed).
    """
    settings = settings_for(db)
    when = parse_at(before, option="--before")
    try:
        audit = _open(settings)
        try:
            done = archive_records(audit, ArchiveRecords(when, directory or default_directory(settings.db)), now=utcnow())
        finally:
            audit.close()
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    if done is None:
        render.console.print("no held record was decided before that time; nothing archived")
        return
    render.console.print(
        f"archived records {done.first_n:,}..{done.last_n:,} ({done.count:,}) to {escape(done.file)}; sha256 {done.sha256}; "
        f"chain head {done.head[:16]}"
    )


@record_app.command("verify")
def record_verify(db: DbOption = None) -> None:
    """Check the hash chain through every archive file and the records still held. Exit 0 intact, 1 not, 2 unreadable."""
    settings = settings_for(db)
    try:
        audit = _open(settings)
        try:
            broken = list(audit.verify())
            held, chained = audit.count(), audit.chain_length()
            archives = audit.conn.execute("SELECT COUNT(*), COALESCE(SUM(last_n - first_n + 1), 0) FROM record_archives").fetchone()
        finally:
            audit.close()
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    for line in broken[:20]:
        render.err_console.print("[red]record of decisions:[/] " + escape(line))
    if len(broken) > 20:
        render.err_console.print(f"  ... and {len(broken) - 20} more")
    state = "intact" if not broken else "BROKEN"
    render.console.print(
        f"record of decisions: {chained:,} records chained; {int(archives[1]):,} in {int(archives[0])} archive file(s), "
        f"{held:,} held; chain {state}"
    )
    raise typer.Exit(1 if broken else 0)


@record_app.command("show")
def record_show(
    student: Annotated[str, typer.Option("--student", help="The student whose record to print.")],
    from_: Annotated[str | None, typer.Option("--from", help="Earliest decision time (inclusive).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Latest decision time (exclusive).")] = None,
    db: DbOption = None,
) -> None:
    """Print a student's records held in the file (not archived), oldest first, one JSON object per line."""
    settings = settings_for(db)
    start = parse_at(from_, option="--from") if from_ else None
    end = parse_at(to, option="--to") if to else None
    try:
        audit = _open(settings)
        try:
            for body in audit.stream_student(student, start, end):
                sys.stdout.write(json.dumps(body, separators=(",", ":")) + "\n")
        finally:
            audit.close()
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
