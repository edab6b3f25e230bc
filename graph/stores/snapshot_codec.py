"""How a snapshot pickles the graph's records: one call of a generated constructor per record.

Why: a frozen, slotted dataclass pickles by default as its class plus a state list, and
unpickles through ``dataclasses._dataclass_setstate``, which calls ``dataclasses.fields()``
for every record: at 170,000 students (1.1 million records) that was most of a restart's
unpickling (12 µs a record profiled). Here each model class pickles as
``make_<Class>(v1, ..., vn)``: a module-level function generated once per class that sets the
slots in field order, about as cheap as a Python function can be. The records come back
equal and of the same classes; shared values (datetimes, ids) stay shared, as pickle's memo
keeps them.

The one-slot graph attributes (graph.stores.memory_layout) pickle the same way
(``make_NodeAttrs(record)``): one small argument tuple each, where a slot-state dict would
hold ~1 GiB more in the unpickler's memo at 700,000 students.

The functions are looked up by name when a snapshot is read (pickle imports this module), so
their names are part of the snapshot's format (graph.stores.snapshot ``FORMAT``).
"""

from __future__ import annotations

import copyreg
import dataclasses
import operator
import pickle
from collections.abc import Callable
from typing import Any, Protocol

from graph import model
from graph.stores.memory_layout import EdgeAttrs, NodeAttrs

__all__ = ["RecordPickler", "record_classes"]

_Reduce = Callable[[Any], tuple[Any, ...]]


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def record_classes() -> list[type[Any]]:
    """Every node and edge class of `graph.model` (the classes a snapshot holds instances of)."""
    found = []
    for name in sorted(dir(model)):
        cls = getattr(model, name)
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and issubclass(cls, (model.Node, model.Edge)):
            found.append(cls)
    return found


def _maker(cls: type[Any], names: list[str]) -> Callable[..., Any]:
    """``make_<Class>(v1, ..., vn)``: a new `cls` object with the slots `names` set in that order, unvalidated."""
    namespace: dict[str, Any] = {"_new": object.__new__, "_set": object.__setattr__, "_cls": cls}
    params = [f"v{i}" for i in range(len(names))]
    body = [f"    _set(r, {name!r}, v{i})" for i, name in enumerate(names)]
    fname = f"make_{cls.__name__}"
    # The source is made from the model's own field and slot names (repr'd as string literals), never from data.
    source = f"def {fname}({', '.join(params)}):\n    r = _new(_cls)\n" + "\n".join(body) + "\n    return r\n"
    exec(compile(source, f"<snapshot maker {cls.__name__}>", "exec"), namespace)
    make: Callable[..., Any] = namespace[fname]
    make.__module__ = __name__
    make.__qualname__ = fname
    return make


def _reducer(cls: type[Any], make: Callable[..., Any]) -> _Reduce:
    names = [f.name for f in dataclasses.fields(cls)]
    if len(names) == 1:
        get_one = operator.attrgetter(names[0])
        return lambda record: (make, (get_one(record),))
    get_all = operator.attrgetter(*names)  # a tuple in field order, built in C
    return lambda record: (make, get_all(record))


def _attrs_reducer(make: Callable[..., Any]) -> _Reduce:
    # The store sets a record with every node and edge; an empty one (networkx adding a node
    # for an edge's unknown end, never done by the store) is rebuilt empty by its class.
    return lambda attrs: (make, (attrs.rec,)) if hasattr(attrs, "rec") else (type(attrs), ())


_DISPATCH: dict[type[Any], Any] = dict(copyreg.dispatch_table)
for _cls in record_classes():
    _make = _maker(_cls, [f.name for f in dataclasses.fields(_cls)])
    globals()[_make.__name__] = _make
    _DISPATCH[_cls] = _reducer(_cls, _make)
for _attrs in (NodeAttrs, EdgeAttrs):
    _make = _maker(_attrs, ["rec"])
    globals()[_make.__name__] = _make
    _DISPATCH[_attrs] = _attrs_reducer(_make)


class RecordPickler(pickle.Pickler):
    """A pickler that writes model records and graph attributes in the fast form above (protocol 5)."""

    dispatch_table = _DISPATCH

    def __init__(self, file: _Writable) -> None:
        super().__init__(file, protocol=5)
