"""Case tests/cases/fhir-deny-with-permit-exception (copied from the shared cases), run as a user runs it.

HL7's "deny everything except organisation X" (R5 ``decision: deny`` with one permit
provision): the family's exception for org-b wins over the deny enclosing it, so the
provider of org-b is never told the family refused; a provider of any other partner is.
The same answers on the embedded store and on Neo4j, through the CLI's ``explain``.

The case's consent is signed by the student (grantor Patient/stu-1) on 2021-11-11, when
she was 16: under 34 CFR 99.5 the right was her parents' then, so the permit's own reason
``signer_lacks_authority`` stays (DOMAIN.md, signer authority). What the case is about is
that no refusal (``consent_denied``) is reported to org-b's provider.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CASE = Path(__file__).resolve().parent / "fhir-deny-with-permit-exception"
EXE = str(Path(sys.executable).parent / "needtoknow")
AT = "2026-03-16T16:00:00Z"
OTHER_PARTNER = {  # a provider of a partner the family did not name (not part of the shared case)
    "Partner.csv": "id,name\nfhir-org:org-c,Org C\n",
    "Provider.csv": "id,name\nprv-2,Provider Two\n",
    "EMPLOYED_BY.csv": "id,from_id,to_id,valid_from\nemp2,prv-2,fhir-org:org-c,2020-01-01T00:00:00Z\n",
}


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module", params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store_args(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Load the case (and a second partner) into a fresh store once per backend; the CLI options that reach it."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "networkx":
        args = ["--db", str(tmp_path / "r.db")]
    else:
        from tests.stores.test_contract import clear_neo4j

        uri: str = request.getfixturevalue("neo4j_uri")
        clear_neo4j(uri)
        args = ["--db", str(tmp_path / "r.db"), "--backend", "neo4j", "--neo4j-uri", uri]
    other = tmp_path / "other"
    other.mkdir()
    for name, text in OTHER_PARTNER.items():
        (other / name).write_text(text, encoding="utf-8")
    for fmt, *paths in (("bundle", CASE / "roster", other), ("fhir-consent", CASE / "consent")):
        done = ntk("load", fmt, *map(str, paths), *args)
        assert done.returncode == 0, done.stderr
    return args


def explain(args: list[str], provider: str) -> dict[str, Any]:
    out = ntk("explain", *args, "--provider", provider, "--student", "stu-1", "--at", AT,
              "--purpose", "treatment", "--category", "attendance", "--json")  # fmt: skip
    assert out.returncode == 1, out.stderr  # deny: the other conditions (training, community, ...) do not hold
    body: dict[str, Any] = json.loads(out.stdout)
    return body


def consent_missing(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    (consent,) = [c for c in body["conditions"] if c["condition"] == "consent"]
    return [(m["code"], m["ref"]) for m in consent["missing"]]


def test_the_named_organisation_is_not_told_the_family_refused(store_args: list[str]) -> None:
    body = explain(store_args, "prv-1")
    codes = [r["code"] for r in body["reasons"]]
    assert "consent_denied" not in codes
    # The permit provision (the exception, fhir-consent:c1#1) is the consent weighed for org-b.
    assert consent_missing(body) == [("signer_lacks_authority", "fhir-consent:c1#1")]
    assert codes == ["signer_lacks_authority", "agreement_missing", "partner_agreement_missing", "training_missing",
                     "not_in_student_community", "no_service_relationship"]  # fmt: skip
    # Only the conditions that held are on the path: employment, with prv-1's employment.
    assert [(s["condition"], [e["id"] for e in s["edges"]]) for s in body["path"]] == [("employment", ["emp1"])]


def test_any_other_partner_is_refused(store_args: list[str]) -> None:
    body = explain(store_args, "prv-2")
    assert consent_missing(body) == [
        ("recipient_not_named", "fhir-consent:c1#1"), ("signer_lacks_authority", "fhir-consent:c1#1"), ("consent_denied", "fhir-consent:c1")
    ]
