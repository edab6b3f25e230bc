"""Case tests/cases/every-failing-reason (copied from the shared cases): the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CASE = Path(__file__).resolve().parents[1] / "cases" / "every-failing-reason"
EXE = str(Path(sys.executable).parent / "needtoknow")
AT = "2026-01-15T12:00:00Z"


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NTK_POLICY_FILE": str(CASE / "policy.json")}
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for world in ("bundle_base", "bundle_training_expired"):
        db = tmp_path_factory.mktemp(world) / "a.db"
        loaded = ntk("load", "bundle", str(CASE / world), "--db", str(db))
        assert loaded.returncode == 0, loaded.stderr
        out[world] = db
    return out


def _reasons(body: dict[str, object]) -> list[tuple[str, str | None]]:
    reasons = body["reasons"]
    assert isinstance(reasons, list)
    return [(r["code"], r["category"]) for r in reasons]


def test_base_world_discipline_neither_consented_nor_needed(dbs: dict[str, Path]) -> None:
    out = ntk("check", "--db", str(dbs["bundle_base"]), "--provider", "P1", "--student", "S1", "--at", AT,
              "--purpose", "academic_support", "--category", "discipline", "--json")  # fmt: skip
    assert out.returncode == 1, out.stderr
    body = json.loads(out.stdout)
    assert body["outcome"] == "deny"
    assert _reasons(body) == [("category_not_consented", "discipline"), ("not_needed_for_service", "discipline")]


def test_training_expired_still_reports_category_reasons(dbs: dict[str, Path]) -> None:
    args = ("--db", str(dbs["bundle_training_expired"]), "--provider", "P1", "--student", "S1", "--at", AT,
            "--purpose", "academic_support", "--category", "attendance", "--category", "discipline")  # fmt: skip
    out = ntk("check", *args, "--json")
    assert out.returncode == 1, out.stderr
    body = json.loads(out.stdout)
    expected = [("training_expired", None), ("category_not_consented", "discipline"), ("not_needed_for_service", "discipline")]
    assert _reasons(body) == expected
    # The path lists only the conditions that held.
    assert [s["condition"] for s in body["path"]] == ["consent", "employment", "community", "need_to_know"]

    explained = ntk("explain", *args, "--json")
    assert explained.returncode == 1
    conditions = {c["condition"]: c for c in json.loads(explained.stdout)["conditions"]}
    assert {k: c["met"] for k, c in conditions.items()} == {
        "consent": True,
        "agreement_and_training": False,
        "employment": True,
        "community": True,
        "need_to_know": True,
    }
    training = conditions["agreement_and_training"]
    assert [(m["code"], m["ref"]) for m in training["missing"]] == [("training_expired", "FERPA101")]
    assert "current training in every required course" in training["requires"] and training["evidence"] == []
    assert [e["id"] for e in conditions["need_to_know"]["evidence"]] == ["sv1"]
    assert [(m["code"], m["category"]) for m in conditions["consent"]["missing"]] == [("category_not_consented", "discipline")]

    text = ntk("explain", *args)
    assert text.returncode == 1
    assert "relationships that satisfied each condition" not in text.stdout
    lines = text.stdout.splitlines()
    head = lines.index("  agreement_and_training: not met")
    assert lines[head + 1].startswith("    requires the current version of the data confidentiality agreement")
    assert lines[head + 2] == "    missing: training_expired (record FERPA101): The provider's required training has expired."
    assert "  need_to_know: met" in lines and "    satisfied by SERVES sv1: P1 -> S1, valid 2025-09-15T00:00:00Z until open" in lines


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00"])
def test_extreme_times_exit_2_with_a_json_message(dbs: dict[str, Path], at: str) -> None:
    out = ntk("check", "--db", str(dbs["bundle_base"]), "--provider", "P1", "--student", "S1", "--at", at, "--json")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert json.loads(out.stdout)["error"]["message"].startswith("--at: time out of range")


def test_json_nested_100000_deep_is_a_load_problem(tmp_path: Path) -> None:
    bundle = tmp_path / "deep"
    bundle.mkdir()
    (bundle / "Student.jsonl").write_text('{"id": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    out = ntk("load", "bundle", str(bundle), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Student.jsonl:1: malformed JSON: nested too deeply to read" in out.stderr
