"""The lean path for ``check`` and ``checkMany``: the same answer as the schema, without its per-item machinery.

A checkMany of 1,000 spends most of its time outside the engine when strawberry runs it:
graphql-core coerces every input object, strawberry converts each into a ``CheckInput``,
then completes every output field through its resolver and serialiser. This module
recognises the documents checks are asked with and answers them directly, with exactly the
JSON body the schema would give (``tests/api/test_lean.py`` compares the two on random
documents and variables, errors included).

A document takes the lean path only when all of this holds; otherwise `answer` returns None
and the schema runs it as before (so every error message stays the schema's own):

* one operation, a query, no directives, no fragments; its name matches ``operationName``;
* one root field, ``check`` or ``checkMany``, without alias or directive, whose arguments
  (``request`` / ``requests``, optional ``consistencyToken``) are each a variable;
* the variables are declared exactly ``CheckInput!`` / ``[CheckInput!]!`` and ``String`` /
  ``String!``, without defaults, each used once;
* the selection is fields of ``Decision`` (``reasons`` and ``path`` with their own fields),
  without alias, argument, directive, fragment or ``__typename``, none twice;
* every variable value is well formed: ids that follow the id rule, strings where strings
  are expected, a ``DateTime`` the scalar accepts, no unknown input field.

Then the shared resolver code (`api.schema.queries.disclosed_decisions`: authorisation,
engine, record before answer, disclosure) runs. It raises only before anything is recorded
(a batch too large, an unknown id, a forbidden provider); the lean path then hands the
request to the schema, which raises the same error and formats it. Parsed documents are
cached (the same few documents are sent over and over).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from graphql import (
    FieldNode,
    GraphQLError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeNode,
    VariableNode,
    parse,
)

from api.config import ApiSettings
from api.schema.context import Context
from api.schema.queries import disclosed_decisions
from api.schema.scalars import parse_datetime_value, serialize_datetime
from graph.decision import CheckRequest, Decision, PathStep, ReasonDetail
from graph.ids import is_valid_id
from graph.model import Edge

__all__ = ["Plan", "answer", "plan_for"]

_INPUT_FIELDS: Final = frozenset({"providerId", "studentId", "purpose", "categories", "at"})
_DECISION: Final = frozenset(
    {
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
    }
)
_REASON: Final = frozenset({"code", "message", "subject", "ref", "category"})
_EDGE: Final = frozenset({"id", "type", "from", "to", "validFrom", "validTo"})
_MAX_QUERY: Final = 2000  # characters: plans are cached by document, so only documents of a check's size are
_DEPTH: Final = 4  # checkMany { path { edges { id } } }: the deepest selection the lean path takes

Selection = tuple[tuple[str, "Selection | None"], ...]
"""Selected fields in document order, each with its own selection (None for a leaf)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A recognised check document: which field, which variables, which output fields."""

    many: bool
    request_var: str
    token_var: str | None
    token_required: bool
    selection: Selection
    size: int
    """Fields selected, the root field included (what the schema's expansion limit counts)."""


@dataclass(frozen=True, slots=True)
class _Input:
    """A well-formed check input (the plain counterpart of ``CheckInput``)."""

    provider_id: str
    student_id: str
    purpose: str | None
    categories: list[str] | None
    at: datetime | None

    def to_request(self, now: datetime) -> CheckRequest:
        """The domain request, `at` defaulting to `now` (as ``CheckInput.to_request``)."""
        cats = frozenset(self.categories) if self.categories is not None else None
        return CheckRequest(self.provider_id, self.student_id, self.at or now, self.purpose, cats)


def _type_is(node: TypeNode, shape: str) -> bool:
    """`node` spelled as `shape` (``CheckInput!``, ``[CheckInput!]!``, ``String``)."""
    if isinstance(node, NonNullTypeNode):
        return shape.endswith("!") and _type_is(node.type, shape[:-1])
    if isinstance(node, ListTypeNode):
        return shape.startswith("[") and shape.endswith("]") and _type_is(node.type, shape[1:-1])
    return isinstance(node, NamedTypeNode) and node.name.value == shape


def _selection(node: SelectionSetNode | None, allowed: dict[str, Any]) -> Selection | None:
    """The selection if every field is plain, allowed and selected once; else None."""
    if node is None or not node.selections:
        return None
    out: list[tuple[str, Selection | None]] = []
    seen: set[str] = set()
    for sel in node.selections:
        if not isinstance(sel, FieldNode) or sel.alias is not None or sel.directives or sel.arguments:
            return None
        name = sel.name.value
        if name not in allowed or name in seen:
            return None
        seen.add(name)
        inner = allowed[name]
        if inner is None:
            if sel.selection_set is not None:
                return None
            out.append((name, None))
        else:
            sub = _selection(sel.selection_set, inner)
            if sub is None:
                return None
            out.append((name, sub))
    return tuple(out)


_EDGE_FIELDS: Final[dict[str, Any]] = dict.fromkeys(_EDGE)
_DECISION_FIELDS: Final[dict[str, Any]] = {
    **dict.fromkeys(_DECISION),
    "reasons": dict.fromkeys(_REASON),
    "path": {"condition": None, "edges": _EDGE_FIELDS},
}


@lru_cache(maxsize=256)
def plan_for(query: str, operation_name: str | None, max_tokens: int) -> Plan | None:
    """The plan of a check document, or None when the schema must run it (module docstring)."""
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    op = document.definitions[0]
    if not isinstance(op, OperationDefinitionNode) or op.operation is not OperationType.QUERY or op.directives:
        return None
    if operation_name is not None and (op.name is None or op.name.value != operation_name):
        return None
    if len(op.selection_set.selections) != 1:
        return None
    root = op.selection_set.selections[0]
    if not isinstance(root, FieldNode) or root.alias is not None or root.directives or root.name.value not in ("check", "checkMany"):
        return None
    many = root.name.value == "checkMany"
    request_arg = "requests" if many else "request"
    used: dict[str, str] = {}
    for arg in root.arguments or ():
        if arg.name.value not in (request_arg, "consistencyToken") or not isinstance(arg.value, VariableNode):
            return None
        if arg.value.name.value in used:
            return None
        used[arg.value.name.value] = arg.name.value
    declared = {d.variable.name.value: d for d in op.variable_definitions or ()}
    if set(declared) != set(used) or request_arg not in used.values():
        return None
    request_var = token_var = None
    token_required = False
    for name, d in declared.items():
        if d.default_value is not None or d.directives:
            return None
        if used[name] == request_arg:
            if not _type_is(d.type, "[CheckInput!]!" if many else "CheckInput!"):
                return None
            request_var = name
        else:
            token_required = _type_is(d.type, "String!")
            if not (token_required or _type_is(d.type, "String")):
                return None
            token_var = name
    selection = _selection(root.selection_set, _DECISION_FIELDS)
    if selection is None or request_var is None:
        return None
    return Plan(many, request_var, token_var, token_required, selection, 1 + _size(selection))


def _size(selection: Selection) -> int:
    return sum(1 + (_size(sub) if sub is not None else 0) for _, sub in selection)


def _input(value: Any) -> _Input | None:
    """A well-formed input object, else None (the schema then refuses it in its own words)."""
    if not isinstance(value, dict) or not value.keys() <= _INPUT_FIELDS:
        return None
    provider, student = value.get("providerId"), value.get("studentId")
    if not isinstance(provider, str) or not isinstance(student, str) or not is_valid_id(provider) or not is_valid_id(student):
        return None
    purpose = value.get("purpose")
    if purpose is not None and not isinstance(purpose, str):
        return None
    categories = value.get("categories")
    if categories is not None and not (isinstance(categories, list) and all(isinstance(c, str) for c in categories)):
        return None
    at = value.get("at")
    if at is not None:
        try:
            at = parse_datetime_value(at)
        except Exception:  # noqa: BLE001 - any refusal is the schema's to word
            return None
    return _Input(provider, student, purpose, categories, at)


def _inputs(plan: Plan, variables: dict[str, Any]) -> tuple[list[_Input], str | None] | None:
    if plan.request_var not in variables:
        return None
    raw = variables[plan.request_var]
    items = raw if plan.many else [raw]
    if not isinstance(items, list):
        return None
    inputs: list[_Input] = []
    for item in items:
        given = _input(item)
        if given is None:
            return None
        inputs.append(given)
    token = variables.get(plan.token_var) if plan.token_var is not None else None
    if (token is None and plan.token_required) or (token is not None and not isinstance(token, str)):
        return None
    return inputs, token


class _Writer:
    """Serialises decisions for one selection (times through the DateTime scalar, enums by name)."""

    def __init__(self, selection: Selection, evaluated: datetime, state: str) -> None:
        self._times: dict[datetime, str] = {}
        self.evaluated = self.time(evaluated)
        self.state = state
        self.fields: list[tuple[str, Callable[[Decision], Any]]] = [(name, self._getter(name, sub)) for name, sub in selection]

    def time(self, value: datetime) -> str:
        text = self._times.get(value)
        if text is None:
            text = self._times[value] = serialize_datetime(value)
        return text

    def _getter(self, name: str, sub: Selection | None) -> Callable[[Decision], Any]:
        getters: dict[str, Callable[[Decision], Any]] = {
            "providerId": lambda d: d.request.provider_id,
            "studentId": lambda d: d.request.student_id,
            "at": lambda d: self.time(d.request.at),
            "purpose": lambda d: d.request.purpose,
            "allowed": lambda d: d.allowed,
            "outcome": lambda d: d.outcome.name,
            "releasedCategories": lambda d: sorted(d.released),
            "evaluatedAt": lambda _: self.evaluated,
            "consistencyToken": lambda _: self.state,
            "policyVersion": lambda d: d.policy_version,
        }
        if name == "reasons":
            assert sub is not None
            return lambda d: [self._reason(r, sub) for r in d.reasons]
        if name == "path":
            assert sub is not None
            return lambda d: [self._step(s, sub) for s in d.path]
        return getters[name]

    @staticmethod
    def _reason(r: ReasonDetail, sub: Selection) -> dict[str, Any]:
        values = {"code": r.code.name, "message": r.message, "subject": r.subject, "ref": r.ref, "category": r.category}
        return {name: values[name] for name, _ in sub}

    def _step(self, s: PathStep, sub: Selection) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, inner in sub:
            if name == "condition":
                out[name] = s.condition.name
            else:
                assert inner is not None
                out[name] = [self._edge(e, inner) for e in s.edges]
        return out

    def _edge(self, e: Edge, sub: Selection) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, _ in sub:
            if name == "id":
                out[name] = e.id
            elif name == "type":
                out[name] = str(e.kind)
            elif name == "from":
                out[name] = e.from_id
            elif name == "to":
                out[name] = e.to_id
            elif name == "validFrom":
                out[name] = self.time(e.valid_from)
            else:
                out[name] = None if e.valid_to is None else self.time(e.valid_to)
        return out

    def decision(self, d: Decision) -> dict[str, Any]:
        return {name: get(d) for name, get in self.fields}


def answer(
    query: str, variables: dict[str, Any] | None, operation_name: str | None, context: Context, settings: ApiSettings
) -> dict[str, Any] | None:
    """The JSON body (``{"data": ...}``) of a check document on the lean path; None: let the schema run it.

    Records the decisions before answering, as the resolvers do (`disclosed_decisions`). What
    that raises, it raises before the record is written (validation, authorisation, the
    engine's own checks); after the record only pure steps run (the store's token, the clock,
    disclosure), so handing a failed request to the schema never records a question twice.
    """
    if settings.max_depth < _DEPTH or len(query) > _MAX_QUERY:
        return None  # the schema's depth limit may refuse the document; a long one is not a check document worth caching
    plan = plan_for(query, operation_name, settings.max_tokens)
    if plan is None or plan.size > settings.max_fields:
        return None  # not a check document, or one the schema's field limit refuses
    given = _inputs(plan, variables or {})
    if given is None:
        return None
    inputs, token = given
    try:
        decisions, evaluated, state = disclosed_decisions(context, inputs, token, batch=plan.many)
    except Exception:  # noqa: BLE001 - raised before anything was recorded; the schema words (or masks) it
        return None
    writer = _Writer(plan.selection, evaluated, state)
    if plan.many:
        return {"data": {"checkMany": [writer.decision(d) for d in decisions]}}
    return {"data": {"check": writer.decision(decisions[0])}}
