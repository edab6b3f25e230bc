"""OneRoster 1.1 / 1.2 CSV packages -> canonical records (docs/loaders/oneroster.md).

Read: ``manifest.csv``, ``orgs.csv``, ``users.csv`` (1.1: role and orgSourcedIds on the
user; 1.2: ``roles.csv``), ``enrollments.csv`` (student rows date the ATTENDS edge),
``demographics.csv`` (only ``birthDate`` is kept: eligibility needs it; sex, race and
the rest are never held). Everything else in a package is ignored.

Mapping: org ``district`` -> District, ``school`` -> School (PART_OF its district);
user ``student`` -> Student, ``parent``/``guardian``/``relative`` -> Guardian with
GUARDIAN_OF from ``agentSourcedIds`` (always ``ferpa_rights=unverified``: the field
carries no custody meaning), staff roles -> Provider. Ids are the raw sourcedIds
(docs/identity.md, "OneRoster and SDS").

Files are streamed row by row with the csv module (valid UTF-8 through the io module's
decoder; a file with bad bytes line by line, to name each bad line); only the output
records and the id indexes needed to resolve references are held. `RosterBuilder` is the mapping core,
shared with `loaders.sds`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from graph.errors import InvalidTime, Problem
from graph.model import (
    Attends,
    District,
    Edge,
    EdgeKind,
    FerpaRights,
    Guardian,
    GuardianOf,
    GuardianRelationship,
    Node,
    NodeKind,
    PartOf,
    Provider,
    School,
    Student,
)
from graph.timeutil import DEFAULT_TIME_ZONE, LocalDates, ensure_aware
from graph.trusted import bulk_allocation, constructor
from loaders.base import (
    End,
    LoadResult,
    MissingStarts,
    StoreRef,
    consequence_problems,
    problems_from_validation,
    warn_students_without_guardians,
)
from loaders.columns import ONEROSTER, Columns, near_miss

if TYPE_CHECKING:
    from loaders.column_map import ColumnMap  # imports the SDS readers, which import this module

__all__ = [
    "GUARDIAN_ROLES",
    "bulk_allocation",
    "STAFF_ROLES",
    "RosterBuilder",
    "Row",
    "package_files",
    "read",
    "read_table",
]

_BOM: Final = b"\xef\xbb\xbf"

GUARDIAN_ROLES: Final[Mapping[str, GuardianRelationship]] = {
    "parent": GuardianRelationship.PARENT,
    "guardian": GuardianRelationship.LEGAL_GUARDIAN,
    "relative": GuardianRelationship.RELATIVE,
}
"""OneRoster user roles that make a Guardian, and the GUARDIAN_OF.relationship they give."""

STAFF_ROLES: Final = frozenset(
    {
        # OneRoster 1.1
        "teacher",
        "aide",
        "administrator",
        # OneRoster 1.2 staff roles (school staff, not IT: systemAdministrator is not kept)
        "counselor",
        "principal",
        "siteAdministrator",
        "districtAdministrator",
    }
)
"""OneRoster user roles that make a Provider (school staff)."""

_STATUS_KEEP: Final = frozenset({"", "active"})
_STATUS_DELETE: Final = "tobedeleted"


# ---------------------------------------------------------------------------- CSV


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its 1-based first physical line and its fields by column."""

    line: int
    values: list[str]
    cols: Mapping[str, int]

    def get(self, name: str) -> str:
        """The stripped value of column `name`, or "" when the column is absent."""
        i = self.cols.get(name)
        return "" if i is None else self.values[i].strip()


def _lines(fb: Iterable[bytes], name: str, result: LoadResult) -> Iterator[str]:
    """Decode physical lines one by one so a bad byte is reported at its exact line.

    Departs from ``open(encoding="utf-8-sig", newline="")`` on purpose: a text stream
    decodes 8 KiB at a time, so a non-UTF-8 byte would fail on an unrelated line and
    abandon the file; here the bad line becomes one Problem and the rest still loads.
    The BOM is dropped and line endings are left to the csv module (CRLF loads).
    """
    for number, raw in enumerate(fb, 1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as err:
            result.problems.append(
                Problem(name, number, None, f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1}); row skipped")
            )
            yield "\n"  # a blank line keeps the csv module's line count equal to the file's


def read_table(
    path: Path,
    result: LoadResult,
    required: Sequence[str],
    *,
    must_exist: bool = True,
    dropped: Iterable[str] = (),
    columns: Columns | None = None,
    data: bool = True,
    column_map: ColumnMap | None = None,
) -> Iterator[Row]:
    """Stream the data rows of one CSV file; bad rows become Problems in `result`.

    Parameters
    ----------
    path : Path
        The CSV file (UTF-8, BOM allowed, CRLF or LF).
    result : LoadResult
        Problems and warnings are appended here.
    required : Sequence[str]
        Columns the header must have (case-sensitive, as OneRoster says). A missing one
        is one Problem at line 1 and no row is yielded.
    must_exist : bool
        When False a missing file yields nothing silently.
    dropped : Iterable[str]
        Columns present in the source that are deliberately not kept; one warning per
        file names those found (so an operator sees what was dropped).
    columns : Columns, optional
        The columns the format defines for this file (`loaders.columns`). A required or
        relationship-bearing column present only under another case or a near-miss
        spelling is a Problem naming both (``required column agentSourcedIds is missing
        (found agentSourcedId)``) and no row is yielded; columns the format does not
        define are listed in one warning.
    data : bool
        False for a control file (``manifest.csv``): its rows are not counted in
        ``result.rows_read``, which counts source data rows only.
    column_map : ColumnMap, optional
        ``--map`` column rows: the source's own column names are renamed to the format's
        before anything reads the header (`loaders.column_map`).

    Yields
    ------
    Row
        Rows with at least as many fields as the header. A short row (a truncated file)
        is a Problem; extra non-empty fields are a warning; blank lines are skipped.
    """
    name = path.name
    if not path.is_file():
        if must_exist:
            result.problems.append(Problem(name, None, None, "file not found" + _found_instead(path, columns)))
            result.refused_files.add(name)
        return
    with path.open("rb") as fb:
        # Valid UTF-8 (the common case) is decoded by the io module and parsed by the csv module
        # in C; otherwise `_lines` reports each bad line at its own line number.
        lines: Iterable[str] = io.TextIOWrapper(fb, encoding="utf-8-sig", newline="") if _valid_utf8(path) else _lines(fb, name, result)
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
        except csv.Error as err:
            result.problems.append(Problem(name, 1, None, f"unreadable header: {err}"))
            result.refused_files.add(name)
            return
        if not header or not any(h.strip() for h in header):
            result.problems.append(Problem(name, 1, None, "empty file: no header row"))
            result.refused_files.add(name)
            return
        cols: dict[str, int] = {}
        names = [h.strip() for h in header]
        if column_map:
            names, clash = column_map.header(name, names)
            if clash:
                result.problems.extend(clash)
                result.refused_files.add(name)
                return
        # Spreadsheet exports end headers in empty cells (`,,`): nothing is named there, so
        # they are ignored as long as every row leaves them empty too. An unnamed column
        # between named ones is refused, naming its position.
        named = max((i for i, h in enumerate(names) if h), default=-1) + 1
        unnamed: list[Problem] = []
        for i, h in enumerate(names[:named]):
            if not h:
                around = f"between {names[i - 1]!r} and {names[i + 1]!r}" if i else f"before {names[1]!r}"
                unnamed.append(Problem(name, 1, f"column {i + 1}", f"column {i + 1} has no name ({around}): every column needs one"))
                continue
            if h in cols:
                result.problems.append(Problem(name, 1, h, "column appears twice in the header"))
            cols.setdefault(h, i)
        dropped = frozenset(dropped)
        defined = set(required) | dropped | (columns.known | columns.relations if columns is not None else set())
        stray = [h for h in cols if h and h not in defined]
        refused = False
        for c in required:
            if c not in cols:
                alt = near_miss(c, stray)
                message = f"required column {c} is missing (found {alt})" if alt else f"required column {c!r} is missing from the header"
                result.problems.append(Problem(name, 1, c, message, value=alt))
                refused = True
        for c in sorted(columns.relations - cols.keys()) if columns is not None else ():
            alt = near_miss(c, stray)
            if alt is not None:
                result.problems.append(
                    Problem(name, 1, c, f"column {c} is missing (found {alt}); it carries relationships or dates "
                                        "that are kept: rename the column (names are case-sensitive)", value=alt)
                )
                refused = True
        if unnamed:
            result.problems.extend(unnamed)
            refused = True
        if refused:
            result.refused_files.add(name)
            return
        if named < len(names):
            result.warnings.append(
                Problem(name, 1, None, f"{len(names) - named} empty column(s) at the end of the header ignored "
                                       f"(column {named + 1} on); a value under one is refused")
            )
        found = sorted(c for c in dropped if c in cols)
        if found:
            result.warnings.append(Problem(name, 1, None, "columns not kept (never held): " + ", ".join(found)))
        if columns is not None and stray:
            result.warnings.append(Problem(name, 1, None, "unknown columns, not read: " + ", ".join(stray)))
        width = len(header)
        prev = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                result.problems.append(Problem(name, reader.line_num, None, f"malformed CSV: {err}; the rest of the file was not read"))
                return
            line, prev = prev + 1, reader.line_num
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) < named:  # the empty columns that end a header may be missing from a row
                result.problems.append(
                    Problem(
                        name,
                        line,
                        header[len(values)].strip(),
                        f"row has {len(values)} of {named} fields (truncated?); row skipped",
                    )
                )
                continue
            if len(values) > width and any(v.strip() for v in values[width:]):
                result.warnings.append(Problem(name, line, None, f"row has {len(values)} fields, header {width}; extra fields ignored"))
            stray_value = next((k for k in range(named, min(width, len(values))) if values[k].strip()), None)
            if stray_value is not None:
                result.problems.append(
                    Problem(name, line, f"column {stray_value + 1}",
                            f"value {values[stray_value].strip()!r} under column {stray_value + 1}, "
                            "which has no name in the header; row skipped", value=values[stray_value].strip())
                )
                continue
            result.rows_read += data
            yield Row(line, values, cols)


