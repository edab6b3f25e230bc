"""The exported SDL is the schema; every type and field is described; reason codes come from graph.reasons."""

from __future__ import annotations

import importlib

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLUnionType

from api.schema import SCHEMA_FILE, schema
from graph.reasons import Reason


def test_schema_graphql_matches_the_code() -> None:
    # Regenerate with: python -m api.schema   (or: needtoknow schema export)
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.as_str() + "\n"


def test_check_script_import_path() -> None:
    assert "type Query" in importlib.import_module("api.schema").schema.as_str()


def test_every_type_and_field_has_a_description() -> None:
    missing = []
    for name, t in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Boolean", "Int", "Float", "ID", "Date"}:
            continue
        if not t.description:
            missing.append(name)
        if isinstance(t, GraphQLObjectType | GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, d in t.fields.items() if not d.description]
        if isinstance(t, GraphQLUnionType | GraphQLEnumType):
            continue
    assert missing == []


def test_reason_code_enum_is_generated_from_graph_reasons() -> None:
    enum = schema._schema.type_map["ReasonCode"]
    assert isinstance(enum, GraphQLEnumType)
    assert {v.value for v in enum.values.values()} | set(enum.values) >= {r.name for r in Reason}
    assert len(enum.values) == len(Reason)


def test_required_operations_exist() -> None:
    sdl = schema.as_str()
    for field in (
        "check(",
        "checkMany(",
        "explain(",
        "accessibleStudents(",
        "providersWithAccess(",
        "disclosures(",
        "student(",
        "provider(",
        "partner(",
        "community(",
        "consent(",
        "recordConsent(",
        "revokeConsent(",
        "startService(",
        "changeServiceStatus(",
        "endService(",
        "recordTraining(",
        "signAgreement(",
        "addProvider(",
        "assignToTeam(",
        "transferStudent(",
        "verifyGuardian(",
    ):
        assert field in sdl, field
