# ruff: noqa: E501  (strategy tables read best on one line)
"""Scalar fuzz for the CLI and the loaders: any value of any option or field is an answer
(exit 0/1), a refusal (exit 2 with a message) or a load Problem; never a traceback.

The CLI runs in-process through typer's runner (the real commands on a real SQLite store),
so hundreds of examples stay cheap; tests/cli/test_cli.py runs the installed script.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli import app
from loaders import bundle, fhir_consent, hsds
from tests.api.conftest import build_db

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
ODD = ["", " ", "\x00", "a\u202eb", "x" * 5000, "sam ", "ana", "sam", "%%%%", "-", "--json", "🏃"]
TIMES = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-15T12:00:00", "2026-02-30T00:00:00Z"]
texts = st.one_of(st.sampled_from(ODD), st.text(max_size=40))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("cli-fuzz") / "w.db"
    build_db(path)
    yield path


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output
    return result


@FUZZ
@given(
    command=st.sampled_from(["check", "explain"]),
    provider=texts,
    student=texts,
    at=st.one_of(st.sampled_from(TIMES), texts, st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())),
    purpose=st.one_of(st.none(), texts),
    categories=st.lists(st.one_of(st.sampled_from(["attendance", "grades", "discipline"]), texts), max_size=3),
    as_json=st.booleans(),
)
def test_check_and_explain(
    db: Path, command: str, provider: str, student: str, at: str, purpose: str | None, categories: list[str], as_json: bool
) -> None:
    args = [command, "--db", str(db), f"--provider={provider}", f"--student={student}", f"--at={at}"]
    args += [f"--purpose={purpose}"] if purpose is not None else []
    args += [f"--category={c}" for c in categories]
    result = run(*args, *(["--json"] if as_json else []))
    if as_json and result.exit_code == 2 and result.stdout.strip():
        assert "error" in json.loads(result.stdout)


@FUZZ
@given(
    command=st.sampled_from(["accessible", "who-can-access"]),
    who=texts,
    at=st.one_of(st.sampled_from(TIMES), texts),
    first=st.one_of(st.integers(min_value=-(2**31), max_value=2**31).map(str), texts),
    after=st.one_of(st.none(), texts),
)
def test_lookups(db: Path, command: str, who: str, at: str, first: str, after: str | None) -> None:
    flag = "--provider" if command == "accessible" else "--student"
    args = [command, "--db", str(db), f"{flag}={who}", f"--at={at}", f"--first={first}"]
    run(*args, *([f"--after={after}"] if after is not None else []))


# ---------------------------------------------------------------------------- loaders

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts, st.sampled_from(TIMES)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
START = datetime(2025, 8, 15, 6, tzinfo=UTC)


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(["id", "birth_date", "name", "postsecondary_enrolled", "time_zone", "x"]), json_values, max_size=5),
    edge=st.dictionaries(st.sampled_from(["id", "from_id", "to_id", "valid_from", "valid_to", "status", "categories_needed"]), json_values, max_size=6),
    csv_cell=texts,
)
def test_bundle_values(tmp_path_factory: pytest.TempPathFactory, fields: dict[str, Any], edge: dict[str, Any], csv_cell: str) -> None:
    folder = tmp_path_factory.mktemp("bundle")
    (folder / "Student.jsonl").write_text(json.dumps(fields) + "\n", encoding="utf-8")
    (folder / "SERVES.jsonl").write_text(json.dumps(edge) + "\n", encoding="utf-8")
    (folder / "Provider.csv").write_text(f"id,name\n{csv_cell.replace(chr(10), ' ')},x\n", encoding="utf-8")
    result = bundle.read([folder], default_valid_from=START)
    assert result.problems or result.nodes or result.edges is not None


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["resourceType", "status", "patient", "dateTime", "provision", "performer", "id"]), json_values, max_size=6))
def test_fhir_consent_values(tmp_path_factory: pytest.TempPathFactory, doc: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("fhir")
    (folder / "consent.json").write_text(json.dumps({"resourceType": "Consent", **doc}), encoding="utf-8")
    fhir_consent.read([folder], default_valid_from=START)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["id", "name", "services", "organization", "version", "x"]), json_values, max_size=5))
def test_hsds_values(tmp_path_factory: pytest.TempPathFactory, doc: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("hsds")
    (folder / "organization.json").write_text(json.dumps(doc), encoding="utf-8")
    hsds.read([folder], default_valid_from=START)


@pytest.mark.parametrize("reader", [bundle.read, fhir_consent.read, hsds.read], ids=["bundle", "fhir", "hsds"])
def test_json_nested_100000_deep_is_a_problem(tmp_path: Path, reader: Any) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "Student.jsonl").write_text('{"id": ' + deep + "}\n", encoding="utf-8")
    (tmp_path / "consent.json").write_text(deep, encoding="utf-8")
    (tmp_path / "organization.json").write_text(deep, encoding="utf-8")
    result = reader([tmp_path], default_valid_from=START)
    assert any("nested too deeply" in p.message for p in result.problems), result.problems


@FUZZ
@given(
    at=st.one_of(st.sampled_from([*TIMES, "2199-12-31T23:59:59Z", "1900-01-01T00:00:00Z"]), texts),
    days=st.one_of(st.integers(min_value=-(2**40), max_value=2**40).map(str), texts),
    by=st.one_of(st.sampled_from(["community", "school", "program", "partner"]), texts),
    fmt=st.sampled_from(["table", "csv", "json", "xml"]),
)
def test_coverage(db: Path, at: str, days: str, by: str, fmt: str) -> None:
    run("coverage", "--db", str(db), f"--at={at}", f"--expiring-days={days}", f"--by={by}", f"--format={fmt}")
