"""FHIR XML (loaders.fhir_xml through loaders.fhir_consent): R4 and R5, resources and Bundles.

The R4 specification's Consent examples in XML must load to exactly what their JSON forms
load to; HL7's OrgToOrg example (an R5 draft) must mean what it says; bad XML is a Problem
naming the file and line, never a traceback, and an XML bomb is refused, never expanded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from graph.changes import PutEdge, PutNode
from graph.decide import decide
from graph.decision import CheckRequest
from graph.model import Consent, ConsentKind, EdgeKind, EmployedBy, Partner, Provider, Student
from graph.policy import DEFAULT_POLICY
from graph.stores.memory import MemoryStore
from loaders import fhir_consent
from loaders.base import LoadResult
from tests.dates import local

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
R4_XML = FIXTURES / "fhir-r4-consent-xml"
R4_JSON = FIXTURES / "fhir-r4-consent"
ORG_TO_ORG = FIXTURES / "fhir-r5-consent-xml" / "consent-example-OrgToOrg.xml"
CASE_JSON = Path(__file__).resolve().parents[1] / "cases" / "fhir-deny-with-permit-exception" / "consent" / "consent-r5.json"
T0 = datetime(2024, 9, 1, tzinfo=UTC)


def load(*paths: Path) -> LoadResult:
    return fhir_consent.read(list(paths), default_valid_from=T0)


def consents(r: LoadResult) -> dict[str, Consent]:
    return {n.id: n for n in r.nodes if isinstance(n, Consent)}


def edges(r: LoadResult) -> list[tuple[str, str, str, datetime]]:
    return sorted((str(e.kind), e.from_id, e.to_id, e.valid_from) for e in r.edges)


def test_r4_examples_in_xml_load_as_their_json_forms() -> None:
    xml = load(R4_XML)
    assert xml.ok, xml.problems
    assert xml.rows_read == 12
    json_forms = load(*(R4_JSON / f"{p.stem}.json" for p in sorted(R4_XML.glob("*.xml"))))
    assert consents(xml) == consents(json_forms)
    assert edges(xml) == edges(json_forms)
    assert len(consents(xml)) == 15  # 12 documents + the typed nested provisions of Emergency, signature, smartonfhir


def test_org_to_org_permits_its_organisation_and_keeps_its_sign_date() -> None:
    r = load(ORG_TO_ORG)
    assert r.ok, r.problems
    root_id = "fhir-consent:consent-example-OrgToOrg"
    c = consents(r)
    assert set(c) == {root_id, f"{root_id}#1"}
    root, exception = c[root_id], c[f"{root_id}#1"]
    assert (root.consent_kind, root.exception_to) == (ConsentKind.DENY, None)
    assert (exception.consent_kind, exception.exception_to) == (ConsentKind.PERMIT, root_id)
    assert root.signed_at == exception.signed_at == local(2021, 11, 11)  # `dateTime` kept, R5 `subject` or not
    permits = {(e.from_id, e.to_id) for e in r.edges if e.kind == EdgeKind.PERMITS}
    assert permits == {(f"{root_id}#1", "fhir-org:f203")}
    assert {e.to_id for e in r.edges if e.kind == EdgeKind.ABOUT} == {"f001"}


def _reasons_for(r: LoadResult, partner: str, tmp_path: Path) -> list[str]:
    store = MemoryStore(tmp_path / f"{partner}.db")
    try:
        store.apply([
            PutNode(Student(id="f001")), PutNode(Partner(id="fhir-org:f203", name="Blijdorp Medisch Centrum")),
            PutNode(Partner(id="fhir-org:f999", name="Another")), PutNode(Provider(id="prv", name="P")),
            PutEdge(EmployedBy(id="emp", from_id="prv", to_id=partner, valid_from=T0)),
            *(PutNode(n) for n in r.nodes), *(PutEdge(e) for e in r.edges),
        ])  # fmt: skip
        d = decide(store.gather_evidence("prv", "f001"), CheckRequest("prv", "f001", datetime(2026, 1, 5, tzinfo=UTC)),
                   DEFAULT_POLICY)  # fmt: skip
        return [str(x.code) for x in d.reasons if x.condition is not None and str(x.condition) == "consent"]
    finally:
        store.close()


def test_org_to_org_decides_for_the_named_organisation_only(tmp_path: Path) -> None:
    r = load(ORG_TO_ORG)
    named = _reasons_for(r, "fhir-org:f203", tmp_path)
    other = _reasons_for(r, "fhir-org:f999", tmp_path)
    # The example names no purpose, data or signer: incomplete either way, but only the
    # other organisation is not named, and nobody is told of a refusal nobody signed.
    assert named == ["consent_incomplete"]
    assert other == ["consent_incomplete", "recipient_not_named"]


R5_BUNDLE = """<?xml version="1.0" encoding="UTF-8"?>
<Bundle xmlns="http://hl7.org/fhir">
  <type value="collection"/>
  <entry>
    <fullUrl value="urn:uuid:0f6a4e2c-1111-4a55-9d55-000000000001"/>
    <resource>
      <Consent>
        <id value="c1"/>
        <status value="active"/>
        <subject><reference value="Patient/stu-1"/></subject>
        <date value="2021-11-11T10:00:00Z"/>
        <grantor><reference value="Patient/stu-1"/></grantor>
        <decision value="deny"/>
        <provision>
          <actor>
            <role><coding><system value="http://terminology.hl7.org/CodeSystem/v3-ParticipationType"/><code value="IRCP"/></coding></role>
            <reference><reference value="Organization/org-b"/></reference>
          </actor>
          <purpose><system value="http://terminology.hl7.org/CodeSystem/v3-ActReason"/><code value="TREAT"/></purpose>
          <securityLabel><system value="urn:needtoknow:category"/><code value="attendance"/></securityLabel>
        </provision>
      </Consent>
    </resource>
  </entry>
