"""The GraphQL-over-HTTP audit suite (npm `graphql-http`, `serverAudits`) against a real served app.

`needtoknow serve` runs in a subprocess on a free loopback port; `tests/http_audit/audit.mjs`
(graphql-http installed from npm by `make`) runs every audit and prints the results. With
introspection on: no error and no warning. With it off (the default), the only audits that
do not pass are the four whose documents introspect (`__type(name: $name)`), each refused
as a validation failure by design (docs/api.md, "Statuses").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ServerProcess, build_db, make_tokens

AUDIT_DIR = Path(__file__).resolve().parents[1] / "http_audit"

BY_DESIGN_WITHOUT_INTROSPECTION = {
    "2EA1": "its document is `query Type($name: String!) { __type(name: $name) { name } }`: introspection is refused (400)",
    "28B9": "the same introspecting document: answered 200 with a GRAPHQL_VALIDATION_FAILED error, which the audit forbids",
    "D6D5": "the same introspecting document by GET (a MAY audit)",
    "6A70": "the same introspecting document by GET (a MAY audit)",
}


def run_audit(tmp_path: Path, introspection: bool, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "node is needed (the README's requirements)"
    assert (AUDIT_DIR / "node_modules" / "graphql-http").is_dir(), "run `make setup` (installs tests/http_audit from npm)"
    db = tmp_path / "audit.db"
    build_db(db)
    token = make_tokens(db)["admin"]
    monkeypatch.setenv("NTK_INTROSPECTION", "1" if introspection else "0")
    with ServerProcess(db) as server:
        out = subprocess.run(
            [node, str(AUDIT_DIR / "audit.mjs"), f"{server.url}/graphql"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NTK_AUDIT_TOKEN": token},
            check=False,
        )
    assert out.returncode == 0, out.stderr
    results: list[dict[str, Any]] = json.loads(out.stdout)
    assert len(results) > 50  # the whole suite ran
    return results


def test_audit_with_introspection_has_no_error_and_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_audit(tmp_path, True, monkeypatch)
    bad = [(r["id"], r["status"], r["name"], r["reason"]) for r in results if r["status"] in ("error", "warn")]
    assert bad == []
    print(f"graphql-http audits: {len(results)}, not ok: {[r['id'] for r in results if r['status'] != 'ok']}")


def test_audit_without_introspection_deviates_only_by_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_audit(tmp_path, False, monkeypatch)
    not_ok = {r["id"] for r in results if r["status"] != "ok"}
    assert not_ok == set(BY_DESIGN_WITHOUT_INTROSPECTION)