def _valid_utf8(path: Path) -> bool:
    """True when the whole file decodes as UTF-8 (checked in 1 MiB chunks: far cheaper than parsing)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fb:
            while chunk := fb.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _found_instead(path: Path, columns: Columns | None) -> str:
    """`` (found Users.csv)`` when a file of another case or a near-miss name sits beside the missing one."""
    if not path.parent.is_dir():
        return ""
    alt = near_miss(path.name, (p.name for p in path.parent.iterdir() if p.is_file()))
    return f" (found {alt}; names are case-sensitive)" if alt else ""


def check_file_names(files: Mapping[str, Path], read: Iterable[str], not_read: Iterable[str], result: LoadResult) -> None:
    """Files of a package whose name is a near miss of one the loader reads are Problems; others a warning.

    ``Users.csv`` beside no ``users.csv`` would otherwise be skipped silently, with every
    relationship it carries (names are case-sensitive in OneRoster and SDS).
    """
    read, known = frozenset(read), frozenset(read) | frozenset(not_read)
    unknown: list[str] = []
    for name in files:
        if name in known:
            continue
        alt = near_miss(name, (r for r in read if r not in files))
        if alt is not None:
            message = f"file name {name} is not {alt} (names are case-sensitive): rename it"
            result.problems.append(Problem(name, None, None, message, value=name))
            result.refused_files.add(alt)
        else:
            unknown.append(name)
    if unknown:
        result.warnings.append(Problem(unknown[0], None, None, "files not read (not part of the format): " + ", ".join(unknown)))


def package_files(paths: Sequence[Path]) -> list[dict[str, Path]]:
    """Group input paths into packages: ``{file name: path}`` per package, in input order.

    A directory is one package (its ``*.csv`` files); files sharing a parent directory
    form one package holding just those files.
    """
    packages: dict[Path, dict[str, Path]] = {}
    for p in paths:
        if p.is_dir():
            packages.setdefault(p, {}).update({f.name: f for f in sorted(p.glob("*.csv"))})
        else:
            packages.setdefault(p.parent, {})[p.name] = p
    return list(packages.values())


# ---------------------------------------------------------------------------- values


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` (or a datetime, whose date part is taken) -> date. Raises ValueError."""
    if len(text) > 10:
        return datetime.fromisoformat(text).date()
    return date.fromisoformat(text)


def parse_modified(text: str) -> datetime:
    """dateLastModified (ISO 8601 with offset) -> aware UTC. Raises ValueError / InvalidTime."""
    value = datetime.fromisoformat(text)
    return ensure_aware(value)


def split_ids(text: str) -> list[str]:
    """A OneRoster list field (``"a,b"``; SDS also allows ``;``) -> stripped non-empty ids."""
    if not text:
        return []
    if "," not in text and ";" not in text:
        return [text]  # the common case (callers pass stripped text)
    return [t for t in (s.strip() for s in text.replace(";", ",").split(",")) if t]


def person_name(row: Row, given: str = "givenName", family: str = "familyName") -> str:
    """``givenName familyName`` (middle names are not kept)."""
    return " ".join(p for p in (row.get(given), row.get(family)) if p)


# ---------------------------------------------------------------------------- speed


# Construction without validation and the GC pause live in graph.trusted (one door for both).


def _plain_id(value: str) -> bool:
    """True for ids the model surely accepts (1..200 printable characters, no surrounding spaces)."""
    return 0 < len(value) <= 200 and value.isprintable() and value[0] != " " and value[-1] != " "


_FAST: Final[dict[type[Any], Callable[..., Any]]] = {
    cls: constructor(cls) for cls in (Student, Guardian, Provider, School, District, Attends, GuardianOf, PartOf)
}
"""Trusted constructors, used only for values known valid: ids pass `_plain_id` (a strict
subset of the model's id rule), datetimes are aware UTC made here, enums are members and
``valid_to >= valid_from`` was checked; anything else takes the validating path, which
yields the Problem. Tests compare every record with its validated twin."""
_FAST_GUARDIAN_OF: Final = _FAST[GuardianOf]


# ---------------------------------------------------------------------------- builder


