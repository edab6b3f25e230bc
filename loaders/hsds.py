"""Open Referral HSDS directories -> Partner, Program and Community coverage.

Three layouts are read (docs/loaders/hsds.md):

* **HSDS 3.0**: the tabular package (``organizations.csv``, ``services.csv``,
  ``service_areas.csv``; described by ``datapackage.json``) and the JSON API payloads
  (``organization_full``, ``service_full``, ``service_at_location_full``, their paged
  ``_list`` forms, and ``tabular.json``).
* **HSDS 1.x** (1.0-1.2): the tabular package (``organizations.csv``, ``programs.csv``,
  ``services.csv``, ``service_areas.csv`` with its ``service_area`` column,
  ``locations.csv``).
* **Ohana / HSDS 1.x CSV** (``organizations.csv``, ``locations.csv``, ``services.csv``
  with a comma-joined ``service_areas`` text column).

Mapping: organization -> Partner ``hsds-org:<id>``; service -> Program
``hsds-svc:<id>`` with OFFERS Partner->Program; each service area -> Community
``community:<slug>`` with SERVES_AREA Program->Community. HSDS ``program`` rows (3.0
and Ohana alike) only group services and are not mapped: the service is what a
partner offers in an area, and a consent names it. Locations, phones, contacts,
addresses and schedules are never held.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from graph.errors import Problem
from graph.model import EdgeKind, NodeKind
from graph.timeutil import ensure_aware
from loaders.base import LoadResult, MissingStarts, StoreRef, edge_or_problem, loads_json, node_or_problem
from loaders.column_map import ColumnMap
from loaders.columns import near_miss

__all__ = ["Layout", "community_id", "detect_layout", "read", "slug"]

Layout = Literal["3.0", "1.x", "ohana"]

VERSIONS_READ: Final = "HSDS 1.x (1.0-1.2) and 3.x data packages (CSV), HSDS 3.0 JSON, and the Ohana CSV layout"
MAP_HINT: Final = (
    "an export whose tables are HSDS's under other column names loads with --map FILE column rows "
    "(column,services.csv:<its column>,organization_id); a table under another file name must be renamed to "
    "HSDS's (docs/loaders/hsds.md)"
)

# Columns this loader uses, per table and layout. The 3.0 ones are a subset of
# datapackage.json (tests check it); `service_areas.service_id` is optional there but
# a coverage row without a service maps to nothing, so it is required here.
REQUIRED_V3: Final[Mapping[str, frozenset[str]]] = {
    "organizations.csv": frozenset({"id", "name"}),
    "services.csv": frozenset({"id", "organization_id", "name"}),
    "service_areas.csv": frozenset({"id", "service_id"}),
}
REQUIRED_V1: Final[Mapping[str, frozenset[str]]] = {
    "organizations.csv": frozenset({"id", "name"}),
    "services.csv": frozenset({"id", "organization_id", "name"}),
    "service_areas.csv": frozenset({"id", "service_id", "service_area"}),
    "locations.csv": frozenset({"id"}),
}
REQUIRED_OHANA: Final[Mapping[str, frozenset[str]]] = {
    "organizations.csv": frozenset({"id", "name"}),
    "locations.csv": frozenset({"id", "organization_id"}),
    "services.csv": frozenset({"id", "location_id", "name"}),
}
# Tables that hold contact details, places or opening hours: never held (DOMAIN.md).
_NOT_HELD: Final = frozenset(
    {
        "phones.csv", "contacts.csv", "addresses.csv", "mail_addresses.csv", "schedules.csv",
        "regular_schedules.csv", "holiday_schedules.csv", "service_at_location.csv",
        "accessibility.csv", "languages.csv", "funding.csv", "cost_options.csv", "required_documents.csv",
        "attributes.csv", "taxonomies.csv", "taxonomy_terms.csv", "taxonomy.csv", "metadata.csv",
        "meta_table_descriptions.csv", "organization_identifiers.csv",
    }
)
_SLUG_MAX: Final = 80
_ORGS: Final = "organizations.csv"
_AREAS: Final = "service_areas.csv"
_ORG_KEYS: Final = frozenset(
    {"website", "tax_status", "tax_id", "year_incorporated", "legal_status", "parent_organization_id",
     "programs", "services", "organization_identifiers"}
)


def slug(text: str) -> str:
    """Lowercase ASCII slug of `text` (``"East Palo Alto"`` -> ``"east-palo-alto"``), at most 80 characters.

    Text with no ASCII letters or digits gets ``"h-"`` plus 12 hex digits of its SHA-1,
    so the id stays deterministic.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    s = s[:_SLUG_MAX].rstrip("-")
    if not s:
        s = "h-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return s


