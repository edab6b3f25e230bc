"""Fast construction of records whose values are known valid: the one door for it.

Three callers build records without pydantic validation, all through here: journal replay
(`trusted_record` / `trusted_node` / `trusted_edge`, from JSON rows), the OneRoster and SDS
readers' fast path and the synthetic generator (`construct`, from values they made and
checked). Both fill every field the model declares, from the value given or the model's
default, so a field added to the model later cannot be skipped; `bulk_allocation` is the
one garbage-collector pause for building millions of records.

Every row of the journal was written by `graph.changes.change_to_json` after the record
passed validation, so replaying it need not validate again: validation is most of the
cost of a restart. The decoder converts JSON values back by the field's declared type
(datetime, date, frozenset, enum), shares equal datetimes and interns ids and sources —
a replayed graph of millions of edges holds far fewer small objects that way.

A journal edited by hand is not re-validated here; `needtoknow verify` (full
validation with `graph.model.node_from_dict`/`edge_from_dict`) is the check for that.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import gc
import keyword
import sys
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, Final, TypeVar

from graph.model import Edge, EdgeKind, Node, NodeKind, edge_class, node_class

__all__ = ["bulk_allocation", "construct", "constructor", "trusted_edge", "trusted_node", "trusted_record"]

R = TypeVar("R", Node, Edge)
_Conv = Callable[[Any], Any]

_dt_cache: dict[str, datetime] = {}
_MISSING: Final = object()


def _datetime(text: str) -> datetime:
    value = _dt_cache.get(text)
    if value is None:
        value = datetime.fromisoformat(text).astimezone(UTC)
        if len(_dt_cache) < 200_000:  # bounded: most intervals share a few thousand instants
            _dt_cache[text] = value
    return value


def _date(text: str) -> date:
    return date.fromisoformat(text)


def _intern(text: str) -> str:
    return sys.intern(text)


def _converter(hint: Any) -> _Conv | None:
    """The conversion from a JSON value for a field's declared type (None: keep as decoded)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _converter(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        # Optional[X]: the caller never converts None, so X's converter serves.
        return _converter(inner[0]) if len(inner) == 1 else None
    if origin is frozenset:
        return frozenset
    if hint is datetime:
        return _datetime
    if hint is date:
        return _date
    if hint is str:
        return _intern
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint._value2member_map_.__getitem__  # a dict lookup; calling the enum costs ~10x more
    return None


_PLANS: dict[type[Any], list[tuple[str, _Conv | None, Any]]] = {}


def _plan(cls: type[Any]) -> list[tuple[str, _Conv | None, Any]]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        plan = []
        for f in dataclasses.fields(cls):
            default: Any = _MISSING
            info = cls.__pydantic_fields__[f.name]
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
            plan.append((f.name, _converter(hints[f.name]), default))
        _PLANS[cls] = plan
    return plan


_DECODERS: dict[type[Any], Callable[[dict[str, Any]], Any]] = {}


def trusted_record(cls: type[R], data: dict[str, Any]) -> R:
    """Build a `cls` record from JSON-decoded `data` without validating it.

    Each field: the value given, else the model's default; converted by its declared type
    (`_converter`) unless None or the default. Done by a function generated once per class
    (`_decoder`): a restart builds millions of records, and a loop over the fields costs
    about twice as much.

    Raises
    ------
    KeyError
        A required field is missing (a journal row of another shape).
    """
    decode = _DECODERS.get(cls)
    if decode is None:
        decode = _DECODERS[cls] = _decoder(cls)
    record: R = decode(data)
    return record


