"""Ed-Fi ODS/API JSON resources -> the records of the XML interchanges, so one reader maps both.

The ODS/API returns each resource as a JSON array (one file per page:
``students.json``, ``students-2.json``, ...); each item is the resource as the API writes
it (docs/loaders/edfi.md). Each item is rewritten into the element the XML interchange
has for the same record, by the Ed-Fi binding rules:

* a key becomes an element of the same name with a capital first letter
  (``studentUniqueId`` -> ``StudentUniqueId``);
* a reference object ``xReference: {k: v}`` becomes ``XReference/XIdentity/K`` (the XML
  nests the identity); an ``educationOrganizationId`` inside another reference (a
  program's) becomes the ``EducationOrganizationReference`` the XML nests there;
* a descriptor ``relationDescriptor`` becomes ``Relation`` (the XML drops the suffix);
* ``firstName`` / ``lastSurname`` go into ``Name`` (the XML groups them);
* ``id``, ``_etag``, ``_lastModifiedDate`` and ``link`` (API bookkeeping) are dropped.

The resource is known by the file name (``studentSchoolAssociations*.json``), else by the
item's keys. The caller (`loaders.edfi`) then treats each element exactly as it treats the
XML record, so both give the same canonical records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from xml.etree.ElementTree import Element, SubElement

from graph.errors import Problem
from loaders.base import LoadResult, loads_json

__all__ = ["RESOURCES", "element_for", "records"]

RESOURCES: Final[Mapping[str, str]] = {
    "localEducationAgencies": "LocalEducationAgency",
    "schools": "School",
    "communityOrganizations": "CommunityOrganization",
    "communityProviders": "CommunityProvider",
    "programs": "Program",
    "students": "Student",
    "parents": "Parent",
    "contacts": "Contact",
    "studentParentAssociations": "StudentParentAssociation",
    "studentContactAssociations": "StudentContactAssociation",
    "studentSchoolAssociations": "StudentSchoolAssociation",
    "staffs": "Staff",
    "staffEducationOrganizationEmploymentAssociations": "StaffEducationOrganizationEmploymentAssociation",
    "staffEducationOrganizationAssignmentAssociations": "StaffEducationOrganizationAssignmentAssociation",
    "studentProgramAssociations": "StudentProgramAssociation",
    "studentSpecialEducationProgramAssociations": "StudentSpecialEducationProgramAssociation",
}
"""ODS/API resource (the URL's last segment) -> the interchange element of the same record."""

_BY_LOWER: Final = {k.lower(): v for k, v in RESOURCES.items()}
_BOOKKEEPING: Final = frozenset({"id", "_etag", "_lastModifiedDate", "link", "_ext"})
_NAME_PARTS: Final = frozenset({"firstName", "middleName", "lastSurname", "personalTitlePrefix", "generationCodeSuffix"})
_STEM: Final = re.compile(r"^(?:ed-fi[._-])?([A-Za-z]+)")


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resource_of_file(path: Path) -> str | None:
    """The interchange element for a file named after its resource (``students-2.json`` -> Student)."""
    m = _STEM.match(path.stem)
    return _BY_LOWER.get(m[1].lower()) if m else None


def _resource_of_item(item: Mapping[str, Any]) -> str | None:
    """The interchange element an item is, told by its keys (for files not named after a resource)."""
    keys = set(item)
    refs = {k for k in keys if k.endswith("Reference")}
    if "studentReference" in refs:
        if "schoolReference" in refs and "entryDate" in keys:
            return "StudentSchoolAssociation"
        if "parentReference" in refs:
            return "StudentParentAssociation"
        if "contactReference" in refs:
            return "StudentContactAssociation"
        if "programReference" in refs:
            return "StudentProgramAssociation"
        return None
    if "staffReference" in refs and "educationOrganizationReference" in refs:
        return ("StaffEducationOrganizationEmploymentAssociation" if "hireDate" in keys
                else "StaffEducationOrganizationAssignmentAssociation")  # fmt: skip
    for key, element in (("studentUniqueId", "Student"), ("parentUniqueId", "Parent"), ("contactUniqueId", "Contact"),
                         ("staffUniqueId", "Staff"), ("schoolId", "School"), ("localEducationAgencyId", "LocalEducationAgency"),
                         ("communityProviderId", "CommunityProvider"), ("communityOrganizationId", "CommunityOrganization")):  # fmt: skip
        if key in keys:
            return element
    if "programName" in keys and "educationOrganizationReference" in refs:
        return "Program"
    return None


def _add(parent: Element, key: str, value: Any) -> None:
    if value is None or key in _BOOKKEEPING:
        return
    if isinstance(value, list):
        for item in value:
            _add(parent, key, item)
        return
    if key.endswith("Reference") and isinstance(value, Mapping):
        _reference(parent, key, value)
        return
    name = _pascal(key.removesuffix("Descriptor") if key.endswith("Descriptor") and not isinstance(value, Mapping) else key)
    child = SubElement(parent, name)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _add(child, k, v)
    else:
        child.text = _text(value)


def _reference(parent: Element, key: str, value: Mapping[str, Any]) -> None:
    ref = SubElement(parent, _pascal(key))
    identity = SubElement(ref, _pascal(key).removesuffix("Reference") + "Identity")
    for k, v in value.items():
        if k in _BOOKKEEPING or v is None:
            continue
        if k == "educationOrganizationId" and key != "educationOrganizationReference":
            _reference(identity, "educationOrganizationReference", {k: v})  # a program's owner, nested as in the XML
        else:
            _add(identity, k, v)


def element_for(item: Mapping[str, Any], tag: str) -> Element:
    """The interchange element `tag` for one ODS/API resource item (rules in the module docstring)."""
    rec = Element(tag)
    name = {k: item[k] for k in _NAME_PARTS if item.get(k) is not None}
    if name:
        _add(rec, "name", name)
    for key, value in item.items():
        if key not in _NAME_PARTS:
            _add(rec, key, value)
    return rec


def records(path: Path, result: LoadResult) -> Iterator[tuple[Element, str, str]]:
    """Each resource item of an ODS/API JSON file as ``(element, file name, JSON pointer)``; bad input becomes Problems.

    A file holds an array of items (one page), or one item. Items of no known resource
    are counted by the caller as unmapped (their element is named ``Unknown``).
    """
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        result.problems.append(Problem(name, None, None, f"cannot read the file: {err.strerror or err}"))
        return
    except UnicodeDecodeError as err:
        result.problems.append(Problem(name, None, None, f"not UTF-8 text (wrong encoding?): byte {err.object[err.start]:#04x}"))
        return
    try:
        doc = loads_json(text)
    except json.JSONDecodeError as err:
        result.problems.append(Problem(name, err.lineno, None, f"not JSON (truncated page?): {err.msg}"))
        return
    items = doc if isinstance(doc, list) else [doc]
    by_file = _resource_of_file(path)
    for i, item in enumerate(items):
        pointer = f"/{i}" if isinstance(doc, list) else ""
        if not isinstance(item, Mapping):
            result.problems.append(Problem(name, None, None, "not an ODS/API resource (a JSON object)", pointer or "/"))
            continue
        result.rows_read += 1
        yield element_for(item, by_file or _resource_of_item(item) or "Unknown"), name, pointer
