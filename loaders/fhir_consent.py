"""HL7 FHIR Consent (R4; R5 where feasible) -> Consent nodes and their edges.

Reads single resources, Bundles, JSON arrays of resources and NDJSON, and FHIR XML
(resources and Bundles, mapped to the JSON structure by `loaders.fhir_xml`). A Consent
becomes a ``Consent`` node ``fhir-consent:<id>`` with ABOUT -> Student (the
``patient``), GIVEN_BY -> Guardian|Student (the ``performer``) and PERMITS ->
Partner|Provider|Program (``provision.actor`` with a recipient role). Every nested
provision becomes its own Consent node ``fhir-consent:<id>#<n>`` (n = 1, 2, ... in
document order, depth first) naming the provision it is nested in (``exception_to``):
the decision function weighs it as an exception to that provision. The full rules are in docs/loaders/fhir_consent.md; in short, what
cannot be mapped is a warning and is never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from graph.errors import Problem
from graph.model import ConsentKind, ConsentStatus, EdgeKind, NodeKind
from graph.timeutil import DEFAULT_TIME_ZONE, LocalDates, ensure_aware
from loaders import fhir_xml
from loaders.base import LoadResult, MissingStarts, edge_or_problem, files_found, loads_json, node_or_problem

__all__ = ["CATEGORY_CODES", "PURPOSE_CODES", "RECIPIENT_ROLES", "STATUS", "parse_fhir_time", "read"]

STATUS: Final[Mapping[str, ConsentStatus]] = {
    "active": ConsentStatus.ACTIVE,
    "draft": ConsentStatus.DRAFT,
    "inactive": ConsentStatus.INACTIVE,
    "entered-in-error": ConsentStatus.ENTERED_IN_ERROR,
    # R4 only: not yet agreed -> draft; refused -> inactive (neither ever permits).
    "proposed": ConsentStatus.DRAFT,
    "rejected": ConsentStatus.INACTIVE,
    # R5 only: the consent was not given.
    "not-done": ConsentStatus.INACTIVE,
}
"""FHIR Consent.status -> our status."""

PURPOSE_CODES: Final[Mapping[str, str]] = {
    "TREAT": "treatment",
    "ETREAT": "emergency_treatment",
    "CAREMGT": "care_coordination",
    "COC": "care_coordination",
    "HPAYMT": "payment",
    "HOPERAT": "operations",
    "PUBHLTH": "public_health",
    "HRESCH": "research",
    "PATRQT": "patient_request",
    "FAMRQT": "family_request",
}
"""HL7 v3 PurposeOfUse (v3-ActReason) code -> our purpose code; others are warnings."""

_PURPOSE_SYSTEMS: Final = frozenset(
    {"", "http://terminology.hl7.org/CodeSystem/v3-ActReason", "http://terminology.hl7.org/CodeSystem/v3-PurposeOfUse",
     "urn:oid:2.16.840.1.113883.5.8"}
)

_HEALTH: Final = "health"
_CLINICAL_TYPES: Final = frozenset(
    {"AllergyIntolerance", "CarePlan", "Condition", "DiagnosticReport", "DocumentReference", "Encounter",
     "Immunization", "MedicationAdministration", "MedicationDispense", "MedicationRequest", "MedicationStatement",
     "Observation", "Procedure", "QuestionnaireResponse", "ServiceRequest"}
)
_SENSITIVITY: Final = frozenset({"BH", "ETH", "GDIS", "HIV", "MH", "PSY", "PSYTHPN", "SCA", "SDV", "SEX", "STD", "SUD"})
_LOINC_NOTES: Final = frozenset({"11488-4", "11506-3", "18842-5", "34117-2", "34133-9", "57133-1"})
OUR_CATEGORY_SYSTEM: Final = "urn:needtoknow:category"
CATEGORY_CODES: Final[Mapping[str, str]] = {
    **{f"http://hl7.org/fhir/resource-types|{t}": _HEALTH for t in _CLINICAL_TYPES},
    **{f"http://hl7.org/fhir/fhir-types|{t}": _HEALTH for t in _CLINICAL_TYPES},
    **{f"http://terminology.hl7.org/CodeSystem/v3-ActCode|{c}": _HEALTH for c in _SENSITIVITY},
    **{f"http://loinc.org|{c}": _HEALTH for c in _LOINC_NOTES},
}
"""``system|code`` of provision.class / securityLabel / code -> our data category.