def _decoder(cls: type[Any]) -> Callable[[dict[str, Any]], Any]:
    plan = _plan(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_set": object.__setattr__, "_cls": cls, "_M": _MISSING}
    body = ["def decode(d):", "    r = _new(_cls)", "    get = d.get"]
    for i, (name, conv, default) in enumerate(plan):
        # The source is made from the model's field names (repr'd as string literals), never from data.
        if default is _MISSING:
            body += [f"    v = get({name!r}, _M)", f"    if v is _M: raise KeyError({name!r})"]
            if conv is not None:
                namespace[f"_c{i}"] = conv
                body.append(f"    if v is not None: v = _c{i}(v)")
        else:
            namespace[f"_d{i}"] = default
            body.append(f"    v = get({name!r}, _d{i})")
            if conv is not None:
                namespace[f"_c{i}"] = conv
                body.append(f"    if v is not None and v is not _d{i}: v = _c{i}(v)")
        body.append(f"    _set(r, {name!r}, v)")
    body.append("    return r")
    exec(compile("\n".join(body) + "\n", f"<trusted decoder {cls.__name__}>", "exec"), namespace)
    decode: Callable[[dict[str, Any]], Any] = namespace["decode"]
    return decode


def trusted_node(kind: NodeKind | str, data: dict[str, Any]) -> Node:
    """A node of `kind` from a journal row (see trusted_record)."""
    return trusted_record(node_class(kind), data)


def trusted_edge(kind: EdgeKind | str, data: dict[str, Any]) -> Edge:
    """An edge of `kind` from a journal row (see trusted_record)."""
    return trusted_record(edge_class(kind), data)


def construct(cls: type[R], **values: Any) -> R:
    """Build a `cls` record from already-typed `values` without validating them.

    For values the caller made and checked (a loader's fast path, the synthetic generator):
    fields left out get the model's defaults.

    Raises
    ------
    TypeError
        A required field is missing.
    """
    record = object.__new__(cls)
    set_ = object.__setattr__
    get = values.get
    for name, _conv, default in _plan(cls):
        value = get(name, default)
        if value is _MISSING:
            raise TypeError(f"{cls.__name__}: missing field {name!r}")
        set_(record, name, value)
    return record


def constructor(cls: type[R]) -> Callable[..., R]:
    """`construct` bound to one class (``constructor(Student)(id="s1")``), as a function of
    keyword-only arguments made for that class's fields.

    Why generated: a roster load builds millions of records, and a plain function with one
    parameter per field (as `dataclasses` generates ``__init__``) is about twice as fast
    than looping over the fields with a dict of keyword arguments. Same contract as
    `construct`: every field set, the model's default for one left out, a missing required
    field a TypeError; stricter in one way: an unknown field is a TypeError too.
    """
    plan = _plan(cls)
    if any(not name.isidentifier() or keyword.iskeyword(name) or name in ("r", "_new", "_set", "_cls") for name, _, _ in plan):
        return functools.partial(construct, cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_set": object.__setattr__, "_cls": cls}
    params, body = [], []
    for i, (name, _conv, default) in enumerate(plan):
        if default is _MISSING:
            params.append(name)
        else:
            namespace[f"_d{i}"] = default
            params.append(f"{name}=_d{i}")
        body.append(f"    _set(r, {name!r}, {name})")
    source = f"def make(*, {', '.join(params)}):\n    r = _new(_cls)\n" + "\n".join(body) + "\n    return r\n"
    # The source is made from the model's own field names (checked identifiers above), never from data.
    exec(compile(source, f"<constructor {cls.__name__}>", "exec"), namespace)
    make: Callable[..., R] = namespace["make"]
    return make


FREEZE_AT: Final = 1_000_000
"""Young objects on leaving a `bulk_allocation(freeze=True)` from which they are frozen rather than collected."""


@contextmanager
def bulk_allocation(*, freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic records are built.

    Why: each full collection walks every record made so far, which made a
    700,000-student read ~20% slower; the records hold no reference cycles. The previous
    state is restored on exit, also on error.

    With `freeze` (the store's graph, which the process keeps: a restart, a bulk load), when
    at least `FREEZE_AT` objects wait in the collector's youngest generation on exit (what
    the block built, and whatever was made since the last collection), everything tracked
    is moved to its permanent generation (`gc.freeze`) instead: otherwise the first collections after it walk every one of them (measured at
    700,000 students: 2.7 s for each of the two young generations, then 6.5 s for the
    server's full collection before its own freeze). They are still freed by reference
    counting; only reference cycles among them would outlive their use, hence not for
    temporary work.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze and gc.get_count()[0] >= FREEZE_AT:
            gc.freeze()
        if was_enabled:
            gc.enable()