@dataclass(slots=True)
class _Span:
    """ATTENDS evidence for one (student, school): its first dated period, then any others.

    A period is ``(begin, end)`` with ``end`` exclusive and None for open. Periods stay
    separate unless they overlap or touch (issue 11: a gap is a gap); ``more`` is only
    allocated for the rare student with several.
    """

    begin: date | None
    end: date | None
    dated: bool
    file: str
    line: int
    more: list[tuple[date | None, date | None]] | None = None

    def periods(self) -> list[tuple[date | None, date | None]]:
        """The periods merged where they overlap or touch, in order of begin (None first)."""
        spans = [(self.begin, self.end), *(self.more or ())]
        if len(spans) == 1:
            return spans
        spans.sort(key=lambda p: p[0] or date.min)
        out: list[tuple[date | None, date | None]] = [spans[0]]
        for begin, end in spans[1:]:
            last_begin, last_end = out[-1]
            if last_end is None or (begin or date.min) <= last_end:
                out[-1] = (last_begin, None if last_end is None or end is None else max(last_end, end))
            else:
                out.append((begin, end))
        return out


# The files whose rows define what a reference expects (users.csv, and SDS roles.csv for a user's kind).
_USERS: Final = frozenset({"users.csv", "roles.csv", "relationships.csv"})
_DEFINED_IN: Final[Mapping[str, frozenset[str]]] = {
    "a student": _USERS,
    "a guardian": _USERS,
    "a user": _USERS,
    "a user in users.csv": _USERS,
    "a school": frozenset({"orgs.csv"}),
    "an org in orgs.csv": frozenset({"orgs.csv"}),
}


_EXPECTED_KINDS: Final[Mapping[str, frozenset[NodeKind]]] = {
    "a student": frozenset({NodeKind.STUDENT}),
    "a guardian": frozenset({NodeKind.GUARDIAN}),
    "a user": frozenset({NodeKind.STUDENT, NodeKind.GUARDIAN, NodeKind.PROVIDER}),
    "a user in users.csv": frozenset({NodeKind.STUDENT, NodeKind.GUARDIAN, NodeKind.PROVIDER}),
    "a school": frozenset({NodeKind.SCHOOL}),
    "an org in orgs.csv": frozenset({NodeKind.DISTRICT}),
}
"""What a reference the package does not resolve must be in the store (`loaders.base.StoreRef`)."""

# What a tobedeleted row of each file carried (OneRoster and SDS): the edges it ends at its node.
_CARRIED: Final[Mapping[str, tuple[tuple[EdgeKind, str], ...]]] = {
    "users.csv": ((EdgeKind.GUARDIAN_OF, "out"), (EdgeKind.GUARDIAN_OF, "in"), (EdgeKind.ATTENDS, "out")),
    "orgs.csv": ((EdgeKind.PART_OF, "out"),),
}