Clinical resource types, v3 sensitivity labels (PSY, ETH, HIV, ...) and LOINC clinical
note types are ``health``; codes in ``urn:needtoknow:category`` are our own categories.
"""

RECIPIENT_ROLES: Final = frozenset({"PRCP", "IRCP"})
"""v3 ParticipationType roles that name a recipient (primary / information recipient)."""

_OPT_IN: Final = frozenset({"OPTIN", "OPTINR"})
_OPT_OUT: Final = frozenset({"OPTOUT", "OPTOUTE"})
_PREFIX: Final[Mapping[str, str]] = {
    "RelatedPerson": "fhir-relatedperson:",
    "Organization": "fhir-org:",
    "Practitioner": "fhir-practitioner:",
    "HealthcareService": "fhir-healthcareservice:",
}
_SIGNER_TYPES: Final = frozenset({"Patient", "RelatedPerson"})
_RECIPIENT_TYPES: Final = frozenset({"Organization", "Practitioner", "HealthcareService"})
_NODE_KIND: Final[Mapping[str, NodeKind]] = {
    "RelatedPerson": NodeKind.GUARDIAN,
    "Organization": NodeKind.PARTNER,
    "Practitioner": NodeKind.PROVIDER,
    "HealthcareService": NodeKind.PROGRAM,
}
_REF: Final = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_TIME: Final = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class _TimeError(ValueError):
    """An unparsable or naive FHIR date/dateTime."""


def parse_fhir_time(text: str, dates: LocalDates | None = None) -> tuple[datetime, datetime, bool]:
    """Parse a FHIR date or dateTime into ``(start, end, date_only)``.

    ``start`` is the first instant the value denotes and ``end`` the first instant
    after it at the value's precision (FHIR Period.end includes everything matching
    its precision: ``2015-02-01`` as an end means up to local 00:00 of 2015-02-02,
    exclusive). A value without a time (``2015``, ``2015-11``, ``2015-11-18``) names
    calendar days in the partnership's zone (`dates`; default America/Denver,
    docs/dates.md) and ``date_only`` is True.

    Returns
    -------
    tuple[datetime, datetime, bool]
        Aware UTC datetimes ``start <= end`` and whether the value had no time part.

    Raises
    ------
    ValueError
        Not a FHIR date/dateTime, or a time without a UTC offset (naive: rejected).
    """
    m = _TIME.match(text.strip())
    if not m:
        raise _TimeError(f"not a FHIR date/dateTime: {text!r}")
    try:
        y, mo, d = int(m["y"]), int(m["m"] or 1), int(m["d"] or 1)
        if m["H"] is None:
            local = dates if dates is not None else LocalDates()
            first = date(y, mo, d)
            if m["d"]:
                after = first + timedelta(days=1)
            elif m["m"]:
                after = date(y + mo // 12, mo % 12 + 1, 1)
            else:
                after = date(y + 1, 1, 1)
            return local.start(first), local.start(after), True
        if m["tz"] is None:
            raise _TimeError(f"naive time {text!r}: a dateTime with a time needs an offset (e.g. 'Z')")
        frac = m["f"] or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        tz = m["tz"]
        offset = timedelta(0) if tz == "Z" else (1 if tz[0] == "+" else -1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        t = datetime(y, mo, d, int(m["H"]), int(m["M"]), int(m["S"] or 0), micro, tzinfo=timezone(offset))
    except ValueError as err:
        raise _TimeError(f"not a valid date/time: {text!r} ({err})") from err
    if m["S"] is None:
        step = timedelta(minutes=1)
    elif frac:
        step = timedelta(microseconds=10 ** max(0, 6 - (len(frac) - 1)))
    else:
        step = timedelta(seconds=1)
    return t.astimezone(UTC), (t + step).astimezone(UTC), False


# ---------------------------------------------------------------------------- reading


@dataclass(slots=True)
class _Res:
    """A resource as read: where it came from."""

    body: Mapping[str, Any]
    file: str
    line: int | None
    path: str


@dataclass(slots=True)
class _Rule:
    """One provision, with what it inherits from the enclosing one."""

    kind: ConsentKind | None
    obj: Mapping[str, Any]
    path: str
    children: list[Mapping[str, Any]]


@dataclass(slots=True)
class _Ctx:
    result: LoadResult
    default_valid_from: datetime | None
    recorded_at: datetime | None
    source: str
    include_names: bool
    id_map: Mapping[str, str]
    purpose_map: Mapping[str, str]
    category_map: Mapping[str, str]
    dates: LocalDates = field(default_factory=LocalDates)
    starts: MissingStarts = field(default_factory=lambda: MissingStarts(None))
    strict: bool = False
    unmapped: dict[tuple[str, str], tuple[str, int | None, str, set[str]]] = field(default_factory=dict)
    index: dict[str, _Res] = field(default_factory=dict)  # "Type/id" -> resource
    full_urls: dict[str, str] = field(default_factory=dict)  # Bundle fullUrl -> "Type/id"
    signature: dict[str, str] = field(default_factory=dict)  # Consent id -> signature_method
    edge_ids: set[str] = field(default_factory=set)

    def unmapped_code(self, what: str, key: str, r: _Res, fld: str, msg: str, path: str) -> None:
        """A code or reference with no mapping: warned where it is, summed up once in `report_unmapped`."""
        self.warn(r, fld, msg, path)
        self.unmapped.setdefault((what, key), (r.file, r.line, fld, set()))[3].add(str(r.body.get("id")))

    def report_unmapped(self) -> None:
        """One line per unmapped code or reference: count and the consents it left incomplete.

        With `strict` these are Problems (the load is refused); otherwise warnings.
        """
        for (what, key), (file, line, fld, ids) in sorted(self.unmapped.items()):
            shown = ", ".join(sorted(ids)[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            msg = (f"unmapped {what} {key}: {len(ids)} consent(s) left without it ({shown}); "
                   "map it with --map (kind,source,target)")
            (self.result.problems if self.strict else self.result.warnings).append(Problem(file, line, fld, msg, value=key))
        self.unmapped.clear()

    def warn(self, r: _Res, fld: str | None, msg: str, path: str | None = None) -> None:
        self.result.warnings.append(Problem(r.file, r.line, fld, msg, path or r.path))

    def problem(self, r: _Res, fld: str | None, msg: str, path: str | None = None) -> None:
        self.result.problems.append(Problem(r.file, r.line, fld, msg, path or r.path))


def _expand(paths: Sequence[Path], result: LoadResult) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in (".json", ".ndjson", ".xml"))
            if not files:
                result.problems.append(files_found(p, "*.json, *.ndjson or *.xml", "FHIR is read from JSON, NDJSON or XML."))
            out.extend(files)
        else:
            out.append(p)
    return out


def _load_file(path: Path, result: LoadResult) -> Iterator[tuple[Any, int | None]]:
    """JSON documents in `path` (FHIR XML mapped to JSON) with their line (NDJSON) or None; bad files become Problems."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        result.problems.append(Problem(path.name, None, None, f"cannot read file: {err.strerror or err}"))
        return
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        try:
            yield fhir_xml.parse(raw), None
        except fhir_xml.FhirXmlError as err:
            result.problems.append(Problem(path.name, err.line, None, f"FHIR XML: {err}"))
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        result.problems.append(Problem(path.name, line, None, f"not UTF-8 text (wrong encoding?): byte {raw[err.start]:#04x}"))
        return
    if path.suffix.lower() == ".ndjson":
        for n, line_text in enumerate(text.splitlines(), 1):
            if line_text.strip():
                try:
                    yield loads_json(line_text), n
                except json.JSONDecodeError as err:
                    result.problems.append(Problem(path.name, n, None, f"not JSON: {err.msg}"))
        return
    try:
        yield loads_json(text), None
    except json.JSONDecodeError as err:
        result.problems.append(Problem(path.name, err.lineno, None, f"not JSON (truncated file?): {err.msg}"))


