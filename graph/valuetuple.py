"""Named tuples that keep the dataclass interface of the frozen dataclasses they replaced.

`ReasonDetail`, `PathStep`, `Decision` (graph/decision.py) and `Evidence` (graph/evidence.py)
are built for every check, and a frozen dataclass sets each field through
``object.__setattr__`` (a 4-field one costs ~0.77 µs to build, a named tuple ~0.28 µs; 17 fields
~2.3 µs against ~0.4 µs). They were dataclasses, and callers use ``dataclasses.replace``,
``dataclasses.fields`` and ``dataclasses.asdict`` on them; `dataclass_fields` gives a named
tuple class the field table of a frozen dataclass with the same fields, so those functions treat
it exactly as before (``replace`` builds through the class, ``fields`` lists the same `Field`
objects, with ``compare``/``repr`` as declared).

Equality stays the dataclass's: equal only to the same class (a named tuple alone equals any
tuple holding the same values); `dataclass_fields` gives each class ``__eq__``, ``__ne__`` and
``__hash__`` over the fields it compares (those declared ``compare=False`` must come last), and
another class is answered with `unlike_eq` / `unlike_ne`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ForwardRef, TypeVar

__all__ = ["dataclass_fields", "unlike_eq", "unlike_ne"]

_C = TypeVar("_C", bound=type)


def dataclass_fields(**declared: Any) -> Callable[[_C], _C]:
    """Class decorator for a `typing.NamedTuple`: attach the dataclass field table of its fields.

    ``declared`` maps a field name to a `dataclasses.field(...)` where the field is declared
    differently from a plain field (``compare=False``, ``repr=False``); the named tuple's own
    defaults are the fields' defaults. Raises TypeError when `declared` names no field.
    """

    def attach(cls: _C) -> _C:
        names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
        unknown = set(declared) - set(names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {sorted(unknown)}")
        defaults: dict[str, Any] = cls._field_defaults  # type: ignore[attr-defined]
        annotations = {n: _as_written(cls.__annotations__[n]) for n in names}
        namespace: dict[str, Any] = {"__module__": cls.__module__, "__annotations__": annotations}
        for name in names:
            if name in declared:
                spec = declared[name]
                if name in defaults and spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                    spec.default = defaults[name]
                namespace[name] = spec
            elif name in defaults:
                namespace[name] = defaults[name]
        shadow: type = dataclasses.dataclass(frozen=True)(type(cls.__name__, (), namespace))
        cls.__dataclass_fields__ = shadow.__dataclass_fields__  # type: ignore[attr-defined]
        cls.__dataclass_params__ = shadow.__dataclass_params__  # type: ignore[attr-defined]
        compare = [f.compare for f in dataclasses.fields(shadow)]
        compared = compare.index(False) if False in compare else len(compare)
        if any(compare[compared:]):
            raise TypeError(f"{cls.__name__}: the fields left out of == must come last")
        _install_equality(cls, compared, len(names))
        return cls

    return attach


def _as_written(annotation: Any) -> Any:
    """A field's annotation as the dataclass held it: the text (``typing.NamedTuple`` wraps text in a ForwardRef)."""
    return annotation.__forward_arg__ if isinstance(annotation, ForwardRef) else annotation


def _install_equality(cls: type[Any], compared: int, size: int) -> None:
    """``==``, ``!=`` and ``hash`` of a dataclass on the named tuple `cls`: by the values of its
    first `compared` fields, and equal only to the same class."""
    if compared == size:  # every field: the tuple's own comparison and hash, in C

        def eq(self: tuple[Any, ...], other: object) -> bool:
            return tuple.__eq__(self, other) if type(other) is cls else unlike_eq(other)  # type: ignore[arg-type]

        def ne(self: tuple[Any, ...], other: object) -> bool:
            return tuple.__ne__(self, other) if type(other) is cls else unlike_ne(other)  # type: ignore[arg-type]

        def hash_(self: tuple[Any, ...]) -> int:
            return tuple.__hash__(self)  # a TypeError when a field is unhashable, as for the dataclass

    else:

        def eq(self: tuple[Any, ...], other: object) -> bool:
            return self[:compared] == other[:compared] if type(other) is cls else unlike_eq(other)  # type: ignore[index]

        def ne(self: tuple[Any, ...], other: object) -> bool:
            return self[:compared] != other[:compared] if type(other) is cls else unlike_ne(other)  # type: ignore[index]

        def hash_(self: tuple[Any, ...]) -> int:
            return hash(self[:compared])

    cls.__eq__ = eq  # type: ignore[method-assign,assignment]
    cls.__ne__ = ne  # type: ignore[method-assign,assignment]
    cls.__hash__ = hash_  # type: ignore[method-assign,assignment]


def unlike_eq(other: object) -> bool:
    """``record == other`` for an `other` of another class: False for a tuple (returning
    NotImplemented would let the plain tuple's ``==`` compare the values and say True), else
    NotImplemented, as a dataclass answers."""
    return False if isinstance(other, tuple) else NotImplemented


def unlike_ne(other: object) -> bool:
    """``record != other`` for an `other` of another class (see `unlike_eq`)."""
    return True if isinstance(other, tuple) else NotImplemented