class RosterBuilder:
    """The roster -> graph mapping shared by the OneRoster and SDS loaders.

    Rows are added as they stream; references (a school's district, a student's agents,
    an enrolment's user) are resolved in `finish`, so file order does not matter.

    Parameters
    ----------
    default_valid_from : datetime
        Aware; the start of every edge whose source gives no begin date.
    recorded_at : datetime | None
        Aware; set on every edge.
    source : str
        Prefix of each edge's ``source`` (``"<source>:<file name>"``).
    include_names : bool
        Keep student and guardian names (off by default; DOMAIN.md).
    time_zone : str
        IANA zone in which source dates (beginDate, endDate) start at local midnight.
    id_tag : str
        The format's name in GUARDIAN_OF ids (``guardian_of:<id_tag>:<guardian>:<student>``).
    column_map : ColumnMap, optional
        ``--map`` column rows, applied to every header read (`read_table`).

    Raises
    ------
    InvalidTime
        `default_valid_from` / `recorded_at` naive, or `time_zone` unknown.
    """

    def __init__(
        self,
        *,
        default_valid_from: datetime | None,
        recorded_at: datetime | None,
        source: str,
        include_names: bool,
        time_zone: str = DEFAULT_TIME_ZONE,
        id_tag: str = "oneroster",
        column_map: ColumnMap | None = None,
    ) -> None:
        self.result = LoadResult()
        self.column_map = column_map
        self._sources: dict[str, str] = {}
        self.id_tag = id_tag
        self.guardians_in = "relationships.csv" if id_tag == "sds" else "users.csv agentSourcedIds"
        self.default_valid_from = None if default_valid_from is None else ensure_aware(default_valid_from)
        self.starts = MissingStarts(self.default_valid_from)
        self.recorded_at = None if recorded_at is None else ensure_aware(recorded_at)
        self.source = source
        self.include_names = include_names
        # OneRoster dates are calendar days in the partnership's zone (docs/dates.md): beginDate
        # is inclusive (local 00:00 of it), endDate exclusive (local 00:00 of it too).
        self.dates = LocalDates(time_zone)
        self._midnight = self.dates.start
        # One namespace: every node id -> its index in result.nodes.
        self._index: dict[str, int] = {}
        self._modified: dict[str, datetime] = {}
        self._package_start = 0
        self._parents: list[tuple[str, str, str, int]] = []
        self._attends: dict[tuple[str, str], _Span] = {}
        self._agents: list[tuple[str, str, str, int]] = []
        self._guardian_links: list[tuple[str, str, GuardianRelationship, str, int]] = []
        self._guardian_role: dict[str, GuardianRelationship] = {}
        self._user_refs: list[tuple[str, str, int, str]] = []
        # Org ids of types that are not mapped (department, state...): references to them are not broken.
        self._unmapped_orgs: set[str] = set()
        # Ids of rows skipped as tobedeleted: references to them are dropped quietly, not broken.
        self.deleted: set[str] = set()
        # Where each node of result.nodes was read (compact: rosters run to millions of rows).
        self._files: list[str] = []
        self._node_file: array[int] = array("H")
        self._node_line: array[int] = array("L")
        self._dups: dict[str, tuple[str, list[tuple[str, int]]]] = {}
        # References that may only be missing because a file was refused: (file, field, what) -> [(line, id)].
        self._consequences: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        self._rejected_refs: dict[str, list[tuple[str, int | None, str]]] = {}

    # -- nodes --------------------------------------------------------------------

    def begin_package(self) -> None:
        """Mark the start of a new package: a sourcedId repeated within it is a duplicate."""
        self._package_start = len(self.result.nodes)

    def _file_no(self, file: str) -> int:
        if not self._files or self._files[-1] != file:
            if file not in self._files:
                self._files.append(file)
            return self._files.index(file)
        return len(self._files) - 1

    def _report_duplicates(self) -> None:
        for node_id, (field_name, places) in self._dups.items():
            where = ", ".join(f"{f}:{n}" for f, n in places)
            self.result.problems.append(
                Problem(places[1][0], places[1][1], field_name, f"duplicate sourcedId {node_id!r}: on {len(places)} lines ({where})")
            )
        self._dups.clear()

    def kind_of(self, node_id: str) -> NodeKind | None:
        """The kind of a node added so far, or None."""
        i = self._index.get(node_id)
        return None if i is None else self.result.nodes[i].kind

    def _node(self, file: str, line: int, field_name: str, node_id: str, modified: datetime | None, make: type[Node], **data: Any) -> bool:
        """Validate and add a node; handle ids already seen. True when the node was kept."""
        try:
            fast = _FAST.get(make) if _plain_id(node_id) else None
            node = fast(id=node_id, **data) if fast is not None else make(id=node_id, **data)
        except ValidationError as err:
            for p in problems_from_validation(err, file, line):
                self.result.problems.append(Problem(p.file, p.line, field_name if p.field == "id" else p.field, p.message))
            self.result.rejected.setdefault(node_id, (file, line))
            return False
        i = self._index.get(node_id)
        if i is None:
            self._index[node_id] = len(self.result.nodes)
            self.result.nodes.append(node)
            self._node_file.append(self._file_no(file))
            self._node_line.append(line)
            if modified is not None:
                self._modified[node_id] = modified
            return True
        old = self.result.nodes[i]
        if old.kind is not node.kind:
            self.result.problems.append(
                Problem(file, line, field_name, f"sourcedId {node_id!r} is already a {old.kind} (one id namespace across kinds)")
            )
            return False
        if i >= self._package_start:
            # Reported once per id in `finish`, naming every line it is on.
            seen = self._dups.get(node_id)
            if seen is None:
                seen = self._dups[node_id] = (field_name, [(self._files[self._node_file[i]], self._node_line[i])])
            seen[1].append((file, line))
            return False
        # A later package updates an earlier one only when its row is newer (dateLastModified).
        before = self._modified.get(node_id)
        if modified is not None and (before is None or modified > before):
            self.result.nodes[i] = node
            self._node_file[i], self._node_line[i] = self._file_no(file), line
            self._modified[node_id] = modified
            return True
        self.result.warnings.append(
            Problem(file, line, "dateLastModified", f"{node_id!r} not newer than an earlier package's row; kept the earlier")
        )
        return False

    def add_org(self, file: str, line: int, sourced_id: str, name: str, kind: NodeKind, parent_id: str, modified: datetime | None) -> None:
        """Add a District or School; a School's `parent_id` becomes PART_OF when it is a District."""
        make: type[Node] = School if kind is NodeKind.SCHOOL else District
        if self._node(file, line, "sourcedId", sourced_id, modified, make, name=name) and kind is NodeKind.SCHOOL and parent_id:
            self._parents.append((sourced_id, parent_id, file, line))

    def add_student(
        self,
        file: str,
        line: int,
        sourced_id: str,
        *,
        name: str | None,
        birth_date: date | None,
        postsecondary: bool = False,
        modified: datetime | None = None,
    ) -> bool:
        """Add a Student (name only when names are enabled)."""
        return self._node(
            file,
            line,
            "sourcedId",
            sourced_id,
            modified,
            Student,
            birth_date=birth_date,
            postsecondary_enrolled=postsecondary,
            name=name if self.include_names else None,
        )

    def add_guardian(
        self,
        file: str,
        line: int,
        sourced_id: str,
        *,
        name: str | None,
        relationship: GuardianRelationship | None = None,
        modified: datetime | None = None,
    ) -> bool:
        """Add a Guardian; `relationship` (from the user's role) is used for agent links."""
        kept = self._node(file, line, "sourcedId", sourced_id, modified, Guardian, name=name if self.include_names else None)
        if kept and relationship is not None and relationship is not GuardianRelationship.PARENT:
            self._guardian_role[sourced_id] = relationship  # parent, the common case, is the default: not stored
        return kept

    def add_provider(self, file: str, line: int, sourced_id: str, *, name: str, modified: datetime | None = None) -> bool:
        """Add a Provider (school staff); the name is kept."""
        return self._node(file, line, "sourcedId", sourced_id, modified, Provider, name=name)

    # -- evidence for edges ---------------------------------------------------------

    def agents(self, file: str, line: int, user_id: str, agent_ids: str) -> None:
        """``agentSourcedIds`` (the raw list text): undirected student <-> guardian links, resolved in `finish`.

        One entry per row, split late: this list is the largest thing held while reading.
        """
        self._agents.append((user_id, agent_ids, file, line))

    def guardian_link(self, file: str, line: int, student_id: str, guardian_id: str, relationship: GuardianRelationship) -> None:
        """An explicit guardian -> student link (SDS relationships.csv)."""
        self._guardian_links.append((student_id, guardian_id, relationship, file, line))

    def user_ref(self, file: str, line: int, user_id: str, field_name: str) -> None:
        """A reference to a user that must exist (e.g. a teacher's enrolment)."""
        self._user_refs.append((user_id, file, line, field_name))

    def attends(
        self,
        file: str,
        line: int,
        student_id: str,
        school_id: str,
        begin: date | None = None,
        end: date | None = None,
        *,
        dated: bool = False,
    ) -> None:
        """Evidence that a student attends an org. Dated evidence (enrolments, roles) wins over undated
        (orgSourcedIds); dated periods are kept apart unless they overlap or touch (a gap between two
        enrolments is a gap, not attendance)."""
        key = (student_id, school_id)
        span = self._attends.get(key)
        if span is None:
            self._attends[key] = _Span(begin, end, dated, file, line)
            return
        if dated and not span.dated:
            span.begin, span.end, span.dated, span.file, span.line, span.more = begin, end, True, file, line, None
            return
        if not dated:
            return
        if span.more is None:
            span.more = []
        span.more.append((begin, end))

    # -- finish ----------------------------------------------------------------------

    def _edge(self, make: type[Edge], file: str, line: int, *, soft: bool = False, **data: Any) -> None:
        # from_id/to_id are ids of nodes already added (so valid); the edge id and interval are checked here.
        # `soft`: the start is only a row's dateLastModified or --valid-from (LoadResult.soft_starts).
        if soft:
            self.result.soft_starts.add(data["id"])
        fast = _FAST.get(make)
        stop = data.get("valid_to")
        source = self._source_of(file)
        if fast is not None and len(data["id"]) <= 200 and (stop is None or stop >= data["valid_from"]):
            self.result.edges.append(fast(recorded_at=self.recorded_at, source=source, **data))
            return
        try:
            edge = make(recorded_at=self.recorded_at, source=source, **data)
        except ValidationError as err:
            self.result.problems.extend(problems_from_validation(err, file, line))
            return
        self.result.edges.append(edge)

    def _source_of(self, file: str) -> str:
        """``<source>:<file>``, one string per file shared by its edges (a copy per edge is ~60 bytes times millions)."""
        source = self._sources.get(file)
        if source is None:
            source = self._sources[file] = sys.intern(f"{self.source}:{file}")
        return source

    def _ref_problem(self, file: str, line: int, field_name: str, ref: str, what: str) -> bool:
        """Handle a reference the package does not resolve as `what`; True when it goes to the store.

        A reference to nothing in the package becomes a `StoreRef` (an incremental file names
        records loaded before; the load resolves it in its transaction) and the edge is kept;
        one to a rejected row or into a refused file is that problem's consequence; one to a
        record of another kind is a Problem.
        """
        kind = self.kind_of(ref)
        if kind is None and ref in self.result.rejected:
            self._rejected_refs.setdefault(ref, []).append((file, line, field_name))
            return False
        if kind is None and self.result.refused_files & _DEFINED_IN.get(what, frozenset()):
            # The consequence of the file that would define it not being read: reported once, in `finish`.
            self._consequences.setdefault((file, field_name, what), []).append((line, ref))
            return False
        if kind is None and what in _EXPECTED_KINDS:
            self.result.store_refs.append(StoreRef(ref, _EXPECTED_KINDS[what], file, line, field_name, what))
            return True
        found = f"is a {kind}" if kind is not None else "is not in the package"
        self.result.problems.append(Problem(file, line, field_name, f"{ref!r} {found}; expected {what}", value=ref))
        return False

    def tobedeleted(self, file: str, row: Row, sourced_id: str, at: datetime | None) -> None:
        """A ``tobedeleted`` row: end (at `at`) the relationships it carried (`loaders.base.End`).

        users.csv: the user's GUARDIAN_OF links and attendance; orgs.csv: the school's PART_OF;
        a student enrolment (enrollments.csv) or role (roles.csv): attendance at that org; an
        SDS relationships.csv row: that guardian link. ATTENDS is held per student and school,
        not per class: another student enrolment at the school in the same load keeps it.
        """
        prefix = f"{self.source}:"
        sides = _CARRIED.get(file)
        if sides is not None:
            self.result.ends.append(End(sourced_id, sides, at, file, row.line, prefix))
            return
        if file in ("enrollments.csv", "roles.csv"):
            if row.get("role").lower() != "student":
                return
            user = row.get("userSourcedId")
            org = row.get("schoolSourcedId") or row.get("orgSourcedId")
            if not user or not org:
                self.result.problems.append(
                    Problem(file, row.line, "userSourcedId" if not user else "schoolSourcedId",
                            "a tobedeleted student row needs the user and the org to say which attendance ends")
                )
                return
            self.result.ends.append(End(user, ((EdgeKind.ATTENDS, "out"),), at, file, row.line, prefix, other=org))
        elif file == "relationships.csv":
            student, adult = row.get("userSourcedId"), row.get("relationshipUserSourcedId")
            if student and adult:
                self.result.ends.append(End(student, ((EdgeKind.GUARDIAN_OF, "in"),), at, file, row.line, prefix, other=adult))

    def restated(self, file: str, line: int, node_id: str, at: datetime | None, sides: tuple[tuple[EdgeKind, str], ...]) -> None:
        """An active row of a ``delta`` file: the record's full current state (OneRoster 1.1/1.2).

        The relationships of this file at `node_id` (`sides`) that the row no longer carries
        end at `at` (its dateLastModified; None: the load's record time). What the row, or any
        other row of the load, states again is kept (`graph.commands.load`); only edges whose
        ``source`` is this file of this source are ended (an enrolment's ATTENDS is not a
        users.csv row's to end). History is kept.
        """
        self.result.ends.append(End(node_id, sides, at, file, line, f"{self.source}:{file}", why="delta row"))

    def _report_consequences(self) -> None:
        self.result.problems.extend(consequence_problems(self._rejected_refs, self.result.rejected))
        self._rejected_refs.clear()
        for (file, field_name, what), refs in self._consequences.items():
            refused = ", ".join(sorted(self.result.refused_files & _DEFINED_IN[what]))
            line = refs[0][0]
            sample = ", ".join(f"{r!r} (line {n})" for n, r in refs[:5]) + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")
            self.result.problems.append(
                Problem(file, line, field_name,
                        f"{len(refs)} reference(s) to {what} not found: {sample}; a consequence of {refused} not being read "
                        "(the problem above): fix that first")
            )
        self._consequences.clear()

    def finish(self) -> LoadResult:
        """Resolve references and emit the edges; return the result (nodes, then edges).

        Order is deterministic: PART_OF, ATTENDS, GUARDIAN_OF, each in order of first evidence.
        """
        N = NodeKind
        skip = self.deleted
        for school, parent, file, line in self._parents:
            kind = self.kind_of(parent)
            if kind is None and parent in skip:
                continue
            if kind is N.DISTRICT or (
                kind is None and parent not in self._unmapped_orgs
                and self._ref_problem(file, line, "parentSourcedId", parent, "an org in orgs.csv")
            ):
                edge_id = f"part_of:{school}:{parent}"
                start = self.starts.start(self._modified.get(school), file, line, "PART_OF", edge_id)
                if start is not None:
                    self._edge(PartOf, file, line, soft=True, id=edge_id, from_id=school, to_id=parent, valid_from=start)
            elif kind is None and parent not in self._unmapped_orgs:
                continue  # a rejected row or a refused file: reported as its consequence
            else:
                self.result.warnings.append(Problem(file, line, "parentSourcedId", f"parent {parent!r} is not a district; no PART_OF"))
        for (student, school), span in self._attends.items():
            skind, okind = self.kind_of(student), self.kind_of(school)
            if student in skip or school in skip:
                continue
            if skind is not N.STUDENT and not (
                skind is None and self._ref_problem(span.file, span.line, "userSourcedId", student, "a student")
            ):
                continue
            school_ref = len(self.result.store_refs)
            if okind is not N.SCHOOL and not (
                okind is None and school not in self._unmapped_orgs
                and self._ref_problem(span.file, span.line, "orgSourcedId", school, "a school")
            ):
                continue  # a district or an unmapped org type: no ATTENDS
            emitted_at = len(self.result.edges)
            for n, (begin, end) in enumerate(span.periods()):
                # The first period keeps the plain id (stable across loads); later ones carry their begin date.
                edge_id = f"attends:{student}:{school}" if n == 0 else f"attends:{student}:{school}:{begin}"
                stop = None if end is None else self._midnight(end)
                own = self._modified.get(student) if begin is None else self._midnight(begin)
                start = self.starts.start(own if stop is None or own is None or own <= stop else None,
                                          span.file, span.line, "ATTENDS", edge_id)
                if start is None:
                    continue
                self._edge(
                    Attends,
                    span.file,
                    span.line,
                    soft=begin is None,
                    id=edge_id,
                    from_id=student,
                    to_id=school,
                    valid_from=start,
                    valid_to=stop,
                )
            if okind is None and school_ref < len(self.result.store_refs):
                # A district in the store gives no attendance (as in a full package): the load drops these edges.
                ref = self.result.store_refs[school_ref]
                self.result.store_refs[school_ref] = dataclasses.replace(
                    ref, skip_kinds=frozenset({N.DISTRICT}), edge_ids=tuple(e.id for e in self.result.edges[emitted_at:])
                )
        del self._attends
        self._parents.clear()
        emitted: set[str] = set()
        # The hottest loop of a roster load (one pass per agent link, each link seen from both
        # sides): kinds are looked up inline and each row's own kind once.
        index, nodes = self._index, self.result.nodes
        is_s, is_g = N.STUDENT, N.GUARDIAN
        for a, text, file, line in self._agents:
            ia = index.get(a)
            ka = None if ia is None else nodes[ia].kind
            for b in split_ids(text):
                ib = index.get(b)
                kb = None if ib is None else nodes[ib].kind
                if b in skip:
                    continue
                if kb is None:
                    # Not in the package (a delta): a student's agent must be a guardian in the store, and vice versa.
                    expected = "a guardian" if ka is is_s else "a student"
                    if not self._ref_problem(file, line, "agentSourcedIds", b, expected):
                        continue
                    kb = is_g if ka is is_s else is_s
                if ka is is_s and kb is is_g:
                    self._guardian_of(emitted, b, a, self._guardian_role.get(b, GuardianRelationship.PARENT), file, line, stated_by=a)
                elif ka is is_g and kb is is_s:
                    self._guardian_of(emitted, a, b, self._guardian_role.get(a, GuardianRelationship.PARENT), file, line, stated_by=a)
                else:
                    message = f"agent {b!r} ({kb}) of {a!r} ({ka}) is not a student-guardian pair; ignored"
                    self.result.warnings.append(Problem(file, line, "agentSourcedIds", message))
        self._agents.clear()
        for student, guardian, rel, file, line in self._guardian_links:
            ks, kg = self.kind_of(student), self.kind_of(guardian)
            if student in skip or guardian in skip:
                continue
            if ks is not N.STUDENT and not (ks is None and self._ref_problem(file, line, "userSourcedId", student, "a student")):
                continue
            if kg is not N.GUARDIAN and not (
                kg is None and self._ref_problem(file, line, "relationshipUserSourcedId", guardian, "a guardian")
            ):
                continue
            self._guardian_of(emitted, guardian, student, rel, file, line)
        for user, file, line, field_name in self._user_refs:
            if user not in self._index and user not in skip:
                self._ref_problem(file, line, field_name, user, "a user")
        self._report_duplicates()
        self._report_consequences()
        self.starts.report(self.result, "no beginDate, and no dateLastModified on the row that states it")
        if not self.result.problems:
            warn_students_without_guardians(self.result, "users.csv", self.guardians_in)
        return self.result

    def _guardian_of(
        self, emitted: set[str], guardian: str, student: str, rel: GuardianRelationship, file: str, line: int, stated_by: str = ""
    ) -> None:
        # Tagged with the format: the same pair from Ed-Fi (`guardian_of:<g>:<s>`) states verified rights, and the
        # importer's merge would let this roster's `unverified` overwrite them (docs/identity.md).
        edge_id = f"guardian_of:{self.id_tag}:{guardian}:{student}"
        if edge_id in emitted:
            return
        emitted.add(edge_id)
        # The link holds from when the row stating it says so (its dateLastModified), else the explicit start.
        start = self._modified.get(stated_by) or self.default_valid_from
        if start is None:
            self.starts.start(None, file, line, "GUARDIAN_OF", edge_id)  # noted: one Problem per file in `finish`
            return
        if len(edge_id) <= 200:
            # The fast path of `_edge`, inline: ids of kept nodes, an open interval, constants (one call per link).
            self.result.soft_starts.add(edge_id)
            self.result.edges.append(_FAST_GUARDIAN_OF(
                id=edge_id, from_id=guardian, to_id=student, valid_from=start, relationship=rel,
                ferpa_rights=FerpaRights.UNVERIFIED, recorded_at=self.recorded_at, source=self._source_of(file),
            ))  # fmt: skip
            return
        # ferpa_rights is always unverified: a roster link carries no custody meaning (DOMAIN.md).
        self._edge(
            GuardianOf,
            file,
            line,
            soft=True,
            id=edge_id,
            from_id=guardian,
            to_id=student,
            valid_from=start,
            relationship=rel,
            ferpa_rights=FerpaRights.UNVERIFIED,
        )

    def unmapped_org(self, sourced_id: str) -> None:
        """Remember an org whose type is not mapped, so references to it are not 'unknown'."""
        self._unmapped_orgs.add(sourced_id)

    def midnight(self, day: date) -> datetime:
        """Local midnight of `day` in the builder's time zone, as aware UTC."""
        return self._midnight(day)


