"""archive_records: move the record of decisions' oldest rows into a compressed, verifiable file.

The record of decisions is not the graph, so this command does not go through
`GraphStore.transact`: its precondition (the rows to archive are still all held, in one
unbroken run) is checked inside the record's own write transaction, the one that lists the
archive and removes the rows (`graph.record_archive`). Recording goes on meanwhile: new
records take numbers after the archived ones and chain on from the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from graph.audit import SqliteAuditLog
from graph.errors import InputError
from graph.timeutil import ensure_aware

__all__ = ["ArchiveRecords", "Archived", "archive_records"]


@dataclass(frozen=True, slots=True)
class ArchiveRecords:
    """Archive the records decided before `before` (aware) into `directory`."""

    before: datetime
    directory: Path


@dataclass(frozen=True, slots=True)
class Archived:
    """One archive written: records ``first_n..last_n`` (`count` of them) in `file`, its SHA-256, the chain head after it."""

    first_n: int
    last_n: int
    count: int
    file: str
    sha256: str
    head: str


def archive_records(audit: SqliteAuditLog, command: ArchiveRecords, *, now: datetime) -> Archived | None:
    """Move held records decided before ``command.before`` into one archive file; None when none is that old.

    Raises
    ------
    InputError
        `before` is after `now` (only the past is archived).
    PreconditionFailed
        ``archive_conflict``: the rows changed while they were written out (another archive ran).
    AuditUnavailable
        The archive file or the record cannot be written; nothing was removed.
    """
    before = ensure_aware(command.before)
    if before > ensure_aware(now):
        raise InputError("--before: a time in the future; only records already decided can be archived")
    done = audit.archive(before, command.directory)
    if done is None:
        return None
    return Archived(
        int(done["first_n"]), int(done["last_n"]), int(done["count"]), str(done["file"]), str(done["sha256"]), str(done["head"])
    )