def _resources(doc: Any, file: str, line: int | None, ptr: str, ctx: _Ctx) -> Iterator[_Res]:
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _resources(item, file, line, f"{ptr}/{i}", ctx)
        return
    if not isinstance(doc, Mapping) or not isinstance(doc.get("resourceType"), str):
        ctx.result.problems.append(Problem(file, line, "resourceType", "not a FHIR resource", ptr or "/"))
        return
    if doc["resourceType"] == "Bundle":
        for i, entry in enumerate(doc.get("entry") or []):
            if isinstance(entry, Mapping) and "resource" in entry:
                res = entry["resource"]
                if isinstance(entry.get("fullUrl"), str) and isinstance(res, Mapping):
                    ctx.full_urls[entry["fullUrl"]] = f"{res.get('resourceType')}/{res.get('id')}"
                yield from _resources(res, file, line, f"{ptr}/entry/{i}/resource", ctx)
        return
    yield _Res(doc, file, line, ptr)


# ---------------------------------------------------------------------------- references


def _ref_key(ref: Any, ctx: _Ctx) -> str | None:
    """``"Type/id"`` of a Reference, or None when it names no resource we can identify."""
    if not isinstance(ref, Mapping):
        return None
    text = ref.get("reference")
    if isinstance(text, str) and text:
        if text in ctx.full_urls:
            return ctx.full_urls[text]
        m = _REF.search(text)
        if m and not text.startswith("#"):
            return f"{m[1]}/{m[2]}"
        return None
    ident = ref.get("identifier")
    if isinstance(ident, Mapping) and isinstance(ref.get("type"), str):
        key = f"{ref['type']}?identifier={ident.get('system', '')}|{ident.get('value', '')}"
        return key if key in ctx.id_map else None
    return None