# ---------------------------------------------------------------------------- OneRoster

_ORG_KINDS: Final[Mapping[str, NodeKind]] = {"district": NodeKind.DISTRICT, "school": NodeKind.SCHOOL}
_VERSIONS: Final = frozenset({"1.0", "1.1", "1.2"})
_BULK_KINDS: Final[Mapping[str, frozenset[EdgeKind]]] = {
    "orgs.csv": frozenset({EdgeKind.PART_OF}),
    "users.csv": frozenset({EdgeKind.GUARDIAN_OF, EdgeKind.ATTENDS}),
    "enrollments.csv": frozenset({EdgeKind.ATTENDS}),
    "roles.csv": frozenset({EdgeKind.ATTENDS}),
}
"""The edges a bulk file of a OneRoster package carries (their ``source`` is ``<source>:<file>``)."""
_FILE_MODES: Final = frozenset({"bulk", "delta", "absent"})
# Files of the OneRoster CSV binding this loader does not read (no warning for them).
_ONEROSTER_NOT_READ: Final = frozenset(
    f"{n}.csv"
    for n in (
        "academicSessions",
        "categories",
        "classes",
        "classResources",
        "courses",
        "courseResources",
        "lineItems",
        "resources",
        "results",
        "lineItemLearningObjectiveIds",
        "lineItemScoreScales",
        "resultLearningObjectiveIds",
        "resultScoreScales",
        "scoreScales",
        "userProfiles",
        "userResources",
        "assessmentLineItems",
        "assessmentResults",
    )
)
_USERS_DROPPED: Final = (
    "email",
    "sms",
    "phone",
    "password",
    "username",
    "userIds",
    "identifier",
    "middleName",
    "grades",
    "preferredGivenName",
    "preferredMiddleName",
    "preferredFamilyName",
    "pronouns",
    "userMasterIdentifier",
)
_DEMOGRAPHICS_KEPT: Final = frozenset({"sourcedId", "userSourcedId", "status", "dateLastModified", "birthDate"})


