"""loaders.fhir_consent against the HL7 FHIR R4 Consent examples and small Bundles built here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from graph.model import Consent, ConsentKind, ConsentStatus, EdgeKind, NodeKind, record_to_dict
from loaders import fhir_consent
from loaders.base import LoadResult
from tests.dates import local

FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir-r4-consent"
T0 = datetime(2024, 9, 1, tzinfo=UTC)
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def load(*paths: Path, **kw: Any) -> LoadResult:
    return fhir_consent.read(list(paths), default_valid_from=T0, **kw)


def consent(r: LoadResult, node_id: str) -> Consent:
    found = [n for n in r.nodes if n.id == node_id]
    assert len(found) == 1, [n.id for n in r.nodes]
    assert isinstance(found[0], Consent)
    return found[0]


def targets(r: LoadResult, kind: EdgeKind, from_id: str) -> set[str]:
    return {e.to_id for e in r.edges if e.kind == kind and e.from_id == from_id}


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


# ---------------------------------------------------------------------------- the R4 examples


def test_examples_counts() -> None:
    r = load(FHIR)
    assert r.ok, r.problems
    # 12 Consents, 3 of them with a nested provision that says permit/deny (Emergency, signature, smartonfhir);
    # pkb's 11 nested provisions have no type and are warnings.
    assert r.counts() == {"ABOUT": 15, "Consent": 15, "GIVEN_BY": 4, "Guardian": 4, "PERMITS": 5, "Partner": 1}
    assert not any(n.kind == NodeKind.STUDENT for n in r.nodes)
    assert sum(w.field == "provision.type" for w in r.warnings) == 11


def test_examples_recipients() -> None:
    r = load(FHIR)
    assert targets(r, EdgeKind.PERMITS, "fhir-consent:consent-example-pkb") == {"fhir-org:f001"}
    assert targets(r, EdgeKind.PERMITS, "fhir-consent:consent-example-notThem") == {"fhir-practitioner:f204"}
    assert targets(r, EdgeKind.PERMITS, "fhir-consent:consent-example-signature") == {"fhir-practitioner:13"}
    # grantor names Patient/example as recipient: not a Partner/Provider/Program -> warning, no edge
    assert targets(r, EdgeKind.PERMITS, "fhir-consent:consent-example-grantor") == set()
    assert any(w.file == "consent-example-grantor.json" and "Patient/example" in w.message for w in r.warnings)
    # CST (custodian) is not a recipient
    assert targets(r, EdgeKind.PERMITS, "fhir-consent:consent-example-Out") == set()
    partner = next(n for n in r.nodes if n.id == "fhir-org:f001")
    assert record_to_dict(partner) == {"id": "fhir-org:f001", "name": "Burgers University Medical Center"}


def test_examples_subject_signer_and_status() -> None:
    r = load(FHIR)
    assert targets(r, EdgeKind.ABOUT, "fhir-consent:consent-example-basic") == {"f001"}
    assert targets(r, EdgeKind.GIVEN_BY, "fhir-consent:consent-example-smartonfhir") == {"fhir-relatedperson:peter"}
    assert targets(r, EdgeKind.GIVEN_BY, "fhir-consent:consent-example-signature") == {"72"}  # the patient signed
    c = consent(r, "fhir-consent:consent-example-signature")
    assert c.status is ConsentStatus.ACTIVE and c.consent_kind is ConsentKind.PERMIT  # policyRule OPTIN
    assert c.signed_at == utc(2016, 5, 26, 4, 41, 10)  # 00:41:10-04:00
    assert c.signature_method == "digital_signature"  # provenance-consent-signature
    assert consent(r, "fhir-consent:consent-example-Out").consent_kind is ConsentKind.DENY  # policyRule OPTOUT
    assert consent(r, "fhir-consent:consent-example-notOrg").consent_kind is ConsentKind.DENY  # provision.type


def test_examples_periods() -> None:
    r = load(FHIR)
    c = consent(r, "fhir-consent:consent-example-notTime")
    # date-only: start at local 00:00 (America/Denver); the end day is included, so the exclusive
    # end is the next local midnight
    assert (c.effective_from, c.expires_at) == (local(2015, 1, 1), local(2015, 2, 2))
    assert c.signed_at == local(2015, 11, 18)
    assert any(w.file == "consent-example-notTime.json" and w.field == "dateTime" for w in r.warnings)
    s = consent(r, "fhir-consent:consent-example-smartonfhir")
    assert s.effective_from == utc(2016, 6, 23, 7, 2, 33)
    assert s.expires_at == utc(2016, 6, 23, 7, 32, 34)  # 17:32:33+10:00 inclusive at second precision


def test_examples_purposes_and_nested() -> None:
    r = load(FHIR)
    root = consent(r, "fhir-consent:consent-example-Emergency")
    assert root.purposes == frozenset({"emergency_treatment"})  # ETREAT
    nested = consent(r, "fhir-consent:consent-example-Emergency#1")
    assert nested.consent_kind is ConsentKind.DENY and nested.purposes == frozenset({"emergency_treatment"})
    assert targets(r, EdgeKind.ABOUT, nested.id) == {"f001"}
    sig = consent(r, "fhir-consent:consent-example-signature#1")
    # nested permit: its AUT actor is a data constraint, so the enclosing recipient is inherited
    assert sig.consent_kind is ConsentKind.PERMIT and sig.categories == frozenset({"health"})  # LOINC notes
    assert (sig.effective_from, sig.expires_at) == (local(2015, 10, 10), local(2016, 10, 11))
    assert targets(r, EdgeKind.PERMITS, sig.id) == {"fhir-practitioner:13"}
    smart = consent(r, "fhir-consent:consent-example-smartonfhir#1")
    assert smart.categories == frozenset({"health"})  # class MedicationRequest


def test_examples_are_deterministic_and_dated() -> None:
    a, b = load(FHIR), load(FHIR)
    assert [record_to_dict(x) for x in a.nodes] == [record_to_dict(x) for x in b.nodes]
    assert [record_to_dict(x) for x in a.edges] == [record_to_dict(x) for x in b.edges]
    ids = [e.id for e in a.edges]
    assert len(ids) == len(set(ids))
    e = next(e for e in a.edges if e.id == "permits:fhir-consent:consent-example-signature:fhir-practitioner:13")
    assert e.valid_from == local(2015, 10, 10) and e.source == "fhir:consent-example-signature.json"


def test_names_only_when_asked() -> None:
    assert all(getattr(n, "name", None) is None for n in load(FHIR).nodes if n.kind == NodeKind.GUARDIAN)
    named = {n.id: getattr(n, "name", None) for n in load(FHIR, include_names=True).nodes if n.kind == NodeKind.GUARDIAN}
    assert named["fhir-relatedperson:peter"] == "Peter James Chalmers"


def test_id_map_points_at_existing_nodes() -> None:
    r = load(FHIR, id_map={"Patient/f001": "604863", "Organization/f001": "partner-burgers"})
    assert r.ok, r.problems
    assert targets(r, EdgeKind.ABOUT, "fhir-consent:consent-example-basic") == {"604863"}
    assert targets(r, EdgeKind.PERMITS, "fhir-consent:consent-example-pkb") == {"partner-burgers"}
    assert not any(n.kind == NodeKind.PARTNER for n in r.nodes)  # mapped: no node of its own


# ---------------------------------------------------------------------------- Bundles built here


def coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def recipient(ref: str) -> dict[str, Any]:
    return {"role": {"coding": [coding(ROLE, "PRCP")]}, "reference": {"reference": ref}}


def make_consent(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "resourceType": "Consent",
        "id": "c1",
        "status": "active",
        "scope": {"coding": [coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")]},
        "patient": {"reference": "Patient/s1"},
        "dateTime": "2024-08-20T09:30:00-06:00",
        "performer": [{"reference": "urn:uuid:mom"}],
        "provision": {
            "type": "permit",
            "period": {"start": "2024-08-20T09:30:00-06:00", "end": "2025-06-30T00:00:00Z"},
            "actor": [recipient("Organization/bgc"), recipient("HealthcareService/tutoring")],
            "purpose": [coding(PURPOSE, "TREAT"), coding(PURPOSE, "HMARKT")],
            "class": [coding("urn:needtoknow:category", "attendance"), coding("urn:needtoknow:category", "grades")],
            "provision": [
                {"type": "deny", "securityLabel": [coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "PSY")]},
            ],
        },
    }
    c.update(over)
    return c


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    mom = {"resourceType": "RelatedPerson", "id": "mom", "patient": {"reference": "Patient/s1"}}
    bgc = {"resourceType": "Organization", "id": "bgc", "name": "Boys & Girls Club"}
    extra = [{"fullUrl": "urn:uuid:mom", "resource": mom}, {"fullUrl": "https://x/Organization/bgc", "resource": bgc}]
    return {"resourceType": "Bundle", "type": "collection", "entry": [*extra, *({"resource": r} for r in resources)]}


def write(tmp_path: Path, doc: Any, name: str = "bundle.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return p


def test_bundle_permit_with_nested_deny(tmp_path: Path) -> None:
    r = load(write(tmp_path, bundle(make_consent())), id_map={"Patient/s1": "604863"})
    assert r.ok, r.problems
    root = consent(r, "fhir-consent:c1")
    assert root.consent_kind is ConsentKind.PERMIT
    assert root.signed_at == utc(2024, 8, 20, 15, 30) == root.effective_from
    assert root.expires_at == utc(2025, 6, 30, 0, 0, 1)  # inclusive end at second precision
    assert root.purposes == frozenset({"treatment"})  # HMARKT has no code of ours: a warning
    assert any(w.field == "provision.purpose" and "HMARKT" in w.message for w in r.warnings)
    assert root.categories == frozenset({"attendance", "grades"})
    assert targets(r, EdgeKind.PERMITS, root.id) == {"fhir-org:bgc", "fhir-healthcareservice:tutoring"}
    assert targets(r, EdgeKind.GIVEN_BY, root.id) == {"fhir-relatedperson:mom"}
    assert targets(r, EdgeKind.ABOUT, root.id) == {"604863"}
    deny = consent(r, "fhir-consent:c1#1")
    assert deny.consent_kind is ConsentKind.DENY and deny.categories == frozenset({"health"})
    # the nested rule narrows the enclosing one: period, recipients and purposes carry over
    assert (deny.effective_from, deny.expires_at, deny.purposes) == (root.effective_from, root.expires_at, root.purposes)
    assert targets(r, EdgeKind.PERMITS, deny.id) == targets(r, EdgeKind.PERMITS, root.id)
    assert targets(r, EdgeKind.GIVEN_BY, deny.id) == {"fhir-relatedperson:mom"}
    assert {n.id for n in r.nodes if n.kind != NodeKind.CONSENT} == {"fhir-relatedperson:mom", "fhir-org:bgc"}
    assert any("HealthcareService/tutoring is not in the input" in w.message for w in r.warnings)


@pytest.mark.parametrize(
    ("fhir", "ours"),
    [
        ("active", ConsentStatus.ACTIVE),
        ("draft", ConsentStatus.DRAFT),
        ("inactive", ConsentStatus.INACTIVE),
        ("entered-in-error", ConsentStatus.ENTERED_IN_ERROR),
        ("proposed", ConsentStatus.DRAFT),
        ("rejected", ConsentStatus.INACTIVE),
    ],
)
def test_status_mapping(tmp_path: Path, fhir: str, ours: ConsentStatus) -> None:
    r = load(write(tmp_path, make_consent(status=fhir)))
    assert consent(r, "fhir-consent:c1").status is ours


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        pytest.param({"dateTime": "2024-08-20T09:30:00"}, "dateTime", "naive", id="naive-dateTime"),
        pytest.param({"dateTime": "20/08/2024"}, "dateTime", "not a FHIR date", id="unparsable-dateTime"),
        pytest.param({"dateTime": "2024-02-30"}, "dateTime", "not a valid date", id="impossible-date"),
        pytest.param({"status": "approved"}, "status", "not a Consent status", id="unknown-status"),
        pytest.param({"patient": {"display": "Sam"}}, "patient", "cannot be resolved", id="unresolvable-patient"),
        pytest.param({"patient": {"reference": "Group/g1"}}, "patient", "cannot be resolved", id="patient-not-a-patient"),
        pytest.param({"id": ""}, "id", "without id", id="no-id"),
    ],
)
def test_bad_consent_is_a_problem_and_skipped(tmp_path: Path, over: dict[str, Any], field: str, words: str) -> None:
    good = make_consent(id="c2")
    r = load(write(tmp_path, bundle(make_consent(**over), good)))
    assert len(r.problems) == 1, r.problems
    p = r.problems[0]
    assert (p.file, p.field) == ("bundle.json", field) and words in p.message
    assert p.path == "/entry/2/resource"  # JSON pointer to the bad Consent
    assert {n.id for n in r.nodes if n.kind == NodeKind.CONSENT} == {"fhir-consent:c2", "fhir-consent:c2#1"}


def test_period_end_before_start(tmp_path: Path) -> None:
    prov = make_consent()["provision"] | {"period": {"start": "2025-01-01", "end": "2024-01-01"}}
    r = load(write(tmp_path, make_consent(provision=prov)))
    assert [(p.field, p.path) for p in r.problems] == [("provision.period", "/provision")]


def test_date_only_is_local_midnight_with_a_warning(tmp_path: Path) -> None:
    r = load(write(tmp_path, make_consent(dateTime="2024-08-20")))
    assert r.ok
    assert consent(r, "fhir-consent:c1").signed_at == local(2024, 8, 20)  # 06:00Z (MDT)
    assert [w.field for w in r.warnings if "no time of day" in w.message] == ["dateTime"]


def test_missing_type_and_policy_rule_is_not_guessed(tmp_path: Path) -> None:
    prov = {k: v for k, v in make_consent()["provision"].items() if k not in ("type", "provision")}
    r = load(write(tmp_path, make_consent(provision=prov)))
    assert not any(n.kind == NodeKind.CONSENT for n in r.nodes)
    assert any(w.field == "provision.type" for w in r.warnings)


def test_non_privacy_scope_is_not_loaded(tmp_path: Path) -> None:
    scope = {"coding": [coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment")]}
    r = load(write(tmp_path, make_consent(scope=scope)))
    assert r.ok and not r.nodes and any(w.field == "scope" for w in r.warnings)


def test_signer_must_be_patient_or_related_person(tmp_path: Path) -> None:
    r = load(write(tmp_path, make_consent(performer=[{"reference": "Practitioner/p1"}, {"reference": "Patient/s1"}])))
    assert targets(r, EdgeKind.GIVEN_BY, "fhir-consent:c1") == {"s1"}  # an eligible student signing
    assert any(w.field == "performer" and "Practitioner/p1" in w.message for w in r.warnings)


def test_r5_consent(tmp_path: Path) -> None:
    r5 = {
        "resourceType": "Consent", "id": "r5", "status": "active", "subject": {"reference": "Patient/s1"},
        "date": "2024-08-20", "grantor": [{"reference": "RelatedPerson/mom"}], "grantee": [{"reference": "Organization/bgc"}],
        "period": {"start": "2024-09-01", "end": "2025-06-30"}, "decision": "permit",
        "provision": [{"purpose": [coding(PURPOSE, "ETREAT")], "documentType": [coding("http://loinc.org", "34133-9")]}],
    }
    r = load(write(tmp_path, bundle(r5)))
    assert r.ok, r.problems
    root = consent(r, "fhir-consent:r5")
    assert root.consent_kind is ConsentKind.PERMIT
    assert (root.effective_from, root.expires_at) == (local(2024, 9, 1), local(2025, 7, 1))
    assert targets(r, EdgeKind.PERMITS, root.id) == {"fhir-org:bgc"}
    assert targets(r, EdgeKind.GIVEN_BY, root.id) == {"fhir-relatedperson:mom"}
    exception = consent(r, "fhir-consent:r5#1")  # an R5 provision is an exception: the opposite decision
    assert exception.consent_kind is ConsentKind.DENY
    assert exception.purposes == frozenset({"emergency_treatment"}) and exception.categories == frozenset({"health"})


def test_ndjson_lines(tmp_path: Path) -> None:
    p = tmp_path / "consents.ndjson"
    p.write_text(json.dumps(make_consent()) + "\n" + '{"resourceType": "Consent", "id": \n', encoding="utf-8")
    r = load(p)
    assert [(x.file, x.line) for x in r.problems] == [("consents.ndjson", 2)]
    assert consent(r, "fhir-consent:c1").consent_kind is ConsentKind.PERMIT


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        pytest.param(b'{\n "resourceType": "Consent",\n "id": "c', 3, "not JSON", id="truncated"),
        pytest.param(b'{\n "resourceType": "Consent",\n "id": "caf\xe9"}', 3, "not UTF-8", id="latin-1"),
        pytest.param(b"\xef\xbb\xbf" + json.dumps(make_consent()).encode().replace(b", ", b",\r\n"), None, "", id="bom-crlf"),
        pytest.param(b'{"id": "c1"}', None, "not a FHIR resource", id="no-resourceType"),
    ],
)
def test_file_level_input(tmp_path: Path, data: bytes, line: int | None, words: str) -> None:
    p = tmp_path / "in.json"
    p.write_bytes(data)
    r = load(p)
    if words:
        assert len(r.problems) == 1 and r.problems[0].line == line and words in r.problems[0].message
    else:
        assert r.ok and consent(r, "fhir-consent:c1").purposes == frozenset({"treatment"})


def test_missing_file(tmp_path: Path) -> None:
    r = load(tmp_path / "nope.json")
    assert [(p.file, p.line) for p in r.problems] == [("nope.json", None)]


@pytest.mark.parametrize(
    ("text", "start", "end", "date_only"),
    [
        ("2015", local(2015, 1, 1), local(2016, 1, 1), True),
        ("2015-12", local(2015, 12, 1), local(2016, 1, 1), True),
        ("2015-02-01", local(2015, 2, 1), local(2015, 2, 2), True),
        ("2026-03-08", local(2026, 3, 8), datetime(2026, 3, 9, 6, tzinfo=UTC), True),  # a 23-hour day (DST starts)
        ("2026-11-01", local(2026, 11, 1), datetime(2026, 11, 2, 7, tzinfo=UTC), True),  # a 25-hour day (DST ends)
        ("2015-02-01T10:00:00Z", utc(2015, 2, 1, 10), utc(2015, 2, 1, 10, 0, 1), False),
        ("2015-02-01T10:00:00.5+02:00", utc(2015, 2, 1, 8, 0, 0, 500000), utc(2015, 2, 1, 8, 0, 0, 600000), False),
    ],
)
def test_parse_fhir_time(text: str, start: datetime, end: datetime, date_only: bool) -> None:
    assert fhir_consent.parse_fhir_time(text) == (start, end, date_only)