def _node_id(key: str, ctx: _Ctx) -> str | None:
    """Our node id for a ``"Type/id"`` key: `id_map` first, then the id rules."""
    if key in ctx.id_map:
        return ctx.id_map[key]
    rtype, _, rid = key.partition("/")
    if rtype == "Patient":
        return rid  # students come from a roster under their own ids
    prefix = _PREFIX.get(rtype)
    return None if prefix is None else prefix + rid


def _referenced(key: str, r: _Res, fld: str, ctx: _Ctx, path: str) -> None:
    rtype = key.partition("/")[0]
    if rtype != "Patient" and key not in ctx.id_map and key not in ctx.index:
        ctx.unmapped_code("reference", key, r, fld, f"{key} is not in the input: {_node_id(key, ctx)} must already be in the store", path)


# ---------------------------------------------------------------------------- codes


def _codings(value: Any) -> Iterator[Mapping[str, Any]]:
    """Codings of a Coding, a CodeableConcept, or a list of either."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, Mapping):
            continue
        if isinstance(item.get("coding"), list):
            yield from (c for c in item["coding"] if isinstance(c, Mapping))
        elif "code" in item:
            yield item


def _code(c: Mapping[str, Any]) -> tuple[str, str]:
    return str(c.get("system", "") or ""), str(c.get("code", "") or "")


def _purposes(obj: Mapping[str, Any], r: _Res, path: str, ctx: _Ctx) -> frozenset[str]:
    out: set[str] = set()
    for c in _codings(obj.get("purpose")):
        system, code = _code(c)
        mapped = ctx.purpose_map.get(f"{system}|{code}") or ctx.purpose_map.get(code)
        if mapped is None and system in _PURPOSE_SYSTEMS:
            mapped = PURPOSE_CODES.get(code)
        if mapped is None:
            ctx.unmapped_code("purpose", f"{system}|{code}", r, "provision.purpose",
                              f"purpose {system}|{code} has no purpose code of ours: not mapped", path)
        else:
            out.add(mapped)
    return frozenset(out)


_CATEGORY_FIELDS: Final = ("class", "securityLabel", "code", "documentType", "resourceType")


def _categories(obj: Mapping[str, Any], r: _Res, path: str, ctx: _Ctx) -> frozenset[str]:
    out: set[str] = set()
    for fld in _CATEGORY_FIELDS:
        for c in _codings(obj.get(fld)):
            system, code = _code(c)
            key = f"{system}|{code}"
            mapped = ctx.category_map.get(key) or ctx.category_map.get(code) or CATEGORY_CODES.get(key)
            if mapped is None and system == OUR_CATEGORY_SYSTEM:
                mapped = code
            if mapped is None:
                ctx.unmapped_code("category", key, r, f"provision.{fld}", f"{key} is not a data category of ours: not mapped", path)
            else:
                out.add(mapped)
    return frozenset(out)


# ---------------------------------------------------------------------------- consents


@dataclass(slots=True)
class _Doc:
    """What every node made from one Consent shares."""

    res: _Res
    cid: str
    status: ConsentStatus
    signed_at: datetime | None
    student: str
    signers: list[str]
    signature_method: str | None
    r5: bool
    n: int = 0


def _time(value: Any, r: _Res, fld: str, path: str, ctx: _Ctx, *, end: bool = False) -> datetime | bool | None:
    """Parsed time, None when absent, False when refused (a Problem is recorded)."""
    if value is None:
        return None
    try:
        start, stop, date_only = parse_fhir_time(str(value), ctx.dates)
    except ValueError as err:
        ctx.problem(r, fld, str(err), path)
        return False
    if date_only:
        zone_name = ctx.dates.time_zone
        rule = f"the end of that day/month/year (local 00:00 after it, {zone_name})" if end else f"local 00:00 ({zone_name})"
        ctx.warn(r, fld, f"{value!r} has no time of day: taken as {rule}", path)
    return stop if end else start


def _rule_kind(obj: Mapping[str, Any], consent: Mapping[str, Any]) -> ConsentKind | None:
    t = obj.get("type")
    if t in ("permit", "deny"):
        return ConsentKind(t)
    codes = {_code(c)[1] for c in _codings(consent.get("policyRule"))}
    if codes & _OPT_IN:
        return ConsentKind.PERMIT
    if codes & _OPT_OUT:
        return ConsentKind.DENY
    return None


def _recipients(obj: Mapping[str, Any], r: _Res, path: str, ctx: _Ctx) -> list[str] | None:
    """Node ids of recipient actors; None when the provision names no recipient-role actor (inherit).

    Other roles (CST custodian, AUT author of the data, ...) are warnings and do not
    stop a nested provision from inheriting the recipients of the one enclosing it.
    """
    actors = obj.get("actor")
    if not isinstance(actors, list) or not actors:
        return None
    out: list[str] = []
    named = False
    for i, actor in enumerate(actors):
        if not isinstance(actor, Mapping):
            continue
        apath = f"{path}/actor/{i}"
        roles = {_code(c)[1] for c in _codings(actor.get("role"))}
        if not roles & RECIPIENT_ROLES:
            shown = ", ".join(sorted(roles)) or "(none)"
            ctx.warn(r, "provision.actor.role", f"role {shown} is not a recipient: not mapped", apath)
            continue
        named = True
        key = _ref_key(actor.get("reference"), ctx)
        if key is None or key.partition("/")[0] not in _RECIPIENT_TYPES:
            what = f"recipient {key or 'reference'} is not an Organization, Practitioner or HealthcareService"
            ctx.warn(r, "provision.actor.reference", f"{what}: not mapped", apath)
            continue
        nid = _node_id(key, ctx)
        if nid is not None:
            _referenced(key, r, "provision.actor.reference", ctx, apath)
            out.append(nid)
    return out if named else None


def _edge(ctx: _Ctx, kind: EdgeKind, cid: str, to_id: str, valid_from: datetime, r: _Res, path: str) -> None:
    eid = f"{kind.value.lower()}:{cid}:{to_id}"
    if eid in ctx.edge_ids:
        return
    data: dict[str, Any] = {
        "id": eid, "from_id": cid, "to_id": to_id, "valid_from": valid_from,
        "recorded_at": ctx.recorded_at, "source": f"{ctx.source}:{r.file}",
    }
    if edge_or_problem(ctx.result, kind, data, r.file, r.line, path) is not None:
        ctx.edge_ids.add(eid)


def _emit(
    doc: _Doc, rule: _Rule, inherited: tuple[datetime | None, datetime | None, list[str], frozenset[str], frozenset[str]],
    ctx: _Ctx, *, root_recipients: list[str] | None = None, parent: str | None = None,
) -> None:
    """One Consent node for `rule`, then one per nested provision (depth first).

    Each nested provision's node names the node of the provision enclosing it
    (``exception_to``, the nearest one loaded): `decide` weighs it as an exception.
    """
    r, obj = doc.res, rule.obj
    p_from, p_to, p_rcpt, p_purp, p_cat = inherited
    raw_period = obj.get("period")
    period: Mapping[str, Any] = raw_period if isinstance(raw_period, Mapping) else {}
    start = _time(period.get("start"), r, "provision.period.start", rule.path, ctx)
    stop = _time(period.get("end"), r, "provision.period.end", rule.path, ctx, end=True)
    if start is False or stop is False:
        return
    eff = start if isinstance(start, datetime) else p_from
    exp = stop if isinstance(stop, datetime) else p_to
    if eff is not None and exp is not None and exp < eff:
        ctx.problem(r, "provision.period", "period ends before it starts", rule.path)
        return
    own = _recipients(obj, r, rule.path, ctx)
    if root_recipients:
        own = (own or []) + root_recipients
    recipients = own if own is not None else p_rcpt
    purposes = _purposes(obj, r, rule.path, ctx) or p_purp
    categories = _categories(obj, r, rule.path, ctx) or p_cat
    node_id = doc.cid if doc.n == 0 else f"{doc.cid}#{doc.n}"
    loaded = parent
    if rule.kind is None:
        ctx.warn(r, "provision.type", "neither provision.type nor policyRule says permit or deny: not loaded", rule.path)
    else:
        data: dict[str, Any] = {
            "id": node_id, "status": doc.status, "consent_kind": rule.kind, "signed_at": doc.signed_at,
            "effective_from": eff, "expires_at": exp, "purposes": purposes, "categories": categories,
            "signature_method": doc.signature_method, "exception_to": parent,
        }
        if node_or_problem(ctx.result, NodeKind.CONSENT, data, r.file, r.line, rule.path) is not None:
            loaded = node_id
            # The document's terms hold from signing (or its effective date, if earlier);
            # decide() judges effective/expired from the node, not from these edges.
            known = [t for t in (doc.signed_at, eff) if t is not None]
            vf = ctx.starts.start(min(known) if known else None, r.file, r.line, "Consent", node_id)
            if vf is None:
                return
            _edge(ctx, EdgeKind.ABOUT, node_id, doc.student, vf, r, rule.path)
            for s in doc.signers:
                _edge(ctx, EdgeKind.GIVEN_BY, node_id, s, vf, r, rule.path)
            for t in recipients:
                _edge(ctx, EdgeKind.PERMITS, node_id, t, vf, r, rule.path)
    for i, child in enumerate(rule.children):
        doc.n += 1
        kind = _rule_kind(child, {})
        if doc.r5 and rule.kind is not None:
            # R5: a nested provision is an exception to the one enclosing it.
            kind = ConsentKind.DENY if rule.kind is ConsentKind.PERMIT else ConsentKind.PERMIT
        sub = child.get("provision")
        kids = [k for k in sub if isinstance(k, Mapping)] if isinstance(sub, list) else []
        _emit(doc, _Rule(kind, child, f"{rule.path}/provision/{i}", kids), (eff, exp, recipients, purposes, categories), ctx,
              parent=loaded)


def _consent(r: _Res, ctx: _Ctx, seen: set[str]) -> None:
    body = r.body
    fid = body.get("id")
    if not isinstance(fid, str) or not fid:
        ctx.problem(r, "id", "Consent without id")
        return
    cid = f"fhir-consent:{fid}"
    if cid in seen:
        ctx.problem(r, "id", f"Consent/{fid} read twice: second one skipped")
        return
    seen.add(cid)
    status = STATUS.get(str(body.get("status")))
    if status is None:
        ctx.problem(r, "status", f"status {body.get('status')!r} is not a Consent status")
        return
    scopes = {_code(c)[1] for c in _codings(body.get("scope"))}
    if scopes and "patient-privacy" not in scopes:
        ctx.warn(r, "scope", f"scope {', '.join(sorted(scopes))} is not patient-privacy: not a disclosure consent, not loaded")
        return
    # Each field by the name the document uses (R4 or R5): drafts between the two mix them,
    # as HL7's OrgToOrg example does (R5 `subject` with R4 `dateTime` and typed provisions).
    subject_fld = "patient" if "patient" in body else "subject"
    date_fld = "dateTime" if "dateTime" in body else "date"
    signer_fld = "performer" if "performer" in body else "grantor"
    r5 = _r5_provisions(body)
    key = _ref_key(body.get(subject_fld), ctx)
    student = None if key is None or not key.startswith("Patient/") else _node_id(key, ctx)
    if student is None:
        ctx.problem(r, subject_fld, "the patient reference cannot be resolved to a Patient")
        return
    signed = _time(body.get(date_fld), r, date_fld, r.path, ctx)
    if signed is False:
        return
    signers: list[str] = []
    for i, ref in enumerate(body.get(signer_fld) or []):
        fld = signer_fld
        skey = _ref_key(ref, ctx)
        if skey is None or skey.partition("/")[0] not in _SIGNER_TYPES:
            ctx.warn(r, fld, f"signer {skey or 'reference'} is not a Patient or RelatedPerson: not mapped", f"{r.path}/{fld}/{i}")
            continue
        sid = _node_id(skey, ctx)
        if sid is not None:
            _referenced(skey, r, fld, ctx, f"{r.path}/{fld}/{i}")
            signers.append(sid)
    doc = _Doc(r, cid, status, signed if isinstance(signed, datetime) else None, student, signers, ctx.signature.get(fid), r5)
    none: tuple[None, None, list[str], frozenset[str], frozenset[str]] = (None, None, [], frozenset(), frozenset())
    grantees = []
    for i, ref in enumerate(body.get("grantee") or []):
        gkey = _ref_key(ref, ctx)
        if gkey is None or gkey.partition("/")[0] not in _RECIPIENT_TYPES:
            what = f"grantee {gkey or 'reference'} is not an Organization, Practitioner or HealthcareService"
            ctx.warn(r, "grantee", f"{what}: not mapped", f"{r.path}/grantee/{i}")
            continue
        gid = _node_id(gkey, ctx)
        if gid is not None:
            _referenced(gkey, r, "grantee", ctx, f"{r.path}/grantee/{i}")
            grantees.append(gid)
    if r5:
        # R5: the root is `decision` over Consent.period, granted to `grantee`; provisions are exceptions.
        decision = body.get("decision", "permit")
        kind = ConsentKind(decision) if decision in ("permit", "deny") else None
        provs = body.get("provision")
        kids = [k for k in provs if isinstance(k, Mapping)] if isinstance(provs, list) else []
        root = {"period": body.get("period")} if isinstance(body.get("period"), Mapping) else {}
        _emit(doc, _Rule(kind, root, r.path, kids), none, ctx, root_recipients=grantees)
        return
    prov = body.get("provision")
    ppath = f"{r.path}/provision"
    if isinstance(prov, list) and len(prov) == 1:
        prov, ppath = prov[0], f"{ppath}/0"  # one root provision written as a list (XML carries no cardinality)
    if not isinstance(prov, Mapping):
        prov = {}
    sub = prov.get("provision")
    kids = [k for k in sub if isinstance(k, Mapping)] if isinstance(sub, list) else []
    _emit(doc, _Rule(_rule_kind(prov, body), prov, ppath, kids), none, ctx, root_recipients=grantees)


def _r5_provisions(body: Mapping[str, Any]) -> bool:
    """True when the root rule is R5's: a ``decision``, or R5 fields whose provisions carry no ``type``.

    Then every provision is an exception to the one enclosing it (the opposite of it).
    Otherwise the root provision says permit or deny itself (R4, and R5 drafts that kept
    ``provision.type``), and so does each nested one.
    """
    if "decision" in body:
        return True
    if "patient" in body or "subject" not in body:
        return False
    provs = body.get("provision")
    items = provs if isinstance(provs, list) else [provs]
    return not any(isinstance(p, Mapping) and "type" in p for p in items)


def _name(body: Mapping[str, Any]) -> str:
    """Display name of an Organization / HealthcareService (string) or a person (HumanName)."""
    if isinstance(body.get("name"), str):
        return str(body["name"])
    for n in body.get("name") or []:
        if isinstance(n, Mapping):
            if n.get("text"):
                return str(n["text"])
            parts = [*(str(g) for g in n.get("given") or []), str(n.get("family") or "")]
            return " ".join(p for p in parts if p)
    return ""


def read(
    paths: Sequence[Path],
    *,
    default_valid_from: datetime | None = None,
    recorded_at: datetime | None = None,
    source: str = "fhir",
    include_names: bool = False,
    id_map: Mapping[str, str] | None = None,
    purpose_map: Mapping[str, str] | None = None,
    category_map: Mapping[str, str] | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
    strict: bool = False,
) -> LoadResult:
    """Read FHIR Consent resources (and the resources they name) into canonical records.

    Parameters
    ----------
    paths : Sequence[Path]
        JSON files (a resource, a Bundle, or an array of resources), NDJSON files, FHIR
        XML files (a resource or a Bundle; R4 and R5), or directories standing for the
        ``*.json``/``*.ndjson``/``*.xml`` files in them.
    default_valid_from : datetime
        Aware; ``valid_from`` of a consent's edges when it has neither ``dateTime`` nor
        ``provision.period.start``.
    recorded_at : datetime, optional
        Aware; stamped on every edge.
    source : str
        Prefix of each edge's ``source`` (``"fhir:consent-example.json"``).
    include_names : bool
        Keep RelatedPerson names on Guardian nodes (off: no names).
    id_map : Mapping[str, str], optional
        FHIR reference (``"Patient/f001"``, ``"RelatedPerson/peter"``; or
        ``"Patient?identifier=<system>|<value>"`` for identifier-only references) ->
        an existing node id. A mapped Organization/Practitioner/RelatedPerson/
        HealthcareService creates no node of its own.
    purpose_map, category_map : Mapping[str, str], optional
        Extra ``"system|code"`` (or bare ``"code"``) -> our purpose / category code,
        consulted before the built-in `PURPOSE_CODES` / `CATEGORY_CODES`.
    time_zone : str
        The partnership's IANA zone: a date without a time (``2026-06-30``) names a
        calendar day there; ``Period.end`` is inclusive (docs/dates.md).
    strict : bool
        Unmapped purposes, categories and references not in the input are Problems
        (the load is refused) instead of warnings. Either way each is summed up once:
        the code, how many consents it left incomplete, which.

    Returns
    -------
    LoadResult
        Nodes (Partner, Provider, Program, Guardian for the Organization, Practitioner,
        HealthcareService, RelatedPerson resources present; Consent per provision)
        then ABOUT, GIVEN_BY and PERMITS edges. No Student node: students come from a
        roster. Problems: unreadable file, no id/status, an unresolvable patient, a
        naive or unparsable time, a period ending before it starts (that consent is
        skipped). Warnings: date-only times, unmapped purposes/categories/roles/
        signers, references not in the input, resources not held.

    Raises
    ------
    NaiveDatetimeError
        `default_valid_from` or `recorded_at` is naive.
    InvalidTime
        Unknown `time_zone`.
    """
    start = None if default_valid_from is None else ensure_aware(default_valid_from)
    ctx = _Ctx(
        LoadResult(), start, None if recorded_at is None else ensure_aware(recorded_at),
        source, include_names, dict(id_map or {}), dict(purpose_map or {}), dict(category_map or {}),
        LocalDates(time_zone), MissingStarts(start), strict,
    )
    resources: list[_Res] = []
    for path in _expand(paths, ctx.result):
        for doc, line in _load_file(path, ctx.result):
            resources.extend(_resources(doc, path.name, line, "", ctx))
    for r in resources:
        ctx.result.rows_read += 1
        key = f"{r.body.get('resourceType')}/{r.body.get('id')}"
        ctx.index.setdefault(key, r)
        if r.body.get("resourceType") == "Provenance":
            for t in r.body.get("target") or []:
                tkey = _ref_key(t, ctx)
                if tkey and tkey.startswith("Consent/") and r.body.get("signature"):
                    sig = r.body["signature"][0] if isinstance(r.body["signature"], list) else {}
                    method = "digital_signature" if isinstance(sig, Mapping) and sig.get("sigFormat") else "electronic_signature"
                    ctx.signature[tkey.partition("/")[2]] = method
    seen: set[str] = set()
    for r in resources:
        rtype = str(r.body.get("resourceType"))
        key = f"{rtype}/{r.body.get('id')}"
        if rtype in _NODE_KIND:
            if ctx.index.get(key) is not r or key in ctx.id_map:
                continue  # a duplicate, or an existing node the caller named in id_map
            name = _name(r.body)
            if rtype == "RelatedPerson" and not include_names:
                data: dict[str, Any] = {"id": _PREFIX[rtype] + str(r.body.get("id"))}
            else:
                data = {"id": _PREFIX[rtype] + str(r.body.get("id")), "name": name}
            node_or_problem(ctx.result, _NODE_KIND[rtype], data, r.file, r.line, r.path)
        elif rtype == "Consent":
            _consent(r, ctx, seen)
        elif rtype == "Patient":
            ctx.warn(r, None, f"{key}: students come from a roster; the Patient resource is not loaded")
        elif rtype != "Provenance":
            ctx.warn(r, None, f"{key}: a {rtype} is not held")
    ctx.starts.report(ctx.result, "neither dateTime nor provision.period.start")
    ctx.report_unmapped()
    # Dependency order: nodes first, then edges (already separate lists).
    return ctx.result