def row_state(row: Row, file: str, builder: RosterBuilder, id_field: str = "sourcedId") -> tuple[bool, datetime | None]:
    """A row's ``status`` and ``dateLastModified``: (keep the row?, modified time or None).

    ``tobedeleted`` rows are skipped as records (their id is remembered, so references to
    them are dropped, not reported as broken) and end the relationships they carried at
    their dateLastModified (`RosterBuilder.tobedeleted`); an unknown status or an
    unparsable dateLastModified is a Problem.
    """
    cols, values = row.cols, row.values
    i, j = cols.get("status"), cols.get("dateLastModified")
    if (i is None or not values[i]) and (j is None or not values[j]):
        return True, None  # the bulk-file case, kept cheap
    result = builder.result
    status = row.get("status")
    if status not in _STATUS_KEEP:
        if status == _STATUS_DELETE:
            sourced_id = row.get(id_field)
            builder.deleted.add(sourced_id)
            at: datetime | None = None
            text = row.get("dateLastModified")
            if text:
                try:
                    at = parse_modified(text)
                except (ValueError, InvalidTime) as err:
                    result.problems.append(
                        Problem(file, row.line, "dateLastModified", f"not an ISO 8601 time with offset: {text!r} ({err})")
                    )
                    return False, None
            builder.tobedeleted(file, row, sourced_id, at)
        else:
            result.problems.append(Problem(file, row.line, "status", f"unknown status {status!r} (active or tobedeleted)"))
        return False, None
    text = row.get("dateLastModified")
    if not text:
        return True, None
    try:
        return True, parse_modified(text)
    except (ValueError, InvalidTime) as err:
        result.problems.append(Problem(file, row.line, "dateLastModified", f"not an ISO 8601 time with offset: {text!r} ({err})"))
        return False, None


