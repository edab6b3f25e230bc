"""docs/operations.md's configuration reference is generated from the settings and complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api import config_doc
from api.config import ApiSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_is_up_to_date() -> None:
    assert config_doc.main(["--check"]) == 0, "run `python -m api.config_doc`"


def test_every_variable_the_code_names_is_in_the_reference() -> None:
    documented = {env for env, _, _ in config_doc.rows()} | set(re.findall(r"`(NTK_[A-Z0-9_]+)`", config_doc.DOC.read_text()))
    named = set()
    for path in [*(ROOT / "api").rglob("*.py"), *(ROOT / "graph").rglob("*.py")]:
        named |= set(re.findall(r"\bNTK_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    prefixes = {"NTK_FEED", "NTK_NEO"}  # "NTK_FEED_*", "NTK_NEO4J_*" in prose
    assert named - prefixes <= documented, sorted(named - prefixes - documented)


@pytest.mark.parametrize(("env", "value", "field", "expected"), [
    ("NTK_RATE_LIMIT", "5/second", "rate_limit", "5/second"),
    ("NTK_OIDC_ROLE_MAP", '{"ntk-staff": "staff"}', "oidc_role_map", {"ntk-staff": "staff"}),
    ("NTK_TOKEN_DEFAULT_LIFETIME_DAYS", "30", "token_default_lifetime_days", 30),
    ("NTK_OTEL_ENABLED", "true", "otel_enabled", True),
])  # fmt: skip
def test_a_documented_variable_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str, expected: object
) -> None:
    assert env in {e for e, _, _ in config_doc.rows()}
    monkeypatch.setenv(env, value)
    assert getattr(ApiSettings(), field) == expected