def community_id(area: str) -> str:
    """Node id of the Community for a service-area name or extent: ``community:<slug>``."""
    return "community:" + slug(area)


@dataclass(slots=True)
class _Row:
    line: int | None
    values: dict[str, str]
    path: str | None = None


@dataclass(slots=True)
class _Ctx:
    """One read: settings plus what has been emitted (records are deduplicated by id)."""

    result: LoadResult
    valid_from: datetime | None
    recorded_at: datetime | None
    source: str
    starts: MissingStarts = field(default_factory=lambda: MissingStarts(None))
    column_map: ColumnMap | None = None
    node_ids: dict[str, str] = field(default_factory=dict)  # id -> name
    edge_ids: set[str] = field(default_factory=set)

    def node(self, kind: NodeKind, node_id: str, name: str, file: str, line: int | None, path: str | None = None) -> bool:
        if node_id in self.node_ids:
            if self.node_ids[node_id] != name:
                self.result.warnings.append(
                    Problem(file, line, "name", f"{node_id} was read before as {self.node_ids[node_id]!r}; first name kept", path)
                )
            return True
        if node_or_problem(self.result, kind, {"id": node_id, "name": name}, file, line, path) is None:
            return False
        self.node_ids[node_id] = name
        return True

    def edge(self, kind: EdgeKind, from_id: str, to_id: str, file: str, line: int | None, path: str | None = None) -> None:
        edge_id = f"{kind.value.lower()}:{from_id}:{to_id}"
        if edge_id in self.edge_ids:
            return
        start = self.starts.start(None, file, line, str(kind), edge_id)
        if start is None:
            return
        data: dict[str, Any] = {
            "id": edge_id, "from_id": from_id, "to_id": to_id, "valid_from": start,
            "recorded_at": self.recorded_at, "source": f"{self.source}:{file}",
        }
        if edge_or_problem(self.result, kind, data, file, line, path) is not None:
            self.edge_ids.add(edge_id)


# ---------------------------------------------------------------------------- reading


def _expand(paths: Sequence[Path]) -> list[Path]:
    """Files to read: a directory stands for its *.csv and *.json files (datapackage.json included)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in (".csv", ".json") and q.is_file()))
        else:
            out.append(p)
    return out


def _decode(path: Path, result: LoadResult) -> str | None:
    """The file's text; a BOM is dropped; bytes that are not UTF-8 stay as surrogates (reported per row)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        result.problems.append(Problem(path.name, None, None, f"cannot read file: {err.strerror or err}"))
        return None
    return raw.decode("utf-8-sig", errors="surrogateescape")