def row_dates(
    row: Row, file: str, result: LoadResult, begin: str = "beginDate", end: str = "endDate"
) -> tuple[bool, date | None, date | None]:
    """A row's begin/end dates: (ok?, begin, end). Unparsable or reversed dates are Problems."""
    out: list[date | None] = []
    for name in (begin, end):
        text = row.get(name)
        if not text:
            out.append(None)
            continue
        try:
            out.append(parse_date(text))
        except ValueError:
            result.problems.append(Problem(file, row.line, name, f"not a date (YYYY-MM-DD): {text!r}", value=text))
            return False, None, None
    b, e = out
    if b is not None and e is not None and e < b:
        result.problems.append(Problem(file, row.line, end, f"{end} {e} is before {begin} {b}"))
        return False, None, None
    return True, b, e


def read_orgs(
    builder: RosterBuilder,
    path: Path,
    kinds: Mapping[str, NodeKind] = _ORG_KINDS,
    fold: Callable[[str], str] = str,
    columns: Columns = ONEROSTER["orgs.csv"],
    must_exist: bool = True,
) -> dict[str, str]:
    """orgs.csv: district -> District, school -> School (+PART_OF); other types are a warning.

    `fold` normalises a type before lookup in `kinds` (SDS matches case-insensitively).
    `must_exist` False: a missing file reads nothing (an incremental set whose orgs are in the store).
    Returns ``{sourcedId: folded type}`` of the orgs kept.
    """
    file = path.name
    types: dict[str, str] = {}
    for row in read_table(path, builder.result, ("sourcedId", "name", "type"), columns=columns, must_exist=must_exist,
            column_map=builder.column_map):
        keep, modified = row_state(row, file, builder)
        if not keep:
            continue
        sourced_id, org_type = row.get("sourcedId"), fold(row.get("type"))
        kind = kinds.get(org_type)
        if kind is None:
            builder.unmapped_org(sourced_id)
            builder.result.warnings.append(
                Problem(file, row.line, "type", f"org type {row.get('type')!r} is not mapped; org {sourced_id!r} skipped")
            )
            continue
        types[sourced_id] = org_type
        builder.add_org(file, row.line, sourced_id, row.get("name"), kind, row.get("parentSourcedId"), modified)
    return types


def read_birth_dates(
    builder: RosterBuilder, path: Path, id_field: str = "sourcedId", columns: Columns = ONEROSTER["demographics.csv"]
) -> dict[str, date]:
    """demographics.csv -> {user sourcedId: birthDate}. Every other column is dropped unread."""
    file = path.name
    out: dict[str, date] = {}
    result = builder.result
    header_dropped = _demographic_columns(path)
    for row in read_table(path, result, (id_field,), must_exist=False, dropped=header_dropped, columns=columns,
            column_map=builder.column_map):
        keep, _ = row_state(row, file, builder, id_field)
        if not keep:
            continue
        text = row.get("birthDate")
        if not text:
            continue
        try:
            out[row.get(id_field)] = parse_date(text)
        except ValueError:
            result.problems.append(Problem(file, row.line, "birthDate", f"not a date (YYYY-MM-DD): {text!r}"))
    return out


def _demographic_columns(path: Path) -> list[str]:
    """The header columns of a demographics file that are not kept (for the one warning)."""
    if not path.is_file():
        return []
    with path.open("rb") as fb:
        first = fb.readline().removeprefix(_BOM).decode("utf-8", errors="replace")
    return [c.strip() for c in next(csv.reader([first]), []) if c.strip() and c.strip() not in _DEMOGRAPHICS_KEPT]


_MANIFEST_READ: Final = frozenset({"orgs.csv", "users.csv", "enrollments.csv", "demographics.csv", "roles.csv"})
"""The files a manifest's ``file.*`` values matter for: the ones this loader reads."""


def _read_manifest(path: Path, result: LoadResult) -> tuple[str | None, dict[str, str]]:
    """manifest.csv -> (oneroster.version or None, {file name: bulk|delta|absent})."""
    version: str | None = None
    modes: dict[str, str] = {}
    file = path.name
    for row in read_table(path, result, ("propertyName", "value"), must_exist=False, columns=ONEROSTER["manifest.csv"], data=False):
        prop, value = row.get("propertyName"), row.get("value")
        if prop == "oneroster.version":
            if value not in _VERSIONS:
                result.problems.append(Problem(file, row.line, "value", f"unsupported oneroster.version {value!r} (1.0, 1.1, 1.2)"))
            version = value
        elif prop.startswith("file."):
            table = prop.removeprefix("file.") + ".csv"
            if value not in _FILE_MODES:
                shown = "blank" if not value else repr(value)
                if table in _MANIFEST_READ:
                    result.problems.append(
                        Problem(file, row.line, "value", f"{prop}: {shown} is not bulk, delta or absent (the only values "
                                                         f"OneRoster allows), and {table} is read", value=value)
                    )
                else:  # the specification forbids it, but nothing read depends on it
                    result.warnings.append(
                        Problem(file, row.line, "value", f"{prop}: {shown} is not bulk, delta or absent (the only values "
                                                         f"OneRoster allows); accepted: {table} is never read", value=value)
                    )
                continue
            modes[table] = value
    return version, modes


def _primary_roles(builder: RosterBuilder, path: Path) -> dict[str, str]:
    """OneRoster 1.2 roles.csv -> {userSourcedId: role that decides the node kind}.

    A user with several roles is one node: student wins over staff, staff over guardian
    roles (docs/loaders/oneroster.md). Student roles at an org also give ATTENDS evidence,
    dated by beginDate/endDate.
    """
    file = path.name
    roles: dict[str, str] = {}
    rank = {"student": 3, **dict.fromkeys(STAFF_ROLES, 2), **dict.fromkeys(GUARDIAN_ROLES, 1)}
    for row in read_table(path, builder.result, ("userSourcedId", "role", "orgSourcedId"), columns=ONEROSTER["roles.csv"],
            column_map=builder.column_map):
        keep, _ = row_state(row, file, builder)
        if not keep:
            continue
        user, role, org = row.get("userSourcedId"), row.get("role"), row.get("orgSourcedId")
        if role not in rank:
            builder.result.warnings.append(Problem(file, row.line, "role", f"role {role!r} is not mapped; row skipped"))
            continue
        before = roles.get(user)
        if before is not None and before != role and rank[before] != rank[role]:
            builder.result.warnings.append(
                Problem(
                    file,
                    row.line,
                    "role",
                    f"user {user!r} is both {before} and {role}; kept as the first of student, staff, guardian",
                )
            )
        if before is None or rank[role] > rank[before]:
            roles[user] = role
        if role == "student":
            ok, begin, end = row_dates(row, file, builder.result)
            if ok:
                builder.attends(file, row.line, user, org, begin, end, dated=begin is not None or end is not None)
    return roles


_GUARDIAN_SIDES: Final = ((EdgeKind.GUARDIAN_OF, "out"), (EdgeKind.GUARDIAN_OF, "in"))


