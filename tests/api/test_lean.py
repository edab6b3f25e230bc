"""The lean check path (api/lean.py) answers exactly as the schema does.

Random check and checkMany documents (field subsets in random order, the shapes the lean
path refuses too) with random variables (good, unknown and malformed ids, bad times and
purposes, unknown categories, stale tokens, oversize batches) from every role: whenever
the lean path answers, its body is byte for byte the body strawberry gives for the same
request (same clock, same store); when it declines, the schema answers as before.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from strawberry.schema.exceptions import CannotGetOperationTypeError

from api.config import ApiSettings
from api.http import format_result
from api.lean import answer, plan_for
from api.roles import Principal, Role
from api.schema import build_schema
from api.schema.context import Context
from graph.audit import SqliteAuditLog
from graph.engine import Engine
from graph.stores.memory import MemoryStore
from tests.api.conftest import ROLES, build_db

NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)

DECISION = [
    "providerId",
    "studentId",
    "at",
    "purpose",
    "allowed",
    "outcome",
    "releasedCategories",
    "evaluatedAt",
    "consistencyToken",
    "policyVersion",
]
REASON = ["code", "message", "subject", "ref", "category"]
EDGE = ["id", "type", "from", "to", "validFrom", "validTo"]

IDS = ["ana", "bo", "cy", "sam", "sue", "gia", "zed-unknown", "Bad Id!", 7]
PURPOSES = [None, "academic_support", "case_management", "Bad Purpose", 5]
CATEGORIES: list[Any] = [None, [], ["grades"], ["grades", "attendance"], ["health", "grades"], ["no_such_category"], "grades", [3]]
TIMES: list[Any] = [
    None,
    "2026-01-15T19:00:00Z",
    "2025-09-01T08:00:00-06:00",
    "2026-01-15T19:00:00",
    "yesterday",
    "9999-12-31T23:59:59Z",
    12,
]


def _selection(rng: random.Random) -> str:
    fields = rng.sample(DECISION, rng.randint(1, len(DECISION)))
    if rng.random() < 0.6:
        fields.append("reasons { " + " ".join(rng.sample(REASON, rng.randint(1, len(REASON)))) + " }")
    if rng.random() < 0.5:
        fields.append("path { condition edges { " + " ".join(rng.sample(EDGE, rng.randint(1, len(EDGE)))) + " } }")
    rng.shuffle(fields)
    return " ".join(fields)


def _document(rng: random.Random) -> tuple[str, str | None, bool]:
    """(query, operationName, many); sometimes a shape the lean path must decline."""
    many = rng.random() < 0.5
    field, arg, var_type = ("checkMany", "requests", "[CheckInput!]!") if many else ("check", "request", "CheckInput!")
    token = rng.random() < 0.3
    name = rng.choice([None, "Q"])
    defs = f"$r: {var_type}" + (", $t: String" if token else "")
    args = f"{arg}: $r" + (", consistencyToken: $t" if token else "")
    sel = _selection(rng)
    twist = rng.randrange(20)
    if twist == 0:
        sel += " __typename"
    elif twist == 1:
        field = f"a: {field}"
    elif twist == 2:
        sel = "...F"
    elif twist == 3:
        defs = defs.replace("!", "", 1)
    elif twist == 4:
        sel += " allowed"
    query = f"query {name or ''}({defs}) {{ {field}({args}) {{ {sel} }} }}"
    if twist == 2:
        query += f" fragment F on Decision {{ {_selection(rng)} }}"
    op = name if rng.random() < 0.9 else rng.choice([None, "Other", "Q"])
    return query, op, many


def _input(rng: random.Random, clean: bool) -> Any:
    if clean:  # well formed, as most real requests are: the lean path's part
        item: dict[str, Any] = {"providerId": rng.choice(["ana", "bo", "cy"]), "studentId": rng.choice(["sam", "sue", "zed-unknown"])}
        for key, values in (("purpose", PURPOSES[:3]), ("categories", CATEGORIES[:5]), ("at", TIMES[:3])):
            if rng.random() < 0.5:
                item[key] = rng.choice(values)
        return item
    item = {"providerId": rng.choice(IDS), "studentId": rng.choice(IDS)}
    if rng.random() < 0.15:
        item["providerId"], item["studentId"] = "ana", "sam"
    for key, values in (("purpose", PURPOSES), ("categories", CATEGORIES), ("at", TIMES)):
        if rng.random() < 0.5:
            item[key] = rng.choice(values)
    if rng.random() < 0.05:
        del item["studentId"]
    if rng.random() < 0.05:
        item["colour"] = "blue"
    return item


def _variables(rng: random.Random, many: bool, token: str) -> dict[str, Any]:
    clean = rng.random() < 0.8
    if many:
        r: Any = [_input(rng, clean) for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.05:
            r = _input(rng, clean)  # one object where a list is declared (GraphQL coerces it)
    else:
        r = _input(rng, clean)
    tokens = [None, token] if clean else [None, token, "999999", "abc"]
    out: dict[str, Any] = {"r": r, "t": rng.choice(tokens)}
    if rng.random() < 0.05:
        del out["r"]
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db: Path = tmp_path_factory.mktemp("lean") / "lean.db"
    build_db(db)
    store = MemoryStore(db)
    engine = Engine(store, audit=SqliteAuditLog(db), clock=lambda: NOW)
    try:
        yield engine
    finally:
        assert engine.audit is not None
        engine.audit.close()
        store.close()


def _principal(name: str) -> Principal:
    spec = ROLES[name]
    return Principal(token_id=f"tok-{name}", role=Role(spec["role"]), subject=spec.get("subject"), partner_ids=spec.get("partner_ids", ()))


@pytest.mark.parametrize(
    ("limits", "rounds", "least"),
    [({}, 400, 80), ({"max_fields": 12}, 150, 10)],
    ids=["default-limits", "tight-limits"],
)
def test_lean_answers_exactly_as_the_schema(world: Engine, limits: dict[str, int], rounds: int, least: int) -> None:
    settings = ApiSettings(max_batch=4, **limits)
    schema = build_schema(settings)
    rng = random.Random(12)
    token = world.store.token()
    lean_answers = declined = 0
    for _ in range(rounds):
        query, op, many = _document(rng)
        variables = _variables(rng, many, token)
        context = Context(
            engine=world, principal=_principal(rng.choice(["admin"] * 8 + ["app", "provider", *ROLES])), settings=settings, now=NOW
        )
        lean = answer(query, variables, op, context, settings)
        try:
            result = asyncio.run(schema.execute(query, variable_values=variables, context_value=context, operation_name=op))
        except CannotGetOperationTypeError:  # the endpoint answers 400 BAD_REQUEST (no such operation)
            assert lean is None
            declined += 1
            continue
        status, body = format_result(result, suggestions=settings.introspection_enabled)
        if lean is None:
            declined += 1
            continue
        lean_answers += 1
        assert status == 200
        assert json.dumps(lean) == json.dumps(body), (query, variables)
    # Both ways were taken many times (the comparison above ran, and so did the fallback).
    assert lean_answers >= least and declined >= least, (lean_answers, declined)


@pytest.mark.parametrize(
    "query",
    [
        "query($r: CheckInput!) { a: check(request: $r) { allowed } }",
        "query($r: CheckInput!) { check(request: $r) { allowed __typename } }",
        "query($r: CheckInput!) { check(request: $r) { ...F } } fragment F on Decision { allowed }",
        "query($r: CheckInput) { check(request: $r) { allowed } }",
        "query($r: CheckInput!, $u: String) { check(request: $r) { allowed } }",
        "query($r: CheckInput!) { check(request: $r) { allowed } explain(request: $r) { summary } }",
        'query { check(request: {providerId: "ana", studentId: "sam"}) { allowed } }',
        'query($r: CheckInput! = {providerId: "ana", studentId: "sam"}) { check(request: $r) { allowed } }',
        "query($r: CheckInput!) @skip(if: true) { check(request: $r) { allowed } }",
        "query($r: CheckInput!) { check(request: $r) { reasons } }",
        "mutation($r: CheckInput!) { check(request: $r) { allowed } }",
    ],
)
def test_other_shapes_are_left_to_the_schema(query: str) -> None:
    assert plan_for(query, None, 4000) is None


def test_check_documents_are_recognised() -> None:
    plan = plan_for(
        "query Q($r: [CheckInput!]!, $t: String) { checkMany(requests: $r, consistencyToken: $t) { allowed path { condition } } }",
        "Q",
        4000,
    )
    assert plan is not None and plan.many and plan.request_var == "r" and plan.token_var == "t"
    assert plan.selection == (("allowed", None), ("path", (("condition", None),)))
    assert plan.size == 4  # checkMany, allowed, path, condition: what the schema's field limit counts
