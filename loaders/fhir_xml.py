"""FHIR XML -> the same structure as FHIR JSON, so one reader serves both.

The mapping follows the FHIR XML and JSON format rules (hl7.org/fhir/xml.html,
json.html): the root element's name is ``resourceType``; ``<x value="v"/>`` is ``"x": "v"``;
an element with children is an object; ``<resource>`` / ``<contained>`` wrap a resource;
an element that repeats is a list. XML carries no cardinality, so the elements that are
lists in JSON (0..*) are named in `REPEATING`; any other element that occurs more than
once becomes a list too. Parsed with ``defusedxml`` (no DTDs, entities or external
references: an XML bomb or an XXE is refused, never expanded).

``fhir.resources`` (the maintained Python FHIR models, which read XML) was tried and not
used: it has no R4 (4.0.1) models, only R4B and R5, and it refuses with a bare KeyError
HL7's own OrgToOrg Consent example (an R5 draft mixing ``subject`` with ``dateTime``),
which this reader must load.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # Element, ParseError and tostring only: parsing is defusedxml's
from typing import Any, Final

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

__all__ = ["FHIR_NS", "REPEATING", "FhirXmlError", "parse"]

FHIR_NS: Final = "http://hl7.org/fhir"
_XHTML_NS: Final = "http://www.w3.org/1999/xhtml"

REPEATING: Final = frozenset(
    {
        # Bundle, DomainResource, datatypes
        "entry", "link", "contained", "extension", "modifierExtension", "identifier", "coding", "telecom", "address",
        "given", "prefix", "suffix", "line", "alias", "contact", "target", "signature", "agent", "entity", "policy",
        "tag", "security", "profile",
        # Consent R4 and R5
        "category", "performer", "organization", "grantor", "grantee", "manager", "controller", "sourceReference",
        "regulatoryBasis", "policyBasis", "policyText", "verification", "provision", "actor", "action", "securityLabel",
        "purpose", "class", "code", "data", "documentType", "resourceType", "dataPeriod",
        # Organization, Practitioner, RelatedPerson, HealthcareService, CareTeam
        "relationship", "participant", "qualification", "communication", "photo", "type", "specialty", "location",
    }
)
"""Elements that are lists in FHIR JSON (0..*) where the reader looks; ``name`` is one when it is a HumanName."""

_SINGLE_PRIMITIVE: Final = frozenset({"type", "code"})
"""Names that are lists as complex elements but single primitives elsewhere (``provision.type``, ``Coding.code``)."""


_CONTAINERS: Final = frozenset({"resource", "contained", "outcome"})
"""Elements that wrap a resource (Bundle.entry.resource, DomainResource.contained, Bundle.entry.response.outcome)."""


class FhirXmlError(ValueError):
    """Not well-formed or unsafe XML, or not FHIR XML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _is_list(name: str, el: ET.Element) -> bool:
    complex_ = len(el) > 0 or "value" not in el.attrib
    if name == "name":
        return complex_  # HumanName 0..*; Organization.name is a string
    if name in _SINGLE_PRIMITIVE:
        return complex_
    return name in REPEATING


def _resource(el: ET.Element) -> dict[str, Any]:
    ns, name = _local(el.tag)
    if ns != FHIR_NS:
        raise FhirXmlError(f"<{name}> is not in the FHIR namespace {FHIR_NS} (found {ns or 'no namespace'})")
    out: dict[str, Any] = {"resourceType": name}
    out.update(_children(el))
    return out


def _element(el: ET.Element) -> Any:
    """One element's JSON value: a primitive's ``value``, a resource, or an object of its children."""
    ns, name = _local(el.tag)
    if ns == _XHTML_NS:
        return ET.tostring(el, encoding="unicode")  # narrative: kept as text, never read
    if name in _CONTAINERS:
        inner = [c for c in el if _local(c.tag)[0] == FHIR_NS]
        if len(inner) == 1 and _local(inner[0].tag)[1][:1].isupper():
            return _resource(inner[0])
    value = el.attrib.get("value")
    kids = _children(el)
    if value is not None and not kids:
        return value
    out: dict[str, Any] = {}
    if "id" in el.attrib:
        out["id"] = el.attrib["id"]
    if "url" in el.attrib:
        out["url"] = el.attrib["url"]
    if value is not None:
        out["value"] = value  # a primitive with extensions: JSON would split it into x and _x
    out.update(kids)
    return out


def _children(el: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        counts[_local(child.tag)[1]] = counts.get(_local(child.tag)[1], 0) + 1
    for child in el:
        if not isinstance(child.tag, str):
            continue
        ns, name = _local(child.tag)
        if ns == _XHTML_NS and name == "div":
            out["div"] = ET.tostring(child, encoding="unicode")
            continue
        value = _element(child)
        if _is_list(name, child) or counts[name] > 1:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def parse(raw: bytes) -> dict[str, Any]:
    """FHIR XML bytes -> the resource as FHIR JSON would have it (a dict with ``resourceType``).

    Raises
    ------
    FhirXmlError
        Not well-formed XML (with its line), a DTD/entity/external reference (refused as
        unsafe), or a root element outside the FHIR namespace.
    """
    try:
        root = SafeET.fromstring(raw)
    except DefusedXmlException as err:
        raise FhirXmlError(f"XML with a DTD, entity or external reference is refused as unsafe ({type(err).__name__})") from err
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        raise FhirXmlError(f"not well-formed XML: {err}", line) from err
    return _resource(root)