def _read_users(
    builder: RosterBuilder, path: Path, birth_dates: Mapping[str, date], roles: Mapping[str, str] | None, delta: bool = False
) -> None:
    """users.csv: one node per user by role; orgSourcedIds (1.1) and agentSourcedIds give edge evidence.

    `delta`: the manifest marks the file ``delta``; an active row is then the user's full
    current state, and the guardian links (and, in 1.1, the ``orgSourcedIds`` attendance) it
    no longer lists end at its dateLastModified (`RosterBuilder.restated`).
    """
    file = path.name
    required = ("sourcedId",) if roles is not None else ("sourcedId", "role", "orgSourcedIds")
    result = builder.result
    names = builder.include_names  # building a name that would be dropped costs a tenth of the read
    for row in read_table(path, result, required, dropped=_USERS_DROPPED, columns=ONEROSTER["users.csv"], column_map=builder.column_map):
        keep, modified = row_state(row, file, builder)
        if not keep:
            continue
        sourced_id, line = row.get("sourcedId"), row.line
        role = row.get("role") if roles is None else roles.get(sourced_id, "")
        if role == "student":
            kept = builder.add_student(
                file,
                line,
                sourced_id,
                name=(names and person_name(row)) or None,
                birth_date=birth_dates.get(sourced_id),
                modified=modified,
            )
            if kept and roles is None:
                for org in split_ids(row.get("orgSourcedIds")):
                    builder.attends(file, line, sourced_id, org)
        elif role in GUARDIAN_ROLES:
            kept = builder.add_guardian(
                file,
                line,
                sourced_id,
                name=(names and person_name(row)) or None,
                relationship=GUARDIAN_ROLES[role],
                modified=modified,
            )
        elif role in STAFF_ROLES:
            builder.add_provider(file, line, sourced_id, name=person_name(row), modified=modified)
            continue  # a staff member's agents are not guardianship
        else:
            why = "has no role in roles.csv" if roles is not None and not role else f"role {role!r} is not mapped"
            result.warnings.append(Problem(file, line, "role", f"user {sourced_id!r} {why}; skipped"))
            continue
        if kept:
            agents = row.get("agentSourcedIds")
            if agents:
                builder.agents(file, line, sourced_id, agents)
            if delta:
                # Only what the header carries is restated: a file without agentSourcedIds says nothing of guardians.
                sides: tuple[tuple[EdgeKind, str], ...] = _GUARDIAN_SIDES if "agentSourcedIds" in row.cols else ()
                if role == "student" and roles is None and "orgSourcedIds" in row.cols:
                    sides += ((EdgeKind.ATTENDS, "out"),)
                if sides:
                    builder.restated(file, line, sourced_id, modified, sides)


def _read_enrollments(builder: RosterBuilder, path: Path) -> None:
    """enrollments.csv: a student row dates ATTENDS (beginDate/endDate); others are reference-checked."""
    file = path.name
    result = builder.result
    for row in read_table(path, result, ("userSourcedId", "schoolSourcedId", "role"), must_exist=False,
                          columns=ONEROSTER["enrollments.csv"], column_map=builder.column_map):
        keep, _ = row_state(row, file, builder)
        if not keep:
            continue
        user, school = row.get("userSourcedId"), row.get("schoolSourcedId")
        if row.get("role") == "student":
            ok, begin, end = row_dates(row, file, result)
            if ok:
                builder.attends(file, row.line, user, school, begin, end, dated=begin is not None or end is not None)
        else:
            builder.user_ref(file, row.line, user, "userSourcedId")


def read(
    paths: Sequence[Path],
    *,
    default_valid_from: datetime | None = None,
    recorded_at: datetime | None = None,
    source: str = "oneroster",
    include_names: bool = False,
    time_zone: str = DEFAULT_TIME_ZONE,
    column_map: ColumnMap | None = None,
) -> LoadResult:
    """Read OneRoster 1.1 / 1.2 CSV packages into canonical records.

    Parameters
    ----------
    paths : Sequence[Path]
        Package directories, or CSV files (files sharing a directory are one package).
        Packages are read in order; a later package's row replaces an earlier one's only
        when its dateLastModified is newer.
    default_valid_from : datetime
        Aware; ``valid_from`` of an edge whose source gives no begin date.
    recorded_at : datetime | None
        Aware; set on every edge.
    source : str
        Edge ``source`` prefix, e.g. ``"oneroster:users.csv"``.
    include_names : bool
        Keep student and guardian names (staff and org names are always kept).
    time_zone : str
        IANA zone of the district: beginDate/endDate start at its local midnight.
    column_map : ColumnMap, optional
        ``--map`` column rows: a source's own column names onto OneRoster's.

    Returns
    -------
    LoadResult
        Nodes (District, School, Student, Guardian, Provider), then edges (PART_OF,
        ATTENDS, GUARDIAN_OF), plus Problems and warnings (file, 1-based line, field).

    Raises
    ------
    InvalidTime
        A naive `default_valid_from` / `recorded_at`, or an unknown `time_zone`.
    """
    builder = RosterBuilder(
        default_valid_from=default_valid_from,
        recorded_at=recorded_at,
        source=source,
        include_names=include_names,
        time_zone=time_zone,
        column_map=column_map,
    )
    with bulk_allocation():
        for files in package_files(paths):
            builder.begin_package()
            _read_package(builder, files)
        return builder.finish()


def _read_package(builder: RosterBuilder, files: Mapping[str, Path]) -> None:
    result = builder.result
    base = next(iter(files.values())).parent if files else Path()

    def path(name: str) -> Path:
        return files.get(name, base / name)

    check_file_names(files, ONEROSTER, _ONEROSTER_NOT_READ, result)
    version: str | None = None
    modes: dict[str, str] = {}
    if "manifest.csv" in files:
        version, modes = _read_manifest(files["manifest.csv"], result)
    else:
        result.warnings.append(Problem("manifest.csv", None, None, "no manifest.csv; version taken from the files present"))
    for name, mode in modes.items():
        if (
            mode in ("bulk", "delta")
            and name not in files
            and name in ("orgs.csv", "users.csv", "enrollments.csv", "demographics.csv", "roles.csv")
        ):
            result.problems.append(Problem(name, None, None, f"manifest.csv says file.{name[:-4]} is {mode}, but the file is missing"))
    if version is None:
        version = "1.2" if "roles.csv" in files else "1.1"

    def present(name: str) -> bool:
        return modes.get(name) != "absent" and name in files

    def wanted(name: str) -> bool:
        return modes.get(name) != "absent"  # the manifest says per file; without one, the file is required

    # A bulk file restates its source in full: what it no longer sends ends (graph.commands.load).
    for name, mode in modes.items():
        kinds = _BULK_KINDS.get(name)
        if mode == "bulk" and name in files and kinds is not None:
            carried = kinds - {EdgeKind.ATTENDS} if name == "users.csv" and version == "1.2" else kinds
            result.bulk_sources[f"{builder.source}:{name}"] = frozenset(carried)
    if wanted("orgs.csv"):
        read_orgs(builder, path("orgs.csv"))
    birth_dates = read_birth_dates(builder, path("demographics.csv")) if present("demographics.csv") else {}
    roles = _primary_roles(builder, path("roles.csv")) if version == "1.2" and wanted("roles.csv") else None
    if wanted("users.csv"):
        _read_users(builder, path("users.csv"), birth_dates, roles if roles is not None or version != "1.2" else {},
                    delta=modes.get("users.csv") == "delta")
    del birth_dates, roles
    if present("enrollments.csv"):
        _read_enrollments(builder, path("enrollments.csv"))
