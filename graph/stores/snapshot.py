"""A snapshot of the embedded store's in-memory graph, so a restart replays only the journal's tail.

The journal stays the truth; a snapshot is a cache of "the graph as of consistency token N"
that is checked before it is believed, and ignored (with a log line saying why) when any
check fails — the store then replays the whole journal, as without one:

- **signed**: an HMAC-SHA256 over the header and the payload, keyed by a random secret kept in
  the journal's own ``meta`` table. Only someone who can read the journal can make a snapshot
  it accepts, and a torn or corrupted file fails the check. The payload is a pickle and is
  unpickled only after the check passes.
- **taken from this journal, at a token it still holds**: the header names the token N and a
  SHA-256 of the journal row N; a journal that is shorter than N or whose row N differs (a
  restored or replaced file) makes the snapshot stale.
- **written by this code**: a tag of the snapshot format, the Python and networkx versions,
  the graph's layout (graph.stores.memory_layout) and every model class's fields; a snapshot of another shape is ignored.

File layout: ``MAGIC``, one JSON header line, 32 bytes of HMAC, the pickle (protocol 5; records
as calls of constructors generated per model class, graph.stores.snapshot_codec, which
unpickle without dataclasses' per-record setstate; format 2). Written to a temporary file and
renamed into place, so a reader sees an old snapshot or a new one whole; a snapshot of an
earlier format is ignored with a log line (reason ``format``) and the journal replayed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Final

import networkx as nx
import structlog

from graph import model
from graph.stores.journal import Journal
from graph.stores.memory_layout import LAYOUT
from graph.stores.snapshot_codec import RecordPickler
from graph.trusted import bulk_allocation

__all__ = ["SNAPSHOT_SUFFIX", "SnapshotRejected", "code_tag", "default_path", "read_snapshot", "write_snapshot"]

log = structlog.get_logger("needtoknow.snapshot")

MAGIC: Final = b"NTKSNAP1\n"
FORMAT: Final = 2
SNAPSHOT_SUFFIX: Final = ".snapshot"
_CHUNK: Final = 1 << 20


class SnapshotRejected(Exception):
    """A snapshot failed a check; ``reason`` is a short code (corrupt, stale, foreign, format)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _NotWanted(Exception):
    """The snapshot is newer than the read-only view being opened (`MemoryStore(until=...)`)."""


def default_path(journal_path: Path) -> Path:
    """Where the snapshot of the journal at `journal_path` lives: beside it, ``<name>.snapshot``."""
    return journal_path.with_name(journal_path.name + SNAPSHOT_SUFFIX)


def code_tag() -> str:
    """What the pickled state depends on: format, Python, networkx, the graph's layout and every model class's fields."""
    shapes = []
    for name in sorted(dir(model)):
        cls = getattr(model, name)
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            shapes.append(f"{name}({','.join(f.name for f in dataclasses.fields(cls))})")
    digest = hashlib.sha256(";".join(shapes).encode()).hexdigest()[:16]
    return f"{FORMAT}/py{sys.version_info[0]}.{sys.version_info[1]}/nx{nx.__version__}/layout{LAYOUT}/{digest}"


def write_snapshot(journal: Journal, seq: int, state: Any, path: Path) -> int:
    """Write `state` (the store's graph as of journal token `seq`) to `path`; return its size in bytes.

    The caller guarantees `state` is exactly the journal replayed up to `seq` (the store's own
    state under its lock, or a forked copy of it). Raises OSError when the file cannot be written.
    """
    key = journal.snapshot_key(create=True)
    assert key is not None
    header = json.dumps({"seq": seq, "row": journal.row_digest(seq), "code": code_tag()}, sort_keys=True).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w+b") as f:
            f.write(MAGIC + header)
            mac_at = f.tell()
            f.write(bytes(32))  # the MAC's slot, filled once the payload is written
            signing = _Signing(f, hmac.new(key, header, hashlib.sha256))
            RecordPickler(signing).dump(state)
            size = f.tell()
            f.seek(mac_at)
            f.write(signing.mac.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


class _Signing:
    """A write-only file wrapper that feeds every byte written to a MAC as well (pickle.dump's target)."""

    def __init__(self, f: IO[bytes], mac: hmac.HMAC) -> None:
        self._f = f
        self.mac = mac

    def write(self, data: bytes) -> int:
        self.mac.update(data)
        return self._f.write(data)


def read_snapshot(journal: Journal, path: Path, *, until: int | None = None) -> tuple[int, Any] | None:
    """The (token, state) of the snapshot at `path` when every check passes; None otherwise.

    None without a word when there is no file or it was taken after `until` (a view of an
    earlier state); None with a warning log line naming the file and the reason when it is
    corrupt, stale, of another journal or of another code version. Never raises for a bad file.
    """
    try:
        return _read(journal, path, until)
    except (FileNotFoundError, _NotWanted):
        return None
    except SnapshotRejected as err:
        log.warning("snapshot_ignored", path=str(path), reason=err.reason, detail=err.detail)
        return None
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        log.warning("snapshot_ignored", path=str(path), reason="unreadable", detail=str(err))
        return None


def _read(journal: Journal, path: Path, until: int | None) -> tuple[int, Any]:
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise SnapshotRejected("corrupt", "not a needtoknow snapshot")
        header_line = f.readline(4096)
        try:
            header = json.loads(header_line)
            seq, row, code = int(header["seq"]), str(header["row"]), str(header["code"])
        except (ValueError, KeyError, TypeError) as err:
            raise SnapshotRejected("corrupt", f"header unreadable: {err}") from err
        if until is not None and seq > until:  # a sound snapshot, only newer than this view wants
            raise _NotWanted
        if code != code_tag():
            raise SnapshotRejected("format", f"written by other code ({code}, this is {code_tag()})")
        key = journal.snapshot_key(create=False)
        if key is None:
            raise SnapshotRejected("foreign", "the journal holds no snapshot key (the snapshot is of another journal)")
        stored_mac = f.read(32)
        mac = hmac.new(key, header_line, hashlib.sha256)
        start = f.tell()
        while chunk := f.read(_CHUNK):
            mac.update(chunk)
        if not hmac.compare_digest(mac.digest(), stored_mac):
            raise SnapshotRejected("corrupt", "signature does not match (damaged, truncated, or of another journal)")
        head = journal.head()
        if seq > head:
            raise SnapshotRejected("stale", f"taken at token {seq}, the journal ends at {head}")
        if journal.row_digest(seq) != row:
            raise SnapshotRejected("stale", f"journal row {seq} is not the one the snapshot was taken after")
        f.seek(start)
        # Unpickled only now: the bytes are the ones signed with this journal's own key.
        with bulk_allocation(freeze=True):  # millions of acyclic objects: no collection walks them mid-load
            state = pickle.load(f)
    return seq, state