def _bad_text(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _read_csv(
    path: Path, required: frozenset[str], result: LoadResult, column_map: ColumnMap | None = None
) -> list[_Row] | None:
    """Rows of a CSV table with their 1-based first physical line; None when the file is unusable.

    A missing file or required column is one Problem; a short row, a non-UTF-8 row or
    an unterminated quote (a truncated file) is a Problem for that row only. `column_map`
    (``--map`` column rows) renames the source's own column names to HSDS's first.
    """
    text = _decode(path, result)
    if text is None:
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    name = path.name
    try:
        header = next(reader)
    except StopIteration:
        result.problems.append(Problem(name, 1, None, "empty file: no header row"))
        return None
    except csv.Error as err:
        result.problems.append(Problem(name, 1, None, f"unreadable header: {err}"))
        return None
    header = [h.strip() for h in header]
    if column_map:
        header, clash = column_map.header(name, header)
        if clash:
            result.problems.extend(clash)
            return None
    missing = sorted(required - set(header))
    if missing:
        found = [f"{m} (found {alt})" for m in missing if (alt := near_miss(m, header)) is not None]
        near = f"; near misses: {', '.join(found)} (names are case-sensitive)" if found else ""
        result.problems.append(
            Problem(name, 1, ",".join(missing), f"missing required column(s) {', '.join(missing)}; header is {header!r}{near}")
        )
        return None
    rows: list[_Row] = []
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            result.problems.append(Problem(name, start, None, f"unreadable row (truncated file?): {err}"))
            break
        line, start = start, reader.line_num + 1
        if not record or record == [""]:
            continue
        result.rows_read += 1
        if len(record) != len(header):
            result.problems.append(
                Problem(name, line, None, f"row has {len(record)} fields, the header has {len(header)} (truncated row?)")
            )
            continue
        bad = [h for h, v in zip(header, record, strict=True) if _bad_text(v)]
        if bad:
            result.problems.append(Problem(name, line, bad[0], "not UTF-8 text (wrong encoding?)"))
            continue
        rows.append(_Row(line, {h: v.strip() for h, v in zip(header, record, strict=True)}))
    return rows


def _required_value(row: _Row, column: str, file: str, result: LoadResult) -> str | None:
    value = row.values.get(column, "")
    if not value:
        result.problems.append(Problem(file, row.line, column, f"{column} is empty", row.path))
        return None
    return value


# ---------------------------------------------------------------------------- layout


def _header(path: Path, column_map: ColumnMap | None = None) -> set[str] | None:
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            names = [h.strip() for h in next(csv.reader(f), [])]
    except OSError:
        return None
    return set(column_map.header(path.name, names)[0] if column_map else names)


def _package_version(path: Path) -> str | None:
    """The HSDS version a ``datapackage.json`` declares ("1.1", "3.0.1", ...), else what its
    service-area table's fields say (``service_area``: 1.x; ``extent``: 3.x); None if neither."""
    try:
        doc = loads_json(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, Mapping):
        return None
    if doc.get("version"):
        return str(doc["version"])
    for res in doc.get("resources") or []:
        if isinstance(res, Mapping) and str(res.get("path", "")).startswith("service_area"):
            fields = {str(f.get("name")) for f in (res.get("schema") or {}).get("fields") or [] if isinstance(f, Mapping)}
            if "service_area" in fields:
                return "1.x"
            if "extent" in fields:
                return "3.x"
    return None


def detect_layout(paths: Sequence[Path], column_map: ColumnMap | None = None) -> Layout | None:
    """Tell HSDS 1.x, 3.0 and Ohana apart by the files and their headers; None when unsure.

    ``datapackage.json``: its version (1.x or 3.x). Otherwise ``service_areas.csv`` with a
    ``service_area`` column (and no ``name``/``extent``): 1.x; with ``name`` or ``extent``,
    or any other JSON, or ``services.csv`` with ``organization_id``: 3.0 (1.x and 3.0 read
    alike without service areas). Ohana: ``services.csv`` with ``location_id`` and no
    ``organization_id``. ``organizations.csv`` alone: 3.0 (every layout reads it alike).
    Headers are read as `column_map` (``--map`` column rows) renames them.
    """
    files = _expand(paths)
    by_name = {p.name: p for p in files}
    if "datapackage.json" in by_name:
        version = _package_version(by_name["datapackage.json"]) or ""
        if version.startswith("1."):
            return "1.x"
        if version.startswith("3."):
            return "3.0"
    if "service_areas.csv" in by_name:
        areas = _header(by_name["service_areas.csv"], column_map) or set()
        return "1.x" if "service_area" in areas and not areas & {"name", "extent"} else "3.0"
    if any(p.suffix.lower() == ".json" and p.name != "datapackage.json" for p in files):
        return "3.0"
    if "services.csv" in by_name:
        header = _header(by_name["services.csv"], column_map)
        if header is None:
            return None
        if "organization_id" in header:
            return "3.0"
        if "location_id" in header:
            return "ohana"
        return None
    if "organizations.csv" in by_name:
        return "3.0"  # organizations alone (a directory's partners, its services to follow) read alike in every layout
    return None


def _read_as(layout: Layout, files: Sequence[Path]) -> str:
    """What was read, said once at the top of the warnings (the loader reads several versions)."""
    package = next((p for p in files if p.name == "datapackage.json"), None)
    declared = _package_version(package) if package is not None else None
    source = f"datapackage.json version {declared}" if declared else "no datapackage.json: told by the tables' columns"
    if layout == "1.x":
        return f"read as HSDS 1.x ({source})"
    if layout == "ohana":
        return "read as the Ohana API CSV layout (services.csv with location_id)"
    if package is None and not any(p.name == "service_areas.csv" or p.suffix.lower() == ".json" for p in files):
        return "read as HSDS 3.0 (no datapackage.json or service_areas.csv: HSDS 1.x reads the same here)"
    return f"read as HSDS 3.0 ({source})"


# ---------------------------------------------------------------------------- mapping


_IN_STORE: Final[Mapping[str, tuple[NodeKind, str]]] = {
    "hsds-org": (NodeKind.PARTNER, "an organization (a Partner)"),
    "hsds-svc": (NodeKind.PROGRAM, "a service (a Program)"),
}


def _store_ref(ctx: _Ctx, node_id: str, file: str, line: int | None, field_name: str, path: str | None = None) -> None:
    """A reference the files do not resolve (a service whose organization, a service area whose
    service, was loaded before): the load resolves it against the store inside its transaction
    and refuses it, naming file, line and field, when the store lacks it (`loaders.base.StoreRef`)."""
    kind, what = _IN_STORE[node_id.split(":", 1)[0]]
    ctx.result.store_refs.append(StoreRef(node_id, frozenset({kind}), file, line, field_name, what, path=path))


def _coverage(ctx: _Ctx, svc_node: str, area: str, file: str, line: int | None, path: str | None = None) -> None:
    cid = community_id(area)
    if ctx.node(NodeKind.COMMUNITY, cid, area, file, line, path):
        ctx.edge(EdgeKind.SERVES_AREA, svc_node, cid, file, line, path)


def _status_warning(ctx: _Ctx, status: str, file: str, line: int | None, path: str | None = None) -> None:
    # The model has no program status; a closed service is still a named recipient.
    if status and status.lower() != "active":
        ctx.result.warnings.append(
            Problem(file, line, "status", f"service status {status!r} is not held; loaded like an active service", path)
        )


def _read_v3_csv(files: Mapping[str, Path], ctx: _Ctx, required: Mapping[str, frozenset[str]] = REQUIRED_V3) -> None:
    """The HSDS tabular package: 3.0 (`REQUIRED_V3`) or 1.x (`REQUIRED_V1`: the area is ``service_area``)."""
    res = ctx.result
    orgs: set[str] = set()
    if "organizations.csv" in files:
        for row in _read_csv(files["organizations.csv"], required["organizations.csv"], res, ctx.column_map) or []:
            oid = _required_value(row, "id", "organizations.csv", res)
            if oid is not None and ctx.node(NodeKind.PARTNER, f"hsds-org:{oid}", row.values["name"], _ORGS, row.line):
                orgs.add(oid)
    services: set[str] = set()
    if "services.csv" in files:
        for row in _read_csv(files["services.csv"], required["services.csv"], res, ctx.column_map) or []:
            sid = _required_value(row, "id", "services.csv", res)
            oid = _required_value(row, "organization_id", "services.csv", res)
            if sid is None or oid is None:
                continue
            if oid not in orgs:
                _store_ref(ctx, f"hsds-org:{oid}", "services.csv", row.line, "organization_id")
            _status_warning(ctx, row.values.get("status", ""), "services.csv", row.line)
            if ctx.node(NodeKind.PROGRAM, f"hsds-svc:{sid}", row.values["name"], "services.csv", row.line):
                services.add(sid)
                ctx.edge(EdgeKind.OFFERS, f"hsds-org:{oid}", f"hsds-svc:{sid}", "services.csv", row.line)
    if "service_areas.csv" in files:
        for row in _read_csv(files["service_areas.csv"], required["service_areas.csv"], res, ctx.column_map) or []:
            sid = row.values.get("service_id", "")
            area = row.values.get("name", "") or row.values.get("extent", "") or row.values.get("service_area", "")
            if not sid:
                res.warnings.append(Problem(_AREAS, row.line, "service_id", "service area of no service: not mapped"))
                continue
            if not area:
                v1 = "service_area" in required["service_areas.csv"]
                what, msg = ("service_area", "service area is empty") if v1 else ("name", "service area has neither name nor extent")
                res.warnings.append(Problem("service_areas.csv", row.line, what, msg))
                continue
            if sid not in services:
                _store_ref(ctx, f"hsds-svc:{sid}", "service_areas.csv", row.line, "service_id")
            _coverage(ctx, f"hsds-svc:{sid}", area, "service_areas.csv", row.line)
    if "locations.csv" in files and "locations.csv" in required:
        _locations_v1(files["locations.csv"], orgs, ctx)
    _program_warning(files, ctx)


def _locations_v1(path: Path, orgs: set[str], ctx: _Ctx) -> None:
    """HSDS 1.x locations: read and checked (an organization neither read nor in the store is a Problem), never held."""
    rows = _read_csv(path, REQUIRED_V1["locations.csv"], ctx.result, ctx.column_map) or []
    for row in rows:
        oid = row.values.get("organization_id", "")
        if oid and oid not in orgs:
            _store_ref(ctx, f"hsds-org:{oid}", "locations.csv", row.line, "organization_id")
    if rows:
        ctx.result.warnings.append(Problem("locations.csv", None, None, f"{len(rows)} location row(s) read: places are never held"))


def _program_warning(files: Mapping[str, Path], ctx: _Ctx) -> None:
    if "programs.csv" in files:
        rows = _read_csv(files["programs.csv"], frozenset({"id"}), ctx.result, ctx.column_map) or []
        if rows:
            ctx.result.warnings.append(
                Problem("programs.csv", None, None, f"{len(rows)} program row(s) only group services: not mapped")
            )


def _read_ohana(files: Mapping[str, Path], ctx: _Ctx) -> None:
    res = ctx.result
    orgs: set[str] = set()
    if "organizations.csv" in files:
        for row in _read_csv(files["organizations.csv"], REQUIRED_OHANA["organizations.csv"], res, ctx.column_map) or []:
            oid = _required_value(row, "id", "organizations.csv", res)
            if oid is not None and ctx.node(NodeKind.PARTNER, f"hsds-org:{oid}", row.values["name"], _ORGS, row.line):
                orgs.add(oid)
    # Ohana services hang off locations; only a location's organization is used.
    location_org: dict[str, str] = {}
    if "locations.csv" in files:
        for row in _read_csv(files["locations.csv"], REQUIRED_OHANA["locations.csv"], res, ctx.column_map) or []:
            lid = _required_value(row, "id", "locations.csv", res)
            oid = _required_value(row, "organization_id", "locations.csv", res)
            if lid is None or oid is None:
                continue
            if oid not in orgs:
                res.problems.append(Problem("locations.csv", row.line, "organization_id", f"unknown organization {oid!r}"))
                continue
            location_org[lid] = oid
    elif "services.csv" in files:
        res.problems.append(Problem("locations.csv", None, None, "missing file: Ohana services reach their organization via it"))
    if "services.csv" in files:
        for row in _read_csv(files["services.csv"], REQUIRED_OHANA["services.csv"], res, ctx.column_map) or []:
            sid = _required_value(row, "id", "services.csv", res)
            lid = _required_value(row, "location_id", "services.csv", res)
            if sid is None or lid is None:
                continue
            if lid not in location_org:
                if "locations.csv" in files:
                    res.problems.append(Problem("services.csv", row.line, "location_id", f"unknown location {lid!r}"))
                continue
            _status_warning(ctx, row.values.get("status", ""), "services.csv", row.line)
            svc = f"hsds-svc:{sid}"
            if not ctx.node(NodeKind.PROGRAM, svc, row.values["name"], "services.csv", row.line):
                continue
            ctx.edge(EdgeKind.OFFERS, f"hsds-org:{location_org[lid]}", svc, "services.csv", row.line)
            for area in row.values.get("service_areas", "").split(","):
                if area.strip():
                    _coverage(ctx, svc, area.strip(), "services.csv", row.line)
    _program_warning(files, ctx)


# ---------------------------------------------------------------------------- HSDS 3.0 JSON


def _s(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value).strip()


def _json_service(ctx: _Ctx, obj: Mapping[str, Any], org_id: str | None, file: str, ptr: str) -> None:
    res = ctx.result
    res.rows_read += 1
    org = obj.get("organization")
    if isinstance(org, Mapping):
        _json_org(ctx, org, file, ptr + "/organization", with_services=False)
        org_id = org_id or _s(org, "id") or None
    org_id = _s(obj, "organization_id") or org_id
    sid = _s(obj, "id")
    if not sid or not org_id:
        res.problems.append(Problem(file, None, "organization_id" if sid else "id", "service without id or organization", ptr))
        return
    if f"hsds-org:{org_id}" not in ctx.node_ids:
        _store_ref(ctx, f"hsds-org:{org_id}", file, None, "organization_id", ptr)
    _status_warning(ctx, _s(obj, "status"), file, None, ptr)
    svc = f"hsds-svc:{sid}"
    if not ctx.node(NodeKind.PROGRAM, svc, _s(obj, "name"), file, None, ptr):
        return
    ctx.edge(EdgeKind.OFFERS, f"hsds-org:{org_id}", svc, file, None, ptr)
    areas = obj.get("service_areas")
    for i, area in enumerate(areas if isinstance(areas, list) else []):
        if isinstance(area, Mapping):
            label = _s(area, "name") or _s(area, "extent")
            if label:
                _coverage(ctx, svc, label, file, None, f"{ptr}/service_areas/{i}")
            else:
                where = f"{ptr}/service_areas/{i}"
                res.warnings.append(Problem(file, None, "name", "service area has neither name nor extent", where))


def _json_org(ctx: _Ctx, obj: Mapping[str, Any], file: str, ptr: str, *, with_services: bool = True) -> None:
    oid = _s(obj, "id")
    if not oid:
        ctx.result.problems.append(Problem(file, None, "id", "organization without id", ptr))
        return
    if f"hsds-org:{oid}" not in ctx.node_ids:
        ctx.result.rows_read += 1
    if not ctx.node(NodeKind.PARTNER, f"hsds-org:{oid}", _s(obj, "name"), file, None, ptr):
        return
    services = obj.get("services") if with_services else None
    for i, svc in enumerate(services if isinstance(services, list) else []):
        if isinstance(svc, Mapping):
            _json_service(ctx, svc, oid, file, f"{ptr}/services/{i}")


def _json_item(ctx: _Ctx, obj: Any, file: str, ptr: str) -> None:
    if not isinstance(obj, Mapping):
        ctx.result.warnings.append(Problem(file, None, None, "not an HSDS object: ignored", ptr or "/"))
        return
    if isinstance(obj.get("service"), Mapping) and "location" in obj:  # service_at_location
        _json_service(ctx, obj["service"], None, file, ptr + "/service")
    elif "status" in obj:  # only `service` has a status in HSDS 3.0
        _json_service(ctx, obj, None, file, ptr)
    elif _ORG_KEYS & obj.keys():
        _json_org(ctx, obj, file, ptr)
    else:
        ctx.result.warnings.append(Problem(file, None, None, "neither organization nor service: not held", ptr or "/"))


def _read_json(path: Path, ctx: _Ctx) -> None:
    res = ctx.result
    text = _decode(path, res)
    if text is None:
        return
    if _bad_text(text):
        res.problems.append(Problem(path.name, None, None, "not UTF-8 text (wrong encoding?)"))
        return
    try:
        doc = loads_json(text)
    except json.JSONDecodeError as err:
        res.problems.append(Problem(path.name, err.lineno, None, f"not JSON (truncated file?): {err.msg}"))
        return
    if isinstance(doc, Mapping) and doc and all(str(k).endswith(".csv") for k in doc):  # tabular.json
        _read_tabular(doc, path.name, ctx)
    elif isinstance(doc, Mapping) and isinstance(doc.get("contents"), list):  # a paged _list payload
        for i, item in enumerate(doc["contents"]):
            _json_item(ctx, item, path.name, f"/contents/{i}")
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            _json_item(ctx, item, path.name, f"/{i}")
    else:
        _json_item(ctx, doc, path.name, "")


def _read_tabular(doc: Mapping[str, Any], file: str, ctx: _Ctx) -> None:
    """tabular.json: each CSV table as a list of row objects; same rules as the CSV package."""
    res = ctx.result

    def rows(table: str) -> Iterator[_Row]:
        for i, r in enumerate(doc.get(table) or []):
            if isinstance(r, Mapping):
                res.rows_read += 1
                yield _Row(None, {str(k): _s(r, k) for k in r}, f"/{table}/{i}")

    orgs = set()
    for row in rows("organizations.csv"):
        oid = _required_value(row, "id", file, res)
        if oid and ctx.node(NodeKind.PARTNER, f"hsds-org:{oid}", row.values.get("name", ""), file, None, row.path):
            orgs.add(oid)
    services = set()
    for row in rows("services.csv"):
        sid, oid = _required_value(row, "id", file, res), _required_value(row, "organization_id", file, res)
        if not sid or not oid:
            continue
        if oid not in orgs:
            _store_ref(ctx, f"hsds-org:{oid}", file, None, "organization_id", row.path)
        _status_warning(ctx, row.values.get("status", ""), file, None, row.path)
        if ctx.node(NodeKind.PROGRAM, f"hsds-svc:{sid}", row.values.get("name", ""), file, None, row.path):
            services.add(sid)
            ctx.edge(EdgeKind.OFFERS, f"hsds-org:{oid}", f"hsds-svc:{sid}", file, None, row.path)
    for row in rows("service_areas.csv"):
        sid = row.values.get("service_id", "")
        label = row.values.get("name", "") or row.values.get("extent", "")
        if not sid:
            res.warnings.append(Problem(file, None, "service_id", "service area of no service: not mapped", row.path))
        elif label:
            if sid not in services:
                _store_ref(ctx, f"hsds-svc:{sid}", file, None, "service_id", row.path)
            _coverage(ctx, f"hsds-svc:{sid}", label, file, None, row.path)


def _check_datapackage(path: Path, ctx: _Ctx) -> None:
    """A ``datapackage.json`` says the tables are HSDS 1.x or 3.x; any other version is a Problem naming it.

    The columns it marks required that this loader uses are in `REQUIRED_V3` (a test
    checks them against the official descriptor); the rest are dropped, so not enforced.
    """
    res = ctx.result
    text = _decode(path, res)
    if text is None:
        return
    try:
        doc = loads_json(text)
    except json.JSONDecodeError as err:
        res.problems.append(Problem(path.name, err.lineno, None, f"not JSON: {err.msg}"))
        return
    version = (_package_version(path) or "") if isinstance(doc, Mapping) else ""
    if not version.startswith(("1.", "3.")):
        found = f"version {version}" if version else "no version"
        msg = f"HSDS data package with {found} is not read; versions read: {VERSIONS_READ}"
        res.problems.append(Problem(path.name, None, "version", msg, value=version))


# ---------------------------------------------------------------------------- entry point


def _not_hsds(files: Sequence[Path]) -> Problem:
    """The refusal of files no HSDS layout explains: what was found, what is read, what to do."""
    if not files:
        return Problem("<none>", None, None, f"no HSDS files found; read: {VERSIONS_READ}")
    services = next((p for p in files if p.name == "services.csv"), None)
    if services is not None:
        header = sorted(_header(services) or ())
        found = f"services.csv has neither organization_id nor location_id (header: {', '.join(header)})"
        return Problem("services.csv", 1, "organization_id", f"not HSDS: {found}; read: {VERSIONS_READ}; {MAP_HINT}")
    names = ", ".join(p.name for p in files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    found = f"found {names}, no organizations.csv or services.csv"
    return Problem(files[0].name, None, None, f"not HSDS: {found}; read: {VERSIONS_READ}; {MAP_HINT}")



def read(
    paths: Sequence[Path],
    *,
    default_valid_from: datetime | None = None,
    recorded_at: datetime | None = None,
    source: str = "hsds",
    include_names: bool = False,
    layout: Layout | None = None,
    time_zone: str | None = None,
    column_map: ColumnMap | None = None,
) -> LoadResult:
    """Read HSDS files (3.0 CSV/JSON or Ohana CSV) into Partner, Program and Community records.

    Parameters
    ----------
    paths : Sequence[Path]
        Table files (``organizations.csv``, ``services.csv``, ``service_areas.csv``;
        Ohana also ``locations.csv``), HSDS 3.0 JSON payloads, a ``datapackage.json``,
        or directories standing for the ``*.csv`` and ``*.json`` files in them. Tables
        are recognised by file name; other tables (phones, contacts, addresses,
        schedules, ...) are not read and get one warning each.
    default_valid_from : datetime
        Aware; the ``valid_from`` of every OFFERS and SERVES_AREA edge (HSDS has no
        begin dates).
    recorded_at : datetime, optional
        Aware; stamped on every edge.
    source : str
        Prefix of each edge's ``source`` (``"hsds:services.csv"``).
    include_names : bool
        Accepted for the common loader signature; HSDS holds no student or guardian
        names, and organisation, service and community names are always kept.
    layout : {"3.0", "1.x", "ohana"}, optional
        Force the layout; by default `detect_layout` decides.
    time_zone : str, optional
        Accepted for the common loader signature; no HSDS field read here is a date
        (``program.start_date`` ... are not read; docs/dates.md).
    column_map : ColumnMap, optional
        ``--map`` column rows: a directory's own column names onto HSDS's (`loaders.column_map`).

    Returns
    -------
    LoadResult
        Nodes (Partner, Program, Community; each id once) then edges (OFFERS,
        SERVES_AREA), Problems (missing column, empty id, unknown organization, service
        or location, bad encoding, truncated row) and warnings (non-active service
        status, unmapped programs, tables not held, service areas without a label).

    Raises
    ------
    NaiveDatetimeError
        `default_valid_from` or `recorded_at` is naive.
    """
    del include_names
    valid_from = None if default_valid_from is None else ensure_aware(default_valid_from)
    rec = None if recorded_at is None else ensure_aware(recorded_at)
    ctx = _Ctx(LoadResult(), valid_from, rec, source, MissingStarts(valid_from), column_map=column_map)
    files = _expand(paths)
    chosen = layout or detect_layout(paths, column_map)
    if chosen is None:
        ctx.result.problems.append(_not_hsds(files))
        return ctx.result
    where = next((p.name for p in paths if p.is_dir()), files[0].name if files else "<none>")
    ctx.result.warnings.insert(0, Problem(where, None, None, _read_as(chosen, files)))
    tables: dict[str, Path] = {}
    json_files: list[Path] = []
    for p in files:
        if p.name == "datapackage.json":
            _check_datapackage(p, ctx)
        elif p.suffix.lower() == ".json":
            json_files.append(p)
        elif p.name in REQUIRED_V3 or p.name in REQUIRED_OHANA or p.name in REQUIRED_V1 or p.name == "programs.csv":
            tables[p.name] = p
        elif p.name in _NOT_HELD:
            ctx.result.warnings.append(Problem(p.name, None, None, "not read: this table is never held"))
        elif (alt := near_miss(p.name, [*REQUIRED_V3, *REQUIRED_OHANA, "programs.csv"])) is not None:
            ctx.result.problems.append(
                Problem(p.name, None, None, f"file name {p.name} is not {alt} (names are case-sensitive): rename it", value=p.name)
            )
        else:
            ctx.result.warnings.append(Problem(p.name, None, None, "not an HSDS table this loader reads"))
    if chosen == "ohana":
        _read_ohana(tables, ctx)
    elif chosen == "1.x":
        _read_v3_csv(tables, ctx, REQUIRED_V1)
    else:
        _read_v3_csv(tables, ctx)
        for p in json_files:
            _read_json(p, ctx)
    ctx.starts.report(ctx.result, "HSDS has no begin dates")
    # A reference one file left open that another file of the package resolved (a service area
    # of service_areas.csv whose service came in a JSON payload) is no reference into the store.
    ctx.result.store_refs = [r for r in ctx.result.store_refs if r.node_id not in ctx.node_ids]
    # Dependency order for the importer: nodes are already first; keep edges after them.
    return ctx.result