</Bundle>
"""


def test_r5_bundle_in_xml_loads_as_the_same_consent_in_json(tmp_path: Path) -> None:
    p = tmp_path / "bundle.xml"
    p.write_text(R5_BUNDLE, encoding="utf-8")
    xml, json_form = load(p), load(CASE_JSON)
    assert xml.ok and json_form.ok, (xml.problems, json_form.problems)
    assert consents(xml) == consents(json_form)
    assert edges(xml) == edges(json_form)
    assert consents(xml)["fhir-consent:c1#1"].exception_to == "fhir-consent:c1"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Consent xmlns="http://hl7.org/fhir"><id value="&lol2;"/></Consent>
"""


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        pytest.param(b'<?xml version="1.0"?>\n<Consent xmlns="http://hl7.org/fhir">\n  <id value="c1">\n</Consent>\n', 4,
                     "not well-formed XML", id="not-well-formed"),
        pytest.param(BOMB, None, "refused as unsafe", id="entity-bomb"),
        pytest.param(b'<Consent xmlns="urn:other"><id value="c1"/></Consent>', None, "not in the FHIR namespace",
                     id="other-namespace"),
    ],
)  # fmt: skip
def test_bad_xml_is_a_problem_naming_file_and_line(tmp_path: Path, data: bytes, line: int | None, words: str) -> None:
    p = tmp_path / "bad.xml"
    p.write_bytes(data)
    r = load(p)
    assert [(x.file, x.line) for x in r.problems] == [("bad.xml", line)]
    assert words in r.problems[0].message and not r.nodes


def test_xml_maps_to_the_json_structure() -> None:
    from loaders.fhir_xml import parse

    doc: dict[str, Any] = parse(R5_BUNDLE.encode())
    resource = doc["entry"][0]["resource"]
    assert doc["resourceType"] == "Bundle" and doc["type"] == "collection"
    assert resource["resourceType"] == "Consent" and resource["decision"] == "deny"
    assert resource["grantor"] == [{"reference": "Patient/stu-1"}]  # 0..* : a list even when one
    assert resource["provision"][0]["actor"][0]["role"]["coding"][0]["code"] == "IRCP"
